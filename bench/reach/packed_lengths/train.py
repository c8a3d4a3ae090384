"""Train the classifier on a TSV of (label, text) lines."""
import argparse
import csv
from collections import Counter

import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence

from model import LSTMClassifier

parser = argparse.ArgumentParser()
parser.add_argument("--data", default="data/train.tsv")
parser.add_argument("--embed-dim", type=int, default=100)
parser.add_argument("--hidden-dim", type=int, default=128)
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--epochs", type=int, default=5)
args = parser.parse_args()

with open(args.data) as f:
    rows = list(csv.reader(f, delimiter="\t"))
counts = Counter(word for _, text in rows for word in text.split())
itos = ["<pad>", "<unk>"] + [w for w, c in counts.most_common() if c > 1]
stoi = {w: i for i, w in enumerate(itos)}
labels = sorted({label for label, _ in rows})


def collate(batch):
    ids = [torch.tensor([stoi.get(w, 1) for w in text.split()]) for _, text in batch]
    lengths = torch.tensor([len(x) for x in ids])
    targets = torch.tensor([labels.index(label) for label, _ in batch])
    return pad_sequence(ids, batch_first=True), lengths, targets


loader = torch.utils.data.DataLoader(rows, batch_size=64, shuffle=True, collate_fn=collate)
model = LSTMClassifier(len(itos), args.embed_dim, args.hidden_dim, len(labels))
optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
criterion = nn.CrossEntropyLoss()

for epoch in range(args.epochs):
    for text, lengths, targets in loader:
        loss = criterion(model(text, lengths), targets)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
