"""Containers: Compose / OneOf / SomeOf laws, per-example selection, the multimodal pipeline."""

from __future__ import annotations

import json
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mmnoise as mm


def _g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_compose_of_one_equals_the_transform_for_deterministic_ops() -> None:
    s = {"a": torch.randn(3, 4, 2)}
    lv = torch.tensor([0.0, 0.5, 1.0])
    assert torch.equal(mm.Compose([mm.Gain("a")])(s, level=lv)["a"], mm.Gain("a")(s, level=lv)["a"])


def test_compose_keys_override_children() -> None:
    s = {"a": torch.ones(1, 2, 1), "b": torch.ones(1, 2, 1)}
    out = mm.Compose([mm.Gain(gain_db=(0.0, -20.0))], keys=["b"])(s)
    assert torch.equal(out["a"], s["a"]) and torch.allclose(out["b"], torch.full((1, 2, 1), 0.1))


@given(st.integers(0, 2**31 - 1))
@settings(max_examples=20)
def test_one_of_applies_exactly_one_child_per_example(seed: int) -> None:
    s = {"a": torch.ones(16, 2, 1)}
    o = mm.OneOf([mm.Gain("a", gain_db=(0.0, -20.0)), mm.Gain("a", gain_db=(0.0, 20.0))])
    y = o(s, level=1.0, generator=_g(seed))["a"][:, 0, 0]
    assert all(
        math.isclose(v, 0.1, rel_tol=1e-5) or math.isclose(v, 10.0, rel_tol=1e-5)
        for v in y.tolist()
    )


def test_one_of_weights_steer_the_choice() -> None:
    s = {"a": torch.ones(200, 1, 1)}
    o = mm.OneOf(
        [mm.Gain("a", gain_db=(0.0, -20.0)), mm.Gain("a", gain_db=(0.0, 20.0))], weights=[1.0, 0.0]
    )
    assert torch.allclose(o(s, generator=_g())["a"], torch.full((200, 1, 1), 0.1))
    o = mm.OneOf(list(o.transforms), weights=[1.0, 3.0])  # type: ignore[arg-type]
    share_up = (o(s, generator=_g())["a"] > 1).float().mean().item()
    assert 0.65 < share_up < 0.85


@given(st.integers(0, 3), st.integers(0, 2**31 - 1))
@settings(max_examples=20)
def test_some_of_applies_exactly_n_children(n: int, seed: int) -> None:
    s = {"a": torch.ones(8, 1, 1)}
    children = [mm.Gain("a", gain_db=(0.0, -20.0)) for _ in range(3)]
    y = mm.SomeOf(children, n=(n, n))(s, generator=_g(seed))["a"].flatten()
    assert torch.allclose(y, torch.full_like(y, 0.1**n), rtol=1e-4)


def test_container_record_replays_exactly_and_p_zero_is_identity() -> None:
    s = {"a": torch.randn(4, 6, 3), "lengths": {"a": torch.tensor([6, 3, 2, 1])}}
    pipe = mm.SomeOf([mm.AddGaussianSNR("a"), mm.TimeMask("a"), mm.FrameDropout("a")], n=(1, 2))
    out, rec = pipe.run(s, level=0.8, generator=_g(3))
    assert torch.equal(pipe.replay(s, rec)["a"], out["a"])
    pipe.p = 0.0
    assert torch.equal(pipe(s, level=1.0, generator=_g(3))["a"], s["a"])


def _pipeline(shared: bool) -> mm.MultimodalPipeline:
    return mm.MultimodalPipeline(
        {
            "audio": [mm.TimeMask(fraction=(0.0, 0.5)), mm.AddGaussianSNR(snr_db=(20.0, 0.0))],
            "visual": [mm.TimeMask(fraction=(0.0, 0.5))],
        },
        missing=mm.DropModalities(["audio", "visual"], fraction=(0.0, 0.5)),
        shared=shared,
    )


def _span(mask: torch.Tensor) -> torch.Tensor:
    """(B, T) contiguous mask -> (B, 2) [start, end) in fractions of T."""
    t = torch.arange(mask.shape[1])
    first = torch.where(mask, t, mask.shape[1]).amin(dim=1)
    last = torch.where(mask, t + 1, 0).amax(dim=1)
    return torch.stack([first, last], dim=1) / mask.shape[1]


def test_shared_draws_give_time_aligned_spans() -> None:
    s = {"audio": torch.randn(32, 40, 3), "visual": torch.rand(32, 10, 3, 4, 4)}
    lv = {"audio": 1.0, "visual": 1.0}
    _, rec = _pipeline(shared=True).run(s, level=lv, generator=_g(1))
    ma = rec["children"]["audio"]["children"]["0"]["keys"]["audio"]["mask"]  # (B, 40)
    mv = rec["children"]["visual"]["children"]["0"]["keys"]["visual"]["mask"]  # (B, 10)
    # the same span of time at both rates, up to one visual frame of rounding
    assert bool(((_span(ma) - _span(mv)).abs() <= 1 / 10 + 1e-6).all())
    _, rec = _pipeline(shared=False).run(s, level=lv, generator=_g(1))
    ma = rec["children"]["audio"]["children"]["0"]["keys"]["audio"]["mask"]
    mv = rec["children"]["visual"]["children"]["0"]["keys"]["visual"]["mask"]
    assert not bool(((_span(ma) - _span(mv)).abs() <= 1 / 10 + 1e-6).all())


def test_pipeline_per_modality_levels_missing_and_json_round_trip() -> None:
    s = {"audio": torch.randn(5, 8, 3), "visual": torch.rand(5, 4, 3, 4, 4), "y": torch.arange(5)}
    pipe = _pipeline(shared=False)
    out = pipe(s, level={"audio": 0.0, "visual": 1.0}, generator=_g(0))
    assert torch.equal(out["audio"], s["audio"])
    assert all(bool(v.all()) for v in out["present"].values())  # missing level 0: nothing dropped
    assert not torch.equal(out["visual"], s["visual"]) and out["y"] is s["y"]
    out, rec = pipe.run(s, level=1.0, generator=_g(2))
    assert set(out["present"]) == {"audio", "visual"}
    clone = mm.from_config(json.loads(json.dumps(pipe.to_config())))
    again = clone(s, level=1.0, generator=_g(2))
    for k in ("audio", "visual"):
        assert torch.equal(again[k], out[k])
        assert torch.equal(pipe.replay(s, rec)[k], out[k])


# -- containers write into their own intermediates, never into the caller's tensors ----------


def _chain() -> mm.MultimodalPipeline:
    ops = [mm.AddGaussianSNR(snr_db=(20.0, 0.0)), mm.FrameDropout(fraction=(0.3, 0.3)),
           mm.FeatureMask(fraction=(0.0, 0.5)), mm.TimeMask(fraction=(0.0, 0.5))]  # fmt: skip
    return mm.MultimodalPipeline(
        {"a": ops, "b": [mm.FrameDropout(fraction=(0.5, 0.5))]},
        missing=mm.DropModalities(["a", "b"], fraction=(0.5, 0.5)),
    )


@settings(max_examples=15)
@given(seed=st.integers(0, 2**31 - 1))
def test_in_place_path_equals_the_out_of_place_path_and_spares_the_input(seed: int) -> None:
    g = _g(seed)
    # "a" has enough elements per example for the host path's box-by-box masks, "b" has not
    s = {"a": torch.randn(6, 10, 2048, generator=g), "b": torch.randn(6, 7, 3, generator=g),
         "lengths": {"a": torch.randint(1, 11, (6,), generator=g)}}  # fmt: skip
    before = {k: s[k].clone() for k in ("a", "b")}
    pipe = _chain()
    fast = pipe(s, level=1.0, generator=_g(seed))  # record=False: intermediates written in place
    slow, _ = pipe.run(s, level=1.0, generator=_g(seed), record=True)  # record: never in place
    for k in ("a", "b"):
        assert torch.equal(fast[k], slow[k])
        assert torch.equal(s[k], before[k])  # the caller's tensors are untouched


def test_apply_writes_in_place_only_into_owned_entries() -> None:
    drop_all = mm.FrameDropout("a", fraction=(1.0, 1.0))
    x = torch.ones(2, 5, 3)
    y = drop_all.run({"a": x}, record=False)[0]["a"]
    assert y is not x and bool((x == 1).all()) and bool((y == 0).all())

    def apply(t: mm.NoiseTransform, x: torch.Tensor, *, facts: bool) -> torch.Tensor:
        rec = t.draw({"a": x}, 1.0, _g(0))
        return t.apply_record({"a": x}, rec, owned=frozenset({"a"}), facts=facts)["a"]

    y = apply(drop_all, x, facts=True)  # a record's masks need the input
    assert y is not x and bool((x == 1).all())
    leaf = torch.ones(2, 5, 3, requires_grad=True)
    assert apply(drop_all, leaf, facts=False) is not leaf
    y = apply(drop_all, x, facts=False)
    assert y is x and bool((x == 0).all())
    gone = mm.DropModalities(["a"], fraction=(1.0, 1.0), min_present=0)
    z = torch.ones(3, 2, 1)
    assert apply(gone, z, facts=False) is z and not bool(z.any())


def test_owned_entries_never_include_the_callers_memory() -> None:
    from mmnoise.transforms.compose import owned_entries

    x = torch.randn(4, 3)
    before = {"a": x, "b": x + 1, "lengths": {}}
    none: frozenset[str] = frozenset()
    assert owned_entries(before, {"a": x, "b": before["b"]}, none) == frozenset()
    assert owned_entries(before, {"a": x[:, :2], "b": x.view(3, 4)}, none) == frozenset()
    assert owned_entries(before, {"a": x.clone(), "b": before["b"]}, none) == {"a"}
    assert owned_entries(before, {"a": x, "b": before["b"]}, frozenset({"b"})) == {"b"}


def test_pipeline_noise_level_key_covers_every_unnamed_modality() -> None:
    s = {"a": torch.randn(4, 6, 3), "v": torch.randn(4, 5, 2)}
    pipe = mm.MultimodalPipeline(
        {"a": [mm.Gain(gain_db=(0.0, -20.0))], "v": [mm.Gain(gain_db=(0.0, -20.0))]},
        missing=mm.DropModalities(["a", "v"], fraction=(0.0, 1.0), min_present=1),
    )
    out = pipe(s, level={"noise": 1.0, "missing": 0.0}, generator=_g(0))
    for k in ("a", "v"):  # both at level 1: -20 dB, nothing missing
        assert torch.allclose(out[k], s[k] * 0.1) and bool(out["present"][k].all())
    out = pipe(s, level={"noise": 1.0, "v": 0.0}, generator=_g(0))
    assert torch.allclose(out["a"], s["a"] * 0.1) and torch.equal(out["v"], s["v"])
    with pytest.raises(KeyError, match="'noise' for all of them"):
        pipe(s, level={"nois": 1.0}, generator=_g(0))


def _count_finite_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    import mmnoise.sample as sample_module

    calls: list[int] = []
    real = sample_module._check_finite

    def counting(x: torch.Tensor, message: str) -> None:
        calls.append(x.shape[0])
        real(x, message)

    monkeypatch.setattr(sample_module, "_check_finite", counting)
    return calls


@pytest.mark.parametrize(
    "make",
    [
        lambda: mm.Compose([mm.Gain("a"), mm.Gain("b")]),
        lambda: mm.OneOf([mm.Gain("a"), mm.Gain("b")]),
        lambda: mm.SomeOf([mm.Gain("a"), mm.Gain("b")], n=(0, 1)),
        lambda: mm.Compose([mm.Gain("a"), mm.OneOf([mm.Gain("a"), mm.Gain("b")])]),
        lambda: mm.MultimodalPipeline({"a": [mm.Gain()]}, missing=mm.DropModalities(["a", "b"])),
    ],
)
def test_containers_check_every_entry_they_touch_once(make, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    bad = torch.ones(2, 3, 1)
    bad[1, 2, 0] = float("nan")
    s = {"a": torch.ones(2, 3, 1), "b": bad}
    # a NaN in an entry only a later child (or only `missing`) touches is rejected, named
    with pytest.raises(ValueError, match=r"expected finite values in sample\['b'\]"):
        make()(s, level=1.0, generator=_g())
    calls = _count_finite_checks(monkeypatch)
    s["b"] = torch.ones(2, 3, 1)
    make()(s, level=1.0, generator=_g())
    assert len(calls) == 2  # a and b, each once, whichever child touches it first


# -- OneOf / SomeOf run each child only on the examples it was chosen for --------------------


def _rows_of(sample: dict[str, object], idx: torch.Tensor) -> dict[str, object]:
    """The test's own sub-sample of examples ``idx`` (modality ``a`` and its lengths)."""
    lengths = sample["lengths"]["a"]  # type: ignore[index]
    return {"a": sample["a"][idx], "lengths": {"a": lengths[idx]}}  # type: ignore[index]


def _children(n: int) -> list[mm.NoiseTransform]:
    pool = [mm.AddGaussianSNR("a", snr_db=(20.0, 0.0)), mm.TimeMask("a", fraction=(0.0, 0.5)),
            mm.Gain("a", gain_db=(0.0, -20.0)), mm.FrameDropout("a", fraction=(0.2, 0.6))]  # fmt: skip
    return pool[:n]


@settings(max_examples=25)
@given(b=st.integers(1, 9), n=st.integers(1, 4), seed=st.integers(0, 2**31 - 1),
       weights=st.sampled_from(["uniform", "first", "last"]), p=st.sampled_from([1.0, 0.6]))  # fmt: skip
def test_one_of_equals_the_chosen_child_alone_on_its_examples(
    b: int, n: int, seed: int, weights: str, p: float
) -> None:
    g = _g(seed)
    s = {"a": torch.randn(b, 7, 3, generator=g)}
    s["lengths"] = {"a": torch.randint(1, 8, (b,), generator=g)}
    before = s["a"].clone()
    lv = torch.rand(b, generator=g) * (torch.rand(b, generator=g) > 0.2)  # some examples at 0
    w = {"uniform": None, "first": [1.0] + [0.0] * (n - 1), "last": [0.0] * (n - 1) + [1.0]}
    o = mm.OneOf(_children(n), weights=w[weights], p=p)
    out, rec = o.run(s, level=lv, generator=_g(seed + 1))
    assert torch.equal(s["a"], before)  # the caller's tensor is untouched
    applied = rec["applied"]
    assert torch.equal(applied, applied & (lv > 0))
    expected = s["a"].clone()
    for i, child in enumerate(o.transforms):
        idx = torch.nonzero(applied & (rec["params"]["choice"] == i)).flatten()
        if len(idx) == 0:  # chosen for no example: the child did not run
            assert rec["children"][str(i)] is None
            continue
        expected[idx] = child.replay(_rows_of(s, idx), rec["children"][str(i)])["a"]
    assert torch.equal(out["a"], expected)  # rows no child was chosen for are the input's
    assert torch.equal(o.replay(s, rec)["a"], out["a"])
    again = o(s, level=lv, generator=_g(seed + 1))["a"]  # record=False: in-place path
    assert torch.equal(again, out["a"]) and torch.equal(s["a"], before)


@settings(max_examples=20)
@given(b=st.integers(1, 9), lo=st.integers(0, 3), seed=st.integers(0, 2**31 - 1))
def test_some_of_equals_the_chosen_children_in_order_on_their_examples(
    b: int, lo: int, seed: int
) -> None:
    g = _g(seed)
    s = {"a": torch.randn(b, 7, 3, generator=g)}
    s["lengths"] = {"a": torch.randint(1, 8, (b,), generator=g)}
    lv = torch.rand(b, generator=g)
    o = mm.SomeOf(_children(3), n=(lo, 3))
    out, rec = o.run(s, level=lv, generator=_g(seed))
    current = s["a"].clone()
    for i, child in enumerate(o.transforms):
        idx = torch.nonzero(rec["applied"] & rec["params"]["chosen"][:, i]).flatten()
        if len(idx) == 0:
            assert rec["children"][str(i)] is None
            continue
        rows = {"a": current[idx], "lengths": {"a": s["lengths"]["a"][idx]}}
        current[idx] = child.replay(rows, rec["children"][str(i)])["a"]
    assert torch.equal(out["a"], current)
    assert torch.equal(o.replay(s, rec)["a"], out["a"])


@pytest.mark.parametrize("make", [lambda cs: mm.OneOf(cs), lambda cs: mm.SomeOf(cs, n=(1, 2))])
def test_children_process_only_their_chosen_examples(make) -> None:  # type: ignore[no-untyped-def]
    seen: list[int] = []
    children = _children(4)
    for child in children:
        real = child.apply_transform

        def counting(x, params, *, _real=real, **kw):  # type: ignore[no-untyped-def]
            seen.append(x.shape[0])
            return _real(x, params, **kw)

        child.apply_transform = counting  # type: ignore[method-assign]
    s = {"a": torch.randn(64, 5, 2)}
    _, rec = make(children).run(s, level=1.0, generator=_g(0))
    # each example is processed by the children it got, and by no other child
    assert sum(seen) == (int(rec["params"]["chosen"].sum()) if "chosen" in rec["params"] else 64)
    assert max(seen) < 64


def test_one_of_merges_lengths_and_presence_written_by_a_child() -> None:
    g = _g(5)
    text = torch.randint(3, 50, (12, 9), generator=g)
    lengths = torch.randint(2, 10, (12,), generator=g)
    s = {"t": text, "v": torch.randn(12, 4, 2), "lengths": {"t": lengths}}
    o = mm.OneOf([mm.TokenDeletion("t", fraction=(0.9, 0.9)), mm.SpanMask("t", mask_id=1),
                  mm.DropModalities(["v"], fraction=(1.0, 1.0), min_present=0)])  # fmt: skip
    out, rec = o.run(s, level=1.0, generator=_g(6))
    assert s["lengths"]["t"] is lengths and torch.equal(lengths, s["lengths"]["t"])
    dele = rec["params"]["choice"] == 0
    assert dele.any() and (~dele).any()
    assert bool((out["lengths"]["t"][dele] <= lengths[dele]).all())
    assert torch.equal(out["lengths"]["t"][~dele], lengths[~dele])  # others keep their lengths
    choice = rec["params"]["choice"]
    assert torch.equal(out["present"]["v"], choice != 2)  # dropped where chosen only
    assert torch.equal(out["v"][choice != 2], s["v"][choice != 2])
    assert bool((out["v"][rec["params"]["choice"] == 2] == 0).all())
    replayed = o.replay(s, rec)
    assert torch.equal(replayed["t"], out["t"]) and torch.equal(replayed["v"], out["v"])
    assert torch.equal(replayed["lengths"]["t"], out["lengths"]["t"])


def test_one_of_is_differentiable_through_its_rows() -> None:
    x = torch.randn(6, 4, 2, requires_grad=True)
    o = mm.OneOf([mm.Gain("a", gain_db=(0.0, -20.0)), mm.Gain("a", gain_db=(0.0, 20.0))])
    out, rec = o.run({"a": x}, level=1.0, generator=_g(2))
    out["a"].sum().backward()
    scale = torch.where(rec["params"]["choice"] == 0, 0.1, 10.0)
    assert x.grad is not None
    assert torch.allclose(x.grad, scale[:, None, None].expand_as(x), rtol=1e-5)


def _containers() -> list[mm.NoiseTransform]:
    feats = [
        mm.AddGaussianSNR(snr_db=(20.0, -5.0)),
        mm.TimeMask(fraction=(0.1, 0.6)),
        mm.TokenDeletion(fraction=(0.1, 0.5)),
        mm.FrameDropout(fraction=(0.1, 0.5)),
    ]
    return [
        mm.Compose([mm.AddGaussianSNR("a"), mm.TimeMask("a")], p=0.7),
        mm.OneOf([mm.AddGaussianSNR("a"), mm.TimeMask("a"), mm.TokenDeletion("t")], p=0.8),
        mm.SomeOf(feats, n=(1, 3)),
        mm.MultimodalPipeline(
            {"a": [mm.AddGaussianSNR(), mm.FrameDropout()], "t": [mm.TokenDeletion()]},
            missing=mm.DropModalities(["a", "t"], fraction=(0.0, 0.5)),
            p=0.8,
        ),
        mm.DropModalities(["a", "t"], fraction=(0.2, 0.6), fill=mm.NMERNoise(per_example=True)),
    ]


@pytest.mark.parametrize("carrier", ["generators", "key"])
@pytest.mark.parametrize("make", range(5))
@given(seed=st.integers(0, 2**31 - 1))
@settings(max_examples=8, deadline=None)
def test_containers_with_per_example_generators_treat_each_example_alone(
    make: int, carrier: str, seed: int
) -> None:
    # containers hand each child the generators of the examples it runs on (a per-example Key:
    # every child runs on the whole batch, row b from seed b): every example of a batched call
    # gets what a batch of one gets from its own generator
    b = 6
    g = _g(seed)
    s = {
        "a": torch.randn(b, 5, 3, generator=g),
        "t": torch.randint(1, 50, (b, 7), generator=g),
        "lengths": {"a": torch.tensor([5, 1, 3, 5, 2, 4]), "t": torch.tensor([7, 2, 7, 1, 5, 6])},
        "kinds": {"a": "features", "t": "tokens"},
    }
    t = _containers()[make]
    lv = torch.tensor([1.0, 0.0, 0.5, 1.0, 0.3, 1.0])
    seeds = [seed + 7919 * i for i in range(b)]
    keyed = carrier == "key"
    per = mm.rng.Key.from_seeds(seeds) if keyed else mm.rng.PerExample.from_seeds(seeds)
    out, rec = t.run(s, level=lv, generator=per)
    replayed = t.replay(s, rec)
    for i in range(b):
        one = {
            "a": s["a"][i : i + 1],
            "t": s["t"][i : i + 1],
            "lengths": {k: v[i : i + 1] for k, v in s["lengths"].items()},
            "kinds": s["kinds"],
        }
        one_g = mm.rng.Key(seeds[i]) if keyed else mm.rng.make_generator(seeds[i])
        alone = t(one, level=lv[i : i + 1], generator=one_g)
        for k in ("a", "t"):
            torch.testing.assert_close(out[k][i : i + 1], alone[k], rtol=1e-4, atol=1e-4)
            assert torch.equal(replayed[k], out[k])
        for key in ("lengths", "present"):
            for k, v in alone.get(key, {}).items():
                assert torch.equal(torch.as_tensor(out[key][k])[i : i + 1], torch.as_tensor(v))


def test_batch_level_protocols_refuse_per_example_generators() -> None:
    s = {"a": torch.randn(4, 3, 2), "v": torch.randn(4, 3, 2)}
    per = mm.rng.PerExample.from_seeds(range(4))
    with pytest.raises(ValueError, match="whole batch"):
        mm.DropModalities(["a", "v"], missing_rate=(0.3, 0.3))(s, generator=per)
    with pytest.raises(ValueError, match=r"one stream per example \(4\)"):
        mm.AddGaussianSNR("a")(s, generator=mm.rng.PerExample.from_seeds(range(3)))


def test_a_draw_without_one_row_per_generator_is_refused() -> None:
    from mmnoise.functional import _fastrand

    per = mm.rng.PerExample.from_seeds([1, 2, 3])
    with pytest.raises(ValueError, match=r"randn: per-example generators give one row per example"):
        mm.rng.randn((2, 4), generator=per)
    with pytest.raises(ValueError, match=r"_fastrand: .*expected a draw shaped \(3, \.\.\.\)"):
        _fastrand.normal_(torch.empty(2, 70_000), generator=per)


def test_one_of_weights_can_be_reassigned() -> None:
    o = mm.OneOf([mm.Gain("a", gain_db=(0.0, -20.0)), mm.Gain("a", gain_db=(0.0, 20.0))])
    s = {"a": torch.ones(64, 2, 1)}
    o.weights = [0.0, 1.0]  # only the second child from now on
    _, rec = o.run(s, level=1.0, generator=_g(3))
    assert bool((rec["params"]["choice"] == 1).all())
    assert mm.from_config(o.to_config()).weights == [0.0, 1.0]
    with pytest.raises(ValueError, match="OneOf: expected 2 non-negative weights"):
        o.weights = [1.0]


def test_pipeline_takes_a_single_transform_for_a_list_of_one() -> None:
    s = {"audio": torch.randn(2, 5, 3)}
    g = torch.Generator
    single = mm.MultimodalPipeline({"audio": mm.AddGaussianSNR()})
    listed = mm.MultimodalPipeline({"audio": [mm.AddGaussianSNR()]})
    assert torch.equal(single(s, generator=g().manual_seed(0))["audio"],
                       listed(s, generator=g().manual_seed(0))["audio"])  # fmt: skip
    assert single.to_config() == listed.to_config()
