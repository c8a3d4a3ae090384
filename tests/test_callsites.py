"""The static evaluator and call-site finder behind constructor resolution (no torch needed)."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gradlint.source.callsites import (
    ArgsNamespace,
    ConfigValue,
    Evaluator,
    Param,
    Placeholder,
    Project,
    Unresolved,
    call_sites,
    placeholder_for,
)


def value_of(source: str, expression: str = "RESULT"):
    """The value the evaluator gives ``expression`` at the end of ``source``'s last function,
    or of the module when it defines none (the probe line is appended where it is evaluated)."""
    tree = ast.parse(textwrap.dedent(source))
    probe = ast.parse(f"__probe__({expression})").body[0]
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    body = functions[-1].body if functions else tree.body
    end = max(getattr(n, "end_lineno", 0) for n in ast.walk(tree)) + 1
    for node in ast.walk(probe):
        if hasattr(node, "lineno"):
            node.lineno = node.end_lineno = end
    body.append(probe)
    call = probe.value
    return Evaluator(tree).value(call.args[0])


@pytest.mark.parametrize("source, expected", [
    ("RESULT = 3", 3),
    ("RESULT = (1, 'a', [2.5, None], {'k': True})", (1, "a", [2.5, None], {"k": True})),
    ("N = 4\nRESULT = N * 2 + 1", 9),
    ("D = 64\nH = 4\nRESULT = D // H", 16),
    ("RESULT = 2 ** 10 - -1", 1025),
    ("A = [1, 2]\nRESULT = [*A, 3]", [1, 2, 3]),
    ("X = 5\nRESULT = X if X > 3 else 0", 5),
    ("RESULT = min(3, 7) + len([1, 2]) + int('4')", 9),
    ("cfg = {'a': 1}\nRESULT = cfg['a']", 1),
    ("d = dict(a=1, b=2)\nd['b'] = 3\nRESULT = d", {"a": 1, "b": 3}),
    ("base = dict(a=1)\nRESULT = dict(base, b=2)", {"a": 1, "b": 2}),
    ("x = 1\nx += 4\nRESULT = x", 5),
    ("a, b = 3, 4\nRESULT = b", 4),
    ("x = 1\nx = 2\nRESULT = x", 2),
])
def test_module_level_constants_and_arithmetic(source, expected):
    assert value_of(source) == expected


def test_names_assigned_earlier_in_the_same_scope_win_over_module_constants():
    source = """
    HIDDEN = 128

    def main(width=32, *, depth=6):
        hidden = HIDDEN * 2
        RESULT = (hidden, width, depth)
    """
    assert value_of(source) == (256, 32, 6)


def test_a_later_assignment_is_not_seen_before_it_happens():
    source = """
    def main():
        n = 1
        RESULT = n
        n = 2
    """
    tree = ast.parse(textwrap.dedent(source))
    use = tree.body[0].body[1].value
    assert Evaluator(tree).value(use) == 1


def test_argparse_defaults_with_type_dest_and_dashes():
    source = """
    import argparse
    parser = argparse.ArgumentParser()
    parser.add_argument('--emsize', type=int, default=200)
    parser.add_argument('--batch-size', type=int, default='20')
    parser.add_argument('-l', '--learning-rate', dest='lr', type=float, default='0.5')
    parser.add_argument('--tied', action='store_true')
    parser.add_argument('--data', type=str)
    args = parser.parse_args()
    """
    assert value_of(source, "args.emsize") == 200
    assert value_of(source, "args.batch_size") == 20
    assert value_of(source, "args.lr") == 0.5
    assert value_of(source, "args.tied") is False
    assert value_of(source, "args.data") is None
    assert isinstance(value_of(source, "args.nope"), Unresolved)
    assert isinstance(value_of(source, "args"), ArgsNamespace)


def test_argparse_defaults_reach_a_function_taking_the_parsed_arguments():
    source = """
    import argparse

    def get_parser():
        p = argparse.ArgumentParser()
        p.add_argument('--nhid', type=int, default=256)
        return p

    def main(opt):
        RESULT = opt.nhid * 2
    """
    assert value_of(source) == 512


def test_config_objects_built_in_the_same_scope():
    source = """
    from dataclasses import dataclass

    @dataclass
    class GPTConfig:
        n_layer: int = 12
        n_embd: int = 768

    def main():
        n_layer = 4
        model_args = dict(n_layer=n_layer)
        config = GPTConfig(**model_args)
        RESULT = config
    """
    config = value_of(source)
    assert isinstance(config, ConfigValue) and config.class_name == "GPTConfig"
    assert config.fields == {"n_layer": 4}
    assert value_of(source, "RESULT.n_embd") == 768  # the class default, read from its source
    assert value_of(source, "RESULT.n_layer") == 4


def test_positional_arguments_of_a_config_map_to_its_fields():
    source = """
    class Config:
        def __init__(self, dim, depth=2):
            self.dim = dim
    RESULT = Config(64, 3)
    """
    assert value_of(source).fields == {"dim": 64, "depth": 3}


@pytest.mark.parametrize("source", [
    "RESULT = len(corpus.dictionary)",               # computed from data
    "import os\nRESULT = os.environ['N']",           # the environment
    "for i in range(3):\n    n = i\nRESULT = n",     # a loop variable
    "RESULT = undefined_name",
    "def f():\n    return 3\nRESULT = f()",          # a call gradlint does not run
    "import json\nRESULT = json.load(open('c.json'))['dim']",
    "RESULT = [1, unknown]",                         # a container with one unknown element
    "RESULT = 10 ** 1000",                           # never computes a huge number
    "RESULT = 1 / 0",
])
def test_what_the_source_does_not_give_is_unresolved(source):
    assert isinstance(value_of(source), Unresolved)


def test_a_value_assigned_on_one_branch_only_is_unresolved():
    source = """
    import os
    vocab = None
    if os.path.exists('meta.pkl'):
        vocab = 65
    RESULT = vocab
    """
    assert isinstance(value_of(source), Unresolved)
    assert value_of("import os\nif os.getenv('X'):\n    only = 3\nRESULT = only") == 3  # its only value


def test_unresolved_names_the_expression_it_could_not_evaluate():
    assert value_of("ntokens = len(corpus.dictionary)\nRESULT = ntokens").source == "len(corpus.dictionary)"


@pytest.mark.parametrize("name, annotation, value", [
    ("ntoken", None, 1000), ("vocab_size", "int", 1000), ("num_classes", None, 10),
    ("n_layer", None, 2), ("num_heads", None, 4), ("block_size", None, 128),
    ("image_size", None, 32), ("patch_size", None, 4), ("in_channels", None, 3),
    ("hidden_dim", None, 64), ("d_model", "int", 64),
])
def test_placeholders_by_role(name, annotation, value):
    assert placeholder_for(Param(name, "positional", True, annotation)).value == value


@pytest.mark.parametrize("name, annotation", [("activation", None), ("config", None), ("dim", "str"),
                                              ("dropout", "float")])
def test_no_placeholder_for_parameters_that_are_not_sizes(name, annotation):
    assert placeholder_for(Param(name, "positional", True, annotation)) is None


PARAMS = [Param("rnn_type", "positional", True), Param("ntoken", "positional", True),
          Param("ninp", "positional", True), Param("dropout", "positional", False)]


def project(tmp_path: Path, files: dict[str, str]) -> Project:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return Project(tmp_path)


def test_call_sites_prefer_the_trained_model_then_tests_then_any(tmp_path):
    found = project(tmp_path, {
        "model.py": "class RNNModel:\n    pass\n",
        "examples/demo.py": "from model import RNNModel as Net\nm = Net('GRU', 50, 16)\n",
        "tests/test_model.py": "import model\n\ndef test_it():\n    m = model.RNNModel('LSTM', 100, 32)\n",
        "train.py": """
            import torch
            import model
            ninp = 200
            net = model.RNNModel('LSTM', len(vocab), ninp, dropout=0.2).to('cpu')
            opt = torch.optim.SGD(net.parameters(), lr=20)
        """,
        "README.md": "Use it:\n\n```python\nm = RNNModel('RNN_TANH', 10, 8)\n```\n",
    })
    sites = call_sites(found, "RNNModel", PARAMS)
    assert [s.where.rsplit("/", 1)[-1] for s in sites] == ["train.py:5", "test_model.py:4", "demo.py:2", "README.md:4"]
    trained = sites[0]
    assert trained.reaches_optimizer
    assert trained.values["ninp"] == 200 and trained.values["dropout"] == 0.2
    assert trained.values["ntoken"] == Unresolved("len(vocab)")
    assert sites[3].values == {"rnn_type": "RNN_TANH", "ntoken": 10, "ninp": 8}


def test_calls_that_do_not_fit_the_signature_are_another_class(tmp_path):
    found = project(tmp_path, {"a.py": "RNNModel(1, 2, 3, 4, 5)\nRNNModel(nope=1)\nRNNModel('GRU', 1, 2)\n"})
    assert [s.where.rsplit(":", 1)[-1] for s in call_sites(found, "RNNModel", PARAMS)] == ["3"]


def test_a_class_built_inside_another_model_is_a_part(tmp_path):
    found = project(tmp_path, {"m.py": """
        from torch import nn
        class Block(nn.Module):
            def __init__(self, dim):
                super().__init__()
        class Net(nn.Module):
            def __init__(self, dim=8):
                super().__init__()
                self.block = Block(dim)
    """})
    (site,) = call_sites(found, "Block", [Param("dim", "positional", True)])
    assert site.part_of == "Net" and not site.useful


def test_the_project_is_parsed_once_and_files_not_naming_the_class_are_never_parsed(tmp_path):
    found = project(tmp_path, {f"f{i}.py": "x = 1\n" for i in range(50)} | {"use.py": "Net(3)\n"})
    assert len(call_sites(found, "Net", [Param("dim", "positional", True)])) == 1
    assert list(found._sources) == [tmp_path / "use.py"]


def test_module_has_no_torch_import():
    code = "import sys, gradlint.source.callsites; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_placeholder_repr_is_what_the_note_shows():
    assert repr(Placeholder(1000, "vocabulary size", "len(corpus.dictionary)")) == "<unresolved: 1000>"


def test_chains_of_names_are_evaluated_in_linear_time():
    # each name used twice by the next: 2**39 evaluations without memoization
    source = "\n".join(["x0 = 1", *(f"x{i} = x{i - 1} + x{i - 1}" for i in range(1, 40)), "RESULT = x39"])
    assert value_of(source) == 2 ** 39


def test_a_name_defined_through_itself_is_unresolved_not_a_loop():
    source = """
    def f():
        return x
    x = f() or x
    RESULT = x
    """
    assert isinstance(value_of(source), Unresolved)


def test_assignments_in_the_same_branch_as_the_use_count():
    # nanoGPT's train.py: the model is built inside `if init_from == 'scratch':`, where the
    # config dict is completed
    source = """
    n_layer = 4
    init_from = 'scratch'
    model_args = dict(n_layer=n_layer, vocab_size=None)
    if init_from == 'scratch':
        model_args['vocab_size'] = 50304
        RESULT = model_args
    """
    assert value_of_in_block(source) == {"n_layer": 4, "vocab_size": 50304}
    # ...but not from the other branch
    other = textwrap.dedent(source).replace("    RESULT = model_args", "else:\n    RESULT = model_args")
    assert isinstance(value_of_in_block(other), Unresolved)


def value_of_in_block(source: str):
    tree = ast.parse(textwrap.dedent(source))
    (use,) = [n for n in ast.walk(tree) if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "RESULT"]
    return Evaluator(tree).value(use.value)


def test_attributes_set_on_a_config_after_it_is_built():
    source = """
    from model import GPT
    cfg = GPT.get_default_config()
    cfg.n_layer = 2 * 3
    cfg.vocab_size = len(data)
    RESULT = cfg
    """
    config = value_of(source)
    assert config.factory == "get_default_config" and config.class_name == "GPT"
    assert config.fields["n_layer"] == 6 and isinstance(config.fields["vocab_size"], Unresolved)
    assert repr(config) == "GPT.get_default_config() with n_layer=6, vocab_size=<unresolved: len(data)>"
    # an attribute set on something that is not a config leaves it unresolved
    assert isinstance(value_of("x = make()\nx.a = 1\nRESULT = x"), Unresolved)


def test_the_optimizer_may_be_built_in_another_function_of_the_file(tmp_path):
    found = project(tmp_path, {"trainer.py": """
        import torch

        def fit(model):
            opt = torch.optim.Adam(model.parameters())

        def main():
            model = RNNModel('GRU', 5, 5)
            fit(model)
            other = RNNModel('GRU', 6, 6)
    """})
    sites = call_sites(found, "RNNModel", PARAMS)
    assert [(s.where.rsplit(":", 1)[-1], s.reaches_optimizer) for s in sites] == [("8", True), ("10", False)]


def test_hydra_config_targets_read_arguments_interpolations_and_nesting(tmp_path):
    from gradlint.source.callsites import Target, config_targets

    path = tmp_path / "configs" / "model" / "resnet.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(
        "_target_: src.models.Classifier\n"
        "width: 64\n"
        "backbone:\n"
        "  _target_: src.models.ResNet\n"
        "  _args_: [3, 18]\n"
        "  width: ${model.width}\n"          # below its config group (configs/model/)
        "  classes: ${data.num_classes}\n"    # in another file: not known here
        "  act: relu-${width}\n"              # not a whole-value interpolation
        "optimizer:\n"
        "  _target_: torch.optim.AdamW\n"
        "  _partial_: true\n"
        "  lr: 3.0e-4\n")
    found = {t.target.name: t for t in config_targets(path, path.read_text())}
    assert set(found) == {"Classifier", "ResNet", "AdamW"}
    backbone = found["ResNet"]
    assert backbone.where.endswith("resnet.yaml:4") and backbone.outer == "Classifier"
    assert backbone.target.args == [3, 18]
    assert backbone.target.kwargs["width"] == 64
    assert repr(backbone.target.kwargs["classes"]) == "<unresolved: ${data.num_classes}>"
    assert repr(backbone.target.kwargs["act"]) == "<unresolved: relu-${width}>"
    assert found["AdamW"].target.partial and found["AdamW"].target.kwargs == {"lr": 3.0e-4}
    outer = found["Classifier"]
    assert outer.outer is None and isinstance(outer.target.kwargs["backbone"], Target)
    shown = repr(outer.target)  # each argument shortened to 60 characters, as in the notes
    assert shown.startswith("Classifier(width=64, backbone=ResNet(3, 18, width=64, classes=<unresolved: ")
    assert shown.endswith("), optimizer=partial(AdamW, lr=0.0003))")
    assert config_targets(path, "key: [unclosed\n") == []


def test_lightning_cli_class_path_and_init_args_are_targets_too(tmp_path):
    from gradlint.source.callsites import config_targets
    from gradlint.source.project_facts import compute_facts

    path = tmp_path / "config.yaml"
    path.write_text(
        "model:\n"
        "  class_path: mypkg.models.LitClassifier\n"
        "  init_args:\n"
        "    lr: 0.001\n"
        "    backbone:\n"
        "      class_path: mypkg.models.ResNet\n"
        "      init_args:\n"
        "        depth: 18\n"
        "optimizer:\n"
        "  class_path: torch.optim.AdamW\n"
        "  init_args:\n"
        "    lr: 0.0003\n"
        "    weight_decay: 0.05\n")
    found = {t.target.name: t for t in config_targets(path, path.read_text())}
    assert set(found) == {"LitClassifier", "ResNet", "AdamW"}
    assert found["ResNet"].target.kwargs == {"depth": 18} and found["ResNet"].outer == "LitClassifier"
    assert found["ResNet"].where.endswith("config.yaml:6")
    assert repr(found["LitClassifier"].target) == "LitClassifier(lr=0.001, backbone=ResNet(depth=18))"
    facts = compute_facts(tmp_path)
    (setup,) = facts.optimizers
    assert (setup.name, dict(setup.hyperparameters), setup.location.line, facts.owners) == (
        "AdamW", {"lr": 0.0003, "weight_decay": 0.05}, 10, (None,))
