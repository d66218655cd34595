"""Transform classes: validate config, sample per-example params for a level, call one kernel."""

from collections.abc import Mapping
from typing import Any

from mmnoise.config import TRANSFORMS
from mmnoise.transforms.base import NoiseTransform
from mmnoise.transforms.compose import Compose, MultimodalPipeline, OneOf, SomeOf
from mmnoise.transforms.features import (
    AddColoredSNR,
    AddGaussianSNR,
    DiffusionNoise,
    FeatureMask,
    FrameDropout,
    FrameFreeze,
    Gain,
    ImpulseNoise,
    Quantize,
    TimeMask,
    TimeShift,
)
from mmnoise.transforms.frames import (
    JPEG,
    Brightness,
    Contrast,
    DefocusBlur,
    GaussianBlur,
    GaussianNoise,
    LowLight,
    MotionBlur,
    Occlusion,
    PyramidBlur,
    ResolutionDrop,
    ShotNoise,
)
from mmnoise.transforms.missing import DropModalities, FeatureMissing
from mmnoise.transforms.nmer import NMERNoise
from mmnoise.transforms.record import Entry, Record
from mmnoise.transforms.tokens import (
    AdjacentSwap,
    RandomTokenReplace,
    SpanMask,
    TokenDeletion,
    TokenMask,
)
from mmnoise.transforms.waveform import (
    AddNoiseBank,
    Babble,
    BandPass,
    Clip,
    Codec,
    HighPass,
    LowPass,
    MERNoiseMix,
    PacketLoss,
    PerceptualCodec,
    PitchShift,
    Reverb,
    SpecAugment,
    SpeedPerturb,
    TimeStretch,
)

__all__ = [
    "JPEG",
    "AddColoredSNR",
    "AddGaussianSNR",
    "AddNoiseBank",
    "AdjacentSwap",
    "Babble",
    "BandPass",
    "Brightness",
    "Clip",
    "Codec",
    "Compose",
    "Contrast",
    "DefocusBlur",
    "DiffusionNoise",
    "DropModalities",
    "Entry",
    "FeatureMask",
    "FeatureMissing",
    "FrameDropout",
    "FrameFreeze",
    "Gain",
    "GaussianBlur",
    "GaussianNoise",
    "HighPass",
    "ImpulseNoise",
    "LowLight",
    "LowPass",
    "MERNoiseMix",
    "MotionBlur",
    "MultimodalPipeline",
    "NMERNoise",
    "NoiseTransform",
    "Occlusion",
    "OneOf",
    "PacketLoss",
    "PerceptualCodec",
    "PitchShift",
    "PyramidBlur",
    "Quantize",
    "RandomTokenReplace",
    "Record",
    "ResolutionDrop",
    "Reverb",
    "ShotNoise",
    "SomeOf",
    "SpanMask",
    "SpecAugment",
    "SpeedPerturb",
    "TimeMask",
    "TimeShift",
    "TimeStretch",
    "TokenDeletion",
    "TokenMask",
    "from_config",
    "registered_transforms",
]


def from_config(config: Mapping[str, Any]) -> NoiseTransform:
    """Rebuild a transform or container from the dict written by ``to_config()``.

    The registry and the codec are :mod:`mmnoise.config`'s (shared with the schedules);
    :func:`mmnoise.config.from_config` rebuilds either kind.

    Example:
        >>> t = from_config(Gain("audio", gain_db=(0.0, -6.0)).to_config())
        >>> type(t).__name__, t.gain_db
        ('Gain', (0.0, -6.0))
    """
    if not isinstance(config, Mapping) or "type" not in config:
        raise ValueError(
            f"from_config: expected a dict with a 'type' key (from to_config()), got {config!r:.80}."
        )
    transform: NoiseTransform = TRANSFORMS.build(config)
    return transform


def registered_transforms() -> dict[str, type[NoiseTransform]]:
    """Return every concrete transform class by name (the registry behind ``from_config``).

    Example:
        >>> registered_transforms()["Gain"] is Gain
        True
    """
    return TRANSFORMS.classes()
