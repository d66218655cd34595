"""Shared test configuration: Hypothesis profiles, one torch thread, the host-read fixtures."""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, settings

from tests.strategies import as_on_cuda

# Torch's first calls are slow; a deadline would make the suite flaky, not stricter.
settings.register_profile(
    "dev", deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow]
)
if not os.environ.get("CI"):
    settings.load_profile("dev")
# Under CI=true Hypothesis auto-loads its built-in "ci" profile (derandomized, no deadline).

# One thread: on the shared 2-core CI machine two threads made small ops up to 10x slower.
torch.set_num_threads(1)


def pytest_report_header() -> str:
    """The versions a run resolved: a fresh CI install takes each dependency's newest release,
    and a failure that only a new release brings shows here first (kornia 0.9.2 did)."""
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in ("torch", "torchaudio", "kornia", "numpy", "hypothesis", "opencv-python-headless"):
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return "mmnoise dependencies: " + ", ".join(found)


_PEERS = ("kornia", "torchaudio")
_READS = ("item", "tolist", "__bool__", "__int__", "__float__", "__index__", "nonzero")


@pytest.fixture
def read_backs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every host read of a tensor's values (the calls a CUDA tensor syncs on).

    Each entry is the method, and ``" in a peer"`` when the read happens inside kornia or
    torchaudio code (reads mmnoise cannot remove).
    """
    calls: list[str] = []
    for method in _READS:
        real = getattr(torch.Tensor, method)

        def counting(self: torch.Tensor, *args: Any, _m: str = method, _r: Any = real) -> Any:
            stack = traceback.extract_stack(limit=8)
            peer = any(f"{os.sep}{lib}{os.sep}" in f.filename for f in stack for lib in _PEERS)
            calls.append(_m + (" in a peer" if peer else ""))
            return _r(self, *args)

        monkeypatch.setattr(torch.Tensor, method, counting)
    return calls


@pytest.fixture
def as_on_a_device() -> Iterator[None]:
    """Every mmnoise module decides as it does on CUDA for the test (tests.strategies)."""
    with as_on_cuda():
        yield
