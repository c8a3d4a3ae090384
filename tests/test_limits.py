"""--timeout is a limit per model (gradlint.core.limits): a model that runs past its own time is
reported as not checked, with the step it was in and the seconds it took, and every other model
of the file is checked and reported as usual; a stage stopped after the import never blames it.
Each test uses models whose forward (or constructor) sleeps, and a --timeout of a few seconds."""

from __future__ import annotations

import json
import time

from conftest import run_cli

# a sigmoid chain: GL101 finds it, so a kept result is visible as a finding
CHAIN = """

class {name}(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Sequential(*[nn.Sigmoid() if i % 2 else nn.Linear(4, 4) for i in range(20)])

    def forward(self, x):
        return self.fc(x)
"""
HEADER = """import signal
import time

import torch
from torch import nn
"""
SLEEPY = """

class Sleepy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        time.sleep(120)   # far past its limit, in gradlint's first step (tracing)
        return self.fc(x)
"""
STUCK = """

class Stuck(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})   # gradlint's own limit never fires
        time.sleep(3600)
        return self.fc(x)
"""


def _file(*middle: str) -> str:
    return HEADER + CHAIN.format(name="Before") + "".join(middle) + CHAIN.format(name="After")


def _lint_json(path, *args: str):
    started = time.monotonic()
    result = run_cli(path.name, "--no-cache", "--output-format", "json", *args, cwd=path.parent, timeout=300)
    (file,) = json.loads(result.stdout)["files"]
    return result, file, time.monotonic() - started


def _statuses(file: dict) -> dict[str, dict]:
    return {m["name"]: m for m in file["model_status"]}


def _found_in(file: dict, code: str) -> set[str]:
    return {f["model"] for f in file["findings"] if f["code"] == code}


def test_a_model_past_its_own_limit_is_not_checked_and_the_others_are_kept(write):
    path = write("models.py", _file(SLEEPY))
    result, file, seconds = _lint_json(path, "--timeout", "3")
    statuses = _statuses(file)
    assert {name: s["status"] for name, s in statuses.items()} == {
        "Before": "checked", "Sleepy": "failed", "After": "checked"}
    assert _found_in(file, "GL101") == {"Before", "After"}   # both results kept and reported
    why = statuses["Sleepy"]["why"]
    assert why.startswith("not checked: it ran past its 3 s time limit in tracing after 3 s"), why
    assert 3 <= statuses["Sleepy"]["seconds"] < 8
    (problem,) = file["problems"]
    assert problem["model"] == "Sleepy"
    assert problem["message"] == f"model `Sleepy`: {why}"
    assert "import" not in problem["message"]
    assert result.returncode == 2
    assert seconds < 60   # the sleep was cut short by the model's limit, not waited out

    text = run_cli("models.py", "--no-cache", "--timeout", "3", cwd=path.parent, timeout=300)
    assert "models.py: error: model `Sleepy`: not checked: it ran past its 3 s time limit in tracing" in text.stderr
    assert "3 models found, 2 checked, 1 not checked (1 failed)" in text.stderr
    assert text.stdout.count("GL101") == 2
    assert text.returncode == 2


# slow only in the copy GL701's dry run trains (the file's own instance traces quickly); torch's
# compiler stack, which the optimizer imports, is imported with the file, not in the model's time
DRY_RUN_SLOW = """
import torch._dynamo

FORWARDS = []


class DryRunSlow(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        # tracing and the probe take a few forward passes, the dry run 30 steps of 4 (it trains the
        # model itself in gradlint's worker: the test cannot tell it by a copy)
        FORWARDS.append(1)
        if len(FORWARDS) > 12:
            time.sleep(120)
        return self.fc(x)


slow = DryRunSlow()
"""
TRAIN = """import torch

from models import DryRunSlow

model = DryRunSlow()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
"""


def test_the_step_that_ran_out_of_time_is_named_the_dry_run(write):
    path = write("models.py", HEADER + DRY_RUN_SLOW)
    write("train.py", TRAIN)
    result, file, _ = _lint_json(path, "--timeout", "6")
    (status,) = file["model_status"]
    assert status["name"] == "slow" and status["status"] == "failed"
    assert status["why"].startswith("not checked: it ran past its 6 s time limit in the dry run (GL701)"), status
    assert result.returncode == 2


def test_a_model_that_never_returns_is_stopped_and_named_and_the_rest_reported(write):
    path = write("models.py", _file(STUCK))
    result, file, seconds = _lint_json(path, "--timeout", "2")
    statuses = _statuses(file)
    assert {name: s["status"] for name, s in statuses.items()} == {
        "Before": "checked", "Stuck": "failed", "After": "failed"}
    assert _found_in(file, "GL101") == {"Before"}   # the finished model's result is kept
    assert statuses["Stuck"]["why"].startswith("not checked: it ran past its 2 s time limit in tracing after 1")
    assert statuses["After"]["why"].startswith("not checked: not reached")
    assert file["models"] == ["Before", "Stuck", "After"]   # every model reported
    (problem,) = file["problems"]
    assert problem["model"] == "Stuck"
    message = problem["message"]
    assert message.startswith("timed out after 2 s checking model `Stuck` in tracing: it never returned to "
                              "gradlint's own time limit"), message
    assert "the models checked before it are kept, and `After` was not reached" in message
    assert "import" not in message
    assert result.returncode == 2
    assert seconds < 60   # the grace past the model's own limit is 10 s, not the sleep


def test_a_stage_after_the_import_never_blames_the_import(write):
    path = write("models.py", HEADER + """

class SlowToBuild(nn.Module):
    def __init__(self):
        super().__init__()
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(3600)
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x)
""")
    result = run_cli("models.py", "--no-cache", "--timeout", "2", cwd=path.parent, timeout=120)
    assert ("models.py: error: timed out after 2 s building the file's models (the import was done)"
            in result.stderr), result.stderr
    assert "while importing" not in result.stderr
    assert result.returncode == 2

    write("models.py", HEADER + "time.sleep(3600)\n" + CHAIN.format(name="Never"))
    result = run_cli("models.py", "--no-cache", "--timeout", "2", cwd=path.parent, timeout=120)
    assert "models.py: error: timed out after 2 s while importing the file" in result.stderr
    assert result.returncode == 2
