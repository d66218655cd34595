"""Group "pipeline": the full multimodal feature pipeline of one training step.

Per modality (audio, visual, text features): white noise at SNR ~ U(5, 20) dB, frame dropout
20 %, one feature band of 20 %; then modality missing (p = 0.3, at least one kept). The
reference is the same pipeline written as plain out-of-place torch ops; "hand-fused" is the same
again written into one buffer per modality with in-place masks. No peer library covers the
whole pipeline (none has modality missing), so only torch rows are compared.
"""

from __future__ import annotations

from benchmarks import refs
from benchmarks.harness import Case, Thunk
from benchmarks.inputs import Inputs, nbytes
from mmnoise.transforms.compose import MultimodalPipeline
from mmnoise.transforms.features import AddGaussianSNR, FeatureMask, FrameDropout
from mmnoise.transforms.missing import DropModalities

OP = "pipeline: noise, dropout, band, missing"


def build_pipeline(names: list[str]) -> MultimodalPipeline:
    """The mmnoise pipeline of this benchmark (also used by the torch.compile check)."""
    return MultimodalPipeline(
        {
            n: [
                AddGaussianSNR(snr_db=(20.0, 5.0)),
                FrameDropout(fraction=(0.2, 0.2)),
                FeatureMask(fraction=(0.2, 0.2)),
            ]
            for n in names
        },
        missing=DropModalities(names, fraction=(0.3, 0.3), min_present=1),
    )


def cases(inp: Inputs) -> list[Case]:
    """Every row of the pipeline group."""
    b = inp.shapes.batch
    size = 2 * sum(nbytes(x) for x in inp.features.values())
    sample = inp.sample()
    names = list(inp.features)

    def mm() -> Thunk:
        pipe = build_pipeline(names)
        g = inp.generator()
        return lambda: pipe(sample, level=inp.level, generator=g)

    def ref() -> Thunk:
        g = inp.generator()
        return lambda: refs.pipeline(inp.features, inp.lengths, inp.snr_db, g)

    def fused() -> Thunk:
        g = inp.generator()
        return lambda: refs.fused_pipeline(inp.features, inp.lengths, inp.snr_db, g)

    return [
        Case(OP, "mmnoise", "MultimodalPipeline(...)(sample, level=(B,) tensor)", mm, b, size, kind="mmnoise"),
        Case(OP, "torch ref", "4 out-of-place ops per modality", ref, b, size, kind="ref"),
        Case(OP, "torch (hand-fused)", "one buffer per modality, in-place masks", fused, b, size),
    ]  # fmt: skip
