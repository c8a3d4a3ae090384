from .backbone import CSPBackbone
from .detector import Detector
