"""Robustness evaluation on frozen corruptions: presence pattern x noise family x level.

Give :func:`evaluate_robustness` (or :meth:`RobustnessGrid.evaluate`) a ``predict`` function and a
test loader; it scores every cell of the grid

    (presence pattern: which modalities are present, 7 for three modalities incl. full)
    x (noise family: a named mmnoise transform or pipeline)
    x (level in [0, 1])

on **frozen** corruptions: the noise of batch ``b`` in a cell comes from a generator seeded with
``mmnoise.rng.derive_seed(seed, cell_id, b)``, so every model, every run and every process sees
the same noisy test set (given the same loader order, batch size and device type), and a cell's
noise does not depend on which other cells are evaluated. The harness is model-agnostic: it
never imports a model, it only calls ``predict(batch) -> logits``.

The result (:class:`RobustnessResult`) keeps one confusion matrix per cell, from which it derives
WA (accuracy), UA (macro recall) and macro-F1, MultiBench's relative and effective robustness,
a markdown table, a JSON file and a heatmap PNG. The loop over cells is
:func:`mmnoise.evaluation.evaluate_cells`, the one MER-C's runner uses too.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias

import torch
from torch import Tensor, nn

from mmnoise.evaluation import PredictionReader, evaluate_cells
from mmnoise.extras import import_extra
from mmnoise.levels import check_level_value
from mmnoise.metrics import CONFUSION_METRICS, confusion_matrix
from mmnoise.presence import condition_name, presence_patterns
from mmnoise.rng import derive_seed, make_generator
from mmnoise.sample import Sample
from mmnoise.transforms.base import NoiseTransform
from mmnoise.transforms.features import AddGaussianSNR
from mmnoise.transforms.missing import DropModalities

__all__ = [
    "METRICS",
    "FamilySpec",
    "Predict",
    "RobustnessGrid",
    "RobustnessResult",
    "compare_markdown",
    "effective_robustness",
    "evaluate_robustness",
    "relative_robustness",
    "save_heatmap",
]

#: ``predict(batch) -> Tensor``: (B, C) logits / scores, or (B,) int64 class indices.
Predict: TypeAlias = Callable[[Sample], Tensor]
#: A noise family: a pipeline module ``m(sample, *, level, generator) -> sample`` (a
#: NoiseTransform, a MultimodalPipeline, ...), or a factory ``f(modalities) -> pipeline`` such as
#: a transform class (``AddGaussianSNR`` is called as ``AddGaussianSNR(("audio", ...))``).
FamilySpec: TypeAlias = nn.Module | Callable[[tuple[str, ...]], Any]

#: The metrics the harness can report, computed from a confusion matrix.
METRICS: tuple[str, ...] = ("WA", "UA", "F1")
_FULL, _POOLED = "full", "pooled"
#: a grid cell: (pattern, family, level) indices into the confusion counts
_CellKey: TypeAlias = tuple[int, int, int]
_FORMAT = "mmnoise.robustness/1"


# ----------------------------------------------------------------------------------------------
# MultiBench robustness measures
# ----------------------------------------------------------------------------------------------


def relative_robustness(curve: Tensor | Sequence[float], levels: Tensor | Sequence[float]) -> float:
    """Area under a performance-vs-level curve, by the trapezoid rule over the given levels.

    Example:
        >>> relative_robustness([1.0, 0.5], [0.0, 1.0])
        0.75
    """
    # MultiBench (Liang et al., NeurIPS 2021 Datasets & Benchmarks, section 3; code:
    # pliang279/MultiBench eval_scripts/robustness.py::relative_robustness_helper): relative
    # robustness is the area under the performance-vs-imperfection curve, by the trapezoid rule
    # over the imperfection levels (MultiBench's levels are 0, 0.1, ..., 1, hence its dx = 0.1;
    # here dx is the actual spacing of the levels). MultiBench then min-max normalises the areas
    # across the methods it compares; the raw area is reported here.
    y = torch.as_tensor(curve, dtype=torch.float64)
    return float(torch.trapezoid(y, torch.as_tensor(levels, dtype=torch.float64)))


def effective_robustness(
    curve: Tensor | Sequence[float], reference: Tensor | Sequence[float]
) -> float:
    """How much less a model loses than a reference along the same levels (index 0: clean).

    The one implementation: :class:`RobustnessResult` and the MER-C scores
    (:mod:`mmnoise.merc.scoring`) both call it. Rounded to 12 decimals, so that a model against
    itself gives exactly 0 and float noise does not show in reports.

    Args:
        curve: the model's metric at each level, clean first.
        reference: the reference model's metric at the same levels.

    Returns:
        ``sum_i (f_i - f_0) - (r_i - r_0)``: > 0 when the model loses less than the reference.

    Shape:
        curve, reference: (L,), one length.

    Raises:
        ValueError: curves of different lengths.

    Example:
        >>> effective_robustness([0.8, 0.75], [0.9, 0.7])
        0.15
    """
    if len(curve) != len(reference):
        raise ValueError(
            f"effective_robustness: expected curves of one length, got {len(curve)} and "
            f"{len(reference)}; score both models on the same levels / severities."
        )
    # MultiBench (same paper and file, effective_robustness_helper, after Taori et al. 2020):
    # effective robustness compares a model's curve f with a reference model's curve r (late
    # fusion in MultiBench) shifted to the model's clean score:
    # sum_i f_i - (r_i + f_0 - r_0) = sum_i (f_i - f_0) - (r_i - r_0),
    # i.e. how much less (> 0) or more (< 0) the model loses with noise than the reference,
    # summed over the levels; level index 0 is the clean anchor. Raw, not min-max normalised.
    c = torch.as_tensor(curve, dtype=torch.float64)
    r = torch.as_tensor(reference, dtype=torch.float64)
    return round(float(((c - c[0]) - (r - r[0])).sum()), 12)


# ----------------------------------------------------------------------------------------------
# the result
# ----------------------------------------------------------------------------------------------


PatternKey: TypeAlias = str | Mapping[str, bool]


@dataclass(frozen=True)
class RobustnessResult:
    """The scores of one predictor on a robustness grid (one confusion matrix per cell).

    Args:
        modalities: the modality names, in pattern order.
        families: the noise family names.
        levels: the severity levels, increasing; the first is the clean anchor (normally 0).
        patterns: the presence patterns ({modality: present}).
        metrics: the metric names reported by default (from :data:`METRICS`).
        confusion: per cell confusion matrices (rows = true class, columns = prediction).
        seed: the seed of the frozen corruptions.
        num_examples: test examples per cell.
        device: the device type the corruptions were drawn on (noise is reproducible per type).
        family_configs: ``to_config()`` of each family when it has one (provenance).

    Shape:
        confusion: (P, F, L, C, C) int64 for P patterns, F families, L levels, C classes.

    Example:
        >>> r = RobustnessResult(("a",), ("gain",), (0.0, 1.0), ({"a": True},), ("WA",),
        ...                      torch.tensor([[[[[2, 0], [0, 2]], [[2, 0], [2, 0]]]]]), 0, 4)
        >>> r.curve("WA", family="gain").tolist(), r.relative_robustness(family="gain")
        ([1.0, 0.5], 0.75)
    """

    modalities: tuple[str, ...]
    families: tuple[str, ...]
    levels: tuple[float, ...]
    patterns: tuple[dict[str, bool], ...]
    metrics: tuple[str, ...]
    confusion: Tensor
    seed: int
    num_examples: int
    device: str = "cpu"
    family_configs: dict[str, Any] = field(default_factory=dict)

    # -- lookup ------------------------------------------------------------------------------
    @property
    def pattern_names(self) -> list[str]:
        """Short names of the patterns: the modality's initial if present, ``z`` if missing."""
        return [condition_name(p) for p in self.patterns]

    def _pattern_index(self, pattern: PatternKey) -> int:
        who = "RobustnessResult"
        if isinstance(pattern, str) and pattern == _FULL:
            pattern = {m: True for m in self.modalities}
        if isinstance(pattern, str):
            names = self.pattern_names
            if names.count(pattern) == 1:
                return names.index(pattern)
            raise KeyError(
                f"{who}: unknown pattern {pattern!r}; expected one of {names}, 'full', 'pooled' "
                "or a {modality: present} dict."
            )
        for i, p in enumerate(self.patterns):
            if dict(pattern) == p:
                return i
        raise KeyError(
            f"{who}: pattern {dict(pattern)} is not in the grid (patterns: {self.pattern_names})."
        )

    def _family_index(self, family: str | None) -> int:
        if family is None:
            if len(self.families) == 1:
                return 0
            raise ValueError(
                f"RobustnessResult: expected family= one of {list(self.families)} (the grid has "
                "several), got None."
            )
        if family not in self.families:
            raise KeyError(
                f"RobustnessResult: unknown family {family!r}; expected one of "
                f"{list(self.families)}."
            )
        return self.families.index(family)

    def _cm(self, pattern: PatternKey) -> Tensor:
        """Return the (F, L, C, C) matrices of one pattern, or summed over all ('pooled')."""
        if isinstance(pattern, str) and pattern == _POOLED:
            return self.confusion.sum(dim=0)
        return self.confusion[self._pattern_index(pattern)]

    @staticmethod
    def _check_metric(metric: str) -> Callable[[Tensor], float]:
        if metric not in CONFUSION_METRICS:
            raise ValueError(
                f"RobustnessResult: unknown metric {metric!r}; expected one of {list(METRICS)}."
            )
        return CONFUSION_METRICS[metric]

    # -- scores ------------------------------------------------------------------------------
    def scores(self, metric: str = "WA") -> Tensor:
        """Return the metric of every cell.

        Shape:
            Output: (P, F, L) float64.
        """
        fn = self._check_metric(metric)
        p, f, lv = self.confusion.shape[:3]
        flat = [fn(cm) for cm in self.confusion.reshape(p * f * lv, *self.confusion.shape[3:])]
        return torch.tensor(flat, dtype=torch.float64).reshape(p, f, lv)

    def curve(
        self, metric: str = "WA", *, family: str | None = None, pattern: PatternKey = _FULL
    ) -> Tensor:
        """Return the metric against level for one family and pattern.

        Args:
            metric: ``"WA"``, ``"UA"`` or ``"F1"``.
            family: the family name (may be omitted when the grid has one).
            pattern: a pattern dict, its short name (``"azt"``), ``"full"`` (every modality
                present) or ``"pooled"`` (all patterns' predictions pooled, MMIN's "total").

        Shape:
            Output: (L,) float64.
        """
        fn = self._check_metric(metric)
        cms = self._cm(pattern)[self._family_index(family)]
        return torch.tensor([fn(cm) for cm in cms], dtype=torch.float64)

    def relative_robustness(
        self, metric: str = "WA", *, family: str | None = None, pattern: PatternKey = _FULL
    ) -> float:
        """Return MultiBench's relative robustness: the area under the metric-vs-level curve.

        Trapezoid rule over the levels (MultiBench: levels 0, 0.1, ..., 1). With levels spanning
        [0, 1] and a metric in [0, 1] it lies in [0, 1]; higher is better.
        """
        levels = torch.tensor(self.levels, dtype=torch.float64)
        return relative_robustness(self.curve(metric, family=family, pattern=pattern), levels)

    def effective_robustness(
        self,
        reference: RobustnessResult,
        metric: str = "WA",
        *,
        family: str | None = None,
        pattern: PatternKey = _FULL,
    ) -> float:
        """Return MultiBench's effective robustness against a reference model's result.

        ``sum_i (f_i - f_0) - (r_i - r_0)`` over the levels (f: this model, r: the reference,
        index 0 the clean level): > 0 means this model loses less under noise than the reference
        once the difference in clean score is taken out. The reference must share the levels.

        Raises:
            ValueError: the two results have different levels.
        """
        if tuple(reference.levels) != tuple(self.levels):
            raise ValueError(
                f"RobustnessResult.effective_robustness: expected the reference on the same "
                f"levels {list(self.levels)}, got {list(reference.levels)}; evaluate both with "
                "one RobustnessGrid."
            )
        mine = self.curve(metric, family=family, pattern=pattern)
        theirs = reference.curve(metric, family=family, pattern=pattern)
        return effective_robustness(mine, theirs)

    # -- serialisation -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (confusions plus every derived score)."""
        names = self.pattern_names
        scores: dict[str, Any] = {}
        for metric in self.metrics:
            s = self.scores(metric)
            per = {
                names[i]: {fam: s[i, j].tolist() for j, fam in enumerate(self.families)}
                for i in range(len(names))
            }
            per[_POOLED] = {
                fam: self.curve(metric, family=fam, pattern=_POOLED).tolist()
                for fam in self.families
            }
            scores[metric] = per
        keys: list[tuple[str, PatternKey]] = [*zip(names, self.patterns, strict=True)]
        keys.append((_POOLED, _POOLED))
        rel = {
            metric: {
                key: {
                    fam: self.relative_robustness(metric, family=fam, pattern=pat)
                    for fam in self.families
                }
                for key, pat in keys
            }
            for metric in self.metrics
        }
        return {
            "format": _FORMAT,
            "seed": self.seed,
            "device": self.device,
            "num_examples": self.num_examples,
            "modalities": list(self.modalities),
            "families": list(self.families),
            "family_configs": self.family_configs,
            "levels": list(self.levels),
            "patterns": [
                {"name": n, "present": p} for n, p in zip(names, self.patterns, strict=True)
            ],
            "metrics": list(self.metrics),
            "scores": scores,
            "relative_robustness": rel,
            "confusion": self.confusion.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RobustnessResult:
        """Rebuild a result from :meth:`to_dict` output.

        Raises:
            ValueError: the dict is not an mmnoise robustness result.
        """
        if not isinstance(data, Mapping) or data.get("format") != _FORMAT:
            raise ValueError(
                f"RobustnessResult.from_dict: expected a dict written by to_dict() (format "
                f"{_FORMAT!r}), got format {data.get('format') if isinstance(data, Mapping) else data!r}."
            )
        return cls(
            modalities=tuple(data["modalities"]),
            families=tuple(data["families"]),
            levels=tuple(float(v) for v in data["levels"]),
            patterns=tuple(
                {str(k): bool(v) for k, v in p["present"].items()} for p in data["patterns"]
            ),
            metrics=tuple(data["metrics"]),
            confusion=torch.tensor(data["confusion"], dtype=torch.int64),
            seed=int(data["seed"]),
            num_examples=int(data["num_examples"]),
            device=str(data.get("device", "cpu")),
            family_configs=dict(data.get("family_configs", {})),
        )

    def to_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as JSON to ``path`` (parent folders are created); return it."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return out

    @classmethod
    def from_json(cls, path: str | Path) -> RobustnessResult:
        """Read a result written by :meth:`to_json`."""
        return cls.from_dict(json.loads(Path(path).read_text()))

    def to_markdown(self, metric: str = "WA", *, reference: RobustnessResult | None = None) -> str:
        """Return a markdown table: one row per (pattern, family), one column per level.

        Values are in percent. ``rel.`` is the relative robustness (area under the curve, x 100:
        the mean score over the level range when it spans [0, 1]); with ``reference`` an ``eff.``
        column gives the effective robustness against it (percentage points). The last rows pool
        the predictions of every pattern.
        """
        self._check_metric(metric)
        head = ["pattern", "family", *[f"{lv:g}" for lv in self.levels], "rel."]
        if reference is not None:
            head.append("eff.")
        rows = [f"{metric} (%) by level", "", _md_row(head), _md_row(["---"] * len(head))]
        keys: list[PatternKey] = [*self.pattern_names, _POOLED]
        for key in keys:
            for fam in self.families:
                c = self.curve(metric, family=fam, pattern=key)
                cells = [str(key), fam, *[f"{100 * v:.1f}" for v in c.tolist()]]
                cells.append(
                    f"{100 * self.relative_robustness(metric, family=fam, pattern=key):.1f}"
                )
                if reference is not None:
                    eff = self.effective_robustness(reference, metric, family=fam, pattern=key)
                    cells.append(f"{100 * eff:+.1f}")
                rows.append(_md_row(cells))
        return "\n".join(rows) + "\n"

    def heatmap(self, path: str | Path, *, metric: str = "WA") -> Path:
        """Save a heatmap PNG (one panel per family: patterns x levels); return the path.

        Raises:
            ImportError: matplotlib is missing or cannot be imported.
        """
        return save_heatmap({"": self}, path, metric=metric)


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def compare_markdown(
    results: Mapping[str, RobustnessResult],
    *,
    metric: str = "WA",
    pattern: PatternKey = _FULL,
    reference: str | None = None,
) -> str:
    """Return one markdown table comparing several models' results, one row per model x family.

    Args:
        results: {model name: result}, all from the same grid.
        metric: ``"WA"``, ``"UA"`` or ``"F1"``.
        pattern: the presence pattern compared (``"full"``, ``"pooled"``, a name or a dict).
        reference: the model the effective robustness is measured against (None: no column).

    Returns:
        The table (values in percent; ``eff.`` in percentage points).

    Raises:
        KeyError: ``reference`` is not a key of ``results``.

    Example:
        >>> r = RobustnessResult(("a",), ("gain",), (0.0, 1.0), ({"a": True},), ("WA",),
        ...                      torch.tensor([[[[[2, 0], [0, 2]], [[2, 0], [2, 0]]]]]), 0, 4)
        >>> print(compare_markdown({"m": r}, reference="m").splitlines()[-1])
        | m | gain | 100.0 | 50.0 | 75.0 | +0.0 |
    """
    if not results:
        raise ValueError("compare_markdown: expected at least one result, got none.")
    if reference is not None and reference not in results:
        raise KeyError(
            f"compare_markdown: reference {reference!r} is not among the results {list(results)}."
        )
    first = next(iter(results.values()))
    head = ["model", "family", *[f"{lv:g}" for lv in first.levels], "rel."]
    if reference is not None:
        head.append(f"eff. vs {reference}")
    rows = [
        f"{metric} (%) by level, pattern {pattern if isinstance(pattern, str) else dict(pattern)}",
        "",
        _md_row(head),
        _md_row(["---"] * len(head)),
    ]
    for name, res in results.items():
        for fam in res.families:
            c = res.curve(metric, family=fam, pattern=pattern)
            cells = [name, fam, *[f"{100 * v:.1f}" for v in c.tolist()]]
            cells.append(
                f"{100 * res.relative_robustness(metric, family=fam, pattern=pattern):.1f}"
            )
            if reference is not None:
                eff = res.effective_robustness(
                    results[reference], metric, family=fam, pattern=pattern
                )
                cells.append(f"{100 * eff:+.1f}")
            rows.append(_md_row(cells))
    return "\n".join(rows) + "\n"


def save_heatmap(
    results: Mapping[str, RobustnessResult], path: str | Path, *, metric: str = "WA"
) -> Path:
    """Save a heatmap PNG of one or several results: one row per result, one column per family.

    Each panel shows the metric (percent) for patterns (rows) x levels (columns).

    Args:
        results: {model name: result}; a single result may use the name ``""``.
        path: the PNG file (parent folders are created).
        metric: ``"WA"``, ``"UA"`` or ``"F1"``.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        ImportError: matplotlib is missing or cannot be imported.
    """
    Figure = import_extra("matplotlib.figure", who="save_heatmap: drawing the heatmap",
                          extra="plot", instead="use to_markdown / to_json").Figure  # fmt: skip
    if not results:
        raise ValueError("save_heatmap: expected at least one result, got none.")
    items = list(results.items())
    n_fam = max(len(r.families) for _, r in items)
    first = items[0][1]
    width = 1.2 + 0.75 * len(first.levels)
    height = 0.9 + 0.32 * len(first.patterns)
    fig = Figure(figsize=(width * n_fam + 1.0, height * len(items)), layout="constrained")
    axes = fig.subplots(len(items), n_fam, squeeze=False)
    image = None
    for row, (name, res) in enumerate(items):
        s = res.scores(metric) * 100
        for col in range(n_fam):
            ax = axes[row][col]
            if col >= len(res.families):
                ax.set_axis_off()
                continue
            data = s[:, col, :].numpy()
            image = ax.imshow(data, vmin=0.0, vmax=100.0, cmap="viridis", aspect="auto")
            ax.set_xticks(range(len(res.levels)), [f"{lv:g}" for lv in res.levels])
            ax.set_yticks(range(len(res.patterns)), res.pattern_names)
            ax.set_xlabel("level")
            title = res.families[col] if not name else f"{name}: {res.families[col]}"
            ax.set_title(title, fontsize=9)
            for i in range(data.shape[0]):
                for j in range(data.shape[1]):
                    v = float(data[i, j])
                    ax.text(
                        j,
                        i,
                        f"{v:.0f}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if v < 60 else "black",
                    )
    if image is not None:
        fig.colorbar(image, ax=axes, label=f"{metric} (%)", shrink=0.8)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    return out


# ----------------------------------------------------------------------------------------------
# the grid
# ----------------------------------------------------------------------------------------------


def _name_id(name: str) -> int:
    # a stable integer for a name (Python's hash of a str is salted per process)
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def _level_id(level: float) -> int:
    return round(level * 1_000_000)


def _to_device(value: Any, device: torch.device) -> Any:
    if isinstance(value, Tensor):
        return value.to(device)
    if isinstance(value, Mapping):
        return {k: _to_device(v, device) for k, v in value.items()}
    return value


def _first_device(batch: Mapping[str, Any]) -> torch.device:
    for v in batch.values():
        if isinstance(v, Tensor):
            return v.device
    raise ValueError(
        f"RobustnessGrid.evaluate: expected a batch with tensors, got keys {sorted(batch)}; "
        "collate with mmnoise.data.pad_collate."
    )


class RobustnessGrid:
    """A frozen robustness grid: presence patterns x noise families x levels, from a seed.

    Build it once and evaluate every model with it: they all see the same noisy test set.
    For each batch, each family and each level the family's pipeline runs once with a generator
    seeded from ``derive_seed(seed, cell_id, batch_index)``, ``cell_id`` a stable hash of the
    family name and the level; then each presence pattern is applied with a
    :class:`~mmnoise.transforms.missing.DropModalities` with that fixed pattern (missing
    modalities filled with ``missing_fill``: zeros as MMIN, or NMER's noised copy with
    ``"nmer"`` / ``"nmer_impulse"`` / a transform, which then runs at the cell's level, so the
    levels 0.2 ... 1.0 of an identity family are NMER's intensities 20 ... 100). The pattern is
    left out of the seed on purpose: every pattern sees the same noise on the modalities it
    keeps, so two patterns differ by the missing modality alone. Noise runs before dropping.

    Args:
        modalities: the modality names the patterns range over.
        families: {name: family}; a family is a pipeline module called as
            ``family(batch, level=..., generator=...)`` or a factory ``f(modalities)`` returning
            one (a transform class works: ``{"gaussian": AddGaussianSNR}``). Default:
            ``{"gaussian": AddGaussianSNR}`` over every modality.
        levels: increasing severities in [0, 1]; the first is the clean anchor of the
            robustness measures (default 0, 0.25, 0.5, 0.75, 1).
        patterns: {modality: present} dicts (default: every non-empty pattern incl. full, 7
            for three modalities).
        seed: the seed of the frozen corruptions.
        metrics: the metrics reported by the result's tables (from :data:`METRICS`).
        label_key: the batch key of the (B,) int64 labels.
        num_classes: number of classes; default: the width of the predicted logits (needed when
            ``predict`` returns class indices).
        missing_fill: the value a missing modality is filled with, or a fill transform
            (``"nmer"``, ``"nmer_impulse"``, :class:`~mmnoise.transforms.nmer.NMERNoise`) run
            at the cell's level (at level 0 it then drops nothing: NMER noise of intensity 0 is
            the clean input).
        missing_level: the level a fill transform runs at in every cell (None: the cell's
            level, NMER's intensity sweep). A model trained with a fixed-intensity fill is
            scored as it was validated with ``missing_level=1.0`` and a fill of that intensity.

    Raises:
        ValueError / TypeError: bad levels, patterns, metrics or families.

    Example:
        >>> from mmnoise.transforms.features import Gain
        >>> grid = RobustnessGrid(modalities=("a",), families={"gain": Gain},
        ...                       levels=(0.0, 0.5, 1.0), num_classes=2)
        >>> batch = {"a": torch.tensor([0.0, 1.0, 0.0, 1.0]).reshape(4, 1, 1),
        ...          "label": torch.tensor([0, 1, 0, 1])}
        >>> predict = lambda s: (s["a"].mean(dim=(1, 2)) > 0.5).long()
        >>> result = grid.evaluate(predict, [batch])
        >>> result.curve("WA", family="gain").tolist()
        [1.0, 0.5, 0.5]
        >>> result.relative_robustness(family="gain")
        0.625
    """

    def __init__(
        self,
        *,
        modalities: Sequence[str] = ("audio", "visual", "text"),
        families: Mapping[str, FamilySpec] | None = None,
        levels: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
        patterns: Sequence[Mapping[str, bool]] | None = None,
        seed: int = 0,
        metrics: Sequence[str] = METRICS,
        label_key: str = "label",
        num_classes: int | None = None,
        missing_fill: float | Literal["nmer", "nmer_impulse"] | NoiseTransform = 0.0,
        missing_level: float | None = None,
    ) -> None:
        who = "RobustnessGrid"
        if isinstance(modalities, str) or not modalities:
            raise ValueError(
                f"{who}: expected modalities as a non-empty list of names, got {modalities!r}."
            )
        self.modalities = tuple(str(m) for m in modalities)
        if len(set(self.modalities)) != len(self.modalities):
            raise ValueError(f"{who}: expected unique modality names, got {self.modalities}.")
        self.levels = _check_levels(levels, who=who)
        if patterns is None:
            pats = list(presence_patterns(self.modalities, include_full=True))
        else:
            pats = [{str(k): bool(v) for k, v in p.items()} for p in patterns]
            for p in pats:
                if set(p) != set(self.modalities) or not any(p.values()):
                    raise ValueError(
                        f"{who}: expected each pattern to name exactly {list(self.modalities)} "
                        f"with at least one present, got {p}."
                    )
            if not pats:
                raise ValueError(f"{who}: expected at least one pattern, got none.")
        self.patterns = tuple({m: p[m] for m in self.modalities} for p in pats)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"{who}: expected seed as an int, got {type(seed).__name__}.")
        self.seed = seed
        bad = [m for m in metrics if m not in CONFUSION_METRICS]
        if bad or not metrics or isinstance(metrics, str):
            raise ValueError(f"{who}: expected metrics among {list(METRICS)}, got {metrics!r}.")
        self.metrics = tuple(metrics)
        self.label_key = label_key
        if num_classes is not None and (
            isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1
        ):
            raise ValueError(f"{who}: expected num_classes as an int >= 1, got {num_classes!r}.")
        self.num_classes = num_classes
        self.missing_fill: Any = (
            float(missing_fill) if isinstance(missing_fill, (int, float)) else missing_fill
        )
        self.missing_level = (
            None
            if missing_level is None
            else check_level_value(
                missing_level, who=who, name="missing_level", fix="pass a float or None."
            )
        )
        specs = {"gaussian": AddGaussianSNR} if families is None else families
        if not isinstance(specs, Mapping) or not specs:
            raise ValueError(
                f"{who}: expected families as a non-empty {{name: transform or factory}}, got "
                f"{specs!r}."
            )
        self.families: dict[str, Any] = {
            str(name): _build_family(spec, self.modalities, name=str(name))
            for name, spec in specs.items()
        }
        self._drops = [
            DropModalities(list(self.modalities), patterns=[p], fill=self.missing_fill)
            for p in self.patterns
        ]

    def cell_seed(self, family: str, level: float, batch_index: int) -> int:
        """Return the seed of the noise of batch ``batch_index`` in cell (family, level)."""
        cell_id = derive_seed(_name_id(family), _level_id(level))
        return derive_seed(self.seed, cell_id, batch_index)

    def corrupt(
        self,
        batch: Sample,
        *,
        family: str,
        level: float,
        pattern: Mapping[str, bool] | None = None,
        batch_index: int = 0,
    ) -> Sample:
        """Return the frozen noisy version of ``batch`` for one cell (what ``predict`` sees).

        Args:
            batch: a clean batch, already on its device.
            family: the family name.
            level: a severity in [0, 1].
            pattern: the presence pattern (default: nothing dropped).
            batch_index: the batch's position in the loader.
        """
        if family not in self.families:
            raise KeyError(
                f"RobustnessGrid.corrupt: unknown family {family!r}; expected one of "
                f"{list(self.families)}."
            )
        device = _first_device(batch)
        g = make_generator(self.cell_seed(family, level, batch_index), device)
        noisy = self._noise(batch, family, level, g)
        if pattern is None:
            return noisy
        drop = DropModalities(
            list(self.modalities), patterns=[dict(pattern)], fill=self.missing_fill
        )
        return self._drop(drop, noisy, g, level)

    def _noise(self, batch: Sample, family: str, level: float, g: torch.Generator) -> Sample:
        out = self.families[family](dict(batch), level=float(level), generator=g)
        if not isinstance(out, Mapping):
            raise TypeError(
                f"RobustnessGrid: family {family!r} returned {type(out).__name__}, expected the "
                "sample dict; a family is a pipeline(sample, *, level, generator) -> dict."
            )
        return dict(out)

    def _drop(
        self, drop: DropModalities, sample: Sample, g: torch.Generator, level: float
    ) -> Sample:
        # a value fill: level 1 opens DropModalities' gate (the pattern is fixed, no draw
        # matters); a fill transform (NMER's noise) runs at the cell's level
        if isinstance(self.missing_fill, float):
            lv = 1.0
        else:
            lv = float(level) if self.missing_level is None else self.missing_level
        out: Sample = drop(sample, level=lv, generator=g, check_finite=False)
        return out

    def evaluate(
        self,
        predict: Predict,
        loader: Iterable[Sample],
        *,
        device: torch.device | str | None = None,
    ) -> RobustnessResult:
        """Score ``predict`` on every cell of the grid; iterates ``loader`` once.

        Put the model in eval mode before: the harness only calls ``predict`` (under
        ``torch.no_grad()``).

        Args:
            predict: ``predict(batch) -> (B, C) logits or (B,) class indices``.
            loader: the test batches in the sample format (same order every run).
            device: where batches and noise go (default: where each batch already is).

        Returns:
            The :class:`RobustnessResult`.

        Raises:
            ValueError / KeyError / TypeError: empty loader, missing labels, a predict output of
                the wrong shape or class indices out of range.
        """
        who = "RobustnessGrid.evaluate"
        dev = torch.device(device) if device is not None else None
        reader = PredictionReader(predict, num_classes=self.num_classes, who=who)
        shape = (len(self.patterns), len(self.families), len(self.levels))
        counts: Tensor | None = None  # the (P, F, L, C, C) counts, once the classes are known
        n_examples = 0
        dev_type = "cpu"

        def groups() -> Iterator[Callable[[], Iterator[tuple[_CellKey, tuple[Sample, Tensor]]]]]:
            nonlocal n_examples, dev_type
            # the loader is read once: every (family, level) group of a batch, then the next
            for b_idx, raw in enumerate(loader):
                if not isinstance(raw, Mapping):
                    raise TypeError(f"{who}: expected batches as dicts, got {type(raw).__name__}.")
                batch = _to_device(raw, dev) if dev is not None else dict(raw)
                labels = self._labels(batch, who)
                b_dev = _first_device(batch)
                dev_type = b_dev.type
                n_examples += int(labels.shape[0])
                for j, fam in enumerate(self.families):
                    for k, level in enumerate(self.levels):
                        yield functools.partial(
                            self._cells, batch, labels, b_dev, b_idx, (j, fam), (k, level)
                        )

        def score(key: _CellKey, inputs: tuple[Sample, Tensor], preds: Tensor, _: float) -> None:
            nonlocal counts
            labels, c = inputs[1], reader.num_classes
            assert c is not None  # classification always knows its classes
            top, low = int(max(int(preds.max()), int(labels.max()))), int(labels.min())
            if top >= c or low < 0:
                raise ValueError(
                    f"{who}: expected class indices in [0, {c}), got up to {top}; check "
                    "num_classes and the labels."
                )
            if counts is None:
                counts = torch.zeros(*shape, c, c, dtype=torch.int64)
            cm = confusion_matrix(preds.to(labels.device), labels, num_classes=c)
            counts[key] += cm.cpu()

        with torch.no_grad():
            evaluate_cells(
                groups(),
                reader=reader,
                batches=lambda inputs: [(inputs[0], int(inputs[1].shape[0]))],
                score=score,
            )
        if counts is None:
            raise ValueError(f"{who}: the loader yielded no batches; pass the test loader.")
        configs = {
            name: fam.to_config()
            for name, fam in self.families.items()
            if callable(getattr(fam, "to_config", None))
        }
        return RobustnessResult(
            modalities=self.modalities,
            families=tuple(self.families),
            levels=self.levels,
            patterns=self.patterns,
            metrics=self.metrics,
            confusion=counts,
            seed=self.seed,
            num_examples=n_examples,
            device=dev_type,
            family_configs=configs,
        )

    def _labels(self, batch: Mapping[str, Any], who: str) -> Tensor:
        if self.label_key not in batch:
            raise KeyError(
                f"{who}: the batch has no {self.label_key!r} entry (keys: {sorted(batch)}); pass "
                "label_key= naming the labels."
            )
        labels = batch[self.label_key]
        if (
            not isinstance(labels, Tensor)
            or labels.ndim != 1
            or labels.is_floating_point()
            or labels.dtype == torch.bool
        ):
            got = f"{labels.dtype} {tuple(labels.shape)}" if isinstance(labels, Tensor) else labels
            raise TypeError(
                f"{who}: expected batch[{self.label_key!r}] as (B,) int64 class indices, got "
                f"{got!r:.60}."
            )
        return labels.long()

    def _cells(
        self,
        batch: Sample,
        labels: Tensor,
        device: torch.device,
        batch_index: int,
        family: tuple[int, str],
        level: tuple[int, float],
    ) -> Iterator[tuple[_CellKey, tuple[Sample, Tensor]]]:
        """The cells of one batch under one (family, level): noise once, then each pattern."""
        (j, fam), (k, lv) = family, level
        g = make_generator(self.cell_seed(fam, lv, batch_index), device)
        noisy = self._noise(batch, fam, lv, g)
        for i, drop in enumerate(self._drops):  # built one after another: one noisy copy at a time
            yield (i, j, k), (self._drop(drop, noisy, g, lv), labels)


def _check_levels(levels: Sequence[float], *, who: str) -> tuple[float, ...]:
    if isinstance(levels, str) or not isinstance(levels, Sequence) or not levels:
        raise ValueError(f"{who}: expected levels as a non-empty list of floats, got {levels!r}.")
    fix = "levels are strictly increasing severities, the first the clean anchor (normally 0)."
    out = tuple(check_level_value(v, who=who, name=f"levels[{i}]", fix=fix)
                for i, v in enumerate(levels))  # fmt: skip
    if any(a >= b for a, b in itertools.pairwise(out)):
        raise ValueError(
            f"{who}: expected strictly increasing levels in [0, 1] (the first is the clean "
            f"anchor, normally 0), got {list(levels)}."
        )
    return out


def _build_family(spec: Any, modalities: tuple[str, ...], *, name: str) -> Any:
    who = "RobustnessGrid"
    if isinstance(spec, nn.Module):
        return spec
    if not callable(spec):
        raise TypeError(
            f"{who}: expected family {name!r} as a transform / pipeline module or a factory "
            f"f(modalities) -> pipeline, got {type(spec).__name__}."
        )
    built = spec(modalities)
    if not callable(built):
        raise TypeError(
            f"{who}: the factory of family {name!r} returned {type(built).__name__}, expected a "
            "pipeline(sample, *, level, generator) -> dict."
        )
    return built


def evaluate_robustness(
    predict: Predict,
    loader: Iterable[Sample],
    *,
    modalities: Sequence[str] = ("audio", "visual", "text"),
    families: Mapping[str, FamilySpec] | None = None,
    levels: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
    patterns: Sequence[Mapping[str, bool]] | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
    metrics: Sequence[str] = METRICS,
    label_key: str = "label",
    num_classes: int | None = None,
    missing_fill: float | Literal["nmer", "nmer_impulse"] | NoiseTransform = 0.0,
) -> RobustnessResult:
    """Score ``predict`` on a frozen robustness grid (a one-call :class:`RobustnessGrid`).

    Args:
        predict: ``predict(batch) -> (B, C) logits or (B,) class indices`` (model in eval mode).
        loader: the test batches (fixed order).
        modalities: the modality names the presence patterns range over.
        families: {name: transform, pipeline or factory}; default Gaussian noise at an SNR.
        levels: increasing severities in [0, 1], the first the clean anchor.
        patterns: presence patterns (default: all 2^M - 1, incl. full).
        seed: the seed of the frozen corruptions.
        device: where batches and noise go (default: where the batches are).
        metrics: metric names for the tables (``WA``, ``UA``, ``F1``).
        label_key: the batch key of the labels.
        num_classes: needed when ``predict`` returns class indices.
        missing_fill: zeros, or NMER's noise at the cell's level (see :class:`RobustnessGrid`).

    Returns:
        The :class:`RobustnessResult` (``to_markdown``, ``to_json``, ``heatmap``, robustness
        measures).

    Example:
        >>> from mmnoise.transforms.features import Gain
        >>> batch = {"a": torch.tensor([0.0, 1.0]).reshape(2, 1, 1), "label": torch.tensor([0, 1])}
        >>> logits = lambda s: torch.cat([0.5 - s["a"][:, 0], s["a"][:, 0] - 0.5], dim=1)
        >>> r = evaluate_robustness(logits, [batch], modalities=("a",), families={"gain": Gain},
        ...                         levels=(0.0, 1.0))
        >>> r.curve("WA", family="gain").tolist()
        [1.0, 0.5]
    """
    grid = RobustnessGrid(
        modalities=modalities,
        families=families,
        levels=levels,
        patterns=patterns,
        seed=seed,
        metrics=metrics,
        label_key=label_key,
        num_classes=num_classes,
        missing_fill=missing_fill,
    )
    return grid.evaluate(predict, loader, device=device)
