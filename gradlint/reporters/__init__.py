"""One renderer per output format. Reporters know findings, never rules' internals."""

from __future__ import annotations

from typing import TextIO

from gradlint.core.findings import Report
from gradlint.reporters.totals import plural, reached, skipped_line, statistics, summary  # noqa: F401 (the lines around any format)

FORMATS = ("text", "json", "sarif", "github")


def render(report: Report, output_format: str, out: TextIO, *, show_info: bool = True) -> None:
    """Write the findings; ``show_info=False`` leaves info-level findings out of the text format
    (they are counted in the summary; JSON, SARIF and GitHub annotations keep everything)."""
    if output_format == "json":
        from gradlint.reporters.json_format import write
    elif output_format == "sarif":
        from gradlint.reporters.sarif import write
    elif output_format == "github":
        from gradlint.reporters.github import write
    else:
        from gradlint.reporters.text import write

        write(report, out, show_info=show_info)
        return
    write(report, out)
