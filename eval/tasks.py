"""The ground truth: train each case for a short, fixed, seeded budget on its family's task.

    python eval/tasks.py [--budget STEPS] [--jobs N] [CASE.py ...]    # writes eval/labels.json

With no CASE, every case under eval/cases/ is trained and labels.json is rewritten; with CASEs,
only those are (re)trained and merged into the existing labels.json. Cases are keyed by their
POSIX path relative to eval/cases/ (``mlp/plain_relu_bn_default_16.py``).

Tasks (one fixed recipe each; the family is the first directory under eval/cases/):

* ``spirals`` (mlp/, residual/, published/): two interleaved spirals, 2 classes, 2,000 points,
  noise 0.2. SGD lr 0.05, momentum 0.9, batch 128, 600 steps; cross-entropy on the whole set.
* ``blobs`` (published/deep_linear_100_orthogonal.py only: a linear model cannot fit spirals):
  two Gaussian blobs (centres ±(0.5, 0.5), σ 0.3), 2,000 points; the spirals recipe.
* ``images`` (cnn/): 1×8×8 images of a cosine grating (period 4 pixels, uniform random phase)
  in one of 4 orientations (0°, 45°, 90°, 135°) plus N(0, 1) pixel noise; 2,048 images, 4
  classes. A random phase makes every class's mean image zero, so no linear classifier on pixels
  (nor any net without a nonlinearity) beats chance. SGD lr 0.05, momentum 0.9, batch 32, 200
  steps; cross-entropy on the whole set.
* ``adding-T<T>`` (rnn_t<T>/, T = 10 and 100; clipping/, T = 20): the adding problem
  (Hochreiter & Schmidhuber 1997, THEORY.md §4): inputs (batch, T, 2), channel 0 values
  U(−1, 1), channel 1 a marker on one position in each half; the target is the sum of the two
  marked values; MSE. Fresh seeded batches of 32 every step; the loss is measured on 1,000
  held-out sequences. rnn_t10/: Adam lr 0.003, 1,000 steps. rnn_t100/: Adam lr 0.01, 1,000
  steps (at lr 0.003 not even an LSTM leaves the plateau within the budget; at lr 0.01 the T=10
  tanh RNNs oscillate). clipping/<case>/model.py: the file's own ``fit(model, batches)`` is
  called with 1,000 batches (its own optimizer, learning rate and clipping), so the label
  reflects the training code; T is the GL301 horizon in the case's pyproject.toml.
* ``histogram-T10`` (warmup/<case>/model.py, GL702): token histograms (Weiss et al. 2021): a
  sequence of 10 tokens drawn uniformly from 8, and for each position the class "how many
  times this token occurs in the sequence" − 1 (10 classes); per-token cross-entropy. It needs
  attention (a token's class depends on every other token) and no positions. The case's own
  ``fit(model, batches)`` is called with 400 fresh seeded batches of 32 (its own AdamW, learning
  rate and schedule); the loss is measured on 1,000 held-out sequences against the
  cross-entropy of predicting the classes' marginal frequencies (≈ 1.33 nats: what a model
  that ignores the other tokens can reach).
* ``spirals-fit`` and ``denoise`` (fp16/<case>/model.py, GL801; the case's pyproject.toml names
  its task in ``[tool.eval]``): the case's own ``fit(model, batches)`` with its own precision
  (float16 or bfloat16 autocast, with or without ``GradScaler``, or a ``.half()`` model).
  spirals-fit: 600 batches of 128 drawn from the spirals set (the spirals recipe's data),
  r = final / initial loss. denoise: 1×32×32 cosine gratings (period 8 pixels, one of 4
  orientations, uniform random phase, pixel values in [0, 1]) plus N(0, 0.5²) noise in, the
  clean image out, MSE over every pixel (a mean over 65,536 values a batch: the per-value
  gradient that float16 must hold is 2·error/65,536); 500 fresh seeded batches of 64; r = final
  MSE / the MSE of predicting the mean pixel on 1,000 held-out images. float16 runs for real on
  the CPU: this torch's autocast(device_type="cpu", dtype=torch.float16) computes linear layers
  in float16 (their outputs and the gradients flowing back through them are float16), a
  ``.half()`` model computes and stores everything in float16, and torch.amp.GradScaler("cpu")
  scales the loss — no emulation. Losses are measured in the model's own dtype after training
  (a ``.half()`` model is fed float16 inputs) and compared in float32.

Learning rates. A run that does not train at the task's learning rate is repeated at a third of
it and at three times it (a half-decade either way, as in any learning-rate sweep), and the case
is labelled from its best run: the labels ask whether the *model* trains within the budget, not
whether one learning rate suits it (at lr 0.05 alone, pre-LN, pre-activation BN, SkipInit and
zero-initialized residual stacks 32 blocks deep diverge to NaN; at a third of it they train).
``runs`` in labels.json records every run as [lr, label, r]; eval/report.py also scores the
labels of the first run alone. A fit() case brings its own learning rate and runs once.

Labels. Classification: r = final loss / initial loss. Adding problem: r = final MSE / the MSE of
predicting the mean (the variance of the held-out targets, ≈ 0.67), so a model that starts with a
huge output and merely learns the mean does not count as training. A run with r ≤ 0.5 "trains",
r ≥ 0.95 or a non-finite loss "fails", in between "undecided"; a case "trains" when one of its
runs trains, "fails" when every run fails, and is otherwise "undecided" (left out of the
scores). A run stops at the first non-finite training loss (label "fails"). Losses are measured
in train mode (BatchNorm normalizes with the whole set's statistics; buffers restored
afterwards): after a short budget BatchNorm's running averages can lag far behind the weights,
which is not a failure to train.

Every run is seeded (data seed 0, batch order seed 1) and single-threaded, and the model is
built right after ``torch.manual_seed(0)``, as gradlint builds it, so labels are reproducible;
``--jobs`` (default 2) only spreads cases over processes.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib.util
import json
import math
import re
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
CASES = HERE / "cases"
LABELS = HERE / "labels.json"
TRAINS, FAILS = 0.5, 0.95


# ---------------------------------------------------------------------------------------------
# data

def spirals(n: int = 2000, noise: float = 0.2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    t = torch.sqrt(torch.rand(n // 2, generator=generator)) * 3 * math.pi
    arm = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1) / (3 * math.pi)
    x = torch.cat([arm, -arm]) + noise * torch.randn(n, 2, generator=generator) / 3
    y = torch.cat([torch.zeros(n // 2), torch.ones(n // 2)]).long()
    return x, y


def blobs(n: int = 2000, sigma: float = 0.3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    centre = torch.tensor([0.5, 0.5])
    x = torch.cat([centre + sigma * torch.randn(n // 2, 2, generator=generator),
                   -centre + sigma * torch.randn(n // 2, 2, generator=generator)])
    y = torch.cat([torch.zeros(n // 2), torch.ones(n // 2)]).long()
    return x, y


def gratings(n: int = 2048, size: int = 8, period: float = 4.0, noise: float = 1.0,
             seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=generator)
    theta = y.float() * math.pi / 4
    phase = torch.rand(n, generator=generator) * 2 * math.pi
    coords = torch.arange(size).float()
    rows, cols = torch.meshgrid(coords, coords, indexing="ij")
    along = cols[None] * torch.cos(theta)[:, None, None] + rows[None] * torch.sin(theta)[:, None, None]
    x = torch.cos(2 * math.pi / period * along + phase[:, None, None])
    x = x + noise * torch.randn(n, size, size, generator=generator)
    return x[:, None], y


def adding(n: int, T: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    values = torch.rand(n, T, generator=generator) * 2 - 1
    first = torch.randint(0, T // 2, (n,), generator=generator)
    second = torch.randint(T // 2, T, (n,), generator=generator)
    rows = torch.arange(n)
    markers = torch.zeros(n, T)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    targets = (values[rows, first] + values[rows, second])[:, None]
    return torch.stack([values, markers], dim=2), targets


def histogram(n: int, generator: torch.Generator, T: int = 10, vocab: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Token histograms: ``n`` sequences of ``T`` tokens, each labelled with its count − 1."""
    ids = torch.randint(0, vocab, (n, T), generator=generator)
    return ids, (ids[:, :, None] == ids[:, None, :]).sum(-1) - 1


def denoise(n: int, generator: torch.Generator, size: int = 32, period: float = 8.0,
            noise: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy cosine gratings (1×size×size, clean pixels in [0, 1]) and the clean images."""
    theta = torch.randint(0, 4, (n,), generator=generator).float() * math.pi / 4
    phase = torch.rand(n, generator=generator) * 2 * math.pi
    coords = torch.arange(size).float()
    rows, cols = torch.meshgrid(coords, coords, indexing="ij")
    along = cols[None] * torch.cos(theta)[:, None, None] + rows[None] * torch.sin(theta)[:, None, None]
    clean = 0.5 + 0.5 * torch.cos(2 * math.pi / period * along + phase[:, None, None])
    noisy = clean + noise * torch.randn(n, size, size, generator=generator)
    return noisy[:, None], clean[:, None]


def _fit_batches(task: "Task", generator: torch.Generator, steps: int):
    """The batches a fit() case is trained on: fresh seeded ones (or drawn from the spirals set)."""
    for _ in range(steps):
        if task.name == "spirals-fit":
            x, y = dataset(task.name)
            batch = torch.randint(0, len(x), (task.batch,), generator=generator)
            yield x[batch], y[batch]
        elif task.name == "histogram-T10":
            yield histogram(task.batch, generator)
        elif task.name == "denoise":
            yield denoise(task.batch, generator)
        else:
            yield adding(task.batch, task.horizon, generator)


# ---------------------------------------------------------------------------------------------
# tasks

@dataclass(frozen=True)
class Task:
    name: str
    budget: int       # optimizer steps
    batch: int
    kind: str         # "classify" (r vs the initial loss), "adding" / "denoise" (r vs the mean
                      # predictor's MSE) or "tokens" (r vs the marginal predictor's cross-entropy)
    optimizer: str    # "sgd" (momentum 0.9), "adam", or "fit" (the case's own fit(model, batches))
    lr: float = 0.0

    @property
    def lrs(self) -> tuple[float | None, ...]:
        """The learning rates a case is tried at, in order, until one trains: the task's, then a
        third of it and three times it (a fit() case brings its own, so it runs once)."""
        if self.optimizer == "fit":
            return (None,)
        return (self.lr, round(self.lr / 3, 6), round(self.lr * 3, 6))

    @property
    def recipe(self) -> str:
        loss = "cross-entropy" if self.kind in ("classify", "tokens") else "MSE"
        if self.optimizer == "fit":
            return f"the case's own fit(model, batches), {self.budget} batches of {self.batch}, {loss}"
        lrs = f"lr {self.lr} (then {self.lrs[1]} and {self.lrs[2]} until one trains)"
        optimizer = f"SGD {lrs} momentum 0.9" if self.optimizer == "sgd" else f"Adam {lrs}"
        return f"{optimizer}, batch {self.batch}, {self.budget} steps, {loss}"

    @property
    def horizon(self) -> int:
        return int(self.name.rsplit("T", 1)[1])


TASKS = {t.name: t for t in (
    Task("spirals", 600, 128, "classify", "sgd", 0.05),
    Task("blobs", 600, 128, "classify", "sgd", 0.05),
    Task("images", 200, 32, "classify", "sgd", 0.05),
    Task("adding-T10", 1000, 32, "adding", "adam", 0.003),
    Task("adding-T100", 1000, 32, "adding", "adam", 0.01),
    Task("adding-T20", 1000, 32, "adding", "fit"),
    Task("histogram-T10", 400, 32, "tokens", "fit"),
    Task("spirals-fit", 600, 128, "classify", "fit"),
    Task("denoise", 500, 64, "denoise", "fit"),
)}
CRITERION = {
    "classify": f"r = final/initial loss; r <= {TRAINS}: trains; r >= {FAILS} or non-finite: fails",
    "adding": f"r = final MSE / MSE of predicting the mean (held-out target variance, ~0.67); "
              f"r <= {TRAINS}: trains; r >= {FAILS} or non-finite: fails",
    "denoise": f"r = final MSE / MSE of predicting the mean pixel (held-out); "
               f"r <= {TRAINS}: trains; r >= {FAILS} or non-finite: fails",
    "tokens": f"r = final per-token cross-entropy / that of predicting the classes' marginal frequencies "
              f"(held-out, ~1.33); r <= {TRAINS}: trains; r >= {FAILS} or non-finite: fails",
}


def relative(path: Path) -> str:
    path = Path(path).resolve()
    try:
        return path.relative_to(CASES).as_posix()
    except ValueError:
        return path.name


def task_of(path: Path) -> Task:
    key = relative(path)
    family = key.split("/")[0] if "/" in key else "mlp"
    if key == "published/deep_linear_100_orthogonal.py":
        return TASKS["blobs"]
    if family in ("mlp", "residual", "published"):
        return TASKS["spirals"]
    if family == "cnn":
        return TASKS["images"]
    match = re.fullmatch(r"rnn_t(\d+)", family)
    if match:
        return TASKS[f"adding-T{match.group(1)}"]
    if family == "clipping":
        return TASKS[f"adding-T{horizon_of(Path(path))}"]
    if family == "warmup":
        return TASKS["histogram-T10"]
    if family == "fp16":
        return TASKS[project_table(Path(path))["tool"]["eval"]["task"]]
    raise ValueError(f"{key}: no task for the family {family!r}")


def project_table(path: Path) -> dict:
    """The case's own pyproject.toml (a project case's)."""
    import tomllib

    return tomllib.loads((Path(path).resolve().parent / "pyproject.toml").read_text())


def horizon_of(path: Path) -> int:
    """GL301's horizon in the case's own pyproject.toml (the clipping projects)."""
    return int(project_table(path)["tool"]["gradlint"]["rules"]["GL301"]["horizon"])


@functools.cache
def dataset(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if name == "spirals":
        return spirals()
    if name == "blobs":
        return blobs()
    if name == "images":
        return gratings()
    if name == "spirals-fit":
        return spirals()
    if name == "histogram-T10":
        return histogram(1000, torch.Generator().manual_seed(0))
    if name == "denoise":
        return denoise(1000, torch.Generator().manual_seed(0))
    return adding(1000, TASKS[name].horizon, torch.Generator().manual_seed(0))


def input_std(name: str) -> float:
    """The standard deviation of the task's inputs, to one decimal: what its cases state to
    gradlint (``input-std``), as a user whose data is not standardized would."""
    return round(float(dataset(name)[0].std()), 1)


# ---------------------------------------------------------------------------------------------
# training

def import_case(path: Path):
    path = Path(path).resolve()
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    spec = importlib.util.spec_from_file_location(f"_eval_{path.stem}_{digest}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load(path: Path) -> torch.nn.Module:
    module = import_case(path)
    torch.manual_seed(0)  # the same weights gradlint sees (it seeds 0 before building)
    return module.Net()


def train(path: Path, budget: int | None = None) -> dict:
    """Train one case on its task for ``budget`` steps (default: the task's) at each of the task's
    learning rates until one trains, and label it from the best run: "trains" when one run
    trains, "fails" when every run fails, "undecided" otherwise."""
    path = Path(path)
    task = task_of(path)
    steps = task.budget if budget is None else budget
    runs = []
    for lr in task.lrs:
        runs.append(_train_at(path, task, steps, lr))
        if runs[-1]["label"] == "trains":
            break
    labels = {run["label"] for run in runs}
    label = "trains" if "trains" in labels else "fails" if labels == {"fails"} else "undecided"
    best = min(runs, key=lambda run: math.inf if run["ratio"] is None else run["ratio"])
    return {"label": label, "task": task.name, "budget": steps, "lr": best["lr"],
            "initial_loss": best["initial_loss"], "final_loss": best["final_loss"], "ratio": best["ratio"],
            "seconds": round(sum(run["seconds"] for run in runs), 2),
            "runs": [[run["lr"], run["label"], run["ratio"]] for run in runs]}


def _train_at(path: Path, task: Task, steps: int, lr: float | None) -> dict:
    module = import_case(path)
    torch.manual_seed(0)
    model = module.Net()
    x, y = dataset(task.name)
    if task.kind == "classify":
        loss_fn = torch.nn.functional.cross_entropy
        baseline = None
    elif task.kind == "tokens":
        def loss_fn(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
        frequencies = torch.bincount(y.flatten()).double() / y.numel()
        baseline = float(-frequencies[y.flatten()].log().mean())
    else:
        loss_fn = torch.nn.functional.mse_loss
        baseline = float(((y - y.mean()) ** 2).mean())

    def full_loss() -> float:
        # train mode: BatchNorm normalizes with the statistics of the whole set, so running
        # averages that lag behind the weights after a short budget do not read as failure;
        # the buffers are restored, so measuring changes nothing. A model that training left in
        # float16 (.half()) is fed its own dtype, and its output compared in float32.
        buffers = {name: b.clone() for name, b in model.named_buffers()}
        dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
        inputs = x.to(dtype) if x.is_floating_point() else x
        with torch.no_grad():
            value = float(loss_fn(model(inputs).float(), y))
            for name, b in model.named_buffers():
                b.copy_(buffers[name])
        return value

    initial = full_loss()
    generator = torch.Generator().manual_seed(1)
    started = time.perf_counter()
    diverged = False
    if task.optimizer == "fit":  # a training script: its own optimizer and clipping
        module.fit(model, _fit_batches(task, generator, steps))
    else:
        if task.optimizer == "sgd":
            optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        else:
            optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        for _ in range(steps):
            if task.kind == "classify":
                batch = torch.randint(0, len(x), (task.batch,), generator=generator)
                inputs, targets = x[batch], y[batch]
            else:
                inputs, targets = adding(task.batch, task.horizon, generator)
            loss = loss_fn(model(inputs), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if not math.isfinite(loss.item()):
                diverged = True
                break
    seconds = time.perf_counter() - started
    final = math.nan if diverged else full_loss()
    reference = initial if baseline is None else baseline
    ratio = final / reference if math.isfinite(final) and math.isfinite(reference) else math.inf
    label = "trains" if ratio <= TRAINS else "fails" if ratio >= FAILS else "undecided"
    return {"label": label, "lr": lr,
            "initial_loss": round(initial, 4) if math.isfinite(initial) else None,
            "final_loss": round(final, 4) if math.isfinite(final) else None,
            "ratio": round(ratio, 4) if math.isfinite(ratio) else None, "seconds": round(seconds, 2)}


def _worker_init() -> None:
    torch.set_num_threads(1)


def _train_one(args: tuple[str, int | None]) -> tuple[str, dict]:
    path, budget = args
    return relative(Path(path)), train(Path(path), budget)


def _budget_of(labels: dict[str, dict], task: str) -> int | list[int]:
    """The steps the task's cases were trained for (a list when a partial rerun mixed budgets)."""
    budgets = sorted({entry["budget"] for entry in labels.values() if entry["task"] == task})
    return budgets[0] if len(budgets) == 1 else budgets


def all_cases() -> list[Path]:
    """Every file under eval/cases/ that defines the model class ``Net`` (a clipping project may
    hold helper modules beside its model.py)."""
    return sorted(p for p in CASES.rglob("*.py") if "__pycache__" not in p.parts
                  and "\nclass Net(" in p.read_text(encoding="utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", type=Path)
    parser.add_argument("--budget", type=int, default=None, help="steps for every task (default: each task's own)")
    parser.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--output", type=Path, default=LABELS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cases = args.cases or all_cases()
    # the slowest first, so the pool does not end on one long case
    first = {"adding-T100": 0, "histogram-T10": 0, "blobs": 1, "adding-T20": 3, "adding-T10": 3}
    order = sorted(cases, key=lambda p: (first.get(task_of(p).name, 1 if relative(p).startswith("published/")
                                                   else 2), relative(p)))
    started = time.perf_counter()
    labels: dict[str, dict] = {}
    with ProcessPoolExecutor(max_workers=args.jobs, initializer=_worker_init) as pool:
        for key, entry in pool.map(_train_one, [(str(p), args.budget) for p in order]):
            labels[key] = entry
            print(f"{key}: {entry}", flush=True)
    wall = time.perf_counter() - started
    if args.cases and args.output.exists():
        previous = json.loads(args.output.read_text()).get("cases", {})
        labels = {**previous, **labels}
    used = sorted({entry["task"] for entry in labels.values()})
    command = "python eval/tasks.py" + (f" --budget {args.budget}" if args.budget else "")
    document = {
        "command": command,
        "budget": {name: _budget_of(labels, name) for name in used},
        "criterion": {name: f"{TASKS[name].recipe}; {CRITERION[TASKS[name].kind]}" for name in used},
        "cases": dict(sorted(labels.items())),
    }
    args.output.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    counts = Counter(entry["label"] for entry in labels.values())
    print(f"{len(cases)} cases trained in {wall:.0f} s wall ({args.jobs} jobs); labels.json: "
          f"{len(labels)} cases, {dict(counts)}", file=sys.stderr)


if __name__ == "__main__":
    main()
