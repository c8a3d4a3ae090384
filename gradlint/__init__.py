"""gradlint: find vanishing- and exploding-gradient risks in PyTorch models, and prove them.

The Python API (imports torch only when called)::

    import gradlint
    report = gradlint.lint(["models/"])              # what the CLI does, as values
    result = gradlint.check_model(MyNet(), torch.randn(8, 64))
    gradlint.assert_healthy(MyNet(), torch.randn(8, 64))   # in a pytest test
    fixed = gradlint.fix(["train.py"])                   # the verified fixes, as data
"""

from __future__ import annotations

from typing import Any

from gradlint.core import __version__
from gradlint.core.findings import Finding, Severity

__all__ = ["Finding", "Severity", "assert_healthy", "check_model", "fix", "lint", "__version__"]


def lint(paths: list[str], **kwargs: Any):
    """Lint files and directories exactly as the CLI does; returns a ``runner.Report``.
    Keyword arguments: ``overrides`` (a ``config.Overrides``), ``config``, ``isolated``, ``jobs``,
    ``baseline``, ``update_baseline``."""
    from gradlint.run.runner import lint as run

    return run(paths, **kwargs)


def fix(paths: list[str], *, unsafe: bool = False, apply: bool = False, **kwargs: Any):
    """What ``gradlint --fix`` does, as values: lint ``paths``, propose each finding's fix and
    verify it on a private copy of the project. Returns a ``fix.verify.Fixed``: ``.fixes`` (each a
    ``Fix`` with the finding, the edits as ranges and new text, ``verified``, the measurement
    ``before`` and ``after``, or the ``reason`` it did not verify) and ``.report``. Nothing is
    written unless ``apply``; ``unsafe`` adds the fixes that change what the model computes.
    Other keyword arguments as ``lint``'s."""
    from gradlint.fix.verify import fix_paths

    return fix_paths(paths, unsafe=unsafe, apply=apply, **kwargs)


def check_model(model: Any, inputs: Any = None, **kwargs: Any):
    """Check one model object in this process; returns an ``engine.ModelReport``."""
    from gradlint.check.engine import check_model as check

    return check(model, inputs, **kwargs)


def assert_healthy(model: Any, inputs: Any = None, *, fail_level: str = "warning", **kwargs: Any):
    """Fail (AssertionError) with the findings printed when ``model`` has any at ``fail_level`` or
    above; returns the report otherwise. ``kwargs`` go to ``check_model`` (``settings=``)."""
    from gradlint.reporters.text import finding_line

    report = check_model(model, inputs, **kwargs)
    level = Severity.parse(fail_level)
    serious = [f for f in report.findings if f.severity >= level]
    if report.problem or serious:
        lines = [f"gradlint: {report.name}: {report.problem}"] if report.problem else []
        lines += [finding_line(f, show_model=False) for f in serious]
        raise AssertionError("\n".join(lines))
    return report
