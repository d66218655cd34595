"""Two-stage training and evaluation of the reference models (beside them, not inside).

The recipe of the upstream code (AIM3-RUC/MMIN, ZhuoYulang/IF-MMIN, WooyoohL/Noise-robust_MER),
with its bugs fixed:

1. **Stage 1**: a full-modality teacher (``reference_models.teacher.Teacher``) on clean data.
2. **Stage 2**: the student (MMIN, IF-MMIN or NMER) is initialised from the teacher's encoders
   and trained on noisy / missing inputs from an ``mmnoise`` pipeline driven by a schedule,
   while the frozen teacher provides the targets on the clean batch.

Each stage uses Adam, the upstream "linear" LR policy (constant, then a linear decay over the
last ``decay_epochs``), per-network gradient clipping, and selects its best epoch on the
**validation** set only (upstream selects on test with ``--verbose``). Validation of a student
follows the MMIN protocol: every utterance under each of the six missing conditions, pooled
("total") and per condition, plus full-modality; a condition is realised with
``mmnoise.transforms.DropModalities`` (zeros, or NMER's noised copy). A student's epoch is
selected on the pooled missing conditions (upstream), or on the full condition or the mean of
the two (``TrainConfig.student_select``).

Reproducibility: model initialisation, dropout, shuffling and noise are all derived from the
seed (``mmnoise.rng.derive_seed``): the global torch RNG is re-seeded at the start of every
epoch from (seed, stage, epoch, rank), the shuffling from (seed, stage, epoch) and the noise of
optimiser step s from (seed, stage, rank, s) through ``mmnoise.data.BatchNoise``. A checkpoint
(model, optimiser, LR scheduler, stateful schedule, best epoch, history, step counter) written
after every epoch therefore resumes to the identical result. Under ``torchrun`` the loop runs
DDP (gloo on CPU, NCCL on CUDA); every rank evaluates the whole validation set, so all ranks
select the same epoch, and only rank 0 writes logs and checkpoints.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from mmnoise.data import BatchNoise, pad_collate
from mmnoise.presence import condition_name, presence_patterns
from mmnoise.rng import derive_seed, make_generator
from mmnoise.schedules import LevelMode, sample_levels
from mmnoise.transforms.missing import DropModalities
from reference_models import _checks, ifmmin, mmin, nmer
from reference_models.ifmmin import IFMMIN, IFMMINConfig
from reference_models.metrics import metrics_by_condition
from reference_models.mmin import MMIN, MMINConfig
from reference_models.nmer import NMER, NMERConfig
from reference_models.teacher import Teacher, TeacherConfig, teacher_loss
from reference_models.teacher.model import Backbone

__all__ = [
    "KINDS",
    "ModelKind",
    "StageConfig",
    "TrainConfig",
    "TrainedModel",
    "TrainingDiverged",
    "default_pipeline",
    "evaluate",
    "load_trained",
    "model_config",
    "paper_train_config",
    "predict_fn",
    "train_model",
]

ModelKind = Literal["baseline", "mmin", "ifmmin", "nmer"]
KINDS: tuple[ModelKind, ...] = ("baseline", "mmin", "ifmmin", "nmer")
ModelConfig: TypeAlias = TeacherConfig | MMINConfig | IFMMINConfig | NMERConfig
Pipeline: TypeAlias = Callable[..., Mapping[str, Any]]
Fill: TypeAlias = float | Literal["nmer", "nmer_impulse", "noise"]

_CONFIG_CLASS: dict[str, type] = {
    "baseline": TeacherConfig,
    "mmin": MMINConfig,
    "ifmmin": IFMMINConfig,
    "nmer": NMERConfig,
}
_STUDENT: dict[
    str, tuple[type[nn.Module], Callable[..., Any], Callable[..., dict[str, Tensor]]]
] = {
    "mmin": (MMIN, mmin.teacher_targets, mmin.mmin_loss),
    "ifmmin": (IFMMIN, ifmmin.teacher_targets, ifmmin.ifmmin_loss),
    "nmer": (NMER, nmer.teacher_targets, nmer.nmer_loss),
}
_STAGES = ("teacher", "student")
# derive_seed stream of the validation noise (the conditions use 0 .. 2^M - 1)
_NOISE_STREAM = 1_000_003
_CHECKPOINT_FORMAT = 1


class TrainingDiverged(RuntimeError):
    """A training loss became NaN / Inf or grew by orders of magnitude (see ``TrainConfig``).

    Raised by :func:`train_model` after the epoch whose mean loss diverged; that epoch is
    neither logged nor checkpointed, so ``last.pt`` holds the last sound epoch.

    Example:
        >>> issubclass(TrainingDiverged, RuntimeError)
        True
    """


@dataclass(frozen=True, kw_only=True)
class StageConfig:
    """Optimisation of one stage (as upstream AIM3-RUC/MMIN and its copies).

    Example:
        >>> [round(StageConfig(epochs=4, decay_epochs=2).lr_factor(e), 4) for e in range(4)]
        [1.0, 1.0, 0.6667, 0.3333]
    """

    # total epochs = upstream niter + niter_decay
    epochs: int = 20
    # the last decay_epochs use a linearly decaying LR (upstream niter_decay)
    decay_epochs: int = 10
    # examples per optimiser step (per process under torchrun)
    batch_size: int = 128
    # Adam learning rate and beta1 (stage 1 scripts: 0.9; stage 2: the 0.5 default)
    lr: float = 2e-4
    beta1: float = 0.9
    # Adam weight decay (upstream 0; its stage-2 flag is silently ignored)
    weight_decay: float = 0.0
    # max L2 norm of each network's gradient (stage 1: 0.5, stage 2: 1.0); 0 disables
    grad_clip: float = 0.5

    def __post_init__(self) -> None:
        who = "StageConfig"
        _checks.positive_int(who, "epochs", self.epochs)
        if (
            isinstance(self.decay_epochs, bool)
            or not isinstance(self.decay_epochs, int)
            or not (0 <= self.decay_epochs <= self.epochs)
        ):
            raise ValueError(
                f"{who}: expected 0 <= decay_epochs <= epochs ({self.epochs}), got "
                f"{self.decay_epochs!r}."
            )
        _checks.positive_int(who, "batch_size", self.batch_size)
        if not self.lr > 0:
            raise ValueError(f"{who}: expected lr > 0, got {self.lr!r}.")
        _checks.probability(who, "beta1", self.beta1)
        _checks.non_negative(who, "weight_decay", self.weight_decay)
        _checks.non_negative(who, "grad_clip", self.grad_clip)

    def lr_factor(self, epoch: int) -> float:
        """LR multiplier of 0-based ``epoch``: 1 - max(0, e - niter) / (niter_decay + 1), e 1-based."""
        niter = self.epochs - self.decay_epochs
        return 1.0 - max(0, epoch + 1 - niter) / (self.decay_epochs + 1)


def _student_stage() -> StageConfig:
    return StageConfig(epochs=60, decay_epochs=30, beta1=0.5, grad_clip=1.0)


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """The training recipe: both stages, seeds, noise levels, evaluation protocol, device.

    Defaults are MMIN's IEMOCAP scripts; see :func:`paper_train_config` for the other models.

    Example:
        >>> TrainConfig().student.epochs
        60
    """

    # stage 1 (teacher, or the whole run for "baseline") and stage 2 (student)
    teacher: StageConfig = field(default_factory=StageConfig)
    student: StageConfig = field(default_factory=_student_stage)
    # the one seed everything is derived from
    seed: int = 0
    # validation metric that selects the best epoch: "ua" (IEMOCAP), "f1" (MSP-IMPROV) or "wa"
    select_metric: Literal["ua", "wa", "f1"] = "ua"
    # which validation condition selects the student's epoch: "missing" (upstream: the pooled
    # missing conditions, ``total``), "full" (the full-modality condition, as the teacher) or
    # "mean" (the mean of the two: a student that must also stay accurate on clean inputs)
    student_select: Literal["missing", "full", "mean"] = "missing"
    # noise level of the training pipeline when no schedule is given, and how per-example levels
    # are drawn from the scheduled value (mmnoise.schedules.sample_levels)
    level: float = 1.0
    level_mode: LevelMode = "fixed"
    # how a missing modality is realised in the evaluation conditions: a fill value (0 = MMIN)
    # or "nmer" / "nmer_impulse" (NMER's noised copy, intensity T = 100 * eval_level), at
    # eval_level with per-example levels drawn by
    # eval_level_mode from a fixed seed (the same corruptions for every epoch and every run)
    eval_fill: Fill = 0.0
    eval_level: float = 1.0
    eval_level_mode: LevelMode = "fixed"
    # seed of the frozen evaluation corruptions, independent of ``seed`` so that every run and
    # every model is validated and tested on the same corrupted sets
    eval_seed: int = 0
    # examples per evaluation batch
    eval_batch_size: int = 256
    # the batch key holding the class index
    label_key: str = "label"
    # "cpu", "cuda", "cuda:1", ...; under torchrun with CUDA each rank uses cuda:LOCAL_RANK
    device: str = "cpu"
    # tqdm progress bar: None = only when stderr is a terminal
    progress: bool | None = None
    # one summary line per epoch on stdout (losses, validation WA / UA, time): None = always,
    # on a terminal too (the progress bar of an epoch is cleared, its line stays to scroll back)
    epoch_lines: bool | None = None
    # stop with TrainingDiverged when an epoch's mean loss (total or a term) is NaN / Inf or
    # exceeds divergence_factor x max(1, its first-epoch value); 0 disables the growth test
    divergence_factor: float = 1000.0
    # severity of the validation noise when train_model gets a val_pipeline (noisy selection)
    val_noise_level: float = 0.5

    def __post_init__(self) -> None:
        who = "TrainConfig"
        for name in ("seed", "eval_seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{who}: expected {name} as an int, got {value!r}.")
        _checks.one_of(who, "select_metric", self.select_metric, ("ua", "wa", "f1"))
        _checks.one_of(who, "student_select", self.student_select, ("missing", "full", "mean"))
        _checks.probability(who, "level", self.level, closed=True)
        _checks.probability(who, "eval_level", self.eval_level, closed=True)
        for name in ("level_mode", "eval_level_mode"):
            _checks.one_of(who, name, getattr(self, name), ("fixed", "uniform", "normal"))
        if self.eval_fill not in ("nmer", "nmer_impulse", "noise") and not isinstance(
            self.eval_fill, int | float
        ):
            raise ValueError(
                f"{who}: expected eval_fill as a number, 'nmer' or 'nmer_impulse', got "
                f"{self.eval_fill!r}."
            )
        _checks.positive_int(who, "eval_batch_size", self.eval_batch_size)
        _checks.non_negative(who, "divergence_factor", self.divergence_factor)
        _checks.probability(who, "val_noise_level", self.val_noise_level, closed=True)


def model_config(kind: ModelKind) -> ModelConfig:
    """Return the paper-default model config of ``kind`` (baseline = MMIN's fusion teacher).

    Example:
        >>> type(model_config("nmer")).__name__
        'NMERConfig'
    """
    _check_kind(kind)
    config: ModelConfig = _CONFIG_CLASS[kind]()
    return config


def paper_train_config(kind: ModelKind, **overrides: Any) -> TrainConfig:
    """Return the IEMOCAP script hyperparameters of ``kind`` (the upstream repositories' scripts).

    MMIN / baseline: stage 1 20 epochs (10 + 10), batch 128; stage 2 60 (30 + 30). IF-MMIN:
    stage 1 batch 64; stage 2 40 (20 + 20). NMER: stage 1 batch 64; stage 2 80 (40 + 40); its
    missing modalities become its Gaussian noise at intensity T = 100 (the script's
    ``--num_time_step=100``; level 1) in training and evaluation, t ~ U{0..T-1} per batch.
    Stage 1 uses beta1 0.9 and clip 0.5, stage 2 beta1 0.5 and clip 1.0; lr 2e-4 throughout.

    Example:
        >>> paper_train_config("ifmmin").student.epochs
        40
    """
    _check_kind(kind)
    teacher_batch = 64 if kind in ("ifmmin", "nmer") else 128
    student_epochs = {"baseline": 60, "mmin": 60, "ifmmin": 40, "nmer": 80}[kind]
    base = TrainConfig(
        teacher=StageConfig(epochs=20, decay_epochs=10, batch_size=teacher_batch),
        student=StageConfig(
            epochs=student_epochs, decay_epochs=student_epochs // 2, beta1=0.5, grad_clip=1.0
        ),
    )
    if kind == "nmer":
        base = dataclasses.replace(base, eval_fill="nmer")
    return dataclasses.replace(base, **overrides)


def default_pipeline(kind: ModelKind, modalities: Sequence[str]) -> Pipeline:
    """Return the upstream stage-2 training corruption: one of the six MMIN conditions per example.

    MMIN / IF-MMIN zero the missing modalities; NMER replaces them with its noise scheduler's
    output (``fill="nmer"``: :class:`mmnoise.transforms.NMERNoise`, intensity T = 100 * level).

    Example:
        >>> type(default_pipeline("mmin", ("audio", "visual", "text"))).__name__
        'DropModalities'
    """
    _check_kind(kind)
    return DropModalities(list(modalities), patterns="mmin", fill="nmer" if kind == "nmer" else 0.0)


@dataclass
class TrainedModel:
    """The result of :func:`train_model`: the selected model (eval mode) and its record.

    ``model`` is the student (the teacher itself for ``baseline``) with the weights of its best
    validation epoch; ``teacher`` is the stage-1 model; ``history`` holds one record per epoch
    of both stages; ``val_metrics`` / ``test_metrics`` are {condition: {"wa", "ua", "f1"}}.
    """

    kind: ModelKind
    model: nn.Module
    teacher: Teacher
    config: ModelConfig
    train_config: TrainConfig
    best_epoch: int
    val_metrics: dict[str, dict[str, float]]
    test_metrics: dict[str, dict[str, float]] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def predict(self, batch: Mapping[str, Any]) -> Tensor:
        """Return the logits of the selected model for ``batch`` (see :func:`predict_fn`)."""
        return predict_fn(self.model)(batch)


def predict_fn(model: nn.Module | TrainedModel) -> Callable[[Mapping[str, Any]], Tensor]:
    """Return ``predict(batch) -> (B, n_classes) logits``: eval mode, no gradient.

    The batch's tensors are moved to the model's device; the logits stay there. This is the
    model-agnostic interface the robustness harness calls.

    Example:
        >>> from reference_models.teacher import BackboneConfig
        >>> bb = BackboneConfig(modalities=("a",), input_dims=(2,), encoder_types=("lstm",),
        ...                     embd_size=3)
        >>> predict = predict_fn(Teacher(TeacherConfig(backbone=bb, cls_layers=())))
        >>> predict({"a": torch.zeros(5, 4, 2)}).shape
        torch.Size([5, 4])
    """
    net = model.model if isinstance(model, TrainedModel) else model
    device = next(net.parameters()).device

    def predict(batch: Mapping[str, Any]) -> Tensor:
        net.eval()
        with torch.no_grad():
            logits: Tensor = net(_to_device(batch, device)).logits
        return logits

    return predict


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"reference_models: expected a model kind in {KINDS}, got {kind!r}.")


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch


def _teacher_config(kind: ModelKind, config: ModelConfig) -> TeacherConfig:
    if not isinstance(config, _CONFIG_CLASS[kind]):
        raise TypeError(
            f"train_model: expected a {_CONFIG_CLASS[kind].__name__} for kind {kind!r}, got "
            f"{type(config).__name__}; build it with reference_models.train.model_config(kind)."
        )
    if isinstance(config, TeacherConfig):
        return config
    return config.teacher


def _conditions(modalities: Sequence[str], *, missing: bool, full: bool) -> dict[str, Any]:
    """Evaluation conditions: {name: presence pattern} (None = full modality, untouched)."""
    out: dict[str, Any] = {}
    if missing:
        out.update({condition_name(p): p for p in presence_patterns(modalities)})
    if full:
        out["full"] = None
    return out


def evaluate(
    predict: Callable[[Mapping[str, Any]], Tensor],
    dataset: Dataset[Any],
    *,
    modalities: Sequence[str] = ("audio", "visual", "text"),
    missing: bool = True,
    full: bool = True,
    fill: Fill = 0.0,
    level: float = 1.0,
    level_mode: LevelMode = "fixed",
    seed: int = 0,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    label_key: str = "label",
    noise: Pipeline | None = None,
    noise_level: float = 0.5,
) -> dict[str, dict[str, float]]:
    """Evaluate under the MMIN protocol: every example under each missing condition (+ full).

    A condition drops its missing modalities with ``DropModalities(patterns=[condition],
    fill=fill)`` at per-example levels ``sample_levels(level, B, mode=level_mode)``, drawn from a
    generator seeded by (seed, condition, batch index): the same corruptions on every call.

    Args:
        predict: ``predict(batch) -> logits`` (e.g. :func:`predict_fn`).
        dataset: unbatched items, collated with ``mmnoise.data.pad_collate`` in order.
        modalities: the modality names, in the order of the condition names (``azz`` ...).
        missing: evaluate the six (2^M - 2) missing conditions and their pooled ``total``.
        full: evaluate the full-modality condition ``full`` (not pooled, as upstream).
        fill: 0 (MMIN / IF-MMIN zeros) or ``"nmer"`` / ``"nmer_impulse"`` (NMER's noise).
        level: severity of the drop (> 0; with NMER's noise the intensity T = 100 * level).
        level_mode: how per-example levels are drawn from ``level``.
        seed: seed of the frozen corruptions.
        batch_size: examples per batch.
        device: where the batches go.
        label_key: the batch key of the class index.
        noise: optional pipeline applied to every batch at ``noise_level`` before the
            conditions (noisy validation), from a generator seeded by (seed, batch index): the
            same noise for every condition and every call.
        noise_level: severity of ``noise``.

    Returns:
        {condition: {"wa", "ua", "f1"}}, with ``total`` = the pooled missing conditions (the
        full condition when there is only one modality).
    """
    conditions = _conditions(modalities, missing=missing, full=full)
    if not conditions:
        raise ValueError("evaluate: expected missing=True or full=True, got neither.")
    device = torch.device(device)
    drops = {
        name: DropModalities(list(modalities), patterns=[pattern], fill=fill)
        for name, pattern in conditions.items()
        if pattern is not None
    }
    preds: dict[str, list[Tensor]] = {name: [] for name in conditions}
    labels: list[Tensor] = []
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=pad_collate)
    for index, batch in enumerate(loader):
        batch = _to_device(batch, device)
        if noise is not None:
            g = make_generator(derive_seed(seed, _NOISE_STREAM, index), device)
            batch = dict(noise(batch, level=noise_level, generator=g))
        labels.append(batch[label_key].cpu())
        for j, name in enumerate(conditions):
            b = batch
            if name in drops:
                g = make_generator(derive_seed(seed, j, index), device)
                lv = sample_levels(level, len(batch[label_key]), mode=level_mode, generator=g)
                b = drops[name](batch, level=lv, generator=g)
            preds[name].append(predict(b).argmax(dim=1).cpu())
    target = torch.cat(labels)
    results = {name: (torch.cat(p), target) for name, p in preds.items()}
    pooled = [n for n in conditions if n != "full"] or ["full"]
    out = metrics_by_condition(results, pooled=pooled)
    if not missing:
        del out["total"]
    return out


# --------------------------------------------------------------------------------------------
# the training loop


@dataclass
class _Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owned: bool = False

    @classmethod
    def setup(cls, device: torch.device) -> _Dist:
        """Join the torchrun process group if there is one (gloo on CPU, NCCL on CUDA)."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if not dist.is_available() or (world <= 1 and not dist.is_initialized()):
            return cls()
        owned = False
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
            owned = True
        return cls(
            dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), owned
        )


def _resolve_device(name: str, d: _Dist) -> torch.device:
    device = torch.device(name)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", d.local_rank if d.world > 1 else torch.cuda.current_device())
    return device


def _config_from_dict(cls: type, data: Mapping[str, Any]) -> Any:
    """Rebuild a (nested) frozen config dataclass from ``dataclasses.asdict`` output."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:  # a field added after the file was written: its default
            continue
        value = data[f.name]
        if dataclasses.is_dataclass(hints[f.name]):
            value = _config_from_dict(hints[f.name], value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)


def _build_student(kind: ModelKind, config: ModelConfig) -> nn.Module:
    return _STUDENT[kind][0](config)


def _networks(model: nn.Module) -> list[list[nn.Parameter]]:
    """Parameter groups clipped separately, as upstream clips each of its networks.

    Each encoder of a backbone (upstream's netA / netV / netL, their invariant twins, the
    shared S) is one network; every other top-level submodule (classifier, CRA, NMER's VAE) is
    one; then the model's direct parameters.
    """
    groups: list[list[nn.Parameter]] = []
    for child in model.children():
        if isinstance(child, Backbone):
            for part in child.children():
                subs = part.values() if isinstance(part, nn.ModuleDict) else [part]
                groups.extend(list(sub.parameters()) for sub in subs)
        else:
            groups.append(list(child.parameters()))
    groups.append(list(model.parameters(recurse=False)))
    return [g for g in groups if g]


class _Run:
    """State shared by the stages of one ``train_model`` call: device, ranks, files, history."""

    def __init__(
        self,
        kind: ModelKind,
        config: ModelConfig,
        tc: TrainConfig,
        d: _Dist,
        device: torch.device,
        checkpoint_dir: Path | None,
        log_path: Path | None,
        resume: bool,
        schedule: Any,
    ) -> None:
        self.kind, self.config, self.tc, self.d, self.device = kind, config, tc, d, device
        self.checkpoint_dir, self.log_path, self.schedule = checkpoint_dir, log_path, schedule
        self.history: list[dict[str, Any]] = []
        self.state: dict[str, Any] | None = None
        self.teacher_state: dict[str, Tensor] | None = None
        if resume and checkpoint_dir is not None and (checkpoint_dir / "last.pt").exists():
            self.state = self._load(checkpoint_dir / "last.pt")
            self.history = list(self.state["history"])
            self.teacher_state = self.state.get("teacher_state")
        if self.is_main and log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            # a resumed run keeps the log up to its checkpoint; a fresh run starts a new log
            kept = [json.dumps(r) for r in self.history]
            log_path.write_text("".join(line + "\n" for line in kept))

    @property
    def is_main(self) -> bool:
        return self.d.rank == 0

    def _meta(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "config": dataclasses.asdict(self.config),
            # the progress bar does not change the result: a resumed run may toggle it
            "train_config": {
                k: v
                for k, v in dataclasses.asdict(self.tc).items()
                if k not in ("progress", "epoch_lines")
            },
            "world": self.d.world,
        }

    def _load(self, path: Path) -> dict[str, Any]:
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("format") != _CHECKPOINT_FORMAT:
            raise ValueError(f"train_model: {path} is not a reference_models checkpoint.")
        for key, value in self._meta().items():
            if state["meta"][key] != value:
                raise ValueError(
                    f"train_model: cannot resume from {path}: its {key} differs from this run's "
                    f"({state['meta'][key]!r:.200} vs {value!r:.200}); use the same settings or "
                    "another checkpoint_dir."
                )
        return state

    def log(self, record: dict[str, Any]) -> None:
        self.history.append(record)
        if self.is_main and self.log_path is not None:
            with self.log_path.open("a") as fh:
                fh.write(json.dumps(record) + "\n")

    def save(self, state: dict[str, Any]) -> None:
        if not self.is_main or self.checkpoint_dir is None:
            return
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        full = {
            "format": _CHECKPOINT_FORMAT,
            "meta": self._meta(),
            "history": self.history,
            "teacher_state": self.teacher_state,
            **state,
        }
        tmp = self.checkpoint_dir / "last.pt.tmp"
        torch.save(full, tmp)
        tmp.replace(self.checkpoint_dir / "last.pt")  # atomic: a crash never leaves half a file

    def report(self, record: Mapping[str, Any], epochs: int, select_key: str) -> None:
        """Print one line per epoch on stdout (unless ``epoch_lines=False``)."""
        if self.tc.epoch_lines is False or not self.is_main:
            return
        loss = record["loss"]
        order = ["total"] * ("total" in loss) + [k for k in loss if k != "total"]
        losses = " ".join(f"{k} {loss[k]:.4g}" for k in order)
        val = _selected(record["val"], select_key)
        print(
            f"{record['stage']} {record['epoch']}/{epochs}  loss {losses}  "
            f"val {select_key} WA {val.get('wa', float('nan')):.4f} "
            f"UA {val.get('ua', float('nan')):.4f}  best {record['best_epoch']}  "
            f"lr {record['lr']:.3g}  {record['time_s']:.1f} s",
            flush=True,
        )

    def progress(self, iterable: Any, desc: str) -> Any:
        show = self.tc.progress if self.tc.progress is not None else sys.stderr.isatty()
        if not show or not self.is_main:
            return iterable
        try:  # tqdm is optional (the `models` extra): only the progress bar needs it
            from tqdm import tqdm
        except ImportError as err:
            if self.tc.progress is None:  # automatic bar: go on without one
                return iterable
            raise ImportError(
                "reference_models.train: progress=True needs tqdm, which is not installed; "
                "install it with `pip install 'mmnoise[models]'` or set progress=False."
            ) from err
        return tqdm(iterable, desc=desc, leave=False)

    def loader(
        self, dataset: Dataset[Any], cfg: StageConfig, stage: int, epoch: int
    ) -> DataLoader[Any]:
        n = len(dataset)  # type: ignore[arg-type]
        sampler: Any
        if self.d.world > 1:
            sampler = DistributedSampler(
                dataset,
                num_replicas=self.d.world,
                rank=self.d.rank,
                shuffle=True,
                seed=derive_seed(self.tc.seed, stage) % (1 << 31),
            )
            sampler.set_epoch(epoch)
            n = len(sampler)
        else:
            g = make_generator(derive_seed(self.tc.seed, stage, epoch))
            sampler = torch.randperm(n, generator=g).tolist()
        # BatchNorm (NMER's classifier) cannot train on a batch of one: drop such a last batch
        return DataLoader(
            dataset,
            batch_size=cfg.batch_size,
            sampler=sampler,
            collate_fn=pad_collate,
            drop_last=n % cfg.batch_size == 1 and n > 1,
        )


# TrainConfig.student_select -> the validation entry that selects a student's epoch
_STUDENT_SELECT_KEY = {"missing": "total", "full": "full", "mean": "mean"}


def _selected(metrics: Mapping[str, Mapping[str, float]], key: str) -> dict[str, float]:
    """Return the validation entry ``key`` of ``metrics``; ``"mean"`` = mean of full and total.

    Example:
        >>> m = {"full": {"wa": 0.9}, "total": {"wa": 0.7}}
        >>> round(_selected(m, "mean")["wa"], 6), _selected(m, "full")["wa"]
        (0.8, 0.9)
    """
    if key != "mean":
        return dict(metrics.get(key, {}))
    full, total = metrics.get("full", {}), metrics.get("total", {})
    return {k: (full[k] + total[k]) / 2 for k in full if k in total}


def _fit(
    run: _Run,
    stage: str,
    model: nn.Module,
    step_fn: Callable[[nn.Module, dict[str, Any], dict[str, Any]], dict[str, Tensor]],
    cfg: StageConfig,
    train_ds: Dataset[Any],
    validate: Callable[[nn.Module], dict[str, dict[str, float]]],
    select_key: str,
    noise: BatchNoise | None,
    extra_state: Callable[[], dict[str, Any]] = dict,
) -> tuple[int, dict[str, dict[str, float]]]:
    """Train one stage, keep the best validation epoch's weights in ``model``; return its record."""
    tc, stage_idx = run.tc, _STAGES.index(stage)
    model.to(run.device)
    opt = torch.optim.Adam(
        model.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999), weight_decay=cfg.weight_decay
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cfg.lr_factor)
    start, step = 0, 0
    best: dict[str, Any] = {"epoch": -1, "score": float("-inf"), "metrics": {}, "state": None}
    stateful = hasattr(run.schedule, "load_state_dict") and stage == "student"
    if run.state is not None and run.state["stage"] == stage:
        model.load_state_dict(run.state["model_state"])
        opt.load_state_dict(run.state["optimizer_state"])
        sched.load_state_dict(run.state["scheduler_state"])
        start, step, best = run.state["epoch"], run.state["step"], run.state["best"]
        if stateful and run.state.get("schedule_state") is not None:
            run.schedule.load_state_dict(run.state["schedule_state"])
    train_model_ = model
    if run.d.world > 1:
        ids = [run.device.index] if run.device.type == "cuda" else None
        train_model_ = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    groups = _networks(model)

    def checkpoint(epoch: int) -> None:
        run.save(
            {
                "stage": stage,
                "epoch": epoch,
                "step": step,
                "model_state": model.state_dict(),
                "optimizer_state": opt.state_dict(),
                "scheduler_state": sched.state_dict(),
                "schedule_state": run.schedule.state_dict() if stateful else None,
                "best": best,
                **extra_state(),
            }
        )

    if start == 0 and stage == "student":
        checkpoint(0)  # the stage boundary: resuming here skips stage 1
    # a loss that blows up inside the first epoch makes that epoch's mean a useless reference:
    # the total loss of the stage's first batch is kept (and logged, for a resumed run) too
    first_batch: float | None = next(
        (r.get("first_batch_loss") for r in run.history if r.get("stage") == stage), None
    )
    for epoch in range(start, cfg.epochs):
        tic = time.perf_counter()
        torch.manual_seed(derive_seed(tc.seed, stage_idx, epoch, run.d.rank))
        model.train()
        level = noise.level_at(step) if noise is not None else 0.0
        sums: dict[str, Tensor] = {}
        count = 0
        loader = run.loader(train_ds, cfg, stage_idx, epoch)
        for batch in run.progress(loader, f"{stage} {epoch + 1}/{cfg.epochs}"):
            clean = _to_device(batch, run.device)
            noisy = noise(clean, step=step) if noise is not None else clean
            losses = step_fn(train_model_, clean, noisy)
            if first_batch is None:  # one read-back per stage: the reference for divergence
                first_batch = float(losses["total"].detach())
            opt.zero_grad(set_to_none=True)
            losses["total"].backward()  # type: ignore[no-untyped-call]
            if cfg.grad_clip > 0:
                for params in groups:
                    nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            step += 1
            n = len(clean[tc.label_key])
            count += n
            for name, value in losses.items():
                sums[name] = sums.get(name, 0.0) + value.detach() * n
        lr = opt.param_groups[0]["lr"]
        mean_loss = {k: float(v) / max(count, 1) for k, v in sums.items()}
        first = dict(next((r["loss"] for r in run.history if r.get("stage") == stage), mean_loss))
        if first_batch is not None and math.isfinite(first_batch) and "total" in first:
            first["total"] = min(abs(first["total"]), abs(first_batch))
        _check_divergence(stage, epoch + 1, mean_loss, first, tc.divergence_factor, cfg)
        sched.step()
        metrics = validate(model)
        score = _selected(metrics, select_key)[tc.select_metric]
        if score > best["score"]:
            best = {
                "epoch": epoch + 1,
                "score": score,
                "metrics": metrics,
                "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
            }
        if stateful:
            run.schedule.step(score)
        run.log(
            {
                "stage": stage,
                "epoch": epoch + 1,
                "step": step,
                "lr": lr,
                "level": level,
                "loss": mean_loss,
                "first_batch_loss": first_batch,
                "val": metrics,
                "best_epoch": best["epoch"],
                "time_s": round(time.perf_counter() - tic, 3),
            }
        )
        run.report(run.history[-1], cfg.epochs, select_key)
        checkpoint(epoch + 1)
    model.load_state_dict(best["state"])
    model.eval()
    return int(best["epoch"]), best["metrics"]


def _check_divergence(
    stage: str,
    epoch: int,
    losses: Mapping[str, float],
    first: Mapping[str, float],
    factor: float,
    cfg: StageConfig,
) -> None:
    """Raise :class:`TrainingDiverged` on a NaN / Inf epoch loss or one ``factor`` x too large."""
    for name, value in losses.items():
        ref = max(abs(first.get(name, value)), 1.0)
        bad = not math.isfinite(value)
        if bad or (factor > 0 and abs(value) > factor * ref):
            what = "is not finite" if bad else f"is over {factor:g}x its first value"
            raise TrainingDiverged(
                f"train_model: the {stage} loss diverged at epoch {epoch}: {name} = {value:.6g} "
                f"{what} ({first.get(name, float('nan')):.6g}); the epoch is not kept. Lower the "
                f"learning rate (now {cfg.lr:g}) or the gradient clip (now {cfg.grad_clip:g}), "
                "or use a model config with init='default'; divergence_factor=0 turns the "
                "growth test off."
            )


def train_model(
    kind: ModelKind,
    train_ds: Dataset[Any],
    val_ds: Dataset[Any],
    *,
    cfg: ModelConfig | None = None,
    train_cfg: TrainConfig | None = None,
    pipeline: Pipeline | None = None,
    schedule: Callable[[int], Any] | None = None,
    teacher: Teacher | None = None,
    teacher_pipeline: Pipeline | None = None,
    teacher_schedule: Callable[[int], Any] | None = None,
    val_pipeline: Pipeline | None = None,
    test_ds: Dataset[Any] | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    log_path: str | os.PathLike[str] | None = None,
    resume: bool = False,
) -> TrainedModel:
    """Train a reference model with the two-stage recipe and select it on validation.

    Stage 1 trains a full-modality :class:`~reference_models.teacher.Teacher` on clean batches
    (``teacher_pipeline`` adds noise there, e.g. for a data-augmentation baseline); ``baseline``
    stops here. Stage 2 builds the student, loads the teacher's encoders and trains it on
    ``pipeline(clean, level=..., generator=...)`` (default :func:`default_pipeline`) with levels
    from ``schedule(step)`` (per optimiser step; default the constant ``train_cfg.level``), the
    frozen teacher computing the targets on the clean batch. The best epoch of each stage is
    chosen on ``val_ds`` (``select_metric`` of the pooled missing conditions for students, or
    what ``student_select`` says; of the full-modality condition for teachers) and only then,
    once, evaluated on ``test_ds``.

    Args:
        kind: ``"baseline"``, ``"mmin"``, ``"ifmmin"`` or ``"nmer"``.
        train_ds: unbatched items (``mmnoise.datasets`` format), collated by ``pad_collate``.
        val_ds: validation items (model selection).
        cfg: the model config (default :func:`model_config`).
        train_cfg: the recipe (default :func:`paper_train_config`).
        pipeline: stage-2 corruption ``pipeline(sample, *, level, generator) -> dict``.
        schedule: ``schedule(step) -> level`` for the stage-2 pipeline; a stateful schedule
            (``state_dict`` / ``load_state_dict`` / ``step(metric)``, e.g.
            ``mmnoise.schedules.Plateau``) is stepped with the validation score every epoch.
        teacher: a trained stage-1 model to reuse (skips stage 1).
        teacher_pipeline: optional stage-1 corruption (a noise-augmented baseline), at the
            constant ``train_cfg.level`` or the levels of ``teacher_schedule``.
        teacher_schedule: ``schedule(step) -> level`` for ``teacher_pipeline`` (stateless).
        val_pipeline: select on *noisy* validation: this corruption is applied to the
            validation set at ``train_cfg.val_noise_level`` with frozen seeds (default: clean
            validation). The test set is always evaluated clean (use the robustness grid for
            noise).
        test_ds: evaluated once with the selected weights.
        checkpoint_dir: where ``last.pt`` (every epoch) and ``model.pt`` (the result) go.
        log_path: JSON-lines log, one record per epoch.
        resume: continue from ``checkpoint_dir/last.pt`` if it exists.

    Returns:
        A :class:`TrainedModel`.

    Raises:
        ValueError / TypeError: unknown kind, config of the wrong type, a checkpoint written
            with other settings, a student on one modality without a pipeline.
        TrainingDiverged: a loss became NaN / Inf or grew by ``train_cfg.divergence_factor``.
    """
    _check_kind(kind)
    config = cfg if cfg is not None else model_config(kind)
    tc = train_cfg if train_cfg is not None else paper_train_config(kind)
    teacher_cfg = _teacher_config(kind, config)
    d = _Dist.setup(torch.device(tc.device))
    device = _resolve_device(tc.device, d)
    run = _Run(
        kind,
        config,
        tc,
        d,
        device,
        Path(checkpoint_dir) if checkpoint_dir is not None else None,
        Path(log_path) if log_path is not None else None,
        resume,
        schedule,
    )
    modalities = teacher_cfg.backbone.modalities
    label = tc.label_key

    if kind != "baseline" and pipeline is None and len(modalities) < 2:
        raise ValueError(
            f"train_model: {kind} on the single modality {modalities} has no missing-modality "
            "conditions to learn; pass a noise pipeline (it then learns clean from noisy "
            "inputs) or train the baseline."
        )

    def validate_full(
        model: nn.Module, dataset: Dataset[Any] = val_ds, noise: Pipeline | None = val_pipeline
    ) -> dict[str, Any]:
        return evaluate(
            predict_fn(model),
            dataset,
            modalities=modalities,
            missing=False,
            seed=tc.eval_seed,
            batch_size=tc.eval_batch_size,
            device=device,
            label_key=label,
            noise=noise,
            noise_level=tc.val_noise_level,
        )

    def validate_missing(
        model: nn.Module, dataset: Dataset[Any] = val_ds, noise: Pipeline | None = val_pipeline
    ) -> dict[str, Any]:
        return evaluate(
            predict_fn(model),
            dataset,
            modalities=modalities,
            fill=tc.eval_fill,
            level=tc.eval_level,
            level_mode=tc.eval_level_mode,
            seed=tc.eval_seed,
            batch_size=tc.eval_batch_size,
            device=device,
            label_key=label,
            noise=noise,
            noise_level=tc.val_noise_level,
        )

    def noise_for(stage: int, pipe: Pipeline | None, sched: Any) -> BatchNoise | None:
        if pipe is None:
            return None
        return BatchNoise(
            pipe,
            seed=derive_seed(tc.seed, stage),
            rank=d.rank,
            schedule=sched,
            level=tc.level,
            level_mode=tc.level_mode,
        )

    # ---- stage 1: the full-modality teacher
    t_metrics: dict[str, dict[str, float]]
    torch.manual_seed(derive_seed(tc.seed, 0))
    if teacher is None:
        teacher = Teacher(teacher_cfg)
        if run.teacher_state is not None:  # resumed in stage 2: stage 1 is done
            teacher.load_state_dict(run.teacher_state)
            t_epoch, t_metrics = -1, {}
        else:

            def teacher_step(
                net: nn.Module, clean: dict[str, Any], noisy: dict[str, Any]
            ) -> dict[str, Tensor]:
                return teacher_loss(net(noisy), noisy[label], teacher_cfg)

            t_epoch, t_metrics = _fit(
                run,
                "teacher",
                teacher,
                teacher_step,
                tc.teacher,
                train_ds,
                validate_full,
                "full",
                noise_for(0, teacher_pipeline, teacher_schedule),
            )
    else:
        t_epoch, t_metrics = -1, {}
    teacher.to(device).eval()
    if kind == "baseline":
        result = TrainedModel(kind, teacher, teacher, config, tc, t_epoch, t_metrics)
        return _finish(run, result, test_ds, validate_full)

    # ---- stage 2: the student, initialised from the teacher, which then stays frozen: it runs
    # in eval mode under no_grad (teacher_targets) and is not in the student's optimiser
    run.teacher_state = {k: v.detach().cpu().clone() for k, v in teacher.state_dict().items()}
    torch.manual_seed(derive_seed(tc.seed, 1))
    student = _build_student(kind, config)
    student.load_teacher(teacher)  # type: ignore[operator]
    _, targets_fn, loss_fn = _STUDENT[kind]

    def student_step(
        net: nn.Module, clean: dict[str, Any], noisy: dict[str, Any]
    ) -> dict[str, Tensor]:
        targets = targets_fn(teacher, clean, noisy, config)
        return loss_fn(net(noisy), targets, noisy[label], config)

    pipe = pipeline if pipeline is not None else default_pipeline(kind, modalities)
    s_epoch, s_metrics = _fit(
        run,
        "student",
        student,
        student_step,
        tc.student,
        train_ds,
        validate_missing,
        _STUDENT_SELECT_KEY[tc.student_select],
        noise_for(1, pipe, schedule),
    )
    result = TrainedModel(kind, student, teacher, config, tc, s_epoch, s_metrics)
    return _finish(run, result, test_ds, validate_missing)


def _finish(
    run: _Run,
    result: TrainedModel,
    test_ds: Dataset[Any] | None,
    validate: Callable[..., dict[str, dict[str, float]]],
) -> TrainedModel:
    """Evaluate on test once, log the outcome, write ``model.pt``."""
    result.history = list(run.history)
    if not result.val_metrics and result.best_epoch < 0:
        result.val_metrics = validate(result.model)
    if test_ds is not None:
        # the clean protocol of validation, on the held-out set, once, with the selected weights
        result.test_metrics = validate(result.model, test_ds, None)
    summary = {
        "event": "done",
        "kind": result.kind,
        "best_epoch": result.best_epoch,
        "val": result.val_metrics,
        "test": result.test_metrics,
    }
    if run.is_main and run.log_path is not None:
        with run.log_path.open("a") as fh:
            fh.write(json.dumps(summary) + "\n")
    if run.is_main and run.checkpoint_dir is not None:
        torch.save(
            {
                "format": _CHECKPOINT_FORMAT,
                "kind": result.kind,
                "config": dataclasses.asdict(result.config),
                "train_config": dataclasses.asdict(result.train_config),
                "history": result.history,
                "model_state": result.model.state_dict(),
                "teacher_state": result.teacher.state_dict(),
                "best_epoch": result.best_epoch,
                "val_metrics": result.val_metrics,
                "test_metrics": result.test_metrics,
            },
            run.checkpoint_dir / "model.pt",
        )
    return result


def load_trained(path: str | os.PathLike[str], *, device: str = "cpu") -> TrainedModel:
    """Load the ``model.pt`` that :func:`train_model` writes into its checkpoint_dir.

    Raises:
        ValueError: the file is not a reference_models result.
    """
    state: dict[str, Any] = torch.load(path, map_location=device, weights_only=True)
    if state.get("format") != _CHECKPOINT_FORMAT or "kind" not in state:
        raise ValueError(
            f"load_trained: {path} is not a reference_models model.pt; pass the file written "
            "by train_model(..., checkpoint_dir=...)."
        )
    kind: ModelKind = state["kind"]
    config = _config_from_dict(_CONFIG_CLASS[kind], state["config"])
    teacher = Teacher(_teacher_config(kind, config))
    teacher.load_state_dict(state["teacher_state"])
    model: nn.Module = teacher
    if kind != "baseline":
        model = _build_student(kind, config)
        model.load_state_dict(state["model_state"])
    return TrainedModel(
        kind,
        model.to(device).eval(),
        teacher.to(device).eval(),
        config,
        _config_from_dict(TrainConfig, state["train_config"]),
        state["best_epoch"],
        state["val_metrics"],
        state["test_metrics"],
        list(state["history"]),
    )
