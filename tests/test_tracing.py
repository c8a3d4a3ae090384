"""What a library release can change under a model: the parts tracing reaches, and what the
output says when it does not reach them."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import run_cli
from torch import nn

import gradlint

# transformers >= 5.25 routes functions such as apply_rotary_pos_emb through the `kernels` hub: the
# function becomes an nn.Module instance kept in a global, called from the attention's forward but
# installed in no model. The same shape, without either library:
FUNCTION_MODULE = """
import pytest
import torch
from torch import nn


class Func(nn.Module):
    def __init__(self, func):
        super().__init__()
        self.func = func

    def forward(self, *args, **kwargs):
        return self.func(*args, **kwargs)


def _rotate(q, k):
    return q * k.sigmoid(), k * q.sigmoid()


rotate = Func(_rotate)   # a module, but no model's submodule


class Attention(nn.Module):
    def __init__(self, width=16):
        super().__init__()
        self.q = nn.Linear(width, width)
        self.k = nn.Linear(width, width)
        self.out = nn.Linear(width, width)

    def forward(self, x):
        q, k = rotate(self.q(x), self.k(x))
        return self.out(torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ x)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = Attention()
        self.norm = nn.LayerNorm(16)

    def forward(self, x):
        return x + self.attention(self.norm(x))
"""


def test_a_module_outside_the_models_tree_is_traced_through(write):
    path = write("function_module.py", FUNCTION_MODULE)
    result = run_cli("function_module.py::Block", "--output-format", "json", "-v", cwd=path.parent)
    document = json.loads(result.stdout)
    (status,) = document["files"][0]["model_status"]
    assert status["status"] == "checked", status
    assert status["coverage"] == 1.0
    assert not [n for n in document["files"][0]["notes"] if "opaque" in n["message"]]


class _Untraceable(nn.Module):
    """Fine when run, but its forward refuses anything that is not a tensor (a tracer's proxy)."""

    def __init__(self) -> None:
        super().__init__()
        self.big = nn.Linear(64, 64)

    def forward(self, x):
        if not isinstance(x, torch.Tensor):
            raise TypeError("expected a tensor")
        return torch.tanh(self.big(x))


class _MostlyOpaque(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = _Untraceable()
        self.head = nn.Linear(64, 4)

    def forward(self, x):
        return self.head(self.inner(x))


def test_a_model_traced_over_less_than_90_percent_of_its_parameters_is_not_checked():
    report = gradlint.check_model(_MostlyOpaque(), torch.randn(8, 64))
    assert report.coverage is not None and report.coverage < 0.1
    assert report.status == "partly traced"
    assert "`inner` could not be traced and is one opaque node (expected a tensor)" in report.notes
    assert report.partly_traced.startswith("6% of its parameters traced")


class _PinnedPrecision(nn.Module):
    """Pins its precision the way transformers < 5.4's rotary embeddings do: an autocast on the
    input's own device, which is `meta` when the model is checked there."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(8, 8)

    def forward(self, x):
        with torch.autocast(device_type=x.device.type, enabled=False):
            y = self.proj(x.float())
        return torch.relu(y)


def test_an_autocast_on_the_meta_device_is_a_no_op_while_a_model_there_is_checked():
    import pytest

    torch_autocast = dict(vars(torch.amp.autocast_mode.autocast))
    with torch.device("meta"):
        model = _PinnedPrecision()
    report = gradlint.check_model(model, torch.randn(2, 8, device="meta"))
    assert report.status == "structure-only" and report.problem is None and report.coverage == 1.0
    assert any("meta device" in note for note in report.notes)
    # only for as long as gradlint runs the model: torch's autocast is its own again afterwards
    assert dict(vars(torch.amp.autocast_mode.autocast)) == torch_autocast
    with pytest.raises(RuntimeError):
        torch.autocast(device_type="meta", enabled=False)


GPT2_SCRIPT = """
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

config = GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=500, n_positions=64)   # use_cache=True
model = GPT2LMHeadModel(config)
x = torch.randint(0, 500, (2, 16))
loss = model(x, labels=x).loss
"""


def test_a_causal_lm_with_its_default_cache_called_with_labels_is_checked(write):
    pytest.importorskip("transformers")
    path = write("train.py", GPT2_SCRIPT)
    result = run_cli("train.py", "--output-format", "json", cwd=path.parent)
    document = json.loads(result.stdout)
    (status,) = document["files"][0]["model_status"]
    assert status["status"] == "checked", status
    assert status["inputs_from"] == "the file's own call at train.py:9"
    assert status["coverage"] == 1.0 and status["span"]["layers_in_span"] == status["span"]["layers_in_model"]
    assert result.returncode == 0
