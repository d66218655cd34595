"""The reproductions of issue 13 (dtypes, overflow, NaN gradients, level rounding), one each.

The contract suite (tests/contract) covers these for every transform; these pin the exact
reports so that each stays fixed under its own name.
"""

from __future__ import annotations

import warnings
from contextlib import nullcontext

import pytest
import torch

import mmnoise as mm
import mmnoise.functional as F
from tests.strategies import as_on_cuda


def _g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize(
    "make",
    [mm.LowPass, mm.HighPass, mm.BandPass, mm.Codec, mm.Reverb, mm.AddColoredSNR],
    ids=lambda c: c.__name__,
)
def test_half_waveforms_run_and_level_zero_is_an_identity(make, dtype) -> None:  # type: ignore[no-untyped-def]
    x = torch.randn(2, 1, 64, generator=_g()).to(dtype)
    t = make("a")
    assert torch.equal(t({"a": x}, level=0.0)["a"], x)
    y = t({"a": x}, level=1.0, generator=_g())["a"]
    assert y.dtype == dtype and bool(torch.isfinite(y).all()) and not torch.equal(y, x)


def test_half_energies_do_not_overflow() -> None:
    x = (torch.randn(2, 8, 4, generator=_g()) * 100).half()  # squares sum past float16's max
    y = mm.AddGaussianSNR("a", snr_db=(10.0, 10.0))({"a": x}, generator=_g())["a"]
    assert bool(torch.isfinite(y).all())
    snr = 10 * torch.log10(x.double().square().sum() / (y.double() - x.double()).square().sum())
    assert abs(float(snr) - 10.0) < 0.5


def test_float32_near_its_largest_values_stays_finite_with_padding() -> None:
    x = torch.full((2, 4, 3), 1e30)
    x[1, 2:] = 0.0
    out = mm.AddGaussianSNR("a", snr_db=(-5.0, -5.0))(
        {"a": x, "lengths": {"a": torch.tensor([4, 2])}}, generator=_g()
    )["a"]
    assert bool(torch.isfinite(out).all()) and torch.equal(out[1, 2:], x[1, 2:])
    big = torch.full((1, 4, 2), torch.finfo(torch.float16).max / 4).half()
    assert bool(torch.isfinite(mm.ImpulseNoise("a")({"a": big}, generator=_g())["a"]).all())


def test_quantize_constant_half_example_is_unchanged() -> None:
    x = torch.full((1, 5, 2), 0.25, dtype=torch.float16)
    assert torch.equal(F.quantize(x, bits=torch.tensor([3.0])), x)


@pytest.mark.parametrize("level", [0.0, 1.0])
def test_impulse_noise_on_silence_has_finite_gradients(level: float) -> None:
    x = torch.zeros(1, 3, 2, requires_grad=True)
    mm.ImpulseNoise("a")({"a": x}, level=level, generator=_g())["a"].sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())
    if level == 0.0:
        assert torch.equal(x.grad, torch.ones_like(x))


@pytest.mark.parametrize("level", [1e-50, torch.tensor(1e-50, dtype=torch.float64)])
def test_a_level_that_is_zero_in_float32_is_an_identity_everywhere(level) -> None:  # type: ignore[no-untyped-def]
    x = torch.randn(2, 4, 3, generator=_g()).half()
    t = mm.Gain("a")
    out, rec = t.run({"a": x}, level=level, generator=_g())
    assert torch.equal(out["a"], x)
    assert not bool(rec["keys"]["a"]["applied"].any())
    assert torch.equal(t.replay({"a": x}, rec)["a"], out["a"])


@pytest.mark.parametrize(
    ("make", "dtype"),
    [
        (lambda: mm.MotionBlur("v", length=(9.0, 9.0)), torch.float32),
        (lambda: mm.DefocusBlur("v", radius=(4.0, 4.0)), torch.float32),
        (lambda: mm.GaussianBlur("v", sigma_px=(3.0, 3.0)), torch.float32),
        (lambda: mm.ResolutionDrop("v", scale=(0.3, 0.3)), torch.float16),
    ],
)
def test_blurred_frames_stay_in_the_unit_interval(make, dtype) -> None:  # type: ignore[no-untyped-def]
    x = torch.ones(1, 1, 3, 16, 16)
    x[..., ::2, :] = 0.999
    y = make()({"v": x.to(dtype)}, generator=_g())["v"]
    assert bool(((y >= 0) & (y <= 1)).all()), float(y.max())


def test_babble_of_silent_talkers_is_recorded_and_warned() -> None:
    x = torch.zeros(2, 1, 16)
    x[0] = 1.0  # example 0 is loud; its only candidate talker (example 1) is silent
    t = mm.Babble("a", num_speakers=(1, 1), snr_db=(0.0, 0.0))
    with pytest.warns(UserWarning, match="digital silence"):
        out, rec = t.run({"a": x}, level=1.0, generator=_g())
    assert torch.equal(out["a"], x)
    assert rec["keys"]["a"]["snr_reached"].tolist() == [False, True]  # silence needs no noise


def test_babble_reaches_the_snr_whenever_one_candidate_talker_is_loud() -> None:
    x = torch.zeros(3, 1, 32)
    x[0], x[1] = torch.randn(32, generator=_g()), torch.randn(32, generator=_g(1))
    loud = torch.tensor([True, True, False])
    # level 0.2: one talker used out of three candidates; a silent one is replaced by a loud one
    t = mm.Babble("a", num_speakers=(1, 3), snr_db=(0.0, 0.0))
    for seed in range(8):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the all-silent draws warn; checked above
            out, rec = t.run({"a": x}, level=0.2, generator=_g(seed))
        entry = rec["keys"]["a"]
        assert entry["params"]["num_speakers"].tolist() == [1, 1, 1]
        hearable = loud[entry["params"]["source"]].any(dim=1)
        assert torch.equal(entry["snr_reached"], hearable | ~loud)
        snr = 10 * torch.log10(x.square().sum((1, 2)) / (out["a"] - x).square().sum((1, 2)))
        assert torch.allclose(snr[hearable & loud], torch.zeros(1), atol=1e-3)


# -- the audit's reproductions (second round) ------------------------------------------------
def _snr_db(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    xd, nd = x.double(), (y - x).double()
    return 10 * torch.log10(xd.square().flatten(1).sum(1) / nd.square().flatten(1).sum(1))


@pytest.mark.parametrize("make", [mm.AddGaussianSNR, mm.AddColoredSNR], ids=lambda c: c.__name__)
def test_snr_noise_reaches_the_snr_on_quiet_signals(make) -> None:  # type: ignore[no-untyped-def]
    # squares of 1e-23 underflow in float32: the norm is taken on x / peak instead
    x = torch.randn(2, 16, 3, generator=_g()) * 1e-23
    out, rec = make("a", snr_db=(10.0, 10.0)).run({"a": x}, generator=_g(1))
    assert bool(rec["keys"]["a"]["applied"].all())
    torch.testing.assert_close(
        _snr_db(x, out["a"]), torch.full((2,), 10.0, dtype=torch.float64), rtol=0, atol=1e-3
    )


@pytest.mark.parametrize("make", [mm.AddGaussianSNR, mm.AddColoredSNR], ids=lambda c: c.__name__)
def test_snr_noise_under_half_the_smallest_subnormal_rounds_to_zero(make) -> None:  # type: ignore[no-untyped-def]
    info = torch.finfo(torch.bfloat16)
    x = torch.full((1, 1, 1), info.smallest_normal * info.eps, dtype=torch.bfloat16)  # 9.2e-41
    # 12.5 dB: noise of 0.24 step, which rounds to 0: the example is unchanged, not applied
    out, rec = make("a", snr_db=(12.5, 12.5)).run({"a": x}, generator=_g())
    assert torch.equal(out["a"], x) and not bool(rec["keys"]["a"]["applied"].any())
    # -5 dB: noise of 1.78 steps is representable: added and applied
    out, rec = make("a", snr_db=(-5.0, -5.0)).run({"a": x}, generator=_g())
    assert not torch.equal(out["a"], x) and bool(rec["keys"]["a"]["applied"].all())


@pytest.mark.parametrize("device_path", [False, True], ids=["host", "device-path"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("make", [mm.AddGaussianSNR, mm.AddColoredSNR], ids=lambda c: c.__name__)
def test_snr_noise_on_a_signal_a_few_subnormal_steps_high(make, dtype, device_path) -> None:  # type: ignore[no-untyped-def]
    # the device path scaled the noise by ||x|| / ||n|| * amp, itself a subnormal that rounded
    # to 0: no noise at all; the peak is now applied last there too, as on the host
    info = torch.finfo(dtype)
    step = info.smallest_normal * info.eps
    x = (torch.tensor([-3.0, 0, 1, 0, 0, 3], dtype=torch.float64) * step).to(dtype)[None, :, None]
    with as_on_cuda() if device_path else nullcontext():
        out, rec = make("a", snr_db=(7.5, 7.5)).run({"a": x}, generator=_g())
    assert bool(rec["keys"]["a"]["applied"].all())
    # the noise is whole steps: the SNR (counted in steps: squares of float64 subnormals are 0)
    # is reached to within their rounding
    assert abs(float(_snr_db(x.double() / step, out["a"].double() / step)[0]) - 7.5) < 3.0


@pytest.mark.parametrize("make", [mm.AddGaussianSNR, mm.AddColoredSNR], ids=lambda c: c.__name__)
def test_snr_noise_on_huge_values_with_padding(make) -> None:  # type: ignore[no-untyped-def]
    # Inf energy on padding times 0 was NaN and silently skipped both examples
    top = torch.finfo(torch.float32).max / 4
    x = torch.full((2, 4, 2), top) * torch.tensor([1.0, -1.0])[:, None, None]
    s = {"a": x, "lengths": {"a": torch.tensor([1, 3])}}
    out, rec = make("a", snr_db=(0.0, 0.0)).run(s, generator=_g())
    assert bool(torch.isfinite(out["a"]).all()) and bool(rec["keys"]["a"]["applied"].all())
    assert torch.equal(out["a"][0, 1:], x[0, 1:])  # padding untouched


def test_babble_of_subnormal_talkers_is_finite() -> None:
    x = torch.tensor([[[4.5e-39]], [[-8.6e-40]]])
    y = mm.Babble("a")({"a": x}, generator=_g())["a"]
    assert bool(torch.isfinite(y).all())


def test_codec_gradient_is_finite_on_subnormal_input() -> None:
    x = torch.full((1, 1, 4), 1e-40, requires_grad=True)
    mm.Codec("a")({"a": x}, generator=_g())["a"].sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())


def test_reverb_gradient_equals_the_unscaled_one_and_stays_finite_near_the_top() -> None:
    # reverb is homogeneous of degree 1: its gradient does not depend on the scale of x
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 1, 64, generator=g)
    t = mm.Reverb("a", ir_bank=torch.rand(2, 16, generator=g))
    grads = []
    for scale in (1.0, torch.finfo(torch.float32).max / 64):
        xs = (x * scale).requires_grad_()
        t({"a": xs}, generator=_g())["a"].mul(torch.linspace(-1, 1, 64)).sum().backward()
        assert xs.grad is not None and bool(torch.isfinite(xs.grad).all())
        grads.append(xs.grad)
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-3, atol=1e-4)


def test_a_noised_frames_modality_stays_in_unit_range() -> None:
    v = torch.rand(3, 2, 3, 4, 4, generator=_g())
    drop = mm.DropModalities(["v", "a"], patterns=[{"v": False, "a": True}], fill="noise")
    out = drop({"v": v, "a": torch.randn(3, 4, 2)}, level=0.5, generator=_g())
    assert not bool(out["present"]["v"].any()) and not torch.equal(out["v"], v)  # filled
    assert bool(((out["v"] >= 0) & (out["v"] <= 1)).all())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_safe_sqrt_gives_the_same_values_with_and_without_a_graph(dtype: torch.dtype) -> None:
    from mmnoise.functional._shape import safe_sqrt

    v = torch.tensor([4.0, 0.0, float("nan"), float("inf"), -1.0, 1e-30]).to(dtype)
    plain = safe_sqrt(v)  # no graph: the two-op path
    leaf = v.clone().requires_grad_()
    graphed = safe_sqrt(leaf)
    assert torch.equal(plain, graphed.detach())
    assert plain[:5].tolist() == [2.0, 0.0, 0.0, float("inf"), 0.0]
    graphed[[0, 1, 2, 4]].sum().backward()  # gradient 0 (not inf or NaN) at 0, NaN and below
    assert leaf.grad is not None and leaf.grad[[1, 2, 4]].tolist() == [0.0, 0.0, 0.0]
