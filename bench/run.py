"""gradlint's speed and memory against the floor torch itself sets. One command, one table:

    python bench/run.py            # everything (a few minutes on 2 CPUs)
    python bench/run.py --quick    # no bert-base / gpt2

Every figure is measured side by side in the same run, each command in a fresh process (cold
start, as in a pre-commit hook), median of --repeat runs; memory is the process tree's peak RSS.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

HF_FILE = """
import torch, transformers
def gradlint_models():
    torch.manual_seed(0)
    model = transformers.{cls}(transformers.{cfg}())
    return {{"m": (model, {{"input_ids": torch.randint(0, 1000, (8, 32)), "use_cache": False}})}}
"""
FLOOR = """
import torch, time
{build}
from gradlint.trace import trace
model.eval()
trace(model, inputs)
model.train()
out = model(**inputs)
out = out if isinstance(out, torch.Tensor) else out[0]
out.float().sum().backward()
"""
STEP = """
import torch
{build}
model.train()
optimizer = torch.optim.Adam(model.parameters())
out = model(**inputs)
out = out if isinstance(out, torch.Tensor) else out[0]
out.float().sum().backward()
optimizer.step()
"""
BUILD_HF = """
import transformers
torch.manual_seed(0)
model = transformers.{cls}(transformers.{cfg}())
inputs = {{"input_ids": torch.randint(0, 1000, (8, 32)), "use_cache": False}}
"""
BUILD_MLP = """
import sys
sys.path.insert(0, {fixtures!r})
from published_relu_20_default import DeepReluDefault
model = DeepReluDefault()
inputs = {{"x": torch.randn(8, 256)}}
"""


def measure(argv: list[str], cwd: Path, repeat: int) -> tuple[float, float]:
    """Median wall seconds and peak RSS (MiB) of the command and its children."""
    times, peaks = [], []
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    for _ in range(repeat):
        started = time.perf_counter()
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, _, usage = os.wait4(process.pid, 0)
        times.append(time.perf_counter() - started)
        peaks.append(usage.ru_maxrss / 1024)
    return statistics.median(times), max(peaks)


def engine_per_node(sizes: list[int]) -> list[tuple[int, float, float]]:
    """The rules alone (graph passes included, no probe) on synthetic graphs of N nodes."""
    code = textwrap.dedent("""
        import sys, time, torch
        from torch import nn
        from gradlint.analysis import analyze
        from gradlint.graph import build_graph
        from gradlint.rule import Location, ModelContext
        from gradlint.settings import Settings
        from gradlint.trace import trace
        n = int(sys.argv[1])
        layers = [m for _ in range(n // 2) for m in (nn.Linear(4, 4), nn.ReLU())]
        model = nn.Sequential(*layers)
        graph_module_trace = trace(model, None)
        graph = build_graph(graph_module_trace)
        started = time.perf_counter()
        analysis = analyze(graph, graph_module_trace.graph_module)
        ctx = ModelContext("x.py", "m", model, graph, analysis, Location("x.py", 1, 1), {})
        for rule in Settings(probe=False).rules():
            if rule.scope == "model":
                list(rule.check(ctx))
        print(graph.number_of_nodes(), time.perf_counter() - started)
    """)
    rows = []
    for size in sizes:
        out = subprocess.run([PY, "-c", code, str(size)], capture_output=True, text=True, check=True)
        nodes, seconds = out.stdout.split()
        rows.append((int(nodes), float(seconds), float(seconds) / int(nodes) * 1e6))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gradlint-bench-"))
    (work / "pyproject.toml").write_text('[project]\nname = "bench"\n')
    (work / "utils.py").write_text("import os\n\ndef helper():\n    return os.getcwd()\n")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}\n")

    base, _ = measure([PY, "-c", "pass"], work, args.repeat)
    nomodel, _ = measure([PY, "-m", "gradlint", "utils.py", "--no-cache"], work, args.repeat)
    print("| case | gradlint | reference | ratio |\n|---|---:|---:|---:|")
    print(f"| file with no model (pre-commit) | {nomodel:.2f} s | `python -c pass` {base:.2f} s | +{nomodel - base:.2f} s |")

    fixtures = str(ROOT / "fixtures")
    cases = [("fixture MLP (20×256 ReLU)", ROOT / "fixtures" / "published_relu_20_default.py",
              BUILD_MLP.format(fixtures=fixtures))]
    if not args.quick:
        for name, cls, cfg in [("bert-base", "BertModel", "BertConfig"), ("gpt2 (124M)", "GPT2LMHeadModel", "GPT2Config")]:
            path = work / f"{cls}.py"
            path.write_text(HF_FILE.format(cls=cls, cfg=cfg))
            cases.append((name, path, BUILD_HF.format(cls=cls, cfg=cfg)))
    memory_rows = []
    for name, path, build in cases:
        lint, lint_peak = measure([PY, "-m", "gradlint", str(path), "--no-cache", "-j", "1"], work, args.repeat)
        floor, _ = measure([PY, "-c", FLOOR.format(build=build)], work, args.repeat)
        _, step_peak = measure([PY, "-c", STEP.format(build=build)], work, 1)
        print(f"| full lint, {name} | {lint:.2f} s | floor {floor:.2f} s | {lint / floor:.2f}× |")
        memory_rows.append((name, lint_peak, step_peak))
    cached, _ = measure([PY, "-m", "gradlint", str(cases[0][1])], work, 1)  # fills the cache
    cached, _ = measure([PY, "-m", "gradlint", str(cases[0][1])], work, args.repeat)
    print(f"| unchanged re-run, {cases[0][0]} (cache) | {cached:.2f} s | | |")
    for name, lint_peak, step_peak in memory_rows:
        print(f"| peak memory, {name} | {lint_peak:.0f} MiB | training step {step_peak:.0f} MiB | {lint_peak / step_peak:.2f}× |")

    print("\n| rule engine, nodes | seconds | µs per node |\n|---:|---:|---:|")
    for nodes, seconds, per_node in engine_per_node([1_000, 10_000, 100_000]):
        print(f"| {nodes} | {seconds:.3f} | {per_node:.1f} |")
    print("\nfloor = import torch (+ transformers) + build the model + one trace + one forward/backward, same batch.")


if __name__ == "__main__":
    main()
