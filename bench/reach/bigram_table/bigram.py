"""A makemore-style bigram language model: the logits are a raw parameter table indexed by the
previous character's id."""
import torch
from torch import nn
from torch.nn import functional as F


class BigramLanguageModel(nn.Module):
    def __init__(self, vocab_size=27):
        super().__init__()
        self.token_logits = nn.Parameter(torch.randn(vocab_size, vocab_size) * 0.01)

    def forward(self, idx, targets=None):
        logits = self.token_logits[idx]
        if targets is None:
            return logits, None
        B, T, C = logits.shape
        return logits, F.cross_entropy(logits.view(B * T, C), targets.view(B * T))
