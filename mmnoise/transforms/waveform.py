"""Waveform transforms (B, C, L): recorded noise, babble, the MER2023 / 2024 noise mix, filters,
codecs, reverb, clipping, packet loss, speed, tempo and pitch; and SpecAugment for spectrogram
features (B, T, F).

Every class maps ``level`` in [0, 1] linearly onto a ``(weak, strong)`` range in the unit its
argument names; level 0 is an exact identity (the example is not touched at all). White and
coloured noise at an SNR, gain, time masking and time shift are generic and already accept
waveforms: :class:`~mmnoise.transforms.features.AddGaussianSNR`,
:class:`~mmnoise.transforms.features.AddColoredSNR`, :class:`~mmnoise.transforms.features.Gain`,
:class:`~mmnoise.transforms.features.TimeMask`, :class:`~mmnoise.transforms.features.TimeShift`.

Banks of recordings (noise, impulse responses) are constructor tensors, kept as float32
buffers (moved by ``.to(device)``, not saved in ``state_dict``). ``to_config()`` writes a bank
of at most ``BANK_INLINE_MAX`` values as a nested list; a larger bank is written as
``{"tensor": name, "shape": [N, L]}`` and ``from_config`` then needs the tensor put back
(``config["noise_bank"] = bank``): recordings do not belong in a JSON config.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from mmnoise import rng
from mmnoise.config import check_range, constructor_config, lerp
from mmnoise.deprecation import renamed_args
from mmnoise.device import reads_on_host
from mmnoise.functional import waveform as W
from mmnoise.functional._shape import full_lengths, valid_norm, valid_steps
from mmnoise.rng import Randomness
from mmnoise.sample import LENGTHS, Keys, Kind
from mmnoise.transforms.base import NoiseTransform
from mmnoise.transforms.record import Entry

__all__ = [
    "BANK_INLINE_MAX",
    "AddNoiseBank",
    "Babble",
    "BandPass",
    "Clip",
    "Codec",
    "FFmpegCodec",
    "HighPass",
    "LowPass",
    "MERNoiseMix",
    "PacketLoss",
    "PerceptualCodec",
    "PitchShift",
    "Reverb",
    "SpecAugment",
    "SpeedPerturb",
    "TimeStretch",
]

#: Largest bank (number of values) that ``to_config()`` writes inline as a list.
BANK_INLINE_MAX = 16384

_WAVE: frozenset[Kind] = frozenset({"waveform"})


def _as_bank(value: Any, *, who: str, name: str) -> Tensor:
    """Validate a (N, L) bank of recordings and return it as a float32 tensor."""
    if isinstance(value, Mapping):
        raise ValueError(
            f"{who}: {name} was not written into the config (a bank of shape "
            f"{value.get('shape')} is too large for JSON); put the tensor back before "
            f"from_config: config[{name!r}] = bank."
        )
    if not isinstance(value, (Tensor, list, tuple)):
        raise TypeError(
            f"{who}: expected {name} as a (N, L) float tensor, got {type(value).__name__}."
        )
    bank = torch.as_tensor(value, dtype=torch.float32).detach()
    if bank.ndim != 2 or bank.shape[0] == 0 or bank.shape[1] == 0:
        raise ValueError(
            f"{who}: expected {name} as a non-empty (N, L) tensor (one recording per row), got "
            f"shape {tuple(bank.shape)}; stack recordings of equal length (crop or tile them)."
        )
    if not bool(torch.isfinite(bank).all()):
        raise ValueError(f"{who}: expected finite values in {name}, found NaN or Inf.")
    silent = (bank.abs().amax(dim=1) == 0).nonzero().flatten().tolist()
    if silent:
        raise ValueError(
            f"{who}: expected every row of {name} to be non-silent, got all-zero rows {silent}; "
            "drop them."
        )
    return bank


def _bank_config(t: NoiseTransform, banks: tuple[str, ...]) -> dict[str, Any]:
    """``to_config`` for a transform holding banks: small ones inline, large ones by shape."""
    large = {name: getattr(t, name) for name in banks}
    return constructor_config(t, **{
        name: {"tensor": name, "shape": list(v.shape)} for name, v in large.items()
        if isinstance(v, Tensor) and v.numel() > BANK_INLINE_MAX
    })  # fmt: skip


def _check_hz(
    value: Sequence[float], *, who: str, name: str, sample_rate: int
) -> tuple[float, float]:
    pair = check_range(value, who=who, name=name)
    if not all(0.0 < v < sample_rate / 2 for v in pair):
        raise ValueError(
            f"{who}: expected {name} strictly between 0 and the Nyquist frequency "
            f"{sample_rate / 2} Hz, got {value!r}; lower it or pass the right sample_rate."
        )
    return pair


def _check_rate(sample_rate: int, *, who: str) -> int:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ValueError(
            f"{who}: expected sample_rate as a positive int in Hz, got {sample_rate!r}."
        )
    return sample_rate


def _check_count(value: int, *, who: str, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{who}: expected {name} as an int >= 1, got {value!r}.")
    return value


class _FromRecordings(NoiseTransform):
    """A transform adding noise read from recordings, which can be digital silence.

    Its record gets, per key, a (B,) bool ``snr_reached``: False for an example that the draw
    applied to, whose valid samples are not all zero, but that came back unchanged because every
    noise segment it could use was silent (so its SNR is +inf, not ``snr_db``); a
    ``UserWarning`` then says how many.
    """

    def entry_updates(
        self, name: str, x: Tensor, y: Tensor, entry: Entry, *, lengths: Tensor | None,
        present: Tensor | None,
    ) -> dict[str, Tensor]:  # fmt: skip
        """Report ``snr_reached`` for one key, and warn when some examples got no noise."""
        if y is x:  # an identity call: nothing was applied
            return {"snr_reached": torch.ones_like(entry["applied"])}
        loud = valid_norm(x.detach(), valid_steps(x, lengths, 2), 2) > 0
        same = ~(y != x).reshape(x.shape[0], -1).any(dim=1)
        missed = entry["applied"].to(x.device) & loud & same
        # the warning needs a count on the host: only where reading it costs no device sync
        count = int(missed.sum()) if reads_on_host(missed.device) else 0
        if count:
            warnings.warn(
                f"{type(self).__name__}: {count} example(s) of {name!r} got no noise because "
                "every noise segment they could use is digital silence; their SNR is +inf "
                "(record['keys'][name]['snr_reached'] marks them). Use a bank or batch with "
                "non-silent recordings.",
                stacklevel=5,
            )
        return {"snr_reached": ~missed}


class AddNoiseBank(_FromRecordings):
    """Add real recorded noise from a bank at a target SNR, random row and offset per example.

    Each example reads its own bank row from a random offset (wrapping around rows shorter
    than the clip); the same noise goes to every channel. Level mapping:
    ``snr_db = weak + level * (strong - weak)`` (default 30 dB down to -5 dB).

    Args:
        keys: entries to corrupt.
        noise_bank: (N, L_n) noise recordings at the data's sample rate (see the module
            docstring for how it is serialised).
        snr_db: (weak, strong) SNR in dB.
        p: per-example probability.

    Shape:
        (B, C, L) waveforms; output keeps shape, dtype and device.

    Raises:
        ValueError: the bank is not a finite (N, L_n) tensor or has a silent row.

    Example:
        >>> t = AddNoiseBank("audio", noise_bank=torch.randn(4, 100))
        >>> x = torch.randn(2, 1, 160)
        >>> out = t({"audio": x}, level=0.5, generator=torch.Generator().manual_seed(0))
        >>> snr = 10 * torch.log10(x.pow(2).sum((1, 2)) / (out["audio"] - x).pow(2).sum((1, 2)))
        >>> [round(v, 2) for v in snr.tolist()]
        [12.5, 12.5]
    """

    accepts = _WAVE
    differentiable = True
    kernel = staticmethod(W.add_noise_bank)
    noise_bank: Tensor

    def __init__(
        self,
        keys: Keys = None,
        *,
        noise_bank: Tensor,
        snr_db: Sequence[float] = (30.0, -5.0),
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, p=p)
        who = type(self).__name__
        self.snr_db = check_range(snr_db, who=who, name="snr_db")
        self.register_buffer(
            "noise_bank", _as_bank(noise_bank, who=who, name="noise_bank"), persistent=False
        )

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        n = self.noise_bank.shape[0]
        u = self.uniform(x, generator, 2)
        index = torch.floor(u[:, 0] * n).long().clamp(max=n - 1)
        return {"snr_db": lerp(level, self.snr_db), "index": index, "offset": u[:, 1]}

    def kernel_kwargs(self) -> dict[str, Tensor]:
        return {"noise_bank": self.noise_bank}

    def to_config(self) -> dict[str, Any]:
        return _bank_config(self, ("noise_bank",))


class Babble(_FromRecordings):
    """Add babble: a sum of other talkers (other examples of the batch, or bank rows) at an SNR.

    Talkers are equally loud segments read from random offsets; from the batch, example ``b``
    draws its talkers among the *other* examples (with a batch of one, from itself at another
    offset). Level mapping: ``snr_db`` and the talker count
    ``round(weak + level * (strong - weak))`` of ``num_speakers`` move together.

    Args:
        keys: entries to corrupt.
        num_speakers: (weak, strong) number of talkers, each >= 1.
        snr_db: (weak, strong) SNR in dB.
        noise_bank: optional (N, L_n) recordings of single talkers to draw from instead of the
            batch (serialised as in :class:`AddNoiseBank`).
        p: per-example probability.

    Shape:
        (B, C, L) waveforms; output keeps shape, dtype and device.

    Raises:
        ValueError: a count below 1, or a bad bank.

    Example:
        >>> t = Babble("audio", num_speakers=(1, 3))
        >>> x = torch.randn(3, 1, 64)
        >>> y = t({"audio": x}, level=1.0, generator=torch.Generator().manual_seed(0))["audio"]
        >>> y.shape, bool((y != x).all())
        (torch.Size([3, 1, 64]), True)
    """

    accepts = _WAVE
    differentiable = True
    kernel = staticmethod(W.babble)
    noise_bank: Tensor | None

    def __init__(
        self,
        keys: Keys = None,
        *,
        num_speakers: Sequence[float] = (1, 6),
        snr_db: Sequence[float] = (30.0, -5.0),
        noise_bank: Tensor | None = None,
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, p=p)
        who = type(self).__name__
        speakers = check_range(num_speakers, who=who, name="num_speakers", lo=1.0)
        self.num_speakers = (round(speakers[0]), round(speakers[1]))
        self.snr_db = check_range(snr_db, who=who, name="snr_db")
        bank = None if noise_bank is None else _as_bank(noise_bank, who=who, name="noise_bank")
        self.register_buffer("noise_bank", bank, persistent=False)

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        k = max(self.num_speakers)
        u = self.uniform(x, generator, 2, k)
        weak, strong = self.num_speakers
        count = torch.round(lerp(level, (float(weak), float(strong)))).long()
        if self.noise_bank is not None:
            n = self.noise_bank.shape[0]
            source = torch.floor(u[:, 0] * n).long().clamp(max=n - 1)
        else:
            if rng.per_example(generator):
                raise ValueError(
                    "Babble: without a noise_bank the talkers are other examples of the batch, "
                    "so an example's babble depends on its neighbours and per-example generators "
                    "cannot make it batch-independent; give a noise_bank of talker recordings."
                )
            b = x.shape[0]
            # another example of the batch, b + 1 + U{0..B-2} (mod B); itself when B == 1
            skip = torch.floor(u[:, 0] * max(b - 1, 1)).long().clamp(max=max(b - 2, 0))
            source = (torch.arange(b, device=x.device)[:, None] + 1 + skip) % b
        return {
            "snr_db": lerp(level, self.snr_db),
            "num_speakers": count.clamp(1, k),
            "source": source,
            "offset": u[:, 1],
        }

    def kernel_kwargs(self) -> dict[str, Tensor | None]:
        return {"noise_bank": self.noise_bank}

    def to_config(self) -> dict[str, Any]:
        return _bank_config(self, ("noise_bank",))

class MERNoiseMix(_FromRecordings):
    """The MER2023 / MER2024 noise track's audio corruption: speech noise at 5-10 dB SNR.

    Exactly :func:`mmnoise.functional.waveform.mer_noise_mix` (``zeroQiaoba/MERTools``,
    ``MER2024/main-noise.py``): each clip draws its SNR uniformly from the integers
    ``snr_db[0]..snr_db[1]`` (the organisers' ``np.arange(5, 11)``), joins random rows of
    ``bank`` until they outlast the clip, reads from a random integer start, scales by RMS and
    rescales the mix if it would clip in int16 (float samples on torchaudio's int16 scale, full
    scale 1.0). Level mapping: level 1 is the organisers' protocol; a lower level scales the
    noise amplitude by ``level`` (the SNR rises by ``-20 log10(level)`` dB) and level 0 is an
    exact identity. The record's ``snr_db`` is the SNR used (the integer draw at level 1).

    Deviations from the organisers' script: the noise files are the rows of one (N, L_n) bank
    (crop or tile recordings to one length), the mix stays float (their script truncates it to
    int16, an error below one int16 step), a silent noise segment leaves the clip unchanged
    (theirs divides by zero), and multichannel audio gets the same noise on every channel.

    Args:
        keys: entries to corrupt.
        bank: (N, L_n) speech-noise recordings (MUSAN speech in MER2024) at the data's rate,
            serialised as the bank of :class:`AddNoiseBank`.
        snr_db: (low, high) integer SNR range in dB, both ends included.
        p: per-example probability.

    Shape:
        (B, C, L) waveforms; output keeps shape, dtype and device.

    Raises:
        ValueError: a bad bank, or an SNR range that is not two integers with low <= high.

    Example:
        >>> t = MERNoiseMix("audio", bank=torch.randn(4, 100))
        >>> x = torch.randn(2, 1, 160) * 0.01
        >>> out = t({"audio": x}, generator=torch.Generator().manual_seed(0))
        >>> snr = 10 * torch.log10(x.pow(2).sum((1, 2)) / (out["audio"] - x).pow(2).sum((1, 2)))
        >>> [round(v, 3) for v in snr.tolist()]  # integers in 5..10
        [8.0, 8.0]
    """

    accepts = _WAVE
    differentiable = True
    kernel = staticmethod(W.mer_noise_mix)
    bank: Tensor

    def __init__(
        self,
        keys: Keys = None,
        *,
        bank: Tensor,
        snr_db: Sequence[int] = (5, 10),
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, p=p)
        who = type(self).__name__
        low, high = check_range(snr_db, who=who, name="snr_db")
        if not (low.is_integer() and high.is_integer() and low <= high):
            raise ValueError(
                f"{who}: expected snr_db as (low, high) integers in dB with low <= high (the "
                f"organisers draw from 5..10), got {snr_db!r}; for one SNR pass (v, v)."
            )
        self.snr_db = (int(low), int(high))
        self.register_buffer("bank", _as_bank(bank, who=who, name="bank"), persistent=False)

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        n, size = self.bank.shape
        k = x.shape[2] // size + 1  # rows joined for the longest clip
        u = self.uniform(x, generator, k + 2)
        index = torch.floor(u[:, :k] * n).long().clamp(max=n - 1)
        low, high = self.snr_db
        draw = torch.floor(u[:, k + 1] * (high - low + 1)).clamp(max=high - low) + low
        # level scales the noise amplitude: 20 log10(1 / level) dB more SNR (level 0: no noise)
        lift = -20.0 * torch.log10(level.clamp(min=torch.finfo(torch.float32).tiny))
        return {"snr_db": draw + lift, "index": index, "offset": u[:, k]}

    def kernel_kwargs(self) -> dict[str, Tensor]:
        return {"noise_bank": self.bank}

    def to_config(self) -> dict[str, Any]:
        return _bank_config(self, ("bank",))


class Clip(NoiseTransform):
    """Hard-clip each example at a fraction of its own peak (overdriven microphone or ADC).

    Level mapping: ``threshold_ratio = weak + level * (strong - weak)`` of the example's peak
    ``max |x|`` (default 1.0, no clipping, down to 0.1).

    Args:
        keys: entries to corrupt.
        threshold_ratio: (weak, strong) clipping level as a fraction of the peak, in [0, 1].
        p: per-example probability.

    Shape:
        (B, C, L) waveforms; output keeps shape, dtype and device.

    Example:
        >>> x = torch.tensor([[[1.0, -0.5, 0.2]]])
        >>> Clip("a", threshold_ratio=(1.0, 0.4))({"a": x}, level=1.0)["a"]
        tensor([[[ 0.4000, -0.4000,  0.2000]]])
    """

    accepts = _WAVE
    differentiable = True
    kernel = staticmethod(W.clip)

    def __init__(
        self, keys: Keys = None, *, threshold_ratio: Sequence[float] = (1.0, 0.1), p: float = 1.0
    ) -> None:
        super().__init__(keys, p=p)
        self.threshold_ratio = check_range(
            threshold_ratio, who=type(self).__name__, name="threshold_ratio", lo=0.0, hi=1.0
        )

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        return {"threshold_ratio": lerp(level, self.threshold_ratio)}


class LowPass(NoiseTransform):
    """Low-pass filter each example with its own cutoff (muffled speech, a distant microphone).

    A zero-phase Butterworth of even ``order`` applied in the FFT domain, with the magnitude
    response of torchaudio's biquads (:func:`mmnoise.functional.waveform.lowpass`): per-example
    cutoffs, no ``lfilter``, compiles with ``fullgraph=True``. Level mapping:
    ``cutoff_hz = weak + level * (strong - weak)`` (default 7000 Hz down to 500 Hz).

    Args:
        keys: entries to corrupt.
        cutoff_hz: (weak, strong) -3 dB cutoff in Hz, below ``sample_rate / 2``.
        sample_rate: sampling rate of the data in Hz.
        order: even filter order (2: 12 dB/octave, as torchaudio ``lowpass_biquad``; 4: 24).
        p: per-example probability.

    Shape:
        (B, C, L) waveforms; output keeps shape, dtype and device.

    Raises:
        ValueError: a cutoff outside (0, sample_rate / 2) or an odd order.

    Example:
        >>> t = LowPass("a", cutoff_hz=(4000.0, 100.0))
        >>> y = t({"a": torch.ones(1, 1, 4000)}, level=1.0)["a"]
        >>> round(y[0, 0, 2000].item(), 3)
        1.0
    """

    accepts = _WAVE
    differentiable = True
    kernel = staticmethod(W.lowpass)

    def __init__(
        self,
        keys: Keys = None,
        *,
        cutoff_hz: Sequence[float] = (7000.0, 500.0),
        sample_rate: int = 16000,
        order: int = 2,
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, p=p)
        who = type(self).__name__
        self.sample_rate = _check_rate(sample_rate, who=who)
        self.cutoff_hz = _check_hz(cutoff_hz, who=who, name="cutoff_hz", sample_rate=sample_rate)
        W._check_order(order, who=who)
        self.order = order

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        return {"cutoff_hz": lerp(level, self.cutoff_hz)}

    def kernel_kwargs(self) -> dict[str, int]:
        return {"sample_rate": self.sample_rate, "order": self.order}


class HighPass(LowPass):
    """High-pass filter each example with its own cutoff (thin, tinny sound; small speakers).

    Level mapping: ``cutoff_hz = weak + level * (strong - weak)`` (default 50 Hz up to 2000 Hz).

    Args:
        keys: entries to corrupt.
        cutoff_hz: (weak, strong) -3 dB cutoff in Hz, below ``sample_rate / 2``.
        sample_rate: sampling rate of the data in Hz.
        order: even filter order (2 = torchaudio ``highpass_biquad``).
        p: per-example probability.

    Shape:
        (B, C, L) waveforms; output keeps shape, dtype and device.

    Raises:
        ValueError: a cutoff outside (0, sample_rate / 2) or an odd order.

    Example:
        >>> y = HighPass("a")({"a": torch.ones(1, 1, 4000)}, level=1.0)["a"]
        >>> abs(round(y[0, 0, 2000].item(), 3))
        0.0
    """

    kernel = staticmethod(W.highpass)

    def __init__(
        self,
        keys: Keys = None,
        *,
        cutoff_hz: Sequence[float] = (50.0, 2000.0),
        sample_rate: int = 16000,
        order: int = 2,
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, cutoff_hz=cutoff_hz, sample_rate=sample_rate, order=order, p=p)


class BandPass(NoiseTransform):
    """Keep a frequency band per example; level 1 of the default is the telephone band.

    Level mapping: both edges move linearly, ``low_hz`` from 50 to 300 Hz and ``high_hz`` from
    7000 to 3400 Hz by default, so ``level=1`` is the 300-3400 Hz telephone channel.

    Args:
        keys: entries to corrupt.
        low_hz: (weak, strong) lower -3 dB edge in Hz.
        high_hz: (weak, strong) upper -3 dB edge in Hz, above ``low_hz`` at both ends.
        sample_rate: sampling rate of the data in Hz.
        order: even order of each of the two filters.
        p: per-example probability.

    Shape:
        (B, C, L) waveforms; output keeps shape, dtype and device.

    Raises:
        ValueError: edges outside (0, sample_rate / 2), ``low_hz >= high_hz``, an odd order.

    Example:
        >>> y = BandPass("a")({"a": torch.ones(1, 1, 4000)}, level=1.0)["a"]
        >>> abs(round(y[0, 0, 2000].item(), 3))
        0.0
    """

    accepts = _WAVE
    differentiable = True
    kernel = staticmethod(W.bandpass)

    def __init__(
        self,
        keys: Keys = None,
        *,
        low_hz: Sequence[float] = (50.0, 300.0),
        high_hz: Sequence[float] = (7000.0, 3400.0),
        sample_rate: int = 16000,
        order: int = 2,
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, p=p)
        who = type(self).__name__
        self.sample_rate = _check_rate(sample_rate, who=who)
        self.low_hz = _check_hz(low_hz, who=who, name="low_hz", sample_rate=sample_rate)
        self.high_hz = _check_hz(high_hz, who=who, name="high_hz", sample_rate=sample_rate)
        if not all(lo < hi for lo, hi in zip(self.low_hz, self.high_hz, strict=True)):
            raise ValueError(
                f"{who}: expected low_hz below high_hz at both ends, got low_hz={low_hz!r}, "
                f"high_hz={high_hz!r}."
            )
        W._check_order(order, who=who)
        self.order = order

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        return {"low_hz": lerp(level, self.low_hz), "high_hz": lerp(level, self.high_hz)}

    def kernel_kwargs(self) -> dict[str, int]:
        return {"sample_rate": self.sample_rate, "order": self.order}


class Codec(NoiseTransform):
    """Narrow-band codec: telephone band-limiting, then mu-law quantisation with fewer bits.

    ``band_hz`` is fixed (default 300-3400 Hz); level maps the bit depth,
    ``bits = weak + level * (strong - weak)`` rounded (default 8, G.711 quality, down to 2).

    Args:
        keys: entries to corrupt.
        bits: (weak, strong) mu-law bit depth, each >= 1.
        band_hz: (low, high) band edges in Hz, or None for mu-law only.
        sample_rate: sampling rate of the data in Hz.
        order: even order of each band-limiting filter.
        p: per-example probability.

    Shape:
        (B, C, L) waveforms; output keeps shape, dtype and device.

    Raises:
        ValueError: bits below 1, a bad band or an odd order.

    Example:
        >>> t = Codec("a", bits=(8.0, 1.0), band_hz=None)
        >>> t({"a": torch.tensor([[[1.0, -0.5, 0.01]]])}, level=1.0)["a"]
        tensor([[[ 1., -1.,  1.]]])
    """

    accepts = _WAVE
    kernel = staticmethod(W.codec)

    def __init__(
        self,
        keys: Keys = None,
        *,
        bits: Sequence[float] = (8.0, 2.0),
        band_hz: Sequence[float] | None = (300.0, 3400.0),
        sample_rate: int = 16000,
        order: int = 2,
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, p=p)
        who = type(self).__name__
        self.bits = check_range(bits, who=who, name="bits", lo=1.0)
        self.sample_rate = _check_rate(sample_rate, who=who)
        self.band_hz = None
        if band_hz is not None:
            self.band_hz = _check_hz(band_hz, who=who, name="band_hz", sample_rate=sample_rate)
            if self.band_hz[0] >= self.band_hz[1]:
                raise ValueError(f"{who}: expected band_hz as (low, high), got {band_hz!r}.")
        W._check_order(order, who=who)
        self.order = order

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        return {"bits": lerp(level, self.bits)}

    def kernel_kwargs(self) -> dict[str, float | int | None]:
        low, high = self.band_hz if self.band_hz is not None else (None, None)
        return {
            "low_hz": low,
            "high_hz": high,
            "sample_rate": self.sample_rate,
            "order": self.order,
        }

class PerceptualCodec(NoiseTransform):
    """Low-bitrate perceptual-codec artefacts (MP3 / AAC / Opus-like), emulated in torch.

    :func:`mmnoise.functional.waveform.perceptual_codec`: band limiting at ``250 Hz`` per kbit/s
    and per-band STFT quantisation at ``1.5 dB`` of SNR per kbit/s (spectral holes, smeared
    pre-echo). Level mapping: ``kbps = weak + level * (strong - weak)`` (default 64 kbit/s,
    transparent for 16 kHz speech, down to 8 kbit/s: a 2 kHz band at about 12 dB SNR). Runs on
    any device and compiles; for a real encoder see :class:`FFmpegCodec`.

    Args:
        keys: entries to corrupt.
        kbps: (weak, strong) bitrate in kbit/s, each > 0.
        sample_rate: sampling rate of the data in Hz.
        n_fft: STFT size in samples (hop ``n_fft // 4``).
        p: per-example probability.

    Shape:
        (B, C, L) waveforms; output keeps shape, dtype and device.

    Raises:
        ValueError: a bitrate <= 0, a bad sample rate or ``n_fft``.

    Example:
        >>> t = PerceptualCodec("a")
        >>> x = torch.randn(2, 1, 4000)
        >>> y = t({"a": x}, level=torch.tensor([0.0, 1.0]))["a"]
        >>> torch.equal(y[0], x[0]), bool((y[1] - x[1]).abs().max() > 0.1)
        (True, True)
    """

    accepts = _WAVE
    kernel = staticmethod(W.perceptual_codec)

    def __init__(
        self,
        keys: Keys = None,
        *,
        kbps: Sequence[float] = (64.0, 8.0),
        sample_rate: int = 16000,
        n_fft: int = 512,
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, p=p)
        who = type(self).__name__
        self.kbps = check_range(kbps, who=who, name="kbps", lo=1e-3)
        self.sample_rate = _check_rate(sample_rate, who=who)
        self.n_fft = _check_n_fft(n_fft, who=who)

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        return {"kbps": lerp(level, self.kbps)}

    def kernel_kwargs(self) -> dict[str, int]:
        return {"sample_rate": self.sample_rate, "n_fft": self.n_fft}


class FFmpegCodec(NoiseTransform):
    """A real MP3 or Opus round trip through FFmpeg, on the CPU.

    :func:`mmnoise.functional.waveform.ffmpeg_codec`, each example at its own bitrate: the
    artefacts of the real encoders (libmp3lame, libopus), with the codec's delay removed so
    the output lines up with the input. Level mapping: ``kbps = weak + level * (strong - weak)`` (default 64
    down to 16 kbit/s). It needs FFmpeg: ``pip install mmnoise[codec]`` (imageio-ffmpeg's
    bundled executable), an ``ffmpeg`` on PATH, or ``torchaudio.io`` (torchaudio 2.1-2.8);
    without any, construction raises a ``RuntimeError`` that names them. Not exported from
    :mod:`mmnoise.transforms` nor in the contract table: it reads values on the host, runs
    subprocesses and is not differentiable; :class:`PerceptualCodec` is the portable emulation.

    Args:
        keys: entries to corrupt.
        kbps: (weak, strong) bitrate in kbit/s, each > 0.
        codec: ``"mp3"`` (libmp3lame) or ``"opus"`` (libopus).
        sample_rate: sampling rate of the data in Hz.
        p: per-example probability.

    Shape:
        (B, C, L) waveforms; output keeps shape, dtype and device.

    Raises:
        RuntimeError: no FFmpeg is reachable.
        ValueError: a bitrate <= 0, an unknown codec or a bad sample rate.

    Example:
        >>> try:
        ...     t = FFmpegCodec("a", codec="opus")
        ... except RuntimeError:  # no FFmpeg here (pip install mmnoise[codec]): the emulation
        ...     t = PerceptualCodec("a")
        >>> t({"a": torch.zeros(1, 1, 16000)})["a"].shape
        torch.Size([1, 1, 16000])
    """

    accepts = _WAVE
    kernel = staticmethod(W.ffmpeg_codec)

    def __init__(
        self,
        keys: Keys = None,
        *,
        kbps: Sequence[float] = (64.0, 16.0),
        codec: str = "mp3",
        sample_rate: int = 16000,
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, p=p)
        who = type(self).__name__
        if codec not in ("mp3", "opus"):
            raise ValueError(f"{who}: expected codec 'mp3' or 'opus', got {codec!r}.")
        self.kbps = check_range(kbps, who=who, name="kbps", lo=1e-3)
        self.codec = codec
        self.sample_rate = _check_rate(sample_rate, who=who)
        W._codec_backend(who)

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        return {"kbps": lerp(level, self.kbps)}

    def kernel_kwargs(self) -> dict[str, Any]:
        return {"codec": self.codec, "sample_rate": self.sample_rate}


class Reverb(NoiseTransform):
    """Add room reverberation: convolve with an impulse response and mix it with the dry signal.

    The response is a row of ``ir_bank`` (measured RIRs) drawn per example, or a synthetic one
    (decaying Gaussian noise) whose RT60 rises with level. Level mapping:
    ``rt60_s`` (default 0.1 to 1.0 s, synthetic only) and the wet share ``wet_ratio`` (default
    0.1 to 0.8) move together; the wet signal has the dry signal's energy.

    Args:
        keys: entries to corrupt.
        rt60_s: (weak, strong) reverberation time in seconds (synthetic responses).
        wet_ratio: (weak, strong) share of the reverberant signal, in [0, 1].
        ir_bank: optional (N, K) impulse responses at the data's sample rate (serialised as
            the bank of :class:`AddNoiseBank`).
        sample_rate: sampling rate of the data in Hz.
        p: per-example probability.

    Shape:
        (B, C, L) waveforms; output keeps shape, dtype and device.

    Raises:
        ValueError: a non-positive RT60, a wet ratio outside [0, 1], or a bad bank.

    Example:
        >>> t = Reverb("a", ir_bank=torch.tensor([[1.0]]))  # a unit impulse: no room
        >>> x = torch.randn(2, 1, 32)
        >>> torch.allclose(t({"a": x}, generator=torch.Generator())["a"], x, atol=1e-5)
        True
    """

    accepts = _WAVE
    differentiable = True
    kernel = staticmethod(W.reverb)
    ir_bank: Tensor | None

    def __init__(
        self,
        keys: Keys = None,
        *,
        rt60_s: Sequence[float] = (0.1, 1.0),
        wet_ratio: Sequence[float] = (0.1, 0.8),
        ir_bank: Tensor | None = None,
        sample_rate: int = 16000,
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, p=p)
        who = type(self).__name__
        self.rt60_s = check_range(rt60_s, who=who, name="rt60_s", lo=1e-3)
        self.wet_ratio = check_range(wet_ratio, who=who, name="wet_ratio", lo=0.0, hi=1.0)
        self.sample_rate = _check_rate(sample_rate, who=who)
        bank = None if ir_bank is None else _as_bank(ir_bank, who=who, name="ir_bank")
        self.register_buffer("ir_bank", bank, persistent=False)

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        params = {"wet_ratio": lerp(level, self.wet_ratio)}
        if self.ir_bank is not None:
            n = self.ir_bank.shape[0]
            params["index"] = torch.floor(self.uniform(x, generator) * n).long().clamp(max=n - 1)
        else:
            params["rt60_s"] = lerp(level, self.rt60_s)
            params["seed"] = self.draw_seed(x, generator)
        return params

    def kernel_kwargs(self) -> dict[str, Tensor | float | int | None]:
        return {
            "ir_bank": self.ir_bank,
            "sample_rate": self.sample_rate,
            "ir_length_s": max(self.rt60_s),
        }

    def to_config(self) -> dict[str, Any]:
        return _bank_config(self, ("ir_bank",))


@renamed_args(ratio="fraction")
class PacketLoss(NoiseTransform):
    """Zero ``num_spans`` short spans of each example (lost packets of a network stream).

    Level mapping: total lost share ``fraction = weak + level * (strong - weak)`` of the valid
    length (default 0 to 0.3), split into ``num_spans`` equal spans at random places; spans may
    overlap, so at most ``fraction`` of the samples (up to rounding) are lost.

    Args:
        keys: entries to corrupt.
        fraction: (weak, strong) lost fraction of the valid length, in [0, 1].
        num_spans: number of lost spans per example.
        p: per-example probability.

    Shape:
        (B, C, L) waveforms; output keeps shape, dtype and device.

    Example:
        >>> t = PacketLoss("a", fraction=(0.0, 0.5), num_spans=2)
        >>> y = t({"a": torch.ones(1, 1, 40)}, generator=torch.Generator().manual_seed(0))["a"]
        >>> int((y == 0).sum()) <= 20
        True
    """

    accepts = _WAVE
    differentiable = True
    kernel = staticmethod(W.packet_loss)

    def __init__(
        self,
        keys: Keys = None,
        *,
        fraction: Sequence[float] = (0.0, 0.3),
        num_spans: int = 8,
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, p=p)
        who = type(self).__name__
        self.fraction = check_range(fraction, who=who, name="fraction", lo=0.0, hi=1.0)
        self.num_spans = _check_count(num_spans, who=who, name="num_spans")

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        return {
            "start": self.uniform(x, generator, self.num_spans),
            "width_fraction": lerp(level, self.fraction) / self.num_spans,
        }


class SpeedPerturb(NoiseTransform):
    """Change each example's speed (tempo and pitch) by a random factor, keeping its length.

    Level mapping: ``|factor - 1| = weak + level * (strong - weak)`` (default 0 to 0.2) with a
    random sign per example; a sped-up example ends in silence, a slowed one is cut.

    Args:
        keys: entries to corrupt.
        speed_ratio: (weak, strong) relative speed change, in [0, 0.9].
        p: per-example probability.

    Shape:
        (B, C, L) waveforms; output keeps shape, dtype and device.

    Example:
        >>> t = SpeedPerturb("a", speed_ratio=(0.0, 0.5))
        >>> t({"a": torch.ones(2, 1, 8)}, level=0.0)["a"].equal(torch.ones(2, 1, 8))
        True
    """

    accepts = _WAVE
    differentiable = True
    kernel = staticmethod(W.speed_perturb)

    def __init__(
        self, keys: Keys = None, *, speed_ratio: Sequence[float] = (0.0, 0.2), p: float = 1.0
    ) -> None:
        super().__init__(keys, p=p)
        self.speed_ratio = check_range(
            speed_ratio, who=type(self).__name__, name="speed_ratio", lo=0.0, hi=0.9
        )

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        sign = torch.where(self.uniform(x, generator) < 0.5, -1.0, 1.0)
        return {"factor": 1.0 + sign * lerp(level, self.speed_ratio)}

def _check_n_fft(n_fft: int, *, who: str) -> int:
    if isinstance(n_fft, bool) or not isinstance(n_fft, int) or n_fft < 16 or n_fft % 4:
        raise ValueError(
            f"{who}: expected n_fft as an int >= 16 divisible by 4 (the hop is n_fft // 4), got "
            f"{n_fft!r}; 512 is 32 ms at 16 kHz."
        )
    return n_fft


class TimeStretch(NoiseTransform):
    """Change each example's tempo without changing its pitch (a phase vocoder, per example).

    Level mapping: ``|rate - 1| = weak + level * (strong - weak)`` of ``tempo_ratio`` (default 0
    to 0.25) with a random sign per example. A sped-up example ends in silence and its length
    in ``sample["lengths"]`` shrinks to ``round(n / rate)`` (a new dict; the caller's stays); a
    slowed-down one is cut at its valid length, so padding never changes. See
    :func:`mmnoise.functional.waveform.time_stretch`.

    Args:
        keys: entries to corrupt.
        tempo_ratio: (weak, strong) relative tempo change, in [0, 0.5].
        n_fft: STFT size in samples (hop ``n_fft // 4``).
        p: per-example probability.

    Shape:
        (B, C, L) waveforms; output keeps shape, dtype and device.

    Raises:
        ValueError: a tempo change outside [0, 0.5] or a bad ``n_fft``.

    Example:
        >>> t = TimeStretch("a", tempo_ratio=(0.5, 0.5))
        >>> out = t({"a": torch.randn(4, 1, 1600)}, generator=torch.Generator().manual_seed(0))
        >>> out["lengths"]["a"].tolist()  # rate 1.5 shortens, rate 0.5 is cut at 1600
        [1600, 1067, 1600, 1067]
    """

    accepts = _WAVE
    differentiable = True
    kernel = staticmethod(W.time_stretch)

    def __init__(
        self,
        keys: Keys = None,
        *,
        tempo_ratio: Sequence[float] = (0.0, 0.25),
        n_fft: int = 512,
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, p=p)
        who = type(self).__name__
        self.tempo_ratio = check_range(tempo_ratio, who=who, name="tempo_ratio", lo=0.0, hi=0.5)
        self.n_fft = _check_n_fft(n_fft, who=who)

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        sign = torch.where(self.uniform(x, generator) < 0.5, -1.0, 1.0)
        return {"rate": 1.0 + sign * lerp(level, self.tempo_ratio)}

    def kernel_kwargs(self) -> dict[str, int]:
        return {"n_fft": self.n_fft}

    def entry_updates(
        self, name: str, x: Tensor, y: Tensor, entry: Entry, *, lengths: Tensor | None,
        present: Tensor | None,
    ) -> dict[str, Tensor]:  # fmt: skip
        """The new lengths: ``round(n / rate)`` where applied and sped up, else unchanged."""
        old = full_lengths(x, lengths, 2)
        new = W.time_stretch_lengths(x, rate=entry["params"]["rate"], lengths=lengths)
        if y is x:
            new = old
        out = torch.where(entry["applied"].to(old.device), new, old)
        return {LENGTHS: out if lengths is None else out.to(lengths.dtype)}


class PitchShift(NoiseTransform):
    """Shift each example's pitch without changing its tempo (phase vocoder + resampling).

    Level mapping: ``|semitones| = weak + level * (strong - weak)`` (default 0 to 4) with a
    random sign per example; the duration and length are kept. See
    :func:`mmnoise.functional.waveform.pitch_shift`.

    Args:
        keys: entries to corrupt.
        semitones: (weak, strong) size of the shift in semitones, in [0, 12].
        n_fft: STFT size in samples (hop ``n_fft // 4``).
        p: per-example probability.

    Shape:
        (B, C, L) waveforms; output keeps shape, dtype and device.

    Raises:
        ValueError: a shift outside [0, 12] semitones or a bad ``n_fft``.

    Example:
        >>> t = PitchShift("a", semitones=(12.0, 12.0))
        >>> x = torch.sin(2 * torch.pi * 500 * torch.arange(8000.0) / 16000)[None, None]
        >>> y = t({"a": x}, generator=torch.Generator().manual_seed(1))["a"]
        >>> int(torch.fft.rfft(y[0, 0]).abs().argmax()) * 2  # 500 Hz one octave down (or up)
        250
    """

    accepts = _WAVE
    differentiable = True
    kernel = staticmethod(W.pitch_shift)

    def __init__(
        self,
        keys: Keys = None,
        *,
        semitones: Sequence[float] = (0.0, 4.0),
        n_fft: int = 512,
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, p=p)
        who = type(self).__name__
        self.semitones = check_range(semitones, who=who, name="semitones", lo=0.0, hi=12.0)
        self.n_fft = _check_n_fft(n_fft, who=who)

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        sign = torch.where(self.uniform(x, generator) < 0.5, -1.0, 1.0)
        return {"semitones": sign * lerp(level, self.semitones)}

    def kernel_kwargs(self) -> dict[str, int]:
        return {"n_fft": self.n_fft}


@renamed_args(time_ratio="time_fraction", freq_ratio="freq_fraction")
class SpecAugment(NoiseTransform):
    """SpecAugment on spectrogram features: several time masks and frequency masks, one pass.

    Park et al. 2019: each of ``time_masks`` masks spans ``u * w_T`` of the valid frames and each
    of ``freq_masks`` masks ``u * w_F`` of the bins, ``u ~ U[0, 1)`` per mask. Level mapping:
    the maximum widths ``w_T = weak + level * (strong - weak)`` of ``time_fraction`` (default 0 to
    0.2) and ``w_F`` of ``freq_fraction`` (default 0 to 0.3). Masks never touch padding. Unlike
    chaining :class:`~mmnoise.transforms.features.TimeMask` and
    :class:`~mmnoise.transforms.features.FeatureMask` (one fixed-width mask each), it draws
    several masks of random widths per example and writes the output once.

    Args:
        keys: entries to corrupt.
        time_masks: number of time masks (m_T).
        freq_masks: number of frequency masks (m_F).
        time_fraction: (weak, strong) largest time-mask width, as a fraction of the valid length.
        freq_fraction: (weak, strong) largest frequency-mask width, as a fraction of F.
        fill: value written into the masks (0 for log-mel after mean normalisation).
        p: per-example probability.

    Shape:
        (B, T, F) spectrogram features; output keeps shape, dtype and device.

    Example:
        >>> t = SpecAugment("spec", time_fraction=(0.0, 1.0), freq_fraction=(0.0, 1.0))
        >>> y = t({"spec": torch.ones(2, 10, 8)}, generator=torch.Generator().manual_seed(0))
        >>> bool((y["spec"] == 0).any())
        True
    """

    accepts = frozenset({"features"})
    differentiable = True
    kernel = staticmethod(W.spec_augment)

    def __init__(
        self,
        keys: Keys = None,
        *,
        time_masks: int = 2,
        freq_masks: int = 2,
        time_fraction: Sequence[float] = (0.0, 0.2),
        freq_fraction: Sequence[float] = (0.0, 0.3),
        fill: float = 0.0,
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, p=p)
        who = type(self).__name__
        self.time_masks = _check_count(time_masks, who=who, name="time_masks")
        self.freq_masks = _check_count(freq_masks, who=who, name="freq_masks")
        self.time_fraction = check_range(
            time_fraction, who=who, name="time_fraction", lo=0.0, hi=1.0
        )
        self.freq_fraction = check_range(
            freq_fraction, who=who, name="freq_fraction", lo=0.0, hi=1.0
        )
        self.fill = float(fill)

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        kt, kf = self.time_masks, self.freq_masks
        u = self.uniform(x, generator, 2, kt + kf)
        return {
            "time_start": u[:, 0, :kt],
            "time_width_fraction": u[:, 1, :kt] * lerp(level, self.time_fraction)[:, None],
            "freq_start": u[:, 0, kt:],
            "freq_width_fraction": u[:, 1, kt:] * lerp(level, self.freq_fraction)[:, None],
        }

    def kernel_kwargs(self) -> dict[str, float]:
        return {"fill": self.fill}
