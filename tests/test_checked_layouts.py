"""The layout memo of the call path (mmnoise.transforms.hints.layout / checked): what a call
checks of a sample's structure is remembered per layout, and never hides an error of the
values or of a layout it has not seen."""

from __future__ import annotations

import pytest
import torch

from mmnoise.transforms import hints
from mmnoise.transforms.features import AddGaussianSNR, TimeMask
from mmnoise.transforms.tokens import TokenMask


def _ids(b: int = 2, t: int = 6) -> torch.Tensor:
    return torch.arange(1, b * t + 1).reshape(b, t) + 200


def test_lengths_bounds_are_checked_on_every_call_of_a_known_layout() -> None:
    tr = TokenMask("ids", mask_id=3, fraction=(0.5, 0.5))
    ok = {"ids": _ids(), "lengths": {"ids": torch.tensor([6, 4])}}
    tr(ok, generator=torch.Generator().manual_seed(0))
    bad = {"ids": _ids(), "lengths": {"ids": torch.tensor([7, 4])}}  # same layout, a value out
    with pytest.raises(ValueError, match=r"TokenMask: expected 1 <= lengths\['ids'\] <= 6"):
        tr(bad, generator=torch.Generator().manual_seed(0))
    zero = {"ids": _ids(), "lengths": {"ids": torch.tensor([0, 4])}}
    with pytest.raises(ValueError, match="got min 0, max 4"):
        tr(zero, generator=torch.Generator().manual_seed(0))


def test_nan_is_found_on_every_call_of_a_known_layout() -> None:
    tr = AddGaussianSNR("a", snr_db=(5.0, 5.0))
    x = torch.randn(2, 4, 3)
    tr({"a": x}, generator=torch.Generator().manual_seed(0))
    y = x.clone()
    y[1, 2, 0] = float("nan")
    with pytest.raises(ValueError, match=r"AddGaussianSNR: expected finite values in sample\['a'\]"):
        tr({"a": y}, generator=torch.Generator().manual_seed(0))


def test_a_new_layout_is_checked_again() -> None:
    tr = TimeMask("a", fraction=(0.5, 0.5))
    tr({"a": torch.randn(2, 4, 3)}, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"expected sample\['lengths'\]\['a'\] as a \(2,\) int64"):
        tr({"a": torch.randn(2, 4, 3), "lengths": {"a": torch.tensor([4])}},
           generator=torch.Generator())  # fmt: skip
    with pytest.raises(TypeError, match="integer lengths"):
        tr({"a": torch.randn(2, 4, 3), "lengths": {"a": torch.tensor([4.0, 2.0])}},
           generator=torch.Generator())  # fmt: skip
    with pytest.raises(KeyError, match="audoi"):
        tr({"a": torch.randn(2, 4, 3), "lengths": {"audoi": torch.tensor([4, 2])}},
           generator=torch.Generator())  # fmt: skip
    with pytest.raises(TypeError, match="declared 'tokens'"):
        tr({"a": torch.randn(2, 4, 3), "kinds": {"a": "tokens"}}, generator=torch.Generator())


def test_changing_keys_after_a_call_is_honoured() -> None:
    sample = {"a": torch.randn(2, 4, 3), "b": torch.randn(2, 4, 3)}
    tr = TimeMask("a", fraction=(1.0, 1.0))
    out = tr(sample, generator=torch.Generator().manual_seed(0))
    assert out["b"] is sample["b"] and not torch.equal(out["a"], sample["a"])
    tr.keys = "b"  # the memo is keyed by the op's keys: the next call corrupts "b" only
    out = tr(sample, generator=torch.Generator().manual_seed(0))
    assert out["a"] is sample["a"] and not torch.equal(out["b"], sample["b"])
    tr.keys = ["a"]  # type: ignore[assignment]  # a list (not hashable) is checked on every call
    out = tr(sample, generator=torch.Generator().manual_seed(0))
    assert out["b"] is sample["b"] and not torch.equal(out["a"], sample["a"])


def test_outputs_and_records_do_not_depend_on_the_memo() -> None:
    sample = {"ids": _ids(3, 8), "lengths": {"ids": torch.tensor([8, 5, 2])}}
    tr = TokenMask("ids", mask_id=3, fraction=(0.2, 0.6))
    hints._CHECKED.clear()
    first, rec1 = tr.run(sample, level=torch.tensor([0.0, 0.5, 1.0]), generator=torch.Generator().manual_seed(4))
    second, rec2 = tr.run(sample, level=torch.tensor([0.0, 0.5, 1.0]), generator=torch.Generator().manual_seed(4))
    assert len(hints._CHECKED) > 0  # the second call read the memo
    assert torch.equal(first["ids"], second["ids"])
    assert torch.equal(rec1["keys"]["ids"]["mask"], rec2["keys"]["ids"]["mask"])
    assert torch.equal(tr.replay(sample, rec1)["ids"], first["ids"])


def test_layout_is_none_for_other_mappings_and_bad_reserved_entries() -> None:
    from types import MappingProxyType

    x = torch.zeros(1, 2, 3)
    assert hints.layout(MappingProxyType({"a": x})) is None
    assert hints.layout({"a": x, "lengths": [1]}) is None
    assert hints.entry_layout({"a": x, "kinds": {"a": ["features"]}}, "a") is None
    assert hints.entry_layout({"a": x, "lengths": {"a": [2]}}, "a") is None
    # the check runs then, and says what is wrong
    with pytest.raises(TypeError, match=r"sample\['lengths'\] as a dict"):
        TimeMask("a")({"a": x, "lengths": [1]}, generator=torch.Generator())


def test_the_memo_is_bounded() -> None:
    hints._CHECKED.clear()
    for i in range(hints._CHECKED_MAX + 5):
        hints.checked(("bounded", i), lambda i=i: i)
    assert len(hints._CHECKED) <= hints._CHECKED_MAX
