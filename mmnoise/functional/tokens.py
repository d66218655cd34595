"""Kernels for text token ids (B, T) int64: masking, replacement, deletion, swaps, span masking.

Vectorised over the batch (nlpaug-style word noise, on ids instead of strings). A position is
*editable* when it lies inside ``lengths`` and holds neither ``pad_id`` nor one of
``special_ids`` ([CLS], [SEP], ...): only editable positions are ever changed, replaced ids are
never special or pad, and positions past ``lengths`` come back unchanged. Kernels never modify
their input. Embeddings ((B, T, D), kind features) are covered by the feature transforms: whole
token-embedding dropout is :func:`mmnoise.functional.features.frame_dropout`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
from torch import Tensor

from mmnoise import rng
from mmnoise.deprecation import module_aliases, renamed_args
from mmnoise.device import reads_on_host
from mmnoise.functional._shape import (
    full_lengths,
    span_bounds,
    step_index,
    valid_steps_or_none,
)
from mmnoise.rng import Randomness

__all__ = [
    "adjacent_swap",
    "lengths_after_deletion",
    "random_token_replace",
    "span_mask",
    "token_deletion",
    "token_deletion_lengths",
    "token_mask",
]


def _check_tokens(x: Tensor, who: str) -> None:
    if x.ndim != 2 or x.dtype != torch.int64:
        raise TypeError(
            f"{who}: expected token ids as an int64 (B, T) tensor, got {x.dtype} of shape "
            f"{tuple(x.shape)}; use ids.long() and add the batch dim with ids[None]."
        )


#: on the CPU one ``isin`` reads the protected ids while there are at most this many ids per
#: protected id beyond the first: isin compares element by element (no vector code, about
#: 3 us + 9 ns an id on one thread), the loop pays about 2.7 us for each of its 2m - 1 ops, so
#: the loop wins for the pad alone and the two meet near 500, 1,000, 1,500, 2,500 and 5,000 ids
#: for 2, 3, 4, 6 and 10 protected ids (measured on the per-item benchmark's machine)
_ISIN_IDS = 500


@functools.lru_cache(maxsize=64)
def _protected(ids: tuple[int, ...]) -> Tensor:
    """The protected ids as a CPU int64 tensor, built once per set (read only by ``isin``)."""
    return torch.tensor(ids, dtype=torch.int64)


def _editable(x: Tensor, valid: Tensor | None, pad_id: int, special_ids: Sequence[int]) -> Tensor:
    """Return the (B, T) bool mask of positions a kernel may change (``valid``: None = all)."""
    protected = (pad_id, *special_ids)
    if reads_on_host(x.device) and x.numel() <= _ISIN_IDS * (len(protected) - 1):
        editable = torch.isin(x, _protected(protected), invert=True)
    else:
        # a few comparisons beat isin on larger batches; off the CPU they also avoid copying
        # a host list of ids to the device (a synchronous copy on CUDA)
        editable = x != pad_id
        for sid in special_ids:
            editable &= x != sid
    if valid is not None:
        editable &= valid
    return editable


def _hits(x: Tensor, fraction: Tensor, generator: Randomness) -> Tensor:
    """Draw U[0, 1) per position and compare with a per-example fraction (a (B, T) bool mask).

    One uniform per position, compared with the rate: for a fixed seed a higher rate hits a
    superset of positions, so severity is monotone in the level.
    """
    u = rng.rand(x.shape, generator=generator, device=x.device)
    return u < fraction.to(x.device, torch.float32)[:, None]


@renamed_args(ratio="fraction")
def token_mask(
    x: Tensor,
    *,
    fraction: Tensor,
    mask_id: int,
    pad_id: int = 0,
    special_ids: Sequence[int] = (),
    generator: Randomness = None,
    lengths: Tensor | None = None,
) -> Tensor:
    """Replace editable tokens by ``mask_id`` ([MASK] or [UNK]), each with ``fraction``.

    Args:
        x: token ids.
        fraction: (B,) fraction of editable tokens replaced, in [0, 1]; per-token probability.
        mask_id: the id written in.
        pad_id: padding id (never changed).
        special_ids: ids never changed ([CLS], [SEP], ...).
        generator: source of the choices.
        lengths: (B,) valid tokens; later positions are untouched.

    Shape:
        x: (B, T) int64; fraction, lengths: (B,). Output: same as x.

    Returns:
        The masked ids.

    Example:
        >>> x = torch.tensor([[101, 7, 8, 9, 102, 0]])
        >>> token_mask(x, fraction=torch.tensor([1.0]), mask_id=103, special_ids=(101, 102))
        tensor([[101, 103, 103, 103, 102,   0]])
    """
    _check_tokens(x, "token_mask")
    # few ops: at 128 x 64 ids each costs about as much as its arithmetic (benchmarks/)
    hit = _hits(x, fraction, generator)
    hit &= _editable(x, valid_steps_or_none(x, lengths, 1), pad_id, special_ids)
    return x.masked_fill(hit, mask_id)


@renamed_args(ratio="fraction")
def random_token_replace(
    x: Tensor,
    *,
    fraction: Tensor,
    vocab_size: int,
    pad_id: int = 0,
    special_ids: Sequence[int] = (),
    generator: Randomness = None,
    lengths: Tensor | None = None,
) -> Tensor:
    """Replace editable tokens by ids drawn uniformly from the vocabulary, each with ``fraction``.

    Replacements are drawn from ``[0, vocab_size)`` minus ``pad_id`` and ``special_ids``, so no
    structural token is ever inserted (a replacement may equal the original id, with probability
    1 / (allowed vocabulary size)).

    Args:
        x: token ids.
        fraction: (B,) fraction of editable tokens replaced, in [0, 1]; per-token probability.
        vocab_size: size of the vocabulary.
        pad_id: padding id (never changed, never drawn).
        special_ids: ids never changed and never drawn.
        generator: source of the choices and the new ids.
        lengths: (B,) valid tokens.

    Shape:
        x: (B, T) int64; fraction, lengths: (B,). Output: same as x.

    Returns:
        The ids with random replacements.

    Raises:
        ValueError: no id is left to draw from.

    Example:
        >>> x = torch.tensor([[2, 3, 3, 0]])
        >>> random_token_replace(x, fraction=torch.tensor([1.0]), vocab_size=4,
        ...                      special_ids=(1, 2))
        tensor([[2, 3, 3, 0]])
    """
    _check_tokens(x, "random_token_replace")
    # the excluded ids are config (host ints): the k-th allowed id is found from them alone,
    # with no (vocab_size,) table and no data-dependent shape
    excluded = sorted({int(i) for i in (pad_id, *special_ids) if 0 <= int(i) < vocab_size})
    count = vocab_size - len(excluded)
    if count <= 0:
        raise ValueError(
            f"random_token_replace: no id left to draw from: vocab_size={vocab_size} with "
            f"pad_id={pad_id} and special_ids={tuple(special_ids)}; give the real vocabulary size."
        )
    hit = _hits(x, fraction, generator)
    hit &= _editable(x, valid_steps_or_none(x, lengths, 1), pad_id, special_ids)
    # allowed id of rank k = k + #{excluded e_j with e_j - j <= k} (e sorted): one comparison
    # with a host int per distinct bound e_j - j, none for bounds <= 0 (every k passes them, so
    # their shift is drawn in: randint(s, s + count) = s + randint(0, count), the same values),
    # no host list copied to the device. Runs of consecutive ids ([CLS] [SEP] [MASK] = 101 102
    # 103) share one bound.
    # counted in a plain dict: dynamo before torch 2.9 cannot call collections.Counter
    bounds: dict[int, int] = {}
    for j, e in enumerate(excluded):
        bounds[e - j] = bounds.get(e - j, 0) + 1
    shift = sum(n for bound, n in bounds.items() if bound <= 0)
    ids = rng.randint(shift, shift + count, x.shape, generator=generator, device=x.device)
    # highest bound first: a shifted id then still compares with the lower bounds as its rank
    # did (ids only grow, and only those already past the bound)
    for bound, n in sorted(bounds.items(), reverse=True):
        if bound > 0:
            ids.add_(ids >= bound + shift, alpha=n)
    return torch.where(hit, ids, x)


@renamed_args(ratio="fraction")
def adjacent_swap(
    x: Tensor,
    *,
    fraction: Tensor,
    pad_id: int = 0,
    special_ids: Sequence[int] = (),
    generator: Randomness = None,
    lengths: Tensor | None = None,
) -> Tensor:
    """Swap adjacent editable tokens (word-order noise), each disjoint pair with ``fraction``.

    Each example's tokens are split into disjoint adjacent pairs ``(o + 2k, o + 2k + 1)`` with a
    random offset ``o`` in {0, 1} per example; a pair whose two tokens are editable is swapped
    with probability ``fraction``. Disjoint pairs make the swaps independent (no token moves
    twice) and the set of swapped pairs grows with ``fraction`` for a fixed seed.

    Args:
        x: token ids.
        fraction: (B,) fraction of eligible disjoint pairs swapped, in [0, 1]; per-pair
            probability.
        pad_id: padding id (never moved).
        special_ids: ids never moved.
        generator: source of the offsets and choices.
        lengths: (B,) valid tokens.

    Shape:
        x: (B, T) int64; fraction, lengths: (B,). Output: same as x.

    Returns:
        The ids with swapped neighbours.

    Example:
        >>> x = torch.tensor([[1, 2, 3, 4, 5]])
        >>> adjacent_swap(x, fraction=torch.tensor([1.0]), special_ids=(1,),
        ...            generator=torch.Generator().manual_seed(0))
        tensor([[1, 2, 4, 3, 5]])
    """
    _check_tokens(x, "adjacent_swap")
    offset = rng.randint(0, 2, (x.shape[0], 1), generator=generator, device=x.device)
    hit = _hits(x, fraction, generator)
    ok = _editable(x, valid_steps_or_none(x, lengths, 1), pad_id, special_ids)
    steps = torch.arange(x.shape[1], device=x.device)
    # first[:, i]: tokens i and i + 1 swap (i at the example's pair parity, both editable, hit);
    # (B, T - 1) for the left tokens, as the last token starts no pair
    first = (steps[:-1] & 1) == offset
    first &= ok[:, :-1]
    first &= ok[:, 1:]
    first &= hit[:, :-1]
    moves = first.long()  # (integer: torch subtracts no bool)
    source = steps.repeat(x.shape[0], 1)
    source[:, :-1].add_(moves)
    source[:, 1:].sub_(moves)
    return x.gather(1, source)


def _delete_keep(
    x: Tensor,
    fraction: Tensor,
    pad_id: int,
    special_ids: Sequence[int],
    generator: Randomness,
    lengths: Tensor | None,
) -> tuple[Tensor, Tensor | None]:
    """Return the (B, T) mask of tokens kept by a deletion and the (B, T) valid mask (None:
    all valid)."""
    valid = valid_steps_or_none(x, lengths, 1)
    drop = _hits(x, fraction, generator)
    drop &= _editable(x, valid, pad_id, special_ids)
    keep = ~drop if valid is None else valid ^ drop  # drop lies inside valid
    if x.shape[1]:
        # an example keeps at least one token: a zero length is not a valid sequence
        keep[:, 0].logical_or_(~keep.any(dim=1))
    return keep, valid


@renamed_args(ratio="fraction")
def token_deletion(
    x: Tensor,
    *,
    fraction: Tensor,
    pad_id: int = 0,
    special_ids: Sequence[int] = (),
    generator: Randomness = None,
    lengths: Tensor | None = None,
) -> Tensor:
    """Delete editable tokens, each with ``fraction``; shift the rest left, pad with ``pad_id``.

    The kept tokens keep their order (stable compaction); the freed positions at the end of the
    valid part become ``pad_id``, so the valid length shrinks by the number deleted
    (:func:`token_deletion_lengths` gives it from the same arguments). At least one token is
    kept.
    Positions past ``lengths`` are untouched.

    Args:
        x: token ids.
        fraction: (B,) fraction of editable tokens deleted, in [0, 1]; per-token probability.
        pad_id: padding id (never deleted; written into the freed tail).
        special_ids: ids never deleted.
        generator: source of the choices.
        lengths: (B,) valid tokens.

    Shape:
        x: (B, T) int64; fraction, lengths: (B,). Output: same as x.

    Returns:
        The compacted ids.

    Example:
        >>> x = torch.tensor([[101, 7, 8, 102, 0]])
        >>> token_deletion(x, fraction=torch.tensor([1.0]), special_ids=(101, 102))
        tensor([[101, 102,   0,   0,   0]])
    """
    _check_tokens(x, "token_deletion")
    keep, valid = _delete_keep(x, fraction, pad_id, special_ids, generator, lengths)
    # stable sort, kept tokens first (in order), then the others in order: the deleted valid
    # ones, then the padding, which keeps its positions (valid steps are a prefix)
    kept_first, order = torch.sort(keep, dim=1, descending=True, stable=True)
    packed = x.gather(1, order)
    # the deleted tokens now sit between the new and the old length: they become pad_id
    freed = ~kept_first if valid is None else valid > kept_first
    return packed.masked_fill_(freed, pad_id)


@renamed_args(ratio="fraction")
def token_deletion_lengths(
    x: Tensor,
    *,
    fraction: Tensor,
    pad_id: int = 0,
    special_ids: Sequence[int] = (),
    generator: Randomness = None,
    lengths: Tensor | None = None,
) -> Tensor:
    """Return the valid lengths after :func:`token_deletion` with the same arguments, generator.

    Args:
        x: token ids.
        fraction: (B,) fraction of editable tokens deleted; per-token probability.
        pad_id: padding id.
        special_ids: ids never deleted.
        generator: a generator in the same state as the one given to :func:`token_deletion`.
        lengths: (B,) valid tokens before deletion.

    Shape:
        x: (B, T) int64. Output: (B,) int64.

    Returns:
        The new lengths (each >= 1).

    Example:
        >>> x = torch.tensor([[101, 7, 8, 102, 0]])
        >>> token_deletion_lengths(x, fraction=torch.tensor([1.0]), special_ids=(101, 102),
        ...                      lengths=torch.tensor([4]))
        tensor([2])
    """
    _check_tokens(x, "token_deletion_lengths")
    # the kept mask alone: no compaction (sort, gather) of ids that are never returned
    keep, _ = _delete_keep(x, fraction, pad_id, special_ids, generator, lengths)
    return keep.sum(dim=1)


def lengths_after_deletion(
    x: Tensor, y: Tensor, *, pad_id: int = 0, lengths: Tensor | None = None
) -> Tensor:
    """Return the valid lengths of ``y = token_deletion(x, ...)`` from ``x`` and ``y`` alone.

    Deletion moves the kept tokens left and writes ``pad_id`` once per deleted token into the
    freed tail; it never deletes ``pad_id`` itself and leaves positions past ``lengths`` as they
    were. So each example has exactly (deleted count) more ``pad_id`` in ``y`` than in ``x``:
    four ops, no second draw. An example ``y`` left as it was keeps its length.

    Args:
        x: token ids before deletion.
        y: the same ids after :func:`token_deletion` (or any rows of ``x`` left unchanged).
        pad_id: the padding id given to :func:`token_deletion`.
        lengths: (B,) valid tokens of ``x`` (None: all ``T``).

    Shape:
        x, y: (B, T) int64. Output: (B,) int64.

    Example:
        >>> x = torch.tensor([[101, 7, 8, 102, 0]])
        >>> y = token_deletion(x, fraction=torch.tensor([1.0]), special_ids=(101, 102))
        >>> lengths_after_deletion(x, y, lengths=torch.tensor([4]))
        tensor([2])
    """
    deleted = (y == pad_id).sum(dim=1) - (x == pad_id).sum(dim=1)
    return full_lengths(x, lengths, 1) - deleted


@renamed_args(width_ratio="width_fraction")
def span_mask(
    x: Tensor,
    *,
    start: Tensor,
    width_fraction: Tensor,
    mask_id: int,
    pad_id: int = 0,
    special_ids: Sequence[int] = (),
    lengths: Tensor | None = None,
) -> Tensor:
    """Mask one contiguous span of the valid tokens with ``mask_id`` (a dropped phrase).

    The span is placed as in :func:`mmnoise.functional.features.time_mask` (fractions of the valid
    length, so a shared draw masks the same stretch of time as in the other modalities); special
    and pad ids inside it are kept.

    Args:
        x: token ids.
        start: (B,) span start as a fraction in [0, 1).
        width_fraction: (B,) span width as a fraction of the valid length, in [0, 1].
        mask_id: the id written in.
        pad_id: padding id (never changed).
        special_ids: ids never changed.
        lengths: (B,) valid tokens.

    Shape:
        x: (B, T) int64; start, width_fraction, lengths: (B,). Output: same as x.

    Returns:
        The ids with one masked span.

    Example:
        >>> x = torch.tensor([[101, 5, 6, 7, 8, 102]])
        >>> span_mask(x, start=torch.tensor([0.0]), width_fraction=torch.tensor([0.5]),
        ...           mask_id=103, special_ids=(101, 102))
        tensor([[101, 103, 103,   7,   8, 102]])
    """
    _check_tokens(x, "span_mask")
    lo, hi = span_bounds(full_lengths(x, lengths, 1), start, width_fraction)
    steps = step_index(x, 1)
    inside = (steps >= lo[:, None]) & (steps < hi[:, None])
    hit = inside & _editable(x, valid_steps_or_none(x, lengths, 1), pad_id, special_ids)
    return x.masked_fill(hit, mask_id)


# the old kernel names (each kernel now shares its class's stem): they warn, for one release
_RENAMED = {
    "token_delete": token_deletion,
    "token_delete_lengths": token_deletion_lengths,
    "lengths_after_delete": lengths_after_deletion,
    "token_replace": random_token_replace,
    "token_swap": adjacent_swap,
}
__getattr__ = module_aliases(__name__, _RENAMED)
