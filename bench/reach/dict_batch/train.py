import torch
from torch.utils.data import DataLoader, Dataset

from model import TabularClassifier


class Table(Dataset):
    def __len__(self):
        return 256

    def __getitem__(self, i):
        return {"numeric": torch.randn(12), "categorical": torch.tensor([i % 10, i % 7, i % 31]), "label": i % 3}


def train(epochs=5):
    loader = DataLoader(Table(), batch_size=32, shuffle=True)
    model = TabularClassifier()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
    for _ in range(epochs):
        for batch in loader:
            loss = torch.nn.functional.cross_entropy(model(batch), batch["label"])
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()


if __name__ == "__main__":
    train()
