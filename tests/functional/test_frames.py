"""Per-op invariants of the frame kernels and transforms (issue 3, items 2 and 6)."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as NF
from hypothesis import given, settings
from hypothesis import strategies as st

from mmnoise.functional import frames as F
from mmnoise.transforms import frames as T

seeds = st.integers(0, 2**31 - 1)


def _frames(seed: int, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


def _high_freq_energy(x: torch.Tensor) -> torch.Tensor:
    """Per-example spectral energy above half the Nyquist frequency (either axis)."""
    spec = torch.fft.fft2(x - x.mean(dim=(-2, -1), keepdim=True)).abs().square()
    fy = torch.fft.fftfreq(x.shape[-2]).abs()[:, None]
    fx = torch.fft.fftfreq(x.shape[-1]).abs()[None, :]
    high = (fy > 0.25) | (fx > 0.25)
    return (spec * high).flatten(1).sum(1)


ALL_FRAME_OPS = [
    T.GaussianNoise,
    T.ShotNoise,
    T.GaussianBlur,
    T.MotionBlur,
    T.DefocusBlur,
    T.Occlusion,
    T.JPEG,
    T.Brightness,
    T.Contrast,
    T.LowLight,
    T.ResolutionDrop,
    T.PyramidBlur,
]


@settings(max_examples=6)  # kornia's codec costs ~30 ms a call
@given(
    seed=seeds,
    quality=st.floats(1.0, 100.0),
    channels=st.sampled_from([1, 3]),
    side=st.integers(4, 24),
)
def test_jpeg_output_stays_in_unit_range(
    seed: int, quality: float, channels: int, side: int
) -> None:
    x = _frames(seed, (2, 2, channels, side, side + 3))
    x[0, 0] = 0.0  # saturated frames are where a codec overshoots
    x[1, 1] = 1.0
    y = F.jpeg(x, quality=torch.tensor([quality, quality]))
    assert y.shape == x.shape and y.dtype == x.dtype
    assert bool(((y >= 0) & (y <= 1)).all())


def test_jpeg_error_grows_as_quality_drops() -> None:
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    img = 0.5 + 0.4 * torch.sin(xx / 3) * torch.cos(yy / 5)
    x = img.expand(3, 3, 32, 32)[None]  # one clip of 3 identical RGB frames
    errs = [
        float((F.jpeg(x, quality=torch.tensor([q])) - x).square().mean())
        for q in (95.0, 50.0, 10.0)
    ]
    assert errs[0] < errs[1] < errs[2]


def test_jpeg_rejects_other_channel_counts() -> None:
    with pytest.raises(ValueError, match="C = 3 or 1"):
        F.jpeg(torch.rand(1, 1, 2, 8, 8), quality=torch.tensor([50.0]))


@settings(max_examples=20)
@given(
    seed=seeds,
    area=st.floats(0.0, 0.5),
    aspect=st.floats(0.5, 2.0),
    side=st.integers(8, 40),
    cy=st.floats(0.0, 0.999),
    cx=st.floats(0.0, 0.999),
)
def test_erased_area_matches_the_requested_ratio(
    seed: int, area: float, aspect: float, side: int, cy: float, cx: float
) -> None:
    x = _frames(seed, (1, 2, 3, side, side)) * 0.9 + 0.1  # never equal to the fill 0
    y = F.occlusion(
        x,
        fraction=torch.tensor([area]),
        aspect=torch.tensor([aspect]),
        center_y=torch.tensor([cy]),
        center_x=torch.tensor([cx]),
    )
    covered = (y == 0).all(dim=2).flatten(2).sum(-1).float()  # (B, T) covered pixels
    target = area * side * side
    # each side is rounded to the nearest pixel: |h w - a H W| <= (h0 + w0) / 2 + 1 / 4
    h0, w0 = math.sqrt(target * aspect), math.sqrt(target / aspect)
    assert bool(((covered - target).abs() <= (h0 + w0) / 2 + 0.25 + 1e-6).all())
    # one box per clip: both frames are covered at the same place
    assert torch.equal(y[0, 0] == 0, y[0, 1] == 0)
    # the rest of the frame is untouched
    outside = (y != 0).all(dim=2, keepdim=True).expand_as(x)
    assert torch.equal(y[outside], x[outside])


@pytest.mark.parametrize("level", [0.2, 0.6, 1.0])
def test_occlusion_level_maps_to_covered_fraction(level: float) -> None:
    x = torch.rand(8, 1, 1, 32, 32, generator=torch.Generator().manual_seed(0)) + 0.1
    t = T.Occlusion("v", fraction=(0.0, 0.25), aspect=(1.0, 1.0))
    y = t({"v": x}, level=level, generator=torch.Generator().manual_seed(1))["v"]
    fraction = (y == 0).float().mean(dim=(1, 2, 3, 4))
    side = round(math.sqrt(0.25 * level * 32 * 32))
    assert torch.allclose(fraction, torch.full((8,), side * side / 1024.0))


def test_occlusion_per_frame_moves_the_box() -> None:
    x = torch.ones(1, 6, 1, 24, 24)
    g = torch.Generator().manual_seed(0)
    static = T.Occlusion("v")({"v": x}, generator=g)["v"]
    moving = T.Occlusion("v", per_frame=True)({"v": x}, generator=g)["v"]
    assert all(torch.equal(static[0, 0], static[0, i]) for i in range(6))
    assert not all(torch.equal(moving[0, 0], moving[0, i]) for i in range(6))


@pytest.mark.parametrize(
    "kernel, param",
    [
        (F.gaussian_blur, {"sigma_px": 1.5}),
        (F.defocus_blur, {"radius": 2.0}),
        (F.motion_blur, {"length": 7.0, "angle_deg": 30.0}),
        (F.resolution_drop, {"scale": 0.4}),
    ],
    ids=["gaussian", "defocus", "motion", "resolution"],
)
@settings(max_examples=10)
@given(seed=seeds, side=st.integers(12, 32), strength=st.floats(0.5, 1.0))
def test_blur_reduces_high_frequency_energy(
    kernel: Callable[..., torch.Tensor],
    param: dict[str, float],
    seed: int,
    side: int,
    strength: float,
) -> None:
    x = _frames(seed, (2, 2, 3, side, side))
    scaled = {
        k: torch.tensor([v * strength if k != "angle_deg" else v] * 2) for k, v in param.items()
    }
    y = kernel(x, **scaled)
    before = _high_freq_energy(x.flatten(0, 2))
    after = _high_freq_energy(y.flatten(0, 2))
    assert bool((after < 0.5 * before).all())
    assert bool(((y >= 0) & (y <= 1)).all())


def test_stronger_gaussian_blur_removes_more_high_frequencies() -> None:
    x = _frames(0, (1, 1, 1, 32, 32))
    energy = [
        float(_high_freq_energy(F.gaussian_blur(x, sigma_px=torch.tensor([s]))[0, 0]))
        for s in (0.5, 1.0, 2.0)
    ]
    assert energy[0] > energy[1] > energy[2]


def test_motion_blur_follows_its_angle() -> None:
    x = torch.zeros(1, 1, 1, 11, 11)
    x[..., 5, 5] = 1.0
    flat = F.motion_blur(x, length=torch.tensor([5.0]), angle_deg=torch.tensor([0.0]))[0, 0, 0]
    tall = F.motion_blur(x, length=torch.tensor([5.0]), angle_deg=torch.tensor([90.0]))[0, 0, 0]
    assert torch.allclose(flat[5, 3:8], torch.full((5,), 0.2)) and float(flat.sum()) == 1.0
    assert torch.allclose(tall, flat.T, atol=1e-6)


@pytest.mark.parametrize("angle", [0.0, 30.0, 45.0, 90.0, 160.0])
def test_motion_blur_streak_spreads_further_with_length(angle: float) -> None:
    x = torch.zeros(1, 1, 1, 21, 21)
    x[..., 10, 10] = 1.0
    r2 = (torch.arange(21.0)[:, None] - 10) ** 2 + (torch.arange(21.0)[None, :] - 10) ** 2
    spread = []
    for length in (1.0, 3.0, 5.0, 9.0):
        y = F.motion_blur(x, length=torch.tensor([length]), angle_deg=torch.tensor([angle]))
        psf = y[0, 0, 0]
        assert abs(float(psf.sum()) - 1.0) < 1e-5  # the blur keeps the image's mean
        spread.append(float((psf * r2).sum()))
    assert spread == sorted(spread) and spread[0] < spread[-1] / 10


def test_per_example_sigma_does_not_depend_on_the_batch() -> None:
    x = _frames(3, (2, 2, 3, 16, 16))
    t = T.GaussianBlur("v")
    both = t({"v": x}, level=torch.tensor([0.3, 1.0]))["v"]
    alone = t({"v": x[:1]}, level=0.3)["v"]
    assert torch.allclose(both[:1], alone, atol=1e-6)


@pytest.mark.parametrize("scale", [0.5, 0.25])
def test_resolution_drop_equals_interpolate_for_integer_factors(scale: float) -> None:
    x = _frames(1, (2, 3, 3, 16, 24))
    y = F.resolution_drop(x, scale=torch.tensor([scale, scale]))
    flat = x.flatten(0, 1)
    small = NF.interpolate(flat, size=(int(16 * scale), int(24 * scale)), mode="area")
    ref = NF.interpolate(small, size=(16, 24), mode="bilinear", align_corners=False)
    assert torch.allclose(y, ref.reshape(x.shape), atol=1e-6)


@pytest.mark.parametrize("op", ALL_FRAME_OPS, ids=lambda c: c.__name__)
def test_clip_parameters_are_shared_across_frames(op: type) -> None:
    # a clip of identical frames: deterministic ops give identical frames back, noise ops do not
    frame = _frames(5, (1, 1, 3, 16, 16))
    x = frame.expand(2, 4, 3, 16, 16).contiguous()
    y = op("v")({"v": x}, level=0.8, generator=torch.Generator().manual_seed(2))["v"]
    same = all(torch.equal(y[b, 0], y[b, i]) for b in range(2) for i in range(4))
    noisy = op in (T.GaussianNoise, T.ShotNoise, T.LowLight)
    assert same != noisy  # sensor noise is fresh per frame, never a frozen field
    assert bool(((y >= 0) & (y <= 1)).all())


def test_shot_noise_variance_grows_with_intensity() -> None:
    x = torch.tensor([0.09, 0.64]).reshape(1, 1, 2, 1, 1).expand(1, 1, 2, 200, 200)
    y = F.shot_noise(x, std=torch.tensor([0.05]), generator=torch.Generator().manual_seed(0))
    std = (y - x).flatten(3).std(dim=-1).flatten()
    # the noise std is std * sqrt(x): 0.015 and 0.04
    assert torch.allclose(std, torch.tensor([0.015, 0.04]), rtol=0.05)


def test_low_light_darkens_and_keeps_black() -> None:
    x = _frames(4, (1, 2, 3, 8, 8))
    x[..., 0, 0] = 0.0
    y = T.LowLight("v")({"v": x}, level=1.0, generator=torch.Generator().manual_seed(0))["v"]
    assert float(y.mean()) < 0.5 * float(x.mean())
    assert bool((y[..., 0, 0] == 0).all())


@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_low_light_without_noise_is_kornias_gamma_curve(dtype: torch.dtype, grad: bool) -> None:
    import kornia.enhance as KE

    g = torch.Generator().manual_seed(3)
    x = torch.rand(3, 4, 3, 8, 8, generator=g, dtype=dtype)
    x[0, :3] = 0.0  # black frames: gamma 0 (0 ** 0 = 1, as kornia), 1, and 0.5 (zero slope)
    gamma = torch.rand(3, 4, generator=g, dtype=dtype) * 2.5 + 0.1
    gamma[0, :3] = torch.tensor([0.0, 1.0, 0.5], dtype=dtype)
    gain = torch.rand(3, 4, generator=g, dtype=dtype)
    xs = [x.clone().requires_grad_(grad) for _ in range(2)]
    y = F.low_light(xs[0], gamma=gamma, gain=gain, std=torch.zeros(3, dtype=dtype))
    ref = KE.adjust_gamma(xs[1].reshape(12, 3, 8, 8), gamma.reshape(-1), gain.reshape(-1))
    assert torch.equal(y, ref.reshape(x.shape))
    if grad:
        w = torch.linspace(-1, 1, y.numel(), dtype=dtype).reshape(y.shape)
        (y * w).sum().backward()
        (ref.reshape(x.shape) * w).sum().backward()
        assert xs[0].grad is not None and xs[1].grad is not None
        # kornia's own derivative at the clamp's bounds is its convention (0.9.2 changed it);
        # inside them, and at black pixels with 0 < gamma < 1 (zero slope), the same
        inside = (y > 0) & (y < 1)
        assert torch.equal(xs[0].grad[inside], xs[1].grad[inside])
        assert bool((xs[0].grad[0, 2] == 0).all())


@pytest.mark.parametrize("value", [0.0, 1.4584e-39, 1e-30])
@pytest.mark.parametrize("gamma", [0.5, 1.75])
def test_low_light_gradient_is_finite_where_the_dark_frame_underflows(
    value: float, gamma: float
) -> None:
    # 1.4584e-39 ** 1.75 underflows to 0: sqrt's infinite slope there gave a nan gradient
    x = torch.full((2, 1, 1, 2, 2), value, requires_grad=True)
    y = F.low_light(
        x,
        gamma=torch.full((2,), gamma),
        gain=torch.full((2,), 0.7),
        std=torch.full((2,), 0.05),
        generator=torch.Generator().manual_seed(0),
    )
    (y * torch.linspace(-1, 1, y.numel()).reshape(y.shape)).sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())


def test_padded_frames_are_untouched_and_input_is_not_modified() -> None:
    x = _frames(6, (2, 3, 3, 8, 8))
    before = x.clone()
    lengths = torch.tensor([1, 3])
    for op in ALL_FRAME_OPS:
        y = op("v")({"v": x, "lengths": {"v": lengths}}, level=1.0, generator=torch.Generator())[
            "v"
        ]
        assert torch.equal(y[0, 1:], x[0, 1:]), op.__name__
        assert not torch.equal(y[0, :1], x[0, :1]), op.__name__
    assert torch.equal(x, before)


def test_bad_parameter_shapes_and_layouts_raise() -> None:
    x = torch.rand(2, 3, 1, 8, 8)
    with pytest.raises(ValueError, match=r"\(2,\) tensor .* or \(2, 3\)"):
        F.gaussian_noise(x, std=torch.ones(3))
    with pytest.raises(ValueError, match=r"\(B, T, C, H, W\)"):
        F.gaussian_blur(x[:, 0], sigma_px=torch.ones(2))
    with pytest.raises(TypeError, match="frames"):
        T.GaussianBlur("v")({"v": torch.rand(2, 8, 8)})
    with pytest.raises(ValueError, match="quality"):
        T.JPEG(quality=(90.0, 0.0))
    with pytest.raises(ValueError, match="fraction"):
        T.Occlusion(fraction=(0.0, 1.5))


@settings(max_examples=10)
@given(seed=seeds, side=st.integers(3, 20), per_frame=st.booleans())
def test_neutral_parameters_return_the_frames_exactly(
    seed: int, side: int, per_frame: bool
) -> None:
    x = _frames(seed, (2, 3, 3, side, side + 1))
    shape = (2, 3) if per_frame else (2,)

    def full(v: float) -> torch.Tensor:
        return torch.full(shape, v)

    g = torch.Generator().manual_seed(seed)
    outputs = [
        F.gaussian_noise(x, std=full(0.0), generator=g),
        F.shot_noise(x, std=full(0.0), generator=g),
        F.gaussian_blur(x, sigma_px=full(0.0), kernel_size=9),
        F.motion_blur(x, length=full(0.0), angle_deg=torch.rand(shape) * 360, kernel_size=9),
        F.defocus_blur(x, radius=full(0.0), kernel_size=9),
        F.occlusion(
            x, fraction=full(0.0), aspect=full(1.0), center_y=full(0.5), center_x=full(0.5)
        ),
        F.brightness(x, delta=full(0.0)),
        F.contrast(x, factor=full(1.0)),
        F.low_light(x, gamma=full(1.0), gain=full(1.0), std=full(0.0), generator=g),
        F.resolution_drop(x, scale=full(1.0)),
    ]
    for i, y in enumerate(outputs):
        assert torch.equal(y, x), i


@pytest.mark.parametrize("size", [16, 20])
def test_jpeg_output_is_a_fresh_contiguous_tensor_in_unit_range(size: int) -> None:
    # 20 x 20 is padded to 32 x 32 inside the codec and cropped back: a view of the padded
    # frames, which the clamp must copy out rather than write through
    x = _frames(0, (2, 1, 3, size, size))
    before = x.clone()
    y = F.jpeg(x, quality=torch.tensor([10.0, 60.0]))
    assert y.is_contiguous() and y.shape == x.shape and torch.equal(x, before)
    assert bool(((y >= 0) & (y <= 1)).all())


# cv2.pyrDown / cv2.pyrUp(dstsize=...) on this 6 x 6 uint8 image (opencv-python-headless 4.x):
# rate 2 is one round, rate 4 two (MER2024/main-noise.py, func_blur)
_PYR_IMG = [[(37 * (6 * i + j)) % 256 for j in range(6)] for i in range(6)]
_PYR_CV2 = {
    1: [[90, 85, 82, 92, 105, 110], [106, 98, 89, 92, 99, 101], [130, 121, 106, 96, 92, 90],
        [144, 139, 127, 111, 96, 92], [150, 151, 145, 125, 104, 97], [153, 155, 151, 130, 107, 99]],
    2: [[109, 108, 107, 106, 105, 105], [110, 109, 108, 107, 106, 106],
        [112, 111, 110, 109, 108, 107], [115, 114, 113, 111, 110, 110],
        [117, 116, 115, 113, 112, 111], [118, 117, 116, 114, 113, 112]],
}  # fmt: skip


@pytest.mark.parametrize("rounds", [1, 2])
def test_pyramid_blur_uint8_is_opencv_bit_for_bit(rounds: int) -> None:
    x = torch.tensor(_PYR_IMG, dtype=torch.uint8)[None, None, None]
    y = F.pyramid_blur(x, rounds=torch.tensor([rounds]), max_rounds=2)
    assert y.dtype == torch.uint8
    assert y[0, 0, 0].tolist() == _PYR_CV2[rounds]


def test_pyramid_blur_float_matches_uint8_up_to_rounding() -> None:
    x = torch.tensor(_PYR_IMG, dtype=torch.uint8)[None, None, None].expand(2, 3, 3, 6, 6)
    r = torch.tensor([1, 2])
    y8 = F.pyramid_blur(x, rounds=r, max_rounds=2).float()
    yf = F.pyramid_blur(x.float() / 255, rounds=r, max_rounds=2) * 255
    # uint8 rounds after each of its 2 or 4 stages (half a level each, shrunk by later blurs)
    assert float((y8 - yf).abs().max()) <= 2.0


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (5, 7), (9, 13)])
def test_pyramid_blur_keeps_odd_and_tiny_sizes(size: tuple[int, int]) -> None:
    x = torch.rand(2, 2, 3, *size, generator=torch.Generator().manual_seed(0))
    y = F.pyramid_blur(x, rounds=torch.tensor([[0, 1], [2, 2]]))
    assert y.shape == x.shape and torch.equal(y[0, 0], x[0, 0])
    assert bool(((y >= 0) & (y <= 1)).all())
    # a constant frame stays constant at any size (the taps sum to 1 with reflect borders)
    c = torch.full((1, 1, 1, *size), 0.25)
    assert torch.allclose(F.pyramid_blur(c, rounds=torch.tensor([2])), c)


def test_pyramid_blur_level_maps_to_rates() -> None:
    t = T.PyramidBlur("v")
    levels = torch.tensor([0.0, 0.2, 0.3, 0.7, 0.8, 1.0])
    rounds = t.make_params(torch.zeros(6, 1, 1, 4, 4), levels, generator=None)["rounds"]
    assert rounds.tolist() == [0.0, 0.0, 1.0, 1.0, 2.0, 2.0]
    fixed = T.PyramidBlur("v", rate=(2, 2)).make_params(torch.zeros(2, 1, 1, 4, 4), levels[:2], generator=None)
    assert fixed["rounds"].tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="among 1, 2, 4 and 8"):
        T.PyramidBlur("v", rate=(1, 3))


def test_jpeg_device_path_equals_kornias_public_codec(monkeypatch: pytest.MonkeyPatch) -> None:
    # off the CPU the codec's steps run without kornia's .item() quality check: same values
    x = _frames(0, (2, 2, 3, 20, 37))
    q = torch.tensor([10.0, 90.0])
    want = F.jpeg(x, quality=q)
    monkeypatch.setattr(F, "reads_on_host", lambda device: False)
    torch.testing.assert_close(F.jpeg(x, quality=q), want, rtol=0, atol=0)


def test_jpeg_at_a_fixed_quality() -> None:
    # a fixed quality is (q, q): every clip coded at q, whatever its level above 0
    x = torch.linspace(0, 1, 2 * 16 * 16).reshape(2, 1, 1, 16, 16)
    y = T.JPEG("v", quality=(30.0, 30.0))({"v": x}, level=torch.tensor([0.2, 1.0]))["v"]
    want = F.jpeg(x, quality=torch.tensor([30.0, 30.0]))
    assert torch.equal(y, want)


# issue 24 item 5: names say their unit; the old names warn for one release and still work
_RENAMED_CLASS_ARGS = [
    (T.GaussianNoise, "sigma", "std", (0.0, 0.2)),
    (T.ShotNoise, "sigma", "std", (0.0, 0.2)),
    (T.LowLight, "sigma", "std", (0.0, 0.05)),
    (T.GaussianBlur, "sigma", "sigma_px", (0.0, 2.0)),
    (T.Occlusion, "area_ratio", "fraction", (0.0, 0.3)),
]


@pytest.mark.parametrize(("cls", "old", "new", "value"), _RENAMED_CLASS_ARGS)
def test_renamed_class_arguments_warn_and_work(
    cls: type, old: str, new: str, value: tuple[float, float]
) -> None:
    with pytest.warns(DeprecationWarning, match=f"{cls.__name__}\\({new}=...\\)"):
        t = cls("v", **{old: value})
    assert getattr(t, new) == value and old not in t.to_config()
    x = _frames(0, (2, 2, 3, 8, 8))
    want = cls("v", **{new: value})({"v": x}, generator=torch.Generator().manual_seed(1))["v"]
    got = t({"v": x}, generator=torch.Generator().manual_seed(1))["v"]
    assert torch.equal(got, want)


def test_renamed_kernels_and_kernel_arguments_warn_and_work() -> None:
    import mmnoise.functional as MF

    x = _frames(0, (1, 1, 3, 16, 16))
    one = torch.tensor([1.0])
    with pytest.warns(DeprecationWarning, match="use mmnoise.functional.jpeg instead"):
        old_jpeg = MF.jpeg_compress
    assert old_jpeg is F.jpeg
    with pytest.warns(DeprecationWarning, match="use mmnoise.functional.frames.occlusion"):
        assert F.occlude is F.occlusion
    box = {"aspect": one, "center_y": 0.5 * one, "center_x": 0.5 * one}
    with pytest.warns(DeprecationWarning, match=r"occlusion\(fraction=...\)"):
        y = F.occlusion(x, area_ratio=0.2 * one, **box)
    assert torch.equal(y, F.occlusion(x, fraction=0.2 * one, **box))
    with pytest.warns(DeprecationWarning, match=r"gaussian_blur\(sigma_px=...\)"):
        y = F.gaussian_blur(x, sigma=one)
    assert torch.equal(y, F.gaussian_blur(x, sigma_px=one))
    g = torch.Generator
    for kernel in (F.gaussian_noise, F.shot_noise):
        with pytest.warns(DeprecationWarning, match=r"\(std=...\)"):
            y = kernel(x, sigma=0.1 * one, generator=g().manual_seed(0))
        assert torch.equal(y, kernel(x, std=0.1 * one, generator=g().manual_seed(0)))
    with pytest.warns(DeprecationWarning, match=r"low_light\(std=...\)"):
        F.low_light(x, gamma=one, gain=one, sigma=0.1 * one, generator=g())


# -- video as decoded: uint8 frames (B, T, C, H, W) in, uint8 out, the float path's semantics --
from tests.contract.cases_frames import CASES as FRAME_CASES  # noqa: E402

#: largest difference from round(255 * float path(x / 255)): brightness shifts by an integer
#: (ties differ), the pyramid rounds after each stage as OpenCV does; the rest run the float
#: path itself and round once
_U8_TOLERANCE = {"Brightness": 1, "PyramidBlur": 2}


def _u8_clip(seed: int, shape: tuple[int, ...], channels_last: bool) -> torch.Tensor:
    x = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
    x[0, 0] = 0  # saturated frames
    x[-1, -1] = 255
    # torchvision.io decodes THWC: a channels-last (B, T, C, H, W) view is what users hold
    return x.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3) if channels_last else x


@pytest.mark.parametrize("case", FRAME_CASES, ids=lambda c: c.id)
@pytest.mark.parametrize(("seed", "channels_last"), [(0, False), (1, True)])
def test_uint8_frames_keep_the_contract_and_the_float_semantics(
    case: object, seed: int, channels_last: bool
) -> None:
    t = case.build("v")  # type: ignore[attr-defined]
    c = 3 if type(t).__name__ == "JPEG" or seed else 1
    x = _u8_clip(seed, (3, 2, c, 16, 12), channels_last)
    before = x.clone()
    lengths = torch.tensor([2, 1, 2])
    level = torch.tensor([0.0, 0.6, 1.0])

    def run(v: torch.Tensor) -> tuple[dict[str, object], dict[str, object]]:
        sample = {"v": v, "lengths": {"v": lengths}}
        return t.run(sample, level=level, generator=torch.Generator().manual_seed(seed + 7))

    out, rec = run(x)
    y = out["v"]
    assert isinstance(y, torch.Tensor) and y.dtype == torch.uint8 and y.shape == x.shape
    assert torch.equal(x, before)  # the input is untouched
    assert torch.equal(y[0], x[0])  # level 0 is an exact identity
    assert torch.equal(y[1, 1], x[1, 1])  # padded frames are untouched
    changed = (y != x).flatten(1).any(dim=1)
    assert torch.equal(rec["keys"]["v"]["applied"], changed)  # type: ignore[index]
    assert bool(changed[2])
    assert torch.equal(run(x)[0]["v"], y)  # seeded determinism
    assert torch.equal(t.replay({"v": x, "lengths": {"v": lengths}}, rec)["v"], y)
    # the float path on x / 255, rounded back once
    want = F._to_uint8(run(x.float() / 255)[0]["v"])  # type: ignore[arg-type]
    diff = (y.int() - want.int()).abs().max()
    assert int(diff) <= _U8_TOLERANCE.get(type(t).__name__, 0), int(diff)


def test_uint8_occlusion_fill_is_on_the_unit_scale() -> None:
    x = torch.full((1, 1, 1, 4, 4), 200, dtype=torch.uint8)
    box = {"aspect": torch.tensor([1.0]), "center_y": torch.tensor([0.0]), "center_x": torch.tensor([0.0])}
    for fill, value in ((0.5, 128), (1.0, 255), (2.0, 255), (-1.0, 0)):
        y = F.occlusion(x, fraction=torch.tensor([0.25]), fill=fill, **box)
        assert y[0, 0, 0, 0, 0] == value and y[0, 0, 0, 3, 3] == 200


def test_uint8_brightness_saturates_without_wrapping() -> None:
    x = torch.tensor([0, 1, 128, 254, 255], dtype=torch.uint8).reshape(1, 1, 1, 1, 5)
    up = F.brightness(x, delta=torch.tensor([0.5]))  # + 128 (127.5 rounded to even)
    down = F.brightness(x, delta=torch.tensor([-0.5]))
    assert up.flatten().tolist() == [128, 129, 255, 255, 255]
    assert down.flatten().tolist() == [0, 0, 0, 126, 127]


def test_other_integer_frames_are_refused() -> None:
    with pytest.raises(TypeError, match="float or uint8"):
        T.Brightness("v")({"v": torch.zeros(1, 1, 1, 2, 2, dtype=torch.int16)})


@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
def test_occlusion_box_by_box_equals_the_masked_pass(
    dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch
) -> None:
    # on the CPU each frame's box is written as a slice of a copy; the device path masks
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(3, 4, 3, 16, 12, generator=g) * 255).to(dtype)
    x = x.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)  # channels-last view
    params = {
        "fraction": torch.rand(3, 4, generator=g) * 0.6,
        "aspect": torch.rand(3, 4, generator=g) + 0.5,
        "center_y": torch.rand(3, 4, generator=g),
        "center_x": torch.rand(3, 4, generator=g),
    }
    lengths = torch.tensor([4, 2, 1])
    boxes = F.occlusion(x, fill=0.3, lengths=lengths, **params)
    before = x.clone()
    monkeypatch.setattr(F, "reads_on_host", lambda device: False)
    assert torch.equal(boxes, F.occlusion(x, fill=0.3, lengths=lengths, **params))
    assert torch.equal(x, before)


@pytest.mark.parametrize("case", FRAME_CASES, ids=lambda c: c.id)
def test_uint8_frames_on_the_device_path_equal_the_host_path(case: object) -> None:
    from tests.strategies import as_on_cuda

    t = case.build("v")  # type: ignore[attr-defined]
    x = _u8_clip(3, (2, 2, 3, 16, 12), channels_last=True)
    sample = {"v": x, "lengths": {"v": torch.tensor([2, 1])}}
    level = torch.tensor([0.5, 1.0])
    want = t(sample, level=level, generator=torch.Generator().manual_seed(5))["v"]
    with as_on_cuda():  # every module decides as on CUDA: no host reads, branchless kernels
        got = t(sample, level=level, generator=torch.Generator().manual_seed(5))["v"]
    assert got.dtype == torch.uint8 and torch.equal(got, want)


@st.composite
def _u8_batches(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor | None, object]:
    """uint8 clips as users hold them: edge values, layouts and lengths, and a level."""
    b, t = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    shape = (b, t, draw(st.sampled_from([1, 3])), draw(st.sampled_from([1, 8, 12])), 8)
    pattern = draw(st.sampled_from(["random", "zeros", "full", "mid"]))
    fill = {"zeros": 0, "full": 255, "mid": 128}.get(pattern)
    x = (
        _u8_clip(draw(st.integers(0, 2**31 - 1)), shape, False)
        if fill is None
        else torch.full(shape, fill, dtype=torch.uint8)
    )
    layout = draw(st.sampled_from(["contiguous", "channels_last", "strided"]))
    if layout == "channels_last":
        x = x.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)
    elif layout == "strided":
        wide = torch.zeros(*shape[:-1], 2 * shape[-1], dtype=torch.uint8)
        wide[..., ::2] = x
        x = wide[..., ::2]
    lengths = draw(st.none() | st.lists(st.integers(1, t), min_size=b, max_size=b))
    level = draw(
        st.sampled_from([0.0, 0.5, 1.0])
        | st.lists(st.sampled_from([0.0, 0.3, 1.0]), min_size=b, max_size=b).map(torch.tensor)
    )
    return x, None if lengths is None else torch.tensor(lengths), level


@pytest.mark.parametrize("case", FRAME_CASES, ids=lambda c: c.id)
@settings(max_examples=6, deadline=None)
@given(batch=_u8_batches(), seed=seeds)
def test_uint8_edge_batches_keep_the_contract(
    case: object, batch: tuple[torch.Tensor, torch.Tensor | None, object], seed: int
) -> None:
    x, lengths, level = batch
    t = case.build("v")  # type: ignore[attr-defined]
    sample: dict[str, object] = {"v": x}
    if lengths is not None:
        sample["lengths"] = {"v": lengths}
    before = x.clone()
    out, rec = t.run(sample, level=level, generator=torch.Generator().manual_seed(seed))
    y = out["v"]
    assert y.dtype == torch.uint8 and y.shape == x.shape and torch.equal(x, before)
    changed = (y != x).flatten(1).any(dim=1)
    assert torch.equal(rec["keys"]["v"]["applied"], changed)
    positive = torch.as_tensor(level, dtype=torch.float32).expand(x.shape[0]) > 0
    assert not bool((changed & ~positive).any())  # level 0 is an exact identity
    if lengths is not None:
        pad = torch.arange(x.shape[1])[None, :] >= lengths[:, None]
        assert torch.equal(y[pad], x[pad])
    assert torch.equal(t.replay(sample, rec)["v"], y)
    floats = {**sample, "v": x.float() / 255}
    want = F._to_uint8(t.replay(floats, rec)["v"])
    diff = int((y.int() - want.int()).abs().max())
    assert diff <= _U8_TOLERANCE.get(type(t).__name__, 0), diff
