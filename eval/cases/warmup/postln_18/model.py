"""18-layer post-LN nn.TransformerEncoder, trained on token histograms with AdamW (lr 1e-3), no learning-rate schedule."""
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, vocab=8, dim=32, heads=4, depth=18, classes=10):
        super().__init__()
        self.tokens = nn.Embedding(vocab, dim)
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, batch_first=True,
                                           norm_first=False)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.head = nn.Linear(dim, classes)

    def forward(self, ids):
        return self.head(self.encoder(self.tokens(ids)))


def fit(model, batches):
    """One pass over ``batches`` of (token ids, per-token classes), cross-entropy."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for ids, targets in batches:
        logits = model(ids)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
