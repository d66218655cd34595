"""Print the tables of docs/mer-c-results.md from the report cards of the reference models.

``python -m benchmarks.merc_results_page runs/merc_cards`` reads ``<dir>/<model>/card.json``
for baseline, MMIN, IF-MMIN and NMER (each written by ``mmnoise bench-robustness``) and prints
the summary, per-family, missing-rate, NMER-fill and speed tables, scored against the
baseline's card. Cards with per-item predictions (``mer-c-v2``) add 95 % bootstrap intervals,
the paired intervals of the mCE differences between models (which of them the test set can
tell from noise), what severity 1 costs on the test split, and the one-modality table. The
suite is the cards' own.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from mmnoise.merc.report import scores
from mmnoise.merc.scoring import bootstrap_difference
from mmnoise.merc.suite import load_suite

MODELS = ("baseline", "mmin", "ifmmin", "nmer")
NAMES = {"baseline": "baseline", "mmin": "MMIN", "ifmmin": "IF-MMIN", "nmer": "NMER"}


def _p(v: float) -> str:
    return "-" if v is None or math.isnan(v) else f"{100 * v:.1f}"


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def _fam(sc: dict[str, Any], name: str) -> dict[str, Any]:
    fam: dict[str, Any] = sc["families"].get(name, {})
    return fam


def _ci(band: list[float] | None) -> str:
    return "" if not band or math.isnan(band[0]) else f" [{_p(band[0])}, {_p(band[1])}]"


def main(root: str) -> int:
    cards = {m: json.loads((Path(root) / m / "card.json").read_text()) for m in MODELS}
    suite = load_suite(cards["baseline"]["suite"])
    ref = cards["baseline"]
    sc = {m: scores(c, suite, reference=ref) for m, c in cards.items()}
    ci = {m: sc[m].get("ci", {}) for m in MODELS}
    head = "| | " + " | ".join(NAMES[m] for m in MODELS) + " |"
    sep = "|---" * (len(MODELS) + 1) + "|"
    out = ["### Summary (WA %, CE / mCE in % of the baseline)", "", head, sep]

    def row(label: str, values: list[str]) -> None:
        out.append(f"| {label} | " + " | ".join(values) + " |")

    row("clean, all modalities", [_p(sc[m]["conditions"]["full"]["WA"]) for m in MODELS])
    row(
        "clean, MMIN's six conditions pooled",
        [_p(sc[m]["conditions"].get("mmin_pooled", {}).get("WA", math.nan)) for m in MODELS],
    )
    row(
        "mCE (test corruption families)",
        [_p(sc[m]["mCE"]) + _ci(ci[m].get("mCE")) for m in MODELS],
    )
    row(
        "relative mCE",
        [_p(sc[m]["relative_mCE"]) + _ci(ci[m].get("relative_mCE")) for m in MODELS],
    )
    tests = [
        f.name
        for f in suite.families_of("features")
        if f.group == "corruption" and f.split == "test"
    ]
    row(
        "mean area under the WA-severity curve",
        [_p(_mean([_fam(sc[m], f).get("auc", math.nan) for f in tests])) for m in MODELS],
    )
    row(
        "area under WA over the effective eta",
        [_p(sc[m].get("missing_rate_auc", math.nan)) for m in MODELS],
    )
    row(
        "NMER fill, mean WA over conditions x severities",
        [_p(_mean([x for v in sc[m]["nmer_fill"].values() for x in v])) for m in MODELS],
    )
    tests_all = [
        f.name
        for f in suite.families_of("features")
        if f.group == "corruption" and f.split == "test"
    ]
    if ci["baseline"]:
        out += [
            "",
            "### Which mCE differences the test set can tell (paired bootstrap, 95 %)",
            "",
            "| model A - model B | mCE difference [interval] | inside (not resolved) |",
            "|---|---|---|",
        ]
        for i, a in enumerate(MODELS):
            for b in MODELS[i + 1 :]:
                d = bootstrap_difference(cards[a], cards[b], ref, families=tests_all)
                if d:
                    lo, hi = d["mCE"][1], d["mCE"][2]
                    verdict = "yes" if d["inside"]["mCE"] else "no"
                    out.append(
                        f"| {NAMES[a]} - {NAMES[b]} | {_p(d['mCE'][0])} [{_p(lo)}, {_p(hi)}] "
                        f"| {verdict} |"
                    )
        out += [
            "",
            "### What severity 1 costs on the test split (baseline, WA points below clean)",
            "",
            "| family | clean | s1 | cost at s1 | s1 interval |",
            "|---|---|---|---|---|",
        ]
        base = sc["baseline"]["families"]
        for f in suite.families_of("features"):
            wa = base[f.name]["wa"]
            band = ci["baseline"]["curves"].get(f.name, [[math.nan] * 2] * 6)[1]
            out.append(
                f"| `{f.name}` | {_p(wa[0])} | {_p(wa[1])} | {100 * (wa[0] - wa[1]):.1f} "
                f"|{_ci(band)} |"
            )
    per = {
        m: {f: e["by_modality"] for f, e in sc[m]["families"].items() if "by_modality" in e}
        for m in MODELS
    }
    if per["baseline"]:
        mods = list(cards["baseline"]["modalities"])
        out += [
            "",
            "### One modality at a time (WA %, mean over severities 1-5, the others clean)",
            "",
            "| family | corrupted modality | " + " | ".join(NAMES[m] for m in MODELS) + " |",
            "|---" * (2 + len(MODELS)) + "|",
        ]
        for f in per["baseline"]:
            for x in mods:
                vals = [
                    _p(sum(per[m][f][x][1:]) / 5) if f in per[m] and x in per[m][f] else "-"
                    for m in MODELS
                ]
                out.append(f"| `{f}` | {x} | " + " | ".join(vals) + " |")
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
                f"{_p(_fam(sc[m], f.name).get('ce', math.nan))} / "
                f"{_p(_fam(sc[m], f.name).get('wa', [math.nan] * 6)[5])}"
                for m in MODELS
            ],
        )
    out += [
        "",
        "### Missing rate eta (WA / UA / F1 %)",
        "",
        "| eta | effective | realised | " + " | ".join(NAMES[m] for m in MODELS) + " |",
        "|---" * (len(MODELS) + 3) + "|",
    ]
    for i, r in enumerate(sc["baseline"]["missing_rate"]):
        vals = []
        for m in MODELS:
            rows = sc[m]["missing_rate"]
            x = rows[i] if i < len(rows) else {"WA": math.nan, "UA": math.nan, "F1": math.nan}
            vals.append(f"{_p(x['WA'])} / {_p(x['UA'])} / {_p(x['F1'])}")
        eff = r.get("eta_effective", r["eta"])
        out.append(
            f"| {r['eta']:.1f} | {eff:.3f} | {r['realised']:.3f} | " + " | ".join(vals) + " |"
        )
    out += ["", "### MMIN conditions, clean (WA %)", "", head, sep]
    for c in sc["baseline"]["conditions"]:
        row(c, [_p(sc[m]["conditions"].get(c, {}).get("WA", math.nan)) for m in MODELS])
    out += [
        "",
        "### NMER noise fill (WA %, mean over the six conditions)",
        "",
        "| t / 100 | " + " | ".join(NAMES[m] for m in MODELS) + " |",
        "|---" * (len(MODELS) + 1) + "|",
    ]
    for s, t in enumerate(suite.nmer_fill["severities"]):
        vals = [_p(_mean([v[s] for v in sc[m]["nmer_fill"].values()])) for m in MODELS]
        out.append(f"| {t} | " + " | ".join(vals) + " |")
    out += ["", "### Speed", "", "| | " + " | ".join(NAMES[m] for m in MODELS) + " |", sep]
    tm = {m: cards[m]["timing"] for m in MODELS}
    row("corrupting (s)", [f"{tm[m]['corrupt_s']:.0f}" for m in MODELS])
    row("model forward (s)", [f"{tm[m]['predict_s']:.0f}" for m in MODELS])
    row(
        "share of corrupting",
        [
            f"{100 * tm[m]['corrupt_s'] / max(1e-9, tm[m]['corrupt_s'] + tm[m]['predict_s']):.0f} %"
            for m in MODELS
        ],
    )
    row("cells", [str(len(cards[m]["cells"])) for m in MODELS])
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else "runs/merc_cards"))
