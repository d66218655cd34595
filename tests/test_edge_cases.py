"""Edge cases an outside fuzz found (issue 24 item 7): each is now a correct output, bit for bit.

Half-precision outputs are compared as their bit patterns (``view(torch.int16)``): ``==`` holds
between -0.0 and 0.0, a replay must give the same bits.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor

import mmnoise as mm
from mmnoise.transforms.base import NoiseTransform

_BANK = torch.randn(3, 200, generator=torch.Generator().manual_seed(0))


def _bits(x: Tensor) -> Tensor:
    return x.view(torch.int16) if x.dtype in (torch.float16, torch.bfloat16) else x


def _signed_zeros(dtype: torch.dtype) -> Tensor:
    """(4, 1, 24): a normal row, a row of -0.0 with two subnormals, a row of -0.0 and 0.0, and
    a row of subnormals only; the two middle rows are where a kernel gives back +0.0."""
    g = torch.Generator().manual_seed(3)
    tiny = torch.finfo(dtype).tiny
    x = torch.randn(4, 1, 24, generator=g)
    x[1] = -0.0
    x[1, 0, :2] = torch.tensor([tiny / 4, -tiny / 8])
    x[2] = -0.0
    x[2, 0, ::3] = 0.0
    x[3] = torch.randn(24, generator=g) * tiny / 4
    return x.to(dtype)


_CASES = [
    pytest.param(mm.Quantize("a"), torch.float16, id="Quantize-float16"),
    pytest.param(mm.AddColoredSNR("a"), torch.bfloat16, id="AddColoredSNR-bfloat16"),
    pytest.param(mm.AddNoiseBank("a", noise_bank=_BANK), torch.bfloat16, id="AddNoiseBank-bfloat16"),
]


@pytest.mark.parametrize(("t", "dtype"), _CASES)
@pytest.mark.parametrize("ragged", [False, True])
def test_replay_is_bitwise_equal_to_run(t: NoiseTransform, dtype: torch.dtype, ragged: bool) -> None:
    # the cause: a kernel turned -0.0 into 0.0, the record's change mask (==) called that
    # "unchanged", narrowed `applied` to False, and replay blended the input's -0.0 back
    x = _signed_zeros(dtype)
    s: dict[str, Any] = {"a": x, "kinds": {"a": "waveform"}}
    if ragged:
        s["lengths"] = {"a": torch.tensor([24, 9, 17, 1])}
    for seed in range(4):
        level = torch.tensor([1.0, 0.5, 1.0, 0.3]).roll(seed)
        out, rec = t.run(s, level=level, generator=torch.Generator().manual_seed(seed))
        assert torch.equal(_bits(t.replay(s, rec)["a"]), _bits(out["a"]))


@pytest.mark.parametrize("layout", ["expanded", "contiguous"])
@pytest.mark.parametrize(
    "t",
    [mm.AddNoiseBank("a", noise_bank=_BANK), mm.AddColoredSNR("a"), mm.AddGaussianSNR("a")],
    ids=lambda t: type(t).__name__,
)
def test_additive_noise_leaves_signed_zero_padding_bit_for_bit(t: NoiseTransform, layout: str) -> None:
    # bfloat16 (B, 2, 160), lengths [130, 60], a stride-0 layout: the padding's -0.0 came back
    # as 0.0 (x + 0 * noise); now every padding bit is the input's
    g = torch.Generator().manual_seed(1)
    base = (torch.randn(1, 1, 160, generator=g) * 1e-39).to(torch.bfloat16)
    base[..., 100:] = -0.0
    x = base.expand(2, 2, 160)
    x = x if layout == "expanded" else x.contiguous()
    lengths = torch.tensor([130, 60])
    pad = (torch.arange(160) >= lengths[:, None])[:, None, :].expand(2, 2, 160)
    s = {"a": x, "lengths": {"a": lengths}, "kinds": {"a": "waveform"}}
    for level in (1.0, torch.tensor([1.0, 0.5])):
        y = t(s, level=level, generator=torch.Generator().manual_seed(0))["a"]
        assert torch.equal(_bits(y[pad]), _bits(x[pad]))
        assert not torch.equal(y[~pad], x[~pad])  # the valid part did get noise
