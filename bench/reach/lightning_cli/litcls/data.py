import torch
from lightning import LightningDataModule
from torch.utils.data import DataLoader, TensorDataset


class DigitsDataModule(LightningDataModule):
    def __init__(self, batch_size: int = 32, root: str = "data/"):
        super().__init__()
        self.batch_size = batch_size
        self.root = root

    def setup(self, stage: str) -> None:
        tensors = torch.load(f"{self.root}/digits.pt")
        self.train = TensorDataset(tensors["images"], tensors["labels"])

    def train_dataloader(self):
        return DataLoader(self.train, batch_size=self.batch_size, shuffle=True)
