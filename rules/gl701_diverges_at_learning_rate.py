from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from pathlib import Path

from gradlint.check.rule import MEASURED, ModelContext, Rule, verdict
from gradlint.core.findings import Finding, Severity, resolved
from gradlint.source.callsites import Evaluator
from gradlint.source.edits import Edit, Proposal, Sources
from gradlint.source.project_facts import optimizer_calls

_ORIGINS = {"source": "constructed here", "config": "stated in [tool.gradlint]",
            "observed": "as the training run configured it"}
# hyperparameters worth naming in the message, in this order
_SHOWN = ("lr", "momentum", "betas", "weight_decay", "nesterov")


class DivergesAtLearningRate(Rule):
    """
    ## What it does
    Takes a short dry run of the optimizer the model will be trained with — its class, learning
    rate, momentum and the rest of its hyperparameters, and the gradient clipping the project
    configures — on the model itself in gradlint's worker (its exact state is kept in a file in
    the scratch folder and put back bitwise after each run, a time limit or Ctrl-C included), on
    a deep copy in process (`check_model`, the trainer callbacks), with a loss that fits the output (cross-entropy over
    seeded random class targets for logits, MSE otherwise). Its batch is the user's own when one
    was captured or given (every step sees it); otherwise every step draws `batches` new seeded
    batches like the probe's generated one, with new targets, and steps on their mean gradient,
    as training sees a new batch each step; their floating values are drawn at the scale the
    probe's `input-std` states (standard normal by default). A model with a loss term per
    position (a language model's logits, its own loss over labels) takes instead one batch of the
    few rows that give as many loss terms (2 rows of 32 tokens for 4 batches of 8 rows), the
    captured batch too: its cost is bounded by the model, not by the batch. Where the optimizer has
    a fused implementation (Adam, AdamW, SGD, Adagrad) the dry run takes it: the same update in
    one pass, several times faster on a large model. Where the model computes its own loss
    (a scalar output; a Hugging Face model given `labels`) it descends that loss. It flags the
    optimizer when the loss becomes non-finite or grows `growth`× its first value within `steps`
    steps, or when the loss rises without blowing up: the run on one fixed batch with fixed
    targets ends (the mean of its last 5 steps) `rise`× above its first loss while a smaller
    learning rate on the same batch makes progress. It then repeats the dry run at the learning
    rate divided by 3, 10, 30, 100, 300 and 1000 and names the largest that held.

    The optimizer is the one observed while the training command ran (`gradlint run`), else the
    one stated in `[tool.gradlint]` (`optimizer = "SGD"`, `lr = 0.05`, `momentum = 0.9`), else
    the construction in the project's source whose parameters name the model (`model.parameters()`
    with `model = Net(...)`, `self.parameters()` in a LightningModule, or a Hydra config's
    `_target_: torch.optim.SGD` inside the model's own mapping), or the project's only
    optimizer; its arguments are read like constructor arguments (literals, constants, function
    defaults, argparse defaults, the first parameter group). A warm-up scheduler (`LinearLR`,
    `OneCycleLR`, Hugging Face's `get_*_schedule_with_warmup`) gives the learning rate of the first
    steps. With no optimizer known the dry run is skipped: one line per run says for how many
    models, and `-v` gives each model's reason. The user's model,
    its gradients and the random states are left exactly as they were.

    ## Why is this bad?
    gradlint's other rules measure the gradient at initialization; this one asks whether the
    optimizer as configured can take a step. Deep residual stacks that are healthy at
    initialization by every gradient measure — pre-LN, pre-activation BatchNorm, SkipInit,
    zero-initialized branch ends, He-initialized branches — diverge to NaN within their first
    steps at SGD lr 0.05 with momentum 0.9 and train at a third of it: their effective step grows
    with depth. A run that blows up in its first steps wastes the whole job.

    ## Example
    ```python
    model = PreLNResidualMLP(depth=32)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    ```

    Use instead:
    ```python
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0167, momentum=0.9)  # or warm up, or clip
    ```

    Fix (`gradlint --fix`, a safe fix, kept only when the dry run of the edited project no longer
    diverges): sets the learning rate to the largest that held in the dry run (`lr=0.0167` above),
    where it is written: the literal at the optimizer call (keyword or positional), the one
    literal a name there is assigned, the `add_argument("--lr", default=...)` default that
    `args.lr` reads, or the `lr:` value of the YAML config mapping that names the optimizer
    (`_target_: torch.optim.SGD`), its comments and alignment kept. The number is written as a
    person would (`0.0167`, `3e-4`); behind a warm-up scheduler the written rate is scaled alike.
    A learning rate that is computed, a function's parameter, given on the command line or
    stated in `[tool.gradlint]` is left to you.

    ## Options
    - `steps` (30): steps of the dry run. Set by the experiment on gradlint's evaluation suite
      (115 two-spirals cases decided at SGD lr 0.05, momentum 0.9): 30 steps caught every
      divergence that a 600-step training run shows within its first steps.
    - `growth` (10000.0): a loss this many times its first value counts as divergence. On the same
      cases, 10⁴ flagged 10 failing runs and none that trains on the task's real batches (10 and
      1 on random inputs and labels, as the dry run has them); a softer criterion (×3) added more
      than 20 false alarms: early loss spikes that recover.
    - `batches` (4): new generated batches (of the probe's batch size, 8 by default) averaged
      into each step when the inputs are generated. Measured with `python eval/dry_run_cases.py`
      on the evaluation suite (246 cases with a stated optimizer; labels of the task's first
      learning rate): one fixed batch of 8 for every step, as the dry run had it, flagged 17 of
      the 58 that fail and 2 of the 161 that train (late blow-ups, at steps 13 and 26, of random
      labels fitted on 8 rows and overshot); a new batch of 8 each step, 16 and 3 (one more
      late blow-up, step 21: 8 rows of random labels give a noisy gradient). On the 20 cases
      either flagged, 4 new batches a step (32 rows) flag 16 of the 17 that fail and 1 of the 3
      that train (step 14; one fixed batch of 32: 15 and 1). In the whole evaluation
      (`python eval/report.py`) GL701 with 4 then flags 17 cases that fail at the first learning
      rate and 1 that trains. Each step costs `batches` forward and backward passes of the
      probe's batch. On those 20 cases 8 batches a step flag 15 of the 17 that fail and none of
      the 3 that train, 16 batches 15 and 1: the one that trains (residual/default_32.py) sits at
      the edge of the learning rate, and its verdict turns on the inputs' scale (`python
      eval/dry_run_factors.py residual/default_32.py`). All of these were on standard-normal
      inputs; with each task's input scale stated (`input-std`: 0.5 for the spirals, 4× less
      second moment), 4 batches a step flag 15 of the 58 non-clipping cases that fail and none of
      the 161 that train (16 batches a step: the same on the two-spirals families), and the whole
      evaluation 17 that fail and none that train. Targets the model can learn (the argmax of its
      own frozen initial outputs) in place of random ones make blow-ups more frequent, not less:
      12 of 12 seeded runs of that case and of residual/zero_last_32.py, against 8 and 1 with
      random targets.
    - `rise` (100.0): a loss that ends this many times above its first value on one fixed batch
      counts as divergence when a smaller learning rate makes progress on the same batch. A
      cross-entropy starts at its floor's scale, ln(classes) (9.2 for 10,000 words), so a learning
      rate that wrecks the loss without NaN stays far below ×10⁴: AdamW at lr 20 (a rate meant
      for plain SGD) on a 2-layer, 200-wide word-level LSTM: real training climbs from 9.2 to
      400 and is still at 128 after 150 steps (at lr 0.002 it falls to 7.4); the dry run on new
      batches ends ×50 above its start, on one fixed batch ×200 (lr 0.2 makes progress there).
      The test is taken on a fixed batch because on new random targets each step a healthy step
      size raises the loss too (its logits grow on labels that cannot be learned): on the
      evaluation suite at its first learning rate, a rise ×1.5 on new batches flagged 35 of the
      161 cases that train; on a fixed batch of 8 the cases that train rose at most ×41 and the
      one that fails without blowing up ×1,630 (`python eval/dry_run_cases.py --rise 1.5
      --rises 1.5,3,10,30,100`). The fixed-batch run is taken only when the run on new batches
      ended ×3 above its start (both did, ×50 and ×33), so most models pay nothing for it. A
      narrow model (a 32-wide LSTM over 500 words) at the same absurd rate rises only ×5–6 on the
      fixed batch: not caught.
    - `assumed-clip-norm` (1.0): the max_norm applied when the project clips gradients at a value
      its source does not give (the Hugging Face and Lightning default).

    ## References
    - Evaluation against training (documentation): at the task's first learning rate, the misses were
      step-size failures of residual stacks; a 30-step dry run of the configured optimizer
      finds them, curvature at initialization (the Hessian's top eigenvalue against
      2(1+β)/η) does not (14 failing and 40 training cases flagged).
    - Cohen et al. 2021, "Gradient descent on neural networks typically occurs at the edge of
      stability"; Goyal et al. 2017 (learning-rate warm-up for deep residual nets).
    - THEORY.md §0 (remedy 1: clipping by L2 norm, which the dry run applies when configured);
      §4's deep linear net, which diverges at every learning rate tried although its gradient is
      kept at initialization.
    """

    code = "GL701"
    name = "diverges-at-learning-rate"
    severity = Severity.ERROR
    summary = "The configured optimizer's first steps make the loss non-finite or explode (dry run)"
    fix = ("lower the learning rate to one that held in the dry run, warm it up (LinearLR, "
           "OneCycleLR), or clip gradients")
    needs_weights = True
    options = {"steps": 30, "growth": 1e4, "rise": 100.0, "batches": 4, "assumed-clip-norm": 1.0}

    def measure(self, ctx: ModelContext, measured) -> Iterable[Finding]:
        from gradlint.core.limits import too_large_to_train
        from gradlint.measure.dry_run import OWN_LOSS, TAIL, dry_run, optimizer_class  # torch: in the worker only

        setup = ctx.optimizer
        if setup is None:
            ctx.details.append(f"{self.code} dry run skipped: {ctx.optimizer_note or 'no optimizer known'}")
            return
        where = f" ({setup.location.path}:{setup.location.line})" if setup.location else ""
        if ctx.inputs is None:
            ctx.notes.append(f"{self.code} dry run skipped: no example inputs")
            return
        if optimizer_class(setup.name) is None:
            ctx.notes.append(f"{self.code} dry run skipped: `{setup.name}`{where} is not a torch.optim "
                             "optimizer; state one in [tool.gradlint] (optimizer = \"AdamW\", lr = ...)")
            return
        large = too_large_to_train(ctx.model)
        if large:
            ctx.notes.append(f"{self.code} dry run skipped: the model is too large to train here ({large})")
            return
        deadline = ctx.deadline
        try:
            result = dry_run(ctx.model, ctx.inputs, setup, steps=int(self.opts["steps"]),
                             growth=float(self.opts["growth"]), rise=float(self.opts["rise"]),
                             seed=ctx.seed, deadline=deadline,
                             default_clip_norm=float(self.opts["assumed-clip-norm"]),
                             fresh=not ctx.real_inputs, parts=max(1, int(self.opts["batches"])),
                             input_std=ctx.input_std)
        except Exception as exc:  # noqa: BLE001 - the dry run must not lose the other findings
            ctx.notes.append(f"{self.code} dry run failed ({type(exc).__name__}: {str(exc)[:200]})")
            return
        first = result.first
        settings = _settings(setup.hyperparameters, first.lr)
        clip = f", {result.clip}" if result.clip else ""
        scale = f", floating values at std {ctx.input_std:g}" if ctx.input_std != 1 else ""
        positions = f" of {result.positions} positions" if result.positions > 1 else ""
        batches = (f"new generated batches ({result.batch} rows{positions}{scale}) each step" if result.fresh
                   else f"{result.batch} rows{positions} of the captured batch" if result.positions > 1
                   else f"the captured batch of {result.batch}")
        targets = "" if result.loss == OWN_LOSS else " on random targets"
        described = (f"{setup.name}({settings}{clip}), {first.steps} steps on {batches} "
                     f"with {result.loss}{targets}" + (" (warm-up start from "
                     f"{setup.scheduler})" if setup.scheduler else ""))
        ctx.details.append(f"{self.code} dry run: {described}: "
                           + (f"diverged at step {first.diverged_at}" if first.diverged_at else
                              "stopped by the time limit" if first.stopped else
                              f"loss {_loss(first.first_loss)} → {_loss(first.end_loss)}")
                           + "".join(f"; at lr={r.lr:.3g}: {_outcome(r)}" for r in result.runs[1:])
                           + "".join(f"; on one batch of {result.fixed_batch} at lr={r.lr:.3g}: {_outcome(r)}"
                                     for r in result.fixed)
                           + f" ({result.seconds:.2f} s)")
        if first.stopped or any(r.stopped for r in result.fixed[:1]):
            ctx.notes.append(f"{self.code} dry run stopped after {first.steps} of {self.opts['steps']} "
                             "steps by the model's time limit; raise --timeout to finish it")
            return
        risen = result.rise_runs[0] if result.rise_runs else None
        if risen is not None and risen.rose and result.rose is None:
            ctx.details.append(f"{self.code}: the loss rose ×{self.opts['rise']:g} or more at every learning "
                               f"rate tried down to {result.rise_runs[-1].lr:.2g}: not the step size (not flagged)")
        if not result.diverged:
            return
        if first.diverged_at is not None:
            held = result.held
            if held is not None:
                advice = f"lr={held.lr:.3g} (÷{first.lr / held.lr:.0f}) held for {held.steps} steps"
            elif result.runs[-1].stopped:
                advice = "the time limit stopped the retries at smaller learning rates"
            else:
                advice = f"no learning rate down to {result.runs[-1].lr:.2g} held either"
            blew = ("non-finite" if first.why == "non-finite" else f"grow {first.why.split()[-1]}")
            blew += f" at step {first.diverged_at} of a {int(self.opts['steps'])}-step dry run"
            text = (f"dry run of {described}: loss {_loss(first.first_loss)} at step 1, "
                    f"{_loss(first.last_loss)} at step {first.diverged_at}")
        else:
            held = result.rose
            on = "" if not result.fixed else f" on one batch of {result.fixed_batch} with fixed targets"
            advice = (f"lr={held.lr:.3g} (÷{risen.lr / held.lr:.0f}) held on the same batch "
                      f"(loss {_loss(held.first_loss)} → {_loss(held.end_loss)})")
            blew = (f"rise from {_loss(risen.first_loss)} to {_loss(risen.end_loss)} (×{risen.end_loss / risen.first_loss:.3g}, "
                    f"the mean of its last {TAIL} steps) over a {risen.steps}-step dry run{on}")
            text = (f"dry run of {described}; then {risen.steps} steps{on}: loss {_loss(risen.first_loss)} at "
                    f"step 1, {_loss(risen.end_loss)} over the last {TAIL} steps; at lr={held.lr:.3g}: "
                    f"{_loss(held.first_loss)} → {_loss(held.end_loss)}")
        location = setup.location or ctx.fallback
        finding = self.make(
            location,
            "training diverges at the configured learning rate: {optimizer} ({origin}) makes "
            "`{trained}`'s loss {blew}{clipped}; {advice}",
            {"optimizer": f"{setup.name}({settings})", "trained": ctx.model_name, "origin": _ORIGINS.get(setup.origin, setup.origin),
             "blew": blew, "clipped": f" with {result.clip}" if result.clip else "", "advice": advice,
             # the learning rate tried first and the largest that held (--fix writes it)
             "lr": first.lr if first.diverged_at is not None else risen.lr,
             "held_lr": held.lr if held is not None else None},
            model=ctx.model_name,
        )
        yield verdict(finding, MEASURED, text)

    def propose(self, finding: Finding, sources: Sources) -> Proposal | None:
        """The learning rate set to the largest one that held in the dry run, where it is
        written: a literal at the optimizer call (keyword or positional), the literal a name
        there is assigned, the ``add_argument("--lr", default=...)`` default that ``args.lr``
        reads, or the ``lr:`` value of the YAML config mapping that names the optimizer. None
        where the learning rate is computed, or comes from the command line or [tool.gradlint]."""
        lr, held = finding.args.get("lr"), finding.args.get("held_lr")
        if not _number(lr) or not _number(held) or held <= 0 or lr <= 0:
            return None
        if finding.args.get("origin") not in (_ORIGINS["source"], _ORIGINS["observed"]):
            return None
        path = Path(resolved(finding.location.path))
        if path.suffix in (".yaml", ".yml"):
            edit = _lr_in_yaml(path, finding.location.line, lr, held)
        elif path.suffix == ".py":
            source = sources.file(path)
            edit = _lr_in_python(source, finding, lr, held) if source is not None else None
        else:
            edit = None
        if edit is None:
            return None
        shown = edit.text.strip().strip("'\"")
        return Proposal(f"set the learning rate to {shown}, the largest that held in the dry run "
                        f"(lr={_lr_text(lr, '')} diverged)", (edit,))

    # a tiny model file whose optimizer this rule flags on the line marked `# expect:`, and the
    # same file at a learning rate that holds (tests/test_rule_examples.py runs both)
    invalid = '''\
        import torch
        from torch import nn


        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.norm, self.fc1, self.fc2 = nn.LayerNorm(32), nn.Linear(32, 32), nn.Linear(32, 32)
                nn.init.kaiming_normal_(self.fc1.weight, nonlinearity="relu")
                nn.init.kaiming_normal_(self.fc2.weight, nonlinearity="relu")

            def forward(self, x):
                return x + self.fc2(torch.relu(self.fc1(self.norm(x))))


        class PreLN(nn.Module):
            def __init__(self):
                super().__init__()
                self.stem, self.head = nn.Linear(2, 32), nn.Linear(32, 2)
                self.blocks = nn.Sequential(*[Block() for _ in range(32)])

            def forward(self, x):
                return self.head(self.blocks(self.stem(x)))


        def main():
            model = PreLN()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)  # expect: GL701 error
        '''
    valid = '''\
        import torch
        from torch import nn


        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.norm, self.fc1, self.fc2 = nn.LayerNorm(32), nn.Linear(32, 32), nn.Linear(32, 32)
                nn.init.kaiming_normal_(self.fc1.weight, nonlinearity="relu")
                nn.init.kaiming_normal_(self.fc2.weight, nonlinearity="relu")

            def forward(self, x):
                return x + self.fc2(torch.relu(self.fc1(self.norm(x))))


        class PreLN(nn.Module):
            def __init__(self):
                super().__init__()
                self.stem, self.head = nn.Linear(2, 32), nn.Linear(32, 2)
                self.blocks = nn.Sequential(*[Block() for _ in range(32)])

            def forward(self, x):
                return self.head(self.blocks(self.stem(x)))


        def main():
            model = PreLN()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.005, momentum=0.9)
        '''


def _settings(hyper, lr: float) -> str:
    parts = [f"lr={lr:.3g}"]
    for key in _SHOWN[1:]:
        if key in hyper:
            value = hyper[key]
            parts.append(f"{key}={value!r}" if not isinstance(value, float) else f"{key}={value:g}")
    return ", ".join(parts)


def _outcome(run) -> str:
    """One run in words, for the details."""
    if run.diverged_at is not None:
        return f"{run.why} at step {run.diverged_at}"
    if run.stopped:
        return f"stopped by the time limit at step {run.steps}"
    return f"loss {_loss(run.first_loss)} → {_loss(run.end_loss)}"


def _loss(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


# ------------------------------------------------------------------------------------- the fix

def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _lr_text(value: float, written: str) -> str:
    """A learning rate as a person writes it: 3 significant digits, ``0.0167``, ``0.005``, and
    ``3e-4`` (no exponent padding) below 1e-3 or where the number it replaces was written so."""
    text = f"{value:.3g}"
    if "e" in text or value < 1e-3 or "e" in written.lower():
        mantissa, exponent = f"{value:.2e}".split("e")
        mantissa = mantissa.rstrip("0").rstrip(".")
        text = f"{mantissa}e{int(exponent)}"
    return text


def _scaled(value: object, lr: float, held: float, observed: bool) -> float | None:
    """The written learning rate ``value`` scaled as the dry run's ``lr`` to ``held`` (they
    differ where a warm-up scheduler starts below the written rate); None when ``value`` is not
    a number, or is not what a training run observed."""
    if not _number(value) or value <= 0:
        return None
    if observed and abs(value - lr) > 1e-12 * max(abs(lr), 1.0):
        return None  # the run was given another rate (on its command line): the source is not it
    return held if abs(value - lr) <= 1e-12 * max(abs(lr), 1.0) else value * held / lr


def _lr_in_python(source, finding: Finding, lr: float, held: float) -> Edit | None:
    try:
        tree = ast.parse(source.text)
    except (SyntaxError, ValueError, RecursionError):
        return None
    line, col = finding.location.line, finding.location.col
    found = [c for c, _ in optimizer_calls(tree) if c.lineno == line]  # the optimizer built there
    call = next((c for c in found if c.col_offset + 1 == col), found[0] if found else None)
    if call is None:
        return None
    groups = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "params"), None)
    if (isinstance(groups, (ast.List, ast.Tuple)) and groups.elts and isinstance(groups.elts[0], ast.Dict)
            and any(isinstance(k, ast.Constant) and k.value == "lr" for d in groups.elts
                    if isinstance(d, ast.Dict) for k in d.keys)):
        return None  # learning rates per parameter group: no one place to write it
    node = next((k.value for k in call.keywords if k.arg == "lr"), None)
    if node is None and len(call.args) > 1:
        node = call.args[1]
    if node is None:
        return None
    observed = finding.args.get("origin") == _ORIGINS["observed"]
    evaluator = Evaluator(tree)
    literal = _written(node, tree, call, evaluator)
    if literal is None:
        return None
    value = literal.value
    if isinstance(value, str):  # an argparse default given as text, typed by type=float
        try:
            value = float(value)
        except ValueError:
            return None
    new = _scaled(value, lr, held, observed)
    if new is None:
        return None
    written = ast.get_source_segment(source.text, literal) or ""
    text = _lr_text(new, written)
    if isinstance(literal.value, str):
        quote = written[:1] if written[:1] in ("'", '"') else '"'
        text = f"{quote}{text}{quote}"
    return _replace(source, literal, text)


def _written(node: ast.expr, tree: ast.Module, call: ast.Call, evaluator: Evaluator) -> ast.Constant | None:
    """The numeric literal the learning rate expression ``node`` is written as: itself, the one
    literal a plain name is assigned in the module or the function building the optimizer, or
    the default of the ``add_argument`` that ``args.lr`` reads; None for anything computed."""
    if isinstance(node, ast.Constant):
        return node if _number(node.value) else None
    if isinstance(node, ast.Name):
        scopes = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                  and n.lineno <= call.lineno <= (n.end_lineno or n.lineno)]
        scope = scopes[-1] if scopes else tree
        assigned = [n for n in ast.walk(scope) if isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign))
                    and any(isinstance(t, ast.Name) and t.id == node.id
                            for t in (n.targets if isinstance(n, ast.Assign) else [n.target]))]
        if not assigned and scope is not tree:
            if node.id in {a.arg for a in [*scope.args.args, *scope.args.kwonlyargs]}:
                return None  # a parameter: its callers may pass it
            assigned = [n for n in tree.body if isinstance(n, (ast.Assign, ast.AnnAssign))
                        and any(isinstance(t, ast.Name) and t.id == node.id
                                for t in (n.targets if isinstance(n, ast.Assign) else [n.target]))]
        if len(assigned) != 1 or isinstance(assigned[0], ast.AugAssign):
            return None
        value = assigned[0].value
        return value if isinstance(value, ast.Constant) and _number(value.value) else None
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        defaults = evaluator.argparse_defaults()
        if node.attr not in defaults:
            return None
        for add in (n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                    and n.func.attr == "add_argument"):
            if _dest(add) != node.attr:
                continue
            default = next((k.value for k in add.keywords if k.arg == "default"), None)
            if not (isinstance(default, ast.Constant) and (_number(default.value) or isinstance(default.value, str))):
                return None
            try:  # the default is the value `args.lr` has (no set_defaults() overrides it)
                same = float(default.value) == float(defaults[node.attr])
            except (TypeError, ValueError):
                same = False
            return default if same else None
    return None


def _dest(add: ast.Call) -> str | None:
    """The attribute an ``add_argument`` call sets, by argparse's rules."""
    dest = next((k.value for k in add.keywords if k.arg == "dest"), None)
    if dest is not None:
        return dest.value if isinstance(dest, ast.Constant) and isinstance(dest.value, str) else None
    flags = [a.value for a in add.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    longs = [f for f in flags if f.startswith("--")]
    return (longs or flags or ["-"])[0].lstrip("-").replace("-", "_") or None


def _replace(source, node: ast.expr, text: str) -> Edit:
    """An edit replacing an expression's text (ast columns are UTF-8 bytes; edits count
    characters)."""
    lines = source.text.splitlines()

    def column(line: int, offset: int) -> int:
        return len(lines[line - 1].encode("utf-8")[:offset].decode("utf-8", errors="replace"))

    end_line = node.end_lineno or node.lineno
    return Edit(str(source.path), node.lineno, column(node.lineno, node.col_offset), end_line,
                column(end_line, node.end_col_offset or 0), text)


_INTERPOLATION = re.compile(r"^\$\{([A-Za-z_][\w.]*)\}$")


def _lr_in_yaml(path: Path, line: int, lr: float, held: float) -> Edit | None:
    """The ``lr`` scalar of the YAML mapping that starts at ``line`` (a ``_target_`` optimizer,
    its ``init_args`` under jsonargparse), followed through one ``${a.b}`` interpolation in the
    same file, its text replaced (the file's formatting and comments kept)."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError, ValueError):
        return None

    def mappings(node):
        if isinstance(node, yaml.MappingNode):
            yield node
            for _, value in node.value:
                yield from mappings(value)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                yield from mappings(item)

    def get(node, key):
        if isinstance(node, yaml.MappingNode):
            return next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)
        return None

    for document in documents:
        for mapping in mappings(document):
            if mapping.start_mark.line + 1 != line:
                continue
            scalar = get(mapping, "lr") or get(get(mapping, "init_args"), "lr")
            if isinstance(scalar, yaml.ScalarNode) and scalar.tag == "tag:yaml.org,2002:str":
                match = _INTERPOLATION.match(scalar.value)
                target = document
                for key in (match.group(1).split(".") if match else ["\0"]):
                    target = get(target, key)
                scalar = target
            if not isinstance(scalar, yaml.ScalarNode) or scalar.style is not None:
                return None  # quoted, or not a value of this file
            try:
                value = float(scalar.value)
            except ValueError:
                return None
            new = _scaled(value, lr, held, False)
            if new is None:
                return None
            start, end = scalar.start_mark, scalar.end_mark
            written = _lr_text(new, scalar.value)
            if "e" in written and "." not in written:  # YAML 1.1 reads a float's exponent only after a dot
                mantissa, exponent = written.split("e")
                written = f"{mantissa}.0e{exponent}"
            rest = text.splitlines()[end.line][end.column:]
            padding = len(rest) - len(rest.lstrip(" "))
            if rest.lstrip(" ").startswith("#") and padding > 1:
                # a comment aligned in a column stays there: the spaces before it take up the change
                gap = max(1, padding - (len(written) - (end.column - start.column)))
                return Edit(str(path.resolve()), start.line + 1, start.column, end.line + 1, end.column + padding,
                            written + " " * gap)
            return Edit(str(path.resolve()), start.line + 1, start.column, end.line + 1, end.column, written)
    return None
