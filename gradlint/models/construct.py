"""Build a model class whose constructor needs arguments, the way its project builds it.

In order (docs/models-and-inputs.md):

1. ``--init '{"dim": 64}'`` when the user gave it;
2. the class's call sites in the project (``gradlint.source.callsites``), the trained one first (its
   result reaches an optimizer), then one in a test, then any (README code blocks last);
3. config objects: a parameter annotated with a class buildable without arguments (a dataclass
   with defaults, a Hugging Face ``PretrainedConfig`` subclass), or named like a config
   (``config``, ``cfg``, ``args``, ``model_args``, ``hparams``...) when the module defines one
   such class or the model has a ``get_default_config()`` classmethod;
4. placeholders for sizes no expression gives, chosen by the parameter's role
   (``callsites.PLACEHOLDER_ROLES``), each one named in the note.

Parameters with defaults keep them. What was used is returned as ``built_from`` (shown to the
user) with the placeholders; when nothing works, a one-line note says which parameters are
missing and how to give them.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib
import inspect
import json
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gradlint.core.findings import display_path
from gradlint.source.callsites import (
    CONFIG_FACTORIES,
    CONFIG_NAMES,
    ArgsNamespace,
    CallSite,
    ConfigValue,
    Param,
    Placeholder,
    Target,
    Unresolved,
    call_sites,
    placeholder_for,
    project_for,
    render,
)
from gradlint.source.project import project_root

MAX_ATTEMPTS = 4          # constructions tried (each runs the user's constructor)
_KINDS = {
    inspect.Parameter.POSITIONAL_ONLY: "positional", inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional",
    inspect.Parameter.KEYWORD_ONLY: "keyword", inspect.Parameter.VAR_POSITIONAL: "var_positional",
    inspect.Parameter.VAR_KEYWORD: "var_keyword",
}


@dataclasses.dataclass
class Built:
    model: nn.Module | None = None
    built_from: str | None = None
    placeholders: tuple[str, ...] = ()
    error: str | None = None       # --init was given and failed: a problem (exit 2)
    note: str | None = None        # not built: why, and what the user can do
    part_of: str | None = None     # not built on its own: it is a part of this model class


class _Unbuildable(Exception):
    """A parameter has no value: not given, not computable, no config, no placeholder."""


@dataclasses.dataclass
class _Plan:
    where: str
    positional_only: list[Any]
    kwargs: dict[str, Any]
    extra: list[Any]
    shown: list[str]
    placeholders: list[str]

    def call(self, cls: type) -> str:
        return f"{cls.__name__}({', '.join(self.shown)})"


def build_with_arguments(name: str, cls: type, seed: int, shown_path: str,
                         init: dict[str, Any] | None = None) -> Built:
    """Build ``cls`` (whose constructor needs arguments), or say why not."""
    params, annotations = _parameters(cls)
    required = [p.name for p in params if p.required]
    if init is not None:
        try:
            plan = _plan(cls, params, annotations, dict(init), [], "--init")
        except _Unbuildable as exc:
            return Built(error=f"--init gives no value for {exc} and none could be found; add it to --init")
        model, failure = _attempt(cls, plan, seed)
        if model is None:
            return Built(error=f"{plan.call(cls)} from --init raised {failure}; fix the --init values")
        return Built(model, f"{plan.call(cls)} from --init", tuple(plan.placeholders))

    source_file = _source_file(cls)
    sites: list[CallSite] = []
    if source_file is not None and not {"site-packages", "dist-packages"} & set(source_file.parts):
        sites = call_sites(project_for(project_root(source_file)), cls.__name__, params, source_file)
    outside = [s for s in sites if s.part_of != cls.__name__]  # a class may build itself (trees)
    if outside and all(s.part_of for s in outside):
        return Built(part_of=outside[0].part_of, note=(
            f"`{name}` is not checked on its own: it is built inside `{outside[0].part_of}` "
            f"({outside[0].where}) and checked as part of it"))
    plans: list[_Plan] = []
    unbuildable: list[str] = []
    by_name = {p.name: p for p in params}

    def usable(site: CallSite) -> bool:
        """It gives a value, or says what each size is computed from (`Net(len(vocab))`)."""
        return site.useful or (site.part_of is None and bool(site.values) and all(
            name in by_name and placeholder_for(by_name[name]) is not None for name in site.values))

    for site in filter(usable, sites):
        try:
            plans.append(_plan(cls, params, annotations, site.values, site.extra, site.where))
        except _Unbuildable as exc:
            unbuildable.append(f"{site.where} ({exc} unknown)")
    try:
        if plans:
            why = "the project's calls could not build it"
        elif sites:
            why = f"no value gradlint can read in the calls of `{cls.__name__}` ({sites[0].where})"
        else:
            why = f"no call of `{cls.__name__}` in the project gives its arguments"
        fallback = _plan(cls, params, annotations, {}, [], why)
    except _Unbuildable:
        fallback = None
    if fallback is not None:
        fallback.where = ("placeholders" if fallback.placeholders else "config defaults") + f" ({fallback.where})"
        plans.append(fallback)
    failures = []
    for plan in plans[:MAX_ATTEMPTS]:
        model, failure = _attempt(cls, plan, seed)
        if model is not None:
            return Built(model, f"{plan.call(cls)} from {plan.where}", tuple(plan.placeholders))
        failures.append(f"{plan.call(cls)} from {plan.where} raised {failure}")
    example = json.dumps({p: "..." for p in required})
    how = (f"give them with `gradlint {shown_path}::{name} --init '{example}'` or return an instance "
           f"from gradlint_models()")
    if failures:
        return Built(note=f"skipped `{name}`: {failures[0]}; {how}")
    tried = f"; calls found: {', '.join(unbuildable)}" if unbuildable else ""
    return Built(note=f"skipped `{name}`: its constructor needs arguments ({', '.join(required)}) that "
                      f"no call in the project gives{tried}; {how}")


def _attempt(cls: type, plan: _Plan, seed: int) -> tuple[nn.Module | None, str | None]:
    from gradlint.core.frames import describe_exception

    torch.manual_seed(seed)
    try:  # the objects a config's `_target_` names are built here, seeded, in order, as Hydra would
        model = cls(*_built(plan.positional_only), *_built(plan.extra), **_built(plan.kwargs))
    except Exception as exc:  # noqa: BLE001 - user code may raise anything
        return None, describe_exception(exc)
    return model, None


def _plan(cls: type, params: list[Param], annotations: dict[str, Any], values: dict[str, Any],
          extra: list[Any], where: str) -> _Plan:
    """Real values for every parameter, from ``values`` (evaluated or given), config defaults and
    placeholders. Raises _Unbuildable naming the parameters left without a value."""
    plan = _Plan(where, [], {}, [], [], [])
    positional_only = {p.name for p in params if p.kind == "positional"} & _positional_only_names(cls)
    missing = []
    for param in params:
        if param.kind in ("var_positional", "var_keyword"):
            continue
        if param.name in values:
            value = values[param.name]
            if isinstance(value, Unresolved) and not param.required and placeholder_for(param) is None:
                # the call passes something unknown where the constructor has a default: keep it
                plan.placeholders.append(f"{param.name}=its default (the project computes it ({value.source}))")
                plan.shown.append(f"{param.name}=<unresolved: default>")
                continue
        elif param.required:
            value = Unresolved("")
        else:
            continue  # parameters with defaults keep them
        try:
            real, shown = _materialize(value, param, annotations.get(param.name), cls, plan.placeholders)
        except _Unbuildable:
            missing.append(param.name)
            continue
        if param.name in positional_only:
            plan.positional_only.append(real)
        else:
            plan.kwargs[param.name] = real
        plan.shown.append(f"{param.name}={shown}")
    for name in values.keys() - {p.name for p in params}:  # into **kwargs
        real, shown = _materialize(values[name], Param(name, "keyword", False), None, cls, plan.placeholders)
        plan.kwargs[name] = real
        plan.shown.append(f"{name}={shown}")
    for value in extra:
        real, shown = _materialize(value, Param("*args", "var_positional", False), None, cls, plan.placeholders)
        plan.extra.append(real)
        plan.shown.append(shown)
    if missing:
        raise _Unbuildable(", ".join(missing))
    return plan


def _materialize(value: Any, param: Param, annotation: Any, cls: type, placeholders: list[str]) -> tuple[Any, str]:
    """The runtime value for a statically evaluated one, and how to show it."""
    if isinstance(value, Unresolved):
        stand_in = placeholder_for(param, value.source)
        if stand_in is not None:
            return _placeholder(stand_in, param.name, placeholders)
        config = _default_config(param, annotation, cls, placeholders)
        if config is not None:
            return _open_sizes_filled(*config, placeholders)
        raise _Unbuildable(param.name)
    if isinstance(value, Placeholder):
        return _placeholder(value, param.name, placeholders)
    if isinstance(value, ArgsNamespace):
        real = {k: v for k, v in value.defaults.items() if not isinstance(v, Unresolved)}
        return argparse.Namespace(**real), "Namespace(" + ", ".join(f"{k}={render(v)}" for k, v in real.items()) + ")"
    if isinstance(value, ConfigValue):
        return _config_value(value, param, cls, placeholders)
    if isinstance(value, Target):
        return _target(value, param, cls, placeholders)
    if isinstance(value, (list, tuple)):
        items = [_materialize(v, Param(param.name, "keyword", True), None, cls, placeholders) for v in value]
        real = type(value)(r for r, _ in items)
        return real, render(real)
    if isinstance(value, dict):
        if any(isinstance(v, Unresolved) for v in value.values()):
            raise _Unbuildable(param.name)
        if any(isinstance(v, Target) for v in value.values()):  # a config's mapping of built objects
            value = {k: _target(v, Param(k, "keyword", True), cls, placeholders)[0] if isinstance(v, Target) else v
                     for k, v in value.items()}
        return value, render(value)
    return value, render(value)


@dataclasses.dataclass
class _Deferred:
    """An object a config's ``_target_`` names, built when the model is (``_built``)."""

    build: Any

    def __repr__(self) -> str:
        return "<built with the model>"


def _built(value: Any) -> Any:
    if isinstance(value, _Deferred):
        return value.build()
    if isinstance(value, dict):
        return {k: _built(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_built(v) for v in value)
    return value


def _target(value: Target, param: Param, cls: type, placeholders: list[str]) -> tuple[Any, str]:
    """What a config's ``_target_`` names, imported by its dotted path (the project's own modules
    and installed ones, as ``hydra.utils.instantiate`` imports them) and called with the
    mapping's arguments — a ``functools.partial`` with ``_partial_: true`` — when the model is
    built."""
    module_name, _, attribute = value.path.rpartition(".")
    target = None
    try:
        target = getattr(importlib.import_module(module_name), attribute, None) if module_name else None
    except Exception:  # noqa: BLE001 - importing the module runs its code, which may raise anything
        target = None
    target = target if callable(target) else _find_class(attribute, cls)
    if target is None:
        raise _Unbuildable(param.name)
    args = [_materialize(a, Param(param.name, "positional", True), None, cls, placeholders)[0] for a in value.args]
    kwargs = {key: _materialize(item, Param(key, "keyword", True), None, cls, placeholders)[0]
              for key, item in value.kwargs.items()}
    if value.partial:
        return functools.partial(target, *args, **kwargs), repr(value)
    return _Deferred(lambda: target(*_built(args), **_built(kwargs))), repr(value)


def _placeholder(stand_in: Placeholder, name: str, placeholders: list[str]) -> tuple[Any, str]:
    computed = f": the project computes it ({stand_in.source})" if stand_in.source else ""
    placeholders.append(f"{name}={stand_in.value} ({stand_in.role}{computed})")
    return stand_in.value, repr(stand_in)


def _config_value(value: ConfigValue, param: Param, cls: type, placeholders: list[str]) -> tuple[Any, str]:
    """``GPTConfig(n_layer=4, ...)`` built from the real class; unresolved fields get their role's
    placeholder (``vocab_size``), or the config cannot be built."""
    fields: dict[str, Any] = {}
    shown: list[str] = []
    for key, item in value.fields.items():
        real, text = _materialize(item, Param(key, "keyword", True), None, cls, placeholders)
        fields[key] = real
        shown.append(f"{key}={text}")
    args = [_materialize(a, Param(param.name, "positional", True), None, cls, placeholders)[0] for a in value.args]
    config_cls = _find_class(value.class_name, cls)
    if value.factory:
        factory = getattr(config_cls, value.factory, None)
        text = f"{value.class_name}.{value.factory}()" + (f" with {', '.join(shown)}" if shown else "")
        if not callable(factory):
            raise _Unbuildable(param.name)
        try:
            config = factory()
            for key, item in fields.items():
                setattr(config, key, item)
        except Exception:  # noqa: BLE001 - the user's factory rejected the values
            raise _Unbuildable(param.name) from None
        return _open_sizes_filled(config, text, placeholders)
    text = f"{value.class_name}({', '.join([*map(render, args), *shown])})"
    if config_cls is None:
        known = {k: v for k, v in value.defaults.items() if not isinstance(v, Unresolved)}
        return types.SimpleNamespace(**{**known, **fields}), text
    try:
        return config_cls(*args, **fields), text
    except Exception:  # noqa: BLE001 - the user's config class rejected the values
        raise _Unbuildable(param.name) from None


# the roles of sizes a config leaves for the data to fill (`vocab_size = None  # set from the
# tokenizer`); the architecture's own sizes (n_layer None beside a model_type preset) stay open
_DATA_ROLES = ("vocabulary size", "sequence length", "number of classes")


def _open_sizes_filled(config: Any, text: str, placeholders: list[str]) -> tuple[Any, str]:
    """``config`` with each data-given size it leaves open (``None``, or ``-1``: "set later")
    given its role's placeholder, named in the note. A Hugging Face config is left as it is (its
    ``None`` fields have defaults the model computes)."""
    if any(b.__name__.lower() == "pretrainedconfig" for b in type(config).__mro__[1:]):
        return config, text
    try:
        fields = dict(vars(config))
    except TypeError:
        return config, text
    filled = []
    for key, value in fields.items():
        if not (value is None or (type(value) is int and value == -1)):
            continue
        stand_in = placeholder_for(Param(key, "keyword", True))
        if stand_in is None or stand_in.role not in _DATA_ROLES:
            continue
        try:
            setattr(config, key, stand_in.value)
        except Exception:  # noqa: BLE001 - a frozen dataclass, a read-only property
            continue
        placeholders.append(f"{key}={stand_in.value} ({stand_in.role}: the config leaves it {value!r})")
        filled.append(f"{key}=<unresolved: {stand_in.value}>")
    return config, text + (f" with {', '.join(filled)}" if filled else "")


def _find_class(name: str, cls: type) -> type | None:
    module = sys.modules.get(cls.__module__)
    found = getattr(module, name, None)
    return found if inspect.isclass(found) else None


def _default_config(param: Param, annotation: Any, cls: type,
                    placeholders: list[str] | None = None) -> tuple[Any, str] | None:
    """A config built without arguments for a config parameter, and how to show it: one whose
    fields all have defaults, else a config dataclass whose fields without one (a checkpoint's
    params.json fills them) all get the placeholder of their name's role, each named in
    ``placeholders``."""
    if inspect.isclass(annotation) and _buildable_config(annotation):
        return _instantiate(annotation)
    if inspect.isclass(annotation) and placeholders is not None:
        filled = _filled_dataclass(annotation, placeholders)
        if filled is not None:
            return filled
    declared = getattr(cls, "config_class", None)  # Hugging Face models name their config class
    if _buildable_config(declared):
        return _instantiate(declared)
    name = param.name.lower()
    if not (name in CONFIG_NAMES or name.endswith(("config", "cfg", "_args", "hparams"))):
        return None
    # the model's own get_default_config() says what it takes, before any other config class
    # the module defines (a training config dataclass beside it)
    for method in CONFIG_FACTORIES:
        factory = getattr(cls, method, None)
        if callable(factory):
            try:
                return factory(), f"{cls.__name__}.{method}()"
            except Exception:  # noqa: BLE001
                return None
    module = sys.modules.get(cls.__module__)
    found = list(dict.fromkeys(c for c in vars(module).values() if _buildable_config(c))) if module else []
    if len(found) > 1:
        found = [c for c in found if any(w in c.__name__.lower() for w in ("config", "args", "param", "cfg"))]
    if len(found) == 1:
        return _instantiate(found[0])
    if not found and placeholders is not None and module is not None:
        open_ = [c for c in dict.fromkeys(vars(module).values()) if inspect.isclass(c) and dataclasses.is_dataclass(c)
                 and c.__module__ == module.__name__ and any(w in c.__name__.lower() for w in ("config", "args", "param", "cfg"))]
        if len(open_) == 1:
            return _filled_dataclass(open_[0], placeholders)
    return None


# what a float field with no default stands for, by its name (first match wins)
_FLOAT_ROLES: tuple[tuple[str, float, str], ...] = (
    (r"eps", 1e-5, "normalization epsilon"),
    (r"drop|^p$", 0.0, "dropout"),
)


def _filled_dataclass(config_cls: type, placeholders: list[str]) -> tuple[Any, str] | None:
    """``config_cls`` (a dataclass) with every field that has no default given its name's
    placeholder, or None when a field's role is unknown."""
    if not dataclasses.is_dataclass(config_cls) or issubclass(config_cls, nn.Module):
        return None
    values, notes = {}, []
    for field in dataclasses.fields(config_cls):
        if not field.init or field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING:
            continue
        kind = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", None)
        if kind == "float":
            role = next(((v, r) for pattern, v, r in _FLOAT_ROLES if re.search(pattern, field.name.lower())), None)
        else:
            stand_in = placeholder_for(Param(field.name, "keyword", True, kind))
            role = (stand_in.value, stand_in.role) if stand_in is not None else None
        if role is None:
            return None
        values[field.name] = role[0]
        notes.append(f"{field.name}={role[0]} ({role[1]}: no default, a checkpoint gives it)")
    try:
        config = config_cls(**values)
    except Exception:  # noqa: BLE001 - its __post_init__ refuses the stand-ins
        return None
    placeholders.extend(notes)
    return config, f"{config_cls.__name__}(" + ", ".join(f"{k}=<unresolved: {v}>" for k, v in values.items()) + ")"


def _instantiate(config_cls: type) -> tuple[Any, str] | None:
    try:
        return config_cls(), f"{config_cls.__name__}()"
    except Exception:  # noqa: BLE001
        return None


def _buildable_config(obj: Any) -> bool:
    if not inspect.isclass(obj) or issubclass(obj, nn.Module):
        return False
    if not (dataclasses.is_dataclass(obj) or any(b.__name__.lower() == "pretrainedconfig" for b in obj.__mro__[1:])):
        return False
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return False
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               for p in signature.parameters.values())


def _parameters(cls: type) -> tuple[list[Param], dict[str, Any]]:
    signature = inspect.signature(cls)
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # noqa: BLE001 - unresolvable string annotations
        hints = {}
    module = sys.modules.get(cls.__module__)
    params, annotations = [], {}
    for p in signature.parameters.values():
        annotation = hints.get(p.name, p.annotation)
        if isinstance(annotation, str) and module is not None:
            annotation = getattr(module, annotation, annotation)
        if annotation is p.empty:
            annotation, text = None, None
        elif inspect.isclass(annotation):
            text = annotation.__name__
        else:
            text = str(annotation).replace("typing.", "")
        annotations[p.name] = annotation
        params.append(Param(p.name, _KINDS[p.kind], p.default is p.empty and p.kind not in (
            p.VAR_POSITIONAL, p.VAR_KEYWORD), text))
    return params, annotations


def _positional_only_names(cls: type) -> set[str]:
    try:
        return {p.name for p in inspect.signature(cls).parameters.values() if p.kind is p.POSITIONAL_ONLY}
    except (TypeError, ValueError):
        return set()


def _source_file(cls: type) -> Path | None:
    try:
        found = inspect.getsourcefile(cls)
    except (TypeError, OSError):
        return None
    return Path(found) if found else None


def shown_path(cls: type) -> str:
    source = _source_file(cls)
    return display_path(str(source)) if source else cls.__module__
