"""Configuration: ``[tool.gradlint]`` in the nearest pyproject.toml, overridden by CLI flags.

```toml
[tool.gradlint]
select = ["GL"]                      # codes or prefixes; the longest matching prefix wins
ignore = ["GL501"]
extend-select = []
fail-level = "warning"               # info | warning | error
per-file-ignores = { "experiments/*" = ["GL4"] }

optimizer = "SGD"                    # how the models are trained, for the dry run (GL701):
lr = 0.05                            # a torch.optim class and its first steps' hyperparameters
momentum = 0.9                       # (also weight-decay, betas, eps, nesterov)

[tool.gradlint.probe]
enabled = true
batch-size = 8
seq-len = 32
input-std = 1.0                      # generated floating inputs: standard normal × this
seed = 0
device = "cpu"
timeout = 300                        # seconds per file and per model
memory-limit = 8                     # GiB per worker (default: 80% of RAM / parallel jobs)

[tool.gradlint.rules.GL201]          # every rule option, see `gradlint rule GL201`
min-depth = 6
```

Every unknown key, code or bad value is a ``ConfigError`` naming the key and the file.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import math
from pathlib import Path
from typing import Any

import tomllib

from gradlint.core.findings import Severity
from gradlint.core.limits import DEFAULT_TIMEOUT
from gradlint.core.settings import Settings

TOP_KEYS = {"select", "ignore", "extend-select", "fail-level", "per-file-ignores", "probe", "rules",
            "optimizer", "lr", "momentum", "weight-decay", "betas", "eps", "nesterov"}
# the optimizers a configuration may name (torch.optim's first-order ones; no torch import here)
OPTIMIZERS = ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam",
              "ASGD", "Rprop", "SparseAdam", "Adafactor")
TRAINING_KEYS = {"lr": "lr", "momentum": "momentum", "weight-decay": "weight_decay", "betas": "betas",
                 "eps": "eps", "nesterov": "nesterov"}
PROBE_KEYS = {"enabled": bool, "batch-size": int, "seq-len": int, "input-std": (int, float), "seed": int, "device": str,
              "timeout": (int, float), "memory-limit": (int, float)}


class ConfigError(Exception):
    """A configuration problem: the message names the key and the file."""


@dataclasses.dataclass(frozen=True)
class Overrides:
    """What the command line says; None means "not given: use the file"."""

    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] | None = None
    per_file_ignores: dict[str, tuple[str, ...]] | None = None
    fail_level: Severity | None = None
    probe: bool | None = None
    batch_size: int | None = None
    seq_len: int | None = None
    input_std: float | None = None
    seed: int | None = None
    device: str | None = None
    timeout: float | None = None
    memory_limit: float | None = None
    flows: bool = False  # --plot: record each model's gradient flow


@dataclasses.dataclass(frozen=True)
class FileConfig:
    path: Path | None            # the pyproject.toml it came from
    table: dict[str, Any]

    @property
    def root(self) -> Path:
        return self.path.parent if self.path else Path.cwd()


def find_config(start: Path) -> Path | None:
    """The nearest pyproject.toml upwards from ``start`` that has a [tool.gradlint] table."""
    start = start.resolve()
    directory = start if start.is_dir() else start.parent
    for candidate in (directory, *directory.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            try:
                data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError):
                # as ruff does: a broken pyproject.toml is reported (load_config says where),
                # never passed over for a parent folder's configuration
                return pyproject
            except OSError:
                continue
            tool = data.get("tool", {})
            if isinstance(tool, dict) and "gradlint" in tool:
                return pyproject
    return None


def load_config(path: Path | None, *, explicit: bool = False) -> FileConfig:
    """Read and validate ``path`` (a pyproject.toml, or with ``explicit`` a gradlint.toml-style
    file holding the table itself)."""
    if path is None:
        return FileConfig(None, {})
    shown = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot read the configuration file: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{shown}: invalid TOML: {exc}") from None
    if "tool" in data or not explicit:
        tool = data.get("tool", {})
        if not isinstance(tool, dict):
            raise ConfigError(f"{shown}: `tool` must be a table, got {tool!r}")
        table = tool.get("gradlint", {})
        prefix = "tool.gradlint"
    else:
        table, prefix = data, ""
    if not isinstance(table, dict):
        raise ConfigError(f"{shown}: `{prefix or 'the configuration'}` must be a table ([tool.gradlint]), got {table!r}")
    _validate(table, prefix, shown)
    return FileConfig(path, table)


def _validate(table: dict[str, Any], prefix: str, shown: str) -> None:
    from gradlint.rules import RULES_BY_CODE

    def key(name: str) -> str:
        return f"{prefix}.{name}" if prefix else name

    def unknown(name: str, known: set[str] | dict) -> ConfigError:
        close = difflib.get_close_matches(name.split(".")[-1], list(known), n=1)
        hint = f" (did you mean `{close[0]}`?)" if close else ""
        return ConfigError(f"{shown}: unknown key `{name}`{hint}")

    for name, value in table.items():
        if name not in TOP_KEYS:
            raise unknown(key(name), TOP_KEYS)
        if name in ("select", "ignore", "extend-select"):
            _codes(value, key(name), shown)
        elif name == "fail-level":
            if value not in ("info", "warning", "error"):
                raise ConfigError(f"{shown}: `{key(name)}` must be \"info\", \"warning\" or \"error\", got {value!r}")
        elif name == "per-file-ignores":
            if not isinstance(value, dict):
                raise ConfigError(f"{shown}: `{key(name)}` must be a table of glob = [codes]")
            for pattern, codes in value.items():
                _codes(codes, f"{key(name)}.\"{pattern}\"", shown)
        elif name == "optimizer":
            if value not in OPTIMIZERS:
                close = difflib.get_close_matches(str(value), OPTIMIZERS, n=1)
                hint = f" (did you mean \"{close[0]}\"?)" if close else ""
                raise ConfigError(f"{shown}: `{key(name)}` must name a torch.optim optimizer "
                                  f"({', '.join(OPTIMIZERS)}), got {value!r}{hint}")
        elif name in TRAINING_KEYS:
            if "optimizer" not in table:
                raise ConfigError(f"{shown}: `{key(name)}` needs `{key('optimizer')}` (e.g. optimizer = \"SGD\")")
            if name == "nesterov":
                _typed(value, bool, key(name), shown)
            elif name == "betas":
                if (not isinstance(value, list) or len(value) != 2
                        or not all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in value)):
                    raise ConfigError(f"{shown}: `{key(name)}` must be two numbers in [0, 1), got {value!r}")
            else:
                _typed(value, (int, float), key(name), shown)
                if name == "lr" and value == 0:
                    raise ConfigError(f"{shown}: `{key(name)}` must be positive, got {value!r}")
                if name == "momentum" and value >= 1:
                    raise ConfigError(f"{shown}: `{key(name)}` must be below 1, got {value!r}")
        elif name == "probe":
            if not isinstance(value, dict):
                raise ConfigError(f"{shown}: `{key(name)}` must be a table")
            for option, setting in value.items():
                if option not in PROBE_KEYS:
                    raise unknown(f"{key(name)}.{option}", PROBE_KEYS)
                _typed(setting, PROBE_KEYS[option], f"{key(name)}.{option}", shown)
                if option == "input-std" and setting == 0:
                    raise ConfigError(f"{shown}: `{key(name)}.{option}` must be positive, got {setting!r}")
        elif name == "rules":
            if not isinstance(value, dict):
                raise ConfigError(f"{shown}: `{key(name)}` must be a table of rule codes")
            for code, options in value.items():
                rule = RULES_BY_CODE.get(code.upper())
                if rule is None:
                    raise unknown(f"{key(name)}.{code}", RULES_BY_CODE)
                if not isinstance(options, dict):
                    raise ConfigError(f"{shown}: `{key(name)}.{code}` must be a table of options")
                for option, setting in options.items():
                    if option not in rule.options:
                        raise unknown(f"{key(name)}.{code}.{option}", rule.options)
                    default = rule.options[option]
                    expected = (int, float) if isinstance(default, float) else type(default)
                    _typed(setting, expected, f"{key(name)}.{code}.{option}", shown)


def _codes(value: Any, name: str, shown: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise ConfigError(f"{shown}: `{name}` must be a list of rule codes or prefixes")
    for code in value:
        check_code(code, f"{shown}: `{name}`")
    return tuple(c.upper() for c in value)


def check_code(code: str, where: str) -> None:
    from gradlint.rules import RULES_BY_CODE

    if not any(known.startswith(code.upper()) for known in RULES_BY_CODE) or not code:
        raise ConfigError(f"{where}: unknown rule code or prefix {code!r}; `gradlint rule --all` lists them")


def _typed(value: Any, expected: type | tuple, name: str, shown: str) -> None:
    types = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, bool) and bool not in types or not isinstance(value, types):
        names = " or ".join(t.__name__ for t in types)
        raise ConfigError(f"{shown}: `{name}` must be {names}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{shown}: `{name}` must be a finite number, got {value!r}")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        raise ConfigError(f"{shown}: `{name}` must not be negative, got {value!r}")
    limit = _RANGES.get(name.rpartition(".")[2])
    if limit is not None and not isinstance(value, bool) and not limit[0] <= value <= limit[1]:
        raise ConfigError(f"{shown}: `{name}` must be between {limit[0]} and {limit[1]}, got {value!r}")


# sizes of generated inputs: beyond these a probe batch alone would not fit a machine's memory
_RANGES = {"batch-size": (1, 4096), "seq-len": (1, 65536)}


def settings_for(file: Path | None, config: FileConfig, cli: Overrides) -> Settings:
    """The settings for one linted file: file configuration, then command line, then the
    per-file ignores whose glob matches the file (relative to the configuration's directory)."""
    table = config.table
    probe = table.get("probe", {})
    select = cli.select if cli.select is not None else tuple(c.upper() for c in table.get("select", ()))
    extend = cli.extend_select if cli.extend_select is not None else tuple(
        c.upper() for c in table.get("extend-select", ()))
    if extend:
        select = (*(select or ("GL",)), *extend)
    ignore = list(cli.ignore if cli.ignore is not None else (c.upper() for c in table.get("ignore", ())))
    per_file = cli.per_file_ignores if cli.per_file_ignores is not None else {
        k: tuple(c.upper() for c in v) for k, v in table.get("per-file-ignores", {}).items()}
    if file is not None:
        ignore.extend(code for pattern, codes in per_file.items() if _matches(file, pattern, config.root)
                      for code in codes)
    rule_options = {code.upper(): dict(options) for code, options in table.get("rules", {}).items()}

    def pick(flag: Any, key: str, default: Any) -> Any:
        return flag if flag is not None else probe.get(key, default)

    return Settings(
        select=tuple(select), ignore=tuple(ignore),
        probe=pick(cli.probe, "enabled", True),
        seed=pick(cli.seed, "seed", 0),
        batch_size=pick(cli.batch_size, "batch-size", 8),
        seq_len=pick(cli.seq_len, "seq-len", 32),
        input_std=float(pick(cli.input_std, "input-std", 1.0)),
        device=pick(cli.device, "device", "cpu"),
        model_timeout=float(pick(cli.timeout, "timeout", DEFAULT_TIMEOUT)),
        memory_limit=pick(cli.memory_limit, "memory-limit", None),
        rule_options=rule_options,
        flows=cli.flows,
        optimizer=configured_optimizer(config),
    )


def configured_optimizer(config: FileConfig) -> dict[str, Any] | None:
    """The optimizer stated in ``[tool.gradlint]``, as an OptimizerSetup's dict (JSON for the
    worker), located at the `optimizer` key's line; None when none is stated."""
    table = config.table
    if "optimizer" not in table:
        return None
    hyper = {TRAINING_KEYS[k]: table[k] for k in TRAINING_KEYS if k in table}
    location = None
    if config.path is not None:
        line = 1
        try:
            for number, text in enumerate(config.path.read_text(encoding="utf-8").splitlines(), start=1):
                if text.strip().startswith(("optimizer =", "optimizer=")):
                    line = number
                    break
        except OSError:
            pass
        from gradlint.core.findings import display_path

        location = {"path": display_path(str(config.path.resolve())), "line": line, "col": 1,
                    "end_line": None, "end_col": None}
    return {"name": table["optimizer"], "hyperparameters": hyper, "origin": "config", "location": location,
            "clip_norm": None, "clip_value": None, "clipping_where": None, "scheduler": None,
            "grad_scaler": False}


def fail_level(config: FileConfig, cli: Overrides) -> Severity:
    if cli.fail_level is not None:
        return cli.fail_level
    return Severity.parse(config.table.get("fail-level", "warning"))


def _matches(file: Path, pattern: str, root: Path) -> bool:
    resolved = file.resolve()
    try:
        relative = resolved.relative_to(root.resolve()).as_posix()
    except ValueError:
        relative = resolved.as_posix()
    return fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(resolved.name, pattern)
