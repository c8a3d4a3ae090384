from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from gradlint.check.rule import CLASS_H, CLASS_S_CHAOTIC, ModelContext, Thresholds
from gradlint.core.findings import Finding, Severity
from gradlint.rules.gl102_vanishing_gradient import VanishingGradient
from gradlint.rules.gl203_growing_residual_stream import branch_ends
from gradlint.source.edits import Proposal


class ExplodingGradient(VanishingGradient):
    """
    ## What it does
    The mirror of GL102: predicts the gradient ratio (of norms) across the model's main span —
    input side to output side, see GL102 — over every path (THEORY.md §1) and flags the model
    when the gradient *grows* past the threshold of its class going backwards. Unnormalized residual stacks (×3 per He-initialized block: D ≈ 12 at
    50 blocks), deep plain BatchNorm stacks (π/(π−1) per block, Yang et al. 2019) and chaotic
    tanh nets are the usual cases. With normalization on the path the gradient also grows at
    initialization — by π/(π−1) per BN-ReLU layer in a plain stack, and through post-BN residual
    blocks — yet such nets train where that growth stays below the error threshold: BN
    gradients equilibrate after the first steps (THEORY.md §1), He et al. 2016 trained plain-34
    with BatchNorm (D ≈ 2.7) and post-BN ResNets of 110 layers, and Yang et al. 2019 put the
    failure of plain BN stacks at about 50 layers (D ≈ 4). So on a normalized path the warning
    band is empty (GL401 reports the depth). Gradient clipping configured anywhere in the project
    downgrades an error to a warning: clipping bounds an exploding step (it cannot fix vanishing).

    ## Why is this bad?
    Exploding gradients make the first update throw the weights far from where they started;
    training diverges or needs a tiny learning rate. The design note's first remedy is clipping.

    ## Example
    ```python
    for block in self.blocks:                  # 50 unnormalized residual blocks, He init
        x = x + block(x)
    ```

    Use instead:
    ```python
    for block in self.blocks:
        x = x + block(self.norm(x))            # pre-norm, or zero-initialize each block's last layer
    ```

    In a residual stack `gradlint --fix` makes GL203's edit (each block's last weight layer
    zero-initialized, or scaled by 1/√depth where an activation follows it); elsewhere GL102's
    (the initializer the finding names, with `--unsafe-fixes`).

    ## Options
    - `warning-d` (2.0), `error-d` (4.0), `saturating-error-d` (1.3): as GL102 (THEORY.md §3).
    - `saturating-warning-d` (1.3): a gradient that grows through saturating activations is the
      chaotic phase, whose only published anchor is Schoenholz 2017's trainability bound (6ξ,
      D = 1.3); the class-S warning band (0.65, 3ξ) is anchored on the shrinking side (Glorot's
      standard init), and in eval/ chaotic 16-layer tanh nets at D = 0.7–0.8 trained. So the
      warning band is empty, as on normalized paths.
    - `normalized-warning-d` (4.0): the warning threshold when normalization layers sit on the
      path (THEORY.md §1 "Normalization", §3 class H anchored on Yang 2019).

    ## References
    - Pascanu, Mikolov & Bengio 2013 (clipping); Yang et al. 2019; Zhang et al. 2019 (Fixup);
      THEORY.md §1, §3.
    """

    code = "GL202"
    name = "exploding-gradient"
    summary = "Gradient predicted (and measured) to explode across the model's main path"
    fix = ("normalize (pre-norm) or zero-initialize each residual branch's last layer, lower the "
           "initial scale, and clip gradients")
    explained_by = ("GL101", "GL201", "GL301")
    direction = 1
    options = {**VanishingGradient.options, "normalized-warning-d": CLASS_H.error,
               "saturating-warning-d": CLASS_S_CHAOTIC.warning}

    def thresholds(self, network_class: str) -> Thresholds:
        if network_class == "N":
            return Thresholds(self.opts["normalized-warning-d"], self.opts["error-d"])
        return super().thresholds(network_class)

    def check(self, ctx: ModelContext) -> Iterable[Finding]:
        for finding in super().check(ctx):  # a residual stack's branches, for the fix
            yield dataclasses.replace(finding, args={**finding.args, **branch_ends(ctx)})

    def propose(self, finding: Finding, sources) -> Proposal | None:
        """In a residual stack: each branch's last weight layer zero-initialized, or scaled by
        1/√depth where an activation follows it (GL203's fix; the same cause); elsewhere GL102's
        (the initializer the finding names)."""
        from gradlint.rules._model_fixes import branch_init

        if finding.args.get("branch_ends"):
            return branch_init(finding, sources)
        return super().propose(finding, sources)

    def adjust(self, severity: Severity, ctx: ModelContext) -> Severity:
        clipped = ctx.facts.clipping is not None if ctx.facts is not None else ctx.clipping
        if clipped and severity is Severity.ERROR:
            return Severity.WARNING  # clipping bounds the step; it does not make the net healthy
        return severity

    # a tiny model file this rule flags on the line marked `# expect:`, and the same file
    # fixed (tests/test_rule_examples.py runs both)
    invalid = '''\
        import torch
        from torch import nn


        class Block(nn.Module):
            def __init__(self, width):
                super().__init__()
                self.fc1, self.fc2 = nn.Linear(width, width), nn.Linear(width, width)
                for fc in (self.fc1, self.fc2):
                    nn.init.kaiming_normal_(fc.weight, nonlinearity="relu")

            def forward(self, x):
                return x + self.fc2(torch.relu(self.fc1(x)))  # expect: GL202 error


        class ResidualStack(nn.Module):
            def __init__(self):
                super().__init__()
                self.blocks = nn.Sequential(*[Block(32) for _ in range(24)])

            def forward(self, x):
                return self.blocks(x)
        '''
    valid = '''\
        import torch
        from torch import nn


        class Block(nn.Module):
            def __init__(self, width):
                super().__init__()
                self.fc1, self.fc2 = nn.Linear(width, width), nn.Linear(width, width)
                nn.init.kaiming_normal_(self.fc1.weight, nonlinearity="relu")
                nn.init.zeros_(self.fc2.weight)

            def forward(self, x):
                return x + self.fc2(torch.relu(self.fc1(x)))


        class ResidualStack(nn.Module):
            def __init__(self):
                super().__init__()
                self.blocks = nn.Sequential(*[Block(32) for _ in range(24)])

            def forward(self, x):
                return self.blocks(x)
        '''
