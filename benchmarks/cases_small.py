"""Group "small": per-call latency at batch 1-2 on tiny shapes (launch and fixed cost).

Feature batches of 2 examples x 8 steps x 16 dims per modality (audio, visual, text), valid
lengths 4-8; 2 sentences x 16 token ids; 1 clip x 2 frames x 3 x 16 x 16. Every call waits for its
device work (``torch.cuda.synchronize`` on a GPU), so a row is the latency a training or inference
step sees, launch and synchronisation included, not a rate. The unit is a bare torch op on the same
device in the same run (``x + 1`` on the audio features): "x bare op" = row latency / bare-op
latency, the fixed cost of a transform call counted in bare ops.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from benchmarks import refs
from benchmarks.cases_pipeline import build_pipeline
from benchmarks.harness import Case, Thunk, synced
from benchmarks.inputs import Inputs, mmnoise_class, nbytes

#: The first bare op is the unit of the group's "x bare op" column.
BARE = "bare torch op"


def _data(inp: Inputs) -> dict[str, Any]:
    if "small" not in inp.cache:
        g = torch.Generator().manual_seed(5)
        b, t, d = inp.shapes.small
        names = list(inp.shapes.dims)
        feats = {n: torch.randn(b, t, d, generator=g) for n in names}
        lengths = {n: torch.randint(max(1, t // 2), t + 1, (b,), generator=g) for n in names}
        level = 1.0 - torch.rand(b, generator=g)
        ids = torch.randint(1000, 30000, (b, 2 * t), generator=g)
        clip = torch.rand(1, 2, 3, 16, 16, generator=g)
        dev = inp.device
        inp.cache["small"] = {
            "features": {n: x.to(dev) for n, x in feats.items()},
            "lengths": {n: n_.to(dev) for n, n_ in lengths.items()},
            "level": level.to(dev),
            "snr_db": (20.0 - 15.0 * level).to(dev),
            "ids": ids.to(dev),
            "id_lengths": torch.full((b,), 2 * t).to(dev),
            "clip": clip.to(dev),
        }
    data: dict[str, Any] = inp.cache["small"]
    return data


def cases(inp: Inputs) -> list[Case]:
    """Every row of the small-batch latency group."""
    d = _data(inp)
    feats: dict[str, Tensor] = d["features"]
    lens: dict[str, Tensor] = d["lengths"]
    names = list(feats)
    b = inp.shapes.small[0]
    x = feats[names[0]]
    size = 2 * sum(nbytes(f) for f in feats.values())
    sample = {**feats, "lengths": dict(lens)}
    dev = inp.device

    def timed(make: Any) -> Any:
        # every call waits for its device work: latency, not throughput
        def build() -> Thunk:
            return synced(make(), dev)

        return build

    def mm(module: str, name: str, data: dict[str, Any], level: Any, **kw: Any) -> Any:
        def make() -> Thunk:
            tr = mmnoise_class(module, name)(**kw)
            g = inp.generator()
            return lambda: tr(data, level=level, generator=g)

        return timed(make)

    def pipeline(batch: int) -> Any:
        part = {n: f[:batch] for n, f in feats.items()}
        data = {**part, "lengths": {n: n_[:batch] for n, n_ in lens.items()}}

        def make() -> Thunk:
            pipe = build_pipeline(names)
            g = inp.generator()
            level = d["level"][:batch]
            return lambda: pipe(data, level=level, generator=g)

        return timed(make)

    def ref_noise() -> Thunk:
        g = inp.generator()
        return lambda: [refs.noise_snr(f, d["snr_db"], lens[n], g) for n, f in feats.items()]

    def ref_pipeline() -> Thunk:
        g = inp.generator()
        return lambda: refs.pipeline(feats, lens, d["snr_db"], g)

    r = (0.2, 0.2)
    tokens = {"text": d["ids"], "lengths": {"text": d["id_lengths"]}}
    clip = {"video": d["clip"]}
    noise, pipe = "noise@SNR, 3 modalities", f"pipeline, 3 modalities, B={b}"
    return [
        Case(BARE, "torch", "x + 1 (audio features)", timed(lambda: lambda: x + 1), b, 2 * nbytes(x), kind="bare", note="the unit of x bare op"),
        Case(BARE, "torch", "x.clone() (audio features)", timed(lambda: lambda: x.clone()), b, 2 * nbytes(x), kind="bare"),
        Case(noise, "mmnoise", "AddGaussianSNR(keys)(sample, level=(B,))", mm("features", "AddGaussianSNR", sample, d["level"], keys=names, snr_db=(20.0, 5.0)), b, size, kind="mmnoise"),
        Case(noise, "torch ref", "randn, masked energies, scale, add", timed(ref_noise), b, size, kind="ref"),
        Case("frame dropout 20%, 3 modalities", "mmnoise", "FrameDropout(fraction=(0.2, 0.2))", mm("features", "FrameDropout", sample, 1.0, keys=names, fraction=r), b, size, kind="mmnoise"),
        Case("modality missing p=0.3", "mmnoise", "DropModalities(fraction=(0.3, 0.3))", mm("missing", "DropModalities", sample, 1.0, keys=names, fraction=(0.3, 0.3), min_present=1), b, size, kind="mmnoise"),
        Case(pipe, "mmnoise", "MultimodalPipeline(...)(sample, level=(B,))", pipeline(b), b, size, kind="mmnoise"),
        Case(pipe, "torch ref", "4 out-of-place ops per modality", timed(ref_pipeline), b, size, kind="ref"),
        Case("pipeline, 3 modalities, B=1", "mmnoise", "MultimodalPipeline(...)(sample, level=(1,))", pipeline(1), 1, size // b, kind="mmnoise"),
        Case("token mask p=0.15", "mmnoise", "TokenMask(mask_id=103)", mm("tokens", "TokenMask", tokens, 1.0, keys="text", fraction=(0.15, 0.15), mask_id=103, pad_id=0), b, 2 * nbytes(d["ids"]), kind="mmnoise"),
        Case("frame gaussian noise", "mmnoise", "GaussianNoise(std=(0.05, 0.2))", mm("frames", "GaussianNoise", clip, 1.0, keys="video", std=(0.05, 0.2)), 1, 2 * nbytes(d["clip"]), kind="mmnoise"),
    ]  # fmt: skip
