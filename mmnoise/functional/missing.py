"""Kernels for whole-modality missingness."""

from __future__ import annotations

import torch
from torch import Tensor

from mmnoise import rng
from mmnoise.deprecation import module_aliases, renamed_args
from mmnoise.functional._shape import (
    broadcast_steps,
    fill_boxes,
    fill_where,
    full_lengths,
    per_example,
    valid_steps,
    writes_boxes,
)
from mmnoise.functional.features import frame_fill
from mmnoise.functional.frames import _to_uint8
from mmnoise.rng import Randomness

__all__ = ["drop_modalities", "feature_missing", "sample_presence", "sample_presence_exact"]


def drop_modalities(
    x: Tensor,
    *,
    present: Tensor,
    fill: float | Tensor = 0.0,
    lengths: Tensor | None = None,
    time_dim: int = 1,
    inplace: bool = False,
) -> Tensor:
    """Replace the examples whose modality is absent by ``fill`` (a value or a same-shape tensor).

    MMIN / IF-MMIN zero a missing modality's whole sequence; NMER passes a noised copy as
    ``fill`` instead (Fan et al., arXiv 2311.16114). Padding (steps at or past
    ``lengths`` along ``time_dim``) keeps its values, as everywhere in mmnoise.

    Args:
        x: any modality tensor.
        present: (B,) bool, False where the modality is missing.
        fill: value, or tensor shaped like ``x``, used for missing examples. On uint8 frames a
            value is an intensity in [0, 1] written as ``255 * fill`` rounded (outside [0, 1]:
            refused), and a float tensor is read as frames in [0, 1] (clamped) and rounded once,
            as the float path's output is.
        lengths: (B,) valid steps along ``time_dim`` (None: every step is valid).
        time_dim: the axis ``lengths`` counts (2 for waveforms, 1 otherwise).
        inplace: write into ``x`` instead of a new tensor (only for a tensor you own): only the
            missing examples' valid steps are written.

    Shape:
        x: (B, ...); present, lengths: (B,). Output: same as x.

    Example:
        >>> drop_modalities(torch.ones(2, 1), present=torch.tensor([True, False])).flatten()
        tensor([1., 0.])
        >>> drop_modalities(torch.ones(1, 3, 1), present=torch.tensor([False]),
        ...                 lengths=torch.tensor([2])).flatten()
        tensor([0., 0., 1.])
    """
    if x.dtype == torch.uint8:  # frames as decoded: the fill on the [0, 1] scale, rounded once
        if not isinstance(fill, Tensor):
            fill = frame_fill(x, fill, who="drop_modalities")
        elif fill.is_floating_point():
            fill = _to_uint8(fill.clamp(0.0, 1.0))
    gone = ~present.to(device=x.device, dtype=torch.bool)
    tensor_fill = isinstance(fill, Tensor) and fill.ndim > 0
    if lengths is not None and inplace and not tensor_fill and writes_boxes(x):
        # each missing example's valid steps as one box: a boolean-mask write is a masked fill
        # over the whole batch (about 18 ms for (128, 50, 1582) on a 2-vCPU machine)
        n = torch.where(gone, full_lengths(x, lengths, time_dim), 0)
        return fill_boxes(x, {time_dim % x.ndim: (torch.zeros_like(n), n)}, fill)
    valid = valid_steps(x, lengths, time_dim)
    if valid is not None:
        hit = gone[:, None] & valid  # (B, T)
        if inplace:
            xt = x.movedim(time_dim, 1)
            xt[hit] = (
                fill.movedim(time_dim, 1)[hit] if isinstance(fill, Tensor) and tensor_fill else fill
            )
            return x
        cond = broadcast_steps(hit, x, time_dim)
        if isinstance(fill, Tensor) and tensor_fill:
            return torch.where(cond, fill, x)
        return fill_where(x, cond, float(fill))
    if inplace:
        x[gone] = fill[gone] if isinstance(fill, Tensor) and tensor_fill else fill
        return x
    keep = per_example(~gone, x).to(torch.bool)
    if not isinstance(fill, Tensor):
        # a (B, 1, ..., 1) mask: no full-size fill tensor, and x's dtype is kept
        return fill_where(x, ~keep, fill)
    return torch.where(keep, x, fill)


def sample_presence(
    drop_prob: Tensor,
    num_modalities: int,
    *,
    min_present: int = 1,
    generator: Randomness = None,
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
    u = rng.rand((b, num_modalities), generator=generator, device=dev)
    priority = rng.rand((b, num_modalities), generator=generator, device=dev)
    present = u >= drop_prob[:, None]
    # rank modalities: present ones first, then by priority; the top min_present are forced on.
    order = torch.argsort(present.to(priority.dtype) * 2.0 + priority, dim=1, descending=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(num_modalities, device=dev).expand(b, -1))
    return present | (rank < min_present)


def sample_presence_exact(
    rate: Tensor,
    num_modalities: int,
    *,
    generator: Randomness = None,
) -> Tensor:
    """Draw a (B, M) presence matrix with an EXACT overall missing rate, one modality kept per row.

    The CPM-Nets / GCNet "missing rate" protocol (Zhang et al., NeurIPS 2019; Lian et al., TPAMI
    2023): of the ``B * M`` (example, modality) entries, exactly ``round(sum(rate) * M)`` are
    missing, and every example keeps at least one modality. Each row first gets one kept modality
    uniformly at random (CPM-Nets' "guaranteed view"); the missing entries are then drawn without
    replacement among the other ``B * (M - 1)`` entries, weighted by their example's ``rate``
    (equal rates: uniformly), so there is no rejection loop and no quantised rate as in the
    original generator. The count is capped at ``B * (M - 1)``: a rate above ``1 - 1 / M``
    cannot be realised (``DropModalities`` caps it, with a warning). Sync-free: no value is
    read back to the host.

    Args:
        rate: (B,) per-example missing rate in [0, 1 - 1/M]; the batch total fixes the count.
        num_modalities: M (>= 1).
        generator: source of the draws (its device is used).

    Shape:
        rate: (B,). Output: (B, M) bool, True = present.

    Example:
        >>> keep = sample_presence_exact(torch.full((10,), 0.5), 3, generator=torch.Generator())
        >>> int((~keep).sum()), bool(keep.any(dim=1).all())
        (15, True)
    """
    if rng.per_example(generator):
        raise ValueError(
            "sample_presence_exact: the exact missing rate is a property of the whole batch, so "
            "one example's presence depends on the others and per-example generators cannot make "
            "it batch-independent; pass one torch.Generator, or use the per-example rate "
            "(DropModalities(fraction=...)) for per-item reproducibility."
        )
    b, m = rate.shape[0], num_modalities
    dev = rate.device
    u = rng.rand((b, m), generator=generator, device=dev, dtype=torch.float64)
    guard = rng.rand((b, m), generator=generator, device=dev).argmax(dim=1)
    w = rate.to(device=dev, dtype=torch.float64).clamp(min=0.0)
    # Efraimidis-Spirakis weighted sampling without replacement: the largest u ** (1 / w) win;
    # a zero weight (or the guaranteed view) gets key -1 and is never drawn.
    key = torch.where(w[:, None] > 0, u.pow(1.0 / w.clamp(min=1e-12)[:, None]), -1.0)
    key = key.scatter(1, guard[:, None], -1.0)
    count = torch.round(w.sum() * m).clamp(max=b * (m - 1)).long()
    order = torch.argsort(key.flatten(), descending=True)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(b * m, device=dev)
    missing = (rank < count).reshape(b, m) & (key >= 0)
    return ~missing


@renamed_args(rate="fraction")
def feature_missing(
    x: Tensor,
    *,
    fraction: Tensor,
    fill: float = 0.0,
    generator: Randomness = None,
    lengths: Tensor | None = None,
    time_dim: int = 1,
) -> Tensor:
    """Make individual (step, feature) entries missing, each with probability ``fraction``.

    Feature-level random missing within a modality (MultiBench's "random drop" on time series,
    Liang et al. 2021; CIDer's random feature missing, Zhong et al. 2025): every valid entry is
    replaced by ``fill`` independently with probability ``fraction``. For whole steps (temporal missing, TFR-Net / MMSA) use
    :func:`mmnoise.functional.features.frame_dropout`.

    Args:
        x: (B, T, D) features.
        fraction: (B,) per-entry missing probability in [0, 1] (the expected fraction of
            valid entries hit). Formerly ``rate``.
        fill: value of a missing entry.
        generator: source of the draws.
        lengths: (B,) valid steps; padding is never touched.
        time_dim: the axis of steps.

    Shape:
        x: (B, T, D); fraction: (B,). Output: same as x.

    Example:
        >>> feature_missing(torch.ones(1, 2, 3), fraction=torch.tensor([1.0])).sum().item()
        0.0
    """
    u = rng.rand(x.shape, generator=generator, device=x.device)
    drop = u < per_example(fraction.to(x.device), x)
    valid = valid_steps(x, lengths, time_dim)
    if valid is not None:
        drop = drop & broadcast_steps(valid, x, time_dim)
    return fill_where(x, drop, fill)


#: renamed kernels (old name: new function); the old names warn, for one release
_RENAMED = {"drop_modality": drop_modalities}
__getattr__ = module_aliases(__name__, _RENAMED)
