"""WA / UA / macro-F1, per missing condition and pooled (research/seed_models.md sections 0.5, 2.6).

Written in torch (no scikit-learn dependency) with scikit-learn's semantics, which the upstream
numbers use: the classes averaged over are those that occur in the targets *or* the
predictions, and a 0/0 recall, precision or F1 counts as 0.

* WA (weighted accuracy) = overall accuracy.
* UA (unweighted accuracy) = macro-averaged recall.
* F1 = macro-averaged F1.

The pooled "total" of the six MMIN conditions is computed on the concatenated 6x set, not as
the mean of the per-condition numbers (MMIN issue #7).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

__all__ = [
    "classification_metrics",
    "confusion_matrix",
    "macro_f1",
    "metrics_by_condition",
    "unweighted_accuracy",
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
    return pred.long().cpu(), target.long().cpu()


def confusion_matrix(pred: Tensor, target: Tensor, *, num_classes: int | None = None) -> Tensor:
    """Return the confusion matrix, rows = true class, columns = predicted class.

    Shape:
        pred, target: (N,) int. Output: (K, K) int64, K = num_classes or max index + 1.

    Example:
        >>> confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 0, 1]))
        tensor([[1, 1],
                [0, 1]])
    """
    pred, target = _check(pred, target, "confusion_matrix")
    k = int(max(pred.max(), target.max())) + 1 if num_classes is None else num_classes
    if k <= int(max(pred.max(), target.max())):
        raise ValueError(
            f"confusion_matrix: num_classes={num_classes} is too small for class index "
            f"{int(max(pred.max(), target.max()))}; raise num_classes."
        )
    return torch.bincount(target * k + pred, minlength=k * k).reshape(k, k)


def _per_class(pred: Tensor, target: Tensor, who: str) -> tuple[Tensor, Tensor, Tensor]:
    """Return (tp, support, predicted) over the classes seen in target or pred."""
    pred, target = _check(pred, target, who)
    cm = confusion_matrix(pred, target)
    seen = torch.unique(torch.cat([pred, target]))
    cm = cm[seen][:, seen]
    return cm.diagonal().double(), cm.sum(dim=1).double(), cm.sum(dim=0).double()


def _safe_div(num: Tensor, den: Tensor) -> Tensor:
    return torch.where(den > 0, num / den.clamp(min=1), torch.zeros_like(num))


def weighted_accuracy(pred: Tensor, target: Tensor) -> float:
    """Return WA, the fraction of correct predictions.

    Example:
        >>> weighted_accuracy(torch.tensor([0, 1, 1, 1]), torch.tensor([0, 1, 0, 0]))
        0.5
    """
    pred, target = _check(pred, target, "weighted_accuracy")
    return float((pred == target).double().mean())


def unweighted_accuracy(pred: Tensor, target: Tensor) -> float:
    """Return UA, the recall averaged over classes (scikit-learn ``recall_score(average="macro")``).

    Example:
        >>> unweighted_accuracy(torch.tensor([0, 1, 1, 1]), torch.tensor([0, 1, 0, 0]))
        0.6666666666666666
    """
    tp, support, _ = _per_class(pred, target, "unweighted_accuracy")
    return float(_safe_div(tp, support).mean())


def macro_f1(pred: Tensor, target: Tensor) -> float:
    """Return the F1 averaged over classes (scikit-learn ``f1_score(average="macro")``).

    Per class F1 = 2 TP / (2 TP + FP + FN), 0 when the class never occurs nor is predicted.

    Example:
        >>> macro_f1(torch.tensor([0, 1, 1, 1]), torch.tensor([0, 1, 0, 0]))
        0.5
    """
    tp, support, predicted = _per_class(pred, target, "macro_f1")
    return float(_safe_div(2 * tp, support + predicted).mean())


def classification_metrics(pred: Tensor, target: Tensor) -> dict[str, float]:
    """Return ``{"wa": ..., "ua": ..., "f1": ...}`` for class-index predictions.

    Example:
        >>> classification_metrics(torch.tensor([0, 1]), torch.tensor([0, 1]))
        {'wa': 1.0, 'ua': 1.0, 'f1': 1.0}
    """
    return {
        "wa": weighted_accuracy(pred, target),
        "ua": unweighted_accuracy(pred, target),
        "f1": macro_f1(pred, target),
    }


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
