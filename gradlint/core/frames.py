"""Where the user's code is: the innermost frame outside torch, gradlint and library plumbing, the
caller's location in the user's own files, and an exception described with the user's line.

Every stage that runs user code (the import, the trace, interception, the trainer callbacks) points
its findings and messages at the user's line through these.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import sys
from typing import Any

from gradlint.core.findings import Location, display_path

_TORCH_SPEC = importlib.util.find_spec("torch")   # where torch lives, without importing it
TORCH_DIR = os.path.dirname(_TORCH_SPEC.origin or "") + os.sep if _TORCH_SPEC else os.sep + "<no torch>" + os.sep
# the gradlint package itself (this file is gradlint/core/frames.py): frames in any of its modules are not the user's
GRADLINT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
RULES_DIR = os.path.join(os.path.dirname(GRADLINT_DIR.rstrip(os.sep)), "rules") + os.sep
_SKIP_FRAGMENTS = (os.sep + "transformers" + os.sep + "utils" + os.sep,)


@dataclasses.dataclass(frozen=True)
class SourceLocation:
    path: str
    line: int
    col: int
    end_line: int
    end_col: int


def user_location(frame: Any = None) -> SourceLocation | None:
    """The innermost frame outside torch, gradlint and library plumbing, with its column span."""
    frame = frame or sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not (
            filename.startswith(TORCH_DIR)
            or filename.startswith(GRADLINT_DIR)
            or filename.startswith(RULES_DIR)
            or filename.startswith("<")
            or any(fragment in filename for fragment in _SKIP_FRAGMENTS)
        ):
            return _frame_location(frame)
        frame = frame.f_back
    return None


def _frame_location(frame: Any) -> SourceLocation:
    code = frame.f_code
    line, end_line, col, end_col = frame.f_lineno, frame.f_lineno, 0, 0
    if frame.f_lasti >= 0:
        positions = list(code.co_positions())
        index = frame.f_lasti // 2
        if index < len(positions):
            pos = positions[index]
            line = pos[0] or line
            end_line = pos[1] or line
            col = pos[2] or 0
            end_col = pos[3] or 0
    return SourceLocation(os.path.abspath(code.co_filename), line, col + 1, end_line, end_col + 1)


_LIBRARIES = (os.sep + "site-packages" + os.sep, os.sep + "dist-packages" + os.sep)


def caller_location() -> Location | None:
    """The innermost frame of the user's own code on the stack (not a library, not gradlint,
    not torch): where the user started training (``trainer.fit(...)``, ``trainer.train()``)."""
    frame = sys._getframe(1)
    while frame is not None:
        where = user_location(frame)
        if where is None:
            return None
        if not any(part in where.path for part in _LIBRARIES):
            return Location(display_path(where.path), where.line, where.col, where.end_line, where.end_col)
        while frame is not None and os.path.abspath(frame.f_code.co_filename) != where.path:
            frame = frame.f_back
        frame = frame.f_back if frame is not None else None
    return None


def describe_exception(exc: BaseException) -> str:
    """``Type at path:line: first line of the message``, the line being the innermost frame of the
    user's own files (not torch's, not gradlint's)."""
    text = str(exc).strip().splitlines()
    where = ""
    tb = exc.__traceback__
    frame_file, frame_line = None, None
    while tb is not None:  # innermost frame in the user's own files
        filename = tb.tb_frame.f_code.co_filename
        if not filename.startswith((TORCH_DIR.rstrip(os.sep), GRADLINT_DIR.rstrip(os.sep))):
            frame_file, frame_line = filename, tb.tb_lineno
        tb = tb.tb_next
    if frame_file is not None:
        where = f" at {display_path(frame_file)}:{frame_line}"
    return f"{type(exc).__name__}{where}: {text[0] if text else ''}".rstrip(": ")
