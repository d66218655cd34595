"""MER-C: a frozen, versioned corruption benchmark for multimodal emotion recognition.

``load_suite("mer-c-v1")`` reads the suite (families x 5 severities in physical units, the
missing protocols, NMER's noise fill); :func:`corrupt_items` makes the frozen corrupted version
of each test item (as if on its own, batched by shape); :func:`run_benchmark` scores a
``predict`` callable on every cell and writes a report card; :mod:`mmnoise.merc.scoring` computes CE / mCE / relative mCE, areas under the
severity curves and effective robustness; :func:`export_mmin_h5` / :func:`export_mmsa_pkl`
write the corrupted test set in the corpus's own layout. See ``docs/mer-c.md``.
"""

from __future__ import annotations

from mmnoise.merc.corrupt import (
    corrupt_item,
    corrupt_items,
    item_seed,
    missing_rate_item,
    nmer_fill_item,
)
from mmnoise.merc.suite import Family, Suite, available_suites, load_suite

__all__ = [
    "Family",
    "Suite",
    "available_suites",
    "corrupt_item",
    "corrupt_items",
    "item_seed",
    "load_suite",
    "missing_rate_item",
    "nmer_fill_item",
]
