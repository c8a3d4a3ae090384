"""GL701: a dry run of the configured optimizer on a copy of the model (issue #18), and the
project facts it reads (the optimizer found in the source, its learning rate, clipping)."""

from __future__ import annotations

import random
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import FIXTURES, run_cli
from torch import nn

from gradlint.core.training import OptimizerSetup
from gradlint.measure.dry_run import choose_setup, dry_run
from gradlint.run.config import ConfigError, Overrides, load_config, settings_for
from gradlint.source.project_facts import ProjectFacts, compute_facts

DIVERGES = "fixtures/gl701_preln_sgd/train.py:21:17: GL701 error: training diverges at the configured learning rate"


@pytest.fixture(scope="module")
def fixture_run():
    return run_cli("fixtures/gl701_preln_sgd", "fixtures/gl701_preln_sgd_small_lr",
                   "fixtures/gl701_preln_sgd_clipped", "fixtures/gl701_no_optimizer",
                   "-v", "-j", "2", "--no-cache")


def gl701_lines(run, directory: str) -> list[str]:
    return [line for line in run.stdout.splitlines() if line.startswith(f"fixtures/{directory}/") and " GL701 " in line]


def test_sgd_at_lr_005_diverges_at_the_optimizer_line_and_names_a_learning_rate_that_holds(fixture_run):
    assert fixture_run.returncode == 1, fixture_run.stderr
    (line,) = gl701_lines(fixture_run, "gl701_preln_sgd")
    assert line.startswith(DIVERGES), line
    assert "SGD(lr=0.05, momentum=0.9) (constructed here)" in line
    assert "at step 8 of a 30-step dry run" in line
    assert "lr=0.0167 (÷3) held for 30 steps" in line
    assert "(constructed here) makes `PreLNResidualMLP`'s loss grow ×" in line


def test_the_same_model_at_a_third_of_the_learning_rate_is_clean(fixture_run):
    assert gl701_lines(fixture_run, "gl701_preln_sgd_small_lr") == []
    assert "GL701 dry run: SGD(lr=0.0167, momentum=0.9), 30 steps" in fixture_run.stderr


def test_clipping_configured_in_the_project_is_applied_in_the_dry_run(fixture_run):
    assert gl701_lines(fixture_run, "gl701_preln_sgd_clipped") == []
    assert "GL701 dry run: SGD(lr=0.05, momentum=0.9, clip_grad_norm_ at 1), 30 steps" in fixture_run.stderr


def test_no_optimizer_anywhere_is_a_note_and_no_finding(fixture_run):
    assert gl701_lines(fixture_run, "gl701_no_optimizer") == []
    assert ("fixtures/gl701_no_optimizer/model.py: note: model `PreLNResidualMLP`: GL701 dry run skipped: "
            "no optimizer found in the project's source") in fixture_run.stderr


# ------------------------------------------------------------------- the user's model untouched

def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3))


def test_the_dry_run_leaves_the_model_its_gradients_and_the_random_states_as_they_were():
    model = _model()
    model(torch.randn(5, 4)).sum().backward()  # the user's own gradients, which must survive
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    grad_ids = {n: id(p.grad) for n, p in model.named_parameters()}
    model.eval()
    inputs = {"input": torch.randn(8, 4)}
    torch_state, python_state = torch.get_rng_state(), random.getstate()
    setup = OptimizerSetup("SGD", {"lr": 50.0, "momentum": 0.9}, "config")
    result = dry_run(model, inputs, setup, steps=30)
    assert result.first.diverged_at is not None and result.held is not None  # it did train copies
    assert torch.equal(torch.get_rng_state(), torch_state) and random.getstate() == python_state
    assert not model.training
    for name, parameter in model.named_parameters():
        assert torch.equal(parameter, params[name]), name
        assert torch.equal(parameter.grad, grads[name]) and id(parameter.grad) == grad_ids[name], name


def test_a_divergence_names_the_step_and_the_largest_learning_rate_that_held():
    setup = OptimizerSetup("SGD", {"lr": 50.0, "momentum": 0.9}, "config")
    result = dry_run(_model(), {"input": torch.randn(8, 4)}, setup, steps=30)
    assert result.loss == "cross-entropy" and result.batch == 8
    assert [round(r.lr, 6) for r in result.runs][:2] == [50.0, round(50 / 3, 6)]
    assert result.first.diverged_at <= 30
    assert result.held.diverged_at is None and result.held.steps == 30
    again = dry_run(_model(), {"input": torch.randn(8, 4)}, setup, steps=30)
    assert [(r.lr, r.diverged_at) for r in again.runs] == [(r.lr, r.diverged_at) for r in result.runs]


# --------------------------------------------------------------------------- where the setup comes from

def _facts(tmp_path: Path, files: dict[str, str]) -> ProjectFacts:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "tmp"\n')
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    return compute_facts(tmp_path)


def test_the_optimizer_and_its_arguments_are_read_like_constructor_arguments(tmp_path):
    facts = _facts(tmp_path, {"train.py": """
        import argparse
        import torch
        from model import Net

        parser = argparse.ArgumentParser()
        parser.add_argument("--lr", type=float, default=0.05)
        MOMENTUM = 0.9

        def main(args):
            model = Net(depth=32).to("cpu")
            optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=MOMENTUM, nesterov=True)
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.5)
        """})
    (setup,) = facts.optimizers
    assert setup.name == "SGD" and setup.origin == "source"
    assert dict(setup.hyperparameters) == {"lr": 0.05, "momentum": 0.9, "nesterov": True}
    assert (setup.location.line, setup.clip_norm, facts.owners) == (12, 0.5, ("Net",))
    assert setup.clipping_where.endswith("train.py:13")
    assert ProjectFacts.from_dict(facts.to_dict()) == facts  # travels to the worker as JSON


def test_param_groups_lightning_and_a_warm_up_scheduler(tmp_path):
    facts = _facts(tmp_path, {"lit.py": """
        import torch
        import lightning as L

        class Classifier(L.LightningModule):
            def configure_optimizers(self):
                optimizer = torch.optim.AdamW([{"params": self.parameters(), "lr": 3e-3}], lr=1e-3,
                                              betas=(0.9, 0.95))
                warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.01, total_iters=1000)
                return [optimizer], [warmup]
        """})
    (setup,) = facts.optimizers
    assert facts.owners == ("Classifier",)
    assert setup.scheduler == "LinearLR" and setup.hyperparameters["betas"] == (0.9, 0.95)
    assert setup.lr == pytest.approx(3e-3 * (0.01 + 0.99 * 29 / 1000))  # the warm-up's first steps


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)


def test_observed_then_configured_then_the_source_optimizer_naming_the_model(tmp_path):
    facts = _facts(tmp_path, {"a.py": """
        import torch
        from model import Net, Other
        model = Net()
        other = Other()
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        opt2 = torch.optim.Adam(other.parameters(), lr=1e-3)
        """})
    setup, note = choose_setup(Net(), None, None, facts)
    assert (setup.name, setup.lr, note) == ("SGD", 0.05, None)
    configured = {"name": "Adam", "hyperparameters": {"lr": 0.01}, "origin": "config", "location": None,
                  "clip_norm": None, "clip_value": None, "clipping_where": None, "scheduler": None,
                  "grad_scaler": False}
    assert choose_setup(Net(), None, configured, facts)[0].name == "Adam"
    observed = OptimizerSetup("RMSprop", {"lr": 0.1}, "observed")
    assert choose_setup(Net(), observed, configured, facts)[0] is observed


def test_several_optimizers_none_naming_the_model_is_ambiguous(tmp_path):
    facts = _facts(tmp_path, {"a.py": """
        import torch
        def f(m, n):
            torch.optim.SGD(m.parameters(), lr=0.05)
            torch.optim.Adam(n.parameters(), lr=1e-3)
        """})
    setup, note = choose_setup(Net(), None, None, facts)
    assert setup is None and "2 optimizers are constructed in the project" in note


def test_a_library_model_built_through_its_module_is_matched_to_its_optimizer_beside_another(tmp_path):
    # GPT-2 small's usual script: the class reached through its module (or a from_config builder);
    # another file of the project trains another model with its own optimizer
    facts = _facts(tmp_path, {"train.py": """
        import torch
        import transformers

        config = transformers.GPT2Config(n_layer=2)
        model = transformers.GPT2LMHeadModel(config)
        optimizer = torch.optim.AdamW(model.parameters(), lr=6e-4)
        """, "auto.py": """
        import torch
        from transformers import AutoModelForCausalLM

        lm = AutoModelForCausalLM.from_config(config)
        optimizer = torch.optim.Adam(lm.parameters(), lr=1e-4)
        """, "other.py": """
        import torch

        def fit(net):
            torch.optim.SGD(net.parameters(), lr=0.1)
        """})
    assert sorted(zip(facts.owners, (s.name for s in facts.optimizers)), key=str) == [
        ("AutoModelForCausalLM", "Adam"), ("GPT2LMHeadModel", "AdamW"), (None, "SGD")]


def test_a_model_whose_class_names_no_optimizer_takes_the_free_one_of_the_file_that_builds_it(tmp_path):
    facts = _facts(tmp_path, {"train.py": """
        import torch

        def fit(model):
            torch.optim.AdamW(model.parameters(), lr=6e-4)
        """, "other.py": """
        import torch

        def fit(net):
            torch.optim.SGD(net.parameters(), lr=0.1)
        """})
    setup, note = choose_setup(Net(), None, None, facts)
    assert setup is None and "2 optimizers are constructed in the project" in note
    setup, note = choose_setup(Net(), None, None, facts, found_in=str(tmp_path / "train.py"))
    assert (setup.name, note) == ("AdamW", None)


# ------------------------------------------------------------------------------- [tool.gradlint]

def _config(tmp_path: Path, table: str):
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.gradlint]\n" + textwrap.dedent(table))
    return load_config(path)


def test_the_configured_learning_rate_is_honoured(tmp_path):
    settings = settings_for(None, _config(tmp_path, 'optimizer = "SGD"\nlr = 0.0167\nmomentum = 0.9\n'), Overrides())
    setup, _ = choose_setup(Net(), None, settings.optimizer, None)
    assert (setup.name, setup.lr, setup.hyperparameters["momentum"], setup.origin) == ("SGD", 0.0167, 0.9, "config")
    assert setup.location.line == 2 and setup.location.path.endswith("pyproject.toml")


@pytest.mark.parametrize("table, message", [
    ('optimizer = "sgd"\n', 'must name a torch.optim optimizer'),
    ('optimizer = "SGD"\nlr = -1\n', "must not be negative"),
    ('optimizer = "SGD"\nlr = "fast"\n', "must be int or float"),
    ('optimizer = "SGD"\nmomentum = 1.5\n', "must be below 1"),
    ('lr = 0.05\n', "needs `tool.gradlint.optimizer`"),
])
def test_bad_training_settings_are_configuration_errors(tmp_path, table, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        _config(tmp_path, table)


def test_a_bad_learning_rate_in_the_configuration_exits_2(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.gradlint]\noptimizer = \"SGD\"\nlr = -0.05\n")
    (tmp_path / "model.py").write_text("x = 1\n")
    result = run_cli("model.py", cwd=tmp_path)
    assert result.returncode == 2 and "`tool.gradlint.lr` must not be negative" in result.stderr


def test_a_configured_optimizer_is_dry_run_and_reported_at_its_line(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.gradlint]\noptimizer = "SGD"\nlr = 0.05\nmomentum = 0.9\n')
    (tmp_path / "model.py").write_text((FIXTURES / "gl701_preln_sgd" / "model.py").read_text())
    result = run_cli("model.py", "--no-cache", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert ("pyproject.toml:2:1: GL701 error: training diverges at the configured learning rate: "
            "SGD(lr=0.05, momentum=0.9) (stated in [tool.gradlint]) makes `PreLNResidualMLP`'s loss") in result.stdout


def test_settings_carry_the_project_facts_and_the_configured_optimizer_to_the_worker_as_json(tmp_path):
    import json

    from gradlint.core.settings import Settings

    facts = _facts(tmp_path, {"train.py": """
        import torch
        from model import Net
        model = Net()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        """})
    settings = Settings(project=facts.to_dict(), optimizer={"name": "SGD", "hyperparameters": {"lr": 0.1},
                                                            "origin": "config", "location": None})
    again = Settings.from_dict(json.loads(json.dumps(settings.to_dict())))
    assert ProjectFacts.from_dict(again.project) == facts
    setup, _ = choose_setup(Net(), None, again.optimizer, ProjectFacts.from_dict(again.project))
    assert (setup.name, setup.lr, setup.origin) == ("SGD", 0.1, "config")


# ------------------------------------------------------------------- a skipped dry run, said once

_SMALL = """
import torch
from torch import nn


class {name}(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))
"""
SKIPPED = ("note: GL701 dry run not run for 2 models: which optimizer and learning rate train them is not "
           "known (set `optimizer` and `lr` in [tool.gradlint], or run `gradlint run -- python train.py`; "
           "-v gives each model's reason)")


@pytest.fixture
def two_models(write):
    write("first.py", _SMALL.format(name="First"))
    return write("second.py", _SMALL.format(name="Second")).parent


def test_a_dry_run_skipped_for_want_of_an_optimizer_is_one_line_for_the_whole_run(two_models):
    run = run_cli(str(two_models), "--no-cache")
    assert run.returncode == 0, run.stderr
    assert run.stderr.splitlines().count(SKIPPED) == 1, run.stderr
    assert "GL701 dry run skipped" not in run.stderr  # the per-model reasons are -v's
    verbose = run_cli(str(two_models), "--no-cache", "-v")
    assert verbose.stderr.count("GL701 dry run skipped: no optimizer found in the project's source") == 2
    assert "GL701 dry run not run for" not in verbose.stderr


def test_the_per_model_reason_stays_in_the_json(two_models):
    import json

    run = run_cli(str(two_models), "--no-cache", "--output-format", "json")
    notes = [n for f in json.loads(run.stdout)["files"] for n in f["notes"] if "GL701 dry run skipped" in n["message"]]
    assert sorted(n["model"] for n in notes) == ["First", "Second"] and all(n["detail"] for n in notes)


def test_no_skipped_line_when_gl701_is_not_selected(two_models):
    run = run_cli(str(two_models), "--no-cache", "--select", "GL101")
    assert run.returncode == 0, run.stderr
    assert "GL701" not in run.stderr


def test_no_skipped_line_when_an_optimizer_is_known(two_models):
    (two_models / "pyproject.toml").write_text('[tool.gradlint]\noptimizer = "SGD"\nlr = 0.01\n')
    run = run_cli(str(two_models), "--no-cache", "-v")
    assert run.returncode == 0, run.stderr
    assert "GL701 dry run not run" not in run.stderr and "GL701 dry run skipped" not in run.stderr
    assert run.stderr.count("GL701 dry run: SGD(lr=0.01), 30 steps") == 2, run.stderr


# ------------------------------------------------------------------- generated inputs: new batches each step

def test_generated_inputs_are_drawn_anew_each_step_so_random_labels_are_not_memorized():
    setup = OptimizerSetup("Adam", {"lr": 0.01}, "config")
    wide = nn.Sequential(nn.Linear(4, 256), nn.ReLU(), nn.Linear(256, 3))
    inputs = {"input": torch.randn(8, 4)}
    fixed = dry_run(wide, inputs, setup, steps=30)
    fresh = dry_run(wide, inputs, setup, steps=30, fresh=True, parts=4)
    assert fixed.first.last_loss < 0.1  # 8 rows of random labels, fitted
    assert fresh.first.last_loss > 0.7  # new rows and labels each step: near log(3), as they should be
    assert (fixed.batch, fresh.batch, fresh.fresh) == (8, 32, True)


def test_new_batches_each_step_leave_the_model_its_gradients_and_the_random_states_as_they_were():
    model = _model()
    model(torch.randn(5, 4)).sum().backward()
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    inputs = {"input": torch.randn(8, 4)}
    before = inputs["input"].clone()
    torch_state, python_state = torch.get_rng_state(), random.getstate()
    result = dry_run(model, inputs, OptimizerSetup("SGD", {"lr": 50.0, "momentum": 0.9}, "config"),
                     steps=30, fresh=True, parts=2)
    assert result.first.diverged_at is not None
    assert torch.equal(torch.get_rng_state(), torch_state) and random.getstate() == python_state
    assert torch.equal(inputs["input"], before)
    for name, parameter in model.named_parameters():
        assert torch.equal(parameter, params[name]) and torch.equal(parameter.grad, grads[name]), name


def test_the_detail_line_says_which_batches_the_dry_run_used(write):
    path = write("model.py", _SMALL.format(name="Net") + textwrap.dedent("""

        def gradlint_models():
            return {"given": (Net(), torch.randn(8, 4))}
        """))
    (path.parent / "pyproject.toml").write_text('[tool.gradlint]\noptimizer = "SGD"\nlr = 0.01\n')
    other = write("other.py", _SMALL.format(name="Other"))
    run = run_cli(str(path), str(other), "--no-cache", "-v")
    assert "model `given`: GL701 dry run: SGD(lr=0.01), 30 steps on the captured batch of 8 with" in run.stderr, run.stderr
    assert ("model `Other`: GL701 dry run: SGD(lr=0.01), 30 steps on new generated batches (32 rows) each "
            "step with") in run.stderr, run.stderr


def test_a_script_that_trains_its_model_in_a_function_gets_its_own_optimizer(write):
    """A script that defines a model and trains it in ``train(model)`` (the optimizer names no
    model class) while the project constructs other optimizers elsewhere: the one in the model's
    own file is the model's, and its dry run diverges."""
    from gradlint.rules import RULES_BY_CODE

    script = textwrap.dedent(RULES_BY_CODE["GL701"].invalid)
    script = script.replace("def main():\n    model = PreLN()\n    optimizer =", "def train(model):\n    optimizer =")
    assert "def train(model):" in script
    path = write("script.py", script)
    write("other.py", "import torch\n\n\ndef fit(params):\n    return torch.optim.Adam(params, lr=1e-3)\n")
    run = run_cli("script.py", "--no-cache", "--select", "GL701", cwd=path.parent)
    line = next(n for n, text in enumerate(script.splitlines(), 1) if "torch.optim.SGD" in text)
    assert f"script.py:{line}:" in run.stdout and "GL701 error" in run.stdout, run.stdout + run.stderr
    assert "GL701 dry run not run" not in run.stderr
    # the same script beside a second optimizer of its own file: which one is not known
    write("script.py", script + "\n\ndef tune(model):\n    return torch.optim.Adam(model.parameters(), lr=1e-4)\n")
    run = run_cli("script.py", "--no-cache", "--select", "GL701", cwd=path.parent)
    assert "GL701" not in run.stdout
    assert "note: GL701 dry run not run for 1 model: which optimizer and learning rate train it" in run.stderr


# ------------------------------------------------------------------- the data's scale (input-std)

_REGRESSOR = """
from torch import nn


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 1, bias=False)

    def forward(self, x):
        return self.fc(x)
"""


def test_a_stated_input_scale_is_what_the_probe_and_the_dry_run_draw(write):
    """Plain SGD on least squares is stable below lr = 1/λ, λ the inputs' second moment: at
    lr 1.5 the dry run blows up on standard-normal inputs (λ ≈ 1) and holds on data of std 0.5
    (λ ≈ 0.25), stated in the configuration or on the command line."""
    path = write("model.py", _REGRESSOR)
    (path.parent / "pyproject.toml").write_text('[tool.gradlint]\noptimizer = "SGD"\nlr = 1.5\n')
    run = run_cli("model.py", "--no-cache", "--select", "GL701", "-v", cwd=path.parent)
    assert run.returncode == 1 and "pyproject.toml:2:1: GL701 error: training diverges" in run.stdout, run.stdout
    assert "new generated batches (32 rows) each step" in run.stderr and "std" not in run.stderr

    (path.parent / "pyproject.toml").write_text('[tool.gradlint]\noptimizer = "SGD"\nlr = 1.5\n\n'
                                                '[tool.gradlint.probe]\ninput-std = 0.5\n')
    run = run_cli("model.py", "--no-cache", "--select", "GL701", "-v", cwd=path.parent)
    assert run.returncode == 0 and "GL701" not in run.stdout, run.stdout
    assert "inferred example inputs: x: float32[8, 4] (floating values at std 0.5)" in run.stderr, run.stderr
    assert ("GL701 dry run: SGD(lr=1.5), 30 steps on new generated batches (32 rows, floating values at "
            "std 0.5) each step with MSE on random targets: loss") in run.stderr, run.stderr

    (path.parent / "pyproject.toml").write_text('[tool.gradlint]\noptimizer = "SGD"\nlr = 1.5\n')
    run = run_cli("model.py", "--no-cache", "--select", "GL701", "--input-std", "0.5", cwd=path.parent)
    assert run.returncode == 0 and "GL701" not in run.stdout, run.stdout


def test_generated_inputs_are_scaled_but_ids_masks_and_constant_states_are_not():
    from gradlint.tracing.inputs import candidate_inputs

    model = nn.LSTM(4, 8, batch_first=True)
    plain = next(candidate_inputs(model, 8, 16, 0))
    half = next(candidate_inputs(model, 8, 16, 0, std=0.5))
    assert torch.equal(half["input"], plain["input"] * 0.5)
    embedding = nn.Sequential(nn.Embedding(50, 8), nn.Linear(8, 2))
    ids = next(candidate_inputs(embedding, 8, 16, 0, std=0.5))
    assert not next(iter(ids.values())).is_floating_point()
    assert torch.equal(next(iter(ids.values())), next(iter(next(candidate_inputs(embedding, 8, 16, 0)).values())))


@pytest.mark.parametrize("value, message", [("0", "must be positive"), ("-1", "must not be negative"),
                                            ('"half"', "must be int or float")])
def test_a_bad_input_scale_is_a_configuration_error_and_exits_2(tmp_path, value, message):
    (tmp_path / "pyproject.toml").write_text(f"[tool.gradlint.probe]\ninput-std = {value}\n")
    (tmp_path / "model.py").write_text("x = 1\n")
    result = run_cli("model.py", cwd=tmp_path)
    assert result.returncode == 2 and f"`tool.gradlint.probe.input-std` {message}" in result.stderr, result.stderr
    result = run_cli("model.py", "--isolated", "--input-std", "0", cwd=tmp_path)
    assert result.returncode == 2 and "--input-std" in result.stderr, result.stderr


@pytest.mark.parametrize("schedule, scheduler, lr", [
    ("torch.optim.lr_scheduler.LinearLR(optimizer, 0.1, 1.0, 100)", "LinearLR", 0.1 * (0.1 + 0.9 * 29 / 100)),
    ("torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.01, total_steps=1000)", "OneCycleLR",
     0.01 / 25 + (0.01 - 0.01 / 25) * 29 / 300),
    ("get_linear_schedule_with_warmup(optimizer, 300, 1000)", "get_linear_schedule_with_warmup", 0.1 * 30 / 300),
])
def test_a_warm_up_gives_the_learning_rate_its_first_30_steps_reach(tmp_path, schedule, scheduler, lr):
    (tmp_path / "train.py").write_text(textwrap.dedent(f"""
        import torch
        from transformers import get_linear_schedule_with_warmup

        def fit(model):
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            schedule = {schedule}
        """))
    (setup,) = compute_facts(tmp_path).optimizers
    assert setup.scheduler == scheduler and setup.lr == pytest.approx(lr)


def test_a_warm_up_named_beside_the_optimizer_in_a_hydra_config_is_applied(tmp_path):
    (tmp_path / "model.yaml").write_text(
        "_target_: lit.LitModel\n"
        "optimizer:\n  _target_: torch.optim.SGD\n  _partial_: true\n  lr: 0.1\n"
        "scheduler:\n  _target_: torch.optim.lr_scheduler.LinearLR\n  _partial_: true\n"
        "  start_factor: 0.1\n  total_iters: 100\n")
    facts = compute_facts(tmp_path)
    (setup,) = facts.optimizers
    assert (setup.scheduler, facts.owners, setup.location.line) == ("LinearLR", ("LitModel",), 3)
    assert setup.lr == pytest.approx(0.1 * (0.1 + 0.9 * 29 / 100))


# ------------------------------------------------- a learning rate that wrecks the loss without NaN

def test_adamw_at_an_sgd_learning_rate_raises_the_loss_without_nan_and_a_smaller_one_that_makes_progress_is_named():
    # the classic word-level LSTM example's lr (20, for plain SGD), kept when its script moved to
    # AdamW: real training climbs from 9.2 to the hundreds without a NaN (the fixture's docstring)
    run = run_cli("fixtures/gl701_lstm_adamw", "--no-cache")
    assert run.returncode == 1, run.stderr
    (line,) = [line for line in run.stdout.splitlines() if " GL701 " in line]
    assert line.startswith("fixtures/gl701_lstm_adamw/train.py:38:17: GL701 error: training diverges at the "
                           "configured learning rate: AdamW(lr=20) (constructed here) makes `RNNModel`'s loss rise "
                           "from 9.21 to "), line
    assert "over a 30-step dry run on one batch of 32 with fixed targets; lr=0.2 (÷100) held on the same batch" in line


def test_a_learning_rate_that_suits_adamw_is_not_flagged_and_costs_no_fixed_batch_run():
    import sys

    sys.path.insert(0, str(FIXTURES / "gl701_lstm_adamw"))
    try:
        from model import RNNModel
    finally:
        sys.path.pop(0)
    torch.manual_seed(0)
    setup = OptimizerSetup("AdamW", {"lr": 2e-3}, "config")
    result = dry_run(RNNModel(2000, 64, 64), {"input": torch.randint(0, 2000, (16, 8))}, setup, rise=100.0,
                     fresh=True, parts=2)
    assert not result.diverged and result.first.end_loss < 1.01 * result.first.first_loss  # random targets: flat
    assert result.fixed == ()  # it ended below its start: the rise test had nothing to test


class _RisingLoss(nn.Module):
    """Computes its own loss, which rises with every call whatever the step: not a step size."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 1)
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, x):
        self.calls += 1
        return (self.fc(x) ** 2).mean() * 0 + self.calls


def test_a_loss_that_rises_at_every_learning_rate_is_not_the_step_size():
    setup = OptimizerSetup("SGD", {"lr": 0.1}, "config")
    result = dry_run(_RisingLoss(), {"x": torch.randn(8, 4)}, setup, rise=1.5)  # the captured batch: no fixed runs
    assert result.loss == "the model's own loss"
    assert all(r.rose for r in result.runs) and len(result.runs) == 7
    assert not result.diverged


def test_the_dry_run_descends_the_loss_a_hugging_face_model_computes_from_its_labels():
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=100, n_positions=32, resid_pdrop=0.0,
                                     embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config)
    ids = torch.randint(0, 100, (4, 16))
    setup = OptimizerSetup("AdamW", {"lr": 1e-3}, "config")
    result = dry_run(model, {"input_ids": ids, "labels": ids}, setup, steps=5, rise=1.5)
    # a loss term per token: the first 2 of its 4 rows give 32 terms, more than the 4 it asks for
    assert result.loss == "the model's own loss" and result.batch == 2
    with torch.no_grad():
        assert abs(result.first.first_loss - float(model(input_ids=ids[:2], labels=ids[:2]).loss)) < 1e-4


class _TokenModel(nn.Module):
    """Logits at every position of a batch-first sequence of token ids."""

    def __init__(self, batch_first: bool = True):
        super().__init__()
        self.embed, self.rnn = nn.Embedding(100, 32), nn.GRU(32, 32, batch_first=batch_first)
        self.head = nn.Linear(32, 100)

    def forward(self, ids):
        return self.head(self.rnn(self.embed(ids))[0])


def test_a_loss_term_per_position_takes_the_rows_that_give_the_terms_of_a_step_not_four_batches():
    setup = OptimizerSetup("AdamW", {"lr": 1e-3}, "config")
    torch.manual_seed(0)
    per_token = dry_run(_TokenModel(), {"ids": torch.randint(0, 100, (8, 16))}, setup, steps=5, fresh=True,
                        parts=4)
    # 4 batches of 8 rows would be 32 loss terms for a class per row; 2 rows of 16 positions give them
    assert (per_token.batch, per_token.positions, per_token.fresh) == (2, 16, True)
    # a sequence-first layout: the leading dimension is time (swapping two steps does not swap their
    # outputs), so nothing is cut: 4 batches of 16 steps × 8 rows, as before
    time_first = dry_run(_TokenModel(batch_first=False), {"ids": torch.randint(0, 100, (16, 8))}, setup,
                         steps=5, fresh=True, parts=4)
    assert time_first.batch == 16 * 4
    # a class per row: 4 batches of 8, as the evaluation suite set them
    rows = dry_run(nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 3)), {"input": torch.randn(8, 4)}, setup, steps=5,
                   fresh=True, parts=4)
    assert rows.batch == 32
