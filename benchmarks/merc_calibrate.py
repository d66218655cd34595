"""Calibrate the MER-C feature severities on the built-in baseline (how mer-c-v1 was frozen).

``python -m benchmarks.merc_calibrate`` (after ``python -m reference_models.merc_predict --out
runs/merc``): for every feature family of the suite, sweep its physical parameter on the
validation split of the synthetic corpus (the demo's sizes, seed 0), and print / write
(``runs/merc_calibration.json``) the values where the baseline loses 10, 25, 40, 55 and 70 % of
its clean-to-chance gap, rounded. A new suite version pastes them into its JSON file; mer-c-v1
holds the values of this script's run on 2026-11-30 (2 CPU cores, seed 0).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mmnoise.datasets import SyntheticMER
from mmnoise.merc.calibrate import calibrate_family
from mmnoise.merc.suite import load_suite
from mmnoise.sample import Kind

GRIDS: dict[str, list[float]] = {
    "gaussian_snr": [30 - 2.5 * i for i in range(21)],
    "colored_snr": [30 - 2.5 * i for i in range(21)],
    "impulse": [0.025 * i for i in range(1, 25)],
    "time_mask": [0.05 * i for i in range(1, 21)],
    "feature_mask": [0.05 * i for i in range(1, 21)],
    "frame_freeze": [0.05 * i for i in range(1, 21)],
    "quantize": [8, 7, 6, 5, 4, 3, 2, 1],
    "time_shift": [0.05 * i for i in range(1, 19)],
    "temporal_missing": [0.05 * i for i in range(1, 21)],
    "feature_missing": [0.05 * i for i in range(1, 21)],
}


def _round(name: str, v: float) -> float:
    if name.endswith("snr"):
        return round(v * 2) / 2
    if name == "quantize":
        return float(round(v))
    return round(v, 2)


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.merc_calibrate")
    p.add_argument("--val-size", type=int, default=400)
    p.add_argument("--out", type=Path, default=Path("runs/merc_calibration.json"))
    args = p.parse_args()
    from reference_models.merc_predict import baseline

    names = ("audio", "visual", "text")
    ds = SyntheticMER(
        "val",
        size=args.val_size,
        seed=0,
        dims=dict(zip(names, (32, 48, 64), strict=True)),
        max_len=dict(zip(names, (30, 30, 16), strict=True)),
    )
    items = [ds[i] for i in range(len(ds))]
    kinds: dict[str, Kind] = {m: "features" for m in names}
    suite = load_suite("mer-c-v1")
    results = {}
    for fam in suite.families_of("features"):
        r = calibrate_family(baseline, items, fam, GRIDS[fam.name], kinds=kinds, chance=0.25)
        r["rounded"] = [_round(fam.name, v) for v in r["severities"]]
        results[fam.name] = r
        print(
            f"{fam.name:18s} clean {100 * r['clean']:.1f}  severities {r['rounded']}  "
            f"scaled {r['scaled']}",
            flush=True,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
