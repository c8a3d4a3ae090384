"""gradlint: find vanishing- and exploding-gradient risks in PyTorch models, and prove them.

The Python API (imports torch only when called)::

    import gradlint
    report = gradlint.lint(["models/"])              # what the CLI does, as values
    result = gradlint.check_model(MyNet(), torch.randn(8, 64))
    assert not [f for f in result.findings if f.severity >= gradlint.Severity.WARNING]
"""

from __future__ import annotations

from typing import Any

from gradlint.findings import Finding, Severity

__version__ = "0.1.0"
__all__ = ["Finding", "Severity", "check_model", "lint", "__version__"]


def lint(paths: list[str], **kwargs: Any):
    """Lint files and directories exactly as the CLI does; returns a ``runner.Report``.
    Keyword arguments: ``overrides`` (a ``config.Overrides``), ``config``, ``isolated``, ``jobs``,
    ``baseline``, ``update_baseline``."""
    from gradlint.runner import lint as run

    return run(paths, **kwargs)


def check_model(model: Any, inputs: Any = None, **kwargs: Any):
    """Check one model object in this process; returns an ``engine.ModelReport``."""
    from gradlint.engine import check_model as check

    return check(model, inputs, **kwargs)
