"""Names resolved statically: every binding of a name in its scope (assignments, item and
attribute updates, augmented assignments, parameters), the branch each runs under, and the value
the last one that surely runs gives. Part of ``Evaluator`` (gradlint.source.callsites)."""

from __future__ import annotations

import ast
import dataclasses
from typing import Any

from gradlint.source.evaluate import BINARY_OPERATORS
from gradlint.source.values import ArgsNamespace, Binding, ConfigValue, Unresolved, target_names

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.Module)
_CONDITIONAL = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.Try, ast.IfExp, ast.Match)


class ScopeEvaluator:
    """Name lookup for ``Evaluator``: the bindings of a name in its scope and its value."""

    # -- names

    def _name(self, name: str, use: ast.AST) -> Any:
        binding = self._lookup(name, use)
        if binding is None:
            return Unresolved(name)
        return self._binding_value(name, binding, use)

    def _lookup(self, name: str, use: ast.AST) -> Binding | None:
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

    def _binding_value(self, name: str, base: Binding, use: ast.AST) -> Any:
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

    def _one_binding(self, name: str, binding: Binding) -> Any:
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

    def _conditional(self, binding: Binding, use: ast.AST) -> bool:
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

    def _apply(self, name: str, value: Any, update: Binding, conditional: bool) -> Any:
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
            return BINARY_OPERATORS[type(update.op)](value, right)
        return value

    def _scopes(self, node: ast.AST) -> list[ast.AST]:
        scopes = []
        current = self._parents.get(node)
        while current is not None:
            if isinstance(current, _SCOPES):
                scopes.append(current)
            current = self._parents.get(current)
        return scopes or [self.tree]

    def _scope_bindings(self, scope: ast.AST) -> dict[str, list[Binding]]:
        if scope in self._bindings:
            return self._bindings[scope]
        found: dict[str, list[Binding]] = {}

        def add(name: str, binding: Binding) -> None:
            found.setdefault(name, []).append(binding)

        if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            arguments = scope.args
            positional = [*arguments.posonlyargs, *arguments.args]
            defaults = [None] * (len(positional) - len(arguments.defaults)) + list(arguments.defaults)
            for arg, default in zip(positional, defaults):
                add(arg.arg, Binding(0, "param", default))
            for arg, default in zip(arguments.kwonlyargs, arguments.kw_defaults):
                add(arg.arg, Binding(0, "param", default))
            for arg in (arguments.vararg, arguments.kwarg):
                if arg is not None:
                    add(arg.arg, Binding(0, "opaque", None))
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
            add(statement.target.id, Binding(line, "aug", statement.value, conditional, op=statement.op))
        elif isinstance(statement, (ast.For, ast.AsyncFor)):
            for name in target_names(statement.target):
                add(name, Binding(line, "opaque", None, conditional + ((id(statement), "target"),)))
        elif isinstance(statement, (ast.With, ast.AsyncWith)):
            for item in statement.items:
                for name in target_names(item.optional_vars) if item.optional_vars else ():
                    add(name, Binding(line, "opaque", None, conditional))
        elif isinstance(statement, (ast.Import, ast.ImportFrom)):
            for alias in statement.names:
                module = alias.name if isinstance(statement, ast.Import) and (alias.asname or "." not in alias.name) else None
                add((alias.asname or alias.name).split(".")[0], Binding(line, "opaque", None, conditional, key=module))
        elif isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            add(statement.name, Binding(line, "opaque", None, conditional))
        for node in ast.walk(statement) if not isinstance(statement, (ast.FunctionDef, ast.ClassDef)) else ():
            if isinstance(node, ast.NamedExpr):
                add(node.target.id, Binding(line, "value", node.value, conditional + ((id(node), "walrus"),)))

    def _collect_target(self, target: ast.AST, value: ast.AST, line: int, conditional: tuple, add) -> None:
        if isinstance(target, ast.Name):
            add(target.id, Binding(line, "value", value, conditional))
        elif isinstance(target, (ast.Tuple, ast.List)):
            if any(isinstance(e, ast.Starred) for e in target.elts):
                for name in target_names(target):
                    add(name, Binding(line, "opaque", None, conditional))
                return
            for index, element in enumerate(target.elts):
                if isinstance(element, ast.Name):
                    add(element.id, Binding(line, "value", value, conditional, index=index))
                else:
                    for name in target_names(element):
                        add(name, Binding(line, "opaque", None, conditional))
        elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
            add(target.value.id, Binding(line, "item", value, conditional, key=target.slice))
        elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
            add(target.value.id, Binding(line, "attr", value, conditional, key=target.attr))
        elif isinstance(target, ast.Attribute):
            # config.model.vocab_size = 65: an update of `config`, along the path (model, vocab_size)
            path, root = [target.attr], target.value
            while isinstance(root, ast.Attribute):
                path.append(root.attr)
                root = root.value
            if isinstance(root, ast.Name):
                add(root.id, Binding(line, "attr", value, conditional, key=tuple(reversed(path))))


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


def _last_base(bindings: list[Binding]) -> Binding:
    """The last binding that gives the name a value (item and aug updates apply on top of it)."""
    for binding in reversed(bindings):
        if binding.kind not in ("item", "aug", "attr"):
            return binding
    return bindings[0]
