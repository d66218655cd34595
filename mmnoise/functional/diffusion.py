"""NMER's diffusion-style forward noising and its beta schedules.

NMER (Fan et al., arXiv 2311.16114) corrupts a modality with the DDPM forward process
$x_t = \\sqrt{\\bar\\alpha_t}\\,x + \\sqrt{1-\\bar\\alpha_t}\\,\\varepsilon$ (Ho et al. 2020, eq. 4),
$\\bar\\alpha_t = \\prod_{s \\le t} (1 - \\beta_s)$, with $\\varepsilon$ Gaussian or "impulse"
(sign of a Gaussian on a random 30 % of entries, zero elsewhere), as the authors'
``NoiseScheduler`` in ``Domiss.py`` (WooyoohL/Noise-robust_MER).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from mmnoise import rng
from mmnoise.deprecation import renamed_args
from mmnoise.functional._shape import keep_padding, per_example
from mmnoise.rng import Randomness

__all__ = ["BetaSchedule", "alpha_bar", "beta_schedule", "diffusion_noise", "nmer_alpha_bar"]

BetaSchedule = Literal["linear", "scaled_linear", "cosine", "sigmoid"]


def beta_schedule(
    kind: BetaSchedule,
    num_steps: int,
    *,
    beta_start: float = 0.01,
    beta_end: float = 0.5,
) -> Tensor:
    """Return the (num_steps,) float64 beta schedule of a DDPM forward process.

    ``linear``: evenly spaced from ``beta_start`` to ``beta_end`` (Ho et al. 2020).
    ``scaled_linear``: evenly spaced in sqrt(beta), then squared (Stable Diffusion; NMER uses it
    from 0.01 to 0.5). ``cosine``: the squared-cosine alpha-bar of Nichol & Dhariwal 2021, eq. 17,
    s = 0.008, betas capped at 0.999 (ignores beta_start / beta_end). ``sigmoid``: a sigmoid over
    [-6, 6] rescaled to [beta_start, beta_end].

    Args:
        kind: one of ``linear``, ``scaled_linear``, ``cosine``, ``sigmoid``.
        num_steps: number of diffusion steps T (NMER's "noise intensity", e.g. 100).
        beta_start: first beta.
        beta_end: last beta.

    Shape:
        Output: (num_steps,).

    Example:
        >>> beta_schedule("linear", 3, beta_start=0.1, beta_end=0.3)
        tensor([0.1000, 0.2000, 0.3000], dtype=torch.float64)
    """
    if num_steps < 1:
        raise ValueError(f"beta_schedule: expected num_steps >= 1, got {num_steps}.")
    if not 0.0 < beta_start <= beta_end < 1.0:
        raise ValueError(
            "beta_schedule: expected 0 < beta_start <= beta_end < 1, got "
            f"beta_start={beta_start}, beta_end={beta_end}."
        )
    if kind == "linear":
        return torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float64)
    if kind == "scaled_linear":
        return torch.linspace(beta_start**0.5, beta_end**0.5, num_steps, dtype=torch.float64) ** 2
    if kind == "cosine":
        s = 0.008
        t = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
        abar = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
        return (1 - abar[1:] / abar[:-1]).clamp(max=0.999)
    if kind == "sigmoid":
        ramp = torch.sigmoid(torch.linspace(-6, 6, num_steps, dtype=torch.float64))
        return ramp * (beta_end - beta_start) + beta_start
    raise ValueError(
        f"beta_schedule: expected kind in ('linear', 'scaled_linear', 'cosine', 'sigmoid'), "
        f"got {kind!r}."
    )


def alpha_bar(betas: Tensor) -> Tensor:
    """Return the cumulative product of (1 - beta), the signal fraction after each step.

    Example:
        >>> alpha_bar(torch.tensor([0.5, 0.5]))
        tensor([0.5000, 0.2500])
    """
    return torch.cumprod(1.0 - betas, dim=0)


@renamed_args(impulse_ratio="impulse_fraction")
def diffusion_noise(
    x: Tensor,
    *,
    alpha_bar: Tensor,
    noise: Literal["gaussian", "impulse"] = "gaussian",
    impulse_fraction: float = 0.3,
    generator: Randomness = None,
    lengths: Tensor | None = None,
    time_dim: int = 1,
    eps: Tensor | None = None,
) -> Tensor:
    """Apply the DDPM forward process ``sqrt(abar) * x + sqrt(1 - abar) * eps`` per example.

    Args:
        x: float input.
        alpha_bar: (B,) signal fraction in [0, 1] (1 = clean).
        noise: ``gaussian`` (eps ~ N(0, I)) or ``impulse`` (eps = sign(N(0, 1)) on a random
            ``impulse_fraction`` of entries, 0 elsewhere), as in NMER.
        impulse_fraction: fraction of entries hit by impulse noise, in [0, 1]; per-entry
            probability.
        generator: source of eps.
        lengths: (B,) valid steps along ``time_dim``; padding keeps its values.
        time_dim: the axis ``lengths`` counts.
        eps: the noise itself, drawn beforehand (shaped as ``x``); ``noise`` and ``generator``
            are then unused.

    Shape:
        x: (B, ...). Output: same.

    Example:
        >>> diffusion_noise(torch.ones(1, 2, 1), alpha_bar=torch.tensor([1.0])).flatten()
        tensor([1., 1.])
    """
    if noise not in ("gaussian", "impulse"):
        raise ValueError(f"diffusion_noise: expected noise 'gaussian' or 'impulse', got {noise!r}.")
    if eps is None:
        eps = rng.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        if noise == "impulse":
            hit = rng.rand(x.shape, generator=generator, device=x.device) < impulse_fraction
            eps = torch.where(hit, torch.sign(eps), torch.zeros_like(eps))
    abar = per_example(alpha_bar.clamp(0.0, 1.0), x)
    return keep_padding(abar.sqrt() * x + (1 - abar).sqrt() * eps, x, lengths, time_dim)


def nmer_alpha_bar(
    intensity: Tensor,
    step: Tensor,
    *,
    max_steps: int,
    beta_start: float = 0.01,
    beta_end: float = 0.5,
    kind: Literal["scaled_linear", "linear"] = "scaled_linear",
) -> Tensor:
    """Return abar_t of a beta schedule rebuilt over ``intensity`` steps, per example.

    NMER's noise scheduler (``NoiseScheduler`` in the authors' ``Domiss.py``,
    WooyoohL/Noise-robust_MER) builds its betas over T = ``num_time_steps`` steps, the "noise
    intensity": ``scaled_linear`` is beta_s = (sqrt(beta_start) + s / (T - 1) * (sqrt(beta_end)
    - sqrt(beta_start)))^2, s = 0 .. T - 1 (``linear``: the same without the square roots), and
    abar_t = prod_{s <= t} (1 - beta_s). Each example may have its own T and t; the product runs
    over a fixed ``max_steps`` grid, so nothing is read back to the host.

    Args:
        intensity: (B,) T per example, integers in [1, max_steps].
        step: (B,) t per example, integers in [0, T - 1].
        max_steps: an upper bound of ``intensity`` (the size of the grid).
        beta_start: first beta (NMER: 0.01).
        beta_end: last beta (NMER: 0.5).
        kind: ``scaled_linear`` (NMER) or ``linear``.

    Shape:
        intensity, step: (B,). Output: (B,) float64.

    Example:
        >>> nmer_alpha_bar(torch.tensor([1, 2]), torch.tensor([0, 1]), max_steps=2,
        ...                beta_start=0.1, beta_end=0.4)
        tensor([0.9000, 0.5400], dtype=torch.float64)
    """
    if kind not in ("scaled_linear", "linear"):
        raise ValueError(
            f"nmer_alpha_bar: expected kind 'scaled_linear' or 'linear', got {kind!r}."
        )
    if max_steps < 1:
        raise ValueError(f"nmer_alpha_bar: expected max_steps >= 1, got {max_steps}.")
    if not 0.0 < beta_start <= beta_end < 1.0:
        raise ValueError(
            "nmer_alpha_bar: expected 0 < beta_start <= beta_end < 1, got "
            f"beta_start={beta_start}, beta_end={beta_end}."
        )
    dev = intensity.device
    s = torch.arange(max_steps, device=dev, dtype=torch.float64)[None, :]
    big_t = intensity.to(torch.float64)[:, None]
    frac = s / (big_t - 1).clamp(min=1.0)
    if kind == "scaled_linear":
        lo, hi = beta_start**0.5, beta_end**0.5
        betas = (lo + frac * (hi - lo)) ** 2
    else:
        betas = beta_start + frac * (beta_end - beta_start)
    used = s <= step.to(torch.float64)[:, None]
    log_keep = torch.where(used, torch.log1p(-betas.clamp(max=1.0 - 1e-12)), 0.0)
    return log_keep.sum(dim=1).exp()
