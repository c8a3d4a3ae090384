"""Check models in-process: trace → graph → rules → probe → findings.

This is what a worker process runs for one file, and what ``gradlint.check_model`` runs inside a
user's test suite. Nothing here prints; results come back as values.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gradlint.check.enabled import enabled_rules
from gradlint.check.rule import ModelContext, Rule
from gradlint.core.findings import (
    CHECKED,
    MIN_COVERAGE,
    PARTLY_ANALYSED,
    PARTLY_TRACED,
    FAILED,
    NOT_BUILT,
    NOT_TRACED,
    STRUCTURE_ONLY,
    FileResult,
    Finding,
    Location,
    ModelStatus,
    Note,
    Problem,
    display_path,
)
from gradlint.core.frames import describe_exception
from gradlint.core.limits import ModelTimeout, model_deadline, time_limit, timed_out_why, too_large_to_probe
from gradlint.core.settings import Settings
from gradlint.guard import progress
from gradlint.guard.intercept import TrainingStarted, gradlint_at_work, intercepted
from gradlint.guard.model_state import preserved
from gradlint.measure.dry_run import choose_setup
from gradlint.measure.probe import ProbeResult, measure_model
from gradlint.models.load import (
    Detail,
    LoadError,
    ModelSpec,
    bind_call,
    bind_inputs,
    find_models,
    import_script,
    specs_from_factory,
)
from gradlint.models.sizing import moved_to
from gradlint.passes import collection_paused
from gradlint.passes.analysis import Analysis, analyze
from gradlint.rules import run_order
from gradlint.source.project import defines_model_classes
from gradlint.source.project_facts import ProjectFacts
from gradlint.tracing.graph import build_graph
from gradlint.tracing.inputs import candidate_inputs, without_cache
from gradlint.tracing.inputs import describe as describe_inputs
from gradlint.tracing.trace import TraceError, TraceResult, on_meta_device, trace


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
    probed: bool = dataclasses.field(default=False, kw_only=True)
    unprobed: str | None = dataclasses.field(default=None, kw_only=True)  # why the probe did not run
    # the main span ({"start", "end", "layers_in_span", "layers_in_model", "layers_outside", "layers_measured_outside"}), or None with the
    # reason in span_note (which also holds why a span ends early)
    span: dict | None = dataclasses.field(default=None, kw_only=True)
    span_note: str | None = dataclasses.field(default=None, kw_only=True)
    # weight layers whose gain was analysed (predicted over the main span, or measured by the
    # probe outside it) and in the model; the ones that were not, by name
    analysed: tuple[int, int] | None = dataclasses.field(default=None, kw_only=True)
    unanalysed: tuple[str, ...] = dataclasses.field(default=(), kw_only=True)

    @property
    def status(self) -> str:
        if self.tracer is None:
            return NOT_TRACED
        if not self.probed:
            return STRUCTURE_ONLY
        if self.partly_traced:
            return PARTLY_TRACED
        return PARTLY_ANALYSED if self.partly_analysed else CHECKED

    @property
    def partly_analysed(self) -> str | None:
        """Why the model is only partly checked (the gain of under 90% of its weight layers was
        analysed, predicted or measured), or None."""
        if self.analysed is None or not self.analysed[1] or self.analysed[0] >= MIN_COVERAGE * self.analysed[1]:
            return None
        done, total = self.analysed
        names = ", ".join(f"`{n}`" for n in self.unanalysed[:3]) + (
            f" and {len(self.unanalysed) - 3} more" if len(self.unanalysed) > 3 else "")
        return (f"the gain of {done} of its {total} weight layers ({done / total:.0%}) was analysed; "
                f"{names} lie on no main span and the probe measured no gradient there")

    @property
    def partly_traced(self) -> str | None:
        """Why the model is only partly checked (its graph holds under 90% of its parameters:
        the opaque parts are named in the notes), or None."""
        if self.coverage is None or self.coverage >= MIN_COVERAGE:
            return None
        return (f"{self.coverage:.0%} of its parameters traced, the rest in opaque parts no rule "
                "judged; see the notes")

    def summary(self) -> str:
        if self.tracer is None:
            return f"not traced; {self.seconds:.2f} s"
        return (f"traced by {self.tracer}: {self.nodes} nodes, coverage {self.coverage:.0%}; "
                f"checked in {self.seconds:.2f} s")


def check_model(model: nn.Module, inputs: Any = None, *, name: str | None = None,
                settings: Settings | None = None) -> ModelReport:
    """Lint one model object (the Python API). ``inputs``: a tensor, a tuple or a dict.
    The model, the given input tensors and the global random states are left as they were."""
    settings = settings or Settings()
    bound = bind_inputs(model, inputs) if inputs is not None else None
    if bound is not None:  # a forward may write its inputs in place (x.relu_())
        bound = {k: v.detach().clone().requires_grad_(v.requires_grad) if isinstance(v, torch.Tensor) else v
                 for k, v in bound.items()}
    name = name or type(model).__name__
    fallback = _class_location(type(model))
    return _analyze_untouched(model, bound, name, fallback, settings)


def _analyze_untouched(model: nn.Module, inputs: dict[str, Any] | None, name: str, fallback: Location,
                       settings: Settings, too_large_meta: str | None = None,
                       spec: ModelSpec | None = None) -> ModelReport:
    """``_analyze``, leaving the model and the global random states as it found them. Inside a
    script gradlint intercepts or a command it observes (a trainer callback, ``check_model`` in
    the user's code), the probe's backward() and the dry run's steps are gradlint's, not the
    user's training: the hooks let them through."""
    with preserved(model) as unrestored, gradlint_at_work():
        report = _analyze(model, inputs, name, fallback, settings, too_large_meta, spec)
    report.notes.extend(unrestored)
    return report


def lint_model_file(path: Path, selector: str | None, settings: Settings,
                    init: dict[str, Any] | None = None) -> FileResult:
    shown = display_path(str(path))
    result = FileResult(shown)
    with intercepted() as recorder:
        try:
            module, ended = _import_for_lint(path)
        except LoadError as exc:
            result.problems.append(Problem(shown, str(exc)))
            return result
        except BaseException as exc:  # noqa: BLE001 - importing the file's package runs user code
            if isinstance(exc, KeyboardInterrupt):
                raise
            result.problems.append(Problem(shown, f"importing the file raised {describe_exception(exc)}; "
                                                  "fix the error or exclude the file"))
            return result
        if isinstance(ended, KeyboardInterrupt):
            raise ended
        # the import is done: a kill from here on names what ran out of time, never the import
        progress.report(BUILDING, result)
        try:
            specs, skipped = find_models(module, path, settings.seed, batch_size=settings.batch_size,
                                         seq_len=settings.seq_len,
                                         init={selector: init} if selector and init else None)
        except LoadError as exc:
            result.problems.append(Problem(shown, str(exc)))
            return result
        except Exception as exc:  # noqa: BLE001 - gradlint's own failure, never the user's import
            result.problems.append(Problem(shown, internal_error("finding the file's models", exc)))
            return result
    if ended is not None:
        stopped = _script_stopped(ended, specs, path)
        if stopped is None and not _defines_model_classes(path):
            # a training script that uses models defined elsewhere (checked there) and failed
            # before building one, e.g. on data that is not here: nothing of its own to check
            result.notes.append(Note(shown, f"the script stopped at {_line_in(ended, path)} "
                                            f"({describe_exception(ended)}) before it built a model, so "
                                            "nothing in it was checked; its model classes are checked "
                                            "where they are defined"))
            return result
        if stopped is None:
            result.problems.append(Problem(shown, f"importing the file raised {describe_exception(ended)}; "
                                                  "fix the error or exclude the file"))
            return result
        result.notes.append(Note(shown, stopped))
    for spec in specs:
        call = recorder.call_of(spec.model) if spec.model is not None and spec.inputs is None else None
        if call is not None:
            try:
                spec.inputs, rows = first_rows(bind_call(spec.model, call.args, call.kwargs),
                                                settings.batch_size)
                spec.inputs_from = f"the file's own call at {call.where}" + rows
            except TypeError:
                pass
    if selector is not None:
        chosen = [s for s in specs if s.name == selector]
        if not chosen:
            names = ", ".join(s.name for s in specs) or "none"
            part = next((n for n in skipped if isinstance(n, Detail) and n.model == selector), None)
            result.problems.append(Problem(shown, f"no model named `{selector}` (models: {names})"
                                                  + (f": {part}" if part else "")))
            return result
        specs, skipped = chosen, []
    result.notes.extend(Note(shown, str(text), detail=isinstance(text, Detail)) for text in skipped)
    settings, untaken = _untaken_optimizers(settings, path, ended, recorder.optimizers)
    result.notes.extend(Note(shown, text) for text in untaken)
    for index, spec in enumerate(specs):
        check_spec(spec, path, settings, result, [s.name for s in specs[index + 1:]])
    result.findings.sort(key=Finding.sort_key)
    return result


def _untaken_optimizers(settings: Settings, path: Path, ended: BaseException | None,
                        built: set[tuple[str, int]]) -> tuple[Settings, list[str]]:
    """The file's own optimizers that its run did not build: one constructed in a module-level
    ``if`` (not the ``__main__`` guard) that the run went past without taking (``if
    args.use_adamw:`` while the default run steps by hand) trains nothing in the default run, so
    GL701 does not dry-run it; a note says so. Returns the settings without them, and the notes."""
    facts = ProjectFacts.from_dict(settings.project)
    if facts is None or not facts.optimizers:
        return settings, []
    from gradlint.core.findings import resolved
    from gradlint.models.load import failing_line
    from gradlint.source.notebook import NotebookError, source_text

    here = str(path.resolve())
    try:
        tree = ast.parse(source_text(path, errors="replace"))
    except (OSError, SyntaxError, ValueError, NotebookError):
        return settings, []
    reached = math.inf if ended is None else failing_line(ended, here) or 0
    branches = [node for node in tree.body if isinstance(node, ast.If) and not _is_main_guard(node.test)
                and node.end_lineno is not None and node.end_lineno < reached]
    kept, owners, notes = [], [], []
    for setup, owner in zip(facts.optimizers, facts.owners):
        location = setup.location
        branch = next((b for b in branches if location is not None and resolved(location.path) == here
                       and b.lineno <= location.line <= b.end_lineno), None)
        if branch is not None and (here, location.line) not in built:
            notes.append(f"GL701: `{setup.name}` at {location.path}:{location.line} is built only when "
                         f"`{ast.unparse(branch.test)}` is {'false' if _in_else(branch, location.line) else 'true'}, "
                         "which this file's default run is not: it was not dry-run (state it in "
                         "[tool.gradlint] to dry-run it)")
            continue
        kept.append(setup)
        owners.append(owner)
    if not notes:
        return settings, []
    facts = dataclasses.replace(facts, optimizers=tuple(kept), owners=tuple(owners))
    return dataclasses.replace(settings, project=facts.to_dict()), notes


def _is_main_guard(test: ast.expr) -> bool:
    return "__name__" in ast.unparse(test) and "__main__" in ast.unparse(test)


def _in_else(branch: ast.If, line: int) -> bool:
    return any(s.lineno <= line <= (s.end_lineno or s.lineno) for s in branch.orelse)


def _import_for_lint(path: Path) -> tuple[Any, BaseException | None]:
    """A notebook runs its code cells in order; any other file runs as a script."""
    from gradlint.models.load import import_notebook
    from gradlint.source.notebook import is_notebook

    return import_notebook(path) if is_notebook(path) else import_script(path)


# A script may run its model on a whole data set at once; the probe needs one batch of it.
MAX_RECORDED_ROWS = 64


def first_rows(inputs: dict[str, Any], batch_size: int) -> tuple[dict[str, Any], str]:
    """The script's inputs, cut to their first ``batch_size`` rows when every tensor has the
    same, large, first dimension (a data set passed whole); else as they are."""
    tensors = [v for v in inputs.values() if isinstance(v, torch.Tensor) and v.dim() > 0]
    rows = {t.shape[0] for t in tensors}
    if len(rows) != 1 or (total := rows.pop()) <= MAX_RECORDED_ROWS:
        return inputs, ""
    cut = {k: v[:batch_size] if isinstance(v, torch.Tensor) and v.dim() > 0 else v for k, v in inputs.items()}
    return cut, f" (its first {batch_size} of {total} rows)"


def _script_stopped(ended: BaseException, specs: list[ModelSpec], path: Path) -> str | None:
    """The note for a file that did not run to its end, or None when it found no model before
    it ended (then the exception is an import error)."""
    built = sum(1 for s in specs if s.model is not None)
    kept = (f"the {built} models it built or defined before that were checked" if built != 1
            else "the model it built or defined before that was checked")
    if isinstance(ended, TrainingStarted):
        if not specs:
            kept = ("no model was built or defined before that, so nothing was checked: move the "
                    "training code under `if __name__ == \"__main__\":`, or declare the models in "
                    "gradlint_models()")
        return (f"stopped the file where training starts ({ended.what} at {ended.where}), so no "
                f"training loop ran; {kept}")
    if not specs:
        return None
    if isinstance(ended, SystemExit):
        what = f"sys.exit({ended.code!r})"
    else:
        text = str(ended).strip().splitlines()
        what = f"{type(ended).__name__}: {text[0][:200]}" if text else type(ended).__name__
    defined = getattr(ended, "gradlint_definitions", None)
    if defined:
        shown = ", ".join(f"`{name}`" for name in defined[:6]) + (f" and {len(defined) - 6} more" if len(defined) > 6 else "")
        return (f"the file stopped at {_line_in(ended, path)} ({what}); its definitions after that line "
                f"({shown}) were run without its other statements, and its models checked")
    return f"the file stopped at {_line_in(ended, path)} ({what}), so nothing after it ran; {kept}"


def _defines_model_classes(path: Path) -> bool:
    try:
        from gradlint.source.notebook import NotebookError, source_text

        tree = ast.parse(source_text(path, errors="replace"))
    except (OSError, SyntaxError, ValueError, NotebookError):
        return True
    return defines_model_classes(tree)


def _line_in(exc: BaseException, path: Path) -> str:
    """file:line of the innermost frame of ``exc`` in ``path`` (the statement that failed)."""
    target, line, tb = str(path.resolve()), None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == target:
            line = tb.tb_lineno
        tb = tb.tb_next
    return f"{display_path(target)}:{line}" if line is not None else display_path(target)


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
    progress.report(BUILDING, result)
    try:
        specs = specs_from_factory(attribute, factory, settings.seed, init)
    except LoadError as exc:
        result.problems.append(Problem(shown, str(exc)))
        return result
    source = Path(getattr(module, "__file__", None) or module_name)
    for index, spec in enumerate(specs):
        check_spec(spec, source, settings, result, [s.name for s in specs[index + 1:]])
    result.findings.sort(key=Finding.sort_key)
    return result


# the stage after the import: find_models() runs the models' constructors (gradlint.guard.progress)
BUILDING = "building the file's models (the import was done)"


def check_spec(spec: ModelSpec, path: Path, settings: Settings, result: FileResult,
                pending: list[str] | tuple[str, ...] = ()) -> None:
    """Check one model into ``result`` under its own time limit (gradlint.core.limits); ``pending``:
    the models still to check after it, for the runner to name if it has to stop the worker."""
    result.models.append(spec.name)
    progress.report(f"checking model `{spec.name}`", result, spec.name, pending)
    started = time.perf_counter()
    known = {"name": spec.name, "line": spec.line, "built_from": spec.built_from,
             "placeholders": tuple(spec.placeholders), "inputs_from": spec.inputs_from}

    def give_up(status: str, message: str, seconds: float | None = None) -> None:
        result.problems.append(Problem(result.path, f"model `{spec.name}`: {message}", spec.name))
        result.model_status.append(ModelStatus(status=status, why=message, **known,
                                               seconds=round(seconds, 3) if seconds is not None else None))
        _status_note(result, result.model_status[-1], spec.from_arguments)

    if spec.from_arguments:  # shown without -v when it rests on placeholders: the user should know
        result.notes.append(Note(result.path, f"model `{spec.name}`: {built_note(spec)}", spec.name,
                                 detail=not spec.placeholders))
    if spec.model is None:
        give_up(NOT_BUILT, str(spec.error))
        return
    fallback = Location(display_path(str(path.resolve())), spec.line, 1)
    try:
        with time_limit(settings.model_timeout):
            report = _analyze_untouched(spec.model, spec.inputs, spec.name, fallback, settings, spec.too_large,
                                        spec)
    except ModelTimeout:
        took = time.perf_counter() - started
        give_up(FAILED, timed_out_why(settings.model_timeout, progress.current_step(), took), took)
        return
    except Exception as exc:  # noqa: BLE001 - one model's failure never stops the others
        give_up(FAILED, internal_error("checking this model", exc))
        return
    if report.problem:
        result.problems.append(Problem(result.path, f"model `{spec.name}`: {report.problem}", spec.name))
    result.findings.extend(report.findings)
    if report.flow is not None:
        result.flows.append({"model": spec.name, **report.flow})
    result.notes.extend(Note(result.path, f"model `{spec.name}`: {text}", spec.name) for text in report.notes)
    result.model_status.append(ModelStatus(
        status=report.status, tracer=report.tracer, coverage=report.coverage, nodes=report.nodes,
        seconds=round(report.seconds, 3) if report.seconds is not None else None,
        span=report.span, span_note=report.span_note,
        why=report.problem or report.unprobed or report.partly_traced or report.partly_analysed, **known))
    _status_note(result, result.model_status[-1], spec.from_arguments)
    result.notes.extend(Note(result.path, f"model `{spec.name}`: {text}", spec.name, detail=True)
                        for text in report.details)


def _status_note(result: FileResult, status: ModelStatus, built_said: bool = False) -> None:
    """The -v line saying how far gradlint got with a model, how it was built (unless the
    built-as note already said it) and fed."""
    parts = [status.status if status.status == CHECKED or not status.why
             else f"{status.status} ({status.why})"]
    if status.built_from and not built_said:
        parts.append(f"built from {status.built_from}")
    if status.placeholders and not built_said:
        parts.append(f"placeholders: {', '.join(status.placeholders)}")
    if status.inputs_from:
        parts.append(f"example inputs from {status.inputs_from}")
    if status.tracer is not None:
        parts.append(f"traced by {status.tracer}: {status.nodes} nodes, coverage {status.coverage:.0%}")
    if status.seconds is not None:
        parts.append(f"{status.seconds:.2f} s")
    result.notes.append(Note(result.path, f"model `{status.name}`: {'; '.join(parts)}", status.name, detail=True))


def built_note(spec: ModelSpec) -> str:
    """How gradlint built a model whose constructor needs arguments, every placeholder named."""
    text = f"built as {spec.built_from}"
    if spec.placeholders:
        text += (f"; placeholder{'s' if len(spec.placeholders) > 1 else ''} "
                 f"{', '.join(spec.placeholders)}: give the real value{'s' if len(spec.placeholders) > 1 else ''} "
                 "with --init or gradlint_models()")
    return text


def _analyze(model: nn.Module, inputs: dict[str, Any] | None, name: str, fallback: Location,
             settings: Settings, too_large_meta: str | None = None,
             spec: ModelSpec | None = None) -> ModelReport:
    started = time.perf_counter()
    notes: list[str] = []
    details: list[str] = []
    if settings.device != "cpu" and not on_meta_device(model):
        device = torch.device(settings.device)
        model.to(device)
        if inputs is not None:
            inputs = moved_to(inputs, device)
    given = inputs is not None  # the user's own batch (gradlint_models(), check_model, a captured call)
    progress.step("tracing")
    traced, inputs, problem = _trace_with_inputs(model, inputs, settings, notes, details)
    weights_known = not on_meta_device(model)
    graph = analysis = None
    unprobed: str | None = None
    coverage = None
    if traced is not None:
        progress.step("the graph analysis")
        graph = build_graph(traced)
        moments = {k: float(v.double().pow(2).mean()) for k, v in (inputs or {}).items()
                   if isinstance(v, torch.Tensor) and v.is_floating_point() and not v.is_meta}
        analysis = analyze(graph, traced.graph_module, moments, weights_known=weights_known)
        coverage = _coverage(model, traced)
        for qualname, why in sorted(traced.opaque.items()):
            notes.append(f"`{qualname}` could not be traced and is one opaque node ({why})")
        details += [f"traced for these example inputs only: {decision}"
                    for decision in dict.fromkeys(traced.specializations)]
        if not any(graph.nodes[p]["data"] for n, f in graph.nodes(data=True) if f["kind"] == "output"
                   for p in graph.predecessors(n)):
            inputs = None  # nothing for the probe to measure either
            unprobed = "no gradient path from the output back through the model"
            notes.append("no gradient path from the output back through the model (it is detached, "
                         "or integer-valued like argmax): the graph rules had nothing to follow")
    span, span_note = _main_span(analysis, settings, notes, details)
    ctx = ModelContext(path=fallback.path, model_name=name, model=model, graph=graph,
                       analysis=analysis, fallback=fallback, options=settings.rule_options,
                       seed=settings.seed, batch_size=settings.batch_size, input_std=settings.input_std,
                       weights_known=weights_known,
                       clipping=settings.clipping, inputs=inputs, notes=notes, details=details,
                       **_training_context(model, settings, spec, started, given, str(fallback.path)))
    # Rules that stay quiet when a structural rule explains the problem run after those rules,
    # and see their findings even when the user disabled them: ignoring GL101 accepts a sigmoid
    # chain, it does not ask GL102 to report the same chain again.
    rules = run_order(r for r in enabled_rules(settings, include_disabled=True) if r.scope == "model")
    if not weights_known:
        skipped = [r.code for r in rules if r.needs_weights and settings.enabled(r.code)]
        rules = [r for r in rules if not r.needs_weights]
        if too_large_meta:
            notes.append(f"too large to build here ({too_large_meta}): built on the meta device, structure "
                         f"checked; weight-dependent rules ({', '.join(skipped) or 'none'}), gain "
                         "estimates and the probe skipped; raise --memory-limit on a larger machine, "
                         "or return a smaller configuration from gradlint_models()")
        else:
            notes.append(f"weights are on the meta device: structure checked; weight-dependent rules "
                         f"({', '.join(skipped) or 'none'}), gain estimates and the probe skipped")
    progress.step("the static rules")
    found = static_findings(rules, ctx)
    # what every rule found, the disabled ones' too: a structural finding still explains a
    # gradient for the rules that stay quiet then, at the probe stage as before it
    ctx = dataclasses.replace(ctx, prior=tuple(f for _, f in found))
    rules = [r for r in rules if settings.enabled(r.code)]
    found = [(r, f) for r, f in found if settings.enabled(r.code)]
    findings = [f for _, f in found]
    too_large = too_large_to_probe(model) if weights_known else None
    if too_large:
        notes.append(too_large)
    if not settings.probe:
        if found:
            notes.append("probe disabled (--no-probe): findings are static estimates")
    probe = None
    if settings.probe and weights_known and not too_large and (found or (traced is not None and inputs is not None)):
        findings, probe = _probe_and_confirm(found, rules, ctx, traced, inputs, settings, notes)
    report = ModelReport(name, findings, notes, problem, traced.tracer if traced else None, coverage,
                         graph.number_of_nodes() if graph is not None else None,
                         time.perf_counter() - started, span=span, span_note=span_note)
    if settings.flows and analysis is not None and weights_known:
        report.flow = _flow(analysis, ctx, probe, findings)
    report.details = details
    report.probed = probe is not None
    if analysis is not None and probe is not None:
        report.analysed, report.unanalysed = _analysed(analysis, probe)
        if report.span is not None:
            report.span["layers_measured_outside"] = report.analysed[0] - report.span["layers_in_span"]
        if report.partly_analysed:
            notes.append(f"only partly analysed: {report.partly_analysed}; the whole-model gain rules "
                         f"({', '.join(SPAN_RULES)}) could not judge them (-v shows the main span)")
    if not report.probed:
        report.unprobed = ("the probe is disabled (--no-probe)" if not settings.probe
                           else "too large to build here; structure checked on the meta device" if too_large_meta
                           else "weights on the meta device" if not weights_known
                           else "too large to probe" if too_large
                           else "not traced" if traced is None
                           else unprobed if unprobed else "no example inputs it accepts" if inputs is None
                           else "the probe failed")
    return report


def _training_context(model: nn.Module, settings: Settings, spec: ModelSpec | None,
                      started: float, given: bool, found_in: str) -> dict[str, Any]:
    """The model context's training fields: the project facts, the optimizer the model will be
    trained with (observed by `gradlint run` through ``spec.training``, else [tool.gradlint],
    else the project's source), whether the inputs are the user's own batch, and when the
    model's time limit ends (for the dry run, GL701)."""
    facts = ProjectFacts.from_dict(settings.project)
    optimizer, optimizer_note = choose_setup(model, getattr(spec, "training", None), settings.optimizer, facts,
                                             found_in)
    return {"facts": facts, "optimizer": optimizer, "optimizer_note": optimizer_note,
            "real_inputs": given, "deadline": model_deadline(started, settings)}


# the rules that judge the whole model's gain over its main span
SPAN_RULES = ("GL102", "GL202", "GL203")


def _main_span(analysis: Analysis | None, settings: Settings, notes: list[str],
               details: list[str]) -> tuple[dict | None, str | None]:
    """The main span as reported (JSON, -v), and a note whenever the whole-model gain rules
    cannot judge the model."""
    if analysis is None:
        return None, None
    span = analysis.span
    enabled = [code for code in SPAN_RULES if settings.enabled(code)]
    if span is None:
        why = analysis.span_note
        if enabled:
            notes.append(f"no main span ({why}): the whole-model gain rules ({', '.join(enabled)}) did "
                         "not run; the other rules did")
        return None, why
    label = analysis.graph.nodes
    share = span.layers_in_span / max(span.layers_in_model, 1)
    outside = ", ".join(f"`{name}`" for name in span.outside[:3]) + (
        f" and {len(span.outside) - 3} more" if len(span.outside) > 3 else "")
    details.append(f"main span `{label[span.start]['label']}` → `{label[span.end]['label']}`: "
                   f"{span.layers_in_span} of {span.layers_in_model} weight layers ({share:.0%})"
                   + (f"; not on it: {outside}" if outside else "") + (f"; {span.note}" if span.note else ""))
    return ({"start": label[span.start]["label"], "end": label[span.end]["label"],
             "layers_in_span": span.layers_in_span, "layers_in_model": span.layers_in_model,
             "layers_outside": list(span.outside)}, span.note)


def _analysed(analysis: Analysis, probe: ProbeResult) -> tuple[tuple[int, int], tuple[str, ...]]:
    """How many of the model's weight layers had their gain analysed — predicted over the main
    span, measured by the probe outside it, or (a recurrence) judged over time by GL301 — and the
    names of those that were not."""
    total = analysis.layers_in_model
    outside = analysis.unspanned_layers
    graph = analysis.graph
    measured = {key for key, nodes in outside.items()
                if any(math.isfinite(probe.grad_rms.get(n, math.nan)) or graph.nodes[n]["kind"] == "recurrent"
                       or n in analysis.recurrent_nodes for n in nodes)}
    return (total - len(outside) + len(measured), total), tuple(sorted(set(outside) - measured))


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
    grads = probe.gradients_to(end) if probe is not None else {}
    if grads.get(end):
        last = grads[end]
        flow["measured"] = [grads[n] / last if n in grads else None for n in route]
    return flow


def static_findings(rules: list[Rule], ctx: ModelContext) -> list[tuple[Rule, Finding]]:
    """Each rule's ``check``, in the order given, each seeing the findings of those before it."""
    found: list[tuple[Rule, Finding]] = []
    with collection_paused():  # the rules, like the passes, build no cyclic garbage
        for rule in rules:
            found.extend((rule, f) for f in rule.check(dataclasses.replace(ctx, prior=tuple(f for _, f in found))))
    return found


def _probe_and_confirm(found: list[tuple[Rule, Finding]], rules: list[Rule], ctx: ModelContext,
                       traced: TraceResult | None, inputs: dict[str, Any] | None, settings: Settings,
                       notes: list[str]) -> tuple[list[Finding], ProbeResult | None]:
    """The probe stage: gather what every rule needs measured, measure it all once, attach each
    rule's verdicts to its findings and add its measured-only findings. Returns the findings and
    the graph probe's result (None when it did not run or failed)."""
    prior = ctx.prior
    needs = [rule.needs(ctx, tuple(f for r, f in found if r is rule)) for rule in rules]
    watch = saturation = None
    losses: tuple[str, ...] = ()
    if ctx.graph is not None:
        dead = frozenset().union(*(n.dead for n in needs))
        watch = frozenset(n for n, f in ctx.graph.nodes(data=True) if f["activation"] in dead)
        saturation = {n: "zero-one" if f["max_derivative"] and f["max_derivative"] < 1 else "symmetric"
                      for n, f in ctx.graph.nodes(data=True) if f["saturating"]}
        span = ctx.analysis.span if ctx.analysis is not None else None
        losses = (span.loss_at,) if span is not None and span.loss_at else ()
    recurrences = {key: ctx.model.get_submodule(key[0]) for n in needs for key in n.recurrences}
    progress.step("the probe")
    measured, failure = measure_model(traced.graph_module if traced is not None else None, inputs,
                                      settings.seed, settings.batch_size, watch or frozenset(),
                                      saturation or {}, losses, recurrences)
    if failure is not None:
        notes.append(f"probe failed ({describe_exception(failure)}); findings are static estimates")
    probe = measured.graph
    ctx = dataclasses.replace(ctx, prior=prior, probe=probe)
    confirmed = []
    for rule, finding in found:
        if finding.span is not None and probe is None:
            confirmed.append(finding)
            continue
        try:
            confirmed.append(rule.confirm(finding, ctx, measured))
        except Exception as exc:  # noqa: BLE001
            notes.append(f"probe for {finding.code} failed ({describe_exception(exc)})")
            confirmed.append(finding)
    if probe is not None:
        for rule in rules:
            progress.step(_STEPS.get(rule.code, f"rule {rule.code}"))
            confirmed.extend(rule.measure(ctx, measured))
    return confirmed, probe


# what a rule's measure() step is called when a model runs out of time in it (gradlint.guard.progress)
_STEPS = {"GL701": "the dry run (GL701)"}


def _trace_with_inputs(model: nn.Module, inputs: dict[str, Any] | None, settings: Settings,
                       notes: list[str], details: list[str]
                       ) -> tuple[TraceResult | None, dict[str, Any] | None, str | None]:
    """Trace guided by the given inputs, else by inferred ones, else symbolically.

    Returns the trace, the inputs it was guided by, and a problem for the user: the model could
    not be traced at all, or its forward() raised for every input gradlint could build (a bug in
    the model, or inputs gradlint cannot guess: either way the user must hear it).
    """
    problem = None
    if inputs is not None:
        inputs = without_cache(model, inputs)
        try:
            return trace(model, inputs), inputs, None
        except TraceError as exc:
            if exc.forward_failed:
                return None, None, f"forward() failed on the example inputs: {exc}"
            why = str(exc)
    else:
        why = None
        failures: list[str] = []
        tried = 0
        try:
            for candidate in candidate_inputs(model, settings.batch_size, settings.seq_len, settings.seed,
                                              settings.input_std):
                tried += 1
                device = "meta" if on_meta_device(model) else settings.device
                if device != "cpu":
                    candidate = moved_to(candidate, device)
                try:
                    traced = trace(model, candidate)
                    scale = f" (floating values at std {settings.input_std:g})" if settings.input_std != 1 else ""
                    details.append(f"inferred example inputs: {describe_inputs(candidate)}{scale}")
                    return traced, candidate, None
                except TraceError as exc:
                    why = str(exc)
                    details.append(f"inputs tried and refused: {describe_inputs(candidate)}: {exc}")
                    if exc.forward_failed:
                        failures.append(str(exc))
        except ValueError as exc:
            why = f"cannot infer example inputs: {exc}"
        except Exception as exc:  # noqa: BLE001 - the model's own init_hidden() may raise
            why = f"building example inputs raised {describe_exception(exc)}"
        if tried and len(failures) == tried:
            problem = (f"forward() raised {failures[0].replace(' in forward at ', ' at ', 1)} — for every "
                       f"input gradlint could build ({tried} tried; -v lists them); fix forward(), or "
                       f"return (model, example_inputs) from gradlint_models()")
    try:
        traced = trace(model, None)
    except TraceError as exc:
        if problem is not None:
            return None, None, problem
        tried_text = f"; with example inputs: {why}" if why else ""
        return None, None, (f"could not be traced ({exc}{tried_text}); graph rules skipped. "
                            "Return (model, example_inputs) from gradlint_models() to trace it by value")
    if settings.probe and problem is None:
        notes.append(f"probe skipped ({why}); return (model, example_inputs) from "
                     "gradlint_models() to measure gradients")
    return traced, None, problem


def _coverage(model: nn.Module, traced: TraceResult) -> float:
    """The share of the model's parameters inside the traced graph: never below 0 (an opaque
    part nested in another, or sharing its weights, counts its parameters once)."""
    total = sum(p.numel() for p in model.parameters())
    if not total:
        return 1.0
    hidden = {id(p): p.numel() for q in traced.opaque for p in model.get_submodule(q).parameters()}
    return max(0.0, 1.0 - sum(hidden.values()) / total)


def internal_error(during: str, exc: BaseException) -> str:
    """gradlint's own failure, said as such: where in gradlint it happened, and what to do."""
    tb, where = exc.__traceback__, ""
    while tb is not None:  # the innermost frame, whoever's code it is
        where = f" at {display_path(tb.tb_frame.f_code.co_filename)}:{tb.tb_lineno}"
        tb = tb.tb_next
    text = str(exc).strip().splitlines()
    message = f"{type(exc).__name__}{where}" + (f": {text[0][:200]}" if text else "")
    return (f"internal error in gradlint while {during} ({message}); this is a gradlint bug, not "
            "an error in your file: please report it with the file attached")


def _class_location(cls: type) -> Location:
    import inspect

    try:
        path = inspect.getsourcefile(cls) or "<unknown>"
        line = inspect.getsourcelines(cls)[1]
    except (TypeError, OSError):
        return Location("<unknown>", 1, 1)
    return Location(display_path(path), line, 1)
