"""How the project builds a model class: its call sites, evaluated statically (no torch here).

``Evaluator`` computes the value of a Python expression from source alone: literals and
containers, names assigned earlier in the same scope (or at module level), arithmetic on them,
function parameter defaults, ``args.x`` through the file's argparse ``add_argument`` defaults,
and config objects built in the same scope (``GPTConfig(n_layer=4)``, ``dict(...)``,
``Config(**kwargs)``). Whatever it cannot compute is an ``Unresolved`` value, never a guess.

``Project`` finds the calls of a class in every Python file of a project and in the ```python
blocks of its README*.md and docs/**/*.md (each file read and parsed once), and ``resolve_call``
binds a call's arguments to the constructor's parameters. ``placeholder_for`` gives the documented
stand-in for a size no expression gives (``ntokens = len(corpus.dictionary)``), chosen by the
parameter's role. Building the model (and turning values into real config objects) is
``gradlint.load``'s job.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
import operator
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from gradlint.findings import display_path
from gradlint.project import project_files

MAX_DEPTH = 150         # nested evaluations (names referring to names ...; ~6 frames each)
MAX_SCANNED_FILES = 2_000
CONFIG_SUFFIXES = (".yaml", ".yml")


# ---------------------------------------------------------------------------------------- values

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
    ``gradlint.construct`` imports and calls it (as ``hydra.utils.instantiate`` would)."""

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


# ----------------------------------------------------------------------------------- source files

@dataclasses.dataclass
class Source:
    """One parsed piece of source: a .py file, or one ```python block of a Markdown file."""

    path: Path
    tree: ast.Module
    line_offset: int = 0      # lines before the block, for Markdown

    def __post_init__(self) -> None:
        self._evaluator: Evaluator | None = None

    def where(self, node: ast.AST) -> str:
        return f"{display_path(str(self.path))}:{getattr(node, 'lineno', 1) + self.line_offset}"

    @property
    def is_test(self) -> bool:
        name = self.path.name
        return (name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"
                or any(part in ("test", "tests", "testing") for part in self.path.parts[:-1]))

    @property
    def is_docs(self) -> bool:
        return self.path.suffix == ".md"

    @property
    def evaluator(self) -> Evaluator:
        if self._evaluator is None:
            self._evaluator = Evaluator(self.tree)
        return self._evaluator


_FENCE = re.compile(r"^(\s*)(```|~~~)\s*(python|py|python3)\s*$", re.IGNORECASE)


def markdown_blocks(path: Path, text: str) -> Iterator[Source]:
    """The ```python blocks of a Markdown file that parse (doctest prompts stripped)."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        indent, fence = len(match.group(1)), match.group(2)
        start = index + 1
        end = start
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        body = [line[indent:] if line[:indent].isspace() else line.lstrip() for line in lines[start:end]]
        if body and all(not line.strip() or line.lstrip().startswith((">>>", "...")) for line in body):
            body = [line.lstrip()[4:] if line.lstrip().startswith((">>> ", "... ")) else "" for line in body]
        try:
            tree = ast.parse("\n".join(body))
        except (SyntaxError, ValueError, RecursionError):
            tree = None
        if tree is not None:
            yield Source(path, tree, line_offset=start)
        index = end + 1


class Project:
    """The Python files and Markdown code blocks of one project, each read and parsed once."""

    def __init__(self, root: Path, files: list[Path] | None = None) -> None:
        self.root = root
        self.files = scan(root) if files is None else files
        self._texts: dict[Path, str] = {}
        self._sources: dict[Path, list[Source]] = {}
        self._targets: dict[Path, list[ConfigTarget]] = {}
        self._model_classes: dict[str, bool] = {}

    def text(self, path: Path) -> str:
        if path not in self._texts:
            try:
                self._texts[path] = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                self._texts[path] = ""
        return self._texts[path]

    def sources(self, path: Path) -> list[Source]:
        if path not in self._sources:
            text = self.text(path)
            if path.suffix == ".md":
                self._sources[path] = list(markdown_blocks(path, text))
            elif path.suffix in CONFIG_SUFFIXES:
                self._sources[path] = []
            else:
                try:
                    self._sources[path] = [Source(path, ast.parse(text))]
                except (SyntaxError, ValueError, RecursionError):
                    self._sources[path] = []
        return self._sources[path]

    def calls_of(self, class_name: str, defined_in: Path | None = None) -> Iterator[tuple[Source, ast.Call]]:
        """Calls of ``class_name`` in the project: ``Cls(...)``, ``mod.Cls(...)``, and names it
        was imported as (``from model import Cls as Net`` then ``Net(...)``). A file that defines
        a class of the same name of its own (another file than ``defined_in``) calls that one."""
        pattern = re.compile(rf"\b{re.escape(class_name)}\b")
        for path in self.files:
            if not pattern.search(self.text(path)):
                continue  # cheap: most files never mention the class
            for source in self.sources(path):
                if defined_in is not None and path.resolve() != defined_in.resolve() and any(
                        isinstance(node, ast.ClassDef) and node.name == class_name for node in ast.walk(source.tree)):
                    continue
                names = {class_name}
                for node in ast.walk(source.tree):
                    if isinstance(node, ast.ImportFrom):
                        names.update(a.asname for a in node.names if a.name == class_name and a.asname)
                for node in ast.walk(source.tree):
                    if not isinstance(node, ast.Call):
                        continue
                    func = node.func
                    if (isinstance(func, ast.Name) and func.id in names) or (
                            isinstance(func, ast.Attribute) and func.attr == class_name):
                        yield source, node

    def config_targets(self, class_name: str) -> Iterator[ConfigTarget]:
        """The mappings of the project's YAML configs whose ``_target_`` names ``class_name``
        (``_target_: src.models.mlp.MLP``), each with the arguments it gives."""
        for path in self.files:
            if path.suffix in CONFIG_SUFFIXES and names_targets(self.text(path)) and class_name in self.text(path):
                if path not in self._targets:
                    self._targets[path] = config_targets(path, self.text(path))
                yield from (t for t in self._targets[path] if t.target.name == class_name)

    def defines_model_class(self, name: str) -> bool:
        """Some .py file of the project defines ``class name`` as an nn.Module (a base whose name
        holds "Module", or a ``forward``)."""
        if name not in self._model_classes:
            pattern = re.compile(rf"\bclass\s+{re.escape(name)}\b")
            self._model_classes[name] = any(
                _is_model_class(node)
                for path in self.files if path.suffix == ".py" and pattern.search(self.text(path))
                for source in self.sources(path) for node in ast.walk(source.tree)
                if isinstance(node, ast.ClassDef) and node.name == name)
        return self._model_classes[name]


def classes_needing_arguments(tree: ast.Module) -> list[str]:
    """Classes of a file whose ``__init__`` has a parameter without a default (read statically)."""
    names = []
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        for statement in node.body:
            if isinstance(statement, ast.FunctionDef) and statement.name == "__init__":
                arguments = statement.args
                positional = [*arguments.posonlyargs, *arguments.args][1:]
                if len(positional) > len(arguments.defaults) or any(d is None for d in arguments.kw_defaults):
                    names.append(node.name)
    return names


def construction_sources(tree: ast.Module, root: Path) -> list[Path]:
    """The project files that may decide how the file's classes are built (they mention a class
    whose constructor needs arguments): part of the result cache's key."""
    names = classes_needing_arguments(tree)
    if not names:
        return []
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
    project = project_for(root)
    return [path for path in project.files if pattern.search(project.text(path))]


def scan(root: Path) -> list[Path]:
    """The project's .py files, its README*.md and its docs/**/*.md, and its YAML files (Hydra
    and OmegaConf configs name the classes they build in ``_target_``), up to MAX_SCANNED_FILES
    of each (a directory of data YAML files does not crowd out the source)."""
    found: list[Path] = []
    configs: list[Path] = []
    for path in project_files(root, (".py", ".md", *CONFIG_SUFFIXES)):
        relative = path.relative_to(root)
        if path.suffix == ".md" and not (
            (len(relative.parts) == 1 and path.name.lower().startswith("readme")) or relative.parts[0] == "docs"
        ):
            continue
        kept = configs if path.suffix in CONFIG_SUFFIXES else found
        if len(kept) < MAX_SCANNED_FILES:
            kept.append(path)
        elif len(found) >= MAX_SCANNED_FILES:
            break
    return found + configs


_PROJECTS: dict[Path, tuple[tuple, Project]] = {}


def project_for(root: Path) -> Project:
    """The project at ``root``, read and parsed once per process for as long as no file of it
    changes (a listing and a stat per call: a worker checking several classes, or the runner
    keying its cache for every file of a run, reads each file once)."""
    files = scan(root)
    signature = []
    for path in files:
        try:
            stat = path.stat()
        except OSError:
            continue
        signature.append((path, stat.st_mtime_ns, stat.st_size))
    cached = _PROJECTS.get(root)
    if cached is not None and cached[0] == tuple(signature):
        return cached[1]
    project = Project(root, files)
    _PROJECTS[root] = (tuple(signature), project)
    return project


# ------------------------------------------------------------------------------------ evaluation

_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
    ast.LShift: operator.lshift, ast.RShift: operator.rshift, ast.BitOr: operator.or_,
    ast.BitAnd: operator.and_, ast.BitXor: operator.xor,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_, ast.Invert: operator.invert}
_COMPARE = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
_BUILTINS = {
    "int": int, "float": float, "str": str, "bool": bool, "abs": abs, "round": round,
    "min": min, "max": max, "len": len, "sum": sum, "tuple": tuple, "list": list, "sorted": sorted,
}
# standard modules whose constants the evaluator reads (importing them runs nothing of the user's)
_CONSTANT_MODULES = {"string", "math"}
_ARGPARSE_TYPES = {"int": int, "float": float, "str": str}
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.Module)
_CONDITIONAL = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.Try, ast.IfExp, ast.Match)
_MODULE_BASES = {"Module", "nn.Module", "torch.nn.Module"}


@dataclasses.dataclass
class _Binding:
    line: int
    kind: str                 # "value", "item" (d[k] = v), "attr" (c.k = v), "aug" (x += v), "param", "opaque"
    node: ast.AST | None      # the value expression (or the parameter's default)
    guards: tuple[tuple[int, str], ...] = ()   # (id of an if/for/try..., branch) it runs under
    key: Any = None           # the subscript (an expression) or the attribute name
    op: ast.operator | None = None
    index: int | None = None  # element of a tuple unpacking


class Evaluator:
    """Static values of expressions in one parsed file (see the module docstring)."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self._parents: dict[ast.AST, ast.AST] = {}
        for parent in ast.walk(tree):
            for child in ast.iter_child_nodes(parent):
                self._parents[child] = parent
        self._bindings: dict[ast.AST, dict[str, list[_Binding]]] = {}
        self._classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
        self._memo: dict[ast.AST, Any] = {}
        self._depth = 0

    # -- public

    def value(self, node: ast.AST) -> Any:
        """The value of ``node``, or an Unresolved naming the expression. Each node is evaluated
        once (chains of names referring to names stay linear); a node met again while it is
        being evaluated is unresolved."""
        if node in self._memo:
            return self._memo[node]
        self._memo[node] = Unresolved(_text(node))
        self._depth += 1
        try:
            if self._depth <= MAX_DEPTH:
                self._memo[node] = self._value(node)
        except (TypeError, ValueError, ArithmeticError, KeyError, IndexError, AttributeError, OverflowError,
                RecursionError):
            pass
        finally:
            self._depth -= 1
        return self._memo[node]

    def argparse_defaults(self) -> dict[str, Any]:
        """dest -> default for every ``add_argument`` in the file (argparse's own rules: the first
        long option names it, dashes become underscores, ``dest=`` wins, a string default goes
        through ``type=``, store_true defaults to False)."""
        return self._argparse

    @functools.cached_property
    def _argparse(self) -> dict[str, Any]:
        defaults: dict[str, Any] = {}
        later: dict[str, Any] = {}
        for node in ast.walk(self.tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr == "set_defaults":
                later.update({k.arg: self.value(k.value) for k in node.keywords if k.arg})
                continue
            if node.func.attr != "add_argument":
                continue
            flags = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if not flags:
                continue
            keywords = {k.arg: k.value for k in node.keywords if k.arg}
            if "dest" in keywords:
                dest = self.value(keywords["dest"])
            else:
                longs = [f for f in flags if f.startswith("--")]
                dest = (longs or flags)[0].lstrip("-").replace("-", "_")
            if not isinstance(dest, str):
                continue
            action = self.value(keywords["action"]) if "action" in keywords else "store"
            if "default" in keywords:
                default = self.value(keywords["default"])
            elif "required" in keywords and self.value(keywords["required"]) is True:
                # given on every command line, so it has no default: unknown here (a size
                # gets its role's placeholder, like any size the source does not give)
                flag = next((f for f in flags if f.startswith("--")), flags[0])
                default = Unresolved(f"{flag}, a required option")
            elif action == "store_true":
                default = False
            elif action == "store_false":
                default = True
            else:
                default = None
            kind = keywords.get("type")
            if isinstance(default, str) and isinstance(kind, ast.Name) and kind.id in _ARGPARSE_TYPES:
                try:
                    default = _ARGPARSE_TYPES[kind.id](default)
                except ValueError:
                    default = Unresolved(f"{kind.id}({default!r})")
            defaults.setdefault(dest, default)
        defaults.update(later)
        return defaults

    # -- expressions

    def _value(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            items: list[Any] = []
            for element in node.elts:
                if isinstance(element, ast.Starred):
                    inner = self.value(element.value)
                    if not isinstance(inner, (list, tuple)):
                        return Unresolved(_text(node))
                    items.extend(inner)
                else:
                    items.append(self.value(element))
            if not all(is_resolved(i) for i in items):
                return Unresolved(_text(node))
            return tuple(items) if isinstance(node, ast.Tuple) else set(items) if isinstance(node, ast.Set) else items
        if isinstance(node, ast.Dict):
            result: dict[Any, Any] = {}
            for key, item in zip(node.keys, node.values):
                if key is None:
                    inner = self.value(item)
                    if not isinstance(inner, dict):
                        return Unresolved(_text(node))
                    result.update(inner)
                else:
                    result[self.value(key)] = self.value(item)
            return result if all(is_resolved(k) for k in result) else Unresolved(_text(node))
        if isinstance(node, ast.Name):
            return self._name(node.id, node)
        if isinstance(node, ast.Attribute):
            return self._attribute(node)
        if isinstance(node, ast.Subscript):
            base = self.value(node.value)
            index = self.value(node.slice)
            if not is_resolved(base) or not is_resolved(index) or isinstance(base, (ConfigValue, ArgsNamespace)):
                return Unresolved(_text(node))
            return base[index]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = self.value(node.left), self.value(node.right)
            if isinstance(left, Unresolved) or isinstance(right, Unresolved):
                return Unresolved(_text(node))
            if isinstance(node.op, ast.Pow) and isinstance(right, (int, float)) and abs(right) > 64:
                return Unresolved(_text(node))  # never compute a huge number
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            operand = self.value(node.operand)
            return Unresolved(_text(node)) if isinstance(operand, Unresolved) else _UNARY[type(node.op)](operand)
        if isinstance(node, ast.BoolOp):
            result = None
            for item in node.values:
                result = self.value(item)
                if isinstance(result, Unresolved):
                    return Unresolved(_text(node))
                if isinstance(node.op, ast.And) and not result:
                    return result
                if isinstance(node.op, ast.Or) and result:
                    return result
            return result
        if isinstance(node, ast.Compare):
            left = self.value(node.left)
            for op, comparator in zip(node.ops, node.comparators):
                right = self.value(comparator)
                if isinstance(left, Unresolved) or isinstance(right, Unresolved):
                    return Unresolved(_text(node))
                if not _COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.IfExp):
            test = self.value(node.test)
            if isinstance(test, Unresolved):
                return Unresolved(_text(node))
            return self.value(node.body if test else node.orelse)
        if isinstance(node, ast.Call):
            return self._call(node)
        return Unresolved(_text(node))

    def _attribute(self, node: ast.Attribute) -> Any:
        if isinstance(node.value, ast.Name):
            binding = self._lookup(node.value.id, node)
            if binding is not None and binding.kind == "opaque" and binding.key in _CONSTANT_MODULES:
                # `len(string.printable)`: a constant of a standard module with no side effects
                value = getattr(importlib.import_module(binding.key), node.attr, None)
                if isinstance(value, (str, int, float)):
                    return value
        base = self.value(node.value)
        if isinstance(base, (ConfigValue, ArgsNamespace)):
            return base.attribute(node.attr)
        if isinstance(base, Unresolved) and isinstance(node.value, ast.Name):
            # `args.lr` where `args` is a parameter (`def main(args)`) or comes from a parser the
            # evaluator cannot follow: the file's argparse defaults still say what it holds.
            defaults = self.argparse_defaults()
            if node.attr in defaults and self._may_be_args(node.value):
                return defaults[node.attr]
        return Unresolved(_text(node))

    def _may_be_args(self, name: ast.Name) -> bool:
        """A name that may hold parsed arguments: a parameter, an import, or a call's result
        (`args = parser.parse_args()`, `opt = get_options()`), not a literal or a container."""
        binding = self._lookup(name.id, name)
        return binding is None or binding.kind in ("param", "opaque") or isinstance(binding.node, ast.Call)

    def _call(self, node: ast.Call) -> Any:
        name = _call_name(node)
        if name in ("parse_args",) and isinstance(node.func, ast.Attribute):
            return ArgsNamespace(dict(self.argparse_defaults()))
        args = [self.value(a) for a in node.args if not isinstance(a, ast.Starred)]
        if any(isinstance(a, ast.Starred) for a in node.args):
            return Unresolved(_text(node))
        kwargs: dict[str, Any] = {}
        for keyword in node.keywords:
            if keyword.arg is None:
                spread = self.value(keyword.value)
                if isinstance(spread, ArgsNamespace):
                    spread = spread.defaults
                if not isinstance(spread, dict) or not all(isinstance(k, str) for k in spread):
                    return Unresolved(_text(node))
                kwargs.update(spread)
            else:
                kwargs[keyword.arg] = self.value(keyword.value)
        if isinstance(node.func, ast.Name):
            if node.func.id == "dict" and not self._shadowed(node.func):
                if args:
                    if len(args) != 1 or not isinstance(args[0], dict):
                        return Unresolved(_text(node))
                    return {**args[0], **kwargs}
                return kwargs
            if node.func.id == "vars" and len(args) == 1 and isinstance(args[0], ArgsNamespace):
                return dict(args[0].defaults)
            if node.func.id in _BUILTINS and not self._shadowed(node.func):
                if kwargs or not all(is_resolved(a) for a in args):
                    return Unresolved(_text(node))
                return _BUILTINS[node.func.id](*args)
        if (isinstance(node.func, ast.Attribute) and node.func.attr in CONFIG_FACTORIES and not args
                and not kwargs and isinstance(node.func.value, ast.Name) and node.func.value.id[:1].isupper()):
            return ConfigValue(node.func.value.id, {}, {}, factory=node.func.attr)
        if isinstance(node.func, ast.Name) and node.func.id in self._classes:
            return self._config(self._classes[node.func.id], args, kwargs)
        if isinstance(node.func, ast.Name) and not args and not kwargs:
            returned = self._returned(node.func)
            if returned is not None:
                return returned
        if isinstance(node.func, ast.Name) and node.func.id[:1].isupper():
            # a class imported from elsewhere (`from config import GPTConfig`): its fields are
            # the arguments; gradlint.load builds the real class at import time
            return ConfigValue(node.func.id, kwargs, {}, args)
        return Unresolved(_text(node))

    def _returned(self, name: ast.Name) -> Any:
        """What a function of this file called without arguments returns (``config = get_config()``,
        which builds a config and sets its fields): its one ``return``, at the end of its body,
        evaluated in its own scope; None for any other function."""
        binding = self._lookup(name.id, name)
        if binding is None or binding.kind != "opaque" or binding.key is not None:
            return None
        function = next((n for n in self.tree.body if isinstance(n, ast.FunctionDef) and n.name == name.id), None)
        if function is None or not function.body or not isinstance(function.body[-1], ast.Return) \
                or function.body[-1].value is None or function.decorator_list:
            return None
        if sum(isinstance(n, ast.Return) for n in ast.walk(function)) != 1:
            return None
        arguments = function.args
        if len(arguments.defaults) != len([*arguments.posonlyargs, *arguments.args]) or \
                any(d is None for d in arguments.kw_defaults):
            return None
        value = self.value(function.body[-1].value)
        return value if isinstance(value, (ConfigValue, ArgsNamespace, dict)) else None

    def _shadowed(self, name: ast.Name) -> bool:
        return self._lookup(name.id, name) is not None

    def _config(self, cls: ast.ClassDef, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if any(_base_name(b) in _MODULE_BASES for b in cls.bases):
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
        if isinstance(node, ast.Call) and _call_name(node) == "field":
            for keyword in node.keywords:
                if keyword.arg == "default":
                    return self.value(keyword.value)
            return Unresolved(_text(node))
        return self.value(node)

    # -- names

    def _name(self, name: str, use: ast.AST) -> Any:
        binding = self._lookup(name, use)
        if binding is None:
            return Unresolved(name)
        return self._binding_value(name, binding, use)

    def _lookup(self, name: str, use: ast.AST) -> _Binding | None:
        """The binding of ``name`` that ``use`` sees: the last one before it in its own scope,
        else the last one in an enclosing scope (functions run after the module body)."""
        line = getattr(use, "lineno", 10**9)
        for depth, scope in enumerate(self._scopes(use)):
            bindings = self._scope_bindings(scope).get(name)
            if not bindings:
                continue
            visible = [b for b in bindings if b.kind == "param" or depth > 0 or b.line < line]
            if not visible:
                continue
            base = _last_base(visible)
            return base
        return None

    def _binding_value(self, name: str, base: _Binding, use: ast.AST) -> Any:
        line = getattr(use, "lineno", 10**9)
        for depth, scope in enumerate(self._scopes(use)):
            bindings = self._scope_bindings(scope).get(name)
            if not bindings or base not in bindings:
                continue
            visible = [b for b in bindings if b.kind == "param" or depth > 0 or b.line < line]
            position = visible.index(base)
            earlier = [b for b in visible[:position] if b.kind in ("value", "param")]
            if self._conditional(base, use) and earlier:
                return Unresolved(name)  # assigned on one branch only: which value holds is not known
            value = self._one_binding(name, base)
            for update in visible[position + 1:]:
                value = self._apply(name, value, update, self._conditional(update, use))
            return value
        return Unresolved(name)

    def _one_binding(self, name: str, binding: _Binding) -> Any:
        if binding.kind == "param":
            return self.value(binding.node) if binding.node is not None else Unresolved(name)
        if binding.kind != "value" or binding.node is None:
            return Unresolved(name)
        value = self.value(binding.node)
        if binding.index is not None:
            if not isinstance(value, (tuple, list)) or len(value) <= binding.index:
                return Unresolved(name)
            value = value[binding.index]
        return value

    def _conditional(self, binding: _Binding, use: ast.AST) -> bool:
        """The binding may not have run when ``use`` runs: it sits under a branch, loop or try
        that ``use`` is not in (an assignment in the same ``if`` body as the use does count)."""
        if not binding.guards:
            return False
        branches = set()
        child, parent = use, self._parents.get(use)
        while parent is not None:
            for field, value in ast.iter_fields(parent):
                if value is child or (isinstance(value, list) and any(item is child for item in value)):
                    branches.add((id(parent), field))
            child, parent = parent, self._parents.get(parent)
        return any(guard not in branches for guard in binding.guards)

    def _apply(self, name: str, value: Any, update: _Binding, conditional: bool) -> Any:
        if update.kind == "attr":  # cfg.vocab_size = 256; config.model.vocab_size = 65
            if conditional or not isinstance(value, (ConfigValue, ArgsNamespace)):
                return Unresolved(name)
            return _with_attribute(value, update.key if isinstance(update.key, tuple) else (update.key,),
                                   self.value(update.node), name)
        if update.kind == "item":
            key = self.value(update.key)
            if not isinstance(value, dict) or isinstance(key, Unresolved):
                return Unresolved(name)
            if conditional:
                return Unresolved(name)
            return {**value, key: self.value(update.node)}
        if update.kind == "aug":
            right = self.value(update.node)
            if isinstance(value, Unresolved) or isinstance(right, Unresolved) or conditional:
                return Unresolved(name)
            return _BINARY[type(update.op)](value, right)
        return value

    def _scopes(self, node: ast.AST) -> list[ast.AST]:
        scopes = []
        current = self._parents.get(node)
        while current is not None:
            if isinstance(current, _SCOPES):
                scopes.append(current)
            current = self._parents.get(current)
        return scopes or [self.tree]

    def _scope_bindings(self, scope: ast.AST) -> dict[str, list[_Binding]]:
        if scope in self._bindings:
            return self._bindings[scope]
        found: dict[str, list[_Binding]] = {}

        def add(name: str, binding: _Binding) -> None:
            found.setdefault(name, []).append(binding)

        if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            arguments = scope.args
            positional = [*arguments.posonlyargs, *arguments.args]
            defaults = [None] * (len(positional) - len(arguments.defaults)) + list(arguments.defaults)
            for arg, default in zip(positional, defaults):
                add(arg.arg, _Binding(0, "param", default))
            for arg, default in zip(arguments.kwonlyargs, arguments.kw_defaults):
                add(arg.arg, _Binding(0, "param", default))
            for arg in (arguments.vararg, arguments.kwarg):
                if arg is not None:
                    add(arg.arg, _Binding(0, "opaque", None))
        body = scope.body if isinstance(scope.body, list) else []

        def visit(statements: list[ast.stmt], guards: tuple) -> None:
            for statement in statements:
                self._collect(statement, guards, add)
                if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    continue
                conditional = isinstance(statement, _CONDITIONAL)
                for field in ("body", "orelse", "finalbody"):
                    block = getattr(statement, field, None)
                    if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                        # an if's body runs only sometimes, a with's always
                        visit(block, guards + ((id(statement), field),) if conditional and field != "finalbody" else guards)
                for handler in getattr(statement, "handlers", []) or []:
                    visit(handler.body, guards + ((id(handler), "body"), (id(statement), "handlers")))
                for case in getattr(statement, "cases", []) or []:
                    visit(case.body, guards + ((id(case), "body"),))

        visit(body, ())
        for bindings in found.values():
            bindings.sort(key=lambda b: b.line)
        self._bindings[scope] = found
        return found

    def _collect(self, statement: ast.stmt, conditional: tuple, add) -> None:
        line = statement.lineno
        if isinstance(statement, ast.Assign):
            for target in statement.targets:
                self._collect_target(target, statement.value, line, conditional, add)
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            self._collect_target(statement.target, statement.value, line, conditional, add)
        elif isinstance(statement, ast.AugAssign) and isinstance(statement.target, ast.Name):
            add(statement.target.id, _Binding(line, "aug", statement.value, conditional, op=statement.op))
        elif isinstance(statement, (ast.For, ast.AsyncFor)):
            for name in _names(statement.target):
                add(name, _Binding(line, "opaque", None, conditional + ((id(statement), "target"),)))
        elif isinstance(statement, (ast.With, ast.AsyncWith)):
            for item in statement.items:
                for name in _names(item.optional_vars) if item.optional_vars else ():
                    add(name, _Binding(line, "opaque", None, conditional))
        elif isinstance(statement, (ast.Import, ast.ImportFrom)):
            for alias in statement.names:
                module = alias.name if isinstance(statement, ast.Import) and (alias.asname or "." not in alias.name) else None
                add((alias.asname or alias.name).split(".")[0], _Binding(line, "opaque", None, conditional, key=module))
        elif isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            add(statement.name, _Binding(line, "opaque", None, conditional))
        for node in ast.walk(statement) if not isinstance(statement, (ast.FunctionDef, ast.ClassDef)) else ():
            if isinstance(node, ast.NamedExpr):
                add(node.target.id, _Binding(line, "value", node.value, conditional + ((id(node), "walrus"),)))

    def _collect_target(self, target: ast.AST, value: ast.AST, line: int, conditional: tuple, add) -> None:
        if isinstance(target, ast.Name):
            add(target.id, _Binding(line, "value", value, conditional))
        elif isinstance(target, (ast.Tuple, ast.List)):
            if any(isinstance(e, ast.Starred) for e in target.elts):
                for name in _names(target):
                    add(name, _Binding(line, "opaque", None, conditional))
                return
            for index, element in enumerate(target.elts):
                if isinstance(element, ast.Name):
                    add(element.id, _Binding(line, "value", value, conditional, index=index))
                else:
                    for name in _names(element):
                        add(name, _Binding(line, "opaque", None, conditional))
        elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
            add(target.value.id, _Binding(line, "item", value, conditional, key=target.slice))
        elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
            add(target.value.id, _Binding(line, "attr", value, conditional, key=target.attr))
        elif isinstance(target, ast.Attribute):
            # config.model.vocab_size = 65: an update of `config`, along the path (model, vocab_size)
            path, root = [target.attr], target.value
            while isinstance(root, ast.Attribute):
                path.append(root.attr)
                root = root.value
            if isinstance(root, ast.Name):
                add(root.id, _Binding(line, "attr", value, conditional, key=tuple(reversed(path))))


def _with_attribute(value: Any, path: tuple[str, ...], item: Any, name: str) -> Any:
    """``value`` with the attribute at ``path`` set to ``item`` (configs nested in configs), or
    Unresolved when a step of the path is no config the evaluator knows."""
    if not isinstance(value, (ConfigValue, ArgsNamespace)):
        return Unresolved(name)
    key = path[0]
    if len(path) > 1:
        item = _with_attribute(value.attribute(key), path[1:], item, name)
        if isinstance(item, Unresolved):
            return item
    if isinstance(value, ArgsNamespace):
        return ArgsNamespace({**value.defaults, key: item})
    return dataclasses.replace(value, fields={**value.fields, key: item})


def _last_base(bindings: list[_Binding]) -> _Binding:
    """The last binding that gives the name a value (item and aug updates apply on top of it)."""
    for binding in reversed(bindings):
        if binding.kind not in ("item", "aug", "attr"):
            return binding
    return bindings[0]


def _names(target: ast.AST) -> list[str]:
    return [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]


def _call_name(node: ast.Call) -> str | None:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def _base_name(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # noqa: BLE001
        return ""


def _text(node: ast.AST) -> str:
    try:
        text = ast.unparse(node)
    except Exception:  # noqa: BLE001
        return "?"
    return text if len(text) <= 60 else text[:57] + "..."


# ----------------------------------------------------------------------------- constructor binding

@dataclasses.dataclass(frozen=True)
class Param:
    """A constructor parameter, as gradlint.load reads it from the real signature."""

    name: str
    kind: str                 # "positional", "keyword", "var_positional", "var_keyword"
    required: bool
    annotation: str | None = None


@dataclasses.dataclass
class CallSite:
    """One call of the class, its arguments evaluated and bound to the constructor's parameters."""

    where: str                              # "main.py:108"
    values: dict[str, Any]                  # parameter -> value (Unresolved where no value is known)
    extra: list[Any]                        # beyond the named positional parameters (*args)
    given: list[tuple[str, bool]]           # rendering order: (parameter, given positionally)
    reaches_optimizer: bool
    in_test: bool
    in_docs: bool
    part_of: str | None = None              # the model class whose constructor makes this call

    @property
    def resolved(self) -> int:
        """Arguments the source gives something for (a config with one unknown field counts)."""
        return sum(1 for v in self.values.values() if not isinstance(v, Unresolved))

    def rank(self) -> tuple:
        """Trained call sites first, then tests, then the rest (docs last); within each, the one
        with the fewest unresolved values; then by place, for a stable choice."""
        unresolved = sum(1 for v in self.values.values() if not is_resolved(v))
        kind = 0 if self.reaches_optimizer else 1 if self.in_test else 3 if self.in_docs else 2
        return (kind, unresolved, self.where)


    @property
    def useful(self) -> bool:
        """It gives something: a value for at least one argument, or a call with no arguments."""
        return self.part_of is None and (self.resolved > 0 or not self.values)


def call_sites(project: Project, class_name: str, params: list[Param],
               defined_in: Path | None = None) -> list[CallSite]:
    """Every call of ``class_name`` (the class defined in ``defined_in``) in the project whose
    arguments fit ``params``, best first."""
    sites = []
    for source, call in project.calls_of(class_name, defined_in):
        site = bind_call(source, call, params)
        if site is not None:
            sites.append(site)
    for found in project.config_targets(class_name):
        site = bind_target(found, params)
        if site is not None:
            outer = found.outer
            part_of = outer if outer is not None and project.defines_model_class(outer) else None
            sites.append(dataclasses.replace(site, part_of=part_of))
    return sorted(sites, key=CallSite.rank)


def bind_target(found: ConfigTarget, params: list[Param]) -> CallSite | None:
    """A config mapping's arguments bound to the constructor's parameters, as Hydra passes them
    (``_args_`` positionally, every other key by name), or None when they cannot fit."""
    bound = _bind(found.target.args, found.target.kwargs.items(), params)
    return CallSite(found.where, *bound, False, False, False) if bound is not None else None


def bind_call(source: Source, call: ast.Call, params: list[Param]) -> CallSite | None:
    """The call's arguments by parameter name, or None when they cannot fit the signature
    (another class of the same name, or ``*args`` that cannot be evaluated)."""
    evaluator = source.evaluator
    args: list[Any] = []
    for node in call.args:
        if isinstance(node, ast.Starred):
            spread = evaluator.value(node.value)
            if not isinstance(spread, (list, tuple)):
                return None
            args.extend(spread)
        else:
            args.append(evaluator.value(node))
    keywords: list[tuple[Any, Any]] = []
    for keyword in call.keywords:
        if keyword.arg is None:
            spread = evaluator.value(keyword.value)
            if isinstance(spread, ArgsNamespace):
                spread = spread.defaults
            if not isinstance(spread, dict):
                return None
            keywords.extend(spread.items())
        else:
            keywords.append((keyword.arg, evaluator.value(keyword.value)))
    bound = _bind(args, keywords, params)
    if bound is None:
        return None
    return CallSite(source.where(call), *bound, _reaches_optimizer(source, call),
                    source.is_test, source.is_docs, _enclosing_model_class(source, call))


def _bind(args: list[Any], keywords: Iterable[tuple[Any, Any]], params: list[Param]
          ) -> tuple[dict[str, Any], list[Any], list[tuple[str, bool]]] | None:
    """Values bound to ``params`` by name, the ones beyond them (``*args``) and the order they
    were given in; None when they cannot fit the signature."""
    positional_params = [p for p in params if p.kind == "positional"]
    accepts_var_positional = any(p.kind == "var_positional" for p in params)
    accepts_var_keyword = any(p.kind == "var_keyword" for p in params)
    names = {p.name for p in params if p.kind in ("positional", "keyword")}
    values: dict[str, Any] = {}
    given: list[tuple[str, bool]] = []
    extra: list[Any] = []
    for index, value in enumerate(args):
        if index < len(positional_params):
            values[positional_params[index].name] = value
            given.append((positional_params[index].name, True))
        elif accepts_var_positional:
            extra.append(value)
        else:
            return None
    for name, value in keywords:
        if not isinstance(name, str) or name in values or (name not in names and not accepts_var_keyword):
            return None
        values[name] = value
        given.append((name, False))
    return values, extra, given


def _enclosing_model_class(source: Source, call: ast.Call) -> str | None:
    """The name of the nn.Module class whose body makes ``call`` (the class is one of its parts)."""
    current = source.evaluator._parents.get(call)
    while current is not None:
        if isinstance(current, ast.ClassDef):
            return current.name if _is_model_class(current) else None
        current = source.evaluator._parents.get(current)
    return None


def _is_model_class(node: ast.ClassDef) -> bool:
    return any("Module" in _base_name(b) for b in node.bases) or any(
        isinstance(s, ast.FunctionDef) and s.name == "forward" for s in node.body)


def _reaches_optimizer(source: Source, call: ast.Call) -> bool:
    """``model = Cls(...)`` (or ``Cls(...).to(device)``, ``self.model = Cls(...)``) and, in the same
    file, ``SomeOptimizer(model.parameters(), ...)``."""
    evaluator = source.evaluator
    node: ast.AST = call
    parent = evaluator._parents.get(node)
    while isinstance(parent, (ast.Attribute, ast.Call)) and (
            isinstance(parent, ast.Attribute) or parent.func is node):
        node, parent = parent, evaluator._parents.get(parent)
    if not isinstance(parent, (ast.Assign, ast.AnnAssign)):
        return False
    targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
    names = {t.id for t in targets if isinstance(t, ast.Name)}
    names |= {t.attr for t in targets if isinstance(t, ast.Attribute)}  # self.model = Cls(...)
    if not names:
        return False
    for other in ast.walk(source.tree):  # the optimizer is often built in a train() it is passed to
        if not isinstance(other, ast.Call) or other is call:
            continue
        func = _call_name(other) or ""
        if not (func[:1].isupper() or "optim" in func.lower()):
            continue
        for argument in [*other.args, *(k.value for k in other.keywords)]:
            for inner in ast.walk(argument):
                if (isinstance(inner, ast.Call) and _call_name(inner) in ("parameters", "named_parameters")
                        and isinstance(inner.func, ast.Attribute)):
                    owner = inner.func.value
                    owner_name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else None
                    if owner_name in names:
                        return True
    return False


# --------------------------------------------------------------------------------- placeholders

# (pattern on the parameter's name, value, role): the documented stand-ins for sizes that no
# expression in the project gives (README, "Declaring models and inputs"). First match wins.
PLACEHOLDER_ROLES: tuple[tuple[str, int, str], ...] = (
    # an index into a vocabulary (`pad_idx = vocab.stoi["<pad>"]`, `eos_token_id`), not a size:
    # 0 is a valid row of every embedding
    (r"(^|_)(idx|index)$|_id$", 0, "token index"),
    (r"vocab|^n_?tokens?$|^num_tokens$|^ntokens?$|^n_?words$|^num_embeddings$|^n_?symbols$|^n_?char(acter)?s$|alphabet",
     1000, "vocabulary size"),
    (r"class|label|^n_?out(puts?)?$|^num_outputs$|^n_?targets$|categor", 10, "number of classes"),
    (r"layer|depth|blocks$", 2, "number of layers"),
    (r"head", 4, "number of attention heads"),
    (r"block_size|seq_?len|max_?len|context|n_?ctx|position|window", 128, "sequence length"),
    (r"image_size|img_size|resolution", 32, "image size"),
    (r"patch", 4, "patch size"),
    (r"multiple_of", 32, "size multiple"),
    (r"chan|^in_?ch|^c_?in$", 3, "input channels"),
    (r"dim|size|hidden|width|emb|feat|^n_?inp$|^n_?hid$|^n_?in$|units|d_model|d_ff|^ninp$|^nhid$", 64, "size"),
)
_NUMERIC_ANNOTATIONS = {None, "int", "builtins.int", "typing.Optional[int]", "Optional[int]", "int | None"}


def placeholder_for(param: Param, source: str = "") -> Placeholder | None:
    """The stand-in for a size parameter no expression gives, or None when its role is unknown."""
    if param.annotation not in _NUMERIC_ANNOTATIONS:
        return None
    name = param.name.lower()
    for pattern, value, role in PLACEHOLDER_ROLES:
        if re.search(pattern, name):
            return Placeholder(value, role, source)
    return None


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
