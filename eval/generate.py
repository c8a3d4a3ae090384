"""Write the synthetic grid of evaluation cases: ordinary model files, one model each.

    python eval/generate.py

Depth × activation × normalization × skip connections × initializer, written the way people
write models: nn.Sequential stacks, ModuleList loops with functional activations, custom blocks.
Every file takes 2-D points (the two-spirals task of eval/tasks.py) and returns 2 logits.
"""

from __future__ import annotations

import itertools
from pathlib import Path

CASES = Path(__file__).resolve().parent / "cases"
DEPTHS = (4, 8, 16, 32)
ACTIVATIONS = {"relu": ("nn.ReLU()", "torch.relu"), "tanh": ("nn.Tanh()", "torch.tanh"),
               "sigmoid": ("nn.Sigmoid()", "torch.sigmoid")}
INITS = {
    "default": "",
    "scaled": {"relu": "nn.init.kaiming_normal_(layer.weight, nonlinearity='relu')",
               "tanh": "nn.init.xavier_normal_(layer.weight, gain=nn.init.calculate_gain('tanh'))",
               "sigmoid": "nn.init.xavier_normal_(layer.weight)"},
}

SEQUENTIAL = '''"""{title}"""
from torch import nn


class Net(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        layers = [nn.Linear(2, width)]
        for _ in range({depth}):
            layers += [nn.Linear(width, width), {norm}{module}]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 2)
{init}
    def forward(self, x):
        return self.head(self.body(x))
'''

RESIDUAL = '''"""{title}"""
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc = nn.Linear(width, width)
        self.norm = {norm_module}

    def forward(self, x):
        return x + {function}(self.norm(self.fc(x)))


class Net(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.stem = nn.Linear(2, width)
        self.blocks = nn.ModuleList(Block(width) for _ in range({depth}))
        self.head = nn.Linear(width, 2)
{init}
    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.head(x)
'''


def main() -> None:
    CASES.mkdir(exist_ok=True)
    for old in CASES.glob("*.py"):
        old.unlink()
    for depth, activation, norm, skip, init in itertools.product(
            DEPTHS, ACTIVATIONS, ("none", "bn"), ("plain", "residual"), INITS):
        module, function = ACTIVATIONS[activation]
        name = f"{skip}_{activation}_{norm}_{init}_{depth}"
        title = f"{depth} {activation} layers, {'BatchNorm' if norm == 'bn' else 'no normalization'}, " \
                f"{skip}, {init} init."
        statement = INITS[init][activation] if init == "scaled" else ""
        init_code = ""
        if statement:
            init_code = (f"        for layer in self.modules():\n"
                         f"            if isinstance(layer, nn.Linear):\n"
                         f"                {statement}\n")
        if skip == "plain":
            text = SEQUENTIAL.format(title=title, depth=depth, module=module, init=init_code,
                                     norm="nn.BatchNorm1d(width), " if norm == "bn" else "")
        else:
            text = RESIDUAL.format(title=title, depth=depth, function=function, init=init_code,
                                   norm_module="nn.BatchNorm1d(width)" if norm == "bn" else "nn.Identity()")
        (CASES / f"{name}.py").write_text(text)
    print(f"wrote {len(list(CASES.glob('*.py')))} cases to {CASES}")


if __name__ == "__main__":
    main()
