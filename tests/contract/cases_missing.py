"""Contract cases for the entry-level missing transforms (whole modalities: tests/test_missing.py)."""

from __future__ import annotations

from mmnoise.transforms import missing as T
from tests.contract.case import Case

CASES = [
    Case(lambda k: T.FeatureMissing(k, fraction=(0.1, 0.9)), "features", monotone="count"),
]
