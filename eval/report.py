"""Score gradlint against the training labels: a confusion matrix overall and per rule,
precision, recall, the false-positive rate on the cases that train, and the time gradlint took
against the time training took.

    python eval/report.py            # uses eval/labels.json (python eval/tasks.py regenerates it)

A case is predicted to fail when gradlint reports a gradient finding at warning level or above:
GL101, GL102, GL201, GL202, GL301 or GL603. GL401 (degradation, not failure within a short
budget), GL501 (training code), GL601 (info) and GL602 are listed but do not count.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GRADIENT_RULES = ("GL101", "GL102", "GL201", "GL202", "GL301", "GL603")


def run_gradlint(cases: list[Path]) -> tuple[dict[str, set[str]], float]:
    sys.path.insert(0, str(ROOT))
    from gradlint.runner import lint

    started = time.perf_counter()
    report = lint([str(c) for c in cases], jobs=2)
    seconds = time.perf_counter() - started
    found: dict[str, set[str]] = {c.name: set() for c in cases}
    for result in report.files:
        name = Path(result.path).name
        found[name] |= {f.code for f in result.findings if f.severity >= report.fail_level}
    return found, seconds


def score(labels: dict, found: dict[str, set[str]]) -> dict:
    matrix = Counter()
    per_rule: dict[str, Counter] = {code: Counter() for code in GRADIENT_RULES}
    misses = []
    for name, entry in sorted(labels.items()):
        if entry["label"] == "undecided" or name not in found:
            continue
        actual = entry["label"] == "fails"
        predicted = bool(found[name] & set(GRADIENT_RULES))
        matrix[(predicted, actual)] += 1
        for code in GRADIENT_RULES:
            if code in found[name]:
                per_rule[code][actual] += 1
        if predicted != actual:
            misses.append((name, entry["label"], sorted(found[name])))
    tp, fp, fn, tn = matrix[(True, True)], matrix[(True, False)], matrix[(False, True)], matrix[(False, False)]
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "precision": tp / (tp + fp) if tp + fp else float("nan"),
            "recall": tp / (tp + fn) if tp + fn else float("nan"),
            "fp_rate": fp / (fp + tn) if fp + tn else float("nan"),
            "per_rule": per_rule, "misses": misses}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", type=Path, default=HERE / "labels.json")
    args = parser.parse_args()
    document = json.loads(args.labels.read_text())
    labels = document["cases"]
    cases = [HERE / "cases" / name for name in sorted(labels)]
    found, seconds = run_gradlint(cases)
    result = score(labels, found)
    decided = result["tp"] + result["fp"] + result["fn"] + result["tn"]
    training = sum(entry["seconds"] for entry in labels.values())
    undecided = sum(1 for e in labels.values() if e["label"] == "undecided")
    print(f"{len(labels)} cases ({decided} decided, {undecided} undecided); labels from `{document['command']}`\n")
    print("| | training fails | training works |\n|---|---:|---:|")
    print(f"| gradlint flags | {result['tp']} | {result['fp']} |")
    print(f"| gradlint passes | {result['fn']} | {result['tn']} |\n")
    print(f"precision {result['precision']:.2f}, recall {result['recall']:.2f}, "
          f"false-positive rate on cases that train {result['fp_rate']:.2f}")
    print(f"gradlint {seconds:.0f} s for all cases; training {training:.0f} s\n")
    print("| rule | flags a failing case | flags a working case |\n|---|---:|---:|")
    for code, counts in result["per_rule"].items():
        print(f"| {code} | {counts[True]} | {counts[False]} |")
    if result["misses"]:
        print("\nDisagreements (case: training label, gradlint's findings):")
        for name, label, codes in result["misses"]:
            print(f"- {name}: {label}; {', '.join(codes) or 'no finding'}")


if __name__ == "__main__":
    main()
