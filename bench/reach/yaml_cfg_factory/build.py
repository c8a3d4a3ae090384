# A transformer encoder built from a nested YAML config by a factory, as config-driven repos do.
import os

import torch.nn as nn
import yaml


class Encoder(nn.Module):
    def __init__(self, vocab_size, d_model, n_heads, n_layers, dim_ff, dropout=0.1, norm_first=True):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        layer = nn.TransformerEncoderLayer(d_model, n_heads, dim_ff, dropout, batch_first=True, norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, 2)

    def forward(self, tokens):
        return self.head(self.encoder(self.embed(tokens)).mean(dim=1))


def build_model(cfg):
    m = cfg["model"]
    return Encoder(cfg["data"]["vocab_size"], m["d_model"], m["n_heads"], m["n_layers"], m["dim_ff"], m.get("dropout", 0.1))


def load_config(path=os.path.join(os.path.dirname(__file__), "configs", "base.yaml")):
    with open(path) as f:
        return yaml.safe_load(f)
