"""Every script in examples/ runs, at its tiny size, and says what it promises.

The scripts run in this process (``runpy``, as ``__main__``) to spare a torch import per script;
the DDP one runs under ``torchrun --nproc_per_node=2`` in a subprocess, as a user would run it.
The scripts assert their own claims (replay is exact, noise ignores the workers, ranks differ);
these tests check that they ran to the end and printed the expected results.
"""

from __future__ import annotations

import functools
import json
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import torch

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(autouse=True)
def _one_thread() -> object:
    # The tiny tensors here gain nothing from intra-op threads, and on a busy machine OpenMP
    # threads waiting for each other cost more than the work (10x measured on 2 shared cores).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run_example(name: str, args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    path = EXAMPLES / name
    monkeypatch.setattr(sys, "argv", [str(path), *args])
    runpy.run_path(str(path), run_name="__main__")


def test_every_example_is_tested() -> None:
    tested = set(re.findall(r'"(\d\d_\w+\.py)"', Path(__file__).read_text()))
    assert {p.name for p in EXAMPLES.glob("[0-9][0-9]_*.py")} <= tested


def test_01_quickstart(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    run_example("01_quickstart_features.py", [], monkeypatch)
    out = capsys.readouterr().out
    assert "present per modality" in out
    assert "replay reproduces the corruption; level 0 is the identity" in out


def test_02_curriculum(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    run_example("02_curriculum_schedule.py", ["--tiny"], monkeypatch)
    out = capsys.readouterr().out
    levels = [float(v) for v in re.findall(r"epoch \d+: level ([\d.]+)", out)]
    assert len(levels) == 2 and levels[0] < levels[1] == 1.0  # the curriculum ramps up to 1
    assert re.search(r"final val accuracy: clean [\d.]+, noisy at level 1 [\d.]+", out)


def test_02_curriculum_plateau(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run_example("02_curriculum_schedule.py", ["--tiny", "--schedule", "plateau"], monkeypatch)
    out = capsys.readouterr().out
    levels = [float(v) for v in re.findall(r"epoch \d+: level ([\d.]+)", out)]
    # Plateau(level=0.2, patience=0): the first evaluation sets the best score, so the level
    # stays 0.2 after epoch 0 and moves only if epoch 1 does not improve on it.
    assert levels[0] == 0.2 and levels[1] in (0.2, 0.4)


def test_03_missing(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    run_example("03_missing_modalities.py", ["--tiny"], monkeypatch)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["model", "azz", "zvz", "zzt", "avz", "azt", "zvt", "avt", "pooled"]
    for row in lines[1:3]:
        scores = [float(v) for v in row.split()[-8:]]
        assert all(0.0 <= s <= 1.0 for s in scores)
        assert scores[-1] == pytest.approx(sum(scores[:6]) / 6, abs=1e-3)  # pooled over the six


def test_04_raw_signals(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run_example("04_raw_audio_video_text.py", ["--tiny"], monkeypatch)
    out = capsys.readouterr().out
    lengths = re.search(r"text lengths: (\[.*\]) -> (\[.*\])", out)
    assert lengths is not None
    before, after = (json.loads(v) for v in lengths.groups())
    assert all(b >= a for b, a in zip(before, after, strict=True))  # deletions only shorten
    assert re.search(r"face: mean brightness ([\d.]+) -> ([\d.]+)", out)
    assert out.count("asr: ") == 2


def test_05_workers(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    run_example("05_dataset_workers.py", ["--tiny"], monkeypatch)
    out = capsys.readouterr().out
    assert "identical noise with 0 and 2 workers (shuffled): True" in out
    assert "epoch 1, level 0.40: new noise for every item: True" in out


@pytest.mark.parametrize("model", ["mmin", "nmer"])
def test_07_reference_models(
    model: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run_example("07_train_reference_models.py", ["--tiny", "--model", model], monkeypatch)
    out = capsys.readouterr().out
    assert re.search(rf"{model}: best epoch \d+, test .* WA [\d.]+ UA [\d.]+ F1 [\d.]+", out)
    rows = re.findall(r"^\| (\w+) \| gaussian \|", out, re.MULTILINE)
    assert rows == ["azz", "zvz", "zzt", "avz", "azt", "zvt", "avt", "pooled"]


#: what a rank prints when a C++ thread is torn down unjoined (std::terminate, SIGABRT)
_GLOO_ABORT = "terminate called without an active exception"


def test_06_ddp_torchrun() -> None:
    script = EXAMPLES / "06_ddp_torchrun.py"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(script),
        "--tiny",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = functools.partial(
        subprocess.run, cmd, capture_output=True, text=True, timeout=300, env=env, check=False
    )
    done = run()
    if done.returncode != 0 and _GLOO_ABORT in done.stderr:
        # a rank can abort in gloo's teardown although the example destroys its process group
        # first (an upstream race, pytorch/pytorch#179291; seen once in a CI run on 2026-12-07,
        # never in 16 runs by hand): that one signature is retried once; anything else fails at
        # once, and so does the same abort twice in a row
        done = run()
    assert done.returncode == 0, done.stderr[-3000:]
    assert "world size 2:" in done.stdout
    assert "ranks got different noise: True" in done.stdout


@pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")
@pytest.mark.filterwarnings("ignore::lightning.fabric.utilities.warnings.PossibleUserWarning")
@pytest.mark.filterwarnings("ignore:.*weights_only.*")
def test_08_lightning(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("lightning", reason="the lightning extra is part of `dev`")
    run_example("08_lightning.py", ["--tiny"], monkeypatch)
    out = capsys.readouterr().out
    levels = [float(v) for v in re.findall(r"epoch \d+: val WA [\d.]+, level now ([\d.]+)", out)]
    assert len(levels) == 3 and levels[0] >= 0.2 and levels == sorted(levels)  # only goes up
    assert levels[-1] > levels[0]  # the curriculum moves while training, not only after it
    m = re.search(r"at level ([\d.]+) \((\d+) evaluations\); .* after (\d+) evaluations", out)
    assert m is not None and float(m[1]) == levels[-1] and int(m[3]) == int(m[2]) + 1 == 4


def _without(monkeypatch: pytest.MonkeyPatch, *packages: str) -> None:
    """Make ``packages`` unimportable (as on an install without their extra)."""
    for name in list(sys.modules):
        if name.split(".")[0] in packages:
            monkeypatch.delitem(sys.modules, name)
    for package in packages:
        monkeypatch.setitem(sys.modules, package, None)  # import -> ImportError


@pytest.mark.parametrize(
    ("name", "packages", "extra"),
    [
        ("08_lightning.py", ("lightning", "pytorch_lightning"), "mmnoise[lightning]"),
        ("09_huggingface.py", ("transformers", "accelerate"), "mmnoise[hf]"),
    ],
)
def test_examples_without_their_extra_name_it(
    name: str, packages: tuple[str, ...], extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _without(monkeypatch, *packages)
    with pytest.raises(SystemExit, match=re.escape(f"pip install '{extra}'")):
        run_example(name, ["--tiny"], monkeypatch)


def test_09_huggingface(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("transformers", reason="the hf extra is part of `dev`")
    runs = []
    for _ in range(2):  # a rerun gives the same numbers (the model is built after the seed)
        torch.manual_seed(len(runs))  # whatever the global RNG held before
        run_example("09_huggingface.py", ["--tiny"], monkeypatch)
        out = capsys.readouterr().out
        assert re.search(r"trained 6 steps; final level 1.00", out)
        runs.append(re.findall(r"val WA [\w ]+: ([\d.]+)", out))
    scores = [float(v) for v in runs[0]]
    assert len(scores) == 2 and all(0.0 <= s <= 1.0 for s in scores)
    assert runs[1] == runs[0]
