from __future__ import annotations

from collections.abc import Iterable

from gradlint.check.rule import MEASURED, ModelContext, Rule, verdict
from gradlint.core.findings import Finding, Severity


class NonFinite(Rule):
    """
    ## What it does
    Reports NaN or Inf values in the probe's forward or backward pass, at the first node (in
    graph order) where they appear. An infinity put there on purpose (an attention mask filled
    with -inf before a softmax) is not reported while no NaN appears, every gradient stays finite
    and so does the loss.

    ## Why is this bad?
    One NaN in a forward pass at initialization poisons every gradient and every weight on the
    first step. It usually comes from a log or a division of something that can be zero, an
    overflow in an exponent, or a mask filled with -inf on a fully masked row.

    ## Example
    ```python
    return torch.log(self.fc(x))               # log of negative numbers: NaN
    ```

    Use instead:
    ```python
    return F.log_softmax(self.fc(x), dim=-1)   # or clamp before the log
    ```

    ## Options
    None.

    ## References
    - THEORY.md §2 (NaN/Inf among the probe's measurements); TheDeepChecker's NaN checks.
    """

    code = "GL603"
    name = "non-finite"
    severity = Severity.ERROR
    summary = "NaN or Inf in the probe's forward or backward pass"
    fix = "guard logs, divisions and exponents (clamp, eps, log_softmax), and check masks"
    needs_weights = True
    options: dict = {}

    def measure(self, ctx: ModelContext, measured) -> Iterable[Finding]:
        probe = measured.graph
        if not probe.nonfinite:
            return
        if probe.nonfinite_forward:  # the forward pass: where the first bad value is computed
            origin, where = probe.nonfinite_forward[0], "forward"
        else:  # the backward pass runs in reverse: its first bad gradient is the latest node
            origin, where = probe.nonfinite[-1], "backward"
        finding = self.make(
            ctx.location(origin), "NaN or Inf first appears at `{node}` in the {where} pass "
            "({count} node(s) affected)",
            {"node": ctx.label(origin), "where": where, "count": len(probe.nonfinite)},
            model=ctx.model_name, node=ctx.label(origin),
        )
        yield verdict(finding, MEASURED, f"NaN/Inf at {len(probe.nonfinite)} node(s)")

    # a tiny model file this rule flags on the line marked `# expect:`, and the same file
    # fixed (tests/test_rule_examples.py runs both)
    invalid = '''\
        import torch
        from torch import nn


        class LogHead(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(16, 8)

            def forward(self, x):
                return torch.log(self.fc(x))  # expect: GL603 error
        '''
    valid = '''\
        import torch
        from torch import nn


        class LogHead(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(16, 8)

            def forward(self, x):
                return torch.log_softmax(self.fc(x), dim=-1)
        '''
