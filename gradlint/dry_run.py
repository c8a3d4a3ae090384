"""The dry run: a few steps of the user's optimizer on a copy of the model (GL701).

Which optimizer a model will be trained with (``choose_setup``): the one observed while its
training command ran (``gradlint run``), else the one stated in ``[tool.gradlint]``, else the
construction in the project's source whose parameters name the model's class (or the only one
in the project). Clipping configured in the project goes with it.

``dry_run`` takes ``steps`` steps of that optimizer, with its hyperparameters and clipping, on a
deep copy of the model (the user's model, its gradients and the random states are left exactly as
they were) on one fixed batch: the probe's, which is the user's own batch when one was captured,
else generated inputs. The loss fits the output: cross-entropy over seeded random integer targets
for class logits (a last dimension of 2 or more), MSE against seeded random targets otherwise. A
run diverges when the loss becomes non-finite or grows ``growth``× its first value; then the same
run is repeated at the learning rate divided by 3, 10, 30 … until one holds.
"""

from __future__ import annotations

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

from gradlint.model_state import random_states, restore_random_states
from gradlint.project_facts import ProjectFacts, setup_from_dict
from gradlint.training import OptimizerSetup

# referenced, not called by name: gradlint's own source must not read as a project that clips
_CLIP_NORM, _CLIP_VALUE = nn.utils.clip_grad_norm_, nn.utils.clip_grad_value_


@dataclasses.dataclass(frozen=True)
class Run:
    lr: float
    steps: int                     # steps taken (the last one is where it blew up, if it did)
    diverged_at: int | None        # 1-based step at which the loss was non-finite or had grown
    why: str | None                # "non-finite" or "grew ×N" when it diverged
    first_loss: float | None
    last_loss: float | None
    stopped: bool = False          # the time limit ended it before ``steps``


@dataclasses.dataclass(frozen=True)
class DryRunResult:
    setup: OptimizerSetup
    loss: str                      # "cross-entropy" or "MSE"
    batch: int
    clip: str | None               # the clipping applied, in words
    runs: tuple[Run, ...]
    seconds: float
    fresh: bool = False            # a new generated batch and new targets at every step

    @property
    def first(self) -> Run:
        return self.runs[0]

    @property
    def held(self) -> Run | None:
        """The largest learning rate tried after the first that stayed finite for every step."""
        return next((r for r in self.runs[1:] if r.diverged_at is None and not r.stopped), None)


def choose_setup(model: nn.Module, observed: OptimizerSetup | None, configured: dict | None,
                 facts: ProjectFacts | None) -> tuple[OptimizerSetup | None, str | None]:
    """The optimizer setup for ``model`` and, when there is none, why (a note)."""
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
    setup, ambiguous = facts.optimizer_for(names, source)
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


def dry_run(model: nn.Module, inputs: dict[str, Any], setup: OptimizerSetup, *, steps: int = 30,
            growth: float = 1e4, divisors: tuple[float, ...] = (3, 10, 30, 100, 300, 1000),
            seed: int = 0, deadline: float | None = None, default_clip_norm: float = 1.0,
            fresh: bool = False, parts: int = 1, input_std: float = 1.0) -> DryRunResult:
    """Run ``setup`` for ``steps`` steps on copies of ``model``; when the loss diverges, again at
    the learning rate divided by each of ``divisors`` until one holds. With ``fresh`` (generated
    inputs, not the user's batch) every step draws a new seeded batch like ``inputs`` and new
    targets, as training sees a new batch each step, and a step's gradient is the mean over
    ``parts`` such batches (a batch ``parts`` times the size of ``inputs``, whatever its layout;
    floating values standard normal × ``input_std``, as the generated ``inputs`` were drawn);
    otherwise every step sees ``inputs`` and the same targets. Leaves ``model``, its gradients and every random state as they were."""
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
        default = inspect.signature(cls.__init__).parameters.get("lr")
        lr = float(default.default) if default is not None and isinstance(default.default, (int, float)) else 1e-3
    clip_norm, clip_value = setup.clip_norm, setup.clip_value
    if setup.clipped and clip_norm is None and clip_value is None:
        clip_norm = default_clip_norm  # configured, at a value the source does not give
    clip = (f"clip_grad_norm_ at {clip_norm:g}" if clip_norm is not None
            else f"clip_grad_value_ at {clip_value:g}" if clip_value is not None else None)
    inputs = {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
    states = random_states()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same sums on every machine (and no spinning threads under load)
    runs: list[Run] = []
    loss_kind, batch = "MSE", 0
    try:
        for divisor in (1, *divisors):
            run, loss_kind, batch = _one_run(model, inputs, cls, setup, lr / divisor, steps, growth, seed,
                                             deadline, clip_norm, clip_value, fresh, parts if fresh else 1,
                                             input_std)
            runs.append(run)
            if run.stopped or run.diverged_at is None:
                break
    finally:
        torch.set_num_threads(threads)
        restore_random_states(states)
    return DryRunResult(setup, loss_kind, batch, clip, tuple(runs), time.perf_counter() - started, fresh)


def _one_run(model: nn.Module, inputs: dict[str, Any], cls: type, setup: OptimizerSetup, lr: float,
             steps: int, growth: float, seed: int, deadline: float | None,
             clip_norm: float | None, clip_value: float | None, fresh: bool = False,
             parts: int = 1, input_std: float = 1.0) -> tuple[Run, str, int]:
    torch.manual_seed(seed)
    random.seed(seed)
    trained = copy.deepcopy(model)
    trained.train()
    for parameter in trained.parameters():
        parameter.grad = None
    accepted = inspect.signature(cls.__init__).parameters
    hyper = {k: v for k, v in setup.hyperparameters.items() if k in accepted and k != "lr"}
    parameters = [p for p in trained.parameters() if p.requires_grad]
    optimizer = cls(parameters, lr=lr, **hyper)
    generator = torch.Generator().manual_seed(seed)
    target = None
    loss_kind, batch = "MSE", 0
    first = last = None
    needs_closure = _needs_closure(optimizer)

    def clip() -> None:
        if clip_norm is not None:
            _CLIP_NORM(parameters, clip_norm)
        elif clip_value is not None:
            _CLIP_VALUE(parameters, clip_value)

    with torch.enable_grad():
        for step in range(1, steps + 1):
            if deadline is not None and time.perf_counter() > deadline:
                return Run(lr, step - 1, None, None, first, last, stopped=True), loss_kind, batch
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
                    batch = (output.shape[0] if output.dim() else 1) * parts
                draws.append((batch_inputs, target))
                loss = _loss(output, target, loss_kind) / parts
                value += float(loss.detach())
                if math.isfinite(value):
                    loss.backward()
            last = value
            if not math.isfinite(value):
                return Run(lr, step, step, "non-finite", first, value), loss_kind, batch
            if first is None:
                first = value
            elif value > growth * max(first, 1e-12):
                return Run(lr, step, step, f"grew ×{value / max(first, 1e-12):.0e}", first, value), loss_kind, batch
            clip()
            if needs_closure:
                optimizer.step(functools.partial(_closure, optimizer, trained, draws, loss_kind, parts, clip))
            else:
                optimizer.step()
    return Run(lr, steps, None, None, first, last), loss_kind, batch


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
    from gradlint.probe import _flatten

    return next((t for t in _flatten(value) if t.is_floating_point() and t.requires_grad), None)


def _target(output: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, str]:
    """Seeded random targets: class indices for logits (last dimension ≥ 2), else values."""
    if output.dim() >= 2 and output.shape[-1] >= 2:
        rows = output.detach().reshape(-1, output.shape[-1]).shape[0]
        return torch.randint(output.shape[-1], (rows,), generator=generator).to(output.device), "cross-entropy"
    return torch.randn(output.shape, generator=generator, dtype=output.dtype).to(output.device), "MSE"


def _loss(output: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "cross-entropy":
        return nn.functional.cross_entropy(output.reshape(-1, output.shape[-1]).float(), target)
    return nn.functional.mse_loss(output.float(), target.float())
