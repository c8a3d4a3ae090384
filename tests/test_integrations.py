"""The trainer callbacks, end to end against the real libraries: a tiny model on a handful of
samples, on the CPU; the findings are printed before the first step, the numbers reach the
trainer's log, and ``fail_on`` stops the run before it trains."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest
from conftest import FIXTURES, ROOT, run_cli

LIGHTNING = FIXTURES / "callback_lightning" / "train.py"
TRANSFORMERS = FIXTURES / "callback_transformers" / "train.py"


def run_script(path, *args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, str(path), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def line_of(path, text: str) -> int:
    """The fixture's line holding ``text`` (its `# expect:` line, the optimizer's, ...)."""
    return next(n for n, line in enumerate(path.read_text().splitlines(), start=1) if text in line)


def gradlint_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("gradlint: ")]


def test_lightning_callback_reports_before_the_first_step(tmp_path):
    pytest.importorskip("lightning", reason="the Lightning callback needs `pip install gradlint[lightning]`")
    result = run_script(LIGHTNING, "--no-clip", "--log", str(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = gradlint_lines(result)
    shown = "gradlint: fixtures/callback_lightning/train.py"
    assert lines[0].startswith(f"{shown}:{line_of(LIGHTNING, '# expect: GL101 error')}:16: GL101 error: 4 sigmoid layers")
    assert "probe confirmed" in lines[0]
    # the optimizer built in configure_optimizers, at its own line, with what the Trainer was given
    assert lines[1].startswith(
        f"{shown}:{line_of(LIGHTNING, 'torch.optim.SGD(')}:16: GL501 warning: optimizer `SGD` (lr=2, momentum=0.9) "
        "will step with no gradient clipping configured in the Lightning Trainer")
    # SGD at lr 2 with momentum 0.9, as the Trainer will step it, blows up in the dry run
    assert lines[2].startswith(
        f"{shown}:{line_of(LIGHTNING, 'torch.optim.SGD(')}:16: GL701 error: training diverges at the configured "
        "learning rate: SGD(lr=2, momentum=0.9"), lines[2]
    assert "(÷3) held for 30 steps" in lines[2]
    assert lines[3] == "gradlint: 3 finding(s) in `SigmoidRegressor` (checked) before training"
    assert "TRAINED 2 steps" in result.stdout  # reporting only: the fit went on
    with open(tmp_path / "run" / "version_0" / "metrics.csv") as log:
        rows = list(csv.DictReader(log))
    logged = next(row for row in rows if row.get("gradlint/findings"))
    assert float(logged["gradlint/findings"]) == 3 and float(logged["gradlint/errors"]) == 2
    assert float(logged["gradlint/GL101/measured_d"]) < -2  # the measured gradient ratio, log10


def test_lightning_clipping_and_fail_on(tmp_path):
    pytest.importorskip("lightning", reason="the Lightning callback needs `pip install gradlint[lightning]`")
    result = run_script(LIGHTNING, "--fail")
    assert result.returncode != 0
    assert "GradlintFailure: gradlint: 1 finding(s) at or above error in `SigmoidRegressor`" in result.stderr
    assert "GL501" not in result.stderr  # gradient_clip_val=0.5
    assert "TRAINED" not in result.stdout


def test_transformers_callback_reports_before_the_first_step():
    pytest.importorskip("accelerate", reason="the Hugging Face Trainer needs accelerate: "
                                             "`pip install gradlint[transformers]`")
    result = run_script(TRANSFORMERS, "--no-clip")
    assert result.returncode == 0, result.stderr
    lines = gradlint_lines(result)
    shown = "gradlint: fixtures/callback_transformers/train.py"
    assert lines[0].startswith(f"{shown}:{line_of(TRANSFORMERS, '# expect: GL101 error')}:18: GL101 error: "
                               "4 sigmoid layers"), lines
    assert "probe confirmed" in lines[0]
    # max_grad_norm=0: the Trainer will not clip; pointed at the line that starts training
    assert lines[1].startswith(f"{shown}:{line_of(TRANSFORMERS, 'trainer.train()')}:5: GL501 info: optimizer "
                               "`AdamW` (lr=0.001, betas=(0.9, 0.999)) will step with no gradient clipping "
                               "configured in the Trainer")
    assert "TRAINED 2 steps" in result.stdout
    assert "'gradlint/findings': 2.0" in result.stdout and "'gradlint/errors': 1.0" in result.stdout


def test_transformers_default_clipping_and_fail_on():
    pytest.importorskip("accelerate", reason="the Hugging Face Trainer needs accelerate")
    result = run_script(TRANSFORMERS, "--fail")
    assert result.returncode != 0
    assert "GradlintFailure: gradlint: 1 finding(s) at or above error in `SigmoidClassifier`" in result.stderr
    assert "GL501" not in result.stderr  # max_grad_norm=1.0, the Trainer's default
    assert "TRAINED" not in result.stdout


@pytest.mark.parametrize("script, library, unclipped", [
    (LIGHTNING, "lightning", "GL501 warning: optimizer `SGD` (lr=2, momentum=0.9) stepped with no gradient "
                             "clipping called between backward() and step() (observed)"),
    (TRANSFORMERS, "accelerate", "GL501 info: optimizer `AdamW` (lr=0.001, betas=(0.9, 0.999)) stepped with no "
                                 "gradient clipping called between backward() and step() (observed)"),
])
def test_gradlint_run_observes_the_trainers_clipping(script, library, unclipped):
    """`gradlint run` on a trainer: the clipping the library calls (Lightning's gradient_clip_val,
    inside the closure it passes to step(); the Trainer's max_grad_norm) is observed; the
    Trainer's grad-norm measurement at max_norm=inf is not clipping."""
    pytest.importorskip(library)
    shown = str(script.relative_to(ROOT))
    result = run_cli("run", "--show-info", "--", "python", shown, "--no-clip")
    assert result.returncode in (0, 1), result.stderr[-3000:]
    assert f"{shown}:{line_of(script, '# expect: GL101 error')}:" in result.stdout
    assert unclipped in result.stdout, result.stdout
    assert "TRAINED" not in result.stderr  # stopped at the first step
    clipped = run_cli("run", "--show-info", "--", "python", shown)
    assert "GL501" not in clipped.stdout and "GL101 error" in clipped.stdout, clipped.stdout


def _seeded_lightning_weights(tmp_path, callbacks):
    import lightning as L
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    class Regressor(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Dropout(0.2), nn.Linear(16, 1))

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, batch_idx):
            x, y = batch
            return nn.functional.mse_loss(self(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.05)

    L.seed_everything(7, verbose=False)
    model = Regressor()
    data = TensorDataset(torch.randn(64, 6), torch.randn(64, 1))
    loader = DataLoader(data, batch_size=8, shuffle=True)
    trainer = L.Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=callbacks, default_root_dir=tmp_path)
    trainer.fit(model, loader)
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_a_seeded_lightning_run_trains_bit_identically_with_the_callback(tmp_path):
    pytest.importorskip("lightning", reason="the Lightning callback needs `pip install gradlint[lightning]`")
    import io

    import torch

    from gradlint.integrations.lightning import GradlintCallback

    plain = _seeded_lightning_weights(tmp_path, [])
    callback = GradlintCallback(stream=io.StringIO())
    watched = _seeded_lightning_weights(tmp_path, [callback])
    assert [m.status for m in callback.report.result.model_status] == ["checked"]
    assert plain.keys() == watched.keys()
    assert all(torch.equal(plain[k], watched[k]) for k in plain)


def _autoencoder(tmp_path, depth: int, activation, callbacks):
    """Lightning's own documentation autoencoder: no forward(); training_step calls the encoder
    and the decoder."""
    import lightning as L
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    class LitAutoEncoder(L.LightningModule):
        def __init__(self):
            super().__init__()
            layers = [nn.Linear(28 * 28, 64), activation()]
            for _ in range(depth):
                layers += [nn.Linear(64, 64), activation()]
            self.encoder = nn.Sequential(*layers, nn.Linear(64, 3))
            self.decoder = nn.Sequential(nn.Linear(3, 64), nn.ReLU(), nn.Linear(64, 28 * 28))

        def training_step(self, batch, batch_idx):
            x, _ = batch
            x = x.view(x.size(0), -1)
            z = self.encoder(x)
            x_hat = self.decoder(z)
            loss = nn.functional.mse_loss(x_hat, x)
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-3)

    torch.manual_seed(0)
    loader = DataLoader(TensorDataset(torch.randn(32, 1, 28, 28), torch.zeros(32)), batch_size=8)
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=callbacks, default_root_dir=tmp_path)
    model = LitAutoEncoder()
    trainer.fit(model, loader)
    return trainer


def test_a_lightning_module_without_forward_has_the_parts_its_training_step_calls_checked(tmp_path):
    pytest.importorskip("lightning", reason="the Lightning callback needs `pip install gradlint[lightning]`")
    import io

    from torch import nn

    from gradlint.integrations import GradlintFailure
    from gradlint.integrations.lightning import GradlintCallback

    # a healthy autoencoder trains to the end with fail_on="error"
    callback = GradlintCallback(fail_on="error", stream=io.StringIO())
    trainer = _autoencoder(tmp_path, 1, nn.ReLU, [callback])
    assert trainer.global_step == 4
    statuses = {m.name: m.status for m in callback.report.result.model_status}
    assert statuses == {"LitAutoEncoder.encoder": "checked", "LitAutoEncoder.decoder": "checked"}
    said = callback.stream.getvalue()
    # no clipping: GL501 warns about the optimizer, and nothing else is found
    assert [f.code for f in callback.report.findings] == ["GL501"]
    assert "gradlint: 1 finding(s) in `LitAutoEncoder` (checked: `encoder`, `decoder`) before training" in said

    # a deep sigmoid encoder is found, and stops the run before its first step
    callback = GradlintCallback(fail_on="error", stream=io.StringIO())
    with pytest.raises(GradlintFailure, match="GL101 error: 9 sigmoid layers in a row"):
        _autoencoder(tmp_path, 8, nn.Sigmoid, [callback])


# kept as text (run in a subprocess): a Trainer call written in the repository's own source would
# count as its gradient clipping for every fixture linted with the repository as their project
SEEDED_TRAINER = """
import hashlib, sys, tempfile
import torch
from torch import nn
from transformers import Trainer, TrainingArguments

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Dropout(0.3), nn.Linear(32, 3))

    def forward(self, features, labels=None):
        logits = self.net(features)
        return {"loss": nn.functional.cross_entropy(logits, labels), "logits": logits}

class Samples(torch.utils.data.Dataset):
    def __init__(self):
        generator = torch.Generator().manual_seed(0)
        self.x, self.y = torch.randn(48, 8, generator=generator), torch.randint(0, 3, (48,), generator=generator)
    def __len__(self):
        return len(self.x)
    def __getitem__(self, i):
        return {"features": self.x[i], "labels": self.y[i]}

callbacks = []
if "--gradlint" in sys.argv:
    import io
    from gradlint.integrations.transformers import GradlintCallback
    callbacks = [GradlintCallback(stream=io.StringIO())]
args = TrainingArguments(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=8, num_train_epochs=2,
                         learning_rate=1e-2, report_to=[], use_cpu=True, save_strategy="no", seed=7)
torch.manual_seed(7)
trainer = Trainer(model=Net(), args=args, train_dataset=Samples(), callbacks=callbacks)
trainer.train()
digest = hashlib.sha256(b"".join(v.numpy().tobytes() for v in trainer.model.state_dict().values())).hexdigest()
print("WEIGHTS", digest, "CHECKED", [m.status for m in callbacks[0].report.result.model_status] if callbacks else None)
"""


def test_a_seeded_hugging_face_run_trains_bit_identically_with_the_callback(tmp_path):
    pytest.importorskip("accelerate", reason="the Hugging Face Trainer needs accelerate")
    script = tmp_path / "seeded.py"
    script.write_text(SEEDED_TRAINER)
    plain = run_script(script, cwd=tmp_path)
    watched = run_script(script, "--gradlint", cwd=tmp_path)
    assert plain.returncode == 0 and watched.returncode == 0, watched.stderr[-2000:]
    weights = [line.split()[1] for run in (plain, watched) for line in run.stdout.splitlines() if line.startswith("WEIGHTS")]
    assert len(weights) == 2 and weights[0] == weights[1]
    assert "CHECKED ['checked']" in watched.stdout
