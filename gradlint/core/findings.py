"""Findings, severities and the per-file results that travel from the engine to the reporters.

A finding keeps its message template and arguments apart (as pyflakes does) so that statistics and
rule docs can show the template while the text reporter shows the filled-in message.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import math
import numbers
import os
from typing import Any


_BASE: str | None = None   # the working directory paths are shown from, when fixed (the worker)


def fix_display_base(directory: str) -> None:
    """Show paths relative to ``directory`` from now on, whatever the user's code does to the
    working directory (a script's top-level ``os.chdir``): the worker calls this before any user
    code runs, so findings, notes and suppressions keep the project's own paths."""
    global _BASE
    _BASE = directory


def resolved(shown: str) -> str:
    """The real path of a path as ``display_path`` shows it."""
    return os.path.realpath(os.path.join(_BASE or os.getcwd(), shown))


def display_path(path: str) -> str:
    """Paths under the working directory print relative, like every linter's."""
    relative = os.path.relpath(os.path.join(_BASE, path) if _BASE else path, _BASE)
    return path if relative.startswith("..") else relative


def jsonable(value: Any) -> Any:
    """The one place where finding values become JSON values, for every JSON-based output format:
    a float that is not finite (a gradient ratio of exactly 0 measures log10 = -inf) becomes
    ``null`` — its text form (``inf``, ``-inf``, ``nan``) is kept in the message — tuples become
    lists, and anything that is not a JSON type its ``str``. Dump the result with
    ``allow_nan=False``, so a value that slipped past this function fails loudly instead of
    writing ``Infinity``, which no JSON parser but Python's accepts."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, enum.Enum):
        return str(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    return str(value)


class Severity(enum.IntEnum):
    INFO = 1
    WARNING = 2
    ERROR = 3

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r} (expected info, warning or error)") from None


@dataclasses.dataclass(frozen=True)
class Location:
    path: str
    line: int
    col: int
    end_line: int | None = None
    end_col: int | None = None
    cell: int | None = None   # a notebook's code cell (from 1); ``line`` is then within the cell


@dataclasses.dataclass(frozen=True)
class ProbeVerdict:
    """What the probe measured over the span of one finding.

    ``measured_d`` is log10 of the RMS gradient ratio (earliest point / latest point) of the span:
    negative means the gradient shrinks going backwards (vanishing), positive that it grows.
    For GL203, which judges the forward pass, it is log10 of the forward RMS ratio (latest point
    / earliest point).
    """

    confirmed: bool
    measured_d: float | None
    text: str


@dataclasses.dataclass(frozen=True)
class Finding:
    code: str
    name: str
    severity: Severity
    template: str
    args: dict[str, Any]
    fix: str
    location: Location
    model: str | None = None
    node: str | None = None
    span: tuple[str, str] | None = None   # graph nodes: earliest and latest point of the finding
    static_d: float | None = None
    probe: ProbeVerdict | None = None

    @property
    def message(self) -> str:
        return self.template.format(**self.args)

    @property
    def fingerprint(self) -> str:
        """Stable across line moves and re-measurements: code, path, model, graph node and the
        message template (not its numbers)."""
        key = "\x1f".join([self.code, self.location.path, self.model or "", self.node or "", self.template])
        return hashlib.sha256(key.encode()).hexdigest()[:20]

    def with_probe(self, verdict: ProbeVerdict, severity: Severity | None = None) -> Finding:
        return dataclasses.replace(self, probe=verdict, severity=severity or self.severity)

    def sort_key(self) -> tuple:
        loc = self.location
        return (loc.path, loc.line, loc.col, self.code, self.model or "", self.node or "")

    def to_dict(self) -> dict[str, Any]:
        """Lossless (floats stay as they are, ±inf and NaN included): what a worker sends and the
        cache keeps. Output formats pass it through ``jsonable``."""
        data = dataclasses.asdict(self)
        data["severity"] = str(self.severity)
        data["message"] = self.message
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        data = dict(data)
        data.pop("message", None)
        data["severity"] = Severity.parse(data["severity"])
        data["location"] = Location(**data["location"])
        if data.get("span") is not None:
            data["span"] = tuple(data["span"])
        if data.get("probe") is not None:
            data["probe"] = ProbeVerdict(**data["probe"])
        return cls(**data)


@dataclasses.dataclass(frozen=True)
class Problem:
    """Something that could not be checked (exit code 2): one line saying what, where and what to do."""

    path: str
    message: str
    model: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Note:
    """Information about how a model was checked (probe skipped, opaque submodules, coverage)."""

    path: str
    message: str
    model: str | None = None
    detail: bool = False   # shown with --verbose only (tracer, coverage, timings)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# What gradlint reached of a model, from most to least.
CHECKED, PARTLY_TRACED, PARTLY_ANALYSED, STRUCTURE_ONLY, NOT_TRACED, NOT_BUILT, FAILED = (
    "checked", "partly traced", "partly analysed", "structure-only", "not traced", "not built", "failed")
# a model whose traced graph holds less than this share of its parameters, or whose weight layers'
# gain was analysed (predicted or measured) for less than this share, is not "checked": the parts
# left out were judged by nobody
MIN_COVERAGE = 0.9


@dataclasses.dataclass(frozen=True)
class ModelStatus:
    """One model and how far gradlint got with it: ``checked`` (traced and probed),
    ``partly analysed`` (traced and probed, but the gain of under 90% of its weight layers was
    predicted over the main span or measured by the probe: ``why`` names the others),
    ``partly traced`` (traced with under 90% of its parameters in the graph: ``why`` names the
    opaque parts), ``structure-only`` (traced, the probe did not run: ``why`` says why), ``not traced``,
    ``not built`` (its constructor or factory raised), ``failed`` (timed out, or gradlint's own
    error)."""

    name: str
    status: str
    line: int | None = None
    built_from: str | None = None
    placeholders: tuple[str, ...] = ()
    inputs_from: str | None = None
    tracer: str | None = None
    coverage: float | None = None
    nodes: int | None = None
    seconds: float | None = None
    why: str | None = None
    # the main span the whole-model gain rules judge ({"start", "end", "layers_in_span",
    # "layers_in_model", "layers_outside"}), or None for a traced model with none: span_note says why
    span: dict[str, Any] | None = None
    span_note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["placeholders"] = list(self.placeholders)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelStatus:
        return cls(**{**data, "placeholders": tuple(data.get("placeholders", ()))})


@dataclasses.dataclass
class FileResult:
    path: str
    models: list[str] = dataclasses.field(default_factory=list)
    findings: list[Finding] = dataclasses.field(default_factory=list)
    problems: list[Problem] = dataclasses.field(default_factory=list)
    notes: list[Note] = dataclasses.field(default_factory=list)
    flows: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # for --plot
    model_status: list[ModelStatus] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "models": list(self.models),
            "findings": [f.to_dict() for f in self.findings],
            "problems": [p.to_dict() for p in self.problems],
            "notes": [n.to_dict() for n in self.notes],
            "flows": list(self.flows),
            "model_status": [m.to_dict() for m in self.model_status],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileResult:
        return cls(
            path=data["path"],
            models=list(data["models"]),
            findings=[Finding.from_dict(f) for f in data["findings"]],
            problems=[Problem(**p) for p in data["problems"]],
            notes=[Note(**n) for n in data["notes"]],
            flows=list(data.get("flows", [])),
            model_status=[ModelStatus.from_dict(m) for m in data.get("model_status", [])],
        )


@dataclasses.dataclass
class Report:
    """The result of one run: every file's result, and what was hidden (comments, baseline)."""

    files: list[FileResult]
    fail_level: Severity = Severity.WARNING
    suppressed: int = 0       # findings silenced by comments
    baselined: int = 0        # findings hidden by the baseline
    fixes: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # --fix / --diff: each Fix.to_dict()

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.files for f in r.findings]

    @property
    def problems(self) -> list[Problem]:
        return [p for r in self.files for p in r.problems]

    def exit_code(self, exit_zero: bool = False) -> int:
        """2 when something could not be checked (never hidden), else 1 for findings at or above
        the fail level (unless ``exit_zero``), else 0."""
        if self.problems:
            return 2
        if exit_zero:
            return 0
        return 1 if any(f.severity >= self.fail_level for f in self.findings) else 0
