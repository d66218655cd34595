"""The ``mmnoise bench-robustness``, ``merc-export`` and ``merc-list`` commands (arguments).

``mmnoise merc-list`` lists the shipped suites and their families. ``mmnoise bench-robustness
--suite mer-c-v2 --predict package.module:function --data
synthetic|mmin-h5|mmsa-pkl [data options] --out DIR`` evaluates any model and writes the report
card into ``DIR``: ``card.json`` (cells, suite version and hashes; resumable), ``report.md``,
``scores.json``, ``curves.png`` and ``heatmap.png``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mmnoise.merc.suite import load_suite
from mmnoise.sample import Sample

__all__ = [
    "add_commands",
    "list_suites",
    "load_items",
    "load_predict",
    "run_bench",
    "run_command",
    "run_export",
]


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--suite",
        default="mer-c-v2",
        help="suite name or path to a suite .json (mmnoise merc-list shows them)",
    )
    p.add_argument(
        "--data", required=True, choices=("synthetic", "mmin-h5", "mmsa-pkl"), help="test data"
    )
    p.add_argument("--size", type=int, default=1000, help="synthetic: test items")
    p.add_argument("--corpus-seed", type=int, default=0, help="synthetic: corpus seed")
    p.add_argument("--dims", default="130,342,1024", help="synthetic: audio,visual,text dims")
    p.add_argument("--max-len", default="50,50,22", help="synthetic: audio,visual,text lengths")
    p.add_argument("--features-root", type=Path, help="mmin-h5: feature_root (A/, V/, L/)")
    p.add_argument("--targets-root", type=Path, help="mmin-h5: target_root (one folder per fold)")
    p.add_argument("--fold", type=int, default=1, help="mmin-h5: fold (1-based)")
    p.add_argument("--norm", default="trn", choices=("trn", "utt", "none"), help="mmin-h5: norm")
    p.add_argument("--pkl", type=Path, help="mmsa-pkl: the .pkl file")
    p.add_argument(
        "--task",
        default="classification",
        choices=("classification", "regression"),
        help="mmsa-pkl: class labels, or MOSI / MOSEI sentiment scores (MAE, Corr, Acc-2, F1, "
        "Acc-7)",
    )
    p.add_argument(
        "--text",
        default="features",
        choices=("features", "bert_ids"),
        help="mmsa-pkl: the text features, or the BERT token ids of text_bert",
    )


def add_commands(commands: Any) -> None:
    """Add ``bench-robustness``, ``merc-export`` and ``merc-list`` to an argparse subparsers."""
    commands.add_parser(
        "merc-list",
        help="list the MER-C suites and their families",
        description="Every shipped suite with its families (kind, unit, severities, split) and "
        "missing protocols.",
    )
    bench = commands.add_parser(
        "bench-robustness",
        help="evaluate a model on a frozen MER-C suite and write a report card",
        description="Score predict(batch) -> logits on every cell of the suite (families x 5 "
        "severities x conditions, missing rate, NMER fill); resumable.",
    )
    _data_args(bench)
    bench.add_argument("--predict", required=True, help="package.module:function")
    bench.add_argument("--out", required=True, type=Path, help="report card folder")
    bench.add_argument("--reference", type=Path, help="card.json of the reference model")
    bench.add_argument("--model-name", default=None, help="the model's name in the card")
    bench.add_argument(
        "--families",
        default=None,
        help="comma-separated subset of families (also 'missing_rate', 'nmer_fill'; the clean "
        "cells always run)",
    )
    bench.add_argument("--batch-size", type=int, default=100)
    bench.add_argument(
        "--no-progress", action="store_true", help="no tqdm bar (default: a bar on a terminal only)"
    )
    bench.add_argument("--no-plots", action="store_true", help="no PNGs")
    export = commands.add_parser(
        "merc-export",
        help="write the frozen corrupted test set in the corpus layout",
        description="One folder per family and severity, in the MMIN h5 or MMSA pkl layout.",
    )
    _data_args(export)
    export.add_argument("--out", required=True, type=Path, help="root folder")
    export.add_argument(
        "--layout",
        default="mmin-h5",
        choices=("mmin-h5", "mmsa-pkl", "torch"),
        help="mmin-h5 / mmsa-pkl: audio, visual, text features; torch: any modalities "
        "(items.pt per cell). A manifest.json with SHA-256 of every file is written last.",
    )
    export.add_argument(
        "--families",
        default=None,
        help="comma-separated subset of families (also 'missing_rate': presence tables per "
        "eta, 'nmer_fill': noised copies per severity; default: all of the data's kinds)",
    )
    export.add_argument("--severities", default="1,2,3,4,5", help="comma-separated severities")


def load_predict(spec: str) -> Callable[[Sample], Any]:
    """Import ``package.module:function``, looking in the working directory too.

    ``python -m mmnoise`` puts the working directory on ``sys.path`` and the ``mmnoise``
    console script does not; both find a module there (``--predict mypred:predict`` beside
    the data), as a user expects.

    Raises:
        ValueError: not of that form, not importable, or not callable.
    """
    if ":" not in spec:
        raise ValueError(f"expected --predict as package.module:function, got {spec!r}.")
    mod, _, name = spec.partition(":")
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.append(cwd)  # after the installed packages: never shadows them
    try:
        module = importlib.import_module(mod)
    except ModuleNotFoundError as err:
        if err.name is None or not mod.startswith(err.name):
            raise  # the module was found; something it imports is missing
        raise ValueError(
            f"--predict {spec}: no module named {err.name!r} in the working directory {cwd} or "
            "on sys.path; run from the folder that holds it, or add its folder to PYTHONPATH."
        ) from err
    fn = getattr(module, name, None)
    if not callable(fn):
        raise ValueError(f"--predict {spec}: {name!r} is not a callable of module {mod!r}.")
    return fn  # type: ignore[no-any-return]


def load_items(args: argparse.Namespace) -> tuple[list[Sample], str]:
    """Load the test items named by the data options; return them and the data's name."""
    if args.data == "synthetic":
        from mmnoise.datasets import SyntheticMER

        names = ("audio", "visual", "text")
        dims, lens = _ints(args.dims), _ints(args.max_len)
        ds: Any = SyntheticMER(
            "test",
            size=args.size,
            seed=args.corpus_seed,
            dims=dict(zip(names, dims, strict=True)),
            max_len=dict(zip(names, lens, strict=True)),
        )
        name = f"SyntheticMER(test, size={args.size}, seed={args.corpus_seed}, dims={dims}, max_len={lens})"
    elif args.data == "mmin-h5":
        from mmnoise.datasets import MMINFeatures

        if args.features_root is None or args.targets_root is None:
            raise ValueError("--data mmin-h5 needs --features-root and --targets-root.")
        norm = None if args.norm == "none" else args.norm
        ds = MMINFeatures(
            args.features_root, args.targets_root, fold=args.fold, split="tst", norm=norm
        )
        name = f"MMIN h5 {args.features_root} fold {args.fold} tst"
    else:
        from mmnoise.datasets import MMSAPickle

        if args.pkl is None:
            raise ValueError("--data mmsa-pkl needs --pkl.")
        ds = MMSAPickle(args.pkl, split="test", label=args.task, text=args.text)
        name = f"MMSA {args.pkl} test"
    return [ds[i] for i in range(len(ds))], name


def _kinds(items: list[Sample]) -> dict[str, Any]:
    from mmnoise.data import item_kinds

    return dict(item_kinds(items[0]))


def run_bench(args: argparse.Namespace) -> int:
    """Run ``bench-robustness``; return the exit status."""
    from mmnoise.merc.report import check_reference, write_report
    from mmnoise.merc.runner import data_hash, run_benchmark

    suite = load_suite(args.suite)
    predict = load_predict(args.predict)
    items, data_name = load_items(args)
    kinds = _kinds(items)
    if args.reference is not None and args.reference.is_file():
        # refuse a foreign reference before the run, not after it (the baseline's own card
        # may not exist yet: it is then read once this run has written it)
        this = {"suite_sha256": suite.sha256, "data": {"sha256": data_hash(items, list(kinds))}}
        check_reference(
            this,
            json.loads(args.reference.read_text()),
            who=f"bench-robustness --reference {args.reference}",
        )
    tic = time.perf_counter()
    card = run_benchmark(
        predict,
        items,
        suite=suite,
        kinds=kinds,
        out=args.out,
        batch_size=args.batch_size,
        model=args.model_name or args.predict,
        data=data_name,
        families=None if args.families is None else args.families.split(","),
        # a bar only on a terminal: redirected to a log file it is a stream of carriage returns
        progress=not args.no_progress and sys.stderr.isatty(),
        task=args.task,
    )
    reference = json.loads(args.reference.read_text()) if args.reference else None
    paths = write_report(card, suite, args.out, reference=reference, plots=not args.no_plots)
    t, total = card["timing"], time.perf_counter() - tic
    # the card's times add up every run of a resumed card: never a share over 100 %
    whole = max(total, t["corrupt_s"] + t["predict_s"])
    share = f"{100 * t['corrupt_s'] / whole:.0f} %" if whole > 0 else "-"
    print(
        f"{len(card['cells'])} cells in {total:.1f} s: corrupting {t['corrupt_s']:.1f} s "
        f"({share} of it), model forward {t['predict_s']:.1f} s"
    )
    for p in paths.values():
        print(f"wrote {p}")
    return 0


def list_suites() -> str:
    """The text of ``mmnoise merc-list``: every shipped suite and its families.

    Example:
        >>> print(list_suites().splitlines()[0])
        mer-c-v1 (version 1, frozen 2026-11-30): 25 families
    """
    from mmnoise.merc.suite import available_suites

    lines = []
    for name in available_suites():
        suite = load_suite(name)
        lines.append(
            f"{name} (version {suite.version}, frozen {suite.data.get('frozen', '?')}): "
            f"{len(suite.families)} families"
        )
        for f in suite.families:
            sev = ", ".join(f"{v:g}" for v in f.severities)
            tags = "" if f.split == "test" else f" [{f.split}]"
            tags += "" if f.group == "corruption" else f" [{f.group}]"
            lines.append(f"  {f.name:<18} {f.kind:<9} {f.param} = {sev} ({f.unit}){tags}")
        etas = ", ".join(f"{v:g}" for v in suite.missing_rate)
        lines.append(f"  missing_rate       eta = {etas} ({suite.missing_generator} generator)")
        nmer = ", ".join(f"{v:g}" for v in suite.nmer_fill["severities"])
        lines.append(f"  nmer_fill          t / 100 = {nmer}")
    lines.append(
        "lnln-missing (mmnoise.merc.lnln, Python only): LNLN / MMSA per-position missing, text "
        "[UNK] = 100, frames zeroed, rates 0.0-0.9, seeds 1111-1113, MMSA's sentiment metrics"
    )
    lines.append(
        "mer-noise-2024 (mmnoise.merc.mernoise, Python only, raw signals): MER2023 / MER2024 "
        "noise track, speech noise 5-10 dB from your bank, pyramid blur 1 / 2 / 4, JPEG 95; "
        "weighted F1 (2024), weighted F1 - 0.25 x valence MSE (2023)"
    )
    return "\n".join(lines)


def run_command(args: argparse.Namespace) -> int:
    """Run ``bench-robustness``, ``merc-export`` or ``merc-list``; return the exit status."""
    if args.command == "merc-list":
        print(list_suites())
        return 0
    return run_bench(args) if args.command == "bench-robustness" else run_export(args)


def run_export(args: argparse.Namespace) -> int:
    """Run ``merc-export``; return the exit status."""
    from mmnoise.merc.export import export_suite

    suite = load_suite(args.suite)
    items, _ = load_items(args)
    folders = export_suite(
        items,
        suite,
        args.out,
        kinds=_kinds(items),
        layout=args.layout,
        families=None if args.families is None else args.families.split(","),
        severities=_ints(args.severities),
    )
    print(f"wrote {len(folders)} cells under {args.out}")
    return 0
