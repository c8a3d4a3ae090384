"""Every fixture gives exactly the findings written on its lines, through the real CLI."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from conftest import FIXTURES, ROOT, run_cli

EXPECT = re.compile(r"#\s*expect:\s*(.+)$")
ITEM = re.compile(r"^(GL\d{3})\s+(error|warning|info)(?:\s+in\s+(\S+))?$")
FINDING = re.compile(r"^(?P<path>[^:]+):(?P<line>(?:cell \d+:)?\d+):(?P<col>\d+): (?P<code>GL\d{3}) (?P<severity>error|warning|info): (?P<rest>.*)$")
MODEL = re.compile(r"\(model `([^`]+)`\)")


def fixture_lines(path):
    """``(line, text)`` of a fixture: a notebook's lines are ``cell N:L`` (code cells counted
    from 1, as the text output shows them), so its expectations sit in its cells."""
    if path.suffix == ".ipynb":
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        for number, cell in enumerate(cells, start=1):
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            for line, text in enumerate(source.splitlines(), start=1):
                yield f"cell {number}:{line}", text
    else:
        yield from ((str(n), text) for n, text in enumerate(path.read_text().splitlines(), start=1))


def expectations() -> Counter:
    expected: Counter = Counter()
    # a finding may point into a config file (GL701 at the learning rate a YAML file sets)
    for path in sorted(p for pattern in ("*.py", "*.ipynb", "*.yaml", "*.yml") for p in FIXTURES.rglob(pattern)):
        for number, line in fixture_lines(path):
            match = EXPECT.search(line)
            if not match:
                continue
            for item in match.group(1).split(","):
                parsed = ITEM.match(item.strip())
                assert parsed, f"{path}:{number}: cannot parse expectation {item!r}"
                code, severity, model = parsed.groups()
                expected[(str(path.relative_to(ROOT)), number, code, severity, model)] += 1
    return expected


@pytest.fixture(scope="module")
def fixture_run():
    return run_cli("fixtures", "-j", "2", "--no-cache", "--show-info")


def parse(stdout: str) -> list[dict]:
    findings = []
    for line in stdout.splitlines():
        match = FINDING.match(line)
        assert match, f"unexpected output line: {line}"
        model = MODEL.search(match["rest"])
        findings.append({**match.groupdict(), "model": model.group(1) if model else None, "text": line})
    return findings


def test_every_fixture_gives_exactly_its_expected_findings(fixture_run):
    assert fixture_run.returncode == 1, fixture_run.stderr
    assert " error: " not in fixture_run.stderr, fixture_run.stderr
    expected = expectations()
    found: Counter = Counter()
    for f in parse(fixture_run.stdout):
        key = (f["path"], f["line"], f["code"], f["severity"], f["model"])
        # an expectation without "in <model>" matches a finding from any model of the file
        if key not in expected and (key[:4] + (None,)) in expected:
            key = key[:4] + (None,)
        found[key] += 1
    missing = expected - found
    unexpected = found - expected
    assert not missing and not unexpected, f"missing: {sorted(missing)}\nunexpected: {sorted(unexpected)}"


def test_every_published_case_and_every_rule_is_covered():
    expected = expectations()
    codes = {code for (_, _, code, _, _) in expected}
    assert {"GL101", "GL201", "GL301", "GL401", "GL501"} <= codes
    published = sorted(FIXTURES.glob("published_*.py"))
    assert len(published) >= 12


def test_graph_findings_show_a_measured_probe_verdict(fixture_run):
    for f in parse(fixture_run.stdout):
        if f["code"] in ("GL001", "GL501"):
            continue  # about comments and training code: nothing to measure
        assert re.search(r" — probe (confirmed|did not confirm|measured)[^\[]*\d", f["text"]), f["text"]


def test_findings_point_into_the_users_file_not_into_torch(fixture_run):
    for f in parse(fixture_run.stdout):
        assert f["path"].startswith("fixtures/"), f["text"]


def test_output_is_identical_across_runs(fixture_run):
    subset = ["fixtures/published_relu_30_xavier.py", "fixtures/gl301_loop_rnn.py",
              "fixtures/published_tanh_50_sw.py", "fixtures/published_rnn_default.py"]
    again = run_cli(*subset, "-j", "1", "--no-cache", "--show-info")
    first = [line for line in fixture_run.stdout.splitlines() if line.split(":")[0] in subset]
    assert again.stdout.splitlines() == first
    assert first  # the subset does produce findings
