"""Property-based tests: random architectures never crash gradlint, and give the same answer twice.

The default profile tries the same 30 architectures per test on every run (derandomized, so the
test command's verdict does not change between runs of one commit); HYPOTHESIS_PROFILE=long tries
500 fresh random ones (`HYPOTHESIS_PROFILE=long python -m pytest tests/test_fuzz.py`).
"""

from __future__ import annotations

import os

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import gradlint
from gradlint.core.settings import Settings

settings.register_profile("default", max_examples=30, deadline=None, derandomize=True,
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


# --- random configuration files and suppression comments ---------------------------------------

from pathlib import Path  # noqa: E402

from gradlint.run.config import ConfigError, Overrides, load_config, settings_for  # noqa: E402
from gradlint.source.suppress import Suppressions  # noqa: E402

keys = st.sampled_from(["select", "ignore", "extend-select", "fail-level", "per-file-ignores", "probe",
                        "rules", "selct", "GL101", "min-depth", "batch-size", "enabled", "timeout"])
values = st.recursive(
    st.one_of(st.booleans(), st.integers(-3, 100), st.floats(-1, 10, allow_nan=False),
              st.sampled_from(["GL", "GL1", "GL101", "XX", "warning", "fatal", "cpu", ""])),
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(keys, children, max_size=3)),
    max_leaves=8,
)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f'"{k}" = {toml_value(v)}' for k, v in value.items()) + "}"


@given(table=st.dictionaries(keys, values, max_size=5))
def test_random_configuration_is_accepted_or_one_clear_error(tmp_path_factory, table):
    path = Path(tmp_path_factory.mktemp("cfg")) / "pyproject.toml"
    path.write_text("[tool.gradlint]\n" + "".join(f'"{k}" = {toml_value(v)}\n' for k, v in table.items()))
    try:
        config = load_config(path)
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith(f"{path}: ") and "\n" not in message
        return
    settings = settings_for(path, config, Overrides())
    assert all(code.startswith("GL") for code in settings.select + settings.ignore)


comment_text = st.text(alphabet="#noqa:gradlintigre[],GL0123456789 E\t", max_size=40)


@given(comments=st.lists(comment_text, max_size=6), code=st.sampled_from(["GL101", "GL201", "E501"]),
       line=st.integers(1, 8))
def test_random_suppression_comments_never_break_the_parser(comments, code, line):
    source = "".join(f"x{i} = {i}  {text}\n" for i, text in enumerate(comments))
    suppressions = Suppressions.parse(source)
    silenced = suppressions.silence(code, line)
    assert isinstance(silenced, bool)
    for directive, codes in suppressions.unused(lambda c: True):
        assert directive.own and all(c.startswith("GL") for c in codes)
