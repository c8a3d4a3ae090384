"""The documentation's snippets for notebooks, `gradlint run` and the trainer callbacks, run as
written (read from README.md and docs/*.md between `<!-- snippet: NAME -->` and `<!-- end snippet -->`;
a snippet shown on several pages must read the same on each)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest
from conftest import ROOT, run_cli

PAGES = {path.relative_to(ROOT).as_posix(): path.read_text()
         for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]}


def pages_with(name: str) -> dict[str, str]:
    found = {page: text for page, text in PAGES.items() if f"<!-- snippet: {name} -->" in text}
    assert found, f"no page of README.md or docs/ has the snippet {name!r}"
    return found


def snippet(name: str) -> str:
    shown = set()
    for page, text in pages_with(name).items():
        match = re.search(rf"<!-- snippet: {name} -->\n```\w*\n(.*?)```\n<!-- end snippet -->", text, re.S)
        assert match, f"{page}: the snippet {name!r} is not one fenced block before its end marker"
        shown.add(match.group(1))
    assert len(shown) == 1, f"the snippet {name!r} reads differently on {sorted(pages_with(name))}"
    return shown.pop()


def shown_output(name: str) -> str:
    """The first line of the output block a page shows after a snippet (the same on every page)."""
    lines = set()
    for text in pages_with(name).values():
        after = text.split(f"<!-- snippet: {name} -->", 1)[1].split("<!-- end snippet -->", 1)[1]
        lines.add(re.search(r"```\n(.*?)\n", after).group(1))
    assert len(lines) == 1, f"the output shown after the snippet {name!r} differs between pages"
    return lines.pop()


def test_every_snippet_is_run():
    names = {m for text in PAGES.values() for m in re.findall(r"<!-- snippet: (\w+) -->", text)}
    assert names == {"notebook", "run", "lightning", "transformers"}, names


def cli_words(name: str) -> list[str]:
    words = shlex.split(snippet(name))
    assert words[0] == "gradlint"
    return words[1:]


def test_notebook_snippet():
    result = run_cli(*cli_words("notebook"))
    assert result.returncode == 1, result.stderr
    shown = shown_output("notebook").split(" (...)")[0]
    assert result.stdout.startswith(shown), (shown, result.stdout)


def test_run_snippet():
    result = run_cli(*cli_words("run"))
    assert result.returncode == 1, result.stderr
    shown = shown_output("run").split(" [fix: ...]")[0]
    assert result.stdout.startswith(shown), (shown, result.stdout)


LIGHTNING_SETUP = """
import lightning as L
import torch
from torch import nn


class Net(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self(x), y)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)


model = Net()
train_loader = torch.utils.data.DataLoader(
    torch.utils.data.TensorDataset(torch.randn(16, 16), torch.randn(16, 1)), batch_size=8)
"""

TRANSFORMERS_SETUP = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 3))

    def forward(self, features, labels=None):
        logits = self.net(features)
        return {"loss": nn.functional.cross_entropy(logits, labels), "logits": logits}


model = Net()
train_dataset = [{"features": torch.randn(16), "labels": i % 3} for i in range(16)]
"""

CHECK = """
callback = next(c for c in {callbacks} if type(c).__name__ == "GradlintCallback")
assert callback.report is not None and callback.report.result.model_status[0].status == "checked"
print("GRADLINT FINDINGS", len(callback.report.findings))
"""


@pytest.mark.parametrize("name, library, setup, callbacks", [
    ("lightning", "lightning", LIGHTNING_SETUP, "trainer.callbacks"),
    ("transformers", "accelerate", TRANSFORMERS_SETUP, "trainer.callback_handler.callbacks"),
])
def test_callback_snippets(tmp_path, name, library, setup, callbacks):
    pytest.importorskip(library, reason=f"the {name} callback needs `pip install gradlint[{name}]`")
    script = tmp_path / "snippet.py"
    script.write_text(setup + snippet(name) + CHECK.format(callbacks=callbacks))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "GRADLINT FINDINGS 0" in result.stdout  # a healthy model: nothing to report, the fit went on
    assert "gradlint: 0 finding(s) in `Net` (checked) before training" in result.stderr
