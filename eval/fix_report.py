"""Train what `gradlint --fix` repairs: for every case that gradlint flags and training labels as
failing, fix a copy of the case and train the copy with the suite's own recipe; for every case
that trains, fix a copy the same way and count the cases where any file changed.

    python eval/fix_report.py --load FINDINGS.json        # FINDINGS: what `eval/report.py --save` wrote
    python eval/fix_report.py --family clipping --family rnn_t100 --load FINDINGS.json
    python eval/fix_report.py eval/cases/mlp/plain_sigmoid_none_default_16.py    # or these cases / dirs
    python eval/fix_report.py --load FINDINGS.json --json fixes.json               # also save the numbers

Each case is copied to a temporary directory with the configuration it is linted with (its own
project directory, or its file and its family's pyproject.toml) — eval/cases is never edited —
and fixed there as `gradlint --fix --unsafe-fixes CASE` fixes it: the CLI's ``fix_paths`` (its
lint with the case's own configuration and no cache, as eval/report.py lints; every proposed fix
verified, unsafe ones included), then ``apply_fixes`` (the verified fixes only). "Flagged" is
eval/report.py's: a finding at warning level or above from one of its GRADIENT_RULES, in that
lint of the copy.

A failing case counts as fixed when at least one verified fix was written; only fixed copies are
trained (an unfixed case never counts as training). The copy is trained and labelled by
eval/tasks.py's ``train`` — the same task, seeds, steps, learning rates and thresholds as
labels.json — with one exception: when a fix changed the learning rate that the case's
configuration states (`lr` in `[tool.gradlint]`, GL701's fix to a config file), the recipe is run
once at that learning rate instead of the task's three (the configuration is how a case states
the learning rate it trains with; a fit() case's own learning rate is in its code and followed
as written; GL701 proposes no edit of [tool.gradlint] today, so this does not arise yet).
Cases that train are fixed but not trained: the number that counts is how many of them any fix
touched (goal 0).

``--load`` takes the findings eval/report.py saved: failing cases it did not flag and training
cases with no finding at all (no finding, no fix) are then skipped without linting. Without it
every decided case is linted. One case that cannot be copied, linted, fixed or trained prints
one line and the run goes on.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import traceback
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CASES = HERE / "cases"
for _path in (str(HERE), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from report import GRADIENT_RULES, flagged, select  # noqa: E402

GOAL_TRAINS = 0.8
_SKIPPED_DIRS = {"__pycache__", ".gradlint_cache", ".pytest_cache"}


# ---------------------------------------------------------------------------------------------
# copies

def copy_case(name: str, dest: Path, cases: Path = CASES) -> Path:
    """Copy the case ``name`` (its path relative to ``cases``) to ``dest/<name>``: a project case
    (``<family>/<case>/model.py``) with its whole directory, a single-file case with its file;
    and every pyproject.toml between it and ``cases`` (the family's configuration). Returns the
    copied case file."""
    source = cases / name
    target = dest / name
    parts = Path(name).parts
    if len(parts) > 2:  # a project: its directory
        shutil.copytree(source.parent, target.parent, ignore=shutil.ignore_patterns(*_SKIPPED_DIRS))
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    directory = source.parent
    while directory != cases and cases in directory.parents:
        config = directory / "pyproject.toml"
        copied = dest / directory.relative_to(cases) / "pyproject.toml"
        if config.exists() and not copied.exists():
            copied.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(config, copied)
        directory = directory.parent
    return target


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (caches left out) with the SHA-1 of its bytes."""
    return {p.relative_to(root).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not _SKIPPED_DIRS & set(p.relative_to(root).parts)}


def stated_lr(case_copy: Path, root: Path) -> float | None:
    """The learning rate the nearest pyproject.toml above ``case_copy`` (within ``root``) states
    in ``[tool.gradlint]``, or None."""
    directory = case_copy.parent
    while True:
        config = directory / "pyproject.toml"
        if config.exists():
            try:
                value = tomllib.loads(config.read_text()).get("tool", {}).get("gradlint", {}).get("lr")
            except tomllib.TOMLDecodeError:
                return None
            return float(value) if isinstance(value, (int, float)) else None
        if directory == root or root not in directory.parents:
            return None
        directory = directory.parent


# ---------------------------------------------------------------------------------------------
# fixing (in this process, a thread per case, as eval/report.py lints)

def fix_case(name: str, workdir: Path, cases: Path = CASES) -> dict:
    """Copy the case to ``workdir/<name>``'s own directory tree, lint the copy, verify every fix
    (unsafe ones included) and write the verified ones. Returns the flagged codes, the fixes
    (as data), the files changed and the learning rates stated before and after."""
    from gradlint.fix.verify import apply_fixes, fix_paths
    from gradlint.run.config import Overrides

    copy = copy_case(name, workdir, cases)
    before = snapshot(workdir)
    lr_before = stated_lr(copy, workdir)
    # what `gradlint --fix --unsafe-fixes CASE` does (the CLI's fix_paths), its writing step apart
    # so that the findings are read before the fixed ones are taken out of the report
    fixed = fix_paths([str(copy)], Overrides(), jobs=1, unsafe=True, apply=False)
    findings = [f for result in fixed.report.files for f in result.findings]
    codes = flagged({"findings": [f.to_dict() for f in findings]}) & set(GRADIENT_RULES)
    fixes = fixed.fixes
    applied = apply_fixes(fixes)
    for fix in applied:  # the fixes only ever write inside the copy
        for edit in fix.edits:
            if workdir.resolve() not in Path(edit.path).resolve().parents:
                raise RuntimeError(f"a fix wrote {edit.path}, outside the copy")
    after = snapshot(workdir)
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    return {"flagged": sorted(codes), "findings": sorted({f.code for f in findings}),
            "fixes": [{"code": f.code, "severity": str(f.finding.severity), "title": f.title, "safe": f.safe,
                       "verified": f.verified, "applied": any(f is a for a in applied), "before": f.before,
                       "after": f.after, "reason": f.reason} for f in fixes],
            "changed": changed, "lr_before": lr_before, "lr_after": stated_lr(copy, workdir),
            "copy": str(copy)}


# ---------------------------------------------------------------------------------------------
# training (a process per case, single-threaded, as eval/tasks.py trains)

def train_in_subprocess(name: str, copy: str, lr: float | None, timeout: float = 3600) -> dict:
    """``train_copy`` in a fresh Python process (this script with --train-copy): the label."""
    command = [sys.executable, str(Path(__file__).resolve()), "--train-copy", name, copy]
    if lr is not None:
        command.append(repr(lr))
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"exit {done.returncode}: {last}")
    return json.loads(lines[-1])


def train_copy(args: tuple[str, str, float | None]) -> dict:
    """Train the fixed copy ``copy`` of the case ``name`` with eval/tasks.py's recipe for it:
    ``tasks.train`` with the copies' root standing in for eval/cases (so the copy gets the
    original's task), or, when ``lr`` is given (a fix changed the stated learning rate), the
    task's recipe run once at ``lr``."""
    import tasks

    name, copy, lr = args
    copy_path = Path(copy)
    root = copy_path.parents[len(Path(name).parts) - 1]
    original_task = tasks.task_of(CASES / name)
    tasks.CASES = root  # tasks.relative() keys a case by its path under CASES
    try:
        task = tasks.task_of(copy_path)
        if task != original_task:
            raise RuntimeError(f"the copy's task is {task.name}, the case's {original_task.name}")
        if lr is None or task.optimizer == "fit":
            return tasks.train(copy_path)
        task = dataclasses.replace(task, lr=lr)
        run = tasks._train_at(copy_path, task, task.budget, lr)
        return {"label": run["label"], "task": task.name, "budget": task.budget, "lr": lr,
                "initial_loss": run["initial_loss"], "final_loss": run["final_loss"], "ratio": run["ratio"],
                "seconds": run["seconds"], "runs": [[lr, run["label"], run["ratio"]]]}
    finally:
        tasks.CASES = CASES


# ---------------------------------------------------------------------------------------------
# the whole run

def candidates(labels: dict, saved: dict | None) -> tuple[list[str], list[str], dict[str, str]]:
    """The failing and the training cases to fix, and why others were skipped. With ``saved``
    (eval/report.py's --save), failing cases it did not flag and training cases with no finding
    are skipped."""
    failing, training, skipped = [], [], {}
    for name, entry in sorted(labels.items()):
        if entry["label"] not in ("fails", "trains"):
            continue
        record = saved.get(name) if saved is not None else None
        if saved is not None and record is None:
            skipped[name] = "not in the saved findings"
        elif entry["label"] == "fails":
            if record is not None and not flagged(record) & set(GRADIENT_RULES):
                skipped[name] = "not flagged (saved findings)"
            else:
                failing.append(name)
        elif record is not None and not record["findings"]:
            skipped[name] = "no finding (saved findings)"
        else:
            training.append(name)
    return failing, training, skipped


def summarize(labels: dict, results: dict[str, dict]) -> dict:
    """The numbers: over the flagged failing cases, how many got a verified fix written and how
    many of those now train (per rule too); over the training cases, how many any fix touched."""
    # a case whose copy could not be linted or fixed counts as flagged and not fixed (never as training)
    failing = {n: r for n, r in results.items() if labels[n]["label"] == "fails" and (r.get("flagged") or "error" in r)}
    fixed = {n: r for n, r in failing.items() if r.get("changed") and any(f["applied"] for f in r.get("fixes", ()))}
    now_trains = sorted(n for n, r in fixed.items() if (r.get("trained") or {}).get("label") == "trains")
    still_fails = sorted(n for n, r in fixed.items() if (r.get("trained") or {}).get("label") != "trains")
    per_rule: dict[str, Counter] = {}
    for name, record in failing.items():
        applied = {f["code"] for f in record["fixes"] if f["applied"]} if name in fixed else set()
        codes = set(record.get("flagged", ()))
        for code in codes | applied:
            counts = per_rule.setdefault(code, Counter({"flags": 0, "fixed": 0, "trains": 0, "fixed_unflagged": 0}))
            counts["flags"] += code in codes
            counts["fixed"] += code in applied and code in codes
            counts["trains"] += code in applied and code in codes and name in now_trains
            # a fix of the rule's finding below warning level, on a case another rule flagged
            counts["fixed_unflagged"] += code in applied and code not in codes
    healthy = {n: r for n, r in results.items() if labels[n]["label"] == "trains" and "error" not in r}
    touched = {n: sorted({f"{f['code']} ({f.get('severity', '?')})" for f in r["fixes"] if f["applied"]})
               for n, r in healthy.items() if r["changed"]}
    share = len(now_trains) / len(failing) if failing else float("nan")
    return {"flagged_failing": len(failing), "fixed": len(fixed), "now_train": len(now_trains),
            "share_trains": share, "goal_share": GOAL_TRAINS,
            "now_trains": now_trains, "still_fail": still_fails,
            "not_fixed": sorted(set(failing) - set(fixed)),
            "per_rule": {code: dict(counts) for code, counts in sorted(per_rule.items())},
            "healthy_checked": len(healthy), "healthy_touched": len(touched), "touched": touched,
            "errors": {n: r["error"] for n, r in results.items() if "error" in r}}


def run(names_failing: list[str], names_training: list[str], workdir: Path, jobs: int = 2,
        cases: Path = CASES, log=print) -> dict[str, dict]:
    """Fix every case (a thread each, ``jobs`` at a time), then train the fixed copies of the
    failing ones that a verified fix changed (a process each, ``jobs`` at a time). Each case's copy lies in its
    own directory under ``workdir``."""
    results: dict[str, dict] = {}
    names = names_failing + names_training
    roots = {name: workdir / f"{i:03d}" for i, name in enumerate(names)}

    def one(name: str) -> dict:
        try:
            roots[name].mkdir(parents=True)
            return fix_case(name, roots[name], cases)
        except Exception as exc:  # noqa: BLE001 - one case never stops the run
            return {"error": f"fix: {type(exc).__name__}: {exc}".splitlines()[0],
                    "trace": traceback.format_exc(limit=3)}

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        for name, record in zip(names, pool.map(one, names)):
            results[name] = record
            if "error" in record:
                log(f"{name}: {record['error']}")
                continue
            applied = sorted({f["code"] for f in record["fixes"] if f["applied"]})
            refused = sorted({f"{f['code']} ({f['reason']})" for f in record["fixes"] if not f["verified"]})
            log(f"{name}: flagged {', '.join(record['flagged']) or '-'}; fixed {', '.join(applied) or '-'}"
                + (f"; not verified: {'; '.join(refused)}" if refused else "")
                + (f"; changed {', '.join(record['changed'])}" if record["changed"] else ""))
    to_train = [n for n in names_failing if "error" not in results[n] and results[n]["flagged"]
                and results[n]["changed"] and any(f["applied"] for f in results[n]["fixes"])]
    if not to_train:
        return results
    def trained(name: str) -> dict:
        record = results[name]
        lr = record["lr_after"] if record["lr_after"] != record["lr_before"] else None
        try:
            return train_in_subprocess(name, record["copy"], lr)
        except Exception as exc:  # noqa: BLE001
            return {"label": "error", "error": f"{type(exc).__name__}: {exc}".splitlines()[0]}

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(trained, name): name for name in to_train}
        for future in concurrent.futures.as_completed(futures):
            name = futures[future]
            entry = results[name]["trained"] = future.result()
            if entry["label"] == "error":
                log(f"{name}: training the fixed copy failed: {entry['error']}")
            else:
                log(f"{name}: trained the fixed copy: {entry['label']} (r {entry['ratio']}, runs {entry['runs']})")
    return results


def print_summary(numbers: dict, results: dict[str, dict], labels: dict, skipped: dict[str, str]) -> None:
    n = numbers
    print(f"\nFlagged (warning or above, eval/report.py's GRADIENT_RULES) and failing in training: "
          f"{n['flagged_failing']}")
    print(f"with at least one verified fix written: {n['fixed']}")
    print(f"of those, now train (eval/tasks.py's recipe on the fixed copy): {n['now_train']}")
    share = n["share_trains"]
    print(f"share of all flagged failing cases that now train: {n['now_train']} of {n['flagged_failing']} "
          f"({share:.0%}; goal >= {GOAL_TRAINS:.0%})" if n["flagged_failing"] else "share: no flagged failing case")
    print("\n| rule | flags a failing case | its fix verified and written there | now trains | its fix written on "
          "a case it does not flag |\n|---|---:|---:|---:|---:|")
    for code, counts in n["per_rule"].items():
        print(f"| {code} | {counts.get('flags', 0)} | {counts.get('fixed', 0)} | {counts.get('trains', 0)} | "
              f"{counts.get('fixed_unflagged', 0)} |")
    if n["still_fail"]:
        print("\nVerified fixes whose case still does not train:")
        for name in n["still_fail"]:
            record = results[name]
            trained = record.get("trained") or {}
            fixes = "; ".join(f"{f['code']} {f['title']} ({f['before']} -> {f['after']})"
                              for f in record["fixes"] if f["applied"])
            print(f"- {name}: {trained.get('label')} (r {trained.get('ratio')}, runs {trained.get('runs')}; "
                  f"before the fix {labels[name]['runs']}); {fixes}")
    print(f"\nCases that train, fixed the same way: {n['healthy_checked']} checked"
          + (f" ({sum(1 for w in skipped.values() if w.startswith('no finding'))} more have no finding, "
             f"so no fix)" if skipped else "")
          + f"; any file changed in {n['healthy_touched']} (goal 0)")
    for name, codes in n["touched"].items():
        print(f"- {name}: {', '.join(codes) or 'changed without a verified fix'} "
              f"({', '.join(results[name]['changed'])})")
    if n["errors"]:
        print(f"\n{len(n['errors'])} cases could not be fixed: "
              + "; ".join(f"{k}: {v}" for k, v in n["errors"].items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", type=Path, help="only these cases (files or directories under eval/cases)")
    parser.add_argument("--family", action="append", default=[], help="only this family (repeatable)")
    parser.add_argument("--labels", type=Path, default=HERE / "labels.json")
    parser.add_argument("--load", type=Path, help="the findings `eval/report.py --save` wrote (selects the cases)")
    parser.add_argument("--no-healthy", action="store_true", help="skip the cases that train")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the numbers and every case's record here")
    parser.add_argument("--keep", type=Path, help="fix the copies under this directory and keep them")
    parser.add_argument("--train-copy", nargs="+", metavar="ARG", help=argparse.SUPPRESS)  # NAME COPY [LR]
    args = parser.parse_args()
    if args.train_copy:  # one fixed copy, in its own process: print its label as JSON
        import torch

        torch.set_num_threads(1)
        name, copy, *lr = args.train_copy
        print(json.dumps(train_copy((name, copy, float(lr[0]) if lr else None))))
        return
    document = json.loads(args.labels.read_text())
    labels = select(document["cases"], args.cases, args.family)
    saved = json.loads(args.load.read_text())["cases"] if args.load else None
    failing, training, skipped = candidates(labels, saved)
    if args.no_healthy:
        training = []
    print(f"{len(failing)} failing cases to fix and train, {len(training)} training cases to fix"
          + (f" ({len(skipped)} skipped by the saved findings)" if skipped else ""), flush=True)
    started = time.perf_counter()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        results = run(failing, training, Path(tempfile.mkdtemp(prefix="fixes-", dir=args.keep)), args.jobs,
                      log=lambda line: print(line, flush=True))
    else:
        with tempfile.TemporaryDirectory(prefix="gradlint-eval-fix-") as scratch:
            results = run(failing, training, Path(scratch), args.jobs, log=lambda line: print(line, flush=True))
    numbers = summarize(labels, results)
    print_summary(numbers, results, labels, skipped)
    wall = time.perf_counter() - started
    print(f"\n{wall:.0f} s wall, {args.jobs} jobs")
    if args.json:
        args.json.write_text(json.dumps({"numbers": numbers, "wall": wall, "skipped": skipped,
                                         "cases": {k: {x: y for x, y in v.items() if x != "trace"}
                                                   for k, v in results.items()}},
                                        indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
