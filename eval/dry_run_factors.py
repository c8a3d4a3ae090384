"""What makes GL701's dry run blow up on a case: the inputs, the targets or the batch size.

    python eval/dry_run_factors.py residual/default_32.py
    python eval/dry_run_factors.py residual/default_32.py residual/preln_32.py --rows 32 128 --seeds 6

For a classification case (spirals, blobs, images), runs the dry run's loop — the task's SGD
(lr, momentum 0.9) for 30 steps on a copy of the model built as gradlint builds it, diverged when
the loss becomes non-finite or grows 10^4x its first value — with each combination of

* inputs: ``task`` (rows drawn from the task's own data set), ``generated`` (standard normal, as
  gradlint generates them), ``generated@task-rms`` (standard normal scaled to the task inputs'
  root mean square);
* targets: ``task`` (the task's labels; task inputs only), ``random`` (seeded random classes, as
  the dry run has them), ``learnable`` (the argmax of the outputs of a frozen copy of the model at
  initialization, centred over each batch: a function of the inputs, as real labels are);
* rows a step (``--rows``);

each with ``--seeds`` seeds for the draws (the model's weights are always seed 0's), and prints
in how many seeds it diverged and at which steps. One batch of ``rows`` a step (gradlint's dry run
averages ``batches`` batches of the probe's 8 rows: the same rows, drawn in parts).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import copy
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

COMBINATIONS = (("task", "task"), ("task", "random"), ("generated", "random"), ("generated", "learnable"),
                ("generated@task-rms", "random"), ("generated@task-rms", "learnable"))


def diverged_at(name: str, inputs: str, targets: str, rows: int, seed: int, steps: int,
                growth: float) -> int | None:
    import torch
    from torch import nn

    from tasks import CASES, dataset, load, task_of

    torch.set_num_threads(1)
    task = task_of(CASES / name)
    data, labels = dataset(task.name)
    classes = int(labels.max()) + 1
    model = load(CASES / name)
    teacher = copy.deepcopy(model)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=task.lr, momentum=0.9)
    generator = torch.Generator().manual_seed(seed)
    rms = float(data.pow(2).mean().sqrt())
    first = None
    for step in range(1, steps + 1):
        if inputs == "task":
            index = torch.randint(len(data), (rows,), generator=generator)
            x, y = data[index], labels[index]
        else:
            x = torch.randn((rows, *data.shape[1:]), generator=generator)
            x = x * rms if inputs == "generated@task-rms" else x
        if targets == "random":
            y = torch.randint(classes, (rows,), generator=generator)
        elif targets == "learnable":
            with torch.no_grad():
                taught = teacher(x)
            y = (taught - taught.mean(dim=0)).argmax(dim=-1)
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x), y)
        value = float(loss.detach())
        if not math.isfinite(value) or (first is not None and value > growth * max(first, 1e-12)):
            return step
        first = value if first is None else first
        loss.backward()
        optimizer.step()
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="+", help="paths relative to eval/cases")
    parser.add_argument("--rows", type=int, nargs="+", default=[32, 128], help="rows a step (default 32 128)")
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("-j", "--jobs", type=int, default=2)
    args = parser.parse_args()
    from tasks import CASES, task_of

    for name in args.cases:
        if not (CASES / name).is_file():
            parser.exit(2, f"dry_run_factors.py: error: no case {name} under eval/cases\n")
        try:
            kind = task_of(CASES / name).kind
        except ValueError as exc:
            parser.exit(2, f"dry_run_factors.py: error: {exc}\n")
        if kind != "classify":
            parser.exit(2, f"dry_run_factors.py: error: {name}: its task is not classification\n")
    jobs = [(name, inputs, targets, rows, seed) for name in args.cases for inputs, targets in COMBINATIONS
            for rows in args.rows for seed in range(args.seeds)]
    with concurrent.futures.ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(diverged_at, *zip(*jobs), [args.steps] * len(jobs), [1e4] * len(jobs)))
    steps: dict[tuple, list] = {}
    for job, result in zip(jobs, results):
        steps.setdefault(job[:4], []).append(result)
    for (name, inputs, targets, rows), found in steps.items():
        blew = [s for s in found if s is not None]
        print(f"{name}: inputs {inputs:18s} targets {targets:9s} rows {rows:4d}: diverged in {len(blew)} of "
              f"{len(found)} seeds" + (f" (steps {', '.join(map(str, blew))})" if blew else ""))


if __name__ == "__main__":
    main()
