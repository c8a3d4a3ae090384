"""Reporters: turn a Report into text for people or JSON for tools. They know no rule."""

from __future__ import annotations

import json
from collections import Counter
from typing import TextIO

from gradlint.findings import Finding, Severity
from gradlint.runner import Report

JSON_SCHEMA_VERSION = 1


def finding_line(finding: Finding, show_model: bool) -> str:
    loc = finding.location
    model = f" (model `{finding.model}`)" if show_model and finding.model else ""
    probe = f" — {finding.probe.text}" if finding.probe else ""
    return (f"{loc.path}:{loc.line}:{loc.col}: {finding.code} {finding.severity}: "
            f"{finding.message}{model}{probe} [fix: {finding.fix}]")


def write_text(report: Report, out: TextIO, err: TextIO, quiet: bool = False, verbose: bool = False) -> None:
    for result in report.files:
        several = len(result.models) > 1
        for finding in result.findings:
            out.write(finding_line(finding, several) + "\n")
    for result in report.files:
        for problem in result.problems:
            err.write(f"{problem.path}: error: {problem.message}\n")
        if not quiet:
            for note in result.notes:
                if verbose or not note.detail:
                    err.write(f"{note.path}: note: {note.message}\n")
    if not quiet:
        err.write(summary(report) + "\n")


def summary(report: Report) -> str:
    findings = report.findings
    counts = Counter(f.severity for f in findings)
    models = sum(len(r.models) for r in report.files)
    files = len(report.files)
    where = f"in {_plural(models, 'model')} of {_plural(files, 'file')}"
    if findings:
        parts = [_plural(counts[s], str(s)) for s in sorted(counts, reverse=True)]
        text = f"Found {_plural(len(findings), 'finding')} ({', '.join(parts)}) {where}."
    else:
        text = f"No findings {where}."
    failed = sum(1 for r in report.files if r.problems)
    if failed:
        text += f" {_plural(failed, 'file')} could not be fully checked."
    return text


def write_json(report: Report, out: TextIO) -> None:
    document = {
        "version": JSON_SCHEMA_VERSION,
        "files": [result.to_dict() for result in report.files],
        "summary": summary(report),
    }
    json.dump(document, out, indent=2, sort_keys=True, allow_nan=False)
    out.write("\n")


def exit_code(report: Report, fail_level: Severity = Severity.WARNING) -> int:
    if report.problems:
        return 2
    return 1 if any(f.severity >= fail_level for f in report.findings) else 0


def _plural(count: int, word: str) -> str:
    if count == 1:
        return f"1 {word}"
    irregular = {"error": "errors", "warning": "warnings", "info": "infos"}
    return f"{count} {irregular.get(word, word + 's')}"
