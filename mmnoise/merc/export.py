"""Write a frozen corrupted test set to disk in the corpus's own layout (MMIN h5, MMSA pkl).

So that people outside PyTorch evaluate on the same files: one folder per cell
``<out>/<family>/s<severity>/`` (``clean/s0`` for the clean set), in the layout the corpus
came in. The features are written as the benchmark sees them (after the loader's
normalisation), so read them back without normalising (``MMINFeatures(..., norm=None)``).
Missing-modality conditions are deterministic (the listed modalities are zeros) and need no
files. The two missing protocols are exported as what they draw: ``missing_rate/eta_<eta>.csv``
(one presence table per eta: ``id`` then one 0/1 flag per modality, 1 = present; a missing
modality is zeros, the rest is ``clean/s0``) and ``nmer_fill/s<severity>/`` (every modality of
every item replaced by its noised copy, in the corpus layout: under a condition, a missing
modality is taken from here and a present one from ``clean/s0``).

Raw modalities (waveform, frames, tokens) and any other modality names go out in the
``"torch"`` layout: ``<cell>/items.pt``, the list of item dicts, read back with
``torch.load(path, weights_only=True)``. Every export ends with ``<out>/manifest.json``: the
suite (name, SHA-256), the data hash, the software versions, and the SHA-256 of every file
written, so a copy can be checked (:func:`verify_manifest`).
"""

from __future__ import annotations

import csv
import hashlib
import json
import pickle
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmnoise.extras import import_extra
from mmnoise.merc.corrupt import corrupt_items, missing_rate_item, nmer_noised_items
from mmnoise.merc.runner import data_hash, software
from mmnoise.merc.suite import Suite
from mmnoise.sample import Kind, Sample

__all__ = [
    "LAYOUTS",
    "export_mmin_h5",
    "export_mmsa_pkl",
    "export_presence",
    "export_suite",
    "export_torch",
    "verify_manifest",
]

#: the on-disk layouts of an export
LAYOUTS = ("mmin-h5", "mmsa-pkl", "torch")
MANIFEST_FORMAT = "mmnoise.merc.export/1"

_MMIN_FILES = {"audio": ("A", "comparE"), "visual": ("V", "denseface"), "text": ("L", "bert_large")}


def export_mmin_h5(
    items: Sequence[Sample], out: str | Path, *, fold: int = 1, num_classes: int | None = None
) -> Path:
    """Write items in the MMIN layout: ``feature/{A,V,L}/<stem>.h5`` + ``target/<fold>/tst_*.npy``.

    Args:
        items: unbatched items with ``audio`` / ``visual`` / ``text`` features, label and id.
        out: the cell folder.
        fold: the fold folder name of the targets.
        num_classes: the one-hot width of ``tst_label.npy`` (default: max label + 1).

    Returns:
        ``out``.

    Example:
        >>> import tempfile, pathlib, torch
        >>> items = [{"audio": torch.ones(3, 2), "visual": torch.ones(2, 2),
        ...           "text": torch.ones(4, 3), "label": torch.tensor(1), "id": "u1"}]
        >>> with tempfile.TemporaryDirectory() as d:
        ...     root = export_mmin_h5(items, pathlib.Path(d))
        ...     sorted(p.name for p in (root / "feature").iterdir())
        ['A', 'L', 'V']
    """
    h5py = import_extra("h5py", who="export_mmin_h5: writing the MMIN h5 layout", extra="data",
                        instead="export --layout mmsa-pkl")  # fmt: skip

    root = Path(out)
    ids = [str(it["id"]) for it in items]
    for m, (d, stem) in _MMIN_FILES.items():
        (root / "feature" / d).mkdir(parents=True, exist_ok=True)
        with h5py.File(root / "feature" / d / f"{stem}.h5", "w") as f:
            for uid, it in zip(ids, items, strict=True):
                f[uid] = it[m].detach().cpu().numpy()
    labels = np.array([int(it["label"]) for it in items])
    c = int(labels.max()) + 1 if num_classes is None else num_classes
    tgt = root / "target" / str(fold)
    tgt.mkdir(parents=True, exist_ok=True)
    np.save(tgt / "tst_label.npy", np.eye(c, dtype=np.float32)[labels])
    np.save(tgt / "tst_int2name.npy", np.array([[uid.encode()] for uid in ids]))
    return root


def _pad(arrs: Sequence[np.ndarray[Any, Any]]) -> np.ndarray[Any, Any]:
    t = max(a.shape[0] for a in arrs)
    out = np.zeros((len(arrs), t, arrs[0].shape[1]), dtype=np.float32)
    for i, a in enumerate(arrs):
        out[i, : a.shape[0]] = a
    return out


def export_mmsa_pkl(items: Sequence[Sample], out: str | Path) -> Path:
    """Write items as an MMSA ``test`` split in ``<out>/data.pkl`` (padded, with lengths).

    Text lengths travel in a ``text_bert`` attention mask, so
    :class:`mmnoise.datasets.MMSAPickle` cuts every sequence back to its length. Items whose
    ``text`` is BERT token ids ((T,) int64, ``MMSAPickle(text="bert_ids")``) are written as
    MMSA stores them: ``text_bert`` row 0 the ids, row 1 the attention mask, row 2 the segment
    ids (zeros), and ``text`` as zeros of width 1 (the file has no word vectors to give);
    feature text goes to ``text`` with a mask-only ``text_bert``. ``raw_text`` is kept when
    the items carry it.

    Returns:
        The ``.pkl`` path.

    Example:
        >>> import tempfile, pathlib, torch
        >>> items = [{"audio": torch.ones(3, 2), "visual": torch.ones(2, 2),
        ...           "text": torch.ones(4, 3), "label": torch.tensor(1), "id": "u1"}]
        >>> with tempfile.TemporaryDirectory() as d:
        ...     export_mmsa_pkl(items, pathlib.Path(d)).name
        'data.pkl'
    """
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    arrs = {m: [it[m].detach().cpu().numpy() for it in items] for m in ("audio", "visual", "text")}
    ids = all(a.ndim == 1 and not np.issubdtype(a.dtype, np.floating) for a in arrs["text"])
    if ids:
        t = max(a.shape[0] for a in arrs["text"])
        text = np.zeros((len(items), t, 1), dtype=np.float32)
    else:
        text = _pad(arrs["text"])
    bert = np.zeros((len(items), 3, text.shape[1]), dtype=np.float32)
    for i, a in enumerate(arrs["text"]):
        bert[i, 1, : a.shape[0]] = 1.0
        if ids:
            bert[i, 0, : a.shape[0]] = a
    label = items[0]["label"]
    key = "classification_labels" if not label.is_floating_point() else "regression_labels"
    part = {
        "id": np.array([str(it["id"]) for it in items]),
        "audio": _pad(arrs["audio"]),
        "vision": _pad(arrs["visual"]),
        "text": text,
        "text_bert": bert,
        "audio_lengths": np.array([a.shape[0] for a in arrs["audio"]]),
        "vision_lengths": np.array([a.shape[0] for a in arrs["visual"]]),
        key: np.array([float(it["label"]) for it in items]),
    }
    if all("raw_text" in it for it in items):
        part["raw_text"] = np.array([str(it["raw_text"]) for it in items])
    path = root / "data.pkl"
    path.write_bytes(pickle.dumps({"test": part}))
    return path


def export_presence(
    items: Sequence[Sample],
    suite: Suite,
    out: str | Path,
    *,
    modalities: Sequence[str],
    id_key: str = "id",
) -> list[Path]:
    """Write the missing-rate protocol's presence table per eta: ``<out>/eta_<eta>.csv``.

    Each CSV has the header ``id,<modality>,...`` and one row per item with a 0/1 flag per
    modality (1 = present), exactly the presence :func:`mmnoise.merc.missing_rate_item` gives
    (the runner's ``missing_rate`` cells): a missing modality is zero-filled.

    Args:
        items: the clean unbatched test items.
        suite: the suite (its eta grid).
        out: the folder (``<root>/missing_rate``).
        modalities: the modalities, in the corpus's order (the draw depends on it).
        id_key: the key of the items' ids.

    Returns:
        The CSV paths, in eta order.

    Example:
        >>> import tempfile, torch
        >>> from mmnoise.merc.suite import load_suite
        >>> items = [{"a": torch.ones(2, 1), "v": torch.ones(2, 1), "id": "u1"}]
        >>> with tempfile.TemporaryDirectory() as d:
        ...     paths = export_presence(items, load_suite(), d, modalities=["a", "v"])
        ...     paths[0].name, paths[0].read_text().splitlines()
        ('eta_0.0.csv', ['id,a,v', 'u1,1,1'])
    """
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for eta in suite.missing_rate:
        path = root / f"eta_{eta!r}.csv"
        with path.open("w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["id", *modalities])
            for it in items:
                present = missing_rate_item(it, suite, eta, modalities, id_key=id_key)["present"]
                w.writerow([str(it[id_key]), *(int(bool(present[m])) for m in modalities)])
        paths.append(path)
    return paths


def export_torch(items: Sequence[Sample], out: str | Path) -> Path:
    """Write items as ``<out>/items.pt`` (any modality kind: waveform, frames, tokens, features).

    Returns:
        The ``.pt`` path; ``torch.load(path, weights_only=True)`` gives the item dicts back.

    Example:
        >>> import tempfile, pathlib
        >>> items = [{"wave": torch.ones(1, 8), "label": torch.tensor(0), "id": "u1"}]
        >>> with tempfile.TemporaryDirectory() as d:
        ...     back = torch.load(export_torch(items, pathlib.Path(d)), weights_only=True)
        ...     back[0]["id"], back[0]["wave"].shape
        ('u1', torch.Size([1, 8]))
    """
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    path = root / "items.pt"
    torch.save([dict(it) for it in items], path)
    return path


def _write(data: Sequence[Sample], folder: Path, layout: str) -> None:
    if layout == "mmin-h5":
        export_mmin_h5(data, folder)
    elif layout == "mmsa-pkl":
        export_mmsa_pkl(data, folder)
    else:
        export_torch(data, folder)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_manifest(
    root: Path, suite: Suite, items: Sequence[Sample], kinds: Mapping[str, Kind], layout: str
) -> Path:
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != "manifest.json")
    manifest = {
        "format": MANIFEST_FORMAT,
        "suite": suite.name,
        "suite_sha256": suite.sha256,
        "layout": layout,
        "modalities": dict(kinds),
        "data": {"num_items": len(items), "sha256": data_hash(items, list(kinds))},
        "software": software(),
        "files": {p.relative_to(root).as_posix(): _sha256(p) for p in files},
    }
    path = root / "manifest.json"
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    return path


def verify_manifest(root: str | Path) -> list[str]:
    """Check an export against its ``manifest.json``; return the files that differ or are gone.

    Example:
        >>> import tempfile
        >>> from mmnoise.merc.suite import load_suite
        >>> items = [{"a": torch.ones(3, 2), "label": torch.tensor(1), "id": "u1"}]
        >>> with tempfile.TemporaryDirectory() as d:
        ...     _ = export_suite(items, load_suite(), d, kinds={"a": "features"},
        ...                      layout="torch", families=["impulse"], severities=[1])
        ...     verify_manifest(d)
        []
    """
    base = Path(root)
    manifest = json.loads((base / "manifest.json").read_text())
    return [
        rel
        for rel, digest in manifest["files"].items()
        if not (base / rel).is_file() or _sha256(base / rel) != digest
    ]


def export_suite(
    items: Sequence[Sample],
    suite: Suite,
    out: str | Path,
    *,
    kinds: Mapping[str, Kind],
    layout: str = "mmin-h5",
    families: Iterable[str] | None = None,
    severities: Iterable[int] = (1, 2, 3, 4, 5),
) -> list[Path]:
    """Export the clean set and every (family, severity) cell; return the cell folders.

    Args:
        items: the clean unbatched test items.
        suite: the suite.
        out: the root folder.
        kinds: {modality: kind}, in the corpus's order.
        layout: ``"mmin-h5"``, ``"mmsa-pkl"`` (audio / visual / text features) or
            ``"torch"`` (any modalities, raw ones included).
        families: family names, and ``"missing_rate"`` (presence tables, every eta:
            :func:`export_presence`) / ``"nmer_fill"`` (``nmer_fill/s<severity>``, the noised
            copies) (default: every family of the items' kinds and both protocols).
        severities: which severities (of the families and of ``nmer_fill``).

    Returns:
        The cell folders (``clean/s0`` first) and the presence tables, in order; the
        manifest (``<out>/manifest.json``, SHA-256 of every file) is written last.

    Raises:
        ValueError: an unknown layout or family name, or a family of a kind the items lack.

    Example:
        >>> from mmnoise.merc.suite import load_suite
        >>> import tempfile, pathlib, torch
        >>> items = [{"audio": torch.ones(3, 2), "visual": torch.ones(2, 2),
        ...           "text": torch.ones(4, 3), "label": torch.tensor(1), "id": "u1"}]
        >>> kinds = {m: "features" for m in ("audio", "visual", "text")}
        >>> with tempfile.TemporaryDirectory() as d:
        ...     cells = export_suite(items, load_suite(), d, kinds=kinds, families=["impulse"],
        ...                          severities=[5])
        ...     [c.relative_to(d).as_posix() for c in cells]
        ['clean/s0', 'impulse/s5']
    """
    if layout not in LAYOUTS:
        raise ValueError(f"export_suite: expected layout in {LAYOUTS}, got {layout!r}.")
    text_ok = ("features", "tokens") if layout == "mmsa-pkl" else ("features",)
    fits = set(kinds) == {"audio", "visual", "text"} and kinds.get("text") in text_ok
    if layout != "torch" and not (fits and kinds["audio"] == kinds["visual"] == "features"):
        raise ValueError(
            f"export_suite: the {layout} layout holds audio / visual / text features, got "
            f"{dict(kinds)}; use layout='torch' (--layout torch) for raw or other modalities."
        )
    names = suite.select(families, kinds, who="export_suite")
    sevs = list(severities)
    if any(not 1 <= int(v) <= 5 for v in sevs):
        raise ValueError(
            f"export_suite: expected severities in 1..5 (the clean set is always clean/s0), "
            f"got {sevs}."
        )
    root = Path(out)
    folders = [root / "clean" / "s0"]
    _write(list(items), folders[0], layout)
    for name in names:
        if name == "missing_rate":
            folders += export_presence(items, suite, root / name, modalities=list(kinds))
            continue
        for sev in sevs:
            if name == "nmer_fill":
                data = nmer_noised_items(items, suite, sev, list(kinds), kinds=kinds)
            else:
                data = corrupt_items(items, suite, name, sev, kinds=kinds)
            folder = root / name / f"s{sev}"
            _write(data, folder, layout)
            folders.append(folder)
    _write_manifest(root, suite, items, kinds, layout)
    return folders
