"""Check models in-process: trace → graph → rules → probe → findings.

This is what a worker process runs for one file, and what ``gradlint.check_model`` runs inside a
user's test suite. Nothing here prints; results come back as values.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import math
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gradlint.analysis import Analysis
from gradlint.findings import FileResult, Finding, Location, Note, Problem, display_path
from gradlint.graph import build_graph
from gradlint.inputs import candidate_inputs
from gradlint.load import (
    LoadError,
    ModelSpec,
    bind_inputs,
    describe_exception,
    find_models,
    import_file,
    specs_from_factory,
)
from gradlint.probe import probe as run_probe
from gradlint.rule import ModelContext, Rule
from gradlint.settings import Settings
from gradlint.trace import TraceError, TraceResult, on_meta_device, trace


class ModelTimeout(Exception):
    pass


@dataclasses.dataclass
class ModelReport:
    name: str
    findings: list[Finding]
    notes: list[str]
    flow: dict | None = dataclasses.field(default=None, kw_only=True)  # --plot data
    details: list[str] = dataclasses.field(default_factory=list, kw_only=True)  # --verbose notes
    problem: str | None = None
    tracer: str | None = None
    coverage: float | None = None     # share of parameters inside the traced graph
    nodes: int | None = None
    seconds: float | None = None

    def summary(self) -> str:
        if self.tracer is None:
            return f"not traced; {self.seconds:.2f} s"
        return (f"traced by {self.tracer}: {self.nodes} nodes, coverage {self.coverage:.0%}; "
                f"checked in {self.seconds:.2f} s")


def check_model(model: nn.Module, inputs: Any = None, *, name: str | None = None,
                settings: Settings | None = None) -> ModelReport:
    """Lint one model object (the Python API). ``inputs``: a tensor, a tuple or a dict."""
    settings = settings or Settings()
    bound = bind_inputs(model, inputs) if inputs is not None else None
    name = name or type(model).__name__
    fallback = _class_location(type(model))
    return _analyze(model, bound, name, fallback, settings)


def lint_model_file(path: Path, selector: str | None, settings: Settings,
                    init: dict[str, Any] | None = None) -> FileResult:
    shown = display_path(str(path))
    result = FileResult(shown)
    try:
        module = import_file(path)
        specs, skipped = find_models(module, path, settings.seed, {selector: init} if selector and init else None)
    except LoadError as exc:
        result.problems.append(Problem(shown, str(exc)))
        return result
    except BaseException as exc:  # noqa: BLE001 - importing runs arbitrary user code
        if isinstance(exc, KeyboardInterrupt):
            raise
        result.problems.append(Problem(shown, f"importing the file raised {describe_exception(exc)}; "
                                              "fix the error or exclude the file"))
        return result
    if selector is not None:
        chosen = [s for s in specs if s.name == selector]
        if not chosen:
            names = ", ".join(s.name for s in specs) or "none"
            result.problems.append(Problem(shown, f"no model named `{selector}` (models: {names})"))
            return result
        specs, skipped = chosen, []
    result.notes.extend(Note(shown, text) for text in skipped)
    for spec in specs:
        _check_spec(spec, path, settings, result)
    result.findings.sort(key=Finding.sort_key)
    return result


def lint_import_target(module_name: str, attribute: str, settings: Settings,
                       init: dict[str, Any] | None = None) -> FileResult:
    """``package.module:attribute``: a model class (built with no arguments) or a callable that
    returns a model, ``(model, example_inputs)``, or a dict like ``gradlint_models()``."""
    shown = f"{module_name}:{attribute}"
    result = FileResult(shown)
    try:
        module = importlib.import_module(module_name)
        factory = getattr(module, attribute)
    except BaseException as exc:  # noqa: BLE001 - importing runs arbitrary code
        if isinstance(exc, KeyboardInterrupt):
            raise
        result.problems.append(Problem(shown, f"cannot import {shown}: {describe_exception(exc)}"))
        return result
    try:
        specs = specs_from_factory(attribute, factory, settings.seed, init)
    except LoadError as exc:
        result.problems.append(Problem(shown, str(exc)))
        return result
    source = Path(getattr(module, "__file__", None) or module_name)
    for spec in specs:
        _check_spec(spec, source, settings, result)
    result.findings.sort(key=Finding.sort_key)
    return result


def _check_spec(spec: ModelSpec, path: Path, settings: Settings, result: FileResult) -> None:
    result.models.append(spec.name)
    if spec.built_from:  # shown without -v when it rests on placeholders: the user should know
        result.notes.append(Note(result.path, f"model `{spec.name}`: {built_note(spec)}", spec.name,
                                 detail=not spec.placeholders))
    if spec.model is None:
        result.problems.append(Problem(result.path, f"model `{spec.name}`: {spec.error}", spec.name))
        return
    fallback = Location(display_path(str(path.resolve())), spec.line, 1)
    try:
        with _time_limit(settings.model_timeout):
            report = _analyze(spec.model, spec.inputs, spec.name, fallback, settings)
    except ModelTimeout:
        result.problems.append(Problem(
            result.path, f"model `{spec.name}`: checking took longer than {settings.model_timeout:g} s; "
            "raise --timeout or make the model smaller for linting", spec.name))
        return
    if report.problem:
        result.problems.append(Problem(result.path, f"model `{spec.name}`: {report.problem}", spec.name))
    result.findings.extend(report.findings)
    if report.flow is not None:
        result.flows.append({"model": spec.name, **report.flow})
    result.notes.extend(Note(result.path, f"model `{spec.name}`: {text}", spec.name) for text in report.notes)
    result.notes.append(Note(result.path, f"model `{spec.name}`: {report.summary()}", spec.name, detail=True))
    result.notes.extend(Note(result.path, f"model `{spec.name}`: {text}", spec.name, detail=True)
                        for text in report.details)


def built_note(spec: ModelSpec) -> str:
    """How gradlint built a model whose constructor needs arguments, every placeholder named."""
    text = f"built as {spec.built_from}"
    if spec.placeholders:
        text += (f"; placeholder{'s' if len(spec.placeholders) > 1 else ''} "
                 f"{', '.join(spec.placeholders)}: give the real value{'s' if len(spec.placeholders) > 1 else ''} "
                 "with --init or gradlint_models()")
    return text


def _analyze(model: nn.Module, inputs: dict[str, Any] | None, name: str, fallback: Location,
             settings: Settings) -> ModelReport:
    started = time.perf_counter()
    notes: list[str] = []
    details: list[str] = []
    if settings.device != "cpu" and not on_meta_device(model):
        device = torch.device(settings.device)
        model.to(device)
        if inputs is not None:
            inputs = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
    traced, inputs, problem = _trace_with_inputs(model, inputs, settings, notes)
    graph = analysis = None
    coverage = None
    if traced is not None:
        graph = build_graph(traced)
        moments = {k: float(v.double().pow(2).mean()) for k, v in (inputs or {}).items()
                   if isinstance(v, torch.Tensor) and v.is_floating_point()}
        analysis = Analysis(graph, traced.graph_module, moments)
        coverage = _coverage(model, traced)
        for qualname, why in sorted(traced.opaque.items()):
            notes.append(f"`{qualname}` could not be traced and is one opaque node ({why})")
        details = [f"traced for these example inputs only: {decision}"
                   for decision in dict.fromkeys(traced.specializations)]
        if not any(graph.nodes[p]["data"] for n, f in graph.nodes(data=True) if f["kind"] == "output"
                   for p in graph.predecessors(n)):
            inputs = None  # nothing for the probe to measure either
            notes.append("no gradient path from the output back through the model (it is detached, "
                         "or integer-valued like argmax): the graph rules had nothing to follow")
    weights_known = not on_meta_device(model)
    ctx = ModelContext(path=fallback.path, model_name=name, model=model, graph=graph,
                       analysis=analysis, fallback=fallback, options=settings.rule_options,
                       seed=settings.seed, batch_size=settings.batch_size, weights_known=weights_known,
                       clipping=settings.clipping)
    # Rules that stay quiet when a structural rule explains the problem run after those rules,
    # and see their findings even when the user disabled them: ignoring GL101 accepts a sigmoid
    # chain, it does not ask GL102 to report the same chain again.
    rules = sorted((r for r in settings.rules(include_disabled=True) if r.scope == "model"),
                   key=lambda r: bool(r.explained_by))
    if not weights_known:
        skipped = [r.code for r in rules if r.needs_weights and settings.enabled(r.code)]
        rules = [r for r in rules if not r.needs_weights]
        notes.append(f"weights are on the meta device: structure checked; weight-dependent rules "
                     f"({', '.join(skipped) or 'none'}), gain estimates and the probe skipped")
    found: list[tuple[Rule, Finding]] = []
    for rule in rules:
        ctx.prior = [f for _, f in found]
        found.extend((rule, f) for f in rule.check(ctx))
    rules = [r for r in rules if settings.enabled(r.code)]
    found = [(r, f) for r, f in found if settings.enabled(r.code)]
    findings = [f for _, f in found]
    too_large = _too_large_to_probe(model) if weights_known else None
    if too_large:
        notes.append(too_large)
    if not settings.probe:
        if found:
            notes.append("probe disabled (--no-probe): findings are static estimates")
    elif weights_known and not too_large and (found or (traced is not None and inputs is not None)):
        findings = _probe_and_confirm(found, rules, ctx, traced, inputs, settings, notes)
    report = ModelReport(name, findings, notes, problem, traced.tracer if traced else None, coverage,
                         graph.number_of_nodes() if graph is not None else None,
                         time.perf_counter() - started)
    if settings.flows and analysis is not None and weights_known:
        report.flow = _flow(analysis, ctx, ctx.probe, findings)
    report.details = details
    return report


_BLOCK_KINDS = ("input", "weight", "embedding", "activation", "norm", "add", "recurrent", "attention")


def _flow(analysis: Analysis, ctx: ModelContext, probe: Any, findings: list[Finding]) -> dict | None:
    """RMS gradient along the main path, predicted and measured, relative to its last point."""
    route = [n for n in analysis.main_route() if ctx.graph.nodes[n]["kind"] in _BLOCK_KINDS]
    if len(route) < 2:
        return None
    start, end = analysis.main_span
    predicted = analysis.backward_gains(start, end)
    flow = {"labels": [ctx.label(n) for n in route],
            "predicted": [math.sqrt(predicted[n]) if n in predicted else None for n in route],
            "measured": None, "findings": sorted({f.code for f in findings if f.span})}
    if probe is not None and probe.grad_rms.get(end):
        last = probe.grad_rms[end]
        flow["measured"] = [probe.grad_rms[n] / last if n in probe.grad_rms else None for n in route]
    return flow


def _probe_and_confirm(found: list[tuple[Rule, Finding]], rules: list[Rule], ctx: ModelContext,
                       traced: TraceResult | None, inputs: dict[str, Any] | None, settings: Settings,
                       notes: list[str]) -> list[Finding]:
    """Run the probe, attach its verdict to every finding, and add the measured-only findings."""
    probe = None
    if traced is not None and inputs is not None:
        watched = {a for rule in rules for a in rule.watches}
        watch = frozenset(n for n, f in ctx.graph.nodes(data=True) if f["activation"] in watched)
        saturation = {n: "zero-one" if f["max_derivative"] and f["max_derivative"] < 1 else "symmetric"
                      for n, f in ctx.graph.nodes(data=True) if f["saturating"]}
        try:
            probe = run_probe(traced.graph_module, inputs, settings.seed, watch, saturation)
        except Exception as exc:  # noqa: BLE001 - a failing probe must not lose static findings
            notes.append(f"probe failed ({describe_exception(exc)}); findings are static estimates")
    confirmed = []
    for rule, finding in found:
        if finding.span is not None and probe is None:
            confirmed.append(finding)
            continue
        try:
            confirmed.append(rule.confirm(finding, ctx, probe))
        except Exception as exc:  # noqa: BLE001
            notes.append(f"probe for {finding.code} failed ({describe_exception(exc)})")
            confirmed.append(finding)
    if probe is not None:
        for rule in rules:
            confirmed.extend(rule.measure(ctx, probe))
    ctx.probe = probe
    return confirmed


def _trace_with_inputs(model: nn.Module, inputs: dict[str, Any] | None, settings: Settings,
                       notes: list[str]) -> tuple[TraceResult | None, dict[str, Any] | None, str | None]:
    """Trace guided by the given inputs, else by inferred ones, else symbolically."""
    if inputs is not None:
        try:
            return trace(model, inputs), inputs, None
        except TraceError as exc:
            if exc.forward_failed:
                return None, None, f"forward() failed on the example inputs: {exc}"
            why = str(exc)
    else:
        why = None
        try:
            for candidate in candidate_inputs(model, settings.batch_size, settings.seq_len, settings.seed):
                if settings.device != "cpu":
                    candidate = {k: v.to(settings.device) if isinstance(v, torch.Tensor) else v
                                 for k, v in candidate.items()}
                try:
                    return trace(model, candidate), candidate, None
                except TraceError as exc:
                    why = str(exc)
        except ValueError as exc:
            why = f"cannot infer example inputs: {exc}"
    try:
        traced = trace(model, None)
    except TraceError as exc:
        tried = f"; with example inputs: {why}" if why else ""
        return None, None, (f"could not be traced ({exc}{tried}); graph rules skipped. "
                            "Return (model, example_inputs) from gradlint_models() to trace it by value")
    if settings.probe:
        notes.append(f"probe skipped ({why}); return (model, example_inputs) from "
                     "gradlint_models() to measure gradients")
    return traced, None, None


# A probe holds the weights, their gradients and the activations of one batch: budget 4× the
# weights, and refuse before starting rather than run the machine out of memory.
PROBE_MEMORY_FACTOR = 4


def _too_large_to_probe(model: nn.Module) -> str | None:
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    available = _available_memory()
    needed = PROBE_MEMORY_FACTOR * weight_bytes
    if available is None or needed <= 0.8 * available:
        return None
    return (f"probe skipped: about {needed / 2**30:.1f} GiB needed ({PROBE_MEMORY_FACTOR}× the "
            f"weights), {available / 2**30:.1f} GiB available; findings are static estimates")


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _coverage(model: nn.Module, traced: TraceResult) -> float:
    total = sum(p.numel() for p in model.parameters())
    if not total:
        return 1.0
    hidden = sum(p.numel() for q in traced.opaque for p in model.get_submodule(q).parameters())
    return 1.0 - hidden / total


def _class_location(cls: type) -> Location:
    import inspect

    try:
        path = inspect.getsourcefile(cls) or "<unknown>"
        line = inspect.getsourcelines(cls)[1]
    except (TypeError, OSError):
        return Location("<unknown>", 1, 1)
    return Location(display_path(path), line, 1)


@contextlib.contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """Raise ModelTimeout in this (main) thread after ``seconds``; the worker process has a hard
    limit as well, for code that never returns to the interpreter."""
    if not seconds or not hasattr(signal, "SIGALRM"):
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise ModelTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


