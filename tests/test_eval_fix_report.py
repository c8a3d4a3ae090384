"""eval/fix_report.py's counting: a flagged failing case with no fix counts as not fixed (never as
training), a verified fix counts as training only when its copy trains, a case that trains counts
as touched when any file of its copy changed, and eval/cases is only ever copied."""

from __future__ import annotations

import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "eval"))

import fix_report  # noqa: E402

CASE = "fp16/mlp_half_adam/model.py"  # flagged GL801 (a rule with no fix), fails in training
SINGLE = "mlp/plain_relu_none_scaled_16.py"


def _fix(code: str, applied: bool = True) -> dict:
    return {"code": code, "severity": "warning", "title": "t", "safe": True, "verified": applied, "applied": applied,
            "before": "b", "after": "a", "reason": None if applied else "still found"}


def test_copies_a_project_case_and_a_single_file_case_with_their_configuration(tmp_path):
    project = fix_report.copy_case(CASE, tmp_path / "a")
    assert project == tmp_path / "a" / CASE and (project.parent / "pyproject.toml").exists()
    single = fix_report.copy_case(SINGLE, tmp_path / "b")
    assert sorted(p.name for p in single.parent.iterdir()) == ["plain_relu_none_scaled_16.py", "pyproject.toml"]
    assert fix_report.stated_lr(single, tmp_path / "b") == 0.05


def test_a_flagged_failing_case_without_a_fix_counts_as_not_fixed(tmp_path, monkeypatch):
    from gradlint.fix import verify

    # whatever fixes the rules come to propose, this case gets none
    monkeypatch.setattr(verify, "proposals", lambda *args, **kwargs: [])
    cases = tmp_path / "cases"
    fix_report.copy_case(CASE, cases)
    original = (cases / CASE).read_bytes()
    labels = {CASE: {"label": "fails", "runs": [[None, "fails", None]]}}
    lines: list[str] = []
    results = fix_report.run([CASE], [], tmp_path / "work", jobs=1, cases=cases, log=lines.append)
    record = results[CASE]
    assert record["flagged"] == ["GL801"] and record["fixes"] == [] and record["changed"] == []
    assert "trained" not in record  # nothing was fixed, so nothing was trained
    numbers = fix_report.summarize(labels, results)
    assert (numbers["flagged_failing"], numbers["fixed"], numbers["now_train"]) == (1, 0, 0)
    assert numbers["share_trains"] == 0 and numbers["not_fixed"] == [CASE]
    assert numbers["per_rule"] == {"GL801": {"flags": 1, "fixed": 0, "trains": 0, "fixed_unflagged": 0}}
    assert (cases / CASE).read_bytes() == original  # the run fixes a copy of the copy
    assert lines == [f"{CASE}: flagged GL801; fixed -"]


def test_counting_over_fixed_unfixed_failed_and_healthy_cases():
    labels = {"a.py": {"label": "fails"}, "b.py": {"label": "fails"}, "c.py": {"label": "fails"},
              "d.py": {"label": "fails"}, "e.py": {"label": "fails"}, "h1.py": {"label": "trains"},
              "h2.py": {"label": "trains"}}
    results = {
        "a.py": {"flagged": ["GL101"], "fixes": [_fix("GL101")], "changed": ["a.py"], "trained": {"label": "trains"}},
        "b.py": {"flagged": ["GL101"], "fixes": [_fix("GL101"), _fix("GL601")], "changed": ["b.py"],
                 "trained": {"label": "fails"}},
        "c.py": {"flagged": ["GL301"], "fixes": [_fix("GL301", applied=False)], "changed": []},
        "d.py": {"error": "fix: RuntimeError: boom"},
        "e.py": {"flagged": [], "fixes": [], "changed": []},  # no longer flagged: not counted
        "h1.py": {"flagged": ["GL701"], "fixes": [_fix("GL701")], "changed": ["pyproject.toml"]},
        "h2.py": {"flagged": [], "fixes": [], "changed": []},
    }
    numbers = fix_report.summarize(labels, results)
    assert (numbers["flagged_failing"], numbers["fixed"], numbers["now_train"]) == (4, 2, 1)
    assert numbers["share_trains"] == 0.25
    assert numbers["still_fail"] == ["b.py"] and numbers["not_fixed"] == ["c.py", "d.py"]
    assert numbers["per_rule"]["GL101"] == {"flags": 2, "fixed": 2, "trains": 1, "fixed_unflagged": 0}
    assert numbers["per_rule"]["GL301"] == {"flags": 1, "fixed": 0, "trains": 0, "fixed_unflagged": 0}
    assert numbers["per_rule"]["GL601"] == {"flags": 0, "fixed": 0, "trains": 0, "fixed_unflagged": 1}
    assert (numbers["healthy_checked"], numbers["healthy_touched"]) == (2, 1)
    assert numbers["touched"] == {"h1.py": ["GL701 (warning)"]}
    assert list(numbers["errors"]) == ["d.py"]


def test_candidates_from_saved_findings():
    labels = {"f1.py": {"label": "fails"}, "f2.py": {"label": "fails"}, "t1.py": {"label": "trains"},
              "t2.py": {"label": "trains"}, "u.py": {"label": "undecided"}}
    warning = {"code": "GL101", "severity": "warning"}
    info = {"code": "GL601", "severity": "info"}
    saved = {"f1.py": {"findings": [warning]}, "f2.py": {"findings": [info]}, "t1.py": {"findings": [info]},
             "t2.py": {"findings": []}, "u.py": {"findings": [warning]}}
    failing, training, skipped = fix_report.candidates(labels, saved)
    assert failing == ["f1.py"] and training == ["t1.py"]
    assert set(skipped) == {"f2.py", "t2.py"}
    assert fix_report.candidates(labels, None)[:2] == (["f1.py", "f2.py"], ["t1.py", "t2.py"])
