"""Stage-1 teacher loss: cross-entropy, plus the CMD invariance term for IF-MMIN / NMER."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import Tensor

from reference_models.layers import cmd
from reference_models.teacher.config import TeacherConfig
from reference_models.teacher.model import TeacherOutput

__all__ = ["pairwise_cmd", "teacher_loss"]


def pairwise_cmd(invariant: Tensor, *, moments: int = 5) -> Tensor:
    """Mean CMD over every pair of modalities' invariant features (IF-MMIN stage 1, ICASSP 2023).

    Shape:
        invariant: (B, M, E). Output: () scalar (0 when M < 2).

    Example:
        >>> float(pairwise_cmd(torch.ones(4, 3, 2)))
        0.0
    """
    m = invariant.shape[1]
    pairs = list(itertools.combinations(range(m), 2))
    if not pairs:
        return invariant.new_zeros(())
    terms = [cmd(invariant[:, i], invariant[:, j], moments=moments) for i, j in pairs]
    return torch.stack(terms).mean()


def teacher_loss(output: TeacherOutput, labels: Tensor, config: TeacherConfig) -> dict[str, Tensor]:
    """Return the named stage-1 loss terms: ``ce``, ``cmd`` (0 without S) and ``total``.

    total = CE + cmd_weight * mean pairwise CMD_K(u_i, u_j).

    Shape:
        labels: (B,) int64 class indices.

    Example:
        >>> out = TeacherOutput(torch.zeros(2, 4), torch.zeros(2, 3, 5), None)
        >>> round(float(teacher_loss(out, torch.tensor([0, 1]), TeacherConfig())["total"]), 4)
        1.3863
    """
    ce = F.cross_entropy(output.logits, labels)
    if output.invariant is None:
        dist = ce.new_zeros(())
    else:
        dist = pairwise_cmd(output.invariant, moments=config.cmd_moments)
    return {"ce": ce, "cmd": dist, "total": ce + config.cmd_weight * dist}
