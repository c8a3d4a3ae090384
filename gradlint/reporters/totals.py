"""The lines around any output format: the summary, what the run reached (models found and
checked), the line for checks that did not run, and findings per code."""

from __future__ import annotations

import re
from collections import Counter

from gradlint.core.findings import CHECKED, Report, Severity


def summary(report: Report, *, show_info: bool = True) -> str:
    """``Found 3 findings (1 error, 2 infos) in 2 files: 4 models found, 3 checked, 1 not checked
    (1 structure-only).``: how much of the project gradlint reached, at a glance."""
    findings = report.findings
    counts = Counter(f.severity for f in findings)
    files = plural(len(report.files), "file")
    if findings:
        parts = [plural(counts[s], str(s)) for s in sorted(counts, reverse=True)
                 if show_info or s > Severity.INFO]
        inner = ", ".join(parts)
        if not show_info and counts[Severity.INFO]:
            inner += ("; " if inner else "") + f"{plural(counts[Severity.INFO], 'info')}, listed with --show-info"
        text = f"Found {plural(len(findings), 'finding')} ({inner}) in {files}"
    else:
        text = f"No findings in {files}"
    hidden = []
    if report.suppressed:
        hidden.append(f"{report.suppressed} suppressed")
    if report.baselined:
        hidden.append(f"{report.baselined} in the baseline")
    if hidden:
        text += f" ({', '.join(hidden)})"
    text += ": " + reached(report) + "."
    failed = sum(1 for r in report.files if r.problems)
    if failed:
        text += f" {plural(failed, 'file')} could not be fully checked."
    return text


# The per-model note (verbose-only, and in JSON) that GL701 writes when it has no optimizer to
# dry-run: "model `Net`: GL701 dry run skipped: <why>".
_DRY_RUN_SKIPPED = re.compile(r"^model `[^`]*`: GL701 dry run skipped: ")


def skipped_line(report: Report) -> str | None:
    """One line for the whole run when GL701's dry run did not run for some models for want of
    an optimizer (each model's reason is a -v note): a check that did not run must say so, but
    not once per model file without training code."""
    count = sum(1 for r in report.files for n in r.notes if n.detail and _DRY_RUN_SKIPPED.match(n.message))
    if not count:
        return None
    # the reasons differ (none found; several, none naming the model; an lr read at run time):
    # what they share is that gradlint cannot tell which optimizer trains the model
    return (f"GL701 dry run not run for {plural(count, 'model')}: which optimizer and learning rate "
            f"train {'them' if count > 1 else 'it'} is not known (set `optimizer` and `lr` in "
            "[tool.gradlint], or run `gradlint run -- python train.py`; -v gives each model's reason)")


def reached(report: Report) -> str:
    """``4 models found, 3 checked, 1 not checked (1 structure-only)``."""
    found = sum(len(r.models) for r in report.files)
    statuses = Counter(m.status for r in report.files for m in r.model_status)
    checked = statuses.pop(CHECKED, 0)
    text = f"{plural(found, 'model')} found, {checked} checked"
    if found > checked:
        detail = ", ".join(f"{count} {status}" for status, count in sorted(statuses.items(), key=lambda i: -i[1]))
        text += f", {found - checked} not checked" + (f" ({detail})" if detail else "")
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
