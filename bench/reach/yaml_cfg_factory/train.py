import torch

from build import build_model, load_config


def main():
    cfg = load_config()
    model = build_model(cfg)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg["optim"]["lr"])
    return model, optimizer


if __name__ == "__main__":
    main()
