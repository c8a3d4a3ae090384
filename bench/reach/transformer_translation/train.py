import torch

from model import Seq2SeqTransformer, create_mask

SRC_VOCAB, TGT_VOCAB = 1200, 1000

transformer = Seq2SeqTransformer(3, 3, 128, 4, SRC_VOCAB, TGT_VOCAB, dim_feedforward=256)
optimizer = torch.optim.Adam(transformer.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9)
loss_fn = torch.nn.CrossEntropyLoss(ignore_index=1)


def train_epoch(batches):
    transformer.train()
    for src, tgt in batches:
        tgt_input = tgt[:-1, :]
        src_mask, tgt_mask, src_padding_mask, tgt_padding_mask = create_mask(src, tgt_input)
        logits = transformer(src, tgt_input, src_mask, tgt_mask, src_padding_mask, tgt_padding_mask, src_padding_mask)
        loss = loss_fn(logits.reshape(-1, logits.shape[-1]), tgt[1:, :].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


if __name__ == "__main__":
    train_epoch([(torch.randint(2, SRC_VOCAB, (20, 8)), torch.randint(2, TGT_VOCAB, (18, 8)))])
