"""Import a model file and find its models.

A file is imported under a private module name, so its ``if __name__ == "__main__":`` block never
runs. Its models are:

* every ``nn.Module`` subclass defined in the file whose constructor needs no arguments, except
  classes that only appear as parts of another such model (a ``Block`` inside a ``Net``);
* whatever the file's ``gradlint_models()`` hook returns: a dict mapping a name to a model, or to
  ``(model, example_inputs)`` where the inputs are a tensor, a tuple of positional arguments or a
  dict of keyword arguments.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.util
import inspect
import itertools
import linecache
import re
import sys
import textwrap
import types
from pathlib import Path
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from gradlint.core.findings import display_path
from gradlint.core.frames import describe_exception
from gradlint.core.training import OptimizerSetup
from gradlint.source.notebook import NotebookError, source_text
from gradlint.source.notebook import read as read_notebook

HOOK = "gradlint_models"
_counter = itertools.count()
_notebook_counter = itertools.count()


class Detail(str):
    """A note of ``find_models`` about the model ``model``, shown with --verbose only (a class
    checked as another's part)."""

    model: str

    def __new__(cls, text: str, model: str) -> Detail:
        note = super().__new__(cls, text)
        note.model = model
        return note


class LoadError(Exception):
    """The file or one of its models could not be loaded; the message is one line for the user."""


@dataclasses.dataclass
class ModelSpec:
    name: str
    model: nn.Module | None
    inputs: dict[str, Any] | None          # bound to forward's parameters; None: infer them
    line: int                              # where the model is defined, for findings with no node
    error: str | None = None               # why this model could not be built
    built_from: str | None = None   # how gradlint built it, shown to the user
    placeholders: tuple[str, ...] = ()
    inputs_from: str | None = None         # where the example inputs came from, when not inferred
    too_large: str | None = None           # why it was left on the meta device (not built for real)
    from_arguments: bool = False           # built with constructor arguments gradlint worked out
    training: OptimizerSetup | None = None  # how it is trained, when observed (gradlint run, callbacks)


def import_file(path: Path) -> Any:
    """Import ``path`` under a private name, as a submodule of its package when it is in one."""
    module, loader = _new_module(path)
    loader.exec_module(module)
    return module


def import_notebook(path: Path) -> tuple[Any, BaseException | None]:
    """Run the notebook's code cells in order as one module (like ``import_script``): the module
    comes back as far as the cells got, with the exception that ended them (None when every cell
    ran). Code objects carry the notebook's path and virtual line numbers, and ``linecache``
    holds the virtual source, so tracebacks, ``inspect`` and the trace's source locations all
    point into the notebook."""
    path = Path(path).resolve()
    try:
        notebook = read_notebook(path)
    except NotebookError as exc:
        raise LoadError(f"cannot read {path.name}: {exc}") from None
    filename = str(path)
    lines = notebook.source.splitlines(keepends=True)
    linecache.cache[filename] = (len(notebook.source), None, lines, filename)  # mtime None: kept
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))  # a notebook imports the modules beside it
    stem = re.sub(r"\W", "_", path.stem)
    name = f"__gradlint_{stem}_{next(_notebook_counter)}"
    module = types.ModuleType(name)
    module.__file__ = filename
    sys.modules[name] = module
    try:
        code = compile(notebook.source, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        cell, line = notebook.cell_of(exc.lineno or 1)
        raise LoadError(f"syntax error in cell {cell} at line {line}: {exc.msg}; fix it before linting") from None
    try:
        exec(code, module.__dict__)  # noqa: S102 - running the user's notebook is the point
    except BaseException as exc:  # noqa: BLE001 - a cell may fail, exit or be stopped anywhere
        run_definitions(module, notebook.source, filename, exc)
        return module, exc
    return module, None


def import_script(path: Path) -> tuple[Any, BaseException | None]:
    """Like :func:`import_file`, but running the file may end early: the module comes back as far
    as the file got, with the exception that ended it (None when the file ran to its end)."""
    module, loader = _new_module(path)
    try:
        loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001 - a script may fail, exit or be stopped anywhere
        run_definitions(module, path.read_text(encoding="utf-8", errors="replace"), str(path.resolve()), exc)
        return module, exc
    return module, None


def run_definitions(module: Any, source: str, filename: str, ended: BaseException) -> list[str]:
    """A file whose top level failed before it defined its classes (it loads a data file that is
    not here, imports a dataset package that is not installed): run the *definitions* that come
    after the failing line — imports, classes, functions and constants (a literal assigned to a
    name), each on its own, in the file's order — so its model classes exist and can be built.
    Its other statements never run. Nothing is done for a file stopped on purpose (training
    started, Ctrl-C). Returns the names it defined."""
    from gradlint.guard.intercept import TrainingStarted

    if isinstance(ended, (TrainingStarted, KeyboardInterrupt)):
        return []
    failed_at = failing_line(ended, filename)
    try:
        tree = ast.parse(source, filename=filename)
    except (SyntaxError, ValueError):
        return []
    defined: list[str] = []
    for statement in tree.body:
        if statement.lineno <= failed_at and failed_at:
            continue
        names = _defines(statement)
        if names is None or (names and all(n in vars(module) for n in names)):
            continue
        code = compile(ast.Module(body=[statement], type_ignores=[]), filename, "exec", dont_inherit=True)
        try:
            exec(code, module.__dict__)  # noqa: S102 - the user's own definitions
        except BaseException as exc:  # noqa: BLE001 - a definition that needs what did not run
            if isinstance(exc, (KeyboardInterrupt, TrainingStarted)):
                raise
            continue
        defined.extend(names)
    if defined:
        try:   # said in the file's note (engine._script_stopped)
            ended.gradlint_definitions = defined  # type: ignore[attr-defined]
        except (AttributeError, TypeError):
            pass
    return defined


def _defines(statement: ast.stmt) -> list[str] | None:
    """The names a definition statement binds, or None for a statement that is no definition."""
    if isinstance(statement, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
        return [statement.name]
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).split(".")[0] for a in statement.names if a.name != "*"]
    if isinstance(statement, (ast.Assign, ast.AnnAssign)) and statement.value is not None:
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        if all(isinstance(t, ast.Name) for t in targets):
            try:
                ast.literal_eval(statement.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                return None
            return [t.id for t in targets]
    return None


def failing_line(ended: BaseException, filename: str) -> int:
    """The line of ``filename``'s top level where ``ended`` was raised (0 when not known)."""
    line = 0
    tb = ended.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename and tb.tb_frame.f_code.co_name == "<module>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _new_module(path: Path) -> tuple[Any, Any]:
    path = path.resolve()
    package, basedir = _package_of(path)
    if str(basedir) not in sys.path:
        sys.path.insert(0, str(basedir))
    private = f"__gradlint_{path.stem}_{next(_counter)}"
    name = f"{package}.{private}" if package else private
    if package:
        importlib.import_module(package)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LoadError(f"cannot import {path.name}: not a Python source file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    return module, spec.loader


def _package_of(path: Path) -> tuple[str, Path]:
    """The dotted package holding ``path`` and the directory to put on sys.path (as pytest does)."""
    parts: list[str] = []
    directory = path.parent
    while (directory / "__init__.py").exists() and directory.parent != directory:
        parts.insert(0, directory.name)
        directory = directory.parent
    return ".".join(parts), directory


def find_models(module: Any, path: Path, seed: int, *, batch_size: int = 8, seq_len: int = 32,
                init: dict[str, dict[str, Any]] | None = None) -> tuple[list[ModelSpec], list[str]]:
    """The file's models, and notes about the ones that were skipped.

    In this order, each model once: what ``gradlint_models()`` returns; module-level ``nn.Module``
    instances with parameters (``model = nn.Sequential(...)``, ``net = Net(256)``); module-level
    functions that return a model and need no arguments (annotated ``-> nn.Module``, or visibly
    returning a model class's instance), called; classes defined in the file, built — with no
    arguments, or, when the constructor needs some, the way the project builds the class
    (``construct_with_arguments``; ``init`` maps a class name to the arguments given with
    ``--init``).

    The same model is never linted twice: one object bound to two names is one model; a class
    with an instance or a factory result in the file is linted as that instance (the sizes the
    file really uses), not built again with its defaults; a factory whose model has exactly the
    class and parameter shapes of one found before is that model (``model = build()``); and a
    model that is a part of another one (a ``Block`` inside a ``Net``, an ``encoder`` passed to a
    ``Seq2Seq``) is linted inside it only.

    Discovery reads the module's namespace as a plain dict and looks only at objects whose *type*
    says what they are (classes, functions, nn.Module instances): it never calls an attribute of
    a user's object, so a module-level ``torch.fx.Proxy`` or any object whose ``__getattr__``
    answers everything is passed over, not asked questions.
    """
    namespace = dict(vars(module))
    shown = display_path(str(path))
    specs: list[ModelSpec] = []
    notes: list[str] = []
    if callable(namespace.get(HOOK)):  # callable() looks at the type only
        specs.extend(_from_hook(module, seed))
    hooked_types = {type(s.model) for s in specs if s.model is not None}
    assigned = assignment_lines(path)

    instances: list[ModelSpec] = []
    seen = {id(s.model) for s in specs if s.model is not None}
    for name, obj in sorted(((n, o) for n, o in namespace.items() if _is_model_instance(o)),
                            key=lambda item: assigned.get(item[0], 0)):
        if id(obj) in seen or type(obj) in hooked_types:
            continue
        seen.add(id(obj))
        line = assigned.get(name, 1)
        instances.append(ModelSpec(name, obj, None, line,
                                   built_from=f"the module-level `{name}` ({shown}:{line}), as the file built it"))

    made: list[ModelSpec] = []
    functions = [(n, f) for n, f in namespace.items() if type(f) is types.FunctionType
                 and n != HOOK and f.__module__ == module.__name__ and _returns_model(f, namespace)]
    for name, func in sorted(functions, key=lambda item: _line_of(item[1])):
        missing = _required_arguments(func)
        if missing:
            notes.append(f"skipped `{name}()`: it returns a model but needs arguments "
                         f"({', '.join(missing)}); return its model from {HOOK}() to lint it")
            continue
        spec, note = _call_factory(name, func, seed, shown)
        if note:
            notes.append(note)
        if spec is None:
            continue
        if spec.model is not None:
            known_shapes = {_shape_key(s.model) for s in [*instances, *made] if s.model is not None}
            if id(spec.model) in seen or type(spec.model) in hooked_types or _shape_key(spec.model) in known_shapes:
                continue  # the same model as one found before (`model = build()`, or the hook's)
            seen.add(id(spec.model))
        made.append(spec)

    built_types = {type(s.model) for s in [*instances, *made] if s.model is not None}
    candidates: list[ModelSpec] = []
    needs_args: list[tuple[str, list[str]]] = []
    classes = [(name, obj) for name, obj in namespace.items() if _is_model_class(obj, module.__name__)]
    for name, cls in sorted(classes, key=lambda item: _line_of(item[1])):
        if inspect.isabstract(cls) or cls in hooked_types or cls.forward is nn.Module.forward:
            continue  # abstract, declared through the hook, or a base class with no forward()
        if cls in built_types:
            continue  # the file's own instance of it is linted instead
        missing = _required_parameters(cls)
        if missing or name in (init or {}):
            needs_args.append((name, missing))
            continue
        spec = construct_sized(name, lambda cls=cls, name=name: _construct(name, cls, seed), seed,
                               batch_size, seq_len)
        if spec.built_from is None:
            spec.built_from = f"{name}() (its constructor needs no arguments)"
        candidates.append(spec)

    everything = [s.model for s in [*specs, *instances, *made, *candidates] if s.model is not None]
    part_ids = {id(sub) for model in everything for sub in list(model.modules())[1:]}
    parts = {type(sub) for model in everything for sub in list(model.modules())[1:]
             if type(sub).__module__ == module.__name__}
    found = [s for s in instances if id(s.model) not in part_ids]
    found += [s for s in made if s.model is None or (id(s.model) not in part_ids and type(s.model) not in parts)]
    classes_seen = [namespace[n] for n, _ in needs_args] + [type(c.model) for c in candidates if c.model is not None]
    built, built_notes = _build_needing_arguments(namespace, needs_args, classes_seen, parts, seed, init or {},
                                                  batch_size, seq_len)
    notes.extend(built_notes)
    found += [c for c in [*candidates, *built]
              if c.model is None or type(c.model) not in parts or c.name in (init or {})]
    specs.extend(sorted(found, key=lambda s: s.line))
    return specs, notes


def _call_factory(name: str, func: Any, seed: int, shown: str) -> tuple[ModelSpec | None, str | None]:
    """Call a module-level function that returns a model (inside the file's interception)."""
    from gradlint.guard.intercept import TrainingStarted

    line = _line_of(func)
    torch.manual_seed(seed)
    try:
        model = func()
    except TrainingStarted as stop:
        return None, (f"skipped `{name}()`: calling it started training ({stop.what} at {stop.where}), "
                      f"so gradlint stopped it; return its model from {HOOK}() to lint it")
    except Exception as exc:  # noqa: BLE001 - user code may raise anything
        return ModelSpec(name, None, None, line, f"`{name}()` raised {describe_exception(exc)}"), None
    if not isinstance(model, nn.Module):
        return None, (f"skipped `{name}()`: it returned a {type(model).__name__}, not an nn.Module; "
                      f"return its model from {HOOK}() to lint it")
    return ModelSpec(name, model, None, line, built_from=f"{name}() ({shown}:{line})"), None


def _required_arguments(func: types.FunctionType) -> list[str]:
    parameters = inspect.signature(func).parameters.values()
    return [p.name for p in parameters if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _is_model_instance(obj: Any) -> bool:
    """An nn.Module object with parameters (a loss or an activation at module level is no model)."""
    if not issubclass(type(obj), nn.Module):
        return False
    try:
        return any(True for _ in nn.Module.parameters(obj))
    except Exception:  # noqa: BLE001 - a half-built module
        return False


def _shape_key(model: nn.Module) -> tuple:
    return type(model), tuple((n, tuple(p.shape)) for n, p in model.named_parameters())


# Methods that return the module they are called on: `return Net().to(device)` returns a model.
_SELF_RETURNING = frozenset({"to", "cpu", "cuda", "double", "float", "half", "bfloat16", "train",
                             "eval", "requires_grad_", "apply", "type", "share_memory", "to_empty"})


def _returns_model(func: types.FunctionType, namespace: dict[str, Any]) -> bool:
    """Annotated ``-> nn.Module`` (or a subclass), or a ``return`` of a model class's instance:
    read from the source, without calling the function."""
    annotation = func.__annotations__.get("return")
    if isinstance(annotation, str):
        annotation = _resolve_dotted(annotation, namespace)
    if _is_class(annotation) and issubclass(annotation, nn.Module):
        return True
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError):
        return False
    built: set[str] = set()
    for _ in range(3):  # `model = Net(); model = model.to(device)`: follow assignments a few steps
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and _builds_model(node.value, namespace, built):
                built.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return any(isinstance(node, ast.Return) and node.value is not None
               and _builds_model(node.value, namespace, built) for node in ast.walk(tree))


def _builds_model(expr: ast.expr, namespace: dict[str, Any], built: set[str]) -> bool:
    if isinstance(expr, ast.Name):
        return expr.id in built
    if not isinstance(expr, ast.Call):
        return False
    func = expr.func
    if isinstance(func, ast.Attribute) and func.attr in _SELF_RETURNING and _builds_model(func.value, namespace, built):
        return True
    target = _resolve(func, namespace)
    return _is_class(target) and issubclass(target, nn.Module)


def _resolve(expr: ast.expr, namespace: dict[str, Any]) -> Any:
    """What a dotted name in the module refers to, read with getattr_static on modules and classes."""
    if isinstance(expr, ast.Name):
        return namespace.get(expr.id)
    if isinstance(expr, ast.Attribute):
        base = _resolve(expr.value, namespace)
        if isinstance(base, types.ModuleType) or _is_class(base):
            return inspect.getattr_static(base, expr.attr, None)
    return None


def _resolve_dotted(text: str, namespace: dict[str, Any]) -> Any:
    try:
        expr = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    return _resolve(expr, namespace)


def assignment_lines(path: Path) -> dict[str, int]:
    """Name -> line of its first assignment in the file's top level (inside if/with/for/try too)."""
    try:
        tree = ast.parse(source_text(path))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError, NotebookError):
        return {}
    lines: dict[str, int] = {}

    def visit(body: list[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for target in targets:
                    for node in ast.walk(target):
                        if isinstance(node, ast.Name):
                            lines.setdefault(node.id, stmt.lineno)
            elif not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                for field in ("body", "orelse", "finalbody"):
                    visit(getattr(stmt, field, []))
                for handler in getattr(stmt, "handlers", []):
                    visit(handler.body)

    visit(tree.body)
    return lines


def _is_class(obj: Any) -> bool:
    """``inspect.isclass`` without asking the object: only its type is looked at."""
    return issubclass(type(obj), type)


def _is_model_class(obj: Any, module_name: str) -> bool:
    return (_is_class(obj) and issubclass(obj, nn.Module)
            and type.__getattribute__(obj, "__module__") == module_name)


def specs_from_factory(name: str, factory: Any, seed: int, init: dict[str, Any] | None = None) -> list[ModelSpec]:
    """Models from a class (built as ``construct_with_arguments`` says when its constructor needs
    arguments or ``init`` gives them) or a callable returning a model, ``(model, example_inputs)``
    or a dict of them."""
    if inspect.isclass(factory) and issubclass(factory, nn.Module):
        missing = _required_parameters(factory)
        if missing or init is not None:
            spec = construct_sized(name, lambda: construct_with_arguments(name, factory, seed, init), seed)
            if not isinstance(spec, ModelSpec):
                raise LoadError(spec or f"`{name}` is built inside another model; point gradlint at that one")
            return [spec]
        return [construct_sized(name, lambda: _construct(name, factory, seed), seed)]
    if not callable(factory):
        raise LoadError(f"`{name}` is a {type(factory).__name__}, not a model class or a callable")
    if init is not None:
        raise LoadError(f"--init gives constructor arguments to a model class; `{name}` is a function")
    torch.manual_seed(seed)
    try:
        built = factory()
    except Exception as exc:  # noqa: BLE001
        raise LoadError(f"`{name}()` raised {describe_exception(exc)}") from None
    declared = built if isinstance(built, dict) else {name: built}
    return _declared_specs(declared, f"{name}()", _line_of(factory))


def construct_sized(name: str, build: Callable[[], Any], seed: int, batch_size: int = 8,
                    seq_len: int = 32) -> Any:
    """``build()`` (a model class's construction, giving a ModelSpec, or a note when it could not
    be built), first on the meta device: built for real only when the probe fits the memory this
    worker may use, else left on meta (structure rules only)."""
    from gradlint.core import limits
    from gradlint.models import sizing

    meta = sizing.build_on_meta(build)
    if not isinstance(meta, ModelSpec) or meta.model is None or not sizing.on_meta(meta.model):
        return build()  # a constructor that needs real tensors: the limits guard it
    size = sizing.measure(meta.model, batch_size, seq_len, seed)
    why = sizing.too_large_to_build(size, limits.budget())
    if why is None:
        del meta
        return build()
    meta.too_large = why
    meta.built_from = f"{meta.built_from or f'{name}()'}, on the meta device only ({why})"
    return meta


def _construct(name: str, cls: type, seed: int) -> ModelSpec:
    line = _line_of(cls)
    torch.manual_seed(seed)
    try:
        model = cls()
    except Exception as exc:  # noqa: BLE001 - user code may raise anything
        return ModelSpec(name, None, None, line, f"constructor raised {describe_exception(exc)}")
    return ModelSpec(name, model, None, line)


def _build_needing_arguments(namespace: dict[str, Any], needs_args: list[tuple[str, list[str]]],
                             classes: list[type], parts: set[type], seed: int,
                             init: dict[str, dict[str, Any]], batch_size: int, seq_len: int
                             ) -> tuple[list[ModelSpec], list[str]]:
    """Build the classes whose constructor needs arguments, and the notes for those not built.
    A model is defined after its parts, so the last class is built first; a class that turns out
    to be a part of a model already built (``parts``, updated here), or a base class of another
    model class, is checked through that model."""
    built: list[ModelSpec] = []
    notes: list[str] = []
    for name, _ in reversed(needs_args):
        cls = namespace[name]
        subclassed = any(other is not cls and issubclass(other, cls) for other in classes)
        if name not in init and (cls in parts or subclassed):
            continue
        spec = construct_sized(name, lambda cls=cls, name=name: construct_with_arguments(
            name, cls, seed, init.get(name)), seed, batch_size, seq_len)
        if isinstance(spec, str):
            notes.append(spec)
        elif spec is not None:
            built.append(spec)
            if spec.model is not None:
                parts.update(type(sub) for sub in list(spec.model.modules())[1:])
    return built, notes


def construct_with_arguments(name: str, cls: type, seed: int, init: dict[str, Any] | None = None
                             ) -> ModelSpec | str | None:
    """Build a class whose constructor needs arguments (or is given ``init``) the way its project
    builds it (gradlint.models.construct). A class that could not be built gives the one-line note saying
    why and what to do; one only ever built inside another model class gives a ``Detail`` note
    saying which one it is checked in."""
    from gradlint.models.construct import build_with_arguments, shown_path

    line = _line_of(cls)
    built = build_with_arguments(name, cls, seed, shown_path(cls), init)
    if built.part_of is not None:
        return Detail(built.note, name)
    if built.model is None:
        # a model that could not be built was not checked: an error of its own (exit 2), never
        # a note under "0 models found"
        return ModelSpec(name, None, None, line, built.error or built.note.removeprefix(f"skipped `{name}`: "))
    return ModelSpec(name, built.model, None, line, built_from=built.built_from, placeholders=built.placeholders,
                     from_arguments=True)


def _from_hook(module: Any, seed: int) -> list[ModelSpec]:
    hook = inspect.getattr_static(module, HOOK)
    line = _line_of(hook)
    torch.manual_seed(seed)
    try:
        declared = hook()
    except Exception as exc:  # noqa: BLE001
        raise LoadError(f"{HOOK}() raised {describe_exception(exc)}") from None
    if not isinstance(declared, dict):
        raise LoadError(f"{HOOK}() must return a dict of name -> model or (model, inputs), "
                        f"got {type(declared).__name__}")
    return _declared_specs(declared, f"{HOOK}()", line)


def _declared_specs(declared: dict, origin: str, line: int) -> list[ModelSpec]:
    specs = []
    for name, entry in declared.items():
        model, inputs = entry if isinstance(entry, tuple) and len(entry) == 2 else (entry, None)
        if not isinstance(model, nn.Module):
            specs.append(ModelSpec(str(name), None, None, line,
                                   f"{origin} gave a {type(model).__name__}, not an nn.Module"))
            continue
        try:
            bound = bind_inputs(model, inputs) if inputs is not None else None
        except TypeError as exc:
            specs.append(ModelSpec(str(name), None, None, line,
                                   f"example inputs from {origin} do not fit forward(): {exc}"))
            continue
        specs.append(ModelSpec(str(name), model, bound, _line_of(type(model))))
    return specs


def bind_inputs(model: nn.Module, inputs: Any) -> dict[str, Any]:
    """Map example inputs onto forward's parameter names (omitted ones keep their defaults)."""
    if isinstance(inputs, dict):
        args, kwargs = (), inputs
    elif isinstance(inputs, (tuple, list)):
        args, kwargs = tuple(inputs), {}
    else:
        args, kwargs = (inputs,), {}
    return bind_call(model, args, kwargs)


def bind_call(model: nn.Module, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Map a call's positional and keyword arguments onto forward's parameter names."""
    signature = inspect.signature(model.forward)
    bound = signature.bind(*args, **kwargs)
    flat: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        kind = signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            flat.update(value)
        elif kind is inspect.Parameter.VAR_POSITIONAL:
            if value:
                raise TypeError("inputs for forward(*args) must be given by name (as a dict)")
        else:
            flat[name] = value
    return flat


def _required_parameters(cls: type) -> list[str]:
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return []
    return [
        p.name for p in signature.parameters.values()
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]


def _line_of(obj: Any) -> int:
    """The line defining a class or a function; 1 for anything else (never unwrapped or asked)."""
    if not (_is_class(obj) or isinstance(obj, (types.FunctionType, types.MethodType))):
        return 1
    try:
        return inspect.getsourcelines(obj)[1]
    except (TypeError, OSError):
        return 1
