"""``gradlint run -- python train.py ARGS``: lint the models a training command really builds.

The command runs in a worker process (gradlint.run.observe) until its first optimizer step, which is
stopped before it is applied; the worker lints every model an optimizer trains with the batch the
command built and the optimizer setup it observed. This side only starts the worker, applies the
suppression comments and returns the report: limits and exit codes are those of ``gradlint FILE``.
The command's own output goes to stderr, so stdout holds the findings alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gradlint.check.suppressed import apply_suppressions
from gradlint.core.findings import FileResult, Problem
from gradlint.core.limits import apply_memory_limit, command_timeouts
from gradlint.guard import processes, sandbox
from gradlint.run.config import Overrides, fail_level
from gradlint.run.runner import Report, _Configs, _crash_reason, _FileChecker, abandon


def lint_command(command: list[str], overrides: Overrides | None = None, *, config: Path | None = None,
                 isolated: bool = False, max_seconds: float | None = None) -> Report:
    """Run ``command`` up to its first optimizer step in a worker and lint what it trains.
    ``max_seconds``: how long the command may take to reach that step (data loading); the
    checking of its models then has the usual per-file limit (``--timeout``)."""
    overrides = overrides or Overrides()
    configs = _Configs(config, isolated)
    checker = _FileChecker(configs, overrides)
    settings = checker.settings_for(Path.cwd() / "_")
    reach, timeout = command_timeouts(settings, max_seconds)
    fields = {"path": None, "module": None, "selector": None, "command": list(command),
              "max_seconds": reach, "settings": settings.to_dict()}
    result = _run_worker(fields, " ".join(command), timeout, checker.memory_limit(settings))
    report = Report([result], fail_level(configs.for_path(None), overrides))
    report.suppressed = apply_suppressions([result], set(), checker.settings_for)
    return report


def _run_worker(fields: dict, shown: str, timeout: float | None, memory: int | None) -> FileResult:
    """The runner's worker, with the command's output passed through to our stderr as it comes
    (a training script's progress and errors are the user's to see), not kept for a crash line."""
    env = {**os.environ, "PYTHONHASHSEED": "0", **processes.child_environment()}
    process = subprocess.Popen(
        [sys.executable, "-m", "gradlint.run.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=None, env=env, start_new_session=True,
        preexec_fn=(lambda: apply_memory_limit(memory)) if memory else None)
    processes.register(process.pid)
    scratch = sandbox.scratch_folder()
    try:
        out, _ = process.communicate(json.dumps({**fields, "scratch": scratch}).encode(), timeout=timeout)
    except subprocess.TimeoutExpired:
        processes.kill(process.pid)
        abandon(process)
        return FileResult(shown, problems=[Problem(
            shown, f"the command and the checking of its models took longer than {timeout:g} s; "
                   "raise --max-seconds (slow data loading) or --timeout")])
    finally:
        processes.unregister(process.pid)
        sandbox.remove_scratch(scratch)
    if process.returncode == 0:
        try:
            return FileResult.from_dict(json.loads(out))
        except (ValueError, KeyError, TypeError):
            pass
    reason = _crash_reason(process.returncode, b"").replace("importing or checking the file", "running the command")
    return FileResult(shown, problems=[Problem(shown, f"{reason} (its output is above)")])
