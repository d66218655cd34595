"""Which modalities an example has: presence matrices and the missing-modality conditions.

A batch marks a missing modality in ``sample["present"]`` (:mod:`mmnoise.sample`): a (B,) bool
tensor per modality name, False where that example lacks it. :func:`presence_matrix` stacks
those into a (B, M) matrix and :func:`presence_from_matrix` turns one back;
:func:`presence_patterns` enumerates the conditions a model is evaluated under (the six MMIN
conditions for three modalities, :data:`MMIN_CONDITIONS`) and :func:`condition_name` names one
the upstream way (``"azl"``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from mmnoise.sample import PRESENT, batch_size

__all__ = [
    "MMIN_CONDITIONS",
    "condition_name",
    "presence_from_matrix",
    "presence_matrix",
    "presence_patterns",
]

#: The six MMIN evaluation conditions over (audio, visual, text), in the upstream order
#: azz, zvz, zzl, avz, azl, zvl (as AIM3-RUC/MMIN, the code of Zhao, Li, Jin, ACL 2021).
MMIN_CONDITIONS: tuple[tuple[bool, bool, bool], ...] = (
    (True, False, False),
    (False, True, False),
    (False, False, True),
    (True, True, False),
    (True, False, True),
    (False, True, True),
)


def presence_matrix(sample: Mapping[str, Any], order: Sequence[str]) -> Tensor:
    """Return the (B, M) bool presence matrix of ``sample`` for modalities ``order``.

    A modality without an entry in ``sample["present"]`` counts as present.

    Example:
        >>> s = {"a": torch.zeros(2, 1, 1), "v": torch.zeros(2, 1, 1),
        ...      "present": {"v": torch.tensor([True, False])}}
        >>> presence_matrix(s, ("a", "v"))
        tensor([[ True,  True],
                [ True, False]])
    """
    for name in order:
        if name not in sample:
            raise KeyError(
                f"presence_matrix: modality {name!r} is not in the sample (keys: {sorted(sample)})."
            )
    b = batch_size(sample, list(order), who="presence_matrix")
    present = sample.get(PRESENT, {})
    cols = [
        present[n].to(torch.bool)
        if n in present
        else torch.ones(b, dtype=torch.bool, device=sample[n].device)
        for n in order
    ]
    return torch.stack(cols, dim=1)


def presence_from_matrix(matrix: Tensor, order: Sequence[str]) -> dict[str, Tensor]:
    """Turn a (B, M) bool matrix back into a ``present`` dict keyed by name.

    Example:
        >>> presence_from_matrix(torch.tensor([[True, False]]), ("a", "v"))
        {'a': tensor([True]), 'v': tensor([False])}
    """
    if matrix.ndim != 2 or matrix.shape[1] != len(order):
        raise ValueError(
            f"presence_from_matrix: expected a (B, {len(order)}) matrix for {list(order)}, got "
            f"shape {tuple(matrix.shape)}."
        )
    return {name: matrix[:, i].to(torch.bool) for i, name in enumerate(order)}


def presence_patterns(
    names: Sequence[str], *, include_full: bool = False
) -> Iterator[dict[str, bool]]:
    """Enumerate the non-empty presence patterns over ``names``.

    Without ``include_full`` these are the proper non-empty subsets: for three modalities the six
    MMIN conditions, singletons first, in the upstream order (azz, zvz, zzl, avz, azl, zvl).

    Example:
        >>> [condition_name(p) for p in presence_patterns(("a", "v", "l"))]
        ['azz', 'zvz', 'zzl', 'avz', 'azl', 'zvl']
    """
    m = len(names)
    for r in range(1, m + 1):
        if r == m and not include_full:
            continue
        for combo in itertools.combinations(range(m), r):
            yield {n: i in combo for i, n in enumerate(names)}


def condition_name(pattern: Mapping[str, bool]) -> str:
    """Name a presence pattern the upstream way: initial letter if present, ``z`` if missing.

    Example:
        >>> condition_name({"audio": True, "visual": False, "text": True})
        'azt'
    """
    return "".join(n[0] if on else "z" for n, on in pattern.items())
