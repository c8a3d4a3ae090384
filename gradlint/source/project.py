"""Where a linted file's project starts, and the files that belong to it (no torch needed)."""

from __future__ import annotations

import ast
import contextlib
import gc
import os
import threading
from collections import deque
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
            if filename.endswith(suffixes) and os.path.isfile(os.path.join(directory, filename)):
                # a FIFO, socket or device named *.py would block its reader forever
                count += 1
                if count > MAX_PROJECT_FILES:
                    return
                yield Path(directory, filename)


def statements(tree: ast.AST) -> Iterator[ast.stmt]:
    """Every statement of ``tree``, nested ones included (function, class, ``if``, ``try``,
    ``with``, ``match`` bodies), without descending into expressions: imports, classes and
    functions are statements, and a data file's million-element literal costs nothing here."""
    stack = [tree]
    while stack:
        node = stack.pop()
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(node, field, None)
            if isinstance(children, list):
                stack.extend(reversed([c for c in children if isinstance(c, (ast.stmt, ast.excepthandler,
                                                                                  ast.match_case))]))
        if isinstance(node, ast.stmt):
            yield node


def local_imports(tree: ast.Module, path: Path, root: Path) -> list[Path]:
    """Project files that ``tree`` (the source of ``path``) imports directly; no import runs."""
    found = []
    for node in statements(tree):
        modules: list[tuple[str, int]] = []
        if isinstance(node, ast.Import):
            modules = [(alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [(node.module or "", node.level)]
            modules += [((node.module + "." if node.module else "") + a.name, node.level) for a in node.names]
        for module, level in modules:
            if level > len(path.parents):
                continue
            bases = [path.parents[level - 1]] if level else [path.parent, root]
            for base in bases:
                target = base.joinpath(*module.split(".")) if module else base
                for candidate in (target.with_suffix(".py"), target / "__init__.py"):
                    if candidate.is_file() and candidate not in found:
                        found.append(candidate)
    return found


def parse(path: Path) -> ast.Module | None:
    try:
        return parse_source(path.read_text(encoding="utf-8", errors="replace"))
    except (SyntaxError, ValueError, OSError, RecursionError):
        return None


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while the threads in here run. A parse makes node objects
    and no cyclic garbage: the collections their number triggers (one per 700 new objects, the
    older generations walked again as they fill) find nothing, yet take a fifth of the parse of
    a 2 MB data file (0.66 s of CPU instead of 0.84 s). Nested and concurrent uses (``-j``)
    share one pause."""
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


def parse_source(text: str, filename: str = "<unknown>") -> ast.Module:
    """``ast.parse(text, filename)``, without the garbage collector's passes over the nodes it
    makes (see _collector_paused): what gradlint's one parse of a linted file costs."""
    with _collector_paused():
        return ast.parse(text, filename=filename)


# what holds no call, skipped without a visit: constants, load/store contexts and the names and
# missing keys (``{**x}``) of list fields
_LEAVES = frozenset({ast.Constant, ast.Load, ast.Store, ast.Del, str, type(None)})


def calls(tree: ast.AST) -> Iterator[ast.Call]:
    """Every call in ``tree``, in ``ast.walk``'s order, without visiting the leaves one by one:
    a data file's 300,000-number literal costs one scan of its list (10 ms), not 600,000 node
    visits (ast.walk: 250 ms)."""
    todo = deque([tree])
    while todo:
        node = todo.popleft()
        if type(node) is ast.Call:
            yield node
        for field in getattr(node, "_fields", ()):
            value = getattr(node, field, None)
            if type(value) is list:
                todo.extend([item for item in value if type(item) not in _LEAVES])
            elif type(value) not in _LEAVES and isinstance(value, ast.AST):
                todo.append(value)


def local_closure(tree: ast.Module, path: Path, root: Path, limit: int = 200) -> list[Path]:
    """Every project file reachable from ``path`` through imports (bounded), sorted."""
    seen: set[Path] = set()
    queue = local_imports(tree, path, root)
    while queue and len(seen) < limit:
        current = queue.pop()
        if current in seen or current == path:
            continue
        seen.add(current)
        parsed = parse(current)
        if parsed is not None:
            queue.extend(local_imports(parsed, current, root))
    return sorted(seen)


_NOT_MODEL_BASES = {"object", "Exception", "Enum", "IntEnum", "NamedTuple", "TypedDict", "Protocol"}


def defines_model_classes(tree: ast.Module) -> bool:
    """From the source alone: the file defines a class with a base that may be a model, or the
    gradlint_models() hook."""
    for node in statements(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "gradlint_models":
            return True
        if isinstance(node, ast.ClassDef):
            bases = {b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "") for b in node.bases}
            if bases - _NOT_MODEL_BASES:
                return True
    return False
