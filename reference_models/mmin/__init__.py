"""MMIN: missing modality imagination network (Zhao, Li, Jin, ACL 2021)."""

from reference_models.mmin.config import MMINConfig
from reference_models.mmin.losses import MMINTargets, missing_only, mmin_loss, teacher_targets
from reference_models.mmin.model import MMIN, MMINOutput

__all__ = [
    "MMIN",
    "MMINConfig",
    "MMINOutput",
    "MMINTargets",
    "missing_only",
    "mmin_loss",
    "teacher_targets",
]
