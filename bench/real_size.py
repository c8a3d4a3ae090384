"""GL701 at real size (issue #28): GPT-2 small (124M parameters, from its config with random
weights, no download) in a plain training script that builds it at module level and trains it with
AdamW, linted with and without GL701 (`--ignore GL701`), against one training step of the probe's
batch, each in a fresh process. Prints wall and CPU seconds (user + system, which hardly change with
what else the machine runs) and peak RSS (the process and its children).

    python bench/real_size.py               # GPT-2 small (several minutes on 2 CPUs)
    python bench/real_size.py --layers 4    # a 4-layer GPT-2, quicker

The goals the issue sets: with GL701 ≤ 1.5× without, the dry run finished within the default
limit, and the check's memory ≤ 1.2× one training step's.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from run import PY, measure_cpu  # noqa: E402

TRAIN = """
import torch
import transformers

config = transformers.GPT2Config(n_layer={layers}, use_cache=False)
model = transformers.GPT2LMHeadModel(config)
optimizer = torch.optim.AdamW(model.parameters(), lr=6e-4, weight_decay=0.1)


def main():
    for step in range(1000):
        x = torch.randint(0, config.vocab_size, (8, 32))
        loss = model(x, labels=x).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()


if __name__ == "__main__":
    main()
"""
ONE_STEP = TRAIN.replace("range(1000)", "range(1)") + "\nmain()\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gradlint-real-size-") as tmp:
        work = Path(tmp) / "project"
        work.mkdir()
        (work / "pyproject.toml").write_text('[project]\nname = "bench"\n')
        (work / "train.py").write_text(textwrap.dedent(TRAIN.format(layers=args.layers)))
        # the one-step script outside the project: inside it, it would be a second optimizer of the
        # project, and GL701 would not know which one trains the model (and skip its dry run)
        step = Path(tmp) / "step"
        step.mkdir()
        (step / "step.py").write_text(textwrap.dedent(ONE_STEP.format(layers=args.layers)))
        lint = [PY, "-m", "gradlint", "train.py", "--no-cache", "--exit-zero", "-v"]
        log = Path(tmp) / "gradlint.log"
        rows = [("one training step (batch 8 × 32)", measure_cpu([PY, "step.py"], step, args.repeat)),
                ("gradlint without GL701", measure_cpu([*lint, "--ignore", "GL701"], work, args.repeat)),
                ("gradlint with GL701", measure_cpu(lint, work, args.repeat, log=log))]
        said = [line.split("note: ", 1)[-1] for line in log.read_text(errors="replace").splitlines()
                if "GL701" in line]
    print(f"GPT-2, {args.layers} layers; {platform.machine()}, {platform.processor() or 'cpu'}, "
          f"Python {platform.python_version()}")
    print("| command | wall (s) | CPU (s) | peak RSS (MiB) |\n|---|---:|---:|---:|")
    for name, (seconds, peak, cpu) in rows:
        print(f"| {name} | {seconds:.1f} | {cpu:.1f} | {peak:.0f} |")
    (_, step, _), (without, plain, cpu_without), (with_, full, cpu_with) = [row for _, row in rows]
    print(f"\nwith / without GL701: {with_ / without:.2f}× time ({cpu_with / cpu_without:.2f}× CPU), "
          f"{full / plain:.2f}× memory; check / one training step: {full / step:.2f}× memory")
    print("\nwhat GL701 said (-v):" + "".join(f"\n  {line}" for line in said) if said else "\nGL701 said nothing")


if __name__ == "__main__":
    main()
