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
