"""Severity levels: the one level check, and the map from a level to a transform's units.

A level is a severity in [0, 1] (0: clean, an exact identity; 1: the strongest noise), a float or
a (B,) tensor of per-example levels. Every level given as a number is checked by
:func:`check_level_value` (transforms through :func:`check_level`, which also takes (B,)
tensors; schedules; ``NoisyDataset``; ``RobustnessGrid``; ``asr_noise``), rounded once to
float32 by :func:`as_float32`, and mapped onto a transform's ``(weak, strong)`` range in its
physical unit by :func:`lerp`, a range checked by :func:`check_range`. :func:`check_probability`
checks a ``p``, the other number in [0, 1] every transform takes.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
from torch import Tensor

from mmnoise.device import check_bounds

__all__ = [
    "as_float32",
    "check_level",
    "check_level_value",
    "check_probability",
    "check_range",
    "lerp",
]


def check_level_value(value: object, *, who: str, name: str = "level", fix: str = "") -> float:
    """Return ``value`` as a float after checking it is a level in [0, 1]: THE level check.

    Every level given as a number goes through here: a transform's ``level`` (through
    :func:`check_level`, which also takes (B,) tensors), a schedule's endpoints and state,
    ``NoisyDataset(level=...)`` and ``RobustnessGrid(levels=..., missing_level=...)``.

    Args:
        value: the level, a real number (a bool is refused).
        who: the caller, named in errors.
        name: the argument's name, named in errors.
        fix: how to fix a value outside [0, 1], added to the error.

    Raises:
        TypeError: ``value`` is not a real number.
        ValueError: ``value`` is outside [0, 1] or NaN.

    Example:
        >>> check_level_value(0.25, who="demo")
        0.25
        >>> check_level_value(1.5, who="demo", name="start")
        Traceback (most recent call last):
        ...
        ValueError: demo: expected start in [0, 1], got 1.5; pass start as a float in [0, 1]: 0 is clean, 1 the strongest noise (physical units come from each transform's (weak, strong) range).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{who}: expected {name} as a float in [0, 1], got {type(value).__name__}; pass a "
            "plain number."
        )
    v = float(value)
    if not 0.0 <= v <= 1.0:  # NaN fails too
        raise ValueError(
            f"{who}: expected {name} in [0, 1], got {value!r}; "
            + (fix or f"pass {name} as a float in [0, 1]: 0 is clean, 1 the strongest noise "
               "(physical units come from each transform's (weak, strong) range).")
        )  # fmt: skip
    return v


def check_level(level: object, batch: int, device: torch.device, *, who: str) -> Tensor:
    """Return ``level`` as a (B,) float32 tensor on ``device`` after checking it lies in [0, 1].

    Args:
        level: a float, a 0-d tensor, or a (B,) tensor of per-example severities.
        batch: the batch size B.
        device: where the result lives.
        who: the caller, named in errors.

    Example:
        >>> check_level(0.5, 2, torch.device("cpu"), who="demo")
        tensor([0.5000, 0.5000])
    """
    # isinstance with a tuple, here and everywhere in mmnoise: dynamo before torch 2.10 cannot
    # trace a union type (int | float), and calls like this one run inside compiled graphs
    if isinstance(level, bool) or not isinstance(level, (int, float, Tensor)):
        raise TypeError(
            f"{who}: expected level as a float or a ({batch},) tensor, got {type(level).__name__}."
        )
    if not isinstance(level, Tensor):  # a number: checked on the host, no tensor reduction
        if not 0.0 <= level <= 1.0:  # the hot path compares only; the error is the one check's
            check_level_value(level, who=who, fix="map your schedule output into [0, 1].")
        return torch.full((batch,), as_float32(level), dtype=torch.float32, device=device)
    lv = torch.as_tensor(level, dtype=torch.float32).to(device)
    if lv.ndim == 0:
        lv = lv.expand(batch)
    if lv.shape != (batch,):
        raise ValueError(
            f"{who}: expected level as a float or a ({batch},) tensor (one per example), got "
            f"shape {tuple(lv.shape)}."
        )
    check_bounds(
        lv,
        0.0,
        1.0,
        expected=f"{who}: expected level in [0, 1]",
        fix="map your schedule output into [0, 1] (a NaN is not a level).",
    )
    return lv


def as_float32(value: float) -> float:
    """Return a Python number rounded to float32, the dtype levels are computed in.

    A positive level too small for float32 (``1e-50``) is 0 there; rounding it once, here, makes
    the gate, the parameters, the record and ``replay`` agree that it is an identity.

    Example:
        >>> as_float32(1e-50), as_float32(0.5)
        (0.0, 0.5)
    """
    # by hand, in math functions that dynamo folds on every torch since 2.6 (it cannot trace
    # struct.pack before 2.9): 24 significant bits, fewer below 2 ** -126 (spacing 2 ** -149),
    # round half to even (Python's round), and infinity past float32's largest value
    v = float(value)
    if v == 0.0 or v == 1.0 or not math.isfinite(v):  # the default level 1.0 costs one compare
        return v
    m, e = math.frexp(abs(v))  # |v| = m * 2 ** e, 0.5 <= m < 1
    if e > 128:  # |v| >= 2 ** 128: past float32's range (and ldexp's, near float64's top)
        return math.copysign(math.inf, v)
    bits = min(24, e + 149)
    r = math.ldexp(round(math.ldexp(m, bits)), e - bits)
    return math.copysign(math.inf if r >= 2.0**128 else r, v)


def check_probability(value: float, *, who: str, name: str = "p") -> float:
    """Return ``value`` as a float after checking it lies in [0, 1].

    Example:
        >>> check_probability(1, who="demo")
        1.0
    """
    if not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(
            f"{who}: expected {name} in [0, 1], got {value!r}; use 0 to disable, 1 to always apply."
        )
    return float(value)


def check_range(
    value: Sequence[float], *, who: str, name: str, lo: float | None = None, hi: float | None = None
) -> tuple[float, float]:
    """Return a ``(weak, strong)`` pair of floats after checking its form and bounds.

    Example:
        >>> check_range([0, 20], who="demo", name="snr_db")
        (0.0, 20.0)
    """
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 2:
        hint = (
            f"; for a fixed value pass {name}=({float(value)}, {float(value)})"
            if isinstance(value, (int, float)) and not isinstance(value, bool)
            else ""
        )
        raise ValueError(
            f"{who}: expected {name} as a (weak, strong) pair of numbers (the values at level 0 "
            f"and level 1), got {value!r}{hint}."
        )
    pair = (float(value[0]), float(value[1]))
    if not all(math.isfinite(v) for v in pair):
        raise ValueError(
            f"{who}: expected {name} as finite numbers, got {value!r}; a NaN or infinite "
            "setting makes every output non-finite (for no corruption use level 0 or p=0)."
        )
    for v in pair:
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise ValueError(f"{who}: expected {name} values in [{lo}, {hi}], got {value!r}.")
    return pair


def lerp(level: Tensor, value_range: tuple[float, float]) -> Tensor:
    """Map per-example levels in [0, 1] onto a ``(weak, strong)`` range, linearly.

    Example:
        >>> import torch
        >>> lerp(torch.tensor([0.0, 0.5, 1.0]), (30.0, -10.0))
        tensor([ 30.,  10., -10.])
    """
    weak, strong = value_range
    # one op where the range allows it (a fixed value, or a range from 0), else one temporary:
    # the same values as w + (s - w) l
    if weak == strong:
        return torch.full_like(level, weak)
    if weak == 0:
        return level * strong
    return (level * (strong - weak)).add_(weak)
