"""DropModalities: min_present, fixed patterns, fills, and the present dict."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mmnoise as mm
from mmnoise.presence import presence_matrix


def _s(b: int, m: int, seed: int = 0) -> dict[str, object]:
    g = torch.Generator().manual_seed(seed)
    return {f"m{i}": torch.randn(b, 3, 2, generator=g) + 5.0 for i in range(m)}


@given(st.integers(1, 12), st.integers(1, 4), st.floats(0.0, 1.0), st.data(), st.integers(0, 99))
@settings(max_examples=40)
def test_min_present_kept_fill_exact_present_bit_identical(
    b: int, m: int, level: float, data: st.DataObject, seed: int
) -> None:
    k = data.draw(st.integers(0, m - 1))  # m would keep every modality: refused
    names = [f"m{i}" for i in range(m)]
    s = _s(b, m, seed)
    out = mm.DropModalities(names, fraction=(0.0, 1.0), min_present=k, fill=-1.0)(
        s, level=level, generator=torch.Generator().manual_seed(seed)
    )
    pm = presence_matrix(out, names)
    assert bool((pm.sum(dim=1) >= k).all())
    for i, n in enumerate(names):
        x, y = s[n], out[n]
        assert torch.equal(y[pm[:, i]], x[pm[:, i]])  # type: ignore[index]
        assert bool((y[~pm[:, i]] == -1.0).all())  # type: ignore[index]


def test_drop_rate_follows_level() -> None:
    s = _s(4000, 2)
    out = mm.DropModalities(["m0", "m1"], fraction=(0.0, 0.4), min_present=0)(
        s, level=0.5, generator=torch.Generator().manual_seed(0)
    )
    rate = 1 - presence_matrix(out, ["m0", "m1"]).float().mean().item()
    assert abs(rate - 0.2) < 0.03


def test_mmin_patterns_cover_the_six_conditions_uniformly() -> None:
    names = ["audio", "visual", "text"]
    s = {n: torch.ones(3000, 2, 2) for n in names}
    out = mm.DropModalities(names, patterns="mmin")(s, generator=torch.Generator().manual_seed(0))
    pm = presence_matrix(out, names)
    rows = [tuple(r) for r in pm.tolist()]
    assert set(rows) == set(mm.MMIN_CONDITIONS)
    counts = torch.tensor([rows.count(c) for c in mm.MMIN_CONDITIONS], dtype=torch.float)
    assert bool(((counts / len(rows) - 1 / 6).abs() < 0.03).all())


def test_already_missing_stays_missing_and_untouched() -> None:
    s = _s(4, 2)
    s["present"] = {"m0": torch.tensor([False, True, True, True])}
    out = mm.DropModalities(["m0", "m1"], patterns=[{"m0": True, "m1": False}])(s)
    assert out["present"]["m0"].tolist() == [False, True, True, True]
    assert out["present"]["m1"].tolist() == [False] * 4
    assert torch.equal(out["m0"], s["m0"])  # type: ignore[arg-type]
    assert s["present"]["m0"].tolist() == [False, True, True, True]  # input dict not modified
    assert "m1" not in s["present"]


def test_noise_fill_is_a_noised_copy_not_zeros() -> None:
    s = _s(64, 2)
    t = mm.DropModalities(["m0", "m1"], patterns=[{"m0": True, "m1": False}], fill="noise")
    weak = t(s, level=0.05, generator=torch.Generator().manual_seed(0))["m1"]
    strong = t(s, level=1.0, generator=torch.Generator().manual_seed(0))["m1"]
    x = s["m1"]
    err_weak = (weak - x).pow(2).mean().item()  # type: ignore[operator]
    err_strong = (strong - x).pow(2).mean().item()  # type: ignore[operator]
    assert 0 < err_weak < err_strong
    assert not bool((strong == 0).all())


def test_level_zero_p_zero_identity_and_replay() -> None:
    s = _s(6, 3)
    names = ["m0", "m1", "m2"]
    t = mm.DropModalities(names, fraction=(0.5, 1.0))
    out = t(s, level=0.0, generator=torch.Generator())
    assert all(torch.equal(out[n], s[n]) for n in names)  # type: ignore[arg-type]
    assert presence_matrix(out, names).all()
    out, rec = t.run(s, level=1.0, generator=torch.Generator().manual_seed(4))
    again = t.replay(s, rec)
    assert all(torch.equal(again[n], out[n]) for n in names)
    t.p = 0.0
    assert presence_matrix(t(s, level=1.0, generator=torch.Generator()), names).all()


def test_entries_already_missing_are_never_rewritten() -> None:
    s = _s(4, 2)
    s["present"] = {"m1": torch.tensor([False, True, False, True])}
    t = mm.DropModalities(["m0", "m1"], patterns=[{"m0": True, "m1": False}], fill=-7.0)
    out, rec = t.run(s, level=1.0, generator=torch.Generator().manual_seed(0))
    # examples 0 and 2 were missing already: their data is kept as it was, not refilled
    assert torch.equal(out["m1"][[0, 2]], s["m1"][[0, 2]])  # type: ignore[index]
    assert bool((out["m1"][[1, 3]] == -7.0).all())
    assert out["present"]["m1"].tolist() == [False] * 4
    assert rec["keys"]["m1"]["mask"].tolist() == [False, True, False, True]


def test_dropping_never_touches_padding() -> None:
    s = _s(3, 2)
    s["lengths"] = {"m0": torch.tensor([1, 2, 3]), "m1": torch.tensor([3, 3, 2])}
    t = mm.DropModalities(["m0", "m1"], patterns=[{"m0": False, "m1": False}], min_present=0)
    out = t(s, level=1.0, generator=torch.Generator().manual_seed(0))
    for name in ("m0", "m1"):
        x, y, n = s[name], out[name], s["lengths"][name]  # type: ignore[index]
        for i in range(3):
            assert bool((y[i, : n[i]] == 0).all())
            assert torch.equal(y[i, n[i] :], x[i, n[i] :])  # padding keeps its values


@settings(max_examples=20)
@given(
    st.integers(1, 5), st.integers(1, 9), st.sampled_from([1, 2]), st.integers(0, 2**31 - 1),
    st.sampled_from([torch.float16, torch.bfloat16, torch.float32, torch.float64]),
)  # fmt: skip
def test_in_place_drop_box_by_box_equals_the_masked_pass(
    b: int, t: int, time_dim: int, seed: int, dtype: torch.dtype
) -> None:
    # in place on the CPU, big examples take one box per missing example (its valid steps); out
    # of place takes the masked pass: same values, and the caller's tensor stays as it was
    g = torch.Generator().manual_seed(seed)
    other = mm.functional._shape.BOX_MIN_ELEMENTS // t + 1  # enough for the box path
    shape = (b, t, other) if time_dim == 1 else (b, other, t)
    x = torch.randn(shape, generator=g).to(dtype)
    present = torch.rand(b, generator=g) < 0.5
    lengths = torch.randint(0, t + 1, (b,), generator=g)
    for fill in (0.0, 2.5, torch.tensor(-1.0)):
        kw = {"present": present, "fill": fill, "lengths": lengths, "time_dim": time_dim}
        before = x.clone()
        masked = mm.functional.drop_modalities(x, **kw)
        assert torch.equal(x, before)
        assert mm.functional._shape.writes_boxes(x)
        boxed = mm.functional.drop_modalities(x.clone(), inplace=True, **kw)
        assert boxed.dtype == dtype and torch.equal(boxed, masked)


def test_a_misspelt_key_is_rejected_when_called_with_the_known_names() -> None:
    t = mm.DropModalities(["m0", "audoi"])  # names are only known when a sample arrives
    with pytest.raises(KeyError) as err:
        t(_s(2, 2), level=1.0)
    msg = str(err.value)
    assert "DropModalities" in msg and "'audoi' is not in the sample" in msg
    assert "['m0', 'm1']" in msg and "fix the spelling" in msg


def test_a_container_as_fill_is_refused_with_the_fix() -> None:
    with pytest.raises(
        ValueError,
        match=r"DropModalities: expected fill as a single transform, got the container Compose",
    ):
        mm.DropModalities(["a", "v"], fill=mm.Compose([mm.NMERNoise()]))


def test_a_single_modality_drops_by_default_and_a_min_present_that_keeps_it_is_refused() -> None:
    s = _s(6, 1)
    out = mm.DropModalities(["m0"], fraction=(0.0, 1.0))(s, level=1.0, generator=torch.Generator())
    assert out["present"]["m0"].tolist() == [False] * 6
    assert bool((out["m0"] == 0).all())
    with pytest.raises(ValueError, match=r"min_present=1 keeps every one of the 1 modalities"):
        mm.DropModalities(["m0"], min_present=1)
    with pytest.raises(ValueError, match=r"min_present=2 keeps every one of the 2 modalities"):
        mm.DropModalities(["m0", "m1"], min_present=2)
    # two modalities still keep one by default
    two = mm.DropModalities(["m0", "m1"], fraction=(1.0, 1.0))(_s(5, 2), generator=torch.Generator())
    assert bool(presence_matrix(two, ["m0", "m1"]).sum(dim=1).eq(1).all())


def test_old_argument_and_kernel_names_warn_and_still_work() -> None:
    s = _s(3, 2)
    with pytest.warns(DeprecationWarning, match=r"DropModalities\(fraction=\.\.\.\)"):
        old = mm.DropModalities(["m0", "m1"], ratio=(1.0, 1.0))
    assert old.fraction == (1.0, 1.0) and "ratio" not in old.to_config()
    with pytest.warns(DeprecationWarning, match=r"FeatureMissing\(fraction=\.\.\.\)"):
        assert mm.FeatureMissing("m0", rate=(0.0, 0.3)).fraction == (0.0, 0.3)
    with pytest.warns(DeprecationWarning, match=r"use mmnoise\.functional\.drop_modalities"):
        kernel = mm.functional.drop_modality
    assert torch.equal(kernel(s["m0"], present=torch.tensor([True, False, True]))[1], torch.zeros(3, 2))


def test_a_fill_outside_the_frames_range_is_refused_for_frames() -> None:
    s = {"v": torch.rand(2, 3, 1, 4, 4), "a": torch.ones(2, 3, 2)}
    with pytest.raises(ValueError, match=r"fill=5.0 is outside \[0, 1\], where the frames \['v'\]"):
        mm.DropModalities(["a", "v"], fill=5.0)(s)
    # features take any number; frames take one in [0, 1]
    out = mm.DropModalities(["a", "v"], patterns=[{"a": False, "v": False}], min_present=0,
                            fill=0.5)(s)  # fmt: skip
    assert bool((out["v"] == 0.5).all()) and bool((out["a"] == 0.5).all())


@pytest.mark.parametrize("fill", ["noise", "nmer"])
def test_the_fill_is_a_child_record_and_replay_leaves_the_record_alone(fill: str) -> None:
    s = _s(4, 2)
    t = mm.DropModalities(["m0", "m1"], patterns=[{"m0": True, "m1": False}], fill=fill)
    out, rec = t.run(s, level=0.7, generator=torch.Generator().manual_seed(3))
    child = rec["children"]["fill"]
    assert child is not None and sorted(child["keys"]) == ["m0", "m1"]
    assert not any(k.startswith("fill") for k in rec["keys"]["m1"]["params"])
    before = {n: dict(e) for n, e in rec["keys"].items()}
    again = t.replay(s, rec)
    assert torch.equal(again["m1"], out["m1"]) and torch.equal(again["m0"], s["m0"])
    assert {n: sorted(e) for n, e in rec["keys"].items()} == {n: sorted(e) for n, e in before.items()}
