"""How far a worker got, kept where the runner can read it after a kill.

``--timeout`` is a limit per model: each model's check runs under its own alarm in the worker, and
the runner's hard limit (for code that never returns to the interpreter) starts again whenever the
worker reports a new stage. The worker writes its stage and the result so far to ``progress.json``
in its scratch folder (atomically) as it starts each model; when the runner has to kill it, it
keeps what was finished and says which model and stage ran out of time, instead of throwing the
whole file away. Nothing here imports torch.
"""

from __future__ import annotations

import json
import os
from typing import Any

_FILE = "progress.json"
_folder: str | None = None


def start(folder: str | None) -> None:
    """In the worker: report progress into ``folder`` (its scratch folder) from now on."""
    global _folder
    _folder = folder


def report(stage: str, result: Any) -> None:
    """In the worker: ``stage`` has begun; ``result`` (a FileResult) holds what is finished."""
    if _folder is None:
        return
    path = os.path.join(_folder, _FILE)
    try:
        with open(path + ".tmp", "w", encoding="utf-8") as handle:
            json.dump({"stage": stage, "result": result.to_dict()}, handle)
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


def read(folder: str | None) -> tuple[str, dict] | None:
    """In the runner: the last stage reported and the result finished before it, or None."""
    if folder is None:
        return None
    try:
        with open(os.path.join(folder, _FILE), encoding="utf-8") as handle:
            data = json.load(handle)
        return str(data["stage"]), dict(data["result"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
