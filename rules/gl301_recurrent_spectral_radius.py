from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from gradlint.check.rule import (
    CONFIRMED,
    MEASURED,
    NOT_MEASURED,
    OPPOSITE,
    RECURRENT,
    REFUTED,
    ModelContext,
    Needs,
    Rule,
    Thresholds,
    gain_text,
    verdict,
)
from gradlint.core.findings import Finding, Severity
from gradlint.source.edits import Proposal

# Gate order of torch's stacked recurrent weights, with sup|φ'| of each gate's nonlinearity.
_GATES = {
    "LSTM": (("input", 0.25), ("forget", 0.25), ("cell", 1.0), ("output", 0.25)),
    "GRU": (("reset", 0.25), ("update", 0.25), ("new", 1.0)),
}


@dataclasses.dataclass(frozen=True)
class _Spectrum:
    weight: str
    radius: float      # spectral radius ρ
    s_max: float       # largest singular value
    gamma: float       # sup |φ'| of the nonlinearity applied after it

    @property
    def step_gain(self) -> float:
        return self.radius * self.gamma

    @property
    def log_gain(self) -> float:
        """log10 of the step gain (a zero gain counts as 1e-300): D per step."""
        return math.log10(max(self.step_gain, 1e-300))


def _farthest_from_one(spectra: Iterable[_Spectrum]) -> _Spectrum:
    """The weight whose step gain is farthest from 1 (on a log scale), either way."""
    return max(spectra, key=lambda s: abs(s.log_gain))


if TYPE_CHECKING:
    import torch

    from gradlint.measure.probe import Measurements

# torch and networkx are imported inside the methods: `gradlint rule` and the no-model path
# must not pay for importing torch.


_RELU_WHY = (" (a ReLU recurrence zeroes about half of its units at each step: the typical "
             "per-step gain is ρ·√E[φ'²] ≈ ρ/√2, THEORY.md §1)")


def _is_relu(ctx: ModelContext, finding: Finding) -> bool:
    """An nn.RNN(nonlinearity="relu") module finding (loop findings have a span instead)."""
    return finding.span is None and _mode(ctx.model.get_submodule(finding.args["module"])) == "RNN_RELU"


def _mode(module: Any) -> str:
    """RNN_TANH / RNN_RELU / LSTM / GRU, for the nn.RNN family and for the cells."""
    mode = getattr(module, "mode", None)
    return mode or {"LSTMCell": "LSTM", "GRUCell": "GRU"}.get(type(module).__name__, "RNN")


def spectrum(name: str, weight: torch.Tensor, gamma: float) -> _Spectrum:
    import torch

    w = weight.detach().double()
    return _Spectrum(name, float(torch.linalg.eigvals(w).abs().max()),
                     float(torch.linalg.matrix_norm(w, 2)), gamma)


_GATED = ("LSTM", "GRU")


class RecurrentSpectralRadius(Rule):
    """
    ## What it does
    Computes the spectral radius ρ and the largest singular value s_max of every recurrent weight:
    `weight_hh_l*` of `nn.RNN`, `nn.GRU` and `nn.LSTM` (per gate, every layer and direction), and
    any square weight that the traced graph applies again and again along one chain (a Python
    loop over time steps unrolls into repeated calls of the same layer; an `nn.RNNCell`,
    `LSTMCell` or `GRUCell` stepped in such a loop is judged by its `weight_hh`). The per-step gradient
    gain is ρ·γ, with γ the largest derivative of the nonlinearity after the weight (tanh and
    ReLU 1, sigmoid 1/4); over a horizon of T steps, D_T = (T−1)·log10(ρ·γ).

    ## Why is this bad?
    A recurrence multiplies the gradient by the same matrix at every step, so its eigenvalues
    decide everything: below 1 the gradient from step T to step 1 vanishes geometrically, above 1
    it can explode (Pascanu, Mikolov & Bengio 2013). A default `nn.RNN` (tanh, hidden 128) has
    ρ ≈ 0.59: over 100 steps the gradient shrinks by 1e-24, and it fails the adding problem
    (Le et al. 2015). An identity-initialized ReLU RNN (IRNN) keeps ρ·γ = 1 and trains.
    Gated cells (LSTM/GRU) carry memory through the gated cell state, not through W_hh, so they
    are only flagged when a gate's ρ·γ exceeds 1 (explosion possible).

    ## Example
    ```python
    self.rnn = nn.RNN(32, 128, batch_first=True)   # default init: ρ ≈ 0.59
    ```

    Use instead:
    ```python
    self.rnn = nn.LSTM(32, 128, batch_first=True)
    # or keep the RNN with an orthogonal / identity recurrent weight (and clip gradients):
    nn.init.orthogonal_(self.rnn.weight_hh_l0)
    ```

    `gradlint --fix` initializes the weight a hand-written loop applies at each step (or a
    GRU/LSTM's `weight_hh` of every layer) orthogonal, a ReLU `nn.RNN`'s as the identity, at the end
    of `__init__`; a tanh `nn.RNN`, whose gradient still vanishes over the horizon at ρ = 1,
    becomes `nn.GRU` with `--unsafe-fixes` (orthogonal weights where the GRU does not verify), and
    so does a ReLU `nn.RNN` whose identity initialization does not verify (on eval/, 100-step
    ReLU recurrences diverged with it at Adam's lr 0.01).

    ## Options
    - `horizon` (100): T, the number of time steps the gradient must cross for `nn.RNN`-family
      modules (a hand-written loop uses the number of steps it was traced with). When the model
      was fed a training batch — `gradlint run`'s captured one, a Lightning or Hugging Face
      callback's, `check_model`'s inputs — longer than 100 and this option is left at its default,
      T is that batch's sequence length: a tanh RNN whose radius is near 1 still loses its
      gradient over the hundreds of steps a training run backpropagates through (Pascanu, Mikolov
      & Bengio 2013), which 100 generated steps do not show. A shorter batch does not shorten T:
      an example handed to `check_model` is often shorter than the sequences training uses.
    - `warning-d` (3.0), `error-d` (4.0): |D_T| at which a recurrence is a warning or an error
      (THEORY.md §3, recurrent class: Pascanu 2013; Le 2015). THEORY's warning at 2 has no
      measured anchor; on eval/ recurrences trained at a measured |D_T| up to 2.4 (T = 10-20)
      and failed from 3.5 (T = 100), so the warning starts at 3.

    The probe runs each `nn.RNN`-family module alone for `horizon` steps with a loss on the last
    step and measures D_T = log10(|∂L/∂x_1| / |∂L/∂x_T|); for a hand-written loop it compares the
    activation gradient at the first and last application of the weight. A finding whose
    measured D_T does not pass the warning threshold is kept as info. ρ·γ is a bound, not the
    typical gain: a ReLU recurrence zeroes about half of its units at each step (typical gain
    ≈ ρ/√2, THEORY.md §1), so an orthogonal ReLU RNN with ρ = 1 — or 1.1 — still vanishes. The
    probe therefore also measures every vanilla `nn.RNN` the static check passed, and a measured
    D_T past the thresholds in the opposite direction to the prediction is reported as measured.
    For LSTM and GRU the static claim is "can explode through the gates" (a warning); when the
    probe measures the opposite (the cell's gradient fades over the horizon at initialization,
    as gated cells' does before their gates learn: THEORY.md §1 warns against the vanilla bound
    for them) the claim is refuted and kept as info.

    ## References
    - Pascanu, Mikolov & Bengio 2013, "On the difficulty of training recurrent neural networks".
    - Le, Jaitly & Hinton 2015, "A Simple Way to Initialize Recurrent Networks of ReLUs".
    - Hochreiter et al. 2001, "Gradient flow in recurrent nets".
    - THEORY.md §1 (Recurrence), §3, §4.
    """

    code = "GL301"
    name = "recurrent-spectral-radius"
    severity = Severity.ERROR
    summary = "Recurrent weight whose spectral radius makes gradients vanish or explode over time"
    fix = ("use nn.LSTM/nn.GRU, or initialize the recurrent weight orthogonal (nn.init."
           "orthogonal_) or as the identity with ReLU, and clip gradients")
    needs_weights = True
    options = {"horizon": 100, "warning-d": RECURRENT.warning, "error-d": RECURRENT.error}

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(self.opts["warning-d"], self.opts["error-d"])

    def check(self, ctx: ModelContext) -> Iterable[Finding]:
        yield from self._modules(ctx)
        if ctx.analysis is not None:
            yield from self._unrolled_loops(ctx)

    # --- nn.RNN / nn.LSTM / nn.GRU -------------------------------------------------------------
    def _modules(self, ctx: ModelContext) -> Iterable[Finding]:
        import torch

        for qualname, module in ctx.model.named_modules():
            if not isinstance(module, torch.nn.RNNBase):
                continue
            horizon, horizon_from = self._horizon(ctx, qualname, module)
            spectra = list(self._module_spectra(module))
            worst = _farthest_from_one(spectra)
            node = self._call_node(ctx, qualname)
            location = ctx.location(node) if node else ctx.fallback
            kind = type(module).__name__
            if module.mode in ("LSTM", "GRU"):
                exploding = [s for s in spectra if s.step_gain > 1.0]
                if not exploding:
                    continue
                worst = max(exploding, key=lambda s: s.step_gain)
                yield self.make(
                    location,
                    "{kind} `{module}`: {weight} has spectral radius {radius:.2f} (ρ·γ = {gain:.2f} "
                    "> 1): gradients can explode through the gates",
                    {"kind": kind, "module": qualname, "weight": worst.weight,
                     "radius": worst.radius, "gain": worst.step_gain, "horizon": horizon},
                    severity=Severity.WARNING, model=ctx.model_name, node=qualname,
                    static_d=(horizon - 1) * math.log10(worst.step_gain),
                )
                continue
            static_d = (horizon - 1) * worst.log_gain
            severity = self.thresholds.severity(static_d)
            if severity is None:
                continue
            yield self.make(
                location,
                "{kind} `{module}`: {weight} has spectral radius {radius:.2f} (largest singular "
                "value {s_max:.2f}); over {horizon} steps{horizon_from} the gradient {direction} by {gain}",
                {"kind": kind, "module": qualname, "weight": worst.weight, "radius": worst.radius,
                 "s_max": worst.s_max, "horizon": horizon, "horizon_from": horizon_from,
                 "gain": gain_text(static_d), "direction": "shrinks" if static_d < 0 else "grows"},
                severity=severity, model=ctx.model_name, node=qualname, static_d=static_d,
            )

    @staticmethod
    def _module_spectra(module: Any) -> Iterable[_Spectrum]:
        gates = _GATES.get(_mode(module))
        gamma = 1.0  # tanh and ReLU both have sup|φ'| = 1
        for name, weight in module.named_parameters():
            if not name.startswith("weight_hh"):
                continue
            if gates is None:
                yield spectrum(name, weight, gamma)
                continue
            size = module.hidden_size
            for index, (gate, gate_gamma) in enumerate(gates):
                block = weight[index * size:(index + 1) * size]
                yield spectrum(f"{name} ({gate} gate)", block, gate_gamma)

    def _horizon(self, ctx: ModelContext, qualname: str, module: Any) -> tuple[int, str]:
        """The time steps the gradient must cross, and where that number comes from: the
        training batch's sequence length when the model was fed one (`gradlint run`'s captured
        batch, a callback's, `check_model`'s inputs) that is longer than the `horizon` option left
        at its default, else the option."""
        horizon = int(self.opts["horizon"])
        if not ctx.real_inputs or ctx.analysis is None or horizon != type(self).options["horizon"]:
            return horizon, ""
        node = self._call_node(ctx, qualname)
        feeding = ctx.analysis.topology.data_inputs.get(node, ()) if node is not None else ()
        shape = ctx.graph.nodes[feeding[0]]["shape"] if feeding else None
        if shape is None or len(shape) not in (2, 3):
            return horizon, ""
        steps = shape[1] if len(shape) == 3 and module.batch_first else shape[0]
        # longer only: an example batch handed to check_model is often shorter than training's
        return (int(steps), " (the training batch's sequence length)") if steps > horizon else (horizon, "")

    @staticmethod
    def _call_node(ctx: ModelContext, qualname: str) -> str | None:
        return ctx.analysis.module_call(qualname) if ctx.analysis is not None else None

    # --- hand-written loops: one square weight applied along a chain --------------------------
    def _unrolled_loops(self, ctx: ModelContext) -> Iterable[Finding]:
        from gradlint.tracing.graph import weight_of

        for key, nodes in ctx.analysis.recurrent_applications.items():
            cell = self._cell(ctx, nodes[0])
            steps = len(nodes)
            if cell is not None:  # nn.RNNCell / LSTMCell / GRUCell stepped in a loop: its weight_hh
                spectra = list(self._module_spectra(cell))
                if _mode(cell) in _GATES:
                    spec = max(spectra, key=lambda s: s.step_gain)
                    if spec.step_gain <= 1.0:
                        continue  # gated cells are only judged when a gate can explode
                else:
                    spec = _farthest_from_one(spectra)
            else:
                weight = weight_of(ctx.analysis.graph_module, ctx.graph, nodes[0])
                if weight is None or weight.dim() != 2 or weight.shape[0] != weight.shape[1]:
                    continue
                spec = spectrum(key, weight, self._gamma_after(ctx, nodes[0], nodes[1]))
            static_d = (steps - 1) * spec.log_gain
            severity = self.thresholds.severity(static_d)
            if severity is None:
                continue
            yield self.make(
                ctx.location(nodes[0], nodes[-1]),
                "`{module}` is applied at each of {steps} steps (a recurrence) with spectral radius "
                "{radius:.2f} (ρ·γ = {step_gain:.2f}); over those steps the gradient {direction} "
                "by {gain}",
                {"module": ctx.label(nodes[0]), "steps": steps, "radius": spec.radius,
                 "step_gain": spec.step_gain, "gain": gain_text(static_d),
                 "direction": "shrinks" if static_d < 0 else "grows"},
                severity=severity, model=ctx.model_name, node=ctx.label(nodes[0]),
                span=(nodes[0], nodes[-1]), static_d=static_d,
            )

    @staticmethod
    def _cell(ctx: ModelContext, node: str) -> Any:
        import torch

        qualname = ctx.graph.nodes[node]["module"]
        module = ctx.model.get_submodule(qualname) if qualname else None
        return module if isinstance(module, torch.nn.RNNCellBase) else None

    @staticmethod
    def _gamma_after(ctx: ModelContext, node: str, next_use: str) -> float:
        """sup|φ'| of the first activation every path from ``node`` to the next step crosses."""
        graph, idom = ctx.graph, ctx.analysis.post_dominators
        current = node
        while current in idom and current != next_use:
            current = idom[current]
            if graph.nodes[current]["kind"] == "activation":
                return graph.nodes[current]["max_derivative"] or 1.0
        return 1.0

    # --- probe -------------------------------------------------------------------------------
    def needs(self, ctx: ModelContext, found: tuple[Finding, ...]) -> Needs:
        """Each flagged `nn.RNN`-family module, then every vanilla one the check passed, run alone
        over the horizon (a loop's finding is confirmed from the graph probe's span)."""
        import torch

        flagged = [f.args["module"] for f in found if f.span is None]
        passed = [q for q, m in ctx.model.named_modules()
                  if isinstance(m, torch.nn.RNNBase) and _mode(m) not in _GATES and q not in flagged]
        return Needs(recurrences=tuple((q, self._horizon(ctx, q, ctx.model.get_submodule(q))[0])
                                       for q in dict.fromkeys(flagged + passed)))

    def measure(self, ctx: ModelContext, measured: Measurements) -> Iterable[Finding]:
        """Vanilla `nn.RNN` modules whose ρ·γ is near 1 (no static finding) can still vanish or
        explode over the horizon: measure each one alone and report what the probe finds."""
        import torch

        reported = {f.node for f in ctx.prior if f.code == self.code}
        for qualname, module in ctx.model.named_modules():
            if not isinstance(module, torch.nn.RNNBase) or _mode(module) in _GATES or qualname in reported:
                continue
            horizon, horizon_from = self._horizon(ctx, qualname, module)
            d = measured.recurrence(qualname, horizon)
            severity = self.thresholds.severity(d) if not math.isnan(d) else None
            if severity is None:
                continue
            worst = _farthest_from_one(self._module_spectra(module))
            node = self._call_node(ctx, qualname)
            why = _RELU_WHY if d < 0 and _mode(module) == "RNN_RELU" else ""
            direction = "vanishes" if d < 0 else "explodes"
            finding = self.make(
                ctx.location(node) if node else ctx.fallback,
                "{kind} `{module}`: {weight} has spectral radius {radius:.2f}, so ρ·γ looks stable, "
                "yet the gradient {direction} over {horizon} steps{horizon_from}{why}",
                {"kind": type(module).__name__, "module": qualname, "weight": worst.weight,
                 "radius": worst.radius, "horizon": horizon, "horizon_from": horizon_from,
                 "direction": direction, "why": why},
                severity=severity, model=ctx.model_name, node=qualname,
            )
            yield verdict(finding, MEASURED,
                          f"the gradient from step {horizon} back to step 1 is ×{gain_text(d)}", d)

    def confirm(self, finding: Finding, ctx: ModelContext, measured: Measurements) -> Finding:
        if finding.span is not None:
            d = measured.graph.span_d(*finding.span) if measured.graph is not None else None
            where = f"between the first and last step of `{finding.args['module']}`"
        else:
            horizon = finding.args.get("horizon", self.opts["horizon"])
            d = measured.recurrence(finding.args["module"], horizon)
            where = f"from step {horizon} back to step 1"
        if d is None or math.isnan(d):
            return verdict(finding, NOT_MEASURED, "the recurrence")
        text = f"the gradient {where} is ×{gain_text(d)}"
        predicted = finding.static_d or 0.0
        if d * predicted > 0 and abs(d) >= self.thresholds.warning:
            return verdict(finding, CONFIRMED, text, d)
        severity = self.thresholds.severity(d) if d * predicted < 0 else None
        direction = "vanishes" if d < 0 else "explodes"
        if severity is not None and finding.args.get("kind") in _GATED:
            # the probe refutes the claim it was asked to check; what it measured instead is a
            # gated cell at initialization, whose gates learn to open (THEORY.md §1: do not apply
            # the vanilla-RNN bound to LSTM/GRU), so it is no ground for a warning either
            return verdict(finding, OPPOSITE, f"{text}, it {direction} at initialization, as gated "
                           "cells do before their gates learn", d, Severity.INFO)
        if severity is not None:  # ρ·γ is a bound: the typical step gain can sit on the other side of 1
            why = _RELU_WHY if d < 0 and _is_relu(ctx, finding) else ""
            return verdict(finding, OPPOSITE, f"{text}, it {direction}{why}", d, severity)
        return verdict(finding, REFUTED, text, d)

    def propose(self, finding: Finding, sources) -> Proposal | None:
        """The recurrent weight the finding names initialized orthogonal (the identity for a ReLU
        recurrence), at the end of the model's `__init__` (unsafe where the model already sets
        that weight by hand); for an ``nn.RNN``, the gated cell as the other repair (unsafe)."""
        from gradlint.rules._model_fixes import builder, explicit_init, gated_swap, recurrent_init, relu_recurrence

        built = builder(finding, sources)
        if built is None:
            return None
        swap = gated_swap(built, finding) if finding.span is None and finding.args.get("kind") == "RNN" else None
        gated = Proposal(f"use `{built.nn}.GRU` for `{finding.args['module']}`", (swap,), safe=False) \
            if swap is not None else None
        found = recurrent_init(built, finding) if built.kind == "class" else None
        edits = built.append(found[0]) if found else None
        if not edits:
            return gated
        by_hand = any(".weight" in built.file.code(call) and finding.args["module"] in built.file.code(call)
                      for call in explicit_init(built))
        init = Proposal(f"initialize {found[1]}", tuple(edits), safe=not by_hand)
        if gated is not None and not relu_recurrence(built, finding):
            # a tanh nn.RNN vanishes over a long horizon even at ρ = 1 (the probe measures it
            # with orthogonal weights): the gated cell is the repair that holds there, the
            # orthogonal init the one that keeps nn.RNN where it suffices
            return dataclasses.replace(gated, fallback=init)
        # a ReLU recurrence keeps nn.RNN with the identity (IRNN) where that trains
        return dataclasses.replace(init, fallback=gated)

    # a tiny model file this rule flags on the line marked `# expect:`, and the same file
    # fixed (tests/test_rule_examples.py runs both)
    invalid = '''\
        import torch
        from torch import nn


        class DriftedIRNN(nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = nn.RNN(2, 16, nonlinearity="relu", batch_first=True)
                with torch.no_grad():
                    self.rnn.weight_hh_l0.copy_(1.1 * torch.eye(16))
                    self.rnn.bias_hh_l0.zero_()
                self.head = nn.Linear(16, 1)

            def forward(self, x):
                out, _ = self.rnn(x)  # expect: GL301 error
                return self.head(out[:, -1])
        '''
    valid = '''\
        from torch import nn


        class Gated(nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = nn.LSTM(2, 16, batch_first=True)
                self.head = nn.Linear(16, 1)

            def forward(self, x):
                out, _ = self.rnn(x)
                return self.head(out[:, -1])
        '''
