"""Timing machinery: cases, round-robin repeats, statistics, copy bandwidth, machine description.

Method (benchmarks/README.md, "Method"): per case one timed first call, one
warm-up call, one calibration call that sets the inner loop count so that one repeat lasts at
least ``target_s``; then the repeats run round-robin over every case of a group, so a burst from a
neighbour process lands on one repeat of many cases instead of on every repeat of one case.
Ratios between rows of one run are therefore much steadier than absolute times.
"""

from __future__ import annotations

import importlib.metadata
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

Thunk = Callable[[], object]

#: A call slower than this (seconds) is timed without warm-up and in at most 3 rounds.
SLOW_S = 1.0


class MissingPeer(Exception):
    """Raised by a case's ``build`` when the peer library (or mmnoise class) is not installed."""


class CannotRun(Exception):
    """Raised by a case's ``build`` when the case cannot run on this run's device.

    Its row says ``skipped: <message>`` (for example ``skipped: nlpaug runs on the CPU only``), so a
    peer that is left out of a GPU run is visible in the tables instead of silently missing.
    """


@dataclass(frozen=True)
class Case:
    """One row: a library's implementation of one op on the group's inputs.

    Attributes:
        op: the operation, shared by every row that implements it (``"noise@SNR"``).
        library: who implements it (``"mmnoise"``, ``"torch ref"``, ``"torchaudio"``, ...).
        api: the exact call, for the reader.
        build: returns the timed thunk; raises :class:`MissingPeer` if unavailable.
        samples: samples one call processes (examples, clips, sentences).
        nbytes: bytes read + written by one call in the library's native dtype.
        sem: ``=`` same semantics as the reference, ``~`` close, ``!=`` different.
        kind: ``"ref"`` (the plain-torch reference of the op), ``"mmnoise"``, ``"peer"`` or
            ``"bare"`` (a bare torch op whose latency is the unit of a latency group).
        note: a short remark shown in the table.
    """

    op: str
    library: str
    api: str
    build: Callable[[], Thunk]
    samples: int
    nbytes: int
    sem: str = "="
    kind: str = "peer"
    note: str = ""


@dataclass
class Row:
    """The measured result of one case (times in ms per call)."""

    op: str
    library: str
    api: str
    sem: str
    kind: str
    note: str
    status: str = "ok"
    first_ms: float = math.nan
    inner: int = 0
    times_ms: list[float] = field(default_factory=list)
    cpu_util: float = math.nan
    samples: int = 0
    nbytes: int = 0
    x_ref: float | None = None
    bare_ops: float | None = None
    vs_peers: dict[str, float] = field(default_factory=dict)

    @property
    def ms(self) -> float:
        return statistics.median(self.times_ms) if self.times_ms else math.nan

    @property
    def gbps(self) -> float:
        """Achieved GB/s: bytes read + written by one call over the median time of one call."""
        return self.nbytes / (self.ms * 1e-3) / 1e9 if self.times_ms else math.nan

    def pct_copy_bw(self, copy_gbps: float) -> float:
        """:attr:`gbps` as a percentage of the copy bandwidth measured in the same run."""
        return 100.0 * self.gbps / copy_gbps

    def summary(self, copy_gbps: float) -> dict[str, Any]:
        """Return the JSON record of this row (derived columns included)."""
        out = asdict(self)
        if self.times_ms:
            lo, hi = min(self.times_ms), max(self.times_ms)
            out |= {
                "ms_median": self.ms,
                "ms_min": lo,
                "ms_max": hi,
                "us_median": self.ms * 1e3,
                "samples_per_s": self.samples / self.ms * 1e3,
                "samples_per_s_min": self.samples / hi * 1e3,
                "samples_per_s_max": self.samples / lo * 1e3,
                "gbps": self.gbps,
                "pct_copy_bw": self.pct_copy_bw(copy_gbps),
            }
        return out


@dataclass(frozen=True)
class Settings:
    """How long to time (``repeats`` round-robin rounds of >= ``target_s`` s), where, and whether
    peer libraries are timed at all."""

    repeats: int = 5
    target_s: float = 0.2
    device: str = "cpu"
    max_inner: int = 200
    peers: bool = True


def sync(device: str) -> None:
    """Wait for queued device work (CUDA kernels are asynchronous; CPU ops are not)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def synced(thunk: Thunk, device: str) -> Thunk:
    """Wrap ``thunk`` so that every call waits for its device work (per-call latency, not rate)."""

    def run() -> object:
        out = thunk()
        sync(device)
        return out

    return run


def _tensors(out: object) -> list[torch.Tensor]:
    """Every tensor in a call's output (nested dicts, lists and tuples)."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return [t for v in out.values() for t in _tensors(v)]
    if isinstance(out, list | tuple):
        return [t for v in out for t in _tensors(v)]
    return []


def off_device(out: object, device: str) -> str | None:
    """Return where the output's largest tensor lives if that is not ``device``, else None.

    A peer that quietly moves the work to the CPU (or anywhere else) would be timed on another
    device than mmnoise; the largest tensor of its output says where the work happened (small
    bookkeeping tensors are allowed to live elsewhere). Outputs without tensors are not judged.
    """
    tensors = _tensors(out)
    if not tensors:
        return None
    big = max(tensors, key=lambda t: t.numel() * t.element_size())
    want = torch.device(device)
    same = big.device.type == want.type and want.index in (None, big.device.index)
    return None if same else str(big.device)


def _timed(thunk: Thunk, inner: int, device: str) -> tuple[float, float]:
    sync(device)
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(inner):
        thunk()
    sync(device)
    return time.perf_counter() - t0, time.process_time() - c0


def run_cases(cases: Sequence[Case], settings: Settings, log: Callable[[str], None]) -> list[Row]:
    """Time every case of one group (round-robin repeats) and return one row per case."""
    rows: list[Row] = []
    live: list[tuple[Row, Thunk]] = []
    for case in cases:
        row = Row(
            case.op, case.library, case.api, case.sem, case.kind, case.note,
            samples=case.samples, nbytes=case.nbytes,
        )  # fmt: skip
        rows.append(row)
        if case.kind == "peer" and not settings.peers:
            row.status = "skipped (--no-peers)"
            continue
        try:
            thunk = case.build()
            sync(settings.device)
            t0 = time.perf_counter()
            out = thunk()
            sync(settings.device)
            first = once = time.perf_counter() - t0
            where = off_device(out, settings.device)
            if where is not None:
                row.status = f"skipped: its output is on {where}, not on {settings.device}"
                continue
            if first < SLOW_S:  # slow cases skip the warm-up and calibration calls
                thunk()
                once, _ = _timed(thunk, 1, settings.device)
        except MissingPeer as e:
            row.status = f"not installed ({e})" if str(e) else "not installed"
            continue
        except CannotRun as e:
            row.status = f"skipped: {e}"
            continue
        except Exception as e:  # a peer that breaks is a result, not a crash of the run
            row.status = (
                f"error: {type(e).__name__}: {str(e).splitlines()[0][:90] if str(e) else ''}"
            )
            continue
        row.first_ms = first * 1e3
        row.inner = max(1, min(settings.max_inner, math.ceil(settings.target_s / max(once, 1e-7))))
        live.append((row, thunk))
        log(f"  ready  {case.op:28s} {case.library:24s} {once * 1e3:9.2f} ms x{row.inner}")
    cpu: dict[int, list[float]] = {id(r): [] for r, _ in live}
    for rep in range(settings.repeats):
        for row, thunk in live:
            if row.status != "ok":
                continue
            # very slow cases (a Python loop per example) get fewer rounds to keep the run short
            if rep >= 3 and row.times_ms and min(row.times_ms) * row.inner > SLOW_S * 1e3:
                continue
            try:
                wall, cpu_s = _timed(thunk, row.inner, settings.device)
            except Exception as e:
                row.status = f"error: {type(e).__name__}: {str(e)[:90]}"
                continue
            row.times_ms.append(wall / row.inner * 1e3)
            cpu[id(row)].append(cpu_s / max(wall, 1e-9))
    for row, _ in live:
        if cpu[id(row)]:
            row.cpu_util = statistics.median(cpu[id(row)])
    _ratios(rows)
    return rows


def _ratios(rows: Sequence[Row]) -> None:
    """Fill ``x_ref`` (reference time / row time), for mmnoise rows the ratio to each peer, and
    where the group has a bare torch op, ``bare_ops`` (row time / the first bare op's time)."""
    ok = [r for r in rows if r.status == "ok" and r.times_ms]
    bare = next((r for r in ok if r.kind == "bare"), None)
    if bare is not None:
        for r in ok:
            r.bare_ops = r.ms / bare.ms
    for op in {r.op for r in ok}:
        same = [r for r in ok if r.op == op]
        refs = [r for r in same if r.kind == "ref"]
        for r in same:
            if refs:
                r.x_ref = refs[0].ms / r.ms
            if r.kind == "mmnoise":
                r.vs_peers = {
                    f"{p.library}: {p.api}": p.ms / r.ms for p in same if p.kind == "peer"
                }


def paired_ratios(num: Row, den: Row) -> list[float]:
    """``num`` time / ``den`` time in each round-robin repeat both ran (x faster for ``den``).

    The two calls of one repeat ran seconds apart, so a burst from a neighbour process moves
    both; the spread of these ratios is the run's own noise for this comparison.
    """
    return [n / d for n, d in zip(num.times_ms, den.times_ms, strict=False)]


def copy_bandwidth(device: str, mib: int, repeats: int = 5) -> dict[str, float]:
    """Measure ``dst.copy_(src)`` on a preallocated ``mib`` MiB buffer: GB/s of read + write."""
    n = mib * (1 << 20) // 4
    src = torch.ones(n, device=device)
    dst = torch.empty_like(src)
    dst.copy_(src)
    rates = []
    for _ in range(repeats):
        wall, _ = _timed(lambda: dst.copy_(src), 1, device)
        rates.append(2 * src.numel() * 4 / wall / 1e9)
    return {
        "gbps": statistics.median(rates),
        "gbps_min": min(rates),
        "gbps_max": max(rates),
        "mib": float(mib),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _mem_gib() -> float:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            kib = int(f.readline().split()[1])
        return kib / (1 << 20)
    except (OSError, ValueError, IndexError):
        return math.nan


PACKAGES = (
    "mmnoise",
    "torch",
    "torchaudio",
    "kornia",
    "numpy",
    "torch-audiomentations",
    "audiomentations",
    "nlpaug",
    "albumentations",
    "opencv-python-headless",
)


def machine(device: str) -> dict[str, Any]:
    """Describe the machine, the thread settings and the library versions of this run."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "memory_gib": round(_mem_gib(), 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
        "load_average_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
        "versions": versions,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(torch.device(device))
        info["gpu"] = f"{props.name}, {props.total_memory / (1 << 30):.0f} GiB"
    return info


def fmt_rate(v: float) -> str:
    """Format a rate compactly: 1234 -> '1234', 12345 -> '12.3k', 1.2e6 -> '1.20M'."""
    if not math.isfinite(v):
        return "-"
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    if v >= 1e4:
        return f"{v / 1e3:.1f}k"
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}"
