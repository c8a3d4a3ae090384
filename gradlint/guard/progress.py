"""How far a worker got, kept where the runner can read it after a kill.

``--timeout`` is a limit per stage (gradlint.core.limits): the file's import, building its models, then
each model. The worker writes the stage it begins and the result so far to ``progress.json`` in
its scratch folder (atomically), and the runner's hard limit starts again whenever that file
changes. Within a model's stage, the step it is in (tracing, probing, the dry run...) goes to a
second file, ``step.json``, which does not restart the runner's clock: when the runner has to kill
the worker, it keeps what was finished and says which model and step ran out of time (the import
only when the import was not done), instead of throwing the whole file away. The worker's own
soft limit names the same step (``current_step``). Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any

_FILE = "progress.json"
_STEP_FILE = "step.json"
_folder: str | None = None
_step: str | None = None


@dataclasses.dataclass(frozen=True)
class Reached:
    """What the runner reads after a kill: the stage (``checking model `a```), the result finished
    before it (FileResult.to_dict()), the model being checked (None before the models), the models
    not reached yet, when the stage began (``time.time()``) and the step within it (or None)."""

    stage: str
    result: dict
    model: str | None = None
    pending: tuple[str, ...] = ()
    started: float | None = None
    step: str | None = None


def start(folder: str | None) -> None:
    """In the worker: report progress into ``folder`` (its scratch folder) from now on."""
    global _folder
    _folder = folder


def report(stage: str, result: Any, model: str | None = None, pending: tuple[str, ...] | list[str] = ()) -> None:
    """In the worker: ``stage`` has begun (checking ``model``, with ``pending`` still to come);
    ``result`` (a FileResult) holds what is finished. The runner's clock starts again."""
    global _step
    _step = None
    if _folder is not None:
        _write(_STEP_FILE, {"step": None})   # first: the new stage never shows the old one's step
        _write(_FILE, {"stage": stage, "result": result.to_dict(), "model": model, "pending": list(pending),
                       "started": time.time()})


def step(text: str) -> None:
    """In the worker: the current model's check has reached ``text`` ("the probe"); the runner's
    clock goes on."""
    global _step
    _step = text
    if _folder is not None:
        _write(_STEP_FILE, {"step": text})


def current_step() -> str | None:
    """In the worker: the step the current model's check is in, or None before its first."""
    return _step


def _write(name: str, data: dict) -> None:
    path = os.path.join(_folder, name)
    try:
        with open(path + ".tmp", "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(path + ".tmp", path)
    except (OSError, TypeError, ValueError):
        pass   # progress is a courtesy: the check itself goes on


def stamp(folder: str | None) -> int | None:
    """In the runner: changes whenever the worker reports a new stage (None: no report yet)."""
    if folder is None:
        return None
    try:
        return os.stat(os.path.join(folder, _FILE)).st_mtime_ns
    except OSError:
        return None


def read(folder: str | None) -> Reached | None:
    """In the runner: the last stage reported and the result finished before it, or None when
    the worker reported none (it was still importing the file)."""
    if folder is None:
        return None
    try:
        with open(os.path.join(folder, _FILE), encoding="utf-8") as handle:
            data = json.load(handle)
        reached = Reached(str(data["stage"]), dict(data["result"]), data.get("model"),
                          tuple(data.get("pending") or ()), data.get("started"))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        with open(os.path.join(folder, _STEP_FILE), encoding="utf-8") as handle:
            step = json.load(handle).get("step")
    except (OSError, ValueError, AttributeError):
        step = None
    return dataclasses.replace(reached, step=step if isinstance(step, str) else None)
