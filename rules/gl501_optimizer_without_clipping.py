from __future__ import annotations

import ast
from collections.abc import Iterable

from gradlint.check.rule import Rule, SourceContext
from gradlint.core.findings import Finding, Location, Severity, display_path
from gradlint.core.training import OptimizerSetup
from gradlint.source.callsites import Evaluator, is_resolved
from gradlint.source.project import calls
from gradlint.source.project_facts import ImportMap
from gradlint.source.project_facts import is_optimizer as _is_optimizer

# what an observed GL501 finding says happened (gradlint run)
OBSERVED = "stepped with no gradient clipping called between backward() and step() (observed)"


class OptimizerWithoutClipping(Rule):
    """
    ## What it does
    Flags an optimizer constructed in a linted file (`torch.optim.*` under any import style,
    bitsandbytes, apex, DeepSpeed, timm and transformers optimizers) when no gradient clipping is
    configured anywhere in the project the file belongs to. The project is the nearest directory
    upwards holding pyproject.toml, setup.py, setup.cfg or .git; all of its Python and config
    files are searched, not only the files on the command line (pre-commit passes only the
    changed files, and the clipping often lives in another module).

    Recognized clipping, in any file of the project: `clip_grad_norm_` / `clip_grad_value_` /
    `clip_grads_with_norm_` calls under any import style or as methods (Accelerate's
    `accelerator.clip_grad_norm_`, FSDP), Lightning `Trainer(gradient_clip_val=...)`,
    `self.clip_gradients(...)` and `configure_gradient_clipping`, Hugging Face
    `TrainingArguments(...)` (clips at 1.0 by default; `max_grad_norm=0` disables it), DeepSpeed's
    `gradient_clipping` in a config dict or file, the same keys in YAML/JSON/TOML configs, and
    clamping gradients directly (`p.grad.clamp_(...)`, `register_hook(lambda g: g.clamp(...))`).

    Observed, not searched for: under `gradlint run -- python train.py ARGS` the optimizer is
    reported when it stepped with no clipping *called* between `backward()` and `step()`, with
    the hyperparameters it had ("optimizer `SGD` (lr=20) stepped with no gradient clipping
    called ..."), at the line that built it; with the trainer callbacks, when the Lightning
    `Trainer` has no `gradient_clip_val` or the Hugging Face `TrainingArguments` have
    `max_grad_norm=0`. The same severities apply, with the learning rate that was seen.

    ## Why is this bad?
    Gradient clipping is the first remedy for exploding gradients: one bad batch can otherwise
    throw the weights far away (Pascanu, Mikolov & Bengio 2013). Vanilla recurrences need it
    most: their gradients grow geometrically once the recurrent weight's spectral radius drifts
    above 1, which is why this is a warning for files that build `nn.RNN`/`nn.RNNCell` or use
    plain SGD with a learning rate ≥ 1, and info otherwise (LSTM, GRU and transformers are
    usually trained with clipping too, at 1.0).

    ## Example
    ```python
    optimizer = torch.optim.SGD(model.parameters(), lr=20)
    loss.backward()
    optimizer.step()
    ```

    Use instead:
    ```python
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.25)
    optimizer.step()
    ```

    ## Options
    - `warn-sgd-lr` (1.0): plain SGD with a learning rate at or above this is a warning
      (THEORY.md §3, "No clipping"). The learning rate is read from the source: a literal, a
      variable assigned earlier, a function parameter's default, or an argparse default
      (`lr=args.lr` with `add_argument("--lr", type=float, default=20)`); one the source does not
      give (read from a config file at run time) leaves the finding at info.

    ## References
    - Pascanu, Mikolov & Bengio 2013, "On the difficulty of training recurrent neural networks".
    - PyTorch word_language_model example (clips at 0.25 with SGD lr 20); Hugging Face Trainer
      (max_grad_norm 1.0 by default).
    - THEORY.md §0 (remedy 1), §3 ("No clipping").
    """

    code = "GL501"
    name = "optimizer-without-clipping"
    severity = Severity.INFO
    summary = "Optimizer constructed while no gradient clipping is configured in the project"
    fix = ("clip before optimizer.step(): torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0) "
           "(Lightning: Trainer(gradient_clip_val=1.0); HF: TrainingArguments(max_grad_norm=1.0))")
    scope = "source"
    options = {"warn-sgd-lr": 1.0}

    def check_source(self, ctx: SourceContext) -> Iterable[Finding]:
        if ctx.clipping is not None:  # the project facts' clipping
            return
        imports = ImportMap.of(ctx.tree)
        evaluator = None
        for call in calls(ctx.tree):   # ast.walk's calls, without a data literal's leaves
            name = imports.resolve(call.func)
            if name is None or not _is_optimizer(name):
                continue
            short = name.rsplit(".", 1)[-1]
            big_lr = None
            if short == "SGD":
                evaluator = evaluator or Evaluator(ctx.tree)
                lr, expression = _learning_rate(call, evaluator)
                if isinstance(lr, (int, float)) and not isinstance(lr, bool) and lr >= self.opts["warn-sgd-lr"]:
                    big_lr = f"lr={lr:g}" + (f" ({expression})" if expression else "")
            severity = Severity.WARNING if (ctx.recurrent or big_lr) else Severity.INFO
            reasons = []
            if ctx.recurrent:
                reasons.append("this code builds a vanilla recurrence (nn.RNN/RNNCell), whose gradients can explode")
            if big_lr:
                reasons.append(f"plain SGD with {big_lr} makes an exploding step likely")
            reason = "".join(f"; {r}" for r in reasons)
            yield self.make(
                Location(display_path(str(ctx.path)), call.lineno, call.col_offset + 1,
                         call.end_lineno, (call.end_col_offset or 0) + 1),
                "optimizer `{optimizer}` is constructed but no gradient clipping is configured "
                "anywhere in the project ({root}){reason}",
                {"optimizer": short, "root": display_path(str(ctx.root)) or ".", "reason": reason},
                severity=severity,
            )

    def check_observed(self, setup: OptimizerSetup, model: str, recurrent: bool,
                       what: str = OBSERVED) -> Finding | None:
        """The observed form (``gradlint run``, trainer callbacks): an optimizer that stepped
        with no clipping called between ``backward()`` and ``step()`` (or, in a trainer's
        callback, that the trainer will step with no clipping configured) — reported with the
        hyperparameters seen, at the line that built the optimizer; nothing when clipping was
        observed."""
        if setup.origin != "observed" or setup.clipped or setup.location is None:
            return None
        lr = setup.lr
        big_lr = setup.name == "SGD" and lr is not None and lr >= self.opts["warn-sgd-lr"]
        reasons = []
        if recurrent:
            reasons.append("the model has a vanilla recurrence (nn.RNN/RNNCell), whose gradients can explode")
        if big_lr:
            reasons.append(f"plain SGD with lr={lr:g} makes an exploding step likely")
        shown = ", ".join(f"{key}={_number(setup.hyperparameters[key])}" for key in _SHOWN
                          if setup.hyperparameters.get(key) not in (None, False))
        return self.make(
            setup.location,
            "optimizer `{optimizer}` ({hyperparameters}) {what}{reason}",
            {"optimizer": setup.name, "hyperparameters": shown or "default settings", "what": what,
             "reason": "".join(f"; {r}" for r in reasons)},
            severity=Severity.WARNING if (recurrent or big_lr) else Severity.INFO, model=model)

    # a tiny training function this rule flags on the line marked `# expect:`, and the same
    # function with clipping (tests/test_rule_examples.py runs both)
    invalid = '''\
        import torch


        def train(model, batches):
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)  # expect: GL501 info
            for x, y in batches:
                loss = ((model(x) - y) ** 2).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        '''
    valid = '''\
        import torch


        def train(model, batches):
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            for x, y in batches:
                loss = ((model(x) - y) ** 2).mean()
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
        '''


# the hyperparameters an observed GL501 finding shows, in this order
_SHOWN = ("lr", "momentum", "betas", "weight_decay", "nesterov")


def _number(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "(" + ", ".join(_number(v) for v in value) + ")"
    return str(value)


def _learning_rate(call: ast.Call, evaluator: Evaluator) -> tuple[object, str]:
    """The optimizer's learning rate from the source: a literal, or a variable, a parameter's
    default or an argparse default (`lr=args.lr`), with the expression it came from ("" for a
    literal); None when the source does not give it."""
    node = next((k.value for k in call.keywords if k.arg == "lr"), None)
    if node is None and len(call.args) > 1:
        node = call.args[1]
    if node is None:
        return None, ""
    value = evaluator.value(node)
    if not is_resolved(value):
        return None, ""
    return value, "" if isinstance(node, ast.Constant) else f"from `{ast.unparse(node)}`"
