# A small diffusion denoiser: forward takes the noisy image and an integer timestep.
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def timestep_embedding(t, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, device=t.device) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, tdim):
        super().__init__()
        self.norm1 = nn.GroupNorm(8, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(tdim, cout)
        self.norm2 = nn.GroupNorm(8, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class UNet(nn.Module):
    def __init__(self, channels=3, base=32, mults=(1, 2, 2), tdim=128):
        super().__init__()
        self.tdim = tdim
        self.time_mlp = nn.Sequential(nn.Linear(tdim, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.inc = nn.Conv2d(channels, base, 3, padding=1)
        self.down, chans, c = nn.ModuleList(), [base], base
        for m in mults:
            self.down.append(ResBlock(c, base * m, tdim))
            c = base * m
            chans.append(c)
        self.mid = ResBlock(c, c, tdim)
        self.up = nn.ModuleList()
        for m in reversed(mults):
            self.up.append(ResBlock(c + chans.pop(), base * m, tdim))
            c = base * m
        self.out = nn.Sequential(nn.GroupNorm(8, c), nn.SiLU(), nn.Conv2d(c, channels, 3, padding=1))

    def forward(self, x, t):
        temb = self.time_mlp(timestep_embedding(t, self.tdim))
        h = self.inc(x)
        skips = [h]
        for block in self.down:
            h = block(h, temb)
            skips.append(h)
            h = F.avg_pool2d(h, 2) if h.shape[-1] > 4 else h
        h = self.mid(h, temb)
        for block in self.up:
            s = skips.pop()
            h = F.interpolate(h, size=s.shape[-2:])
            h = block(torch.cat([h, s], dim=1), temb)
        return self.out(h)
