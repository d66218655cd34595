"""Print the tables of docs/mer-c-results.md from the report cards of the reference models.

``python -m benchmarks.merc_results_page runs/merc_cards`` reads ``<dir>/<model>/card.json``
for baseline, MMIN, IF-MMIN and NMER (each written by ``mmnoise bench-robustness``) and prints
the summary, per-family, missing-rate, NMER-fill and speed tables, scored against the
baseline's card.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from mmnoise.merc.report import scores
from mmnoise.merc.suite import load_suite

MODELS = ("baseline", "mmin", "ifmmin", "nmer")
NAMES = {"baseline": "baseline", "mmin": "MMIN", "ifmmin": "IF-MMIN", "nmer": "NMER"}


def _p(v: float) -> str:
    return "-" if v is None or math.isnan(v) else f"{100 * v:.1f}"


def main(root: str) -> int:
    suite = load_suite("mer-c-v1")
    cards = {m: json.loads((Path(root) / m / "card.json").read_text()) for m in MODELS}
    ref = cards["baseline"]
    sc = {m: scores(c, suite, reference=ref) for m, c in cards.items()}
    head = "| | " + " | ".join(NAMES[m] for m in MODELS) + " |"
    sep = "|---" * (len(MODELS) + 1) + "|"
    out = ["### Summary (WA %, CE / mCE in % of the baseline)", "", head, sep]

    def row(label: str, values: list[str]) -> None:
        out.append(f"| {label} | " + " | ".join(values) + " |")

    row("clean, all modalities", [_p(sc[m]["conditions"]["full"]["WA"]) for m in MODELS])
    row(
        "clean, MMIN's six conditions pooled",
        [_p(sc[m]["conditions"]["mmin_pooled"]["WA"]) for m in MODELS],
    )
    row("mCE (test corruption families)", [_p(sc[m]["mCE"]) for m in MODELS])
    row("relative mCE", [_p(sc[m]["relative_mCE"]) for m in MODELS])
    tests = [
        f.name
        for f in suite.families_of("features")
        if f.group == "corruption" and f.split == "test"
    ]
    row(
        "mean area under the WA-severity curve",
        [_p(sum(sc[m]["families"][f]["auc"] for f in tests) / len(tests)) for m in MODELS],
    )
    row("area under WA over eta 0..0.7", [f"{100 * sc[m]['missing_rate_auc']:.1f}" for m in MODELS])
    row(
        "NMER fill, mean WA over conditions x severities",
        [
            _p(sum(sum(v) for v in sc[m]["nmer_fill"].values()) / (5 * len(sc[m]["nmer_fill"])))
            for m in MODELS
        ],
    )
    out += [
        "",
        "### Per family: CE (% of the baseline) and WA at severity 5 (full condition)",
        "",
        head,
        sep,
    ]
    for f in suite.families_of("features"):
        tag = (
            " (held out)"
            if f.split == "heldout"
            else (" (missing)" if f.group == "missing" else "")
        )
        row(
            f"`{f.name}`{tag}",
            [
                f"{_p(sc[m]['families'][f.name]['ce'])} / {_p(sc[m]['families'][f.name]['wa'][5])}"
                for m in MODELS
            ],
        )
    out += [
        "",
        "### Missing rate eta (WA / UA / F1 %)",
        "",
        "| eta | realised | " + " | ".join(NAMES[m] for m in MODELS) + " |",
        "|---" * (len(MODELS) + 2) + "|",
    ]
    for i, r in enumerate(sc["baseline"]["missing_rate"]):
        vals = []
        for m in MODELS:
            x = sc[m]["missing_rate"][i]
            vals.append(f"{_p(x['WA'])} / {_p(x['UA'])} / {_p(x['F1'])}")
        out.append(f"| {r['eta']:.1f} | {r['realised']:.3f} | " + " | ".join(vals) + " |")
    out += ["", "### MMIN conditions, clean (WA %)", "", head, sep]
    for c in sc["baseline"]["conditions"]:
        row(c, [_p(sc[m]["conditions"][c]["WA"]) for m in MODELS])
    out += [
        "",
        "### NMER noise fill (WA %, mean over the six conditions)",
        "",
        "| t / 100 | " + " | ".join(NAMES[m] for m in MODELS) + " |",
        "|---" * (len(MODELS) + 1) + "|",
    ]
    for s, t in enumerate(suite.nmer_fill["severities"]):
        vals = [
            _p(sum(v[s] for v in sc[m]["nmer_fill"].values()) / len(sc[m]["nmer_fill"]))
            for m in MODELS
        ]
        out.append(f"| {t} | " + " | ".join(vals) + " |")
    out += ["", "### Speed", "", "| | " + " | ".join(NAMES[m] for m in MODELS) + " |", sep]
    tm = {m: cards[m]["timing"] for m in MODELS}
    row("corrupting (s)", [f"{tm[m]['corrupt_s']:.0f}" for m in MODELS])
    row("model forward (s)", [f"{tm[m]['predict_s']:.0f}" for m in MODELS])
    row(
        "share of corrupting",
        [
            f"{100 * tm[m]['corrupt_s'] / (tm[m]['corrupt_s'] + tm[m]['predict_s']):.0f} %"
            for m in MODELS
        ],
    )
    row("cells", [str(len(cards[m]["cells"])) for m in MODELS])
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else "runs/merc_cards"))
