"""The CPU fast paths of the frame kernels equal their general (device / compile) paths bit for bit.

Where :func:`mmnoise.device.reads_on_host` holds (CPU, eager), some kernels read their
parameters on the host and work clip by clip (uint8 brightness with scalar bounds, occlusion box
by box); on other devices and under ``torch.compile`` they run branchless broadcast passes. The
two must give the same bits for every dtype, layout and parameter mix; here the general path is
forced by making the kernel module decide as off the CPU.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmnoise.functional import frames as F
from mmnoise.transforms import frames as T

DTYPES = [torch.uint8, torch.float16, torch.bfloat16, torch.float32, torch.float64]


@st.composite
def _clips(draw: st.DrawFn, dtype: torch.dtype) -> torch.Tensor:
    """Frames (B, T, C, H, W) in ``dtype``: edge values, B = 1 and T = 1, every layout."""
    b, t = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    shape = (b, t, draw(st.sampled_from([1, 3])), draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    x = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    x[0, 0] = draw(st.sampled_from([0, 255]))  # saturated frames
    x = x if dtype == torch.uint8 else (x.double() / 255).to(dtype)
    layout = draw(st.sampled_from(["contiguous", "channels_last", "strided", "expanded"]))
    if layout == "channels_last":  # torchvision.io's THWC memory seen as (B, T, C, H, W)
        x = x.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)
    elif layout == "strided":
        wide = torch.zeros(*shape[:-1], 2 * shape[-1], dtype=dtype)
        wide[..., ::2] = x
        x = wide[..., ::2]
    elif layout == "expanded":  # one frame broadcast over time (stride 0)
        x = x[:, :1].expand(shape)
    return x


def _per_frame(draw: st.DrawFn, x: torch.Tensor, values: st.SearchStrategy[float]) -> torch.Tensor:
    """A (B,) parameter, or a (B, T) one that varies within a clip."""
    b, t = x.shape[:2]
    if draw(st.booleans()):
        return torch.tensor(draw(st.lists(values, min_size=b, max_size=b)))
    return torch.tensor(draw(st.lists(st.lists(values, min_size=t, max_size=t), min_size=b, max_size=b)))


def _general(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(F, "reads_on_host", lambda device: False)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_brightness_fast_path_equals_the_general_path(dtype: torch.dtype, data: st.DataObject) -> None:
    x = data.draw(_clips(dtype))
    # shifts of 0 and +-1 (the extremes), ties at half-steps of 1 / 255 and ordinary values
    values = st.sampled_from([0.0, 1.0, -1.0, 0.5 / 255, -2.5 / 255, 0.2, -0.13])
    delta = _per_frame(data.draw, x, values)
    lengths = data.draw(st.none() | st.just(torch.randint(1, x.shape[1] + 1, (x.shape[0],))))
    before = x.clone()
    fast = F.brightness(x, delta=delta, lengths=lengths)
    with pytest.MonkeyPatch.context() as m:
        _general(m)
        slow = F.brightness(x, delta=delta, lengths=lengths)
    assert fast.dtype == slow.dtype == dtype and torch.equal(fast, slow)
    assert torch.equal(x, before)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_occlusion_fast_path_equals_the_general_path(dtype: torch.dtype, data: st.DataObject) -> None:
    x = data.draw(_clips(dtype))
    unit = st.sampled_from([0.0, 0.3, 0.5, 0.99, 1.0])
    params = {
        "fraction": _per_frame(data.draw, x, unit),
        "aspect": _per_frame(data.draw, x, st.sampled_from([0.25, 1.0, 3.0])),
        "center_y": _per_frame(data.draw, x, unit),
        "center_x": _per_frame(data.draw, x, unit),
    }
    fill = data.draw(st.sampled_from([0.0, 0.3, 1.0]))
    lengths = data.draw(st.none() | st.just(torch.randint(1, x.shape[1] + 1, (x.shape[0],))))
    before = x.clone()
    fast = F.occlusion(x, fill=fill, lengths=lengths, **params)
    with pytest.MonkeyPatch.context() as m:
        _general(m)
        slow = F.occlusion(x, fill=fill, lengths=lengths, **params)
    assert fast.dtype == slow.dtype == dtype and torch.equal(fast, slow)
    assert torch.equal(x, before)


@pytest.mark.parametrize("cls", [T.Brightness, T.Occlusion])
@pytest.mark.parametrize("shape", [(1, 1, 3, 5, 4), (4, 3, 3, 6, 5)])
def test_transforms_at_levels_mixing_0_and_1_match_the_general_path(
    cls: type, shape: tuple[int, ...]
) -> None:
    t = cls("v")
    x = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    x = x.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)
    level = torch.tensor([1.0, 0.0, 1.0, 0.0][: shape[0]])
    want = t({"v": x}, level=level, generator=torch.Generator().manual_seed(2))["v"]
    with pytest.MonkeyPatch.context() as m:
        _general(m)
        got = t({"v": x}, level=level, generator=torch.Generator().manual_seed(2))["v"]
    assert torch.equal(got, want)
    assert torch.equal(want[level == 0], x[level == 0])  # level 0 is an exact identity
