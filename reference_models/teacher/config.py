"""Configs of the modality encoders and of the stage-1 full-modality teacher."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from reference_models import _checks

__all__ = ["BackboneConfig", "EncoderType", "TeacherConfig"]

EncoderType = Literal["lstm", "textcnn"]


@dataclass(frozen=True, kw_only=True)
class BackboneConfig:
    """Modality names, input sizes and encoder sizes (as upstream AIM3-RUC/MMIN).

    Example:
        >>> BackboneConfig().embedding_dim
        384
    """

    # modality keys read from the batch, in the order their embeddings are concatenated
    # (upstream concatenates A, L, V; the order has no effect on a model trained from scratch)
    modalities: tuple[str, ...] = ("audio", "visual", "text")
    # feature size per modality: ComParE LLD 130, Denseface 342, BERT-large 1024
    input_dims: tuple[int, ...] = (130, 342, 1024)
    # encoder per modality: LSTM + max-pool (A, V) or TextCNN (L)
    encoder_types: tuple[EncoderType, ...] = ("lstm", "lstm", "textcnn")
    # embedding size of every modality (128 in every upstream script)
    embd_size: int = 128
    # TextCNN kernel heights
    text_kernel_sizes: tuple[int, ...] = (3, 4, 5)
    # TextCNN output channels per kernel
    text_channels: int = 128
    # TextCNN dropout before its projection (hard-coded 0.5 upstream)
    text_dropout: float = 0.5
    # pool over valid steps only; False reproduces upstream, which max-pools over padding too
    mask_padding: bool = True

    def __post_init__(self) -> None:
        who = "BackboneConfig"
        if not self.modalities or len(set(self.modalities)) != len(self.modalities):
            raise ValueError(
                f"{who}: expected unique modality names, got {self.modalities!r}; name each once."
            )
        n = len(self.modalities)
        if len(self.input_dims) != n or len(self.encoder_types) != n:
            raise ValueError(
                f"{who}: expected one input dim and one encoder type per modality ({n}), got "
                f"input_dims={self.input_dims!r}, encoder_types={self.encoder_types!r}."
            )
        _checks.positive_ints(who, "input_dims", self.input_dims)
        for kind in self.encoder_types:
            _checks.one_of(who, "encoder_types[i]", kind, ("lstm", "textcnn"))
        _checks.positive_int(who, "embd_size", self.embd_size)
        _checks.positive_ints(who, "text_kernel_sizes", self.text_kernel_sizes)
        _checks.positive_int(who, "text_channels", self.text_channels)
        _checks.probability(who, "text_dropout", self.text_dropout)

    @property
    def embedding_dim(self) -> int:
        """Size of the concatenated embedding, modalities x embd_size."""
        return len(self.modalities) * self.embd_size


@dataclass(frozen=True, kw_only=True)
class TeacherConfig:
    """Stage-1 full-modality model: MMIN's ``utt_fusion`` or, with ``invariant``, ``utt_shared``.

    The defaults are MMIN's fusion teacher (``utt_fusion`` in AIM3-RUC/MMIN); IF-MMIN sets
    ``invariant=True`` (``utt_shared`` in ZhuoYulang/IF-MMIN), NMER also
    ``separate_invariant_encoders=True`` and dropout 0.2 (``utt_shared_002`` in
    WooyoohL/Noise-robust_MER, script ``scripts/fix/CAP_utt_shared_002.sh``; its auxiliary UNet
    diffusion loss is left out).

    Example:
        >>> TeacherConfig(invariant=True).classifier_input_dim
        768
    """

    # modality encoders (shared with the stage-2 student, which is initialised from them)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    # add the shared encoder S and the CMD invariance loss (IF-MMIN, NMER)
    invariant: bool = False
    # NMER: a second encoder per modality feeds S (otherwise S reads the specific embedding)
    separate_invariant_encoders: bool = False
    # number of emotion classes (IEMOCAP 4: neutral, happy+excited, angry, sad)
    n_classes: int = 4
    # classifier hidden sizes
    cls_layers: tuple[int, ...] = (128, 128)
    # classifier dropout (MMIN / IF-MMIN 0.3, NMER 0.2)
    cls_dropout: float = 0.3
    # K, highest central moment in CMD
    cmd_moments: int = 5
    # weight of the mean pairwise CMD between invariant features
    cmd_weight: float = 1.0
    # weight init of Linear / Conv layers: "kaiming" (upstream: Kaiming-normal, zero bias) or
    # "default" (PyTorch's own, smaller: keeps the cascaded residual blocks from amplifying)
    init: Literal["kaiming", "default"] = "kaiming"

    def __post_init__(self) -> None:
        who = "TeacherConfig"
        _checks.one_of(who, "init", self.init, ("kaiming", "default"))
        if self.separate_invariant_encoders and not self.invariant:
            raise ValueError(
                f"{who}: separate_invariant_encoders=True needs invariant=True (the separate "
                "encoders feed the shared encoder S); set both or neither."
            )
        _checks.positive_int(who, "n_classes", self.n_classes)
        _checks.positive_ints(who, "cls_layers", self.cls_layers, allow_empty=True)
        _checks.probability(who, "cls_dropout", self.cls_dropout)
        _checks.positive_int(who, "cmd_moments", self.cmd_moments)
        _checks.non_negative(who, "cmd_weight", self.cmd_weight)

    @property
    def classifier_input_dim(self) -> int:
        """Size of the classifier input: [specific] or [specific || invariant]."""
        return self.backbone.embedding_dim * (2 if self.invariant else 1)
