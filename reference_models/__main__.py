"""Command line: ``python -m reference_models {train, evaluate, prepare, demo, reproduce} ...``.

Examples::

    python -m reference_models prepare --features audio=feats/mfcc --labels labels.csv \\
        --out corpus
    python -m reference_models train --model baseline mmin ifmmin nmer --data mmin-h5 \\
        --root corpus --fold 1 --noise gaussian --min-steps 300 --out runs/f1
    python -m reference_models evaluate --checkpoint runs/f1/mmin/model.pt \\
        --families gaussian timemask --out runs/f1/mmin/robustness
    python -m reference_models train --model nmer --data mmsa-pkl --path mosi.pkl
    python -m reference_models demo
    python -m reference_models reproduce --paper nmer --data mmin-h5 --root FEATURES \\
        --targets TARGETS

``train`` runs the two-stage recipe of :mod:`reference_models.train` for each ``--model`` (one
teacher per teacher config, trained once and reused by the students of the run, or loaded with
``--teacher``), prints the validation and test metrics per missing condition and writes
``last.pt`` every epoch (resumable with ``--resume``; deleted when the run finishes unless
``--keep-last``), ``model.pt``, ``log.jsonl`` and ``run.json`` (the data
options) into ``--out`` (``--out/<model>`` for several models). ``evaluate`` scores a
``model.pt`` on a frozen robustness grid over the test split (presence patterns of the
corpus's modalities x noise families x levels): a markdown table, ``robustness.json`` and
``heatmap.png``. ``prepare`` turns per-utterance feature files and a label CSV into the MMIN
layout (:func:`mmnoise.datasets.prepare_mmin`). ``demo`` hands its arguments to
``reference_models.demo.main``, ``reproduce`` (a paper's whole protocol over every fold) to
``reference_models.reproduce.main``. An option that does not apply to the chosen data or model is an
error, never silently ignored.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib
import json
import math
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from torch.utils.data import Dataset

from mmnoise.robustness import RobustnessGrid
from reference_models.nmer import NMERConfig
from reference_models.teacher import Teacher, TeacherConfig
from reference_models.teacher.config import EncoderType
from reference_models.train import (
    KINDS,
    ModelConfig,
    ModelKind,
    StageConfig,
    TrainConfig,
    TrainedModel,
    TrainingDiverged,
    load_trained,
    model_config,
    paper_train_config,
    train_model,
)

__all__ = ["build_parser", "main"]

_DATA = ("synthetic", "mmin-h5", "mmsa-pkl")
_SCHEDULES = ("constant", "linear", "cosine")
# noise families of --noise and --families: mmnoise.transforms.features classes at defaults
_FAMILIES = ("gaussian", "colored", "impulse", "timemask", "featuremask", "framedropout", "gain")
_NORMS = {"trn": "trn", "utt": "utt", "none": None}
# data options, the formats they apply to, and their parser defaults
_DATA_OPTIONS: dict[str, tuple[tuple[str, ...], Any]] = {
    "root": (("mmin-h5",), None),
    "targets": (("mmin-h5",), None),
    "fold": (("mmin-h5",), None),
    "a_type": (("mmin-h5",), None),
    "v_type": (("mmin-h5",), None),
    "l_type": (("mmin-h5",), None),
    "norm": (("mmin-h5",), None),
    "modalities": (("mmin-h5",), None),
    "path": (("mmsa-pkl",), None),
    "size": (("synthetic",), None),
}


def _family(name: str) -> type:
    from mmnoise.transforms import features as F

    return {
        "gaussian": F.AddGaussianSNR,
        "colored": F.AddColoredSNR,
        "impulse": F.ImpulseNoise,
        "timemask": F.TimeMask,
        "featuremask": F.FeatureMask,
        "framedropout": F.FrameDropout,
        "gain": F.Gain,
    }[name]


def _noise_pipeline(name: str, modalities: Sequence[str], missing: Any = None) -> Any:
    """One family at its defaults on every modality, plus an optional DropModalities."""
    from mmnoise.transforms.compose import MultimodalPipeline

    family = _family(name)
    return MultimodalPipeline({m: [family()] for m in modalities}, missing=missing)


# -------------------------------------------------------------------------------------------
# parsers


def _add_data_args(p: argparse.ArgumentParser, *, default_data: str | None) -> None:
    g = p.add_argument_group("data")
    g.add_argument(
        "--data",
        choices=_DATA,
        default=default_data,
        help="dataset format" + (f" (default {default_data})" if default_data else ""),
    )
    g.add_argument("--root", type=Path, help="mmin-h5: the feature root (A/, V/, L/, corpus.json)")
    g.add_argument(
        "--targets", type=Path, help="mmin-h5: the target root (default: corpus.json 'targets')"
    )
    g.add_argument("--fold", type=int, help="mmin-h5: cross-validation fold, 1-based (default 1)")
    g.add_argument("--a-type", help="mmin-h5: audio feature file stem (e.g. comparE, IS10)")
    g.add_argument("--v-type", help="mmin-h5: visual feature file stem (e.g. denseface)")
    g.add_argument("--l-type", help="mmin-h5: text feature file stem (e.g. bert_large)")
    g.add_argument(
        "--norm",
        action="append",
        metavar="MODE|MODALITY=MODE",
        help="mmin-h5: normalisation trn / utt / none for the normalised modalities (upstream: "
        "audio), or per modality (repeat); default: as corpus.json says (upstream: audio trn)",
    )
    g.add_argument(
        "--modalities",
        help="mmin-h5: comma-separated modalities to use (default: every one the corpus has)",
    )
    g.add_argument("--path", type=Path, help="mmsa-pkl: the .pkl file")
    g.add_argument("--size", type=int, help="synthetic: training-set size (val / test: 1/5)")


def _add_runtime_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="the seed everything derives from")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default 1: these small models gain nothing from more, "
        "and a second process on the same cores runs faster)",
    )


def _add_train(sub: Any) -> None:
    t = sub.add_parser("train", help="train models with the two-stage recipe")
    t.add_argument(
        "--model",
        nargs="+",
        choices=KINDS,
        required=True,
        help="one or more models; students share one teacher per teacher config",
    )
    _add_data_args(t, default_data="synthetic")
    t.add_argument(
        "--preset",
        choices=("quick", "paper"),
        default="quick",
        help="paper: the IEMOCAP script hyperparameters; quick (default): the demo's recipe, 10 "
        "+ 10 epochs, batch 64, lr 2e-3, PyTorch's default init",
    )
    t.add_argument("--epochs", type=int, help="stage-2 epochs (half of them decay the LR)")
    t.add_argument("--teacher-epochs", type=int, help="stage-1 epochs")
    t.add_argument(
        "--min-steps",
        type=int,
        help="at least this many optimiser steps per stage: raises the epochs of a small corpus "
        "to ceil(steps / steps per epoch) (the paper preset has ~45 steps per epoch on IEMOCAP)",
    )
    t.add_argument("--batch-size", type=int, help="batch size of both stages")
    t.add_argument("--lr", type=float, help="learning rate of both stages")
    _add_runtime_args(t)
    t.add_argument(
        "--noise",
        choices=("none", *_FAMILIES),
        default="none",
        help="training noise: students get it on top of the missing conditions, the baseline "
        "is trained on it (a noise-augmented baseline); none = the upstream protocol",
    )
    t.add_argument(
        "--schedule",
        choices=_SCHEDULES,
        help="curriculum of the training level over the steps (default constant)",
    )
    t.add_argument("--level", type=float, help="(final) training level in [0, 1] (default 1)")
    t.add_argument(
        "--nmer-noise",
        choices=("gaussian", "impulse"),
        help="NMER's noise for the missing modalities, in training and evaluation: gaussian "
        "(default, the paper's main setting) or impulse (sign noise on 30 %% of the entries)",
    )
    t.add_argument(
        "--nmer-kl",
        choices=("batchmean", "sum"),
        help="NMER's KL term: batchmean x 0.01 (default) or sum x 1 (upstream, exactly)",
    )
    t.add_argument(
        "--nmer-variant",
        choices=("default", "release", "mrcn1"),
        help="which NMER: the package default, the release (NMER_model.py) or the pre-release "
        "MRCN_1 model, each with upstream's evaluation bugs fixed (NMERConfig.variant)",
    )
    t.add_argument(
        "--nmer-upstream-loss",
        action="store_true",
        help="deprecated, use --nmer-variant release (the whole release). Sets only the "
        "release's loss: the classifier on the reconstruction alone, the KL summed x 1 and the "
        "script's classifier dropout 0.1 (NMERConfig.upstream_loss())",
    )
    t.add_argument(
        "--nmer-select",
        choices=("missing", "full", "mean"),
        help="the validation condition that selects NMER's epoch: the pooled missing conditions "
        "(default, upstream), the full condition, or the mean of the two "
        "(TrainConfig.student_select)",
    )
    t.add_argument(
        "--select",
        choices=("clean", "noisy"),
        default="clean",
        help="select the epoch on clean validation, or on validation under the --noise family "
        "at --select-level (frozen noise)",
    )
    t.add_argument(
        "--select-level", type=float, help="noisy selection: the validation level (default 0.5)"
    )
    t.add_argument(
        "--teacher",
        type=Path,
        action="append",
        help="reuse the stage-1 teacher of this model.pt for the students whose teacher config "
        "matches (repeatable)",
    )
    t.add_argument(
        "--out",
        type=Path,
        default=Path("runs/reference_models"),
        help="output directory (OUT/<model> for several models)",
    )
    t.add_argument(
        "--resume", action="store_true", help="continue an interrupted run from OUT/last.pt"
    )
    t.add_argument(
        "--keep-last",
        action="store_true",
        help="keep OUT/last.pt (the last epoch's full state) after model.pt is written; by "
        "default it is deleted when the run finishes",
    )
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


def _add_evaluate(sub: Any) -> None:
    e = sub.add_parser("evaluate", help="robustness grid of a trained model on the test split")
    e.add_argument("--checkpoint", type=Path, required=True, help="a model.pt (or its folder)")
    _add_data_args(e, default_data=None)
    e.add_argument(
        "--split",
        choices=("test", "val"),
        default="test",
        help="which split to score (default test)",
    )
    e.add_argument(
        "--families",
        nargs="+",
        choices=_FAMILIES,
        default=["gaussian", "impulse", "timemask"],
        help="noise families (rows of the grid)",
    )
    e.add_argument(
        "--levels",
        nargs="+",
        type=float,
        default=[0.0, 0.25, 0.5, 0.75, 1.0],
        help="increasing levels in [0, 1], the first the clean anchor",
    )
    e.add_argument("--batch-size", type=int, default=256, help="evaluation batch size")
    e.add_argument("--metric", choices=("WA", "UA", "F1"), default="WA", help="table metric")
    e.add_argument("--out", type=Path, help="output folder (default CHECKPOINT_DIR/robustness)")
    e.add_argument("--no-heatmap", action="store_true", help="skip heatmap.png (no matplotlib)")
    _add_runtime_args(e)


def _add_prepare(sub: Any) -> None:
    p = sub.add_parser(
        "prepare",
        help="per-utterance feature files + label CSV -> MMIN layout with speaker folds",
    )
    p.add_argument(
        "--features",
        action="append",
        required=True,
        metavar="MODALITY=DIR",
        help="a folder of {id}.npy / {id}.csv files for one modality (repeat per modality)",
    )
    p.add_argument("--labels", type=Path, required=True, help="CSV with id, label, speaker")
    p.add_argument("--out", type=Path, required=True, help="the new feature root")
    p.add_argument("--folds", type=int, help="speaker folds (default: speakers, at most 10)")
    p.add_argument("--classes", help="comma-separated class names in index order")
    p.add_argument(
        "--norm",
        action="append",
        metavar="MODE|MODALITY=MODE",
        help="trn (default) / utt / none, for all modalities or per modality (repeat)",
    )
    p.add_argument("--id-column", default="id")
    p.add_argument("--label-column", default="label")
    p.add_argument("--speaker-column", default="speaker")
    p.add_argument("--name", help="corpus name for corpus.json")


_PARSERS: dict[str, Callable[[Any], None]] = {
    "train": _add_train,
    "evaluate": _add_evaluate,
    "prepare": _add_prepare,
}


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
    for add in _PARSERS.values():
        add(sub)
    return parser


# -------------------------------------------------------------------------------------------
# data


#: the library's argument names in messages -> the flags of this command line
_FLAG_WORDS = (
    ("norm='utt' or None", "--norm utt or --norm none"),
    ("norm='trn'", "--norm trn"),
    ("norm='utt'", "--norm utt"),
    ("a_type / v_type / l_type", "--a-type / --v-type / --l-type"),
    ("root_features", "--root"),
    ("root_targets", "--targets"),
    ("expected fold ", "expected --fold "),
    ("set progress=False", "pass --no-progress"),
    ("progress=True", "--progress"),
    ("progress=False", "--no-progress"),
)


def _flags(message: str) -> str:
    """Speak in flags: the library's argument names in ``message`` become this CLI's options.

    Example:
        >>> _flags("MMINFeatures: ...; use norm='utt' or None, or check root_features.")
        'MMINFeatures: ...; use --norm utt or --norm none, or check --root.'
    """
    for python, flag in _FLAG_WORDS:
        message = message.replace(python, flag)
    return message


def _fail(command: str, message: str) -> SystemExit:
    return SystemExit(f"{command}: {_flags(message)}")


def _text(err: BaseException) -> str:
    """An exception's message (a KeyError's without the quotes its repr adds)."""
    return str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)


def _check_data_args(args: argparse.Namespace) -> None:
    for name, (formats, default) in _DATA_OPTIONS.items():
        value = getattr(args, name)
        if value is not default and args.data not in formats:
            flag = "--" + name.replace("_", "-")
            raise _fail(
                args.command,
                f"{flag} applies to --data {' / '.join(formats)}, not to --data {args.data}; "
                "drop it.",
            )
    if args.data == "mmin-h5" and args.root is None:
        raise _fail(args.command, "--data mmin-h5 needs --root FEATURES (and --targets TARGETS).")
    if args.data == "mmsa-pkl" and args.path is None:
        raise _fail(args.command, "--data mmsa-pkl needs --path FILE.pkl.")
    if args.size is not None and args.size < 5:
        raise _fail(args.command, f"expected --size >= 5, got {args.size}.")


def _norm_arg(values: list[str] | None, command: str) -> Any:
    """--norm MODE or MODALITY=MODE (repeatable) -> the MMINFeatures ``norm`` argument."""
    if values is None:
        return "auto"
    single = [v for v in values if "=" not in v]
    pairs = [v.split("=", 1) for v in values if "=" in v]
    if single and (pairs or len(single) > 1):
        raise _fail(command, f"expected one --norm MODE or MODALITY=MODE pairs, got {values}.")
    for v in single + [m for _, m in pairs]:
        if v not in _NORMS:
            raise _fail(command, f"expected a --norm mode in {list(_NORMS)}, got {v!r}.")
    if single:
        return _NORMS[single[0]]
    return {k: _NORMS[v] for k, v in pairs}


def _data_dict(args: argparse.Namespace) -> dict[str, Any]:
    """The data options as JSON (written to run.json, read back by evaluate)."""
    out: dict[str, Any] = {"data": args.data}
    if args.data == "synthetic":  # the synthetic corpus is generated from the seed
        out["data_seed"] = args.seed
    for name in _DATA_OPTIONS:
        value = getattr(args, name)
        if value is not None:
            out[name] = str(value) if isinstance(value, Path) else value
    return out


def _datasets(
    args: argparse.Namespace, modalities: Sequence[str] | None = None
) -> dict[str, Dataset[Any]]:
    """Return {"train", "val", "test"} for the chosen format (classes checked across splits)."""
    if args.data == "synthetic":
        from mmnoise.datasets import SyntheticMER

        size = args.size
        sizes = (size, max(size // 5, 1), max(size // 5, 1)) if size else (None, None, None)
        seed = getattr(args, "data_seed", None)
        return {
            split: SyntheticMER(split, seed=args.seed if seed is None else seed, size=n)
            for split, n in zip(("train", "val", "test"), sizes, strict=True)
        }
    if args.data == "mmin-h5":
        from mmnoise.datasets import MMINFeatures

        chosen = args.modalities.split(",") if args.modalities else modalities
        try:
            splits = MMINFeatures.load_fold(
                args.root,
                args.targets,
                fold=args.fold if args.fold is not None else 1,
                a_type=args.a_type,
                v_type=args.v_type,
                l_type=args.l_type,
                norm=_norm_arg(args.norm, args.command),
                modalities=chosen,
            )
        except (ValueError, KeyError, FileNotFoundError, ImportError) as err:  # h5py: `data`
            raise _fail(args.command, _text(err)) from None
        return {"train": splits["trn"], "val": splits["val"], "test": splits["tst"]}
    from mmnoise.datasets import MMSAPickle

    try:
        splits_ = MMSAPickle.load_all(args.path)  # unpickle once
    except (ValueError, KeyError, FileNotFoundError) as err:
        raise _fail(args.command, _text(err)) from None
    return {"train": splits_["train"], "val": splits_["valid"], "test": splits_["test"]}


def _num_classes(dataset: Any) -> int:
    if hasattr(dataset, "num_classes"):
        return int(dataset.num_classes)
    if hasattr(dataset, "labels"):
        return int(max(dataset.labels)) + 1
    return int(max(int(dataset[i]["label"]) for i in range(len(dataset)))) + 1


def _modalities_of(dataset: Any) -> tuple[str, ...]:
    if hasattr(dataset, "modalities"):
        return tuple(dataset.modalities)
    first = dataset[0]
    return tuple(k for k in ("audio", "visual", "text") if k in first)


# -------------------------------------------------------------------------------------------
# train


#: the quick preset: the demo's recipe (epochs per stage, batch, lr, PyTorch's default init).
#: The paper's lr 2e-4 with Kaiming init did not learn the built-in synthetic corpus in 10
#: epochs (baseline, 2000 items, seed 0: 36 % test WA); lr 2e-3 with Kaiming stayed at chance
#: (validation WA 29.0 / 25.8 % after epochs 1 / 2); lr 2e-3 with the default init learns
#: (validation WA 30.0, 56.8, 61.5, 63.5, 66.8, 71.0, 74.3, 75.5, 76.8, 78.3 % after epochs 1 to
#: 10; the selected epoch 10 then scored 79.0 % test WA).
QUICK_EPOCHS, QUICK_BATCH, QUICK_LR = 10, 64, 2e-3
QUICK_INIT: Literal["default"] = "default"


def _fit_config(kind: ModelKind, train: Dataset[Any], preset: str = "paper") -> ModelConfig:
    """The paper model config, with modalities, input sizes and class count read from the data.

    The quick preset uses PyTorch's default init (:data:`QUICK_INIT`) instead of Kaiming-normal.
    """
    config = model_config(kind)
    if preset == "quick":
        config = dataclasses.replace(config, init=QUICK_INIT)
        if not isinstance(config, TeacherConfig):
            config = dataclasses.replace(
                config, teacher=dataclasses.replace(config.teacher, init=QUICK_INIT)
            )
    teacher = config if isinstance(config, TeacherConfig) else config.teacher
    modalities = _modalities_of(train)
    first = train[0]
    dims = tuple(int(first[m].shape[-1]) for m in modalities)
    encoders: tuple[EncoderType, ...] = tuple(
        "textcnn" if m == "text" else "lstm" for m in modalities
    )
    backbone = dataclasses.replace(
        teacher.backbone, modalities=modalities, input_dims=dims, encoder_types=encoders
    )
    teacher = dataclasses.replace(teacher, backbone=backbone, n_classes=_num_classes(train))
    if isinstance(config, TeacherConfig):
        return teacher
    fitted: ModelConfig = dataclasses.replace(config, teacher=teacher)
    return fitted


def _check_train_args(args: argparse.Namespace) -> None:
    kinds: list[str] = args.model
    if len(set(kinds)) != len(kinds):
        raise _fail("train", f"--model lists a model twice: {kinds}.")
    only_baseline = kinds == ["baseline"]
    if args.noise == "none":
        if args.select == "noisy":
            raise _fail("train", "--select noisy needs a --noise family to validate under.")
        if only_baseline and (args.level is not None or args.schedule is not None):
            raise _fail(
                "train",
                "--level / --schedule set the training noise; the baseline without --noise has "
                "none. Add --noise FAMILY for a noise-augmented baseline.",
            )
        if "nmer" not in kinds and (args.level is not None or args.schedule is not None):
            # without --noise only NMER's noised fill of the missing modalities has a level
            raise _fail(
                "train",
                f"--level / --schedule set the training noise; without --noise {kinds} have "
                "none (only NMER's missing-modality fill has a level). Add --noise FAMILY or "
                "drop them.",
            )
    if args.select_level is not None and args.select != "noisy":
        raise _fail("train", "--select-level applies to --select noisy only.")
    for name in ("epochs", "teacher_epochs", "min_steps", "batch_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise _fail("train", f"expected --{name.replace('_', '-')} >= 1, got {value}.")
    if only_baseline and args.epochs is not None:
        raise _fail(
            "train", "--epochs sets the student stage; the baseline has only --teacher-epochs."
        )
    for name in ("level", "select_level"):
        value = getattr(args, name)
        if value is not None and not 0.0 <= value <= 1.0:
            raise _fail("train", f"expected --{name.replace('_', '-')} in [0, 1], got {value}.")
    if args.nmer_kl is not None and "nmer" not in kinds:
        raise _fail("train", "--nmer-kl sets NMER's KL term; add --model nmer.")
    if args.nmer_variant is not None and "nmer" not in kinds:
        raise _fail("train", "--nmer-variant sets NMER's variant; add --model nmer.")
    if args.nmer_upstream_loss and "nmer" not in kinds:
        raise _fail("train", "--nmer-upstream-loss sets NMER's loss; add --model nmer.")
    if args.nmer_upstream_loss and args.nmer_kl == "batchmean":
        raise _fail(
            "train",
            "--nmer-upstream-loss sums the KL; drop --nmer-kl batchmean (or the upstream flag).",
        )
    if args.nmer_select is not None and "nmer" not in kinds:
        raise _fail("train", "--nmer-select sets how NMER's epoch is chosen; add --model nmer.")
    if args.nmer_noise is not None and "nmer" not in kinds:
        raise _fail("train", "--nmer-noise sets NMER's missing-modality noise; add --model nmer.")
    if args.teacher and "baseline" in kinds:
        raise _fail("train", "the baseline is a teacher itself; --teacher does not apply to it.")


def _stage_epochs(cfg: StageConfig, n_train: int, min_steps: int | None) -> StageConfig:
    if min_steps is None:
        return cfg
    per_epoch = max(math.ceil(n_train / cfg.batch_size), 1)
    epochs = max(cfg.epochs, math.ceil(min_steps / per_epoch))
    if epochs == cfg.epochs:
        return cfg
    return dataclasses.replace(cfg, epochs=epochs, decay_epochs=epochs // 2)


def _train_config(args: argparse.Namespace, kind: ModelKind, n_train: int) -> TrainConfig:
    tc = paper_train_config(kind, seed=args.seed, device=args.device, progress=args.progress)
    if args.preset == "quick":
        quick: dict[str, Any] = {
            "epochs": QUICK_EPOCHS,
            "decay_epochs": QUICK_EPOCHS // 2,
            "batch_size": QUICK_BATCH,
            "lr": QUICK_LR,
        }
        tc = dataclasses.replace(
            tc,
            teacher=dataclasses.replace(tc.teacher, **quick),
            student=dataclasses.replace(tc.student, **quick),
        )

    def stage(s: StageConfig, epochs: int | None) -> StageConfig:
        changes: dict[str, Any] = {}
        if epochs is not None:
            changes.update(epochs=epochs, decay_epochs=epochs // 2)
        if args.batch_size is not None:
            changes["batch_size"] = args.batch_size
        if args.lr is not None:
            changes["lr"] = args.lr
        return _stage_epochs(dataclasses.replace(s, **changes), n_train, args.min_steps)

    changes: dict[str, Any] = {}
    if args.level is not None and args.schedule in (None, "constant"):
        changes["level"] = args.level
    if kind == "nmer":
        if args.level is not None:  # evaluated at the (final) training intensity T = 100 * level
            changes["eval_level"] = args.level
        if args.nmer_noise == "impulse":
            changes["eval_fill"] = "nmer_impulse"
        if args.nmer_select is not None:
            changes["student_select"] = args.nmer_select
    if args.select_level is not None:
        changes["val_noise_level"] = args.select_level
    return dataclasses.replace(
        tc,
        teacher=stage(tc.teacher, args.teacher_epochs),
        student=stage(tc.student, args.epochs),
        **changes,
    )


def _banner(args: argparse.Namespace, kind: str, tc: TrainConfig, *, reused: bool) -> str:
    """The recipe that runs for ``kind``: preset, then the epochs, batch and lr after options.

    Example:
        >>> from reference_models.train import paper_train_config
        >>> args = argparse.Namespace(preset="paper", resume=False)
        >>> _banner(args, "baseline", paper_train_config("baseline"), reused=False)
        'train: baseline: preset paper: 20 epochs, batch 128, lr 0.0002'
    """

    def stage(s: StageConfig) -> str:
        return f"{s.epochs} epoch{'s' * (s.epochs != 1)}, batch {s.batch_size}, lr {s.lr:g}"

    if kind == "baseline":
        what = stage(tc.teacher)
    elif reused:
        what = f"stage 2 {stage(tc.student)} (stage 1: a reused teacher)"
    else:
        what = f"stage 1 {stage(tc.teacher)}; stage 2 {stage(tc.student)}"
    hint = "" if args.preset == "paper" else " (--preset paper: the papers' recipe)"
    return f"train: {kind}: preset {args.preset}: {what}{hint}"


#: optimiser steps per stage below which a run warns before training: the demo's students and
#: baseline learn the synthetic corpus in 320 (16 batches x 20 epochs at lr 2e-3)
_MIN_STEPS = 300


def _few_steps(kind: str, tc: TrainConfig, n_train: int, *, reused: bool) -> str:
    """A warning, before training, when a stage has too few optimiser steps to learn.

    Example:
        >>> from reference_models.train import paper_train_config
        >>> _few_steps("baseline", paper_train_config("baseline"), 300, reused=False)[:47]
        'train: baseline: stage 1 has 60 optimiser steps'
    """
    stages = [] if reused else [("stage 1", tc.teacher)]
    if kind != "baseline":
        stages.append(("stage 2", tc.student))
    for name, cfg in stages:
        per_epoch = max(math.ceil(n_train / cfg.batch_size), 1)
        steps = cfg.epochs * per_epoch
        if steps < _MIN_STEPS:
            return (
                f"train: {kind}: {name} has {steps} optimiser steps ({cfg.epochs} epochs x "
                f"{per_epoch} batches of {n_train} items), too few to learn from (the models "
                f"learn the synthetic corpus in about {_MIN_STEPS}); it will likely end near "
                f"chance. Add --min-steps {_MIN_STEPS}, more epochs, or more data (--size for "
                "the synthetic corpus)."
            )
    return ""


def _at_chance(
    kind: str, metrics: Mapping[str, Mapping[str, float]], n_classes: int, n_val: int = 0
) -> str:
    """A warning when the best validation UA is at chance, or not far above it.

    At chance: within two standard errors of chance for ``n_val`` validation items (at least a
    point). Barely above: less than a quarter of the way from chance to a perfect score (36 %
    for four classes lies in that range: it learnt little).

    Example:
        >>> _at_chance("mmin", {"full": {"ua": 0.25}}, 4, 400)[:40]
        'train: mmin ended at chance: the best va'
        >>> _at_chance("mmin", {"full": {"ua": 0.36}}, 4, 400)[:44]
        'train: mmin is barely above chance: the best'
        >>> _at_chance("mmin", {"full": {"ua": 0.62}}, 4, 400)
        ''
    """
    chance = 1.0 / max(n_classes, 1)
    best = max((m["ua"] for m in metrics.values()), default=chance)
    noise = 2 * math.sqrt(chance * (1 - chance) / n_val) if n_val > 0 else 0.0
    margin = max(0.01, noise)
    if best > chance + max(margin, 0.25 * (1 - chance)):
        return ""
    state = "ended at chance" if best <= chance + margin else "is barely above chance"
    within = f", +/- {noise:.3f} for {n_val} validation items" if n_val > 0 else ""
    return (
        f"train: {kind} {state}: the best validation UA is {best:.3f} against "
        f"{chance:.3f} for {n_classes} classes{within}. Check the per-epoch losses in the log: "
        "too few optimiser steps (raise --epochs / --teacher-epochs or --min-steps, or --size "
        "for the synthetic data), a learning rate too low for them (--lr), or a loss that "
        "starts orders of magnitude above the others (e.g. cycle or imagination of a large "
        "model on a small corpus: a lower --lr or the demo's default initialisation; "
        'docs/corpora.md, "The command line").'
    )


def _pipeline(
    kind: ModelKind, noise: str, modalities: Sequence[str], nmer_noise: str | None = None
) -> Any:
    """Missing conditions (zeros, or NMER's noised copy) plus an optional noise family."""
    from mmnoise.transforms.missing import DropModalities

    missing = None
    if len(modalities) > 1:  # one modality: no missing conditions, the noise only
        fill: Any = 0.0
        if kind == "nmer":
            fill = "nmer_impulse" if nmer_noise == "impulse" else "nmer"
        missing = DropModalities(list(modalities), patterns="mmin", fill=fill)
    if noise == "none":
        return missing
    return _noise_pipeline(noise, modalities, missing)


def _schedule(name: str | None, level: float | None, steps: int) -> Any:
    from mmnoise.schedules import Cosine, Linear

    if name in (None, "constant"):
        return None
    cls = Linear if name == "linear" else Cosine
    return cls(0.0, 1.0 if level is None else level, steps=max(steps, 1))


def _table(metrics: dict[str, dict[str, float]]) -> str:
    lines = ["| condition | WA | UA | F1 |", "|---|---|---|---|"]
    for name, m in metrics.items():
        lines.append(f"| {name} | {m['wa']:.4f} | {m['ua']:.4f} | {m['f1']:.4f} |")
    return "\n".join(lines)


def _teacher_of(config: ModelConfig) -> TeacherConfig:
    return config if isinstance(config, TeacherConfig) else config.teacher


def _teacher_key(config: ModelConfig, tc: TrainConfig) -> str:
    teacher = _teacher_of(config)
    return json.dumps(
        [dataclasses.asdict(teacher), dataclasses.asdict(tc.teacher), tc.seed], sort_keys=True
    )


def _same_data(saved: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """The data options of ``args`` that contradict a ``run.json`` (empty: the same data)."""
    clash = []
    if args.data is not None and saved.get("data") != args.data:
        clash.append(f"--data {args.data} (run.json: {saved.get('data')})")
    for name in _DATA_OPTIONS:
        given, old = getattr(args, name), saved.get(name)
        if name == "fold" and saved.get("data") == "mmin-h5":
            old = 1 if old is None else old  # the default fold of the run
        if given is None or old is None:
            continue
        if name in ("root", "targets", "path"):
            same = Path(given).resolve() == Path(old).resolve()
        else:
            same = given == old
        if not same:
            clash.append(f"--{name.replace('_', '-')} {given} (run.json: {old})")
    return clash


def _load_teachers(
    paths: Sequence[Path] | None, args: argparse.Namespace
) -> list[tuple[Path, TrainedModel]]:
    out = []
    for path in paths or ():
        file = path / "model.pt" if path.is_dir() else path
        if not file.is_file():
            raise _fail("train", f"--teacher {path}: expected a model.pt written by train.")
        run_file = file.parent / "run.json"
        if run_file.is_file():  # a teacher of another fold has seen this fold's test speakers
            saved = json.loads(run_file.read_text())
            keys = ("data", "root", "fold", "path", "size", "data_seed")
            saved = {k: v for k, v in saved.items() if k in keys}
            clash = _same_data(saved, args)
            if args.data == "mmin-h5" and args.fold is None and saved.get("fold", 1) != 1:
                clash.append(f"--fold 1 (the default; run.json: {saved['fold']})")
            if args.data == "synthetic" and saved.get("data_seed", args.seed) != args.seed:
                clash.append(f"--seed {args.seed} (run.json data_seed: {saved['data_seed']})")
            if clash:
                raise _fail(
                    "train",
                    f"--teacher {path}: trained on other data than this run ({', '.join(clash)}; "
                    f"{run_file}); pass a teacher trained on the same corpus and fold, or none.",
                )
        out.append((file, load_trained(file)))
    return out


def _train(args: argparse.Namespace) -> list[TrainedModel]:
    _check_data_args(args)
    _check_train_args(args)
    data = _datasets(args)
    train, val, test = data["train"], data["val"], data["test"]
    n_train = len(train)  # type: ignore[arg-type]
    given = _load_teachers(args.teacher, args)
    configs = {kind: _fit_config(kind, train, args.preset) for kind in args.model}
    if given and args.teacher_epochs is not None:
        given_cfgs = [t.teacher.config for _, t in given]
        if all(_teacher_of(c) in given_cfgs for c in configs.values()):
            raise _fail(
                "train",
                "--teacher-epochs sets stage 1, but every model of this run reuses a --teacher "
                "(no stage 1 runs); drop --teacher-epochs.",
            )
    outs = {kind: args.out / kind if len(args.model) > 1 else args.out for kind in args.model}
    finished = [
        str(d) for d in outs.values() if (d / "model.pt").exists() and not (d / "last.pt").exists()
    ]
    if args.resume and len(finished) == len(outs):  # (a run of several models resumes the rest)
        raise _fail(
            "train",
            f"--resume: {finished} hold finished runs (model.pt, no last.pt): nothing to resume, "
            "and a fresh run would overwrite them; pass another --out, or drop --resume to "
            "train again.",
        )
    used: set[Path] = set()
    teachers: dict[str, Teacher] = {}  # trained in this run, by teacher config
    results = []
    for kind in args.model:
        config = configs[kind]
        if isinstance(config, NMERConfig) and args.nmer_variant is not None:
            config = config.as_variant(args.nmer_variant)
        if isinstance(config, NMERConfig) and args.nmer_kl is not None:
            config = dataclasses.replace(config, kl_reduction=args.nmer_kl)
        if isinstance(config, NMERConfig) and args.nmer_upstream_loss:
            warnings.warn(
                "train: --nmer-upstream-loss is deprecated and sets only the release's loss and "
                "dropout; use --nmer-variant release for the released NMER as a whole.",
                DeprecationWarning,
                stacklevel=2,
            )
            config = config.upstream_loss()
        tc = _train_config(args, kind, n_train)
        teacher_cfg = _teacher_of(config)
        out = outs[kind]
        if args.resume and str(out) in finished:  # done: kept as it is, never trained again
            result = load_trained(out / "model.pt")
            if _is_main():
                print(f"train: {kind}: {out} holds a finished run (model.pt); kept, not retrained")
            if kind != "baseline" or args.noise == "none":
                teachers.setdefault(_teacher_key(config, tc), result.teacher)
            results.append(result)
            continue
        # stage 1 runs unless a --teacher or a teacher trained earlier in this run fits
        reused = _teacher_key(config, tc) in teachers or any(
            t.teacher.config == teacher_cfg for _, t in given
        )
        if _is_main():  # the recipe is never changed silently: say what runs, after the options
            print(_banner(args, kind, tc, reused=reused), flush=True)
            few = _few_steps(kind, tc, n_train, reused=reused)
            if few:
                print(few, file=sys.stderr, flush=True)
        modalities = teacher_cfg.backbone.modalities
        if kind != "baseline" and len(modalities) < 2 and args.noise == "none":
            raise _fail(
                "train",
                f"{kind} on the single modality {modalities[0]!r} has no missing conditions to "
                "learn; add --noise FAMILY (it learns clean from noisy inputs) or train "
                "--model baseline.",
            )
        key = _teacher_key(config, tc)
        teacher = teachers.get(key)
        for file, loaded in given:
            if loaded.teacher.config == teacher_cfg:
                teacher = loaded.teacher
                used.add(file)
        steps = tc.student.epochs * math.ceil(n_train / tc.student.batch_size)
        t_steps = tc.teacher.epochs * math.ceil(n_train / tc.teacher.batch_size)
        noisy = None if args.noise == "none" else _noise_pipeline(args.noise, modalities)
        baseline = kind == "baseline"
        result = train_model(
            kind,
            train,
            val,
            cfg=config,
            train_cfg=tc,
            pipeline=None if baseline else _pipeline(kind, args.noise, modalities, args.nmer_noise),
            schedule=None if baseline else _schedule(args.schedule, args.level, steps),
            teacher=teacher,
            teacher_pipeline=noisy if baseline else None,
            teacher_schedule=_schedule(args.schedule, args.level, t_steps) if baseline else None,
            val_pipeline=noisy if args.select == "noisy" else None,
            test_ds=test,
            checkpoint_dir=out,
            log_path=out / "log.jsonl",
            resume=args.resume,
        )
        if not args.keep_last:  # last.pt only resumes an interrupted run; this one finished
            (out / "last.pt").unlink(missing_ok=True)
        if not (baseline and noisy is not None):  # a clean teacher: reusable by the students
            teachers.setdefault(key, result.teacher)
        results.append(result)
        if _is_main():
            record = _data_dict(args)
            title = kind
            if isinstance(config, NMERConfig):  # which NMER made this run
                record.update(
                    nmer_variant=config.variant_name,
                    nmer_switches=config.switches(),
                    nmer_upstream_loss=bool(args.nmer_upstream_loss),
                )
                title = f"{kind} (NMER variant {config.variant_name})"
            (out / "run.json").write_text(json.dumps(record, indent=2) + "\n")
            selected = "noisy" if args.select == "noisy" else "clean"
            print(f"{title}: best epoch {result.best_epoch} (selected on {selected} validation)")
            print("validation\n" + _table(result.val_metrics))
            if result.test_metrics is not None:
                print("test\n" + _table(result.test_metrics))
            print(f"model: {out / 'model.pt'}\nlog: {out / 'log.jsonl'}", flush=True)
            warning = _at_chance(
                kind,
                result.val_metrics,
                teacher_cfg.n_classes,
                len(val),  # type: ignore[arg-type]
            )
            if warning:
                print(warning, file=sys.stderr, flush=True)
    unused = [str(f) for f, _ in given if f not in used]
    if unused:
        raise _fail(
            "train",
            f"--teacher {unused}: no model of this run has that teacher config (modalities, "
            "dims, classes and the teacher variant of the model must match).",
        )
    return results


def _is_main() -> bool:
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized() and dist.get_rank() != 0)


# -------------------------------------------------------------------------------------------
# evaluate


def _evaluate(args: argparse.Namespace) -> Any:
    from mmnoise.data import pad_collate
    from reference_models.train import predict_fn

    file = args.checkpoint / "model.pt" if args.checkpoint.is_dir() else args.checkpoint
    if not file.is_file():
        raise _fail("evaluate", f"expected a model.pt at {args.checkpoint}.")
    run_file = file.parent / "run.json"
    if run_file.is_file():  # the training run's data: fill what is unset, refuse contradictions
        saved = json.loads(run_file.read_text())
        clash = _same_data(saved, args)
        if clash:
            raise _fail(
                "evaluate",
                f"{', '.join(clash)} contradict the data the model was trained on ({run_file}); "
                "drop those options (they are read from run.json), or evaluate a model trained "
                "on that data.",
            )
        for name in _DATA_OPTIONS:
            if getattr(args, name) is None and name in saved:
                value = saved[name]
                setattr(args, name, Path(value) if name in ("root", "targets", "path") else value)
        args.data = saved["data"]
        args.data_seed = saved.get("data_seed")
    elif args.data is None:
        raise _fail("evaluate", f"no --data given and no {run_file}; pass the data options.")
    _check_data_args(args)
    trained = load_trained(file, device=args.device)
    teacher = trained.teacher.config
    modalities = teacher.backbone.modalities
    data = _datasets(args, modalities)
    dataset = data[args.split]
    if _modalities_of(dataset) != tuple(modalities):
        raise _fail(
            "evaluate",
            f"the model reads {list(modalities)} but the data has "
            f"{list(_modalities_of(dataset))}; pass the data it was trained on.",
        )
    fill = trained.train_config.eval_fill  # zeros, or NMER's fill as in its validation
    missing: Any = fill
    missing_level = None
    if isinstance(fill, str):
        from mmnoise.transforms.nmer import NMERNoise

        t = max(round(100 * trained.train_config.eval_level), 1)
        missing = NMERNoise(
            noise="impulse" if fill == "nmer_impulse" else "gaussian", intensity=(t, t)
        )
        missing_level = 1.0  # every missing modality filled at that intensity, in every cell
    grid = RobustnessGrid(
        modalities=modalities,
        families={f: functools.partial(_noise_pipeline, f) for f in args.families},
        levels=args.levels,
        seed=args.seed,
        num_classes=teacher.n_classes,
        missing_fill=missing,
        missing_level=missing_level,
    )
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=args.batch_size, shuffle=False, collate_fn=pad_collate
    )
    result = grid.evaluate(predict_fn(trained), loader, device=args.device)
    out: Path = args.out if args.out is not None else file.parent / "robustness"
    out.mkdir(parents=True, exist_ok=True)
    result.to_json(out / "robustness.json")
    record = {
        **_data_dict(args),
        "split": args.split,
        "checkpoint": str(file),
        "missing_fill": fill if isinstance(fill, str) else "zeros",
    }
    if args.data == "mmin-h5" and args.fold is None:
        record["fold"] = 1
    if getattr(args, "data_seed", None) is not None:  # the training run's synthetic corpus
        record["data_seed"] = args.data_seed
    (out / "evaluate.json").write_text(json.dumps(record, indent=2) + "\n")
    table = result.to_markdown(args.metric)
    (out / "robustness.md").write_text(table + "\n")
    print(f"{trained.kind} on the {args.split} split ({len(dataset)} utterances)")  # type: ignore[arg-type]
    print(table)
    written = [out / "robustness.json", out / "robustness.md", out / "evaluate.json"]
    if not args.no_heatmap:
        try:
            result.heatmap(out / "heatmap.png", metric=args.metric)
        except ImportError:
            raise _fail(
                "evaluate",
                f"heatmap.png needs matplotlib, which is not installed: `pip install "
                f"'mmnoise[plot]'`, or pass --no-heatmap ({written[0]} and {written[1].name} are "
                "written).",
            ) from None
        written.append(out / "heatmap.png")
    print(f"written: {', '.join(str(w) for w in written)}", flush=True)
    return result


# -------------------------------------------------------------------------------------------
# prepare


def _pairs(values: Sequence[str], flag: str) -> dict[str, str]:
    out = {}
    for v in values:
        if "=" not in v:
            raise _fail("prepare", f"expected {flag} MODALITY=VALUE, got {v!r}.")
        k, val = v.split("=", 1)
        out[k] = val
    return out


def _prepare(args: argparse.Namespace) -> Any:
    from mmnoise.datasets import prepare_mmin

    features = _pairs(args.features, "--features")
    norm = _norm_arg(args.norm, "prepare")
    try:
        config = prepare_mmin(
            {k: Path(v) for k, v in features.items()},
            args.labels,
            args.out,
            folds=args.folds,
            classes=args.classes.split(",") if args.classes else None,
            norm="trn" if norm == "auto" else norm,
            id_column=args.id_column,
            label_column=args.label_column,
            speaker_column=args.speaker_column,
            name=args.name,
        )
    except (ValueError, FileNotFoundError) as err:
        raise _fail("prepare", str(err)) from err
    print(f"wrote {args.out} ({config.folds} speaker folds, modalities {list(config.modalities)})")
    print(json.dumps(config.to_dict(), indent=2))
    return config


_COMMANDS: dict[str, Callable[[argparse.Namespace], Any]] = {
    "train": _train,
    "evaluate": _evaluate,
    "prepare": _prepare,
}


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
    threads = getattr(args, "threads", None)
    if threads is not None:
        if threads < 1:
            raise _fail(args.command, f"expected --threads >= 1, got {threads}.")
        torch.set_num_threads(threads)
    try:
        _COMMANDS[args.command](args)
    except TrainingDiverged as err:
        print(f"{args.command}: {err}", file=sys.stderr)
        return 1
    except ImportError as err:  # an optional extra (tqdm, h5py, matplotlib): one line, its name
        if "pip install" not in str(err):
            raise
        print(f"{args.command}: {_flags(str(err))}", file=sys.stderr)
        return 2
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
