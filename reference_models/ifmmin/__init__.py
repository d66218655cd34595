"""IF-MMIN: invariant-feature missing modality imagination network (Zuo et al., ICASSP 2023)."""

from reference_models.ifmmin.config import IFMMINConfig
from reference_models.ifmmin.losses import IFMMINTargets, ifmmin_loss, teacher_targets
from reference_models.ifmmin.model import IFMMIN, IFMMINOutput

__all__ = [
    "IFMMIN",
    "IFMMINConfig",
    "IFMMINOutput",
    "IFMMINTargets",
    "ifmmin_loss",
    "teacher_targets",
]
