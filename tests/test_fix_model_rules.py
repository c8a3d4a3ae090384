"""The model rules' proposals (GL101, GL102, GL201, GL202, GL203, GL301, GL601, GL702, GL801): the
edits each proposes for a finding, made on the fixture files under fixtures/fix/ (or a small file
written here), give the fixture's `.after` file (or the expected line); where no precise edit can
be told from the source the rule proposes nothing. The findings are built here as
the rules make them (their model, graph node, arguments and source line), so nothing is traced:
tests/test_fix_fixtures.py runs the same cases through `gradlint --fix`, verification included."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FIXTURES

from gradlint.core.findings import Finding, Location, Severity
from gradlint.rules import RULES_BY_CODE
from gradlint.source.edits import Sources, apply_edits

CASES = FIXTURES / "fix"


def finding(code: str, path: Path, line: int, model: str, node: str, args: dict, *,
            span: tuple[str, str] | None = None, fix: str = "") -> Finding:
    rule = RULES_BY_CODE[code]
    return Finding(code, rule.name, Severity.ERROR, "", args, fix or rule.fix, Location(str(path), line, 1),
                   model=model, node=node, span=span)


def proposed(f: Finding):
    return RULES_BY_CODE[f.code]().propose(f, Sources())


def edited(path: Path, proposal) -> str:
    assert proposal is not None
    assert {e.path for e in proposal.edits} == {str(path.resolve())}
    return apply_edits(path.read_text(), proposal.edits)


def after(case: str) -> str:
    return (CASES / case / "model.py.after").read_text()


def test_gl601_adds_kaiming_init_at_the_end_of_init():
    path = CASES / "gl601_relu_class" / "model.py"
    proposal = proposed(finding("GL601", path, 14, "DefaultInit", "layers.0", {"after": " before relu"}))
    assert proposal.safe
    assert edited(path, proposal) == after("gl601_relu_class")


@pytest.mark.parametrize(("activation", "init"), [
    (" before tanh", 'nn.init.xavier_normal_(m.weight, gain=nn.init.calculate_gain("tanh"))'),
    (" before sigmoid", "nn.init.xavier_normal_(m.weight)"),
    ("", "nn.init.orthogonal_(m.weight)"),
])
def test_gl601_initializer_follows_the_activation(activation, init):
    path = CASES / "gl601_relu_class" / "model.py"
    proposal = proposed(finding("GL601", path, 14, "DefaultInit", "layers.0", {"after": activation}))
    assert init in edited(path, proposal)


def test_gl601_module_level_sequential_and_explicit_init(tmp_path):
    path = tmp_path / "net.py"
    path.write_text("import torch\n\nnet = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU())\n"
                    "net[0].weight.data.normal_(0, 0.01)\n")
    proposal = proposed(finding("GL601", path, 3, "net", "0", {"after": " before relu"}))
    text = edited(path, proposal)
    assert "net = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU())\nfor m in net.modules():\n" \
           "    if isinstance(m, torch.nn.Linear):\n" in text
    assert text.endswith("normal_(0, 0.01)\n")
    assert proposal.safe   # the hand-set weight is outside the statement that builds the model


def test_gl601_none_where_the_model_cannot_be_found(tmp_path):
    path = tmp_path / "model.py"
    path.write_text("from torch import nn\n\n\ndef build():\n    return make()\n")
    assert proposed(finding("GL601", path, 5, "elsewhere", "0", {"after": " before relu"})) is None
    path.write_text("import numpy\n")   # no torch.nn in the file
    assert proposed(finding("GL601", path, 1, "elsewhere", "0", {"after": " before relu"})) is None


def test_gl301_loop_weight_is_made_orthogonal():
    path = CASES / "gl301_loop_rnn" / "model.py"
    proposal = proposed(finding("GL301", path, 17, "LoopRNN", "cell", {"module": "cell"},
                                span=("cell", "cell_38")))
    assert proposal.safe
    assert edited(path, proposal) == after("gl301_loop_rnn")


def test_gl301_tanh_rnn_becomes_a_gru():
    path = CASES / "gl301_rnn_language_model" / "model.py"
    proposal = proposed(finding("GL301", path, 14, "RNNLanguageModel", "rnn",
                                {"module": "rnn", "kind": "RNN"}))
    assert not proposal.safe
    assert edited(path, proposal) == after("gl301_rnn_language_model")


RNNS = '''import torch
from torch import nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = {rnn}
        self.head = nn.Linear(16, 1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])
'''


@pytest.mark.parametrize(("rnn", "kind", "line"), [
    ('nn.RNN(2, 16, nonlinearity="relu", batch_first=True)', "RNN", "nn.init.eye_(self.rnn.weight_hh_l0)"),
    ("nn.LSTM(2, 16, batch_first=True)", "LSTM", "nn.init.orthogonal_(self.rnn.weight_hh_l0)"),
    ("nn.GRU(2, 16, num_layers=2)", "GRU", 'if name.startswith("weight_hh"):'),
])
def test_gl301_recurrent_weight_init(tmp_path, rnn, kind, line):
    path = tmp_path / "model.py"
    path.write_text(RNNS.format(rnn=rnn))
    proposal = proposed(finding("GL301", path, 12, "Model", "rnn", {"module": "rnn", "kind": kind}))
    text = edited(path, proposal)
    assert f"        self.head = nn.Linear(16, 1)\n        {line}" in text or f"        {line}\n" in text


def test_gl301_none_for_a_recurrence_not_built_in_the_class(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(RNNS.format(rnn="make_rnn()"))
    assert proposed(finding("GL301", path, 12, "Model", "rnn", {"module": "rnn", "kind": "RNN"})) is None


def test_gl101_factory_gets_relu_and_kaiming_init():
    path = CASES / "gl101_sigmoid_factory" / "model.py"
    proposal = proposed(finding("GL101", path, 5, "make_classifier", "1", {"activation": "sigmoid"}))
    assert not proposal.safe
    assert edited(path, proposal) == after("gl101_sigmoid_factory")


def test_gl101_functional_calls_on_the_line_and_the_output_sigmoid_kept(tmp_path):
    path = tmp_path / "model.py"
    path.write_text('''import torch
from torch import nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fcs = nn.ModuleList(nn.Linear(32, 32) for _ in range(4))
        self.out = nn.Sequential(nn.Linear(32, 1), nn.Sigmoid())

    def forward(self, x):
        for fc in self.fcs:
            x = F.tanh(fc(x))
        return self.out(x)
''')
    text = edited(path, proposed(finding("GL101", path, 14, "Net", "fcs.0", {"activation": "tanh"})))
    assert "x = F.relu(fc(x))" in text and "nn.Sigmoid()" in text and "nn.init.kaiming_normal_" in text


def test_gl201_norm_after_each_layer_of_a_written_stack():
    path = CASES / "gl201_relu_sequential" / "model.py"
    proposal = proposed(finding("GL201", path, 14, "DeepRelu", "net.0", {}))
    assert not proposal.safe
    assert edited(path, proposal) == after("gl201_relu_sequential")


def test_gl201_none_where_the_stack_is_not_written_out(tmp_path):
    path = tmp_path / "model.py"
    path.write_text('''import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(32, 32) for _ in range(12))

    def forward(self, x):
        for layer in self.layers:
            x = torch.relu(layer(x))
        return x
''')
    assert proposed(finding("GL201", path, 12, "Net", "layers.0", {})) is None


def test_gl102_replaces_the_models_own_init():
    path = CASES / "gl102_vgg_small_init" / "model.py"
    fix = ("initialize every layer with nn.init.kaiming_normal_(w, nonlinearity='relu') (the typical "
           "layer's χ is 0.0021, THEORY.md §1); or " + RULES_BY_CODE["GL102"].fix)
    proposal = proposed(finding("GL102", path, 26, "VGGSmallInit", "features.0", {}, fix=fix))
    assert not proposal.safe
    assert edited(path, proposal) == after("gl102_vgg_small_init")


def test_gl102_none_without_an_initializer_to_name():
    path = FIXTURES / "gl102_damped_residual.py"
    assert proposed(finding("GL102", path, 14, "DampedResidual", "fcs.0", {})) is None


def test_gl301_relu_rnn_falls_back_to_the_gated_cell(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(RNNS.format(rnn='nn.RNN(2, 16, nonlinearity="relu", batch_first=True)'))
    proposal = proposed(finding("GL301", path, 12, "Model", "rnn", {"module": "rnn", "kind": "RNN"}))
    assert proposal.safe and "nn.init.eye_(self.rnn.weight_hh_l0)" in edited(path, proposal)
    assert not proposal.fallback.safe
    assert "self.rnn = nn.GRU(2, 16, batch_first=True)" in edited(path, proposal.fallback)
    assert [p.title for p in proposal.alternatives(unsafe=False)] == [proposal.title]


def test_gl202_zero_inits_each_blocks_last_layer():
    path = CASES / "gl202_residual_he_init" / "model.py"
    ends = [f"blocks.{i}.fc2" for i in range(24)]
    proposal = proposed(finding("GL202", path, 27, "ResidualMLP", "stem", {"branch_ends": ends,
                                                                          "branch_activated": False}))
    assert not proposal.safe                    # the blocks set their weights by hand
    assert edited(path, proposal) == (CASES / "gl202_residual_he_init" / "model.py.after").read_text()


def test_gl203_scales_a_branch_an_activation_ends():
    path = CASES / "gl203_relu_branch_stack" / "model.py"
    ends = [f"blocks.{i}.fc" for i in range(20)]
    proposal = proposed(finding("GL203", path, 13, "ResidualNet", "stem", {"branch_ends": ends,
                                                                          "branch_activated": True}))
    assert proposal.safe
    assert edited(path, proposal) == (CASES / "gl203_relu_branch_stack" / "model.py.after").read_text()


@pytest.mark.parametrize("ends", [
    ["blocks.0.fc", "blocks.2.fc"],                       # not every block of the container
    ["stages.0.blocks.0.fc", "stages.1.blocks.0.fc"],     # nested containers
    ["blocks.0.fc", "layers.1.fc"],                       # two containers
])
def test_gl203_proposes_nothing_where_the_blocks_are_not_one_container(ends):
    path = CASES / "gl203_relu_branch_stack" / "model.py"
    assert proposed(finding("GL203", path, 13, "ResidualNet", "stem", {"branch_ends": ends,
                                                                       "branch_activated": True})) is None


@pytest.mark.parametrize(("layer", "expected"), [
    ("nn.TransformerEncoderLayer(64, 4, batch_first=True)",
     "nn.TransformerEncoderLayer(64, 4, batch_first=True, norm_first=True)"),
    ("nn.TransformerEncoderLayer(64, 4, norm_first=False)", "nn.TransformerEncoderLayer(64, 4, norm_first=True)"),
    ("nn.TransformerEncoderLayer(64, 4, norm_first=pre_ln)", None),    # the user's own switch
])
def test_gl702_pre_ln(tmp_path, layer, expected):
    path = tmp_path / "model.py"
    path.write_text(f"""from torch import nn


class Encoder(nn.Module):
    def __init__(self, pre_ln=False):
        super().__init__()
        self.encoder = nn.TransformerEncoder({layer}, 12)

    def forward(self, x):
        return self.encoder(x)
""")
    proposal = proposed(finding("GL702", path, 7, "Encoder", "encoder", {}))
    if expected is None:
        assert proposal is None
    else:
        assert not proposal.safe and expected in edited(path, proposal)


def test_gl201_inits_a_stack_no_norm_can_be_inserted_in():
    path = CASES / "gl201_conv_modulelist" / "model.py"
    proposal = proposed(finding("GL201", path, 16, "PlainCNN", "stem", {"activation": "relu"}))
    assert proposal.safe and proposal.fallback is None
    assert edited(path, proposal) == (CASES / "gl201_conv_modulelist" / "model.py.after").read_text()


@pytest.mark.parametrize(("call", "expected"), [
    ("torch.optim.Adam(model.parameters(), lr=1e-3)", "torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-4)"),
    ("torch.optim.Adam(model.parameters(), eps=1e-8,)", "torch.optim.Adam(model.parameters(), eps=1e-4,)"),
    ("torch.optim.Adam(model.parameters(), 1e-3, (0.9, 0.99), 1e-8)", None),   # eps given by position
    ("torch.optim.Adam(model.parameters(), **settings)", None),
])
def test_gl801_eps_at_the_optimizer(tmp_path, call, expected):
    path = tmp_path / "train.py"
    path.write_text(f"import torch\n\n\ndef train(model, settings):\n    optimizer = {call}\n")
    proposal = proposed(finding("GL801", tmp_path / "model.py", 3, "Net", "", {
        "optimizer": "Adam", "eps": 1e-8, "optimizer_path": str(path), "optimizer_line": 5}))
    if expected is None:
        assert proposal is None
    else:
        assert proposal.safe and f"    optimizer = {expected}\n" in edited(path, proposal)


def test_gl203_edits_the_class_of_a_model_named_in_gradlint_models():
    path = FIXTURES / "gl203_relu_residual.py"          # "blocks20": ResidualMLP(depth=20)
    args = {"branch_ends": [f"blocks.{i}.fc" for i in range(20)], "branch_activated": True}
    found = finding("GL203", path, 17, "blocks20", "stem", {**args, "model_class": "ResidualMLP"})
    text = edited(path, proposed(found))
    assert text.index("param.mul_(len(self.blocks) ** -0.5)") > text.index("class ResidualMLP")
    # without the class, the class around the finding's line is the block: no edit there
    assert proposed(finding("GL203", path, 17, "blocks20", "stem", args)) is None
