"""Benchmark shapes and the seeded inputs built once per run."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from benchmarks.harness import CannotRun, MissingPeer


@dataclass(frozen=True)
class Shapes:
    """Every shape of the benchmark (defaults: the issue's shapes; ``tiny()`` for smoke tests)."""

    batch: int = 128
    steps: int = 50
    dims: dict[str, int] = field(
        default_factory=lambda: {"audio": 1582, "visual": 342, "text": 1024}
    )
    audio_small: int = 130
    wave: tuple[int, int, int] = (32, 1, 48000)
    sample_rate: int = 16000
    rir_len: int = 4800
    clips: tuple[int, int, int, int, int] = (8, 16, 3, 112, 112)
    tokens: tuple[int, int] = (128, 64)
    vocab: int = 30000
    copy_mib: int = 512
    #: the "small" (latency) group: batch, steps and feature dims of every modality
    small: tuple[int, int, int] = (2, 8, 16)

    @staticmethod
    def tiny() -> Shapes:
        """Small shapes that exercise every code path in well under a second."""
        return Shapes(
            batch=4,
            steps=6,
            dims={"audio": 10, "visual": 6, "text": 8},
            audio_small=5,
            wave=(2, 1, 4000),
            rir_len=400,
            clips=(2, 2, 3, 16, 16),
            tokens=(4, 8),
            vocab=100,
            copy_mib=4,
        )


def nbytes(t: Tensor) -> int:
    """Bytes held by a tensor."""
    return t.numel() * t.element_size()


@dataclass
class Inputs:
    """Seeded inputs shared by every row of a group (built once, never modified)."""

    shapes: Shapes
    device: str
    features: dict[str, Tensor]
    lengths: dict[str, Tensor]
    audio_small: Tensor
    audio_small_lengths: Tensor
    level: Tensor
    snr_db: Tensor
    cache: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def build(shapes: Shapes, device: str) -> Inputs:
        g = torch.Generator().manual_seed(0)
        b, t = shapes.batch, shapes.steps
        feats = {n: torch.randn(b, t, d, generator=g).to(device) for n, d in shapes.dims.items()}
        # real utterances are shorter than the padded length: valid lengths in [T/2, T]
        lengths = {
            n: torch.randint(max(1, t // 2), t + 1, (b,), generator=g).to(device) for n in feats
        }
        small = torch.randn(b, t, shapes.audio_small, generator=g).to(device)
        small_len = torch.randint(max(1, t // 2), t + 1, (b,), generator=g).to(device)
        # per-example severity U(0, 1] -> SNR U(5, 20) dB with snr_db=(20, 5)
        level = (1.0 - torch.rand(b, generator=g)).to(device)
        return Inputs(
            shapes=shapes,
            device=device,
            features=feats,
            lengths=lengths,
            audio_small=small,
            audio_small_lengths=small_len,
            level=level,
            snr_db=20.0 - 15.0 * level,
        )

    def sample(self) -> dict[str, Any]:
        """The feature batch as an mmnoise sample dict."""
        return {**self.features, "lengths": dict(self.lengths)}

    def generator(self, seed: int = 1) -> torch.Generator:
        """A generator on the benchmark device."""
        return torch.Generator(device=self.device).manual_seed(seed)

    def cpu_only(self, library: str) -> None:
        """Refuse a CPU-only peer on an accelerator run (its row says "skipped: ..." and why)."""
        if self.device != "cpu":
            raise CannotRun(f"{library} runs on the CPU only")

    def on_device(self, module: Any) -> Any:
        """Move a peer's ``torch.nn.Module`` (its buffers, kernels) to the benchmark device.

        Peers must run where mmnoise runs; other objects are returned unchanged.
        """
        return module.to(self.device) if isinstance(module, torch.nn.Module) else module


def mmnoise_class(module: str, name: str) -> Any:
    """Return an mmnoise transform class, or raise :class:`MissingPeer` if this build lacks it."""
    import importlib

    try:
        return getattr(importlib.import_module(f"mmnoise.transforms.{module}"), name)
    except (ImportError, AttributeError) as e:
        raise MissingPeer(f"mmnoise.transforms.{module}.{name} not in this build") from e


def need(module: str, library: str | None = None) -> Any:
    """Import a peer library or raise :class:`MissingPeer` (its row says "not installed")."""
    import importlib

    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no PyPI check at import
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingPeer(library or module.split(".")[0]) from e
