"""Write a run as markdown (tables for people) and JSON (every number, for tools)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import Row, fmt_rate, paired_ratios


@dataclass
class GroupResult:
    """The rows of one group with its description and kind (see ``benchmarks.cli.Group``)."""

    name: str
    title: str
    rows: list[Row]
    kind: str = "throughput"


def _ms(r: Row) -> str:
    if not r.times_ms:
        return "-"
    return f"{r.ms:.2f} [{min(r.times_ms):.2f}-{max(r.times_ms):.2f}]"


def _x(v: float | None) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.2f}"


def _same_sem_peers(row: Row, rows: Sequence[Row]) -> list[Row]:
    return [
        p for p in rows
        if p.op == row.op and p.kind == "peer" and p.status == "ok" and p.times_ms
        and p.sem in ("=", "~")
    ]  # fmt: skip


def summary(groups: Sequence[GroupResult]) -> list[dict[str, Any]]:
    """One entry per mmnoise row: its rate, x ref, the fastest same-semantics peer, every peer."""
    out = []
    for grp in groups:
        if grp.kind != "throughput":  # yardsticks and latencies are not compared with peers
            continue
        for r in grp.rows:
            if r.kind != "mmnoise" or r.status != "ok" or not r.times_ms:
                continue
            peers = _same_sem_peers(r, grp.rows)
            best = min(peers, key=lambda p: p.ms) if peers else None
            out.append(
                {
                    "group": grp.name,
                    "op": r.op,
                    "api": r.api,
                    "samples_per_s": r.samples / r.ms * 1e3,
                    "x_ref": r.x_ref,
                    "fastest_peer": None if best is None else f"{best.library} ({best.sem})",
                    "x_fastest_peer": None if best is None else best.ms / r.ms,
                    "x_peers": {f"{p.library} ({p.sem})": p.ms / r.ms for p in peers},
                    "x_peers_per_repeat": {
                        f"{p.library} ({p.sem})": (min(x), max(x))
                        for p in peers
                        if (x := paired_ratios(p, r))
                    },
                }
            )
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _us(r: Row) -> str:
    if not r.times_ms:
        return "-"
    return f"{r.ms * 1e3:.1f} [{min(r.times_ms) * 1e3:.1f}-{max(r.times_ms) * 1e3:.1f}]"


def _latency_row_md(r: Row, copy_gbps: float) -> str:
    lib = f"**{r.library}**" if r.kind == "mmnoise" else r.library
    lib += {"ref": " (ref)", "bare": " (bare op)"}.get(r.kind, "")
    head = f"| {r.op} | {lib} | {_cell(r.api)} |"
    if r.status != "ok":
        return f"{head} {_cell(r.status)} | | | | | {_cell(r.note)} |"
    return (
        f"{head} {_us(r)} | {_x(r.bare_ops)} | {r.gbps:.3f} | {r.pct_copy_bw(copy_gbps):.1f}% | "
        f"{r.first_ms:.1f} | {_cell(r.note)} |"
    )


LATENCY_HEADER = (
    "| op | library | API | µs/call median [min-max] | x bare op | GB/s | % BW | 1st call ms | note |",
    "|---|---|---|---|---|---|---|---|---|",
)
THROUGHPUT_HEADER = (
    "| op | library | API | sem | ms/batch [min-max] | samples/s [min-max] | GB/s | % BW | x ref | CPU util | 1st call ms | note |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
)


def targets_md(targets: Sequence[dict[str, Any]]) -> list[str]:
    """One line per target: ``- **PASS** target: measured`` (FAIL, INFO or N/A likewise)."""
    return [f"- **{t['status'].upper()}** {t['target']}: {t['measured']}" for t in targets]


def _row_md(r: Row, copy_gbps: float) -> str:
    s = r.summary(copy_gbps)
    api, note = _cell(r.api), _cell(r.note)
    lib = f"**{r.library}**" if r.kind == "mmnoise" else r.library
    if r.kind == "ref":
        lib += " (ref)"
    if r.status != "ok":
        return f"| {r.op} | {lib} | {api} | {r.sem} | {_cell(r.status)} | | | | | | | {note} |"
    rate = (
        f"{fmt_rate(s['samples_per_s'])} [{fmt_rate(s['samples_per_s_min'])}-"
        f"{fmt_rate(s['samples_per_s_max'])}]"
    )
    return (
        f"| {r.op} | {lib} | {api} | {r.sem} | {_ms(r)} | {rate} | {s['gbps']:.2f} | "
        f"{s['pct_copy_bw']:.0f}% | {_x(r.x_ref)} | {r.cpu_util:.2f} | {r.first_ms:.1f} | {note} |"
    )


def markdown(
    meta: dict[str, Any], groups: Sequence[GroupResult], targets: Sequence[dict[str, Any]]
) -> str:
    """Render the whole run as one markdown document."""
    m = meta["machine"]
    bw = meta["copy_bandwidth"]
    lines = [
        "# mmnoise benchmark results",
        "",
        f"Run {meta['started']} ({meta['wall_s']:.0f} s), `{meta['command']}`.",
        "",
        f"- Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs, {m['memory_gib']} GiB, "
        f"{m['platform']}; torch threads {m['torch_threads']}; device `{m['device']}`"
        + (f" ({m['gpu']})" if "gpu" in m else "")
        + ".",
        f"- Load average (1, 5, 15 min) at start {m['load_average_start']}, at end "
        f"{meta['load_average_end']}: other processes share this machine when these exceed "
        "zero; read ratios, not absolute times.",
        f"- Copy bandwidth on `{m['device']}` ({bw['start']['mib']:.0f} MiB `copy_`, read + "
        f"write): {bw['start']['gbps']:.1f} GB/s [{bw['start']['gbps_min']:.1f}-"
        f"{bw['start']['gbps_max']:.1f}] at start, {bw['end']['gbps']:.1f} GB/s at end; every "
        "% BW below is a share of the start value.",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".",
        f"- Settings: {meta['settings']['repeats']} round-robin repeats of >= "
        f"{meta['settings']['target_s']} s per case; GLIBC_TUNABLES "
        f"`{m['glibc_tunables'] or '(unset: default allocator)'}`.",
        "",
        "Columns: ms per batch median [min-max] over the repeats; samples/s median [min-max]; "
        "GB/s = bytes read + written by one call / median time of one call; % BW = that GB/s as "
        "a share of the copy bandwidth above; x ref = reference time / "
        "row time (> 1 is faster than the plain-torch reference); CPU util = CPU seconds per "
        "wall second (2.0 = both cores busy); sem: `=` same semantics as the reference, `~` "
        "close (see note), `!=` different. Latency groups: µs per call (each call waits for "
        "its device work) and x bare op = latency / the latency of the group's first bare "
        "torch op (the fixed cost of a call, in bare ops).",
        "",
    ]
    if targets:
        lines += ["## Targets (issues 6, 14, 24 and 26)", "", *targets_md(targets), ""]
    lines += [
        "## mmnoise against the reference and the peers",
        "",
        "| group | op | mmnoise API | samples/s | x torch ref | fastest peer (same or close semantics) | x fastest peer | x each peer |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in summary(groups):
        each = ", ".join(f"{k} {v:.2f}" for k, v in s["x_peers"].items()) or "-"
        lines.append(
            f"| {s['group']} | {s['op']} | {s['api']} | {fmt_rate(s['samples_per_s'])} | "
            f"{_x(s['x_ref'])} | {s['fastest_peer'] or 'none'} | {_x(s['x_fastest_peer'])} | {each} |"
        )
    lines.append("")
    for grp in groups:
        latency = grp.kind == "latency"
        lines += [
            f"## {grp.name}",
            "",
            grp.title,
            "",
            *(LATENCY_HEADER if latency else THROUGHPUT_HEADER),
        ]
        row_md = _latency_row_md if latency else _row_md
        lines += [row_md(r, bw["start"]["gbps"]) for r in grp.rows]
        lines.append("")
    return "\n".join(lines)


def write(
    out_dir: Path,
    meta: dict[str, Any],
    groups: Sequence[GroupResult],
    targets: Sequence[dict[str, Any]],
) -> tuple[Path, Path]:
    """Write ``latest.md`` and ``latest.json`` into ``out_dir`` and return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    gbps = meta["copy_bandwidth"]["start"]["gbps"]
    data = {
        "meta": meta,
        "targets": list(targets),
        "summary": summary(groups),
        "groups": {
            g.name: {"title": g.title, "kind": g.kind, "rows": [r.summary(gbps) for r in g.rows]}
            for g in groups
        },
    }
    md_path, json_path = out_dir / "latest.md", out_dir / "latest.json"
    md_path.write_text(markdown(meta, groups, targets) + "\n", encoding="utf-8")
    text = json.dumps(_clean(data), indent=1, allow_nan=False)
    json_path.write_text(text + "\n", encoding="utf-8")
    return md_path, json_path


def _clean(v: Any) -> Any:
    """Make a value strict JSON: NaN / inf become null, tuples lists, other objects strings."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    if v is None or isinstance(v, bool | int | str):
        return v
    return str(v)
