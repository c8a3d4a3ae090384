"""GL701's dry run alone on eval cases, scored against the training labels: where it blew up
(step, how) and, over the cases run, how many that fail and that train it flags — at the first
learning rate's labels and at the best run's.

    python eval/dry_run_cases.py                         # every case whose directory states an optimizer
    python eval/dry_run_cases.py residual/default_32.py mlp/residual_relu_none_scaled_4.py
    python eval/dry_run_cases.py --fixed                 # one batch for every step (as before)
    python eval/dry_run_cases.py --first-batch           # the task's own first 8 rows, as `gradlint run` captures them
    python eval/dry_run_cases.py --first-batch --own-labels   # ... with their labels (an experiment)
    python eval/dry_run_cases.py --batch 32 -j 2
    python eval/dry_run_cases.py --rise 1.5 --rises 1.5,3,10,30,100   # GL701's rise test at several ratios
    python eval/dry_run_cases.py --early-stop          # what stopping once the loss has fallen would save

Each case is built the way gradlint builds it (its file's models; inputs generated from its first
layer at ``--batch``, its directory's probe seq-len and input-std) and dry-run with the optimizer its
directory's ``pyproject.toml`` states, as ``gradlint`` does (the clipping/ cases, whose optimizer
is in their own source, are left out). Prints one line a case and the counts.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CASES = HERE / "cases"
sys.path.insert(0, str(ROOT))
from gradlint.rules.gl701_diverges_at_learning_rate import DivergesAtLearningRate  # noqa: E402

BATCHES = DivergesAtLearningRate.options["batches"]
RISE = DivergesAtLearningRate.options["rise"]


def one(name: str, batch: int, fresh: bool, steps: int, parts: int = 1, seed: int = 0, first_batch: bool = False,
        own_labels: bool = False, rise: float | None = None) -> dict:
    sys.path.insert(0, str(ROOT))
    import torch

    from gradlint.measure.dry_run import choose_setup, dry_run
    from gradlint.models.load import find_models, import_file
    from gradlint.run.config import configured_optimizer, find_config, load_config
    from gradlint.tracing.inputs import candidate_inputs

    torch.set_num_threads(1)
    path = CASES / name
    config = load_config(find_config(path))
    seq_len = config.table.get("probe", {}).get("seq-len", 32)
    std = float(config.table.get("probe", {}).get("input-std", 1.0))
    specs, _ = find_models(import_file(path), path, 0, batch_size=batch, seq_len=seq_len)
    spec = next(s for s in specs if s.model is not None)
    model = spec.model
    setup, why = choose_setup(model, None, configured_optimizer(config), None)
    if setup is None:
        return {"case": name, "skipped": why}
    inputs = spec.inputs
    if inputs is None:
        for candidate in candidate_inputs(model, batch, seq_len, 0, std):
            try:
                with torch.no_grad():
                    model(**candidate)
            except Exception:  # noqa: BLE001 - the next candidate, as the engine does
                continue
            inputs = candidate
            break
    if first_batch:  # the task's first training batch, cut to `batch` rows, as `gradlint run` captures it
        sys.path.insert(0, str(HERE))
        import tasks

        task = tasks.task_of(path)
        generator = torch.Generator().manual_seed(1)
        if task.kind == "classify":
            x, y = tasks.dataset(task.name)
            rows = torch.randint(0, len(x), (task.batch,), generator=generator)[:batch]
            x, y = x[rows], y[rows]
        else:
            x, y = tasks.adding(batch, task.horizon, generator)
        inputs = {next(iter(inputs)): x}
        fresh = False
        if own_labels:  # an experiment, not what gradlint does: the batch's own labels, not random ones
            import gradlint.measure.dry_run

            kind = "cross-entropy" if task.kind == "classify" else "MSE"
            gradlint.measure.dry_run._target = lambda output, generator: (y, kind)
    started = time.perf_counter()
    result = dry_run(model, inputs, setup, steps=steps, seed=seed, fresh=fresh, parts=parts, input_std=std,
                     rise=rise)
    first = result.first
    held = result.held
    rose = result.rose
    risen = result.rise_runs[0] if rose else None

    def runs(runs) -> list:
        return [(r.lr, r.diverged_at, r.stopped, r.first_loss, r.end_loss) for r in runs]

    return {"case": name, "diverged_at": first.diverged_at, "why": first.why, "flagged": result.diverged,
            "first": (risen or first).first_loss, "last": (risen or first).end_loss,
            "held": (rose or held).lr if (rose or held) else None, "batch": result.batch,
            "seconds": time.perf_counter() - started, "runs": runs(result.runs), "rise_runs": runs(result.rise_runs),
            "losses": list(first.losses)}


def flagged_at(result: dict, rise: float | None) -> bool:
    """Whether GL701 flags a case at ratio ``rise``, from a dry run at a ratio no larger (its runs,
    in ladder order: lr, diverged_at, stopped, first and end loss)."""
    def rose(run) -> bool:
        return rise is not None and run[3] is not None and run[3] > 0 and run[4] > rise * run[3]

    def held(run) -> bool:
        return run[1] is None and not run[2] and not rose(run)

    if result["runs"][0][1] is not None:
        return True
    tested = result["rise_runs"]
    return bool(tested) and tested[0][1] is None and rose(tested[0]) and any(held(r) for r in tested[1:])


def early_stop(results: list[dict], window: int = 5) -> None:
    """For stops from step k once the mean of the last ``window`` losses is below a share of the
    first: the steps of the configured learning rate's run it saves, and the blow-ups it misses."""
    runs = [r for r in results if "skipped" not in r]
    total = sum(len(r["losses"]) for r in runs)
    for k in (10, 15, 20):
        for share in (0.5, 0.7, 0.9):
            saved, missed = 0, []
            for r in runs:
                losses = r["losses"]
                stop = next((i for i in range(max(k, window), len(losses) + 1)
                             if sum(losses[i - window:i]) / window < share * losses[0]), None)
                if stop is None:
                    continue
                if r["diverged_at"] is not None and stop < r["diverged_at"]:
                    missed.append(r["case"])
                else:
                    saved += len(losses) - stop
            print(f"early stop from step {k} below {share:g}× the first loss: saves {saved} of {total} steps "
                  f"({saved / max(total, 1):.0%}); misses {len(missed)} blow-up(s){': ' + ', '.join(missed) if missed else ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", help="paths relative to eval/cases (default: every case with a stated optimizer)")
    parser.add_argument("--batch", type=int, default=8, help="rows of the generated batch (default 8, the probe's)")
    parser.add_argument("--fixed", action="store_true", help="one batch and one set of targets for every step")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--parts", type=int, default=BATCHES,
                        help=f"fresh batches averaged into each step (not with --fixed; default {BATCHES}, GL701's `batches`)")
    parser.add_argument("--seed", type=int, default=0, help="the dry run's seed (its draws of inputs and targets)")
    parser.add_argument("--first-batch", action="store_true",
                        help="the task's first training batch (--batch rows, as `gradlint run` captures it) "
                             "for every step, with random labels")
    parser.add_argument("--own-labels", action="store_true",
                        help="with --first-batch: that batch's own labels and the task's loss instead of random "
                             "labels (an experiment; gradlint draws random ones)")
    parser.add_argument("--rise", type=float, default=RISE,
                        help="GL701's rise ratio: a run on one fixed batch ending this many times above its first "
                             f"loss is retried at smaller learning rates, and flagged when one holds (default {RISE:g}, "
                             "GL701's `rise`; 0: not applied)")
    parser.add_argument("--rises", default="",
                        help="comma-separated ratios, each ≥ --rise, to score from the same runs")
    parser.add_argument("--json", type=Path, help="write every case's result to this file")
    parser.add_argument("--early-stop", action="store_true",
                        help="print the steps an early stop (the mean of the last 5 losses below a share of the "
                             "first, from step k) would save, and the blow-ups it would miss")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    args = parser.parse_args()
    labels = json.loads((HERE / "labels.json").read_text())["cases"]
    names = args.cases or sorted(n for n in labels if (CASES / n).parent.joinpath("pyproject.toml").is_file()
                                 and "optimizer" in (CASES / n).parent.joinpath("pyproject.toml").read_text()
                                 and not n.startswith("clipping/"))
    started = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(one, names, [args.batch] * len(names), [not args.fixed] * len(names),
                                [args.steps] * len(names), [args.parts] * len(names),
                                [args.seed] * len(names), [args.first_batch] * len(names),
                                [args.own_labels] * len(names), [args.rise or None] * len(names)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    counts = {("first", True, True): 0, ("first", True, False): 0, ("best", True, True): 0, ("best", True, False): 0}
    totals = {("first", "fails"): 0, ("first", "trains"): 0, ("best", "fails"): 0, ("best", "trains"): 0}
    seconds = 0.0
    for result in results:
        name = result["case"]
        entry = labels.get(name, {})
        first_label, best_label = (entry["runs"][0][1] if entry else "?"), entry.get("label", "?")
        if "skipped" in result:
            print(f"{name}: skipped ({result['skipped']})")
            continue
        seconds += result["seconds"]
        flagged = result["flagged"]
        for which, label in (("first", first_label), ("best", best_label)):
            if label in ("fails", "trains"):
                totals[(which, label)] += 1
                counts[(which, True, label == "fails")] += flagged
        if flagged or len(args.cases):
            where = f"rose {result['first']:.3g} -> {result['last']:.3g} on one batch" if result["diverged_at"] is None else \
                f"diverged at step {result['diverged_at']} ({result['why']})"
            shown = (f"{where}, held at lr {result['held']:.3g}" if flagged and result["held"] else where
                     if flagged else f"held: loss {result['first']:.3g} -> {result['last']:.3g}")
            print(f"{name}: {shown}; labels: first lr {first_label}, best run {best_label}")
    targets = "their own labels" if args.own_labels else "random labels"
    mode = (f"the task's first {args.batch} rows, {targets}" if args.first_batch
            else "a fixed batch" if args.fixed else f"{args.parts} fresh batch(es) each step")
    print(f"\n{len(results)} cases, batch {args.batch}, {mode}, {args.steps} steps; "
          f"dry run {seconds:.1f} s in all ({time.perf_counter() - started:.0f} s wall, {args.jobs} jobs)")
    for which, title in (("first", "first learning rate"), ("best", "best run")):
        print(f"{title} labels: flags {counts[(which, True, True)]} of {totals[(which, 'fails')]} that fail, "
              f"{counts[(which, True, False)]} of {totals[(which, 'trains')]} that train")
    if args.early_stop:
        early_stop(results)
    for rise in [float(r) for r in args.rises.split(",") if r] + [None]:
        scored = Counter()
        for result in results:
            entry = labels.get(result["case"])
            if "skipped" in result or not entry or entry["runs"][0][1] not in ("fails", "trains"):
                continue
            scored[(entry["runs"][0][1], flagged_at(result, rise))] += 1
        print(f"rise {rise if rise is not None else 'not applied'}: first learning rate labels: flags "
              f"{scored[('fails', True)]} of {scored[('fails', True)] + scored[('fails', False)]} that fail, "
              f"{scored[('trains', True)]} of {scored[('trains', True)] + scored[('trains', False)]} that train")


if __name__ == "__main__":
    main()
