"""Analysis passes: each computes one kind of fact about a traced model, once per model.

Every pass is a function with a stated contract (its module docstring: Requires / Ensures) that
reads the graph, the fx module and the results of the passes it requires, and returns one
immutable value. ``run_passes`` runs them in dependency order:

==============  =====================================================  ==========================
pass            computes                                               requires
==============  =====================================================  ==========================
``topology``    orders, data neighbours, post-dominators               the graph
``recurrence``  layers applied at every step of a loop; module calls   topology
``chains``      runs of layers on the cheapest gradient route, and     topology, recurrence
                the activation after each layer on it
``span``        the main span, its route and inside                    topology
``residual``    residual blocks on the main route, the span's class    topology, span
``weights``     E[W²], fans and E[b²] of every weight layer            topology
``moments``     the activations' Gaussian moments                      the graph
``meanfield``   q and χ of every node                                  topology, weights, moments
==============  =====================================================  ==========================

Rules never run a pass: they read ``Facts`` (through ``gradlint.passes.analysis.Analysis``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
from collections.abc import Iterator, Mapping

import networkx as nx
from torch import fx, nn

from gradlint.passes.chains import Chains, chains
from gradlint.passes.meanfield import MeanField, meanfield
from gradlint.passes.moments import moments
from gradlint.passes.recurrence import Recurrence, recurrence
from gradlint.passes.residual import Residual, residual
from gradlint.passes.span import MainSpan, main_span
from gradlint.passes.topology import Topology, topology
from gradlint.passes.weights import weights


@dataclasses.dataclass(frozen=True)
class Facts:
    """Every pass's result for one model."""

    graph: nx.DiGraph
    graph_module: fx.GraphModule
    input_moments: Mapping[str, float]
    fx_nodes: Mapping[str, fx.Node]   # graph node name -> its fx node
    topology: Topology
    recurrence: Recurrence
    chains: Chains
    span: MainSpan
    residual: Residual
    meanfield: MeanField | None   # None when the weights are unknown (the meta device)


def run_passes(graph: nx.DiGraph, graph_module: fx.GraphModule,
               input_moments: Mapping[str, float] | None = None, *, weights_known: bool = True) -> Facts:
    """Run every pass on one traced model, each once, in dependency order.

    ``input_moments``: the second moment of each floating-point example input, by name (an input
    without one counts as 1, or as integer ids where that matters). ``weights_known``: False for
    a model on the meta device, whose weights hold no values: the weight-dependent passes
    (weights, moments, meanfield) are skipped.
    """
    with collection_paused():
        return _run(graph, graph_module, dict(input_moments or {}), weights_known)


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    """On a large graph the passes (and the rules reading them) allocate hundreds of thousands of small containers, and each
    of Python's cyclic collections they trigger rescans every object the graph, the fx module
    and the model hold (measured: a quarter of the passes' time at 100k nodes). Nothing a pass
    builds is cyclic garbage, so collection waits until they are done."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _run(graph: nx.DiGraph, graph_module: fx.GraphModule, moments_in: dict[str, float],
         weights_known: bool) -> Facts:
    topo = topology(graph)
    loops = recurrence(graph, topo)
    span = main_span(graph, graph_module, topo, moments_in)
    fx_nodes = {node.name: node for node in graph_module.graph.nodes}
    gains = None
    if weights_known:
        modules = _called_modules(graph, graph_module)
        scales = weights(graph, graph_module, topo, modules)
        activations = moments(graph, graph_module, modules, fx_nodes)
        gains = meanfield(graph, graph_module, topo, scales, activations, moments_in, modules, fx_nodes)
    return Facts(graph, graph_module, moments_in, fx_nodes, topo, loops, chains(graph, topo, loops), span,
                 residual(graph, topo, span), gains)


def _called_modules(graph: nx.DiGraph, graph_module: fx.GraphModule) -> dict[str, nn.Module]:
    """qualified name -> module, for every module the graph calls: one walk down the module
    tree per name (``get_submodule`` without its per-step checks)."""
    found = {}
    for name, facts in graph.nodes(data=True):
        qualname = facts["module"]
        if qualname is None or qualname in found:
            continue
        module = graph_module
        try:
            for atom in qualname.split("."):
                module = module._modules[atom]
        except KeyError:
            module = graph_module.get_submodule(qualname)
        found[qualname] = module
    return found
