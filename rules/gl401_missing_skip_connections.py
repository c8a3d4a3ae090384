from __future__ import annotations

from collections.abc import Iterable

from gradlint.check.rule import CLASS_H, CONFIRMED, NOT_MEASURED, REFUTED, ModelContext, Rule, gain_text, verdict
from gradlint.core.findings import Finding, Severity


def _longest_run(ctx: ModelContext, chain) -> int:
    """The most layers of ``chain`` in a row with no residual join between them: an add of the
    analysis' residual blocks whose branch holds a layer (a rotary embedding's ``q·cos +
    rotate(q)·sin`` adds two data tensors too, around no layer). An inverted-residual network
    (MobileNetV2) has no skip where a block changes the shape, so its fewest-layer route crosses
    every such transition, yet a skip joins the stream after each few of them: no stretch of it
    is the plain stack that degrades."""
    kind = ctx.analysis.topology.kind
    joins = {block.add for block in ctx.analysis.residual_blocks
             if any(kind[n] in ("weight", "recurrent", "attention") for n in block.branch)}
    members = set(chain.nodes)
    run = longest = 0
    for node in chain.route:
        if node in members:
            run += 1
            longest = max(longest, run)
        elif node in joins:
            run = 0
    return longest


class MissingSkipConnections(Rule):
    """
    ## What it does
    Finds long paths of weight layers with no skip (residual) connection around any of them: the
    depth is the fewest weight layers that any gradient route from the output must cross, so a
    residual add or a concatenation with a shortcut cuts it, while parallel branches that each
    hold a layer (q/k/v projections, gated MLPs) still count as one layer. A route that a skip
    joins every few layers is not a plain stack even when its layers add up past the limit: an
    inverted-residual network (MobileNetV2) has skips only where a block keeps the shape, so its
    route crosses every shape-changing block, 23 layers in all, never more than a few in a row;
    the rule judges the longest stretch between joins.

    ## Why is this bad?
    Deep plain stacks *degrade*: He et al. 2016 measured healthy gradient norms in a 34-layer
    plain net with BatchNorm, yet it reached a higher training error than the 18-layer one
    (top-1 28.54% vs 27.94%; ResNet-34 25.03%). Yang et al. 2019 prove that batch-normalized
    plain ReLU nets explode at large depth and are untrainable past about 50 layers.

    ## Example
    ```python
    self.blocks = nn.Sequential(*[
        nn.Sequential(nn.Linear(128, 128), nn.BatchNorm1d(128), nn.ReLU()) for _ in range(32)
    ])
    ```

    Use instead:
    ```python
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.f = nn.Sequential(nn.Linear(128, 128), nn.BatchNorm1d(128), nn.ReLU())
        def forward(self, x):
            return x + self.f(x)
    ```

    ## Options
    - `max-depth` (20): longest skip-free path that is still fine; longer is a warning
      (THEORY.md §3, "Deep plain stack": He 2016's plain-34 degrades).
    - `error-depth` (50): longer paths that also hold a normalization layer are an error
      (Yang 2019, Thm 8: BN-ReLU plain nets untrainable past ~50 layers).

    The probe's measured gradient ratio over the path is shown as evidence. A healthy ratio does
    not clear the finding: the risk is degradation, not vanishing.

    ## References
    - He et al. 2016, "Deep Residual Learning for Image Recognition".
    - Yang et al. 2019, "A Mean Field Theory of Batch Normalization".
    - THEORY.md §3.
    """

    code = "GL401"
    name = "missing-skip-connections"
    severity = Severity.WARNING
    summary = "Long path of weight layers with no skip connection around any of them"
    fix = "add residual connections (x + f(x)) around blocks of 2-3 layers"
    options = {"max-depth": 20, "error-depth": 50}

    def check(self, ctx: ModelContext) -> Iterable[Finding]:
        if ctx.analysis is None:
            return
        kind = ctx.analysis.topology.kind
        for chain in ctx.analysis.chains("skipless"):
            if len(chain) <= self.opts["max-depth"] or _longest_run(ctx, chain) <= self.opts["max-depth"]:
                continue
            normalized = any(kind[n] == "norm" for n in chain.route)
            severity = (Severity.ERROR if normalized and len(chain) > self.opts["error-depth"]
                        else Severity.WARNING)
            start, end = ctx.analysis.comparable_span(chain)
            static_d = ctx.analysis.static_d(chain, start, end) if ctx.weights_known else None
            gain = f"; predicted gradient gain {gain_text(static_d)}" if static_d is not None else ""
            yield self.make(
                ctx.location(chain.start, chain.end),
                "{count} weight layers on a path with no skip connection (from `{first}` to "
                "`{last}`; deeper than {limit}: plain stacks this deep train worse than shallower "
                "ones{gain})",
                {"count": len(chain), "first": ctx.label(chain.start), "last": ctx.label(chain.end),
                 "limit": self.opts["max-depth"], "gain": gain},
                severity=severity, model=ctx.model_name, node=ctx.label(chain.start),
                span=(start, end), static_d=static_d,
            )

    def confirm(self, finding: Finding, ctx: ModelContext, measured) -> Finding:
        d = measured.graph.span_d(*finding.span)  # type: ignore[misc]
        if d is None:
            return verdict(finding, NOT_MEASURED, "the path")
        # a gradient of exactly 0 at the start measures -inf: the text says "0", the number is None
        if abs(d) >= CLASS_H.warning:
            return verdict(finding, CONFIRMED, f"gradient across the path is {gain_text(d)} (distorted "
                           "as well as deep)", d)
        # a healthy gradient refutes only the distortion: the depth itself stays the finding
        return verdict(finding, REFUTED, f"gradient across the path is {gain_text(d)}, healthy; the risk "
                       "is degradation, not vanishing", d, finding.severity)

    # a tiny model file this rule flags on the line marked `# expect:`, and the same file
    # fixed (tests/test_rule_examples.py runs both)
    invalid = '''\
        from torch import nn


        class Plain(nn.Module):
            def __init__(self):
                super().__init__()
                self.net = nn.Sequential(*[m for _ in range(24)
                                           for m in (nn.Linear(16, 16), nn.BatchNorm1d(16), nn.ReLU())])

            def forward(self, x):
                return self.net(x)  # expect: GL401 warning
        '''
    valid = '''\
        import torch
        from torch import nn


        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc, self.norm = nn.Linear(16, 16), nn.BatchNorm1d(16)

            def forward(self, x):
                return x + torch.relu(self.norm(self.fc(x)))


        class Residual(nn.Module):
            def __init__(self):
                super().__init__()
                self.net = nn.Sequential(*[Block() for _ in range(24)])

            def forward(self, x):
                return self.net(x)
        '''
