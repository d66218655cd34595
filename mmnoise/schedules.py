"""Noise curricula: pure, serialisable schedules ``level = schedule(step)`` and adaptive ones.

A schedule maps a training step (an optimiser step for the batch path, an epoch for
:class:`mmnoise.data.NoisyDataset`) to a severity ``level`` in [0, 1]. Schedules never reach into
transforms and transforms never read the step: the training loop asks the schedule for a level
and hands it to the pipeline (docs/concepts/schedules.md).

Pure schedules are frozen dataclasses: calling one twice with the same step gives the same level,
so a resumed run only needs the step to continue the same curriculum. Each has ``to_config()``
(a plain JSON-able dict) and :func:`schedule_from_config` rebuilds it. :class:`Plateau` is the one
stateful schedule (it reacts to a validation metric); it round-trips through
``state_dict()`` / ``load_state_dict()``. :class:`NoiseMix` schedules *which* noise families are
active and their mixture weights (NMER's "type and level"), per modality. :func:`sample_levels`
turns a scheduled level into per-example levels (all equal, uniform U(0, level) or a truncated
normal around it).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any, ClassVar, Literal, TypeAlias

import torch
from torch import Tensor

from mmnoise.config import SCHEDULES, decode, encode
from mmnoise.levels import check_level, check_level_value

__all__ = [
    "Chain",
    "Constant",
    "Cosine",
    "Cyclic",
    "Exponential",
    "LevelMode",
    "LevelSchedule",
    "Linear",
    "NoiseMix",
    "PerModality",
    "Plateau",
    "Schedule",
    "Sequential",
    "Step",
    "WarmUp",
    "sample_levels",
    "schedule_from_config",
]

LevelMode: TypeAlias = Literal["fixed", "uniform", "normal"]

# ----------------------------------------------------------------------------------------------
# validation helpers
# ----------------------------------------------------------------------------------------------


def _check_positive(value: Any, *, who: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{who}: expected {name} as a positive number, got {type(value).__name__}.")
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{who}: expected {name} > 0 (a number of steps), got {value!r}.")
    return v


def _check_step(step: Any, *, who: str) -> float:
    if isinstance(step, Tensor) and step.numel() == 1:
        step = step.item()
    if isinstance(step, bool) or not isinstance(step, numbers.Real):
        raise TypeError(
            f"{who}: expected step as an int or float, got {type(step).__name__}; pass the "
            "epoch or the optimiser step counter."
        )
    s = float(step)
    if not (math.isfinite(s) and s >= 0):
        raise ValueError(f"{who}: expected a finite step >= 0, got {step!r}; steps count from 0.")
    return s


def _set(obj: object, name: str, value: Any) -> None:
    # Frozen dataclasses normalise their fields (ints -> floats, lists -> tuples) once in
    # __post_init__ so that configs and equality are canonical.
    object.__setattr__(obj, name, value)


# ----------------------------------------------------------------------------------------------
# serialisation
# ----------------------------------------------------------------------------------------------


class _Configurable:
    """Mixin: registry by class name and a generic ``to_config`` over dataclass fields."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        SCHEDULES.register(cls)  # private (_Name) bases are skipped

    def to_config(self) -> dict[str, Any]:
        """Return a plain JSON-able dict that :func:`schedule_from_config` turns back into this."""
        cfg: dict[str, Any] = {"type": type(self).__name__}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            cfg[f.name] = encode(getattr(self, f.name))
        return cfg

    @classmethod
    def _from_config(cls, cfg: Mapping[str, Any]) -> _Configurable:
        return cls(**{k: decode(v, SCHEDULES) for k, v in cfg.items() if k != "type"})


def schedule_from_config(cfg: Mapping[str, Any]) -> Any:
    """Rebuild a schedule (also PerModality, NoiseMix or Plateau) from its ``to_config()``.

    Args:
        cfg: a dict made by ``to_config()`` (possibly after a JSON round trip).

    Returns:
        A new schedule equal to the one that made ``cfg`` (for :class:`Plateau`, a fresh one with
        the same settings; restore its progress with ``load_state_dict``).

    Raises:
        TypeError: ``cfg`` is not a dict.
        ValueError: ``cfg`` has no ``"type"`` or names an unknown schedule.

    Example:
        >>> s = WarmUp(Cosine(1.0, 0.5, steps=10), steps=5)
        >>> schedule_from_config(s.to_config()) == s
        True
    """
    return SCHEDULES.build(cfg, who="schedule_from_config")


# ----------------------------------------------------------------------------------------------
# pure level schedules
# ----------------------------------------------------------------------------------------------


class Schedule(_Configurable):
    """Base class of pure level schedules: ``level = schedule(step)`` with level in [0, 1].

    Subclasses are frozen dataclasses and implement ``_value(step)`` for a validated step >= 0.

    Example:
        >>> s = Linear(0.0, 1.0, steps=10)
        >>> isinstance(s, Schedule), s(5), s(torch.tensor(5))
        (True, 0.5, 0.5)
    """

    def __call__(self, step: float) -> float:
        """Return the level at ``step`` (an int or float >= 0)."""
        return self._value(_check_step(step, who=type(self).__name__))

    def _value(self, step: float) -> float:
        raise NotImplementedError


def _ramp_fraction(step: float, steps: float) -> float:
    return min(max(step / steps, 0.0), 1.0)


@dataclass(frozen=True)
class Constant(Schedule):
    """Return the same level at every step.

    Args:
        level: the level in [0, 1].

    Example:
        >>> Constant(0.3)(0), Constant(0.3)(1000)
        (0.3, 0.3)
    """

    level: float

    def __post_init__(self) -> None:
        _set(self, "level", check_level_value(self.level, who="Constant", name="level"))

    def _value(self, step: float) -> float:
        return self.level


@dataclass(frozen=True)
class _Ramp(Schedule):
    start: float
    end: float
    _: KW_ONLY
    steps: float

    def __post_init__(self) -> None:
        who = type(self).__name__
        _set(self, "start", check_level_value(self.start, who=who, name="start"))
        _set(self, "end", check_level_value(self.end, who=who, name="end"))
        _set(self, "steps", _check_positive(self.steps, who=who, name="steps"))

    def _shape(self, t: float) -> float:
        raise NotImplementedError

    def _value(self, step: float) -> float:
        t = _ramp_fraction(step, self.steps)
        # Exact endpoints: the shapes below are 0 at t=0 and 1 at t=1 up to rounding; pin them.
        if t >= 1.0:
            return self.end
        if t <= 0.0:
            return self.start
        v = self.start + (self.end - self.start) * self._shape(t)
        return min(max(v, 0.0), 1.0)


@dataclass(frozen=True)
class Linear(_Ramp):
    """Ramp linearly from ``start`` (step 0) to ``end`` (step ``steps``), then hold ``end``.

    Args:
        start: level at step 0, in [0, 1].
        end: level from step ``steps`` on, in [0, 1] (smaller than ``start`` ramps down).
        steps: length of the ramp in steps (> 0).

    Example:
        >>> s = Linear(0.0, 1.0, steps=4)
        >>> [s(i) for i in range(6)]
        [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    """

    def _shape(self, t: float) -> float:
        return t


@dataclass(frozen=True)
class Cosine(_Ramp):
    """Ramp from ``start`` to ``end`` along a half cosine (slow, fast, slow), then hold ``end``.

    ``level = start + (end - start) * (1 - cos(pi * t)) / 2`` with ``t = step / steps``
    (the SGDR / cosine-annealing curve of Loshchilov & Hutter, 2017, eq. 5, read as a ramp).

    Args:
        start: level at step 0, in [0, 1].
        end: level from step ``steps`` on, in [0, 1].
        steps: length of the ramp in steps (> 0).

    Example:
        >>> s = Cosine(0.0, 1.0, steps=2)
        >>> [round(s(i), 6) for i in range(3)]
        [0.0, 0.5, 1.0]
    """

    def _shape(self, t: float) -> float:
        return (1.0 - math.cos(math.pi * t)) / 2.0


@dataclass(frozen=True)
class Exponential(_Ramp):
    """Ramp from ``start`` to ``end`` along a normalised exponential, then hold ``end``.

    ``level = start + (end - start) * (1 - exp(-rate * t)) / (1 - exp(-rate))``: ``rate > 0``
    moves fast first and settles (a saturating curriculum), ``rate < 0`` starts slowly and
    accelerates, ``rate = 0`` is linear. Unlike a plain ``start * gamma**step`` it reaches
    ``end`` exactly and allows ``start = 0``.

    Args:
        start: level at step 0, in [0, 1].
        end: level from step ``steps`` on, in [0, 1].
        steps: length of the ramp in steps (> 0).
        rate: curvature (dimensionless, finite).

    Example:
        >>> s = Exponential(0.0, 1.0, steps=10, rate=5.0)
        >>> s(0), round(s(1), 4), s(10)
        (0.0, 0.3961, 1.0)
    """

    rate: float = dataclasses.field(default=5.0, kw_only=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.rate, bool) or not isinstance(self.rate, (int, float)):
            raise TypeError(
                f"Exponential: expected rate as a float, got {type(self.rate).__name__}."
            )
        if not math.isfinite(self.rate):
            raise ValueError(f"Exponential: expected a finite rate, got {self.rate!r}.")
        _set(self, "rate", float(self.rate))

    def _shape(self, t: float) -> float:
        if abs(self.rate) < 1e-12:
            return t
        return math.expm1(-self.rate * t) / math.expm1(-self.rate)


@dataclass(frozen=True)
class Step(Schedule):
    """Hold ``levels[k]`` between ``milestones[k-1]`` and ``milestones[k]`` (piecewise constant).

    Args:
        levels: ``len(milestones) + 1`` levels in [0, 1].
        milestones: strictly increasing steps > 0 where the level changes.

    Example:
        >>> s = Step((0.0, 0.5, 1.0), (2, 4))
        >>> [s(i) for i in range(6)]
        [0.0, 0.0, 0.5, 0.5, 1.0, 1.0]
    """

    levels: tuple[float, ...]
    milestones: tuple[float, ...]

    def __post_init__(self) -> None:
        levels = tuple(check_level_value(v, who="Step", name="levels[i]") for v in self.levels)
        miles = tuple(_check_positive(m, who="Step", name="milestones[i]") for m in self.milestones)
        if len(levels) != len(miles) + 1:
            raise ValueError(
                f"Step: expected len(levels) == len(milestones) + 1, got {len(levels)} levels and "
                f"{len(miles)} milestones; give one level before the first milestone and one "
                "after each."
            )
        if any(b <= a for a, b in itertools.pairwise(miles)):
            raise ValueError(f"Step: expected strictly increasing milestones, got {list(miles)}.")
        _set(self, "levels", levels)
        _set(self, "milestones", miles)

    def _value(self, step: float) -> float:
        k = sum(1 for m in self.milestones if step >= m)
        return self.levels[k]


@dataclass(frozen=True)
class Cyclic(Schedule):
    """Oscillate between ``low`` and ``high`` with period ``period``, starting at ``low``.

    ``shape="triangle"`` climbs linearly to ``high`` at half a period and back (the triangular
    policy of Smith, 2017, "Cyclical Learning Rates"); ``shape="cosine"`` follows
    ``low + (high - low) * (1 - cos(2 pi step / period)) / 2``.

    Args:
        low: level at the start of each cycle, in [0, 1].
        high: level at mid-cycle, in [0, 1].
        period: cycle length in steps (> 0).
        shape: ``"triangle"`` or ``"cosine"``.

    Example:
        >>> s = Cyclic(0.0, 1.0, period=4)
        >>> [s(i) for i in range(6)]
        [0.0, 0.5, 1.0, 0.5, 0.0, 0.5]
    """

    low: float
    high: float
    _: KW_ONLY
    period: float
    shape: Literal["triangle", "cosine"] = "triangle"

    def __post_init__(self) -> None:
        _set(self, "low", check_level_value(self.low, who="Cyclic", name="low"))
        _set(self, "high", check_level_value(self.high, who="Cyclic", name="high"))
        _set(self, "period", _check_positive(self.period, who="Cyclic", name="period"))
        if self.shape not in ("triangle", "cosine"):
            raise ValueError(f"Cyclic: expected shape 'triangle' or 'cosine', got {self.shape!r}.")

    def _value(self, step: float) -> float:
        phase = (step % self.period) / self.period
        if self.shape == "triangle":
            u = 1.0 - abs(2.0 * phase - 1.0)
        else:
            u = (1.0 - math.cos(2.0 * math.pi * phase)) / 2.0
        return min(max(self.low + (self.high - self.low) * u, 0.0), 1.0)


@dataclass(frozen=True)
class Sequential(Schedule):
    """Run ``schedules[k]`` from ``milestones[k-1]`` on, each restarted at its own step 0.

    ``Sequential((a, b), (10,))`` is ``a(step)`` for ``step < 10`` and ``b(step - 10)`` after.
    ``Chain`` is an alias.

    Args:
        schedules: ``len(milestones) + 1`` schedules.
        milestones: strictly increasing steps > 0 where the next schedule takes over.

    Example:
        >>> s = Sequential((Linear(0.0, 0.5, steps=2), Constant(1.0)), (2,))
        >>> [s(i) for i in range(4)]
        [0.0, 0.25, 1.0, 1.0]
    """

    schedules: tuple[Schedule, ...]
    milestones: tuple[float, ...]

    def __post_init__(self) -> None:
        scheds = tuple(self.schedules)
        for s in scheds:
            if not isinstance(s, Schedule):
                raise TypeError(
                    f"Sequential: expected Schedule instances, got {type(s).__name__}; wrap "
                    "numbers in Constant(...)."
                )
        miles = tuple(
            _check_positive(m, who="Sequential", name="milestones[i]") for m in self.milestones
        )
        if len(scheds) != len(miles) + 1:
            raise ValueError(
                f"Sequential: expected len(schedules) == len(milestones) + 1, got {len(scheds)} "
                f"schedules and {len(miles)} milestones."
            )
        if any(b <= a for a, b in itertools.pairwise(miles)):
            raise ValueError(
                f"Sequential: expected strictly increasing milestones, got {list(miles)}."
            )
        _set(self, "schedules", scheds)
        _set(self, "milestones", miles)

    def _value(self, step: float) -> float:
        k = sum(1 for m in self.milestones if step >= m)
        offset = self.milestones[k - 1] if k > 0 else 0.0
        return self.schedules[k]._value(step - offset)


Chain = Sequential


@dataclass(frozen=True)
class WarmUp(Schedule):
    """Warm up linearly from ``start`` to ``schedule(0)`` over ``steps``, then run ``schedule``.

    The wrapped schedule starts at its own step 0 once the warm-up is over (``schedule(step -
    steps)``), so ``WarmUp(Cosine(1.0, 0.2, steps=50), steps=5)`` is five steps of ramp-up
    followed by the full cosine decay.

    Args:
        schedule: the schedule to run after the warm-up.
        steps: warm-up length in steps (> 0).
        start: level at step 0, in [0, 1].

    Example:
        >>> s = WarmUp(Constant(0.5), steps=4)
        >>> [s(i) for i in range(6)]
        [0.0, 0.125, 0.25, 0.375, 0.5, 0.5]
    """

    schedule: Schedule
    _: KW_ONLY
    steps: float
    start: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.schedule, Schedule):
            raise TypeError(
                f"WarmUp: expected a Schedule to wrap, got {type(self.schedule).__name__}."
            )
        _set(self, "steps", _check_positive(self.steps, who="WarmUp", name="steps"))
        _set(self, "start", check_level_value(self.start, who="WarmUp", name="start"))

    def _value(self, step: float) -> float:
        if step >= self.steps:
            return self.schedule._value(step - self.steps)
        target = self.schedule._value(0.0)
        return self.start + (target - self.start) * (step / self.steps)


@dataclass(frozen=True)
class PerModality(_Configurable):
    """Give each modality its own schedule; calling it returns ``{name: level}``.

    Pass the result as ``level=`` to a pipeline that accepts per-modality levels, or index it
    (``levels["audio"]``) to drive one transform per modality.

    Args:
        schedules: modality name -> schedule.

    Example:
        >>> s = PerModality({"audio": Linear(0.0, 1.0, steps=10), "text": Constant(0.2)})
        >>> s(5)
        {'audio': 0.5, 'text': 0.2}
    """

    schedules: Mapping[str, Schedule]

    def __post_init__(self) -> None:
        if not isinstance(self.schedules, Mapping) or not self.schedules:
            raise ValueError(
                "PerModality: expected a non-empty dict {modality name: Schedule}, got "
                f"{self.schedules!r:.80}."
            )
        for name, s in self.schedules.items():
            if not isinstance(s, Schedule):
                raise TypeError(
                    f"PerModality: expected schedules[{name!r}] to be a Schedule, got "
                    f"{type(s).__name__}; wrap numbers in Constant(...)."
                )
        _set(self, "schedules", dict(self.schedules))

    def __call__(self, step: float) -> dict[str, float]:
        """Return ``{modality: level}`` at ``step``."""
        s = _check_step(step, who="PerModality")
        return {name: sched._value(s) for name, sched in self.schedules.items()}


# ----------------------------------------------------------------------------------------------
# type-and-level scheduling (NMER)
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoiseMix(_Configurable):
    """Schedule which noise families are active, and their mixture weights, per modality.

    NMER ("type and level") varies the *kind* of noise as well as its strength. Here each
    (modality, family) pair has a weight schedule; at a step the weights of a modality are
    read off and, with ``normalize=True``, divided by their sum. A family whose weight is 0 is
    inactive. A pipeline uses the result to choose between noise families, e.g. the weights
    of one modality become the selection probabilities of a ``OneOf`` over that modality's
    transforms (same order as the families here); if every weight of a modality is 0 the
    modality gets no noise at that step, so skip its ``OneOf``.

    Args:
        weights: modality -> family -> weight schedule (levels in [0, 1] read as weights).
        normalize: divide each modality's weights by their sum (when the sum is > 0).

    Example:
        >>> mix = NoiseMix.staged({"audio": [("gaussian", 0), ("babble", 10)]}, ramp=10)
        >>> mix(0)
        {'audio': {'gaussian': 1.0, 'babble': 0.0}}
        >>> mix(30)
        {'audio': {'gaussian': 0.5, 'babble': 0.5}}
        >>> {f: round(w, 3) for f, w in mix(15)["audio"].items()}
        {'gaussian': 0.667, 'babble': 0.333}
        >>> mix.active(5)
        {'audio': ('gaussian',)}
    """

    weights: Mapping[str, Mapping[str, Schedule]]
    _: KW_ONLY
    normalize: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.weights, Mapping) or not self.weights:
            raise ValueError(
                "NoiseMix: expected a non-empty dict {modality: {family: Schedule}}, got "
                f"{self.weights!r:.80}."
            )
        clean: dict[str, dict[str, Schedule]] = {}
        for modality, fams in self.weights.items():
            if not isinstance(fams, Mapping) or not fams:
                raise ValueError(
                    f"NoiseMix: expected weights[{modality!r}] as a non-empty dict "
                    f"{{family: Schedule}}, got {fams!r:.80}."
                )
            for fam, s in fams.items():
                if not isinstance(s, Schedule):
                    raise TypeError(
                        f"NoiseMix: expected weights[{modality!r}][{fam!r}] to be a Schedule, "
                        f"got {type(s).__name__}; wrap numbers in Constant(...)."
                    )
            clean[str(modality)] = dict(fams)
        _set(self, "weights", clean)
        _set(self, "normalize", bool(self.normalize))

    @classmethod
    def staged(
        cls,
        stages: Mapping[str, Sequence[tuple[str, float]]],
        *,
        ramp: float = 0.0,
        normalize: bool = True,
    ) -> NoiseMix:
        """Build a mix where each family is introduced at a step and ramps up to full weight.

        Args:
            stages: modality -> [(family, first step), ...]. A family introduced at step 0 has
                weight 1 from the start.
            ramp: steps over which a later family's weight rises linearly from 0 to 1 (0: at
                once).
            normalize: as in :class:`NoiseMix`.

        Returns:
            The :class:`NoiseMix`.

        Example:
            >>> NoiseMix.staged({"text": [("swap", 0), ("typo", 4)]})(4)
            {'text': {'swap': 0.5, 'typo': 0.5}}
        """
        if not (isinstance(ramp, numbers.Real) and math.isfinite(ramp) and ramp >= 0):
            raise ValueError(f"NoiseMix.staged: expected ramp >= 0 (steps), got {ramp!r}.")
        weights: dict[str, dict[str, Schedule]] = {}
        for modality, entries in stages.items():
            fams: dict[str, Schedule] = {}
            for fam, first in entries:
                start = _check_step(first, who="NoiseMix.staged")
                sched: Schedule
                if start == 0:
                    sched = Constant(1.0)
                elif ramp > 0:
                    sched = Sequential((Constant(0.0), Linear(0.0, 1.0, steps=ramp)), (start,))
                else:
                    sched = Step((0.0, 1.0), (start,))
                fams[fam] = sched
            weights[modality] = fams
        return cls(weights, normalize=normalize)

    def __call__(self, step: float) -> dict[str, dict[str, float]]:
        """Return ``{modality: {family: weight}}`` at ``step``."""
        s = _check_step(step, who="NoiseMix")
        out: dict[str, dict[str, float]] = {}
        for modality, fams in self.weights.items():
            w = {fam: sched._value(s) for fam, sched in fams.items()}
            total = sum(w.values())
            if self.normalize and total > 0:
                w = {fam: v / total for fam, v in w.items()}
            out[modality] = w
        return out

    def active(self, step: float) -> dict[str, tuple[str, ...]]:
        """Return ``{modality: families with weight > 0}`` at ``step``."""
        return {m: tuple(f for f, v in w.items() if v > 0) for m, w in self(step).items()}


# ----------------------------------------------------------------------------------------------
# adaptive schedule
# ----------------------------------------------------------------------------------------------


class Plateau(_Configurable):
    """Move the level by ``step_size`` when a validation metric stops improving.

    ReduceLROnPlateau in reverse: after more than ``patience`` evaluations without an
    improvement larger than ``threshold``, the level goes up (``direction="up"``: the model
    has mastered this severity, make it harder) or down (``direction="down"``), clipped to
    ``bounds``. After a change the best metric is forgotten (the task changed, so earlier
    scores are not comparable) and ``cooldown`` evaluations pass before counting again.

    Stateful: save ``state_dict()`` with the checkpoint and ``load_state_dict()`` on resume to
    continue the same curriculum. ``plateau(step)`` returns the current level (the step is
    ignored) so it can stand where a schedule is expected; with DataLoader workers, put the
    new level in the dataset before the next epoch's iterator is created (not with
    ``persistent_workers=True``, whose workers keep an old copy).

    Args:
        level: initial level, within ``bounds``.
        mode: ``"max"`` if a larger metric is better (accuracy), ``"min"`` for losses.
        patience: evaluations without improvement tolerated before the level moves (>= 0).
        step_size: change of level per move (> 0).
        bounds: (lowest, highest) level, inside [0, 1].
        direction: ``"up"`` or ``"down"``.
        threshold: minimal improvement (in metric units) that counts (>= 0).
        cooldown: evaluations to wait after a move before counting again (>= 0).

    Example:
        >>> p = Plateau(level=0.2, patience=1, step_size=0.2)
        >>> [round(p.step(m), 2) for m in (0.5, 0.6, 0.6, 0.6, 0.7)]
        [0.2, 0.2, 0.2, 0.4, 0.4]
    """

    _STATE_KEYS: ClassVar[tuple[str, ...]] = (
        "level",
        "best",
        "num_bad",
        "cooldown_left",
        "num_steps",
    )

    def __init__(
        self,
        *,
        level: float = 0.0,
        mode: Literal["max", "min"] = "max",
        patience: int = 2,
        step_size: float = 0.1,
        bounds: tuple[float, float] = (0.0, 1.0),
        direction: Literal["up", "down"] = "up",
        threshold: float = 0.0,
        cooldown: int = 0,
    ) -> None:
        lo = check_level_value(bounds[0], who="Plateau", name="bounds[0]")
        hi = check_level_value(bounds[1], who="Plateau", name="bounds[1]")
        if lo > hi:
            raise ValueError(f"Plateau: expected bounds (low, high) with low <= high, got {bounds}")
        lvl = check_level_value(level, who="Plateau", name="level")
        if not lo <= lvl <= hi:
            raise ValueError(f"Plateau: expected level inside bounds {bounds}, got {level}.")
        if mode not in ("max", "min"):
            raise ValueError(f"Plateau: expected mode 'max' or 'min', got {mode!r}.")
        if direction not in ("up", "down"):
            raise ValueError(f"Plateau: expected direction 'up' or 'down', got {direction!r}.")
        for name, v in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"Plateau: expected {name} as an int >= 0, got {v!r}.")
        if not (isinstance(threshold, (int, float)) and math.isfinite(threshold) and threshold >= 0):
            raise ValueError(f"Plateau: expected threshold >= 0, got {threshold!r}.")
        self.mode = mode
        self.patience = patience
        self.step_size = _check_positive(step_size, who="Plateau", name="step_size")
        self.bounds = (lo, hi)
        self.direction = direction
        self.threshold = float(threshold)
        self.cooldown = cooldown
        self._initial_level = lvl
        self.level = lvl
        self.best: float | None = None
        self.num_bad = 0
        self.cooldown_left = 0
        self.num_steps = 0

    def __call__(self, step: float = 0) -> float:
        """Return the current level (``step`` is accepted for interface parity and ignored)."""
        return self.level

    def step(self, metric: float) -> float:
        """Record one evaluation of the metric and return the (possibly moved) level.

        Raises:
            ValueError: ``metric`` is NaN or infinite.
        """
        if isinstance(metric, Tensor):
            metric = float(metric.item())
        m = float(metric)
        if not math.isfinite(m):
            raise ValueError(
                f"Plateau.step: expected a finite metric, got {metric!r}; check the evaluation."
            )
        self.num_steps += 1
        if self.best is None:
            improved = True
        elif self.mode == "max":
            improved = m > self.best + self.threshold
        else:
            improved = m < self.best - self.threshold
        if improved:
            self.best = m
            self.num_bad = 0
        else:
            self.num_bad += 1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.num_bad = 0
        if self.num_bad > self.patience:
            sign = 1.0 if self.direction == "up" else -1.0
            new = min(max(self.level + sign * self.step_size, self.bounds[0]), self.bounds[1])
            if new != self.level:
                self.level = new
                self.best = None
            self.num_bad = 0
            self.cooldown_left = self.cooldown
        return self.level

    def state_dict(self) -> dict[str, Any]:
        """Return the progress (JSON-able): level, best metric, counters."""
        return {k: getattr(self, k) for k in self._STATE_KEYS}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the progress saved by :meth:`state_dict`.

        Raises:
            KeyError: a state entry is missing.
            ValueError: the saved level is outside ``bounds``.
        """
        missing = [k for k in self._STATE_KEYS if k not in state]
        if missing:
            raise KeyError(
                f"Plateau.load_state_dict: missing {missing} in the state; pass the dict made by "
                "Plateau.state_dict()."
            )
        level = check_level_value(state["level"], who="Plateau.load_state_dict", name="level")
        if not self.bounds[0] <= level <= self.bounds[1]:
            raise ValueError(
                f"Plateau.load_state_dict: saved level {level} is outside bounds {self.bounds}; "
                "build the Plateau with the same settings as the run that saved it."
            )
        self.level = level
        self.best = None if state["best"] is None else float(state["best"])
        self.num_bad = int(state["num_bad"])
        self.cooldown_left = int(state["cooldown_left"])
        self.num_steps = int(state["num_steps"])

    def to_config(self) -> dict[str, Any]:
        """Return the settings (not the progress) as a JSON-able dict."""
        return {
            "type": "Plateau",
            "level": self._initial_level,
            "mode": self.mode,
            "patience": self.patience,
            "step_size": self.step_size,
            "bounds": list(self.bounds),
            "direction": self.direction,
            "threshold": self.threshold,
            "cooldown": self.cooldown,
        }

    @classmethod
    def _from_config(cls, cfg: Mapping[str, Any]) -> Plateau:
        kw = {k: v for k, v in cfg.items() if k != "type"}
        if "bounds" in kw:
            kw["bounds"] = tuple(kw["bounds"])
        return cls(**kw)

    def __repr__(self) -> str:
        return (
            f"Plateau(level={self.level}, mode={self.mode!r}, patience={self.patience}, "
            f"step_size={self.step_size}, bounds={self.bounds}, direction={self.direction!r})"
        )


#: What :class:`mmnoise.data.NoisyDataset` and :class:`mmnoise.data.BatchNoise` accept as a
#: schedule: one level for the whole sample (pure or adaptive) or one per modality.
LevelSchedule: TypeAlias = Schedule | PerModality | Plateau


# ----------------------------------------------------------------------------------------------
# per-example levels
# ----------------------------------------------------------------------------------------------


def sample_levels(
    level: float | Tensor,
    batch_size: int,
    *,
    mode: LevelMode = "fixed",
    std: float = 0.1,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Draw per-example levels in [0, 1] from a scheduled level.

    ``"fixed"``: every example gets ``level`` (evaluation). ``"uniform"``: U(0, level), so a
    training batch mixes clean and noisy examples up to the scheduled severity.
    ``"normal"``: a normal around ``level`` with standard deviation ``std``, truncated to
    [0, 1] (drawn exactly by inverse-CDF sampling, not by clipping).

    Args:
        level: the scheduled level, a float or a 0-dim / (B,) tensor in [0, 1].
        batch_size: B (>= 1).
        mode: ``"fixed"``, ``"uniform"`` or ``"normal"``.
        std: standard deviation of the ``"normal"`` mode, in level units (> 0).
        generator: the random generator (must live on ``device``); None uses torch's global RNG.
        device: where to put the result; default: the generator's device, else the level's,
            else CPU.

    Shape:
        Returns (B,).

    Returns:
        A (B,) float32 tensor with values in [0, 1].

    Raises:
        ValueError: level outside [0, 1], bad mode, batch size or std, generator on another
            device.

    Example:
        >>> sample_levels(0.5, 3)
        tensor([0.5000, 0.5000, 0.5000])
        >>> g = torch.Generator().manual_seed(0)
        >>> bool((sample_levels(0.5, 4, mode="uniform", generator=g) <= 0.5).all())
        True
    """
    who = "sample_levels"
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"{who}: expected batch_size as an int >= 1, got {batch_size!r}.")
    if mode not in ("fixed", "uniform", "normal"):
        raise ValueError(
            f"{who}: expected mode 'fixed', 'uniform' or 'normal', got {mode!r}; use 'fixed' for "
            "evaluation and 'uniform' or 'normal' for training."
        )
    if device is not None:
        dev = torch.device(device)
    elif generator is not None:
        dev = generator.device
    elif isinstance(level, Tensor):
        dev = level.device
    else:
        dev = torch.device("cpu")
    if generator is not None and generator.device.type != dev.type:
        raise ValueError(
            f"{who}: the generator is on {generator.device} but the levels go to {dev}; make the "
            "generator on the data's device (mmnoise.rng.make_generator(seed, device))."
        )
    lv = check_level(level, batch_size, dev, who=who)
    if mode == "fixed":
        return lv.clone()
    if mode == "uniform":
        u = torch.rand(batch_size, generator=generator, device=dev)
        return lv * u
    if not (isinstance(std, (int, float)) and math.isfinite(std) and std > 0):
        raise ValueError(f"{who}: expected std > 0 for mode='normal', got {std!r}.")
    # Truncated normal on [0, 1] by inverting the CDF: u ~ U(Phi(a), Phi(b)) maps through
    # mean + std * Phi^-1(u); float64 keeps the tails accurate when the level sits on a bound.
    mean = lv.to(torch.float64)
    a = torch.special.ndtr((0.0 - mean) / std)
    b = torch.special.ndtr((1.0 - mean) / std)
    u = torch.rand(batch_size, generator=generator, device=dev, dtype=torch.float64)
    x = mean + std * torch.special.ndtri(a + (b - a) * u)
    out: Tensor = x.clamp(0.0, 1.0).to(torch.float32)
    return out
