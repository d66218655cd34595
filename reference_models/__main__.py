"""Command line: ``python -m reference_models train ...`` and ``python -m reference_models demo``.

Examples::

    python -m reference_models train --model mmin --data synthetic
    python -m reference_models train --model nmer --data mmin-h5 --root FEATURES \\
        --targets TARGETS --fold 1 --preset paper --out runs/nmer_f1
    python -m reference_models train --model ifmmin --data mmsa-pkl --path mosi.pkl
    python -m reference_models demo
    python -m reference_models reproduce --paper nmer --data mmin-h5 --root FEATURES \\
        --targets TARGETS

``train`` runs the two-stage recipe of :mod:`reference_models.train`, prints the validation (and
test) metrics per missing condition and writes ``last.pt`` (resumable with ``--resume``),
``model.pt`` and ``log.jsonl`` into ``--out``. ``demo`` hands its arguments to
``reference_models.demo.main``, ``reproduce`` to ``reference_models.reproduce.main``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from reference_models.nmer import NMERConfig
from reference_models.teacher import TeacherConfig
from reference_models.train import (
    KINDS,
    ModelConfig,
    ModelKind,
    StageConfig,
    TrainConfig,
    TrainedModel,
    model_config,
    paper_train_config,
    train_model,
)

__all__ = ["build_parser", "main"]

_DATA = ("synthetic", "mmin-h5", "mmsa-pkl")
_NOISE = ("none", "gaussian", "impulse", "timemask")
_SCHEDULES = ("constant", "linear", "cosine")


def build_parser() -> argparse.ArgumentParser:
    """Return the ``python -m reference_models`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m reference_models",
        description="Train and evaluate MMIN, IF-MMIN, NMER and a baseline with mmnoise.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run reference_models.demo.main (arguments are passed on)")
    sub.add_parser(
        "reproduce",
        help="a paper's protocol over every fold (reference_models.reproduce.main; arguments "
        "are passed on)",
    )
    t = sub.add_parser("train", help="train one model with the two-stage recipe")
    t.add_argument("--model", choices=KINDS, required=True, help="which model")
    t.add_argument("--data", choices=_DATA, default="synthetic", help="dataset format")
    t.add_argument("--root", type=Path, help="mmin-h5: the feature root (A/, V/, L/)")
    t.add_argument("--targets", type=Path, help="mmin-h5: the target root ({fold}/*.npy)")
    t.add_argument("--fold", type=int, default=1, help="mmin-h5: cross-validation fold (1-based)")
    t.add_argument("--path", type=Path, help="mmsa-pkl: the .pkl file")
    t.add_argument("--size", type=int, help="synthetic: training-set size (val / test: 1/5)")
    t.add_argument(
        "--preset",
        choices=("quick", "paper"),
        default="quick",
        help="paper: the IEMOCAP script hyperparameters; quick (default): 10 + 10 epochs, batch 64",
    )
    t.add_argument("--epochs", type=int, help="stage-2 epochs (half of them decay the LR)")
    t.add_argument("--teacher-epochs", type=int, help="stage-1 epochs")
    t.add_argument("--batch-size", type=int, help="batch size of both stages")
    t.add_argument("--lr", type=float, help="learning rate of both stages")
    t.add_argument("--seed", type=int, default=0, help="the seed everything derives from")
    t.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    t.add_argument(
        "--noise",
        choices=_NOISE,
        default="none",
        help="stage-2 noise on top of the missing conditions (none = the upstream protocol)",
    )
    t.add_argument(
        "--schedule",
        choices=_SCHEDULES,
        default="constant",
        help="curriculum of the noise level over the stage-2 steps",
    )
    t.add_argument("--level", type=float, default=1.0, help="(final) noise level in [0, 1]")
    t.add_argument(
        "--nmer-kl",
        choices=("batchmean", "sum"),
        default="batchmean",
        help="NMER's KL term: batchmean x 0.1 (default) or sum x 1 (upstream, exactly)",
    )
    t.add_argument(
        "--out",
        type=Path,
        default=Path("runs/reference_models"),
        help="directory for last.pt, model.pt and log.jsonl",
    )
    t.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    progress = t.add_mutually_exclusive_group()
    progress.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="always show the progress bar",
    )
    progress.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        help="never show the progress bar (default: only on a terminal)",
    )
    return parser


def _datasets(args: argparse.Namespace) -> tuple[Dataset[Any], Dataset[Any], Dataset[Any]]:
    """Return (train, val, test) for the chosen format."""
    if args.data == "synthetic":
        from mmnoise.datasets import SyntheticMER

        size = args.size
        sizes = (size, max(size // 5, 1), max(size // 5, 1)) if size else (None, None, None)
        return tuple(  # type: ignore[return-value]
            SyntheticMER(split, seed=args.seed, size=n)
            for split, n in zip(("train", "val", "test"), sizes, strict=True)
        )
    if args.data == "mmin-h5":
        if args.root is None or args.targets is None:
            raise SystemExit("train: --data mmin-h5 needs --root FEATURES and --targets TARGETS.")
        from mmnoise.datasets import MMINFeatures

        return tuple(  # type: ignore[return-value]
            MMINFeatures(args.root, args.targets, fold=args.fold, split=s)
            for s in ("trn", "val", "tst")
        )
    if args.path is None:
        raise SystemExit("train: --data mmsa-pkl needs --path FILE.pkl.")
    from mmnoise.datasets import MMSAPickle

    splits = MMSAPickle.load_all(args.path)  # unpickle once
    return splits["train"], splits["valid"], splits["test"]


def _num_classes(dataset: Any) -> int:
    if hasattr(dataset, "num_classes"):
        return int(dataset.num_classes)
    if hasattr(dataset, "labels"):
        return int(max(dataset.labels)) + 1
    return int(max(int(dataset[i]["label"]) for i in range(len(dataset)))) + 1


def _fit_config(kind: ModelKind, train: Dataset[Any]) -> ModelConfig:
    """The paper model config, with input sizes and class count read from the data."""
    config = model_config(kind)
    teacher = config if isinstance(config, TeacherConfig) else config.teacher
    first = train[0]
    dims = tuple(int(first[m].shape[-1]) for m in teacher.backbone.modalities)
    backbone = dataclasses.replace(teacher.backbone, input_dims=dims)
    teacher = dataclasses.replace(teacher, backbone=backbone, n_classes=_num_classes(train))
    if isinstance(config, TeacherConfig):
        return teacher
    fitted: ModelConfig = dataclasses.replace(config, teacher=teacher)
    return fitted


def _train_config(args: argparse.Namespace, kind: ModelKind) -> TrainConfig:
    tc = paper_train_config(kind, seed=args.seed, device=args.device, progress=args.progress)
    if args.preset == "quick":
        tc = dataclasses.replace(
            tc,
            teacher=dataclasses.replace(tc.teacher, epochs=10, decay_epochs=5, batch_size=64),
            student=dataclasses.replace(tc.student, epochs=10, decay_epochs=5, batch_size=64),
        )

    def stage(s: StageConfig, epochs: int | None) -> StageConfig:
        changes: dict[str, Any] = {}
        if epochs is not None:
            changes.update(epochs=epochs, decay_epochs=epochs // 2)
        if args.batch_size is not None:
            changes["batch_size"] = args.batch_size
        if args.lr is not None:
            changes["lr"] = args.lr
        return dataclasses.replace(s, **changes)

    return dataclasses.replace(
        tc,
        teacher=stage(tc.teacher, args.teacher_epochs),
        student=stage(tc.student, args.epochs),
        level=args.level if args.schedule == "constant" else tc.level,
        # NMER: the evaluation noise has the training intensity (T = 100 * level)
        eval_level=args.level if kind == "nmer" else tc.eval_level,
    )


def _pipeline(kind: ModelKind, noise: str, modalities: Sequence[str]) -> Any:
    """Missing conditions (zeros, or NMER's noised copy) plus an optional noise family."""
    from mmnoise.transforms.compose import MultimodalPipeline
    from mmnoise.transforms.features import AddGaussianSNR, ImpulseNoise, TimeMask
    from mmnoise.transforms.missing import DropModalities

    fill: Any = "nmer" if kind == "nmer" else 0.0
    missing = DropModalities(list(modalities), patterns="mmin", fill=fill)
    if noise == "none":
        return missing
    family = {"gaussian": AddGaussianSNR, "impulse": ImpulseNoise, "timemask": TimeMask}[noise]
    return MultimodalPipeline({m: [family()] for m in modalities}, missing=missing)


def _schedule(name: str, level: float, steps: int) -> Any:
    from mmnoise.schedules import Cosine, Linear

    if name == "constant":
        return None
    cls = Linear if name == "linear" else Cosine
    return cls(0.0, level, steps=max(steps, 1))


def _table(metrics: dict[str, dict[str, float]]) -> str:
    lines = ["| condition | WA | UA | F1 |", "|---|---|---|---|"]
    for name, m in metrics.items():
        lines.append(f"| {name} | {m['wa']:.4f} | {m['ua']:.4f} | {m['f1']:.4f} |")
    return "\n".join(lines)


def _train(args: argparse.Namespace) -> TrainedModel:
    kind: ModelKind = args.model
    train, val, test = _datasets(args)
    config = _fit_config(kind, train)
    if isinstance(config, NMERConfig):
        config = dataclasses.replace(config, kl_reduction=args.nmer_kl)
    tc = _train_config(args, kind)
    teacher = config if isinstance(config, TeacherConfig) else config.teacher
    modalities = teacher.backbone.modalities
    steps = tc.student.epochs * -(-len(train) // tc.student.batch_size)  # type: ignore[arg-type]
    pipeline = None if kind == "baseline" else _pipeline(kind, args.noise, modalities)
    result = train_model(
        kind,
        train,
        val,
        cfg=config,
        train_cfg=tc,
        pipeline=pipeline,
        schedule=_schedule(args.schedule, args.level, steps),
        test_ds=test,
        checkpoint_dir=args.out,
        log_path=args.out / "log.jsonl",
        resume=args.resume,
    )
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_rank() != 0:
        return result  # rank 0 reports
    print(f"{kind}: best epoch {result.best_epoch} (selected on validation)")
    print("validation\n" + _table(result.val_metrics))
    if result.test_metrics is not None:
        print("test\n" + _table(result.test_metrics))
    print(f"model: {args.out / 'model.pt'}\nlog: {args.out / 'log.jsonl'}")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["demo"]:
        try:
            demo = importlib.import_module("reference_models.demo")
        except ModuleNotFoundError as err:
            if err.name != "reference_models.demo":
                raise
            print(
                "demo: reference_models/demo.py is not installed in this checkout.", file=sys.stderr
            )
            return 2
        status = demo.main(argv[1:])
        return int(status or 0)
    if argv[:1] == ["reproduce"]:
        from reference_models import reproduce

        return reproduce.main(argv[1:])
    args = build_parser().parse_args(argv)
    _train(args)
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
