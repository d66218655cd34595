"""The corpus description of an MMIN-layout feature folder: ``corpus.json`` beside the features.

The MMIN / IF-MMIN / NMER layout (:class:`~mmnoise.datasets.MMINFeatures`) hard-codes nothing
when a ``corpus.json`` sits in the feature root: it names the modalities that exist, their
folder, feature file and normalisation, the class names and the number of folds::

    {
      "name": "my-corpus",
      "modalities": {
        "audio": {"dir": "A", "file": "comparE", "norm": "trn"},
        "text": {"dir": "L", "file": "bert_large", "norm": null}
      },
      "classes": ["neutral", "happy", "angry", "sad"],
      "folds": 5,
      "targets": "targets"
    }

``norm`` is ``"trn"`` (the fold's training mean / std from ``{dir}/{file}_mean_std.h5``),
``"utt"`` (each utterance's own statistics) or ``null`` (raw). ``targets`` (optional) is the
target root, relative to the feature root. Every key but ``modalities`` is optional. Without a
``corpus.json`` the upstream layout is assumed: ``audio`` (``A/comparE``, ``"trn"``),
``visual`` (``V/denseface``) and ``text`` (``L/bert_large``), each present when its folder
exists. :func:`mmnoise.datasets.prepare_mmin` writes this file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias

__all__ = ["CORPUS_FILE", "CorpusConfig", "ModalitySpec", "Norm"]

#: The file name of the corpus description inside the feature root.
CORPUS_FILE = "corpus.json"

Norm: TypeAlias = Literal["trn", "utt"] | None
_NORMS = ("trn", "utt", None)
# the upstream layout: modality -> (folder, default feature file, default normalisation)
UPSTREAM: dict[str, tuple[str, str, Norm]] = {
    "audio": ("A", "comparE", "trn"),
    "visual": ("V", "denseface", None),
    "text": ("L", "bert_large", None),
}


@dataclass(frozen=True)
class ModalitySpec:
    """Where one modality's features live: ``{root}/{dir}/{file}.h5``, and how they are normalised.

    Example:
        >>> ModalitySpec("A", "comparE", "trn").path("feat").as_posix()
        'feat/A/comparE.h5'
    """

    dir: str
    file: str
    norm: Norm = None

    def path(self, root: str | os.PathLike[str]) -> Path:
        """The feature file under ``root``."""
        return Path(root) / self.dir / f"{self.file}.h5"

    def stats_path(self, root: str | os.PathLike[str]) -> Path:
        """The per-fold mean / std file under ``root`` (``{file}_mean_std.h5``)."""
        return Path(root) / self.dir / f"{self.file}_mean_std.h5"


@dataclass(frozen=True)
class CorpusConfig:
    """A corpus in the MMIN layout: its modalities, classes, folds and target root.

    Args:
        modalities: {name: :class:`ModalitySpec`}, in the order models read them.
        classes: the class names, index order (None: unnamed, counted from the labels).
        folds: the number of cross-validation folds (None: the numbered folders found).
        targets: the target root relative to the feature root (None: given separately).
        name: a label for reports.

    Example:
        >>> cfg = CorpusConfig.from_dict({"modalities": {"audio": {"dir": "A", "file": "mfcc"}},
        ...                               "classes": ["calm", "angry"]})
        >>> cfg.modalities["audio"].norm, cfg.classes
        ('trn', ('calm', 'angry'))
    """

    modalities: Mapping[str, ModalitySpec]
    classes: tuple[str, ...] | None = None
    folds: int | None = None
    targets: str | None = None
    name: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "corpus config") -> CorpusConfig:
        """Validate and build a config from its JSON form (errors name ``source``).

        A modality's ``norm`` defaults to ``"trn"`` for ``audio`` (upstream) and None otherwise;
        ``dir`` defaults to the upstream folder (``A`` / ``V`` / ``L``) or the modality name.
        """
        who = f"CorpusConfig ({source})"
        if not isinstance(data, Mapping):
            raise ValueError(f"{who}: expected a JSON object, got {type(data).__name__}.")
        unknown = set(data) - {"modalities", "classes", "folds", "targets", "name"}
        if unknown:
            raise ValueError(
                f"{who}: unknown keys {sorted(unknown)}; expected modalities, classes, folds, "
                "targets, name."
            )
        mods = data.get("modalities")
        if not isinstance(mods, Mapping) or not mods:
            raise ValueError(
                f"{who}: expected 'modalities' as a non-empty object {{name: {{dir, file, "
                f"norm}}}}, got {mods!r}."
            )
        specs: dict[str, ModalitySpec] = {}
        for name, spec in mods.items():
            if not isinstance(spec, Mapping) or not isinstance(spec.get("file"), str):
                raise ValueError(
                    f"{who}: expected modalities[{name!r}] as an object with a 'file' (the .h5 "
                    f"stem), got {spec!r}."
                )
            extra = set(spec) - {"dir", "file", "norm"}
            if extra:
                raise ValueError(
                    f"{who}: unknown keys {sorted(extra)} in modalities[{name!r}]; expected dir, "
                    "file, norm."
                )
            default_dir, _, default_norm = UPSTREAM.get(name, (name, "", None))
            norm = spec.get("norm", default_norm)
            if norm not in _NORMS:
                raise ValueError(
                    f"{who}: expected modalities[{name!r}].norm in 'trn', 'utt', null, got "
                    f"{norm!r}."
                )
            d = spec.get("dir", default_dir)
            if not isinstance(d, str) or not d:
                raise ValueError(f"{who}: expected modalities[{name!r}].dir as a folder name.")
            specs[str(name)] = ModalitySpec(d, spec["file"], norm)
        classes = data.get("classes")
        if classes is not None:
            ok = isinstance(classes, list) and len(classes) >= 2
            if not ok or not all(isinstance(c, str) for c in classes):
                raise ValueError(
                    f"{who}: expected 'classes' as a list of at least two names, got {classes!r}."
                )
            if len(set(classes)) != len(classes):
                raise ValueError(f"{who}: expected unique class names, got {classes!r}.")
            classes = tuple(classes)
        folds = data.get("folds")
        if folds is not None and (
            isinstance(folds, bool) or not isinstance(folds, int) or folds < 1
        ):
            raise ValueError(f"{who}: expected 'folds' as an int >= 1, got {folds!r}.")
        targets = data.get("targets")
        if targets is not None and not isinstance(targets, str):
            raise ValueError(f"{who}: expected 'targets' as a relative path, got {targets!r}.")
        name = data.get("name")
        return cls(specs, classes, folds, targets, None if name is None else str(name))

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> CorpusConfig:
        """Read a ``corpus.json`` file."""
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"CorpusConfig: expected the corpus file {p}; check the path.")
        try:
            data = json.loads(p.read_text())
        except (ValueError, UnicodeDecodeError) as err:
            raise ValueError(
                f"CorpusConfig: cannot parse {p} as JSON ({err}); fix the file."
            ) from err
        return cls.from_dict(data, source=str(p))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (round-trips through :meth:`from_dict`)."""
        out: dict[str, Any] = {
            "modalities": {
                m: {"dir": s.dir, "file": s.file, "norm": s.norm}
                for m, s in self.modalities.items()
            }
        }
        for key in ("classes", "folds", "targets", "name"):
            value = getattr(self, key)
            if value is not None:
                out[key] = list(value) if key == "classes" else value
        return out

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the JSON form to ``path``; return it."""
        p = Path(path)
        p.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return p

    @classmethod
    def upstream(
        cls, root_features: str | os.PathLike[str], files: Mapping[str, str | None] | None = None
    ) -> CorpusConfig:
        """The upstream A / V / L layout: the modalities whose folder exists under the root.

        ``files`` overrides feature file stems ({"audio": "IS10"}); a modality named there must
        exist.
        """
        root = Path(root_features)
        given: dict[str, str] = {k: v for k, v in (files or {}).items() if v is not None}
        specs: dict[str, ModalitySpec] = {}
        for name, (d, stem, norm) in UPSTREAM.items():
            if (root / d).is_dir():
                specs[name] = ModalitySpec(d, given.get(name, stem), norm)
            elif name in given:
                raise FileNotFoundError(
                    f"MMINFeatures: a feature file was given for {name} ({given[name]!r}) but the "
                    f"folder {root / d} does not exist; check root_features."
                )
        if not specs:
            raise FileNotFoundError(
                f"MMINFeatures: found none of the folders A/, V/, L/ under {root} and no "
                f"{CORPUS_FILE}; point root_features at the feature root or describe the corpus "
                f"in {root / CORPUS_FILE}."
            )
        return cls(specs)

    @classmethod
    def find(
        cls, root_features: str | os.PathLike[str], files: Mapping[str, str | None] | None = None
    ) -> CorpusConfig:
        """``{root}/corpus.json`` if there is one (``files`` override its stems), else upstream."""
        path = Path(root_features) / CORPUS_FILE
        if not path.is_file():
            return cls.upstream(root_features, files)
        cfg = cls.read(path)
        overrides = {k: v for k, v in (files or {}).items() if v is not None}
        for name in overrides:
            if name not in cfg.modalities:
                raise ValueError(
                    f"MMINFeatures: a feature file was given for {name} ({overrides[name]!r}) but "
                    f"{path} lists only {list(cfg.modalities)}."
                )
        specs = {
            m: ModalitySpec(s.dir, overrides.get(m, s.file), s.norm)
            for m, s in cfg.modalities.items()
        }
        return CorpusConfig(specs, cfg.classes, cfg.folds, cfg.targets, cfg.name)
