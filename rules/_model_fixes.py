"""Source edits for the model rules' ``propose`` (GL101, GL102, GL201, GL202, GL203, GL301, GL601,
GL702): where the model a finding names is built, and the edits that re-initialize, re-activate or
normalize it.

A finding knows its model (a class, a factory function, a module-level variable, or a name given
by ``gradlint_models``) and the source line of a graph node; the model is built in the class's
``__init__`` (the class named like the model, else the class around the finding's line), in the
factory function, or by the module-level statement bound to that name. Everything here reads the
file through ``source.edits`` (LibCST): no model is imported. Where the edit cannot be told
precisely, the functions return None and the rule proposes nothing.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from gradlint.core.findings import Finding, resolved
from gradlint.source.edits import Edit

if TYPE_CHECKING:
    import libcst as cst

    from gradlint.source.edits import Proposal, SourceFile, Sources

# a call to a torch.nn.init initializer (`nn.init.kaiming_normal_`), by its dotted name
INITIALIZER = re.compile(r"(^|\.)init\.\w+_$")
# weight layers an init loop touches, by the name torch.nn gives them
WEIGHT_LAYERS = ("Linear", "Conv1d", "Conv2d", "Conv3d")
# the normalization that follows a weight layer, and the argument that names its width
# after a Linear, BatchNorm1d: on eval/, 16- and 32-layer ReLU MLPs with a LayerNorm after each
# layer still failed at every learning rate where their BatchNorm twins trained (the verification
# refuses it where the input has a time axis BatchNorm1d cannot take)
_NORM = {"Linear": ("BatchNorm1d", "out_features"), "Conv1d": ("BatchNorm1d", "out_channels"),
         "Conv2d": ("BatchNorm2d", "out_channels"), "Conv3d": ("BatchNorm3d", "out_channels")}
ACTIVATION_MODULES = ("ReLU", "ReLU6", "LeakyReLU", "GELU", "SiLU", "ELU", "SELU", "Mish", "Softplus",
                      "Tanh", "Sigmoid", "Hardtanh", "Hardsigmoid", "Softsign", "PReLU")
# saturating activations (GL101's names) → their nn module and their functional names
SATURATING = {"sigmoid": ("Sigmoid", "sigmoid"), "tanh": ("Tanh", "tanh"),
              "hardtanh": ("Hardtanh", "hardtanh"), "hardsigmoid": ("Hardsigmoid", "hardsigmoid"), "softsign": ("Softsign", "softsign")}
_RELU_FAMILY = ("relu", "relu6", "leaky_relu", "gelu", "silu", "elu", "mish", "softplus", "prelu", "celu")


def init_call(activation: str | None, nn: str, weight: str) -> str | None:
    """The initializer that gives a layer followed by ``activation`` a gain χ ≈ 1 (THEORY.md §1;
    GL601's table): Kaiming for the ReLU family, Xavier for tanh and sigmoid, LeCun for SELU,
    orthogonal for a layer with no activation after it. None for an activation it does not know."""
    if activation in _RELU_FAMILY:
        return f'{nn}.init.kaiming_normal_({weight}, nonlinearity="relu")'
    if activation == "tanh":
        return f'{nn}.init.xavier_normal_({weight}, gain={nn}.init.calculate_gain("tanh"))'
    if activation == "sigmoid":
        return f"{nn}.init.xavier_normal_({weight})"
    if activation == "selu":
        return f'{nn}.init.kaiming_normal_({weight}, nonlinearity="linear")'
    if activation is None:
        return f"{nn}.init.orthogonal_({weight})"
    return None


def dotted(node: cst.CSTNode) -> str | None:
    """``a.b.c`` for a chain of names and attributes, else None."""
    import libcst as cst

    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr.value}" if base else None
    return None


@dataclasses.dataclass(frozen=True)
class Builder:
    """Where a finding's model is built: ``kind`` "class" (``node`` the ClassDef, the model is
    ``self`` in its ``__init__``), "factory" (a module-level function returning the model) or
    "variable" (a module-level statement binding it)."""

    file: SourceFile
    kind: str
    node: cst.CSTNode
    nn: str                       # how torch.nn is spelled in the file ("nn", "torch.nn")
    functional: tuple[str, ...]   # how torch.nn.functional is spelled ("F", ...)
    torch: str | None = None      # the name `import torch` binds, when the file imports it

    def calls(self) -> Iterator[tuple[cst.Call, str]]:
        """Every call in the builder's scope with its callee's dotted name."""
        import libcst as cst

        for node in self.file.nodes(cst.Call):
            if self.covers(node):
                name = dotted(node.func)
                if name:
                    yield node, name

    def covers(self, node: cst.CSTNode) -> bool:
        outer, inner = self.file.position(self.node), self.file.position(node)
        return (outer.start.line, outer.start.column) <= (inner.start.line, inner.start.column) and \
            (inner.end.line, inner.end.column) <= (outer.end.line, outer.end.column)

    def nn_class(self, name: str) -> str | None:
        """``Linear`` for a callee spelled ``nn.Linear``/``torch.nn.Linear``, else None."""
        prefix, _, last = name.rpartition(".")
        return last if prefix in (self.nn, "torch.nn", "nn") and prefix else None

    def owner(self) -> str | None:
        """The expression the model is bound to where the edits go: ``self``, the factory's
        returned name, or the module-level variable."""
        import libcst as cst

        if self.kind == "class":
            return "self"
        if self.kind == "variable":
            return self.node.body[0].targets[0].target.value
        last = self.node.body.body[-1]
        value = _returned(last)
        return value.value if isinstance(value, cst.Name) else "model"

    def init_method(self) -> cst.FunctionDef | None:
        import libcst as cst

        if self.kind != "class":
            return None
        return next((s for s in self.node.body.body if isinstance(s, cst.FunctionDef)
                     and s.name.value == "__init__"), None)

    def append(self, lines: list[str]) -> list[Edit] | None:
        """Edits that run ``lines`` (indented relative to each other) once the model is built: at
        the end of ``__init__``, before the factory's ``return`` (binding a returned expression to
        ``model`` first), or after the module-level statement."""
        import libcst as cst

        if self.kind == "variable":
            return [self._insert(self.node, lines, after=True)]
        body = (self.init_method() or self.node).body.body if self.kind == "class" else self.node.body.body
        if self.kind == "class" and self.init_method() is None:
            return None
        last = body[-1]
        returned = _returned(last)
        if self.kind == "class":
            return [self._insert(last, lines, after=returned is None)]
        if returned is None:
            return None
        if isinstance(returned, cst.Name):
            return [self._insert(last, lines, after=False)]
        if any(isinstance(n, cst.Name) and n.value == "model" for n in self.file.nodes(cst.Name)
               if self.covers(n)):
            return None
        # `return <expr>` → `model = <expr>`, the lines, `return model`: two edits that leave the
        # expression's text alone (another edit of the same fix may change it)
        start, value = self.file.position(last.body[0]).start, self.file.position(returned).start
        path = str(self.file.path)
        return [Edit(path, start.line, start.column, value.line, value.column, "model = "),
                self._insert(last, [*lines, "return model"], after=True)]

    def _indent(self, statement: cst.CSTNode) -> str:
        first = self.file.text.splitlines()[self.file.position(statement).start.line - 1]
        return first[: len(first) - len(first.lstrip())]

    def _insert(self, statement: cst.CSTNode, lines: list[str], *, after: bool) -> Edit:
        text = ("\n" + self._indent(statement)).join(lines)
        return self.file.insert_after(statement, text) if after else self.file.insert_before(statement, text)

    def unit(self) -> str:
        return self.file.module.default_indent


def _returned(statement: cst.CSTNode) -> cst.BaseExpression | None:
    import libcst as cst

    if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1 \
            and isinstance(statement.body[0], cst.Return) and statement.body[0].value is not None:
        return statement.body[0].value
    return None


def _torch_names(module: cst.Module) -> tuple[str | None, str | None, tuple[str, ...]]:
    """How the file's top-level imports spell torch, torch.nn and torch.nn.functional."""
    import libcst as cst

    nn, functional = None, []
    torch_alias = None
    for statement in module.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if isinstance(small, cst.Import):
                for alias in small.names:
                    name = dotted(alias.name)
                    bound = alias.asname.name.value if alias.asname else None
                    if name == "torch":
                        torch_alias = bound or "torch"
                    elif name == "torch.nn" and bound:
                        nn = nn or bound
                    elif name == "torch.nn.functional" and bound:
                        functional.append(bound)
                    elif name in ("torch.nn", "torch.nn.functional") and not bound:
                        torch_alias = torch_alias or "torch"
            elif isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
                source = dotted(small.module) if small.module else None
                for alias in small.names:
                    bound = alias.asname.name.value if alias.asname else alias.name.value
                    if source == "torch" and alias.name.value == "nn":
                        nn = nn or bound
                    elif source == "torch.nn" and alias.name.value == "functional":
                        functional.append(bound)
    if nn is None and torch_alias:
        nn = f"{torch_alias}.nn"
    if torch_alias:
        functional.append(f"{torch_alias}.nn.functional")
    if nn and "." not in nn:
        functional.append(f"{nn}.functional")
    return torch_alias, nn, tuple(functional)


def builder(finding: Finding, sources: Sources, name: str | None = None) -> Builder | None:
    """Where ``finding``'s model is built (by the class, factory or variable named ``name``,
    else named like the model), or None where that cannot be told from the source."""
    import libcst as cst

    file = sources.file(resolved(finding.location.path))
    if file is None:
        return None
    torch, nn, functional = _torch_names(file.module)
    if nn is None:
        return None
    model = name or finding.model or ""
    for statement in file.module.body:
        if isinstance(statement, cst.ClassDef) and statement.name.value == model:
            built = Builder(file, "class", statement, nn, functional, torch)
            if built.init_method() is not None:
                return built
        if isinstance(statement, cst.FunctionDef) and statement.name.value == model:
            return Builder(file, "factory", statement, nn, functional, torch) \
                if statement.body.body and _returned(statement.body.body[-1]) is not None else None
        if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1 \
                and isinstance(statement.body[0], cst.Assign) and len(statement.body[0].targets) == 1 \
                and isinstance(statement.body[0].targets[0].target, cst.Name) \
                and statement.body[0].targets[0].target.value == model:
            return Builder(file, "variable", statement, nn, functional, torch)
    around = [c for c in file.at_line(finding.location.line, cst.ClassDef)
              if Builder(file, "class", c, nn, functional, torch).init_method() is not None]
    return Builder(file, "class", around[-1], nn, functional, torch) if around else None


def attribute_path(owner: str, qualname: str) -> str | None:
    """``self.blocks[0].fc`` for the submodule ``blocks.0.fc`` of the model bound to ``owner``."""
    path = owner
    for part in qualname.split("."):
        if part.isdigit():
            path += f"[{part}]"
        elif part.isidentifier():
            path += f".{part}"
        else:
            return None
    return path


def weight_layers(built: Builder) -> list[str]:
    """The weight layers (``Linear``, ``Conv2d``) the file constructs, in order of appearance."""
    import libcst as cst

    found: list[str] = []
    for node in built.file.nodes(cst.Call):
        name = dotted(node.func)
        kind = built.nn_class(name) if name else None
        if kind in WEIGHT_LAYERS and kind not in found:
            found.append(kind)
    return found


def explicit_init(built: Builder) -> list[cst.Call]:
    """Calls in the builder's scope that set weights by hand (``nn.init.*_(...)``, ``.copy_``)."""
    return [call for call, name in built.calls()
            if INITIALIZER.search(name) or name.endswith((".copy_", ".fill_", ".normal_",
                                                                        ".uniform_"))]


def init_loop(built: Builder, activation: str | None) -> list[str] | None:
    """The loop that initializes every weight layer of the model for ``activation``."""
    layers = weight_layers(built)
    owner = built.owner()
    if not layers or owner is None:
        return None
    var = "m" if owner != "m" else "layer"
    init = init_call(activation, built.nn, f"{var}.weight")
    if init is None:
        return None
    kinds = [f"{built.nn}.{kind}" for kind in layers]
    types = kinds[0] if len(kinds) == 1 else f"({', '.join(kinds)})"
    unit = built.unit()
    # the biases keep PyTorch's default: on eval/, a 32-layer ReLU MLP whose weights this loop
    # set trained with the default biases and failed at every learning rate with zeroed ones
    return [f"for {var} in {owner}.modules():",
            f"{unit}if isinstance({var}, {types}):",
            f"{unit * 2}{init}"]


def constructor(built: Builder, qualname: str) -> tuple[str, cst.Call] | None:
    """The torch.nn class and the call that builds the submodule ``qualname`` where the model is
    built (``self.rnn = nn.RNN(...)``), when one assignment does."""
    import libcst as cst

    target = attribute_path(built.owner() or "", qualname)
    for node in built.file.nodes(cst.Assign):
        if not built.covers(node) or len(node.targets) != 1 or not isinstance(node.value, cst.Call):
            continue
        if dotted(node.targets[0].target) == target:
            name = dotted(node.value.func)
            kind = built.nn_class(name) if name else None
            return (kind, node.value) if kind else None
    return None


def argument(call: cst.Call, position: int, keyword: str) -> cst.BaseExpression | None:
    """The argument at ``position`` or named ``keyword``, else None."""
    for index, arg in enumerate(call.args):
        if arg.keyword is not None and arg.keyword.value == keyword:
            return arg.value
        if arg.keyword is None and arg.star == "" and index == position:
            return arg.value
    return None


def literal(node: cst.BaseExpression | None) -> str | None:
    """A string's or a name's value (``"relu"``, ``True``), else None."""
    import libcst as cst

    if isinstance(node, cst.SimpleString):
        return node.evaluated_value if isinstance(node.evaluated_value, str) else None
    if isinstance(node, cst.Name):
        return node.value
    return None


def recurrent_init(built: Builder, finding: Finding) -> tuple[list[str], str] | None:
    """Lines that initialize the recurrent weight a GL301 finding names, and what they do:
    orthogonal (Saxe et al. 2013), or the identity for a ReLU recurrence (Le et al. 2015's IRNN),
    for every layer's ``weight_hh`` of an ``nn.RNN``/``GRU``/``LSTM`` or the cell's or layer's
    weight a hand-written loop applies at each step."""
    owner = built.owner()
    qualname = finding.args.get("module", "")
    path = attribute_path(owner, qualname) if owner and qualname else None
    built_by = constructor(built, qualname) if path else None
    if built_by is None:
        return None
    kind, call = built_by
    nn = built.nn
    relu = relu_recurrence(built, finding)
    init = "eye_" if relu else "orthogonal_"
    what = "the identity (IRNN)" if relu else "orthogonal"
    if finding.span is None:  # an nn.RNN-family module
        if kind not in ("RNN", "GRU", "LSTM"):
            return None
        layers = argument(call, 2, "num_layers")
        bidirectional = literal(argument(call, 7 if kind == "RNN" else 6, "bidirectional"))
        if (layers is None or literal(layers) == "1" or getattr(layers, "value", None) == "1") \
                and bidirectional in (None, "False"):
            return [f"{nn}.init.{init}({path}.weight_hh_l0)"], f"`{qualname}.weight_hh_l0` {what}"
        unit = built.unit()
        return ([f"for name, weight in {path}.named_parameters():",
                 f'{unit}if name.startswith("weight_hh"):',
                 f"{unit * 2}{nn}.init.{init}(weight)"], f"every layer's `{qualname}.weight_hh` {what}")
    if kind in ("RNNCell", "GRUCell", "LSTMCell"):
        return [f"{nn}.init.{init}({path}.weight_hh)"], f"`{qualname}.weight_hh` {what}"
    if kind == "Linear":
        size = argument(call, 0, "in_features"), argument(call, 1, "out_features")
        if size[0] is None or size[1] is None or built.file.code(size[0]) != built.file.code(size[1]):
            return None  # not visibly square
        return [f"{nn}.init.orthogonal_({path}.weight)"], f"`{qualname}.weight` orthogonal"
    return None


def relu_recurrence(built: Builder, finding: Finding) -> bool:
    """The recurrence a GL301 finding names is built with ``nonlinearity="relu"``."""
    built_by = constructor(built, finding.args.get("module", ""))
    return built_by is not None and literal(argument(built_by[1], -1, "nonlinearity")) == "relu"


def gated_swap(built: Builder, finding: Finding) -> Edit | None:
    """``nn.RNN(...)`` rebuilt as ``nn.GRU(...)``, with the same sizes, layers, batch order and a
    state of the same shape: the gated cell carries memory through its gates, not through W_hh
    (GL301's first fix). Code that sets the RNN's weights by hand keeps running on the GRU's where
    the shapes allow (``orthogonal_`` does; ``copy_(torch.eye(h))`` fails the re-check, and the
    fix is not offered)."""
    import libcst as cst

    qualname = finding.args.get("module", "")
    built_by = constructor(built, qualname) if qualname else None
    if built_by is None or built_by[0] != "RNN":
        return None
    _, call = built_by
    args = [a for a in call.args if not (a.keyword is not None and a.keyword.value == "nonlinearity")]
    if len(args) < len(call.args) and call.args[-1].keyword is not None \
            and call.args[-1].keyword.value == "nonlinearity":
        args[-1] = args[-1].with_changes(comma=call.args[-1].comma)
    func = cst.parse_expression(f"{built.nn}.GRU")
    return built.file.replace(call, call.with_changes(func=func, args=args))


def _sequential_ends(built: Builder) -> set[int]:
    """ids of the calls that end an ``nn.Sequential(...)`` (a model's output layer, kept)."""
    import libcst as cst

    ends = set()
    for call, name in built.calls():
        if built.nn_class(name) == "Sequential":
            positional = [a for a in call.args if a.keyword is None]
            if positional and isinstance(positional[-1].value, cst.Call):
                ends.add(id(positional[-1].value))
    return ends


def relu_swaps(built: Builder, finding: Finding) -> list[Edit] | None:
    """The saturating activations of a GL101 chain made ReLU: the functional calls on the
    finding's lines (``torch.tanh(...)`` → ``torch.relu(...)``), else the activation modules where
    the model is built (``nn.Tanh()`` → ``nn.ReLU()``), except one that ends an ``nn.Sequential``
    (the output layer keeps its function)."""
    import libcst as cst

    names = [n for n in str(finding.args.get("activation", "")).split("/") if n in SATURATING]
    if not names:
        return None
    modules = {SATURATING[n][0] for n in names}
    functions = {SATURATING[n][1] for n in names}
    file, location = built.file, finding.location
    lines = {location.line, location.end_line or location.line}
    edits = []
    for call in file.nodes(cst.Call):
        if file.position(call).start.line not in lines or not isinstance(call.func, cst.Attribute):
            continue
        if call.func.attr.value not in functions:
            continue
        prefix = dotted(call.func.value)
        if prefix in ("torch", *built.functional) or not call.args:  # torch.tanh(x), F.tanh(x), x.tanh()
            edits.append(file.replace(call.func.attr, "relu"))
    if edits:
        return edits
    ends = _sequential_ends(built)
    for call, name in built.calls():
        if built.nn_class(name) in modules and id(call) not in ends:
            edits.append(file.replace(call, f"{built.nn}.ReLU()"))
    return edits or None


def _width_expression(node: cst.BaseExpression | None) -> bool:
    """A width the norm layer can be given as written: a number, a name, an attribute, arithmetic
    of those (no call: its value could differ the second time)."""
    import libcst as cst

    if isinstance(node, (cst.Integer, cst.Name)):
        return True
    if isinstance(node, cst.Attribute):
        return dotted(node) is not None
    if isinstance(node, cst.BinaryOperation):
        return _width_expression(node.left) and _width_expression(node.right)
    return False


def norm_inserts(built: Builder) -> list[Edit] | None:
    """A normalization layer after each weight layer that an activation module follows in a list
    or an ``nn.Sequential`` where the model is built (``nn.Linear(256, 256), nn.ReLU()`` →
    ``nn.Linear(256, 256), nn.BatchNorm1d(256), nn.ReLU()``; ``BatchNormNd`` after a ``ConvNd``),
    with the width written as the layer's own."""
    import libcst as cst

    file = built.file
    edits = []
    for node in file.nodes((cst.List, cst.Tuple, cst.Call)):
        if not built.covers(node):
            continue
        if isinstance(node, cst.Call):
            name = dotted(node.func)
            if not name or built.nn_class(name) != "Sequential":
                continue
            values = [a.value for a in node.args if a.keyword is None]
        else:
            values = [e.value for e in node.elements]
        for layer, after in zip(values, values[1:]):
            if not (isinstance(layer, cst.Call) and isinstance(after, cst.Call)):
                continue
            kind = built.nn_class(dotted(layer.func) or "")
            follows = built.nn_class(dotted(after.func) or "")
            if kind not in _NORM or follows not in ACTIVATION_MODULES:
                continue
            norm, keyword = _NORM[kind]
            width = argument(layer, 1, keyword)
            if not _width_expression(width):
                return None
            end = file.position(layer).end
            edits.append(Edit(str(file.path), end.line, end.column, end.line, end.column,
                              f", {built.nn}.{norm}({file.code(width)})"))
    return edits or None


def replace_init(built: Builder, activation: str | None) -> list[Edit] | None:
    """The model's own weight initializers (``nn.init.normal_(m.weight, std=0.01)``) replaced by
    the one for ``activation``, else the init loop appended; None where neither can be told."""
    edits = []
    for call in explicit_init(built):
        name = dotted(call.func) or ""
        if not INITIALIZER.search(name) or not call.args:
            continue
        weight = built.file.code(call.args[0].value)
        if not weight.endswith(".weight"):
            continue
        new = init_call(activation, built.nn, weight)
        if new is None:
            return None
        edits.append(built.file.replace(call, new))
    if edits:
        return edits
    lines = init_loop(built, activation)
    return built.append(lines) if lines else None


def activation_of(fix: str, table: dict[str, str]) -> tuple[bool, str | None]:
    """(found, activation) of the initializer GL102's fix text names (``table``: GL601's
    activation → initializer text)."""
    for activation, init in table.items():
        if init in fix:
            return True, activation
    if "nn.init.orthogonal_(w)" in fix:
        return True, None
    if "nn.init.kaiming_normal_(w)" in fix:
        return True, "relu"
    return False, None


def branch_init(finding: Finding, sources: Sources) -> Proposal | None:
    """GL202's and GL203's fix for a residual stack: each block's last weight layer (the
    finding's ``branch_ends``, ``blocks.0.fc2`` …) zero-initialized, so that every block starts as
    the identity (Goyal et al. 2017, Fixup, SkipInit); where an activation follows that layer in
    the branch (``x + relu(fc(x))``: a zero layer before a ReLU never learns), its parameters
    scaled by 1/√depth instead (GPT-2's residual scaling). Appended where the model is built, as a
    loop over the blocks' container; None unless every end is ``<container>.<i>.<layer>`` of one
    container, ``i`` = 0, 1, …. Unsafe where the file sets weights by hand."""
    import libcst as cst

    from gradlint.source.edits import Proposal

    ends = finding.args.get("branch_ends") or []
    name = finding.args.get("model_class") or finding.model
    built = builder(finding, sources, name) if ends else None
    if built is not None and built.kind == "class" and built.node.name.value != name:
        return None  # the class around the finding's line is a block, not the model that holds them
    owner = built.owner() if built is not None else None
    parts = [re.fullmatch(r"(.+?)\.(\d+)(?:\.(.+))?", end) for end in ends]
    if owner is None or not all(parts):
        return None
    containers = {(m.group(1), m.group(3)) for m in parts}
    if len(containers) != 1 or sorted(int(m.group(2)) for m in parts) != list(range(len(parts))):
        return None
    container, layer = containers.pop()
    blocks = attribute_path(owner, container)
    if blocks is None or blocks.endswith("]") or not all(p.isidentifier() for p in (layer or "x").split(".")):
        return None  # the container is itself indexed, or the layer sits in a nested container
    var = "block" if owner != "block" else "b"
    target = f"{var}.{layer}" if layer else var
    member = f"{container}[i].{layer}" if layer else f"{container}[i]"
    unit = built.unit()
    if finding.args.get("branch_activated"):
        if built.torch is None:
            return None
        lines = [f"with {built.torch}.no_grad():",
                 f"{unit}for {var} in {blocks}:",
                 f"{unit * 2}for param in {target}.parameters():",
                 f"{unit * 3}param.mul_(len({blocks}) ** -0.5)"]
        title = f"scale each residual branch's last layer (`{member}`) by 1/√depth at initialization"
    else:
        lines = [f"for {var} in {blocks}:",
                 f"{unit}{built.nn}.init.zeros_({target}.weight)"]
        title = f"zero-initialize each residual branch's last layer (`{member}.weight`)"
    edits = built.append(lines)
    if not edits:
        return None
    by_hand = any(INITIALIZER.search(dotted(call.func) or "") for call in built.file.nodes(cst.Call))
    return Proposal(title, tuple(edits), safe=not by_hand)


_POST_LN_LAYERS = ("TransformerEncoderLayer", "TransformerDecoderLayer", "Transformer")


def pre_norm(built: Builder) -> list[Edit] | None:
    """GL702's unsafe fix: every ``nn.TransformerEncoderLayer``/``DecoderLayer``/``Transformer``
    built where the model is built made pre-LN (``norm_first=False`` → ``True``, or the keyword
    added); None where there is none or ``norm_first`` is not written as a literal."""
    import libcst as cst

    edits = []
    for call, name in built.calls():
        if built.nn_class(name) not in _POST_LN_LAYERS:
            continue
        given = argument(call, -1, "norm_first")
        if given is not None and not (isinstance(given, cst.Name) and given.value in ("True", "False")):
            return None
        if given is None or given.value == "False":
            edit = built.file.set_keyword(call, "norm_first", "True")
            if edit is None:
                return None
            edits.append(edit)
    return edits or None
