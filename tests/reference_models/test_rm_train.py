"""The two-stage recipe: exact resume, validation-only selection, logs, evaluation protocol."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from rm_helpers import MODALITIES, TinyDataset, make_batch, tiny_config
from torch import Tensor

from mmnoise.schedules import Linear, Plateau
from mmnoise.transforms.compose import MultimodalPipeline
from mmnoise.transforms.features import AddGaussianSNR
from mmnoise.transforms.missing import DropModalities
from reference_models import train as T
from reference_models.train import (
    StageConfig,
    TrainConfig,
    evaluate,
    load_trained,
    paper_train_config,
    predict_fn,
    train_model,
)

TRAIN, VAL = TinyDataset(20, seed=1), TinyDataset(8, seed=2)


def _tc(**kw: Any) -> TrainConfig:
    return TrainConfig(
        teacher=StageConfig(epochs=2, decay_epochs=1, batch_size=8),
        student=StageConfig(epochs=2, decay_epochs=1, batch_size=8, beta1=0.5, grad_clip=1.0),
        eval_batch_size=8,
        progress=False,
        **kw,
    )


def _noisy_pipeline() -> MultimodalPipeline:
    return MultimodalPipeline(
        {name: [AddGaussianSNR(snr_db=(20.0, 0.0))] for name in MODALITIES},
        missing=DropModalities(list(MODALITIES), patterns="mmin"),
    )


def _run(kind: str, tmp: Path, **kw: Any) -> T.TrainedModel:
    cfg_kind = "teacher" if kind == "baseline" else kind
    return train_model(
        kind,  # type: ignore[arg-type]
        TRAIN,
        VAL,
        cfg=tiny_config(cfg_kind),
        checkpoint_dir=tmp,
        log_path=tmp / "log.jsonl",
        **{"train_cfg": _tc(), **kw},
    )


def _strip_time(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "time_s"} for r in history]


@pytest.mark.parametrize(
    ("kind", "crash_after", "make_schedule", "level_mode"),
    [
        ("mmin", 1, lambda: Linear(0.2, 1.0, steps=8), "uniform"),  # crash in stage 1
        ("nmer", 4, lambda: Plateau(level=0.5, patience=0, step_size=0.25), "fixed"),  # stage 2
    ],
)
def test_resume_gives_the_identical_result(
    kind: str,
    crash_after: int,
    make_schedule: Any,
    level_mode: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tc = _tc(level_mode=level_mode)
    full = _run(
        kind, tmp_path / "a", pipeline=_noisy_pipeline(), schedule=make_schedule(), train_cfg=tc
    )

    saves = {"n": 0}
    real_save = T._Run.save

    def crashing_save(self: T._Run, state: dict[str, Any]) -> None:
        real_save(self, state)
        saves["n"] += 1
        if saves["n"] == crash_after:
            raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(T._Run, "save", crashing_save)
    with pytest.raises(KeyboardInterrupt):
        _run(
            kind, tmp_path / "b", pipeline=_noisy_pipeline(), schedule=make_schedule(), train_cfg=tc
        )
    monkeypatch.setattr(T._Run, "save", real_save)
    resumed = _run(
        kind,
        tmp_path / "b",
        pipeline=_noisy_pipeline(),
        schedule=make_schedule(),
        train_cfg=tc,
        resume=True,
    )

    assert _strip_time(resumed.history) == _strip_time(full.history)
    assert resumed.best_epoch == full.best_epoch
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # the log of the resumed run holds each epoch once, like the uninterrupted one
    lines = (tmp_path / "b" / "log.jsonl").read_text().splitlines()
    assert [json.loads(x).get("epoch") for x in lines] == [1, 2, 1, 2, None]


def test_resume_refuses_other_settings(tmp_path: Path) -> None:
    _run("baseline", tmp_path)
    other = _tc(seed=5)
    with pytest.raises(ValueError, match="train_config differs"):
        _run("baseline", tmp_path, train_cfg=other, resume=True)


def test_selection_uses_validation_only(tmp_path: Path) -> None:
    test_a, test_b = TinyDataset(8, seed=3), TinyDataset(12, seed=4)
    ra = _run("mmin", tmp_path / "a", test_ds=test_a)
    rb = _run("mmin", tmp_path / "b", test_ds=test_b)
    assert ra.best_epoch == rb.best_epoch
    for key, value in ra.model.state_dict().items():
        assert torch.equal(value, rb.model.state_dict()[key])
    assert ra.test_metrics is not None and rb.test_metrics is not None
    # the test set is evaluated once, with the validation protocol, and never selected on
    kw: dict[str, Any] = {"modalities": MODALITIES, "seed": ra.train_config.eval_seed}
    assert ra.test_metrics == evaluate(predict_fn(ra), test_a, **kw)
    assert rb.test_metrics == evaluate(predict_fn(rb), test_b, **kw)
    student = [r for r in ra.history if r["stage"] == "student"]
    scores = [r["val"]["total"]["ua"] for r in student]
    assert ra.best_epoch == scores.index(max(scores)) + 1
    assert ra.val_metrics == student[ra.best_epoch - 1]["val"]
    assert all("test" not in r for r in ra.history)


@pytest.mark.parametrize(("rule", "epoch"), [("missing", 2), ("full", 1), ("mean", 3)])
def test_student_select_picks_the_epoch_on_full_or_the_mean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rule: str, epoch: int
) -> None:
    # TrainConfig.student_select: the student's epoch maximises validation UA of the pooled
    # missing conditions (upstream), of the full condition, or of the mean of the two. Scripted
    # validation (full, total) per epoch: each rule has its own best epoch.
    script = iter([(0.9, 0.1), (0.1, 0.6), (0.6, 0.5)])

    def fake_evaluate(predict: Any, dataset: Any, *, missing: bool = True, **_: Any) -> Any:
        full, total = next(script, (0.0, 0.0)) if missing else (0.5, 0.5)
        out = {"full": {"wa": full, "ua": full, "f1": full}}
        return {**out, "total": {"wa": total, "ua": total, "f1": total}} if missing else out

    monkeypatch.setattr(T, "evaluate", fake_evaluate)
    student = StageConfig(epochs=3, decay_epochs=1, batch_size=8, beta1=0.5, grad_clip=1.0)
    tc = dataclasses.replace(_tc(student_select=rule), student=student)
    result = _run("nmer", tmp_path, train_cfg=tc)
    assert result.best_epoch == epoch
    assert result.val_metrics["full"]["ua"] == [0.9, 0.1, 0.6][epoch - 1]
    with pytest.raises(ValueError, match="student_select"):
        _tc(student_select="test")


def test_history_logs_and_lr_policy(tmp_path: Path) -> None:
    result = _run("ifmmin", tmp_path)
    records = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [(r["stage"], r["epoch"]) for r in records[:-1]] == [
        ("teacher", 1),
        ("teacher", 2),
        ("student", 1),
        ("student", 2),
    ]
    assert records[-1]["event"] == "done" and records[-1]["best_epoch"] == result.best_epoch
    # linear policy: constant for epochs - decay_epochs, then lr0 * (1 - k / (decay + 1))
    assert [r["lr"] for r in records[:2]] == pytest.approx([2e-4, 1e-4])
    assert set(records[2]["loss"]) == {"ce", "imagination", "invariant", "total"}
    assert set(records[2]["val"]) == {"azz", "zvz", "zzt", "avz", "azt", "zvt", "full", "total"}
    assert set(records[0]["val"]) == {"full"}
    assert StageConfig(epochs=60, decay_epochs=30).lr_factor(59) == pytest.approx(1 / 31)


def test_trained_model_round_trips_through_model_pt(tmp_path: Path) -> None:
    result = _run("nmer", tmp_path)
    loaded = load_trained(tmp_path / "model.pt")
    assert loaded.kind == "nmer" and loaded.config == result.config
    assert loaded.train_config == result.train_config
    batch = make_batch()
    torch.testing.assert_close(predict_fn(loaded)(batch), result.predict(batch))
    with pytest.raises(ValueError, match=r"model\.pt"):
        load_trained(tmp_path / "last.pt")


def test_teacher_is_frozen_and_initialises_the_student(tmp_path: Path) -> None:
    result = _run("mmin", tmp_path)
    assert not result.teacher.training
    # a supplied teacher skips stage 1 and is left untouched
    before = {k: v.clone() for k, v in result.teacher.state_dict().items()}
    again = train_model(
        "mmin", TRAIN, VAL, cfg=tiny_config("mmin"), train_cfg=_tc(), teacher=result.teacher
    )
    assert all(r["stage"] == "student" for r in again.history)
    for key, value in result.teacher.state_dict().items():
        assert torch.equal(value, before[key])


def _oracle(needs: str) -> Any:
    """Predict the label when modality ``needs`` is present, else always class 0."""

    def predict(batch: dict[str, Any]) -> Tensor:
        ok = (
            batch["present"][needs]
            if "present" in batch
            else torch.ones(len(batch["label"]), dtype=torch.bool)
        )
        pred = torch.where(ok, batch["label"], torch.zeros_like(batch["label"]))
        return torch.nn.functional.one_hot(pred, 4).float()

    return predict


def test_evaluate_applies_each_condition() -> None:
    data = TinyDataset(8)
    out = evaluate(_oracle("audio"), data, modalities=MODALITIES, batch_size=3)
    with_audio = {"azz", "avz", "azt", "full"}
    for name, metrics in out.items():
        if name in with_audio:
            assert metrics["wa"] == 1.0, name
        elif name != "total":
            assert metrics["wa"] == 0.25, name  # labels are balanced: class 0 is a quarter
    assert out["total"]["wa"] == pytest.approx((3 * 1.0 + 3 * 0.25) / 6)  # pooled, full excluded


def test_evaluate_zeroes_missing_modalities() -> None:
    seen: list[dict[str, Any]] = []

    def spy(batch: dict[str, Any]) -> Tensor:
        seen.append(batch)
        return torch.zeros(len(batch["label"]), 4)

    evaluate(spy, TinyDataset(4), modalities=MODALITIES, batch_size=4, full=False)
    assert len(seen) == 6
    zvz = seen[1]
    assert float(zvz["audio"].abs().sum()) == 0 and float(zvz["text"].abs().sum()) == 0
    assert float(zvz["visual"].abs().sum()) > 0


def test_evaluate_noise_fill_is_frozen_by_the_seed() -> None:
    seen: list[Tensor] = []

    def spy(batch: dict[str, Any]) -> Tensor:
        seen.append(batch["audio"])
        return torch.zeros(len(batch["label"]), 4)

    kw: dict[str, Any] = {"modalities": MODALITIES, "fill": "noise", "level": 0.5, "full": False}
    evaluate(spy, TinyDataset(4), seed=1, **kw)
    evaluate(spy, TinyDataset(4), seed=1, **kw)
    evaluate(spy, TinyDataset(4), seed=2, **kw)
    assert torch.equal(seen[1], seen[7])  # zvz: audio noised, same seed -> same noise
    assert not torch.equal(seen[1], seen[13])
    assert float(seen[1].abs().sum()) > 0  # noised, not zeroed


def test_paper_presets() -> None:
    assert paper_train_config("mmin").student.epochs == 60
    assert paper_train_config("ifmmin").teacher.batch_size == 64
    nmer = paper_train_config("nmer")
    # NMER's script: its noise at T = 100 (level 1) in training and evaluation
    assert (nmer.student.epochs, nmer.eval_fill, nmer.level, nmer.eval_level) == (80, "nmer", 1, 1)
    assert nmer.student.beta1 == 0.5 and nmer.teacher.beta1 == 0.9
    assert paper_train_config("mmin", seed=3).seed == 3


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="model kind"):
        train_model("vae", TRAIN, VAL)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="MMINConfig"):
        train_model("mmin", TRAIN, VAL, cfg=tiny_config("nmer"))
    with pytest.raises(ValueError, match="decay_epochs"):
        StageConfig(epochs=2, decay_epochs=3)
    with pytest.raises(ValueError, match="eval_fill"):
        TrainConfig(eval_fill="zeros")  # type: ignore[arg-type]


def _nan_audio(batch: dict[str, Any], *, level: Any, generator: Any) -> dict[str, Any]:
    return {**batch, "audio": batch["audio"] * float("nan")}


def test_a_diverging_loss_stops_training_with_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(T.TrainingDiverged, match=r"teacher loss diverged at epoch 1: .*not finite"):
        _run("baseline", tmp_path, teacher_pipeline=_nan_audio)
    assert (tmp_path / "log.jsonl").read_text() == ""  # the diverged epoch is not kept
    # growth by orders of magnitude over the first epoch (the rule _fit applies every epoch)
    stage = StageConfig()
    first = {"total": 2.0, "cycle": 0.001}
    T._check_divergence("student", 3, {"total": 1900.0, "cycle": 999.0}, first, 1000.0, stage)
    with pytest.raises(T.TrainingDiverged, match=r"epoch 3: cycle = 2\.43533e\+06 is over 1000x"):
        T._check_divergence("student", 3, {"total": 3.0, "cycle": 2435333.0}, first, 1000.0, stage)
    with pytest.raises(T.TrainingDiverged, match=r"total = 2001 is over 1000x"):
        T._check_divergence("student", 3, {"total": 2001.0}, first, 1000.0, stage)
    T._check_divergence("student", 3, {"total": 1e9}, first, 0.0, stage)  # growth test off


def test_epoch_lines_and_noisy_selection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    noise = MultimodalPipeline({m: [AddGaussianSNR(snr_db=(10.0, -20.0))] for m in MODALITIES})
    result = _run("baseline", tmp_path, val_pipeline=noise, train_cfg=_tc(epoch_lines=True))
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("teacher ")]
    assert len(lines) == 2 and all(" val full WA " in x and x.endswith(" s") for x in lines)
    clean = evaluate(predict_fn(result.model), VAL, modalities=MODALITIES, missing=False)
    noisy = evaluate(
        predict_fn(result.model), VAL, modalities=MODALITIES, missing=False, noise=noise
    )
    # selection saw the frozen noisy validation set; the test protocol stays clean
    assert result.val_metrics == noisy
    again = evaluate(
        predict_fn(result.model), VAL, modalities=MODALITIES, missing=False, noise=noise
    )
    assert again == noisy and clean["full"].keys() == noisy["full"].keys()
    _run("baseline", tmp_path / "quiet", train_cfg=_tc(epoch_lines=False))
    assert "teacher 1/2" not in capsys.readouterr().out
