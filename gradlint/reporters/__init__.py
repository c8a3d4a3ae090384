"""One renderer per output format. Reporters know findings, never rules' internals."""

from __future__ import annotations

from collections import Counter
from typing import TextIO

from gradlint.runner import Report

FORMATS = ("text", "json", "sarif", "github")


def render(report: Report, output_format: str, out: TextIO) -> None:
    if output_format == "json":
        from gradlint.reporters.json_format import write
    elif output_format == "sarif":
        from gradlint.reporters.sarif import write
    elif output_format == "github":
        from gradlint.reporters.github import write
    else:
        from gradlint.reporters.text import write
    write(report, out)


def summary(report: Report) -> str:
    findings = report.findings
    counts = Counter(f.severity for f in findings)
    models = sum(len(r.models) for r in report.files)
    where = f"in {plural(models, 'model')} of {plural(len(report.files), 'file')}"
    if findings:
        parts = [plural(counts[s], str(s)) for s in sorted(counts, reverse=True)]
        text = f"Found {plural(len(findings), 'finding')} ({', '.join(parts)}) {where}."
    else:
        text = f"No findings {where}."
    hidden = []
    if report.suppressed:
        hidden.append(f"{report.suppressed} suppressed")
    if report.baselined:
        hidden.append(f"{report.baselined} in the baseline")
    if hidden:
        text = text[:-1] + f" ({', '.join(hidden)})."
    failed = sum(1 for r in report.files if r.problems)
    if failed:
        text += f" {plural(failed, 'file')} could not be fully checked."
    return text


def statistics(report: Report) -> list[str]:
    """Findings per code, most frequent first (as ruff --statistics prints them)."""
    counts = Counter((f.code, f.name) for f in report.findings)
    return [f"{count:>5}  {code}  {name}" for (code, name), count in
            sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def plural(count: int, word: str) -> str:
    if count == 1:
        return f"1 {word}"
    return f"{count} {word}s"
