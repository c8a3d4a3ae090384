"""Turn a traced fx graph into a networkx DiGraph whose nodes carry the facts rules read.

Node attributes (every node has all of them):

``op``, ``target``        the fx op and a printable target
``label``                 a short name for messages: the module's qualified name, else the fx node name
``kind``                  one of KINDS below (``opaque``: a submodule that could not be traced)
``module`` / ``module_type``  qualified name and class of the called module (call_module only)
``activation``            canonical activation name (``sigmoid``, ``tanh``, ``relu``, ...) or None
``saturating``            the activation's derivative tends to 0 on both sides (sigmoid, tanh, ...)
``max_derivative``        sup |φ'| of the activation (sigmoid 1/4, tanh 1), None otherwise
``params``                {parameter name: shape} that this node applies
``source``                the user's SourceLocation (gradlint.core.frames), or None
``shape``                 output shape from the example values, or None
``floating``              the example value is a floating-point tensor (False when unknown)
``data``                  True when the value depends on the model's inputs (not only on their
                          shape: ``zeros_like``, ``new_zeros``; and not through ``detach``)
"""

from __future__ import annotations

import operator
from typing import Any

import networkx as nx
import torch
import torch.nn.functional as F
from torch import fx, nn

from gradlint.tracing.trace import NORM_CLASS as _NORM_CLASS
from gradlint.tracing.trace import TraceResult

KINDS = (
    "input", "output", "param", "weight", "recurrent", "activation", "norm", "add", "mul", "div", "cat",
    "dropout", "pool", "embedding", "attention", "block", "opaque", "other",
)

# name -> (saturating, max derivative)
ACTIVATIONS: dict[str, tuple[bool, float | None]] = {
    "sigmoid": (True, 0.25), "hardsigmoid": (True, 1 / 6), "tanh": (True, 1.0),
    "hardtanh": (True, 1.0), "softsign": (True, 1.0),
    "relu": (False, 1.0), "relu6": (False, 1.0), "leaky_relu": (False, 1.0), "prelu": (False, None),
    "rrelu": (False, 1.0), "elu": (False, None), "selu": (False, None), "celu": (False, None),
    "gelu": (False, None), "silu": (False, None), "mish": (False, None), "softplus": (False, 1.0),
    "hardswish": (False, None), "logsigmoid": (False, 1.0), "threshold": (False, 1.0),
}

_ACTIVATION_MODULES = {
    nn.Sigmoid: "sigmoid", nn.Hardsigmoid: "hardsigmoid", nn.Tanh: "tanh", nn.Hardtanh: "hardtanh",
    nn.Softsign: "softsign", nn.ReLU: "relu", nn.ReLU6: "relu6", nn.LeakyReLU: "leaky_relu",
    nn.PReLU: "prelu", nn.RReLU: "rrelu", nn.ELU: "elu", nn.SELU: "selu", nn.CELU: "celu",
    nn.GELU: "gelu", nn.SiLU: "silu", nn.Mish: "mish", nn.Softplus: "softplus",
    nn.Hardswish: "hardswish", nn.LogSigmoid: "logsigmoid", nn.Threshold: "threshold",
}
_ACTIVATION_FUNCTIONS = {
    torch.sigmoid: "sigmoid", F.sigmoid: "sigmoid", torch.special.expit: "sigmoid",
    F.hardsigmoid: "hardsigmoid", torch.tanh: "tanh", F.tanh: "tanh", F.hardtanh: "hardtanh",
    F.softsign: "softsign", torch.relu: "relu", F.relu: "relu", F.relu6: "relu6",
    F.leaky_relu: "leaky_relu", F.prelu: "prelu", F.rrelu: "rrelu", F.elu: "elu", F.selu: "selu",
    torch.selu: "selu", F.celu: "celu", F.gelu: "gelu", F.silu: "silu", F.mish: "mish",
    F.softplus: "softplus", F.hardswish: "hardswish", F.logsigmoid: "logsigmoid",
    F.threshold: "threshold",
}
_ACTIVATION_METHODS = {
    "sigmoid": "sigmoid", "sigmoid_": "sigmoid", "tanh": "tanh", "tanh_": "tanh",
    "relu": "relu", "relu_": "relu",
}

_MODULE_KINDS: list[tuple[tuple[type, ...], str]] = [
    ((nn.RNN, nn.LSTM, nn.GRU), "recurrent"),
    ((nn.Linear, nn.Bilinear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d,
      nn.ConvTranspose2d, nn.ConvTranspose3d, nn.RNNCell, nn.LSTMCell, nn.GRUCell), "weight"),
    ((nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm,
      nn.RMSNorm), "norm"),
    ((nn.modules.dropout._DropoutNd,), "dropout"),
    ((nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
      nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd), "pool"),
    ((nn.Embedding, nn.EmbeddingBag), "embedding"),
    ((nn.MultiheadAttention,), "attention"),
    # Built-in transformer layers are traced through; as single nodes (when their tracing
    # failed) they still hold their own residual connections and normalization.
    ((nn.TransformerEncoderLayer, nn.TransformerDecoderLayer, nn.TransformerEncoder,
      nn.TransformerDecoder, nn.Transformer), "block"),
]

_FUNCTION_KINDS = {
    F.linear: "weight", F.bilinear: "weight", F.conv1d: "weight", F.conv2d: "weight",
    F.conv3d: "weight", F.conv_transpose1d: "weight", F.conv_transpose2d: "weight",
    F.conv_transpose3d: "weight",
    torch.matmul: "matmul", torch.mm: "matmul", torch.bmm: "matmul", operator.matmul: "matmul",
    torch.addmm: "matmul",  # transformers' Conv1D (GPT-2): addmm(bias, x, W)
    F.layer_norm: "norm", F.batch_norm: "norm", F.group_norm: "norm", F.instance_norm: "norm",
    F.rms_norm: "norm", F.normalize: "norm",
    F.dropout: "dropout", F.dropout1d: "dropout", F.dropout2d: "dropout", F.dropout3d: "dropout",
    F.alpha_dropout: "dropout",
    F.max_pool1d: "pool", F.max_pool2d: "pool", F.max_pool3d: "pool", F.avg_pool1d: "pool",
    F.avg_pool2d: "pool", F.avg_pool3d: "pool", F.adaptive_avg_pool1d: "pool",
    F.adaptive_avg_pool2d: "pool", F.adaptive_avg_pool3d: "pool", F.adaptive_max_pool1d: "pool",
    F.adaptive_max_pool2d: "pool", F.adaptive_max_pool3d: "pool",
    F.embedding: "embedding",
    operator.add: "add", operator.iadd: "add", torch.add: "add", operator.sub: "add",
    operator.isub: "add", torch.sub: "add",
    operator.mul: "mul", operator.imul: "mul", torch.mul: "mul",
    operator.truediv: "div", operator.itruediv: "div", torch.div: "div",
    torch.cat: "cat", torch.concat: "cat", torch.concatenate: "cat",
}
_METHOD_KINDS = {
    "add": "add", "add_": "add", "sub": "add", "sub_": "add", "mul": "mul", "mul_": "mul",
    "div": "div", "div_": "div",
    "matmul": "matmul", "mm": "matmul", "bmm": "matmul",
}


def build_graph(trace_result: TraceResult) -> nx.DiGraph:
    """The data-flow graph of a traced model with per-node facts (see the module docstring)."""
    gm = trace_result.graph_module
    graph = nx.DiGraph(tracer=trace_result.tracer, opaque=dict(trace_result.opaque))
    modules = dict(gm.named_modules())
    for node in gm.graph.nodes:
        facts = _node_facts(node, gm, modules, trace_result.opaque)
        facts["source"] = node.meta.get("gl_source")
        facts["shape"] = trace_result.shapes.get(node.name)
        facts["floating"] = node.name in trace_result.floating
        inputs = node.all_input_nodes
        facts["data"] = node.op == "placeholder" or (
            any(graph.nodes[i.name]["data"] for i in inputs) and not _gradient_free(node)
        )
        graph.add_node(node.name, **facts)
        for source in inputs:
            graph.add_edge(source.name, node.name)
    return graph


_GRADIENT_FREE_METHODS = {
    "detach", "new_zeros", "new_ones", "new_empty", "new_full", "size", "dim", "argmax", "argmin",
}
_GRADIENT_FREE_FUNCTIONS = {
    torch.zeros_like, torch.ones_like, torch.empty_like, torch.full_like, torch.rand_like,
    torch.randn_like, torch.randint_like, torch.argmax, torch.argmin,
}


def _gradient_free(node: fx.Node) -> bool:
    if node.op == "call_method":
        return node.target in _GRADIENT_FREE_METHODS
    if node.op == "call_function":
        return node.target in _GRADIENT_FREE_FUNCTIONS
    return False


def _node_facts(
    node: fx.Node, gm: fx.GraphModule, modules: dict[str, nn.Module], opaque: dict[str, str]
) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "op": node.op, "target": _target_name(node.target), "label": node.name, "kind": "other",
        "module": None, "module_type": None, "activation": None, "saturating": False,
        "max_derivative": None, "params": {},
    }
    if node.op == "placeholder":
        facts["kind"] = "input"
    elif node.op == "output":
        facts["kind"] = "output"
    elif node.op == "get_attr":
        facts["kind"] = "param"
    elif node.op == "call_module":
        module = modules[node.target]
        facts.update(module=node.target, module_type=type(module).__name__, label=node.target)
        facts["params"] = {n: tuple(p.shape) for n, p in module.named_parameters(recurse=False)}
        activation = _ACTIVATION_MODULES.get(type(module))
        if activation is None:
            for types, kind in _MODULE_KINDS:
                if isinstance(module, types):
                    facts["kind"] = kind
                    break
            else:
                if node.target in opaque:
                    facts["kind"] = "opaque"
                elif _NORM_CLASS.search(type(module).__name__):
                    facts["kind"] = "norm"
                elif facts["params"]:
                    facts["kind"] = "weight"
        _set_activation(facts, activation)
    elif node.op == "call_function":
        _set_activation(facts, _ACTIVATION_FUNCTIONS.get(node.target))
        if facts["activation"] is None:
            facts["kind"] = _FUNCTION_KINDS.get(node.target, "other")
    elif node.op == "call_method":
        _set_activation(facts, _ACTIVATION_METHODS.get(node.target))
        if facts["activation"] is None:
            facts["kind"] = _METHOD_KINDS.get(node.target, "other")

    if facts["kind"] in ("weight", "matmul", "norm", "embedding") and node.op != "call_module":
        sources = (_parameter_source(arg) for arg in node.all_input_nodes)
        facts["params"] = {
            source.target: tuple(get_attr(gm, source.target).shape)
            for source in sources
            if source is not None and isinstance(get_attr(gm, source.target), torch.Tensor)
        }
    if facts["kind"] == "matmul":
        # x @ W with a parameter is a weight layer; activation @ activation (attention) is not.
        facts["kind"] = "weight" if facts["params"] else "other"
    return facts


# reshapes and casts of a parameter that keep it the same weights (`x @ self.weight.T`)
_PARAMETER_VIEWS = frozenset({"t", "T", "mT", "transpose", "permute", "view", "reshape", "contiguous", "to",
                              "type", "float", "half", "bfloat16", "unsqueeze", "squeeze", "flatten"})


def _parameter_source(node: fx.Node) -> fx.Node | None:
    """The parameter (a ``get_attr`` node) that ``node`` is, or is a view or cast of."""
    while node.op != "get_attr":
        name = (node.target if node.op == "call_method" else getattr(node.target, "__name__", None)
                if node.op == "call_function" else None)
        if node.op == "call_function" and node.target is getattr and len(node.args) == 2:
            name = node.args[1]  # `weight.T`: getattr(weight, "T")
        inputs = node.all_input_nodes
        if name not in _PARAMETER_VIEWS or len(inputs) != 1:
            return None
        node = inputs[0]
    return node


def _set_activation(facts: dict[str, Any], activation: str | None) -> None:
    if activation is None:
        return
    saturating, max_derivative = ACTIVATIONS[activation]
    facts.update(kind="activation", activation=activation, saturating=saturating,
                 max_derivative=max_derivative)


def get_attr(gm: fx.GraphModule, target: str) -> Any:
    value: Any = gm
    for atom in target.split("."):
        value = getattr(value, atom)
    return value


def _target_name(target: Any) -> str:
    if isinstance(target, str):
        return target
    return getattr(target, "__name__", repr(target))


def weight_of(graph_module: fx.GraphModule, graph: nx.DiGraph, name: str) -> torch.Tensor | None:
    """The main weight tensor applied by a weight-layer node, when there is exactly one."""
    facts = graph.nodes[name]
    if facts["op"] == "call_module":
        module = graph_module.get_submodule(facts["module"])
        weight = getattr(module, "weight", None)
        return weight if isinstance(weight, torch.Tensor) else None
    tensors = [get_attr(graph_module, p) for p in facts["params"]]
    matrices = [t for t in tensors if isinstance(t, torch.Tensor) and t.dim() >= 2]
    return matrices[0] if len(matrices) == 1 else None
