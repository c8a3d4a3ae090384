"""Make a healthy model pathological by editing its traced graph, whatever the architecture:
remove residual adds, replace normalizations by identity, swap activations for sigmoid; or scale
recurrent weights. The result is an ordinary nn.Module (an fx.GraphModule) to lint."""

from __future__ import annotations

import networkx as nx
import torch
from torch import fx, nn

from gradlint.tracing.graph import build_graph
from gradlint.tracing.trace import trace


def edited(model: nn.Module, inputs: dict, *, residuals: bool = True, norms: bool = True,
           sigmoid: bool = False) -> fx.GraphModule:
    traced = trace(model, inputs)
    graph = build_graph(traced)
    gm = traced.graph_module
    nodes = {n.name: n for n in gm.graph.nodes}
    for name, facts in graph.nodes(data=True):
        node = nodes[name]
        if not residuals and facts["kind"] == "add":
            data = [a for a in node.args if isinstance(a, fx.Node) and graph.nodes[a.name]["data"]]
            if len(data) == 2:
                ancestors = [nx.ancestors(graph, a.name) for a in data]
                if ancestors[0] & ancestors[1]:  # a fork joined again: a residual connection
                    # keep the deeper branch, drop the shortcut
                    node.replace_all_uses_with(data[0] if len(ancestors[0]) > len(ancestors[1]) else data[1])
        elif not norms and facts["kind"] == "norm":
            node.replace_all_uses_with(node.args[0])
        elif sigmoid and facts["kind"] == "activation":
            with gm.graph.inserting_after(node):
                swapped = gm.graph.call_function(torch.sigmoid, (node.args[0],))
            node.replace_all_uses_with(swapped)
            swapped.meta = dict(node.meta)
    gm.graph.eliminate_dead_code()
    gm.recompile()
    return gm


def scaled_recurrence(model: nn.Module, factor: float) -> nn.Module:
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "weight_hh" in name:
                parameter.mul_(factor)
    return model


def he_initialized(model: nn.Module) -> nn.Module:
    """Every Linear and convolution (and every other ≥2-d weight a graph layer applies, like
    GPT-2's Conv1D) redrawn from He et al.'s N(0, 2/fan_in), biases zeroed; embeddings kept."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
                continue
            weight = getattr(module, "weight", None)
            if isinstance(weight, torch.Tensor) and weight.dim() >= 2:
                fan_in = weight[0].numel() if not type(module).__name__ == "Conv1D" else weight.shape[0]
                weight.copy_(torch.randn(weight.shape, generator=generator) * (2.0 / fan_in) ** 0.5)
                bias = getattr(module, "bias", None)
                if isinstance(bias, torch.Tensor):
                    bias.zero_()
    return model
