"""Group "tokens": text as token ids, 128 sentences x 64 ids (int64), valid lengths 20-64.

One sample = one sentence. Per-token probabilities: mask 0.15, random replacement 0.1, deletion
0.1, adjacent swap 0.1; padding and special ids are never touched (by the torch references
neither: one ``!=`` per protected id). nlpaug works on strings (the
same sentences decoded to words): the same corruption at the word level, one sentence at a time,
so its rows are ``~`` (strings, not ids; a tokenizer round trip would add to its time).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from benchmarks import refs
from benchmarks.harness import Case, Thunk
from benchmarks.inputs import Inputs, mmnoise_class, nbytes, need

KEY = "text"
PAD, CLS, SEP, MASK = 0, 101, 102, 103
SPECIAL = (CLS, SEP, MASK)
#: what mmnoise never edits, and so neither do the references (one != per id)
PROTECTED = (PAD, *SPECIAL)


def _low(inp: Inputs) -> int:
    """Lowest ordinary word id (ids below are reserved for specials)."""
    return min(1000, inp.shapes.vocab // 2)


def _data(inp: Inputs) -> dict[str, Any]:
    if "tokens" not in inp.cache:
        g = torch.Generator().manual_seed(4)
        b, t = inp.shapes.tokens
        lengths = torch.randint(min(20, t), t + 1, (b,), generator=g)
        ids = torch.randint(_low(inp), inp.shapes.vocab, (b, t), generator=g)
        valid = refs.valid_steps(lengths, t)
        ids = ids.masked_fill(~valid, PAD)
        ids[:, 0] = CLS
        ids[torch.arange(b), lengths - 1] = SEP
        words = [
            " ".join(f"w{int(i)}" for i in row[1 : int(n) - 1])
            for row, n in zip(ids, lengths, strict=True)
        ]
        inp.cache["tokens"] = {
            "ids": ids.to(inp.device),
            "lengths": lengths.to(inp.device),
            "words": words,
        }
    tokens: dict[str, Any] = inp.cache["tokens"]
    return tokens


def cases(inp: Inputs) -> list[Case]:
    """Every row of the tokens group."""
    d = _data(inp)
    ids: Tensor = d["ids"]
    lengths: Tensor = d["lengths"]
    b = ids.shape[0]
    size = 2 * nbytes(ids)
    sample = {KEY: ids, "lengths": {KEY: lengths}}
    common = {"pad_id": PAD, "special_ids": SPECIAL}

    def mm(name: str, ratio: float, **kw: Any) -> Any:
        def build() -> Thunk:
            tr = mmnoise_class("tokens", name)(KEY, fraction=(ratio, ratio), **common, **kw)
            g = inp.generator()
            return lambda: tr(sample, level=1.0, generator=g)

        return build

    def ref(fn: Any) -> Any:
        def build() -> Thunk:
            g = inp.generator()
            return lambda: fn(g)

        return build

    def nlpaug_word(action: str, p: float) -> Any:
        def build() -> Thunk:
            inp.cpu_only("nlpaug")
            naw = need("nlpaug.augmenter.word", "nlpaug")
            aug = naw.RandomWordAug(action=action, aug_p=p, aug_min=0, aug_max=None)
            words = d["words"]
            return lambda: aug.augment(words)

        return build

    vocab = inp.shapes.vocab
    mask, rep, dele, swap = (
        "token mask p=0.15",
        "random replace p=0.1",
        "deletion p=0.1",
        "adjacent swap p=0.1",
    )
    return [
        Case(mask, "mmnoise", "TokenMask(mask_id=103)", mm("TokenMask", 0.15, mask_id=MASK), b, size, kind="mmnoise"),
        Case(mask, "torch ref", "rand < p, != per protected id, masked_fill", ref(lambda g: refs.token_mask(ids, lengths, 0.15, MASK, PROTECTED, g)), b, size, kind="ref"),
        Case(rep, "mmnoise", f"RandomTokenReplace(vocab_size={vocab})", mm("RandomTokenReplace", 0.1, vocab_size=vocab), b, size, kind="mmnoise"),
        Case(rep, "torch ref", "rand < p, randint, where", ref(lambda g: refs.token_replace(ids, lengths, 0.1, _low(inp), vocab, PROTECTED, g)), b, size, kind="ref"),
        Case(dele, "mmnoise", "TokenDeletion()", mm("TokenDeletion", 0.1), b, size, kind="mmnoise"),
        Case(dele, "torch ref", "stable sort compaction, gather", ref(lambda g: refs.token_delete(ids, lengths, 0.1, PAD, PROTECTED, g)), b, size, kind="ref"),
        Case(dele, "nlpaug", "RandomWordAug('delete') on 128 strings", nlpaug_word("delete", 0.1), b, size, sem="~", note="strings"),
        Case(swap, "mmnoise", "AdjacentSwap()", mm("AdjacentSwap", 0.1), b, size, kind="mmnoise"),
        Case(swap, "torch ref", "non-overlapping pair starts, gather", ref(lambda g: refs.token_swap(ids, lengths, 0.1, PROTECTED, g)), b, size, kind="ref"),
        Case(swap, "nlpaug", "RandomWordAug('swap') on 128 strings", nlpaug_word("swap", 0.1), b, size, sem="~", note="strings"),
    ]  # fmt: skip
