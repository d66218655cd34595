"""NoisyDataset, pad_collate and BatchNoise: reproducible noise on the data path."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from mmnoise.data import BatchNoise, NoisyDataset, item_kinds, pad_collate
from mmnoise.rng import derive_seed, make_generator
from mmnoise.schedules import Constant, Linear, PerModality, Plateau
from mmnoise.transforms.compose import MultimodalPipeline
from mmnoise.transforms.features import AddGaussianSNR, TimeMask
from tests.strategies import DEVICES


def _items(n: int = 10, seed: int = 0) -> list[dict[str, Any]]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        ta, tt = 3 + i % 4, 2 + i % 3
        out.append(
            {
                "audio": torch.randn(ta, 5, generator=g),
                "text": torch.randint(1, 50, (tt,), generator=g),
                "label": torch.tensor(i % 3),
                "id": f"utt{i}",
            }
        )
    return out


def _pipeline() -> MultimodalPipeline:
    return MultimodalPipeline(
        {"audio": [AddGaussianSNR(snr_db=(20.0, 0.0)), TimeMask(fraction=(0.0, 0.3))]}
    )


class _Spy:
    """A pipeline that records the levels it gets and adds level-scaled noise to 'audio'."""

    def __init__(self) -> None:
        self.levels: list[Any] = []

    def __call__(self, sample: dict[str, Any], *, level: Any, generator: Any) -> dict[str, Any]:
        self.levels.append(level)
        x = sample["audio"]
        lv = level["audio"] if isinstance(level, dict) else level
        lv = torch.as_tensor(lv, dtype=x.dtype).reshape(-1, *([1] * (x.ndim - 1)))
        noise = torch.randn(x.shape, generator=generator, device=x.device)
        return {**sample, "audio": x + lv * noise}


def _collect(loader: DataLoader[Any]) -> dict[str, torch.Tensor]:
    out = {}
    for batch in loader:
        for i, uid in enumerate(batch["id"]):
            n = int(batch["lengths"]["audio"][i])
            out[uid] = batch["audio"][i, :n]
    return out


# -- NoisyDataset ------------------------------------------------------------------------------


def test_item_noise_depends_only_on_seed_epoch_index() -> None:
    base = _items()
    ds = NoisyDataset(base, _pipeline(), seed=7)
    a, b = ds[3], ds[3]
    assert torch.equal(a["audio"], b["audio"])
    assert not torch.equal(a["audio"], base[3]["audio"])
    # exactly the pipeline applied with a generator seeded from (seed, epoch, index)
    pipe = _pipeline()
    batched = {
        **base[3],
        "audio": base[3]["audio"][None],
        "text": base[3]["text"][None],
        "label": base[3]["label"][None],
        "lengths": {
            "audio": torch.tensor([base[3]["audio"].shape[0]]),
            "text": torch.tensor([base[3]["text"].shape[0]]),
        },
    }
    ref = pipe(batched, level=1.0, generator=make_generator(derive_seed(7, 0, 3)))
    assert torch.equal(a["audio"], ref["audio"][0])
    # other epochs, seeds and indices give other noise
    ds.set_epoch(np.int64(1))
    assert not torch.equal(ds[3]["audio"], a["audio"])
    assert torch.equal(ds[torch.tensor(3)]["audio"], ds[np.int64(3)]["audio"])
    other = NoisyDataset(base, _pipeline(), seed=8)
    assert not torch.equal(other[3]["audio"], a["audio"])
    same_items = NoisyDataset([base[0], base[0]], _pipeline(), seed=7)
    assert not torch.equal(same_items[0]["audio"], same_items[1]["audio"])
    assert torch.equal(ds[-1]["audio"], ds[len(ds) - 1]["audio"])


def test_items_pass_through_and_base_untouched() -> None:
    base = _items(4)
    keep = [
        {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in it.items()} for it in base
    ]
    out = NoisyDataset(base, _pipeline(), seed=0)[2]
    for it, ref in zip(base, keep, strict=True):
        assert all(torch.equal(it[k], ref[k]) for k in ("audio", "text", "label"))
    assert out["audio"].shape == base[2]["audio"].shape
    assert torch.equal(out["text"], base[2]["text"])  # not in the pipeline
    assert out["id"] == "utt2" and torch.equal(out["label"], base[2]["label"])
    assert out["lengths"]["audio"].shape == () and int(out["lengths"]["audio"]) == 5


# 4 workers on a 2-core machine makes torch warn; the point is to prove worker-independence.
@pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")
@pytest.mark.parametrize("shuffle", [False, True])
def test_noise_identical_with_0_1_4_workers(shuffle: bool) -> None:
    ds = NoisyDataset(_items(12), _pipeline(), seed=3)
    ds.set_epoch(2)
    runs = []
    for workers in (0, 1, 4):
        g = torch.Generator().manual_seed(workers)  # a different order for every run
        loader = DataLoader(
            ds,
            batch_size=5,
            shuffle=shuffle,
            num_workers=workers,
            collate_fn=pad_collate,
            generator=g,
        )
        runs.append(_collect(loader))
    assert sorted(runs[0]) == sorted(f"utt{i}" for i in range(12))
    for other in runs[1:]:
        assert other.keys() == runs[0].keys()
        assert all(torch.equal(other[k], runs[0][k]) for k in runs[0])
    clean = {it["id"]: it["audio"] for it in _items(12)}
    assert all(not torch.equal(runs[0][k], clean[k]) for k in clean)


def test_schedule_sets_level_per_epoch() -> None:
    spy = _Spy()
    ds = NoisyDataset(_items(2), spy, seed=0, schedule=Linear(0.0, 1.0, steps=4))
    for e in (0, 2, 4, 9):
        ds.set_epoch(e)
        ds[0]
    assert spy.levels == [0.0, 0.5, 1.0, 1.0]
    # level 0 through a real pipeline is an exact identity
    real = NoisyDataset(_items(2), _pipeline(), seed=0, schedule=Linear(0.0, 1.0, steps=4))
    assert torch.equal(real[1]["audio"], _items(2)[1]["audio"])
    real.set_epoch(4)
    assert not torch.equal(real[1]["audio"], _items(2)[1]["audio"])


def test_level_modes_and_per_modality_levels() -> None:
    spy = _Spy()
    ds = NoisyDataset(_items(3), spy, seed=0, level=0.6, level_mode="uniform")
    ds[0], ds[1], ds[0]
    drawn = spy.levels
    assert all(isinstance(v, torch.Tensor) and v.shape == (1,) for v in drawn)
    assert all(0.0 <= float(v) <= 0.6 for v in drawn)
    assert torch.equal(drawn[0], drawn[2]) and not torch.equal(drawn[0], drawn[1])
    spy2 = _Spy()
    per = PerModality({"audio": Constant(0.25), "visual": Constant(1.0)})
    NoisyDataset(_items(1), spy2, seed=0, schedule=per)[0]
    assert spy2.levels == [{"audio": 0.25, "visual": 1.0}]
    # a plateau schedule hands over its current level
    plateau = Plateau(level=0.4)
    spy3 = _Spy()
    NoisyDataset(_items(1), spy3, seed=0, schedule=plateau)[0]
    assert spy3.levels == [0.4]


def test_per_modality_levels_reach_multimodal_pipeline() -> None:
    pipe = MultimodalPipeline(
        {
            "audio": [AddGaussianSNR(snr_db=(20.0, 0.0))],
            "visual": [AddGaussianSNR(snr_db=(20.0, 0.0))],
        }
    )
    base = [{"audio": torch.ones(4, 2), "visual": torch.ones(3, 2)}]
    out = NoisyDataset(
        base, pipe, seed=0, schedule=PerModality({"audio": Constant(0.0), "visual": Constant(1.0)})
    )[0]
    assert torch.equal(out["audio"], base[0]["audio"])
    assert not torch.equal(out["visual"], base[0]["visual"])


def test_missing_modalities_flow_through_dataset_and_collate() -> None:
    from mmnoise.transforms.missing import DropModalities

    pipe = MultimodalPipeline(
        {"audio": [AddGaussianSNR()]},
        missing=DropModalities(["audio", "visual"], patterns=[{"audio": True, "visual": False}]),
    )
    base = [
        {"audio": torch.ones(3, 2), "visual": torch.ones(2, 4), "label": torch.tensor(i)}
        for i in range(3)
    ]
    ds = NoisyDataset(base, pipe, seed=0)
    item = ds[1]
    assert item["present"]["visual"].shape == () and not bool(item["present"]["visual"])
    assert float(item["visual"].abs().sum()) == 0.0 and int(item["label"]) == 1
    batch = pad_collate([ds[i] for i in range(3)])
    assert batch["present"]["visual"].tolist() == [False, False, False]
    assert batch["present"]["audio"].tolist() == [True, True, True]
    assert torch.equal(batch["label"], torch.tensor([0, 1, 2]))


def test_noisy_dataset_errors() -> None:
    with pytest.raises(TypeError, match="NoisyDataset: expected each dataset item as a dict"):
        NoisyDataset([torch.zeros(3)], _Spy(), seed=0)[0]
    with pytest.raises(TypeError, match="NoisyDataset: expected the pipeline to return a dict"):
        NoisyDataset(_items(1), lambda s, level, generator: s["audio"], seed=0)[0]
    with pytest.raises(ValueError, match="keep batch size 1"):
        NoisyDataset(
            _items(1),
            lambda s, level, generator: {**s, "audio": s["audio"].repeat(2, 1, 1)},
            seed=0,
        )[0]
    with pytest.raises(TypeError, match="map-style"):
        NoisyDataset(iter([]), _Spy(), seed=0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="seed as an int"):
        NoisyDataset(_items(1), _Spy(), seed=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"level as a float in \[0, 1\]"):
        NoisyDataset(_items(1), _Spy(), seed=0, level=2.0)
    with pytest.raises(ValueError, match="level_mode"):
        NoisyDataset(_items(1), _Spy(), seed=0, level_mode="gauss")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="pipeline as a callable"):
        NoisyDataset(_items(1), "noise", seed=0)  # type: ignore[arg-type]
    with pytest.raises(IndexError):
        NoisyDataset(_items(2), _Spy(), seed=0)[2]
    with pytest.raises(ValueError, match="set_epoch"):
        NoisyDataset(_items(1), _Spy(), seed=0).set_epoch(-1)
    with pytest.raises(KeyError, match="'speech' from kinds="):
        NoisyDataset(_items(1), _Spy(), seed=0, kinds={"speech": "waveform"})[0]


# -- pad_collate -------------------------------------------------------------------------------


def test_pad_collate_pads_with_zeros_and_reports_lengths() -> None:
    items = _items(3)
    b = pad_collate(items)
    assert b["audio"].shape == (3, 5, 5) and b["text"].shape == (3, 4)
    assert b["lengths"]["audio"].tolist() == [3, 4, 5]
    assert b["lengths"]["text"].tolist() == [2, 3, 4]
    assert b["lengths"]["audio"].dtype == torch.int64
    for i, it in enumerate(items):
        n = it["audio"].shape[0]
        assert torch.equal(b["audio"][i, :n], it["audio"])
        assert bool((b["audio"][i, n:] == 0).all())
    assert b["text"].dtype == torch.int64 and int(b["text"][0, 3]) == 0
    assert torch.equal(b["label"], torch.tensor([0, 1, 2]))
    assert b["id"] == ["utt0", "utt1", "utt2"]


def test_pad_collate_waveform_frames_present_and_given_lengths() -> None:
    items = [
        {
            "wav": torch.ones(1, 6),
            "video": torch.ones(2, 3, 4, 4),
            "score": 0.5,
            "present": {"video": torch.tensor(False)},
            "lengths": {"wav": torch.tensor(4)},
        },
        {"wav": torch.ones(1, 9), "video": torch.ones(5, 3, 4, 4), "score": 1.5, "present": {}},
    ]
    b = pad_collate(items, kinds={"wav": "waveform", "video": "frames"})
    assert b["wav"].shape == (2, 1, 9) and float(b["wav"][0, 0, 6:].abs().sum()) == 0.0
    assert b["video"].shape == (2, 5, 3, 4, 4)
    assert b["lengths"]["wav"].tolist() == [4, 9]  # an item's own length wins
    assert b["lengths"]["video"].tolist() == [2, 5]
    assert b["present"]["video"].tolist() == [False, True]
    assert torch.equal(b["score"], torch.tensor([0.5, 1.5]))
    collate = functools.partial(pad_collate, kinds={"wav": "waveform"})
    assert collate([items[1]])["wav"].shape == (1, 1, 9)


def test_pad_collate_accepts_noisy_dataset_items() -> None:
    ds = NoisyDataset(_items(4), _pipeline(), seed=0)
    b = pad_collate([ds[i] for i in range(4)])
    assert b["lengths"]["audio"].tolist() == [3, 4, 5, 6]
    assert b["audio"].shape == (4, 6, 5)


@pytest.mark.parametrize(
    ("items", "match"),
    [
        ([], "non-empty list"),
        ([{"a": torch.ones(2, 3)}, {"a": torch.ones(2, 4)}], r"item 1\['a'\] to match item 0"),
        ([{"a": torch.ones(2, 3)}, {"b": torch.ones(2, 3)}], "item 1 differs in"),
        ([{"a": torch.ones(2, 3), "lengths": {"a": torch.tensor(0)}}], "1 <= lengths"),
        ([{"a": torch.ones(2, 3), "lengths": {"a": 3}}], "1 <= lengths"),
        (
            [
                {"a": torch.ones(2, 3), "y": torch.ones(2)},
                {"a": torch.ones(2, 3), "y": torch.ones(3)},
            ],
            "one shape to stack",
        ),
        ([{"a": torch.ones(2, 3), "lengths": {"b": 1}}], "not modalities"),
    ],
)
def test_pad_collate_errors(items: list[dict[str, Any]], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        pad_collate(items)


def test_item_kinds_inference_and_checks() -> None:
    item = {
        "a": torch.ones(3, 2),
        "t": torch.ones(3, dtype=torch.long),
        "v": torch.ones(2, 3, 4, 4),
        "y": torch.tensor(1),
        "w": torch.ones(3, dtype=torch.int32),
    }
    assert item_kinds(item) == {"a": "features", "t": "tokens", "v": "frames"}
    with pytest.raises(TypeError, match=r"item\['a'\] as an unbatched tokens"):
        item_kinds(item, {"a": "tokens"})


# -- BatchNoise --------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_batch_noise_seeded_per_rank_and_step(device: str) -> None:
    batch = {
        k: v.to(device) if isinstance(v, torch.Tensor) else v
        for k, v in pad_collate(_items(4)).items()
    }
    batch["lengths"] = {k: v.to(device) for k, v in batch["lengths"].items()}
    clean = batch["audio"].clone()
    bn = BatchNoise(_pipeline(), seed=11, rank=0)
    a, b = bn(batch, step=5), bn(batch, step=5)
    assert a["audio"].device.type == device
    assert torch.equal(a["audio"], b["audio"])
    assert torch.equal(batch["audio"], clean)  # input untouched
    assert not torch.equal(a["audio"], clean)
    assert not torch.equal(bn(batch, step=6)["audio"], a["audio"])
    assert torch.equal(bn(batch, step=np.int64(5))["audio"], a["audio"])
    other_rank = BatchNoise(_pipeline(), seed=11, rank=1)(batch, step=5)
    assert not torch.equal(other_rank["audio"], a["audio"])
    # replay with the documented generator
    ref = _pipeline()(batch, level=1.0, generator=bn.generator(5, device))
    assert torch.equal(ref["audio"], a["audio"])
    # padding is never corrupted
    pad = (
        torch.arange(batch["audio"].shape[1], device=device)[None]
        >= batch["lengths"]["audio"][:, None]
    )
    assert torch.equal(a["audio"][pad], clean[pad])


def test_batch_noise_schedule_and_level_modes() -> None:
    spy = _Spy()
    bn = BatchNoise(spy, seed=0, schedule=Linear(0.0, 1.0, steps=10), level_mode="uniform")
    batch = pad_collate(_items(3))
    bn(batch, step=0)
    bn(batch, step=5)
    assert torch.equal(spy.levels[0], torch.zeros(3))
    assert spy.levels[1].shape == (3,) and bool((spy.levels[1] <= 0.5).all())
    assert len(set(spy.levels[1].tolist())) == 3
    fixed = _Spy()
    BatchNoise(fixed, seed=0, level=0.3)(batch, step=1)
    assert fixed.levels == [0.3]
    normal = _Spy()
    BatchNoise(normal, seed=0, level=0.5, level_mode="normal", std=0.05)(batch, step=1)
    assert bool(((normal.levels[0] - 0.5).abs() < 0.3).all())


def test_batch_noise_errors() -> None:
    bn = BatchNoise(_Spy(), seed=0)
    with pytest.raises(ValueError, match="BatchNoise: expected step as an int >= 0"):
        bn(pad_collate(_items(2)), step=-1)
    with pytest.raises(ValueError, match="on one device"):
        bn({"a": torch.zeros(2, 3, 1), "b": torch.zeros(2, 3, 1, device="meta")}, step=0)
    with pytest.raises(ValueError, match="one batch size"):
        bn({"a": torch.zeros(2, 3, 1), "b": torch.zeros(3, 3, 1)}, step=0)
    with pytest.raises(ValueError, match="at least one batched tensor"):
        bn({"id": ["x"]}, step=0)
    with pytest.raises(TypeError, match="return a dict"):
        BatchNoise(lambda s, level, generator: None, seed=0)({"a": torch.zeros(1, 2, 1)}, step=0)
    with pytest.raises(ValueError, match="rank >= 0"):
        BatchNoise(_Spy(), seed=0, rank=-1)


# -- the batch path: NoisyDataset(batch=True) + collate ---------------------------------------


def _mixed_items(n: int, dtype: torch.dtype, *, ragged: bool, present: bool) -> list[dict[str, Any]]:
    g = torch.Generator().manual_seed(11)
    out = []
    for i in range(n):
        t = 6 + (i % 3 if ragged else 0)
        item: dict[str, Any] = {
            "audio": torch.randn(t, 5, generator=g).to(dtype),
            "text": torch.randn(t - 1, 4, generator=g).to(dtype),
            "ids": torch.randint(200, 300, (t,), generator=g),
            "label": torch.tensor(i % 3),
            "id": f"utt{i}",
        }
        if present:  # an item already missing its text, one with a shorter valid length
            item["present"] = {"text": i % 4 != 1}
            item["lengths"] = {"audio": t - i % 2}
        out.append(item)
    return out


def _containers() -> dict[str, Any]:
    from mmnoise.transforms.compose import Compose, OneOf, SomeOf
    from mmnoise.transforms.features import (
        AddColoredSNR,
        FeatureMask,
        FrameDropout,
        ImpulseNoise,
    )
    from mmnoise.transforms.missing import DropModalities
    from mmnoise.transforms.tokens import AdjacentSwap, RandomTokenReplace, TokenDeletion, TokenMask

    return {
        "multimodal": MultimodalPipeline(
            {
                "audio": [AddGaussianSNR(snr_db=(20.0, 5.0)), TimeMask(fraction=(0.1, 0.4))],
                "text": [FeatureMask(fraction=(0.2, 0.2))],
                "ids": [TokenMask(mask_id=1, fraction=(0.3, 0.3))],
            },
            missing=DropModalities(["audio", "text"], fraction=(0.3, 0.3)),
        ),
        "compose": Compose(
            [AddGaussianSNR("audio"), FrameDropout("text", fraction=(0.3, 0.3)), TokenDeletion("ids")]
        ),
        "oneof": OneOf([AddColoredSNR("audio"), ImpulseNoise("audio"), TimeMask("audio")]),
        "someof": SomeOf(
            [
                AddGaussianSNR("text"),
                RandomTokenReplace("ids", vocab_size=500, fraction=(0.3, 0.3)),
                AdjacentSwap("ids", fraction=(0.3, 0.3)),
            ],
            n=(1, 2),
        ),
    }


def _assert_same_batch(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert set(got) == set(want)
    for key, w in want.items():
        g = got[key]
        if isinstance(w, dict):
            assert set(g) == set(w), key
            for n in w:
                assert torch.equal(g[n], w[n]), (key, n)
        elif isinstance(w, torch.Tensor):
            assert g.dtype == w.dtype and torch.equal(g, w), key
        else:
            assert g == w, key


@pytest.mark.parametrize("container", ["multimodal", "compose", "oneof", "someof"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("ragged", [False, True])
def test_batch_path_equals_per_item_path(
    container: str, dtype: torch.dtype, ragged: bool
) -> None:
    # row b of the batch path == pad_collate of the per-item outputs, for the same (seed, epoch,
    # index); items missing a modality and with their own lengths on the ragged runs
    items = _mixed_items(6, dtype, ragged=ragged, present=ragged)
    pipe = _containers()[container]
    kw: dict[str, Any] = {"seed": 3, "level": 0.8, "level_mode": "uniform"}
    per_item = NoisyDataset(items, pipe, **kw)
    batched = NoisyDataset(items, pipe, batch=True, **kw)
    order = [4, 0, 5, 2]  # any order, any subset: the noise of an item is its own
    want = pad_collate([per_item[(2, i)] for i in order])
    got = batched.collate([batched[(2, i)] for i in order])
    _assert_same_batch(got, want)
    # and the noise is really there: the clean batch differs
    clean = pad_collate([items[i] for i in order])
    assert not torch.equal(got["audio"], clean["audio"]) or container == "someof"


def test_batch_path_through_dataloader_workers_and_epochs() -> None:
    from mmnoise.data import EpochSampler

    items = _items(8)
    kw: dict[str, Any] = {"seed": 5, "schedule": Linear(0.2, 1.0, steps=3)}
    per_item = NoisyDataset(items, _pipeline(), **kw)
    batched = NoisyDataset(items, _pipeline(), batch=True, **kw)
    sampler = EpochSampler(range(8), epoch=2)
    loader = DataLoader(batched, batch_size=4, sampler=sampler, collate_fn=batched.collate,
                        num_workers=2)  # fmt: skip
    rows = [b for b in loader]
    for k, b in enumerate(rows):
        want = pad_collate([per_item[(2, i)] for i in range(4 * k, 4 * k + 4)])
        _assert_same_batch(b, want)


def test_batch_path_level_dict_and_fixed_levels() -> None:
    items = _items(4)
    sched = PerModality({"audio": Constant(0.7)})
    per_item = NoisyDataset(items, _pipeline(), seed=1, schedule=sched, level_mode="normal")
    batched = NoisyDataset(items, _pipeline(), seed=1, schedule=sched, level_mode="normal",
                           batch=True)  # fmt: skip
    want = pad_collate([per_item[i] for i in range(4)])
    _assert_same_batch(batched.collate([batched[i] for i in range(4)]), want)


def test_batch_path_errors() -> None:
    items = _items(3)
    per_item = NoisyDataset(items, _pipeline(), seed=0)
    batched = NoisyDataset(items, _pipeline(), seed=0, batch=True)
    with pytest.raises(TypeError, match=r"batch=True.*pad_collate"):
        batched.collate([per_item[0]])
    with pytest.raises(ValueError, match="non-empty list"):
        batched.collate([])
    with pytest.raises(TypeError, match=r"collate_fn=dataset.collate"):
        pad_collate([batched[0], batched[1]])  # the clean items would stay clean
    from mmnoise.transforms.missing import DropModalities

    # an op that draws for the whole batch refuses per-example generators, with the fix
    nmer = NoisyDataset(items, DropModalities(["audio", "text"], fill="nmer"), seed=0, batch=True)
    with pytest.raises(ValueError, match="per_example=True"):
        nmer.collate([nmer[0], nmer[1]])


class _Counting:
    """Wrap a pipeline and count its calls (one per stacked shape on the batch path)."""

    def __init__(self, pipeline: Any) -> None:
        self.pipeline, self.calls = pipeline, 0

    def __call__(self, sample: dict[str, Any], *, level: Any, generator: Any) -> Any:
        self.calls += 1
        return self.pipeline(sample, level=level, generator=generator)


@pytest.mark.parametrize("container", ["multimodal", "compose"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_pad_to_makes_ragged_items_one_call_and_equals_the_per_item_path(
    container: str, dtype: torch.dtype
) -> None:
    items = _mixed_items(6, dtype, ragged=True, present=True)
    pipe = _containers()[container]
    pad_to = {"audio": 9, "text": 8, "ids": 10}
    kw: dict[str, Any] = {"seed": 4, "level": 0.9, "level_mode": "uniform", "pad_to": pad_to}
    per_item = NoisyDataset(items, pipe, **kw)
    counting = _Counting(pipe)
    batched = NoisyDataset(items, counting, batch=True, **kw)
    order = [3, 1, 5, 0]
    noisy = [per_item[(1, i)] for i in order]
    for i, out in zip(order, noisy, strict=True):  # cropped back to the item's own size
        assert out["audio"].shape == items[i]["audio"].shape
        assert out["ids"].shape == items[i]["ids"].shape
    got = batched.collate([batched[(1, i)] for i in order])
    assert counting.calls == 1  # ragged items, one pipeline call
    _assert_same_batch(got, pad_collate(noisy))
    # pad_to is part of the noise's definition: the noise field is drawn at the padded size
    snr = AddGaussianSNR("audio")
    padded = NoisyDataset(items, snr, seed=4, pad_to=pad_to)[(1, 3)]["audio"]
    assert not torch.equal(NoisyDataset(items, snr, seed=4)[(1, 3)]["audio"], padded)


def test_pad_to_errors() -> None:
    items = _items(3)
    with pytest.raises(ValueError, match=r"pad_to as \{modality: size >= 1\}"):
        NoisyDataset(items, _pipeline(), seed=0, pad_to={"audio": 0})
    too_short = NoisyDataset(items, _pipeline(), seed=0, pad_to={"audio": 3})
    with pytest.raises(ValueError, match=r"more than pad_to\['audio'\] = 3; raise pad_to"):
        too_short[1]  # 4 steps
    unknown = NoisyDataset(items, _pipeline(), seed=0, pad_to={"speech": 8}, batch=True)
    with pytest.raises(ValueError, match=r"pad_to names 'speech'"):
        unknown.collate([unknown[0]])


@pytest.mark.parametrize("pad_to", [None, {"speech": 64, "video": 5}])
def test_batch_path_waveforms_and_frames_equal_the_per_item_path(
    pad_to: dict[str, int] | None,
) -> None:
    from mmnoise.transforms.compose import Compose
    from mmnoise.transforms.features import FrameDropout
    from mmnoise.transforms.frames import GaussianNoise

    g = torch.Generator().manual_seed(2)
    items = [
        {"speech": torch.randn(1, 40 + 8 * (i % 3), generator=g),  # (C, L): time is the last axis
         "video": torch.rand(3 + i % 2, 3, 8, 8, generator=g)}
        for i in range(5)
    ]  # fmt: skip
    pipe = Compose([AddGaussianSNR("speech"), GaussianNoise("video"), FrameDropout("video")])
    kw: dict[str, Any] = {"seed": 9, "level": 0.7, "kinds": {"speech": "waveform",
                          "video": "frames"}, "pad_to": pad_to}  # fmt: skip
    per_item = NoisyDataset(items, pipe, **kw)
    batched = NoisyDataset(items, pipe, batch=True, **kw)
    collate = functools.partial(pad_collate, kinds=kw["kinds"])
    # kinds= reaches the transforms (a (1, C, L) waveform is not read as (1, T, D) features) and
    # leaves the items as they came
    assert "kinds" not in per_item[0]
    want = collate([per_item[i] for i in range(5)])
    _assert_same_batch(batched.collate([batched[i] for i in range(5)]), want)


def test_batch_path_mixes_epochs_and_their_scheduled_levels() -> None:
    # rows from different epochs get their own scheduled level (a tensor of per-row floats);
    # one shape, so one call for the four rows
    items = _mixed_items(4, torch.float32, ragged=False, present=False)
    kw: dict[str, Any] = {"seed": 6, "schedule": Linear(0.1, 1.0, steps=3)}
    per_item = NoisyDataset(items, _pipeline(), **kw)
    batched = NoisyDataset(items, _pipeline(), batch=True, **kw)
    keys = [(0, 0), (3, 1), (1, 2), (3, 3)]
    want = pad_collate([per_item[k] for k in keys])
    _assert_same_batch(batched.collate([batched[k] for k in keys]), want)
