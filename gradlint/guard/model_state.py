"""Leave the user's model as it was found: ``preserved(model)`` around everything gradlint does
to it (tracing runs its forward, the probe switches it to train mode, turns off in-place
activations and seeds the global RNG, ``--device`` moves it).

Restored on the way out, every time (an exception or a timeout included):

- each submodule's train/eval mode and ``inplace`` flag;
- which tensors each submodule holds as parameters and buffers (a forward that replaces one,
  a device move);
- buffer values (BatchNorm's running statistics and ``num_batches_tracked``: a forward in train
  mode writes them) — buffers are small, so their values are copied;
- each parameter's data (its storage and device), ``requires_grad`` and ``.grad`` (None stays
  None; an existing gradient is the same tensor afterwards);
- the global random states: torch's CPU generator (and CUDA's when initialized), Python's
  ``random``, and numpy's when numpy is imported.

Parameter values are not copied (that would double the model's memory). gradlint itself never
writes them; a forward that writes its own parameters or their gradients in place (an EMA update)
is detected by the tensors' version counters and named in the returned notes, since that cannot
be undone without a copy.

``Checkpoint(model, folder)`` is for the one place gradlint trains a model itself (the GL701 dry
run in the worker, on gradlint's own build of the model): the exact values of its parameters and
buffers go to a file in ``folder``, not beside it in memory, and ``restore()`` puts them back
bitwise (with the modes, ``requires_grad``, ``.grad`` and the tensors' version counters) however
the model was trained in between; a time limit or Ctrl-C that arrives during a restore waits until
it is done (``signals_deferred``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.nn.parameter import is_lazy


@dataclasses.dataclass
class _ParameterState:
    name: str
    parameter: nn.Parameter
    data: torch.Tensor          # an alias of the storage, not a copy
    version: int
    requires_grad: bool
    grad: torch.Tensor | None
    grad_version: int | None


@contextlib.contextmanager
def preserved(model: nn.Module) -> Iterator[list[str]]:
    """Run the body on ``model`` and put it back as it was. Yields a list that, after the body,
    holds one note per change that could not be undone (empty when everything was restored)."""
    unrestored: list[str] = []
    modules = list(model.modules())
    flags = [(m, m.training, m.__dict__.get("inplace")) for m in modules]
    held = [(m, dict(m._parameters), dict(m._buffers)) for m in modules]
    # a lazy module's first forward materializes its parameters and buffers (and turns it into
    # the plain module): that cannot be undone, and training's first forward would do the same
    buffers = [(b, b.detach().clone()) for _, b in model.named_buffers()
               if not b.is_meta and not is_lazy(b)]
    lazy = [name for name, p in model.named_parameters() if is_lazy(p)]
    parameters = [_ParameterState(name, p, p.data, p._version, p.requires_grad, p.grad,
                                  p.grad._version if p.grad is not None else None)
                  for name, p in model.named_parameters() if name not in lazy]
    saved_random = random_states()
    try:
        yield unrestored
    finally:
        for module, parameters_held, buffers_held in held:
            module._parameters.clear()
            module._parameters.update(parameters_held)
            module._buffers.clear()
            module._buffers.update(buffers_held)
        for module, training, inplace in flags:
            module.training = training
            if isinstance(inplace, bool):
                module.inplace = inplace
        with torch.no_grad():
            for buffer, saved in buffers:
                if buffer.shape != saved.shape or buffer.dtype != saved.dtype:
                    buffer.data = saved
                elif not torch.equal(buffer, saved):
                    buffer.copy_(saved)
        written = []
        for state in parameters:
            parameter = state.parameter
            if not _same_storage(parameter, state.data):   # moved to a device, or replaced
                parameter.data = state.data
            if parameter._version != state.version:
                written.append(state.name)
            parameter.requires_grad_(state.requires_grad)
            if parameter.grad is not state.grad:
                parameter.grad = state.grad
            if state.grad is not None and state.grad._version != state.grad_version:
                written.append(f"{state.name}.grad")
        restore_random_states(saved_random)
        if lazy:
            unrestored.append(f"its lazy parameters ({_names(lazy)}) were materialized by the "
                              "forward, as the first training step would")
        if written:
            unrestored.append(f"its forward wrote {_names(written)} in place; gradlint restored "
                              "everything else but cannot undo that")


class Checkpoint:
    """``model``'s exact state, its values kept in a file in ``folder``: what ``restore()`` puts
    back, bitwise, after gradlint trained the model itself. Taken at construction, which changes
    nothing (the gradients found are kept, by reference, for ``close()``).

    Kept and restored: which tensors each submodule holds as parameters and buffers, the values
    of every parameter and buffer (those outside the state_dict included) in their own storage,
    each tensor's version counter (so ``preserved`` around it sees no write), each submodule's
    train/eval mode, ``requires_grad``, and ``.grad`` (None during training, the kept gradients
    after ``close()``). Not kept: plain Python attributes a forward changes (a step counter) and
    lazy parameters, which the first forward replaces (``supported`` says so; copy such a model).
    """

    def __init__(self, model: nn.Module, folder: str | None = None) -> None:
        self.model = model
        modules = list(model.modules())
        self._flags = [(m, m.training) for m in modules]
        self._held = [(m, dict(m._parameters), dict(m._buffers)) for m in modules]
        self._parameters = list(dict.fromkeys(p for p in model.parameters()))
        self._tensors = self._parameters + list(dict.fromkeys(b for b in model.buffers()))
        self._data = [t.data for t in self._tensors]   # aliases of the storages, not copies
        self._versions = [t._version for t in self._tensors]
        self._requires = [p.requires_grad for p in self._parameters]
        self._grads = [p.grad for p in self._parameters]
        handle, self.path = tempfile.mkstemp(prefix="gradlint-state-", suffix=".pt", dir=folder)
        os.close(handle)
        try:
            with signals_deferred(), _without_checksums():
                torch.save({str(i): t.detach() for i, t in enumerate(self._tensors)}, self.path)
        except BaseException:
            os.remove(self.path)
            raise

    @staticmethod
    def supported(model: nn.Module) -> str | None:
        """Why ``model`` cannot be checkpointed and restored bitwise, or None when it can."""
        if not hasattr(torch._C._autograd, "_unsafe_set_version_counter"):
            return "this torch cannot set version counters back"
        tensors = [*model.parameters(), *model.buffers()]
        if any(is_lazy(t) or t.is_meta for t in tensors):
            return "lazy or meta tensors"
        if any(type(t) not in (torch.Tensor, nn.Parameter) for t in tensors):
            return "tensor subclasses"
        return None

    def restore(self, grads: bool = False) -> None:
        """Put the model back as it was at construction; ``.grad`` None (``grads``: the kept
        gradients). A time limit or Ctrl-C during it takes effect once it is done."""
        with signals_deferred():
            for module, parameters, buffers in self._held:
                module._parameters.clear()
                module._parameters.update(parameters)
                module._buffers.clear()
                module._buffers.update(buffers)
            for module, training in self._flags:
                module.training = training
            for parameter, requires in zip(self._parameters, self._requires):
                parameter.grad = None
                parameter.requires_grad_(requires)
            saved = torch.load(self.path, map_location="cpu", mmap=True, weights_only=True)
            with torch.no_grad():
                for i, (tensor, data) in enumerate(zip(self._tensors, self._data)):
                    if not _same_storage(tensor, data):
                        tensor.data = data
                    data.copy_(saved[str(i)])   # through the alias: the tensor's version is set below
            del saved
            torch._C._autograd._unsafe_set_version_counter(tuple(self._tensors), tuple(self._versions))
            if grads:
                for parameter, grad in zip(self._parameters, self._grads):
                    parameter.grad = grad

    def close(self) -> None:
        """Restore the model with its own gradients and remove the file."""
        try:
            self.restore(grads=True)
        finally:
            with contextlib.suppress(OSError):
                os.remove(self.path)


# Ctrl-C, and the model's time limit (gradlint.core.limits.time_limit)
_DEFERRED = (signal.SIGINT, *([signal.SIGALRM] if hasattr(signal, "SIGALRM") else []))


@contextlib.contextmanager
def _without_checksums() -> Iterator[None]:
    """``torch.save`` without its CRC-32 of every record: a file read back once by the process that
    wrote it needs none, and it is most of the time of a save (GPT-2 small: 7.7 s, 1.5 s without)."""
    try:
        from torch.utils.serialization import config as settings
    except ImportError:   # an older torch
        settings = None
    config = getattr(settings, "save", None)
    previous = getattr(config, "compute_crc32", None)
    if previous is None:
        yield
        return
    config.compute_crc32 = False
    try:
        yield
    finally:
        config.compute_crc32 = previous


@contextlib.contextmanager
def signals_deferred(signals: tuple[int, ...] = _DEFERRED) -> Iterator[None]:
    """Inside the block, Ctrl-C and the model's time limit (SIGALRM, which raises ``ModelTimeout``)
    only are recorded; they take effect when it ends, so that a restore they would interrupt is
    finished first. In the main thread, for signals with a Python handler (elsewhere there is
    nothing to defer: Python runs its handlers in the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {}
    for number in dict.fromkeys(signals):
        handler = signal.getsignal(number)
        if callable(handler):
            previous[number] = signal.signal(number, lambda received, frame: caught.append(received))
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in dict.fromkeys(caught):
            signal.raise_signal(number)


def _names(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _same_storage(a: torch.Tensor, b: torch.Tensor) -> bool:
    return (a.device == b.device and a.dtype == b.dtype and a.shape == b.shape
            and a.stride() == b.stride() and a.data_ptr() == b.data_ptr())


def random_states() -> dict[str, Any]:
    states: dict[str, Any] = {"torch": torch.get_rng_state(), "random": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        states["numpy"] = numpy.random.get_state()
    return states


def restore_random_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    random.setstate(states["random"])
    if "cuda" in states:
        torch.cuda.set_rng_state_all(states["cuda"])
    if "numpy" in states:
        sys.modules["numpy"].random.set_state(states["numpy"])


@contextlib.contextmanager
def untouched_random_states(loader: Any = None) -> Iterator[None]:
    """Inside the block, anything may draw random numbers (a fresh iterator over the user's
    DataLoader seeds its workers and its shuffling sampler from torch's global generator); after
    it, the global states (torch, CUDA, numpy, Python) and the loader's own generators are as they
    were, so a seeded run trains bit-identically with or without gradlint."""
    generators = []
    for owner in (loader, getattr(loader, "sampler", None),
                  getattr(getattr(loader, "batch_sampler", None), "sampler", None)):
        generator = getattr(owner, "generator", None)
        if isinstance(generator, torch.Generator) and all(generator is not g for g, _ in generators):
            generators.append((generator, generator.get_state()))
    states = random_states()
    try:
        yield
    finally:
        restore_random_states(states)
        for generator, state in generators:
            generator.set_state(state)
