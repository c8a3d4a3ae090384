from __future__ import annotations

import math
import statistics
from collections.abc import Iterable

from gradlint.check.rule import CONFIRMED, NOT_MEASURED, REFUTED, ModelContext, Rule, verdict
from gradlint.core.findings import Finding, Severity
from gradlint.source.edits import Proposal

_INIT = {
    "relu": "nn.init.kaiming_normal_(w, nonlinearity='relu')",
    "relu6": "nn.init.kaiming_normal_(w, nonlinearity='relu')",
    "leaky_relu": "nn.init.kaiming_normal_(w, a=slope, nonlinearity='leaky_relu')",
    "tanh": "nn.init.xavier_normal_(w, gain=nn.init.calculate_gain('tanh'))",
    "sigmoid": "nn.init.xavier_normal_(w)",
    "selu": "nn.init.kaiming_normal_(w, nonlinearity='linear')  (LeCun normal)",
}


class InitScale(Rule):
    """
    ## What it does
    Computes each hidden weight layer's backward gain at initialization, χ = fan_out·Var(W)·
    E[φ'(z)²] with the activation that follows it at the propagated variance (THEORY.md §1), for
    square layers of unnormalized stacks at least `min-depth` layers deep, and notes the model
    when the median layer has χ outside [`low`, `high`], naming the initializer that gives χ ≈ 1.
    It stays quiet when GL101, GL102, GL201 or GL202 already reports the model.

    ## Why is this bad?
    The gradient of a plain stack scales like Π χ: at PyTorch's default `nn.Linear` init a ReLU
    layer has χ ≈ 0.17 (RMS gain 0.40), tanh ≈ 0.33; over 20 layers that is 1e-7. He and Xavier
    initializations exist to make χ ≈ 1. An info note: GL201/GL102 judge the whole stack.

    ## Example
    ```python
    self.layers = nn.ModuleList(nn.Linear(256, 256) for _ in range(12))   # default init, ReLU
    ```

    Use instead:
    ```python
    for layer in self.layers:
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        nn.init.zeros_(layer.bias)
    ```

    `gradlint --fix` adds that loop (over `self.modules()`, for the weight layers the file builds,
    with the initializer for the activation the finding names) at the end of the model's
    `__init__`, before a factory's `return`, or after a module-level `nn.Sequential`; it is an
    unsafe fix where the model already sets its weights by hand.

    ## Options
    - `low` (0.6), `high` (1.7): the χ band that is fine (THEORY.md §3, "Init scale").
    - `min-depth` (4): weight layers a plain stack needs before its layers are looked at.

    ## References
    - He et al. 2015; Glorot & Bengio 2010; Saxe et al. 2013 (orthogonal); THEORY.md §1, §3.
    """

    code = "GL601"
    name = "init-scale"
    severity = Severity.INFO
    summary = "Hidden layers whose per-layer gradient gain at initialization is far from 1"
    fix = "initialize for the activation (kaiming for ReLU, xavier for tanh/sigmoid, orthogonal)"
    needs_weights = True
    explained_by = ("GL101", "GL102", "GL201", "GL202")  # they already carry the fix
    options = {"low": 0.6, "high": 1.7, "min-depth": 4}

    def check(self, ctx: ModelContext) -> Iterable[Finding]:
        if ctx.analysis is None or any(f.code in self.explained_by for f in ctx.prior):
            return
        facts, gains = ctx.analysis.nodes, ctx.analysis.meanfield
        chains = ctx.analysis.chains("unnormalized")
        low, high = self.opts["low"], self.opts["high"]
        off: list[tuple[str, float, str | None]] = []
        checked: list[float] = []
        span: tuple[str, str] | None = None
        for chain in chains:
            if len(chain) < self.opts["min-depth"]:
                continue
            # each layer but the last, with the activation the chains pass found after it
            for layer, activation in zip(chain.nodes[:-1], chain.activations):
                for shape in facts[layer]["params"].values():
                    if len(shape) == 2 and shape[0] == shape[1]:
                        break
                else:
                    continue  # no square weight
                chi = gains[layer][1] * (gains[activation][1] if activation else 1.0)
                checked.append(chi)
                if not low <= chi <= high:
                    off.append((layer, chi, facts[activation]["activation"] if activation else None))
                    span = span or (chain.start, chain.nodes[-1])
        # the typical layer decides: the first layer sees the raw input, not the stack's fixed point
        if not off or self.opts["low"] <= statistics.median(checked) <= self.opts["high"]:
            return
        layer, chi, activation = off[0]
        init = _INIT.get(activation or "", "nn.init.orthogonal_(w)" if activation is None else
                         "nn.init.kaiming_normal_(w)")
        yield self.make(
            ctx.location(layer),
            "{count} of {checked} hidden layers have a per-layer gradient gain χ outside "
            "[{low}, {high}] (`{first}`: χ = {chi:.2f}{after}); initialize with {init}",
            {"count": len(off), "checked": len(checked), "low": self.opts["low"], "high": self.opts["high"],
             "first": ctx.label(layer), "chi": chi, "after": f" before {activation}" if activation else "",
             "init": init},
            model=ctx.model_name, node=ctx.label(layer), span=span,
            static_d=0.5 * math.log10(statistics.median(checked)),
        )

    def confirm(self, finding: Finding, ctx: ModelContext, measured) -> Finding:
        """The probe's per-layer gain: the measured ratio over the stack, per layer."""
        start, end = finding.span  # type: ignore[misc]
        d = measured.graph.span_d(start, end)
        chain = next((c for c in ctx.analysis.chains("unnormalized") if (c.start, c.end) == (start, end)), None)
        steps = len(chain) - 1 if chain is not None else 0  # the layers after the first
        if d is None or not math.isfinite(d) or not steps:
            return verdict(finding, NOT_MEASURED, "the stack")
        chi = 10 ** (2 * d / steps)
        inside = self.opts["low"] <= chi <= self.opts["high"]
        # an initialization off by a measured χ inside the band is still the finding's advice
        return verdict(finding, REFUTED if inside else CONFIRMED, f"measured χ per layer = {chi:.2f}", d,
                       finding.severity)

    def propose(self, finding: Finding, sources) -> Proposal | None:
        """The initialization loop for the activation the finding names, where the model is built
        (the end of its class's `__init__`, a factory's return, a module-level Sequential); unsafe
        where the model already sets its weights by hand (the loop would override that choice)."""
        from gradlint.rules._model_fixes import builder, explicit_init, init_call, init_loop

        built = builder(finding, sources)
        after = finding.args.get("after", "")
        activation = after.removeprefix(" before ") or None
        lines = init_loop(built, activation) if built is not None else None
        edits = built.append(lines) if lines else None
        if not edits:
            return None
        init = init_call(activation, built.nn, "w")
        return Proposal(f"initialize every weight layer with `{init}`", tuple(edits),
                        safe=not explicit_init(built))

    # a tiny model file this rule flags on the line marked `# expect:`, and the same file
    # fixed (tests/test_rule_examples.py runs both)
    invalid = '''\
        import torch
        from torch import nn


        class DefaultInit(nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = nn.ModuleList(nn.Linear(64, 64) for _ in range(4))

            def forward(self, x):
                for layer in self.layers:
                    x = torch.relu(layer(x))  # expect: GL601 info
                return x
        '''
    valid = '''\
        import torch
        from torch import nn


        class HeInit(nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = nn.ModuleList(nn.Linear(64, 64) for _ in range(4))
                for layer in self.layers:
                    nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")

            def forward(self, x):
                for layer in self.layers:
                    x = torch.relu(layer(x))
                return x
        '''
