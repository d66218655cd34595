"""Private validators for the reference-model configs (uniform "who: expected X, got Y" errors)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def positive_int(who: str, name: str, value: Any) -> None:
    """Raise unless ``value`` is an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{who}: expected {name} as an int >= 1, got {value!r}.")


def positive_ints(who: str, name: str, values: Any, *, allow_empty: bool = False) -> None:
    """Raise unless ``values`` is a tuple of ints >= 1 (non-empty unless ``allow_empty``)."""
    if not isinstance(values, tuple) or (not values and not allow_empty):
        raise ValueError(
            f"{who}: expected {name} as a {'' if allow_empty else 'non-empty '}tuple of ints, "
            f"got {values!r}; write it as a tuple, e.g. (128, 128)."
        )
    for v in values:
        positive_int(who, name, v)


def probability(who: str, name: str, value: Any, *, closed: bool = False) -> None:
    """Raise unless ``0 <= value < 1`` (``<= 1`` when ``closed``)."""
    ok = isinstance(value, int | float) and 0.0 <= value and (value <= 1.0 if closed else value < 1)
    if not ok:
        bound = "1" if closed else "1)"
        raise ValueError(f"{who}: expected {name} in [0, {bound}, got {value!r}.")


def non_negative(who: str, name: str, value: Any) -> None:
    """Raise unless ``value`` is a finite number >= 0 (loss weights)."""
    if not isinstance(value, int | float) or not 0.0 <= float(value) < float("inf"):
        raise ValueError(f"{who}: expected {name} as a finite number >= 0, got {value!r}.")


def one_of(who: str, name: str, value: Any, options: Sequence[Any]) -> None:
    """Raise unless ``value`` is one of ``options``."""
    if value not in options:
        raise ValueError(f"{who}: expected {name} in {tuple(options)}, got {value!r}.")
