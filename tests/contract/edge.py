"""Hypothesis strategies for the inputs users actually feed: every dtype, odd memory layouts,
constant / silent / huge / subnormal values, length-1 and full-length sequences.

Kept beside the contract table so that the edge cases run over every transform in it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from hypothesis import strategies as st

from mmnoise.sample import Kind, time_dim

FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
LAYOUTS = ("contiguous", "strided", "transposed")
VALUES = ("random", "constant", "zeros", "huge", "subnormal")


@dataclass(frozen=True)
class Edge:
    """A drawn edge-case batch and how it was made (for the failure report)."""

    x: torch.Tensor
    lengths: torch.Tensor | None
    kind: Kind
    values: str
    layout: str


def _values(
    kind: Kind, shape: tuple[int, ...], dtype: torch.dtype, values: str, seed: int
) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if kind == "tokens":
        return torch.randint(4, 50, shape, generator=g)
    base = torch.rand(shape, generator=g) if kind == "frames" else torch.randn(shape, generator=g)
    if values == "constant":
        base = torch.full(shape, 0.5)
    elif values == "zeros":
        base = torch.zeros(shape)
    if values in ("random", "constant", "zeros"):
        return base.to(dtype)
    info = torch.finfo(dtype)
    # frames live in [0, 1]: only the tiny end of the range applies to them
    if values == "huge":
        big = torch.full(shape, info.max / 4, dtype=torch.float64)
        return (big * torch.where(base >= 0, 1.0, -1.0).double()).to(dtype)
    tiny = info.smallest_normal / 4  # subnormal in the dtype (not flushed on the CPU)
    return (base.double() * tiny).to(dtype)


def _layout(x: torch.Tensor, kind: Kind, layout: str) -> torch.Tensor:
    """Return the same values as ``x`` in a non-default memory layout."""
    if layout == "strided":  # every other element of a wider buffer: a non-contiguous view
        wide = torch.zeros(*x.shape[:-1], 2 * x.shape[-1], dtype=x.dtype)
        wide[..., ::2] = x
        return wide[..., ::2]
    if layout == "transposed":
        if kind == "frames":  # channels-last frames: (B, T, H, W, C) memory, (B, T, C, H, W) view
            return x.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)
        return x.transpose(-1, -2).contiguous().transpose(-1, -2)
    return x


@st.composite
def edge_batches(
    draw: st.DrawFn,
    kind: Kind,
    *,
    min_batch: int = 1,
    dtypes: tuple[torch.dtype, ...] = FLOATS,
    values: tuple[str, ...] = VALUES,
) -> Edge:
    """A small batch of ``kind`` with a drawn dtype, layout, value pattern and lengths."""
    b = draw(st.integers(min_batch, 3))
    if kind == "waveform":
        shape: tuple[int, ...] = (b, draw(st.integers(1, 2)), draw(st.sampled_from([1, 2, 16, 48])))
    elif kind == "frames":
        side = draw(st.sampled_from([1, 8, 12]))
        shape = (b, draw(st.integers(1, 3)), draw(st.sampled_from([1, 3])), side, side)
    elif kind == "tokens":
        shape = (b, draw(st.sampled_from([1, 2, 7])))
    else:
        shape = (b, draw(st.sampled_from([1, 2, 7])), draw(st.sampled_from([1, 3])))
    dtype = torch.int64 if kind == "tokens" else draw(st.sampled_from(dtypes))
    # frames live in [0, 1]: huge values are not frames
    allowed = [v for v in values if not (kind == "frames" and v == "huge")]
    pattern = "random" if kind == "tokens" else draw(st.sampled_from(allowed))
    x = _values(kind, shape, dtype, pattern, draw(st.integers(0, 2**31 - 1)))
    layout = draw(st.sampled_from(LAYOUTS))
    x = _layout(x, kind, layout)
    size = shape[time_dim(kind)]
    mode = draw(st.sampled_from(["none", "one", "full", "mixed"]))
    lengths = None
    if mode == "one":
        lengths = torch.ones(b, dtype=torch.int64)
    elif mode == "full":
        lengths = torch.full((b,), size, dtype=torch.int64)
    elif mode == "mixed":
        lengths = torch.tensor(draw(st.lists(st.integers(1, size), min_size=b, max_size=b)))
    return Edge(x, lengths, kind, pattern, layout)


@st.composite
def level_vectors(draw: st.DrawFn, batch: int) -> torch.Tensor | float:
    """A level as a user passes it: a float or 0-d tensor (0, 1e-50, 0.5, 1), or a (B,) tensor
    (mixing 0 and 1, or 0 / 0.3 / 1 in float16, float32 or float64)."""
    form = draw(st.sampled_from(["float", "0-d", "mixed", "tensor"]))
    if form == "float":
        return draw(st.sampled_from([0.0, 1e-50, 0.5, 1.0]))
    if form == "0-d":
        value = draw(st.sampled_from([0.0, 1e-50, 0.5, 1.0]))
        return torch.tensor(value, dtype=draw(st.sampled_from([torch.float32, torch.float64])))
    if form == "mixed":
        return torch.tensor([float(draw(st.booleans())) for _ in range(batch)])
    dtype = draw(st.sampled_from([torch.float16, torch.float32, torch.float64]))
    return torch.tensor(
        draw(st.lists(st.sampled_from([0.0, 0.3, 1.0]), min_size=batch, max_size=batch)),
        dtype=dtype,
    )
