"""``GradlintCallback`` for the Hugging Face ``Trainer``.

At ``on_train_begin`` (the optimizer and the train dataloader exist, no step has run) the
callback lints the Trainer's model with the first batch of the train dataloader, the Trainer's
optimizer and ``TrainingArguments.max_grad_norm`` (the Trainer clips at it; 0 or None: no
clipping), prints the findings on stderr, appends the numbers to the Trainer's log history
(``trainer.state.log_history``, saved in ``trainer_state.json``) and to the ``gradlint`` Python
logger, and with ``fail_on`` raises :class:`~gradlint.integrations.GradlintFailure` before the
first step::

    trainer = Trainer(model=model, args=args, train_dataset=data,
                      callbacks=[GradlintCallback(fail_on="error")])
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, TextIO

import torch
from transformers import TrainerCallback

from gradlint.integrations import (
    GradlintFailure,
    TrainingReport,
    caller_location,
    check_training,
    optimizer_setup,
)
from gradlint.models.sizing import moved_to

__all__ = ["GradlintCallback", "GradlintFailure"]

logger = logging.getLogger("gradlint")


class GradlintCallback(TrainerCallback):
    """Lint the Trainer's model before its first step.

    ``fail_on``: "info", "warning" or "error" to stop the run when a finding reaches that
    severity (None, the default: report only). ``select`` / ``ignore``: rule codes or prefixes.
    ``probe``: run the forward/backward probe (on a copy of nothing: the model is restored).
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

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, optimizer: Any = None,
                       lr_scheduler: Any = None, train_dataloader: Any = None, **kwargs: Any) -> None:
        if self.report is not None or model is None:
            return  # once per callback: a second train() call trains the model already checked
        batch = _first_batch(train_dataloader, model)
        max_norm = getattr(args, "max_grad_norm", None)
        clipped = bool(max_norm) and max_norm > 0
        setup = None
        if optimizer is not None:
            setup = optimizer_setup(
                optimizer, caller_location(), clip_norm=float(max_norm) if clipped else None,
                clipping_where=f"TrainingArguments(max_grad_norm={max_norm:g})" if clipped else None,
                scheduler=type(lr_scheduler).__name__ if lr_scheduler is not None else None,
                grad_scaler=bool(getattr(args, "fp16", False) or getattr(args, "bf16", False)))
        self.report = check_training(
            model, batch, setup, trainer="Trainer", select=self.select, ignore=self.ignore, probe=self.probe,
            fail_on=self.fail_on, stream=self.stream,
            inputs_from="the first batch of the Trainer's train dataloader" if batch is not None else None)
        state.log_history.append({**self.report.metrics, "step": state.global_step})
        logger.info("gradlint: %s", ", ".join(f"{k}={v:g}" for k, v in self.report.metrics.items()))


def _first_batch(dataloader: Any, model: Any) -> dict[str, Any] | None:
    """The first batch of the train dataloader, on the model's device, as forward's keyword
    arguments (the Trainer calls ``model(**batch)``)."""
    if dataloader is None:
        return None
    from gradlint.guard.model_state import untouched_random_states

    try:
        with untouched_random_states(getattr(dataloader, "base_dataloader", dataloader)):
            batch = next(iter(dataloader))
    except StopIteration:
        return None
    if not isinstance(batch, dict):
        return None
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    return moved_to(batch, device)
