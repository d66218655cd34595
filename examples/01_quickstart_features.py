"""Quickstart: corrupt a batch of pre-extracted multimodal features in one call.

Builds a padded batch of audio / visual / text feature sequences in the mmnoise sample format,
runs a multimodal pipeline (per-modality noise plus whole-modality dropping) at one severity
level, and shows what came back: a NEW batch (the clean one is untouched) and a record of what
was done, which replays the exact corruption. Small by default (runs in about a second).

Run: ``python examples/01_quickstart_features.py``
"""

from __future__ import annotations

# --8<-- [start:quickstart]
import torch

import mmnoise.transforms as mt

B = 8  # a padded batch in the sample format: (B, T, D) features + valid lengths
batch = {
    "audio": torch.randn(B, 50, 130),  # e.g. ComParE frames; the last 10 are padding
    "visual": torch.randn(B, 50, 342),  # e.g. DenseFace frames
    "text": torch.randn(B, 22, 1024),  # e.g. BERT-large token vectors
    "lengths": {"audio": torch.full((B,), 40)},  # no entry: every step is valid
    "label": torch.randint(0, 4, (B,)),
}
pipeline = mt.MultimodalPipeline(
    {
        "audio": [mt.AddGaussianSNR(snr_db=(30.0, 0.0))],  # level 0: 30 dB ... level 1: 0 dB
        "visual": [mt.FrameDropout(fraction=(0.0, 0.5))],  # drop up to half of the frames
        "text": [mt.TimeMask(fraction=(0.0, 0.5))],  # mask one span of up to half the tokens
    },
    missing=mt.DropModalities(["audio", "visual", "text"], fraction=(0.0, 0.5)),
)
g = torch.Generator().manual_seed(0)  # the only source of randomness
noisy, record = pipeline.run(batch, level=0.5, generator=g)  # or pipeline(batch, level=...)
# --8<-- [end:quickstart]

# The clean batch is untouched and labels pass through. Noise never touches padding (a dropped
# modality is filled whole, padding included, as MMIN does).
assert noisy is not batch and "present" not in batch and noisy["label"] is batch["label"]
kept = noisy["present"]["audio"]
assert torch.equal(noisy["audio"][kept, 40:], batch["audio"][kept, 40:])
print("present per modality:", {k: v.int().tolist() for k, v in noisy["present"].items()})
for name in ("audio", "visual", "text"):
    changed = (noisy[name] != batch[name]).any(dim=-1).float().mean().item()
    print(f"{name:>6}: shape {tuple(noisy[name].shape)}, {changed:.0%} of steps changed")

# --8<-- [start:replay]
# The record holds every per-example parameter: it replays the same corruption exactly.
again = pipeline.replay(batch, record)
assert all(torch.equal(again[n], noisy[n]) for n in ("audio", "visual", "text"))
# Level 0 is an exact identity.
clean = pipeline(batch, level=0.0, generator=torch.Generator().manual_seed(1))
assert all(torch.equal(clean[n], batch[n]) for n in ("audio", "visual", "text"))
# --8<-- [end:replay]
print("replay reproduces the corruption; level 0 is the identity")
