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

from gradlint.passes.topology import Topology, node_facts
from gradlint.tracing.graph import weight_of

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
        if key not in first:
            first[key] = name
    matrices: dict[str, torch.Tensor] = {}
    biases: dict[str, torch.Tensor] = {}
    fans: dict[str, tuple[float, float]] = {}
    for key, name in first.items():
        facts = nodes[name]
        module = None
        if facts["op"] == "call_module":
            module = _module(graph_module, modules, facts["module"])
            weight, bias = _weight_and_bias(module)
        else:
            weight, bias = weight_of(graph_module, graph, name), None
        if weight is None:
            continue
        shape = weight.shape
        if len(shape) < 2:
            continue
        matrices[key] = weight
        if bias is not None:
            biases[key] = bias
        fans[key] = _fans(facts, module, shape)
    with torch.no_grad():
        second = mean_squares(matrices)
        bias2 = mean_squares(biases, double=True)
    scales = {key: LayerScale(second[key], *fans[key], bias2.get(key, 0.0)) for key in matrices}
    return {name: scales.get(key) for name, key in key_of.items()}


def mean_squares(tensors: Mapping[str, torch.Tensor], double: bool = False) -> dict[str, float]:
    """``float(t.square().mean())`` of every tensor (of ``t.double()`` with ``double``), computed
    in batches of equal shape and dtype, bit-for-bit equal to computing each alone.

    >>> t = {"a": torch.ones(2, 2), "b": torch.full((2, 2), 2.0), "c": torch.zeros(3)}
    >>> mean_squares(t)
    {'a': 1.0, 'b': 4.0, 'c': 0.0}
    """
    result: dict[str, float] = {}
    # grouped by shape, dtype and device first (what stacking needs), then per group whether it
    # may be batched: its size and device are the group's, only contiguity is the tensor's own
    groups: dict[tuple, list[str]] = {}
    for key, t in tensors.items():
        group = (t.shape, t.dtype, t.device)
        members = groups.get(group)
        if members is None:
            groups[group] = [key]
        else:
            members.append(key)
    for (shape, _, device), keys in groups.items():
        small = math.prod(shape) <= _BATCHED and device.type != "meta"
        batched = []
        for key in keys:
            t = tensors[key]
            if small and t.is_contiguous():
                batched.append(key)
            else:
                result[key] = float((t.double() if double else t).square().mean())
        if not batched:
            continue
        stacked = torch.stack([tensors[k] for k in batched]).reshape(len(batched), -1)
        if double:
            stacked = stacked.double()   # exact: the same values as converting each alone
        for key, value in zip(batched, stacked.square().mean(dim=1).tolist()):
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


def _fans(facts: Mapping, module: nn.Module | None, shape: torch.Size) -> tuple[float, float]:
    """fan_in and fan_out of a weight of ``shape`` applied by the node with ``facts`` (``module``:
    the module it calls, if it calls one)."""
    if len(shape) == 2 and module is None and facts["target"] in ("matmul", "mm", "bmm", "addmm"):
        return float(shape[0]), float(shape[1])  # x @ W: W is (in, out)
    receptive = math.prod(shape[2:]) if len(shape) > 2 else 1
    fan_in, fan_out = shape[1] * receptive, shape[0] * receptive
    if module is not None:
        groups = _setting(module, "groups", 1) or 1
        stride = _setting(module, "stride", 1)
        fan_out = fan_out / groups / (math.prod(stride) if isinstance(stride, tuple) else stride)
    return float(fan_in), float(fan_out)
