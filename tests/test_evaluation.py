"""The one evaluation loop (mmnoise.evaluation): both harnesses run it, and it keeps its order."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import mmnoise.evaluation as E
import mmnoise.merc.runner as runner
import mmnoise.robustness as robustness
from mmnoise.evaluation import PredictionReader, evaluate_cells
from mmnoise.merc.suite import load_suite
from mmnoise.transforms.features import Gain


def _logits(batch: dict[str, Any]) -> torch.Tensor:
    s = batch["a"].sum(dim=(1, 2))
    return torch.stack([-s, s], dim=1)


def test_reader_fixes_the_class_count_at_the_first_output() -> None:
    reader = PredictionReader(lambda b: b["x"], who="demo")
    assert reader([({"x": torch.zeros(2, 3)}, 2)]).tolist() == [0, 0]
    assert reader.num_classes == 3
    with pytest.raises(ValueError, match="predict returned 4 logits per example but num_classes=3"):
        reader([({"x": torch.zeros(2, 4)}, 2)])


def test_loop_corrupts_each_group_once_skips_done_cells_and_times_both_parts() -> None:
    log: list[str] = []

    def group(name: str) -> Any:
        def corrupt() -> list[tuple[str, list[float]]]:
            log.append(f"corrupt {name}")
            return [(f"{name}/x", [1.0]), (f"{name}/y", [0.0, 1.0])]

        return corrupt

    def predict(batch: dict[str, Any]) -> torch.Tensor:
        log.append("predict")
        return batch["v"].long()

    timing: dict[str, float] = {}
    evaluate_cells(
        [group("g1"), group("g2")],
        reader=PredictionReader(predict, num_classes=2),
        batches=lambda xs: [({"v": torch.tensor([x])}, 1) for x in xs],
        score=lambda key, xs, preds, s: log.append(f"score {key} {preds.tolist()}"),
        done=lambda key: key == "g1/y",
        after_group=lambda: log.append("saved"),
        timing=timing,
    )
    assert log == [
        "corrupt g1", "predict", "score g1/x [1]", "saved",
        "corrupt g2", "predict", "score g2/x [1]", "predict", "predict", "score g2/y [0, 1]",
        "saved",
    ]  # fmt: skip
    assert set(timing) == {"corrupt_s", "predict_s"} and min(timing.values()) >= 0


def test_grid_and_merc_runner_both_score_through_the_one_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cells: dict[str, int] = {}

    def counting(module: str) -> Any:
        def loop(groups: Any, **kw: Any) -> None:
            score = kw["score"]

            def counted(*args: Any) -> None:
                cells[module] = cells.get(module, 0) + 1
                score(*args)

            E.evaluate_cells(groups, **{**kw, "score": counted})

        return loop

    monkeypatch.setattr(robustness, "evaluate_cells", counting("grid"))
    monkeypatch.setattr(runner, "evaluate_cells", counting("merc"))
    batch = {"a": torch.tensor([-1.0, 1.0]).reshape(2, 1, 1), "label": torch.tensor([0, 1])}
    grid = robustness.RobustnessGrid(modalities=("a",), families={"gain": Gain}, levels=(0.0, 1.0))
    assert grid.evaluate(_logits, [batch]).curve("WA", family="gain").tolist() == [1.0, 1.0]
    items = [{"a": torch.full((3, 1), 2.0 * y - 1), "label": torch.tensor(y), "id": str(y)}
             for y in (0, 1)]  # fmt: skip
    card = runner.run_benchmark(_logits, items, suite=load_suite(), kinds={"a": "features"},
                                families=["impulse"], progress=False)  # fmt: skip
    # grid: 1 pattern x 1 family x 2 levels; MER-C: clean + 5 severities, full condition only
    assert cells == {"grid": 2, "merc": len(card["cells"])} and len(card["cells"]) == 6
