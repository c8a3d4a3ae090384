"""Predicted against measured: the static gain estimate and the probe, on the same span.

    python bench/predicted.py      # every fixture model and the test zoo's small configs

For each model, its main span (the first weight layer on the longest path from an input, or the
residual stream that starts there → the latest tensor every gradient reaching it crosses: the
logits, or the last hidden state) and its depth (weight layers in the span / in the model):
D_predicted = the mean-field gain summed over every path (THEORY.md §1), D_measured = log10 of the
probe's activation-gradient ratio over the same two nodes (with the probe's loss at the span's end
when the span stops before the model's outputs), both as the rules judge it: the ratio of the
gradient's norms (the RMS ratio times √(size at the start / size at the end)), an average over
k positions counted as keeping the gradient (the same constant on both sides, so ΔD is the RMS
ratio's). Prints a Markdown
table and the share of models within |ΔD| ≤ 1 (10×), attention- and gate-dominated models apart.
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

    from gradlint.models.load import find_models, import_file

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


ATTENTION = ("matmul", "bmm", "softmax", "scaled_dot_product_attention")


def measure(model, inputs):
    import torch

    from gradlint.measure.probe import probe
    from gradlint.passes.analysis import analyze
    from gradlint.tracing.graph import build_graph
    from gradlint.tracing.inputs import candidate_inputs
    from gradlint.tracing.trace import trace

    if inputs is None:
        inputs = next(candidate_inputs(model, 8, 32, 0))
    traced = trace(model, inputs)
    graph = build_graph(traced)
    moments = {k: float(v.double().pow(2).mean()) for k, v in inputs.items()
               if isinstance(v, torch.Tensor) and v.is_floating_point()}
    analysis = analyze(graph, traced.graph_module, moments)
    span = analysis.span
    if span is None:
        return None, analysis.span_note
    start, end = span.start, span.end
    # the gradient's norm ratio, as the rules judge it (the RMS ratio plus the same size
    # correction on both sides)
    correction = analysis.judged_correction(start, end)
    predicted = analysis.backward_gain(start, end) + correction
    losses = (span.loss_at,) if span.loss_at else ()
    measured = probe(traced.graph_module, inputs, 0, losses_at=losses).span_d(start, end)
    if measured is not None and math.isfinite(measured):
        measured += correction
    kinds = {graph.nodes[n]["kind"] for n in graph}
    gated = "attention" in kinds or any(d["target"] in ATTENTION and d["data"]
                                        for _, d in graph.nodes(data=True)) or "recurrent" in kinds \
        or bool(analysis.recurrent_nodes)
    labels = (graph.nodes[start]["label"], graph.nodes[end]["label"])
    return (labels, f"{span.layers_in_span}/{span.layers_in_model}", predicted, measured, gated), None


def main() -> None:
    close, counted, misses, spanless = 0, 0, [], []
    print("| model | span | layers in span | D predicted | D measured | ΔD | attention/gated/recurrent |")
    print("|---|---|---:|---:|---:|---:|---|")
    for name, model, inputs in models():
        try:
            result, why = measure(model, inputs)
        except Exception as exc:  # noqa: BLE001
            print(f"| {name} | not measured: {type(exc).__name__}: {exc} | | | | | |")
            continue
        if result is None:
            print(f"| {name} | no span: {why} | | | | | |")
            spanless.append(name)
            continue
        (start, end), depth, predicted, measured, gated = result
        mark = "yes" if gated else ""
        if measured is None or not math.isfinite(measured):
            print(f"| {name} | `{start}` → `{end}` | {depth} | {predicted:.2f} | n/a | | {mark} |")
            continue
        delta = predicted - measured
        print(f"| {name} | `{start}` → `{end}` | {depth} | {predicted:.2f} | {measured:.2f} | {delta:+.2f} | {mark} |")
        if not gated:
            counted += 1
            close += abs(delta) <= 1
            if abs(delta) > 1:
                misses.append(name)
    print(f"\n{close} of {counted} models that are not attention-, gate- or recurrence-dominated are "
          f"within |ΔD| ≤ 1 ({close / max(counted, 1):.0%}). Misses: {', '.join(misses) or 'none'}. "
          f"Models without a span: {', '.join(spanless) or 'none'}.")


if __name__ == "__main__":
    main()
