"""Loader for the MMIN / IF-MMIN / NMER feature layout of IEMOCAP (and MSP-IMPROV).

The three codebases share one on-disk layout (research/seed_models.md section 2.1)::

    {root_features}/A/{a_type}.h5            # flat: one (frames, 130) dataset per utterance id
    {root_features}/A/{a_type}_mean_std.h5   # groups "1".."10", each with "mean" (D,), "std" (D,)
    {root_features}/V/{v_type}.h5            # flat, (frames, 342) Denseface per utterance id
    {root_features}/L/{l_type}.h5            # flat, (tokens, 1024) BERT-large per utterance id
    {root_targets}/{fold}/{set}_label.npy    # IEMOCAP: (N, 4) one-hot; MSP: (N,) class indices
    {root_targets}/{fold}/{set}_int2name.npy # IEMOCAP: (N, 1) bytes ids; MSP: (N,) strings

with ``set`` in ``trn`` / ``val`` / ``tst``. Audio is normalised as upstream: ``norm="trn"``
uses the fold's training-set mean and std from ``{a_type}_mean_std.h5`` (a std of 0 counts as
1), ``norm="utt"`` each utterance's own statistics; visual and text features are not
normalised. ``h5py`` is needed (``pip install 'mmnoise[data]'``); it is imported only when this loader is
used.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

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
_MODALITY_DIRS = {"audio": "A", "visual": "V", "text": "L"}


def _import_h5py() -> Any:
    try:
        import h5py
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "MMINFeatures: reading the MMIN / IF-MMIN / NMER feature files needs h5py, which is "
            "not installed; install it with `pip install 'mmnoise[data]'`."
        ) from err
    return h5py


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
    if isinstance(v, bytes | np.bytes_):
        return bytes(v).decode("utf-8")
    return str(v)


class MMINFeatures(Dataset[Sample]):
    """Read one fold and split of the MMIN / IF-MMIN / NMER IEMOCAP feature layout.

    Items: ``{"audio": (T_a, 130) float32, "visual": (T_v, 342), "text": (T_l, 1024),
    "label": int64 scalar tensor, "id": str}`` (sizes as stored; sequences as stored in the h5
    files: audio at its own length, visual / text possibly zero-padded by the upstream
    pre-processing). Labels are the argmax of the one-hot rows (IEMOCAP) or the stored class
    indices (MSP-IMPROV).

    Args:
        root_features: ``feature_root`` (with ``A/``, ``V/``, ``L/``).
        root_targets: ``target_root`` (with one folder per fold).
        fold: the cross-validation fold, 1-based (1..10 for IEMOCAP, 1..12 for MSP-IMPROV).
        split: ``"trn"`` / ``"val"`` / ``"tst"`` (or ``"train"`` / ``"valid"`` / ``"test"``).
        a_type: audio feature file stem (``"comparE"``; MSP-IMPROV uses ``"comparE_raw"``).
        v_type: visual feature file stem.
        l_type: text feature file stem.
        norm: ``"trn"`` (fold training mean / std, upstream default), ``"utt"`` (per
            utterance) or None (raw audio).
        in_memory: read every utterance of the split at construction (upstream ``--in_mem``)
            instead of from the h5 files on each access.

    Raises:
        ImportError: h5py is not installed.
        FileNotFoundError: a file of the layout is missing.
        KeyError: an utterance id or a mean/std group is missing from an h5 file (named).
        ValueError: unreadable files, shape mismatches (file and key named), bad arguments.

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
        root_targets: str | os.PathLike[str],
        *,
        fold: int,
        split: str,
        a_type: str = "comparE",
        v_type: str = "denseface",
        l_type: str = "bert_large",
        norm: Literal["trn", "utt"] | None = "trn",
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
        if norm not in ("trn", "utt", None):
            raise ValueError(f"{who}: expected norm 'trn', 'utt' or None, got {norm!r}.")
        self.split = _SPLIT_ALIASES[split]
        self.fold = fold
        self.norm = norm
        root_f, root_t = Path(root_features), Path(root_targets)
        target_dir = root_t / str(fold)
        label_path = target_dir / f"{self.split}_label.npy"
        names_path = target_dir / f"{self.split}_int2name.npy"
        labels = _load_npy(label_path, who=who)
        names = _load_npy(names_path, who=who)
        if labels.ndim == 2:
            self.labels = labels.argmax(axis=1).astype(np.int64)
        elif labels.ndim == 1 and np.issubdtype(labels.dtype, np.number):
            self.labels = labels.astype(np.int64)
        else:
            raise ValueError(
                f"{who}: expected {label_path} as (N, C) one-hot or (N,) class indices, got "
                f"{labels.dtype} of shape {labels.shape}."
            )
        if names.ndim not in (1, 2) or len(names) != len(self.labels):
            raise ValueError(
                f"{who}: expected {names_path} as (N, 1) or (N,) ids with N = {len(self.labels)} "
                f"(the rows of {label_path.name}), got shape {names.shape}."
            )
        self.ids = [_decode_id(v) for v in names]
        stems = {"audio": a_type, "visual": v_type, "text": l_type}
        self.paths = {m: root_f / d / f"{stems[m]}.h5" for m, d in _MODALITY_DIRS.items()}
        self.dims = {m: self._check_h5(h5py, m, p) for m, p in self.paths.items()}
        self.mean_std: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] | None = None
        if norm == "trn":
            self.mean_std = self._read_mean_std(h5py, root_f / "A" / f"{a_type}_mean_std.h5")
        self._handles: dict[str, Any] = {}
        self._pid = os.getpid()
        self._cache: dict[str, list[np.ndarray[Any, Any]]] | None = None
        if in_memory:
            self._cache = {}
            for m, p in self.paths.items():
                with h5py.File(p, "r") as f:
                    self._cache[m] = [np.asarray(f[i][()]) for i in self.ids]

    def _open(self, h5py: Any, path: Path) -> Any:
        if not path.is_file():
            raise FileNotFoundError(
                f"MMINFeatures: expected the feature file {path}; check root_features and the "
                "a_type / v_type / l_type names."
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
        self, h5py: Any, path: Path
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        who = "MMINFeatures"
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
                if v.shape != (self.dims["audio"],):
                    raise ValueError(
                        f"{who}: expected {path}[{group}/{key}] of shape ({self.dims['audio']},) "
                        f"(the audio feature dim), got {v.shape}."
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
            if m == "audio":
                x = self._normalise(x)
            item[m] = torch.from_numpy(np.ascontiguousarray(x))
        item["label"] = torch.tensor(int(self.labels[index]), dtype=torch.int64)
        item["id"] = self.ids[index]
        return item

    def _normalise(self, x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        out: np.ndarray[Any, Any] = x
        if self.mean_std is not None:
            mean, std = self.mean_std
            out = (x - mean) / std
        elif self.norm == "utt":
            std = x.std(axis=0)
            std = np.where(std == 0, np.float32(1.0), std)
            out = (x - x.mean(axis=0)) / std
        return out

    def class_counts(self) -> Mapping[int, int]:
        """Return ``{class index: number of items}`` of this split."""
        values, counts = np.unique(self.labels, return_counts=True)
        return {int(v): int(c) for v, c in zip(values, counts, strict=True)}
