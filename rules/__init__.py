"""gradlint's rules, one module each (installed as ``gradlint.rules``)."""

from __future__ import annotations

from gradlint.rules.gl001_unused_suppression import UnusedSuppression
from gradlint.rules.gl101_saturating_chain import SaturatingActivationChain
from gradlint.rules.gl102_vanishing_gradient import VanishingGradient
from gradlint.rules.gl201_missing_normalization import MissingNormalization
from gradlint.rules.gl202_exploding_gradient import ExplodingGradient
from gradlint.rules.gl203_growing_residual_stream import GrowingResidualStream
from gradlint.rules.gl301_recurrent_spectral_radius import RecurrentSpectralRadius
from gradlint.rules.gl401_missing_skip_connections import MissingSkipConnections
from gradlint.rules.gl501_optimizer_without_clipping import OptimizerWithoutClipping
from gradlint.rules.gl601_init_scale import InitScale
from gradlint.rules.gl602_dead_relu import DeadReLU
from gradlint.rules.gl603_non_finite import NonFinite

ALL_RULES = (
    UnusedSuppression,
    SaturatingActivationChain,
    VanishingGradient,
    MissingNormalization,
    ExplodingGradient,
    GrowingResidualStream,
    RecurrentSpectralRadius,
    MissingSkipConnections,
    OptimizerWithoutClipping,
    InitScale,
    DeadReLU,
    NonFinite,
)
RULES_BY_CODE = {rule.code: rule for rule in ALL_RULES}
