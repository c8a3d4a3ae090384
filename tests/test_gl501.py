"""GL501 recognizes every clipping idiom anywhere in the project before flagging an optimizer."""

from __future__ import annotations

import pytest
from conftest import run_cli

TRAIN = """
import torch


def train(model):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    return optimizer
"""


def lint_project(write, files: dict[str, str]):
    paths = {name: write(name, text) for name, text in {"train.py": TRAIN, **files}.items()}
    return run_cli("train.py", "--show-info", cwd=paths["train.py"].parent)


@pytest.mark.parametrize("name, text", [
    ("clip.py", "import torch\n\ndef f(m):\n    torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)\n"),
    ("clip.py", "from torch.nn.utils import clip_grad_value_\n\ndef f(m):\n    clip_grad_value_(m.parameters(), 0.5)\n"),
    ("clip.py", "import torch.nn.utils as U\n\ndef f(m):\n    U.clip_grad_norm_(m.parameters(), max_norm=1)\n"),
    ("clip.py", "def f(accelerator, m):\n    accelerator.clip_grad_norm_(m.parameters(), 1.0)\n"),
    ("clip.py", "def f(fsdp_model):\n    fsdp_model.clip_grad_norm_(1.0)\n"),
    ("fit.py", "import lightning as L\ntrainer = L.Trainer(gradient_clip_val=0.5)\n"),
    ("fit.py", "from transformers import TrainingArguments\nargs = TrainingArguments(output_dir='o')\n"),
    ("ds.py", "config = {'train_batch_size': 8, 'gradient_clipping': 1.0}\n"),
    ("ds_config.json", '{"train_batch_size": 8, "gradient_clipping": 1.0}\n'),
    ("conf/trainer.yaml", "trainer:\n  gradient_clip_val: 0.25\n"),
    ("clamp.py", "def f(m):\n    for p in m.parameters():\n        p.grad.data.clamp_(-1, 1)\n"),
    ("hook.py", "def f(m):\n    for p in m.parameters():\n        p.register_hook(lambda g: g.clamp(-1, 1))\n"),
    ("lit.py", "class M:\n    def configure_gradient_clipping(self, optimizer, clip_val=None, algo=None):\n        pass\n"),
])
def test_clipping_anywhere_in_the_project_clears_the_optimizer(write, name, text):
    result = lint_project(write, {name: text})
    assert "GL501" not in result.stdout, (name, text, result.stdout)


@pytest.mark.parametrize("name, text", [
    ("fit.py", "from transformers import TrainingArguments\nargs = TrainingArguments(output_dir='o', max_grad_norm=0)\n"),
    ("fit.py", "import lightning as L\ntrainer = L.Trainer(gradient_clip_val=None)\n"),
    ("conf.yaml", "trainer:\n  gradient_clip_val: 0\n"),
    ("notes.py", "# we should call clip_grad_norm_ here some day\nx = 'clip_grad_norm_'\n"),
])
def test_disabled_or_mentioned_clipping_does_not_count(write, name, text):
    result = lint_project(write, {name: text})
    assert "train.py:6:17: GL501 info: optimizer `Adam` is constructed but no gradient clipping" in result.stdout
    assert result.returncode == 0  # info does not fail the build


def test_a_nested_project_is_not_this_project(write):
    result = lint_project(write, {"vendor/other/pyproject.toml": "[project]\nname='x'\n",
                                  "vendor/other/clip.py": "import torch\ntorch.nn.utils.clip_grad_norm_([], 1)\n"})
    assert "GL501 info" in result.stdout


def test_vanilla_rnn_or_large_sgd_step_makes_it_a_warning(write):
    rnn = TRAIN + "\nrnn = torch.nn.RNN(8, 8)\n"
    result = lint_project(write, {"train.py": rnn})
    assert "train.py:6:17: GL501 warning:" in result.stdout and "vanilla recurrence" in result.stdout
    assert result.returncode == 1
    sgd = TRAIN.replace("torch.optim.Adam(model.parameters(), lr=1e-3)", "torch.optim.SGD(model.parameters(), lr=20)")
    result = lint_project(write, {"train.py": sgd})
    assert "GL501 warning" in result.stdout and "lr=20" in result.stdout


def test_recurrence_in_an_imported_local_module_counts(write):
    write("model.py", "from torch import nn\n\ndef build():\n    return nn.RNNCell(4, 4)\n")
    result = lint_project(write, {"train.py": "from model import build\n" + TRAIN})
    assert "GL501 warning" in result.stdout


def test_schedulers_and_custom_names_are_not_optimizers(write):
    text = ("import torch\n\ndef f(opt):\n    s = torch.optim.lr_scheduler.StepLR(opt, 10)\n"
            "    return torch.optim.Optimizer\n")
    result = lint_project(write, {"train.py": text})
    assert result.stdout == ""


@pytest.mark.parametrize("text, shown", [
    ("import torch\n\nLR = 20\n\ndef train(model):\n    optimizer = torch.optim.SGD(model.parameters(), lr=LR)\n",
     "lr=20 (from `LR`)"),
    ("import torch\n\ndef train(model, lr=20.0):\n    optimizer = torch.optim.SGD(model.parameters(), lr=lr)\n",
     "lr=20 (from `lr`)"),
    ("import torch\n\ndef train(model):\n    base = 5\n    optimizer = torch.optim.SGD(model.parameters(), base * 2)\n",
     "lr=10 (from `base * 2`)"),
    ("import argparse\nimport torch\n\nparser = argparse.ArgumentParser()\n"
     "parser.add_argument('--lr', type=float, default='20')\nargs = parser.parse_args()\n\n"
     "def train(model):\n    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)\n",
     "lr=20 (from `args.lr`)"),
    ("import argparse\nfrom torch import optim\n\ndef main(opt):\n    optimizer = optim.SGD(opt.model.parameters(), lr=opt.learning_rate)\n\n"
     "if __name__ == '__main__':\n    p = argparse.ArgumentParser()\n    p.add_argument('--learning-rate', type=float, default=1.0)\n"
     "    main(p.parse_args())\n",
     "lr=1 (from `opt.learning_rate`)"),
])
def test_sgd_learning_rate_read_through_variables_defaults_and_argparse(write, text, shown):
    result = lint_project(write, {"train.py": text})
    (line,) = result.stdout.splitlines()
    assert "GL501 warning" in line and f"plain SGD with {shown} makes an exploding step likely" in line, line
    assert result.returncode == 1


@pytest.mark.parametrize("text", [
    "import json, torch\n\ndef train(model):\n    lr = json.load(open('c.json'))['lr']\n"
    "    optimizer = torch.optim.SGD(model.parameters(), lr=lr)\n",          # from a file at run time
    "import torch\n\ndef train(model, lr):\n    optimizer = torch.optim.SGD(model.parameters(), lr=lr)\n",
    "import torch\n\ndef train(model, lr=0.1):\n    optimizer = torch.optim.SGD(model.parameters(), lr=lr)\n",
    "import torch\n\ndef train(model):\n    optimizer = torch.optim.Adam(model.parameters(), lr=20)\n",  # not plain SGD
])
def test_learning_rate_unknown_small_or_not_sgd_stays_info(write, text):
    result = lint_project(write, {"train.py": text})
    (line,) = result.stdout.splitlines()
    assert "GL501 info" in line and "lr=" not in line.split("[fix:")[0], line
    assert result.returncode == 0


def test_calls_among_a_large_data_literal_are_found_and_silenced_as_before(write):
    # the no-model fast path walks only the calls of a file (a data literal's numbers are not
    # visited one by one) and tokenizes only a file that may hold a directive
    numbers = ", ".join(str(i) for i in range(20_000))
    text = ("import torch\n\n"
            f"TABLE = {{'rows': [{numbers}], 'cells': [(torch.nn.RNN(8, 8), 1.5)], None: 0}}\n"
            "STEPS = [0, 1, {'opt': [torch.optim.SGD([], lr=0.1)], **dict(a=[2, 3])}]\n")
    column = text.splitlines()[3].index("torch.optim.SGD") + 1
    result = lint_project(write, {"train.py": text})
    assert f"train.py:4:{column}: GL501 warning: optimizer `SGD` is constructed" in result.stdout, result.stdout
    assert "vanilla recurrence" in result.stdout
    assert "0 models found" in result.stderr
    silenced = lint_project(write, {"train.py": text.replace("**dict(a=[2, 3])}]\n", "**dict(a=[2, 3])}]  # NOQA: GL501\n")})
    assert "GL501" not in silenced.stdout and "(1 suppressed)" in silenced.stderr, silenced.stdout + silenced.stderr
