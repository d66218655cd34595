"""Tiny configs and batches for the reference-model tests (kept small: the CI machine has 2 cores)."""

from __future__ import annotations

from typing import Any

import torch

from reference_models.ifmmin import IFMMINConfig
from reference_models.mmin import MMINConfig
from reference_models.nmer import NMERConfig
from reference_models.teacher import BackboneConfig, TeacherConfig

MODALITIES = ("audio", "visual", "text")
DIMS = (6, 5, 7)
STEPS = (5, 4, 3)  # padded lengths; text (3) is shorter than the largest TextCNN kernel on purpose


def tiny_backbone(**kw: Any) -> BackboneConfig:
    return BackboneConfig(
        input_dims=DIMS, embd_size=8, text_kernel_sizes=(2, 4), text_channels=4, **kw
    )


def tiny_teacher(**kw: Any) -> TeacherConfig:
    return TeacherConfig(backbone=tiny_backbone(), cls_layers=(8, 8), **kw)


def tiny_config(kind: str, **kw: Any) -> Any:
    """A tiny config of model ``kind`` (teacher, teacher_inv, teacher_nmer, mmin, ifmmin, nmer)."""
    if kind == "teacher":
        return tiny_teacher(**kw)
    if kind == "teacher_inv":
        return tiny_teacher(invariant=True, **kw)
    if kind == "teacher_nmer":
        return tiny_teacher(invariant=True, separate_invariant_encoders=True, cls_dropout=0.2, **kw)
    if kind == "mmin":
        return MMINConfig(
            teacher=tiny_teacher(), ae_layers=(12, 6, 4), n_blocks=3, cls_layers=(8, 8), **kw
        )
    if kind == "ifmmin":
        return IFMMINConfig(
            teacher=tiny_teacher(invariant=True),
            ae_layers=(12, 6, 4),
            n_blocks=3,
            cls_layers=(8, 8),
            **kw,
        )
    if kind == "nmer":
        defaults: dict[str, Any] = {
            "vae_layers": 2,
            "vae_heads": 2,
            "vae_feedforward": 8,
            "latent_size": 4,
            "decoder_hidden": 8,
            "cls_layers": (8, 8),
        }
        return NMERConfig(
            teacher=tiny_teacher(invariant=True, separate_invariant_encoders=True),
            **{**defaults, **kw},
        )
    raise ValueError(kind)


def make_batch(
    batch: int = 4, *, seed: int = 0, pattern: dict[str, bool] | None = None
) -> dict[str, Any]:
    """A random padded batch; modalities missing in ``pattern`` are zeroed and marked absent."""
    g = torch.Generator().manual_seed(seed)
    out: dict[str, Any] = {"lengths": {}, "present": {}}
    for name, dim, steps in zip(MODALITIES, DIMS, STEPS, strict=True):
        x = torch.randn(batch, steps, dim, generator=g)
        lengths = torch.randint(1, steps + 1, (batch,), generator=g)
        lengths[0] = steps
        x = x * (torch.arange(steps)[None, :, None] < lengths[:, None, None])
        on = True if pattern is None else pattern[name]
        out[name] = x if on else torch.zeros_like(x)
        out["lengths"][name] = lengths
        out["present"][name] = torch.full((batch,), on)
    out["label"] = torch.randint(0, 4, (batch,), generator=g)
    return out


class TinyDataset(torch.utils.data.Dataset[dict[str, Any]]):
    """Unbatched items in the mmnoise.datasets format, with class-dependent means (learnable)."""

    def __init__(self, size: int, *, seed: int = 0) -> None:
        self.size, self.seed = size, seed

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict[str, Any]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + index)
        label = index % 4
        item: dict[str, Any] = {"label": torch.tensor(label), "id": f"u{index}"}
        for name, dim, steps in zip(MODALITIES, DIMS, STEPS, strict=True):
            t = int(torch.randint(1, steps + 2, (1,), generator=g))
            x = torch.randn(t, dim, generator=g) * 0.5
            x[:, label % dim] += 1.0
            item[name] = x
        return item
