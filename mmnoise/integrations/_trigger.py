"""What drives the noise level inside a trainer: the one check both integrations share."""

from __future__ import annotations

from typing import Any


def check_trigger(who: str, *, unit: str, monitor: str | None, schedule: Any) -> None:
    """Reject a level unit other than step / epoch, and ``monitor=`` without an adaptive schedule.

    Example:
        >>> check_trigger("NoiseCallback", unit="step", monitor=None, schedule=None)
        >>> check_trigger("NoiseCallback", unit="batch", monitor=None, schedule=None)
        Traceback (most recent call last):
        ...
        ValueError: NoiseCallback: expected unit 'step' or 'epoch', got 'batch'.
    """
    if unit not in ("step", "epoch"):
        raise ValueError(f"{who}: expected unit 'step' or 'epoch', got {unit!r}.")
    if monitor is not None and not callable(getattr(schedule, "step", None)):
        raise TypeError(
            f"{who}: monitor={monitor!r} needs an adaptive schedule with step(metric) (such "
            f"as mmnoise.schedules.Plateau), got {type(schedule).__name__}."
        )
