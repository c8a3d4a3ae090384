"""Weight-statistics pass: the scale of every weight layer, read from its tensors once.

What the mean-field gain needs of a layer y = W·x + b: E[W²] (the second moment of its weights),
its fans (fan_in·E[W²] scales the forward moment, fan_out·E[W²] the backward one) and E[b²].
A layer applied at every time step is measured once. The second moments are computed in
batches: tensors of the same shape and dtype are stacked and reduced together, one torch call
per group instead of a few per layer (a 100k-node unrolled graph has tens of thousands of
layers). Only tensors of at most ``_BATCHED`` elements are batched: up to there torch reduces a
tensor in one serial pass, so the stacked reduction gives bit-for-bit the same number as
reducing each tensor alone (larger ones are split between threads, in another order).

Requires: ``topology`` (the order: a layer's first application decides its fans).

Ensures: ``LayerScales``: weight-kind node -> ``LayerScale`` (None when the node applies no
single weight matrix: no weight, a vector, or several matrices).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import NamedTuple

import networkx as nx
import torch
from torch import fx, nn

from gradlint.graph import weight_of
from gradlint.passes.topology import Topology, node_facts

# torch's grain size: a reduction over at most this many elements runs in one serial pass
_BATCHED = 32768


class LayerScale(NamedTuple):   # a tuple: one per layer, built fast
    second_moment: float   # E[W²], in the weight's own dtype as the layer computes
    fan_in: float
    fan_out: float
    bias2: float           # E[b²] (0 without a bias)


LayerScales = Mapping[str, "LayerScale | None"]


def weights(graph: nx.DiGraph, graph_module: fx.GraphModule, topo: Topology,
            modules: Mapping[str, nn.Module]) -> LayerScales:
    """The weight-statistics pass (see the module docstring)."""
    nodes = node_facts(graph)
    first: dict[str, str] = {}        # layer key -> its first application
    key_of: dict[str, str] = {}
    for name in topo.by_kind.get("weight", ()):
        facts = nodes[name]
        key = facts["module"] or ",".join(sorted(facts["params"])) or name
        key_of[name] = key
        first.setdefault(key, name)
    matrices: dict[str, torch.Tensor] = {}
    biases: dict[str, torch.Tensor] = {}
    for key, name in first.items():
        if nodes[name]["op"] == "call_module":
            weight, bias = _weight_and_bias(_module(graph_module, modules, nodes[name]["module"]))
        else:
            weight, bias = weight_of(graph_module, graph, name), None
        if weight is None or weight.dim() < 2:
            continue
        matrices[key] = weight
        if bias is not None:
            biases[key] = bias
    with torch.no_grad():
        second = mean_squares(matrices)
        bias2 = mean_squares(biases, double=True)
    scales: dict[str, LayerScale] = {}
    for key, w in matrices.items():
        fan_in, fan_out = _fans(nodes[first[key]], modules, graph_module, w)
        scales[key] = LayerScale(second[key], fan_in, fan_out, bias2.get(key, 0.0))
    return {name: scales.get(key) for name, key in key_of.items()}


def mean_squares(tensors: Mapping[str, torch.Tensor], double: bool = False) -> dict[str, float]:
    """``float(t.square().mean())`` of every tensor (of ``t.double()`` with ``double``), computed
    in batches of equal shape and dtype, bit-for-bit equal to computing each alone.

    >>> t = {"a": torch.ones(2, 2), "b": torch.full((2, 2), 2.0), "c": torch.zeros(3)}
    >>> mean_squares(t)
    {'a': 1.0, 'b': 4.0, 'c': 0.0}
    """
    result: dict[str, float] = {}
    groups: dict[tuple, list[str]] = {}
    for key, t in tensors.items():
        if t.numel() <= _BATCHED and t.is_contiguous() and not t.is_meta:
            groups.setdefault((tuple(t.shape), t.dtype, t.device), []).append(key)
        else:
            result[key] = float((t.double() if double else t).square().mean())
    for keys in groups.values():
        stacked = torch.stack([tensors[k] for k in keys]).reshape(len(keys), -1)
        if double:
            stacked = stacked.double()   # exact: the same values as converting each alone
        for key, value in zip(keys, stacked.square().mean(dim=1).tolist()):
            result[key] = value
    return {key: result[key] for key in tensors}


def _tensor(value: object) -> torch.Tensor | None:
    return value if isinstance(value, torch.Tensor) else None


def _module(graph_module: fx.GraphModule, modules: Mapping[str, nn.Module], qualname: str) -> nn.Module:
    module = modules.get(qualname)
    return module if module is not None else graph_module.get_submodule(qualname)


def _weight_and_bias(module: nn.Module) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """``module.weight`` and ``module.bias`` when they are tensors (else None)."""
    own = module.__dict__
    params = own.get("_parameters")
    if params is not None and "weight" in params and "bias" in params and not _class_names(type(module)) \
            and "weight" not in own and "bias" not in own:
        return _tensor(params["weight"]), _tensor(params["bias"])   # the common case, read directly
    return _tensor(_setting(module, "weight", None)), _tensor(_setting(module, "bias", None))


def _setting(module: nn.Module, name: str, default: object) -> object:
    """``getattr(module, name, default)``, read straight from where nn.Module keeps it when the
    class defines nothing by that name (no property, no parametrization): the instance's own
    attributes, then its parameters, buffers and submodules."""
    if name in _class_names(type(module)):
        return getattr(module, name, default)
    own = module.__dict__
    if name in own:
        return own[name]
    for registry in ("_parameters", "_buffers", "_modules"):
        held = own.get(registry)
        if held and name in held:
            return held[name]
    return default


_SETTINGS = ("weight", "bias", "groups", "stride")


@functools.cache
def _class_names(cls: type) -> frozenset[str]:
    """The settings that ``cls`` itself answers for: a class attribute or property, or every one
    when it changes how attributes are looked up."""
    if cls.__getattr__ is not nn.Module.__getattr__ or cls.__getattribute__ is not object.__getattribute__:
        return frozenset(_SETTINGS)
    return frozenset(n for n in _SETTINGS if hasattr(cls, n))


def _fans(facts: Mapping, modules: Mapping[str, nn.Module], gm: fx.GraphModule,
          w: torch.Tensor) -> tuple[float, float]:
    if w.dim() == 2 and facts["op"] != "call_module" and facts["target"] in ("matmul", "mm", "bmm", "addmm"):
        return float(w.shape[0]), float(w.shape[1])  # x @ W: W is (in, out)
    receptive = math.prod(w.shape[2:]) if w.dim() > 2 else 1
    fan_in, fan_out = w.shape[1] * receptive, w.shape[0] * receptive
    if facts["op"] == "call_module":
        module = _module(gm, modules, facts["module"])
        groups = _setting(module, "groups", 1) or 1
        stride = _setting(module, "stride", 1)
        fan_out = fan_out / groups / (math.prod(stride) if isinstance(stride, tuple) else stride)
    return float(fan_in), float(fan_out)
