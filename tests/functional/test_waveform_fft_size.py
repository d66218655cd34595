"""The FFT filters pad each clip by their response's tail, not by its whole length: same output."""

from __future__ import annotations

from typing import Literal

import pytest
import torch

import mmnoise.functional.waveform as W

SR = 16000
N = 20000


def _x() -> torch.Tensor:
    return torch.randn(2, 1, N, dtype=torch.float64, generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("order", [2, 4])
@pytest.mark.parametrize("kind", ["lowpass", "highpass"])
@pytest.mark.parametrize("cutoffs", [(40.0, 100.0), (300.0, 3400.0), (7800.0, 7960.0)])
def test_the_tail_padded_fft_gives_the_output_at_twice_the_length(
    order: int, kind: Literal["lowpass", "highpass"], cutoffs: tuple[float, float]
) -> None:
    # the slowest-decaying responses sit near 0 Hz and near Nyquist; float64 shows any wrap
    x, cut = _x(), torch.tensor(cutoffs, dtype=torch.float64)
    size = W._fft_size(N, [(kind, cut)], sample_rate=SR, order=order, like=x)
    assert N < size < W._next_fast_len(2 * N)  # the short FFT is the one that ran
    y = W._fft_filter(x, [(kind, cut)], sample_rate=SR, order=order, lengths=None, who="t")
    ref = W._fft_filter(x, [(kind, cut)], sample_rate=SR, order=order, lengths=None, who="t",
                        pad="double")  # fmt: skip
    assert float((y - ref).abs().max()) < 1e-12 * float(ref.abs().max())


def test_a_cutoff_too_slow_for_the_clip_keeps_twice_the_length() -> None:
    # a 2 Hz high-pass rings for longer than this clip: the size stays the one for 2 L
    x = _x()
    bands: list[tuple[Literal["lowpass", "highpass"], torch.Tensor | float]]
    bands = [("highpass", 2.0), ("lowpass", 3000.0)]
    assert W._fft_size(N, bands, sample_rate=SR, order=2, like=x) == W._next_fast_len(2 * N)


def test_without_host_reads_the_size_is_the_one_for_twice_the_length(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # on the device path (CUDA, torch.compile) the cutoffs are not read: 2 L fits any cutoff
    x, cut = _x(), torch.tensor([1000.0, 2000.0])
    assert W._fft_size(N, [("lowpass", cut)], sample_rate=SR, order=2, like=x) < 2 * N
    monkeypatch.setattr(W, "reads_on_host", lambda device: False)
    full = W._next_fast_len(2 * N)
    assert W._fft_size(N, [("lowpass", cut)], sample_rate=SR, order=2, like=x) == full
    # numbers need no read: their size follows them on any device
    assert W._fft_size(N, [("lowpass", 1000.0)], sample_rate=SR, order=2, like=x) < 2 * N


def test_the_in_place_path_gives_the_values_of_the_differentiable_one() -> None:
    x = _x().float()
    lengths = torch.tensor([N, N // 2])
    cut = torch.tensor([700.0, 2500.0])
    plain = W.lowpass(x, cutoff_hz=cut, lengths=lengths)
    graph = W.lowpass(x.clone().requires_grad_(True), cutoff_hz=cut, lengths=lengths)
    assert torch.equal(plain, graph.detach())
