"""Suppressions applied to results: findings silenced by ``# gradlint: ignore`` / ``# noqa``
comments are dropped, and the suppression rules (GL001) report the comments that silence nothing.
Used by every way of checking: files (the runner), a training command, and the trainer callbacks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gradlint.core.findings import FileResult, Finding
from gradlint.core.settings import Settings
from gradlint.source.suppress import Suppressions


def apply_suppressions(results: list[FileResult], linted: set[Path],
                       settings_for: Callable[[Path], Settings]) -> int:
    """Drop findings silenced by comments; report gradlint suppressions that silence nothing (the
    suppression rules, GL001, for the files in ``linted``). Returns how many findings were silenced."""
    from gradlint.rules import ALL_RULES

    cache: dict[Path, Suppressions] = {}

    def suppressions(path: str) -> Suppressions:
        resolved = Path(path).resolve()
        if resolved not in cache:
            cache[resolved] = Suppressions.read(resolved)
        return cache[resolved]

    silenced = 0
    for result in results:
        kept = []
        for finding in result.findings:
            if suppressions(finding.location.path).silence(finding.code, finding.location.line):
                silenced += 1
            else:
                kept.append(finding)
        result.findings = kept
    rules = [rule() for rule in ALL_RULES if rule.scope == "suppression"]
    for result in results:
        if result.problems:
            continue
        path = Path(result.path).resolve()
        settings = settings_for(path)
        if path not in linted:
            continue
        for rule in rules:
            if settings.enabled(rule.code):
                result.findings.extend(rule.check_suppressions(result.path, suppressions(result.path),
                                                               settings.enabled))
        result.findings.sort(key=Finding.sort_key)
    return silenced
