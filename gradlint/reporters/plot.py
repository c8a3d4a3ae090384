"""``--plot FILE.png|.svg``: the gradient flow of each model along its main path — RMS gradient
on a log scale against depth, measured and predicted, relative to the last point, with the
class-H thresholds (THEORY.md §3) drawn and the model's findings named. Needs matplotlib
(``pip install 'gradlint[plot]'``)."""

from __future__ import annotations

from pathlib import Path

from gradlint.core.findings import Report

MAX_MODELS = 12


class PlotUnavailable(Exception):
    pass


def undrawn(report: Report) -> list[str]:
    """One line for every checked model that has no flow to draw, saying why."""
    lines = []
    for result in report.files:
        drawn = {flow["model"] for flow in result.flows}
        for status in sorted(result.model_status, key=lambda s: s.name):
            if status.tracer is None or status.name in drawn:
                continue
            why = (f"no main span ({status.span_note})" if status.span is None
                   else "its main span has fewer than two layers to draw")
            lines.append(f"{result.path}: model `{status.name}`: not drawn: {why}")
    return lines


def write(report: Report, path: Path) -> int:
    """Draw every model that has a flow (at most MAX_MODELS); returns how many were drawn. No
    file is written when there is none."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailable("--plot needs matplotlib: pip install 'gradlint[plot]'") from None
    flows = [(result.path, flow) for result in report.files for flow in result.flows][:MAX_MODELS]
    if not flows:
        return 0
    figure, axes = plt.subplots(len(flows), 1, figsize=(9, 3.2 * len(flows)), squeeze=False)
    for ax, (source, flow) in zip(axes[:, 0], flows):
        depth = range(len(flow["labels"]))
        predicted = [v for v in flow["predicted"]]
        ax.semilogy(depth, [v if v else float("nan") for v in predicted], "--", label="predicted")
        if flow.get("measured"):
            ax.semilogy(depth, [v if v else float("nan") for v in flow["measured"]], "o-", ms=3,
                        label="measured (probe)")
        for level, style in ((1e-2, ":"), (1e-4, "-"), (1e2, ":"), (1e4, "-")):
            ax.axhline(level, color="grey", linestyle=style, linewidth=0.8)
        findings = ", ".join(flow["findings"]) or "no finding"
        ax.set_title(f"{source} · {flow['model']} · {findings}", fontsize=9)
        ax.set_ylabel("RMS ∂L/∂h (last = 1)")
        step = max(1, len(flow["labels"]) // 12)
        ax.set_xticks(list(depth)[::step])
        ax.set_xticklabels(flow["labels"][::step], rotation=30, ha="right", fontsize=7)
        ax.legend(fontsize=8)
    axes[-1, 0].set_xlabel("main path, input side → output side (dotted: warning, solid: error)")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return len(flows)
