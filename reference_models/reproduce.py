"""``python -m reference_models reproduce``: a paper's protocol end to end, fold by fold.

Examples::

    python -m reference_models reproduce --paper nmer --data mmin-h5 --root FEATURES \\
        --targets TARGETS --out runs/reproduce_nmer
    python -m reference_models reproduce --paper ifmmin --data synthetic --folds 1 2 3
    python -m reference_models reproduce --paper nmer --tiny     # seconds, for CI

For every fold (IEMOCAP: 10 by default) it trains **one** stage-1 teacher with the paper's
stage-1 recipe and reuses it for every student of the fold, then trains the students with the
paper preset (:func:`reference_models.train.paper_train_config`; ``--preset quick`` for 10 + 10
epochs) and evaluates each, selected on validation only, on the test split under the six MMIN
missing conditions (plus their pooled ``total`` and full modality):

* ``--paper mmin`` / ``--paper ifmmin``: the model with missing modalities as zeros (MMIN,
  ACL 2021; IF-MMIN, ICASSP 2023), MMIN's fusion teacher / IF-MMIN's invariant teacher.
* ``--paper nmer``: NMER (arXiv 2311.16114) trained and tested with its noise scheduler at each
  intensity T in ``--intensities`` (20 ... 100) and each noise type in ``--noise-types``
  (Gaussian, impulse), for each NMER variant of ``--nmer-variant`` (``default``, ``release``,
  ``mrcn1`` or ``all``: :meth:`reference_models.nmer.NMERConfig.variant`), and, as the NMER
  authors re-ran them, MMIN and IF-MMIN with the same noised missing modalities
  (``--no-baselines`` skips them); all students of a fold share NMER's stage-1 teacher (the
  authors switched MMIN's teacher to the invariant one as well).

Results: ``OUT/fold<k>/<run>/result.json`` per fold and run (val / test metrics, best epoch,
seconds); a run whose ``result.json`` exists is skipped, so an interrupted command resumes
where it stopped (mid-run it resumes from ``last.pt``; checkpoints are deleted when a run
finishes unless ``--keep-checkpoints``). After every fold ``OUT/results.md`` (the papers' table
layout: WA / UA / F1 per condition, mean and std over the finished folds; NMER also the WA vs
intensity table), ``OUT/results.json`` and, for NMER, ``OUT/intensity.png`` are rewritten.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch.utils.data import Dataset

from mmnoise.extras import import_extra
from mmnoise.presence import condition_name, presence_patterns
from mmnoise.transforms.missing import DropModalities
from reference_models.ifmmin import IFMMINConfig
from reference_models.mmin import MMINConfig
from reference_models.nmer import VARIANTS, NMERConfig
from reference_models.teacher import BackboneConfig, Teacher, TeacherConfig
from reference_models.train import (
    Fill,
    ModelConfig,
    ModelKind,
    TrainConfig,
    paper_train_config,
    train_model,
)

__all__ = ["TINY", "ReproduceConfig", "Run", "build_parser", "main", "plan", "reproduce"]

Paper = Literal["nmer", "ifmmin", "mmin"]
NoiseType = Literal["gaussian", "impulse"]
PAPERS: tuple[Paper, ...] = ("nmer", "ifmmin", "mmin")
MODALITIES = ("audio", "visual", "text")
_FORMAT = "reference_models.reproduce/1"


@dataclass(frozen=True, kw_only=True)
class ReproduceConfig:
    """What ``reproduce`` runs (the CLI flags, one field each).

    Example:
        >>> ReproduceConfig(paper="nmer").folds
        (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
    """

    # which paper's protocol
    paper: Paper
    # "mmin-h5" (the upstream IEMOCAP feature layout) or "synthetic" (SyntheticMER)
    data: Literal["mmin-h5", "synthetic"] = "synthetic"
    # mmin-h5: the feature root (A/, V/, L/) and the target root ({fold}/*.npy; None: the
    # root's corpus.json "targets")
    root: str | None = None
    targets: str | None = None
    # the folds to run (IEMOCAP: 1..10); a synthetic fold k is a corpus drawn with seed k
    folds: tuple[int, ...] = tuple(range(1, 11))
    # synthetic: training items per fold (val and test: an eighth each, at least 8; IEMOCAP
    # size: 4400); None = SyntheticMER's defaults (2000 / 400 / 400)
    size: int | None = None
    # "paper": the IEMOCAP scripts' recipe; "quick": 10 + 10 epochs per stage, batch 64
    preset: Literal["paper", "quick"] = "paper"
    # override the preset's epochs of stage 1 / of every student (half of them decay the LR)
    teacher_epochs: int | None = None
    epochs: int | None = None
    # override the preset's learning rate of both stages (small runs; the papers: 2e-4)
    lr: float | None = None
    # NMER: noise intensities T and noise types; noisy MMIN / IF-MMIN baselines
    intensities: tuple[int, ...] = (20, 40, 60, 80, 100)
    noise_types: tuple[NoiseType, ...] = ("gaussian", "impulse")
    baselines: bool = True
    # NMER variants to run ("default", "release", "mrcn1": NMERConfig.variant)
    nmer_variants: tuple[str, ...] = ("default",)
    # NMER's KL term on top of the variant's ("batchmean" x 0.1, or upstream's "sum" x 1;
    # None: the variant's own)
    nmer_kl: Literal["batchmean", "sum"] | None = None
    # deprecated (--nmer-upstream-loss): the release's loss and dropout on top of each variant
    # (NMERConfig.upstream_loss); the whole release is the variant "release"
    nmer_upstream_loss: bool = False
    seed: int = 0
    out: str = "runs/reproduce"
    device: str = "cpu"
    keep_checkpoints: bool = False
    # tiny models and epochs (set by --tiny)
    tiny: bool = False
    progress: bool | None = None

    def __post_init__(self) -> None:
        who = "ReproduceConfig"
        if self.paper not in PAPERS:
            raise ValueError(f"{who}: expected paper in {PAPERS}, got {self.paper!r}.")
        if self.data == "mmin-h5" and self.root is None:
            raise ValueError(
                f"{who}: --data mmin-h5 needs --root FEATURES (and --targets TARGETS unless the "
                "root's corpus.json names them)."
            )
        if self.lr is not None and not 0.0 < self.lr < float("inf"):
            raise ValueError(f"{who}: expected lr > 0, got {self.lr!r}.")
        for name in ("teacher_epochs", "epochs"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{who}: expected {name} >= 1, got {value}.")
        if not self.folds or any(k < 1 for k in self.folds):
            raise ValueError(f"{who}: expected folds as 1-based numbers, got {self.folds!r}.")
        if not self.intensities or any(not 1 <= t <= 100 for t in self.intensities):
            raise ValueError(
                f"{who}: expected intensities in 1..100 (NMER plots 20..100), got "
                f"{self.intensities!r}."
            )
        odd = [v for v in self.nmer_variants if v not in VARIANTS]
        if odd or not self.nmer_variants or len(set(self.nmer_variants)) < len(self.nmer_variants):
            raise ValueError(
                f"{who}: expected distinct NMER variants among {tuple(VARIANTS)}, got "
                f"{self.nmer_variants!r}."
            )
        bad = [n for n in self.noise_types if n not in ("gaussian", "impulse")]
        if bad or not self.noise_types:
            raise ValueError(
                f"{who}: expected noise types among gaussian, impulse; got {self.noise_types!r}."
            )


#: ``--tiny``: two synthetic folds, tiny models, one epoch per stage (numbers meaningless).
TINY = dict(folds=(1, 2), intensities=(20, 100), size=48, tiny=True)


#: ``--tiny``: NMER's sizes (the other fields are the variant's).
TINY_NMER: dict[str, Any] = dict(vae_layers=1, vae_heads=2, vae_feedforward=16, latent_size=4,
                                 decoder_hidden=16, cls_layers=(16,), init="default")  # fmt: skip


@dataclass(frozen=True)
class Run:
    """One student run of a fold: model (NMER: and its variant), missing-modality fill, T.

    Example:
        >>> Run("nmer", "impulse", 40, variant="release").name
        'nmer_release-impulse-T40'
    """

    kind: ModelKind
    noise: Literal["zero", "gaussian", "impulse"]
    intensity: int | None = None
    # NMER's variant (None for the other models)
    variant: str | None = None

    @property
    def model(self) -> str:
        """The model and, for NMER, its variant: ``nmer_release``, ``mmin``."""
        return self.kind if self.variant is None else f"{self.kind}_{self.variant}"

    @property
    def name(self) -> str:
        if self.intensity is None:
            return self.model
        return f"{self.model}-{self.noise}-T{self.intensity}"

    @property
    def fill(self) -> Fill:
        """The ``DropModalities`` / ``evaluate`` fill."""
        if self.noise == "zero":
            return 0.0
        return "nmer" if self.noise == "gaussian" else "nmer_impulse"

    @property
    def level(self) -> float:
        """The level that gives intensity T (``NMERNoise``: T = round(100 * level))."""
        return 1.0 if self.intensity is None else self.intensity / 100.0


def plan(rc: ReproduceConfig) -> list[Run]:
    """Return the student runs of one fold.

    Example:
        >>> [r.name for r in plan(ReproduceConfig(paper="nmer", intensities=(20,),
        ...                                       noise_types=("gaussian",)))]
        ['nmer_default-gaussian-T20', 'mmin-gaussian-T20', 'ifmmin-gaussian-T20']
    """
    if rc.paper != "nmer":
        return [Run(rc.paper, "zero")]
    return [Run(k, n, t, v) for n in rc.noise_types for t in rc.intensities for k, v in _models(rc)]


def _models(rc: ReproduceConfig) -> list[tuple[ModelKind, str | None]]:
    """The (kind, NMER variant) pairs of an NMER protocol run, NMER's variants first."""
    out: list[tuple[ModelKind, str | None]] = [("nmer", v) for v in rc.nmer_variants]
    if rc.baselines:
        out += [("mmin", None), ("ifmmin", None)]
    return out


# ---------------------------------------------------------------------------------------------
# data and configs


class _Items(Dataset[Any]):
    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Any:
        return self.items[index]


def _fold_data(rc: ReproduceConfig, fold: int) -> tuple[Dataset[Any], ...]:
    if rc.data == "mmin-h5":
        from mmnoise.datasets import MMINFeatures

        # load_fold also checks that every validation / test class occurs in training
        splits = MMINFeatures.load_fold(rc.root, rc.targets, fold=fold)  # type: ignore[arg-type]
        return tuple(splits[s] for s in ("trn", "val", "tst"))
    from mmnoise.datasets import SyntheticMER

    kw: dict[str, Any] = {"seed": rc.seed * 1000 + fold}
    if rc.tiny:
        kw.update(
            dims=dict(zip(MODALITIES, (6, 5, 7), strict=True)),
            max_len=dict(zip(MODALITIES, (6, 6, 5), strict=True)),
        )
    # an IEMOCAP fold: ~4400 training utterances, one speaker (~550) each for val and test
    sizes = (rc.size, rc.size // 8, rc.size // 8) if rc.size else (None, None, None)
    out = []
    for split, n in zip(("train", "val", "test"), sizes, strict=True):
        base = SyntheticMER(split, size=max(n, 8) if n is not None else None, **kw)
        out.append(_Items([base[i] for i in range(len(base))]))  # generated once, reused
    return tuple(out)


def _num_classes(dataset: Any) -> int:
    if hasattr(dataset, "num_classes"):
        return int(dataset.num_classes)
    return int(max(int(dataset[i]["label"]) for i in range(len(dataset)))) + 1


def _teacher_config(rc: ReproduceConfig, train: Dataset[Any]) -> TeacherConfig:
    """The paper's stage-1 teacher, input sizes and classes read from the data."""
    first = train[0]
    dims = tuple(int(first[m].shape[-1]) for m in MODALITIES)
    backbone = BackboneConfig(input_dims=dims)
    extra: dict[str, Any] = {}
    if rc.tiny:
        backbone = BackboneConfig(
            input_dims=dims, embd_size=8, text_kernel_sizes=(2, 3), text_channels=8
        )
        extra = {"cls_layers": (16,), "init": "default"}
    teacher = TeacherConfig(backbone=backbone, n_classes=_num_classes(train), **extra)
    if rc.paper == "mmin":
        return teacher
    if rc.paper == "ifmmin":
        return dataclasses.replace(teacher, invariant=True)
    return dataclasses.replace(
        teacher, invariant=True, separate_invariant_encoders=True, cls_dropout=0.2
    )


def _student_config(rc: ReproduceConfig, run: Run, teacher: TeacherConfig) -> ModelConfig:
    tiny: dict[str, Any] = {}
    kind = run.kind
    if kind == "nmer":
        if rc.tiny:
            tiny = dict(TINY_NMER)
        return _nmer_config(rc, run.variant or "default", teacher=teacher, **tiny)
    if rc.tiny:
        tiny = {"ae_layers": (16, 8, 4), "n_blocks": 2, "cls_layers": (16,), "init": "default"}
    if kind == "mmin":
        return MMINConfig(teacher=teacher, **tiny)
    return IFMMINConfig(teacher=teacher, **tiny)


def _nmer_config(rc: ReproduceConfig, variant: str, **kw: Any) -> NMERConfig:
    """NMER's config of ``variant``, with ``--nmer-kl`` / ``--nmer-upstream-loss`` on top."""
    config = NMERConfig.variant(variant, **kw)
    if rc.nmer_kl is not None:
        config = dataclasses.replace(config, kl_reduction=rc.nmer_kl)
    if rc.nmer_upstream_loss:
        config = config.upstream_loss()
    return config


def _nmer_record(config: ModelConfig) -> dict[str, Any]:
    """Which NMER made a result: its variant name (or "custom") and every switch."""
    if not isinstance(config, NMERConfig):
        return {}
    return {
        "nmer_variant": config.variant_name,
        "nmer_switches": config.switches(),
        "nmer_kl_scale": config.kl_scale,  # kl_weight None means another scale per release
    }


def _check_recorded(rc: ReproduceConfig, run: Run, path: Path) -> None:
    """Refuse to reuse a finished NMER result that another NMER configuration made."""
    if run.kind != "nmer":
        return
    config = _nmer_config(rc, run.variant or "default")
    want = {**config.switches(), "kl_scale": config.kl_scale}
    saved = json.loads(path.read_text())
    got = {**saved.get("nmer_switches", {}), "kl_scale": saved.get("nmer_kl_scale")}
    if got != want:
        raise ValueError(
            f"reproduce: {path} was made by NMER switches {got}, this command asks for {want} "
            "(another --nmer-kl / --nmer-upstream-loss, or a package default that changed); "
            "pass another --out, or delete that run's folder to redo it."
        )


def _train_config(rc: ReproduceConfig, kind: ModelKind, run: Run | None) -> TrainConfig:
    tc = paper_train_config(kind, seed=rc.seed, device=rc.device, progress=rc.progress)
    if rc.preset == "quick" or rc.tiny:
        n, batch = (1, 16) if rc.tiny else (10, 64)
        quick = {"epochs": n, "decay_epochs": n // 2, "batch_size": batch}
        tc = dataclasses.replace(
            tc,
            teacher=dataclasses.replace(tc.teacher, **quick),
            student=dataclasses.replace(tc.student, **quick),
        )
    for stage, override in (("teacher", rc.teacher_epochs), ("student", rc.epochs)):
        cfg = getattr(tc, stage)
        if override is not None:
            cfg = dataclasses.replace(cfg, epochs=override, decay_epochs=override // 2)
        if rc.lr is not None:
            cfg = dataclasses.replace(cfg, lr=rc.lr)
        tc = dataclasses.replace(tc, **{stage: cfg})
    if run is None:
        return tc
    return dataclasses.replace(
        tc, level=run.level, level_mode="fixed", eval_fill=run.fill, eval_level=run.level
    )


# ---------------------------------------------------------------------------------------------
# one fold


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(path)


def _teacher(rc: ReproduceConfig, fold_dir: Path, data: tuple[Dataset[Any], ...]) -> Teacher:
    """Train the fold's stage-1 teacher once (or load it) and return it."""
    train, val, test = data
    cfg = _teacher_config(rc, train)
    path = fold_dir / "teacher" / "teacher.pt"
    teacher = Teacher(cfg)
    if path.exists():
        teacher.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return teacher.to(rc.device).eval()
    tic = time.perf_counter()
    # the teacher stage of the paper's recipe (NMER / IF-MMIN: batch 64), alone
    tc = _train_config(rc, rc.paper, None)
    result = train_model(
        "baseline",
        train,
        val,
        cfg=cfg,
        train_cfg=tc,
        test_ds=test,
        checkpoint_dir=fold_dir / "teacher" / "ckpt",
        log_path=fold_dir / "teacher" / "log.jsonl",
        resume=True,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(result.model.state_dict(), path)
    _write_json(
        fold_dir / "teacher" / "result.json",
        {
            "best_epoch": result.best_epoch,
            "val": result.val_metrics,
            "test": result.test_metrics,
            "time_s": time.perf_counter() - tic,
        },
    )
    if not rc.keep_checkpoints:
        shutil.rmtree(fold_dir / "teacher" / "ckpt", ignore_errors=True)
    return result.model.eval()  # type: ignore[return-value]


def _run(
    rc: ReproduceConfig,
    run: Run,
    fold_dir: Path,
    teacher: Teacher,
    data: tuple[Dataset[Any], ...],
) -> None:
    train, val, test = data
    run_dir = fold_dir / run.name
    tic = time.perf_counter()
    cfg = _student_config(rc, run, teacher.config)
    result = train_model(
        run.kind,
        train,
        val,
        cfg=cfg,
        train_cfg=_train_config(rc, run.kind, run),
        pipeline=DropModalities(list(MODALITIES), patterns="mmin", fill=run.fill),
        teacher=teacher,
        test_ds=test,
        checkpoint_dir=run_dir / "ckpt",
        log_path=run_dir / "log.jsonl",
        resume=True,
    )
    _write_json(
        run_dir / "result.json",
        {
            "run": dataclasses.asdict(run),
            **_nmer_record(cfg),
            "best_epoch": result.best_epoch,
            "val": result.val_metrics,
            "test": result.test_metrics,
            "time_s": time.perf_counter() - tic,
        },
    )
    if not rc.keep_checkpoints:
        shutil.rmtree(run_dir / "ckpt", ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# tables


def _conditions() -> list[str]:
    return ["total", *(condition_name(p) for p in presence_patterns(MODALITIES)), "full"]


def _mean_std(values: list[float]) -> dict[str, float]:
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return {"mean": mean, "std": math.sqrt(var), "n": n}


def _load_results(out: Path, rc: ReproduceConfig) -> dict[str, dict[str, Any]]:
    """{fold: {run name: result}} of the finished runs (teacher under ``teacher``)."""
    found: dict[str, dict[str, Any]] = {}
    for fold in rc.folds:
        runs: dict[str, Any] = {}
        for name in ["teacher", *(r.name for r in plan(rc))]:
            path = out / f"fold{fold}" / name / "result.json"
            if path.exists():
                runs[name] = json.loads(path.read_text())
        if runs:
            found[str(fold)] = runs
    return found


def summarise(results: dict[str, dict[str, Any]], rc: ReproduceConfig) -> dict[str, Any]:
    """{run: {condition: {metric: {mean, std, n}}}} over the folds that finished the run."""
    summary: dict[str, Any] = {}
    for name in ["teacher", *(r.name for r in plan(rc))]:
        per_fold = [f[name]["test"] for f in results.values() if name in f and f[name]["test"]]
        if not per_fold:
            continue
        summary[name] = {
            cond: {
                metric: _mean_std([float(m[cond][metric]) for m in per_fold])
                for metric in ("wa", "ua", "f1")
            }
            for cond in _conditions()
            if all(cond in m for m in per_fold)
        }
    return summary


def _machine() -> str:
    """The CPU model, torch version and intra-op threads (the numbers' machine)."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    n = torch.get_num_threads()
    return f"{cpu}, torch {torch.__version__}, {n} thread{'' if n == 1 else 's'}"


def _cell(stat: dict[str, float]) -> str:
    return f"{100 * stat['mean']:.2f} ± {100 * stat['std']:.2f}"


def to_markdown(summary: dict[str, Any], rc: ReproduceConfig, *, seconds: float | None) -> str:
    """The papers' layout: per run, WA / UA / F1 (%) per condition, mean ± std over folds."""
    where = f"{rc.data}" + (f" ({rc.root})" if rc.root else "")
    lines = [
        f"# Reproduction: {rc.paper.upper()} protocol on {where}",
        "",
        f"Folds {list(rc.folds)}, preset {'tiny' if rc.tiny else rc.preset}"
        + (f", teacher epochs {rc.teacher_epochs}" if rc.teacher_epochs else "")
        + (f", student epochs {rc.epochs}" if rc.epochs else "")
        + (f", lr {rc.lr:g}" if rc.lr else "")
        + (f", {rc.size} training items per fold" if rc.size and rc.data == "synthetic" else "")
        + f", seed {rc.seed}, device {rc.device} ({_machine()})"
        + (f", {seconds:.0f} s in this call" if seconds is not None else "")
        + ". Test split, model selected on validation UA; mean ± std (sample std) over the "
        "folds that finished (n). `total` pools the six missing conditions (upstream's "
        "'total'), `full` is the full-modality test.",
        "",
    ]
    if rc.paper == "nmer":
        lines += _variant_table(rc)
        lines += ["## WA (%) of the pooled missing conditions vs NMER noise intensity T", ""]
        ts = list(rc.intensities)
        lines.append("| model | noise | " + " | ".join(f"T={t}" for t in ts) + " |")
        lines.append("|---|---|" + "---|" * len(ts))
        for noise in rc.noise_types:
            for kind, variant in _models(rc):
                cells = []
                for t in ts:
                    res = summary.get(Run(kind, noise, t, variant).name)
                    cells.append(_cell(res["total"]["wa"]) if res else "–")
                label = kind if variant is None else f"{kind} ({variant})"
                lines.append(f"| {label} | {noise} | " + " | ".join(cells) + " |")
        lines.append("")
    variants = {r.name: r.variant for r in plan(rc) if r.variant is not None}
    for name, conds in summary.items():
        n = next(iter(conds.values()))["wa"]["n"] if conds else 0
        title = "stage-1 teacher (full modality only)" if name == "teacher" else name
        if name in variants:
            title += f", NMER variant {_nmer_config(rc, variants[name]).variant_name}"
        lines += [f"## {title} (n = {n})", "", "| condition | WA | UA | F1 |", "|---|---|---|---|"]
        for cond, m in conds.items():
            lines.append(f"| {cond} | {_cell(m['wa'])} | {_cell(m['ua'])} | {_cell(m['f1'])} |")
        lines.append("")
    return "\n".join(lines)


def _variant_table(rc: ReproduceConfig) -> list[str]:
    """The switches of each NMER variant of the run (results.md header)."""
    keys = list(VARIANTS["default"])
    lines = [
        "## NMER variants of this run",
        "",
        "| variant | " + " | ".join(k.replace("_", " ") for k in keys) + " | KL scale |",
        "|---|" + "---|" * (len(keys) + 1),
    ]
    for variant in rc.nmer_variants:
        cfg = _nmer_config(rc, variant)
        cells = [str(v) for v in cfg.switches().values()]
        cells.append(f"{cfg.kl_scale:g}")  # kl_weight None: the reduction's own weight
        lines.append(f"| {variant} ({cfg.variant_name}) | " + " | ".join(cells) + " |")
    return [*lines, ""]


def save_intensity_plot(summary: dict[str, Any], rc: ReproduceConfig, path: Path) -> Path | None:
    """Plot WA (total) vs intensity per model and noise type (NMER's figure); needs matplotlib."""
    try:
        Figure = import_extra("matplotlib.figure", who=f"reproduce: drawing {path.name}",
                              extra="plot").Figure  # fmt: skip
    except ImportError as err:  # matplotlib is the optional `plot` extra: say what is skipped
        print(f"{err} The plot is skipped.")
        return None
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for noise in rc.noise_types:
        for kind, variant in _models(rc):
            pts = [
                (t, summary[Run(kind, noise, t, variant).name]["total"]["wa"])
                for t in rc.intensities
                if Run(kind, noise, t, variant).name in summary
            ]
            if not pts:
                continue
            ax.errorbar(
                [t for t, _ in pts],
                [100 * s["mean"] for _, s in pts],
                yerr=[100 * s["std"] for _, s in pts],
                marker="o",
                capsize=3,
                linestyle="-" if noise == "gaussian" else "--",
                label=f"{Run(kind, noise, None, variant).model} ({noise})",
            )
    ax.set_xlabel("noise intensity T (steps)")
    ax.set_ylabel("WA (%), six missing conditions pooled")
    ax.set_title(f"{rc.data}: WA vs NMER noise intensity")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def _report(out: Path, rc: ReproduceConfig, seconds: float | None) -> dict[str, Any]:
    results = _load_results(out, rc)
    summary = summarise(results, rc)
    report = {
        "format": _FORMAT,
        "config": dataclasses.asdict(rc),
        "nmer_variants": {
            v: _nmer_config(rc, v).switches() for v in rc.nmer_variants if rc.paper == "nmer"
        },
        "folds": results,
        "summary": summary,
    }
    _write_json(out / "results.json", report)
    (out / "results.md").write_text(to_markdown(summary, rc, seconds=seconds))
    if rc.paper == "nmer" and summary:
        save_intensity_plot(summary, rc, out / "intensity.png")
    return report


def corpus_folds(root: str) -> int | None:
    """The number of folds the corpus at ``root`` declares in its ``corpus.json`` (None: none)."""
    from mmnoise.datasets.corpus import CorpusConfig

    return CorpusConfig.find(root).folds


def _check_modalities(root: str) -> None:
    """The papers' protocol (six missing conditions) needs audio, visual and text."""
    from mmnoise.datasets.corpus import CorpusConfig

    found = tuple(CorpusConfig.find(root).modalities)
    if set(found) != set(MODALITIES):
        raise ValueError(
            f"reproduce: the papers' protocol needs the three modalities {list(MODALITIES)} "
            f"(its six missing conditions), got {list(found)} from the corpus at {root}; "
            "train and score a corpus with other modalities with `python -m reference_models "
            "train` and `evaluate`, which cover the conditions of the modalities that exist."
        )


def reproduce(rc: ReproduceConfig) -> dict[str, Any]:
    """Run (or resume) the protocol and write the tables; return the ``results.json`` dict."""
    if rc.data == "mmin-h5" and rc.root is not None:
        _check_modalities(rc.root)
        n = corpus_folds(rc.root)
        if n is not None and max(rc.folds) > n:
            raise ValueError(
                f"reproduce: the corpus at {rc.root} has {n} folds (corpus.json), got folds "
                f"{list(rc.folds)}; pass --folds within 1..{n} or leave it out (every fold)."
            )
    out = Path(rc.out)
    out.mkdir(parents=True, exist_ok=True)
    tic = time.perf_counter()
    runs = plan(rc)
    for fold in rc.folds:
        fold_dir = out / f"fold{fold}"
        for r in runs:
            if (fold_dir / r.name / "result.json").exists():
                _check_recorded(rc, r, fold_dir / r.name / "result.json")
        todo = [r for r in runs if not (fold_dir / r.name / "result.json").exists()]
        if not todo and (fold_dir / "teacher" / "result.json").exists():
            print(f"fold {fold}: done, skipped", flush=True)
            continue
        f_tic = time.perf_counter()
        data = _fold_data(rc, fold)
        teacher = _teacher(rc, fold_dir, data)
        for run in todo:
            r_tic = time.perf_counter()
            _run(rc, run, fold_dir, teacher, data)
            print(f"fold {fold}: {run.name} in {time.perf_counter() - r_tic:.1f} s", flush=True)
        print(f"fold {fold}: {time.perf_counter() - f_tic:.1f} s", flush=True)
        _report(out, rc, time.perf_counter() - tic)
    report = _report(out, rc, time.perf_counter() - tic)
    print(f"tables: {out / 'results.md'}\nJSON:   {out / 'results.json'}", flush=True)
    return report


def build_parser() -> argparse.ArgumentParser:
    """Return the ``python -m reference_models reproduce`` argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m reference_models reproduce",
        description="Run a paper's protocol (every fold, six missing conditions, NMER's "
        "intensity sweep) and write its tables; resumable fold by fold.",
    )
    p.add_argument("--paper", choices=PAPERS, required=True, help="whose protocol")
    p.add_argument("--data", choices=("mmin-h5", "synthetic"), default="synthetic")
    p.add_argument("--root", help="mmin-h5: the feature root (A/, V/, L/)")
    p.add_argument("--targets", help="mmin-h5: the target root ({fold}/*.npy)")
    p.add_argument(
        "--folds",
        type=int,
        nargs="+",
        help="folds to run (default: every fold, corpus.json's count; 1..10 without one)",
    )
    p.add_argument("--size", type=int, help="synthetic: training items per fold")
    p.add_argument("--preset", choices=("paper", "quick"), default="paper")
    p.add_argument("--teacher-epochs", type=int, help="stage-1 epochs (default: the preset's)")
    p.add_argument("--epochs", type=int, help="stage-2 epochs of every student (the preset's)")
    p.add_argument("--lr", type=float, help="learning rate of both stages (the preset's: 2e-4)")
    p.add_argument("--intensities", type=int, nargs="+", help="NMER: T values (20 .. 100)")
    p.add_argument(
        "--noise-types", nargs="+", choices=("gaussian", "impulse"), help="NMER: noise types"
    )
    p.add_argument(
        "--no-baselines", action="store_true", help="NMER: skip the noisy MMIN / IF-MMIN runs"
    )
    p.add_argument(
        "--nmer-variant",
        nargs="+",
        choices=(*VARIANTS, "all"),
        help="NMER: the variants to run (default: default; all = default release mrcn1)",
    )
    p.add_argument(
        "--nmer-kl",
        choices=("batchmean", "sum"),
        help="NMER: the KL term on top of each variant's (default: the variant's own)",
    )
    p.add_argument(
        "--nmer-upstream-loss",
        action="store_true",
        help="deprecated, use --nmer-variant release: the release's loss and dropout on top "
        "of each variant (NMERConfig.upstream_loss())",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output folder (default runs/reproduce_<paper>)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--keep-checkpoints", action="store_true")
    p.add_argument("--tiny", action="store_true", help="two tiny synthetic folds (CI)")
    p.add_argument("--threads", type=int, help="torch intra-op threads")
    p.add_argument("--progress", action="store_true", default=None)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    kw: dict[str, Any] = dict(TINY) if args.tiny else {}
    for name in ("folds", "intensities", "noise_types"):
        if getattr(args, name):
            kw[name] = tuple(getattr(args, name))
    if "folds" not in kw and args.data == "mmin-h5" and args.root is not None:
        try:  # every fold of the corpus by default (IEMOCAP, without a corpus.json: 10)
            n = corpus_folds(args.root)
        except (FileNotFoundError, ValueError) as err:
            print(_prefixed(err), file=sys.stderr)
            return 2
        if n is not None:
            kw["folds"] = tuple(range(1, n + 1))
    for name in ("size", "teacher_epochs", "epochs", "lr"):
        if getattr(args, name) is not None:
            kw[name] = getattr(args, name)
    if args.nmer_variant:
        kw["nmer_variants"] = (
            tuple(VARIANTS) if "all" in args.nmer_variant else tuple(args.nmer_variant)
        )
    if args.nmer_upstream_loss:
        warnings.warn(
            "reproduce: --nmer-upstream-loss is deprecated; it sets only the release's loss and "
            "dropout on each variant (the results record it). Use --nmer-variant release for the "
            "released NMER as a whole.",
            DeprecationWarning,
            stacklevel=2,
        )
    if args.paper != "nmer" and (args.nmer_variant or args.nmer_kl or args.nmer_upstream_loss):
        print(
            "reproduce: --nmer-variant, --nmer-kl and --nmer-upstream-loss apply to --paper "
            f"nmer, got --paper {args.paper}; drop them.",
            file=sys.stderr,
        )
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        rc = ReproduceConfig(
            paper=args.paper,
            data="synthetic" if args.tiny else args.data,
            root=args.root,
            targets=args.targets,
            preset=args.preset,
            baselines=not args.no_baselines,
            nmer_kl=args.nmer_kl,
            nmer_upstream_loss=args.nmer_upstream_loss,
            seed=args.seed,
            out=args.out or f"runs/reproduce_{args.paper}",
            device=args.device,
            keep_checkpoints=args.keep_checkpoints,
            progress=args.progress,
            **kw,
        )
        reproduce(rc)
    except ValueError as err:
        print(_prefixed(err), file=sys.stderr)
        return 2
    return 0


def _prefixed(err: Exception) -> str:
    """The error for the terminal, named once (most messages already start "reproduce: ")."""
    text = str(err)
    return text if text.startswith("reproduce:") else f"reproduce: {text}"


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
