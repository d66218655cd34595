"""mmnoise: multimodal noise for robust emotion recognition.

Batched, GPU-ready noise transforms for waveforms, video frames, tokens and pre-extracted feature
sequences; missing-modality simulation; curriculum schedules; a reproducible Dataset wrapper.
"""

from mmnoise import datasets, functional, rng, sample, schedules, transforms
from mmnoise.data import BatchNoise, NoisyDataset, pad_collate
from mmnoise.sample import (
    MMIN_CONDITIONS,
    check_sample,
    condition_name,
    presence_from_matrix,
    presence_matrix,
    presence_patterns,
)
from mmnoise.transforms import *  # noqa: F403
from mmnoise.transforms import __all__ as _transform_names

__version__ = "0.1.0"

__all__ = [
    "MMIN_CONDITIONS",
    "BatchNoise",
    "NoisyDataset",
    "__version__",
    "datasets",
    "pad_collate",
    "rng",
    "schedules",
    "check_sample",
    "condition_name",
    "functional",
    "presence_from_matrix",
    "presence_matrix",
    "presence_patterns",
    "sample",
    "transforms",
    *_transform_names,
]
