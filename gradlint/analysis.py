"""Graph passes computed once per model and read by every rule.

* **Chains on the cheapest gradient route.** Going backwards from the output, a gradient takes
  every path at once; a skip connection is a path around some layers, so what a gradient *must*
  cross to reach a node is the minimum over paths. For members (weight layers, saturating
  activations, ...) the pass computes, for every node, the fewest members any path from it to
  the output crosses before a breaker (a normalization, say), and the route that achieves it.
  A residual add therefore cuts a chain, while parallel branches that all hold a layer (q/k/v,
  gate/up projections) still count as one layer of depth. One reverse-topological sweep:
  linear-time, no rule enumerates paths.
* **Mean-field gain** (THEORY.md §1): for every node, the forward second moment ``q`` of its
  output and the backward squared gain ``chi`` from its output to its data input, from the actual
  weights and the activation's E[φ'(z)²] at z ~ N(0, q). Along a route, D = ½·Σ log10 chi.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Callable
from typing import Any

import networkx as nx
import torch
from torch import fx

from gradlint.graph import get_attr, weight_of

# ops that average the elements they reduce: each input element gets 1/k of the gradient
_AVERAGING = frozenset({"mean", "nanmean", "avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d",
                        "adaptive_avg_pool2d", "adaptive_avg_pool3d"})
# ops that add elements without touching the others' gradients: each input element keeps its own
_KEEPING = frozenset({"sum", "nansum", "pad"})

_GRID = torch.linspace(-7.0, 7.0, 1401, dtype=torch.float64)
_GRID_WEIGHTS = torch.exp(-0.5 * _GRID**2)
_GRID_WEIGHTS = _GRID_WEIGHTS / _GRID_WEIGHTS.sum()


@dataclasses.dataclass(frozen=True)
class Chain:
    """Members (earliest first) on one gradient route, and every node of that route."""

    nodes: tuple[str, ...]
    route: tuple[str, ...]   # from the first member to the last, inclusive

    @property
    def start(self) -> str:
        return self.nodes[0]

    @property
    def end(self) -> str:
        return self.nodes[-1]

    def __len__(self) -> int:
        return len(self.nodes)

    @functools.cached_property
    def _position(self) -> dict[str, int]:
        # built once: a rule that walks a chain layer by layer stays linear in its length
        return {node: i for i, node in enumerate(self.route)}

    def between(self, start: str, end: str) -> tuple[str, ...]:
        """Route nodes after ``start`` up to and including ``end``."""
        return self.route[self._position[start] + 1:self._position[end] + 1]

    def part(self, members: list[str]) -> Chain:
        return Chain(tuple(members), self.route[self._position[members[0]]:self._position[members[-1]] + 1])


@dataclasses.dataclass(frozen=True)
class ResidualBlock:
    """``add`` = stream + branch; ``identity_skip``: the stream reaches the add unchanged (not
    damped, projected or gated on the way)."""

    add: str
    branch: frozenset[str]
    identity_skip: bool


LAYER_KINDS = ("weight", "embedding", "recurrent")


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


class Analysis:
    """Facts about one traced model, computed lazily and shared by all rules."""

    def __init__(self, graph: nx.DiGraph, graph_module: fx.GraphModule,
                 input_moments: dict[str, float] | None = None) -> None:
        self.graph = graph
        self.graph_module = graph_module
        self.input_moments = input_moments or {}
        self._moments: dict[tuple, tuple[float, float, float]] = {}
        self._weights: dict[str, tuple[float, float, float, float] | None] = {}
        # node -> the mean its output's units share (filled by ``meanfield``): a ReLU's output has
        # the same positive mean in every unit, and a residual stream adds these up coherently
        self._means: dict[str, float] = {}

    # --- post-dominators ------------------------------------------------------------------
    @functools.cached_property
    def _data_graph(self) -> nx.DiGraph:
        nodes = [n for n, d in self.graph.nodes(data=True) if d["data"] or d["kind"] == "output"]
        return self.graph.subgraph(nodes)

    @functools.cached_property
    def post_dominators(self) -> dict[str, str]:
        """Immediate post-dominator of every data node that reaches the output: the nearest node
        that every path from it to the output crosses."""
        exits = [n for n, d in self._data_graph.nodes(data=True) if d["kind"] == "output"]
        if not exits:
            return {}
        idom = nx.immediate_dominators(self._data_graph.reverse(copy=False), exits[0])
        idom.pop(exits[0], None)
        return idom

    @functools.cached_property
    def _order(self) -> list[str]:
        """All nodes, every node after its inputs."""
        return list(nx.topological_sort(self.graph))

    @functools.cached_property
    def _reverse_order(self) -> list[str]:
        data = self._data_graph
        return [n for n in reversed(self._order) if n in data]

    @functools.cached_property
    def _successors(self) -> dict[str, list[str]]:
        data = self._data_graph
        return {n: list(data.successors(n)) for n in data}

    def chains(self, is_member: Callable[[str], bool], is_breaker: Callable[[str], bool]) -> list[Chain]:
        """Chains of members that the cheapest gradient route crosses with no breaker between.

        For each member m, the route from m towards the output that crosses the fewest members
        before a breaker (or the output) gives the chain starting at m. Chains that end at the
        same member are one problem: the longest is returned (ties: the earliest start).
        """
        graph = self._data_graph
        breakers = {n for n in graph if is_breaker(n)}
        members = {n for n in graph if n not in breakers and is_member(n)}
        member, is_breaker = members.__contains__, breakers.__contains__
        successors = self._successors
        cost: dict[str, int] = {}
        step: dict[str, str | None] = {}
        tail: dict[str, str | None] = {}   # last member on the route strictly after the node
        for node in self._reverse_order:
            if graph.nodes[node]["kind"] == "output":
                cost[node], step[node], tail[node] = 0, None, None
                continue
            best: tuple[int, str] | None = None
            for succ in successors[node]:
                if succ not in cost:
                    continue  # never reaches the output
                value = 0 if is_breaker(succ) else cost[succ] + member(succ)
                if best is None or (value, succ) < best:
                    best = (value, succ)
            if best is None:
                continue
            cost[node], step[node] = best
            succ = best[1]
            if is_breaker(succ):
                tail[node] = None
            else:
                tail[node] = tail[succ] if tail[succ] is not None else (succ if member(succ) else None)
        order = {n: i for i, n in enumerate(reversed(self._reverse_order))}
        longest: dict[str, str] = {}
        for node in sorted((n for n in cost if member(n)), key=order.__getitem__):
            end = tail[node] or node
            if end not in longest or cost[node] > cost[longest[end]]:
                longest[end] = node
        chains = []
        for end, start in sorted(longest.items(), key=lambda item: order[item[1]]):
            route, members = [start], [start]
            while route[-1] != end:
                route.append(step[route[-1]])  # type: ignore[arg-type]
                if member(route[-1]):
                    members.append(route[-1])
            chains.append(Chain(tuple(members), tuple(route)))
        return chains

    # --- the main span -------------------------------------------------------------------
    @functools.cached_property
    def _longest(self) -> tuple[dict[str, int], dict[str, str]]:
        """For every data node that reaches the output: the most weight layers any path from it
        to the output crosses (the node itself included), and the next node on that path. One
        reverse-topological sweep."""
        graph, successors = self.graph, self._successors
        depth: dict[str, int] = {}
        step: dict[str, str] = {}
        for node in self._reverse_order:
            if graph.nodes[node]["kind"] == "output":
                depth[node] = 0
                continue
            best = None
            for succ in successors[node]:
                if succ in depth and (best is None or depth[succ] > depth[best]):
                    best = succ
            if best is not None:
                depth[node], step[node] = depth[best] + self._is_layer(node), best
        return depth, step

    def _is_layer(self, node: str) -> bool:
        return self.graph.nodes[node]["kind"] in LAYER_KINDS

    def _layer_key(self, node: str) -> str:
        facts = self.graph.nodes[node]
        return facts["module"] or ",".join(sorted(facts["params"])) or node

    @functools.cached_property
    def _model_layers(self) -> set[str]:
        """Every weight layer (module or parameter set) on a data path to the model's output.
        Tables looked up by constant indices (learned positions, relative-position biases,
        token types) are learned offsets, not layers the data goes through."""
        depth, _ = self._longest
        return {self._layer_key(n) for n in depth if self._is_layer(n)}

    def _layers_within(self, start: str, end: str) -> set[str]:
        inside = self.between(start, end) | {start, end}
        return {self._layer_key(n) for n in inside if self._is_layer(n)}

    @functools.cached_property
    def _span_and_note(self) -> tuple[Span | None, str | None]:
        if self.graph.graph.get("tracer") == "symbolic fx":
            return None, ("traced without example inputs, so there are no tensor shapes to follow; "
                          "return (model, example_inputs) from gradlint_models()")
        depth, step = self._longest
        inputs = [n for n in self._order if self.graph.nodes[n]["kind"] == "input" and n in depth]
        if not inputs:
            return None, "no input reaches the output through a differentiable path"
        source = max(inputs, key=depth.__getitem__)   # the first of the longest on ties
        if depth[source] == 0:
            return None, "no weight layer lies between the inputs and the output"
        first = source
        while not self._is_layer(first):
            first = step[first]
        start = self._stream_origin(first)
        if self.graph.nodes[start]["shape"] is None:
            # a layer that returns a tuple (nn.LSTM's output and state): start at its input when
            # that is a floating-point tensor, else at the first tensor every gradient crosses after it
            feeding = [p for p in self.graph.predecessors(start)
                       if self.graph.nodes[p]["data"] and self.graph.nodes[p]["shape"] is not None
                       and p in self._float_nodes]
            after = self._post_dominator_chain(start, self.post_dominators)
            if len(feeding) == 1:
                start = feeding[0]
            elif after:
                start = after[0]
            else:
                return None, (f"the first layer `{self.graph.nodes[start]['label']}` outputs no single "
                              "tensor (a tuple or a structure) to measure a gradient at")
        ends = self._post_dominator_chain(start, self.post_dominators)
        loss_at = None
        # An encoder whose states are also an output of the model: the output post-dominates it,
        # so the span above would stop at the encoder. When the longest path goes on through more
        # than a tenth of the model's layers (a decoder), follow it to its end instead; the probe
        # then puts its loss there, so that the measured ratio is over the same paths.
        sink = start
        while sink in step and self.graph.nodes[step[sink]]["kind"] != "output":
            sink = step[sink]
        if sink not in ends:
            further = self._post_dominator_chain(start, self._post_dominators_of(sink))
            if further and ends:
                gained = self._layers_within(start, further[-1]) - self._layers_within(start, ends[-1])
                if len(gained) * 10 > len(self._model_layers):
                    ends, loss_at = further, further[-1]
            elif further:
                ends, loss_at = further, further[-1]
        if not ends:
            return None, (f"no tensor after `{self.graph.nodes[start]['label']}` carries every "
                          "gradient that reaches it (the output is a structure of separate paths)")
        # The readout (the last weight layer, followed by nothing but reshapes) is not part of the
        # depth the thresholds are anchored on (hidden layers, THEORY.md §3): the span ends at its
        # input, where every weight layer's gradient has been made. It still counts as covered.
        readout = len(ends) - 1
        while readout > 0 and self.graph.nodes[ends[readout]]["kind"] in ("other", "dropout"):
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
            label = self.graph.nodes[ends[zero]]["label"]
            if zero == 0:
                return None, (f"`{label}` right after the first layer is zero-initialized: "
                              "no gradient reaches the layers before it at initialization")
            if zero < len(ends) - 1:
                covered = set()
            end = loss_at = ends[zero - 1]
            note = (f"`{label}` is zero-initialized, so no gradient reaches the layers before it "
                    f"until the first update: the span ends at its input `{self.graph.nodes[end]['label']}`, "
                    "where the probe puts its loss")
        span = Span(start, end, source, len(self._layers_within(start, end) | covered),
                    len(self._model_layers), loss_at, note)
        return span, None

    def _post_dominator_chain(self, start: str, dominators: dict[str, str]) -> list[str]:
        """The nodes after ``start`` that every path from it to the output crosses, in order,
        that hold one floating-point tensor (the output node itself excluded)."""
        chain, node = [], start
        while node in dominators:
            node = dominators[node]
            facts = self.graph.nodes[node]
            if facts["kind"] == "output":
                break
            if facts["shape"] is not None and node in self._float_nodes:
                chain.append(node)
        return chain

    def _post_dominators_of(self, sink: str) -> dict[str, str]:
        """Immediate post-dominators with ``sink`` as the only exit: over the nodes that reach it."""
        nodes = nx.ancestors(self._data_graph, sink) | {sink}
        idom = nx.immediate_dominators(self._data_graph.subgraph(nodes).reverse(copy=False), sink)
        idom.pop(sink, None)
        return idom

    @functools.cached_property
    def _float_nodes(self) -> frozenset[str]:
        return frozenset(n for n, d in self.graph.nodes(data=True) if d["floating"])

    def _passes_no_gradient(self, node: str) -> bool:
        """A weight layer whose weights are all zero, or a product with a zero parameter or
        number (SkipInit's α): the gradient of its input is exactly zero at initialization."""
        kind = self.graph.nodes[node]["kind"]
        if kind == "weight":
            weight = weight_of(self.graph_module, self.graph, node)
            return weight is not None and not weight.is_meta and not bool(weight.detach().any())
        if kind == "mul":
            values = [a for a in (*self._fx_node(node).args, *self._fx_node(node).kwargs.values())
                      if isinstance(a, (int, float)) and not isinstance(a, bool)]
            values += [get_attr(self.graph_module, a.target) for a in self._fx_node(node).all_input_nodes
                       if a.op == "get_attr"]
            return any((isinstance(v, torch.Tensor) and not v.is_meta and not bool(v.detach().any()))
                       or (isinstance(v, (int, float)) and v == 0) for v in values)
        return False

    @property
    def span(self) -> Span | None:
        """The model's main span (see ``Span``), or None: ``span_note`` says why."""
        return self._span_and_note[0]

    @property
    def span_note(self) -> str | None:
        return self._span_and_note[1]

    @property
    def main_span(self) -> tuple[str, str] | None:
        span = self.span
        return (span.start, span.end) if span is not None else None

    def _stream_origin(self, first: str) -> str:
        """Walk back from the first layer through single-input nodes to the point where the
        stream forks (a skip around the first block starts there); stay on the layer when there
        is no fork or the fork is not a floating-point value."""
        node = first
        while True:
            feeding = [p for p in self.graph.predecessors(node) if self.graph.nodes[p]["data"]]
            if len(feeding) != 1:
                return first
            node = feeding[0]
            if self.graph.nodes[node]["kind"] == "input" and node not in self.input_moments:
                return first  # integer ids: no gradient to measure there
            if len(self._successors.get(node, ())) > 1:
                return node
            if self.graph.nodes[node]["kind"] == "input":
                return first

    def backward_gain(self, start: str, end: str) -> float:
        """Predicted log10 RMS gradient ratio from ``end`` back to ``start`` over *every* path:
        squared gains add over parallel paths, so a residual block contributes 1 + χ(branch)
        (THEORY.md §1, residual blocks) and a gated product the square of its gate."""
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
        if self._data_graph.has_node(start) and self._data_graph.has_node(end) and nx.has_path(self._data_graph, start, end):
            for node in nx.shortest_path(self._data_graph, start, end)[1:]:
                if self._averages(node):
                    inputs = [p for p in self.graph.predecessors(node) if self.graph.nodes[p]["data"]]
                    ratio = self._size_ratio(node, inputs[0]) if len(inputs) == 1 else None
                    if ratio:
                        correction -= 0.5 * math.log10(ratio)
        return correction

    def _averages(self, node: str) -> bool:
        facts = self.graph.nodes[node]
        return facts["target"] in _AVERAGING or (facts["kind"] == "pool" and "Avg" in (facts["module_type"] or ""))

    def span_gain(self, start: str, end: str) -> float:
        """The gradient's ratio over ``start`` → ``end`` as the gain rules judge it: the
        predicted log10 RMS ratio over every path (``backward_gain``) plus ``judged_correction``
        (the ratio of the gradient's norms, averages counted as keeping the gradient)."""
        return self.backward_gain(start, end) + self.judged_correction(start, end)

    def backward_gains(self, start: str, end: str) -> dict[str, float]:
        """Predicted squared RMS gradient of every node between ``start`` and ``end``, relative
        to ``end``'s (the sweep ``backward_gain`` reads its answer from)."""
        gains = self.meanfield
        between = self.between(start, end) | {end}
        total: dict[str, float] = {end: 1.0}
        for node in self._reverse_order:
            if node == end or (node not in between and node != start):
                continue
            value = 0.0
            for succ in self._successors[node]:
                if succ in total:
                    value += total[succ] * self._edge_gain(node, succ, gains)
            total[node] = value
            if node == start:
                break
        return total

    def between(self, start: str, end: str) -> set[str]:
        """Data nodes on some path from ``start`` to ``end`` (both excluded)."""
        return nx.descendants(self._data_graph, start) & nx.ancestors(self._data_graph, end)

    def main_route(self) -> list[str]:
        """The nodes of the main span along its shortest path: the residual stream of a residual
        network, the only path of a plain one."""
        if self.main_span is None:
            return []
        return nx.shortest_path(self._data_graph, *self.main_span)

    @functools.cached_property
    def residual_blocks(self) -> list[ResidualBlock]:
        """The residual blocks along the main span: each add on the main route with the branch
        that feeds it from the stream (the nodes between the stream and the add that are not on
        the route). One backward walk per branch, so linear in the span's size."""
        if self.main_span is None:
            return []
        route = self.main_route()
        on_route = set(route)
        inside = self.between(*self.main_span) | set(self.main_span)
        blocks = []
        for previous, node in itertools.pairwise(route):
            if self.graph.nodes[node]["kind"] != "add":
                continue
            branch: set[str] = set()
            sources: set[str] = set()
            stack = [p for p in self._data_graph.predecessors(node) if p not in on_route and p in inside]
            while stack:
                current = stack.pop()
                if current in on_route:
                    sources.add(current)
                if current in branch or current in on_route or current not in inside:
                    continue
                branch.add(current)
                stack.extend(self._data_graph.predecessors(current))
            if branch:
                blocks.append(ResidualBlock(node, frozenset(branch), previous in sources))
        return blocks

    @functools.cached_property
    def main_span_class(self) -> str | None:
        """The main span's network class (THEORY.md §3): S when saturating activations carry it
        with no normalization and no residual stream (an identity skip: a damped skip does not
        keep the gradient), N when normalization layers sit on it (judged as H, except that
        GL202 needs the error threshold), H otherwise (ReLU family, linear, residual stream)."""
        if self.main_span is None:
            return None
        between = self.between(*self.main_span)
        if any(self.graph.nodes[n]["kind"] == "norm" for n in between):
            return "N"
        saturating = sum(self.graph.nodes[n]["saturating"] for n in between)
        residual = any(block.identity_skip for block in self.residual_blocks)
        return "S" if saturating >= 2 and not residual else "H"

    def _edge_gain(self, source: str, target: str, gains: dict[str, tuple[float, float]]) -> float:
        if self.graph.nodes[target]["kind"] == "mul":
            others = [gains[p][0] for p in self.graph.predecessors(target)
                      if p != source and self.graph.nodes[p]["data"]]
            return math.prod(others) * self._constant_factor(target) if others else gains[target][1]
        return gains[target][1]

    def _constant_factor(self, name: str) -> float:
        """The squared gain of what a product multiplies by besides its data: numbers
        (``0.5 * x``) and parameters or buffers (SkipInit's ``alpha * branch``, α = 0 at init)."""
        node = self._fx_node(name)
        factor = 1.0
        for a in (*node.args, *node.kwargs.values()):
            if isinstance(a, (int, float)) and not isinstance(a, bool):
                factor *= float(a) ** 2
            elif isinstance(a, fx.Node) and a.op == "get_attr":
                value = get_attr(self.graph_module, a.target)
                if isinstance(value, torch.Tensor) and value.is_floating_point():
                    factor *= float(value.detach().double().pow(2).mean())
        return factor

    def comparable_span(self, chain: Chain) -> tuple[str, str]:
        """The part of a chain whose two ends have the same output shape.

        RMS gradients are only comparable between tensors of the same shape: across a narrowing
        output head the RMS drops with the width (χ = fan_out·Var(W)), which is not vanishing.
        The span runs from the first to the last member with the chain's most common shape.
        """
        shapes = [self.graph.nodes[n]["shape"] for n in chain.nodes]
        if any(shape is None for shape in shapes):
            return chain.start, chain.end
        common = max(shapes, key=lambda s: (shapes.count(s), -shapes.index(s)))
        members = [n for n, shape in zip(chain.nodes, shapes) if shape == common]
        return members[0], members[-1]

    def depth_chains(self, is_member: Callable[[str], bool], breaker_kinds: tuple[str, ...]) -> list[Chain]:
        """``chains`` for the depth rules: nodes of ``breaker_kinds`` end a chain, and so do the
        time steps of a loop (a recurrence, judged over its horizon by GL301, not as depth)."""
        graph, recurrent = self.graph, self.recurrent_nodes
        return self.chains(is_member, lambda n: graph.nodes[n]["kind"] in breaker_kinds or n in recurrent)

    @functools.cached_property
    def recurrent_applications(self) -> dict[str, list[str]]:
        """Weights applied again and again along one chain: a Python loop over time steps.

        Maps the module (or parameter) to its data-dependent applications in graph order, when
        each application feeds the next one. Rules that reason about depth treat these nodes as
        the recurrence they are (GL301's business), not as a deep feed-forward stack.
        """
        order = {n: i for i, n in enumerate(self._order)}
        uses: dict[str, list[str]] = {}
        for node, facts in self.graph.nodes(data=True):
            if facts["kind"] == "weight" and facts["data"]:
                key = facts["module"] or ",".join(sorted(facts["params"]))
                uses.setdefault(key, []).append(node)
        recurrent = {}
        for key, nodes in sorted(uses.items()):
            nodes.sort(key=order.__getitem__)
            if len(nodes) >= 2 and all(nx.has_path(self.graph, a, b) for a, b in zip(nodes, nodes[1:])):
                recurrent[key] = nodes
        return recurrent

    @functools.cached_property
    def recurrent_nodes(self) -> frozenset[str]:
        return frozenset(n for nodes in self.recurrent_applications.values() for n in nodes)

    # --- mean-field gain --------------------------------------------------------------------
    @functools.cached_property
    def meanfield(self) -> dict[str, tuple[float, float]]:
        """node -> (q: forward second moment of its output, chi: backward squared gain)."""
        result: dict[str, tuple[float, float]] = {}
        variance: dict[str, float] = {}
        means = self._means
        for name in self._order:
            facts = self.graph.nodes[name]
            data_inputs = [p for p in self.graph.predecessors(name) if self.graph.nodes[p]["data"]]
            q_inputs = [result[p][0] for p in data_inputs]
            v_in = variance[data_inputs[0]] if data_inputs else 1.0
            q, chi, v, means[name] = self._node_gain(name, facts, q_inputs, v_in, data_inputs)
            result[name] = (q, chi)
            variance[name] = v
        return result

    def static_d(self, chain: Chain, start: str, end: str) -> float:
        """Predicted log10 RMS gradient ratio along the chain's route, gradient at ``start`` over
        gradient at ``end``."""
        gains = self.meanfield
        total = 0.0
        for node in chain.between(start, end):
            total += math.log10(max(gains[node][1], 1e-300))
        return 0.5 * total

    def _node_gain(self, name: str, facts: dict[str, Any], q_inputs: list[float], v_in: float,
                   data_inputs: list[str]) -> tuple[float, float, float, float]:
        """(q, chi, v, m) of one node: v is the batch variance of its output, which normalization
        divides by — the per-unit offset a ReLU adds is removed by BatchNorm's centering, which
        is where a BN-ReLU block's gain of π/(π−1) comes from (THEORY.md §1, Yang 2019) — and m
        the mean its units share (weight layers and normalizations reset it to 0)."""
        m_inputs = [self._means[p] for p in data_inputs]
        kind = facts["kind"]
        if kind in ("weight", "norm", "embedding", "input"):
            return (*self._node_moments(name, facts, q_inputs, v_in, data_inputs, m_inputs), 0.0)
        if kind == "activation":
            q_in = q_inputs[0] if q_inputs else 1.0
            e_dphi2, e_phi2, e_phi = self._activation_moments(name, q_in)
            return e_phi2, e_dphi2, max(e_phi2 - e_phi**2, 1e-12), e_phi
        q, chi, v = self._node_moments(name, facts, q_inputs, v_in, data_inputs, m_inputs)
        m_in = m_inputs[0] if m_inputs else 0.0
        if kind == "add":
            return q, chi, v, sum(m_inputs)
        if kind == "mul":
            return q, chi, v, math.prod(m_inputs) * math.sqrt(self._constant_factor(name))
        if kind == "div":
            return q, chi, v, m_in * math.sqrt(q / max(q_inputs[0], 1e-300)) if q_inputs else 0.0
        if kind == "cat":
            return q, chi, v, sum(m_inputs) / len(m_inputs) if m_inputs else 0.0
        return q, chi, v, m_in

    def _node_moments(self, name: str, facts: dict[str, Any], q_inputs: list[float], v_in: float,
                      data_inputs: list[str], m_inputs: list[float]) -> tuple[float, float, float]:
        q_in = q_inputs[0] if q_inputs else 1.0
        kind = facts["kind"]
        if kind == "input":
            q = self.input_moments.get(name, 1.0)
            return q, 1.0, q
        if kind == "weight":
            return self._weight_gain(name, q_in, v_in)
        if kind == "norm":
            gamma2, beta2 = self._affine_moments(name)
            return gamma2 + beta2, gamma2 / max(v_in, 1e-12), gamma2
        if kind == "dropout":
            p = self._dropout_p(name)
            return q_in / (1.0 - p), 1.0 / (1.0 - p), v_in / (1.0 - p)
        if kind == "pool":
            return q_in, self._pool_gain(name, data_inputs), v_in
        if kind == "add":  # independent inputs; their shared means add up coherently
            if not q_inputs:
                return q_in, 1.0, v_in
            cross = sum(m_inputs) ** 2 - sum(m * m for m in m_inputs)
            variances = [max(q - m * m, 0.0) for q, m in zip(q_inputs, m_inputs)]
            return sum(q_inputs) + cross, 1.0, sum(variances)
        if kind == "mul":
            factor = self._constant_factor(name)
            if len(q_inputs) >= 2:
                q = math.prod(q_inputs) * factor
                return q, math.prod(q_inputs[1:]) * factor, q
            return q_in * factor, factor, v_in * factor
        if kind == "div":  # x / c scales by 1/c; x / y by about 1/rms(y)
            node = self._fx_node(name)
            divisor = node.args[1] if len(node.args) > 1 else None
            if isinstance(divisor, (int, float)) and not isinstance(divisor, bool) and divisor:
                factor = 1.0 / float(divisor) ** 2
            elif len(q_inputs) >= 2:
                factor = 1.0 / max(q_inputs[1], 1e-12)
            else:
                factor = 1.0
            return q_in * factor, factor, v_in * factor
        if kind == "cat":
            q = sum(q_inputs) / len(q_inputs) if q_inputs else q_in
            return q, 1.0, q
        if kind == "embedding":
            weight = weight_of(self.graph_module, self.graph, name)
            q = float(weight.detach().double().pow(2).mean()) if weight is not None else 1.0
            return q, 1.0, q
        if len(data_inputs) == 1:
            return q_in, self._resize_gain(name, data_inputs[0]), v_in
        return q_in, 1.0, v_in

    def _size_ratio(self, name: str, source: str) -> float | None:
        """Output elements over input elements, from the example shapes."""
        shape_out, shape_in = self.graph.nodes[name]["shape"], self.graph.nodes[source]["shape"]
        if shape_out is None or shape_in is None:
            return None
        return math.prod(shape_out) / max(math.prod(shape_in), 1)

    def _resize_gain(self, name: str, source: str) -> float:
        """The squared gain, per element, of an op that only moves, picks, repeats or reduces
        elements. Picking k of n (indexing, gathers, slices, max-pooling) leaves the picked
        gradients as they are and zeros elsewhere: n_out/n_in. Repeating (expand, nearest
        interpolation) sums about n_out/n_in independent gradients into each input: the same.
        Averaging k elements hands each 1/k of the gradient: (n_out/n_in)². Summing hands each
        the whole gradient, and padding keeps each one's own: 1. Reshapes, permutes, rolls and window partitions keep the count: 1."""
        ratio = self._size_ratio(name, source)
        if ratio is None or ratio == 1.0:
            return 1.0
        target = self.graph.nodes[name]["target"]
        if target in _AVERAGING:
            return ratio**2
        if target in _KEEPING:
            return 1.0
        return ratio

    def _weight_gain(self, name: str, q_in: float, v_in: float) -> tuple[float, float, float]:
        facts = self.graph.nodes[name]
        key = facts["module"] or ",".join(sorted(facts["params"])) or name
        if key not in self._weights:  # a layer applied at every time step is measured once
            weight = weight_of(self.graph_module, self.graph, name)
            if weight is None or weight.dim() < 2:
                self._weights[key] = None
            else:
                w = weight.detach()
                fan_in, fan_out = _fans(self.graph, self.graph_module, name, w)
                self._weights[key] = (float(w.square().mean()), fan_in, fan_out, self._bias_moment(name))
        known = self._weights[key]
        if known is None:
            return q_in, 1.0, v_in
        second_moment, fan_in, fan_out, bias2 = known
        return (fan_in * second_moment * q_in + bias2, fan_out * second_moment,
                fan_in * second_moment * v_in)

    def _bias_moment(self, name: str) -> float:
        facts = self.graph.nodes[name]
        if facts["op"] == "call_module":
            bias = getattr(self.graph_module.get_submodule(facts["module"]), "bias", None)
            if isinstance(bias, torch.Tensor):
                return float(bias.detach().double().pow(2).mean())
        return 0.0

    def _affine_moments(self, name: str) -> tuple[float, float]:
        facts = self.graph.nodes[name]
        gamma2, beta2 = 1.0, 0.0
        if facts["op"] == "call_module":
            module = self.graph_module.get_submodule(facts["module"])
            weight, bias = getattr(module, "weight", None), getattr(module, "bias", None)
            if isinstance(weight, torch.Tensor):
                gamma2 = float(weight.detach().double().pow(2).mean())
            if isinstance(bias, torch.Tensor):
                beta2 = float(bias.detach().double().pow(2).mean())
        return gamma2, beta2

    def _dropout_p(self, name: str) -> float:
        node = self._fx_node(name)
        if node.op == "call_module":
            return float(getattr(self.graph_module.get_submodule(node.target), "p", 0.0))
        p = node.kwargs.get("p", node.args[1] if len(node.args) > 1 else 0.5)
        return float(p) if isinstance(p, (int, float)) and p < 1 else 0.0

    def _pool_gain(self, name: str, data_inputs: list[str]) -> float:
        ratio = self._size_ratio(name, data_inputs[0]) if data_inputs else None
        if ratio is not None:
            return ratio**2 if self._averages(name) else ratio
        node = self._fx_node(name)
        kernel: Any = None
        if node.op == "call_module":
            kernel = getattr(self.graph_module.get_submodule(node.target), "kernel_size", None)
        else:
            kernel = node.kwargs.get("kernel_size", node.args[1] if len(node.args) > 1 else None)
        if isinstance(kernel, int):
            return 1.0 / kernel**2
        if isinstance(kernel, tuple) and all(isinstance(k, int) for k in kernel):
            return 1.0 / math.prod(kernel)
        return 1.0

    @functools.cached_property
    def _fx_nodes(self) -> dict[str, fx.Node]:
        return {node.name: node for node in self.graph_module.graph.nodes}

    def _fx_node(self, name: str) -> fx.Node:
        return self._fx_nodes[name]

    def _activation_moments(self, name: str, q: float) -> tuple[float, float, float]:
        """E[φ'(z)²], E[φ(z)²] and E[φ(z)] for z ~ N(0, q), for the activation as the model calls it
        (memoized per activation and q: deep stacks repeat both)."""
        # q to three significant digits, and clamped below: under 1e-6 every activation is in
        # its linear regime (no upper clamp: a ReLU's E[φ²] keeps growing with q)
        key = (self._activation_key(name), float(f"{min(max(q, 1e-6), 1e300):.3g}"))
        if key not in self._moments:
            self._moments[key] = self._compute_moments(name, key[1])
        return self._moments[key]

    def _activation_key(self, name: str) -> tuple:
        node = self._fx_node(name)
        if node.op == "call_module":
            module = self.graph_module.get_submodule(node.target)
            if isinstance(module, torch.nn.PReLU):
                return (node.target,)
            return (type(module), module.extra_repr())
        constants = tuple(repr(a) for a in node.args[1:] if not isinstance(a, fx.Node))
        kwargs = tuple(sorted((k, repr(v)) for k, v in node.kwargs.items() if not isinstance(v, fx.Node)))
        return (node.op, node.target, constants, kwargs)

    def _compute_moments(self, name: str, q: float) -> tuple[float, float, float]:
        function = self._activation_callable(name)
        z = (_GRID * math.sqrt(max(q, 1e-12))).requires_grad_(True)
        with torch.enable_grad():
            y = function(z)
            (grad,) = torch.autograd.grad(y.sum(), z)
        weights = _GRID_WEIGHTS
        y = y.detach()
        return (float((grad.detach() ** 2 * weights).sum()), float((y**2 * weights).sum()),
                float((y * weights).sum()))

    def _activation_callable(self, name: str) -> Callable[[torch.Tensor], torch.Tensor]:
        node = self._fx_node(name)
        if node.op == "call_module":
            module = self.graph_module.get_submodule(node.target)
            return lambda z: _call_module_double(module, z)
        constants = [a for a in node.args[1:] if not isinstance(a, fx.Node)]
        kwargs = {k: v for k, v in node.kwargs.items() if not isinstance(v, fx.Node) and k != "inplace"}
        if node.op == "call_method":
            return lambda z: getattr(z, node.target.rstrip("_"))(*constants, **kwargs)
        return lambda z: node.target(z, *constants, **kwargs)


def _call_module_double(module: torch.nn.Module, z: torch.Tensor) -> torch.Tensor:
    if isinstance(module, torch.nn.PReLU):  # a learned slope: use the (first) slope
        slope = module.weight.detach().double().reshape(-1)[0]
        return torch.where(z >= 0, z, slope * z)
    inplace = getattr(module, "inplace", None)
    if inplace:
        module.inplace = False
    try:
        return module(z)
    finally:
        if inplace:
            module.inplace = True


def _fans(graph: nx.DiGraph, gm: fx.GraphModule, name: str, w: torch.Tensor) -> tuple[float, float]:
    facts = graph.nodes[name]
    if w.dim() == 2 and facts["op"] != "call_module" and facts["target"] in ("matmul", "mm", "bmm", "addmm"):
        return float(w.shape[0]), float(w.shape[1])  # x @ W: W is (in, out)
    receptive = w[0][0].numel() if w.dim() > 2 else 1
    fan_in, fan_out = w.shape[1] * receptive, w.shape[0] * receptive
    if facts["op"] == "call_module":
        module = gm.get_submodule(facts["module"])
        groups = getattr(module, "groups", 1) or 1
        stride = getattr(module, "stride", 1)
        fan_out = fan_out / groups / (math.prod(stride) if isinstance(stride, tuple) else stride)
    return float(fan_in), float(fan_out)
