"""How gradlint finds, builds and feeds the models of a file, as a user sees it through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli

ODD_GLOBALS = """
import torch
from torch import nn

graph = torch.fx.Graph()
x = torch.fx.Proxy(graph.placeholder("x"))   # answers every attribute with another Proxy


class Anything:
    def __getattr__(self, name):
        return self


anything = Anything()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        return torch.relu(self.fc(x))
"""


def test_module_level_proxy_and_answer_everything_objects_are_left_alone(write):
    path = write("odd_globals.py", ODD_GLOBALS)
    result = run_cli("odd_globals.py", cwd=path.parent)
    assert result.returncode == 0, result.stderr
    assert "No findings in 1 model of 1 file." in result.stderr
    assert "error" not in result.stderr


def test_an_error_inside_gradlint_is_not_blamed_on_the_users_import(write, monkeypatch):
    from gradlint import engine
    from gradlint.settings import Settings

    path = write("net.py", ODD_GLOBALS)

    def broken(*args, **kwargs):
        raise RuntimeError("discovery bug")

    monkeypatch.setattr(engine, "find_models", broken)
    result = engine.lint_model_file(path, None, Settings())
    (problem,) = result.problems
    assert problem.message.startswith("internal error in gradlint while finding the file's models "
                                      "(RuntimeError at ")
    assert "discovery bug" in problem.message and "importing the file" not in problem.message
