"""MMIN stage-2 model: encoders, cascade residual autoencoder, cycle imagination, classifier."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from reference_models.layers import MLPClassifier, ResidualAE, kaiming_init_
from reference_models.mmin.config import MMINConfig
from reference_models.teacher.model import Backbone, Teacher

__all__ = ["MMIN", "MMINOutput"]


@dataclass(frozen=True)
class MMINOutput:
    """What MMIN returns.

    Shape:
        logits: (B, n_classes); embedding h, imagined ĥ, cycle h̃: (B, M * E);
        latent c: (B, n_blocks * latent size).
    """

    logits: Tensor
    embedding: Tensor
    imagined: Tensor
    latent: Tensor
    cycle: Tensor


class MMIN(nn.Module):
    """Missing Modality Imagination Network (Zhao, Li, Jin, ACL 2021).

    h = [E_m(x_m)] over modalities; (ĥ, c) = CRA(h); logits = C(c); h̃ = CRA'(ĥ) (cycle). A missing
    modality is expected as zeros (the data pipeline zeroes it); ``present`` is only used for the
    loss targets (``reference_models.mmin.losses.teacher_targets``).

    Args:
        config: the MMIN config.

    Shape:
        batch[name]: (B, T, D) per modality; Output: ``MMINOutput``.

    Example:
        >>> import torch
        >>> from reference_models.teacher.config import BackboneConfig, TeacherConfig
        >>> bb = BackboneConfig(modalities=("a", "v"), input_dims=(3, 2),
        ...                     encoder_types=("lstm", "lstm"), embd_size=4)
        >>> cfg = MMINConfig(teacher=TeacherConfig(backbone=bb), ae_layers=(6, 3), n_blocks=2)
        >>> MMIN(cfg)({"a": torch.zeros(2, 5, 3), "v": torch.zeros(2, 4, 2)}).latent.shape
        torch.Size([2, 6])
    """

    def __init__(self, config: MMINConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.teacher.backbone.embedding_dim
        self.backbone = Backbone(config.teacher.backbone)
        self.cra = ResidualAE(dim, config.ae_layers, n_blocks=config.n_blocks, recurrence="mmin")
        self.cra_back = (
            None
            if config.share_cycle_weights
            else ResidualAE(dim, config.ae_layers, n_blocks=config.n_blocks, recurrence="mmin")
        )
        self.classifier = MLPClassifier(
            config.latent_dim,
            config.cls_layers,
            config.teacher.n_classes,
            dropout=config.cls_dropout,
        )
        if config.init == "kaiming":
            kaiming_init_(self)

    def load_teacher(self, teacher: Teacher) -> MMIN:
        """Initialise the encoders from a trained stage-1 teacher; return self."""
        self.backbone.load_from(teacher.backbone)
        return self

    def forward(self, batch: Mapping[str, Any]) -> MMINOutput:
        h = self.backbone(batch).specific.flatten(1)
        imagined, latent = self.cra(h)
        back = self.cra if self.cra_back is None else self.cra_back
        cycle, _ = back(imagined)
        return MMINOutput(self.classifier(latent), h, imagined, latent, cycle)
