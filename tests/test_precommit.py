"""The pre-commit hook, with the real pre-commit tool, against a temporary git repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

pytest.importorskip("pre_commit")

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
GOOD = BAD.replace("torch.sigmoid", "torch.relu").replace("range(4)", "range(2)")


def git(repo: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True)


@pytest.fixture
def repo(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("the project is not a git checkout with a commit")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com", "HF_HUB_OFFLINE": "1"}
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", env=env)
    (work / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {ROOT.as_uri()}\n    rev: {head.stdout.strip()}\n    hooks:\n      - id: gradlint\n")
    (work / "pyproject.toml").write_text('[project]\nname = "w"\n')
    git(work, "add", ".", env=env)
    assert git(work, "commit", "-q", "-m", "config", env=env).returncode == 0
    install = subprocess.run([sys.executable, "-m", "pre_commit", "install"], cwd=work, env=env,
                             capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    return work, env


def test_a_staged_bad_model_fails_the_commit_and_a_clean_one_passes(repo):
    work, env = repo
    (work / "model.py").write_text(BAD)
    git(work, "add", "model.py", env=env)
    failed = git(work, "commit", "-m", "bad model", env=env)
    assert failed.returncode != 0
    assert "model.py:12:17: GL101 error: 4 sigmoid layers in a row" in failed.stdout + failed.stderr
    (work / "model.py").write_text(GOOD)
    (work / "notes.py").write_text("VALUE = 1\n")
    git(work, "add", "model.py", "notes.py", env=env)
    passed = git(work, "commit", "-m", "good model", env=env)
    assert passed.returncode == 0, passed.stdout + passed.stderr


def test_the_hook_with_fix_repairs_the_file_and_stops_the_commit_like_ruffs(repo):
    """`args: [--fix]`: the verified fix is written, pre-commit stops the commit because the hook
    modified a file, and the reviewed file commits cleanly."""
    work, env = repo
    case = ROOT / "fixtures" / "fix" / "gl501_plain_loop"
    config = work / ".pre-commit-config.yaml"
    config.write_text(config.read_text() + "        args: [--fix]\n")
    shutil.copy(case / "train.py", work / "train.py")
    git(work, "add", ".pre-commit-config.yaml", "train.py", env=env)
    stopped = git(work, "commit", "-m", "train", env=env)
    output = stopped.stdout + stopped.stderr
    assert stopped.returncode != 0, output
    assert "files were modified by this hook" in output
    assert "train.py:" in output and " GL501 fixed: " in output
    assert (work / "train.py").read_text() == (case / "train.py.after").read_text()
    git(work, "add", "train.py", env=env)
    passed = git(work, "commit", "-m", "train, clipped", env=env)
    assert passed.returncode == 0, passed.stdout + passed.stderr
