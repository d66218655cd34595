"""uint8 frames through the sequence ops and DropModalities: a fill is an intensity in [0, 1].

Each op on uint8 frames equals the float path on ``x / 255`` rounded once (``255 y``, halves
up); a fill outside [0, 1] on frames is refused, as DropModalities refuses it.
"""

from __future__ import annotations

import pytest
import torch

import mmnoise as mm
from mmnoise.functional import features as F
from mmnoise.functional import missing as M

LEVELS = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0])  # per-example levels mixing 0 and 1
LENGTHS = torch.tensor([6, 6, 4, 3, 5])  # padding on four of the five clips


def _clip() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (5, 6, 3, 4, 4), generator=g, dtype=torch.uint8)


def _round(y: torch.Tensor) -> torch.Tensor:
    """The float path's frames as uint8: ``255 y`` rounded to nearest, halves up."""
    return torch.floor(y.double() * 255.0 + 0.5).to(torch.uint8)


def _run(t: mm.NoiseTransform, x: torch.Tensor) -> torch.Tensor:
    s = {"v": x, "lengths": {"v": LENGTHS}}
    out = t(s, level=LEVELS, generator=torch.Generator().manual_seed(3))["v"]
    assert isinstance(out, torch.Tensor)
    return out


OPS = [
    lambda: mm.TimeMask("v", fraction=(0.3, 0.6), fill=0.0),
    lambda: mm.TimeMask("v", fraction=(0.3, 0.6), fill=0.5),
    lambda: mm.TimeMask("v", fraction=(0.3, 0.6), fill=1.0),
    lambda: mm.FrameDropout("v", fraction=(0.5, 0.9), fill=0.0),
    lambda: mm.FrameDropout("v", fraction=(0.5, 0.9), fill=0.5),
    lambda: mm.FrameDropout("v", fraction=(0.5, 0.9), fill=1.0),
    lambda: mm.FrameFreeze("v", fraction=(0.3, 0.6)),
    lambda: mm.TimeShift("v", shift_fraction=(0.3, 0.5)),
    lambda: mm.DropModalities("v", patterns=[{"v": False}], fill=0.0),
    lambda: mm.DropModalities("v", patterns=[{"v": False}], fill=0.5),
    lambda: mm.DropModalities("v", patterns=[{"v": False}], fill=1.0),
    lambda: mm.DropModalities("v", patterns=[{"v": False}], fill="noise"),
]


@pytest.mark.parametrize("make", OPS)
def test_uint8_frames_equal_the_float_path_rounded_once(make: object) -> None:
    x = _clip()
    before = x.clone()
    y = _run(make(), x)  # type: ignore[operator]
    ref = _run(make(), x.float() / 255.0)  # type: ignore[operator]
    assert y.dtype == torch.uint8
    assert torch.equal(x, before)  # input untouched
    assert torch.equal(y, _round(ref))
    assert not torch.equal(y[1], x[1])  # a level-1 clip did change
    assert torch.equal(y[[0, 3]], x[[0, 3]])  # level 0: exact identity
    t = torch.arange(6)[None, :] >= LENGTHS[:, None]  # (B, T) padding
    assert torch.equal(y[t], x[t])  # padding untouched


@pytest.mark.parametrize("fill", [0.5, 1.0])
def test_a_nonzero_fill_is_written_as_its_intensity(fill: float) -> None:
    x = torch.zeros(2, 4, 1, 2, 2, dtype=torch.uint8)
    span = F.time_mask(x, start=torch.zeros(2), width_fraction=torch.ones(2), fill=fill)
    dropped = F.frame_dropout(x, fraction=torch.ones(2), fill=fill)
    gone = M.drop_modalities(x, present=torch.tensor([False, True]), fill=fill)
    value = round(255 * fill + 1e-9)  # 0.5 -> 128 (halves up), 1.0 -> 255; not cast to 0 / 1
    assert bool((span == value).all()) and bool((dropped == value).all())
    assert bool((gone[0] == value).all()) and bool((gone[1] == 0).all())


def test_a_float_tensor_fill_on_uint8_frames_is_clamped_and_rounded() -> None:
    x = torch.zeros(2, 2, 1, 1, 2, dtype=torch.uint8)
    fill = torch.tensor([-0.5, 0.2, 0.5, 1.5]).repeat(2).reshape(x.shape)
    y = M.drop_modalities(x, present=torch.tensor([False, True]), fill=fill)
    assert y.dtype == torch.uint8
    assert y[0].flatten().tolist() == [0, 51, 128, 255]
    assert bool((y[1] == 0).all())


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize(
    "make",
    [
        lambda f: mm.TimeMask("v", fill=f),
        lambda f: mm.FrameDropout("v", fill=f),
        lambda f: mm.DropModalities("v", patterns=[{"v": False}], fill=f),
    ],
)
@pytest.mark.parametrize("fill", [-0.1, 1.5, 255.0])
def test_a_fill_outside_the_unit_interval_is_refused_on_frames(
    make: object, fill: float, dtype: torch.dtype
) -> None:
    x = torch.zeros(2, 4, 1, 2, 2, dtype=dtype)
    with pytest.raises(ValueError, match=r"fill=.* is outside \[0, 1\]"):
        make(fill)({"v": x}, level=1.0, generator=torch.Generator())  # type: ignore[operator]


def test_a_fill_outside_the_unit_interval_stays_allowed_on_features() -> None:
    x = torch.ones(2, 4, 3)
    y = mm.TimeMask("a", fraction=(1.0, 1.0), fill=-1.0)({"a": x}, level=1.0)["a"]
    assert bool((y == -1.0).all())  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "kernel",
    [
        lambda x: F.time_mask(x, start=torch.zeros(1), width_fraction=torch.ones(1), fill=2.0),
        lambda x: F.frame_dropout(x, fraction=torch.ones(1), fill=2.0),
        lambda x: M.drop_modalities(x, present=torch.tensor([False]), fill=2.0),
    ],
)
def test_the_kernels_refuse_a_fill_outside_the_unit_interval_on_uint8(kernel: object) -> None:
    x = torch.zeros(1, 2, 1, 1, 1, dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"fill=2.0 is outside \[0, 1\]"):
        kernel(x)  # type: ignore[operator]


@pytest.mark.parametrize("fill", [0.0, 0.3, 0.5, 1.0])
def test_occlusion_uint8_fill_rounds_as_the_float_path(fill: float) -> None:
    # 0.3 * 255 = 76.5: the float path's output rounds halves up (77), as every uint8 frame op
    from mmnoise.functional import occlusion

    x = torch.randint(0, 256, (2, 3, 3, 8, 8), generator=torch.Generator().manual_seed(0)).to(
        torch.uint8
    )
    args = {
        "fraction": torch.full((2,), 0.5),
        "aspect": torch.ones(2),
        "center_y": torch.full((2,), 0.5),
        "center_x": torch.full((2,), 0.5),
    }
    got = occlusion(x, fill=fill, **args)
    want = torch.add(torch.full((), 0.5), occlusion(x / 255.0, fill=fill, **args), alpha=255.0)
    assert got.dtype == torch.uint8
    assert torch.equal(got, want.to(torch.uint8))
