"""Frozen per-item corruption: a pure function of (suite, item id, family, severity).

Two generations of randomness, named by the suite's ``rng``:

* ``"philox"`` (``mer-c-v2``): every draw comes from a counter-based :class:`mmnoise.rng.Key`
  (Philox4x32 in integer tensor ops, promised by this package, not by a torch release) seeded
  with :func:`item_seed` ``(suite, item id, family, modality)``, one key per item and
  modality; the corruption runs with one intra-op thread (:func:`frozen_threads`), so FFT and
  reduction kernels sum in one order and the bytes do not depend on the caller's thread count.
  An item's modality is corrupted the same whether the family hits it alone or with the others.
* ``"torch"`` (``mer-c-v1``, kept byte for byte): described below.

Every random draw of a corrupted test item comes from a generator seeded with
:func:`item_seed` ``(suite, item id, family)``, and each item is corrupted on its own (a
batch of one), so the corrupted test set does not depend on batch size, order, the number of
workers or which other cells are evaluated. It does depend on the set and order of the
modalities passed as ``kinds`` (an item's generator is carried from one modality to the next
in that order), and it is defined on the CPU (items on another device are refused). The seed
deliberately
leaves the severity out: the severities of a family share their random numbers (common random
numbers), so a stronger severity masks a superset of the steps of a weaker one and adds the same
noise field at a lower SNR, which makes the severity curves monotone and less noisy.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch

from mmnoise.deprecation import rename_config_args
from mmnoise.merc.suite import Family, Suite
from mmnoise.rng import Key, PerExample, derive_seed, make_generator, rand, randint
from mmnoise.sample import KINDS_KEY, PRESENT, Kind, Sample
from mmnoise.transforms import NoiseTransform, registered_transforms

__all__ = [
    "CONDITION_FULL",
    "apply_condition",
    "corrupt_item",
    "corrupt_items",
    "frozen_threads",
    "item_seed",
    "make_transform",
    "missing_pattern",
    "missing_patterns",
    "missing_rate_item",
    "nmer_fill_item",
    "nmer_fill_items",
    "nmer_noised_items",
]

CONDITION_FULL = "full"
# transforms are stateless given their config: one per (suite, family, severity, keys)
_CACHE: dict[tuple[str, str, int, tuple[str, ...]], NoiseTransform] = {}


@functools.lru_cache(maxsize=4096)
def _text_id(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


def item_seed(suite: Suite | str, item_id: str, family: str, modality: str | None = None) -> int:
    """Return the seed of one item's corruption by one family (all severities share it).

    With ``modality`` (``mer-c-v2``), the seed of that modality alone: each modality of an
    item has its own stream, so hitting one modality or all of them gives it the same noise.

    Example:
        >>> item_seed("mer-c-v1", "test_00001", "gaussian_snr") == item_seed(
        ...     "mer-c-v1", "test_00001", "gaussian_snr")
        True
        >>> item_seed("mer-c-v2", "u", "impulse", "audio") != item_seed("mer-c-v2", "u",
        ...                                                            "impulse", "text")
        True
    """
    name = suite.name if isinstance(suite, Suite) else str(suite)
    parts = [_text_id(f"MER-C/{name}"), _text_id(str(item_id)), _text_id(family)]
    if modality is not None:
        parts.append(_text_id(f"modality/{modality}"))
    return derive_seed(*parts)


@contextlib.contextmanager
def frozen_threads() -> Iterator[None]:
    """Run the block with one intra-op thread, then restore the caller's count.

    Parallel CPU kernels (FFTs in ``AddColoredSNR`` / ``Reverb``, large reductions) split their
    work by the thread count, and floating-point sums in another order round differently: with
    one thread a ``mer-c-v2`` corruption gives the same bytes whatever ``torch.get_num_threads()``
    the caller runs with.

    Example:
        >>> n = torch.get_num_threads()
        >>> with frozen_threads():
        ...     torch.get_num_threads()
        1
        >>> torch.get_num_threads() == n
        True
    """
    before = torch.get_num_threads()
    if before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if before != 1:
            torch.set_num_threads(before)


def make_transform(family: Family, severity: int, keys: Sequence[str]) -> NoiseTransform:
    """Build the transform of ``family`` fixed at severity ``severity`` (1..5) on ``keys``.

    The physical value is fixed by giving the range ``(v, v)`` and calling at level 1.

    Example:
        >>> from mmnoise.merc.suite import load_suite
        >>> make_transform(load_suite().family("gaussian_snr"), 1, ["audio"]).snr_db
        (5.5, 5.5)
    """
    if not 1 <= severity <= len(family.severities):
        raise ValueError(
            f"make_transform: expected severity in 1..{len(family.severities)} for "
            f"{family.name!r}, got {severity}."
        )
    cls: Any = registered_transforms().get(family.transform)
    if cls is None:
        raise KeyError(
            f"make_transform: family {family.name!r} names the unknown transform "
            f"{family.transform!r}; import the module that defines it."
        )
    v = family.severities[severity - 1]
    # the frozen suite files name arguments as they were then (ratio=): the new names, silently
    kwargs = rename_config_args(cls, {family.param: (v, v), **family.kwargs})
    built: NoiseTransform = cls(list(keys), **kwargs)
    return built


def _transform(suite: Suite, fam: Family, severity: int, keys: Sequence[str]) -> NoiseTransform:
    cache_key = (suite.sha256, fam.name, severity, tuple(keys))
    transform = _CACHE.get(cache_key)
    if transform is None:
        transform = _CACHE[cache_key] = make_transform(fam, severity, keys)
    return transform


def _batched(item: Mapping[str, Any], kinds: Mapping[str, Kind]) -> dict[str, Any]:
    out: dict[str, Any] = {m: item[m].unsqueeze(0) for m in kinds}
    out[KINDS_KEY] = dict(kinds)
    return out


def _unbatched(
    item: Mapping[str, Any], out: Mapping[str, Any], kinds: Mapping[str, Kind]
) -> Sample:
    res: dict[str, Any] = dict(item)
    for m in kinds:
        res[m] = out[m][0]
    if PRESENT in out:
        res[PRESENT] = {m: out[PRESENT][m][0] for m in out[PRESENT]}
    return res


def corrupt_items(
    items: Sequence[Mapping[str, Any]],
    suite: Suite,
    family: Family | str,
    severity: int,
    *,
    kinds: Mapping[str, Kind],
    id_key: str = "id",
    max_batch: int = 256,
    only: str | None = None,
) -> list[Sample]:
    """Return the frozen corrupted version of each unbatched item (severity 0: the items).

    The definition is per item: a generator seeded with :func:`item_seed` corrupts the item's
    modalities of the family's kind one after the other (in ``kinds`` order), each at its own
    length. The work is batched without changing that: items whose modality has the same shape
    are stacked and corrupted in one call with per-example generators
    (:class:`mmnoise.rng.PerExample`), each item's generator carried from one modality to the
    next, so row ``b`` is exactly what the item alone gives (to float32 rounding where a kernel
    blocks its arithmetic over the batch) and the per-call cost is paid per shape, not per item.
    Because the generator is carried across modalities, an item's corrupted values also depend
    on the set and order of the modalities in ``kinds``: pass the same ``kinds`` (the corpus's
    own order) to get the frozen values. Corruption runs on the CPU; items on another device
    are refused (move them to the CPU first).

    A ``"philox"`` suite (``mer-c-v2``) instead gives each item and modality its own
    :class:`mmnoise.rng.Key` (a per-example key over a stacked group: row ``b`` is the item
    alone), so the order of ``kinds`` does not matter and ``only=`` (one modality) corrupts
    that modality exactly as the all-modality cell does; it runs under :func:`frozen_threads`.

    Args:
        items: unbatched dataset items (``mmnoise.datasets`` format), each with an id.
        suite: the suite.
        family: a family (or its name) of the suite.
        severity: 1..5 (0 returns the clean items).
        kinds: {modality: kind}, in the corpus's order; the family corrupts the modalities of
            its kind.
        id_key: the key of the items' ids.
        max_batch: the most items stacked in one call (bounds memory; never changes values).
        only: corrupt this one modality (of the family's kind) and leave the others clean:
            the per-modality cells of a ``"philox"`` suite.

    Returns:
        New item dicts, in order (the inputs are not modified).

    Raises:
        ValueError: ``kinds`` has no modality of the family's kind (the items would stay
            clean), an item to corrupt is not on the CPU, or ``only`` names no modality of
            the family's kind or is used with a ``"torch"`` suite (whose streams run across
            modalities, so one modality alone has no frozen value).

    Example:
        >>> from mmnoise.merc.suite import load_suite
        >>> items = [{"a": torch.ones(n, 4), "id": f"x{n}"} for n in (6, 6, 3)]
        >>> out = corrupt_items(items, load_suite(), "time_mask", 5, kinds={"a": "features"})
        >>> [int((o["a"] == 0).all(dim=1).sum()) for o in out]  # a span of 92 % of the length
        [6, 6, 3]
    """
    who = "corrupt_items"
    fam = suite.family(family) if isinstance(family, str) else family
    out = [dict(it) for it in items]
    keys = [m for m, k in kinds.items() if k == fam.kind]
    if not keys:
        raise ValueError(
            f"{who}: family {fam.name!r} corrupts {fam.kind!r} modalities, but kinds={dict(kinds)} "
            f"has none, so the items would stay clean; choose a family of "
            f"{sorted(set(kinds.values()))} (suite.families_of(kind))."
        )
    if only is not None:
        if only not in keys or suite.rng != "philox":
            raise ValueError(
                f"{who}: only={only!r}: expected one of the {fam.kind} modalities {keys} and a "
                f"suite drawn per modality (rng 'philox', e.g. mer-c-v2), got suite {suite.name} "
                f"(rng {suite.rng!r})."
            )
        keys = [only]
    if severity == 0 or not items:
        return out
    _require_cpu(items, keys, who)
    if suite.rng == "philox":
        with frozen_threads():
            _corrupt_philox(items, out, suite, fam, severity, keys, kinds, id_key, max_batch)
        return out
    gens = [make_generator(item_seed(suite, str(it[id_key]), fam.name)) for it in items]
    for m in keys:
        transform = _transform(suite, fam, severity, [m])
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i, it in enumerate(items):
            groups.setdefault((tuple(it[m].shape), it[m].dtype, it[m].device), []).append(i)
        for same in groups.values():
            for lo in range(0, len(same), max_batch):
                idx = same[lo : lo + max_batch]
                batch = {m: torch.stack([items[i][m] for i in idx]), KINDS_KEY: {m: kinds[m]}}
                res = transform(batch, level=1.0, generator=PerExample(gens[i] for i in idx))
                for row, i in enumerate(idx):
                    out[i][m] = res[m][row]
                    if PRESENT in res:
                        out[i][PRESENT] = {
                            **out[i].get(PRESENT, {}),
                            **{n: v[row] for n, v in res[PRESENT].items()},
                        }
    return out


def _groups(items: Sequence[Mapping[str, Any]], m: str, max_batch: int) -> Iterator[list[int]]:
    # items whose modality has one shape (and dtype) are stacked, in chunks of max_batch
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, it in enumerate(items):
        groups.setdefault((tuple(it[m].shape), it[m].dtype, it[m].device), []).append(i)
    for same in groups.values():
        for lo in range(0, len(same), max_batch):
            yield same[lo : lo + max_batch]


def _corrupt_philox(
    items: Sequence[Mapping[str, Any]],
    out: list[dict[str, Any]],
    suite: Suite,
    fam: Family,
    severity: int,
    keys: Sequence[str],
    kinds: Mapping[str, Kind],
    id_key: str,
    max_batch: int,
) -> None:
    for m in keys:
        transform = _transform(suite, fam, severity, [m])
        for idx in _groups(items, m, max_batch):
            batch = {m: torch.stack([items[i][m] for i in idx]), KINDS_KEY: {m: kinds[m]}}
            key = Key.from_seeds(
                [item_seed(suite, str(items[i][id_key]), fam.name, m) for i in idx]
            )
            res = transform(batch, level=1.0, generator=key)
            for row, i in enumerate(idx):
                out[i][m] = res[m][row]
                if PRESENT in res:
                    out[i][PRESENT] = {
                        **out[i].get(PRESENT, {}),
                        **{n: v[row] for n, v in res[PRESENT].items()},
                    }


def _require_cpu(items: Sequence[Mapping[str, Any]], keys: Sequence[str], who: str) -> None:
    # the frozen values are those of torch's CPU generator streams and CPU kernels; another
    # device would draw other numbers, so it is refused rather than silently differing
    for it in items:
        for m in keys:
            dev = it[m].device
            if dev.type != "cpu":
                raise ValueError(
                    f"{who}: expected CPU tensors (MER-C corruptions are defined by the CPU "
                    f"generator streams), got {m!r} of item {it.get('id', '?')!r} on {dev}; move "
                    "the test items to the CPU (the model may run anywhere: move the batch in "
                    "predict)."
                )


def corrupt_item(
    item: Mapping[str, Any],
    suite: Suite,
    family: Family | str,
    severity: int,
    *,
    kinds: Mapping[str, Kind],
    id_key: str = "id",
) -> Sample:
    """Return the frozen corrupted version of one unbatched item (:func:`corrupt_items` of one).

    Args:
        item: an unbatched dataset item (``mmnoise.datasets`` format) with an id.
        suite: the suite.
        family: a family (or its name) of the suite.
        severity: 1..5 (0 returns the clean item).
        kinds: {modality: kind}; the family corrupts the modalities of its kind.
        id_key: the key of the item's id.

    Returns:
        A new item dict (the input is not modified).

    Example:
        >>> from mmnoise.merc.suite import load_suite
        >>> s = load_suite("mer-c-v1")
        >>> item = {"a": torch.ones(6, 4), "id": "x1"}
        >>> out = corrupt_item(item, s, "time_mask", 5, kinds={"a": "features"})
        >>> int((out["a"] == 0).all(dim=1).sum())  # a span of 92 % of 6 steps: 6
        6
    """
    return corrupt_items([item], suite, family, severity, kinds=kinds, id_key=id_key)[0]


def apply_condition(item: Mapping[str, Any], condition: Mapping[str, bool] | None) -> Sample:
    """Zero the modalities a presence condition marks missing and record ``present``.

    Example:
        >>> out = apply_condition({"a": torch.ones(2, 1), "v": torch.ones(2, 1)},
        ...                       {"a": True, "v": False})
        >>> out["v"].sum().item(), bool(out["present"]["v"])
        (0.0, False)
    """
    if condition is None:
        return dict(item)
    res: dict[str, Any] = dict(item)
    present = dict(item.get(PRESENT, {}))
    for m, on in condition.items():
        if not on:
            res[m] = torch.zeros_like(item[m])
        present[m] = torch.tensor(bool(on) and bool(present.get(m, True)))
    res[PRESENT] = present
    return res


def missing_pattern(
    suite: Suite, item_id: str, eta: float, modalities: Sequence[str]
) -> dict[str, bool]:
    """Which modalities of one item the missing-rate protocol keeps at ``eta`` (frozen per item).

    ``"floor"`` (``mer-c-v1``): ``floor(eta * M + u)`` of the M modalities are missing (capped
    at M - 1), ``u`` uniform and the order of the modalities random, drawn from torch's CPU
    generator; the expected rate is ``eta`` but nearly every item loses the same count (at
    eta 0.3 with M = 3: none / one / two missing in 10 / 90 / 0 %).

    ``"cpm-nets"`` (``mer-c-v2``): the per-item distribution of CPM-Nets' ``get_sn``
    (``hanmenghan/CPM_Nets`` ``util/get_sn.py``, copied as ``random_mask`` in
    ``zeroQiaoba/GCNet``): one uniformly chosen modality is kept, every other one is missing
    with probability ``p = M * eta / (M - 1)`` (capped at 1), so the missing count is
    Binomial(M - 1, p), the expected rate is ``eta`` (at eta 0.3, M = 3: about 30 / 50 / 20 %).
    Where CPM-Nets loops until the realised rate of the whole set is within 0.005 of ``eta``,
    the draws here are per item (so an item does not depend on the rest of the test set) and
    the card reports the realised rate. The kept modality and the M uniforms come from the
    item's :class:`mmnoise.rng.Key` and do not depend on ``eta``: the missing sets are nested
    in eta, and never empty. At ``eta >= (M - 1) / M`` every item keeps exactly one modality
    (the papers' "eta 0.7" with three modalities is 2/3: :meth:`Suite.effective_eta`).

    Example:
        >>> from mmnoise.merc.suite import load_suite
        >>> s = load_suite("mer-c-v2")
        >>> missing_pattern(s, "u1", 0.0, ["a", "v", "t"])
        {'a': True, 'v': True, 't': True}
        >>> sum(missing_pattern(s, "u1", 0.7, ["a", "v", "t"]).values())
        1
    """
    m = len(modalities)
    if suite.missing_generator == "cpm-nets":
        return missing_patterns(suite, [item_id], eta, modalities)[0]
    g = make_generator(item_seed(suite, str(item_id), "missing_rate"))
    uf = float(torch.rand((), generator=g, dtype=torch.float64))
    order = torch.randperm(m, generator=g).tolist()
    count = min(m - 1, math.floor(eta * m + uf))
    gone = {modalities[i] for i in order[:count]}
    return {n: n not in gone for n in modalities}


def missing_patterns(
    suite: Suite, item_ids: Sequence[str], eta: float, modalities: Sequence[str]
) -> list[dict[str, bool]]:
    """:func:`missing_pattern` of many items at once (the same patterns, item by item).

    For a ``"cpm-nets"`` suite the draws of all items are one per-example
    :class:`mmnoise.rng.Key` call (row ``b`` is exactly item ``b``'s own key), a few
    milliseconds for a whole test set instead of one small call per item.

    Example:
        >>> from mmnoise.merc.suite import load_suite
        >>> s = load_suite("mer-c-v2")
        >>> missing_patterns(s, ["u1", "u2"], 0.4, ["a", "v"]) == [
        ...     missing_pattern(s, "u1", 0.4, ["a", "v"]), missing_pattern(s, "u2", 0.4, ["a", "v"])]
        True
    """
    if suite.missing_generator != "cpm-nets":
        return [missing_pattern(suite, i, eta, modalities) for i in item_ids]
    m, n = len(modalities), len(item_ids)
    if n == 0:
        return []
    key = Key.from_seeds([item_seed(suite, str(i), "missing_rate") for i in item_ids])
    kept = randint(0, max(m, 1), (n,), generator=key).tolist()
    u = rand((n, m), generator=key, dtype=torch.float64).tolist()
    p = min(1.0, m * float(eta) / (m - 1)) if m > 1 else 0.0
    return [
        {name: j == kept[b] or u[b][j] >= p for j, name in enumerate(modalities)} for b in range(n)
    ]


def missing_rate_item(
    item: Mapping[str, Any],
    suite: Suite,
    eta: float,
    modalities: Sequence[str],
    *,
    id_key: str = "id",
) -> Sample:
    """The missing-rate protocol (CPM-Nets / GCNet eta) for one item, frozen per item.

    The missing modalities (:func:`missing_pattern`, by the suite's generator) are zeroed and
    marked absent in ``present``.

    Example:
        >>> from mmnoise.merc.suite import load_suite
        >>> out = missing_rate_item({"a": torch.ones(2, 1), "v": torch.ones(2, 1), "id": "i"},
        ...                         load_suite("mer-c-v1"), 0.5, ["a", "v"])
        >>> sum(not bool(out["present"][m]) for m in ("a", "v"))
        1
    """
    return apply_condition(item, missing_pattern(suite, str(item[id_key]), eta, modalities))


def nmer_fill_item(
    item: Mapping[str, Any],
    suite: Suite,
    severity: int,
    condition: Mapping[str, bool],
    *,
    kinds: Mapping[str, Kind],
    id_key: str = "id",
) -> Sample:
    """NMER's protocol for one item: the condition's missing modalities become noised copies.

    The fill is the suite's ``nmer_fill`` transform (``DropModalities(fill="noise")``) at the
    level of severity ``severity`` (diffusion step ``t / 100``).

    Example:
        >>> from mmnoise.merc.suite import load_suite
        >>> item = {"a": torch.ones(3, 2), "v": torch.ones(3, 2), "id": "u"}
        >>> out = nmer_fill_item(item, load_suite(), 5, {"a": True, "v": False},
        ...                      kinds={"a": "features", "v": "features"})
        >>> bool(out["present"]["v"]), torch.equal(out["v"], item["v"])
        (False, False)
    """
    spec = suite.nmer_fill
    names = list(condition)
    cache_key = (suite.sha256, "nmer_fill", severity, tuple(f"{n}={condition[n]}" for n in names))
    drop = _CACHE.get(cache_key)
    if drop is None:
        fill_cls: Any = registered_transforms()[str(spec["transform"])]
        kwargs = rename_config_args(fill_cls, dict(spec.get("kwargs", {})))
        drop = fill_cls(names, patterns=[dict(condition)], **kwargs)
        _CACHE[cache_key] = drop
    level = float(spec["severities"][severity - 1])
    _require_cpu([item], names, "nmer_fill_item")
    batch = _batched(item, {n: kinds[n] for n in names})
    if suite.rng == "philox":
        with frozen_threads():
            key = Key(item_seed(suite, str(item[id_key]), "nmer_fill"))
            out = drop(batch, level=level, generator=key)
    else:
        g = make_generator(item_seed(suite, str(item[id_key]), "nmer_fill"))
        out = drop(batch, level=level, generator=g)
    return _unbatched(item, out, {n: kinds[n] for n in names})


def nmer_fill_items(
    items: Sequence[Mapping[str, Any]],
    suite: Suite,
    severity: int,
    conditions: Mapping[str, Mapping[str, bool]],
    *,
    kinds: Mapping[str, Kind],
    id_key: str = "id",
) -> dict[str, list[Sample]]:
    """:func:`nmer_fill_item` for every item under every condition, each item noised once.

    An item's noised copies do not depend on the condition: its generator draws the same numbers
    for any one pattern, and the fill draws a copy of every modality. So each item is noised
    once with every modality missing, and each condition takes the copies of the modalities it
    drops.

    Args:
        items: unbatched dataset items, each with an id.
        suite: the suite.
        severity: 1..5.
        conditions: {name: {modality: present?}}, every condition over the same modalities.
        kinds: {modality: kind}.
        id_key: the key of the items' ids.

    Returns:
        {condition name: the items under that condition}, equal to ``nmer_fill_item`` item by item.

    Example:
        >>> from mmnoise.merc.suite import load_suite
        >>> items = [{"a": torch.ones(3, 2), "v": torch.ones(2, 2), "id": "u"}]
        >>> out = nmer_fill_items(items, load_suite(), 5, {"av": {"a": True, "v": True},
        ...                       "az": {"a": True, "v": False}}, kinds={"a": "features",
        ...                       "v": "features"})
        >>> torch.equal(out["av"][0]["v"], items[0]["v"]), bool(out["az"][0]["present"]["v"])
        (True, False)
    """
    if not conditions:
        return {}
    names = list(next(iter(conditions.values())))
    copies = nmer_noised_items(items, suite, severity, names, kinds=kinds, id_key=id_key)
    out: dict[str, list[Sample]] = {c: [] for c in conditions}
    for item, noised in zip(items, copies, strict=True):
        for c, cond in conditions.items():
            res: dict[str, Any] = dict(item)
            for n in names:
                if not cond[n]:
                    res[n] = noised[n]
            res[PRESENT] = {n: torch.tensor(bool(cond[n])) for n in names}
            out[c].append(res)
    return out


def nmer_noised_items(
    items: Sequence[Mapping[str, Any]],
    suite: Suite,
    severity: int,
    modalities: Sequence[str],
    *,
    kinds: Mapping[str, Kind],
    id_key: str = "id",
) -> list[Sample]:
    """Each item with every one of ``modalities`` replaced by its NMER-fill noised copy.

    These copies are all the NMER protocol draws: under any condition, a missing modality is
    exactly its copy here and a present one the clean tensor (:func:`nmer_fill_items`), so
    ``merc-export`` writes them once per severity and the conditions need no files. The copies
    depend on the order of ``modalities`` (pass the corpus's order, as the runner does).

    Example:
        >>> from mmnoise.merc.suite import load_suite
        >>> items = [{"a": torch.ones(3, 2), "v": torch.ones(2, 2), "id": "u"}]
        >>> out = nmer_noised_items(items, load_suite(), 5, ["a", "v"],
        ...                         kinds={"a": "features", "v": "features"})
        >>> torch.equal(out[0]["a"], items[0]["a"]), bool(out[0]["present"]["a"])
        (False, False)
    """
    everything = dict.fromkeys(modalities, False)
    return [
        nmer_fill_item(item, suite, severity, everything, kinds=kinds, id_key=id_key)
        for item in items
    ]
