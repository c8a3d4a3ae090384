import torch
import torch.nn as nn

from ..layers import ConvBNAct


class CSPStage(nn.Module):
    def __init__(self, cin, cout, n):
        super().__init__()
        self.down = ConvBNAct(cin, cout, 3, 2)
        self.split = ConvBNAct(cout, cout // 2, 1)
        self.blocks = nn.Sequential(*[ConvBNAct(cout // 2, cout // 2) for _ in range(n)])
        self.merge = ConvBNAct(cout, cout, 1)

    def forward(self, x):
        x = self.down(x)
        a = self.split(x)
        return self.merge(torch.cat([self.blocks(a), a], dim=1))


class CSPBackbone(nn.Module):
    def __init__(self, widths=(16, 32, 64, 128), depths=(1, 2, 2, 1)):
        super().__init__()
        self.stem = ConvBNAct(3, widths[0], 3, 2)
        self.stages = nn.ModuleList(
            [CSPStage(a, b, n) for a, b, n in zip(widths[:-1], widths[1:], depths)])
        self.out_channels = widths[-1]

    def forward(self, x):
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return x
