"""The GPU path, proven on the CPU: no host read-backs, fullgraph ``torch.compile``, compiled = eager.

On CUDA a read of a device value on the host (``.item()``, ``bool(t)``, a boolean-mask index)
stalls the host until the device catches up. mmnoise decides where such reads are allowed in one
place, :func:`mmnoise.device.reads_on_host` (CPU data outside ``torch.compile``: the value is
already in host memory). Here every module's copy of that decision is made to answer as it does
on CUDA, and every public transform and container runs with a :class:`mmnoise.rng.Key` (the
randomness a compiled graph or a CUDA device uses without reads) while every host read-back of a
tensor is counted: there must be none. ``tests/test_cuda.py`` runs the same on a GPU under
``torch.cuda.set_sync_debug_mode("error")``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch

import mmnoise as mm
from mmnoise.rng import Key
from mmnoise.transforms.base import NoiseTransform
from tests.contract.table import ALL_CASES
from tests.contract.test_transforms import KEY, _fixed, _sample

#: ops whose peer kernel reads tensors on the host: kornia's JPEG chroma subsampling checks its
#: blur sigmas with ``bool()``, but on a tensor it builds on the host from Python floats (no
#: device sync on CUDA: tests/test_cuda.py). Its ``.item()`` quality check, a real device read,
#: is skipped on the device path (mmnoise.functional.frames._jpeg_codec), and the op compiles
PEER_READS = frozenset({"JPEG"})


def _containers() -> list[tuple[str, Callable[[], NoiseTransform], dict[str, Any]]]:
    a, v = torch.randn(3, 6, 4), torch.randn(3, 5, 2)
    feats = {"a": a, "v": v}
    return [
        ("Compose", lambda: mm.Compose([mm.Gain("a"), mm.TimeMask("a")]), feats),
        ("OneOf", lambda: mm.OneOf([mm.Gain("a"), mm.AddGaussianSNR("a")]), feats),
        ("SomeOf", lambda: mm.SomeOf([mm.Gain("a"), mm.TimeMask("v")], n=(0, 2)), feats),
        ("DropModalities", lambda: mm.DropModalities(["a", "v"]), feats),
        ("DropModalities-mmin", lambda: mm.DropModalities(["a", "v"], patterns="mmin"), feats),
        (
            "DropModalities-nmer",
            lambda: mm.DropModalities(["a", "v"], patterns="mmin", fill="nmer"),
            feats,
        ),
        (
            "MultimodalPipeline",
            lambda: mm.MultimodalPipeline(
                {"a": [mm.AddGaussianSNR(), mm.TimeMask()], "v": [mm.Gain()]},
                missing=mm.DropModalities(["a", "v"]),
            ),
            feats,
        ),
    ]


def _everything() -> Iterator[tuple[str, Callable[[], NoiseTransform], dict[str, Any]]]:
    for case in ALL_CASES:
        yield case.id, (lambda c=case: c.build(KEY)), _sample(_fixed(case.kind), None, case)
    yield from _containers()


EVERYTHING = list(_everything())
IDS = [name for name, _, _ in EVERYTHING]


def _levels(b: int) -> list[Any]:
    # a float, and per-example levels mixing 0 and 1 (the gate then selects rows on the device)
    return [0.6, torch.tensor([0.0, 1.0, 0.5][:b] + [1.0] * max(0, b - 3))]


@pytest.mark.usefixtures("as_on_a_device")
@pytest.mark.parametrize(("name", "build", "sample"), EVERYTHING, ids=IDS)
def test_no_host_read_back_on_the_device_path(
    name: str, build: Callable[[], NoiseTransform], sample: dict[str, Any], read_backs: list[str]
) -> None:
    t = build()
    b = next(v for v in sample.values() if isinstance(v, torch.Tensor)).shape[0]
    for level in _levels(b):
        before = len(read_backs)
        out = t(sample, level=level, generator=Key(torch.tensor(3)))
        reads = read_backs[before:]
        if name.split("-")[0] in PEER_READS:  # the peer reads; mmnoise's own code does not
            assert reads and all(r.endswith(" in a peer") for r in reads), (name, reads)
        else:
            assert reads == [], f"{name} read {reads} at level {level}"
        # (the outputs are real: the contract suite checks what they hold)
        assert set(out) >= set(sample)


@pytest.mark.parametrize(("name", "build", "sample"), EVERYTHING, ids=IDS)
def test_a_call_with_a_generator_allocates_no_generator(
    name: str, build: Callable[[], NoiseTransform], sample: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # kernels draw from one reseeded generator per thread and device (rng.kernel_generator);
    # a pipeline still derives one stream per modality from its seed (rng.generator_from_seed)
    made: list[int] = []
    real = mm.rng.make_generator
    monkeypatch.setattr(mm.rng, "make_generator", lambda *a, **k: made.append(1) or real(*a, **k))
    t = build()
    out = t(sample, level=0.6, generator=torch.Generator().manual_seed(1))
    pipes = [m for m in t.modules() if isinstance(m, mm.MultimodalPipeline)]
    streams = sum(len(p._named()) for p in pipes)
    fills = [m for m in t.modules() if isinstance(m, mm.DropModalities) and m.fill != 0.0]
    assert len(made) <= streams + len(fills), (name, len(made))
    assert set(out) >= set(sample)


def _flat(record: Any) -> list[torch.Tensor]:
    if isinstance(record, torch.Tensor):
        return [record]
    if isinstance(record, dict):
        return [t for k in sorted(record) for t in _flat(record[k])]
    return []


@pytest.mark.parametrize(("name", "build", "sample"), EVERYTHING, ids=IDS)
def test_draw_reads_shapes_only(
    name: str, build: Callable[[], NoiseTransform], sample: dict[str, Any]
) -> None:
    # OneOf / SomeOf draw their children's records on shape-only stand-ins of the chosen rows
    # (each row a view of the first): every draw must depend on shapes, never on values
    t = build()
    other = {
        k: v[:1].flip(-1).expand_as(v) if isinstance(v, torch.Tensor) else v
        for k, v in sample.items()
    }
    a = _flat(t.draw(sample, 0.6, torch.Generator().manual_seed(4)))
    b = _flat(t.draw(other, 0.6, torch.Generator().manual_seed(4)))
    assert a and len(a) == len(b), name
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y), name


def test_kernel_generators_are_reseeded_not_made() -> None:
    a = mm.rng.kernel_generator(torch.tensor(5), "cpu")
    first = torch.randn(3, generator=a)
    b = mm.rng.kernel_generator(torch.tensor(5), "cpu")
    assert b is a and torch.equal(torch.randn(3, generator=b), first)  # the same state again
    assert torch.equal(first, torch.randn(3, generator=mm.rng.make_generator(5)))


@pytest.mark.usefixtures("as_on_a_device")
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_the_device_path_still_rejects_non_finite_input(value: float) -> None:
    # on CPU data torch._assert_async raises at once, so the device path's check is testable
    bad = torch.ones(2, 3, 1)
    bad[1, 0, 0] = value
    with pytest.raises(RuntimeError, match=r"Gain: expected finite values in sample\['a'\]"):
        mm.Gain("a")({"a": bad}, generator=Key(0))


@pytest.mark.usefixtures("as_on_a_device")
def test_the_device_path_accepts_huge_finite_input() -> None:
    # their sum overflows to Inf; min / max, which decide, stay finite
    huge = torch.full((2, 3, 1), torch.finfo(torch.float32).max)
    out = mm.Gain("a", gain_db=(0.0, 0.0))({"a": huge}, generator=Key(0))
    assert torch.equal(out["a"], huge)


def _compiled_equals_eager(
    name: str, build: Callable[[], NoiseTransform], sample: dict[str, Any], backend: str
) -> None:
    t = build()

    def step(s: dict[str, Any], seed: torch.Tensor) -> dict[str, Any]:
        return t(s, level=0.6, generator=Key(seed))

    torch._dynamo.reset()
    compiled = torch.compile(step, fullgraph=True, backend=backend)
    for seed in (torch.tensor(5), torch.tensor(6)):  # a new seed is a new input, not a recompile
        want, got = step(sample, seed), compiled(sample, seed)
        for k, v in want.items():
            if isinstance(v, torch.Tensor):
                assert got[k].dtype == v.dtype, (name, k)
                torch.testing.assert_close(got[k], v, rtol=1e-5, atol=1e-5, msg=f"{name}[{k}]")


# every case compiles, the filters included (FFT filters since issue 26: no ``lfilter``)
COMPILABLE = EVERYTHING


@pytest.mark.parametrize(("name", "build", "sample"), COMPILABLE, ids=[e[0] for e in COMPILABLE])
def test_fullgraph_compile_of_every_transform_and_container(
    name: str, build: Callable[[], NoiseTransform], sample: dict[str, Any]
) -> None:
    # dynamo traces the whole call, finite check on, as one graph (fullgraph=True raises on any
    # break); the "eager" backend runs that graph with ATen, so it must equal the eager call
    _compiled_equals_eager(name, build, sample, backend="eager")


# inductor compiles C++ for each case (5-30 s on one core): two representative cases by default,
# the whole table with MMNOISE_COMPILE_ALL=1 (54 cases, ~10 min on one core; last run
# 2026-12-01: all equal to eager within 1e-4, integers exactly)
INDUCTOR = (
    COMPILABLE
    if os.environ.get("MMNOISE_COMPILE_ALL")
    else [e for e in COMPILABLE if e[0] in {"AddGaussianSNR-features", "MultimodalPipeline"}]
)


@pytest.mark.parametrize(("name", "build", "sample"), INDUCTOR, ids=[e[0] for e in INDUCTOR])
def test_inductor_output_equals_eager_for_the_same_key(
    name: str, build: Callable[[], NoiseTransform], sample: dict[str, Any]
) -> None:
    # inductor generates its own C++ (fused loops, its own log / cos): equal to ~1e-6
    _compiled_equals_eager(name, build, sample, backend="inductor")


@pytest.mark.parametrize("amp_dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize(("name", "build", "sample"), EVERYTHING, ids=IDS)
def test_every_transform_keeps_its_dtype_under_autocast(
    name: str, build: Callable[[], NoiseTransform], sample: dict[str, Any], amp_dtype: torch.dtype
) -> None:
    # autocast would run the blurs' convolutions and the filters' FFTs in half precision:
    # kernels run outside it, in their input's dtype
    t = build()
    with torch.autocast("cpu", dtype=amp_dtype):
        out = t(sample, level=0.6, generator=torch.Generator().manual_seed(0))
    want = t(sample, level=0.6, generator=torch.Generator().manual_seed(0))
    for k, v in sample.items():
        if isinstance(v, torch.Tensor):
            assert out[k].dtype == v.dtype, (name, k)
            torch.testing.assert_close(out[k], want[k], msg=f"{name}[{k}]")


def test_the_library_checks_types_with_tuples_not_unions() -> None:
    # dynamo before torch 2.10 cannot trace isinstance(x, int | float) ("Unexpected type in
    # sourceless builder types.UnionType"): one union on a compiled path (a level check, a
    # generator check) breaks the compile of every transform on torch 2.6 - 2.9
    import ast
    from pathlib import Path

    root = Path(mm.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "isinstance"
                and len(node.args) == 2
                and isinstance(node.args[1], ast.BinOp)
                and isinstance(node.args[1].op, ast.BitOr)
            ):
                found.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not found, f"isinstance with a union type (use a tuple): {found}"
