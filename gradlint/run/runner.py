"""Lint paths: expand them to files, run the source rules here and the model rules in a worker
process per file, and collect the results in a stable order.

This module never imports torch: files that define no model cost a parse, nothing more.
"""

from __future__ import annotations

import ast
import concurrent.futures
import dataclasses
import errno
import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from gradlint.check.enabled import enabled_rules
from gradlint.check.rule import SourceContext
from gradlint.check.suppressed import apply_suppressions
from gradlint.core.findings import (
    FAILED,
    FileResult,
    Finding,
    ModelStatus,
    Note,
    Problem,
    Report,
    display_path,
)
from gradlint.core.limits import apply_memory_limit, timed_out_why, worker_memory_limit, worker_timeout
from gradlint.core.settings import Settings
from gradlint.guard import processes, progress, sandbox
from gradlint.run import forkserver
from gradlint.run.cache import Cache
from gradlint.run.config import (
    ConfigError,
    FileConfig,
    Overrides,
    fail_level,
    find_config,
    load_config,
    settings_for,
)
from gradlint.source.notebook import NotebookError, is_notebook, locate_cells, source_text
from gradlint.source.project import defines_model_classes, local_imports, parse, parse_source, project_root, statements
from gradlint.source.project_facts import ProjectFacts, builds_vanilla_rnn, compute_facts


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


MODULE_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def expand(paths: list[str]) -> tuple[list[Target], list[Problem]]:
    """Files and directories (recursing into *.py and *.ipynb); ``file.py::Name`` selects one model;
    ``package.module:factory`` names a class or a callable to import (see engine). Returns the
    targets, the problems (exit 2) and the notes of files skipped in a directory (a FIFO)."""
    targets: list[Target] = []
    problems: list[Problem] = []
    skipped: list[Note] = []
    for raw in paths:
        text, _, selector = raw.partition("::")
        path = Path(text)
        if not path.exists() and MODULE_TARGET.match(raw):
            module, _, attribute = raw.partition(":")
            targets.append(Target(None, attribute, module))
        elif path.is_dir():
            for directory, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS)
                for name in sorted(f for f in filenames if f.endswith((".py", ".ipynb"))):
                    found = Path(directory, name)
                    odd = not_regular(found)
                    if odd is None:
                        targets.append(Target(found))
                    elif odd.startswith("not a regular file"):   # skipped, and said
                        skipped.append(Note(display_path(str(found)), f"skipped: {odd}"))
                    else:
                        problems.append(Problem(display_path(str(found)), odd))
        elif os.path.lexists(path) and not_regular(path) is not None:
            problems.append(Problem(display_path(str(path)), not_regular(path)))
        elif path.is_file():
            if path.suffix not in (".py", ".ipynb"):
                problems.append(Problem(display_path(str(path)),
                                        "not a Python file or notebook; pass .py or .ipynb files or directories"))
            else:
                targets.append(Target(path, selector or None))
        else:
            problems.append(Problem(text, "no such file or directory"))
    unique = list(dict.fromkeys(targets))
    return unique, problems, skipped


def not_regular(path: Path) -> str | None:
    """Why ``path`` is not a file to read (a FIFO would block the read forever), or None."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link that loops (it points at itself); remove it or exclude it"
        return f"cannot read the file: {exc.strerror}"
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    kind = "FIFO" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else "device file"
    return f"not a regular file (a {kind}); gradlint reads only regular .py and .ipynb files"


def lint(paths: list[str], overrides: Overrides | None = None, *, config: Path | None = None,
         isolated: bool = False, jobs: int | None = None, baseline: Path | None = None,
         update_baseline: bool = False, cache: bool = False, init: dict | None = None) -> Report:
    """Lint ``paths`` as the CLI does. Raises ConfigError for a bad configuration. ``init``: the
    constructor arguments (``--init``) for the models that ``PATH::Class`` targets select."""
    overrides = overrides or Overrides()
    configs = _Configs(config, isolated)
    targets, problems, skipped = expand(paths)
    for target in targets:  # every configuration is read and validated before any file runs
        configs.for_path(target.path)
    results: list[FileResult] = [FileResult(p.path, problems=[p]) for p in problems]
    results += [FileResult(n.path, notes=[n]) for n in skipped]
    workers = max(1, min(jobs or os.cpu_count() or 1, len(targets) or 1))
    checker = _FileChecker(configs, overrides, workers, Cache(enabled=cache), init, queued=len(targets))
    processes.resume()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
    try:
        results.extend(pool.map(checker.check, targets))
    except BaseException:
        # KeyboardInterrupt in the API (the CLI stops on its own signal handlers): kill the
        # workers, so the threads waiting on them return, and do not wait for the rest
        processes.stop_all()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        checker.close()
    pool.shutdown()
    # the same files give the same output whatever order they were named in
    results.sort(key=lambda r: r.path)
    report = Report(results, fail_level(configs.for_path(None), overrides))
    report.suppressed = apply_suppressions(results, {t.path.resolve() for t in targets if t.path},
                                            checker.settings_for)
    if update_baseline and baseline is not None:
        write_baseline(baseline, report.findings)
    if baseline is not None:
        report.baselined = _apply_baseline(results, read_baseline(baseline))
    locate_cells(results)
    return report


class _Configs:
    """Configuration files found from each linted path upwards, read once each."""

    def __init__(self, explicit: Path | None, isolated: bool) -> None:
        self.explicit = load_config(explicit, explicit=True) if explicit else None
        self.isolated = isolated
        self._loaded: dict[Path | None, FileConfig] = {}

    def for_path(self, path: Path | None) -> FileConfig:
        if self.isolated:
            return FileConfig(None, {})
        if self.explicit is not None:
            return self.explicit
        found = find_config(path if path is not None else Path.cwd())
        if found not in self._loaded:
            self._loaded[found] = load_config(found)
        return self._loaded[found]


def write_baseline(path: Path, findings: list[Finding]) -> None:
    entries = [{"fingerprint": f.fingerprint, "code": f.code, "path": f.location.path,
                "model": f.model, "node": f.node, "message": f.message} for f in findings]
    path.write_text(json.dumps({"version": 1, "findings": entries}, indent=2, sort_keys=True) + "\n")


def read_baseline(path: Path) -> Counter:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Counter(entry["fingerprint"] for entry in data["findings"])
    except FileNotFoundError:
        raise ConfigError(f"{path}: baseline file not found; create it with --update-baseline") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a gradlint baseline ({exc}); recreate it with --update-baseline") from None


def _apply_baseline(results: list[FileResult], known: Counter) -> int:
    hidden = 0
    remaining = Counter(known)
    for result in results:
        kept = []
        for finding in result.findings:
            if remaining[finding.fingerprint] > 0:
                remaining[finding.fingerprint] -= 1
                hidden += 1
            else:
                kept.append(finding)
        result.findings = kept
    return hidden


class _FileChecker:
    def __init__(self, configs: _Configs, overrides: Overrides, jobs: int = 1, cache: Cache | None = None,
                 init: dict | None = None, queued: int = 0) -> None:
        self.init = init
        self._queued = queued   # files not started yet: worth the fork server's warm-up?
        self.configs = configs
        self.overrides = overrides
        self.jobs = jobs
        self.cache = cache or Cache(enabled=False)
        self._lock = threading.Lock()
        self._facts: dict[Path, ProjectFacts] = {}
        self._server_lock = threading.Lock()   # held while the server starts
        self._server: forkserver.ForkServer | None = None
        self._server_tried = False
        self._server_scratch: str | None = None
        self._closed = False

    def close(self) -> None:
        """Stop the fork server, if this run started one. Does not wait for one being started
        (Ctrl-C in the API): its thread stops it when it is up."""
        self._closed = True
        server, self._server = self._server, None
        if server is not None:
            server.close()
        sandbox.remove_scratch(self._server_scratch)

    def memory_limit(self, settings: Settings) -> int | None:
        """Bytes of address space each of this run's workers may use (gradlint.core.limits)."""
        return worker_memory_limit(settings, self.jobs)

    def settings_for(self, path: Path | None) -> Settings:
        return settings_for(path, self.configs.for_path(path), self.overrides)

    def check(self, target: Target) -> FileResult:
        with self._lock:
            self._queued -= 1
        shown = target.shown
        settings = self.settings_for(target.path)
        if target.module is not None:
            return self._check_models(target, shown, settings)
        try:
            text = source_text(target.path)
            tree = parse_source(text, filename=shown)   # the file's one parse (no GC passes)
        except SyntaxError as exc:
            return FileResult(shown, problems=[Problem(
                shown, f"syntax error at {_line_shown(target.path, exc.lineno)}: {exc.msg}; fix it before linting")])
        except (OSError, UnicodeDecodeError, ValueError, NotebookError) as exc:
            return FileResult(shown, problems=[Problem(shown, f"cannot read the file: {exc}")])
        result = FileResult(shown)
        if _may_define_models(tree):
            facts = self._project_facts(target.path)
            result = self._check_models(target, shown, dataclasses.replace(
                settings, clipping=facts.clipping is not None, project=facts.to_dict()), tree)
        result.findings.extend(self._source_findings(target.path, tree, settings))
        result.findings.sort(key=lambda f: f.sort_key())
        return result

    def _source_findings(self, path: Path, tree: ast.Module, settings: Settings) -> list[Finding]:
        rules = [r for r in enabled_rules(settings) if r.scope == "source"]
        if not rules:
            return []
        root = project_root(path)
        facts = self._project_facts(path)
        imported = (parse(p) for p in local_imports(tree, path.resolve(), root))
        recurrent = builds_vanilla_rnn(tree) or any(t is not None and builds_vanilla_rnn(t) for t in imported)
        ctx = SourceContext(path.resolve(), tree, root, facts.clipping, recurrent, facts)
        return [f for rule in rules for f in rule.check_source(ctx)]

    def _project_facts(self, path: Path) -> ProjectFacts:
        """The facts of the project of ``path`` (clipping, recurrences, optimizers), computed
        once per project."""
        root = project_root(path)
        with self._lock:
            if root not in self._facts:
                self._facts[root] = compute_facts(root)
            return self._facts[root]

    def _check_models(self, target: Target, shown: str, settings: Settings, tree: ast.Module | None = None) -> FileResult:
        fields = {
            "path": str(target.path.resolve()) if target.path else None, "module": target.module,
            "selector": target.selector, "settings": settings.to_dict(),
        }
        if self.init is not None and target.selector:
            fields["init"] = self.init
        key = None
        if target.path is not None and tree is not None:
            key = self.cache.key(target.path, tree, {**fields, "shown": shown})
            cached = self.cache.get(target.path, key)
            if cached is not None:
                cached.notes.append(Note(shown, "result from the cache (nothing it depends on changed; "
                                                "--no-cache checks again)", detail=True))
                return cached
        # the parallel workers share the cores: each gets its part for torch's intra-op threads
        # (more threads than cores makes an eigendecomposition 20× slower, not faster)
        fields["threads"] = max(1, (os.cpu_count() or 1) // self.jobs)
        result = self._run_worker(fields, shown, settings)
        if key is not None:
            self.cache.put(target.path, key, result)
        return result

    def _run_worker(self, fields: dict, shown: str, settings: Settings) -> FileResult:
        scratch = sandbox.scratch_folder()
        request = json.dumps({**fields, "scratch": scratch})
        process = self._start_worker(self.memory_limit(settings))
        processes.register(process.pid)
        try:
            out, err = _communicate(process, request.encode(), settings, scratch)
        except subprocess.TimeoutExpired:
            processes.kill(process.pid)
            abandon(process)
            return _timed_out(shown, settings, progress.read(scratch))
        finally:
            processes.unregister(process.pid)
            sandbox.remove_scratch(scratch)
        if process.returncode == 0:
            try:
                return FileResult.from_dict(json.loads(out))
            except (ValueError, KeyError, TypeError):
                pass
        return FileResult(shown, problems=[Problem(shown, _crash_reason(process.returncode, err))])

    def _start_worker(self, limit: int | None) -> subprocess.Popen | forkserver.ForkedWorker:
        """The process for one file, in a session of its own: the group is the worker and every
        process it starts, which processes.kill stops together (a timeout, Ctrl-C, gradlint
        killed). Forked from the server that has imported torch once, or started afresh where
        that server cannot run."""
        env = {**os.environ, "PYTHONHASHSEED": "0", **processes.child_environment()}
        server = self._fork_server(env)
        if server is not None:
            try:
                return server.spawn(limit, warm_up=self._queued > 0)
            except OSError:   # the server is gone: this file and the next are started as below
                self._server = None
                server.close()
        return subprocess.Popen(
            [sys.executable, "-m", "gradlint.run.worker"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True,
            preexec_fn=(lambda: apply_memory_limit(limit)) if limit else None)

    def _fork_server(self, env: dict[str, str]) -> forkserver.ForkServer | None:
        """Started by the first file that needs a worker (a run of files without models never
        imports torch); the other threads wait for it rather than import torch themselves."""
        with self._server_lock:
            if not self._server_tried and os.environ.get("GRADLINT_NO_FORK_SERVER") != "1":
                self._server_tried = True
                # the server imports torch's compiler stack (warm-up), which makes cache folders
                # under TMPDIR: a scratch folder of its own, removed with the server
                self._server_scratch = sandbox.scratch_folder()
                own = {"TMPDIR": self._server_scratch} if self._server_scratch else {}
                self._server = forkserver.ForkServer.start({**env, **own})
                if self._closed:
                    self.close()
            return self._server


def _communicate(process: subprocess.Popen | forkserver.ForkedWorker, request: bytes, settings: Settings,
                 scratch: str | None) -> tuple[bytes, bytes]:
    """The worker's output. The time limit is per stage, not per file (gradlint.core.limits): each time
    the worker reports a new stage (building its models, then each model: gradlint.guard.progress), its
    clock starts again, so a file of five slow models gets each its own time. Raises
    TimeoutExpired when one stage outlives its limit."""
    timeout = worker_timeout(settings)
    if timeout is None:
        return process.communicate(request)
    last = progress.stamp(scratch)
    deadline = time.monotonic() + timeout
    given: bytes | None = request
    while True:
        try:
            return process.communicate(given, timeout=max(0.05, min(deadline - time.monotonic(), 1.0)))
        except subprocess.TimeoutExpired:
            given = None   # written once; the next calls go on reading
            now = progress.stamp(scratch)
            if now != last:
                reached = progress.read(scratch)
                model_stage = reached is not None and reached.model is not None
                last, deadline = now, time.monotonic() + worker_timeout(settings, model_stage)
            elif time.monotonic() >= deadline:
                raise


def _timed_out(shown: str, settings: Settings, reached: progress.Reached | None) -> FileResult:
    """What a killed worker leaves: the models it finished, each model it did not (the one that ran
    out of time, named with its step and seconds, and those not reached), and one problem that
    names the stage that ran out of time: the import only when the import was not done."""
    limit = settings.model_timeout
    if reached is None:
        return FileResult(shown, problems=[Problem(
            shown, f"timed out after {limit:g} s while importing the file (its top level never "
                   "finished); raise --timeout, or guard slow code with `if __name__ == \"__main__\":`")])
    result = FileResult.from_dict({**reached.result, "path": shown})
    took = time.time() - reached.started if reached.started is not None else None
    running = reached.model
    if running is None:   # after the import, before the first model: the constructors
        message = (f"timed out after {limit:g} s {reached.stage}; raise --timeout, or make the models "
                   "cheaper to build for linting")
    else:
        if running not in result.models:
            result.models.append(running)
        where = f" in {reached.step}" if reached.step else ""
        unreached = ", ".join(f"`{name}`" for name in reached.pending)
        message = (f"timed out after {limit:g} s checking model `{running}`{where}: it never returned to "
                   "gradlint's own time limit (a native call that long, or code that blocks signals), "
                   "so the file's check was stopped"
                   + (f" after {took:.0f} s" if took is not None else "")
                   + "; the models checked before it are kept"
                   + (f", and {unreached} {'was' if len(reached.pending) == 1 else 'were'} not reached"
                      if unreached else "")
                   + "; raise --timeout or make the model smaller for linting")
        if all(m.name != running for m in result.model_status):
            result.model_status.append(ModelStatus(
                name=running, status=FAILED, seconds=round(took, 3) if took is not None else None,
                why=timed_out_why(limit, reached.step, took) if took is not None
                else f"not checked: it ran past its {limit:g} s time limit{where}"))
    result.problems.append(Problem(shown, message, running))
    for name in reached.pending:   # never started: each still said, not lost
        result.models.append(name)
        result.model_status.append(ModelStatus(
            name=name, status=FAILED, why=f"not checked: not reached, the file's check was stopped when "
                                          f"{f'model `{running}`' if running else 'building its models'} "
                                          "ran out of time"))
    return result


def abandon(process: subprocess.Popen | forkserver.ForkedWorker, grace: float = 5) -> None:
    """After ``processes.kill``: collect what the killed worker wrote, but never wait past
    ``grace`` seconds on pipes a process outside our reach may still hold (the limit is a wall)."""
    try:
        process.communicate(timeout=grace)
    except subprocess.TimeoutExpired:
        if isinstance(process, subprocess.Popen):
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
            process.wait()   # killed: its pipes were what kept communicate() waiting
        else:
            process.close()


def _line_shown(path: Path, line: int | None) -> str:
    """``line 4``, or ``cell 2, line 3`` in a notebook."""
    if line is not None and is_notebook(path):
        from gradlint.source.notebook import read

        cell, within = read(path).cell_of(line)
        return f"cell {cell}, line {within}"
    return f"line {line}"


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


def _may_define_models(tree: ast.Module) -> bool:
    """Cheap test from the source: a class with a base, the gradlint_models() hook, or a file that
    imports torch and builds something at its top level or has a function returning a value
    (``model = nn.Sequential(...)``, ``def build(): return Net()``)."""
    if _imports_torch(tree) and any(
        isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Call)
        or isinstance(node, ast.FunctionDef) and _callable_without_arguments(node)
        and any(isinstance(r, ast.Return) and r.value is not None for r in ast.walk(node))
        for node in _top_level(tree.body)
    ):
        return True
    return defines_model_classes(tree)


def _imports_torch(tree: ast.Module) -> bool:
    for node in statements(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "torch" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "torch":
            return True
    return False


def _top_level(body: list[ast.stmt]):
    """Statements run when the module is imported (into if/with/for/try, not into defs)."""
    for stmt in body:
        yield stmt
        if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for field in ("body", "orelse", "finalbody"):
                yield from _top_level(getattr(stmt, field, []))
            for handler in getattr(stmt, "handlers", []):
                yield from _top_level(handler.body)


def _callable_without_arguments(function: ast.FunctionDef) -> bool:
    args = function.args
    return (len(args.posonlyargs) + len(args.args) <= len(args.defaults)
            and all(default is not None for default in args.kw_defaults))
