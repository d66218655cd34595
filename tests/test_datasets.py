"""Datasets: the synthetic corpus (learnable, modality- and noise-sensitive) and the loaders.

The loader tests write tiny files in exactly the on-disk layouts (MMIN h5 + npy, MMSA pkl)
into tmp_path and read them back.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from mmnoise.data import BatchNoise, pad_collate
from mmnoise.datasets import CorpusConfig, MMINFeatures, MMSAPickle, SyntheticMER, prepare_mmin
from mmnoise.transforms.compose import MultimodalPipeline
from mmnoise.transforms.features import AddGaussianSNR

# -- SyntheticMER ------------------------------------------------------------------------------


def test_synthetic_items_follow_the_item_format(one_thread: None) -> None:
    ds = SyntheticMER("train")
    assert (len(ds), len(SyntheticMER("val")), len(SyntheticMER("test"))) == (2000, 400, 400)
    lengths = {m: set() for m in ds.modalities}
    for i in range(40):
        item = ds[i]
        assert set(item) == {"audio", "visual", "text", "label", "id"}
        for m, d in {"audio": 130, "visual": 342, "text": 1024}.items():
            x = item[m]
            assert x.dtype == torch.float32 and x.ndim == 2 and x.shape[1] == d
            assert bool(torch.isfinite(x).all())
            lengths[m].add(x.shape[0])
        assert item["label"].dtype == torch.int64 and item["label"].shape == ()
        assert item["id"] == f"train_{i:05d}"
    assert min(lengths["audio"]) >= 17 and max(lengths["audio"]) <= 50
    assert min(lengths["text"]) >= 7 and max(lengths["text"]) <= 22
    assert len(lengths["audio"]) > 10  # variable lengths
    assert [int(ds[i]["label"]) for i in range(8)] == [0, 1, 2, 3, 0, 1, 2, 3]
    assert ds.classes == ("neutral", "happy", "angry", "sad")


def test_synthetic_is_deterministic_from_seed_split_index() -> None:
    kw: dict[str, Any] = {"size": 10, "dims": {"audio": 6, "text": 9}}
    a, b = SyntheticMER("val", seed=1, **kw), SyntheticMER("val", seed=1, **kw)
    for m in ("audio", "text"):
        assert torch.equal(a[4][m], b[4][m])
        assert not torch.equal(a[4][m], SyntheticMER("val", seed=2, **kw)[4][m])
        assert not torch.equal(a[4][m], SyntheticMER("test", seed=1, **kw)[4][m])
    assert torch.equal(a[-1]["audio"], a[9]["audio"])
    again = pickle.loads(pickle.dumps(a))  # DataLoader workers may pickle it
    assert torch.equal(again[3]["text"], a[3]["text"])


def _pooled(batch: dict[str, Any], mods: tuple[str, ...], drop: str | None = None) -> torch.Tensor:
    feats = []
    for m in mods:
        x, n = batch[m], batch["lengths"][m]
        valid = (torch.arange(x.shape[1])[None] < n[:, None]).to(x.dtype)[..., None]
        pooled = (x * valid).sum(1) / n[:, None]
        feats.append(torch.zeros_like(pooled) if m == drop else pooled)
    return torch.cat(feats, 1)


@pytest.fixture
def one_thread() -> Any:
    # Thousands of tiny matmuls: on a loaded 2-core machine, BLAS threads spin-waiting on each
    # other make them ~100x slower than one thread (DataLoader workers use one thread anyway).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_synthetic_is_learnable_and_sensitive_to_missing_modalities_and_noise(
    one_thread: None,
) -> None:
    train, test = SyntheticMER("train", size=1000), SyntheticMER("test", size=400)
    tr = pad_collate([train[i] for i in range(len(train))])
    te = pad_collate([test[i] for i in range(len(test))])
    mods = train.modalities
    # ridge-regression classifier on time-pooled, standardised features (closed form, fast)
    x = _pooled(tr, mods)
    mu, sd = x.mean(0), x.std(0) + 1e-6

    def design(feats: torch.Tensor) -> torch.Tensor:
        z = (feats - mu) / sd
        return torch.cat([z, torch.ones(len(z), 1)], 1).double()

    z = design(x)
    y = torch.nn.functional.one_hot(tr["label"], 4).double()
    w = torch.linalg.solve(z.T @ z + 1000.0 * torch.eye(z.shape[1], dtype=z.dtype), z.T @ y)

    def accuracy(batch: dict[str, Any], drop: str | None = None) -> float:
        pred = (design(_pooled(batch, mods, drop)) @ w).argmax(1)
        return float((pred == batch["label"]).double().mean())

    full = accuracy(te)
    assert full > 0.75  # chance is 0.25
    for m in mods:
        assert accuracy(te, drop=m) < full - 0.03, m
    pipe = MultimodalPipeline({m: [AddGaussianSNR(snr_db=(30.0, -5.0))] for m in mods})
    mild = accuracy(BatchNoise(pipe, seed=0, level=0.2)(te, step=0))  # 23 dB
    strong = accuracy(BatchNoise(pipe, seed=0, level=1.0)(te, step=0))  # -5 dB
    assert strong < full - 0.05
    assert strong < mild


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"split": "dev"}, "split"),
        ({"size": 0}, "size"),
        ({"dims": {"audio": 4}, "max_len": {"audio": 3}, "min_len": {"audio": 5}}, "min_len"),
        ({"dims": {"audio": 4}, "max_len": {"text": 3}}, "max_len"),
        ({"num_classes": 1}, "num_classes"),
        ({"specific_sep": {"audio": 1.0}}, r"specific_sep\['visual'\]"),
        ({"emotion_scale": -1.0}, "emotion_scale"),
    ],
)
def test_synthetic_errors(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        SyntheticMER(**kwargs)


# -- MMIN / IF-MMIN / NMER layout ----------------------------------------------------------------

_DIMS = {"A": 6, "V": 5, "L": 7}
_STEMS = {"A": "comparE", "V": "denseface", "L": "bert_large"}


def _write_mmin(root: Path, *, msp: bool = False) -> dict[str, Any]:
    """Write fold 1 of the MMIN layout (3 trn, 2 val, 2 tst utterances) and return the truth."""
    rng = np.random.default_rng(0)
    feat, tgt = root / "feat", root / "tgt"
    splits = {"trn": 3, "val": 2, "tst": 2}
    ids = {
        s: [f"Ses0{i}F_impro0{k}_F00{k}" for k in range(n)]
        for i, (s, n) in enumerate(splits.items(), 1)
    }
    truth: dict[str, Any] = {"ids": ids, "feat": {}, "labels": {}}
    for d, dim in _DIMS.items():
        (feat / d).mkdir(parents=True)
        with h5py.File(feat / d / f"{_STEMS[d]}.h5", "w") as f:
            for uid in [u for names in ids.values() for u in names]:
                arr = rng.normal(size=(int(rng.integers(2, 6)), dim)).astype(np.float32)
                f[uid] = arr
                truth["feat"][(d, uid)] = arr
    mean = rng.normal(size=_DIMS["A"]).astype(np.float32)
    std = rng.uniform(0.5, 2.0, size=_DIMS["A"]).astype(np.float32)
    std[2] = 0.0  # a constant feature: upstream divides by 1 instead
    with h5py.File(feat / "A" / "comparE_mean_std.h5", "w") as f:
        f["1/mean"], f["1/std"] = mean, std
    truth["mean"], truth["std"] = mean, np.where(std == 0, 1.0, std).astype(np.float32)
    (tgt / "1").mkdir(parents=True)
    for s, names in ids.items():
        labels = rng.integers(0, 4, size=len(names))
        truth["labels"][s] = labels
        if msp:
            np.save(tgt / "1" / f"{s}_label.npy", labels)
            np.save(tgt / "1" / f"{s}_int2name.npy", np.array(names))
        else:
            np.save(tgt / "1" / f"{s}_label.npy", np.eye(4, dtype=np.float32)[labels])
            np.save(tgt / "1" / f"{s}_int2name.npy", np.array([[n.encode()] for n in names]))
    truth["feat_root"], truth["tgt_root"] = feat, tgt
    return truth


def test_mmin_reads_the_layout_back(tmp_path: Path) -> None:
    t = _write_mmin(tmp_path)
    ds = MMINFeatures(t["feat_root"], t["tgt_root"], fold=1, split="trn")
    assert len(ds) == 3 and ds.dims == {"audio": 6, "visual": 5, "text": 7}
    for i, uid in enumerate(t["ids"]["trn"]):
        item = ds[i]
        assert item["id"] == uid and int(item["label"]) == t["labels"]["trn"][i]
        audio = (t["feat"][("A", uid)] - t["mean"]) / t["std"]
        np.testing.assert_allclose(item["audio"].numpy(), audio, rtol=1e-6)
        assert torch.equal(item["visual"], torch.from_numpy(t["feat"][("V", uid)]))
        assert torch.equal(item["text"], torch.from_numpy(t["feat"][("L", uid)]))
        assert item["audio"].dtype == torch.float32 and item["label"].dtype == torch.int64
    test = MMINFeatures(t["feat_root"], t["tgt_root"], fold=1, split="test", norm="utt")
    uid = t["ids"]["tst"][1]
    raw = t["feat"][("A", uid)]
    np.testing.assert_allclose(
        test[1]["audio"].numpy(), (raw - raw.mean(0)) / raw.std(0), rtol=1e-5
    )
    none = MMINFeatures(
        t["feat_root"], t["tgt_root"], fold=1, split="val", norm=None, in_memory=True
    )
    assert torch.equal(none[0]["audio"], torch.from_numpy(t["feat"][("A", t["ids"]["val"][0])]))
    batch = pad_collate([ds[i] for i in range(3)])
    assert batch["audio"].shape[0] == 3 and batch["lengths"]["text"].dtype == torch.int64


def test_mmin_in_memory_and_workers_match_lazy(tmp_path: Path) -> None:
    t = _write_mmin(tmp_path)
    lazy = MMINFeatures(t["feat_root"], t["tgt_root"], fold=1, split="trn")
    mem = MMINFeatures(t["feat_root"], t["tgt_root"], fold=1, split="trn", in_memory=True)
    lazy[0]  # open the h5 handles in this process before the workers fork
    loader = DataLoader(lazy, batch_size=2, num_workers=2, collate_fn=pad_collate)
    ids, audio = [], []
    for b in loader:
        ids += b["id"]
        audio += [b["audio"][i, : b["lengths"]["audio"][i]] for i in range(len(b["id"]))]
    assert ids == t["ids"]["trn"]
    for i in range(3):
        assert torch.equal(audio[i], mem[i]["audio"])
        assert torch.equal(lazy[i]["text"], mem[i]["text"])


def test_mmin_msp_variant(tmp_path: Path) -> None:
    t = _write_mmin(tmp_path, msp=True)
    ds = MMINFeatures(t["feat_root"], t["tgt_root"], fold=1, split="val")
    assert [int(ds[i]["label"]) for i in range(2)] == list(t["labels"]["val"])
    assert ds[1]["id"] == t["ids"]["val"][1]


def _corrupt(path: Path) -> None:
    path.write_bytes(b"this is not the file you are looking for")


@pytest.mark.parametrize(
    ("damage", "err", "match"),
    [
        (
            lambda t: (t["tgt_root"] / "1" / "trn_label.npy").unlink(),
            FileNotFoundError,
            r"trn_label\.npy",
        ),
        (
            lambda t: _corrupt(t["tgt_root"] / "1" / "trn_int2name.npy"),
            ValueError,
            r"cannot read .*trn_int2name\.npy",
        ),
        (
            lambda t: np.save(t["tgt_root"] / "1" / "trn_int2name.npy", np.array([[b"a"]])),
            ValueError,
            r"trn_label\.npy with one row per id of trn_int2name\.npy \(N = 1\)",
        ),
        (
            lambda t: (t["feat_root"] / "V" / "denseface.h5").unlink(),
            FileNotFoundError,
            r"denseface\.h5",
        ),
        (
            lambda t: _corrupt(t["feat_root"] / "L" / "bert_large.h5"),
            ValueError,
            r"cannot open .*bert_large\.h5",
        ),
        (
            lambda t: _h5_edit(t, "V", lambda f, uid: f.__delitem__(uid)),
            KeyError,
            r"Ses01F_impro01_F001.*denseface\.h5",
        ),
        (
            lambda t: _h5_edit(t, "L", lambda f, uid: _replace(f, uid, np.zeros(7))),
            ValueError,
            r"bert_large\.h5\['Ses01F_impro01_F001'\] as a \(frames >= 1, dim\)",
        ),
        (
            lambda t: _h5_edit(t, "A", lambda f, uid: _replace(f, uid, np.zeros((3, 4)))),
            ValueError,
            r"dim 6, got .*comparE\.h5\['Ses01F_impro01_F001'\]",
        ),
        (
            lambda t: _mean_std_edit(t, lambda f: f.__delitem__("1")),
            KeyError,
            r"group '1' .*comparE_mean_std\.h5",
        ),
        (
            lambda t: _mean_std_edit(t, lambda f: _replace(f, "1/std", np.ones(3))),
            ValueError,
            r"comparE_mean_std\.h5\[1/std\] of shape \(6,\)",
        ),
    ],
)
def test_mmin_errors_name_the_file_and_key(
    tmp_path: Path, damage: Any, err: type[Exception], match: str
) -> None:
    t = _write_mmin(tmp_path)
    damage(t)
    with pytest.raises(err, match=match):
        MMINFeatures(t["feat_root"], t["tgt_root"], fold=1, split="trn")


def _replace(f: Any, key: str, value: np.ndarray) -> None:
    del f[key]
    f[key] = value


def _h5_edit(t: dict[str, Any], d: str, fn: Any) -> None:
    with h5py.File(t["feat_root"] / d / f"{_STEMS[d]}.h5", "a") as f:
        fn(f, t["ids"]["trn"][1])


def _mean_std_edit(t: dict[str, Any], fn: Any) -> None:
    with h5py.File(t["feat_root"] / "A" / "comparE_mean_std.h5", "a") as f:
        fn(f)


def test_mmin_argument_errors(tmp_path: Path) -> None:
    t = _write_mmin(tmp_path)
    with pytest.raises(ValueError, match="fold as an int >= 1"):
        MMINFeatures(t["feat_root"], t["tgt_root"], fold=0, split="trn")
    with pytest.raises(ValueError, match="split"):
        MMINFeatures(t["feat_root"], t["tgt_root"], fold=1, split="dev")
    with pytest.raises(FileNotFoundError, match=r"2.trn_label\.npy"):
        MMINFeatures(t["feat_root"], t["tgt_root"], fold=2, split="trn")


def _set_labels(t: dict[str, Any], split: str, labels: Any) -> None:
    np.save(t["tgt_root"] / "1" / f"{split}_label.npy", np.asarray(labels))


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        ([0.5, 1.5, 3.5], r"integer class indices in .*trn_label\.npy, got 0\.5 in row 0"),
        ([0, -1, 2], r"indices >= 0 in .*trn_label\.npy, got -1 in row 1"),
        ([[1, 0, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0]], r"trn_label\.npy .*row 1 .*all-zero"),
        ([[1, 0, 0, 0], [0, 1, 1, 0], [0, 1, 0, 0]], r"trn_label\.npy .*row 1 .*multi-hot"),
        ([0, 1, float("nan")], r"NaN / Inf label in row 2"),
        (np.eye(4)[[0, 1]], r"trn_label\.npy with one row per id .*N = 3.*got shape \(2, 4\)"),
        (np.eye(4)[[0, 1, 2]].T, r"transposed"),
        (np.zeros((3, 2, 2)), r"trn_label\.npy as \(N, C\) one-hot"),
    ],
)
def test_mmin_label_validation_names_file_and_row(tmp_path: Path, labels: Any, match: str) -> None:
    t = _write_mmin(tmp_path)
    _set_labels(t, "trn", labels)
    with pytest.raises(ValueError, match=match):
        MMINFeatures(t["feat_root"], t["tgt_root"], fold=1, split="trn")


def test_mmin_id_file_shape_and_duplicates(tmp_path: Path) -> None:
    t = _write_mmin(tmp_path)
    ids = t["ids"]["trn"]
    np.save(t["tgt_root"] / "1" / "trn_int2name.npy", np.array([ids, ids]).T)  # (N, 2)
    with pytest.raises(ValueError, match=r"trn_int2name\.npy as \(N, 1\) or \(N,\) ids"):
        MMINFeatures(t["feat_root"], t["tgt_root"], fold=1, split="trn")
    np.save(t["tgt_root"] / "1" / "trn_int2name.npy", np.array([ids[0], ids[0], ids[1]]))
    with pytest.raises(ValueError, match=r"occurs twice in .*trn_int2name\.npy"):
        MMINFeatures(t["feat_root"], t["tgt_root"], fold=1, split="trn")


def test_mmin_unseen_classes_and_nonfinite_features(tmp_path: Path) -> None:
    t = _write_mmin(tmp_path, msp=True)
    _set_labels(t, "trn", [0, 1, 1])
    _set_labels(t, "val", [1, 0])
    _set_labels(t, "tst", [0, 3])
    with pytest.raises(ValueError, match=r"classes \[3\] of tst_label\.npy .*never occur"):
        MMINFeatures.load_fold(t["feat_root"], t["tgt_root"], fold=1)
    _set_labels(t, "tst", [0, 1])
    _set_labels(t, "val", [2, 1])
    with pytest.raises(ValueError, match=r"classes \[2\] of val_label\.npy .*never occur"):
        MMINFeatures.load_fold(t["feat_root"], t["tgt_root"], fold=1)
    _set_labels(t, "val", [1, 1])
    splits = MMINFeatures.load_fold(t["feat_root"], t["tgt_root"], fold=1)
    assert {s.num_classes for s in splits.values()} == {2}
    uid = t["ids"]["trn"][2]
    with h5py.File(t["feat_root"] / "L" / "bert_large.h5", "a") as f:
        bad = f[uid][()]
        bad[0, 0] = np.inf
        _replace(f, uid, bad)
    ds = MMINFeatures(t["feat_root"], t["tgt_root"], fold=1, split="trn")
    ds[0]
    with pytest.raises(ValueError, match=r"bert_large\.h5\['Ses01F_impro02_F002'\] has NaN / Inf"):
        ds[2]
    nan_t = _write_mmin(tmp_path / "nan", msp=True)  # a fresh copy: ds holds the file open
    with h5py.File(nan_t["feat_root"] / "L" / "bert_large.h5", "a") as f:
        bad = f[uid][()]
        bad[-1, -1] = np.nan
        _replace(f, uid, bad)
    nan_ds = MMINFeatures(nan_t["feat_root"], nan_t["tgt_root"], fold=1, split="trn")
    assert np.isfinite(nan_ds[0]["text"].numpy()).all()
    with pytest.raises(ValueError, match=r"bert_large\.h5\['Ses01F_impro02_F002'\] has NaN / Inf"):
        nan_ds[2]


def test_mmin_reads_only_the_modalities_that_exist(tmp_path: Path) -> None:
    t = _write_mmin(tmp_path)
    for d in ("V", "L"):  # an audio-only corpus in the upstream layout: no invented files
        for f in (t["feat_root"] / d).iterdir():
            f.unlink()
        (t["feat_root"] / d).rmdir()
    ds = MMINFeatures(t["feat_root"], t["tgt_root"], fold=1, split="trn", a_type="comparE")
    assert ds.modalities == ("audio",) and set(ds[0]) == {"audio", "label", "id"}
    with pytest.raises(FileNotFoundError, match=r"V.* does not exist"):
        MMINFeatures(t["feat_root"], t["tgt_root"], fold=1, split="trn", v_type="denseface")
    with pytest.raises(FileNotFoundError, match=r"IS10\.h5; .*\['comparE', 'comparE_mean_std'\]"):
        MMINFeatures(t["feat_root"], t["tgt_root"], fold=1, split="trn", a_type="IS10")


def test_corpus_json_sets_modalities_files_norm_and_classes(tmp_path: Path) -> None:
    t = _write_mmin(tmp_path, msp=True)
    feat = t["feat_root"]
    (feat / "L" / "bert_large.h5").rename(feat / "L" / "glove.h5")
    cfg = {
        "modalities": {
            "text": {"dir": "L", "file": "glove", "norm": "utt"},
            "audio": {"file": "comparE"},
        },
        "classes": ["neu", "hap", "ang", "sad"],
        "folds": 1,
        "targets": "../tgt",
    }
    (feat / "corpus.json").write_text(__import__("json").dumps(cfg))
    ds = MMINFeatures(feat, fold=1, split="val")  # the target root comes from corpus.json
    assert ds.modalities == ("text", "audio") and ds.classes == tuple(cfg["classes"])
    assert ds.num_classes == 4 and ds.specs["audio"].norm == "trn"
    raw = t["feat"][("L", t["ids"]["val"][0])]
    np.testing.assert_allclose(ds[0]["text"].numpy(), (raw - raw.mean(0)) / raw.std(0), rtol=1e-5)
    raw_ds = MMINFeatures(feat, fold=1, split="val", norm={"text": None}, modalities=["text"])
    assert torch.equal(raw_ds[0]["text"], torch.from_numpy(raw)) and raw_ds.modalities == ("text",)
    with pytest.raises(ValueError, match=r"fold in 1\.\.1"):
        MMINFeatures(feat, fold=2, split="val")
    _set_labels(t, "val", [0, 4])
    with pytest.raises(ValueError, match=r"indices < 4 .* got 4 in row 1"):
        MMINFeatures(feat, fold=1, split="val")
    (feat / "corpus.json").write_text('{"modalities": {"audio": {"file": "x", "norm": "z"}}}')
    with pytest.raises(ValueError, match=r"corpus\.json.*norm in 'trn', 'utt', null"):
        MMINFeatures(feat, t["tgt_root"], fold=1, split="val")
    assert CorpusConfig.from_dict(cfg).to_dict()["modalities"]["audio"]["dir"] == "A"


def _raw_corpus(root: Path, *, speakers: int = 4, per: int = 3) -> tuple[dict[str, Path], Path]:
    rng = np.random.default_rng(1)
    audio, text = root / "raw" / "mfcc", root / "raw" / "sbert"
    audio.mkdir(parents=True)
    text.mkdir(parents=True)
    rows = ["utt,emotion,spk"]
    for s in range(speakers):
        for k in range(per):
            uid = f"s{s}_u{k}"
            rows.append(f"{uid},{['calm', 'angry'][k % 2]},spk{s}")
            np.save(audio / f"{uid}.npy", rng.normal(size=(int(rng.integers(2, 5)), 3)))
            lines = ["name;frameTime;f0;f1"] + [
                f"'{uid}';{i / 100};{rng.normal()};1.0" for i in range(2)
            ]
            (text / f"{uid}.csv").write_text("\n".join(lines) + "\n")
    labels = root / "raw" / "labels.csv"
    labels.write_text("\n".join(rows) + "\n")
    return {"audio": audio, "text": text}, labels


def test_prepare_mmin_speaker_independent_folds_and_train_stats(tmp_path: Path) -> None:
    feats, labels = _raw_corpus(tmp_path)
    out = tmp_path / "corpus"
    cfg = prepare_mmin(
        feats, labels, out, folds=4, id_column="utt", label_column="emotion", speaker_column="spk"
    )
    assert cfg.classes == ("angry", "calm") and cfg.folds == 4
    assert (out / "A" / "mfcc.h5").is_file() and (out / "L" / "sbert.h5").is_file()
    for fold in range(1, 5):
        splits = MMINFeatures.load_fold(out, fold=fold)
        spk = {s: {i.split("_")[0] for i in ds.ids} for s, ds in splits.items()}
        assert spk["tst"] == {f"s{fold - 1}"} and spk["val"] == {f"s{fold % 4}"}
        assert not spk["trn"] & (spk["val"] | spk["tst"]) and len(spk["trn"]) == 2
        train = splits["trn"]
        frames = np.concatenate([np.load(feats["audio"] / f"{i}.npy") for i in train.ids])
        np.testing.assert_allclose(train.stats["audio"][0], frames.mean(0), rtol=1e-5)
        # the training frames are standardised by their own statistics
        got = np.concatenate([train[i]["audio"].numpy() for i in range(len(train))])
        np.testing.assert_allclose(got.mean(0), 0.0, atol=1e-5)
        assert splits["tst"][0]["text"].shape == (2, 2)
    with pytest.raises(ValueError, match=r"3 <= folds <= the number of speakers \(4"):
        prepare_mmin(
            feats,
            labels,
            out,
            folds=5,
            id_column="utt",
            label_column="emotion",
            speaker_column="spk",
        )
    with pytest.raises(ValueError, match=r"columns \['id', 'label', 'speaker'\]"):
        prepare_mmin(feats, labels, out)
    cols = {"id_column": "utt", "label_column": "emotion", "speaker_column": "spk"}
    with pytest.raises(ValueError, match=r"norm names \['audoi'\], which are not modalities"):
        prepare_mmin(feats, labels, out, norm={"audoi": "utt"}, **cols)
    # a modality the per-modality norm leaves out gets the default, trn
    fresh = tmp_path / "per_modality"
    cfg = prepare_mmin(feats, labels, fresh, norm={"text": "utt"}, **cols)
    assert cfg.modalities["audio"].norm == "trn" and cfg.modalities["text"].norm == "utt"
    assert (fresh / "A" / "mfcc_mean_std.h5").is_file()
    assert not (fresh / "L" / "sbert_mean_std.h5").exists()
    (feats["audio"] / "s1_u2.npy").unlink()
    with pytest.raises(FileNotFoundError, match=r"s1_u2\.npy or s1_u2\.csv"):
        prepare_mmin(
            feats, labels, out, id_column="utt", label_column="emotion", speaker_column="spk"
        )


def test_prepare_mmin_float_labels_need_explicit_classes(tmp_path: Path) -> None:
    feats, labels = _raw_corpus(tmp_path)
    cols = {"id_column": "utt", "label_column": "emotion", "speaker_column": "spk"}
    text = labels.read_text().replace(",calm,", ",0.5,").replace(",angry,", ",1.5,")
    labels.write_text(text)
    out = tmp_path / "corpus"
    with pytest.raises(ValueError, match=r"numbers such as \['0\.5', '1\.5'\].*\(--classes\)"):
        prepare_mmin(feats, labels, out, **cols)
    cfg = prepare_mmin(feats, labels, out, classes=["1.5", "0.5"], **cols)
    assert cfg.classes == ("1.5", "0.5")


# -- MMSA pkl layout ---------------------------------------------------------------------------


def _mmsa_split(n: int, rng: np.random.Generator, *, aligned: bool) -> dict[str, Any]:
    t_a, t_v, t_l = (5, 5, 5) if aligned else (6, 4, 5)
    audio = rng.normal(size=(n, t_a, 3)).astype(np.float32)
    audio[0, 0, 0] = -np.inf  # COVAREP's log of silence
    mask = np.zeros((n, t_l))
    text_len = [5, 2, 3][:n]
    for i, k in enumerate(text_len):
        mask[i, :k] = 1
    part: dict[str, Any] = {
        "id": np.array([f"vid{i}$_$clip{i}" for i in range(n)]),
        "raw_text": np.array([f"sentence {i}" for i in range(n)]),
        "audio": audio,
        "vision": rng.normal(size=(n, t_v, 2)).astype(np.float32),
        "text": rng.normal(size=(n, t_l, 4)).astype(np.float32),
        "text_bert": np.stack([rng.integers(100, 200, size=(n, t_l)), mask, np.zeros((n, t_l))], 1),
        "regression_labels": rng.uniform(-3, 3, size=n).astype(np.float32),
        "classification_labels": np.array([0.0, 2.0, 1.0][:n]),
        "annotations": np.array(["Negative", "Positive", "Neutral"][:n]),
    }
    if not aligned:
        part["audio_lengths"] = [6, 3, 0][:n]
        part["vision_lengths"] = np.array([4, 1, 2][:n])
    return part


def _write_mmsa(path: Path, *, aligned: bool = False, as_torch: bool = False) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    data = {
        s: _mmsa_split(n, rng, aligned=aligned)
        for s, n in (("train", 3), ("valid", 2), ("test", 2))
    }
    if as_torch:
        for part in data.values():
            for k in ("audio", "vision", "text", "text_bert"):
                part[k] = torch.from_numpy(part[k])
    with path.open("wb") as f:
        pickle.dump(data, f)
    return data


def test_mmsa_reads_unaligned_layout(tmp_path: Path) -> None:
    path = tmp_path / "unaligned_50.pkl"
    data = _write_mmsa(path)
    ds = MMSAPickle(path, split="train")
    part = data["train"]
    assert len(ds) == 3
    first = ds[0]
    assert first["audio"].shape == (6, 3) and float(first["audio"][0, 0]) == 0.0  # -inf -> 0
    np.testing.assert_array_equal(first["audio"][1:].numpy(), part["audio"][0, 1:])
    assert first["visual"].shape == (4, 2) and first["text"].shape == (5, 4)
    assert ds[1]["audio"].shape == (3, 3) and ds[1]["visual"].shape == (1, 2)
    assert ds[1]["text"].shape == (2, 4)  # attention-mask length
    np.testing.assert_array_equal(ds[1]["text"].numpy(), part["text"][1, :2])
    assert ds[2]["audio"].shape == (1, 3)  # 0 valid frames -> one frame
    assert first["label"].dtype == torch.int64 and [int(ds[i]["label"]) for i in range(3)] == [
        0,
        2,
        1,
    ]
    assert first["id"] == "vid0$_$clip0" and first["raw_text"] == "sentence 0"
    reg = MMSAPickle(path, split="val", label="regression")
    assert reg[1]["label"].dtype == torch.float32
    assert float(reg[1]["label"]) == pytest.approx(float(data["valid"]["regression_labels"][1]))
    ids = MMSAPickle(path, split="test", text="bert_ids")
    assert ids[1]["text"].dtype == torch.int64 and ids[1]["text"].shape == (2,)
    assert ids[1]["text"].tolist() == data["test"]["text_bert"][1, 0, :2].astype(int).tolist()
    batch = pad_collate([ds[i] for i in range(3)])
    assert batch["lengths"]["audio"].tolist() == [6, 3, 1]
    assert batch["lengths"]["text"].tolist() == [5, 2, 3]


def test_mmsa_aligned_torch_and_load_all(tmp_path: Path) -> None:
    path = tmp_path / "aligned_50.pkl"
    _write_mmsa(path, aligned=True, as_torch=True)
    splits = MMSAPickle.load_all(path, label="regression")
    assert sorted(splits) == ["test", "train", "valid"]
    item = splits["train"][1]
    # word-aligned: audio / vision follow the text length (2 valid tokens)
    assert item["audio"].shape == (2, 3) and item["visual"].shape == (2, 2)
    assert item["text"].shape == (2, 4)


@pytest.mark.parametrize(
    ("damage", "err", "match"),
    [
        (lambda d: d["train"].pop("vision"), KeyError, r"key 'vision' in .*x\.pkl\['train'\]"),
        (lambda d: d["train"].pop("classification_labels"), KeyError, "use label='regression'"),
        (lambda d: d.pop("train"), KeyError, r"split 'train' is not in .*x\.pkl"),
        (
            lambda d: d["train"].update(audio=np.zeros((4, 6, 3))),
            ValueError,
            r"x\.pkl\['train'\]\['audio'\] as a numeric \(N=3, T, D\)",
        ),
        (lambda d: d["train"].update(text=np.zeros((3, 5))), ValueError, r"\['text'\]"),
        (
            lambda d: d["train"].update(audio_lengths=[6, 7, 1]),
            ValueError,
            r"0 <= .*\['audio_lengths'\] <= 6",
        ),
        (
            lambda d: d["train"].update(classification_labels=np.array([0.5, 1, 2])),
            ValueError,
            "class indices",
        ),
        (lambda d: d["train"].update(text_bert=np.zeros((3, 2, 5))), ValueError, "text_bert"),
    ],
)
def test_mmsa_errors_name_file_split_and_key(
    tmp_path: Path, damage: Any, err: type[Exception], match: str
) -> None:
    rng = np.random.default_rng(0)
    data = {"train": _mmsa_split(3, rng, aligned=False)}
    damage(data)
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps(data))
    with pytest.raises(err, match=match):
        MMSAPickle(path, split="train")


def test_mmsa_file_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.pkl"):
        MMSAPickle(tmp_path / "missing.pkl")
    bad = tmp_path / "bad.pkl"
    _corrupt(bad)
    with pytest.raises(ValueError, match=r"cannot unpickle .*bad\.pkl"):
        MMSAPickle(bad)
    (tmp_path / "list.pkl").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(ValueError, match="to hold a dict"):
        MMSAPickle(tmp_path / "list.pkl")
    with pytest.raises(ValueError, match="label"):
        MMSAPickle(bad, label="ordinal")  # type: ignore[arg-type]


class _WritesAFile:
    """A pickle whose reducer would create a file on load (what a crafted feature file does)."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.write_text, (self.target, "pwned"))


def test_mmsa_refuses_a_pickle_that_runs_code(tmp_path: Path) -> None:
    target = tmp_path / "written_by_the_pickle.txt"
    path = tmp_path / "crafted.pkl"
    rng = np.random.default_rng(0)
    path.write_bytes(
        pickle.dumps({"train": _mmsa_split(3, rng, aligned=False), "x": _WritesAFile(target)})
    )
    with pytest.raises(
        ValueError, match=r"refused the global pathlib\.(_local\.)?Path\.write_text"
    ):
        MMSAPickle(path, split="train")
    assert not target.exists()
    # the same payload through os.system-like builtins is refused by name too
    path.write_bytes(pickle.dumps({"train": {"id": eval}}))
    with pytest.raises(ValueError, match=r"refused the global builtins\.eval"):
        MMSAPickle.load_all(path)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_mmsa_restricted_loader_reads_real_layouts(tmp_path: Path, protocol: int) -> None:
    rng = np.random.default_rng(1)
    data = {
        s: _mmsa_split(n, rng, aligned=False) for s, n in (("train", 3), ("valid", 2), ("test", 2))
    }
    data["train"]["extra"] = [np.float32(1.5), np.int64(2), "s", b"b", {1, 2}, (1.0, 2j)]
    data["train"]["vision"] = torch.from_numpy(data["train"]["vision"])  # tensors load too
    path = tmp_path / f"p{protocol}.pkl"
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    ds = MMSAPickle(path, split="train")
    np.testing.assert_array_equal(ds.vision, data["train"]["vision"].numpy())
    assert ds.ids == [f"vid{i}$_$clip{i}" for i in range(3)]
