"""Contract cases for the video frame transforms (B, T, C, H, W)."""

from __future__ import annotations

from mmnoise.transforms import frames as T
from tests.contract.case import Case

CASES = [
    Case(lambda k: T.GaussianNoise(k, std=(0.05, 0.4)), "frames"),
    Case(lambda k: T.ShotNoise(k, std=(0.05, 0.6)), "frames"),
    Case(lambda k: T.GaussianBlur(k, sigma_px=(0.3, 3.0)), "frames", random=False),
    # MotionBlur: no MSE monotonicity on white-noise frames (the anti-aliased taps of a short
    # diagonal streak can change them more than a longer one); the streak's spread is checked
    # instead in tests/functional/test_frames.py
    Case(lambda k: T.MotionBlur(k, length=(1.0, 9.0)), "frames", monotone=None),
    Case(
        lambda k: T.MotionBlur(k, length=(1.0, 9.0), per_frame=True),
        "frames",
        monotone=None,
        name="per_frame",
    ),
    # radius up to 1.5 px: the drawn frames are 8-16 px wide, and monotone MSE on white noise
    # holds only on average, the reflected border shrinking the gap between radii. A disk as
    # wide as the frame (radius 4 on 9 px) reversed it; radius 1.25 -> 2 on one 8x8 frame still
    # did (1.1% of draws, MSE 0.0720 then 0.0714). At 0.6 / 1.0 / 1.5 px the smaller gap is
    # >= 6.6 standard deviations of its spread at 8 px (0 reversals in 400k draws)
    Case(lambda k: T.DefocusBlur(k, radius=(0.5, 1.5)), "frames", random=False),
    Case(lambda k: T.Occlusion(k, fraction=(0.05, 0.5)), "frames", monotone="count"),
    Case(
        lambda k: T.Occlusion(k, fraction=(0.05, 0.5), per_frame=True, fill=0.5),
        "frames",
        monotone="count",
        name="per_frame",
    ),
    Case(lambda k: T.JPEG(k, quality=(95.0, 5.0)), "frames", random=False),
    Case(lambda k: T.Brightness(k, delta=(0.05, 0.6)), "frames"),
    Case(lambda k: T.Contrast(k, factor=(0.9, 0.1)), "frames", random=False),
    Case(lambda k: T.LowLight(k), "frames"),
    Case(lambda k: T.ResolutionDrop(k, scale=(0.9, 0.1)), "frames", random=False),
    Case(lambda k: T.PyramidBlur(k), "frames", random=False),
]
