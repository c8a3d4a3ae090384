from collections import Counter


class Vocab:
    def __init__(self, counter, min_freq=1, specials=("<unk>", "<pad>")):
        self.itos = list(specials) + sorted(w for w, c in counter.items() if c >= min_freq and w not in specials)
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    def __len__(self):
        return len(self.itos)

    def encode(self, tokens):
        return [self.stoi.get(t, 0) for t in tokens]


def build_vocab(texts, min_freq=2):
    return Vocab(Counter(t for text in texts for t in text.lower().split()), min_freq)
