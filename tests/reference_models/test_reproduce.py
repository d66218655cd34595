"""``python -m reference_models reproduce``: the protocol end to end on the tiny synthetic corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reference_models.__main__ import main as cli
from reference_models.nmer import NMERConfig
from reference_models.reproduce import ReproduceConfig, Run, plan


def test_plan_is_the_papers_protocol() -> None:
    nmer = plan(ReproduceConfig(paper="nmer"))
    assert len(nmer) == 2 * 5 * 3  # noise types x intensities x (NMER, noisy MMIN, IF-MMIN)
    assert {r.intensity for r in nmer} == {20, 40, 60, 80, 100}
    assert {r.variant for r in nmer if r.kind == "nmer"} == {"default"}
    assert {(r.kind, r.fill) for r in nmer if r.intensity == 20} == {
        (k, f) for k in ("nmer", "mmin", "ifmmin") for f in ("nmer", "nmer_impulse")
    }
    assert Run("mmin", "gaussian", 60).level == pytest.approx(0.6)  # T = 100 * level
    assert [r.name for r in plan(ReproduceConfig(paper="ifmmin"))] == ["ifmmin"]
    every = plan(ReproduceConfig(paper="nmer", nmer_variants=("default", "release", "mrcn1")))
    assert len(every) == 2 * 5 * 5  # three NMER variants and the two baselines
    assert "nmer_mrcn1-impulse-T60" in {r.name for r in every}
    with pytest.raises(ValueError, match="NMER variants"):
        ReproduceConfig(paper="nmer", nmer_variants=("upstream",))
    assert plan(ReproduceConfig(paper="mmin"))[0].fill == 0.0  # zeros, as the MMIN paper
    assert ReproduceConfig(paper="nmer").preset == "paper"
    with pytest.raises(ValueError, match="--root"):
        ReproduceConfig(paper="nmer", data="mmin-h5")
    with pytest.raises(ValueError, match="intensities"):
        ReproduceConfig(paper="nmer", intensities=(0,))


def test_tiny_nmer_protocol_writes_the_tables_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rep"
    args = ["reproduce", "--paper", "nmer", "--tiny", "--intensities", "100", "--out", str(out)]
    assert cli(args) == 0
    report = json.loads((out / "results.json").read_text())
    assert set(report["folds"]) == {"1", "2"}
    names = {"teacher", *(f"{k}-{n}-T100" for k in ("nmer_default", "mmin", "ifmmin")
                          for n in ("gaussian", "impulse"))}  # fmt: skip
    for fold in ("1", "2"):
        assert set(report["folds"][fold]) == names
    # one teacher per fold, reused: the students' logs hold no stage-1 epoch
    assert len(list(out.rglob("teacher.pt"))) == 2
    for log in out.glob("fold*/*-T100/log.jsonl"):
        stages = {json.loads(line).get("stage") for line in log.read_text().splitlines()}
        assert "teacher" not in stages and "student" in stages
    summary = report["summary"]["nmer_default-gaussian-T100"]
    assert set(summary) == {"total", "azz", "zvz", "zzt", "avz", "azt", "zvt", "full"}
    wa = summary["total"]["wa"]
    assert wa["n"] == 2 and 0.0 <= wa["mean"] <= 1.0 and wa["std"] >= 0.0
    run = "nmer_default-gaussian-T100"
    folds = [report["folds"][f][run]["test"]["total"]["wa"] for f in ("1", "2")]
    assert report["folds"]["1"][run]["nmer_variant"] == "default"
    assert report["nmer_variants"] == {"default": NMERConfig().switches()}
    assert wa["mean"] == pytest.approx(sum(folds) / 2)
    md = (out / "results.md").read_text()
    assert "| nmer (default) | impulse |" in md and "| total |" in md and "± " in md
    assert "## nmer_default-gaussian-T100, NMER variant default (n = 2)" in md
    assert (out / "intensity.png").stat().st_size > 0
    assert not list(out.glob("fold*/*/ckpt"))  # checkpoints removed once a run is done
    # resumable: finished folds are skipped; a missing run result is redone, nothing else
    capsys.readouterr()
    redo = out / "fold2" / "mmin-impulse-T100" / "result.json"
    kept = out / "fold2" / "nmer_default-impulse-T100" / "result.json"
    before = kept.stat().st_mtime_ns
    redo.unlink()
    assert cli(args) == 0
    printed = capsys.readouterr().out
    assert "fold 1: done, skipped" in printed
    assert "fold 2: mmin-impulse-T100" in printed and "nmer_default-impulse-T100 in" not in printed
    assert redo.exists() and kept.stat().st_mtime_ns == before
    # a finished NMER result made by other switches is never reused under this variant's name
    assert cli([*args, "--nmer-kl", "sum"]) == 2
    assert "was made by NMER switches" in capsys.readouterr().err


def test_tiny_reproduce_runs_every_nmer_variant(tmp_path: Path) -> None:
    out = tmp_path / "rep"
    args = ["reproduce", "--paper", "nmer", "--tiny", "--folds", "1", "--intensities", "20",
            "--noise-types", "gaussian", "--no-baselines", "--nmer-variant", "all",
            "--out", str(out)]  # fmt: skip
    assert cli(args) == 0
    report = json.loads((out / "results.json").read_text())
    fold = report["folds"]["1"]
    for variant in ("default", "release", "mrcn1"):
        result = fold[f"nmer_{variant}-gaussian-T20"]
        assert result["nmer_variant"] == variant
        assert result["nmer_switches"] == NMERConfig.variant(variant).switches()
    md = (out / "results.md").read_text()
    assert "| release (release) | reconstruction | reconstruction | sigmoid |" in md
    assert "| False | 0.01 |" in md and "| True | 1 |" in md  # the KL scale in use
    assert "| nmer (mrcn1) | gaussian |" in md
    # the deprecated loss-only flag is dispatched and recorded, with a warning naming the variant
    with pytest.warns(DeprecationWarning, match="--nmer-variant release"):
        assert cli([*args[:-4], "--out", str(tmp_path / "up"), "--nmer-upstream-loss"]) == 0
    up = json.loads((tmp_path / "up" / "results.json").read_text())
    assert up["config"]["nmer_upstream_loss"] is True
    assert up["folds"]["1"]["nmer_default-gaussian-T20"]["nmer_variant"] == "custom"
    assert cli(["reproduce", "--paper", "mmin", "--tiny", "--nmer-variant", "release"]) == 2


def test_mmin_h5_folds_default_to_the_corpus_and_are_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # a corpus.json with 3 folds: the default runs folds 1..3, a fold beyond fails before training
    from mmnoise.datasets.corpus import CorpusConfig, ModalitySpec
    from reference_models import reproduce as rep

    specs = {
        m: ModalitySpec(d, "feat") for m, d in (("audio", "A"), ("visual", "V"), ("text", "L"))
    }
    CorpusConfig(specs, folds=3).write(tmp_path / "corpus.json")
    seen: list[ReproduceConfig] = []
    monkeypatch.setattr(rep, "reproduce", lambda rc: seen.append(rc) or {})
    base = ["--paper", "mmin", "--data", "mmin-h5", "--root", str(tmp_path), "--targets", "t"]
    assert rep.main(base) == 0
    assert seen[0].folds == (1, 2, 3)
    monkeypatch.undo()
    assert rep.main([*base, "--folds", "2", "4"]) == 2
    assert "has 3 folds" in capsys.readouterr().err
