"""Kernels for raw waveforms (B, C, L): real-noise banks, babble, the MER2023 / 2024 noise mix,
FFT filters, codecs, reverb, clipping, packet loss, speed, tempo and pitch; plus SpecAugment on
spectrogram features (B, T, F).

Every kernel is pure: per-example parameters are explicit (B, ...) tensors, randomness comes only
from ``generator``, inputs are never modified, and samples past ``lengths`` (counted along the
time axis, dim 2) are returned unchanged and never read (filters zero them before their FFT).
Generic ops that also act on waveforms (white / coloured noise at an SNR, gain, time masking,
time shift) live in :mod:`mmnoise.functional.features`.
"""

from __future__ import annotations

import cmath
import concurrent.futures
import functools
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from typing import Literal

import torch
import torchaudio.functional as AF
from torch import Tensor

from mmnoise import rng
from mmnoise.deprecation import renamed_args
from mmnoise.device import check_bounds, reads_on_host
from mmnoise.extras import optional_import
from mmnoise.functional._shape import (
    accurate,
    broadcast_steps,
    full_lengths,
    keep_padding,
    peak_scale,
    per_example,
    saturate,
    scale_values,
    span_bounds,
    step_mask,
    valid_extrema,
    valid_norm,
    valid_steps,
)
from mmnoise.functional.features import add_noise_snr
from mmnoise.rng import Randomness

__all__ = [
    "add_noise_bank",
    "babble",
    "bandpass",
    "clip",
    "codec",
    "ffmpeg_codec",
    "highpass",
    "lowpass",
    "mer_noise_mix",
    "mu_law",
    "packet_loss",
    "perceptual_codec",
    "pitch_shift",
    "reverb",
    "spec_augment",
    "speed_perturb",
    "time_stretch",
    "time_stretch_lengths",
]

_T = 2  # the time axis of a (B, C, L) waveform


# -- private helpers ---------------------------------------------------------------------------
def _peak(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Return the per-example peak ``max |x|`` over the valid samples, shaped (B,)."""
    lo, hi = valid_extrema(x, lengths, _T)
    return torch.maximum(-lo, hi)


def _check_order(order: int, *, who: str) -> None:
    if isinstance(order, bool) or not isinstance(order, int) or order < 2 or order % 2:
        raise ValueError(
            f"{who}: expected order as an even int >= 2 (2 = one biquad, 12 dB/octave), got "
            f"{order!r}; use 2, 4, 6..."
        )


def _log_tan_half(half: Tensor) -> Tensor:
    """Return ``log tan(w / 2)`` of half-angles ``w / 2`` in [0, pi / 2] (-inf at 0)."""
    # cos(pi / 2) rounds to a tiny negative in float32: clamped, log tan is +inf there
    return torch.log(torch.sin(half)) - torch.log(torch.cos(half).clamp(min=0.0))


def _butterworth_gain(
    cutoff_hz: Tensor | float,
    *,
    kind: Literal["lowpass", "highpass"],
    sample_rate: int,
    order: int,
    n_fft: int,
    like: Tensor,
) -> Tensor:
    """Return the (B, n_fft // 2 + 1) magnitude of a digital Butterworth filter at the rFFT bins.

    The bilinear-transform Butterworth of order N has
    ``|H(w)|^2 = 1 / (1 + (tan(w / 2) / tan(w_c / 2)) ** (2 N))`` (low-pass; the high-pass swaps
    the ratio): the magnitude of torchaudio ``lowpass_biquad`` / ``highpass_biquad`` with
    ``Q = 1 / sqrt(2)`` for N = 2, and of their Butterworth cascades for N = 4, 6...
    Written as ``sqrt(sigmoid(+-N d))`` with ``d = 2 log(tan(w_c / 2) / tan(w / 2))``, it is
    exact at DC and Nyquist and never overflows.
    """
    b = like.shape[0]
    cut = torch.as_tensor(cutoff_hz)
    check_bounds(
        cut,
        0.0,
        sample_rate / 2,
        expected=f"{kind}: expected cutoffs strictly between 0 and the Nyquist frequency "
        f"{sample_rate / 2} Hz",
        fix="lower them or pass the right sample_rate.",
        open_low=True,
        open_high=True,
    )
    cut = torch.as_tensor(cutoff_hz, device=like.device, dtype=like.dtype).expand(b)
    half = torch.arange(n_fft // 2 + 1, device=like.device, dtype=like.dtype) * (math.pi / n_fft)
    d = _log_tan_half(cut * (math.pi / sample_rate))[:, None] - _log_tan_half(half)
    slope = 2.0 * (order if kind == "lowpass" else -order)  # 2 N d, exactly as 2 d times N
    if d.requires_grad:
        return torch.sigmoid(d * slope).sqrt()
    return d.mul_(slope).sigmoid_().sqrt_()  # (B, F): no more buffers than the one


def _fft_filter(
    x: Tensor,
    bands: list[tuple[Literal["lowpass", "highpass"], Tensor | float]],
    *,
    sample_rate: int,
    order: int,
    lengths: Tensor | None,
    who: str,
    pad: Literal["tail", "double"] = "tail",
) -> Tensor:
    """Filter each example of (B, C, L) ``x`` in the frequency domain, one response per example.

    The product of the Butterworth magnitudes of ``bands`` (``(kind, cutoff)`` pairs, each
    cutoff a (B,) tensor or a number) multiplies the rFFT of the valid samples (padding zeroed),
    zero-padded (:func:`_fft_size`) so that the circular convolution does not wrap the
    response's tails back into the clip; the filter is zero-phase (no delay, no phase
    distortion), and the valid part never reads padding. It runs on ``x`` divided by its
    per-example peak (a sum over L values near the dtype's largest overflows) and is scaled
    back. Without gradients the scaled clip is written straight into the zero-padded FFT input
    and the gain multiplies the spectrum in place (no more full-size buffers than the FFTs'),
    with the values of the plain path. ``pad="double"`` keeps the FFT at the size for ``2 L``
    whatever the cutoffs (see :func:`_fft_size`).
    """
    _check_order(order, who=who)
    b, c, n = x.shape
    n_fft = _next_fast_len(2 * n)
    if pad == "tail":
        n_fft = _fft_size(n, bands, sample_rate=sample_rate, order=order, like=x)
    gain = _butterworth_gain(bands[0][1], kind=bands[0][0], sample_rate=sample_rate,
                             order=order, n_fft=n_fft, like=x)  # fmt: skip
    for kind, cutoff in bands[1:]:
        gain = gain * _butterworth_gain(
            cutoff, kind=kind, sample_rate=sample_rate, order=order, n_fft=n_fft, like=x
        )
    valid = step_mask(x, lengths, _T)
    xv = x if valid is None else torch.where(valid, x, 0.0)
    peak = per_example(peak_scale(xv), x)
    # a real gain times the (re, im) pairs: the values of the complex product, without its
    # promotion of the gain to complex
    gain = gain[:, None, :, None]
    if torch.is_grad_enabled() and (x.requires_grad or gain.requires_grad):
        # linear in x: the peak scaling is done in value only (see scale_values)
        spec = torch.fft.rfft(scale_values(xv, peak, divide=True), n=n_fft, dim=_T)
        spec = torch.view_as_complex(torch.view_as_real(spec) * gain)
    else:
        padded = x.new_zeros(b, c, n_fft)
        padded[..., :n].copy_(xv).div_(peak)
        spec = torch.fft.rfft(padded, dim=_T)
        torch.view_as_real(spec).mul_(gain)
    y = torch.fft.irfft(spec, n=n_fft, dim=_T)[..., :n]
    y = saturate(scale_values(y, peak), x.dtype)
    return keep_padding(y, x, lengths, _T)


#: how far a filter's response has decayed where :func:`_fft_size` lets the FFT wrap it: e^-39,
#: below 1e-17 of its scale (under float64 rounding)
_TAIL_NEPERS = math.log(1e17)


def _fft_size(
    n: int,
    bands: list[tuple[Literal["lowpass", "highpass"], Tensor | float]],
    *,
    sample_rate: int,
    order: int,
    like: Tensor,
) -> int:
    """Return the FFT size of :func:`_fft_filter` for ``n`` samples: ``n`` plus the response's
    tail, rounded up to a 5-smooth size, and never above the one for ``2 n``.

    The zero-phase response ``|H|`` of a Butterworth of order N is analytic in a strip around
    the real frequency axis, so its impulse response decays as ``exp(-a |t|)``, ``a`` the
    distance of its nearest singularity: ``tan(w / 2) = tan(w_c / 2) e^{i pi / (2 N)}`` (the
    low-pass and the high-pass alike; the nearest for cutoffs near 0 Hz or near Nyquist).
    ``39 / a`` samples out it is below 1e-17 of its size, so padding the clip by that much
    wraps nothing above float64 rounding back into it, where ``2 n`` bounds it for any cutoff:
    the output is the one at ``2 n`` to rounding (tested), at a quarter to half the FFT work.
    Cutoffs given as tensors are read on the host (CPU data outside ``torch.compile``);
    elsewhere the size is the one for ``2 n``.
    """
    full = _next_fast_len(2 * n)
    hz: list[float] = []
    for _, cut in bands:
        if isinstance(cut, Tensor):
            if not reads_on_host(like.device) or cut.numel() == 0:
                return full
            hz += [float(v) for v in torch.aminmax(cut.detach().double())]
        else:
            hz.append(float(cut))
    if not all(0.0 < f < sample_rate / 2 for f in hz):  # NaN too: the gain says what is wrong
        return full
    # the decay rate is largest mid-band: the slowest of a range of cutoffs is at one of its ends
    tilt = cmath.exp(0.5j * math.pi / order)
    decay = min((2 * cmath.atan(math.tan(math.pi * f / sample_rate) * tilt)).imag for f in hz)
    tail = math.ceil(_TAIL_NEPERS / decay)
    return full if tail >= n else min(full, _next_fast_len(n + tail))


def _read_pool(
    pool: Tensor, pool_lengths: Tensor, source: Tensor, offset: Tensor, size: int
) -> Tensor:
    """Read ``size`` samples from row ``source[b]`` of ``pool`` starting at a fractional offset.

    The read wraps around each row's valid length (a short recording is tiled, never padded
    with silence).

    Shape:
        pool: (P, C, Lp); pool_lengths: (P,); source, offset: (B,). Output: (B, C, size).
    """
    n = pool_lengths[source]
    start = torch.minimum(torch.floor(offset.to(torch.float32) * n).long(), n - 1)
    pos = (start[:, None] + torch.arange(size, device=pool.device)[None, :]) % n[:, None]
    return pool.transpose(1, 2)[source[:, None], pos].transpose(1, 2)


def _span_union(lengths: Tensor, start: Tensor, width_fraction: Tensor, size: int) -> Tensor:
    """Return the (B, size) bool union of K spans per example (:func:`span_bounds` each).

    Shape:
        lengths: (B,); start, width_fraction: (B, K). Output: (B, size).
    """
    n = lengths.to(start.device)[:, None].expand_as(start)
    lo, hi = span_bounds(n, start, width_fraction.expand_as(start))
    t = torch.arange(size, device=start.device)[None, None, :]
    return ((t >= lo[..., None]) & (t < hi[..., None])).any(dim=1)


def _next_fast_len(n: int) -> int:
    """Return the smallest 5-smooth integer (2^a 3^b 5^c) >= n: a fast FFT size."""
    best = 1 << max(n - 1, 0).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            q = p35
            while q < n:
                q *= 2
            best = min(best, q)
            p35 *= 3
        p5 *= 5
    return best


# -- additive noise from recordings ------------------------------------------------------------
@accurate
def add_noise_bank(
    x: Tensor,
    *,
    noise_bank: Tensor,
    index: Tensor,
    offset: Tensor,
    snr_db: Tensor,
    lengths: Tensor | None = None,
) -> Tensor:
    """Add a segment of a recorded noise at a per-example SNR measured on the valid samples.

    Example ``b`` reads ``L`` samples of bank row ``index[b]`` starting at fraction ``offset[b]``
    of the row, wrapping around when the row is shorter than ``L``; the same noise goes to every
    channel (one noise source). The segment is then scaled as in
    :func:`mmnoise.functional.features.add_noise_snr`, so the measured SNR equals ``snr_db``.

    Args:
        x: float waveform.
        noise_bank: (N, L_n) float noise recordings (moved to ``x``'s device and dtype).
        index: (B,) int64 bank row of each example.
        offset: (B,) start of the read as a fraction of the row, in [0, 1).
        snr_db: (B,) target SNR in dB.
        lengths: (B,) valid samples; padding gets no noise.

    Shape:
        x: (B, C, L); noise_bank: (N, L_n); index, offset, snr_db, lengths: (B,). Output: (B, C, L).

    Returns:
        The noisy waveform (an example whose noise segment is silent comes back unchanged).

    Example:
        >>> x = torch.ones(1, 1, 4)
        >>> bank = torch.tensor([[1.0, -1.0]])
        >>> add_noise_bank(x, noise_bank=bank, index=torch.tensor([0]), offset=torch.tensor([0.5]),
        ...                snr_db=torch.tensor([0.0]))
        tensor([[[0., 2., 0., 2.]]])
    """
    bank = noise_bank.to(device=x.device, dtype=x.dtype)
    pool_lengths = torch.full((bank.shape[0],), bank.shape[1], device=x.device, dtype=torch.long)
    noise = _read_pool(bank[:, None, :], pool_lengths, index.to(x.device), offset, x.shape[_T])
    return add_noise_snr(x, noise.expand_as(x), snr_db=snr_db, lengths=lengths, time_dim=_T)


@accurate
def babble(
    x: Tensor,
    *,
    snr_db: Tensor,
    num_speakers: Tensor,
    source: Tensor,
    offset: Tensor,
    noise_bank: Tensor | None = None,
    lengths: Tensor | None = None,
) -> Tensor:
    """Add a babble of ``num_speakers`` other talkers at a per-example SNR.

    Talker ``k`` of example ``b`` is a segment of example ``source[b, k]`` of the batch (or of
    bank row ``source[b, k]`` when ``noise_bank`` is given) read from fraction ``offset[b, k]``
    with wrap-around inside its valid length. Each talker is scaled to unit energy over the
    example's valid samples so that talkers are equally loud, the first ``num_speakers[b]`` are
    summed, and the sum is added at ``snr_db`` (measured SNR equals the request; if the talkers
    cancel exactly, which only a few-sample example allows, the first talker is used alone).

    Args:
        x: float waveform.
        snr_db: (B,) target SNR in dB.
        num_speakers: (B,) number of talkers used, in [1, K].
        source: (B, K) int64 batch indices (or bank rows) of the K candidate talkers.
        offset: (B, K) start of each talker's read as a fraction of its length, in [0, 1).
        noise_bank: optional (N, L_n) bank of recordings (e.g. single-talker speech); None takes
            the talkers from the batch itself.
        lengths: (B,) valid samples; padding gets no noise and is never read as a talker.

    Shape:
        x: (B, C, L); source, offset: (B, K); snr_db, num_speakers, lengths: (B,).
        Output: (B, C, L).

    Returns:
        The noisy waveform.

    Example:
        >>> x = torch.tensor([[[1.0, 1.0]], [[2.0, -2.0]]])
        >>> y = babble(x, snr_db=torch.tensor([0.0, 0.0]), num_speakers=torch.tensor([1, 1]),
        ...            source=torch.tensor([[1], [0]]), offset=torch.zeros(2, 1))
        >>> y.round(decimals=4).abs()
        tensor([[[2., 0.]],
        <BLANKLINE>
                [[4., 0.]]])
    """
    if noise_bank is None:
        pool, pool_lengths = x, full_lengths(x, lengths, _T)
    else:
        pool = noise_bank.to(device=x.device, dtype=x.dtype)[:, None, :]
        pool_lengths = torch.full(
            (pool.shape[0],), pool.shape[2], device=x.device, dtype=torch.long
        )
    count = num_speakers.to(x.device)
    noise = torch.zeros((x.shape[0], pool.shape[1], x.shape[_T]), device=x.device, dtype=x.dtype)
    spare = noise
    valid = valid_steps(x, lengths, _T)
    # K is a config constant (the largest talker count), not the batch: a short loop.
    for k in range(source.shape[1]):
        talker = _read_pool(
            pool, pool_lengths, source[:, k].to(x.device), offset[:, k], x.shape[_T]
        )
        # babble is noise: no gradient flows back into the examples the talkers were read from
        talker = talker.detach()
        norm = valid_norm(talker, valid, _T)
        heard = norm > 0
        unit = talker / per_example(torch.where(heard, norm, torch.ones_like(norm)), talker)
        unit = unit * per_example(heard, talker)
        # the first non-silent candidate, used or not, stands in for a silent sum
        spare_silent = (valid_norm(spare, valid, _T) == 0)[:, None, None]
        spare = torch.where(spare_silent, unit, spare)
        noise = noise + unit * per_example(k < count, unit)
    # The used talkers can be digital silence, or cancel exactly on a very short example (two
    # opposite samples): the first non-silent candidate then stands in. Only an example whose K
    # candidates are all silent gets no babble (see ``Babble``, which records it).
    silent = (valid_norm(noise, valid, _T) == 0)[:, None, None]
    noise = torch.where(silent, spare, noise)
    return add_noise_snr(x, noise.expand_as(x), snr_db=snr_db, lengths=lengths, time_dim=_T)


#: int16 full scale of a float waveform (torchaudio ``load`` divides int16 samples by 32768)
_INT16_TOP = 32767.0 / 32768.0


@accurate
def mer_noise_mix(
    x: Tensor,
    *,
    noise_bank: Tensor,
    index: Tensor,
    offset: Tensor,
    snr_db: Tensor,
    lengths: Tensor | None = None,
) -> Tensor:
    """Mix in speech noise as the MER2023 / MER2024 noise track does, per example on a batch.

    The organisers' ``add_noise_to_audio`` (``zeroQiaoba/MERTools``, ``MER2024/main-noise.py``)
    joins randomly chosen noise recordings until they are longer than the clip, reads the clip's
    length from a random integer start, scales that segment so that ``RMS(clip) / RMS(noise)`` is
    ``10 ** (snr_db / 20)``, adds it, and, if the int16 mix would clip, multiplies the whole mix
    by ``32767 / max`` (or ``-32768 / min``, whichever extreme is larger). Here the recordings
    are the rows of ``noise_bank`` (one length ``L_n``): example ``b`` joins rows
    ``index[b, 0], index[b, 1], ...``, ``n_b // L_n + 1`` of them for ``n_b`` valid samples (the
    fewest whose total exceeds the clip), and starts at sample ``floor(offset[b] * (k L_n - n_b
    + 1))``. Float samples are read on the int16 scale of torchaudio's ``load`` (1.0 = 32768), so
    the mix is rescaled when it leaves ``[-1, 32767 / 32768]``. RMS, extremes and the mix cover
    the valid samples; the same noise goes to every channel (the organisers' audio is mono).

    Args:
        x: float waveform on the int16 scale (full scale 1.0).
        noise_bank: (N, L_n) noise recordings (moved to ``x``'s device and dtype).
        index: (B, K) int64 bank rows joined per example, ``K >= L // L_n + 1``.
        offset: (B,) start of the read as a fraction of the room left, in [0, 1).
        snr_db: (B,) SNR in dB (the organisers draw an integer in 5..10 per clip).
        lengths: (B,) valid samples; padding gets no noise and keeps its values.

    Shape:
        x: (B, C, L); noise_bank: (N, L_n); index: (B, K); offset, snr_db, lengths: (B,).
        Output: (B, C, L).

    Returns:
        The mix. An example whose noise segment or clip is digital silence comes back unchanged
        (the organisers' code divides by zero there).

    Example:
        >>> x = torch.full((1, 1, 4), 0.5)
        >>> bank = torch.tensor([[1.0, -1.0, 1.0]])
        >>> y = mer_noise_mix(x, noise_bank=bank, index=torch.zeros(1, 2, dtype=torch.long),
        ...                   offset=torch.tensor([0.0]), snr_db=torch.tensor([0.0]))
        >>> y * 32768  # the noise [1, -1, 1, 1] at the clip's RMS; 32768 would clip: rescaled
        tensor([[[32767.,     0., 32767., 32767.]]])
    """
    n = x.shape[_T]
    bank = noise_bank.to(device=x.device, dtype=x.dtype)
    size = bank.shape[1]
    valid_n = full_lengths(x, lengths, _T).to(x.device)
    room = (valid_n // size + 1) * size - valid_n  # the start is an integer in 0..room
    start = torch.minimum(torch.floor(offset.to(x.device) * (room + 1)).long(), room)
    pos = start[:, None] + torch.arange(n, device=x.device)[None, :]
    rows = index.to(x.device)
    row = torch.gather(rows, 1, (pos // size).clamp(max=rows.shape[1] - 1))
    noise = bank[row, pos % size][:, None, :]
    y = add_noise_snr(x, noise.expand_as(x), snr_db=snr_db, lengths=lengths, time_dim=_T)
    # the organisers' clip guard: scale the whole mix back into the int16 range
    lo, hi = valid_extrema(y, lengths, _T)
    over = (hi > _INT16_TOP) | (lo < -1.0)
    # safe denominators: where() must not route a NaN gradient from the branch it drops
    by_top = over & (hi >= -lo)
    # y / extreme * bound, not y * (bound / extreme): a huge mix keeps finite gradients
    extreme = torch.where(by_top, hi, torch.where(over, -lo, 1.0))
    bound = torch.where(by_top, _INT16_TOP, 1.0)
    y = y / per_example(extreme, y) * per_example(bound, y)
    return keep_padding(y, x, lengths, _T)


# -- filters and codecs ------------------------------------------------------------------------
@accurate
def lowpass(
    x: Tensor,
    *,
    cutoff_hz: Tensor,
    sample_rate: int = 16000,
    order: int = 2,
    lengths: Tensor | None = None,
) -> Tensor:
    """Low-pass each example with its own cutoff: a zero-phase Butterworth, in the FFT domain.

    The magnitude response is the digital (bilinear) Butterworth of order ``order``: for 2, that
    of torchaudio ``lowpass_biquad`` with ``Q=1/sqrt(2)`` (12 dB/octave); order 2m has the
    magnitude of m cascaded biquads with Butterworth Qs (6m dB/octave). It is applied to the
    rFFT of each example's valid samples (zero phase: no delay), so it compiles, runs at FFT
    speed on any device, and takes per-example cutoffs as a tensor; the first and last few
    ``sample_rate / cutoff`` samples see the clip's edges, as any filter of a finite clip does.

    Args:
        x: float waveform.
        cutoff_hz: (B,) -3 dB cutoff in Hz, in (0, sample_rate / 2).
        sample_rate: sampling rate in Hz.
        order: even filter order.
        lengths: (B,) valid samples; padding keeps its values.

    Shape:
        x: (B, C, L); cutoff_hz, lengths: (B,). Output: (B, C, L).

    Returns:
        The filtered waveform.

    Raises:
        ValueError: ``order`` is not an even int >= 2.

    Example:
        >>> y = lowpass(torch.ones(1, 1, 4000), cutoff_hz=torch.tensor([100.0]))
        >>> round(y[0, 0, 2000].item(), 3)  # DC passes
        1.0
    """
    return _fft_filter(x, [("lowpass", cutoff_hz)], sample_rate=sample_rate, order=order,
                       lengths=lengths, who="lowpass")  # fmt: skip


@accurate
def highpass(
    x: Tensor,
    *,
    cutoff_hz: Tensor,
    sample_rate: int = 16000,
    order: int = 2,
    lengths: Tensor | None = None,
) -> Tensor:
    """High-pass each example with its own cutoff: a zero-phase Butterworth, in the FFT domain.

    As :func:`lowpass`, with the high-pass magnitude (order 2: torchaudio ``highpass_biquad``
    with ``Q=1/sqrt(2)``).

    Args:
        x: float waveform.
        cutoff_hz: (B,) -3 dB cutoff in Hz, in (0, sample_rate / 2).
        sample_rate: sampling rate in Hz.
        order: even filter order.
        lengths: (B,) valid samples; padding keeps its values.

    Shape:
        x: (B, C, L); cutoff_hz, lengths: (B,). Output: (B, C, L).

    Returns:
        The filtered waveform.

    Raises:
        ValueError: ``order`` is not an even int >= 2.

    Example:
        >>> y = highpass(torch.ones(1, 1, 4000), cutoff_hz=torch.tensor([100.0]))
        >>> abs(round(y[0, 0, 2000].item(), 3))  # DC is removed
        0.0
    """
    return _fft_filter(x, [("highpass", cutoff_hz)], sample_rate=sample_rate, order=order,
                       lengths=lengths, who="highpass")  # fmt: skip


@accurate
def bandpass(
    x: Tensor,
    *,
    low_hz: Tensor,
    high_hz: Tensor,
    sample_rate: int = 16000,
    order: int = 2,
    lengths: Tensor | None = None,
) -> Tensor:
    """Keep the band ``[low_hz, high_hz]`` of each example: a high-pass times a low-pass.

    The magnitude is that of :func:`highpass` at ``low_hz`` cascaded with :func:`lowpass` at
    ``high_hz`` (zero phase, one FFT). A telephone channel is ``low_hz=300, high_hz=3400``.

    Args:
        x: float waveform.
        low_hz: (B,) lower -3 dB edge in Hz.
        high_hz: (B,) upper -3 dB edge in Hz (> ``low_hz``, < sample_rate / 2).
        sample_rate: sampling rate in Hz.
        order: even order of each of the two filters.
        lengths: (B,) valid samples; padding keeps its values.

    Shape:
        x: (B, C, L); low_hz, high_hz, lengths: (B,). Output: (B, C, L).

    Returns:
        The filtered waveform.

    Raises:
        ValueError: ``order`` is not an even int >= 2.

    Example:
        >>> y = bandpass(torch.ones(1, 1, 4000), low_hz=torch.tensor([300.0]),
        ...              high_hz=torch.tensor([3400.0]))
        >>> abs(round(y[0, 0, 2000].item(), 3))
        0.0
    """
    bands: list[tuple[Literal["lowpass", "highpass"], Tensor | float]]
    bands = [("highpass", low_hz), ("lowpass", high_hz)]
    return _fft_filter(x, bands, sample_rate=sample_rate, order=order, lengths=lengths,
                       who="bandpass")  # fmt: skip


@accurate
def mu_law(x: Tensor, *, bits: Tensor, lengths: Tensor | None = None) -> Tensor:
    r"""Quantise each example through a ``bits``-bit mu-law codec (encode, then decode).

    Each example is first scaled by its valid peak (an automatic gain before the codec, so the
    whole code range is used) and scaled back afterwards. Companding is ITU-T G.711's continuous
    mu-law, $F(x) = \operatorname{sign}(x)\,\ln(1 + \mu|x|) / \ln(1 + \mu)$ with
    $\mu = 2^{\text{bits}} - 1$, with exactly the rounding of torchaudio
    ``mu_law_encoding`` / ``mu_law_decoding``, which take one int for the whole batch; here
    ``bits`` is per example.

    Args:
        x: float waveform.
        bits: (B,) bit depth, rounded to an int >= 1 (8 = G.711 telephone quality).
        lengths: (B,) valid samples; padding keeps its values.

    Shape:
        x: (B, C, L); bits, lengths: (B,). Output: (B, C, L).

    Returns:
        The quantised waveform; ``|output| <= peak |x|`` (so it stays in [-1, 1] when x does).

    Example:
        >>> mu_law(torch.tensor([[[1.0, -0.5, 0.01]]]), bits=torch.tensor([1.0]))
        tensor([[[ 1., -1.,  1.]]])
    """
    # the automatic gain is a constant of the codec, not a path for gradients (x / peak(x)
    # has a NaN gradient where the peak is subnormal)
    peak = per_example(_peak(x, lengths), x).detach()
    scale = torch.where(peak > 0, peak, torch.ones_like(peak))
    xn = (x / scale).clamp(-1.0, 1.0)
    mu = per_example(torch.pow(2.0, torch.round(bits.to(x.device)).clamp(min=1)) - 1, x)
    log1p_mu = torch.log1p(mu)
    code = torch.floor((torch.sign(xn) * torch.log1p(mu * xn.abs()) / log1p_mu + 1) / 2 * mu + 0.5)
    xq = code / mu * 2 - 1.0
    y = torch.sign(xq) * (torch.exp(xq.abs() * log1p_mu) - 1.0) / mu
    return keep_padding(torch.where(peak > 0, y * scale, x), x, lengths, _T)


@accurate
def codec(
    x: Tensor,
    *,
    bits: Tensor,
    low_hz: float | None = 300.0,
    high_hz: float | None = 3400.0,
    sample_rate: int = 16000,
    order: int = 2,
    lengths: Tensor | None = None,
) -> Tensor:
    """Simulate a narrow-band codec: band-limit to ``[low_hz, high_hz]``, then mu-law quantise.

    The defaults are a G.711 telephone channel (300-3400 Hz) when ``bits`` is 8.

    Args:
        x: float waveform.
        bits: (B,) mu-law bit depth (see :func:`mu_law`).
        low_hz: lower band edge in Hz (None: no high-pass).
        high_hz: upper band edge in Hz (None: no low-pass).
        sample_rate: sampling rate in Hz.
        order: even order of each band-limiting filter.
        lengths: (B,) valid samples; padding keeps its values.

    Shape:
        x: (B, C, L); bits, lengths: (B,). Output: (B, C, L).

    Returns:
        The degraded waveform.

    Example:
        >>> y = codec(torch.ones(1, 1, 400), bits=torch.tensor([8.0]), low_hz=None, high_hz=None)
        >>> y[0, 0, :2]
        tensor([1., 1.])
    """
    bands: list[tuple[Literal["lowpass", "highpass"], Tensor | float]] = []
    if low_hz is not None:
        bands.append(("highpass", float(low_hz)))
    if high_hz is not None:
        bands.append(("lowpass", float(high_hz)))
    y = x
    if bands:
        # at the 2 L size, as before the size followed the cutoffs: a rounding change flips
        # mu-law steps, and MER-C's golden values pin this op's output
        y = _fft_filter(x, bands, sample_rate=sample_rate, order=order, lengths=lengths,
                        who="codec", pad="double")  # fmt: skip
    return keep_padding(mu_law(y, bits=bits, lengths=lengths), x, lengths, _T)


#: band cutoff per kbit/s of :func:`perceptual_codec` (8 kbit/s: 2 kHz, 32 kbit/s: 8 kHz)
CODEC_HZ_PER_KBPS = 250.0
#: band SNR per kbit/s of :func:`perceptual_codec`, in dB (8 kbit/s: 12 dB, 32 kbit/s: 48 dB)
CODEC_DB_PER_KBPS = 1.5


@accurate
def perceptual_codec(
    x: Tensor,
    *,
    kbps: Tensor,
    sample_rate: int = 16000,
    n_fft: int = 512,
    band_bins: int = 8,
    lengths: Tensor | None = None,
) -> Tensor:
    r"""Emulate a low-bitrate perceptual codec (MP3 / AAC / Opus-like artefacts) at ``kbps``.

    What it models, per example, from its bitrate ``r`` (kbit/s): the band limit a codec sets
    when bits are short (a low-pass at ``250 r`` Hz: 2 kHz at 8 kbit/s, the full band of 16 kHz
    audio from 32 kbit/s), and the quantisation of a transform codec: the STFT (``n_fft``,
    hop ``n_fft // 4``) is cut into bands of ``band_bins`` bins, and each band of each frame is
    quantised with a uniform step set so that the decoded band keeps a signal-to-noise ratio of
    about ``1.5 r`` dB (within 1.5 dB on white noise, tested): the noise follows each band's own
    level, as a perceptual model's masking threshold does. Small coefficients round to zero
    (the "birdies" of low-bitrate codecs) and the noise spreads over each 32 ms frame (pre-echo). Not modelled: the psychoacoustic model's masking across
    bands, bit reservoirs, joint stereo, or the codec's own filter bank (the MDCT); for a real
    MP3 / Opus round trip see :class:`mmnoise.transforms.waveform.FFmpegCodec`.

    Args:
        x: float waveform.
        kbps: (B,) bitrate in kbit/s, > 0 (lower is worse).
        sample_rate: sampling rate in Hz (sets the band limit).
        n_fft: STFT size (512 = 32 ms at 16 kHz).
        band_bins: STFT bins per quantisation band.
        lengths: (B,) valid samples; padding is never read and keeps its values.

    Shape:
        x: (B, C, L); kbps, lengths: (B,). Output: (B, C, L).

    Returns:
        The coded-and-decoded waveform.

    Example:
        >>> x = torch.sin(torch.arange(8000.0) * 0.2)[None, None] + 0.01 * torch.randn(1, 1, 8000)
        >>> y = perceptual_codec(x, kbps=torch.tensor([8.0]))
        >>> snr = 10 * torch.log10(x.pow(2).sum() / (y - x).pow(2).sum())
        >>> 5 < float(snr) < 30
        True
    """
    b, c, n = x.shape
    hop = n_fft // 4
    peak = per_example(peak_scale(_valid_only(x, lengths)), x)
    spec, window = _stft_parts(scale_values(x, peak, divide=True), lengths, n_fft, hop)
    bins, frames = spec.shape[1:]
    rate = kbps.to(device=x.device, dtype=spec.real.dtype).repeat_interleave(c)
    hz = torch.arange(bins, device=x.device, dtype=rate.dtype) * (sample_rate / n_fft)
    kept = (hz[None, :] <= CODEC_HZ_PER_KBPS * rate[:, None])[:, :, None]
    # band energies: (N, bands, T), one step per band and frame
    pad = -bins % band_bins
    power = torch.nn.functional.pad(spec.abs().square(), (0, 0, 0, pad))
    bands = power.reshape(b * c, -1, band_bins, frames).mean(dim=2)
    # a uniform step s adds s^2 / 12 to the real and to the imaginary part: 6 puts the band
    # noise at the band power times 10^(-snr / 10); the inverse STFT averages the noise of the
    # 4 overlapping frames (-6 dB), which the doubled step gives back
    snr = torch.pow(10.0, -CODEC_DB_PER_KBPS * rate / 20)[:, None, None]
    noise_rms = torch.sqrt(bands * 24.0) * snr
    step = noise_rms.repeat_interleave(band_bins, dim=1)[:, :bins]
    safe = torch.where(step > 0, step, torch.ones_like(step))
    q = torch.complex(torch.round(spec.real / safe), torch.round(spec.imag / safe)) * safe
    out = torch.where(kept & (step > 0), q, torch.zeros_like(q))
    y = torch.istft(out, n_fft, hop, window=window, center=True, length=n).reshape(b, c, n)
    return keep_padding(saturate(scale_values(y, peak), x.dtype), x, lengths, _T)


#: what :func:`ffmpeg_codec` calls each codec: (FFmpeg encoder, container, file suffix)
_FFMPEG_CODECS = {"mp3": ("libmp3lame", "mp3", "mp3"), "opus": ("libopus", "ogg", "ogg")}

#: the round trip of some clips: (clips, each (n, C) float32 on the CPU, sample rate, codec,
#: bit/s of each) -> the decoded (m, C) float32 samples of each
_RoundTrip = Callable[[list[Tensor], int, str, list[int]], list[Tensor]]

#: clips one FFmpeg process codes at most (each holds an input and an output file open)
_FFMPEG_CHUNK = 64


def _ffmpeg_exe() -> str | None:
    """Return the ``ffmpeg`` executable to run: imageio-ffmpeg's, else one on PATH, else None.

    The one bundled by the ``imageio-ffmpeg`` package (``pip install mmnoise[codec]``) comes
    first: its build is known to carry libmp3lame and libopus, which a system FFmpeg may lack
    (``IMAGEIO_FFMPEG_EXE`` points it at another executable).
    """
    imageio_ffmpeg = optional_import("imageio_ffmpeg", without="an ffmpeg on PATH, if any")
    if imageio_ffmpeg is None:
        return shutil.which("ffmpeg")
    try:
        exe: str = imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError:  # a platform without a bundled binary and none on PATH
        return shutil.which("ffmpeg")
    return exe


def _run_ffmpeg(args: list[str], *, what: str) -> None:
    """Run ``ffmpeg`` with ``args``, or raise saying what failed and why."""
    done = subprocess.run(
        [args[0], "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y", *args[1:]],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"ffmpeg_codec: {args[0]} failed to {what} (exit {done.returncode}): "
            f"{done.stderr.decode(errors='replace').strip()[-400:]}. Check that this FFmpeg "
            "has the encoder (ffmpeg -encoders: libmp3lame, libopus) and takes this sample rate "
            "(MP3: 8-48 kHz), or install mmnoise[codec] for imageio-ffmpeg's build."
        )


def _ffmpeg_round_trip(
    exe: str, clips: list[Tensor], sample_rate: int, codec: str, bps: list[int]
) -> list[Tensor]:
    """Encode each of ``clips`` ((n, C) each) with the ``ffmpeg`` executable ``exe``, decode it.

    One process encodes them all (one input and one output per clip, each at its own bitrate)
    and one decodes them all, through raw float32 files and coded files in a temporary folder:
    FFmpeg writes MP3's gapless header (the LAME tag: encoder delay and padding) only to a
    seekable file. The decoder then drops the delay and padding the stream states (MP3: that
    tag; Opus: the Ogg pre-skip), so the samples come back aligned and at their length.
    """
    encoder, container, suffix = _FFMPEG_CODECS[codec]

    def pcm(clip: Tensor) -> list[str]:
        return ["-f", "f32le", "-ar", str(sample_rate), "-ac", str(clip.shape[1])]

    with tempfile.TemporaryDirectory(prefix="mmnoise-codec-") as tmp:
        raw, coded, decoded = ([os.path.join(tmp, f"{k}.{ext}") for k in range(len(clips))]
                               for ext in ("in.f32", suffix, "out.f32"))  # fmt: skip
        encode, decode = [exe], [exe]
        for k, clip in enumerate(clips):
            clip.contiguous().numpy().tofile(raw[k])
            encode += [*pcm(clip), "-i", raw[k]]
            decode += ["-i", coded[k]]
        for k, clip in enumerate(clips):
            encode += ["-map", f"{k}:a", "-c:a", encoder, "-b:a", str(bps[k]), "-f", container,
                       coded[k]]  # fmt: skip
            decode += ["-map", f"{k}:a", *pcm(clip), decoded[k]]
        channels = sorted({clip.shape[1] for clip in clips})
        _run_ffmpeg(
            encode,
            what=f"encode {len(clips)} clip(s) of {channels} channel(s) at {sample_rate} Hz "
            f"with {encoder} at {min(bps)}-{max(bps)} bit/s",
        )
        _run_ffmpeg(decode, what=f"decode {len(clips)} {container} file(s)")
        return [
            torch.from_file(path, size=os.path.getsize(path) // 4, dtype=torch.float32)
            .reshape(-1, clip.shape[1])
            .clone()
            for path, clip in zip(decoded, clips, strict=True)
        ]


def _torchaudio_round_trip(
    clips: list[Tensor], sample_rate: int, codec: str, bps: list[int]
) -> list[Tensor]:
    """Encode and decode each of ``clips`` through ``torchaudio.io.AudioEffector`` (2.1-2.8)."""
    from torchaudio.io import AudioEffector, CodecConfig

    encoder, container, _ = _FFMPEG_CODECS[codec]
    return [
        AudioEffector(format=container, encoder=encoder, codec_config=CodecConfig(bit_rate=b))
        .apply(clip, sample_rate)
        for clip, b in zip(clips, bps, strict=True)
    ]


def _codec_backend(who: str) -> _RoundTrip:
    """Return how :func:`ffmpeg_codec` reaches FFmpeg, or raise naming what to install.

    An ``ffmpeg`` executable (:func:`_ffmpeg_exe`) through pipes first: the tested path, which
    removes the codec's delay; else ``torchaudio.io`` where this torchaudio has it (2.1-2.8
    with the FFmpeg libraries).
    """
    exe = _ffmpeg_exe()
    if exe is not None:
        return functools.partial(_ffmpeg_round_trip, exe)
    try:
        import torchaudio.io  # noqa: F401
    except ImportError:
        raise RuntimeError(
            f"{who}: a real MP3 / Opus round trip needs FFmpeg, and none is reachable: "
            "imageio-ffmpeg is not installed, there is no ffmpeg on PATH and this torchaudio "
            "has no torchaudio.io. Install mmnoise[codec] (imageio-ffmpeg, a bundled ffmpeg "
            "executable) or put an ffmpeg with libmp3lame / libopus on PATH; or use "
            "PerceptualCodec / perceptual_codec, the torch emulation that runs everywhere."
        ) from None
    return _torchaudio_round_trip


def ffmpeg_codec(
    x: Tensor,
    *,
    kbps: Tensor,
    codec: Literal["mp3", "opus"] = "mp3",
    sample_rate: int = 16000,
    lengths: Tensor | None = None,
) -> Tensor:
    """Encode and decode each example with a real codec through FFmpeg, on the CPU.

    Each example's valid samples (float32, channels interleaved, full scale 1.0) are encoded at
    ``kbps`` (libmp3lame for ``"mp3"``; libopus in an Ogg container for ``"opus"``) and decoded
    back to float32 at ``sample_rate``. FFmpeg is reached through an ``ffmpeg`` executable
    (imageio-ffmpeg's, installed by ``mmnoise[codec]``, or one on PATH): the clips are split
    into a chunk per CPU (64 clips at most), and each chunk is encoded by one process and
    decoded by another (one stream per clip, each at its own bitrate), through files in a
    temporary folder, in threads. Without one, ``torchaudio.io`` is used where this torchaudio
    has it (2.1-2.8), one clip at a time. Codec delay: the decoder drops the encoder delay and
    padding the stream states (MP3: the LAME gapless tag; Opus: the Ogg pre-skip), so the
    output lines up with the input (noise comes back at lag 0, tested with the FFmpeg 7.0 and
    9.0 of imageio-ffmpeg 0.6 and 0.8; FFmpeg 4.2, in imageio-ffmpeg 0.5, returns Opus 69
    samples late at 16 kHz); any length left over is cut or zero-filled at the end (the
    ``torchaudio.io`` path does not compensate the delay). Opus codes at 48 kHz (FFmpeg
    resamples in and out); MP3 takes 8-48 kHz. Mono and stereo are coded as such; more
    channels are coded one by one. Host reads and subprocesses: a CPU op for datasets and
    evaluation, not for the device path; not differentiable.

    Args:
        x: float waveform.
        kbps: (B,) bitrate in kbit/s (MP3 8-320, Opus 6-510; the encoder rounds to what it has).
        codec: ``"mp3"`` or ``"opus"``.
        sample_rate: sampling rate in Hz.
        lengths: (B,) valid samples; padding is never read and keeps its values.

    Shape:
        x: (B, C, L); kbps, lengths: (B,). Output: (B, C, L).

    Returns:
        The decoded waveform, in ``x``'s dtype and device.

    Raises:
        RuntimeError: no FFmpeg is reachable, or FFmpeg failed (its message included).

    Example:
        >>> x = torch.randn(1, 1, 16000) * 0.1
        >>> try:
        ...     y = ffmpeg_codec(x, kbps=torch.tensor([32.0]))
        ... except RuntimeError:  # no FFmpeg on this machine: pip install mmnoise[codec]
        ...     y = x
        >>> y.shape
        torch.Size([1, 1, 16000])
    """
    if codec not in _FFMPEG_CODECS:
        raise ValueError(f"ffmpeg_codec: expected codec 'mp3' or 'opus', got {codec!r}.")
    round_trip = _codec_backend("ffmpeg_codec")
    c = x.shape[1]
    # mono and stereo are coded as such (joint stereo included); more channels one by one
    groups = [slice(0, c)] if c <= 2 else [slice(j, j + 1) for j in range(c)]
    n = full_lengths(x, lengths, _T).tolist()
    bps = torch.round(kbps.detach().double() * 1000).long().tolist()
    host = x.detach().to(device="cpu", dtype=torch.float32)
    jobs = [(i, g) for i in range(x.shape[0]) if n[i] > 0 for g in groups]

    def run(chunk: list[tuple[int, slice]]) -> list[Tensor]:
        clips = [host[i, g, : n[i]].T.contiguous() for i, g in chunk]
        return round_trip(clips, sample_rate, codec, [int(bps[i]) for i, _ in chunk])

    # with the executable: a chunk per CPU (at most _FFMPEG_CHUNK clips), in threads that each
    # wait on their own two FFmpeg processes
    parts = min(len(jobs), os.cpu_count() or 1)
    size = max(1, min(-(-len(jobs) // max(parts, 1)), _FFMPEG_CHUNK))
    if not isinstance(round_trip, functools.partial):
        parts, size = 1, max(1, len(jobs))
    chunks = [jobs[k : k + size] for k in range(0, len(jobs), size)]
    with concurrent.futures.ThreadPoolExecutor(max(1, min(parts, len(chunks)))) as pool:
        outs = [out for part in pool.map(run, chunks) for out in part]
    y = x.detach().clone()
    for (i, g), out in zip(jobs, outs, strict=True):
        decoded = torch.zeros(n[i], out.shape[1])
        m = min(out.shape[0], n[i])
        decoded[:m] = out[:m]  # the codec's length, cut or zero-filled at the end to the clip's
        y[i, g, : n[i]] = decoded.T.to(device=x.device, dtype=x.dtype)
    return y


# -- reverb ------------------------------------------------------------------------------------
@accurate
def reverb(
    x: Tensor,
    *,
    wet_ratio: Tensor,
    rt60_s: Tensor | None = None,
    ir_bank: Tensor | None = None,
    index: Tensor | None = None,
    sample_rate: int = 16000,
    ir_length_s: float | None = None,
    generator: Randomness = None,
    lengths: Tensor | None = None,
) -> Tensor:
    r"""Convolve each example with a room impulse response and mix it with the dry signal.

    The impulse response is either row ``index[b]`` of ``ir_bank`` (measured RIRs), or a
    synthetic one: Gaussian noise under an exponential envelope that decays by 60 dB in
    ``rt60_s`` seconds, $h(t) = n(t)\,e^{-3 \ln(10)\, t / \mathrm{RT}_{60}}$ (Polack's
    statistical room model), ``ir_length_s`` long. The wet signal is the first L samples of the convolution
    (torchaudio ``fftconvolve``, at a fast 5-smooth FFT size), rescaled to the dry signal's
    energy on the valid samples; the output is ``(1 - wet_ratio) * x + wet_ratio * wet``. A unit
    impulse is therefore an identity.

    Args:
        x: float waveform.
        wet_ratio: (B,) share of the reverberant signal in the mix, in [0, 1].
        rt60_s: (B,) reverberation time in seconds (synthetic responses; None with a bank).
        ir_bank: (N, K) impulse responses; takes precedence over ``rt60_s``.
        index: (B,) int64 bank row of each example (required with ``ir_bank``).
        sample_rate: sampling rate in Hz (converts ``rt60_s`` to samples).
        ir_length_s: length of the synthetic responses in seconds (None: the longest
            ``rt60_s``, where the envelope is at -60 dB). A fixed length keeps each example's
            response independent of the other examples' RT60.
        generator: source of the synthetic responses' noise.
        lengths: (B,) valid samples; padding keeps its values and never enters the energy.

    Shape:
        x: (B, C, L); wet_ratio, rt60_s, index, lengths: (B,); ir_bank: (N, K). Output: (B, C, L).

    Returns:
        The reverberant waveform.

    Raises:
        ValueError: neither ``rt60_s`` nor (``ir_bank``, ``index``) given.

    Example:
        >>> x = torch.tensor([[[1.0, 0.0, 0.0, 0.0]]])
        >>> y = reverb(x, wet_ratio=torch.tensor([1.0]), ir_bank=torch.tensor([[1.0, 0.5]]),
        ...            index=torch.tensor([0]))
        >>> [abs(round(v, 4)) for v in y.flatten().tolist()]
        [0.8944, 0.4472, 0.0, 0.0]
    """
    b, _, n = x.shape
    if ir_bank is not None:
        if index is None:
            raise ValueError("reverb: expected index= (the bank row of each example) with ir_bank.")
        ir = ir_bank.to(device=x.device, dtype=x.dtype)[index.to(x.device), :n]
    elif rt60_s is not None:
        rt60 = rt60_s.to(device=x.device, dtype=x.dtype).clamp(min=1e-6)
        # Past its RT60 a response is below -60 dB: cutting it there keeps the FFT short.
        seconds = float(rt60.max()) if ir_length_s is None else ir_length_s
        k = max(1, min(n, math.ceil(seconds * sample_rate) + 1))
        t = torch.arange(k, device=x.device, dtype=x.dtype) / sample_rate
        envelope = torch.exp(-3.0 * math.log(10.0) / rt60[:, None] * t[None, :])
        ir = rng.randn((b, k), generator=generator, device=x.device, dtype=x.dtype) * envelope
    else:
        raise ValueError(
            "reverb: expected rt60_s= (synthetic responses) or ir_bank= and index= (measured "
            "ones), got neither."
        )
    # Only the first L output samples are kept; padding x so that the full convolution has a
    # 5-smooth length lets fftconvolve use a fast FFT (L + K - 1 is often a large prime product).
    # The convolution runs on x / peak (per example): a long response summing values near the
    # dtype's largest finite value would overflow; the wet signal is rescaled to the dry norm.
    k = ir.shape[-1]
    peak = peak_scale(x)
    # reverb is homogeneous of degree 1 in x: the scaling by the peak is done in value only, so
    # that gradients stay finite for values near the dtype's largest (see scale_values)
    xn = scale_values(x, per_example(peak, x), divide=True)
    fast = _next_fast_len(n + k - 1)
    padded = torch.nn.functional.pad(xn, (0, fast - k + 1 - n))
    wet = AF.fftconvolve(padded, ir[:, None, :])[..., :n]
    valid = valid_steps(x, lengths, _T)
    n_dry, n_wet = valid_norm(xn, valid, _T), valid_norm(wet, valid, _T)
    ok = n_wet > 0
    ratio = torch.where(ok, n_dry / torch.where(ok, n_wet, torch.ones_like(n_wet)), 0)
    w = per_example(wet_ratio, x)
    # the peak comes last: ratio * peak alone may overflow where every product is finite
    y = (1 - w) * x + scale_values(w * per_example(ratio, x) * wet, per_example(peak, x))
    # |wet part| <= the dry norm: the mix can leave the finite range only near the largest values
    top = torch.finfo(x.dtype).max
    if not reads_on_host(x.device) or not bool(((n_dry + 1) * peak < top).all()):
        y = saturate(y, x.dtype)
    return keep_padding(y, x, lengths, _T)


# -- time-domain damage ------------------------------------------------------------------------
def clip(x: Tensor, *, threshold_ratio: Tensor, lengths: Tensor | None = None) -> Tensor:
    """Hard-clip each example at a fraction of its own peak amplitude.

    Samples are limited to ``[-t, t]`` with ``t = threshold_ratio * max |x|`` over the valid
    samples (an overdriven microphone or ADC).

    Args:
        x: float waveform.
        threshold_ratio: (B,) clipping level as a fraction of the peak, in [0, 1] (1 = none).
        lengths: (B,) valid samples; padding keeps its values.

    Shape:
        x: (B, C, L); threshold_ratio, lengths: (B,). Output: (B, C, L).

    Returns:
        The clipped waveform; ``|output| <= threshold_ratio * peak`` on valid samples.

    Example:
        >>> clip(torch.tensor([[[1.0, -0.5, 0.2]]]), threshold_ratio=torch.tensor([0.4]))
        tensor([[[ 0.4000, -0.4000,  0.2000]]])
    """
    t = per_example(threshold_ratio.to(x.device) * _peak(x, lengths), x)
    return keep_padding(torch.clamp(x, min=-t, max=t), x, lengths, _T)


@renamed_args(width_ratio="width_fraction")
def packet_loss(
    x: Tensor, *, start: Tensor, width_fraction: Tensor, lengths: Tensor | None = None
) -> Tensor:
    """Zero K short spans of each example (lost packets in a network stream).

    Span ``k`` covers ``round(width_fraction * length)`` valid samples placed at fraction
    ``start[:, k]`` of the room left, as in :func:`mmnoise.functional.features.time_mask`;
    spans may overlap, so at most ``K * round(width_fraction * length)`` samples are zeroed.

    Args:
        x: float waveform.
        start: (B, K) span starts as fractions in [0, 1).
        width_fraction: (B,) width of each span as a fraction of the valid length.
        lengths: (B,) valid samples; padding is never zeroed.

    Shape:
        x: (B, C, L); start: (B, K); width_fraction, lengths: (B,). Output: (B, C, L).

    Returns:
        The waveform with zeroed spans.

    Example:
        >>> packet_loss(torch.ones(1, 1, 8), start=torch.tensor([[0.0, 0.99]]),
        ...             width_fraction=torch.tensor([0.25]))
        tensor([[[0., 0., 1., 1., 1., 1., 0., 0.]]])
    """
    lost = _span_union(full_lengths(x, lengths, _T), start, width_fraction[:, None], x.shape[_T])
    return torch.where(broadcast_steps(lost, x, _T), torch.zeros_like(x), x)


def speed_perturb(x: Tensor, *, factor: Tensor, lengths: Tensor | None = None) -> Tensor:
    """Play each example ``factor`` times faster (tempo and pitch), keeping its length.

    Output sample ``t`` reads the input at position ``t * factor`` by linear interpolation (a
    per-example resampling, sox ``speed``); a sped-up example ends in silence, a slowed-down one
    is cut at its valid length. Linear interpolation has no anti-aliasing filter: content above
    ``sample_rate / (2 * factor)`` folds back, negligible for factors near 1.

    Args:
        x: float waveform.
        factor: (B,) speed factor (> 1 faster, < 1 slower), > 0.
        lengths: (B,) valid samples; reads never cross them and padding keeps its values.

    Shape:
        x: (B, C, L); factor, lengths: (B,). Output: (B, C, L).

    Returns:
        The speed-changed waveform.

    Example:
        >>> speed_perturb(torch.arange(6.0).reshape(1, 1, 6), factor=torch.tensor([2.0]))
        tensor([[[0., 2., 4., 0., 0., 0.]]])
    """
    b, c, n = x.shape
    valid_n = full_lengths(x, lengths, _T)
    pos_dtype = torch.promote_types(x.dtype, torch.float32)
    t = torch.arange(n, device=x.device, dtype=pos_dtype)
    pos = t[None, :] * factor.to(device=x.device, dtype=pos_dtype)[:, None]
    last = (valid_n - 1)[:, None]
    i0 = torch.floor(pos).long()
    frac = (pos - i0.to(pos_dtype)).to(x.dtype)[:, None, :]
    lo = torch.minimum(i0.clamp(min=0), last)[:, None, :].expand(b, c, n)
    hi = torch.minimum(i0 + 1, last)[:, None, :].expand(b, c, n)
    x0, x1 = torch.gather(x, _T, lo), torch.gather(x, _T, hi)
    inside = (pos <= last.to(pos_dtype))[:, None, :]
    y = torch.where(inside, x0 + frac * (x1 - x0), torch.zeros_like(x))
    return keep_padding(y, x, lengths, _T)


# -- tempo and pitch ---------------------------------------------------------------------------
def _valid_only(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Return ``x`` with its padding set to zero (``x`` itself when nothing is padded)."""
    valid = step_mask(x, lengths, _T)
    return x if valid is None else torch.where(valid, x, 0.0)


def _stft_parts(
    x: Tensor, lengths: Tensor | None, n_fft: int, hop: int, size: int | None = None
) -> tuple[Tensor, Tensor]:
    """Return the (B*C, F, T) STFT of the valid samples (padding zeroed, then zeros up to
    ``size`` samples) and the Hann window."""
    b, c, n = x.shape
    valid = step_mask(x, lengths, _T)
    xv = x if valid is None else torch.where(valid, x, 0.0)
    if size is not None:
        xv = torch.nn.functional.pad(xv, (0, size - n))
    window = torch.hann_window(n_fft, device=x.device, dtype=x.dtype)
    # zero edge padding: the frames describe the clip followed by silence
    spec = torch.stft(xv.reshape(b * c, -1), n_fft, hop, window=window, center=True,
                      pad_mode="constant", return_complex=True)  # fmt: skip
    return spec, window


def _phase_advance(spec: Tensor, hop: int, n_fft: int) -> Tensor:
    """Return the (N, F, T) phase advance from each frame to the next (0 after the last frame).

    The advance of bin ``k`` is its expected ``2 pi k hop / n_fft`` plus the deviation of the
    measured phase difference, wrapped to ``(-pi, pi]`` (torchaudio ``phase_vocoder``).
    """
    f = spec.shape[-2]
    expected = torch.arange(f, device=spec.device, dtype=spec.real.dtype) * (
        2 * math.pi * hop / n_fft
    )
    phase = spec.angle()
    delta = torch.diff(phase, dim=-1, append=phase[..., -1:]) - expected[:, None]
    delta = delta - 2 * math.pi * torch.round(delta / (2 * math.pi))
    return delta + expected[:, None]


def _lerp_gather(v: Tensor, pos: Tensor, dim: int) -> Tensor:
    """Linearly interpolate ``v`` (N, F, T) at fractional positions ``pos`` along ``dim``;
    positions at or past the last entry read zeros. ``pos`` broadcasts to the other axes."""
    size = v.shape[dim]
    v = torch.nn.functional.pad(v, (0, 2) if dim == 2 else (0, 0, 0, 2))
    i0 = torch.floor(pos).long().clamp(0, size)
    frac = (pos - torch.floor(pos)).to(v.dtype)
    shape = list(v.shape)
    shape[dim] = pos.shape[dim]
    v0 = torch.gather(v, dim, i0.expand(shape))
    v1 = torch.gather(v, dim, (i0 + 1).expand(shape))
    return v0 + frac * (v1 - v0)


def _frame_read(pos: Tensor, frames: int) -> Tensor:
    """Return the input frame ``floor(pos)`` each output frame reads, inside ``[0, frames)``."""
    return torch.floor(pos).long().clamp(0, frames - 1)


def _stretch_spec(spec: Tensor, rate: Tensor, frames: int, hop: int, n_fft: int) -> Tensor:
    """Phase-vocoder time stretch of a (N, F, T) STFT by a per-row ``rate``, to ``frames`` frames.

    Output frame ``j`` takes the magnitude interpolated at input frame ``j * rate`` and
    accumulates the phase advance measured there (torchaudio ``phase_vocoder`` for one rate);
    frames read past the input are silent.
    """
    pos = torch.arange(frames, device=spec.device, dtype=rate.dtype)[None, None, :]
    pos = pos * rate[:, None, None]
    mag = _lerp_gather(spec.abs(), pos, 2)
    advance = _phase_advance(spec, hop, n_fft)
    index = torch.floor(pos[..., :-1]).long().clamp(max=spec.shape[-1])
    step = torch.gather(torch.nn.functional.pad(advance, (0, 1)), 2,
                        index.expand(-1, spec.shape[1], -1))  # fmt: skip
    total = torch.nn.functional.pad(step, (1, 0)).cumsum(-1)
    # The first frames hold the STFT's edge padding, whose phase advances differ from
    # bin to bin of one partial; accumulated from frame 0 (as torchaudio does), they break the
    # partial's phase pattern for good and can cancel a steady tone by 40 %. The sum is pinned
    # instead at the first output frame j that reads a frame i = floor(j * rate) clear of the
    # edge: its phase is frame i's own (rate 1 stays an identity).
    m = n_fft // (2 * hop)
    j = torch.ceil(m / rate).long().clamp(max=frames - 1)[:, None, None]
    i = torch.floor(j * rate[:, None, None]).long().clamp(max=spec.shape[-1] - 1)
    f = spec.shape[1]
    anchor = torch.gather(spec, 2, i.expand(-1, f, 1)).angle()
    phase = anchor - torch.gather(total, 2, j.expand(-1, f, 1)) + total
    # Identity phase locking (Laroche and Dolson 1999): each bin keeps, relative to the
    # spectral peak governing it in the input frame read, the phase offset it has there; only
    # peaks accumulate their own advance. A partial's bins then stay coherent across onsets,
    # where free accumulation smears them (a tone after silence lost 30 % of its level).
    src = torch.gather(spec, 2, _frame_read(pos, spec.shape[-1]).expand(-1, f, -1))
    level = src.abs()
    edge = torch.full_like(level[:, :1], -1.0)
    peak = (level >= torch.cat([edge, level[:, :-1]], 1)) & (level > torch.cat([level[:, 1:], edge], 1))
    k = torch.arange(f, device=spec.device)[None, :, None]
    left = torch.where(peak, k, -1).cummax(1).values
    right = torch.where(peak, k, 2 * f).flip(1).cummin(1).values.flip(1)
    near = torch.where((left >= 0) & ((k - left) <= (right - k)), left, right)
    near = torch.where(near < f, near, k)  # no peak at all (silence): the bin itself
    offset = src.angle() - torch.gather(src.angle(), 1, near)
    return torch.polar(mag, torch.gather(phase, 1, near) + offset)


def time_stretch_lengths(x: Tensor, *, rate: Tensor, lengths: Tensor | None = None) -> Tensor:
    """Return the valid lengths after :func:`time_stretch`: ``round(n / rate)``, at most ``n``.

    Args:
        x: the waveform before the stretch (its size gives ``n`` where ``lengths`` is None).
        rate: (B,) tempo factor.
        lengths: (B,) valid samples before the stretch.

    Shape:
        x: (B, C, L); rate, lengths: (B,). Output: (B,) int64.

    Example:
        >>> time_stretch_lengths(torch.zeros(2, 1, 100), rate=torch.tensor([2.0, 0.5]))
        tensor([ 50, 100])
    """
    n = full_lengths(x, lengths, _T).to(x.device)
    r = rate.to(device=x.device, dtype=torch.float64)
    return torch.minimum(torch.round(n / r).long(), n).clamp(min=1)


@accurate
def time_stretch(
    x: Tensor,
    *,
    rate: Tensor,
    n_fft: int = 512,
    hop_length: int | None = None,
    lengths: Tensor | None = None,
) -> Tensor:
    """Change each example's tempo by ``rate`` without changing its pitch (a phase vocoder).

    The STFT of the valid samples (Hann window, ``n_fft``, hop ``n_fft // 4``) is resampled in
    time per example: output frame ``j`` takes the magnitude interpolated at input frame
    ``j * rate[b]`` and accumulates the phase advance measured there, as torchaudio
    ``phase_vocoder`` does for one rate; the inverse STFT gives the waveform. A sped-up example
    (rate > 1) lasts ``round(n / rate)`` samples and ends in silence
    (:func:`time_stretch_lengths` gives the new lengths); a slowed-down one is cut at its valid
    length ``n``, so the tensor keeps its shape and padding never changes.

    Args:
        x: float waveform.
        rate: (B,) tempo factor (> 1 faster, < 1 slower), > 0.
        n_fft: STFT size (512 = 32 ms at 16 kHz).
        hop_length: STFT hop (None: ``n_fft // 4``).
        lengths: (B,) valid samples; padding is never read and keeps its values.

    Shape:
        x: (B, C, L); rate, lengths: (B,). Output: (B, C, L).

    Returns:
        The time-stretched waveform.

    Example:
        >>> x = torch.sin(torch.arange(4000.0) * 0.3)[None, None]
        >>> y = time_stretch(x, rate=torch.tensor([2.0]))
        >>> bool(y[0, 0, 2100:].eq(0).all()), round(float(y[0, 0, 500:1500].std() / x.std()), 1)
        (True, 1.0)
    """
    b, c, n = x.shape
    hop = hop_length or n_fft // 4
    # linear in x: it runs on x / peak (no overflow near the dtype's largest values)
    peak = per_example(peak_scale(_valid_only(x, lengths)), x)
    spec, window = _stft_parts(scale_values(x, peak, divide=True), lengths, n_fft, hop)
    r = rate.to(device=x.device, dtype=spec.real.dtype).repeat_interleave(c)
    out = _stretch_spec(spec, r, spec.shape[-1], hop, n_fft)
    y = torch.istft(out, n_fft, hop, window=window, center=True, length=n).reshape(b, c, n)
    y = saturate(scale_values(y, peak), x.dtype)
    new = time_stretch_lengths(x, rate=rate, lengths=lengths)
    t = torch.arange(n, device=x.device)
    y = torch.where((t[None, :] < new[:, None])[:, None, :], y, torch.zeros_like(y))
    return keep_padding(y, x, lengths, _T)


@accurate
def pitch_shift(
    x: Tensor,
    *,
    semitones: Tensor,
    n_fft: int = 512,
    hop_length: int | None = None,
    lengths: Tensor | None = None,
) -> Tensor:
    """Shift each example's pitch by ``semitones`` without changing its tempo or length.

    With ``s = 2 ** (semitones / 12)``, each example is time-stretched by ``s`` (the phase
    vocoder of :func:`time_stretch`, band-limited below ``sample_rate / (2 s)`` in the STFT so
    that nothing folds back) and resampled by ``s`` (linear interpolation), as librosa's
    ``pitch_shift`` does: the duration is kept and every frequency is multiplied by ``s``.
    Shifts are limited to one octave each way (``|semitones| <= 12``: the stretched signal lives
    in a buffer of twice the length); formants move with the pitch (no envelope correction).

    Args:
        x: float waveform.
        semitones: (B,) shift in semitones, in [-12, 12] (+12 = one octave up).
        n_fft: STFT size (512 = 32 ms at 16 kHz).
        hop_length: STFT hop (None: ``n_fft // 4``).
        lengths: (B,) valid samples; padding is never read and keeps its values.

    Shape:
        x: (B, C, L); semitones, lengths: (B,). Output: (B, C, L).

    Returns:
        The pitch-shifted waveform.

    Example:
        >>> t = torch.arange(8000.0) / 16000
        >>> x = torch.sin(2 * torch.pi * 500 * t)[None, None]
        >>> y = pitch_shift(x, semitones=torch.tensor([12.0]))
        >>> int(torch.fft.rfft(y[0, 0]).abs().argmax()) * 2  # the peak bin, in Hz
        1000
    """
    b, c, n = x.shape
    hop = hop_length or n_fft // 4
    # the clip and as much silence: the stretched clip fits for shifts up to an octave up;
    # linear in x: it runs on x / peak (no overflow near the dtype's largest values)
    peak = per_example(peak_scale(_valid_only(x, lengths)), x)
    spec, window = _stft_parts(scale_values(x, peak, divide=True), lengths, n_fft, hop, 2 * n)
    bins, frames = spec.shape[1:]
    s = torch.pow(2.0, semitones.to(device=x.device, dtype=spec.real.dtype) / 12.0)
    s = s.clamp(0.5, 2.0).repeat_interleave(c)
    # stretched by s, band-limited below the new Nyquist (nothing folds back)
    out = _stretch_spec(spec, 1.0 / s, frames, hop, n_fft)
    keep = torch.arange(bins, device=x.device)[None, :] * s[:, None] <= bins - 1
    out = out * keep[:, :, None]
    z = torch.istft(out, n_fft, hop, window=window, center=True, length=2 * n)
    # resampled by s (linear interpolation): the original duration at s times the pitch
    pos = torch.arange(n, device=x.device, dtype=s.dtype)[None, :] * s[:, None]
    i0 = torch.floor(pos).long().clamp(max=2 * n - 2)
    frac = (pos - i0.to(pos.dtype)).clamp(max=1.0).to(z.dtype)
    z0, z1 = torch.gather(z, 1, i0), torch.gather(z, 1, i0 + 1)
    y = saturate(scale_values((z0 + frac * (z1 - z0)).reshape(b, c, n), peak), x.dtype)
    return keep_padding(y, x, lengths, _T)


# -- spectrogram inputs ------------------------------------------------------------------------
@renamed_args(
    time_width_ratio="time_width_fraction", freq_width_ratio="freq_width_fraction"
)
def spec_augment(
    x: Tensor,
    *,
    time_start: Tensor,
    time_width_fraction: Tensor,
    freq_start: Tensor,
    freq_width_fraction: Tensor,
    fill: float = 0.0,
    lengths: Tensor | None = None,
) -> Tensor:
    """Mask several time spans and frequency bands of a spectrogram in one pass (SpecAugment).

    Park et al. 2019, "SpecAugment", section 2: ``m_T`` time masks and ``m_F`` frequency masks
    per example, each with its own position and width; here the K time masks stay inside each
    example's valid frames and never touch padding.

    Args:
        x: float spectrogram features, time first.
        time_start: (B, K_t) time-mask starts as fractions in [0, 1).
        time_width_fraction: (B, K_t) time-mask widths as fractions of the valid length.
        freq_start: (B, K_f) frequency-mask starts as fractions in [0, 1).
        freq_width_fraction: (B, K_f) frequency-mask widths as fractions of F.
        fill: value written into the masks.
        lengths: (B,) valid frames.

    Shape:
        x: (B, T, F); lengths: (B,). Output: (B, T, F).

    Returns:
        The masked spectrogram.

    Example:
        >>> y = spec_augment(torch.ones(1, 4, 4), time_start=torch.tensor([[0.0]]),
        ...                  time_width_fraction=torch.tensor([[0.25]]),
        ...                  freq_start=torch.tensor([[0.99]]),
        ...                  freq_width_fraction=torch.tensor([[0.25]]))
        >>> y[0]
        tensor([[0., 0., 0., 0.],
                [1., 1., 1., 0.],
                [1., 1., 1., 0.],
                [1., 1., 1., 0.]])
    """
    b, n, f = x.shape
    in_time = _span_union(full_lengths(x, lengths, 1), time_start, time_width_fraction, n)
    all_bins = torch.full((b,), f, device=x.device, dtype=torch.long)
    in_freq = _span_union(all_bins, freq_start, freq_width_fraction, f)
    masked = in_time[:, :, None] | in_freq[:, None, :]
    valid = step_mask(x, lengths, 1)
    if valid is not None:
        masked = masked & valid
    return torch.where(masked, torch.full_like(x, fill), x)
