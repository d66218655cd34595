"""lnln-missing: the same masks and corrupted items as LNLN's generate_m (numpy's legacy seeding)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmnoise.merc.lnln import LNLN_RATES, LNLN_SEEDS, UNK_ID, lnln_benchmark, lnln_items


def lnln_generate_m(
    modality: np.ndarray,
    input_mask: np.ndarray | None,
    input_len: np.ndarray | None,
    missing_rate: np.ndarray,
    missing_seed: int,
    mode: str,
) -> tuple[np.ndarray, np.ndarray]:
    """LNLN's ``MMDataset.generate_m`` (Haoyu-ha/LNLN core/dataset.py), as the test's oracle:
    numpy's GLOBAL generator reseeded, one uniform per padded position of the split."""
    if mode == "text":
        assert input_mask is not None
        input_len = np.argmin(input_mask, axis=1)
    else:
        assert input_len is not None
        input_mask = np.array([[1] * n + [0] * (modality.shape[1] - n) for n in input_len])
    np.random.seed(missing_seed)  # noqa: NPY002 (the oracle is LNLN's own global seeding)
    missing_mask = (
        np.random.uniform(size=input_mask.shape)  # noqa: NPY002
        > missing_rate.repeat(input_mask.shape[1], 1)
    ) * input_mask
    if mode == "text":
        for i, instance in enumerate(missing_mask):
            instance[0] = instance[input_len[i] - 1] = 1
        out = missing_mask * modality + (100 * np.ones_like(modality)) * (input_mask - missing_mask)
    else:
        out = missing_mask.reshape(modality.shape[0], modality.shape[1], 1) * modality
    return out, missing_mask


def _split(n: int = 9, t_text: int = 12, t_audio: int = 20, t_vision: int = 12) -> dict:
    g = np.random.default_rng(0)
    text_len = g.integers(3, t_text, size=n)  # < t_text: argmin finds the padding
    ids = np.zeros((n, t_text), dtype=np.int64)
    mask = np.zeros((n, t_text), dtype=np.int64)
    for i, n_i in enumerate(text_len):
        ids[i, :n_i] = [101, *g.integers(1000, 3000, size=n_i - 2), 102]
        mask[i, :n_i] = 1
    audio_len = g.integers(1, t_audio + 1, size=n)
    vision_len = g.integers(1, t_vision + 1, size=n)
    audio = g.normal(size=(n, t_audio, 5)).astype(np.float32)
    vision = g.normal(size=(n, t_vision, 4)).astype(np.float32)
    return {
        "ids": ids,
        "mask": mask,
        "text_len": text_len,
        "audio": audio,
        "vision": vision,
        "audio_len": audio_len,
        "vision_len": vision_len,
    }


def _items(split: dict) -> list[dict]:
    return [
        {
            "text": torch.from_numpy(split["ids"][i, : split["text_len"][i]]),
            "audio": torch.from_numpy(split["audio"][i, : split["audio_len"][i]]),
            "visual": torch.from_numpy(split["vision"][i, : split["vision_len"][i]]),
            "label": torch.tensor(float(i % 7) - 3.0),
            "id": f"s{i}",
        }
        for i in range(len(split["ids"]))
    ]


@pytest.mark.parametrize("rate", [0.0, 0.3, 0.7, 0.9])
@pytest.mark.parametrize("seed", LNLN_SEEDS)
def test_lnln_items_equal_lnln_generate_m(rate: float, seed: int) -> None:
    split = _split()
    n = len(split["ids"])
    rates = rate * np.ones((n, 1))
    text, _ = lnln_generate_m(split["ids"], split["mask"], None, rates, seed, "text")
    audio, _ = lnln_generate_m(split["audio"], None, split["audio_len"], rates, seed, "audio")
    vision, _ = lnln_generate_m(split["vision"], None, split["vision_len"], rates, seed, "vision")
    state = np.random.get_state()[1].copy()  # noqa: NPY002
    widths = {"text": 12, "audio": 20, "visual": 12}
    out = lnln_items(_items(split), rate, seed, widths=widths)
    assert np.array_equal(np.random.get_state()[1], state)  # noqa: NPY002 (global untouched)
    for i, it in enumerate(out):
        assert it["text"].tolist() == text[i, : split["text_len"][i]].tolist()
        assert np.array_equal(it["audio"].numpy(), audio[i, : split["audio_len"][i]])
        assert np.array_equal(it["visual"].numpy(), vision[i, : split["vision_len"][i]])
        assert int(it["text"][0]) == 101 and int(it["text"][-1]) == 102
    if rate == 0.0:
        assert all(UNK_ID not in it["text"].tolist() for it in out)


def test_lnln_benchmark_averages_mmsa_metrics_over_seeds() -> None:
    split = _split()
    items = _items(split)
    kinds = {"text": "tokens", "audio": "features", "visual": "features"}

    def predict(batch: dict) -> torch.Tensor:
        return (batch["text"] == UNK_ID).float().sum(dim=1) - 3.0

    res = lnln_benchmark(
        predict,
        items,
        widths={"text": 12, "audio": 20, "visual": 12},
        kinds=kinds,
        rates=[0.0, 0.5],
    )
    assert res["seeds"] == list(LNLN_SEEDS) and len(res["per_seed"]["0.5"]) == 3
    mae = [r["MAE"] for r in res["per_seed"]["0.5"]]
    assert res["mean"]["0.5"]["MAE"] == pytest.approx(sum(mae) / 3)
    assert res["mean"]["0.0"]["MAE"] != res["mean"]["0.5"]["MAE"]
    assert LNLN_RATES[-1] == 0.9 and LNLN_RATES[0] == 0.0
