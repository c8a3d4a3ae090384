"""The Python API inside a test suite, the rule registry, and the installed package layout."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import torch
from conftest import ROOT
from gradlint.rules import ALL_RULES
from torch import nn

import gradlint


class Deep(nn.Module):
    def __init__(self, init=None):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(128, 128) for _ in range(20))
        if init:
            for layer in self.layers:
                init(layer.weight)
                nn.init.zeros_(layer.bias)

    def forward(self, x):
        for layer in self.layers:
            x = torch.relu(layer(x))
        return x


def test_check_model_measures_and_confirms():
    report = gradlint.check_model(Deep(), torch.randn(8, 128))
    (finding,) = report.findings
    assert (finding.code, finding.severity) == ("GL201", gradlint.Severity.ERROR)
    assert finding.probe.confirmed and finding.probe.measured_d < -4
    assert report.tracer == "value-guided fx" and report.coverage == 1.0


def test_check_model_is_clean_for_a_well_initialized_model():
    report = gradlint.check_model(Deep(lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu")),
                                  torch.randn(8, 128))
    assert report.findings == []


def test_every_rule_documents_itself_in_the_fixed_outline():
    for rule in ALL_RULES:
        docs = rule.docs()
        for heading in ("## What it does", "## Why is this bad?", "## Example", "Use instead:",
                        "## Options", "## References"):
            assert heading in docs, (rule.code, heading)
        if rule.scope != "suppression":  # thresholds come from THEORY.md; GL001 has none
            assert "THEORY.md" in docs, rule.code
        for option in rule.options:
            assert f"`{option}`" in docs, (rule.code, option)
        assert rule.name == rule.name.lower() and " " not in rule.name


def test_cli_help_and_rule_docs_do_not_import_torch():
    code = ("import sys\nfrom click.testing import CliRunner\nfrom gradlint.cli import main\n"
            "r = CliRunner().invoke(main, ['rule', 'GL301'])\nassert r.exit_code == 0, r.output\n"
            "r = CliRunner().invoke(main, ['--help'])\nassert r.exit_code == 0\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_wheel_installs_rules_as_a_gradlint_subpackage(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("gradlint-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "gradlint/rules/gl101_saturating_chain.py" in names
    assert "gradlint/passes/topology.py" in names and "gradlint/reporters/json_format.py" in names
    assert not [n for n in names if n.startswith("rules/")]


def test_assert_healthy_passes_a_healthy_model_and_prints_the_findings_of_a_broken_one():
    import pytest

    healthy = Deep(lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"))
    assert gradlint.assert_healthy(healthy, torch.randn(8, 128)).findings == []
    with pytest.raises(AssertionError) as failure:
        gradlint.assert_healthy(Deep(), torch.randn(8, 128))
    message = str(failure.value)
    assert "GL201 error: 20 weight layers in a row with no normalization" in message
    assert "probe confirmed" in message and "test_api_and_package.py:" in message


def test_files_without_models_never_import_torch(tmp_path):
    (tmp_path / "utils.py").write_text("import os\n\ndef helper():\n    return os.getcwd()\n")
    (tmp_path / "train.py").write_text("import torch\n\ndef fit(model):\n    return torch.optim.SGD(model.parameters(), lr=0.1)\n")
    code = ("import sys\nfrom gradlint.run.runner import lint\n"
            f"report = lint([{str(tmp_path)!r}])\n"
            "print(len(report.findings), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.split() == ["1", "False"]  # GL501 on train.py, found from the source alone


def test_readme_rule_table_is_written_from_the_rule_files():
    from gradlint.rules import markdown_table

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert markdown_table() in readme, (
        "README's rule table is stale: paste `gradlint rule --all --output-format markdown` over it")


def test_rules_run_after_the_rules_that_explain_their_findings():
    from gradlint.rules import run_order

    order = [rule.code for rule in run_order(rule() for rule in reversed(ALL_RULES))]
    assert sorted(order) == sorted(rule.code for rule in ALL_RULES)
    for rule in ALL_RULES:
        for first in rule.explained_by:
            assert order.index(first) < order.index(rule.code), (first, rule.code)
    assert order == [rule.code for rule in run_order(rule() for rule in ALL_RULES)]  # stable
