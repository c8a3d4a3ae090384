"""Configs read statically: config classes built in code (``GPTConfig(n_layer=4)``, a dataclass's
field defaults; part of ``Evaluator``, gradlint.source.callsites) and the ``_target_`` /
``class_path`` mappings of a project's YAML config files (Hydra, OmegaConf, LightningCLI)."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path
from typing import Any

from gradlint.core.findings import display_path
from gradlint.source.values import MAX_DEPTH, ConfigValue, Target, Unresolved, base_name, call_name, expr_text

CONFIG_SUFFIXES = (".yaml", ".yml")
_MODULE_BASES = {"Module", "nn.Module", "torch.nn.Module"}
CONFIG_FACTORIES = ("get_default_config", "default_config")
CONFIG_NAMES = ("config", "cfg", "conf", "args", "model_args", "hparams", "params", "opt", "options", "model_config")


# ------------------------------------------------------------------------ Hydra / OmegaConf configs

@dataclasses.dataclass(frozen=True)
class ConfigTarget:
    """One ``_target_`` mapping of a YAML config file, where it is, and the ``_target_`` of the
    mapping it is nested in (the object Hydra passes it to), if any."""

    path: str                  # as shown: "configs/model/mlp.yaml"
    line: int
    target: Target
    outer: str | None          # the enclosing target's class name

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def names_targets(text: str) -> bool:
    """The text of a YAML file may name a class to build (``_target_`` or ``class_path``)."""
    return "_target_" in text or "class_path" in text


_INTERPOLATION = re.compile(r"^\$\{([A-Za-z_][\w.]*)\}$")
_HYDRA_KEYS = {"_target_", "_args_", "_partial_", "_recursive_", "_convert_"}


def config_targets(path: Path, text: str) -> list[ConfigTarget]:
    """Every mapping with a ``_target_`` in a YAML file (or a jsonargparse ``class_path`` with its
    ``init_args``, as LightningCLI configs have it), its values read as Hydra would pass them:
    scalars and lists as they are, nested ``_target_`` mappings as ``Target`` values, and an
    interpolation ``${a.b}`` by the key it names in the same file (from the file's top, or below
    its config group: ``${model.width}`` in ``configs/model/x.yaml``); any other interpolation,
    and what a resolver computes, is Unresolved."""
    import yaml  # only projects with configs naming a `_target_` pay for it

    try:
        documents = list(yaml.safe_load_all(text))
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except (yaml.YAMLError, RecursionError, ValueError):
        return []
    shown = display_path(str(path))
    group = path.parent.name
    found: list[ConfigTarget] = []

    def lookup(root: Any, dotted: str) -> Any:
        for keys in (dotted.split("."), dotted.split(".")[1:] if dotted.split(".")[0] == group else None):
            value = root
            for key in keys or ():
                value = value.get(key, _MISSING) if isinstance(value, dict) else _MISSING
            if keys and value is not _MISSING and not isinstance(value, dict):
                return Unresolved(str(value)) if isinstance(value, str) and "${" in value else value
        return Unresolved("${" + dotted + "}")

    def value_of(data: Any, node: Any, root: Any, outer: str | None, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            return Unresolved("a nested config")
        if isinstance(data, dict):
            pairs = {k.value: v for k, v in node.value} if isinstance(node, yaml.MappingNode) else {}
            here, given, given_nodes = data.get("_target_"), data, pairs
            if not isinstance(here, str) and isinstance(data.get("class_path"), str):
                # jsonargparse (LightningCLI): {class_path: x.Net, init_args: {...}}
                here, given = data["class_path"], data.get("init_args")
                given = given if isinstance(given, dict) else {}
                init = pairs.get("init_args")
                given_nodes = {k.value: v for k, v in init.value} if isinstance(init, yaml.MappingNode) else {}
            name = here.rsplit(".", 1)[-1] if isinstance(here, str) else outer
            inner = {k: value_of(v, given_nodes.get(k), root, name, depth + 1) for k, v in given.items()
                     if not (isinstance(here, str) and k in _HYDRA_KEYS)}
            if not isinstance(here, str):
                return inner
            args = data.get("_args_") or []
            args_nodes = pairs["_args_"].value if isinstance(pairs.get("_args_"), yaml.SequenceNode) else [None] * len(args)
            target = Target(here, [value_of(a, n, root, name, depth + 1) for a, n in zip(args, args_nodes)]
                            if isinstance(args, list) else [], inner, data.get("_partial_") is True)
            line = node.start_mark.line + 1 if node is not None else 1
            found.append(ConfigTarget(shown, line, target, outer))
            return target
        if isinstance(data, list):
            items = node.value if isinstance(node, yaml.SequenceNode) else [None] * len(data)
            return [value_of(v, n, root, outer, depth + 1) for v, n in zip(data, items)]
        if isinstance(data, str) and "${" in data:
            match = _INTERPOLATION.match(data)
            return lookup(root, match.group(1)) if match else Unresolved(data)
        return data

    for data, node in zip(documents, nodes):
        value_of(data, node, data, None)
    return found


_MISSING = object()


class ConfigEvaluator:
    """Config classes of the same file built with their arguments, for ``Evaluator``."""

    def _config(self, cls: ast.ClassDef, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if any(base_name(b) in _MODULE_BASES for b in cls.bases):
            return Unresolved(f"{cls.name}(...)")  # a model, not a config
        init = next((s for s in cls.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"), None)
        if init is not None:
            fields = [a.arg for a in [*init.args.posonlyargs, *init.args.args][1:]]
        else:  # a dataclass (or a NamedTuple): fields in the order they are declared
            fields = [s.target.id for s in cls.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]
        defaults = {}
        for statement in cls.body:
            if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name) and statement.value:
                defaults[statement.target.id] = self._field_default(statement.value)
            elif (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                  and isinstance(statement.targets[0], ast.Name)):
                defaults[statement.targets[0].id] = self.value(statement.value)
        named = dict(zip(fields, args))
        return ConfigValue(cls.name, named | kwargs, defaults, args[len(fields):])

    def _field_default(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Call) and call_name(node) == "field":
            for keyword in node.keywords:
                if keyword.arg == "default":
                    return self.value(keyword.value)
            return Unresolved(expr_text(node))
        return self.value(node)
