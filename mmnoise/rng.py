"""Explicit randomness: generators seeded from (seed, epoch, index) or (seed, rank, step).

mmnoise never touches the global RNG on purpose: every sampling call takes ``generator=``. The
helpers here derive independent, reproducible seeds so that noise depends only on *what* is being
corrupted (item, epoch, step, rank), never on worker scheduling.

``generator=`` is a ``torch.Generator`` (one stream for the whole batch) or a
:class:`PerExample` (one stream per example): with the latter, row ``b`` of every draw comes from
example ``b``'s generator alone, so each example's corruption is the one a batch of one would get
from that generator, whatever the batch size, order or neighbours. Every draw of the package goes
through :func:`rand`, :func:`randn` and :func:`randint` (or ``functional._fastrand`` for large
fields), which handle both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from functools import partial

import torch
from torch import Tensor

__all__ = [
    "PerExample",
    "Randomness",
    "derive_seed",
    "draw_seed",
    "generator_from_seed",
    "make_generator",
    "rand",
    "randint",
    "randn",
    "seed_from_generator",
]

_MASK_63 = (1 << 63) - 1


def derive_seed(*parts: int) -> int:
    """Hash integers into one 63-bit seed (stable across runs, platforms and Python versions).

    Args:
        *parts: e.g. ``(seed, epoch, index)`` or ``(seed, rank, step)``.

    Returns:
        A non-negative int usable with ``torch.Generator.manual_seed``.

    Example:
        >>> derive_seed(0, 1, 2) == derive_seed(0, 1, 2) != derive_seed(0, 2, 1)
        True
    """
    # blake2b rather than hash(): Python's hash of a tuple is salted per process for str and
    # not documented as stable; a cryptographic hash also decorrelates neighbouring indices.
    data = b"".join(int(p).to_bytes(16, "little", signed=True) for p in parts)
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little") & _MASK_63


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """Return a ``torch.Generator`` on ``device`` seeded with ``seed``.

    Example:
        >>> g = make_generator(3)
        >>> torch.rand(1, generator=g).item() == torch.rand(1, generator=make_generator(3)).item()
        True
    """
    g = torch.Generator(device=torch.device(device))
    g.manual_seed(int(seed) & _MASK_63)
    return g


def seed_from_generator(generator: torch.Generator | None, device: torch.device) -> int:
    """Draw one 62-bit seed from ``generator`` (or torch's default RNG when None).

    Used to give a kernel its own generator so that the kernel is a deterministic function of
    its parameters (replay) while the caller's generator advances exactly once.

    Example:
        >>> seed_from_generator(make_generator(0), torch.device("cpu")) == seed_from_generator(
        ...     make_generator(0), torch.device("cpu"))
        True
    """
    dev = generator.device if generator is not None else torch.device("cpu")
    return int(torch.randint(0, 1 << 62, (1,), generator=generator, device=dev).item())


class PerExample:
    """One generator per example: row ``b`` of every draw comes from ``generators[b]`` alone.

    Passing one as ``generator=`` makes a batched call give each example exactly what a call on
    that example alone (a batch of one) gives with its own generator: the corruption of an item
    is a function of the item and its generator, never of the batch size, the order or the other
    examples. The price is one small draw per example and per random parameter (microseconds),
    so it suits evaluation sets frozen per item (``mmnoise.merc``) and per-item reproducibility,
    not the hot loop of training. Ops whose output depends on other examples by design (babble
    drawn from the batch, an exact missing rate over the batch, a draw shared by the batch)
    raise a ``ValueError`` instead.

    Args:
        generators: one ``torch.Generator`` per example, all on one device.

    Example:
        >>> from mmnoise.transforms import AddGaussianSNR
        >>> t, x = AddGaussianSNR("a"), torch.randn(3, 4, 2)
        >>> batched = t({"a": x}, generator=PerExample.from_seeds([7, 8, 9]))["a"]
        >>> alone = t({"a": x[1:2]}, generator=make_generator(8))["a"]
        >>> torch.equal(batched[1:2], alone)
        True
    """

    def __init__(self, generators: Iterable[torch.Generator]) -> None:
        gens = tuple(generators)
        if not gens or not all(isinstance(g, torch.Generator) for g in gens):
            raise TypeError(
                "PerExample: expected a non-empty sequence of torch.Generator (one per example); "
                "build one from integer seeds with PerExample.from_seeds(seeds)."
            )
        devices = {g.device for g in gens}
        if len(devices) > 1:
            raise ValueError(
                f"PerExample: expected every generator on one device, got {sorted(map(str, devices))}."
            )
        self.generators = gens

    @classmethod
    def from_seeds(
        cls, seeds: Sequence[int] | Tensor, device: torch.device | str = "cpu"
    ) -> PerExample:
        """Return one generator per seed (e.g. ``derive_seed(seed, item_index)`` per example)."""
        values = seeds.tolist() if isinstance(seeds, Tensor) else list(seeds)
        return cls(make_generator(int(v), device) for v in values)

    @property
    def device(self) -> torch.device:
        """The device of the generators (the data's device)."""
        return self.generators[0].device

    def __len__(self) -> int:
        return len(self.generators)

    def rows(self, index: Tensor | Sequence[int]) -> PerExample:
        """Return the generators of examples ``index`` (a sub-batch; the same objects, in order)."""
        idx = index.tolist() if isinstance(index, Tensor) else list(index)
        return PerExample(self.generators[int(i)] for i in idx)

    def check_rows(self, shape: Sequence[int], *, who: str) -> None:
        """Raise unless a draw shaped ``shape`` has one row per generator (``(B, ...)``)."""
        shape = tuple(int(n) for n in shape)
        if not shape or shape[0] != len(self):
            raise ValueError(
                f"{who}: per-example generators give one row per example: expected a draw "
                f"shaped ({len(self)}, ...), got {shape}. This op draws numbers shared by the "
                "whole batch (or the batch size differs from the number of generators); call it "
                "with one torch.Generator instead of a PerExample."
            )

    def __repr__(self) -> str:
        return f"PerExample({len(self)} generators on {self.device})"


Randomness = torch.Generator | PerExample | None


def _draw(
    draw: Callable[..., Tensor], shape: Sequence[int], generator: Randomness, who: str
) -> Tensor:
    """``draw(shape, generator=...)``, or with a :class:`PerExample` one row per generator."""
    if not isinstance(generator, PerExample):
        return draw(tuple(shape), generator=generator)
    shape = tuple(int(n) for n in shape)
    generator.check_rows(shape, who=who)
    return torch.cat([draw((1, *shape[1:]), generator=g) for g in generator.generators])


def rand(
    shape: Sequence[int],
    *,
    generator: Randomness = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """``torch.rand`` that also takes a :class:`PerExample` (row ``b`` from generator ``b``).

    Example:
        >>> torch.equal(rand((2, 3), generator=make_generator(1)),
        ...             torch.rand(2, 3, generator=make_generator(1)))
        True
    """
    return _draw(partial(torch.rand, device=device, dtype=dtype), shape, generator, "rand")


def randn(
    shape: Sequence[int],
    *,
    generator: Randomness = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """``torch.randn`` that also takes a :class:`PerExample` (row ``b`` from generator ``b``).

    Example:
        >>> randn((2, 3), generator=PerExample.from_seeds([1, 2])).shape
        torch.Size([2, 3])
    """
    return _draw(partial(torch.randn, device=device, dtype=dtype), shape, generator, "randn")


def randint(
    low: int,
    high: int,
    shape: Sequence[int],
    *,
    generator: Randomness = None,
    device: torch.device | str = "cpu",
) -> Tensor:
    """``torch.randint`` (int64) that also takes a :class:`PerExample`.

    Example:
        >>> bool(((randint(0, 3, (4,), generator=make_generator(0)) < 3)).all())
        True
    """
    return _draw(partial(torch.randint, low, high, device=device), shape, generator, "randint")


def draw_seed(generator: Randomness, device: torch.device) -> Tensor:
    """Draw the seed of a kernel's own generator: 0-d, or (B,) for a :class:`PerExample`.

    Example:
        >>> draw_seed(make_generator(0), torch.device("cpu")).shape
        torch.Size([])
    """
    if isinstance(generator, PerExample):
        return torch.tensor(
            [seed_from_generator(g, device) for g in generator.generators], dtype=torch.int64
        )
    return torch.tensor(seed_from_generator(generator, device), dtype=torch.int64)


def generator_from_seed(
    seed: Tensor | int, device: torch.device | str, *parts: int
) -> torch.Generator | PerExample:
    """Rebuild the generator(s) of a seed from :func:`draw_seed` (mixed with ``parts``, if any).

    Example:
        >>> s = draw_seed(PerExample.from_seeds([3, 4]), torch.device("cpu"))
        >>> generator_from_seed(s, "cpu")
        PerExample(2 generators on cpu)
    """
    t = torch.as_tensor(seed)

    def one(v: int) -> torch.Generator:
        return make_generator(derive_seed(v, *parts) if parts else v, device)

    if t.ndim == 0:
        return one(int(t))
    return PerExample(one(int(v)) for v in t.tolist())
