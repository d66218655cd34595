"""Kernels for whole-modality missingness."""

from __future__ import annotations

import torch
from torch import Tensor

from mmnoise.functional._shape import fill_where, per_example

__all__ = ["drop_modality", "sample_presence"]


def drop_modality(
    x: Tensor, *, present: Tensor, fill: float | Tensor = 0.0, inplace: bool = False
) -> Tensor:
    """Replace the examples whose modality is absent by ``fill`` (a value or a same-shape tensor).

    MMIN / IF-MMIN zero a missing modality's whole padded sequence; NMER passes a noised copy as
    ``fill`` instead (research/seed_models.md section 0.4).

    Args:
        x: any modality tensor.
        present: (B,) bool, False where the modality is missing.
        fill: value, or tensor shaped like ``x``, used for missing examples.
        inplace: write into ``x`` instead of a new tensor (only for a tensor you own): only the
            missing examples' rows are written.

    Shape:
        x: (B, ...); present: (B,). Output: same as x.

    Example:
        >>> drop_modality(torch.ones(2, 1), present=torch.tensor([True, False])).flatten()
        tensor([1., 0.])
    """
    if inplace:
        gone = ~present.to(device=x.device, dtype=torch.bool)
        x[gone] = fill[gone] if isinstance(fill, Tensor) and fill.ndim else fill
        return x
    keep = per_example(present, x).to(torch.bool)
    if not isinstance(fill, Tensor):
        # a (B, 1, ..., 1) mask: no full-size fill tensor, and x's dtype is kept
        return fill_where(x, ~keep, fill)
    return torch.where(keep, x, fill)


def sample_presence(
    drop_prob: Tensor,
    num_modalities: int,
    *,
    min_present: int = 1,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Draw a (B, M) presence matrix: each modality dropped with probability ``drop_prob``.

    At least ``min_present`` modalities stay in every row: where too few survive, the
    highest-priority dropped ones (a random priority per modality) are put back, so every
    modality is equally likely to be the one kept.

    Args:
        drop_prob: (B,) probability that any one modality is missing.
        num_modalities: M.
        min_present: modalities always kept per example (0 <= min_present <= M).
        generator: source of the draws (its device is used).

    Shape:
        drop_prob: (B,). Output: (B, M) bool.

    Example:
        >>> sample_presence(torch.ones(3), 3, min_present=1).sum(dim=1)
        tensor([1, 1, 1])
    """
    b = drop_prob.shape[0]
    dev = drop_prob.device
    u = torch.rand(b, num_modalities, generator=generator, device=dev)
    priority = torch.rand(b, num_modalities, generator=generator, device=dev)
    present = u >= drop_prob[:, None]
    # rank modalities: present ones first, then by priority; the top min_present are forced on.
    order = torch.argsort(present.to(priority.dtype) * 2.0 + priority, dim=1, descending=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(num_modalities, device=dev).expand(b, -1))
    return present | (rank < min_present)
