"""WA / UA / macro-F1 on hand-made cases, and the pooled-vs-mean distinction."""

from __future__ import annotations

import pytest
import torch

from reference_models.metrics import (
    classification_metrics,
    confusion_matrix,
    macro_f1,
    metrics_by_condition,
    unweighted_accuracy,
    weighted_accuracy,
)

T = torch.tensor


def test_hand_computed_case() -> None:
    # targets: 4 x class 0, 2 x class 1, 2 x class 2
    target = T([0, 0, 0, 0, 1, 1, 2, 2])
    pred = T([0, 0, 0, 1, 1, 2, 2, 2])
    # recall: 3/4, 1/2, 2/2 -> UA = 0.75; precision: 3/3, 1/2, 2/3
    # F1: 2*3/(4+3)=6/7, 2*1/(2+2)=1/2, 2*2/(2+3)=4/5
    assert weighted_accuracy(pred, target) == pytest.approx(6 / 8)
    assert unweighted_accuracy(pred, target) == pytest.approx((3 / 4 + 1 / 2 + 1) / 3)
    assert macro_f1(pred, target) == pytest.approx((6 / 7 + 1 / 2 + 4 / 5) / 3)
    assert confusion_matrix(pred, target).tolist() == [[3, 1, 0], [0, 1, 1], [0, 0, 2]]


def test_class_only_predicted_counts_as_zero() -> None:
    # scikit-learn semantics: class 2 is predicted but never true -> recall 0/0 = 0, F1 0
    target = T([0, 1, 1])
    pred = T([0, 1, 2])
    assert unweighted_accuracy(pred, target) == pytest.approx((1 + 0.5 + 0) / 3)
    assert macro_f1(pred, target) == pytest.approx((1 + 2 / 3 + 0) / 3)


def test_absent_classes_are_not_averaged() -> None:
    # class 3 neither occurs nor is predicted: it does not count (as in scikit-learn)
    assert unweighted_accuracy(T([0, 1]), T([0, 1])) == 1.0
    assert confusion_matrix(T([0, 1]), T([0, 1]), num_classes=4).shape == (4, 4)


def test_perfect_and_constant_predictions() -> None:
    target = T([0, 1, 2, 3] * 3)
    assert classification_metrics(target, target) == {"wa": 1.0, "ua": 1.0, "f1": 1.0}
    const = torch.zeros_like(target)
    m = classification_metrics(const, target)
    assert m["wa"] == pytest.approx(0.25) and m["ua"] == pytest.approx(0.25)
    # class 0: precision 1/4, recall 1 -> F1 = 2 * 3 / (3 + 12) = 0.4; others 0
    assert m["f1"] == pytest.approx(0.4 / 4)


def test_pooled_total_is_not_the_mean_of_conditions() -> None:
    results = {
        "azz": (T([0, 0, 0, 0]), T([0, 0, 0, 1])),  # UA = (1 + 0) / 2 = 0.5
        "zvz": (T([1, 1]), T([1, 0])),  # UA = (0 + 1) / 2 = 0.5
        "full": (T([1, 1]), T([1, 1])),
    }
    out = metrics_by_condition(results, pooled=["azz", "zvz"])
    # pooled: targets 0,0,0,1,1,0 / preds 0,0,0,0,1,1 -> recall 0: 3/4, 1: 1/2
    assert out["total"]["ua"] == pytest.approx((3 / 4 + 1 / 2) / 2)
    assert out["total"]["ua"] != pytest.approx((out["azz"]["ua"] + out["zvz"]["ua"]) / 2)
    assert out["total"]["wa"] == pytest.approx(4 / 6)
    assert out["full"]["wa"] == 1.0
    assert set(out) == {"azz", "zvz", "full", "total"}


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="argmax"):
        weighted_accuracy(torch.zeros(3, 4).long(), T([0, 1, 2]))
    with pytest.raises(TypeError, match="integer"):
        macro_f1(T([0.0, 1.0]), T([0, 1]))
    with pytest.raises(ValueError, match="negative"):
        unweighted_accuracy(T([-1, 0]), T([0, 0]))
    with pytest.raises(ValueError, match="too small"):
        confusion_matrix(T([0, 3]), T([0, 1]), num_classes=2)
    with pytest.raises(ValueError, match="not among"):
        metrics_by_condition({"azz": (T([0]), T([0]))}, pooled=["zvz"])
