"""`gradlint run -- python train.py ARGS`: the command runs up to its first optimizer step, which
is never applied; the models it trains are linted with its own batch, and GL501 reports the
optimizer setup it observed."""

from __future__ import annotations

import re

import torch
from conftest import FIXTURES, ROOT, run_cli
from torch import nn

TRAIN = FIXTURES / "run_word_language_model" / "train.py"
SHOWN = str(TRAIN.relative_to(ROOT))


def expected_run_line() -> int:
    """The line of the fixture marked `# expect-run: GL501 warning`."""
    lines = TRAIN.read_text().splitlines()
    return next(n for n, text in enumerate(lines, start=1) if "# expect-run: GL501 warning" in text)


def test_sgd_at_lr_20_without_clipping_is_reported_as_observed():
    result = run_cli("run", "-v", "--", "python", SHOWN, "--lr", "20")
    assert result.returncode == 1, result.stderr
    line = expected_run_line()
    assert result.stdout.startswith(
        f"{SHOWN}:{line}:17: GL501 warning: optimizer `SGD` (lr=20) stepped with no gradient clipping "
        "called between backward() and step() (observed); plain SGD with lr=20 makes an exploding step likely")
    assert len(result.stdout.splitlines()) == 1  # stdout holds the findings alone
    # the step was stopped before it was applied, and the loop never went on
    assert re.search(r"stopped the command at its first optimizer step \(SGD\.step\(\) at \S+train\.py:\d+\), "
                     r"before the step was applied", result.stderr)
    assert "epoch 1" not in result.stderr and "TRAINING FINISHED" not in result.stderr
    # the command's own output goes to stderr
    assert "vocabulary: " in result.stderr and "vocabulary" not in result.stdout
    # linted with the batch the script built (bptt 12 x batch 4 token ids, and its hidden state)
    assert f"model `model`: checked; built from the command's own `model` (RNNModel); example inputs from " \
           f"the command's first batch at {SHOWN}:" in result.stderr


def test_observed_clipping_clears_the_optimizer():
    result = run_cli("run", "--show-info", "--", "python", SHOWN, "--lr", "20", "--clip", "0.25")
    assert result.returncode == 0, result.stderr
    assert "GL501" not in result.stdout
    assert "1 model found, 1 checked" in result.stderr


def test_a_small_learning_rate_is_info(write):
    result = run_cli("run", "--show-info", "--", "python", SHOWN, "--lr", "0.5")
    assert result.returncode == 0
    assert "GL501 info: optimizer `SGD` (lr=0.5) stepped with no gradient clipping" in result.stdout


def test_commands_that_never_step_fail_with_one_line(write):
    path = write("fails.py", "import torch\nprint('loading')\nraise FileNotFoundError('data/train.txt')\n")
    result = run_cli("run", "--", "python", "fails.py", cwd=path.parent)
    assert result.returncode == 2
    assert ("fails.py: error: the command raised FileNotFoundError at fails.py:3: data/train.txt before its "
            "first optimizer step") in result.stderr
    path = write("done.py", "import torch\nmodel = torch.nn.Linear(2, 2)\nmodel(torch.randn(1, 2))\n")
    result = run_cli("run", "--", "python", "done.py", cwd=path.parent)
    assert result.returncode == 2 and "the command ended without an optimizer step" in result.stderr
    result = run_cli("run", "--", "python", "missing.py", cwd=path.parent)
    assert result.returncode == 2 and "missing.py: no such script" in result.stderr


def test_max_seconds_bounds_slow_data_loading(write):
    path = write("slow.py", "import time\nimport torch\ntime.sleep(60)\n")
    result = run_cli("run", "--max-seconds", "1", "--", "python", "slow.py", cwd=path.parent, timeout=50)
    assert result.returncode == 2
    assert "did not reach its first optimizer step within --max-seconds 1" in result.stderr


def test_python_dash_m_runs_a_module(write):
    write("pkg/__init__.py", "")
    path = write("pkg/train.py", """
import torch
from torch import nn

model = nn.Sequential(nn.Linear(16, 16), nn.Sigmoid(), nn.Linear(16, 16), nn.Sigmoid(),
                      nn.Linear(16, 16), nn.Sigmoid(), nn.Linear(16, 16), nn.Sigmoid(), nn.Linear(16, 2))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=0.01)
x = torch.randn(64, 16)
loss = model(x).pow(2).mean()
loss.backward()
torch.nn.utils.clip_grad_value_(model.parameters(), 0.5)
optimizer.step()
print("STEPPED")
""")
    result = run_cli("run", "--", "python", "-m", "pkg.train", cwd=path.parent.parent)
    assert result.returncode == 1, result.stderr
    assert re.match(r"pkg/train\.py:5:1: GL101 error: 4 sigmoid layers", result.stdout), result.stdout
    assert "GL501" not in result.stdout and "STEPPED" not in result.stderr


def test_the_observed_setup_holds_what_the_command_configured():
    from gradlint.run.observe import FirstStep, observing

    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1))
    with observing() as seen:
        # looked up inside the block, as a script's `nn.utils.clip_grad_norm_(...)` is (the
        # alias also keeps GL501's project search from taking this test for the repo's clipping)
        clip = nn.utils.clip_grad_norm_
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1)
        scaler = torch.amp.GradScaler("cpu")
        try:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = model(torch.randn(8, 4)).float().pow(2).mean()
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            clip(model.parameters(), max_norm=1.0)
            scaler.step(optimizer)
            raise AssertionError("the step was applied")
        except FirstStep:
            pass
    setup = seen.setup_of(seen.optimizers[0])
    assert (setup.name, setup.origin, setup.lr) == ("AdamW", "observed", 3e-4)
    assert setup.hyperparameters["betas"] == (0.9, 0.95) and setup.hyperparameters["weight_decay"] == 0.1
    assert setup.clip_norm == 1.0 and setup.clipping_where == "observed" and setup.clipped
    assert setup.grad_scaler
    assert setup.location is not None and setup.location.path.endswith("test_run.py")
    assert seen.stepped is optimizer
    # nothing stays patched afterwards: a step runs normally
    torch.optim.SGD(model.parameters(), lr=0.1).step()
