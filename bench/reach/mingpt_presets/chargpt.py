"""Train a character-level GPT on a text file."""
import sys

import torch
from torch.utils.data import DataLoader, Dataset

from mingpt.model import GPT
from mingpt.utils import CfgNode as CN


def get_config():
    C = CN()
    C.system = CN(seed=3407, work_dir="./out/chargpt")
    C.data = CN(block_size=128)
    C.model = GPT.get_default_config()
    C.model.model_type = "gpt-mini"
    C.trainer = CN(learning_rate=5e-4, batch_size=64, max_iters=10000, grad_norm_clip=1.0)
    return C


class CharDataset(Dataset):
    def __init__(self, config, data):
        chars = sorted(set(data))
        self.stoi = {ch: i for i, ch in enumerate(chars)}
        self.vocab_size = len(chars)
        self.config = config
        self.data = data

    def get_vocab_size(self):
        return self.vocab_size

    def get_block_size(self):
        return self.config.block_size

    def __len__(self):
        return len(self.data) - self.config.block_size

    def __getitem__(self, idx):
        dix = [self.stoi[s] for s in self.data[idx:idx + self.config.block_size + 1]]
        return torch.tensor(dix[:-1]), torch.tensor(dix[1:])


if __name__ == "__main__":
    config = get_config()
    text = open("input.txt").read()
    train_dataset = CharDataset(config.data, text)
    config.model.vocab_size = train_dataset.get_vocab_size()
    config.model.block_size = train_dataset.get_block_size()
    model = GPT(config.model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.trainer.learning_rate, betas=(0.9, 0.95))
    loader = DataLoader(train_dataset, batch_size=config.trainer.batch_size, shuffle=True)
    for step, (x, y) in enumerate(loader):
        logits, loss = model(x, y)
        model.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.trainer.grad_norm_clip)
        optimizer.step()
        if step >= config.trainer.max_iters:
            sys.exit(0)
