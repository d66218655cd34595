"""Containers: Compose, OneOf, SomeOf and the MultimodalPipeline.

Containers select transforms *per example*. ``Compose`` runs every child on the whole batch, with
level 0 (an exact identity) for the examples its gate leaves out. ``OneOf`` and ``SomeOf`` run each
child only on the rows of the examples it was chosen for (gathered with ``index_select``, written
back with ``index_copy_``), so a call costs about what the chosen children cost, not the sum of
all children; the row counts are read back to the host once per call (one sync), since the
children's batch sizes depend on the draw.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from mmnoise import rng
from mmnoise.rng import Key, Randomness
from mmnoise.sample import (
    KINDS_KEY,
    LENGTHS,
    PRESENT,
    Sample,
    batch_size,
    check_finite_entries,
    check_reserved,
    check_tensor,
    modality_names,
    reads_on_host,
    time_dim,
)
from mmnoise.transforms.base import (
    ALL_KINDS,
    Level,
    NoiseTransform,
    Record,
    check_generator,
    check_level,
    check_probability,
    owned_entries,
)
from mmnoise.transforms.missing import DropModalities

__all__ = ["Compose", "MultimodalPipeline", "OneOf", "SomeOf"]


def _check_children(transforms: Sequence[NoiseTransform], *, who: str) -> nn.ModuleList:
    items = list(transforms)
    for t in items:
        if not isinstance(t, NoiseTransform):
            raise TypeError(
                f"{who}: expected mmnoise transforms, got {type(t).__name__}; wrap custom code in a "
                "NoiseTransform subclass."
            )
    if not items:
        raise ValueError(f"{who}: expected at least one transform, got an empty list.")
    return nn.ModuleList(items)


def _batch(sample: Sample, *, who: str) -> tuple[int, torch.device]:
    names = modality_names(sample)
    if not names:
        raise ValueError(f"{who}: the sample holds no modality tensor (keys: {sorted(sample)}).")
    return batch_size(sample, names, who=who), sample[names[0]].device


def _first_rows(mask: Tensor, count: int) -> Tensor:
    """Return the indices of the ``count`` True entries of the (B,) ``mask``, in order.

    A stable sort instead of ``nonzero``: its size is known on the host, so it needs no sync.
    """
    return torch.argsort((~mask).to(torch.uint8), stable=True)[:count]


def _subsets(device: torch.device, generator: Randomness) -> bool:
    """Whether ``OneOf`` / ``SomeOf`` run each child on a sub-batch of its rows here.

    The sub-batch sizes are read on the host: free for CPU data in eager mode, a device sync on
    CUDA and a graph break under ``torch.compile``; there, and with a :class:`mmnoise.rng.Key`
    (whose draws must be the same eager and compiled), each child runs on the whole batch.
    """
    return reads_on_host(device) and not isinstance(generator, Key)


def _take_rows(sample: Sample, names: Sequence[str], rows: Tensor) -> Sample:
    """Return the sub-sample of examples ``rows``: entries ``names`` and their reserved entries."""
    sub: Sample = {n: sample[n].index_select(0, rows) for n in names}
    for key in (LENGTHS, PRESENT):
        entry = {}
        for n, v in sample.get(key, {}).items():
            if n in sub:
                v = torch.as_tensor(v)
                entry[n] = v.index_select(0, rows.to(v.device))
        if entry:
            sub[key] = entry
    kinds = {n: k for n, k in sample.get(KINDS_KEY, {}).items() if n in sub}
    if kinds:
        sub[KINDS_KEY] = kinds
    return sub


def _reserved_default(sample: Sample, key: str, name: str, like: Tensor, *, who: str) -> Tensor:
    """The full (B,) value an absent ``lengths`` / ``present`` entry stands for."""
    x = sample[name]
    if key == PRESENT:
        return torch.ones(x.shape[0], dtype=like.dtype, device=like.device)
    kind = check_tensor(
        x,
        who=who,
        name=name,
        accepts=ALL_KINDS,
        check_finite=False,
        declared=sample.get(KINDS_KEY, {}).get(name),
    )
    return torch.full((x.shape[0],), x.shape[time_dim(kind)], dtype=like.dtype, device=like.device)


class _Container(NoiseTransform):
    accepts = ALL_KINDS
    transforms: nn.ModuleList | nn.ModuleDict

    def _children(self) -> list[NoiseTransform]:
        items = (
            self.transforms.values()
            if isinstance(self.transforms, nn.ModuleDict)
            else self.transforms
        )
        return [t for t in items if isinstance(t, NoiseTransform)]

    def touched_keys(self, sample: Sample, keys: Sequence[str] | str | None = None) -> list[str]:
        """Return every entry one of the children touches (each once, in first-touch order)."""
        keys = keys if keys is not None else self.keys
        seen: dict[str, None] = {}
        for child in self._children():
            seen.update(dict.fromkeys(child.touched_keys(sample, keys)))
        return list(seen)

    def _levels(
        self, sample: Sample, level: Level, generator: Randomness, replay: Record | None
    ) -> tuple[Tensor, Tensor]:
        """Return per-example levels and the container's own p-gate (or the replayed gate)."""
        who = type(self).__name__
        check_reserved(sample, who=who)
        b, device = _batch(sample, who=who)
        if replay is not None:
            return torch.zeros(b, device=device), replay["applied"].to(device)
        return self.draw_gate(level, b, device, generator)

    def _child_level(self, level: Level, gated: Tensor, replay: Record | None) -> Level:
        """The level passed on to the children: the caller's float itself when every example
        passes the gate (known on the host: p = 1), so that they skip the per-example blend."""
        if replay is None and self.p >= 1.0 and isinstance(level, float | int):
            return level
        return gated

    def _run_children(
        self,
        sample: Sample,
        levels: Sequence[Level | None],
        *,
        generator: Randomness,
        keys: Sequence[str] | None,
        check_finite: bool,
        replay: Record | None,
        record: bool,
        owned: Collection[str],
    ) -> tuple[Sample, list[Record]]:
        if check_finite:
            # every entry any child touches, checked once, before the first child runs (a
            # later child then reads a child's output, which a finite input keeps finite)
            names = [n for n in self.touched_keys(sample, keys) if n not in owned]
            check_finite_entries(sample, names, who=type(self).__name__)
        out, records = sample, []
        for i, (child, lv) in enumerate(zip(self._children(), levels, strict=True)):
            child_replay = None if replay is None else replay["children"][i]
            out, rec = child.run(
                out,
                level=lv if lv is not None else 0.0,
                generator=generator,
                keys=keys,
                check_finite=False,
                replay=child_replay,
                record=record,
                owned=owned,
            )
            # what a child made is this container's own: later children may write into it
            owned = owned_entries(sample, out, owned)
            records.append(rec)
        return out, records

    def _run_on_rows(
        self,
        sample: Sample,
        levels: Tensor,
        rows: Tensor,
        *,
        generator: Randomness,
        keys: Sequence[str] | None,
        check_finite: bool,
        replay: Record | None,
        record: bool,
        owned: Collection[str],
        subsets: bool,
        disjoint: bool = False,
    ) -> tuple[Sample, list[Record | None]]:
        """Run child ``i`` only on the examples where ``rows[:, i]`` (B, N) is True, in order.

        ``subsets``: run each child on a sub-batch of its rows (:func:`_subsets`).
        ``disjoint``: no example is in two children's rows (``OneOf``), so every child reads the
        input sample, and an entry whose rows the children cover completely is written into a
        fresh buffer instead of a copy of the input.

        Each child gets the sub-sample of its rows (its entries, their ``lengths`` / ``present``
        / ``kinds``) at their ``levels``; its output rows are written back into the container's
        own copy of each entry (or into an ``owned`` intermediate), so the caller's tensors are
        never modified. A child chosen for every example runs on the sample itself; one chosen
        for none does not run and records None. The row counts are read back once: free for
        CPU data, a host sync elsewhere. So where reading them would stall a device or break a
        compiled graph (:func:`_subsets` is False) every child runs on the whole batch instead,
        at level 0 on the rows it was not chosen for: no read-back, at the cost of every child.
        """
        who = type(self).__name__
        if check_finite:
            names = [n for n in self.touched_keys(sample, keys) if n not in owned]
            check_finite_entries(sample, names, who=who)
        if not subsets:
            # no read-back: every child runs on the whole batch, at level 0 (an exact identity)
            # on the examples it was not chosen for; it costs every child's full price
            whole, done = self._run_children(
                sample,
                [levels * rows[:, i] for i in range(rows.shape[1])],
                generator=generator,
                keys=keys,
                check_finite=False,  # (checked above)
                replay=replay,
                record=record,
                owned=owned,
            )
            return whole, list(done)
        b = rows.shape[0]
        counts = rows.sum(dim=0).tolist()  # the one read-back of the call
        out: Sample = dict(sample)
        mine: dict[str, Tensor] = {}  # the copies this call made (rows are written into them)
        covered: set[str] = set()  # entries whose every row some child writes
        if disjoint:
            cover: dict[str, int] = {}
            for child, count in zip(self._children(), counts, strict=True):
                for n in child.touched_keys(sample, keys) if count else []:
                    cover[n] = cover.get(n, 0) + int(count)
            covered = {n for n, c in cover.items() if c == b}
        records: list[Record | None] = []
        for i, child in enumerate(self._children()):
            child_replay = None if replay is None else replay["children"][i]
            count = int(counts[i])
            if count == 0:
                records.append(None)
                continue
            if count == b:
                out, rec = child.run(
                    out,
                    level=levels,
                    generator=generator,
                    keys=keys,
                    check_finite=False,
                    replay=child_replay,
                    record=record,
                    owned=owned,
                )
                owned = owned_entries(sample, out, owned)
                records.append(rec)
                continue
            idx = _first_rows(rows[:, i], count)
            src = sample if disjoint else out  # (disjoint rows: the input's rows are unchanged)
            names = child.touched_keys(src, keys)
            sub = _take_rows(src, names, idx)
            sub_out, rec = child.run(
                sub,
                level=levels.index_select(0, idx),
                # per-example generators follow their examples into the sub-batch
                generator=generator.rows(idx) if rng.per_example(generator) else generator,
                keys=keys,
                check_finite=False,
                replay=child_replay,
                record=record,
                owned=set(names),  # the gathered rows are this container's own copies
            )
            records.append(rec)
            for n in names:
                y = sub_out[n]  # (it may be sub[n] itself, written in place)
                x = out[n]
                # as in NoiseTransform.run: a caller's intermediate is written into only when no
                # record or autograd history needs it; anything else is copied once
                if x is not mine.get(n) and (n not in owned or record or x.requires_grad):
                    x = mine[n] = torch.empty_like(x) if n in covered else x.clone()
                out[n] = x.index_copy_(0, idx, y.to(x.dtype))
            for key in (LENGTHS, PRESENT):
                new, before = sub_out.get(key, {}), sub.get(key, {})
                changed = {n: v for n, v in new.items() if n in names and v is not before.get(n)}
                if not changed:
                    continue
                full = dict(out.get(key, {}))
                for n, v in changed.items():
                    base = full.get(n)
                    if base is None:
                        base = _reserved_default(out, key, n, v, who=who)
                    base = torch.as_tensor(base)
                    full[n] = base.index_copy(0, idx.to(base.device), v.to(base))
                out[key] = full
            owned = owned_entries(sample, out, owned)
        return out, records


class Compose(_Container):
    """Apply transforms in order, all at the same per-example level.

    Args:
        transforms: the transforms, applied first to last.
        keys: entries every child corrupts, overriding the children's own (None: children decide).
        p: per-example probability of applying the whole chain.

    Shape:
        Whatever the children accept; output keeps shapes, dtypes and devices.

    Example:
        >>> from mmnoise.transforms.features import Gain
        >>> c = Compose([Gain("a", gain_db=(0.0, -20.0)), Gain("a", gain_db=(0.0, -20.0))])
        >>> c({"a": torch.ones(1, 1, 1)})["a"].item()
        0.01...
    """

    def __init__(
        self,
        transforms: Sequence[NoiseTransform],
        *,
        keys: str | Sequence[str] | None = None,
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, p=p)
        self.transforms = _check_children(transforms, who=type(self).__name__)

    def run(
        self,
        sample: Sample,
        *,
        level: Level = 1.0,
        generator: Randomness = None,
        keys: Sequence[str] | None = None,
        check_finite: bool = True,
        replay: Record | None = None,
        record: bool = True,
        owned: Collection[str] = (),
    ) -> tuple[Sample, Record]:
        lv, gate = self._levels(sample, level, generator, replay)
        child_lv = self._child_level(level, lv * gate, replay)
        keys = keys if keys is not None else self.keys
        out, recs = self._run_children(
            sample,
            [child_lv] * len(self.transforms),
            generator=generator,
            keys=keys,
            check_finite=check_finite,
            replay=replay,
            record=record,
            owned=owned,
        )
        return out, {"type": type(self).__name__, "applied": gate, "children": recs}


class OneOf(_Container):
    """Apply exactly one of the transforms to each example, chosen with ``weights``.

    Each transform runs only on the examples it was chosen for (their rows gathered, its output
    rows written back), so a call costs about what the chosen transforms cost. The record holds
    ``choice`` (B,), ``applied`` (B,) (gate and level > 0) and one record per transform for its
    rows in order (None for a transform chosen for no example).

    Args:
        transforms: the candidates.
        weights: relative choice weights (default uniform); e.g. from a noise-mix schedule.
        keys: entries passed to children (None: children decide).
        p: per-example probability of applying any.

    Shape:
        Whatever the children accept; output keeps shapes, dtypes and devices.

    Example:
        >>> from mmnoise.transforms.features import Gain
        >>> o = OneOf([Gain("a", gain_db=(0.0, -20.0)), Gain("a", gain_db=(0.0, 20.0))])
        >>> y = o({"a": torch.ones(1, 1, 1)}, generator=torch.Generator().manual_seed(0))["a"]
        >>> round(y.item(), 4) in (0.1, 10.0)
        True
    """

    def __init__(
        self,
        transforms: Sequence[NoiseTransform],
        *,
        weights: Sequence[float] | None = None,
        keys: str | Sequence[str] | None = None,
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, p=p)
        who = type(self).__name__
        self.transforms = _check_children(transforms, who=who)
        if weights is not None:
            weights = [float(w) for w in weights]
            if len(weights) != len(self.transforms) or min(weights) < 0 or sum(weights) <= 0:
                raise ValueError(
                    f"{who}: expected {len(self.transforms)} non-negative weights with a positive "
                    f"sum, got {weights}."
                )
        self.weights: list[float] | None = weights
        w = weights if weights is not None else [1.0] * len(self.transforms)
        # the CDF as float32 values kept on the host: choices compare uniforms with host floats
        # (a list copied to the device on each call would sync on CUDA)
        self._cdf: list[float] = torch.cumsum(
            torch.tensor(w, dtype=torch.float32) / sum(w), dim=0
        ).tolist()

    def _choose(self, b: int, device: torch.device, generator: Randomness) -> Tensor:
        u = rng.rand((b,), generator=generator, device=device)
        # inverse-CDF sampling: one uniform per example, no Python loop over the batch
        choice = torch.zeros(b, dtype=torch.int64, device=device)
        for c in self._cdf[:-1]:
            choice += u >= c
        return choice

    def run(
        self,
        sample: Sample,
        *,
        level: Level = 1.0,
        generator: Randomness = None,
        keys: Sequence[str] | None = None,
        check_finite: bool = True,
        replay: Record | None = None,
        record: bool = True,
        owned: Collection[str] = (),
    ) -> tuple[Sample, Record]:
        lv, gate = self._levels(sample, level, generator, replay)
        if replay is None:
            choice = self._choose(lv.shape[0], lv.device, generator)
            applied = gate & (lv > 0)
        else:
            choice, applied = replay["choice"].to(lv.device), gate
        n = len(self.transforms)
        rows = (choice[:, None] == torch.arange(n, device=lv.device)) & applied[:, None]
        subsets = _subsets(lv.device, generator) if replay is None else replay["subsets"]
        out, recs = self._run_on_rows(
            sample,
            lv,
            rows,
            generator=generator,
            keys=keys if keys is not None else self.keys,
            check_finite=check_finite,
            replay=replay,
            record=record,
            owned=owned,
            subsets=subsets,
            disjoint=True,
        )
        return out, {
            "type": type(self).__name__,
            "applied": applied,
            "choice": choice,
            "subsets": subsets,
            "children": recs,
        }


class SomeOf(_Container):
    """Apply a random subset of ``n = (min, max)`` transforms to each example, in list order.

    Each transform runs only on the examples that got it, as in :class:`OneOf`; the record holds
    ``chosen`` (B, N) instead of ``choice``.

    Args:
        transforms: the candidates.
        n: (min, max) number applied per example, inclusive.
        keys: entries passed to children (None: children decide).
        p: per-example probability of applying any.

    Shape:
        Whatever the children accept; output keeps shapes, dtypes and devices.

    Example:
        >>> from mmnoise.transforms.features import Gain
        >>> s = SomeOf([Gain("a"), Gain("a")], n=(2, 2))
        >>> s({"a": torch.ones(1, 1, 1)})["a"].item()
        0.01...
    """

    def __init__(
        self,
        transforms: Sequence[NoiseTransform],
        *,
        n: Sequence[int] = (1, 2),
        keys: str | Sequence[str] | None = None,
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, p=p)
        who = type(self).__name__
        self.transforms = _check_children(transforms, who=who)
        lo, hi = (int(n[0]), int(n[1])) if len(n) == 2 else (-1, -1)
        if not 0 <= lo <= hi <= len(self.transforms):
            raise ValueError(
                f"{who}: expected n = (min, max) with 0 <= min <= max <= {len(self.transforms)}, "
                f"got {tuple(n)}."
            )
        self.n = (lo, hi)

    def run(
        self,
        sample: Sample,
        *,
        level: Level = 1.0,
        generator: Randomness = None,
        keys: Sequence[str] | None = None,
        check_finite: bool = True,
        replay: Record | None = None,
        record: bool = True,
        owned: Collection[str] = (),
    ) -> tuple[Sample, Record]:
        lv, gate = self._levels(sample, level, generator, replay)
        b, m = lv.shape[0], len(self.transforms)
        if replay is None:
            count = rng.randint(
                self.n[0], self.n[1] + 1, (b,), generator=generator, device=lv.device
            )
            scores = rng.rand((b, m), generator=generator, device=lv.device)
            rank = torch.argsort(torch.argsort(scores, dim=1), dim=1)
            chosen = rank < count[:, None]
            applied = gate & (lv > 0)
        else:
            chosen, applied = replay["chosen"].to(lv.device), gate
        subsets = _subsets(lv.device, generator) if replay is None else replay["subsets"]
        out, recs = self._run_on_rows(
            sample,
            lv,
            chosen & applied[:, None],
            generator=generator,
            keys=keys if keys is not None else self.keys,
            check_finite=check_finite,
            replay=replay,
            record=record,
            owned=owned,
            subsets=subsets,
        )
        return out, {
            "type": type(self).__name__,
            "applied": applied,
            "chosen": chosen,
            "subsets": subsets,
            "children": recs,
        }


class MultimodalPipeline(_Container):
    """Per-modality transform lists plus missing-modality dropping, in one call.

    Each modality's list runs as a :class:`Compose` bound to that modality. With
    ``shared=True`` every modality's list draws from the same random stream, so the i-th transform
    of each list gets the same draws: a ``TimeMask`` then masks the same fraction of time in audio,
    video and text (time-aligned spans, since spans are drawn as fractions of the length). With
    ``shared=False`` each modality gets an independent stream. ``missing`` (a
    :class:`DropModalities`) runs last, on the noisy sample.

    Args:
        transforms: {modality: [transforms]}.
        missing: optional modality dropping.
        shared: shared (True) or independent (False) draws across modalities.
        p: per-example probability of applying anything.

    ``level`` may be a float, a (B,) tensor, or a dict {modality: level, "missing": level}
    (per-modality schedules). In a dict, ``"noise"`` is the level of every modality not named
    (one noise level for all modalities, the missing ones at a level of their own:
    ``{"noise": 0.5, "missing": 0.2}``); an entry absent from the dict means level 0.

    Shape:
        Whatever the children accept; output keeps shapes, dtypes and devices.

    Example:
        >>> from mmnoise.transforms.features import TimeMask
        >>> pipe = MultimodalPipeline({"a": [TimeMask(ratio=(0.0, 0.5))],
        ...                            "v": [TimeMask(ratio=(0.0, 0.5))]}, shared=True)
        >>> s = {"a": torch.ones(1, 8, 1), "v": torch.ones(1, 4, 1)}
        >>> out = pipe(s, level=1.0, generator=torch.Generator().manual_seed(1))
        >>> out["a"].sum().item(), out["v"].sum().item()
        (4.0, 2.0)
    """

    def __init__(
        self,
        transforms: Mapping[str, Sequence[NoiseTransform]],
        *,
        missing: DropModalities | None = None,
        shared: bool = False,
        p: float = 1.0,
    ) -> None:
        super().__init__(None, p=p)
        who = type(self).__name__
        if not isinstance(transforms, Mapping):
            raise TypeError(
                f"{who}: expected transforms as {{modality: [transforms]}}, got "
                f"{type(transforms).__name__}."
            )
        self.transforms = nn.ModuleDict(
            {name: Compose(list(ts), keys=(name,)) for name, ts in transforms.items() if ts}
        )
        if missing is not None and not isinstance(missing, DropModalities):
            raise TypeError(
                f"{who}: expected missing as a DropModalities, got {type(missing).__name__}."
            )
        self.missing = missing
        self.shared = bool(shared)
        check_probability(p, who=who)

    def touched_keys(self, sample: Sample, keys: Sequence[str] | str | None = None) -> list[str]:
        """Return the pipeline's modalities, then those only ``missing`` names (each once)."""
        names = [n for n, _ in self._compose_items()]
        extra = self.missing.touched_keys(sample) if self.missing is not None else []
        return list(dict.fromkeys(names + extra))

    def _compose_items(self) -> list[tuple[str, Compose]]:
        items = self.transforms.items() if isinstance(self.transforms, nn.ModuleDict) else []
        return [(n, c) for n, c in items if isinstance(c, Compose)]

    def to_config(self) -> dict[str, Any]:
        config = super().to_config()
        config["transforms"] = {
            name: [t.to_config() for t in c._children()] for name, c in self._compose_items()
        }
        return config

    def run(
        self,
        sample: Sample,
        *,
        level: Level | Mapping[str, Level] = 1.0,
        generator: Randomness = None,
        keys: Sequence[str] | None = None,
        check_finite: bool = True,
        replay: Record | None = None,
        record: bool = True,
        owned: Collection[str] = (),
    ) -> tuple[Sample, Record]:
        who = type(self).__name__
        if not isinstance(sample, Mapping):
            raise TypeError(f"{who}: expected the sample as a dict, got {type(sample).__name__}.")
        check_reserved(sample, who=who)
        names = [n for n, _ in self._compose_items()]
        touched = self.touched_keys(sample)
        unknown = [n for n in touched if n not in sample]
        if unknown:
            raise KeyError(
                f"{who}: modalities {unknown} are not in the sample (its modalities: "
                f"{modality_names(sample)}); check the spelling of the pipeline's modality names."
            )
        levels = level if isinstance(level, Mapping) else None
        extra = (
            sorted(set(levels) - set(names) - {"missing", "noise"}) if levels is not None else []
        )
        if extra:
            raise KeyError(
                f"{who}: level names {extra} match no modality of the pipeline "
                f"({names}, 'noise' for all of them, and 'missing')."
            )
        b, device = _batch(sample, who=who)
        if check_finite:
            check_finite_entries(sample, [n for n in touched if n not in owned], who=who)
        if replay is None:
            check_generator(generator, device, who=who, batch=b)
            gate = rng.rand((b,), generator=generator, device=device) < self.p
            base = rng.draw_seed(generator, device)
        else:
            gate, base = replay["applied"].to(device), torch.as_tensor(replay["seed"])
        out, recs = dict(sample), {}
        flat: Level = 0.0 if isinstance(level, Mapping) else level
        for i, (name, child) in enumerate(self._compose_items()):
            lv = levels.get(name, levels.get("noise", 0.0)) if levels is not None else flat
            lv_vec = check_level(lv, b, device, who=f"{who}[{name!r}]") * gate
            g = rng.generator_from_seed(base, device, 0 if self.shared else i + 1)
            out, recs[name] = child.run(
                out,
                level=self._child_level(lv, lv_vec, replay),
                generator=g,
                check_finite=False,
                replay=None if replay is None else replay["children"][name],
                record=record,
                owned=owned,
            )
            owned = owned_entries(sample, out, owned)
        if self.missing is not None:
            lv = levels.get("missing", 0.0) if levels is not None else flat
            lv_vec = check_level(lv, b, device, who=f"{who}['missing']") * gate
            g = rng.generator_from_seed(base, device, -1)
            out, recs["missing"] = self.missing.run(
                out,
                level=self._child_level(lv, lv_vec, replay),
                generator=g,
                check_finite=False,
                replay=None if replay is None else replay["children"]["missing"],
                record=record,
                owned=owned,
            )
        return out, {"type": who, "applied": gate, "seed": base, "children": recs}
