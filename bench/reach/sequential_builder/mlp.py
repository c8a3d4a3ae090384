# A model built by a helper function at import, no class of its own.
import torch.nn as nn


def make_mlp(in_dim, hidden, depth, out_dim, act=nn.ReLU):
    layers, d = [], in_dim
    for _ in range(depth):
        layers += [nn.Linear(d, hidden), act()]
        d = hidden
    layers.append(nn.Linear(d, out_dim))
    return nn.Sequential(*layers)


policy = make_mlp(17, 256, 3, 6, act=nn.Tanh)
value = make_mlp(17, 256, 3, 1, act=nn.Tanh)
