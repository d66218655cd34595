"""Text token transforms: (B, T) int64 ids with ``lengths``, a pad id and protected special ids.

Every class maps ``level`` in [0, 1] linearly onto a ``(weak, strong)`` ``fraction`` of the
editable tokens hit; level 0 is an exact identity. Padding (``pad_id`` and every position past ``lengths``) and ``special_ids`` are never
changed. Text held as embeddings ((B, T, D), kind ``features``) takes the feature transforms:
``AddGaussianSNR`` for embedding noise and ``FrameDropout`` for embedding dropout (whole token
vectors set to zero), so there is no separate ``EmbeddingDropout``. For raw strings, see
:mod:`mmnoise.text`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch  # noqa: F401  (the doctests below use it)
from torch import Tensor

from mmnoise.config import check_range, lerp
from mmnoise.deprecation import renamed_args
from mmnoise.functional import tokens as F
from mmnoise.rng import Randomness
from mmnoise.sample import LENGTHS, Keys, Kind
from mmnoise.transforms.base import NoiseTransform
from mmnoise.transforms.record import Entry

__all__ = ["AdjacentSwap", "RandomTokenReplace", "SpanMask", "TokenDeletion", "TokenMask"]

_TOKENS: frozenset[Kind] = frozenset({"tokens"})


def _check_id(value: Any, *, who: str, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{who}: expected {name} as a non-negative int id, got {value!r}.")
    return int(value)


def _check_special(value: Sequence[int], *, who: str) -> tuple[int, ...]:
    if isinstance(value, (str, int)) or not isinstance(value, Sequence):
        raise ValueError(
            f"{who}: expected special_ids as a tuple of ids, got {value!r}; e.g. (101, 102)."
        )
    return tuple(_check_id(v, who=who, name="special_ids entries") for v in value)


class _Rate(NoiseTransform):
    """Shared config of the fraction-driven token transforms (not public: no kernel of its own)."""

    accepts = _TOKENS

    def __init__(
        self,
        keys: Keys,
        *,
        fraction: Sequence[float],
        pad_id: int,
        special_ids: Sequence[int],
        p: float,
    ) -> None:
        super().__init__(keys, p=p)
        who = type(self).__name__
        self.fraction = check_range(fraction, who=who, name="fraction", lo=0.0, hi=1.0)
        self.pad_id = _check_id(pad_id, who=who, name="pad_id")
        self.special_ids = _check_special(special_ids, who=who)

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        return {"fraction": lerp(level, self.fraction), "seed": self.draw_seed(x, generator)}

    def kernel_kwargs(self) -> dict[str, Any]:
        return {"pad_id": self.pad_id, "special_ids": self.special_ids}


@renamed_args(ratio="fraction")
class TokenMask(_Rate):
    """Replace random tokens by an unknown / mask id (ASR drop-outs, out-of-vocabulary words).

    Level mapping: ``fraction = weak + level * (strong - weak)`` (default 0 to 0.3).

    Args:
        keys: entries to corrupt.
        mask_id: the id written in ([MASK] or [UNK]).
        fraction: (weak, strong) fraction of editable tokens masked, in [0, 1]; per-token
            probability.
        pad_id: padding id (never changed).
        special_ids: ids never changed ([CLS], [SEP], ...).
        p: per-example probability.

    Shape:
        (B, T) int64; output keeps shape, dtype and device.

    Example:
        >>> t = TokenMask("text", mask_id=103, fraction=(0.0, 1.0), special_ids=(101, 102))
        >>> t({"text": torch.tensor([[101, 7, 8, 102, 0]])}, generator=torch.Generator())["text"]
        tensor([[101, 103, 103, 102,   0]])
    """

    kernel = staticmethod(F.token_mask)

    def __init__(
        self,
        keys: Keys = None,
        *,
        mask_id: int,
        fraction: Sequence[float] = (0.0, 0.3),
        pad_id: int = 0,
        special_ids: Sequence[int] = (),
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, fraction=fraction, pad_id=pad_id, special_ids=special_ids, p=p)
        self.mask_id = _check_id(mask_id, who=type(self).__name__, name="mask_id")

    def kernel_kwargs(self) -> dict[str, Any]:
        return {**super().kernel_kwargs(), "mask_id": self.mask_id}


@renamed_args(ratio="fraction")
class RandomTokenReplace(_Rate):
    """Replace random tokens by ids drawn uniformly from the vocabulary (recognition errors).

    Level mapping: ``fraction = weak + level * (strong - weak)`` (default 0 to 0.3). New ids are
    never ``pad_id`` or one of ``special_ids``.

    Args:
        keys: entries to corrupt.
        vocab_size: size of the vocabulary (ids are drawn from ``[0, vocab_size)``).
        fraction: (weak, strong) fraction of editable tokens replaced, in [0, 1]; per-token
            probability.
        pad_id: padding id (never changed, never drawn).
        special_ids: ids never changed and never drawn.
        p: per-example probability.

    Shape:
        (B, T) int64; output keeps shape, dtype and device.

    Example:
        >>> t = RandomTokenReplace("text", vocab_size=50, fraction=(0.0, 1.0), special_ids=(1,))
        >>> y = t({"text": torch.tensor([[1, 7, 8, 0]])}, generator=torch.Generator())["text"]
        >>> y[0, 0].item(), y[0, 3].item(), bool((y[0, 1:3] > 1).all())
        (1, 0, True)
    """

    kernel = staticmethod(F.random_token_replace)

    def __init__(
        self,
        keys: Keys = None,
        *,
        vocab_size: int,
        fraction: Sequence[float] = (0.0, 0.3),
        pad_id: int = 0,
        special_ids: Sequence[int] = (),
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, fraction=fraction, pad_id=pad_id, special_ids=special_ids, p=p)
        who = type(self).__name__
        self.vocab_size = _check_id(vocab_size, who=who, name="vocab_size")
        protected = {i for i in (self.pad_id, *self.special_ids) if i < self.vocab_size}
        if self.vocab_size <= len(protected):
            raise ValueError(
                f"{who}: vocab_size={vocab_size} leaves no id to draw once pad_id and "
                "special_ids are excluded; pass the tokenizer's vocabulary size."
            )

    def kernel_kwargs(self) -> dict[str, Any]:
        return {**super().kernel_kwargs(), "vocab_size": self.vocab_size}


@renamed_args(ratio="fraction")
class AdjacentSwap(_Rate):
    """Swap random pairs of neighbouring tokens (word-order noise, disfluent transcripts).

    Level mapping: ``fraction = weak + level * (strong - weak)`` (default 0 to 0.5); see
    :func:`mmnoise.functional.tokens.adjacent_swap`.

    Args:
        keys: entries to corrupt.
        fraction: (weak, strong) fraction of eligible disjoint adjacent pairs swapped, in
            [0, 1]; per-pair probability.
        pad_id: padding id (never moved).
        special_ids: ids never moved.
        p: per-example probability.

    Shape:
        (B, T) int64; output keeps shape, dtype and device.

    Example:
        >>> x = torch.tensor([[5, 6, 7, 8]])
        >>> y = AdjacentSwap("text", fraction=(0.0, 1.0))({"text": x}, generator=torch.Generator())
        >>> sorted(y["text"][0].tolist()), y["text"].equal(x)
        ([5, 6, 7, 8], False)
    """

    kernel = staticmethod(F.adjacent_swap)

    def __init__(
        self,
        keys: Keys = None,
        *,
        fraction: Sequence[float] = (0.0, 0.5),
        pad_id: int = 0,
        special_ids: Sequence[int] = (),
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, fraction=fraction, pad_id=pad_id, special_ids=special_ids, p=p)


@renamed_args(ratio="fraction")
class TokenDeletion(_Rate):
    """Delete random tokens, shift the rest left and shorten ``lengths`` (dropped words).

    Level mapping: ``fraction = weak + level * (strong - weak)`` (default 0 to 0.3). Deletion changes the valid length, so this transform writes the new lengths into the
    returned sample: ``out["lengths"]`` is a NEW dict (the input's is untouched) whose entry for
    each corrupted key holds the shortened lengths (one is created when the sample had none); the
    freed tail is filled with ``pad_id``. The record's entry also holds them under ``"lengths"``.
    Every example keeps at least one token.

    Args:
        keys: entries to corrupt.
        fraction: (weak, strong) fraction of editable tokens deleted, in [0, 1]; per-token
            probability.
        pad_id: padding id (never deleted; written into the freed tail).
        special_ids: ids never deleted (they move left with the text).
        p: per-example probability.

    Shape:
        (B, T) int64; output keeps shape, dtype and device; ``lengths`` (B,) may shrink.

    Example:
        >>> s = {"text": torch.tensor([[101, 7, 8, 102, 0]]), "lengths": {"text": torch.tensor([4])}}
        >>> out = TokenDeletion("text", fraction=(0.0, 1.0), special_ids=(101, 102))(
        ...     s, generator=torch.Generator())
        >>> out["text"], out["lengths"]["text"], s["lengths"]["text"]
        (tensor([[101, 102,   0,   0,   0]]), tensor([2]), tensor([4]))
    """

    kernel = staticmethod(F.token_deletion)

    def __init__(
        self,
        keys: Keys = None,
        *,
        fraction: Sequence[float] = (0.0, 0.3),
        pad_id: int = 0,
        special_ids: Sequence[int] = (),
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, fraction=fraction, pad_id=pad_id, special_ids=special_ids, p=p)

    def entry_updates(
        self, name: str, x: Tensor, y: Tensor, entry: Entry, *, lengths: Tensor | None,
        present: Tensor | None,
    ) -> dict[str, Tensor]:  # fmt: skip
        """The shortened lengths (the examples not applied are unchanged and keep theirs)."""
        new = F.lengths_after_deletion(x, y, pad_id=self.pad_id, lengths=lengths)
        return {LENGTHS: new if lengths is None else new.to(lengths.dtype)}


@renamed_args(ratio="fraction")
class SpanMask(_Rate):
    """Mask one contiguous span of tokens (a phrase lost to noise or cross-talk).

    Level mapping: span width ``weak + level * (strong - weak)`` of the valid length (0 to 0.5);
    the start is a uniform fraction, so a shared draw masks the same stretch of time as a
    ``TimeMask`` on the other modalities.

    Args:
        keys: entries to corrupt.
        mask_id: the id written in.
        fraction: (weak, strong) fraction of the valid tokens masked (the span's width), in
            [0, 1].
        pad_id: padding id (never changed).
        special_ids: ids never changed (kept inside the span).
        p: per-example probability.

    Shape:
        (B, T) int64; output keeps shape, dtype and device.

    Example:
        >>> t = SpanMask("text", mask_id=103, fraction=(0.0, 1.0), special_ids=(101, 102))
        >>> t({"text": torch.tensor([[101, 7, 8, 9, 102]])}, generator=torch.Generator())["text"]
        tensor([[101, 103, 103, 103, 102]])
    """

    kernel = staticmethod(F.span_mask)

    def __init__(
        self,
        keys: Keys = None,
        *,
        mask_id: int,
        fraction: Sequence[float] = (0.0, 0.5),
        pad_id: int = 0,
        special_ids: Sequence[int] = (),
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, fraction=fraction, pad_id=pad_id, special_ids=special_ids, p=p)
        self.mask_id = _check_id(mask_id, who=type(self).__name__, name="mask_id")

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        return {"start": self.uniform(x, generator), "width_fraction": lerp(level, self.fraction)}

    def kernel_kwargs(self) -> dict[str, Any]:
        return {**super().kernel_kwargs(), "mask_id": self.mask_id}
