"""Hypothesis strategies for the sample format: tiny shapes, a seed for the values; the devices."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from hypothesis import strategies as st

from mmnoise.sample import Kind, time_dim

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@contextmanager
def as_on_cuda() -> Iterator[None]:
    """Make every mmnoise module decide as it does on CUDA: never read a device value.

    Each module's copy of :func:`mmnoise.device.reads_on_host` answers False, so CPU data takes
    the device path (device assertions, branchless kernels, whole-batch containers).
    """
    patched = [
        (module, module.reads_on_host)
        for name, module in list(sys.modules.items())
        if name.startswith("mmnoise") and "reads_on_host" in vars(module)
    ]
    for module, _ in patched:
        module.reads_on_host = lambda device: False
    try:
        yield
    finally:
        for module, real in patched:
            module.reads_on_host = real


@dataclass(frozen=True)
class Drawn:
    """A drawn single-modality batch: the tensor, its lengths (or None) and its kind."""

    x: torch.Tensor
    lengths: torch.Tensor | None
    kind: Kind


def make_tensor(kind: Kind, shape: tuple[int, ...], seed: int, device: str = "cpu") -> torch.Tensor:
    """Values from a seeded generator (fast draws; Hypothesis shrinks shapes and seeds)."""
    g = torch.Generator().manual_seed(seed)
    if kind == "tokens":
        x = torch.randint(4, 50, shape, generator=g)
    elif kind == "frames":
        x = torch.rand(shape, generator=g)
    else:
        x = torch.randn(shape, generator=g)
    return x.to(device)


@st.composite
def shapes(draw: st.DrawFn, kind: Kind) -> tuple[int, ...]:
    b = draw(st.integers(1, 3))
    if kind == "waveform":
        return (b, draw(st.integers(1, 2)), draw(st.integers(16, 96)))
    if kind == "frames":
        side = draw(st.integers(8, 16))
        return (b, draw(st.integers(1, 4)), draw(st.sampled_from([1, 3])), side, side)
    if kind == "tokens":
        return (b, draw(st.integers(1, 10)))
    return (b, draw(st.integers(1, 10)), draw(st.integers(1, 6)))


@st.composite
def batches(draw: st.DrawFn, kind: Kind, device: str = "cpu", padded: bool | None = None) -> Drawn:
    shape = draw(shapes(kind))
    x = make_tensor(kind, shape, draw(st.integers(0, 2**31 - 1)), device)
    use_lengths = draw(st.booleans()) if padded is None else padded
    lengths = None
    if use_lengths:
        size = shape[time_dim(kind)]
        lengths = torch.tensor(
            draw(st.lists(st.integers(1, size), min_size=shape[0], max_size=shape[0])),
            device=device,
        )
    return Drawn(x, lengths, kind)


levels = st.floats(0.05, 1.0)
seeds = st.integers(0, 2**31 - 1)
