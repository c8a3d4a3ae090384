import json

import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence

from model import CNN
from vocab import build_vocab

EMBEDDING_DIM = 100
N_FILTERS = 100
FILTER_SIZES = [3, 4, 5]
DROPOUT = 0.5

with open("data/train.jsonl") as f:
    examples = [json.loads(line) for line in f]
vocab = build_vocab([e["text"] for e in examples])
LABELS = sorted({e["label"] for e in examples})
PAD_IDX = vocab.stoi["<pad>"]
UNK_IDX = vocab.stoi["<unk>"]

model = CNN(len(vocab), EMBEDDING_DIM, N_FILTERS, FILTER_SIZES, len(LABELS), DROPOUT, PAD_IDX)
model.embedding.weight.data[UNK_IDX] = torch.zeros(EMBEDDING_DIM)
model.embedding.weight.data[PAD_IDX] = torch.zeros(EMBEDDING_DIM)
optimizer = torch.optim.Adam(model.parameters())
criterion = nn.CrossEntropyLoss()

batch = [torch.tensor(vocab.encode(e["text"].split())) for e in examples[:64]]
text = pad_sequence(batch, batch_first=True, padding_value=PAD_IDX)
labels = torch.tensor([LABELS.index(e["label"]) for e in examples[:64]])
for epoch in range(10):
    loss = criterion(model(text), labels)
    optimizer.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
