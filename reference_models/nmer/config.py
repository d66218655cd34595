"""NMER config (Fan, Zuo, Liu, Lian, Gao, arXiv 2311.16114; research/seed_models.md section 5)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from reference_models import _checks
from reference_models.teacher.config import TeacherConfig

__all__ = ["NMERConfig"]


def _nmer_teacher() -> TeacherConfig:
    return TeacherConfig(invariant=True, separate_invariant_encoders=True, cls_dropout=0.2)


@dataclass(frozen=True, kw_only=True)
class NMERConfig:
    """NMER stage 2 (conditional VAE joint representation), IEMOCAP script defaults.

    Example:
        >>> NMERConfig().latent_size
        64
    """

    # stage-1 teacher: separate invariant / specific encoders, shared S, CMD (the UNet
    # diffusion term of the release is left out, section 5.2)
    teacher: TeacherConfig = field(default_factory=_nmer_teacher)
    # what the VAE encoder attends over: "modalities" = the M modality tokens [s_m || H_m] of each
    # sample (the fix); "batch" = upstream, one 2ME-d token per sample, attention across the batch
    attention: Literal["modalities", "batch"] = "modalities"
    # Transformer encoder layers, heads, feed-forward size and dropout (5, 8, 128, 0.1 upstream)
    vae_layers: int = 5
    vae_heads: int = 8
    vae_feedforward: int = 128
    vae_dropout: float = 0.1
    # size of the latent z (mu and log sigma^2 are each this big)
    latent_size: int = 64
    # decoder hidden size ([z || H] -> hidden -> M * E)
    decoder_hidden: int = 128
    # decoder output activation: "identity" (default: the targets are LSTM max-pools in (-1, 1)
    # and unbounded ReLU outputs) or "sigmoid" (upstream, which cannot reach negative targets)
    decoder_output: Literal["identity", "sigmoid"] = "identity"
    # draw z ~ q(z|x) in eval as upstream does; False uses z = mu (deterministic evaluation)
    sample_in_eval: bool = False
    # what the classifier reads: "residual" (default; the pre-release MRCN_1 model: x̂ + s, the
    # reconstruction plus the student's own specific embeddings) or "reconstruction" (the
    # release: x̂ alone, all class information squeezed through the VAE; lower clean accuracy,
    # docs/reference-models.md)
    classifier_input: Literal["reconstruction", "residual"] = "residual"
    # classifier: hidden sizes, dropout, BatchNorm (script: 0.1, BN on). Dropout 0.3 by default:
    # with the residual input the classifier sees the embeddings directly and overfits at 0.1
    # (full-condition test WA at IEMOCAP size, demo recipe, seeds 0 / 1 / 2: 86.9 with 0.3,
    # 86.5 with 0.1, baseline 86.7; docs/reference-models.md)
    cls_layers: tuple[int, ...] = (128, 128)
    cls_dropout: float = 0.3
    cls_batch_norm: bool = True
    # loss weights (all 1 upstream)
    ce_weight: float = 1.0
    invariant_weight: float = 1.0
    reconstruction_weight: float = 1.0
    # the KL term: "batchmean" (default: summed over the latent, averaged over the batch, so
    # independent of the batch size) or "sum" over batch and latent (upstream, exactly: with
    # kl_weight left at None it is weighted 1). kl_weight None = 0.1 for "batchmean" (a beta-VAE
    # weight; research/seed_models.md section 11), 1 for "sum". Upstream's summed KL dominates
    # the loss on small corpora and NMER then stays at chance (docs/reference-models.md).
    kl_reduction: Literal["sum", "batchmean"] = "batchmean"
    kl_weight: float | None = None
    # weight init of Linear / Conv layers: "kaiming" (upstream: Kaiming-normal, zero bias) or
    # "default" (PyTorch's own, smaller: keeps the cascaded residual blocks from amplifying)
    init: Literal["kaiming", "default"] = "kaiming"

    def __post_init__(self) -> None:
        who = "NMERConfig"
        _checks.one_of(who, "init", self.init, ("kaiming", "default"))
        if not self.teacher.invariant:
            raise ValueError(
                f"{who}: expected a teacher with the shared encoder, got invariant=False; use "
                "TeacherConfig(invariant=True, separate_invariant_encoders=True)."
            )
        _checks.one_of(who, "attention", self.attention, ("modalities", "batch"))
        for name in ("vae_layers", "vae_heads", "vae_feedforward", "latent_size", "decoder_hidden"):
            _checks.positive_int(who, name, getattr(self, name))
        _checks.probability(who, "vae_dropout", self.vae_dropout)
        if self.token_dim % self.vae_heads:
            raise ValueError(
                f"{who}: expected the token size {self.token_dim} (attention={self.attention!r}) "
                f"to be divisible by vae_heads, got vae_heads={self.vae_heads}; pick a divisor."
            )
        _checks.one_of(
            who, "classifier_input", self.classifier_input, ("reconstruction", "residual")
        )
        _checks.one_of(who, "decoder_output", self.decoder_output, ("identity", "sigmoid"))
        _checks.positive_ints(who, "cls_layers", self.cls_layers, allow_empty=True)
        _checks.probability(who, "cls_dropout", self.cls_dropout)
        for name in ("ce_weight", "invariant_weight", "reconstruction_weight"):
            _checks.non_negative(who, name, getattr(self, name))
        if self.kl_weight is not None:
            _checks.non_negative(who, "kl_weight", self.kl_weight)
        _checks.one_of(who, "kl_reduction", self.kl_reduction, ("sum", "batchmean"))

    def upstream_loss(self) -> NMERConfig:
        """Return this config with the release's exact loss (CLI ``--nmer-upstream-loss``).

        CE on C(x̂) (``classifier_input="reconstruction"``) + MSE(H, H^T) + MSE(x̂, t) + the KL
        summed over batch and latent, weight 1 (``kl_reduction="sum"``, ``kl_weight=None``),
        and the script's classifier dropout 0.1.

        Example:
            >>> up = NMERConfig().upstream_loss()
            >>> up.classifier_input, up.kl_reduction, up.kl_scale
            ('reconstruction', 'sum', 1.0)
        """
        return dataclasses.replace(
            self,
            classifier_input="reconstruction",
            kl_reduction="sum",
            kl_weight=None,
            cls_dropout=0.1,
        )

    @property
    def kl_scale(self) -> float:
        """The KL weight in use: ``kl_weight``, or 0.1 (batchmean) / 1 (sum, upstream) if None.

        Example:
            >>> NMERConfig().kl_scale, NMERConfig(kl_reduction="sum").kl_scale
            (0.1, 1.0)
        """
        if self.kl_weight is not None:
            return float(self.kl_weight)
        return 1.0 if self.kl_reduction == "sum" else 0.1

    @property
    def token_dim(self) -> int:
        """Transformer width: 2E per modality token, or 2ME for upstream's batch attention."""
        per_modality = 2 * self.teacher.backbone.embd_size
        if self.attention == "modalities":
            return per_modality
        return per_modality * len(self.teacher.backbone.modalities)
