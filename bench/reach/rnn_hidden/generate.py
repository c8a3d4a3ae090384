import string

import torch

from model import CharRNN

all_characters = string.printable
n_characters = len(all_characters)


def train(steps=2000, chunk_len=200, batch_size=100):
    decoder = CharRNN(n_characters, 100, 2)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=0.005)
    for _ in range(steps):
        inp = torch.randint(0, n_characters, (batch_size, chunk_len))
        hidden = decoder.init_hidden(batch_size)
        output, hidden = decoder(inp, hidden)
        loss = output.logsumexp(-1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


if __name__ == "__main__":
    train()
