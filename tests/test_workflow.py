"""gradlint as ruff/mypy users expect it: configuration, suppressions, formats, baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

NET = """import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(64, 64) for _ in range(4))

    def forward(self, x):
        for layer in self.layers:
            x = torch.sigmoid(layer(x)){comment}
        return x
"""
LINE = 12  # the line of torch.sigmoid above


def net(comment: str = "") -> str:
    return NET.format(comment=comment)


def project(tmp_path: Path, config: str = "", **files: str) -> Path:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\n' + config)
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


# --- configuration ------------------------------------------------------------------------------

def test_select_and_rule_options_from_pyproject(tmp_path):
    root = project(tmp_path, '[tool.gradlint]\nselect = ["GL2"]\n', **{"net.py": net()})
    assert run_cli("net.py", cwd=root).returncode == 0  # GL101 not selected
    root = project(tmp_path, '[tool.gradlint.rules.GL101]\nsigmoid-error-length = 10\n')
    result = run_cli("net.py", cwd=root)
    assert f"net.py:{LINE}:17: GL101 warning:" in result.stdout  # 4 < 10: a warning now


def test_command_line_overrides_the_file(tmp_path):
    root = project(tmp_path, '[tool.gradlint]\nignore = ["GL101"]\n', **{"net.py": net()})
    assert run_cli("net.py", cwd=root).returncode == 0
    assert run_cli("net.py", "--ignore", "GL5", cwd=root).returncode == 1
    assert run_cli("net.py", "--isolated", cwd=root).returncode == 1


def test_per_file_ignores_and_explicit_config(tmp_path):
    root = project(tmp_path, '[tool.gradlint.per-file-ignores]\n"experiments/*" = ["GL1"]\n',
                   **{"experiments/net.py": net(), "models/net.py": net()})
    result = run_cli(".", cwd=root)
    assert "models/net.py" in result.stdout and "experiments/net.py" not in result.stdout
    other = tmp_path / "strict.toml"
    other.write_text('fail-level = "error"\n[rules.GL101]\nsigmoid-error-length = 10\n')
    result = run_cli(".", "--config", str(other), cwd=root)
    assert result.returncode == 0 and result.stdout.count("GL101 warning") == 2


def test_probe_options_from_the_file(tmp_path):
    root = project(tmp_path, '[tool.gradlint.probe]\nenabled = false\n', **{"net.py": net()})
    result = run_cli("net.py", cwd=root)
    assert "static gain" in result.stdout and "probe confirmed" not in result.stdout


@pytest.mark.parametrize("config, message", [
    ('[tool.gradlint]\nselct = ["GL1"]\n', "unknown key `tool.gradlint.selct` (did you mean `select`?)"),
    ('[tool.gradlint]\nselect = ["XX1"]\n', "`tool.gradlint.select`: unknown rule code or prefix 'XX1'"),
    ('[tool.gradlint.rules.GL201]\nmin-depth = "deep"\n', "`tool.gradlint.rules.GL201.min-depth` must be int, got 'deep'"),
    ('[tool.gradlint.rules.GL201]\nmax-depth = 3\n', "unknown key `tool.gradlint.rules.GL201.max-depth` (did you mean `min-depth`?)"),
    ('[tool.gradlint.probe]\nbatch-size = -1\n', "`tool.gradlint.probe.batch-size` must not be negative"),
    ('[tool.gradlint]\nfail-level = "fatal"\n', "`tool.gradlint.fail-level` must be"),
])
def test_bad_configuration_is_one_line_and_exit_2(tmp_path, config, message):
    root = project(tmp_path, config, **{"net.py": net()})
    result = run_cli("net.py", cwd=root)
    assert result.returncode == 2
    assert result.stderr.startswith(f"gradlint: error: {root / 'pyproject.toml'}: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


# --- suppressions -------------------------------------------------------------------------------

@pytest.mark.parametrize("comment", ["  # noqa: GL101", "  # gradlint: ignore[GL101]", "  # noqa",
                                     "  # gradlint: ignore", "  # noqa: E501, GL101"])
def test_suppression_on_the_finding_line(tmp_path, comment):
    root = project(tmp_path, **{"net.py": net(comment)})
    result = run_cli("net.py", cwd=root)
    assert result.returncode == 0 and result.stdout == ""
    assert "(1 suppressed)" in result.stderr


def test_file_level_suppression(tmp_path):
    root = project(tmp_path, **{"net.py": "# gradlint: noqa\n" + net()})
    assert run_cli("net.py", cwd=root).stdout == ""


def test_suppression_of_another_code_does_not_silence(tmp_path):
    root = project(tmp_path, **{"net.py": net("  # noqa: GL401")})
    result = run_cli("net.py", cwd=root)
    assert f"net.py:{LINE}:17: GL101 error" in result.stdout
    col = net("  # noqa: GL401").splitlines()[LINE - 1].index("#") + 1
    assert f"net.py:{LINE}:{col}: GL001 warning: unused suppression for GL401" in result.stdout


def test_unused_suppressions_are_reported_only_for_enabled_codes(tmp_path):
    source = net("  # noqa: GL101") + "\nx = 1  # noqa: GL301\ny = 2  # noqa\nz = 3  # gradlint: ignore[GL201]\n"
    root = project(tmp_path, **{"net.py": source})
    result = run_cli("net.py", cwd=root)
    lines = result.stdout.splitlines()
    assert [line.split(": ")[1] for line in lines] == ["GL001 warning", "GL001 warning"]
    assert "net.py:15:8: GL001 warning: unused suppression for GL301" in lines[0]
    assert "net.py:17:8: GL001 warning: unused suppression for GL201" in lines[1]
    quiet = run_cli("net.py", "--ignore", "GL3,GL2", cwd=root)
    assert quiet.stdout == ""


# --- formats ------------------------------------------------------------------------------------

def test_json_schema_fields(tmp_path):
    root = project(tmp_path, **{"net.py": net()})
    document = json.loads(run_cli("net.py", "--output-format", "json", cwd=root).stdout)
    assert document["version"] == 1
    (finding,) = document["files"][0]["findings"]
    assert set(finding) >= {"code", "name", "severity", "message", "location", "model", "node", "span",
                            "static_d", "probe", "fingerprint", "fix"}
    assert finding["probe"]["measured_d"] < -1


def test_sarif_validates_against_the_2_1_0_schema(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())
    root = project(tmp_path, **{"net.py": net(), "broken.py": "def f(:\n"})
    result = run_cli(".", "--output-format", "sarif", cwd=root)
    assert result.returncode == 2
    document = json.loads(result.stdout)
    jsonschema.validate(document, schema)
    run = document["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]][:2] == ["GL001", "GL101"]
    assert "## Why is this bad?" in run["tool"]["driver"]["rules"][1]["fullDescription"]["text"]
    (res,) = run["results"]
    location = res["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "net.py", "uriBaseId": "%SRCROOT%"}
    assert location["region"]["startLine"] == LINE and res["level"] == "error"
    assert len(res["partialFingerprints"]["gradlint/v1"]) == 20
    assert "broken.py" in run["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"]


def test_github_annotations_are_escaped(tmp_path):
    from gradlint.reporters.github import escape_data, escape_property

    assert escape_data("50%\nnext\r") == "50%25%0Anext%0D"
    assert escape_property("a:b,c%") == "a%3Ab%2Cc%25"
    root = project(tmp_path, **{"net.py": net()})
    result = run_cli("net.py", "--output-format", "github", cwd=root)
    (line,) = result.stdout.splitlines()
    assert line.startswith(f"::error file=net.py,line={LINE},col=17,endLine={LINE},")
    assert ",title=GL101 saturating-activation-chain::4 sigmoid layers" in line
    assert "\n" not in line.rstrip("\n")


def test_output_file_statistics_and_environment_variable(tmp_path, monkeypatch):
    root = project(tmp_path, **{"net.py": net(), "other.py": net()})
    out = tmp_path / "findings.txt"
    result = run_cli(".", "-o", str(out), cwd=root)
    assert result.stdout == "" and out.read_text().count("GL101 error") == 2
    stats = run_cli(".", "--statistics", cwd=root)
    assert stats.stdout == "    2  GL101  saturating-activation-chain\n"
    monkeypatch.setenv("GRADLINT_OUTPUT_FORMAT", "json")
    assert json.loads(run_cli("net.py", cwd=root).stdout)["version"] == 1


def test_exit_zero_and_fail_level(tmp_path):
    root = project(tmp_path, **{"net.py": net(), "broken.py": "def f(:\n"})
    assert run_cli("net.py", "--exit-zero", cwd=root).returncode == 0
    assert run_cli(".", "--exit-zero", cwd=root).returncode == 2  # never hides errors
    relaxed = project(tmp_path, '[tool.gradlint.rules.GL101]\nsigmoid-error-length = 10\n')
    assert run_cli("net.py", "--fail-level", "error", cwd=relaxed).returncode == 0
    assert run_cli("net.py", "--fail-level", "warning", cwd=relaxed).returncode == 1


# --- baseline -----------------------------------------------------------------------------------

def test_baseline_hides_known_findings_even_when_lines_move(tmp_path):
    root = project(tmp_path, **{"net.py": net()})
    baseline = tmp_path / "gradlint-baseline.json"
    first = run_cli("net.py", "--baseline", str(baseline), "--update-baseline", cwd=root)
    assert first.returncode == 0 and baseline.exists()
    assert json.loads(baseline.read_text())["findings"][0]["code"] == "GL101"
    (root / "net.py").write_text("# a new comment\n\n" + net())  # the finding moves two lines down
    again = run_cli("net.py", "--baseline", str(baseline), cwd=root)
    assert again.returncode == 0 and again.stdout == "" and "(1 in the baseline)" in again.stderr
    (root / "new.py").write_text(net())
    fresh = run_cli(".", "--baseline", str(baseline), cwd=root)
    assert fresh.returncode == 1 and fresh.stdout.startswith("new.py:")
    missing = run_cli("net.py", "--baseline", str(tmp_path / "nope.json"), cwd=root)
    assert missing.returncode == 2 and "baseline file not found" in missing.stderr


def test_extend_select_and_per_file_ignores_flags(tmp_path):
    root = project(tmp_path, '[tool.gradlint]\nselect = ["GL2"]\n', **{"net.py": net(), "exp/net.py": net()})
    assert run_cli("net.py", cwd=root).returncode == 0
    assert "GL101 error" in run_cli("net.py", "--extend-select", "GL101", cwd=root).stdout
    both = run_cli(".", "--isolated", "--per-file-ignores", "exp/*:GL1", cwd=root)
    assert "exp/net.py" not in both.stdout and both.stdout.startswith("net.py:")
    bad = run_cli(".", "--per-file-ignores", "exp/*", cwd=root)
    assert bad.returncode == 2 and "expects GLOB:CODES" in bad.stderr


def test_plot_draws_the_gradient_flow(tmp_path):
    pytest.importorskip("matplotlib")
    root = project(tmp_path, **{"net.py": net()})
    result = run_cli("net.py", "--plot", "flow.png", "--no-cache", cwd=root)
    assert result.returncode == 1
    assert "gradient flow of 1 model(s) drawn to flow.png" in result.stderr
    assert (root / "flow.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = run_cli("net.py", "--plot", "flow.svg", cwd=root)
    assert (root / "flow.svg").read_text().lstrip().startswith("<?xml") and svg.returncode == 1


def test_plot_without_matplotlib_says_how_to_install_it(monkeypatch, tmp_path):
    import sys

    from gradlint.core.findings import Report
    from gradlint.reporters import plot

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(plot.PlotUnavailable, match=r"pip install 'gradlint\[plot\]'"):
        plot.write(Report([]), tmp_path / "x.png")
