"""The shared graph passes on tiny models: post-dominator chains, the mean-field gain and the
main span."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from conftest import run_cli
from torch import nn

from gradlint.measure.probe import probe, probe_graph
from gradlint.passes.analysis import Analysis, analyze
from gradlint.passes.chains import find_chains
from gradlint.tracing.graph import build_graph
from gradlint.tracing.trace import trace


def analyse(model: nn.Module, x: torch.Tensor | None, moments: dict[str, float] | None = None) -> Analysis:
    traced = trace(model, {"x": x} if x is not None else None)
    return analyze(build_graph(traced), traced.graph_module, moments)


def weight_chain_objects(analysis: Analysis):
    graph = analysis.graph
    return find_chains(analysis.topology, {n for n in analysis.topology.data if graph.nodes[n]["kind"] == "weight"},
                       {n for n in analysis.topology.data if graph.nodes[n]["kind"] == "norm"})


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

    analysis = analyse(One(), torch.randn(4, 8), {"x": 1.0})
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
    (chain,) = find_chains(analysis.topology, {n for n in analysis.topology.data if graph.nodes[n]["kind"] == "weight"}, set())
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
    analysis = analyze(build_graph(traced), traced.graph_module)
    assert list(analysis.recurrent_applications) == ["cell"]
    assert len(analysis.recurrent_applications["cell"]) == 4


# --- the main span ------------------------------------------------------------------------------

class SmallVGG(nn.Module):
    """Convolutions, max-pooling, a flatten and a two-layer classifier."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1)
        self.c3, self.c4 = nn.Conv2d(8, 16, 3, padding=1), nn.Conv2d(16, 16, 3, padding=1)
        self.fc, self.out = nn.Linear(16 * 2 * 2, 32), nn.Linear(32, 10)

    def forward(self, x):
        x = F.max_pool2d(torch.relu(self.c2(torch.relu(self.c1(x)))), 2)
        x = F.max_pool2d(torch.relu(self.c4(torch.relu(self.c3(x)))), 4)
        return self.out(torch.relu(self.fc(x.flatten(1))))


def test_the_span_runs_through_pooling_and_flatten_to_the_classifiers_input():
    analysis = analyse(SmallVGG(), torch.randn(4, 3, 16, 16))
    span = analysis.span
    label = analysis.graph.nodes
    assert (label[span.start]["label"], label[span.end]["label"]) == ("c1", "relu_4")
    assert (span.layers_in_span, span.layers_in_model) == (6, 6)
    assert span.loss_at is None


def test_max_pooling_keeps_the_gradient_norm_and_average_pooling_divides_it():
    class Pool(nn.Module):
        def __init__(self, pool):
            super().__init__()
            self.a, self.b, self.pool = nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 1), pool

        def forward(self, x):
            return self.b(self.pool(self.a(x)))

    x = torch.randn(8, 4, 8, 8)
    for pool, expected in ((nn.MaxPool2d(2), 1.0), (nn.AvgPool2d(2), 0.25)):
        analysis = analyse(Pool(pool), x)
        _, chi = analysis.meanfield["pool"]
        # per element: picking 1 of 4 keeps a quarter of the squared gradient, averaging 1/16
        assert chi * 4 == pytest.approx(expected)
        traced = trace(Pool(pool), {"x": x})
        measured = probe_graph(traced.graph_module, {"x": x}, 0).span_d("a", "pool")
        assert abs(0.5 * math.log10(chi) - measured) < 0.1


class EncoderDecoder(nn.Module):
    """An encoder whose states are an output too, and a decoder that reads them."""

    def __init__(self, depth=6, width=16):
        super().__init__()
        self.encoder = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))
        self.embed = nn.Embedding(50, width)
        self.cross = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))
        self.head = nn.Linear(width, 50)

    def forward(self, x, ids):
        for layer in self.encoder:
            x = torch.relu(layer(x))
        y = self.embed(ids)
        for layer in self.cross:
            y = y + layer(x)
        return self.head(y), x


def test_the_span_runs_through_the_encoder_and_the_decoder():
    model = EncoderDecoder()
    inputs = {"x": torch.randn(4, 5, 16), "ids": torch.randint(0, 50, (4, 5))}
    traced = trace(model, inputs)
    analysis = analyze(build_graph(traced), traced.graph_module, {"x": 1.0})
    span = analysis.span
    assert span.source == "x"  # the input with the longest path, not the decoder's ids
    assert analysis.graph.nodes[span.start]["label"] == "encoder.0"
    assert span.end == "add_5"   # the decoder's last state, the head's input
    assert (span.layers_in_span, span.layers_in_model) == (13, 14)   # all but the decoder's embedding
    # the encoder's states are an output too: the probe puts its loss on the decoder's output
    # alone, so that the measured ratio covers the paths the prediction covers
    assert span.loss_at == "head"
    result = probe(traced.graph_module, inputs, 0, losses_at=(span.loss_at,))
    assert abs(result.span_d(span.start, span.end) - analysis.backward_gain(span.start, span.end)) < 0.5


def test_a_zero_initialized_classifier_ends_the_span_at_its_input_and_the_probe_measures_there():
    class Fixup(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Linear(8, 32)
            self.blocks = nn.ModuleList(nn.Linear(32, 32) for _ in range(4))
            self.classifier = nn.Linear(32, 3)
            for block in self.blocks:
                nn.init.zeros_(block.weight)
            nn.init.zeros_(self.classifier.weight)

        def forward(self, x):
            x = self.stem(x)
            for block in self.blocks:
                x = x + block(torch.relu(x))
            return self.classifier(x)

    x = torch.randn(16, 8)
    traced = trace(Fixup(), {"x": x})
    analysis = analyze(build_graph(traced), traced.graph_module, {"x": 1.0})
    span = analysis.span
    assert span.end == span.loss_at == "add_3" and "`classifier` is zero-initialized" in span.note
    assert span.layers_in_span == span.layers_in_model == 6
    assert analysis.span_gain(span.start, span.end) == pytest.approx(0.0, abs=1e-9)  # Fixup's gain: 1
    without = probe_graph(traced.graph_module, {"x": x}, 0).span_d(span.start, span.end)
    assert without is None or without == -math.inf     # the model's own loss: nothing to measure
    measured = probe(traced.graph_module, {"x": x}, 0, losses_at=(span.loss_at,)).span_d(span.start, span.end)
    assert measured == pytest.approx(0.0, abs=1e-6)


def test_no_span_is_said_and_the_gain_rules_report_that_they_did_not_run(write):
    path = write("flat.py", """
import torch
from torch import nn

class NoLayers(nn.Module):
    def forward(self, x):
        return torch.tanh(x) * 2

def gradlint_models():
    return {"NoLayers": (NoLayers(), torch.randn(4, 8))}
""")
    result = run_cli(str(path), "--no-cache", "--plot", str(path.parent / "flow.png"), cwd=path.parent)
    assert result.returncode == 0, result.stderr
    assert ("model `NoLayers`: no main span (no weight layer lies between the inputs and the output): "
            "the whole-model gain rules (GL102, GL202, GL203) did not run") in result.stderr
    assert "model `NoLayers`: not drawn: no main span" in result.stderr
    assert "flow.png was not written" in result.stderr and not (path.parent / "flow.png").exists()


def test_span_depth_is_in_the_json_and_the_verbose_output(write):
    path = write("net.py", """
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))

    def forward(self, x):
        return self.net(x)
""")
    result = run_cli(str(path), "--no-cache", "--output-format", "json", cwd=path.parent)
    (entry,) = json.loads(result.stdout)["files"]
    (status,) = entry["model_status"]
    assert (status["name"], status["span"], status["span_note"]) == (
        "Net", {"start": "net.0", "end": "net.3", "layers_in_span": 3, "layers_in_model": 3, "layers_outside": [],
                "layers_measured_outside": 0}, None)
    verbose = run_cli(str(path), "--no-cache", "-v", cwd=path.parent)
    assert "model `Net`: main span `net.0` → `net.3`: 3 of 3 weight layers (100%)" in verbose.stderr


def test_a_global_average_pool_counts_as_keeping_the_gradient():
    """Averaging 8×8 positions hands each 1/64 of the gradient (the norm drops by 8), yet the
    convolution's shared weights receive the sum: the gain rules judge it as keeping the gradient."""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.convs = nn.ModuleList(nn.Conv2d(16, 16, 3, padding=1) for _ in range(4))
            self.pool, self.head = nn.AdaptiveAvgPool2d(1), nn.Linear(16, 4)
            for conv in self.convs:
                nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")

        def forward(self, x):
            for conv in self.convs:
                x = torch.relu(conv(x))
            return self.head(self.pool(x).flatten(1))

    torch.manual_seed(0)
    x = torch.randn(16, 16, 8, 8)
    traced = trace(Net(), {"x": x})
    analysis = analyze(build_graph(traced), traced.graph_module, {"x": 1.0})
    start, end = analysis.main_span
    norm_ratio = analysis.backward_gain(start, end) + analysis.size_correction(start, end)
    assert norm_ratio == pytest.approx(-0.5 * math.log10(64), abs=0.3)
    assert analysis.span_gain(start, end) == pytest.approx(0.0, abs=0.3)
    measured = probe_graph(traced.graph_module, {"x": x}, 0).span_d(start, end)
    assert abs(measured + analysis.size_correction(start, end) - norm_ratio) < 0.3


class TestGraphHelpers:
    """The topology pass's helpers agree with networkx on random DAGs (the passes rely on the
    same orders and dominators networkx gives, so their results do not change)."""

    @staticmethod
    def random_dag(seed: int, n: int = 30) -> "nx.DiGraph":
        import random

        import networkx as nx

        rng = random.Random(seed)
        g = nx.DiGraph()
        g.add_nodes_from(f"n{i}" for i in range(n))
        for j in range(1, n):
            for i in rng.sample(range(j), k=min(j, rng.choice((1, 1, 2, 3)))):
                g.add_edge(f"n{i}", f"n{j}")
        return g

    @pytest.mark.parametrize("seed", range(20))
    def test_topological_order_is_networkx_order(self, seed):
        import networkx as nx

        from gradlint.passes.topology import topological_order

        g = self.random_dag(seed)
        assert topological_order(g) == list(nx.topological_sort(g))

    @pytest.mark.parametrize("seed", range(20))
    def test_post_dominators_are_networkx_dominators_of_the_reverse(self, seed):
        import networkx as nx

        from gradlint.passes.topology import immediate_post_dominators, topological_order

        g = self.random_dag(seed)
        exit_ = f"n{g.number_of_nodes() - 1}"
        expected = nx.immediate_dominators(g.reverse(copy=False), exit_)
        expected.pop(exit_, None)
        order = topological_order(g)
        found = immediate_post_dominators({n: list(g.successors(n)) for n in g}, order[::-1], exit_)
        assert found == expected


# ------------------------------------------- the whole model: what no prediction covers is measured

SIDE_BRANCH = """
import torch
from torch import nn


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.deep = nn.Sequential(*[m for _ in range(6) for m in (nn.Linear(16, 16), nn.LayerNorm(16), nn.ReLU())])
        self.side = nn.Linear(4, 16)
        self.head = nn.Linear(16, 2)

    def forward(self, x, extra):
        return self.head(self.deep(x) + {scale} * self.side(extra))
"""


def test_a_layer_no_main_span_covers_is_judged_by_its_measured_gradient(write):
    # the main span follows the deep input; `side` lies on no span, so no prediction covers it:
    # the probe's gradient there, against the model's output, is what judges it
    path = write("net.py", SIDE_BRANCH.format(scale="1e5"))
    result = run_cli(str(path), "--no-cache", "--output-format", "json", cwd=path.parent)
    (entry,) = json.loads(result.stdout)["files"]
    (finding,) = [f for f in entry["findings"] if f["severity"] != "info"]
    assert (finding["code"], finding["severity"], finding["location"]["line"]) == ("GL202", "error", 14)
    assert "from the model's output back to `side` (measured; no main span covers this layer" in finding["message"]
    assert finding["probe"]["confirmed"] and 4 < finding["probe"]["measured_d"] < 6
    (status,) = entry["model_status"]
    assert status["status"] == "checked"
    assert (status["span"]["layers_in_span"], status["span"]["layers_in_model"],
            status["span"]["layers_measured_outside"]) == (7, 8, 1)
    healthy = write("healthy.py", SIDE_BRANCH.format(scale="1.0"))
    assert run_cli(str(healthy), "--no-cache", cwd=healthy.parent).returncode == 0


def test_the_measurement_wins_over_a_prediction_that_saw_nothing(write):
    # a soft clamp the mean field reads as a pass-through damps every value ×0.01 per layer: the
    # prediction says 0.18, the probe measures 3e-10, and the measurement is the evidence
    path = write("damped.py", """
import torch
from torch import nn


class Damped(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(32, 32) for _ in range(4))
        self.head = nn.Linear(32, 4)

    def forward(self, x):
        for layer in self.layers:
            h = torch.relu(layer(x))
            x = torch.where(h.abs() > 1e3, h, h * 0.01)
        return self.head(x)
""")
    result = run_cli(str(path), "--no-cache", "--output-format", "json", cwd=path.parent)
    (entry,) = json.loads(result.stdout)["files"]
    (finding,) = [f for f in entry["findings"] if f["code"] == "GL102"]
    assert (finding["severity"], finding["location"]["line"]) == ("error", 14)
    assert "(measured; the prediction over every path of the main span said 1.8e-01)" in finding["message"]
    assert finding["probe"]["measured_d"] < -8
    assert result.returncode == 1


def test_a_model_whose_layers_were_not_all_analysed_is_never_reported_checked():
    from gradlint.check.engine import ModelReport

    report = ModelReport("Net", [], [], tracer="value-guided fx", coverage=1.0, nodes=20, probed=True,
                         analysed=(7, 8), unanalysed=("encoder.proj",))
    assert report.status == "partly analysed"
    assert report.partly_analysed == ("the gain of 7 of its 8 weight layers (88%) was analysed; `encoder.proj` "
                                      "lie on no main span and the probe measured no gradient there")
    assert ModelReport("Net", [], [], tracer="value-guided fx", coverage=1.0, nodes=20, probed=True,
                       analysed=(9, 10)).status == "checked"


def test_coverage_is_never_negative_when_opaque_parts_nest():
    from gradlint.check.engine import _coverage
    from gradlint.tracing.trace import TraceResult

    model = nn.Sequential(nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4)), nn.Linear(4, 2))
    traced = TraceResult(None, "value-guided fx", {"0": "data-dependent", "0.0": "data-dependent"}, [], {})
    hidden = sum(p.numel() for p in model[0].parameters())
    assert _coverage(model, traced) == pytest.approx(1 - hidden / sum(p.numel() for p in model.parameters()))


def test_a_plain_stack_with_one_skip_in_its_middle_is_still_a_plain_stack(write):
    # GL401 judges the longest stretch between residual joins (an inverted-residual network is
    # quiet: fixtures/clean_inverted_residual.py); 2 × 24 layers with one skip between them is not
    path = write("half.py", """
import torch
from torch import nn


def stack():
    return nn.Sequential(*[m for _ in range(24) for m in (nn.Linear(16, 16), nn.BatchNorm1d(16), nn.ReLU())])


class TwoStacks(nn.Module):
    def __init__(self):
        super().__init__()
        self.first, self.second, self.bridge = stack(), stack(), nn.Linear(16, 16)

    def forward(self, x):
        h = self.first(x)
        h = h + self.bridge(h)
        return self.second(h)
""")
    result = run_cli(str(path), "--no-cache", "--output-format", "json", cwd=path.parent)
    (entry,) = json.loads(result.stdout)["files"]
    (finding,) = [f for f in entry["findings"] if f["code"] == "GL401" and f["model"] == "TwoStacks"]
    assert finding["severity"] == "warning" and finding["message"].startswith("48 weight layers on a path with no skip")


class _TanhRNN(nn.Module):
    """A tanh RNN whose recurrent weight is orthogonal × 1.1: ρ·γ looks stable (a bound); tanh's
    saturation makes the typical step gain fall below 1."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(2, 64, batch_first=True)
        with torch.no_grad():
            nn.init.orthogonal_(self.rnn.weight_hh_l0)
            self.rnn.weight_hh_l0.mul_(1.1)
        self.head = nn.Linear(64, 1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def _gl301(report):
    return [f for f in report.findings if f.code == "GL301"]


def test_gl301_judges_a_recurrence_over_the_training_batchs_sequence_length():
    import gradlint

    torch.manual_seed(0)
    model = _TanhRNN()
    # generated inputs: the `horizon` option's 100 steps, over which the gradient falls ×0.05 only
    (generated,) = _gl301(gradlint.check_model(model))
    assert generated.severity.name == "INFO" and "over 100 steps the gradient grows" in generated.message
    # the batch training backpropagates through: 400 steps, and the gradient is gone
    (long,) = _gl301(gradlint.check_model(model, torch.randn(8, 400, 2) * 0.5))
    assert long.severity.name == "ERROR"
    assert "over 400 steps (the training batch's sequence length)" in long.message
    assert long.probe.measured_d < -4 and "from step 400 back to step 1" in long.probe.text
    # a shorter batch (an example handed to check_model) does not shorten the horizon
    (short,) = _gl301(gradlint.check_model(model, torch.randn(8, 20, 2) * 0.5))
    assert short.severity.name == "INFO" and "over 100 steps the gradient grows" in short.message


def test_a_saturating_chain_split_by_pooling_is_judged_as_one_chain(write):
    # a VGG-shaped sigmoid net: four resolutions, one chain; its gain is the whole chain's ratio of
    # gradient norms (predicted and measured), not the part at the most common resolution
    path = write("vgg.py", """
from torch import nn


def block(inp, out, convs):
    layers = []
    for i in range(convs):
        layers += [nn.Conv2d(inp if i == 0 else out, out, 3, padding=1), nn.Sigmoid()]
    return nn.Sequential(*layers, nn.MaxPool2d(2))


class VGGSigmoid(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(block(3, 16, 2), block(16, 32, 2), block(32, 64, 3), block(64, 64, 3))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(256, 64), nn.Sigmoid(), nn.Linear(64, 10))

    def forward(self, x):
        return self.classifier(self.features(x))
""")
    result = run_cli(str(path), "--no-cache", "--output-format", "json", cwd=path.parent)
    (entry,) = json.loads(result.stdout)["files"]
    (finding,) = [f for f in entry["findings"] if f["code"] == "GL101"]
    assert finding["severity"] == "error" and finding["message"].startswith("11 sigmoid layers in a row")
    assert finding["static_d"] < -6 and finding["probe"]["confirmed"] and finding["probe"]["measured_d"] < -6
    assert "gradient at `features.0.1`" in finding["probe"]["text"] and "of `classifier.2`" in finding["probe"]["text"]
