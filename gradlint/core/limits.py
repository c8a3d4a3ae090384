"""Every time and memory limit gradlint puts on the work it does, in one place.

Time: ``--timeout T`` (``Settings.model_timeout``, seconds; 300 by default) is not a limit on the
file. It is a limit on each stage of the file's check, and a file of N models has N + 2 stages:

- its import (the file's top level), T;
- finding and building its models (their constructors), T;
- each model's check (trace, static rules, probe, GL701's dry run), T for each model.

So a file of five models may take up to 7 T in all, and no model's time is taken by another's.
Each limit is kept twice:

1. Soft, per model, in the worker: SIGALRM raises ``ModelTimeout`` (a BaseException, so no
   ``except Exception`` in the model's code, torch or gradlint swallows it) in the main thread
   after T (``time_limit``). That model is reported ``failed``, not checked, with the step it
   was in (gradlint.guard.progress: tracing, probing, the dry run...) and the seconds it took; the
   file's other models are checked as usual.
2. Hard, per stage, in the runner: a stage still running after T (the import, the models'
   construction), or T + ``HARD_LIMIT_GRACE`` (a model's check, whose soft limit comes first), is
   stopped by killing the worker and every process it started (``worker_timeout``): code that
   never returns to the interpreter is stopped too. The models finished before are kept and
   reported; the message names the model and the step it ran out of time in (or the import, only
   when the import was not done), and the models not reached are reported as not checked.
3. GL701's dry run ends by ``model_deadline``: 80% of the model's limit, leaving a fifth for
   everything after it (a model stopped there is checked, with a note that its dry run stopped).

``gradlint run`` gives the command ``--max-seconds`` (default: the timeout) to reach its first
optimizer step, and its worker that plus the timeout for checking the models (``command_timeouts``).

Memory: ``--memory-limit`` (GiB; by default 80% of the machine's memory shared among the
parallel workers, ``worker_memory_limit``) caps each worker's address space
(``apply_memory_limit``: an allocation past it fails in the worker, not the machine). Within that:

- a model gradlint builds itself is first sized on the meta device and built for real only when
  its probe fits the ``budget`` (``too_large_to_build`` in gradlint.models.sizing, which measures it);
- a built model is probed only when ``PROBE_MEMORY_FACTOR`` × its weights fit in 80% of the
  memory available (``too_large_to_probe``), and dry-run only when ``DRY_RUN_MEMORY_FACTOR`` ×
  its weights do (``too_large_to_train``).

This module imports neither torch nor anything that does: the runner reads it.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

    from gradlint.core.settings import Settings

# --- time -----------------------------------------------------------------------------------

DEFAULT_TIMEOUT = 300.0     # seconds: --timeout when neither the command line nor the config says
DRY_RUN_SHARE = 0.8         # of the model's time limit, for the dry run
# seconds past a model's own (soft) limit before the runner kills the worker: time for the alarm
# to be handled after the native call it fired in (one large convolution's backward) returns
HARD_LIMIT_GRACE = 10.0


class ModelTimeout(BaseException):
    """A model's check took longer than ``--timeout`` (raised by ``time_limit``). A BaseException:
    the model's forward, torch's tracers and gradlint's own ``except Exception`` (a probe that
    failed, inputs refused) must not take it for an error and go on past the limit."""


def worker_timeout(settings: Settings, model_stage: bool = False) -> float | None:
    """Seconds the runner waits for one stage of a file's worker (its import, building its models,
    then each model: gradlint.guard.progress) before killing it; None: no limit. A model's stage gets
    ``HARD_LIMIT_GRACE`` more, so that its soft limit in the worker (``time_limit``) comes first."""
    if not settings.model_timeout:
        return None
    return settings.model_timeout + (HARD_LIMIT_GRACE if model_stage else 0.0)


def model_deadline(started: float, settings: Settings) -> float | None:
    """``time.perf_counter()`` by which the dry run of a model whose check began at ``started``
    must end; None: no limit."""
    return started + DRY_RUN_SHARE * settings.model_timeout if settings.model_timeout else None


def command_timeouts(settings: Settings, max_seconds: float | None) -> tuple[float, float]:
    """``gradlint run``: seconds the command may take to reach its first optimizer step, and the
    worker's hard limit (reaching the step, then checking the models it trains)."""
    reach = max_seconds if max_seconds is not None else (settings.model_timeout or DEFAULT_TIMEOUT)
    return reach, reach + (settings.model_timeout or DEFAULT_TIMEOUT)


def timed_out_why(limit: float, step: str | None, seconds: float) -> str:
    """Why a model is not checked when it ran past its time limit: the step it was in and the
    seconds it took (the runner says the same after a kill)."""
    return (f"not checked: it ran past its {limit:g} s time limit{f' in {step}' if step else ''} "
            f"after {seconds:.0f} s; raise --timeout or make the model smaller for linting (the "
            "file's other models have their own time)")


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise ModelTimeout in this (main) thread after ``seconds``; the worker process has a hard
    limit as well, for code that never returns to the interpreter."""
    if not seconds or not hasattr(signal, "SIGALRM"):
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise ModelTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- memory ---------------------------------------------------------------------------------

# Share of the memory a worker, a probe or a dry run may take: the interpreter, torch and the
# graph need the rest.
USABLE_SHARE = 0.8
# The probe holds the weights, their gradients and the activations of one batch (and each
# activation's gradient): the weights count four times.
PROBE_MEMORY_FACTOR = 4
# the optimizer's state (two moments for Adam), and in process the copy's own weights and gradients
# (the worker trains the model itself: the factor is the in-process bound, kept for both)
DRY_RUN_MEMORY_FACTOR = PROBE_MEMORY_FACTOR + 3


def worker_memory_limit(settings: Settings, jobs: int) -> int | None:
    """Bytes of address space a worker may use: the configured GiB, or by default 80% of
    this machine's memory shared among the ``jobs`` parallel workers."""
    if settings.memory_limit is not None:
        return int(settings.memory_limit * 2**30) or None
    total = physical_memory()
    return int(USABLE_SHARE * total / jobs) if total else None


def apply_memory_limit(limit: int) -> None:
    """In the worker, before it runs user code: allocations past the limit fail (MemoryError,
    or torch's "can't allocate memory") instead of taking the machine down."""
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def available_memory() -> int | None:
    """Bytes the machine has available (MemAvailable), or None where it does not say."""
    return _status_field("/proc/meminfo", "MemAvailable")


def budget() -> int | None:
    """Bytes this process may still allocate: what the machine has available, and what the
    worker's address-space limit leaves. None when neither is known."""
    limits = []
    available = available_memory()
    if available is not None:
        limits.append(available)
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        limits.append(max(0, soft - (_status_field("/proc/self/status", "VmSize") or 0)))
    return int(USABLE_SHARE * min(limits)) if limits else None


def count(n: int) -> str:
    """A parameter count in words: 7.0 billion, 2.5 million, 4096."""
    for scale, word in ((1e9, "billion"), (1e6, "million")):
        if n >= scale:
            return f"{n / scale:.1f} {word}"
    return str(n)


def too_large_to_probe(model: nn.Module) -> str | None:
    """The note saying why a built model is not probed, or None when its probe fits."""
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    available = available_memory()
    needed = PROBE_MEMORY_FACTOR * weight_bytes
    if available is None or needed <= USABLE_SHARE * available:
        return None
    return (f"probe skipped: about {needed / 2**30:.1f} GiB needed ({PROBE_MEMORY_FACTOR}× the "
            f"weights), {available / 2**30:.1f} GiB available; findings are static estimates")


def too_large_to_train(model: nn.Module) -> str | None:
    """Why the dry run cannot train this model here, or None when it fits."""
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    available = available_memory()
    if available is None:
        return None
    needed = DRY_RUN_MEMORY_FACTOR * weight_bytes
    if needed <= USABLE_SHARE * available:
        return None
    return f"about {needed / 2**30:.1f} GiB needed to train it, {available / 2**30:.1f} GiB available"


def _status_field(path: str, key: str) -> int | None:
    try:
        with open(path) as lines:
            for line in lines:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None
