"""Mean-field pass: the forward second moment and the backward squared gain of every node.

For every node, ``q``, the second moment of its output, and ``chi``, the squared gain from its
output's gradient to its data input's, from the actual weights and each activation's
E[φ'(z)²] at z ~ N(0, q) (Poole et al. 2016, Schoenholz et al. 2017; docs/THEORY.md §1). Along a
route, D = ½·Σ log10 chi. Alongside, each node's batch variance ``v`` (what a normalization divides
by: the offset a ReLU adds to every unit is removed by BatchNorm's centering, which is where a
BN-ReLU block's gain of π/(π−1) comes from, Yang et al. 2019) and the mean ``m`` its units share
(a ReLU's output has the same positive mean in every unit, and a residual stream adds these up
coherently; weight layers and normalizations reset it to 0). One forward sweep in topological order.

Requires: ``topology`` (order, data inputs), ``weights`` (layer scales), ``moments`` (activation
moments), the example inputs' second moments.

Ensures: ``MeanField``: node -> (q, chi), for every node.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import networkx as nx
import torch
from torch import fx, nn

from gradlint.passes.moments import ActivationMoments
from gradlint.passes.topology import Topology, node_facts
from gradlint.passes.weights import LayerScales
from gradlint.tracing.graph import get_attr, weight_of

# ops that average the elements they reduce: each input element gets 1/k of the gradient
AVERAGING = frozenset({"mean", "nanmean", "avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d",
                       "adaptive_avg_pool2d", "adaptive_avg_pool3d"})
# ops that add elements without touching the others' gradients: each input element keeps its own
_KEEPING = frozenset({"sum", "nansum", "pad"})

MeanField = Mapping[str, tuple[float, float]]


def meanfield(graph: nx.DiGraph, graph_module: fx.GraphModule, topo: Topology, scales: LayerScales,
              activations: ActivationMoments, input_moments: Mapping[str, float],
              modules: Mapping[str, nn.Module], fx_nodes: Mapping[str, fx.Node]) -> MeanField:
    """The mean-field pass (see the module docstring)."""
    sweep = _Sweep(graph, graph_module, topo, scales, activations, input_moments, modules, fx_nodes)
    result: dict[str, tuple[float, float]] = {}
    variance: dict[str, float] = {}
    means: dict[str, float] = {}
    nodes, data_inputs, kinds = node_facts(graph), topo.data_inputs, topo.kind
    at = activations.at
    for name in topo.order:
        inputs = data_inputs[name]
        kind = kinds[name]
        if len(inputs) == 1 and (kind == "weight" or kind == "activation"):
            # the two kinds that make up most of a deep graph, without building input lists
            # (the same formulas as ``_Sweep.node``)
            source = inputs[0]
            q_in = result[source][0]
            if kind == "activation":
                e_dphi2, e_phi2, e_phi = at(name, q_in)
                result[name] = (e_phi2, e_dphi2)
                variance[name], means[name] = max(e_phi2 - e_phi**2, 1e-12), e_phi
                continue
            scale = scales[name]
            if scale is None:
                result[name] = (q_in, 1.0)
                variance[name], means[name] = variance[source], 0.0
                continue
            gain = scale.fan_in * scale.second_moment
            result[name] = (gain * q_in + scale.bias2, scale.fan_out * scale.second_moment)
            variance[name], means[name] = gain * variance[source], 0.0
            continue
        q_inputs = [result[p][0] for p in inputs]
        m_inputs = [means[p] for p in inputs]
        v_in = variance[inputs[0]] if inputs else 1.0
        q, chi, variance[name], means[name] = sweep.node(name, nodes[name], q_inputs, v_in, inputs, m_inputs)
        result[name] = (q, chi)
    return result


def constant_factor(graph_module: fx.GraphModule, node: fx.Node) -> float:
    """The squared gain of what a product multiplies by besides its data: numbers
    (``0.5 * x``) and parameters or buffers (SkipInit's ``alpha * branch``, α = 0 at init)."""
    factor = 1.0
    for a in (*node.args, *node.kwargs.values()):
        if isinstance(a, (int, float)) and not isinstance(a, bool):
            factor *= float(a) ** 2
        elif isinstance(a, fx.Node) and a.op == "get_attr":
            value = get_attr(graph_module, a.target)
            if isinstance(value, torch.Tensor) and value.is_floating_point():
                factor *= float(value.detach().double().pow(2).mean())
    return factor


def size_ratio(graph: nx.DiGraph, name: str, source: str) -> float | None:
    """Output elements over input elements, from the example shapes."""
    nodes = node_facts(graph)
    shape_out, shape_in = nodes[name]["shape"], nodes[source]["shape"]
    if shape_out is None or shape_in is None:
        return None
    return math.prod(shape_out) / max(math.prod(shape_in), 1)


def averages(facts: Mapping[str, Any]) -> bool:
    """The node averages the elements it reduces (a mean, an average pooling)."""
    return facts["target"] in AVERAGING or (facts["kind"] == "pool" and "Avg" in (facts["module_type"] or ""))


class _Sweep:
    """The per-node formulas of one sweep; holds only what the pass was given."""

    def __init__(self, graph: nx.DiGraph, graph_module: fx.GraphModule, topo: Topology,
                 scales: LayerScales, activations: ActivationMoments,
                 input_moments: Mapping[str, float], modules: Mapping[str, nn.Module],
                 fx_nodes: Mapping[str, fx.Node]) -> None:
        self.graph, self.graph_module, self.topo = graph, graph_module, topo
        self.scales, self.activations, self.input_moments = scales, activations, input_moments
        self.modules = modules
        self.fx_nodes = fx_nodes

    def node(self, name: str, facts: dict[str, Any], q_inputs: list[float], v_in: float,
             data_inputs: tuple[str, ...], m_inputs: list[float]) -> tuple[float, float, float, float]:
        """(q, chi, v, m) of one node."""
        kind = facts["kind"]
        if kind == "activation":
            q_in = q_inputs[0] if q_inputs else 1.0
            e_dphi2, e_phi2, e_phi = self.activations.at(name, q_in)
            return e_phi2, e_dphi2, max(e_phi2 - e_phi**2, 1e-12), e_phi
        if kind == "weight":
            q_in = q_inputs[0] if q_inputs else 1.0
            scale = self.scales[name]
            if scale is None:
                return q_in, 1.0, v_in, 0.0
            gain = scale.fan_in * scale.second_moment
            return gain * q_in + scale.bias2, scale.fan_out * scale.second_moment, gain * v_in, 0.0
        if kind in ("norm", "embedding", "input"):
            return (*self.moments(name, facts, q_inputs, v_in, data_inputs, m_inputs), 0.0)
        q, chi, v = self.moments(name, facts, q_inputs, v_in, data_inputs, m_inputs)
        m_in = m_inputs[0] if m_inputs else 0.0
        if kind == "add":
            return q, chi, v, sum(m_inputs)
        if kind == "mul":
            return q, chi, v, math.prod(m_inputs) * math.sqrt(constant_factor(self.graph_module, self.fx_nodes[name]))
        if kind == "div":
            return q, chi, v, m_in * math.sqrt(q / max(q_inputs[0], 1e-300)) if q_inputs else 0.0
        if kind == "cat":
            return q, chi, v, sum(m_inputs) / len(m_inputs) if m_inputs else 0.0
        return q, chi, v, m_in

    def moments(self, name: str, facts: dict[str, Any], q_inputs: list[float], v_in: float,
                data_inputs: tuple[str, ...], m_inputs: list[float]) -> tuple[float, float, float]:
        q_in = q_inputs[0] if q_inputs else 1.0
        kind = facts["kind"]
        if kind == "input":
            q = self.input_moments.get(name, 1.0)
            return q, 1.0, q
        if kind == "norm":
            gamma2, beta2 = self._affine_moments(facts)
            return gamma2 + beta2, gamma2 / max(v_in, 1e-12), gamma2
        if kind == "dropout":
            p = self._dropout_p(name)
            return q_in / (1.0 - p), 1.0 / (1.0 - p), v_in / (1.0 - p)
        if kind == "pool":
            return q_in, self._pool_gain(name, facts, data_inputs), v_in
        if kind == "add":  # independent inputs; their shared means add up coherently
            if not q_inputs:
                return q_in, 1.0, v_in
            cross = sum(m_inputs) ** 2 - sum(m * m for m in m_inputs)
            variances = [max(q - m * m, 0.0) for q, m in zip(q_inputs, m_inputs)]
            return sum(q_inputs) + cross, 1.0, sum(variances)
        if kind == "mul":
            factor = constant_factor(self.graph_module, self.fx_nodes[name])
            if len(q_inputs) >= 2:
                q = math.prod(q_inputs) * factor
                return q, math.prod(q_inputs[1:]) * factor, q
            return q_in * factor, factor, v_in * factor
        if kind == "div":  # x / c scales by 1/c; x / y by about 1/rms(y)
            node = self.fx_nodes[name]
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
            return q_in, self._resize_gain(name, facts, data_inputs[0]), v_in
        return q_in, 1.0, v_in

    def _resize_gain(self, name: str, facts: Mapping[str, Any], source: str) -> float:
        """The squared gain, per element, of an op that only moves, picks, repeats or reduces
        elements. Picking k of n (indexing, gathers, slices, max-pooling) leaves the picked
        gradients as they are and zeros elsewhere: n_out/n_in. Repeating (expand, nearest
        interpolation) sums about n_out/n_in independent gradients into each input: the same.
        Averaging k elements hands each 1/k of the gradient: (n_out/n_in)². Summing hands each
        the whole gradient, and padding keeps each one's own: 1. Reshapes, permutes, rolls and
        window partitions keep the count: 1."""
        ratio = size_ratio(self.graph, name, source)
        if ratio is None or ratio == 1.0:
            return 1.0
        target = facts["target"]
        if target in AVERAGING:
            return ratio**2
        if target in _KEEPING:
            return 1.0
        return ratio

    def _module(self, qualname: str) -> nn.Module:
        module = self.modules.get(qualname)
        return module if module is not None else self.graph_module.get_submodule(qualname)

    def _affine_moments(self, facts: Mapping[str, Any]) -> tuple[float, float]:
        gamma2, beta2 = 1.0, 0.0
        if facts["op"] == "call_module":
            module = self._module(facts["module"])
            weight, bias = getattr(module, "weight", None), getattr(module, "bias", None)
            if isinstance(weight, torch.Tensor):
                gamma2 = float(weight.detach().double().pow(2).mean())
            if isinstance(bias, torch.Tensor):
                beta2 = float(bias.detach().double().pow(2).mean())
        return gamma2, beta2

    def _dropout_p(self, name: str) -> float:
        node = self.fx_nodes[name]
        if node.op == "call_module":
            return float(getattr(self._module(node.target), "p", 0.0))
        p = node.kwargs.get("p", node.args[1] if len(node.args) > 1 else 0.5)
        return float(p) if isinstance(p, (int, float)) and p < 1 else 0.0

    def _pool_gain(self, name: str, facts: Mapping[str, Any], data_inputs: tuple[str, ...]) -> float:
        ratio = size_ratio(self.graph, name, data_inputs[0]) if data_inputs else None
        if ratio is not None:
            return ratio**2 if averages(facts) else ratio
        node = self.fx_nodes[name]
        kernel: Any = None
        if node.op == "call_module":
            kernel = getattr(self._module(node.target), "kernel_size", None)
        else:
            kernel = node.kwargs.get("kernel_size", node.args[1] if len(node.args) > 1 else None)
        if isinstance(kernel, int):
            return 1.0 / kernel**2
        if isinstance(kernel, tuple) and all(isinstance(k, int) for k in kernel):
            return 1.0 / math.prod(kernel)
        return 1.0
