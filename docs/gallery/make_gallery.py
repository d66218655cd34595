"""Regenerate the gallery: ``python docs/gallery/make_gallery.py [--tables-only]``.

For every modality kind, runs ``mmnoise preview`` and stores the grid as a small palette PNG
beside this file, and writes the table of the transforms shown (name linked to the API
reference, the kinds it accepts, the first line of its docstring) as ``<kind>.md``, which
``docs/gallery.md`` includes by snippet. The site is built offline and never renders pictures,
so both are committed: rerun this after adding or changing a transform. ``tests/test_docs.py``
fails when a table is out of date.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
KINDS = ("features", "waveform", "frames", "tokens")
DPI = 64  # about 900 px wide for features: every row stays readable, the files stay small


def table(kind: str) -> str:
    """The Markdown table of the transforms that ``mmnoise preview --kind kind`` shows."""
    from mmnoise.preview import available_transforms

    rows = ["| transform | accepts | what it does |", "|---|---|---|"]
    for name, cls in sorted(available_transforms(kind).items()):
        summary = (cls.__doc__ or "").strip().splitlines()[0].replace("|", "\\|")
        accepts = ", ".join(sorted(cls.accepts))
        rows.append(f"| [`{name}`][{cls.__module__}.{name}] | {accepts} | {summary} |")
    return "\n".join(rows) + "\n"


def render(kind: str, out: Path) -> None:
    """Render the preview grid of ``kind`` into ``out`` as a 256-colour palette PNG."""
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / f"{kind}.png"
        cmd = [
            sys.executable,
            "-m",
            "mmnoise",
            "preview",
            "--kind",
            kind,
            "--out",
            str(raw),
            "--dpi",
            str(DPI),
        ]
        subprocess.run(cmd, check=True)
        # a palette PNG is 3-5x smaller than the RGBA one, and the grids use few colours
        image = Image.open(raw).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        image.save(out, optimize=True)
    print(f"{out.name}: {image.size[0]}x{image.size[1]} px, {out.stat().st_size // 1024} KiB")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables-only", action="store_true", help="skip the pictures")
    args = parser.parse_args(argv)
    for kind in KINDS:
        (HERE / f"{kind}.md").write_text(table(kind))
        if not args.tables_only:
            render(kind, HERE / f"{kind}.png")


if __name__ == "__main__":
    main()
