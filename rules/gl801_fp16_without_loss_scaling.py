from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from gradlint.findings import Finding, Severity
from gradlint.rule import MEASURED, NOT_MEASURED, ModelContext, Rule, verdict

if TYPE_CHECKING:
    import torch

    from gradlint.project_facts import Fp16Site

# IEEE 754 binary16: the smallest positive subnormal (2^-24) and the smallest normal (2^-14)
FLOAT16_SUBNORMAL = 2.0 ** -24
FLOAT16_NORMAL = 2.0 ** -14


class Fp16WithoutLossScaling(Rule):
    """
    ## What it does
    Flags training code that runs in float16 while no loss scaler exists anywhere in the project:
    a `torch.autocast(device_type="cuda", dtype=torch.float16)` (or `torch.autocast("cuda")`,
    whose default dtype on CUDA is float16), `torch.cuda.amp.autocast()` (float16 by default), a
    model converted with `.half()` or `.to(torch.float16)`, or Lightning's
    `Trainer(precision="16-true")`, with no `torch.amp.GradScaler` / `torch.cuda.amp.GradScaler`
    (FSDP's `ShardedGradScaler`, apex's `amp.initialize`) built in any file of the project. The
    finding points at the float16 setting and names the model it trains: the model defined in that
    file, the model its conversion names (`model = Net().half()`), or the model whose optimizer is
    built in that file.

    Not flagged: bfloat16 (`dtype=torch.bfloat16`, CPU autocast, Lightning `"bf16-mixed"`, HF
    `bf16=True`), which has float32's exponent range; trainers that scale the loss themselves
    (Lightning `precision="16-mixed"` / `16` / `"16"`, Hugging Face `TrainingArguments(fp16=True)`,
    Accelerate `mixed_precision="fp16"`, DeepSpeed's `fp16` with its dynamic loss scale); an
    autocast with `enabled=False`; `.half()` on tensors that are not models.

    The probe then measures what float16 would do to this model's gradients: one backward pass in
    float32 (on a copy of the model, with the probe's inputs and the dry run's loss: cross-entropy
    over seeded random classes for logits, MSE otherwise, the model's own loss when it returns
    one), and each parameter-gradient value cast to float16 exactly as the training's float16
    gradients would hold it. It reports the share of the nonzero values that become zero (below
    half the smallest subnormal, 2^-25 ≈ 3.0e-8) and the share that become subnormal (below the
    smallest normal, 2^-14 ≈ 6.1e-5, where float16 keeps fewer than 10 significant bits). This is
    a lower bound: under autocast the activation gradients flowing back through float16 layers
    underflow too, and gradients shrink as the loss falls during training. The severity stays a
    warning whatever the share: the measurement is evidence, taken at initialization.

    ## Why is this bad?
    float16 represents magnitudes down to 6.0e-8 only; gradient values below it round to zero, a
    vanishing gradient that only the number format causes. Micikevicius et al. (2018) show
    networks whose activation gradients lie largely below float16's range (their Multibox SSD
    detector does not train in float16 without loss scaling), and that scaling the loss before
    `backward()` (and unscaling before the step) recovers float32 accuracy across image,
    speech and language models.
    `torch.amp.GradScaler` does this with a dynamic scale. bfloat16 keeps float32's 8-bit
    exponent and needs no scaling.

    ## Example
    ```python
    with torch.autocast(device_type="cuda", dtype=torch.float16):
        loss = criterion(model(images), labels)
    loss.backward()
    optimizer.step()
    ```

    Use instead:
    ```python
    scaler = torch.amp.GradScaler("cuda")
    with torch.autocast(device_type="cuda", dtype=torch.float16):
        loss = criterion(model(images), labels)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    ```
    (or `dtype=torch.bfloat16` on hardware that supports it).

    ## Options
    None. The limits are float16's own (IEEE 754 binary16): the smallest subnormal 2^-24 ≈ 6.0e-8
    (half of it rounds to zero) and the smallest normal 2^-14 ≈ 6.1e-5.

    ## References
    - Micikevicius et al. 2018, "Mixed Precision Training" (ICLR): float16 gradient underflow,
      loss scaling, float32 master weights.
    - PyTorch "Automatic Mixed Precision" recipe (`torch.amp.GradScaler`); Lightning and Hugging
      Face trainers scale the loss themselves for `16-mixed` / `fp16=True`.
    - IEEE 754-2008 binary16 format.
    - THEORY.md §3 ("float16 without loss scaling").
    """

    code = "GL801"
    name = "fp16-without-loss-scaling"
    severity = Severity.WARNING
    summary = "Training in float16 while no GradScaler (loss scaling) exists in the project"
    fix = ("scale the loss: scaler = torch.amp.GradScaler(\"cuda\"); scaler.scale(loss).backward(); "
           "scaler.step(optimizer); scaler.update() — or train in bfloat16")

    def check(self, ctx: ModelContext) -> Iterable[Finding]:
        facts = ctx.facts
        if facts is None or not facts.fp16 or facts.grad_scaler is not None:
            return
        site = _site_for(ctx, facts.fp16)
        if site is None:
            return
        yield self.make(
            site.location,
            "`{how}` trains in float16 but no GradScaler exists anywhere in the project ({root}): "
            "gradient values below float16's range (6.0e-8) become zero",
            {"how": site.how, "root": _shown_root(facts.root)}, model=ctx.model_name)

    def confirm(self, finding: Finding, ctx: ModelContext, measured: Any) -> Finding:
        if ctx.inputs is None or not ctx.weights_known:
            return verdict(finding, NOT_MEASURED, "the gradients' float16 underflow (no example inputs)")
        grads, loss = _float32_gradients(ctx.model, ctx.inputs, ctx.seed)
        if not grads:
            return verdict(finding, NOT_MEASURED, "the gradients' float16 underflow (no parameter gradient)")
        zero, subnormal, counted = underflow_shares(grads)
        text = (f"{zero:.2%} of the parameter-gradient values ({counted} nonzero in float32, {loss}) "
                f"round to zero in float16 and {subnormal:.2%} more to subnormals (< 6.1e-5)")
        return verdict(finding, MEASURED, text)

    invalid = '''\
        import torch
        from torch import nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))

            def forward(self, x):
                return self.body(x)


        def train(batches):
            model = Net().cuda()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            for x, y in batches:
                with torch.autocast(device_type="cuda", dtype=torch.float16):  # expect: GL801 warning
                    loss = nn.functional.cross_entropy(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
        '''
    valid = '''\
        import torch
        from torch import nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))

            def forward(self, x):
                return self.body(x)


        def train(batches):
            model = Net().cuda()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            scaler = torch.amp.GradScaler("cuda")
            for x, y in batches:
                with torch.autocast(device_type="cuda", dtype=torch.float16):
                    loss = nn.functional.cross_entropy(model(x), y)
                optimizer.zero_grad()
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                scaler.step(optimizer)
                scaler.update()
        '''


def underflow_shares(grads: Sequence[torch.Tensor]) -> tuple[float, float, int]:
    """Of the nonzero values in ``grads`` (float32 gradients), the share that float16 holds as
    zero and the share it holds as a subnormal, by casting them exactly as float16 stores them
    (round to nearest even), and how many nonzero values there were.

    >>> import torch
    >>> underflow_shares([torch.tensor([1e-9, 1e-6, 1e-3, 0.0])])
    (0.3333333333333333, 0.3333333333333333, 3)
    """
    import torch

    zero = subnormal = counted = 0
    for grad in grads:
        values = grad.detach().float().flatten()
        values = values[values != 0]
        if values.numel() == 0:
            continue
        half = values.to(torch.float16).float().abs()
        counted += values.numel()
        zero += int((half == 0).sum())
        subnormal += int(((half > 0) & (half < FLOAT16_NORMAL)).sum())
    if counted == 0:
        return 0.0, 0.0, 0
    return zero / counted, subnormal / counted, counted


def _float32_gradients(model: Any, inputs: dict[str, Any], seed: int) -> tuple[list, str]:
    """The parameter gradients of one float32 backward pass of a copy of ``model`` on ``inputs``
    with the dry run's loss, and that loss's name; the user's model, its gradients and the random
    states are left as they were."""
    import torch

    from gradlint.dry_run import _first_float, _loss, _target
    from gradlint.model_state import random_states, restore_random_states

    states = random_states()
    try:
        torch.manual_seed(seed)
        copied = copy.deepcopy(model).float()
        parameters = [p for p in copied.parameters() if p.requires_grad and p.is_floating_point()]
        floats = {k: v.float() if isinstance(v, torch.Tensor) and v.is_floating_point() else v
                  for k, v in inputs.items()}
        with torch.enable_grad():
            output = _first_float(copied(**floats))
            if output is None or not parameters:
                return [], ""
            target, kind = _target(output, torch.Generator().manual_seed(seed))
            loss = _loss(output, target, kind)
            grads = torch.autograd.grad(loss, parameters, allow_unused=True)
        return [g for g in grads if g is not None], kind
    finally:
        restore_random_states(states)


def _site_for(ctx: ModelContext, sites: Sequence[Fp16Site]) -> Fp16Site | None:
    """The float16 setting that trains this model: one converting this model's class, else one in
    the model's own file, else one in the file that builds the model's optimizer."""
    import inspect

    names = {c.__name__ for c in type(ctx.model).__mro__}
    for site in sites:
        if site.owner and site.owner in names:
            return site
    try:
        own = inspect.getsourcefile(type(ctx.model))
    except TypeError:
        own = None
    optimizer = ctx.optimizer.location.path if ctx.optimizer is not None and ctx.optimizer.location else None
    for where in (own, optimizer):
        if where is None:
            continue
        here = os.path.realpath(where)
        for site in sites:
            if site.owner is None or site.owner == "":
                if os.path.realpath(site.location.path) == here:
                    return site
    return None


def _shown_root(root: str) -> str:
    from gradlint.findings import display_path

    return display_path(root) or "."
