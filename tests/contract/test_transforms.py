"""The shared property suite: every public transform in the table must satisfy every contract."""

from __future__ import annotations

import inspect
import json
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mmnoise
from mmnoise.sample import Kind, time_dim
from mmnoise.transforms.base import NoiseTransform
from mmnoise.transforms.record import changed_mask
from tests.contract.case import Case
from tests.contract.edge import edge_batches, level_vectors
from tests.contract.table import ALL_CASES
from tests.records import assert_declared, frozen_record
from tests.strategies import DEVICES, as_on_cuda, batches, levels, seeds

KEY = "m"
_T = TypeVar("_T")
CASE_IDS = [c.id for c in ALL_CASES]
# Containers and whole-modality ops have their own suite (tests/test_compose.py,
# tests/test_missing.py); they are listed here so that the completeness check covers them.
JOINT = {"Compose", "OneOf", "SomeOf", "MultimodalPipeline", "DropModalities"}


def _sample(x: torch.Tensor, lengths: torch.Tensor | None, case: Case) -> dict[str, object]:
    s: dict[str, object] = {
        KEY: x,
        "label": torch.arange(x.shape[0]),
        "id": "batch-0",
        "kinds": {KEY: case.kind},
    }
    if lengths is not None:
        s["lengths"] = {KEY: lengths}
    s.update(case.extra)
    return s


def _gen(seed: int, device: str) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


#: how a call draws and decides: a CPU generator; a key; a key with every module deciding as it
#: does on CUDA (no host reads: device assertions, branchless kernels, whole-batch containers)
CARRIERS = ["generator", "key", "key-as-on-cuda"]


@contextmanager
def _carrier(carrier: str, seed: int) -> Iterator[torch.Generator | mmnoise.rng.Key]:
    if carrier == "generator":
        yield _gen(seed, "cpu")
        return
    if carrier == "key":
        yield mmnoise.rng.Key(seed)
        return
    with as_on_cuda():
        yield mmnoise.rng.Key(seed)


def test_table_covers_every_public_transform() -> None:
    public = {
        name
        for name in mmnoise.transforms.__all__
        if inspect.isclass(obj := getattr(mmnoise.transforms, name))
        and issubclass(obj, NoiseTransform)
        and obj is not NoiseTransform
    }
    in_table = {c.cls.__name__ for c in ALL_CASES} | JOINT
    missing = public - in_table
    assert not missing, f"public transforms missing from the contract table: {sorted(missing)}"
    assert mmnoise.registered_transforms().keys() >= public


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", ALL_CASES, ids=CASE_IDS)
@given(data=st.data(), level=levels, seed=seeds)
@settings(max_examples=15)
def test_core_contract(
    case: Case, device: str, data: st.DataObject, level: float, seed: int
) -> None:
    drawn = data.draw(batches(case.kind, device))
    sample = _sample(drawn.x, drawn.lengths, case)
    before = drawn.x.clone()
    version = drawn.x._version
    t = case.build(KEY)
    out, rec = t.run(sample, level=level, generator=_gen(seed, device))
    y = out[KEY]
    # shape / dtype / device kept, input untouched, other keys passed through as the same objects
    assert y.shape == drawn.x.shape and y.dtype == drawn.x.dtype and y.device == drawn.x.device
    assert torch.equal(drawn.x, before) and drawn.x._version == version
    assert out is not sample and out["label"] is sample["label"] and out["id"] == "batch-0"
    # seeded determinism
    again = t(sample, level=level, generator=_gen(seed, device))[KEY]
    assert torch.equal(again, y)
    # exact replay from the record, which it leaves as it was; every field is declared
    frozen = frozen_record(rec)
    assert torch.equal(t.replay(sample, rec)[KEY], y)
    assert frozen_record(rec) == frozen
    assert_declared(rec)
    # class == functional: the kernel called with the recorded params gives the same output
    kwargs = dict(rec["keys"][KEY]["params"])
    if "seed" in kwargs:
        kwargs["generator"] = mmnoise.rng.generator_from_seed(kwargs.pop("seed"), device)
    if t._kernel_takes_time_dim:
        kwargs["time_dim"] = time_dim(drawn.kind)
    direct = type(t).kernel(drawn.x, **kwargs, **t.kernel_kwargs(), lengths=drawn.lengths)
    assert torch.equal(direct, y)
    # padding untouched; the mask is False on padding and matches what changed
    mask = rec["keys"][KEY]["mask"]
    assert torch.equal(mask, changed_mask(drawn.x, y, drawn.kind))
    if drawn.lengths is not None:
        dim = time_dim(drawn.kind)
        steps = torch.arange(drawn.x.shape[dim], device=device)
        pad = steps[None, :] >= drawn.lengths[:, None]
        assert not bool(mask[pad].any())
        pad_b = pad.reshape(
            [drawn.x.shape[0]]
            + [drawn.x.shape[dim] if i == dim else 1 for i in range(1, drawn.x.ndim)]
        ).expand_as(drawn.x)
        assert torch.equal(y[pad_b], drawn.x[pad_b])


@pytest.mark.parametrize("carrier", CARRIERS)
@pytest.mark.parametrize("case", ALL_CASES, ids=CASE_IDS)
@given(data=st.data(), seed=seeds)
@settings(max_examples=10)
def test_level_zero_and_p_zero_are_exact_identities(
    case: Case, carrier: str, data: st.DataObject, seed: int
) -> None:
    drawn = data.draw(batches(case.kind))
    sample = _sample(drawn.x, drawn.lengths, case)
    t = case.build(KEY)
    with _carrier(carrier, seed) as g:
        assert torch.equal(t(sample, level=0.0, generator=g)[KEY], drawn.x)
    per_example = torch.zeros(drawn.x.shape[0])
    with _carrier(carrier, seed) as g:
        assert torch.equal(t(sample, level=per_example, generator=g)[KEY], drawn.x)
    t.p = 0.0
    with _carrier(carrier, seed) as g:
        assert torch.equal(t(sample, level=1.0, generator=g)[KEY], drawn.x)


def _severity(stat: str, x: torch.Tensor, y: torch.Tensor) -> float:
    if stat == "count":
        return float((x != y).sum())
    return float((y.double() - x.double()).pow(2).mean())


@pytest.mark.parametrize("case", [c for c in ALL_CASES if c.monotone], ids=lambda c: c.id)
@given(data=st.data(), seed=seeds)
@settings(max_examples=10)
def test_severity_is_monotone_in_level(case: Case, data: st.DataObject, seed: int) -> None:
    drawn = data.draw(batches(case.kind, padded=False))
    sample = _sample(drawn.x, None, case)
    t = case.build(KEY)
    stats = [
        _severity(
            str(case.monotone), drawn.x, t(sample, level=lv, generator=_gen(seed, "cpu"))[KEY]
        )
        for lv in (0.1, 0.5, 1.0)
    ]
    assert stats[0] <= stats[1] + 1e-9 <= stats[2] + 2e-9, stats


@pytest.mark.parametrize("case", [c for c in ALL_CASES if c.snr], ids=lambda c: c.id)
@pytest.mark.parametrize("carrier", CARRIERS)
@given(data=st.data(), level=levels, seed=seeds)
@settings(max_examples=15)
def test_measured_snr_matches_request(
    case: Case, carrier: str, data: st.DataObject, level: float, seed: int
) -> None:
    drawn = data.draw(batches(case.kind))
    t = case.build(KEY)
    with _carrier(carrier, seed) as g:
        out, rec = t.run(_sample(drawn.x, drawn.lengths, case), level=level, generator=g)
    noise = (out[KEY] - drawn.x).double()
    x = drawn.x.double()
    if drawn.lengths is not None:
        dim = time_dim(drawn.kind)
        valid = torch.arange(x.shape[dim])[None, :] < drawn.lengths[:, None]
        shape = [x.shape[0]] + [x.shape[dim] if i == dim else 1 for i in range(1, x.ndim)]
        x, noise = x * valid.reshape(shape), noise * valid.reshape(shape)
    p_signal = x.pow(2).flatten(1).sum(1)
    p_noise = noise.pow(2).flatten(1).sum(1)
    measured = 10 * torch.log10(p_signal / p_noise)
    requested = rec["keys"][KEY]["params"]["snr_db"].double()
    assert torch.allclose(measured, requested, atol=0.5), (measured, requested)


@pytest.mark.parametrize("case", [c for c in ALL_CASES if c.cls.differentiable], ids=lambda c: c.id)
def test_gradcheck_where_differentiable(case: Case) -> None:
    t = case.build(KEY)
    shape = {"features": (2, 5, 3), "waveform": (2, 1, 16), "frames": (1, 2, 1, 4, 4)}[case.kind]
    x = torch.rand(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) + 0.5
    lengths = torch.tensor([shape[time_dim(case.kind)], 1] if shape[0] == 2 else [1])
    sample = _sample(x, lengths, case)
    _, rec = t.run(sample, level=0.6, generator=torch.Generator().manual_seed(1))
    params = rec["keys"][KEY]["params"]
    kind = case.kind

    def fn(inp: torch.Tensor) -> torch.Tensor:
        return t.apply_transform(inp, params, kind=kind, lengths=lengths)

    assert torch.autograd.gradcheck(fn, (x.requires_grad_(),), eps=1e-6, atol=1e-4)


@pytest.mark.parametrize("case", ALL_CASES, ids=CASE_IDS)
def test_config_round_trips_through_json(case: Case) -> None:
    t = case.build(KEY)
    config = json.loads(json.dumps(t.to_config()))
    clone = mmnoise.from_config(config)
    assert type(clone) is type(t) and clone.to_config() == t.to_config()
    x = torch.rand((2, 3, 4) if case.kind != "frames" else (2, 2, 1, 8, 8))
    if case.kind == "tokens":
        x = torch.randint(4, 50, (2, 6))
    elif case.kind == "waveform":
        x = torch.randn(2, 1, 32)
    s = _sample(x, None, case)
    a = t(s, level=0.7, generator=torch.Generator().manual_seed(3))[KEY]
    b = clone(s, level=0.7, generator=torch.Generator().manual_seed(3))[KEY]
    assert torch.equal(a, b)


# -- edge inputs: every dtype, memory layout, value pattern, length and level form ------------
def _silently(fn: Callable[[], _T]) -> _T:
    """Run ``fn`` with warnings ignored (Babble warns on silent talkers: zeros are drawn here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


def _requested_noise_rms(
    x: torch.Tensor, lengths: torch.Tensor | None, kind: Kind, snr_db: torch.Tensor
) -> torch.Tensor:
    """(B,) float64 rms of the noise an SNR op must add: the valid signal's rms * 10^(-snr/20).

    Taken on x / peak, so that squares of float64 subnormals do not underflow.
    """
    v = x.detach().cpu().double().movedim(time_dim(kind), 1)  # (B, T, ...)
    steps = torch.full((v.shape[0],), v.shape[1]) if lengths is None else lengths.cpu()
    valid = torch.arange(v.shape[1])[None, :] < steps[:, None]
    per_step = v[0, 0].numel()
    v = (v * valid.reshape(*valid.shape, *[1] * (v.ndim - 2))).flatten(1)
    peak = v.abs().amax(dim=1)
    unit = v / torch.where(peak > 0, peak, 1.0)[:, None]
    rms = peak * (unit.square().sum(dim=1) / (steps * per_step)).sqrt()
    return rms * 10 ** (-snr_db.detach().cpu().double() / 20)


@pytest.mark.parametrize("carrier", CARRIERS)
@pytest.mark.parametrize("case", ALL_CASES, ids=CASE_IDS)
@given(data=st.data(), seed=seeds)
@settings(max_examples=12)
def test_edge_inputs_keep_the_contract(
    case: Case, carrier: str, data: st.DataObject, seed: int
) -> None:
    edge = data.draw(edge_batches(case.kind))
    x, b = edge.x, edge.x.shape[0]
    level = data.draw(level_vectors(b))
    sample = _sample(x, edge.lengths, case)
    before = x.clone()
    t = case.build(KEY)
    with _carrier(carrier, seed) as g:
        out, rec = _silently(lambda: t.run(sample, level=level, generator=g))
    y = out[KEY]
    assert y.dtype == x.dtype and y.shape == x.shape, (y.dtype, y.shape)
    assert torch.equal(x, before)
    if y.is_floating_point():
        assert bool(torch.isfinite(y).all()), (edge.values, edge.layout, x.dtype)
    if case.kind == "frames":
        assert bool(((y >= 0) & (y <= 1)).all()), (float(y.min()), float(y.max()))
    # `applied` is exactly "this example's output differs", only where level > 0 once rounded
    # to float32 (p = 1); level 0 (or 1e-50) is an identity
    positive = torch.as_tensor(level).to(torch.float32).expand(b) > 0
    applied = rec["keys"][KEY]["applied"]
    # a change of sign counts (a -0.0 written back as 0.0 changed the example's bits)
    differs = y != x
    if y.is_floating_point():
        differs = differs | (torch.signbit(y) != torch.signbit(x))
    changed = differs.reshape(b, -1).any(dim=1)
    assert torch.equal(applied, changed)
    assert not bool((changed & ~positive).any())
    if case.snr and edge.values != "zeros":
        # an SNR op reaches its SNR on every example with signal, or records that it could not
        heard = changed_mask(torch.zeros_like(x), x, case.kind)
        if edge.lengths is not None:
            steps = torch.arange(heard.shape[1])[None, :]
            heard = heard & (steps < edge.lengths[:, None])
        reached = rec["keys"][KEY].get("snr_reached", torch.ones(b, dtype=torch.bool))
        # noise below half the dtype's smallest subnormal rounds to zero (documented): such an
        # example may come back unchanged; any example with a representable noise may not
        info = torch.finfo(x.dtype)
        smallest = info.smallest_normal * info.eps  # the smallest subnormal, exact in float64
        rms = _requested_noise_rms(x, edge.lengths, case.kind, rec["keys"][KEY]["params"]["snr_db"])
        audible = 2 * rms >= smallest
        missed = positive & heard.any(dim=1) & ~applied & reached & audible
        assert not bool(missed.any()), (edge.values, x.dtype, missed)
    with _carrier(carrier, seed):  # replayed the way it ran
        assert torch.equal(_silently(lambda: t.replay(sample, rec))[KEY], y)


@pytest.mark.parametrize("carrier", CARRIERS)
@pytest.mark.parametrize("case", [c for c in ALL_CASES if c.cls.differentiable], ids=lambda c: c.id)
@given(data=st.data(), seed=seeds)
@settings(max_examples=8)
def test_gradients_are_finite_on_edge_inputs(
    case: Case, carrier: str, data: st.DataObject, seed: int
) -> None:
    edge = data.draw(
        edge_batches(
            case.kind,
            dtypes=(torch.float32, torch.float64),
            values=("random", "constant", "zeros", "subnormal", "huge"),
        )
    )
    x = edge.x.detach().requires_grad_()  # a leaf with the drawn strides
    level = data.draw(level_vectors(x.shape[0]))
    t = case.build(KEY)
    with _carrier(carrier, seed) as g:
        y = _silently(lambda: t(_sample(x, edge.lengths, case), level=level, generator=g)[KEY])
    weights = torch.linspace(-1.0, 1.0, y.numel(), dtype=y.dtype).reshape(y.shape)
    (y * weights).sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all()), (edge.values, edge.layout)


def _fixed(kind: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    if kind == "tokens":
        return torch.randint(4, 50, (3, 16), generator=g)
    if kind == "frames":
        return torch.rand(3, 6, 3, 8, 8, generator=g)
    if kind == "waveform":
        return torch.randn(3, 1, 64, generator=g)
    return torch.randn(3, 16, 6, generator=g)


@pytest.mark.parametrize("case", [c for c in ALL_CASES if c.random], ids=lambda c: c.id)
def test_another_seed_gives_another_output(case: Case) -> None:
    sample = _sample(_fixed(case.kind), None, case)
    t = case.build(KEY)
    outs = [t(sample, level=0.5, generator=_gen(s, "cpu"))[KEY] for s in (0, 1, 2)]
    assert not torch.equal(outs[0], outs[1]) or not torch.equal(outs[0], outs[2])


@pytest.mark.parametrize("case", ALL_CASES, ids=CASE_IDS)
@given(data=st.data(), seed=seeds)
@settings(max_examples=8)
def test_each_example_follows_its_own_level(case: Case, data: st.DataObject, seed: int) -> None:
    # B >= 2 with both a 0 and a 1 level: the test cannot pass on a batch of one
    edge = data.draw(
        edge_batches(case.kind, min_batch=2, dtypes=(torch.float32,), values=("random",))
    )
    x, b = edge.x, edge.x.shape[0]
    rest = data.draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=b - 2, max_size=b - 2))
    lv = torch.tensor([1.0, 0.0, *rest])
    sample = _sample(x, edge.lengths, case)
    t = case.build(KEY)
    out, rec = _silently(lambda: t.run(sample, level=lv, generator=_gen(seed, "cpu")))
    full = _silently(lambda: t(sample, level=1.0, generator=_gen(seed, "cpu")))[KEY]
    applied = rec["keys"][KEY]["applied"]
    assert not bool((applied & (lv == 0)).any())  # applied means changed: never at level 0
    for i in range(b):
        # a level-0 example is untouched; a level-1 one gets exactly what a batch at level 1 gets
        assert torch.equal(out[KEY][i], x[i] if lv[i] == 0 else full[i]), i


def _param(name: str, like: torch.Tensor, b: int, g: torch.Generator) -> torch.Tensor:
    """A parameter the test makes itself, in the documented range of the kernel argument."""
    ranges = {
        "snr_db": (-5.0, 30.0), "gain_db": (-20.0, 0.0), "shift_fraction": (-0.5, 0.5),
        "bits": (1.0, 12.0), "sigma": (0.0, 2.0), "length": (0.0, 9.0), "angle_deg": (0.0, 360.0),
        "radius": (0.0, 4.0), "aspect": (0.5, 2.0), "quality": (5.0, 95.0), "delta": (-0.5, 0.5),
        "factor": (0.7, 1.0), "gamma": (1.0, 3.0), "gain": (0.3, 1.0), "scale": (0.1, 1.0),
        "cutoff_hz": (200.0, 6000.0), "low_hz": (100.0, 500.0), "high_hz": (2000.0, 6000.0),
        "rt60_s": (0.05, 0.5), "offset": (0.0, 0.99),
    }  # fmt: skip
    if name == "seed":
        return torch.randint(0, 2**62, (), generator=g)
    if name in ("index", "source"):
        return torch.randint(0, min(b, 2), like.shape, generator=g)  # every bank has >= 2 rows
    if name == "num_speakers":
        return torch.randint(1, 3, like.shape, generator=g)
    lo, hi = ranges.get(name, (0.0, 1.0))  # ratios, starts, widths, alpha_bar: fractions
    return lo + (hi - lo) * torch.rand(like.shape, generator=g)


@pytest.mark.parametrize("case", ALL_CASES, ids=CASE_IDS)
@given(data=st.data(), seed=seeds)
@settings(max_examples=8)
def test_class_equals_kernel_with_test_made_params(
    case: Case, data: st.DataObject, seed: int
) -> None:
    drawn = data.draw(batches(case.kind))
    sample = _sample(drawn.x, drawn.lengths, case)
    t = case.build(KEY)
    b = drawn.x.shape[0]
    _, rec = t.run(sample, level=0.5, generator=_gen(seed, "cpu"))  # only for the param names
    g = _gen(seed + 1, "cpu")
    params = {n: _param(n, v, b, g) for n, v in rec["keys"][KEY]["params"].items()}
    if "num_speakers" in params:
        params["num_speakers"] = params["num_speakers"].clamp(max=params["source"].shape[1])
    made = {
        "type": rec["type"],
        "keys": {KEY: {"params": params, "applied": torch.ones(b, dtype=torch.bool)}},
    }
    y = _silently(lambda: t.replay(sample, made))[KEY]
    kwargs: dict[str, object] = dict(params)
    if "seed" in kwargs:
        kwargs["generator"] = mmnoise.rng.make_generator(int(params["seed"]), "cpu")
        del kwargs["seed"]
    if t._kernel_takes_time_dim:
        kwargs["time_dim"] = time_dim(drawn.kind)
    direct = type(t).kernel(drawn.x, **kwargs, **t.kernel_kwargs(), lengths=drawn.lengths)
    assert torch.equal(direct, y)


def _batch_coupled(t: NoiseTransform) -> bool:
    """Ops whose output depends on other examples by design: they refuse per-example generators."""
    name = type(t).__name__
    return (name == "Babble" and getattr(t, "noise_bank", None) is None) or (
        name == "NMERNoise" and not getattr(t, "per_example", True)
    )


def _per_example(carrier: str, seeds_b: list[int]) -> mmnoise.rng.PerExample | mmnoise.rng.Key:
    if carrier == "key":
        return mmnoise.rng.Key.from_seeds(seeds_b)
    return mmnoise.rng.PerExample.from_seeds(seeds_b)


def _one(carrier: str, seed: int) -> torch.Generator | mmnoise.rng.Key:
    return mmnoise.rng.Key(seed) if carrier == "key" else mmnoise.rng.make_generator(seed)


@pytest.mark.parametrize("carrier", ["generators", "key"])
@pytest.mark.parametrize("case", ALL_CASES, ids=CASE_IDS)
@given(data=st.data(), seed=seeds)
@settings(max_examples=6)
def test_per_example_generators_make_each_example_independent_of_its_batch(
    case: Case, carrier: str, data: st.DataObject, seed: int
) -> None:
    # each example of a batched call gets exactly what a batch of one gets from its generator,
    # whatever its neighbours: levels mix 0, 1 and in-between, and the gate is random (p = 0.7)
    edge = data.draw(
        edge_batches(case.kind, min_batch=2, dtypes=(torch.float32,), values=("random",))
    )
    x, b = edge.x, edge.x.shape[0]
    lv = torch.tensor(data.draw(st.lists(st.sampled_from([0.0, 0.4, 1.0]), min_size=b, max_size=b)))
    seeds_b = [seed + 1000 * i for i in range(b)]
    t = case.build(KEY)
    t.p = 0.7
    sample = _sample(x, edge.lengths, case)
    per = _per_example(carrier, seeds_b)
    if _batch_coupled(t):
        with pytest.raises(ValueError, match="per-example"):
            t.run(sample, level=lv, generator=per)
        return
    out, rec = _silently(lambda: t.run(sample, level=lv, generator=per))
    assert torch.equal(t.replay(sample, rec)[KEY], out[KEY])
    for i in range(b):
        one = _sample(x[i : i + 1], None if edge.lengths is None else edge.lengths[i : i + 1], case)
        alone = _silently(
            lambda one=one, i=i: t(one, level=lv[i : i + 1], generator=_one(carrier, seeds_b[i]))
        )[KEY]
        # the same random numbers; the arithmetic agrees to float32 rounding (vectorised pow /
        # exp and kernels blocked over the batch, lfilter, FFT, kornia's JPEG matmuls, can
        # round differently for another batch size; an IIR filter carries that along the
        # signal, up to ~1e-4 here); a wrong draw is off by O(1)
        torch.testing.assert_close(out[KEY][i : i + 1], alone, rtol=1e-4, atol=1e-4)
