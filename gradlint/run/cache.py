"""A result cache for model checks, like ruff's: an unchanged file answers without importing torch.

Results are keyed by the content of the linted file and of every project module it imports, the
settings, and the gradlint, torch and Python versions; they live in ``.gradlint_cache/`` at the
project root (with a ``.gitignore`` of its own). ``--no-cache`` bypasses it; ``gradlint clean``
or deleting the directory clears it. Only results without problems are stored: a timeout or a
crash is checked again next time. Each entry is signed with a key kept in the user's own cache
folder (``~/.cache/gradlint/secret``), so an entry edited by hand or forged in the repository is
never read as an all-clear, and the cache never follows a symbolic link out of its folder.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.metadata
import json
import os
import platform
import secrets
import shutil
import tempfile
from pathlib import Path

from gradlint.core import __version__
from gradlint.core.findings import FileResult
from gradlint.source.project import local_closure, project_root

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
    package = Path(__file__).resolve().parents[1]   # gradlint/, every package of it
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
        from gradlint.source.callsites import construction_sources  # call sites decide how models are built

        sources = dict.fromkeys([path.resolve(), *local_closure(tree, path.resolve(), root),
                                 *(construction_sources(tree, root) if self.enabled else ())])
        for source in sources:
            digest.update(str(source).encode())
            try:
                digest.update(source.read_bytes())
            except OSError:
                digest.update(b"<unreadable>")
        return digest.hexdigest()

    def _file(self, path: Path, key: str) -> Path | None:
        """The entry's file, or None when the cache folder (or its version folder) is a symbolic
        link: the cache never reads or writes through a link out of its folder."""
        root = project_root(path)
        folders = (root / DIRECTORY, root / DIRECTORY / FORMAT)
        if any(folder.is_symlink() for folder in folders):
            return None
        return folders[1] / f"{key}.json"

    def get(self, path: Path, key: str) -> FileResult | None:
        """The stored result, only if this user's gradlint wrote it for exactly this key: an entry
        edited by hand, copied from elsewhere or forged carries no valid signature and is not
        trusted (the file is checked again)."""
        target = self._file(path, key) if self.enabled else None
        secret = _secret() if target is not None else None
        if target is None or secret is None:
            return None
        try:
            fd = os.open(target, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            with os.fdopen(fd, encoding="utf-8") as handle:
                entry = json.load(handle)
            payload = json.dumps(entry["result"], sort_keys=True)
            if not hmac.compare_digest(entry["signature"], _sign(secret, key, payload)):
                return None
            return FileResult.from_dict(entry["result"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, path: Path, key: str, result: FileResult) -> None:
        if not self.enabled or result.problems:
            return
        target = self._file(path, key)
        secret = _secret() if target is not None else None
        if target is None or secret is None:
            return
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            ignore = target.parent.parent / ".gitignore"
            if not ignore.exists():
                ignore.write_text("# created by gradlint\n*\n")
            data = result.to_dict()
            entry = {"signature": _sign(secret, key, json.dumps(data, sort_keys=True)), "result": data}
            with tempfile.NamedTemporaryFile("w", dir=target.parent, delete=False, suffix=".tmp") as handle:
                json.dump(entry, handle)
            os.replace(handle.name, target)  # atomic: parallel workers never read half a file
        except OSError:
            pass  # a read-only checkout still lints, just without a cache


def _sign(secret: bytes, key: str, payload: str) -> str:
    return hmac.new(secret, f"{key}\n{payload}".encode(), hashlib.sha256).hexdigest()


def _secret() -> bytes | None:
    """This user's signing key for cache entries, made once (``$XDG_CACHE_HOME/gradlint/secret``,
    readable by the user only); None where it cannot be kept (then nothing is cached)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gradlint"
    path = base / "secret"
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        pass
    try:
        base.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32))
    except FileExistsError:   # another gradlint made it meanwhile
        pass
    except OSError:
        return None
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


class CacheError(Exception):
    """The cache folder cannot be removed (said in one line, exit 2)."""


def clear(start: Path) -> Path | None:
    directory = project_root(start) / DIRECTORY
    if directory.is_symlink():
        raise CacheError(f"{directory} is a symbolic link; gradlint removes only a cache folder of its "
                         "own (remove the link yourself)")
    if directory.is_dir():
        try:
            shutil.rmtree(directory)
        except OSError as exc:
            raise CacheError(f"cannot remove {directory}: {exc.strerror or exc} (check its permissions)") from None
        return directory
    return None
