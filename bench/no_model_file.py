"""What a file that defines no model costs: a 2 MB one-line data module (`DATA = [0, 1, ...]`),
linted cold, beside the cost of parsing it alone. The README promises that such a file costs a
parse; this prints how close that is, against the goal (issue #28: at most 1.2× its parse).

    python bench/no_model_file.py [--repeat 5]

Both sides are a fresh process (`python -c "ast.parse(...)"` against `python -m gradlint
--no-cache data.py`), so each pays the interpreter's start; the runs alternate, so a load that
comes and goes (the machine is shared) falls on both. Median of --repeat runs, wall and CPU
(user + system) seconds; the CPU ratio hardly depends on what else the machine is doing.
"""

from __future__ import annotations

import argparse
import ast
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL = 1.2
PARSE_ONLY = "import ast, sys; ast.parse(open(sys.argv[1], encoding='utf-8').read(), filename=sys.argv[1])"


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system) and the exit status of one fresh process."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "pyproject.toml").write_text('[project]\nname = "data"\n')
        source = "DATA = [" + ", ".join(str(i) for i in range(300_000)) + "]\n"
        (root / "data.py").write_text(source)
        in_process = []
        for _ in range(repeat):
            started = time.perf_counter()
            ast.parse(source)
            in_process.append(time.perf_counter() - started)
        parse_runs, lint_runs = [], []
        for _ in range(repeat):
            parse_runs.append(timed([sys.executable, "-c", PARSE_ONLY, "data.py"], root, env))
            lint_runs.append(timed([sys.executable, "-m", "gradlint", "--no-cache", "data.py"], root, env))
        failed = [code for _, _, code in lint_runs if code != 0]
    parse_wall, parse_cpu = (statistics.median(r[i] for r in parse_runs) for i in (0, 1))
    lint_wall, lint_cpu = (statistics.median(r[i] for r in lint_runs) for i in (0, 1))
    print(f"a {len(source) / 1e6:.1f} MB one-line file with no model, median of {repeat}:")
    print(f"  ast.parse in this process:        {statistics.median(in_process):.2f} s")
    print(f"  its parse (a fresh python):       {parse_wall:.2f} s wall, {parse_cpu:.2f} s CPU")
    print(f"  gradlint --no-cache data.py:      {lint_wall:.2f} s wall, {lint_cpu:.2f} s CPU")
    ratio = lint_cpu / parse_cpu
    print(f"  gradlint / its parse:             {lint_wall / parse_wall:.2f}× wall, {ratio:.2f}× CPU "
          f"(goal ≤ {GOAL}×: {'met' if ratio <= GOAL else 'NOT met'})")
    if failed:
        print(f"  gradlint exited with {failed}: the figures above are not a lint")
        sys.exit(1)


if __name__ == "__main__":
    main()
