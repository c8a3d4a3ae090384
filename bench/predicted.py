"""Predicted against measured: the static gain estimate and the probe, on the same span.

    python bench/predicted.py      # every fixture model and the test zoo's small configs

For each model, its main span (first layer or residual stream → last point of the same shape):
D_predicted = the mean-field gain summed over every path (THEORY.md §1), D_measured = log10 of the
probe's RMS activation-gradient ratio over the same two nodes. Prints a Markdown table and the
share of models within |ΔD| ≤ 1 (10×), attention- and gate-dominated models listed apart.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.simplefilter("ignore")


def models():
    from zoo import SMALL

    from gradlint.load import find_models, import_file

    for path in sorted((ROOT / "fixtures").rglob("*.py")):
        try:
            specs, _ = find_models(import_file(path), path, 0)
        except Exception:  # noqa: BLE001 - a fixture may be a training script
            continue
        for spec in specs:
            if spec.model is not None:
                yield f"{path.relative_to(ROOT / 'fixtures')}::{spec.name}", spec.model, spec.inputs
    for name in sorted(SMALL):
        model, inputs = SMALL[name]()
        yield f"zoo::{name}", model, inputs


def measure(model, inputs):
    import torch

    from gradlint.analysis import Analysis
    from gradlint.graph import build_graph
    from gradlint.inputs import candidate_inputs
    from gradlint.probe import probe_graph
    from gradlint.trace import trace

    if inputs is None:
        inputs = next(candidate_inputs(model, 8, 32, 0))
    traced = trace(model, inputs)
    graph = build_graph(traced)
    moments = {k: float(v.double().pow(2).mean()) for k, v in inputs.items()
               if isinstance(v, torch.Tensor) and v.is_floating_point()}
    analysis = Analysis(graph, traced.graph_module, moments)
    span = analysis.main_span
    if span is None:
        return None
    predicted = analysis.backward_gain(*span)
    measured = probe_graph(traced.graph_module, inputs, 0).span_d(*span)
    kinds = {graph.nodes[n]["kind"] for n in graph}
    gated = "attention" in kinds or any(d["target"] in ("matmul", "bmm", "softmax") and d["data"]
                                        for _, d in graph.nodes(data=True)) or "recurrent" in kinds \
        or bool(analysis.recurrent_nodes)
    return span, predicted, measured, gated


def main() -> None:
    _rows, close, counted, misses = [], 0, 0, []
    print("| model | span | D predicted | D measured | ΔD | attention/gated/recurrent |")
    print("|---|---|---:|---:|---:|---|")
    for name, model, inputs in models():
        try:
            result = measure(model, inputs)
        except Exception as exc:  # noqa: BLE001
            print(f"| {name} | not measured: {type(exc).__name__} | | | | |")
            continue
        if result is None:
            continue
        (start, end), predicted, measured, gated = result
        if measured is None or not math.isfinite(measured):
            print(f"| {name} | `{start}` → `{end}` | {predicted:.2f} | n/a | | {'yes' if gated else ''} |")
            continue
        delta = predicted - measured
        print(f"| {name} | `{start}` → `{end}` | {predicted:.2f} | {measured:.2f} | {delta:+.2f} | "
              f"{'yes' if gated else ''} |")
        if not gated:
            counted += 1
            close += abs(delta) <= 1
            if abs(delta) > 1:
                misses.append(name)
    print(f"\n{close} of {counted} models that are not attention-, gate- or recurrence-dominated are "
          f"within |ΔD| ≤ 1 ({close / max(counted, 1):.0%}). Misses: {', '.join(misses) or 'none'}.")


if __name__ == "__main__":
    main()
