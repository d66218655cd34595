"""WA / UA / macro-F1, per missing condition and pooled, as AIM3-RUC/MMIN (there: issue #7).

The implementation is :mod:`mmnoise.metrics` (one for the whole project, shared with the
robustness harness); these names are re-exported here for the reference models' users.
"""

from __future__ import annotations

from mmnoise.metrics import (
    classification_metrics,
    confusion_matrix,
    macro_f1,
    metrics_by_condition,
    unweighted_accuracy,
    weighted_accuracy,
)

__all__ = [
    "classification_metrics",
    "confusion_matrix",
    "macro_f1",
    "metrics_by_condition",
    "unweighted_accuracy",
    "weighted_accuracy",
]
