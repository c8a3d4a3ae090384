"""What a file that defines no model costs: a 2 MB one-line data module (`DATA = [0, 1, ...]`),
linted cold, median of --repeat runs, beside the cost of parsing it alone. The README promises
such a file costs a parse; this prints how close that is.

    python bench/no_model_file.py [--repeat 5]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "pyproject.toml").write_text('[project]\nname = "data"\n')
        source = "DATA = [" + ", ".join(str(i) for i in range(300_000)) + "]\n"
        (root / "data.py").write_text(source)
        parses = []
        for _ in range(repeat):
            started = time.perf_counter()
            ast.parse(source)
            parses.append(time.perf_counter() - started)
        runs = []
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        for _ in range(repeat):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "gradlint", "--no-cache", "data.py"], cwd=root, env=env,
                           capture_output=True, check=False)
            runs.append(time.perf_counter() - started)
    print(f"a {len(source) / 1e6:.1f} MB one-line file with no model, median of {repeat}:")
    print(f"  ast.parse alone:         {statistics.median(parses):.2f} s")
    print(f"  gradlint --no-cache FILE: {statistics.median(runs):.2f} s (process start included)")


if __name__ == "__main__":
    main()
