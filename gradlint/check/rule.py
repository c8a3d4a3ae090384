"""What a rule is, and the context it reads.

A rule module in ``rules/`` defines one ``Rule`` subclass: its code, kebab-case name, default
severity, options (every threshold, with its default and its source in THEORY.md), its docs in the
fixed outline (What it does / Why is this bad? / Example / Use instead / Options / References),
``check`` (static findings) and, for graph rules, ``confirm`` (attach the probe's verdict), and
two tiny example files, ``invalid`` and ``valid``.

The probe runs once per model, in the engine's probe stage. A rule says what it needs measured
beyond the default (``needs``: dead units of named activations, recurrences run alone over a
horizon); the stage hands every rule the same ``Measurements``, and ``verdict`` turns predicted
against measured into one wording: confirmed, did not confirm, could not measure, measured.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from gradlint.core.findings import Finding, Location, ProbeVerdict, Severity, display_path

if TYPE_CHECKING:  # `gradlint rule` reads this module without importing torch or networkx
    import networkx as nx
    from torch import nn

    from gradlint.core.training import OptimizerSetup
    from gradlint.measure.probe import Measurements, ProbeResult
    from gradlint.passes.analysis import Analysis
    from gradlint.source.edits import Proposal, Sources
    from gradlint.source.project_facts import ProjectFacts
    from gradlint.source.suppress import Suppressions


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """|D| at which a finding becomes a warning, and an error (THEORY.md §3)."""

    warning: float
    error: float

    def severity(self, d: float) -> Severity | None:
        if abs(d) >= self.error:
            return Severity.ERROR
        if abs(d) >= self.warning:
            return Severity.WARNING
        return None


# THEORY.md §3, by network class.
CLASS_H = Thresholds(2.0, 4.0)      # ReLU family, linear, normalized, residual stream
CLASS_S = Thresholds(0.65, 1.3)     # saturating activations without normalization
# The chaotic side of class S (the gradient *grows* through saturating activations). The warning
# band's anchor, Glorot's tanh net at the standard init (D ≈ −1.0, trains to a worse error), lies
# on the ordered side; the chaotic side's only published anchor is Schoenholz 2017's bound
# L ≲ 6ξ (D = 1.3), and on eval/ chaotic 16-layer tanh nets at D = 0.7-0.8 (≈ 3.5ξ) trained. So
# a growing gradient through saturating activations is an error past 6ξ and has no warning band.
CLASS_S_CHAOTIC = Thresholds(1.3, 1.3)
# Recurrences over the horizon T. THEORY.md §3 puts the warning at |D_T| = 2 with no measured
# anchor; on eval/ (the documentation's "Evaluation against training") recurrences trained at measured |D_T| up to 2.4 over
# T = 10-20 steps and failed from 3.5 over T = 100, so the warning starts at 3.
RECURRENT = Thresholds(3.0, 4.0)


@dataclasses.dataclass(frozen=True)
class SourceContext:
    """Everything a source rule (``scope = "source"``, ``check_source``) may read."""

    path: Path
    tree: ast.Module
    root: Path
    clipping: str | None          # where the project clips gradients, or None (facts.clipping)
    recurrent: bool               # the file or a local module it imports builds a vanilla RNN
    facts: ProjectFacts | None = None  # the project's facts


@dataclasses.dataclass(frozen=True)
class ModelContext:
    """Everything a model rule may read; frozen. The engine builds one per model and, for each
    stage, a copy with what that stage adds (``dataclasses.replace``): ``prior`` before each
    rule's check, ``probe`` once the probe ran. A new field needs a default."""

    path: str
    model_name: str
    model: nn.Module
    graph: nx.DiGraph | None         # None when tracing failed
    analysis: Analysis | None        # the passes' facts; None when tracing failed
    fallback: Location               # where to point when a finding has no traced node
    options: Mapping[str, Mapping[str, Any]]
    seed: int = 0
    batch_size: int = 8
    input_std: float = 1.0           # generated floating inputs are standard normal × this
    weights_known: bool = True       # False on the meta device: no weight-dependent checks
    clipping: bool = False           # gradient clipping is configured in the project (facts.clipping)
    facts: ProjectFacts | None = None  # the model's project: clipping, recurrences, optimizers in source
    optimizer: OptimizerSetup | None = None  # the optimizer it will be trained with, or None
    optimizer_note: str | None = None  # why no optimizer is known (for the rules that need one)
    inputs: Mapping[str, Any] | None = None  # the example inputs the probe ran on
    real_inputs: bool = False        # they are a batch the user's code passed (not generated)
    deadline: float | None = None    # time.perf_counter() by which the model's time limit ends
    # the engine's lists of what the rules tell the user (notes) and --verbose (details): the one
    # thing a rule may add to, by appending
    notes: list[str] = dataclasses.field(default_factory=list)
    details: list[str] = dataclasses.field(default_factory=list)
    prior: tuple[Finding, ...] = ()  # findings of the rules that ran before this one
    probe: ProbeResult | None = None  # the probe's measurements, once it ran

    def location(self, node: str | None, end_node: str | None = None) -> Location:
        source = self.graph.nodes[node]["source"] if (node and self.graph is not None) else None
        if source is None:
            return self.fallback
        end = self.graph.nodes[end_node]["source"] if end_node else None
        end = end if end is not None and end.path == source.path else source
        return Location(display_path(source.path), source.line, source.col, end.end_line, end.end_col)

    def label(self, node: str) -> str:
        return self.graph.nodes[node]["label"]


@dataclasses.dataclass(frozen=True)
class Needs:
    """What one rule asks the probe stage to measure, beyond what it always measures."""

    dead: frozenset[str] = frozenset()  # activations (a node's "activation" fact) whose dead
    #                                     units to count: ProbeResult.dead
    recurrences: tuple[tuple[str, int], ...] = ()  # (nn.RNN-family module, horizon): each run
    #                                     alone over that many steps, Measurements.recurrence


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity]
    summary: ClassVar[str]
    fix: ClassVar[str]
    # "model": reads the traced graph; "source": reads files; "suppression": reads a linted
    # file's suppression comments once every other rule's findings were matched to them
    scope: ClassVar[str] = "model"
    needs_weights: ClassVar[bool] = False  # skipped for models on the meta device
    explained_by: ClassVar[tuple[str, ...]] = ()  # rules whose findings must be known first
    options: ClassVar[dict[str, Any]] = {}
    # Two complete tiny files (indented; the test dedents them): ``invalid`` gets this rule's
    # finding on the line marked ``# expect: CODE severity``, ``valid`` (the same file fixed) none.
    # tests/test_rule_examples.py runs both with only this rule selected.
    invalid: ClassVar[str] = ""
    valid: ClassVar[str] = ""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        unknown = set(options or {}) - set(self.options)
        if unknown:
            raise ValueError(f"{self.code}: unknown option(s) {', '.join(sorted(unknown))}")
        self.opts = {**self.options, **(options or {})}

    @classmethod
    def docs(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    def check(self, ctx: ModelContext) -> Iterable[Finding]:
        return ()

    def check_source(self, ctx: SourceContext) -> Iterable[Finding]:
        """Findings from a file's source and the project facts (rules with ``scope = "source"``)."""
        return ()

    def check_suppressions(self, path: str, suppressions: Suppressions, enabled: Callable[[str], bool]
                           ) -> Iterable[Finding]:
        """Findings about a file's suppression comments, after they silenced what they could
        (rules with ``scope = "suppression"``); ``enabled`` tells which codes are selected."""
        return ()

    def needs(self, ctx: ModelContext, found: tuple[Finding, ...]) -> Needs:
        """What the probe stage must measure for this rule beyond the default (activation
        gradients and forward RMS at every traced node, saturation at saturating ones), given the
        model and this rule's findings."""
        return Needs()

    def confirm(self, finding: Finding, ctx: ModelContext, measured: Measurements) -> Finding:
        """Attach the probe's verdict to one of this rule's findings (default: none needed).
        Called with ``measured.graph`` None only for findings without a span."""
        return finding

    def measure(self, ctx: ModelContext, measured: Measurements) -> Iterable[Finding]:
        """Findings that only a measurement can give (dead units, NaN): after the probe, when the
        graph probe ran (``measured.graph`` is not None)."""
        return ()

    def propose(self, finding: Finding, sources: Sources) -> Proposal | None:
        """A source edit that removes ``finding`` (``source.edits``), or None where the fix stays
        in words. It reads the project's files only; ``gradlint --fix`` verifies it on a private
        copy of the project (the finding gone, no new one) before it touches a line."""
        return None

    def make(self, location: Location, template: str, args: dict[str, Any], *,
             severity: Severity | None = None, model: str | None = None, node: str | None = None,
             span: tuple[str, str] | None = None, static_d: float | None = None) -> Finding:
        return Finding(
            code=self.code, name=self.name, severity=severity or self.severity, template=template,
            args=args, fix=self.fix, location=location, model=model, node=node, span=span,
            static_d=None if static_d is None else round(static_d, 6),
        )


# The outcomes of a probe verdict, each with its fixed opening words.
CONFIRMED = "confirmed"        # the measurement agrees with the prediction
REFUTED = "refuted"            # it does not: the finding is kept as info unless told otherwise
NOT_MEASURED = "not measured"  # the probe ran but could not measure what the finding is about
MEASURED = "measured"          # a finding the measurement itself gives (dead units, NaN, a dry run)
OPPOSITE = "opposite"          # the measurement is past the thresholds on the other side
_OPENING = {CONFIRMED: "probe confirmed: ", REFUTED: "probe did not confirm: ",
            NOT_MEASURED: "probe could not measure ", MEASURED: "probe measured: ",
            OPPOSITE: "probe measured the opposite: "}


def verdict(finding: Finding, outcome: str, text: str, measured: float | None = None,
            severity: Severity | None = None) -> Finding:
    """``finding`` with the probe's verdict: ``outcome`` (one of the five above) opens the text,
    ``text`` says what was measured (for NOT_MEASURED: what could not be), ``measured`` is the
    measured D (rounded to 3 places; None when not finite). The severity stays unless
    ``severity`` is given; a REFUTED finding becomes info by default. A verdict is confirmed for
    CONFIRMED and MEASURED, and for OPPOSITE unless it leaves the finding at info.

    >>> from gradlint.core.findings import Location
    >>> f = Finding("GL000", "x", Severity.ERROR, "m", {}, "fix", Location("a.py", 1, 1))
    >>> g = verdict(f, REFUTED, "gradient is 0.5", -0.30103)
    >>> g.probe, g.severity
    (ProbeVerdict(confirmed=False, measured_d=-0.301, text='probe did not confirm: gradient is 0.5'), <Severity.INFO: 1>)
    """
    if outcome == REFUTED and severity is None:
        severity = Severity.INFO
    confirmed = outcome in (CONFIRMED, MEASURED) or (outcome == OPPOSITE and severity != Severity.INFO)
    number = _round(measured) if measured is not None else None
    return finding.with_probe(ProbeVerdict(confirmed, number, _OPENING[outcome] + text), severity)


def span_verdict(finding: Finding, ctx: ModelContext, measured: Measurements, thresholds: Thresholds,
                 correction: float = 0.0, suffix: str = "") -> Finding:
    """Confirm a span finding when the measured D (plus ``correction``) has the predicted sign
    and passes the warning threshold; otherwise keep it as info, saying what was measured.
    ``suffix`` ends the verdict's text."""
    start, end = finding.span  # type: ignore[misc]
    d = measured.graph.span_d(start, end)
    first, last = ctx.label(start), ctx.label(end)
    if d is None:
        return verdict(finding, NOT_MEASURED, f"the gradient at `{first}`{suffix}")
    d += correction
    text = f"gradient at `{first}` is {_ratio_text(d)} of `{last}`{suffix}"
    predicted_sign = -1 if (finding.static_d or -1) < 0 else 1
    if d * predicted_sign > 0 and abs(d) >= thresholds.warning:
        return verdict(finding, CONFIRMED, text, d)
    return verdict(finding, REFUTED, text, d)


def _ratio_text(d: float) -> str:
    if math.isinf(d):
        return "0" if d < 0 else "inf"
    return f"{10 ** d:.2g}"


def _round(d: float) -> float | None:
    return None if math.isinf(d) or math.isnan(d) else round(d, 3)


def gain_text(d: float) -> str:
    return f"{10 ** d:.1e}" if math.isfinite(d) else ("0" if d < 0 else "inf")
