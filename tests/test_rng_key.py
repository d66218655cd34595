"""mmnoise.rng.Key: Philox4x32-10 in plain torch ops, its statistics, and its compile contract.

Statistical bounds are 5 standard errors of the statistic under the null hypothesis (iid U(0, 1)
or N(0, 1)), so a correct stream fails with probability below ~1e-6 per check, while a repeated,
truncated or biased stream misses them by orders of magnitude.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch

from mmnoise import rng
from mmnoise.rng import Key, _mulhilo, _philox4x32, _unit

M = 0xFFFFFFFF

# Random123's tests/kat_vectors for philox4x32_10: counter words, key words, output words.
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((M, M, M, M), (M, M), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


def _words(*values: int) -> list[torch.Tensor]:
    return [torch.tensor(v, dtype=torch.int64) for v in values]


@pytest.mark.parametrize(("ctr", "key", "want"), KAT)
def test_philox_matches_the_random123_known_answers(
    ctr: tuple[int, ...], key: tuple[int, ...], want: tuple[int, ...]
) -> None:
    got = _philox4x32(*_words(*ctr), *_words(*key))
    assert tuple(int(w) for w in got) == want


def test_philox_known_answers_hold_when_broadcast_in_one_call() -> None:
    cols = list(zip(*[(*c, *k) for c, k, _ in KAT], strict=True))
    got = torch.stack(_philox4x32(*[torch.tensor(c, dtype=torch.int64) for c in cols]), dim=1)
    assert got.tolist() == [list(w) for _, _, w in KAT]


def test_mulhilo_equals_the_exact_64_bit_product() -> None:
    xs = [0, 1, 0xFFFF, 0x10000, M, 0x80000000, 0x12345678, 0xDEADBEEF]
    for m in (0xD2511F53, 0xCD9E8D57):
        hi, lo = _mulhilo(m, torch.tensor(xs, dtype=torch.int64))
        assert hi.tolist() == [(m * x) >> 32 for x in xs]
        assert lo.tolist() == [(m * x) & M for x in xs]


def test_uniform_conversion_stays_strictly_inside_the_unit_interval_in_every_dtype() -> None:
    extremes = torch.tensor([0, 1, M - 1, M], dtype=torch.int64)
    for dtype, bits in ((torch.float16, 10), (torch.bfloat16, 7), (torch.float32, 23)):
        u = _unit(extremes, bits, dtype)
        assert bool((u > 0).all() and (u < 1).all()), (dtype, u)
    u64 = _unit(extremes, 32, torch.float64)
    assert u64.tolist() == [2.0**-33, 3 * 2.0**-33, 1 - 3 * 2.0**-33, 1 - 2.0**-33]
    for dtype in (torch.float16, torch.bfloat16, torch.float64):
        v = rng.rand((4096,), generator=Key(3), dtype=dtype)
        assert v.dtype == dtype and bool((v > 0).all() and (v < 1).all())


N = 200_000


def test_uniform_moments_and_chi_square() -> None:
    u = rng.rand((N,), generator=Key(2024)).double()
    assert 0 < u.min() and u.max() < 1
    assert abs(u.mean().item() - 0.5) < 5 * math.sqrt(1 / 12 / N)
    assert abs(u.var().item() - 1 / 12) < 5 * math.sqrt((1 / 80 - 1 / 144) / N)
    counts = torch.bincount((u * 100).long(), minlength=100).double()
    chi2 = ((counts - N / 100) ** 2 / (N / 100)).sum().item()
    # 99 degrees of freedom: mean 99, sd 14; too small a chi-square means a non-random pattern
    assert 99 - 5 * 14 < chi2 < 99 + 5 * 14, chi2


def test_normal_moments() -> None:
    z = rng.randn((N,), generator=Key(7)).double()
    assert abs(z.mean().item()) < 5 / math.sqrt(N)
    assert abs(z.var().item() - 1) < 5 * math.sqrt(2 / N)
    kurt = ((z - z.mean()) ** 4).mean().item() / z.var().item() ** 2
    assert abs(kurt - 3) < 5 * math.sqrt(24 / N), kurt
    assert z.abs().max().item() < 5.9  # the documented Box-Muller cap
    assert rng.randn((3,), generator=Key(7), dtype=torch.float64).dtype == torch.float64


def test_randint_is_in_range_and_uniform_over_it() -> None:
    v = rng.randint(-3, 7, (50_000,), generator=Key(1))
    assert v.dtype == torch.int64 and v.min().item() == -3 and v.max().item() == 6
    counts = torch.bincount(v + 3, minlength=10).double()
    assert (counts - 5000).abs().max().item() < 5 * math.sqrt(5000 * 0.9)


def test_same_seed_repeats_other_seeds_and_successive_draws_differ() -> None:
    k = Key(11)
    first, second = rng.rand((64,), generator=k), rng.rand((64,), generator=k)
    assert not torch.equal(first, second)
    assert k.offset == 32  # 16 blocks of 4 words per draw
    again = Key(11)
    assert torch.equal(rng.rand((64,), generator=again), first)
    assert torch.equal(rng.rand((64,), generator=again), second)
    assert not torch.equal(rng.rand((64,), generator=Key(12)), first)
    # a draw continues the stream: two draws of 8 are one draw of 16 (whole blocks)
    assert torch.equal(torch.cat([first, second]), rng.rand((128,), generator=Key(11)))
    # the seed's int and tensor forms give the same key
    assert torch.equal(rng.rand((8,), generator=Key(torch.tensor(11))), first[:8])


def test_clone_is_independent() -> None:
    k = Key(5)
    rng.rand((3,), generator=k)
    c = k.clone()
    a = rng.randn((6,), generator=k)
    assert c.offset == 1 and k.offset == 3
    assert torch.equal(rng.randn((6,), generator=c), a)


def _bits(key: Key) -> torch.Tensor:
    return key.bits((8,))


def test_fold_in_is_deterministic_and_differs_per_datum() -> None:
    data = (0, 1, 2, -1, 1 << 40)
    draws = [_bits(Key(0).fold_in(d)) for d in data]
    assert all(torch.equal(a, _bits(Key(0).fold_in(d))) for a, d in zip(draws, data, strict=True))
    assert len({tuple(r) for r in torch.stack(draws).tolist()}) == len(data)
    assert not torch.equal(_bits(Key(0)), draws[0])  # fold_in(0) is not the parent
    assert not torch.equal(_bits(Key(1).fold_in(1)), draws[1])  # the seed matters
    used = Key(0)
    rng.rand((9,), generator=used)
    assert used.fold_in(1).offset == 0
    assert torch.equal(_bits(used.fold_in(1)), draws[1])  # the offset plays no part


def test_fold_in_with_a_tensor_gives_per_example_keys() -> None:
    ids = torch.tensor([3, 4, -5])
    per = Key(9).fold_in(ids)
    assert per.per_example and len(per) == 3
    rows = rng.randn((3, 5), generator=per)
    for b, d in enumerate((3, 4, -5)):
        assert torch.equal(rows[b : b + 1], rng.randn((1, 5), generator=Key(9).fold_in(d)))
    assert torch.equal(Key(9).fold_in(torch.tensor(4)).seed, Key(9).fold_in(4).seed)


@pytest.mark.parametrize(
    "draw",
    [
        lambda s, k: rng.rand(s, generator=k),
        lambda s, k: rng.randn(s, generator=k),
        lambda s, k: rng.randint(0, 1000, s, generator=k),
        lambda s, k: rng.randn_chunked(s, generator=k),
        lambda s, k: rng.normal_(torch.empty(s), generator=k),
        lambda s, k: rng.uniform_(torch.empty(s), generator=k),
    ],
)
def test_per_example_row_is_the_batch_of_one_draw(
    draw: Callable[[tuple[int, ...], Key], torch.Tensor],
) -> None:
    seeds = [17, 3, 99]
    per = Key.from_seeds(seeds)
    draw((3, 2), per)  # the rows keep agreeing after the stream has moved
    batched = draw((3, 5, 3), per)
    for b, s in enumerate(seeds):
        alone = Key(s)
        draw((1, 2), alone)
        assert torch.equal(batched[b : b + 1], draw((1, 5, 3), alone))
        assert alone.offset == per.offset
    sub = per.rows(torch.tensor([2, 0]))
    assert sub.offset == per.offset and torch.equal(sub.seed, per.seed[[2, 0]])


def test_fastrand_key_fills_equal_rng_draws_for_large_fields() -> None:
    shape = (2, rng.CHUNK + 7)  # beyond one chunk: the Key path has no chunking
    assert torch.equal(rng.randn_chunked(shape, generator=Key(4)), rng.randn(shape, generator=Key(4)))
    assert torch.equal(rng.rand_chunked(shape, generator=Key(4)), rng.rand(shape, generator=Key(4)))
    out = torch.empty(shape, dtype=torch.float64)
    assert torch.equal(
        rng.uniform_(out, generator=Key(4)), rng.rand(shape, generator=Key(4), dtype=torch.float64)
    )


def test_compiled_draw_equals_eager_and_advances_the_same() -> None:
    def f(x: torch.Tensor, key: Key) -> torch.Tensor:
        return x + rng.randn(x.shape, generator=key)

    compiled = torch.compile(f, fullgraph=True, backend="inductor")
    x = torch.randn(3, 17, generator=torch.Generator().manual_seed(0))
    kc, ke = Key(torch.tensor(123)), Key(torch.tensor(123))
    for _ in range(2):  # the second call runs at a new offset
        got, want = compiled(x, kc), f(x, ke)
        torch.testing.assert_close(got, want, atol=1e-6, rtol=0)
        assert kc.offset == ke.offset
    assert kc.offset == 2 * math.ceil(3 * 17 / 4)
    other = compiled(x, Key(torch.tensor(124)))
    assert (other - got).abs().min() > 0  # a new seed tensor: new noise, same graph, no error
    torch.testing.assert_close(other, f(x, Key(torch.tensor(124))), atol=1e-6, rtol=0)

    ints = torch.compile(lambda k: rng.randint(0, 1 << 30, (40,), generator=k), fullgraph=True)
    assert torch.equal(ints(Key(torch.tensor(8))), rng.randint(0, 1 << 30, (40,), generator=Key(8)))


def test_key_paths_never_read_a_device_value_on_the_host(read_backs: list[str]) -> None:
    shared, per = Key(torch.tensor(1)), Key(torch.tensor([1, 2]))
    calls = read_backs
    for key, shape in ((shared, (4, 3)), (per, (2, 3))):
        rng.rand(shape, generator=key)
        rng.randn(shape, generator=key, dtype=torch.bfloat16)
        rng.randint(0, 5, shape, generator=key)
        rng.normal_(torch.empty(shape), generator=key)
        seed = rng.draw_seed(key, key.device)
        child = rng.generator_from_seed(seed, key.device, 0, 3)
        assert isinstance(child, Key)
        rng.randn(shape, generator=child)
        key.fold_in(torch.tensor(5)).fold_in(6)
    per.rows(torch.tensor([1]))
    repr(per)
    assert calls == []
    # the spy sees reads when there are some
    int(torch.tensor(3))
    assert calls == ["__int__"]


def test_draw_seed_tags_keys_with_int32_and_generators_with_int64() -> None:
    cpu = torch.device("cpu")
    s = rng.draw_seed(Key(3), cpu)
    assert s.dtype == torch.int32 and s.shape == ()
    per = rng.draw_seed(Key.from_seeds([1, 2, 3]), cpu)
    assert per.dtype == torch.int32 and per.shape == (3,)
    assert isinstance(rng.generator_from_seed(s, cpu), Key)
    child = rng.generator_from_seed(per, cpu, 2)
    assert isinstance(child, Key) and child.per_example and child.offset == 0
    assert torch.equal(child.seed, Key(per).fold_in(2).seed)
    # the int32 seed is drawn from the key's stream: it is the first word, re-signed
    w = Key(3).bits(())
    assert int(s) == (int(w) - (1 << 32) if int(w) >= 1 << 31 else int(w))
    # CPU generators keep the int64 host path (same value as before keys existed)
    g64 = rng.draw_seed(rng.make_generator(0), cpu)
    assert g64.dtype == torch.int64
    assert int(g64) == rng.seed_from_generator(rng.make_generator(0), cpu)
    assert isinstance(rng.generator_from_seed(g64, cpu), torch.Generator)
    assert isinstance(rng.generator_from_seed(torch.tensor([1, 2]), cpu), rng.PerExample)


class _PhiloxLike:
    """A stand-in for a CUDA generator: Philox state (seed, offset) held on the host."""

    device = torch.device("cuda")

    def __init__(self, seed: int, offset: int = 0) -> None:
        self.seed, self.offset = seed, offset

    def initial_seed(self) -> int:
        return self.seed

    def get_offset(self) -> int:
        return self.offset

    def set_offset(self, offset: int) -> None:
        self.offset = offset


def test_a_philox_generator_seeds_kernels_from_its_host_state(read_backs: list[str]) -> None:
    # a CUDA generator's seed and offset are host integers: the kernel seed is derived from them
    # (no device read), the generator moves on, and the same position gives the same seed
    reads = read_backs
    a, b = _PhiloxLike(7, 40), _PhiloxLike(7, 40)
    s1 = rng.draw_seed(a, torch.device("cuda"))  # type: ignore[arg-type]
    s2 = rng.draw_seed(a, torch.device("cuda"))  # type: ignore[arg-type]
    assert reads == [] and s1.dtype == torch.int64 and s1.device.type == "cpu"
    assert a.offset == 48 and int(s1) != int(s2)
    assert int(rng.draw_seed(b, torch.device("cuda"))) == int(s1)  # type: ignore[arg-type]
    assert int(s1) != int(rng.draw_seed(_PhiloxLike(8, 40), torch.device("cuda")))  # type: ignore[arg-type]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_generator_seeds_its_kernels_without_sync() -> None:
    g = torch.Generator(device="cuda").manual_seed(0)
    torch.cuda.set_sync_debug_mode("error")
    try:
        s = rng.draw_seed(g, torch.device("cuda"))
        gen = rng.generator_from_seed(s, "cuda", 1)
        z = rng.randn((4, 8), generator=gen, device="cuda")
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert s.dtype == torch.int64 and isinstance(gen, torch.Generator)
    assert z.device.type == "cuda"


def test_errors_say_what_was_expected() -> None:
    with pytest.raises(ValueError, match="lives on cpu but the draw was asked on meta"):
        rng.randn((2,), generator=Key(0), device="meta")
    with pytest.raises(ValueError, match=r"expected a draw shaped \(3, \.\.\.\), got \(2, 4\)"):
        rng.rand((2, 4), generator=Key.from_seeds([1, 2, 3]))
    with pytest.raises(ValueError, match=r"expected a draw shaped \(3, \.\.\.\), got \(\)"):
        rng.randn((), generator=Key.from_seeds([1, 2, 3]))
    with pytest.raises(ValueError, match=r"0 < high - low < 2\*\*31"):
        rng.randint(0, 1 << 31, (2,), generator=Key(0))
    with pytest.raises(TypeError, match="integer seed tensor"):
        Key(torch.tensor(1.0))
    with pytest.raises(ValueError, match="0-d seed"):
        Key(torch.zeros(2, 2, dtype=torch.int64))
    with pytest.raises(TypeError, match="shared key"):
        len(Key(0))
    with pytest.raises(ValueError, match="one datum per stream"):
        Key.from_seeds([1, 2]).fold_in(torch.tensor([1, 2, 3]))
    with pytest.raises(TypeError, match="floating-point"):
        rng.rand((2,), generator=Key(0), dtype=torch.int64)
