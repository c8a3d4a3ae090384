import sys

sys.path.insert(0, "src")

import torch  # noqa: E402

from tinydet.models import Detector  # noqa: E402


def main(num_classes=20):
    model = Detector(num_classes)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.937)
    return model, optimizer


if __name__ == "__main__":
    main()
