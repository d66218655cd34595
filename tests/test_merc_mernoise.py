"""mer-noise-2024: the MER2023 / MER2024 noise track on raw signals, with a generated noise bank."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch

from mmnoise.merc.mernoise import bank_digest, mer_noise_benchmark, mer_noise_items
from mmnoise.metrics import confusion_matrix, weighted_f1_from_confusion


def _bank(seed: int = 0) -> torch.Tensor:
    # a small stand-in for MUSAN speech: amplitude-modulated noise, 5 recordings of 0.5 s
    g = torch.Generator().manual_seed(seed)
    env = 0.5 + 0.5 * torch.sin(torch.linspace(0, 20, 8000))
    return 0.1 * env * torch.randn(5, 8000, generator=g)


def _items(n: int) -> list[dict]:
    g = torch.Generator().manual_seed(1)
    return [
        {
            "audio": 0.05 * torch.randn(1, 4000, generator=g),
            "video": torch.rand(2, 3, 16, 16, generator=g),
            "label": torch.tensor(i % 3),
            "valence": torch.tensor(float(i % 5) - 2.0),
            "id": f"clip{i}",
        }
        for i in range(n)
    ]


def test_audio_gets_speech_noise_at_an_integer_snr_from_5_to_10() -> None:
    items = _items(40)
    out = mer_noise_items(items, _bank(), video_key=None)
    snrs = []
    for it, o in zip(items, out, strict=True):
        x, y = it["audio"].double(), o["audio"].double()
        snr = float(10 * torch.log10(x.pow(2).sum() / (y - x).pow(2).sum()))
        assert snr == pytest.approx(round(snr), abs=1e-3) and 5 <= round(snr) <= 10
        snrs.append(round(snr))
    assert len(set(snrs)) >= 4  # drawn per clip, not one SNR for all


def test_video_rate_is_drawn_per_clip_and_everything_is_frozen() -> None:
    items = _items(60)
    out = mer_noise_items(items, _bank(), audio_key=None)
    rates = Counter(o["mer_noise"]["rate"] for o in out)
    assert set(rates) == {1, 2, 4} and all(10 <= c <= 30 for c in rates.values())
    again = mer_noise_items(items, _bank(), audio_key=None)
    alone = mer_noise_items(items[7:8], _bank(), audio_key=None)
    assert all(torch.equal(a["video"], b["video"]) for a, b in zip(out, again, strict=True))
    assert torch.equal(alone[0]["video"], out[7]["video"])

    # a blurred clip is smoother than the re-encoded unblurred ones
    def rough(x: torch.Tensor) -> float:
        return float((x[..., 1:] - x[..., :-1]).abs().mean())

    by_rate = {r: [rough(o["video"]) for o in out if o["mer_noise"]["rate"] == r] for r in rates}
    assert max(by_rate[4]) < min(by_rate[1])


def test_benchmark_records_the_bank_and_scores_the_challenge_metrics() -> None:
    items = _items(12)
    kinds = {"audio": "waveform", "video": "frames"}
    w = torch.linspace(-1, 1, 3)

    def predict(b: dict) -> tuple[torch.Tensor, torch.Tensor]:
        energy = b["audio"].pow(2).mean(dim=(1, 2)) * 400 + b["video"].mean(dim=(1, 2, 3, 4))
        return energy[:, None] * w[None], energy

    res = mer_noise_benchmark(predict, items, _bank(), kinds=kinds)
    assert res["bank_sha256"] == bank_digest(_bank()) != bank_digest(_bank(1))
    labels = torch.stack([it["label"] for it in items])
    clean_pred = torch.cat(
        [predict({"audio": it["audio"][None], "video": it["video"][None]})[0] for it in items]
    ).argmax(1)
    want = weighted_f1_from_confusion(confusion_matrix(clean_pred, labels, num_classes=3))
    assert res["clean"]["weighted_f1"] == pytest.approx(want)
    for part in ("clean", "noisy"):
        s = res[part]
        assert s["mer2023"] == pytest.approx(s["weighted_f1"] - 0.25 * s["valence_mse"])


def test_load_noise_bank_reads_a_folder_of_wav_files_in_path_order(tmp_path: Path) -> None:
    import wave

    from mmnoise.merc.mernoise import load_noise_bank

    g = torch.Generator().manual_seed(0)
    tones = {}
    for name, rate, channels, seconds in [("b/two.wav", 8000, 2, 2.5), ("a.wav", 16000, 1, 0.5)]:
        pcm = (torch.rand(int(rate * seconds) * channels, generator=g) * 2000 - 1000).to(torch.int16)
        (tmp_path / name).parent.mkdir(exist_ok=True)
        with wave.open(str(tmp_path / name), "wb") as w:
            w.setnchannels(channels)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(pcm.numpy().astype("<i2").tobytes())
        tones[name] = pcm.float().reshape(-1, channels).mean(dim=1) / 32768.0
    bank = load_noise_bank(tmp_path, sample_rate=16000, segment_s=1.0)
    # a.wav (0.5 s) is one zero-padded row, first by path; b/two.wav (2.5 s at 8 kHz, stereo ->
    # mono, resampled to 16 kHz) gives two full rows, its last half second dropped
    assert bank.shape == (3, 16000) and bank.dtype == torch.float32
    assert torch.equal(bank[0, :8000], tones["a.wav"]) and bank[0, 8000:].eq(0).all()
    import torchaudio.functional as AF

    resampled = AF.resample(tones["b/two.wav"], 8000, 16000)
    assert torch.allclose(bank[1:], resampled[:32000].reshape(2, 16000), atol=1e-6)
    assert bank_digest(bank) == bank_digest(load_noise_bank(tmp_path, segment_s=1.0))


def test_load_noise_bank_refuses_an_empty_folder_and_other_sample_widths(tmp_path: Path) -> None:
    import wave

    from mmnoise.merc.mernoise import load_noise_bank

    with pytest.raises(ValueError, match=r"load_noise_bank: expected \.wav noise recordings"):
        load_noise_bank(tmp_path)
    with wave.open(str(tmp_path / "x.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(16000)
        w.writeframes(bytes(160))
    with pytest.raises(ValueError, match="expected 16-bit PCM"):
        load_noise_bank(tmp_path)
