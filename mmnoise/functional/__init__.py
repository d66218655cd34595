"""Pure kernels: per-example parameters as explicit tensors, randomness only via ``generator``.

Batch-first, no Python loop over the batch, never in-place on inputs; padded steps (past
``lengths``) come back unchanged.
"""

from mmnoise.deprecation import module_aliases
from mmnoise.functional import frames as _frames
from mmnoise.functional import missing as _missing
from mmnoise.functional import tokens as _tokens
from mmnoise.functional.diffusion import (
    BetaSchedule,
    alpha_bar,
    beta_schedule,
    diffusion_noise,
    nmer_alpha_bar,
)
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
from mmnoise.functional.frames import (
    brightness,
    contrast,
    defocus_blur,
    gaussian_blur,
    gaussian_noise,
    jpeg,
    low_light,
    motion_blur,
    occlusion,
    pyramid_blur,
    resolution_drop,
    shot_noise,
)
from mmnoise.functional.missing import drop_modalities, sample_presence
from mmnoise.functional.tokens import (
    adjacent_swap,
    lengths_after_deletion,
    random_token_replace,
    span_mask,
    token_deletion,
    token_deletion_lengths,
    token_mask,
)
from mmnoise.functional.waveform import (
    add_noise_bank,
    babble,
    bandpass,
    clip,
    codec,
    ffmpeg_codec,
    highpass,
    lowpass,
    mer_noise_mix,
    mu_law,
    packet_loss,
    perceptual_codec,
    pitch_shift,
    reverb,
    spec_augment,
    speed_perturb,
    time_stretch,
    time_stretch_lengths,
)

__all__ = [
    "BetaSchedule",
    "add_colored_snr",
    "add_gaussian_snr",
    "add_noise_bank",
    "add_noise_snr",
    "adjacent_swap",
    "alpha_bar",
    "babble",
    "bandpass",
    "beta_schedule",
    "brightness",
    "clip",
    "codec",
    "contrast",
    "defocus_blur",
    "diffusion_noise",
    "drop_modalities",
    "feature_mask",
    "ffmpeg_codec",
    "frame_dropout",
    "frame_freeze",
    "gain",
    "gaussian_blur",
    "gaussian_noise",
    "highpass",
    "impulse_noise",
    "jpeg",
    "lengths_after_deletion",
    "low_light",
    "lowpass",
    "mer_noise_mix",
    "motion_blur",
    "mu_law",
    "nmer_alpha_bar",
    "occlusion",
    "packet_loss",
    "perceptual_codec",
    "pitch_shift",
    "pyramid_blur",
    "quantize",
    "random_token_replace",
    "resolution_drop",
    "reverb",
    "sample_presence",
    "shot_noise",
    "span_mask",
    "spec_augment",
    "speed_perturb",
    "time_mask",
    "time_shift",
    "time_stretch",
    "time_stretch_lengths",
    "token_deletion",
    "token_deletion_lengths",
    "token_mask",
]

# renamed kernels: the old names warn, for one release
__getattr__ = module_aliases(__name__, {**_tokens._RENAMED, **_frames._RENAMED, **_missing._RENAMED})
