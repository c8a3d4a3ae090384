"""How gradlint finds, builds and feeds the models of a file, as a user sees it through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli

ODD_GLOBALS = """
import torch
from torch import nn

graph = torch.fx.Graph()
x = torch.fx.Proxy(graph.placeholder("x"))   # answers every attribute with another Proxy


class Anything:
    def __getattr__(self, name):
        return self


anything = Anything()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        return torch.relu(self.fc(x))
"""


def test_module_level_proxy_and_answer_everything_objects_are_left_alone(write):
    path = write("odd_globals.py", ODD_GLOBALS)
    result = run_cli("odd_globals.py", cwd=path.parent)
    assert result.returncode == 0, result.stderr
    assert "No findings in 1 file: 1 model found, 1 checked." in result.stderr
    assert "error" not in result.stderr


def test_an_error_inside_gradlint_is_not_blamed_on_the_users_import(write, monkeypatch):
    from gradlint.check import engine
    from gradlint.core.settings import Settings

    path = write("net.py", ODD_GLOBALS)

    def broken(*args, **kwargs):
        raise RuntimeError("discovery bug")

    monkeypatch.setattr(engine, "find_models", broken)
    result = engine.lint_model_file(path, None, Settings())
    (problem,) = result.problems
    assert problem.message.startswith("internal error in gradlint while finding the file's models "
                                      "(RuntimeError at ")
    assert "discovery bug" in problem.message and "importing the file" not in problem.message


SIGMOID_LAYERS = "nn.Linear(32, 32), nn.Sigmoid(), nn.Linear(32, 32), nn.Sigmoid(), " \
                 "nn.Linear(32, 32), nn.Sigmoid(), nn.Linear(32, 32), nn.Sigmoid()"

FACTORIES_AND_INSTANCES = f"""
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, width=16):
        super().__init__()
        self.fc1 = nn.Linear(32, width)
        self.fc2 = nn.Linear(width, 2)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def make_sigmoid_mlp() -> nn.Module:
    return nn.Sequential({SIGMOID_LAYERS})


def build_net():
    model = Net(width=64)
    return model.to("cpu")


def helper(depth):
    return nn.Sequential(*[nn.Linear(4, 4) for _ in range(depth)])


net = Net(width=8)
alias = net
criterion = nn.CrossEntropyLoss()
"""


def test_factory_functions_and_module_level_instances_are_models(write):
    path = write("factories.py", FACTORIES_AND_INSTANCES)
    result = run_cli("factories.py", "-v", cwd=path.parent)
    assert result.returncode == 1, result.stderr
    (line,) = result.stdout.splitlines()
    assert line.startswith("factories.py:16:1:") and "GL101 error: 4 sigmoid layers" in line
    assert "(model `make_sigmoid_mlp`)" in line
    # net (its alias is the same object), the two factories; Net itself is linted as the
    # file's instance `net`, the loss is no model, helper() needs an argument
    assert "in 1 file: 3 models found, 3 checked." in result.stderr
    assert "skipped `helper()`: it returns a model but needs arguments (depth)" in result.stderr
    assert "model `net`: checked; built from the module-level `net` (factories.py:29), as the file built it" \
        in result.stderr
    assert "model `make_sigmoid_mlp`: checked; built from make_sigmoid_mlp() (factories.py:16)" in result.stderr
    assert "model `build_net`: checked; built from build_net() (factories.py:20)" in result.stderr
    assert "model `alias`" not in result.stderr and "model `Net`" not in result.stderr


TRAINING_SCRIPT = """
import torch
from torch import nn

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(12, 32), nn.Tanh(), nn.Linear(32, 3))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
inputs = torch.randn(5, 12)
try:
    for step in range(10**9):
        loss = model(inputs).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
except Exception:
    pass
open(MARKER, "w").write("the training loop ran")
"""


def test_a_training_script_is_stopped_where_training_starts(write, tmp_path):
    marker = tmp_path / "trained"
    path = write("train.py", TRAINING_SCRIPT.replace("MARKER", repr(str(marker))))
    result = run_cli("train.py", "-v", "--timeout", "120", cwd=path.parent)
    assert result.returncode == 0, result.stderr
    assert not marker.exists()
    assert ("train.py: note: stopped the file where training starts (backward() at train.py:13), "
            "so no training loop ran; the model it built or defined before that was checked") in result.stderr
    assert "example inputs from the file's own call at train.py:11" in result.stderr
    assert "Found 1 finding (1 info) in 1 file: 1 model found, 1 checked." in result.stderr  # -v lists infos


def test_a_data_set_passed_whole_is_cut_to_one_probe_batch(write):
    source = ("import torch\nfrom torch import nn\n\nX = torch.randn(5000, 20)\n"
              "model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 1))\n"
              "model(X).pow(2).mean().backward()\n")
    path = write("whole.py", source)
    result = run_cli("whole.py", "-v", cwd=path.parent)
    assert result.returncode == 0, result.stderr
    assert ("model `model`: checked; built from the module-level `model` (whole.py:5), as the file built "
            "it; example inputs from the file's own call at whole.py:6 (its first 8 of 5000 rows)") in result.stderr


def test_an_optimizer_step_also_stops_the_script(write, tmp_path):
    source = TRAINING_SCRIPT.replace("        loss.backward()\n", "")
    path = write("train.py", source.replace("MARKER", repr(str(tmp_path / "trained"))))
    result = run_cli("train.py", cwd=path.parent)
    assert "stopped the file where training starts (SGD.step() at train.py:13)" in result.stderr
    assert not (tmp_path / "trained").exists()


def test_a_script_that_downloads_data_keeps_its_model_and_never_reaches_the_network(write):
    source = ("import urllib.request\nfrom torch import nn\n\n"
              f"model = nn.Sequential({SIGMOID_LAYERS})  # the model\n"
              "urllib.request.urlretrieve('https://example.com/data.npz', 'data.npz')\n")
    path = write("tutorial.py", source)
    result = run_cli("tutorial.py", cwd=path.parent)
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("tutorial.py:4:")
    assert "GL101 error" in result.stdout
    assert ("tutorial.py: note: the file stopped at tutorial.py:5 (URLError: <urlopen error gradlint "
            "blocks network access") in result.stderr
    assert not (path.parent / "data.npz").exists()


TWO_INPUTS = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(64, 64) for _ in range(4))

    def forward(self, x, y):
        for layer in self.layers:
            x = torch.sigmoid(layer(x))
        return x + y
"""


def test_a_second_tensor_input_is_built_like_the_first_and_the_model_is_probed(write):
    path = write("two_inputs.py", TWO_INPUTS)
    result = run_cli("two_inputs.py", cwd=path.parent)
    assert result.returncode == 1
    assert "GL101 error" in result.stdout and "probe confirmed" in result.stdout


BROKEN_FORWARD = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 16)
        self.out = nn.Linear(32, 2)

    def forward(self, x):
        return self.out(torch.relu(self.fc(x)))
"""


def test_a_forward_that_fails_for_every_input_is_an_error_at_the_users_line(write):
    path = write("broken.py", BROKEN_FORWARD)
    result = run_cli("broken.py", cwd=path.parent)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert errors == ["broken.py: error: model `Net`: forward() raised RuntimeError at broken.py:13: mat1 and "
                      "mat2 shapes cannot be multiplied (8x16 and 32x2) — for every input gradlint could "
                      "build (2 tried; -v lists them); fix forward(), or return (model, example_inputs) "
                      "from gradlint_models()"]
    verbose = run_cli("broken.py", "-v", cwd=path.parent)
    assert "model `Net`: inputs tried and refused: x: float32[8, 16]: RuntimeError" in verbose.stderr
    assert "model `Net`: inputs tried and refused: x: float32[8, 32]: RuntimeError" in verbose.stderr


HUGE = """
import torch
from torch import nn


class Huge(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(16384, 16384), nn.Tanh(), nn.Linear(16384, 16384))

    def forward(self, x):
        return self.layers(x)
"""


def test_a_model_too_large_for_the_memory_budget_is_checked_on_the_meta_device(write):
    # 537 million parameters: 2 GiB of weights, about 8 GiB to probe, in a 2 GiB worker
    path = write("huge.py", HUGE)
    result = run_cli("huge.py", "--memory-limit", "2", cwd=path.parent)
    assert result.returncode == 0, result.stderr
    assert ("huge.py: note: model `Huge`: too large to build here (536.9 million parameters need "
            "about 8.0 GiB to probe, ") in result.stderr
    assert "built on the meta device, structure checked; weight-dependent rules (" in result.stderr
    assert "error" not in result.stderr


MIXED = """
import torch
from torch import nn


class Healthy(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))

    def forward(self, x):
        return self.net(x)


class NoShape(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(16, 16) / 4)

    def forward(self, x):
        return torch.relu(x @ self.w)


class Raises(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        raise RuntimeError("not implemented yet")


class NoWeights(nn.Module):
    def __init__(self):
        super().__init__()
        raise FileNotFoundError("weights.pt")

    def forward(self, x):
        return x


optimizer = torch.optim.Adam(Healthy().parameters())
"""


def test_each_models_status_in_json_and_verbose_text_and_the_summary_counts_them(write):
    path = write("mixed.py", MIXED)
    result = run_cli("mixed.py", "--output-format", "json", cwd=path.parent)
    assert result.returncode == 2
    document = json.loads(result.stdout)
    statuses = {m["name"]: m for m in document["files"][0]["model_status"]}
    assert {name: m["status"] for name, m in statuses.items()} == {
        "Healthy": "checked", "NoShape": "structure-only", "Raises": "not traced", "NoWeights": "not built"}
    assert statuses["Healthy"]["built_from"] == "Healthy() (its constructor needs no arguments)"
    assert statuses["Healthy"]["tracer"] == "value-guided fx" and statuses["Healthy"]["coverage"] == 1.0
    assert statuses["NoShape"]["why"] == "no example inputs it accepts"
    assert "not implemented yet" in statuses["Raises"]["why"]
    assert statuses["NoWeights"]["why"].startswith("constructor raised FileNotFoundError")
    assert document["summary"] == ("Found 1 finding (1 info) in 1 file: 4 models found, 1 checked, 3 not "
                                   "checked (1 structure-only, 1 not traced, 1 not built). 1 file could "
                                   "not be fully checked.")
    assert [f["code"] for f in document["files"][0]["findings"]] == ["GL501"]  # JSON keeps infos

    text = run_cli("mixed.py", cwd=path.parent)
    assert text.stdout == ""  # the info finding is counted, not listed
    assert ("Found 1 finding (1 info, listed with --show-info) in 1 file: 4 models found, 1 checked, "
            "3 not checked") in text.stderr
    assert "GL501 info" in run_cli("mixed.py", "--show-info", cwd=path.parent).stdout
    verbose = run_cli("mixed.py", "-v", cwd=path.parent)
    assert "GL501 info" in verbose.stdout
    assert ("mixed.py: note: model `Healthy`: checked; built from Healthy() (its constructor needs no "
            "arguments); traced by value-guided fx: 5 nodes, coverage 100%;") in verbose.stderr
    assert "mixed.py: note: model `NoShape`: structure-only (no example inputs it accepts);" in verbose.stderr


def test_the_discovery_fixtures_are_traced_and_probed():
    paths = ["fixtures/factory_sigmoid_mlp.py", "fixtures/script_tutorial", "fixtures/clean_linear_lstm_classifier.py",
             "fixtures/gl101_double_precision.py", "fixtures/gl301_word_language_model"]
    result = run_cli(*paths, "--output-format", "json", "--no-cache", "-j", "2")
    document = json.loads(result.stdout)
    statuses = {(Path(f["path"]).name, m["name"]): (m["status"], m["built_from"])
                for f in document["files"] for m in f["model_status"]}
    assert statuses == {
        ("factory_sigmoid_mlp.py", "make_classifier"): ("checked", "make_classifier() (fixtures/factory_sigmoid_mlp.py:6)"),
        ("train.py", "model"): ("checked", "the module-level `model` (fixtures/script_tutorial/train.py:10), as the file built it"),
        ("clean_linear_lstm_classifier.py", "SensorClassifier"): ("checked", "SensorClassifier() (its constructor needs no arguments)"),
        ("gl101_double_precision.py", "DoubleSigmoidNet"): ("checked", "DoubleSigmoidNet() (its constructor needs no arguments)"),
        ("model.py", "RNNModel"): ("checked", "RNNModel() (its constructor needs no arguments)"),
    }
    notes = [n["message"] for f in document["files"] for n in f["notes"]]
    assert ("the file stopped at fixtures/script_tutorial/train.py:21 (URLError: <urlopen error gradlint blocks "
            "network access while it imports model files (no dataset or weight downloads)>), so nothing after "
            "it ran; the model it built or defined before that was checked") in notes


PARTS = """
import torch
from torch import nn

encoder = nn.Sequential(nn.Embedding(100, 32), nn.Linear(32, 32))
decoder = nn.Linear(32, 100)


class Seq2Seq(nn.Module):
    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, ids):
        return self.decoder(torch.tanh(self.encoder(ids)))


model = Seq2Seq(encoder, decoder)
same_model = model
"""


def test_instances_that_are_parts_of_another_model_are_linted_inside_it_only(write):
    path = write("parts.py", PARTS)
    result = run_cli("parts.py", "--output-format", "json", cwd=path.parent)
    assert result.returncode == 0, result.stderr
    (record,) = json.loads(result.stdout)["files"][0]["model_status"]
    assert record["name"] == "model" and record["status"] == "checked"
    assert record["built_from"] == "the module-level `model` (parts.py:19), as the file built it"


LSTM_STATE = """
from typing import Tuple

import torch
from torch import nn


class CharLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 32)
        self.lstm = nn.LSTM(32, 64, num_layers=2, batch_first=True)
        self.out = nn.Linear(64, 50)

    def forward(self, ids, carry_in: Tuple[torch.Tensor, torch.Tensor]):
        out, carry = self.lstm(self.embed(ids), carry_in)
        return self.out(out), carry
"""


def test_a_state_argument_is_recognized_by_its_annotation_and_built_from_the_rnn(write):
    path = write("lstm_state.py", LSTM_STATE)
    result = run_cli("lstm_state.py", "--output-format", "json", cwd=path.parent)
    assert result.returncode == 0, result.stderr
    (record,) = json.loads(result.stdout)["files"][0]["model_status"]
    assert record["status"] == "checked", record


FAILS_BEFORE_ITS_CLASS = """
import numpy as np
import torch
from torch import nn

data = np.load("data/train.npy")          # a data file that is not here
import some_dataset_package                # a package that is not installed

HIDDEN = 32
DEPTH = 8


class DeepSigmoid(nn.Module):
    def __init__(self, width=HIDDEN):
        super().__init__()
        self.layers = nn.Sequential(*[nn.Sequential(nn.Linear(width, width), nn.Sigmoid()) for _ in range(DEPTH)])

    def forward(self, x):
        return self.layers(x)


model = DeepSigmoid()
model.fit(data)
"""


def test_a_file_that_fails_before_its_class_is_defined_has_its_definitions_checked(write):
    path = write("train.py", FAILS_BEFORE_ITS_CLASS)
    result = run_cli("train.py", "--output-format", "json", cwd=path.parent)
    (file,) = json.loads(result.stdout)["files"]
    assert [(m["name"], m["status"]) for m in file["model_status"]] == [("DeepSigmoid", "checked")]
    assert [(f["code"], f["location"]["line"]) for f in file["findings"]] == [("GL101", 19)]
    assert any(n["message"].startswith("the file stopped at train.py:6 (FileNotFoundError") and
               "its definitions after that line (`HIDDEN`, `DEPTH`, `DeepSigmoid`) were run without its other "
               "statements" in n["message"] for n in file["notes"])
    assert result.returncode == 1


def test_a_notebook_that_fails_before_its_class_cell_has_its_definitions_checked(write):
    cells = ["import numpy as np\nimport torch\nfrom torch import nn\n",
             "data = np.load('data/train.npy')\n",
             "class DeepSigmoid(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
             "        self.layers = nn.Sequential(*[nn.Sequential(nn.Linear(32, 32), nn.Sigmoid()) for _ in range(8)])\n\n"
             "    def forward(self, x):\n        return self.layers(x)\n"]
    notebook = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                           "source": c.splitlines(True)} for c in cells],
                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = write("explore.ipynb", json.dumps(notebook))
    result = run_cli("explore.ipynb", "--output-format", "json", cwd=path.parent)
    (file,) = json.loads(result.stdout)["files"]
    assert [(m["name"], m["status"]) for m in file["model_status"]] == [("DeepSigmoid", "checked")]
    assert [f["code"] for f in file["findings"]] == ["GL101"]


STATED_IMAGE_SIZE = """import torch
from torch import nn


class PatchNet(nn.Module):
    def __init__(self, img_size=96, patch=16, dim=64, classes=10):
        super().__init__()
        self.img_size = img_size
        self.patch = nn.Conv2d(3, dim, patch, stride=patch)
        n = (img_size // patch) ** 2
        self.pos = nn.Parameter(torch.zeros(1, n, dim))
        self.blocks = nn.Sequential(*[nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.GELU()) for _ in range(4)])
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        B, C, H, W = x.shape
        assert H == self.img_size and W == self.img_size, f"input size ({H}*{W}) doesn't match model ({self.img_size})"
        x = self.patch(x).flatten(2).transpose(1, 2) + self.pos
        return self.head(self.blocks(x).mean(1))
"""


def test_a_model_that_asserts_the_image_size_it_keeps_gets_inputs_of_that_size(write):
    path = write("vit.py", STATED_IMAGE_SIZE)
    result = run_cli("vit.py", "-v", "--output-format", "json", cwd=path.parent)
    (file,) = json.loads(result.stdout)["files"]
    assert [(m["name"], m["status"]) for m in file["model_status"]] == [("PatchNet", "checked")]
    assert any(n["message"] == "model `PatchNet`: inferred example inputs: x: float32[8, 3, 96, 96]"
               for n in file["notes"])


BIGRAM = """import torch
from torch import nn
import torch.nn.functional as F


class Bigram(nn.Module):
    def __init__(self, vocab_size=65):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(vocab_size, vocab_size))

    def forward(self, idx, targets=None):
        logits = self.logits[idx]
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss
"""
ONE_TOKEN_AT_A_TIME = """import torch
from torch import nn


class CharRNN(nn.Module):
    def __init__(self, n_chars=60, hidden=64):
        super().__init__()
        self.hidden_size = hidden
        self.embed = nn.Embedding(n_chars, hidden)
        self.gru = nn.GRU(hidden, hidden)
        self.out = nn.Linear(hidden, n_chars)

    def forward(self, input, hidden):
        x = self.embed(input.view(1, -1))
        output, hidden = self.gru(x, hidden)
        return self.out(output.view(input.size(0), -1)), hidden

    def init_hidden(self, batch_size):
        return torch.zeros(1, batch_size, self.hidden_size)
"""


def test_a_forward_that_indexes_a_parameter_table_with_token_ids_gets_ids(write):
    path = write("bigram.py", BIGRAM)
    result = run_cli("bigram.py", "-v", cwd=path.parent)
    assert "model `Bigram`: checked;" in result.stderr
    assert "model `Bigram`: inferred example inputs: idx: int64[8, 32]" in result.stderr


def test_a_recurrent_model_called_one_token_at_a_time_with_its_hidden_state_is_checked(write):
    path = write("char_rnn.py", ONE_TOKEN_AT_A_TIME)
    result = run_cli("char_rnn.py", "-v", cwd=path.parent)
    assert "model `CharRNN`: checked;" in result.stderr
    assert "model `CharRNN`: inferred example inputs: input: int64[8], hidden: float32[1, 8, 64]" in result.stderr


DOUBLE = """import torch
from torch import nn


class PINN(nn.Module):
    def __init__(self, width=32, depth=6):
        super().__init__()
        layers = [nn.Linear(2, width), nn.Tanh()]
        for _ in range(depth):
            layers += [nn.Linear(width, width), nn.Tanh()]
        self.net = nn.Sequential(*layers, nn.Linear(width, 1))

    def forward(self, xt):
        return self.net(xt)


model = PINN().double()
"""


def test_a_model_the_script_converts_to_double_gets_double_inputs(write):
    path = write("pinn.py", DOUBLE)
    result = run_cli("pinn.py", "-v", cwd=path.parent)
    assert "model `model`: checked;" in result.stderr
    assert "model `model`: inferred example inputs: xt: float64[8, 2]" in result.stderr


EINOPS_VIT = """import torch
from torch import nn
from einops import rearrange, repeat
from einops.layers.torch import Rearrange


class Attention(nn.Module):
    def __init__(self, dim, heads=4):
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.out = nn.Linear(dim, dim)

    def forward(self, x):
        q, k, v = (rearrange(t, 'b n (h d) -> b h n d', h=self.heads) for t in self.qkv(self.norm(x)).chunk(3, dim=-1))
        attn = (q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5).softmax(dim=-1)
        return self.out(rearrange(attn @ v, 'b h n d -> b n (h d)'))


class PatchViT(nn.Module):
    def __init__(self, image_size=40, patch_size=8, channels=1, dim=32, depth=3, num_classes=10):
        super().__init__()
        patch_dim = channels * patch_size * patch_size
        self.to_patch_embedding = nn.Sequential(
            Rearrange('b c (h p1) (w p2) -> b (h w) (p1 p2 c)', p1=patch_size, p2=patch_size),
            nn.LayerNorm(patch_dim), nn.Linear(patch_dim, dim))
        self.pos_embedding = nn.Parameter(torch.randn(1, (image_size // patch_size) ** 2 + 1, dim))
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        self.blocks = nn.ModuleList(Attention(dim) for _ in range(depth))
        self.head = nn.Linear(dim, num_classes)

    def forward(self, img):
        x = self.to_patch_embedding(img)
        x = torch.cat((repeat(self.cls_token, '1 1 d -> b 1 d', b=x.shape[0]), x), dim=1) + self.pos_embedding
        for block in self.blocks:
            x = x + block(x)
        return self.head(x[:, 0])
"""


def test_an_einops_patch_embedding_gets_images_its_patches_divide_and_einops_calls_are_traced(write):
    # the channels come from the width after the patches ((p1 p2 c) = 64: one channel), the size
    # from the learned positions (26 = 5 × 5 patches and a class token: 40 × 40); the Rearrange
    # layer is traced through, each rearrange()/repeat() call is one node
    path = write("vit.py", EINOPS_VIT)
    result = run_cli("vit.py", "-v", "--output-format", "json", cwd=path.parent)
    (file,) = json.loads(result.stdout)["files"]
    (status,) = file["model_status"]
    said = [n["message"] for n in file["notes"]]
    assert (status["name"], status["status"]) == ("PatchViT", "checked"), status
    assert "model `PatchViT`: inferred example inputs: img: float32[8, 1, 40, 40]" in said, said
    assert status["span"]["layers_in_span"] == status["span"]["layers_in_model"], status
    assert not any("opaque" in n or "could not be traced" in n for n in said), said
    assert file["findings"] == [] and result.returncode == 0, result.stdout


PACKED = """import torch
from torch import nn


class Tagger(nn.Module):
    def __init__(self, vocab=500, dim=32, tags=9):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim, padding_idx=0)
        self.rnn = nn.GRU(dim, dim, num_layers=2)
        self.out = nn.Linear(dim, tags)

    def forward(self, tokens, lengths):
        packed = nn.utils.rnn.pack_padded_sequence(self.embed(tokens), lengths.cpu())
        output, _ = self.rnn(packed)
        output, _ = nn.utils.rnn.pad_packed_sequence(output, total_length=tokens.shape[0])
        return self.out(output)
"""


def test_a_lengths_argument_gets_one_length_per_example_from_the_first_inputs_shape(write):
    # time-first ids [T, B]; the lengths [B] descend from T (pack_padded_sequence's default
    # enforce_sorted=True takes them); packing and unpacking, called through `nn.utils.rnn`,
    # fail to trace through and are one node each
    path = write("tagger.py", PACKED)
    result = run_cli("tagger.py", "-v", "--output-format", "json", cwd=path.parent)
    (file,) = json.loads(result.stdout)["files"]
    (status,) = file["model_status"]
    said = [n["message"] for n in file["notes"]]
    assert (status["name"], status["status"]) == ("Tagger", "checked"), status
    assert "model `Tagger`: inferred example inputs: tokens: int64[32, 8], lengths: int64[8]" in said, said
    assert (status["span"]["layers_in_span"], status["span"]["layers_in_model"]) == (3, 3), status
    assert file["findings"] == [] and result.returncode == 0, result.stdout
