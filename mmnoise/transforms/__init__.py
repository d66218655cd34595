"""Transform classes: validate config, sample per-example params for a level, call one kernel."""

from mmnoise.transforms.base import NoiseTransform, Record, from_config, registered_transforms
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
from mmnoise.transforms.missing import DropModalities

__all__ = [
    "AddColoredSNR",
    "AddGaussianSNR",
    "Compose",
    "DiffusionNoise",
    "DropModalities",
    "FeatureMask",
    "FrameDropout",
    "FrameFreeze",
    "Gain",
    "ImpulseNoise",
    "MultimodalPipeline",
    "NoiseTransform",
    "OneOf",
    "Quantize",
    "Record",
    "SomeOf",
    "TimeMask",
    "TimeShift",
    "from_config",
    "registered_transforms",
]
