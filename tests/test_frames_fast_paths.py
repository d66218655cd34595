"""The CPU fast paths of the frame kernels equal their general (device / compile) paths bit for bit.

Where :func:`mmnoise.device.reads_on_host` holds (CPU, eager), some kernels read their
parameters on the host and work clip by clip (uint8 brightness with scalar bounds, occlusion box
by box); on other devices and under ``torch.compile`` they run branchless broadcast passes. The
two must give the same bits for every dtype, layout and parameter mix; here the general path is
forced by making the kernel module decide as off the CPU.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmnoise.functional import frames as F
from mmnoise.transforms import frames as T

DTYPES = [torch.uint8, torch.float16, torch.bfloat16, torch.float32, torch.float64]


@st.composite
def _clips(draw: st.DrawFn, dtype: torch.dtype) -> torch.Tensor:
    """Frames (B, T, C, H, W) in ``dtype``: edge values, B = 1 and T = 1, every layout."""
    b, t = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    shape = (b, t, draw(st.sampled_from([1, 3])), draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    x = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    x[0, 0] = draw(st.sampled_from([0, 255]))  # saturated frames
    x = x if dtype == torch.uint8 else (x.double() / 255).to(dtype)
    layout = draw(
        st.sampled_from(["contiguous", "channels_last", "time_major", "strided", "expanded"])
    )
    if layout == "channels_last":  # torchvision.io's THWC memory seen as (B, T, C, H, W)
        x = x.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)
    elif layout == "time_major":  # dense, but B and T not adjacent in memory
        x = x.transpose(0, 1).contiguous().transpose(0, 1)
    elif layout == "strided":
        wide = torch.zeros(*shape[:-1], 2 * shape[-1], dtype=dtype)
        wide[..., ::2] = x
        x = wide[..., ::2]
    elif layout == "expanded":  # one frame broadcast over time (stride 0)
        x = x[:, :1].expand(shape)
    return x


def _per_frame(draw: st.DrawFn, x: torch.Tensor, values: st.SearchStrategy[float]) -> torch.Tensor:
    """A (B,) parameter, or a (B, T) one that varies within a clip."""
    b, t = x.shape[:2]
    if draw(st.booleans()):
        return torch.tensor(draw(st.lists(values, min_size=b, max_size=b)))
    return torch.tensor(
        draw(st.lists(st.lists(values, min_size=t, max_size=t), min_size=b, max_size=b))
    )


def _general(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(F, "reads_on_host", lambda device: False)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_brightness_fast_path_equals_the_general_path(
    dtype: torch.dtype, data: st.DataObject
) -> None:
    x = data.draw(_clips(dtype))
    # shifts of 0 and +-1 (the extremes), ties at half-steps of 1 / 255 and ordinary values
    values = st.sampled_from([0.0, 1.0, -1.0, 0.5 / 255, -2.5 / 255, 0.2, -0.13])
    delta = _per_frame(data.draw, x, values)
    lengths = data.draw(st.none() | st.just(torch.randint(1, x.shape[1] + 1, (x.shape[0],))))
    before = x.clone()
    fast = F.brightness(x, delta=delta, lengths=lengths)
    with pytest.MonkeyPatch.context() as m:
        _general(m)
        slow = F.brightness(x, delta=delta, lengths=lengths)
    assert fast.dtype == slow.dtype == dtype and torch.equal(fast, slow)
    assert torch.equal(x, before)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_occlusion_fast_path_equals_the_general_path(
    dtype: torch.dtype, data: st.DataObject
) -> None:
    x = data.draw(_clips(dtype))
    unit = st.sampled_from([0.0, 0.3, 0.5, 0.99, 1.0])
    params = {
        "fraction": _per_frame(data.draw, x, unit),
        "aspect": _per_frame(data.draw, x, st.sampled_from([0.25, 1.0, 3.0])),
        "center_y": _per_frame(data.draw, x, unit),
        "center_x": _per_frame(data.draw, x, unit),
    }
    fill = data.draw(st.sampled_from([0.0, 0.3, 1.0]))
    lengths = data.draw(st.none() | st.just(torch.randint(1, x.shape[1] + 1, (x.shape[0],))))
    before = x.clone()
    fast = F.occlusion(x, fill=fill, lengths=lengths, **params)
    with pytest.MonkeyPatch.context() as m:
        _general(m)
        slow = F.occlusion(x, fill=fill, lengths=lengths, **params)
    assert fast.dtype == slow.dtype == dtype and torch.equal(fast, slow)
    assert torch.equal(x, before)


@pytest.mark.parametrize("kernel", [F.gaussian_noise, F.shot_noise])
@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_noise_fast_path_equals_the_general_path(
    kernel: object, dtype: torch.dtype, data: st.DataObject
) -> None:
    # on the host the frames take the noise field's contiguous layout (and uint8 frames a
    # faster cast); elementwise values do not depend on the layout
    x = data.draw(_clips(dtype))
    std = _per_frame(data.draw, x, st.sampled_from([0.0, 0.05, 0.2, 1.0]))
    lengths = data.draw(st.none() | st.just(torch.randint(1, x.shape[1] + 1, (x.shape[0],))))
    seed = data.draw(st.integers(0, 2**31 - 1))
    before = x.clone()

    def run() -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return kernel(x, std=std, generator=g, lengths=lengths)  # type: ignore[operator]

    fast = run()
    with pytest.MonkeyPatch.context() as m:
        _general(m)
        slow = run()
    assert fast.dtype == slow.dtype == dtype and torch.equal(fast, slow)
    assert torch.equal(x, before)


def test_noise_fast_path_on_a_decoded_clip_equals_the_general_path() -> None:
    # a full-size channels-last clip: the vectorised loops (not only their scalar tails) run
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (2, 3, 64, 64, 3), dtype=torch.uint8, generator=g)
    x = x.permute(0, 1, 4, 2, 3)
    std = torch.tensor([0.05, 0.2])
    fast = F.gaussian_noise(x, std=std, generator=torch.Generator().manual_seed(1))
    with pytest.MonkeyPatch.context() as m:
        _general(m)
        slow = F.gaussian_noise(x, std=std, generator=torch.Generator().manual_seed(1))
    assert torch.equal(fast, slow)


@pytest.mark.parametrize(
    "cls", [T.Brightness, T.Occlusion, T.GaussianNoise, T.GaussianBlur, T.PyramidBlur]
)
@pytest.mark.parametrize("shape", [(1, 1, 3, 5, 4), (4, 3, 3, 6, 5)])
def test_transforms_at_levels_mixing_0_and_1_match_the_general_path(
    cls: type, shape: tuple[int, ...]
) -> None:
    t = cls("v")
    x = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    x = x.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)
    level = torch.tensor([1.0, 0.0, 1.0, 0.0][: shape[0]])
    want = t({"v": x}, level=level, generator=torch.Generator().manual_seed(2))["v"]
    with pytest.MonkeyPatch.context() as m:
        _general(m)
        got = t({"v": x}, level=level, generator=torch.Generator().manual_seed(2))["v"]
    assert torch.equal(got, want)
    assert torch.equal(want[level == 0], x[level == 0])  # level 0 is an exact identity


class _TorchPyramid:
    """A stand-in for OpenCV built from the torch path's own stages (uint8 numpy in and out), so
    that the frame-by-frame OpenCV loop is checked where OpenCV is not installed."""

    threads = 8  # OpenCV's own thread count (getNumThreads / setNumThreads)

    def getNumThreads(self) -> int:  # OpenCV's name
        return self.threads

    def setNumThreads(self, n: int) -> None:  # OpenCV's name
        self.threads = n

    @staticmethod
    def _run(f: object, stage: object) -> object:
        import numpy as np

        a = torch.from_numpy(np.asarray(f))
        chw = (a[None] if a.ndim == 2 else a.permute(2, 0, 1)).float()[None]
        y = stage(chw).to(torch.uint8)[0].permute(1, 2, 0)  # type: ignore[operator]
        return (y[..., 0] if a.ndim == 2 else y).numpy()

    def pyrDown(self, f: object) -> object:  # OpenCV's name
        return self._run(f, lambda x: F._pyr_down(x, True))

    def pyrUp(self, f: object, dst: object = None, dstsize: tuple[int, int] = (0, 0)) -> object:
        h, w = np.asarray(f).shape[:2]
        size = (dstsize[1], dstsize[0]) if dstsize != (0, 0) else (2 * h, 2 * w)  # OpenCV's default
        y = self._run(f, lambda x: F._pyr_up(x, size, True))
        if dst is None:
            return y
        dst[...] = y.reshape(dst.shape)  # type: ignore[index, attr-defined]
        return dst


def _opencv_modules() -> list[object]:
    try:
        import cv2
    except ImportError:
        return [_TorchPyramid()]
    return [_TorchPyramid(), cv2]


@pytest.mark.parametrize("cv2", _opencv_modules(), ids=lambda m: type(m).__name__)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_uint8_pyramid_through_opencv_equals_the_torch_path(
    cv2: object, data: st.DataObject
) -> None:
    x = data.draw(_clips(torch.uint8))
    rounds = _per_frame(data.draw, x, st.sampled_from([0.0, 1.0, 2.0, 3.0]))
    max_rounds = data.draw(st.sampled_from([None, 2]))
    lengths = data.draw(st.none() | st.just(torch.randint(1, x.shape[1] + 1, (x.shape[0],))))
    before = x.clone()
    with pytest.MonkeyPatch.context() as m:
        m.setattr(F, "_opencv", lambda: cv2)
        fast = F.pyramid_blur(x, rounds=rounds, max_rounds=max_rounds, lengths=lengths)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(F, "_opencv", lambda: None)
        slow = F.pyramid_blur(x, rounds=rounds, max_rounds=max_rounds, lengths=lengths)
    assert fast.dtype == torch.uint8 and torch.equal(fast, slow)
    assert torch.equal(x, before)


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _pyramid_case(seed: int, shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 frames (THWC memory, as decoded) and (B, T) rounds 0-2 varying within clips."""
    g = torch.Generator().manual_seed(seed)
    b, t, c, h, w = shape
    x = torch.randint(0, 256, (b, t, h, w, c), dtype=torch.uint8, generator=g)
    return x.permute(0, 1, 4, 2, 3), torch.randint(0, 3, (b, t), generator=g).float()


@pytest.mark.parametrize("cv2", _opencv_modules(), ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_uint8_pyramid_on_several_threads_equals_the_torch_path(cv2: object, threads: int) -> None:
    # frames spread over torch.get_num_threads() workers: the same bits as one thread
    x, rounds = _pyramid_case(5, (3, 5, 3, 11, 14))
    with pytest.MonkeyPatch.context() as m:
        m.setattr(F, "_opencv", lambda: None)
        slow = F.pyramid_blur(x, rounds=rounds)
    with pytest.MonkeyPatch.context() as m, _torch_threads(threads):
        m.setattr(F, "_opencv", lambda: cv2)
        fast = F.pyramid_blur(x, rounds=rounds)
    assert torch.equal(fast, slow)


class _Recorder(_TorchPyramid):
    """The stand-in, noting OpenCV's thread count at every pyrDown and failing at call ``fail``."""

    def __init__(self, fail: int = 0) -> None:
        self.seen: list[int] = []
        self.calls = itertools.count(1)
        self.fail = fail

    def pyrDown(self, f: object) -> object:  # OpenCV's name
        self.seen.append(self.threads)
        if next(self.calls) == self.fail:
            raise RuntimeError("pyrDown failed")
        return super().pyrDown(f)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_uint8_pyramid_sets_opencv_threads_for_the_call_and_restores_them(threads: int) -> None:
    # OpenCV's pool gets the budget's share per worker (1 with more frames than threads)
    x, rounds = _pyramid_case(6, (2, 4, 3, 9, 8))
    cv2 = _Recorder()
    with pytest.MonkeyPatch.context() as m, _torch_threads(threads):
        m.setattr(F, "_opencv", lambda: cv2)
        F.pyramid_blur(x, rounds=rounds.clamp(min=1))
        assert cv2.seen and set(cv2.seen) == {1} and cv2.threads == 8
        one = _Recorder()  # one frame: one worker, which gets the whole budget
        m.setattr(F, "_opencv", lambda: one)
        F.pyramid_blur(x[:1, :1], rounds=torch.ones(1))
        assert one.seen == [threads] and one.threads == 8


def test_uint8_pyramid_leaves_opencv_threads_alone_when_already_low() -> None:
    # OpenCV at one thread (cv2.setNumThreads(0) in DataLoader workers): nothing is set
    x, rounds = _pyramid_case(6, (2, 4, 3, 9, 8))
    cv2 = _Recorder()
    cv2.threads = 1
    sets: list[int] = []
    with pytest.MonkeyPatch.context() as m, _torch_threads(2):
        m.setattr(F, "_opencv", lambda: cv2)
        m.setattr(cv2, "setNumThreads", sets.append)
        F.pyramid_blur(x, rounds=rounds.clamp(min=1))
    assert sets == [] and set(cv2.seen) == {1}


@pytest.mark.parametrize("threads", [1, 2])
def test_uint8_pyramid_restores_opencv_threads_after_an_error(threads: int) -> None:
    x, rounds = _pyramid_case(7, (2, 4, 3, 9, 8))
    cv2 = _Recorder(fail=3)
    with pytest.MonkeyPatch.context() as m, _torch_threads(threads):
        m.setattr(F, "_opencv", lambda: cv2)
        with pytest.raises(RuntimeError, match="pyrDown failed"):
            F.pyramid_blur(x, rounds=rounds.clamp(min=1))
    assert cv2.threads == 8


def test_uint8_pyramid_leaves_the_real_opencv_thread_count_as_it_was() -> None:
    cv2 = pytest.importorskip("cv2")  # the stand-in's count is checked above
    before = cv2.getNumThreads()
    x, rounds = _pyramid_case(8, (2, 3, 3, 10, 12))
    try:
        cv2.setNumThreads(3)
        with _torch_threads(2):
            F.pyramid_blur(x, rounds=rounds)
        assert cv2.getNumThreads() == 3
    finally:
        cv2.setNumThreads(before)


class _NumpyPyramid(_TorchPyramid):
    """A numpy stand-in (not OpenCV's values): the stages without torch, whose multi-threaded
    matrix products can hang in a forked child (why DataLoader workers run on one thread)."""

    def pyrDown(self, f: object) -> object:  # OpenCV's name
        return np.ascontiguousarray(np.asarray(f)[::2, ::2])

    def pyrUp(self, f: object, dst: object = None, dstsize: tuple[int, int] = (0, 0)) -> object:
        y = np.asarray(f).repeat(2, 0).repeat(2, 1)
        y = y[: dstsize[1], : dstsize[0]] if dstsize != (0, 0) else y
        if dst is None:
            return y
        dst[...] = y  # type: ignore[index]
        return dst


def _fork_safe_modules() -> list[object]:
    return [_NumpyPyramid(), *_opencv_modules()[1:]]


def _blur_in_child(conn: Any, cv2: object, x: torch.Tensor, rounds: torch.Tensor) -> None:
    torch.set_num_threads(2)
    F._opencv = lambda: cv2  # type: ignore[assignment]  # this process only
    conn.send(F.pyramid_blur(x, rounds=rounds).tolist())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is how DataLoader workers start on Linux")
@pytest.mark.parametrize("cv2", _fork_safe_modules(), ids=lambda m: type(m).__name__)
def test_uint8_pyramid_threads_work_in_a_forked_child(cv2: object) -> None:
    # a forked child (a DataLoader worker) inherits the parent's pool object but not its threads
    x, rounds = _pyramid_case(9, (2, 3, 3, 10, 12))
    with pytest.MonkeyPatch.context() as m, _torch_threads(2):
        m.setattr(F, "_opencv", lambda: cv2)
        want = F.pyramid_blur(x, rounds=rounds)  # the parent's pool is running now
        ctx = multiprocessing.get_context("fork")
        ours, theirs = ctx.Pipe()
        child = ctx.Process(target=_blur_in_child, args=(theirs, cv2, x, rounds))
        child.start()
        got = ours.recv() if ours.poll(60) else None
        child.join(10)
        if child.is_alive():
            child.kill()
    assert got is not None, "the forked child hung"
    assert torch.equal(torch.tensor(got, dtype=torch.uint8), want)


def test_uint8_pyramid_leaves_opencv_alone_off_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    # the device / compile path never reads the rounds on the host nor calls OpenCV
    _general(monkeypatch)
    monkeypatch.setattr(F, "_opencv", lambda: pytest.fail("OpenCV called off the host"))
    x = torch.randint(0, 256, (1, 2, 3, 8, 8), dtype=torch.uint8)
    assert F.pyramid_blur(x, rounds=torch.tensor([1]), max_rounds=1).shape == x.shape


@pytest.mark.parametrize("with_opencv", [False, True])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "time_major", "strided"])
@pytest.mark.parametrize("per_frame", [False, True])
def test_uint8_brightness_host_paths_equal_the_general_path(
    with_opencv: bool, layout: str, per_frame: bool
) -> None:
    # frames large enough for OpenCV's saturating add (blocks of 64 values and more); without
    # OpenCV the host path is the maximum / minimum passes
    opencv = F._opencv() if with_opencv else None
    if with_opencv and opencv is None:
        opencv = _SaturatingAdd()
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 256, (3, 4, 3, 8, 10), dtype=torch.uint8, generator=g)
    if layout == "channels_last":
        x = x.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)
    elif layout == "time_major":
        x = x.transpose(0, 1).contiguous().transpose(0, 1)
    elif layout == "strided":
        x = x[..., ::2]
    shape = (3, 4) if per_frame else (3,)
    delta = (torch.rand(shape, generator=g) * 2 - 1).round(decimals=2)
    delta[0] = 0.0
    with pytest.MonkeyPatch.context() as m:
        m.setattr(F, "_opencv", lambda: opencv)
        fast = F.brightness(x, delta=delta)
    with pytest.MonkeyPatch.context() as m:
        _general(m)
        slow = F.brightness(x, delta=delta)
    assert torch.equal(fast, slow)


class _SaturatingAdd:
    """A stand-in for ``cv2.add`` / ``cv2.subtract`` (uint8 plus or minus an integer, saturated)
    where OpenCV is missing."""

    @staticmethod
    def add(src: object, shift: int, dst: object) -> object:
        import numpy as np

        np.copyto(dst, np.clip(np.asarray(src).astype(np.int16) + shift, 0, 255), casting="unsafe")  # type: ignore[call-overload]
        return dst

    @staticmethod
    def subtract(src: object, shift: int, dst: object) -> object:
        return _SaturatingAdd.add(src, -shift, dst)
