import torch
from lightning import LightningModule
from torch import nn


class ImageClassifier(LightningModule):
    """A backbone and a linear head; LightningCLI gives the backbone, the optimizer and the
    scheduler from the config."""

    def __init__(self, backbone: nn.Module, num_classes: int, label_smoothing: float = 0.0):
        super().__init__()
        self.save_hyperparameters(ignore=["backbone"])
        self.backbone = backbone
        self.head = nn.Linear(backbone.out_features, num_classes)
        self.loss = nn.CrossEntropyLoss(label_smoothing=label_smoothing)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))

    def training_step(self, batch, batch_idx):
        images, labels = batch
        loss = self.loss(self(images), labels)
        self.log("train_loss", loss)
        return loss
