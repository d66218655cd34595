"""NMER: noise-robust multimodal emotion recognition with a VAE joint representation."""

from reference_models.nmer.config import RELEASE_FIXES, VARIANTS, NMERConfig
from reference_models.nmer.losses import NMERTargets, nmer_loss, teacher_targets
from reference_models.nmer.model import NMER, NMEROutput

__all__ = [
    "NMER",
    "RELEASE_FIXES",
    "VARIANTS",
    "NMERConfig",
    "NMEROutput",
    "NMERTargets",
    "nmer_loss",
    "teacher_targets",
]
