"""Score gradlint against the training labels: a confusion matrix overall, per family and per
rule, precision, recall, the false-positive rate on the cases that train, and the time gradlint
took against the time training took.

    python eval/report.py            # uses eval/labels.json (python eval/tasks.py regenerates it)
    python eval/report.py --family warmup --family fp16        # score a subset: those families
    python eval/report.py eval/cases/warmup eval/cases/rnn_t100/irnn.py    # or these cases / dirs

A subset is scored exactly as the whole suite is (only its cases are linted, and only their
explanations are checked for staleness). The per-rule table at the end scores each rule that
has families built for it (RULE_FAMILIES) on those families alone: a case counts as flagged by
the rule when the rule reports it at warning level or above, so a failure the rule is not about
still counts against its recall there.

A case is predicted to fail when gradlint reports a finding at warning level or above from one of
GRADIENT_RULES (GL401 reports degradation, not failure within a short budget; GL601 is info-level
and GL602 a measurement that does not by itself stop training: listed, not counted). Every
disagreement is printed with its explanation from eval/disagreements.json; one without an
explanation is marked UNEXPLAINED.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CASES = HERE / "cases"
GRADIENT_RULES = ("GL101", "GL102", "GL201", "GL202", "GL203", "GL301", "GL501", "GL603", "GL701", "GL702",
                  "GL801")
# the families built to measure one rule: its precision and recall are scored on them alone
# (GL301 over the training horizon: the same recurrences at T = 10 and T = 100)
RULE_FAMILIES = {"GL301": ("rnn_t10", "rnn_t100"), "GL702": ("warmup",), "GL801": ("fp16",)}
# the rules that judge the model at initialization (everything but the dry run, GL701)
INITIALIZATION_RULES = tuple(code for code in GRADIENT_RULES if code != "GL701")


def run_gradlint(cases: list[Path], jobs: int = 2) -> dict[str, dict]:
    """Lint each case on its own (its project's configuration applies, as for a user), ``jobs`` at
    a time, without the cache: per case (keyed by the path relative to eval/cases) the seconds it
    took and every finding as ``Finding.to_dict`` writes it."""
    sys.path.insert(0, str(ROOT))
    from gradlint.run.runner import lint

    def one(case: Path) -> dict:
        started = time.perf_counter()
        report = lint([str(case)], jobs=1)
        seconds = time.perf_counter() - started
        return {"seconds": seconds, "findings": [f.to_dict() for r in report.files for f in r.findings]}

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        return dict(zip([key(c) for c in cases], pool.map(one, cases)))


def flagged(record: dict) -> set[str]:
    """The codes of a case's findings at warning level or above (what fails a lint run)."""
    return {f["code"] for f in record["findings"] if f["severity"] in ("warning", "error")}


def key(case: Path) -> str:
    case = case.resolve()
    return case.relative_to(CASES).as_posix() if case.is_relative_to(CASES) else case.name


def score(labels: dict, found: dict[str, set[str]], rules: tuple[str, ...] = GRADIENT_RULES) -> dict:
    matrix: Counter = Counter()
    per_rule: dict[str, Counter] = {code: Counter() for code in GRADIENT_RULES}
    per_family: dict[str, Counter] = {}
    misses = []
    for name, entry in sorted(labels.items()):
        if entry["label"] == "undecided" or name not in found:
            continue
        actual = entry["label"] == "fails"
        predicted = bool(found[name] & set(rules))
        matrix[(predicted, actual)] += 1
        per_family.setdefault(name.split("/")[0] if "/" in name else "-", Counter())[(predicted, actual)] += 1
        for code in GRADIENT_RULES:
            if code in found[name]:
                per_rule[code][actual] += 1
        if predicted != actual:
            misses.append((name, entry["label"], sorted(found[name])))
    return {**_rates(matrix), "per_rule": per_rule, "per_family": {k: _rates(v) for k, v in per_family.items()},
            "misses": misses}


def rule_scores(labels: dict, found: dict[str, set[str]]) -> dict[str, dict]:
    """For each rule of RULE_FAMILIES whose families hold decided cases here: the rule alone
    against the labels of those families (flagged = the rule reports the case)."""
    scores = {}
    for code, families in RULE_FAMILIES.items():
        matrix: Counter = Counter()
        for name, entry in labels.items():
            if name.split("/")[0] in families and entry["label"] != "undecided" and name in found:
                matrix[(code in found[name], entry["label"] == "fails")] += 1
        if matrix:
            scores[code] = {**_rates(matrix), "families": families}
    return scores


def select(labels: dict, paths: list[Path], families: list[str]) -> dict:
    """The labelled cases named by ``paths`` (case files, or directories under eval/cases) or in
    ``families``; all of them when neither is given."""
    if not paths and not families:
        return labels
    chosen = {}
    for path in paths:
        path = path.resolve()
        if not path.is_relative_to(CASES):
            raise SystemExit(f"{path}: not under {CASES}")
        prefix = path.relative_to(CASES).as_posix()
        matched = {n: e for n, e in labels.items() if n == prefix or n.startswith(prefix.rstrip("/") + "/")}
        if not matched:
            raise SystemExit(f"{prefix}: no labelled case (python eval/tasks.py {path} labels it)")
        chosen.update(matched)
    for family in families:
        matched = {n: e for n, e in labels.items() if n.split("/")[0] == family}
        if not matched:
            raise SystemExit(f"--family {family}: no labelled case")
        chosen.update(matched)
    return dict(sorted(chosen.items()))


def degradation(labels: dict, found: dict[str, set[str]]) -> dict[str, str | None]:
    """The cases that train with GL401's warning, each with its shallower sibling (the same file
    name with a smaller depth suffix, ``_32.py`` → ``_16.py``) that trains too and gets no GL401
    finding, or None when there is none."""
    siblings = {}
    for name in sorted(n for n, e in labels.items() if e["label"] == "trains" and "GL401" in found.get(n, ())):
        stem, _, depth = name[:-3].rpartition("_")
        shallower = [f"{stem}_{d}.py" for d in range(int(depth) - 1, 0, -1)] if depth.isdigit() else []
        siblings[name] = next((s for s in shallower if labels.get(s, {}).get("label") == "trains"
                               and "GL401" not in found.get(s, ())), None)
    return siblings


def _rates(matrix: Counter) -> dict:
    tp, fp, fn, tn = matrix[(True, True)], matrix[(True, False)], matrix[(False, True)], matrix[(False, False)]
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "precision": tp / (tp + fp) if tp + fp else float("nan"),
            "recall": tp / (tp + fn) if tp + fn else float("nan"),
            "fp_rate": fp / (fp + tn) if fp + tn else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", type=Path,
                        help="score only these cases (files or directories under eval/cases)")
    parser.add_argument("--family", action="append", default=[],
                        help="score only this family (a directory of eval/cases; repeatable)")
    parser.add_argument("--labels", type=Path, default=HERE / "labels.json")
    parser.add_argument("--explanations", type=Path, default=HERE / "disagreements.json")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--save", type=Path, help="also write every case's findings and time to this JSON file")
    parser.add_argument("--load", type=Path, help="score the findings a --save run wrote instead of linting again")
    args = parser.parse_args()
    document = json.loads(args.labels.read_text())
    labels = select(document["cases"], args.cases, args.family)
    subset = len(labels) < len(document["cases"])
    explanations = json.loads(args.explanations.read_text()) if args.explanations.exists() else {}
    if subset:
        explanations = {name: why for name, why in explanations.items() if name in labels}
    if args.load:
        saved = json.loads(args.load.read_text())
        records, wall = saved["cases"], saved["wall"]
        labels = {name: entry for name, entry in labels.items() if name in records}
        records = {name: record for name, record in records.items() if name in labels}
    else:
        started = time.perf_counter()
        records = run_gradlint([CASES / name for name in sorted(labels)], args.jobs)
        wall = time.perf_counter() - started
    if args.save:
        args.save.write_text(json.dumps({"wall": wall, "cases": records}, indent=1) + "\n")
    found = {name: flagged(record) for name, record in records.items()}
    seconds = {name: record["seconds"] for name, record in records.items()}
    result = score(labels, found)
    decided = result["tp"] + result["fp"] + result["fn"] + result["tn"]
    undecided = sum(1 for e in labels.values() if e["label"] == "undecided")
    scope = f" (a subset of the {len(document['cases'])} labelled)" if subset else ""
    print(f"{len(labels)} cases{scope} ({decided} decided, {undecided} undecided); labels from "
          f"`{document['command']}`\n")
    print("| | training fails | training works |\n|---|---:|---:|")
    print(f"| gradlint flags | {result['tp']} | {result['fp']} |")
    print(f"| gradlint passes | {result['fn']} | {result['tn']} |\n")
    print(f"precision {result['precision']:.2f}, recall {result['recall']:.2f}, "
          f"false-positive rate on cases that train {result['fp_rate']:.2f}\n")
    first = score({name: {**entry, "label": entry["runs"][0][1]} for name, entry in labels.items()}, found)
    print(f"Labelled from the task's first learning rate alone (no retry at a third or three times it): "
          f"{first['tp']} / {first['fp']} / {first['fn']} / {first['tn']} (flags a failing case / flags a "
          f"working case / misses / passes), precision {first['precision']:.2f}, recall {first['recall']:.2f}, "
          f"false-positive rate {first['fp_rate']:.2f}\n")
    before = score(labels, found, INITIALIZATION_RULES)
    first_before = score({name: {**entry, "label": entry["runs"][0][1]} for name, entry in labels.items()},
                         found, INITIALIZATION_RULES)
    print("What the dry run (GL701: 30 steps of the task's optimizer at its learning rate) adds to the "
          "rules that judge the model at initialization:\n")
    print("| labels | rules | flags a failing case | flags a working case | misses | precision | recall | "
          "false-positive rate |\n|---|---|---:|---:|---:|---:|---:|---:|")
    for labelled, without, with_ in (("first learning rate", first_before, first), ("best run", before, result)):
        for rules, rates in (("without GL701", without), ("with GL701", with_)):
            print(f"| {labelled} | {rules} | {rates['tp']} | {rates['fp']} | {rates['fn']} | "
                  f"{rates['precision']:.2f} | {rates['recall']:.2f} | {rates['fp_rate']:.2f} |")
    print()
    print("| family | cases | flags a failing case | misses a failing case | flags a working case | passes a working case |")
    print("|---|---:|---:|---:|---:|---:|")
    for family, rates in sorted(result["per_family"].items()):
        total = rates["tp"] + rates["fp"] + rates["fn"] + rates["tn"]
        print(f"| {family} | {total} | {rates['tp']} | {rates['fn']} | {rates['fp']} | {rates['tn']} |")
    print("\n| rule | flags a failing case | flags a working case |\n|---|---:|---:|")
    for code, counts in result["per_rule"].items():
        print(f"| {code} | {counts[True]} | {counts[False]} |")
    scores = rule_scores(labels, found)
    if scores:
        print("\nThe rules built a family for, each alone on its families (flagged: the rule reports the case):\n")
        print("| rule | families | cases | TP | FP | FN | TN | precision | recall |\n|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for code, rates in scores.items():
            total = rates["tp"] + rates["fp"] + rates["fn"] + rates["tn"]
            print(f"| {code} | {', '.join(f'{f}/' for f in rates['families'])} | {total} | {rates['tp']} | "
                  f"{rates['fp']} | {rates['fn']} | {rates['tn']} | {rates['precision']:.2f} | {rates['recall']:.2f} |")
    working = [n for n, e in labels.items() if e["label"] == "trains"]
    any_warning = [n for n in working if found[n]]
    print(f"\nCases that train with any finding at warning level or above, GL401's depth warning "
          f"(degradation, THEORY.md §3) included: {len(any_warning)} of {len(working)} "
          f"({len(any_warning) / max(len(working), 1):.1%}): "
          f"{', '.join(sorted({c for n in any_warning for c in found[n]})) or 'none'}")
    degraded = degradation(labels, found)
    if degraded:
        pairs = {n: sibling for n, sibling in degraded.items() if sibling}
        worse = [n for n, sibling in pairs.items() if labels[n]["final_loss"] > labels[sibling]["final_loss"]]
        print(f"\nGL401's own claim (plain stacks this deep train worse than shallower ones), checked on the "
              f"{len(degraded)} cases that train with its warning: {len(worse)} of the {len(pairs)} with a "
              f"shallower sibling that trains without it end at a higher loss")
        for name, sibling in degraded.items():
            versus = f"{labels[name]['final_loss']} vs {labels[sibling]['final_loss']} ({sibling})" if sibling else "no sibling"
            print(f"- {name}: {versus}")
    training = {name: entry["seconds"] for name, entry in labels.items()}
    ratios = [training[n] / seconds[n] for n in seconds if seconds[n] > 0]
    print(f"\nTime: gradlint {sum(seconds.values()):.0f} s over all cases ({wall:.0f} s wall with "
          f"{args.jobs} jobs, median {statistics.median(seconds.values()):.1f} s a case); training "
          f"{sum(training.values()):.0f} s (median {statistics.median(training.values()):.1f} s a case, "
          f"on the short budgets of eval/tasks.py); per case, training took a median "
          f"{statistics.median(ratios):.1f}× gradlint's time")
    if result["misses"]:
        print("\nDisagreements (case: training label; gradlint's findings — why):")
        for name, label, codes in result["misses"]:
            why = explanations.get(name, "UNEXPLAINED")
            print(f"- {name}: {label}; {', '.join(codes) or 'no finding'} — {why}")
    stale = sorted(set(explanations) - {name for name, _, _ in result["misses"]})
    if stale:
        print(f"\nSTALE explanations in {args.explanations.name} (these cases agree now): {', '.join(stale)}")


if __name__ == "__main__":
    main()
