"""Explicit randomness: generators seeded from (seed, epoch, index) or (seed, rank, step).

mmnoise never touches the global RNG on purpose: every sampling call takes ``generator=``. The
helpers here derive independent, reproducible seeds so that noise depends only on *what* is being
corrupted (item, epoch, step, rank), never on worker scheduling.

``generator=`` is a ``torch.Generator`` (one stream for the whole batch), a :class:`PerExample`
(one stream per example: row ``b`` of every draw comes from example ``b``'s generator alone, so
each example's corruption is the one a batch of one would get from that generator, whatever the
batch size, order or neighbours) or a :class:`Key` (a counter-based Philox stream in plain torch
integer ops, shared or per example, that compiles under ``torch.compile(fullgraph=True)``, never
reads a device value on the host and can be captured in a CUDA graph). Every draw of the package
goes through :func:`rand`, :func:`randn` and :func:`randint`, or for large fields
:func:`randn_chunked`, :func:`rand_chunked`, :func:`normal_` and :func:`uniform_` (chunks from
independent generators, filled in parallel on the CPU), which handle all three.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import TypeGuard

import torch
from torch import Tensor

__all__ = [
    "CHUNK",
    "Key",
    "PerExample",
    "Randomness",
    "check_generator",
    "chunk_seeds",
    "derive_seed",
    "draw_seed",
    "generator_from_seed",
    "kernel_generator",
    "make_generator",
    "normal_",
    "per_example",
    "rand",
    "rand_chunked",
    "randint",
    "randn",
    "randn_chunked",
    "seed_from_generator",
    "uniform_",
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


def _check_rows(
    shape: Sequence[int], rows: int, *, who: str, gives: str, streams: str, instead: str
) -> None:
    """Raise unless a draw shaped ``shape`` has ``rows`` rows: one per per-example stream."""
    shape = tuple(int(n) for n in shape)
    if not shape or shape[0] != rows:
        raise ValueError(
            f"{who}: {gives} one row per example: expected a draw shaped ({rows}, ...), got "
            f"{shape}. This op draws numbers shared by the whole batch (or the batch size "
            f"differs from the number of {streams}); call it with {instead}."
        )


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
        _check_rows(
            shape,
            len(self),
            who=who,
            gives="per-example generators give",
            streams="generators",
            instead="one torch.Generator instead of a PerExample",
        )

    def __repr__(self) -> str:
        return f"PerExample({len(self)} generators on {self.device})"


# -- Philox4x32-10 in overflow-free int64 torch ops ---------------------------------------------
# Every 32-bit word is an int64 tensor holding a value in [0, 2**32). torch.uint32 cannot shift
# on the CPU and a wrapping int64 multiply is signed overflow (undefined behaviour in the C++ that
# inductor emits), so the 32x32 -> 64 multiply is split into 16-bit limbs: no intermediate
# exceeds 2**49, and only * + >> << & ^ are used, which every backend computes exactly.

_M32 = 0xFFFFFFFF
_PHILOX_M0 = 0xD2511F53
_PHILOX_M1 = 0xCD9E8D57
_PHILOX_W0 = 0x9E3779B9  # key schedule increments (golden ratio, sqrt(3) - 1)
_PHILOX_W1 = 0xBB67AE85
_PHILOX_ROUNDS = 10
_FOLD_TAG = 1  # third counter word of fold_in blocks; draws use 0, so the two never share a block


def _mulhilo(m: int, x: Tensor) -> tuple[Tensor, Tensor]:
    # m * x = (x * m_hi) * 2**16 + x * m_lo, each partial product < 2**48
    p_lo = x * (m & 0xFFFF)
    p_hi = x * (m >> 16)
    t = ((p_hi & 0xFFFF) << 16) + p_lo  # < 2**49
    return (p_hi >> 16) + (t >> 32), t & _M32


def _philox4x32(
    c0: Tensor, c1: Tensor, c2: Tensor, c3: Tensor, k0: Tensor, k1: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Philox4x32-10 (Salmon et al., SC'11) on int64 tensors of 32-bit words (broadcast)."""
    for r in range(_PHILOX_ROUNDS):
        if r:
            k0 = (k0 + _PHILOX_W0) & _M32
            k1 = (k1 + _PHILOX_W1) & _M32
        hi0, lo0 = _mulhilo(_PHILOX_M0, c0)
        hi1, lo1 = _mulhilo(_PHILOX_M1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


def _key_words(seed: Tensor) -> tuple[Tensor, Tensor]:
    # Philox key = (seed bits 0-31, seed bits 32-62); & before >> keeps the shift logical
    return seed & _M32, (seed & _MASK_63) >> 32


def _unit(words: Tensor, bits: int, dtype: torch.dtype) -> Tensor:
    # (2k + 1) * 2**-(bits + 1) from the top `bits` bits: strictly inside (0, 1), and exact in
    # `dtype` when 2 * 2**bits fits its significand (so a uniform never rounds up to 1.0)
    k = words >> (32 - bits)
    return (k * 2 + 1).to(dtype) * (2.0 ** -(bits + 1))


#: explicit significand bits of the common float dtypes (a dict keeps dynamo off torch.finfo)
_SIGNIFICAND_BITS = {torch.float16: 10, torch.bfloat16: 7, torch.float32: 23, torch.float64: 52}


def _same_device(a: torch.device, b: torch.device) -> bool:
    return a.type == b.type and (a.index is None or b.index is None or a.index == b.index)


class Key:
    """A counter-based random stream: Philox4x32-10 keyed by a seed tensor, in plain torch ops.

    A third carrier of randomness next to ``torch.Generator`` and :class:`PerExample`, for code
    that is compiled (``torch.compile(fullgraph=True)`` cannot take a generator), captured in a
    CUDA graph, or must never wait on the GPU: every draw is a fixed sequence of integer tensor
    ops on the key's device, and nothing ever reads a device value on the host.

    Stream layout: a draw shaped ``shape`` is cut into rows (one row for a shared key; ``B`` rows
    of ``shape[1:]`` for a per-example key) and each row into blocks of 4 words. Block ``j`` of a
    row is Philox4x32-10 of counter ``(lo32(offset + j), hi32(offset + j), 0, 0)`` under key
    ``(seed bits 0-31, seed bits 32-62)`` of that row, and ``offset`` (a Python int) then advances
    by the number of blocks per row, known from the shape alone. So row ``b`` of a per-example
    draw is exactly what a batch of one draws with ``seed[b]`` at the same offset.

    Keys are mutable like generators (a draw advances ``offset``); :meth:`clone` copies one.
    Integers (:func:`randint`, seeds) are bit-exact on every device, eager or compiled; floats
    agree to a few ulp (about 1e-6), since compiled ``log``/``cos`` may round differently.

    Args:
        seed: a Python int, a 0-d integer tensor (one stream for the whole batch) or a (B,)
            integer tensor (one stream per example). Only its low 63 bits matter.
        device: where the seed (and so every draw) lives; default the tensor's device, or the
            CPU for an int.

    Example:
        >>> k = Key(7)
        >>> a = randn((2, 3), generator=k)
        >>> k.offset, torch.equal(a, randn((2, 3), generator=Key(7)))
        (2, True)
        >>> per = Key(torch.tensor([7, 8]))
        >>> torch.equal(randn((2, 3), generator=per)[1:], randn((1, 3), generator=Key(8)))
        True
    """

    def __init__(self, seed: int | Tensor, *, device: torch.device | str | None = None) -> None:
        if isinstance(seed, Tensor):
            if seed.dtype.is_floating_point or seed.dtype.is_complex or seed.dtype == torch.bool:
                raise TypeError(
                    f"Key: expected an integer seed tensor, got dtype {seed.dtype}; pass e.g. "
                    "torch.tensor(seeds, dtype=torch.int64)."
                )
            if seed.ndim > 1:
                raise ValueError(
                    f"Key: expected a 0-d seed (one stream) or a (B,) seed (one per example), "
                    f"got shape {tuple(seed.shape)}; flatten it or fold the extra axes in with "
                    "Key.fold_in."
                )
            t = seed.to(device=seed.device if device is None else device, dtype=torch.int64)
        elif isinstance(seed, int) and not isinstance(seed, bool):
            # filled on the device: a host tensor copied to CUDA would sync
            t = torch.full((), seed & _MASK_63, dtype=torch.int64, device=device)
        else:
            raise TypeError(
                f"Key: expected seed as an int or an integer tensor, got {type(seed).__name__}."
            )
        self.seed: Tensor = t
        #: counter blocks used so far by each row (host-side: advancing it never syncs)
        self.offset: int = 0

    @classmethod
    def from_seeds(cls, seeds: Sequence[int] | Tensor, device: torch.device | str = "cpu") -> Key:
        """Return a per-example key, one stream per seed (e.g. ``derive_seed(seed, item)``).

        Example:
            >>> len(Key.from_seeds([3, 4, 5]))
            3
        """
        if isinstance(seeds, Tensor):
            return cls(seeds.reshape(-1), device=device)
        return cls(
            torch.tensor([int(s) & _MASK_63 for s in seeds], dtype=torch.int64), device=device
        )

    @property
    def device(self) -> torch.device:
        """The device of the seed: every draw is made there."""
        return self.seed.device

    @property
    def per_example(self) -> bool:
        """True for a (B,) seed: one stream per example, draws shaped (B, ...)."""
        return self.seed.ndim == 1

    def __len__(self) -> int:
        if not self.per_example:
            raise TypeError(
                "Key: a shared key (0-d seed) has no length; only a per-example key (a (B,) "
                "seed) has one stream per example."
            )
        return int(self.seed.shape[0])

    def clone(self) -> Key:
        """Return an independent copy (same seed, same offset): drawing from one leaves the other.

        Example:
            >>> k = Key(1)
            >>> c = k.clone()
            >>> torch.equal(rand((3,), generator=k), rand((3,), generator=c))
            True
        """
        out = Key.__new__(Key)
        out.seed, out.offset = self.seed, self.offset  # the seed tensor is never written in place
        return out

    def fold_in(self, data: int | Tensor) -> Key:
        """Return a new key (offset 0) mixing ``data`` into the seed, like JAX's ``fold_in``.

        The new seed is a Philox block of counter ``(lo32(data), hi32(data), 1, 0)`` (a counter
        no draw uses) under this key's seed; the offset of this key plays no part. A (B,)
        ``data`` on a shared key gives a per-example key (e.g. ``Key(seed).fold_in(item_ids)``).

        Args:
            data: an int (e.g. a step or a transform index; negative ints are taken mod 2**64),
                or a 0-d / (B,) integer tensor (on any device; it is moved to the key's).

        Returns:
            The derived key.

        Example:
            >>> k = Key(0)
            >>> a, b = rand((2,), generator=k.fold_in(1)), rand((2,), generator=k.fold_in(2))
            >>> torch.equal(a, rand((2,), generator=Key(0).fold_in(1))), torch.equal(a, b)
            (True, False)
        """
        if isinstance(data, Tensor):
            if data.dtype.is_floating_point or data.dtype.is_complex or data.dtype == torch.bool:
                raise TypeError(f"Key.fold_in: expected integer data, got dtype {data.dtype}.")
            if data.ndim > 1:
                raise ValueError(
                    f"Key.fold_in: expected an int or a 0-d / (B,) tensor, got shape "
                    f"{tuple(data.shape)}."
                )
            d = data.to(device=self.device, dtype=torch.int64)
            if self.per_example and d.ndim == 1 and d.shape[0] != self.seed.shape[0]:
                raise ValueError(
                    f"Key.fold_in: a per-example key of {self.seed.shape[0]} streams takes one "
                    f"datum per stream, got {d.shape[0]}."
                )
            lo, hi = d & _M32, (d >> 32) & _M32
        elif isinstance(data, int) and not isinstance(data, bool):
            # filled on the device (no host-to-device copy: it would sync on CUDA)
            lo = torch.full((), data & _M32, dtype=torch.int64, device=self.device)
            hi = torch.full((), (data >> 32) & _M32, dtype=torch.int64, device=self.device)
        else:
            raise TypeError(
                f"Key.fold_in: expected an int or an integer tensor, got {type(data).__name__}."
            )
        k0, k1 = _key_words(self.seed)
        zero = torch.zeros_like(lo)
        w0, w1, _, _ = _philox4x32(lo, hi, zero + _FOLD_TAG, zero, k0, k1)
        return Key(w0 | ((w1 & 0x7FFFFFFF) << 32))

    def rows(self, index: Tensor | Sequence[int]) -> Key:
        """Return the key of examples ``index`` (a sub-batch): their seeds, the same offset.

        The sub-key advances on its own: drawing from it does not move this key's offset.

        Example:
            >>> k = Key.from_seeds([5, 6, 7])
            >>> torch.equal(rand((1, 2), generator=k.rows([2])), rand((1, 2), generator=Key(7)))
            True
        """
        if not self.per_example:
            raise TypeError(
                "Key.rows: a shared key (0-d seed) has no rows; pass it whole to the sub-batch."
            )
        idx = torch.as_tensor(index, dtype=torch.int64, device=self.device)
        out = Key(self.seed[idx])
        out.offset = self.offset
        return out

    def check_rows(self, shape: Sequence[int], *, who: str) -> None:
        """Raise unless a draw shaped ``shape`` suits a per-example key (``(B, ...)``).

        Example:
            >>> Key(0).check_rows((3,), who="me")  # a shared key takes any shape
        """
        if self.per_example:
            _check_rows(
                shape,
                int(self.seed.shape[0]),
                who=who,
                gives="a per-example Key gives",
                streams="seeds",
                instead="a shared Key (0-d seed) instead",
            )

    def _blocks(self, shape: Sequence[int], device: torch.device | str, who: str) -> Tensor:
        """Words of the next draw shaped ``shape``: (rows, blocks, 4) int64 in [0, 2**32)."""
        if not _same_device(torch.device(device), self.device):
            raise ValueError(
                f"{who}: the Key lives on {self.device} but the draw was asked on "
                f"{torch.device(device)}; build the key there (Key(seed, device=...)) or pass "
                f"device={str(self.device)!r}."
            )
        shape = tuple(int(n) for n in shape)
        self.check_rows(shape, who=who)
        n = math.prod(shape[1:]) if self.per_example else math.prod(shape)
        blocks = (n + 3) // 4
        ctr = torch.arange(blocks, dtype=torch.int64, device=self.device) + self.offset
        self.offset += blocks
        k0, k1 = _key_words(self.seed.reshape(-1, 1))
        zero = torch.zeros_like(ctr)
        words = _philox4x32(ctr & _M32, (ctr >> 32) & _M32, zero, zero, k0, k1)
        return torch.stack(words, dim=-1)

    def bits(self, shape: Sequence[int], *, device: torch.device | str | None = None) -> Tensor:
        """Draw 32-bit words (int64 in [0, 2**32)) shaped ``shape``: the stream's integer stage.

        Bit-exact on every device, eager or compiled.

        Example:
            >>> w = Key(0).bits((5,))
            >>> w.dtype, bool((w >= 0).all() and (w < 2**32).all())
            (torch.int64, True)
        """
        dev = self.device if device is None else device
        words = self._blocks(shape, dev, "Key.bits")
        return _take(words, shape)

    def __repr__(self) -> str:
        # never the seed values: printing them would read the device
        kind = f"{self.seed.shape[0]} per-example streams" if self.per_example else "shared"
        return f"Key({kind}, offset={self.offset}, on {self.device})"


def _take(values: Tensor, shape: Sequence[int]) -> Tensor:
    # (rows, blocks, 4) -> rows of blocks*4 -> the first numel-per-row -> shape
    shape = tuple(int(n) for n in shape)
    rows, blocks = values.shape[0], values.shape[1]
    per_row = math.prod(shape) // rows if rows else 0
    return values.reshape(rows, blocks * 4)[:, :per_row].reshape(shape)


def _key_rand(
    key: Key, shape: Sequence[int], device: torch.device | str, dtype: torch.dtype
) -> Tensor:
    if not dtype.is_floating_point:
        raise TypeError(f"rand: expected a floating-point dtype, got {dtype}.")
    # as many random bits as the dtype's significand holds exactly (23 in float32), at most 32
    bits = min(_SIGNIFICAND_BITS.get(dtype) or round(-math.log2(torch.finfo(dtype).eps)), 32)
    return _take(_unit(key._blocks(shape, device, "rand"), bits, dtype), shape)


def _key_randn(
    key: Key, shape: Sequence[int], device: torch.device | str, dtype: torch.dtype
) -> Tensor:
    if not dtype.is_floating_point:
        raise TypeError(f"randn: expected a floating-point dtype, got {dtype}.")
    w = key._blocks(shape, device, "randn")
    # Box-Muller on (w0, w1) and (w2, w3): 4 normals per block, in float32 whatever the dtype.
    # The radius uniform is >= 2**-25, so |z| <= sqrt(2 * 25 ln 2) ~ 5.9.
    radius = torch.sqrt(-2.0 * torch.log(_unit(w[..., 0::2], 24, torch.float32)))
    angle = (2.0 * math.pi) * _unit(w[..., 1::2], 24, torch.float32)
    z = torch.stack((radius * torch.cos(angle), radius * torch.sin(angle)), dim=-1)
    return _take(z.reshape(w.shape), shape).to(dtype)


def _key_randint(
    key: Key, low: int, high: int, shape: Sequence[int], device: torch.device | str
) -> Tensor:
    span = int(high) - int(low)
    if not 0 < span < 1 << 31:
        raise ValueError(
            f"randint: with a Key, expected 0 < high - low < 2**31 (so w * (high - low) stays in "
            f"int64), got low={low}, high={high}; draw two ranges and combine them, or use a "
            "torch.Generator."
        )
    w = key._blocks(shape, device, "randint")
    return _take(low + ((w * span) >> 32), shape)


Randomness = torch.Generator | PerExample | Key | None


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

    With a :class:`Key`, U(0, 1) numbers from the key's Philox stream (one 32-bit word each, the
    top ``min(significand bits, 32)`` bits: 23 in float32, exactly representable, never 0 or 1); the key
    must live on ``device``.

    Example:
        >>> torch.equal(rand((2, 3), generator=make_generator(1)),
        ...             torch.rand(2, 3, generator=make_generator(1)))
        True
    """
    if generator is None or type(generator) is torch.Generator:  # the common case, direct
        return torch.rand(tuple(shape), generator=generator, device=device, dtype=dtype)
    if isinstance(generator, Key):
        return _key_rand(generator, shape, device, dtype)
    return _draw(partial(torch.rand, device=device, dtype=dtype), shape, generator, "rand")


def randn(
    shape: Sequence[int],
    *,
    generator: Randomness = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """``torch.randn`` that also takes a :class:`PerExample` (row ``b`` from generator ``b``).

    With a :class:`Key`, Box-Muller normals from the key's Philox stream (4 words give 4
    normals), computed in float32 and cast to ``dtype``. Their uniforms are at least 2**-25, so
    ``|z|`` is capped at about 5.9 (a draw beyond 5.9 sigma has probability ~4e-9); the key must
    live on ``device``.

    Example:
        >>> randn((2, 3), generator=PerExample.from_seeds([1, 2])).shape
        torch.Size([2, 3])
    """
    if isinstance(generator, Key):
        return _key_randn(generator, shape, device, dtype)
    return _draw(partial(torch.randn, device=device, dtype=dtype), shape, generator, "randn")


def randint(
    low: int,
    high: int,
    shape: Sequence[int],
    *,
    generator: Randomness = None,
    device: torch.device | str = "cpu",
) -> Tensor:
    """``torch.randint`` (int64) that also takes a :class:`PerExample` or a :class:`Key`.

    With a :class:`Key`, ``low + ((w * (high - low)) >> 32)`` of one 32-bit word ``w`` each
    (bit-exact everywhere; needs ``high - low < 2**31``, else ``ValueError``).

    Example:
        >>> bool(((randint(0, 3, (4,), generator=make_generator(0)) < 3)).all())
        True
    """
    if isinstance(generator, Key):
        return _key_randint(generator, low, high, shape, device)
    return _draw(partial(torch.randint, low, high, device=device), shape, generator, "randint")


def per_example(generator: Randomness) -> TypeGuard[PerExample | Key]:
    """Whether ``generator`` gives one stream per example (rows of a draw are examples).

    True for a :class:`PerExample` and a per-example :class:`Key` ((B,) seed).

    Example:
        >>> per_example(Key.from_seeds([1, 2])), per_example(make_generator(0))
        (True, False)
    """
    return isinstance(generator, PerExample) or (
        isinstance(generator, Key) and generator.per_example
    )


#: how far a CUDA generator moves on for each seed derived from its state: one Philox offset
#: step, as the smallest draw of a CUDA random kernel would (offsets advance in steps of 4)
_PHILOX_STEP = 4


def _philox_state_seed(generator: torch.Generator) -> int | None:
    """Derive a seed from a Philox generator's host-side state and move the generator on.

    A CUDA generator's state is two host integers, its seed and its offset (the counter of the
    next draw), so reading them costs no device sync, where drawing a seed on the device and
    reading it back (``.item()``) stalls the host. The derived seed is a hash of (seed, offset):
    a function of the generator's position, so the same position gives the same kernel noise,
    and the offset then moves on by one step so that the next seed (and the next draw) differ.
    Returns None for a generator without an offset (the CPU's Mersenne Twister).

    Example:
        >>> _philox_state_seed(make_generator(0)) is None
        True
    """
    try:
        offset = generator.get_offset()
    except RuntimeError:
        return None
    generator.set_offset(offset + _PHILOX_STEP)
    return derive_seed(generator.initial_seed(), offset)


def draw_seed(generator: Randomness, device: torch.device) -> Tensor:
    """Draw the seed of a kernel's own randomness: 0-d, or (B,) for per-example randomness.

    The dtype tags what :func:`generator_from_seed` rebuilds:

    - a CPU ``torch.Generator``, ``None`` or a :class:`PerExample`: an int64 seed on the CPU (the
      seed of a new ``torch.Generator``, read on the host, which costs nothing on the CPU);
    - a CUDA ``torch.Generator`` (a Philox generator, whose state, a seed and an offset, lives on
      the host): an int64 seed on the CPU derived from that state, which then moves on by one
      block (:func:`_philox_state_seed`): no device value is read, so no sync, and the kernel
      draws from a fresh generator of that seed with torch's own fast random kernels;
    - another non-CPU ``torch.Generator`` without a host-side offset: an int32 seed drawn on
      its device with ``torch.randint`` (no ``.item()``); the kernel then draws from a
      :class:`Key`;
    - a :class:`Key`: an int32 seed (0-d, or (B,) for a per-example key) drawn from the key's
      stream on its device, never read on the host.

    An int32 seed has 2**32 values: two kernels get the same field with probability 2**-32.

    Example:
        >>> draw_seed(make_generator(0), torch.device("cpu")).dtype
        torch.int64
        >>> draw_seed(Key.from_seeds([1, 2]), torch.device("cpu")).dtype
        torch.int32
    """
    if isinstance(generator, Key):
        w = generator.bits((len(generator),) if generator.per_example else ())
        # [0, 2**32) -> [-2**31, 2**31) exactly (no out-of-range cast), then the int32 tag
        return (w - ((w >> 31) << 32)).to(torch.int32)
    if isinstance(generator, PerExample):
        return torch.tensor(
            [seed_from_generator(g, device) for g in generator.generators], dtype=torch.int64
        )
    if generator is not None and generator.device.type != "cpu":
        derived = _philox_state_seed(generator)
        if derived is not None:
            return torch.tensor(derived, dtype=torch.int64)
        return torch.randint(
            -(1 << 31),
            1 << 31,
            (),
            generator=generator,
            device=generator.device,
            dtype=torch.int32,
        )
    # the 0-d draw itself (the value seed_from_generator reads): no read-back and re-wrap
    return torch.randint(0, 1 << 62, (), generator=generator)


_SCRATCH = threading.local()


def kernel_generator(
    seed: Tensor, device: torch.device | str
) -> torch.Generator | PerExample | Key:
    """The randomness a kernel draws its field from, for a seed from :func:`draw_seed`.

    A 0-d int64 seed (a ``torch.Generator`` carrier) reseeds one generator kept per thread and
    device, so a call allocates no generator: each kernel consumes it before the next kernel
    seeds it again. Other seeds are rebuilt by :func:`generator_from_seed`.

    Example:
        >>> a = torch.rand(2, generator=kernel_generator(torch.tensor(5), "cpu"))
        >>> torch.equal(a, torch.rand(2, generator=make_generator(5)))
        True
    """
    if seed.dtype != torch.int64 or seed.ndim != 0:
        return generator_from_seed(seed, device)
    dev = device if isinstance(device, torch.device) else torch.device(device)
    cache: dict[torch.device, torch.Generator] = _SCRATCH.__dict__.setdefault("generators", {})
    g = cache.get(dev)
    if g is None:
        g = cache[dev] = torch.Generator(device=dev)
    g.manual_seed(int(seed) & _MASK_63)
    return g


def generator_from_seed(
    seed: Tensor | int, device: torch.device | str, *parts: int
) -> torch.Generator | PerExample | Key:
    """Rebuild the randomness of a seed from :func:`draw_seed` (mixed with ``parts``, if any).

    An int32 tensor seed gives a :class:`Key` on ``device`` (per example for a (B,) seed),
    with ``parts`` folded in by :meth:`Key.fold_in`, and no host read. An int or an int64 seed
    gives a ``torch.Generator`` (0-d) or a :class:`PerExample` ((B,)) seeded on the host.

    Example:
        >>> s = draw_seed(PerExample.from_seeds([3, 4]), torch.device("cpu"))
        >>> generator_from_seed(s, "cpu")
        PerExample(2 generators on cpu)
        >>> generator_from_seed(torch.tensor(5, dtype=torch.int32), "cpu", 1)
        Key(shared, offset=0, on cpu)
    """
    if isinstance(seed, Tensor) and seed.dtype == torch.int32:
        key = Key(seed, device=device)
        for p in parts:
            key = key.fold_in(p)
        return key
    t = torch.as_tensor(seed)

    def one(v: int) -> torch.Generator:
        return make_generator(derive_seed(v, *parts) if parts else v, device)

    if t.ndim == 0:
        return one(int(t))
    return PerExample(one(int(v)) for v in t.tolist())


def check_generator(
    generator: Randomness, device: torch.device, *, who: str, batch: int | None = None
) -> None:
    """Check that ``generator`` suits data on ``device`` (and, per example, a batch of ``batch``).

    Example:
        >>> check_generator(PerExample.from_seeds([1, 2]), torch.device("cpu"), who="demo", batch=2)
    """
    if generator is None:
        return
    if not isinstance(generator, (torch.Generator, PerExample, Key)):
        raise TypeError(
            f"{who}: expected generator as a torch.Generator, an mmnoise.rng.PerExample, an "
            f"mmnoise.rng.Key or None, got {type(generator).__name__}."
        )
    if per_example(generator) and batch is not None and len(generator) != batch:
        raise ValueError(
            f"{who}: expected one stream per example ({batch}), got a "
            f"{type(generator).__name__} of {len(generator)}; build it from the batch's item "
            "seeds."
        )
    if generator.device.type != device.type:
        raise ValueError(
            f"{who}: the generator is on {generator.device} but the data is on {device}; create it "
            f"with torch.Generator(device={str(device)!r}) (mmnoise.rng.make_generator)."
        )


# ----------------------------------------------------------------------------------------------
# Large fields, fast: chunked draws from independent generators, in parallel (was
# mmnoise.functional._fastrand)
# ----------------------------------------------------------------------------------------------
#
# Why: on the CPU, ``Tensor.normal_`` and ``uniform_`` are single-threaded (one Mersenne Twister
# behind a lock) and run at ~0.35-0.45 G numbers/s, about 4 % of memory bandwidth, so they bound
# every additive-noise transform (benchmarks/README.md, "Pitfalls"). Here a large field is cut
# into fixed chunks of ``CHUNK`` elements; chunk ``i`` is filled by its own ``torch.Generator`` seeded
# from (one seed drawn from the caller's generator, ``i``), and the chunks are spread over a thread
# pool (torch releases the GIL inside ``normal_``). A chunk also fits in the L2 cache, so the uniform
# draw and its Box-Muller transform (two passes inside ``normal_``) stay in cache.
#
# The field depends only on (the caller's generator state, the number of elements): never on the
# number of threads, which only decides who fills which chunk. Fields of at most ``CHUNK`` elements
# are drawn directly from the caller's generator (exactly ``torch.randn`` / ``torch.rand``). On
# other devices (CUDA: counter-based Philox, already parallel) the caller's generator fills the
# whole field directly. A :class:`mmnoise.rng.Key` fills the field from its own counter-based
# stream on any device (one fused loop once compiled), exactly as ``rng.randn`` / ``rng.rand``.

#: Elements per chunk: 2**16 float32 = 256 KiB, small enough for L2, large enough that the
#: per-chunk cost (seeding a generator, ~2 us) stays below 2 % of the draw.
CHUNK = 1 << 16

_M32 = 0xFFFFFFFF
_GOLDEN = 0x9E3779B9  # odd, so i -> base + i * _GOLDEN is injective modulo 2**32

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def _reset_pool() -> None:
    # A forked child (DataLoader worker) inherits the pool object but not its threads.
    global _pool, _pool_size
    _pool, _pool_size = None, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_pool)


def _get_pool(size: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < size:
            old = _pool
            _pool, _pool_size = ThreadPoolExecutor(size, thread_name_prefix="mmnoise-rng"), size
            if old is not None:
                old.shutdown(wait=False)
        return _pool


def _mix32(v: int) -> int:
    # "lowbias32" (C. Wellons, hash-prospector): a bijection on 32-bit integers with low bias,
    # so distinct chunk indices give distinct, well-scrambled generator seeds.
    v ^= v >> 16
    v = (v * 0x7FEB352D) & _M32
    v ^= v >> 15
    v = (v * 0x846CA68B) & _M32
    v ^= v >> 16
    return v


def chunk_seeds(base: int, count: int) -> list[int]:
    """Return the generator seeds of chunks ``0 .. count - 1`` of a field drawn with ``base``.

    The CPU Mersenne Twister keeps only the low 32 bits of a seed, so seeds are 32-bit and, within
    one field, pairwise distinct (a bijective mix of ``h(base) + i * odd``): no two chunks of a
    field can repeat each other.

    Args:
        base: the seed drawn from the caller's generator.
        count: number of chunks.

    Returns:
        ``count`` distinct integers in [0, 2**32).

    Example:
        >>> s = chunk_seeds(7, 1000)
        >>> len(set(s)), s == chunk_seeds(7, 1000), s[:3] == chunk_seeds(8, 3)
        (1000, True, False)
    """
    h = derive_seed(base) & _M32
    return [_mix32((h + i * _GOLDEN) & _M32) for i in range(count)]


def _workers(requested: int | None, chunks: int) -> int:
    n = torch.get_num_threads() if requested is None else int(requested)
    return max(1, min(n, chunks))


def _fill_chunked(
    out: Tensor,
    fill: Callable[[Tensor, torch.Generator], object],
    generator: torch.Generator | None,
    workers: int | None,
) -> Tensor:
    flat = out.view(-1)
    n = flat.numel()
    count = (n + CHUNK - 1) // CHUNK
    seeds = chunk_seeds(seed_from_generator(generator, out.device), count)

    # Chunks are claimed one at a time from a shared counter rather than split into fixed runs:
    # on a shared machine a thread that is descheduled for a time slice (4 ms) would otherwise
    # hold back the whole field while the other core idles; claimed dynamically, the threads
    # that are running take over its chunks. Which thread fills a chunk never changes its values.
    lock = threading.Lock()
    pending = iter(range(count))

    def work() -> None:
        g = torch.Generator()
        while True:
            with lock:
                i = next(pending, count)
            if i == count:
                return
            g.manual_seed(seeds[i])
            fill(flat[i * CHUNK : min((i + 1) * CHUNK, n)], g)

    k = _workers(workers, count)
    if k == 1:
        work()
        return out
    pool = _get_pool(k - 1)
    futures: list[Future[None]] = [pool.submit(work) for _ in range(k - 1)]
    work()
    for f in futures:
        f.result()
    return out


def _check_out(out: Tensor, who: str) -> None:
    if not out.is_floating_point():
        raise TypeError(f"{who}: expected a floating-point tensor, got {out.dtype}.")
    if not out.is_contiguous():
        raise ValueError(
            f"{who}: expected a contiguous tensor (the chunk layout is the memory layout), got "
            f"strides {out.stride()}; fill a fresh torch.empty(...) instead."
        )


def _rows(
    out: Tensor, generator: PerExample, fill: Callable[[Tensor, torch.Generator], object]
) -> Tensor:
    # row b from generator b alone, exactly as a batch of one would draw it
    generator.check_rows(out.shape, who="_fastrand")
    for b, g in enumerate(generator.generators):
        fill(out[b : b + 1], g)
    return out


def normal_(out: Tensor, *, generator: Randomness = None, workers: int | None = None) -> Tensor:
    """Fill ``out`` in place with standard normal numbers, in parallel chunks on the CPU.

    Args:
        out: a contiguous floating-point tensor (a buffer the caller owns).
        generator: the only source of randomness; it advances by one draw (large CPU fields) or
            exactly as ``out.normal_(generator=generator)`` (small fields, other devices). A
            :class:`mmnoise.rng.Key` (on ``out``'s device) fills it as ``rng.randn`` does.
        workers: threads to use (default ``torch.get_num_threads()``); never changes the values.

    Shape:
        out: any. Output: ``out``.

    Returns:
        ``out``.

    Raises:
        TypeError: ``out`` is not floating point.
        ValueError: ``out`` is not contiguous.

    Example:
        >>> a = normal_(torch.empty(3, 50_000), generator=torch.Generator().manual_seed(0))
        >>> b = normal_(torch.empty(3, 50_000), generator=torch.Generator().manual_seed(0),
        ...             workers=1)
        >>> torch.equal(a, b), round(a.std().item(), 1)
        (True, 1.0)
    """
    _check_out(out, "normal_")
    if isinstance(generator, Key):
        return out.copy_(
            randn(out.shape, generator=generator, device=out.device, dtype=out.dtype)
        )
    if isinstance(generator, PerExample):
        return _rows(out, generator, lambda r, g: normal_(r, generator=g, workers=workers))
    if out.device.type != "cpu" or out.numel() <= CHUNK:
        return out.normal_(generator=generator)
    return _fill_chunked(out, lambda c, g: c.normal_(generator=g), generator, workers)


def uniform_(out: Tensor, *, generator: Randomness = None, workers: int | None = None) -> Tensor:
    """Fill ``out`` in place with U[0, 1) numbers, in parallel chunks on the CPU.

    Args:
        out: a contiguous floating-point tensor (a buffer the caller owns).
        generator: the only source of randomness (advances as in :func:`normal_`); a
            :class:`mmnoise.rng.Key` fills ``out`` as ``rng.rand`` does.
        workers: threads to use (default ``torch.get_num_threads()``); never changes the values.

    Shape:
        out: any. Output: ``out``.

    Returns:
        ``out``.

    Raises:
        TypeError: ``out`` is not floating point.
        ValueError: ``out`` is not contiguous.

    Example:
        >>> u = uniform_(torch.empty(200_000), generator=torch.Generator().manual_seed(0))
        >>> bool(u.min() >= 0) and bool(u.max() < 1), round(u.mean().item(), 2)
        (True, 0.5)
    """
    _check_out(out, "uniform_")
    if isinstance(generator, Key):
        return out.copy_(
            rand(out.shape, generator=generator, device=out.device, dtype=out.dtype)
        )
    if isinstance(generator, PerExample):
        return _rows(out, generator, lambda r, g: uniform_(r, generator=g, workers=workers))
    if out.device.type != "cpu" or out.numel() <= CHUNK:
        return out.uniform_(generator=generator)
    return _fill_chunked(out, lambda c, g: c.uniform_(generator=g), generator, workers)


def randn_chunked(
    shape: Sequence[int],
    *,
    generator: Randomness = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    workers: int | None = None,
) -> Tensor:
    """Return a fresh tensor of standard normal numbers (:func:`normal_` on a new buffer).

    For large CPU fields (more than :data:`CHUNK` elements) the values differ from
    :func:`randn`'s (one seed drawn, then chunk generators); up to :data:`CHUNK` and on other
    devices they are the same.

    Args:
        shape: the output shape.
        generator: the only source of randomness, on ``device``.
        device: where the tensor lives.
        dtype: a floating-point dtype.
        workers: threads to use on the CPU; never changes the values.

    Shape:
        Output: ``shape``.

    Returns:
        The new tensor.

    Example:
        >>> g = torch.Generator().manual_seed(1)
        >>> torch.equal(randn_chunked((2, 3), generator=g),
        ...             torch.randn(2, 3, generator=torch.Generator().manual_seed(1)))
        True
        >>> torch.equal(randn_chunked((2, 3), generator=Key(1)), randn((2, 3), generator=Key(1)))
        True
    """
    if isinstance(generator, Key):  # a fresh tensor straight from the stream, no copy
        return randn(shape, generator=generator, device=device, dtype=dtype)
    small = dtype.is_floating_point and math.prod(shape) <= CHUNK
    if small and (generator is None or isinstance(generator, torch.Generator)):
        # one field from the caller's generator: torch.randn is empty + normal_ in one call
        return torch.randn(tuple(shape), generator=generator, device=device, dtype=dtype)
    out = torch.empty(tuple(shape), device=device, dtype=dtype)
    return normal_(out, generator=generator, workers=workers)


def rand_chunked(
    shape: Sequence[int],
    *,
    generator: Randomness = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    workers: int | None = None,
) -> Tensor:
    """Return a fresh tensor of U[0, 1) numbers (:func:`uniform_` on a new buffer).

    Args:
        shape: the output shape.
        generator: the only source of randomness, on ``device``.
        device: where the tensor lives.
        dtype: a floating-point dtype.
        workers: threads to use on the CPU; never changes the values.

    Shape:
        Output: ``shape``.

    Returns:
        The new tensor.

    Example:
        >>> rand_chunked((2,), generator=torch.Generator().manual_seed(0)).shape
        torch.Size([2])
    """
    if isinstance(generator, Key):
        return rand(shape, generator=generator, device=device, dtype=dtype)
    out = torch.empty(tuple(shape), device=device, dtype=dtype)
    return uniform_(out, generator=generator, workers=workers)
