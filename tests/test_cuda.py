"""CUDA: no host syncs (sync-debug mode), CUDA-graph capture / replay, AMP.

These need a CUDA device and run in ``scripts/gpu_check.sh`` when one is at hand; on a machine
without one the module is skipped (the CPU stand-ins are in ``tests/test_gpu_path.py``). The
contract suite itself also runs on ``cuda`` whenever a device is present (``tests.strategies``'s
``DEVICES``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import torch

import mmnoise as mm
from mmnoise.rng import Key, Randomness
from mmnoise.transforms.base import NoiseTransform
from tests.test_gpu_path import EVERYTHING, IDS

if not torch.cuda.is_available():
    pytest.skip("needs a CUDA device (scripts/gpu_check.sh runs it)", allow_module_level=True)

CUDA = torch.device("cuda")


def _to(sample: dict[str, Any], device: torch.device) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in sample.items():
        if isinstance(v, torch.Tensor):
            out[k] = v.to(device)
        elif isinstance(v, dict):
            out[k] = {n: t.to(device) if isinstance(t, torch.Tensor) else t for n, t in v.items()}
        else:
            out[k] = v
    return out


@contextmanager
def _sync_is_an_error() -> Iterator[None]:
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode("default")


def _randomness() -> list[tuple[str, Callable[[], Randomness]]]:
    return [
        ("generator", lambda: torch.Generator(device=CUDA).manual_seed(0)),
        ("key", lambda: Key(torch.tensor(0, device=CUDA))),
    ]


@pytest.mark.parametrize(("name", "build", "sample"), EVERYTHING, ids=IDS)
@pytest.mark.parametrize(("carrier", "make"), _randomness(), ids=["generator", "key"])
def test_every_transform_and_container_runs_without_a_host_sync(
    name: str,
    build: Callable[[], NoiseTransform],
    sample: dict[str, Any],
    carrier: str,
    make: Callable[[], Randomness],
) -> None:
    t = build().to(CUDA)
    s = _to(sample, CUDA)
    b = next(v for v in s.values() if isinstance(v, torch.Tensor)).shape[0]
    mixed = torch.tensor(([0.0, 1.0, 0.5] + [1.0] * b)[:b], device=CUDA)
    t(s, level=0.6, generator=make())  # warm-up: lazy CUDA / library initialisation may sync
    with _sync_is_an_error():
        for level in (0.6, mixed):
            out = t(s, level=level, generator=make())
    torch.cuda.synchronize()  # a failed device assertion would surface here
    assert all(v.device.type == "cuda" for v in out.values() if isinstance(v, torch.Tensor))


def _pipeline() -> mm.MultimodalPipeline:
    return mm.MultimodalPipeline(
        {"audio": [mm.AddGaussianSNR(), mm.TimeMask()], "video": [mm.Gain(), mm.FrameDropout()]},
    )


def test_a_feature_pipeline_is_captured_once_and_replayed_with_new_keys() -> None:
    pipe = _pipeline().to(CUDA)
    g = torch.Generator().manual_seed(0)
    static = {
        "audio": torch.randn(8, 50, 16, generator=g).to(CUDA),
        "video": torch.randn(8, 20, 32, generator=g).to(CUDA),
    }
    seed = torch.zeros((), dtype=torch.int64, device=CUDA)  # the graph's key input

    def step() -> dict[str, Any]:
        return pipe(static, level=0.7, generator=Key(seed))

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = step()
    for value in (11, 12):
        seed.fill_(value)
        graph.replay()
        want = pipe(static, level=0.7, generator=Key(torch.tensor(value, device=CUDA)))
        for k in ("audio", "video"):
            torch.testing.assert_close(captured[k], want[k], rtol=1e-5, atol=1e-5)
    assert not torch.equal(captured["audio"], static["audio"])


@pytest.mark.parametrize("amp_dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize(("name", "build", "sample"), EVERYTHING, ids=IDS)
def test_every_transform_runs_under_autocast(
    name: str, build: Callable[[], NoiseTransform], sample: dict[str, Any], amp_dtype: torch.dtype
) -> None:
    t = build().to(CUDA)
    s = _to(sample, CUDA)
    with torch.autocast("cuda", dtype=amp_dtype):
        out = t(s, level=0.6, generator=torch.Generator(device=CUDA).manual_seed(0))
    for k, v in s.items():
        if isinstance(v, torch.Tensor):
            # a transform keeps its input's dtype under autocast, and stays finite
            assert out[k].dtype == v.dtype, (name, k)
            if v.is_floating_point():
                assert bool(torch.isfinite(out[k]).all()), (name, k)
