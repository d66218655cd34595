"""Smoke test of the benchmark machinery: tiny shapes, one repeat, structure only (no timings)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks import cli
from benchmarks.harness import Case, MissingPeer, Settings, run_cases
from benchmarks.inputs import need


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
    ops_with_mm = {
        r["op"]
        for name, g in data["groups"].items()
        for r in g["rows"]
        if r["kind"] == "mmnoise" and name != "limits"  # yardsticks are not summarised
    }
    assert {s["op"] for s in data["summary"]} == ops_with_mm
    targets = {t["target"] for t in data["targets"]}
    assert "feature noise@SNR >= 1.5x plain-torch reference" in targets
    assert "multimodal feature pipeline >= 2x plain out-of-place torch" in targets


def test_tiny_run_writes_markdown_tables(run: tuple[Path, Path]) -> None:
    md, js = run
    text = md.read_text(encoding="utf-8")
    data = json.loads(js.read_text(encoding="utf-8"))
    assert text.startswith("# mmnoise benchmark results")
    header = "| op | library | API | sem | ms/batch [min-max] |"
    assert text.count(header) == len(cli.GROUPS)
    for name, group in data["groups"].items():
        assert f"## {name}\n" in text
        for r in group["rows"]:
            assert f"| {r['op']} |" in text
    # every table line has the same number of cells as its header (escaped pipes stay inside)
    for line in text.splitlines():
        if line.startswith("| ") and "---" not in line:
            cells = line.replace("\\|", "").count("|")
            assert cells in (4, 9, 13), line


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


def test_need_reports_an_uninstalled_peer() -> None:
    with pytest.raises(MissingPeer, match="nopeer"):
        need("mmnoise_no_such_module_xyz", "nopeer")


def test_unknown_group_is_refused(tmp_path: Path) -> None:
    args = cli.parse(["--tiny", "--only", "nosuchgroup", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="unknown groups"):
        cli.run(args, _quiet)
