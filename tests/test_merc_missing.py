"""The missing protocols of MER-C as DropModalities / FeatureMissing options (issue 16 item 2)."""

from __future__ import annotations

import pytest
import torch

from mmnoise.transforms.features import FrameDropout
from mmnoise.transforms.missing import DropModalities, FeatureMissing

NAMES = ["audio", "visual", "text"]


def _batch(b: int, t: int = 4, d: int = 3) -> dict[str, torch.Tensor]:
    return {n: torch.ones(b, t, d) for n in NAMES}


@pytest.mark.parametrize("eta", [0.0, 0.1, 0.3, 0.5, 0.6, 2 / 3])
@pytest.mark.parametrize("b", [7, 1000])
def test_missing_rate_is_exact_and_keeps_one_modality(eta: float, b: int) -> None:
    drop = DropModalities(NAMES, missing_rate=(0.0, 2 / 3))
    level = eta / (2 / 3)
    out = drop(_batch(b), level=level, generator=torch.Generator().manual_seed(1))
    present = torch.stack([out["present"][n] for n in NAMES], dim=1)
    assert int((~present).sum()) == round(eta * b * 3)
    assert bool(present.any(dim=1).all())
    # the dropped modalities are zeroed, the kept ones untouched
    for i, n in enumerate(NAMES):
        assert torch.equal(out[n].sum(dim=(1, 2)) == 0, ~present[:, i])


def test_missing_rate_spreads_over_modalities_and_is_seeded() -> None:
    drop = DropModalities(NAMES, missing_rate=(0.0, 0.6))
    a = drop(_batch(3000), level=1.0, generator=torch.Generator().manual_seed(5))
    b = drop(_batch(3000), level=1.0, generator=torch.Generator().manual_seed(5))
    per = torch.stack([(~a["present"][n]).float().mean() for n in NAMES])
    assert torch.allclose(per, torch.full((3,), 0.6), atol=0.04), per
    assert all(torch.equal(a["present"][n], b["present"][n]) for n in NAMES)


@pytest.mark.parametrize("b", [7, 1000])
def test_missing_rate_above_the_cap_warns_and_realises_the_cap(b: int) -> None:
    # the papers' eta grid reaches 0.7; with one modality always kept, 3 modalities cap at 2/3
    with pytest.warns(UserWarning, match=r"realised missing rate is 0\.6667"):
        drop = DropModalities(NAMES, missing_rate=(0.0, 0.7))
    out = drop(_batch(b), level=1.0, generator=torch.Generator().manual_seed(2))
    present = torch.stack([out["present"][n] for n in NAMES], dim=1)
    assert int((~present).sum()) == 2 * b  # exactly one modality kept per example
    assert bool(present.sum(dim=1).eq(1).all())
    # below the cap the range is interpolated as given: level 0.5 of (0, 0.7) is eta 0.35
    half = drop(_batch(1000), level=0.5, generator=torch.Generator().manual_seed(2))
    gone = sum(int((~half["present"][n]).sum()) for n in NAMES)
    assert gone == round(0.35 * 1000 * 3)
    with pytest.warns(UserWarning, match=r"0\.5000"):
        DropModalities(["a", "v"], missing_rate=(0.6, 0.6))


def test_missing_rate_rejects_impossible_rates_and_patterns() -> None:
    with pytest.raises(ValueError, match="missing_rate"):
        DropModalities(NAMES, missing_rate=(0.0, 1.2))
    with pytest.raises(ValueError, match="either patterns"):
        DropModalities(NAMES, missing_rate=(0.0, 0.5), patterns="mmin")
    with pytest.raises(ValueError, match="p=1"):
        DropModalities(NAMES, missing_rate=(0.0, 0.5), p=0.5)
    assert DropModalities(NAMES, missing_rate=(0.0, 0.5)).to_config()["missing_rate"] == [0, 0.5]


def test_mmin_patterns_on_one_modality_warn() -> None:
    with pytest.warns(UserWarning, match="no condition"):
        DropModalities(["audio"], patterns="mmin")


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_feature_missing_realises_its_rate_on_valid_entries_only(rate: float) -> None:
    x = torch.ones(64, 20, 30)
    lengths = torch.full((64,), 10)
    t = FeatureMissing("audio", rate=(0.0, 1.0))
    out = t({"audio": x, "lengths": {"audio": lengths}}, level=rate, generator=torch.Generator())
    valid = out["audio"][:, :10]
    assert abs(float((valid == 0).float().mean()) - rate) < 0.01
    assert torch.equal(out["audio"][:, 10:], x[:, 10:])


def test_temporal_missing_realises_its_rate() -> None:
    t = FrameDropout("audio", fraction=(0.0, 1.0))
    out = t({"audio": torch.ones(200, 50, 4)}, level=0.3, generator=torch.Generator())
    steps_missing = (out["audio"].sum(dim=2) == 0).float().mean()
    assert abs(float(steps_missing) - 0.3) < 0.01


def test_fixed_patterns_on_a_batch_without_their_modalities_raise() -> None:
    drop = DropModalities(NAMES, patterns="mmin")
    with pytest.raises(KeyError, match="'visual' is not in the sample"):
        drop({"audio": torch.ones(2, 3, 4)}, level=1.0, generator=torch.Generator())
