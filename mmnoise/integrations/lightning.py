"""Lightning: a callback that puts a noise pipeline into ``Trainer.fit`` on the device.

:class:`NoiseCallback` corrupts every training batch **after** Lightning has moved it to the
device (``on_train_batch_start`` runs after ``transfer_batch_to_device`` and
``on_after_batch_transfer``), so the noise runs on the GPU at batch speed. Validation, test and
predict batches stay clean. The batch must be a dict in the sample format
(:mod:`mmnoise.sample`; collate with :func:`mmnoise.data.pad_collate`): the callback replaces its
entries in place, since Lightning ignores a callback's return value.

Randomness is that of :class:`mmnoise.data.BatchNoise`: the generator of a batch is seeded from
``(seed, rank, batch)`` where ``batch`` counts the training batches across epochs (Lightning's
``total_batch_idx``, restored from checkpoints), so every micro-batch under gradient
accumulation gets its own noise, every DDP rank different noise, and a rerun or a resumed run
the same noise. The level comes from ``schedule`` read at the global optimiser step
(``unit="step"``) or at the epoch (``unit="epoch"``). An adaptive :class:`~mmnoise.schedules.Plateau`
is stepped with a logged validation metric (``monitor=``) after each validation run of
``Trainer.fit`` (not after ``trainer.validate()``), and its state is saved in the checkpoint
(``state_dict``) and restored on resume.

Needs the ``lightning`` extra: ``pip install 'mmnoise[lightning]'`` (``lightning.pytorch``; the
standalone ``pytorch_lightning`` package works too).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any, Literal

try:
    from lightning.pytorch import LightningModule, Trainer
    from lightning.pytorch.callbacks import Callback
except Exception as first:  # pragma: no cover - depends on the environment
    try:
        from pytorch_lightning import LightningModule, Trainer  # type: ignore[assignment]
        from pytorch_lightning.callbacks import Callback  # type: ignore[assignment]
    except Exception:
        # lightning's own error: a broken or too old lightning says more than a missing
        # pytorch_lightning
        from mmnoise.extras import extra_import_error

        raise extra_import_error(
            "mmnoise.integrations.lightning", "lightning", ("lightning",), first
        ) from first

from mmnoise.data import BatchNoise, _Pipeline
from mmnoise.integrations._trigger import check_trigger
from mmnoise.schedules import LevelMode, LevelSchedule

__all__ = ["NoiseCallback"]


class NoiseCallback(Callback):
    """Corrupt each training batch on its device with a pipeline, driven by a schedule.

    Args:
        pipeline: ``pipeline(sample, *, level, generator) -> new dict`` (a transform, a
            ``MultimodalPipeline``, ...).
        seed: the run's noise seed (the same on every rank; the rank is mixed in).
        schedule: the level over time (any :mod:`mmnoise.schedules` schedule, a ``PerModality``
            or a ``Plateau``), or None for the constant ``level``.
        level: constant level in [0, 1] when there is no schedule.
        level_mode: ``"fixed"``, ``"uniform"`` or ``"normal"`` per-example levels
            (:func:`mmnoise.schedules.sample_levels`).
        std: standard deviation of ``"normal"`` (level units).
        unit: read the schedule at the global optimiser step (``"step"``) or at the epoch
            (``"epoch"``).
        monitor: name of a logged validation metric (``self.log("val_acc", ...)``) that steps
            an adaptive schedule (``schedule.step(metric)``) after every validation run of
            ``fit`` (a ``trainer.validate()`` call does not move the curriculum). Under
            DDP log it with ``sync_dist=True`` so every rank moves the same way.
        clean_key: if set, the clean batch is kept under this key of the batch (for
            reconstruction targets, as NMER needs).

    Raises:
        TypeError: ``monitor`` without a schedule that has ``step(metric)``; at batch time, a
            batch that is not a dict.
        KeyError: ``monitor`` names a metric that was not logged.

    Example:
        >>> from mmnoise.transforms import AddGaussianSNR
        >>> cb = NoiseCallback(AddGaussianSNR("audio", snr_db=(30.0, 0.0)), seed=0, level=0.5)
        >>> cb.state_key
        "NoiseCallback{'seed': 0}"
    """

    def __init__(
        self,
        pipeline: _Pipeline,
        *,
        seed: int,
        schedule: LevelSchedule | None = None,
        level: float = 1.0,
        level_mode: LevelMode = "fixed",
        std: float = 0.1,
        unit: Literal["step", "epoch"] = "step",
        monitor: str | None = None,
        clean_key: str | None = None,
    ) -> None:
        who = "NoiseCallback"
        check_trigger(who, unit=unit, monitor=monitor, schedule=schedule)
        # validates every argument now, not at the first batch; rebuilt with the rank in setup()
        self.noise = BatchNoise(
            pipeline, seed=seed, schedule=schedule, level=level, level_mode=level_mode, std=std
        )
        self.seed = seed
        self.schedule = schedule
        self.unit = unit
        self.monitor = monitor
        self.clean_key = clean_key

    @property
    def state_key(self) -> str:
        """Key of this callback's state in the checkpoint (one per seed)."""
        key: str = self._generate_state_key(seed=self.seed)
        return key

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Bind the noise to this process's rank."""
        n = self.noise
        self.noise = BatchNoise(
            n.pipeline,
            seed=n.seed,
            rank=int(trainer.global_rank),
            schedule=n.schedule,
            level=n.level,
            level_mode=n.level_mode,
            std=n.std,
        )

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        """Replace the entries of the (device) batch with their noisy versions."""
        if not isinstance(batch, MutableMapping):
            raise TypeError(
                "NoiseCallback: expected the training batch as a dict in the sample format, got "
                f"{type(batch).__name__}; return dicts from the dataset and collate them with "
                "mmnoise.data.pad_collate."
            )
        count = int(trainer.fit_loop.epoch_loop.total_batch_idx)
        at = trainer.global_step if self.unit == "step" else trainer.current_epoch
        noisy = self.noise(batch, step=max(count, 0), level_step=at)
        if self.clean_key is not None:
            noisy[self.clean_key] = dict(batch)
        batch.clear()
        batch.update(noisy)

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Step an adaptive schedule with the monitored metric, on validation inside ``fit`` only.

        Neither the sanity check nor a ``trainer.validate()`` call outside ``fit`` moves the
        curriculum: only the validation runs of training are its evaluations.
        """
        if self.monitor is None or trainer.sanity_checking or trainer.state.fn != "fit":
            return
        metrics: Mapping[str, Any] = trainer.callback_metrics
        if self.monitor not in metrics:
            raise KeyError(
                f"NoiseCallback: monitor={self.monitor!r} was not logged; logged metrics: "
                f"{sorted(metrics)}. Log it in validation_step with self.log({self.monitor!r}, ...)."
            )
        self.schedule.step(float(metrics[self.monitor]))  # type: ignore[union-attr]

    def state_dict(self) -> dict[str, Any]:
        """The adaptive schedule's progress (empty for pure schedules), for the checkpoint."""
        save = getattr(self.schedule, "state_dict", None)
        return {"schedule": save()} if callable(save) else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the adaptive schedule's progress from a checkpoint."""
        load = getattr(self.schedule, "load_state_dict", None)
        if "schedule" in state_dict and callable(load):
            load(state_dict["schedule"])
