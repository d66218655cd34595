"""Loader for the MMSA feature ``.pkl`` layout (CMU-MOSI, CMU-MOSEI, CH-SIMS).

The files made by MMSA / MMSA-FET are one pickled dict ``{"train": {...}, "valid": {...},
"test": {...}}``; each split is a dict of arrays over its N utterances. Keys read here:

=====================  ==========================  ===============================================
key                    shape                       use
=====================  ==========================  ===============================================
``id``                 (N,) str                    item ``"id"`` (``"video$_$clip"``)
``audio``              (N, T_a, D_a) float         item ``"audio"`` (``-inf`` entries become 0, as
                                                   in MMSA's loader)
``vision``             (N, T_v, D_v) float         item ``"visual"``
``text``               (N, T_l, D_l) float         item ``"text"`` with ``text="features"``
``text_bert``          (N, 3, T_l) ids/mask/types  item ``"text"`` (row 0, int64 ids) with
                                                   ``text="bert_ids"``; row 1 (attention mask)
                                                   gives the text length when present
``audio_lengths``      (N,) int, optional          valid frames (unaligned data only)
``vision_lengths``     (N,) int, optional          valid frames (unaligned data only)
``regression_labels``  (N,) or (N, 1) float        item ``"label"`` with ``label="regression"``
``classification_      (N,) or (N, 1) int/float    item ``"label"`` with ``label="classification"``
labels``                                           (older MMSA files; newer ones have only
                                                   regression labels)
``raw_text``           (N,) str, optional          item ``"raw_text"``
=====================  ==========================  ===============================================

Sequences come out at their valid length (padding is cut off; pad them again with
:func:`mmnoise.data.pad_collate`, which rebuilds ``lengths``). Word-aligned files have no
``*_lengths``: their audio / vision then take the text length when they share its time size.
An utterance stored with 0 valid frames (no face found, ...) comes out as one zero frame, so
that every length is >= 1.

The file is read with a restricted unpickler: it admits only what
MMSA files are made of (builtin containers, strings and numbers, numpy arrays, scalars and dtypes,
and torch tensors, whose storage is read with ``torch.load(weights_only=True)``) and refuses any
other global with an error naming it, so a crafted file cannot run code on load.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import collections
import io
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from mmnoise.sample import Sample

__all__ = ["MMSAPickle"]

_SPLITS = {"train": "train", "valid": "valid", "val": "valid", "test": "test"}


def _as_numpy(value: Any) -> np.ndarray[Any, Any]:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _tensor_storage_from_bytes(data: bytes) -> Any:
    """``torch.storage._load_from_bytes`` without its ``weights_only=False``."""
    return torch.load(io.BytesIO(data), weights_only=True)


#: (module, name) -> what the restricted unpickler returns for that global (protocol-2 pickles
#: of bytes call ``_codecs.encode``; a tensor's storage is read back with weights_only=True).
_SAFE_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "complex"): complex,
    ("builtins", "bytearray"): bytearray,
    ("_codecs", "encode"): codecs.encode,
    ("torch.storage", "_load_from_bytes"): _tensor_storage_from_bytes,
}
#: numpy's array / scalar reconstruction, under numpy.core (numpy 1 files) or numpy._core (2)
_NUMPY_GLOBALS = (
    ("multiarray", "_reconstruct"),
    ("multiarray", "scalar"),
    ("numeric", "_frombuffer"),
)
_TORCH_GLOBALS = (("torch._utils", "_rebuild_tensor_v2"),)


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals of MMSA files (see :data:`_SAFE_GLOBALS`)."""

    def find_class(self, module: str, name: str) -> Any:
        # protocol 0-2 files name Python 2 modules (__builtin__.set, ...): map them as pickle's
        # own fix_imports does
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) in _SAFE_GLOBALS:
            return _SAFE_GLOBALS[(module, name)]
        pkg, _, sub = module.partition(".")
        numpy_ok = pkg == "numpy" and (sub.removeprefix("_core.").removeprefix("core."), name) in (
            _NUMPY_GLOBALS
        )
        if numpy_ok or (module, name) in _TORCH_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refused the global {module}.{name}: an MMSA feature file holds only dicts, lists, "
            "strings, numbers and numpy arrays (or torch tensors), and this one would call other "
            "code on load; nothing was run. For a file you trust, unpickle it yourself and pass "
            "the dict: MMSAPickle(path, data=...)"
        )


def _load(path: Path) -> Any:
    """Unpickle an MMSA file admitting only :data:`_SAFE_GLOBALS` and numpy / torch rebuilds.

    Any other global (a class, ``os.system``, ...) is refused before it is called, so a crafted
    file cannot run code; the ``ValueError`` names the global.
    """
    who = "MMSAPickle"
    if not path.is_file():
        raise FileNotFoundError(
            f"{who}: expected the MMSA feature file {path} (e.g. unaligned_50.pkl); check the path."
        )
    try:
        with path.open("rb") as f:
            return _RestrictedUnpickler(f).load()
    except pickle.UnpicklingError as err:
        if str(err).startswith("refused the global"):
            raise ValueError(f"{who}: cannot unpickle {path} (UnpicklingError: {err}).") from err
        raise ValueError(
            f"{who}: cannot unpickle {path} (UnpicklingError: {err}); the file is corrupt "
            "or not an MMSA feature file, download or extract it again."
        ) from err
    except (EOFError, ValueError, AttributeError, ImportError, TypeError) as err:
        raise ValueError(
            f"{who}: cannot unpickle {path} ({type(err).__name__}: {err}); the file is corrupt "
            "or not an MMSA feature file, download or extract it again."
        ) from err


class MMSAPickle(Dataset[Sample]):
    """Read one split of an MMSA feature ``.pkl`` (CMU-MOSI, CMU-MOSEI, CH-SIMS).

    Items: ``{"audio": (T_a, D_a) float32, "visual": (T_v, D_v) float32, "text": (T_l, D_l)
    float32 or (T_l,) int64 ids, "label": scalar tensor, "id": str}`` plus ``"raw_text"`` when
    the file has it. Labels: ``"classification"`` gives int64 class indices from
    ``classification_labels``; ``"regression"`` gives the float32 sentiment score from
    ``regression_labels``.

    Args:
        path: the ``.pkl`` file.
        split: ``"train"``, ``"valid"`` (or ``"val"``) or ``"test"``.
        label: ``"classification"`` or ``"regression"``.
        text: ``"features"`` (the ``text`` array) or ``"bert_ids"`` (token ids from
            ``text_bert``).
        data: the already unpickled dict (used by :meth:`load_all` to read the file once).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        KeyError: a split or a key is missing (file, split and key named).
        ValueError: unreadable file, shape or length mismatches (file, split and key named).

    Example:
        >>> import pathlib, pickle, tempfile, numpy as np
        >>> part = {"id": np.array(["v$_$1"]), "audio": np.ones((1, 4, 2)),
        ...         "vision": np.ones((1, 3, 2)), "text": np.ones((1, 5, 3)),
        ...         "audio_lengths": np.array([2]), "vision_lengths": np.array([3]),
        ...         "regression_labels": np.array([1.4])}
        >>> tmp = tempfile.TemporaryDirectory()
        >>> path = pathlib.Path(tmp.name) / "unaligned.pkl"
        >>> _ = path.write_bytes(pickle.dumps({"train": part, "valid": part, "test": part}))
        >>> item = MMSAPickle(path, split="test", label="regression")[0]
        >>> item["audio"].shape, item["text"].shape, round(float(item["label"]), 2)
        (torch.Size([2, 2]), torch.Size([5, 3]), 1.4)
        >>> tmp.cleanup()
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        split: str = "train",
        label: Literal["classification", "regression"] = "classification",
        text: Literal["features", "bert_ids"] = "features",
        data: Mapping[str, Any] | None = None,
    ) -> None:
        who = "MMSAPickle"
        if split not in _SPLITS:
            raise ValueError(f"{who}: expected split in {sorted(_SPLITS)}, got {split!r}.")
        if label not in ("classification", "regression"):
            raise ValueError(
                f"{who}: expected label 'classification' or 'regression', got {label!r}."
            )
        if text not in ("features", "bert_ids"):
            raise ValueError(f"{who}: expected text 'features' or 'bert_ids', got {text!r}.")
        self.path = Path(path)
        self.split = _SPLITS[split]
        self.label = label
        self.text = text
        raw = _load(self.path) if data is None else data
        if not isinstance(raw, Mapping):
            raise ValueError(
                f"{who}: expected {self.path} to hold a dict {{'train', 'valid', 'test'}}, got "
                f"{type(raw).__name__}."
            )
        if self.split not in raw:
            raise KeyError(
                f"{who}: split {self.split!r} is not in {self.path} (splits: {sorted(raw)})."
            )
        part = raw[self.split]
        if not isinstance(part, Mapping):
            raise ValueError(
                f"{who}: expected {self.path}[{self.split!r}] as a dict of arrays, got "
                f"{type(part).__name__}."
            )
        self._where = f"{self.path}[{self.split!r}]"
        label_key = "classification_labels" if label == "classification" else "regression_labels"
        text_key = "text" if text == "features" else "text_bert"
        for key in ("id", "audio", "vision", text_key, label_key):
            if key not in part:
                hint = (
                    "; newer MMSA files only have regression labels, use label='regression'"
                    if key == "classification_labels"
                    else ""
                )
                raise KeyError(
                    f"{who}: expected the key {key!r} in {self._where} (keys: {sorted(part)})"
                    f"{hint}."
                )
        self.ids = [
            bytes(v).decode("utf-8") if isinstance(v, (bytes, np.bytes_)) else str(v)
            for v in _as_numpy(part["id"]).reshape(-1)
        ]
        n = len(self.ids)
        self.audio = self._seq(part, "audio", n)
        self.vision = self._seq(part, "vision", n)
        self.text_bert = self._bert(part, n) if "text_bert" in part else None
        self.text_features = self._seq(part, "text", n) if text == "features" else None
        self.labels = self._labels(part, label_key, n)
        self.raw_text = (
            [str(v) for v in _as_numpy(part["raw_text"]).reshape(-1)]
            if "raw_text" in part
            else None
        )
        if self.raw_text is not None and len(self.raw_text) != n:
            raise ValueError(
                f"{who}: expected {n} entries in {self._where}['raw_text'], got {len(self.raw_text)}."
            )
        t_text = self._text_size()
        self.text_lengths = self._text_lengths(n, t_text)
        self.audio_lengths = self._lengths(part, "audio", self.audio.shape[1], n, t_text)
        self.vision_lengths = self._lengths(part, "vision", self.vision.shape[1], n, t_text)

    @classmethod
    def load_all(cls, path: str | os.PathLike[str], **kwargs: Any) -> dict[str, MMSAPickle]:
        """Unpickle the file once and return ``{"train", "valid", "test"}`` datasets."""
        data = _load(Path(path))
        return {s: cls(path, split=s, data=data, **kwargs) for s in ("train", "valid", "test")}

    # -- validation ----------------------------------------------------------------------------
    def _seq(self, part: Mapping[str, Any], key: str, n: int) -> np.ndarray[Any, Any]:
        arr = _as_numpy(part[key])
        if arr.ndim != 3 or arr.shape[0] != n or not np.issubdtype(arr.dtype, np.number):
            raise ValueError(
                f"MMSAPickle: expected {self._where}[{key!r}] as a numeric (N={n}, T, D) array "
                f"(N = len(id)), got {arr.dtype} of shape {arr.shape}."
            )
        return arr

    def _bert(self, part: Mapping[str, Any], n: int) -> np.ndarray[Any, Any]:
        arr = _as_numpy(part["text_bert"])
        if arr.ndim != 3 or arr.shape[0] != n or arr.shape[1] != 3:
            raise ValueError(
                f"MMSAPickle: expected {self._where}['text_bert'] as (N={n}, 3, T) (ids, "
                f"attention mask, segment ids), got shape {arr.shape}."
            )
        return arr

    def _labels(self, part: Mapping[str, Any], key: str, n: int) -> np.ndarray[Any, Any]:
        arr = _as_numpy(part[key])
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.shape != (n,) or not np.issubdtype(arr.dtype, np.number):
            raise ValueError(
                f"MMSAPickle: expected {self._where}[{key!r}] as (N={n},) or (N, 1) numbers, got "
                f"{arr.dtype} of shape {arr.shape}."
            )
        if key == "classification_labels":
            if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)) or arr.min() < 0:
                raise ValueError(
                    f"MMSAPickle: expected class indices >= 0 in {self._where}[{key!r}], got "
                    f"values like {arr[:5].tolist()}."
                )
            return arr.astype(np.int64)
        return arr.astype(np.float32)

    def _text_size(self) -> int:
        if self.text_features is not None:
            return int(self.text_features.shape[1])
        return int(self._ids().shape[2])

    def _ids(self) -> np.ndarray[Any, Any]:
        if self.text_bert is None:  # unreachable: text="bert_ids" requires the key
            raise KeyError(f"MMSAPickle: expected the key 'text_bert' in {self._where}.")
        return self.text_bert

    def _text_lengths(self, n: int, t_text: int) -> np.ndarray[Any, Any]:
        # The BERT attention mask counts the valid tokens (with [CLS] / [SEP]); without it the
        # text features are taken whole.
        if self.text_bert is not None and self.text_bert.shape[2] == t_text:
            mask_sum = self.text_bert[:, 1, :].sum(axis=1).astype(np.int64)
            lengths: np.ndarray[Any, Any] = np.clip(mask_sum, 1, t_text)
            return lengths
        return np.full(n, t_text, dtype=np.int64)

    def _lengths(
        self, part: Mapping[str, Any], name: str, size: int, n: int, t_text: int
    ) -> np.ndarray[Any, Any]:
        key = f"{name}_lengths"
        if key not in part:
            if size == t_text:  # word-aligned: one step per text token
                return self.text_lengths.copy()
            return np.full(n, size, dtype=np.int64)
        arr = _as_numpy(part[key]).reshape(-1)
        if arr.shape != (n,) or not np.issubdtype(arr.dtype, np.number):
            raise ValueError(
                f"MMSAPickle: expected {self._where}[{key!r}] as (N={n},) integers, got "
                f"{arr.dtype} of shape {arr.shape}."
            )
        if (arr < 0).any() or (arr > size).any():
            raise ValueError(
                f"MMSAPickle: expected 0 <= {self._where}[{key!r}] <= {size} (the padded size of "
                f"{name!r}), got min {arr.min()}, max {arr.max()}."
            )
        return np.clip(arr.astype(np.int64), 1, size)

    # -- items ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> Sample:
        if not -len(self) <= index < len(self):
            raise IndexError(f"MMSAPickle: index {index} out of range for {len(self)} items.")
        i = index % len(self)
        audio = self.audio[i, : self.audio_lengths[i]].astype(np.float32)
        # MMSA's own loader maps -inf (log of silent frames in COVAREP) to 0.
        audio = np.where(np.isneginf(audio), np.float32(0.0), audio)
        vision = self.vision[i, : self.vision_lengths[i]].astype(np.float32)
        item: dict[str, Any] = {
            "audio": torch.from_numpy(np.ascontiguousarray(audio)),
            "visual": torch.from_numpy(np.ascontiguousarray(vision)),
        }
        lt = int(self.text_lengths[i])
        if self.text_features is not None:
            text = self.text_features[i, :lt].astype(np.float32)
            item["text"] = torch.from_numpy(np.ascontiguousarray(text))
        else:
            ids = self._ids()[i, 0, :lt].astype(np.int64)
            item["text"] = torch.from_numpy(np.ascontiguousarray(ids))
        dtype = torch.int64 if self.label == "classification" else torch.float32
        item["label"] = torch.tensor(self.labels[i].item(), dtype=dtype)
        item["id"] = self.ids[i]
        if self.raw_text is not None:
            item["raw_text"] = self.raw_text[i]
        return item
