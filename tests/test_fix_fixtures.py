"""Every case under fixtures/fix/ through the real command line: `gradlint --fix` on a copy of the
case turns each file into its `.after` twin, prints each fix's line with the measurement before and
after that fix.toml names, and a second `--fix` finds nothing left to fix.

A case is a small project: `pyproject.toml`, the files as they are before the fix, `<file>.after`
for each file the fix edits, and `fix.toml`::

    lint = "train.py"      # the path linted
    unsafe = false         # true: the fix needs --unsafe-fixes
    exit = 0               # the exit code of --fix: what the fixed files still give (default 0)
    args = []              # more flags for both runs (an info finding is fixed with --fail-level info)
    [[fixed]]
    code = "GL501"
    before = "..."         # in the measurement before
    after = "..."          # in the measurement after
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest
from conftest import FIXTURES, run_cli

CASES = sorted(p.parent for p in (FIXTURES / "fix").glob("*/fix.toml"))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fix_turns_the_case_into_its_after_files(case: Path, tmp_path: Path):
    spec = tomllib.loads((case / "fix.toml").read_text())
    work = tmp_path / case.name
    shutil.copytree(case, work, ignore=shutil.ignore_patterns("*.after", "fix.toml", "__pycache__"))
    flags = ["--fix", *(["--unsafe-fixes"] if spec.get("unsafe") else []), *spec.get("args", [])]
    done = run_cli(*flags, spec["lint"], cwd=work)
    # the fixed files are checked again: what remains decides the exit code
    assert done.returncode == spec.get("exit", 0), done.stdout + done.stderr
    for after in case.rglob("*.after"):
        edited = work / after.relative_to(case).with_suffix("")
        assert edited.read_text() == after.read_text(), f"{edited.name} differs from {after.name}\n{done.stderr}"
    lines = [line for line in done.stderr.splitlines() if " fixed: " in line]
    for fixed in spec["fixed"]:
        line = next((text for text in lines if f" {fixed['code']} fixed: " in text), None)
        assert line is not None, done.stderr
        before, _, after = line.partition("; after: ")
        assert fixed["before"] in before, line
        assert fixed["after"] in after, line
    assert len(lines) == len(spec["fixed"]), done.stderr
    again = run_cli("--diff", *flags[1:], spec["lint"], cwd=work)   # nothing left to fix
    assert again.returncode == 0 and again.stdout == "", again.stdout + again.stderr


def test_every_fix_case_has_an_after_file_and_a_spec():
    assert CASES, "fixtures/fix/ holds no case"
    for case in CASES:
        assert list(case.rglob("*.after")), f"{case.name}: no .after file"
        assert (case / "pyproject.toml").exists(), f"{case.name}: no pyproject.toml"
