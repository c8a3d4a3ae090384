"""GitHub Actions workflow commands: one annotation per finding and per problem.

https://docs.github.com/actions/using-workflows/workflow-commands-for-github-actions
"""

from __future__ import annotations

from typing import TextIO

from gradlint.core.findings import Report

_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def write(report: Report, out: TextIO) -> None:
    for finding in report.findings:
        loc = finding.location
        properties = [f"file={escape_property(loc.path)}", f"line={loc.line}", f"col={loc.col}"]
        if loc.end_line:
            properties += [f"endLine={loc.end_line}", f"endColumn={loc.end_col}"]
        properties.append(f"title={escape_property(f'{finding.code} {finding.name}')}")
        probe = f" — {finding.probe.text}" if finding.probe else ""
        cell = f"cell {loc.cell}, line {loc.line}: " if loc.cell is not None else ""
        message = f"{cell}{finding.message}{probe} [fix: {finding.fix}]"
        out.write(f"::{_LEVEL[str(finding.severity)]} {','.join(properties)}::{escape_data(message)}\n")
    for problem in report.problems:
        out.write(f"::error file={escape_property(problem.path)},title=gradlint::"
                  f"{escape_data(problem.message)}\n")
