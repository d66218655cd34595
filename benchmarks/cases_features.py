"""Group "features": pre-extracted feature sequences (B, T, D), the main MER case.

One sample = one example with all three modalities (audio, visual, text features), padded to T
with valid lengths in [T/2, T]. Parameters shared by every row: SNR ~ U(5, 20) dB per example,
frame dropout 20 % of the valid steps (Bernoulli per step), one contiguous band of 20 % of the
feature dims (time mask: one span of 20 % of the valid steps), modality missing with p = 0.3 per
modality and at least one kept. Peers that cannot skip padding, draw a mask width at random or
mask contiguous blocks only are marked ``~``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torchaudio.functional as AF
from torch import Tensor

from benchmarks import refs
from benchmarks.harness import Case, Thunk
from benchmarks.inputs import Inputs, nbytes, need
from mmnoise.functional import features as F
from mmnoise.transforms.features import AddGaussianSNR, FeatureMask, FrameDropout, TimeMask
from mmnoise.transforms.missing import DropModalities

RATIO = 0.2
MISSING_P = 0.3


def _noise_cases(
    op: str, inp: Inputs, feats: dict[str, Tensor], lens: dict[str, Tensor]
) -> list[Case]:
    b = inp.shapes.batch
    size = 2 * sum(nbytes(x) for x in feats.values())
    sample = {**feats, "lengths": dict(lens)}
    names = list(feats)

    def mm_class() -> Thunk:
        t = AddGaussianSNR(names, snr_db=(20.0, 5.0))
        g = inp.generator()
        return lambda: t(sample, level=inp.level, generator=g)

    def mm_kernel() -> Thunk:
        g = inp.generator()
        return lambda: [
            F.add_gaussian_snr(x, snr_db=inp.snr_db, lengths=lens[n], generator=g)
            for n, x in feats.items()
        ]

    def ref() -> Thunk:
        g = inp.generator()
        return lambda: [refs.noise_snr(x, inp.snr_db, lens[n], g) for n, x in feats.items()]

    def torchaudio_add_noise() -> Thunk:
        g = inp.generator()

        def run() -> list[Tensor]:
            out = []
            for n, x in feats.items():
                flat = x.reshape(b, -1)
                noise = torch.randn(flat.shape, generator=g, device=x.device)
                valid = lens[n] * x.shape[2]  # time-major: the valid part is a prefix
                out.append(AF.add_noise(flat, noise, inp.snr_db, valid).reshape(x.shape))
            return out

        return run

    def torch_audiomentations() -> Thunk:
        ta = need("torch_audiomentations", "torch-audiomentations")
        augs = {
            n: inp.on_device(ta.AddColoredNoise(
                min_snr_in_db=5.0, max_snr_in_db=20.0, min_f_decay=0.0, max_f_decay=0.0,
                p=1.0, sample_rate=x.shape[1] * x.shape[2], output_type="tensor",
            ))
            for n, x in feats.items()
        }  # fmt: skip
        # (B, 1, T*D) with sample_rate = T*D: one noise draw per example, no tiling
        return lambda: [augs[n](x.reshape(b, 1, -1)) for n, x in feats.items()]

    def audiomentations() -> Thunk:
        inp.cpu_only("audiomentations")
        am = need("audiomentations")
        aug = am.AddGaussianSNR(min_snr_db=5.0, max_snr_db=20.0, p=1.0)
        arrays = {n: x.numpy() for n, x in feats.items()}

        def run() -> list[np.ndarray]:
            out = []
            for n, a in arrays.items():
                y = a.copy()
                for i in range(b):  # per example, valid steps only, as the library requires
                    k = int(lens[n][i])
                    y[i, :k] = aug(samples=a[i, :k].reshape(-1), sample_rate=16000).reshape(k, -1)
                out.append(y)
            return out

        return run

    def kornia() -> Thunk:
        K = need("kornia.augmentation", "kornia")
        aug = inp.on_device(K.RandomGaussianNoise(mean=0.0, std=0.3, p=1.0))
        return lambda: [aug(x[:, None]) for x in feats.values()]

    return [
        Case(op, "mmnoise", "AddGaussianSNR(keys)(sample, level=(B,) tensor)", mm_class, b, size, kind="mmnoise"),
        Case(op, "mmnoise", "functional.add_gaussian_snr per modality", mm_kernel, b, size, kind="mmnoise"),
        Case(op, "torch ref", "randn, masked energies, scale, add", ref, b, size, kind="ref"),
        Case(op, "torchaudio", "functional.add_noise on (B, T*D), lengths*D", torchaudio_add_noise, b, size),
        Case(op, "torch-audiomentations", "AddColoredNoise(f_decay=0) on (B, 1, T*D)", torch_audiomentations, b, size, sem="~", note="noise on padding too"),
        Case(op, "audiomentations", "AddGaussianSNR per example (numpy)", audiomentations, b, size),
        Case(op, "kornia", "RandomGaussianNoise(std=0.3) on (B, 1, T, D)", kornia, b, size, sem="!=", note="fixed std, no SNR"),
    ]  # fmt: skip


def _mask_cases(inp: Inputs) -> list[Case]:
    feats, lens = inp.features, inp.lengths
    b, t = inp.shapes.batch, inp.shapes.steps
    size = 2 * sum(nbytes(x) for x in feats.values())
    sample = inp.sample()
    names = list(feats)

    def mm(cls: Callable[..., object], **kw: object) -> Callable[[], Thunk]:
        def build() -> Thunk:
            tr = cls(names, **kw)
            g = inp.generator()
            return lambda: tr(sample, level=1.0, generator=g)  # type: ignore[operator]

        return build

    def ref(fn: Callable[[Tensor, float, Tensor, torch.Generator], Tensor]) -> Callable[[], Thunk]:
        def build() -> Thunk:
            g = inp.generator()
            return lambda: [fn(x, RATIO, lens[n], g) for n, x in feats.items()]

        return build

    def dropout1d() -> Thunk:
        return lambda: [torch.nn.functional.dropout1d(x, RATIO) for x in feats.values()]

    def ta_mask(freq: bool) -> Callable[[], Thunk]:
        def build() -> Thunk:
            T = need("torchaudio.transforms", "torchaudio")
            if freq:
                augs = {
                    n: inp.on_device(
                        T.FrequencyMasking(round(RATIO * x.shape[2]) + 1, iid_masks=True)
                    )
                    for n, x in feats.items()
                }
            else:
                augs = {
                    n: inp.on_device(T.TimeMasking(round(RATIO * t) + 1, iid_masks=True))
                    for n in feats
                }
            # torchaudio masks (..., freq, time): a (B, 1, D, T) view of the features
            return lambda: [augs[n](x.transpose(1, 2)[:, None]) for n, x in feats.items()]

        return build

    def nlpaug_mask(freq: bool) -> Callable[[], Thunk]:
        def build() -> Thunk:
            inp.cpu_only("nlpaug")
            nas = need("nlpaug.augmenter.spectrogram", "nlpaug")
            arrays = {n: x.transpose(1, 2).numpy() for n, x in feats.items()}  # (B, D, T)
            if freq:
                augs = {
                    n: nas.FrequencyMaskingAug(
                        zone=(0.0, 1.0), coverage=1.0,
                        factor=(round(RATIO * a.shape[1]), round(RATIO * a.shape[1]) + 1),
                        silence=True,
                    )
                    for n, a in arrays.items()
                }  # fmt: skip
            else:
                augs = {n: nas.TimeMaskingAug(zone=(0.0, 1.0), coverage=RATIO) for n in arrays}

            def run() -> list[list[object]]:
                return [
                    [augs[n].augment(a[i, :, : int(lens[n][i])]) for i in range(b)]
                    for n, a in arrays.items()
                ]

            return run

        return build

    def mm_missing() -> Thunk:
        tr = DropModalities(names, fraction=(MISSING_P, MISSING_P), min_present=1)
        g = inp.generator()
        return lambda: tr(sample, level=1.0, generator=g)

    def ref_missing() -> Thunk:
        g = inp.generator()
        return lambda: refs.modality_missing(feats, MISSING_P, g)

    drop, band, span, miss = (
        "frame dropout 20%",
        "feature band mask 20%",
        "time mask 20%",
        "modality missing p=0.3",
    )
    r = (RATIO, RATIO)
    return [
        Case(drop, "mmnoise", "FrameDropout(fraction=(0.2, 0.2))", mm(FrameDropout, fraction=r), b, size, kind="mmnoise"),
        Case(drop, "torch ref", "rand(B, T) < p, where", ref(refs.frame_dropout), b, size, kind="ref"),
        Case(drop, "torch", "F.dropout1d(x, 0.2) on (B, T, D)", dropout1d, b, size, sem="~", note="rescales kept steps, drops padding"),
        Case(span, "mmnoise", "TimeMask(fraction=(0.2, 0.2))", mm(TimeMask, fraction=r), b, size, kind="mmnoise"),
        Case(span, "torch ref", "span compare, where", ref(refs.time_mask), b, size, kind="ref"),
        Case(span, "torchaudio", "TimeMasking(iid_masks=True) on (B, 1, D, T)", ta_mask(False), b, size, sem="~", note="random width <= 20%, ignores lengths"),
        Case(span, "nlpaug", "TimeMaskingAug(coverage=0.2) per example", nlpaug_mask(False), b, size),
        Case(band, "mmnoise", "FeatureMask(fraction=(0.2, 0.2))", mm(FeatureMask, fraction=r), b, size, kind="mmnoise"),
        Case(band, "torch ref", "band compare, where", ref(refs.feature_mask), b, size, kind="ref"),
        Case(band, "torchaudio", "FrequencyMasking(iid_masks=True) on (B, 1, D, T)", ta_mask(True), b, size, sem="~", note="random width <= 20%, masks padding"),
        Case(band, "nlpaug", "FrequencyMaskingAug per example", nlpaug_mask(True), b, size),
        Case(miss, "mmnoise", "DropModalities(fraction=(0.3, 0.3), min_present=1)", mm_missing, b, size, kind="mmnoise"),
        Case(miss, "torch ref", "rand(B, M) < p, rescue one, where", ref_missing, b, size, kind="ref"),
    ]  # fmt: skip


def cases(inp: Inputs) -> list[Case]:
    """Every row of the feature group."""
    small = {"audio": inp.audio_small}
    small_len = {"audio": inp.audio_small_lengths}
    d = inp.shapes.audio_small
    return (
        _noise_cases("noise@SNR", inp, inp.features, inp.lengths)
        + _noise_cases(f"noise@SNR audio {d}-d only", inp, small, small_len)
        + _mask_cases(inp)
    )
