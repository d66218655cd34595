"""Private broadcasting helpers shared by the kernels (per-example params, valid-step masks)."""

from __future__ import annotations

import torch
from torch import Tensor


def per_example(v: Tensor | float, x: Tensor) -> Tensor:
    """Return ``v`` as a float tensor on ``x.device`` shaped (B, 1, ..., 1) to broadcast over ``x``.

    The timm ``drop_path`` trick: a (B,) parameter becomes ``(B,) + (1,) * (x.ndim - 1)``.
    """
    t = torch.as_tensor(v, device=x.device, dtype=x.dtype if x.is_floating_point() else None)
    if t.ndim == 0:
        t = t.expand(x.shape[0])
    return t.reshape((x.shape[0],) + (1,) * (x.ndim - 1))


def step_mask(x: Tensor, lengths: Tensor | None, time_dim: int) -> Tensor | None:
    """Return a bool mask broadcastable to ``x`` that is True on valid steps (None: all valid)."""
    if lengths is None:
        return None
    size = x.shape[time_dim]
    valid = torch.arange(size, device=x.device)[None, :] < lengths.to(x.device)[:, None]  # (B, T)
    shape = [x.shape[0]] + [1] * (x.ndim - 1)
    shape[time_dim] = size
    return valid.reshape(shape)


def full_lengths(x: Tensor, lengths: Tensor | None, time_dim: int) -> Tensor:
    """Return ``lengths`` or, when None, the padded size of ``time_dim`` for every example."""
    if lengths is not None:
        return lengths.to(x.device)
    return torch.full((x.shape[0],), x.shape[time_dim], device=x.device, dtype=torch.long)


def keep_padding(out: Tensor, x: Tensor, lengths: Tensor | None, time_dim: int) -> Tensor:
    """Restore the padded steps of ``out`` from ``x`` (padding is never corrupted)."""
    mask = step_mask(x, lengths, time_dim)
    return out if mask is None else torch.where(mask, out, x)


def span_bounds(lengths: Tensor, start: Tensor, width_ratio: Tensor) -> tuple[Tensor, Tensor]:
    """Turn (fractional start, width ratio) into integer [lo, hi) spans inside each valid length.

    Fractions rather than frame indices are the parameters so that one draw gives time-aligned
    spans across modalities that share a time axis but differ in frame rate.
    """
    n = lengths.to(torch.float32)
    width = torch.round(width_ratio.to(torch.float32) * n).clamp(min=0)
    width = torch.minimum(width, n)
    lo = torch.floor(start.to(torch.float32) * (n - width + 1)).clamp(min=0)
    lo = torch.minimum(lo, n - width)
    return lo.long(), (lo + width).long()


def step_index(x: Tensor, time_dim: int) -> Tensor:
    """Return a (B, T) int64 tensor of step indices along ``time_dim``."""
    return torch.arange(x.shape[time_dim], device=x.device).expand(x.shape[0], -1)


def broadcast_steps(mask: Tensor, x: Tensor, time_dim: int) -> Tensor:
    """Reshape a (B, T) per-step tensor so that it broadcasts over ``x`` along ``time_dim``."""
    shape = [x.shape[0]] + [1] * (x.ndim - 1)
    shape[time_dim] = x.shape[time_dim]
    return mask.reshape(shape)


def gather_steps(x: Tensor, index: Tensor, time_dim: int) -> Tensor:
    """Return ``x`` with step ``t`` of example ``b`` taken from step ``index[b, t]``."""
    xt = x.movedim(time_dim, 1)
    rows = torch.arange(x.shape[0], device=x.device)[:, None]
    return xt[rows, index].movedim(1, time_dim)


def valid_moments(x: Tensor, lengths: Tensor | None, time_dim: int) -> tuple[Tensor, Tensor]:
    """Return per-example (mean, std) over the valid steps of ``x``, each shaped (B,)."""
    mask = step_mask(x, lengths, time_dim)
    flat = x.reshape(x.shape[0], -1)
    if mask is None:
        return flat.mean(dim=1), flat.std(dim=1, correction=0)
    weight = mask.expand_as(x).reshape(x.shape[0], -1).to(x.dtype)
    count = weight.sum(dim=1).clamp(min=1)
    mean = (flat * weight).sum(dim=1) / count
    var = (((flat - mean[:, None]) ** 2) * weight).sum(dim=1) / count
    return mean, var.sqrt()


def valid_extrema(x: Tensor, lengths: Tensor | None, time_dim: int) -> tuple[Tensor, Tensor]:
    """Return per-example (min, max) over the valid steps of ``x``, each shaped (B,)."""
    mask = step_mask(x, lengths, time_dim)
    if mask is None:
        flat = x.reshape(x.shape[0], -1)
        return flat.amin(dim=1), flat.amax(dim=1)
    m = mask.expand_as(x)
    lo = torch.where(m, x, torch.full_like(x, float("inf"))).reshape(x.shape[0], -1).amin(dim=1)
    hi = torch.where(m, x, torch.full_like(x, float("-inf"))).reshape(x.shape[0], -1).amax(dim=1)
    return lo, hi
