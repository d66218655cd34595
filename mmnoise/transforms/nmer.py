"""NMER's noise scheduler as a transform: the noised copy that replaces a missing modality."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from mmnoise import rng
from mmnoise.config import check_range, lerp
from mmnoise.deprecation import renamed_args
from mmnoise.functional import diffusion as D
from mmnoise.rng import Randomness
from mmnoise.sample import Keys, Kind
from mmnoise.transforms.base import NoiseTransform

__all__ = ["NMERNoise", "intensity_level"]

# NMER noises feature sequences; raw frames would leave their [0, 1] range
_FLOAT_KINDS: frozenset[Kind] = frozenset({"features", "waveform"})


def intensity_level(intensity: float, *, strong: float = 100.0) -> float:
    """Return the ``level`` that gives NMER intensity ``intensity`` with ``intensity=(0, strong)``.

    The default mapping is T = round(level * 100): NMER's plotted intensities 20, 40, 60, 80
    and 100 are levels 0.2, 0.4, 0.6, 0.8 and 1.0.

    Example:
        >>> intensity_level(20)
        0.2
    """
    if not 0.0 <= intensity <= strong:
        raise ValueError(
            f"intensity_level: expected 0 <= intensity <= {strong}, got {intensity}; raise "
            "strong= (the strong end of NMERNoise's intensity range) for longer schedules."
        )
    return float(intensity) / float(strong)


@renamed_args(schedule="beta_schedule", impulse_ratio="impulse_fraction")
class NMERNoise(NoiseTransform):
    """NMER's noise scheduler: ``sqrt(abar_t) x + sqrt(1 - abar_t) eps``, betas rebuilt over T.

    As the authors' ``NoiseScheduler`` (``Domiss.py``, WooyoohL/Noise-robust_MER): the betas follow
    a ``scaled_linear`` schedule from ``beta[0]`` to ``beta[1]`` (0.01 to 0.5) over T steps,
    T being the **noise intensity** (the paper plots 20, 40, 60, 80, 100); the step
    t ~ U{0, ..., T - 1} is drawn **once per call** (one t for the batch, per modality: upstream)
    or, with ``per_example=True``, for each example. ``eps`` is ``gaussian`` N(0, I) or
    ``impulse``: sign(N(0, 1)) on a random ``impulse_fraction`` of the entries (upstream keeps an
    entry where U > occur_freq = 0.7, so 30 %) and 0 elsewhere.

    Level mapping: T = round(lerp(level, ``intensity``)), at least 1; the default
    ``intensity=(0, 100)`` gives T = round(100 * level), so intensity 20 is level 0.2
    (:func:`intensity_level`); a fixed T is ``intensity=(T, T)`` (any level > 0). Level 0 is an
    exact identity. With per-example levels (hence per-example T) and one draw per call, the
    call draws one u ~ U[0, 1) and each example takes t = floor(u * T).

    Use it as the fill of a missing modality, NMER's "incomplete" condition:
    ``DropModalities(keys, patterns="mmin", fill=NMERNoise())`` (or ``fill="nmer"`` /
    ``"nmer_impulse"``) replaces every missing modality by its noised copy, at evaluation too
    (seeded: the same draw for the same generator). Padding (steps past ``lengths``) keeps its
    values, on its own and as a fill (upstream noises the padded zeros too).

    Args:
        keys: entries to corrupt (float kinds).
        intensity: (weak, strong) number of diffusion steps T (steps, >= 0).
        noise: ``gaussian`` or ``impulse``.
        per_example: draw t per example instead of once per call.
        beta: (beta_start, beta_end) of the schedule (NMER: 0.01, 0.5).
        beta_schedule: ``scaled_linear`` (NMER) or ``linear``.
        impulse_fraction: fraction of the entries impulse noise hits, in [0, 1]; per-entry
            probability (NMER: 1 - 0.7).
        p: per-example probability.

    Shape:
        Any float kind, batch-first; output keeps shape, dtype and device.

    Example:
        >>> t = NMERNoise("a", intensity=(20, 20))
        >>> out = t({"a": torch.ones(2, 3, 4)}, level=1.0, generator=torch.Generator())
        >>> out["a"].shape
        torch.Size([2, 3, 4])
    """

    accepts = _FLOAT_KINDS
    differentiable = True
    kernel = staticmethod(D.diffusion_noise)

    def __init__(
        self,
        keys: Keys = None,
        *,
        intensity: Sequence[float] = (0.0, 100.0),
        noise: Literal["gaussian", "impulse"] = "gaussian",
        per_example: bool = False,
        beta: Sequence[float] = (0.01, 0.5),
        beta_schedule: Literal["scaled_linear", "linear"] = "scaled_linear",
        impulse_fraction: float = 0.3,
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, p=p)
        who = type(self).__name__
        self.intensity = check_range(intensity, who=who, name="intensity", lo=0.0)
        if max(self.intensity) < 1:
            raise ValueError(
                f"{who}: expected the strong intensity >= 1 step, got {intensity!r}; NMER uses "
                "(0, 100) (T = 100 * level) or a fixed (T, T)."
            )
        self.beta = check_range(beta, who=who, name="beta", lo=0.0, hi=1.0)
        if not 0.0 < self.beta[0] <= self.beta[1] < 1.0:
            raise ValueError(f"{who}: expected 0 < beta[0] <= beta[1] < 1, got {beta!r}.")
        if noise not in ("gaussian", "impulse"):
            raise ValueError(f"{who}: expected noise 'gaussian' or 'impulse', got {noise!r}.")
        if beta_schedule not in ("scaled_linear", "linear"):
            raise ValueError(
                f"{who}: expected beta_schedule 'scaled_linear' (NMER) or 'linear', got "
                f"{beta_schedule!r}."
            )
        if not 0.0 <= float(impulse_fraction) <= 1.0:
            raise ValueError(
                f"{who}: expected impulse_fraction in [0, 1], got {impulse_fraction!r}."
            )
        self.noise, self.per_example, self.beta_schedule = noise, bool(per_example), beta_schedule
        self.impulse_fraction = float(impulse_fraction)
        self._max_steps = max(1, math.ceil(max(self.intensity)))

    def steps(self, x: Tensor, level: Tensor, *, generator: Randomness) -> tuple[Tensor, Tensor]:
        """Draw (T, t) per example for severities ``level``: T from the level, t ~ U{0..T-1}."""
        big_t = torch.round(lerp(level, self.intensity)).clamp(min=1, max=self._max_steps)
        if rng.per_example(generator) and not self.per_example:
            raise ValueError(
                f"{type(self).__name__}: per_example=False draws one diffusion step for the whole "
                "batch (as upstream NMER), so per-example generators cannot make an example "
                "independent of its batch; pass per_example=True."
            )
        u = self.uniform(x, generator) if self.per_example else self.uniform(x[:1], generator)
        step = torch.floor(u.expand(x.shape[0]) * big_t).clamp(max=big_t - 1)
        return big_t.long(), step.long()

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        big_t, step = self.steps(x, level, generator=generator)
        abar = D.nmer_alpha_bar(
            big_t,
            step,
            max_steps=self._max_steps,
            beta_start=self.beta[0],
            beta_end=self.beta[1],
            kind=self.beta_schedule,
        )
        return {"alpha_bar": abar.to(torch.float32), "seed": self.draw_seed(x, generator)}

    def kernel_kwargs(self) -> dict[str, object]:
        return {"noise": self.noise, "impulse_fraction": self.impulse_fraction}
