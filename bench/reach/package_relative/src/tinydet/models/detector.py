import torch.nn as nn

from ..layers import ConvBNAct
from .backbone import CSPBackbone


class Detector(nn.Module):
    def __init__(self, num_classes, backbone=None):
        super().__init__()
        self.backbone = backbone or CSPBackbone()
        c = self.backbone.out_channels
        self.neck = ConvBNAct(c, c)
        self.cls_head = nn.Conv2d(c, num_classes, 1)
        self.box_head = nn.Conv2d(c, 4, 1)

    def forward(self, images):
        features = self.neck(self.backbone(images))
        return self.cls_head(features), self.box_head(features)
