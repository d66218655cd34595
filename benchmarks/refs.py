"""Plain-torch references: each op written the straightforward way, batched, out of place.

They implement exactly the semantics of the mmnoise transform they are compared with (same
parameter distributions, padding untouched), so a ratio to them measures implementation, not
a different amount of work. ``fused_pipeline`` is the hand-tuned variant (one buffer per modality,
in-place masks), shown as the best a user could write by hand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor


def valid_steps(lengths: Tensor, t: int) -> Tensor:
    """(B, T) bool: True on the valid steps."""
    return torch.arange(t, device=lengths.device)[None, :] < lengths[:, None]


def noise_snr(x: Tensor, snr_db: Tensor, lengths: Tensor, g: torch.Generator) -> Tensor:
    """White Gaussian noise at a per-example SNR over the valid steps of (B, T, D) features."""
    valid = valid_steps(lengths, x.shape[1])[:, :, None]
    n = torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype) * valid
    ex = (x * valid).pow(2).sum(dim=(1, 2))
    en = n.pow(2).sum(dim=(1, 2))
    a = torch.sqrt(ex / en * torch.pow(10.0, -snr_db / 10))
    return x + a[:, None, None] * n


def noise_snr_wave(x: Tensor, snr_db: Tensor, g: torch.Generator) -> Tensor:
    """White Gaussian noise at a per-example SNR on (B, C, L) waveforms (no padding)."""
    n = torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype)
    ex = x.pow(2).sum(dim=(1, 2))
    en = n.pow(2).sum(dim=(1, 2))
    a = torch.sqrt(ex / en * torch.pow(10.0, -snr_db / 10))
    return x + a[:, None, None] * n


def frame_dropout(x: Tensor, ratio: float, lengths: Tensor, g: torch.Generator) -> Tensor:
    """Zero each valid step independently with probability ``ratio``."""
    b, t = x.shape[:2]
    drop = (torch.rand(b, t, generator=g, device=x.device) < ratio) & valid_steps(lengths, t)
    return torch.where(drop[:, :, None], torch.zeros((), dtype=x.dtype, device=x.device), x)


def _span(n: Tensor, start: Tensor, ratio: float) -> tuple[Tensor, Tensor]:
    """[lo, hi) of a span of round(ratio * n) steps starting at fraction ``start`` of the room."""
    nf = n.to(torch.float32)
    width = torch.minimum(torch.round(ratio * nf), nf)
    lo = torch.minimum(torch.floor(start * (nf - width + 1)), nf - width)
    return lo.long(), (lo + width).long()


def feature_mask(x: Tensor, ratio: float, lengths: Tensor, g: torch.Generator) -> Tensor:
    """Zero one contiguous band of ``round(ratio * D)`` feature dims, on the valid steps."""
    b, t, d = x.shape
    start = torch.rand(b, generator=g, device=x.device)
    lo, hi = _span(torch.full((b,), d, device=x.device), start, ratio)
    f = torch.arange(d, device=x.device)[None, :]
    band = (f >= lo[:, None]) & (f < hi[:, None])
    mask = band[:, None, :] & valid_steps(lengths, t)[:, :, None]
    return torch.where(mask, torch.zeros((), dtype=x.dtype, device=x.device), x)


def time_mask(x: Tensor, ratio: float, lengths: Tensor, g: torch.Generator) -> Tensor:
    """Zero one contiguous span of ``round(ratio * length)`` valid steps."""
    b, t = x.shape[:2]
    start = torch.rand(b, generator=g, device=x.device)
    lo, hi = _span(lengths, start, ratio)
    s = torch.arange(t, device=x.device)[None, :]
    inside = (s >= lo[:, None]) & (s < hi[:, None])
    return torch.where(inside[:, :, None], torch.zeros((), dtype=x.dtype, device=x.device), x)


def presence(b: int, m: int, p: float, g: torch.Generator, device: torch.device) -> Tensor:
    """(B, M) bool: each modality missing with probability p, at least one kept per row."""
    drop = torch.rand(b, m, generator=g, device=device) < p
    rescue = torch.randint(m, (b,), generator=g, device=device)
    all_gone = drop.all(dim=1)
    keep_one = torch.nn.functional.one_hot(rescue, m).bool() & all_gone[:, None]
    return ~drop | keep_one


def modality_missing(batch: dict[str, Tensor], p: float, g: torch.Generator) -> dict[str, Tensor]:
    """Zero whole modalities per example (probability p each, at least one kept)."""
    names = list(batch)
    first = batch[names[0]]
    keep = presence(first.shape[0], len(names), p, g, first.device)
    zero = torch.zeros((), dtype=first.dtype, device=first.device)
    return {n: torch.where(keep[:, i, None, None], batch[n], zero) for i, n in enumerate(names)}


def pipeline(
    batch: dict[str, Tensor],
    lengths: dict[str, Tensor],
    snr_db: Tensor,
    g: torch.Generator,
    *,
    drop_ratio: float = 0.2,
    band_ratio: float = 0.2,
    missing_p: float = 0.3,
) -> dict[str, Tensor]:
    """Noise@SNR, frame dropout, feature band mask per modality, then modality missing."""
    out = {}
    for name, x in batch.items():
        y = noise_snr(x, snr_db, lengths[name], g)
        y = frame_dropout(y, drop_ratio, lengths[name], g)
        out[name] = feature_mask(y, band_ratio, lengths[name], g)
    return modality_missing(out, missing_p, g)


def fused_pipeline(
    batch: dict[str, Tensor],
    lengths: dict[str, Tensor],
    snr_db: Tensor,
    g: torch.Generator,
    *,
    drop_ratio: float = 0.2,
    band_ratio: float = 0.2,
    missing_p: float = 0.3,
) -> dict[str, Tensor]:
    """The same pipeline hand-fused: one fresh buffer per modality, everything else in place."""
    names = list(batch)
    first = batch[names[0]]
    keep = presence(first.shape[0], len(names), missing_p, g, first.device)
    out = {}
    for i, name in enumerate(names):
        x = batch[name]
        b, t, d = x.shape
        valid = valid_steps(lengths[name], t)
        y = torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype)
        ex = (torch.linalg.vector_norm(x, dim=2).square() * valid).sum(dim=1)
        en = (torch.linalg.vector_norm(y, dim=2).square() * valid).sum(dim=1)
        a = torch.sqrt(ex / en * torch.pow(10.0, -snr_db / 10))
        y.mul_((a[:, None] * valid)[:, :, None]).add_(x)
        drop = (torch.rand(b, t, generator=g, device=x.device) < drop_ratio) & valid
        start = torch.rand(b, generator=g, device=x.device)
        lo, hi = _span(torch.full((b,), d, device=x.device), start, band_ratio)
        f = torch.arange(d, device=x.device)[None, :]
        band = (f >= lo[:, None]) & (f < hi[:, None])
        y.masked_fill_(drop[:, :, None] | (band[:, None, :] & valid[:, :, None]), 0.0)
        y.mul_(keep[:, i, None, None])
        out[name] = y
    return out


# -- raw signals -----------------------------------------------------------------------------


def butterworth_gain(freqs: Tensor, cutoff: Tensor, order: int, high: bool = False) -> Tensor:
    """|H(f)| of a Butterworth filter, per example: (B, F) from (F,) freqs and (B,) cutoffs."""
    ratio = freqs[None, :] / cutoff[:, None]
    if high:
        ratio = 1.0 / ratio.clamp(min=1e-12)
    return torch.rsqrt(1.0 + ratio.pow(2 * order))


def fft_lowpass(x: Tensor, cutoff_hz: Tensor, sample_rate: int, order: int = 2) -> Tensor:
    """Zero-phase Butterworth low-pass magnitude applied in the rFFT domain, per-example cutoff."""
    n = x.shape[-1]
    spec = torch.fft.rfft(x, dim=-1)
    freqs = torch.fft.rfftfreq(n, d=1.0 / sample_rate, device=x.device)
    h = butterworth_gain(freqs, cutoff_hz, order)
    out: Tensor = torch.fft.irfft(spec * h[:, None, :], n=n, dim=-1)
    return out


def fft_bandpass(
    x: Tensor, low_hz: Tensor, high_hz: Tensor, sample_rate: int, order: int = 2
) -> Tensor:
    """Zero-phase Butterworth band-pass magnitude (low-pass times high-pass), per-example band."""
    n = x.shape[-1]
    spec = torch.fft.rfft(x, dim=-1)
    freqs = torch.fft.rfftfreq(n, d=1.0 / sample_rate, device=x.device)
    h = butterworth_gain(freqs, high_hz, order) * butterworth_gain(freqs, low_hz, order, high=True)
    out: Tensor = torch.fft.irfft(spec * h[:, None, :], n=n, dim=-1)
    return out


def smooth_length(n: int) -> int:
    """The smallest 5-smooth integer >= n (a fast FFT size)."""
    best = 1 << math.ceil(math.log2(max(n, 1)))
    f5 = 1
    while f5 < 2 * n:
        f35 = f5
        while f35 < 2 * n:
            f = f35
            while f < n:
                f *= 2
            best = min(best, f)
            f35 *= 3
        f5 *= 5
    return best


def fft_reverb(x: Tensor, rir: Tensor) -> Tensor:
    """Convolve each example with its own RIR (B, K) through a 5-smooth FFT, trimmed to L."""
    n = x.shape[-1]
    size = smooth_length(n + rir.shape[-1] - 1)
    spec = torch.fft.rfft(x, n=size, dim=-1) * torch.fft.rfft(rir, n=size, dim=-1)[:, None, :]
    out: Tensor = torch.fft.irfft(spec, n=size, dim=-1)[..., :n]
    return out


# -- frames ----------------------------------------------------------------------------------


def gaussian_blur(x: Tensor, sigma: Tensor, ksize: int) -> Tensor:
    """Separable Gaussian blur of (B, T, C, H, W) clips, one sigma per clip (reflect padding)."""
    b, t, c, h, w = x.shape
    r = ksize // 2
    k = torch.arange(ksize, device=x.device, dtype=x.dtype) - r
    kern = torch.exp(-(k[None, :] ** 2) / (2 * sigma[:, None] ** 2))
    kern = kern / kern.sum(dim=1, keepdim=True)  # (B, K)
    y = x.reshape(1, b * t * c, h, w)
    weights = kern.repeat_interleave(t * c, dim=0)
    y = torch.nn.functional.pad(y, (r, r, r, r), mode="reflect")
    y = torch.nn.functional.conv2d(y, weights[:, None, None, :], groups=b * t * c)
    y = torch.nn.functional.conv2d(y, weights[:, None, :, None], groups=b * t * c)
    return y.reshape(b, t, c, h, w)


def frame_noise(x: Tensor, sigma: Tensor, g: torch.Generator) -> Tensor:
    """Fresh Gaussian noise on every frame, one sigma per clip, clamped to [0, 1]."""
    n = torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype)
    return (x + sigma[:, None, None, None, None] * n).clamp(0, 1)


def erase_box(x: Tensor, area_ratio: float, g: torch.Generator) -> Tensor:
    """One random rectangle of ``area_ratio`` of the frame per clip, same box on every frame."""
    b, _, _, h, w = x.shape
    side = math.sqrt(area_ratio)
    bh, bw = max(1, round(side * h)), max(1, round(side * w))
    top = (torch.rand(b, generator=g, device=x.device) * (h - bh + 1)).long()
    left = (torch.rand(b, generator=g, device=x.device) * (w - bw + 1)).long()
    rows = torch.arange(h, device=x.device)[None, :]
    cols = torch.arange(w, device=x.device)[None, :]
    in_r = (rows >= top[:, None]) & (rows < (top + bh)[:, None])
    in_c = (cols >= left[:, None]) & (cols < (left + bw)[:, None])
    box = in_r[:, :, None] & in_c[:, None, :]
    return torch.where(box[:, None, None], torch.zeros((), dtype=x.dtype, device=x.device), x)


def brightness_contrast(x: Tensor, delta: Tensor, factor: Tensor) -> Tensor:
    """Add ``delta`` then blend with the per-frame grey mean by ``factor`` (torchvision), clamp."""
    y = (x + delta[:, None, None, None, None]).clamp(0, 1)
    grey = (0.299 * y[:, :, 0] + 0.587 * y[:, :, 1] + 0.114 * y[:, :, 2]).mean(
        dim=(-2, -1), keepdim=True
    )[:, :, None]
    f = factor[:, None, None, None, None]
    return (f * y + (1 - f) * grey).clamp(0, 1)


# -- tokens ----------------------------------------------------------------------------------


def editable(tokens: Tensor, lengths: Tensor, protected: Sequence[int]) -> Tensor:
    """(B, T) bool: valid positions holding none of the ``protected`` ids (pad, [CLS], ...)."""
    ok = valid_steps(lengths, tokens.shape[1])
    for i in protected:
        ok &= tokens != i
    return ok


def token_mask(
    tokens: Tensor, lengths: Tensor, p: float, mask_id: int, protected: Sequence[int],
    g: torch.Generator,
) -> Tensor:  # fmt: skip
    """Replace each editable token by ``mask_id`` with probability p."""
    b, t = tokens.shape
    hit = (torch.rand(b, t, generator=g, device=tokens.device) < p) & editable(
        tokens, lengths, protected
    )
    return tokens.masked_fill(hit, mask_id)


def token_replace(
    tokens: Tensor, lengths: Tensor, p: float, low: int, high: int, protected: Sequence[int],
    g: torch.Generator,
) -> Tensor:  # fmt: skip
    """Replace each editable token with probability p by a uniform id in [low, high)."""
    b, t = tokens.shape
    hit = (torch.rand(b, t, generator=g, device=tokens.device) < p) & editable(
        tokens, lengths, protected
    )
    new = torch.randint(low, high, (b, t), generator=g, device=tokens.device)
    return torch.where(hit, new, tokens)


def token_delete(
    tokens: Tensor, lengths: Tensor, p: float, pad_id: int, protected: Sequence[int],
    g: torch.Generator,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """Delete each editable token with probability p; survivors move left, padding fills the end."""
    b, t = tokens.shape
    valid = valid_steps(lengths, t)
    drop = (torch.rand(b, t, generator=g, device=tokens.device) < p) & editable(
        tokens, lengths, protected
    )
    keep = valid & ~drop
    # stable sort puts kept tokens first in their original order
    order = torch.sort((~keep).to(torch.int8), dim=1, stable=True).indices
    out = torch.gather(tokens, 1, order)
    new_len = keep.sum(dim=1)
    return out.masked_fill(~valid_steps(new_len, t), pad_id), new_len


def token_swap(
    tokens: Tensor, lengths: Tensor, p: float, protected: Sequence[int], g: torch.Generator
) -> Tensor:
    """Swap editable token i with editable i + 1 where a coin with probability p says so."""
    b, t = tokens.shape
    coin = torch.rand(b, t, generator=g, device=tokens.device) < p
    ok = editable(tokens, lengths, protected)
    s = torch.arange(t, device=tokens.device)[None, :]
    # a swap starts at i only if i and i + 1 are editable and i - 1 did not start one
    start = coin
    start[:, :-1] &= ok[:, :-1] & ok[:, 1:]
    start[:, -1] = False
    start[:, 1:] &= ~start[:, :-1]
    partner = s + start.long() - torch.nn.functional.pad(start[:, :-1], (1, 0)).long()
    return torch.gather(tokens, 1, partner.expand(b, t))


def phase_vocoder_loop(x: Tensor, rate: Tensor, n_fft: int = 512) -> list[Tensor]:
    """Time-stretch each (C, L) clip by its own rate with torchaudio's pieces, one clip at a time
    (``torch.stft``, ``torchaudio.functional.phase_vocoder``, ``torch.istft``)."""
    import torchaudio.functional as AF

    hop = n_fft // 4
    window = torch.hann_window(n_fft, device=x.device, dtype=x.dtype)
    f = n_fft // 2 + 1
    advance = torch.linspace(0, math.pi * hop, f, device=x.device, dtype=x.dtype)[:, None]
    out = []
    for clip, r in zip(x, rate.tolist(), strict=True):
        spec = torch.stft(clip, n_fft, hop, window=window, return_complex=True)
        stretched = AF.phase_vocoder(spec, r, advance)
        out.append(torch.istft(stretched, n_fft, hop, window=window, length=round(x.shape[-1] / r)))
    return out


def mer_noise_mix(x: Tensor, noise: Tensor, snr_db: Tensor) -> Tensor:
    """MER2024's speech-noise mix on (B, C, L) clips, batched: ``noise`` (B, L) already read from
    the joined recordings, scaled by RMS to ``snr_db``, added, and the int16 clip guard."""
    rms_x = x.pow(2).mean(dim=(1, 2)).sqrt()
    rms_n = noise.pow(2).mean(dim=1).sqrt()
    gain = rms_x / torch.pow(10.0, snr_db / 20) / rms_n
    y = x + (gain[:, None] * noise)[:, None, :]
    top = 32767 / 32768
    hi, lo = y.amax(dim=(1, 2)), y.amin(dim=(1, 2))
    rate = torch.where(hi >= -lo, top / hi, -1 / lo)
    rate = torch.where((hi > top) | (lo < -1), rate, torch.ones_like(rate))
    return y * rate[:, None, None]
