from lightning.pytorch.cli import LightningCLI

from litcls.data import DigitsDataModule
from litcls.model import ImageClassifier


def cli_main():
    LightningCLI(ImageClassifier, DigitsDataModule)


if __name__ == "__main__":
    cli_main()
