"""mmnoise: multimodal noise for robust emotion recognition.

Batched, GPU-ready noise transforms for waveforms, video frames, tokens and pre-extracted feature
sequences; missing-modality simulation; curriculum schedules; a reproducible Dataset wrapper.
Trainer integrations (Lightning, Hugging Face) live in :mod:`mmnoise.integrations`, behind extras.
"""

from mmnoise import config, datasets, functional, metrics, rng, sample, schedules, transforms
from mmnoise.data import BatchNoise, EpochSampler, NoisyDataset, pad_collate
from mmnoise.presence import (
    MMIN_CONDITIONS,
    condition_name,
    presence_from_matrix,
    presence_matrix,
    presence_patterns,
)
from mmnoise.sample import check_sample
from mmnoise.transforms import *  # noqa: F403
from mmnoise.transforms import __all__ as _transform_names

__version__ = (
    "0.1.0"  # the one place; pyproject.toml reads it statically, a test checks CITATION.cff
)

__all__ = [
    "MMIN_CONDITIONS",
    "BatchNoise",
    "EpochSampler",
    "NoisyDataset",
    "__version__",
    "datasets",
    "pad_collate",
    "rng",
    "schedules",
    "check_sample",
    "condition_name",
    "config",
    "functional",
    "metrics",
    "presence_from_matrix",
    "presence_matrix",
    "presence_patterns",
    "sample",
    "transforms",
    *_transform_names,
]
