"""Run a MER-C suite on any ``predict`` callable and write its report card (resumable).

:func:`run_benchmark` corrupts every test item as on its own (:mod:`mmnoise.merc.corrupt`; items of
one shape share a call with per-example generators), so the corrupted test set is the same for
every model and every batch size; it then collates the items into batches, calls
``predict(batch) -> logits`` and keeps one confusion matrix per cell
``family/severity/condition`` (every severity under the full condition, the suite's
``mmin_severities`` also under MMIN's six conditions). The card (``card.json``) is written
atomically (a temporary file, then ``os.replace``) after every group of cells, and cells already
in it are skipped, so an interrupted run resumes. It records the time spent corrupting and in
``predict`` separately.

Every cell also keeps the per-item predictions (for bootstrap confidence intervals,
:func:`mmnoise.merc.scoring.bootstrap`) and a SHA-256 digest of the corrupted inputs
(:func:`cell_digest`), and the card records the labels and the software versions, so two labs
can check that they scored the same bytes. A suite with ``per_modality`` (``mer-c-v2``) adds
the cells ``family@modality/severity/full``: the family on that modality alone.

The loop over cells (corrupt a group once, predict each cell, read the outputs, score) is
:func:`mmnoise.evaluation.evaluate_cells`, the one the robustness grid runs too.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from mmnoise.data import pad_collate
from mmnoise.evaluation import PredictionReader, evaluate_cells
from mmnoise.extras import optional_import
from mmnoise.merc.corrupt import (
    CONDITION_FULL,
    apply_condition,
    corrupt_items,
    missing_patterns,
    nmer_fill_items,
)
from mmnoise.merc.suite import Family, Suite
from mmnoise.metrics import confusion_matrix
from mmnoise.presence import condition_name, presence_patterns
from mmnoise.sample import PRESENT, Kind, Sample

__all__ = [
    "CARD_FORMAT",
    "TASKS",
    "cell_digest",
    "conditions_of",
    "data_hash",
    "plan_cells",
    "run_benchmark",
    "software",
]

CARD_FORMAT = "mmnoise.merc.card/2"
#: what the labels are: emotion classes (WA / UA / F1) or MOSI / MOSEI sentiment scores
#: (MAE, Corr, Acc-2, F1, Acc-7; :func:`mmnoise.metrics.sentiment_metrics`)
TASKS = ("classification", "regression")
Predict = Callable[[Sample], Tensor]
#: separates a family from the one modality it hits in a cell name (``impulse@audio``)
ONLY = "@"


def software() -> dict[str, str]:
    """The versions a card was computed with (mmnoise, torch, Python).

    Example:
        >>> sorted(software())
        ['mmnoise', 'python', 'torch']
    """
    import mmnoise

    return {
        "mmnoise": str(mmnoise.__version__),
        "torch": str(torch.__version__),
        "python": platform.python_version(),
    }


def cell_digest(
    noisy: Sequence[Mapping[str, Any]],
    clean: Sequence[Mapping[str, Any]],
    modalities: Sequence[str],
) -> str:
    """SHA-256 of the inputs ``predict`` saw in one cell, compared with the clean items.

    Per item and modality: the tensor's dtype, shape and bytes, or a mark where it is the clean
    tensor itself (already covered by the card's data hash); then the presence flags. Two
    labs with the same data and digest scored the same corrupted bytes.

    Example:
        >>> item = {"a": torch.ones(2, 1), "id": "u"}
        >>> cell_digest([item], [item], ["a"]) == cell_digest([dict(item)], [item], ["a"])
        True
        >>> noisy = {"a": torch.zeros(2, 1), "id": "u"}
        >>> cell_digest([noisy], [item], ["a"]) == cell_digest([item], [item], ["a"])
        False
    """
    h = hashlib.sha256()
    for it, ref in zip(noisy, clean, strict=True):
        for m in modalities:
            x = it[m]
            if x is ref[m]:
                h.update(b"clean;")
                continue
            h.update(f"{x.dtype};{tuple(x.shape)};".encode())
            h.update(x.detach().cpu().contiguous().numpy().tobytes())
        present = it.get(PRESENT, {})
        h.update(str(sorted((n, bool(v)) for n, v in present.items())).encode())
    return h.hexdigest()


def conditions_of(modalities: Sequence[str]) -> dict[str, dict[str, bool] | None]:
    """Return ``{"full": None, "azz": {...}, ...}``: full plus MMIN's conditions.

    Example:
        >>> list(conditions_of(("audio", "visual", "text")))
        ['full', 'azz', 'zvz', 'zzt', 'avz', 'azt', 'zvt']
    """
    out: dict[str, dict[str, bool] | None] = {CONDITION_FULL: None}
    for p in presence_patterns(tuple(modalities)):
        out[condition_name(p)] = p
    return out


def data_hash(items: Sequence[Mapping[str, Any]], modalities: Sequence[str]) -> str:
    """SHA-256 over the ids, labels and clean tensors of the test items (the card's data id).

    Example:
        >>> item = {"a": torch.ones(2, 1), "label": torch.tensor(0), "id": "u"}
        >>> len(data_hash([item], ["a"]))
        64
    """
    h = hashlib.sha256()
    for it in items:
        h.update(str(it["id"]).encode())
        label = torch.as_tensor(it["label"])
        # class ids as before (v1 cards keep their hash); a float label by its exact value
        h.update(str(float(label) if label.is_floating_point() else int(label)).encode())
        for m in modalities:
            h.update(it[m].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    tqdm = optional_import("tqdm.auto", without="no progress bar")  # tqdm is optional
    return None if tqdm is None else tqdm.tqdm(total=total, desc="MER-C cells", unit="cell")


def _batches(
    items: Sequence[Sample], size: int, kinds: Mapping[str, Kind]
) -> Iterator[tuple[Sample, int]]:
    for i in range(0, len(items), size):
        batch = pad_collate(items[i : i + size], kinds=kinds)
        yield batch, len(batch[next(iter(kinds))])


#: a cell: (family or protocol, severity or eta index, condition)
_Cell = tuple[str, int, str]


def _key(cell: _Cell) -> str:
    return "/".join(map(str, cell))


def plan_cells(
    suite: Suite, kinds: Mapping[str, Kind], conditions: Sequence[str]
) -> list[tuple[str, int, list[str]]]:
    """The cells of a run: ``(family or protocol, severity or eta index, conditions)``.

    Every family of the data's kinds at severities 1..5 under the full condition (and MMIN's
    conditions at the suite's ``mmin_severities``); with a ``per_modality`` suite, also
    ``family@modality`` for each modality of a kind the data have more than one of; the
    missing-rate rows and NMER's fill.

    Example:
        >>> from mmnoise.merc.suite import load_suite
        >>> cells = plan_cells(load_suite("mer-c-v2"), {"a": "features", "v": "features"},
        ...                    ["full", "az", "zv"])
        >>> [c for c in cells if c[0].startswith("impulse")][-1]
        ('impulse@v', 5, ['full'])
    """
    plan: list[tuple[str, int, list[str]]] = [("clean", 0, list(conditions))]
    present = set(kinds.values())
    mmin = [c for c in conditions if c != CONDITION_FULL]
    for fam in suite.families:
        if fam.kind in present:
            plan += [
                (fam.name, s, [CONDITION_FULL] + (mmin if s in suite.mmin_severities else []))
                for s in range(1, 6)
            ]
            same = [m for m, k in kinds.items() if k == fam.kind]
            if suite.per_modality and len(same) > 1:
                plan += [
                    (f"{fam.name}{ONLY}{m}", s, [CONDITION_FULL]) for m in same for s in range(1, 6)
                ]
    plan += [("missing_rate", i, ["eta"]) for i in range(len(suite.missing_rate))]
    plan += [("nmer_fill", s, mmin) for s in range(1, 6)]
    return plan


def _family_of(suite: Suite, name: str) -> tuple[Family, str | None]:
    fam, _, only = name.partition(ONLY)
    return suite.family(fam), (only or None)


def run_benchmark(
    predict: Predict,
    items: Sequence[Sample],
    *,
    suite: Suite,
    kinds: Mapping[str, Kind],
    out: str | Path | None = None,
    batch_size: int = 100,
    num_classes: int | None = None,
    model: str = "model",
    data: str = "data",
    families: Iterable[str] | None = None,
    progress: bool = True,
    label_key: str = "label",
    task: str = "classification",
) -> dict[str, Any]:
    """Score ``predict`` on every cell of ``suite`` for the test ``items``; return the card.

    Args:
        predict: ``predict(batch) -> (B, C) logits`` (or (B,) class indices with
            ``num_classes``; (B,) or (B, 1) scores with ``task="regression"``); the model in
            eval mode. A ``torch.nn.Module`` taking the batch dict works as it is (it is
            put in eval mode for the run and handed back in its mode).
        items: the unbatched test items (each with an ``id`` and a label).
        suite: the suite (:func:`mmnoise.merc.load_suite`).
        kinds: {modality: kind} of the items' modalities, in condition order.
        out: folder for ``card.json`` (resumed when it exists); None keeps it in memory.
        batch_size: items per ``predict`` call (does not change the corrupted data).
        num_classes: the number of classes (default: from the logits).
        model: the model's name in the card.
        data: the data's name in the card.
        families: only these families, by name, with ``"missing_rate"`` and ``"nmer_fill"``
            for the two missing protocols (default: everything for the items' kinds); an
            unknown name, or a family of a kind the items lack, raises. A family brings its
            per-modality cells along.
        progress: a tqdm bar over cells when tqdm is installed.
        label_key: the items' label key.
        task: ``"classification"`` (class labels; WA / UA / F1) or ``"regression"`` (MOSI /
            MOSEI sentiment scores; MAE, Corr, Acc-2, F1, Acc-7).

    Returns:
        The report card dict (also written to ``out/card.json``).

    Raises:
        ValueError: a card in ``out`` from another suite, data, model or task; bad predict
            output; an unknown or inapplicable family in ``families``; an unknown task.

    Example:
        >>> from mmnoise.merc.suite import load_suite
        >>> items = [{"a": torch.full((3, 2), 2.0 * y - 1), "label": torch.tensor(y),
        ...           "id": str(i)} for i, y in enumerate((0, 1, 0, 1))]
        >>> predict = lambda b: torch.stack([-b["a"].sum((1, 2)), b["a"].sum((1, 2))], 1)
        >>> card = run_benchmark(predict, items, suite=load_suite(), kinds={"a": "features"},
        ...                      families=["impulse"], progress=False)
        >>> card["cells"]["clean/0/full"]["confusion"], card["cells"]["clean/0/full"]["pred"]
        ([[2, 0], [0, 2]], [0, 1, 0, 1])
    """
    who = "run_benchmark"
    if task not in TASKS:
        raise ValueError(f"{who}: expected task in {TASKS}, got {task!r}.")
    if isinstance(predict, nn.Module) and predict.training:
        # a module is scored in eval mode (dropout off, batch-norm statistics frozen) and
        # handed back in the mode it came in
        predict.eval()
        try:
            return run_benchmark(
                predict,
                items,
                suite=suite,
                kinds=kinds,
                out=out,
                batch_size=batch_size,
                num_classes=num_classes,
                model=model,
                data=data,
                families=families,
                progress=progress,
                label_key=label_key,
                task=task,
            )
        finally:
            predict.train()
    modalities = list(kinds)
    conditions = conditions_of(modalities)
    dhash = data_hash(items, modalities)
    labels_all = torch.stack([torch.as_tensor(it[label_key]) for it in items])
    labels_all = labels_all.double() if task == "regression" else labels_all.long()
    card: dict[str, Any] = {
        "format": CARD_FORMAT,
        "suite": suite.name,
        "suite_version": suite.version,
        "suite_sha256": suite.sha256,
        "model": model,
        "task": task,
        "data": {"name": data, "num_items": len(items), "sha256": dhash},
        "modalities": dict(kinds),
        "num_classes": num_classes,
        "labels": labels_all.tolist(),
        "software": [software()],
        "cells": {},
        "timing": {"corrupt_s": 0.0, "predict_s": 0.0},
    }
    path = Path(out) / "card.json" if out is not None else None
    if path is not None and path.is_file():
        old = json.loads(path.read_text())
        for key in ("suite_sha256", "model"):
            if old.get(key) != card[key]:
                raise ValueError(
                    f"{who}: {path} holds a card for {key}={old.get(key)!r}, this run has "
                    f"{card[key]!r}; use another --out folder or delete the card."
                )
        if old["data"]["sha256"] != dhash or old.get("task", "classification") != task:
            raise ValueError(
                f"{who}: {path} was computed on other data or another task (sha256 "
                f"{old['data']['sha256'][:12]}, task {old.get('task', 'classification')!r}); "
                "use another --out folder."
            )
        card["cells"] = old["cells"]
        card["timing"] = old["timing"]
        card["num_classes"] = old.get("num_classes", num_classes)
        runs = [r for r in old.get("software", []) if r != card["software"][0]]
        card["software"] = runs + card["software"]
    wanted = set(suite.select(families, kinds, who=who))
    plan = [
        p
        for p in plan_cells(suite, kinds, list(conditions))
        if p[0].partition(ONLY)[0] in wanted or p[0] == "clean"
    ]
    todo = [p for p in plan if any(f"{p[0]}/{p[1]}/{c}" not in card["cells"] for c in p[2])]
    bar = _progress(sum(len(p[2]) for p in plan), progress)
    if bar is not None:
        bar.update(sum(len(p[2]) for p in plan) - sum(len(p[2]) for p in todo))
    reader = PredictionReader(predict, num_classes=card["num_classes"], task=task, who=who)

    def corrupt(family: str, sev: int, conds: list[str]) -> list[tuple[_Cell, list[Sample]]]:
        if family == "missing_rate":
            eta = suite.missing_rate[sev]
            pats = missing_patterns(suite, [str(it["id"]) for it in items], eta, modalities)
            base = [apply_condition(it, pat) for it, pat in zip(items, pats, strict=True)]
            variants = {"eta": base}
        elif family == "nmer_fill":
            variants = nmer_fill_items(
                items, suite, sev, {c: conditions[c] or {} for c in conds}, kinds=kinds
            )
        else:
            if family == "clean":
                base = list(items)
            else:
                fam, only = _family_of(suite, family)
                base = corrupt_items(items, suite, fam, sev, kinds=kinds, only=only)
            variants = {c: [apply_condition(it, conditions[c]) for it in base] for c in conds}
        return [((family, sev, cond), noisy) for cond, noisy in variants.items()]

    def score(cell_id: _Cell, noisy: list[Sample], preds: Tensor, dt: float) -> None:
        family, sev, _ = cell_id
        cell: dict[str, Any] = {
            "predict_s": round(dt, 4),
            "digest": cell_digest(noisy, items, modalities),
        }
        if task == "classification":
            card["num_classes"] = reader.num_classes
            c = int(card["num_classes"])
            cell["confusion"] = confusion_matrix(preds, labels_all, num_classes=c).tolist()
            cell["pred"] = preds.tolist()
        else:
            cell["pred"] = [round(v, 6) for v in preds.tolist()]
        if family == "missing_rate":
            cell["eta"] = suite.missing_rate[sev]
            cell["eta_effective"] = suite.effective_eta(cell["eta"], len(modalities))
            cell["realised_missing_rate"] = _realised(noisy, modalities)
        card["cells"][_key(cell_id)] = cell
        if bar is not None:
            bar.update(1)

    def save() -> None:
        if path is not None:
            _write_atomic(path, json.dumps(card) + "\n")

    t_run = time.perf_counter()
    evaluate_cells(
        [functools.partial(corrupt, *p) for p in todo],
        reader=reader,
        batches=lambda noisy: _batches(noisy, batch_size, kinds),
        score=score,
        done=lambda cell_id: _key(cell_id) in card["cells"],
        after_group=save,
        timing=card["timing"],
    )
    if bar is not None:
        bar.close()
    card["timing"]["last_run_s"] = time.perf_counter() - t_run
    total = card["timing"]["corrupt_s"] + card["timing"]["predict_s"]
    card["timing"]["corrupt_share"] = card["timing"]["corrupt_s"] / total if total > 0 else 0.0
    if path is not None:
        _write_atomic(path, json.dumps(card) + "\n")
    return card


def _write_atomic(path: Path, text: str) -> None:
    # a run killed mid-write must leave the previous card whole, or resuming would fail on it
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _realised(items: Sequence[Sample], modalities: Sequence[str]) -> float:
    gone = sum(not bool(it["present"][m]) for it in items for m in modalities)
    return gone / (len(items) * len(modalities))
