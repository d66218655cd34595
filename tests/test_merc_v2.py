"""MER-C v2: CPM-Nets missing rate, Philox draws, per-modality cells, thread-free bytes, golden."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mmnoise.merc import load_suite
from mmnoise.merc.corrupt import (
    corrupt_items,
    missing_pattern,
    missing_patterns,
    missing_rate_item,
    nmer_noised_items,
)
from mmnoise.merc.runner import cell_digest, run_benchmark
from mmnoise.sample import Kind, Sample

V2 = load_suite("mer-c-v2")
NAMES = ("audio", "visual", "text")
KINDS: dict[str, Kind] = {m: "features" for m in NAMES}
GOLDEN = Path(__file__).with_name("merc_v2_golden.json")


def cpm_nets_get_sn(view_num: int, n: int, missing_rate: float, seed: int) -> np.ndarray:
    """CPM-Nets' ``get_sn`` (hanmenghan/CPM_Nets util/get_sn.py) in current NumPy: rows = items,
    1 = view present. ``np.int`` and ``OneHotEncoder(n_values=...)`` are gone from today's
    NumPy / scikit-learn, so the one-hot and the casts are written out; the loop is the same."""
    rs = np.random.RandomState(seed)
    one_rate = 1 - missing_rate

    def one_hot() -> np.ndarray:
        return np.eye(view_num, dtype=np.int64)[rs.randint(0, view_num, size=n)]

    if one_rate <= 1 / view_num:
        return one_hot()
    if one_rate == 1:
        return np.ones((n, view_num), dtype=np.int64)
    error = 1.0
    matrix = np.ones((n, view_num), dtype=np.int64)
    while error >= 0.005:
        view_preserve = one_hot()
        one_num = view_num * n * one_rate - n
        ratio = one_num / (view_num * n)
        matrix_iter = (rs.randint(0, 100, size=(n, view_num)) < int(ratio * 100)).astype(np.int64)
        a = np.sum(((matrix_iter + view_preserve) > 1).astype(np.int64))
        one_num_iter = one_num / (1 - a / one_num)
        ratio = one_num_iter / (view_num * n)
        matrix_iter = (rs.randint(0, 100, size=(n, view_num)) < int(ratio * 100)).astype(np.int64)
        matrix = ((matrix_iter + view_preserve) > 0).astype(np.int64)
        error = abs(one_rate - np.sum(matrix) / (view_num * n))
    return matrix


def _mix(missing_counts: list[int], m: int) -> list[float]:
    c = Counter(missing_counts)
    return [c[k] / len(missing_counts) for k in range(m)]


@pytest.mark.parametrize("eta", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
def test_missing_rate_mix_follows_the_cpm_nets_generator(eta: float) -> None:
    n = 4000
    sn = cpm_nets_get_sn(3, n, eta, seed=0)
    theirs = _mix((3 - sn.sum(axis=1)).tolist(), 3)
    ids = [f"item_{i}" for i in range(n)]
    ours = _mix([3 - sum(p.values()) for p in missing_patterns(V2, ids, eta, NAMES)], 3)
    # v1's floor(eta * M + u) gives 9.5 / 90.5 / 0 % at eta 0.3, CPM-Nets about 30 / 50 / 20 %
    assert ours == pytest.approx(theirs, abs=0.035), (eta, ours, theirs)
    realised = sum(ours[k] * k for k in range(3)) / 3
    assert realised == pytest.approx(eta, abs=0.015)
    v1 = load_suite("mer-c-v1")
    old = _mix([3 - sum(p.values()) for p in missing_patterns(v1, ids[:300], eta, NAMES)], 3)
    if eta == 0.3:
        assert old[2] == 0.0 and theirs[2] > 0.15  # the bug v2 fixes


def test_missing_rate_is_nested_never_empty_and_capped_honestly() -> None:
    etas = V2.missing_rate
    assert etas[-1] == 0.7 and V2.effective_eta(0.7, 3) == pytest.approx(2 / 3)
    assert V2.effective_eta(0.6, 2) == 0.5 and V2.effective_eta(0.3, 3) == 0.3
    per_eta = [missing_patterns(V2, [f"u{i}" for i in range(300)], eta, NAMES) for eta in etas]
    for pats in zip(*per_eta, strict=True):
        assert all(any(p.values()) for p in pats)
        assert all(p == dict.fromkeys(NAMES, True) for p in pats[:1])
        for weak, strong in itertools.pairwise(pats):
            assert all(strong[m] <= weak[m] for m in NAMES)  # missing sets nested in eta
        assert sum(pats[-1].values()) == 1  # at the cap every item keeps one modality
    item = {m: torch.ones(2, 1) for m in NAMES} | {"id": "u0"}
    out = missing_rate_item(item, V2, 0.4, NAMES)
    assert {m: bool(out["present"][m]) for m in NAMES} == missing_pattern(V2, "u0", 0.4, NAMES)


def _items(n: int = 6) -> list[Sample]:
    g = torch.Generator().manual_seed(3)
    return [
        {
            "audio": torch.randn(5 + i % 2, 4, generator=g),
            "visual": torch.randn(4, 3, generator=g),
            "text": torch.randn(3, 5, generator=g),
            "label": torch.tensor(i % 2),
            "id": f"it{i}",
        }
        for i in range(n)
    ]


@pytest.mark.parametrize("family", ["gaussian_snr", "colored_snr", "time_mask", "time_shift"])
def test_one_modality_alone_equals_its_part_of_the_all_modality_cell(family: str) -> None:
    items = _items()
    every = corrupt_items(items, V2, family, 4, kinds=KINDS)
    # the order of kinds does not matter in v2 (one stream per item and modality)
    reordered = corrupt_items(items, V2, family, 4, kinds=dict(reversed(KINDS.items())))
    for m in NAMES:
        alone = corrupt_items(items, V2, family, 4, kinds=KINDS, only=m)
        for a, e, r, clean in zip(alone, every, reordered, items, strict=True):
            assert torch.equal(a[m], e[m]) and torch.equal(r[m], e[m])
            assert not torch.equal(a[m], clean[m])
            assert all(a[o] is clean[o] for o in NAMES if o != m)
    with pytest.raises(ValueError, match="only="):
        corrupt_items(items, load_suite("mer-c-v1"), family, 4, kinds=KINDS, only="audio")


def test_v2_draws_come_from_the_philox_key_not_torch_generators(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    items = _items(3)

    class Refuse(torch.Generator):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise AssertionError("a torch.Generator was made during a mer-c-v2 corruption")

    monkeypatch.setattr(torch, "Generator", Refuse)
    with pytest.raises(AssertionError, match="was made"):  # the v1 path does make them
        corrupt_items(items, load_suite("mer-c-v1"), "impulse", 2, kinds=KINDS)
    corrupt_items(items, V2, "impulse", 2, kinds=KINDS)
    nmer_noised_items(items, V2, 2, NAMES, kinds=KINDS)
    missing_pattern(V2, "it0", 0.3, NAMES)


_THREADS_SCRIPT = """
import json, sys, torch
torch.set_num_threads(int(sys.argv[1]))
from mmnoise.merc import load_suite
from mmnoise.merc.corrupt import corrupt_items
from mmnoise.merc.runner import cell_digest
s = load_suite("mer-c-v2")
g = torch.Generator().manual_seed(0)
wave = [{"w": torch.randn(1, 48000, generator=g), "id": f"w{i}"} for i in range(2)]
feat = [{"f": torch.randn(50, 1582, generator=g), "id": f"f{i}"} for i in range(2)]
out = {"threads": torch.get_num_threads()}
for fam, items, kinds in (("reverb", wave, {"w": "waveform"}), ("wave_gaussian_snr", wave,
        {"w": "waveform"}), ("colored_snr", feat, {"f": "features"}), ("gaussian_snr", feat,
        {"f": "features"})):
    for sev in (1, 5):
        res = corrupt_items(items, s, fam, sev, kinds=kinds)
        out[f"{fam}/{sev}"] = cell_digest(res, items, list(kinds))
print(json.dumps(out))
"""


def test_corrupted_bytes_do_not_depend_on_the_thread_count() -> None:
    # reverb of a 3 s waveform gives other bytes at 1, 2 and 4 threads without frozen_threads
    runs = []
    for n in (1, 4):
        done = subprocess.run(
            [sys.executable, "-c", _THREADS_SCRIPT, str(n)],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert (runs[0].pop("threads"), runs[1].pop("threads")) == (1, 4)
    assert runs[0] == runs[1]


def test_v2_card_has_per_modality_cells_digests_predictions_and_versions() -> None:
    items = _items(8)
    proj = {m: torch.linspace(-1, 1, items[0][m].shape[1] * 2).reshape(-1, 2) for m in NAMES}

    def predict(b: Sample) -> torch.Tensor:
        return sum(b[m].sum(dim=1) @ proj[m] for m in NAMES)  # type: ignore[return-value]

    card = run_benchmark(
        predict,
        items,
        suite=V2,
        kinds=KINDS,
        families=["impulse", "missing_rate"],
        progress=False,
    )
    cells = card["cells"]
    assert {f"impulse@{m}/{s}/full" for m in NAMES for s in range(1, 6)} <= set(cells)
    assert card["software"][0]["torch"] == torch.__version__
    assert len(card["labels"]) == 8 and all(len(c["pred"]) == 8 for c in cells.values())
    assert all(len(c["digest"]) == 64 for c in cells.values())
    # the digest is the cell's corrupted inputs: recomputed from the frozen corruption
    again = corrupt_items(items, V2, "impulse", 3, kinds=KINDS, only="visual")
    assert cells["impulse@visual/3/full"]["digest"] == cell_digest(again, items, NAMES)
    assert cells["impulse@visual/3/full"]["digest"] != cells["impulse/3/full"]["digest"]
    top = cells[f"missing_rate/{len(V2.missing_rate) - 1}/eta"]
    assert top["eta"] == 0.7 and top["eta_effective"] == pytest.approx(2 / 3)
    assert top["realised_missing_rate"] == pytest.approx(2 / 3)


# ---------------------------------------------------------------------------------------------
# golden values: every family of every kind at every severity, on tiny fixed items
# ---------------------------------------------------------------------------------------------

_RAW_KINDS: dict[str, dict[str, Kind]] = {
    "features": KINDS,
    "waveform": {"wave": "waveform"},
    "frames": {"video": "frames"},
    "tokens": {"tokens": "tokens"},
}


def _golden_items() -> list[Sample]:
    # index arithmetic only (no generator), so the inputs are fixed by the code
    items = []
    for i, (ta, tv, tt) in enumerate([(5, 4, 3), (6, 6, 4)]):
        ar = torch.arange
        items.append(
            {
                "audio": torch.sin(0.7 * ar(ta * 3, dtype=torch.float32) + i).reshape(ta, 3),
                "visual": torch.cos(0.3 * ar(tv * 2, dtype=torch.float32) - i).reshape(tv, 2),
                "text": (i + 1) * torch.linspace(-1.0, 1.0, tt * 4).reshape(tt, 4),
                "wave": 0.5 * torch.sin(0.05 * (i + 1) * ar(3200, dtype=torch.float32))[None],
                "video": (
                    (ar(3 * 3 * 16 * 16, dtype=torch.float32) * (0.013 + 0.004 * i)) % 1.0
                ).reshape(3, 3, 16, 16),
                "tokens": 101 + (ar(14) * (7 + i)) % 500,
                "label": torch.tensor(i % 2),
                "id": f"golden_{i}",
            }
        )
    return items


def _summary(x: torch.Tensor) -> list[float]:
    flat = x.detach().double().flatten()
    step = max(1, flat.numel() // 4)
    return [float(flat.sum()), float(flat.abs().sum()), *(float(v) for v in flat[::step][:4])]


def golden_values() -> dict[str, Any]:
    """Every family at every severity, the missing rate at every eta, NMER's fill at every
    severity (summaries of the corrupted tensors: sums and a few values)."""
    items = _golden_items()
    out: dict[str, Any] = {"families": {}, "missing_rate": {}, "nmer_fill": {}}
    for fam in V2.families:
        kinds = _RAW_KINDS[fam.kind]
        for sev in range(1, 6):
            res = corrupt_items(items, V2, fam.name, sev, kinds=kinds)
            out["families"][f"{fam.name}/{sev}"] = {
                it["id"]: {m: _summary(it[m]) for m in kinds} for it in res
            }
    for eta in V2.missing_rate:
        out["missing_rate"][repr(eta)] = {
            it["id"]: [int(v) for v in missing_pattern(V2, it["id"], eta, NAMES).values()]
            for it in items
        }
    for sev in range(1, 6):
        noised = nmer_noised_items(items, V2, sev, NAMES, kinds=KINDS)
        out["nmer_fill"][str(sev)] = {
            it["id"]: {m: _summary(it[m]) for m in NAMES} for it in noised
        }
    return out


def write_golden() -> None:
    """Write the fixture once, when the suite is released (never after: its values are frozen):
    ``python -c "from tests.test_merc_v2 import write_golden; write_golden()"``."""
    GOLDEN.write_text(json.dumps(golden_values(), indent=0, sort_keys=True) + "\n")


def _flatten(tree: Any, prefix: str = "") -> dict[str, float]:
    if isinstance(tree, dict):
        return {k: v for key in tree for k, v in _flatten(tree[key], f"{prefix}/{key}").items()}
    if isinstance(tree, list):
        return {k: v for i, x in enumerate(tree) for k, v in _flatten(x, f"{prefix}[{i}]").items()}
    return {prefix: float(tree)}


def test_golden_values_of_every_family_at_every_severity() -> None:
    want = _flatten(json.loads(GOLDEN.read_text()))
    got = _flatten(golden_values())
    assert got.keys() == want.keys()
    families = {k.split("/")[2] for k in want if k.startswith("/families/")}
    assert families == {f.name for f in V2.families}
    bad = [k for k in want if got[k] != pytest.approx(want[k], rel=1e-5, abs=1e-5)]
    assert not bad, (
        f"MER-C v2 corrupted values changed for {len(bad)} entries (first: {bad[:5]}); the "
        "frozen suite must reproduce: find the transform or RNG change that moved them."
    )


# ---------------------------------------------------------------------------------------------
# scores: partial cards, error bars, sentiment
# ---------------------------------------------------------------------------------------------


def _linear(items: list[Sample]) -> Any:
    proj = {m: torch.linspace(-1, 1, items[0][m].shape[1] * 2).reshape(-1, 2) for m in NAMES}

    def predict(b: Sample) -> torch.Tensor:
        return sum(b[m].sum(dim=1) @ proj[m] for m in NAMES)  # type: ignore[return-value]

    return predict


def test_scores_report_a_partial_card_instead_of_raising() -> None:
    from mmnoise.merc.report import scores, to_markdown

    items = _items(8)
    card = run_benchmark(
        _linear(items), items, suite=V2, kinds=KINDS, families=["impulse"], progress=False
    )
    # an interrupted run: severities 4 and 5 of the family and one per-modality cell are gone
    for key in ["impulse/4/full", "impulse/5/full", "impulse@text/2/full"]:
        del card["cells"][key]
    sc = scores(card, V2, reference=card, replicates=50)
    assert sc["partial"]["complete"] is False and sc["partial"]["missing_cells"] == 3
    assert math.isnan(sc["families"]["impulse"]["wa"][5])
    assert math.isnan(sc["mCE"]) and sc["mCE_families"]["partial"]
    assert "Partial card" in to_markdown(card, V2, sc)


def test_bootstrap_intervals_cover_the_point_and_pair_models() -> None:
    from mmnoise.merc.scoring import bootstrap, bootstrap_difference

    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 2, (400,), generator=g)
    fams = ["f", "h"]

    def card_of(flip: float) -> dict[str, Any]:
        cells = {"clean/0/full": {"pred": labels.tolist()}}
        for f in fams:
            for s in range(1, 6):
                wrong = torch.rand(400, generator=g) < flip * s
                cells[f"{f}/{s}/full"] = {"pred": torch.where(wrong, 1 - labels, labels).tolist()}
        return {"labels": labels.tolist(), "num_classes": 2, "cells": cells}

    ref, a, b = card_of(0.08), card_of(0.04), card_of(0.0401)
    ci = bootstrap(a, families=fams, mce_families=fams, reference=ref, replicates=300)
    point = [
        1.0
        - sum(
            p != y for p, y in zip(a["cells"][f"f/{s}/full"]["pred"], labels.tolist(), strict=True)
        )
        / 400
        for s in range(1, 6)
    ]
    for (lo, hi), v in zip(ci["curves"]["f"][1:], point, strict=True):
        assert lo <= v <= hi and hi - lo < 0.15
    lo, hi = ci["mCE"]
    assert lo < 0.5 < hi  # about half the reference's errors
    assert ci == bootstrap(a, families=fams, mce_families=fams, reference=ref, replicates=300)
    # a model against a copy of itself with nearly the same errors: inside; against the
    # reference (twice the errors): outside
    same = bootstrap_difference(a, b, ref, families=fams, replicates=300)
    assert same["inside"]["mCE"] is True
    apart = bootstrap_difference(a, ref, ref, families=fams, replicates=300)
    assert apart["inside"]["mCE"] is False and apart["mCE"][0] < 0


def test_sentiment_cards_score_with_mmsa_metrics() -> None:
    from mmnoise.merc.report import scores, to_markdown
    from mmnoise.metrics import sentiment_metrics

    items = _items(10)
    for i, it in enumerate(items):
        it["label"] = torch.tensor(float(i % 7) - 3.0)

    def predict(b: Sample) -> torch.Tensor:
        return b["audio"].mean(dim=(1, 2)) * 3

    card = run_benchmark(
        predict,
        items,
        suite=V2,
        kinds=KINDS,
        families=["gaussian_snr"],
        progress=False,
        task="regression",
    )
    clean = card["cells"]["clean/0/full"]
    assert "confusion" not in clean and card["task"] == "regression"
    want = sentiment_metrics(torch.tensor(clean["pred"]), torch.tensor(card["labels"]))
    sc = scores(card, V2, reference=card, replicates=50)
    assert sc["conditions"]["full"]["MAE"] == pytest.approx(want["MAE"])
    assert sc["families"]["gaussian_snr"]["ce"] == pytest.approx(1.0)
    assert "Acc-2" in to_markdown(card, V2, sc)
    with pytest.raises(ValueError, match="regression"):
        run_benchmark(
            lambda b: torch.zeros(len(b["id"]), 3),
            items,
            suite=V2,
            kinds=KINDS,
            families=["impulse"],
            progress=False,
            task="regression",
        )


# ---------------------------------------------------------------------------------------------
# usable by others: the Python API, merc-list, the export manifest, token ids
# ---------------------------------------------------------------------------------------------


def test_merc_list_names_every_suite_and_family(capsys: pytest.CaptureFixture[str]) -> None:
    from mmnoise.__main__ import main

    assert main(["merc-list"]) == 0
    text = capsys.readouterr().out
    assert "mer-c-v1" in text and "mer-c-v2" in text and "cpm-nets generator" in text
    assert all(f.name in text for f in V2.families)


def test_run_benchmark_takes_a_module_in_eval_mode_and_gives_it_back() -> None:
    import mmnoise.merc as merc

    items = _items(4)
    seen: list[bool] = []

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(4, 2)

        def forward(self, b: Sample) -> torch.Tensor:
            seen.append(self.training)
            return self.lin(b["audio"].mean(dim=1))

    net = Net().train()
    card = merc.run_benchmark(
        net, items, suite=V2, kinds=KINDS, families=["impulse"], progress=False
    )
    assert net.training and seen and not any(seen)
    assert merc.scores(card, V2)["conditions"]["full"]["WA"] >= 0.0


def test_export_writes_raw_modalities_and_a_checksummed_manifest(tmp_path: Path) -> None:
    from mmnoise.merc import export_suite, verify_manifest

    items = _golden_items()
    kinds = _RAW_KINDS["waveform"]
    cells = export_suite(
        items, V2, tmp_path, kinds=kinds, layout="torch", families=["reverb"], severities=[2]
    )
    assert [c.relative_to(tmp_path).as_posix() for c in cells] == ["clean/s0", "reverb/s2"]
    back = torch.load(tmp_path / "reverb" / "s2" / "items.pt", weights_only=True)
    want = corrupt_items(items, V2, "reverb", 2, kinds=kinds)
    assert all(torch.equal(b["wave"], w["wave"]) for b, w in zip(back, want, strict=True))
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["suite_sha256"] == V2.sha256 and set(manifest["files"]) == {
        "clean/s0/items.pt",
        "reverb/s2/items.pt",
    }
    assert verify_manifest(tmp_path) == []
    (tmp_path / "reverb" / "s2" / "items.pt").write_bytes(b"tampered")
    assert verify_manifest(tmp_path) == ["reverb/s2/items.pt"]
    with pytest.raises(ValueError, match="layout='torch'"):
        export_suite(items, V2, tmp_path / "x", kinds=kinds, layout="mmin-h5")


def test_mmsa_export_writes_the_token_ids(tmp_path: Path) -> None:
    from mmnoise.datasets import MMSAPickle
    from mmnoise.merc.export import export_mmsa_pkl

    items = [
        {
            "audio": torch.ones(3, 2),
            "visual": torch.ones(2, 2),
            "text": torch.tensor([101, 2023 + i, 2003, 102][: 3 + i]),
            "label": torch.tensor(0.5 * i),
            "id": f"u{i}",
        }
        for i in range(2)
    ]
    path = export_mmsa_pkl(items, tmp_path)
    ds = MMSAPickle(path, split="test", label="regression", text="bert_ids")
    for i, it in enumerate(items):
        assert torch.equal(ds[i]["text"], it["text"])
        assert float(ds[i]["label"]) == pytest.approx(0.5 * i)


def test_v2_names_each_transform_argument_by_its_current_name() -> None:
    import warnings

    from mmnoise.merc.corrupt import make_transform

    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        for fam in V2.families:
            make_transform(fam, 3, ["m"])
