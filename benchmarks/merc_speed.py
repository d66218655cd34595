"""Time MER-C on a paper-size model: corrupting vs the model forward, 1,000 items, IEMOCAP sizes.

``python -m benchmarks.merc_speed [--size 1000] [--families gaussian_snr,time_mask]`` runs the
runner of ``mmnoise bench-robustness`` on the synthetic corpus at IEMOCAP's feature sizes
(audio 130, visual 342, text 1024 dims; up to 50 / 50 / 22 steps) with MMIN's paper-size
full-modality fusion model (``reference_models.train.model_config("baseline")``, random weights:
the time of a forward pass does not depend on training), and prints the time spent corrupting,
the time in the model and the share. ``--model demo`` runs the demo's (and the results page's)
baseline instead, at the demo's sizes (32 / 48 / 64 dims, up to 30 / 30 / 16 steps). With ``--families`` it runs a subset and extrapolates to
the full feature suite per cell group (the clean cells are always run).
"""

from __future__ import annotations

import argparse
import time

import torch

from mmnoise.datasets import SyntheticMER
from mmnoise.merc.runner import run_benchmark
from mmnoise.merc.suite import load_suite
from mmnoise.sample import Kind
from reference_models.demo import DemoConfig, _configs
from reference_models.teacher import Teacher, TeacherConfig
from reference_models.train import model_config, predict_fn


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.merc_speed")
    p.add_argument("--size", type=int, default=1000)
    p.add_argument("--families", default=None, help="comma-separated subset (default: all)")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--model", choices=["paper", "demo"], default="paper")
    args = p.parse_args()
    torch.manual_seed(0)
    suite = load_suite("mer-c-v1")
    if args.model == "demo":
        dc = DemoConfig()
        names = ("audio", "visual", "text")
        ds = SyntheticMER(
            "test",
            size=args.size,
            seed=0,
            dims=dict(zip(names, dc.dims, strict=True)),
            max_len=dict(zip(names, dc.max_len, strict=True)),
        )
        config = _configs(dc, ds.num_classes)["baseline"]
    else:
        ds = SyntheticMER("test", size=args.size, seed=0)
        config = model_config("baseline")
    items = [ds[i] for i in range(len(ds))]
    assert isinstance(config, TeacherConfig)
    model = Teacher(config)
    predict = predict_fn(model.eval())
    kinds: dict[str, Kind] = {m: "features" for m in ds.modalities}
    fams = None if args.families is None else args.families.split(",")
    tic = time.perf_counter()
    card = run_benchmark(
        predict,
        items,
        suite=suite,
        kinds=kinds,
        families=fams,
        batch_size=args.batch_size,
        progress=False,
    )
    wall = time.perf_counter() - tic
    t = card["timing"]
    groups = {k.rsplit("/", 1)[0] for k in card["cells"]}
    print(
        f"{args.model} model, {args.size} items, {len(card['cells'])} cells in {len(groups)} (family, severity) "
        f"groups, wall {wall:.1f} s: corrupting {t['corrupt_s']:.1f} s, model forward "
        f"{t['predict_s']:.1f} s, corruption share {100 * t['corrupt_share']:.0f} %"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
