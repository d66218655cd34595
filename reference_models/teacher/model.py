"""Modality encoders (the backbone every model shares) and the stage-1 full-modality teacher."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from mmnoise.sample import LENGTHS
from reference_models.layers import (
    LSTMEncoder,
    MLPClassifier,
    SharedEncoder,
    TextCNN,
    kaiming_init_,
)
from reference_models.teacher.config import BackboneConfig, TeacherConfig

__all__ = ["Backbone", "Embeddings", "Teacher", "TeacherOutput"]


@dataclass(frozen=True)
class Embeddings:
    """Per-modality embeddings, stacked in ``BackboneConfig.modalities`` order.

    Shape:
        specific: (B, M, E); invariant: (B, M, E) or None (no shared encoder).
    """

    specific: Tensor
    invariant: Tensor | None


def _encoders(config: BackboneConfig) -> nn.ModuleDict:
    mods: dict[str, nn.Module] = {}
    for name, dim, kind in zip(
        config.modalities, config.input_dims, config.encoder_types, strict=True
    ):
        if kind == "lstm":
            mods[name] = LSTMEncoder(dim, config.embd_size, mask_padding=config.mask_padding)
        else:
            mods[name] = TextCNN(
                dim,
                config.embd_size,
                kernel_sizes=config.text_kernel_sizes,
                channels=config.text_channels,
                dropout=config.text_dropout,
                mask_padding=config.mask_padding,
            )
    return nn.ModuleDict(mods)


def _modality(batch: Mapping[str, Any], name: str, dim: int, who: str) -> Tensor:
    if name not in batch:
        raise KeyError(
            f"{who}: modality {name!r} is not in the batch (keys: {sorted(batch)}); set "
            "BackboneConfig.modalities to the batch's modality names."
        )
    x = batch[name]
    if not isinstance(x, Tensor) or x.ndim != 3 or x.shape[2] != dim or not x.is_floating_point():
        got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(
            f"{who}: expected batch[{name!r}] as float features (B, T, {dim}), got {got}; "
            "collate with mmnoise.data.pad_collate or fix BackboneConfig.input_dims."
        )
    return x


class Backbone(nn.Module):
    """Encode every modality of a batch: specific encoders, optionally the invariant branch.

    Reads ``batch[name]`` (B, T, D) and, when present, ``batch["lengths"][name]`` for each name in
    ``config.modalities``. The invariant branch is S(E(x)) with the specific encoder E (IF-MMIN)
    or with a separate encoder (NMER).

    Args:
        config: encoder sizes and modality names.
        invariant: build the shared encoder S.
        separate_invariant_encoders: give S its own encoder per modality.

    Shape:
        Output: ``Embeddings`` with (B, M, E) tensors.

    Example:
        >>> cfg = BackboneConfig(modalities=("a",), input_dims=(3,), encoder_types=("lstm",),
        ...                      embd_size=4)
        >>> Backbone(cfg)({"a": torch.zeros(2, 5, 3)}).specific.shape
        torch.Size([2, 1, 4])
    """

    def __init__(
        self,
        config: BackboneConfig,
        *,
        invariant: bool = False,
        separate_invariant_encoders: bool = False,
    ) -> None:
        super().__init__()
        self.config = config
        self.specific = _encoders(config)
        self.invariant_encoders = _encoders(config) if separate_invariant_encoders else None
        self.shared = SharedEncoder(config.embd_size) if invariant else None

    def _encode(self, encoders: nn.ModuleDict, batch: Mapping[str, Any]) -> Tensor:
        lengths = batch.get(LENGTHS, {})
        out = []
        for name, dim in zip(self.config.modalities, self.config.input_dims, strict=True):
            x = _modality(batch, name, dim, type(self).__name__)
            out.append(encoders[name](x, lengths.get(name)))
        return torch.stack(out, dim=1)

    def forward(self, batch: Mapping[str, Any]) -> Embeddings:
        specific = self._encode(self.specific, batch)
        if self.shared is None:
            return Embeddings(specific, None)
        source = specific
        if self.invariant_encoders is not None:
            source = self._encode(self.invariant_encoders, batch)
        return Embeddings(specific, self.shared(source))

    def load_from(self, other: Backbone) -> None:
        """Copy the encoder weights of ``other`` (a trained teacher's backbone) into this one.

        Raises:
            ValueError: this backbone has a branch ``other`` lacks, or the sizes differ.
        """
        pairs: list[tuple[str, nn.Module, nn.Module | None]] = [
            ("specific", self.specific, other.specific)
        ]
        if self.shared is not None:
            pairs.append(("shared", self.shared, other.shared))
        if self.invariant_encoders is not None:
            pairs.append(("invariant_encoders", self.invariant_encoders, other.invariant_encoders))
        for name, mine, theirs in pairs:
            if theirs is None:
                raise ValueError(
                    f"Backbone.load_from: the student needs the teacher's {name!r} branch but the "
                    "teacher has none; train the teacher with TeacherConfig(invariant=True"
                    f"{', separate_invariant_encoders=True' if name == 'invariant_encoders' else ''})."
                )
            try:
                mine.load_state_dict(theirs.state_dict())
            except RuntimeError as err:
                raise ValueError(
                    f"Backbone.load_from: teacher and student {name!r} differ in size ({err}); "
                    "build both from the same BackboneConfig."
                ) from err


@dataclass(frozen=True)
class TeacherOutput:
    """What the stage-1 teacher returns.

    Shape:
        logits: (B, n_classes); specific: (B, M, E); invariant: (B, M, E) or None.
    """

    logits: Tensor
    specific: Tensor
    invariant: Tensor | None


class Teacher(nn.Module):
    """Stage-1 full-modality model: encoders + classifier (+ shared encoder S for IF-MMIN / NMER).

    The classifier reads [specific] (MMIN's ``utt_fusion``, AIM3-RUC/MMIN) or
    [specific || invariant] (IF-MMIN's ``utt_shared``, ZhuoYulang/IF-MMIN). Also the ``baseline``
    model.

    Args:
        config: the teacher config.

    Shape:
        Output: ``TeacherOutput``; logits (B, n_classes).

    Example:
        >>> cfg = TeacherConfig(backbone=BackboneConfig(
        ...     modalities=("a",), input_dims=(3,), encoder_types=("lstm",), embd_size=4),
        ...     cls_layers=(4,))
        >>> Teacher(cfg)({"a": torch.zeros(2, 5, 3)}).logits.shape
        torch.Size([2, 4])
    """

    def __init__(self, config: TeacherConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = Backbone(
            config.backbone,
            invariant=config.invariant,
            separate_invariant_encoders=config.separate_invariant_encoders,
        )
        self.classifier = MLPClassifier(
            config.classifier_input_dim,
            config.cls_layers,
            config.n_classes,
            dropout=config.cls_dropout,
        )
        if config.init == "kaiming":
            kaiming_init_(self)

    def forward(self, batch: Mapping[str, Any]) -> TeacherOutput:
        emb = self.backbone(batch)
        feats = emb.specific.flatten(1)
        if emb.invariant is not None:
            feats = torch.cat([feats, emb.invariant.flatten(1)], dim=1)
        return TeacherOutput(self.classifier(feats), emb.specific, emb.invariant)
