"""Example inputs for the probe, inferred from the first layer that consumes the model's input.

Candidates come from the model's layers in registration order; the engine tries them in turn
(the value-guided trace is a forward pass) and keeps the first one the model accepts.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

MAX_CANDIDATES = 3


def required_parameters(model: nn.Module) -> list[str]:
    signature = inspect.signature(model.forward)
    return [
        p.name for p in signature.parameters.values()
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]


def candidate_inputs(model: nn.Module, batch: int, seq_len: int, seed: int) -> Iterator[dict[str, Any]]:
    """Plausible example inputs, most likely first. Raises ValueError when none can be built."""
    generator = torch.Generator().manual_seed(seed)
    if _is_hugging_face(model):
        yield hugging_face_inputs(model, batch, seq_len, generator)
        return
    required = required_parameters(model)
    if len(required) != 1:
        raise ValueError(
            f"forward() takes {len(required)} required arguments ({', '.join(required) or 'none'})"
        )
    seen: set[tuple] = set()
    for module in model.modules():
        example = _input_for(module, batch, seq_len, generator)
        if example is None:
            continue
        key = (tuple(example.shape), example.dtype)
        if key in seen:
            continue
        seen.add(key)
        yield {required[0]: example}
        if len(seen) >= MAX_CANDIDATES:
            return
    if not seen:
        raise ValueError("no layer tells the input's shape (Linear, Conv, Embedding, RNN, ...)")




def _input_for(module: nn.Module, batch: int, seq_len: int, generator: torch.Generator) -> torch.Tensor | None:
    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator)

    if isinstance(module, nn.Linear):
        return randn(batch, module.in_features)
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        channels = module.in_channels
        spatial = {nn.Conv1d: (64,), nn.Conv2d: (32, 32), nn.Conv3d: (8, 16, 16)}[type(module)]
        return randn(batch, channels, *spatial)
    if isinstance(module, nn.Embedding):
        return torch.randint(0, module.num_embeddings, (batch, seq_len), generator=generator)
    if isinstance(module, nn.RNNBase):
        if module.batch_first:
            return randn(batch, seq_len, module.input_size)
        return randn(seq_len, batch, module.input_size)
    if isinstance(module, (nn.TransformerEncoder, nn.TransformerEncoderLayer)):
        layer = module.layers[0] if isinstance(module, nn.TransformerEncoder) else module
        attention = layer.self_attn
        if attention.batch_first:
            return randn(batch, seq_len, attention.embed_dim)
        return randn(seq_len, batch, attention.embed_dim)
    if isinstance(module, nn.MultiheadAttention):
        if module.batch_first:
            return randn(batch, seq_len, module.embed_dim)
        return randn(seq_len, batch, module.embed_dim)
    if isinstance(module, nn.LayerNorm):
        return randn(batch, *module.normalized_shape)
    if isinstance(module, nn.BatchNorm1d):
        return randn(batch, module.num_features)
    if isinstance(module, nn.BatchNorm2d):
        return randn(batch, module.num_features, 32, 32)
    return None


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
    if "use_cache" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        if hasattr(config, "use_cache"):
            inputs["use_cache"] = False  # a DynamicCache is no tensor output (TRACING.md, E)
    return inputs
