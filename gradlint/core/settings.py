"""The settings of one run: which rules, their options, and the probe's knobs."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Settings:
    select: tuple[str, ...] = ()          # code prefixes; empty: every rule
    ignore: tuple[str, ...] = ()
    probe: bool = True
    seed: int = 0
    batch_size: int = 8
    seq_len: int = 32                     # length of inferred sequence inputs
    input_std: float = 1.0                # standard deviation of generated floating inputs
    device: str = "cpu"                   # where the model is traced and probed
    model_timeout: float | None = 60.0    # seconds per model (the worker also has a hard limit)
    memory_limit: float | None = None     # GiB of address space per worker; None: 80% of RAM / jobs
    clipping: bool = False                # the project configures gradient clipping (found by the runner)
    project: dict[str, Any] | None = None  # the project's facts (ProjectFacts.to_dict), found by the runner
    optimizer: dict[str, Any] | None = None  # the optimizer stated in [tool.gradlint] (an OptimizerSetup's dict)
    flows: bool = False                   # record the gradient flow along the main path (--plot)
    rule_options: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def enabled(self, code: str) -> bool:
        """The longest matching prefix wins; a tie goes to ``select`` (as in ruff)."""
        selected = max((len(p) for p in self.select if code.startswith(p)), default=-1 if self.select else 0)
        ignored = max((len(p) for p in self.ignore if code.startswith(p)), default=-1)
        return selected >= 0 and selected >= ignored

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        data = dict(data)
        data["select"] = tuple(data.get("select", ()))
        data["ignore"] = tuple(data.get("ignore", ()))
        return cls(**data)
