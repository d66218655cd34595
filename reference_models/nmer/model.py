"""NMER stage-2 model: encoders, shared encoder, conditional VAE joint representation, classifier."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from reference_models.layers import MLPClassifier, kaiming_init_
from reference_models.nmer.config import NMERConfig
from reference_models.teacher.model import Backbone, Teacher

__all__ = ["NMER", "ConditionalVAE", "NMEROutput"]


@dataclass(frozen=True)
class NMEROutput:
    """What NMER returns.

    Shape:
        logits: (B, n_classes); embedding s, invariant H, reconstruction x̂: (B, M * E);
        mu, logvar: (B, latent_size).
    """

    logits: Tensor
    embedding: Tensor
    invariant: Tensor
    reconstruction: Tensor
    mu: Tensor
    logvar: Tensor


class ConditionalVAE(nn.Module):
    """NMER's conditional VAE, one network as upstream's ``netVAE``: encoder, latent, decoder.

    A Transformer encoder reads the modality tokens [s_m || H_m] of each sample plus a learned
    modality embedding (``attention="modalities"``), or upstream's one (B, 2ME) matrix read as a
    sequence of length B (``attention="batch"``: attention across the samples); then
    mu, log sigma^2 = Linear(flatten), z = mu + sigma * eps (z = mu in eval unless
    ``sample_in_eval``), x̂ = W_2 LeakyReLU(W_1 [z || H]) (then a sigmoid if
    ``decoder_output="sigmoid"``).

    Shape:
        specific, invariant: (B, M, E). Output: (x̂ (B, M * E), mu, logvar (B, latent_size)).
    """

    def __init__(self, config: NMERConfig) -> None:
        super().__init__()
        self.config = config
        bb = config.teacher.backbone
        dim = bb.embedding_dim
        self.modality_embedding = (
            nn.Parameter(torch.zeros(len(bb.modalities), config.token_dim))
            if config.attention == "modalities"
            else None
        )
        layer = nn.TransformerEncoderLayer(
            config.token_dim,
            config.vae_heads,
            dim_feedforward=config.vae_feedforward,
            dropout=config.vae_dropout,
            batch_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, config.vae_layers, enable_nested_tensor=False)
        self.to_mu = nn.Linear(2 * dim, config.latent_size)
        self.to_logvar = nn.Linear(2 * dim, config.latent_size)
        self.decoder = nn.Sequential(
            nn.Linear(config.latent_size + dim, config.decoder_hidden),
            nn.LeakyReLU(0.01),
            nn.Linear(config.decoder_hidden, dim),
        )

    def init_embedding_(self) -> None:
        """Draw the modality embedding (std 0.02) after a model-wide weight init."""
        if self.modality_embedding is not None:
            nn.init.normal_(self.modality_embedding, std=0.02)

    def _encode(self, specific: Tensor, invariant: Tensor) -> Tensor:
        """Run the Transformer over the tokens and return the flattened (B, 2ME) encoding."""
        if self.modality_embedding is not None:
            tokens = torch.cat([specific, invariant], dim=2) + self.modality_embedding
            return self.encoder(tokens).flatten(1)  # type: ignore[no-any-return]
        # upstream: a (B, 2ME) matrix read as one sequence of length B -> attention across samples
        joint = torch.cat([specific.flatten(1), invariant.flatten(1)], dim=1)
        return self.encoder(joint[None])[0]  # type: ignore[no-any-return]

    def forward(self, specific: Tensor, invariant: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        encoded = self._encode(specific, invariant)
        mu, logvar = self.to_mu(encoded), self.to_logvar(encoded)
        z = mu
        if self.training or self.config.sample_in_eval:
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)  # reparameterisation
        recon = self.decoder(torch.cat([z, invariant.flatten(1)], dim=1))
        if self.config.decoder_output == "sigmoid":
            recon = torch.sigmoid(recon)
        return recon, mu, logvar


class NMER(nn.Module):
    """Noise-robust MER with a conditional VAE joint representation (Fan et al., arXiv 2311.16114).

    s = [E^spec_m(x̃_m)], H = [S(E^inv_m(x̃_m))]; (x̂, mu, log sigma^2) = :class:`ConditionalVAE`
    (s, H); logits = C(x̂ + s) (``classifier_input="residual"``, the default, as the pre-release
    MRCN_1 model) or C(x̂) (``"reconstruction"``, the release).
    The noisy input x̃ comes from the data pipeline; the model never reads ``present``. Sampling
    eps uses torch's global RNG, like dropout.

    Args:
        config: the NMER config.

    Shape:
        batch[name]: (B, T, D) per modality; Output: ``NMEROutput``.

    Example:
        >>> from reference_models.teacher.config import BackboneConfig, TeacherConfig
        >>> bb = BackboneConfig(modalities=("a", "v"), input_dims=(3, 2),
        ...                     encoder_types=("lstm", "lstm"), embd_size=4)
        >>> cfg = NMERConfig(teacher=TeacherConfig(backbone=bb, invariant=True), vae_layers=1,
        ...                  vae_heads=2, vae_feedforward=8, latent_size=3, decoder_hidden=5,
        ...                  cls_layers=(4,))
        >>> NMER(cfg).eval()({"a": torch.zeros(2, 5, 3), "v": torch.zeros(2, 4, 2)}).mu.shape
        torch.Size([2, 3])
    """

    def __init__(self, config: NMERConfig) -> None:
        super().__init__()
        self.config = config
        bb = config.teacher.backbone
        self.backbone = Backbone(
            bb,
            invariant=True,
            separate_invariant_encoders=config.teacher.separate_invariant_encoders,
        )
        self.vae = ConditionalVAE(config)
        self.classifier = MLPClassifier(
            bb.embedding_dim,
            config.cls_layers,
            config.teacher.n_classes,
            dropout=config.cls_dropout,
            use_bn=config.cls_batch_norm,
        )
        if config.init == "kaiming":
            kaiming_init_(self)
        self.vae.init_embedding_()

    def load_teacher(self, teacher: Teacher) -> NMER:
        """Initialise the six encoders and S from a trained stage-1 teacher; return self."""
        self.backbone.load_from(teacher.backbone)
        return self

    def forward(self, batch: Mapping[str, Any]) -> NMEROutput:
        emb = self.backbone(batch)
        if emb.invariant is None:  # built with invariant=True, so never; keeps the types honest
            raise RuntimeError("NMER: the backbone returned no invariant features.")
        recon, mu, logvar = self.vae(emb.specific, emb.invariant)
        h, s = emb.invariant.flatten(1), emb.specific.flatten(1)
        features = recon + s if self.config.classifier_input == "residual" else recon
        return NMEROutput(self.classifier(features), s, h, recon, mu, logvar)
