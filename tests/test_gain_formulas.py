"""The static gain estimate against a direct measurement on small models (THEORY.md §1).

Each case compares the predicted D over the model's main span with the probe's measured D on
the same span; the tolerance is |ΔD| ≤ 0.5 (a factor of 3) unless a case says why it is wider.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import gradlint
from gradlint.measure.probe import probe_graph, probe_recurrence
from gradlint.passes.analysis import analyze
from gradlint.tracing.graph import build_graph
from gradlint.tracing.trace import trace


class Plain(nn.Module):
    def __init__(self, depth, width, activation, init=None, norm=None):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))
        self.norms = nn.ModuleList(norm(width) if norm else nn.Identity() for _ in range(depth))
        self.activation = activation
        for layer in self.layers:
            if init:
                init(layer.weight)
                nn.init.zeros_(layer.bias)

    def forward(self, x):
        for layer, norm in zip(self.layers, self.norms):
            x = self.activation(norm(layer(x)))
        return x


class Residual(nn.Module):
    def __init__(self, depth, width, zero_last):
        super().__init__()
        self.fc1 = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))
        self.fc2 = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))
        for a, b in zip(self.fc1, self.fc2):
            nn.init.kaiming_normal_(a.weight, nonlinearity="relu")
            nn.init.kaiming_normal_(b.weight, nonlinearity="relu")
            if zero_last:
                nn.init.zeros_(b.weight)

    def forward(self, x):
        for a, b in zip(self.fc1, self.fc2):
            x = x + b(torch.relu(a(x)))
        return x


def scaled(scale):
    return lambda w: nn.init.normal_(w, std=scale / w.shape[1] ** 0.5)


CASES = {
    "20-layer ReLU, default init": (lambda: Plain(20, 256, torch.relu), 0.5),
    "20-layer ReLU, kaiming": (lambda: Plain(20, 256, torch.relu, lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu")), 0.5),
    # finite-batch BN explodes faster than the large-batch rate π/(π−1) the prediction uses
    "20-layer BN-ReLU plain stack": (lambda: Plain(20, 256, torch.relu, norm=nn.BatchNorm1d), 1.0),
    "residual, He-init branches": (lambda: Residual(16, 128, zero_last=False), 0.5),
    "residual, zero-initialized branch ends": (lambda: Residual(16, 128, zero_last=True), 0.5),
    "tanh, σ_w = 0.5": (lambda: Plain(12, 256, torch.tanh, scaled(0.5)), 0.5),
    "tanh, σ_w = 1.0": (lambda: Plain(12, 256, torch.tanh, scaled(1.0)), 0.5),
    "tanh, σ_w = 2.0": (lambda: Plain(12, 256, torch.tanh, scaled(2.0)), 0.5),
    "sigmoid, σ_w = 1.0": (lambda: Plain(6, 256, torch.sigmoid, scaled(1.0)), 0.5),
    "sigmoid, σ_w = 4.0": (lambda: Plain(6, 256, torch.sigmoid, scaled(4.0)), 0.5),
}


@pytest.mark.parametrize("name", list(CASES))
def test_predicted_gain_matches_the_measurement(name):
    factory, tolerance = CASES[name]
    torch.manual_seed(0)
    model = factory()
    width = model.layers[0].in_features if hasattr(model, "layers") else model.fc1[0].in_features
    x = torch.randn(64, width, generator=torch.Generator().manual_seed(0))
    traced = trace(model, {"x": x})
    analysis = analyze(build_graph(traced), traced.graph_module, {"x": 1.0})
    start, end = analysis.main_span
    predicted = analysis.backward_gain(start, end)
    measured = probe_graph(traced.graph_module, {"x": x}, 0).span_d(start, end)
    assert abs(predicted - measured) <= tolerance, (predicted, measured)


class ReluEnds(nn.Module):
    """x + relu(fc(x)): every branch adds the same positive offset to all units."""

    def __init__(self, depth, width):
        super().__init__()
        self.fcs = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))

    def forward(self, x):
        for fc in self.fcs:
            x = x + torch.relu(fc(x))
        return x


# Each block multiplies the stream by a random factor at finite width: over 8 seeds the He-init
# residual stack (16 blocks, width 128) spreads by up to 0.30 in log10 around the prediction,
# the ReLU-ends stacks by under 0.08.
FORWARD_CASES = {
    "x + relu(fc(x)), default init, 8 blocks": (lambda: ReluEnds(8, 64), 0.15),
    "x + relu(fc(x)), default init, 16 blocks": (lambda: ReluEnds(16, 64), 0.15),
    "residual, He-init branches": (lambda: Residual(16, 128, zero_last=False), 0.35),
    "residual, zero-initialized branch ends": (lambda: Residual(16, 128, zero_last=True), 0.15),
}


@pytest.mark.parametrize("name", list(FORWARD_CASES))
def test_predicted_stream_growth_matches_the_measurement(name):
    """The forward RMS growth along the residual stream (GL203): the mean-field second moment
    with the units' shared mean, against the probe's forward RMS, within the case's tolerance
    (log10; 0.15 is a factor of 1.4)."""
    factory, tolerance = FORWARD_CASES[name]
    torch.manual_seed(0)
    model = factory()
    width = model.fcs[0].in_features if hasattr(model, "fcs") else model.fc1[0].in_features
    x = torch.randn(64, width, generator=torch.Generator().manual_seed(0))
    traced = trace(model, {"x": x})
    analysis = analyze(build_graph(traced), traced.graph_module, {"x": 1.0})
    start, end = analysis.main_span
    q = analysis.meanfield
    predicted = 0.5 * math.log10(q[end][0] / q[start][0])
    rms = probe_graph(traced.graph_module, {"x": x}, 0).forward_rms
    measured = math.log10(rms[end] / rms[start])
    assert abs(predicted - measured) <= tolerance, (predicted, measured)


@pytest.mark.parametrize("radius", [0.5, 0.9, 1.0, 1.1])
def test_vanilla_rnn_per_step_gain_is_bounded_by_the_spectral_radius(radius):
    """GL301's estimate ρ·γ over T steps is an upper bound for tanh (φ' ≤ 1): the measured D_T
    never exceeds it by more than 0.5, and for ρ < 1 both say "vanishing"."""
    torch.manual_seed(0)
    rnn = nn.RNN(32, 64, batch_first=True)
    with torch.no_grad():
        q, _ = torch.linalg.qr(torch.randn(64, 64))
        rnn.weight_hh_l0.copy_(radius * q)
    horizon = 50
    predicted = (horizon - 1) * math.log10(radius)
    measured = probe_recurrence(rnn, horizon, 16, 0)
    assert measured <= predicted + 0.5
    if radius < 1:
        assert measured < -2


def test_small_batches_take_the_median_of_several_probes(monkeypatch):
    from gradlint.measure import probe as probe_module

    calls = []
    real = probe_module.probe_graph
    monkeypatch.setattr(probe_module, "probe_graph", lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    model = Plain(6, 32, torch.relu)
    traced = trace(model, {"x": torch.randn(4, 32)})
    small = probe_module.probe(traced.graph_module, {"x": torch.randn(4, 32)}, seed=5)
    assert calls == [5, 6, 7] and small.grad_rms
    calls.clear()
    probe_module.probe(traced.graph_module, {"x": torch.randn(16, 32)}, seed=5)
    assert calls == [5]


def test_orthogonal_relu_rnn_is_measured_vanishing_at_the_typical_step_gain():
    """ρ·γ = 1 passes the static bound; GL301 measures the module over the horizon and reports the
    vanishing, whose per-step rate is the typical gain ρ·√E[φ'²] = 1/√2 (THEORY.md §1)."""
    torch.manual_seed(0)
    model = nn.RNN(2, 64, nonlinearity="relu", batch_first=True)
    nn.init.orthogonal_(model.weight_hh_l0)
    nn.init.zeros_(model.bias_hh_l0)
    report = gradlint.check_model(model, torch.randn(8, 100, 2))
    (finding,) = [f for f in report.findings if f.code == "GL301"]
    assert str(finding.severity) == "error" and finding.probe.confirmed
    assert abs(finding.probe.measured_d / 99 - math.log10(1 / math.sqrt(2))) < 0.03, finding.probe
