"""Sequence transforms: pre-extracted features (B, T, D), and other kinds along their time axis.

Every class maps ``level`` in [0, 1] linearly onto a ``(weak, strong)`` range in the unit its
argument names; level 0 is an exact identity (the example is not touched at all).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import Tensor

from mmnoise.config import check_range, lerp
from mmnoise.deprecation import renamed_args
from mmnoise.functional import diffusion as D
from mmnoise.functional import features as F
from mmnoise.rng import Randomness
from mmnoise.sample import Keys, Kind
from mmnoise.transforms.base import NoiseTransform

__all__ = [
    "AddColoredSNR",
    "AddGaussianSNR",
    "DiffusionNoise",
    "FeatureMask",
    "FrameDropout",
    "FrameFreeze",
    "Gain",
    "ImpulseNoise",
    "Quantize",
    "TimeMask",
    "TimeShift",
]

_SEQ: frozenset[Kind] = frozenset({"features", "waveform", "frames"})
_SIGNAL: frozenset[Kind] = frozenset({"features", "waveform"})


def _check_fraction(
    value: Sequence[float], *, who: str, name: str = "fraction"
) -> tuple[float, float]:
    """A (weak, strong) pair of fractions, each in [0, 1]."""
    return check_range(value, who=who, name=name, lo=0.0, hi=1.0)


def _check_frames_fill(fill: float, kind: Kind, *, who: str) -> None:
    """Frames live in [0, 1] (uint8 frames: ``255 * fill`` rounded), so must a fill written there."""
    if kind == "frames" and not 0.0 <= fill <= 1.0:
        raise ValueError(
            f"{who}: fill={fill} is outside [0, 1], where frames live (uint8 frames get "
            "255 * fill, rounded); pass a fill in [0, 1] (0.0: black frames), or use a second "
            "transform with its own fill for the frames."
        )


def _apply_with_frames_fill(
    self: Any, x: Tensor, params: Mapping[str, Tensor], *, kind: Kind, lengths: Tensor | None,
    inplace: bool = False, present: Tensor | None = None,
) -> Tensor:  # fmt: skip
    """``apply_transform`` of the masks that write a ``fill``: the kernel, once ``fill`` is
    checked against the kind (frames: in [0, 1]). One function for every such class."""
    _check_frames_fill(self.fill, kind, who=type(self).__name__)
    return NoiseTransform.apply_transform(self, x, params, kind=kind, lengths=lengths,
                                          inplace=inplace, present=present)  # fmt: skip


class AddGaussianSNR(NoiseTransform):
    """Add white Gaussian noise at a target SNR measured on each example's valid steps.

    Level mapping: ``snr_db = weak + level * (strong - weak)`` (default 30 dB down to -5 dB).

    Args:
        keys: entries to corrupt.
        snr_db: (weak, strong) SNR in dB.
        p: per-example probability.

    Shape:
        (B, T, D) features or (B, C, L) waveforms; output keeps shape, dtype and device.

    Example:
        >>> t = AddGaussianSNR("audio", snr_db=(20.0, 0.0))
        >>> s = {"audio": torch.ones(2, 8, 3)}
        >>> out = t(s, level=1.0, generator=torch.Generator().manual_seed(0))
        >>> out["audio"].shape, out["audio"] is not s["audio"]
        (torch.Size([2, 8, 3]), True)
    """

    accepts = _SIGNAL
    differentiable = True
    kernel = staticmethod(F.add_gaussian_snr)

    def __init__(
        self, keys: Keys = None, *, snr_db: Sequence[float] = (30.0, -5.0), p: float = 1.0
    ) -> None:
        super().__init__(keys, p=p)
        self.snr_db = check_range(snr_db, who=type(self).__name__, name="snr_db")

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        return {"snr_db": lerp(level, self.snr_db), "seed": self.draw_seed(x, generator)}


class AddColoredSNR(AddGaussianSNR):
    """Add 1/f^exponent noise (coloured along time) at a target SNR on the valid steps.

    ``exponent`` 0 is white, 1 pink, 2 brown; for features it models slowly drifting
    (temporally correlated) extractor errors. Level mapping as :class:`AddGaussianSNR`.

    Args:
        keys: entries to corrupt.
        snr_db: (weak, strong) SNR in dB.
        exponent: spectral slope of the noise power, 1/f^exponent.
        p: per-example probability.

    Shape:
        (B, T, D) or (B, C, L); output keeps shape, dtype and device.

    Example:
        >>> t = AddColoredSNR("audio", exponent=2.0)
        >>> t({"audio": torch.ones(1, 8, 2)}, level=0.0)["audio"].equal(torch.ones(1, 8, 2))
        True
    """

    kernel = staticmethod(F.add_colored_snr)

    def __init__(
        self,
        keys: Keys = None,
        *,
        snr_db: Sequence[float] = (30.0, -5.0),
        exponent: float = 1.0,
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, snr_db=snr_db, p=p)
        self.exponent = float(exponent)

    def kernel_kwargs(self) -> dict[str, float]:
        return {"exponent": self.exponent}


@renamed_args(ratio="fraction")
class ImpulseNoise(NoiseTransform):
    """Replace a fraction of entries by salt-and-pepper impulses of +/- ``amplitude`` std.

    Level mapping: ``fraction = weak + level * (strong - weak)`` (default 0 to 0.2).

    Args:
        keys: entries to corrupt.
        fraction: (weak, strong) fraction of valid entries hit, in [0, 1]; per-entry probability.
        amplitude: impulse height in units of the example's standard deviation.
        p: per-example probability.

    Shape:
        (B, T, D) or (B, C, L); output keeps shape, dtype and device.

    Example:
        >>> ImpulseNoise("audio")({"audio": torch.ones(1, 4, 2)}, level=0.0)["audio"].sum().item()
        8.0
    """

    accepts = _SIGNAL
    differentiable = True
    kernel = staticmethod(F.impulse_noise)

    def __init__(
        self,
        keys: Keys = None,
        *,
        fraction: Sequence[float] = (0.0, 0.2),
        amplitude: float = 3.0,
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, p=p)
        self.fraction = _check_fraction(fraction, who=type(self).__name__)
        self.amplitude = float(amplitude)

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        return {"fraction": lerp(level, self.fraction), "seed": self.draw_seed(x, generator)}

    def kernel_kwargs(self) -> dict[str, float]:
        return {"amplitude": self.amplitude}


class Gain(NoiseTransform):
    """Scale each example by a gain in dB (a multiplicative / level mismatch).

    Level mapping: ``gain_db = weak + level * (strong - weak)`` (default 0 to -20 dB).

    Args:
        keys: entries to corrupt.
        gain_db: (weak, strong) amplitude gain in dB.
        p: per-example probability.

    Shape:
        (B, T, D) or (B, C, L); output keeps shape, dtype and device.

    Example:
        >>> Gain("audio", gain_db=(0.0, -20.0))({"audio": torch.ones(1, 2, 1)})["audio"].flatten()
        tensor([0.1000, 0.1000])
    """

    accepts = _SIGNAL
    differentiable = True
    kernel = staticmethod(F.gain)

    def __init__(
        self, keys: Keys = None, *, gain_db: Sequence[float] = (0.0, -20.0), p: float = 1.0
    ) -> None:
        super().__init__(keys, p=p)
        self.gain_db = check_range(gain_db, who=type(self).__name__, name="gain_db")

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        return {"gain_db": lerp(level, self.gain_db)}


@renamed_args(ratio="fraction")
class FrameDropout(NoiseTransform):
    """Drop random whole steps (feature frames, video frames) to ``fill``.

    Level mapping: ``fraction = weak + level * (strong - weak)`` (default 0 to 0.5).

    Args:
        keys: entries to corrupt.
        fraction: (weak, strong) fraction of valid steps dropped, in [0, 1]; per-step
            probability.
        fill: value of a dropped step (frames: an intensity in [0, 1]; uint8 frames get
            ``255 * fill`` rounded).
        p: per-example probability.

    Shape:
        (B, T, D) features or (B, T, C, H, W) frames; output keeps shape, dtype and device.

    Example:
        >>> FrameDropout("v", fraction=(0.0, 1.0))({"v": torch.ones(1, 3, 2)})["v"].sum().item()
        0.0
    """

    accepts = frozenset({"features", "frames"})
    differentiable = True
    kernel = staticmethod(F.frame_dropout)
    writes_in_place = True

    def __init__(
        self,
        keys: Keys = None,
        *,
        fraction: Sequence[float] = (0.0, 0.5),
        fill: float = 0.0,
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, p=p)
        self.fraction = _check_fraction(fraction, who=type(self).__name__)
        self.fill = float(fill)

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        return {"fraction": lerp(level, self.fraction), "seed": self.draw_seed(x, generator)}

    def kernel_kwargs(self) -> dict[str, float]:
        return {"fill": self.fill}

    apply_transform = _apply_with_frames_fill


@renamed_args(ratio="fraction")
class TimeMask(NoiseTransform):
    """Mask one contiguous span of steps with ``fill`` (time masking, packet loss, occlusion in time).

    Level mapping: span width ``weak + level * (strong - weak)`` of the valid length (0 to 0.5);
    the start is a uniform fraction, so a shared draw masks the same *time* in every modality.

    Args:
        keys: entries to corrupt.
        fraction: (weak, strong) fraction of the valid steps masked (the span's width), in
            [0, 1].
        fill: value written into the span (frames: an intensity in [0, 1]; uint8 frames get
            ``255 * fill`` rounded).
        p: per-example probability.

    Shape:
        (B, T, D), (B, C, L) or (B, T, C, H, W); output keeps shape, dtype and device.

    Example:
        >>> t = TimeMask("a", fraction=(0.0, 1.0))
        >>> t({"a": torch.ones(1, 4, 1)}, level=1.0)["a"].sum().item()
        0.0
    """

    accepts = _SEQ
    differentiable = True
    kernel = staticmethod(F.time_mask)
    writes_in_place = True

    def __init__(
        self,
        keys: Keys = None,
        *,
        fraction: Sequence[float] = (0.0, 0.5),
        fill: float = 0.0,
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, p=p)
        self.fraction = _check_fraction(fraction, who=type(self).__name__)
        self.fill = float(fill)

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        return {"start": self.uniform(x, generator), "width_fraction": lerp(level, self.fraction)}

    def kernel_kwargs(self) -> dict[str, float]:
        return {"fill": self.fill}

    apply_transform = _apply_with_frames_fill


@renamed_args(ratio="fraction")
class FrameFreeze(NoiseTransform):
    """Freeze one contiguous span: it repeats the last valid step before it (a stalled stream).

    Level mapping: span width ``weak + level * (strong - weak)`` of the valid length (0 to 0.5).

    Args:
        keys: entries to corrupt.
        fraction: (weak, strong) fraction of the valid steps frozen (the span's width), in
            [0, 1].
        p: per-example probability.

    Shape:
        (B, T, D) or (B, T, C, H, W); output keeps shape, dtype and device.

    Example:
        >>> x = torch.arange(4.0).reshape(1, 4, 1)
        >>> FrameFreeze("v", fraction=(0.0, 1.0))({"v": x}, level=1.0)["v"].flatten()
        tensor([0., 0., 0., 0.])
    """

    accepts = frozenset({"features", "frames"})
    differentiable = True
    kernel = staticmethod(F.frame_freeze)

    def __init__(
        self, keys: Keys = None, *, fraction: Sequence[float] = (0.0, 0.5), p: float = 1.0
    ) -> None:
        super().__init__(keys, p=p)
        self.fraction = _check_fraction(fraction, who=type(self).__name__)

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        return {"start": self.uniform(x, generator), "width_fraction": lerp(level, self.fraction)}


@renamed_args(ratio="fraction")
class FeatureMask(TimeMask):
    """Mask one contiguous band of feature dimensions on every valid step (SpecAugment-style).

    Level mapping: band width ``weak + level * (strong - weak)`` of D (default 0 to 0.5).

    Args:
        keys: entries to corrupt.
        fraction: (weak, strong) fraction of the feature dimensions D masked (the band's
            width), in [0, 1].
        fill: value written into the band.
        p: per-example probability.

    Shape:
        (B, T, D); output keeps shape, dtype and device.

    Example:
        >>> FeatureMask("a", fraction=(0.0, 1.0))({"a": torch.ones(1, 2, 4)})["a"].sum().item()
        0.0
    """

    accepts = frozenset({"features"})
    kernel = staticmethod(F.feature_mask)
    writes_in_place = True


@renamed_args(shift_ratio="shift_fraction")
class TimeShift(NoiseTransform):
    """Shift a modality in time by a signed fraction of its length (misalignment between modalities).

    Level mapping: ``|shift| = weak + level * (strong - weak)`` of the valid length (0 to 0.2),
    with a random sign per example; edges repeat the first / last valid step.

    Args:
        keys: entries to corrupt (shift some modalities and not others to misalign them).
        shift_fraction: (weak, strong) absolute shift as a fraction of the valid length, in
            [0, 1].
        p: per-example probability.

    Shape:
        (B, T, D), (B, C, L) or (B, T, C, H, W); output keeps shape, dtype and device.

    Example:
        >>> x = torch.arange(4.0).reshape(1, 4, 1)
        >>> out = TimeShift("a", shift_fraction=(0.0, 0.5))({"a": x}, generator=torch.Generator())
        >>> sorted(out["a"].flatten().tolist()) != x.flatten().tolist()
        True
    """

    accepts = _SEQ
    differentiable = True
    kernel = staticmethod(F.time_shift)

    def __init__(
        self, keys: Keys = None, *, shift_fraction: Sequence[float] = (0.0, 0.2), p: float = 1.0
    ) -> None:
        super().__init__(keys, p=p)
        self.shift_fraction = _check_fraction(
            shift_fraction, who=type(self).__name__, name="shift_fraction"
        )

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        sign = torch.where(self.uniform(x, generator) < 0.5, -1.0, 1.0)
        return {"shift_fraction": sign * lerp(level, self.shift_fraction)}


class Quantize(NoiseTransform):
    """Quantise each example to ``2 ** bits`` uniform levels over its own range.

    Level mapping: ``bits = weak + level * (strong - weak)``, rounded (default 16 down to 2).

    Args:
        keys: entries to corrupt.
        bits: (weak, strong) bit depth, each >= 1.
        p: per-example probability.

    Shape:
        (B, T, D) or (B, C, L); output keeps shape, dtype and device.

    Example:
        >>> x = torch.tensor([[[0.0], [0.4], [1.0]]])
        >>> Quantize("a", bits=(8.0, 1.0))({"a": x})["a"].flatten()
        tensor([0., 0., 1.])
    """

    accepts = _SIGNAL
    kernel = staticmethod(F.quantize)

    def __init__(
        self, keys: Keys = None, *, bits: Sequence[float] = (16.0, 2.0), p: float = 1.0
    ) -> None:
        super().__init__(keys, p=p)
        self.bits = check_range(bits, who=type(self).__name__, name="bits", lo=1.0)

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        return {"bits": lerp(level, self.bits)}


@renamed_args(schedule="beta_schedule", impulse_ratio="impulse_fraction")
class DiffusionNoise(NoiseTransform):
    """NMER's forward noising ``sqrt(abar_t) x + sqrt(1 - abar_t) eps`` with a beta schedule.

    Level mapping: diffusion step ``t = ceil(level * num_steps) - 1`` in ``[0, num_steps - 1]``;
    NMER draws ``t ~ U{0..T-1}`` per batch, which is ``level`` drawn uniformly
    (``mmnoise.schedules.sample_levels(..., mode="uniform")``).

    Args:
        keys: entries to corrupt.
        beta_schedule: ``linear``, ``scaled_linear`` (NMER), ``cosine`` or ``sigmoid``.
        num_steps: T, NMER's noise intensity (paper: 20 to 100).
        beta: (beta_start, beta_end) of the schedule (NMER: 0.01 to 0.5).
        noise: ``gaussian`` or ``impulse`` (sign noise on ``impulse_fraction`` of entries).
        impulse_fraction: fraction of entries hit by impulse noise, in [0, 1]; per-entry
            probability.
        p: per-example probability.

    Shape:
        (B, T, D) or (B, C, L); output keeps shape, dtype and device.

    Example:
        >>> t = DiffusionNoise("a", num_steps=10)
        >>> out = t({"a": torch.ones(1, 3, 2)}, level=1.0, generator=torch.Generator())
        >>> out["a"].shape
        torch.Size([1, 3, 2])
    """

    accepts = _SIGNAL
    differentiable = True
    kernel = staticmethod(D.diffusion_noise)
    alpha_bars: Tensor

    def __init__(
        self,
        keys: Keys = None,
        *,
        beta_schedule: D.BetaSchedule = "scaled_linear",
        num_steps: int = 100,
        beta: Sequence[float] = (0.01, 0.5),
        noise: Literal["gaussian", "impulse"] = "gaussian",
        impulse_fraction: float = 0.3,
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, p=p)
        who = type(self).__name__
        self.beta = check_range(beta, who=who, name="beta", lo=0.0, hi=1.0)
        self.beta_schedule, self.num_steps = beta_schedule, int(num_steps)
        if noise not in ("gaussian", "impulse"):
            raise ValueError(f"{who}: expected noise 'gaussian' or 'impulse', got {noise!r}.")
        if not 0.0 <= float(impulse_fraction) <= 1.0:
            raise ValueError(
                f"{who}: expected impulse_fraction in [0, 1] (the share of entries impulse noise "
                f"hits), got {impulse_fraction!r}."
            )
        self.noise, self.impulse_fraction = noise, float(impulse_fraction)
        betas = D.beta_schedule(
            beta_schedule, self.num_steps, beta_start=self.beta[0], beta_end=self.beta[1]
        )
        self.register_buffer("alpha_bars", D.alpha_bar(betas).float(), persistent=False)

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        step = (torch.ceil(level * self.num_steps) - 1).clamp(0, self.num_steps - 1).long()
        abar = self.alpha_bars.to(x.device)[step]
        return {"alpha_bar": abar, "seed": self.draw_seed(x, generator)}

    def kernel_kwargs(self) -> dict[str, object]:
        return {"noise": self.noise, "impulse_fraction": self.impulse_fraction}
