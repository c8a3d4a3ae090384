"""What a rule is, and the context it reads.

A rule module in ``rules/`` defines one ``Rule`` subclass: its code, kebab-case name, default
severity, options (every threshold, with its default and its source in THEORY.md), its docs in the
fixed outline (What it does / Why is this bad? / Example / Use instead / Options / References),
``check`` (static findings) and, for graph rules, ``confirm`` (attach the probe's verdict).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from gradlint.findings import Finding, Location, ProbeVerdict, Severity, display_path

if TYPE_CHECKING:  # `gradlint rule` reads this module without importing torch or networkx
    import networkx as nx
    from torch import nn

    from gradlint.analysis import Analysis
    from gradlint.probe import ProbeResult
    from gradlint.project_facts import ProjectFacts
    from gradlint.training import OptimizerSetup


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
# anchor; on eval/ (README "Evaluation") recurrences trained at measured |D_T| up to 2.4 over
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


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity]
    summary: ClassVar[str]
    fix: ClassVar[str]
    scope: ClassVar[str] = "model"   # "model": reads the traced graph; "source": reads files
    needs_weights: ClassVar[bool] = False  # skipped for models on the meta device
    explained_by: ClassVar[tuple[str, ...]] = ()  # rules whose findings must be known first
    watches: ClassVar[tuple[str, ...]] = ()  # activations whose dead units the probe must count
    options: ClassVar[dict[str, Any]] = {}

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

    def confirm(self, finding: Finding, ctx: ModelContext, probe: Any) -> Finding:
        """Attach the probe's verdict to one of this rule's findings (default: none needed)."""
        return finding

    def measure(self, ctx: ModelContext, probe: Any) -> Iterable[Finding]:
        """Findings that only a measurement can give (dead units, NaN): after the probe."""
        return ()

    def make(self, location: Location, template: str, args: dict[str, Any], *,
             severity: Severity | None = None, model: str | None = None, node: str | None = None,
             span: tuple[str, str] | None = None, static_d: float | None = None) -> Finding:
        return Finding(
            code=self.code, name=self.name, severity=severity or self.severity, template=template,
            args=args, fix=self.fix, location=location, model=model, node=node, span=span,
            static_d=None if static_d is None else round(static_d, 6),
        )


def span_verdict(finding: Finding, ctx: ModelContext, probe: Any, thresholds: Thresholds) -> Finding:
    """Confirm a span finding when the measured D has the predicted sign and passes the warning
    threshold; otherwise keep it as info, saying what was measured."""
    start, end = finding.span  # type: ignore[misc]
    measured = probe.span_d(start, end)
    first, last = ctx.label(start), ctx.label(end)
    if measured is None:
        verdict = ProbeVerdict(False, None, f"probe could not measure the gradient at `{first}`")
        return finding.with_probe(verdict)
    ratio = _ratio_text(measured)
    predicted_sign = -1 if (finding.static_d or -1) < 0 else 1
    if measured * predicted_sign > 0 and abs(measured) >= thresholds.warning:
        text = f"probe confirmed: gradient at `{first}` is {ratio} of `{last}`"
        return finding.with_probe(ProbeVerdict(True, _round(measured), text))
    text = f"probe did not confirm: gradient at `{first}` is {ratio} of `{last}`"
    return finding.with_probe(ProbeVerdict(False, _round(measured), text), Severity.INFO)


def _ratio_text(d: float) -> str:
    if math.isinf(d):
        return "0" if d < 0 else "inf"
    return f"{10 ** d:.2g}"


def _round(d: float) -> float | None:
    return None if math.isinf(d) or math.isnan(d) else round(d, 3)


def gain_text(d: float) -> str:
    return f"{10 ** d:.1e}" if math.isfinite(d) else ("0" if d < 0 else "inf")
