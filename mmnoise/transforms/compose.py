"""Containers: Compose, OneOf, SomeOf and the MultimodalPipeline.

Containers select transforms *per example*. Each one's ``draw`` takes its own decisions (its
gate, which child each example gets) and has its children draw theirs; its ``apply_record``
applies the children's records in order. ``Compose`` runs every child on the whole batch, with
level 0 (an exact identity) for the examples its gate leaves out. ``OneOf`` and ``SomeOf`` run
each child only on the rows of the examples it was chosen for (gathered with ``index_select``,
written back with ``index_copy_``), so a call costs about what the chosen children cost; the row
counts are read on the host, which is free for CPU data in eager mode. On other devices, under
``torch.compile`` and with a :class:`mmnoise.rng.Key`, each child runs on the whole batch
instead, at level 0 on the rows it was not chosen for: no read-back, every child's full price.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from mmnoise import rng
from mmnoise.config import check_probability
from mmnoise.levels import check_level
from mmnoise.rng import Randomness
from mmnoise.sample import (
    ALL_KINDS,
    KINDS_KEY,
    LENGTHS,
    PRESENT,
    Keys,
    Levels,
    Sample,
    batch_size,
    check_tensor,
    modality_names,
    time_dim,
)
from mmnoise.transforms import hints
from mmnoise.transforms.base import NoiseTransform
from mmnoise.transforms.hints import owned_entries
from mmnoise.transforms.missing import DropModalities
from mmnoise.transforms.record import Record, entries, new_record

__all__ = ["Compose", "MultimodalPipeline", "OneOf", "SomeOf", "owned_entries"]


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


def _shapes(sample: Sample, names: Sequence[str], count: int) -> Sample:
    """A stand-in sub-sample of ``count`` examples for ``draw``, which reads shapes only."""
    sub: Sample = {n: sample[n][:1].expand(count, *sample[n].shape[1:]) for n in names}
    kinds = {n: k for n, k in sample.get(KINDS_KEY, {}).items() if n in sub}
    return {**sub, KINDS_KEY: kinds} if kinds else sub


def _reserved_default(sample: Sample, key: str, name: str, like: Tensor, *, who: str) -> Tensor:
    """The full (B,) value an absent ``lengths`` / ``present`` entry stands for."""
    x = sample[name]
    if key == PRESENT:
        return torch.ones(x.shape[0], dtype=like.dtype, device=like.device)
    kind = check_tensor(x, who=who, name=name, accepts=ALL_KINDS, check_finite=False,
                        declared=sample.get(KINDS_KEY, {}).get(name))  # fmt: skip
    return torch.full((x.shape[0],), x.shape[time_dim(kind)], dtype=like.dtype, device=like.device)


class _Container(NoiseTransform):
    accepts = ALL_KINDS
    transforms: nn.ModuleList | nn.ModuleDict
    #: no example is in two children's rows (OneOf): every child reads the input sample
    disjoint: ClassVar[bool] = False

    def _named(self) -> list[tuple[str, NoiseTransform]]:
        """The children in order, under the names their records are kept by."""
        return [
            (n, t) for n, t in self.transforms._modules.items() if isinstance(t, NoiseTransform)
        ]

    def touched_keys(self, sample: Sample, keys: Keys = None) -> list[str]:
        """Return every entry one of the children touches (each once, in first-touch order)."""
        keys = keys if keys is not None else self.keys
        seen: dict[str, None] = {}
        for _, child in self._named():
            seen.update(dict.fromkeys(child.touched_keys(sample, keys)))
        return list(seen)

    def _gate(self, sample: Sample, level: Any, generator: Randomness) -> tuple[Tensor, Tensor]:
        """(B,) levels and the gate (:meth:`NoiseTransform.draw_gate`) of a container's call."""
        who = type(self).__name__
        b, device = _batch(sample, who=who)
        return check_level(level, b, device, who=who), self.draw_gate(b, device, generator)

    def _rows(self, record: Record) -> Tensor:
        """(B, N): which examples each child ran on (only for children run on sub-batches)."""
        raise NotImplementedError

    def _draw_rows(
        self, sample: Sample, lv: Tensor, rows: Tensor, generator: Randomness, keys: Keys
    ) -> dict[str, Record | None]:
        """Let child ``i`` draw for the examples where ``rows[:, i]`` (B, N) is True."""
        named = self._named()
        if not hints.subsets(lv.device, generator):
            # no read-back: every child draws for the whole batch, at level 0 (an exact
            # identity) on the examples it was not chosen for
            return {n: c.draw(sample, lv * rows[:, i], generator, keys)
                    for i, (n, c) in enumerate(named)}  # fmt: skip
        b, counts = rows.shape[0], rows.sum(dim=0).tolist()  # the one read of the call
        children: dict[str, Record | None] = {}
        for i, (n, child) in enumerate(named):
            count = int(counts[i])
            if count in (0, b):
                children[n] = None if count == 0 else child.draw(sample, lv, generator, keys)
                continue
            idx = _first_rows(rows[:, i], count)
            sub = _shapes(sample, child.touched_keys(sample, keys), count)
            # per-example generators follow their examples into the sub-batch
            g = generator.rows(idx) if rng.per_example(generator) else generator
            children[n] = child.draw(sub, lv.index_select(0, idx), g, keys)
        return children

    def apply_record(
        self, sample: Sample, record: Record, *, owned: frozenset[str] = frozenset(),
        facts: bool = False,
    ) -> Sample:  # fmt: skip
        """Apply the children's records in order; a child drawn for a sub-batch runs on its rows.

        Its output rows are written back into the container's own copy of each entry (or into
        an ``owned`` intermediate), so the caller's tensors are never modified.
        """
        who, b = type(self).__name__, record["applied"].shape[0]
        plan = [(i, c, record["children"].get(n)) for i, (n, c) in enumerate(self._named())]
        out, rows = dict(sample), None
        mine: dict[str, Tensor] = {}
        covered: set[str] = set()
        if self.disjoint:  # entries whose every row some child writes: a fresh buffer, no copy
            cover: dict[str, int] = {}
            for done in (r for _, _, r in plan if r is not None):
                for n in entries(done):
                    cover[n] = cover.get(n, 0) + done["applied"].shape[0]
            covered = {n for n, c in cover.items() if c == b}
        for i, child, rec in plan:
            if rec is None:
                continue
            count = rec["applied"].shape[0]
            if count == b:
                out = child.apply_record(out, rec, owned=owned, facts=facts)
                owned = hints.owned_entries(sample, out, owned)
                continue
            rows = self._rows(record) if rows is None else rows
            idx, names = _first_rows(rows[:, i], count), entries(rec)
            sub = _take_rows(sample if self.disjoint else out, names, idx)
            # the gathered rows are this container's own copies
            sub_out = child.apply_record(sub, rec, owned=frozenset(names), facts=facts)
            for n in names:
                y, x = sub_out[n], out[n]
                # a caller's intermediate is written into only when no record or autograd
                # history needs it; anything else is copied once
                if x is not mine.get(n) and (n not in owned or facts or x.requires_grad):
                    x = mine[n] = torch.empty_like(x) if n in covered else x.clone()
                out[n] = x.index_copy_(0, idx, y.to(x.dtype))
            for key in (LENGTHS, PRESENT):
                new, before = sub_out.get(key, {}), sub.get(key, {})
                changed = {n: v for n, v in new.items() if n in names and v is not before.get(n)}
                if changed:
                    full = dict(out.get(key, {}))
                    for n, v in changed.items():
                        base = full.get(n)
                        if base is None:
                            base = _reserved_default(out, key, n, v, who=who)
                        base = torch.as_tensor(base)
                        full[n] = base.index_copy(0, idx.to(base.device), v.to(base))
                    out[key] = full
            owned = hints.owned_entries(sample, out, owned)
        return out


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

    def draw(
        self, sample: Sample, level: Levels, generator: Randomness, keys: Keys = None
    ) -> Record:
        lv, gate = self._gate(sample, level, generator)
        child_lv, keys = hints.child_level(level, self.p, lv * gate), keys or self.keys
        children = {n: c.draw(sample, child_lv, generator, keys) for n, c in self._named()}
        return new_record(type(self).__name__, gate, children=children)


class OneOf(_Container):
    """Apply exactly one of the transforms to each example, chosen with ``weights``.

    Each transform runs only on the examples it was chosen for (their rows gathered, its output
    rows written back), so a call costs about what the chosen transforms cost. The record holds
    ``params["choice"]`` (B,), ``applied`` (B,) (gate and level > 0) and, under ``children``, one
    record per transform for its rows (None for a transform chosen for no example).

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

    disjoint = True

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
        self.weights = weights

    @property
    def weights(self) -> list[float] | None:
        """Relative choice weights (None: uniform); setting them re-checks and re-derives the CDF."""
        return self._weights

    @weights.setter
    def weights(self, weights: Sequence[float] | None) -> None:
        if weights is not None:
            weights = [float(w) for w in weights]
            if len(weights) != len(self.transforms) or min(weights) < 0 or sum(weights) <= 0:
                raise ValueError(
                    f"{type(self).__name__}: expected {len(self.transforms)} non-negative weights "
                    f"with a positive sum, got {weights}."
                )
        self._weights: list[float] | None = weights
        w = weights if weights is not None else [1.0] * len(self.transforms)
        # the CDF as float32 values kept on the host: choices compare uniforms with host floats
        # (a list copied to the device on each call would sync on CUDA)
        self._cdf: list[float] = torch.cumsum(
            torch.tensor(w, dtype=torch.float32) / sum(w), dim=0
        ).tolist()

    def draw(
        self, sample: Sample, level: Levels, generator: Randomness, keys: Keys = None
    ) -> Record:
        lv, gate = self._gate(sample, level, generator)
        u = rng.rand(lv.shape, generator=generator, device=lv.device)
        # inverse-CDF sampling: one uniform per example, no Python loop over the batch
        choice = torch.zeros(lv.shape, dtype=torch.int64, device=lv.device)
        for c in self._cdf[:-1]:
            choice += u >= c
        applied = gate & (lv > 0)
        record = new_record(type(self).__name__, applied, params={"choice": choice})
        rows = self._rows(record)
        record["children"] = self._draw_rows(sample, lv, rows, generator, keys or self.keys)
        return record

    def _rows(self, record: Record) -> Tensor:
        choice = record["params"]["choice"]
        n = torch.arange(len(self.transforms), device=choice.device)
        return (choice[:, None] == n) & record["applied"][:, None].to(choice.device)


class SomeOf(_Container):
    """Apply a random subset of ``n = (min, max)`` transforms to each example, in list order.

    Each transform runs only on the examples that got it, as in :class:`OneOf`; the record holds
    ``params["chosen"]`` (B, N) instead of ``params["choice"]``.

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

    def draw(
        self, sample: Sample, level: Levels, generator: Randomness, keys: Keys = None
    ) -> Record:
        lv, gate = self._gate(sample, level, generator)
        b, m = lv.shape[0], len(self.transforms)
        count = rng.randint(self.n[0], self.n[1] + 1, (b,), generator=generator, device=lv.device)
        scores = rng.rand((b, m), generator=generator, device=lv.device)
        chosen = torch.argsort(torch.argsort(scores, dim=1), dim=1) < count[:, None]
        record = new_record(type(self).__name__, gate & (lv > 0), params={"chosen": chosen})
        rows = self._rows(record)
        record["children"] = self._draw_rows(sample, lv, rows, generator, keys or self.keys)
        return record

    def _rows(self, record: Record) -> Tensor:
        chosen = record["params"]["chosen"]
        return chosen & record["applied"][:, None].to(chosen.device)


class MultimodalPipeline(_Container):
    """Per-modality transform lists plus missing-modality dropping, in one call.

    Each modality's list runs as a :class:`Compose` bound to that modality. With
    ``shared=True`` every modality's list draws from the same random stream, so the i-th transform
    of each list gets the same draws: a ``TimeMask`` then masks the same fraction of time in audio,
    video and text (time-aligned spans, since spans are drawn as fractions of the length). With
    ``shared=False`` each modality gets an independent stream. ``missing`` (a
    :class:`DropModalities`) runs last, on the noisy sample.

    Args:
        transforms: {modality: [transforms]} (a single transform stands for a list of one).
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
        >>> pipe = MultimodalPipeline({"a": [TimeMask(fraction=(0.0, 0.5))],
        ...                            "v": [TimeMask(fraction=(0.0, 0.5))]}, shared=True)
        >>> s = {"a": torch.ones(1, 8, 1), "v": torch.ones(1, 4, 1)}
        >>> out = pipe(s, level=1.0, generator=torch.Generator().manual_seed(1))
        >>> out["a"].sum().item(), out["v"].sum().item()
        (4.0, 2.0)
    """

    def __init__(
        self,
        transforms: Mapping[str, Sequence[NoiseTransform] | NoiseTransform],
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
        # a single transform stands for a list of one: {"audio": AddGaussianSNR()}
        lists = {n: [ts] if isinstance(ts, NoiseTransform) else ts for n, ts in transforms.items()}
        self.transforms = nn.ModuleDict(
            {name: Compose(list(ts), keys=(name,)) for name, ts in lists.items() if ts}
        )
        if missing is not None and not isinstance(missing, DropModalities):
            raise TypeError(
                f"{who}: expected missing as a DropModalities, got {type(missing).__name__}."
            )
        self.missing = missing
        self.shared = bool(shared)
        check_probability(p, who=who)

    def touched_keys(self, sample: Sample, keys: Keys = None) -> list[str]:
        """Return the pipeline's modalities, then those only ``missing`` names (each once)."""
        names = [n for n, _ in self._compose_items()]
        extra = self.missing._names if self.missing is not None else []
        touched = list(dict.fromkeys(names + extra))
        unknown = [n for n in touched if n not in sample]
        if unknown:
            raise KeyError(
                f"{type(self).__name__}: modalities {unknown} are not in the sample (its "
                f"modalities: {modality_names(sample)}); check the spelling of the pipeline's "
                "modality names."
            )
        return touched

    def _compose_items(self) -> list[tuple[str, Compose]]:
        return [(n, c) for n, c in self.transforms._modules.items() if isinstance(c, Compose)]

    def _named(self) -> list[tuple[str, NoiseTransform]]:
        items: list[tuple[str, NoiseTransform]] = list(self._compose_items())
        return items + ([("missing", self.missing)] if self.missing is not None else [])

    def to_config(self) -> dict[str, Any]:
        config = super().to_config()
        config["transforms"] = {
            name: [t.to_config() for _, t in c._named()] for name, c in self._compose_items()
        }
        return config

    def draw(
        self, sample: Sample, level: Levels, generator: Randomness, keys: Keys = None
    ) -> Record:
        who = type(self).__name__
        levels = level if isinstance(level, Mapping) else None
        names = [n for n, _ in self._compose_items()]
        extra = sorted(set(levels) - set(names) - {"missing", "noise"}) if levels else []
        if extra:
            raise KeyError(
                f"{who}: level names {extra} match no modality of the pipeline "
                f"({names}, 'noise' for all of them, and 'missing')."
            )
        b, device = _batch(sample, who=who)
        gate = self.draw_gate(b, device, generator)
        base = rng.draw_seed(generator, device)
        children: dict[str, Record | None] = {}
        for i, (name, child) in enumerate(self._named()):
            if not isinstance(level, Mapping):
                lv = level
            elif name == "missing":
                lv = level.get("missing", 0.0)
            else:
                lv = level.get(name, level.get("noise", 0.0))
            gated = check_level(lv, b, device, who=f"{who}[{name!r}]") * gate
            # one stream per modality (shared: the same one), the missing step its own
            part = -1 if name == "missing" else 0 if self.shared else i + 1
            g = rng.generator_from_seed(base, device, part)
            children[name] = child.draw(sample, hints.child_level(lv, self.p, gated), g)
        return new_record(who, gate, params={"seed": base}, children=children)
