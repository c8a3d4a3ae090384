from __future__ import annotations

from collections.abc import Iterable

from gradlint.check.rule import MEASURED, ModelContext, Needs, Rule, verdict
from gradlint.core.findings import Finding, Severity

DEAD_ACTIVATIONS = ("relu", "relu6", "threshold")


class DeadReLU(Rule):
    """
    ## What it does
    Measures, in the probe, the share of units of each ReLU layer that output exactly zero for
    every sample of the batch, and flags layers where most units are dead.

    ## Why is this bad?
    ReLU's derivative is 0 on its negative side (the design note's caveat to remedy 4): a unit
    that is inactive for every input gets no gradient and never recovers. A large negative bias,
    a too-large learning rate after one bad step, or inputs shifted far from zero cause it.
    AUTOTRAINER flags dying ReLU at ≥ 70% zero gradients.

    ## Example
    ```python
    nn.init.constant_(self.fc.bias, -3.0)     # pushes most pre-activations below zero
    ```

    Use instead:
    ```python
    nn.init.zeros_(self.fc.bias)              # or LeakyReLU / GELU, or normalize the inputs
    ```

    ## Options
    - `dead-fraction` (0.7): share of dead units at which a layer is flagged (THEORY.md §2,
      AUTOTRAINER's dying-ReLU threshold).

    Measured only: no finding without the probe. With a small batch a healthy unit is zero for
    all of it by chance (probability 2^-batch), far below the threshold.

    ## References
    - THEORY.md §0 (remedy 4), §2 (runtime thresholds); Lu et al. 2019, "Dying ReLU and
      Initialization".
    """

    code = "GL602"
    name = "dead-relu"
    severity = Severity.WARNING
    summary = "Most units of a ReLU layer are zero for the whole probe batch"
    fix = "zero the biases, lower the learning rate, normalize inputs, or use LeakyReLU/GELU"
    needs_weights = True
    options = {"dead-fraction": 0.7}

    def measure(self, ctx: ModelContext, measured) -> Iterable[Finding]:
        for node, share in sorted(measured.graph.dead.items()):
            if share < self.opts["dead-fraction"]:
                continue
            finding = self.make(
                ctx.location(node), "`{layer}`: {share:.0%} of its units are dead for the whole batch",
                {"layer": ctx.label(node), "share": share}, model=ctx.model_name, node=ctx.label(node),
            )
            yield verdict(finding, MEASURED, f"{share:.0%} of the units are zero for all {ctx.batch_size} samples")

    def needs(self, ctx: ModelContext, found: tuple[Finding, ...]) -> Needs:
        return Needs(dead=frozenset(DEAD_ACTIVATIONS))

    # a tiny model file this rule flags on the line marked `# expect:`, and the same file
    # fixed (tests/test_rule_examples.py runs both)
    invalid = '''\
        import torch
        from torch import nn


        class DeadMLP(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1, self.fc2 = nn.Linear(32, 64), nn.Linear(64, 10)
                nn.init.constant_(self.fc1.bias, -3.0)

            def forward(self, x):
                return self.fc2(torch.relu(self.fc1(x)))  # expect: GL602 warning
        '''
    valid = '''\
        import torch
        from torch import nn


        class LiveMLP(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1, self.fc2 = nn.Linear(32, 64), nn.Linear(64, 10)
                nn.init.zeros_(self.fc1.bias)

            def forward(self, x):
                return self.fc2(torch.relu(self.fc1(x)))
        '''
