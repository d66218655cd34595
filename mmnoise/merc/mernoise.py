"""The ``mer-noise-2024`` protocol: the MER2023 / MER2024 noise track, on raw signals.

The organisers' script (``zeroQiaoba/MERTools``, ``MER2024/main-noise.py``; the same functions
in ``MER2023/main-corrupt.py``) corrupts every test clip once:

* audio: speech noise at an SNR drawn per clip from the integers 5..10 dB, scaled by RMS, the
  int16 mix rescaled if it would clip, 16 kHz mono
  (:class:`~mmnoise.transforms.waveform.MERNoiseMix` at level 1, on the user's noise bank:
  MUSAN cannot ship, so the bank's SHA-256 goes into the result);
* video: blur by pyramid down- then up-sampling at rate 1, 2 or 4 (0, 1 or 2 rounds), one rate
  per clip drawn uniformly (about a third unblurred;
  :class:`~mmnoise.transforms.frames.PyramidBlur`), then re-encoding, which this protocol
  approximates by :class:`~mmnoise.transforms.frames.JPEG` at quality 95 (OpenCV's
  ``imwrite`` default; the organisers' video codec settings are not part of their script);
* text is not corrupted directly.

The metrics are the challenges': weighted F1 over the emotion classes (MER2024) and weighted F1
- 0.25 x valence MSE (MER2023, when valence labels and predictions are given). Each clip's
draws come from a :class:`mmnoise.rng.Key` seeded with
:func:`~mmnoise.merc.corrupt.item_seed` ``("mer-noise-2024", id, family, modality)``, under
one thread, as in ``mer-c-v2``. A feature-only user cannot score this protocol: the noise is
added to the waveform and the blur to the pixels before any feature extractor.
"""

from __future__ import annotations

import hashlib
import wave
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mmnoise.merc.corrupt import frozen_threads, item_seed
from mmnoise.metrics import confusion_matrix, read_predictions, weighted_f1_from_confusion
from mmnoise.rng import Key, rand
from mmnoise.sample import KINDS_KEY, Sample
from mmnoise.transforms import registered_transforms

__all__ = [
    "JPEG_QUALITY",
    "SUITE",
    "bank_digest",
    "load_noise_bank",
    "mer_noise_benchmark",
    "mer_noise_items",
]

#: the protocol's name in seeds and results
SUITE = "mer-noise-2024"
#: the re-encoding's JPEG quality (OpenCV's default)
JPEG_QUALITY = 95


def load_noise_bank(
    folder: str | Path, *, sample_rate: int = 16_000, segment_s: float = 10.0
) -> Tensor:
    """Read a folder of noise recordings (MUSAN's speech part, say) as an (N, L) noise bank.

    Every ``*.wav`` file under ``folder`` (sorted by path, so the bank and its
    :func:`bank_digest` do not depend on the file system's order) is read as 16-bit PCM (the
    standard library's :mod:`wave`: no extra dependency), mixed down to mono, resampled to
    ``sample_rate`` (``torchaudio.functional.resample``) and cut into rows of ``segment_s``
    seconds; a file's last partial row is zero-padded only when the file is shorter than one
    row. :class:`~mmnoise.transforms.waveform.MERNoiseMix` joins rows until they outlast a clip,
    as the organisers' script joins noise files.

    Args:
        folder: the folder to search (recursively).
        sample_rate: the bank's rate in Hz (the noise track's audio is 16 kHz mono).
        segment_s: row length in seconds.

    Returns:
        The (N, L) float32 bank, ``L = round(segment_s * sample_rate)``.

    Raises:
        ValueError: no ``.wav`` file under ``folder``, or a file that is not 16-bit PCM.

    Example:
        >>> import tempfile, wave
        >>> d = tempfile.mkdtemp()
        >>> with wave.open(f"{d}/n.wav", "wb") as w:
        ...     w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000)
        ...     w.writeframes(bytes(2 * 24000))
        >>> load_noise_bank(d, segment_s=1.0).shape
        torch.Size([1, 16000])
    """
    import torchaudio.functional as AF  # torchaudio is imported only where a bank is read

    files = sorted(Path(folder).rglob("*.wav"))
    if not files:
        raise ValueError(
            f"load_noise_bank: expected .wav noise recordings under {str(folder)!r}, found none; "
            "pass the folder that holds them (MUSAN's speech/ for the MER noise track) or build "
            "an (N, L) bank tensor yourself."
        )
    size = round(segment_s * sample_rate)
    rows: list[Tensor] = []
    for path in files:
        with wave.open(str(path), "rb") as w:
            if w.getsampwidth() != 2:
                raise ValueError(
                    f"load_noise_bank: expected 16-bit PCM .wav files, got "
                    f"{8 * w.getsampwidth()}-bit in {str(path)!r}; convert it (sox in.wav -b 16 "
                    "out.wav) or pass a bank tensor."
                )
            channels, rate = w.getnchannels(), w.getframerate()
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        x = torch.from_numpy(pcm.astype(np.float32) / 32768.0).reshape(-1, channels).mean(dim=1)
        if rate != sample_rate:
            x = AF.resample(x, rate, sample_rate)
        if x.numel() < size:
            x = torch.nn.functional.pad(x, (0, size - x.numel()))
        rows.extend(x[: x.numel() // size * size].reshape(-1, size))
    return torch.stack(rows)


def bank_digest(bank: Tensor) -> str:
    """SHA-256 of a noise bank (dtype, shape and bytes): which recordings a result used.

    Example:
        >>> len(bank_digest(torch.zeros(2, 8)))
        64
    """
    h = hashlib.sha256(f"{bank.dtype};{tuple(bank.shape)};".encode())
    h.update(bank.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _stacked(items: Sequence[Mapping[str, Any]], key: str) -> dict[tuple[Any, ...], list[int]]:
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, it in enumerate(items):
        groups.setdefault((tuple(it[key].shape), it[key].dtype), []).append(i)
    return groups


def mer_noise_items(
    items: Sequence[Mapping[str, Any]],
    bank: Tensor,
    *,
    audio_key: str | None = "audio",
    video_key: str | None = "video",
    id_key: str = "id",
) -> list[Sample]:
    """The items as the MER2024 noise track corrupts them (new dicts; frozen per clip).

    Args:
        items: unbatched items with a (C, L) 16 kHz waveform under ``audio_key`` and / or
            (T, C, H, W) frames in [0, 1] under ``video_key`` (None skips that modality).
        bank: (N, L_n) speech-noise recordings at 16 kHz (the user's MUSAN speech, or any).
        audio_key: the waveform modality.
        video_key: the frames modality.
        id_key: the items' ids.

    Returns:
        The corrupted items; ``"mer_noise"`` in each holds the clip's pyramid rate.

    Example:
        >>> items = [{"audio": 0.1 * torch.randn(1, 1600), "video": torch.rand(2, 3, 16, 16),
        ...           "id": "c1"}]
        >>> out = mer_noise_items(items, torch.randn(3, 800))
        >>> out[0]["audio"].shape, out[0]["mer_noise"]["rate"] in (1, 2, 4)
        (torch.Size([1, 1600]), True)
    """
    registry: Any = registered_transforms()
    out = [dict(it) for it in items]
    with frozen_threads():
        if audio_key is not None:
            mix = registry["MERNoiseMix"]([audio_key], bank=bank, snr_db=(5, 10))
            for (_, _), idx in _stacked(items, audio_key).items():
                key = Key.from_seeds(
                    [
                        item_seed(SUITE, str(items[i][id_key]), "speech_noise", audio_key)
                        for i in idx
                    ]
                )
                batch = {
                    audio_key: torch.stack([items[i][audio_key] for i in idx]),
                    KINDS_KEY: {audio_key: "waveform"},
                }
                res = mix(batch, level=1.0, generator=key)
                for row, i in enumerate(idx):
                    out[i][audio_key] = res[audio_key][row]
        if video_key is not None:
            blur = registry["PyramidBlur"]([video_key], rate=(1, 4))
            jpeg = registry["JPEG"]([video_key], quality=(JPEG_QUALITY, JPEG_QUALITY))
            for (_, _), idx in _stacked(items, video_key).items():
                key = Key.from_seeds(
                    [item_seed(SUITE, str(items[i][id_key]), "blur", video_key) for i in idx]
                )
                # one of the rates 1, 2, 4 per clip, uniformly: levels 0, 0.5, 1 of rate=(1, 4)
                choice = torch.floor(rand((len(idx),), generator=key) * 3).clamp(max=2)
                batch = {
                    video_key: torch.stack([items[i][video_key] for i in idx]),
                    KINDS_KEY: {video_key: "frames"},
                }
                res = blur(batch, level=choice / 2, generator=key)
                res = jpeg(res, level=1.0, generator=key)
                for row, i in enumerate(idx):
                    out[i][video_key] = res[video_key][row]
                    out[i]["mer_noise"] = {"rate": int(2 ** int(choice[row]))}
    return out


def mer_noise_benchmark(
    predict: Callable[[Sample], Any],
    items: Sequence[Mapping[str, Any]],
    bank: Tensor,
    *,
    kinds: Mapping[str, Any],
    audio_key: str | None = "audio",
    video_key: str | None = "video",
    label_key: str = "label",
    valence_key: str = "valence",
    num_classes: int | None = None,
    batch_size: int = 32,
) -> dict[str, Any]:
    """Score ``predict`` on the clean and the MER2024-noised test set with the challenges' metrics.

    ``predict(batch)`` returns (B, C) emotion logits, or a pair (logits, (B,) valence) for the
    MER2023 score when the items carry ``valence_key``.

    Args:
        predict: the model's predict function.
        items: the test items (raw waveform and / or frames, label, id).
        bank: the noise bank (its SHA-256 goes into the result).
        kinds: {modality: kind} for collating.
        audio_key: the waveform modality (None: no audio noise).
        video_key: the frames modality (None: no blur).
        label_key: the emotion class labels.
        valence_key: the valence labels (MER2023's second term), if the items have them.
        num_classes: the number of emotion classes (default: from the logits).
        batch_size: items per ``predict`` call.

    Returns:
        ``{"suite", "bank_sha256", "clean": {...}, "noisy": {...}}`` with ``weighted_f1``
        (MER2024) and, with valence, ``valence_mse`` and ``mer2023`` = weighted F1 - 0.25 x
        valence MSE.

    Example:
        >>> items = [{"audio": 0.1 * torch.randn(1, 800), "label": torch.tensor(i % 2),
        ...           "id": str(i)} for i in range(4)]
        >>> res = mer_noise_benchmark(lambda b: torch.zeros(len(b["id"]), 2), items,
        ...                           torch.randn(2, 400), kinds={"audio": "waveform"},
        ...                           video_key=None)
        >>> res["clean"]["weighted_f1"] == res["noisy"]["weighted_f1"]
        True
    """
    from mmnoise.data import pad_collate

    labels = torch.stack([torch.as_tensor(it[label_key]).long() for it in items])
    has_valence = all(valence_key in it for it in items)
    noisy = mer_noise_items(items, bank, audio_key=audio_key, video_key=video_key)
    out: dict[str, Any] = {"suite": SUITE, "bank_sha256": bank_digest(bank)}
    for name, data in (("clean", list(items)), ("noisy", noisy)):
        preds, vals = [], []
        c = num_classes
        with torch.no_grad():
            for lo in range(0, len(data), batch_size):
                part = [
                    {k: v for k, v in it.items() if k != "mer_noise"}
                    for it in data[lo : lo + batch_size]
                ]
                got = predict(pad_collate(part, kinds=kinds))
                logits, valence = got if isinstance(got, tuple) else (got, None)
                p, c = read_predictions(
                    logits, batch=len(part), num_classes=c, who="mer_noise_benchmark"
                )
                preds.append(p)
                if valence is not None:
                    vals.append(torch.as_tensor(valence).detach().double().reshape(-1).cpu())
        cm = confusion_matrix(torch.cat(preds), labels, num_classes=c)
        scores: dict[str, float] = {"weighted_f1": weighted_f1_from_confusion(cm)}
        if has_valence and vals:
            truth = torch.stack([torch.as_tensor(it[valence_key]).double() for it in items])
            mse = float((torch.cat(vals) - truth).pow(2).mean())
            scores["valence_mse"] = mse
            scores["mer2023"] = scores["weighted_f1"] - 0.25 * mse
        out[name] = scores
    return out
