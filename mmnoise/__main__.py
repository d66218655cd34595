"""The ``mmnoise`` command line.

``mmnoise preview --kind K --out PATH.png [--transforms A,B]`` draws a transform grid;
``mmnoise bench-robustness --suite mer-c-v1 --predict pkg.mod:fn --data synthetic --out DIR``
runs the MER-C benchmark (:mod:`mmnoise.merc`); ``mmnoise merc-export`` writes its frozen
corrupted test set in the corpus layout.

Installed as a console script (``mmnoise``) and runnable as ``python -m mmnoise``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from mmnoise.sample import KINDS

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmnoise", description="mmnoise: multimodal noise for robust emotion recognition."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    preview = commands.add_parser(
        "preview",
        help="draw a PNG grid of every transform of a kind at levels 0 to 1",
        description="Draw one row per transform and one column per level (0, 0.25, 0.5, 0.75, "
        "1) on built-in example data; needs matplotlib.",
    )
    preview.add_argument("--kind", required=True, choices=KINDS, help="modality kind to show")
    preview.add_argument("--out", required=True, type=Path, help="PNG file to write")
    preview.add_argument(
        "--transforms",
        default=None,
        help="comma-separated class names (default: every transform that accepts the kind)",
    )
    preview.add_argument("--seed", type=int, default=0, help="seed of the random draws")
    preview.add_argument("--dpi", type=int, default=80, help="PNG resolution")
    from mmnoise.merc._cli import add_commands

    add_commands(commands)
    return parser


def _message(command: str, err: Exception) -> str:
    """The error for the terminal, its command named once ("mmnoise preview: ...").

    Example:
        >>> _message("preview", ValueError("preview: no transform named ['Nope']"))
        "mmnoise preview: no transform named ['Nope']"
    """
    text = str(err)
    for prefix in (f"mmnoise {command}: ", f"{command}: ", f"mmnoise {command} "):
        if text.startswith(prefix):
            text = text.removeprefix(prefix)
            break
    return f"mmnoise {command}: {text}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``mmnoise`` command line and return its exit status.

    Args:
        argv: the arguments after the program name (default: ``sys.argv[1:]``).

    Returns:
        0 on success, 2 on a usage error or a missing optional dependency.

    Example:
        >>> main(["preview", "--kind", "tokens", "--transforms", "Nope", "--out", "x.png"])
        2
    """
    args = _parser().parse_args(argv)
    if args.command in ("bench-robustness", "merc-export", "merc-list"):
        from mmnoise.merc._cli import run_command

        try:
            return run_command(args)
        except (ValueError, ImportError, FileNotFoundError, KeyError) as e:
            print(_message(args.command, e), file=sys.stderr)
            return 2
    from mmnoise.preview import render_preview  # imports the transform families

    names = None
    if args.transforms:
        names = [n.strip() for n in args.transforms.split(",") if n.strip()]
    try:
        grid = render_preview(args.kind, args.out, transforms=names, seed=args.seed, dpi=args.dpi)
    except (ValueError, ImportError) as e:
        print(_message("preview", e), file=sys.stderr)
        return 2
    print(f"wrote {grid.path}: {len(grid.names)} transforms x {len(grid.levels)} levels")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
