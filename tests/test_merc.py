"""MER-C: the frozen suite, per-item frozen corruption, the runner, scoring, export and CLI."""

from __future__ import annotations

import itertools
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
import torch

from mmnoise.__main__ import main
from mmnoise.datasets import MMINFeatures, MMSAPickle, SyntheticMER
from mmnoise.merc import corrupt_item, load_suite, missing_rate_item, nmer_fill_item
from mmnoise.merc.corrupt import corrupt_items, make_transform, nmer_fill_items, nmer_noised_items
from mmnoise.merc.export import export_mmin_h5, export_mmsa_pkl, export_suite
from mmnoise.merc.report import scores, write_report
from mmnoise.merc.runner import conditions_of, run_benchmark
from mmnoise.merc.scoring import area_under_curve, cell_metrics
from mmnoise.sample import Sample

NAMES = ("audio", "visual", "text")
KINDS: dict[str, Any] = {m: "features" for m in NAMES}
SUITE = load_suite("mer-c-v1")
_W = torch.Generator().manual_seed(0)
_PROJ = {m: torch.randn(d, 4, generator=_W) for m, d in zip(NAMES, (4, 5, 6), strict=True)}


def _items(n: int = 12) -> list[Sample]:
    ds = SyntheticMER(
        "test",
        size=n,
        seed=0,
        dims=dict(zip(NAMES, (4, 5, 6), strict=True)),
        max_len=dict(zip(NAMES, (6, 6, 5), strict=True)),
    )
    return [ds[i] for i in range(n)]


def toy_predict(batch: Sample) -> torch.Tensor:
    """A fixed linear read-out of the time-summed features (deterministic, any batch size)."""
    return sum(batch[m].sum(dim=1) @ _PROJ[m] for m in NAMES)  # type: ignore[return-value]


def test_suite_is_complete_and_every_family_runs_on_its_kind() -> None:
    assert SUITE.name == "mer-c-v1" and SUITE.version == 1 and len(SUITE.sha256) == 64
    kinds = {f.kind for f in SUITE.families}
    assert kinds == {"features", "waveform", "frames", "tokens"}
    examples = {
        "features": torch.randn(1, 8, 5),
        "waveform": torch.randn(1, 1, 1600),
        "frames": torch.rand(1, 2, 3, 16, 16),
        "tokens": torch.randint(200, 300, (1, 12)),
    }
    for fam in SUITE.families:
        assert len(fam.severities) == 5
        for sev in (1, 5):
            t = make_transform(fam, sev, ["x"])
            x = examples[fam.kind]
            out = t({"x": x, "kinds": {"x": fam.kind}}, level=1.0, generator=torch.Generator())
            assert out["x"].shape == x.shape, fam.name
    assert SUITE.missing_rate[0] == 0.0 and max(SUITE.missing_rate) == 0.7


def test_old_versions_load_from_their_file(tmp_path: Path) -> None:
    data = json.loads(
        Path(__file__).parents[1].joinpath("mmnoise/merc/suites/mer-c-v1.json").read_text()
    )
    data["name"], data["version"] = "mer-c-v0", 0
    path = tmp_path / "mer-c-v0.json"
    path.write_text(json.dumps(data))
    old = load_suite(path)
    assert old.name == "mer-c-v0" and old.sha256 != SUITE.sha256
    with pytest.raises(FileNotFoundError, match="unknown suite"):
        load_suite("mer-c-v99")


def test_corruption_is_a_pure_function_of_item_family_severity() -> None:
    items = _items()
    a = [corrupt_item(it, SUITE, "gaussian_snr", 3, kinds=KINDS) for it in items]
    shuffled = list(range(len(items)))
    random.Random(1).shuffle(shuffled)
    b = {i: corrupt_item(items[i], SUITE, "gaussian_snr", 3, kinds=KINDS) for i in shuffled}
    for i in range(len(items)):
        assert all(torch.equal(a[i][m], b[i][m]) for m in NAMES)
        assert not torch.equal(a[i]["audio"], items[i]["audio"])
    # another family or severity draws differently; the clean item is untouched
    c = corrupt_item(items[0], SUITE, "gaussian_snr", 5, kinds=KINDS)
    assert not torch.equal(c["audio"], a[0]["audio"])
    assert torch.equal(
        corrupt_item(items[0], SUITE, "gaussian_snr", 0, kinds=KINDS)["audio"], items[0]["audio"]
    )


def _raw_items(n: int) -> list[Sample]:
    g = torch.Generator().manual_seed(3)
    return [
        {
            "w": torch.randn(1, 160 + 16 * (i % 3), generator=g),
            "f": torch.rand(2 + i % 2, 3, 8, 8, generator=g),
            "t": torch.randint(5, 50, (6 + i % 4,), generator=g),
            "id": f"r{i}",
        }
        for i in range(n)
    ]


@pytest.mark.parametrize("family", [f.name for f in SUITE.families])
def test_batched_corruption_equals_each_item_alone(family: str) -> None:
    # items of one shape share a call (per-example generators); every item must still be what
    # it is alone, whatever the grouping, its neighbours or the call's batch size
    fam = SUITE.family(family)
    if fam.kind == "features":
        items, kinds = _items(10), KINDS
    else:
        items = _raw_items(9)
        kinds = {"w": "waveform", "f": "frames", "t": "tokens"}
    for sev in (2, 5):
        together = corrupt_items(items, SUITE, family, sev, kinds=kinds)
        small = corrupt_items(items[::-1], SUITE, family, sev, kinds=kinds, max_batch=2)[::-1]
        for i, item in enumerate(items):
            alone = corrupt_item(item, SUITE, family, sev, kinds=kinds)
            for m, k in kinds.items():
                assert together[i][m].shape == alone[m].shape
                torch.testing.assert_close(together[i][m], alone[m], rtol=1e-4, atol=1e-4)
                torch.testing.assert_close(small[i][m], alone[m], rtol=1e-4, atol=1e-4)
                if k != fam.kind:
                    assert together[i][m] is item[m]


def test_nmer_fill_of_many_items_equals_each_item_under_each_condition() -> None:
    items = _items(6)
    conds = {c: v for c, v in conditions_of(NAMES).items() if v is not None}
    many = nmer_fill_items(items, SUITE, 3, conds, kinds=KINDS)
    for c, cond in conds.items():
        for i, item in enumerate(items):
            one = nmer_fill_item(item, SUITE, 3, cond, kinds=KINDS)
            assert all(torch.equal(many[c][i][m], one[m]) for m in NAMES), (c, i)
            assert {m: bool(v) for m, v in many[c][i]["present"].items()} == cond


def test_masks_are_nested_across_severities() -> None:
    item = {"audio": torch.ones(40, 3), "id": "u1"}
    kinds = {"audio": "features"}
    masked = [
        (corrupt_item(item, SUITE, "temporal_missing", s, kinds=kinds)["audio"] == 0).all(dim=1)
        for s in range(1, 6)
    ]
    for weak, strong in itertools.pairwise(masked):
        assert bool((weak <= strong).all()) and int(strong.sum()) >= int(weak.sum())


def test_runner_cells_do_not_depend_on_batch_size_or_order() -> None:
    items = _items()
    fams = ["impulse", "time_mask", "missing_rate", "nmer_fill"]
    a = run_benchmark(
        toy_predict, items, suite=SUITE, kinds=KINDS, batch_size=5, families=fams, progress=False
    )
    rev = items[::-1]
    b = run_benchmark(
        toy_predict, rev, suite=SUITE, kinds=KINDS, batch_size=12, families=fams, progress=False
    )
    assert a["cells"].keys() == b["cells"].keys()
    assert all(a["cells"][k]["confusion"] == b["cells"][k]["confusion"] for k in a["cells"])
    # clean + 2 families x (5 severities + 6 conditions at severity 3) + 8 eta + 5 x 6 NMER
    assert len(a["cells"]) == 7 + 2 * (5 + 6) + 8 + 30


def test_runner_resumes_and_refuses_a_foreign_card(tmp_path: Path) -> None:
    items = _items()
    calls = []

    def counting(batch: Sample) -> torch.Tensor:
        calls.append(1)
        return toy_predict(batch)

    run_benchmark(
        counting,
        items,
        suite=SUITE,
        kinds=KINDS,
        out=tmp_path,
        families=["impulse"],
        progress=False,
        model="toy",
    )
    first = len(calls)
    card = run_benchmark(
        counting,
        items,
        suite=SUITE,
        kinds=KINDS,
        out=tmp_path,
        families=["impulse"],
        progress=False,
        model="toy",
    )
    assert len(calls) == first  # nothing new to do: every cell is in the card
    run_benchmark(
        counting,
        items,
        suite=SUITE,
        kinds=KINDS,
        out=tmp_path,
        families=["impulse", "time_mask"],
        progress=False,
        model="toy",
    )
    assert len(calls) == first + 5 + 6  # only the new family's cells, one batch each
    assert card["suite_sha256"] == SUITE.sha256
    with pytest.raises(ValueError, match="model"):
        run_benchmark(
            toy_predict,
            items,
            suite=SUITE,
            kinds=KINDS,
            out=tmp_path,
            families=["impulse"],
            progress=False,
            model="other",
        )


def test_missing_rate_protocol_per_item() -> None:
    items = [{m: torch.ones(2, 1) for m in NAMES} | {"id": f"i{i}"} for i in range(3000)]
    prev = None
    for eta in (0.1, 0.3, 0.5, 0.6, 0.7):
        out = [missing_rate_item(it, SUITE, eta, NAMES) for it in items]
        gone = torch.tensor([[not bool(o["present"][m]) for m in NAMES] for o in out])
        assert abs(float(gone.float().mean()) - min(eta, 2 / 3)) < 0.01
        assert bool(gone.sum(dim=1).lt(3).all())  # one modality always kept
        if prev is not None:
            assert bool((prev <= gone).all())  # nested in eta
        prev = gone


def test_scores_against_itself_and_a_perfect_model() -> None:
    items = _items()
    card = run_benchmark(
        toy_predict, items, suite=SUITE, kinds=KINDS, families=["impulse"], progress=False
    )
    sc = scores(card, SUITE, reference=card)
    fam = sc["families"]["impulse"]
    if fam["wa"][0] < 1.0:
        assert fam["ce"] == pytest.approx(1.0) and fam["effective_robustness"] == 0.0
    # one of the six test corruption families: no mCE, marked partial
    assert math.isnan(sc["mCE"]) and math.isnan(sc["relative_mCE"])
    assert sc["mCE_families"] == {"scored": 1, "of": 6, "partial": True}
    perfect = json.loads(json.dumps(card))
    for cell in perfect["cells"].values():
        cm = torch.tensor(cell["confusion"])
        cell["confusion"] = torch.diag(cm.sum(dim=1)).tolist()
    sp = scores(perfect, SUITE, reference=card)
    assert sp["families"]["impulse"]["ce"] == 0.0
    assert sp["families"]["impulse"]["auc"] == pytest.approx(1.0)
    assert area_under_curve([1.0, 0.8, 0.6, 0.4, 0.2, 0.0]) == pytest.approx(0.5)
    assert cell_metrics([[3, 1], [0, 0]])["WA"] == 0.75


def test_export_round_trips_through_the_loaders(tmp_path: Path) -> None:
    items = _items(6)
    noisy = [corrupt_item(it, SUITE, "impulse", 4, kinds=KINDS) for it in items]
    root = export_mmin_h5(noisy, tmp_path / "mmin")
    back = MMINFeatures(root / "feature", root / "target", fold=1, split="tst", norm=None)
    for i, it in enumerate(noisy):
        got = back[i]
        assert got["id"] == it["id"] and int(got["label"]) == int(it["label"])
        assert all(torch.equal(got[m], it[m]) for m in NAMES)
    pkl = export_mmsa_pkl(noisy, tmp_path / "mmsa")
    back2 = MMSAPickle(pkl, split="test")
    for i, it in enumerate(noisy):
        got = back2[i]
        assert got["id"] == it["id"] and int(got["label"]) == int(it["label"])
        assert all(torch.equal(got[m], it[m]) for m in NAMES)


def test_cli_writes_the_report_card(tmp_path: Path) -> None:
    args = ["--data", "synthetic", "--size", "8", "--dims", "4,5,6", "--max-len", "6,6,5"]
    rc = main(
        [
            "bench-robustness",
            "--predict",
            "tests.test_merc:toy_predict",
            *args,
            "--out",
            str(tmp_path / "card"),
            "--families",
            "impulse,missing_rate,nmer_fill",
            "--no-progress",
            "--no-plots",
        ]
    )
    assert rc == 0
    card = json.loads((tmp_path / "card" / "card.json").read_text())
    assert card["suite"] == "mer-c-v2" and card["data"]["num_items"] == 8
    assert card["timing"]["predict_s"] > 0 and 0 < card["timing"]["corrupt_share"] < 1
    md = (tmp_path / "card" / "report.md").read_text()
    assert "impulse" in md and "Missing rate" in md and "NMER" in md
    rc = main(
        [
            "merc-export",
            *args,
            "--out",
            str(tmp_path / "exp"),
            "--families",
            "impulse",
            "--severities",
            "5",
        ]
    )
    assert rc == 0 and (tmp_path / "exp" / "impulse" / "s5" / "feature" / "A").is_dir()
    exp = ["merc-export", *args, "--out", str(tmp_path / "exp2"), "--severities", "1"]
    assert main([*exp, "--families", "missing_rate,nmer_fill"]) == 0
    assert (tmp_path / "exp2" / "missing_rate" / "eta_0.7.csv").is_file()
    assert (tmp_path / "exp2" / "nmer_fill" / "s1" / "feature" / "L").is_dir()
    assert main([*exp, "--families", "wave_gaussian_snr"]) == 2
    assert main([*exp, "--families", "impulse,typo"]) == 2
    assert main(["bench-robustness", "--predict", "nope", *args, "--out", str(tmp_path)]) == 2


def test_write_report_plots(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    card = run_benchmark(
        toy_predict, _items(), suite=SUITE, kinds=KINDS, families=["impulse"], progress=False
    )
    paths = write_report(card, SUITE, tmp_path)
    assert paths["curves"].stat().st_size > 0 and paths["heatmap"].stat().st_size > 0


def test_reference_model_predict_functions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from reference_models import merc_predict

    assert merc_predict.main(["--tiny", "--out", str(tmp_path)]) == 0
    monkeypatch.setenv("MERC_CHECKPOINTS", str(tmp_path))
    monkeypatch.setattr(merc_predict, "_LOADED", {})
    from mmnoise.data import pad_collate
    from reference_models.demo import TINY

    ds = SyntheticMER(
        "test",
        size=4,
        dims=dict(zip(NAMES, TINY.dims, strict=True)),
        max_len=dict(zip(NAMES, TINY.max_len, strict=True)),
    )
    batch = pad_collate([ds[i] for i in range(4)])
    for fn in (merc_predict.baseline, merc_predict.mmin, merc_predict.ifmmin, merc_predict.nmer):
        assert fn(batch).shape == (4, 4)
    monkeypatch.setenv("MERC_CHECKPOINTS", str(tmp_path / "nowhere"))
    monkeypatch.setattr(merc_predict, "_LOADED", {})
    with pytest.raises(FileNotFoundError, match="merc_predict"):
        merc_predict.baseline(batch)


# --- audit fixes: mCE over complete data, reference checks, family names, export, freezing ---

TEST_FAMILIES = [
    f.name for f in SUITE.families_of("features", split="test") if f.group == "corruption"
]


def test_mce_needs_every_test_family_in_card_and_reference(tmp_path: Path) -> None:
    items = _items()
    full = run_benchmark(
        toy_predict, items, suite=SUITE, kinds=KINDS, families=TEST_FAMILIES, progress=False
    )
    sc = scores(full, SUITE, reference=full)
    assert sc["mCE_families"] == {"scored": 6, "of": 6, "partial": False}
    ces = [sc["families"][n]["ce"] for n in TEST_FAMILIES]
    assert sc["mCE"] == pytest.approx(sum(ces) / 6)
    # the reference lacks a family: the card alone is complete, the score is still partial
    ref = json.loads(json.dumps(full))
    ref["cells"] = {k: v for k, v in ref["cells"].items() if not k.startswith("impulse/")}
    part = scores(full, SUITE, reference=ref)
    assert math.isnan(part["mCE"]) and math.isnan(part["relative_mCE"])
    assert part["mCE_families"] == {"scored": 5, "of": 6, "partial": True}
    paths = write_report(full, SUITE, tmp_path, reference=ref, plots=False)
    assert "partial, 5 of 6 test corruption families" in paths["report"].read_text()
    back = json.loads(paths["scores"].read_text())["scores"]
    assert back["mCE_families"]["partial"] is True


def test_a_reference_from_another_suite_or_data_is_refused(tmp_path: Path) -> None:
    card = run_benchmark(
        toy_predict, _items(), suite=SUITE, kinds=KINDS, families=["impulse"], progress=False
    )
    other_data = run_benchmark(
        toy_predict, _items(6), suite=SUITE, kinds=KINDS, families=["impulse"], progress=False
    )
    with pytest.raises(ValueError, match=r"data\.sha256"):
        scores(card, SUITE, reference=other_data)
    other_suite = json.loads(json.dumps(card)) | {"suite_sha256": "0" * 64}
    with pytest.raises(ValueError, match="suite_sha256"):
        write_report(card, SUITE, tmp_path, reference=other_suite, plots=False)
    assert not (tmp_path / "scores.json").exists()
    # the command checks before running anything
    (tmp_path / "ref.json").write_text(json.dumps(other_suite))
    args = ["--data", "synthetic", "--size", "4", "--dims", "4,5,6", "--max-len", "6,6,5"]
    rc = main(
        [
            "bench-robustness",
            "--predict",
            "tests.test_merc:toy_predict",
            *args,
            "--out",
            str(tmp_path / "card"),
            "--reference",
            str(tmp_path / "ref.json"),
            "--no-progress",
        ]
    )
    assert rc == 2 and not (tmp_path / "card" / "card.json").exists()


def test_unknown_or_inapplicable_family_names_raise(tmp_path: Path) -> None:
    items = _items(4)
    with pytest.raises(ValueError, match=r"unknown families \['gain'\].*'impulse'"):
        run_benchmark(
            toy_predict,
            items,
            suite=SUITE,
            kinds=KINDS,
            families=["impulse", "gain"],
            progress=False,
        )
    with pytest.raises(ValueError, match="wave_gaussian_snr"):
        run_benchmark(
            toy_predict,
            items,
            suite=SUITE,
            kinds=KINDS,
            families=["wave_gaussian_snr"],
            progress=False,
        )
    with pytest.raises(ValueError, match=r"unknown families \['nmer'\]"):
        export_suite(items, SUITE, tmp_path, kinds=KINDS, families=["nmer"])
    # a waveform family on feature data would write clean copies: it raises instead
    with pytest.raises(ValueError, match=r"wave_gaussian_snr \(waveform\)"):
        export_suite(items, SUITE, tmp_path, kinds=KINDS, families=["wave_gaussian_snr"])
    with pytest.raises(ValueError, match="none, so the items would stay clean"):
        corrupt_items(items, SUITE, "lowpass", 1, kinds=KINDS)
    assert not (tmp_path / "clean").exists()


def test_export_of_the_missing_protocols_reproduces_the_runner_cells(tmp_path: Path) -> None:
    items = _items(8)
    paths = export_suite(
        items,
        SUITE,
        tmp_path,
        kinds=KINDS,
        families=["missing_rate", "nmer_fill"],
        severities=[2],
    )
    rel = [p.relative_to(tmp_path).as_posix() for p in paths]
    assert rel[0] == "clean/s0" and rel[-1] == "nmer_fill/s2"
    assert rel[1:-1] == [f"missing_rate/eta_{eta!r}.csv" for eta in SUITE.missing_rate]
    # the presence table is the runner's missing-rate cell
    lines = (tmp_path / "missing_rate" / "eta_0.5.csv").read_text().splitlines()
    assert lines[0] == "id,audio,visual,text" and len(lines) == 1 + len(items)
    for line, it in zip(lines[1:], items, strict=True):
        uid, *flags = line.split(",")
        want = missing_rate_item(it, SUITE, 0.5, NAMES)["present"]
        assert uid == it["id"] and [int(f) for f in flags] == [int(want[m]) for m in NAMES]
    # a condition's NMER cell = present modalities from clean/s0, missing ones from nmer_fill/s2
    clean = MMINFeatures(
        tmp_path / "clean/s0/feature",
        tmp_path / "clean/s0/target",
        fold=1,
        split="tst",
        norm=None,
    )
    noised = MMINFeatures(
        tmp_path / "nmer_fill/s2/feature",
        tmp_path / "nmer_fill/s2/target",
        fold=1,
        split="tst",
        norm=None,
    )
    conds = {c: v for c, v in conditions_of(NAMES).items() if v is not None}
    cells = nmer_fill_items(items, SUITE, 2, conds, kinds=KINDS)
    for c, cond in conds.items():
        for i in range(len(items)):
            for m in NAMES:
                src = clean[i] if cond[m] else noised[i]
                assert torch.equal(src[m], cells[c][i][m]), (c, i, m)
    assert not torch.equal(noised[0]["audio"], clean[0]["audio"])


def test_corruption_refuses_items_off_the_cpu() -> None:
    item = {"audio": torch.ones(3, 2, device="meta"), "id": "m"}
    with pytest.raises(ValueError, match=r"expected CPU tensors.*meta"):
        corrupt_item(item, SUITE, "impulse", 1, kinds={"audio": "features"})
    pair = item | {"visual": torch.ones(3, 2, device="meta")}
    with pytest.raises(ValueError, match="expected CPU tensors"):
        nmer_fill_item(
            pair,
            SUITE,
            1,
            {"audio": True, "visual": False},
            kinds={"audio": "features", "visual": "features"},
        )


def test_corruption_depends_on_the_order_of_kinds() -> None:
    # documented: the item's generator is carried from one modality to the next in kinds order
    item = _items(1)[0]
    rev = dict(reversed(list(KINDS.items())))
    a = corrupt_item(item, SUITE, "gaussian_snr", 3, kinds=KINDS)
    b = corrupt_item(item, SUITE, "gaussian_snr", 3, kinds=rev)
    assert not torch.equal(a["audio"], b["audio"]) and not torch.equal(a["text"], b["text"])


def test_card_is_written_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    items = _items(4)
    kw: dict[str, Any] = dict(suite=SUITE, kinds=KINDS, out=tmp_path, progress=False)
    run_benchmark(toy_predict, items, families=["impulse"], **kw)
    before = (tmp_path / "card.json").read_text()

    def crash(src: Any, dst: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("mmnoise.merc.runner.os.replace", crash)
    with pytest.raises(OSError, match="disk full"):
        run_benchmark(toy_predict, items, families=["impulse", "time_mask"], **kw)
    assert (tmp_path / "card.json").read_text() == before  # the old card is whole
    assert [p.name for p in tmp_path.iterdir()] == ["card.json"]  # no temp file left


# mer-c-v1.json is frozen: the results page and every published card were measured on it
SUITE_V1_SHA256 = "35155eb4c16f28c9e77550ee5f9675ea1c7eb02374a1cbd247a11bfd4a8f5f9d"
GOLDEN = Path(__file__).with_name("merc_v1_golden.json")


def test_frozen_suite_file_is_unchanged() -> None:
    assert SUITE.sha256 == SUITE_V1_SHA256, (
        "mmnoise/merc/suites/mer-c-v1.json changed, but a released suite is frozen (published "
        "numbers were measured on it): restore it, and put the change in a new file "
        "(mer-c-v2.json, with a new name and version) instead."
    )


def _golden_items() -> list[Sample]:
    # built from index arithmetic only (no random generator), so the inputs themselves are fixed
    items = []
    for i, (ta, tv, tt) in enumerate([(5, 4, 3), (6, 6, 4), (3, 5, 2)]):
        items.append(
            {
                "audio": torch.sin(0.7 * torch.arange(ta * 3, dtype=torch.float32) + i).reshape(
                    ta, 3
                ),
                "visual": torch.cos(0.3 * torch.arange(tv * 2, dtype=torch.float32) - i).reshape(
                    tv, 2
                ),
                "text": (i + 1) * torch.linspace(-1.0, 1.0, tt * 4).reshape(tt, 4),
                "label": torch.tensor(i % 2),
                "id": f"golden_{i}",
            }
        )
    return items


def _summary(x: torch.Tensor) -> list[float]:
    flat = x.detach().double().flatten()
    return [float(flat.sum()), float(flat.abs().sum()), *(float(v) for v in flat[:3])]


def golden_values() -> dict[str, Any]:
    """The frozen values the golden test pins: feature families at s1 / s5, eta, NMER fill."""
    items = _golden_items()
    out: dict[str, Any] = {"families": {}, "missing_rate": {}, "nmer_fill": {}}
    for fam in SUITE.families_of("features"):
        for sev in (1, 5):
            res = corrupt_items(items, SUITE, fam.name, sev, kinds=KINDS)
            out["families"][f"{fam.name}/{sev}"] = {
                it["id"]: {m: _summary(it[m]) for m in NAMES} for it in res
            }
    for eta in (0.3, 0.7):
        out["missing_rate"][repr(eta)] = {
            it["id"]: [
                int(bool(missing_rate_item(it, SUITE, eta, NAMES)["present"][m])) for m in NAMES
            ]
            for it in items
        }
    noised = nmer_noised_items(items, SUITE, 3, NAMES, kinds=KINDS)
    out["nmer_fill"]["3"] = {it["id"]: {m: _summary(it[m]) for m in NAMES} for it in noised}
    return out


def write_golden() -> None:
    """Regenerate the fixture (only when a NEW suite version is added; v1's values are frozen):
    ``python -c "from tests.test_merc import write_golden; write_golden()"``."""
    GOLDEN.write_text(json.dumps(golden_values(), indent=0, sort_keys=True) + "\n")


def _flatten(tree: Any, prefix: str = "") -> dict[str, float]:
    if isinstance(tree, dict):
        return {k: v for key in tree for k, v in _flatten(tree[key], f"{prefix}/{key}").items()}
    if isinstance(tree, list):
        return {k: v for i, x in enumerate(tree) for k, v in _flatten(x, f"{prefix}[{i}]").items()}
    return {prefix: float(tree)}


def test_golden_values_of_the_frozen_suite() -> None:
    want = _flatten(json.loads(GOLDEN.read_text()))
    got = _flatten(golden_values())
    assert got.keys() == want.keys()
    bad = [k for k in want if got[k] != pytest.approx(want[k], rel=1e-5, abs=1e-5)]
    assert not bad, (
        f"MER-C v1 corrupted values changed for {len(bad)} entries (first: {bad[:5]}); the "
        "frozen suite must reproduce: find the transform or RNG change that moved them."
    )
