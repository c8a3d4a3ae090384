"""Files checked in one run are forked from one server that imported torch once: each still gets
the result it gets alone, with the server or without it, and a file that tampers with torch or
gradlint at import time changes nothing for the others."""

from __future__ import annotations

import json

import pytest

import gradlint
from gradlint.run import forkserver
from conftest import run_cli
from test_cli import SIGMOID_NET  # the same net the command-line tests lint

pytestmark = pytest.mark.skipif(not forkserver.available(), reason="the fork server runs on Linux")

# checked first (-j 1, sorted): in a process shared with the next file, its sigmoid would be the
# identity, its default dtype float64 and its seed changed
TAMPERS = """
import torch
from torch import nn

import gradlint.check.engine

torch.sigmoid = lambda x: x
torch.set_default_dtype(torch.float64)
torch.manual_seed(1234)
gradlint.check.engine.TAMPERED = True


class Tampers(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))

    def forward(self, x):
        return self.net(x)
"""


def findings_by_file(result) -> dict[str, list]:
    assert result.returncode in (0, 1), result.stderr
    return {f["path"]: f["findings"] for f in json.loads(result.stdout)["files"]}


def test_each_file_gets_its_own_result_together_alone_and_without_the_server(write, monkeypatch):
    write("a_tampers.py", TAMPERS)
    write("b_net.py", SIGMOID_NET)
    path = write("c_net.py", SIGMOID_NET.replace("range(4)", "range(6)"))
    options = ["--no-cache", "--output-format", "json"]
    together = findings_by_file(run_cli(".", "-j", "1", *options, cwd=path.parent))
    assert [f["code"] for f in together["b_net.py"]] == ["GL101"]
    for name in ("b_net.py", "c_net.py"):
        assert findings_by_file(run_cli(name, *options, cwd=path.parent)) == {name: together[name]}
    monkeypatch.setenv("GRADLINT_NO_FORK_SERVER", "1")   # a process started afresh per file
    assert findings_by_file(run_cli(".", "-j", "2", *options, cwd=path.parent)) == together


def test_one_server_per_run_and_none_for_files_without_models(write, monkeypatch):
    started = []
    start = forkserver.ForkServer.start

    def counting_start(*args, **kwargs):
        started.append(1)
        return start(*args, **kwargs)

    monkeypatch.setattr(forkserver.ForkServer, "start", staticmethod(counting_start))
    write("utils.py", "import os\n\ndef helper():\n    return os.getcwd()\n")
    path = write("b_net.py", SIGMOID_NET)
    monkeypatch.chdir(path.parent)
    assert gradlint.lint(["utils.py"], cache=False).files[0].findings == []
    assert started == []
    write("c_net.py", SIGMOID_NET)
    report = gradlint.lint(["b_net.py", "c_net.py", "utils.py"], jobs=2, cache=False)
    assert [f.code for f in report.findings] == ["GL101", "GL101"]
    assert started == [1]


def test_a_server_that_dies_costs_nothing_but_its_speed(write, monkeypatch):
    """The files go on in a process each, started afresh, with the same results."""
    start = forkserver.ForkServer.start

    def dead_on_arrival(*args, **kwargs):
        server = start(*args, **kwargs)
        server._process.kill()
        server._process.wait()
        return server

    monkeypatch.setattr(forkserver.ForkServer, "start", staticmethod(dead_on_arrival))
    write("b_net.py", SIGMOID_NET)
    path = write("c_net.py", SIGMOID_NET)
    monkeypatch.chdir(path.parent)
    report = gradlint.lint(["b_net.py", "c_net.py"], jobs=1, cache=False)
    assert report.problems == [] and [f.code for f in report.findings] == ["GL101", "GL101"]
