"""The command line as a user meets it: exit codes, one-line errors, selection, notes, docs."""

from __future__ import annotations

import json
import re

from conftest import ROOT, run_cli

SIGMOID_NET = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(64, 64) for _ in range(4))

    def forward(self, x):
        for layer in self.layers:
            x = torch.sigmoid(layer(x))
        return x
"""

HEALTHY = """
from torch import nn


class Healthy(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))

    def forward(self, x):
        return self.net(x)
"""


def test_clean_file_exits_0_and_says_so(write):
    path = write("healthy.py", HEALTHY)
    result = run_cli(str(path), cwd=path.parent)
    assert result.returncode == 0
    assert result.stdout == ""
    assert "No findings in 1 file: 1 model found, 1 checked." in result.stderr


def test_finding_exits_1_and_points_at_the_users_line(write):
    path = write("net.py", SIGMOID_NET)
    result = run_cli("net.py", cwd=path.parent)
    assert result.returncode == 1
    (line,) = result.stdout.splitlines()
    assert line.startswith("net.py:13:17: GL101 error: 4 sigmoid layers in a row")
    measured = re.search(r"probe confirmed: gradient at `\w+` is ([0-9.e+-]+) of", line)
    assert measured and float(measured.group(1)) < 0.1
    assert "Found 1 finding (1 error) in 1 file: 1 model found, 1 checked." in result.stderr


def test_no_probe_reports_static_estimates_only(write):
    path = write("net.py", SIGMOID_NET)
    result = run_cli("net.py", "--no-probe", cwd=path.parent)
    assert result.returncode == 1
    assert "probe" not in result.stdout
    assert "static gain" in result.stdout
    assert "probe disabled" in result.stderr


def test_select_and_ignore(write):
    path = write("net.py", SIGMOID_NET)
    assert run_cli("net.py", "--ignore", "GL1", cwd=path.parent).returncode == 0
    assert run_cli("net.py", "--select", "GL101", cwd=path.parent).returncode == 1
    bad = run_cli("net.py", "--select", "XX9", cwd=path.parent)
    assert bad.returncode == 2 and "unknown rule code" in bad.stderr


def test_selecting_one_model_with_double_colon(write):
    path = write("two.py", SIGMOID_NET + HEALTHY.replace("from torch import nn", ""))
    assert run_cli("two.py::Healthy", cwd=path.parent).returncode == 0
    assert run_cli("two.py::Net", cwd=path.parent).returncode == 1
    missing = run_cli("two.py::Nope", cwd=path.parent)
    assert missing.returncode == 2
    assert "two.py: error: no model named `Nope` (models: Net, Healthy)" in missing.stderr


def test_missing_path_and_non_python_file_exit_2_without_traceback(write):
    notes = write("notes.txt", "hello")
    write("healthy.py", HEALTHY)
    result = run_cli("does_not_exist.py", "notes.txt", "healthy.py", cwd=notes.parent)
    assert result.returncode == 2
    assert "does_not_exist.py: error: no such file or directory" in result.stderr
    assert "notes.txt: error: not a Python file" in result.stderr
    assert "Traceback" not in result.stderr
    assert "in 3 files: 1 model found, 1 checked." in result.stderr  # the healthy file was still checked


def test_syntax_error_import_error_and_raising_constructor(write, tmp_path):
    write("broken.py", "def f(:\n    pass\n")
    write("missing_dep.py", "import not_a_real_package\nfrom torch import nn\nclass A(nn.Module):\n    pass\n")
    write("bad_init.py", "from torch import nn\n\nclass Bad(nn.Module):\n    def __init__(self):\n"
                         "        super().__init__()\n        raise ValueError('no weights here')\n\n"
                         "    def forward(self, x):\n        return x\n")
    write("net.py", SIGMOID_NET)
    result = run_cli(".", "-j", "2", cwd=tmp_path)
    assert result.returncode == 2
    stderr = result.stderr
    assert "broken.py: error: syntax error at line 1" in stderr
    assert ("missing_dep.py: error: importing the file raised ModuleNotFoundError at missing_dep.py:1: "
            "No module named 'not_a_real_package'") in stderr
    assert "bad_init.py: error: model `Bad`: constructor raised ValueError at bad_init.py:6: no weights here" in stderr
    assert "Traceback" not in stderr
    assert "net.py:13:17: GL101 error" in result.stdout  # the good file was still checked


def test_forward_that_raises_is_one_line(write):
    path = write("raises.py", HEALTHY.replace("return self.net(x)", "raise RuntimeError('boom')"))
    result = run_cli("raises.py", cwd=path.parent)
    assert result.returncode == 2
    assert "raises.py: error: model `Healthy`: could not be traced" in result.stderr
    assert "boom" in result.stderr and "Traceback" not in result.stderr


def test_hang_and_crash_are_contained(write):
    write("hangs.py", "import time\nfrom torch import nn\nclass M(nn.Module):\n    pass\ntime.sleep(600)\n")
    write("exits.py", "import os\nfrom torch import nn\nclass M(nn.Module):\n    pass\nos._exit(3)\n")
    write("segfaults.py", "import os, signal\nfrom torch import nn\nclass M(nn.Module):\n    pass\n"
                          "os.kill(os.getpid(), signal.SIGSEGV)\n")
    path = write("net.py", SIGMOID_NET)
    result = run_cli(".", "--timeout", "15", "-j", "4", cwd=path.parent)
    assert result.returncode == 2
    assert "hangs.py: error: timed out after 15 s" in result.stderr
    assert "exits.py: error: the worker process exited with status 3" in result.stderr
    assert "segfaults.py: error: the worker process was killed by SIGSEGV" in result.stderr
    assert "net.py:13:17: GL101 error" in result.stdout


def test_main_block_never_runs(write, tmp_path):
    marker = tmp_path / "ran"
    path = write("script.py", HEALTHY + f"\nif __name__ == '__main__':\n    open({str(marker)!r}, 'w').write('x')\n")
    assert run_cli("script.py", cwd=path.parent).returncode == 0
    assert not marker.exists()


def test_probe_skipped_when_inputs_cannot_be_inferred(write):
    source = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.weights = nn.ParameterList(nn.Parameter(torch.randn(64, 64) / 8) for _ in range(4))

    def forward(self, x):
        for w in self.weights:
            x = torch.sigmoid(x @ w)
        return x
"""
    path = write("params_only.py", source)
    result = run_cli("params_only.py", cwd=path.parent)
    assert result.returncode == 1  # the static rules still ran
    assert "GL101 error" in result.stdout and "probe" not in result.stdout
    assert ("note: model `Net`: probe skipped (cannot infer example inputs: no layer tells the "
            "input's shape") in result.stderr


def test_hook_provides_models_that_need_arguments_and_inputs(write):
    source = SIGMOID_NET.replace("def __init__(self):", "def __init__(self, depth):").replace(
        "range(4)", "range(depth)")
    source += "\n\ndef gradlint_models():\n    return {'deep': (Net(6), torch.randn(4, 64)), 'shallow': Net(1)}\n"
    path = write("hooked.py", source)
    result = run_cli("hooked.py", cwd=path.parent)
    assert result.returncode == 1
    (line,) = result.stdout.splitlines()
    assert "6 sigmoid layers" in line and "(model `deep`)" in line and "probe confirmed" in line
    assert "in 1 file: 2 models found, 2 checked." in result.stderr


def test_a_model_that_cannot_be_built_is_an_error_not_a_clean_run(write):
    # no call gives `activation` and it is no size a placeholder could stand for: the model was
    # not checked, which is never "0 models found" with exit 0
    path = write("args.py", SIGMOID_NET.replace("def __init__(self):", "def __init__(self, activation):"))
    result = run_cli("args.py", cwd=path.parent)
    assert result.returncode == 2
    assert ("args.py: error: model `Net`: its constructor needs arguments (activation) that no call in the "
            "project gives; give them with `gradlint args.py::Net --init '{\"activation\": \"...\"}'` or "
            "return an instance from gradlint_models()") in result.stderr
    assert "1 model found, 0 checked, 1 not checked (1 not built)" in result.stderr


def test_untraceable_submodule_becomes_an_opaque_node(write):
    source = """
import torch
from torch import nn


class Opaque(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        if not isinstance(x, torch.Tensor):  # input validation: a tracer's proxy is no tensor
            raise TypeError("expected a tensor")
        return self.fc(x)


class Outer(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = Opaque()
        self.layers = nn.ModuleList(nn.Linear(8, 8) for _ in range(3))

    def forward(self, x):
        x = self.inner(x)
        for layer in self.layers:
            x = torch.sigmoid(layer(x))
        return x
"""
    path = write("opaque.py", source)
    result = run_cli("opaque.py", cwd=path.parent)
    assert "`inner` could not be traced and is one opaque node" in result.stderr
    assert "GL101 warning: 3 sigmoid layers in a row" in result.stdout


def test_json_output_carries_static_and_measured_numbers(write):
    path = write("net.py", SIGMOID_NET)
    result = run_cli("net.py", "--output-format", "json", cwd=path.parent)
    assert result.returncode == 1
    document = json.loads(result.stdout)
    (finding,) = document["files"][0]["findings"]
    assert finding["code"] == "GL101" and finding["severity"] == "error"
    assert finding["location"]["line"] == 13 and finding["model"] == "Net"
    assert finding["static_d"] < -1 and finding["probe"]["confirmed"] is True
    assert abs(finding["probe"]["measured_d"] - finding["static_d"]) < 0.5


def test_rule_docs_from_the_cli():
    result = run_cli("rule", "GL101")
    assert result.returncode == 0
    for heading in ("## What it does", "## Why is this bad?", "## Example", "Use instead:",
                    "## Options", "## References"):
        assert heading in result.stdout
    listing = run_cli("rule", "--all", "--output-format", "json")
    codes = [row["code"] for row in json.loads(listing.stdout)]
    # every rule file under rules/ is listed, in code order, without a list kept by hand
    files = sorted(p.name[:5].upper() for p in (ROOT / "rules").glob("gl[0-9][0-9][0-9]_*.py"))
    assert codes == files and len(codes) >= 12
    assert run_cli("rule", "GL999").returncode == 2


def test_example_in_readme_runs():
    result = run_cli("examples/")
    assert result.returncode == 1
    codes = re.findall(r": (GL\d{3}) (\w+):", result.stdout)
    assert codes == [("GL101", "error"), ("GL301", "error"), ("GL501", "warning")]
    readme = (ROOT / "README.md").read_text()
    assert "gradlint examples/" in readme


def test_module_targets_name_a_class_or_a_factory(write):
    write("mypkg/__init__.py", "")
    path = write("mypkg/models.py", SIGMOID_NET + """

def build():
    return Net(), torch.randn(4, 64)


def not_a_model():
    return 42
""")
    cwd = path.parent.parent
    by_class = run_cli("mypkg.models:Net", cwd=cwd)
    assert by_class.returncode == 1
    assert by_class.stdout.startswith("mypkg/models.py:13:17: GL101 error: 4 sigmoid layers")
    by_factory = run_cli("mypkg.models:build", cwd=cwd)
    assert by_factory.returncode == 1 and "probe confirmed" in by_factory.stdout
    wrong = run_cli("mypkg.models:not_a_model", "mypkg.nope:Net", cwd=cwd)
    assert wrong.returncode == 2
    assert "mypkg.models:not_a_model: error: model `not_a_model`: not_a_model() gave a int, not an nn.Module" in wrong.stderr
    assert "mypkg.nope:Net: error: cannot import mypkg.nope:Net: ModuleNotFoundError" in wrong.stderr


def test_installed_library_class_as_a_target(tmp_path):
    # d_model and nhead are sizes: built with placeholders, each named (no project is scanned)
    result = run_cli("torch.nn:TransformerEncoderLayer", "-v", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert ("note: model `TransformerEncoderLayer`: built as TransformerEncoderLayer(d_model=<unresolved: 64>, "
            "nhead=<unresolved: 4>) from placeholders") in result.stderr
    assert "placeholders d_model=64 (size), nhead=4 (number of attention heads)" in result.stderr
    given = run_cli("torch.nn:TransformerEncoderLayer", "--init", '{"d_model": 32, "nhead": 2}', "-v", cwd=tmp_path)
    assert "built as TransformerEncoderLayer(d_model=32, nhead=2) from --init" in given.stderr


def test_memory_limit_stops_a_model_that_allocates_too_much(write):
    hog = HEALTHY.replace("return self.net(x)", "return self.net(x) + torch.ones(2**31).sum()").replace(
        "from torch import nn", "import torch\nfrom torch import nn")
    write("hog.py", hog)
    path = write("net.py", SIGMOID_NET)
    result = run_cli(".", "--memory-limit", "2", cwd=path.parent)
    assert result.returncode == 2
    # the allocation is the project's own tensor factory, run for real by the value-guided trace
    assert "hog.py: error: model `Healthy`: forward() raised RuntimeError at hog.py:12" in result.stderr
    assert "allocate" in result.stderr and "Traceback" not in result.stderr
    assert "1 not checked (1 not traced)" in result.stderr
    assert "net.py:13:17: GL101 error" in result.stdout


def test_output_is_identical_whatever_the_order_jobs_or_hash_seed(write, monkeypatch):
    write("a.py", SIGMOID_NET)
    write("b.py", SIGMOID_NET.replace("range(4)", "range(5)"))
    path = write("c.py", HEALTHY)
    first = run_cli("a.py", "b.py", "c.py", "-j", "1", "--no-cache", cwd=path.parent)
    monkeypatch.setenv("PYTHONHASHSEED", "123")
    second = run_cli("c.py", "b.py", "a.py", "-j", "3", "--no-cache", cwd=path.parent)
    assert first.stdout == second.stdout and first.stdout.count("GL101") == 2


OUTPUTS = '''
import dataclasses
import torch
from torch import nn


class Stack(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(16, 16) for _ in range(4))

    def hidden(self, x):
        for layer in self.layers:
            x = torch.sigmoid(layer(x))
        return x


@dataclasses.dataclass
class Output:
    logits: torch.Tensor
    extra: int = 0


class DictOut(Stack):
    def forward(self, x):
        return {"logits": self.hidden(x), "step": 3}


class TupleOut(Stack):
    def forward(self, x):
        return self.hidden(x), None


class DataclassOut(Stack):
    def forward(self, x):
        return Output(self.hidden(x))


class IntegerOut(Stack):
    def forward(self, x):
        return self.hidden(x).argmax(-1)


class Detached(Stack):
    def forward(self, x):
        return self.hidden(x).detach()


class Nan(Stack):
    def forward(self, x):
        return self.hidden(x) * float("nan")
'''


def test_unusual_outputs_are_checked_or_explained(write):
    path = write("outputs.py", OUTPUTS)
    result = run_cli("outputs.py", cwd=path.parent)
    assert "Traceback" not in result.stderr
    confirmed = {m for m in re.findall(r"\(model `(\w+)`\) — probe confirmed", result.stdout)}
    assert confirmed == {"DictOut", "TupleOut", "DataclassOut"}
    for model in ("IntegerOut", "Detached"):
        assert f"note: model `{model}`: no gradient path from the output back through the model" in result.stderr
        assert f"(model `{model}`)" not in result.stdout
    assert "(model `Nan`) — probe could not measure" in result.stdout
    assert re.search(r"outputs.py:\d+:\d+: GL603 error: NaN or Inf first appears at `mul` in the forward "
                     r"pass .*\(model `Nan`\)", result.stdout)
    assert "probe failed" not in result.stderr
    assert "model `Stack`" not in result.stdout + result.stderr  # a base class with no forward()
    assert result.returncode == 1


def test_bad_arguments_exit_2_with_one_line(tmp_path):
    for args in (["--batch-size", "many"], ["--output-format", "xml"], ["--no-such-flag"]):
        result = run_cli(*args, ".", cwd=tmp_path)
        assert result.returncode == 2, args
        assert "Error:" in result.stderr and "Traceback" not in result.stderr


SLOW_MODELS = """import signal
import time

import torch
from torch import nn


class Slow(nn.Module):
    # each forward sleeps: three models take longer than one --timeout together, each within its own

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        time.sleep(1.2)
        return self.fc(x)


class Stuck(nn.Module):
    # a forward that never returns to the interpreter's signal handling

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(3600)
        return self.fc(x)


a = Slow()
b = Slow()
c = Slow()
z = Stuck()
"""


def test_each_model_has_its_own_time_and_finished_results_are_kept(write):
    path = write("models.py", SLOW_MODELS)
    result = run_cli("models.py", "--timeout", "10", "--output-format", "json", cwd=path.parent, timeout=300)
    (file,) = json.loads(result.stdout)["files"]
    statuses = {m["name"]: m["status"] for m in file["model_status"]}
    assert statuses == {"a": "checked", "b": "checked", "c": "checked", "z": "failed"}
    (problem,) = file["problems"]
    assert problem["message"].startswith("timed out after 10 s checking model `z`")
    assert "the models checked before it are kept" in problem["message"]
    assert result.returncode == 2
