"""``args.x`` evaluated statically: the defaults of the file's argparse ``add_argument`` calls
(and ``set_defaults``), typed as argparse would type them. Part of ``Evaluator``
(gradlint.source.callsites)."""

from __future__ import annotations

import ast
import functools
from typing import Any

from gradlint.source.values import Unresolved

_ARGPARSE_TYPES = {"int": int, "float": float, "str": str}


class ArgparseEvaluator:
    """The argparse defaults of one file, for ``Evaluator``."""

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
