"""Trainer callbacks: lint the model a trainer is about to train, with its first batch and the
optimizer and clipping the trainer was given, before the first step.

* ``gradlint.integrations.lightning.GradlintCallback`` (Lightning ≥ 2, ``gradlint[lightning]``);
* ``gradlint.integrations.transformers.GradlintCallback`` (a Hugging Face ``TrainerCallback``,
  ``gradlint[transformers]``).

Both share :func:`check_training`: the engine's per-model check runs in the training process
(the model, its ``.grad``s, buffers and the random states are left as they were), the findings
are printed, a summary of numbers goes to the trainer's logger, and the run can be made to fail
at a chosen severity (:class:`GradlintFailure`).
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from gradlint.core.findings import FileResult, Finding, Location, Severity, display_path
from gradlint.core.frames import caller_location  # noqa: F401 (public: the callbacks and their users import it from here)
from gradlint.core.training import OptimizerSetup


class GradlintFailure(RuntimeError):
    """Raised by a callback whose ``fail_on`` level a finding reached: the run stops before it
    trains. The message lists the findings."""


@dataclasses.dataclass
class TrainingReport:
    """What a callback found: the per-model result, the observed setup and the logged numbers."""

    result: FileResult
    setup: OptimizerSetup | None
    metrics: dict[str, float]

    @property
    def findings(self) -> list[Finding]:
        return self.result.findings


def check_training(model: Any, inputs: Any, setup: OptimizerSetup | None, *, trainer: str,
                   select: tuple[str, ...] | None = None, ignore: tuple[str, ...] | None = None,
                   probe: bool = True, fail_on: str | None = None, stream: TextIO | None = None,
                   inputs_from: str | None = None,
                   parts: list[tuple[str, Any, Any]] | None = None) -> TrainingReport:
    """Lint ``model`` with ``inputs`` (a dict of keyword arguments, a tuple of positional ones,
    a tensor, or None to infer them) and the setup the trainer holds; print the findings (and
    the notes that say what could not be checked) on ``stream`` (stderr by default), and raise
    GradlintFailure when one reaches ``fail_on`` ("info", "warning", "error"). A model that
    could not be checked is said in one line and never stops training.

    ``parts``: (attribute, submodule, inputs) for a model whose training step calls its parts
    instead of its own forward (a LightningModule without ``forward()``): each part is checked
    with the inputs the step gave it, in place of the model."""
    from gradlint.check.suppressed import apply_suppressions
    from gradlint.models.load import ModelSpec, bind_inputs
    from gradlint.reporters.text import finding_line
    from gradlint.run.config import FileConfig, Overrides, find_config, load_config, settings_for
    from gradlint.run.observe import lint_specs

    threshold = Severity.parse(fail_on) if fail_on else None
    cls = type(model)
    source, line = _defined_at(cls)
    found = find_config(Path(source).parent if source else Path.cwd())
    config = load_config(found) if found else FileConfig(None, {})
    settings = settings_for(Path(source) if source else None, config, Overrides(
        select=tuple(c.upper() for c in select) if select else None,
        ignore=tuple(c.upper() for c in ignore) if ignore else None, probe=None if probe else False))
    if threading.current_thread() is not threading.main_thread():
        settings = dataclasses.replace(settings, model_timeout=None)  # no SIGALRM off the main thread
    name = cls.__name__
    shown = display_path(source) if source else name
    result = FileResult(shown)
    specs = []
    for part, module, given in parts or [(None, model, inputs)]:
        shown_name = f"{name}.{part}" if part else name
        spec = ModelSpec(shown_name, module, None, line, training=setup,
                         built_from=f"`{part}` of the {trainer}'s model, as its training step calls it" if part
                         else f"the {trainer}'s model")
        if given is not None:
            try:
                spec.inputs = bind_inputs(module, given)
                spec.inputs_from = (f"the first training batch, as the training step passes it to `{part}`"
                                    if part else inputs_from or f"the {trainer}'s first training batch")
            except TypeError as exc:
                result.notes.append(_note(shown, f"the first batch does not fit {shown_name}'s forward() ({exc}); "
                                                 "inputs inferred"))
        specs.append(spec)
    lint_specs(specs, Path(source) if source else Path(shown), settings, result,
               what=f"will step with no gradient clipping configured in the {trainer}")
    apply_suppressions([result], set(), lambda path: settings)
    if parts:   # the parts share one optimizer: what is said about it (GL501, GL701) is said once
        seen: set[tuple] = set()
        unique = []
        for finding in result.findings:
            key = (finding.code, finding.location.path, finding.location.line)
            if finding.node is None and key in seen:
                continue
            seen.add(key)
            unique.append(finding)
        result.findings = unique
    result.findings.sort(key=Finding.sort_key)
    out = stream or sys.stderr
    for finding in result.findings:
        out.write(f"gradlint: {finding_line(finding, False)}\n")
    for problem in result.problems:
        out.write(f"gradlint: {problem.path}: error: {problem.message}\n")
    for note in result.notes:
        if not note.detail:
            out.write(f"gradlint: {note.path}: note: {note.message}\n")
    counts = Counter(f.severity for f in result.findings)
    statuses = [m.status for m in result.model_status] or ["not checked"]
    status = statuses[0] if len(set(statuses)) == 1 else ", ".join(f"`{m.name}` {m.status}" for m in result.model_status)
    if parts and len(set(statuses)) == 1:
        status = f"{status}: {', '.join(f'`{p}`' for p, _, _ in parts)}"
    out.write(f"gradlint: {len(result.findings)} finding(s) in `{name}` ({status}) before training\n")
    out.flush()
    metrics = {"gradlint/findings": float(len(result.findings)),
               **{f"gradlint/{s}s": float(counts[s]) for s in Severity},
               "gradlint/checked": float(all(s == "checked" for s in statuses))}
    for finding in result.findings:
        measured = finding.probe.measured_d if finding.probe else None
        if measured is not None:  # the measured log10 gradient ratio of the finding's span
            key = f"gradlint/{finding.code}/measured_d"
            if key not in metrics or abs(measured) > abs(metrics[key]):
                metrics[key] = measured
    report = TrainingReport(result, setup, metrics)
    # a model gradlint could not check is a problem of the check, not a finding: said above, and
    # the training goes on
    failing = [f for f in result.findings if threshold is not None and f.severity >= threshold]
    if failing:
        lines = [finding_line(f, False) for f in failing]
        raise GradlintFailure(f"gradlint: {len(lines)} finding(s) at or above {threshold} in `{name}`; "
                              "training stopped before its first step:\n" + "\n".join(lines))
    return report


def _note(path: str, message: str) -> Any:
    from gradlint.core.findings import Note

    return Note(path, message)


def _defined_at(cls: type) -> tuple[str | None, int]:
    import inspect

    try:
        return inspect.getsourcefile(cls), inspect.getsourcelines(cls)[1]
    except (TypeError, OSError):
        return None, 1


def optimizer_setup(optimizer: Any, location: Location | None, *, clip_norm: float | None = None,
                    clip_value: float | None = None, clipping_where: str | None = None,
                    scheduler: str | None = None, grad_scaler: bool = False) -> OptimizerSetup:
    """The observed setup of a trainer's optimizer (``param_groups[0]``'s numbers)."""
    from gradlint.run.observe import describe_optimizer

    name, hyper = describe_optimizer(optimizer)
    return OptimizerSetup(name=name, hyperparameters=hyper, origin="observed", location=location,
                          clip_norm=clip_norm, clip_value=clip_value, clipping_where=clipping_where,
                          scheduler=scheduler, grad_scaler=grad_scaler)
