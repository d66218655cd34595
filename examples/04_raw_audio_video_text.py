"""Raw signals: corrupt speech, a face video and a token sequence in one pipeline call.

The batch holds a waveform ``(B, 1, L)`` at 16 kHz, a video clip ``(B, T, 3, H, W)`` with
values in [0, 1] and BERT-style token ids ``(B, T)`` with padding and special ids. Waveform and
feature tensors have the same rank, so ``batch["kinds"]`` declares the waveform. Each modality
gets its own noise: a distant talker in a reverberant room with babble in the background, a
blurred and partly occluded face in low light, and an ASR-like transcript with masked and
deleted words (which shortens ``lengths``). ``shared=True`` gives every modality the same random
draws, so time-based corruptions line up across modalities. String-level typos, before
tokenisation, come from :func:`mmnoise.transcripts.asr_noise`.

Run: ``python examples/04_raw_audio_video_text.py`` (``--tiny`` for the smallest sizes).
"""

from __future__ import annotations

import argparse
import math

import torch

from mmnoise.transcripts import asr_noise
from mmnoise.transforms import MultimodalPipeline
from mmnoise.transforms.frames import GaussianBlur, LowLight, Occlusion
from mmnoise.transforms.tokens import TokenDeletion, TokenMask
from mmnoise.transforms.waveform import Babble, BandPass, Reverb

PAD, UNK, CLS, SEP = 0, 100, 101, 102  # BERT's special ids


def make_batch(batch_size: int, seconds: float, frames: int, size: int) -> dict[str, object]:
    """A synthetic batch: harmonic 'speech', a bright disc 'face', and token ids with padding."""
    g = torch.Generator().manual_seed(0)
    t = torch.arange(int(16000 * seconds)) / 16000
    f0 = 100 + 100 * torch.rand(batch_size, 1, 1, generator=g)  # a voice per example
    speech = sum(torch.sin(2 * math.pi * k * f0 * t) / k for k in range(1, 6)) * 0.3
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    face = ((xx**2 + yy**2) < 0.5).float() * 0.8 + 0.1  # (H, W)
    video = face.expand(batch_size, frames, 3, size, size).clone()
    tokens = torch.randint(1000, 2000, (batch_size, 12), generator=g)
    lengths = torch.randint(6, 13, (batch_size,), generator=g)
    tokens[:, 0] = CLS
    tokens[torch.arange(batch_size), lengths - 1] = SEP
    tokens[torch.arange(12)[None, :] >= lengths[:, None]] = PAD
    return {
        "speech": speech,
        "face": video,
        "text": tokens,
        "lengths": {"text": lengths},
        "kinds": {"speech": "waveform"},  # a (B, 1, L) waveform, not (B, T, D) features
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--level", type=float, default=0.7, help="severity in [0, 1]")
    parser.add_argument("--tiny", action="store_true", help="smallest sizes (for tests)")
    args = parser.parse_args(argv)
    batch = make_batch(2, 0.25, 4, 32) if args.tiny else make_batch(4, 1.0, 8, 64)

    # --8<-- [start:raw]
    special = (CLS, SEP)
    pipeline = MultimodalPipeline(
        {
            "speech": [
                Reverb(rt60_s=(0.1, 0.8)),  # a room: reverberation time grows with level
                BandPass(),  # level 1: the 300-3400 Hz telephone band
                Babble(num_speakers=(1, 4), snr_db=(30.0, 0.0)),  # other talkers of the batch
            ],
            "face": [
                GaussianBlur(sigma_px=(0.0, 2.0)),
                Occlusion(fraction=(0.0, 0.2)),  # a hand or a microphone over the face
                LowLight(),
            ],
            "text": [
                TokenMask(mask_id=UNK, fraction=(0.0, 0.3), special_ids=special),
                TokenDeletion(fraction=(0.0, 0.2), special_ids=special),  # shortens lengths
            ],
        },
        shared=True,  # the same draws for every modality: time-based spans line up
    )
    noisy = pipeline(batch, level=args.level, generator=torch.Generator().manual_seed(0))
    transcripts = ["i never said she stole my money", "their phone was ringing all day"]
    heard = asr_noise(transcripts, level=args.level, seed=0)  # string-level ASR errors (CPU)
    # --8<-- [end:raw]

    for name in ("speech", "face", "text"):
        x, y = batch[name], noisy[name]
        assert y.shape == x.shape and y.dtype == x.dtype  # shape and dtype are kept
    assert 0.0 <= float(noisy["face"].min()) and float(noisy["face"].max()) <= 1.0
    kept = noisy["text"] != PAD
    assert bool((noisy["text"][:, 0] == CLS).all())  # special ids are never touched
    assert torch.equal(kept.sum(1), noisy["lengths"]["text"])  # lengths follow the deletions
    clean, dirty = batch["speech"], noisy["speech"]
    sdr = 10 * torch.log10(clean.pow(2).sum((1, 2)) / (dirty - clean).pow(2).sum((1, 2)))
    print("speech: signal-to-distortion ratio (dB):", [round(v, 1) for v in sdr.tolist()])
    brightness = (batch["face"].mean().item(), noisy["face"].mean().item())
    print("face: mean brightness {:.3f} -> {:.3f}".format(*brightness))
    before, after = batch["lengths"]["text"].tolist(), noisy["lengths"]["text"].tolist()
    print(f"text lengths: {before} -> {after}")
    print("text ids:", noisy["text"][0].tolist())
    for said, understood in zip(transcripts, heard, strict=True):
        print(f"asr: {said!r} -> {understood!r}")


if __name__ == "__main__":
    main()
