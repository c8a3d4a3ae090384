"""A result cache for model checks, like ruff's: an unchanged file answers without importing torch.

Results are keyed by the content of the linted file and of every project module it imports, the
settings, and the gradlint, torch and Python versions; they live in ``.gradlint_cache/`` at the
project root (with a ``.gitignore`` of its own). ``--no-cache`` bypasses it; ``gradlint clean``
or deleting the directory clears it. Only results without problems are stored: a timeout or a
crash is checked again next time.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import tempfile
from pathlib import Path

from gradlint import __version__
from gradlint.findings import FileResult
from gradlint.project import local_closure, project_root

DIRECTORY = ".gradlint_cache"
FORMAT = "v1"


def _torch_version() -> str:
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return "none"


def _own_source() -> str:
    """A digest of gradlint's own code, so that an edited (editable) install never reads results
    an older version of a rule produced."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    from gradlint import rules

    for directory in (package, Path(rules.__file__).resolve().parent):
        for source in sorted(directory.rglob("*.py")):
            digest.update(source.read_bytes())
    return digest.hexdigest()


class Cache:
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._versions = (f"{__version__}|{_own_source() if enabled else ''}|{_torch_version()}|"
                          f"{platform.python_version()}")

    def key(self, path: Path, tree, request: dict) -> str:
        root = project_root(path)
        digest = hashlib.sha256()
        digest.update(self._versions.encode())
        digest.update(json.dumps(request, sort_keys=True, default=str).encode())
        from gradlint.callsites import construction_sources  # call sites decide how models are built

        sources = dict.fromkeys([path.resolve(), *local_closure(tree, path.resolve(), root),
                                 *(construction_sources(tree, root) if self.enabled else ())])
        for source in sources:
            digest.update(str(source).encode())
            try:
                digest.update(source.read_bytes())
            except OSError:
                digest.update(b"<unreadable>")
        return digest.hexdigest()

    def _file(self, path: Path, key: str) -> Path:
        return project_root(path) / DIRECTORY / FORMAT / f"{key}.json"

    def get(self, path: Path, key: str) -> FileResult | None:
        if not self.enabled:
            return None
        try:
            return FileResult.from_dict(json.loads(self._file(path, key).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, path: Path, key: str, result: FileResult) -> None:
        if not self.enabled or result.problems:
            return
        target = self._file(path, key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            ignore = target.parent.parent / ".gitignore"
            if not ignore.exists():
                ignore.write_text("# created by gradlint\n*\n")
            with tempfile.NamedTemporaryFile("w", dir=target.parent, delete=False, suffix=".tmp") as handle:
                json.dump(result.to_dict(), handle)
            os.replace(handle.name, target)  # atomic: parallel workers never read half a file
        except OSError:
            pass  # a read-only checkout still lints, just without a cache


def clear(start: Path) -> Path | None:
    directory = project_root(start) / DIRECTORY
    if directory.is_dir():
        shutil.rmtree(directory)
        return directory
    return None
