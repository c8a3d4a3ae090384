"""Every rule carries two tiny example files (its ``invalid`` and ``valid`` class attributes): with
only that rule selected, the invalid one gives exactly the findings marked on its lines
(``# expect: CODE severity``, as the fixtures mark them), the valid one gives nothing, and the
models in both were checked, not skipped. All of them run in one ``gradlint.lint`` call."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from test_fixtures import EXPECT, ITEM

import gradlint
from gradlint.core.findings import CHECKED
from gradlint.rules import ALL_RULES


def marked(source: str) -> list[tuple[int, str, str]]:
    """``(line, code, severity)`` of every ``# expect:`` mark in ``source``."""
    found = []
    for number, line in enumerate(source.splitlines(), start=1):
        match = EXPECT.search(line)
        for item in match.group(1).split(",") if match else ():
            parsed = ITEM.match(item.strip())
            assert parsed, f"line {number}: cannot parse expectation {item!r}"
            found.append((number, parsed[1], parsed[2]))
    return sorted(found)


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    """Each example in a project of its own whose configuration selects only its rule; the
    path and the linted result of each, by (code, "invalid" | "valid")."""
    root = tmp_path_factory.mktemp("examples")
    paths = {}
    for rule in ALL_RULES:
        for kind in ("invalid", "valid"):
            project = root / f"{rule.code}_{kind}"
            project.mkdir()
            (project / "pyproject.toml").write_text(f'[tool.gradlint]\nselect = ["{rule.code}"]\n')
            paths[rule.code, kind] = project / "example.py"
            paths[rule.code, kind].write_text(textwrap.dedent(getattr(rule, kind)))
    report = gradlint.lint([str(p) for p in paths.values()], jobs=2)
    results = {Path(r.path).resolve(): r for r in report.files}
    return {key: (path, results[path.resolve()]) for key, path in paths.items()}


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda rule: rule.code)
def test_a_rules_invalid_example_gets_its_finding_and_the_valid_one_none(rule, examples):
    assert "invalid" in vars(rule) and "valid" in vars(rule), f"{rule.code} has no examples of its own"
    bad_path, bad = examples[rule.code, "invalid"]
    good_path, good = examples[rule.code, "valid"]
    expected = marked(bad_path.read_text())
    assert expected and {code for _, code, _ in expected} == {rule.code}, \
        f"{rule.code}'s invalid example marks no finding of its own: {expected}"
    assert not marked(good_path.read_text())
    found = sorted((f.location.line, f.code, str(f.severity)) for f in bad.findings)
    assert found == expected, f"{rule.code} invalid example: {[f.message for f in bad.findings]}"
    assert good.findings == [], f"{rule.code} valid example: {[f.message for f in good.findings]}"
    for result in (bad, good):
        assert not result.problems, [p.message for p in result.problems]
        # a model rule's examples are models, and each was checked: traced and probed
        if rule.scope == "model":
            assert result.model_status, f"{result.path}: no model found"
        skipped = [(s.name, s.status, s.why) for s in result.model_status if s.status != CHECKED]
        assert not skipped, f"{result.path}: not checked: {skipped}"
