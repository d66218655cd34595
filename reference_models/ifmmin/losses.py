"""IF-MMIN loss: CE + imagination MSE + invariant MSE (Zuo, Liu et al., ICASSP 2023)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from mmnoise.sample import PRESENT
from reference_models.ifmmin.config import IFMMINConfig
from reference_models.ifmmin.model import IFMMINOutput
from reference_models.mmin.losses import missing_only
from reference_models.teacher.model import Teacher

__all__ = ["IFMMINTargets", "ifmmin_loss", "teacher_targets"]


@dataclass(frozen=True)
class IFMMINTargets:
    """Frozen-teacher targets for IF-MMIN.

    Shape:
        imagination: (B, M * E) target of ĥ; invariant: (B, M * E) = H of the teacher on the
        clean, full input.
    """

    imagination: Tensor
    invariant: Tensor


def teacher_targets(
    teacher: Teacher,
    clean: Mapping[str, Any],
    noisy: Mapping[str, Any],
    config: IFMMINConfig,
) -> IFMMINTargets:
    """Compute the imagination and invariant targets with the frozen teacher (no gradient).

    Args:
        teacher: the trained stage-1 model (invariant=True; put it in eval mode).
        clean: the clean batch.
        noisy: the student's input batch; only its ``present`` entry is read.
        config: the IF-MMIN config.
    """
    with torch.no_grad():
        full = teacher(clean)
        if full.invariant is None:
            raise ValueError(
                "ifmmin.teacher_targets: expected a teacher with the shared encoder, got one "
                "without; train it with TeacherConfig(invariant=True)."
            )
        imagination = full.specific.flatten(1)
        if config.imagination_target == "missing_only":
            modalities = config.teacher.backbone.modalities
            source = missing_only(clean, noisy.get(PRESENT), modalities)
            imagination = teacher(source).specific.flatten(1)
        return IFMMINTargets(imagination, full.invariant.flatten(1))


def ifmmin_loss(
    output: IFMMINOutput, targets: IFMMINTargets, labels: Tensor, config: IFMMINConfig
) -> dict[str, Tensor]:
    """Return the named IF-MMIN loss terms ``ce``, ``imagination``, ``invariant`` and ``total``.

    total = ce_weight * CE + imagination_weight * MSE(ĥ, t) + invariant_weight * MSE(H, H^T).
    There is no cycle term in IF-MMIN.

    Shape:
        labels: (B,) int64.
    """
    ce = F.cross_entropy(output.logits, labels)
    imagination = F.mse_loss(output.imagined, targets.imagination)
    invariant = F.mse_loss(output.invariant, targets.invariant)
    total = (
        config.ce_weight * ce
        + config.imagination_weight * imagination
        + config.invariant_weight * invariant
    )
    return {"ce": ce, "imagination": imagination, "invariant": invariant, "total": total}
