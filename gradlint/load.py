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

import dataclasses
import importlib
import importlib.util
import inspect
import itertools
import os
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gradlint.findings import display_path

HOOK = "gradlint_models"
_counter = itertools.count()


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


def import_file(path: Path) -> Any:
    """Import ``path`` under a private name, as a submodule of its package when it is in one."""
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
    spec.loader.exec_module(module)
    return module


def _package_of(path: Path) -> tuple[str, Path]:
    """The dotted package holding ``path`` and the directory to put on sys.path (as pytest does)."""
    parts: list[str] = []
    directory = path.parent
    while (directory / "__init__.py").exists() and directory.parent != directory:
        parts.insert(0, directory.name)
        directory = directory.parent
    return ".".join(parts), directory


def find_models(module: Any, path: Path, seed: int,
                init: dict[str, dict[str, Any]] | None = None) -> tuple[list[ModelSpec], list[str]]:
    """The file's models, and notes about classes that were skipped. A class whose constructor
    needs arguments is built the way its project builds it (``construct_with_arguments``);
    ``init`` maps a class name to the arguments given with ``--init``."""
    specs: list[ModelSpec] = []
    if callable(getattr(module, HOOK, None)):
        specs.extend(_from_hook(module, seed))
    hooked_types = {type(s.model) for s in specs if s.model is not None}

    candidates: list[ModelSpec] = []
    needs_args: list[tuple[str, list[str]]] = []
    for name, cls in sorted(vars(module).items(), key=lambda item: _line_of(item[1])):
        if not (inspect.isclass(cls) and issubclass(cls, nn.Module) and cls.__module__ == module.__name__):
            continue
        if inspect.isabstract(cls) or cls in hooked_types or cls.forward is nn.Module.forward:
            continue  # abstract, declared through the hook, or a base class with no forward()
        missing = _required_parameters(cls)
        if missing or name in (init or {}):
            needs_args.append((name, missing))
            continue
        candidates.append(_construct(name, cls, seed))

    parts = {
        type(sub)
        for spec in [*specs, *candidates] if spec.model is not None
        for sub in list(spec.model.modules())[1:]
    }
    classes = [vars(module)[name] for name, _ in needs_args] + [type(c.model) for c in candidates if c.model is not None]
    built, notes = _build_needing_arguments(module, needs_args, classes, parts, seed, init or {})
    specs.extend(sorted((c for c in [*candidates, *built]
                         if c.model is None or type(c.model) not in parts or c.name in (init or {})),
                        key=lambda spec: spec.line))
    return specs, notes


def specs_from_factory(name: str, factory: Any, seed: int, init: dict[str, Any] | None = None) -> list[ModelSpec]:
    """Models from a class (built as ``construct_with_arguments`` says when its constructor needs
    arguments or ``init`` gives them) or a callable returning a model, ``(model, example_inputs)``
    or a dict of them."""
    if inspect.isclass(factory) and issubclass(factory, nn.Module):
        missing = _required_parameters(factory)
        if missing or init is not None:
            spec = construct_with_arguments(name, factory, seed, init)
            if not isinstance(spec, ModelSpec):
                raise LoadError(spec or f"`{name}` is built inside another model; point gradlint at that one")
            return [spec]
        return [_construct(name, factory, seed)]
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


def _construct(name: str, cls: type, seed: int) -> ModelSpec:
    line = _line_of(cls)
    torch.manual_seed(seed)
    try:
        model = cls()
    except Exception as exc:  # noqa: BLE001 - user code may raise anything
        return ModelSpec(name, None, None, line, f"constructor raised {describe_exception(exc)}")
    return ModelSpec(name, model, None, line)


def _build_needing_arguments(module: Any, needs_args: list[tuple[str, list[str]]], classes: list[type],
                             parts: set[type], seed: int, init: dict[str, dict[str, Any]]
                             ) -> tuple[list[ModelSpec], list[str]]:
    """Build the classes whose constructor needs arguments, and the notes for those not built.
    A model is defined after its parts, so the last class is built first; a class that turns out
    to be a part of a model already built (``parts``, updated here), or a base class of another
    model class, is checked through that model."""
    built: list[ModelSpec] = []
    notes: list[str] = []
    for name, _ in reversed(needs_args):
        cls = vars(module)[name]
        subclassed = any(other is not cls and issubclass(other, cls) for other in classes)
        if name not in init and (cls in parts or subclassed):
            continue
        spec = construct_with_arguments(name, cls, seed, init.get(name))
        if isinstance(spec, str):
            notes.append(spec)
        elif spec is not None:  # None: only ever built inside another model class
            built.append(spec)
            if spec.model is not None:
                parts.update(type(sub) for sub in list(spec.model.modules())[1:])
    return built, notes


def construct_with_arguments(name: str, cls: type, seed: int, init: dict[str, Any] | None = None
                             ) -> ModelSpec | str | None:
    """Build a class whose constructor needs arguments (or is given ``init``) the way its project
    builds it (gradlint.construct). A class that could not be built gives the one-line note saying
    why and what to do; one only ever built inside another model class gives None."""
    from gradlint.construct import build_with_arguments, shown_path

    line = _line_of(cls)
    built = build_with_arguments(name, cls, seed, shown_path(cls), init)
    if built.part_of is not None:
        return None
    if built.model is None:
        return ModelSpec(name, None, None, line, built.error) if built.error else built.note
    return ModelSpec(name, built.model, None, line, built_from=built.built_from, placeholders=built.placeholders)


def _from_hook(module: Any, seed: int) -> list[ModelSpec]:
    hook = getattr(module, HOOK)
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
    try:
        return inspect.getsourcelines(obj)[1]
    except (TypeError, OSError):
        return 1


def describe_exception(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    where = ""
    tb = exc.__traceback__
    frame_file, frame_line = None, None
    while tb is not None:  # innermost frame in the user's own files
        filename = tb.tb_frame.f_code.co_filename
        if not filename.startswith((os.path.dirname(torch.__file__), os.path.dirname(__file__))):
            frame_file, frame_line = filename, tb.tb_lineno
        tb = tb.tb_next
    if frame_file is not None:
        where = f" at {display_path(frame_file)}:{frame_line}"
    return f"{type(exc).__name__}{where}: {text[0] if text else ''}".rstrip(": ")
