"""Speed hints: what a call knows on the host that lets it skip work, in one place.

A hint never changes a value: ignoring every one of them gives the same output, only slower.
The base class and the containers consult them here and nowhere else.

``known`` (an :class:`~mmnoise.transforms.record.Entry` field, ``"all"`` / ``"none"`` / absent)
    Which examples an entry applies to, when the host knows it without reading a tensor. It is
    set by :func:`known` from a float ``level`` and ``p``: ``p = 0`` or a level that is 0 in
    float32 gives ``"none"`` (the kernel is skipped: the output is the input object); ``p = 1``
    and a level above 0 gives ``"all"`` (the per-example blend with the input is skipped). For
    CPU data outside ``torch.compile`` an absent ``known`` is filled by :func:`resolve_known`
    from the count of applied examples, which is already in host memory. ``run(record=True)``
    drops it from the record it returns (the facts replace it).
child level (:func:`child_level`)
    A container whose ``p`` is 1 hands the caller's float ``level`` to its children instead of
    the gated (B,) tensor, so that each child knows ``"all"`` too.
``owned`` (:func:`owned_entries`)
    The entries a container made itself during this call: never a caller's tensor nor a view
    of one (storage pointers compared; under ``torch.compile`` only what was owned already).
``inplace`` (:func:`in_place`)
    A ``writes_in_place`` op writes its output into its input when that input is ``owned``,
    every example is applied (``known == "all"``), no record facts compare it with the output
    and autograd does not need it.
sub-batches (:func:`subsets`)
    ``OneOf`` / ``SomeOf`` run each child on the rows it was chosen for only when the row counts
    can be read on the host for free (CPU data, eager, no :class:`~mmnoise.rng.Key`); elsewhere
    each child runs on the whole batch at level 0 on the other rows.
checked layouts (:func:`layout`, :func:`checked`)
    What a call checks of a sample's structure (its reserved entries, the entries it selects,
    their kinds and batch size, the shape, dtype and device of ``lengths``) depends on the
    shapes, dtypes and devices of its tensors and the names of its entries only; it is checked
    once per layout (eager, plain dicts) and remembered. Values (NaN / Inf, the bounds of
    ``lengths`` and levels) are checked on every call.
autocast (:func:`outside_autocast`)
    Not a speed hint but a precision one kept beside them: kernels run in their input's dtype.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Literal, TypeVar

import torch
from torch import Tensor

from mmnoise.device import reads_on_host
from mmnoise.levels import as_float32
from mmnoise.rng import Key, Randomness
from mmnoise.sample import KINDS_KEY, LENGTHS, RESERVED, Level, Levels

__all__ = [
    "Known",
    "checked",
    "child_level",
    "entry_layout",
    "in_place",
    "known",
    "layout",
    "outside_autocast",
    "owned_entries",
    "resolve_known",
    "subsets",
]

Known = Literal["all", "none"]
_T = TypeVar("_T")
#: what has been checked, by (checker, layout); cleared whole when full (a new layout is rare)
_CHECKED: dict[Hashable, Any] = {}
_CHECKED_MAX = 4096


def known(level: Levels, p: float) -> Known | None:
    """What the host knows of an op's applied examples from a float ``level`` and ``p``.

    Example:
        >>> known(0.5, 1.0), known(0.0, 1.0), known(0.5, 0.3), known(torch.ones(2), 1.0)
        ('all', 'none', None, None)
    """
    if not isinstance(level, (int, float)):
        return None
    if p <= 0.0 or as_float32(level) <= 0.0:
        return "none"
    return "all" if p >= 1.0 else None


def resolve_known(hint: Known | None, applied: Tensor, x: Tensor) -> Known | None:
    """``hint``, or for CPU data outside ``torch.compile`` what the count of ``applied`` says.

    Example:
        >>> resolve_known(None, torch.tensor([True, True]), torch.zeros(2))
        'all'
    """
    if hint is not None or not reads_on_host(x.device):
        return hint
    count = int(applied.sum())  # in host memory: no sync
    return "all" if count == x.shape[0] else "none" if count == 0 else None


def child_level(level: Levels, p: float, gated: Tensor) -> Level:
    """The level a container passes on: the caller's float itself when ``p`` is 1.

    Example:
        >>> child_level(0.5, 1.0, torch.tensor([0.5])), child_level(0.5, 0.9, torch.tensor([0.0]))
        (0.5, tensor([0.]))
    """
    return level if p >= 1.0 and isinstance(level, (float, int)) else gated


def in_place(writes: bool, owned: bool, hint: Known | None, facts: bool, x: Tensor) -> bool:
    """Whether an op may write into its input ``x`` (see the module docstring).

    Example:
        >>> in_place(True, True, "all", False, torch.zeros(1))
        True
    """
    return writes and owned and hint == "all" and not facts and not x.requires_grad


def owned_entries(before: Any, after: Any, owned: frozenset[str]) -> frozenset[str]:
    """Return the entries of ``after`` that a container may write into.

    Those already ``owned``, plus every tensor its own children made in place of a caller's
    tensor: one that shares no memory with any tensor of ``before`` (a view of the caller's data
    is never owned).

    Example:
        >>> x = torch.zeros(2)
        >>> sorted(owned_entries({"a": x, "b": x}, {"a": x.clone(), "b": x[:1]}, frozenset()))
        ['a']
    """
    if torch.compiler.is_compiling():
        # a compiled graph is functional (inductor plans its own buffers): nothing is written
        # in place, and storage pointers cannot be traced
        return owned
    theirs = {v.untyped_storage().data_ptr() for v in before.values() if isinstance(v, Tensor)}
    mine = set(owned)
    for key, new in after.items():
        if (
            key not in mine
            and isinstance(new, Tensor)
            and isinstance(before.get(key), Tensor)
            and new.untyped_storage().data_ptr() not in theirs
        ):
            mine.add(key)
    return frozenset(mine)


def subsets(device: torch.device, generator: Randomness) -> bool:
    """Whether ``OneOf`` / ``SomeOf`` run each child on a sub-batch of its rows here.

    The sub-batch sizes are read on the host: free for CPU data in eager mode, a device sync on
    CUDA and a graph break under ``torch.compile``; there, and with a :class:`mmnoise.rng.Key`
    (whose draws must be the same eager and compiled), each child runs on the whole batch.

    Example:
        >>> subsets(torch.device("cpu"), None)
        True
    """
    return reads_on_host(device) and not isinstance(generator, Key)


def outside_autocast(x: Tensor) -> AbstractContextManager[Any]:
    """Run a kernel outside ``torch.autocast``: it computes in ``x``'s own dtype.

    Autocast would run convolutions (the blurs) in half precision and hand torchaudio's
    ``lfilter`` half tensors it rejects; a transform keeps its input's dtype instead, and the
    kernels already compute in float32 wherever half precision is not enough.

    Example:
        >>> with outside_autocast(torch.zeros(1)):
        ...     pass
    """
    device = x.device.type
    return (
        torch.autocast(device, enabled=False)
        if torch.is_autocast_enabled(device)
        else nullcontext()
    )


def layout(sample: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """The structure of a plain-dict ``sample`` that its checks depend on, or None (not memoised).

    Each tensor entry's name, shape, dtype and device; each reserved dict's names with theirs
    (or the value itself, for ``kinds``); other entries are not modalities and do not count.
    None under ``torch.compile`` (a graph is checked when it is traced) and for other mappings.

    Example:
        >>> layout({"a": torch.zeros(2, 3), "label": 1})
        (('a', torch.Size([2, 3]), torch.float32, device(type='cpu')),)
    """
    if type(sample) is not dict or torch.compiler.is_compiling():
        return None
    parts: list[Any] = []
    for key, v in sample.items():
        if isinstance(v, Tensor):
            parts.append((key, v.shape, v.dtype, v.device))
        elif key in RESERVED:
            if type(v) is not dict:
                return None  # an error to report, every time
            parts.append((key, tuple(
                (n, t.shape, t.dtype, t.device) if isinstance(t, Tensor)
                else (n, t if isinstance(t, str) else type(t)) for n, t in v.items())))  # fmt: skip
    return tuple(parts)


def entry_layout(sample: Mapping[str, Any], name: str) -> tuple[Any, ...] | None:
    """What the checks of one entry read (:func:`mmnoise.sample.check_entry`): its name, shape,
    dtype and device, its declared kind and its ``lengths``' shape, dtype and device; None under
    ``torch.compile`` and where one of them is not what the sample format allows (the check
    then runs, and says so).

    Example:
        >>> entry_layout({"a": torch.zeros(2, 3)}, "a")
        ('a', torch.Size([2, 3]), torch.float32, device(type='cpu'), None, None)
    """
    if torch.compiler.is_compiling():
        return None
    x = sample[name]
    declared = sample.get(KINDS_KEY, {}).get(name)
    lengths = sample.get(LENGTHS, {}).get(name)
    if not isinstance(x, Tensor) or not (declared is None or type(declared) is str):
        return None
    if lengths is None:
        return (name, x.shape, x.dtype, x.device, declared, None)
    if not isinstance(lengths, Tensor):
        return None
    return (name, x.shape, x.dtype, x.device, declared, (lengths.shape, lengths.dtype, lengths.device))


def checked(key: Hashable | None, check: Callable[[], _T]) -> _T:
    """``check()``, run once per ``key`` (a :func:`layout` with what else the check reads) and
    remembered; every time when ``key`` is None. A check that raises stores nothing.

    Example:
        >>> checked(("demo", 1), lambda: "kind"), checked(("demo", 1), lambda: "not run")
        ('kind', 'kind')
    """
    if key is None:
        return check()
    try:
        return _CHECKED[key]  # type: ignore[no-any-return]
    except KeyError:
        pass
    found = check()
    if len(_CHECKED) >= _CHECKED_MAX:
        _CHECKED.clear()
    _CHECKED[key] = found
    return found
