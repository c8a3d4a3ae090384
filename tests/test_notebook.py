"""Jupyter notebooks: cells run in order under the script interception, findings point at
``notebook.ipynb:cell N:line:col`` (ruff's convention), suppressions work inside cells."""

from __future__ import annotations

import json
import shutil
import time

from conftest import FIXTURES, run_cli

SIGMOID_NOTEBOOK = FIXTURES / "notebook_sigmoid_mlp" / "train.ipynb"
CLEAN_NOTEBOOK = FIXTURES / "notebook_clean" / "explore.ipynb"


def notebook(*cells: str | tuple[str, str]) -> str:
    """A notebook of code cells (a ("markdown", text) pair makes a markdown cell)."""
    out = []
    for cell in cells:
        kind, text = cell if isinstance(cell, tuple) else ("code", cell)
        entry = {"cell_type": kind, "metadata": {}, "source": text.splitlines(keepends=True)}
        if kind == "code":
            entry.update(execution_count=None, outputs=[])
        out.append(entry)
    return json.dumps({"cells": out, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def copy_fixture(source, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "tmp"\n')
    return shutil.copy(source, tmp_path / source.name)


def test_deep_sigmoid_mlp_is_found_at_its_cell_without_training(tmp_path):
    copy_fixture(SIGMOID_NOTEBOOK, tmp_path)
    started = time.monotonic()
    result = run_cli("train.ipynb", "--no-cache", cwd=tmp_path)
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    # code cell 2 (the markdown cell above it is not counted), line 3, where the model is built
    assert result.stdout.startswith("train.ipynb:cell 2:3:1: GL101 error: 4 sigmoid layers in a row"), result.stdout
    assert "probe confirmed" in result.stdout
    # the training cell never ran: it would have written the marker and printed
    assert not (tmp_path / "trained.marker").exists()
    assert "TRAINING FINISHED" not in result.stdout + result.stderr
    assert "stopped the file where training starts (backward() at train.ipynb:cell 3:10)" in result.stderr
    assert elapsed < 60  # one forward, no loop (generous for a shared CI machine)


def test_the_model_is_probed_with_the_notebooks_own_batch(tmp_path):
    copy_fixture(SIGMOID_NOTEBOOK, tmp_path)
    result = run_cli("train.ipynb", "--no-cache", "-v", cwd=tmp_path)
    assert "example inputs from the file's own call at train.ipynb:cell 3:9" in result.stderr, result.stderr


def test_source_rules_see_the_cells(tmp_path):
    copy_fixture(SIGMOID_NOTEBOOK, tmp_path)
    result = run_cli("train.ipynb", "--no-cache", "--show-info", "--select", "GL501", cwd=tmp_path)
    assert result.stdout.startswith("train.ipynb:cell 3:4:13: GL501 info: optimizer `SGD` is constructed")
    assert result.returncode == 0  # info fails nothing


def test_clean_notebook_stays_clean(tmp_path):
    copy_fixture(CLEAN_NOTEBOOK, tmp_path)
    result = run_cli(".", "--no-cache", "--show-info", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert "1 model found, 1 checked" in result.stderr


def test_json_and_sarif_name_the_cell(tmp_path):
    copy_fixture(SIGMOID_NOTEBOOK, tmp_path)
    as_json = json.loads(run_cli("train.ipynb", "--output-format", "json", "--select", "GL101",
                                 cwd=tmp_path).stdout)
    location = as_json["files"][0]["findings"][0]["location"]
    assert (location["path"], location["cell"], location["line"], location["col"]) == ("train.ipynb", 2, 3, 1)
    sarif = json.loads(run_cli("train.ipynb", "--output-format", "sarif", "--select", "GL101",
                               cwd=tmp_path).stdout)
    place = sarif["runs"][0]["results"][0]["locations"][0]
    assert place["properties"] == {"cell": 2}
    assert place["physicalLocation"]["region"]["startLine"] == 3


def test_suppressions_in_cells(write):
    model = ("import torch\nfrom torch import nn\n"
             "net = nn.Sequential(nn.Linear(16, 16), nn.Sigmoid(), nn.Linear(16, 16), nn.Sigmoid(),\n"
             "                    nn.Linear(16, 16), nn.Sigmoid(), nn.Linear(16, 16), nn.Sigmoid(), nn.Linear(16, 2))")
    silenced = write("silenced.ipynb", notebook(("markdown", "# notes"), "%load_ext autoreload",
                                                model.replace("net = nn.Sequential(nn.Linear(16, 16), nn.Sigmoid(),",
                                                              "net = nn.Sequential(  # noqa: GL101\n"
                                                              "    nn.Linear(16, 16), nn.Sigmoid(),")))
    result = run_cli(silenced.name, "--no-cache", cwd=silenced.parent)
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr
    assert "1 suppressed" in result.stderr
    unused = write("unused.ipynb", notebook("!nvidia-smi\nx = 1  # gradlint: ignore[GL101]", model))
    result = run_cli(unused.name, "--no-cache", cwd=unused.parent)
    assert "unused.ipynb:cell 1:2:8: GL001" in result.stdout, result.stdout
    assert "unused.ipynb:cell 2:3:1: GL101 error" in result.stdout


def test_magics_shell_escapes_and_help_are_skipped(write):
    path = write("magic.ipynb", notebook(
        "%%bash\necho this is not python",
        "import torch\nfiles = !ls\n%time y = 1\ntorch.randn?\nfor i in range(2):\n    !echo $i\n",
        "from torch import nn\nnet = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))\n"))
    result = run_cli(path.name, "--no-cache", cwd=path.parent)
    assert result.returncode == 0, result.stderr
    assert "1 model found, 1 checked" in result.stderr


def test_a_broken_cell_is_reported_at_its_cell(write):
    syntax = write("syntax.ipynb", notebook("import torch", "def f(:\n    pass"))
    result = run_cli(syntax.name, "--no-cache", cwd=syntax.parent)
    assert result.returncode == 2
    assert "syntax.ipynb: error: syntax error at cell 2, line 1" in result.stderr
    junk = write("junk.ipynb", "{not json")
    result = run_cli(junk.name, "--no-cache", cwd=junk.parent)
    assert result.returncode == 2 and "junk.ipynb: error: cannot read the file: not a Jupyter notebook" in result.stderr
