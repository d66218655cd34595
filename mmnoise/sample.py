"""The sample format: the one contract every part of mmnoise shares.

A batch is a plain ``dict``. Modality entries are batch-first tensors of one of four kinds:

| kind       | layout            | dtype            | time axis |
|------------|-------------------|------------------|-----------|
| waveform   | (B, C, L)         | float            | L (dim 2) |
| frames     | (B, T, C, H, W)   | float in [0, 1]  | T (dim 1) |
| tokens     | (B, T)            | int64            | T (dim 1) |
| features   | (B, T, D)         | float            | T (dim 1) |

Reserved keys: ``"kinds"`` (optional) maps a modality name to its kind, needed only to tell a
(B, C, L) waveform from (B, T, D) features for transforms that accept both (undeclared rank-3
float tensors are read as features); ``"lengths"`` maps a modality name to a (B,) int64 tensor of valid lengths along
the time axis (padding is never corrupted and never counted in noise statistics); ``"present"``
maps a modality name to a (B,) bool tensor (False = the modality is missing for that example).
Every other key (labels, ids) passes through untouched.

This module holds the format and its checks only: presence matrices and conditions live in
:mod:`mmnoise.presence`, level checks in :mod:`mmnoise.levels`, and the host-or-device rule every
check follows in :mod:`mmnoise.device`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal, TypeAlias

import torch
from torch import Tensor

from mmnoise import device as _device
from mmnoise.deprecation import moved_names

__all__ = [
    "ALL_KINDS",
    "KINDS",
    "KINDS_KEY",
    "LENGTHS",
    "PRESENT",
    "Keys",
    "Kind",
    "Level",
    "Levels",
    "Sample",
    "batch_size",
    "check_entry",
    "check_finite_entries",
    "check_lengths_bounds",
    "check_reserved",
    "check_sample",
    "check_tensor",
    "compatible_kinds",
    "modality_names",
    "select_entries",
    "time_dim",
    "valid_mask",
]

Kind: TypeAlias = Literal["waveform", "frames", "tokens", "features"]
Sample: TypeAlias = dict[str, Any]
Level: TypeAlias = float | Tensor
#: the entries a transform corrupts: a name, names, or None (every entry of a kind it accepts)
Keys: TypeAlias = str | Sequence[str] | None
#: a level, or (``MultimodalPipeline``) levels by modality name
Levels: TypeAlias = Level | Mapping[str, Level]

KINDS: tuple[Kind, ...] = ("waveform", "frames", "tokens", "features")
#: every kind, for containers and ops that accept anything
ALL_KINDS: frozenset[Kind] = frozenset(KINDS)
LENGTHS = "lengths"
PRESENT = "present"
KINDS_KEY = "kinds"
#: the names a sample keeps for its metadata (a tuple: dynamo before torch 2.9 cannot guard a
#: module-level frozenset that a compiled call reads)
RESERVED = (LENGTHS, PRESENT, KINDS_KEY)

_RANK: dict[Kind, int] = {"waveform": 3, "frames": 5, "tokens": 2, "features": 3}
#: the float kinds of each rank, for compatible_kinds (looked up once per checked entry)
_FLOAT_KINDS: dict[int, frozenset[Kind]] = {
    r: frozenset(k for k in KINDS if k != "tokens" and _RANK[k] == r) for r in set(_RANK.values())
}
_UINT8_KINDS: frozenset[Kind] = frozenset({"frames"})
_LAYOUT: dict[Kind, str] = {
    "waveform": "float (B, C, L)",
    "frames": "float or uint8 (B, T, C, H, W)",
    "tokens": "int64 (B, T)",
    "features": "float (B, T, D)",
}

def time_dim(kind: Kind) -> int:
    """Return the axis along which ``lengths`` counts for a kind (2 for waveform, else 1).

    Example:
        >>> time_dim("waveform"), time_dim("features")
        (2, 1)
    """
    return 2 if kind == "waveform" else 1


def compatible_kinds(x: Tensor) -> frozenset[Kind]:
    """Return the kinds whose layout a tensor fits (rank and dtype).

    A rank-3 float tensor fits both ``waveform`` and ``features``; the transform that receives it
    decides which reading applies (its ``accepts``).

    Example:
        >>> sorted(compatible_kinds(torch.zeros(2, 3, 4)))
        ['features', 'waveform']
    """
    if x.dtype == torch.int64:
        return frozenset({"tokens"}) if x.ndim == 2 else frozenset()
    if x.dtype == torch.uint8:  # video as decoded (torchvision.io): frames only
        return _UINT8_KINDS if x.ndim == 5 else frozenset()
    if not x.is_floating_point():
        return frozenset()
    return _FLOAT_KINDS.get(x.ndim, frozenset())


def check_tensor(
    x: Any,
    *,
    who: str,
    name: str,
    accepts: frozenset[Kind] | set[Kind] | tuple[Kind, ...],
    check_finite: bool = True,
    declared: Kind | None = None,
) -> Kind:
    """Check that ``x`` is a tensor of an accepted kind and return the kind it is read as.

    Args:
        x: the candidate tensor.
        who: the caller, named in the error message.
        name: the sample key, named in the error message.
        accepts: the kinds the caller handles.
        check_finite: reject NaN / Inf values (float kinds only).
        declared: the kind given in ``sample["kinds"]``, if any (it must be accepted and fit).

    Returns:
        The kind ``x`` is read as (``features`` wins over ``waveform`` when both are accepted).

    Raises:
        TypeError: ``x`` is not a tensor, or has the wrong rank or dtype.
        ValueError: ``x`` is empty or holds NaN / Inf.

    Example:
        >>> check_tensor(torch.zeros(2, 5, 3), who="demo", name="audio", accepts={"features"})
        'features'
    """

    def expected() -> str:  # built only for an error message
        return " or ".join(f"{k} {_LAYOUT[k]}" for k in KINDS if k in accepts)

    if not isinstance(x, Tensor):
        raise TypeError(
            f"{who}: expected sample[{name!r}] to be a torch.Tensor ({expected()}), got "
            f"{type(x).__name__}; convert it with torch.as_tensor(...)."
        )
    order: tuple[Kind, ...] = ("features", "waveform", "frames", "tokens")
    fits: list[Kind] = [k for k in order if k in accepts]
    fits = [k for k in fits if k in compatible_kinds(x)]
    if declared is not None:
        if declared not in KINDS:
            raise ValueError(
                f"{who}: sample['kinds'][{name!r}] must be one of {KINDS}, got {declared!r}."
            )
        if declared not in accepts:
            raise TypeError(
                f"{who}: sample[{name!r}] is declared {declared!r}, but this transform accepts "
                f"{sorted(accepts)}; apply it to another modality or pick a transform for "
                f"{declared}."
            )
        fits = [k for k in fits if k == declared]
    if not fits:
        hint = (
            "add the batch dim with x[None]"
            if any(_RANK[k] == x.ndim + 1 for k in accepts)
            else "check the layout and dtype (tokens are int64, everything else float)"
        )
        raise TypeError(
            f"{who}: expected sample[{name!r}] as {expected()}, got {x.dtype} of shape "
            f"{tuple(x.shape)}; {hint}."
        )
    if x.shape[0] == 0:
        raise ValueError(
            f"{who}: expected a non-empty batch for sample[{name!r}], got shape {tuple(x.shape)}; "
            "skip empty batches before calling the transform."
        )
    if 0 in x.shape[1:]:
        raise ValueError(
            f"{who}: expected non-zero sizes after the batch dim for sample[{name!r}], got shape "
            f"{tuple(x.shape)}; drop zero-length examples before batching."
        )
    if check_finite:
        check_finite_entries({name: x}, [name], who=who)
    return fits[0]


def check_entry(sample: Mapping[str, Any], name: str, *, who: str, accepts: frozenset[Kind]) -> Kind:
    """The kind ``sample[name]`` is read as (:func:`check_tensor`), with the shape, dtype and
    device of its ``lengths`` checked; not their values (see :func:`check_lengths_bounds`).

    Example:
        >>> check_entry({"a": torch.zeros(2, 5, 3), "lengths": {"a": torch.tensor([5, 2])}}, "a",
        ...             who="demo", accepts={"features"})
        'features'
    """
    x = sample[name]
    kind = check_tensor(x, who=who, name=name, accepts=accepts, check_finite=False,
                        declared=sample.get(KINDS_KEY, {}).get(name))  # fmt: skip
    lengths = sample.get(LENGTHS, {}).get(name)
    if lengths is not None:
        _check_lengths_layout(lengths, x, who=who, name=name)
    return kind


def check_reserved(sample: Mapping[str, Any], *, who: str) -> None:
    """Check that ``lengths``, ``present`` and ``kinds`` are dicts naming modalities of the sample.

    A misspelt name (``{"audoi": ...}``) would otherwise be ignored silently: the padding of
    ``"audio"`` would be corrupted, its presence or kind never read.

    Raises:
        TypeError: a reserved entry is not a dict.
        KeyError: a reserved entry names a key that is not a modality of the sample.

    Example:
        >>> check_reserved({"audio": torch.zeros(1, 2, 3), "lengths": {"audoi": torch.tensor([2])}},
        ...                who="demo")
        Traceback (most recent call last):
        ...
        KeyError: "demo: sample['lengths'] names ['audoi'], which are not modalities of the sample (known: ['audio']); fix the spelling or drop those entries."
    """
    known: list[str] | None = None
    for key in (LENGTHS, PRESENT, KINDS_KEY):
        entry = sample.get(key)
        if entry is None:
            continue
        if not isinstance(entry, Mapping):
            raise TypeError(
                f"{who}: expected sample[{key!r}] as a dict {{modality: value}}, got "
                f"{type(entry).__name__}; key it by modality name."
            )
        if known is None:
            known = modality_names(sample)
        unknown = [n for n in entry if n not in known]
        if unknown:
            raise KeyError(
                f"{who}: sample[{key!r}] names {sorted(map(str, unknown))}, which are not "
                f"modalities of the sample (known: {known}); fix the spelling or drop those "
                "entries."
            )


def check_finite_entries(sample: Mapping[str, Any], names: Sequence[str], *, who: str) -> None:
    """Reject NaN / Inf in the float tensors ``sample[name]`` (one reduction pass each).

    On the CPU the verdict is read at once; on other devices and under ``torch.compile`` it is a
    device assertion (:func:`mmnoise.device.device_check`): no sync.

    Example:
        >>> check_finite_entries({"a": torch.zeros(1, 2)}, ["a"], who="demo")
    """
    for name in names:
        x = sample.get(name)
        if isinstance(x, Tensor) and x.is_floating_point() and x.numel():
            _check_finite(
                x,
                f"{who}: expected finite values in sample[{name!r}], found NaN or Inf; clean the "
                "data (torch.nan_to_num) or pass check_finite=False to let them through unchanged.",
            )


def _check_finite(x: Tensor, message: str) -> None:
    """Raise ``ValueError(message)`` unless every value of ``x`` is finite (one reduction pass).

    A sum propagates NaN and +-inf and is the cheapest full pass (about 0.6x an ``aminmax``, and
    no bool temporary); it can also overflow on huge finite values, so a non-finite sum is
    confirmed by min / max. Read on the host, the sum is one number checked in Python and the
    second pass runs only when it is not finite; elsewhere min / max alone, one pass, go into a
    :func:`mmnoise.device.device_check` (no branch, no sync).
    """
    x = x.detach()  # a check, not part of any graph
    if _device.reads_on_host(x.device):
        if not math.isfinite(float(x.sum())) and not all(
            math.isfinite(float(v)) for v in torch.aminmax(x)
        ):
            raise ValueError(message)
        return
    # without a branch a sum would only be queued beside min / max, which decide alone (they
    # propagate NaN and show +-Inf)
    low, high = torch.aminmax(x)  # unpacked: dynamo before torch 2.6 cannot iterate the pair
    _device.device_check(torch.isfinite(torch.stack((low, high))).all(), message)


def batch_size(sample: Mapping[str, Any], names: Sequence[str], *, who: str) -> int:
    """Return the common batch size of ``sample[name]`` over ``names``; error if they disagree.

    Example:
        >>> batch_size({"a": torch.zeros(3, 2), "b": torch.zeros(3)}, ["a", "b"], who="demo")
        3
    """
    sizes = {n: int(sample[n].shape[0]) for n in names}
    if len(set(sizes.values())) > 1:
        raise ValueError(
            f"{who}: expected one batch size across modalities, got {sizes}; collate the "
            "modalities of each example together."
        )
    return next(iter(sizes.values()))


def select_entries(
    sample: Mapping[str, Any],
    keys: Keys,
    accepts: Collection[Kind],
    *,
    who: str,
) -> list[str]:
    """Return the entries ``keys`` names (checked), or with None every entry of a kind in ``accepts``.

    An entry's kind is its declared one (``sample["kinds"]``) or, undeclared, any its layout fits.

    Example:
        >>> select_entries({"a": torch.zeros(2, 3, 4), "t": torch.zeros(2, 5, dtype=torch.long)},
        ...                None, {"tokens"}, who="demo")
        ['t']
    """
    if keys is None:
        declared = sample.get(KINDS_KEY, {})
        return [n for n in modality_names(sample) if declared.get(n) in accepts
                or (n not in declared and compatible_kinds(sample[n]) & set(accepts))]  # fmt: skip
    names = [keys] if isinstance(keys, str) else list(keys)
    for n in names:
        if n not in sample:
            raise KeyError(
                f"{who}: modality {n!r} is not in the sample; expected one of its modalities "
                f"{modality_names(sample)}; fix the spelling of the names given to {who}(...)."
            )
    return names


def modality_names(sample: Mapping[str, Any]) -> list[str]:
    """Return the keys of ``sample`` that hold modality tensors (not reserved, tensor-valued).

    Example:
        >>> modality_names({"audio": torch.zeros(1, 2, 3), "label": 1, "lengths": {}})
        ['audio']
    """
    return [k for k, v in sample.items() if k not in RESERVED and isinstance(v, Tensor)]


def _check_lengths(lengths: Any, x: Tensor, kind: Kind, *, who: str, name: str) -> Tensor:
    """``lengths`` for ``x``, checked: layout (:func:`_check_lengths_layout`) and bounds."""
    _check_lengths_layout(lengths, x, who=who, name=name)
    return check_lengths_bounds(lengths, x, kind, who=who, name=name)


def _check_lengths_layout(lengths: Any, x: Tensor, *, who: str, name: str) -> None:
    """The shape, dtype and device of ``lengths`` for ``x``: what its layout decides."""
    if not isinstance(lengths, Tensor) or lengths.shape != (x.shape[0],):
        got = tuple(lengths.shape) if isinstance(lengths, Tensor) else type(lengths).__name__
        raise ValueError(
            f"{who}: expected sample['lengths'][{name!r}] as a ({x.shape[0]},) int64 tensor, got "
            f"{got}; build it with mmnoise.pad_collate."
        )
    if lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
        raise TypeError(
            f"{who}: expected integer lengths for {name!r}, got {lengths.dtype}; use .long()."
        )
    if lengths.device != x.device:
        raise ValueError(
            f"{who}: lengths of {name!r} are on {lengths.device} but the data is on {x.device}; "
            "move the whole sample with the same .to(device)."
        )


def check_lengths_bounds(lengths: Tensor, x: Tensor, kind: Kind, *, who: str, name: str) -> Tensor:
    """``lengths`` when every one is in [1, the padded size of ``x``], else a ``ValueError``.

    Example:
        >>> check_lengths_bounds(torch.tensor([3, 4]), torch.zeros(2, 3), "tokens", who="demo",
        ...                      name="t")
        Traceback (most recent call last):
        ...
        ValueError: demo: expected 1 <= lengths['t'] <= 3 (the padded size of dim 1), got min 3, max 4; drop zero-length examples and make lengths count valid steps only.
    """
    dim = time_dim(kind)
    _device.check_bounds(
        lengths,
        1,
        x.shape[dim],
        expected=f"{who}: expected 1 <= lengths[{name!r}] <= {x.shape[dim]} (the padded size of "
        f"dim {dim})",
        fix="drop zero-length examples and make lengths count valid steps only.",
        got="min {low}, max {high}",
    )
    return lengths


def check_sample(
    sample: Mapping[str, Any],
    kinds: Mapping[str, Kind],
    *,
    who: str = "check_sample",
    check_finite: bool = True,
) -> int:
    """Validate a batch against the sample format and return its batch size.

    Args:
        sample: the batch dict.
        kinds: the expected kind of each modality key.
        who: the caller, named in error messages.
        check_finite: reject NaN / Inf in float modalities.

    Returns:
        The batch size B shared by all modalities.

    Raises:
        KeyError: a modality in ``kinds`` is not in the sample.
        TypeError / ValueError: wrong layout, batch sizes that disagree, bad ``lengths`` /
            ``present`` entries.

    Example:
        >>> s = {"audio": torch.zeros(2, 4, 3), "lengths": {"audio": torch.tensor([4, 2])}}
        >>> check_sample(s, {"audio": "features"})
        2
    """
    if not isinstance(sample, Mapping):
        raise TypeError(f"{who}: expected the sample as a dict, got {type(sample).__name__}.")
    declared = sample.get(KINDS_KEY, {})
    for name, kind in kinds.items():
        if name in declared and declared[name] != kind:
            raise ValueError(
                f"{who}: sample['kinds'][{name!r}] is {declared[name]!r} but {kind!r} was expected."
            )
        if name not in sample:
            raise KeyError(
                f"{who}: modality {name!r} is not in the sample (keys: {sorted(sample)}); "
                "check the spelling or the names passed to the transform."
            )
        check_tensor(sample[name], who=who, name=name, accepts={kind}, check_finite=check_finite)
    check_reserved(sample, who=who)
    b = batch_size(sample, list(kinds), who=who)
    for name, lengths in sample.get(LENGTHS, {}).items():
        if name in kinds:
            _check_lengths(lengths, sample[name], kinds[name], who=who, name=name)
    for name, present in sample.get(PRESENT, {}).items():
        if not isinstance(present, Tensor) or present.dtype != torch.bool or present.shape != (b,):
            raise ValueError(
                f"{who}: expected sample['present'][{name!r}] as a ({b},) bool tensor, got "
                f"{present!r:.80}; use a bool mask with one entry per example."
            )
    return b


def valid_mask(lengths: Tensor | None, size: int, *, batch: int, device: torch.device) -> Tensor:
    """Return a (B, size) bool mask that is True on valid (non-padded) steps.

    Example:
        >>> valid_mask(torch.tensor([1, 3]), 3, batch=2, device=torch.device("cpu")).int()
        tensor([[1, 0, 0],
                [1, 1, 1]], dtype=torch.int32)
    """
    steps = torch.arange(size, device=device)
    if lengths is None:
        return torch.ones(batch, size, dtype=torch.bool, device=device)
    return steps[None, :] < lengths[:, None]


# moved out for one release (0.1): the old import paths warn and give the same objects
__getattr__ = moved_names(
    __name__,
    {
        **dict.fromkeys(("as_float32", "check_level", "check_level_value"), "mmnoise.levels"),
        **dict.fromkeys(("check_bounds", "device_check", "reads_on_host"), "mmnoise.device"),
        **dict.fromkeys(
            (
                "MMIN_CONDITIONS",
                "condition_name",
                "presence_from_matrix",
                "presence_matrix",
                "presence_patterns",
            ),
            "mmnoise.presence",
        ),
    },
)
