"""JSON output, schema version 1 (documented in docs/cli.md, stable within a major version).

{"version": 1, "summary": str,
 "files": [{"path", "models": [str],
            "findings": [{"code", "name", "severity", "message", "template", "args", "fix",
                          "location": {"path", "line", "col", "end_line", "end_col",
                                       "cell"},  # cell: a notebook's code cell (from 1), else null
                          "model", "node", "span", "static_d", "fingerprint",
                          "probe": null | {"confirmed", "measured_d", "text"}}],
            # a number that is not finite (±inf, NaN) is null; the message keeps its text
            "problems": [{"path", "message", "model"}],
            "notes": [{"path", "message", "model", "detail"}],
            "model_status": [{"name", "status", "line", "built_from", "placeholders", "inputs_from",
                              "tracer", "coverage", "nodes", "seconds", "why",
                              "span": null | {"start", "end", "layers_in_span", "layers_in_model", "layers_outside", "layers_measured_outside"},
                              "span_note"}]}],
 "fixes": [...]}   # only with --fix: {"code", "path", "line", "title", "safe", "verified",
                   #   "applied", "before", "after", "reason", "edits": [{"path", "line", "col",
                   #   "end_line", "end_col", "text"}]}  (docs/fix.md)

``status`` is "checked" (traced and probed), "partly traced" (probed, under 90% of the
parameters traced: ``why``), "partly analysed" (probed, the gain of under 90% of the weight layers
predicted over the main span or measured outside it: ``why`` names the others), "structure-only"
(traced, not probed: ``why``),
"not traced", "not built" or "failed" (timed out, or gradlint's own error).

A model's ``span`` is its main span (the whole-model gain rules judge it) and how many of its
weight layers lie in it (``layers_measured_outside``: those outside it whose gradient the probe
measured, judged by GL102/GL202 from the measurement alone); without one, ``span_note`` says why
(and those rules judge the measured layers only).
"""

from __future__ import annotations

import json
from typing import TextIO

from gradlint.core.findings import jsonable
from gradlint.core.findings import Report

SCHEMA_VERSION = 1


def write(report: Report, out: TextIO) -> None:
    from gradlint.reporters.totals import summary

    files = []
    for result in report.files:
        data = result.to_dict()
        for finding, entry in zip(result.findings, data["findings"]):
            entry["fingerprint"] = finding.fingerprint
        files.append(data)
    document = {"version": SCHEMA_VERSION, "files": files, "summary": summary(report)}
    if report.fixes:
        document["fixes"] = report.fixes
    json.dump(jsonable(document), out, indent=2, sort_keys=True, allow_nan=False)
    out.write("\n")
