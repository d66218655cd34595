"""One row of the contract table (kept apart from table.py to avoid an import cycle)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mmnoise.sample import Kind
from mmnoise.transforms.base import NoiseTransform


@dataclass(frozen=True)
class Case:
    """One row: how to build the transform for a modality key, and what it promises.

    Attributes:
        build: ``build(key) -> transform``.
        kind: the kind the case feeds it.
        snr: the transform adds noise at a requested ``snr_db`` (measured SNR is checked).
        monotone: the statistic that grows with ``level`` for a fixed seed: ``"mse"`` (mean
            squared change), ``"count"`` (number of changed entries) or None (not monotone).
        name: test id suffix.
        extra: extra sample entries a transform needs (none by default).
        random: its parameters or noise field come from the generator (another seed gives
            another output at level > 0); False for deterministic maps of the level.
    """

    build: Callable[[str], NoiseTransform]
    kind: Kind
    snr: bool = False
    monotone: str | None = "mse"
    name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    random: bool = True

    @property
    def cls(self) -> type[NoiseTransform]:
        return type(self.build("x"))

    @property
    def id(self) -> str:
        return f"{self.cls.__name__}-{self.kind}{'-' + self.name if self.name else ''}"
