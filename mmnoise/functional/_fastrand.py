"""Fast, reproducible random fields: chunked draws from independent generators, in parallel.

Why: on the CPU, ``Tensor.normal_`` and ``uniform_`` are single-threaded (one Mersenne Twister
behind a lock) and run at ~0.35-0.45 G numbers/s, about 4 % of memory bandwidth, so they bound
every additive-noise transform (research/perf_baselines.md, section E). Here a large field is cut
into fixed chunks of ``CHUNK`` elements; chunk ``i`` is filled by its own ``torch.Generator`` seeded
from (one seed drawn from the caller's generator, ``i``), and the chunks are spread over a thread
pool (torch releases the GIL inside ``normal_``). A chunk also fits in the L2 cache, so the uniform
draw and its Box-Muller transform (two passes inside ``normal_``) stay in cache.

The field depends only on (the caller's generator state, the number of elements): never on the
number of threads, which only decides who fills which chunk. Fields of at most ``CHUNK`` elements
are drawn directly from the caller's generator (exactly ``torch.randn`` / ``torch.rand``). On
other devices (CUDA: counter-based Philox, already parallel) the caller's generator fills the
whole field directly. A :class:`mmnoise.rng.Key` fills the field from its own counter-based
stream on any device (one fused loop once compiled), exactly as ``rng.randn`` / ``rng.rand``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import torch
from torch import Tensor

from mmnoise import rng
from mmnoise.rng import Key, PerExample, Randomness, derive_seed, seed_from_generator

__all__ = ["CHUNK", "chunk_seeds", "normal_", "rand", "randn", "uniform_"]

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
            rng.randn(out.shape, generator=generator, device=out.device, dtype=out.dtype)
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
            rng.rand(out.shape, generator=generator, device=out.device, dtype=out.dtype)
        )
    if isinstance(generator, PerExample):
        return _rows(out, generator, lambda r, g: uniform_(r, generator=g, workers=workers))
    if out.device.type != "cpu" or out.numel() <= CHUNK:
        return out.uniform_(generator=generator)
    return _fill_chunked(out, lambda c, g: c.uniform_(generator=g), generator, workers)


def randn(
    shape: Sequence[int],
    *,
    generator: Randomness = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    workers: int | None = None,
) -> Tensor:
    """Return a fresh tensor of standard normal numbers (:func:`normal_` on a new buffer).

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
        >>> torch.equal(randn((2, 3), generator=g),
        ...             torch.randn(2, 3, generator=torch.Generator().manual_seed(1)))
        True
        >>> torch.equal(randn((2, 3), generator=Key(1)), rng.randn((2, 3), generator=Key(1)))
        True
    """
    if isinstance(generator, Key):  # a fresh tensor straight from the stream, no copy
        return rng.randn(shape, generator=generator, device=device, dtype=dtype)
    out = torch.empty(tuple(shape), device=device, dtype=dtype)
    return normal_(out, generator=generator, workers=workers)


def rand(
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
        >>> rand((2,), generator=torch.Generator().manual_seed(0)).shape
        torch.Size([2])
    """
    if isinstance(generator, Key):
        return rng.rand(shape, generator=generator, device=device, dtype=dtype)
    out = torch.empty(tuple(shape), device=device, dtype=dtype)
    return uniform_(out, generator=generator, workers=workers)
