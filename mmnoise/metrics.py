"""Emotion-recognition metrics: WA, UA, macro-F1 and the confusion matrix (the one implementation).

Written in torch (no scikit-learn dependency) with scikit-learn's semantics, which the MER
papers' numbers use: the classes averaged over are those that occur in the targets *or* the
predictions, and a 0/0 recall, precision or F1 counts as 0.

* WA (weighted accuracy) = overall accuracy.
* UA (unweighted accuracy) = macro-averaged recall.
* F1 = macro-averaged F1, per class 2 TP / (2 TP + FP + FN).
* Sentiment (MOSI / MOSEI regression labels in [-3, 3]): :func:`sentiment_metrics`, the scores
  MMSA reports (MAE, Pearson correlation, Acc-2 with and without zeros, F1, Acc-7).

:func:`read_predictions` is the one reader of a ``predict`` function's output (logits, class
indices or regression scores): the robustness grid (:mod:`mmnoise.robustness`) and the MER-C
runner (:mod:`mmnoise.merc`) both go through it, and both score a cell from its predictions with
the functions here.

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
    "SENTIMENT_METRICS",
    "classification_metrics",
    "confusion_matrix",
    "f1_from_confusion",
    "macro_f1",
    "metrics_by_condition",
    "read_predictions",
    "sentiment_metrics",
    "ua_from_confusion",
    "unweighted_accuracy",
    "wa_from_confusion",
    "weighted_accuracy",
    "weighted_f1_from_confusion",
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


def weighted_f1_from_confusion(cm: Tensor) -> float:
    """Return the support-weighted F1 (scikit-learn ``average="weighted"``); NaN when empty.

    The MER2023 / MER2024 challenges' metric (``zeroQiaoba/MERTools``).

    Example:
        >>> round(weighted_f1_from_confusion(torch.tensor([[1, 1], [0, 2]])), 4)
        0.7333
    """
    tp, support, predicted = _per_class(cm)
    total = float(support.sum())
    if total <= 0:
        return math.nan
    return float((_safe_div(2 * tp, support + predicted) * support).sum()) / total


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


def read_predictions(
    out: object, *, batch: int, num_classes: int | None, task: str = "classification", who: str
) -> tuple[Tensor, int | None]:
    """Read one ``predict(batch)`` output as predictions (the harnesses' one reader).

    Classification: (B, C) float logits give ``argmax`` class indices and C classes; (B,)
    integer class indices need ``num_classes``. Regression (``task="regression"``): (B,) or
    (B, 1) float scores, returned as (B,) float64.

    Args:
        out: what ``predict`` returned.
        batch: the batch size B.
        num_classes: the number of classes when known (checked against the logits' width).
        task: ``"classification"`` or ``"regression"``.
        who: the caller, for the error.

    Returns:
        ``(predictions on the CPU, number of classes or None)``.

    Shape:
        out: (B, C), (B,) or (B, 1). Output: (B,).

    Raises:
        ValueError: another shape or dtype, a width that contradicts ``num_classes``, class
            indices without ``num_classes`` or out of range.

    Example:
        >>> read_predictions(torch.tensor([[0.1, 0.9], [2.0, 1.0]]), batch=2, num_classes=None,
        ...                  who="demo")
        (tensor([1, 0]), 2)
        >>> read_predictions(torch.tensor([[0.5], [-1.0]]), batch=2, num_classes=None,
        ...                  task="regression", who="demo")[0]
        tensor([ 0.5000, -1.0000], dtype=torch.float64)
    """
    if not isinstance(out, Tensor) or out.ndim == 0 or out.shape[0] != batch:
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(
            f"{who}: expected predict to return ({batch}, C) logits, ({batch},) class indices "
            f"or ({batch},) regression scores, got {got}."
        )
    if task == "regression":
        if out.is_floating_point() and (out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1)):
            return out.detach().reshape(-1).double().cpu(), None
        raise ValueError(
            f"{who}: task 'regression' expects ({batch},) or ({batch}, 1) float scores from "
            f"predict, got {out.dtype} of shape {tuple(out.shape)}."
        )
    if out.ndim == 2 and out.is_floating_point():
        c = int(out.shape[1])
        if num_classes is not None and c != num_classes:
            raise ValueError(
                f"{who}: predict returned {c} logits per example but num_classes={num_classes}."
            )
        return out.detach().argmax(dim=1).cpu(), c
    if out.ndim == 1 and not out.is_floating_point() and out.dtype != torch.bool:
        if num_classes is None:
            raise ValueError(
                f"{who}: predict returned class indices, so the number of classes is unknown; "
                "pass num_classes=."
            )
        preds = out.detach().long().cpu()
        if preds.numel() and (int(preds.min()) < 0 or int(preds.max()) >= num_classes):
            raise ValueError(
                f"{who}: expected class indices in [0, {num_classes}), got "
                f"[{int(preds.min())}, {int(preds.max())}]; check num_classes."
            )
        return preds, num_classes
    raise ValueError(
        f"{who}: expected (B, C) float logits or (B,) integer class indices from predict, got "
        f"{out.dtype} of shape {tuple(out.shape)}."
    )


#: The sentiment scores :func:`sentiment_metrics` returns, in MMSA's order and names.
SENTIMENT_METRICS: tuple[str, ...] = (
    "MAE",
    "Corr",
    "Acc-2_has0",
    "F1_has0",
    "Acc-2_non0",
    "F1_non0",
    "Acc-7",
)


def _binary_weighted_f1(pred: Tensor, target: Tensor) -> float:
    # scikit-learn f1_score(average="weighted") over the classes {0, 1}
    return weighted_f1_from_confusion(confusion_matrix(pred.long(), target.long(), num_classes=2))


def sentiment_metrics(pred: Tensor, target: Tensor) -> dict[str, float]:
    """The MOSI / MOSEI regression scores as MMSA reports them (``eval_mosei_regression``).

    * ``MAE``: mean absolute error; ``Corr``: Pearson correlation (NaN for a constant input).
    * ``Acc-2_has0`` / ``F1_has0``: negative (< 0) vs non-negative (>= 0), every item;
      ``F1`` is scikit-learn's weighted F1.
    * ``Acc-2_non0`` / ``F1_non0``: negative vs positive on the items whose label is not 0.
    * ``Acc-7``: both clipped to [-3, 3] and rounded to the 7 integers, accuracy.

    Source: ``thuiar/MMSA`` ``src/MMSA/utils/metricsTop.py`` (``__eval_mosei_regression``);
    the same definitions in ``Haoyu-ha/LNLN`` ``core/metric.py``.

    Args:
        pred: predicted sentiment scores.
        target: the labels (floats in [-3, 3]).

    Returns:
        ``{name: value}`` for the names in :data:`SENTIMENT_METRICS`.

    Shape:
        pred, target: (N,) float.

    Raises:
        ValueError: empty or mismatched inputs.

    Example:
        >>> m = sentiment_metrics(torch.tensor([1.2, -0.4, 2.6]), torch.tensor([1.0, -1.0, 3.0]))
        >>> round(m["MAE"], 4), m["Acc-2_non0"], round(m["Acc-7"], 4)
        (0.4, 1.0, 0.6667)
    """
    p = torch.as_tensor(pred).double().reshape(-1)
    t = torch.as_tensor(target).double().reshape(-1).to(p.device)
    if p.numel() == 0 or p.shape != t.shape:
        raise ValueError(
            f"sentiment_metrics: expected non-empty predictions and labels of one length, got "
            f"{tuple(p.shape)} and {tuple(t.shape)}."
        )
    mae = float((p - t).abs().mean())
    pc, tc = p - p.mean(), t - t.mean()
    den = float(pc.norm() * tc.norm())
    corr = float((pc * tc).sum()) / den if den > 0 else math.nan
    has0_p, has0_t = p >= 0, t >= 0
    non0 = t != 0
    acc7 = float((torch.round(p.clamp(-3, 3)) == torch.round(t.clamp(-3, 3))).double().mean())
    out = {
        "MAE": mae,
        "Corr": corr,
        "Acc-2_has0": float((has0_p == has0_t).double().mean()),
        "F1_has0": _binary_weighted_f1(has0_p, has0_t),
        "Acc-2_non0": math.nan,
        "F1_non0": math.nan,
        "Acc-7": acc7,
    }
    if bool(non0.any()):
        np_, nt = p[non0] > 0, t[non0] > 0
        out["Acc-2_non0"] = float((np_ == nt).double().mean())
        out["F1_non0"] = _binary_weighted_f1(np_, nt)
    return out
