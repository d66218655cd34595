"""The old home of the chunked parallel random fields, kept so that old imports still work.

They live in :mod:`mmnoise.rng`, the package's one randomness module: ``randn`` here is
:func:`mmnoise.rng.randn_chunked`, ``rand`` is :func:`mmnoise.rng.rand_chunked`; ``normal_``,
``uniform_``, ``chunk_seeds`` and ``CHUNK`` keep their names. Import them from there.
"""

from __future__ import annotations

from mmnoise.rng import CHUNK, chunk_seeds, normal_, uniform_
from mmnoise.rng import rand_chunked as rand
from mmnoise.rng import randn_chunked as randn

__all__ = ["CHUNK", "chunk_seeds", "normal_", "rand", "randn", "uniform_"]
