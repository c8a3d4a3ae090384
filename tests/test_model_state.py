"""``gradlint.check_model`` (and a file checked through the engine) leaves the user's model as it
found it: parameters and buffers, ``.grad``s, ``requires_grad``, each submodule's train/eval mode,
in-place flags, and the global random states."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import gradlint
from gradlint.check.engine import lint_model_file
from gradlint.core.settings import Settings

NET = """\
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Linear(16, 32), nn.BatchNorm1d(32), nn.ReLU(inplace=True))
        self.body = nn.Sequential(nn.Linear(32, 32), nn.BatchNorm1d(32), nn.ReLU(inplace=True),
                                  nn.Dropout(0.5))
        self.head = nn.Linear(32, 4)

    def forward(self, x):
        x = self.stem(x)
        x = torch.relu_(self.body(x))   # functional in-place too
        return self.head(x)


def build():
    torch.manual_seed(1)
    net = Net()
    net(torch.randn(8, 16))                            # running statistics exist
    for parameter in net.parameters():                 # and .grads (no backward(): a file that
        parameter.grad = torch.randn_like(parameter)   # calls it at import is stopped there)
    net.stem[0].weight.grad = None                     # None must stay None
    net.head.bias.requires_grad_(False)                # a frozen parameter
    net.head.bias.grad = None
    net.train()
    net.body.eval()                                    # mixed modes
    net.stem[2].eval()
    return net
"""


def snapshot(model: nn.Module) -> dict:
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "storage": {k: (p.data_ptr(), p.device) for k, p in model.named_parameters()},
        "modes": {k: m.training for k, m in model.named_modules()},
        "inplace": {k: m.inplace for k, m in model.named_modules() if hasattr(m, "inplace")},
        "requires_grad": {k: p.requires_grad for k, p in model.named_parameters()},
        "grads": {k: None if p.grad is None else (id(p.grad), p.grad.clone())
                  for k, p in model.named_parameters()},
        "torch_rng": torch.get_rng_state(),
        "random": random.getstate(),
        "numpy": np.random.get_state()[1].copy(),
    }


def assert_unchanged(before: dict, after: dict) -> None:
    assert before["state"].keys() == after["state"].keys()
    for key, value in before["state"].items():
        assert torch.equal(value, after["state"][key]), f"{key} changed"
    for field in ("storage", "modes", "inplace", "requires_grad", "random"):
        assert before[field] == after[field], field
    assert before["grads"].keys() == after["grads"].keys()
    for key, grad in before["grads"].items():
        if grad is None:
            assert after["grads"][key] is None, f"{key}.grad appeared"
        else:
            assert after["grads"][key][0] == grad[0], f"{key}.grad is another tensor"
            assert torch.equal(after["grads"][key][1], grad[1]), f"{key}.grad changed"
    assert torch.equal(before["torch_rng"], after["torch_rng"])
    assert np.array_equal(before["numpy"], after["numpy"])


@pytest.fixture
def build(tmp_path: Path):
    (tmp_path / "net_under_test.py").write_text(NET)
    sys.path.insert(0, str(tmp_path))
    import net_under_test

    yield net_under_test.build
    sys.path.remove(str(tmp_path))
    sys.modules.pop("net_under_test", None)


def test_check_model_leaves_the_model_as_it_found_it(build) -> None:
    model = build()
    x = torch.randn(8, 16)
    x_before = x.clone()
    assert model.stem[1].num_batches_tracked.item() == 1
    random.seed(7)
    np.random.seed(7)
    before = snapshot(model)

    report = gradlint.check_model(model, x)

    assert report.problem is None and report.tracer is not None
    assert not any("in place" in note for note in report.notes)
    assert_unchanged(before, snapshot(model))
    assert torch.equal(x, x_before)
    # the restored model checks the same again (test_the_guard_is_what_keeps_it shows what the
    # same check changes without the guard)
    again = gradlint.check_model(model, x)
    assert [f.message for f in again.findings] == [f.message for f in report.findings]
    assert_unchanged(before, snapshot(model))


def test_the_guard_is_what_keeps_it(build, monkeypatch) -> None:
    """Without the guard the same check changes the model (so the test above can fail)."""
    import contextlib

    import gradlint.check.engine

    monkeypatch.setattr(gradlint.check.engine, "preserved", lambda model: contextlib.nullcontext([]))
    model = build()
    before = snapshot(model)
    gradlint.check_model(model, torch.randn(8, 16))
    after = snapshot(model)
    assert after["inplace"] == {**before["inplace"], "stem.2": False, "body.2": False}
    assert after["modes"]["body"] is True and before["modes"]["body"] is False
    assert after["state"]["body.1.num_batches_tracked"] > before["state"]["body.1.num_batches_tracked"]
    assert not torch.equal(after["torch_rng"], before["torch_rng"])


def test_a_forward_that_writes_its_parameters_is_named(build) -> None:
    """An EMA-style update inside forward cannot be undone without a copy: the report says so."""
    model = build()

    class Averaging(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner
            self.shadow = nn.Linear(4, 4)

        def forward(self, x):
            with torch.no_grad():
                self.shadow.weight.mul_(0.5)
            return self.shadow(self.inner(x))

    wrapped = Averaging(model)
    report = gradlint.check_model(wrapped, torch.randn(8, 16))
    assert any("`shadow.weight` in place" in note for note in report.notes), report.notes


def test_a_file_checked_through_the_engine_leaves_its_model_alone(build, tmp_path: Path) -> None:
    """Two entries of gradlint_models() sharing one model: after both were checked, the model is
    the one a fresh build gives (same seed), mode for mode and statistic for statistic."""
    (tmp_path / "models.py").write_text(
        "import torch\nimport net_under_test\n\nNET = net_under_test.build()\n\n"
        "def gradlint_models():\n"
        "    return {'first': (NET, torch.randn(8, 16)), 'again': (NET, torch.randn(8, 16))}\n")
    result = lint_model_file(tmp_path / "models.py", None, Settings())
    assert result.problems == []
    assert result.models == ["first", "again"]
    module = next(m for m in list(sys.modules.values())
                  if getattr(m, "__file__", None) == str(tmp_path / "models.py"))
    checked, fresh = snapshot(module.NET), snapshot(build())
    for key, value in fresh["state"].items():
        assert torch.equal(value, checked["state"][key]), f"{key} changed"
    for field in ("modes", "inplace", "requires_grad"):
        assert checked[field] == fresh[field], field
    for key, grad in fresh["grads"].items():
        assert (checked["grads"][key] is None) == (grad is None), key
        if grad is not None:
            assert torch.equal(checked["grads"][key][1], grad[1]), f"{key}.grad changed"


def test_a_lazy_module_stays_materialized_and_the_report_says_so() -> None:
    model = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.Linear(8, 2))
    report = gradlint.check_model(model, torch.randn(8, 4))
    assert report.notes == ["its lazy parameters (`0.weight`, `0.bias`) were materialized by the "
                            "forward, as the first training step would"]
    assert model[0].weight.shape == (8, 4)
    assert model(torch.randn(3, 4)).shape == (3, 2)
