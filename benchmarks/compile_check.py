"""Which transforms work under ``torch.compile``: ``python -m benchmarks.compile_check``.

Every transform of the contract table (tests/contract, one row per public transform and
configuration) is called on a small padded batch of its kind, eagerly and compiled, with the
same seed. Reported per row: the number of graph breaks TorchDynamo finds in the transform call
(and the first reason), whether the compiled call runs, and whether its output equals the eager
output. A graph break is not a failure: the code around it still runs, compiled in pieces; it
does mean that ``fullgraph=True`` (and CUDA graphs of the whole call) is not available.

Writes benchmarks/results/compile.md (and prints it).
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from mmnoise.sample import time_dim

KEY = "m"
SHAPES = {
    "features": (2, 8, 4),
    "waveform": (2, 1, 256),
    "frames": (2, 3, 3, 16, 16),
    "tokens": (2, 10),
}


def _sample(kind: str, extra: dict[str, Any]) -> dict[str, Any]:
    g = torch.Generator().manual_seed(0)
    shape = SHAPES[kind]
    if kind == "tokens":
        x = torch.randint(4, 50, shape, generator=g)
    elif kind == "frames":
        x = torch.rand(shape, generator=g)
    else:
        x = torch.randn(shape, generator=g)
    size = shape[time_dim(kind)]  # type: ignore[arg-type]
    lengths = torch.tensor([size, max(1, size // 2)])
    return {KEY: x, "lengths": {KEY: lengths}, "kinds": {KEY: kind}, **extra}


def _first_reason(explanation: Any) -> str:
    reasons = getattr(explanation, "break_reasons", []) or []
    if not reasons:
        return ""
    text = str(getattr(reasons[0], "reason", reasons[0])).splitlines()[0]
    return text[:110]


def _try(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, backend: str
) -> dict[str, Any]:
    """Graph breaks of ``fn`` and whether ``torch.compile(fn)`` runs and matches eager."""
    row: dict[str, Any] = {"breaks": "-", "reason": "", "runs": "no", "equal": "-"}
    eager = fn(x)
    torch._dynamo.reset()
    try:
        explanation = torch._dynamo.explain(fn)(x)
        row["breaks"] = explanation.graph_break_count
        row["reason"] = _first_reason(explanation)
    except Exception as e:
        row["reason"] = f"explain failed: {type(e).__name__}: {str(e).splitlines()[0][:80]}"
    torch._dynamo.reset()
    try:
        out = torch.compile(fn, backend=backend)(x)
        row["runs"] = "yes"
        same = out.shape == eager.shape and bool(
            torch.equal(out, eager)
            if not out.is_floating_point()
            else torch.allclose(out, eager, atol=1e-5, rtol=1e-4)
        )
        row["equal"] = "yes" if same else "no"
    except Exception as e:
        # BackendCompilerFailed wraps the real error: report that one
        inner = getattr(e, "inner_exception", None) or e.__cause__ or e
        text = next((ln for ln in str(inner).splitlines() if ln.strip()), "")
        row["runs"] = f"no: {type(inner).__name__}: {text[:100]}"
        if "-v" in sys.argv:
            traceback.print_exc()
    return row


def check(case: Any, backend: str) -> dict[str, Any]:
    """Check one contract case, the whole transform call and its kernel; never raises."""
    from mmnoise.rng import make_generator

    t = case.build(KEY)
    sample = _sample(case.kind, case.extra)
    lengths = sample["lengths"][KEY]

    def call(x: torch.Tensor) -> torch.Tensor:
        g = torch.Generator().manual_seed(7)
        out: torch.Tensor = t({**sample, KEY: x}, level=0.7, generator=g)[KEY]
        return out

    _, rec = t.run(sample, level=0.7, generator=torch.Generator().manual_seed(7))
    params = dict(rec["keys"][KEY]["params"])
    seed = params.pop("seed", None)
    if t._kernel_takes_time_dim:
        params["time_dim"] = time_dim(case.kind)

    def kernel(x: torch.Tensor) -> torch.Tensor:
        kw = dict(params)
        if seed is not None:
            kw["generator"] = make_generator(int(seed))
        out: torch.Tensor = type(t).kernel(x, **kw, **t.kernel_kwargs(), lengths=lengths)
        return out

    x = sample[KEY]
    whole, kern = _try(call, x, backend), _try(kernel, x, backend)
    return {"case": case.id, **{f"call_{k}": v for k, v in whole.items()},
            **{f"kernel_{k}": v for k, v in kern.items()}}  # fmt: skip


def markdown(rows: Sequence[dict[str, Any]], backend: str, seconds: float) -> str:
    """Render the check as a markdown table with a short summary."""

    def works(r: dict[str, Any], part: str) -> bool:
        return bool(r[f"{part}_runs"] == "yes" and r[f"{part}_equal"] == "yes")

    one_graph = [r["case"] for r in rows if r["kernel_breaks"] == 0 and works(r, "kernel")]
    failing = [r["case"] for r in rows if not (works(r, "kernel") and works(r, "call"))]
    lines = [
        "# torch.compile check",
        "",
        f"torch {torch.__version__}, backend `{backend}`, CPU, {len(rows)} contract cases, "
        f"{seconds:.0f} s. For the whole transform call (`t(sample, level=..., generator=g)`) "
        "and for its kernel alone (`mmnoise.functional`, params fixed): `breaks` = graph "
        "breaks TorchDynamo finds (0 = one graph, `fullgraph=True` works); `runs` = the "
        "compiled function runs; `equal` = same output as eager for the same seed.",
        "",
        f"- Kernel in one graph and equal to eager: {len(one_graph)} of {len(rows)}.",
        f"- Not working compiled (error or output different from eager): "
        f"{', '.join(failing) or 'none'}.",
        "",
        "| case | call breaks | call runs | call equal | kernel breaks | first kernel break "
        "| kernel runs | kernel equal |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [
            r["case"], r["call_breaks"], r["call_runs"], r["call_equal"], r["kernel_breaks"],
            r["kernel_reason"], r["kernel_runs"], r["kernel_equal"],
        ]  # fmt: skip
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None, log: Callable[[str], None] = print) -> Path:
    """Run the check over the contract table and write ``compile.md``."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.compile_check")
    p.add_argument("--backend", default="inductor", help="torch.compile backend (inductor)")
    p.add_argument("-k", default="", help="only cases whose id contains this text")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "compile.md")
    p.add_argument("-v", action="store_true", help="print tracebacks")
    args = p.parse_args(argv)
    from tests.contract.table import ALL_CASES  # the one table of every public transform

    t0 = time.perf_counter()
    rows = []
    for case in ALL_CASES:
        if args.k and args.k not in case.id:
            continue
        row = check(case, args.backend)
        log(
            f"{row['case']:40s} call: {row['call_breaks']} breaks, runs {row['call_runs']}, "
            f"equal {row['call_equal']}; kernel: {row['kernel_breaks']} breaks, runs "
            f"{row['kernel_runs']}, equal {row['kernel_equal']}"
        )
        rows.append(row)
    text = markdown(rows, args.backend, time.perf_counter() - t0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    out: Path = args.out
    return out


if __name__ == "__main__":
    print(main().read_text(encoding="utf-8"))
