"""Run a user's file the way a script runs, without letting it train or reach the network.

Tutorials, exported notebooks and Stack Overflow-style scripts build their model at the top level
and go straight on to load data and train, with no ``if __name__ == "__main__":`` guard. While
gradlint imports such a file (and while it calls the file's model factories):

* the first ``backward()`` (``torch.autograd.backward``) or optimizer ``step()`` raises
  :class:`TrainingStarted`, which derives from ``BaseException`` so that a script's own
  ``except Exception`` cannot swallow it: no training loop ever runs inside gradlint;
* the network is closed (``socket`` connections and name lookups raise :class:`NetworkBlocked`,
  an ``OSError``), so a dataset download fails at once instead of hanging or fetching data;
* the first top-level call of every ``nn.Module`` records its arguments, so a model whose forward
  the script already ran is probed with the script's own inputs.

Whatever the file built before it stopped or failed stays in its module namespace.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import os
import socket
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.fx.node import map_aggregate
from torch.optim.optimizer import register_optimizer_step_pre_hook

from gradlint.core.findings import display_path
from gradlint.core.frames import user_location


class TrainingStarted(BaseException):
    """The file started training; raised where it did, to stop it there."""

    def __init__(self, what: str) -> None:
        where = user_location()
        self.what = what
        self.where = f"{display_path(where.path)}:{where.line}" if where else "an unknown line"
        super().__init__(f"{what} at {self.where}")


class NetworkBlocked(ConnectionRefusedError):
    def __init__(self, args: tuple = ()) -> None:
        super().__init__("gradlint blocks network access while it imports model files "
                         "(no dataset or weight downloads)")
        from gradlint.guard import sandbox

        box = sandbox.current()
        if box is not None:   # said in the file's note, with the user's line
            box.record("network connection", _address(args), "blocked")


def blocking(original: Any) -> Any:
    """``original`` (a socket function) with the network closed: a local Unix socket (a
    DataLoader worker's, multiprocessing's) still connects; anything else raises NetworkBlocked."""
    unix = getattr(socket, "AF_UNIX", None)

    def blocked(*args: Any, **kwargs: Any) -> Any:
        if args and isinstance(args[0], socket.socket) and unix is not None and args[0].family == unix:
            return original(*args, **kwargs)
        raise NetworkBlocked(args)

    return blocked


def _address(args: tuple) -> str:
    """``host:port`` from the arguments of connect(), create_connection() or getaddrinfo()."""
    for value in args:
        if isinstance(value, tuple) and len(value) >= 2:
            return f"{value[0]}:{value[1]}"
    plain = [a for a in args if isinstance(a, (str, int)) and not isinstance(a, bool)]
    return ":".join(str(a) for a in plain[:2]) or "an address"


@dataclasses.dataclass
class Call:
    """The first top-level call of a module: its arguments, detached, and the caller's line."""

    args: tuple
    kwargs: dict[str, Any]
    where: str


@dataclasses.dataclass
class Recorder:
    calls: dict[int, tuple[nn.Module, Call]] = dataclasses.field(default_factory=dict)
    depth: int = 0
    # (file, line) of every optimizer the file's own code constructed while it ran
    optimizers: set[tuple[str, int]] = dataclasses.field(default_factory=set)

    def call_of(self, model: nn.Module) -> Call | None:
        entry = self.calls.get(id(model))
        return entry[1] if entry is not None and entry[0] is model else None


def detached(value: Any) -> Any:
    return map_aggregate(value, lambda v: v.detach() if isinstance(v, torch.Tensor) else v)


# True while gradlint itself runs a model (a trainer callback's check inside an observed or
# intercepted command): its probe's backward() and its dry run's steps are not the user's training
_AT_WORK: contextvars.ContextVar[bool] = contextvars.ContextVar("gradlint_at_work", default=False)


@contextlib.contextmanager
def gradlint_at_work() -> Iterator[None]:
    """Inside the block, the interception hooks let gradlint's own forward, backward and
    optimizer steps through unrecorded."""
    token = _AT_WORK.set(True)
    try:
        yield
    finally:
        _AT_WORK.reset(token)


def at_work() -> bool:
    return _AT_WORK.get()


@contextlib.contextmanager
def intercepted() -> Iterator[Recorder]:
    """Stop training, block the network and record forward calls inside the ``with`` block."""
    recorder = Recorder()
    original_call = nn.Module.__call__
    original_backward = torch.autograd.backward
    original_init = torch.optim.Optimizer.__init__
    original_socket = (socket.socket.connect, socket.socket.connect_ex, socket.create_connection,
                       socket.getaddrinfo)

    def call(module: nn.Module, *args: Any, **kwargs: Any) -> Any:
        if at_work():
            return original_call(module, *args, **kwargs)
        if recorder.depth == 0 and id(module) not in recorder.calls:
            where = user_location()
            shown = f"{display_path(where.path)}:{where.line}" if where else "an unknown line"
            recorder.calls[id(module)] = (module, Call(detached(args), detached(kwargs), shown))
        recorder.depth += 1
        try:
            return original_call(module, *args, **kwargs)
        finally:
            recorder.depth -= 1

    def backward(*args: Any, **kwargs: Any) -> None:
        if at_work():
            return original_backward(*args, **kwargs)
        raise TrainingStarted("backward()")

    def step_hook(optimizer: Any, args: Any, kwargs: Any) -> None:
        if at_work():
            return
        raise TrainingStarted(f"{type(optimizer).__name__}.step()")

    def init(optimizer: Any, *args: Any, **kwargs: Any) -> None:
        original_init(optimizer, *args, **kwargs)
        where = user_location()
        if where is not None and not at_work():
            recorder.optimizers.add((os.path.realpath(where.path), where.line))

    nn.Module.__call__ = call
    torch.autograd.backward = backward
    torch.optim.Optimizer.__init__ = init  # type: ignore[method-assign]
    handle = register_optimizer_step_pre_hook(step_hook)
    socket.socket.connect, socket.socket.connect_ex = map(blocking, original_socket[:2])  # type: ignore[method-assign]
    socket.create_connection, socket.getaddrinfo = map(blocking, original_socket[2:])  # type: ignore[assignment]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        yield recorder
    finally:
        nn.Module.__call__ = original_call
        torch.autograd.backward = original_backward
        torch.optim.Optimizer.__init__ = original_init  # type: ignore[method-assign]
        handle.remove()
        (socket.socket.connect, socket.socket.connect_ex, socket.create_connection,
         socket.getaddrinfo) = original_socket
