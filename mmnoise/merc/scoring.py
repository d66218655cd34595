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
  over the severities, WA.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from mmnoise.metrics import CONFUSION_METRICS
from mmnoise.robustness import effective_robustness, relative_robustness

__all__ = [
    "area_under_curve",
    "cell_metrics",
    "corruption_errors",
    "effective_robustness",
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


def _metric(card: Mapping[str, Any], key: str, metric: str) -> float:
    cell = card["cells"].get(key)
    return math.nan if cell is None else cell_metrics(cell["confusion"])[metric]


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
    mine = [1.0 - v for v in family_curve(card, family)]
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
