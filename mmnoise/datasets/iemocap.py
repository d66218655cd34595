"""Loader for the MMIN / IF-MMIN / NMER feature layout of IEMOCAP (and MSP-IMPROV).

The three codebases (AIM3-RUC/MMIN, ZhuoYulang/IF-MMIN, WooyoohL/Noise-robust_MER) share one
on-disk layout::

    {root_features}/A/{a_type}.h5            # flat: one (frames, 130) dataset per utterance id
    {root_features}/A/{a_type}_mean_std.h5   # groups "1".."10", each with "mean" (D,), "std" (D,)
    {root_features}/V/{v_type}.h5            # flat, (frames, 342) Denseface per utterance id
    {root_features}/L/{l_type}.h5            # flat, (tokens, 1024) BERT-large per utterance id
    {root_targets}/{fold}/{set}_label.npy    # IEMOCAP: (N, 4) one-hot; MSP: (N,) class indices
    {root_targets}/{fold}/{set}_int2name.npy # IEMOCAP: (N, 1) bytes ids; MSP: (N,) strings

with ``set`` in ``trn`` / ``val`` / ``tst``. Audio is normalised as upstream: ``norm="trn"``
uses the fold's training-set mean and std from ``{a_type}_mean_std.h5`` (a std of 0 counts as
1), ``norm="utt"`` each utterance's own statistics; visual and text features are not
normalised. A corpus with other modalities, feature files, classes or normalisation describes
itself in a ``corpus.json`` beside the features (:mod:`mmnoise.datasets.corpus`); without one,
the modalities whose folder (``A/``, ``V/``, ``L/``) exists are read. ``h5py`` is needed
(``pip install 'mmnoise[data]'``); it is imported only when this loader is used.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from mmnoise.datasets.corpus import CorpusConfig, ModalitySpec, Norm
from mmnoise.extras import import_extra
from mmnoise.sample import Sample

__all__ = ["MMINFeatures"]

_SPLIT_ALIASES = {
    "trn": "trn",
    "train": "trn",
    "val": "val",
    "valid": "val",
    "tst": "tst",
    "test": "tst",
}
_SPLITS = ("trn", "val", "tst")


def _import_h5py() -> Any:
    who = "MMINFeatures: reading the MMIN / IF-MMIN / NMER feature files"
    return import_extra("h5py", who=who, extra="data")


def _load_npy(path: Path, *, who: str) -> np.ndarray[Any, Any]:
    if not path.is_file():
        raise FileNotFoundError(
            f"{who}: expected the file {path} (MMIN target layout "
            "{root_targets}/{fold}/{set}_label.npy / _int2name.npy); check root_targets and fold."
        )
    try:
        arr: np.ndarray[Any, Any] = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(
            f"{who}: cannot read {path} as a .npy array ({err}); the file is corrupt or not in "
            "the MMIN layout, re-create it."
        ) from err
    return arr


def _decode_id(v: Any) -> str:
    if isinstance(v, np.ndarray):
        v = v.reshape(-1)[0]
    if isinstance(v, (bytes, np.bytes_)):
        return bytes(v).decode("utf-8")
    return str(v)


def _labels_from_array(
    labels: np.ndarray[Any, Any], path: Path, names_path: Path, n_ids: int, n_classes: int | None
) -> np.ndarray[Any, Any]:
    """Validate a label array (one-hot rows or class indices) and return (N,) int64 indices."""
    who = "MMINFeatures"
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim not in (1, 2) or not (
        np.issubdtype(labels.dtype, np.number) or labels.dtype == np.bool_
    ):
        raise ValueError(
            f"{who}: expected {path} as (N, C) one-hot rows or (N,) class indices, got "
            f"{labels.dtype} of shape {labels.shape}."
        )
    if labels.shape[0] != n_ids:
        hint = ""
        if labels.ndim == 2 and labels.shape[1] == n_ids:
            hint = " The label file looks transposed: save it as (N, C)."
        raise ValueError(
            f"{who}: expected {path} with one row per id of {names_path.name} (N = {n_ids}), got "
            f"shape {labels.shape}; the two files must list the same utterances in the same "
            f"order ({names_path}).{hint}"
        )
    values = labels.astype(np.float64)
    if not np.isfinite(values).all():
        row = int(np.argwhere(~np.isfinite(values))[0][0])
        raise ValueError(f"{who}: {path} has a NaN / Inf label in row {row}; fix the label file.")
    if labels.ndim == 2:
        width = labels.shape[1]
        if n_classes is not None and width != n_classes:
            raise ValueError(
                f"{who}: expected {path} with {n_classes} columns (the classes of corpus.json), "
                f"got shape {labels.shape}."
            )
        hot = values == 1
        bad = ~(((values == 0) | hot).all(axis=1) & (hot.sum(axis=1) == 1))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            kind = "all-zero" if not values[row].any() else "not one-hot (multi-hot or soft)"
            raise ValueError(
                f"{who}: expected every row of {path} to be one-hot (one 1, the rest 0), got row "
                f"{row} = {labels[row].tolist()} ({kind}); {int(bad.sum())} such rows. Fix the "
                "labels, or drop those utterances."
            )
        indices: np.ndarray[Any, Any] = values.argmax(axis=1).astype(np.int64)
        return indices
    if (values != np.round(values)).any():
        row = int(np.flatnonzero(values != np.round(values))[0])
        raise ValueError(
            f"{who}: expected integer class indices in {path}, got {labels[row].item()!r} in row {row} "
            "(regression targets?); map them to classes first."
        )
    if (values < 0).any():
        row = int(np.flatnonzero(values < 0)[0])
        raise ValueError(
            f"{who}: expected class indices >= 0 in {path}, got {labels[row].item()!r} in row {row}; "
            "remove unlabelled utterances (e.g. -1) from the fold files."
        )
    if n_classes is not None and values.max(initial=0) >= n_classes:
        row = int(np.flatnonzero(values >= n_classes)[0])
        raise ValueError(
            f"{who}: expected class indices < {n_classes} (the classes of corpus.json) in {path}, "
            f"got {labels[row].item()!r} in row {row}."
        )
    return values.astype(np.int64)


class MMINFeatures(Dataset[Sample]):
    """Read one fold and split of the MMIN / IF-MMIN / NMER feature layout, any corpus shape.

    Items: ``{modality: (T, D) float32 for each modality of the corpus, "label": int64 scalar
    tensor, "id": str}`` (upstream IEMOCAP: ``audio`` (T_a, 130), ``visual`` (T_v, 342),
    ``text`` (T_l, 1024); sequences as stored, possibly zero-padded by the upstream
    pre-processing). Labels are stored as (N, C) one-hot rows (IEMOCAP) or (N,) class indices
    (MSP-IMPROV) and checked: integers >= 0, exactly one 1 per one-hot row, fewer than the
    number of classes; features are checked finite when read. Use :meth:`load_fold` to also check
    that validation and test classes occur in training.

    Which modalities exist, their files, normalisation, class names and folds come from
    ``{root_features}/corpus.json`` (:class:`~mmnoise.datasets.corpus.CorpusConfig`) when there
    is one, else from the folders ``A/`` (audio), ``V/`` (visual), ``L/`` (text) that exist.

    Args:
        root_features: ``feature_root`` (with ``A/``, ``V/``, ``L/`` or the corpus.json folders).
        root_targets: ``target_root`` (with one folder per fold); default: ``targets`` of
            corpus.json.
        fold: the cross-validation fold, 1-based (1..10 for IEMOCAP, 1..12 for MSP-IMPROV).
        split: ``"trn"`` / ``"val"`` / ``"tst"`` (or ``"train"`` / ``"valid"`` / ``"test"``).
        a_type: audio feature file stem (default ``"comparE"`` or corpus.json's; MSP-IMPROV
            uses ``"comparE_raw"``).
        v_type: visual feature file stem (default ``"denseface"``).
        l_type: text feature file stem (default ``"bert_large"``).
        modalities: read only these modalities (default: every modality of the corpus).
        norm: ``"trn"`` (fold training mean / std from ``{file}_mean_std.h5``, upstream
            default), ``"utt"`` (per utterance) or None (raw) for the normalised modalities
            (upstream: audio; corpus.json: those with a ``norm``), or {modality: mode} for
            each; default ``"auto"``: as the corpus says.
        in_memory: read every utterance of the split at construction (upstream ``--in_mem``)
            instead of from the h5 files on each access.

    Raises:
        ImportError: h5py is missing or cannot be imported.
        FileNotFoundError: a file of the layout is missing.
        KeyError: an utterance id or a mean/std group is missing from an h5 file (named).
        ValueError: unreadable files, bad labels, non-finite features, shape mismatches (file
            and key named), bad arguments.

    Example:
        >>> import pathlib, tempfile, h5py, numpy as np
        >>> tmp = tempfile.TemporaryDirectory()
        >>> feat, tgt = pathlib.Path(tmp.name) / "feat", pathlib.Path(tmp.name) / "tgt"
        >>> for d, stem in (("A", "comparE"), ("V", "denseface"), ("L", "bert_large")):
        ...     (feat / d).mkdir(parents=True)
        ...     with h5py.File(feat / d / f"{stem}.h5", "w") as f:
        ...         f["Ses01F_impro01_F000"] = np.ones((3, 2), np.float32)
        >>> (tgt / "1").mkdir(parents=True)
        >>> np.save(tgt / "1" / "trn_label.npy", np.eye(4)[[2]])
        >>> np.save(tgt / "1" / "trn_int2name.npy", np.array([[b"Ses01F_impro01_F000"]]))
        >>> item = MMINFeatures(feat, tgt, fold=1, split="trn", norm=None, in_memory=True)[0]
        >>> item["audio"].shape, int(item["label"]), item["id"]
        (torch.Size([3, 2]), 2, 'Ses01F_impro01_F000')
        >>> tmp.cleanup()
    """

    def __init__(
        self,
        root_features: str | os.PathLike[str],
        root_targets: str | os.PathLike[str] | None = None,
        *,
        fold: int,
        split: str,
        a_type: str | None = None,
        v_type: str | None = None,
        l_type: str | None = None,
        modalities: Sequence[str] | None = None,
        norm: Norm | Literal["auto"] | Mapping[str, Norm] = "auto",
        in_memory: bool = False,
    ) -> None:
        who = "MMINFeatures"
        h5py = _import_h5py()
        if split not in _SPLIT_ALIASES:
            raise ValueError(
                f"{who}: expected split in {sorted(set(_SPLIT_ALIASES))}, got {split!r}."
            )
        if isinstance(fold, bool) or not isinstance(fold, int) or fold < 1:
            raise ValueError(
                f"{who}: expected fold as an int >= 1 (folds are 1-based), got {fold!r}."
            )
        self.split = _SPLIT_ALIASES[split]
        self.fold = fold
        root_f = Path(root_features)
        self.corpus = CorpusConfig.find(root_f, {"audio": a_type, "visual": v_type, "text": l_type})
        specs = dict(self.corpus.modalities)
        if modalities is not None:
            if isinstance(modalities, str) or not modalities:
                raise ValueError(
                    f"{who}: expected modalities as a non-empty list of names, got {modalities!r}."
                )
            unknown = [m for m in modalities if m not in specs]
            if unknown:
                raise ValueError(
                    f"{who}: modalities {unknown} are not in the corpus at {root_f} (it has "
                    f"{list(specs)}); pick from those or describe them in corpus.json."
                )
            specs = {m: specs[m] for m in modalities}
        self.specs: dict[str, ModalitySpec] = {
            m: ModalitySpec(s.dir, s.file, n) for m, s, n in self._norms(specs, norm)
        }
        self.modalities = tuple(self.specs)
        # the audio mode, kept for code written against the upstream-only loader
        self.norm = self.specs["audio"].norm if "audio" in self.specs else None
        self.classes = self.corpus.classes
        if root_targets is None:
            if self.corpus.targets is None:
                raise ValueError(
                    f"{who}: expected root_targets, or a 'targets' entry in "
                    f"{root_f / 'corpus.json'}; pass the folder with the fold folders."
                )
            root_targets = root_f / self.corpus.targets
        if self.corpus.folds is not None and fold > self.corpus.folds:
            raise ValueError(
                f"{who}: expected fold in 1..{self.corpus.folds} (corpus.json), got {fold}."
            )
        root_t = Path(root_targets)
        target_dir = root_t / str(fold)
        if not target_dir.is_dir() and root_t.is_dir():
            found = sorted(int(p.name) for p in root_t.iterdir() if p.name.isdigit())
            raise FileNotFoundError(
                f"{who}: expected {target_dir / (self.split + '_label.npy')} (fold {fold}); "
                f"{root_t} has folds {found}. Pick one of those."
            )
        label_path = target_dir / f"{self.split}_label.npy"
        names_path = target_dir / f"{self.split}_int2name.npy"
        labels = _load_npy(label_path, who=who)
        names = _load_npy(names_path, who=who)
        if names.ndim == 2 and names.shape[1] == 1:
            names = names[:, 0]
        if names.ndim != 1:
            raise ValueError(
                f"{who}: expected {names_path} as (N, 1) or (N,) ids, got shape {names.shape}."
            )
        n_classes = None if self.classes is None else len(self.classes)
        self.labels = _labels_from_array(labels, label_path, names_path, len(names), n_classes)
        if n_classes is None and labels.ndim == 2 and labels.shape[1] > 1:
            n_classes = int(labels.shape[1])
        self.num_classes = n_classes if n_classes is not None else int(self.labels.max()) + 1
        self.ids = [_decode_id(v) for v in names]
        if len(set(self.ids)) != len(self.ids):
            dup = next(i for i in self.ids if self.ids.count(i) > 1)
            raise ValueError(f"{who}: the id {dup!r} occurs twice in {names_path}.")
        self.paths = {m: s.path(root_f) for m, s in self.specs.items()}
        self.dims = {m: self._check_h5(h5py, m, p) for m, p in self.paths.items()}
        self.stats: dict[str, tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] = {
            m: self._read_mean_std(h5py, m, s.stats_path(root_f))
            for m, s in self.specs.items()
            if s.norm == "trn"
        }
        self.mean_std = self.stats.get("audio")  # the upstream attribute
        self._handles: dict[str, Any] = {}
        self._pid = os.getpid()
        self._cache: dict[str, list[np.ndarray[Any, Any]]] | None = None
        if in_memory:
            self._cache = {}
            for m, p in self.paths.items():
                with h5py.File(p, "r") as f:
                    self._cache[m] = [np.asarray(f[i][()]) for i in self.ids]

    @staticmethod
    def _norms(
        specs: Mapping[str, ModalitySpec], norm: Any
    ) -> list[tuple[str, ModalitySpec, Norm]]:
        who = "MMINFeatures"
        modes = ("trn", "utt", None)
        if isinstance(norm, Mapping):
            unknown = set(norm) - set(specs)
            if unknown:
                raise ValueError(
                    f"{who}: norm names modalities {sorted(unknown)} that are not read "
                    f"({list(specs)})."
                )
            for m, v in norm.items():
                if v not in modes:
                    raise ValueError(
                        f"{who}: expected norm[{m!r}] 'trn', 'utt' or None, got {v!r}."
                    )
            return [(m, s, norm.get(m, s.norm)) for m, s in specs.items()]
        if norm == "auto":
            return [(m, s, s.norm) for m, s in specs.items()]
        if norm not in modes:
            raise ValueError(
                f"{who}: expected norm 'auto', 'trn', 'utt', None or {{modality: mode}}, got "
                f"{norm!r}."
            )
        # a single mode replaces the mode of the modalities the corpus normalises
        return [(m, s, norm if s.norm is not None else None) for m, s in specs.items()]

    @classmethod
    def load_fold(
        cls,
        root_features: str | os.PathLike[str],
        root_targets: str | os.PathLike[str] | None = None,
        *,
        fold: int,
        **kwargs: Any,
    ) -> dict[str, MMINFeatures]:
        """Read the ``trn`` / ``val`` / ``tst`` splits of a fold and check them against each other.

        Every class of ``val`` and ``tst`` must occur in ``trn`` (a model cannot learn it
        otherwise); the number of classes is that of corpus.json, of the one-hot rows, or the
        largest training class + 1, the same for the three splits.

        Raises:
            ValueError: a validation / test class never occurs in training (file named), or the
                splits disagree on the number of classes.
        """
        splits = {
            s: cls(root_features, root_targets, fold=fold, split=s, **kwargs) for s in _SPLITS
        }
        train = splits["trn"]
        seen = set(np.unique(train.labels).tolist())
        for name in ("val", "tst"):
            extra = sorted(set(np.unique(splits[name].labels).tolist()) - seen)
            if extra:
                raise ValueError(
                    f"MMINFeatures: classes {extra} of {name}_label.npy (fold {fold}) never occur "
                    f"in trn_label.npy; a model cannot learn them. Re-split the fold so that "
                    "training covers every class."
                )
        n = max(s.num_classes for s in splits.values())
        known = [s.num_classes for s in splits.values() if s.classes is not None]
        if known and len(set(known)) != 1:  # pragma: no cover - one corpus.json per root
            raise ValueError(f"MMINFeatures: the splits of fold {fold} disagree on the classes.")
        for s in splits.values():
            s.num_classes = n
        return splits

    def _open(self, h5py: Any, path: Path) -> Any:
        if not path.is_file():
            folder = path.parent
            found = sorted(p.stem for p in folder.glob("*.h5")) if folder.is_dir() else []
            raise FileNotFoundError(
                f"MMINFeatures: expected the feature file {path}; {folder} has {found}. Check "
                "root_features and the a_type / v_type / l_type names (or corpus.json)."
            )
        try:
            return h5py.File(path, "r")
        except OSError as err:
            raise ValueError(
                f"MMINFeatures: cannot open {path} as HDF5 ({err}); the file is corrupt or not an "
                "h5 file, re-create it."
            ) from err

    def _check_h5(self, h5py: Any, modality: str, path: Path) -> int:
        who = "MMINFeatures"
        dim: int | None = None
        with self._open(h5py, path) as f:
            for uid in self.ids:
                if uid not in f:
                    raise KeyError(
                        f"{who}: utterance {uid!r} of {self.split}_int2name.npy (fold "
                        f"{self.fold}) is not a key of {path}; the features and the fold lists "
                        "come from different downloads."
                    )
                ds = f[uid]
                shape = getattr(ds, "shape", None)
                if shape is None or len(shape) != 2 or shape[0] < 1:
                    raise ValueError(
                        f"{who}: expected {path}[{uid!r}] as a (frames >= 1, dim) array, got "
                        f"shape {shape}."
                    )
                if dim is None:
                    dim = int(shape[1])
                elif shape[1] != dim:
                    raise ValueError(
                        f"{who}: expected every utterance in {path} to have dim {dim}, got "
                        f"{path}[{uid!r}] with shape {shape}."
                    )
        if dim is None:
            raise ValueError(
                f"{who}: the split {self.split} of fold {self.fold} has no utterances."
            )
        return dim

    def _read_mean_std(
        self, h5py: Any, modality: str, path: Path
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        who = "MMINFeatures"
        if not path.is_file():
            raise FileNotFoundError(
                f"{who}: expected the normalisation file {path} ({modality}, norm='trn'); use "
                "norm='utt' or None, or write the fold statistics (prepare_mmin does)."
            )
        with self._open(h5py, path) as f:
            group = str(self.fold)
            if group not in f:
                raise KeyError(
                    f"{who}: expected the group {group!r} (fold) in {path}, found {sorted(f)}; "
                    "use norm='utt' or None if the file has no statistics for this fold."
                )
            stats = []
            for key in ("mean", "std"):
                if key not in f[group]:
                    raise KeyError(f"{who}: expected the dataset {group}/{key} in {path}.")
                v = np.asarray(f[group][key][()], dtype=np.float32).reshape(-1)
                if v.shape != (self.dims[modality],):
                    raise ValueError(
                        f"{who}: expected {path}[{group}/{key}] of shape ({self.dims[modality]},) "
                        f"(the {modality} feature dim), got {v.shape}."
                    )
                if not np.isfinite(v).all():
                    raise ValueError(
                        f"{who}: {path}[{group}/{key}] has NaN / Inf values; recompute the "
                        "statistics from finite features."
                    )
                stats.append(v)
        mean, std = stats
        # Upstream replaces a zero std by 1 so constant features stay finite.
        std = np.where(std == 0, np.float32(1.0), std)
        return mean, std

    def __getstate__(self) -> dict[str, Any]:
        # h5py file handles cannot cross process boundaries: each DataLoader worker reopens.
        state = dict(self.__dict__)
        state["_handles"] = {}
        return state

    def _read(self, modality: str, index: int) -> np.ndarray[Any, Any]:
        if self._cache is not None:
            return self._cache[modality][index]
        if self._pid != os.getpid():
            self._handles, self._pid = {}, os.getpid()
        if modality not in self._handles:
            self._handles[modality] = self._open(_import_h5py(), self.paths[modality])
        return np.asarray(self._handles[modality][self.ids[index]][()])

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> Sample:
        if not -len(self) <= index < len(self):
            raise IndexError(f"MMINFeatures: index {index} out of range for {len(self)} items.")
        index %= len(self)
        item: dict[str, Any] = {}
        for m in self.paths:
            x = self._read(m, index).astype(np.float32)
            if not np.isfinite(x).all():
                raise ValueError(
                    f"MMINFeatures: {self.paths[m]}[{self.ids[index]!r}] has NaN / Inf values; "
                    "re-extract the features of that utterance or drop it from the fold files."
                )
            item[m] = torch.from_numpy(np.ascontiguousarray(self._normalise(m, x)))
        item["label"] = torch.tensor(int(self.labels[index]), dtype=torch.int64)
        item["id"] = self.ids[index]
        return item

    def _normalise(self, modality: str, x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        out: np.ndarray[Any, Any] = x
        mode = self.specs[modality].norm
        if mode == "trn":
            mean, std = self.stats[modality]
            out = (x - mean) / std
        elif mode == "utt":
            std = x.std(axis=0)
            std = np.where(std == 0, np.float32(1.0), std)
            out = (x - x.mean(axis=0)) / std
        return out

    def class_counts(self) -> Mapping[int, int]:
        """Return ``{class index: number of items}`` of this split."""
        values, counts = np.unique(self.labels, return_counts=True)
        return {int(v): int(c) for v, c in zip(values, counts, strict=True)}
