from __future__ import annotations

import copy
import dataclasses
import math
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from gradlint.check.rule import MEASURED, NOT_MEASURED, REFUTED, ModelContext, Rule, verdict
from gradlint.core.findings import Finding, Severity, resolved
from gradlint.source.edits import Proposal

if TYPE_CHECKING:
    import torch

    from gradlint.source.edits import Sources

    from gradlint.source.project_facts import Fp16Site

# IEEE 754 binary16: the smallest positive subnormal (2^-24) and the smallest normal (2^-14)
FLOAT16_SUBNORMAL = 2.0 ** -24
FLOAT16_NORMAL = 2.0 ** -14
_FLOAT16_EPS = "1e-4"   # the smallest power of ten above FLOAT16_NORMAL


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
    one), each gradient value cast to float16 exactly as float16 would hold it: the gradients at
    the outputs of the layers autocast runs in float16 (linear and convolution layers: their
    output gradients are float16 tensors in training) and the parameter gradients. It reports the
    share of nonzero values that become zero (below half the smallest subnormal, 2^-25 ≈ 3.0e-8).
    The finding is a warning when that share reaches `zero-share` for either; below it the
    measurement refutes the risk at initialization and the finding is kept as info, with its
    numbers (gradients shrink as the loss falls, so a scaler is still cheap insurance).

    A model whose weights are float16 (`.half()`, `.to(torch.float16)`, `precision="16-true"`)
    trained by Adam, AdamW or another optimizer whose `eps` is 0 in float16 (Adam's default,
    1e-8, is) is an error: its second-moment state holds the squared gradient in float16, which
    is zero wherever |g| < 2^-12 ≈ 2.4e-4, and the update then divides by zero (a non-finite
    weight at the first step). The probe reports the share of gradient values that square to zero.

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

    For float16 weights under an optimizer whose eps is 0 in float16, `gradlint --fix` sets
    `eps=1e-4` at the optimizer's call, the smallest power of ten float16 holds as a normal number
    (on eval/, both `.half()` Adam projects then trained); a GradScaler stays a fix in words.

    ## Options
    - `zero-share` (0.01): the share of nonzero gradient values that round to zero in float16
      from which the finding is a warning. On gradlint's evaluation suite, float16 training
      without a scaler trained as well as its float32 and bfloat16 twins on every model whose
      measured shares stayed at or below 0.35% (a spirals MLP, a 32×32 denoising autoencoder, a
      small ConvNet); a word-level language model over 50,257 words (gradlint's fixture
      `gl801_lm_autocast_no_scaler`) measures 2.6% of its parameter-gradient values at zero at
      the probe's 8 × 32 tokens, and 100% of its layer-output gradient values at 8 × 128
      (`--seq-len 128`: each logit's gradient is about 1/(words × positions)). No failing case
      of the suite lies between them, so the exact cut-off is not calibrated there. The shares
      are measured at the probe's batch: a mean loss over a larger training batch makes every
      gradient value proportionally smaller.
    The limits are float16's own (IEEE 754 binary16): the smallest subnormal 2^-24 ≈ 6.0e-8 (half
    of it rounds to zero), the smallest normal 2^-14 ≈ 6.1e-5.

    ## References
    - Micikevicius et al. 2018, "Mixed Precision Training" (ICLR): float16 gradient underflow,
      loss scaling, float32 master weights.
    - PyTorch "Automatic Mixed Precision" recipe (`torch.amp.GradScaler`); Lightning and Hugging
      Face trainers scale the loss themselves for `16-mixed` / `fp16=True`.
    - IEEE 754-2008 binary16 format.
    - Evaluation against training (documentation): `eval/cases/fp16/` trains each of two models in float16 autocast with
      and without a scaler, in bfloat16, and as `.half()` models under SGD and Adam.
    - THEORY.md §3 ("float16 without loss scaling").
    """

    code = "GL801"
    name = "fp16-without-loss-scaling"
    severity = Severity.WARNING
    summary = "Training in float16 while no GradScaler (loss scaling) exists in the project"
    fix = ("scale the loss: scaler = torch.amp.GradScaler(\"cuda\"); scaler.scale(loss).backward(); "
           "scaler.step(optimizer); scaler.update() — or train in bfloat16")

    fix_weights = ("keep the weights float32 and train under torch.autocast(dtype=torch.float16) with a "
                   "GradScaler (the optimizer's state stays float32), or use bfloat16")
    options = {"zero-share": 0.01}

    def check(self, ctx: ModelContext) -> Iterable[Finding]:
        facts = ctx.facts
        if facts is None or not facts.fp16 or facts.grad_scaler is not None:
            return
        site = _site_for(ctx, facts.fp16)
        if site is None:
            return
        eps = _zero_eps(site, ctx.optimizer)
        if eps is not None:
            bound = math.sqrt(FLOAT16_SUBNORMAL / 2 / _second_moment_weight(ctx.optimizer))
            finding = self.make(
                site.location,
                "`{how}` makes the weights float16 and `{optimizer}`'s eps={eps:g} is 0 in float16: "
                "wherever a gradient's second moment underflows (|g| < {bound:.2g}) the update divides by zero",
                {"how": site.how, "optimizer": ctx.optimizer.name, "eps": eps, "bound": bound,
                 **_built_at(ctx.optimizer)},
                model=ctx.model_name, severity=Severity.ERROR)
            yield dataclasses.replace(finding, fix=self.fix_weights)
            return
        yield self.make(
            site.location,
            "`{how}` trains in float16 but no GradScaler exists anywhere in the project ({root}): "
            "gradient values below float16's range (6.0e-8) become zero",
            {"how": site.how, "root": _shown_root(facts.root)}, model=ctx.model_name)

    def propose(self, finding: Finding, sources: Sources) -> Proposal | None:
        """For float16 weights under an optimizer whose eps is 0 in float16: that eps set to
        1e-4, the smallest power of ten float16 holds as a normal number, at the optimizer's
        call (the keyword replaced or added). None where the call cannot be found, or passes
        eps positionally or through ``**``. A GradScaler stays a fix in words: it rewrites the
        training step."""
        import libcst as cst

        path, line = finding.args.get("optimizer_path"), finding.args.get("optimizer_line")
        source = sources.file(resolved(path)) if path and line else None
        if source is None:
            return None
        name = str(finding.args.get("optimizer", "")).rsplit(".", 1)[-1]
        calls = [c for c in source.at_line(line, cst.Call) if source.code(c.func).rsplit(".", 1)[-1] == name]
        if len(calls) != 1 or any(a.star for a in calls[0].args) or \
                sum(a.keyword is None for a in calls[0].args) > 3:
            return None
        edit = source.set_keyword(calls[0], "eps", _FLOAT16_EPS)
        if edit is None:
            return None
        return Proposal(f"set `{name}`'s eps to {_FLOAT16_EPS}, the smallest power of ten float16 holds as a "
                        f"normal number (eps={finding.args.get('eps', 0):g} is 0 in float16)", (edit,))

    def confirm(self, finding: Finding, ctx: ModelContext, measured: Any) -> Finding:
        if ctx.inputs is None or not ctx.weights_known:
            return verdict(finding, NOT_MEASURED, "the gradients' float16 underflow (no example inputs)")
        outputs, grads, loss = _float32_gradients(ctx.model, ctx.inputs, ctx.seed)
        if not grads:
            return verdict(finding, NOT_MEASURED, "the gradients' float16 underflow (no parameter gradient)")
        if finding.severity == Severity.ERROR:  # the optimizer's eps: second moments that are zero
            squared = squares_to_zero(grads, _second_moment_weight(ctx.optimizer))
            text = (f"{squared:.2%} of the nonzero parameter-gradient values ({loss}) give a zero second "
                    "moment in float16 at the first step")
            return verdict(finding, MEASURED if squared > 0 else REFUTED, text)
        at_outputs, _, counted_outputs = underflow_shares(outputs)
        zero, subnormal, counted = underflow_shares(grads)
        text = (f"{at_outputs:.2%} of the gradient values at float16 layers' outputs ({counted_outputs} "
                f"nonzero in float32, {loss}) and {zero:.2%} of the parameter-gradient values ({counted}; "
                f"{subnormal:.2%} more to subnormals < 6.1e-5) round to zero in float16")
        if max(at_outputs, zero) >= float(self.opts["zero-share"]):
            return verdict(finding, MEASURED, text)
        return verdict(finding, REFUTED, text + f": below {float(self.opts['zero-share']):.0%} at initialization")

    invalid = '''\
        import torch
        from torch import nn


        class WordLM(nn.Module):
            def __init__(self, vocab=50257, width=128):
                super().__init__()
                self.embed, self.rnn = nn.Embedding(vocab, width), nn.GRU(width, width, batch_first=True)
                self.decoder = nn.Linear(width, vocab)

            def forward(self, ids):
                return self.decoder(self.rnn(self.embed(ids))[0])


        def train(batches):
            model = WordLM().cuda()
            optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
            for ids in batches:
                with torch.autocast(device_type="cuda", dtype=torch.float16):  # expect: GL801 warning
                    logits = model(ids[:, :-1])
                    loss = nn.functional.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten())
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


def squares_to_zero(grads: Sequence[torch.Tensor], weight: float = 1.0) -> float:
    """Of the nonzero values g in ``grads``, the share for which float16 holds ``weight`` × g² as
    zero: the second moment an Adam-family optimizer of a float16 model keeps after its first step
    (``weight`` = 1 − β2), computed in float16 as torch computes it there.

    >>> import torch
    >>> squares_to_zero([torch.tensor([1e-2, 1e-3, 0.0])], 0.001)
    0.5
    """
    import torch

    values = torch.cat([g.detach().float().flatten() for g in grads])
    values = values[values != 0].to(torch.float16)
    if values.numel() == 0:
        return 0.0
    return float((values * values * torch.tensor(weight, dtype=torch.float16) == 0).float().mean())


def _second_moment_weight(optimizer: Any) -> float:
    """1 − β2 of an Adam-family optimizer (its ``betas``, else torch's default 0.999)."""
    betas = optimizer.hyperparameters.get("betas") if optimizer is not None else None
    if isinstance(betas, (tuple, list)) and len(betas) == 2 and isinstance(betas[1], (int, float)):
        return max(1.0 - float(betas[1]), 1e-12)
    return 1e-3


def _float32_gradients(model: Any, inputs: dict[str, Any], seed: int) -> tuple[list, list, str]:
    """One float32 backward pass of a copy of ``model`` on ``inputs`` with the dry run's loss: the
    gradients at the outputs of its linear and convolution layers (the layers float16 autocast
    runs in float16), its parameter gradients, and the loss's name. The user's model, its
    gradients and the random states are left as they were."""
    import torch
    from torch import nn

    from gradlint.guard.model_state import random_states, restore_random_states
    from gradlint.measure.dry_run import loss_of

    states = random_states()
    outputs: list = []

    def keep(module: Any, args: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor) and output.requires_grad:
            output.register_hook(lambda grad: outputs.append(grad.detach()))

    try:
        torch.manual_seed(seed)
        copied = copy.deepcopy(model).float()
        parameters = [p for p in copied.parameters() if p.requires_grad and p.is_floating_point()]
        hooks = [m.register_forward_hook(keep) for m in copied.modules()
                 if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))]
        floats = {k: v.float() if isinstance(v, torch.Tensor) and v.is_floating_point() else v
                  for k, v in inputs.items()}
        with torch.enable_grad():
            loss, kind = loss_of(copied, floats, seed)
            if loss is None or not parameters:
                return [], [], ""
            grads = torch.autograd.grad(loss, parameters, allow_unused=True)
        for hook in hooks:
            hook.remove()
        return outputs, [g for g in grads if g is not None], kind
    finally:
        restore_random_states(states)


def _zero_eps(site: Fp16Site, optimizer: Any) -> float | None:
    """The optimizer's ``eps`` where the site makes the model's weights float16 and float16 holds
    that eps as zero (Adam's default 1e-8), else None."""
    if optimizer is None or not (site.how in (".half()", ".to(torch.float16)") or "16-true" in site.how):
        return None
    from gradlint.measure.dry_run import optimizer_default, optimizer_class

    cls = optimizer_class(optimizer.name)
    eps = optimizer.hyperparameters.get("eps", optimizer_default(cls, "eps") if cls is not None else None)
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or eps <= 0:
        return None
    return float(eps) if float(eps) < FLOAT16_SUBNORMAL / 2 else None


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


def _built_at(optimizer: Any) -> dict[str, Any]:
    """Where the optimizer is constructed (for the fix), when a source line says so."""
    location = getattr(optimizer, "location", None)
    if location is None or not location.path.endswith(".py"):
        return {}
    return {"optimizer_path": location.path, "optimizer_line": location.line}


def _shown_root(root: str) -> str:
    from gradlint.core.findings import display_path

    return display_path(root) or "."
