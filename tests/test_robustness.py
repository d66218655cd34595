"""The robustness harness: frozen corruptions, metrics, MultiBench measures, outputs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

from mmnoise.presence import presence_patterns
from mmnoise.robustness import (
    RobustnessGrid,
    RobustnessResult,
    compare_markdown,
    evaluate_robustness,
    save_heatmap,
)
from mmnoise.transforms.compose import MultimodalPipeline
from mmnoise.transforms.features import AddGaussianSNR, FrameDropout, Gain, ImpulseNoise

MODS = ("audio", "visual", "text")
DIMS = {"audio": 3, "visual": 4, "text": 5}
CLASSES = 3


def _readout() -> dict[str, Tensor]:
    g = torch.Generator().manual_seed(123)
    return {m: torch.randn(d, CLASSES, generator=g) for m, d in DIMS.items()}


W = _readout()


def _logits(sample: Mapping[str, Any], use: tuple[str, ...] = MODS) -> Tensor:
    """A fixed linear readout of each modality's mean over its valid steps."""
    out = torch.zeros(sample[use[0]].shape[0], CLASSES)
    for m in use:
        x = sample[m]
        steps = torch.arange(x.shape[1])
        valid = (steps[None, :] < sample["lengths"][m][:, None]).to(x.dtype)
        mean = (x * valid[..., None]).sum(1) / valid.sum(1, keepdim=True)
        out = out + mean @ W[m]
    return out


def _loader(n_batches: int = 2, batch: int = 8, seed: int = 0) -> list[dict[str, Any]]:
    """Tiny padded batches; labels = the readout's clean prediction, so clean accuracy is 1."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_batches):
        s: dict[str, Any] = {"lengths": {}}
        for m, d in DIMS.items():
            s[m] = torch.randn(batch, 5, d, generator=g)
            s["lengths"][m] = torch.randint(2, 6, (batch,), generator=g)
        s["label"] = _logits(s).argmax(1)
        s["id"] = [f"u{i}" for i in range(batch)]
        out.append(s)
    return out


def _grid(**kw: Any) -> RobustnessGrid:
    kw.setdefault("families", {"gaussian": AddGaussianSNR, "impulse": ImpulseNoise})
    kw.setdefault("levels", (0.0, 0.5, 1.0))
    return RobustnessGrid(**kw)


# -- frozen corruptions ------------------------------------------------------------------------


def test_same_seed_gives_the_identical_grid_and_another_seed_does_not() -> None:
    loader = _loader()
    a = _grid(seed=3).evaluate(_logits, loader)
    b = _grid(seed=3).evaluate(_logits, loader)
    c = _grid(seed=4).evaluate(_logits, loader)
    assert torch.equal(a.confusion, b.confusion)
    assert a.confusion.shape == (7, 2, 3, CLASSES, CLASSES)
    assert not torch.equal(a.confusion, c.confusion)


def test_cells_are_independent_of_the_other_cells_evaluated() -> None:
    loader = _loader()
    big = _grid(seed=1).evaluate(_logits, loader)
    small = RobustnessGrid(families={"impulse": ImpulseNoise}, levels=(0.0, 1.0), seed=1).evaluate(
        _logits, loader
    )
    # impulse is family 1 in `big`; levels 0 and 1 are level indices 0 and 2
    assert torch.equal(small.confusion[:, 0, 0], big.confusion[:, 1, 0])
    assert torch.equal(small.confusion[:, 0, 1], big.confusion[:, 1, 2])


def test_corrupt_reproduces_what_predict_saw() -> None:
    loader = _loader(n_batches=1)
    grid = _grid(seed=5)
    seen: list[dict[str, Any]] = []

    def spy(sample: dict[str, Any]) -> Tensor:
        seen.append(sample)
        return _logits(sample)

    grid.evaluate(spy, loader)
    # evaluation order: family, level, pattern; patterns are presence_patterns(include_full=True)
    pattern = list(presence_patterns(MODS, include_full=True))[3]
    index = (1 * 3 + 2) * 7 + 3  # family "impulse", level 1.0, pattern 3
    again = grid.corrupt(loader[0], family="impulse", level=1.0, pattern=pattern)
    for m in MODS:
        assert torch.equal(again[m], seen[index][m])
    for m in MODS:
        assert torch.equal(again["present"][m], seen[index]["present"][m])
        assert bool(again["present"][m].all()) == pattern[m]


def test_loader_batches_are_not_modified() -> None:
    loader = _loader(n_batches=1)
    before = {m: loader[0][m].clone() for m in MODS}
    _grid().evaluate(_logits, loader)
    assert all(torch.equal(before[m], loader[0][m]) for m in MODS)
    assert "present" not in loader[0]


# -- what the cells measure --------------------------------------------------------------------


def test_level_zero_cells_equal_the_clean_score() -> None:
    loader = _loader()
    result = _grid(seed=2).evaluate(_logits, loader)
    # the clean score of each pattern, computed directly: missing modalities zeroed
    for i, pattern in enumerate(result.patterns):
        hits, total = 0, 0
        for batch in loader:
            b = dict(batch)
            for m in MODS:
                if not pattern[m]:
                    b[m] = torch.zeros_like(batch[m])
            hits += int((_logits(b).argmax(1) == batch["label"]).sum())
            total += batch["label"].shape[0]
        for fam in result.families:
            assert result.scores("WA")[i, result.families.index(fam), 0] == hits / total
    assert result.curve("WA", family="gaussian")[0] == 1.0  # labels are the clean predictions
    # and the noise does bite at level 1
    assert result.curve("WA", family="gaussian")[-1] < 1.0


def test_a_predictor_that_ignores_a_modality_is_unaffected_by_dropping_it() -> None:
    loader = _loader()
    result = _grid(seed=7).evaluate(lambda s: _logits(s, use=("audio", "text")), loader)
    wa = result.scores("WA")
    names = result.pattern_names
    for i, pattern in enumerate(result.patterns):
        if pattern["visual"]:
            without = dict(pattern, visual=False)
            if not any(without.values()):
                continue
            j = result._pattern_index(without)
            assert torch.equal(result.confusion[i], result.confusion[j]), (names[i], names[j])
    # while dropping a used modality does change the score
    assert wa[names.index("avt")].ne(wa[names.index("zvt")]).any()


def test_a_multimodal_pipeline_family_and_class_index_predictions() -> None:
    loader = _loader(n_batches=1)

    def factory(names: tuple[str, ...]) -> MultimodalPipeline:
        return MultimodalPipeline({m: [FrameDropout(fraction=(0.0, 1.0))] for m in names})

    result = evaluate_robustness(
        lambda s: _logits(s).argmax(1),
        loader,
        families={"dropout": factory, "gain": Gain(list(MODS))},
        levels=(0.0, 1.0),
        patterns=[{"audio": True, "visual": True, "text": True}],
        num_classes=CLASSES,
    )
    assert result.pattern_names == ["avt"]
    assert result.curve("WA", family="dropout")[0] == 1.0
    # every frame dropped: the readout sees zeros, one class for everybody
    assert result.curve("WA", family="dropout")[1] < 1.0
    assert result.family_configs["gain"]["type"] == "Gain"
    assert result.family_configs["dropout"]["type"] == "MultimodalPipeline"


# -- metrics and robustness measures -----------------------------------------------------------


def _result(cms: list[list[list[int]]], levels: tuple[float, ...]) -> RobustnessResult:
    conf = torch.tensor(cms, dtype=torch.int64)[None, None]
    return RobustnessResult(("a",), ("f",), levels, ({"a": True},), ("WA", "UA", "F1"), conf, 0, 0)


def test_metrics_match_a_hand_computation() -> None:
    # rows = true class, columns = prediction; class 2 never occurs but is predicted once
    cm = [[3, 1, 0], [2, 2, 1], [0, 0, 0]]
    r = _result([cm], (0.0,))
    assert r.curve("WA", family="f").item() == pytest.approx(5 / 9)
    recall = [3 / 4, 2 / 5, 0.0]
    assert r.curve("UA", family="f").item() == pytest.approx(sum(recall) / 3)
    precision = [3 / 5, 2 / 3, 0.0]
    f1 = [2 * p * q / (p + q) if p + q else 0.0 for p, q in zip(precision, recall, strict=True)]
    assert r.curve("F1", family="f").item() == pytest.approx(sum(f1) / 3)
    # a class never seen nor predicted is left out of the macro averages
    r2 = _result([[[2, 0, 0], [1, 1, 0], [0, 0, 0]]], (0.0,))
    assert r2.curve("UA", family="f").item() == pytest.approx((1.0 + 0.5) / 2)


def test_relative_and_effective_robustness_follow_multibench() -> None:
    def acc(hits: int) -> list[list[int]]:
        return [[hits, 10 - hits], [0, 0]]

    levels = (0.0, 0.1, 0.4, 1.0)
    model = _result([acc(9), acc(8), acc(6), acc(5)], levels)
    ref = _result([acc(10), acc(7), acc(4), acc(2)], levels)
    f = [0.9, 0.8, 0.6, 0.5]
    r = [1.0, 0.7, 0.4, 0.2]
    area = sum((f[i] + f[i + 1]) / 2 * (levels[i + 1] - levels[i]) for i in range(3))
    assert model.relative_robustness(family="f") == pytest.approx(area)
    # MultiBench: sum_i f_i - (r_i + f_0 - r_0)
    eff = sum(fi - (ri + f[0] - r[0]) for fi, ri in zip(f, r, strict=True))
    assert model.effective_robustness(ref, family="f") == pytest.approx(eff)
    assert eff > 0
    assert model.effective_robustness(model, family="f") == 0.0
    with pytest.raises(ValueError, match="same levels"):
        model.effective_robustness(_result([acc(1)], (0.0,)), family="f")


def test_pooled_is_the_metric_of_the_summed_confusions() -> None:
    result = _grid(seed=0).evaluate(_logits, _loader())
    pooled = result.curve("UA", family="impulse", pattern="pooled")
    direct = [
        RobustnessResult(
            result.modalities,
            ("x",),
            (0.0,),
            ({m: True for m in MODS},),
            ("UA",),
            result.confusion[:, 1, k].sum(0)[None, None, None],
            0,
            0,
        )
        .curve("UA", family="x")
        .item()
        for k in range(3)
    ]
    assert pooled.tolist() == pytest.approx(direct)


# -- outputs -----------------------------------------------------------------------------------


def test_json_markdown_and_heatmap_files_are_written(tmp_path: Path) -> None:
    loader = _loader(n_batches=1)
    base = _grid(seed=9).evaluate(lambda s: _logits(s, use=("audio",)), loader)
    full = _grid(seed=9).evaluate(_logits, loader)
    path = full.to_json(tmp_path / "out" / "grid.json")
    assert path.is_file()
    data = json.loads(path.read_text())
    assert data["levels"] == [0.0, 0.5, 1.0] and len(data["patterns"]) == 7
    assert data["scores"]["WA"]["avt"]["gaussian"][0] == 1.0
    back = RobustnessResult.from_json(path)
    assert torch.equal(back.confusion, full.confusion) and back.patterns == full.patterns
    md = full.to_markdown(reference=base)
    assert md.count("\n| ") == 2 + 8 * 2  # header, rule, (7 patterns + pooled) x 2 families
    assert "| avt | gaussian | 100.0 |" in md
    png = full.heatmap(tmp_path / "grid.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    both = save_heatmap({"base": base, "full": full}, tmp_path / "both.png", metric="F1")
    assert both.stat().st_size > png.stat().st_size / 2
    table = compare_markdown({"base": base, "full": full}, reference="base", pattern="pooled")
    assert "| base | impulse |" in table and "+0.0 |" in table


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"levels": (0.5, 0.2)}, "strictly increasing"),
        ({"levels": (0.0, 1.5)}, "strictly increasing"),
        ({"metrics": ("WA", "acc")}, "metrics"),
        ({"patterns": [{"audio": True}]}, "exactly"),
        ({"families": {"x": 3}}, "factory"),
        ({"num_classes": 0}, "num_classes"),
    ],
)
def test_bad_grid_arguments_are_rejected(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        RobustnessGrid(**kwargs)


def test_bad_predict_outputs_and_batches_are_rejected() -> None:
    loader = _loader(n_batches=1)
    grid = _grid()
    with pytest.raises(ValueError, match="logits"):
        grid.evaluate(lambda s: torch.zeros(3, 3), loader)
    with pytest.raises(ValueError, match="num_classes"):
        grid.evaluate(lambda s: torch.zeros(8, dtype=torch.int64), loader)
    with pytest.raises(KeyError, match="label_key"):
        grid.evaluate(_logits, [{k: v for k, v in loader[0].items() if k != "label"}])
    with pytest.raises(ValueError, match="no batches"):
        grid.evaluate(_logits, [])
    with pytest.raises(KeyError, match="unknown family"):
        _grid().evaluate(_logits, loader).curve(family="nope")
