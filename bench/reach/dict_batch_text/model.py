# A text classifier in the shape Lightning and Hugging Face-style training loops use: forward takes
# the collated batch dict, reads ids and a padding mask by name, computes its own loss when the
# batch has labels, and returns a dict.
import torch
import torch.nn as nn
import torch.nn.functional as F


class TextClassifier(nn.Module):
    def __init__(self, vocab_size=5000, d_model=128, n_heads=4, n_layers=3, n_classes=4, max_len=128):
        super().__init__()
        self.tok = nn.Embedding(vocab_size, d_model, padding_idx=0)
        self.pos = nn.Embedding(max_len, d_model)
        layer = nn.TransformerEncoderLayer(d_model, n_heads, 4 * d_model, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers)
        self.head = nn.Linear(d_model, n_classes)

    def forward(self, batch):
        input_ids = batch["input_ids"]
        attention_mask = batch.get("attention_mask")
        positions = torch.arange(input_ids.size(1), device=input_ids.device)
        hidden = self.tok(input_ids) + self.pos(positions)
        hidden = self.encoder(hidden, src_key_padding_mask=attention_mask == 0)
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        logits = self.head(pooled)
        out = {"logits": logits}
        if "labels" in batch:
            out["loss"] = F.cross_entropy(logits, batch["labels"])
        return out
