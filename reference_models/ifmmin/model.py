"""IF-MMIN stage-2 model: encoders, shared encoder, invariant-feature imagination (IF-IM)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from reference_models.ifmmin.config import IFMMINConfig
from reference_models.layers import MLPClassifier, ResidualAE, kaiming_init_
from reference_models.teacher.model import Backbone, Teacher

__all__ = ["IFMMIN", "IFMMINOutput"]


@dataclass(frozen=True)
class IFMMINOutput:
    """What IF-MMIN returns.

    Shape:
        logits: (B, n_classes); embedding h, invariant H, imagined ĥ: (B, M * E);
        latent c: (B, n_blocks * latent size).
    """

    logits: Tensor
    embedding: Tensor
    invariant: Tensor
    imagined: Tensor
    latent: Tensor


class IFMMIN(nn.Module):
    """Invariant-feature missing modality imagination network (Zuo, Liu et al., ICASSP 2023).

    h = [E_m(x_m)], H = [S(E_m(x_m))]; (ĥ, c) = IF-IM(h, H) with every block fed the previous
    block's output plus H; logits = C(c). Missing modalities are expected as zeros.

    Args:
        config: the IF-MMIN config.

    Shape:
        batch[name]: (B, T, D) per modality; Output: ``IFMMINOutput``.

    Example:
        >>> import torch
        >>> from reference_models.teacher.config import BackboneConfig, TeacherConfig
        >>> bb = BackboneConfig(modalities=("a", "v"), input_dims=(3, 2),
        ...                     encoder_types=("lstm", "lstm"), embd_size=4)
        >>> cfg = IFMMINConfig(teacher=TeacherConfig(backbone=bb, invariant=True),
        ...                    ae_layers=(6, 3), n_blocks=2)
        >>> IFMMIN(cfg)({"a": torch.zeros(2, 5, 3), "v": torch.zeros(2, 4, 2)}).invariant.shape
        torch.Size([2, 8])
    """

    def __init__(self, config: IFMMINConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = Backbone(
            config.teacher.backbone,
            invariant=True,
            separate_invariant_encoders=config.teacher.separate_invariant_encoders,
        )
        self.imagination = ResidualAE(
            config.teacher.backbone.embedding_dim,
            config.ae_layers,
            n_blocks=config.n_blocks,
            recurrence=config.recurrence,
        )
        self.classifier = MLPClassifier(
            config.latent_dim,
            config.cls_layers,
            config.teacher.n_classes,
            dropout=config.cls_dropout,
        )
        if config.init == "kaiming":
            kaiming_init_(self)

    def load_teacher(self, teacher: Teacher) -> IFMMIN:
        """Initialise the encoders and S from a trained stage-1 teacher; return self."""
        self.backbone.load_from(teacher.backbone)
        return self

    def forward(self, batch: Mapping[str, Any]) -> IFMMINOutput:
        emb = self.backbone(batch)
        if emb.invariant is None:  # built with invariant=True, so never; keeps the types honest
            raise RuntimeError("IFMMIN: the backbone returned no invariant features.")
        h, invariant = emb.specific.flatten(1), emb.invariant.flatten(1)
        imagined, latent = self.imagination(h, invariant)
        return IFMMINOutput(self.classifier(latent), h, invariant, imagined, latent)
