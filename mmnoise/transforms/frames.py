"""Video frame transforms: (B, T, C, H, W) float in [0, 1], built on kornia.

Every class maps ``level`` in [0, 1] linearly onto a ``(weak, strong)`` range in the unit its
argument names; level 0 is an exact identity. Parameters are drawn once per clip and shared by its
T frames (a clip is blurred or occluded as a whole); classes with random geometry take
``per_frame=True`` to draw it for every frame instead. Frame dropping, freezing, time masking and
shifts along T are the sequence transforms of :mod:`mmnoise.transforms.features`
(``FrameDropout``, ``FrameFreeze``, ``TimeMask``, ``TimeShift``), which accept frames.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from mmnoise.config import check_range, lerp
from mmnoise.deprecation import renamed_args
from mmnoise.functional import frames as F
from mmnoise.rng import Randomness
from mmnoise.sample import Keys, Kind
from mmnoise.transforms.base import NoiseTransform

__all__ = [
    "JPEG",
    "Brightness",
    "Contrast",
    "DefocusBlur",
    "GaussianBlur",
    "GaussianNoise",
    "LowLight",
    "MotionBlur",
    "Occlusion",
    "PyramidBlur",
    "ResolutionDrop",
    "ShotNoise",
]

_FRAMES: frozenset[Kind] = frozenset({"frames"})


def _shape(x: Tensor, per_frame: bool) -> tuple[int, ...]:
    """Extra parameter axes after B: () per clip, (T,) per frame."""
    return (x.shape[1],) if per_frame else ()


@renamed_args(sigma="std")
class GaussianNoise(NoiseTransform):
    """Add white Gaussian sensor noise to every pixel, clamped to [0, 1].

    Level mapping: ``std = weak + level * (strong - weak)`` (default 0 to 0.3, intensity units;
    ImageNet-C uses 0.08 to 0.38). The noise field is fresh for every frame.

    Args:
        keys: entries to corrupt.
        std: (weak, strong) noise standard deviation in intensity units (the [0, 1] scale of
            float frames; uint8 frames are read as value / 255). Formerly ``sigma``.
        p: per-example probability.

    Shape:
        (B, T, C, H, W); output keeps shape, dtype and device.

    Example:
        >>> x = torch.full((1, 2, 1, 4, 4), 0.5)
        >>> y = GaussianNoise("v")({"v": x}, generator=torch.Generator().manual_seed(0))["v"]
        >>> bool((y != x).any()), bool(((y >= 0) & (y <= 1)).all())
        (True, True)
    """

    accepts = _FRAMES
    differentiable = True
    kernel = staticmethod(F.gaussian_noise)

    def __init__(
        self, keys: Keys = None, *, std: Sequence[float] = (0.0, 0.3), p: float = 1.0
    ) -> None:
        super().__init__(keys, p=p)
        self.std = check_range(std, who=type(self).__name__, name="std", lo=0.0)

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        return {"std": lerp(level, self.std), "seed": self.draw_seed(x, generator)}


@renamed_args(sigma="std")
class ShotNoise(GaussianNoise):
    """Add signal-dependent (Poisson-like) shot noise ``std * sqrt(x) * eps``, clamped to [0, 1].

    Level mapping: ``std = weak + level * (strong - weak)`` at full intensity (default 0 to 0.5;
    ImageNet-C's shot noise with c = 60 to 3 photons is std = 1/sqrt(c) = 0.13 to 0.58).

    Args:
        keys: entries to corrupt.
        std: (weak, strong) noise standard deviation at intensity 1, in intensity units.
            Formerly ``sigma``.
        p: per-example probability.

    Shape:
        (B, T, C, H, W); output keeps shape, dtype and device.

    Example:
        >>> x = torch.zeros(1, 1, 1, 4, 4)
        >>> ShotNoise("v")({"v": x}, generator=torch.Generator())["v"].equal(x)
        True
    """

    kernel = staticmethod(F.shot_noise)

    def __init__(
        self, keys: Keys = None, *, std: Sequence[float] = (0.0, 0.5), p: float = 1.0
    ) -> None:
        super().__init__(keys, std=std, p=p)


@renamed_args(sigma="sigma_px")
class GaussianBlur(NoiseTransform):
    """Blur each clip with an isotropic Gaussian (soft focus, compression smoothing).

    Level mapping: ``sigma_px = weak + level * (strong - weak)`` pixels (default 0 to 3). The
    kernel side is fixed by the strongest sigma, ``2 * ceil(3 * max) + 1``, so an example's result
    does not depend on the rest of the batch.

    Args:
        keys: entries to corrupt.
        sigma_px: (weak, strong) blur standard deviation in pixels. Formerly ``sigma``.
        p: per-example probability.

    Shape:
        (B, T, C, H, W); output keeps shape, dtype and device.

    Example:
        >>> x = torch.zeros(1, 1, 1, 9, 9); x[..., 4, 4] = 1.0
        >>> y = GaussianBlur("v", sigma_px=(0.0, 1.0))({"v": x})["v"]
        >>> round(y.max().item(), 3)
        0.159
    """

    accepts = _FRAMES
    differentiable = True
    kernel = staticmethod(F.gaussian_blur)

    def __init__(
        self, keys: Keys = None, *, sigma_px: Sequence[float] = (0.0, 3.0), p: float = 1.0
    ) -> None:
        super().__init__(keys, p=p)
        self.sigma_px = check_range(sigma_px, who=type(self).__name__, name="sigma_px", lo=0.0)

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        return {"sigma_px": lerp(level, self.sigma_px)}

    def kernel_kwargs(self) -> dict[str, int]:
        return {"kernel_size": 2 * math.ceil(3 * max(self.sigma_px)) + 1}


class MotionBlur(NoiseTransform):
    """Smear each clip along a random direction (camera shake, fast head motion).

    Level mapping: streak ``length = weak + level * (strong - weak)`` pixels (default 0 to 15);
    the angle is uniform in [0, 360) degrees, one per clip, or one per frame with ``per_frame``.

    Args:
        keys: entries to corrupt.
        length: (weak, strong) streak length in pixels.
        per_frame: draw the angle for every frame instead of once per clip.
        p: per-example probability.

    Shape:
        (B, T, C, H, W); output keeps shape, dtype and device.

    Example:
        >>> x = torch.zeros(1, 1, 1, 7, 7); x[..., 3, 3] = 1.0
        >>> y = MotionBlur("v", length=(0.0, 3.0))({"v": x}, generator=torch.Generator())["v"]
        >>> round(y.sum().item(), 4), bool(y.max() < 1)
        (1.0, True)
    """

    accepts = _FRAMES
    differentiable = True
    kernel = staticmethod(F.motion_blur)

    def __init__(
        self,
        keys: Keys = None,
        *,
        length: Sequence[float] = (0.0, 15.0),
        per_frame: bool = False,
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, p=p)
        self.length = check_range(length, who=type(self).__name__, name="length", lo=0.0)
        self.per_frame = bool(per_frame)

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        angle = 360.0 * self.uniform(x, generator, *_shape(x, self.per_frame))
        return {"length": lerp(level, self.length), "angle_deg": angle}

    def kernel_kwargs(self) -> dict[str, int]:
        return {"kernel_size": 2 * math.ceil(max(self.length) / 2) + 1}


class DefocusBlur(NoiseTransform):
    """Blur each clip with a disk kernel (an out-of-focus camera, ImageNet-C defocus blur).

    Level mapping: disk ``radius = weak + level * (strong - weak)`` pixels (default 0 to 4).

    Args:
        keys: entries to corrupt.
        radius: (weak, strong) disk radius in pixels.
        p: per-example probability.

    Shape:
        (B, T, C, H, W); output keeps shape, dtype and device.

    Example:
        >>> x = torch.zeros(1, 1, 1, 9, 9); x[..., 4, 4] = 1.0
        >>> y = DefocusBlur("v", radius=(0.0, 2.0))({"v": x})["v"]
        >>> round(y.sum().item(), 4), int((y > 0).sum())
        (1.0, 21)
    """

    accepts = _FRAMES
    differentiable = True
    kernel = staticmethod(F.defocus_blur)

    def __init__(
        self, keys: Keys = None, *, radius: Sequence[float] = (0.0, 4.0), p: float = 1.0
    ) -> None:
        super().__init__(keys, p=p)
        self.radius = check_range(radius, who=type(self).__name__, name="radius", lo=0.0)

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        return {"radius": lerp(level, self.radius)}

    def kernel_kwargs(self) -> dict[str, int]:
        return {"kernel_size": 2 * math.ceil(max(self.radius) + 0.5) + 1}


@renamed_args(area_ratio="fraction")
class Occlusion(NoiseTransform):
    """Cover a face-part-sized box of every frame with ``fill`` (hand, glasses, mask, microphone).

    Level mapping: covered ``fraction = weak + level * (strong - weak)`` of the frame (default
    0 to 0.25: an eye pair is about 0.05 of a face crop, the mouth region about 0.1, a hand 0.25).
    The box's height / width ratio is log-uniform in ``aspect`` and its position uniform inside the
    frame, once per clip (a static occluder) or per frame with ``per_frame``.

    Args:
        keys: entries to corrupt.
        fraction: (weak, strong) share of the frame's area covered, in [0, 1] (a fraction of
            H x W pixels). Formerly ``area_ratio``.
        aspect: (min, max) box height / width ratio, sampled log-uniformly (not level-driven).
        fill: value of the covered pixels.
        per_frame: draw the box for every frame instead of once per clip.
        p: per-example probability.

    Shape:
        (B, T, C, H, W); output keeps shape, dtype and device.

    Example:
        >>> x = torch.ones(1, 2, 1, 8, 8)
        >>> y = Occlusion("v", fraction=(0.0, 0.25), aspect=(1.0, 1.0))(
        ...     {"v": x}, generator=torch.Generator())["v"]
        >>> (y == 0).sum(dim=(2, 3, 4)).tolist()
        [[16, 16]]
    """

    accepts = _FRAMES
    differentiable = True
    kernel = staticmethod(F.occlusion)

    def __init__(
        self,
        keys: Keys = None,
        *,
        fraction: Sequence[float] = (0.0, 0.25),
        aspect: Sequence[float] = (0.5, 2.0),
        fill: float = 0.0,
        per_frame: bool = False,
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, p=p)
        who = type(self).__name__
        self.fraction = check_range(fraction, who=who, name="fraction", lo=0.0, hi=1.0)
        self.aspect = check_range(aspect, who=who, name="aspect", lo=1e-3)
        self.fill = float(fill)
        self.per_frame = bool(per_frame)

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        shape = _shape(x, self.per_frame)
        lo, hi = math.log(self.aspect[0]), math.log(self.aspect[1])
        aspect = torch.exp(lo + (hi - lo) * self.uniform(x, generator, *shape))
        return {
            "fraction": lerp(level, self.fraction),
            "aspect": aspect,
            "center_y": self.uniform(x, generator, *shape),
            "center_x": self.uniform(x, generator, *shape),
        }

    def kernel_kwargs(self) -> dict[str, float]:
        return {"fill": self.fill}


class JPEG(NoiseTransform):
    """JPEG-compress each clip (streaming / storage artefacts: blocking, ringing, colour bleed).

    Level mapping: ``quality = weak + level * (strong - weak)`` (default 90 down to 10). Uses
    kornia's differentiable codec: it passes smoothed gradients (it trains through), but they are
    an approximation, so ``differentiable`` (exact gradcheck) is False.

    Args:
        keys: entries to corrupt (frames with C = 1 or 3).
        quality: (weak, strong) JPEG quality in [1, 100].
        p: per-example probability.

    Shape:
        (B, T, C, H, W); output keeps shape, dtype and device; values stay in [0, 1].

    Example:
        >>> x = torch.linspace(0, 1, 16 * 16).reshape(1, 1, 1, 16, 16)
        >>> y = JPEG("v")({"v": x})["v"]
        >>> bool(((y >= 0) & (y <= 1)).all()), bool((y != x).any())
        (True, True)
    """

    accepts = _FRAMES
    kernel = staticmethod(F.jpeg)

    def __init__(
        self, keys: Keys = None, *, quality: Sequence[float] = (90.0, 10.0), p: float = 1.0
    ) -> None:
        super().__init__(keys, p=p)
        self.quality = check_range(
            quality, who=type(self).__name__, name="quality", lo=1.0, hi=100.0
        )

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        return {"quality": lerp(level, self.quality)}


class Brightness(NoiseTransform):
    """Over- or under-expose each clip: shift intensities by +/- ``delta``, clamped to [0, 1].

    Level mapping: ``|delta| = weak + level * (strong - weak)`` (default 0 to 0.5), with a random
    sign per clip (for darkening only, use :class:`LowLight`).

    Args:
        keys: entries to corrupt.
        delta: (weak, strong) absolute intensity shift.
        p: per-example probability.

    Shape:
        (B, T, C, H, W); output keeps shape, dtype and device.

    Example:
        >>> x = torch.full((1, 1, 1, 1, 2), 0.5)
        >>> y = Brightness("v")({"v": x}, generator=torch.Generator())["v"].flatten().tolist()
        >>> y in ([0.0, 0.0], [1.0, 1.0])
        True
    """

    accepts = _FRAMES
    differentiable = True
    kernel = staticmethod(F.brightness)

    def __init__(
        self, keys: Keys = None, *, delta: Sequence[float] = (0.0, 0.5), p: float = 1.0
    ) -> None:
        super().__init__(keys, p=p)
        self.delta = check_range(delta, who=type(self).__name__, name="delta", lo=0.0, hi=1.0)

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        sign = torch.where(self.uniform(x, generator) < 0.5, -1.0, 1.0)
        return {"delta": sign * lerp(level, self.delta)}


class Contrast(NoiseTransform):
    """Wash out each clip: pull every frame toward its mean grey level.

    Level mapping: contrast ``factor = weak + level * (strong - weak)`` (default 1 down to 0.2).

    Args:
        keys: entries to corrupt.
        factor: (weak, strong) contrast factor, >= 0 (1 = unchanged, 0 = flat grey).
        p: per-example probability.

    Shape:
        (B, T, C, H, W); output keeps shape, dtype and device.

    Example:
        >>> x = torch.tensor([0.0, 1.0]).reshape(1, 1, 1, 1, 2)
        >>> Contrast("v", factor=(1.0, 0.5))({"v": x})["v"].flatten()
        tensor([0.2500, 0.7500])
    """

    accepts = _FRAMES
    differentiable = True
    kernel = staticmethod(F.contrast)

    def __init__(
        self, keys: Keys = None, *, factor: Sequence[float] = (1.0, 0.2), p: float = 1.0
    ) -> None:
        super().__init__(keys, p=p)
        self.factor = check_range(factor, who=type(self).__name__, name="factor", lo=0.0)

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        return {"factor": lerp(level, self.factor)}


@renamed_args(sigma="std")
class LowLight(NoiseTransform):
    """Film each clip in a dim room: gamma darkening, a gain drop, then shot noise.

    Level mapping (all linear in level): ``gamma`` 1 to 2.5, ``gain`` 1 to 0.4, shot-noise
    ``std`` 0 to 0.1 (defaults); see :func:`mmnoise.functional.frames.low_light`.

    Args:
        keys: entries to corrupt.
        gamma: (weak, strong) gamma exponent, > 0.
        gain: (weak, strong) linear gain in [0, 1].
        std: (weak, strong) shot-noise standard deviation at intensity 1, in intensity units.
            Formerly ``sigma``.
        p: per-example probability.

    Shape:
        (B, T, C, H, W); output keeps shape, dtype and device.

    Example:
        >>> x = torch.full((1, 1, 1, 1, 2), 0.5)
        >>> t = LowLight("v", gamma=(1.0, 2.0), gain=(1.0, 0.5), std=(0.0, 0.0))
        >>> t({"v": x}, generator=torch.Generator())["v"].flatten()
        tensor([0.1250, 0.1250])
    """

    accepts = _FRAMES
    differentiable = True
    kernel = staticmethod(F.low_light)

    def __init__(
        self,
        keys: Keys = None,
        *,
        gamma: Sequence[float] = (1.0, 2.5),
        gain: Sequence[float] = (1.0, 0.4),
        std: Sequence[float] = (0.0, 0.1),
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, p=p)
        who = type(self).__name__
        self.gamma = check_range(gamma, who=who, name="gamma", lo=1e-3)
        self.gain = check_range(gain, who=who, name="gain", lo=0.0, hi=1.0)
        self.std = check_range(std, who=who, name="std", lo=0.0)

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        return {
            "gamma": lerp(level, self.gamma),
            "gain": lerp(level, self.gain),
            "std": lerp(level, self.std),
            "seed": self.draw_seed(x, generator),
        }


class ResolutionDrop(NoiseTransform):
    """Lower each clip's resolution: area-downsample by ``scale`` and upsample back (bilinear).

    Level mapping: linear ``scale = weak + level * (strong - weak)`` (default 1 down to 1/8).

    Args:
        keys: entries to corrupt.
        scale: (weak, strong) linear resolution factor in (0, 1].
        p: per-example probability.

    Shape:
        (B, T, C, H, W); output keeps shape, dtype and device.

    Example:
        >>> x = torch.tensor([0.0, 1.0, 0.0, 1.0]).reshape(1, 1, 1, 1, 4)
        >>> ResolutionDrop("v", scale=(1.0, 0.5))({"v": x})["v"].flatten()
        tensor([0.5000, 0.5000, 0.5000, 0.5000])
    """

    accepts = _FRAMES
    differentiable = True
    kernel = staticmethod(F.resolution_drop)

    def __init__(
        self, keys: Keys = None, *, scale: Sequence[float] = (1.0, 0.125), p: float = 1.0
    ) -> None:
        super().__init__(keys, p=p)
        self.scale = check_range(scale, who=type(self).__name__, name="scale", lo=1e-3, hi=1.0)

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        return {"scale": lerp(level, self.scale)}


class PyramidBlur(NoiseTransform):
    """Blur each clip by pyramid down- and up-sampling (the MER2023 / MER2024 noise-track video).

    ``cv2.pyrDown`` ``log2(rate)`` times, then ``cv2.pyrUp`` as often, back to the frame's size
    (``func_blur`` of ``MER2024/main-noise.py``, ``zeroQiaoba/MERTools``): rate 1 is untouched,
    2 is one round, 4 two. Level mapping: rounds ``= round(log2(weak) + level * (log2(strong) -
    log2(weak)))`` (halves round up), so with the default ``rate=(1, 4)`` a level below 0.25 is
    rate 1, below 0.75 rate 2, from 0.75 rate 4. The organisers drew the rate uniformly from
    {1, 2, 4} per clip: per-clip levels drawn uniformly from {0, 0.5, 1} reproduce that exactly
    (``level=torch.rand(B)`` gives the rates with probabilities 1/4, 1/2, 1/4 instead). uint8
    frames match OpenCV bit for bit (see :func:`mmnoise.functional.frames.pyramid_blur`).

    Args:
        keys: entries to corrupt.
        rate: (weak, strong) pyramid rate, each 1, 2, 4 or 8 (``2 ** rounds``).
        p: per-example probability.

    Shape:
        (B, T, C, H, W); output keeps shape, dtype and device.

    Example:
        >>> x = torch.zeros(1, 1, 1, 8, 8); x[..., ::2, :] = 1.0
        >>> y = PyramidBlur("v", rate=(1, 2))({"v": x})["v"]
        >>> bool(y[..., 2:6, :].std() < x[..., 2:6, :].std())
        True
    """

    accepts = _FRAMES
    differentiable = True
    kernel = staticmethod(F.pyramid_blur)

    def __init__(self, keys: Keys = None, *, rate: Sequence[float] = (1, 4), p: float = 1.0) -> None:
        super().__init__(keys, p=p)
        who = type(self).__name__
        self.rate = check_range(rate, who=who, name="rate", lo=1.0, hi=8.0)
        if any(r not in (1.0, 2.0, 4.0, 8.0) for r in self.rate):
            raise ValueError(
                f"{who}: expected rate as (weak, strong) pyramid rates among 1, 2, 4 and 8 "
                f"(2 ** rounds of pyrDown / pyrUp), got {tuple(rate)}; the MER2024 rates are "
                "1, 2 and 4."
            )
        self._rounds = (math.log2(self.rate[0]), math.log2(self.rate[1]))

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        return {"rounds": torch.floor(lerp(level, self._rounds) + 0.5)}

    def kernel_kwargs(self) -> dict[str, int]:
        return {"max_rounds": int(max(self._rounds))}
