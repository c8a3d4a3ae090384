"""The places models are really trained, in their canonical shapes, through their real entry
points."""

from __future__ import annotations

import json

from conftest import ROOT, run_cli

LBFGS = """
import torch
from torch import nn

model = nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 1))
x, y = torch.randn(64, 4), torch.randn(64, 1)
optimizer = torch.optim.LBFGS(model.parameters(), lr=LR)


def closure():
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    return loss


for epoch in range(20):
    optimizer.step(closure)   # torch's documented idiom: the closure passed positionally
"""


def test_gradlint_run_runs_a_positional_closure_and_checks_its_model(write):
    path = write("train.py", LBFGS.replace("LR", "1"))
    result = run_cli("run", "--output-format", "json", "--", "python", "train.py", cwd=path.parent)
    document = json.loads(result.stdout)
    (file,) = document["files"]
    assert [(m["name"], m["status"]) for m in file["model_status"]] == [("model", "checked")]
    assert file["model_status"][0]["inputs_from"] == "the command's first batch at train.py:12"
    assert any("stopped the command at its first optimizer step (LBFGS.step() at train.py:18)" in n["message"]
               for n in file["notes"])
    assert not [f for f in file["findings"] if f["code"] == "GL701"]


def test_gl701_dry_runs_a_closure_optimizer_on_one_batch(write):
    path = write("train.py", LBFGS.replace("LR", "1"))
    healthy = run_cli("--output-format", "json", "-v", "train.py", cwd=path.parent)
    notes = [n["message"] for n in json.loads(healthy.stdout)["files"][0]["notes"]]
    assert any(n.startswith("model `model`: GL701 dry run: LBFGS(lr=1), 30 steps on the captured batch") for n in notes), notes
    assert healthy.returncode == 0

    path.write_text(LBFGS.replace("LR", "50"))
    diverging = run_cli("train.py", cwd=path.parent)
    assert diverging.returncode == 1
    assert "train.py:7:13: GL701 error: training diverges at the configured learning rate: LBFGS(lr=50)" in diverging.stdout


CHDIR = """
import os
import torch
from torch import nn

os.chdir("..")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(*[nn.Sequential(nn.Linear(8, 8), nn.Sigmoid()) for _ in range(8)])

    def forward(self, x):
        return self.layers(x)  # noqa: GL101


model = Net()
"""


def test_paths_stay_the_projects_own_after_a_top_level_chdir(write):
    path = write("train.py", CHDIR)
    result = run_cli("train.py", "--output-format", "json", cwd=path.parent)
    document = json.loads(result.stdout)
    assert document["files"][0]["path"] == "train.py"
    assert document["files"][0]["findings"] == []   # the noqa still applies: no GL101, no GL001
    assert "(1 suppressed)" in document["summary"]
    assert result.returncode == 0


def test_gl701_dry_runs_the_optimizer_a_notebook_builds_at_its_cell(write):
    cells = ["import torch\nfrom torch import nn\n",
             "model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 1))\n",
             "optimizer = torch.optim.SGD(model.parameters(), lr=50.0, momentum=0.9)\n",
             "x, y = torch.randn(32, 10), torch.randn(32, 1)\nfor step in range(100):\n    optimizer.zero_grad()\n"
             "    nn.functional.mse_loss(model(x), y).backward()\n    optimizer.step()\n"]
    notebook = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                           "source": c.splitlines(True)} for c in cells],
                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = write("explore.ipynb", json.dumps(notebook))
    write("util.py", "SCALE = 1\n")   # a .py beside the notebook
    result = run_cli("explore.ipynb", cwd=path.parent)
    assert result.returncode == 1
    assert ("explore.ipynb:cell 3:1:13: GL701 error: training diverges at the configured learning rate: "
            "SGD(lr=50, momentum=0.9) (constructed here)") in result.stdout


# the classic PyTorch word-language-model Transformer: a causal mask built in forward from
# len(src) and kept on self, then passed to the built-in encoder
TRANSFORMER_LM = (ROOT / "bench" / "reach" / "transformer_lm_mask" / "model.py").read_text()


def test_a_mask_built_in_forward_and_kept_on_self_is_traced_through_the_builtin_encoder(write):
    path = write("model.py", TRANSFORMER_LM)
    result = run_cli("model.py", "--output-format", "json", cwd=path.parent)
    (status,) = json.loads(result.stdout)["files"][0]["model_status"]
    assert status["status"] == "checked", status
    assert status["coverage"] == 1.0
    assert status["span"]["layers_in_span"] == status["span"]["layers_in_model"]
    assert result.returncode == 0


BRANCH = """import argparse
import torch
from torch import nn

torch.manual_seed(0)  # the batch the dry run captures: the same on every run of the test
parser = argparse.ArgumentParser()
parser.add_argument("--use_optimizer", action="store_true")
parser.add_argument("--lr", type=float, default=0.1)
args = parser.parse_args()

model = nn.Sequential(nn.Linear(10, 64), nn.Tanh(), nn.Linear(64, 1))
if args.use_optimizer:
    optimizer = torch.optim.AdamW(model.parameters(), lr=5.0)

x, y = torch.randn(32, 10), torch.randn(32, 1)
for step in range(100):
    loss = nn.functional.mse_loss(model(x), y)
    model.zero_grad()
    loss.backward()
    if args.use_optimizer:
        optimizer.step()
    else:
        with torch.no_grad():
            for p in model.parameters():
                p -= args.lr * p.grad
"""


def test_an_optimizer_on_a_branch_the_default_run_does_not_take_is_not_dry_run(write):
    path = write("train.py", BRANCH)
    result = run_cli("train.py", cwd=path.parent)
    assert "GL701 error" not in result.stdout
    assert ("train.py: note: GL701: `AdamW` at train.py:13 is built only when `args.use_optimizer` is true, "
            "which this file's default run is not: it was not dry-run") in result.stderr
    # the same script whose default run takes the branch: its AdamW at lr=5 is dry-run, and diverges
    path.write_text(BRANCH.replace('"--use_optimizer", action="store_true"', '"--no_optimizer", action="store_true"')
                    .replace("if args.use_optimizer:", "if not args.no_optimizer:"))
    taken = run_cli("train.py", cwd=path.parent)
    assert "train.py:13:17: GL701 error: training diverges at the configured learning rate: AdamW(lr=5)" in taken.stdout
