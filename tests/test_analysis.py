"""The shared graph passes on tiny models: post-dominator chains and the mean-field gain."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gradlint.analysis import Analysis
from gradlint.graph import build_graph
from gradlint.trace import trace


def analyse(model: nn.Module, x: torch.Tensor | None) -> Analysis:
    traced = trace(model, {"x": x} if x is not None else None)
    return Analysis(build_graph(traced), traced.graph_module)


def weight_chain_objects(analysis: Analysis):
    graph = analysis.graph
    return analysis.chains(lambda n: graph.nodes[n]["kind"] == "weight",
                           lambda n: graph.nodes[n]["kind"] == "norm")


def weight_chains(analysis: Analysis) -> list[tuple[str, ...]]:
    return [c.nodes for c in weight_chain_objects(analysis)]


class Plain(nn.Module):
    def __init__(self, depth=4, width=8):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))

    def forward(self, x):
        for layer in self.layers:
            x = torch.relu(layer(x))
        return x


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c, self.d = (nn.Linear(8, 8) for _ in range(4))

    def forward(self, x):
        x = x + self.b(torch.relu(self.a(x)))   # a skip around a and b
        x = x + self.d(torch.relu(self.c(x)))   # a skip around c and d
        return x


class Branches(nn.Module):
    """Two parallel branches joined by a concatenation, then a head."""

    def __init__(self):
        super().__init__()
        self.left, self.right, self.head = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(16, 2)

    def forward(self, x):
        return self.head(torch.cat([self.left(x), self.right(x)], dim=1))


def test_plain_stack_is_one_chain():
    assert weight_chains(analyse(Plain(), torch.randn(4, 8))) == [
        ("layers_0", "layers_1", "layers_2", "layers_3")]


def test_a_skip_connection_breaks_the_chain_where_it_bypasses():
    # Every gradient reaching `a` crosses `b`, but the skip around `c` and `d` is a cheaper route.
    assert weight_chains(analyse(Residual(), torch.randn(4, 8))) == [("a", "b"), ("c", "d")]


def test_residual_followed_by_a_plain_layer_chains_through_it():
    class Tail(Residual):
        def forward(self, x):
            x = x + self.b(torch.relu(self.a(x)))
            return self.d(torch.relu(self.c(x)))  # no skip around c and d: on every route from a

    assert weight_chains(analyse(Tail(), torch.randn(4, 8))) == [("a", "b", "c", "d")]


def test_parallel_branches_count_as_one_layer_and_give_one_chain_per_end():
    # left -> head and right -> head both end at head; the first longest one is reported.
    assert weight_chains(analyse(Branches(), torch.randn(4, 8))) == [("left", "head")]


def test_symbolic_tracing_without_inputs_still_gives_chains():
    analysis = analyse(Plain(6), None)
    assert weight_chains(analysis) == [tuple(f"layers_{i}" for i in range(6))]
    assert analysis.graph.graph["tracer"] == "symbolic fx"


@pytest.mark.parametrize(
    "activation, expected",
    # THEORY.md §1: E[φ'(z)²] at unit variance.
    [(nn.ReLU(), 0.5), (nn.Tanh(), 0.465), (nn.GELU(), 0.456), (nn.Sigmoid(), 0.045)],
)
def test_activation_gain_at_unit_variance_matches_theory(activation, expected):
    class One(nn.Module):
        def __init__(self):
            super().__init__()
            self.act = activation

        def forward(self, x):
            return self.act(x)

    analysis = analyse(One(), torch.randn(4, 8))
    analysis.input_moments = {"x": 1.0}
    _, chi = analysis.meanfield["act"]
    assert chi == pytest.approx(expected, abs=0.003)


def test_default_init_relu_gain_per_layer_matches_theory():
    # THEORY.md §1: a default-init ReLU MLP at width 256 has per-layer RMS gain 0.40, so
    # 20 layers give D ≈ 19 * log10(0.40) ≈ -7.6 between the first and last layer.
    torch.manual_seed(0)
    analysis = analyse(Plain(20, 256), torch.randn(8, 256))
    (chain,) = weight_chain_objects(analysis)
    d = analysis.static_d(chain, "layers_0", "layers_19")
    assert d == pytest.approx(19 * 2 * math.log10(0.40) / 2, abs=0.6)


def test_batchnorm_relu_block_gain_is_pi_over_pi_minus_one():
    # THEORY.md §1 / Yang 2019 Thm 8: a Linear-BN-ReLU block has χ = π/(π−1) ≈ 1.467.
    model = nn.Sequential(*[m for _ in range(6) for m in (nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU())])

    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = model

        def forward(self, x):
            return self.net(x)

    analysis = analyse(Wrapped(), torch.randn(16, 512))
    graph = analysis.graph
    (chain,) = analysis.chains(lambda n: graph.nodes[n]["kind"] == "weight", lambda n: False)
    d = analysis.static_d(chain, "net_2", "net_14")  # ReLU output of block 1 -> of block 5: 4 blocks
    assert 10 ** (2 * d / 4) == pytest.approx(math.pi / (math.pi - 1), rel=0.05)


def test_loop_over_time_steps_is_a_recurrent_application():
    class Loop(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = nn.Linear(8, 8)

        def forward(self, x):
            h = x[:, 0]
            for t in range(1, x.size(1)):
                h = torch.tanh(self.cell(h) + x[:, t])
            return h

    traced = trace(Loop(), {"x": torch.randn(2, 5, 8)})
    analysis = Analysis(build_graph(traced), traced.graph_module)
    assert list(analysis.recurrent_applications) == ["cell"]
    assert len(analysis.recurrent_applications["cell"]) == 4
