"""MMIN config (Zhao, Li, Jin, ACL 2021; upstream AIM3-RUC/MMIN, branch master)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from reference_models import _checks
from reference_models.teacher.config import TeacherConfig

__all__ = ["ImaginationTarget", "MMINConfig"]

ImaginationTarget = Literal["missing_only", "full"]


@dataclass(frozen=True, kw_only=True)
class MMINConfig:
    """MMIN stage 2 (cascade residual autoencoder + cycle imagination), IEMOCAP paper defaults.

    Example:
        >>> MMINConfig().latent_dim
        320
    """

    # stage-1 fusion teacher; its backbone also sizes the student's encoders
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    # CRA encoder widths down to the block latent (384-256-128-64)
    ae_layers: tuple[int, ...] = (256, 128, 64)
    # number of CRA blocks
    n_blocks: int = 5
    # student classifier hidden sizes (it reads the concatenated block latents)
    cls_layers: tuple[int, ...] = (128, 128)
    # student classifier dropout
    cls_dropout: float = 0.5
    # tie the backward (cycle) CRA to the forward one (the MSP-IMPROV script does)
    share_cycle_weights: bool = False
    # imagination target: "missing_only" = teacher(input with present modalities zeroed), as
    # upstream (present slots hold the teacher's embedding of zeros); "full" = teacher(clean input)
    imagination_target: ImaginationTarget = "missing_only"
    # loss weights: CE, forward imagination MSE, cycle MSE (IEMOCAP 1, 4, 2; MSP 1, 2, 0.5)
    ce_weight: float = 1.0
    imagination_weight: float = 4.0
    cycle_weight: float = 2.0
    # weight init of Linear / Conv layers: "kaiming" (upstream: Kaiming-normal, zero bias) or
    # "default" (PyTorch's own, smaller: keeps the cascaded residual blocks from amplifying)
    init: Literal["kaiming", "default"] = "kaiming"

    def __post_init__(self) -> None:
        who = "MMINConfig"
        _checks.one_of(who, "init", self.init, ("kaiming", "default"))
        _checks.positive_ints(who, "ae_layers", self.ae_layers)
        _checks.positive_int(who, "n_blocks", self.n_blocks)
        _checks.positive_ints(who, "cls_layers", self.cls_layers, allow_empty=True)
        _checks.probability(who, "cls_dropout", self.cls_dropout)
        _checks.one_of(who, "imagination_target", self.imagination_target, ("missing_only", "full"))
        for name in ("ce_weight", "imagination_weight", "cycle_weight"):
            _checks.non_negative(who, name, getattr(self, name))

    @property
    def latent_dim(self) -> int:
        """Size of the classifier input, n_blocks x the block latent size."""
        return self.n_blocks * self.ae_layers[-1]
