"""Statistical quality and determinism of the chunked parallel random fields (mmnoise.rng).

Bounds are 5 standard errors of the statistic under the null hypothesis (iid N(0, 1) or
U[0, 1)), so a correct generator fails a test with probability below ~1e-6 per check, while a
repeated, shifted or correlated chunk stream fails them by orders of magnitude.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import torch
import torchaudio.functional as AF

from mmnoise import rng as R
from mmnoise.functional import features as F

C = R.CHUNK


def _g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def field() -> torch.Tensor:
    # 32 chunks plus a ragged tail: the chunked path, with the tail chunk shorter than CHUNK
    return R.randn_chunked((32 * C + 777,), generator=_g(3), dtype=torch.float64)


def test_field_does_not_depend_on_the_number_of_threads() -> None:
    shape = (5, C + 1001)  # 5 chunks and a tail, not aligned to rows
    fields = [R.randn_chunked(shape, generator=_g(1), workers=w) for w in (1, 2, 3, 7)]
    assert all(torch.equal(fields[0], f) for f in fields[1:])
    uniform = [R.rand_chunked(shape, generator=_g(1), workers=w) for w in (1, 4)]
    assert torch.equal(uniform[0], uniform[1])


def test_same_generator_state_same_field_and_the_generator_advances() -> None:
    g = _g(5)
    a, b = R.randn_chunked((3 * C,), generator=g), R.randn_chunked((3 * C,), generator=g)
    assert torch.equal(a, R.randn_chunked((3 * C,), generator=_g(5)))
    assert not torch.equal(a, b)


def test_small_fields_are_exactly_torch_draws() -> None:
    assert torch.equal(R.randn_chunked((7, 9), generator=_g(2)), torch.randn(7, 9, generator=_g(2)))
    assert torch.equal(R.rand_chunked((C,), generator=_g(2)), torch.rand(C, generator=_g(2)))


def test_gaussian_moments(field: torch.Tensor) -> None:
    n = field.numel()
    z = field
    mean, var = z.mean().item(), z.var(correction=0).item()
    skew = (z - mean).pow(3).mean().item() / var**1.5
    kurt = (z - mean).pow(4).mean().item() / var**2
    assert abs(mean) < 5 / math.sqrt(n)
    assert abs(var - 1) < 5 * math.sqrt(2 / n)
    assert abs(skew) < 5 * math.sqrt(6 / n)
    assert abs(kurt - 3) < 5 * math.sqrt(24 / n)
    # tails: P(|z| > 3) = 0.0027
    tail = (z.abs() > 3).double().mean().item()
    assert abs(tail - 0.0027) < 5 * math.sqrt(0.0027 / n)


def test_uniform_moments_and_range() -> None:
    u = R.rand_chunked((16 * C,), generator=_g(4), dtype=torch.float64)
    n = u.numel()
    assert bool((u >= 0).all()) and bool((u < 1).all())
    assert abs(u.mean().item() - 0.5) < 5 * math.sqrt(1 / 12 / n)
    assert abs(u.var().item() - 1 / 12) < 5 * math.sqrt(1 / 180 / n)
    counts = torch.histc(u, bins=16, min=0, max=1)  # uniform over the bins
    assert (counts - n / 16).abs().max().item() < 5 * math.sqrt(n / 16)


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()))


def test_no_correlation_between_examples() -> None:
    # a (B, T, D) feature batch: examples must be independent of each other
    x = R.randn_chunked((24, 50, 1300), generator=_g(6), dtype=torch.float64).reshape(24, -1)
    z = (x - x.mean(dim=1, keepdim=True)) / x.std(dim=1, keepdim=True)
    corr = z @ z.T / z.shape[1]
    off = corr[~torch.eye(24, dtype=torch.bool)]
    assert off.abs().max().item() < 5 / math.sqrt(z.shape[1])


def test_no_correlation_along_time(field: torch.Tensor) -> None:
    n = field.numel()
    for lag in (1, 2, 3, 16, 1000, C - 1, C, C + 1):
        r = _corr(field[:-lag], field[lag:])
        assert abs(r) < 5 / math.sqrt(n - lag), (lag, r)


def test_chunks_are_not_shifted_or_repeated_copies_of_each_other(field: torch.Tensor) -> None:
    chunks = field[: 32 * C].reshape(32, C)
    # neighbouring chunks at small shifts (a shared or overlapping stream would show r = 1)
    z = (chunks - chunks.mean(dim=1, keepdim=True)) / chunks.std(dim=1, keepdim=True)
    for shift in range(-8, 9):
        a = z[:-1, max(0, shift) : C + min(0, shift)]
        b = z[1:, max(0, -shift) : C + min(0, -shift)]
        r = (a * b).mean(dim=1)  # 31 neighbour pairs at once
        assert r.abs().max().item() < 5.5 / math.sqrt(C), (shift, r.abs().max().item())
    # the pairs that straddle a chunk boundary behave like any other neighbours
    last, first = chunks[:-1, -64:].reshape(-1), chunks[1:, :64].reshape(-1)
    assert abs(_corr(last, first)) < 5 / math.sqrt(last.numel())
    assert len({round(v, 12) for v in chunks[:, 0].tolist()}) == 32


def test_chunk_seeds_are_distinct_and_depend_on_the_base() -> None:
    seeds = R.chunk_seeds(123, 100_000)
    assert len(set(seeds)) == len(seeds) and all(0 <= s < 2**32 for s in seeds)
    assert R.chunk_seeds(124, 4) != seeds[:4]


def test_bad_buffers_are_rejected() -> None:
    with pytest.raises(ValueError, match="contiguous"):
        R.normal_(torch.empty(4, 2 * C).t(), generator=_g())
    with pytest.raises(TypeError, match="floating-point"):
        R.uniform_(torch.empty(8, dtype=torch.int64), generator=_g())


# -- the kernels built on it -------------------------------------------------------------------


def test_large_gaussian_snr_is_exact_pads_untouched_and_thread_independent(threads: None) -> None:
    x = torch.randn(3, 40, 1000, generator=_g(7))  # 120k elements: the chunked path
    lengths = torch.tensor([40, 25, 1])
    snr = torch.tensor([0.0, 10.0, -5.0])
    torch.set_num_threads(1)
    y1 = F.add_gaussian_snr(x, snr_db=snr, lengths=lengths, generator=_g(8))
    torch.set_num_threads(2)
    y2 = F.add_gaussian_snr(x, snr_db=snr, lengths=lengths, generator=_g(8))
    assert torch.equal(y1, y2)
    valid = (torch.arange(40)[None, :] < lengths[:, None])[:, :, None]
    assert torch.equal(y1[~valid.expand_as(x)], x[~valid.expand_as(x)])
    xs, ns = (x * valid).double(), ((y1 - x) * valid).double()
    measured = 10 * torch.log10(xs.pow(2).sum((1, 2)) / ns.pow(2).sum((1, 2)))
    assert torch.allclose(measured, snr.double(), atol=1e-3)


def test_add_noise_snr_matches_torchaudio_add_noise() -> None:
    g = _g(9)
    x, n = torch.randn(4, 12, 5, generator=g), torch.randn(4, 12, 5, generator=g)
    lengths, snr = torch.tensor([12, 7, 1, 3]), torch.tensor([3.0, -2.0, 20.0, 0.0])
    valid = (torch.arange(12)[None, :] < lengths[:, None])[:, :, None]
    expected = AF.add_noise(x.reshape(4, -1), (n * valid).reshape(4, -1), snr, lengths * 5).reshape(
        x.shape
    )
    got = F.add_noise_snr(x, n, snr_db=snr, lengths=lengths)
    assert torch.allclose(got, expected, atol=1e-5)


def test_gaussian_snr_gradient_flows_through_the_chunked_path() -> None:
    x = torch.randn(2, 10, 4000, generator=_g(10), requires_grad=True)
    y = F.add_gaussian_snr(x, snr_db=torch.tensor([5.0, 5.0]), generator=_g(11))
    y.sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())


def test_impulse_signs_are_balanced_with_one_draw() -> None:
    x = torch.zeros(4, 500, 40) + torch.randn(4, 1, 40, generator=_g(12))
    y = F.impulse_noise(x, fraction=torch.full((4,), 0.2), generator=_g(13))
    mean = x.mean(dim=(1, 2), keepdim=True)
    hit = y != x
    up = ((y > mean) & hit).sum().item()
    total = hit.sum().item()
    assert abs(total / x.numel() - 0.2) < 5 * math.sqrt(0.16 / x.numel())
    assert abs(up / total - 0.5) < 5 * math.sqrt(0.25 / total)


def test_the_old_module_path_still_gives_the_same_functions() -> None:
    # one randomness module (mmnoise.rng); mmnoise.functional._fastrand re-exports it
    from mmnoise.functional import _fastrand

    assert _fastrand.randn is R.randn_chunked and _fastrand.rand is R.rand_chunked
    assert _fastrand.normal_ is R.normal_ and _fastrand.uniform_ is R.uniform_
    assert _fastrand.CHUNK == R.CHUNK and _fastrand.chunk_seeds is R.chunk_seeds
