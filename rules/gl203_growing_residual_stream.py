from __future__ import annotations

import math
from collections.abc import Iterable

from gradlint.check.rule import CONFIRMED, NOT_MEASURED, REFUTED, ModelContext, Rule, Thresholds, verdict
from gradlint.core.findings import Finding, Severity
from gradlint.source.edits import Proposal


def branch_ends(ctx: ModelContext) -> dict:
    """The finding's arguments that name each residual block's last weight layer along the main
    span (``branch_ends``, the modules' names), whether an activation follows it in its branch
    (``branch_activated``) and the model's class (``model_class``: a model named in
    ``gradlint_models()`` is built by a class of another name), for the fix; none where a branch
    ends in no module's weights."""
    if ctx.analysis is None:
        return {}
    nodes, position = ctx.graph.nodes, ctx.analysis.topology.position
    ends, activated = [], False
    for block in ctx.analysis.residual_blocks:
        weights = [n for n in block.branch if nodes[n]["kind"] == "weight" and nodes[n]["module"]]
        if not weights:
            return {}
        last = max(weights, key=position.__getitem__)
        ends.append(nodes[last]["module"])
        activated |= any(nodes[n]["activation"] for n in block.branch if position[n] > position[last])
    if not ends:
        return {}
    return {"branch_ends": ends, "branch_activated": activated, "model_class": type(ctx.model).__name__}


class GrowingResidualStream(Rule):
    """
    ## What it does
    Finds residual stacks with no normalization on the stream or in the branches, whose
    branches hold only weight layers and ReLU-family activations (positively homogeneous: a
    branch's output scales with the stream it reads), and predicts how much the residual stream's RMS grows from the
    first block to the last. The mean-field pass tracks each node's second moment *and* the mean
    its units share: a ReLU branch adds the same positive offset to every unit, and along the
    stream these offsets add up coherently, so the stream grows geometrically — faster than the
    sum of the branches' variances suggests. The probe measures the forward RMS at both ends.

    ## Why is this bad?
    Zhang, Dauphin & Ma 2019 (Fixup) show that without normalization the output scale of a
    residual network grows exponentially with depth, and with it the gradient of the loss with
    respect to the weights: training at an ordinary learning rate diverges even though the
    activation-gradient ratio across the stack (GL202) looks moderate. De & Smith 2020 (SkipInit)
    make the same point: normalization's role in residual nets is to down-scale the branches.
    On gradlint's evaluation (eval/, two spirals and gratings, SGD with momentum at the task's
    learning rate, a third of it and three times it) unnormalized ReLU residual stacks whose
    stream grew up to ×25 trained (from ×9 on, only at the smaller learning rate: the others
    diverged to NaN), and every one that grew ×41 or more diverged at every learning rate; stacks
    with BatchNorm in the branches grew ×20 by adding bounded increments and trained.

    ## Example
    ```python
    class Block(nn.Module):
        def forward(self, x):
            return x + torch.relu(self.fc(x))     # 20 of these: the stream grows ×60
    ```

    Use instead:
    ```python
    class Block(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.fc = nn.Linear(width, width)
            nn.init.zeros_(self.fc.weight)         # Fixup / SkipInit: each branch starts at 0
            nn.init.zeros_(self.fc.bias)           # (or normalize: x + relu(norm(fc(x))))
    ```

    `gradlint --fix` zero-initializes each block's last weight layer (scales its parameters by
    1/√depth where an activation follows it in the branch: a zero layer before a ReLU never
    learns), in a loop over the blocks' container at the end of the model's `__init__`; it needs
    `--unsafe-fixes` where the model sets weights by hand.

    ## Options
    - `warning-d` (1.5), `error-d` (2.0): log10 of the stream's RMS growth (×32, ×100) at which
      the finding is a warning or an error. ×32 sits between the largest growth that trained
      (×25) and the smallest that failed (×41) in eval/.
    - `min-blocks` (2): residual blocks needed before the stack is judged.

    When GL202 already reports the gradient exploding across the same stack, this rule stays
    quiet: the cause and the fix are the same. The finding is confirmed when the probe's forward RMS grows past the warning threshold over
    the same span; otherwise it is kept as info with the measured growth.

    ## References
    - Zhang, Dauphin & Ma 2019 (Fixup); De & Smith 2020 (SkipInit); THEORY.md §1 (residual
      blocks: 1 + α²·χ_F per block), §2 (forward RMS ratio); eval/ (the documentation's "Evaluation against training").
    """

    code = "GL203"
    name = "growing-residual-stream"
    severity = Severity.ERROR
    summary = "Residual stream of an unnormalized residual stack predicted (and measured) to grow geometrically"
    fix = ("zero-initialize each branch's last layer (Fixup/SkipInit), scale branches by 1/√depth, "
           "or normalize inside each branch")
    needs_weights = True
    explained_by = ("GL202",)  # a gradient explosion already reported has the same cause and fix
    options = {"warning-d": 1.5, "error-d": 2.0, "min-blocks": 2}

    def check(self, ctx: ModelContext) -> Iterable[Finding]:
        if ctx.analysis is None or ctx.analysis.main_span is None:
            return
        if any(f.code in self.explained_by for f in ctx.prior):
            return
        blocks = ctx.analysis.residual_blocks
        if len(blocks) < self.opts["min-blocks"] or not all(self._homogeneous(ctx, b.branch) for b in blocks):
            return
        route = ctx.analysis.main_route()
        stream = route[:route.index(blocks[-1].add) + 1]   # the stream, not the head after it
        if any(ctx.graph.nodes[n]["kind"] == "norm" for n in stream):
            return  # the stream itself is normalized (post-norm): it cannot grow geometrically
        start, end = stream[0], stream[-1]
        q = ctx.analysis.meanfield
        growth = 0.5 * math.log10(max(q[end][0], 1e-300) / max(q[start][0], 1e-300))
        severity = Thresholds(self.opts["warning-d"], self.opts["error-d"]).severity(growth)
        if growth <= 0 or severity is None:
            return
        yield self.make(
            ctx.location(blocks[0].add),  # the residual add, in the block or in the loop over blocks
            "the residual stream grows by {gain:.2g} in RMS from `{first}` to `{last}` across {blocks} "
            "residual blocks with unnormalized ReLU-family branches (predicted)",
            {"gain": 10 ** growth, "first": ctx.label(start), "last": ctx.label(end), "blocks": len(blocks),
             **branch_ends(ctx)},
            severity=severity, model=ctx.model_name, node=ctx.label(start), span=(start, end),
            static_d=growth,
        )

    @staticmethod
    def _homogeneous(ctx: ModelContext, branch: frozenset[str]) -> bool:
        """A branch whose output scales with its input: weight layers, no normalization, no
        saturating activation."""
        kinds = [ctx.graph.nodes[n]["kind"] for n in branch]
        return ("weight" in kinds and "norm" not in kinds
                and not any(ctx.graph.nodes[n]["saturating"] for n in branch))

    def propose(self, finding: Finding, sources) -> Proposal | None:
        """Each branch's last weight layer zero-initialized (Fixup/SkipInit: every block starts as
        the identity), or scaled by 1/√depth where an activation follows it (a zero layer before
        a ReLU would never learn), at the end of the model's ``__init__``."""
        from gradlint.rules._model_fixes import branch_init

        return branch_init(finding, sources)

    def confirm(self, finding: Finding, ctx: ModelContext, measured) -> Finding:
        start, end = finding.span  # type: ignore[misc]
        forward = measured.graph.forward_rms
        first, last = forward.get(start), forward.get(end)
        if not first or last is None or math.isnan(last):
            return verdict(finding, NOT_MEASURED, f"the forward RMS at `{ctx.label(start)}`")
        d = math.log10(max(last, 1e-300) / first) if math.isfinite(last) else math.inf
        text = f"the stream's RMS grows by {10 ** d:.2g}" if math.isfinite(d) else "the stream overflows to Inf"
        return verdict(finding, CONFIRMED if d >= self.opts["warning-d"] else REFUTED, text, d)

    # a tiny model file this rule flags on the line marked `# expect:`, and the same file
    # fixed (tests/test_rule_examples.py runs both)
    invalid = '''\
        import torch
        from torch import nn


        class Block(nn.Module):
            def __init__(self, width):
                super().__init__()
                self.fc = nn.Linear(width, width)

            def forward(self, x):
                return x + torch.relu(self.fc(x))  # expect: GL203 warning


        class ResidualMLP(nn.Module):
            def __init__(self):
                super().__init__()
                self.stem = nn.Linear(2, 64)
                self.blocks = nn.Sequential(*[Block(64) for _ in range(20)])
                self.head = nn.Linear(64, 2)

            def forward(self, x):
                return self.head(self.blocks(self.stem(x)))
        '''
    valid = '''\
        import torch
        from torch import nn


        class Block(nn.Module):
            def __init__(self, width):
                super().__init__()
                self.norm = nn.LayerNorm(width)
                self.fc = nn.Linear(width, width)

            def forward(self, x):
                return x + self.fc(torch.relu(self.norm(x)))


        class ResidualMLP(nn.Module):
            def __init__(self):
                super().__init__()
                self.stem = nn.Linear(2, 64)
                self.blocks = nn.Sequential(*[Block(64) for _ in range(20)])
                self.head = nn.Linear(64, 2)

            def forward(self, x):
                return self.head(self.blocks(self.stem(x)))
        '''
