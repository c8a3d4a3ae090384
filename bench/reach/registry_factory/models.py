# Models registered by name and built through a factory, as model zoos do.
from functools import partial

import torch.nn as nn

_registry = {}


def register_model(fn):
    _registry[fn.__name__] = fn
    return fn


def create_model(name, **kwargs):
    return _registry[name](**kwargs)


class ConvNormAct(nn.Sequential):
    def __init__(self, cin, cout, stride=1, norm_layer=nn.BatchNorm2d, act_layer=nn.ReLU):
        super().__init__(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), norm_layer(cout), act_layer(inplace=True))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride, norm_layer):
        super().__init__()
        self.conv1 = ConvNormAct(cin, cout, stride, norm_layer)
        self.conv2 = nn.Sequential(nn.Conv2d(cout, cout, 3, 1, 1, bias=False), norm_layer(cout))
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), norm_layer(cout))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        shortcut = x if self.down is None else self.down(x)
        return self.act(self.conv2(self.conv1(x)) + shortcut)


class ResNet(nn.Module):
    def __init__(self, layers, widths=(32, 64, 128, 256), num_classes=1000, in_chans=3, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.stem = ConvNormAct(in_chans, widths[0], 2, norm_layer)
        blocks, cin = [], widths[0]
        for i, (n, w) in enumerate(zip(layers, widths)):
            for j in range(n):
                blocks.append(BasicBlock(cin, w, 2 if (j == 0 and i > 0) else 1, norm_layer))
                cin = w
        self.stages = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.stages(self.stem(x))).flatten(1))


@register_model
def resnet10t(pretrained=False, **kwargs):
    return ResNet([1, 1, 1, 1], **kwargs)


@register_model
def resnet18_gn(pretrained=False, **kwargs):
    return ResNet([2, 2, 2, 2], norm_layer=partial(nn.GroupNorm, 8), **kwargs)
