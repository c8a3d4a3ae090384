"""The composite action runs these commands; run them here the way the runner would."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

yaml = pytest.importorskip("yaml")

BAD = """import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(32, 32) for _ in range(4))

    def forward(self, x):
        for layer in self.layers:
            x = torch.sigmoid(layer(x))
        return x
"""


def expand(command: str, inputs: dict[str, str]) -> str:
    def value(match: re.Match) -> str:
        scope, name = match.group(1), match.group(2)
        return str(ROOT) if (scope, name) == ("github", "action_path") else inputs[name]

    return re.sub(r"\$\{\{\s*(inputs|github)\.([\w-]+)\s*\}\}", value, command)


def test_action_steps_annotate_and_write_valid_sarif(tmp_path):
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    inputs = {name: spec.get("default", "") for name, spec in action["inputs"].items()}
    steps = action["runs"]["steps"]
    assert action["runs"]["using"] == "composite"
    install, sarif_step, annotate_step = steps
    assert '"${{ github.action_path }}"' in install["run"]  # installs this very action's package
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\n')
    (tmp_path / "model.py").write_text(BAD)
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}

    sarif = subprocess.run(["bash", "-c", expand(sarif_step["run"], inputs)], cwd=tmp_path, env=env,
                           capture_output=True, text=True)
    assert sarif.returncode == 0, sarif.stderr  # the SARIF step never fails the job itself
    document = json.loads((tmp_path / inputs["sarif-file"]).read_text())
    assert document["runs"][0]["results"][0]["ruleId"] == "GL101"

    annotate = subprocess.run(["bash", "-c", expand(annotate_step["run"], inputs)], cwd=tmp_path, env=env,
                              capture_output=True, text=True)
    assert annotate.returncode == 1
    assert annotate.stdout.startswith("::error file=model.py,line=12,col=17,")


def test_example_workflow_uses_the_action_and_uploads_sarif():
    workflow = yaml.safe_load((ROOT / "examples" / "github-workflow.yml").read_text())
    steps = workflow["jobs"]["gradlint"]["steps"]
    uses = [step.get("uses", "") for step in steps]
    assert any(u.endswith("/gradlint@v0.1.0") for u in uses)  # this repository, wherever it is hosted
    upload = next(step for step in steps if step.get("uses", "").startswith("github/codeql-action/upload-sarif"))
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert upload["with"]["sarif_file"] == action["inputs"]["sarif-file"]["default"]
    assert workflow["permissions"]["security-events"] == "write"
