"""The command line: ``gradlint PATH...`` and ``gradlint rule CODE``.

Imports stay lazy: ``--help``, ``rule`` and files without models never import torch.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import click

from gradlint.core import __version__
from gradlint.reporters import FORMATS


class _DefaultCheck(click.Group):
    """``gradlint PATH...`` means ``gradlint check PATH...``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h", "--version")):
            args = ["check", *args]
        return super().parse_args(ctx, args)


def _codes(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    return tuple(c.strip().upper() for c in text.split(",") if c.strip())


@click.group(cls=_DefaultCheck, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gradlint")
def main() -> None:
    """Catch vanishing- and exploding-gradient risks in PyTorch models before training."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--select", help="Rule codes or prefixes to enable, comma-separated (default: all).")
@click.option("--ignore", help="Rule codes or prefixes to disable, comma-separated.")
@click.option("--extend-select", help="Codes or prefixes to enable on top of the selection.")
@click.option("--per-file-ignores", multiple=True, metavar="GLOB:CODES",
              help="Ignore CODES in files matching GLOB (repeatable); replaces the file's table.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Use this configuration file (pyproject.toml or a file holding the table).")
@click.option("--isolated", is_flag=True, help="Ignore every configuration file.")
@click.option("--no-probe", is_flag=True, default=None, help="Skip the forward/backward probe.")
@click.option("--seed", type=int, help="Seed for inputs, weights and the probe [0].")
@click.option("--batch-size", type=click.IntRange(1, 4096), help="Batch size of inferred example inputs [8].")
@click.option("--seq-len", type=click.IntRange(1, 65536), help="Sequence length of inferred example inputs [32].")
@click.option("--input-std", type=click.FloatRange(min=0, min_open=True),
              help="Standard deviation of generated floating inputs, when your data is not standardized [1.0].")
@click.option("--device", help="Device to trace and probe on [cpu].")
@click.option("--timeout", type=float, help="Seconds for a file's import and for each of its models [300].")
@click.option("--memory-limit", type=float, help="GiB of memory per worker [80% of RAM / jobs].")
@click.option("-j", "--jobs", type=int, default=None, help="Files checked in parallel (default: CPU count).")
@click.option("--no-cache", is_flag=True, help="Check every model again instead of reusing cached results.")
@click.option("--output-format", type=click.Choice(FORMATS), default="text",
              envvar="GRADLINT_OUTPUT_FORMAT", show_default=True, show_envvar=True)
@click.option("-o", "--output-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the findings here instead of stdout.")
@click.option("--statistics", is_flag=True, help="Print the number of findings per rule instead.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Draw each model's gradient flow to this .png/.svg (needs gradlint[plot]).")
@click.option("--fail-level", type=click.Choice(["info", "warning", "error"]),
              help="Lowest severity that makes the exit code 1 [warning].")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even with findings (never hides exit 2).")
@click.option("--baseline", type=click.Path(dir_okay=False, path_type=Path),
              help="Hide findings recorded in this baseline file.")
@click.option("--update-baseline", is_flag=True, help="Record the current findings in --baseline.")
@click.option("--init", "init_json", metavar="JSON",
              help="Constructor arguments for the model named by PATH::Class, as a JSON object.")
@click.option("-q", "--quiet", is_flag=True, help="Print findings only: no notes, no summary.")
@click.option("-v", "--verbose", is_flag=True,
              help="Also list info-level findings and say how each model was found, built, traced and probed.")
@click.option("--show-info", is_flag=True,
              help="List info-level findings too (text output; they are always counted in the summary).")
@click.option("--fix", is_flag=True,
              help="Apply the fixes that verify: each is re-checked on a private copy of the project first.")
@click.option("--unsafe-fixes", is_flag=True,
              help="Also propose fixes that change what the model computes (an activation, an added layer).")
@click.option("--diff", is_flag=True,
              help="Print the verified fixes as a diff instead of applying them (exit 1 when there are some).")
def check(paths: tuple[str, ...], select: str | None, ignore: str | None, extend_select: str | None,
          per_file_ignores: tuple[str, ...], config_path: Path | None, isolated: bool,
          no_probe: bool | None, seed: int | None, batch_size: int | None, seq_len: int | None,
          input_std: float | None, device: str | None, timeout: float | None, memory_limit: float | None,
          jobs: int | None, no_cache: bool, output_format: str,
          output_file: Path | None, statistics: bool, plot_path: Path | None, fail_level: str | None,
          exit_zero: bool,
          baseline: Path | None, update_baseline: bool, init_json: str | None, quiet: bool,
          verbose: bool, show_info: bool, fix: bool, unsafe_fixes: bool, diff: bool) -> None:
    """Lint model files and directories (PATH, PATH::Model, or package.module:factory)."""
    _stop_on_signals()
    from gradlint import reporters
    from gradlint.core.findings import Severity
    from gradlint.run.config import ConfigError, Overrides, check_code
    from gradlint.run.runner import lint

    if update_baseline and baseline is None:
        raise click.UsageError("--update-baseline needs --baseline FILE")
    if plot_path is not None:
        import importlib.util

        if importlib.util.find_spec("matplotlib") is None:
            raise click.UsageError("--plot needs matplotlib: pip install 'gradlint[plot]'")
    try:
        per_file = None
        if per_file_ignores:
            per_file = {}
            for entry in per_file_ignores:
                pattern, sep, codes = entry.rpartition(":")
                if not sep or not pattern:
                    raise click.UsageError(f"--per-file-ignores expects GLOB:CODES, got {entry!r}")
                per_file[pattern] = _codes(codes) or ()
        for code in [*(_codes(select) or ()), *(_codes(ignore) or ()), *(_codes(extend_select) or ()),
                     *(c for codes in (per_file or {}).values() for c in codes)]:
            check_code(code, "command line")
        overrides = Overrides(
            select=_codes(select), ignore=_codes(ignore), extend_select=_codes(extend_select),
            per_file_ignores=per_file, fail_level=Severity.parse(fail_level) if fail_level else None,
            probe=False if no_probe else None, batch_size=batch_size, seq_len=seq_len, seed=seed,
            input_std=input_std,
            device=device, timeout=timeout, memory_limit=memory_limit, flows=plot_path is not None)
        init = _init_arguments(init_json, paths) if init_json is not None else None
        if fix or diff:
            if baseline is not None:
                raise click.UsageError("--fix and --diff repair what a check finds: use them without --baseline")
            from gradlint.fix.verify import fix_paths

            fixed = fix_paths(list(paths) or ["."], overrides, config=config_path, isolated=isolated, jobs=jobs,
                              unsafe=unsafe_fixes, apply=fix and not diff, init=init)
            report = fixed.report
        else:
            fixed = None
            report = lint(list(paths) or ["."], overrides, config=config_path, isolated=isolated, jobs=jobs,
                          baseline=baseline, update_baseline=update_baseline, cache=not no_cache, init=init)
    except ConfigError as exc:
        click.echo(f"gradlint: error: {exc}", err=True)
        sys.exit(2)
    if diff and fixed is not None:
        _diff(fixed, quiet)
    # info findings fail nothing by default: the text lists them on request, or when they fail the run
    show_info = show_info or verbose or report.fail_level <= Severity.INFO
    out = open(output_file, "w", encoding="utf-8") if output_file else sys.stdout  # noqa: SIM115
    try:
        if statistics:
            for line in reporters.statistics(report):
                out.write(line + "\n")
        else:
            reporters.render(report, output_format, out, show_info=show_info)
    finally:
        if output_file:
            out.close()
    if plot_path is not None:
        from gradlint.reporters.plot import MAX_MODELS, undrawn
        from gradlint.reporters.plot import write as plot

        drawn = plot(report, plot_path)
        for line in undrawn(report):
            click.echo(line, err=True)
        available = sum(len(result.flows) for result in report.files)
        if not drawn:
            click.echo(f"no model has a main span to draw: {plot_path} was not written", err=True)
        elif available > drawn:
            click.echo(f"gradient flow of {drawn} of {available} models drawn to {plot_path} "
                       f"(at most {MAX_MODELS} per figure: lint fewer files to draw the others)", err=True)
        else:
            click.echo(f"gradient flow of {drawn} model(s) drawn to {plot_path}", err=True)
    if fixed is not None:
        _fixes(fixed, quiet)
    if output_format == "text" or output_file:
        _notes(report, quiet, verbose, show_info or output_format != "text")
    sys.exit(report.exit_code(exit_zero))


def _fix_line(fix, what: str) -> str:
    loc = fix.finding.location
    return f"{loc.path}:{loc.line}:{loc.col}: {fix.code} {what}: {fix.title}"


def _fixes(fixed, quiet: bool) -> None:
    """One line per fix on stderr: what was fixed with the measurement before and after, and
    each fix that did not verify with why (a suggestion only); then how many wait for
    --unsafe-fixes."""
    for fix in fixed.applied:
        click.echo(_fix_line(fix, "fixed") + f" (before: {fix.before}; after: {fix.after})", err=True)
    applied = {id(f) for f in fixed.applied}
    for fix in fixed.fixes:
        if id(fix) in applied or quiet:
            continue
        if fix.verified:
            click.echo(_fix_line(fix, "fix verified, not applied") + " (its edit overlaps another fix's: "
                       "run --fix again)", err=True)
        else:
            click.echo(_fix_line(fix, "fix not applied") + f" (not verified: {fix.reason})", err=True)
    if fixed.unsafe_left and not quiet:
        click.echo(f"note: {fixed.unsafe_left} more fix{'es' if fixed.unsafe_left != 1 else ''} change what "
                   "the model computes: see them with --diff --unsafe-fixes, apply with --fix --unsafe-fixes",
                   err=True)


def _diff(fixed, quiet: bool) -> None:
    """--diff: the verified fixes as a unified diff on stdout, nothing written; exit 1 when there
    is a fix to make (2 when something could not be checked)."""
    from gradlint.fix.verify import unified_diff

    click.echo(unified_diff(fixed.fixes), nl=False)
    for fix in fixed.fixes:
        if not fix.verified and not quiet:
            click.echo(_fix_line(fix, "fix not verified") + f" ({fix.reason})", err=True)
    if not quiet:
        verified = len(fixed.verified)
        click.echo(f"{verified} fix{'es' if verified != 1 else ''} verified"
                   + (f"; {fixed.unsafe_left} more with --unsafe-fixes" if fixed.unsafe_left else ""), err=True)
    sys.exit(2 if fixed.report.problems else 1 if fixed.verified else 0)


# Ctrl-C, a terminal closing, and what CI and pre-commit send when they give up
_STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def _stop_on_signals() -> None:
    """Until the command ends, a stop signal kills every worker (processes.stop_all) and exits
    at once with 128 + the signal number (130 for Ctrl-C) and one line, without waiting for the
    threads that wait on the workers. (A SIGKILL runs no handler: the workers' guards see to it.)
    The previous handlers come back when the command ends (click's CliRunner runs it in-process)."""
    if threading.current_thread() is not threading.main_thread():
        return
    # a signal ignored on purpose (nohup, a background job of a non-interactive shell) stays so
    previous = {signum: signal.signal(signum, _stop) for signum in _STOP_SIGNALS
                if signal.getsignal(signum) is not signal.SIG_IGN}

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    click.get_current_context().call_on_close(restore)


def _stop(signum: int, frame: object) -> None:
    from gradlint.guard.processes import stop_all

    stopped = stop_all()
    if "gradlint.source.edits" in sys.modules:   # a --fix in progress: its copies and temporary files
        sys.modules["gradlint.source.edits"].remove_leftovers()
    running = f"{stopped} running check{'s' if stopped != 1 else ''} stopped" if stopped else "nothing running"
    sys.stderr.write(f"gradlint: interrupted by {signal.Signals(signum).name} ({running}); "
                     "no results reported\n")
    sys.stderr.flush()
    os._exit(128 + signum)


def _init_arguments(text: str, paths: tuple[str, ...]) -> dict:
    """``--init '{"dim": 64}'``: keyword arguments for the constructor of the selected model."""
    import json

    from gradlint.run.config import ConfigError
    from gradlint.run.runner import MODULE_TARGET

    if not paths or not all("::" in p or MODULE_TARGET.match(p) for p in paths):
        raise ConfigError("--init needs the model it builds: name it as PATH::Class "
                          "(or package.module:Class)")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"--init is not valid JSON ({exc}); write an object such as "
                          "'{\"dim\": 64}'") from None
    if not isinstance(value, dict):
        raise ConfigError(f"--init must be a JSON object of constructor arguments by name, "
                          f"got {type(value).__name__}")
    return value


def _notes(report, quiet: bool, verbose: bool, show_info: bool) -> None:
    """Problems, notes and the summary go to stderr, so stdout stays parseable."""
    from gradlint.reporters import skipped_line, summary

    for problem in report.problems:
        click.echo(f"{problem.path}: error: {problem.message}", err=True)
    if quiet:
        return
    for result in report.files:
        for note in result.notes:
            if verbose or not note.detail:
                click.echo(f"{note.path}: note: {note.message}", err=True)
    skipped = None if verbose else skipped_line(report)  # with -v each model's note says it
    if skipped:
        click.echo(f"note: {skipped}", err=True)
    click.echo(summary(report, show_info=show_info), err=True)


@main.command()
@click.argument("path", required=False, default=".", type=click.Path(path_type=Path))
def clean(path: Path) -> None:
    """Delete the result cache of the project holding PATH."""
    from gradlint.run.cache import CacheError, clear

    try:
        removed = clear(path)
    except CacheError as exc:
        click.echo(f"gradlint: error: {exc}", err=True)
        sys.exit(2)
    click.echo(f"removed {removed}" if removed else "no cache to remove")


@main.command()
@click.argument("code", required=False)
@click.option("--all", "show_all", is_flag=True, help="List every rule.")
@click.option("--output-format", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True, help="markdown: the README's rule table (with --all).")
def rule(code: str | None, show_all: bool, output_format: str) -> None:
    """Show a rule's documentation, or list every rule."""
    import json

    from gradlint.rules import ALL_RULES, RULES_BY_CODE, markdown_table

    if show_all or code is None:
        if output_format == "markdown":
            click.echo(markdown_table())
            return
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
    if output_format == "markdown":
        raise click.UsageError("--output-format markdown lists every rule: use it with --all")
    if output_format == "json":
        click.echo(json.dumps({"code": selected.code, "name": selected.name,
                               "severity": str(selected.severity), "summary": selected.summary,
                               "options": selected.options, "docs": selected.docs()}, indent=2))
    else:
        click.echo(f"# {selected.name} ({selected.code})\n\nDefault severity: {selected.severity}\n")
        click.echo(selected.docs())


@main.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("--max-seconds", type=float,
              help="Seconds the command may take to reach its first optimizer step [--timeout].")
@click.option("--select", help="Rule codes or prefixes to enable, comma-separated (default: all).")
@click.option("--ignore", help="Rule codes or prefixes to disable, comma-separated.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Use this configuration file (pyproject.toml or a file holding the table).")
@click.option("--isolated", is_flag=True, help="Ignore every configuration file.")
@click.option("--no-probe", is_flag=True, default=None, help="Skip the forward/backward probe.")
@click.option("--seed", type=int, help="Seed for the probe [0].")
@click.option("--timeout", type=float, help="Seconds for checking the models, and per model [300].")
@click.option("--memory-limit", type=float, help="GiB of memory for the command's worker [80% of RAM].")
@click.option("--output-format", type=click.Choice(FORMATS), default="text",
              envvar="GRADLINT_OUTPUT_FORMAT", show_default=True, show_envvar=True)
@click.option("-o", "--output-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the findings here instead of stdout.")
@click.option("--fail-level", type=click.Choice(["info", "warning", "error"]),
              help="Lowest severity that makes the exit code 1 [warning].")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even with findings (never hides exit 2).")
@click.option("-q", "--quiet", is_flag=True, help="Print findings only: no notes, no summary.")
@click.option("-v", "--verbose", is_flag=True, help="Also list info-level findings and how each model was checked.")
@click.option("--show-info", is_flag=True, help="List info-level findings too.")
def run(command: tuple[str, ...], max_seconds: float | None, select: str | None, ignore: str | None,
        config_path: Path | None, isolated: bool, no_probe: bool | None, seed: int | None,
        timeout: float | None, memory_limit: float | None, output_format: str, output_file: Path | None,
        fail_level: str | None, exit_zero: bool, quiet: bool, verbose: bool, show_info: bool) -> None:
    """Run a training command up to its first optimizer step and lint what it trains.

    \b
        gradlint run -- python train.py --lr 20
        gradlint run --max-seconds 600 -- python -m myproject.train --config big.yaml

    Every model whose parameters are in an optimizer is checked with the first batch it
    received; the step itself is never applied. GL501 reports the optimizer, its hyperparameters
    and whether gradient clipping was called between backward() and step(), as observed.
    """
    _stop_on_signals()
    from gradlint import reporters
    from gradlint.core.findings import Severity
    from gradlint.run.command import lint_command
    from gradlint.run.config import ConfigError, Overrides, check_code

    try:
        for code in [*(_codes(select) or ()), *(_codes(ignore) or ())]:
            check_code(code, "command line")
        overrides = Overrides(select=_codes(select), ignore=_codes(ignore),
                              fail_level=Severity.parse(fail_level) if fail_level else None,
                              probe=False if no_probe else None, seed=seed, timeout=timeout,
                              memory_limit=memory_limit)
        report = lint_command(list(command), overrides, config=config_path, isolated=isolated,
                              max_seconds=max_seconds)
    except ConfigError as exc:
        click.echo(f"gradlint: error: {exc}", err=True)
        sys.exit(2)
    show_info = show_info or verbose or report.fail_level <= Severity.INFO
    out = open(output_file, "w", encoding="utf-8") if output_file else sys.stdout  # noqa: SIM115
    try:
        reporters.render(report, output_format, out, show_info=show_info)
    finally:
        if output_file:
            out.close()
    if output_format == "text" or output_file:
        _notes(report, quiet, verbose, show_info or output_format != "text")
    sys.exit(report.exit_code(exit_zero))
