"""``GradlintCallback`` for Lightning ≥ 2 (``lightning`` or ``pytorch_lightning``).

At fit start — once the optimizers are configured and the train dataloader is set up, before
the first batch — the callback lints the LightningModule with the first training batch (the
inputs its ``training_step`` passes to ``forward``), the configured optimizer and the Trainer's
``gradient_clip_val``; prints the findings on stderr, logs the numbers to the Trainer's loggers
(``gradlint/findings``, ``gradlint/errors`` ...), and with ``fail_on`` raises
:class:`~gradlint.integrations.GradlintFailure` before the first step::

    trainer = L.Trainer(max_epochs=10, gradient_clip_val=1.0, callbacks=[GradlintCallback(fail_on="error")])
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TextIO

import torch

try:
    from lightning.pytorch import Callback
except ImportError:  # the standalone package
    from pytorch_lightning import Callback

from gradlint.core.findings import Location, display_path
from gradlint.guard.model_state import untouched_random_states
from gradlint.integrations import GradlintFailure, TrainingReport, check_training, optimizer_setup

__all__ = ["GradlintCallback", "GradlintFailure"]


class _Captured(BaseException):
    """The first forward call of the module, caught before it computes anything."""

    def __init__(self, args: tuple, kwargs: dict) -> None:
        super().__init__()
        self.args, self.kwargs = args, kwargs


class GradlintCallback(Callback):
    """Lint the LightningModule before its first training step.

    ``fail_on``: "info", "warning" or "error" to stop the run when a finding reaches that
    severity (None, the default: report only). ``select`` / ``ignore``: rule codes or prefixes.
    After the check, ``report`` holds the findings and the logged numbers.
    """

    def __init__(self, fail_on: str | None = None, *, select: Iterable[str] | None = None,
                 ignore: Iterable[str] | None = None, probe: bool = True, stream: TextIO | None = None) -> None:
        self.fail_on = fail_on
        self.select = tuple(select) if select else None
        self.ignore = tuple(ignore) if ignore else None
        self.probe = probe
        self.stream = stream
        self.report: TrainingReport | None = None
        self._built_at: dict[int, Location] = {}
        self._restore: Any = None

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        """Before ``configure_optimizers`` runs: note the line that builds each optimizer."""
        if stage != "fit" or self._restore is not None:
            return
        from gradlint.integrations import caller_location

        original = torch.optim.Optimizer.__init__
        built_at = self._built_at

        def init(optimizer: Any, *args: Any, **kwargs: Any) -> None:
            original(optimizer, *args, **kwargs)
            where = caller_location()
            if where is not None:
                built_at.setdefault(id(optimizer), where)

        torch.optim.Optimizer.__init__ = init  # type: ignore[method-assign]
        self._restore = original

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        self._unpatch()

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self._unpatch()
        if self.report is not None:
            return
        parts = None
        with untouched_random_states(_train_loader(trainer)):   # a seeded run stays bit-identical
            batch = _first_batch(trainer, pl_module)
            inputs, how = _forward_inputs(pl_module, batch) if batch is not None else (None, None)
            if inputs is None and batch is not None and not _has_forward(pl_module):
                parts = _called_parts(pl_module, batch) or None
        setup = None
        if trainer.optimizers:
            optimizer = trainer.optimizers[0]
            inner = getattr(optimizer, "_optimizer", optimizer)
            clip = trainer.gradient_clip_val
            algorithm = str(getattr(trainer, "gradient_clip_algorithm", None) or "norm").lower()
            clipped = clip is not None and float(clip) > 0
            setup = optimizer_setup(
                inner, self._built_at.get(id(inner)) or _configure_optimizers_at(pl_module),
                clip_norm=float(clip) if clipped and "value" not in algorithm else None,
                clip_value=float(clip) if clipped and "value" in algorithm else None,
                clipping_where=f"Trainer(gradient_clip_val={float(clip):g})" if clipped else None,
                scheduler=type(trainer.lr_scheduler_configs[0].scheduler).__name__
                if getattr(trainer, "lr_scheduler_configs", None) else None,
                grad_scaler=any(p in str(trainer.precision) for p in ("16-mixed", "bf16-mixed")))
        self.report = check_training(
            pl_module, inputs, setup, trainer="Lightning Trainer", select=self.select, ignore=self.ignore,
            probe=self.probe, fail_on=self.fail_on, stream=self.stream, inputs_from=how, parts=parts)
        for logger in trainer.loggers:
            logger.log_metrics(self.report.metrics, step=trainer.global_step)

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        self._unpatch()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self._unpatch()

    def _unpatch(self) -> None:
        if self._restore is not None:
            torch.optim.Optimizer.__init__ = self._restore  # type: ignore[method-assign]
            self._restore = None


def _train_loader(trainer: Any) -> Any:
    loader = trainer.train_dataloader
    loaders = getattr(loader, "flattened", None)  # a CombinedLoader: its first dataloader
    return loaders[0] if loaders else loader


def _first_batch(trainer: Any, pl_module: Any) -> Any:
    """The first batch of the train dataloader (a fresh iterator over it), on the module's device."""
    loader = _train_loader(trainer)
    if loader is None:
        return None
    try:
        batch = next(iter(loader))
    except (StopIteration, TypeError):
        return None
    return pl_module.transfer_batch_to_device(batch, pl_module.device, 0)


def _forward_inputs(pl_module: Any, batch: Any) -> tuple[Any, str | None]:
    """What ``training_step`` passes to ``forward`` for this batch: its first call of the module,
    caught by a pre-hook before forward computes anything (so nothing is logged or trained)."""
    def capture(module: Any, args: tuple, kwargs: dict) -> None:
        raise _Captured(args, kwargs)

    handle = pl_module.register_forward_pre_hook(capture, with_kwargs=True)
    try:
        with torch.no_grad():
            pl_module.training_step(batch, 0)
    except _Captured as captured:
        inputs = dict(captured.kwargs) if captured.kwargs and not captured.args else \
            captured.args if not captured.kwargs else None
        if inputs is None:
            from gradlint.models.load import bind_call

            inputs = bind_call(pl_module, captured.args, captured.kwargs)
        return inputs, "the first training batch, as training_step passes it to forward()"
    except Exception:  # noqa: BLE001 - training_step may need the loop's state: infer inputs instead
        return None, None
    finally:
        handle.remove()
    return None, None  # training_step never calls forward(): gradlint infers the inputs


def _has_forward(pl_module: Any) -> bool:
    """Whether the module's class defines forward() (Lightning's own base forward does nothing)."""
    return any("forward" in vars(cls) for cls in type(pl_module).__mro__
               if cls.__module__.split(".")[0] not in ("lightning", "pytorch_lightning", "torch"))


def _called_parts(pl_module: Any, batch: Any) -> list[tuple[str, Any, Any]]:
    """A LightningModule without forward(): the submodules its training_step calls (Lightning's
    autoencoder: ``self.encoder``, then ``self.decoder``), each with the inputs it was given on
    the first batch. The step runs once without gradients on the module, which is put back as it
    was (its batch norms' statistics included); nothing is logged or trained."""
    from gradlint.guard.intercept import detached
    from gradlint.guard.model_state import preserved

    calls: dict[str, tuple[Any, tuple, dict]] = {}
    handles = []
    for name, child in pl_module.named_children():
        if not any(True for _ in child.parameters()):
            continue   # a loss or an activation is no model

        def record(module: Any, args: tuple, kwargs: dict, name: str = name) -> None:
            calls.setdefault(name, (module, detached(args), detached(kwargs)))

        handles.append(child.register_forward_pre_hook(record, with_kwargs=True))
    try:
        with preserved(pl_module), torch.no_grad():
            pl_module.training_step(batch, 0)
    except Exception:  # noqa: BLE001 - self.log outside the loop may raise: the calls before it count
        pass
    finally:
        for handle in handles:
            handle.remove()
    parts = []
    for name, (module, args, kwargs) in calls.items():
        from gradlint.models.load import bind_call

        try:
            parts.append((name, module, bind_call(module, args, kwargs)))
        except TypeError:
            parts.append((name, module, None))
    return parts


def _configure_optimizers_at(pl_module: Any) -> Location | None:
    import inspect

    try:
        method = type(pl_module).configure_optimizers
        return Location(display_path(inspect.getsourcefile(method) or ""), inspect.getsourcelines(method)[1], 5)
    except (TypeError, OSError, AttributeError):
        return None
