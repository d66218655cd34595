"""Emotion-recognition metrics: WA, UA, macro-F1 and the confusion matrix (the one implementation).

Written in torch (no scikit-learn dependency) with scikit-learn's semantics, which the MER
papers' numbers use: the classes averaged over are those that occur in the targets *or* the
predictions, and a 0/0 recall, precision or F1 counts as 0.

* WA (weighted accuracy) = overall accuracy.
* UA (unweighted accuracy) = macro-averaged recall.
* F1 = macro-averaged F1, per class 2 TP / (2 TP + FP + FN).

Every score is a function of the confusion matrix (rows = true class, columns = prediction):
``*_from_confusion`` take one, the others build it from class indices. The robustness harness
(:mod:`mmnoise.robustness`) sums confusion matrices per cell; the reference models
(:mod:`reference_models.train`) score predictions per missing condition with
:func:`metrics_by_condition`, whose pooled "total" is computed on the concatenated set, not as
the mean of the per-condition numbers (MMIN issue #7).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor

__all__ = [
    "CONFUSION_METRICS",
    "classification_metrics",
    "confusion_matrix",
    "f1_from_confusion",
    "macro_f1",
    "metrics_by_condition",
    "ua_from_confusion",
    "unweighted_accuracy",
    "wa_from_confusion",
    "weighted_accuracy",
]


def _check(pred: Tensor, target: Tensor, who: str) -> tuple[Tensor, Tensor]:
    pred, target = torch.as_tensor(pred), torch.as_tensor(target)
    if pred.ndim != 1 or pred.shape != target.shape or pred.numel() == 0:
        raise ValueError(
            f"{who}: expected non-empty 1-D predictions and targets of one length, got "
            f"{tuple(pred.shape)} and {tuple(target.shape)}; pass class indices "
            "(logits.argmax(dim=1)), not logits."
        )
    if pred.is_floating_point() or target.is_floating_point():
        raise TypeError(f"{who}: expected integer class indices, got {pred.dtype}, {target.dtype}.")
    if bool((pred < 0).any()) or bool((target < 0).any()):
        raise ValueError(f"{who}: expected class indices >= 0, found a negative one.")
    return pred.long(), target.long().to(pred.device)


def confusion_matrix(pred: Tensor, target: Tensor, *, num_classes: int | None = None) -> Tensor:
    """Return the confusion matrix, rows = true class, columns = predicted class.

    Args:
        pred: predicted class indices.
        target: true class indices.
        num_classes: K; default: the largest index + 1.

    Shape:
        pred, target: (N,) int. Output: (K, K) int64 on ``pred``'s device.

    Raises:
        ValueError: empty or mismatched inputs, negative indices, ``num_classes`` too small.
        TypeError: float inputs (logits instead of indices).

    Example:
        >>> confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 0, 1]))
        tensor([[1, 1],
                [0, 1]])
    """
    pred, target = _check(pred, target, "confusion_matrix")
    top = int(torch.maximum(pred.max(), target.max()))
    k = top + 1 if num_classes is None else int(num_classes)
    if k <= top:
        raise ValueError(
            f"confusion_matrix: num_classes={num_classes} is too small for class index {top}; "
            "raise num_classes."
        )
    return torch.bincount(target * k + pred, minlength=k * k).reshape(k, k)


def _per_class(cm: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Return (tp, support, predicted) over the classes seen in the targets or predictions."""
    cm = cm.double()
    support, predicted = cm.sum(dim=1), cm.sum(dim=0)
    seen = (support + predicted) > 0
    return cm.diagonal()[seen], support[seen], predicted[seen]


def _safe_div(num: Tensor, den: Tensor) -> Tensor:
    # a 0/0 recall, precision or F1 counts as 0 (scikit-learn's zero_division=0)
    return torch.where(den > 0, num / den.clamp(min=1e-300), torch.zeros_like(num))


def wa_from_confusion(cm: Tensor) -> float:
    """Return WA (accuracy) of a (K, K) confusion matrix; NaN when it is empty.

    Example:
        >>> wa_from_confusion(torch.tensor([[1, 1], [0, 2]]))
        0.75
    """
    total = float(cm.sum())
    return float(cm.diagonal().sum()) / total if total > 0 else math.nan


def ua_from_confusion(cm: Tensor) -> float:
    """Return UA (macro recall) of a (K, K) confusion matrix; NaN when it is empty.

    Example:
        >>> ua_from_confusion(torch.tensor([[1, 1], [0, 2]]))
        0.75
    """
    tp, support, _ = _per_class(cm)
    return float(_safe_div(tp, support).mean()) if tp.numel() else math.nan


def f1_from_confusion(cm: Tensor) -> float:
    """Return macro-F1 of a (K, K) confusion matrix; NaN when it is empty.

    Example:
        >>> round(f1_from_confusion(torch.tensor([[1, 1], [0, 2]])), 4)
        0.7333
    """
    tp, support, predicted = _per_class(cm)
    return float(_safe_div(2 * tp, support + predicted).mean()) if tp.numel() else math.nan


#: The scores of a confusion matrix by their report names.
CONFUSION_METRICS: dict[str, Callable[[Tensor], float]] = {
    "WA": wa_from_confusion,
    "UA": ua_from_confusion,
    "F1": f1_from_confusion,
}


def weighted_accuracy(pred: Tensor, target: Tensor) -> float:
    """Return WA, the fraction of correct predictions.

    Example:
        >>> weighted_accuracy(torch.tensor([0, 1, 1, 1]), torch.tensor([0, 1, 0, 0]))
        0.5
    """
    return wa_from_confusion(confusion_matrix(pred, target))


def unweighted_accuracy(pred: Tensor, target: Tensor) -> float:
    """Return UA, the recall averaged over classes (scikit-learn ``recall_score(average="macro")``).

    Example:
        >>> unweighted_accuracy(torch.tensor([0, 1, 1, 1]), torch.tensor([0, 1, 0, 0]))
        0.6666666666666666
    """
    return ua_from_confusion(confusion_matrix(pred, target))


def macro_f1(pred: Tensor, target: Tensor) -> float:
    """Return the F1 averaged over classes (scikit-learn ``f1_score(average="macro")``).

    Per class F1 = 2 TP / (2 TP + FP + FN), 0 when the class never occurs nor is predicted.

    Example:
        >>> macro_f1(torch.tensor([0, 1, 1, 1]), torch.tensor([0, 1, 0, 0]))
        0.5
    """
    return f1_from_confusion(confusion_matrix(pred, target))


def classification_metrics(pred: Tensor, target: Tensor) -> dict[str, float]:
    """Return ``{"wa": ..., "ua": ..., "f1": ...}`` for class-index predictions.

    Example:
        >>> classification_metrics(torch.tensor([0, 1]), torch.tensor([0, 1]))
        {'wa': 1.0, 'ua': 1.0, 'f1': 1.0}
    """
    cm = confusion_matrix(pred, target)
    return {"wa": wa_from_confusion(cm), "ua": ua_from_confusion(cm), "f1": f1_from_confusion(cm)}


def metrics_by_condition(
    results: Mapping[str, tuple[Tensor, Tensor]],
    *,
    pooled: Sequence[str] | None = None,
    pooled_name: str = "total",
) -> dict[str, dict[str, float]]:
    """Return the metrics of every condition plus the pooled metrics of ``pooled`` conditions.

    Args:
        results: {condition name: (predictions, targets)}.
        pooled: the conditions concatenated into the pooled set (default: all of them; the MMIN
            protocol pools the six missing conditions and reports full-modality separately).
        pooled_name: key of the pooled entry.

    Returns:
        {condition: {"wa", "ua", "f1"}} plus ``pooled_name``.

    Raises:
        ValueError: no conditions, or pooled conditions that are not among the results.

    Example:
        >>> r = {"azz": (torch.tensor([0, 0]), torch.tensor([0, 1])),
        ...      "zvz": (torch.tensor([1, 1]), torch.tensor([0, 1]))}
        >>> metrics_by_condition(r)["total"]["ua"]
        0.5
    """
    if not results:
        raise ValueError("metrics_by_condition: expected at least one condition, got none.")
    names = list(results) if pooled is None else list(pooled)
    unknown = [n for n in names if n not in results]
    if unknown or not names:
        raise ValueError(
            f"metrics_by_condition: pooled conditions {unknown or names} are not among the "
            f"results {list(results)}."
        )
    out = {name: classification_metrics(*pt) for name, pt in results.items()}
    pred = torch.cat([torch.as_tensor(results[n][0]).reshape(-1) for n in names])
    target = torch.cat([torch.as_tensor(results[n][1]).reshape(-1) for n in names])
    out[pooled_name] = classification_metrics(pred, target)
    return out
