"""``path:line:col: CODE severity: message — probe verdict [fix: ...]``, one finding per line
(``notebook.ipynb:cell N:line:col: ...`` in a notebook)."""

from __future__ import annotations

from typing import TextIO

from gradlint.core.findings import Finding, Severity
from gradlint.core.findings import Report


def finding_line(finding: Finding, show_model: bool) -> str:
    loc = finding.location
    model = f" (model `{finding.model}`)" if show_model and finding.model else ""
    probe = f" — {finding.probe.text}" if finding.probe else ""
    cell = f"cell {loc.cell}:" if loc.cell is not None else ""  # a notebook's cell, as ruff shows it
    return (f"{loc.path}:{cell}{loc.line}:{loc.col}: {finding.code} {finding.severity}: "
            f"{finding.message}{model}{probe} [fix: {finding.fix}]")


def write(report: Report, out: TextIO, *, show_info: bool = True) -> None:
    """One line per finding; info-level ones only with ``show_info`` (-v, --show-info)."""
    for result in report.files:
        several = len(result.models) > 1
        for finding in result.findings:
            if show_info or finding.severity > Severity.INFO:
                out.write(finding_line(finding, several) + "\n")
