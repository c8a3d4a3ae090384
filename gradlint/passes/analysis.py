"""What rules read about a traced model: a read-only view over the passes' results.

The facts are computed by ``gradlint.passes`` (once per model, in dependency order, before any
rule runs); ``Analysis`` only answers questions about them. The gains along a span:

* ``static_d(chain, a, b)``: D = ½·Σ log10 χ over the nodes of one route (a chain's);
* ``backward_gain(a, b)``: the predicted log10 RMS gradient ratio over *every* path: squared gains
  add over parallel paths, so a residual block contributes 1 + χ(branch) and a gated product the
  square of its gate (docs/THEORY.md §1);
* ``span_gain(a, b)``: that, as the gain rules judge it (``judged_correction``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections import Counter
from collections.abc import Mapping

import networkx as nx
from torch import fx

from gradlint.passes import Facts, run_passes
from gradlint.passes.chains import FAMILIES, Chain
from gradlint.passes.meanfield import averages, constant_factor, size_ratio
from gradlint.passes.residual import ResidualBlock
from gradlint.passes.span import LAYER_KINDS, Span, weight_layers
from gradlint.passes.topology import Topology, node_facts

__all__ = ["FAMILIES", "LAYER_KINDS", "Analysis", "Chain", "ResidualBlock", "Span", "analyze"]


def analyze(graph: nx.DiGraph, graph_module: fx.GraphModule,
            input_moments: Mapping[str, float] | None = None, *, weights_known: bool = True) -> Analysis:
    """Run the passes on one traced model and return the view the rules read."""
    return Analysis(run_passes(graph, graph_module, input_moments, weights_known=weights_known))


@dataclasses.dataclass(frozen=True)
class Analysis:
    """Facts about one traced model, shared by all rules. Nothing here changes after it is built."""

    facts: Facts
    # answers to the questions below about a chain, which several rules ask of the same chain
    # (GL201 and GL401 of a stack's one chain): by (question, id(chain), ...); a chain lives as
    # long as the facts that hold it, so its id is its own
    _answers: dict = dataclasses.field(default_factory=dict, init=False, repr=False, compare=False)

    # --- the passes' results, by name -------------------------------------------------------
    @property
    def graph(self) -> nx.DiGraph:
        return self.facts.graph

    @property
    def nodes(self) -> Mapping[str, dict]:
        """node -> its facts, for a long sweep (``passes.topology.node_facts``)."""
        return node_facts(self.facts.graph)

    @property
    def graph_module(self) -> fx.GraphModule:
        return self.facts.graph_module

    @property
    def input_moments(self) -> Mapping[str, float]:
        return self.facts.input_moments

    @property
    def topology(self) -> Topology:
        return self.facts.topology

    @property
    def post_dominators(self) -> Mapping[str, str]:
        """Immediate post-dominator of every data node that reaches the output: the nearest node
        that every path from it to the output crosses."""
        return self.facts.topology.post_dominators

    def chains(self, family: str) -> tuple[Chain, ...]:
        """The chains of one family of ``FAMILIES`` (``gradlint.passes.chains``)."""
        return self.facts.chains[family]

    @property
    def recurrent_applications(self) -> Mapping[str, tuple[str, ...]]:
        """Weights applied again and again along one chain (``gradlint.passes.recurrence``)."""
        return self.facts.recurrence.applications

    @property
    def recurrent_nodes(self) -> frozenset[str]:
        return self.facts.recurrence.nodes

    @functools.cached_property
    def weight_layers(self) -> Mapping[str, tuple[str, ...]]:
        """Every weight layer (module, or parameter set) and the nodes that apply it."""
        return weight_layers(self.graph)

    @property
    def unspanned_layers(self) -> dict[str, tuple[str, ...]]:
        """The weight layers the main span's prediction does not cover (all of them when there
        is no span), with their nodes: what only a measurement can judge."""
        span = self.span
        keys = span.outside if span is not None else tuple(self.weight_layers)
        return {key: self.weight_layers.get(key, ()) for key in keys}

    @property
    def layers_in_model(self) -> int:
        span = self.span
        return span.layers_in_model if span is not None else len(self.weight_layers)

    def module_call(self, qualname: str) -> str | None:
        """The node of the first call of the module named ``qualname`` (None: it is never called)."""
        return self.facts.recurrence.calls.get(qualname)

    @property
    def meanfield(self) -> Mapping[str, tuple[float, float]]:
        """node -> (q: forward second moment of its output, chi: backward squared gain)."""
        if self.facts.meanfield is None:
            raise ValueError("no mean-field gains: the weights are on the meta device")
        return self.facts.meanfield

    @property
    def span(self) -> Span | None:
        """The model's main span (see ``Span``), or None: ``span_note`` says why."""
        return self.facts.span.span

    @property
    def span_note(self) -> str | None:
        return self.facts.span.note

    @property
    def main_span(self) -> tuple[str, str] | None:
        span = self.span
        return (span.start, span.end) if span is not None else None

    def main_route(self) -> list[str]:
        """The nodes of the main span along its shortest path: the residual stream of a residual
        network, the only path of a plain one."""
        return list(self.facts.span.route)

    @property
    def residual_blocks(self) -> list[ResidualBlock]:
        """The residual blocks along the main span (``gradlint.passes.residual``)."""
        return list(self.facts.residual.blocks)

    @property
    def main_span_class(self) -> str | None:
        """The main span's network class: S, N or H (``gradlint.passes.residual``)."""
        return self.facts.residual.span_class

    # --- questions about two nodes ----------------------------------------------------------
    def between(self, start: str, end: str) -> set[str]:
        """Data nodes on some path from ``start`` to ``end`` (both excluded)."""
        if (start, end) == self.main_span:
            return set(self.facts.span.inside)
        return self.topology.between(start, end)

    def static_d(self, chain: Chain, start: str, end: str) -> float:
        """Predicted log10 RMS gradient ratio along the chain's route, gradient at ``start`` over
        gradient at ``end``."""
        key = ("static_d", id(chain), start, end)
        if key not in self._answers:
            gains, log10 = self.meanfield, math.log10
            total = 0.0
            for node in chain.between(start, end):
                total += log10(max(gains[node][1], 1e-300))
            self._answers[key] = 0.5 * total
        return self._answers[key]

    def comparable_span(self, chain: Chain) -> tuple[str, str]:
        """The part of a chain whose two ends have the same output shape.

        RMS gradients are only comparable between tensors of the same shape: across a narrowing
        output head the RMS drops with the width (χ = fan_out·Var(W)), which is not vanishing.
        The span runs from the first to the last member with the chain's most common shape (ties:
        the shape that comes first).
        """
        key = ("comparable_span", id(chain))
        if key not in self._answers:
            self._answers[key] = self._comparable_span(chain)
        return self._answers[key]

    def _comparable_span(self, chain: Chain) -> tuple[str, str]:
        nodes = node_facts(self.graph)
        shapes = [nodes[n]["shape"] for n in chain.nodes]
        if any(shape is None for shape in shapes):
            return chain.start, chain.end
        counts = Counter(shapes)   # one count per shape: linear in the chain's length
        common = max(counts, key=counts.__getitem__)   # Counter keeps first-seen order on ties
        members = [n for n, shape in zip(chain.nodes, shapes) if shape == common]
        return members[0], members[-1]

    def backward_gains(self, start: str, end: str) -> dict[str, float]:
        """Predicted squared RMS gradient of every node between ``start`` and ``end``, relative
        to ``end``'s (the sweep ``backward_gain`` reads its answer from)."""
        gains = self.meanfield
        successors = self.topology.successors
        between = self.between(start, end) | {end}
        total: dict[str, float] = {end: 1.0}
        for node in self.topology.reverse:
            if node == end or (node not in between and node != start):
                continue
            value = 0.0
            for succ in successors[node]:
                if succ in total:
                    value += total[succ] * self._edge_gain(node, succ, gains)
            total[node] = value
            if node == start:
                break
        return total

    def backward_gain(self, start: str, end: str) -> float:
        """Predicted log10 RMS gradient ratio from ``end`` back to ``start`` over *every* path."""
        total = self.backward_gains(start, end)
        return 0.5 * math.log10(max(total.get(start, 0.0), 1e-300))

    def size_correction(self, start: str, end: str) -> float:
        """½·log10(size of ``start`` / size of ``end``): what turns the RMS ratio into the ratio of
        the gradient's norms. A layer that narrows, a pooling or a token selection divides the
        RMS by the change in size while the gradient's norm is unchanged (a He-initialized layer
        keeps the norm exactly), so the rules judge the norm."""
        first, last = self.graph.nodes[start]["shape"], self.graph.nodes[end]["shape"]
        if first is None or last is None:
            return 0.0
        return 0.5 * math.log10(max(math.prod(first), 1) / max(math.prod(last), 1))

    def judged_correction(self, start: str, end: str) -> float:
        """What the gain rules add to the RMS ratio over ``start`` → ``end``: ``size_correction``,
        and ½·log10(k) for every op on the route that averages k elements (a global average
        pool, a mean over tokens). Averaging hands each position 1/k of the gradient, yet the
        weights a convolution or a token-wise layer shares over those positions receive the sum
        of their gradients, so for training an average keeps the gradient as a max-pooling does."""
        correction = self.size_correction(start, end)
        for node in self._shortest_route(start, end)[1:]:
            if averages(self.graph.nodes[node]):
                inputs = self.topology.data_inputs[node]
                ratio = size_ratio(self.graph, node, inputs[0]) if len(inputs) == 1 else None
                if ratio:
                    correction -= 0.5 * math.log10(ratio)
        return correction

    def span_gain(self, start: str, end: str) -> float:
        """The gradient's ratio over ``start`` → ``end`` as the gain rules judge it: the
        predicted log10 RMS ratio over every path (``backward_gain``) plus ``judged_correction``
        (the ratio of the gradient's norms, averages counted as keeping the gradient)."""
        return self.backward_gain(start, end) + self.judged_correction(start, end)

    def _shortest_route(self, start: str, end: str) -> list[str]:
        if (start, end) == self.main_span:
            return self.main_route()
        data = self.graph.subgraph(self.topology.successors)
        if start in data and end in data and nx.has_path(data, start, end):
            return nx.shortest_path(data, start, end)
        return []

    def _edge_gain(self, source: str, target: str, gains: Mapping[str, tuple[float, float]]) -> float:
        nodes = self.graph.nodes
        if nodes[target]["kind"] == "mul":
            others = [gains[p][0] for p in self.graph.predecessors(target) if p != source and nodes[p]["data"]]
            if not others:
                return gains[target][1]
            return math.prod(others) * constant_factor(self.graph_module, self.facts.fx_nodes[target])
        return gains[target][1]
