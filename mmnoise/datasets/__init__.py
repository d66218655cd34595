"""Datasets in the mmnoise item format: a built-in synthetic corpus and loaders for real layouts.

Every dataset here returns *unbatched* sample dicts: ``"audio"`` (T_a, D_a), ``"visual"``
(T_v, D_v) and ``"text"`` (T_l, D_l) float32 feature sequences at their true lengths (no
padding), a ``"label"`` scalar tensor and an ``"id"`` string. Batch them with
:func:`mmnoise.data.pad_collate`.

* :class:`SyntheticMER`: synthetic, generated on the fly from a seed (the demo default).
* :class:`MMINFeatures`: the MMIN / IF-MMIN / NMER IEMOCAP (and MSP-IMPROV) feature layout
  (h5 files, needs ``h5py``).
* :class:`MMSAPickle`: the MMSA ``.pkl`` layout of CMU-MOSI, CMU-MOSEI and CH-SIMS.
* :class:`CorpusConfig`: the ``corpus.json`` that describes any corpus in the MMIN layout
  (modalities, feature files, normalisation, classes, folds).
* :func:`prepare_mmin`: per-utterance feature files (``.npy`` / openSMILE CSV) + a label CSV
  with speaker ids -> the MMIN layout with speaker-independent folds.
"""

from __future__ import annotations

from mmnoise.datasets.corpus import CorpusConfig, ModalitySpec
from mmnoise.datasets.iemocap import MMINFeatures
from mmnoise.datasets.mmsa import MMSAPickle
from mmnoise.datasets.prepare import prepare_mmin, read_feature_file
from mmnoise.datasets.synthetic import SyntheticMER

__all__ = [
    "CorpusConfig",
    "MMINFeatures",
    "MMSAPickle",
    "ModalitySpec",
    "SyntheticMER",
    "prepare_mmin",
    "read_feature_file",
]
