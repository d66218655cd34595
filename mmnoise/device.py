"""Where a check reads its verdict: on the host for CPU data, as a device assertion elsewhere.

One rule for every check in mmnoise (:func:`reads_on_host`): CPU data outside ``torch.compile``
is read on the host at once and a failure is a clear Python error; on CUDA and inside a
compiled region a read-back would stall the host or break the graph, so the check becomes a
``torch._assert_async`` device assertion (:func:`device_check`). :func:`check_bounds` is the one
range check built on that rule.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["check_bounds", "device_check", "reads_on_host"]


def reads_on_host(device: torch.device) -> bool:
    """Whether a check on data on ``device`` may read its verdict on the host here and now.

    True only for CPU data outside ``torch.compile``: the value is already in host memory, so
    reading it costs no device sync and gives a clear Python error. On CUDA (a read would stall
    the host until the device catches up) and inside a compiled region (a read breaks the graph)
    checks become device assertions instead (:func:`device_check`).

    Example:
        >>> reads_on_host(torch.device("cpu"))
        True
    """
    return device.type == "cpu" and not torch.compiler.is_compiling()


def device_check(ok: Tensor, message: str) -> None:
    """Raise ``ValueError(message)`` unless the 0-d bool tensor ``ok`` is True, without a sync.

    Where :func:`reads_on_host` holds, ``ok`` is read on the host and a failure raises a
    ``ValueError`` at once (:func:`check_bounds` reads the offending range there instead of a
    tensor verdict). Elsewhere it is ``torch._assert_async(ok, message)``: no device-to-host
    read-back and no graph break. On CUDA a failure then surfaces at a later kernel launch as a
    device-side assertion, which leaves the CUDA context unusable (the process must restart):
    it keeps the guarantee (bad data never passes silently) at the price of a late, blunt error.
    Pass ``check_finite=False`` to a transform to skip the finite check instead.

    Example:
        >>> device_check(torch.tensor(True), "never raised")
    """
    if reads_on_host(ok.device):
        if not bool(ok):
            raise ValueError(message)
    else:
        torch._assert_async(ok, message)


def check_bounds(
    values: Tensor,
    low: float,
    high: float,
    *,
    expected: str,
    fix: str,
    open_low: bool = False,
    open_high: bool = False,
    got: str = "values in [{low}, {high}]",
) -> None:
    """Raise ``ValueError`` unless every value lies between ``low`` and ``high`` (a NaN does not).

    The bounds are inclusive unless ``open_low`` / ``open_high``. Where :func:`reads_on_host`
    holds, the extremes are read as host numbers (:func:`_extremes`: up to 256 values at once,
    more through one ``aminmax``) and compared in Python (no tensor comparisons), and the error says ``f"{expected}, got {got}; {fix}"`` with the extremes
    filled in; elsewhere the comparison is a :func:`device_check` with ``f"{expected}; {fix}"``.

    Example:
        >>> check_bounds(torch.tensor([2, 9]), 1, 5, expected="demo: expected 1 <= n <= 5",
        ...              fix="shorten them.", got="min {low}, max {high}")
        Traceback (most recent call last):
        ...
        ValueError: demo: expected 1 <= n <= 5, got min 2, max 9; shorten them.
    """
    if reads_on_host(values.device):
        lo, hi = _extremes(values.detach() if values.requires_grad else values)
        above = lo > low if open_low else lo >= low
        below = hi < high if open_high else hi <= high
        if not (above and below):
            raise ValueError(f"{expected}, got {got.format(low=lo, high=hi)}; {fix}")
        return
    above_t = values > low if open_low else values >= low
    below_t = values < high if open_high else values <= high
    device_check((above_t & below_t).all(), f"{expected}; {fix}")


def _extremes(values: Tensor) -> tuple[Any, Any]:
    """(min, max) of ``values`` as host numbers: a few read at once (one op, not three), more
    through one ``aminmax``; a NaN among them is the reduction's (both NaN)."""
    if values.numel() <= 256 and values.dtype != torch.bool:
        host = values.reshape(-1).tolist()
        # v != v: a NaN, which min / max would skip (integers hold none)
        if host and (not values.is_floating_point() or all(v == v for v in host)):
            return min(host), max(host)
    low, high = torch.aminmax(values)
    return low.item(), high.item()
