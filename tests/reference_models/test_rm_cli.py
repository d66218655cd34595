"""``python -m reference_models``: train on an MMSA .pkl, argument errors, the demo slot."""

from __future__ import annotations

import json
import pickle
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reference_models.__main__ import main
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
