"""The examples in the engine's docstrings (graph helpers, passes, call-site evaluation) run."""

from __future__ import annotations

import doctest
import importlib
import re

import pytest

MODULES = [
    "gradlint.tracing.inputs",
    "gradlint.passes.chains",
    "gradlint.passes.moments",
    "gradlint.passes.span",
    "gradlint.passes.topology",
    "gradlint.passes.weights",
    "gradlint.check.rule",
    "gradlint.models.sizing",
    "gradlint.rules",
    "gradlint.rules.gl801_fp16_without_loss_scaling",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no docstring example"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed"


def test_every_module_with_examples_is_listed() -> None:
    from pathlib import Path

    import gradlint
    import gradlint.rules

    roots = [Path(gradlint.__file__).parent, Path(gradlint.rules.__file__).parent]
    found = set()
    for root in roots:
        for path in root.rglob("*.py"):
            if re.search(r"^\s*>>> ", path.read_text(), re.MULTILINE):
                if path.parent == Path(gradlint.rules.__file__).parent:
                    name = "gradlint.rules" + ("" if path.stem == "__init__" else f".{path.stem}")
                else:
                    rel = path.relative_to(roots[0].parent).with_suffix("")
                    name = ".".join(p for p in rel.parts if p != "__init__")
                found.add(name)
    assert found <= set(MODULES), f"docstring examples not run: {sorted(found - set(MODULES))}"
