# A classifier whose forward takes the whole batch dict a collate function returns.
import torch
import torch.nn as nn


class TabularClassifier(nn.Module):
    def __init__(self, n_numeric: int = 12, cardinalities=(10, 7, 31), emb_dim: int = 8, hidden: int = 128, n_classes: int = 3):
        super().__init__()
        self.embeddings = nn.ModuleList([nn.Embedding(c, emb_dim) for c in cardinalities])
        self.mlp = nn.Sequential(
            nn.Linear(n_numeric + emb_dim * len(cardinalities), hidden), nn.LayerNorm(hidden), nn.GELU(),
            nn.Linear(hidden, hidden), nn.LayerNorm(hidden), nn.GELU(),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, batch):
        cats = [emb(batch["categorical"][:, i]) for i, emb in enumerate(self.embeddings)]
        return self.mlp(torch.cat([batch["numeric"], *cats], dim=1))
