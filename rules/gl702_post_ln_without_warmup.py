from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from typing import Any

from gradlint.check.rule import MEASURED, NOT_MEASURED, ModelContext, Rule, verdict
from gradlint.core.findings import Finding, Severity
from gradlint.source.edits import Proposal

# optimizers of the Adam family (the papers' setting), by lower-case name; RAdam rectifies the
# early variance of the adaptive learning rate, which is what warm-up works around (Liu et al.
# 2019/2020, "On the Variance of the Adaptive Learning Rate and Beyond"), so it is left out
_ADAM = ("adam", "adamw", "nadam", "adamax", "adamw8bit", "adam8bit", "pagedadamw", "fusedadam",
         "deepspeedcpuadam", "fusedadamw")
# graph nodes the stream may pass between a residual add and its LayerNorm (dropout, a cast)
_PASS_THROUGH = ("dropout", "other")


class PostLNWithoutWarmup(Rule):
    """
    ## What it does
    Flags a Transformer whose residual blocks are post-LayerNorm — the LayerNorm applied after the
    residual add, `norm(x + f(x))`: `nn.TransformerEncoderLayer` / `nn.TransformerDecoderLayer`
    with the default `norm_first=False`, BERT-style blocks written by hand — with at least
    `min-layers` such layers, when the optimizer that trains it is of the Adam family (Adam,
    AdamW, NAdam, Adamax and their fused / 8-bit versions) at a learning rate of at least
    `min-lr` and no learning-rate warm-up is configured anywhere in the project.

    A post-LN layer is counted from the traced graph: each residual add on the model's main
    stream followed by a LayerNorm (through dropout at most) is a post-LN sub-layer, and the
    sub-layers whose branch holds attention are the layers (an encoder layer has two sub-layers,
    attention and feed-forward; a stack without attention counts its sub-layers). The optimizer
    is the one GL701 reads (observed by `gradlint run`, stated in `[tool.gradlint]`, or built in
    the project's source for this model). Recognized warm-up, in any Python or config file of the
    project: `LinearLR` rising (its `start_factor` below its `end_factor`), `OneCycleLR`,
    Hugging Face's `get_*_schedule_with_warmup` and `get_scheduler(..., num_warmup_steps=N)`,
    a `LambdaLR`/`MultiplicativeLR` whose function says `warmup` or caps a rising factor with
    `min(1.0, ...)`, nonzero `warmup_steps` / `warmup_ratio` / `num_warmup_steps` /
    `warmup_epochs` arguments (`TrainingArguments`, timm) or config keys, and a hand-written
    schedule (an assignment to a parameter group's `["lr"]`). SGD and RAdam are not flagged.

    The finding points at the optimizer's construction. The probe attaches, as evidence, the
    gradient norm of the weights of the last post-LN layer against the first, from one backward
    pass at initialization (Xiong et al.'s Figure 3 measure: under post-LN it does not shrink
    toward the output as under pre-LN, where it falls as 1/√L); it does not change the severity.

    ## Why is this bad?
    Xiong et al. (2020) show that at initialization the expected gradient of the parameters near
    the output of a post-LN Transformer is large — independent of depth, while pre-LN's shrinks
    with it — so large early Adam steps make training unstable and the learning-rate warm-up
    stage is essential: without it the post-LN Transformer ends far worse. Liu et al. (2020)
    trace the instability to post-LN's strong dependence on its residual branches, which
    amplifies small parameter changes, and report that with the usual recipe a 6-layer post-LN
    encoder-decoder converges on WMT'14 En-De while an 18-layer one diverges. Pre-LN
    (`norm_first=True`) and warm-up both remove the problem.

    ## Example
    ```python
    layer = nn.TransformerEncoderLayer(512, 8)                # norm_first=False: post-LN
    encoder = nn.TransformerEncoder(layer, num_layers=18)
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=1e-3)
    ```

    Use instead:
    ```python
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=1e-3)
    warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.01, total_iters=4000)
    ```
    (or `norm_first=True`).

    `gradlint --fix --unsafe-fixes` sets `norm_first=True` on the `nn.TransformerEncoderLayer`,
    `nn.TransformerDecoderLayer` or `nn.Transformer` the model builds (pre-LN computes another
    function); a warm-up stays a fix in words, since its length depends on the run.

    ## Options
    - `min-layers` (12): the fewest post-LN layers flagged. Liu et al. 2020 (Figure 1, WMT'14
      En-De): 6 post-LN layers converge, 18 diverge; Xiong et al. 2020 find the 6-layer post-LN
      Transformer already needs warm-up to reach its accuracy (IWSLT'14 De-En), so the risk
      rises from a worse result at 6 layers to divergence at 18. The default sits between them at
      12, BERT-base's depth, which every published post-LN recipe of that depth trains with
      warm-up (Devlin et al. 2019: 10,000 steps). Reproduced at small scale (width 64, 4 heads,
      AdamW lr 1e-3, 60 steps on one batch, two seeds): 6 and 12 post-LN layers fit without
      warm-up, 18 stall at loss 2.1-2.2 where a 30-step warm-up reaches 0.07-0.32 (pre-LN fits either
      way). Set it to 6 to follow Xiong et al.
    - `min-lr` (5e-4): the smallest learning rate flagged (the learning rate of the first steps
      as GL701 reads it; an unknown one is flagged). Xiong et al. show the post-LN Transformer
      failing without warm-up at Adam learning rates 5e-4 and 1e-3 (THEORY.md §3); fine-tuning
      rates (BERT's 2e-5 to 5e-5) are below it.

    ## References
    - Xiong et al. 2020, "On Layer Normalization in the Transformer Architecture" (ICML).
    - Liu et al. 2020, "Understanding the Difficulty of Training Transformers" (EMNLP).
    - Liu et al. 2020, "On the Variance of the Adaptive Learning Rate and Beyond" (ICLR): why
      Adam needs warm-up, and RAdam.
    - Vaswani et al. 2017, "Attention Is All You Need" (post-LN with 4,000 warm-up steps).
    - THEORY.md §3 ("Post-LN transformer").
    """

    code = "GL702"
    name = "post-ln-without-warmup"
    severity = Severity.WARNING
    summary = "Deep post-LayerNorm Transformer trained with Adam and no learning-rate warm-up"
    fix = ("warm the learning rate up (torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.01, "
           "total_iters=4000), HF warmup_ratio=0.06), or use pre-LN (norm_first=True)")
    options = {"min-layers": 12, "min-lr": 5e-4}

    def check(self, ctx: ModelContext) -> Iterable[Finding]:
        if ctx.analysis is None or ctx.facts is None:
            return
        setup = ctx.optimizer
        if setup is None or not is_adam(setup.name):
            return
        if ctx.facts.warmup is not None or setup.scheduler is not None:
            return
        if setup.lr is not None and setup.lr < self.opts["min-lr"]:
            return
        layers, joins = post_ln_layers(ctx)
        if layers < self.opts["min-layers"]:
            return
        first_norm = joins[0][1]
        location = setup.location or ctx.location(first_norm)
        yield self.make(
            location,
            "{layers} post-LN layers (LayerNorm after the residual add, from `{first}`) are trained "
            "by `{optimizer}` (lr={lr}) with no learning-rate warm-up anywhere in the project "
            "({root}): post-LN needs warm-up under Adam",
            {"layers": layers, "first": ctx.label(first_norm), "optimizer": setup.name,
             "lr": f"{setup.lr:g}" if setup.lr is not None else "unknown", "root": _shown_root(ctx.facts.root)},
            model=ctx.model_name)

    def propose(self, finding: Finding, sources) -> Proposal | None:
        """Unsafe: the model's ``nn.TransformerEncoderLayer``/``DecoderLayer``/``Transformer``
        made pre-LN (``norm_first=True``), where it is built in the file of the finding; a
        warm-up stays a fix in words (its length depends on the run)."""
        from gradlint.rules._model_fixes import builder, pre_norm

        built = builder(finding, sources)
        edits = pre_norm(built) if built is not None else None
        if not edits:
            return None
        return Proposal("use pre-LN (`norm_first=True`)", tuple(edits), safe=False)

    def confirm(self, finding: Finding, ctx: ModelContext, measured: Any) -> Finding:
        if ctx.inputs is None or not ctx.weights_known or ctx.analysis is None:
            return verdict(finding, NOT_MEASURED, "the post-LN layers' weight gradients (no example inputs)")
        _, joins = post_ln_layers(ctx)
        first, last = _branch_modules(ctx, joins[0][0]), _branch_modules(ctx, joins[-1][0])
        norms = _gradient_norms(ctx.model, ctx.inputs, ctx.seed, [first, last])
        if norms is None or not all(math.isfinite(n) and n > 0 for n in norms):
            return verdict(finding, NOT_MEASURED, "the post-LN layers' weight gradients")
        ratio = norms[1] / norms[0]
        return verdict(finding, MEASURED,
                       f"the weight gradient of the last post-LN layer is {ratio:.2g}× the first's "
                       f"({norms[1]:.2g} against {norms[0]:.2g}, one backward pass at initialization)")

    invalid = '''\
        import torch
        from torch import nn


        class Encoder(nn.Module):
            def __init__(self, depth=12):
                super().__init__()
                layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)
                self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
                self.head = nn.Linear(32, 2)

            def forward(self, x):
                return self.head(self.encoder(x).mean(1))


        def train(batches):
            model = Encoder()
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)  # expect: GL702 warning
            for x, y in batches:
                loss = nn.functional.cross_entropy(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        '''
    valid = '''\
        import torch
        from torch import nn


        class Encoder(nn.Module):
            def __init__(self, depth=12):
                super().__init__()
                layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)
                self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
                self.head = nn.Linear(32, 2)

            def forward(self, x):
                return self.head(self.encoder(x).mean(1))


        def train(batches):
            model = Encoder()
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
            warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.01, total_iters=1000)
            for x, y in batches:
                loss = nn.functional.cross_entropy(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                warmup.step()
        '''


def is_adam(name: str) -> bool:
    """An optimizer of the Adam family (not RAdam), by its class or qualified name."""
    return name.rsplit(".", 1)[-1].lower() in _ADAM


def post_ln_layers(ctx: ModelContext) -> tuple[int, list[tuple[str, str]]]:
    """The post-LN layers on the model's main stream: their number and, for each post-LN
    sub-layer in stream order, (its residual add, the LayerNorm after it). A sub-layer is a
    residual add followed on the stream by a LayerNorm; a layer is a sub-layer whose branch holds
    attention (all sub-layers count when none does)."""
    analysis = ctx.analysis
    nodes = ctx.graph.nodes
    route = analysis.main_route()
    position = {node: i for i, node in enumerate(route)}
    blocks = {block.add: block for block in analysis.residual_blocks}
    joins: list[tuple[str, str]] = []
    attention = 0
    # the span may start at the first LayerNorm, its residual add just before the stream begins
    if route and _is_layer_norm(nodes[route[0]]):
        add = next((p for p in ctx.graph.predecessors(route[0]) if nodes[p]["kind"] == "add"), None)
        if add is not None:
            joins.append((add, route[0]))
            attention += _has_attention(ctx, add, None)
    for add in (n for n in route if n in blocks):
        following = route[position[add] + 1:position[add] + 4]
        norm = next((n for n in following if nodes[n]["kind"] not in _PASS_THROUGH), None)
        if norm is not None and _is_layer_norm(nodes[norm]):
            joins.append((add, norm))
            attention += _has_attention(ctx, add, blocks[add])
    return (attention or len(joins)), joins


def _is_layer_norm(facts: dict) -> bool:
    kind_type = f"{facts.get('module_type') or ''} {facts.get('target') or ''}".lower()
    return facts["kind"] == "norm" and ("layernorm" in kind_type or "layer_norm" in kind_type
                                        or "rmsnorm" in kind_type or "rms_norm" in kind_type)


def _branch(ctx: ModelContext, add: str, block: Any) -> set[str]:
    if block is not None:
        return set(block.branch)
    # the first sub-layer's add, before the stream begins: its branch is what feeds it from the input
    seen: set[str] = set()
    stack = list(ctx.graph.predecessors(add))
    while stack and len(seen) < 200:
        node = stack.pop()
        if node in seen or ctx.graph.nodes[node]["kind"] == "input":
            continue
        seen.add(node)
        stack.extend(ctx.graph.predecessors(node))
    return seen


def _has_attention(ctx: ModelContext, add: str, block: Any) -> bool:
    return any(ctx.graph.nodes[n]["kind"] == "attention" for n in _branch(ctx, add, block))


def _branch_modules(ctx: ModelContext, add: str) -> list[str]:
    """The modules holding the weights of one post-LN sub-layer's branch (qualified names)."""
    blocks = {block.add: block for block in ctx.analysis.residual_blocks}
    branch = _branch(ctx, add, blocks.get(add))
    return sorted({ctx.graph.nodes[n]["module"] for n in branch
                   if ctx.graph.nodes[n]["kind"] in ("weight", "attention") and ctx.graph.nodes[n].get("module")})


def _gradient_norms(model: Any, inputs: dict[str, Any], seed: int,
                    groups: list[list[str]]) -> list[float] | None:
    """The L2 norm of the loss gradient over the parameters of each group of modules, from one
    backward pass of a copy of ``model`` in eval mode (no dropout noise) with the dry run's loss;
    the user's model and the random states are left as they were."""
    import torch

    from gradlint.guard.model_state import random_states, restore_random_states
    from gradlint.measure.dry_run import loss_of

    if not all(groups):
        return None
    states = random_states()
    try:
        torch.manual_seed(seed)
        copied = copy.deepcopy(model).eval()
        parameters = [[p for name in group for p in copied.get_submodule(name).parameters() if p.requires_grad]
                      for group in groups]
        flat = [p for group in parameters for p in group]
        if not all(parameters):
            return None
        with torch.enable_grad():
            loss, _ = loss_of(copied, inputs, seed)
            if loss is None:
                return None
            grads = torch.autograd.grad(loss, flat, allow_unused=True)
        by_id = {id(p): g for p, g in zip(flat, grads)}
        return [math.sqrt(sum(float(by_id[id(p)].double().pow(2).sum()) for p in group if by_id[id(p)] is not None))
                for group in parameters]
    finally:
        restore_random_states(states)


def _shown_root(root: str) -> str:
    from gradlint.core.findings import display_path

    return display_path(root) or "."
