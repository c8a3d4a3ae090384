import torch
from torch import nn


class EncoderCNN(nn.Module):
    """Convolutional stages pooled to one feature vector per image, projected to the word width."""

    def __init__(self, embed_size, channels=(32, 64, 128)):
        super().__init__()
        layers, previous = [], 3
        for width in channels:
            layers += [nn.Conv2d(previous, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2)]
            previous = width
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.project = nn.Linear(previous, embed_size)

    def forward(self, images):
        return self.project(self.features(images))


class DecoderRNN(nn.Module):
    """The image feature is the first step of the sequence, the caption's words the rest."""

    def __init__(self, embed_size, hidden_size, vocab_size, num_layers=1):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.lstm = nn.LSTM(embed_size, hidden_size, num_layers, batch_first=True)
        self.linear = nn.Linear(hidden_size, vocab_size)

    def forward(self, features, captions):
        embeddings = self.embed(captions[:, :-1])
        steps = torch.cat((features.unsqueeze(1), embeddings), 1)
        hiddens, _ = self.lstm(steps)
        return self.linear(hiddens)


class ImageCaptioner(nn.Module):
    def __init__(self, embed_size, hidden_size, vocab_size, num_layers=1):
        super().__init__()
        self.encoder = EncoderCNN(embed_size)
        self.decoder = DecoderRNN(embed_size, hidden_size, vocab_size, num_layers)

    def forward(self, images, captions):
        return self.decoder(self.encoder(images), captions)
