"""Size a model before building it: count its parameters on the meta device and estimate what the
probe needs (gradlint.core.limits compares that with the memory this worker may use).

A model gradlint builds itself (a class whose constructor needs no arguments) is first built
under ``torch.device("meta")``: parameters with shapes and no storage, in milliseconds and a few
megabytes even for billions of parameters (measured: a 7B-size Llama config builds there in
0.66 s with +40 MB RSS). It is built for real only
when the probe fits; otherwise it is analysed on the meta device (structure rules only).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import nn

from gradlint.core.limits import PROBE_MEMORY_FACTOR, count

# Below this, one probe batch of gradlint's small inputs costs little next to the budget: no
# estimating trace (it would cost more than it tells).
SMALL_WEIGHTS = 64 * 2**20


@dataclasses.dataclass(frozen=True)
class Size:
    parameters: int
    weight_bytes: int
    activation_bytes: int | None      # None: the meta trace did not give shapes

    @property
    def probe_bytes(self) -> int:
        return PROBE_MEMORY_FACTOR * self.weight_bytes + 2 * (self.activation_bytes or 0)


def measure(meta_model: nn.Module, batch: int, seq_len: int, seed: int) -> Size:
    """Parameters of a model built on the meta device, and the activation memory of one probe
    batch, from a value-guided trace on meta inputs (shapes only, nothing allocated)."""
    from gradlint.tracing.inputs import candidate_inputs
    from gradlint.tracing.trace import TraceError, trace

    parameters = sum(p.numel() for p in meta_model.parameters())
    weight_bytes = sum(p.numel() * p.element_size() for p in meta_model.parameters())
    element = next((p.element_size() for p in meta_model.parameters() if p.is_floating_point()), 4)
    activations = None
    if weight_bytes < SMALL_WEIGHTS:
        return Size(parameters, weight_bytes, None)
    try:
        for candidate in candidate_inputs(meta_model, batch, seq_len, seed):
            meta_inputs = moved_to(candidate, "meta")
            try:
                traced = trace(meta_model, meta_inputs)
            except TraceError:
                continue
            activations = element * sum(math.prod(shape) for shape in traced.shapes.values())
            break
    except Exception:  # noqa: BLE001 - no inputs (ValueError) or the user's init_hidden(): no estimate
        activations = None
    return Size(parameters, weight_bytes, activations)


def moved_to(value: Any, device: str | torch.device) -> Any:
    """A tensor, or each tensor in a batch dict, list or tuple, on ``device``; anything else as it
    is.

    >>> moved_to({"ids": torch.zeros(2), "n": 3, "pair": (torch.ones(1),)}, "meta")["pair"][0].device
    device(type='meta')
    """
    if isinstance(value, dict):
        return {k: moved_to(v, device) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(moved_to(v, device) for v in value)
    return value.to(device) if isinstance(value, torch.Tensor) else value


def build_on_meta(build: Any) -> Any:
    """``build()`` with every tensor it creates on the meta device."""
    with torch.device("meta"):
        return build()


def on_meta(model: nn.Module) -> bool:
    """Every parameter is on the meta device (a constructor may move some to a real device)."""
    parameters = list(model.parameters())
    return bool(parameters) and all(p.is_meta for p in parameters)


def too_large_to_build(size: Size, available: int | None) -> str | None:
    """Why a model of this size is not built for real, or None when it fits."""
    if available is None or size.probe_bytes <= available:
        return None
    return (f"{count(size.parameters)} parameters need about {size.probe_bytes / 2**30:.1f} GiB to "
            f"probe, {available / 2**30:.1f} GiB available")
