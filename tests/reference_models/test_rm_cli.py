"""``python -m reference_models``: train, evaluate, prepare on corpora of any shape; errors; demo."""

from __future__ import annotations

import json
import pickle
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mmnoise.robustness import RobustnessResult
from reference_models.__main__ import main
from reference_models.nmer import NMERConfig
from reference_models.train import load_trained


def _mmsa_file(path: Path) -> Path:
    rng = np.random.default_rng(0)
    data: dict[str, Any] = {}
    for split, n in (("train", 12), ("valid", 6), ("test", 6)):
        data[split] = {
            "id": np.array([f"{split}$_${i}" for i in range(n)]),
            "audio": rng.normal(size=(n, 6, 5)).astype(np.float32),
            "vision": rng.normal(size=(n, 4, 3)).astype(np.float32),
            "text": rng.normal(size=(n, 7, 6)).astype(np.float32),
            "audio_lengths": rng.integers(1, 7, size=n),
            "vision_lengths": rng.integers(1, 5, size=n),
            "classification_labels": np.arange(n) % 3,
        }
    path.write_bytes(pickle.dumps(data))
    return path


def test_train_on_mmsa_pickle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    argv = [
        "train",
        "--model",
        "ifmmin",
        "--data",
        "mmsa-pkl",
        "--path",
        str(_mmsa_file(tmp_path / "tiny.pkl")),
        "--epochs",
        "1",
        "--teacher-epochs",
        "1",
        "--batch-size",
        "6",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| total |" in printed and "| full |" in printed and "test" in printed
    trained = load_trained(out / "model.pt")
    # input sizes and classes are read from the data; the rest are the paper defaults
    assert trained.config.teacher.backbone.input_dims == (5, 3, 6)
    assert trained.config.teacher.n_classes == 3
    assert trained.config.invariant_weight == 100.0
    records = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [r.get("stage") for r in records] == ["teacher", "student", None]
    assert trained.train_config.student.batch_size == 6


def test_argument_errors(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="--root"):
        main(["train", "--model", "mmin", "--data", "mmin-h5"])
    with pytest.raises(SystemExit, match="--path"):
        main(["train", "--model", "mmin", "--data", "mmsa-pkl"])
    with pytest.raises(SystemExit):
        main(["train", "--model", "transformer"])


def test_demo_slot_calls_demo_main(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    fake = types.ModuleType("reference_models.demo")
    fake.main = lambda argv: calls.append(list(argv)) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "reference_models.demo", fake)
    assert main(["demo", "--quick"]) == 0
    assert calls == [["--quick"]]


def _raw(root: Path, modalities: dict[str, int], *, speakers: int = 4, per: int = 4) -> list[str]:
    """Per-utterance .npy features + labels.csv; returns the --features arguments."""
    rng = np.random.default_rng(0)
    rows = ["id,label,speaker"]
    for s in range(speakers):
        for k in range(per):
            uid = f"spk{s}_{k}"
            label = ["calm", "angry"][k % 2]
            rows.append(f"{uid},{label},spk{s}")
            for m, dim in modalities.items():
                (root / m).mkdir(parents=True, exist_ok=True)
                x = rng.normal(size=(6, dim)) + (2.0 if label == "angry" else 0.0)
                np.save(root / m / f"{uid}.npy", x)
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return [a for m in modalities for a in ("--features", f"{m}={root / m}")]


_FAST = ["--teacher-epochs", "1", "--epochs", "1", "--batch-size", "4", "--no-progress"]


def test_prepare_train_evaluate_a_two_modality_corpus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus, out = tmp_path / "corpus", tmp_path / "runs"
    feats = _raw(tmp_path / "raw", {"audio": 3, "text": 4})
    assert main(["prepare", *feats, "--labels", str(tmp_path / "raw" / "labels.csv"),
                 "--out", str(corpus), "--folds", "4"]) == 0  # fmt: skip
    capsys.readouterr()
    data = ["--data", "mmin-h5", "--root", str(corpus), "--fold", "2"]
    argv = ["train", "--model", "baseline", "mmin", "nmer", *data, *_FAST, "--out", str(out)]
    assert main([*argv, "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    # one line per epoch (stdout is not a terminal here), conditions of the two modalities only
    assert "teacher 1/1  loss total" in printed and "student 1/1  loss total" in printed
    assert "| az |" in printed and "| zt |" in printed and "azz" not in printed
    base, mmin = (
        load_trained(out / "baseline" / "model.pt"),
        load_trained(out / "mmin" / "model.pt"),
    )
    assert mmin.config.teacher.backbone.modalities == ("audio", "text")
    assert mmin.config.teacher.n_classes == 2
    # the student reused the baseline's teacher: trained once, identical weights, no stage 1 log
    for k, v in base.teacher.state_dict().items():
        assert torch.equal(v, mmin.teacher.state_dict()[k])
    stages = [
        json.loads(x).get("stage") for x in (out / "mmin" / "log.jsonl").read_text().splitlines()
    ]
    assert stages == ["student", None]
    # a finished run keeps model.pt, not the 33-112 MB resume state (unless --keep-last)
    assert (out / "mmin" / "model.pt").is_file() and not (out / "mmin" / "last.pt").exists()
    # so --resume on it is an error before anything trains, not a silent retraining
    with pytest.raises(SystemExit, match=r"--resume: .* hold finished runs .*nothing to resume"):
        main([*argv, "--resume"])
    # a teacher file is reused as well; one that fits no model of the run is an error
    student = ["--epochs", "1", "--batch-size", "4", "--no-progress"]
    again = ["train", "--model", "mmin", *data, *student, "--out", str(tmp_path / "again")]
    assert main([*again, "--teacher", str(out / "baseline"), "--keep-last"]) == 0
    assert (tmp_path / "again" / "last.pt").is_file()
    # no stage 1 runs when every student reuses a --teacher: --teacher-epochs cannot apply
    with pytest.raises(SystemExit, match="every model of this run reuses a --teacher"):
        main([*again, "--teacher", str(out / "baseline"), "--teacher-epochs", "7"])
    # a teacher of another fold has seen this fold's test speakers
    other = ["--data", "mmin-h5", "--root", str(corpus), "--fold", "1"]
    with pytest.raises(SystemExit, match=r"other data than this run \(--fold 1 \(run.json: 2\)"):
        main(["train", "--model", "mmin", *other, *student, "--out", str(tmp_path / "y"),
              "--teacher", str(out / "baseline")])  # fmt: skip
    with pytest.raises(SystemExit, match=r"--fold 1 \(the default; run.json: 2\)"):
        main(["train", "--model", "mmin", *other[:-2], *student, "--out", str(tmp_path / "y"),
              "--teacher", str(out / "baseline")])  # fmt: skip
    with pytest.raises(SystemExit, match="no model of this run has that teacher"):
        main(["train", "--model", "ifmmin", *data, *_FAST, "--out", str(tmp_path / "x"),
              "--teacher", str(out / "baseline" / "model.pt")])  # fmt: skip
    capsys.readouterr()
    # evaluate reads the data options from run.json: patterns of the existing modalities only
    ev = tmp_path / "grid"
    assert main(["evaluate", "--checkpoint", str(out / "mmin"), "--families", "gaussian",
                 "timemask", "--levels", "0", "1", "--out", str(ev)]) == 0  # fmt: skip
    grid = RobustnessResult.from_json(ev / "robustness.json")
    assert sorted(grid.pattern_names) == ["at", "az", "zt"]
    assert grid.families == ("gaussian", "timemask") and grid.num_examples == 4
    assert (ev / "heatmap.png").stat().st_size > 0 and "| gaussian" in capsys.readouterr().out
    record = json.loads((ev / "evaluate.json").read_text())
    assert record["fold"] == 2 and record["missing_fill"] == "zeros" and record["split"] == "test"
    # run.json is read even with --data: the fold of the training run, not the default fold 1
    ev2 = tmp_path / "grid2"
    assert main(["evaluate", "--checkpoint", str(out / "nmer"), "--data", "mmin-h5", "--root",
                 str(corpus), "--families", "gaussian", "--levels", "0", "1", "--out", str(ev2),
                 "--no-heatmap"]) == 0  # fmt: skip
    record = json.loads((ev2 / "evaluate.json").read_text())
    assert record["fold"] == 2 and record["root"] == str(corpus)
    assert record["missing_fill"] == "nmer"  # scored with the fill NMER was trained with
    with pytest.raises(SystemExit, match=r"--fold 1 \(run.json: 2\) contradict"):
        main(["evaluate", "--checkpoint", str(out / "mmin"), "--data", "mmin-h5", "--root",
              str(corpus), "--fold", "1", "--out", str(ev2)])  # fmt: skip


def test_nmer_evaluation_drops_and_fills_at_every_level() -> None:
    # the grid's clean column (level 0) must still drop the missing modality: NMER's fill at
    # its training intensity, as in its validation (a plain grid drops nothing at level 0)
    from mmnoise.robustness import RobustnessGrid
    from mmnoise.transforms.nmer import NMERNoise
    from reference_models.__main__ import _noise_pipeline

    batch = {"a": torch.ones(2, 3, 2), "t": torch.ones(2, 4, 2), "label": torch.tensor([0, 1])}
    kw: dict[str, Any] = {"modalities": ("a", "t"), "levels": (0.0, 1.0), "num_classes": 2}
    fill = NMERNoise(intensity=(50, 50))
    families = {"gaussian": lambda m: _noise_pipeline("gaussian", m)}
    fixed = RobustnessGrid(families=families, missing_fill=fill, missing_level=1.0, **kw)
    plain = RobustnessGrid(families=families, missing_fill=fill, **kw)
    pattern = {"a": True, "t": False}
    out = fixed.corrupt(batch, family="gaussian", level=0.0, pattern=pattern)
    assert torch.equal(out["a"], batch["a"])  # level 0: no noise on what is present
    assert not torch.equal(out["t"], batch["t"]) and out["t"].abs().sum() > 0  # noised, not 0
    same = plain.corrupt(batch, family="gaussian", level=0.0, pattern=pattern)
    assert torch.equal(same["t"], batch["t"])


def test_audio_only_corpus_noise_baseline_noisy_selection_min_steps(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    feats = _raw(tmp_path / "raw", {"audio": 3}, speakers=3)
    main(
        ["prepare", *feats, "--labels", str(tmp_path / "raw" / "labels.csv"), "--out", str(corpus)]
    )
    data = ["--data", "mmin-h5", "--root", str(corpus)]
    with pytest.raises(SystemExit, match="single modality 'audio' has no missing conditions"):
        main(["train", "--model", "mmin", *data, *_FAST])
    out = tmp_path / "run"
    argv = ["train", "--model", "baseline", *data, "--noise", "gaussian", "--select", "noisy",
            "--teacher-epochs", "1", "--min-steps", "5", "--batch-size", "4", "--no-progress", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    trained = load_trained(out / "model.pt")
    # 4 training utterances, batch 4: one step per epoch, so --min-steps 5 raises 1 epoch to 5
    assert trained.train_config.teacher.epochs == 5 and len(trained.history) == 5
    assert trained.train_config.val_noise_level == 0.5
    assert set(trained.val_metrics) == {"full"} and set(trained.test_metrics or {}) == {"full"}
    # noisy selection: the selected validation score is the noisy one, not the clean test protocol
    assert trained.history[trained.best_epoch - 1]["val"] == trained.val_metrics
    # students on one modality learn clean from noisy inputs: no missing conditions to draw
    students = ["train", "--model", "ifmmin", "nmer", *data, *_FAST, "--noise", "timemask"]
    assert main([*students, "--out", str(tmp_path / "students")]) == 0
    nmer = load_trained(tmp_path / "students" / "nmer" / "model.pt")
    assert nmer.config.teacher.backbone.modalities == ("audio",)
    assert set(nmer.val_metrics) == {"full", "total"}  # total = full with one modality


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (
            ["--size", "50", "--data", "mmsa-pkl", "--path", "x.pkl"],
            "--size applies to --data synthetic",
        ),
        (["--a-type", "IS10"], "--a-type applies to --data mmin-h5"),
        (["--path", "x.pkl"], "--path applies to --data mmsa-pkl"),
        (["--model", "baseline", "--level", "0.5"], "the baseline without --noise has none"),
        (["--model", "baseline", "--schedule", "linear"], "the baseline without --noise"),
        (["--select", "noisy"], "--select noisy needs a --noise"),
        (["--select-level", "0.3"], "--select-level applies to --select noisy"),
        (["--model", "baseline", "--epochs", "3"], "baseline has only --teacher-epochs"),
        (["--model", "baseline", "--teacher", "m.pt"], "--teacher does not apply"),
        (["--model", "mmin", "mmin"], "lists a model twice"),
        (["--threads", "0"], "--threads >= 1"),
        (["--min-steps", "0"], "--min-steps >= 1"),
        (["--nmer-noise", "impulse"], "--nmer-noise sets NMER's missing-modality noise"),
        (["--nmer-select", "mean"], "--nmer-select sets how NMER's epoch is chosen"),
        (["--nmer-upstream-loss"], "--nmer-upstream-loss sets NMER's loss"),
        (["--model", "nmer", "--nmer-upstream-loss", "--nmer-kl", "batchmean"], "sums the KL"),
        (["--model", "mmin", "--level", "0.3"], r"without --noise \['mmin'\] have none"),
        (["--model", "ifmmin", "--schedule", "linear"], "without --noise"),
    ],
)
def test_options_that_do_not_apply_are_errors(extra: list[str], match: str) -> None:
    argv = ["train", *(["--model", "mmin"] if "--model" not in extra else []), *extra]
    with pytest.raises(SystemExit, match=match):
        main(argv)


def test_nmer_upstream_loss_is_one_flag(tmp_path: Path) -> None:
    # issue 11: the release's exact loss (classifier on x̂ alone, KL summed x 1) is one flag away
    argv = ["train", "--model", "nmer", "--data", "synthetic", "--size", "40", *_FAST]
    assert main([*argv, "--nmer-upstream-loss", "--out", str(tmp_path / "up")]) == 0
    assert main([*argv, "--out", str(tmp_path / "default")]) == 0
    up = load_trained(tmp_path / "up" / "model.pt").config
    default = load_trained(tmp_path / "default" / "model.pt").config
    assert isinstance(up, NMERConfig) and isinstance(default, NMERConfig)
    assert (up.classifier_input, up.kl_reduction, up.kl_scale) == ("reconstruction", "sum", 1.0)
    assert (default.classifier_input, default.kl_reduction) == ("residual", "batchmean")


def test_nmer_noise_type_and_level_reach_training_and_evaluation() -> None:
    # --nmer-noise impulse: NMER's impulse noise fills the missing modalities in training and
    # evaluation; --level sets the evaluation intensity even under a schedule
    from reference_models.__main__ import _pipeline, _train_config, build_parser

    mods = ("audio", "visual", "text")
    drop = _pipeline("nmer", "none", mods, "impulse")
    assert type(drop).__name__ == "DropModalities" and drop.fill.noise == "impulse"
    assert _pipeline("nmer", "none", mods).fill.noise == "gaussian"
    assert _pipeline("mmin", "none", mods, "impulse").fill == 0.0
    argv = ["train", "--model", "nmer", "--nmer-noise", "impulse", "--schedule", "linear",
            "--level", "0.4"]  # fmt: skip
    tc = _train_config(build_parser().parse_args(argv), "nmer", 100)
    assert tc.eval_fill == "nmer_impulse" and tc.eval_level == 0.4
    # --nmer-select: the validation condition that picks NMER's epoch (default: pooled missing)
    assert tc.student_select == "missing"
    argv = ["train", "--model", "nmer", "--nmer-select", "mean"]
    assert _train_config(build_parser().parse_args(argv), "nmer", 100).student_select == "mean"
    # without --noise the level still applies to NMER (its fill's intensity): accepted
    from reference_models.__main__ import _check_train_args

    _check_train_args(build_parser().parse_args(["train", "--model", "nmer", "--level", "0.4"]))


def test_reproduce_needs_three_modalities_and_checks_unseen_classes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from reference_models.reproduce import ReproduceConfig, _fold_data

    two = tmp_path / "two"
    feats = _raw(tmp_path / "raw2", {"audio": 3, "text": 4}, speakers=3)
    assert main(["prepare", *feats, "--labels", str(tmp_path / "raw2" / "labels.csv"),
                 "--out", str(two)]) == 0  # fmt: skip
    capsys.readouterr()
    argv = ["reproduce", "--paper", "mmin", "--data", "mmin-h5", "--root", str(two)]
    assert main([*argv, "--folds", "1", "--out", str(tmp_path / "rep")]) == 2
    err = capsys.readouterr().err
    assert "needs the three modalities ['audio', 'visual', 'text']" in err
    assert err.startswith("reproduce: the papers'")  # named once, not "reproduce: reproduce:"
    assert "got ['audio', 'text']" in err and "`evaluate`" in err
    assert not (tmp_path / "rep" / "fold1").exists()  # failed before any training
    # the folds are read with load_fold: a test class never seen in training is an error
    three = tmp_path / "three"
    raw = tmp_path / "raw3"
    feats = _raw(raw, {"audio": 3, "visual": 2, "text": 4}, speakers=3)
    rows = (raw / "labels.csv").read_text().replace("spk0_1,angry", "spk0_1,rare")
    (raw / "labels.csv").write_text(rows)
    assert main(["prepare", *feats, "--labels", str(raw / "labels.csv"), "--out", str(three)]) == 0
    rc = ReproduceConfig(paper="mmin", data="mmin-h5", root=str(three), folds=(1,))
    with pytest.raises(ValueError, match=r"of tst_label\.npy \(fold 1\) never occur"):
        _fold_data(rc, 1)


def test_a_run_that_ends_at_chance_says_so() -> None:
    from reference_models.__main__ import _at_chance

    assert _at_chance("mmin", {"full": {"ua": 0.62}, "azz": {"ua": 0.25}}, 4, 400) == ""
    msg = _at_chance("mmin", {"full": {"ua": 0.25}, "azz": {"ua": 0.24}}, 4, 400)
    assert "mmin ended at chance" in msg and "0.250" in msg and "--lr" in msg
    # not only within a point: 36 % for four classes learnt little (the old default run)
    msg = _at_chance("baseline", {"full": {"ua": 0.363}}, 4, 400)
    assert "baseline is barely above chance" in msg and "--epochs" in msg
    # within two standard errors of chance is chance: 30 % on 80 validation items
    assert "ended at chance" in _at_chance("baseline", {"full": {"ua": 0.30}}, 4, 80)


def test_messages_speak_in_flags_and_a_missing_extra_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "corpus"
    feats = _raw(tmp_path / "raw", {"audio": 3, "text": 4})
    assert main(["prepare", *feats, "--labels", str(tmp_path / "raw" / "labels.csv"),
                 "--out", str(corpus), "--folds", "4"]) == 0  # fmt: skip
    train = ["train", "--model", "baseline", "--data", "mmin-h5", "--teacher-epochs", "1"]
    # no fold statistics for audio: the fix is a flag, not a Python argument
    for stats in corpus.glob("*/*_mean_std.h5"):
        stats.unlink()
    with pytest.raises(SystemExit, match="use --norm utt or --norm none") as info:
        main([*train, "--root", str(corpus)])
    assert "norm='utt'" not in str(info.value) and info.value.__cause__ is None
    with pytest.raises(SystemExit, match="point --root at the feature root") as info:
        main([*train, "--root", str(tmp_path / "raw" / "audio")])
    assert "root_features" not in str(info.value)
    # h5py missing (the `data` extra): one line that names it, no traceback
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(SystemExit, match=r"pip install 'mmnoise\[data\]'") as info:
        main([*train, "--root", str(corpus)])
    assert info.value.__cause__ is None and info.value.__suppress_context__
    # tqdm missing with --progress: the fix is --no-progress
    monkeypatch.setitem(sys.modules, "tqdm", None)
    capsys.readouterr()
    argv = ["train", "--model", "baseline", "--size", "10", "--teacher-epochs", "1",
            "--out", str(tmp_path / "p"), "--progress"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--progress needs tqdm" in err and "pass --no-progress" in err
    assert "progress=" not in err and "Traceback" not in err


def test_terminal_keeps_epoch_lines_banner_says_the_recipe_resume_keeps_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)  # as on a terminal
    out = tmp_path / "run"
    argv = ["train", "--model", "baseline", "mmin", "--size", "10", "--teacher-epochs", "2",
            "--epochs", "1", "--batch-size", "4", "--no-progress", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    printed, err = capsys.readouterr()
    # said before training: 10 items x 2 epochs at batch 4 cannot learn
    assert "baseline: stage 1 has 6 optimiser steps" in err and "--min-steps 300" in err
    # the per-epoch record stays on screen, and the banner states the options, not the preset's
    assert "teacher 1/2  loss" in printed and "teacher 2/2  loss" in printed
    assert "student 1/1  loss" in printed
    assert "train: baseline: preset quick: 2 epochs, batch 4, lr 0.002 (" in printed
    # MMIN's teacher is the baseline's, trained once: its stage 1 does not run again
    assert (
        "train: mmin: preset quick: stage 2 1 epoch, batch 4, lr 0.002 (stage 1: a reused"
        in printed
    )
    assert "10 + 10 epochs" not in printed
    # an interrupted run of two models: the finished one is kept, only the other trains
    (out / "mmin" / "model.pt").unlink()
    before = (out / "baseline" / "model.pt").stat().st_mtime_ns
    assert main([*argv, "--resume"]) == 0
    printed = capsys.readouterr().out
    assert "train: baseline:" in printed and "kept, not retrained" in printed
    assert "teacher 1/2" not in printed and "student 1/1  loss" in printed
    assert (out / "baseline" / "model.pt").stat().st_mtime_ns == before
    assert (out / "mmin" / "model.pt").is_file()


def test_the_default_recipe_is_one_that_learns_the_built_in_data() -> None:
    from mmnoise.datasets import SyntheticMER
    from reference_models.__main__ import _fit_config, _train_config, build_parser

    args = build_parser().parse_args(["train", "--model", "mmin"])
    tc = _train_config(args, "mmin", 2000)
    # the demo's recipe (lr 2e-3, PyTorch's init): the paper's lr 2e-4 and Kaiming init stayed
    # near chance on the synthetic corpus in 10 epochs (36 % test WA, chance 25 %)
    assert (tc.teacher.lr, tc.student.lr, tc.teacher.epochs) == (2e-3, 2e-3, 10)
    cfg = _fit_config("mmin", SyntheticMER("train", size=5), args.preset)
    assert cfg.init == "default" and cfg.teacher.init == "default"
    paper = build_parser().parse_args(["train", "--model", "mmin", "--preset", "paper"])
    assert _train_config(paper, "mmin", 2000).teacher.lr == 2e-4
    assert _fit_config("mmin", SyntheticMER("train", size=5), "paper").init == "kaiming"
