from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from gradlint.check.rule import (
    CLASS_H,
    ModelContext,
    Rule,
    Thresholds,
    gain_text,
    span_verdict,
)
from gradlint.core.findings import Finding, Severity
from gradlint.source.edits import Proposal


class MissingNormalization(Rule):
    """
    ## What it does
    Finds deep stacks of weight layers (Linear, Conv, ...) with no normalization layer between
    them whose predicted gradient gain over the stack is far from 1 (measured between the first
    and last layer of the stack with the same output shape, so a narrow output head is not
    mistaken for vanishing). The gain is the mean-field
    estimate from the actual weights: per layer χ = fan_out·Var(W)·E[φ'(z)²] at the propagated
    pre-activation variance, D = ½·Σ log10 χ.

    ## Why is this bad?
    Without normalization, the gradient scale at the first layer is the product of the per-layer
    gains, so any mis-scaled initialization compounds with depth. PyTorch's default `nn.Linear`
    init gives ReLU nets a per-layer gain of 0.40: a 20-layer default-init ReLU MLP has D ≈ −7.4.
    He et al. 2015 measured a 30-layer ReLU net with Xavier init (D ≈ −4.3) that does not train
    and a 22-layer one (D ≈ −3.1) that converges, late.

    ## Example
    ```python
    layers = []
    for _ in range(20):
        layers += [nn.Linear(256, 256), nn.ReLU()]
    self.net = nn.Sequential(*layers)
    ```

    Use instead:
    ```python
    for _ in range(20):
        layers += [nn.Linear(256, 256), nn.BatchNorm1d(256), nn.ReLU()]
    # or keep the stack and initialize it for its activation:
    for m in self.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    ```

    `gradlint --fix --unsafe-fixes` inserts `nn.BatchNorm1d(width)` (`nn.BatchNormNd` after a
    convolution) between each weight layer and the activation module after it, where the stack is
    written out as a list or an `nn.Sequential`. Where it is not (an `nn.ModuleList` loop with
    functional activations), or that does not verify, or without `--unsafe-fixes` where the model
    sets no weights by hand, `gradlint --fix` initializes every weight layer for the chain's
    activation (Kaiming for ReLU) at the end of `__init__`.

    ## Options
    - `min-depth` (5): weight layers a stack needs before it is considered.
    - `warning-d` (2.0), `error-d` (4.0): |D| at which the stack is a warning or an error for
      ReLU-family and linear stacks (THEORY.md §3, class H: He 2015's 22-layer net at D ≈ −3.1
      converges, the 30-layer one at D ≈ −4.3 stalls).

    Stacks whose path holds two or more saturating activations are left to GL101
    (saturating-activation-chain), which judges them with the class-S thresholds.

    The probe confirms a finding when the measured activation-gradient ratio between the first
    and last layer of the stack has the predicted sign and passes the warning threshold;
    otherwise the finding is kept as info (the weights are better scaled than the rule assumed).

    ## References
    - He et al. 2015, "Delving Deep into Rectifiers" (kaiming init; 22/30-layer experiments).
    - Glorot & Bengio 2010; Ioffe & Szegedy 2015.
    - THEORY.md §1 (gain per layer, PyTorch default init), §3 (thresholds).
    """

    code = "GL201"
    name = "missing-normalization"
    severity = Severity.WARNING
    summary = "Deep stack of weight layers without normalization whose gradient gain is far from 1"
    fix = ("add BatchNorm/LayerNorm between the layers, or initialize for the activation "
           "(kaiming_normal_ for ReLU, xavier_normal_ for tanh)")
    needs_weights = True
    options = {
        "min-depth": 5,
        "warning-d": CLASS_H.warning,
        "error-d": CLASS_H.error,
    }

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(self.opts["warning-d"], self.opts["error-d"])

    def check(self, ctx: ModelContext) -> Iterable[Finding]:
        if ctx.analysis is None:
            return
        facts = ctx.analysis.nodes
        for chain in ctx.analysis.chains("unnormalized"):
            if len(chain) < self.opts["min-depth"]:
                continue
            start, end = ctx.analysis.comparable_span(chain)
            if sum(facts[n]["saturating"] for n in chain.route) >= 2:
                continue  # a chain of saturating activations: GL101's finding, with class-S limits
            static_d = ctx.analysis.static_d(chain, start, end)
            severity = self.thresholds.severity(static_d)
            if severity is None:
                continue
            yield self.make(
                ctx.location(chain.start, chain.end),
                "{count} weight layers in a row with no normalization; predicted gradient gain "
                "from `{first}` to `{last}` is {gain} ({direction})",
                {"count": len(chain), "first": ctx.label(start), "last": ctx.label(end),
                 "gain": gain_text(static_d),
                 "direction": "vanishing" if static_d < 0 else "exploding",
                 "activation": _activation(chain, facts)},
                severity=severity, model=ctx.model_name, node=ctx.label(chain.start),
                span=(start, end), static_d=static_d,
            )

    def confirm(self, finding: Finding, ctx: ModelContext, measured) -> Finding:
        return span_verdict(finding, ctx, measured, self.thresholds)

    def propose(self, finding: Finding, sources) -> Proposal | None:
        """Unsafe: a BatchNorm1d (BatchNormNd after a convolution) between each weight layer and the
        activation after it, where the stack is a list or an `nn.Sequential` of modules whose
        widths are written out; else (or when that does not verify) every weight layer
        initialized for the chain's activation (Kaiming for ReLU), which is safe where the model
        sets no weights by hand."""
        from gradlint.rules._model_fixes import builder, explicit_init, init_call, norm_inserts, replace_init

        built = builder(finding, sources)
        if built is None:
            return None
        activation = finding.args.get("activation")
        init_edits = replace_init(built, activation) if activation else None
        init = Proposal(f"initialize every weight layer with `{init_call(activation, built.nn, 'w')}`",
                        tuple(init_edits), safe=not explicit_init(built)) if init_edits else None
        norm_edits = norm_inserts(built)
        if not norm_edits:
            return init
        return Proposal("add a normalization layer after each weight layer of the stack", tuple(norm_edits),
                        safe=False, fallback=init)

    # a tiny model file this rule flags on the line marked `# expect:`, and the same file
    # fixed (tests/test_rule_examples.py runs both)
    invalid = '''\
        from torch import nn


        class DeepRelu(nn.Module):
            def __init__(self):
                super().__init__()
                self.net = nn.Sequential(*[m for _ in range(12) for m in (nn.Linear(32, 32), nn.ReLU())])

            def forward(self, x):
                return self.net(x)  # expect: GL201 error
        '''
    valid = '''\
        from torch import nn


        class DeepReluNormalized(nn.Module):
            def __init__(self):
                super().__init__()
                self.net = nn.Sequential(*[m for _ in range(12)
                                           for m in (nn.Linear(32, 32), nn.BatchNorm1d(32), nn.ReLU())])

            def forward(self, x):
                return self.net(x)
        '''


def _activation(chain, facts) -> str | None:
    """The activation most of the chain's layers are followed by ("relu"), or None."""
    found = Counter(facts[a]["activation"] for a in chain.activations if a and facts[a]["activation"])
    return found.most_common(1)[0][0] if found else None
