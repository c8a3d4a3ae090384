"""Stopping gradlint stops everything it started: Ctrl-C, SIGTERM (CI's job timeout, pre-commit's
abort) and SIGKILL of a run whose models hang leave no process behind — not the workers, not the
processes the user's code started in them. Checked through the real command line, with the
process table."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

# forward() starts a process of its own, then hangs
HANGS = """\
import subprocess
import sys
import time

from torch import nn


class Hangs(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)  # child of {name}"])
        time.sleep(600)
        return self.fc(x)
"""

MARK = "GRADLINT_TEST_RUN"   # inherited by every process of the run: how the test finds them


def processes_of_run(token: str) -> dict[int, str]:
    """pid -> command line of every living process (zombies are dead) whose environment holds
    the run's token."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if f"{MARK}={token}".encode() not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:   # gone meanwhile, or not ours
            continue
        if state != "Z":
            found[int(entry.name)] = command
    return found


def wait_for(condition, seconds: float, step: float = 0.1):
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def start(command: list[str], tmp_path: Path, files: int) -> tuple[subprocess.Popen, str]:
    """Start ``command`` on ``files`` hanging model files and wait until every forward hangs
    (each has started its own child)."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "tmp"\n')
    names = [f"hang_{i}.py" for i in range(files)]
    for name in names:
        (tmp_path / name).write_text(HANGS.replace("{name}", name))
    token = uuid.uuid4().hex
    env = {**os.environ, MARK: token, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore",
           "PYTHONPATH": str(ROOT)}
    # as a terminal starts a foreground command: SIGINT at its default, even when this test run
    # was itself started in the background (where the shell ignores SIGINT, the process inherits
    # that, and gradlint rightly keeps a signal its caller chose to ignore)
    process = subprocess.Popen([*command, *names], cwd=tmp_path, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def hanging() -> bool:
        children = [c for c in processes_of_run(token).values() if "# child of hang_" in c]
        return len(children) == files

    if not wait_for(hanging, 180, 0.25):
        process.kill()
        pytest.fail(f"the forwards never started: {process.communicate()}")
    return process, token


def assert_nothing_survives(token: str) -> None:
    survivors = wait_for(lambda: not processes_of_run(token), 5) or processes_of_run(token)
    for pid in processes_of_run(token):   # never leave them running, even when the test fails
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    assert survivors is True, f"processes of the run survived: {survivors}"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL],
                         ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_a_signal_stops_the_run_and_every_process_it_started(tmp_path: Path, signum: int) -> None:
    process, token = start([sys.executable, "-m", "gradlint", "-j", "2", "--no-cache"], tmp_path, files=2)
    running = processes_of_run(token)
    # gradlint and the fork server; per file: guard, worker, child (all three forked from the server)
    assert len(running) == 2 + 2 * 3
    assert sum("gradlint.run.forkserver" in command for command in running.values()) == 1 + 2 * 2
    sent = time.monotonic()
    process.send_signal(signum)
    out, err = process.communicate(timeout=30)
    elapsed = time.monotonic() - sent
    if signum == signal.SIGKILL:
        assert process.returncode == -signal.SIGKILL
    else:
        assert process.returncode == 128 + signum
        assert elapsed < 2, f"took {elapsed:.1f} s to stop"
        name = signal.Signals(signum).name
        assert err.splitlines() == [f"gradlint: interrupted by {name} (2 running checks stopped); "
                                    "no results reported"]
        assert out == ""
    assert_nothing_survives(token)


def test_keyboard_interrupt_in_the_python_api_stops_the_workers(tmp_path: Path) -> None:
    """``gradlint.lint()`` in a user's program installs no handler: Ctrl-C raises
    KeyboardInterrupt there as usual, and the workers go with it."""
    program = "import gradlint, sys; gradlint.lint(sys.argv[1:])"
    process, token = start([sys.executable, "-c", program], tmp_path, files=1)
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert time.monotonic() - sent < 2
    assert "KeyboardInterrupt" in err
    assert_nothing_survives(token)


def test_a_timeout_kills_the_worker_and_its_children(tmp_path: Path) -> None:
    process, token = start([sys.executable, "-m", "gradlint", "--no-cache", "--timeout", "20"],
                           tmp_path, files=1)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    # the model's own limit stops it (the sleep returns to the interpreter); the file's end kills
    # the child it started
    assert "hang_0.py: error: model `Hangs`: not checked: it ran past its 20 s time limit in tracing" in err
    assert_nothing_survives(token)


LEAKS = """\
import subprocess
import sys

from torch import nn

subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)  # left running"])


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x)
"""


def test_a_process_the_file_leaves_running_is_stopped_with_its_worker(tmp_path: Path) -> None:
    """It holds the worker's output pipes: before, gradlint waited for it until the time limit
    and reported the file as timed out."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "tmp"\n')
    (tmp_path / "leaks.py").write_text(LEAKS)
    token = uuid.uuid4().hex
    env = {**os.environ, MARK: token, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    run = subprocess.run([sys.executable, "-m", "gradlint", "leaks.py", "--no-cache", "--timeout", "120"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "No findings in 1 file: 1 model found, 1 checked." in run.stderr
    assert_nothing_survives(token)
