"""Watch a training command up to its first optimizer step, then stop it without applying it.

``gradlint run -- python train.py ARGS`` runs the command's script in a worker as ``__main__``,
with its own arguments, under :func:`observing`: the network is closed, every optimizer built is
recorded with the line that built it, ``backward()`` runs for real, and the first optimizer
``step()`` raises :class:`FirstStep` before it changes a weight. By then the script has shown
everything gradlint needs, observed rather than read from the source:

* the models: every module whose parameters an optimizer holds, and the first inputs each one
  received (the batch the script built from its own data and arguments);
* each optimizer's class and hyperparameters (``param_groups[0]``: ``lr`` as the first step would
  use it, after a warm-up scheduler set it), a ``GradScaler`` or ``autocast`` if one was used;
* whether gradient clipping was *called* between the last ``backward()`` and that step
  (``clip_grad_norm_``, ``clip_grad_value_``, ``clip_grads_with_norm_``: Lightning, Accelerate and
  the Hugging Face Trainer call these too).

Each model is then linted with its inputs, and carries an :class:`~gradlint.core.training.OptimizerSetup`
with ``origin="observed"`` (``ModelSpec.training``) to the rules.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import signal
import socket
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook
from torch.overrides import TorchFunctionMode

from gradlint.core.findings import Location, display_path
from gradlint.core.frames import caller_location, user_location
from gradlint.core.training import OptimizerSetup
from gradlint.guard.intercept import detached, at_work, blocking


class FirstStep(BaseException):
    """The command reached its first optimizer step; raised before the step, to stop it there."""


class ManualUpdate(FirstStep):
    """The command was about to change a parameter without an optimizer (a hand-written SGD step:
    ``p.data.add_(p.grad, alpha=-lr)``, ``p -= lr * p.grad``), or to run its model a second time
    after a backward() with no optimizer to step; raised before it did."""


# in-place tensor methods that do not change a value (the rest, ``add_``, ``copy_``, ``__isub__``,
# change the tensor they are called on)
_NOT_UPDATES = frozenset({"requires_grad_", "share_memory_", "retain_grad", "record_stream"})
_IN_PLACE_OPERATORS = frozenset({"__iadd__", "__isub__", "__imul__", "__itruediv__", "__idiv__",
                                 "__ifloordiv__", "__ipow__", "__imod__", "__iand__", "__ior__", "__ixor__"})


class _ParameterGuard(TorchFunctionMode):
    """After the first backward(): stops any in-place change of a parameter's storage (through
    ``p``, ``p.data`` or a view), before it is applied."""

    def __init__(self, seen: Observation, storages: dict[int, nn.Module]) -> None:
        super().__init__()
        self.seen = seen
        self.storages = storages

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        name = getattr(func, "__name__", "")
        if (args and isinstance(args[0], torch.Tensor) and not at_work()
                and (name in _IN_PLACE_OPERATORS
                     or name.endswith("_") and not name.startswith("_") and name not in _NOT_UPDATES)):
            try:
                storage = args[0].untyped_storage().data_ptr()
            except (RuntimeError, NotImplementedError):
                storage = None
            if storage in self.storages:
                self.seen.updated = self.storages[storage]
                where = caller_location()
                self.seen.step_where = f"{where.path}:{where.line}" if where else "an unknown line"
                raise ManualUpdate(f"an in-place change of a parameter of `{type(self.storages[storage]).__name__}` "
                                   f"(`{name}`) with no optimizer")
        return func(*args, **(kwargs or {}))


class OutOfTime(BaseException):
    """The command did not reach its first optimizer step within ``--max-seconds``."""


@dataclasses.dataclass
class SeenOptimizer:
    optimizer: torch.optim.Optimizer
    location: Location | None


@dataclasses.dataclass
class Observation:
    """What the command showed before it was stopped."""

    optimizers: list[SeenOptimizer] = dataclasses.field(default_factory=list)
    calls: dict[int, tuple[nn.Module, tuple, dict, str]] = dataclasses.field(default_factory=dict)
    backwards: int = 0
    clip_norm: float | None = None       # the last clip_grad_norm_ call after the last backward()
    clip_value: float | None = None
    clipped_after_backward: bool = False
    stepped: torch.optim.Optimizer | None = None
    step_where: str | None = None
    grad_scaler: bool = False
    autocast: bool = False
    depth: int = 0
    updated: nn.Module | None = None      # the model a hand-written update was about to change

    def setup_of(self, seen: SeenOptimizer) -> OptimizerSetup:
        """The observed setup of one optimizer (clipping as observed before the first step)."""
        optimizer = seen.optimizer
        clipped = self.clipped_after_backward and optimizer is self.stepped
        name, hyper = describe_optimizer(optimizer)
        return OptimizerSetup(
            name=name, hyperparameters=hyper, origin="observed", location=seen.location,
            clip_norm=self.clip_norm if clipped else None, clip_value=self.clip_value if clipped else None,
            clipping_where="observed" if clipped else None,
            grad_scaler=self.grad_scaler or self.autocast)


def describe_optimizer(optimizer: Any) -> tuple[str, dict[str, Any]]:
    """The optimizer's name (``torch.optim`` class name, else qualified) and the numbers of its
    first parameter group. A trainer's wrapper (Accelerate's AcceleratedOptimizer, Lightning's
    LightningOptimizer) is looked through to the optimizer it wraps."""
    for _ in range(3):
        inner = getattr(optimizer, "optimizer", None) or getattr(optimizer, "_optimizer", None)
        if not isinstance(inner, torch.optim.Optimizer) or inner is optimizer:
            break
        optimizer = inner
    group = optimizer.param_groups[0] if optimizer.param_groups else {}
    hyper = {k: _plain(v) for k, v in group.items() if k != "params" and _plain(v) is not None}
    cls = type(optimizer)
    name = cls.__name__ if cls.__module__.startswith("torch.optim") else f"{cls.__module__}.{cls.__qualname__}"
    return name, hyper


def _plain(value: Any) -> Any:
    """A hyperparameter as a JSON-friendly value (numbers, booleans, tuples of numbers)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tuple, list)) and all(isinstance(v, (int, float)) for v in value):
        return tuple(value)
    return None


_INHERITED = object()
_CLIP_FUNCTIONS = ("clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "clip_grad_norm")


@contextlib.contextmanager
def observing(max_seconds: float | None = None) -> Iterator[Observation]:
    """Inside the block: optimizers and first module calls recorded, clipping calls observed,
    the network closed, and the first optimizer step stopped (FirstStep) before it runs."""
    seen = Observation()
    patches: list[tuple[Any, str, Any]] = []

    def patch(owner: Any, name: str, replacement: Any) -> None:
        # a class's own attribute is put back; an inherited one (socket.connect) is deleted again
        own = owner.__dict__.get(name, _INHERITED) if isinstance(owner, type) else getattr(owner, name)
        patches.append((owner, name, own))
        setattr(owner, name, replacement)

    original_call = nn.Module.__call__
    original_init = torch.optim.Optimizer.__init__
    original_backward = torch.autograd.backward

    def call(module: nn.Module, *args: Any, **kwargs: Any) -> Any:
        if at_work():
            return original_call(module, *args, **kwargs)
        if seen.depth == 0 and seen.backwards and id(module) in seen.calls and not _owned(module):
            # no optimizer trains it, and it is run again after a backward(): a loop whose
            # update gradlint did not see (p.data = p.data - lr * p.grad)
            seen.updated = module
            where = user_location()
            seen.step_where = f"{display_path(where.path)}:{where.line}" if where else "an unknown line"
            raise ManualUpdate(f"a second forward of `{type(module).__name__}` after a backward() with no "
                               "optimizer step")
        if seen.depth == 0 and id(module) not in seen.calls:
            where = user_location()
            shown = f"{display_path(where.path)}:{where.line}" if where else "an unknown line"
            seen.calls[id(module)] = (module, detached(args), detached(kwargs), shown)
        seen.depth += 1
        try:
            return original_call(module, *args, **kwargs)
        finally:
            seen.depth -= 1

    def init(optimizer: torch.optim.Optimizer, *args: Any, **kwargs: Any) -> None:
        original_init(optimizer, *args, **kwargs)
        if not at_work() and not any(s.optimizer is optimizer for s in seen.optimizers):
            # the user's line, not a trainer's (a Trainer builds its optimizer in the library)
            seen.optimizers.append(SeenOptimizer(optimizer, caller_location()))

    def _owned(module: nn.Module) -> bool:
        params = {id(p) for p in module.parameters()}
        return any(params & {id(p) for g in s.optimizer.param_groups for p in g["params"]} for s in seen.optimizers)

    guards: list[_ParameterGuard] = []

    def backward(*args: Any, **kwargs: Any) -> None:
        if at_work():
            return original_backward(*args, **kwargs)
        seen.backwards += 1
        seen.clipped_after_backward = False
        done = original_backward(*args, **kwargs)
        if not guards:   # from now on a parameter changed in place is a training step
            storages = {p.untyped_storage().data_ptr(): _unwrapped(module)
                        for module, *_ in seen.calls.values() for p in module.parameters()}
            guards.append(_ParameterGuard(seen, storages))
            guards[0].__enter__()
        return done

    def step_hook(optimizer: Any, args: Any, kwargs: Any) -> Any:
        if at_work():
            return None
        seen.stepped = optimizer
        where = caller_location()
        seen.step_where = f"{where.path}:{where.line}" if where else "an unknown line"
        stop = FirstStep(f"{type(optimizer).__name__}.step()")
        # the hook's args start with the optimizer itself: step(closure) puts the closure second
        closure = kwargs.get("closure", args[1] if len(args) > 1 else None)
        if not callable(closure):
            raise stop
        # step(closure), as Lightning steps: the closure runs the forward, backward() and the
        # clipping inside step(); let it, then stop before the optimizer changes a weight
        def closure_then_stop() -> Any:
            closure()
            raise stop

        if "closure" in kwargs:
            return args, {**kwargs, "closure": closure_then_stop}
        return (args[0], closure_then_stop, *args[2:]), kwargs

    def clipping(function: Any, which: str) -> Any:
        def clip(*args: Any, **kwargs: Any) -> Any:
            amount = _plain(kwargs.get("max_norm", kwargs.get("clip_value", args[1] if len(args) > 1 else None)))
            # max_norm=inf only measures the norm (the Hugging Face Trainer logs it that way)
            measuring = isinstance(amount, (int, float)) and not math.isfinite(amount)
            if seen.backwards and not measuring and not at_work():
                seen.clipped_after_backward = True
                if isinstance(amount, (int, float)):
                    if which == "clip_grad_value_":
                        seen.clip_value = float(amount)
                    else:
                        seen.clip_norm = float(amount)
            return function(*args, **kwargs)
        clip.__wrapped__ = function  # type: ignore[attr-defined]
        return clip

    def scaler_init(original: Any) -> Any:
        def init_scaler(scaler: Any, *args: Any, **kwargs: Any) -> None:
            original(scaler, *args, **kwargs)
            seen.grad_scaler = seen.grad_scaler or bool(getattr(scaler, "_enabled", True))
        return init_scaler

    def autocast_enter(original: Any) -> Any:
        def enter(self: Any) -> Any:
            seen.autocast = seen.autocast or bool(getattr(self, "_enabled", True))
            return original(self)
        return enter

    def out_of_time(signum: int, frame: Any) -> None:
        raise OutOfTime()

    patch(nn.Module, "__call__", call)
    patch(torch.optim.Optimizer, "__init__", init)
    patch(torch.autograd, "backward", backward)
    import torch.nn.utils.clip_grad as clip_module
    for module in (torch.nn.utils, clip_module):
        for name in _CLIP_FUNCTIONS:
            if hasattr(module, name):
                patch(module, name, clipping(getattr(module, name), name))
    patch(torch.amp.GradScaler, "__init__", scaler_init(torch.amp.GradScaler.__init__))
    patch(torch.amp.autocast_mode.autocast, "__enter__", autocast_enter(torch.amp.autocast_mode.autocast.__enter__))
    for owner, name in ((socket.socket, "connect"), (socket.socket, "connect_ex"),
                        (socket, "create_connection"), (socket, "getaddrinfo")):
        patch(owner, name, blocking(getattr(owner, name)))
    handle = register_optimizer_step_pre_hook(step_hook)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    previous_alarm = None
    if max_seconds and hasattr(signal, "SIGALRM"):
        previous_alarm = signal.signal(signal.SIGALRM, out_of_time)
        signal.setitimer(signal.ITIMER_REAL, max_seconds)
    try:
        yield seen
    finally:
        for guard in guards:
            guard.__exit__(None, None, None)
        if previous_alarm is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous_alarm)
        handle.remove()
        for owner, name, value in reversed(patches):
            if value is _INHERITED:
                delattr(owner, name)
            else:
                setattr(owner, name, value)


def run_command(argv: list[str]) -> tuple[Path, dict[str, Any], BaseException | None]:
    """Run ``python script.py ARGS`` / ``python -m module ARGS`` / ``script.py ARGS`` as
    ``__main__`` in this process: the script's path, its globals as far as it got, and the
    exception that ended it (None when it ran to its end)."""
    script, args, package = _script_of(argv)
    source = script.read_text(encoding="utf-8")
    code = compile(source, str(script), "exec", dont_inherit=True)
    main = types.ModuleType("__main__")
    main.__file__ = str(script)
    main.__package__ = package
    main.__builtins__ = __builtins__  # type: ignore[attr-defined]
    saved_argv = sys.argv
    sys.argv = [str(script), *args]
    # stays the __main__ module afterwards: the script's classes are `__main__.Net`, and
    # inspect finds their source (the fallback location of a finding) through sys.modules
    sys.modules["__main__"] = main
    sys.path.insert(0, os.getcwd() if package is not None else str(script.parent))
    try:
        exec(code, main.__dict__)  # noqa: S102 - running the user's command is the point
    except BaseException as exc:  # noqa: BLE001 - stopped at the step, or failed, or exited
        return script, main.__dict__, exc
    finally:
        sys.argv = saved_argv
    return script, main.__dict__, None


class CommandError(Exception):
    """The command line is not one gradlint can run; the message is one line for the user."""


def _script_of(argv: list[str]) -> tuple[Path, list[str], str | None]:
    """The script a command runs, its arguments, and its package (``-m``) or None."""
    words = list(argv)
    if words and (Path(words[0]).name.startswith("python") or words[0] == sys.executable):
        words = words[1:]
        while words and words[0].startswith("-") and words[0] not in ("-m",):
            words = words[1:]  # python's own flags (-u, -O, -W...): they change nothing here
    if not words:
        raise CommandError("no script to run: write `gradlint run -- python train.py ARGS`")
    if words[0] == "-m":
        if len(words) < 2:
            raise CommandError("`-m` needs a module name")
        import importlib.util

        sys.path.insert(0, os.getcwd())
        try:
            spec = importlib.util.find_spec(words[1])
        except (ImportError, ValueError) as exc:
            raise CommandError(f"cannot find module {words[1]}: {exc}") from None
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            raise CommandError(f"cannot find a Python source for module {words[1]}")
        if spec.submodule_search_locations is not None:  # a package: run its __main__
            spec = importlib.util.find_spec(f"{words[1]}.__main__")
            if spec is None or not spec.origin:
                raise CommandError(f"package {words[1]} has no __main__ module")
        package = spec.name.rpartition(".")[0]
        return Path(spec.origin), words[2:], package
    script = Path(words[0])
    if not script.is_file():
        raise CommandError(f"{words[0]}: no such script (gradlint runs Python scripts: "
                           "`gradlint run -- python train.py ARGS`)")
    return script.resolve(), words[1:], None


def models_in(seen: Observation, namespace: dict[str, Any]) -> list[tuple[str, nn.Module, tuple, dict, str,
                                                                       SeenOptimizer]]:
    """Every module called at the top level whose parameters an optimizer holds (the outermost
    of nested ones), with its first call, named by the script's variable or its class."""
    chosen = []
    for module, args, kwargs, where in seen.calls.values():
        module = _unwrapped(module)
        params = {id(p) for p in module.parameters()}
        if not params:
            continue
        owner = next((s for s in seen.optimizers
                      if params & {id(p) for g in s.optimizer.param_groups for p in g["params"]}), None)
        if owner is not None or seen.updated is not None and (
                module is seen.updated or any(m is seen.updated for m in module.modules())):
            chosen.append((module, args, kwargs, where, owner))
    inner = {id(sub) for module, *_ in chosen for sub in list(module.modules())[1:]}
    names = {id(v): k for k, v in namespace.items() if isinstance(v, nn.Module) and not k.startswith("_")}
    out = []
    taken: set[str] = set()
    for module, args, kwargs, where, owner in chosen:
        if id(module) in inner:
            continue
        name = names.get(id(module), type(module).__name__)
        while name in taken:
            name += "_"
        taken.add(name)
        out.append((name, module, args, kwargs, where, owner))
    return out


def lint_command(argv: list[str], settings: Any, max_seconds: float | None) -> Any:
    """What the worker does for ``gradlint run``: run the command up to its first optimizer
    step, then lint every model an optimizer trains, with its first batch and its observed
    optimizer setup. Returns the FileResult of the command's script."""
    from gradlint.check.engine import first_rows, internal_error
    from gradlint.core.findings import FileResult, Note, Problem
    from gradlint.core.frames import describe_exception
    from gradlint.models.load import ModelSpec, bind_call

    shown = " ".join(argv)
    try:
        script = _script_of(argv)[0]
    except CommandError as exc:
        return FileResult(shown, problems=[Problem(shown, str(exc))])
    shown = display_path(str(script))
    result = FileResult(shown)
    try:
        with observing(max_seconds) as seen:
            _, namespace, ended = run_command(argv)
    except CommandError as exc:
        result.problems.append(Problem(shown, str(exc)))
        return result
    if isinstance(ended, KeyboardInterrupt):
        raise ended
    found = models_in(seen, {**namespace, **_locals_at(ended)})
    if isinstance(ended, ManualUpdate):
        result.notes.append(Note(shown, f"stopped the command before its first parameter update ({ended} at "
                                        f"{seen.step_where}), before it was applied; "
                                        f"{_plural(len(found), 'model')} it trains checked"))
    elif isinstance(ended, FirstStep):
        result.notes.append(Note(shown, f"stopped the command at its first optimizer step ({ended} at "
                                        f"{seen.step_where}), before the step was applied; "
                                        f"{_plural(len(found), 'model')} trained by an optimizer checked"))
    elif not found:
        if isinstance(ended, OutOfTime):
            why = (f"did not reach its first optimizer step within --max-seconds {max_seconds:g}; raise "
                   "--max-seconds (slow data loading) or make the run smaller for linting")
        elif ended is None or (isinstance(ended, SystemExit) and ended.code in (None, 0)):
            why = ("ended without an optimizer step, so no model was seen training; run the command "
                   "that trains (gradlint stops it at the first step)")
        elif isinstance(ended, SystemExit):
            why = f"exited with sys.exit({ended.code!r}) before its first optimizer step"
        else:
            why = f"raised {describe_exception(ended)} before its first optimizer step"
        result.problems.append(Problem(shown, f"the command {why}"))
        return result
    else:
        what = ("ran out of --max-seconds" if isinstance(ended, OutOfTime)
                else "ended" if ended is None else f"stopped ({describe_exception(ended)})")
        result.notes.append(Note(shown, f"the command {what} before its first optimizer step; the models "
                                        "it had called checked, without an observed clipping"))
    for name, model, args, kwargs, where, owner in found:
        source = _class_file(type(model))
        if source is None or type(model).__module__.split(".")[0] == "torch":
            from gradlint.models.load import assignment_lines

            source = str(script)  # an nn.Sequential the script built: point where it assigns it
            called = where.rpartition(":")[2]
            line = assignment_lines(script).get(name) or (int(called) if called.isdigit() else 1)
        else:
            line = _class_line(type(model))
        spec = ModelSpec(name, model, None, line, built_from=f"the command's own `{name}` ({type(model).__name__})",
                         training=seen.setup_of(owner) if isinstance(ended, FirstStep) and owner else None)
        try:
            spec.inputs, rows = first_rows(bind_call(model, args, kwargs), settings.batch_size)
            spec.inputs_from = f"the command's first batch at {where}" + rows
        except TypeError:
            pass
        try:
            lint_specs([spec], Path(source), settings, result)
        except Exception as exc:  # noqa: BLE001 - gradlint's own failure
            result.problems.append(Problem(shown, internal_error(f"checking `{name}`", exc), name))
    from gradlint.core.findings import Finding

    result.findings.sort(key=Finding.sort_key)
    return result


def lint_specs(specs: list[Any], path: Path, settings: Any, result: Any, what: str | None = None) -> None:
    """Check models in-process (the engine's per-model check), then what was observed about
    their training (GL501 from an observed OptimizerSetup, ``spec.training``; ``what`` says
    what was seen, for a trainer's callback that sees the setup before any step)."""
    from gradlint.check.engine import check_spec

    for spec in specs:
        check_spec(spec, path, settings, result)
        result.findings.extend(observed_training_findings(spec, settings, what))


def observed_training_findings(spec: Any, settings: Any, what: str | None = None) -> list[Any]:
    """GL501 from an observed setup: an optimizer that stepped with no clipping called."""
    setup = spec.training
    if setup is None or setup.origin != "observed" or not settings.enabled("GL501"):
        return []
    from gradlint.rules import RULES_BY_CODE

    rule = RULES_BY_CODE["GL501"](settings.rule_options.get("GL501"))
    recurrent = spec.model is not None and any(isinstance(m, (nn.RNN, nn.RNNCell)) for m in spec.model.modules())
    finding = rule.check_observed(setup, spec.name, recurrent, **({"what": what} if what else {}))
    return [finding] if finding is not None else []


def _class_line(cls: type) -> int:
    import inspect

    try:
        return inspect.getsourcelines(cls)[1]
    except (TypeError, OSError):
        return 1


def _class_file(cls: type) -> str | None:
    import inspect

    try:
        return inspect.getsourcefile(cls)
    except TypeError:
        return None


def _plural(count: int, word: str) -> str:
    return f"1 {word}" if count == 1 else f"{count} {word}s"


def _unwrapped(module: nn.Module) -> nn.Module:
    """The model inside a wrapper that only runs it: ``torch.compile``'s OptimizedModule,
    DistributedDataParallel / DataParallel (the call's arguments are the model's)."""
    for _ in range(3):
        inner = module.__dict__.get("_orig_mod") or (
            module._modules.get("module") if type(module).__name__ in ("DistributedDataParallel", "DataParallel")
            else None)
        if not isinstance(inner, nn.Module):
            break
        module = inner
    return module


def _locals_at(ended: BaseException | None) -> dict[str, Any]:
    """The names bound in the command's own frames where it stopped (``model`` inside
    ``main()``), innermost last, so a model is named as the script names it."""
    names: dict[str, Any] = {}
    tb = ended.__traceback__ if ended is not None else None
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in frames:
        if user_location(frame) is not None and user_location(frame).path == frame.f_code.co_filename:
            names.update({k: v for k, v in frame.f_locals.items() if isinstance(v, nn.Module)})
    return names
