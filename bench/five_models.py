"""Limits per model, results kept (issue #28): one model file defining five ResNet-style conv nets
of increasing depth, each trained by an SGD script of its own (so GL701's dry run runs), linted with a --timeout
longer than any one model takes but shorter than all five together. Each model is linted alone
first (`models.py::Name`), then the whole file, each in a fresh process; prints every model's
status, seconds and the stage it ran out of time in, if it did.

    python bench/five_models.py                  # depths 2, 4, 6, 8, 10; --timeout 60 (~4 min on 2 CPUs)
    python bench/five_models.py --slow           # and a sixth model, in the middle, whose forward
                                                 # sleeps past its limit: it alone is not checked
    python bench/five_models.py --no-alone       # the whole file only

The goal the issue sets: every model reported, none lost to another's time (the file's import
has --timeout, and so does each model: a file of five models may take six times it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

PY = sys.executable

MODELS = """
import time

import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)

    def forward(self, x):
        return torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


class ResNet(nn.Module):
    def __init__(self, blocks, width={width}, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU())
        self.blocks = nn.Sequential(*[Block(width) for _ in range(blocks)])
        self.head = nn.Linear(width, classes)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)).mean((2, 3)))
"""
SLOW = """

class Slow(nn.Module):   # its forward sleeps past the model's time limit
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        time.sleep({seconds})
        return self.fc(x)
"""
DEPTH = """

class ResNet{depth}(ResNet):
    def __init__(self):
        super().__init__({depth})
"""
TRAIN = """
import torch
import torch.nn.functional as F

from models import ResNet{depth}


def main():
    model = ResNet{depth}()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for step in range(1000):
        x, y = torch.randn(32, 3, 32, 32), torch.randint(0, 10, (32,))
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()


if __name__ == "__main__":
    main()
"""


def lint(target: str, cwd: Path, timeout: float) -> tuple[dict, float, int]:
    """The JSON result of one file (-v: with each model's notes), the wall seconds and the exit code."""
    started = time.perf_counter()
    run = subprocess.run([PY, "-m", "gradlint", "check", target, "--no-cache", "--timeout", f"{timeout:g}",
                          "--output-format", "json", "-v"], cwd=cwd, capture_output=True, text=True,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    seconds = time.perf_counter() - started
    try:
        (file,) = json.loads(run.stdout)["files"]
    except (ValueError, KeyError):
        file = {"models": [], "model_status": [], "notes": [], "problems": [{"message": run.stderr.strip()[-300:]}]}
    return file, seconds, run.returncode


def described(status: dict | None) -> str:
    if status is None:
        return "**not reported**"
    why = f" ({status['why']})" if status.get("why") and status["status"] != "checked" else ""
    return status["status"] + why


_DRY_RUN = re.compile(r"GL701 dry run: .*?, (\d+) steps .*: (stopped by the time limit|.*?)(?:;.*)? \(([\d.]+) s\)$")


def dry_run(file: dict, name: str) -> str:
    """How far the model's GL701 dry run got, from its -v note: steps and seconds."""
    for note in file.get("notes", []):
        if note.get("model") == name and (found := _DRY_RUN.search(note["message"])):
            steps, outcome, seconds = found.groups()
            return f"{steps} steps{' (stopped)' if outcome.startswith('stopped') else ''}, {float(seconds):.1f} s"
    return "–"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depths", default="2,4,6,8,10", help="residual blocks of each model")
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--no-alone", action="store_true", help="skip linting each model alone")
    parser.add_argument("--slow", action="store_true", help="add a model whose forward sleeps past --timeout")
    args = parser.parse_args()
    depths = [int(d) for d in args.depths.split(",")]
    names = [f"ResNet{d}" for d in depths]
    half = len(depths) // 2
    if args.slow:
        names.insert(half, "Slow")
    with tempfile.TemporaryDirectory(prefix="gradlint-five-models-") as tmp:
        work = Path(tmp)
        (work / "pyproject.toml").write_text('[project]\nname = "bench"\n')
        (work / "models.py").write_text(
            textwrap.dedent(MODELS.format(width=args.width))
            + "".join(DEPTH.format(depth=d) for d in depths[:half])
            + (SLOW.format(seconds=args.timeout + 5) if args.slow else "")
            + "".join(DEPTH.format(depth=d) for d in depths[half:]))
        for depth in depths:   # a training script per model: GL701 dry-runs each with its optimizer
            (work / f"train_{depth}.py").write_text(textwrap.dedent(TRAIN.format(depth=depth)))
        alone = {}
        if not args.no_alone:
            for name in names:
                solo, seconds, _ = lint(f"models.py::{name}", work, args.timeout)
                status = next((s for s in solo["model_status"] if s["name"] == name), None)
                alone[name] = (status, seconds)
        file, wall, code = lint("models.py", work, args.timeout)
    print(f"{len(depths)} ResNet-style models (width {args.width}, depths {args.depths})"
          + (" and one that sleeps past its limit" if args.slow else "") + ", --timeout "
          f"{args.timeout:g}; {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print("| model | alone: status | alone: wall (s) | in the file: status | in the file: model (s) | "
          "in the file: dry run |\n|---|---|---:|---|---:|---|")
    statuses = {s["name"]: s for s in file["model_status"]}
    for name in names:
        status = statuses.get(name)
        seconds = f"{status['seconds']:.1f}" if status and status.get("seconds") is not None else "–"
        solo, solo_wall = alone.get(name, (None, None))
        print(f"| {name} | {described(solo) if name in alone else '–'} | "
              f"{f'{solo_wall:.1f}' if solo_wall is not None else '–'} | {described(status)} | {seconds} | "
              f"{dry_run(file, name)} |")
    print(f"\nthe whole file: {wall:.1f} s wall, exit code {code}")
    for problem in file["problems"]:
        print(f"problem: {problem['message']}")
    reported = [n for n in names if n in statuses]
    # lost to another's time: checked alone, not checked in the file
    lost = [n for n in reported if n in alone and alone[n][0] is not None
            and alone[n][0]["status"] == "checked" and statuses[n]["status"] != "checked"]
    met = len(reported) == len(names) and not lost
    print(f"goal, every model reported and none lost to another's time: {len(reported)} of {len(names)} "
          f"reported" + (f", {len(lost)} checked alone but not in the file ({', '.join(lost)})" if lost else "")
          + f" — {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
