"""Import cost of ``mmnoise`` against ``import torch`` (``python -m benchmarks.import_time``).

Each module is imported in a fresh interpreter (``python -X importtime -c "import X"``), ``--runs``
times per module, alternating between the modules so a burst of load hits both; the cumulative
microseconds of the top-level module are read from ``-X importtime`` (so interpreter start-up is
not counted). The ratio is taken inside each ``import mmnoise`` interpreter: its cumulative time
over that of the ``torch`` it imports, so that a loaded machine or a warm page cache shifts both
alike (separate interpreters can even report a ratio below 1); the median of the runs is the
verdict. The report also gives the median per module; the target is <= 1.3x (``import mmnoise`` may not pull in anything heavy it does not need). With
``--top N`` it also lists the N heaviest modules that ``import mmnoise`` adds beyond
``import torch``.

This is a measurement, not a test: no timing assert anywhere runs in the test suite.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence

TARGET_RATIO = 1.3


def _importtime(module: str) -> tuple[int, dict[str, int]]:
    """Return (cumulative us of ``module``, {module: self us}) from one fresh interpreter."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
    )
    total = 0
    self_us: dict[str, int] = {}
    cumulative_us: dict[str, int] = {}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line[len("import time:") :].split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue  # the header line
        own, cumulative, name = int(parts[0]), int(parts[1]), parts[2].strip()
        self_us[name] = own
        cumulative_us.setdefault(name, cumulative)
        if name == module:
            total = cumulative
    _CUMULATIVE[module] = cumulative_us
    return total, self_us


_CUMULATIVE: dict[str, dict[str, int]] = {}  # the last run's cumulative us, per top module


def measure(
    modules: Sequence[str] = ("torch", "mmnoise"), *, runs: int = 3
) -> tuple[dict[str, float], dict[str, dict[str, int]]]:
    """Return ({module: median seconds}, {module: self us per imported module, last run})."""
    times: dict[str, list[float]] = {m: [] for m in modules}
    detail: dict[str, dict[str, int]] = {}
    inner: list[float] = []
    for _ in range(runs):
        for m in modules:
            total, self_us = _importtime(m)
            times[m].append(total / 1e6)
            detail[m] = self_us
            torch_us = _CUMULATIVE[m].get("torch", 0)
            if m != "torch" and torch_us > 0:
                inner.append(total / torch_us)
    medians = {m: statistics.median(v) for m, v in times.items()}
    if inner:
        medians["ratio_same_interpreter"] = statistics.median(inner)
    return medians, detail


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.import_time", description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="fresh interpreters per module")
    parser.add_argument("--top", type=int, default=0, help="list the N heaviest extra modules")
    args = parser.parse_args(argv)
    medians, detail = measure(runs=args.runs)
    ratio = medians.pop("ratio_same_interpreter", medians["mmnoise"] / medians["torch"])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {load:.1f}, "
        f"python {sys.version.split()[0]}"
    )
    print(f"median of {args.runs} fresh interpreters (-X importtime, cumulative):")
    for m, s in medians.items():
        print(f"  import {m:<8} {s:7.3f} s")
    verdict = "ok" if ratio <= TARGET_RATIO else "OVER TARGET"
    print(
        f"  mmnoise / torch  {ratio:7.2f}x  (its own torch import, median; target <= "
        f"{TARGET_RATIO}x: {verdict})"
    )
    if args.top:
        extra = {k: v for k, v in detail["mmnoise"].items() if k not in detail["torch"]}
        print(f"heaviest modules beyond torch (self time, last run), top {args.top}:")
        for name, us in sorted(extra.items(), key=lambda kv: -kv[1])[: args.top]:
            print(f"  {us / 1e3:8.1f} ms  {name}")


if __name__ == "__main__":
    main()
