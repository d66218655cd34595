"""MMIN loss: CE + forward imagination MSE + cycle MSE (Zhao, Li, Jin, ACL 2021; AIM3-RUC/MMIN)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from mmnoise.presence import presence_matrix
from mmnoise.sample import PRESENT
from reference_models.mmin.config import MMINConfig
from reference_models.mmin.model import MMINOutput
from reference_models.teacher.model import Teacher

__all__ = ["MMINTargets", "missing_only", "mmin_loss", "teacher_targets"]


@dataclass(frozen=True)
class MMINTargets:
    """Frozen-teacher targets for MMIN.

    Shape:
        imagination: (B, M * E), the target of the imagined representation ĥ.
    """

    imagination: Tensor


def missing_only(
    batch: Mapping[str, Any], present: Mapping[str, Tensor] | None, modalities: Sequence[str]
) -> dict[str, Any]:
    """Return a new batch in which the *present* modalities are zeroed and the missing ones kept.

    This is the teacher input of MMIN / IF-MMIN's imagination target: (1 - m) * x
    (upstream ``mmin_model.py``, AIM3-RUC/MMIN). A modality without a ``present`` entry counts as
    present (so it is zeroed).

    Shape:
        batch[name]: (B, ...); present[name]: (B,) bool.

    Example:
        >>> b = {"a": torch.ones(2, 1, 1)}
        >>> missing_only(b, {"a": torch.tensor([True, False])}, ("a",))["a"].flatten()
        tensor([0., 1.])
    """
    mask = presence_matrix({**batch, PRESENT: dict(present or {})}, modalities)
    out = dict(batch)
    for i, name in enumerate(modalities):
        x = batch[name]
        keep = (~mask[:, i]).to(x.dtype).reshape((-1,) + (1,) * (x.ndim - 1))
        out[name] = x * keep
    return out


def teacher_targets(
    teacher: Teacher,
    clean: Mapping[str, Any],
    noisy: Mapping[str, Any],
    config: MMINConfig,
) -> MMINTargets:
    """Compute the imagination target with the frozen teacher (no gradient).

    ``missing_only`` (upstream): the teacher encodes the clean batch with the modalities that are
    present in ``noisy`` zeroed, so the target holds the real embedding in the missing slots.
    ``full``: the teacher encodes the clean batch (as NMER does); use it when the student input
    is noised rather than dropped.

    Args:
        teacher: the trained stage-1 model (put it in eval mode).
        clean: the clean batch.
        noisy: the student's input batch; only its ``present`` entry is read.
        config: the MMIN config.
    """
    with torch.no_grad():
        source = clean
        if config.imagination_target == "missing_only":
            modalities = config.teacher.backbone.modalities
            source = missing_only(clean, noisy.get(PRESENT), modalities)
        return MMINTargets(teacher(source).specific.flatten(1))


def mmin_loss(
    output: MMINOutput, targets: MMINTargets, labels: Tensor, config: MMINConfig
) -> dict[str, Tensor]:
    """Return the named MMIN loss terms ``ce``, ``imagination``, ``cycle`` and ``total``.

    total = ce_weight * CE(C(c), y) + imagination_weight * MSE(ĥ, t)
    + cycle_weight * MSE(h̃, stop_grad(h)).

    Shape:
        labels: (B,) int64.
    """
    ce = F.cross_entropy(output.logits, labels)
    imagination = F.mse_loss(output.imagined, targets.imagination)
    cycle = F.mse_loss(output.cycle, output.embedding.detach())
    total = (
        config.ce_weight * ce
        + config.imagination_weight * imagination
        + config.cycle_weight * cycle
    )
    return {"ce": ce, "imagination": imagination, "cycle": cycle, "total": total}
