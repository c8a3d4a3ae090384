"""Example inputs for the probe, inferred from the first layer that consumes the model's input.

Candidates come from the model's layers in registration order; the engine tries them in turn
(the value-guided trace is a forward pass) and keeps the first one the model accepts.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

MAX_CANDIDATES = 6

# Names under which forward() takes a recurrent state, and methods that build one.
_HIDDEN_NAMES = frozenset({"hidden", "hx", "h", "h0", "h_0", "hc", "state", "states", "hidden_state",
                           "hidden_states", "prev_state", "carry"})
_INIT_HIDDEN = ("init_hidden", "init_hidden_state", "initHidden", "init_state", "begin_state")
_TIMESTEP_NAMES = frozenset({"t", "timestep", "timesteps", "time", "time_step", "time_steps", "step",
                             "steps", "noise_level", "sigma", "sigmas"})
_LENGTH_NAMES = frozenset({"lengths", "lens", "length", "seq_lens", "seq_lengths", "src_lengths", "input_lengths"})


def required_parameters(model: nn.Module) -> list[str]:
    signature = inspect.signature(model.forward)
    return [
        p.name for p in signature.parameters.values()
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]


def candidate_inputs(model: nn.Module, batch: int, seq_len: int, seed: int,
                     std: float = 1.0) -> Iterator[dict[str, Any]]:
    """Plausible example inputs, most likely first. Raises ValueError when none can be built.
    Floating values are standard normal × ``std`` (the data's scale, when the user states it:
    ``input-std``); token ids, masks, lengths and constant states are not scaled.

    The first input's shape comes from the first layers that consume it (a Linear or Embedding
    feeding an RNN gets a sequence dimension, in the RNN's layout); floating inputs take the
    dtype of the model's weights (``.double()``), and float64 is tried as well when forward()
    itself makes double tensors. Further required inputs are built from their names and
    annotations: a recurrent state (``hidden``, ``hx``, ..., or a ``Tuple[Tensor, Tensor]`` in a
    model with an RNN) from the model's own ``init_hidden(batch)`` or from its RNN's sizes, sequence lengths as integers, masks as None, anything else (``forward(src, tgt)``)
    like the first input.
    """
    for inputs in _candidates(model, batch, seq_len, seed):
        yield inputs if std == 1.0 else scaled(inputs, std)


def scaled(value: Any, std: float) -> Any:
    """``value`` with every floating tensor that is not constant multiplied by ``std``.

    >>> scaled({"x": torch.tensor([1.0, -2.0]), "h": torch.zeros(2), "ids": torch.tensor([3, 4])}, 0.5)
    {'x': tensor([ 0.5000, -1.0000]), 'h': tensor([0., 0.]), 'ids': tensor([3, 4])}
    """
    if isinstance(value, dict):
        return {k: scaled(v, std) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(scaled(v, std) for v in value)
    if (isinstance(value, torch.Tensor) and value.is_floating_point() and value.numel() > 1
            and not value.is_meta and bool(value.min() != value.max())):
        return value * std
    return value


def _candidates(model: nn.Module, batch: int, seq_len: int, seed: int) -> Iterator[dict[str, Any]]:
    generator = torch.Generator().manual_seed(seed)
    lengths = sequence_lengths(model, seq_len)
    if _is_hugging_face(model):
        for length in lengths:
            yield hugging_face_inputs(model, batch, length, generator)
        return
    required = required_parameters(model)
    if not required:
        raise ValueError("forward() takes no required arguments")
    keys = batch_keys(model)
    if keys is not None and required == [keys[0]]:
        for length in lengths:
            yield {keys[0]: batch_dict(model, keys[0], keys[1], batch, length, generator)}
        return
    rnn = next((m for m in model.modules() if isinstance(m, nn.RNNBase)), None)
    dtypes = _float_dtypes(model)
    stated = stated_image_size(model)
    annotations = {name: p.annotation if isinstance(p.annotation, str) else repr(p.annotation)
                   for name, p in inspect.signature(model.forward).parameters.items()
                   if p.annotation is not p.empty}
    seen: set[tuple] = set()
    modules = list(model.modules())
    for length in lengths:
        tried = len(seen)
        for index, module in enumerate([*modules, *_indexed_tables(model, required[0])]):
            examples = _inputs_for(module, batch, length, generator, rnn, dtypes, stated)
            if not examples and _pattern_of(module) is not None:
                examples = _pattern_inputs(model, module, modules[index + 1:], batch, generator, dtypes, stated)
            for example in examples:
                key = (tuple(example.shape), example.dtype)
                if key in seen:
                    continue
                seen.add(key)
                inputs = {required[0]: example}
                for name in required[1:]:
                    inputs[name] = _further_input(model, name, annotations.get(name, ""), example, batch,
                                                  rnn, generator, length)
                yield inputs
                if len(seen) - tried >= MAX_CANDIDATES:
                    break
            if len(seen) - tried >= MAX_CANDIDATES:
                break
    if not seen:
        raise ValueError("no layer tells the input's shape (Linear, Conv, Embedding, RNN, ...)")


def _indexed_tables(model: nn.Module, first: str) -> list[nn.Embedding]:
    """A forward that indexes a raw parameter table with its first input (a bigram model's
    ``self.logits[idx]``) takes token ids like an embedding of that many rows: stand-ins for
    those tables, for the input recipes."""
    try:
        source = inspect.getsource(type(model).forward)
    except (OSError, TypeError):
        return []
    tables = []
    for name, parameter in model.named_parameters(recurse=False):
        if parameter.dim() == 2 and f"self.{name}[{first}" in source.replace(" ", ""):
            tables.append(nn.Embedding(parameter.shape[0], 1, device="meta"))
    return tables


# Attributes (of the model, or of its config) that bound or fix the length of a sequence input.
_LENGTH_ATTRIBUTES = ("block_size", "max_len", "max_length", "max_seq_len", "max_seq_length", "seq_len",
                      "seq_length", "max_position_embeddings", "n_positions", "n_ctx", "context_length",
                      "context_size", "max_sequence_length", "num_tokens_max")
_CONFIG_ATTRIBUTES = ("config", "cfg", "args", "hparams", "params")


def sequence_lengths(model: nn.Module, seq_len: int) -> list[int]:
    """The sequence lengths to try, most likely first: ``seq_len`` unless the model says it takes
    no more (a ``block_size`` of 16, a causal-mask buffer of 16×16, 16 learned positions), then
    each length the model names exactly (a token-mixing layer over ``max_len`` positions takes
    only that length).

    >>> class Mixer(nn.Module):
    ...     def __init__(self): super().__init__(); self.max_len = 64
    >>> sequence_lengths(Mixer(), 32)
    [32, 64]
    """
    named: set[int] = set()
    sources = [model, *(getattr(model, a, None) for a in _CONFIG_ATTRIBUTES)]
    for source in sources:
        for attribute in _LENGTH_ATTRIBUTES:
            value = getattr(source, attribute, None) if source is not None else None
            if isinstance(value, int) and not isinstance(value, bool) and 1 < value <= 1 << 16:
                named.add(value)
    bounds = set(named)
    for name, module in model.named_modules():
        if isinstance(module, nn.Embedding) and "pos" in name.rsplit(".", 1)[-1].lower():
            bounds.add(module.num_embeddings)  # learned positions: no more than there are
    for name, buffer in model.named_buffers():
        if buffer.dim() >= 2 and buffer.shape[-1] == buffer.shape[-2] > 1 and \
                any(w in name.rsplit(".", 1)[-1].lower() for w in ("mask", "bias", "tril", "causal")):
            bounds.add(int(buffer.shape[-1]))  # a causal mask sized for the longest sequence
    first = min([seq_len, *bounds])
    return [first, *sorted(n for n in named if n != first and n <= 4 * max(seq_len, 1) * 16)][:3]


def describe(inputs: dict[str, Any]) -> str:
    """``x: float32[8, 32], hidden: (float32[2, 8, 64], float32[2, 8, 64])``, for the -v list."""
    def one(value: Any) -> str:
        if isinstance(value, torch.Tensor):
            return f"{str(value.dtype).removeprefix('torch.')}[{', '.join(map(str, value.shape))}]"
        if isinstance(value, dict):
            return "{" + ", ".join(f"{k!r}: {one(v)}" for k, v in value.items()) + "}"
        if isinstance(value, (tuple, list)):
            return "(" + ", ".join(one(v) for v in value) + ")"
        return repr(value)

    return ", ".join(f"{name}: {one(value)}" for name, value in inputs.items())


def _float_dtypes(model: nn.Module) -> list[torch.dtype]:
    """The weights' floating dtype first; float64 too when forward() visibly makes doubles."""
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.get_default_dtype())
    dtypes = [dtype]
    try:
        source = inspect.getsource(type(model).forward)
    except (OSError, TypeError):
        source = ""
    if torch.float64 not in dtypes and any(word in source for word in ("double", "float64")):
        dtypes.append(torch.float64)
    return dtypes


# the attribute names under which vision models keep the image size they require
_IMAGE_SIZE_NAMES = ("image_size", "img_size", "input_resolution", "resolution", "im_size")


def stated_image_size(model: nn.Module) -> tuple[int, int] | None:
    """The image size a model states on itself or its config (``self.img_size = 96``, a timm
    model's ``img_size``, a config's ``image_size``), which its forward often asserts: an int
    or a pair of ints, tried first for its convolutions."""
    for owner in (model, getattr(model, "config", None), getattr(model, "cfg", None)):
        if owner is None:
            continue
        for name in _IMAGE_SIZE_NAMES:
            value = vars(owner).get(name) if hasattr(owner, "__dict__") else None
            if isinstance(value, int) and not isinstance(value, bool) and 4 <= value <= 4096:
                return value, value
            if (isinstance(value, (tuple, list)) and len(value) == 2
                    and all(isinstance(v, int) and not isinstance(v, bool) and 4 <= v <= 4096 for v in value)):
                return int(value[0]), int(value[1])
    return None


def _inputs_for(module: nn.Module, batch: int, seq_len: int, generator: torch.Generator,
                rnn: nn.RNNBase | None, dtypes: list[torch.dtype],
                image_size: tuple[int, int] | None = None) -> list[torch.Tensor]:
    """Inputs this layer accepts as the model's first layer, the most likely first (the image
    size the model states, first, for a 2-d convolution)."""
    shapes: list[tuple[int, ...]] = []
    sequence = (batch, seq_len) if rnn is None or rnn.batch_first else (seq_len, batch)
    if isinstance(module, nn.Embedding):
        # with an RNN: batch-first or time-first, or one token per example (a character model
        # called one step at a time with its hidden state)
        orders = [sequence] if rnn is None else [sequence, sequence[::-1], (batch,)]
        return [torch.randint(0, module.num_embeddings, order, generator=generator) for order in orders]
    if isinstance(module, nn.Linear):
        # a Linear feeding an RNN sees (batch, time, features) in the RNN's layout
        shapes = [(*sequence, module.in_features), (batch, module.in_features)] if rnn is not None \
            else [(batch, module.in_features)]
    elif isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        sizes = {nn.Conv1d: [(64,)], nn.Conv2d: [(32, 32), (28, 28), (224, 224)],
                 nn.Conv3d: [(8, 16, 16)]}[type(module)]
        if image_size is not None and isinstance(module, nn.Conv2d):
            sizes = [image_size, *(size for size in sizes if size != image_size)]
        shapes = [(batch, module.in_channels, *size) for size in sizes]
    elif isinstance(module, nn.RNNBase):
        shapes = [(batch, seq_len, module.input_size) if module.batch_first else (seq_len, batch, module.input_size)]
    elif isinstance(module, (nn.TransformerEncoder, nn.TransformerEncoderLayer)):
        layer = module.layers[0] if isinstance(module, nn.TransformerEncoder) else module
        attention = layer.self_attn
        shapes = [(batch, seq_len, attention.embed_dim) if attention.batch_first else (seq_len, batch, attention.embed_dim)]
    elif isinstance(module, nn.MultiheadAttention):
        shapes = [(batch, seq_len, module.embed_dim) if module.batch_first else (seq_len, batch, module.embed_dim)]
    elif isinstance(module, nn.LayerNorm):
        shapes = [(batch, *module.normalized_shape)]
    elif isinstance(module, nn.BatchNorm1d):
        shapes = [(batch, module.num_features)]
    elif isinstance(module, nn.BatchNorm2d):
        shapes = [(batch, module.num_features, 32, 32)]
    return [torch.randn(*shape, generator=generator, dtype=dtype) for shape in shapes for dtype in dtypes]


# --- a first layer that states its input as an einops pattern ---------------------------------------

def _pattern_of(module: nn.Module) -> tuple[list[list[str]], list[list[str]], dict[str, int]] | None:
    """The axes of a layer that rearranges its input by a pattern it keeps (einops' ``Rearrange(
    'b c (h p1) (w p2) -> b (h w) (p1 p2 c)', p1=16, p2=16)``): the input's and the output's
    dimensions, each a list of axis names, and the lengths the layer was given; None for any other
    layer, or a pattern with an ellipsis or an anonymous axis.

    >>> class Patches(nn.Module):
    ...     pattern, axes_lengths = "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", {"p1": 4, "p2": 4}
    >>> _pattern_of(Patches())
    ([['b'], ['c'], ['h', 'p1'], ['w', 'p2']], [['b'], ['h', 'w'], ['p1', 'p2', 'c']], {'p1': 4, 'p2': 4})
    """
    pattern, lengths = getattr(module, "pattern", None), getattr(module, "axes_lengths", None)
    if not isinstance(pattern, str) or "->" not in pattern or not isinstance(lengths, dict):
        return None

    def dimensions(side: str) -> list[list[str]] | None:
        dims: list[list[str]] = []
        group: list[str] | None = None
        for token in side.replace("(", " ( ").replace(")", " ) ").split():
            if token == "(":
                group = []
            elif token == ")":
                if group is None:
                    return None
                dims.append(group)
                group = None
            elif not token.isidentifier():
                return None  # "...", "1", an anonymous axis
            elif group is not None:
                group.append(token)
            else:
                dims.append([token])
        return dims if group is None else None

    left, right = (dimensions(side) for side in pattern.split("->", 1))
    if not left or not right or not all(isinstance(v, int) and v > 0 for v in lengths.values()):
        return None
    return left, right, dict(lengths)


def _width_in(layers: list[nn.Module]) -> int | None:
    """The feature width the first of ``layers`` that has one takes."""
    for layer in layers:
        if isinstance(layer, nn.Linear):
            return layer.in_features
        if isinstance(layer, nn.LayerNorm):
            return int(layer.normalized_shape[-1])
        if isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            return layer.in_channels
    return None


def _pattern_inputs(model: nn.Module, module: nn.Module, after: list[nn.Module], batch: int,
                    generator: torch.Generator, dtypes: list[torch.dtype],
                    image_size: tuple[int, int] | None) -> list[torch.Tensor]:
    """Inputs for a first layer that rearranges by a pattern: the batch axis first; an axis the
    output puts in the last dimension beside known lengths (the channels of ``(p1 p2 c)``) from the
    width of the layer after it; each split dimension (``(h p1)``) a multiple of its known part,
    sized as the model says (the image size it keeps, a learned position table of k×k patches) or
    as small images are. Empty when the pattern leaves an axis open."""
    parsed = _pattern_of(module)
    if parsed is None:
        return []
    left, right, lengths = parsed
    known = dict(lengths)
    known.setdefault(left[0][0], batch) if len(left[0]) == 1 else None
    width = _width_in(after)
    last = right[-1]
    open_in_last = [axis for axis in last if axis not in known]
    if width is not None and len(open_in_last) == 1:
        rest = 1
        for axis in last:
            rest *= known.get(axis, 1)
        if width % rest == 0:
            known[open_in_last[0]] = width // rest
    split = [dim for dim in left if len(dim) > 1 and sum(axis not in known for axis in dim) == 1]
    if any(axis not in known for dim in left if dim not in split for axis in dim):
        return []
    steps = []
    for dim in split:
        step = 1
        for axis in dim:
            step *= known.get(axis, 1)
        steps.append(step)
    sides: list[int] = []
    if image_size is not None:
        sides.append(image_size[0])
    patches = _position_rows(model)
    for rows in patches:
        for count in (rows, rows - 1):
            root = round(count ** (1 / max(len(split), 1)))
            if len(split) and root ** len(split) == count and root > 0:
                sides.append(root * max(steps))
    sides += [32, 224]
    shapes: list[tuple[int, ...]] = []
    for side in dict.fromkeys(sides):
        shape = []
        for dim in left:
            if dim in split:
                step = steps[split.index(dim)]
                shape.append(max(step, -(-side // step) * step))
            else:
                size = 1
                for axis in dim:
                    size *= known[axis]
                shape.append(size)
        if tuple(shape) not in shapes:
            shapes.append(tuple(shape))
    return [torch.randn(*shape, generator=generator, dtype=dtype) for shape in shapes[:3] for dtype in dtypes]


def _position_rows(model: nn.Module) -> list[int]:
    """The row counts of the model's learned position tables (``pos_embedding`` of shape
    [1, N, dim] or [N, dim]): how many tokens, perhaps with a class token, its input makes."""
    rows = []
    for name, parameter in model.named_parameters():
        if "pos" in name.rsplit(".", 1)[-1].lower() and parameter.dim() in (2, 3) and \
                (parameter.dim() == 2 or parameter.shape[0] == 1):
            rows.append(int(parameter.shape[-2]))
    return rows


def _further_input(model: nn.Module, name: str, annotation: str, first: torch.Tensor, batch: int,
                   rnn: nn.RNNBase | None, generator: torch.Generator, seq_len: int = 32) -> Any:
    lowered = name.lower()
    # a state by name, or by an annotation like Tuple[Tensor, Tensor] when the model has an RNN
    if lowered in _HIDDEN_NAMES or (rnn is not None and "tuple" in annotation.lower()):
        return _initial_state(model, batch, rnn, first.dtype if first.is_floating_point() else None)
    if is_lengths_name(lowered):
        return sequence_lengths_like(first, batch, rnn)
    if lowered == "mask" or lowered.endswith("_mask"):
        return None
    if lowered in _TIMESTEP_NAMES:
        # a diffusion model's timestep: one integer per example
        return torch.randint(0, 1000, (batch,), generator=generator)
    # what forward's source does with it: `self.embed(captions)` takes ids, `self.cnn(images)` images
    sent = _parameter_from_source(model, name, batch, seq_len, generator, rnn)
    if sent is not None:
        return sent
    if first.is_floating_point():
        return torch.randn(first.shape, generator=generator, dtype=first.dtype)
    # token ids for a second vocabulary (a decoder's targets): within every embedding's range
    high = min((m.num_embeddings for m in model.modules() if isinstance(m, nn.Embedding)),
               default=int(first.max()) + 1)
    return torch.randint(0, min(high, int(first.max()) + 1), tuple(first.shape), generator=generator)


def is_lengths_name(name: str) -> bool:
    """``lengths``, ``text_lengths``, ``src_lens``: a forward argument giving each example's
    sequence length."""
    lowered = name.lower()
    return lowered in _LENGTH_NAMES or lowered.endswith(("_lengths", "_lens")) or \
        lowered.startswith(("lengths_", "lens_"))


def sequence_lengths_like(first: torch.Tensor, batch: int, rnn: nn.RNNBase | None) -> torch.Tensor:
    """One length per example of ``first`` (``[B]``, int64, on the CPU as packing wants them): its
    sequence dimension T first, then shorter ones, descending (sorted, as
    ``pack_padded_sequence(..., enforce_sorted=True)`` requires; each at least 1), so that the
    padding is exercised and the longest still fills the batch.

    >>> sequence_lengths_like(torch.zeros(4, 6), 4, None)
    tensor([6, 5, 4, 3])
    >>> sequence_lengths_like(torch.zeros(6, 4, 3), 4, nn.GRU(3, 3))
    tensor([6, 5, 4, 3])
    >>> sequence_lengths_like(torch.zeros(4, dtype=torch.int64), 4, None)
    tensor([1, 1, 1, 1])
    """
    shape = tuple(first.shape)
    if len(shape) < 2:
        steps = 1
    elif shape[0] == batch and (shape[1] != batch or rnn is None or rnn.batch_first):
        steps = shape[1]
    elif shape[1] == batch:
        steps = shape[0]
    else:
        steps = shape[1] if rnn is None or rnn.batch_first else shape[0]
    return torch.arange(steps, steps - batch, -1, dtype=torch.int64).clamp(min=1)


def _initial_state(model: nn.Module, batch: int, rnn: nn.RNNBase | None, dtype: torch.dtype | None) -> Any:
    """The model's own ``init_hidden(batch)`` when it has one, else zeros sized from its RNN."""
    for method in _INIT_HIDDEN:
        init = getattr(type(model), method, None)
        if callable(init):
            for args in ((batch,), ()):
                try:
                    return getattr(model, method)(*args)
                except TypeError:
                    continue
    if rnn is None:
        return None
    layers = rnn.num_layers * (2 if rnn.bidirectional else 1)
    dtype = dtype or rnn.weight_ih_l0.dtype
    size = getattr(rnn, "proj_size", 0) or rnn.hidden_size
    h = torch.zeros(layers, batch, size, dtype=dtype)
    if isinstance(rnn, nn.LSTM):
        return h, torch.zeros(layers, batch, rnn.hidden_size, dtype=dtype)
    return h


def _is_hugging_face(model: nn.Module) -> bool:
    return hasattr(model, "main_input_name") and hasattr(getattr(model, "config", None), "to_dict")


def hugging_face_inputs(model: nn.Module, batch: int, seq_len: int, generator: torch.Generator) -> dict[str, Any]:
    """Valid inputs from a transformers model's config: token ids within the vocabulary, pixel
    values, audio values or features, decoder ids for encoder-decoders; caches off."""
    config = model.config
    main = model.main_input_name
    inputs: dict[str, Any] = {}

    def ids() -> torch.Tensor:
        vocab = getattr(config, "vocab_size", None) or 1000
        return torch.randint(0, vocab, (batch, seq_len), generator=generator)

    if main == "input_ids":
        inputs[main] = ids()
    elif main == "pixel_values":
        size = getattr(config, "image_size", 64)
        height, width = (size, size) if isinstance(size, int) else tuple(size)
        inputs[main] = torch.randn(batch, getattr(config, "num_channels", 3), height, width, generator=generator)
    elif main == "input_values":
        inputs[main] = torch.randn(batch, 4000, generator=generator)
    elif main == "input_features":
        frames = 2 * getattr(config, "max_source_positions", 1500)
        inputs[main] = torch.randn(batch, getattr(config, "num_mel_bins", 80), frames, generator=generator)
    else:
        raise ValueError(f"no input recipe for a Hugging Face model whose main input is {main!r}")
    parameters = inspect.signature(model.forward).parameters
    if getattr(config, "is_encoder_decoder", False) and "decoder_input_ids" in parameters:
        inputs["decoder_input_ids"] = ids()
    return without_cache(model, inputs)


def without_cache(model: nn.Module, inputs: dict[str, Any]) -> dict[str, Any]:
    """``inputs`` with ``use_cache=False`` for a Hugging Face model that would otherwise return a
    cache object (a causal LM's config keeps ``use_cache=True`` by default): a DynamicCache is no
    tensor, so fx cannot trace it, and a training step never uses it. Inputs that say otherwise
    are left as they are."""
    config = getattr(model, "config", None)
    if "use_cache" in inputs or not getattr(config, "use_cache", False):
        return inputs
    try:
        parameters = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return inputs
    if "use_cache" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return {**inputs, "use_cache": False}
    return inputs


# --- a forward that takes the batch dict a collate function returns ------------------------------

_LABEL_NAMES = frozenset({"label", "labels", "target", "targets", "y", "class", "classes", "class_id"})


def batch_keys(model: nn.Module) -> tuple[str, list[str]] | None:
    """``forward(self, batch)`` that reads ``batch["input_ids"]``, ``batch.get("mask")``: the
    parameter and its string keys, in the order forward reads them; None for any other forward."""
    tree = _forward_tree(model)
    if tree is None:
        return None
    for name in required_parameters(model)[:1]:
        keys = [key for node in ast.walk(tree) if (key := _key_read(node, name)) is not None]
        if keys:
            return name, list(dict.fromkeys(keys))
    return None


def batch_dict(model: nn.Module, parameter: str, keys: list[str], batch: int, seq_len: int,
               generator: torch.Generator) -> dict[str, torch.Tensor]:
    """One tensor per key, inferred from where forward's source sends it: into a module (an
    embedding: integer ids in its range; a Linear, Conv, RNN or a block: floats of its first
    layer's width), concatenated with other known widths before a module, or by its name (a mask:
    ones like the ids; labels: classes of the last layer; lengths). Raises ValueError naming the
    first key none of these tells."""
    tree = _forward_tree(model)
    assert tree is not None
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    reads = {key: [n for n in ast.walk(tree) if _key_read(n, parameter) == key] for key in keys}
    dtypes = _float_dtypes(model)
    rnn = next((m for m in model.modules() if isinstance(m, nn.RNNBase)), None)
    finder = _KeyInference(model, tree, parents, parameter, batch, seq_len, generator, dtypes[0], rnn)
    values: dict[str, torch.Tensor] = {}
    for _ in range(2):  # a width may follow from another key's (a concatenation of both)
        for key in keys:
            if key not in values:
                for read in reads[key]:
                    value = finder.infer(read, values)
                    if value is not None:
                        values[key] = value
                        break
    for key in keys:
        if key not in values:
            named = finder.by_name(key, values)
            if named is None:
                raise ValueError(f"cannot tell the tensor in {parameter}[{key!r}] from forward()'s source "
                                 f"(no module, concatenation or name says its shape; `gradlint run -- "
                                 f"python train.py` sees the real batch)")
            values[key] = named
    return {key: values[key] for key in keys}


def _parameter_from_source(model: nn.Module, name: str, batch: int, seq_len: int, generator: torch.Generator,
                           rnn: nn.RNNBase | None) -> torch.Tensor | None:
    """The tensor forward's parameter ``name`` must be, told by the module forward's source sends
    it into (as for a batch dict's keys), or None."""
    tree = _forward_tree(model)
    if tree is None:
        return None
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    finder = _KeyInference(model, tree, parents, name, batch, seq_len, generator, _float_dtypes(model)[0], rnn)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load):
            value = finder.infer(node, {})
            if value is not None:
                return value
    return None


def _forward_tree(model: nn.Module) -> ast.AST | None:
    try:
        source = textwrap.dedent(inspect.getsource(type(model).forward))
        return ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return None


def _key_read(node: ast.AST, parameter: str) -> str | None:
    """The key of ``parameter["key"]`` or ``parameter.get("key", ...)``, else None."""
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == parameter \
            and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
        return node.slice.value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
            and isinstance(node.func.value, ast.Name) and node.func.value.id == parameter and node.args \
            and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
        return node.args[0].value
    return None


class _KeyInference:
    def __init__(self, model: nn.Module, tree: ast.AST, parents: dict[ast.AST, ast.AST], parameter: str,
                 batch: int, seq_len: int, generator: torch.Generator, dtype: torch.dtype,
                 rnn: nn.RNNBase | None) -> None:
        self.model, self.tree, self.parents, self.parameter = model, tree, parents, parameter
        self.batch, self.seq_len, self.generator, self.dtype, self.rnn = batch, seq_len, generator, dtype, rnn

    def infer(self, read: ast.AST, known: dict[str, torch.Tensor], depth: int = 0) -> torch.Tensor | None:
        node, columns = read, None
        parent = self.parents.get(node)
        if isinstance(parent, ast.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0], ast.Name) \
                and depth < 3:
            # input_ids = batch["input_ids"]; ... self.tok(input_ids): where the name goes
            for use in ast.walk(self.tree):
                if isinstance(use, ast.Name) and use.id == parent.targets[0].id and isinstance(use.ctx, ast.Load):
                    value = self.infer(use, known, depth + 1)
                    if value is not None:
                        return value
            return None
        # batch["categorical"][:, i] inside a loop over a ModuleList: one column per module
        if isinstance(parent, ast.Subscript) and parent.value is node and isinstance(parent.slice, ast.Tuple):
            node, columns = parent, parent
            parent = self.parents.get(node)
        if isinstance(parent, ast.Call) and node is not parent.func:
            modules = self._modules_called(parent.func)
            if modules:
                return self._for_module(modules, columns)
        if isinstance(parent, ast.keyword) and parent.arg and columns is None:
            # self.encoder(input_ids=batch["input_ids"], ...): what that module takes by that name
            call = self.parents.get(parent)
            modules = self._modules_called(call.func) if isinstance(call, ast.Call) else []
            if modules and _is_hugging_face(modules[0]):
                value = hugging_face_inputs(modules[0], self.batch, self.seq_len, self.generator).get(parent.arg)
                return value if isinstance(value, torch.Tensor) else None
            if modules and required_parameters(modules[0])[:1] == [parent.arg]:
                return self._for_module(modules, None)
        if isinstance(parent, (ast.List, ast.Tuple)) and columns is None:
            return self._concatenated(node, parent, known)
        return None

    def _modules_called(self, func: ast.AST) -> list[nn.Module]:
        """The module(s) ``func`` names: ``self.encoder``, or a loop variable over ``self.layers``."""
        module = self._attribute(func)
        if isinstance(module, nn.Module):
            return [module]
        if isinstance(func, ast.Name):
            for node in ast.walk(self.tree):
                for target, iterable in _loops(node):
                    if any(isinstance(n, ast.Name) and n.id == func.id for n in ast.walk(target)):
                        container = self._attribute(iterable)
                        if isinstance(container, (nn.ModuleList, nn.Sequential)) and len(container):
                            return list(container)
        return []

    def _attribute(self, node: ast.AST) -> Any:
        """The object ``self.a.b`` names on the model, or None."""
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("enumerate", "zip") \
                and node.args:
            return self._attribute(node.args[0])
        names = []
        while isinstance(node, ast.Attribute):
            names.append(node.attr)
            node = node.value
        if not (isinstance(node, ast.Name) and node.id == "self" and names):
            return None
        value: Any = self.model
        for name in reversed(names):
            value = getattr(value, name, None)
        return value

    def _for_module(self, modules: list[nn.Module], columns: ast.AST | None) -> torch.Tensor | None:
        first = modules[0]
        if columns is not None:  # one column per module, each an id or a feature
            if all(isinstance(m, nn.Embedding) for m in modules):
                high = min(m.num_embeddings for m in modules)
                return torch.randint(0, high, (self.batch, len(modules)), generator=self.generator)
            return None
        for module in first.modules():
            examples = _inputs_for(module, self.batch, self.seq_len, self.generator, self.rnn, [self.dtype])
            if examples:
                return examples[0]
        return None

    def _concatenated(self, node: ast.AST, listed: ast.AST, known: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """``self.mlp(torch.cat([batch["numeric"], *embedded], dim=1))``: the first layer's width
        less the widths of the other parts."""
        call = self.parents.get(listed)
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                and call.func.attr in ("cat", "concat", "concatenate") and call.args and call.args[0] is listed):
            return None
        consumer = self._consumer(call)
        width = _first_width(consumer) if consumer is not None else None
        if width is None:
            return None
        others = 0
        for element in listed.elts:
            if element is node:
                continue
            part = self._width_of(element, known)
            if part is None:
                return None
            others += part
        if width - others < 1:
            return None
        return torch.randn(self.batch, width - others, generator=self.generator, dtype=self.dtype)

    def _consumer(self, value: ast.AST) -> nn.Module | None:
        """The module a value goes into: directly, or through the name it is assigned to."""
        parent = self.parents.get(value)
        if isinstance(parent, ast.Call) and value is not parent.func:
            modules = self._modules_called(parent.func)
            return modules[0] if modules else None
        if isinstance(parent, ast.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0], ast.Name):
            name = parent.targets[0].id
            for node in ast.walk(self.tree):
                if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load):
                    return self._consumer(node)
        return None

    def _width_of(self, element: ast.AST, known: dict[str, torch.Tensor]) -> int | None:
        """The last-dimension width of one part of a concatenation, when the source tells it."""
        key = _key_read(element, self.parameter)
        if key is not None:
            return int(known[key].shape[-1]) if key in known and known[key].dim() == 2 else None
        if isinstance(element, ast.Call):
            modules = self._modules_called(element.func)
            return _out_width(modules[0]) if modules else None
        if isinstance(element, ast.Starred) and isinstance(element.value, ast.Name):
            # *embedded, with embedded = [emb(...) for i, emb in enumerate(self.embeddings)]
            for node in ast.walk(self.tree):
                if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == element.value.id
                                                        for t in node.targets) \
                        and isinstance(node.value, ast.ListComp) and isinstance(node.value.elt, ast.Call):
                    modules = self._modules_called(node.value.elt.func)
                    widths = [_out_width(m) for m in modules]
                    return sum(widths) if modules and None not in widths else None  # type: ignore[arg-type]
        return None

    def by_name(self, key: str, known: dict[str, torch.Tensor]) -> torch.Tensor | None:
        lowered = key.lower()
        ids = next((v for v in known.values() if not v.is_floating_point() and v.dim() == 2), None)
        rows = (self.batch, self.seq_len) if ids is None else tuple(ids.shape)
        if "mask" in lowered:
            return torch.ones(rows, dtype=torch.int64)
        if is_lengths_name(lowered):
            return sequence_lengths_like(torch.empty(rows), self.batch, self.rnn)
        if lowered in _LABEL_NAMES:
            last = [m for m in self.model.modules() if isinstance(m, nn.Linear)]
            if last:
                return torch.randint(0, last[-1].out_features, (self.batch,), generator=self.generator)
        return None


def _loops(node: ast.AST) -> list[tuple[ast.AST, ast.AST]]:
    """(target, iterable) of a for loop or comprehension."""
    if isinstance(node, (ast.For, ast.comprehension)):
        return [(node.target, node.iter)]
    return []


def _first_width(module: nn.Module) -> int | None:
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            return layer.in_features
        if isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            return None
    return None


def _out_width(module: nn.Module) -> int | None:
    if isinstance(module, nn.Embedding):
        return module.embedding_dim
    if isinstance(module, nn.Linear):
        return module.out_features
    return None
