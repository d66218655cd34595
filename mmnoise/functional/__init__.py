"""Pure kernels: per-example parameters as explicit tensors, randomness only via ``generator``.

Batch-first, no Python loop over the batch, never in-place on inputs; padded steps (past
``lengths``) come back unchanged.
"""

from mmnoise.functional.diffusion import BetaSchedule, alpha_bar, beta_schedule, diffusion_noise
from mmnoise.functional.features import (
    add_colored_snr,
    add_gaussian_snr,
    add_noise_snr,
    feature_mask,
    frame_dropout,
    frame_freeze,
    gain,
    impulse_noise,
    quantize,
    time_mask,
    time_shift,
)
from mmnoise.functional.missing import drop_modality, sample_presence

__all__ = [
    "BetaSchedule",
    "add_colored_snr",
    "add_gaussian_snr",
    "add_noise_snr",
    "alpha_bar",
    "beta_schedule",
    "diffusion_noise",
    "drop_modality",
    "feature_mask",
    "frame_dropout",
    "frame_freeze",
    "gain",
    "impulse_noise",
    "quantize",
    "sample_presence",
    "time_mask",
    "time_shift",
]
