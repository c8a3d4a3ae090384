"""Main-span pass: the part of the model the whole-model gain rules judge, and its route.

Requires: ``topology`` (orders, data successors, post-dominators), the example inputs' second
moments (an input without one holds integer ids: no gradient to measure there), the weights
(a zero-initialized layer ends the span, as Fixup's classifier does).

Ensures: ``MainSpan``: ``span`` (a ``Span``, or None with the reason in ``note``), ``route`` (the
span's shortest path: the residual stream of a residual network, the only path of a plain one)
and ``inside`` (every data node on some path from the span's start to its end, both excluded).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import networkx as nx
import torch
from torch import fx

from gradlint.passes.topology import Topology, descendants, immediate_post_dominators, node_facts
from gradlint.tracing.graph import get_attr, weight_of

LAYER_KINDS = ("weight", "embedding", "recurrent")


def layer_key(graph: nx.DiGraph, node: str) -> str:
    """What counts as one weight layer: its module, else its parameters, else the node."""
    facts = graph.nodes[node]
    return facts["module"] or ",".join(sorted(facts["params"])) or node


def weight_layers(graph: nx.DiGraph) -> dict[str, tuple[str, ...]]:
    """Every weight layer of the graph (``layer_key``) and the nodes that apply it."""
    layers: dict[str, list[str]] = {}
    for node, facts in graph.nodes(data=True):
        if facts["kind"] in LAYER_KINDS:
            layers.setdefault(layer_key(graph, node), []).append(node)
    return {key: tuple(nodes) for key, nodes in layers.items()}


@dataclasses.dataclass(frozen=True)
class Span:
    """The model's main span, for its overall gradient ratio.

    ``start``: the output of the first weight layer on the longest path from the data input with
    the longest path (or the point just before it where a residual stream forks); ``end``: the
    latest tensor that every gradient reaching ``start`` crosses on its way from the output — the
    logits of a classifier or language model, the last hidden state of an encoder. Pooling,
    reshapes, token selection, attention and concatenations lie inside it. ``layers_in_span`` of
    the model's ``layers_in_model`` weight layers (modules, or parameter sets) lie between the
    two. ``loss_at``: the node where the probe must put its loss for its ratio to cover the same
    paths as the prediction (None: the model's output will do).
    """

    start: str
    end: str
    source: str
    layers_in_span: int
    layers_in_model: int
    loss_at: str | None = None
    note: str | None = None
    outside: tuple[str, ...] = ()   # the model's weight layers not in the span (side branches)


@dataclasses.dataclass(frozen=True)
class MainSpan:
    span: Span | None
    note: str | None
    route: tuple[str, ...] = ()
    inside: frozenset[str] = frozenset()


def main_span(graph: nx.DiGraph, graph_module: fx.GraphModule, topo: Topology,
              input_moments: Mapping[str, float]) -> MainSpan:
    """The main-span pass (see the module docstring)."""
    span, note = _SpanFinder(graph, graph_module, topo, input_moments).find()
    if span is None:
        return MainSpan(None, note)
    data = graph.subgraph(topo.successors)
    route = tuple(nx.shortest_path(data, span.start, span.end))
    return MainSpan(span, note, route, frozenset(topo.between(span.start, span.end)))


def longest_layer_paths(graph: nx.DiGraph, topo: Topology) -> tuple[dict[str, int], dict[str, str]]:
    """For every data node that reaches the output: the most weight layers any path from it to
    the output crosses (the node itself included), and the next node on that path. One
    reverse-topological sweep.

    Parameters
    ----------
    graph : networkx.DiGraph
        A graph from ``build_graph``.
    topo : Topology
        Its ``topology``.

    Returns
    -------
    (dict, dict)
        node -> depth, node -> next node (absent for the output).

    Examples
    --------
    >>> from gradlint.passes.topology import topology
    >>> g = nx.DiGraph([("x", "fc1"), ("fc1", "relu"), ("relu", "fc2"), ("fc2", "out")])
    >>> nx.set_node_attributes(g, True, "data"); nx.set_node_attributes(g, True, "floating")
    >>> nx.set_node_attributes(g, "other", "kind")
    >>> g.nodes["fc1"]["kind"] = g.nodes["fc2"]["kind"] = "weight"; g.nodes["out"]["kind"] = "output"
    >>> longest_layer_paths(g, topology(g))[0]
    {'out': 0, 'fc2': 1, 'relu': 1, 'fc1': 2, 'x': 2}
    """
    nodes, successors = node_facts(graph), topo.successors
    depth: dict[str, int] = {}
    step: dict[str, str] = {}
    for node in topo.reverse:
        if nodes[node]["kind"] == "output":
            depth[node] = 0
            continue
        best = None
        for succ in successors[node]:
            if succ in depth and (best is None or depth[succ] > depth[best]):
                best = succ
        if best is not None:
            depth[node], step[node] = depth[best] + (nodes[node]["kind"] in LAYER_KINDS), best
    return depth, step


class _SpanFinder:
    """The steps of finding the span; holds only what the pass was given and the longest paths."""

    def __init__(self, graph: nx.DiGraph, graph_module: fx.GraphModule, topo: Topology,
                 input_moments: Mapping[str, float]) -> None:
        self.graph, self.graph_module, self.topo = graph, graph_module, topo
        self.input_moments = input_moments

    def _is_layer(self, node: str) -> bool:
        return self.graph.nodes[node]["kind"] in LAYER_KINDS

    def _layer_key(self, node: str) -> str:
        return layer_key(self.graph, node)

    def _layers_within(self, start: str, end: str) -> set[str]:
        inside = self.topo.between(start, end) | {start, end}
        return {self._layer_key(n) for n in inside if self._is_layer(n)}

    def find(self) -> tuple[Span | None, str | None]:
        graph, nodes = self.graph, self.graph.nodes
        if graph.graph.get("tracer") == "symbolic fx":
            return None, ("traced without example inputs, so there are no tensor shapes to follow; "
                          "return (model, example_inputs) from gradlint_models()")
        depth, step = longest_layer_paths(graph, self.topo)
        # Tables looked up by constant indices (learned positions, relative-position biases,
        # token types) are learned offsets, not layers the data goes through: only layers on a
        # data path to the output count.
        model_layers = {self._layer_key(n) for n in depth if self._is_layer(n)}
        inputs = [n for n in self.topo.order if nodes[n]["kind"] == "input" and n in depth]
        if not inputs:
            return None, "no input reaches the output through a differentiable path"
        source = max(inputs, key=depth.__getitem__)   # the first of the longest on ties
        if depth[source] == 0:
            return None, "no weight layer lies between the inputs and the output"
        first = source
        while not self._is_layer(first):
            first = step[first]
        start = self._stream_origin(first)
        dominators = self.topo.post_dominators
        if nodes[start]["shape"] is None:
            # a layer that returns a tuple (nn.LSTM's output and state): start at its input when
            # that is a floating-point tensor, else at the first tensor every gradient crosses after it
            feeding = [p for p in graph.predecessors(start)
                       if nodes[p]["data"] and nodes[p]["shape"] is not None and p in self.topo.floating]
            after = self._post_dominator_chain(start, dominators)
            if len(feeding) == 1:
                start = feeding[0]
            elif after:
                start = after[0]
            else:
                return None, (f"the first layer `{nodes[start]['label']}` outputs no single "
                              "tensor (a tuple or a structure) to measure a gradient at")
        ends = self._post_dominator_chain(start, dominators)
        loss_at = None
        # An encoder whose states are also an output of the model: the output post-dominates it,
        # so the span above would stop at the encoder. When the longest path goes on through more
        # than a tenth of the model's layers (a decoder), follow it to its end instead; the probe
        # then puts its loss there, so that the measured ratio is over the same paths.
        sink = start
        while sink in step and nodes[step[sink]]["kind"] != "output":
            sink = step[sink]
        if sink not in ends:
            further = self._post_dominator_chain(start, self._post_dominators_of(sink))
            if further and ends:
                gained = self._layers_within(start, further[-1]) - self._layers_within(start, ends[-1])
                if len(gained) * 10 > len(model_layers):
                    ends, loss_at = further, further[-1]
            elif further:
                ends, loss_at = further, further[-1]
        if not ends:
            return None, (f"no tensor after `{nodes[start]['label']}` carries every "
                          "gradient that reaches it (the output is a structure of separate paths)")
        # The readout (the last weight layer, followed by nothing but reshapes) is not part of the
        # depth the thresholds are anchored on (hidden layers, docs/THEORY.md §3): the span ends at
        # its input, where every weight layer's gradient has been made. It still counts as covered.
        readout = len(ends) - 1
        while readout > 0 and nodes[ends[readout]]["kind"] in ("other", "dropout"):
            readout -= 1
        covered: set[str] = set()
        if readout > 0 and self._is_layer(ends[readout]):
            covered = {self._layer_key(ends[readout])}
            ends = ends[:readout + 1]
        end, note = ends[-2] if covered else ends[-1], None
        # a layer every gradient crosses that passes none back at initialization (Fixup's
        # zero-initialized classifier): the span ends at its input, where the probe puts its loss
        zero = next((i for i, node in enumerate(ends) if self._passes_no_gradient(node)), None)
        if zero is not None:
            label = nodes[ends[zero]]["label"]
            if zero == 0:
                return None, (f"`{label}` right after the first layer is zero-initialized: "
                              "no gradient reaches the layers before it at initialization")
            if zero < len(ends) - 1:
                covered = set()
            end = loss_at = ends[zero - 1]
            note = (f"`{label}` is zero-initialized, so no gradient reaches the layers before it "
                    f"until the first update: the span ends at its input `{nodes[end]['label']}`, "
                    "where the probe puts its loss")
        within = self._layers_within(start, end) | covered
        span = Span(start, end, source, len(within), len(model_layers), loss_at, note,
                    tuple(sorted(model_layers - within)))
        return span, None

    def _post_dominator_chain(self, start: str, dominators: Mapping[str, str]) -> list[str]:
        """The nodes after ``start`` that every path from it to the output crosses, in order,
        that hold one floating-point tensor (the output node itself excluded)."""
        chain, node = [], start
        nodes = self.graph.nodes
        while node in dominators:
            node = dominators[node]
            facts = nodes[node]
            if facts["kind"] == "output":
                break
            if facts["shape"] is not None and node in self.topo.floating:
                chain.append(node)
        return chain

    def _post_dominators_of(self, sink: str) -> dict[str, str]:
        """Immediate post-dominators with ``sink`` as the only exit: over the nodes that reach it."""
        reaching = descendants(self.topo.predecessors, sink) | {sink}
        successors = {n: [s for s in self.topo.successors[n] if s in reaching] for n in reaching}
        reverse = [n for n in self.topo.reverse if n in reaching]
        return immediate_post_dominators(successors, reverse, sink)

    def _passes_no_gradient(self, node: str) -> bool:
        """A weight layer whose weights are all zero, or a product with a zero parameter or
        number (SkipInit's α): the gradient of its input is exactly zero at initialization."""
        kind = self.graph.nodes[node]["kind"]
        if kind == "weight":
            weight = weight_of(self.graph_module, self.graph, node)
            return weight is not None and not weight.is_meta and not bool(weight.detach().any())
        if kind == "mul":
            fx_node = next(n for n in self.graph_module.graph.nodes if n.name == node)  # rare: no index
            values = [a for a in (*fx_node.args, *fx_node.kwargs.values())
                      if isinstance(a, (int, float)) and not isinstance(a, bool)]
            values += [get_attr(self.graph_module, a.target) for a in fx_node.all_input_nodes
                       if a.op == "get_attr"]
            return any((isinstance(v, torch.Tensor) and not v.is_meta and not bool(v.detach().any()))
                       or (isinstance(v, (int, float)) and v == 0) for v in values)
        return False

    def _stream_origin(self, first: str) -> str:
        """Walk back from the first layer through single-input nodes to the point where the
        stream forks (a skip around the first block starts there); stay on the layer when there
        is no fork or the fork is not a floating-point value."""
        node = first
        nodes = self.graph.nodes
        while True:
            feeding = self.topo.data_inputs[node]
            if len(feeding) != 1:
                return first
            node = feeding[0]
            if nodes[node]["kind"] == "input" and node not in self.input_moments:
                return first  # integer ids: no gradient to measure there
            if len(self.topo.successors.get(node, ())) > 1:
                return node
            if nodes[node]["kind"] == "input":
                return first
