from .conv import ConvBNAct

__all__ = ["ConvBNAct"]
