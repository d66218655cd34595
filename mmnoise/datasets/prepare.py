"""Turn per-utterance feature files and a label CSV into the MMIN layout (:func:`prepare_mmin`).

Input::

    {features[modality]}/{id}.npy   # (frames, dim) or (dim,) per utterance, or
    {features[modality]}/{id}.csv   # openSMILE CSV (LLDs: one row per frame; functionals: one row)
    labels.csv                      # columns id, label, speaker (names configurable)

Output (read back by :class:`~mmnoise.datasets.MMINFeatures` with only ``root_features``)::

    {out}/corpus.json                          # modalities, classes, folds, targets
    {out}/{A|V|L|name}/{file}.h5               # one (frames, dim) dataset per utterance id
    {out}/{A|V|L|name}/{file}_mean_std.h5      # per fold: mean / std of its *training* frames
    {out}/targets/{fold}/{trn|val|tst}_label.npy     # (N,) int64 class indices
    {out}/targets/{fold}/{trn|val|tst}_int2name.npy  # (N,) utterance ids

Folds are speaker-independent: the speakers (sorted) are dealt round-robin into ``folds``
groups; fold k tests on group k, validates on group k + 1 (cyclically) and trains on the rest,
so no speaker is in two splits of a fold. Normalisation statistics come from the training
split of each fold only.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmnoise.datasets.corpus import CORPUS_FILE, UPSTREAM, CorpusConfig, ModalitySpec, Norm
from mmnoise.datasets.iemocap import _import_h5py

__all__ = ["prepare_mmin", "read_feature_file"]

# openSMILE bookkeeping columns (SMILExtract CSV sink and the opensmile Python package)
_META_COLUMNS = {"name", "frametime", "frameindex", "file", "start", "end", "class"}


def read_feature_file(path: str | os.PathLike[str]) -> np.ndarray[Any, Any]:
    """Read one utterance's features: ``.npy`` (frames, dim) / (dim,) or an openSMILE ``.csv``.

    CSV files may use ``;`` (SMILExtract) or ``,`` (pandas); a header row is required; the
    openSMILE bookkeeping columns (``name``, ``frameTime``, ``file``, ``start``, ``end``, ...)
    are dropped, every other column must be numeric.

    Returns:
        (frames, dim) float32.

    Example:
        >>> import pathlib, tempfile
        >>> tmp = tempfile.TemporaryDirectory()
        >>> p = pathlib.Path(tmp.name) / "u1.csv"
        >>> _ = p.write_text("name;frameTime;F0;loudness\\n'u1';0.00;110.5;0.3\\n'u1';0.01;112.0;0.4\\n")
        >>> read_feature_file(p).tolist()
        [[110.5, 0.30000001192092896], [112.0, 0.4000000059604645]]
        >>> tmp.cleanup()
    """
    who = "read_feature_file"
    p = Path(path)
    if p.suffix == ".npy":
        try:
            arr = np.load(p, allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise ValueError(f"{who}: cannot read {p} as a .npy array ({err}).") from err
    elif p.suffix == ".csv":
        arr = _read_csv(p, who)
    else:
        raise ValueError(f"{who}: expected a .npy or .csv file, got {p}.")
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{who}: expected numbers in {p}, got dtype {arr.dtype}.")
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(
            f"{who}: expected {p} as (frames >= 1, dim >= 1) or (dim,), got shape {arr.shape}."
        )
    out: np.ndarray[Any, Any] = arr.astype(np.float32)
    if not np.isfinite(out).all():
        raise ValueError(f"{who}: {p} has NaN / Inf values; re-extract this utterance.")
    return out


def _read_csv(p: Path, who: str) -> np.ndarray[Any, Any]:
    text = p.read_text()
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    rows = [r for r in csv.reader(text.splitlines(), delimiter=delimiter) if r]
    if len(rows) < 2:
        raise ValueError(f"{who}: expected a header row and at least one data row in {p}.")
    header, data = rows[0], rows[1:]
    keep = [i for i, h in enumerate(header) if h.strip().strip("'\"").lower() not in _META_COLUMNS]
    if not keep:
        raise ValueError(f"{who}: {p} has no feature columns (header {header}).")
    try:
        return np.array([[float(r[i]) for i in keep] for r in data], dtype=np.float64)
    except (ValueError, IndexError) as err:
        raise ValueError(
            f"{who}: expected numeric feature columns in {p} (after dropping {sorted(_META_COLUMNS)}"
            f"), got {err}."
        ) from err


def _read_labels(
    path: Path, id_column: str, label_column: str, speaker_column: str
) -> tuple[list[str], list[str], list[str]]:
    who = "prepare_mmin"
    if not path.is_file():
        raise FileNotFoundError(f"{who}: expected the label CSV {path}.")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        columns = reader.fieldnames or []
        missing = [c for c in (id_column, label_column, speaker_column) if c not in columns]
        if missing:
            raise ValueError(
                f"{who}: expected the columns {missing} in {path}, found {columns}; name them "
                "with id_column / label_column / speaker_column."
            )
        rows = list(reader)
    ids = [r[id_column].strip() for r in rows]
    if not ids:
        raise ValueError(f"{who}: {path} has no rows.")
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ValueError(f"{who}: the id {dup!r} occurs twice in {path}.")
    for i, r in enumerate(rows):
        if not r[label_column].strip() or not r[speaker_column].strip():
            raise ValueError(f"{who}: row {i + 2} of {path} ({ids[i]!r}) has no label or speaker.")
    return ids, [r[label_column].strip() for r in rows], [r[speaker_column].strip() for r in rows]


def _class_indices(
    labels: list[str], classes: Sequence[str] | None, path: Path
) -> tuple[np.ndarray[Any, Any], tuple[str, ...] | None]:
    who = "prepare_mmin"
    if classes is not None:
        classes = tuple(classes)
        unknown = sorted(set(labels) - set(classes))
        if unknown:
            raise ValueError(f"{who}: labels {unknown} in {path} are not in classes {classes}.")
        return np.array([classes.index(v) for v in labels], dtype=np.int64), classes
    if all(v.lstrip("-").isdigit() for v in labels):
        values = np.array([int(v) for v in labels], dtype=np.int64)
        if values.min() < 0:
            raise ValueError(
                f"{who}: expected class indices >= 0 in {path}, got {int(values.min())}; drop "
                "unlabelled utterances."
            )
        return values, None
    if all(_is_number(v) for v in labels):
        shown = sorted(set(labels), key=float)[:6]
        raise ValueError(
            f"{who}: expected class names or integer class indices in the label column of "
            f"{path}, got numbers such as {shown} (regression targets?); map them to classes "
            "first, or pass classes (--classes) to take these strings as class names."
        )
    names = tuple(sorted(set(labels)))
    return np.array([names.index(v) for v in labels], dtype=np.int64), names


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _fold_speakers(speakers: list[str], folds: int) -> list[list[str]]:
    unique = sorted(set(speakers))
    if folds < 3 or folds > len(unique):
        raise ValueError(
            f"prepare_mmin: expected 3 <= folds <= the number of speakers ({len(unique)}: "
            f"{unique[:12]}), got folds={folds}; speaker-independent train / val / test splits "
            "need a speaker group for each."
        )
    return [unique[k::folds] for k in range(folds)]


def prepare_mmin(
    features: Mapping[str, str | os.PathLike[str]],
    labels: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    folds: int | None = None,
    classes: Sequence[str] | None = None,
    norm: Norm | Mapping[str, Norm] = "trn",
    files: Mapping[str, str] | None = None,
    id_column: str = "id",
    label_column: str = "label",
    speaker_column: str = "speaker",
    name: str | None = None,
) -> CorpusConfig:
    """Write a corpus in the MMIN layout with speaker-independent folds (see the module doc).

    Args:
        features: {modality: folder with one ``{id}.npy`` or ``{id}.csv`` per utterance}; the
            upstream names ``audio`` / ``visual`` / ``text`` go to ``A`` / ``V`` / ``L``.
        labels: CSV with an id, a label (class name or index) and a speaker column.
        out: the output feature root (created; existing files are overwritten).
        folds: number of speaker-independent folds (3 .. number of speakers; default: the number
            of speakers, at most 10).
        classes: class names in index order (default: the sorted label names; integer labels
            stay as they are; non-integer numbers are an error unless given here as names).
        norm: the normalisation recorded in corpus.json, one mode for every modality or
            {modality: mode} (modalities it does not name get ``"trn"``, a name that is not a
            modality of ``features`` is an error); ``"trn"`` writes the per-fold training
            statistics.
        files: {modality: h5 stem} (default: the name of the modality's input folder).
        id_column: the CSV column of the utterance ids.
        label_column: the CSV column of the labels.
        speaker_column: the CSV column of the speaker ids (the folds group by it).
        name: the corpus name recorded in corpus.json.

    Returns:
        The :class:`~mmnoise.datasets.corpus.CorpusConfig` written to ``{out}/corpus.json``.

    Raises:
        FileNotFoundError: a label CSV or a feature file of a listed utterance is missing.
        ValueError: bad CSV columns, labels, feature files (NaN, shape, dims differ) or folds.

    Example:
        >>> import pathlib, tempfile, numpy as np
        >>> from mmnoise.datasets import MMINFeatures
        >>> tmp = pathlib.Path(tempfile.mkdtemp())
        >>> (tmp / "mfcc").mkdir()
        >>> rows = ["id,label,speaker"]
        >>> for i in range(6):
        ...     np.save(tmp / "mfcc" / f"u{i}.npy", np.full((2, 3), float(i)))
        ...     rows.append(f"u{i},{'sad' if i % 2 else 'calm'},spk{i // 2}")
        >>> _ = (tmp / "labels.csv").write_text("\\n".join(rows))
        >>> cfg = prepare_mmin({"audio": tmp / "mfcc"}, tmp / "labels.csv", tmp / "corpus")
        >>> cfg.folds, cfg.classes, cfg.modalities["audio"].path("").as_posix()
        (3, ('calm', 'sad'), 'A/mfcc.h5')
        >>> test = MMINFeatures(tmp / "corpus", fold=1, split="tst")  # speaker spk0
        >>> test.ids, test[0]["audio"].shape
        (['u0', 'u1'], torch.Size([2, 3]))
        >>> import shutil; shutil.rmtree(tmp)
    """
    who = "prepare_mmin"
    h5py = _import_h5py()
    if not features:
        raise ValueError(f"{who}: expected at least one modality in features, got none.")
    label_path = Path(labels)
    ids, raw_labels, speakers = _read_labels(label_path, id_column, label_column, speaker_column)
    y, class_names = _class_indices(raw_labels, classes, label_path)
    n_speakers = len(set(speakers))
    groups = _fold_speakers(speakers, folds if folds is not None else min(n_speakers, 10))
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    if isinstance(norm, Mapping):
        unknown = sorted(set(norm) - set(features))
        if unknown:
            raise ValueError(
                f"{who}: norm names {unknown}, which are not modalities of features "
                f"{list(features)}; fix the modality names."
            )
        # a modality the mapping does not name gets the default, "trn"
        norms = {m: norm.get(m, "trn") for m in features}
    else:
        norms = {m: norm for m in features}
    specs: dict[str, ModalitySpec] = {}
    for modality, folder in features.items():
        src = Path(folder)
        if not src.is_dir():
            raise FileNotFoundError(f"{who}: expected the {modality} feature folder {src}.")
        mode = norms.get(modality)
        if mode not in ("trn", "utt", None):
            raise ValueError(
                f"{who}: expected norm 'trn', 'utt' or None for {modality}, got {mode!r}."
            )
        stem = (files or {}).get(modality, src.name)
        spec = ModalitySpec(UPSTREAM.get(modality, (modality,))[0], stem, mode)
        arrays = _read_modality(src, ids, modality)
        (root / spec.dir).mkdir(parents=True, exist_ok=True)
        with h5py.File(spec.path(root), "w") as f:
            for uid, arr in zip(ids, arrays, strict=True):
                f[uid] = arr
        if mode == "trn":
            with h5py.File(spec.stats_path(root), "w") as f:
                for k in range(len(groups)):
                    train = _split_mask(speakers, groups, k)["trn"]
                    frames = np.concatenate([arrays[i] for i in np.flatnonzero(train)]).astype(
                        np.float64
                    )
                    f[f"{k + 1}/mean"] = frames.mean(axis=0).astype(np.float32)
                    f[f"{k + 1}/std"] = frames.std(axis=0).astype(np.float32)
        specs[modality] = spec
    id_array = np.array(ids)
    for k in range(len(groups)):
        fold_dir = root / "targets" / str(k + 1)
        fold_dir.mkdir(parents=True, exist_ok=True)
        for split, mask in _split_mask(speakers, groups, k).items():
            np.save(fold_dir / f"{split}_label.npy", y[mask])
            np.save(fold_dir / f"{split}_int2name.npy", id_array[mask])
    config = CorpusConfig(specs, class_names, len(groups), "targets", name)
    config.write(root / CORPUS_FILE)
    return config


def _split_mask(
    speakers: list[str], groups: list[list[str]], k: int
) -> dict[str, np.ndarray[Any, Any]]:
    spk = np.array(speakers)
    test = np.isin(spk, groups[k])
    val = np.isin(spk, groups[(k + 1) % len(groups)])
    return {"trn": ~(test | val), "val": val, "tst": test}


def _read_modality(src: Path, ids: list[str], modality: str) -> list[np.ndarray[Any, Any]]:
    arrays: list[np.ndarray[Any, Any]] = []
    dim: int | None = None
    for uid in ids:
        candidates = [src / f"{uid}.npy", src / f"{uid}.csv"]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            raise FileNotFoundError(
                f"prepare_mmin: expected {candidates[0]} or {candidates[1].name} ({modality} of "
                f"utterance {uid!r} in the label CSV); extract it or drop the row."
            )
        arr = read_feature_file(path)
        if dim is None:
            dim = arr.shape[1]
        elif arr.shape[1] != dim:
            raise ValueError(
                f"prepare_mmin: expected every {modality} file to have dim {dim}, got {path} with "
                f"shape {arr.shape}."
            )
        arrays.append(arr)
    return arrays
