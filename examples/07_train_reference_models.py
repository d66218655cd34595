"""Train a reference model (MMIN, IF-MMIN, NMER or the baseline) with a noise curriculum.

Uses the Python API of ``reference_models.train``: stage 1 trains a full-modality teacher on
clean data, stage 2 trains the student, initialised from the teacher, on batches corrupted by
an mmnoise pipeline (feature noise plus MMIN's missing conditions) whose level follows a
schedule; the best epoch is selected on validation only. The trained model is then scored on
a frozen robustness grid (presence pattern x noise level) with :mod:`mmnoise.robustness`.

The paper architectures are kept, made narrower (``--embd``) on the synthetic corpus so that a
CPU trains one in about a minute. For the paper protocol on IEMOCAP features, see
``python -m reference_models train --help`` and the "Reference models" page of the docs.

Run: ``python examples/07_train_reference_models.py --model nmer`` (``--tiny`` for seconds).
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from torch.utils.data import DataLoader

from mmnoise.data import pad_collate
from mmnoise.datasets import SyntheticMER
from mmnoise.robustness import evaluate_robustness
from mmnoise.schedules import Linear
from mmnoise.transforms import AddGaussianSNR, DropModalities, MultimodalPipeline
from reference_models.teacher import TeacherConfig
from reference_models.train import (
    KINDS,
    model_config,
    paper_train_config,
    predict_fn,
    train_model,
)

NAMES = ("audio", "visual", "text")


def narrow(kind: str, dims: tuple[int, ...], num_classes: int, embd: int) -> Any:
    """The paper config of ``kind``, with the data's sizes and ``embd``-wide encoders."""
    config = model_config(kind)
    teacher = config if isinstance(config, TeacherConfig) else config.teacher
    backbone = dataclasses.replace(
        teacher.backbone, input_dims=dims, embd_size=embd, text_channels=embd
    )
    teacher = dataclasses.replace(teacher, backbone=backbone, n_classes=num_classes)
    if isinstance(config, TeacherConfig):
        return teacher
    return dataclasses.replace(config, teacher=teacher)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=KINDS, default="mmin")
    parser.add_argument("--epochs", type=int, default=15, help="epochs of each stage")
    parser.add_argument("--embd", type=int, default=32, help="encoder width (papers: 128)")
    parser.add_argument("--tiny", action="store_true", help="a few-second run (for tests)")
    args = parser.parse_args(argv)
    sizes, dims, max_len = (600, 150, 150), (32, 48, 64), (30, 30, 16)
    if args.tiny:
        args.epochs, args.embd = 1, 8
        sizes, dims, max_len = (32, 16, 16), (6, 5, 7), (6, 6, 5)
    corpus = {
        "dims": dict(zip(NAMES, dims, strict=True)),
        "max_len": dict(zip(NAMES, max_len, strict=True)),
    }
    train, val, test = (
        list(SyntheticMER(split, size=n, **corpus))  # kept in memory for the many epochs
        for split, n in zip(("train", "val", "test"), sizes, strict=True)
    )

    # --8<-- [start:train]
    config = narrow(args.model, dims, num_classes=4, embd=args.embd)
    recipe = paper_train_config(args.model)  # the paper's recipe, made short:
    # a few hundred steps instead of tens of thousands, so a 10x larger learning rate
    stage = {"epochs": args.epochs, "decay_epochs": args.epochs // 2, "batch_size": 32, "lr": 2e-3}
    recipe = dataclasses.replace(
        recipe,
        teacher=dataclasses.replace(recipe.teacher, **stage),
        student=dataclasses.replace(recipe.student, **stage),
        level_mode="uniform",  # per-example levels U(0, scheduled level)
    )
    fill: Any = "noise" if args.model == "nmer" else 0.0  # NMER: a noised copy, not zeros
    pipeline = MultimodalPipeline(  # stage-2 corruption: feature noise, then missing modalities
        {name: [AddGaussianSNR(snr_db=(30.0, 0.0))] for name in NAMES},
        missing=DropModalities(list(NAMES), patterns="mmin", fill=fill, p=0.8),
    )
    steps = args.epochs * -(-len(train) // 32)  # optimiser steps of stage 2
    result = train_model(
        args.model,
        train,
        val,
        cfg=config,
        train_cfg=recipe,
        pipeline=pipeline,
        schedule=Linear(0.0, 1.0, steps=max(1, steps // 2)),  # ramp over half of stage 2
        test_ds=test,
    )
    # --8<-- [end:train]
    total = result.test_metrics["total"]
    print(
        f"{args.model}: best epoch {result.best_epoch}, test (pooled over the six conditions) "
        f"WA {total['wa']:.3f} UA {total['ua']:.3f} F1 {total['f1']:.3f}"
    )

    # --8<-- [start:grid]
    loader = DataLoader(test, batch_size=64, collate_fn=pad_collate)
    grid = evaluate_robustness(
        predict_fn(result.model),  # batch -> logits
        loader,
        modalities=NAMES,
        families={"gaussian": AddGaussianSNR(snr_db=(30.0, -5.0))},
        levels=(0.0, 0.5, 1.0),
        seed=0,  # the same frozen noisy test set for every model and run
    )
    print(grid.to_markdown("WA"))
    # --8<-- [end:grid]
    print(f"relative robustness (full modalities): {grid.relative_robustness('WA'):.3f}")


if __name__ == "__main__":
    main()
