"""Facts about a project that rules read, computed once per project root from its source:
where gradient clipping is configured (and at what value), whether a vanilla recurrence is built,
every optimizer constructed (with its hyperparameters resolved like constructor arguments,
the model class it trains when the source says, a warm-up scheduler's starting learning rate),
where the training runs in float16 in a way that needs loss scaling and whether a loss scaler
exists, and whether any learning-rate warm-up is configured.

One immutable ``ProjectFacts`` per root, computed here (the runner, no torch needed) and handed
to the worker as JSON (``to_dict``/``from_dict``); source rules and model rules read the same
value. No rule module is imported here: rules import this module.
"""

from __future__ import annotations

import ast
import dataclasses
import os
import re
from pathlib import Path
from typing import Any

from gradlint.core.findings import Location, display_path
from gradlint.core.training import OptimizerSetup
from gradlint.source.callsites import CONFIG_SUFFIXES, Evaluator, config_targets, is_resolved, names_targets
from gradlint.source.notebook import NotebookError, source_text
from gradlint.source.project import calls, parse_source, project_files, statements

OPTIMIZER_MODULES = (
    "torch.optim", "bitsandbytes.optim", "apex.optimizers", "deepspeed.ops.adam",
    "transformers.optimization", "timm.optim",
)
_NOT_OPTIMIZERS = {"lr_scheduler", "swa_utils", "Optimizer", "optimizer"}
CLIP_FUNCTIONS = {
    "clip_grad_norm_", "clip_grad_value_", "clip_grad_norm", "clip_grads_with_norm_",
    "clip_gradients", "clip_grad_by_norm_",
}
_CLAMPS = {"clamp", "clamp_", "clip", "clip_"}
_FALSE_VALUES = (None, 0, 0.0, False)
_CONFIG_SUFFIXES = (".json", ".yaml", ".yml", ".toml", ".cfg", ".ini")
_CONFIG_CLIP = re.compile(
    r"""["']?(gradient_clip_val|max_grad_norm|gradient_clipping|clip_grad_norm|grad_clip)["']?"""
    r"""\s*[:=]\s*["']?([0-9.eE+-]+)"""
)
_MENTIONS = re.compile(r"clip|clamp|max_grad_norm|TrainingArguments")
_MENTIONS_OPTIMIZER = re.compile(r"optim|Adam|SGD|RMSprop|Adafactor|Lion")
# the numeric settings of torch.optim's constructors (the first parameter group's)
HYPERPARAMETERS = ("lr", "momentum", "dampening", "weight_decay", "nesterov", "betas", "eps", "alpha",
                   "centered", "amsgrad", "rho", "lr_decay", "momentum_decay", "maximize")
_WARMUP_SCHEDULERS = {"LinearLR", "OneCycleLR", "get_linear_schedule_with_warmup",
                      "get_cosine_schedule_with_warmup", "get_constant_schedule_with_warmup",
                      "LinearWarmupCosineAnnealingLR"}
# the dry run's horizon, for warm-ups that rise step by step: the largest learning rate reached
# within its first steps is the one it must survive
WARMUP_HORIZON = 30


@dataclasses.dataclass(frozen=True)
class ProjectFacts:
    root: str
    clipping: str | None = None            # `path:line` of the first clipping configured, or None
    clip_norm: float | None = None         # its max_norm when the source gives it
    clip_value: float | None = None        # clip_grad_value_'s clip_value when the source gives it
    vanilla_recurrence: bool = False       # some file of the project builds nn.RNN / nn.RNNCell
    optimizers: tuple[OptimizerSetup, ...] = ()
    owners: tuple[str | None, ...] = ()    # per optimizer: the model class it trains, when known
    fp16: tuple[Fp16Site, ...] = ()        # float16 settings that need loss scaling (GL801)
    grad_scaler: str | None = None         # `path:line` of the first loss scaler built, or None
    warmup: str | None = None              # `path:line` of the first learning-rate warm-up, or None

    def to_dict(self) -> dict[str, Any]:
        return {"root": self.root, "clipping": self.clipping, "clip_norm": self.clip_norm,
                "clip_value": self.clip_value, "vanilla_recurrence": self.vanilla_recurrence,
                "optimizers": [setup_to_dict(s) for s in self.optimizers], "owners": list(self.owners),
                "fp16": [dataclasses.asdict(site) for site in self.fp16], "grad_scaler": self.grad_scaler,
                "warmup": self.warmup}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ProjectFacts | None:
        if data is None:
            return None
        return cls(data["root"], data.get("clipping"), data.get("clip_norm"), data.get("clip_value"),
                   bool(data.get("vanilla_recurrence")),
                   tuple(setup_from_dict(s) for s in data.get("optimizers", ())),
                   tuple(data.get("owners", ())),
                   tuple(Fp16Site(Location(**site["location"]), site["how"], site.get("owner"))
                         for site in data.get("fp16", ())),
                   data.get("grad_scaler"), data.get("warmup"))

    def optimizer_for(self, class_names: tuple[str, ...], source: str | None = None,
                      found_in: str | None = None) -> tuple[OptimizerSetup | None, str | None]:
        """The optimizer that trains a model of one of ``class_names`` (its class and its bases),
        defined in the file ``source`` and found (built, or defined) in the file ``found_in``: the
        construction whose parameters name it, else the only optimizer of the project, else the
        only one naming no model in the model's own file or the file that builds it (a script that
        defines its model, or builds a library's, and trains it). With several candidates and none
        of these: None and a note saying so."""
        for name in class_names:
            named = [s for s, owner in zip(self.optimizers, self.owners) if owner == name]
            if named:
                return named[0], None
        free = [s for s, owner in zip(self.optimizers, self.owners) if owner is None]
        if len(self.optimizers) == 1 and free:
            return free[0], None
        here = {os.path.realpath(path) for path in (source, found_in) if path}
        local = [s for s in free if s.location and os.path.realpath(s.location.path) in here]
        if len(local) == 1:
            return local[0], None
        if len(free) > 1:
            where = ", ".join(_where(s) for s in free[:3]) + (" ..." if len(free) > 3 else "")
            return None, (f"{len(free)} optimizers are constructed in the project ({where}) and none "
                          "names this model's parameters, so none was used; state it in "
                          "[tool.gradlint] (optimizer = \"SGD\", lr = 0.05)")
        return None, None


def _where(setup: OptimizerSetup) -> str:
    return f"{setup.location.path}:{setup.location.line}" if setup.location else setup.name


def setup_to_dict(setup: OptimizerSetup) -> dict[str, Any]:
    data = dataclasses.asdict(setup)
    data["hyperparameters"] = {k: list(v) if isinstance(v, tuple) else v for k, v in setup.hyperparameters.items()}
    return data


def setup_from_dict(data: dict[str, Any] | None) -> OptimizerSetup | None:
    if data is None:
        return None
    data = dict(data)
    location = data.get("location")
    data["location"] = Location(**location) if isinstance(location, dict) else location
    data["hyperparameters"] = {k: tuple(v) if isinstance(v, list) else v
                               for k, v in (data.get("hyperparameters") or {}).items()}
    return OptimizerSetup(**data)


_CACHE: dict[Path, ProjectFacts] = {}


def project_facts(root: Path) -> ProjectFacts:
    """The facts of the project at ``root`` (computed once per root and process)."""
    root = root.resolve()
    if root not in _CACHE:
        _CACHE[root] = compute_facts(root)
    return _CACHE[root]


def compute_facts(root: Path) -> ProjectFacts:
    where, norm, value = find_clipping_setup(root)
    recurrent = False
    optimizers: list[tuple[OptimizerSetup, str | None]] = []
    configured: list[tuple[OptimizerSetup, str | None]] = []  # named in YAML configs (after the source's)
    fp16: list[Fp16Site] = []
    scaler = warm = None
    for path in project_files(root, (".py", ".ipynb", *CONFIG_SUFFIXES, *_CONFIG_SUFFIXES)):
        if path.suffix not in (".py", ".ipynb", *CONFIG_SUFFIXES) and _too_large(path):
            continue  # a data file, not a configuration
        try:   # a notebook's code cells as one source: its lines map back to cells when shown
            text = source_text(path) if path.suffix == ".ipynb" else path.read_text(encoding="utf-8", errors="replace")
        except (OSError, UnicodeDecodeError, NotebookError):
            continue
        if path.suffix not in (".py", ".ipynb"):
            if path.suffix in CONFIG_SUFFIXES and names_targets(text) and _MENTIONS_OPTIMIZER.search(text):
                configured.extend(config_optimizers(path, text))
            line = warmup_in_config(text) if warm is None and "warm" in text else None
            if line is not None:
                warm = f"{display_path(str(path))}:{line}"
            continue
        mentions_rnn = "RNN" in text
        mentions_optimizer = _MENTIONS_OPTIMIZER.search(text)
        mentions_precision = _MENTIONS_PRECISION.search(text)
        mentions_warmup = warm is None and _MENTIONS_WARMUP.search(text)
        if not (mentions_rnn or mentions_optimizer or mentions_precision or mentions_warmup):
            continue
        try:
            tree = parse_source(text)
        except (SyntaxError, ValueError, RecursionError):
            continue
        recurrent = recurrent or (mentions_rnn and builds_vanilla_rnn(tree))
        if mentions_rnn or mentions_optimizer:
            optimizers.extend(find_optimizers(tree, path))
        if mentions_precision:
            fp16.extend(fp16_sites(tree, path))
            line = grad_scaler_line(tree) if scaler is None else None
            if line is not None:
                scaler = f"{display_path(str(path))}:{line}"
        if mentions_warmup:
            line = warmup_line(tree)
            if line is not None:
                warm = f"{display_path(str(path))}:{line}"
    optimizers.extend(configured)
    clipped = {"clip_norm": norm, "clip_value": value, "clipping_where": where}
    setups = tuple(dataclasses.replace(s, **clipped) for s, _ in optimizers)
    return ProjectFacts(str(root), where, norm, value, recurrent, setups, tuple(o for _, o in optimizers),
                        tuple(fp16), scaler, warm)


# ------------------------------------------------------------------------------------ optimizers

def is_optimizer(name: str) -> bool:
    module, _, short = name.rpartition(".")
    if not short or not short[0].isupper() or any(p in _NOT_OPTIMIZERS for p in name.split(".")):
        return False
    return any(module == m or module.startswith(m + ".") for m in OPTIMIZER_MODULES) or name in (
        "transformers.AdamW", "transformers.Adafactor")


def optimizer_calls(tree: ast.Module) -> list[tuple[ast.Call, str]]:
    """Every optimizer construction in ``tree`` with the dotted name it resolves to."""
    imports = ImportMap.of(tree)
    found = []
    for call in calls(tree):
        name = imports.resolve(call.func)
        if name is not None and is_optimizer(name):
            found.append((call, name))
    return found


def find_optimizers(tree: ast.Module, path: Path) -> list[tuple[OptimizerSetup, str | None]]:
    constructed = optimizer_calls(tree)
    if not constructed:
        return []
    evaluator = Evaluator(tree)
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    schedulers = _schedulers(tree, evaluator)
    found = []
    for call, name in constructed:
        shown = _shown(name)
        hyper = optimizer_hyperparameters(call, evaluator)
        scheduler = None
        if schedulers and "lr" in hyper:
            scheduler, factor = schedulers[0]
            hyper["lr"] = factor(hyper["lr"])
        location = Location(display_path(str(path)), call.lineno, call.col_offset + 1,
                            call.end_lineno, (call.end_col_offset or 0) + 1)
        setup = OptimizerSetup(shown, hyper, "source", location, scheduler=scheduler)
        found.append((setup, _owner(call, tree, parents)))
    return found


def _shown(name: str) -> str:
    """An optimizer's name as the user reads it: ``SGD`` for torch.optim's, else the full path."""
    return name.rsplit(".", 1)[-1] if name.startswith("torch.optim.") else name


def config_optimizers(path: Path, text: str) -> list[tuple[OptimizerSetup, str | None]]:
    """Optimizers a Hydra/OmegaConf config names (``_target_: torch.optim.SGD``, usually with
    ``_partial_: true``), with the hyperparameters it gives; the model class whose mapping holds
    it (a LightningModule's ``optimizer:``) trains with it. A warm-up scheduler named beside it
    (in the same mapping) gives the learning rate of the first steps, as in the source."""
    targets = config_targets(path, text)
    warmups = {}
    for target in targets:
        factor = warmup(target.target.name, target.target.kwargs) if target.target.name in _WARMUP_SCHEDULERS else None
        if factor is not None:
            warmups.setdefault(target.outer, (target.target.name, factor))
    found = []
    for target in targets:
        if not is_optimizer(target.target.path):
            continue
        shown = _shown(target.target.path)
        hyper = {k: tuple(v) if isinstance(v, list) else v for k, v in target.target.kwargs.items()
                 if k in HYPERPARAMETERS and is_resolved(v) and _plain(v)}
        scheduler = None
        if target.outer in warmups and "lr" in hyper:
            scheduler, factor = warmups[target.outer]
            hyper["lr"] = factor(hyper["lr"])
        found.append((OptimizerSetup(shown, hyper, "source", Location(target.path, target.line, 1),
                                     scheduler=scheduler), target.outer))
    return found


def optimizer_hyperparameters(call: ast.Call, evaluator: Evaluator) -> dict[str, Any]:
    """The first parameter group's settings: the constructor's keywords (lr also as the second
    positional argument), overridden by the first group's own keys (``[{"params": ..., "lr": ...}]``);
    only values the source resolves."""
    hyper: dict[str, Any] = {}

    def put(key: str, node: ast.AST) -> None:
        if key not in HYPERPARAMETERS:
            return
        value = evaluator.value(node)
        if is_resolved(value) and _plain(value):
            hyper[key] = tuple(value) if isinstance(value, list) else value

    if len(call.args) > 1:
        put("lr", call.args[1])
    for keyword in call.keywords:
        if keyword.arg:
            put(keyword.arg, keyword.value)
    groups = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "params"), None)
    if isinstance(groups, (ast.List, ast.Tuple)) and groups.elts and isinstance(groups.elts[0], ast.Dict):
        for key, value in zip(groups.elts[0].keys, groups.elts[0].values):
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                put(key.value, value)
    return hyper


def _plain(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return isinstance(value, (int, float, bool))


def _owner(call: ast.Call, tree: ast.Module, parents: dict[ast.AST, ast.AST]) -> str | None:
    """The model class whose parameters the optimizer takes: ``X.parameters()`` where ``X = Cls(...)``
    in the same scope or module, or ``self.parameters()`` inside ``class Cls``."""
    params = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "params"), None)
    if params is None:
        return None
    for node in ast.walk(params):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("parameters", "named_parameters")):
            continue
        base = node.func.value
        while isinstance(base, ast.Attribute):
            base = base.value
        if not isinstance(base, ast.Name):
            return None
        if base.id == "self":
            scope = parents.get(call)
            while scope is not None and not isinstance(scope, ast.ClassDef):
                scope = parents.get(scope)
            return scope.name if scope is not None else None
        return _class_assigned(base.id, tree)
    return None


# class methods that build a model of their class (Hugging Face's, and the like)
_BUILDERS = frozenset({"from_pretrained", "from_config", "_from_config"})


def _class_assigned(name: str, tree: ast.Module) -> str | None:
    """The class of the last ``name = Cls(...)`` (or ``Cls(...).to(...)``, ``Cls.from_config(...)``)
    in the file, where ``Cls`` is defined in the file or imported into it, by name or as an
    attribute of an imported module (``transformers.GPT2LMHeadModel(config)``)."""
    known = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
    known |= {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    modules = {a.asname or a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    found = None
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if not any(isinstance(t, ast.Name) and t.id == name for t in targets):
                continue
            value = node.value
            while (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)
                   and value.func.attr in ("to", "cuda", "cpu", "double", "float", "train")):
                value = value.func.value
            if not isinstance(value, ast.Call):
                continue
            func = value.func
            if isinstance(func, ast.Attribute) and func.attr in _BUILDERS:
                func = func.value
            if isinstance(func, ast.Name) and func.id in known:
                found = func.id
            elif isinstance(func, ast.Attribute) and _root(func) in modules | known:
                found = func.attr
    return found


def _root(node: ast.expr) -> str | None:
    """The name an attribute chain starts from (``transformers`` of ``transformers.models.X``)."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _schedulers(tree: ast.Module, evaluator: Evaluator) -> list[tuple[str, Any]]:
    """Warm-up schedulers in the file, each with the map from the optimizer's learning rate to
    the largest one of the first WARMUP_HORIZON steps."""
    found = []
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call):
            continue
        func = call.func
        short = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        if short not in _WARMUP_SCHEDULERS:
            continue
        given = {name: evaluator.value(node) for name, node in zip(_WARMUP_POSITIONS[short], call.args[1:])}
        given.update((k.arg, evaluator.value(k.value)) for k in call.keywords if k.arg)
        factor = warmup(short, given)
        if factor is not None:
            found.append((short, factor))
    return found


# a warm-up scheduler's arguments after the optimizer, in order (the rest are keyword arguments here)
_WARMUP_POSITIONS = {
    "LinearLR": ("start_factor", "end_factor", "total_iters"), "OneCycleLR": ("max_lr", "total_steps"),
    "LinearWarmupCosineAnnealingLR": ("warmup_epochs",),
    **{name: ("num_warmup_steps",) for name in ("get_linear_schedule_with_warmup", "get_cosine_schedule_with_warmup",
                                                "get_constant_schedule_with_warmup")},
}


def warmup(short: str, given: dict[str, Any]) -> Any:
    """For the warm-up scheduler ``short`` with the arguments ``given`` (by name; values the
    source does not give are absent, unresolved ones anything but a number), the map from the
    optimizer's learning rate to the largest one its first WARMUP_HORIZON steps reach; None when
    an argument it needs is unknown."""
    def arg(name: str, default: Any) -> Any:
        value = given.get(name, default)
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    if short == "LinearLR":
        start, total, end = arg("start_factor", 1 / 3), arg("total_iters", 5), arg("end_factor", 1.0)
        if start is None or total is None or end is None:
            return None
        reached = start + (end - start) * min(1.0, (WARMUP_HORIZON - 1) / max(total, 1))
        return lambda lr: lr * reached
    if short == "OneCycleLR":
        max_lr, div = arg("max_lr", None), arg("div_factor", 25.0)
        steps, start = arg("total_steps", None), arg("pct_start", 0.3)
        if max_lr is None or div is None:
            return None
        rise = (steps or 0) * (start or 0.3)
        share = min(1.0, (WARMUP_HORIZON - 1) / rise) if rise else 1.0
        return lambda lr: max_lr / div + (max_lr - max_lr / div) * share
    if short == "LinearWarmupCosineAnnealingLR":
        steps = arg("warmup_epochs", None)
        return lambda lr: lr * min(1.0, WARMUP_HORIZON / steps) if steps else lr
    steps = arg("num_warmup_steps", None)  # Hugging Face: the learning rate rises linearly from 0
    if steps is None:
        return None
    return lambda lr: lr * min(1.0, WARMUP_HORIZON / steps) if steps else lr


# ------------------------------------------------------------------------------ precision, warm-up

@dataclasses.dataclass(frozen=True)
class Fp16Site:
    """A place where the training code runs in float16 in a way that needs loss scaling: a
    float16 autocast, ``torch.cuda.amp.autocast()`` (float16 by default), a model converted with
    ``.half()`` / ``.to(torch.float16)``, or Lightning's ``precision="16-true"``. Trainers that
    scale the loss themselves (Lightning ``16-mixed``, Hugging Face ``fp16=True``, Accelerate's
    ``mixed_precision="fp16"``, DeepSpeed's ``fp16``) are not sites."""

    location: Location
    how: str                    # the setting as the user reads it: "torch.autocast(dtype=float16)"
    owner: str | None = None    # the model class converted, when the source says


_AUTOCASTS = {  # the autocast entry points, each with its position of dtype and its default dtype
    "torch.autocast": (1, None), "torch.amp.autocast": (1, None),
    "torch.amp.autocast_mode.autocast": (1, None),
    "torch.cuda.amp.autocast": (1, "float16"), "torch.cuda.amp.autocast_mode.autocast": (1, "float16"),
    "torch.cpu.amp.autocast": (1, "bfloat16"),
}
# torch.autocast's default dtype by device type (torch.get_autocast_dtype)
_AUTOCAST_DEFAULT = {"cuda": "float16", "mps": "float16", "cpu": "bfloat16", "xpu": "bfloat16", "hpu": "bfloat16"}
_FLOAT16 = {"torch.float16", "torch.half"}
_BFLOAT16 = {"torch.bfloat16"}
_MODEL_NAME = re.compile(r"model|net|module|encoder|decoder|transformer", re.IGNORECASE)
_CHAINED = ("to", "cuda", "cpu", "train", "eval", "half", "float", "requires_grad_")
_MENTIONS_PRECISION = re.compile(r"autocast|half|float16|GradScaler|precision|amp\.initialize")
_MENTIONS_WARMUP = re.compile(r"warm|LinearLR|OneCycleLR|LambdaLR|MultiplicativeLR|\[\s*['\"]lr['\"]\s*\]")
_WARMUP_KEYWORDS = {"warmup_steps", "warmup_ratio", "num_warmup_steps", "warmup_epochs", "warmup_iters",
                    "warmup_t", "warmup_num_steps", "warmup"}
_CONFIG_WARMUP = re.compile(
    r"""["']?(warmup_steps|warmup_ratio|num_warmup_steps|warmup_epochs|warmup_iters|warmup_num_steps)["']?"""
    r"""\s*[:=]\s*["']?([0-9.eE+-]+)""")


def fp16_sites(tree: ast.Module, path: Path) -> list[Fp16Site]:
    """The float16 settings in a parsed file that need loss scaling (see ``Fp16Site``)."""
    imports = ImportMap.of(tree)
    constructed = _constructed_names(tree, imports)
    found = []
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call):
            continue
        how, owner = _fp16_setting(call, imports, constructed)
        if how is not None:
            location = Location(display_path(str(path)), call.lineno, call.col_offset + 1,
                                call.end_lineno, (call.end_col_offset or 0) + 1)
            found.append(Fp16Site(location, how, owner))
    return sorted(found, key=lambda s: (s.location.line, s.location.col))


def _fp16_setting(call: ast.Call, imports: ImportMap, constructed: dict[str, str]) -> tuple[str | None, str | None]:
    func = call.func
    name = imports.resolve(func) or ""
    short = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name in _AUTOCASTS:
        if _literal_keyword(call, "enabled") is False:
            return None, None
        position, default = _AUTOCASTS[name]
        dtype_node = next((k.value for k in call.keywords if k.arg == "dtype"), None)
        if dtype_node is None and len(call.args) > position:
            dtype_node = call.args[position]
        if dtype_node is not None:
            dtype = imports.resolve(dtype_node)
            if dtype in _FLOAT16:
                return "torch.autocast(dtype=float16)", None
            return None, None
        if default is None:  # torch.autocast: the device type's default
            device = _literal_keyword(call, "device_type", 0)
            default = _AUTOCAST_DEFAULT.get(device) if isinstance(device, str) else None
            return ("torch.autocast(dtype=float16)", None) if default == "float16" else (None, None)
        return ("torch.cuda.amp.autocast()", None) if default == "float16" else (None, None)
    if short in ("Trainer", "Fabric") and _literal_keyword(call, "precision") in ("16-true", "16-true-mixed"):
        return f'{short}(precision="16-true")', None
    if isinstance(func, ast.Attribute) and short in ("half", "to"):
        if short == "half" and (call.args or call.keywords):
            return None, None
        if short == "to" and not any(imports.resolve(a) in _FLOAT16 for a in
                                     [*call.args, *(k.value for k in call.keywords if k.arg == "dtype")]):
            return None, None
        owner = _model_receiver(func.value, imports, constructed)
        if owner is not None:
            return (".half()" if short == "half" else ".to(torch.float16)"), owner or None
    return None, None


def _constructed_names(tree: ast.Module, imports: ImportMap) -> dict[str, str]:
    """Names assigned a class construction in the file (``model = Net(...)``, possibly followed by
    ``.to(...)``/``.cuda()``), with the class name."""
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            cls = _construction(node.value, imports)
            if cls is None:
                continue
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                if isinstance(target, ast.Name):
                    found[target.id] = cls
    return found


def _construction(value: ast.AST, imports: ImportMap) -> str | None:
    """The class name when ``value`` constructs an object of a CamelCase class (not a tensor),
    possibly followed by chained ``.to()``/``.cuda()``/``.half()`` calls."""
    while (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)
           and value.func.attr in _CHAINED):
        value = value.func.value
    if not isinstance(value, ast.Call):
        return None
    func = value.func
    short = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    resolved = imports.resolve(func) or ""
    if not short or not short[0].isupper() or short.endswith("Tensor") or resolved.startswith("torch.Tensor"):
        return None
    return short


def _model_receiver(value: ast.AST, imports: ImportMap, constructed: dict[str, str]) -> str | None:
    """The model class when ``value`` (what ``.half()``/``.to()`` is called on) is a model: a class
    construction, a name assigned one, or a name that says it is a model (``model``, ``net``,
    ``self.encoder``); "" when it is a model of unknown class; None when it is not (data)."""
    cls = _construction(value, imports)
    if cls is not None:
        return cls
    while isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr in _CHAINED:
        value = value.func.value
    if isinstance(value, ast.Name):
        if value.id in constructed:
            return constructed[value.id]
        return "" if _MODEL_NAME.search(value.id) else None
    if isinstance(value, ast.Attribute) and _MODEL_NAME.search(value.attr):
        return ""
    return None


def grad_scaler_line(tree: ast.Module) -> int | None:
    """Line of the first loss scaler built in a parsed file: torch's ``GradScaler`` (``torch.amp``,
    ``torch.cuda.amp``, FSDP's ``ShardedGradScaler``) unless ``enabled=False``, or apex's
    ``amp.initialize``."""
    imports = ImportMap.of(tree)
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call):
            continue
        func = call.func
        short = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        resolved = imports.resolve(func) or ""
        if short in ("GradScaler", "ShardedGradScaler") and _literal_keyword(call, "enabled") is not False:
            return call.lineno
        if resolved == "apex.amp.initialize":
            return call.lineno
    return None


def warmup_line(tree: ast.Module) -> int | None:
    """Line of the first learning-rate warm-up configured in a parsed file: a warm-up scheduler
    (``LinearLR`` rising, ``OneCycleLR``, Hugging Face's ``get_*_schedule_with_warmup``, a
    ``LambdaLR``/``MultiplicativeLR`` whose function says ``warm`` or rises as ``min(1, ...)``),
    a nonzero ``warmup_steps``/``warmup_ratio``/``num_warmup_steps``/``warmup_epochs`` argument
    (Hugging Face ``TrainingArguments``, ``get_scheduler``, timm), or a hand-written schedule
    (an assignment to a parameter group's ``["lr"]``)."""
    functions = {n.name: n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Subscript) and isinstance(t.slice, ast.Constant) and t.slice.value == "lr"
                   for t in targets):
                return node.lineno
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        short = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        if short == "LinearLR":
            start, end = _literal_keyword(node, "start_factor", 1), _literal_keyword(node, "end_factor", 2)
            start = 1 / 3 if start == "absent" else start
            end = 1.0 if end == "absent" else end
            if isinstance(start, (int, float)) and isinstance(end, (int, float)) and start >= end:
                continue  # a decay
            return node.lineno
        if short and (short in _WARMUP_SCHEDULERS or "warmup" in short.lower()):
            return node.lineno
        if short in ("LambdaLR", "MultiplicativeLR"):
            function = next((k.value for k in node.keywords if k.arg == "lr_lambda"), None)
            function = function if function is not None else (node.args[1] if len(node.args) > 1 else None)
            if function is not None and _rises(function, functions):
                return node.lineno
        for keyword in node.keywords:
            if keyword.arg in _WARMUP_KEYWORDS and _literal(keyword.value) not in _FALSE_VALUES:
                return node.lineno
    return None


def _rises(function: ast.AST, functions: dict[str, ast.AST]) -> bool:
    """A LambdaLR function that warms up: it says so (``warmup``) or caps a rising factor at 1
    (``min(1.0, step / n)``)."""
    if isinstance(function, ast.Name):
        if "warm" in function.id.lower():
            return True
        function = functions.get(function.id, function)
    if "warm" in ast.unparse(function).lower():
        return True
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "min"
               and any(isinstance(a, ast.Constant) and a.value in (1, 1.0) for a in n.args)
               for n in ast.walk(function))


def warmup_in_config(text: str) -> int | None:
    """Line of the first nonzero warm-up setting in a YAML/JSON/TOML config, or None."""
    for match in _CONFIG_WARMUP.finditer(text):
        try:
            value = float(match.group(2))
        except ValueError:
            continue
        if value != 0:
            return text.count("\n", 0, match.start()) + 1
    return None



def _too_large(path: Path) -> bool:
    try:
        return path.stat().st_size > 1_000_000
    except OSError:
        return True


# -------------------------------------------------------------------------------------- clipping

@dataclasses.dataclass
class ImportMap:
    """Local names -> the dotted names they were imported as."""

    names: dict[str, str]

    @classmethod
    def of(cls, tree: ast.Module) -> ImportMap:
        names: dict[str, str] = {}
        for node in statements(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        names[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        names[top] = top
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        return cls(names)

    def resolve(self, expr: ast.AST) -> str | None:
        parts = []
        while isinstance(expr, ast.Attribute):
            parts.append(expr.attr)
            expr = expr.value
        if not isinstance(expr, ast.Name) or expr.id not in self.names:
            return None
        return ".".join([self.names[expr.id], *reversed(parts)])


def clipping_in_python(tree: ast.Module) -> int | None:
    """Line of the first gradient-clipping idiom in a parsed file, or None."""
    found = clipping_setup_in_python(tree)
    return found[0] if found else None


def clipping_setup_in_python(tree: ast.Module) -> tuple[int, float | None, float | None] | None:
    """(line, max_norm, clip_value) of the first gradient-clipping idiom in a parsed file (the
    values when the source gives them), or None."""
    imports = ImportMap.of(tree)
    evaluator: Evaluator | None = None

    def number(node: ast.AST | None) -> float | None:
        nonlocal evaluator
        if node is None:
            return None
        evaluator = evaluator or Evaluator(tree)
        value = evaluator.value(node)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def argument(call: ast.Call, name: str, position: int) -> ast.AST | None:
        node = next((k.value for k in call.keywords if k.arg == name), None)
        return node if node is not None else (call.args[position] if len(call.args) > position else None)

    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "configure_gradient_clipping":
            return node.lineno, None, None
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == "gradient_clipping" and _literal(value) not in _FALSE_VALUES:
                    return node.lineno, number(value), None
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        short = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        resolved = imports.resolve(func) or ""
        if short in CLIP_FUNCTIONS or resolved.rsplit(".", 1)[-1] in CLIP_FUNCTIONS:
            name = short if short in CLIP_FUNCTIONS else resolved.rsplit(".", 1)[-1]
            if name == "clip_grad_value_":
                return node.lineno, None, number(argument(node, "clip_value", 1))
            if name == "clip_gradients":
                return node.lineno, number(argument(node, "gradient_clip_val", 1)), None
            return node.lineno, number(argument(node, "max_norm", 1)), None
        for keyword in ("gradient_clip_val", "max_grad_norm", "gradient_clipping"):
            value = _literal_keyword(node, keyword)
            if value != "absent" and value not in _FALSE_VALUES:
                clip = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
                return node.lineno, (float(clip) if clip is not None else None), None
        if short and short.endswith("TrainingArguments") and _literal_keyword(node, "max_grad_norm") not in _FALSE_VALUES:
            return node.lineno, 1.0, None  # Hugging Face clips at max_grad_norm=1.0 unless told otherwise
        if short in _CLAMPS and isinstance(func, ast.Attribute) and _mentions_grad(func.value):
            return node.lineno, None, None
        if short == "register_hook" and any(
            isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute) and inner.func.attr in _CLAMPS
            for arg in node.args for inner in ast.walk(arg)
        ):
            return node.lineno, None, None
    return None


def _literal_keyword(call: ast.Call, name: str, position: int | None = None) -> object:
    for keyword in call.keywords:
        if keyword.arg == name:
            return _literal(keyword.value)
    if position is not None and len(call.args) > position:
        return _literal(call.args[position])
    return "absent"


def _literal(node: ast.AST) -> object:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return "dynamic"


def _mentions_grad(expr: ast.AST) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr == "grad" for n in ast.walk(expr))


def find_clipping(root: Path) -> str | None:
    """``path:line`` of the first gradient clipping configured anywhere under ``root``."""
    return find_clipping_setup(root)[0]


def find_clipping_setup(root: Path) -> tuple[str | None, float | None, float | None]:
    """(``path:line``, max_norm, clip_value) of the first gradient clipping configured anywhere
    under ``root``; (None, None, None) when there is none."""
    for path in project_files(root, (".py", ".ipynb", *_CONFIG_SUFFIXES)):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if not _MENTIONS.search(text):
            continue
        if path.suffix in (".py", ".ipynb"):
            try:  # a notebook's code cells, as one source (its line, not its cell, is kept here)
                found = clipping_setup_in_python(ast.parse(source_text(path) if path.suffix == ".ipynb" else text))
            except (SyntaxError, ValueError, RecursionError, NotebookError):
                continue
        else:
            found = _clipping_in_config(text)
        if found is not None:
            line, norm, value = found
            return f"{display_path(str(path))}:{line}", norm, value
    return None, None, None


def _clipping_in_config(text: str) -> tuple[int, float | None, None] | None:
    for match in _CONFIG_CLIP.finditer(text):
        try:
            value = float(match.group(2))
        except ValueError:
            continue
        if value != 0:
            return text.count("\n", 0, match.start()) + 1, value, None
    return None


def builds_vanilla_rnn(tree: ast.Module) -> bool:
    for node in calls(tree):
        func = node.func
        short = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        if short in ("RNN", "RNNCell"):
            return True
    return False
