"""The probe: a short seeded forward/backward pass that measures how gradients actually flow.

It measures *activation* gradients — the RMS of ∂L/∂h at the output of every traced node — not
parameter gradients, whose first/last ratio hides uniform mis-scaling (THEORY.md §2). The loss is
a fixed random projection of the model's outputs, so the output gradient has RMS ≈ 1. The probe
only measures; rules decide what the numbers mean for their findings.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import statistics
import time
from typing import Any

import torch
from torch import fx


@dataclasses.dataclass
class ProbeResult:
    grad_rms: dict[str, float]      # node -> RMS of the loss gradient at the node's output
    forward_rms: dict[str, float]   # node -> RMS of the node's output
    nonfinite: list[str]            # nodes whose output or gradient holds NaN/Inf, in graph order
    seconds: float
    nonfinite_forward: list[str] = dataclasses.field(default_factory=list)  # output itself
    dead: dict[str, float] = dataclasses.field(default_factory=dict)  # node -> share of units
    #                                 that output exactly 0 for the whole batch (ReLU family)
    saturated: dict[str, float] = dataclasses.field(default_factory=dict)  # node -> share of
    #                                 outputs in the flat tails (tanh |h| > 0.99, sigmoid < 0.01 or > 0.99)

    # node -> grad_rms of a pass whose loss is a random projection of that node's output alone
    # (a span that ends before a zero-initialized classifier, or before the model's outputs part)
    rebased: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)

    def gradients_to(self, end: str) -> dict[str, float]:
        """RMS gradients for a ratio relative to ``end``: from the pass with its loss at ``end``
        when there is one, else from the model's own output."""
        return self.rebased.get(end, self.grad_rms)

    def span_d(self, start: str, end: str) -> float | None:
        """Measured log10 RMS gradient ratio, gradient at ``start`` over gradient at ``end``."""
        grads = self.gradients_to(end)
        first, last = grads.get(start), grads.get(end)
        if first is None or last is None or last == 0.0 or not math.isfinite(first * last):
            return None
        if first == 0.0:
            return -math.inf
        return math.log10(first / last)


@dataclasses.dataclass(frozen=True)
class Measurements:
    """Everything the probe stage measured for one model, handed to every rule's ``confirm``
    and ``measure``: the traced graph's probe (None when it did not run or failed) and each
    recurrence a rule asked for, keyed by (module, horizon)."""

    graph: ProbeResult | None
    recurrences: dict[tuple[str, int], float | Exception] = dataclasses.field(default_factory=dict)

    def recurrence(self, module: str, horizon: int) -> float:
        """``probe_recurrence`` of ``module`` over ``horizon`` steps (NaN: not measurable);
        raises what the measurement raised."""
        value = self.recurrences[(module, horizon)]
        if isinstance(value, Exception):
            raise value
        return value


def measure_model(graph_module: fx.GraphModule | None, inputs: dict[str, Any] | None, seed: int,
                  batch: int, watch_dead: frozenset[str], watch_saturation: dict[str, str],
                  losses_at: tuple[str, ...], recurrences: dict[tuple[str, int], torch.nn.RNNBase]
                  ) -> tuple[Measurements, Exception | None]:
    """The probe stage's measurements, in one place: ``probe`` over the traced graph when there
    is one and inputs for it, then every recurrence asked for, in the order asked. Returns them
    and the graph probe's failure, if it failed (a failed recurrence is kept in its place)."""
    graph, failure = None, None
    if graph_module is not None and inputs is not None:
        try:
            graph = probe(graph_module, inputs, seed, watch_dead, watch_saturation, losses_at)
        except Exception as exc:  # noqa: BLE001 - a failing probe must not lose static findings
            failure = exc
    measured: dict[tuple[str, int], float | Exception] = {}
    for (name, horizon), module in recurrences.items():
        try:
            measured[(name, horizon)] = probe_recurrence(module, horizon, batch, seed)
        except Exception as exc:  # noqa: BLE001 - reported by the rule that reads it
            measured[(name, horizon)] = exc
    return Measurements(graph, measured), failure


SMALL_BATCH = 8   # below this, one batch is noisy: take the median over SEEDS probes
SEEDS = 3


def probe(graph_module: fx.GraphModule, inputs: dict[str, Any], seed: int,
          watch_dead: frozenset[str] = frozenset(), watch_saturation: dict[str, str] | None = None,
          losses_at: tuple[str, ...] = ()) -> ProbeResult:
    """``probe_graph``, repeated with consecutive seeds (dropout masks and loss projections) and
    combined by the per-node median when the batch is small (THEORY.md §2); plus, for every node
    of ``losses_at``, the gradients of a pass whose loss sits at that node (``rebased``)."""
    batch = next((v.shape[0] for v in inputs.values() if isinstance(v, torch.Tensor) and v.dim()), SMALL_BATCH)
    seeds = [seed] if batch >= SMALL_BATCH else [seed + i for i in range(SEEDS)]
    runs = [probe_graph(graph_module, inputs, s, watch_dead, watch_saturation) for s in seeds]
    result = runs[0] if len(runs) == 1 else ProbeResult(
        _median(runs, "grad_rms"), _median(runs, "forward_rms"), runs[0].nonfinite,
        sum(r.seconds for r in runs), runs[0].nonfinite_forward, _median(runs, "dead"),
        _median(runs, "saturated"))
    for node in losses_at:
        rebased = [probe_graph(graph_module, inputs, s, loss_at=node) for s in seeds]
        result.rebased[node] = _median(rebased, "grad_rms")
        result.seconds += sum(r.seconds for r in rebased)
    return result


def _median(runs: list[ProbeResult], field: str) -> dict[str, float]:
    if len(runs) == 1:
        return dict(getattr(runs[0], field))
    names = set.intersection(*(set(getattr(r, field)) for r in runs))
    return {n: statistics.median(getattr(r, field)[n] for r in runs) for n in names}


class _Recorder(fx.Interpreter):
    def __init__(self, module: fx.GraphModule) -> None:
        super().__init__(module)
        self.outputs: dict[str, torch.Tensor] = {}

    def run_node(self, n: fx.Node) -> Any:
        result = super().run_node(n)
        if isinstance(result, torch.Tensor) and result.is_floating_point() and result.requires_grad:
            self.outputs[n.name] = result
        return result


def disable_inplace(graph_module: fx.GraphModule) -> None:
    """In-place activations would overwrite the tensors whose gradients we measure."""
    for module in graph_module.modules():
        if getattr(module, "inplace", False) is True:
            module.inplace = False
    for node in graph_module.graph.nodes:
        if node.kwargs.get("inplace") is True:
            node.kwargs = {**node.kwargs, "inplace": False}
    graph_module.recompile()


def probe_graph(graph_module: fx.GraphModule, inputs: dict[str, Any], seed: int,
                watch_dead: frozenset[str] = frozenset(),
                watch_saturation: dict[str, str] | None = None, loss_at: str | None = None) -> ProbeResult:
    """Forward and backward through the traced graph in train mode; measure every node, the
    share of dead units (zero for the whole batch) at the nodes in ``watch_dead``, and the share
    of saturated outputs at the nodes in ``watch_saturation`` (node -> "zero-one" for
    sigmoid-like ranges, "symmetric" for tanh-like). The loss is a random projection of the
    model's outputs, or of node ``loss_at``'s output alone when given."""
    watch_saturation = watch_saturation or {}
    started = time.perf_counter()
    disable_inplace(graph_module)
    placeholders = [n for n in graph_module.graph.nodes if n.op == "placeholder"]
    args = [inputs[n.target.lstrip("*")] for n in placeholders]
    # float inputs carry gradients too, so that a span may start on the input (a residual stream)
    args = [a.detach().clone().requires_grad_(True) if isinstance(a, torch.Tensor) and a.is_floating_point()
            else a for a in args]
    graph_module.train()
    torch.manual_seed(seed)
    recorder = _Recorder(graph_module)
    with torch.enable_grad():
        output = recorder.run(*args)
        if loss_at is not None:
            output = recorder.outputs.get(loss_at)
            if output is None:
                raise ProbeError(f"node `{loss_at}` holds no floating-point tensor with a gradient")
        outputs = [t for t in tensors_in(output) if t.is_floating_point() and t.requires_grad]
        if not outputs:
            raise ProbeError("the model's output has no floating-point tensor that depends on its parameters")
        generator = torch.Generator().manual_seed(seed)
        loss = sum((t * torch.randn(t.shape, generator=generator, dtype=t.dtype)).sum() for t in outputs)
        names = list(recorder.outputs)
        tensors = [recorder.outputs[n] for n in names]
        grads = torch.autograd.grad(loss, tensors, allow_unused=True)
    grad_rms, forward_rms, nonfinite, dead, nonfinite_forward, saturated = {}, {}, [], {}, [], {}
    # Nodes that write into one tensor in place (a preallocated output filled step by step) all
    # hold that tensor: its statistics are computed once.
    rms_of, finite_of = _memo(_rms), _memo(lambda t: bool(torch.isfinite(t).all()))
    for name, tensor, grad in zip(names, tensors, grads):
        value = tensor.detach()
        forward_rms[name] = rms_of(tensor, value)
        if name in watch_dead and value.dim() >= 2 and value.shape[0] > 1:
            dead[name] = float((value == 0).all(dim=0).float().mean())
        if name in watch_saturation:
            if watch_saturation[name] == "zero-one":
                tails = (value < 0.01) | (value > 0.99)
            else:
                tails = value.abs() > 0.99
            saturated[name] = float(tails.float().mean())
        bad = not finite_of(tensor, value)
        if bad:
            nonfinite_forward.append(name)
        if grad is not None:
            grad_rms[name] = rms_of(grad, grad)
            bad = bad or not finite_of(grad, grad)
        if bad:
            nonfinite.append(name)
    # ±inf on purpose (attention masks filled with -inf before a softmax) is harmless while no
    # NaN appears, every gradient stays finite and the loss too: only then are the marks dropped
    unique = {id(t): t for t in tensors}.values()
    forward_nan = any(bool(torch.isnan(t.detach()).any()) for t in unique)
    if nonfinite and not forward_nan and torch.isfinite(loss.detach()).all() and all(
            g is None or finite_of(g, g) for g in grads):
        nonfinite, nonfinite_forward = [], []
    return ProbeResult(grad_rms, forward_rms, nonfinite, time.perf_counter() - started,
                       nonfinite_forward, dead, saturated)


def _memo(statistic: Any) -> Any:
    """``statistic(value)``, computed once per tensor object ``key`` (held, so its id stays its own)."""
    seen: dict[int, tuple[torch.Tensor, Any]] = {}

    def of(key: torch.Tensor, value: torch.Tensor) -> Any:
        if id(key) not in seen:
            seen[id(key)] = (key, statistic(value))
        return seen[id(key)][1]
    return of


def probe_recurrence(module: torch.nn.RNNBase, horizon: int, batch: int, seed: int) -> float:
    """Measured log10 of |∂L_T/∂x_1| / |∂L_T/∂x_T| for a loss on the last step only.

    BPTT sums over all lags, so a loss on every step would hide long-range vanishing (THEORY §2).
    The module runs alone on unit-variance inputs, in train mode, with its own weights.
    """
    generator = torch.Generator().manual_seed(seed)
    shape = (batch, horizon, module.input_size) if module.batch_first else (horizon, batch, module.input_size)
    x = torch.randn(shape, generator=generator, dtype=torch.float64).requires_grad_(True)
    # float64 on a copy: a gradient that vanishes by 1e-40 over the horizon must measure as
    # such, not underflow to zero in float32
    module = copy.deepcopy(module).double().train()
    with torch.enable_grad():
        out, _ = module(x)
        last = out[:, -1] if module.batch_first else out[-1]
        loss = (last * torch.randn(last.shape, generator=generator, dtype=torch.float64)).sum()
        (grad,) = torch.autograd.grad(loss, x)
    grad = grad if module.batch_first else grad.transpose(0, 1)
    first, final = _rms(grad[:, 0]), _rms(grad[:, -1])
    if final == 0.0:
        return math.nan
    return math.log10(first / final) if first > 0 else -math.inf


class ProbeError(Exception):
    """The probe could not run; the message says why."""


def _rms(tensor: torch.Tensor) -> float:
    tensor = tensor.detach().double()
    return float(tensor.pow(2).mean().sqrt()) if tensor.numel() else 0.0


def tensors_in(value: Any) -> list[torch.Tensor]:
    """Every tensor in ``value``: itself, or inside its dicts, lists, tuples and dataclasses (a
    model output), in order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in tensors_in(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in tensors_in(v)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [t for f in dataclasses.fields(value) for t in tensors_in(getattr(value, f.name))]
    return []
