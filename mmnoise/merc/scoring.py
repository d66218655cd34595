"""MER-C scores as papers report them, from a report card's per-cell confusion matrices.

Formulas (``docs/mer-c.md`` has them with citations). With ``E^f_{c,s}`` the error (1 - WA)
of model f on family c at severity s (s = 1..5, full condition) and ``E^f_clean`` its clean
error, and R the reference model (the suite's baseline):

* corruption error (Hendrycks & Dietterich, ICLR 2019): ``CE_c = sum_s E^f_{c,s} / sum_s E^R_{c,s}``;
  ``mCE`` = mean of ``CE_c`` over the test corruption families;
* relative CE: ``sum_s (E^f_{c,s} - E^f_clean) / sum_s (E^R_{c,s} - E^R_clean)``; relative mCE;
* area under the accuracy-severity curve (MultiBench's relative robustness, Liang et al. 2021):
  trapezoid over x = 0, 0.2, ..., 1 (clean, severities 1..5) of WA;
* effective robustness (MultiBench, after Taori et al. 2020): ``sum_s (f_s - f_0) - (r_s - r_0)``
  over the severities, WA (the one :func:`mmnoise.robustness.effective_robustness`, which the
  robustness grid uses too).

A sentiment card (``task="regression"``, MOSI / MOSEI) scores each cell with
:func:`mmnoise.metrics.sentiment_metrics`; its error is the MAE (CE divides MAEs) and its curves
are ``Acc-2_non0``. :func:`bootstrap` gives confidence intervals over the test items from the
cards' per-item predictions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from mmnoise.metrics import CONFUSION_METRICS, confusion_matrix, sentiment_metrics
from mmnoise.rng import Key, randint
from mmnoise.robustness import effective_robustness, relative_robustness

__all__ = [
    "area_under_curve",
    "bootstrap",
    "bootstrap_difference",
    "card_metrics",
    "cell_metrics",
    "corruption_errors",
    "curve_metric",
    "effective_robustness",
    "error_curve",
    "family_curve",
    "mce",
]

SEVERITIES = (1, 2, 3, 4, 5)


def cell_metrics(confusion: Sequence[Sequence[int]] | Tensor) -> dict[str, float]:
    """Return WA, UA and macro-F1 of one confusion matrix (rows true, columns predicted).

    Example:
        >>> cell_metrics([[2, 0], [1, 1]])
        {'WA': 0.75, 'UA': 0.75, 'F1': 0.7333333333333334}
    """
    cm = torch.as_tensor(confusion, dtype=torch.int64)
    return {name: fn(cm) for name, fn in CONFUSION_METRICS.items()}


def _regression(card: Mapping[str, Any]) -> bool:
    return bool(card.get("task", "classification") == "regression")


def curve_metric(card: Mapping[str, Any]) -> str:
    """The metric of a card's curves: ``"WA"``, or ``"Acc-2_non0"`` for a sentiment card.

    Example:
        >>> curve_metric({"task": "regression"}), curve_metric({})
        ('Acc-2_non0', 'WA')
    """
    return "Acc-2_non0" if _regression(card) else "WA"


def card_metrics(card: Mapping[str, Any], key: str) -> dict[str, float] | None:
    """Every metric of the cell ``key`` of a card (None when the cell is not in it).

    Classification: WA / UA / F1 of its confusion matrix; regression: the sentiment metrics of
    its per-item predictions against the card's labels.

    Example:
        >>> card_metrics({"cells": {"k": {"confusion": [[1, 0], [0, 1]]}}}, "k")["WA"]
        1.0
        >>> card_metrics({"cells": {}}, "k") is None
        True
    """
    cell = card["cells"].get(key)
    if cell is None:
        return None
    if _regression(card):
        return sentiment_metrics(torch.tensor(cell["pred"]), torch.tensor(card["labels"]))
    if "confusion" not in cell:  # predictions only: their confusion matrix
        k = card.get("num_classes")
        pred, labels = torch.tensor(cell["pred"]), torch.tensor(card["labels"])
        return cell_metrics(confusion_matrix(pred, labels, num_classes=k))
    return cell_metrics(cell["confusion"])


def _metric(card: Mapping[str, Any], key: str, metric: str) -> float:
    m = card_metrics(card, key)
    return math.nan if m is None else m[metric]


def family_curve(
    card: Mapping[str, Any], family: str, *, condition: str = "full", metric: str = "WA"
) -> list[float]:
    """Return [clean, severity 1, ..., severity 5] of ``metric`` for one family and condition.

    Example:
        >>> card = {"cells": {"clean/0/full": {"confusion": [[1, 0], [0, 1]]}}}
        >>> family_curve(card, "impulse")[:2]
        [1.0, nan]
    """
    clean = _metric(card, f"clean/0/{condition}", metric)
    return [clean] + [_metric(card, f"{family}/{s}/{condition}", metric) for s in SEVERITIES]


def error_curve(card: Mapping[str, Any], family: str, *, condition: str = "full") -> list[float]:
    """[clean, s1..s5] errors of a family: 1 - WA, or the MAE of a sentiment card.

    Example:
        >>> error_curve({"cells": {"clean/0/full": {"confusion": [[1, 0], [1, 0]]}}}, "f")[0]
        0.5
    """
    if _regression(card):
        return family_curve(card, family, condition=condition, metric="MAE")
    return [1.0 - v for v in family_curve(card, family, condition=condition)]


def area_under_curve(curve: Sequence[float]) -> float:
    """Trapezoid area of a [clean, s1..s5] curve over x = 0, 0.2, ..., 1.

    Example:
        >>> area_under_curve([1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
        1.0
    """
    return relative_robustness(curve, torch.linspace(0.0, 1.0, len(curve), dtype=torch.float64))


def corruption_errors(
    card: Mapping[str, Any], reference: Mapping[str, Sequence[float]], family: str
) -> tuple[float, float]:
    """Return (CE, relative CE) of one family against the reference's [clean, s1..s5] errors.

    Example:
        >>> card = {"cells": {}}
        >>> corruption_errors(card, {"f": [0.1] * 6}, "f")[0] != corruption_errors(
        ...     card, {"f": [0.1] * 6}, "f")[0]  # no cells: NaN
        True
    """
    mine = error_curve(card, family)
    ref = list(reference[family])
    ce = sum(mine[1:]) / sum(ref[1:]) if sum(ref[1:]) > 0 else math.nan
    den = sum(r - ref[0] for r in ref[1:])
    rel = sum(e - mine[0] for e in mine[1:]) / den if den > 0 else math.nan
    return ce, rel


def mce(values: Sequence[float]) -> float:
    """Mean over families (NaN if any family is missing).

    Example:
        >>> mce([0.5, 1.5])
        1.0
    """
    return sum(values) / len(values) if values else math.nan


def _resample_weights(n: int, replicates: int, seed: int) -> Tensor:
    """(R, N) counts of each item in R bootstrap resamples of N items (Philox, frozen)."""
    key = Key(seed)
    idx = randint(0, n, (replicates, n), generator=key)
    w = torch.zeros(replicates, n, dtype=torch.float64)
    return w.scatter_add_(1, idx, torch.ones_like(idx, dtype=torch.float64))


def _per_item_error(card: Mapping[str, Any], key: str) -> Tensor | None:
    cell = card["cells"].get(key)
    if cell is None or "pred" not in cell:
        return None
    pred, label = torch.tensor(cell["pred"]), torch.tensor(card["labels"])
    if _regression(card):
        return (pred.double() - label.double()).abs()
    return (pred != label).double()


def _replicate_errors(card: Mapping[str, Any], keys: Sequence[str], w: Tensor) -> dict[str, Tensor]:
    """{cell key: (R,) resampled error (1 - WA, or MAE)} for the cells with predictions."""
    out: dict[str, Tensor] = {}
    for key in keys:
        e = _per_item_error(card, key)
        if e is not None:
            out[key] = (w @ e) / w.sum(dim=1)
    return out


def _interval(values: Tensor, level: float) -> list[float]:
    v = values[~torch.isnan(values)]
    if v.numel() == 0:
        return [math.nan, math.nan]
    a = (1.0 - level) / 2
    q = torch.quantile(v, torch.tensor([a, 1.0 - a], dtype=torch.float64))
    return [float(q[0]), float(q[1])]


def _family_keys(family: str) -> list[str]:
    return [f"{family}/{s}/full" for s in (0, *SEVERITIES)]


def _ce_replicates(
    mine: Mapping[str, Tensor], ref: Mapping[str, Tensor], family: str
) -> tuple[Tensor, Tensor] | None:
    keys = [f"{family}/{s}/full" for s in SEVERITIES]
    if not all(k in mine and k in ref for k in keys) or "clean/0/full" not in mine:
        return None
    fm, fr = torch.stack([mine[k] for k in keys]), torch.stack([ref[k] for k in keys])
    c_m, c_r = mine["clean/0/full"], ref["clean/0/full"]
    ce = fm.sum(0) / fr.sum(0)
    rel = (fm - c_m).sum(0) / (fr - c_r).sum(0)
    return ce, rel


def _mce_replicates(
    card: Mapping[str, Any],
    reference: Mapping[str, Any],
    families: Sequence[str],
    w: Tensor,
) -> tuple[Tensor, Tensor] | None:
    keys = ["clean/0/full", *(f"{f}/{s}/full" for f in families for s in SEVERITIES)]
    mine, ref = _replicate_errors(card, keys, w), _replicate_errors(reference, keys, w)
    ces = [_ce_replicates(mine, ref, f) for f in families]
    if not families or any(c is None for c in ces):
        return None
    both = [c for c in ces if c is not None]
    return torch.stack([c[0] for c in both]).mean(0), torch.stack([c[1] for c in both]).mean(0)


def bootstrap(
    card: Mapping[str, Any],
    *,
    families: Sequence[str],
    mce_families: Sequence[str] = (),
    reference: Mapping[str, Any] | None = None,
    extra: Sequence[str] = (),
    replicates: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Percentile bootstrap confidence intervals over the test items, from per-item predictions.

    Each replicate resamples the N test items with replacement (the same resample for every
    cell and for the reference: a paired bootstrap, so CE, which divides one model's errors by
    the other's on the same items, keeps its pairing). The draws come from a Philox
    :class:`mmnoise.rng.Key` of ``seed``: the intervals are frozen too. The statistic per cell
    is the error the scores are built from (1 - WA, or the MAE of a sentiment card); the
    curves' intervals are given in the curve's metric for classification (WA) and as MAE for
    sentiment.

    Args:
        card: a card with per-item predictions (``pred`` in each cell; cards written before
            MER-C v2 have none and get no intervals).
        families: the families (or ``family@modality``) whose curves get intervals.
        mce_families: the families mCE averages (with ``reference``).
        reference: the reference model's card (same suite and data) for CE / mCE intervals.
        extra: further cell keys (missing-rate rows) to give intervals.
        replicates: the number of resamples R.
        seed: the seed of the resamples.
        level: the coverage of the intervals.

    Returns:
        ``{"replicates", "seed", "level", "curves": {family: [[lo, hi] x 6]}, "cells": {key:
        [lo, hi]}, "ce": {family: [lo, hi]}, "relative_ce": {...}, "mCE": [lo, hi],
        "relative_mCE": [lo, hi]}`` (CE entries only with a reference and predictions).

    Example:
        >>> card = {"labels": [0, 1, 1, 0], "cells": {
        ...     "clean/0/full": {"pred": [0, 1, 1, 0]}, "f/1/full": {"pred": [0, 1, 0, 0]}}}
        >>> ci = bootstrap(card, families=["f"], replicates=200)
        >>> ci["curves"]["f"][0], ci["curves"]["f"][1][1]
        ([1.0, 1.0], 1.0)
    """
    labels = card.get("labels")
    out: dict[str, Any] = {"replicates": replicates, "seed": seed, "level": level}
    out.update(curves={}, cells={}, ce={}, relative_ce={})
    if not labels:
        return out
    w = _resample_weights(len(labels), replicates, seed)
    keys = list(dict.fromkeys(["clean/0/full", *extra]))
    for f in families:
        keys += _family_keys(f)[1:]
    mine = _replicate_errors(card, keys, w)
    ref = _replicate_errors(reference, keys, w) if reference is not None else {}

    def shown(e: Tensor) -> Tensor:
        return e if _regression(card) else 1.0 - e

    for key in extra:
        if key in mine:
            out["cells"][key] = _interval(shown(mine[key]), level)
    for f in families:
        out["curves"][f] = [
            _interval(shown(mine[k]), level) if k in mine else [math.nan, math.nan]
            for k in ["clean/0/full", *_family_keys(f)[1:]]
        ]
        pair = _ce_replicates(mine, ref, f) if ref else None
        if pair is not None:
            out["ce"][f], out["relative_ce"][f] = (_interval(v, level) for v in pair)
    if reference is not None:
        both = _mce_replicates(card, reference, list(mce_families), w)
        if both is not None:
            out["mCE"], out["relative_mCE"] = (_interval(v, level) for v in both)
    return out


def bootstrap_difference(
    card: Mapping[str, Any],
    other: Mapping[str, Any],
    reference: Mapping[str, Any],
    *,
    families: Sequence[str],
    replicates: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Paired bootstrap interval of ``mCE(card) - mCE(other)`` (both against ``reference``).

    The same resamples of the test items score both models and the reference, so the
    interval is that of the difference itself, narrower than the two mCE intervals side by
    side. ``inside`` says whether 0 lies in it: a difference the test set cannot tell from
    noise.

    Returns:
        ``{"mCE": [difference, lo, hi], "relative_mCE": [...], "inside": {"mCE": bool,
        "relative_mCE": bool}}``, or ``{}`` when a card lacks predictions or a family.

    Example:
        >>> ref = {"labels": [0, 1], "cells": {"clean/0/full": {"pred": [0, 1]},
        ...        **{f"f/{s}/full": {"pred": [1, 1]} for s in range(1, 6)}}}
        >>> bootstrap_difference(ref, ref, ref, families=["f"], replicates=50)["inside"]
        {'mCE': True, 'relative_mCE': True}
    """
    w = _resample_weights(len(reference["labels"]), replicates, seed)
    a = _mce_replicates(card, reference, families, w)
    b = _mce_replicates(other, reference, families, w)
    if a is None or b is None:
        return {}
    out: dict[str, Any] = {"inside": {}}
    for i, name in enumerate(("mCE", "relative_mCE")):
        d = a[i] - b[i]
        lo, hi = _interval(d, level)
        point = _point_mce(card, reference, families, i) - _point_mce(other, reference, families, i)
        out[name] = [point, lo, hi]
        out["inside"][name] = bool(lo <= 0.0 <= hi) if not math.isnan(lo) else True
    return out


def _point_mce(
    card: Mapping[str, Any], reference: Mapping[str, Any], families: Sequence[str], which: int
) -> float:
    ref = {f: error_curve(reference, f) for f in families}
    return mce([corruption_errors(card, ref, f)[which] for f in families])
