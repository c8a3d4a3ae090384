"""What `gradlint run` adds to a training command (issue #28): a 4.7M-parameter transformer
language model trained with AdamW on a seeded corpus, run three ways in fresh processes, alternating
so a load that comes and goes falls on each:

* the plain script, stopped at its first optimizer step (a step pre-hook that exits): the
  script's own time to its first step, interpreter start and torch's import included;
* `gradlint run -- python train.py`, whole (the command's start to its exit);
* the check itself: the model's `seconds` in gradlint's JSON (trace, probe, rules, GL701's dry
  run), and the dry run's own seconds from its note.

overhead = gradlint run − the check − the plain script: what gradlint adds around the check
(its processes, imports, observing the script, collecting the result). The goal the issue sets:
gradlint run − the check ≤ 1.5 × the plain script.

    python bench/run_command.py [--repeat 3]
    python bench/run_command.py --repeat 1 -- python my_train.py --epochs 1   # your own command

Wall seconds (median) and CPU seconds (user + system of the process and its children); on a
shared machine the CPU seconds move less than the wall seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL = 1.5
TRAIN = '''
"""A small transformer language model (4.7M parameters) trained with AdamW on a seeded corpus."""
import argparse
import math

import torch
from torch import nn


class TinyLM(nn.Module):
    def __init__(self, vocab, width, depth, heads, context):
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.position = nn.Embedding(context, width)
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.1, batch_first=True,
                                           norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(context))

    def forward(self, tokens):
        steps = tokens.shape[1]
        x = self.embed(tokens) + self.position(torch.arange(steps, device=tokens.device))
        x = self.blocks(x, mask=self.mask[:steps, :steps], is_causal=True)
        return self.head(self.norm(x))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vocab", type=int, default=3000)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--context", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    torch.manual_seed(0)
    corpus = torch.randint(0, args.vocab, (200_000,))
    model = TinyLM(args.vocab, args.width, args.depth, 4, args.context)
    print(f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters")
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.1)
    loss_fn = nn.CrossEntropyLoss()
    for step in range(args.steps):
        starts = torch.randint(0, corpus.numel() - args.context - 1, (args.batch_size,))
        batch = torch.stack([corpus[s:s + args.context + 1] for s in starts])
        logits = model(batch[:, :-1])
        loss = loss_fn(logits.reshape(-1, args.vocab), batch[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % 50 == 0:
            print(f"step {step}: loss {loss.item():.3f} (ppl {math.exp(loss.item()):.0f})")


if __name__ == "__main__":
    main()
'''
# the plain script up to its first optimizer step: run as __main__ with its own arguments, and
# leave at once when the first step() begins (what gradlint run waits for, without gradlint)
FIRST_STEP = """
import os, runpy, sys
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook
register_optimizer_step_pre_hook(lambda *_: os._exit(0))
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0])))
runpy.run_path(sys.argv[0], run_name="__main__")
sys.exit("the script ended without an optimizer step")
"""
_DRY_RUN = re.compile(r"GL701 dry run: .*\(([\d.]+) s\)")


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, int, str]:
    """Wall and CPU seconds (user + system, children included), exit status and stdout."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    return (time.perf_counter() - started, usage.ru_utime + usage.ru_stime,
            os.waitstatus_to_exitcode(status), out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("command", nargs=argparse.REMAINDER,
                        help="-- python SCRIPT ARGS (default: the bench's language model)")
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    with tempfile.TemporaryDirectory() as folder:
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        if command:
            cwd = Path.cwd()
        else:
            cwd = Path(folder)
            (cwd / "pyproject.toml").write_text('[project]\nname = "lm"\n')
            (cwd / "train.py").write_text(TRAIN)
            command = ["python", "train.py"]
        rest = command[1:] if Path(command[0]).name.startswith("python") else command
        if not rest or rest[0].startswith("-"):
            sys.exit("give a command `python SCRIPT ARGS` (a script, not -m or python's own flags)")
        plain_argv = [sys.executable, "-c", FIRST_STEP, *rest]
        lint_argv = [sys.executable, "-m", "gradlint", "run", "--output-format", "json", "-v", "--", *command]
        plains, lints, checks, dry_runs = [], [], [], []
        for _ in range(args.repeat):
            wall, cpu, code, _ = timed(plain_argv, cwd, env)
            if code != 0:
                sys.exit(f"the plain script did not reach an optimizer step (exit {code})")
            plains.append((wall, cpu))
            wall, cpu, code, out = timed(lint_argv, cwd, env)
            document = json.loads(out)
            (result,) = document["files"]
            statuses = result["model_status"]
            if not statuses or any(s["seconds"] is None for s in statuses):
                sys.exit(f"gradlint run checked no model (exit {code}): {result['problems']}")
            lints.append((wall, cpu))
            checks.append(sum(s["seconds"] for s in statuses))
            dry_runs.append(sum(float(m.group(1)) for n in result["notes"] for m in [_DRY_RUN.search(n["message"])] if m))
    plain_wall, plain_cpu = (statistics.median(r[i] for r in plains) for i in (0, 1))
    lint_wall, lint_cpu = (statistics.median(r[i] for r in lints) for i in (0, 1))
    check, dry = statistics.median(checks), statistics.median(dry_runs)
    overheads = [lint[0] - c - plain[0] for lint, c, plain in zip(lints, checks, plains)]
    ratio = (lint_wall - check) / plain_wall
    print(f"`{' '.join(command)}`, median of {args.repeat} (fresh processes, alternating):")
    print(f"  the plain script to its first optimizer step: {plain_wall:6.2f} s wall, {plain_cpu:6.2f} s CPU")
    print(f"  gradlint run, whole:                          {lint_wall:6.2f} s wall, {lint_cpu:6.2f} s CPU")
    print(f"  the check (model seconds; GL701's dry run {dry:.2f} s of it): {check:.2f} s")
    print(f"  overhead = run − check − plain:               {statistics.median(overheads):6.2f} s "
          f"(each run: {', '.join(f'{o:.2f}' for o in overheads)})")
    print(f"  (run − check) / plain:                        {ratio:6.2f}× (goal ≤ {GOAL}×: "
          f"{'met' if ratio <= GOAL else 'NOT met'})")


if __name__ == "__main__":
    main()
