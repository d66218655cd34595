"""The ``lnln-missing`` protocol: LNLN's per-position missing test sets, mask for mask.

LNLN (Zhang et al., NeurIPS 2024; ``Haoyu-ha/LNLN``, ``core/dataset.py`` ``generate_m``,
``robust_evaluation.py``), after MMSA / TFR-Net (``thuiar/MMSA``), corrupts MOSI / MOSEI / SIMS
test sets per position, not per modality. At a test rate ``r`` and seed ``s``, for each of text,
audio and vision in turn, the code reseeds numpy's global generator with ``s`` and draws one
uniform per position of the whole padded split ``(N, T)``; a position inside the item's valid
length is kept where its draw is ``> r``. Missing text tokens become ``[UNK]`` (id 100), the
first token (``[CLS]``) and the last valid one (``[SEP]``) are always kept; missing audio and
vision frames are zeroed. The rates are 0.0, 0.1, ..., 0.9 and the seeds 1111, 1112, 1113; the
scores are MMSA's sentiment metrics, averaged over the seeds.

**Why numpy here.** Every other MER-C draw comes from :class:`mmnoise.rng.Key`. This protocol
is defined by numpy's legacy Mersenne Twister stream (``np.random.seed`` then
``np.random.uniform`` over the padded ``(N, T)`` array, so an item's mask depends on its row
and on the padded width ``T`` of the split, and two modalities of one width get the same mask):
to give the masks LNLN's code gives, this module draws from ``numpy.random.RandomState(seed)``,
which is that stream, without touching numpy's global generator. Nothing else in the package
uses numpy's generator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from mmnoise.sample import Sample

__all__ = ["LNLN_RATES", "LNLN_SEEDS", "UNK_ID", "lnln_benchmark", "lnln_items", "lnln_mask"]

#: the test rates of LNLN's robust evaluation
LNLN_RATES: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
#: its seeds (MMSA's default seed is the first)
LNLN_SEEDS: tuple[int, ...] = (1111, 1112, 1113)
#: BERT's ``[UNK]`` id, which replaces a missing token
UNK_ID = 100


def lnln_mask(
    lengths: Sequence[int], width: int, rate: float, seed: int, *, text: bool = False
) -> np.ndarray[Any, np.dtype[np.int64]]:
    """The keep mask of one modality of a split, as LNLN's ``generate_m`` draws it.

    Args:
        lengths: each item's valid length, in the split's order.
        width: the padded width T of the split's array (the ``.pkl``'s, e.g. 50 for MOSI text).
        rate: the missing rate r.
        seed: the seed numpy is reseeded with before the draw.
        text: keep the first position and the last valid one (``[CLS]`` / ``[SEP]``).

    Returns:
        (N, T) int64, 1 = kept, 0 = missing or padding.

    Shape:
        lengths: (N,). Output: (N, T).

    Example:
        >>> lnln_mask([3, 5], 5, 0.0, 1111).tolist()
        [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
        >>> lnln_mask([4], 4, 1.0, 1111, text=True).tolist()  # CLS and SEP survive any rate
        [[1, 0, 0, 1]]
    """
    lens = np.asarray(lengths, dtype=np.int64)
    if lens.size and (int(lens.max()) > width or int(lens.min()) < 1):
        raise ValueError(
            f"lnln_mask: expected lengths in 1..width={width}, got {int(lens.min())}.."
            f"{int(lens.max())}; pass the split's padded width."
        )
    valid = (np.arange(width)[None, :] < lens[:, None]).astype(np.int64)
    draws = np.random.RandomState(seed).uniform(size=valid.shape)
    keep = (draws > rate).astype(np.int64) * valid
    if text:
        rows = np.arange(len(lens))
        keep[rows, 0] = 1
        keep[rows, lens - 1] = 1
    return keep


def lnln_items(
    items: Sequence[Mapping[str, Any]],
    rate: float,
    seed: int,
    *,
    widths: Mapping[str, int],
    text_key: str = "text",
) -> list[Sample]:
    """The items of a split under LNLN's protocol at ``rate`` and ``seed`` (new dicts).

    ``text`` must be BERT token ids ((T,) int64, ``[CLS]`` first and ``[SEP]`` last, as
    ``MMSAPickle(text="bert_ids")`` gives them); the other modalities of ``widths`` are
    (T, D) frames or features, zeroed where missing. Modalities are drawn in the order of
    ``widths`` (LNLN: text, audio, vision), each after reseeding.

    Args:
        items: the split's unbatched items, in the file's order (the draw is over rows).
        rate: the test missing rate.
        seed: the seed.
        widths: {modality: the padded width of the split's array}.
        text_key: the modality holding the token ids.

    Returns:
        The corrupted items.

    Example:
        >>> items = [{"text": torch.tensor([101, 7, 8, 102]), "audio": torch.ones(3, 2)}]
        >>> out = lnln_items(items, 1.0, 1111, widths={"text": 4, "audio": 3})
        >>> out[0]["text"].tolist(), float(out[0]["audio"].sum())
        ([101, 100, 100, 102], 0.0)
    """
    out = [dict(it) for it in items]
    for m, width in widths.items():
        lengths = [int(it[m].shape[0]) for it in items]
        keep = lnln_mask(lengths, int(width), rate, seed, text=m == text_key)
        for i, it in enumerate(items):
            k = torch.from_numpy(keep[i, : lengths[i]])
            x = it[m]
            if m == text_key:
                out[i][m] = torch.where(k.bool(), x, torch.full_like(x, UNK_ID))
            else:
                out[i][m] = x * k.to(x.dtype).reshape(-1, *([1] * (x.ndim - 1)))
    return out


def lnln_benchmark(
    predict: Any,
    items: Sequence[Mapping[str, Any]],
    *,
    widths: Mapping[str, int],
    kinds: Mapping[str, Any],
    rates: Sequence[float] = LNLN_RATES,
    seeds: Sequence[int] = LNLN_SEEDS,
    batch_size: int = 64,
    label_key: str = "label",
    text_key: str = "text",
) -> dict[str, Any]:
    """Score a sentiment ``predict`` under LNLN's protocol: every rate x seed, MMSA's metrics.

    Args:
        predict: ``predict(batch) -> (B,) or (B, 1)`` sentiment scores (model in eval mode).
        items: the test split's items in the file's order (text as token ids).
        widths: {modality: padded width of the split's array}, in LNLN's order.
        kinds: {modality: kind} for collating.
        rates: the test rates.
        seeds: the seeds; the scores are averaged over them, as LNLN reports.
        batch_size: items per ``predict`` call.
        label_key: the sentiment label key.
        text_key: the token-id modality.

    Returns:
        ``{"rates": [...], "seeds": [...], "per_seed": {rate: [metrics per seed]}, "mean":
        {rate: {metric: mean over seeds}}}``.

    Example:
        >>> items = [{"text": torch.tensor([101, 5, 102]), "label": torch.tensor(0.5 * i),
        ...           "id": str(i)} for i in range(4)]
        >>> res = lnln_benchmark(lambda b: (b["text"] == 5).float().sum(1), items,
        ...                      widths={"text": 3}, kinds={"text": "tokens"}, rates=[0.0],
        ...                      seeds=[1111])
        >>> round(res["mean"]["0.0"]["MAE"], 3)
        0.5
    """
    from mmnoise.data import pad_collate
    from mmnoise.metrics import read_predictions, sentiment_metrics

    labels = torch.stack([torch.as_tensor(it[label_key]) for it in items]).double()
    per_seed: dict[str, list[dict[str, float]]] = {}
    with torch.no_grad():
        for rate in rates:
            runs = []
            for seed in seeds:
                noisy = lnln_items(items, rate, seed, widths=widths, text_key=text_key)
                preds = []
                for lo in range(0, len(noisy), batch_size):
                    batch = pad_collate(noisy[lo : lo + batch_size], kinds=kinds)
                    n = min(batch_size, len(noisy) - lo)
                    got, _ = read_predictions(
                        predict(batch), batch=n, num_classes=None, task="regression",
                        who="lnln_benchmark",
                    )  # fmt: skip
                    preds.append(got)
                runs.append(sentiment_metrics(torch.cat(preds), labels))
            per_seed[repr(float(rate))] = runs
    mean = {
        r: {k: sum(run[k] for run in runs) / len(runs) for k in runs[0]}
        for r, runs in per_seed.items()
    }
    return {"rates": list(rates), "seeds": list(seeds), "per_seed": per_seed, "mean": mean}
