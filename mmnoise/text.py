"""Deprecated: renamed :mod:`mmnoise.transcripts` (string-level ASR noise for raw transcripts).

Importing ``mmnoise.text`` warns once and gives the same objects; it will be removed in 0.2.
"""

from mmnoise.deprecation import moved_module
from mmnoise.transcripts import asr_noise

moved_module(__name__, "mmnoise.transcripts")

__all__ = ["asr_noise"]
