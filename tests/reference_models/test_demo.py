"""The demo runs end to end (``--tiny``) and writes its table, JSON and heatmap."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from mmnoise.robustness import RobustnessResult
from reference_models.demo import TINY, curriculum_pipeline, main


def test_tiny_demo_prints_the_table_and_writes_json_png_and_logs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    threads = torch.get_num_threads()
    assert main(["--tiny", "--out", str(out)]) == 0
    assert torch.get_num_threads() == threads  # the demo restores the thread count
    printed = capsys.readouterr().out
    json_path, png_path = out / "robustness.json", out / "robustness.png"
    assert f"JSON: {json_path}" in printed and f"PNG:  {png_path}" in printed
    assert "| baseline | gaussian |" in printed and "| nmer | gaussian |" in printed
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "summary.md").read_text().count("| mmin |") == 4  # 3 grid tables + NMER
    data = json.loads(json_path.read_text())
    assert list(data["models"]) == ["baseline", "mmin", "ifmmin", "nmer"]
    for name, entry in data["models"].items():
        result = RobustnessResult.from_dict(entry)
        # 7 presence patterns x 1 family x 2 levels, every cell scored on the whole test set
        assert result.confusion.shape[:3] == (7, 1, 2), name
        assert bool((result.confusion.sum(dim=(-2, -1)) == TINY.test_size).all()), name
        assert (out / "logs" / f"{name}.jsonl").is_file()
    assert data["effective_robustness_wa_vs_baseline"]["baseline"]["full"]["gaussian"] == 0.0
    # NMER's condition: the six missing conditions, zeros (one level) or NMER noise at T = 20..100
    assert "| model | zeros | G T=20 |" in printed and "I T=100 |" in printed
    assert list(data["nmer_condition"]) == ["baseline", "mmin", "ifmmin", "nmer"]
    for name, fills in data["nmer_condition"].items():
        zero, gauss = (RobustnessResult.from_dict(fills[f]) for f in ("zero", "gaussian"))
        assert zero.confusion.shape[:3] == (6, 1, 1), name
        assert gauss.confusion.shape[:3] == (6, 1, 5), name
        assert gauss.levels == (0.2, 0.4, 0.6, 0.8, 1.0)
        assert "azt" in gauss.pattern_names and "avt" not in gauss.pattern_names


def test_tiny_demo_without_matplotlib_keeps_every_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    out = tmp_path / "demo"
    assert main(["--tiny", "--out", str(out), "--families", "gaussian"]) == 0
    printed = capsys.readouterr().out
    assert "| baseline | gaussian |" in printed  # the table is printed
    assert "PNG:  skipped" in printed and "mmnoise[plot]" in printed
    assert (out / "robustness.json").is_file() and not (out / "robustness.png").exists()
    summary = (out / "summary.md").read_text()
    assert summary.count("| mmin |") == 4
    # the pattern codes of the tables are explained where the reader looks
    assert "z when missing" in summary and "azz = audio only" in printed


def test_curriculum_noises_all_modalities_at_one_level_and_drops_at_its_own() -> None:
    pipe = curriculum_pipeline(("a", "v"))
    g = torch.Generator().manual_seed(0)
    s = {"a": torch.randn(64, 6, 3, generator=g), "v": torch.randn(64, 5, 2, generator=g)}
    noise = (torch.arange(64) % 2).float()  # odd examples at full noise, even ones clean
    out, rec = pipe.run(s, level={"noise": noise, "missing": 0.0}, generator=g)
    for m in ("a", "v"):
        changed = (out[m] != s[m]).flatten(1).any(dim=1)
        assert torch.equal(changed, noise.bool()), m
        assert bool(out["present"][m].all()), m
    # one family per example, the same on every modality (as the grid corrupts them)
    choice = [rec["children"][m]["children"]["0"]["params"]["choice"] for m in ("a", "v")]
    assert torch.equal(choice[0], choice[1]) and len(set(choice[0].tolist())) == 3
    out = pipe(s, level={"noise": 0.0, "missing": 1.0}, generator=g)
    present = torch.stack([out["present"]["a"], out["present"]["v"]], dim=1)
    assert bool(present.any(dim=1).all()) and not bool(present.all())
    for i, m in enumerate(("a", "v")):
        kept = present[:, i]
        assert torch.equal(out[m][kept], s[m][kept])
        assert bool((out[m][~kept] == 0).all())


def test_nmer_curriculum_fills_missing_modalities_with_nmer_noise() -> None:
    pipe = curriculum_pipeline(("a", "v"), fill="nmer")
    g = torch.Generator().manual_seed(1)
    s = {"a": torch.randn(64, 6, 3, generator=g), "v": torch.randn(64, 5, 2, generator=g)}
    out = pipe(s, level={"noise": 0.0, "missing": 1.0}, generator=g)
    for m in ("a", "v"):
        kept = out["present"][m]
        assert not bool(kept.all()) and bool(kept.any())
        assert torch.equal(out[m][kept], s[m][kept])  # present: untouched
        gone = out[m][~kept]
        assert not bool((gone == 0).all()) and not torch.equal(gone, s[m][~kept])  # noised copy
