"""SARIF 2.1.0 for GitHub code scanning: rules described from their docs, results with
repository-relative locations and stable fingerprints."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TextIO

from gradlint.core import __version__
from gradlint.core.findings import jsonable
from gradlint.core.findings import Report

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def write(report: Report, out: TextIO) -> None:
    from gradlint.rules import ALL_RULES

    rules = [
        {
            "id": rule.code,
            "name": rule.name,
            "shortDescription": {"text": rule.summary},
            "fullDescription": {"text": rule.docs()},
            "help": {"text": rule.docs(), "markdown": rule.docs()},
            "defaultConfiguration": {"level": _LEVEL[str(rule.severity)]},
            "properties": {"tags": ["gradient-flow"]},
        }
        for rule in ALL_RULES
    ]
    index = {rule.code: i for i, rule in enumerate(ALL_RULES)}
    results = []
    for finding in report.findings:
        loc = finding.location
        region = {"startLine": loc.line, "startColumn": loc.col}
        if loc.end_line:
            region.update(endLine=loc.end_line, endColumn=max(loc.end_col or loc.col, 1))
        probe = f" — {finding.probe.text}" if finding.probe else ""
        location = {"physicalLocation": {"artifactLocation": _artifact(loc.path), "region": region}}
        if loc.cell is not None:  # a notebook: the region's lines are within this code cell
            location["properties"] = {"cell": loc.cell}
        results.append({
            "ruleId": finding.code,
            "ruleIndex": index[finding.code],
            "level": _LEVEL[str(finding.severity)],
            "message": {"text": f"{finding.message}{probe} [fix: {finding.fix}]"},
            "locations": [location],
            "partialFingerprints": {"gradlint/v1": finding.fingerprint},
            "properties": {"model": finding.model, "node": finding.node, "static_d": finding.static_d,
                           "measured_d": finding.probe.measured_d if finding.probe else None},
        })
    notifications = [
        {"level": "error", "message": {"text": f"{p.path}: {p.message}"}} for p in report.problems
    ]
    document = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "gradlint", "version": __version__, "rules": rules}},
            "results": results,
            "invocations": [{"executionSuccessful": not report.problems,
                             "toolExecutionNotifications": notifications}],
        }],
    }
    json.dump(jsonable(document), out, indent=2, allow_nan=False)
    out.write("\n")


def _artifact(path: str) -> dict:
    """Paths under the working directory (the repository root in CI) are relative to %SRCROOT%."""
    if os.path.isabs(path):
        return {"uri": Path(path).as_uri()}
    return {"uri": Path(path).as_posix(), "uriBaseId": "%SRCROOT%"}
