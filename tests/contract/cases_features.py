"""Contract cases for the feature-level (sequence) transforms."""

from __future__ import annotations

from mmnoise.transforms import features as T
from tests.contract.case import Case

CASES = [
    Case(lambda k: T.AddGaussianSNR(k, snr_db=(20.0, -5.0)), "features", snr=True),
    Case(lambda k: T.AddColoredSNR(k, snr_db=(20.0, -5.0), exponent=1.0), "features", snr=True),
    Case(lambda k: T.ImpulseNoise(k, fraction=(0.1, 0.6)), "features", monotone="count"),
    Case(lambda k: T.Gain(k, gain_db=(-1.0, -20.0)), "features", random=False),
    Case(lambda k: T.FrameDropout(k, fraction=(0.2, 0.9)), "features", monotone="count"),
    Case(lambda k: T.FrameDropout(k, fraction=(0.2, 0.9)), "frames", monotone="count"),
    Case(lambda k: T.TimeMask(k, fraction=(0.1, 0.9)), "features", monotone="count"),
    Case(lambda k: T.TimeMask(k, fraction=(0.1, 0.9)), "waveform", monotone="count"),
    Case(lambda k: T.TimeMask(k, fraction=(0.1, 0.9)), "frames", monotone="count"),
    Case(lambda k: T.FrameFreeze(k, fraction=(0.1, 0.9)), "features", monotone=None),
    Case(lambda k: T.FrameFreeze(k, fraction=(0.1, 0.9)), "frames", monotone=None),
    Case(lambda k: T.FeatureMask(k, fraction=(0.1, 0.9)), "features", monotone="count"),
    Case(lambda k: T.TimeShift(k, shift_fraction=(0.1, 0.5)), "features", monotone=None),
    Case(lambda k: T.TimeShift(k, shift_fraction=(0.1, 0.5)), "waveform", monotone=None),
    Case(lambda k: T.Quantize(k, bits=(12.0, 1.0)), "features", monotone=None, random=False),
    Case(lambda k: T.DiffusionNoise(k, num_steps=50), "features", monotone=None),
    Case(
        lambda k: T.DiffusionNoise(k, beta_schedule="cosine", noise="impulse"),
        "features",
        name="impulse",
        monotone=None,
    ),
]
