"""gradlint's speed and memory against the floor torch itself sets. One command, one table:

    python bench/run.py                 # everything (several minutes on 2 CPUs)
    python bench/run.py --quick         # no bert-base / gpt2
    python bench/run.py --only files    # just the many-files rows (or: single, engine)

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
from gradlint.tracing.trace import trace
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


def measure(argv: list[str], cwd: Path, repeat: int, extra_env: dict[str, str] | None = None,
            log: Path | None = None) -> tuple[float, float]:
    """Median wall seconds and peak RSS (MiB) of the command and its children."""
    seconds, peak, _ = measure_cpu(argv, cwd, repeat, extra_env, log)
    return seconds, peak


def measure_cpu(argv: list[str], cwd: Path, repeat: int,
                extra_env: dict[str, str] | None = None, log: Path | None = None) -> tuple[float, float, float]:
    """Median wall seconds, peak RSS (MiB) and median CPU seconds (user + system) of the command
    and its children. CPU seconds hardly change with what else the machine is running. With
    ``log``, the last run's output (stdout and stderr) is written there."""
    times, peaks, cpus = [], [], []
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore", **(extra_env or {})}
    for _ in range(repeat):
        started = time.perf_counter()
        out = open(log, "wb") if log is not None else subprocess.DEVNULL  # noqa: SIM115 - closed below
        try:
            process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT if log else out)
            _, _, usage = os.wait4(process.pid, 0)
        finally:
            if log is not None:
                out.close()
        times.append(time.perf_counter() - started)
        peaks.append(usage.ru_maxrss / 1024)
        cpus.append(usage.ru_utime + usage.ru_stime)
    return statistics.median(times), max(peaks), statistics.median(cpus)


# a small model file of the kind a model zoo holds: each one different, none needs a GPU
SMALL_MODELS = [
    """
from torch import nn


class Mlp{i}(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(*[m for _ in range({depth}) for m in (nn.Linear(32, 32), nn.ReLU())],
                                 nn.Linear(32, 10))

    def forward(self, x):
        return self.net(x)
""",
    """
import torch
from torch import nn


class Gated{i}(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(24, 24) for _ in range({depth}))

    def forward(self, x):
        for layer in self.layers:
            x = torch.tanh(layer(x))
        return x
""",
    """
from torch import nn


class Encoder{i}(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(100, 32)
        self.blocks = nn.Sequential(*[nn.Sequential(nn.LayerNorm(32), nn.Linear(32, 64), nn.GELU(),
                                                    nn.Linear(64, 32)) for _ in range({depth})])

    def forward(self, tokens):
        return self.blocks(self.embed(tokens))
""",
]
HELPER = "import json\nimport os\n\n\ndef load_{i}(path):\n    with open(os.path.join(path, 'c{i}.json')) as f:\n        return json.load(f)\n"


def write_models(directory: Path, count: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        source = SMALL_MODELS[i % len(SMALL_MODELS)].format(i=i, depth=2 + i % 4)
        (directory / f"model_{i:02d}.py").write_text(source)


def write_project(directory: Path, files: int, models: int) -> None:
    """A repository as it comes: models/ among data, config and utility modules."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "pyproject.toml").write_text('[project]\nname = "zoo"\n')
    write_models(directory / "zoo" / "models", models)
    for i in range(files - models):
        package = directory / "zoo" / ("data", "utils", "config")[i % 3]
        package.mkdir(parents=True, exist_ok=True)
        (package / f"part_{i:02d}.py").write_text(HELPER.format(i=i))


def many_files(work: Path, counts: list[int], repeat: int) -> None:
    """N small model files in one cold run (default -j), with the fork server and with a process
    started afresh per file (as before it), side by side: wall and CPU seconds."""
    print("\n| small model files, cold | wall | × 1 file | wall per extra file | CPU | CPU per extra file "
          "| a process per file: wall | × 1 file | CPU |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    first = None
    for count in counts:
        directory = work / f"files_{count}"
        write_models(directory, count)
        argv = [PY, "-m", "gradlint", str(directory), "--no-cache"]
        wall, _, cpu = measure_cpu(argv, work, repeat)
        old_wall, _, old_cpu = measure_cpu(argv, work, repeat, {"GRADLINT_NO_FORK_SERVER": "1"})
        if first is None:
            first = (count, wall, cpu, old_wall)
            extra = ("", "")
        else:
            extra = (f"{(wall - first[1]) / (count - first[0]):.2f} s", f"{(cpu - first[2]) / (count - first[0]):.2f} s")
        print(f"| {count} | {wall:.2f} s | {wall / first[1]:.1f}× | {extra[0]} | {cpu:.1f} s | {extra[1]} "
              f"| {old_wall:.2f} s | {old_wall / first[3]:.1f}× | {old_cpu:.1f} s |")
    project_row(work, repeat)


def project_row(work: Path, repeat: int) -> None:
    project = work / "project"
    write_project(project, 90, 40)
    argv = [PY, "-m", "gradlint", ".", "--no-cache"]
    wall, _, cpu = measure_cpu(argv, project, repeat)
    old_wall, _, old_cpu = measure_cpu(argv, project, 1, {"GRADLINT_NO_FORK_SERVER": "1"})
    print(f"| `gradlint .`: 90 files, 40 with models | {wall:.2f} s | | | {cpu:.1f} s | "
          f"| {old_wall:.2f} s (1 run) | | {old_cpu:.1f} s |")


def engine_per_node(sizes: list[int]) -> list[tuple[int, float, float, float]]:
    """The rules alone (graph passes included, no probe) on synthetic graphs of N nodes (seeded):
    wall seconds, µs per node and CPU seconds."""
    code = textwrap.dedent("""
        import sys, time, torch
        from torch import nn
        from gradlint.passes.analysis import analyze
        from gradlint.check.engine import static_findings
        from gradlint.tracing.graph import build_graph
        from gradlint.check.enabled import enabled_rules
        from gradlint.check.rule import Location, ModelContext
        from gradlint.rules import run_order
        from gradlint.core.settings import Settings
        from gradlint.tracing.trace import trace
        n = int(sys.argv[1])
        torch.manual_seed(0)
        layers = [m for _ in range(n // 2) for m in (nn.Linear(4, 4), nn.ReLU())]
        model = nn.Sequential(*layers)
        graph_module_trace = trace(model, None)
        graph = build_graph(graph_module_trace)
        started, cpu = time.perf_counter(), time.process_time()
        analysis = analyze(graph, graph_module_trace.graph_module)
        ctx = ModelContext("x.py", "m", model, graph, analysis, Location("x.py", 1, 1), {})
        static_findings(run_order(r for r in enabled_rules(Settings(probe=False)) if r.scope == "model"), ctx)
        print(graph.number_of_nodes(), time.perf_counter() - started, time.process_time() - cpu)
    """)
    rows = []
    for size in sizes:
        out = subprocess.run([PY, "-c", code, str(size)], capture_output=True, text=True, check=True)
        nodes, seconds, cpu = out.stdout.split()
        rows.append((int(nodes), float(seconds), float(seconds) / int(nodes) * 1e6, float(cpu)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["single", "files", "engine"], help="run one part of the table")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gradlint-bench-"))
    (work / "pyproject.toml").write_text('[project]\nname = "bench"\n')
    (work / "utils.py").write_text("import os\n\ndef helper():\n    return os.getcwd()\n")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    if args.only in (None, "single"):
        single_files(work, args)
    if args.only in (None, "files"):
        many_files(work, [1, 4, 12, 48], args.repeat)
    if args.only in (None, "engine"):
        # CPU seconds of the process hardly change with what else the machine runs; wall seconds do
        print("\n| rule engine, nodes | seconds | µs per node | CPU seconds |\n|---:|---:|---:|---:|")
        for nodes, seconds, per_node, cpu in engine_per_node([1_000, 10_000, 100_000]):
            print(f"| {nodes} | {seconds:.3f} | {per_node:.1f} | {cpu:.3f} |")


def single_files(work: Path, args: argparse.Namespace) -> None:
    base, _ = measure([PY, "-c", "pass"], work, args.repeat)
    nomodel, _ = measure([PY, "-m", "gradlint", "utils.py", "--no-cache"], work, args.repeat)
    print("\n| case | gradlint | reference | ratio |\n|---|---:|---:|---:|")
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
    print("\nfloor = import torch (+ transformers) + build the model + one trace + one forward/backward, same batch.")


if __name__ == "__main__":
    main()
