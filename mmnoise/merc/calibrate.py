"""Severity calibration: pick 5 physical values where a reference model loses even steps.

ImageNet-C set its severities by hand; MER-C v1 calibrates them (``docs/mer-c.md``): for
each family, sweep a fine grid of the physical parameter on the *validation* split, measure the
reference model's degradation ``D(p) = (acc_clean - acc(p)) / (acc_clean - chance)``, make it
monotone along the grid (running maximum), and read off the values where ``D`` first reaches
each target (0.1, 0.25, 0.4, 0.55, 0.7 by default), interpolating linearly between grid
points. A family that cannot cost the reference 70 % of its gap even at the end of its physical
range (a fully frozen stream still carries its first frame) gets the same fractions of its
largest degradation instead (quantiles of the achievable range, reported as ``scaled``), so its
five severities stay distinct and evenly spaced. The script
``benchmarks/merc_calibrate.py`` runs this for the built-in baseline; its output was frozen
into ``mer-c-v1.json``, and ``mer-c-v2.json`` keeps those values as frozen constants with each
family's provenance (rerunning the recipe at a later commit retrains the reference and gives
other values: the severities are not regenerated, see ``docs/mer-c.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from mmnoise.data import pad_collate
from mmnoise.merc.corrupt import item_seed, make_transform
from mmnoise.merc.suite import Family
from mmnoise.metrics import weighted_accuracy
from mmnoise.rng import make_generator
from mmnoise.sample import Kind, Sample

__all__ = ["accuracy", "calibrate_family", "pick_severities"]

TARGETS = (0.1, 0.25, 0.4, 0.55, 0.7)


def accuracy(
    predict: Callable[[Sample], Tensor],
    items: Sequence[Sample],
    kinds: Mapping[str, Kind],
    *,
    batch_size: int = 100,
) -> float:
    """Return the accuracy of ``predict`` on unbatched ``items`` (labels under ``"label"``).

    Example:
        >>> items = [{"a": torch.ones(2, 1) * y, "label": torch.tensor(y)} for y in (0, 1)]
        >>> accuracy(lambda b: torch.cat([-b["a"].sum(1), b["a"].sum(1)], 1), items,
        ...          {"a": "features"})
        1.0
    """
    preds, labels = [], []
    with torch.no_grad():
        for i in range(0, len(items), batch_size):
            batch = pad_collate(items[i : i + batch_size], kinds=kinds)
            preds.append(predict(batch).argmax(dim=1).cpu())
            labels.append(torch.as_tensor(batch["label"]).long())
    return weighted_accuracy(torch.cat(preds), torch.cat(labels))


def pick_severities(
    grid: Sequence[float], degradation: Sequence[float], targets: Sequence[float] = TARGETS
) -> tuple[list[float], bool]:
    """Return the grid values where the monotone degradation first reaches each target.

    Args:
        grid: parameter values, weakest first.
        degradation: ``D`` at each value.
        targets: the wanted degradations, increasing.

    Returns:
        (values, scaled): one value per target, and whether the targets were scaled to the
        largest degradation the sweep reached.

    Example:
        >>> pick_severities([0.0, 1.0, 2.0], [0.0, 0.2, 0.6], [0.1, 0.4])
        ([0.5, 1.5], False)
        >>> pick_severities([0.0, 1.0, 2.0], [0.0, 0.25, 0.5], [0.5, 1.0])
        ([1.0, 2.0], True)
    """
    mono = list(degradation)
    for i in range(1, len(mono)):
        mono[i] = max(mono[i], mono[i - 1])
    values: list[float] = []
    scaled = mono[-1] < targets[-1]
    if scaled:
        targets = [t * mono[-1] / targets[-1] for t in targets]
    for t in targets:
        for i in range(1, len(grid)):
            if mono[i] >= t:
                lo, hi = mono[i - 1], mono[i]
                frac = 0.0 if hi == lo else (t - lo) / (hi - lo)
                values.append(grid[i - 1] + frac * (grid[i] - grid[i - 1]))
                break
        else:  # only reachable by rounding: the end of the range
            values.append(grid[-1])
    return values, scaled


def calibrate_family(
    predict: Callable[[Sample], Tensor],
    items: Sequence[Sample],
    family: Family,
    grid: Sequence[float],
    *,
    kinds: Mapping[str, Kind],
    chance: float,
    suite_name: str = "calibration",
    targets: Sequence[float] = TARGETS,
) -> dict[str, Any]:
    """Sweep ``grid`` for one family and return the sweep and the picked severities.

    Returns:
        ``{"family", "grid", "accuracy", "degradation", "clean", "severities", "scaled"}``.

    Example:
        >>> from mmnoise.merc.suite import load_suite
        >>> items = [{"a": torch.ones(4, 2) * (2 * y - 1), "label": torch.tensor(y),
        ...           "id": str(i)} for i, y in enumerate((0, 1, 0, 1))]
        >>> predict = lambda b: torch.stack([-b["a"].sum((1, 2)), b["a"].sum((1, 2))], 1)
        >>> r = calibrate_family(predict, items, load_suite().family("time_mask"), [0.5, 1.0],
        ...                      kinds={"a": "features"}, chance=0.5)
        >>> r["clean"], r["accuracy"]
        (1.0, [1.0, 0.5])
    """
    keys = [m for m, k in kinds.items() if k == family.kind]
    clean = accuracy(predict, items, kinds)
    accs = []
    for p in grid:
        fam = replace(family, severities=(float(p),) * 5)
        t = make_transform(fam, 1, keys)
        noisy = []
        for it in items:
            g = make_generator(item_seed(suite_name, str(it["id"]), family.name))
            out = t(
                {m: it[m].unsqueeze(0) for m in keys} | {"kinds": dict(kinds)},
                level=1.0,
                generator=g,
            )
            noisy.append(dict(it) | {m: out[m][0] for m in keys})
        accs.append(accuracy(predict, noisy, kinds))
    gap = max(clean - chance, 1e-9)
    deg = [(clean - a) / gap for a in accs]
    sev, scaled = pick_severities(list(grid), deg, targets)
    return {
        "family": family.name,
        "grid": list(grid),
        "accuracy": accs,
        "degradation": deg,
        "clean": clean,
        "severities": sev,
        "scaled": scaled,
    }
