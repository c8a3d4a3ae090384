"""A smoke run of the evaluation (eval/): train three cases briefly, lint them, score them —
so the evaluation code cannot silently break. The full run is `python eval/report.py`."""

from __future__ import annotations

import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "eval"))

import report  # noqa: E402
import tasks  # noqa: E402

CASES = ["mlp/plain_sigmoid_none_default_16.py", "mlp/plain_relu_none_scaled_16.py", "mlp/plain_relu_none_default_32.py"]


def test_train_lint_and_score_three_cases():
    paths = [ROOT / "eval" / "cases" / name for name in CASES]
    labels = {name: tasks.train(p, budget=300) for name, p in zip(CASES, paths)}
    assert labels["mlp/plain_sigmoid_none_default_16.py"]["label"] == "fails"
    assert labels["mlp/plain_relu_none_scaled_16.py"]["label"] == "trains"
    # a failing case is retried at a third and three times the task's learning rate; one that
    # trains at the task's rate is not
    assert [run[0] for run in labels["mlp/plain_sigmoid_none_default_16.py"]["runs"]] == [0.05, 0.016667, 0.15]
    assert [run[0] for run in labels["mlp/plain_relu_none_scaled_16.py"]["runs"]] == [0.05]
    records = report.run_gradlint(paths)
    found = {name: report.flagged(record) for name, record in records.items()}
    assert "GL101" in found["mlp/plain_sigmoid_none_default_16.py"]
    assert not found["mlp/plain_relu_none_scaled_16.py"] & set(report.GRADIENT_RULES)
    result = report.score(labels, found)
    assert result["tp"] >= 2 and result["fp"] == 0 and result["precision"] == 1.0
    assert all(record["seconds"] > 0 for record in records.values())


def test_fit_tasks_of_the_warmup_and_fp16_families():
    # a few steps of each new task through its case's own fit(): the machinery, not the label
    for name, task in (("warmup/postln_6/model.py", "histogram-T10"), ("fp16/mlp_half_adam/model.py", "spirals-fit"),
                       ("fp16/ae_bf16_autocast/model.py", "denoise")):
        entry = tasks.train(ROOT / "eval" / "cases" / name, budget=3)
        assert entry["task"] == task and entry["budget"] == 3 and len(entry["runs"]) == 1
        assert entry["initial_loss"] is not None and entry["label"] in ("trains", "fails", "undecided")


def test_score_a_subset_and_each_rule_on_its_families():
    labels = {"fp16/c/model.py": {"label": "trains"}, "mlp/x.py": {"label": "fails"},
              "warmup/a/model.py": {"label": "fails"}, "warmup/b/model.py": {"label": "trains"},
              "warmup/u/model.py": {"label": "undecided"}}
    assert report.select(labels, [], []) is labels
    assert list(report.select(labels, [], ["warmup"])) == ["warmup/a/model.py", "warmup/b/model.py", "warmup/u/model.py"]
    assert list(report.select(labels, [ROOT / "eval" / "cases" / "fp16"], ["mlp"])) == ["fp16/c/model.py", "mlp/x.py"]
    found = {"fp16/c/model.py": {"GL801"}, "mlp/x.py": {"GL101"}, "warmup/a/model.py": {"GL702"},
             "warmup/b/model.py": set(), "warmup/u/model.py": {"GL702"}}
    scores = report.rule_scores(labels, found)
    assert set(scores) == {"GL702", "GL801"}  # no rnn_t10/ or rnn_t100/ case here: no GL301 row
    assert (scores["GL702"]["tp"], scores["GL702"]["fp"], scores["GL702"]["fn"], scores["GL702"]["tn"]) == (1, 0, 0, 1)
    assert (scores["GL801"]["tp"], scores["GL801"]["fp"]) == (0, 1)
    assert "GL702" in report.GRADIENT_RULES and "GL801" in report.GRADIENT_RULES
