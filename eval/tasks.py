"""The ground truth: train each case for a short, fixed, seeded budget on two spirals.

    python eval/tasks.py [--budget STEPS] [CASE.py ...]    # writes eval/labels.json

Two interleaved spirals (2 classes, 2,000 points, noise 0.2) need a deep, well-conditioned
function. Plain SGD with momentum (lr 0.05, batch 128) for --budget steps (default 600), seeded;
the loss on the whole set is measured before and after. Label, from the ratio r = final/initial:
r ≤ 0.5 "trains", r ≥ 0.95 "fails", in between "undecided" (left out of the scores).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
LABELS = HERE / "labels.json"
TRAINS, FAILS = 0.5, 0.95


def spirals(n: int = 2000, noise: float = 0.2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    t = torch.sqrt(torch.rand(n // 2, generator=generator)) * 3 * math.pi
    arm = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1) / (3 * math.pi)
    x = torch.cat([arm, -arm]) + noise * torch.randn(n, 2, generator=generator) / 3
    y = torch.cat([torch.zeros(n // 2), torch.ones(n // 2)]).long()
    return x, y


def load(path: Path) -> torch.nn.Module:
    spec = importlib.util.spec_from_file_location(f"_eval_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)  # the same weights gradlint sees (it seeds 0 before building)
    return module.Net()


def train(path: Path, budget: int) -> dict:
    x, y = spirals()
    model = load(path)
    loss_fn = torch.nn.functional.cross_entropy

    def full_loss() -> float:
        model.eval()
        with torch.no_grad():
            value = float(loss_fn(model(x), y))
        model.train()
        return value

    initial = full_loss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    generator = torch.Generator().manual_seed(1)
    started = time.perf_counter()
    for _ in range(budget):
        batch = torch.randint(0, len(x), (128,), generator=generator)
        loss = loss_fn(model(x[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    seconds = time.perf_counter() - started
    final = full_loss()
    ratio = final / initial if math.isfinite(final) else math.inf
    label = "trains" if ratio <= TRAINS else "fails" if ratio >= FAILS else "undecided"
    return {"label": label, "initial_loss": round(initial, 4), "final_loss": round(final, 4) if math.isfinite(final) else None,
            "ratio": round(ratio, 4) if math.isfinite(ratio) else None, "seconds": round(seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", type=Path)
    parser.add_argument("--budget", type=int, default=600)
    parser.add_argument("--output", type=Path, default=LABELS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cases = args.cases or sorted((HERE / "cases").glob("*.py"))
    labels = {}
    for path in cases:
        labels[path.name] = train(path, args.budget)
        print(f"{path.name}: {labels[path.name]}", flush=True)
    document = {"command": f"python eval/tasks.py --budget {args.budget}", "budget": args.budget,
                "criterion": f"final/initial loss <= {TRAINS}: trains; >= {FAILS}: fails", "cases": labels}
    args.output.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
