"""Picture every transform of a modality kind at levels 0, 0.25, 0.5, 0.75 and 1.

``mmnoise preview --kind frames --out frames.png`` (see :mod:`mmnoise.__main__`) draws a grid with
one row per transform and one column per level, on built-in example data generated in code: a
synthetic vowel (waveform, drawn as waveform + spectrogram), a synthetic face clip (frames, drawn
as a film strip), a smooth feature map (features, drawn as a heatmap) and a short sentence over a
tiny vocabulary (tokens, drawn as text). The transforms are every registered class that accepts
the kind and can be built from defaults (plus the example vocabulary or noise bank); containers
and whole-modality operations are left out. matplotlib is needed only here, imported lazily.
"""

from __future__ import annotations

import importlib
import inspect
import math
import pkgutil
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mmnoise.extras import import_extra
from mmnoise.rng import make_generator
from mmnoise.sample import KINDS, KINDS_KEY, LENGTHS, Kind, Sample
from mmnoise.transforms import NoiseTransform, registered_transforms

__all__ = [
    "EXAMPLE_VOCAB",
    "LEVELS",
    "PreviewGrid",
    "available_transforms",
    "example_sample",
    "preview_outputs",
    "render_preview",
]

#: The columns of the grid.
LEVELS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
#: The tiny vocabulary of the token example: 0 pad, 1 unk / mask, 2 and 3 sentence markers.
EXAMPLE_VOCAB: tuple[str, ...] = (
    "<pad>", "<unk>", "<s>", "</s>", "i", "really", "did", "not", "expect", "that", "to",
    "happen", "today", "so", "happy", "sad", "angry", "you", "it", "was", "great", "oh", "no",
)  # fmt: skip
_KEY = "x"
_SR = 16000
_SENTENCE = ("<s>", "oh", "i", "really", "did", "not", "expect", "that", "to", "happen", "today")


def _vowel(seconds: float = 0.5) -> Tensor:
    """A vowel /a/: a 120 Hz harmonic source shaped by formants F1-F3 = 730, 1090, 2440 Hz.

    Formants are Peterson & Barney's (1952) averages for /a/ by male speakers; a slow vibrato and
    a smooth onset / offset make it look like speech rather than a test tone.
    """
    t = torch.arange(int(seconds * _SR), dtype=torch.float64) / _SR
    f0 = 120.0 * (1 + 0.02 * torch.sin(2 * math.pi * 5.0 * t))
    phase = 2 * math.pi * torch.cumsum(f0, 0) / _SR
    y = torch.zeros_like(t)
    for h in range(1, 34):  # harmonics up to 4 kHz (a generator, not the hot path)
        f = 120.0 * h
        gain = sum(
            1 / (1 + ((f - fc) / bw) ** 2) for fc, bw in ((730, 90), (1090, 110), (2440, 170))
        )
        y = y + gain / h * torch.sin(h * phase)
    envelope = torch.clamp(torch.minimum(t / 0.05, (seconds - t) / 0.08), 0, 1)
    y = y * envelope
    return (0.5 * y / y.abs().max()).float().reshape(1, 1, -1)


def _blob(yy: Tensor, xx: Tensor, cy: float, cx: float, ry: float, rx: float) -> Tensor:
    """An anti-aliased filled ellipse in [0, 1] (sigmoid of the normalised distance)."""
    d = torch.sqrt(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2)
    return torch.sigmoid((1 - d) * min(ry, rx) * 2.5)


def _face_clip(frames: int = 4, size: int = 56) -> Tensor:
    """A cartoon face that opens its mouth and raises its eyebrows over the clip (1, T, 3, H, W)."""
    grid = torch.arange(size).float()
    yy, xx = torch.meshgrid(grid, grid, indexing="ij")
    s = size / 56
    clip = []
    for i in range(frames):
        k = i / max(frames - 1, 1)
        img = torch.stack([0.55 + 0.25 * yy / size, 0.62 + 0.2 * yy / size, 0.75 + 0.0 * yy])
        layers: list[tuple[Tensor, tuple[float, float, float]]] = [
            (_blob(yy, xx, 16 * s, 28 * s, 13 * s, 19 * s), (0.25, 0.15, 0.1)),  # hair
            (_blob(yy, xx, 29 * s, 28 * s, 21 * s, 16 * s), (0.93, 0.76, 0.63)),  # face
            (_blob(yy, xx, 25 * s, 21 * s, 3 * s, 4 * s), (1.0, 1.0, 1.0)),  # eye whites
            (_blob(yy, xx, 25 * s, 35 * s, 3 * s, 4 * s), (1.0, 1.0, 1.0)),
            (_blob(yy, xx, 25 * s, 21.5 * s, 1.8 * s, 1.8 * s), (0.15, 0.2, 0.35)),  # irises
            (_blob(yy, xx, 25 * s, 35.5 * s, 1.8 * s, 1.8 * s), (0.15, 0.2, 0.35)),
            (_blob(yy, xx, (20 - 2.5 * k) * s, 21 * s, 1.0 * s, 4.5 * s), (0.3, 0.2, 0.1)),
            (_blob(yy, xx, (20 - 2.5 * k) * s, 35 * s, 1.0 * s, 4.5 * s), (0.3, 0.2, 0.1)),
            (_blob(yy, xx, 32 * s, 28 * s, 3 * s, 1.6 * s), (0.85, 0.6, 0.5)),  # nose
            (_blob(yy, xx, 40 * s, 28 * s, (1.2 + 3.5 * k) * s, 6 * s), (0.6, 0.15, 0.2)),
        ]
        for mask, colour in layers:
            img = img * (1 - mask) + mask * torch.tensor(colour)[:, None, None]
        clip.append(img)
    return torch.stack(clip)[None].clamp(0, 1)


def _features(steps: int = 64, dim: int = 24) -> Tensor:
    """A smooth (1, T, D) feature map: drifting sinusoids plus a burst in the middle."""
    t = torch.arange(steps).float()[:, None]
    d = torch.arange(dim).float()[None, :]
    x = torch.sin(t / 7 + d / 3) + 0.5 * torch.cos(t / 13 - d / 5)
    x = x + 1.5 * torch.exp(-(((t - steps / 2) / 6) ** 2) - ((d - dim / 3) / 4) ** 2)
    return x[None]


def _noise_bank() -> Tensor:
    """Two 0.25 s example noises (N, L): brown-ish rumble and a 50 Hz hum with hiss."""
    g = make_generator(7)
    n = _SR // 4
    rumble = torch.cumsum(torch.randn(n, generator=g), 0)
    rumble = rumble - rumble.mean()
    t = torch.arange(n) / _SR
    hum = torch.sin(2 * math.pi * 50 * t) + 0.3 * torch.randn(n, generator=g)
    bank = torch.stack([rumble / rumble.abs().max(), hum / hum.abs().max()])
    return bank.float()


def example_sample(kind: Kind) -> Sample:
    """Return the built-in example batch (B = 1) for a kind, under the key ``"x"``.

    Args:
        kind: ``waveform``, ``frames``, ``features`` or ``tokens``.

    Returns:
        A sample dict with ``"kinds"`` declared (and ``"lengths"`` for tokens).

    Raises:
        ValueError: unknown kind.

    Example:
        >>> {k: tuple(example_sample(k)["x"].shape) for k in ("waveform", "tokens")}
        {'waveform': (1, 1, 8000), 'tokens': (1, 14)}
    """
    if kind == "waveform":
        x = _vowel()
    elif kind == "frames":
        x = _face_clip()
    elif kind == "features":
        x = _features()
    elif kind == "tokens":
        ids = [EXAMPLE_VOCAB.index(w) for w in (*_SENTENCE, "</s>")]
        x = torch.tensor([ids + [0] * (14 - len(ids))])
        return {_KEY: x, KINDS_KEY: {_KEY: kind}, LENGTHS: {_KEY: torch.tensor([len(ids)])}}
    else:
        raise ValueError(f"example_sample: expected a kind in {KINDS}, got {kind!r}.")
    return {_KEY: x, KINDS_KEY: {_KEY: kind}}


def _example_args(kind: Kind) -> dict[str, Any]:
    """Constructor arguments the example data can supply (vocabulary, noise bank, rate)."""
    if kind == "tokens":
        return {"pad_id": 0, "mask_id": 1, "special_ids": (2, 3), "vocab_size": len(EXAMPLE_VOCAB)}
    if kind == "waveform":
        return {"noise_bank": _noise_bank(), "bank": _noise_bank(), "sample_rate": _SR}
    return {}


def _import_families() -> None:
    """Import every module of :mod:`mmnoise.transforms`, so that all classes are registered."""
    import mmnoise.transforms as package

    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")


def _build(cls: type[NoiseTransform], kind: Kind) -> NoiseTransform | None:
    """Build ``cls`` from its defaults plus the example arguments, or None if it needs more."""
    params = inspect.signature(cls.__init__).parameters
    supplied = {k: v for k, v in _example_args(kind).items() if k in params}
    for name, param in params.items():
        if name in ("self", "keys") or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.default is inspect.Parameter.empty and name not in supplied:
            return None
    try:
        return cls(**supplied)
    except RuntimeError:  # needs what this machine lacks (FFmpegCodec without FFmpeg)
        return None


def available_transforms(kind: Kind) -> dict[str, NoiseTransform]:
    """Return ``{name: transform}`` for every registered transform the preview can show for a kind.

    Classes are taken from :func:`mmnoise.transforms.base.registered_transforms`, keeping those
    whose ``accepts`` holds ``kind`` (whole-sample operations and containers, which accept every
    kind, are left out) and that can be built from defaults plus the example arguments.

    Example:
        >>> "GaussianBlur" in available_transforms("frames")
        True
    """
    if kind not in KINDS:
        raise ValueError(f"available_transforms: expected a kind in {KINDS}, got {kind!r}.")
    _import_families()
    found: dict[str, NoiseTransform] = {}
    for name, cls in sorted(registered_transforms().items()):
        accepts = cls.accepts
        if name.startswith("_") or kind not in accepts or accepts >= frozenset(KINDS):
            continue
        if getattr(cls, "kernel", None) is None:
            continue
        built = _build(cls, kind)
        if built is not None:
            found[name] = built
    return found


def _select(kind: Kind, names: Sequence[str] | None) -> dict[str, NoiseTransform]:
    found = available_transforms(kind)
    if names is None:
        return found
    unknown = [n for n in names if n not in found]
    if unknown:
        raise ValueError(
            f"preview: no transform named {unknown} for kind {kind!r}; available: {sorted(found)}."
        )
    return {n: found[n] for n in names}


def preview_outputs(
    kind: Kind,
    *,
    transforms: Sequence[str] | None = None,
    seed: int = 0,
    levels: Sequence[float] = LEVELS,
) -> dict[str, list[Sample]]:
    """Run each transform on the example data at every level of ``levels``.

    Every level uses a generator seeded with ``seed``, so the columns differ only by level.

    Args:
        kind: the modality kind.
        transforms: class names to show (default: all of :func:`available_transforms`).
        seed: seed of the random draws.
        levels: the severities to run (default :data:`LEVELS`).

    Returns:
        ``{name: [output sample per level]}``.

    Raises:
        ValueError: unknown kind or transform name.
        RuntimeError: a transform failed on the example data.

    Example:
        >>> out = preview_outputs("frames", transforms=["Contrast"])
        >>> [round(float(s["x"].std()), 3) for s in out["Contrast"]][::4]
        [0.187, 0.037]
    """
    chosen = _select(kind, transforms)
    sample = example_sample(kind)
    outputs: dict[str, list[Sample]] = {}
    for name, t in chosen.items():
        try:
            outputs[name] = [t(sample, level=lv, generator=make_generator(seed)) for lv in levels]
        except Exception as e:  # name the transform: the grid has many rows
            raise RuntimeError(f"preview: {name} failed on the example {kind}: {e}") from e
    return outputs


@dataclass(frozen=True)
class PreviewGrid:
    """Where :func:`render_preview` wrote the grid and where each cell lies in the image.

    Attributes:
        path: the PNG file.
        names: the transform of each row.
        levels: the level of each column.
        cells: ``cells[row][col] = (left, top, right, bottom)`` pixel box of the cell in the PNG.
        size: ``(width, height)`` of the PNG in pixels.
    """

    path: Path
    names: tuple[str, ...]
    levels: tuple[float, ...]
    cells: tuple[tuple[tuple[int, int, int, int], ...], ...]
    size: tuple[int, int]


def _matplotlib() -> Any:
    who = "mmnoise preview: drawing the grid"
    agg = import_extra("matplotlib.backends.backend_agg", who=who, extra="plot")
    return import_extra("matplotlib.figure", who=who, extra="plot").Figure, agg.FigureCanvasAgg


def _spectrogram_db(x: Tensor) -> Tensor:
    """Return a (F, frames) log-magnitude spectrogram in dB of a 1-D signal."""
    spec = torch.stft(
        x, n_fft=512, hop_length=64, window=torch.hann_window(512), return_complex=True
    )
    return 20 * torch.log10(spec.abs() + 1e-6)


def _strip(x: Tensor) -> Tensor:
    """Lay the T frames of (T, C, H, W) side by side with white gaps: (H, T*W + gaps, C)."""
    gap = torch.ones(x.shape[1], x.shape[2], 2)
    parts: list[Tensor] = []
    for frame in x:  # T frames of one example, for display only
        parts.extend([frame, gap])
    return torch.cat(parts[:-1], dim=2).permute(1, 2, 0).clamp(0, 1)


def _decode(ids: Tensor, length: int) -> str:
    words = [
        EXAMPLE_VOCAB[i] if 0 <= i < len(EXAMPLE_VOCAB) else "?" for i in ids[:length].tolist()
    ]
    return "\n".join(textwrap.wrap(" ".join(words), width=30))


# cell (width, height) in pixels at 80 dpi; the layout sits on whole pixels so that equal data
# give equal pixels in every cell
_CELL_PX: dict[str, tuple[int, int]] = {
    "waveform": (160, 136),
    "frames": (240, 58),
    "features": (144, 80),
    "tokens": (176, 60),
}


def render_preview(
    kind: Kind,
    out: str | Path,
    *,
    transforms: Sequence[str] | None = None,
    seed: int = 0,
    dpi: int = 80,
) -> PreviewGrid:
    """Draw the preview grid of a kind into a PNG file.

    Args:
        kind: ``waveform``, ``frames``, ``features`` or ``tokens``.
        out: the PNG path (parent folders are created).
        transforms: class names to show (default: every available one).
        seed: seed of the random draws (shared by all columns).
        dpi: resolution of the PNG in dots per inch (the layout scales with it).

    Returns:
        A :class:`PreviewGrid` with the path and the pixel box of every cell.

    Raises:
        ImportError: matplotlib is missing or cannot be imported.
        ValueError: unknown kind or transform name, or no transform to show.
    """
    figure_cls, canvas_cls = _matplotlib()
    outputs = preview_outputs(kind, transforms=transforms, seed=seed)
    if not outputs:
        raise ValueError(f"preview: no transform accepts kind {kind!r}.")
    clean = example_sample(kind)[_KEY]
    names = tuple(outputs)
    scale = dpi / 80
    cell_w, cell_h = (round(v * scale) for v in _CELL_PX[kind])
    left, top, gap = round(120 * scale), round(28 * scale), round(8 * scale)
    width = left + len(LEVELS) * (cell_w + gap)
    height = top + len(names) * (cell_h + gap)
    fig = figure_cls(figsize=(width / dpi, height / dpi), dpi=dpi)
    canvas_cls(fig)

    def add_axes(x0: int, y0: int, w: int, h: int) -> Any:
        # (x0, y0) is the top-left pixel; matplotlib counts from the bottom left
        return fig.add_axes((x0 / width, 1 - (y0 + h) / height, w / width, h / height))

    # fixed colour / axis scales from the clean example, so that the levels compare
    peak = float(clean.abs().max()) * 2 if kind == "waveform" else 1.0
    db_max = float(_spectrogram_db(clean[0, 0]).max()) if kind == "waveform" else 0.0
    lo, hi = float(clean.min()), float(clean.max())
    cells = []
    for r, name in enumerate(names):
        boxes = []
        for c, (lv, sample) in enumerate(zip(LEVELS, outputs[name], strict=True)):
            x0, y0 = left + c * (cell_w + gap), top + r * (cell_h + gap)
            boxes.append((x0, y0, x0 + cell_w, y0 + cell_h))
            x = sample[_KEY][0].detach().cpu()
            x = x if kind == "tokens" else x.float()
            if kind == "waveform":  # waveform above, spectrogram below
                upper = round(cell_h * 0.42)
                axes = [
                    add_axes(x0, y0, cell_w, upper),
                    add_axes(x0, y0 + upper + 2, cell_w, cell_h - upper - 2),
                ]
                axes[0].plot(x[0].numpy(), linewidth=0.4, color="tab:blue")
                axes[0].set_ylim(-peak, peak)
                axes[0].set_xlim(0, x.shape[-1])
                spec = _spectrogram_db(x[0]).numpy()
                axes[1].imshow(
                    spec, origin="lower", aspect="auto", cmap="magma", vmin=db_max - 80, vmax=db_max
                )
            else:
                axes = [add_axes(x0, y0, cell_w, cell_h)]
                if kind == "frames":
                    img = _strip(x).numpy()
                    img = img[..., 0] if img.shape[-1] == 1 else img
                    axes[0].imshow(img, cmap="gray", vmin=0, vmax=1, aspect="auto")
                elif kind == "features":
                    axes[0].imshow(x.T.numpy(), aspect="auto", cmap="viridis", vmin=lo, vmax=hi)
                else:
                    n = int(sample.get(LENGTHS, {}).get(_KEY, torch.tensor([x.shape[0]]))[0])
                    axes[0].text(
                        0.03, 0.5, _decode(x, n), fontsize=7, family="monospace", va="center"
                    )
            for ax in axes:
                ax.set_xticks([])
                ax.set_yticks([])
            if r == 0:
                axes[0].set_title(f"level {lv:g}", fontsize=9)
            if c == 0:
                axes[0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
        cells.append(tuple(boxes))
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return PreviewGrid(path, names, LEVELS, tuple(cells), (width, height))
