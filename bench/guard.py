"""What the guard (gradlint.guard.sandbox: Landlock, the audit hook, the redirection) adds to
`gradlint FILE` on the bundled examples: the same command with and without it, in turn, in fresh
processes (cold start, as a pre-commit hook runs), median of --repeat runs each.

    python bench/guard.py [--repeat 7]

Prints both medians and the overhead; the README's Safety section quotes it (target: under 5%).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def once(confined: bool) -> float:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if not confined:
        env["GRADLINT_BENCH_UNCONFINED"] = "1"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gradlint", "--no-cache", "examples/"], cwd=ROOT, env=env,
                   capture_output=True, check=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    repeat = parser.parse_args().repeat
    once(True)   # warm the file system cache
    guarded, bare = [], []
    for _ in range(repeat):   # in turn, so a drift of the machine's speed hits both alike
        guarded.append(once(True))
        bare.append(once(False))
    g, b = statistics.median(guarded), statistics.median(bare)
    print(f"gradlint --no-cache examples/, median of {repeat} runs each")
    print(f"  with the guard:    {g:.2f} s (min {min(guarded):.2f}, max {max(guarded):.2f})")
    print(f"  without the guard: {b:.2f} s (min {min(bare):.2f}, max {max(bare):.2f})")
    print(f"  overhead: {100 * (g - b) / b:+.1f}%")


if __name__ == "__main__":
    main()
