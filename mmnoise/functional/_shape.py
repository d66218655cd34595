"""Private broadcasting helpers shared by the kernels (per-example params, valid-step masks)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, Concatenate, ParamSpec

import torch
from torch import Tensor

from mmnoise.device import reads_on_host
from mmnoise.sample import valid_mask

_P = ParamSpec("_P")
#: dtypes too narrow for energies, filters and FFTs: kernels compute in float32 for them
HALF_DTYPES = (torch.float16, torch.bfloat16)


def saturate(y: Tensor, dtype: torch.dtype) -> Tensor:
    """Clamp ``y`` to the finite range of ``dtype`` (in place when ``y`` has no autograd graph).

    An additive corruption of values near the dtype's largest finite value may overflow; a
    saturated result stays finite (as a clipping ADC would), where an overflow would give Inf.
    """
    top = torch.finfo(dtype).max
    if y.requires_grad:
        return y.clamp(-top, top)
    return y.clamp_(-top, top)


def accurate(
    fn: Callable[Concatenate[Tensor, _P], Tensor],
) -> Callable[Concatenate[Tensor, _P], Tensor]:
    """Run a float kernel in float32 for float16 / bfloat16 input and cast the result back.

    Energies, filters and FFTs in half precision overflow (a sum of squares of values near 300
    is Inf in float16) or are not implemented (torchaudio ``lfilter``, ``fftconvolve``); float32
    and float64 inputs run as they are, with no extra pass. The result is saturated to the input
    dtype's finite range before the cast, so it never turns into Inf.
    """

    @functools.wraps(fn)
    def wrapper(x: Tensor, /, *args: _P.args, **kwargs: _P.kwargs) -> Tensor:
        if x.dtype in HALF_DTYPES:
            return saturate(fn(x.float(), *args, **kwargs), x.dtype).to(x.dtype)
        return fn(x, *args, **kwargs)

    return wrapper


def per_example(v: Tensor | float, x: Tensor) -> Tensor:
    """Return ``v`` as a float tensor on ``x.device`` shaped (B, 1, ..., 1) to broadcast over ``x``.

    The timm ``drop_path`` trick: a (B,) parameter becomes ``(B,) + (1,) * (x.ndim - 1)``.
    """
    dtype = x.dtype if x.is_floating_point() else None
    if isinstance(v, Tensor):
        t = v.to(device=x.device, dtype=dtype)
    else:  # a number: filled on the device (a host tensor copied over would sync on CUDA);
        # without a dtype, full infers it from the number as as_tensor does
        t = torch.full((), v, device=x.device, dtype=dtype)
    if t.ndim == 0:
        t = t.expand(x.shape[0])
    return t.reshape((x.shape[0],) + (1,) * (x.ndim - 1))


class _ScaleValues(torch.autograd.Function):
    """``x * s`` (or ``x / s``) in the forward pass, the identity for gradients."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, s: Tensor, divide: bool) -> Tensor:
        return x / s if divide else x * s

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        return grad, None, None


def scale_values(x: Tensor, s: Tensor, *, divide: bool = False) -> Tensor:
    """Return ``x * s`` (``x / s`` with ``divide``) whose gradient passes through unscaled.

    For an op that is homogeneous of degree 1 (``f(c x) = c f(x)``) and computed as
    ``s * f(x / s)`` with a detached peak ``s``, the two scalings cancel in the derivative; doing
    them in value only keeps the intermediate gradients at the size of the normalised signal.
    With plain products the gradient of a normalised quantity is summed from terms of the
    size of ``s`` and overflows for values near the dtype's largest finite value.

    Example:
        >>> x = torch.tensor([2.0], requires_grad=True)
        >>> y = scale_values(scale_values(x, torch.tensor([4.0]), divide=True), torch.tensor([4.0]))
        >>> y.backward()
        >>> y.item() == 2.0, x.grad.tolist()
        (True, [1.0])
    """
    out: Tensor = _ScaleValues.apply(x, s, divide)
    return out


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
    valid = valid_steps(x, lengths, time_dim)
    if valid is None or (reads_on_host(x.device) and bool(valid.all())):
        return out
    return blend(out, x, valid, time_dim=time_dim)


def blend(out: Tensor, x: Tensor, keep: Tensor, *, time_dim: int = 1) -> Tensor:
    """Return ``out`` where ``keep`` is True and ``x`` elsewhere.

    ``keep`` is (B,) per example, or (B, T) per step along ``time_dim``. A fresh ``out`` (no
    memory shared with ``x``, no autograd history) gets the other rows copied back into it: only
    those rows are written, where a ``where`` with a broadcast condition takes a full pass on a
    slow path (benchmarks/). On CUDA (boolean indexing reads the row count back) and under
    ``torch.compile`` it is the ``where``, with no data-dependent branch.
    """
    if (
        not reads_on_host(x.device)
        or out.requires_grad
        or x.requires_grad
        or out.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
    ):
        cond = (
            per_example(keep, x).to(torch.bool)
            if keep.ndim == 1
            else broadcast_steps(keep, x, time_dim)
        )
        return torch.where(cond, out, x)
    other = ~keep
    if keep.ndim == 1:
        out[other] = x[other]
    else:
        out.movedim(time_dim, 1)[other] = x.movedim(time_dim, 1)[other]
    return out


def fill_where(x: Tensor, mask: Tensor, fill: float, *, inplace: bool = False) -> Tensor:
    """Return ``x`` with ``fill`` where ``mask`` (a small mask broadcastable to ``x``) is True.

    On the CPU, ``where`` and ``masked_fill`` with a mask broadcast along the last axis (per-step
    masks of (B, T, D) features) run 3-8x slower than a broadcast multiply (benchmarks/), so a
    zero fill there multiplies by the keep mask. The one difference is for non-finite inputs,
    which only pass with ``check_finite=False``: a masked NaN / Inf stays NaN instead of
    becoming 0. Otherwise ``where`` with a 0-d fill of ``x``'s dtype (no full-size fill tensor;
    integer inputs stay integer). ``inplace`` writes into ``x`` itself, for a tensor the caller
    owns (a pipeline's own intermediate): no new buffer, which on the CPU also saves the page
    faults of a fresh allocation.
    """
    if fill == 0 and mask.shape[-1] == 1 and x.shape[-1] > 1:
        keep = (~mask).to(x.dtype)
        return x.mul_(keep) if inplace else x * keep
    value = torch.full((), fill, dtype=x.dtype, device=x.device)
    return torch.where(mask, value, x, out=x) if inplace else torch.where(mask, value, x)


#: elements per example below which a loop of box fills costs more than one vectorised pass
#: (in place on 2 CPU threads: a band at 17 k elements per example broke even, 1.0x, and won
#: 2.45x at 79 k; a missing-modality fill won 1.4x at 10 k and lost 0.6x at 5 k)
BOX_MIN_ELEMENTS = 16384


def writes_boxes(x: Tensor) -> bool:
    """Whether :func:`fill_boxes` pays for ``x``: CPU data (bounds free to read), no graph to
    record, and at least ``BOX_MIN_ELEMENTS`` elements per example."""
    return (
        reads_on_host(x.device)
        and not (torch.is_grad_enabled() and x.requires_grad)
        and x.numel() >= BOX_MIN_ELEMENTS * x.shape[0]
    )


def fill_boxes(x: Tensor, boxes: dict[int, tuple[Tensor, Tensor]], fill: float | Tensor) -> Tensor:
    """Fill one box per example of ``x`` in place, writing the boxes only; return ``x``.

    ``boxes`` maps a dim to the examples' ``[lo, hi)`` bounds along it ((B,) integer tensors);
    every other dim is covered whole. In place, a masked pass reads and writes the whole tensor
    (and a band's padding must be saved around it); one ``fill_`` per box writes only the box: a
    band of 20 % of the features of a (128, 50, 1582) batch took 16-21 ms masked against
    1.8-2.9 ms box by box on a 2-vCPU machine. Out of place a copy is a full pass of its own,
    so this pays only where the masked pass needs more (a band's padding restore). For the host
    path only (:func:`writes_boxes`): the bounds are read on the host.

    Example:
        >>> lo, hi = torch.tensor([1, 0]), torch.tensor([3, 1])
        >>> fill_boxes(torch.ones(2, 4), {1: (lo, hi)}, 0.0)
        tensor([[1., 0., 0., 1.],
                [0., 1., 1., 1.]])
    """
    dims = list(boxes)
    bounds = torch.stack([torch.stack(boxes[d], -1) for d in dims], 1)  # (B, dims, 2)
    for b, box in enumerate(bounds.tolist()):
        if any(hi <= lo for lo, hi in box):  # an empty box: nothing to write
            continue
        index: list[Any] = [b] + [slice(None)] * (x.ndim - 1)
        for d, (lo, hi) in zip(dims, box, strict=True):
            index[d] = slice(lo, hi)
        x[tuple(index)].fill_(fill)
    return x


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


def _other_dims(x: Tensor, time_dim: int) -> list[int]:
    """Return the axes of ``x`` other than the batch and the time axis."""
    return [d for d in range(1, x.ndim) if d != time_dim % x.ndim]


def valid_moments(x: Tensor, lengths: Tensor | None, time_dim: int) -> tuple[Tensor, Tensor]:
    """Return per-example (mean, std) over the valid steps of ``x``, each shaped (B,).

    Per-step moments come from one ``var_mean`` pass (no full-size temporary) and are pooled over
    the valid steps with the parallel-variance formula (Chan et al. 1979):
    ``var = mean_t(v_t + (m_t - m)^2)``, stable where ``E[x^2] - m^2`` would cancel.
    """
    dims = _other_dims(x, time_dim)
    if dims:
        v_bt, m_bt = torch.var_mean(x, dim=dims, correction=0)
    else:
        v_bt, m_bt = torch.zeros_like(x), x
    valid = valid_steps(x, lengths, time_dim)
    w = torch.ones_like(m_bt) if valid is None else valid.to(m_bt.dtype)
    count = w.sum(dim=1).clamp(min=1)
    mean = (m_bt * w).sum(dim=1) / count
    var = ((v_bt + (m_bt - mean[:, None]).square()) * w).sum(dim=1) / count
    return mean, safe_sqrt(var)


def safe_sqrt(v: Tensor) -> Tensor:
    """Return ``sqrt(v)`` for ``v >= 0`` with a finite gradient (0) where ``v == 0``.

    The plain ``sqrt`` has an infinite derivative at 0, which turns into NaN gradients on
    constant or silent examples (``inf * 0``). Where no gradient is recorded, the same values
    (0 for a NaN or a negative ``v``) come from two ops instead of six.

    Example:
        >>> safe_sqrt(torch.tensor([4.0, 0.0, float("nan"), float("inf")]))
        tensor([2., 0., 0., inf])
    """
    if not (torch.is_grad_enabled() and v.requires_grad):
        return v.sqrt().nan_to_num_(nan=0.0, posinf=math.inf)
    pos = v > 0
    return torch.where(pos, torch.where(pos, v, torch.ones_like(v)).sqrt(), torch.zeros_like(v))


def valid_norm(
    x: Tensor, valid: Tensor | None, time_dim: int, *, rescue: bool = True, by_step: bool = False
) -> Tensor:
    """Return the per-example L2 norm over the valid steps of ``x``, (B,), without over- or underflow.

    ``valid`` is the (B, T) mask of :func:`valid_steps` (None: every step), built once by a
    caller that takes several norms over the same steps. ``by_step`` (with ``valid`` None):
    the norm of a caller whose lengths are all the padded size (:func:`all_steps_valid`), summed
    step by step as with a mask, so the same bits as an all-True ``valid``, without the select.

    One ``vector_norm`` pass. Squares overflow near the dtype's largest finite value (Inf) and
    underflow below ``sqrt(finfo.tiny)`` (0, or a norm that lost its digits); where the plain
    norm is out of that safe range, it is recomputed on ``x`` divided by its per-example peak
    and scaled back (an all-zero example stays 0). The check reads one (B,) flag back; under
    ``torch.compile`` the rescaled norm is always used. ``rescue=False`` returns the plain pass,
    for a caller that checks several things in one read-back (see :func:`norms_are_safe`).
    """
    b = x.shape[0]

    def norm(v: Tensor) -> Tensor:
        if valid is None and not by_step:
            n: Tensor = torch.linalg.vector_norm(v.reshape(b, -1), dim=1)
            return n
        energy = step_energy(v, time_dim)
        # a select, not a product: Inf energy on padding times 0 would be NaN
        return safe_sqrt((energy if valid is None else torch.where(valid, energy, 0.0)).sum(dim=1))

    if not rescue:
        return norm(x)
    if reads_on_host(x.device):
        plain = norm(x)
        if norms_are_safe([plain]):
            return plain
    # no read-back (compiled, or off the CPU): the rescaled norm only, no plain pass first
    peak = peak_scale(x)
    return norm(x / per_example(peak, x)) * peak


def peak_scale(x: Tensor) -> Tensor:
    """Return each example's peak ``max |x|`` (detached), 1 for an all-zero example, shaped (B,).

    The scale an op divides by to work on O(1) values near the dtype's limits.

    Example:
        >>> peak_scale(torch.tensor([[3.0, -4.0], [0.0, 0.0]]))
        tensor([4., 1.])
    """
    # not vector_norm(ord=inf): one pass, but on the CPU about 13x slower than these two
    peak = x.detach().abs().reshape(x.shape[0], -1).amax(dim=1)
    return torch.where(peak > 0, peak, torch.ones_like(peak))


def norms_are_safe(norms: Sequence[Tensor], below_max: Sequence[Tensor] = ()) -> bool:
    """Whether every plain L2 norm in ``norms`` ((B,) each) can be trusted, read on the host:
    each at least ``sqrt(finfo.tiny)`` (no underflow of the squares) and below the largest
    finite value; and every value in ``below_max`` (bounds of a result) below that value too.

    One read-back for all of them (a NaN fails): a few values are read as they are, more as one
    ``aminmax`` and one ``amax``. For CPU data outside ``torch.compile`` (see
    :func:`mmnoise.device.reads_on_host`); every tensor has the dtype of the first.

    Example:
        >>> one, tiny = torch.tensor([1.0, 2.0]), torch.tensor([1.0, 1e-30])
        >>> norms_are_safe([one]), norms_are_safe([tiny]), norms_are_safe([one], [one * 3e38])
        (True, False, False)
    """
    info = torch.finfo(norms[0].dtype)
    low, top = info.tiny**0.5, info.max
    parts = (*norms, *below_max)
    flat = (parts[0] if len(parts) == 1 else torch.cat(parts)).detach()
    k = sum(v.numel() for v in norms)
    if flat.numel() <= 64:
        values = flat.tolist()
        return all(low <= v < top for v in values[:k]) and all(v < top for v in values[k:])
    lo, hi = (float(v) for v in torch.aminmax(flat[:k]))
    return lo >= low and hi < top and (k == flat.numel() or float(flat[k:].amax()) < top)


def all_steps_valid(lengths: Tensor | None, size: int) -> bool:
    """Whether every length is at least the padded ``size`` (no padding), read on the host.

    For CPU data outside ``torch.compile`` only (see :func:`mmnoise.device.reads_on_host`): a
    kernel then skips its valid-step mask and the copy of the padding, the same values.

    Example:
        >>> all_steps_valid(torch.tensor([3, 3]), 3), all_steps_valid(torch.tensor([3, 2]), 3)
        (True, False)
    """
    # a few lengths are read as they are (one read), more through one reduction
    return lengths is not None and (
        min(lengths.tolist()) if lengths.shape[0] <= 16 else int(lengths.min())
    ) >= size


def valid_extrema(x: Tensor, lengths: Tensor | None, time_dim: int) -> tuple[Tensor, Tensor]:
    """Return per-example (min, max) over the valid steps of ``x``, each shaped (B,)."""
    dims = _other_dims(x, time_dim)
    lo_bt, hi_bt = (x.amin(dim=dims), x.amax(dim=dims)) if dims else (x, x)
    valid = valid_steps(x, lengths, time_dim)
    if valid is not None:
        lo_bt = lo_bt.masked_fill(~valid, float("inf"))
        hi_bt = hi_bt.masked_fill(~valid, float("-inf"))
    return lo_bt.amin(dim=1), hi_bt.amax(dim=1)


def valid_steps(x: Tensor, lengths: Tensor | None, time_dim: int) -> Tensor | None:
    """Return a (B, T) bool tensor, True on valid steps along ``time_dim`` (None: all valid)."""
    if lengths is None:
        return None
    return valid_mask(lengths.to(x.device), x.shape[time_dim], batch=x.shape[0], device=x.device)


def valid_steps_or_none(x: Tensor, lengths: Tensor | None, time_dim: int) -> Tensor | None:
    """:func:`valid_steps`, or None where a few lengths read on the host cover every step.

    For a kernel whose output is the same with an all-True mask and with none (token ids: a
    valid step only narrows what may be edited). The read is one ``tolist`` of at most 16
    lengths (the per-item path), for CPU data outside ``torch.compile`` only; larger batches,
    other devices and compiled code build the mask as before.

    Example:
        >>> valid_steps_or_none(torch.zeros(1, 3), torch.tensor([3]), 1) is None
        True
    """
    if (
        lengths is not None
        and lengths.shape[0] <= 16
        and reads_on_host(x.device)
        and all_steps_valid(lengths, x.shape[time_dim])
    ):
        return None
    return valid_steps(x, lengths, time_dim)


def step_energy(x: Tensor, time_dim: int) -> Tensor:
    """Return the (B, T) sum of squares of each step over every other non-batch axis.

    One read of ``x`` and no full-size temporary (``vector_norm`` reduces in place of
    ``x.pow(2).sum(...)``, which would allocate a copy of ``x``).
    """
    dims = _other_dims(x, time_dim)
    if all(x.shape[d] == 1 for d in dims):
        # nothing to reduce (mono waveforms, D = 1): a norm over size-1 axes takes a slow path
        return x.reshape(x.shape[0], x.shape[time_dim]).square()
    norm: Tensor = torch.linalg.vector_norm(x, dim=dims)
    return norm.square()
