"""Expressions evaluated from source alone: literals and containers, arithmetic, attribute and
item access, builtin calls, function parameter defaults, the value a function returns, and config
objects built in the same scope. Names are looked up by ``ScopeEvaluator`` (gradlint.source.scopes),
``args.x`` by ``ArgparseEvaluator``, config classes by ``ConfigEvaluator``: ``Evaluator``
(gradlint.source.callsites) is all four."""

from __future__ import annotations

import ast
import importlib
import operator
from typing import Any

from gradlint.source.config_files import CONFIG_FACTORIES
from gradlint.source.values import (
    MAX_DEPTH,
    ArgsNamespace,
    Binding,
    ConfigValue,
    Unresolved,
    call_name,
    expr_text,
    is_resolved,
)

BINARY_OPERATORS = {
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


class ExpressionEvaluator:
    """The value of an expression node (see the module docstring); with the other evaluators,
    ``Evaluator``."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self._parents: dict[ast.AST, ast.AST] = {}
        for parent in ast.walk(tree):
            for child in ast.iter_child_nodes(parent):
                self._parents[child] = parent
        self._bindings: dict[ast.AST, dict[str, list[Binding]]] = {}
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
        self._memo[node] = Unresolved(expr_text(node))
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
                        return Unresolved(expr_text(node))
                    items.extend(inner)
                else:
                    items.append(self.value(element))
            if not all(is_resolved(i) for i in items):
                return Unresolved(expr_text(node))
            return tuple(items) if isinstance(node, ast.Tuple) else set(items) if isinstance(node, ast.Set) else items
        if isinstance(node, ast.Dict):
            result: dict[Any, Any] = {}
            for key, item in zip(node.keys, node.values):
                if key is None:
                    inner = self.value(item)
                    if not isinstance(inner, dict):
                        return Unresolved(expr_text(node))
                    result.update(inner)
                else:
                    result[self.value(key)] = self.value(item)
            return result if all(is_resolved(k) for k in result) else Unresolved(expr_text(node))
        if isinstance(node, ast.Name):
            return self._name(node.id, node)
        if isinstance(node, ast.Attribute):
            return self._attribute(node)
        if isinstance(node, ast.Subscript):
            base = self.value(node.value)
            index = self.value(node.slice)
            if not is_resolved(base) or not is_resolved(index) or isinstance(base, (ConfigValue, ArgsNamespace)):
                return Unresolved(expr_text(node))
            return base[index]
        if isinstance(node, ast.BinOp) and type(node.op) in BINARY_OPERATORS:
            left, right = self.value(node.left), self.value(node.right)
            if isinstance(left, Unresolved) or isinstance(right, Unresolved):
                return Unresolved(expr_text(node))
            if isinstance(node.op, ast.Pow) and isinstance(right, (int, float)) and abs(right) > 64:
                return Unresolved(expr_text(node))  # never compute a huge number
            return BINARY_OPERATORS[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            operand = self.value(node.operand)
            return Unresolved(expr_text(node)) if isinstance(operand, Unresolved) else _UNARY[type(node.op)](operand)
        if isinstance(node, ast.BoolOp):
            result = None
            for item in node.values:
                result = self.value(item)
                if isinstance(result, Unresolved):
                    return Unresolved(expr_text(node))
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
                    return Unresolved(expr_text(node))
                if not _COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.IfExp):
            test = self.value(node.test)
            if isinstance(test, Unresolved):
                return Unresolved(expr_text(node))
            return self.value(node.body if test else node.orelse)
        if isinstance(node, ast.Call):
            return self._call(node)
        return Unresolved(expr_text(node))

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
        return Unresolved(expr_text(node))

    def _may_be_args(self, name: ast.Name) -> bool:
        """A name that may hold parsed arguments: a parameter, an import, or a call's result
        (`args = parser.parse_args()`, `opt = get_options()`), not a literal or a container."""
        binding = self._lookup(name.id, name)
        return binding is None or binding.kind in ("param", "opaque") or isinstance(binding.node, ast.Call)

    def _call(self, node: ast.Call) -> Any:
        name = call_name(node)
        if name in ("parse_args",) and isinstance(node.func, ast.Attribute):
            return ArgsNamespace(dict(self.argparse_defaults()))
        args = [self.value(a) for a in node.args if not isinstance(a, ast.Starred)]
        if any(isinstance(a, ast.Starred) for a in node.args):
            return Unresolved(expr_text(node))
        kwargs: dict[str, Any] = {}
        for keyword in node.keywords:
            if keyword.arg is None:
                spread = self.value(keyword.value)
                if isinstance(spread, ArgsNamespace):
                    spread = spread.defaults
                if not isinstance(spread, dict) or not all(isinstance(k, str) for k in spread):
                    return Unresolved(expr_text(node))
                kwargs.update(spread)
            else:
                kwargs[keyword.arg] = self.value(keyword.value)
        if isinstance(node.func, ast.Name):
            if node.func.id == "dict" and not self._shadowed(node.func):
                if args:
                    if len(args) != 1 or not isinstance(args[0], dict):
                        return Unresolved(expr_text(node))
                    return {**args[0], **kwargs}
                return kwargs
            if node.func.id == "vars" and len(args) == 1 and isinstance(args[0], ArgsNamespace):
                return dict(args[0].defaults)
            if node.func.id in _BUILTINS and not self._shadowed(node.func):
                if kwargs or not all(is_resolved(a) for a in args):
                    return Unresolved(expr_text(node))
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
            # the arguments; gradlint.models.load builds the real class at import time
            return ConfigValue(node.func.id, kwargs, {}, args)
        return Unresolved(expr_text(node))

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
