"""Property-based tests: random architectures never crash gradlint, and give the same answer twice.

The default profile tries 30 architectures per test; HYPOTHESIS_PROFILE=long tries 500
(`HYPOTHESIS_PROFILE=long python -m pytest tests/test_fuzz.py`).
"""

from __future__ import annotations

import os

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import gradlint
from gradlint.settings import Settings

settings.register_profile("default", max_examples=30, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=500, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

ACTIVATIONS = [nn.ReLU, nn.Sigmoid, nn.Tanh, nn.GELU, nn.SiLU, nn.ELU, nn.LeakyReLU, nn.Hardtanh,
               nn.Softsign, nn.Hardsigmoid, nn.Mish, nn.Softplus, nn.SELU, nn.PReLU, nn.Identity]
NORMS = [None, nn.LayerNorm, nn.BatchNorm1d, lambda w: nn.GroupNorm(2, w), nn.RMSNorm]


class Random(nn.Module):
    def __init__(self, spec: dict) -> None:
        super().__init__()
        width = spec["width"]
        self.spec = spec
        self.layers = nn.ModuleList(nn.Linear(width, width) for _ in range(spec["depth"]))
        self.acts = nn.ModuleList(spec["activation"]() for _ in range(spec["depth"]))
        norm = spec["norm"]
        self.norms = nn.ModuleList(norm(width) if norm else nn.Identity() for _ in range(spec["depth"]))
        self.branch = nn.Linear(width, width) if spec["branch"] else None
        self.rnn = spec["recurrent"](width, width, batch_first=True) if spec["recurrent"] else None
        for layer in self.layers:
            nn.init.normal_(layer.weight, std=spec["scale"] / width ** 0.5)

    def forward(self, x):
        if self.rnn is not None:
            x, _ = self.rnn(x)
            x = x[:, -1]
        for i, (layer, act, norm) in enumerate(zip(self.layers, self.acts, self.norms)):
            h = act(norm(layer(x)))
            x = x + h if self.spec["residual"] and i % 2 else h
        if self.branch is not None:
            x = torch.cat([x, self.branch(x)], dim=-1) if self.spec["cat"] else x * torch.sigmoid(self.branch(x))
        return x


specs = st.fixed_dictionaries({
    "width": st.sampled_from([4, 8, 16]),
    "depth": st.integers(1, 12),
    "activation": st.sampled_from(ACTIVATIONS),
    "norm": st.sampled_from(NORMS),
    "residual": st.booleans(),
    "branch": st.booleans(),
    "cat": st.booleans(),
    "scale": st.sampled_from([0.05, 0.5, 1.0, 1.5, 4.0]),
    "recurrent": st.sampled_from([None, None, nn.RNN, nn.GRU, nn.LSTM]),
})


def run(spec: dict, seed: int):
    torch.manual_seed(seed)
    model = Random(spec)
    shape = (4, 6, spec["width"]) if spec["recurrent"] else (4, spec["width"])
    inputs = torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
    report = gradlint.check_model(model, inputs, settings=Settings(seed=seed))
    return [(f.code, str(f.severity), f.message, f.probe.text if f.probe else None) for f in report.findings], report


@given(spec=specs, seed=st.integers(0, 3))
def test_random_architectures_never_crash_and_are_deterministic(spec, seed):
    first, report = run(spec, seed)
    assert report.problem is None, report.problem
    assert report.coverage == 1.0
    second, _ = run(spec, seed)
    assert first == second


@given(spec=specs)
def test_structural_verdicts_agree_with_the_probe_when_confirmed(spec):
    _, report = run(spec, 0)
    for finding in report.findings:
        probe = finding.probe
        if probe is None or probe.measured_d is None or finding.static_d is None:
            continue
        if probe.confirmed and finding.code in ("GL101", "GL201"):
            # a confirmed finding's measurement points the same way as its prediction
            assert probe.measured_d * finding.static_d > 0, finding.message
