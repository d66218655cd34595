"""Contract cases for the waveform transforms (and SpecAugment on spectrogram features)."""

from __future__ import annotations

import torch

from mmnoise.transforms import waveform as T
from tests.contract.case import Case

# Tiny banks keep the suite fast and fit inline in to_config (see BANK_INLINE_MAX).
_NOISE = torch.randn(3, 40, generator=torch.Generator().manual_seed(0))
_TALKERS = torch.randn(2, 24, generator=torch.Generator().manual_seed(1))
_IRS = torch.randn(2, 12, generator=torch.Generator().manual_seed(2)) * torch.exp(
    -torch.arange(12.0) / 3
)

CASES = [
    Case(lambda k: T.AddNoiseBank(k, noise_bank=_NOISE, snr_db=(20.0, -5.0)), "waveform", snr=True),
    Case(lambda k: T.Babble(k, num_speakers=(1, 3), snr_db=(20.0, -5.0)), "waveform", snr=True),
    Case(
        lambda k: T.Babble(k, num_speakers=(2, 4), snr_db=(20.0, -5.0), noise_bank=_TALKERS),
        "waveform",
        snr=True,
        name="bank",
    ),
    # no SNR or MSE contract: the int16 clip guard rescales the whole mix of a loud clip
    Case(lambda k: T.MERNoiseMix(k, bank=_NOISE), "waveform", monotone=None),
    Case(lambda k: T.Clip(k, threshold_ratio=(0.9, 0.1)), "waveform", random=False),
    Case(
        lambda k: T.LowPass(k, cutoff_hz=(6000.0, 300.0)), "waveform", monotone=None, random=False
    ),
    Case(lambda k: T.LowPass(k, order=4), "waveform", monotone=None, name="order4", random=False),
    Case(
        lambda k: T.HighPass(k, cutoff_hz=(100.0, 4000.0)), "waveform", monotone=None, random=False
    ),
    Case(lambda k: T.BandPass(k), "waveform", monotone=None, random=False),
    Case(lambda k: T.Codec(k, bits=(8.0, 2.0)), "waveform", monotone=None, random=False),
    Case(
        lambda k: T.Codec(k, bits=(8.0, 1.0), band_hz=None), "waveform", name="mulaw", random=False
    ),
    # no MSE monotonicity: rounding to a coarser step can land nearer a coefficient
    Case(
        lambda k: T.PerceptualCodec(k, kbps=(48.0, 6.0), n_fft=16),
        "waveform",
        monotone=None,
        random=False,
    ),
    Case(lambda k: T.Reverb(k, rt60_s=(0.05, 0.5), wet_ratio=(0.1, 0.9)), "waveform"),
    Case(lambda k: T.Reverb(k, ir_bank=_IRS), "waveform", name="bank"),
    Case(lambda k: T.PacketLoss(k, fraction=(0.1, 0.6), num_spans=3), "waveform", monotone="count"),
    Case(lambda k: T.SpeedPerturb(k, speed_ratio=(0.05, 0.3)), "waveform", monotone=None),
    Case(lambda k: T.TimeStretch(k, tempo_ratio=(0.05, 0.4), n_fft=16), "waveform", monotone=None),
    Case(lambda k: T.PitchShift(k, semitones=(1.0, 7.0), n_fft=16), "waveform", monotone=None),
    Case(
        lambda k: T.SpecAugment(k, time_fraction=(0.1, 0.6), freq_fraction=(0.1, 0.6)),
        "features",
        monotone="count",
    ),
]
