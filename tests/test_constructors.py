"""Models whose constructor needs arguments are built the way their project builds them
(call sites, config defaults, placeholders) and checked, and the output says how."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import FIXTURES, ROOT, run_cli

SIGMOID = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, depth, width=32):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))

    def forward(self, x):
        for layer in self.layers:
            x = torch.sigmoid(layer(x))
        return x
"""


def notes(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if ": note: " in line]


def assert_checked(result, model: str) -> None:
    """Traced and probed: the -v status line, and no note saying a step was skipped."""
    assert any(f"model `{model}`: checked; " in line and "traced by " in line for line in notes(result)), result.stderr
    for skipped in ("probe skipped", "probe failed", "not traced", "could not be traced", "skipped `"):
        assert skipped not in result.stderr, result.stderr


@pytest.fixture(scope="module")
def word_lm():
    return run_cli("fixtures/ctor_word_lm", "-v", "--no-cache", "-j", "1")


def test_word_lm_sizes_come_from_argparse_and_the_vocabulary_is_a_named_placeholder(word_lm):
    assert word_lm.returncode == 1, word_lm.stderr  # the GL501 warning
    assert (
        "fixtures/ctor_word_lm/model.py: note: model `RNNModel`: built as RNNModel(rnn_type='LSTM', "
        "ntoken=<unresolved: 1000>, ninp=200, nhid=200, nlayers=2, dropout=0.2, tie_weights=False) from "
        "fixtures/ctor_word_lm/main.py:44; placeholder ntoken=1000 (vocabulary size: the project computes it "
        "(len(corpus.dictionary))): give the real value with --init or gradlint_models()"
    ) in word_lm.stderr
    assert_checked(word_lm, "RNNModel")


def test_word_lm_trained_with_sgd_at_lr_20_and_no_clipping_is_a_warning(word_lm):
    (line,) = word_lm.stdout.splitlines()
    assert line.startswith("fixtures/ctor_word_lm/main.py:46:13: GL501 warning: optimizer `SGD` is constructed "
                           "but no gradient clipping is configured anywhere in the project")
    assert "plain SGD with lr=20 (from `args.lr`) makes an exploding step likely" in line


def test_gpt_built_from_its_config_dataclass_at_the_training_call_site():
    result = run_cli("fixtures/ctor_gpt_config", "-v", "--no-cache", "-j", "1")
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr
    assert (
        "model `GPT`: built as GPT(config=GPTConfig(n_layer=4, n_head=4, n_embd=128, block_size=64, "
        "bias=False, vocab_size=<unresolved: 1000>, dropout=0.0)) from fixtures/ctor_gpt_config/train.py:52; "
        "placeholder vocab_size=1000 (vocabulary size: the project computes it "
        "(meta_vocab_size if meta_vocab_size is not None else 65))"
    ) in result.stderr
    assert "No findings in 2 files: 1 model found, 1 checked." in result.stderr
    assert_checked(result, "GPT")


def test_vit_sizes_from_its_test_file_before_its_readme(tmp_path):
    result = run_cli("fixtures/ctor_vit", "-v", "--no-cache", "-j", "1")
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr
    assert ("model `ViT`: built as ViT(image_size=32, patch_size=8, num_classes=10, dim=64, depth=4, heads=4, "
            "mlp_dim=128, dim_head=16) from fixtures/ctor_vit/tests/test_vit.py:7") in result.stderr
    assert_checked(result, "ViT")
    # without the test, the README's code block is the call site
    shutil.copytree(FIXTURES / "ctor_vit", tmp_path / "vit", ignore=shutil.ignore_patterns("tests"))
    readme = run_cli("vit.py", "-v", "--no-cache", cwd=tmp_path / "vit")
    assert ("model `ViT`: built as ViT(image_size=256, patch_size=32, num_classes=1000, dim=1024, depth=6, "
            "heads=16, mlp_dim=2048, dropout=0.1, emb_dropout=0.1) from README.md:11") in readme.stderr


def test_the_trained_call_site_wins_and_its_sizes_decide_the_verdict(write):
    write("model.py", SIGMOID)
    write("tests/test_model.py", "from model import Net\n\ndef test_small():\n    Net(2)\n")
    train = write("train.py", "import torch\nfrom model import Net\n\nDEPTH = 4\n"
                              "net = Net(DEPTH * 2, width=64)\n"
                              "opt = torch.optim.Adam(net.parameters())\n"
                              "torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)\n")
    result = run_cli("model.py", "-v", "--no-cache", cwd=train.parent)
    assert "model `Net`: built as Net(depth=8, width=64) from train.py:5" in result.stderr
    (line,) = result.stdout.splitlines()
    assert line.startswith("model.py:13:17: GL101 error: 8 sigmoid layers in a row") and "probe confirmed" in line
    assert result.returncode == 1


def test_a_call_site_that_fails_to_build_gives_way_to_the_next(write):
    write("model.py", SIGMOID.replace("super().__init__()", "super().__init__()\n        assert depth < 10"))
    write("train.py", "import torch\nfrom model import Net\nnet = Net(50)\nopt = torch.optim.SGD(net.parameters(), lr=0.1)\n")
    path = write("test_model.py", "from model import Net\nNet(3)\n")
    result = run_cli("model.py", "-v", "--no-cache", cwd=path.parent)
    assert "model `Net`: built as Net(depth=3) from test_model.py:2" in result.stderr
    assert "3 sigmoid layers" in result.stdout


def test_config_defaults_when_no_call_gives_the_arguments(write):
    source = SIGMOID.replace("import torch\n", "import dataclasses\nimport torch\n\n\n@dataclasses.dataclass\n"
                             "class NetConfig:\n    depth: int = 6\n    width: int = 16\n").replace(
        "def __init__(self, depth, width=32):", "def __init__(self, config: NetConfig):").replace(
        "range(depth)", "range(config.depth)").replace("nn.Linear(width, width)", "nn.Linear(config.width, config.width)")
    path = write("model.py", source)
    result = run_cli("model.py", "-v", "--no-cache", cwd=path.parent)
    assert ("model `Net`: built as Net(config=NetConfig()) from config defaults (no call of `Net` in the "
            "project gives its arguments)") in result.stderr
    assert "6 sigmoid layers" in result.stdout


def test_config_named_parameter_and_get_default_config(write):
    source = SIGMOID.replace("def __init__(self, depth, width=32):", "def __init__(self, cfg):").replace(
        "range(depth)", "range(cfg['depth'])").replace("nn.Linear(width, width)", "nn.Linear(8, 8)").replace(
        "    def forward", "    @classmethod\n    def get_default_config(cls):\n        return {'depth': 5}\n\n    def forward")
    path = write("model.py", source)
    result = run_cli("model.py", "-v", "--no-cache", cwd=path.parent)
    assert "built as Net(cfg=Net.get_default_config()) from config defaults" in result.stderr
    assert "5 sigmoid layers" in result.stdout


def test_placeholders_when_no_call_exists_are_all_named(write):
    path = write("model.py", SIGMOID)
    result = run_cli("model.py", "-v", "--no-cache", cwd=path.parent)
    assert ("model `Net`: built as Net(depth=<unresolved: 2>) from placeholders (no call of `Net` in the project "
            "gives its arguments); placeholder depth=2 (number of layers): give the real value with --init or "
            "gradlint_models()") in result.stderr


def test_parts_of_a_model_are_not_models_of_their_own(write):
    source = SIGMOID.replace("class Net(nn.Module):", "class Block(nn.Module):\n    def __init__(self, width):\n"
                             "        super().__init__()\n        self.fc = nn.Linear(width, width)\n\n"
                             "    def forward(self, x):\n        return torch.relu(self.fc(x))\n\n\nclass Net(nn.Module):")
    source = source.replace("self.layers = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))",
                            "self.layers = nn.ModuleList(Block(width) for _ in range(depth))")
    path = write("model.py", source)
    write("run.py", "from model import Net\nNet(3)\n")
    result = run_cli("model.py", "-v", "--no-cache", cwd=path.parent)
    assert "in 1 file: 1 model found, 1 checked." in result.stderr
    assert "`Block`" not in result.stderr


def test_init_builds_the_selected_class_and_bad_init_is_one_line(write):
    path = write("model.py", SIGMOID)
    result = run_cli("model.py::Net", "--init", '{"depth": 7, "width": 16}', "-v", "--no-cache", cwd=path.parent)
    assert "model `Net`: built as Net(depth=7, width=16) from --init" in result.stderr
    assert "7 sigmoid layers" in result.stdout
    for args, message in [
        (["model.py", "--init", '{"depth": 7}'], "gradlint: error: --init needs the model it builds: name it as PATH::Class"),
        (["model.py::Net", "--init", "{depth: 7}"], "gradlint: error: --init is not valid JSON"),
        (["model.py::Net", "--init", "[7]"], "gradlint: error: --init must be a JSON object"),
        (["model.py::Net", "--init", '{"depth": 7, "colour": 1}'],
         "model.py: error: model `Net`: Net(depth=7, colour=1) from --init raised TypeError"),
    ]:
        bad = run_cli(*args, "--no-cache", cwd=path.parent)
        assert bad.returncode == 2 and message in bad.stderr, (args, bad.stderr)
        assert "Traceback" not in bad.stderr


def test_json_output_carries_the_note_for_the_model(write):
    path = write("model.py", SIGMOID)
    write("train.py", "from model import Net\nnet = Net(3)\n")
    result = run_cli("model.py", "--output-format", "json", "--no-cache", cwd=path.parent)
    (entry,) = json.loads(result.stdout)["files"]
    assert {"path": "model.py", "model": "Net", "detail": True,
            "message": "model `Net`: built as Net(depth=3) from train.py:2"} in entry["notes"]
    # without -v, the note is shown only when the build rests on placeholders
    assert "built as" not in run_cli("model.py", cwd=path.parent).stderr
    write("train.py", "from model import Net\nnet = Net(len(data))\n")
    shown = run_cli("model.py", cwd=path.parent).stderr
    assert ("model.py: note: model `Net`: built as Net(depth=<unresolved: 2>) from train.py:2; placeholder "
            "depth=2 (number of layers: the project computes it (len(data)))") in shown


def test_the_result_cache_knows_the_call_sites(write):
    path = write("model.py", SIGMOID)
    train = write("train.py", "from model import Net\nnet = Net(3)\n")
    first = run_cli("model.py", cwd=path.parent)
    assert "3 sigmoid layers" in first.stdout
    train.write_text("from model import Net\nnet = Net(5)\n")  # model.py never imports train.py
    again = run_cli("model.py", cwd=path.parent)
    assert "5 sigmoid layers" in again.stdout, again.stdout


def test_a_config_from_get_default_config_with_attributes_set_after(write):
    # minGPT's shape: the config comes from a classmethod and is completed attribute by attribute
    model = SIGMOID.replace("import torch\n", "import types\n\nimport torch\n").replace(
        "def __init__(self, depth, width=32):", "def __init__(self, config):").replace(
        "range(depth)", "range(config.n_layer)").replace("nn.Linear(width, width)", "nn.Linear(config.n_embd, config.n_embd)").replace(
        "    def forward", "    @staticmethod\n    def get_default_config():\n"
        "        return types.SimpleNamespace(n_layer=None, n_embd=16, vocab_size=None)\n\n    def forward")
    path = write("model.py", model)
    write("train.py", "from model import Net\n\nmodel_config = Net.get_default_config()\nmodel_config.n_layer = 3\n"
                      "model_config.vocab_size = train_dataset.get_vocab_size()\nmodel = Net(model_config)\n")
    result = run_cli("model.py", "-v", "--no-cache", cwd=path.parent)
    assert ("model `Net`: built as Net(config=Net.get_default_config() with n_layer=3, vocab_size=<unresolved: 1000>) "
            "from train.py:6; placeholder vocab_size=1000 (vocabulary size: the project computes it "
            "(train_dataset.get_vocab_size()))") in result.stderr
    assert "3 sigmoid layers" in result.stdout


def test_an_unknown_value_for_a_parameter_with_a_default_keeps_the_default_and_says_so(write):
    path = write("model.py", SIGMOID.replace("width=32", "width=32, activation='sigmoid'"))
    write("train.py", "import os\nfrom model import Net\nnet = Net(4, activation=os.environ['ACT'])\n")
    result = run_cli("model.py", "--no-cache", cwd=path.parent)
    assert ("built as Net(depth=4, activation=<unresolved: default>) from train.py:3; placeholder activation=its "
            "default (the project computes it (os.environ['ACT']))") in result.stderr
    assert "4 sigmoid layers" in result.stdout


def test_a_hugging_face_config_annotation_is_built_with_its_defaults(write):
    source = SIGMOID.replace("from torch import nn\n", "from torch import nn\nfrom transformers import PretrainedConfig\n\n\n"
                             "class SigmoidConfig(PretrainedConfig):\n    model_type = 'sigmoid-net'\n\n"
                             "    def __init__(self, depth=4, width=16, **kwargs):\n        self.depth = depth\n"
                             "        self.width = width\n        super().__init__(**kwargs)\n").replace(
        "def __init__(self, depth, width=32):", "def __init__(self, settings: SigmoidConfig):").replace(
        "range(depth)", "range(settings.depth)").replace("nn.Linear(width, width)", "nn.Linear(settings.width, settings.width)")
    path = write("model.py", source)
    result = run_cli("model.py", "-v", "--no-cache", cwd=path.parent)
    assert "model `Net`: built as Net(settings=SigmoidConfig()) from config defaults" in result.stderr, result.stderr
    assert "4 sigmoid layers" in result.stdout


# --- project shapes from bench/reach (python bench/reach.py prints the whole table) ---------------

@pytest.mark.parametrize("project, model, built, inputs", [
    # a Hugging Face model whose `config_class` has defaults (transformers ≥ 5 calls the base
    # PreTrainedConfig); the token mixer takes exactly max_len=64 positions, not the default 32
    ("bench/reach/hf_custom_config", "TinyMixerModel", None, "input_ids: int64[8, 64]"),
    # the vocabulary is len(string.printable): a constant of a standard module, read statically
    ("bench/reach/rnn_hidden", "CharRNN",
     "built as CharRNN(n_chars=100, hidden_size=100, n_layers=2) from bench/reach/rnn_hidden/generate.py:12", None),
    # forward(x, t): a diffusion timestep is one integer per example
    ("bench/reach/diffusion_timestep", "UNet", None, "x: float32[8, 3, 32, 32], t: int64[8]"),
    # a Hydra config builds the LightningModule: `_target_` mappings, the network nested in it,
    # the optimizer and scheduler as partials; no Python call of either class exists
    ("bench/reach/hydra_lightning", "ClassifierModule",
     "built as ClassifierModule(net=MLP(in_features=784, hidden=[256, 128, 64], num_classes=10, dropout=0.1), "
     "optimizer=partial(SGD, lr=0.01, momentum=0.9, weight_decay=0.0), scheduler=partial(StepLR, step_size=10, "
     "gamma=0.5), compile=False) from bench/reach/hydra_lightning/configs/model/classifier.yaml:1", "x: float32[8, 784]"),
    # LightningCLI: `class_path` + `init_args`, the backbone nested in the model's arguments
    ("bench/reach/lightning_cli", "ImageClassifier",
     "built as ImageClassifier(backbone=ConvNet(in_channels=1, widths=[32, 64, 128]), num_classes=10, "
     "label_smoothing=0.1) from bench/reach/lightning_cli/config.yaml:8", "x: float32[8, 1, 32, 32]"),
])
def test_project_shapes_are_built_fed_and_checked(project, model, built, inputs):
    result = run_cli(project, "-v", "--no-cache", "--exit-zero", "--output-format", "json")
    files = json.loads(result.stdout)["files"]
    statuses = {m["name"]: m for f in files for m in f["model_status"]}
    said = [n["message"] for f in files for n in f["notes"]]
    assert statuses[model]["status"] == "checked", statuses
    assert statuses[model]["span"]["layers_in_span"] >= 0.9 * statuses[model]["span"]["layers_in_model"]
    if built:
        assert f"model `{model}`: {built}" in said, said
    if inputs:
        assert f"model `{model}`: inferred example inputs: {inputs}" in said, said


HYDRA_MODEL = """
import torch
from torch import nn


class Encoder(nn.Module):
    def __init__(self, vocab_size, width, depth):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, width)
        self.layers = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))

    def forward(self, ids):
        x = self.embed(ids)
        for layer in self.layers:
            x = torch.sigmoid(layer(x))
        return x


class Tagger(nn.Module):
    def __init__(self, encoder: nn.Module, num_labels: int, optimizer=None):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.layers[0].out_features, num_labels)

    def forward(self, ids):
        return self.head(self.encoder(ids))
"""

HYDRA_CONFIG = """
data:
  vocab: 500
model:
  _target_: tagger.Tagger
  num_labels: ${data.labels}
  encoder:
    _target_: tagger.Encoder
    vocab_size: ${data.vocab}
    width: 32
    depth: 8
  optimizer:
    _target_: torch.optim.SGD
    _partial_: true
    lr: 1000000.0
"""


def test_hydra_targets_build_the_model_its_parts_and_name_its_optimizer(write):
    """`_target_` mappings in the project's YAML build the model the way hydra.utils.instantiate
    would: a nested target (the encoder) is built and passed in, an interpolation is read from
    the same file, one it cannot read gets the parameter's placeholder; the nested class is
    checked as a part; the optimizer named under the model's mapping is its dry run's."""
    write("tagger.py", HYDRA_MODEL)
    config = write("conf/config.yaml", HYDRA_CONFIG)
    result = run_cli("tagger.py", "-v", "--no-cache", "--output-format", "json", cwd=config.parent.parent)
    files = json.loads(result.stdout)["files"]
    statuses = {m["name"]: m for f in files for m in f["model_status"]}
    said = [n["message"] for f in files for n in f["notes"]]
    assert set(statuses) == {"Tagger"} and statuses["Tagger"]["status"] == "checked", statuses
    assert statuses["Tagger"]["built_from"] == (
        "Tagger(encoder=Encoder(vocab_size=500, width=32, depth=8), num_labels=<unresolved: 10>, "
        "optimizer=partial(SGD, lr=1000000.0)) from conf/config.yaml:5"), statuses["Tagger"]
    assert statuses["Tagger"]["placeholders"] == ["num_labels=10 (number of classes: the project computes it (${data.labels}))"]
    findings = [(f["code"], f["location"]["path"], f["location"]["line"]) for file in files for f in file["findings"]]
    assert ("GL101", "tagger.py", 15) in findings, findings
    assert ("GL701", "conf/config.yaml", 13) in findings, findings
    assert not any("GL701 dry run" in n and "skipped" in n for n in said), said
    part = "`Encoder` is not checked on its own: it is built inside `Tagger` (conf/config.yaml:8) and checked as part of it"
    assert part in said, said
    selected = run_cli("tagger.py::Encoder", "--no-cache", cwd=config.parent.parent)
    assert selected.returncode == 2 and f"no model named `Encoder` (models: Tagger): {part}" in selected.stderr, selected.stderr


# forward(self, batch) reading batch["categorical"][:, i] into one embedding per column and
# batch["numeric"] concatenated with their outputs before the MLP: 3 columns in the smallest
# vocabulary (7), 36 - 3 * 8 = 12 numeric features. Its span starts at the first embedding: the
# two embeddings beside it join the span at the concatenation and are not on its paths (4 of 6).
@pytest.mark.parametrize("project, model, inputs, span", [
    ("bench/reach/dict_batch", "TabularClassifier",
     "batch: {'categorical': int64[8, 3], 'numeric': float32[8, 12]}", (4, 6)),
    # ids = batch["input_ids"] then self.tok(ids): ids in the vocabulary; the mask and the labels
    # by name (ones like the ids; classes of the head), read with batch.get() and `in batch`
    ("bench/reach/dict_batch_text", "TextClassifier",
     "batch: {'input_ids': int64[8, 32], 'attention_mask': int64[8, 32], 'labels': int64[8]}", (8, 8)),
    # forward(images, captions): the second input goes into an embedding, so it is ids (it was
    # given the images' shape and every candidate failed); the span runs from the image through
    # the LSTM, the word embedding beside it (6 of 7)
    ("bench/reach/image_captioning", "ImageCaptioner", "images: float32[8, 3, 32, 32], captions: int64[8, 32]", (6, 7)),
])
def test_project_shapes_batch_dict_and_preallocated_outputs_are_checked(project, model, inputs, span):
    result = run_cli(project, "-v", "--no-cache", "--exit-zero", "--output-format", "json")
    files = json.loads(result.stdout)["files"]
    statuses = {m["name"]: m for f in files for m in f["model_status"]}
    said = [n["message"] for f in files for n in f["notes"]]
    assert statuses[model]["status"] == "checked", statuses
    assert (statuses[model]["span"]["layers_in_span"], statuses[model]["span"]["layers_in_model"]) == span
    assert len(statuses[model]["span"]["layers_outside"]) == span[1] - span[0]
    assert any(n.startswith(f"model `{model}`: main span ") and ("; not on it: `" in n) == (span[0] < span[1])
               for n in said), said
    assert f"model `{model}`: inferred example inputs: {inputs}" in said, said
    assert not any("no gradient path" in n or "probe skipped" in n for n in said), said


def test_project_shapes_a_batch_key_nothing_tells_is_named_in_the_skip(write):
    path = write("model.py", "import torch\nfrom torch import nn\n\n\nclass Net(nn.Module):\n"
                             "    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(4, 2)\n\n"
                             "    def forward(self, batch):\n        return self.fc(batch['x']) * batch['scale']\n")
    result = run_cli("model.py", "-v", "--no-cache", "--exit-zero", "--output-format", "json", cwd=path.parent)
    said = [n["message"] for f in json.loads(result.stdout)["files"] for n in f["notes"]]
    assert any("batch['scale']" in n and "gradlint_models()" in n for n in said), said


PREALLOCATED = '''import torch
from torch import nn


class Unrolled(nn.Module):
    def __init__(self, width=16, steps=6):
        super().__init__()
        self.steps = nn.ModuleList(nn.Linear(width, width) for _ in range(steps))
        self.width = width

    def forward(self, x):
        outputs = torch.zeros(len(self.steps), x.shape[0], self.width)
        h = x
        for t, step in enumerate(self.steps):
            h = torch.sigmoid(step(h))
            outputs[t] = h
        return outputs
'''


def test_project_shapes_outputs_preallocated_and_filled_step_by_step_stay_on_the_gradient_path(write):
    # traced as a constant, torch.zeros(...) cut every step off the output: "no gradient path"
    path = write("model.py", PREALLOCATED)
    result = run_cli("model.py", "--no-cache", "--exit-zero", "--output-format", "json", cwd=path.parent)
    (status,) = [m for f in json.loads(result.stdout)["files"] for m in f["model_status"]]
    assert status["status"] == "checked", status
    assert status["span"] == {"start": "steps.0", "end": "setitem_5", "layers_in_span": 6, "layers_in_model": 6,
                              "layers_outside": [], "layers_measured_outside": 0}


def test_tracing_factories_touches_neither_the_torch_module_nor_other_threads():
    """The project's own ``torch.zeros`` becomes a graph node only in the tracing thread: the
    ``torch`` module keeps its functions, and another thread allocating while the trace runs
    gets a tensor. A name imported with ``from torch import zeros`` is a node too."""
    import threading

    import torch
    from torch import nn

    from gradlint.tracing.trace import trace

    seen: dict[str, object] = {}

    class Filled(nn.Module):
        def __init__(self):
            super().__init__()
            self.steps = nn.ModuleList(nn.Linear(4, 4) for _ in range(3))

        def forward(self, x):
            seen["zeros during the trace"] = torch.zeros
            worker = threading.Thread(target=lambda: seen.setdefault("other thread", type(torch.zeros(2))))
            worker.start()
            worker.join()
            outputs = zeros(3, x.shape[0], 4)
            for t, step in enumerate(self.steps):
                outputs[t] = step(x)
            return outputs

    from torch import zeros

    original = torch.zeros
    result = trace(Filled(), {"x": torch.randn(2, 4)})
    assert seen == {"zeros during the trace": original, "other thread": torch.Tensor}
    assert torch.zeros is original
    targets = [n.target for n in result.graph_module.graph.nodes if n.op == "call_function"]
    assert torch.zeros in targets, targets


def test_project_shapes_seq2seq_filling_preallocated_outputs_is_checked_through_encoder_and_decoder(write):
    # bench/reach/seq2seq_injected at a test's size (its 5,893-word vocabulary makes every one of
    # the 31 decoder steps write a 32×8×5893 tensor: minutes on a loaded machine). The span runs
    # from the encoder through the decoder to the readout's input; the decoder's embedding is fed
    # by the targets, beside it (4 of 5 weight layers).
    source = (ROOT / "bench/reach/seq2seq_injected/seq2seq.py").read_text()
    assert "INPUT_DIM, OUTPUT_DIM = 7853, 5893" in source
    source = source.replace("INPUT_DIM, OUTPUT_DIM = 7853, 5893", "INPUT_DIM, OUTPUT_DIM = 60, 50").replace(
        "256, 512, 2, 0.5)", "16, 32, 2, 0.5)")
    path = write("seq2seq.py", source)
    result = run_cli("seq2seq.py", "-v", "--no-cache", "--exit-zero", "--output-format", "json", cwd=path.parent)
    files = json.loads(result.stdout)["files"]
    (status,) = [m for f in files for m in f["model_status"]]
    said = [n["message"] for f in files for n in f["notes"]]
    assert status["status"] == "checked", status
    assert (status["span"]["layers_in_span"], status["span"]["layers_in_model"]) == (4, 5)
    assert "model `model`: inferred example inputs: src: int64[32, 8], trg: int64[32, 8]" in said, said
    assert not any("no gradient path" in n or "probe skipped" in n for n in said), said


def test_editing_the_hydra_config_invalidates_the_cached_result(write):
    write("tagger.py", HYDRA_MODEL)
    config = write("conf/config.yaml", HYDRA_CONFIG)
    root = config.parent.parent

    def built_from() -> str:
        result = run_cli("tagger.py", "--output-format", "json", "--exit-zero", cwd=root)
        (status,) = [m for f in json.loads(result.stdout)["files"] for m in f["model_status"]]
        return status["built_from"]

    assert "depth=8" in built_from()
    assert "depth=8" in built_from()  # answered from the cache
    config.write_text(HYDRA_CONFIG.replace("depth: 8", "depth: 3"))
    assert "depth=3" in built_from()


# --- constructor values real code leaves open (#26) ----------------------------------------------

PRESET_GPT = """import torch
from dataclasses import dataclass
from torch import nn


class CN:
    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)

    def merge_from_dict(self, d):
        self.__dict__.update(d)


@dataclass
class TrainerConfig:
    learning_rate: float = 3e-4
    batch_size: int = 64


class GPT(nn.Module):
    @staticmethod
    def get_default_config():
        C = CN()
        C.model_type = "gpt-nano"
        C.n_layer = None
        C.n_embd = None
        C.vocab_size = None   # set from the data
        C.block_size = -1     # set from the data
        return C

    def __init__(self, config):
        super().__init__()
        assert config.vocab_size is not None and config.block_size > 0
        if config.model_type is not None:
            config.merge_from_dict({"gpt-nano": dict(n_layer=3, n_embd=48),
                                    "gpt-micro": dict(n_layer=4, n_embd=64)}[config.model_type])
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.h = nn.ModuleList(nn.Sequential(nn.LayerNorm(config.n_embd), nn.Linear(config.n_embd, config.n_embd),
                                             nn.Sigmoid()) for _ in range(config.n_layer))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size)

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.h:
            x = x + block(x)
        return self.lm_head(x)
"""


def _status(result, model: str) -> tuple[dict, list[str]]:
    files = json.loads(result.stdout)["files"]
    statuses = {m["name"]: m for f in files for m in f["model_status"]}
    return statuses[model], [n["message"] for f in files for n in f["notes"]]


def test_the_models_own_default_config_wins_and_the_sizes_it_leaves_to_the_data_get_placeholders(write):
    # the module's other config dataclass (the trainer's) is not the model's; the preset fills the
    # layers, the data-given sizes left None / -1 get their roles' placeholders
    path = write("model.py", PRESET_GPT)
    result = run_cli("model.py", "--no-cache", "--output-format", "json", cwd=path.parent)
    status, _ = _status(result, "GPT")
    assert status["status"] == "checked", status
    assert status["built_from"] == ("GPT(config=GPT.get_default_config() with vocab_size=<unresolved: 1000>, "
                                    "block_size=<unresolved: 128>) from placeholders (no call of `GPT` in the "
                                    "project gives its arguments)"), status
    assert status["placeholders"] == ["vocab_size=1000 (vocabulary size: the config leaves it None)",
                                      "block_size=128 (sequence length: the config leaves it -1)"], status


def test_a_config_a_script_function_returns_and_fills_attribute_by_attribute_builds_the_model(write):
    # minGPT's shape: get_config() nests the model's default config and picks a preset; the script
    # sets the data-given sizes on config.model before GPT(config.model)
    write("mingpt.py", PRESET_GPT)
    path = write("chargpt.py", "from mingpt import GPT, CN\n\n\ndef get_config():\n    C = CN()\n"
                               "    C.data = CN(block_size=64)\n    C.model = GPT.get_default_config()\n"
                               "    C.model.model_type = 'gpt-micro'\n    return C\n\n\n"
                               "if __name__ == '__main__':\n    config = get_config()\n"
                               "    text = open('input.txt').read()\n"
                               "    config.model.vocab_size = len(set(text))\n"
                               "    config.model.block_size = config.data.block_size\n"
                               "    model = GPT(config.model)\n")
    result = run_cli("mingpt.py", "--no-cache", "--output-format", "json", cwd=path.parent)
    status, _ = _status(result, "GPT")
    assert status["status"] == "checked", status
    assert status["built_from"] == ("GPT(config=GPT.get_default_config() with model_type='gpt-micro', "
                                    "vocab_size=<unresolved: 1000>, block_size=64) from chargpt.py:17"), status
    assert status["placeholders"] == ["vocab_size=1000 (vocabulary size: the project computes it (len(set(text))))"]


def test_a_required_argparse_option_is_unknown_and_a_size_gets_its_placeholder(write):
    write("model.py", SIGMOID)
    path = write("train.py", "import argparse\nfrom model import Net\n\nparser = argparse.ArgumentParser()\n"
                             "parser.add_argument('--depth', type=int, required=True)\n"
                             "parser.add_argument('--width', type=int, default=16)\nargs = parser.parse_args()\n"
                             "model = Net(args.depth, width=args.width)\n")
    result = run_cli("model.py", "--no-cache", "--output-format", "json", "--exit-zero", cwd=path.parent)
    status, _ = _status(result, "Net")
    assert status["status"] == "checked", status
    assert status["built_from"] == "Net(depth=<unresolved: 2>, width=16) from train.py:8", status
    assert status["placeholders"] == ["depth=2 (number of layers: the project computes it (--depth, a required option))"]


def test_a_padding_index_computed_from_the_vocabulary_gets_a_placeholder_index(write):
    write("model.py", "from torch import nn\n\n\nclass Tagger(nn.Module):\n"
                      "    def __init__(self, vocab_size, dim, n_tags, pad_idx):\n        super().__init__()\n"
                      "        self.embed = nn.Embedding(vocab_size, dim, padding_idx=pad_idx)\n"
                      "        self.out = nn.Linear(dim, n_tags)\n\n    def forward(self, ids):\n"
                      "        return self.out(self.embed(ids))\n")
    path = write("train.py", "from model import Tagger\nfrom data import load_vocab\n\nvocab = load_vocab('vocab.txt')\n"
                             "PAD_IDX = vocab.stoi['<pad>']\nmodel = Tagger(len(vocab), 32, 17, PAD_IDX)\n")
    result = run_cli("model.py", "--no-cache", "--output-format", "json", cwd=path.parent)
    status, _ = _status(result, "Tagger")
    assert status["status"] == "checked", status
    assert status["built_from"] == ("Tagger(vocab_size=<unresolved: 1000>, dim=32, n_tags=17, "
                                    "pad_idx=<unresolved: 0>) from train.py:6"), status
    assert "pad_idx=0 (token index: the project computes it (vocab.stoi['<pad>']))" in status["placeholders"], status
    assert result.returncode == 0, result.stdout


def test_a_config_dataclass_with_no_defaults_that_only_a_checkpoint_fills_gets_placeholders(write):
    # a Llama-style ModelArgs whose real values come from params.json at load time: each field
    # gets its name's placeholder, every one of them named
    write("model.py", """
from dataclasses import dataclass

from torch import nn


@dataclass
class ModelArgs:
    dim: int
    n_layers: int
    vocab_size: int
    multiple_of: int
    norm_eps: float


class Decoder(nn.Module):
    def __init__(self, params: ModelArgs):
        super().__init__()
        self.embed = nn.Embedding(params.vocab_size, params.dim)
        hidden = params.multiple_of * ((4 * params.dim) // params.multiple_of)
        self.blocks = nn.Sequential(*[nn.Sequential(nn.LayerNorm(params.dim, eps=params.norm_eps),
                                                    nn.Linear(params.dim, hidden), nn.GELU(),
                                                    nn.Linear(hidden, params.dim)) for _ in range(params.n_layers)])
        self.out = nn.Linear(params.dim, params.vocab_size)

    def forward(self, tokens):
        return self.out(self.blocks(self.embed(tokens)))
""")
    path = write("generate.py", "import json\n\nfrom model import Decoder, ModelArgs\n\n"
                                "params = json.load(open('ckpt/params.json'))\nmodel = Decoder(ModelArgs(**params))\n")
    result = run_cli("model.py", "--no-cache", "--output-format", "json", cwd=path.parent)
    status, _ = _status(result, "Decoder")
    assert status["status"] == "checked", status
    assert status["built_from"].startswith("Decoder(params=ModelArgs(dim=<unresolved: 64>, n_layers=<unresolved: 2>, "
                                           "vocab_size=<unresolved: 1000>, multiple_of=<unresolved: 32>, "
                                           "norm_eps=<unresolved: 1e-05>))"), status
    assert "norm_eps=1e-05 (normalization epsilon: no default, a checkpoint gives it)" in status["placeholders"]
    assert "vocab_size=1000 (vocabulary size: no default, a checkpoint gives it)" in status["placeholders"]


def test_a_class_is_not_taken_for_another_files_class_of_the_same_name(write):
    # a.py builds its own Block inside Stack; b.py's Block is another class: it is checked on its
    # own, not "built inside Stack"
    write("a.py", "from torch import nn\n\n\nclass Block(nn.Module):\n    def __init__(self, dim):\n"
                  "        super().__init__()\n        self.fc = nn.Linear(dim, dim)\n\n    def forward(self, x):\n"
                  "        return x + self.fc(x)\n\n\nclass Stack(nn.Module):\n    def __init__(self):\n"
                  "        super().__init__()\n        self.blocks = nn.Sequential(Block(32), Block(32))\n\n"
                  "    def forward(self, x):\n        return self.blocks(x)\n")
    path = write("b.py", "from torch import nn\n\n\nclass Block(nn.Module):\n    def __init__(self, width):\n"
                         "        super().__init__()\n        self.fc = nn.Linear(width, width)\n\n"
                         "    def forward(self, x):\n        return self.fc(x).relu()\n")
    result = run_cli("b.py", "--no-cache", "--output-format", "json", cwd=path.parent)
    status, _ = _status(result, "Block")
    assert status["status"] == "checked", status
    assert status["built_from"].startswith("Block(width=<unresolved: 64>) from placeholders"), status
