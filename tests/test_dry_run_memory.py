"""The dry run in place (issue #28's memory goal): in gradlint's worker the GL701 dry run trains
the model itself, its exact state kept in a file and put back bitwise, instead of a deep copy."""

from __future__ import annotations

import os
import random
import signal
import types

import pytest
import torch
from torch import nn

import gradlint.measure.dry_run as dry_run_module
from gradlint.core.training import OptimizerSetup
from gradlint.guard import sandbox
from gradlint.guard.model_state import Checkpoint, preserved, signals_deferred
from gradlint.measure.dry_run import dry_run

ADAMW = OptimizerSetup("AdamW", {"lr": 5.0, "weight_decay": 0.1}, "config")   # diverges, then retries
SGD = OptimizerSetup("SGD", {"lr": 50.0, "momentum": 0.9}, "config")


class _Tied(nn.Module):
    """Tied weights, a frozen parameter, BatchNorm's buffers and a buffer outside the state_dict."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.norm = nn.BatchNorm1d(16)
        self.body = nn.Linear(16, 16)
        self.frozen = nn.Linear(16, 16)
        self.frozen.requires_grad_(False)
        self.head = nn.Linear(16, 50, bias=False)
        self.head.weight = self.embed.weight
        self.register_buffer("scale", torch.tensor(1.5), persistent=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids)                               # (batch, positions, 16)
        x = self.norm(x.transpose(1, 2)).transpose(1, 2)
        return self.head(torch.tanh(self.body(x) + self.frozen(x)) * self.scale)


def _model() -> nn.Module:
    torch.manual_seed(0)
    model = _Tied()
    model(torch.randint(0, 50, (3, 6))).sum().backward()  # the user's own gradients, which must survive
    model.norm.eval()  # a submodule in its own mode
    return model


def _state(model: nn.Module) -> dict:
    tensors = {**dict(model.named_parameters(remove_duplicate=False)), **dict(model.named_buffers())}
    return {
        "values": {n: t.detach().clone() for n, t in tensors.items()},
        "versions": {n: t._version for n, t in tensors.items()},
        "identity": {n: id(t) for n, t in tensors.items()},
        "storage": {n: t.data_ptr() for n, t in tensors.items()},
        "grads": {n: (id(p.grad), None if p.grad is None else p.grad.clone())
                  for n, p in model.named_parameters()},
        "requires_grad": {n: p.requires_grad for n, p in model.named_parameters()},
        "training": {n: m.training for n, m in model.named_modules()},
        "random": (torch.get_rng_state(), random.getstate()),
    }


def _bytes(tensor: torch.Tensor) -> torch.Tensor:
    """The tensor's bits (a NaN equals itself, -0.0 differs from 0.0)."""
    return tensor.reshape(-1).view(torch.uint8)


def _assert_same(before: dict, after: dict) -> None:
    assert before["values"].keys() == after["values"].keys()
    for name, value in before["values"].items():
        got = after["values"][name]
        assert got.dtype == value.dtype and torch.equal(_bytes(got), _bytes(value)), name
    for key in ("versions", "identity", "storage", "requires_grad", "training"):
        assert after[key] == before[key], key
    for name, (grad_id, grad) in before["grads"].items():
        got_id, got = after["grads"][name]
        assert got_id == grad_id, name
        assert (grad is None and got is None) or torch.equal(grad, got), name
    assert torch.equal(after["random"][0], before["random"][0]) and after["random"][1] == before["random"][1]


def _inputs() -> dict:
    return {"ids": torch.randint(0, 50, (8, 6), generator=torch.Generator().manual_seed(3))}


def _recording(monkeypatch) -> list:
    """The folders of the Checkpoints made from now on (the dry run in place, not on copies)."""
    made, init = [], Checkpoint.__init__

    def recording(self, model, folder=None):
        init(self, model, folder)
        made.append(folder)

    monkeypatch.setattr(Checkpoint, "__init__", recording)
    return made


def _runs(result) -> list:
    return [(r.lr, r.steps, r.diverged_at, r.losses) for r in (*result.runs, *result.fixed)]


@pytest.mark.parametrize("fresh", [False, True])
def test_in_place_the_model_is_left_bitwise_as_it_was_and_the_runs_are_those_of_copies(monkeypatch, fresh):
    made = _recording(monkeypatch)
    model = _model()
    before = _state(model)
    in_place = dry_run(model, _inputs(), ADAMW, steps=12, rise=1.5, fresh=fresh, parts=2, in_place=True)
    _assert_same(before, _state(model))
    assert len(made) == 1
    copied = dry_run(_model(), _inputs(), ADAMW, steps=12, rise=1.5, fresh=fresh, parts=2, in_place=False)
    assert len(in_place.runs) + len(in_place.fixed) > 1   # it trained the model at several learning rates
    assert _runs(in_place) == _runs(copied)   # bitwise: every loss of every run
    assert (in_place.batch, in_place.positions) == (copied.batch, copied.positions)
    assert len(made) == 1   # no Checkpoint for the copies


def test_preserved_around_it_sees_no_write_and_restores_nothing(monkeypatch):
    model = _model()
    before = _state(model)
    made = _recording(monkeypatch)
    with preserved(model) as unrestored:
        dry_run(model, _inputs(), SGD, steps=10, in_place=True)
    assert unrestored == [] and len(made) == 1
    _assert_same(before, _state(model))


class _Interrupt(BaseException):
    pass


def _loss_calls(monkeypatch) -> int:
    """The losses a whole dry run of ``_model()`` (as in the test below) takes."""
    loss, calls = dry_run_module._loss, []
    monkeypatch.setattr(dry_run_module, "_loss", lambda *a, **k: calls.append(1) or loss(*a, **k))
    dry_run(_model(), _inputs(), ADAMW, steps=12, rise=1.5, in_place=False)
    monkeypatch.setattr(dry_run_module, "_loss", loss)
    return len(calls)


@pytest.mark.parametrize("share", [0.0, 0.5, 0.99])   # in the first run's first step, in a retry, the last step
@pytest.mark.parametrize("error", [KeyboardInterrupt, _Interrupt])
def test_an_interrupted_run_still_leaves_the_model_bitwise_as_it_was(monkeypatch, tmp_path, share, error):
    total = _loss_calls(monkeypatch)
    assert total > 12   # more than one run
    at = max(1, int(share * total))
    model = _model()
    before = _state(model)
    loss, calls = dry_run_module._loss, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == at:
            raise error()
        return loss(*args, **kwargs)

    monkeypatch.setattr(dry_run_module, "_loss", failing)
    monkeypatch.setattr(sandbox, "current", lambda: types.SimpleNamespace(scratch=str(tmp_path)))
    made = _recording(monkeypatch)
    with pytest.raises(error):
        dry_run(model, _inputs(), ADAMW, steps=12, rise=1.5)
    assert made == [str(tmp_path)]
    _assert_same(before, _state(model))
    assert os.listdir(tmp_path) == []   # the state file is gone too


def test_in_the_worker_the_state_goes_to_its_scratch_folder_and_outside_it_copies_are_trained(monkeypatch, tmp_path):
    made = _recording(monkeypatch)
    model = _model()
    dry_run(model, _inputs(), SGD, steps=5)   # the user's own process (check_model): copies
    assert made == []
    monkeypatch.setattr(sandbox, "current", lambda: types.SimpleNamespace(scratch=str(tmp_path)))
    saved = []
    monkeypatch.setattr(Checkpoint, "restore", lambda self, grads=False, restore=Checkpoint.restore: (
        saved.append(os.path.getsize(self.path)), restore(self, grads))[1])
    before = _state(model)
    dry_run(model, _inputs(), SGD, steps=5)
    weights = sum(t.numel() * t.element_size() for t in {*model.parameters(), *model.buffers()})
    assert made == [str(tmp_path)] and saved and min(saved) >= weights
    assert os.listdir(tmp_path) == []
    _assert_same(before, _state(model))


def test_a_model_with_lazy_parameters_is_copied():
    model = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.Linear(8, 3))
    assert Checkpoint.supported(model) is not None
    dry_run(model, {"input": torch.randn(8, 4)}, SGD, steps=3, in_place=True)
    assert isinstance(model[0], nn.LazyLinear)   # the copy was materialized, not the model


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="no SIGALRM")
def test_a_time_limit_during_a_restore_takes_effect_once_it_is_done():
    class Expired(BaseException):
        pass

    def expire(signum, frame):
        raise Expired()

    previous = signal.signal(signal.SIGALRM, expire)
    done = []
    try:
        with pytest.raises(Expired):
            with signals_deferred():
                signal.raise_signal(signal.SIGALRM)
                done.append("restored")
        assert done == ["restored"]
    finally:
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="no SIGALRM")
def test_the_model_time_limit_in_the_middle_of_a_run_leaves_the_model_as_it_was(monkeypatch, tmp_path):
    import time

    from gradlint.core.limits import ModelTimeout, time_limit

    model = _model()
    before = _state(model)
    forward, calls = _Tied.forward, []

    def slow(self, ids):
        calls.append(1)
        if len(calls) > 20:   # a few steps into the first run
            time.sleep(0.05)
        return forward(self, ids)

    monkeypatch.setattr(_Tied, "forward", slow)
    monkeypatch.setattr(sandbox, "current", lambda: types.SimpleNamespace(scratch=str(tmp_path)))
    made = _recording(monkeypatch)
    with pytest.raises(ModelTimeout):
        with time_limit(1.0):
            dry_run(model, _inputs(), ADAMW, steps=200, rise=1.5)
    assert made == [str(tmp_path)] and len(calls) > 20
    _assert_same(before, _state(model))
    assert os.listdir(tmp_path) == []
