"""Suppression comments, read from the source without importing it.

* ``# noqa: GL101`` or ``# gradlint: ignore[GL101]`` on the line a finding points to silences
  that code there; the bare forms (``# noqa``, ``# gradlint: ignore``) silence every code.
* ``# gradlint: noqa`` on a line of its own silences the whole file.

A gradlint suppression that silences nothing is itself reported (GL001), like ruff's RUF100, as
long as the codes it names are enabled. Bare ``# noqa`` is left alone there: other linters own it.
"""

from __future__ import annotations

import dataclasses
import io
import re
import tokenize
from pathlib import Path

_NOQA = re.compile(r"#\s*noqa(?P<sep>\s*:\s*(?P<codes>[A-Za-z]+\d+(?:\s*,\s*[A-Za-z]+\d+|\s+[A-Za-z]+\d+)*))?", re.I)
_IGNORE = re.compile(r"#\s*gradlint:\s*ignore(?:\[(?P<codes>[^\]]*)\])?")
_FILE = re.compile(r"^#\s*gradlint:\s*noqa\s*$")


def _may_have_directives(source: str) -> bool:
    """Whether a comment of ``source`` could hold a directive above: every one is a comment
    holding ``noqa`` (in any case) or ``gradlint:``. A file without them is not tokenized, and
    the test is two substring searches (a 2 MB data file of one line: milliseconds; the same
    test as a case-insensitive regex took 60 ms)."""
    if "#" not in source:
        return False
    lowered = source.lower()
    return "noqa" in lowered or "gradlint:" in lowered


@dataclasses.dataclass
class Directive:
    line: int
    col: int
    codes: frozenset[str] | None   # None: every code
    own: bool                      # a gradlint-specific form (reported when unused)
    used: set[str] = dataclasses.field(default_factory=set)

    def silences(self, code: str) -> bool:
        return self.codes is None or code in self.codes


@dataclasses.dataclass
class Suppressions:
    directives: dict[int, list[Directive]]
    whole_file: bool

    @classmethod
    def read(cls, path: Path) -> Suppressions:
        from gradlint.source.notebook import NotebookError, source_text

        try:
            source = source_text(path)  # a notebook's cells, as one source with its line numbers
        except (OSError, UnicodeDecodeError, NotebookError):
            return cls({}, False)
        return cls.parse(source)

    @classmethod
    def parse(cls, source: str) -> Suppressions:
        directives: dict[int, list[Directive]] = {}
        whole_file = False
        if not _may_have_directives(source):   # no comment can silence anything: no tokenizing
            return cls({}, False)
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
        except (tokenize.TokenError, SyntaxError, IndentationError):
            return cls({}, False)
        for token in tokens:
            if token.type != tokenize.COMMENT:
                continue
            line, col = token.start
            text = token.string
            if _FILE.match(text.strip()):
                whole_file = True
                continue
            for match in _IGNORE.finditer(text):
                codes = match.group("codes")
                parsed = frozenset(c.strip().upper() for c in codes.split(",") if c.strip()) if codes else None
                directives.setdefault(line, []).append(Directive(line, col + match.start() + 1, parsed, True))
            for match in _NOQA.finditer(text):
                codes = match.group("codes")
                parsed = frozenset(c.upper() for c in re.split(r"[\s,]+", codes) if c) if codes else None
                own = parsed is not None and any(c.startswith("GL") for c in parsed)
                directives.setdefault(line, []).append(Directive(line, col + match.start() + 1, parsed, own))
        return cls(directives, whole_file)

    def silence(self, code: str, line: int) -> bool:
        """True when a directive on ``line`` silences ``code`` (and remember that it was used)."""
        if self.whole_file:
            return True
        for directive in self.directives.get(line, ()):
            if directive.silences(code):
                directive.used.add(code)
                return True
        return False

    def unused(self, enabled) -> list[tuple[Directive, list[str]]]:
        """Gradlint directives that silenced nothing, with the enabled codes they name in vain."""
        result = []
        for directives in self.directives.values():
            for directive in directives:
                if not directive.own or directive.used:
                    continue
                if directive.codes is None:
                    result.append((directive, []))
                    continue
                idle = sorted(c for c in directive.codes if c.startswith("GL") and enabled(c))
                if idle:
                    result.append((directive, idle))
        return sorted(result, key=lambda item: (item[0].line, item[0].col))
