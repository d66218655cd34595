"""NMER config (Fan, Zuo, Liu, Lian, Gao, arXiv 2311.16114; upstream WooyoohL/Noise-robust_MER)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from reference_models import _checks
from reference_models.teacher.config import TeacherConfig

__all__ = ["RELEASE_FIXES", "VARIANTS", "NMERConfig", "Variant"]

Variant = Literal["default", "release", "mrcn1"]

#: The switches the named variants differ in, each variant's value of every one
#: (docs/reference-models.md, "NMER variants"). The dataclass defaults are the ``"default"`` row.
VARIANTS: dict[str, dict[str, Any]] = {
    # the package default: the residual classifier input of MRCN_1, the release's reconstruction
    # target, an unbounded decoder, KL batch mean x 0.01, z = mu in evaluation; chosen on
    # validation by benchmarks/nmer_select.py (docs/reference-models.md)
    "default": {
        "classifier_input": "residual",
        "reconstruction_target": "reconstruction",
        "decoder_output": "identity",
        "cls_dropout": 0.3,
        "kl_reduction": "batchmean",
        "kl_weight": None,
        "sample_in_eval": False,
    },
    # the released NMER_model.py (3f8a131, model code 60da665) and CAP_NMER.sh
    "release": {
        "classifier_input": "reconstruction",
        "reconstruction_target": "reconstruction",
        "decoder_output": "sigmoid",
        "cls_dropout": 0.1,
        "kl_reduction": "sum",
        "kl_weight": None,
        "sample_in_eval": True,
    },
    # the pre-release MRCN_1_model.py (cd20f9a): x̂ + s into the classifier and the VAE loss
    "mrcn1": {
        "classifier_input": "residual",
        "reconstruction_target": "residual",
        "decoder_output": "sigmoid",
        "cls_dropout": 0.1,
        "kl_reduction": "sum",
        "kl_weight": None,
        "sample_in_eval": True,
    },
}

#: Upstream behaviours that no variant keeps, because they make the evaluation invalid: what
#: upstream does, and what every variant does instead.
RELEASE_FIXES: dict[str, str] = {
    "model selection": "upstream's scripts pass --verbose and pick the epoch on the test set; "
    "here on validation only",
    "VAE attention": "upstream's Transformer reads the (B, 768) batch as one sequence, so a "
    "prediction depends on the other utterances of the batch; here attention='modalities' "
    "(within each sample)",
    "max-pool over padding": "upstream pools the LSTM outputs over the padding, so an "
    "embedding depends on the batch's longest item; here BackboneConfig(mask_padding=True)",
    "noise on padding": "upstream noises the padded zeros of a missing modality; here the "
    "padding keeps its values (with the masked pooling no model reads the padding, so the "
    "noise would change nothing)",
    "evaluation noise": "upstream draws the test noise anew on every pass; here it is frozen "
    "by TrainConfig.eval_seed",
    "stage-1 UNet term": "upstream's teacher adds a diffusers UNet loss x 100 that needs a GPU "
    "and batch 64 exactly; here CE + CMD",
}


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
    # diffusion term of the release's ``utt_shared_002`` in WooyoohL/Noise-robust_MER is left out)
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
    # and unbounded ReLU outputs) or "sigmoid" (release and MRCN_1: x̂ in (0, 1), which cannot
    # reach the negative targets; MRCN_1's x̂ + s can)
    decoder_output: Literal["identity", "sigmoid"] = "identity"
    # draw z ~ q(z|x) in eval as upstream does (release, MRCN_1); False uses z = mu
    # (deterministic evaluation, default)
    sample_in_eval: bool = False
    # what the classifier reads: "residual" (default; the pre-release MRCN_1 model: x̂ + s, the
    # reconstruction plus the student's own specific embeddings) or "reconstruction" (the
    # release: x̂ alone, all class information squeezed through the VAE; lower clean accuracy,
    # docs/reference-models.md)
    classifier_input: Literal["reconstruction", "residual"] = "residual"
    # what the reconstruction MSE compares with the teacher's embeddings t: "reconstruction"
    # (default and release: MSE(x̂, t)) or "residual" (MRCN_1: MSE(x̂ + s, t), the VAE learns
    # the correction of the student's own embeddings)
    reconstruction_target: Literal["reconstruction", "residual"] = "reconstruction"
    # classifier: hidden sizes, dropout, BatchNorm (script: 0.1, BN on). Dropout 0.3 by default,
    # chosen with the residual input and KL x 0.01 on validation over five seeds
    # (benchmarks/nmer_select.py; docs/reference-models.md)
    cls_layers: tuple[int, ...] = (128, 128)
    cls_dropout: float = 0.3
    cls_batch_norm: bool = True
    # loss weights (all 1 upstream)
    ce_weight: float = 1.0
    invariant_weight: float = 1.0
    reconstruction_weight: float = 1.0
    # the KL term: "batchmean" (default: summed over the latent, averaged over the batch, so
    # independent of the batch size) or "sum" over batch and latent (upstream, exactly: with
    # kl_weight left at None it is weighted 1). kl_weight None = 0.01 for "batchmean" (a beta-VAE
    # weight, chosen on validation; 0.1 until issue 27: docs/reference-models.md, "Choosing NMER's
    # default on validation"), 1 for "sum". At batch B, batch mean x 0.01 is the sum x 0.01 / B
    # (1/12800 at batch 128).
    # Upstream's summed KL dominates the loss on small corpora and NMER then stays at chance
    # (docs/reference-models.md).
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
        _checks.one_of(
            who, "reconstruction_target", self.reconstruction_target, ("reconstruction", "residual")
        )
        _checks.one_of(who, "decoder_output", self.decoder_output, ("identity", "sigmoid"))
        _checks.positive_ints(who, "cls_layers", self.cls_layers, allow_empty=True)
        _checks.probability(who, "cls_dropout", self.cls_dropout)
        for name in ("ce_weight", "invariant_weight", "reconstruction_weight"):
            _checks.non_negative(who, name, getattr(self, name))
        if self.kl_weight is not None:
            _checks.non_negative(who, "kl_weight", self.kl_weight)
        _checks.one_of(who, "kl_reduction", self.kl_reduction, ("sum", "batchmean"))

    @classmethod
    def variant(cls, name: str, **overrides: Any) -> NMERConfig:
        """Return the named variant: ``"default"``, ``"release"`` or ``"mrcn1"`` (CLI ``--nmer-variant``).

        The variants differ only in the switches of :data:`VARIANTS`; ``overrides`` set any
        field (architecture sizes, the teacher, a switch) on top. No variant keeps upstream's
        evaluation-validity bugs (:data:`RELEASE_FIXES`).

        Example:
            >>> NMERConfig.variant("mrcn1").reconstruction_target
            'residual'
            >>> NMERConfig.variant("default") == NMERConfig()
            True
        """
        if name not in VARIANTS:
            raise ValueError(
                f"NMERConfig.variant: expected a name in {tuple(VARIANTS)}, got {name!r}."
            )
        return cls(**{**VARIANTS[name], **overrides})

    @classmethod
    def release(cls, **overrides: Any) -> NMERConfig:
        """The released NMER (``NMER_model.py``, ``CAP_NMER.sh``), its evaluation bugs fixed.

        Classifier on x̂ alone, MSE(x̂, t), sigmoid decoder, KL summed over batch and latent x 1,
        classifier dropout 0.1, z sampled in evaluation.

        Example:
            >>> cfg = NMERConfig.release()
            >>> cfg.classifier_input, cfg.decoder_output, cfg.kl_reduction, cfg.kl_scale
            ('reconstruction', 'sigmoid', 'sum', 1.0)
        """
        return cls.variant("release", **overrides)

    @classmethod
    def mrcn1(cls, **overrides: Any) -> NMERConfig:
        """The pre-release model ``MRCN_1_model.py`` (commit ``cd20f9a``) as a whole.

        x̂ + s into the classifier and into the reconstruction loss MSE(x̂ + s, t), sigmoid
        decoder, KL summed x 1, classifier dropout 0.1, z sampled in evaluation.

        Example:
            >>> cfg = NMERConfig.mrcn1()
            >>> cfg.classifier_input, cfg.reconstruction_target, cfg.cls_dropout
            ('residual', 'residual', 0.1)
        """
        return cls.variant("mrcn1", **overrides)

    def as_variant(self, name: str) -> NMERConfig:
        """Return this config (sizes, teacher) with the switches of variant ``name``.

        Example:
            >>> NMERConfig(latent_size=8).as_variant("release").latent_size
            8
        """
        if name not in VARIANTS:
            raise ValueError(
                f"NMERConfig.as_variant: expected a name in {tuple(VARIANTS)}, got {name!r}."
            )
        return dataclasses.replace(self, **VARIANTS[name])

    @property
    def variant_name(self) -> str:
        """The variant whose switches this config has, or ``"custom"``.

        Example:
            >>> NMERConfig.release().variant_name, NMERConfig(cls_dropout=0.2).variant_name
            ('release', 'custom')
        """
        for name, switches in VARIANTS.items():
            if all(getattr(self, k) == v for k, v in switches.items()):
                return name
        return "custom"

    def switches(self) -> dict[str, Any]:
        """The variant switches of this config, by field name (recorded in run / results JSON).

        Example:
            >>> NMERConfig().switches()["kl_reduction"]
            'batchmean'
        """
        return {k: getattr(self, k) for k in VARIANTS["default"]}

    def upstream_loss(self) -> NMERConfig:
        """Return this config with the release's loss only (CLI ``--nmer-upstream-loss``).

        CE on C(x̂) (``classifier_input="reconstruction"``) + MSE(H, H^T) + MSE(x̂, t) + the KL
        summed over batch and latent, weight 1 (``kl_reduction="sum"``, ``kl_weight=None``),
        and the script's classifier dropout 0.1. The decoder, the reconstruction target and the
        latent in evaluation stay as they are: the whole release is :meth:`release`.

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
        """The KL weight in use: ``kl_weight``, or 0.01 (batchmean) / 1 (sum, upstream) if None.

        Example:
            >>> NMERConfig().kl_scale, NMERConfig(kl_reduction="sum").kl_scale
            (0.01, 1.0)
        """
        if self.kl_weight is not None:
            return float(self.kl_weight)
        return 1.0 if self.kl_reduction == "sum" else 0.01

    @property
    def token_dim(self) -> int:
        """Transformer width: 2E per modality token, or 2ME for upstream's batch attention."""
        per_modality = 2 * self.teacher.backbone.embd_size
        if self.attention == "modalities":
            return per_modality
        return per_modality * len(self.teacher.backbone.modalities)
