"""Activation-moments pass: how to evaluate E[φ'(z)²], E[φ(z)²] and E[φ(z)] for each activation.

For z ~ N(0, q) the three moments are Gaussian integrals, computed on a fixed grid of 1401 points
over ±7σ with the activation as the model calls it (the module with its settings, or the
function with its constant arguments; a PReLU with its first learned slope). The mean-field pass
asks for them at the q it has propagated to each activation.

Requires: the graph and its fx module.

Ensures: ``ActivationMoments``: activation node -> a key that is equal for two activations that
compute the same function, and ``at(node, q)``, the three moments at q. Answers are memoized per
key and q to three significant digits (deep stacks repeat both); below q = 1e-6 every activation
is in its linear regime, so q is clamped there (no upper clamp: a ReLU's E[φ²] keeps growing).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping

import networkx as nx
import torch
from torch import fx, nn

_GRID = torch.linspace(-7.0, 7.0, 1401, dtype=torch.float64)
_GRID_WEIGHTS = torch.exp(-0.5 * _GRID**2)
_GRID_WEIGHTS = _GRID_WEIGHTS / _GRID_WEIGHTS.sum()


class ActivationMoments:
    """The activations of one model and their moments. The memo is the only state, and a
    query's answer never depends on it."""

    def __init__(self, keys: Mapping[str, Hashable], functions: Mapping[Hashable, Callable]) -> None:
        self.keys = keys
        self._functions = functions
        self._memo: dict[tuple, tuple[float, float, float]] = {}

    def at(self, node: str, q: float) -> tuple[float, float, float]:
        """E[φ'(z)²], E[φ(z)²] and E[φ(z)] of ``node``'s activation at z ~ N(0, q)."""
        key = (self.keys[node], float(f"{min(max(q, 1e-6), 1e300):.3g}"))
        known = self._memo.get(key)
        if known is None:
            known = self._memo[key] = gaussian_moments(self._functions[key[0]], key[1])
        return known


def moments(graph: nx.DiGraph, graph_module: fx.GraphModule, modules: Mapping[str, nn.Module],
            fx_nodes: Mapping[str, fx.Node]) -> ActivationMoments:
    """The activation-moments pass (see the module docstring)."""
    keys: dict[str, Hashable] = {}
    functions: dict[Hashable, Callable] = {}
    for name, facts in graph.nodes(data=True):
        if facts["kind"] != "activation":
            continue
        node = fx_nodes[name]
        module = _submodule(graph_module, modules, node.target) if node.op == "call_module" else None
        key = _activation_key(node, module)
        keys[name] = key
        if key not in functions:
            functions[key] = _activation_callable(node, module)
    return ActivationMoments(keys, functions)


def gaussian_moments(function: Callable[[torch.Tensor], torch.Tensor], q: float) -> tuple[float, float, float]:
    """E[φ'(z)²], E[φ(z)²] and E[φ(z)] for z ~ N(0, q), on the grid.

    >>> [round(m, 3) for m in gaussian_moments(torch.relu, 1.0)]
    [0.498, 0.5, 0.399]
    """
    z = (_GRID * math.sqrt(max(q, 1e-12))).requires_grad_(True)
    with torch.enable_grad():
        y = function(z)
        (grad,) = torch.autograd.grad(y.sum(), z)
    weights = _GRID_WEIGHTS
    y = y.detach()
    return (float((grad.detach() ** 2 * weights).sum()), float((y**2 * weights).sum()),
            float((y * weights).sum()))


def _submodule(graph_module: fx.GraphModule, modules: Mapping[str, nn.Module], qualname: str) -> nn.Module:
    module = modules.get(qualname)
    return module if module is not None else graph_module.get_submodule(qualname)


def _activation_key(node: fx.Node, module: nn.Module | None) -> Hashable:
    if module is not None:
        if isinstance(module, nn.PReLU):
            return (node.target,)
        return (type(module), module.extra_repr())
    constants = tuple(repr(a) for a in node.args[1:] if not isinstance(a, fx.Node))
    kwargs = tuple(sorted((k, repr(v)) for k, v in node.kwargs.items() if not isinstance(v, fx.Node)))
    return (node.op, node.target, constants, kwargs)


def _activation_callable(node: fx.Node, module: nn.Module | None) -> Callable[[torch.Tensor], torch.Tensor]:
    if module is not None:
        return lambda z: _call_module_double(module, z)
    constants = [a for a in node.args[1:] if not isinstance(a, fx.Node)]
    kwargs = {k: v for k, v in node.kwargs.items() if not isinstance(v, fx.Node) and k != "inplace"}
    if node.op == "call_method":
        return lambda z: getattr(z, node.target.rstrip("_"))(*constants, **kwargs)
    return lambda z: node.target(z, *constants, **kwargs)


def _call_module_double(module: nn.Module, z: torch.Tensor) -> torch.Tensor:
    if isinstance(module, nn.PReLU):  # a learned slope: use the (first) slope
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
