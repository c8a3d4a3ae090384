"""The command line: ``gradlint PATH...`` and ``gradlint rule CODE``.

Imports stay lazy: ``--help``, ``rule`` and files without models never import torch.
"""

from __future__ import annotations

import sys

import click

from gradlint import __version__


class _DefaultCheck(click.Group):
    """``gradlint PATH...`` means ``gradlint check PATH...``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h", "--version")):
            args = ["check", *args]
        return super().parse_args(ctx, args)


def _codes(text: str | None) -> tuple[str, ...]:
    return tuple(c.strip().upper() for c in (text or "").split(",") if c.strip())


@click.group(cls=_DefaultCheck, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gradlint")
def main() -> None:
    """Catch vanishing- and exploding-gradient risks in PyTorch models before training."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--select", help="Comma-separated rule codes or prefixes to enable (default: all).")
@click.option("--ignore", help="Comma-separated rule codes or prefixes to disable.")
@click.option("--no-probe", is_flag=True, help="Skip the forward/backward probe; report static estimates.")
@click.option("--seed", default=0, show_default=True, help="Seed for inputs, weights and the probe.")
@click.option("--batch-size", default=8, show_default=True, help="Batch size of inferred example inputs.")
@click.option("--seq-len", default=32, show_default=True, help="Sequence length of inferred example inputs.")
@click.option("--timeout", default=300.0, show_default=True,
              help="Seconds per file (importing it and checking all its models).")
@click.option("-j", "--jobs", type=int, default=None, help="Files checked in parallel (default: CPU count).")
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text",
              envvar="GRADLINT_OUTPUT_FORMAT", show_default=True)
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when findings are reported (not on errors).")
@click.option("-q", "--quiet", is_flag=True, help="Print findings only: no notes, no summary.")
@click.option("-v", "--verbose", is_flag=True, help="Also say how each model was traced and probed.")
def check(paths: tuple[str, ...], select: str | None, ignore: str | None, no_probe: bool, seed: int,
          batch_size: int, seq_len: int, timeout: float, jobs: int | None, output_format: str,
          exit_zero: bool, quiet: bool, verbose: bool) -> None:
    """Lint model files and directories (PATH or PATH::ModelName)."""
    from gradlint import report as reporters
    from gradlint.runner import lint
    from gradlint.rules import RULES_BY_CODE
    from gradlint.settings import Settings

    for code in (*_codes(select), *_codes(ignore)):
        if not any(known.startswith(code) for known in RULES_BY_CODE):
            raise click.UsageError(f"unknown rule code or prefix {code!r}; `gradlint rule --all` lists them")
    settings = Settings(select=_codes(select), ignore=_codes(ignore), probe=not no_probe, seed=seed,
                        batch_size=batch_size, seq_len=seq_len, model_timeout=timeout)
    result = lint(list(paths) or ["."], settings, jobs=jobs, file_timeout=timeout)
    if output_format == "json":
        reporters.write_json(result, sys.stdout)
    else:
        reporters.write_text(result, sys.stdout, sys.stderr, quiet=quiet, verbose=verbose)
    code = reporters.exit_code(result)
    sys.exit(0 if exit_zero and code == 1 else code)


@main.command()
@click.argument("code", required=False)
@click.option("--all", "show_all", is_flag=True, help="List every rule.")
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def rule(code: str | None, show_all: bool, output_format: str) -> None:
    """Show a rule's documentation, or list every rule."""
    import json

    from gradlint.rules import ALL_RULES, RULES_BY_CODE

    if show_all or code is None:
        rows = [{"code": r.code, "name": r.name, "severity": str(r.severity), "summary": r.summary}
                for r in ALL_RULES]
        if output_format == "json":
            click.echo(json.dumps(rows, indent=2))
        else:
            for row in rows:
                click.echo(f"{row['code']}  {row['name']:<30} {row['severity']:<8} {row['summary']}")
        return
    selected = RULES_BY_CODE.get(code.upper())
    if selected is None:
        raise click.UsageError(f"unknown rule {code!r}; `gradlint rule --all` lists them")
    if output_format == "json":
        click.echo(json.dumps({"code": selected.code, "name": selected.name,
                               "severity": str(selected.severity), "summary": selected.summary,
                               "options": selected.options, "docs": selected.docs()}, indent=2))
    else:
        click.echo(f"# {selected.name} ({selected.code})\n\nDefault severity: {selected.severity}\n")
        click.echo(selected.docs())
