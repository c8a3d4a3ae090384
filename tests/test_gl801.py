"""GL801: float16 training without loss scaling — found in the training code, measured on the model.

Training code lives in fixtures (projects of their own) and in temporary projects written from the
strings below: the calls in these strings are text, never code of this repository's project."""

from __future__ import annotations

import re

import pytest
import torch
from conftest import FIXTURES, run_cli

from gradlint.source.project_facts import compute_facts

FINDING = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<code>GL\d{3}) (?P<severity>\w+): (?P<message>.*)$")


def expected_line(path) -> int:
    return next(n for n, text in enumerate(path.read_text().splitlines(), start=1) if "expect: GL801" in text)


def findings(stdout: str) -> list[dict]:
    return [m.groupdict() for m in map(FINDING.match, stdout.splitlines()) if m]


def _only_finding(fixture: str) -> dict:
    result = run_cli(f"fixtures/{fixture}", "--select", "GL801", "--no-cache", "--show-info")
    found = findings(result.stdout)
    assert len(found) == 1, result.stdout + result.stderr
    finding = found[0]
    assert finding["path"] == f"fixtures/{fixture}/train.py"
    assert int(finding["line"]) == expected_line(FIXTURES / fixture / "train.py")
    return finding


def _share(message: str, what: str) -> float:
    return float(re.search(r"(\d+\.\d+)% of the " + what, message).group(1)) / 100


def test_float16_training_without_a_scaler_is_a_warning_where_the_probe_measures_gradients_lost():
    # 50,257 logits a position: their gradients, and the decoder's, fall below float16's range
    finding = _only_finding("gl801_lm_autocast_no_scaler")
    message = finding["message"]
    assert finding["severity"] == "warning", message
    assert "float16" in message and "no GradScaler" in message and "probe measured: " in message, message
    assert _share(message, "parameter-gradient values") >= 0.01, message


def test_float16_training_without_a_scaler_is_info_where_the_probe_measures_nothing_lost():
    # a small ConvNet's gradients sit well inside float16's range at initialization: the risk is
    # said, with the measurement that refutes it, and not counted as a warning
    finding = _only_finding("gl801_autocast_no_scaler")
    message = finding["message"]
    assert finding["severity"] == "info", message
    assert "probe did not confirm: " in message and "below 1% at initialization" in message, message
    assert _share(message, "gradient values at float16 layers' outputs") < 0.01, message
    assert _share(message, "parameter-gradient values") < 0.01, message


def test_a_float16_model_under_adam_is_an_error_its_zero_second_moments_measured():
    finding = _only_finding("gl801_half_model")
    message = finding["message"]
    assert finding["severity"] == "error", message
    assert "`.half()` makes the weights float16 and `Adam`'s eps=1e-08 is 0 in float16" in message, message
    assert _share(message, "nonzero parameter-gradient values") > 0, message
    assert "keep the weights float32" in message, message


@pytest.mark.parametrize("fixture", ["gl801_autocast_scaler", "gl801_bf16_autocast", "gl801_lightning_16_mixed"])
def test_scaled_float16_and_bfloat16_training_stay_quiet(fixture):
    result = run_cli(f"fixtures/{fixture}", "--select", "GL801", "--no-cache", "--show-info")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "GL801" not in result.stdout


def project(tmp_path, files: dict[str, str]):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "tmp"\n')
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return compute_facts(tmp_path)


HEADER = "import torch\nimport torch.nn as nn\nfrom net import Net\n\n"


@pytest.mark.parametrize("code, how", [
    ("with torch.cuda.amp.autocast():\n    pass\n", "torch.cuda.amp.autocast()"),
    ("with torch.autocast('cuda', torch.half):\n    pass\n", "torch.autocast(dtype=float16)"),
    ("with torch.amp.autocast(device_type='cuda'):\n    pass\n", "torch.autocast(dtype=float16)"),
    ("model = Net().to('cuda', dtype=torch.float16)\n", ".to(torch.float16)"),
    ("model = Net()\nmodel.half()\n", ".half()"),
    ("import lightning as L\ntrainer = L.Trainer(precision='16-true')\n", 'Trainer(precision="16-true")'),
])
def test_each_float16_setting_is_a_site(tmp_path, code, how):
    facts = project(tmp_path, {"train.py": HEADER + code})
    assert [site.how for site in facts.fp16] == [how]
    assert facts.fp16[0].location.line == HEADER.count("\n") + code.splitlines().index(
        next(line for line in code.splitlines() if "16" in line or "half" in line or "autocast" in line)) + 1
    assert facts.grad_scaler is None


@pytest.mark.parametrize("code", [
    "with torch.autocast('cpu'):\n    pass\n",                                  # CPU autocast: bfloat16
    "with torch.autocast('cuda', dtype=torch.bfloat16):\n    pass\n",
    "with torch.autocast('cuda', dtype=torch.float16, enabled=False):\n    pass\n",
    "import lightning as L\ntrainer = L.Trainer(precision='16-mixed')\n",       # Lightning scales
    "import lightning as L\ntrainer = L.Trainer(precision=16)\n",
    "from transformers import TrainingArguments\nargs = TrainingArguments('out', fp16=True)\n",  # HF scales
    "x = torch.randn(3).half()\ny = torch.zeros(2).to(torch.float16)\n",       # data, not a model
])
def test_bfloat16_scaled_trainers_and_half_data_are_no_site(tmp_path, code):
    assert project(tmp_path, {"train.py": HEADER + code}).fp16 == ()


def test_a_scaler_in_another_file_of_the_project_clears_it(tmp_path):
    scaler = "import torch\nscaler = torch.amp.GradScaler('cuda')\n"
    facts = project(tmp_path, {"train.py": HEADER + "with torch.autocast('cuda', dtype=torch.float16):\n    pass\n",
                               "amp.py": scaler})
    assert facts.grad_scaler is not None and facts.grad_scaler.endswith("amp.py:2")
    result = run_cli("train.py", "--select", "GL801", cwd=tmp_path)
    assert "GL801" not in result.stdout


def test_the_measured_shares_are_exactly_what_float16_does_to_the_values():
    from gradlint.rules.gl801_fp16_without_loss_scaling import underflow_shares

    grads = [torch.tensor([1e-9, 2e-8, 1e-6, 1e-3, 0.0]), torch.tensor([[2.0, -5e-9], [-1e-5, 7e-5]])]
    zero, subnormal, counted = underflow_shares(grads)
    # nonzero values: 1e-9, 2e-8, 1e-6, 1e-3, 2.0, -5e-9, -1e-5, 7e-5 → 8; float16 flushes 1e-9, 2e-8
    # (below half of 2^-24) and -5e-9 to zero; 1e-6 and -1e-5 are subnormal (below 2^-14 ≈ 6.1e-5)
    assert counted == 8
    assert zero == pytest.approx(3 / 8)
    assert subnormal == pytest.approx(2 / 8)


def test_a_second_moment_is_zero_exactly_where_float16_holds_it_so():
    from gradlint.rules.gl801_fp16_without_loss_scaling import squares_to_zero

    # (1 − 0.999) × g² in float16: 1e-2 → 1e-7 (subnormal, kept), 5e-3 → 2.5e-8 (below 2^-25: zero)
    assert squares_to_zero([torch.tensor([1e-2, -5e-3, 1e-4, 0.0])], 0.001) == pytest.approx(2 / 3)
    # the square alone: only 1e-4 → 1e-8 is zero
    assert squares_to_zero([torch.tensor([1e-2, -5e-3, 1e-4])], 1.0) == pytest.approx(1 / 3)
