"""The one evaluation loop of the robustness grid and MER-C: corrupt, predict, score each cell.

Both harnesses score a model on *cells*: one noise setting (a family at a level or severity)
applied to the test data, then one presence condition. Cells come in groups that share their
noise: a group is corrupted once and each of its conditions is one cell. :func:`evaluate_cells`
is the loop both run:

    for each group:   corrupt it (timed as ``corrupt_s``)
        for each cell of the group (skipped when ``done``):
            run ``predict`` on its batches under ``torch.no_grad()`` (timed as ``predict_s``),
            read each output with :func:`mmnoise.metrics.read_predictions`
            (:class:`PredictionReader`: the class count is fixed by the first output),
            hand the predictions to ``score``
        ``after_group()``

What stays with each harness is what differs between them on purpose: how a group's noise is
drawn (:class:`~mmnoise.robustness.RobustnessGrid`: one generator per batch, seeded from the
grid's seed, the family, the level and the batch index, so it streams the loader once;
MER-C: one seed per test item, :mod:`mmnoise.merc.corrupt`, so the corrupted set does not depend
on the batch size), and what a cell keeps (a confusion matrix summed over batches; a card
entry with per-item predictions and a digest of the inputs). The scores themselves come from
:mod:`mmnoise.metrics` and :func:`mmnoise.robustness.effective_robustness` in both.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any, TypeVar

import torch
from torch import Tensor

from mmnoise.metrics import read_predictions
from mmnoise.sample import Sample

__all__ = ["PredictionReader", "evaluate_cells"]

K = TypeVar("K")
T = TypeVar("T")


class PredictionReader:
    """Run ``predict`` on batches and read its outputs as predictions, for every cell of a run.

    The number of classes is fixed by the first classification output (or given): a later
    output of another width is an error, so every cell of a run is scored over the same classes.

    Args:
        predict: ``predict(batch) -> (B, C) logits`` or (B,) class indices (with
            ``num_classes``); (B,) or (B, 1) scores with ``task="regression"``.
        num_classes: the number of classes when known.
        task: ``"classification"`` or ``"regression"``.
        who: the caller, named in errors.

    Example:
        >>> reader = PredictionReader(lambda b: b["x"], who="demo")
        >>> reader([({"x": torch.tensor([[0.0, 1.0]])}, 1), ({"x": torch.tensor([[2.0, 1.0]])}, 1)])
        tensor([1, 0])
        >>> reader.num_classes
        2
    """

    def __init__(
        self,
        predict: Callable[[Sample], Any],
        *,
        num_classes: int | None = None,
        task: str = "classification",
        who: str = "evaluate_cells",
    ) -> None:
        self.predict = predict
        self.num_classes = num_classes
        self.task = task
        self.who = who

    def __call__(self, batches: Iterable[tuple[Sample, int]]) -> Tensor:
        """Return the predictions for ``(batch, batch size)`` pairs, in order, on the CPU.

        Shape:
            Output: (N,), N the sum of the batch sizes (int64 classes, float64 scores).
        """
        preds = []
        with torch.no_grad():
            for batch, n in batches:
                got, c = read_predictions(
                    self.predict(batch),
                    batch=n,
                    num_classes=self.num_classes,
                    task=self.task,
                    who=self.who,
                )
                if self.task == "classification":
                    self.num_classes = c
                preds.append(got)
        return torch.cat(preds)


def evaluate_cells(
    groups: Iterable[Callable[[], Iterable[tuple[K, T]]]],
    *,
    reader: PredictionReader,
    batches: Callable[[T], Iterable[tuple[Sample, int]]],
    score: Callable[[K, T, Tensor, float], None],
    done: Callable[[K], bool] | None = None,
    after_group: Callable[[], None] | None = None,
    timing: MutableMapping[str, float] | None = None,
) -> None:
    """Score every cell: corrupt each group once, predict each of its cells, hand over the scores.

    Args:
        groups: one ``corrupt()`` per group of cells that share their noise; it returns the
            group's cells as ``(key, inputs)`` pairs (a dict's items, or a generator when the
            cells are built one after another).
        reader: runs ``predict`` and reads its outputs (one per run: it fixes the classes).
        batches: a cell's inputs as the ``(batch, batch size)`` pairs ``predict`` gets.
        score: ``score(key, inputs, predictions, predict_seconds)``, called once per cell.
        done: cells to skip (already scored); their group is still corrupted.
        after_group: called after each group (a resumable run saves its results there).
        timing: ``corrupt_s`` and ``predict_s`` are added to it (created at 0 if missing).

    Example:
        >>> reader = PredictionReader(lambda b: b["x"].long(), num_classes=3, who="demo")
        >>> groups = [lambda: {"a": [1.0, 2.0], "b": [0.0]}.items()]
        >>> got = {}
        >>> evaluate_cells(groups, reader=reader,
        ...                batches=lambda xs: [({"x": torch.tensor(xs)}, len(xs))],
        ...                score=lambda key, xs, preds, s: got.update({key: preds.tolist()}))
        >>> got
        {'a': [1, 2], 'b': [0]}
    """
    clock = timing if timing is not None else {}
    clock.setdefault("corrupt_s", 0.0)
    clock.setdefault("predict_s", 0.0)
    for corrupt in groups:
        t0 = time.perf_counter()
        cells = corrupt()
        clock["corrupt_s"] += time.perf_counter() - t0
        for key, inputs in cells:
            if done is not None and done(key):
                continue
            t1 = time.perf_counter()
            preds = reader(batches(inputs))
            dt = time.perf_counter() - t1
            clock["predict_s"] += dt
            score(key, inputs, preds, dt)
        if after_group is not None:
            after_group()
