import torch
from torch.utils.data import DataLoader

from model import TextClassifier


def collate(examples):
    length = max(len(e["ids"]) for e in examples)
    ids = torch.zeros(len(examples), length, dtype=torch.long)
    for i, e in enumerate(examples):
        ids[i, : len(e["ids"])] = torch.tensor(e["ids"])
    return {"input_ids": ids, "attention_mask": (ids != 0).long(),
            "labels": torch.tensor([e["label"] for e in examples])}


def main(dataset):
    model = TextClassifier()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.01)
    for batch in DataLoader(dataset, batch_size=16, shuffle=True, collate_fn=collate):
        loss = model(batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


if __name__ == "__main__":
    main([{"ids": [5, 6, 7, 8], "label": 1}, {"ids": [9, 10], "label": 3}])
