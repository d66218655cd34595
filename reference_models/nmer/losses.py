"""NMER loss: CE + invariant MSE + VAE (reconstruction MSE + KL) (Fan et al., arXiv 2311.16114)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from reference_models.layers import gaussian_kl
from reference_models.nmer.config import NMERConfig
from reference_models.nmer.model import NMEROutput
from reference_models.teacher.model import Teacher

__all__ = ["NMERTargets", "nmer_loss", "teacher_targets"]


@dataclass(frozen=True)
class NMERTargets:
    """Frozen-teacher targets for NMER, both from the clean, full input.

    Shape:
        reconstruction: (B, M * E) teacher specific embeddings; invariant: (B, M * E) teacher H.
    """

    reconstruction: Tensor
    invariant: Tensor


def teacher_targets(
    teacher: Teacher,
    clean: Mapping[str, Any],
    noisy: Mapping[str, Any],
    config: NMERConfig,
) -> NMERTargets:
    """Compute the reconstruction and invariant targets on the clean batch (no gradient).

    ``noisy`` and ``config`` are unused (NMER has no missing-only trick); they keep the
    signature of the other models' ``teacher_targets``.
    """
    del noisy, config
    with torch.no_grad():
        out = teacher(clean)
        if out.invariant is None:
            raise ValueError(
                "nmer.teacher_targets: expected a teacher with the shared encoder, got one without; "
                "train it with TeacherConfig(invariant=True, separate_invariant_encoders=True)."
            )
        return NMERTargets(out.specific.flatten(1), out.invariant.flatten(1))


def nmer_loss(
    output: NMEROutput, targets: NMERTargets, labels: Tensor, config: NMERConfig
) -> dict[str, Tensor]:
    """Return the named NMER loss terms ``ce``, ``invariant``, ``reconstruction``, ``kl``, ``total``.

    total = ce_weight * CE + invariant_weight * MSE(H, H^T) + reconstruction_weight * MSE(r, t)
    + ``config.kl_scale`` * KL, with r = x̂ (``reconstruction_target="reconstruction"``: default
    and release) or x̂ + s (``"residual"``: MRCN_1) and KL = -1/2 sum (1 + log sigma^2 - mu^2 -
    sigma^2) summed over the latent and averaged (``batchmean``, default, weight 0.01) or summed
    (``sum``, release and MRCN_1, weight 1) over the batch. At batch B the default's KL factor
    is the summed KL x 0.01 / B: x 1/12800 at the preset batch 128, against x 1 upstream.

    Shape:
        labels: (B,) int64.
    """
    ce = F.cross_entropy(output.logits, labels)
    invariant = F.mse_loss(output.invariant, targets.invariant)
    recon = output.reconstruction
    if config.reconstruction_target == "residual":
        recon = recon + output.embedding
    reconstruction = F.mse_loss(recon, targets.reconstruction)
    kl = gaussian_kl(output.mu, output.logvar).sum()
    if config.kl_reduction == "batchmean":
        kl = kl / output.mu.shape[0]
    total = (
        config.ce_weight * ce
        + config.invariant_weight * invariant
        + config.reconstruction_weight * reconstruction
        + config.kl_scale * kl
    )
    return {
        "ce": ce,
        "invariant": invariant,
        "reconstruction": reconstruction,
        "kl": kl,
        "total": total,
    }
