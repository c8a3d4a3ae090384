"""Real architectures with random weights from small configs (no downloads), for the zoo test and
for bench/coverage.py. Each entry builds (model, example inputs or None: let gradlint infer them).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _hf(config_name: str, model_name: str, **config: Any) -> Callable[[], tuple[nn.Module, Any]]:
    def build() -> tuple[nn.Module, Any]:
        import transformers

        torch.manual_seed(0)
        cfg = getattr(transformers, config_name)(**config)
        return getattr(transformers, model_name)(cfg), None

    return build


TEXT = dict(vocab_size=1000)
SMALL = {
    "bert": _hf("BertConfig", "BertModel", hidden_size=64, num_hidden_layers=6, num_attention_heads=4,
                intermediate_size=128, **TEXT),
    "gpt2": _hf("GPT2Config", "GPT2LMHeadModel", n_embd=64, n_layer=6, n_head=4, **TEXT),
    "t5": _hf("T5Config", "T5ForConditionalGeneration", d_model=64, d_ff=128, num_layers=4, num_heads=4,
              d_kv=16, **TEXT),
    "llama": _hf("LlamaConfig", "LlamaForCausalLM", hidden_size=64, num_hidden_layers=6, num_attention_heads=4,
                 num_key_value_heads=2, intermediate_size=128, **TEXT),
    "qwen2": _hf("Qwen2Config", "Qwen2ForCausalLM", hidden_size=64, num_hidden_layers=6, num_attention_heads=4,
                 num_key_value_heads=2, intermediate_size=128, **TEXT),
    "vit": _hf("ViTConfig", "ViTModel", hidden_size=64, num_hidden_layers=6, num_attention_heads=4,
               intermediate_size=128, image_size=32, patch_size=8),
    "resnet": _hf("ResNetConfig", "ResNetModel", embedding_size=16, hidden_sizes=[16, 32, 64, 128],
                  depths=[2, 2, 2, 2]),
    "convnext": _hf("ConvNextConfig", "ConvNextModel", hidden_sizes=[16, 32, 64, 128], depths=[2, 2, 2, 2]),
    "wav2vec2": _hf("Wav2Vec2Config", "Wav2Vec2Model", hidden_size=64, num_hidden_layers=6,
                    num_attention_heads=4, intermediate_size=128, conv_dim=(32, 32, 32), conv_stride=(5, 2, 2),
                    conv_kernel=(10, 3, 3), num_feat_extract_layers=3),
    "whisper": _hf("WhisperConfig", "WhisperForConditionalGeneration", d_model=64, encoder_layers=4,
                   decoder_layers=4, encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=128,
                   decoder_ffn_dim=128, num_mel_bins=16, max_source_positions=32, max_target_positions=64,
                   pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1, **TEXT),
}


class RecurrentLM(nn.Module):
    def __init__(self, cell: type[nn.RNNBase], vocab: int = 1000, dim: int = 128) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.rnn = cell(dim, dim, num_layers=2, batch_first=True)
        self.out = nn.Linear(dim, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.rnn(self.embed(ids))
        return self.out(hidden)


class Encoder(nn.Module):
    def __init__(self, norm_first: bool, depth: int = 8) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(64, 4, 128, batch_first=True, norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.head = nn.Linear(64, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x).mean(1))


def _builtin(factory: Callable[[], nn.Module]) -> Callable[[], tuple[nn.Module, Any]]:
    def build() -> tuple[nn.Module, Any]:
        torch.manual_seed(0)
        return factory(), None

    return build


SMALL.update({
    "lstm-lm": _builtin(lambda: RecurrentLM(nn.LSTM)),
    "gru-lm": _builtin(lambda: RecurrentLM(nn.GRU)),
    "encoder-post-ln": _builtin(lambda: Encoder(norm_first=False)),
    "encoder-pre-ln": _builtin(lambda: Encoder(norm_first=True)),
})

# Default sizes for the README's coverage table (bench/coverage.py --full).
FULL = {
    "bert-base": _hf("BertConfig", "BertModel"),
    "gpt2-124m": _hf("GPT2Config", "GPT2LMHeadModel"),
    "vit-base": _hf("ViTConfig", "ViTModel"),
    "t5-small": _hf("T5Config", "T5ForConditionalGeneration"),
}
