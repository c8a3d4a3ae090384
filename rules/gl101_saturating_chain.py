from __future__ import annotations

from collections.abc import Iterable

from gradlint.check.rule import (
    CLASS_S,
    CLASS_S_CHAOTIC,
    ModelContext,
    Rule,
    Thresholds,
    gain_text,
    span_verdict,
)
from gradlint.core.findings import Finding, Severity
from gradlint.source.edits import Proposal

def _resamples(ctx: ModelContext, chain) -> bool:
    """Whether the chain's members see more than one resolution (their shapes differ beyond the
    batch and the channels: a pooling, a strided layer or a resize lies between them)."""
    shapes = {tuple(shape[2:]) for shape in (ctx.graph.nodes[n]["shape"] for n in chain.nodes)
              if shape is not None and len(shape) >= 3}
    return len(shapes) > 1


class SaturatingActivationChain(Rule):
    """
    ## What it does
    Finds chains of saturating activations (sigmoid, hardsigmoid, tanh, hardtanh, softsign) that
    follow one another along the data flow with no normalization layer and no skip connection in
    between: on the cheapest route a gradient can take from the output back to the first
    activation, it crosses every activation of the chain (a skip connection is a cheaper route,
    so it ends the chain). Consecutive activations must have a weight layer between them. A chain
    that pooling, a strided layer or a resize splits into several resolutions (a VGG-shaped net)
    is judged whole: its gain, predicted and measured, is the ratio of the gradient's norms from
    its first activation to its last (a max-pooling divides the RMS without losing gradient), not
    the part at its most common resolution.

    ## Why is this bad?
    Backpropagation multiplies the activation derivatives of a chain. Sigmoid's derivative is at
    most 1/4, so a chain of sigmoids shrinks the gradient geometrically: a 5-layer sigmoid MLP
    ends at 82.6% error in Glorot & Bengio's experiment. tanh chains shrink the gradient by the
    mean-field gain χ = fan_out·Var(W)·E[tanh'(z)²] per layer; at PyTorch's default init that is
    D ≈ −1.0 over five layers, enough to slow training (27.2% vs 15.6% error with Xavier init).

    ## Example
    ```python
    self.net = nn.Sequential(
        nn.Linear(64, 64), nn.Sigmoid(),
        nn.Linear(64, 64), nn.Sigmoid(),
        nn.Linear(64, 64), nn.Sigmoid(),
        nn.Linear(64, 64), nn.Sigmoid(),
    )
    ```

    Use instead:
    ```python
    self.net = nn.Sequential(
        nn.Linear(64, 64), nn.LayerNorm(64), nn.GELU(),
        nn.Linear(64, 64), nn.LayerNorm(64), nn.GELU(),
    )
    ```

    `gradlint --fix --unsafe-fixes` makes the chain's activations ReLU (`nn.Tanh()` → `nn.ReLU()`,
    `torch.tanh(x)` → `torch.relu(x)`; an `nn.Sequential`'s last layer, the output, is kept) and
    adds the Kaiming initialization ReLU needs where the model is built.

    ## Options
    - `sigmoid-warning-length` (2), `sigmoid-error-length` (4): chain lengths at which a chain of
      sigmoid-like activations (derivative ≤ 1/4) is a warning or an error (THEORY.md §3,
      "Saturating chain": Glorot 2010; Ioffe & Szegedy 2015's 3×100 sigmoid net trains, slower).
    - `warning-d` (0.65), `error-d` (1.3): |D| of the static gain over a chain with tanh-like
      activations at which it is a warning or an error (THEORY.md §3, class S: Schoenholz 2017,
      trainable iff depth ≲ 6ξ; D = −L/(4.6ξ), so 3ξ ↔ 0.65 and 6ξ ↔ 1.3).
    - `chaotic-warning-d` (1.3): the warning threshold when the gradient *grows* across a
      tanh-like chain (the chaotic phase). The warning band's anchor (Glorot's standard init,
      D ≈ −1.0) is on the shrinking side; on the growing side the only published anchor is the
      6ξ trainability bound, and in eval/ chaotic 16-layer tanh nets at D = 0.7–0.8 trained.

    The probe confirms a finding when the measured activation-gradient ratio over the chain has
    the predicted sign and |D| ≥ `warning-d` (`chaotic-warning-d` when the gradient grows);
    otherwise the finding is kept as info.

    ## References
    - Glorot & Bengio 2010, "Understanding the difficulty of training deep feedforward networks".
    - Schoenholz et al. 2017, "Deep Information Propagation".
    - Ioffe & Szegedy 2015, "Batch Normalization".
    - THEORY.md §1 (gain per layer), §3 (thresholds), §4 (published cases).
    """

    code = "GL101"
    name = "saturating-activation-chain"
    severity = Severity.ERROR
    summary = "Chain of saturating activations with no normalization or skip connection between"
    fix = "use ReLU/GELU with kaiming init, or add LayerNorm/BatchNorm between the activations"
    needs_weights = True
    options = {
        "sigmoid-warning-length": 2,
        "sigmoid-error-length": 4,
        "warning-d": CLASS_S.warning,
        "error-d": CLASS_S.error,
        "chaotic-warning-d": CLASS_S_CHAOTIC.warning,
    }

    def thresholds(self, static_d: float | None) -> Thresholds:
        """Class S's thresholds; a gradient that grows across the chain (the chaotic phase) has
        no warning band (gradlint.check.rule.CLASS_S_CHAOTIC)."""
        growing = static_d is not None and static_d > 0
        return Thresholds(self.opts["chaotic-warning-d" if growing else "warning-d"], self.opts["error-d"])

    def check(self, ctx: ModelContext) -> Iterable[Finding]:
        if ctx.analysis is None:
            return
        graph = ctx.graph
        chains = ctx.analysis.chains("saturating")
        for chain in (part for whole in chains for part in self._layer_chains(ctx, whole)):
            activations = [graph.nodes[n]["activation"] for n in chain.nodes]
            if _resamples(ctx, chain):
                # split by pooling or resizing: judged as one chain, by the ratio of the
                # gradient's norms (a max-pooling divides the RMS without losing gradient)
                start, end = chain.start, chain.end
                static_d = ctx.analysis.static_d(chain, start, end) + ctx.analysis.judged_correction(start, end)
            else:
                start, end = ctx.analysis.comparable_span(chain)
                static_d = ctx.analysis.static_d(chain, start, end)
            if all(graph.nodes[n]["max_derivative"] <= 0.25 for n in chain.nodes):
                severity = self._by_length(len(chain))
            else:
                severity = self.thresholds(static_d).severity(static_d)
            if severity is None:
                continue
            names = "/".join(sorted(set(activations), key=activations.index))
            direction = "shrinks" if static_d < 0 else "grows"
            yield self.make(
                ctx.location(chain.start, chain.end),
                "{count} {activation} layers in a row with no normalization or skip connection "
                "(static gain {gain}: the gradient {direction} across the chain)",
                {"count": len(chain), "activation": names, "gain": gain_text(static_d),
                 "direction": direction},
                severity=severity, model=ctx.model_name, node=ctx.label(chain.start),
                span=(start, end), static_d=static_d,
            )

    @staticmethod
    def _layer_chains(ctx: ModelContext, chain):
        """Split a chain where two activations have no weight layer between them: a chain is of
        *layers*; ``sigmoid(i) * tanh(g)`` gating inside one cell is not two layers."""
        part = [chain.start]
        for previous, current in zip(chain.nodes, chain.nodes[1:]):
            if not any(ctx.graph.nodes[n]["kind"] == "weight" for n in chain.between(previous, current)):
                if len(part) >= 2:
                    yield chain.part(part)
                part = []
            part.append(current)
        if len(part) >= 2:
            yield chain.part(part)

    def _by_length(self, length: int) -> Severity | None:
        if length >= self.opts["sigmoid-error-length"]:
            return Severity.ERROR
        if length >= self.opts["sigmoid-warning-length"]:
            return Severity.WARNING
        return None

    def confirm(self, finding: Finding, ctx: ModelContext, measured) -> Finding:
        saturated = measured.graph.saturated
        shares = [saturated[n] for n in finding.span if n in saturated]  # type: ignore[union-attr]
        tails = f"; {max(shares):.0%} of the outputs in the flat tails" if shares else ""
        start, end = finding.span  # type: ignore[misc]
        shapes = {tuple(ctx.graph.nodes[n]["shape"] or ())[2:] for n in (start, end)}
        correction = ctx.analysis.judged_correction(start, end) if len(shapes) > 1 else 0.0
        return span_verdict(finding, ctx, measured, self.thresholds(finding.static_d), correction=correction,
                            suffix=tails)

    def propose(self, finding: Finding, sources) -> Proposal | None:
        """Unsafe: the chain's saturating activations made ReLU (never an `nn.Sequential`'s
        last, the output), with the Kaiming initialization ReLU needs, where the model is built."""
        from gradlint.rules._model_fixes import builder, init_loop, relu_swaps

        built = builder(finding, sources)
        swaps = relu_swaps(built, finding) if built is not None else None
        lines = init_loop(built, "relu") if swaps else None
        init = built.append(lines) if lines else None
        if not init:
            return None
        return Proposal(f"use ReLU for the {finding.args['activation']} activations of the chain, with "
                        "Kaiming initialization", (*swaps, *init), safe=False)

    # a tiny model file this rule flags on the line marked `# expect:`, and the same file
    # fixed (tests/test_rule_examples.py runs both)
    invalid = '''\
        from torch import nn


        class SigmoidMLP(nn.Module):
            def __init__(self):
                super().__init__()
                layers = [m for _ in range(5) for m in (nn.Linear(32, 32), nn.Sigmoid())]
                self.net = nn.Sequential(*layers, nn.Linear(32, 2))

            def forward(self, x):
                return self.net(x)  # expect: GL101 error
        '''
    valid = '''\
        from torch import nn


        class GeluMLP(nn.Module):
            def __init__(self):
                super().__init__()
                layers = [m for _ in range(5) for m in (nn.Linear(32, 32), nn.GELU())]
                self.net = nn.Sequential(*layers, nn.Linear(32, 2))

            def forward(self, x):
                return self.net(x)
        '''
