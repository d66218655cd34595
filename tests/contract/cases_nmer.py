"""Contract cases for NMER's noise scheduler (``mmnoise.transforms.nmer``)."""

from __future__ import annotations

from mmnoise.transforms.nmer import NMERNoise
from tests.contract.case import Case

# t ~ U{0..T-1} is random, so the noise is not monotone in the level for a fixed seed
CASES = [
    Case(lambda k: NMERNoise(k), "features", monotone=None),
    Case(lambda k: NMERNoise(k, intensity=(20, 20), per_example=True), "waveform", monotone=None),
    Case(
        lambda k: NMERNoise(k, noise="impulse", intensity=(20, 100)),
        "features",
        name="impulse",
        monotone=None,
    ),
]
