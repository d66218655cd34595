"""A real MP3 / Opus round trip through FFmpeg: what the codecs keep, cut and leave alone.

These run the real encoders wherever FFmpeg is reachable (imageio-ffmpeg comes with the
``test`` extra); the error without FFmpeg is tested everywhere.
"""

from __future__ import annotations

import math
import shutil
import sys

import pytest
import torch

import mmnoise.functional.waveform as W
from mmnoise.transforms import from_config
from mmnoise.transforms.waveform import FFmpegCodec

SR = 16000
_t = torch.arange(SR, dtype=torch.float64) / SR


def _reachable() -> bool:
    try:
        W._codec_backend("test")
    except RuntimeError:
        return False
    return True


needs_ffmpeg = pytest.mark.skipif(not _reachable(), reason="no FFmpeg: pip install mmnoise[codec]")


def _tone(hz: float, amp: float = 0.25) -> torch.Tensor:
    return amp * torch.sin(2 * math.pi * hz * _t)


def _level_db(y: torch.Tensor, hz: float) -> torch.Tensor:
    """Per-example level (dB) of the rFFT bins around ``hz`` in the clip's middle half second."""
    spec = torch.fft.rfft(y[..., SR // 4 : 3 * SR // 4].double(), dim=-1).abs()
    k = round(hz * (SR // 2) / SR)
    return 10 * torch.log10(spec[..., k - 2 : k + 3].pow(2).sum(-1)).flatten()


def test_without_ffmpeg_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    # no torchaudio.io (torchaudio >= 2.9), no imageio-ffmpeg, no ffmpeg on PATH
    monkeypatch.setitem(sys.modules, "torchaudio.io", None)
    monkeypatch.setattr(W, "_ffmpeg_exe", lambda: None)
    with pytest.raises(RuntimeError, match=r"FFmpegCodec: .*mmnoise\[codec\].*PerceptualCodec"):
        FFmpegCodec("a")
    with pytest.raises(RuntimeError, match=r"ffmpeg_codec: .*mmnoise\[codec\]"):
        W.ffmpeg_codec(torch.zeros(1, 1, 8), kbps=torch.tensor([32.0]))


def test_a_failing_ffmpeg_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    false = shutil.which("false")  # an executable that fails as an FFmpeg without the encoder
    assert false is not None
    monkeypatch.setattr(W, "_ffmpeg_exe", lambda: false)
    with pytest.raises(RuntimeError, match=r"ffmpeg_codec: .* failed to encode .*libmp3lame"):
        W.ffmpeg_codec(torch.zeros(1, 1, 8), kbps=torch.tensor([32.0]))


@needs_ffmpeg
@pytest.mark.parametrize("codec", ["mp3", "opus"])
def test_a_tone_keeps_its_level_at_every_bitrate(codec: str) -> None:
    x = _tone(1000.0).repeat(3, 1, 1).float()
    y = W.ffmpeg_codec(x, kbps=torch.tensor([16.0, 32.0, 64.0]), codec=codec, sample_rate=SR)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert (_level_db(y, 1000.0) - _level_db(x, 1000.0)).abs().max() < 1.0


@needs_ffmpeg
@pytest.mark.parametrize("codec", ["mp3", "opus"])
def test_the_codec_delay_is_removed(codec: str) -> None:
    # noise comes back lined up (cross-correlation peak at lag 0 of -200..200) and at its length
    x = 0.1 * torch.randn(2, 1, SR, generator=torch.Generator().manual_seed(0))
    y = W.ffmpeg_codec(x, kbps=torch.tensor([24.0, 64.0]), codec=codec, sample_rate=SR)
    for i in range(2):
        corr = torch.nn.functional.conv1d(
            torch.nn.functional.pad(y[i : i + 1], (200, 200)), x[i : i + 1]
        )
        assert int(corr.argmax()) == 200, (codec, i, int(corr.argmax()) - 200)


@needs_ffmpeg
@pytest.mark.parametrize(("codec", "low", "high"), [("mp3", 16.0, 64.0), ("opus", 8.0, 64.0)])
def test_low_bitrates_cut_what_lies_above_the_codec_band(
    codec: str, low: float, high: float
) -> None:
    # 6 kHz is above the band a codec keeps at a low bitrate (libmp3lame 16 kbit/s at 16 kHz,
    # Opus 8 kbit/s narrowband: 4 kHz), and passes within 2 dB at 64 kbit/s
    x = torch.stack([_tone(1000.0) + _tone(6000.0)] * 2)[:, None].float()
    y = W.ffmpeg_codec(x, kbps=torch.tensor([low, high]), codec=codec, sample_rate=SR)
    drop = _level_db(y, 6000.0) - _level_db(x, 6000.0)
    assert drop[0] < -40.0 and abs(float(drop[1])) < 2.0, drop


@needs_ffmpeg
def test_padding_channels_and_dtypes() -> None:
    # padding is never read and keeps its values; 3 channels (coded one by one) keep their channel; float64 in, float64 out; an empty example stays as it is
    x = torch.stack([_tone(500.0), _tone(1500.0), _tone(2500.0)]).repeat(3, 1, 1)
    lengths = torch.tensor([SR, 9000, 0])
    for codec in ("mp3", "opus"):
        y = W.ffmpeg_codec(x, kbps=torch.full((3,), 64.0), codec=codec, lengths=lengths)
        assert y.dtype == torch.float64 and torch.equal(y[1, :, 9000:], x[1, :, 9000:])
        assert torch.equal(y[2], x[2])
        for c, hz in enumerate((500.0, 1500.0, 2500.0)):
            assert abs(float(_level_db(y[0, c], hz) - _level_db(x[0, c], hz))) < 1.0, (codec, c)
        assert float((y[0] - x[0]).abs().max()) > 1e-4  # it did code


@needs_ffmpeg
def test_the_transform_maps_level_to_bitrate_and_level_zero_is_identity() -> None:
    x = (_tone(1000.0) + _tone(6000.0)).repeat(2, 1, 1).float()
    t = FFmpegCodec("a", kbps=(64.0, 16.0))
    y = t({"a": x}, level=torch.tensor([0.0, 1.0]))["a"]
    assert torch.equal(y[0], x[0])
    assert float(_level_db(y[1], 6000.0) - _level_db(x[1], 6000.0)) < -40.0
    opus = from_config(FFmpegCodec("a", codec="opus", kbps=(32.0, 8.0)).to_config())
    assert isinstance(opus, FFmpegCodec) and (opus.codec, opus.kbps) == ("opus", (32.0, 8.0))


@needs_ffmpeg
def test_each_example_is_coded_on_its_own() -> None:
    # examples run in parallel processes: one coded in a batch equals it coded alone
    x = 0.1 * torch.randn(3, 2, 8000, generator=torch.Generator().manual_seed(1))
    kbps = torch.tensor([24.0, 48.0, 96.0])
    y = W.ffmpeg_codec(x, kbps=kbps, codec="opus")
    alone = W.ffmpeg_codec(x[1:2], kbps=kbps[1:2], codec="opus")
    assert torch.equal(y[1:2], alone)
