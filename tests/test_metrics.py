"""One metrics implementation (mmnoise.metrics) behind the robustness harness and the models."""

from __future__ import annotations

import math

import torch

import reference_models.metrics as rm_metrics
from mmnoise import metrics, robustness


def test_reference_models_and_robustness_use_the_one_implementation() -> None:
    for name in rm_metrics.__all__:
        assert getattr(rm_metrics, name) is getattr(metrics, name), name
    assert robustness.CONFUSION_METRICS is metrics.CONFUSION_METRICS
    assert not any(hasattr(robustness, n) for n in ("_wa", "_ua", "_f1", "_confusion"))


def test_scores_from_predictions_equal_scores_from_the_confusion_matrix() -> None:
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randint(0, 4, (50,), generator=g), torch.randint(0, 4, (50,), generator=g)
    cm = metrics.confusion_matrix(pred, target, num_classes=6)  # two classes never seen
    assert cm.shape == (6, 6) and int(cm.sum()) == 50
    assert metrics.weighted_accuracy(pred, target) == metrics.wa_from_confusion(cm)
    assert metrics.unweighted_accuracy(pred, target) == metrics.ua_from_confusion(cm)
    assert metrics.macro_f1(pred, target) == metrics.f1_from_confusion(cm)
    assert metrics.wa_from_confusion(cm) == float((pred == target).double().mean())


def test_an_empty_confusion_matrix_scores_nan() -> None:
    empty = torch.zeros(3, 3, dtype=torch.int64)
    assert all(math.isnan(fn(empty)) for fn in metrics.CONFUSION_METRICS.values())
