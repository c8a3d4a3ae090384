"""GL702: a deep post-LayerNorm Transformer trained with Adam and no learning-rate warm-up.

Training code lives in fixtures (projects of their own) and in temporary projects written from the
strings below: the calls in these strings are text, never code of this repository's project."""

from __future__ import annotations

import re

import pytest
from conftest import FIXTURES, run_cli

from gradlint.source.project_facts import compute_facts

FINDING = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<code>GL\d{3}) (?P<severity>\w+): (?P<message>.*)$")


def findings(stdout: str) -> list[dict]:
    return [m.groupdict() for m in map(FINDING.match, stdout.splitlines()) if m]


def test_a_deep_post_ln_encoder_under_adamw_without_warm_up_is_a_warning_at_the_optimizer():
    result = run_cli("fixtures/gl702_postln_adamw", "--select", "GL702", "--no-cache")
    assert result.returncode == 1, result.stdout + result.stderr
    [finding] = findings(result.stdout)
    train = FIXTURES / "gl702_postln_adamw" / "train.py"
    line = next(n for n, text in enumerate(train.read_text().splitlines(), start=1) if "expect: GL702" in text)
    assert (finding["path"], int(finding["line"]), finding["severity"]) == (str(train.relative_to(FIXTURES.parent)), line, "warning")
    message = finding["message"]
    assert "18 post-LN layers" in message and "`AdamW`" in message and "no learning-rate warm-up" in message, message
    # the evidence: the weight gradients of the last post-LN layer against the first, measured
    assert re.search(r"probe measured: .*last post-LN layer.* \d", message), message


@pytest.mark.parametrize("fixture", ["gl702_postln_linear_warmup", "gl702_preln_adamw"])
def test_warm_up_or_pre_ln_stays_quiet(fixture):
    result = run_cli(f"fixtures/{fixture}", "--select", "GL702", "--no-cache", "--show-info")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "GL702" not in result.stdout


MODEL = '''
import torch
from torch import nn


class Encoder(nn.Module):
    def __init__(self, depth=DEPTH):
        super().__init__()
        layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.head = nn.Linear(32, 2)

    def forward(self, x):
        return self.head(self.encoder(x).mean(1))


def train(batches):
    model = Encoder()
    optimizer = OPTIMIZER
    for x, y in batches:
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
'''


def lint(tmp_path, depth=12, optimizer="torch.optim.Adam(model.parameters(), lr=1e-3)", extra=None):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "tmp"\n')
    (tmp_path / "net.py").write_text(MODEL.replace("DEPTH", str(depth)).replace("OPTIMIZER", optimizer))
    for name, text in (extra or {}).items():
        (tmp_path / name).write_text(text)
    return run_cli("net.py", "--select", "GL702", "--no-cache", cwd=tmp_path)


def test_twelve_post_ln_layers_are_flagged_and_six_are_not(tmp_path):
    (tmp_path / "deep").mkdir()
    (tmp_path / "shallow").mkdir()
    deep = lint(tmp_path / "deep")
    assert deep.returncode == 1 and "12 post-LN layers" in deep.stdout, deep.stdout + deep.stderr
    shallow = lint(tmp_path / "shallow", depth=6)
    assert shallow.returncode == 0 and "GL702" not in shallow.stdout, shallow.stdout


@pytest.mark.parametrize("optimizer", ["torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)",
                                       "torch.optim.RAdam(model.parameters(), lr=1e-3)",
                                       "torch.optim.AdamW(model.parameters(), lr=2e-5)"])
def test_sgd_radam_and_fine_tuning_rates_are_not_flagged(tmp_path, optimizer):
    result = lint(tmp_path, optimizer=optimizer)
    assert result.returncode == 0 and "GL702" not in result.stdout, result.stdout


def facts_of(tmp_path, text: str, name: str = "train.py"):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "tmp"\n')
    (tmp_path / name).write_text(text)
    return compute_facts(tmp_path)


@pytest.mark.parametrize("text", [
    "import torch\ns = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=500)\n",
    "from torch.optim.lr_scheduler import OneCycleLR\ns = OneCycleLR(opt, max_lr=1e-3, total_steps=1000)\n",
    "import torch\ns = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / warmup))\n",
    "import torch\ndef warmup_then_decay(step):\n    return 1.0\ns = torch.optim.lr_scheduler.LambdaLR(opt, warmup_then_decay)\n",
    "from transformers import get_cosine_schedule_with_warmup\ns = get_cosine_schedule_with_warmup(opt, 100, 1000)\n",
    "from transformers import get_scheduler\ns = get_scheduler('linear', opt, num_warmup_steps=100, num_training_steps=1000)\n",
    "from transformers import TrainingArguments\nargs = TrainingArguments('out', warmup_ratio=0.06)\n",
    "from transformers import TrainingArguments\nargs = TrainingArguments('out', warmup_steps=500)\n",
    "for group in opt.param_groups:\n    group['lr'] = base_lr * min(1.0, step / 4000)\n",
])
def test_each_warm_up_idiom_is_found(tmp_path, text):
    assert facts_of(tmp_path, text).warmup is not None, text


@pytest.mark.parametrize("name, text", [
    ("train.py", "import torch\ns = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0, end_factor=0.1)\n"),
    ("train.py", "import torch\ns = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=100)\n"),
    ("train.py", "from transformers import TrainingArguments\nargs = TrainingArguments('out', warmup_steps=0)\n"),
    ("train.py", "# TODO: add warmup_steps = 4000 here\nwarmup = 'LinearLR'\n"),
])
def test_decays_disabled_warm_ups_and_mentions_are_no_warm_up(tmp_path, name, text):
    assert facts_of(tmp_path, text, name).warmup is None


def test_a_warm_up_in_a_config_file_counts(tmp_path):
    facts = facts_of(tmp_path, "optim:\n  lr: 0.001\n  warmup_steps: 4000\n", "config.yaml")
    assert facts.warmup is not None and facts.warmup.endswith("config.yaml:3")


BERT = """import torch
from torch import nn


class BertLayer(nn.Module):
    def __init__(self, dim=32, heads=4):
        super().__init__()
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.attention_norm = nn.LayerNorm(dim)
        self.intermediate = nn.Linear(dim, 4 * dim)
        self.output = nn.Linear(4 * dim, dim)
        self.dropout = nn.Dropout(0.1)
        self.output_norm = nn.LayerNorm(dim)

    def forward(self, x):
        x = self.attention_norm(x + self.dropout(self.attention(x, x, x, need_weights=False)[0]))
        return self.output_norm(x + self.dropout(self.output(nn.functional.gelu(self.intermediate(x)))))


class Bert(nn.Module):
    def __init__(self, vocab=500, dim=32, depth=12):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.embed_norm = nn.LayerNorm(dim)
        self.layers = nn.ModuleList(BertLayer(dim) for _ in range(depth))
        self.head = nn.Linear(dim, vocab)

    def forward(self, ids):
        x = self.embed_norm(self.embed(ids))
        for layer in self.layers:
            x = layer(x)
        return self.head(x)


def train(batches):
    model = Bert()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for ids, labels in batches:
        loss = nn.functional.cross_entropy(model(ids).flatten(0, 1), labels.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
"""


def test_hand_written_bert_layers_count_one_layer_per_attention_sub_layer(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "tmp"\n')
    (tmp_path / "net.py").write_text(BERT)
    result = run_cli("net.py", "--select", "GL702", "--no-cache", cwd=tmp_path)
    [finding] = findings(result.stdout)
    line = BERT.splitlines().index("    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)") + 1
    assert (int(finding["line"]), finding["severity"]) == (line, "warning")
    # 12 layers of two post-LN sub-layers each (attention, feed-forward): 12 layers, not 24
    assert "12 post-LN layers" in finding["message"] and "from `layers.0.attention_norm`" in finding["message"]
