"""The values static evaluation gives: configs, argparse namespaces and classes to build,
each able to say whether it is fully known (``is_resolved``) and to render itself; and the small
helpers that name AST nodes, and one binding of a name (what the scopes record). No torch here."""

from __future__ import annotations

import ast
import dataclasses
from typing import Any

MAX_DEPTH = 150         # nested evaluations (names referring to names ...; ~6 frames each)


@dataclasses.dataclass(frozen=True)
class Unresolved:
    """A value the source does not give statically; ``source`` is the expression, for the note."""

    source: str

    def __repr__(self) -> str:
        return f"<unresolved: {self.source}>"


@dataclasses.dataclass(frozen=True)
class Placeholder:
    """A documented stand-in for an unresolved size, chosen by the parameter's role."""

    value: int
    role: str
    source: str           # the expression no value was found for ("" when the argument is absent)

    def __repr__(self) -> str:
        return f"<unresolved: {self.value}>"


@dataclasses.dataclass
class ConfigValue:
    """An instance of a project class (a config) built by a call: ``GPTConfig(n_layer=4)``."""

    class_name: str
    fields: dict[str, Any]                     # the arguments given, by name
    defaults: dict[str, Any]                   # class-level defaults read from its source
    args: list[Any] = dataclasses.field(default_factory=list)  # positional ones not mapped to a name
    factory: str | None = None                 # built by a classmethod (`GPT.get_default_config()`),
                                               # then `fields` set as attributes

    def attribute(self, name: str) -> Any:
        if name in self.fields:
            return self.fields[name]
        return self.defaults.get(name, Unresolved(f"{self.class_name}.{name}"))

    def __repr__(self) -> str:
        inner = [render(a) for a in self.args] + [f"{k}={render(v)}" for k, v in self.fields.items()]
        if self.factory:
            return f"{self.class_name}.{self.factory}()" + (f" with {', '.join(inner)}" if inner else "")
        return f"{self.class_name}({', '.join(inner)})"


@dataclasses.dataclass
class Target:
    """A mapping of a Hydra/OmegaConf config with a ``_target_``: the callable's dotted path and
    its arguments; ``_partial_: true`` makes it a ``functools.partial`` instead of a call.
    ``gradlint.models.construct`` imports and calls it (as ``hydra.utils.instantiate`` would)."""

    path: str
    args: list[Any]
    kwargs: dict[str, Any]
    partial: bool = False

    @property
    def name(self) -> str:
        return self.path.rsplit(".", 1)[-1]

    def __repr__(self) -> str:
        inner = [render(a) for a in self.args] + [f"{k}={render(v)}" for k, v in self.kwargs.items()]
        return f"partial({', '.join([self.name, *inner])})" if self.partial else f"{self.name}({', '.join(inner)})"


@dataclasses.dataclass
class ArgsNamespace:
    """What ``parser.parse_args()`` returns when no command-line argument is given."""

    defaults: dict[str, Any]

    def attribute(self, name: str) -> Any:
        return self.defaults.get(name, Unresolved(f"args.{name}"))

    def __repr__(self) -> str:
        return "Namespace(" + ", ".join(f"{k}={render(v)}" for k, v in self.defaults.items()) + ")"


def render(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...)"


def is_resolved(value: Any) -> bool:
    """No Unresolved anywhere inside (containers and config fields included)."""
    if isinstance(value, Unresolved):
        return False
    if isinstance(value, (list, tuple, set, frozenset)):
        return all(is_resolved(v) for v in value)
    if isinstance(value, dict):
        return all(is_resolved(k) and is_resolved(v) for k, v in value.items())
    if isinstance(value, ConfigValue):
        return all(is_resolved(v) for v in [*value.args, *value.fields.values()])
    if isinstance(value, Target):
        return all(is_resolved(v) for v in [*value.args, *value.kwargs.values()])
    return True


def target_names(target: ast.AST) -> list[str]:
    return [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]


def call_name(node: ast.Call) -> str | None:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def base_name(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # noqa: BLE001
        return ""


def expr_text(node: ast.AST) -> str:
    try:
        text = ast.unparse(node)
    except Exception:  # noqa: BLE001
        return "?"
    return text if len(text) <= 60 else text[:57] + "..."


@dataclasses.dataclass
class Binding:
    line: int
    kind: str                 # "value", "item" (d[k] = v), "attr" (c.k = v), "aug" (x += v), "param", "opaque"
    node: ast.AST | None      # the value expression (or the parameter's default)
    guards: tuple[tuple[int, str], ...] = ()   # (id of an if/for/try..., branch) it runs under
    key: Any = None           # the subscript (an expression) or the attribute name
    op: ast.operator | None = None
    index: int | None = None  # element of a tuple unpacking
