"""Per-op invariants of the feature / sequence kernels (myrtlespeech-style, one invariant each)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mmnoise.functional as F
from mmnoise.transforms import DiffusionNoise

seeds = st.integers(0, 2**31 - 1)


@st.composite
def spans(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    b, t = draw(st.integers(1, 4)), draw(st.integers(1, 30))
    lengths = torch.tensor(draw(st.lists(st.integers(1, t), min_size=b, max_size=b)))
    start = torch.tensor(draw(st.lists(st.floats(0, 0.999), min_size=b, max_size=b)))
    width = torch.tensor(draw(st.lists(st.floats(0, 1), min_size=b, max_size=b)))
    x = torch.randn(b, t, 2) + 10.0  # no entry equals the fill value
    return x, lengths, start, width


@given(spans())
def test_time_mask_is_one_contiguous_span_of_the_requested_width(args) -> None:  # type: ignore[no-untyped-def]
    x, lengths, start, width = args
    y = F.time_mask(x, start=start, width_fraction=width, lengths=lengths)
    masked = (y == 0).all(dim=2)
    for i in range(x.shape[0]):
        idx = masked[i].nonzero().flatten()
        assert len(idx) == int(torch.round(width[i] * lengths[i]))
        if len(idx):
            assert idx.max() < lengths[i] and int(idx.max() - idx.min()) == len(idx) - 1


DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]


@settings(max_examples=30)
@given(spans(), st.sampled_from(DTYPES), st.booleans(), st.sampled_from([0.0, -2.5]))
def test_masks_in_place_box_by_box_equal_the_masked_pass(  # type: ignore[no-untyped-def]
    args, dtype: torch.dtype, transposed: bool, fill: float
) -> None:
    # in place on the CPU, big examples take fill_boxes for the band (one fill_ per example);
    # the same call on a graph-recording copy takes the masked pass: both must give the same
    # values (TimeMask keeps its masked pass in place: checked against out of place here too)
    x, lengths, start, width = args
    b, t, _ = x.shape
    feats = F._shape.BOX_MIN_ELEMENTS // t + 1  # enough elements per example for the box path
    x = (torch.randn(b, feats, t) if transposed else torch.randn(b, t, feats)).to(dtype)
    x = x.transpose(1, 2) if transposed else x  # a non-contiguous (B, T, D) view
    lengths = lengths if bool(lengths.sum() % 2) else None
    for fn in (F.feature_mask, F.time_mask):
        kw = {"start": start, "width_fraction": width, "lengths": lengths, "fill": fill}
        assert F._shape.writes_boxes(x)
        boxed = fn(x.clone(), inplace=True, **kw)
        masked = fn(x.clone().requires_grad_(), **kw).detach()  # a graph: the masked pass
        assert boxed.dtype == dtype and torch.equal(boxed, masked), fn.__name__
        before = x.clone()
        assert torch.equal(fn(x, **kw), masked)  # out of place (a band with lengths: boxes too)
        assert torch.equal(x, before)  # ... and x unchanged


@given(spans())
def test_frame_freeze_repeats_the_step_before_the_span(args) -> None:  # type: ignore[no-untyped-def]
    x, lengths, start, width = args
    y = F.frame_freeze(x, start=start, width_fraction=width, lengths=lengths)
    mask = F.time_mask(x, start=start, width_fraction=width, lengths=lengths)[..., 0] == 0
    for i in range(x.shape[0]):
        idx = mask[i].nonzero().flatten()
        if len(idx):
            src = max(int(idx.min()) - 1, 0)
            assert torch.equal(y[i, idx], x[i, src].expand(len(idx), -1))
        assert torch.equal(y[i, ~mask[i]], x[i, ~mask[i]])


@given(spans(), st.floats(-1, 1))
def test_time_shift_is_a_clamped_translation(args, ratio: float) -> None:  # type: ignore[no-untyped-def]
    x, lengths, _, _ = args
    y = F.time_shift(x, shift_fraction=torch.full((x.shape[0],), ratio), lengths=lengths)
    for i in range(x.shape[0]):
        n = int(lengths[i])
        s = round(ratio * n)
        for t in range(n):
            assert torch.equal(y[i, t], x[i, min(max(t - s, 0), n - 1)])


@given(st.integers(1, 8), seeds)
def test_quantize_uses_at_most_two_pow_bits_levels(bits: int, seed: int) -> None:
    x = torch.randn(2, 64, 3, generator=torch.Generator().manual_seed(seed))
    y = F.quantize(x, bits=torch.full((2,), float(bits)))
    for i in range(2):
        assert y[i].unique().numel() <= 2**bits
        assert y[i].min() >= x[i].min() - 1e-5 and y[i].max() <= x[i].max() + 1e-5


@given(seeds)
@settings(max_examples=10)
def test_frame_dropout_rate_matches_ratio(seed: int) -> None:
    x = torch.randn(50, 200, 1) + 10.0
    y = F.frame_dropout(
        x, fraction=torch.full((50,), 0.3), generator=torch.Generator().manual_seed(seed)
    )
    assert abs((y == 0).float().mean().item() - 0.3) < 0.02


def test_colored_noise_has_the_requested_spectral_slope() -> None:
    x = torch.ones(64, 256, 1)
    lows, highs = [], []
    for exponent in (0.0, 1.0, 2.0):
        n = (
            F.add_colored_snr(
                x,
                snr_db=torch.zeros(64),
                exponent=exponent,
                generator=torch.Generator().manual_seed(0),
            )
            - x
        )
        power = torch.fft.rfft(n[..., 0], dim=1).abs().pow(2).mean(dim=0)
        lows.append(power[1:9].mean().item())
        highs.append(power[-64:].mean().item())
    ratio = [lo / hi for lo, hi in zip(lows, highs, strict=True)]
    assert ratio[0] < 3 < ratio[1] < ratio[2]  # white is flat; pink, then brown tilt to low f


@pytest.mark.parametrize("kind", ["linear", "scaled_linear", "cosine", "sigmoid"])
def test_beta_schedules_are_increasing_valid_and_hit_endpoints(kind: str) -> None:
    betas = F.beta_schedule(kind, 100, beta_start=0.01, beta_end=0.5)  # type: ignore[arg-type]
    assert betas.shape == (100,) and bool((betas > 0).all()) and bool((betas < 1).all())
    assert bool((betas[1:] >= betas[:-1] - 1e-12).all())
    abar = F.alpha_bar(betas)
    assert bool((abar[1:] < abar[:-1]).all())
    if kind != "cosine":  # the sigmoid only approaches its endpoints (sigmoid(6) = 0.9975)
        tol = 0.02 * 0.49 if kind == "sigmoid" else 1e-9
        assert betas[0].item() == pytest.approx(0.01, abs=tol)
        assert betas[-1].item() == pytest.approx(0.5, abs=tol)


def test_diffusion_step_and_signal_fraction_follow_level() -> None:
    t = DiffusionNoise("a", num_steps=100)
    x = torch.randn(5, 4, 3)
    abar = t.make_params(x, torch.tensor([0.01, 0.2, 0.5, 0.8, 1.0]), generator=None)["alpha_bar"]
    assert bool((abar[1:] < abar[:-1]).all())
    expected = F.alpha_bar(F.beta_schedule("scaled_linear", 100))[[0, 19, 49, 79, 99]].float()
    assert torch.allclose(abar, expected)


def test_diffusion_impulse_fraction_outside_0_1_is_refused() -> None:
    with pytest.raises(ValueError, match=r"DiffusionNoise: expected impulse_fraction in \[0, 1\]"):
        DiffusionNoise("a", noise="impulse", impulse_fraction=30.0)  # a percentage, not a share


def test_diffusion_noise_moments() -> None:
    x = torch.zeros(4, 500, 50)
    y = F.diffusion_noise(
        x, alpha_bar=torch.full((4,), 0.36), generator=torch.Generator().manual_seed(0)
    )
    assert abs(y.std().item() - 0.8) < 0.01 and abs(y.mean().item()) < 0.01
    imp = F.diffusion_noise(
        x,
        alpha_bar=torch.zeros(4),
        noise="impulse",
        impulse_fraction=0.3,
        generator=torch.Generator().manual_seed(0),
    )
    assert set(imp.unique().tolist()) <= {-1.0, 0.0, 1.0}
    assert abs((imp != 0).float().mean().item() - 0.3) < 0.01


def test_impulse_noise_hits_ratio_with_salt_and_pepper_values() -> None:
    x = torch.randn(8, 400, 4, generator=torch.Generator().manual_seed(1))
    y = F.impulse_noise(
        x, fraction=torch.full((8,), 0.1), amplitude=3.0, generator=torch.Generator().manual_seed(2)
    )
    hit = y != x
    assert abs(hit.float().mean().item() - 0.1) < 0.01
    mean, std = x.mean(dim=(1, 2)), x.std(dim=(1, 2), correction=0)
    dev = ((y - mean[:, None, None]) / std[:, None, None])[hit].abs()
    assert torch.allclose(dev, torch.full_like(dev, 3.0), atol=1e-4)


def test_add_noise_snr_leaves_silent_examples_silent() -> None:
    x = torch.zeros(2, 5, 3)
    y = F.add_gaussian_snr(x, snr_db=torch.tensor([0.0, 10.0]), generator=torch.Generator())
    assert torch.equal(y, x)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("time_dim", [1, 2])
def test_snr_with_full_lengths_sums_energies_step_by_step(dtype: torch.dtype, time_dim: int) -> None:
    # lengths that cover every step skip the mask and the padding copy on the CPU, but keep
    # the masked path's numbers: the norms summed step by step, not one flat vector_norm
    x = torch.randn(3, 7, 9, generator=torch.Generator().manual_seed(0), dtype=dtype)
    snr = torch.tensor([5.0, -3.0, 20.0])
    lengths = torch.full((3,), x.shape[time_dim])
    y = F.add_gaussian_snr(x, snr_db=snr, generator=torch.Generator().manual_seed(1),
                           lengths=lengths, time_dim=time_dim)  # fmt: skip
    n = torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
    other = 3 - time_dim

    def norm(v: torch.Tensor) -> torch.Tensor:
        return torch.linalg.vector_norm(v, dim=other).square().sum(dim=1).sqrt()

    a = norm(x) / norm(n) * torch.pow(10.0, -snr.to(dtype) / 20.0)
    assert torch.equal(y, torch.addcmul(x, n, a[:, None, None]))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize("length", [1, 2])
def test_snr_with_a_huge_signal_and_a_small_noise_norm_stays_finite(
    dtype: torch.dtype, length: int
) -> None:
    # ||x|| / ||n|| overflows the dtype although the mix x + a n does not: the plain path must
    # not take the overflowed scale (Inf, then NaN in MERNoiseMix's rescale); found by the
    # contract suite on a bfloat16 8.5e37 waveform and a noise sample of 0.12
    top = torch.finfo(dtype).max
    x = torch.tensor([[[0.25 * top, -0.125 * top]]]).to(dtype)[..., :length]
    n = torch.tensor([[[0.12, -0.06]]]).to(dtype)[..., :length]  # proportional to x
    snr = torch.tensor([5.0])
    y = F.add_noise_snr(x, n, snr_db=snr, time_dim=2)
    assert bool(torch.isfinite(y).all())
    # the noise has the signal's shape here, so y = x (1 + 10 ** (-snr / 20)) exactly in reals
    want = x.double() * (1 + 10 ** (-5.0 / 20))
    assert torch.allclose(y.double(), want, rtol=2 * torch.finfo(dtype).eps, atol=0.0)
