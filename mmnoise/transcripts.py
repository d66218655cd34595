"""String-level ASR-like noise for raw transcripts, before tokenisation (CPU, seeded).

This module is separate from the tensor path: it edits Python strings *before* tokenisation,
one text at a time on the CPU, like nlpaug's word augmenters. For batched, GPU-ready noise on
token ids use :mod:`mmnoise.transforms.tokens` instead (100x faster, but it cannot invent
spellings). Speech recognisers make three kinds of word errors: substitutions by similar-sounding
words, deletions of (mostly short, unstressed) words, and insertions (fillers, function words);
the word error rate WER = (S + D + I) / N counts them. :func:`asr_noise` draws errors of these
kinds at a target WER. Randomness comes from a ``torch.Generator`` seeded from ``(seed, index)``,
so a text's noise depends only on the seed and its index, never on the batch or the worker.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import overload

import torch

from mmnoise.levels import check_level_value, check_range
from mmnoise.rng import derive_seed, make_generator

__all__ = ["asr_noise"]

# Groups of words a recogniser confuses: homophones and near-homophone function words.
_CONFUSIONS: tuple[tuple[str, ...], ...] = (
    ("their", "there", "they're"),
    ("to", "too", "two"),
    ("for", "four"),
    ("your", "you're"),
    ("its", "it's"),
    ("then", "than"),
    ("know", "no"),
    ("knew", "new"),
    ("right", "write"),
    ("here", "hear"),
    ("see", "sea"),
    ("by", "buy", "bye"),
    ("weather", "whether"),
    ("were", "where", "we're"),
    ("one", "won"),
    ("would", "wood"),
    ("whole", "hole"),
    ("our", "hour", "are"),
    ("week", "weak"),
    ("wait", "weight"),
    ("meet", "meat"),
    ("peace", "piece"),
    ("not", "knot"),
    ("made", "maid"),
    ("son", "sun"),
    ("great", "grate"),
    ("feel", "fill"),
    ("and", "an", "in"),
    ("a", "the", "uh"),
    ("it", "at"),
    ("can", "can't"),
    ("this", "these"),
    ("he", "she"),
    ("him", "them"),
    ("was", "is"),
)
_CONFUSABLE: dict[str, tuple[str, ...]] = {
    w: tuple(o for o in group if o != w) for group in _CONFUSIONS for w in group
}
# Phonetic respellings (sound-alike misspellings), tried in order; the first that matches is used.
_RESPELL: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), r)
    for p, r in (
        (r"ph", "f"),
        (r"ght", "t"),
        (r"tion", "shun"),
        (r"ck", "k"),
        (r"qu", "kw"),
        (r"ee", "ea"),
        (r"ea", "ee"),
        (r"ing$", "in"),
        (r"([bcdfglmnprstz])\1", r"\1"),
        (r"c([eiy])", r"s\1"),
        (r"x", "ks"),
        (r"([^aeiou])y$", r"\1ie"),
        (r"ed$", "d"),
        (r"s$", "z"),
    )
)
_FILLERS: tuple[str, ...] = ("uh", "um", "the", "a", "and", "i")
_WORD = re.compile(r"^(\W*)(.*?)(\W*)$")


def _substitute(core: str, pick: float) -> str | None:
    """Return a sound-alike replacement of ``core`` (lower-case) or None when none is known."""
    options = _CONFUSABLE.get(core)
    if options:
        return options[min(int(pick * len(options)), len(options) - 1)]
    for pattern, repl in _RESPELL:
        new = pattern.sub(repl, core, count=1)
        if new != core:
            return new
    return None


def _with_case(new: str, like: str) -> str:
    return new[:1].upper() + new[1:] if like[:1].isupper() else new


def _noisy(text: str, rate: float, mix: tuple[float, float, float], seed: int) -> str:
    words = text.split()
    if not words or rate <= 0:
        return text
    # Three uniforms per word, drawn whatever the rate: for a fixed seed a higher rate edits a
    # superset of the words, so severity grows with the level.
    u = torch.rand(len(words), 3, generator=make_generator(seed)).tolist()
    sub, dele, _ = mix
    total = sum(mix)
    out: list[str] = []
    for word, (hit, kind, pick) in zip(words, u, strict=True):
        if hit >= rate:
            out.append(word)
            continue
        lead, core, trail = _WORD.match(word).groups()  # type: ignore[union-attr]
        kind *= total
        if kind < sub:
            new = _substitute(core.lower(), pick)
            if new is not None:
                out.append(lead + _with_case(new, core) + trail)
            # a word without a known sound-alike is dropped (a deletion error)
        elif kind < sub + dele:
            continue
        else:
            filler = _FILLERS[min(int(pick * len(_FILLERS)), len(_FILLERS) - 1)]
            out.extend([filler, word])
    return " ".join(out) if out else words[0]


# A str is also a Sequence[str]; the str overload comes first, so mypy's overlap warning is moot.
@overload
def asr_noise(  # type: ignore[overload-overlap]
    texts: str,
    *,
    level: float,
    seed: int = 0,
    wer: Sequence[float] = (0.0, 0.3),
    mix: Sequence[float] = (0.6, 0.25, 0.15),
) -> str: ...


@overload
def asr_noise(
    texts: Sequence[str],
    *,
    level: float,
    seed: int = 0,
    wer: Sequence[float] = (0.0, 0.3),
    mix: Sequence[float] = (0.6, 0.25, 0.15),
) -> list[str]: ...


def asr_noise(
    texts: str | Sequence[str],
    *,
    level: float,
    seed: int = 0,
    wer: Sequence[float] = (0.0, 0.3),
    mix: Sequence[float] = (0.6, 0.25, 0.15),
) -> str | list[str]:
    """Corrupt transcripts with ASR-like word errors at a target word error rate.

    Each word is hit with probability ``rate = wer[0] + level * (wer[1] - wer[0])``; a hit word
    is substituted (a homophone or confusable function word such as there / their, else a
    phonetic respelling such as phone -> fone), deleted, or preceded by an inserted filler, in
    the proportions ``mix`` (substitution, deletion, insertion; default 0.6 / 0.25 / 0.15, roughly
    the split reported for conversational ASR). Leading / trailing punctuation and a capital
    initial are kept. A text never becomes empty.

    Args:
        texts: one string or a sequence of strings.
        level: severity in [0, 1]; 0 returns the texts unchanged.
        seed: the noise of text ``i`` is seeded with ``derive_seed(seed, i)``.
        wer: (weak, strong) per-word error probability, in [0, 1].
        mix: relative weights of substitutions, deletions and insertions.

    Returns:
        The noisy string, or a list of noisy strings for a sequence input.

    Raises:
        TypeError: level is not a number.
        ValueError: level outside [0, 1], bad ``wer`` or ``mix``.
        TypeError: ``texts`` is not a string or a sequence of strings.

    Example:
        >>> asr_noise("Knew their phone was ringing.", level=1.0, wer=(0.0, 1.0),
        ...           mix=(1.0, 0.0, 0.0))
        'New there fone is ringin.'
        >>> asr_noise(["hello there"], level=0.0)
        ['hello there']
    """
    who = "asr_noise"
    level = check_level_value(level, who=who)
    rates = check_range(wer, who=who, name="wer", lo=0.0, hi=1.0)
    weights = tuple(float(m) for m in mix)
    if len(weights) != 3 or min(weights) < 0 or sum(weights) <= 0:
        raise ValueError(
            f"{who}: expected mix as 3 non-negative weights (substitution, deletion, insertion) "
            f"with a positive sum, got {tuple(mix)!r}."
        )
    single = isinstance(texts, str)
    items = [texts] if isinstance(texts, str) else texts
    if not isinstance(items, Sequence) or not all(isinstance(t, str) for t in items):
        raise TypeError(
            f"{who}: expected a string or a sequence of strings, got {type(texts).__name__}; "
            "decode token ids to strings first, or use mmnoise.transforms.tokens on ids."
        )
    # level 0 is an exact identity, as for every transform
    rate = rates[0] + float(level) * (rates[1] - rates[0]) if level > 0 else 0.0
    mixed = (weights[0], weights[1], weights[2])
    out = [_noisy(t, rate, mixed, derive_seed(seed, i)) for i, t in enumerate(items)]
    return out[0] if single else out
