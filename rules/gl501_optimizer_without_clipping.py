from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

from gradlint.check.rule import Rule, SourceContext
from gradlint.core.findings import Finding, Location, Severity, display_path, resolved
from gradlint.core.training import OptimizerSetup
from gradlint.source.callsites import Evaluator, is_resolved
from gradlint.source.edits import Edit, Proposal, Sources, SourceFile
from gradlint.source.project import calls, project_files, project_root
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

    Fix (`gradlint --fix`, a safe fix, kept only when the re-check no longer finds GL501):
    inserts `torch.nn.utils.clip_grad_norm_(<params>, 1.0)` after the `backward()` that precedes
    the optimizer's `step()`, where `<params>` is what the optimizer was built with
    (`model.parameters()`; the module's `.parameters()` for parameter groups), spelled as the
    file imports torch (`nn.utils.clip_grad_norm_`, `clip_grad_norm_`; `import torch` added only
    when torch is not imported), with `scaler.unscale_(optimizer)` first when a GradScaler steps
    it. Where a trainer steps it: `gradient_clip_val=1.0` added to the Lightning `Trainer(...)`,
    `max_grad_norm=1.0` in Hugging Face `TrainingArguments(...)`. Where no single module's
    parameters, or no loop or trainer that steps the optimizer, is evident, the fix stays in words.

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

    def propose(self, finding: Finding, sources: Sources) -> Proposal | None:
        """Clipping where the optimizer is stepped: ``clip_grad_norm_`` (after ``unscale_`` under
        a GradScaler) between ``backward()`` and ``step()`` of the loop that steps it, with the
        parameters it was built with; else the trainer's own setting (Lightning's
        ``gradient_clip_val``, Hugging Face's ``max_grad_norm``); None where neither is evident."""
        path = Path(resolved(finding.location.path))
        source = sources.file(path) if path.suffix == ".py" else None
        if source is None:
            return None
        try:
            tree = ast.parse(source.text)
        except (SyntaxError, ValueError, RecursionError):
            return None
        call = _call_at(tree, finding.location.line, finding.location.col)
        if call is None:
            return None
        edits = _clip_in_loop(source, tree, call)
        if edits is not None:
            return edits
        return _clip_in_trainer(path, sources, lightning=_lightning_optimizer(tree, call))

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


# ------------------------------------------------------------------------------------- the fix

MAX_NORM = 1.0  # what the fix clips at: Hugging Face's default, Lightning's usual value
_CLIP = "torch.nn.utils.clip_grad_norm_"


def _call_at(tree: ast.Module, line: int, col: int) -> ast.Call | None:
    """The call that starts at (line, col from 1) — where the finding points."""
    found = [c for c in ast.walk(tree) if isinstance(c, ast.Call) and c.lineno == line]
    exact = [c for c in found if c.col_offset + 1 == col]
    return (exact or found or [None])[0]


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}


def _enclosing(node: ast.AST, parents: dict[ast.AST, ast.AST], kinds: tuple[type, ...]) -> ast.AST | None:
    node = parents.get(node)
    while node is not None and not isinstance(node, kinds):
        node = parents.get(node)
    return node


_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def _clip_in_loop(source: SourceFile, tree: ast.Module, call: ast.Call) -> Proposal | None:
    """``clip_grad_norm_`` inserted after the ``backward()`` that precedes the step of the
    optimizer built by ``call`` (before that step when no backward precedes it in its block)."""
    parents = _parents(tree)
    assigned = parents.get(call)
    if not (isinstance(assigned, (ast.Assign, ast.AnnAssign)) and assigned.value is call):
        return None
    targets = assigned.targets if isinstance(assigned, ast.Assign) else [assigned.target]
    if len(targets) != 1 or not isinstance(targets[0], (ast.Name, ast.Attribute)):
        return None
    optimizer = ast.unparse(targets[0])
    built_in = _enclosing(call, parents, _FUNCTIONS)
    if optimizer.startswith("self."):  # stepped in any method of the class
        where: ast.AST | None = _enclosing(call, parents, (ast.ClassDef,))
    else:
        where = built_in if built_in is not None and optimizer not in _globals(built_in) else tree
    if where is None:
        return None
    step = _step_call(where, optimizer, parents)
    if step is None:
        return None
    statement, scaler = step
    block = _block_of(statement, parents)
    if block is None:
        return None
    stepped_in = _enclosing(statement, parents, _FUNCTIONS)
    params = _parameters(call, tree, parents, built_in, stepped_in)
    if params is None:
        return None
    clip = _clip_name(tree, stepped_in)
    lines = []
    if scaler is not None and not _unscaled_before(block, statement, scaler, optimizer):
        lines.append(f"{scaler}.unscale_({optimizer})")
    lines.append(f"{clip or _CLIP}({params}, {MAX_NORM})")
    edits = []
    backward = _backward_before(block, statement)
    anchor = backward if backward is not None else statement
    node = _statement_node(source, anchor)
    if node is None:
        return None
    indent = _indent(source, anchor.lineno)
    text = ("\n" + indent).join(lines)
    edits.append(source.insert_after(node, text) if backward is not None else source.insert_before(node, text))
    if clip is None:  # torch is not imported under a name the fix can use
        edits.append(_import_torch(source, tree))
    stepped = ast.get_source_segment(source.text, statement) or f"{optimizer}.step()"
    return Proposal(f"insert `{lines[-1]}` before `{stepped.strip()}`", tuple(edits))


def _globals(function: ast.AST) -> set[str]:
    return {name for node in ast.walk(function) if isinstance(node, ast.Global) for name in node.names}


def _step_call(where: ast.AST, optimizer: str, parents: dict[ast.AST, ast.AST]) -> tuple[ast.stmt, str | None] | None:
    """The first statement stepping ``optimizer`` under ``where``: ``optimizer.step()``, or
    ``scaler.step(optimizer)`` (with the scaler's expression)."""
    for node in sorted((n for n in ast.walk(where) if isinstance(n, ast.Call)), key=lambda n: (n.lineno, n.col_offset)):
        func = node.func
        if not (isinstance(func, ast.Attribute) and func.attr == "step"):
            continue
        scaler = None
        if ast.unparse(func.value) == optimizer and not node.args:
            pass
        elif node.args and ast.unparse(node.args[0]) == optimizer:
            scaler = ast.unparse(func.value)
        else:
            continue
        statement = parents.get(node)
        if isinstance(statement, ast.Expr):
            return statement, scaler
    return None


def _block_of(statement: ast.stmt, parents: dict[ast.AST, ast.AST]) -> list[ast.stmt] | None:
    parent = parents.get(statement)
    for field in ("body", "orelse", "finalbody"):
        block = getattr(parent, field, None)
        if isinstance(block, list) and statement in block:
            return block
    return None


def _backward_before(block: list[ast.stmt], statement: ast.stmt) -> ast.stmt | None:
    """The last statement before ``statement`` in its block that calls ``.backward()``
    (``loss.backward()``, ``scaler.scale(loss).backward()``, ``accelerator.backward(loss)``)."""
    for earlier in reversed(block[: block.index(statement)]):
        if isinstance(earlier, ast.Expr) and any(
                isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "backward"
                for n in ast.walk(earlier)):
            return earlier
    return None


def _unscaled_before(block: list[ast.stmt], statement: ast.stmt, scaler: str, optimizer: str) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "unscale_"
               and ast.unparse(n.func.value) == scaler
               for earlier in block[: block.index(statement)] for n in ast.walk(earlier))


def _statement_node(source: SourceFile, statement: ast.stmt):
    import libcst as cst

    lines = [n for n in source.at_line(statement.lineno, cst.SimpleStatementLine)
             if source.position(n).start.line == statement.lineno]
    return lines[-1] if lines else None


def _indent(source: SourceFile, line: int) -> str:
    text = source.text.splitlines()[line - 1]
    return text[: len(text) - len(text.lstrip())]


def _parameters(call: ast.Call, tree: ast.Module, parents: dict[ast.AST, ast.AST], built_in: ast.AST | None,
                stepped_in: ast.AST | None) -> str | None:
    """The parameters expression to clip: the one the optimizer was built with when it is a
    ``.parameters()`` call (or a list named where it is stepped), else ``X.parameters()`` of the
    one module ``X`` whose parameters (or named_parameters) it was built from; None when no
    single module is evident, or when ``X`` is not a name where the optimizer is stepped."""
    params = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "params"), None)
    if params is None:
        return None
    same_scope = built_in is stepped_in
    if isinstance(params, ast.Name):
        value = _assigned(params.id, built_in or tree, call.lineno)
        if value is None:
            return None
        if same_scope and (isinstance(value, (ast.List, ast.ListComp, ast.Tuple))
                           or (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
                               and value.func.id in ("list", "tuple"))):
            return params.id  # a list: stepping does not consume it
        params = value
    receivers = [n.func.value for n in ast.walk(params) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                 and n.func.attr in ("parameters", "named_parameters")]
    roots = {_root_name(r) for r in receivers}
    if len(roots) != 1 or None in roots:
        return None
    root = roots.pop()
    if not same_scope and not _bound_in(root, stepped_in, tree):
        return None
    plain = (isinstance(params, ast.Call) and isinstance(params.func, ast.Attribute)
             and params.func.attr == "parameters" and not params.args and not params.keywords)
    return ast.unparse(params) if plain else f"{root}.parameters()"


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _assigned(name: str, scope: ast.AST, before: int) -> ast.expr | None:
    """The value of the last ``name = ...`` in ``scope`` before line ``before``."""
    found = None
    for node in ast.walk(scope):
        if (isinstance(node, ast.Assign) and node.lineno < before and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id == name):
            if found is None or node.lineno > found.lineno:
                found = node
    return found.value if found is not None else None


def _bound_in(name: str, function: ast.AST | None, tree: ast.Module) -> bool:
    """``name`` is a parameter or an assigned name of ``function`` (the module's when None)."""
    scope = function if function is not None else tree
    if isinstance(scope, _FUNCTIONS):
        arguments = scope.args
        if name in {a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]}:
            return True
    return any(isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Store) for n in ast.walk(scope))


def _clip_name(tree: ast.Module, function: ast.AST | None) -> str | None:
    """``clip_grad_norm_`` as the file's imports name it (module level, or in the function that
    steps): ``clip_grad_norm_`` imported itself, ``utils.clip_grad_norm_``,
    ``torch.nn.utils.clip_grad_norm_``, ``nn.utils.clip_grad_norm_``; None when torch is not
    imported under any of these."""
    body = [*tree.body, *(function.body if isinstance(function, _FUNCTIONS) else [])]
    names: dict[str, str] = {}
    for node in body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    by_target = {}
    for local, dotted in names.items():
        by_target.setdefault(dotted, local)
    for dotted, form in (("torch.nn.utils.clip_grad_norm_", "{}"), ("torch.nn.utils", "{}.clip_grad_norm_"),
                         ("torch", "{}.nn.utils.clip_grad_norm_"), ("torch.nn", "{}.utils.clip_grad_norm_")):
        if dotted in by_target:
            return form.format(by_target[dotted])
    return None


def _import_torch(source: SourceFile, tree: ast.Module) -> Edit:
    """``import torch`` after the module's last top-level import (before its first statement
    after the docstring when it has none)."""
    imports = [s for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom))]
    if imports:
        node = _statement_node(source, imports[-1])
        if node is not None:
            return source.insert_after(node, "import torch")
    body = tree.body
    docstring = (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                 and isinstance(body[0].value.value, str))
    first = body[1] if docstring and len(body) > 1 else body[0]
    line = first.lineno
    return Edit(str(source.path), line, 0, line, 0, "import torch\n")


# Lightning's Trainer and Hugging Face's TrainingArguments, by the dotted names they resolve to
_LIGHTNING = ("lightning", "pytorch_lightning")


def _lightning_optimizer(tree: ast.Module, call: ast.Call) -> bool:
    """The optimizer is built for Lightning to step it: in a ``configure_optimizers`` method."""
    parents = _parents(tree)
    function = _enclosing(call, parents, _FUNCTIONS)
    return function is not None and function.name == "configure_optimizers"


def _clip_in_trainer(path: Path, sources: Sources, lightning: bool) -> Proposal | None:
    """The trainer's own clipping where a trainer steps the optimizer: ``gradient_clip_val=1.0``
    added to the project's one Lightning ``Trainer(...)`` call (for an optimizer that
    ``configure_optimizers`` builds), or ``max_grad_norm`` set to 1.0 in the project's one
    ``TrainingArguments(...)`` that disables it. None when there is none, or more than one."""
    root = project_root(path)
    found: list[Proposal] = []
    for candidate in (path, *(p for p in project_files(root, (".py",)) if p.resolve() != path.resolve())):
        try:
            if "Trainer" not in candidate.read_text(encoding="utf-8", errors="replace"):
                continue
        except OSError:
            continue
        source = sources.file(candidate)
        if source is None:
            continue
        try:
            tree = ast.parse(source.text)
        except (SyntaxError, ValueError, RecursionError):
            continue
        found.extend(_trainer_edits(source, tree, lightning))
    return found[0] if len(found) == 1 else None


def _trainer_edits(source: SourceFile, tree: ast.Module, lightning: bool) -> list[Proposal]:
    imports = ImportMap.of(tree)
    found = []
    for call in calls(tree):
        name = imports.resolve(call.func) or ""
        short = name.rsplit(".", 1)[-1]
        if short.endswith("TrainingArguments") and name.startswith("transformers"):
            keyword = next((k for k in call.keywords if k.arg == "max_grad_norm"), None)
            if keyword is not None and isinstance(keyword.value, ast.Constant) and keyword.value.value in (0, None):
                found.append(Proposal(f"set `max_grad_norm={MAX_NORM}` in `{short}(...)`",
                                      (_replace_node(source, keyword.value, str(MAX_NORM)),)))
        elif lightning and short == "Trainer" and name.split(".")[0] in _LIGHTNING:
            keyword = next((k for k in call.keywords if k.arg == "gradient_clip_val"), None)
            if keyword is None:
                edit = _add_keyword(source, call, f"gradient_clip_val={MAX_NORM}")
            elif isinstance(keyword.value, ast.Constant) and keyword.value.value in (0, None):
                edit = _replace_node(source, keyword.value, str(MAX_NORM))
            else:
                continue
            if edit is not None:
                found.append(Proposal(f"add `gradient_clip_val={MAX_NORM}` to `Trainer(...)`", (edit,)))
    return found


def _replace_node(source: SourceFile, node: ast.expr, text: str) -> Edit:
    """Replace an expression's text (ast positions: columns in UTF-8 bytes)."""
    line, col = node.lineno, _column(source, node.lineno, node.col_offset)
    end_line, end_col = node.end_lineno or line, _column(source, node.end_lineno or line, node.end_col_offset or 0)
    return Edit(str(source.path), line, col, end_line, end_col, text)


def _column(source: SourceFile, line: int, byte_offset: int) -> int:
    return len(source.text.splitlines()[line - 1].encode("utf-8")[:byte_offset].decode("utf-8", errors="replace"))


def _add_keyword(source: SourceFile, call: ast.Call, keyword: str) -> Edit | None:
    """``keyword`` added as the call's last argument, in the layout of its arguments: on a line
    of its own after a trailing comma, else after the last argument."""
    arguments = [*call.args, *call.keywords]
    if not arguments:
        end_line, end_col = call.end_lineno, _column(source, call.end_lineno, call.end_col_offset) - 1
        return Edit(str(source.path), end_line, end_col, end_line, end_col, keyword)
    last = max(arguments, key=lambda a: (a.end_lineno, a.end_col_offset))
    value = last.value if isinstance(last, ast.keyword) else last
    line, col = value.end_lineno, _column(source, value.end_lineno, value.end_col_offset)
    rest = source.text.splitlines()[line - 1][col:]
    stripped = rest.lstrip()
    if stripped.startswith(",") and not stripped[1:].split("#")[0].strip():
        # a trailing comma ending its line: the keyword on a line of its own, indented alike
        start = value.lineno if isinstance(last, ast.expr) else last.lineno
        indent = _indent(source, start)
        end = len(source.text.splitlines()[line - 1])
        return Edit(str(source.path), line, end, line, end, f"\n{indent}{keyword},")
    return Edit(str(source.path), line, col, line, col, f", {keyword}")
