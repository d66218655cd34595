"""Kernels for video frames (B, T, C, H, W), float in [0, 1], built on kornia.

Each kernel folds time into the batch, (B, T, C, H, W) -> (B*T, C, H, W), and repeats an example's
(B,) parameters over its T frames, so a clip is corrupted as a whole (one blur, one JPEG quality,
one occluder), as real video is; a (B, T) parameter gives each frame its own value instead. Noise
fields are always drawn fresh for every frame: sensor noise is not frozen across a clip (drawn
with :func:`mmnoise.rng.randn_chunked`, the package's parallel chunked generator, as in the
feature kernels).

Every kernel is pure: parameters are explicit tensors, randomness comes only from ``generator``,
inputs are never modified, frames past ``lengths`` come back unchanged, outputs stay in [0, 1],
and frames in [0, 1] with a neutral strength parameter (std 0, scale 1, ...) come back exactly.
Spatial sizes (blur radii, box sides, motion length) are in pixels of the given frames.

kornia is imported inside the kernels that call it, not at module import: ``import kornia``
loads the whole library (about 0.2 s), which ``import mmnoise`` should not pay for.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any, Concatenate, ParamSpec

import numpy as np
import torch
from torch import Tensor

from mmnoise import rng
from mmnoise.deprecation import module_aliases, renamed_args
from mmnoise.device import reads_on_host
from mmnoise.extras import optional_import
from mmnoise.functional._shape import accurate, fill_where, keep_padding, safe_sqrt
from mmnoise.rng import Randomness

_P = ParamSpec("_P")

__all__ = [
    "brightness",
    "contrast",
    "defocus_blur",
    "gaussian_blur",
    "gaussian_noise",
    "jpeg",
    "low_light",
    "motion_blur",
    "occlusion",
    "pyramid_blur",
    "resolution_drop",
    "shot_noise",
]


def _per_frame(v: Tensor | float, x: Tensor, *, name: str, who: str) -> Tensor:
    """Return a scalar, (B,) or (B, T) parameter as a (B, T) tensor in ``x``'s dtype (float32 for
    uint8 frames) and device."""
    _check_frames(x, who)
    b, t = x.shape[0], x.shape[1]
    p = torch.as_tensor(v, device=x.device).to(x.dtype if x.is_floating_point() else torch.float32)
    if p.ndim == 0:
        p = p.expand(b)
    if p.shape == (b,):
        p = p[:, None].expand(b, t)
    if p.shape != (b, t):
        raise ValueError(
            f"{who}: expected {name} as a ({b},) tensor (one per clip) or ({b}, {t}) (one per "
            f"frame), got shape {tuple(p.shape)}."
        )
    return p


def _via_float(fn: Callable[Concatenate[Tensor, _P], Tensor]) -> Callable[Concatenate[Tensor, _P], Tensor]:
    """Run a float kernel on uint8 frames: read as ``x / 255`` in float32, rounded back to uint8.

    Video as ``torchvision.io`` decodes it is uint8 in [0, 255]; the result is exactly
    ``round(255 * kernel(x.float() / 255))``, the float path's semantics with one rounding at the
    end (float frames pass through untouched, with no extra pass).
    """

    @functools.wraps(fn)
    def wrapper(x: Tensor, /, *args: _P.args, **kwargs: _P.kwargs) -> Tensor:
        if x.dtype != torch.uint8:
            return fn(x, *args, **kwargs)
        if reads_on_host(x.device):
            # the cast, then an in-place division: torch.div's values (both divide in float32,
            # correctly rounded) in the same layout, 10-20x faster on the CPU for a
            # channels-last uint8 view, where the promoting division takes a scalar loop
            xf = x.to(torch.float32).div_(255.0)
        else:
            xf = torch.div(x, 255.0)  # float32, in one pass
        return _to_uint8(fn(xf, *args, **kwargs))

    return wrapper


def _to_uint8(y: Tensor) -> Tensor:
    """Float frames in [0, 1] as uint8 in [0, 255]: ``255 y`` rounded to nearest, halves up.

    Two passes: ``0.5 + 255 y`` in one, then the cast, which truncates (the values are >= 0.5 and
    at most 255.5 plus a few ulps, so truncation rounds and stays in range).
    """
    half = torch.full((), 0.5, dtype=y.dtype, device=y.device)
    return torch.add(half, y, alpha=255.0).to(torch.uint8)


def _bcast(p: Tensor) -> Tensor:
    """Reshape a (B, T) parameter to (B, T, 1, 1, 1) so that it broadcasts over frames."""
    return p.reshape(*p.shape, 1, 1, 1)


def _check_frames(x: Tensor, who: str) -> None:
    if x.ndim != 5 or not (x.is_floating_point() or x.dtype == torch.uint8):
        raise ValueError(
            f"{who}: expected float or uint8 frames as (B, T, C, H, W), got {x.dtype} of shape "
            f"{tuple(x.shape)}; add missing axes with x[:, None] (T = 1) or x[:, :, None] (C = 1)."
        )


def _fold(x: Tensor) -> Tensor:
    return x.reshape(-1, *x.shape[2:])


def _finish(y: Tensor, x: Tensor, lengths: Tensor | None) -> Tensor:
    """Unfold ``y`` to the layout of ``x`` and restore the padded frames from ``x``."""
    return keep_padding(y.reshape(x.shape), x, lengths, 1)


def _unit(y: Tensor) -> Tensor:
    """Clamp a filter's output to [0, 1]: the rounding of a weighted sum of pixels in [0, 1] can
    land a few ulps outside (a blurred 1.0 came out as 1.0000001), and frames are in [0, 1].

    In place on a fresh contiguous output; a view into a larger buffer (kornia's JPEG crops its
    16 x 16 padding off) is clamped into a fresh contiguous tensor, as is a graph-recording one."""
    return y.clamp_(0.0, 1.0) if y.is_contiguous() and not y.requires_grad else y.clamp(0.0, 1.0)


def _kernel_size(half: int, x: Tensor) -> int:
    # A kernel never reaches further than the frame itself: reflect padding needs k // 2 < size.
    return 2 * max(0, min(half, x.shape[-2] - 1, x.shape[-1] - 1)) + 1


def _grid(size: int, x: Tensor) -> tuple[Tensor, Tensor]:
    """Return (dy, dx) offsets from the centre of a size x size kernel, each (1, size, size)."""
    c = torch.arange(size, device=x.device, dtype=x.dtype) - size // 2
    return c[None, :, None].expand(1, size, size), c[None, None, :].expand(1, size, size)


@renamed_args(sigma="std")
@_via_float
def gaussian_noise(
    x: Tensor,
    *,
    std: Tensor,
    generator: Randomness = None,
    lengths: Tensor | None = None,
) -> Tensor:
    """Add white Gaussian noise of standard deviation ``std`` and clamp to [0, 1].

    Args:
        x: frames in [0, 1].
        std: (B,) or (B, T) noise standard deviation in intensity units (the [0, 1] scale of
            float frames; 0 = untouched). Formerly ``sigma``.
        generator: source of the noise field (fresh for every frame).
        lengths: (B,) valid frames; padded frames are untouched.

    Shape:
        x: (B, T, C, H, W). Output: same.

    Returns:
        The noisy frames.

    Example:
        >>> x = torch.full((1, 2, 1, 4, 4), 0.5)
        >>> y = gaussian_noise(x, std=torch.tensor([0.1]), generator=torch.Generator().manual_seed(0))
        >>> bool(((y >= 0) & (y <= 1)).all()), bool((y != x).any())
        (True, True)
    """
    s = _per_frame(std, x, name="std", who="gaussian_noise")
    noise = rng.randn_chunked(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    xc = _like_noise(x)
    y = torch.addcmul(xc, _bcast(s), noise).clamp_(0.0, 1.0)  # fused: one pass, one allocation
    return _finish(y, xc, lengths)


def _like_noise(x: Tensor) -> Tensor:
    """``x`` in the noise field's (contiguous) layout on the CPU, eager: elementwise ops between
    a channels-last view (video as decoded) and a contiguous field take a strided scalar loop
    there, 5-10x slower than the copy. Elementwise results do not depend on the layout."""
    return x.contiguous() if reads_on_host(x.device) and not x.requires_grad else x


@renamed_args(sigma="std")
@_via_float
def shot_noise(
    x: Tensor,
    *,
    std: Tensor,
    generator: Randomness = None,
    lengths: Tensor | None = None,
) -> Tensor:
    r"""Add signal-dependent (Poisson-like) shot noise, $y = x + s\sqrt{x}\,\varepsilon$ ($s$ = ``std``).

    Photon counting noise has variance proportional to the intensity; its Gaussian approximation
    (Foi et al., 2008, "Practical Poissonian-Gaussian noise modeling") is used so that the noise
    field is shared across levels (severity grows exactly with ``std``) and stays differentiable.
    ``std`` = $1/\sqrt{c}$ for ImageNet-C's ``poisson(x c) / c`` with $c$ photons at full scale.

    Args:
        x: frames in [0, 1].
        std: (B,) or (B, T) noise standard deviation at intensity 1, in intensity units
            (0 = untouched). Formerly ``sigma``.
        generator: source of the noise field (fresh for every frame).
        lengths: (B,) valid frames.

    Shape:
        x: (B, T, C, H, W). Output: same.

    Returns:
        The noisy frames, clamped to [0, 1]; black pixels stay black.

    Example:
        >>> x = torch.zeros(1, 1, 1, 2, 2)
        >>> shot_noise(x, std=torch.tensor([0.5]), generator=torch.Generator()).equal(x)
        True
    """
    s = _per_frame(std, x, name="std", who="shot_noise")
    noise = rng.randn_chunked(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    xc = _like_noise(x)
    # safe_sqrt: a zero slope at black pixels; a plain sqrt's infinite one came back as an inf
    # gradient wherever clamp passes the gradient at its bound (torch before 2.14)
    noise = noise * safe_sqrt(xc.clamp(min=0.0))
    y = torch.addcmul(xc, _bcast(s), noise).clamp_(0.0, 1.0)
    return _finish(y, xc, lengths)


@renamed_args(sigma="sigma_px")
@_via_float
@accurate
def gaussian_blur(
    x: Tensor, *, sigma_px: Tensor, kernel_size: int | None = None, lengths: Tensor | None = None
) -> Tensor:
    """Blur each frame with an isotropic Gaussian of standard deviation ``sigma_px`` pixels.

    The result of ``kornia.filters.gaussian_blur2d`` with one sigma per frame (reflect borders):
    kornia's 1-D taps, applied along W and then along H as depthwise convolutions.

    Args:
        x: frames in [0, 1].
        sigma_px: (B,) or (B, T) blur standard deviation in pixels (0 = untouched). Formerly
            ``sigma``.
        kernel_size: odd kernel side shared by the batch; None = ``2 * ceil(3 * max sigma_px) + 1``.
            Capped so the kernel never exceeds the frame.
        lengths: (B,) valid frames.

    Shape:
        x: (B, T, C, H, W). Output: same.

    Returns:
        The blurred frames, in [0, 1].

    Example:
        >>> x = torch.zeros(1, 1, 1, 9, 9); x[..., 4, 4] = 1.0
        >>> y = gaussian_blur(x, sigma_px=torch.tensor([1.0]))
        >>> round(y[0, 0, 0, 4, 4].item(), 3), round(y.sum().item(), 3)
        (0.159, 1.0)
    """
    s = _per_frame(sigma_px, x, name="sigma_px", who="gaussian_blur")
    half = math.ceil(3 * float(s.max())) if kernel_size is None else int(kernel_size) // 2
    k = _kernel_size(half, x)
    import kornia.filters as KF  # lazy: see the module docstring

    # kornia needs sigma > 0; at 1e-3 the kernel is an exact delta (exp(-5e5) == 0)
    sig = s.reshape(-1, 1).clamp(min=1e-3)
    if x.device.type == "cpu" and x.shape[-2] * x.shape[-1] >= 256 * 256:
        # from 256 x 256 pixels kornia accumulates shifted slices on the CPU, faster there than
        # the convolutions below (same values)
        y = KF.gaussian_blur2d(_fold(x), (k, k), sig.expand(-1, 2), border_type="reflect")
    else:
        y = _separable_blur(_fold(x), KF.get_gaussian_kernel1d(k, sig))
    return _finish(_unit(y), x, lengths)


def _separable_blur(x: Tensor, taps: Tensor) -> Tensor:
    """Correlate each (C, H, W) image of ``x`` with its row of ``taps`` along W, then along H.

    Bit for bit ``kornia.filters.filter2d_separable`` with reflect borders, in fewer passes:
    kornia pads W, filters, then pads the filtered image along H and filters again (two padded
    copies); here the input is padded once on all four sides, and the first pass also filters
    the H-padding rows, which are reflected input rows, so they come out as the reflected rows of
    the filtered image that kornia's second padding would copy. One full copy less, and no
    kornia argument checks.

    Shape:
        x: (N, C, H, W); taps: (N, K) with K odd and K // 2 < min(H, W). Output: (N, C, H, W).

    Example:
        >>> x = torch.zeros(1, 1, 5, 5); x[..., 2, 2] = 1.0
        >>> _separable_blur(x, torch.tensor([[0.25, 0.5, 0.25]]))[0, 0, 1:4, 2]
        tensor([0.1250, 0.2500, 0.1250])
    """
    n, c, h, w = x.shape
    r = taps.shape[-1] // 2
    # one depthwise group per (image, channel); the channels of an image share its taps
    weight = taps.to(x.dtype).repeat_interleave(c, dim=0)[:, None, None, :]  # (N*C, 1, 1, K)
    y = torch.nn.functional.pad(x.reshape(1, n * c, h, w), (r, r, r, r), mode="reflect")
    y = torch.nn.functional.conv2d(y, weight, groups=n * c)  # along W: (1, N*C, H + 2r, W)
    y = torch.nn.functional.conv2d(y, weight.transpose(-1, -2), groups=n * c)  # along H
    return y.reshape(n, c, h, w)


def _line_kernel(length: Tensor, angle_deg: Tensor, size: int, x: Tensor) -> Tensor:
    """Return anti-aliased line kernels (N, size, size): ``length`` pixels at ``angle_deg``."""
    dy, dx = _grid(size, x)
    theta = torch.deg2rad(angle_deg.reshape(-1, 1, 1))
    # image rows grow downwards, so an anticlockwise angle has direction (cos t, -sin t)
    along = dx * torch.cos(theta) - dy * torch.sin(theta)
    across = dx * torch.sin(theta) + dy * torch.cos(theta)
    half = length.reshape(-1, 1, 1) / 2
    w = (1 - across.abs()).clamp(min=0) * (half - along.abs() + 0.5).clamp(0, 1)
    return w / w.sum(dim=(1, 2), keepdim=True)


@_via_float
@accurate
def motion_blur(
    x: Tensor,
    *,
    length: Tensor,
    angle_deg: Tensor,
    kernel_size: int | None = None,
    lengths: Tensor | None = None,
) -> Tensor:
    """Smear each frame along a line of ``length`` pixels at ``angle_deg`` (camera / head motion).

    The line kernel is anti-aliased and built per frame, so length and angle vary per example
    (``kornia.filters.get_motion_kernel2d`` takes one kernel size for the batch and its nearest
    rotation changes the number of taps with the angle); the filtering is
    ``kornia.filters.filter2d`` with one kernel per frame.

    Args:
        x: frames in [0, 1].
        length: (B,) or (B, T) streak length in pixels (0 = untouched).
        angle_deg: (B,) or (B, T) streak direction in degrees, anticlockwise from the x axis.
        kernel_size: odd kernel side shared by the batch; None = from the longest streak.
        lengths: (B,) valid frames.

    Shape:
        x: (B, T, C, H, W). Output: same.

    Returns:
        The blurred frames, in [0, 1].

    Example:
        >>> x = torch.zeros(1, 1, 1, 5, 5); x[..., 2, 2] = 1.0
        >>> y = motion_blur(x, length=torch.tensor([3.0]), angle_deg=torch.tensor([0.0]))
        >>> y[0, 0, 0, 2]
        tensor([0.0000, 0.3333, 0.3333, 0.3333, 0.0000])
    """
    n = _per_frame(length, x, name="length", who="motion_blur")
    a = _per_frame(angle_deg, x, name="angle_deg", who="motion_blur")
    half = math.ceil(float(n.max()) / 2) if kernel_size is None else int(kernel_size) // 2
    k = _kernel_size(half, x)
    line = _line_kernel(n.reshape(-1), a.reshape(-1), k, x)
    # length 0 is an exact identity (a delta kernel); the anti-aliased line is not quite one
    delta = torch.zeros_like(line[:1])
    delta[0, k // 2, k // 2] = 1.0
    kernel = torch.where(n.reshape(-1, 1, 1) > 0, line, delta)
    import kornia.filters as KF  # lazy: see the module docstring

    y = KF.filter2d(_fold(x), kernel, border_type="reflect")
    return _finish(_unit(y), x, lengths)


@_via_float
@accurate
def defocus_blur(
    x: Tensor, *, radius: Tensor, kernel_size: int | None = None, lengths: Tensor | None = None
) -> Tensor:
    """Blur each frame with a disk of ``radius`` pixels (an out-of-focus lens, ImageNet-C defocus).

    The disk is anti-aliased (a pixel's weight ramps from 1 to 0 across the rim), built per frame
    and applied with ``kornia.filters.filter2d`` (kornia has no disk kernel).

    Args:
        x: frames in [0, 1].
        radius: (B,) or (B, T) disk radius in pixels (0 = untouched).
        kernel_size: odd kernel side shared by the batch; None = from the largest radius.
        lengths: (B,) valid frames.

    Shape:
        x: (B, T, C, H, W). Output: same.

    Returns:
        The blurred frames, in [0, 1].

    Example:
        >>> x = torch.zeros(1, 1, 1, 5, 5); x[..., 2, 2] = 1.0
        >>> y = defocus_blur(x, radius=torch.tensor([1.0]))
        >>> round(y.sum().item(), 4), bool(y[0, 0, 0, 2, 2] < 1)
        (1.0, True)
    """
    r = _per_frame(radius, x, name="radius", who="defocus_blur")
    half = math.ceil(float(r.max()) + 0.5) if kernel_size is None else int(kernel_size) // 2
    k = _kernel_size(half, x)
    dy, dx = _grid(k, x)
    dist = (dy.square() + dx.square()).sqrt()
    w = (r.reshape(-1, 1, 1) - dist + 0.5).clamp(0, 1)
    kernel = w / w.sum(dim=(1, 2), keepdim=True)
    import kornia.filters as KF  # lazy: see the module docstring

    y = KF.filter2d(_fold(x), kernel, border_type="reflect")
    return _finish(_unit(y), x, lengths)


#: ATen's grain (``at::internal::GRAIN_SIZE``): an elementwise op on fewer elements runs on the
#: calling thread, without waking the intra-op thread pool
_GRAIN = 32768


def _copy_on_this_thread(x: Tensor) -> Tensor:
    """``x.clone()`` (same values and layout) copied by numpy on the calling thread, where numpy
    has the dtype (not bfloat16): the copy is memory-bound, and waking the intra-op thread pool
    for it waits for a free core on a busy machine (milliseconds, ``benchmarks/``)."""
    y = torch.empty_like(x)
    if x.dtype == torch.bfloat16:
        return y.copy_(x)
    np.copyto(y.numpy(), x.numpy())
    return y


@renamed_args(area_ratio="fraction")
def occlusion(
    x: Tensor,
    *,
    fraction: Tensor,
    aspect: Tensor,
    center_y: Tensor,
    center_x: Tensor,
    fill: float = 0.0,
    lengths: Tensor | None = None,
) -> Tensor:
    """Fill one box per frame with ``fill`` (an occluder: hand, glasses, microphone, a face part).

    The box covers ``fraction`` of the frame's area with height / width ratio ``aspect``:
    ``h = round(sqrt(a H W r))``, ``w = round(sqrt(a H W / r))`` (each side capped by the frame), so
    the covered area matches the fraction up to rounding. Its position is given as fractions of the
    room left: ``top = floor(center_y * (H - h + 1))``, so the box always lies inside the frame.

    Args:
        x: frames in [0, 1], or uint8 frames (filled with ``255 * fill`` rounded, clamped to
            [0, 255]: the float path's result, in place of a round trip).
        fraction: (B,) or (B, T) share of the frame's area covered, in [0, 1] (a fraction of
            H x W pixels). Formerly ``area_ratio``.
        aspect: (B,) or (B, T) box height / width, > 0.
        center_y: (B,) or (B, T) vertical position as a fraction in [0, 1).
        center_x: (B,) or (B, T) horizontal position as a fraction in [0, 1).
        fill: value written into the box.
        lengths: (B,) valid frames.

    Shape:
        x: (B, T, C, H, W). Output: same.

    Returns:
        The occluded frames.

    Example:
        >>> y = occlusion(torch.ones(1, 1, 1, 4, 4), fraction=torch.tensor([0.25]),
        ...               aspect=torch.tensor([1.0]), center_y=torch.tensor([0.0]),
        ...               center_x=torch.tensor([0.99]))
        >>> y[0, 0, 0]
        tensor([[1., 1., 0., 0.],
                [1., 1., 0., 0.],
                [1., 1., 1., 1.],
                [1., 1., 1., 1.]])
    """
    h, w = x.shape[-2], x.shape[-1]
    a = _per_frame(fraction, x, name="fraction", who="occlusion").clamp(0, 1)
    r = _per_frame(aspect, x, name="aspect", who="occlusion")
    bh = torch.round(torch.sqrt(a * h * w * r)).clamp(0, h)
    bw = torch.round(torch.sqrt(a * h * w / r)).clamp(0, w)
    top = torch.floor(_per_frame(center_y, x, name="center_y", who="occlusion") * (h - bh + 1))
    left = torch.floor(_per_frame(center_x, x, name="center_x", who="occlusion") * (w - bw + 1))
    top, left = torch.minimum(top.clamp(min=0), h - bh), torch.minimum(left.clamp(min=0), w - bw)
    if x.dtype == torch.uint8:  # natively: the fill on the [0, 1] scale, rounded as the float
        # path's output is (halves up; Python's round() would round 76.5 to even, 76)
        clamped = torch.tensor(min(max(fill, 0.0), 1.0), dtype=torch.float32)
        fill = float(_to_uint8(clamped))
    if reads_on_host(x.device) and not x.requires_grad:
        # a copy, then the boxes written as slices, one fill for a run of frames that share a
        # box: 3-6x faster on the CPU than a masked pass over every pixel (benchmarks/). A run
        # holds at most _GRAIN elements, so that its fill runs on this thread: a larger one
        # would wake the intra-op pool, which waits for a free core on a busy machine
        y = _copy_on_this_thread(x)
        boxes = torch.stack((top, left, bh, bw), dim=-1).to(torch.int64).tolist()  # (B, T, 4)
        for yb, row in zip(y.unbind(0), boxes, strict=True):
            t0 = 0
            while t0 < len(row):
                r, c, nr, nc = row[t0]
                # the next frames with the same box, as many as this thread fills alone
                most = max(1, _GRAIN // max(1, x.shape[2] * nr * nc))
                t1 = t0 + 1
                while t1 < len(row) and t1 - t0 < most and row[t1] == row[t0]:
                    t1 += 1
                if nr and nc:
                    yb.narrow(0, t0, t1 - t0).narrow(-2, r, nr).narrow(-1, c, nc).fill_(fill)
                t0 = t1
        return keep_padding(y, x, lengths, 1)
    rows = torch.arange(h, device=x.device, dtype=a.dtype)[:, None]
    cols = torch.arange(w, device=x.device, dtype=a.dtype)[None, :]
    t_, l_, bh_, bw_ = (v[..., None, None, None] for v in (top, left, bh, bw))
    in_rows = (rows >= t_) & (rows < t_ + bh_)  # (B, T, 1, H, 1)
    in_cols = (cols >= l_) & (cols < l_ + bw_)  # (B, T, 1, 1, W)
    inside = in_rows & in_cols
    return keep_padding(fill_where(x, inside, fill), x, lengths, 1)


@_via_float
@accurate
def jpeg(x: Tensor, *, quality: Tensor, lengths: Tensor | None = None) -> Tensor:
    """JPEG-encode and decode each frame at ``quality`` (kornia's differentiable JPEG codec).

    ``kornia.enhance.jpeg_codec_differentiable`` (Reich et al., 2024) with the standard tables and
    4:2:0 chroma subsampling; it pads to whole 16 x 16 macroblocks internally. Single-channel
    frames are coded as grey RGB and averaged back. Quality 100 is close to, not exactly, lossless.

    Args:
        x: frames in [0, 1] with C = 1 or 3.
        quality: (B,) or (B, T) JPEG quality in [1, 100] (lower is stronger).
        lengths: (B,) valid frames.

    Shape:
        x: (B, T, C, H, W). Output: same.

    Returns:
        The decoded frames, clamped to [0, 1].

    Raises:
        ValueError: C is not 1 or 3.

    Example:
        >>> x = torch.linspace(0, 1, 16 * 16).reshape(1, 1, 1, 16, 16)
        >>> y = jpeg(x, quality=torch.tensor([10.0]))
        >>> y.shape, bool(((y >= 0) & (y <= 1)).all()), bool((y - x).abs().max() > 0)
        (torch.Size([1, 1, 1, 16, 16]), True, True)
    """
    q = _per_frame(quality, x, name="quality", who="jpeg").clamp(1.0, 100.0)
    c = x.shape[2]
    if c not in (1, 3):
        raise ValueError(
            f"jpeg: expected RGB or grey frames (C = 3 or 1), got shape "
            f"{tuple(x.shape)}; JPEG codes colour images only."
        )
    xf = _fold(x)
    if c == 1:
        xf = xf.expand(-1, 3, -1, -1)
    y = _jpeg_codec(xf, q.reshape(-1))
    if c == 1:
        y = y.mean(dim=1, keepdim=True)
    # the codec's output is fresh: clamped in place unless it is a crop of its padded frames
    return _finish(_unit(y), x, lengths)


def _jpeg_codec(x: Tensor, quality: Tensor) -> Tensor:
    """``kornia.enhance.jpeg_codec_differentiable(x, quality)`` without its host read off the CPU.

    kornia checks the quality range with ``.item()`` (a sync on CUDA) outside ``torch.compile``;
    the quality here is already clamped to [1, 100]. Where a read is not free
    (:func:`mmnoise.sample.reads_on_host` is False) the codec's own steps run without that check,
    through kornia's private ``_jpeg_encode`` / ``_jpeg_decode`` (the same values: tested against
    the public function); a kornia without them gets the public function, read included.
    """
    import kornia.enhance as KE  # lazy: see the module docstring
    import kornia.enhance.jpeg as KJ

    steps: list[Any] = [getattr(KJ, n, None) for n in _KORNIA_JPEG_STEPS]
    if reads_on_host(x.device) or any(f is None for f in steps):
        return KE.jpeg_codec_differentiable(x, quality)
    encode, decode, tables, clip = steps
    h, w = x.shape[-2:]
    # JPEG pads the bottom and right edges to whole 16 x 16 macroblocks (kornia's _perform_padding)
    xp = torch.nn.functional.pad(x, (0, -w % 16, 0, -h % 16), mode="replicate")
    table_y, table_c = tables(x.device, x.dtype)
    q = quality.to(x.dtype)
    coded = encode(xp, q, table_y[None], table_c[None])
    y: Tensor = decode(*coded, q, xp.shape[-2], xp.shape[-1], table_y[None], table_c[None])
    # kornia's soft clip (identity inside the range; differentiable at its edges)
    y = clip(y, min_val=0.0, max_val=255.0)
    return y[..., :h, :w]


#: kornia's private JPEG steps behind ``jpeg_codec_differentiable`` (kornia 0.7 - 0.9)
_KORNIA_JPEG_STEPS = (
    "_jpeg_encode",
    "_jpeg_decode",
    "_default_quantization_tables",
    "_differentiable_clipping",
)


def brightness(x: Tensor, *, delta: Tensor, lengths: Tensor | None = None) -> Tensor:
    """Shift intensities by ``delta`` and clamp to [0, 1] (over- / under-exposure).

    Args:
        x: frames in [0, 1].
        delta: (B,) or (B, T) additive shift in intensity units (negative darkens; 0 = untouched).
        lengths: (B,) valid frames.

    Shape:
        x: (B, T, C, H, W). Output: same.

    Returns:
        The frames plus ``delta``, clamped (``kornia.enhance.adjust_brightness`` semantics).

    Example:
        >>> brightness(torch.full((1, 1, 1, 1, 2), 0.5), delta=torch.tensor([0.7])).flatten()
        tensor([1., 1.])
    """
    d = _per_frame(delta, x, name="delta", who="brightness")
    if x.dtype == torch.uint8:
        # one shift per clip is rounded once and stays (B, 1): a clip is then one block for
        # OpenCV, found without comparing its frames' shifts
        s = torch.round((d[:, :1] if d.stride(1) == 0 else d) * 255.0).clamp_(-255.0, 255.0)
        y = _brightness_uint8_host(x, s) if reads_on_host(x.device) else _brightness_uint8(x, s)
        return _finish(y, x, lengths)
    # one add into a fresh tensor and an in-place clamp: kornia's adjust_brightness takes an
    # extra full pass for the same result (benchmarks/)
    y = torch.add(x, _bcast(d)).clamp_(0.0, 1.0)
    return _finish(y, x, lengths)


def _brightness_uint8(x: Tensor, s: Tensor) -> Tensor:
    """uint8 frames plus the integer shift ``s`` (B, T) or (B, 1), saturated, in two uint8 passes.

    Clamping first to [max(-s, 0), 255 - max(s, 0)] leaves room for the shift, which is then
    added modulo 256 (as uint8: ``s mod 256``) without wrapping. ``s = round(255 d)``: the float
    path rounds ``255 (x / 255 + d)`` instead; the two agree but at exact half-steps (within 1).
    """
    lo, hi, shift = _shift_bounds(s)
    return torch.clamp(x, lo, hi).add_(shift)


def _shift_bounds(s: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The uint8 bounds [max(-s, 0), 255 - max(s, 0)] and the shift ``s mod 256`` of the integer
    shifts ``s`` (B, T) or (B, 1), each broadcast over the frames' (T, C, H, W)."""
    lo, hi = s.neg().clamp(min=0.0), 255.0 - s.clamp(min=0.0)
    b = _bcast(torch.stack((lo, hi, s.remainder(256.0))).to(torch.uint8))  # (3, B, T, 1, 1, 1)
    return b[0], b[1], b[2]


def _brightness_uint8_host(x: Tensor, s: Tensor) -> Tensor:
    """:func:`_brightness_uint8` on the CPU (eager): OpenCV's saturating add where installed,
    else uint8 bounds as ``maximum`` / ``minimum``; the same values either way.

    ``cv2.add(frames, s)`` (``cv2.subtract(frames, -s)`` for ``s < 0``) is ``x + s`` saturated
    to [0, 255], exact for an integer ``s``, in one vectorised pass on the calling thread, a clip
    (or a frame, where a clip's shift varies) at a time over its memory block. Without OpenCV,
    or for frames that are not dense blocks (strided or expanded views), three whole-tensor
    passes: ``clamp`` with broadcast tensor bounds takes a scalar loop on the CPU (about 20x
    slower at one thread, ``benchmarks/``), ``maximum`` / ``minimum`` with the same bounds and
    the in-place shift do not.
    """
    cv2 = _opencv()
    if cv2 is not None:
        y = torch.empty_like(x)  # the same strides as a dense x
        blocks = _shift_blocks(x, y, s.to(torch.int64).tolist())
        # a negative shift as a saturating subtract of its size: the same values, but OpenCV
        # adds a negative scalar to uint8 about 4x slower (benchmarks/README.md, "Pitfalls")
        if blocks is not None and all(
            (cv2.add(a, v, dst=b) if v >= 0 else cv2.subtract(a, -v, dst=b)) is b
            for a, b, v in blocks
        ):
            return y  # (the check: OpenCV wrote into y, not into an array of its own)
    lo, hi, shift = _shift_bounds(s)
    y = torch.maximum(x, lo)
    return torch.minimum(y, hi, out=y).add_(shift)


def _shift_blocks(x: Tensor, y: Tensor, shifts: list[list[int]]) -> list[tuple[Any, Any, int]] | None:
    """(source, destination, shift) numpy views of the memory of each clip of ``x`` / ``y``, or
    of each frame where a clip's shift varies; None unless every block is dense in both.
    ``shifts`` holds a row per clip: one shift per frame, or one for the whole clip."""
    n = x.numel() // max(x.shape[0], 1)
    uniform = [all(v == row[0] for v in row) for row in shifts]  # one shift per clip
    if n >= 64 and all(uniform) and (x.shape[0] == 1 or x.stride(0) == y.stride(0) == n):
        # the usual layouts (contiguous, or a view of THWC memory) keep the batch outermost:
        # clip i is the i-th slice of one dense block, found once instead of once per clip
        whole = _block(x, y)
        if whole is not None:
            src, dst = whole
            return [(src[:, i * n : (i + 1) * n], dst[:, i * n : (i + 1) * n], row[0])
                    for i, row in enumerate(shifts)]  # fmt: skip
    out = []
    for xb, yb, row, same in zip(x.unbind(0), y.unbind(0), shifts, uniform, strict=True):
        clip = _block(xb, yb) if same else None
        if clip is not None:
            out.append((*clip, row[0]))
            continue
        frames = row if len(row) > 1 else row * xb.shape[0]  # a (B, 1) shift holds per clip
        for xt, yt, v in zip(xb.unbind(0), yb.unbind(0), frames, strict=True):
            frame = _block(xt, yt)
            if frame is None:
                return None
            out.append((*frame, v))
    return out


def _block(x: Tensor, y: Tensor) -> tuple[Any, Any] | None:
    """The memory of ``x`` and ``y`` as 1-D numpy arrays, element for element, or None."""
    src, dst = _memory(x), _memory(y)
    # OpenCV reads an array of up to 4 values as a scalar: small blocks stay in torch
    if src is None or dst is None or _steps(x) != _steps(y) or src.size < 64:
        return None
    return src, dst


def _steps(t: Tensor) -> list[int]:
    return [st for st, n in zip(t.stride(), t.shape, strict=True) if n != 1]


def _memory(t: Tensor) -> Any:
    """The memory of a dense tensor (no gaps, no overlap, any order of its axes) as a (1, N)
    numpy array in memory order, or None (one row: OpenCV runs an (N,) array as N rows of one
    element, about 2x slower)."""
    need = 1
    for st, n in sorted((st, n) for st, n in zip(t.stride(), t.shape, strict=True) if n != 1):
        if st != need:
            return None
        need *= n
    return torch.as_strided(t, (1, t.numel()), (t.numel(), 1)).numpy()


@_via_float
@accurate
def contrast(x: Tensor, *, factor: Tensor, lengths: Tensor | None = None) -> Tensor:
    """Scale each frame's deviations from its mean grey level by ``factor`` (washed-out video).

    Args:
        x: frames in [0, 1].
        factor: (B,) or (B, T) contrast factor >= 0 (1 = untouched, 0 = flat grey).
        lengths: (B,) valid frames.

    Shape:
        x: (B, T, C, H, W). Output: same.

    Returns:
        ``kornia.enhance.adjust_contrast_with_mean_subtraction`` of the frames, in [0, 1].

    Example:
        >>> x = torch.tensor([0.0, 1.0]).reshape(1, 1, 1, 1, 2)
        >>> contrast(x, factor=torch.tensor([0.5])).flatten()
        tensor([0.2500, 0.7500])
    """
    f = _per_frame(factor, x, name="factor", who="contrast")
    import kornia.enhance as KE  # lazy: see the module docstring

    y = KE.adjust_contrast_with_mean_subtraction(_fold(x), f.reshape(-1))
    return _finish(_unit(y), x, lengths)


@renamed_args(sigma="std")
@_via_float
def low_light(
    x: Tensor,
    *,
    gamma: Tensor,
    gain: Tensor,
    std: Tensor,
    generator: Randomness = None,
    lengths: Tensor | None = None,
) -> Tensor:
    r"""Simulate a dim scene: $d = g\,x^{\gamma}$, then shot noise $d + s\sqrt{d}\,\varepsilon$ ($s$ = ``std``).

    The usual low-light synthesis (e.g. Lv et al., IJCV 2021): a gamma curve and a linear gain
    darken the frame (the values of ``kornia.enhance.adjust_gamma``), then signal-dependent
    noise is added, as in :func:`shot_noise`; the result is clamped to [0, 1].

    Args:
        x: frames in [0, 1].
        gamma: (B,) or (B, T) gamma exponent (> 1 darkens mid-tones; 1 = untouched).
        gain: (B,) or (B, T) linear gain in [0, 1] (1 = untouched).
        std: (B,) or (B, T) shot-noise standard deviation at intensity 1, in intensity units
            (0 = no noise). Formerly ``sigma``.
        generator: source of the noise field.
        lengths: (B,) valid frames.

    Shape:
        x: (B, T, C, H, W). Output: same.

    Returns:
        The darkened, noisy frames.

    Example:
        >>> x = torch.full((1, 1, 1, 1, 2), 0.5)
        >>> low_light(x, gamma=torch.tensor([2.0]), gain=torch.tensor([0.5]),
        ...           std=torch.tensor([0.0])).flatten()
        tensor([0.1250, 0.1250])
    """
    gm = _per_frame(gamma, x, name="gamma", who="low_light")
    gn = _per_frame(gain, x, name="gain", who="low_light")
    s = _per_frame(std, x, name="std", who="low_light")
    # kornia's adjust_gamma values, written out: from kornia 0.9.2 it checks gamma and gain with
    # a host read on the CPU, which the device path must not do.
    xc, g = _like_noise(x).clamp(min=0.0), _bcast(gm)
    if xc.requires_grad:
        # x ** gamma with 0 < gamma < 1 has an infinite slope at 0: black pixels take the power
        # of a safe base and get a zero gradient, as in kornia's adjust_gamma. Same values; the
        # mask costs passes, so only where autograd can ask for a derivative.
        black = (xc == 0) & (g > 0) & (g < 1)
        power = torch.where(black, 0.0, torch.where(black, 1.0, xc).pow(g))
        dark = (_bcast(gn) * power).clamp(0.0, 1.0)
    else:
        dark = (_bcast(gn) * xc.pow(g)).clamp_(0.0, 1.0)
    noise = rng.randn_chunked(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    # safe_sqrt: a zero gradient where a tiny pixel's power underflows to 0 (inf * 0 = nan)
    y = torch.addcmul(dark, _bcast(s), noise * safe_sqrt(dark)).clamp_(0.0, 1.0)
    return _finish(y, x, lengths)


def _resize_matrix(size: int, scale: Tensor) -> Tensor:
    """Return (N, size, size) matrices: area-downsample to ``round(size * scale)``, bilinear back.

    Resizing is linear, so a per-frame down-up resize is one matrix per axis; this gives every
    frame its own target size in one batched product (``F.interpolate`` takes one size per call).
    Downsampling averages the source pixels each low-resolution cell covers, weighted by their
    fractional overlap (a box filter, anti-aliased; equal to ``F.interpolate(mode="area")`` for
    integer factors); upsampling is bilinear with ``align_corners=False`` (PyTorch's convention).
    """
    dtype, device = scale.dtype, scale.device
    n = torch.round(scale * size).clamp(1, size)[:, None, None]  # (N, 1, 1) low-res size
    k = torch.arange(size, device=device, dtype=dtype)
    # D[k, j]: overlap of source pixel [j, j + 1) with low-res cell [k, k + 1) * size / n
    lo, hi = k[None, :, None] * size / n, (k[None, :, None] + 1) * size / n
    overlap = torch.minimum(k[None, None, :] + 1, hi) - torch.maximum(k[None, None, :], lo)
    down = overlap.clamp(min=0) * n / size * (k[None, :, None] < n)
    # U[i, k]: bilinear weights of output pixel i on low-res samples, clamped at the borders
    u = ((k[None, :, None] + 0.5) * n / size - 0.5).clamp(min=0)
    u = torch.minimum(u, n - 1)
    k0 = torch.floor(u)
    frac = u - k0
    k1 = torch.minimum(k0 + 1, n - 1)
    up = (k[None, None, :] == k0) * (1 - frac) + (k[None, None, :] == k1) * frac
    return up @ down


@_via_float
@accurate
def resolution_drop(x: Tensor, *, scale: Tensor, lengths: Tensor | None = None) -> Tensor:
    """Downsample each frame to ``scale`` of its size and back (low-resolution / zoomed video).

    Box-filter (area) downsampling to ``round(scale * H) x round(scale * W)``, then bilinear
    upsampling (``align_corners=False``) back to ``H x W``; for integer factors this equals two
    ``F.interpolate`` calls (``mode="area"`` then ``mode="bilinear"``), but each frame has its own
    scale, in one batched product (see ``_resize_matrix``).

    Args:
        x: frames in [0, 1].
        scale: (B,) or (B, T) linear resolution factor in (0, 1] (1 = untouched).
        lengths: (B,) valid frames.

    Shape:
        x: (B, T, C, H, W). Output: same.

    Returns:
        The blurred-by-resampling frames, in [0, 1].

    Example:
        >>> x = torch.tensor([0.0, 1.0, 0.0, 1.0]).reshape(1, 1, 1, 1, 4)
        >>> resolution_drop(x, scale=torch.tensor([0.5])).flatten()
        tensor([0.5000, 0.5000, 0.5000, 0.5000])
    """
    s = _per_frame(scale, x, name="scale", who="resolution_drop")
    xf = _fold(x)
    mh = _resize_matrix(x.shape[-2], s.reshape(-1))
    mw = _resize_matrix(x.shape[-1], s.reshape(-1))
    y = torch.einsum("nij,ncjk,nlk->ncil", mh, xf, mw)
    return _finish(_unit(y), x, lengths)


# OpenCV's pyramid taps along each axis: [1, 4, 6, 4, 1] (sum 16; cv2.pyrDown / cv2.pyrUp)
_PYR_TAPS = (1.0, 4.0, 6.0, 4.0, 1.0)


def _reflect101(n: int, pad: int) -> list[int]:
    """Indices of ``range(-pad, n + pad)`` under OpenCV's BORDER_REFLECT_101 (``dcb|abcd|cba``).

    ``F.pad(mode="reflect")`` is the same border but needs ``pad < n``; this reflects as often as
    needed (OpenCV's ``borderInterpolate``), so 1- and 2-pixel sides work too.
    """
    if n == 1:
        return [0] * (1 + 2 * pad)
    period = 2 * (n - 1)
    return [q if q < n else period - q for q in (p % period for p in range(-pad, n + pad))]


def _pyr_down_matrix(n: int, x: Tensor) -> Tensor:
    """(m, n) matrix of one axis of ``cv2.pyrDown``, m = (n + 1) // 2: output i takes taps
    [1, 4, 6, 4, 1] (unnormalised) around input 2 i, reflect-101 at the borders."""
    pad = _reflect101(n, 2)  # source of padded position p + 2
    m = (n + 1) // 2
    rows = [i for i in range(m) for _ in _PYR_TAPS]
    cols = [pad[2 * i + k] for i in range(m) for k in range(len(_PYR_TAPS))]
    return _sparse_matrix((m, n), rows, cols, list(_PYR_TAPS) * m, x)


def _pyr_up_matrix(n: int, size: int, x: Tensor) -> Tensor:
    """(size, n) matrix of one axis of ``cv2.pyrUp`` cropped to ``size`` (``dstsize``): output
    2 i is ``s[i-1] + 6 s[i] + s[i+1]``, output 2 i + 1 is ``4 s[i] + 4 s[i+1]`` (sums 8,
    unnormalised), the border reflect-101 in the upsampled grid (``s[-1] = s[1]``,
    ``s[n] = s[n-1]``): OpenCV's taps times 4 on a grid with zeros inserted after every pixel."""
    up = _reflect101(2 * n, 2)  # upsampled-grid sources of -2 .. 2n + 1
    ext = [up[0] // 2, *range(n), up[2 * n + 2] // 2]  # source of s[j - 1]
    taps = [
        (2 * i + odd, ext[i + j], w)
        for i in range(n)
        for odd, j, w in ((0, 0, 1.0), (0, 1, 6.0), (0, 2, 1.0), (1, 1, 4.0), (1, 2, 4.0))
        if 2 * i + odd < size
    ]
    rows, cols, vals = ([t[k] for t in taps] for k in range(3))
    return _sparse_matrix((size, n), rows, cols, vals, x)  # type: ignore[arg-type]


def _sparse_matrix(
    shape: tuple[int, int], rows: list[int], cols: list[int], vals: list[float], x: Tensor
) -> Tensor:
    """A dense ``shape`` matrix in ``x``'s dtype and device with ``vals`` summed at (rows, cols)."""
    out = torch.zeros(shape, dtype=x.dtype, device=x.device)
    index = (torch.tensor(rows, device=x.device), torch.tensor(cols, device=x.device))
    return out.index_put_(index, torch.tensor(vals, dtype=x.dtype, device=x.device), accumulate=True)


def _resample(x: Tensor, mh: Tensor, mw: Tensor) -> Tensor:
    """``mh @ x @ mw^T`` over the last two axes of (N, C, H, W): two matrix products (the
    pyramid's 5 taps as banded matrices; a one-channel 1 x 5 convolution per image is ~20x
    slower on the CPU). Sums of uint8 values times the integer taps stay exact in float32."""
    return torch.matmul(mh, torch.matmul(x, mw.T))


def _pyr_down(x: Tensor, u8: bool) -> Tensor:
    """``cv2.pyrDown``: blur, keep even rows and columns; (H, W) -> ((H + 1) // 2, (W + 1) // 2)."""
    h, w = x.shape[-2:]
    y = _resample(x, _pyr_down_matrix(h, x), _pyr_down_matrix(w, x))
    # uint8 values (held as float32 integers: the sums are exact) round as OpenCV's fixed point
    return y.add_(128.0).div_(256.0, rounding_mode="floor") if u8 else y.div_(256.0)


def _pyr_up(x: Tensor, size: tuple[int, int], u8: bool) -> Tensor:
    """``cv2.pyrUp`` to (2 H, 2 W), cropped to ``size`` (``cv2.pyrUp(dstsize=size)``)."""
    h, w = x.shape[-2:]
    y = _resample(x, _pyr_up_matrix(h, size[0], x), _pyr_up_matrix(w, size[1], x))
    return y.add_(32.0).div_(64.0, rounding_mode="floor") if u8 else y.div_(64.0)


def _pyramid(x: Tensor, r: Tensor, top: int, u8: bool) -> Tensor:
    """Frames (N, C, H, W) after ``r`` (N,) rounds of pyrDown then pyrUp, each round in 0..top."""
    out, down, sizes = x, x, [tuple(x.shape[-2:])]
    for k in range(1, top + 1):
        down = _pyr_down(down, u8)
        up = down
        for size in reversed(sizes):
            up = _pyr_up(up, size, u8)  # type: ignore[arg-type]
        sizes.append(tuple(down.shape[-2:]))
        out = torch.where(r.reshape(-1, 1, 1, 1) == k, up, out)
    return out


def pyramid_blur(
    x: Tensor, *, rounds: Tensor, max_rounds: int | None = None, lengths: Tensor | None = None
) -> Tensor:
    """Blur by pyramid down- then up-sampling: ``rounds`` x ``cv2.pyrDown``, then as many ``cv2.pyrUp``.

    The MER2023 / MER2024 noise track's video corruption (``func_blur`` of ``zeroQiaoba/MERTools``,
    ``MER2024/main-noise.py``): a blur rate of 1, 2 or 4 is ``log2(rate)`` = 0, 1 or 2 rounds, one
    rate per clip. Each round is OpenCV's: ``pyrDown`` convolves with the 5 x 5 Gaussian
    ``[1, 4, 6, 4, 1]^T [1, 4, 6, 4, 1] / 256`` and keeps the even rows and columns (size
    ``(n + 1) // 2``); ``pyrUp`` inserts zeros, convolves with 4 times that kernel, doubling the
    size; both with OpenCV's default border, reflect-101. A side that is not a multiple of
    ``2 ** rounds`` comes back at its own size: each ``pyrUp`` is OpenCV's with ``dstsize`` the size
    before the matching ``pyrDown`` (the organisers' videos kept the rounded-up size instead). kornia's
    ``pyrdown`` / ``pyrup`` are not these maps (bilinear resampling, floor sizes).

    uint8 frames are computed as OpenCV does on uint8 images, bit for bit: integer sums, each
    stage rounded (``(s + 128) >> 8`` down, ``(s + 32) >> 6`` up); float frames are not rounded
    between stages (as OpenCV on float32 images). On the CPU (eager) with OpenCV installed, uint8
    frames run through ``cv2.pyrDown`` / ``cv2.pyrUp`` themselves, frame by frame: the same bits,
    10-30x faster than the torch path's matrix products there.

    Args:
        x: frames in [0, 1] (float) or [0, 255] (uint8).
        rounds: (B,) or (B, T) number of down / up rounds, integers in [0, ``max_rounds``]
            (0 = untouched).
        max_rounds: the largest number of rounds the batch may hold; None = read from ``rounds``
            (a host read).
        lengths: (B,) valid frames.

    Shape:
        x: (B, T, C, H, W). Output: same.

    Returns:
        The blurred frames, same dtype.

    Example:
        >>> x = torch.zeros(1, 1, 1, 8, 8); x[..., ::2, :] = 1.0  # stripes
        >>> y = pyramid_blur(x, rounds=torch.tensor([1]))
        >>> round(y[0, 0, 0, 2:6, 3].std().item(), 3) < round(x[0, 0, 0, 2:6, 3].std().item(), 3)
        True
    """
    _check_frames(x, "pyramid_blur")
    u8 = x.dtype == torch.uint8
    if u8 and reads_on_host(x.device) and (cv2 := _opencv()) is not None:
        r = _per_frame(rounds, x, name="rounds", who="pyramid_blur").round().reshape(-1)
        top = int(float(r.max())) if max_rounds is None else int(max_rounds)
        return _finish(_pyramid_opencv(x, r, top, cv2), x, lengths)
    xf = x.float() if u8 or x.dtype in (torch.float16, torch.bfloat16) else x
    r = _per_frame(rounds, xf, name="rounds", who="pyramid_blur").round()
    top = int(float(r.max())) if max_rounds is None else int(max_rounds)
    y = _pyramid(_fold(xf), r.reshape(-1), top, u8)
    return _finish((y if u8 else _unit(y)).to(x.dtype), x, lengths)


@functools.cache
def _opencv() -> Any:
    """OpenCV's module when it is installed (an optional speed-up of uint8 frame ops), else None.

    Looked up once: a failed import searches the whole path again on every call (tens of
    microseconds per call of a uint8 op where OpenCV is not installed)."""
    return optional_import("cv2", without="uint8 frame ops take their torch paths")


def _pyramid_opencv(x: Tensor, r: Tensor, top: int, cv2: Any) -> Tensor:
    """uint8 :func:`pyramid_blur` with OpenCV's own ``pyrDown`` / ``pyrUp``, frame by frame
    (CPU, eager; the frames as (H, W, C) numpy views, the last stage written into the output).

    OpenCV's uint8 pyramid is the definition that the torch path reproduces bit for bit, and
    its fixed-point SIMD stages are 10-30x faster than the torch path's matrix products on the CPU
    (``benchmarks/``). The result is the torch path's, bit for bit (tested).

    Threads: the frames are spread over ``torch.get_num_threads()`` workers (the calling thread
    and the thread pool that :mod:`mmnoise.rng` fills noise fields with; OpenCV releases the
    GIL), each claiming the next frame from a shared counter, and OpenCV's own pool is set to
    the budget's share per worker (1 when there are at least as many frames as threads) for the
    duration of the call (:class:`_OpenCVThreads`). At video frame sizes, frames in parallel
    beat OpenCV's threads inside each frame (a 112 x 112 stage is tens of microseconds of work:
    ``benchmarks/``). One worker, as a DataLoader worker has, is the plain loop.
    """
    b, t, c, h, w = x.shape
    # (B T, H, W, C): no copy for a view of THWC memory (video as decoded), one copy otherwise
    src = x.reshape(b * t, c, h, w).permute(0, 2, 3, 1).contiguous().numpy()
    out = torch.empty(b * t, h, w, c, dtype=torch.uint8)
    dst = out.numpy()
    # (width, height) of each level, as OpenCV takes sizes: pyrDown halves rounding up; every
    # frame has the same, so the sizes are worked out once, not per frame
    sizes = [(w, h)]
    for _ in range(top):
        sizes.append(((sizes[-1][0] + 1) // 2, (sizes[-1][1] + 1) // 2))
    # a level twice the next is pyrUp's own size: no dstsize to pass (its parsing costs a few
    # microseconds a call, a tenth of a 112 x 112 stage)
    twice = [sizes[j] == (2 * sizes[j + 1][0], 2 * sizes[j + 1][1]) for j in range(top)]
    down, up = cv2.pyrDown, cv2.pyrUp
    ks = r.to(torch.int64).tolist()

    def frame(i: int) -> None:
        k, f = ks[i], src[i]
        if not 1 <= k <= top:
            dst[i] = f
            return
        for _ in range(k):
            f = down(f)
        for j in range(k - 1, 0, -1):
            f = up(f) if twice[j] else up(f, dstsize=sizes[j])
        if twice[0]:
            up(f, dst=dst[i])
        else:
            up(f, dst=dst[i], dstsize=sizes[0])

    workers = max(1, min(torch.get_num_threads(), len(ks)))
    with _opencv_threads(cv2, torch.get_num_threads() // workers):
        if workers == 1:
            for i in range(len(ks)):
                frame(i)
        else:
            _claimed(frame, len(ks), workers)
    return out.permute(0, 3, 1, 2).reshape(x.shape)  # a (B, T, C, H, W) view of THWC memory


def _claimed(job: Callable[[int], None], count: int, workers: int) -> None:
    """Run ``job(i)`` for i in [0, ``count``) on ``workers`` threads (the caller's and the pool's).

    Each thread claims the next index from a shared counter, so that a thread descheduled on a
    shared machine holds back no fixed run of jobs; which thread runs a job never changes its
    result. The first error of any thread is raised once every thread has stopped.
    """
    lock = threading.Lock()
    pending = iter(range(count))

    def work() -> None:
        while True:
            with lock:
                i = next(pending, count)
            if i == count:
                return
            try:
                job(i)
            except BaseException:
                with lock:  # the other threads stop at their next claim
                    for _ in pending:
                        pass
                raise

    futures = [rng._get_pool(workers - 1).submit(work) for _ in range(workers - 1)]
    try:
        work()
    finally:
        done = [f.exception() for f in futures]  # waits for every thread, even after an error
    for e in done:
        if e is not None:
            raise e


class _OpenCVThreads:
    """OpenCV's own thread count, lowered while any pyramid call of this process runs.

    ``cv2.setNumThreads`` is process-global: the first call in lowers it to the count asked for
    (only lowers: a count already at or below it, as ``cv2.setNumThreads(0)`` in DataLoader
    workers, is left alone and nothing is set) and keeps the count it found; the last call out
    restores that count (calls in flight are counted under a lock, so that threads calling at
    once restore the user's setting, not each other's). It changes how fast OpenCV runs, never a
    value. After a change OpenCV restarts its pool on its next multi-threaded call (0.5-1.5 ms
    on a 2-vCPU machine). A forked child (a DataLoader worker) starts with a fresh lock and no calls in flight.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.inside = 0
        self.saved: int | None = None  # the count found, where it was lowered

    @contextlib.contextmanager
    def __call__(self, cv2: Any, n: int) -> Iterator[None]:
        with self.lock:
            if self.inside == 0:
                found = cv2.getNumThreads()
                self.saved = found if found > max(1, n) else None
                if self.saved is not None:
                    cv2.setNumThreads(max(1, n))
            self.inside += 1
        try:
            yield
        finally:
            with self.lock:
                self.inside -= 1
                if self.inside == 0 and self.saved is not None:
                    cv2.setNumThreads(self.saved)


_opencv_threads = _OpenCVThreads()


def _fresh_opencv_threads() -> None:
    global _opencv_threads
    _opencv_threads = _OpenCVThreads()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_opencv_threads)


#: renamed kernels (old name: new function); the old names warn, for one release
_RENAMED = {"occlude": occlusion, "jpeg_compress": jpeg}
__getattr__ = module_aliases(__name__, _RENAMED)
