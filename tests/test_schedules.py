"""Schedules: values in [0, 1], ramps hit their endpoints, configs and states round-trip."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmnoise.schedules import (
    Chain,
    Constant,
    Cosine,
    Cyclic,
    Exponential,
    Linear,
    NoiseMix,
    PerModality,
    Plateau,
    Schedule,
    Sequential,
    Step,
    WarmUp,
    sample_levels,
    schedule_from_config,
)

levels = st.floats(0.0, 1.0, allow_nan=False)
lengths = st.floats(0.5, 500.0, allow_nan=False)
steps = st.floats(0.0, 2000.0, allow_nan=False)
rates = st.floats(-8.0, 8.0, allow_nan=False)


@st.composite
def schedules(draw: st.DrawFn, depth: int = 0) -> Schedule:
    kinds = ["const", "linear", "cosine", "exp", "step", "cyclic"]
    if depth < 2:
        kinds += ["warmup", "sequential"]
    kind = draw(st.sampled_from(kinds))
    if kind == "const":
        return Constant(draw(levels))
    if kind in ("linear", "cosine", "exp"):
        a, b, n = draw(levels), draw(levels), draw(lengths)
        if kind == "linear":
            return Linear(a, b, steps=n)
        if kind == "cosine":
            return Cosine(a, b, steps=n)
        return Exponential(a, b, steps=n, rate=draw(rates))
    if kind == "step":
        miles = sorted(set(draw(st.lists(st.integers(1, 300), min_size=1, max_size=4))))
        return Step(tuple(draw(levels) for _ in range(len(miles) + 1)), tuple(miles))
    if kind == "cyclic":
        shape = draw(st.sampled_from(["triangle", "cosine"]))
        return Cyclic(draw(levels), draw(levels), period=draw(lengths), shape=shape)
    if kind == "warmup":
        return WarmUp(draw(schedules(depth + 1)), steps=draw(lengths), start=draw(levels))
    inner = (draw(schedules(depth + 1)), draw(schedules(depth + 1)))
    return Sequential(inner, (draw(st.integers(1, 300)),))


# -- properties ---------------------------------------------------------------------------------


@settings(max_examples=60)
@given(schedules(), steps)
def test_every_schedule_stays_in_unit_interval(s: Schedule, step: float) -> None:
    v = s(step)
    assert isinstance(v, float) and 0.0 <= v <= 1.0


@settings(max_examples=40)
@given(schedules(), st.lists(steps, min_size=1, max_size=5))
def test_config_round_trips_through_json(s: Schedule, at: list[float]) -> None:
    cfg = json.loads(json.dumps(s.to_config()))
    rebuilt = schedule_from_config(cfg)
    assert rebuilt == s
    assert [rebuilt(t) for t in at] == [s(t) for t in at]


@settings(max_examples=40)
@given(
    st.sampled_from([Linear, Cosine, Exponential]), levels, levels, lengths, st.integers(0, 1000)
)
def test_ramps_hit_endpoints_and_are_monotone(
    cls: type[Linear], a: float, b: float, n: float, k: int
) -> None:
    s = cls(a, b, steps=n)
    assert s(0) == a
    assert s(n) == b
    assert s(n + k) == b
    grid = [s(n * i / 20) for i in range(21)]
    pairs = list(itertools.pairwise(grid))
    if b >= a:
        assert all(y >= x - 1e-12 for x, y in pairs)
    else:
        assert all(y <= x + 1e-12 for x, y in pairs)


@settings(max_examples=30)
@given(levels, levels, lengths, st.sampled_from(["triangle", "cosine"]), steps)
def test_cyclic_is_periodic_and_spans_low_high(
    lo: float, hi: float, period: float, shape: str, t: float
) -> None:
    s = Cyclic(lo, hi, period=period, shape=shape)  # type: ignore[arg-type]
    assert s(0) == pytest.approx(lo)
    assert s(period / 2) == pytest.approx(hi)
    assert s(t) == pytest.approx(s(t + period), abs=1e-6)


@settings(max_examples=30)
@given(schedules(depth=1), lengths, levels, st.floats(0.0, 100.0))
def test_warmup_ramps_then_hands_over(inner: Schedule, n: float, start: float, t: float) -> None:
    s = WarmUp(inner, steps=n, start=start)
    assert s(0) == start
    assert s(n) == inner(0)
    assert s(n + t) == pytest.approx(inner((n + t) - n))
    # the warm-up is a straight line between start and inner(0)
    assert s(n / 2) == pytest.approx((start + inner(0)) / 2)


def test_sequential_restarts_each_schedule_at_its_milestone() -> None:
    a, b = Linear(0.0, 1.0, steps=10), Cosine(1.0, 0.0, steps=4)
    s = Chain((a, b), (10,))
    assert [s(i) for i in (0, 5, 9)] == [a(0), a(5), a(9)]
    assert [s(i) for i in (10, 12, 14, 20)] == [b(0), b(2), b(4), b(10)]


def test_step_changes_at_milestones() -> None:
    s = Step((0.1, 0.4, 0.9), (3, 7))
    assert [s(t) for t in (0, 2.99, 3, 6, 7, 100)] == [0.1, 0.1, 0.4, 0.4, 0.9, 0.9]


def test_exponential_curvature_sign() -> None:
    fast, slow = Exponential(0.0, 1.0, steps=10, rate=4.0), Exponential(0.0, 1.0, steps=10, rate=-4)
    assert fast(5) > Linear(0.0, 1.0, steps=10)(5) > slow(5)
    assert Exponential(0.2, 0.6, steps=10, rate=0.0)(5) == pytest.approx(0.4)


def test_resumed_pure_schedule_continues_exactly() -> None:
    s = WarmUp(Chain((Cosine(1.0, 0.3, steps=50), Cyclic(0.3, 0.6, period=8)), (50,)), steps=5)
    full = [s(t) for t in range(100)]
    resumed = schedule_from_config(json.loads(json.dumps(s.to_config())))
    assert [resumed(t) for t in range(40, 100)] == full[40:]


def test_per_modality_returns_dict_and_round_trips() -> None:
    s = PerModality({"audio": Linear(0.0, 1.0, steps=4), "visual": Constant(0.5)})
    assert s(2) == {"audio": 0.5, "visual": 0.5}
    rebuilt = schedule_from_config(json.loads(json.dumps(s.to_config())))
    assert rebuilt == s and rebuilt(3) == s(3)


# -- NoiseMix ----------------------------------------------------------------------------------


def test_noise_mix_introduces_and_ramps_families() -> None:
    mix = NoiseMix.staged(
        {"audio": [("white", 0), ("babble", 10), ("reverb", 20)], "text": [("swap", 5)]}, ramp=10
    )
    assert mix(0)["audio"] == {"white": 1.0, "babble": 0.0, "reverb": 0.0}
    assert mix(0)["text"] == {"swap": 0.0}  # nothing active yet: all zeros, not NaN
    assert mix.active(0) == {"audio": ("white",), "text": ()}
    w = mix(15)["audio"]
    assert w["babble"] == pytest.approx(0.5 / 1.5) and w["reverb"] == 0.0
    for t in (12, 25, 40):
        assert math.fsum(mix(t)["audio"].values()) == pytest.approx(1.0)
    assert mix(40)["audio"] == pytest.approx({"white": 1 / 3, "babble": 1 / 3, "reverb": 1 / 3})
    assert mix(6)["text"] == {"swap": 1.0}  # weight 0.1 on the ramp, normalised
    rebuilt = schedule_from_config(json.loads(json.dumps(mix.to_config())))
    assert rebuilt == mix and rebuilt(17) == mix(17)


def test_noise_mix_without_normalisation_returns_raw_weights() -> None:
    mix = NoiseMix({"a": {"x": Constant(0.2), "y": Linear(0.0, 1.0, steps=2)}}, normalize=False)
    assert mix(1) == {"a": {"x": 0.2, "y": 0.5}}


def test_noise_mix_weights_drive_one_of() -> None:
    from mmnoise.transforms.compose import OneOf
    from mmnoise.transforms.features import Gain

    mix = NoiseMix.staged({"a": [("quiet", 0), ("loud", 3)]})
    names = ["quiet", "loud"]
    ts = {"quiet": Gain("a", gain_db=(0.0, -20.0)), "loud": Gain("a", gain_db=(0.0, 20.0))}
    x = {"a": torch.ones(64, 1, 1)}
    before = OneOf([ts[n] for n in names], weights=[mix(0)["a"][n] for n in names])
    y = before(x, level=1.0, generator=torch.Generator().manual_seed(0))["a"]
    assert torch.allclose(y, torch.full_like(y, 0.1))  # only "quiet" is active at step 0
    after = OneOf([ts[n] for n in names], weights=[mix(3)["a"][n] for n in names])
    y = after(x, level=1.0, generator=torch.Generator().manual_seed(0))["a"]
    assert bool((y > 1).any()) and bool((y < 1).any())


# -- Plateau -----------------------------------------------------------------------------------


def test_plateau_raises_level_after_patience_and_respects_bounds() -> None:
    p = Plateau(level=0.5, patience=1, step_size=0.3, bounds=(0.2, 0.9))
    got = [p.step(m) for m in (0.5, 0.5, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6)]
    assert got == pytest.approx([0.5, 0.5, 0.8, 0.8, 0.8, 0.9, 0.9, 0.9, 0.9])
    assert p(123) == p.level == 0.9


def test_plateau_min_mode_down_direction_threshold_and_cooldown() -> None:
    kw = {"level": 0.6, "mode": "min", "direction": "down", "patience": 0, "step_size": 0.2}
    p = Plateau(**kw, threshold=0.05, cooldown=2)  # type: ignore[arg-type]
    # 1.0 sets best; 0.98 is not better by > 0.05 -> move down and forget best; 0.99 sets the
    # new best; the cooldown absorbs 0.97; 0.96 moves again; 0.5 / 0.6 in cooldown; 0.7 moves.
    got = [p.step(m) for m in (1.0, 0.98, 0.99, 0.97, 0.96, 0.5, 0.6, 0.7)]
    assert got == pytest.approx([0.6, 0.4, 0.4, 0.4, 0.2, 0.2, 0.2, 0.0])
    # without cooldown 0.97 would already move
    q = Plateau(**kw, threshold=0.05)  # type: ignore[arg-type]
    assert [q.step(m) for m in (1.0, 0.98, 0.99, 0.97)] == pytest.approx([0.6, 0.4, 0.4, 0.2])


@settings(max_examples=20)
@given(st.lists(st.floats(0.0, 1.0), min_size=2, max_size=30), st.data())
def test_plateau_resume_continues_exactly(metrics: list[float], data: st.DataObject) -> None:
    cut = data.draw(st.integers(1, len(metrics) - 1))
    kw = {"level": 0.1, "patience": 1, "step_size": 0.15, "cooldown": 1}
    ref = Plateau(**kw)  # type: ignore[arg-type]
    ref_levels = [ref.step(m) for m in metrics]
    first = Plateau(**kw)  # type: ignore[arg-type]
    for m in metrics[:cut]:
        first.step(m)
    state = json.loads(json.dumps(first.state_dict()))
    resumed = schedule_from_config(json.loads(json.dumps(first.to_config())))
    resumed.load_state_dict(state)
    assert [resumed.step(m) for m in metrics[cut:]] == ref_levels[cut:]
    assert resumed.state_dict() == ref.state_dict()
    assert all(0.0 <= v <= 1.0 for v in ref_levels)


def test_plateau_errors() -> None:
    with pytest.raises(ValueError, match="Plateau: expected level inside bounds"):
        Plateau(level=0.9, bounds=(0.0, 0.5))
    p = Plateau()
    with pytest.raises(ValueError, match="finite metric"):
        p.step(float("nan"))
    with pytest.raises(KeyError, match="missing"):
        p.load_state_dict({"level": 0.2})
    bounded = Plateau(bounds=(0.0, 0.3))
    with pytest.raises(ValueError, match="outside bounds"):
        bounded.load_state_dict({**bounded.state_dict(), "level": 0.8})


# -- sample_levels -----------------------------------------------------------------------------


def test_sample_levels_modes() -> None:
    g = torch.Generator().manual_seed(0)
    fixed = sample_levels(0.3, 5)
    assert fixed.shape == (5,) and fixed.dtype == torch.float32
    assert torch.equal(fixed, torch.full((5,), 0.3))
    u = sample_levels(0.4, 4000, mode="uniform", generator=g)
    assert float(u.min()) >= 0.0 and float(u.max()) <= 0.4
    assert float(u.mean()) == pytest.approx(0.2, abs=0.01)
    n = sample_levels(0.5, 4000, mode="normal", std=0.1, generator=g)
    assert float(n.mean()) == pytest.approx(0.5, abs=0.01)
    assert float(n.std()) == pytest.approx(0.1, abs=0.01)
    edge = sample_levels(1.0, 4000, mode="normal", std=0.2, generator=g)
    assert float(edge.max()) <= 1.0 and float(edge.min()) >= 0.0
    # truncated at 1: the half-normal below 1 has mean 1 - 0.2 * sqrt(2 / pi)
    assert float(edge.mean()) == pytest.approx(1 - 0.2 * math.sqrt(2 / math.pi), abs=0.01)


def test_sample_levels_is_seeded_and_elementwise() -> None:
    a = sample_levels(0.7, 6, mode="normal", generator=torch.Generator().manual_seed(3))
    b = sample_levels(0.7, 6, mode="normal", generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    per = torch.tensor([0.0, 0.5, 1.0])
    u = sample_levels(per, 3, mode="uniform", generator=torch.Generator().manual_seed(1))
    assert u[0] == 0 and bool((u <= per).all())


@pytest.mark.parametrize(
    ("kwargs", "err", "match"),
    [
        ({"level": 1.5, "batch_size": 2}, ValueError, r"level in \[0, 1\]"),
        ({"level": 0.5, "batch_size": 0}, ValueError, "batch_size"),
        ({"level": 0.5, "batch_size": 2, "mode": "gauss"}, ValueError, "mode"),
        ({"level": 0.5, "batch_size": 2, "mode": "normal", "std": 0.0}, ValueError, "std"),
        ({"level": torch.ones(3), "batch_size": 2}, ValueError, r"\(2,\) tensor"),
    ],
)
def test_sample_levels_errors(kwargs: dict[str, object], err: type[Exception], match: str) -> None:
    with pytest.raises(err, match=match):
        sample_levels(**kwargs)  # type: ignore[arg-type]


# -- construction errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Linear(1.5, 0.0, steps=3), r"Linear: expected start in \[0, 1\]"),
        (lambda: Cosine(0.0, 1.0, steps=0), "Cosine: expected steps > 0"),
        (lambda: Step((0.1, 0.2), (3, 5)), "len\\(levels\\) == len\\(milestones\\) \\+ 1"),
        (lambda: Step((0.1, 0.2, 0.3), (5, 3)), "strictly increasing"),
        (lambda: Cyclic(0.0, 1.0, period=2, shape="square"), "shape"),
        (lambda: Sequential((Constant(0.1), 0.5), (2,)), "Schedule instances"),  # type: ignore[arg-type]
        (lambda: PerModality({}), "non-empty"),
        (lambda: NoiseMix({"a": {"x": 0.3}}), "Schedule"),  # type: ignore[dict-item]
        (lambda: schedule_from_config({"type": "Nope"}), "one of"),
    ],
)
def test_bad_configs_raise_clear_errors(make: object, match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        make()  # type: ignore[operator]


def test_numpy_and_tensor_steps_are_accepted() -> None:
    s = Linear(0.0, 1.0, steps=np.int64(4))
    assert s(np.int64(2)) == s(torch.tensor(2)) == s(2) == 0.5
    assert s.to_config()["steps"] == 4.0 and isinstance(s.to_config()["steps"], float)
    with pytest.raises(ValueError, match="ramp >= 0"):
        NoiseMix.staged({"a": [("x", 0)]}, ramp=-1)


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "3"])
def test_bad_steps_raise(bad: object) -> None:
    with pytest.raises((ValueError, TypeError), match="step"):
        Linear(0.0, 1.0, steps=3)(bad)  # type: ignore[arg-type]
