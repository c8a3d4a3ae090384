# A model in the Hugging Face style: a PretrainedConfig subclass with defaults, a PreTrainedModel
# subclass that takes it.
import torch
import torch.nn as nn
from transformers import PretrainedConfig, PreTrainedModel


class TinyMixerConfig(PretrainedConfig):
    model_type = "tiny-mixer"

    def __init__(self, vocab_size=1000, hidden_size=64, num_layers=4, mlp_ratio=4, max_len=64, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.mlp_ratio = mlp_ratio
        self.max_len = max_len


class MixerBlock(nn.Module):
    def __init__(self, config):
        super().__init__()
        d = config.hidden_size
        self.norm1 = nn.LayerNorm(d)
        self.token_mix = nn.Linear(config.max_len, config.max_len)
        self.norm2 = nn.LayerNorm(d)
        self.channel_mix = nn.Sequential(nn.Linear(d, d * config.mlp_ratio), nn.GELU(), nn.Linear(d * config.mlp_ratio, d))

    def forward(self, x):
        x = x + self.token_mix(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.channel_mix(self.norm2(x))


class TinyMixerModel(PreTrainedModel):
    config_class = TinyMixerConfig

    def __init__(self, config):
        super().__init__(config)
        self.embed = nn.Embedding(config.vocab_size, config.hidden_size)
        self.blocks = nn.ModuleList([MixerBlock(config) for _ in range(config.num_layers)])
        self.norm = nn.LayerNorm(config.hidden_size)
        self.head = nn.Linear(config.hidden_size, config.vocab_size)
        self.post_init()

    def forward(self, input_ids):
        x = self.embed(input_ids)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))
