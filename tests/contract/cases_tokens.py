"""Contract cases for the token-id transforms (B, T) int64.

The shared strategies draw ids in [4, 50); the cases reserve 0 (pad), 1 (mask / unk) and 2, 3
(special ids such as [CLS] / [SEP]).
"""

from __future__ import annotations

from mmnoise.transforms import tokens as T
from tests.contract.case import Case

IDS = {"pad_id": 0, "special_ids": (2, 3)}

CASES = [
    Case(
        lambda k: T.TokenMask(k, mask_id=1, fraction=(0.1, 0.9), **IDS), "tokens", monotone="count"
    ),
    Case(
        lambda k: T.RandomTokenReplace(k, vocab_size=50, fraction=(0.1, 0.9), **IDS),
        "tokens",
        monotone="count",
    ),
    Case(lambda k: T.AdjacentSwap(k, fraction=(0.1, 0.9), **IDS), "tokens", monotone="count"),
    Case(lambda k: T.TokenDeletion(k, fraction=(0.1, 0.9), **IDS), "tokens", monotone=None),
    Case(
        lambda k: T.SpanMask(k, mask_id=1, fraction=(0.1, 0.9), **IDS), "tokens", monotone="count"
    ),
]
