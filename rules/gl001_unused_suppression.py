from __future__ import annotations

from collections.abc import Callable, Iterable

from gradlint.check.rule import Rule
from gradlint.core.findings import Finding, Location, Severity
from gradlint.source.suppress import Suppressions


class UnusedSuppression(Rule):
    """
    ## What it does
    Reports a `# noqa: GL...` or `# gradlint: ignore[...]` comment that silences no finding: the
    codes it names are enabled, yet nothing with those codes points at its line. Bare `# noqa`
    comments are left alone (other linters use them); a bare `# gradlint: ignore` is reported.

    ## Why is this bad?
    A stale suppression hides the next real finding on that line, and tells readers about a risk
    that is no longer there. ruff's RUF100 and flake8-noqa report the same thing.

    ## Example
    ```python
    x = self.net(x)  # noqa: GL101   (the sigmoids were replaced by GELU long ago)
    ```

    Use instead:
    ```python
    x = self.net(x)
    ```

    ## Options
    None. Files that could not be checked completely are not reported: a finding their failed
    model would have produced may be exactly what the comment silences.

    ## References
    - ruff RUF100 (unused-noqa); flake8-noqa NQA102.
    """

    code = "GL001"
    name = "unused-suppression"
    severity = Severity.WARNING
    summary = "Suppression comment that silences no finding"
    fix = "remove the comment, or the codes in it that no longer apply"
    scope = "suppression"
    options: dict = {}

    def check_suppressions(self, path: str, suppressions: Suppressions, enabled: Callable[[str], bool]
                           ) -> Iterable[Finding]:
        for directive, codes in suppressions.unused(enabled):
            named = f"for {', '.join(codes)} " if codes else ""
            yield self.make(Location(path, directive.line, directive.col),
                            "unused suppression {named}(nothing to silence on this line)", {"named": named})

    # a tiny model file with a suppression that silences nothing (on the line marked
    # `# expect:`), and the same file without it (tests/test_rule_examples.py runs both)
    invalid = '''\
        from torch import nn


        class Cleaned(nn.Module):
            def __init__(self):
                super().__init__()
                self.net = nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 4))

            def forward(self, x):
                return self.net(x)  # gradlint: ignore  # expect: GL001 warning
        '''
    valid = '''\
        from torch import nn


        class Cleaned(nn.Module):
            def __init__(self):
                super().__init__()
                self.net = nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 4))

            def forward(self, x):
                return self.net(x)
        '''
