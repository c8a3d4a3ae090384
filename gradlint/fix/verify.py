"""Fixes that prove themselves: each rule's proposed edit is made on a private copy of the project,
the same file is checked again there (trace, probe, dry run, in the guarded worker as always), and
the edit is kept only when its finding is gone at the measured level and nothing got worse: no new
finding, no file that no longer imports, no model checked less far than before.

``fix_report`` turns a ``Report`` into ``Fix`` values (the API's data: the edits as ranges and new
text, the measurement before and after); ``apply_fixes`` writes the verified ones, each file in
one atomic step.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gradlint.check.enabled import enabled_rules
from gradlint.core.findings import CHECKED, FileResult, Finding, Report, Severity, resolved
from gradlint.run.config import Overrides, find_config, load_config, settings_for
from gradlint.source.edits import Edit, Proposal, Sources, apply_edits, done, new_scratch_folder, write_atomically
from gradlint.source.project import project_root

# not copied into the private copy: version control, environments and caches (never imported by
# the project's code; the copy's imports of installed packages resolve as the original's do)
_NOT_COPIED = (".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "__pycache__", "node_modules",
               ".mypy_cache", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints", ".gradlint_cache")
# a project larger than this is not copied: its fixes are offered as suggestions, unverified
MAX_COPY_BYTES = 512 * 2**20
# how model statuses rank, best first: an edit that leaves a model less far checked is refused
_STATUS_RANK = {CHECKED: 0, "partly analysed": 1, "partly traced": 1, "structure-only": 2, "not traced": 3,
                "not built": 4, "failed": 5}


@dataclasses.dataclass(frozen=True)
class Fix:
    """One finding's repair as data. ``verified``: the re-check on a private copy of the project
    found the finding gone and nothing new; otherwise ``reason`` says why, and the fix is a
    suggestion only (``--fix`` never applies it). ``before`` and ``after`` are what was measured
    with and without the edit."""

    finding: Finding
    title: str
    edits: tuple[Edit, ...]
    safe: bool
    verified: bool
    before: str
    after: str = ""
    reason: str | None = None

    @property
    def code(self) -> str:
        return self.finding.code

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "path": self.finding.location.path, "line": self.finding.location.line,
                "title": self.title, "safe": self.safe, "verified": self.verified, "before": self.before,
                "after": self.after, "reason": self.reason, "edits": [e.to_dict() for e in self.edits]}


Relint = Callable[[Path, str], Report]   # (the copy's root, the linted file in it) -> its report


def proposals(report: Report, overrides: Overrides, *, config: Path | None = None, isolated: bool = False,
              unsafe: bool = False) -> list[tuple[FileResult, Finding, tuple[Proposal, ...]]]:
    """Every finding of ``report`` that fails the run (at or above its fail level) whose rule
    proposes an edit, with the file result it came from and the repairs that may be made, in the
    rule's order (safe ones, and unsafe ones when ``unsafe``). Suppressed and baselined findings
    are not in a report, so they are never fixed; an info finding (a refuted risk, a note) keeps
    its fix in words unless ``--fail-level info``: on eval/, fixing them touched 18 projects
    that trained."""
    sources = Sources()
    found = []
    for result in report.files:
        if not result.findings:
            continue
        path = Path(resolved(result.path))
        settings = settings_for(path, load_config(None if isolated else (config or find_config(path)),
                                                   explicit=config is not None), overrides)
        rules = {rule.code: rule for rule in enabled_rules(settings, include_disabled=True)}
        for finding in result.findings:
            if finding.severity < report.fail_level:
                continue
            rule = rules.get(finding.code)
            proposal = rule.propose(finding, sources) if rule is not None else None
            alternatives = proposal.alternatives(unsafe) if proposal is not None else ()
            if alternatives:
                found.append((result, finding, alternatives))
    return found


def verify(result: FileResult, finding: Finding, alternatives: tuple[Proposal, ...], relint: Relint) -> Fix:
    """Each of ``alternatives`` in turn made on a private copy of the finding's project and
    ``result``'s file checked again there with ``relint(copy_root, file_in_copy)``: the first
    that verifies, else the first with why each did not."""
    before = measurement(finding, result)
    tried = []
    for proposal in alternatives:
        reason, after_result = recheck(result, [finding], proposal.edits, relint)
        after = measurement_after(finding, after_result) if after_result is not None else ""
        fix = Fix(finding, proposal.title, proposal.edits, proposal.safe, reason is None, before, after, reason)
        if fix.verified:
            return fix
        tried.append(fix)
    first = tried[0]
    also = "".join(f"; nor did {f.title} ({f.reason})" for f in tried[1:])
    return dataclasses.replace(first, reason=f"{first.reason}{also}")


def recheck(result: FileResult, targets: list[Finding], edits: tuple[Edit, ...] | list[Edit], relint: Relint
            ) -> tuple[str | None, FileResult | None]:
    """Make ``edits`` on a private copy of the project and check ``result``'s file there: why the
    outcome is not ``result`` with ``targets`` gone (None when it is), and the file's new result."""
    linted = Path(resolved(result.path))
    root = _common_root([linted, *(Path(e.path) for e in edits)])
    size = _size(root)
    if size > MAX_COPY_BYTES:
        return f"the project ({size / 2**20:.0f} MiB) is too large to copy for the re-check", None
    scratch = new_scratch_folder("gradlint-fix-")   # registered before it exists: Ctrl-C removes it
    try:
        copy = Path(scratch) / root.name
        shutil.copytree(root, copy, symlinks=True, ignore=shutil.ignore_patterns(*_NOT_COPIED))
        try:
            for path, in_file in _by_file(tuple(edits)).items():
                target = copy / Path(path).relative_to(root)
                target.write_text(apply_edits(_read(target), in_file), encoding="utf-8", newline="")
        except (OSError, ValueError) as exc:
            return f"the edit could not be made ({exc})", None
        again = relint(copy, str(copy / linted.relative_to(root)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        done(scratch)
    after = next(iter(again.files), FileResult(str(linted)))
    for target in targets:
        reason = _worse(result, after, target)
        if reason:
            return reason, after
    return None, after


def _key(finding: Finding) -> tuple:
    """A finding across the copy: its path differs, its numbers may; its rule, model, graph node
    and message template do not."""
    return finding.code, finding.model or "", finding.node or "", finding.template


def _worse(before: FileResult, after: FileResult, target: Finding) -> str | None:
    """Why the re-checked file is not the same file with ``target`` gone, or None."""
    if after.problems:
        return f"the re-check failed: {after.problems[0].message}"
    # a warning or an error is gone when the measurement keeps it at info at most; an info finding
    # (an init-scale note) only when it is gone
    least = Severity.WARNING if target.severity > Severity.INFO else Severity.INFO
    still = [f for f in after.findings if _key(f) == _key(target) and f.severity >= least]
    if still:
        return f"{target.code} is still found ({_verdict_text(still[0])})"
    known = {_key(f): f.severity for f in before.findings}
    new = [f for f in after.findings if f.severity > max(known.get(_key(f), Severity.INFO), Severity.INFO)]
    if new:
        return f"the edit brings {new[0].code}: {new[0].message}"
    statuses = {s.name: s.status for s in after.model_status}
    for status in before.model_status:
        now = statuses.get(status.name)
        if now is None:
            return f"model `{status.name}` is no longer found"
        if _STATUS_RANK.get(now, 9) > _STATUS_RANK.get(status.status, 9):
            return f"model `{status.name}` is {now} after the edit (was {status.status})"
    return None


def _verdict_text(finding: Finding) -> str:
    return finding.probe.text if finding.probe is not None else finding.message


def measurement(finding: Finding, result: FileResult) -> str:
    """What was measured with the finding: its probe verdict (else its message), and for a
    gradient finding the gradient along the model's main path."""
    path = _main_path(finding, result)
    return _verdict_text(finding) + (f"; main path: {path}" if path else "")


def measurement_after(finding: Finding, result: FileResult) -> str:
    """What the re-check measured where the finding was: the same finding kept at info (its
    verdict), or the rule's other measured finding about the model, else the rule's own line
    about the model (a dry run's losses), else that it is gone — with the gradient along the main
    path for a gradient finding."""
    same = [f for f in result.findings if _key(f) == _key(finding)] or \
        [f for f in result.findings if (f.code, f.model) == (finding.code, finding.model) and f.probe is not None]
    lines = [text for text in (_own(n.message, n.model) for n in result.notes
                               if finding.model is None or n.model in (None, finding.model))
             if text.startswith(finding.code)]
    if same:
        text = _verdict_text(same[0])
    elif lines:
        text = lines[0]
    else:
        status = next((s for s in result.model_status if s.name == finding.model), None)
        text = f"no {finding.code} finding" + (f" (model `{status.name}` {status.status})" if status else "")
    path = _main_path(finding, result)
    return text + (f"; main path: {path}" if path else "")


def _own(message: str, model: str | None) -> str:
    """A note's text without the "model `X`: " it opens with."""
    prefix = f"model `{model}`: "
    return message[len(prefix):] if model and message.startswith(prefix) else message


def _main_path(finding: Finding, result: FileResult) -> str | None:
    """The probe's gradient at the first point of the model's main path relative to its last
    (recorded with ``flows``), for findings about a span of the graph."""
    if finding.span is None:
        return None
    flow = next((f for f in result.flows if f.get("model") == finding.model), None)
    if not flow or not flow.get("measured"):
        return None
    labels, measured = flow["labels"], flow["measured"]
    first = next((i for i, value in enumerate(measured) if value is not None), None)
    if first is None or first == len(labels) - 1:
        return None
    return f"gradient at `{labels[first]}` is {measured[first]:.2g} of `{labels[-1]}`"


def _by_file(edits: tuple[Edit, ...]) -> dict[str, list[Edit]]:
    files: dict[str, list[Edit]] = {}
    for edit in edits:
        files.setdefault(edit.path, []).append(edit)
    return files


def _common_root(paths: list[Path]) -> Path:
    """The project root of the linted file, widened to hold every edited file."""
    root = project_root(paths[0])
    while not all(root in p.resolve().parents for p in paths) and root.parent != root:
        root = root.parent
    return root


def _size(root: Path) -> int:
    total = 0
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = [d for d in subdirectories if d not in _NOT_COPIED]
        for name in files:
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except OSError:
                pass
            if total > MAX_COPY_BYTES:
                return total
    return total


def apply_fixes(fixes: list[Fix]) -> list[Fix]:
    """Write the verified fixes, each file in one atomic step; a fix whose edits overlap one
    already taken is left out (the next run makes it). Returns the fixes written."""
    chosen: dict[str, list[Edit]] = {}
    taken = []
    for fix in fixes:
        if not fix.verified:
            continue
        trial = {path: [*chosen.get(path, []), *edits] for path, edits in _by_file(fix.edits).items()}
        try:
            for path, edits in trial.items():
                apply_edits(_read(path), edits)
        except ValueError:
            continue
        chosen.update(trial)
        taken.append(fix)
    for path, edits in chosen.items():
        write_atomically(Path(path), apply_edits(_read(path), edits))
    return taken


def _read(path: str | Path) -> str:
    with open(path, encoding="utf-8", newline="") as handle:  # line endings as they are
        return handle.read()


def fix_report(report: Report, overrides: Overrides, *, config: Path | None = None, isolated: bool = False,
               unsafe: bool = False) -> list[Fix]:
    """Every proposed fix of ``report``'s findings, each verified by checking its file again on a
    private copy of the project with the same flags and configuration."""
    from gradlint.run.runner import lint

    again = dataclasses.replace(overrides, flows=True)  # the main path's gradient, before and after

    def relint(root: Path, path: str) -> Report:
        return lint([path], again, config=config, isolated=isolated, jobs=1, cache=False)

    fixes, by_file = [], {}
    for result, finding, alternatives in proposals(report, overrides, config=config, isolated=isolated,
                                                   unsafe=unsafe):
        fixes.append(verify(result, finding, alternatives, relint))
        by_file.setdefault(id(result), (result, []))[1].append(len(fixes) - 1)
    for result, indices in by_file.values():
        _together(fixes, result, indices, relint)
    return fixes


def _together(fixes: list[Fix], result: FileResult, indices: list[int], relint: Relint) -> None:
    """Several verified fixes of one file are checked once more together; when the combination
    does not verify, only the first is kept and the others wait for the next run."""
    taken = [i for i in indices if fixes[i].verified]
    chosen: list[int] = []
    for i in taken:
        try:
            for path, edits in _by_file(tuple(e for j in [*chosen, i] for e in fixes[j].edits)).items():
                apply_edits(_read(path), edits)
        except ValueError:
            continue   # overlaps a fix already chosen: apply_fixes leaves it for the next run
        chosen.append(i)
    if len(chosen) < 2:
        return
    reason, _ = recheck(result, [fixes[i].finding for i in chosen],
                        [e for i in chosen for e in fixes[i].edits], relint)
    if reason is None:
        return
    first = fixes[chosen[0]]
    for i in chosen[1:]:
        fixes[i] = dataclasses.replace(fixes[i], verified=False, reason=(
            f"verified alone, but not together with the {first.code} fix at line {first.finding.location.line} "
            f"({reason}): run --fix again once that one is in"))


@dataclasses.dataclass
class Fixed:
    """What ``gradlint --fix`` did: the check (``report``; once fixes were written, the fixed files
    checked again), every fix proposed and verified (``fixes``), the fixes left for
    ``--unsafe-fixes`` (``unsafe_left``), and the fixes written (``applied``)."""

    report: Report
    fixes: list[Fix]
    unsafe_left: int = 0
    applied: list[Fix] = dataclasses.field(default_factory=list)

    @property
    def verified(self) -> list[Fix]:
        return [f for f in self.fixes if f.verified]


def fix_paths(paths: list[str], overrides: Overrides | None = None, *, config: Path | None = None,
              isolated: bool = False, jobs: int | None = None, unsafe: bool = False, apply: bool = False,
              init: dict | None = None) -> Fixed:
    """Lint ``paths``, verify every fix its findings' rules propose, and with ``apply`` write the
    verified ones; the returned report then holds what a check of the fixed files finds."""
    from gradlint.run.runner import lint

    overrides = dataclasses.replace(overrides or Overrides(), flows=True)  # measured before and after
    report = lint(paths, overrides, config=config, isolated=isolated, jobs=jobs, init=init)
    fixes = fix_report(report, overrides, config=config, isolated=isolated, unsafe=unsafe)
    verified = {id(f.finding) for f in fixes if f.verified}
    unsafe_left = 0 if unsafe else sum(
        1 for _, finding, alternatives in proposals(report, overrides, config=config, isolated=isolated, unsafe=True)
        if id(finding) not in verified and any(not p.safe for p in alternatives))
    fixed = Fixed(report, fixes, unsafe_left)
    if apply:
        fixed.applied = apply_fixes(fixes)
        gone = {id(f.finding) for f in fixed.applied}
        changed = [r for r in report.files if any(id(f) in gone for f in r.findings)]
        if changed:  # what remains is what a check of the fixed files finds (one fix may cure more)
            files = {Path(resolved(r.path)) for r in changed}
            targets = [p for p in paths if Path(p.split("::")[0]).resolve() in files]
            covered = {Path(p.split("::")[0]).resolve() for p in targets}
            targets += [r.path for r in changed if Path(resolved(r.path)) not in covered]
            again = {r.path: r for r in lint(targets, overrides, config=config, isolated=isolated, jobs=jobs,
                                             init=init).files}
            ids = {id(r) for r in changed}
            report.files = [again.get(r.path, r) if id(r) in ids else r for r in report.files]
    applied = {id(f) for f in fixed.applied}
    report.fixes = [{**f.to_dict(), "applied": id(f) in applied} for f in fixes]
    return fixed


def unified_diff(fixes: list[Fix]) -> str:
    """The verified fixes as one unified diff (what ``--diff`` prints), files in order."""
    import difflib

    from gradlint.core.findings import display_path

    files: dict[str, list[Edit]] = {}
    for fix in fixes:
        if not fix.verified:
            continue
        for path, edits in _by_file(fix.edits).items():
            trial = [*files.get(path, []), *edits]
            try:
                apply_edits(_read(path), trial)
            except ValueError:
                break
            files[path] = trial
    out = []
    for path in sorted(files):
        old = _read(path)
        shown = display_path(path)
        out.extend(difflib.unified_diff(old.splitlines(keepends=True),
                                        apply_edits(old, files[path]).splitlines(keepends=True),
                                        f"a/{shown}", f"b/{shown}"))
    return "".join(line if line.endswith("\n") else line + "\n" for line in out)
