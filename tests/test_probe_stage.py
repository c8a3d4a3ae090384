"""The probe stage: a recurrence a rule asks for is measured once, by the engine, and its verdict
is worded like every other rule's."""

from __future__ import annotations

import torch
from torch import nn

import gradlint
from gradlint.measure import probe


class TwoRecurrences(nn.Module):
    """A ReLU RNN whose recurrent weight drifted to 1.1·I (GL301 flags it statically), then an
    orthogonal tanh RNN (ρ = 1: no static finding, but the probe measures it vanish)."""

    def __init__(self):
        super().__init__()
        self.drifted = nn.RNN(2, 16, nonlinearity="relu", batch_first=True)
        self.tanh = nn.RNN(16, 16, batch_first=True)
        with torch.no_grad():
            self.drifted.weight_hh_l0.copy_(1.1 * torch.eye(16))
            self.drifted.bias_hh_l0.zero_()
        nn.init.orthogonal_(self.tanh.weight_hh_l0)
        self.head = nn.Linear(16, 1)

    def forward(self, x):
        h, _ = self.drifted(x)
        h, _ = self.tanh(h)
        return self.head(h[:, -1])


def test_each_recurrence_is_measured_once_and_both_findings_carry_the_measurement(monkeypatch):
    calls = []
    measure = probe.probe_recurrence
    monkeypatch.setattr(probe, "probe_recurrence",
                        lambda module, horizon, batch, seed: calls.append(horizon) or measure(module, horizon, batch, seed))
    torch.manual_seed(0)
    report = gradlint.check_model(TwoRecurrences(), torch.randn(8, 12, 2))
    found = {f.args["module"]: f for f in report.findings if f.code == "GL301"}
    assert calls == [100, 100]   # one run per module, for the confirmation and the measured-only finding alike
    drifted, tanh = found["drifted"], found["tanh"]
    assert drifted.probe.confirmed and drifted.probe.text.startswith(
        "probe confirmed: the gradient from step 100 back to step 1 is ×")
    assert drifted.probe.measured_d > 3
    assert tanh.probe.confirmed and tanh.probe.text.startswith(
        "probe measured: the gradient from step 100 back to step 1 is ×")
    assert tanh.probe.measured_d < -3 and "yet the gradient vanishes over 100 steps" in tanh.message
