"""Smoke test of the benchmark machinery: tiny shapes, one repeat, structure only (no timings)."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import cli
from benchmarks.harness import CannotRun, Case, MissingPeer, Row, Settings, _ratios, run_cases
from benchmarks.inputs import Inputs, Shapes, need
from benchmarks.report import GroupResult, markdown, targets_md

ROOT = Path(__file__).resolve().parents[1]


def _quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("bench")
    args = cli.parse(["--tiny", "--no-peers", "--repeats", "1", "--out", str(out)])
    return cli.run(args, _quiet)


def test_tiny_run_writes_json_with_every_group_and_row(run: tuple[Path, Path]) -> None:
    _, js = run
    data = json.loads(js.read_text(encoding="utf-8"))
    assert set(data) == {"meta", "targets", "summary", "groups"}
    assert list(data["groups"]) == list(cli.GROUPS)
    assert data["meta"]["copy_bandwidth"]["start"]["gbps"] > 0
    assert data["meta"]["machine"]["cpu"] and data["meta"]["settings"]["repeats"] == 1
    for name, group in data["groups"].items():
        rows = group["rows"]
        assert rows, name
        for r in rows:
            if r["kind"] == "peer":
                assert r["status"] == "skipped (--no-peers)", r
                continue
            # every mmnoise row and torch reference runs, with all derived columns
            assert r["status"] == "ok", r
            assert len(r["times_ms"]) == 1 and r["ms_median"] > 0
            assert r["samples_per_s"] > 0 and r["gbps"] > 0 and r["pct_copy_bw"] > 0
            if r["kind"] == "ref":
                assert r["x_ref"] == pytest.approx(1.0)
    assert data["groups"]["small"]["kind"] == "latency"
    assert data["groups"]["limits"]["kind"] == "yardstick"
    ops_with_mm = {
        r["op"]
        for name, g in data["groups"].items()
        for r in g["rows"]
        # yardsticks and latencies are not summarised
        if r["kind"] == "mmnoise" and g["kind"] == "throughput"
    }
    assert {s["op"] for s in data["summary"]} == ops_with_mm
    targets = {t["target"]: t for t in data["targets"]}
    assert "feature noise@SNR >= 1.5x plain-torch reference" in targets
    assert "multimodal feature pipeline >= 2.5x plain out-of-place torch" in targets
    # the bandwidth targets are for a GPU: on this CPU run they are information, not verdicts
    bw = targets["multimodal feature pipeline >= 50% of copy bandwidth (applies on cuda only)"]
    assert bw["status"] == "info" and "GB/s" in bw["measured"]
    # a peer that did not run makes its target "n/a" with the reason, not a silent omission
    ta = targets["feature noise@SNR >= 4x torch-audiomentations"]
    assert ta["status"] == "n/a" and "skipped (--no-peers)" in ta["measured"]


def test_tiny_run_writes_markdown_tables(run: tuple[Path, Path]) -> None:
    md, js = run
    text = md.read_text(encoding="utf-8")
    data = json.loads(js.read_text(encoding="utf-8"))
    assert text.startswith("# mmnoise benchmark results")
    header = "| op | library | API | sem | ms/batch [min-max] |"
    latency = "| op | library | API | µs/call median [min-max] | x bare op |"
    assert text.count(header) == len(cli.GROUPS) - 1 and text.count(latency) == 1
    for name, group in data["groups"].items():
        assert f"## {name}\n" in text
        for r in group["rows"]:
            assert f"| {r['op']} |" in text
    # every table line has the same number of cells as its header (escaped pipes stay inside)
    for line in text.splitlines():
        if line.startswith("| ") and "---" not in line:
            cells = line.replace("\\|", "").count("|")
            assert cells in (9, 10, 13), line
    # the header states the copy bandwidth the % BW column divides by
    gbps = data["meta"]["copy_bandwidth"]["start"]["gbps"]
    assert f"`copy_`, read + write): {gbps:.1f} GB/s" in text
    # targets are pass / fail / info / n/a lines, one per target
    lines = [line for line in text.splitlines() if line.startswith("- **")]
    assert lines == targets_md(data["targets"]) and len(lines) == len(data["targets"])


def test_gbps_is_bytes_read_and_written_over_time(run: tuple[Path, Path]) -> None:
    md, js = run
    data = json.loads(js.read_text(encoding="utf-8"))
    copy_gbps = data["meta"]["copy_bandwidth"]["start"]["gbps"]
    (row,) = [r for r in data["groups"]["pipeline"]["rows"] if r["kind"] == "mmnoise"]
    # tiny shapes: 4 examples x 6 steps x (10 + 6 + 8) float32 dims, read once and written once
    assert row["nbytes"] == 2 * 4 * 6 * (10 + 6 + 8) * 4
    seconds = row["ms_median"] / 1e3
    assert row["gbps"] == pytest.approx(row["nbytes"] / seconds / 1e9)
    assert row["pct_copy_bw"] == pytest.approx(100 * row["gbps"] / copy_gbps)
    line = next(
        x
        for x in md.read_text(encoding="utf-8").splitlines()
        if x.startswith(f"| {row['op']} | **mmnoise** |")
    )
    assert f"| {row['gbps']:.2f} | {row['pct_copy_bw']:.0f}% |" in line


def test_small_group_reports_latency_in_bare_ops(run: tuple[Path, Path]) -> None:
    md, js = run
    data = json.loads(js.read_text(encoding="utf-8"))
    rows = data["groups"]["small"]["rows"]
    bare = rows[0]
    assert bare["kind"] == "bare" and bare["api"].startswith("x + 1")
    assert {r["status"] for r in rows} == {"ok"}
    libs = {(r["op"], r["kind"]) for r in rows}
    assert ("pipeline, 3 modalities, B=1", "mmnoise") in libs
    assert ("noise@SNR, 3 modalities", "mmnoise") in libs
    for r in rows:
        assert r["bare_ops"] == pytest.approx(r["ms_median"] / bare["ms_median"])
        assert r["us_median"] == pytest.approx(1e3 * r["ms_median"])
    text = md.read_text(encoding="utf-8")
    pipe = next(r for r in rows if r["op"] == "pipeline, 3 modalities, B=1")
    assert f"| {pipe['us_median']:.1f} [" in text and f"| {pipe['bare_ops']:.2f} |" in text


def test_missing_and_broken_peers_become_rows_not_crashes() -> None:
    def fine() -> object:
        return lambda: sum(range(10))

    def missing() -> object:
        raise MissingPeer("somepeer")

    def broken() -> object:
        raise RuntimeError("boom\nsecond line")

    cases = [
        Case("op", "torch ref", "ref", fine, 1, 8, kind="ref"),
        Case("op", "mmnoise", "mm", fine, 1, 8, kind="mmnoise"),
        Case("op", "somepeer", "p", missing, 1, 8),
        Case("op", "otherpeer", "q", broken, 1, 8),
        Case("op", "fastpeer", "r", fine, 1, 8, sem="~"),
    ]
    rows = run_cases(cases, Settings(repeats=2, target_s=0.0), _quiet)
    ref, mm, miss, err, ok = rows
    assert miss.status == "not installed (somepeer)"
    assert err.status == "error: RuntimeError: boom"
    assert ref.status == mm.status == ok.status == "ok" and len(mm.times_ms) == 2
    assert math.isfinite(mm.x_ref or math.nan)
    assert list(mm.vs_peers) == ["fastpeer: r"]


def test_a_peer_that_cannot_run_on_the_device_is_skipped_with_the_reason() -> None:
    on_gpu = dataclasses.replace(Inputs.build(Shapes.tiny(), "cpu"), device="cuda")

    def cpu_only_peer() -> object:
        on_gpu.cpu_only("nlpaug")
        return lambda: None

    def elsewhere() -> object:
        # a peer that quietly computes on another device than the run's
        return lambda: (torch.zeros(1), torch.empty(64, device="meta"))

    with pytest.raises(CannotRun, match="nlpaug runs on the CPU only"):
        cpu_only_peer()
    cases = [
        Case("op", "mmnoise", "mm", lambda: lambda: torch.zeros(3), 1, 8, kind="mmnoise"),
        Case("op", "nlpaug", "p", cpu_only_peer, 1, 8),
        Case("op", "otherpeer", "q", elsewhere, 1, 8),
    ]
    mm, cpu_only, off = run_cases(cases, Settings(repeats=1, target_s=0.0), _quiet)
    assert mm.status == "ok"
    assert cpu_only.status == "skipped: nlpaug runs on the CPU only"
    assert off.status == "skipped: its output is on meta, not on cpu"
    # and the rows stay in the tables with their reason
    meta = {
        "started": "now", "wall_s": 0.0, "command": "test", "load_average_end": None,
        "machine": {"cpu": "c", "logical_cpus": 1, "memory_gib": 1, "platform": "p",
                    "torch_threads": 1, "device": "cpu", "load_average_start": None,
                    "glibc_tunables": "", "versions": {}},
        "settings": {"repeats": 1, "target_s": 0.0},
        "copy_bandwidth": {w: {"gbps": 1.0, "gbps_min": 1.0, "gbps_max": 1.0, "mib": 1.0}
                           for w in ("start", "end")},
    }  # fmt: skip
    text = markdown(meta, [GroupResult("g", "t", [mm, cpu_only, off])], [])
    assert "| skipped: nlpaug runs on the CPU only |" in text


def _timed_row(op: str, library: str, api: str, kind: str, ms: float, nbytes: int) -> Row:
    return Row(op, library, api, "=", kind, "", times_ms=[ms], samples=1, nbytes=nbytes)


def _target_groups(noise_gb: float, pipe_gb: float, peer_ms: float) -> list[GroupResult]:
    """Rows whose achieved GB/s (bytes per 1 ms call) and peer times are chosen by the test."""
    features = [
        _timed_row("noise@SNR", "mmnoise", "AddGaussianSNR(...)", "mmnoise", 1.0, int(noise_gb * 1e6)),
        _timed_row("noise@SNR", "torch ref", "ref", "ref", 2.0, int(noise_gb * 1e6)),
        _timed_row("noise@SNR", "torchaudio", "add_noise", "peer", peer_ms, int(noise_gb * 1e6)),
    ]  # fmt: skip
    pipeline = [
        _timed_row(cli.cases_pipeline.OP, "mmnoise", "pipe", "mmnoise", 1.0, int(pipe_gb * 1e6)),
        _timed_row(cli.cases_pipeline.OP, "torch ref", "ref", "ref", 3.0, int(pipe_gb * 1e6)),
    ]  # fmt: skip
    for rows in (features, pipeline):
        _ratios(rows)
    return [GroupResult("features", "", features), GroupResult("pipeline", "", pipeline)]


def test_targets_are_pass_fail_on_cuda_and_information_on_cpu() -> None:
    # copy bandwidth 100 GB/s: noise at 60 GB/s (60 %), pipeline at 40 GB/s (40 %), one peer
    # with the same semantics faster than mmnoise (0.5 ms against 1 ms)
    groups = _target_groups(noise_gb=60.0, pipe_gb=40.0, peer_ms=0.5)
    gpu = {t["target"]: t for t in cli._targets(groups, "cuda", 100.0)}
    noise = gpu["feature noise@SNR >= 50% of copy bandwidth"]
    assert noise["status"] == "pass" and noise["measured"].startswith("60% (60.0 of 100.0 GB/s)")
    assert gpu["multimodal feature pipeline >= 50% of copy bandwidth"]["status"] == "fail"
    assert gpu["feature noise@SNR >= 1.5x plain-torch reference"]["status"] == "pass"
    assert gpu["multimodal feature pipeline >= 2.5x plain out-of-place torch"]["status"] == "pass"
    peers = gpu["every mmnoise row >= the fastest peer with the same semantics (=) on cuda"]
    assert peers["status"] == "fail" and "0 of 1 rows" in peers["measured"]
    cpu = {t["target"]: t for t in cli._targets(groups, "cpu", 100.0)}
    assert (
        cpu["feature noise@SNR >= 50% of copy bandwidth (applies on cuda only)"]["status"] == "info"
    )
    assert (
        cpu["every mmnoise row >= the fastest peer with the same semantics (=) on cpu"]["status"]
        == "fail"
    )
    # a faster mmnoise passes the peer target on every device
    fast = {t["target"]: t for t in cli._targets(_target_groups(60.0, 40.0, 2.0), "cpu", 100.0)}
    assert (
        fast["every mmnoise row >= the fastest peer with the same semantics (=) on cpu"]["status"]
        == "pass"
    )
    assert (
        targets_md(list(gpu.values()))[0]
        == "- **PASS** feature noise@SNR >= 50% of copy bandwidth: 60% (60.0 of 100.0 GB/s)"
    )


def test_a_slower_row_says_whether_a_repeat_pair_had_it_ahead() -> None:
    # median 0.9x the peer, but in the second round-robin repeat mmnoise was ahead: within noise
    def rows(mm_ms: list[float]) -> list[GroupResult]:
        feats = [
            Row("noise@SNR", "mmnoise", "AddGaussianSNR(...)", "=", "mmnoise", "", times_ms=mm_ms),
            Row("noise@SNR", "torch ref", "ref", "=", "ref", "", times_ms=[2.0, 2.0, 2.0]),
            Row("noise@SNR", "torchaudio", "add_noise", "=", "peer", "", times_ms=[0.9, 1.2, 0.9]),
        ]  # fmt: skip
        _ratios(feats)
        return [GroupResult("features", "", feats)]

    key = "every mmnoise row >= the fastest peer with the same semantics (=) on cpu"
    noisy = {t["target"]: t for t in cli._targets(rows([1.0, 1.0, 1.0]), "cpu", 100.0)}[key]
    assert noisy["status"] == "fail"
    assert "0 of 1 rows (1 of the 1 slower within noise)" in noisy["measured"]
    assert "0.90x torchaudio (=), per repeat 0.90-1.20" in noisy["measured"]
    slow = {t["target"]: t for t in cli._targets(rows([2.0, 2.0, 2.0]), "cpu", 100.0)}[key]
    assert "(0 of the 1 slower within noise)" in slow["measured"]
    assert "per repeat 0.45-0.60" in slow["measured"]


def test_the_uint8_frames_target_counts_only_the_uint8_rows_and_applies_on_the_cpu() -> None:
    # a float frame row slower than its peer does not fail the uint8 target (issue 26); a uint8
    # row slower than albumentations does, on the CPU only
    def frames(u8_ms: float) -> list[GroupResult]:
        u8 = "brightness" + cli.cases_frames.UINT8  # as the frames group names its uint8 rows
        rows = [
            Row("brightness", "mmnoise", "Brightness(...)", "=", "mmnoise", "", times_ms=[2.0]),
            Row("brightness", "torch ref", "ref", "=", "ref", "", times_ms=[2.0]),
            Row("brightness", "kornia", "adjust", "=", "peer", "", times_ms=[1.0]),
            Row(u8, "mmnoise", "Brightness(...) on uint8", "=", "mmnoise", "", times_ms=[u8_ms]),
            Row(u8, "torch ref", "ref", "=", "ref", "", times_ms=[9.0]),
            Row(u8, "albumentations", "RBC", "=", "peer", "", times_ms=[0.4]),
        ]  # fmt: skip
        _ratios(rows)
        return [GroupResult("frames", "", rows)]

    key = "frames as decoded (uint8): every mmnoise row >= its same-semantics (=) peer on the CPU"
    fast = {t["target"]: t for t in cli._targets(frames(0.35), "cpu", 100.0)}
    assert fast[key]["status"] == "pass" and fast[key]["measured"] == "1 of 1 rows"
    every = "every mmnoise row >= the fastest peer with the same semantics (=) on cpu"
    assert fast[every]["status"] == "fail"  # the float row, against kornia
    slow = {t["target"]: t for t in cli._targets(frames(0.5), "cpu", 100.0)}[key]
    assert slow["status"] == "fail" and "0.80x albumentations (=)" in slow["measured"]
    on_gpu = {t["target"]: t for t in cli._targets(frames(0.5), "cuda", 100.0)}[key]
    assert on_gpu["status"] == "info"


def test_make_bench_takes_the_device() -> None:
    def dry(*args: str) -> str:
        out = subprocess.run(
            ["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, check=True
        )
        return out.stdout

    assert "-m benchmarks --device cpu" in dry("bench")
    assert "-m benchmarks --device cuda" in dry("bench", "DEVICE=cuda")
    assert "make bench DEVICE=cuda" in dry("bench-cuda").replace("make[1]", "")


def test_gpu_check_script_runs_the_benchmark_and_summarises(tmp_path: Path) -> None:
    script = ROOT / "scripts" / "gpu_check.sh"
    text = script.read_text(encoding="utf-8")
    # nothing from the network: every pip install is --no-index
    installs = [
        line
        for line in text.splitlines()
        if "pip install" in line and not line.lstrip().startswith("#")
    ]
    assert installs and all("--no-index" in line for line in installs)
    env = {
        **os.environ, "OUT": str(tmp_path), "DEVICE": "cpu", "STEPS": "bench",
        "BENCH_ARGS": "--tiny --no-peers --repeats 1 --only small,pipeline",
        "PYTHON": sys.executable, "OMP_NUM_THREADS": "1",
    }  # fmt: skip
    done = subprocess.run(
        ["bash", str(script)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "latest.md").is_file() and (tmp_path / "latest.json").is_file()
    summary = (tmp_path / "summary.txt").read_text(encoding="utf-8")
    assert "bench: ok" in summary
    assert "- **INFO** multimodal feature pipeline >= 50% of copy bandwidth" in summary
    assert "multimodal feature pipeline >= 2.5x plain out-of-place torch" in done.stdout


def test_need_reports_an_uninstalled_peer() -> None:
    with pytest.raises(MissingPeer, match="nopeer"):
        need("mmnoise_no_such_module_xyz", "nopeer")


def test_unknown_group_is_refused(tmp_path: Path) -> None:
    args = cli.parse(["--tiny", "--only", "nosuchgroup", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="unknown groups"):
        cli.run(args, _quiet)


def test_token_references_leave_pad_and_special_ids_alone_as_mmnoise_does() -> None:
    # "x torch ref" compares the same work: the references protect what mmnoise protects
    from benchmarks import refs

    g = torch.Generator().manual_seed(0)
    protected = (0, 101, 102, 103)
    ids = torch.randint(1000, 2000, (8, 12), generator=g)
    ids[:, 0], ids[:, 5], ids[:, 9:] = 101, 0, 0  # [CLS], a pad inside, padding after 9
    ids[:, 8] = 102
    lengths = torch.full((8,), 9)
    frozen = torch.isin(ids, torch.tensor(protected))
    outs = [
        refs.token_mask(ids, lengths, 1.0, 103, protected, g),
        refs.token_replace(ids, lengths, 1.0, 1000, 2000, protected, g),
        refs.token_swap(ids, lengths, 1.0, protected, g),
    ]
    for out in outs:
        assert torch.equal(out[frozen], ids[frozen])
        assert not torch.equal(out, ids)  # rate 1: the editable tokens did change
    deleted, new_len = refs.token_delete(ids, lengths, 1.0, 0, protected, g)
    # rate 1 deletes the 6 words; [CLS], the inner pad and [SEP] are kept, in order
    assert new_len.tolist() == [3] * 8 and deleted[0, :3].tolist() == [101, 0, 102]


def test_per_item_group_pairs_every_mmnoise_row_with_plain_torch(run: tuple[Path, Path]) -> None:
    _, js = run
    data = json.loads(js.read_text(encoding="utf-8"))
    rows = data["groups"]["per-item"]["rows"]
    assert {r["status"] for r in rows} == {"ok"}
    from benchmarks import cases_peritem as P

    ops = {r["op"] for r in rows}
    want = {f"{op}, B={b}" for op in (*P.SINGLE, P.OP_PIPE) for b in (1, 4)}
    want |= {P.OP_BATCH, P.OP_RAGGED}
    assert ops == want
    for op in ops:  # each op: an mmnoise row and its plain-torch reference, ratio filled
        kinds = {r["kind"] for r in rows if r["op"] == op}
        assert {"mmnoise", "ref"} <= kinds, op
        assert all(r["x_ref"] > 0 for r in rows if r["op"] == op)
    targets = {t["target"] for t in data["targets"]}
    assert any(t.startswith("per-item: NoisyDataset batch path at B=32") for t in targets)
    assert "per-item: 3-modality pipeline at B=1 >= 0.25x plain torch" in targets


def test_per_item_batch_path_row_times_the_same_noise_as_the_per_item_row() -> None:
    # the timed batch path and the timed per-item path must produce the same batch
    from benchmarks import cases_peritem as P

    inp = Inputs.build(Shapes.tiny(), "cpu")
    cases = {(c.op, c.library): c for c in P.cases(inp)}
    fast = cases[(P.OP_BATCH, "mmnoise")].build()()
    slow = cases[(P.OP_BATCH, "mmnoise (per item)")].build()()
    ref = cases[(P.OP_BATCH, "torch ref")].build()()
    assert isinstance(fast, dict) and isinstance(slow, dict) and isinstance(ref, dict)
    for name in ("audio", "visual", "text", "label"):
        assert torch.equal(fast[name], slow[name]), name
        assert fast[name].shape == ref[name].shape, name
    assert not torch.equal(fast["audio"], ref["audio"])  # noise happened (other streams)
