"""gradlint's rules, one module each (installed as ``gradlint.rules``).

Adding a rule means adding one module here: every ``Rule`` subclass defined in a module of this
package is found, listed by code, and run after the rules named in its ``explained_by``.
"""

from __future__ import annotations

import graphlib
import importlib
import inspect
import pkgutil
from collections.abc import Iterable

from gradlint.check.rule import Rule


def _discover() -> tuple[type[Rule], ...]:
    found: list[type[Rule]] = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.extend(obj for _, obj in inspect.getmembers(module, inspect.isclass)
                     if issubclass(obj, Rule) and obj is not Rule and obj.__module__ == module.__name__)
    codes = [rule.code for rule in found]
    duplicates = sorted({code for code in codes if codes.count(code) > 1})
    if duplicates:
        raise ImportError(f"gradlint.rules: two rules share the code {', '.join(duplicates)}")
    return tuple(sorted(found, key=lambda rule: rule.code))


ALL_RULES = _discover()
RULES_BY_CODE = {rule.code: rule for rule in ALL_RULES}


def run_order(rules: Iterable[Rule]) -> list[Rule]:
    """The rules in an order where each runs after every rule its ``explained_by`` names, so it
    sees their findings (ties broken by code, so the order is stable).

    >>> [r.code for r in run_order([RULES_BY_CODE["GL203"](), RULES_BY_CODE["GL202"]()])]
    ['GL202', 'GL203']
    """
    by_code = {rule.code: rule for rule in rules}
    sorter = graphlib.TopologicalSorter(
        {code: [c for c in rule.explained_by if c in by_code] for code, rule in by_code.items()})
    sorter.prepare()
    ordered: list[Rule] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        ordered.extend(by_code[code] for code in ready)
        sorter.done(*ready)
    return ordered


def markdown_table() -> str:
    """The README's rule table, written from the rule files."""
    rows = ["| code | name | default | what it flags |", "|---|---|---|---|"]
    rows += [f"| {r.code} | {r.name} | {r.severity} | {r.summary} |" for r in ALL_RULES]
    return "\n".join(rows)
