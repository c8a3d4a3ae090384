"""How the project builds a model class: its call sites, evaluated statically (no torch here).

``Evaluator`` computes the value of a Python expression from source alone: literals and
containers, names assigned earlier in the same scope (or at module level), arithmetic on them,
function parameter defaults, ``args.x`` through the file's argparse ``add_argument`` defaults,
and config objects built in the same scope (``GPTConfig(n_layer=4)``, ``dict(...)``,
``Config(**kwargs)``). Whatever it cannot compute is an ``Unresolved`` value, never a guess.
It is four evaluators in one: expressions (gradlint.source.evaluate), names in their scopes
(gradlint.source.scopes), argparse defaults (gradlint.source.argparse_values) and config classes
(gradlint.source.config_files); the values they give are gradlint.source.values.

``Project`` finds the calls of a class in every Python file of a project and in the ```python
blocks of its README*.md and docs/**/*.md (each file read and parsed once), and ``resolve_call``
binds a call's arguments to the constructor's parameters. ``placeholder_for`` gives the documented
stand-in for a size no expression gives (``ntokens = len(corpus.dictionary)``), chosen by the
parameter's role. Building the model (and turning values into real config objects) is
``gradlint.models.load``'s job.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from gradlint.core.findings import display_path
from gradlint.source.argparse_values import ArgparseEvaluator
from gradlint.source.config_files import (  # noqa: F401 (re-exported: the call-site API)
    CONFIG_FACTORIES,
    CONFIG_NAMES,
    CONFIG_SUFFIXES,
    ConfigEvaluator,
    ConfigTarget,
    config_targets,
    names_targets,
)
from gradlint.source.evaluate import ExpressionEvaluator
from gradlint.source.project import project_files
from gradlint.source.scopes import ScopeEvaluator
from gradlint.source.values import (  # noqa: F401 (re-exported: the call-site API)
    MAX_DEPTH,
    ArgsNamespace,
    ConfigValue,
    Placeholder,
    Target,
    Unresolved,
    base_name,
    call_name,
    expr_text,
    is_resolved,
    render,
)
MAX_SCANNED_FILES = 2_000


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


class Evaluator(ExpressionEvaluator, ScopeEvaluator, ArgparseEvaluator, ConfigEvaluator):
    """Static values of expressions in one parsed file (see the module docstring): expressions
    (gradlint.source.evaluate), names in their scopes (gradlint.source.scopes), argparse defaults
    (gradlint.source.argparse_values) and config classes (gradlint.source.config_files)."""


# ----------------------------------------------------------------------------- constructor binding

@dataclasses.dataclass(frozen=True)
class Param:
    """A constructor parameter, as gradlint.models.load reads it from the real signature."""

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
    return any("Module" in base_name(b) for b in node.bases) or any(
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
        func = call_name(other) or ""
        if not (func[:1].isupper() or "optim" in func.lower()):
            continue
        for argument in [*other.args, *(k.value for k in other.keywords)]:
            for inner in ast.walk(argument):
                if (isinstance(inner, ast.Call) and call_name(inner) in ("parameters", "named_parameters")
                        and isinstance(inner.func, ast.Attribute)):
                    owner = inner.func.value
                    owner_name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else None
                    if owner_name in names:
                        return True
    return False


# --------------------------------------------------------------------------------- placeholders

# (pattern on the parameter's name, value, role): the documented stand-ins for sizes that no
# expression in the project gives (docs/models-and-inputs.md). First match wins.
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
