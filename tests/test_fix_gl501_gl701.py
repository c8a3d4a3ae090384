"""GL501's and GL701's proposals (``Rule.propose``): the text each edit makes of the fixtures
under fixtures/fix/ (``<file>.after``), the import styles and trainers GL501 writes for, the ways
a learning rate is written that GL701 edits, and None wherever no precise edit exists.

The findings are built by hand at the lines the rules point to: no model is built or measured
here (tests/test_fix_fixtures.py runs the same fixtures through ``gradlint --fix``). Training code
appears only inside strings: this file is read as project source by gradlint's project facts."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT

from gradlint.core.findings import Finding, Location, Severity
from gradlint.rules.gl501_optimizer_without_clipping import OptimizerWithoutClipping
from gradlint.rules.gl701_diverges_at_learning_rate import DivergesAtLearningRate, _lr_text
from gradlint.source.edits import Sources, apply_edits
from gradlint.source.project_facts import optimizer_calls

FIX = ROOT / "fixtures" / "fix"
CONSTRUCTED = "constructed here"   # GL701's origin for an optimizer built in the source


def optimizer_call(path: Path) -> tuple[int, int]:
    """(line, column from 1) of the first optimizer construction in ``path``, where GL501 and
    GL701 point."""
    call, _ = min(optimizer_calls(ast.parse(path.read_text())), key=lambda c: (c[0].lineno, c[0].col_offset))
    return call.lineno, call.col_offset + 1


def finding(code: str, path: Path, line: int | None = None, col: int = 1, **args) -> Finding:
    if line is None:
        line, col = optimizer_call(path)
    return Finding(code, "x", Severity.ERROR, "m", args, "fix", Location(str(path), line, col))


def gl701(path: Path, lr: float, held: float | None, line: int | None = None, origin: str = CONSTRUCTED) -> Finding:
    return finding("GL701", path, line, origin=origin, lr=lr, held_lr=held)


def edited(proposal, path: Path) -> str:
    edits = [e for e in proposal.edits if Path(e.path) == path.resolve()]
    assert edits, proposal
    return apply_edits(path.read_text(), edits)


def write(tmp_path: Path, text: str, name: str = "train.py") -> Path:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "case"\n')
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


# ------------------------------------------------------------------------------------ fixtures

@pytest.mark.parametrize("case", ["gl501_plain_loop", "gl501_grad_scaler", "gl501_lightning_trainer"])
def test_gl501_proposal_makes_the_fixtures_after_file(case):
    path = FIX / case / "train.py"
    proposal = OptimizerWithoutClipping().propose(finding("GL501", path), Sources())
    assert proposal is not None and proposal.safe
    assert edited(proposal, path) == (FIX / case / "train.py.after").read_text()


@pytest.mark.parametrize("case", ["gl701_literal_lr", "gl701_argparse_default"])
def test_gl701_proposal_makes_the_fixtures_after_file(case):
    path = FIX / case / "train.py"
    proposal = DivergesAtLearningRate().propose(gl701(path, 1.0, 1.0 / 3), Sources())
    assert proposal is not None and proposal.safe
    assert "0.333" in proposal.title
    assert edited(proposal, path) == (FIX / case / "train.py.after").read_text()


def test_gl701_proposal_edits_the_yaml_value_only():
    config = FIX / "gl701_yaml_config" / "config.yaml"
    line = next(n for n, text in enumerate(config.read_text().splitlines(), 1) if "torch.optim.Adam" in text)
    proposal = DivergesAtLearningRate().propose(gl701(config, 1.0, 1.0 / 3, line=line), Sources())
    assert proposal is not None
    assert [Path(e.path).name for e in proposal.edits] == ["config.yaml"]
    assert edited(proposal, config) == (FIX / "gl701_yaml_config" / "config.yaml.after").read_text()


def test_gl701_writes_a_yaml_float_that_yaml_reads_as_a_float(tmp_path):
    import yaml

    config = write(tmp_path, """\
        optimizer:
          _target_: torch.optim.AdamW
          lr: 1.0e-3  # per 256 rows
        """, name="config.yaml")
    proposal = DivergesAtLearningRate().propose(gl701(config, 1e-3, 1e-4, line=2), Sources())
    assert proposal is not None
    after = edited(proposal, config)
    assert "  lr: 1.0e-4  # per 256 rows\n" in after
    assert yaml.safe_load(after)["optimizer"]["lr"] == 1e-4


def test_gl501_plain_loop_lr_is_a_parameter_so_gl701_proposes_nothing():
    # train(model, steps, lr=1.0): a caller may pass another rate; no one place to write it
    path = FIX / "gl501_plain_loop" / "train.py"
    assert DivergesAtLearningRate().propose(gl701(path, 1.0, 0.1), Sources()) is None


# ------------------------------------------------------------------------------- GL501 details

def gl501_after(tmp_path: Path, text: str) -> str | None:
    path = write(tmp_path, text)
    proposal = OptimizerWithoutClipping().propose(finding("GL501", path), Sources())
    return None if proposal is None else edited(proposal, path)


LOOP = '''\
    {imports}


    def train(model, batches):
        optimizer = {optimizer}
        for x, y in batches:
            loss = ((model(x) - y) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    '''


@pytest.mark.parametrize("imports, optimizer, clip", [
    ("import torch", "torch.optim.SGD(model.parameters(), lr=0.1)", "torch.nn.utils.clip_grad_norm_"),
    ("import torch.nn as nn\nimport torch.optim", "torch.optim.SGD(model.parameters(), lr=0.1)",
     "torch.nn.utils.clip_grad_norm_"),
    ("from torch import nn, optim", "optim.SGD(model.parameters(), lr=0.1)", "nn.utils.clip_grad_norm_"),
    ("from torch.optim import SGD\nfrom torch.nn.utils import clip_grad_norm_", "SGD(model.parameters(), lr=0.1)",
     "clip_grad_norm_"),
    ("from torch.optim import SGD\nfrom torch.nn.utils import clip_grad_norm_ as clip", "SGD(model.parameters())",
     "clip"),
])
def test_gl501_writes_clip_grad_norm_as_the_file_imports_torch(tmp_path, imports, optimizer, clip):
    before = textwrap.dedent(LOOP).format(imports=imports, optimizer=optimizer)
    after = gl501_after(tmp_path, before)
    assert after is not None
    lines = after.splitlines()
    backward = lines.index("        loss.backward()")
    assert lines[backward + 1] == f"        {clip}(model.parameters(), 1.0)"
    assert lines[backward + 2] == "        optimizer.step()"
    assert after.count("import") == before.count("import")  # no import added


def test_gl501_adds_import_torch_only_where_torch_is_not_imported(tmp_path):
    after = gl501_after(tmp_path, LOOP.format(imports="from torch.optim import Adam",
                                              optimizer="Adam(model.parameters())"))
    assert after is not None
    assert after.startswith("from torch.optim import Adam\nimport torch\n")
    assert "        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n" in after


def test_gl501_clips_the_models_parameters_for_parameter_groups(tmp_path):
    optimizer = ('torch.optim.AdamW([{"params": model.encoder.parameters(), "lr": 1e-4},\n'
                 '                                   {"params": model.head.parameters()}], lr=1e-3)')
    after = gl501_after(tmp_path, LOOP.format(imports="import torch", optimizer=optimizer))
    assert after is not None and "torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)" in after


def test_gl501_reuses_a_parameter_list_but_not_a_consumed_generator(tmp_path):
    text = '''\
        import torch


        def train(model, batches):
            params = {params}
            optimizer = torch.optim.SGD(params, lr=0.1)
            for x, y in batches:
                loss = model(x).sum()
                loss.backward()
                optimizer.step()
        '''
    listed = gl501_after(tmp_path, text.format(params="[p for p in model.parameters() if p.requires_grad]"))
    assert listed is not None and "torch.nn.utils.clip_grad_norm_(params, 1.0)" in listed
    generator = gl501_after(tmp_path, text.format(params="model.parameters()"))
    assert generator is not None and "torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)" in generator


def test_gl501_inserts_before_the_step_when_backward_is_in_another_block(tmp_path):
    # gradient accumulation: clip once, just before the step
    after = gl501_after(tmp_path, '''\
        import torch


        def train(model, batches, accumulate=4):
            optimizer = torch.optim.Adam(model.parameters())
            for i, (x, y) in enumerate(batches):
                model(x).sum().backward()
                if (i + 1) % accumulate == 0:
                    optimizer.step()
                    optimizer.zero_grad()
        ''')
    assert after is not None
    assert ("        if (i + 1) % accumulate == 0:\n"
            "            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n"
            "            optimizer.step()\n") in after


@pytest.mark.parametrize("text", [
    # the parameters come from the caller: no module to name
    '''\
    import torch


    def train(params, batches):
        optimizer = torch.optim.SGD(params, lr=0.1)
        for loss in batches:
            loss.backward()
            optimizer.step()
    ''',
    # two models' parameters in one optimizer: which one is meant is not evident
    '''\
    import itertools

    import torch


    def train(encoder, decoder, batches):
        optimizer = torch.optim.Adam(itertools.chain(encoder.parameters(), decoder.parameters()))
        for loss in batches:
            loss.backward()
            optimizer.step()
    ''',
    # built by a helper and stepped elsewhere: no loop steps it here, and no trainer
    '''\
    import torch


    def make_optimizer(model):
        return torch.optim.Adam(model.parameters())
    ''',
])
def test_gl501_proposes_nothing_without_a_precise_edit(tmp_path, text):
    assert gl501_after(tmp_path, text) is None


def test_gl501_sets_max_grad_norm_of_hugging_face_training_arguments(tmp_path):
    after = gl501_after(tmp_path, '''\
        import torch
        from transformers import Trainer, TrainingArguments


        def train(model, dataset):
            args = TrainingArguments(output_dir="out", max_grad_norm=0.0)
            optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
            Trainer(model=model, args=args, train_dataset=dataset, optimizers=(optimizer, None)).train()
        ''')
    assert after is not None and 'TrainingArguments(output_dir="out", max_grad_norm=1.0)' in after


def test_gl501_adds_gradient_clip_val_to_a_trainer_in_another_file(tmp_path):
    write(tmp_path, '''\
        import lightning as L


        def fit(module, data):
            trainer = L.Trainer(max_epochs=3)
            trainer.fit(module, data)
        ''', name="fit.py")
    path = write(tmp_path, '''\
        import lightning as L
        import torch


        class Module(L.LightningModule):
            def configure_optimizers(self):
                return torch.optim.Adam(self.parameters(), lr=1e-3)
        ''', name="module.py")
    proposal = OptimizerWithoutClipping().propose(finding("GL501", path), Sources())
    assert proposal is not None
    assert edited(proposal, tmp_path / "fit.py").count("L.Trainer(max_epochs=3, gradient_clip_val=1.0)") == 1


def test_gl501_leaves_a_lightning_trainer_alone_for_an_optimizer_it_does_not_step(tmp_path):
    # the optimizer is stepped by code not seen here, not by configure_optimizers' Trainer
    write(tmp_path, """\
        import lightning as L


        def fit(module, data):
            L.Trainer(max_epochs=3).fit(module, data)
        """, name="fit.py")
    path = write(tmp_path, """\
        import torch


        def build(model):
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            return optimizer
        """, name="manual.py")
    assert OptimizerWithoutClipping().propose(finding("GL501", path), Sources()) is None


# ------------------------------------------------------------------------------- GL701 details

def gl701_after(tmp_path: Path, text: str, lr: float, held: float | None, origin: str = CONSTRUCTED) -> str | None:
    path = write(tmp_path, text)
    proposal = DivergesAtLearningRate().propose(gl701(path, lr, held, origin=origin), Sources())
    return None if proposal is None else edited(proposal, path)


def test_gl701_writes_a_positional_learning_rate(tmp_path):
    after = gl701_after(tmp_path, '''\
        import torch
        model = torch.nn.Linear(2, 2)
        optimizer = torch.optim.SGD(model.parameters(), 0.05, momentum=0.9)
        ''', 0.05, 0.05 / 3)
    assert after is not None and "torch.optim.SGD(model.parameters(), 0.0167, momentum=0.9)" in after


def test_gl701_writes_the_literal_a_name_is_assigned(tmp_path):
    after = gl701_after(tmp_path, '''\
        import torch

        LR = 3e-3  # tuned on the small model


        def main(model):
            optimizer = torch.optim.Adam(model.parameters(), lr=LR)
        ''', 3e-3, 1e-3)
    assert after is not None and "LR = 1e-3  # tuned on the small model" in after


def test_gl701_writes_a_string_argparse_default_as_a_string(tmp_path):
    after = gl701_after(tmp_path, '''\
        import argparse

        import torch

        parser = argparse.ArgumentParser()
        parser.add_argument("--learning-rate", dest="lr", type=float, default='0.05')
        args = parser.parse_args()
        optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=args.lr)
        ''', 0.05, 0.005)
    assert after is not None and "default='0.005')" in after


def test_gl701_scales_the_written_rate_behind_a_warm_up(tmp_path):
    # the dry run saw the warm-up's first rate (0.01 of a written 0.05); the same ÷3 is written
    after = gl701_after(tmp_path, '''\
        import torch
        model = torch.nn.Linear(2, 2)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
        ''', 0.01, 0.01 / 3)
    assert after is not None and "lr=0.0167)" in after


@pytest.mark.parametrize("text, origin, held", [
    # computed from other values
    ('''\
    import torch
    base_lr, batch_size = 0.1, 512
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=base_lr * batch_size / 256)
    ''', CONSTRUCTED, 0.0667),
    # an argparse default that set_defaults() overrides
    ('''\
    import argparse
    import torch
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.1)
    parser.set_defaults(lr=0.2)
    args = parser.parse_args()
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=args.lr)
    ''', CONSTRUCTED, 0.0667),
    # learning rates per parameter group
    ('''\
    import torch
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD([{"params": model.weight, "lr": 0.2}, {"params": model.bias}], lr=0.2)
    ''', CONSTRUCTED, 0.0667),
    # stated in [tool.gradlint], not in the training code
    ('''\
    import torch
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.2)
    ''', "stated in [tool.gradlint]", 0.0667),
    # no learning rate held
    ('''\
    import torch
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.2)
    ''', CONSTRUCTED, None),
    # observed at another rate than the source's (given on the command line)
    ('''\
    import torch
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.05)
    ''', "as the training run configured it", 0.0667),
])
def test_gl701_proposes_nothing_without_a_precise_edit(tmp_path, text, origin, held):
    assert gl701_after(tmp_path, text, 0.2, held, origin=origin) is None


@pytest.mark.parametrize("value, written, text", [
    (0.05 / 3, "0.05", "0.0167"), (0.005, "0.05", "0.005"), (3e-4, "1e-3", "3e-4"), (1e-4, "0.001", "1e-4"),
    (1.0 / 3, "1.0", "0.333"), (6.67, "20", "6.67"), (2e-3, "6e-3", "2e-3"), (1.5e-5, "5e-5", "1.5e-5"),
])
def test_gl701_writes_numbers_as_a_person_would(value, written, text):
    assert _lr_text(value, written) == text
