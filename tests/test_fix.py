"""`gradlint --fix` / `--diff` / `--unsafe-fixes`: a fix is applied only once the re-check on a
private copy of the project shows its finding gone and nothing new; everything else is reported as
a suggestion with its reason, and the user's file is left as it was.

The rules' own proposals have their fixture tests (tests/test_fix_fixtures.py); here a test
proposal stands in for a rule's, so the verification itself is what is tested: a good edit, an
edit that leaves the finding, an edit that breaks the file, a suppressed finding."""

from __future__ import annotations

import dataclasses
import os
import stat

import libcst as cst
import pytest
from click.testing import CliRunner

from gradlint.cli import main
from gradlint.rules import RULES_BY_CODE
from gradlint.source.edits import Edit, Proposal, apply_edits, write_atomically

SIGMOIDS = '''import torch
from torch import nn
import torch.nn.functional as F


class Dense(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc = nn.Linear(width, width)

    def forward(self, x):
        return F.sigmoid(self.fc(x))


class SigmoidNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList(Dense(256) for _ in range(4))
        self.out = nn.Linear(256, 2)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.out(x)
'''


def _sigmoid_call(sources, finding):
    source = sources.file(finding.location.path)
    calls = [n for n in source.at_line(finding.location.line, cst.Call) if source.code(n.func) == "F.sigmoid"]
    return source, calls[0]


def relu_instead(self, finding, sources):          # removes the finding: verifies
    source, call = _sigmoid_call(sources, finding)
    return Proposal("use `F.relu`", (source.replace(call.func, "F.relu"),), safe=False)


def deeper(self, finding, sources):                # leaves the finding: does not verify
    source = sources.file(finding.location.path)
    number = next(n for n in source.nodes(cst.Integer) if n.value == "4")
    return Proposal("one more block", (source.replace(number, "5"),))


def broken(self, finding, sources):                # the file no longer imports: does not verify
    source, call = _sigmoid_call(sources, finding)
    return Proposal("break it", (source.replace(call.func, "F.not_a_function"),))


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "tmp"\n')
    (tmp_path / "model.py").write_text(SIGMOIDS)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(monkeypatch, propose, *args):
    monkeypatch.setattr(RULES_BY_CODE["GL101"], "propose", propose)
    return CliRunner().invoke(main, ["--select", "GL101", *args, "model.py"])


def test_a_verified_unsafe_fix_is_applied_with_its_measurement_before_and_after(project, monkeypatch):
    result = _run(monkeypatch, relu_instead, "--fix", "--unsafe-fixes")
    assert result.exit_code == 0, result.output
    assert "return F.relu(self.fc(x))" in (project / "model.py").read_text()
    line = next(text for text in result.stderr.splitlines() if "GL101 fixed" in text)
    assert line.startswith("model.py:12:16: GL101 fixed: use `F.relu` (before: probe confirmed: gradient at `sigmoid`")
    assert "after: no GL101 finding (model `SigmoidNet` checked)" in line
    # the main path's gradient, measured before and after: it grew
    before, after = (float(part.split(" is ")[1].split(" ")[0]) for part in line.split("main path: ")[1:])
    assert after > 10 * before


def test_an_unsafe_fix_waits_for_unsafe_fixes_and_diff_writes_nothing(project, monkeypatch):
    result = _run(monkeypatch, relu_instead, "--fix")
    assert result.exit_code == 1                       # the finding stays
    assert (project / "model.py").read_text() == SIGMOIDS
    assert "1 more fix change what the model computes" in result.stderr
    shown = _run(monkeypatch, relu_instead, "--diff", "--unsafe-fixes")
    assert shown.exit_code == 1                        # there is something to fix
    assert "-        return F.sigmoid(self.fc(x))\n+        return F.relu(self.fc(x))\n" in shown.stdout
    assert shown.stdout.startswith("--- a/model.py\n+++ b/model.py\n")
    assert (project / "model.py").read_text() == SIGMOIDS


def test_a_fix_that_leaves_its_finding_is_only_a_suggestion(project, monkeypatch):
    result = _run(monkeypatch, deeper, "--fix")
    assert result.exit_code == 1
    assert (project / "model.py").read_text() == SIGMOIDS
    assert ("model.py:12:16: GL101 fix not applied: one more block (not verified: GL101 is still found "
            "(probe confirmed: gradient at `sigmoid`") in result.stderr


def deeper_then_relu(self, finding, sources):     # the first repair fails, its fallback verifies
    return dataclasses.replace(deeper(self, finding, sources), fallback=relu_instead(self, finding, sources))


def test_a_fallback_is_applied_when_the_first_repair_does_not_verify(project, monkeypatch):
    result = _run(monkeypatch, deeper_then_relu, "--fix", "--unsafe-fixes")
    assert result.exit_code == 0, result.output
    text = (project / "model.py").read_text()
    assert "return F.relu(self.fc(x))" in text and "range(4)" in text   # only the fallback's edit
    assert "model.py:12:16: GL101 fixed: use `F.relu` (before: probe confirmed" in result.stderr


def test_an_unsafe_fallback_waits_for_unsafe_fixes(project, monkeypatch):
    result = _run(monkeypatch, deeper_then_relu, "--fix")
    assert result.exit_code == 1
    assert (project / "model.py").read_text() == SIGMOIDS
    assert "GL101 fix not applied: one more block (not verified: GL101 is still found" in result.stderr
    assert "1 more fix change what the model computes" in result.stderr


def test_a_fix_that_breaks_the_file_is_refused(project, monkeypatch):
    result = _run(monkeypatch, broken, "--fix")
    assert (project / "model.py").read_text() == SIGMOIDS
    assert "GL101 fix not applied: break it (not verified: the re-check failed:" in result.stderr
    assert "not_a_function" in result.stderr


def test_a_suppressed_finding_is_never_fixed(project, monkeypatch):
    text = SIGMOIDS.replace("return F.sigmoid(self.fc(x))", "return F.sigmoid(self.fc(x))  # noqa: GL101")
    (project / "model.py").write_text(text)
    asked = []
    result = _run(monkeypatch, lambda self, finding, sources: asked.append(finding), "--fix", "--unsafe-fixes")
    assert result.exit_code == 0 and not asked
    assert (project / "model.py").read_text() == text


def test_edits_keep_line_endings_and_refuse_to_overlap(tmp_path):
    text = "a = 1\r\nb = 2\r\n"
    edits = [Edit("f", 1, 4, 1, 5, "10"), Edit("f", 2, 0, 2, 0, "# two\r\n")]
    assert apply_edits(text, edits) == "a = 10\r\n# two\r\nb = 2\r\n"
    with pytest.raises(ValueError, match="overlapping"):
        apply_edits(text, [Edit("f", 1, 0, 1, 5, "x"), Edit("f", 1, 4, 1, 5, "y")])


def test_a_file_is_replaced_in_one_step_with_its_permissions(tmp_path):
    path = tmp_path / "train.py"
    path.write_text("x = 1\n")
    os.chmod(path, 0o750)
    write_atomically(path, "x = 2\n")
    assert path.read_text() == "x = 2\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o750
    assert [p.name for p in tmp_path.iterdir()] == ["train.py"]   # no temporary file left


PATCHED_CLI = f"""
import sys
import libcst as cst
from gradlint.rules import RULES_BY_CODE
from gradlint.source.edits import Proposal

def relu_instead(self, finding, sources):
    source = sources.file(finding.location.path)
    call = [n for n in source.at_line(finding.location.line, cst.Call) if source.code(n.func) == "F.sigmoid"][0]
    return Proposal("use relu", (source.replace(call.func, "F.relu"),), safe=False)

RULES_BY_CODE["GL101"].propose = relu_instead
from gradlint.cli import main
main(sys.argv[1:])
"""


def test_ctrl_c_during_the_recheck_leaves_no_copy_and_the_file_as_it_was(project, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch), "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-c", PATCHED_CLI, "--fix", "--unsafe-fixes", "--select", "GL101",
                                "model.py"], cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not any(p.name.startswith("gradlint-fix-") for p in scratch.iterdir()):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "interrupted by SIGINT" in err.decode()
    assert not [p for p in scratch.iterdir() if p.name.startswith("gradlint-fix-")]
    assert (project / "model.py").read_text() == SIGMOIDS


def test_json_output_lists_each_fix_with_its_edits(project, monkeypatch):
    import json

    result = _run(monkeypatch, relu_instead, "--fix", "--unsafe-fixes", "--output-format", "json")
    document = json.loads(result.stdout)
    [fix] = document["fixes"]
    assert (fix["code"], fix["line"], fix["verified"], fix["applied"], fix["safe"]) == ("GL101", 12, True, True, False)
    assert document["files"][0]["findings"] == []          # what remains after the fix
    assert fix["edits"] == [{"path": str((project / "model.py").resolve()), "line": 12, "col": 15,
                             "end_line": 12, "end_col": 24, "text": "F.relu"}]
