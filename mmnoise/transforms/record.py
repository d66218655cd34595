"""The record of a call: what it drew and what it did, one shape for transforms and containers.

``draw`` returns a :class:`Record`; ``apply_record`` adds the facts (masks, what an op reports);
``replay`` applies it again. See ``docs/concepts/randomness.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NotRequired, Required, TypedDict, cast

import torch
from torch import Tensor

from mmnoise.sample import Kind, Sample, modality_names, time_dim
from mmnoise.transforms.hints import Known

__all__ = [
    "Entry", "Facts", "Record", "add_facts", "any_applied", "changed_mask", "entries",
    "new_record",
]  # fmt: skip


class Facts(TypedDict, total=False):
    """What an op reports beyond its output (:meth:`NoiseTransform.entry_updates`).

    ``lengths`` (B,): the new valid lengths (``TokenDeletion``); ``present`` (B,) bool: the new
    presence and ``mask`` (B,) bool: the examples dropped (``DropModalities``); ``snr_reached``
    (B,) bool: False where recorded noise was silent (``AddNoiseBank``, ``AddBabble``).

    Example:
        >>> from mmnoise.transforms import TokenDeletion
        >>> _, rec = TokenDeletion("t", fraction=(0.5, 0.5)).run({"t": torch.arange(1, 9)[None]})
        >>> sorted(rec["keys"]["t"])  # the facts of run(): lengths (reported) and mask
        ['applied', 'lengths', 'mask', 'params']
    """

    lengths: Tensor
    present: Tensor
    mask: Tensor
    snr_reached: Tensor


class Entry(Facts):
    """What one op did to one sample entry: its draws and, after ``run``, the facts.

    ``params`` and ``applied`` come from ``draw``; ``known`` is a speed hint (what the host
    knows of ``applied`` without reading it, see :mod:`mmnoise.transforms.hints`).
    ``run(..., record=True)`` adds the facts: ``mask`` (B, T), the steps that changed (unless
    the op reports its own), the op's reports (:class:`Facts`), and ``applied`` narrowed to the
    examples that changed (``known`` is then dropped). ``replay`` never writes into a record.

    Example:
        >>> from mmnoise.transforms import Gain
        >>> _, rec = Gain("a").run({"a": torch.ones(2, 3, 1)})
        >>> sorted(rec["keys"]["a"]), rec["keys"]["a"]["applied"]
        (['applied', 'mask', 'params'], tensor([True, True]))
    """

    params: Required[dict[str, Tensor]]
    applied: Required[Tensor]
    known: NotRequired[Known]


class Record(TypedDict):
    """What a call did: one shape for transforms and containers (``run`` returns it).

    ``type`` is the class name; ``applied`` (B,) marks the examples the call corrupted;
    ``params`` holds the call's own draws (a container's ``choice`` / ``chosen`` / ``seed``, a
    ``DropModalities``' ``keep``; empty for a plain transform); ``keys`` maps each entry an op
    corrupted to its :class:`Entry`; ``children`` maps a container's child names (``"0"``,
    ``"1"``, ... or a pipeline's modality names and ``"missing"``) to their records (None for a
    child that ran on no example). A child may have run on a sub-batch: its records are then
    as long as that sub-batch.

    Example:
        >>> from mmnoise.transforms import Compose, Gain
        >>> _, rec = Compose([Gain("a")]).run({"a": torch.ones(2, 3, 1)})
        >>> rec["type"], sorted(rec["children"]), rec["children"]["0"]["type"]
        ('Compose', ['0'], 'Gain')
    """

    type: str
    applied: Tensor
    params: dict[str, Tensor]
    keys: dict[str, Entry]
    children: dict[str, Record | None]


def changed_mask(x: Tensor, y: Tensor, kind: Kind) -> Tensor:
    """Reduce an elementwise change to (B, T): which steps (frames, tokens, samples) changed.

    Example:
        >>> x = torch.zeros(1, 3, 2)
        >>> changed_mask(x, x.index_fill(1, torch.tensor([1]), 1.0), "features")
        tensor([[False,  True, False]])
    """
    diff = x != y
    if x.is_floating_point():  # -0.0 == 0.0, but a replay must give the same bits
        diff = diff | (torch.signbit(x) != torch.signbit(y))
    if kind == "tokens":
        return diff
    diff = diff.movedim(time_dim(kind), 1)
    return diff.reshape(diff.shape[0], diff.shape[1], -1).any(dim=2)


def add_facts(entry: Entry, x: Tensor, y: Tensor, kind: Kind,
              reports: Mapping[str, Tensor], *, who: str) -> None:  # fmt: skip
    """Write into ``entry`` what its op did to ``x`` (giving ``y``): the facts of ``run``.

    ``reports`` (the op's :meth:`~mmnoise.transforms.NoiseTransform.entry_updates`) must name
    fields of :class:`Facts`. ``mask`` (B, T) is the steps that changed unless the op reported
    its own, and ``applied`` narrows to the examples that changed: a draw that left an example
    as it was is not applied.

    Example:
        >>> e = {"params": {}, "applied": torch.tensor([True, True]), "known": "all"}
        >>> x = torch.zeros(2, 3, 1)
        >>> y = x.clone()
        >>> y[0, 2] = 1.0  # example 0 changed at step 2, example 1 drew nothing visible
        >>> add_facts(e, x, y, "features", {}, who="Demo")
        >>> e["applied"], e["mask"][0], "known" in e
        (tensor([ True, False]), tensor([False, False,  True]), False)
        >>> add_facts(e, x, y, "features", {"level": torch.ones(2)}, who="Demo")
        Traceback (most recent call last):
        ...
        TypeError: Demo.entry_updates reported ['level'], which mmnoise.transforms.record.Facts does not declare; report one of ['lengths', 'mask', 'present', 'snr_reached'] or declare the field there.
    """
    unknown = sorted(set(reports) - set(Facts.__annotations__))
    if unknown:
        raise TypeError(
            f"{who}.entry_updates reported {unknown}, which mmnoise.transforms.record.Facts does "
            f"not declare; report one of {sorted(Facts.__annotations__)} or declare the field there."
        )
    entry.update(cast(Entry, reports))  # a partial entry: Facts' fields only
    mask = entry.get("mask")
    if mask is None:
        entry["mask"] = mask = changed_mask(x, y, kind)
    entry["applied"] = entry["applied"] & mask.reshape(mask.shape[0], -1).any(dim=1)
    entry.pop("known", None)


def new_record(kind: str, applied: Tensor, **parts: Any) -> Record:
    """A :class:`Record` with every field present (``parts``: params, keys, children).

    Example:
        >>> sorted(new_record("Demo", torch.ones(2, dtype=torch.bool)))
        ['applied', 'children', 'keys', 'params', 'type']
    """
    return {"type": kind, "applied": applied, "params": parts.get("params", {}),
            "keys": parts.get("keys", {}), "children": parts.get("children", {})}  # fmt: skip


def entries(record: Record) -> list[str]:
    """Every sample entry a record's ops corrupted (each once, in order).

    Example:
        >>> from mmnoise.transforms import Compose, Gain
        >>> _, rec = Compose([Gain("a"), Gain("b"), Gain("a")]).run(
        ...     {"a": torch.ones(1, 2, 1), "b": torch.ones(1, 2, 1)})
        >>> entries(rec)
        ['a', 'b']
    """
    names = dict.fromkeys(record["keys"])
    for child in record["children"].values():
        if child is not None:
            names.update(dict.fromkeys(entries(child)))
    return list(names)


def any_applied(sample: Sample, by_key: Mapping[str, Entry]) -> Tensor:
    """(B,): the examples any entry of ``by_key`` applied to (none, for a call on no entry).

    Example:
        >>> e = {"params": {}, "applied": torch.tensor([True, False])}
        >>> any_applied({}, {"a": e, "b": {**e, "applied": torch.tensor([False, False])}})
        tensor([ True, False])
    """
    flags = [e["applied"] for e in by_key.values()]
    if len(flags) == 1:
        return flags[0]
    if flags:
        return torch.stack([f.to(flags[0].device) for f in flags]).any(dim=0)
    names = modality_names(sample)
    ref = sample[names[0]] if names else torch.zeros(0)
    return torch.zeros(ref.shape[0], dtype=torch.bool, device=ref.device)
