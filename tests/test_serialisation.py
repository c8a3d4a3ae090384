"""Every number a finding carries reaches every output format, whatever its value: a float that is
not finite is ``null`` in JSON and SARIF (the message keeps ``inf``/``-inf``/``nan``), and no
output format ever crashes on one."""

from __future__ import annotations

import io
import json
import math

from hypothesis import given
from hypothesis import strategies as st

from gradlint import reporters
from gradlint.core.findings import FileResult, Finding, Location, ProbeVerdict, jsonable
from gradlint.core.findings import Report
from gradlint.rules import ALL_RULES

from conftest import run_cli

# the ways rules format their numbers in message templates
LABELS = {"a": "plain", "b": "fixed", "c": "sci", "d": "general", "e": "share"}
TEMPLATE = "plain {a} fixed {b:.2f} sci {c:.1e} general {d:.2g} share {e:.0%}"
NUMBER_ARGS = tuple(LABELS)


def strict_loads(text: str):
    """json.loads that refuses NaN/Infinity, as every JSON parser but Python's does."""
    def refuse(constant: str):
        raise AssertionError(f"non-JSON constant {constant} in the output")
    return json.loads(text, parse_constant=refuse)


def number_text(value: float) -> str:
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


special = st.sampled_from([math.inf, -math.inf, math.nan])
any_float = st.one_of(special, st.floats(allow_nan=True, allow_infinity=True))
maybe_float = st.one_of(st.none(), any_float)


@st.composite
def findings(draw) -> Finding:
    rule = draw(st.sampled_from(ALL_RULES))()
    args = {name: draw(any_float) for name in NUMBER_ARGS}
    finding = rule.make(Location("model.py", draw(st.integers(1, 10**6)), draw(st.integers(1, 500))),
                        TEMPLATE, args, model="Net", node="fc", span=("fc", "out"))
    finding = Finding(**{**finding.__dict__, "static_d": draw(maybe_float)})  # make() rounds it
    if draw(st.booleans()):
        finding = finding.with_probe(ProbeVerdict(draw(st.booleans()), draw(maybe_float), "probe measured"))
    return finding


@st.composite
def reports(draw) -> Report:
    listed = draw(st.lists(findings(), min_size=1, max_size=6))
    flows = [{"model": "Net", "labels": ["fc", "out"], "findings": [f.code for f in listed],
              "predicted": draw(st.lists(maybe_float, min_size=2, max_size=2)),
              "measured": draw(st.lists(maybe_float, min_size=2, max_size=2))}]
    return Report([FileResult("model.py", models=["Net"], findings=listed, flows=flows)])


def render(report: Report, output_format: str) -> str:
    out = io.StringIO()
    reporters.render(report, output_format, out)
    return out.getvalue()


def expected(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


@given(reports())
def test_every_output_format_writes_every_number(report: Report) -> None:
    by_format = {fmt: render(report, fmt) for fmt in reporters.FORMATS}
    # text and github carry the numbers in the message, in Python's text form
    for finding in report.findings:
        for name in NUMBER_ARGS:
            value = finding.args[name]
            if not math.isfinite(value):
                percent = "%" if name == "e" else ""
                assert f"{LABELS[name]} {number_text(value)}{percent}" in finding.message
        assert finding.message in by_format["text"]
    assert len(by_format["github"].splitlines()) == len(report.findings)
    assert reporters.statistics(report)

    document = strict_loads(by_format["json"])
    written = document["files"][0]["findings"]
    assert len(written) == len(report.findings)
    for finding, entry in zip(report.findings, written):
        assert entry["message"] == finding.message
        assert entry["static_d"] == expected(finding.static_d)
        assert entry["args"] == {k: expected(v) for k, v in finding.args.items()}
        if finding.probe is not None:
            assert entry["probe"]["measured_d"] == expected(finding.probe.measured_d)
    flow = document["files"][0]["flows"][0]
    assert flow["measured"] == [expected(v) for v in report.files[0].flows[0]["measured"]]

    sarif = strict_loads(by_format["sarif"])
    results = sarif["runs"][0]["results"]
    assert [r["properties"]["static_d"] for r in results] == [expected(f.static_d) for f in report.findings]
    assert [r["properties"]["measured_d"] for r in results] == \
           [expected(f.probe.measured_d) if f.probe else None for f in report.findings]


@given(reports())
def test_worker_transport_and_cache_keep_non_finite_numbers(report: Report) -> None:
    """A worker's result crosses a pipe as JSON (and the cache keeps it so); the numbers must
    come back as they were, so the parent prints the same message a direct run would."""
    result = report.files[0]
    back = FileResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert [f.message for f in back.findings] == [f.message for f in result.findings]
    assert json.dumps(jsonable(back.to_dict()), allow_nan=False) == \
           json.dumps(jsonable(result.to_dict()), allow_nan=False)


def test_jsonable_types() -> None:
    assert jsonable({"x": (1.0, math.inf), 2: [math.nan, -math.inf, True, None, "s"]}) == \
        {"x": [1.0, None], "2": [None, None, True, None, "s"]}
    assert jsonable(ALL_RULES[0].severity) == str(ALL_RULES[0].severity)


DEAD_MIDDLE = """\
import torch
from torch import nn


class DeadMiddle(nn.Module):
    def __init__(self):
        super().__init__()
        layers = []
        for _ in range(24):
            layers += [nn.Linear(32, 32), nn.ReLU()]
        self.net = nn.Sequential(*layers)
        with torch.no_grad():
            self.net[24].bias.fill_(-100.0)  # the 13th layer outputs 0 for every input

    def forward(self, x):
        return self.net(x)
"""


def test_dead_middle_layer_json_and_sarif_through_the_cli(write) -> None:
    """The issue's crash: a deep ReLU stack whose middle layer is dead measures a gradient ratio
    of exactly 0 (log10 = -inf) over GL401's path."""
    path = write("dead_middle.py", DEAD_MIDDLE)
    text = run_cli(str(path), "--output-format", "json", cwd=path.parent)
    assert text.returncode == 1, text.stderr
    assert "Traceback" not in text.stderr
    document = strict_loads(text.stdout)
    gl401 = [f for f in document["files"][0]["findings"] if f["code"] == "GL401"]
    assert len(gl401) == 1
    assert gl401[0]["probe"]["measured_d"] is None
    assert gl401[0]["probe"]["confirmed"] is True
    assert "gradient across the path is 0 " in gl401[0]["probe"]["text"]
    assert gl401[0]["static_d"] < -8  # the finite prediction is written as a number

    sarif = run_cli(str(path), "--output-format", "sarif", cwd=path.parent)
    assert sarif.returncode == 1, sarif.stderr
    results = strict_loads(sarif.stdout)["runs"][0]["results"]
    assert [r["properties"]["measured_d"] for r in results if r["ruleId"] == "GL401"] == [None]
