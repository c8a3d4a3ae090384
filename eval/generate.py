"""Write the evaluation cases: ordinary model files, one model each, written the way people write
them (nn.Sequential stacks, ModuleList loops with functional activations, custom blocks, loops
over time steps, training scripts).

    python eval/generate.py

Families (directories under eval/cases/; eval/tasks.py picks each family's task):

* ``mlp/``: depth 4/8/16/32 × ReLU/tanh/sigmoid × BatchNorm or none × plain/residual ×
  PyTorch default or kaiming/xavier init; 2-D points in, 2 logits out (two spirals).
* ``cnn/``: the same grid for Conv2d stacks (16 channels, global average pooling, 4 logits;
  oriented gratings, 1×8×8 images), depth 4/8/16.
* ``residual/``: residual MLP stacks with two-layer branches (Linear-ReLU-Linear): He or default
  init, with and without BatchNorm/LayerNorm, and zero-initialized branch ends (last BN γ = 0,
  last Linear = 0, Fixup, SkipInit α = 0); depth 4/16/32 blocks (two spirals).
* ``rnn_t10/``, ``rnn_t100/``: recurrent models on the adding problem over T steps: nn.RNN tanh
  and ReLU with W_hh an orthogonal matrix × 0.5/0.9/1.0/1.1/2.0 (that spectral radius exactly),
  default nn.RNN, IRNN, nn.LSTM, nn.GRU and loops over time steps (a Linear applied every step,
  tanh and IRNN-style; at T=10 also nn.RNNCell, nn.LSTMCell and a default W_hh rescaled to
  spectral radius 1.1). Each directory has a
  pyproject.toml setting GL301's horizon (and the probe's seq-len) to T, as a user would.
  rnn_t100/ also holds THEORY.md §4's published recurrent cases (``published_*.py``).
* ``published/``: THEORY.md §4's published feed-forward cases adapted to two spirals (2 inputs,
  2 logits). Depths and initializations as published; widths cut for the time budget (5-layer
  nets 1000 → 256, deeper stacks 256 → 128; the mean-field gains do not depend on width). The
  100-layer deep linear net is linear, so eval/tasks.py trains it on linearly separable blobs.
* ``clipping/<case>/``: small projects (pyproject.toml + model.py) whose model.py holds a model
  and its training function ``fit(model, batches)``, with or without gradient clipping under
  several idioms; eval/tasks.py trains each by calling its own ``fit``. Includes THEORY.md §4's
  IRNN with / without clipping.
* ``warmup/<case>/`` (GL702): small projects whose model.py holds a Transformer encoder over
  token ids (width 32, 4 heads, feed-forward 64, no dropout, per-token logits) and ``fit()``
  training it with AdamW: post-LN (``nn.TransformerEncoder``'s default ``norm_first=False``, or
  a hand-written BERT-style block) at 6/12/18 layers, with no schedule, a LinearLR or LambdaLR
  warm-up, or a cosine decay without warm-up, at lr 1e-3 (and 3e-4); pre-LN controls.
* ``fp16/<case>/`` (GL801): small projects whose ``fit()`` trains in float16 autocast with or
  without ``torch.amp.GradScaler``, in bfloat16 autocast, or as a ``.half()`` model (SGD or
  Adam): an MLP classifier on two spirals and an MLP denoising autoencoder on 32×32 images
  (each project's pyproject.toml names its task under ``[tool.eval]``).

Every file written here is listed in ``cases/.generated``; a rerun deletes exactly those files
(and the flat files of the first layout, ``cases/*.py``) before writing, so hand-written cases
placed under eval/cases/ survive.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from tasks import input_std

CASES = Path(__file__).resolve().parent / "cases"
MANIFEST = CASES / ".generated"

ACTIVATIONS = {"relu": ("nn.ReLU()", "torch.relu"), "tanh": ("nn.Tanh()", "torch.tanh"),
               "sigmoid": ("nn.Sigmoid()", "torch.sigmoid")}
SCALED = {"relu": "nn.init.kaiming_normal_({w}, nonlinearity='relu')",
          "tanh": "nn.init.xavier_normal_({w}, gain=nn.init.calculate_gain('tanh'))",
          "sigmoid": "nn.init.xavier_normal_({w})"}


# ---------------------------------------------------------------------------------------------
# mlp/: the first grid, unchanged

MLP_DEPTHS = (4, 8, 16, 32)

MLP_SEQUENTIAL = '''"""{title}"""
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

MLP_RESIDUAL = '''"""{title}"""
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


def init_loop(kind: str, statement: str) -> str:
    if not statement:
        return ""
    return (f"        for layer in self.modules():\n"
            f"            if isinstance(layer, nn.{kind}):\n"
            f"                {statement.format(w='layer.weight')}\n")


def mlp_cases() -> dict[str, str]:
    files = {}
    for depth, activation, norm, skip, init in itertools.product(
            MLP_DEPTHS, ACTIVATIONS, ("none", "bn"), ("plain", "residual"), ("default", "scaled")):
        module, function = ACTIVATIONS[activation]
        title = f"{depth} {activation} layers, {'BatchNorm' if norm == 'bn' else 'no normalization'}, " \
                f"{skip}, {init} init."
        init_code = init_loop("Linear", SCALED[activation] if init == "scaled" else "")
        if skip == "plain":
            text = MLP_SEQUENTIAL.format(title=title, depth=depth, module=module, init=init_code,
                                         norm="nn.BatchNorm1d(width), " if norm == "bn" else "")
        else:
            text = MLP_RESIDUAL.format(title=title, depth=depth, function=function, init=init_code,
                                       norm_module="nn.BatchNorm1d(width)" if norm == "bn" else "nn.Identity()")
        files[f"mlp/{skip}_{activation}_{norm}_{init}_{depth}.py"] = text
    return files


# ---------------------------------------------------------------------------------------------
# cnn/: the same grid for Conv2d stacks on 1×8×8 images, 4 classes

CNN_DEPTHS = (4, 8, 16)

CNN_SEQUENTIAL = '''"""{title}"""
from torch import nn


class Net(nn.Module):
    def __init__(self, channels=16):
        super().__init__()
        layers = [nn.Conv2d(1, channels, 3, padding=1)]
        for _ in range({depth}):
            layers += [nn.Conv2d(channels, channels, 3, padding=1), {norm}{module}]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 4))
{init}
    def forward(self, x):
        return self.classifier(self.features(x))
'''

CNN_MODULELIST = '''"""{title}"""
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, channels=16, depth={depth}):
        super().__init__()
        self.stem = nn.Conv2d(1, channels, 3, padding=1)
        self.convs = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in range(depth))
{norms}        self.fc = nn.Linear(channels, 4)
{init}
    def forward(self, x):
        x = self.stem(x)
{loop}        return self.fc(x.mean(dim=(2, 3)))
'''

CNN_RESIDUAL = '''"""{title}"""
import torch
{functional}from torch import nn


class Block(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1{bias})
        self.bn = {norm_module}

    def forward(self, x):
        return x + {function}(self.bn(self.conv(x)))


class Net(nn.Module):
    def __init__(self, channels=16, depth={depth}):
        super().__init__()
        self.stem = nn.Conv2d(1, channels, 3, padding=1)
        self.blocks = nn.Sequential(*[Block(channels) for _ in range(depth)])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, 4)
{init}
    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(torch.flatten(self.pool(x), 1))
'''

CNN_FUNCTIONAL = {"relu": "F.relu", "tanh": "torch.tanh", "sigmoid": "torch.sigmoid"}


def cnn_cases() -> dict[str, str]:
    files = {}
    for depth, activation, norm, skip, init in itertools.product(
            CNN_DEPTHS, ACTIVATIONS, ("none", "bn"), ("plain", "residual"), ("default", "scaled")):
        module, function = ACTIVATIONS[activation]
        bn = norm == "bn"
        init_code = init_loop("Conv2d", SCALED[activation] if init == "scaled" else "")
        if skip == "residual":
            style = "residual Block class"
            text = CNN_RESIDUAL.format(depth=depth, function=CNN_FUNCTIONAL[activation], init=init_code,
                                       bias=", bias=False" if bn else "",
                                       functional="import torch.nn.functional as F\n" if activation == "relu" else "",
                                       norm_module="nn.BatchNorm2d(channels)" if bn else "nn.Identity()",
                                       title="{title}")
        elif depth in (4, 16):
            style = "nn.Sequential"
            text = CNN_SEQUENTIAL.format(depth=depth, module=module, init=init_code, title="{title}",
                                         norm="nn.BatchNorm2d(channels), " if bn else "")
        else:
            style = "ModuleList loop, functional activations"
            norms = ("        self.norms = nn.ModuleList(nn.BatchNorm2d(channels) for _ in range(depth))\n"
                     if bn else "")
            loop = (f"        for conv, norm in zip(self.convs, self.norms):\n"
                    f"            x = {function}(norm(conv(x)))\n" if bn else
                    f"        for conv in self.convs:\n"
                    f"            x = {function}(conv(x))\n")
            text = CNN_MODULELIST.format(depth=depth, norms=norms, loop=loop, init=init_code, title="{title}")
        title = (f"{depth} {activation} conv layers (+ stem), {'BatchNorm2d' if bn else 'no normalization'}, "
                 f"{skip} ({style}), {init} init; 1-channel images, 4 classes.")
        files[f"cnn/{skip}_{activation}_{norm}_{init}_{depth}.py"] = text.replace("{title}", title, 1)
    return files


# ---------------------------------------------------------------------------------------------
# residual/: two-layer residual branches, normalization and zero-initialized branch ends

RESIDUAL_DEPTHS = (4, 16, 32)

RESIDUAL_BLOCKS = {
    "he": ("He-initialized Linear-ReLU-Linear branches, no normalization (×3 per block, THEORY §1)", '''
class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)
        nn.init.kaiming_normal_(self.fc1.weight, nonlinearity="relu")
        nn.init.kaiming_normal_(self.fc2.weight, nonlinearity="relu")

    def forward(self, x):
        return x + self.fc2(torch.relu(self.fc1(x)))
'''),
    "default": ("Linear-ReLU-Linear branches at PyTorch's default init, no normalization", '''
class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)

    def forward(self, x):
        return x + self.fc2(torch.relu(self.fc1(x)))
'''),
    "postbn": ("ResNet-style blocks: Linear-BN-ReLU-Linear-BN branch, ReLU after the sum, He init", '''
class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc1 = nn.Linear(width, width, bias=False)
        self.bn1 = nn.BatchNorm1d(width)
        self.fc2 = nn.Linear(width, width, bias=False)
        self.bn2 = nn.BatchNorm1d(width)
        nn.init.kaiming_normal_(self.fc1.weight, nonlinearity="relu")
        nn.init.kaiming_normal_(self.fc2.weight, nonlinearity="relu")

    def forward(self, x):
        out = torch.relu(self.bn1(self.fc1(x)))
        return torch.relu(x + self.bn2(self.fc2(out)))
'''),
    "postbn_zero_gamma": ("ResNet-style blocks with the last BatchNorm's weight zeroed (Goyal et al. 2017)", '''
class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc1 = nn.Linear(width, width, bias=False)
        self.bn1 = nn.BatchNorm1d(width)
        self.fc2 = nn.Linear(width, width, bias=False)
        self.bn2 = nn.BatchNorm1d(width)
        nn.init.kaiming_normal_(self.fc1.weight, nonlinearity="relu")
        nn.init.kaiming_normal_(self.fc2.weight, nonlinearity="relu")
        nn.init.zeros_(self.bn2.weight)

    def forward(self, x):
        out = torch.relu(self.bn1(self.fc1(x)))
        return torch.relu(x + self.bn2(self.fc2(out)))
'''),
    "preact_bn": ("pre-activation blocks: BN-ReLU-Linear-BN-ReLU-Linear branch, He init", '''
class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.bn1 = nn.BatchNorm1d(width)
        self.fc1 = nn.Linear(width, width)
        self.bn2 = nn.BatchNorm1d(width)
        self.fc2 = nn.Linear(width, width)
        nn.init.kaiming_normal_(self.fc1.weight, nonlinearity="relu")
        nn.init.kaiming_normal_(self.fc2.weight, nonlinearity="relu")

    def forward(self, x):
        out = self.fc1(torch.relu(self.bn1(x)))
        return x + self.fc2(torch.relu(self.bn2(out)))
'''),
    "preln": ("pre-LN blocks: LayerNorm-Linear-ReLU-Linear branch, He init", '''
class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)
        nn.init.kaiming_normal_(self.fc1.weight, nonlinearity="relu")
        nn.init.kaiming_normal_(self.fc2.weight, nonlinearity="relu")

    def forward(self, x):
        return x + self.fc2(torch.relu(self.fc1(self.norm(x))))
'''),
    "zero_last": ("He-initialized branches whose last Linear is zero-initialized, no normalization", '''
class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)
        nn.init.kaiming_normal_(self.fc1.weight, nonlinearity="relu")
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, x):
        return x + self.fc2(torch.relu(self.fc1(x)))
'''),
    "fixup": (("Fixup (Zhang et al. 2019): first branch layer He × depth^-1/2, last layer zero, scalar "
               "biases and multiplier, no normalization"), '''
class Block(nn.Module):
    def __init__(self, width, depth):
        super().__init__()
        self.bias1 = nn.Parameter(torch.zeros(1))
        self.fc1 = nn.Linear(width, width, bias=False)
        self.bias2 = nn.Parameter(torch.zeros(1))
        self.fc2 = nn.Linear(width, width, bias=False)
        self.scale = nn.Parameter(torch.ones(1))
        nn.init.kaiming_normal_(self.fc1.weight, nonlinearity="relu")
        with torch.no_grad():
            self.fc1.weight.mul_(depth ** -0.5)
        nn.init.zeros_(self.fc2.weight)

    def forward(self, x):
        out = torch.relu(self.fc1(x + self.bias1))
        return x + self.scale * self.fc2(out + self.bias2)
'''),
    "skipinit": ("SkipInit (De & Smith 2020): He-initialized branches times a learnable scalar α = 0", '''
class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)
        nn.init.kaiming_normal_(self.fc1.weight, nonlinearity="relu")
        nn.init.kaiming_normal_(self.fc2.weight, nonlinearity="relu")
        self.alpha = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return x + self.alpha * self.fc2(torch.relu(self.fc1(x)))
'''),
}

RESIDUAL_NET = '''"""{depth} residual blocks: {title}; two spirals."""
import torch
from torch import nn

{block}

class Net(nn.Module):
    def __init__(self, width=64, depth={depth}):
        super().__init__()
        self.stem = nn.Linear(2, width)
        self.blocks = nn.Sequential(*[Block({block_args}) for _ in range(depth)])
        self.head = nn.Linear(width, 2)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))
'''


def residual_cases() -> dict[str, str]:
    files = {}
    for variant, (title, block) in RESIDUAL_BLOCKS.items():
        for depth in RESIDUAL_DEPTHS:
            files[f"residual/{variant}_{depth}.py"] = RESIDUAL_NET.format(
                depth=depth, title=title, block=block,
                block_args="width, depth" if variant == "fixup" else "width")
    return files


# ---------------------------------------------------------------------------------------------
# rnn_t<T>/: recurrent models on the adding problem

HORIZONS = (10, 100)
RHOS = (0.5, 0.9, 1.0, 1.1, 2.0)

PYPROJECT = '''# The adding problem over {T} steps: judge recurrences over the horizon the data has.
# How eval/tasks.py trains these cases, stated as a user would (the dry run, GL701):
[tool.gradlint]
optimizer = "Adam"
lr = {lr}

[tool.gradlint.probe]
seq-len = {T}
input-std = {std}                  # the inputs' standard deviation

[tool.gradlint.rules.GL301]
horizon = {T}
'''

RNN_MODULE = '''"""{title}; adding problem, (batch, T, 2) in, (batch, 1) out."""
{torch}from torch import nn


class Net(nn.Module):
    def __init__(self, hidden={hidden}):
        super().__init__()
        self.rnn = {rnn}
{init}        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])
'''

RNN_INITS = {
    "orthogonal": '''        with torch.no_grad():
            nn.init.orthogonal_(self.rnn.weight_hh_l0)
            self.rnn.weight_hh_l0.mul_({rho})  # spectral radius {rho}
{bias}''',
    "scaled": '''        with torch.no_grad():
            weight = self.rnn.weight_hh_l0
            weight.mul_({rho} / torch.linalg.eigvals(weight).abs().max())  # spectral radius {rho}
{bias}''',
    "identity": '''        with torch.no_grad():
            self.rnn.weight_hh_l0.copy_(torch.eye(hidden))
            self.rnn.bias_hh_l0.zero_()
''',
}

LOOP_MODELS = {
    "loop_rnncell_tanh": ("nn.RNNCell (tanh, default init) stepped in a Python loop", '''
class Net(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.cell = nn.RNNCell(2, hidden)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        h = x.new_zeros(x.size(0), self.cell.hidden_size)
        for t in range(x.size(1)):
            h = self.cell(x[:, t], h)
        return self.head(h)
'''),
    "loop_linear_tanh": ("hand-written tanh RNN: one Linear applied every step (default init)", '''
class Net(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.hidden = hidden
        self.inp = nn.Linear(2, hidden)
        self.rec = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        h = torch.zeros(x.size(0), self.hidden)
        for t in range(x.size(1)):
            h = torch.tanh(self.inp(x[:, t]) + self.rec(h))
        return self.head(h)
'''),
    "loop_linear_irnn": ("hand-written IRNN: a Linear initialized to the identity, ReLU, every step", '''
class Net(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.hidden = hidden
        self.inp = nn.Linear(2, hidden)
        self.rec = nn.Linear(hidden, hidden)
        nn.init.eye_(self.rec.weight)
        nn.init.zeros_(self.rec.bias)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        h = torch.zeros(x.size(0), self.hidden)
        for t in range(x.size(1)):
            h = torch.relu(self.inp(x[:, t]) + self.rec(h))
        return self.head(h)
'''),
    "loop_lstmcell": ("nn.LSTMCell stepped in a Python loop", '''
class Net(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.cell = nn.LSTMCell(2, hidden)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        h = c = x.new_zeros(x.size(0), self.cell.hidden_size)
        for t in range(x.size(1)):
            h, c = self.cell(x[:, t], (h, c))
        return self.head(h)
'''),
}

LOOP_FILE = '''"""{title}; adding problem, (batch, T, 2) in, (batch, 1) out."""
import torch
from torch import nn

{body}

def gradlint_models():
    # no layer tells gradlint the input's shape (batch, T, 2): declare it
    return {{"Net": (Net(), torch.randn(8, {T}, 2))}}
'''


def rnn_module(title: str, rnn: str, init: str = "", hidden: int = 64) -> str:
    return RNN_MODULE.format(title=title, rnn=rnn, init=init, hidden=hidden,
                             torch="import torch\n" if "torch." in init else "")


def recurrent_models(T: int) -> dict[str, str]:
    """The grid over the horizon T; T=100 runs are 10× dearer, so it keeps two of the loops and
    no rescaled default matrices there."""
    files = {}
    for nonlinearity, rho in itertools.product(("tanh", "relu"), RHOS):
        bias = "            self.rnn.bias_hh_l0.zero_()\n" if nonlinearity == "relu" else ""
        files[f"{nonlinearity}_orthogonal_rho{rho}.py"] = rnn_module(
            f"nn.RNN ({nonlinearity}), W_hh orthogonal × {rho} (spectral radius {rho})",
            f'nn.RNN(2, hidden, nonlinearity="{nonlinearity}", batch_first=True)',
            RNN_INITS["orthogonal"].format(rho=rho, bias=bias))
    if T <= 10:
        for nonlinearity in ("tanh", "relu"):
            bias = "            self.rnn.bias_hh_l0.zero_()\n" if nonlinearity == "relu" else ""
            files[f"{nonlinearity}_scaled_rho1.1.py"] = rnn_module(
                f"nn.RNN ({nonlinearity}), default W_hh rescaled to spectral radius 1.1",
                f'nn.RNN(2, hidden, nonlinearity="{nonlinearity}", batch_first=True)',
                RNN_INITS["scaled"].format(rho=1.1, bias=bias))
    files["rnn_default.py"] = rnn_module("nn.RNN (tanh) at PyTorch's default init",
                                         "nn.RNN(2, hidden, batch_first=True)")
    files["irnn.py"] = rnn_module("IRNN (Le et al. 2015): ReLU nn.RNN with W_hh = I, zero recurrent bias",
                                  'nn.RNN(2, hidden, nonlinearity="relu", batch_first=True)',
                                  RNN_INITS["identity"])
    files["lstm.py"] = rnn_module("nn.LSTM at PyTorch's default init", "nn.LSTM(2, hidden, batch_first=True)")
    files["gru.py"] = rnn_module("nn.GRU at PyTorch's default init", "nn.GRU(2, hidden, batch_first=True)")
    loops = LOOP_MODELS if T <= 10 else {k: LOOP_MODELS[k] for k in ("loop_linear_tanh", "loop_linear_irnn")}
    for name, (title, body) in loops.items():
        files[f"{name}.py"] = LOOP_FILE.format(title=title, body=body, T=T)
    return files


def rnn_cases() -> dict[str, str]:
    files = {}
    for T in HORIZONS:
        files[f"rnn_t{T}/pyproject.toml"] = PYPROJECT.format(T=T, lr=ADAM_LR[T], std=input_std(f"adding-T{T}"))
        files.update({f"rnn_t{T}/{name}": text for name, text in recurrent_models(T).items()})
    # THEORY.md §4, as written in fixtures/published_*.py (hidden 128)
    files["rnn_t100/published_rnn_default.py"] = rnn_module(
        "THEORY.md §4: vanilla tanh nn.RNN, default init, adding problem T=100 (Le et al. 2015: fails)",
        "nn.RNN(2, hidden, batch_first=True)", hidden=128)
    files["rnn_t100/published_lstm.py"] = rnn_module(
        "THEORY.md §4: nn.LSTM on the adding problem T=100 (passes)",
        "nn.LSTM(2, hidden, batch_first=True)", hidden=128)
    return files


# ---------------------------------------------------------------------------------------------
# published/: THEORY.md §4's feed-forward cases on two spirals

STEM_MLP = '''
class Net(nn.Module):
    def __init__(self, {params}):
        super().__init__()
        self.stem = nn.Linear(2, width)
        self.layers = nn.ModuleList(nn.Linear(width, width) for _ in range({count}))
        self.head = nn.Linear(width, 2)
{init}
    def forward(self, x):
        x = self.stem(x)
        for layer in self.layers:
            x = {act}(layer(x))
        return self.head(x)
'''
XAVIER_NORMAL = "nn.init.normal_(layer.weight, std=(1.0 / width) ** 0.5)"


def stem_mlp(params: str, count: str, act: str, weight: str | None = None,
             bias: str = "nn.init.zeros_(layer.bias)") -> str:
    """A stem, ``count`` hidden layers of ``act`` in a ModuleList, a head; ``weight`` and ``bias``
    initialize every hidden layer (PyTorch's default init when ``weight`` is None)."""
    init = f"        for layer in self.layers:\n            {weight}\n            {bias}\n" if weight else ""
    return STEM_MLP.format(params=params, count=count, act=act, init=init)


PUBLISHED = {
    "tanh_5x256_default": ("5-layer tanh MLP at PyTorch's default init (Glorot: warning)",
                           stem_mlp("width=256", "5", "torch.tanh")),
    "tanh_5x256_xavier": ("the same 5-layer tanh MLP with xavier_uniform_ (pass)",
                          stem_mlp("width=256", "5", "torch.tanh", "nn.init.xavier_uniform_(layer.weight)")),
    "sigmoid_5x256": ("5-layer sigmoid MLP, no normalization (Glorot: error)", '''
class Net(nn.Module):
    def __init__(self, width=256):
        super().__init__()
        layers = [nn.Linear(2, width)]
        for _ in range(5):
            layers += [nn.Linear(width, width), nn.Sigmoid()]
        self.hidden = nn.Sequential(*layers)
        self.head = nn.Linear(width, 2)

    def forward(self, x):
        return self.head(self.hidden(x))
'''),
    "relu_30_xavier": ("30-layer ReLU MLP, Xavier init Var 1/n (He et al. 2015: stalls; error)",
                       stem_mlp("depth=30, width=128", "depth", "torch.relu", XAVIER_NORMAL)),
    "relu_30_kaiming": ("30-layer ReLU MLP, kaiming_normal_ (He et al. 2015: converges)",
                        stem_mlp("depth=30, width=128", "depth", "torch.relu",
                                 'nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")')),
    "relu_22_xavier": ("22-layer ReLU MLP, Xavier init Var 1/n (He et al. 2015: converges, later; warning)",
                       stem_mlp("depth=22, width=128", "depth", "torch.relu", XAVIER_NORMAL)),
    "relu_20_default": ("20-layer ReLU MLP at PyTorch's default init (error, D ≈ −7.4)", '''
class Net(nn.Module):
    def __init__(self, width=128):
        super().__init__()
        layers = [nn.Linear(2, width)]
        for _ in range(20):
            layers += [nn.Linear(width, width), nn.ReLU()]
        self.net = nn.Sequential(*layers)
        self.head = nn.Linear(width, 2)

    def forward(self, x):
        return self.head(self.net(x))
'''),
    "sigmoid_3x100_small_gaussian": ("3×100 sigmoid MLP, N(0, 0.1²) init, no BN (Ioffe & Szegedy: warning)", '''
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(2, 100)
        self.fc2 = nn.Linear(100, 100)
        self.fc3 = nn.Linear(100, 100)
        self.out = nn.Linear(100, 2)
        for fc in (self.fc1, self.fc2, self.fc3, self.out):
            nn.init.normal_(fc.weight, std=0.1)
            nn.init.zeros_(fc.bias)

    def forward(self, x):
        h = torch.sigmoid(self.fc1(x))
        h = torch.sigmoid(self.fc2(h))
        h = torch.sigmoid(self.fc3(h))
        return self.out(h)
'''),
    "sigmoid_3x100_batchnorm": ("the same 3×100 sigmoid MLP with BatchNorm before each sigmoid (pass)", '''
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.bn1 = nn.Linear(2, 100), nn.BatchNorm1d(100)
        self.fc2, self.bn2 = nn.Linear(100, 100), nn.BatchNorm1d(100)
        self.fc3, self.bn3 = nn.Linear(100, 100), nn.BatchNorm1d(100)
        self.out = nn.Linear(100, 2)
        for fc in (self.fc1, self.fc2, self.fc3, self.out):
            nn.init.normal_(fc.weight, std=0.1)

    def forward(self, x):
        h = torch.sigmoid(self.bn1(self.fc1(x)))
        h = torch.sigmoid(self.bn2(self.fc2(h)))
        h = torch.sigmoid(self.bn3(self.fc3(h)))
        return self.out(h)
'''),
    "deep_linear_100_orthogonal": (("100-layer deep linear net, orthogonal init (Saxe et al. 2013: no "
                                    "gradient finding); linear, so trained on linearly separable blobs"), '''
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Linear(2, 128)
        self.layers = nn.ModuleList(nn.Linear(128, 128, bias=False) for _ in range(100))
        for layer in self.layers:
            nn.init.orthogonal_(layer.weight)
        self.head = nn.Linear(128, 2)

    def forward(self, x):
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x)
        return self.head(x)
'''),
}

def published_cases() -> dict[str, str]:
    cases = dict(PUBLISHED)
    for label, sw2, expected in (("critical", 1.5, "trainable; no gradient finding"),
                                 ("ordered", 0.5, "vanishing; error"), ("chaotic", 4.0, "chaotic; error")):
        cases[f"tanh_50_{label}"] = (
            f"50-layer tanh MLP, σ_w² = {sw2}, σ_b = 0.05 (Schoenholz et al. 2017: {expected})",
            stem_mlp(f"sigma_w2={sw2}, depth=50, width=128", "depth", "torch.tanh",
                     "nn.init.normal_(layer.weight, std=(sigma_w2 / width) ** 0.5)",
                     "nn.init.normal_(layer.bias, std=0.05)"))
    files = {}
    for name, (title, body) in cases.items():
        imports = "import torch\nfrom torch import nn\n" if "torch." in body else "from torch import nn\n"
        files[f"published/{name}.py"] = f'"""THEORY.md §4: {title}."""\n{imports}\n{body}'
    return files


# ---------------------------------------------------------------------------------------------
# clipping/<case>/: training scripts with and without gradient clipping

CLIP_T = 20  # the horizon of every clipping project (its pyproject.toml says so to gradlint)

CLIP_PYPROJECT = '''[project]
name = "{name}"
version = "0.1.0"

[tool.gradlint.probe]
seq-len = {T}
input-std = {std}                  # the inputs' standard deviation

[tool.gradlint.rules.GL301]
horizon = {T}
'''

CLIP_MODELS = {
    "irnn": ("IRNN: ReLU nn.RNN with W_hh = I", "relu", '''        with torch.no_grad():
            self.rnn.weight_hh_l0.copy_(torch.eye(hidden))
            self.rnn.bias_hh_l0.zero_()
''', 0.03),
    "relu_rho1.05": ("ReLU nn.RNN, W_hh orthogonal × 1.05", "relu", '''        with torch.no_grad():
            nn.init.orthogonal_(self.rnn.weight_hh_l0)
            self.rnn.weight_hh_l0.mul_(1.05)
            self.rnn.bias_hh_l0.zero_()
''', 0.03),
    "relu_rho1.2": ("ReLU nn.RNN, W_hh orthogonal × 1.2", "relu", '''        with torch.no_grad():
            nn.init.orthogonal_(self.rnn.weight_hh_l0)
            self.rnn.weight_hh_l0.mul_(1.2)
            self.rnn.bias_hh_l0.zero_()
''', 0.03),
    "tanh_rho1.5": ("tanh nn.RNN, W_hh orthogonal × 1.5", "tanh", '''        with torch.no_grad():
            nn.init.orthogonal_(self.rnn.weight_hh_l0)
            self.rnn.weight_hh_l0.mul_(1.5)
''', 0.01),
}

CLIP_IDIOMS = {
    "no_clip": ("", "", "no gradient clipping"),
    "clip_norm": ("", "        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)\n",
                  "gradients clipped to norm 1.0"),
    "clip_norm_import": ("from torch.nn.utils import clip_grad_norm_\n",
                         "        clip_grad_norm_(model.parameters(), 1.0)\n",
                         "gradients clipped to norm 1.0 (imported name)"),
    "clip_value": ("", "        nn.utils.clip_grad_value_(model.parameters(), clip_value=0.02)\n",
                   "gradients clamped to ±0.02"),
}

CLIP_FILE = '''"""{title}, trained on the adding problem (T={T}) with SGD + momentum, {what}."""
import torch
from torch import nn
{imports}

class Net(nn.Module):
    def __init__(self, hidden={hidden}):
        super().__init__()
        self.rnn = nn.RNN(2, hidden, nonlinearity="{nonlinearity}", batch_first=True)
{init}        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def fit(model, batches):
    """One pass over ``batches`` of (inputs, targets), MSE loss."""
    optimizer = torch.optim.SGD(model.parameters(), lr={lr}, momentum=0.9)
    for inputs, targets in batches:
        loss = nn.functional.mse_loss(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
{clip}        optimizer.step()
'''


def clipping_cases() -> dict[str, str]:
    files = {}
    for (model, (title, nonlinearity, init, lr)), (idiom, (imports, clip, what)) in itertools.product(
            CLIP_MODELS.items(), CLIP_IDIOMS.items()):
        name = f"{model}_{idiom}"
        files[f"clipping/{name}/pyproject.toml"] = CLIP_PYPROJECT.format(name=name.replace(".", "-"), T=CLIP_T, std=input_std(f"adding-T{CLIP_T}"))
        files[f"clipping/{name}/model.py"] = CLIP_FILE.format(
            title=title, T=CLIP_T, what=what, imports=imports, hidden=64, nonlinearity=nonlinearity,
            init=init, lr=lr, clip=clip)
    # THEORY.md §4: IRNN (hidden 100 as in Le et al. 2015) with / without clipping: pass / warning
    for name, (imports, clip, what) in (("published_irnn_clip", CLIP_IDIOMS["clip_norm"]),
                                        ("published_irnn_no_clip", CLIP_IDIOMS["no_clip"])):
        files[f"clipping/{name}/pyproject.toml"] = CLIP_PYPROJECT.format(name=name, T=CLIP_T, std=input_std(f"adding-T{CLIP_T}"))
        files[f"clipping/{name}/model.py"] = CLIP_FILE.format(
            title="THEORY.md §4: IRNN (Le et al. 2015), ReLU nn.RNN with W_hh = I", T=CLIP_T, what=what,
            imports=imports, hidden=100, nonlinearity="relu", init=CLIP_MODELS["irnn"][2], lr=0.03,
            clip=clip)
    return files


# ---------------------------------------------------------------------------------------------
# warmup/<case>/: post-LN and pre-LN Transformer encoders trained with AdamW, with and without
# learning-rate warm-up (GL702)

WARMUP_PYPROJECT = '''[project]
name = "{name}"
version = "0.1.0"

[tool.gradlint.probe]
seq-len = 10                     # the training sequences' length
'''

WARMUP_ENCODER = '''class Net(nn.Module):
    def __init__(self, vocab=8, dim=32, heads=4, depth={depth}, classes=10):
        super().__init__()
        self.tokens = nn.Embedding(vocab, dim)
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, batch_first=True,
                                           norm_first={norm_first})
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.head = nn.Linear(dim, classes)

    def forward(self, ids):
        return self.head(self.encoder(self.tokens(ids)))
'''

WARMUP_BERT = '''class Block(nn.Module):
    """BERT-style post-LN block: LayerNorm after each residual add."""

    def __init__(self, dim, heads):
        super().__init__()
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm1 = nn.LayerNorm(dim)
        self.feed_forward = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x):
        x = self.norm1(x + self.attention(x, x, x, need_weights=False)[0])
        return self.norm2(x + self.feed_forward(x))


class Net(nn.Module):
    def __init__(self, vocab=8, dim=32, heads=4, depth={depth}, classes=10):
        super().__init__()
        self.tokens = nn.Embedding(vocab, dim)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.head = nn.Linear(dim, classes)

    def forward(self, ids):
        x = self.tokens(ids)
        for block in self.blocks:
            x = block(x)
        return self.head(x)
'''

WARMUP_SCHEDULES = {
    "": ("no learning-rate schedule", "", ""),
    "_linear_warmup": ("a LinearLR warm-up over the first 100 steps",
                       "    scheduler = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.01, total_iters=100)\n",
                       "        scheduler.step()\n"),
    "_lambda_warmup": ("a LambdaLR warm-up over the first 100 steps",
                       "    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / 100))\n",
                       "        scheduler.step()\n"),
    "_cosine": ("a cosine decay from the first step (no warm-up)",
                "    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=400)\n",
                "        scheduler.step()\n"),
}

WARMUP_FILE = '''"""{title}, trained on token histograms with AdamW (lr {lr}), {what}."""
import torch
from torch import nn


{model}

def fit(model, batches):
    """One pass over ``batches`` of (token ids, per-token classes), cross-entropy."""
    optimizer = torch.optim.AdamW(model.parameters(), lr={lr})
{scheduler}    for ids, targets in batches:
        logits = model(ids)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
{step}'''

# (case, model, depth, norm_first, schedule, lr)
WARMUP_CASES = (
    ("postln_6", "encoder", 6, False, "", "1e-3"),
    ("postln_12", "encoder", 12, False, "", "1e-3"),
    ("postln_18", "encoder", 18, False, "", "1e-3"),
    ("postln_12_linear_warmup", "encoder", 12, False, "_linear_warmup", "1e-3"),
    ("postln_18_linear_warmup", "encoder", 18, False, "_linear_warmup", "1e-3"),
    ("postln_12_lambda_warmup", "encoder", 12, False, "_lambda_warmup", "1e-3"),
    ("postln_12_cosine", "encoder", 12, False, "_cosine", "1e-3"),
    ("postln_12_lr3e-4", "encoder", 12, False, "", "3e-4"),
    ("preln_12", "encoder", 12, True, "", "1e-3"),
    ("preln_18", "encoder", 18, True, "", "1e-3"),
    ("bert_12", "bert", 12, False, "", "1e-3"),
    ("bert_12_linear_warmup", "bert", 12, False, "_linear_warmup", "1e-3"),
)


def warmup_cases() -> dict[str, str]:
    files = {}
    for name, kind, depth, norm_first, schedule, lr in WARMUP_CASES:
        what, scheduler, step = WARMUP_SCHEDULES[schedule]
        if kind == "encoder":
            title = f"{depth}-layer {'pre' if norm_first else 'post'}-LN nn.TransformerEncoder"
            model = WARMUP_ENCODER.format(depth=depth, norm_first=norm_first)
        else:
            title = f"{depth}-layer hand-written BERT-style post-LN encoder"
            model = WARMUP_BERT.format(depth=depth)
        files[f"warmup/{name}/pyproject.toml"] = WARMUP_PYPROJECT.format(name=name.replace("_", "-"))
        files[f"warmup/{name}/model.py"] = WARMUP_FILE.format(title=title, lr=lr, what=what, model=model,
                                                              scheduler=scheduler, step=step)
    return files


# ---------------------------------------------------------------------------------------------
# fp16/<case>/: training in float16 with and without loss scaling, bfloat16 controls (GL801)

FP16_PYPROJECT = '''[project]
name = "{name}"
version = "0.1.0"

[tool.gradlint.probe]
input-std = {std}                  # the inputs' standard deviation

[tool.eval]
task = "{task}"                 # eval/tasks.py: the data fit() is given
'''

FP16_MODELS = {
    "mlp": ("3-hidden-layer ReLU MLP classifier (width 256) on two spirals", "spirals-fit", '''class Net(nn.Module):
    def __init__(self, width=256):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                                  nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 2))

    def forward(self, x):
        return self.body(x)
''', "cross_entropy", ("SGD", "lr=0.05, momentum=0.9")),
    "ae": ("MLP denoising autoencoder on 1×32×32 images", "denoise", '''class Net(nn.Module):
    def __init__(self, pixels=32 * 32, hidden=256, code=64):
        super().__init__()
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(pixels, hidden), nn.ReLU(),
                                     nn.Linear(hidden, code), nn.ReLU())
        self.decoder = nn.Sequential(nn.Linear(code, hidden), nn.ReLU(), nn.Linear(hidden, pixels),
                                     nn.Sigmoid())

    def forward(self, images):
        return self.decoder(self.encoder(images)).view_as(images)
''', "mse_loss", ("Adam", "lr=1e-3")),
}

# precision: (what, setup lines, forward/loss lines, backward-and-step lines)
FP16_PRECISIONS = {
    "fp16_autocast": ("float16 autocast, no loss scaling", "",
                      '''        with torch.autocast(device_type=device, dtype=torch.float16):
            loss = nn.functional.{loss}(model(inputs), targets)
''', '''        loss.backward()
        optimizer.step()
'''),
    "fp16_autocast_scaler": ("float16 autocast with torch.amp.GradScaler",
                             "    scaler = torch.amp.GradScaler(device)\n",
                             '''        with torch.autocast(device_type=device, dtype=torch.float16):
            loss = nn.functional.{loss}(model(inputs), targets)
''', '''        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
'''),
    "bf16_autocast": ("bfloat16 autocast", "",
                      '''        with torch.autocast(device_type=device, dtype=torch.bfloat16):
            loss = nn.functional.{loss}(model(inputs), targets)
''', '''        loss.backward()
        optimizer.step()
'''),
    "half": ("a .half() model (float16 weights, gradients and optimizer state)", "",
             '''        loss = nn.functional.{loss}(model(inputs.half()).float(), targets)
''', '''        loss.backward()
        optimizer.step()
'''),
}

FP16_FILE = '''"""{title}, trained with {optimizer} ({hyper}) in {what}."""
import torch
from torch import nn

device = "cuda" if torch.cuda.is_available() else "cpu"


{model}

def fit(model, batches):
    """One pass over ``batches`` of (inputs, targets)."""
    model.to(device){half}
    optimizer = torch.optim.{optimizer}(model.parameters(), {hyper})
{setup}    for inputs, targets in batches:
        inputs, targets = inputs.to(device), targets.to(device)
{forward}        optimizer.zero_grad()
{backward}'''

# (model, precision, optimizer override)
FP16_CASES = (
    ("mlp", "fp16_autocast", None), ("mlp", "fp16_autocast_scaler", None), ("mlp", "bf16_autocast", None),
    ("mlp", "half", None), ("mlp", "half", ("Adam", "lr=1e-3")),
    ("ae", "fp16_autocast", None), ("ae", "fp16_autocast_scaler", None), ("ae", "bf16_autocast", None),
    ("ae", "half", None), ("ae", "half", ("SGD", "lr=0.5, momentum=0.9")),
)


def fp16_cases() -> dict[str, str]:
    files = {}
    for model, precision, override in FP16_CASES:
        title, task, body, loss, (optimizer, hyper) = FP16_MODELS[model]
        what, setup, forward, backward = FP16_PRECISIONS[precision]
        if override is not None:
            optimizer, hyper = override
        name = f"{model}_{precision}" + (f"_{optimizer.lower()}" if precision == "half" else "")
        files[f"fp16/{name}/pyproject.toml"] = FP16_PYPROJECT.format(name=name.replace("_", "-"), std=input_std(task),
                                                                     task=task)
        files[f"fp16/{name}/model.py"] = FP16_FILE.format(
            title=title, optimizer=optimizer, hyper=hyper, what=what, model=body,
            half=".half()" if precision == "half" else "", setup=setup, forward=forward.format(loss=loss),
            backward=backward)
    return files


# ---------------------------------------------------------------------------------------------

# eval/tasks.py's learning rates for the adding problem (Adam), by horizon
ADAM_LR = {10: 0.003, 100: 0.01}
SGD_PYPROJECT = '''# How eval/tasks.py trains these cases ({task}), stated as a user would (the dry run, GL701):
[tool.gradlint]
optimizer = "SGD"
lr = 0.05
momentum = 0.9

[tool.gradlint.probe]
input-std = {std}                  # the inputs' standard deviation{aside}
'''
SGD_FAMILIES = {"mlp": ("two spirals", "spirals"), "residual": ("two spirals", "spirals"),
                "published": ("two spirals or blobs", "spirals"), "cnn": ("oriented gratings", "images")}


def all_cases() -> dict[str, str]:
    files: dict[str, str] = {}
    for family in (mlp_cases, cnn_cases, residual_cases, rnn_cases, published_cases, clipping_cases,
                   warmup_cases, fp16_cases):
        files.update(family())
    for family, (task, data) in SGD_FAMILIES.items():
        aside = f" (the spirals'; the blobs': {input_std('blobs')})" if family == "published" else ""
        files[f"{family}/pyproject.toml"] = SGD_PYPROJECT.format(task=task, std=input_std(data), aside=aside)
    return files


def main() -> None:
    CASES.mkdir(exist_ok=True)
    stale = [CASES / line for line in MANIFEST.read_text().splitlines() if line] if MANIFEST.exists() else []
    stale += CASES.glob("*.py")  # the first, flat layout
    for path in stale:
        path.unlink(missing_ok=True)
    for path in sorted({p.parent for p in stale}, key=lambda p: len(p.parts), reverse=True):
        while path != CASES and path.is_dir() and not any(path.iterdir()):
            path.rmdir()
            path = path.parent
    files = all_cases()
    for relative, text in files.items():
        target = CASES / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    MANIFEST.write_text("".join(f"{relative}\n" for relative in sorted(files)))
    count = sum(1 for relative in files if relative.endswith(".py"))
    print(f"wrote {count} cases to {CASES}")


if __name__ == "__main__":
    main()
