"""Group "waveform": raw audio, 32 clips x 1 channel x 3 s at 16 kHz.

One sample = one clip. Per-example parameters: SNR ~ U(5, 20) dB; low-pass cutoff U(500, 4000)
Hz (2nd-order Butterworth); band-pass edges from (50-300 Hz, 7000-3400 Hz); reverb = full wet
convolution with one of 8 synthetic room responses (0.3 s) per clip, rescaled to the dry energy.
The references filter in the FFT domain at the clip's length (zero-phase, the magnitude response of
torchaudio's causal biquads, as mmnoise's filters) and convolve at a 5-smooth FFT size. The MP3
rows code each clip at its own bitrate with a real encoder (FFmpeg's libmp3lame / LAME).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchaudio
import torchaudio.functional as AF
from torch import Tensor

from benchmarks import refs
from benchmarks.harness import CannotRun, Case, MissingPeer, Thunk
from benchmarks.inputs import Inputs, mmnoise_class, nbytes, need

KEY = "speech"


def _data(inp: Inputs) -> dict[str, Any]:
    if "wave" not in inp.cache:
        g = torch.Generator().manual_seed(2)
        b, c, n = inp.shapes.wave
        sr = inp.shapes.sample_rate
        # speech-like: noise under a 4 Hz syllable envelope, through a gentle low-pass
        t = torch.arange(n) / sr
        env = 0.5 + 0.5 * torch.sin(2 * torch.pi * 4 * t + torch.rand(b, 1, 1, generator=g) * 6)
        x = torch.randn(b, c, n, generator=g) * env
        x = refs.fft_lowpass(x, torch.full((b,), 3000.0), sr) * 0.1
        k = inp.shapes.rir_len
        decay = torch.exp(-6.9 * torch.arange(k) / k)  # -60 dB over the response
        bank = torch.randn(8, k, generator=g) * decay
        bank[:, 0] = 1.0  # the direct path
        level = (1.0 - torch.rand(b, generator=g)).to(inp.device)
        inp.cache["wave"] = {
            "x": x.to(inp.device),
            "bank": bank.to(inp.device),
            "index": torch.randint(8, (b,), generator=g).to(inp.device),
            "level": level,
            "snr_db": 20.0 - 15.0 * level,
            "cutoff": 4000.0 - 3500.0 * level,
            "low": 50.0 + 250.0 * level,
            "high": 7000.0 - 3600.0 * level,
        }
    wave: dict[str, Any] = inp.cache["wave"]
    return wave


def _write_rirs(bank: Tensor, sr: int) -> list[str]:
    sf = need("soundfile", "audiomentations")  # soundfile comes with audiomentations
    folder = Path(tempfile.mkdtemp(prefix="mmnoise-bench-rir-"))
    paths = []
    for i, rir in enumerate(bank.cpu().numpy()):
        p = folder / f"rir{i}.wav"
        sf.write(str(p), rir.astype(np.float32), sr)
        paths.append(str(p))
    return paths


def cases(inp: Inputs) -> list[Case]:
    """Every row of the waveform group."""
    d = _data(inp)
    x: Tensor = d["x"]
    b, sr = x.shape[0], inp.shapes.sample_rate
    size = 2 * nbytes(x)
    sample = {KEY: x, "kinds": {KEY: "waveform"}}

    def mm(module: str, name: str, level: Tensor | float, **kw: Any) -> Any:
        def build() -> Thunk:
            t = mmnoise_class(module, name)(KEY, **kw)
            g = inp.generator()
            return lambda: t(sample, level=level, generator=g)

        return build

    def gen_thunk(fn: Any) -> Any:
        def build() -> Thunk:
            g = inp.generator()
            return lambda: fn(g)

        return build

    def torchaudio_add_noise(g: torch.Generator) -> Tensor:
        noise = torch.randn(x.shape, generator=g, device=x.device)
        out: Tensor = AF.add_noise(x, noise, d["snr_db"][:, None])
        return out

    def ta_aug(cls_name: str, **kw: Any) -> Any:
        def build() -> Thunk:
            ta = need("torch_audiomentations", "torch-audiomentations")
            aug = inp.on_device(
                getattr(ta, cls_name)(p=1.0, sample_rate=sr, output_type="tensor", **kw)
            )
            return lambda: aug(x)

        return build

    def am_aug(cls_name: str, **kw: Any) -> Any:
        def build() -> Thunk:
            inp.cpu_only("audiomentations")
            am = need("audiomentations")
            aug = getattr(am, cls_name)(p=1.0, **kw)
            arr = x[:, 0].numpy()
            return lambda: [aug(samples=arr[i], sample_rate=sr) for i in range(b)]

        return build

    def biquad_loop(fn: Any, args: Any) -> Any:
        def build() -> Thunk:
            def run() -> list[Tensor]:
                return [fn(x[i], sr, *[float(a[i]) for a in args]) for i in range(b)]

            return run

        return build

    def julius_lowpass() -> Thunk:
        julius = need("julius")
        cut = (d["cutoff"] / sr).tolist()
        return lambda: [julius.lowpass_filter(x[i], cut[i]) for i in range(b)]

    def ta_fftconvolve() -> Thunk:
        rir = d["bank"][d["index"]][:, None, :]
        return lambda: AF.fftconvolve(x, rir)[..., : x.shape[-1]]

    def ref_reverb() -> Thunk:
        rir = d["bank"][d["index"]]

        def run() -> Tensor:
            wet = refs.fft_reverb(x, rir)
            gain = torch.sqrt(x.pow(2).sum(dim=(1, 2)) / wet.pow(2).sum(dim=(1, 2)))
            return wet * gain[:, None, None]

        return run

    def ta_ir() -> Thunk:
        ta = need("torch_audiomentations", "torch-audiomentations")
        if not hasattr(torchaudio, "info"):
            # its file loader calls torchaudio.info, which torchaudio 2.9 removed
            raise CannotRun("torch-audiomentations reads its IR files with torchaudio.info, "
                            f"which torchaudio {torchaudio.__version__} no longer has")  # fmt: skip
        aug = inp.on_device(
            ta.ApplyImpulseResponse(
                _write_rirs(d["bank"], sr), p=1.0, sample_rate=sr, output_type="tensor"
            )
        )
        return lambda: aug(x)

    def am_ir() -> Thunk:
        inp.cpu_only("audiomentations")
        am = need("audiomentations")
        aug = am.ApplyImpulseResponse(ir_path=_write_rirs(d["bank"], sr), p=1.0)
        arr = x[:, 0].numpy()
        return lambda: [aug(samples=arr[i], sample_rate=sr) for i in range(b)]

    def ta_vocoder() -> Thunk:
        rate = 1.0 + 0.25 * (2 * (d["index"] % 2) - 1).to(x.dtype) * lv
        return lambda: refs.phase_vocoder_loop(x, rate)

    def torch_mer() -> Thunk:
        bank = d["bank"]
        g = torch.Generator(device=x.device).manual_seed(0)
        noise = bank[torch.randint(8, (b,), generator=g, device=x.device)]
        noise = noise.repeat(1, x.shape[-1] // noise.shape[-1] + 1)[:, : x.shape[-1]]
        snr = torch.randint(5, 11, (b,), generator=g, device=x.device).to(x.dtype)
        return lambda: refs.mer_noise_mix(x, noise, snr)

    def ffmpeg_codec() -> Thunk:
        try:
            t = mmnoise_class("waveform", "FFmpegCodec")(KEY, kbps=(64.0, 8.0))
        except RuntimeError as e:  # no FFmpeg reachable: the row says so
            raise MissingPeer(f"FFmpegCodec: no FFmpeg ({e})") from e
        g = inp.generator()
        return lambda: t(sample, level=lv, generator=g)

    codec = "lossy codec (per-clip bitrate)"
    mp3 = "real MP3 round trip (per-clip bitrate)"
    stretch, pitch, mer = (
        "time stretch (per-clip rate)",
        "pitch shift (per-clip semitones)",
        "MER2024 speech-noise mix",
    )
    noise, low, band, rev = (
        "noise@SNR",
        "low-pass (per-clip cutoff)",
        "band-pass (per-clip band)",
        "reverb (RIR bank, full wet)",
    )
    lv = d["level"]
    return [
        Case(noise, "mmnoise", "AddGaussianSNR(snr_db=(20, 5)), level=(B,)", mm("features", "AddGaussianSNR", lv, snr_db=(20.0, 5.0)), b, size, kind="mmnoise"),
        Case(noise, "torch ref", "randn, energies, scale, add", gen_thunk(lambda g: refs.noise_snr_wave(x, d["snr_db"], g)), b, size, kind="ref"),
        Case(noise, "torchaudio", "functional.add_noise", gen_thunk(torchaudio_add_noise), b, size),
        Case(noise, "torch-audiomentations", "AddColoredNoise(f_decay=0)", ta_aug("AddColoredNoise", min_snr_in_db=5.0, max_snr_in_db=20.0, min_f_decay=0.0, max_f_decay=0.0), b, size, sem="~", note="1 s of noise tiled"),
        Case(noise, "audiomentations", "AddGaussianSNR per clip", am_aug("AddGaussianSNR", min_snr_db=5.0, max_snr_db=20.0), b, size),
        Case(low, "mmnoise", "LowPass(cutoff_hz=(4000, 500)), level=(B,)", mm("waveform", "LowPass", lv, cutoff_hz=(4000.0, 500.0)), b, size, kind="mmnoise"),
        Case(low, "torch ref", "rFFT x Butterworth |H|, irFFT", lambda: lambda: refs.fft_lowpass(x, d["cutoff"], sr), b, size, kind="ref", note="zero-phase"),
        Case(low, "torchaudio", "lowpass_biquad, loop over clips", biquad_loop(AF.lowpass_biquad, [d["cutoff"]]), b, size, note="causal IIR, same |H|"),
        Case(low, "julius", "lowpass_filter, loop over clips", julius_lowpass, b, size, sem="~", note="windowed-sinc FIR"),
        Case(low, "torch-audiomentations", "LowPassFilter(500, 4000)", ta_aug("LowPassFilter", min_cutoff_freq=500.0, max_cutoff_freq=4000.0), b, size, sem="~", note="sinc FIR"),
        Case(low, "audiomentations", "LowPassFilter(12 dB/oct) per clip", am_aug("LowPassFilter", min_cutoff_freq=500.0, max_cutoff_freq=4000.0, min_rolloff=12, max_rolloff=12), b, size),
        Case(band, "mmnoise", "BandPass(), level=(B,)", mm("waveform", "BandPass", lv), b, size, kind="mmnoise"),
        Case(band, "torch ref", "rFFT x Butterworth band |H|, irFFT", lambda: lambda: refs.fft_bandpass(x, d["low"], d["high"], sr), b, size, kind="ref", note="zero-phase"),
        Case(band, "torchaudio", "bandpass_biquad(center, Q), loop over clips", biquad_loop(lambda w, s, lo, hi: AF.bandpass_biquad(w, s, (lo * hi) ** 0.5, (lo * hi) ** 0.5 / (hi - lo)), [d["low"], d["high"]]), b, size, sem="~", note="one resonator, not two edges"),
        Case(band, "torch-audiomentations", "BandPassFilter()", ta_aug("BandPassFilter"), b, size, sem="~", note="center/bandwidth parameters"),
        Case(band, "audiomentations", "BandPassFilter() per clip", am_aug("BandPassFilter"), b, size, sem="~", note="center/bandwidth parameters"),
        Case(rev, "mmnoise", "Reverb(ir_bank=bank, wet_ratio=(1, 1))", mm("waveform", "Reverb", 1.0, ir_bank=d["bank"], wet_ratio=(1.0, 1.0)), b, size, kind="mmnoise"),
        Case(rev, "torch ref", "rFFT at a 5-smooth size, energy rescale", ref_reverb, b, size, kind="ref"),
        Case(rev, "torchaudio", "functional.fftconvolve, trim", ta_fftconvolve, b, size, sem="~", note="no energy rescale"),
        Case(rev, "torch-audiomentations", "ApplyImpulseResponse(wav files)", ta_ir, b, size, sem="~"),
        Case(rev, "audiomentations", "ApplyImpulseResponse(wav files) per clip", am_ir, b, size, sem="~"),
        Case(stretch, "mmnoise", "TimeStretch(tempo_ratio=(0, 0.25)), level=(B,)", mm("waveform", "TimeStretch", lv), b, size, kind="mmnoise"),
        Case(stretch, "torchaudio", "stft, phase_vocoder, istft, loop over clips", ta_vocoder, b, size, sem="~", note="no phase locking, own length per clip"),
        Case(stretch, "audiomentations", "TimeStretch(0.75, 1.25) per clip", am_aug("TimeStretch", min_rate=0.75, max_rate=1.25, leave_length_unchanged=True), b, size, sem="~"),
        Case(pitch, "mmnoise", "PitchShift(semitones=(0, 4)), level=(B,)", mm("waveform", "PitchShift", lv), b, size, kind="mmnoise"),
        Case(pitch, "torch-audiomentations", "PitchShift(-4, 4)", ta_aug("PitchShift", min_transpose_semitones=-4.0, max_transpose_semitones=4.0), b, size, sem="~", note="transposes by ratios of small ints"),
        Case(pitch, "audiomentations", "PitchShift(-4, 4) per clip", am_aug("PitchShift", min_semitones=-4.0, max_semitones=4.0), b, size, sem="~"),
        Case(codec, "mmnoise", "PerceptualCodec(kbps=(64, 8)), level=(B,)", mm("waveform", "PerceptualCodec", lv), b, size, kind="mmnoise", note="torch emulation"),
        Case(codec, "audiomentations", "Mp3Compression(8-64 kbit/s) per clip", am_aug("Mp3Compression", min_bitrate=8, max_bitrate=64), b, size, sem="~", note="a real MP3 encoder"),
        Case(mp3, "mmnoise", "FFmpegCodec(kbps=(64, 8)), level=(B,)", ffmpeg_codec, b, size, kind="mmnoise", note="ffmpeg executable, 2 processes per chunk of clips (CPU)"),
        Case(mp3, "audiomentations", "Mp3Compression(8-64 kbit/s) per clip", am_aug("Mp3Compression", min_bitrate=8, max_bitrate=64), b, size, note="fast-mp3-augment (LAME in process)"),
        Case(mer, "mmnoise", "MERNoiseMix(bank=bank)", mm("waveform", "MERNoiseMix", 1.0, bank=d["bank"]), b, size, kind="mmnoise"),
        Case(mer, "torch ref", "RMS scale, add, int16 guard (batched)", torch_mer, b, size, kind="ref", note="noise rows pre-read"),
    ]  # fmt: skip
