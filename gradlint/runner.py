"""Lint paths: expand them to files, run the source rules here and the model rules in a worker
process per file, and collect the results in a stable order.

This module never imports torch: files that define no model cost a parse, nothing more.
"""

from __future__ import annotations

import ast
import concurrent.futures
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from gradlint.findings import FileResult, Problem, display_path
from gradlint.project import project_root
from gradlint.settings import Settings

_NOT_MODEL_BASES = {"object", "Exception", "Enum", "IntEnum", "NamedTuple", "TypedDict", "Protocol"}
_SKIP_DIRS = {"__pycache__", "node_modules", "site-packages", "venv", "env"}


@dataclasses.dataclass(frozen=True)
class Target:
    """A file (optionally ``::Model``), or an importable ``package.module:attribute``."""

    path: Path | None
    selector: str | None = None
    module: str | None = None

    @property
    def shown(self) -> str:
        return f"{self.module}:{self.selector}" if self.module else display_path(str(self.path))


_MODULE_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclasses.dataclass
class Report:
    files: list[FileResult]

    @property
    def findings(self):
        return [f for r in self.files for f in r.findings]

    @property
    def problems(self):
        return [p for r in self.files for p in r.problems]


def expand(paths: list[str]) -> tuple[list[Target], list[Problem]]:
    """Files and directories (recursing into *.py); ``file.py::Name`` selects one model;
    ``package.module:factory`` names a class or a callable to import (see engine)."""
    targets: list[Target] = []
    problems: list[Problem] = []
    for raw in paths:
        text, _, selector = raw.partition("::")
        path = Path(text)
        if not path.exists() and _MODULE_TARGET.match(raw):
            module, _, attribute = raw.partition(":")
            targets.append(Target(None, attribute, module))
        elif path.is_dir():
            for directory, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS)
                targets.extend(Target(Path(directory, f)) for f in sorted(filenames) if f.endswith(".py"))
        elif path.is_file():
            if path.suffix != ".py":
                problems.append(Problem(display_path(str(path)), "not a Python file; pass .py files or directories"))
            else:
                targets.append(Target(path, selector or None))
        else:
            problems.append(Problem(text, "no such file or directory"))
    unique = list(dict.fromkeys(targets))
    return unique, problems


def lint(paths: list[str], settings: Settings | None = None, *, jobs: int | None = None,
         file_timeout: float = 300.0) -> Report:
    settings = settings or Settings()
    targets, problems = expand(paths)
    results: list[FileResult] = [FileResult(p.path, problems=[p]) for p in problems]
    checker = _FileChecker(settings, file_timeout)
    workers = max(1, jobs or os.cpu_count() or 1)
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        results.extend(pool.map(checker.check, targets))
    # the same files give the same output whatever order they were named in
    return Report(sorted(results, key=lambda r: r.path))


class _FileChecker:
    def __init__(self, settings: Settings, file_timeout: float) -> None:
        self.settings = settings
        self.file_timeout = file_timeout
        self._clipping: dict[Path, str | None] = {}

    def check(self, target: Target) -> FileResult:
        shown = target.shown
        if target.module is not None:
            return self._check_models(target, shown)
        try:
            text = target.path.read_text(encoding="utf-8")
            tree = ast.parse(text, filename=shown)
        except SyntaxError as exc:
            return FileResult(shown, problems=[Problem(
                shown, f"syntax error at line {exc.lineno}: {exc.msg}; fix it before linting")])
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            return FileResult(shown, problems=[Problem(shown, f"cannot read the file: {exc}")])
        result = FileResult(shown)
        if _may_define_models(tree):
            result = self._check_models(target, shown)
        result.findings.extend(self._source_findings(target.path, tree))
        result.findings.sort(key=lambda f: f.sort_key())
        return result

    def _source_findings(self, path: Path, tree: ast.Module):
        from gradlint.rules.gl501_optimizer_without_clipping import (
            SourceContext, builds_vanilla_rnn, find_clipping, local_imports)

        rules = [r for r in self.settings.rules() if r.scope == "source"]
        if not rules:
            return []
        root = project_root(path)
        if root not in self._clipping:
            self._clipping[root] = find_clipping(root)
        recurrent = builds_vanilla_rnn(tree) or any(
            builds_vanilla_rnn(ast.parse(p.read_text(encoding="utf-8", errors="replace")))
            for p in local_imports(tree, path.resolve(), root) if _parses(p))
        ctx = SourceContext(path.resolve(), tree, root, self._clipping[root], recurrent)
        return [f for rule in rules for f in rule.check_source(ctx)]

    def _check_models(self, target: Target, shown: str) -> FileResult:
        request = json.dumps({
            "path": str(target.path.resolve()) if target.path else None, "module": target.module,
            "selector": target.selector, "settings": self.settings.to_dict(),
        })
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        process = subprocess.Popen(
            [sys.executable, "-m", "gradlint.worker"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
        try:
            out, err = process.communicate(request.encode(), timeout=self.file_timeout)
        except subprocess.TimeoutExpired:
            _kill(process)
            return FileResult(shown, problems=[Problem(
                shown, f"timed out after {self.file_timeout:g} s (importing or checking the file "
                       "never finished); raise --timeout, or guard slow code with "
                       "`if __name__ == \"__main__\":`")])
        if process.returncode == 0:
            try:
                return FileResult.from_dict(json.loads(out))
            except (ValueError, KeyError, TypeError):
                pass
        return FileResult(shown, problems=[Problem(shown, _crash_reason(process.returncode, err))])


def _crash_reason(returncode: int, stderr: bytes) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        what = f"the worker process was killed by {name}"
    else:
        what = f"the worker process exited with status {returncode}"
    lines = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    last = f" (last output: {lines[-1].strip()[:200]})" if lines else ""
    return f"{what} while importing or checking the file{last}; run the file alone to debug it"


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()
    process.communicate()


def _may_define_models(tree: ast.Module) -> bool:
    """Cheap test from the source: a class with a base, or the gradlint_models() hook."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "gradlint_models":
            return True
        if isinstance(node, ast.ClassDef):
            bases = {b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "") for b in node.bases}
            if bases - _NOT_MODEL_BASES:
                return True
    return False


def _parses(path: Path) -> bool:
    try:
        ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        return True
    except (SyntaxError, ValueError, OSError):
        return False
