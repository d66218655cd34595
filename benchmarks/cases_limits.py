"""Group "limits": what bounds the noise ops on this machine (random-number rates, allocation).

Not a comparison: these rows give the yardsticks the notes refer to, measured in the same run,
on a tensor the size of the audio feature batch.
"""

from __future__ import annotations

import torch

from benchmarks.harness import Case, Thunk
from benchmarks.inputs import Inputs, nbytes
from mmnoise.functional import _fastrand


def cases(inp: Inputs) -> list[Case]:
    """RNG and allocation yardsticks on a tensor shaped like the first feature modality."""
    x = next(iter(inp.features.values()))
    n = x.numel()
    out_only = nbytes(x)  # a fill writes the tensor once
    buf = torch.empty_like(x)

    def normal_() -> Thunk:
        g = inp.generator()
        return lambda: buf.normal_(generator=g)

    def uniform_() -> Thunk:
        g = inp.generator()
        return lambda: buf.uniform_(generator=g)

    def fast_normal(workers: int | None) -> Thunk:
        g = inp.generator()
        return lambda: _fastrand.normal_(buf, generator=g, workers=workers)

    def randn_like() -> Thunk:
        return lambda: torch.randn_like(x)

    def clone() -> Thunk:
        return lambda: x.clone()

    def copy_() -> Thunk:
        return lambda: buf.copy_(x)

    op = f"{n / 1e6:.1f}M elements"
    b = inp.shapes.batch
    return [
        Case(f"normal {op}", "torch", "t.normal_() (one generator)", normal_, b, out_only, kind="ref"),
        Case(f"normal {op}", "mmnoise", "_fastrand.normal_ (chunked, 1 thread)", lambda: fast_normal(1), b, out_only, kind="mmnoise"),
        Case(f"normal {op}", "mmnoise", "_fastrand.normal_ (chunked, all threads)", lambda: fast_normal(None), b, out_only, kind="mmnoise"),
        Case(f"normal {op}", "torch", "torch.randn_like (alloc + fill)", randn_like, b, out_only),
        Case(f"uniform {op}", "torch", "t.uniform_()", uniform_, b, out_only, kind="ref"),
        Case(f"copy {op}", "torch", "copy_ into a preallocated tensor", copy_, b, 2 * out_only, kind="ref"),
        Case(f"copy {op}", "torch", "clone (allocation + page faults + copy)", clone, b, 2 * out_only),
    ]  # fmt: skip
