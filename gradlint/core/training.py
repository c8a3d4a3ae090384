"""How a model will be trained: the optimizer, its hyperparameters and gradient clipping.

One immutable value, whichever way gradlint learned it: found in the project's source (the
optimizer construction and its arguments, resolved like constructor arguments), observed while a
training command ran up to its first optimizer step (``gradlint run``, notebooks, trainer
callbacks), or stated by the user in ``[tool.gradlint]``. Rules read it (GL501 clipping, the
dry run at the configured learning rate); nothing writes to it after it is made.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

from gradlint.core.findings import Location

Origin = Literal["source", "observed", "config"]


@dataclasses.dataclass(frozen=True)
class OptimizerSetup:
    """One optimizer as configured for a model.

    ``name`` is the ``torch.optim`` class name (``"SGD"``, ``"AdamW"``) or the qualified name of a
    third-party optimizer; ``hyperparameters`` holds the first parameter group's numeric settings
    (``lr``, ``momentum``, ``betas``, ``weight_decay``, ``eps``, ``nesterov`` ...). ``lr`` is the
    learning rate of the first steps: a warm-up scheduler's starting value when one was found.
    """

    name: str
    hyperparameters: Mapping[str, Any]
    origin: Origin
    location: Location | None = None      # where the optimizer is constructed, when known
    clip_norm: float | None = None        # clip_grad_norm_'s max_norm (or a trainer's max_grad_norm)
    clip_value: float | None = None       # clip_grad_value_'s clip_value
    clipping_where: str | None = None     # `path:line` (source) or "observed" where clipping was seen
    scheduler: str | None = None          # a warm-up scheduler's class name, when one was found
    grad_scaler: bool = False             # a GradScaler / autocast was seen

    @property
    def lr(self) -> float | None:
        value = self.hyperparameters.get("lr")
        return float(value) if isinstance(value, (int, float)) else None

    @property
    def clipped(self) -> bool:
        return self.clip_norm is not None or self.clip_value is not None or self.clipping_where is not None
