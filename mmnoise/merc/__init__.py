"""MER-C: a frozen, versioned corruption benchmark for multimodal emotion recognition.

``load_suite("mer-c-v2")`` reads the suite (families x 5 severities in physical units, the
missing protocols, NMER's noise fill); :func:`corrupt_items` makes the frozen corrupted version
of each test item (as if on its own, batched by shape); :func:`run_benchmark` scores any
``predict`` callable or ``nn.Module`` on every cell and returns (and writes) a report card;
:func:`scores` / :func:`write_report` summarise it (CE / mCE / relative mCE with bootstrap
confidence intervals, areas under the severity curves, effective robustness, per-modality
curves); :func:`export_suite` writes the corrupted test set in the corpus's own layout with a
checksummed manifest. See ``docs/mer-c.md`` and ``docs/api/merc.md``.
"""

from __future__ import annotations

from mmnoise.merc.corrupt import (
    corrupt_item,
    corrupt_items,
    item_seed,
    missing_pattern,
    missing_patterns,
    missing_rate_item,
    nmer_fill_item,
)
from mmnoise.merc.export import export_suite, verify_manifest
from mmnoise.merc.report import scores, write_report
from mmnoise.merc.runner import run_benchmark
from mmnoise.merc.scoring import bootstrap, bootstrap_difference
from mmnoise.merc.suite import Family, Suite, available_suites, load_suite

__all__ = [
    "Family",
    "Suite",
    "available_suites",
    "bootstrap",
    "bootstrap_difference",
    "corrupt_item",
    "corrupt_items",
    "export_suite",
    "item_seed",
    "load_suite",
    "missing_pattern",
    "missing_patterns",
    "missing_rate_item",
    "nmer_fill_item",
    "run_benchmark",
    "scores",
    "verify_manifest",
    "write_report",
]
