"""One metrics implementation (mmnoise.metrics) behind the robustness harness and the models."""

from __future__ import annotations

import math

import pytest
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


def test_sentiment_metrics_follow_mmsa_definitions() -> None:
    # MMSA's __eval_mosei_regression written out with plain Python on a small set
    pred = [2.4, -0.2, 0.0, 1.6, -2.9, 0.4, -1.1, 3.7]
    true = [3.0, 0.0, -0.6, 1.0, -3.0, -0.4, 0.0, 2.2]
    m = metrics.sentiment_metrics(torch.tensor(pred), torch.tensor(true))
    n = len(pred)
    assert m["MAE"] == pytest.approx(sum(abs(p - t) for p, t in zip(pred, true, strict=True)) / n)
    mp, mt = sum(pred) / n, sum(true) / n
    cov = sum((p - mp) * (t - mt) for p, t in zip(pred, true, strict=True))
    var = math.sqrt(sum((p - mp) ** 2 for p in pred) * sum((t - mt) ** 2 for t in true))
    assert m["Corr"] == pytest.approx(cov / var)
    has0 = [(p >= 0) == (t >= 0) for p, t in zip(pred, true, strict=True)]
    assert m["Acc-2_has0"] == pytest.approx(sum(has0) / n)
    non0 = [(p > 0) == (t > 0) for p, t in zip(pred, true, strict=True) if t != 0]
    assert m["Acc-2_non0"] == pytest.approx(sum(non0) / len(non0))
    a7 = [
        round(min(3, max(-3, p))) == round(min(3, max(-3, t)))
        for p, t in zip(pred, true, strict=True)
    ]
    assert m["Acc-7"] == pytest.approx(sum(a7) / n)
    # weighted F1 over the non-zero items: both classes, by support
    tp = [(p > 0, t > 0) for p, t in zip(pred, true, strict=True) if t != 0]
    f1s, weights = [], []
    for cls in (False, True):
        hit = sum(1 for p, t in tp if p == cls and t == cls)
        support, predicted = sum(1 for _, t in tp if t == cls), sum(1 for p, _ in tp if p == cls)
        f1s.append(2 * hit / (support + predicted) if support + predicted else 0.0)
        weights.append(support)
    assert m["F1_non0"] == pytest.approx(
        sum(f * w for f, w in zip(f1s, weights, strict=True)) / sum(weights)
    )
    assert list(m) == list(metrics.SENTIMENT_METRICS)


def test_one_reader_of_predict_outputs_and_one_effective_robustness() -> None:
    from mmnoise.merc import scoring

    assert scoring.effective_robustness is robustness.effective_robustness
    logits = torch.tensor([[0.2, 0.8], [0.9, 0.1]])
    assert metrics.read_predictions(logits, batch=2, num_classes=None, who="t")[0].tolist() == [
        1,
        0,
    ]
    with pytest.raises(ValueError, match="num_classes"):
        metrics.read_predictions(torch.tensor([0, 1]), batch=2, num_classes=None, who="t")
    with pytest.raises(ValueError, match="regression"):
        metrics.read_predictions(logits, batch=2, num_classes=None, task="regression", who="t")
    with pytest.raises(ValueError, match="one length"):
        robustness.effective_robustness([1.0, 0.5], [1.0])
