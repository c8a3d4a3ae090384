"""Where a linted file's project starts, and the files that belong to it (no torch needed)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

_ROOT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")
_SKIP_DIRS = {"__pycache__", "node_modules", "site-packages", "build", "dist", "venv", "env"}
MAX_PROJECT_FILES = 20_000


def project_root(path: Path) -> Path:
    """The nearest ancestor holding pyproject.toml, setup.py, setup.cfg or .git (like ruff)."""
    start = path.resolve().parent if path.is_file() or not path.exists() else path.resolve()
    for directory in (start, *start.parents):
        if any((directory / marker).exists() for marker in _ROOT_MARKERS):
            return directory
    return start


def project_files(root: Path, suffixes: tuple[str, ...]) -> Iterator[Path]:
    """Files under ``root`` with one of ``suffixes``, skipping hidden, virtualenv and build dirs
    and nested projects (a subdirectory with its own pyproject.toml, setup.py, setup.cfg or .git
    is another project, as it is for ruff)."""
    count = 0
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames
            if not d.startswith(".") and d not in _SKIP_DIRS
            and not (Path(directory, d) / "pyvenv.cfg").exists()
            and not any((Path(directory, d) / marker).exists() for marker in _ROOT_MARKERS)
        )
        for filename in sorted(filenames):
            if filename.endswith(suffixes):
                count += 1
                if count > MAX_PROJECT_FILES:
                    return
                yield Path(directory, filename)
