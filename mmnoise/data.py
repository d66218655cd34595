"""Reproducible noise on the data path: a Dataset wrapper, a padding collate and a GPU batch path.

Two ways to put a noise pipeline into training, both reproducible:

* :class:`NoisyDataset` (CPU, in the DataLoader workers): the noise of item ``i`` at epoch ``e``
  comes from a generator seeded with ``derive_seed(seed, e, i)``, so it does not depend on
  ``num_workers``, worker order, batch composition or rank. The epoch reaches it through the
  sampler (:class:`EpochSampler` yields ``(epoch, index)``, so it works with
  ``persistent_workers=True`` and with trainers that call ``set_epoch`` on the sampler only:
  Lightning, Hugging Face, accelerate) or through :meth:`NoisyDataset.set_epoch`, as with
  ``DistributedSampler``. With ``batch=True`` the same noise, item for item, is applied once
  per collated batch by :meth:`NoisyDataset.collate` (one generator per row:
  :class:`mmnoise.rng.PerExample`), which pays the per-call cost once per batch, not per item.
* :class:`BatchNoise` (any device, per batch; the recommended fast path): noise is added after
  ``batch.to(device)`` with a generator on the batch's device seeded with
  ``derive_seed(seed, rank, step)``.

:func:`pad_collate` turns a list of unbatched items into a batch in the sample format
(:mod:`mmnoise.sample`), zero-padding sequences and filling ``"lengths"``.

Unbatched items: modality tensors without the batch dim. Their kind is read from rank and dtype:
(T,) int64 = tokens, (T, D) float = features, (T, C, H, W) float = frames. A (C, L) waveform has
the same rank as features, so name waveform keys with ``kinds={"speech": "waveform"}``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from mmnoise.levels import check_level_value
from mmnoise.rng import PerExample, Randomness, derive_seed, make_generator
from mmnoise.sample import (
    KINDS_KEY,
    LENGTHS,
    PRESENT,
    RESERVED,
    Kind,
    Sample,
    time_dim,
)
from mmnoise.schedules import LevelMode, LevelSchedule, sample_levels

__all__ = ["BatchNoise", "CleanItem", "EpochSampler", "NoisyDataset", "item_kinds", "pad_collate"]

Level = float | Tensor | dict[str, float | Tensor]

# Rank of an *unbatched* tensor of each kind (the batched rank minus one).
_ITEM_RANK: dict[Kind, int] = {"waveform": 2, "frames": 4, "tokens": 1, "features": 2}


class _Pipeline(Protocol):
    def __call__(self, sample: Sample, *, level: Any, generator: Randomness) -> Any: ...


class _MapStyle(Protocol):
    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Any: ...


def _item_time_dim(kind: Kind) -> int:
    return time_dim(kind) - 1


def item_kinds(
    item: Mapping[str, Any], kinds: Mapping[str, Kind] | None = None, *, who: str = "item_kinds"
) -> dict[str, Kind]:
    """Return ``{name: kind}`` for the modality tensors of an unbatched item.

    Without ``kinds`` the kind is read from rank and dtype: (T,) int64 = tokens, (T, D) float =
    features, (T, C, H, W) float = frames; other entries (labels, ids, 0-dim tensors) are not
    modalities. With ``kinds`` exactly those keys are modalities and are checked.

    Args:
        item: one unbatched sample dict.
        kinds: explicit modality kinds (needed for (C, L) waveforms).
        who: the caller, named in error messages.

    Returns:
        The modality kinds, in the item's key order.

    Raises:
        TypeError: ``item`` is not a dict, or a named modality has the wrong rank or dtype.
        KeyError: a named modality is missing.

    Example:
        >>> item_kinds({"audio": torch.zeros(5, 3), "text": torch.zeros(4, dtype=torch.long),
        ...             "label": torch.tensor(1)})
        {'audio': 'features', 'text': 'tokens'}
    """
    if not isinstance(item, Mapping):
        raise TypeError(
            f"{who}: expected each dataset item as a dict of tensors, got {type(item).__name__}; "
            "make the base dataset return the sample dict (see mmnoise.sample)."
        )
    if kinds is not None:
        out: dict[str, Kind] = {}
        for name, kind in kinds.items():
            if name not in item:
                raise KeyError(
                    f"{who}: modality {name!r} from kinds= is not in the item (keys: "
                    f"{sorted(item)}); fix the name in kinds=."
                )
            x = item[name]
            ok_dtype = isinstance(x, Tensor) and (
                x.dtype == torch.int64 if kind == "tokens" else x.is_floating_point()
            )
            if not ok_dtype or x.ndim != _ITEM_RANK[kind]:
                got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
                raise TypeError(
                    f"{who}: expected item[{name!r}] as an unbatched {kind} tensor (rank "
                    f"{_ITEM_RANK[kind]}, {'int64' if kind == 'tokens' else 'float'}), got {got}; "
                    "items carry no batch dim."
                )
            out[name] = kind
        return out
    out = {}
    for name, x in item.items():
        if name in RESERVED or not isinstance(x, Tensor):
            continue
        if x.dtype == torch.int64 and x.ndim == 1:
            out[name] = "tokens"
        elif x.is_floating_point() and x.ndim == 2:
            out[name] = "features"
        elif x.is_floating_point() and x.ndim == 4:
            out[name] = "frames"
    return out


def _scalar_int(v: Any, *, who: str, name: str) -> int:
    if isinstance(v, Tensor):
        if v.numel() != 1 or v.dtype.is_floating_point or v.dtype == torch.bool:
            raise TypeError(
                f"{who}: expected lengths[{name!r}] as one integer per item, got {v.dtype} of "
                f"shape {tuple(v.shape)}."
            )
        return int(v.item())
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{who}: expected lengths[{name!r}] as an int, got {type(v).__name__}.")
    return v


def _scalar_bool(v: Any, *, who: str, name: str) -> bool:
    if isinstance(v, Tensor):
        if v.numel() != 1 or v.dtype != torch.bool:
            raise TypeError(
                f"{who}: expected present[{name!r}] as one bool per item, got {v.dtype} of shape "
                f"{tuple(v.shape)}."
            )
        return bool(v.item())
    if not isinstance(v, bool):
        raise TypeError(f"{who}: expected present[{name!r}] as a bool, got {type(v).__name__}.")
    return v


def _check_pipeline(pipeline: Any, who: str) -> None:
    if not callable(pipeline):
        raise TypeError(
            f"{who}: expected pipeline as a callable pipeline(sample, *, level, generator) -> "
            f"dict, got {type(pipeline).__name__}."
        )


def _check_mode(level_mode: Any, std: float, who: str) -> None:
    if level_mode not in ("fixed", "uniform", "normal"):
        raise ValueError(
            f"{who}: expected level_mode 'fixed', 'uniform' or 'normal', got {level_mode!r}."
        )
    if not (isinstance(std, (int, float)) and math.isfinite(std) and std > 0):
        raise ValueError(f"{who}: expected std > 0, got {std!r}.")


def _check_constant_level(level: Any, who: str) -> float:
    fix = "pass level as a float in [0, 1], or schedule= for a level that changes."
    return check_level_value(level, who=who, fix=fix)


def _draw_one(
    value: float,
    batch: int,
    *,
    mode: LevelMode,
    std: float,
    generator: torch.Generator,
    device: torch.device,
) -> float | Tensor:
    # "fixed" passes a plain float: no randomness is consumed and transforms see the exact value.
    if mode == "fixed":
        return float(value)
    return sample_levels(value, batch, mode=mode, std=std, generator=generator, device=device)


def _draw_levels(
    value: float | Mapping[str, float],
    batch: int,
    *,
    mode: LevelMode,
    std: float,
    generator: torch.Generator,
    device: torch.device,
) -> Level:
    kw: dict[str, Any] = {"mode": mode, "std": std, "generator": generator, "device": device}
    if isinstance(value, Mapping):
        # One draw per modality, in the schedule's key order (deterministic).
        return {k: _draw_one(float(v), batch, **kw) for k, v in value.items()}
    return _draw_one(float(value), batch, **kw)


@dataclass(frozen=True)
class CleanItem:
    """A clean item with the (epoch, index) its noise is seeded from (``NoisyDataset(batch=True)``).

    :meth:`NoisyDataset.collate` turns a list of them into the noisy batch.

    Example:
        >>> CleanItem({"x": torch.zeros(2)}, 0, 5).index
        5
    """

    item: Sample
    epoch: int
    index: int


class NoisyDataset(Dataset[Any]):
    """Wrap a map-style dataset so each item comes out through a noise pipeline, reproducibly.

    For item ``i`` at epoch ``e`` the pipeline gets a fresh CPU generator seeded with
    ``mmnoise.rng.derive_seed(seed, e, i)``: the noise depends only on (seed, epoch, index),
    never on ``num_workers``, worker order, batch composition or rank. The item gets a batch
    dim of 1 (and ``"lengths"`` = its full length for every modality that has none), goes
    through ``pipeline(sample, level=..., generator=g)``, and loses the batch dim again (every
    tensor entry, labels included, is batched and unbatched; strings and ids pass as they are).

    With a ``schedule`` the level of epoch ``e`` is ``schedule(e)``: **the step of a schedule
    is the epoch on this path** (use :class:`BatchNoise` for per-optimiser-step schedules).
    Without one, ``level`` is used. ``level_mode`` turns that level into the item's own level
    (see :func:`mmnoise.schedules.sample_levels`): ``"fixed"`` passes it as a float, the
    random modes draw it from the item's generator.

    **The epoch**: an index may be an ``(epoch, index)`` pair, as :class:`EpochSampler` yields
    them; that epoch is then used for the item (seed and schedule). The sampler lives in the
    main process, so the epoch reaches the workers with every index: this works with
    ``persistent_workers=True`` and under trainers that call ``set_epoch`` on the sampler only
    (Lightning, Hugging Face ``Trainer``, accelerate). With a plain int index the dataset's own
    epoch is used: call :meth:`set_epoch` before each epoch, and do not use
    ``persistent_workers=True`` then (DataLoader workers copy the dataset when an epoch's
    iterator is created, and persistent ones would keep the old epoch).

    **The batch path** (``batch=True``): an item comes out clean, as a :class:`CleanItem` that
    carries its (epoch, index), and :meth:`collate` (``DataLoader(ds, collate_fn=ds.collate)``)
    applies the pipeline once per collated batch, with one generator per row
    (:class:`mmnoise.rng.PerExample`) seeded exactly as the item's own. Row ``b`` is exactly
    what the item alone gives (the per-call cost is paid once per batch, not per item), so
    ``collate`` returns what :func:`pad_collate` of the per-item outputs would.
    Items are stacked without padding: items whose tensors differ in shape (ragged lengths) go
    through the pipeline in separate calls, one per distinct shape, and are padded after the
    noise. ``pad_to`` makes ragged items one shape: on both paths each named modality is
    zero-padded to a fixed size before the noise (its valid length kept in ``lengths``, so the
    padding is never corrupted) and cropped back after, so a batch of ragged items is one call.
    The noise of an item then depends on ``pad_to`` too (the draws are shaped by it), as it does
    on the seed; it still never depends on the other items. Every mmnoise transform and container takes the per-example generators (a function
    of your own draws through :func:`mmnoise.rng.randn` and its siblings, which do too); ops
    that draw one value for the whole batch refuse them with a ``ValueError`` (``NMERNoise(per_example=False)``, an exact missing rate over the batch);
    use the per-item path for them.

    Args:
        base: map-style dataset whose items are unbatched sample dicts.
        pipeline: ``pipeline(sample, *, level, generator) -> new dict``.
        seed: the run's noise seed.
        schedule: level per epoch (a :class:`~mmnoise.schedules.Schedule`,
            :class:`~mmnoise.schedules.PerModality` for per-modality levels, or a
            :class:`~mmnoise.schedules.Plateau`), or None.
        level: constant level in [0, 1] when there is no schedule.
        level_mode: ``"fixed"``, ``"uniform"`` or ``"normal"``.
        std: standard deviation of ``"normal"`` (level units).
        kinds: explicit modality kinds (needed for (C, L) waveforms); default: inferred.
        batch: items come out clean (:class:`CleanItem`) and :meth:`collate` applies the noise
            to the batch.
        pad_to: ``{modality: size}``: pad these modalities' time axes to ``size`` for the noise
            (both paths; items longer than ``size`` are refused), so ragged items share a shape.

    Raises:
        TypeError / ValueError: bad arguments; at item time, items that are not sample dicts or
            a pipeline that does not return a dict with batch size 1.

    Example:
        >>> from mmnoise import rng
        >>> def add(sample, *, level, generator):  # rng.randn also takes a PerExample
        ...     noise = rng.randn(sample["x"].shape, generator=generator)
        ...     return {**sample, "x": sample["x"] + level * noise}
        >>> ds = NoisyDataset([{"x": torch.zeros(3, 2)}], add, seed=0, level=0.5)
        >>> bool(torch.equal(ds[0]["x"], ds[0]["x"])), ds[0]["x"].shape
        (True, torch.Size([3, 2]))
        >>> bool(torch.equal(ds[(1, 0)]["x"], ds[0]["x"]))  # epoch 1 draws new noise
        False
        >>> fast = NoisyDataset([{"x": torch.zeros(3, 2)}], add, seed=0, level=0.5, batch=True)
        >>> bool(torch.equal(fast.collate([fast[0]])["x"][0], ds[0]["x"]))
        True
    """

    def __init__(
        self,
        base: _MapStyle,
        pipeline: _Pipeline,
        *,
        seed: int,
        schedule: LevelSchedule | None = None,
        level: float = 1.0,
        level_mode: LevelMode = "fixed",
        std: float = 0.1,
        kinds: Mapping[str, Kind] | None = None,
        batch: bool = False,
        pad_to: Mapping[str, int] | None = None,
    ) -> None:
        who = "NoisyDataset"
        if not (hasattr(base, "__len__") and hasattr(base, "__getitem__")):
            raise TypeError(
                f"{who}: expected a map-style dataset (with __len__ and __getitem__), got "
                f"{type(base).__name__}; iterable datasets have no stable index to seed from."
            )
        _check_pipeline(pipeline, who)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"{who}: expected seed as an int, got {type(seed).__name__}.")
        if schedule is not None and not callable(schedule):
            raise TypeError(
                f"{who}: expected schedule as a Schedule, got {type(schedule).__name__}."
            )
        _check_mode(level_mode, std, who)
        self.base = base
        self.pipeline = pipeline
        self.seed = seed
        self.schedule = schedule
        self.level = _check_constant_level(level, who)
        self.level_mode: LevelMode = level_mode
        self.std = float(std)
        self.kinds = dict(kinds) if kinds is not None else None
        self.batch = bool(batch)
        self.pad_to = _check_pad_to(pad_to, who)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch used for seeding (and for the schedule), as ``DistributedSampler``."""
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or epoch < 0:
            raise ValueError(f"NoisyDataset.set_epoch: expected an int >= 0, got {epoch!r}.")
        self.epoch = int(epoch)

    def current_level(self, epoch: int | None = None) -> float | dict[str, float]:
        """Return the scheduled level of ``epoch`` (default: the current epoch; a dict for
        per-modality schedules)."""
        if self.schedule is None:
            return self.level
        value: float | dict[str, float] = self.schedule(self.epoch if epoch is None else epoch)
        return value

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int | tuple[int, int]) -> Any:
        """The noisy item (a :class:`CleanItem` with ``batch=True``); ``index`` may be a pair
        ``(epoch, index)``."""
        epoch, i = self._resolve(index)
        item = self.base[i]
        if self.batch:
            return CleanItem(item, epoch, i)
        kinds = item_kinds(item, self.kinds, who="NoisyDataset")
        padded, sizes = _pad_item(item, kinds, self.pad_to, who="NoisyDataset")
        batched = _add_batch_dim(padded, kinds, who="NoisyDataset", declared=self.kinds)
        g = make_generator(derive_seed(self.seed, epoch, i))
        out = self.pipeline(batched, level=self._level(epoch, g), generator=g)
        res = _drop_batch_dim(out, batched, who="NoisyDataset", keep_kinds=KINDS_KEY in item)
        return _crop(res, kinds, sizes, batched=False)

    def collate(self, items: Sequence[CleanItem]) -> Sample:
        """Collate clean items and add their noise in one pipeline call per item shape.

        Items of one shape (with ``pad_to``, ragged items too) take one call for the batch.

        Row ``b`` gets exactly the noise the per-item path gives item ``b`` (same seed, epoch,
        index): its level and its draws come from its own generator, seeded with
        ``derive_seed(seed, epoch, index)`` (:class:`mmnoise.rng.PerExample`). The result
        equals :func:`pad_collate` (with this dataset's ``kinds``) of the per-item outputs.

        Args:
            items: what ``__getitem__`` returns with ``batch=True``.

        Returns:
            The noisy batch in the sample format, padded, with ``"lengths"``.

        Raises:
            TypeError: an item is not a :class:`CleanItem` (the dataset was built without
                ``batch=True``).
            ValueError: an empty list, or a pipeline that draws for the whole batch.
        """
        who = "NoisyDataset.collate"
        if not isinstance(items, Sequence) or len(items) == 0:
            raise ValueError(f"{who}: expected a non-empty list of items, got {items!r:.60}.")
        for it in items:
            if not isinstance(it, CleanItem):
                raise TypeError(
                    f"{who}: expected the items of NoisyDataset(..., batch=True) (CleanItem), got "
                    f"{type(it).__name__}; build the dataset with batch=True, or use "
                    "collate_fn=pad_collate for the per-item path."
                )
        padded: list[CleanItem] = []
        sizes: list[dict[str, int]] = []
        for it in items:
            kinds = item_kinds(it.item, self.kinds, who=who)
            item, own = _pad_item(it.item, kinds, self.pad_to, who=who)
            padded.append(CleanItem(item, it.epoch, it.index))
            sizes.append(own)
        groups: dict[tuple[Any, ...], list[int]] = {}
        for row, it in enumerate(padded):
            groups.setdefault(_shape_key(it.item), []).append(row)
        if len(groups) == 1:  # one shape: the pipeline's output is the batch
            out = self._noisy_group(padded, single=True)[0]
            longest = {n: max(s[n] for s in sizes) for n in sizes[0]}
            return _crop(out, item_kinds(padded[0].item, self.kinds, who=who), longest, batched=True)
        noisy: list[Sample] = [{} for _ in items]
        for rows in groups.values():
            group = self._noisy_group([padded[r] for r in rows])
            for row, out in zip(rows, group, strict=True):
                kinds = item_kinds(padded[row].item, self.kinds, who=who)
                noisy[row] = _crop(out, kinds, sizes[row], batched=False)
        return pad_collate(noisy, kinds=self.kinds)

    def _noisy_group(self, items: Sequence[CleanItem], *, single: bool = False) -> list[Sample]:
        # items of one shape: stacked (each batched as the per-item path batches it), one call
        who = "NoisyDataset.collate"
        first = items[0].item
        kinds = item_kinds(first, self.kinds, who=who)
        batched = [_add_batch_dim(it.item, kinds, who=who, declared=self.kinds) for it in items]
        gens = [make_generator(derive_seed(self.seed, it.epoch, it.index)) for it in items]
        levels = [self._level(it.epoch, g) for it, g in zip(items, gens, strict=True)]
        stacked: Sample = {}
        for key, v in batched[0].items():
            if key in (LENGTHS, PRESENT):
                stacked[key] = {n: torch.cat([b[key][n] for b in batched]) for n in v}
            elif isinstance(v, Tensor) and key not in RESERVED:
                stacked[key] = torch.cat([b[key] for b in batched])
            elif key in RESERVED:
                stacked[key] = v
            else:  # strings, ids: as a collated batch holds them
                stacked[key] = _stack_other([it.item[key] for it in items], key, who=who)
        out = self.pipeline(stacked, level=_stack_levels(levels), generator=PerExample(gens))
        if not isinstance(out, Mapping):
            raise TypeError(
                f"{who}: expected the pipeline to return a dict, got {type(out).__name__}."
            )
        if single:
            return [_as_collated(out, stacked, [it.item for it in items], kinds, who=who)]
        rows: list[Sample] = []
        for b, it in enumerate(items):
            row = {k: _row(v, b, stacked.get(k)) for k, v in out.items()}
            row.update(
                {k: v for k, v in it.item.items() if k not in RESERVED and not isinstance(v, Tensor)}
            )
            rows.append(_drop_batch_dim(row, batched[b], who=who, keep_kinds=False))
        return rows

    def _resolve(self, index: Any) -> tuple[int, int]:
        """Return (epoch, index in [0, n)) of an int index or an (epoch, index) pair."""
        who = "NoisyDataset"
        n = len(self.base)
        epoch = self.epoch
        if isinstance(index, tuple):  # (epoch, index) from EpochSampler
            if len(index) != 2 or not all(_is_int(v) and int(v) >= 0 for v in index):
                raise TypeError(
                    f"{who}: expected an int index or an (epoch, index) pair of ints >= 0 (as "
                    f"EpochSampler yields them), got {index!r:.60}."
                )
            epoch, index = int(index[0]), int(index[1])
        if isinstance(index, Tensor) and index.numel() == 1:
            index = int(index.item())
        elif isinstance(index, numbers.Integral) and not isinstance(index, bool):
            index = int(index)
        else:
            raise TypeError(f"{who}: expected an int index, got {type(index).__name__}.")
        if not -n <= index < n:
            raise IndexError(f"{who}: index {index} out of range for {n} items.")
        return epoch, index % n

    def _level(self, epoch: int, generator: torch.Generator) -> Level:
        """The item's level at ``epoch``, drawn (random modes) from its own generator."""
        return _draw_levels(
            self.current_level(epoch),
            1,
            mode=self.level_mode,
            std=self.std,
            generator=generator,
            device=torch.device("cpu"),
        )


def _check_pad_to(pad_to: Any, who: str) -> dict[str, int]:
    if pad_to is None:
        return {}
    ok = isinstance(pad_to, Mapping) and all(
        isinstance(k, str) and _is_int(v) and int(v) >= 1 for k, v in pad_to.items()
    )
    if not ok:
        raise ValueError(
            f"{who}: expected pad_to as {{modality: size >= 1}}, got {pad_to!r:.80}; e.g. "
            "pad_to={'audio': 1500} pads every audio item to 1500 steps for the noise."
        )
    return {k: int(v) for k, v in pad_to.items()}


def _pad_item(
    item: Mapping[str, Any], kinds: Mapping[str, Kind], pad_to: Mapping[str, int], *, who: str
) -> tuple[Sample, dict[str, int]]:
    """The item with ``pad_to``'s modalities zero-padded (valid lengths kept); their own sizes."""
    if not pad_to:
        return dict(item), {}
    out = dict(item)
    lengths = dict(item.get(LENGTHS, {}) or {})
    sizes: dict[str, int] = {}
    for name, size in pad_to.items():
        if name not in kinds:
            raise ValueError(
                f"{who}: pad_to names {name!r}, which is not a modality of the item (modalities: "
                f"{list(kinds)}); fix the name, or declare it with kinds=."
            )
        x = item[name]
        td = _item_time_dim(kinds[name])
        own = int(x.shape[td])
        if own > size:
            raise ValueError(
                f"{who}: item[{name!r}] has {own} steps, more than pad_to[{name!r}] = {size}; "
                "raise pad_to to the longest item, or crop the items in the base dataset."
            )
        lengths.setdefault(name, own)  # the valid length: its own entry, else its size
        if own < size:
            out[name] = F.pad(x, [0, 0] * (x.ndim - 1 - td) + [0, size - own])
        sizes[name] = own
    out[LENGTHS] = lengths
    return out, sizes


def _crop(
    sample: Sample, kinds: Mapping[str, Kind], sizes: Mapping[str, int], *, batched: bool
) -> Sample:
    """Cut ``sizes``' modalities back to those sizes along their time axes (padding only)."""
    if not sizes:
        return sample
    out = dict(sample)
    for name, n in sizes.items():
        td = _item_time_dim(kinds[name]) + int(batched)
        x = out[name]
        if isinstance(x, Tensor) and x.shape[td] != n:
            out[name] = x.narrow(td, 0, n).contiguous()
    return out


def _shape_key(item: Mapping[str, Any]) -> tuple[Any, ...]:
    """What items must share to be stacked without padding: keys, tensor shapes and dtypes."""
    parts: list[Any] = []
    for k, v in item.items():
        if isinstance(v, Tensor):
            parts.append((k, tuple(v.shape), v.dtype, v.device))
        elif k in (LENGTHS, PRESENT) and isinstance(v, Mapping):
            parts.append((k, tuple(v)))
        else:
            parts.append((k,))
    return tuple(parts)


def _stack_levels(levels: Sequence[Level]) -> Level:
    """Rows' levels (each what the item alone gets) as one batch level."""
    first = levels[0]
    if isinstance(first, dict):
        out: dict[str, float | Tensor] = {}
        for k in first:
            one = _stack_levels([lv[k] for lv in levels if isinstance(lv, dict)])
            assert not isinstance(one, dict)  # a modality's level is a float or a tensor
            out[k] = one
        return out
    if all(isinstance(lv, float) for lv in levels):
        if all(lv == first for lv in levels):
            return first  # a float, as each item gets: the same host-side shortcuts
        return torch.tensor(levels, dtype=torch.float32)
    return torch.cat([torch.as_tensor(lv, dtype=torch.float32).reshape(1) for lv in levels])


def _row(v: Any, b: int, given: Any) -> Any:
    """Row ``b`` of an output entry, as a batch of one (what the per-item path gets)."""
    if isinstance(v, Mapping):
        return {n: t[b : b + 1] if isinstance(t, Tensor) else t for n, t in v.items()}
    if isinstance(v, Tensor) and (isinstance(given, Tensor) or given is None) and v.ndim:
        return v[b : b + 1]
    return v


def _as_collated(
    out: Mapping[str, Any],
    stacked: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]],
    kinds: Mapping[str, Kind],
    *,
    who: str,
) -> Sample:
    """The pipeline's output for one stack of equal shapes, as :func:`pad_collate` lays it out."""
    res: Sample = {}
    for key, v in out.items():
        if key in kinds or key in (LENGTHS, PRESENT):
            res[key] = v
        elif key in RESERVED:
            continue
        elif isinstance(stacked.get(key), Tensor):
            res[key] = v  # labels: stacked, as pad_collate stacks them
        elif key in items[0]:
            res[key] = _stack_other([it[key] for it in items], key, who=who)
        else:
            res[key] = v
    if LENGTHS in res:
        res[LENGTHS] = {n: t for n, t in res[LENGTHS].items() if n in kinds}
    return res


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


class EpochSampler(Sampler[tuple[int, int]]):
    """Wrap a sampler so that it yields ``(epoch, index)``: the epoch travels with every index.

    :class:`NoisyDataset` reads the epoch from such a pair, so the noise (and an epoch-driven
    schedule) advances every epoch even where the dataset itself never hears of the epoch:

    * ``persistent_workers=True``: workers keep their copy of the dataset across epochs, but
      the sampler runs in the main process and sends the epoch along with each index;
    * Lightning, Hugging Face ``Trainer`` and accelerate call ``set_epoch`` on the *sampler*
      of the loader (never on the dataset): this is that sampler.

    ``set_epoch`` is forwarded to the wrapped sampler when it has one (a ``DistributedSampler``
    then reshuffles as usual).

    Args:
        sampler: the sampler of indices to wrap (``RandomSampler``, ``DistributedSampler``, a
            list of indices, ...).
        epoch: the starting epoch.

    Raises:
        TypeError: ``sampler`` is not iterable, or ``epoch`` is not an int >= 0.

    Example:
        >>> s = EpochSampler([2, 0, 1])
        >>> list(s)
        [(0, 2), (0, 0), (0, 1)]
        >>> s.set_epoch(3)
        >>> list(s)[:1], len(s)
        ([(3, 2)], 3)
    """

    def __init__(self, sampler: Iterable[int], *, epoch: int = 0) -> None:
        if not isinstance(sampler, Iterable):
            raise TypeError(
                f"EpochSampler: expected a sampler (an iterable of indices), got "
                f"{type(sampler).__name__}; wrap e.g. RandomSampler(dataset)."
            )
        self.sampler = sampler
        self.epoch = 0
        self.set_epoch(epoch)

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch sent with the indices; forwarded to the wrapped sampler if it has one."""
        if not _is_int(epoch) or epoch < 0:
            raise TypeError(f"EpochSampler.set_epoch: expected an int >= 0, got {epoch!r}.")
        self.epoch = int(epoch)
        inner = getattr(self.sampler, "set_epoch", None)
        if callable(inner):
            inner(self.epoch)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.epoch
        for index in self.sampler:
            yield epoch, int(index)

    def __len__(self) -> int:
        if not isinstance(self.sampler, Sized):
            raise TypeError(
                f"EpochSampler: the wrapped {type(self.sampler).__name__} has no length."
            )
        return len(self.sampler)


def _add_batch_dim(
    item: Mapping[str, Any],
    kinds: Mapping[str, Kind],
    *,
    who: str,
    declared: Mapping[str, Kind] | None = None,
) -> Sample:
    # Every tensor gets the batch dim (labels too): the pipeline sees what a collated batch of
    # one looks like, so containers that read the batch size from any tensor entry agree.
    batched: Sample = {
        k: v.unsqueeze(0) if k not in RESERVED and isinstance(v, Tensor) else v
        for k, v in item.items()
    }
    if declared and KINDS_KEY not in item:
        # kinds= given: the transforms read e.g. a (1, C, L) waveform as one, not as features
        batched[KINDS_KEY] = dict(declared)
    lengths_in = item.get(LENGTHS, {}) or {}
    lengths: dict[str, Tensor] = {}
    for name, kind in kinds.items():
        x = item[name]
        if name in lengths_in:
            n = _scalar_int(lengths_in[name], who=who, name=name)
        else:
            n = int(x.shape[_item_time_dim(kind)])
        lengths[name] = torch.tensor([n], dtype=torch.int64, device=x.device)
    extra = set(lengths_in) - set(kinds)
    if extra:
        raise ValueError(
            f"{who}: item['lengths'] names {sorted(extra)}, which are not modality tensors of the "
            f"item (modalities: {list(kinds)}); remove them or declare them with kinds=."
        )
    batched[LENGTHS] = lengths
    if PRESENT in item:
        batched[PRESENT] = {
            n: torch.tensor([_scalar_bool(v, who=who, name=n)]) for n, v in item[PRESENT].items()
        }
    return batched


def _drop_batch_dim(
    out: Any, batched: Mapping[str, Any], *, who: str, keep_kinds: bool = True
) -> Sample:
    if not isinstance(out, Mapping):
        raise TypeError(
            f"{who}: expected the pipeline to return a dict, got {type(out).__name__}; a pipeline "
            "maps a sample dict to a new sample dict."
        )
    res: Sample = {}
    for key, v in out.items():
        if key == KINDS_KEY and not keep_kinds:
            continue  # declared for the pipeline only
        if key in (LENGTHS, PRESENT) and isinstance(v, Mapping):
            res[key] = {n: _unbatch(t, who=who, name=f"{key}[{n!r}]") for n, t in v.items()}
        elif key not in RESERVED and isinstance(batched.get(key), Tensor):
            res[key] = _unbatch(v, who=who, name=key)
        else:
            res[key] = v
    return res


def _unbatch(v: Any, *, who: str, name: str) -> Any:
    if not isinstance(v, Tensor):
        return v
    if v.ndim == 0 or v.shape[0] != 1:
        raise ValueError(
            f"{who}: expected the pipeline to keep batch size 1 for {name}, got shape "
            f"{tuple(v.shape)}; transforms must not change the batch dim."
        )
    return v[0]


def pad_collate(
    items: Sequence[Mapping[str, Any]], *, kinds: Mapping[str, Kind] | None = None
) -> Sample:
    """Collate unbatched sample dicts into a batch, zero-padding sequences and adding lengths.

    Modalities are padded at the end of their time axis (T for features / frames / tokens, L
    for a waveform) to the longest item, and ``"lengths"`` holds each item's valid length
    (its own ``lengths`` entry when it has one, else its size). ``"present"`` entries are
    stacked into (B,) bool tensors (an item without an entry counts as present). Other keys:
    tensors of equal shape are stacked (labels), numbers become a tensor, anything else
    (strings, ids) a list. Use as ``DataLoader(..., collate_fn=pad_collate)``; with waveform
    keys, ``functools.partial(pad_collate, kinds={...})``.

    Args:
        items: the unbatched samples (same keys, same kinds).
        kinds: explicit modality kinds; default: inferred from the first item (see
            :func:`item_kinds`).

    Shape:
        features (T_i, D) -> (B, T_max, D); frames (T_i, C, H, W) -> (B, T_max, C, H, W);
        tokens (T_i,) -> (B, T_max); waveform (C, L_i) -> (B, C, L_max); lengths (B,) int64.

    Returns:
        The batch dict.

    Raises:
        ValueError: empty list, items with different keys, shapes or dtypes that cannot be
            padded together, lengths outside [1, size].
        TypeError: an item is not a dict.

    Example:
        >>> b = pad_collate([{"a": torch.ones(2, 3), "y": torch.tensor(0), "id": "u1"},
        ...                  {"a": torch.ones(4, 3), "y": torch.tensor(1), "id": "u2"}])
        >>> b["a"].shape, b["lengths"]["a"], b["y"], b["id"]
        (torch.Size([2, 4, 3]), tensor([2, 4]), tensor([0, 1]), ['u1', 'u2'])
    """
    who = "pad_collate"
    if not isinstance(items, Sequence) or len(items) == 0:
        raise ValueError(f"{who}: expected a non-empty list of items, got {items!r:.60}.")
    if isinstance(items[0], CleanItem):
        raise TypeError(
            f"{who}: got the clean items of NoisyDataset(..., batch=True), which this collate "
            "would leave clean; pass collate_fn=dataset.collate to add their noise."
        )
    first = items[0]
    mk = item_kinds(first, kinds, who=who)
    keys = set(first).difference(RESERVED)
    for i, it in enumerate(items):
        if not isinstance(it, Mapping):
            raise TypeError(f"{who}: expected item {i} as a dict, got {type(it).__name__}.")
        if set(it).difference(RESERVED) != keys:
            diff = sorted(set(it).difference(RESERVED) ^ keys)
            raise ValueError(
                f"{who}: expected every item to have the keys of item 0, item {i} differs in "
                f"{diff}; make the dataset return the same keys for every item."
            )
    batch: Sample = {}
    lengths: dict[str, Tensor] = {}
    for name, kind in mk.items():
        batch[name], lengths[name] = _pad_stack(items, name, kind, who=who)
    for key in first:
        if key in mk or key in RESERVED:
            continue
        batch[key] = _stack_other([it[key] for it in items], key, who=who)
    for i, it in enumerate(items):
        extra = set(it.get(LENGTHS, {}) or {}) - set(mk)
        if extra:
            raise ValueError(
                f"{who}: item {i} has lengths for {sorted(extra)}, which are not modalities "
                f"(modalities: {list(mk)}); declare them with kinds=."
            )
    batch[LENGTHS] = lengths
    if any(PRESENT in it for it in items):
        names: list[str] = []
        for it in items:
            for n in it.get(PRESENT, {}):
                if n not in names:
                    names.append(n)
        batch[PRESENT] = {
            n: torch.tensor(
                [
                    _scalar_bool(it[PRESENT][n], who=who, name=n)
                    if n in it.get(PRESENT, {})
                    else True
                    for it in items
                ],
                dtype=torch.bool,
            )
            for n in names
        }
    return batch


def _pad_stack(
    items: Sequence[Mapping[str, Any]], name: str, kind: Kind, *, who: str
) -> tuple[Tensor, Tensor]:
    td = _item_time_dim(kind)
    xs: list[Tensor] = []
    for i, it in enumerate(items):
        x = it[name]
        ref = xs[0] if xs else None
        if not isinstance(x, Tensor) or x.ndim != _ITEM_RANK[kind]:
            got = f"shape {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(
                f"{who}: expected item {i}[{name!r}] as an unbatched {kind} tensor of rank "
                f"{_ITEM_RANK[kind]}, got {got}."
            )
        if ref is not None:
            same_rest = x.shape[:td] + x.shape[td + 1 :] == ref.shape[:td] + ref.shape[td + 1 :]
            if x.dtype != ref.dtype or x.device != ref.device or not same_rest:
                raise ValueError(
                    f"{who}: expected item {i}[{name!r}] to match item 0 except along the time "
                    f"axis (dim {td}), got {x.dtype} {tuple(x.shape)} on {x.device} vs "
                    f"{ref.dtype} {tuple(ref.shape)} on {ref.device}; resample or project the "
                    "features to one size before collating."
                )
        xs.append(x)
    size = max(int(x.shape[td]) for x in xs)
    padded = []
    for x in xs:
        extra = size - int(x.shape[td])
        if extra:
            # F.pad lists (left, right) pairs from the last dim backwards.
            pad = [0, 0] * (x.ndim - 1 - td) + [0, extra]
            x = F.pad(x, pad)
        padded.append(x)
    out = torch.stack(padded)
    lens = []
    for i, (it, x) in enumerate(zip(items, xs, strict=True)):
        own = int(x.shape[td])
        given = (it.get(LENGTHS, {}) or {}).get(name)
        n = own if given is None else _scalar_int(given, who=who, name=name)
        if not 1 <= n <= own:
            raise ValueError(
                f"{who}: expected 1 <= lengths[{name!r}] <= {own} (the size of item {i}), got "
                f"{n}; drop zero-length items and make lengths count valid steps only."
            )
        lens.append(n)
    return out, torch.tensor(lens, dtype=torch.int64, device=out.device)


def _stack_other(values: list[Any], key: str, *, who: str) -> Any:
    if all(isinstance(v, Tensor) for v in values):
        shapes = {tuple(v.shape) for v in values}
        if len(shapes) > 1:
            raise ValueError(
                f"{who}: expected the tensors under {key!r} to have one shape to stack, got "
                f"{sorted(shapes)}; if {key!r} is a modality, declare it with kinds=."
            )
        return torch.stack(values)
    if all(isinstance(v, bool) for v in values):
        return torch.tensor(values, dtype=torch.bool)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return torch.tensor(values)
    return list(values)


class BatchNoise:
    """Apply a noise pipeline to a batch on its own device, seeded per (seed, rank, step).

    The GPU fast path: collate clean items, move the batch with ``.to(device)``, then
    ``noisy = batch_noise(batch, step=step)``. The generator lives on the batch's device and is
    seeded with ``mmnoise.rng.derive_seed(seed, rank, step)``, so a rerun (or a resumed run)
    with the same seed, rank and step gets the same noise, and ranks get different noise.
    Streams are reproducible **per device type**: CPU and CUDA generators produce different
    numbers from one seed, so a run on GPU is not bit-identical to the same run on CPU.

    The level at ``step`` is ``schedule(step)`` (a per-optimiser-step schedule), or ``level``;
    ``level_mode`` draws per-example levels from it (:func:`mmnoise.schedules.sample_levels`).

    Args:
        pipeline: ``pipeline(sample, *, level, generator) -> new dict``.
        seed: the run's noise seed.
        rank: this process's rank (``torch.distributed.get_rank()``), 0 when not distributed.
        schedule: level per step, or None.
        level: constant level in [0, 1] when there is no schedule.
        level_mode: ``"fixed"``, ``"uniform"`` or ``"normal"``.
        std: standard deviation of ``"normal"`` (level units).

    Raises:
        TypeError / ValueError: bad arguments; at call time, a batch without modality tensors,
            tensors on different devices, a pipeline that does not return a dict.

    Example:
        >>> def add(sample, *, level, generator):
        ...     x = sample["x"]
        ...     noise = torch.randn(x.shape, generator=generator, device=x.device)
        ...     return {**sample, "x": x + level * noise}
        >>> bn = BatchNoise(add, seed=0, level=0.1)
        >>> batch = {"x": torch.zeros(2, 3, 4)}
        >>> torch.equal(bn(batch, step=5)["x"], bn(batch, step=5)["x"])
        True
        >>> torch.equal(bn(batch, step=5)["x"], bn(batch, step=6)["x"])
        False
    """

    def __init__(
        self,
        pipeline: _Pipeline,
        *,
        seed: int,
        rank: int = 0,
        schedule: LevelSchedule | None = None,
        level: float = 1.0,
        level_mode: LevelMode = "fixed",
        std: float = 0.1,
    ) -> None:
        who = "BatchNoise"
        _check_pipeline(pipeline, who)
        for name, v in (("seed", seed), ("rank", rank)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"{who}: expected {name} as an int, got {type(v).__name__}.")
        if rank < 0:
            raise ValueError(f"{who}: expected rank >= 0, got {rank}.")
        if schedule is not None and not callable(schedule):
            raise TypeError(
                f"{who}: expected schedule as a Schedule, got {type(schedule).__name__}."
            )
        _check_mode(level_mode, std, who)
        self.pipeline = pipeline
        self.seed = seed
        self.rank = rank
        self.schedule = schedule
        self.level = _check_constant_level(level, who)
        self.level_mode: LevelMode = level_mode
        self.std = float(std)

    def generator(self, step: int, device: torch.device | str = "cpu") -> torch.Generator:
        """Return the generator used at ``step`` on ``device`` (fresh, seeded; for replay)."""
        return make_generator(derive_seed(self.seed, self.rank, step), device)

    def level_at(self, step: float) -> float | dict[str, float]:
        """Return the scheduled level at ``step`` (a dict for per-modality schedules)."""
        if self.schedule is None:
            return self.level
        value: float | dict[str, float] = self.schedule(step)
        return value

    def __call__(
        self, batch: Mapping[str, Any], *, step: int, level_step: float | None = None
    ) -> Sample:
        """Return the noisy batch for step ``step`` (the input is not modified).

        ``step`` seeds the generator and, by default, is where the schedule is read;
        ``level_step`` reads the schedule somewhere else (the epoch, for an epoch-driven
        curriculum, or the optimiser step when ``step`` counts micro-batches under gradient
        accumulation, so that every micro-batch still gets its own noise).
        """
        who = "BatchNoise"
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
            raise ValueError(
                f"{who}: expected step as an int >= 0 (the global optimiser step), got {step!r}."
            )
        if level_step is not None and (
            isinstance(level_step, bool)
            or not isinstance(level_step, numbers.Real)
            or not level_step >= 0
        ):
            raise ValueError(f"{who}: expected level_step as a number >= 0, got {level_step!r}.")
        if not isinstance(batch, Mapping):
            raise TypeError(f"{who}: expected the batch as a dict, got {type(batch).__name__}.")
        tensors = {
            k: v
            for k, v in batch.items()
            if k not in RESERVED and isinstance(v, Tensor) and v.ndim >= 1
        }
        if not tensors:
            raise ValueError(
                f"{who}: expected at least one batched tensor in the batch, got keys "
                f"{sorted(batch)}; collate with mmnoise.data.pad_collate."
            )
        devices = {k: v.device for k, v in tensors.items()}
        if len(set(devices.values())) > 1:
            raise ValueError(
                f"{who}: expected every tensor of the batch on one device, got {devices}; move the "
                "whole batch with one .to(device)."
            )
        sizes = {k: int(v.shape[0]) for k, v in tensors.items()}
        if len(set(sizes.values())) > 1:
            raise ValueError(
                f"{who}: expected one batch size across the batch's tensors, got {sizes}."
            )
        device = next(iter(devices.values()))
        b = next(iter(sizes.values()))
        g = self.generator(step, device)
        at = step if level_step is None else level_step
        level = _draw_levels(
            self.level_at(at), b, mode=self.level_mode, std=self.std, generator=g, device=device
        )
        out = self.pipeline(dict(batch), level=level, generator=g)
        if not isinstance(out, Mapping):
            raise TypeError(
                f"{who}: expected the pipeline to return a dict, got {type(out).__name__}."
            )
        return dict(out)
