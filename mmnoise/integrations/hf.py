"""Hugging Face ``Trainer`` (and accelerate): noise on the device, driven by a schedule.

A ``TrainerCallback`` never sees the batch, so the recipe has two parts:

* :class:`NoiseTrainerCallback` holds the pipeline, the seed and the schedule, steps an
  adaptive :class:`~mmnoise.schedules.Plateau` with an evaluation metric (``monitor=``), and
  saves its progress in the checkpoint (``ExportableState``: the pipeline and the schedule are
  stored as their ``to_config()`` dicts, so ``resume_from_checkpoint`` rebuilds the callback);
* :class:`NoiseTrainerMixin` (or the ready :class:`NoiseTrainer`) applies it in
  ``training_step``, where the inputs are already on the device; evaluation stays clean.

The generator of a batch is seeded from ``(seed, rank, batch)``, ``batch`` counting micro-batches
(``global_step * gradient_accumulation_steps + micro``), so every micro-batch gets its own noise,
ranks get different noise, and a resumed run the same noise; the schedule is read at the global
optimiser step (``unit="step"``) or at the epoch (``unit="epoch"``).

In a plain accelerate loop no integration is needed: use :class:`mmnoise.data.BatchNoise` with
``rank=accelerator.process_index`` on the prepared (device) batches, and
:class:`mmnoise.data.EpochSampler` for the dataset path (``DataLoaderShard.set_epoch`` reaches it).

Needs the ``hf`` extra: ``pip install 'mmnoise[hf]'`` (transformers and accelerate).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

try:
    from transformers import Trainer, TrainerCallback, TrainerControl, TrainerState
    from transformers import TrainingArguments as _Args
    from transformers.trainer_callback import ExportableState
except Exception as err:  # pragma: no cover - depends on the environment
    from mmnoise.extras import extra_import_error

    raise extra_import_error(
        "mmnoise.integrations.hf", "hf", ("transformers", "accelerate"), err
    ) from err

from torch import Tensor, nn

from mmnoise.config import from_config
from mmnoise.data import BatchNoise
from mmnoise.integrations._trigger import check_trigger
from mmnoise.sample import Sample
from mmnoise.schedules import LevelMode

__all__ = ["NoiseTrainer", "NoiseTrainerCallback", "NoiseTrainerMixin"]


def _build(value: Any) -> Any:
    # configs (dicts from to_config, as a restored checkpoint passes them) become objects again
    return from_config(value) if isinstance(value, Mapping) else value


class NoiseTrainerCallback(TrainerCallback, ExportableState):
    """The noise of a Hugging Face ``Trainer`` run: pipeline, seed, schedule and its state.

    Args:
        pipeline: ``pipeline(sample, *, level, generator) -> new dict``, or its ``to_config()``.
        seed: the run's noise seed (the same on every rank; the rank is mixed in).
        schedule: a schedule (or its ``to_config()``), or None for the constant ``level``.
        level: constant level in [0, 1] when there is no schedule.
        level_mode: ``"fixed"``, ``"uniform"`` or ``"normal"`` per-example levels.
        std: standard deviation of ``"normal"`` (level units).
        unit: read the schedule at the global step (``"step"``) or the epoch (``"epoch"``).
        monitor: evaluation metric (``"eval_accuracy"``, as ``compute_metrics`` names it with the
            ``eval_`` prefix) that steps an adaptive schedule after every evaluation.

    Raises:
        TypeError: ``monitor`` without a schedule that has ``step(metric)``.
        KeyError: at evaluation, ``monitor`` is not among the metrics.

    Example:
        >>> from mmnoise.transforms import AddGaussianSNR
        >>> cb = NoiseTrainerCallback(AddGaussianSNR("audio"), seed=0, level=0.5)
        >>> again = NoiseTrainerCallback(**cb.state()["args"])  # what a resume does
        >>> type(again.noise.pipeline).__name__, again.noise.level
        ('AddGaussianSNR', 0.5)
    """

    def __init__(
        self,
        pipeline: Any,
        *,
        seed: int,
        schedule: Any = None,
        level: float = 1.0,
        level_mode: LevelMode = "fixed",
        std: float = 0.1,
        unit: Literal["step", "epoch"] = "step",
        monitor: str | None = None,
    ) -> None:
        who = "NoiseTrainerCallback"
        pipeline, schedule = _build(pipeline), _build(schedule)
        check_trigger(who, unit=unit, monitor=monitor, schedule=schedule)
        self.noise = BatchNoise(
            pipeline, seed=seed, schedule=schedule, level=level, level_mode=level_mode, std=std
        )
        self.unit = unit
        self.monitor = monitor
        self._step = -1  # the global step of the last batch, and the micro-batch within it
        self._micro = 0

    def apply(self, inputs: Sample, *, args: _Args, state: TrainerState) -> Sample:
        """Return the noisy version of one training batch (``inputs`` is not modified)."""
        step = int(state.global_step)
        self._micro = self._micro + 1 if step == self._step else 0
        self._step = step
        n = self.noise
        if n.rank != args.process_index:
            n.rank = int(args.process_index)
        count = step * max(int(args.gradient_accumulation_steps), 1) + self._micro
        at = step if self.unit == "step" else int(state.epoch or 0)
        return n(inputs, step=count, level_step=at)

    def on_evaluate(
        self,
        args: _Args,
        state: TrainerState,
        control: TrainerControl,
        metrics: Mapping[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        """Step an adaptive schedule with the monitored metric."""
        if self.monitor is None:
            return
        metrics = metrics or {}
        if self.monitor not in metrics:
            raise KeyError(
                f"NoiseTrainerCallback: monitor={self.monitor!r} is not among the evaluation "
                f"metrics {sorted(metrics)}; metrics from compute_metrics get the 'eval_' prefix."
            )
        self.noise.schedule.step(float(metrics[self.monitor]))  # type: ignore[union-attr]

    def state(self) -> dict[str, Any]:
        """Constructor arguments (pipeline and schedule as configs) and the schedule's progress."""
        n = self.noise
        schedule = n.schedule
        if not callable(getattr(n.pipeline, "to_config", None)):
            raise TypeError(
                "NoiseTrainerCallback: saving a checkpoint needs a pipeline with to_config() (an "
                f"mmnoise transform or container), got {type(n.pipeline).__name__}; or set "
                "save_strategy='no'."
            )
        save = getattr(schedule, "state_dict", None)
        return {
            "args": {
                "pipeline": n.pipeline.to_config(),  # type: ignore[attr-defined]
                "seed": n.seed,
                "schedule": None if schedule is None else schedule.to_config(),
                "level": n.level,
                "level_mode": n.level_mode,
                "std": n.std,
                "unit": self.unit,
                "monitor": self.monitor,
            },
            "attributes": {"schedule_state": save() if callable(save) else None},
        }

    @property
    def schedule_state(self) -> Any:
        """The adaptive schedule's progress (``state_dict()``), or None for a pure schedule."""
        save = getattr(self.noise.schedule, "state_dict", None)
        return save() if callable(save) else None

    @schedule_state.setter
    def schedule_state(self, value: Any) -> None:
        load = getattr(self.noise.schedule, "load_state_dict", None)
        if value is not None and callable(load):
            load(value)


class NoiseTrainerMixin:
    """Put before ``Trainer`` in the bases: corrupts each training batch with the run's
    :class:`NoiseTrainerCallback` (which must be among the trainer's callbacks).

    Example:
        >>> issubclass(NoiseTrainer, NoiseTrainerMixin)
        True
    """

    callback_handler: Any
    args: _Args
    state: TrainerState

    def noise_callback(self) -> NoiseTrainerCallback:
        """The run's :class:`NoiseTrainerCallback` (looked up each time: a resume replaces it)."""
        for cb in self.callback_handler.callbacks:
            if isinstance(cb, NoiseTrainerCallback):
                return cb
        raise ValueError(
            "NoiseTrainerMixin: no NoiseTrainerCallback among the trainer's callbacks; pass "
            "callbacks=[NoiseTrainerCallback(pipeline, seed=...)] to the trainer."
        )

    def training_step(self, model: nn.Module, inputs: Any, *args: Any, **kwargs: Any) -> Tensor:
        """Corrupt ``inputs`` (a dict in the sample format, on its device), then train on it."""
        if not isinstance(inputs, Mapping):
            raise TypeError(
                "NoiseTrainerMixin: expected the inputs as a dict in the sample format, got "
                f"{type(inputs).__name__}; use mmnoise.data.pad_collate as data_collator."
            )
        noisy = self.noise_callback().apply(dict(inputs), args=self.args, state=self.state)
        loss: Tensor = super().training_step(model, noisy, *args, **kwargs)  # type: ignore[misc]
        return loss


class NoiseTrainer(NoiseTrainerMixin, Trainer):
    """``transformers.Trainer`` with :class:`NoiseTrainerMixin`: noisy training batches.

    Example:
        >>> NoiseTrainer.__mro__[1].__name__, NoiseTrainer.__mro__[2].__name__
        ('NoiseTrainerMixin', 'Trainer')
    """
