"""``mmnoise preview``: the PNG grid is written and its cells change with the level (issue 3, item 5)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from mmnoise.__main__ import main
from mmnoise.preview import (
    LEVELS,
    available_transforms,
    example_sample,
    preview_outputs,
    render_preview,
)
from mmnoise.sample import KINDS

# A few rows per kind keep the test fast; tokens show every transform.
SHOWN = {
    "frames": ["GaussianBlur", "Occlusion"],
    "tokens": None,
    "features": ["TimeMask", "Gain"],
    "waveform": ["Gain"],
}


def _cell(img: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    left, top, right, bottom = box
    return img[top + 2 : bottom - 2, left + 2 : right - 2, :3]  # inside the axes frame


@pytest.mark.parametrize("kind", sorted(SHOWN))
def test_png_is_written_and_cells_differ_between_levels(kind: str, tmp_path: Path) -> None:
    grid = render_preview(kind, tmp_path / "sub" / f"{kind}.png", transforms=SHOWN[kind])  # type: ignore[arg-type]
    assert grid.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = imread(grid.path)
    assert (img.shape[1], img.shape[0]) == grid.size
    assert len(grid.cells) == len(grid.names) and all(len(r) == len(LEVELS) for r in grid.cells)
    if SHOWN[kind] is not None:
        assert list(grid.names) == SHOWN[kind]
    clean = [_cell(img, row[0]) for row in grid.cells]
    for name, row, level0 in zip(grid.names, grid.cells, clean, strict=True):
        # level 0 shows the clean example: the same picture in every row
        assert np.array_equal(level0, clean[0]), name
        for col in range(1, len(LEVELS)):
            cell = _cell(img, row[col])
            assert cell.shape == level0.shape
            assert not np.array_equal(cell, level0), (name, LEVELS[col])


@pytest.mark.parametrize("kind", KINDS)
def test_every_available_transform_is_identity_at_zero_and_changes_the_example_at_one(
    kind: str,
) -> None:
    clean = example_sample(kind)["x"]  # type: ignore[arg-type]
    outputs = preview_outputs(kind, levels=(0.0, 1.0))  # type: ignore[arg-type]
    assert outputs, kind
    for name, samples in outputs.items():
        assert torch.equal(samples[0]["x"], clean), name
        assert not torch.equal(samples[-1]["x"], clean), name


def test_available_transforms_filter_by_kind_and_supply_example_arguments() -> None:
    frames, tokens, waveform = (available_transforms(k) for k in ("frames", "tokens", "waveform"))
    # containers and whole-modality ops accept every kind and are left out
    for skipped in ("Compose", "OneOf", "SomeOf", "MultimodalPipeline", "DropModalities"):
        assert skipped not in frames and skipped not in tokens
    assert {"GaussianBlur", "JPEG", "FrameDropout"} <= frames.keys()
    assert "GaussianBlur" not in tokens and "FeatureMask" not in frames
    assert {"TokenMask", "RandomTokenReplace", "TokenDeletion", "AdjacentSwap", "SpanMask"} == (
        tokens.keys()
    )
    assert tokens["TokenMask"].special_ids == (2, 3)  # type: ignore[attr-defined]
    assert "AddNoiseBank" in waveform  # built with the example noise bank
    with pytest.raises(ValueError, match="kind"):
        available_transforms("video")  # type: ignore[arg-type]


def test_example_data_look_like_their_kind() -> None:
    frames = example_sample("frames")["x"]
    assert frames.shape[:3] == (1, 4, 3) and float(frames.min()) >= 0 and float(frames.max()) <= 1
    assert not torch.equal(frames[0, 0], frames[0, -1])  # the face moves over the clip
    wave = example_sample("waveform")["x"][0, 0]
    spectrum = torch.fft.rfft(wave).abs()
    peak_hz = float(spectrum.argmax()) * 16000 / wave.shape[0]
    assert 600 <= peak_hz <= 1200  # the strongest harmonic sits near the first two formants
    tokens = example_sample("tokens")
    assert int(tokens["lengths"]["x"][0]) == 12 and tokens["x"][0, 12:].eq(0).all()


def test_cli_writes_the_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tokens.png"
    args = ["preview", "--kind", "tokens", "--out", str(out), "--transforms", "TokenMask,SpanMask"]
    assert main(args) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert "2 transforms x 5 levels" in capsys.readouterr().out


def test_cli_reports_unknown_transforms_and_kinds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.png"
    assert main(["preview", "--kind", "frames", "--out", str(out), "--transforms", "Nope"]) == 2
    err = capsys.readouterr().err
    assert "Nope" in err and "GaussianBlur" in err and not out.exists()
    assert err.startswith("mmnoise preview: no transform named") and "preview: preview" not in err
    with pytest.raises(SystemExit) as info:
        main(["preview", "--kind", "video", "--out", str(out)])
    assert info.value.code == 2


def test_missing_matplotlib_gives_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    assert main(["preview", "--kind", "tokens", "--out", str(tmp_path / "t.png")]) == 2
    err = capsys.readouterr().err
    assert "mmnoise[plot]" in err and err.count("preview") == 1  # named once


def test_module_entry_point_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mmnoise", "preview", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and "--transforms" in done.stdout
