"""The dry run: a few steps of the user's optimizer on a copy of the model (GL701).

Which optimizer a model will be trained with (``choose_setup``): the one observed while its
training command ran (``gradlint run``), else the one stated in ``[tool.gradlint]``, else the
construction in the project's source whose parameters name the model's class (or the only one
in the project). Clipping configured in the project goes with it.

``dry_run`` takes ``steps`` steps of that optimizer, with its hyperparameters and clipping, on the
model (the user's model, its gradients and the random states are left exactly as they were; where,
see "Memory" below) on one fixed batch: the probe's, which is the user's own batch when one was captured,
else generated inputs. The loss fits the output: cross-entropy over seeded random integer targets
for class logits (a last dimension of 2 or more), MSE against seeded random targets otherwise. A
run *blows up* when the loss becomes non-finite or grows ``growth``× its first value; it *rises*
when it runs to the end but its last steps' mean loss stands ``rise``× above its first (a learning
rate that wrecks the loss without NaN: the loss starts near its floor, ln(classes) for
cross-entropy, so ×10⁴ is out of reach). Either way the same run is repeated, on the same batches
and targets, at the learning rate divided by 3, 10, 30 … until one holds (neither blows up nor
rises; after a rise, one that makes progress: it ends at or below its first loss). A rise counts as
divergence only when a smaller learning rate holds: the comparison tells a step that is too large
from a loss that cannot fall on this batch. The rise is judged on one fixed
batch with fixed targets (the captured batch, or the first generated one): on new random targets
each step, the loss of a healthy step size rises too, as the logits grow on labels that cannot be
learned.

Where the model computes its own loss (a scalar output, or a Hugging Face output's ``loss`` when the
batch carries labels), the dry run descends that loss, not one of its own.

Its cost is bounded by the model, not by the batch (``_terms_per_row``): a step averages as many loss
terms as the evaluation suite set for a row-per-term model (``parts`` batches of the probe's rows,
32 by default), so a model with a loss term per position (a language model's logits, its own
loss over labels) takes one batch of the few rows that give them, not ``parts`` full batches.
Optimizers that have a fused implementation (Adam, AdamW, SGD, Adagrad) take it: the same update
in one pass over the parameters, several times faster on large models and without the
intermediate copies of the parameter-sized tensors that the per-tensor loop makes.

Memory: a run holds the weights, their gradients and the optimizer's state (AdamW: two tensors the
size of the weights), as one training step does. In gradlint's worker (the command line, ``gradlint
run``) the model is gradlint's own build, which dies with the worker: the runs train it in place,
its exact state kept in a file in the worker's scratch folder (``model_state.Checkpoint``) and put
back bitwise before each learning rate's run and at the end, a time limit or Ctrl-C included —
no copy of the weights beside them (GPT-2 small: 4 weight-sized tensors, as training, not 5). On
a live model in the user's own process (``check_model``, the trainer callbacks), each run trains a
deep copy: the user's model is never touched, whatever happens, and another thread of the user's
(an EMA, an asynchronous checkpoint) never sees weights in training.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import inspect
import math
import random
import time
from typing import Any

import torch
from torch import nn

from gradlint.core.training import OptimizerSetup
from gradlint.guard import sandbox
from gradlint.guard.model_state import Checkpoint, random_states, restore_random_states, signals_deferred
from gradlint.measure.probe import tensors_in
from gradlint.source.project_facts import ProjectFacts, setup_from_dict

# referenced, not called by name: gradlint's own source must not read as a project that clips
_CLIP_NORM, _CLIP_VALUE = nn.utils.clip_grad_norm_, nn.utils.clip_grad_value_


OWN_LOSS = "the model's own loss"
MIN_ROWS = 2  # rows a step keeps whatever its loss terms (a training-mode BatchNorm needs two)
# the rise test's fixed-batch runs are taken only when the run on new batches ended this many times
# above its first loss (every case it flags on the evaluation suite and the fixtures did, ×32 and
# ×50; most healthy models end below it and pay nothing for the test)
RISE_GATE = 3.0
TAIL = 5  # steps whose mean is where a run ended


@dataclasses.dataclass(frozen=True)
class Run:
    lr: float
    steps: int                     # steps taken (the last one is where it blew up, if it did)
    diverged_at: int | None        # 1-based step at which the loss was non-finite or had grown
    why: str | None                # "non-finite" or "grew ×N" when it diverged
    first_loss: float | None
    last_loss: float | None
    stopped: bool = False          # the time limit ended it before ``steps``
    losses: tuple[float, ...] = ()  # each step's loss, before its update
    rose: bool = False             # ran to the end, its last steps' mean ``rise``× above its first

    @property
    def held(self) -> bool:
        """Ran every step without blowing up, stopping or rising."""
        return self.diverged_at is None and not self.stopped and not self.rose

    @property
    def end_loss(self) -> float | None:
        """The mean loss of the last ``TAIL`` steps (one step's loss is noisy)."""
        tail = self.losses[-TAIL:]
        return sum(tail) / len(tail) if tail else self.last_loss


@dataclasses.dataclass(frozen=True)
class DryRunResult:
    setup: OptimizerSetup
    loss: str                      # "cross-entropy" or "MSE"
    batch: int
    clip: str | None               # the clipping applied, in words
    runs: tuple[Run, ...]
    seconds: float
    fresh: bool = False            # a new generated batch and new targets at every step
    fixed: tuple[Run, ...] = ()    # with ``fresh``: the rise test's runs, on one batch of the probe's size
    fixed_batch: int = 0           # that batch's rows
    positions: int = 1             # loss terms a row gives (per-position logits, labels), >1 where rows were cut

    @property
    def first(self) -> Run:
        return self.runs[0]

    @property
    def held(self) -> Run | None:
        """The largest learning rate tried after the first that held (see ``Run.held``)."""
        return next((r for r in self.runs[1:] if r.held), None)

    @property
    def rise_runs(self) -> tuple[Run, ...]:
        """The runs the rise test judged: on one fixed batch (``fixed``, or ``runs`` when every
        step saw the same batch)."""
        return self.fixed if self.fresh else self.runs

    @property
    def rose(self) -> Run | None:
        """Where the rise test found the configured learning rate too large: the largest smaller
        one that held after the configured one rose (see the module's doc), else None."""
        runs = self.rise_runs
        if not runs or not runs[0].rose:
            return None
        return next((r for r in runs[1:] if r.held), None)

    @property
    def diverged(self) -> bool:
        """The configured learning rate blew the loss up, or raised it where a smaller one held."""
        return self.first.diverged_at is not None or self.rose is not None


def choose_setup(model: nn.Module, observed: OptimizerSetup | None, configured: dict | None,
                 facts: ProjectFacts | None, found_in: str | None = None) -> tuple[OptimizerSetup | None, str | None]:
    """The optimizer setup for ``model`` (found in the file ``found_in``) and, when there is none,
    why (a note)."""
    if observed is not None:
        return observed, None
    if configured is not None:
        setup = setup_from_dict(configured)
        if facts is not None and facts.clipping is not None and not setup.clipped:
            setup = dataclasses.replace(setup, clip_norm=facts.clip_norm, clip_value=facts.clip_value,
                                        clipping_where=facts.clipping)
        return setup, None
    if facts is None:
        return None, "no optimizer known (none observed, none stated in [tool.gradlint])"
    names = tuple(c.__name__ for c in type(model).__mro__ if c not in (nn.Module, object))
    try:
        source = inspect.getsourcefile(type(model))
    except TypeError:  # a class defined in no file
        source = None
    setup, ambiguous = facts.optimizer_for(names, source, found_in)
    if setup is not None and setup.lr is None:
        where = f" ({setup.location.path}:{setup.location.line})" if setup.location else ""
        return None, (f"the learning rate of `{setup.name}`{where} is not given in the source (read at "
                      "run time); state it in [tool.gradlint] (optimizer = ..., lr = ...)")
    if setup is not None:
        return setup, None
    return None, ambiguous or ("no optimizer found in the project's source, none observed and none "
                               "stated in [tool.gradlint] (optimizer = \"SGD\", lr = 0.05, momentum = 0.9)")


def optimizer_class(name: str) -> type[torch.optim.Optimizer] | None:
    cls = getattr(torch.optim, name, None)
    return cls if isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer) else None


def optimizer_default(cls: type, name: str) -> Any:
    """The default of the optimizer class's constructor argument ``name`` (None when it has none)."""
    parameter = inspect.signature(cls.__init__).parameters.get(name)
    return None if parameter is None or parameter.default is inspect.Parameter.empty else parameter.default


def loss_of(model: nn.Module, inputs: dict[str, Any], seed: int) -> tuple[torch.Tensor | None, str]:
    """The dry run's loss of one forward pass of ``model`` on ``inputs``, and its name: the model's
    own loss where it computes one, else cross-entropy over random classes for logits or MSE
    against random values, the targets drawn from ``seed``; None when the output has no floating
    tensor. For the rules that measure one loss gradient (GL702, GL801)."""
    output = _first_float(model(**inputs))
    if output is None:
        return None, ""
    target, kind = _target(output, torch.Generator().manual_seed(seed))
    return _loss(output, target, kind), kind


def dry_run(model: nn.Module, inputs: dict[str, Any], setup: OptimizerSetup, *, steps: int = 30,
            growth: float = 1e4, rise: float | None = None,
            divisors: tuple[float, ...] = (3, 10, 30, 100, 300, 1000),
            seed: int = 0, deadline: float | None = None, default_clip_norm: float = 1.0,
            fresh: bool = False, parts: int = 1, input_std: float = 1.0,
            in_place: bool | None = None) -> DryRunResult:
    """Run ``setup`` for ``steps`` steps on ``model`` (or copies of it); when the loss diverges, again at
    the learning rate divided by each of ``divisors`` until one holds. With ``fresh`` (generated
    inputs, not the user's batch) every step draws a new seeded batch like ``inputs`` and new
    targets, as training sees a new batch each step, and a step's gradient is the mean over
    ``parts`` such batches (a batch ``parts`` times the size of ``inputs``, whatever its layout;
    floating values standard normal × ``input_std``, as the generated ``inputs`` were drawn);
    otherwise every step sees ``inputs`` and the same targets. Every run draws the same batches and
    targets (one seed). With ``rise``, a run that ends ``rise``× above its first loss is retried too
    (see the module's doc). Leaves ``model``, its gradients and every random state as they were.
    ``in_place``: train ``model`` itself and restore it from a file (True), or deep copies of it
    (False); by default in place in gradlint's worker only (see "Memory" in the module's doc)."""
    started = time.perf_counter()
    cls = optimizer_class(setup.name)
    if cls is None:
        raise ValueError(f"`{setup.name}` is not a torch.optim optimizer")
    if _needs_closure(cls):
        # LBFGS & co. are full-batch methods: their curvature memory assumes one loss function,
        # so every step sees the same batch, as their training does
        fresh = False
    lr = setup.lr
    if lr is None:
        default = optimizer_default(cls, "lr")
        lr = float(default) if isinstance(default, (int, float)) else 1e-3
    clip_norm, clip_value = setup.clip_norm, setup.clip_value
    if setup.clipped and clip_norm is None and clip_value is None:
        clip_norm = default_clip_norm  # configured, at a value the source does not give
    clip = (f"clip_grad_norm_ at {clip_norm:g}" if clip_norm is not None
            else f"clip_grad_value_ at {clip_value:g}" if clip_value is not None else None)
    inputs = {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
    states = random_states()
    rows = _rows(inputs)
    wanted = rows * (parts if fresh else 1)  # the loss terms a step averages, for a row-per-term loss
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same sums on every machine (and no spinning threads under load)
    loss_kind, batch = "MSE", 0

    def ladder(fresh: bool, parts: int, rise: float | None) -> list[Run]:
        """The configured learning rate, then smaller ones until one holds; after a rise, a smaller
        one holds only where it makes progress (ends at or below its first loss)."""
        nonlocal loss_kind, batch
        runs: list[Run] = []
        for divisor in (1, *divisors):
            after_rise = rise is not None and bool(runs) and runs[0].rose
            run, loss_kind, batch = _one_run(trainee.fresh(), inputs, cls, setup, lr / divisor, steps, growth, seed,
                                             deadline, clip_norm, clip_value, fresh, parts, input_std,
                                             1.0 if after_rise else rise)
            runs.append(run)
            if run.stopped or run.held:
                break
        return runs

    trainee = None
    try:
        trainee = _Trainee(model, in_place)
        per_row = _terms_per_row(trainee, inputs, rows)
        if per_row > 1:  # a loss term per position: fewer rows give as many terms, in one batch
            keep = min(rows, max(MIN_ROWS, math.ceil(wanted / per_row)))
            inputs, parts = _take_rows(inputs, rows, keep), 1
        runs = ladder(fresh, parts if fresh else 1, None if fresh else rise)
        fixed: list[Run] = []
        fixed_batch = 0
        first = runs[0]
        if (fresh and rise is not None and first.held and first.first_loss
                and first.end_loss > RISE_GATE * first.first_loss):
            # the rise test on one batch and one set of targets: on new random targets every step
            # a healthy step size raises the loss too (its logits grow), on a fixed batch it does not
            fresh_batch = batch
            fixed = ladder(False, 1, rise)
            batch, fixed_batch = fresh_batch, batch
    finally:
        with signals_deferred():   # a time limit or Ctrl-C: the model is put back first
            try:
                if trainee is not None:
                    trainee.close()
            finally:
                torch.set_num_threads(threads)
                restore_random_states(states)
    return DryRunResult(setup, loss_kind, batch, clip, tuple(runs), time.perf_counter() - started, fresh,
                        tuple(fixed), fixed_batch, per_row)


class _Trainee:
    """Where the dry run's steps are taken: ``model`` itself, put back from a file before each run
    and at ``close()`` (``Checkpoint``), or a deep copy of it for each run (see "Memory" in the
    module's doc)."""

    def __init__(self, model: nn.Module, in_place: bool | None) -> None:
        self.model = model
        self.checkpoint: Checkpoint | None = None
        self._used = False
        self._spare: nn.Module | None = None   # a copy not trained yet (after _terms_per_row)
        box = sandbox.current()
        if in_place is None:
            in_place = box is not None   # gradlint's worker: the model is its own build
        if in_place and Checkpoint.supported(model) is None:
            with contextlib.suppress(Exception):
                # a full disk, a tensor torch cannot save: copies, as outside the worker
                self.checkpoint = Checkpoint(model, box.scratch if box is not None else None)

    def fresh(self, training: bool = True) -> nn.Module:
        """The model as it was found (in training mode, or as found) with no gradients, for the
        next run (or for forward passes that train nothing: ``training`` False)."""
        if self.checkpoint is not None:
            if self._used:
                self.checkpoint.restore()
            self._used = True
            return self.checkpoint.model
        spare, self._spare = self._spare, None
        if spare is None:
            spare = copy.deepcopy(self.model)
        if not training:
            self._spare = spare   # forward passes without gradients: the first run may take it
        return spare

    def close(self) -> None:
        self._spare = None
        if self.checkpoint is not None:
            self.checkpoint.close()


def _one_run(trained: nn.Module, inputs: dict[str, Any], cls: type, setup: OptimizerSetup, lr: float,
             steps: int, growth: float, seed: int, deadline: float | None,
             clip_norm: float | None, clip_value: float | None, fresh: bool = False,
             parts: int = 1, input_std: float = 1.0, rise: float | None = None) -> tuple[Run, str, int]:
    """One run on ``trained`` (the model as found, or its copy), which it trains."""
    torch.manual_seed(seed)
    random.seed(seed)
    trained.train()
    for parameter in trained.parameters():
        parameter.grad = None
    accepted = inspect.signature(cls.__init__).parameters
    hyper = {k: v for k, v in setup.hyperparameters.items() if k in accepted and k != "lr"}
    parameters = [p for p in trained.parameters() if p.requires_grad]
    optimizer = _optimizer(cls, parameters, lr, hyper, accepted)
    generator = torch.Generator().manual_seed(seed)
    target = None
    loss_kind, batch = "MSE", 0
    first = last = None
    losses: list[float] = []
    needs_closure = _needs_closure(optimizer)

    def clip() -> None:
        if clip_norm is not None:
            _CLIP_NORM(parameters, clip_norm)
        elif clip_value is not None:
            _CLIP_VALUE(parameters, clip_value)

    with torch.enable_grad():
        for step in range(1, steps + 1):
            if deadline is not None and time.perf_counter() > deadline:
                return Run(lr, step - 1, None, None, first, last, stopped=True, losses=tuple(losses)), loss_kind, batch
            optimizer.zero_grad(set_to_none=True)
            value = 0.0
            draws = []   # this step's batches, for an optimizer that evaluates them again (LBFGS)
            for part in range(parts):
                first_draw = step == 1 and part == 0
                batch_inputs = inputs if first_draw or not fresh else _like(inputs, generator, input_std)
                output = _first_float(trained(**batch_inputs))
                if output is None:
                    raise ValueError("the model's output has no floating-point tensor")
                if target is None or fresh:
                    target, loss_kind = _target(output, generator)
                    batch = (_rows(batch_inputs) if loss_kind == OWN_LOSS else output.shape[0]) * parts
                draws.append((batch_inputs, target))
                loss = _loss(output, target, loss_kind) / parts
                value += float(loss.detach())
                if math.isfinite(value):
                    loss.backward()
            last = value
            losses.append(value)
            if not math.isfinite(value):
                return Run(lr, step, step, "non-finite", first, value, losses=tuple(losses)), loss_kind, batch
            if first is None:
                first = value
            elif value > growth * max(first, 1e-12):
                return (Run(lr, step, step, f"grew ×{value / max(first, 1e-12):.0e}", first, value,
                            losses=tuple(losses)), loss_kind, batch)
            clip()
            if needs_closure:
                optimizer.step(functools.partial(_closure, optimizer, trained, draws, loss_kind, parts, clip))
            else:
                optimizer.step()
    run = Run(lr, steps, None, None, first, last, losses=tuple(losses))
    rose = rise is not None and first is not None and first > 0 and run.end_loss > rise * first
    return dataclasses.replace(run, rose=rose), loss_kind, batch


def _optimizer(cls: type, parameters: list, lr: float, hyper: dict, accepted: Any) -> Any:
    """``cls`` over ``parameters``, in its fused implementation where it has one and the training
    code did not choose an implementation (the same update; see the module's doc)."""
    if "fused" in accepted and not {"fused", "foreach"} & hyper.keys():
        try:
            return cls(parameters, lr=lr, fused=True, **hyper)
        except (RuntimeError, ValueError, TypeError):  # a dtype or device it does not support
            pass
    return cls(parameters, lr=lr, **hyper)


def _terms_per_row(trainee: _Trainee, inputs: dict[str, Any], rows: int) -> int:
    """The loss terms one row of ``inputs`` gives: the positions of per-position logits, the labels
    of a model that computes its own loss; 1 for a loss per row (MSE, a class per row) or when it
    cannot be told. Read from forward passes of a two-row slice, in evaluation mode, without
    gradients, on the model as found (``trainee``'s: itself, restored before the first run, or the
    copy the first run then trains; the caller restores the random states). The leading
    dimension counts as rows only where the rows are independent: swapping the two swaps their
    outputs (a sequence-first layout's time steps do not: an RNN's, a positional model's)."""
    if rows < 2 * MIN_ROWS:
        return 1
    head = _take_rows(inputs, rows, MIN_ROWS)
    try:
        probe = trainee.fresh(training=False).eval()
        with torch.no_grad():
            output = probe(**head)
            swapped = probe(**_take_rows(head, MIN_ROWS, MIN_ROWS, order=[1, 0]))
    except Exception:  # noqa: BLE001 - rows that cannot be sliced: keep the batch as it is
        return 1
    first, again = (next((t for t in tensors_in(o) if t.is_floating_point() and t.dim()), None)
                    for o in (output, swapped))
    if (first is None or again is None or first.shape != again.shape or first.shape[0] != MIN_ROWS
            or not torch.allclose(first.flip(0), again, rtol=1e-4, atol=1e-5)):
        return 1
    labels = inputs.get("labels")
    own = getattr(output, "loss", None) if not isinstance(output, torch.Tensor) else None
    if isinstance(own, torch.Tensor) and own.dim() == 0:
        return max(1, labels.numel() // rows) if isinstance(labels, torch.Tensor) else 1
    if first.dim() < 3 or first.shape[-1] < 2:
        return 1  # not per-position logits (MSE and a class per row count rows)
    return max(1, first.numel() // (MIN_ROWS * first.shape[-1]))


def _take_rows(value: Any, rows: int, keep: int, order: list[int] | None = None) -> Any:
    """``value`` with every tensor whose leading dimension is the batch's ``rows`` cut to its first
    ``keep`` rows (or taken in ``order``)."""
    if keep >= rows and order is None:
        return value
    if isinstance(value, dict):
        return {k: _take_rows(v, rows, keep, order) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_take_rows(v, rows, keep, order) for v in value)
    if isinstance(value, torch.Tensor) and value.dim() and value.shape[0] == rows:
        return value[order] if order is not None else value[:keep]
    return value


def _closure(optimizer: Any, trained: Any, draws: list, loss_kind: str, parts: int, clip: Any) -> torch.Tensor:
    """``step(closure)``, as torch documents it for LBFGS: the step's loss evaluated again on the
    step's own batches, with its gradient (and the clipping the training applies)."""
    optimizer.zero_grad(set_to_none=True)
    total = torch.zeros(())
    for batch_inputs, target in draws:
        loss = _loss(_first_float(trained(**batch_inputs)), target, loss_kind) / parts
        if bool(torch.isfinite(loss)):
            loss.backward()
        total = total + loss.detach().cpu()
    clip()
    return total


def _needs_closure(optimizer: Any) -> bool:
    """Whether ``optimizer.step`` (an optimizer or its class) requires a closure (LBFGS)."""
    try:
        parameter = inspect.signature(optimizer.step).parameters.get("closure")
    except (TypeError, ValueError):
        return False
    return parameter is not None and parameter.default is inspect.Parameter.empty


def _like(value: Any, generator: torch.Generator, std: float = 1.0) -> Any:
    """A new seeded draw of generated inputs, shape for shape: normal values at ``std`` for
    floating tensors, integers within the range seen for integer ones (token ids, timesteps);
    constant tensors (a zero recurrent state, sequence lengths) and anything else are kept."""
    if isinstance(value, dict):
        return {k: _like(v, generator, std) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_like(v, generator, std) for v in value)
    if not isinstance(value, torch.Tensor) or value.numel() < 2 or value.is_complex():
        return value
    low, high = value.min(), value.max()
    if bool(low == high):
        return value
    if value.is_floating_point():
        return (torch.randn(value.shape, generator=generator, dtype=value.dtype) * std).to(value.device)
    if value.dtype == torch.bool:
        return value
    return torch.randint(int(low), int(high) + 1, value.shape, generator=generator,
                         dtype=value.dtype).to(value.device)


def _first_float(value: Any) -> torch.Tensor | None:
    """The output the loss is taken of: the model's own loss where it computes one (a Hugging Face
    output's ``loss``, given labels), else its first floating tensor that carries a gradient."""
    own = getattr(value, "loss", None) if not isinstance(value, torch.Tensor) else None
    if isinstance(own, torch.Tensor) and own.dim() == 0 and own.requires_grad:
        return own
    return next((t for t in tensors_in(value) if t.is_floating_point() and t.requires_grad), None)


def _rows(inputs: dict[str, Any]) -> int:
    """The batch size of ``inputs``: the leading dimension of their first tensor."""
    first = next(iter(tensors_in(inputs)), None)
    return int(first.shape[0]) if first is not None and first.dim() else 1


def _target(output: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor | None, str]:
    """Seeded random targets: class indices for logits (last dimension ≥ 2), else values; none
    for a scalar output, the model's own loss."""
    if output.dim() == 0:
        return None, OWN_LOSS
    if output.dim() >= 2 and output.shape[-1] >= 2:
        rows = output.detach().reshape(-1, output.shape[-1]).shape[0]
        return torch.randint(output.shape[-1], (rows,), generator=generator).to(output.device), "cross-entropy"
    return torch.randn(output.shape, generator=generator, dtype=output.dtype).to(output.device), "MSE"


def _loss(output: torch.Tensor, target: torch.Tensor | None, kind: str) -> torch.Tensor:
    if kind == OWN_LOSS:
        return output.float()
    if kind == "cross-entropy":
        return nn.functional.cross_entropy(output.reshape(-1, output.shape[-1]).float(), target)
    return nn.functional.mse_loss(output.float(), target.float())
