"""Loads a checkpoint and its params.json, then samples."""
import json
import sys

import torch

from model import ModelArgs, Transformer


def load(ckpt_dir):
    with open(f"{ckpt_dir}/params.json") as f:
        params = json.load(f)
    model = Transformer(ModelArgs(**params))
    model.load_state_dict(torch.load(f"{ckpt_dir}/consolidated.00.pth", map_location="cpu"))
    return model


if __name__ == "__main__":
    load(sys.argv[1])
