"""The child process that imports and checks one model file.

User code runs here, never in the process that prints results: a hang, a crash or an ``os._exit``
in a model file costs that file only. The request comes as JSON on stdin; the result goes as JSON
to the original stdout, which is kept for gradlint alone — anything the user's code prints goes
to stderr, which the parent shows only when the file could not be checked.
"""

from __future__ import annotations

import json
import os
import sys
import warnings

from gradlint.guard import processes


def main() -> None:
    processes.guard_worker()  # first: the worker must not outlive gradlint, whatever kills it
    result_channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # the user's prints go to stderr, never into our JSON
    request = json.loads(sys.stdin.read())
    from gradlint.core.findings import fix_display_base

    fix_display_base(os.getcwd())
    box = None
    if request.get("scratch"):   # before any user code, while this process has one thread
        from gradlint.guard import sandbox

        box = sandbox.confine(request["scratch"])
        from gradlint.guard import progress

        progress.start(request["scratch"])
    warnings.simplefilter("ignore")

    from pathlib import Path

    from gradlint.check.engine import lint_import_target, lint_model_file
    from gradlint.core.settings import Settings

    settings = Settings.from_dict(request["settings"])
    if request.get("threads"):
        import torch

        torch.set_num_threads(request["threads"])
    if request.get("command"):  # gradlint run: the training command, up to its first step
        from gradlint.run.observe import lint_command

        result = lint_command(request["command"], settings, request.get("max_seconds"))
    elif request.get("module"):
        sys.path.insert(0, os.getcwd())  # like `python -m`: the current directory is importable
        result = lint_import_target(request["module"], request["selector"], settings, request.get("init"))
    else:
        result = lint_model_file(Path(request["path"]), request.get("selector"), settings, request.get("init"))
    if box is not None:
        _say_what_was_kept(result, box)
    # Python to Python, lossless: a measured -inf travels as -Infinity (allow_nan's default);
    # the output formats turn it into null (findings.jsonable)
    json.dump(result.to_dict(), result_channel)
    result_channel.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip interpreter teardown: user atexit hooks and thread joins cannot hang us


def _say_what_was_kept(result, box) -> None:
    """One note for the file: what the user's code tried that linting kept from happening; with
    -v, a kernel layer that was not there."""
    from gradlint.core.findings import Note
    from gradlint.guard.sandbox import describe_kernel_layer

    said = box.note()
    if said:
        result.notes.append(Note(result.path, said))
        result.notes += [Note(result.path, line, detail=True) for line in box.details()]
    if not box.kernel_abi:
        result.notes.append(Note(result.path, describe_kernel_layer(box), detail=True))


if __name__ == "__main__":
    main()
