"""The MER-C report card: markdown tables, plots and the scores, from a card's cells."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mmnoise.extras import import_extra
from mmnoise.merc.runner import ONLY, conditions_of, plan_cells
from mmnoise.merc.scoring import (
    area_under_curve,
    bootstrap,
    card_metrics,
    cell_metrics,
    corruption_errors,
    curve_metric,
    effective_robustness,
    error_curve,
    family_curve,
    mce,
)
from mmnoise.merc.suite import Suite
from mmnoise.metrics import SENTIMENT_METRICS
from mmnoise.robustness import relative_robustness

__all__ = ["check_reference", "reference_errors", "scores", "to_markdown", "write_report"]


def _pct(v: float) -> str:
    return "-" if v is None or math.isnan(v) else f"{100 * v:.1f}"


def _num(v: float) -> str:
    return "-" if v is None or math.isnan(v) else f"{v:.3f}"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _families(card: Mapping[str, Any], suite: Suite) -> list[Any]:
    kinds = set(card["modalities"].values())
    return [f for f in suite.families if f.kind in kinds and f"{f.name}/1/full" in card["cells"]]


def reference_errors(card: Mapping[str, Any], suite: Suite) -> dict[str, list[float]]:
    """Return {family: [clean error, severity 1..5 errors]} (full condition) of a card.

    The error is 1 - WA (classification) or the MAE (a sentiment card).

    Example:
        >>> import torch
        >>> from mmnoise.merc.suite import load_suite
        >>> from mmnoise.merc.runner import run_benchmark
        >>> items = [{"a": torch.full((3, 2), 2.0 * y - 1), "label": torch.tensor(y),
        ...           "id": str(i)} for i, y in enumerate((0, 1, 0, 1))]
        >>> predict = lambda b: torch.stack([-b["a"].sum((1, 2)), b["a"].sum((1, 2))], 1)
        >>> card = run_benchmark(predict, items, suite=load_suite(), kinds={"a": "features"},
        ...                      families=["impulse"], progress=False)
        >>> reference_errors(card, load_suite())["impulse"][0]
        0.0
    """
    return {f.name: error_curve(card, f.name) for f in _families(card, suite)}


def _missing_cells(card: Mapping[str, Any], suite: Suite) -> list[str]:
    """The cells of the card's plan (its families, both protocols) not in the card yet."""
    kinds = card["modalities"]
    conds = list(conditions_of(list(kinds)))
    ran = {k.split("/")[0].partition(ONLY)[0] for k in card["cells"]}
    return [
        f"{name}/{sev}/{c}"
        for name, sev, cs in plan_cells(suite, kinds, conds)
        if name == "clean" or name.partition(ONLY)[0] in ran
        for c in cs
        if f"{name}/{sev}/{c}" not in card["cells"]
    ]


def scores(
    card: Mapping[str, Any],
    suite: Suite,
    *,
    reference: Mapping[str, Any] | None = None,
    replicates: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Every summary score of a card (the JSON ``scores`` block).

    A card from an interrupted run (or a ``families=`` subset) is scored as far as it goes:
    absent cells give NaN and ``partial`` lists them, never a ``KeyError``.

    Args:
        card: the report card (:func:`mmnoise.merc.runner.run_benchmark`).
        suite: its suite.
        reference: the reference model's card (for CE, mCE, relative mCE and effective
            robustness); None leaves those out.
        replicates: bootstrap resamples for the confidence intervals (0: none); cards without
            per-item predictions (before MER-C v2) get none.
        seed: the seed of the resamples.

    Returns:
        ``{"clean", "conditions", "families", "mCE", "relative_mCE", "mCE_families",
        "missing_rate", "nmer_fill", "partial", "ci"}``. ``mCE`` / ``relative_mCE`` are NaN
        unless every test corruption family of the card's kinds has a CE (in the card and
        the reference); ``mCE_families`` says how many do (``{"scored", "of", "partial"}``).
        A family's ``by_modality`` holds its per-modality curves (``mer-c-v2``).

    Raises:
        ValueError: ``reference`` comes from another suite file or other test data
            (:func:`check_reference`).

    Example:
        >>> import torch
        >>> from mmnoise.merc.suite import load_suite
        >>> from mmnoise.merc.runner import run_benchmark
        >>> items = [{"a": torch.full((3, 2), 2.0 * y - 1), "label": torch.tensor(y),
        ...           "id": str(i)} for i, y in enumerate((0, 1, 0, 1))]
        >>> predict = lambda b: torch.stack([-b["a"].sum((1, 2)), b["a"].sum((1, 2))], 1)
        >>> card = run_benchmark(predict, items, suite=load_suite(), kinds={"a": "features"},
        ...                      families=["impulse"], progress=False)
        >>> scores(card, load_suite(), reference=card)["conditions"]["full"]["WA"]
        1.0
    """
    if reference is not None:
        check_reference(card, reference, who="scores")
    conds = conditions_of(list(card["modalities"]))
    metric = curve_metric(card)
    out: dict[str, Any] = {"reference": None if reference is None else reference["model"]}
    out["task"] = card.get("task", "classification")
    out["conditions"] = {}
    for c in conds:
        m = card_metrics(card, f"clean/0/{c}")
        if m is not None:
            out["conditions"][c] = m
    mmin = [c for c in conds if c != "full" and f"clean/0/{c}" in card["cells"]]
    if mmin and all("confusion" in card["cells"][f"clean/0/{c}"] for c in mmin):
        pooled = _sum_confusions([card["cells"][f"clean/0/{c}"]["confusion"] for c in mmin])
        out["conditions"]["mmin_pooled"] = cell_metrics(pooled)
    ref_err = reference_errors(reference, suite) if reference is not None else None
    modalities = list(card["modalities"])
    fams: dict[str, Any] = {}
    for f in _families(card, suite):
        curve = family_curve(card, f.name, metric=metric)
        entry: dict[str, Any] = {
            "group": f.group,
            "split": f.split,
            "wa" if metric == "WA" else "curve": curve,
            "metrics_full": [card_metrics(card, f"{f.name}/{s}/full") for s in range(1, 6)],
            "auc": area_under_curve(curve),
            "by_condition": {
                c: _mean([_at(card, f"{f.name}/{s}/{c}", metric) for s in suite.mmin_severities])
                for c in conds
            },
        }
        if metric == "WA":
            entry["uaf1_full"] = entry.pop("metrics_full")
        per = {
            m: family_curve(card, f"{f.name}{ONLY}{m}", metric=metric)
            for m in modalities
            if f"{f.name}{ONLY}{m}/1/full" in card["cells"]
        }
        if per:
            entry["by_modality"] = per
        if ref_err is not None and f.name in ref_err:
            ce, rel = corruption_errors(card, ref_err, f.name)
            entry["ce"], entry["relative_ce"] = ce, rel
            ref_curve = family_curve(reference or {}, f.name, metric=metric)
            entry["effective_robustness"] = effective_robustness(curve, ref_curve)
        fams[f.name] = entry
    out["families"] = fams
    needed: list[str] = []
    if ref_err is not None:
        # mCE is a mean over a fixed family list: over a subset it is another number, so a card
        # (or reference) missing any test corruption family of its kinds gets NaN, marked partial
        kinds = set(card["modalities"].values())
        needed = [
            f.name
            for f in suite.families
            if f.kind in kinds and f.group == "corruption" and f.split == "test"
        ]
        have = [n for n in needed if n in fams and not math.isnan(fams[n].get("ce", math.nan))]
        complete = bool(needed) and len(have) == len(needed)
        out["mCE_families"] = {"scored": len(have), "of": len(needed), "partial": not complete}
        out["mCE"] = mce([fams[n]["ce"] for n in needed]) if complete else math.nan
        out["relative_mCE"] = (
            mce([fams[n]["relative_ce"] for n in needed]) if complete else math.nan
        )
        if not complete:
            needed = []
    eta_rows = []
    m_count = len(modalities)
    for i, eta in enumerate(suite.missing_rate):
        key = f"missing_rate/{i}/eta"
        m = card_metrics(card, key)
        if m is not None:
            cell = card["cells"][key]
            eff = cell.get("eta_effective", suite.effective_eta(eta, m_count))
            eta_rows.append(
                {"eta": eta, "eta_effective": eff, "realised": cell["realised_missing_rate"], **m}
            )
    out["missing_rate"] = eta_rows
    if eta_rows:
        xs = [r["eta_effective"] for r in eta_rows]
        keep = [i for i in range(len(xs)) if i == 0 or xs[i] > xs[i - 1]]
        out["missing_rate_auc"] = relative_robustness(
            [eta_rows[i][metric] for i in keep], [xs[i] for i in keep]
        )
    out["nmer_fill"] = {
        c: [_at(card, f"nmer_fill/{s}/{c}", metric) for s in range(1, 6)]
        for c in mmin
        if all(f"nmer_fill/{s}/{c}" in card["cells"] for s in range(1, 6))
    }
    missing = _missing_cells(card, suite)
    out["partial"] = {"complete": not missing, "missing_cells": len(missing), "first": missing[:5]}
    if replicates > 0 and card.get("labels"):
        curves = list(fams) + [
            f"{n}{ONLY}{m}" for n, e in fams.items() for m in e.get("by_modality", {})
        ]
        out["ci"] = bootstrap(
            card,
            families=curves,
            mce_families=needed,
            reference=reference if reference is not None and reference.get("labels") else None,
            extra=[f"missing_rate/{i}/eta" for i in range(len(suite.missing_rate))],
            replicates=replicates,
            seed=seed,
        )
    return out


def check_reference(card: Mapping[str, Any], reference: Mapping[str, Any], *, who: str) -> None:
    """Raise unless ``reference`` was scored on the card's suite file and test data.

    CE divides the card's errors by the reference's, cell by cell: both must come from the same
    suite (SHA-256 of its file) and the same test items (SHA-256 of ids, labels, tensors).

    Raises:
        ValueError: the suite or data hashes differ (or are absent), with both values.

    Example:
        >>> card = {"suite_sha256": "a", "data": {"sha256": "d"}}
        >>> check_reference(card, card, who="demo")  # the same: fine
    """
    pairs = (
        ("suite_sha256", card.get("suite_sha256"), reference.get("suite_sha256")),
        (
            "data.sha256",
            card.get("data", {}).get("sha256"),
            reference.get("data", {}).get("sha256"),
        ),
    )
    for key, mine, theirs in pairs:
        if mine is None or mine != theirs:
            raise ValueError(
                f"{who}: the reference card has {key} {str(theirs)[:16]!r}, the card "
                f"{str(mine)[:16]!r}; CE needs the reference scored on the same suite file and "
                "the same test data: rerun the reference model with this suite and --data "
                "options, and pass its card.json."
            )


def _at(card: Mapping[str, Any], key: str, metric: str) -> float:
    m = card_metrics(card, key)
    return math.nan if m is None else m[metric]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def _sum_confusions(cms: Sequence[Sequence[Sequence[int]]]) -> list[list[int]]:
    n = len(cms[0])
    return [[sum(cm[i][j] for cm in cms) for j in range(n)] for i in range(n)]


def to_markdown(card: Mapping[str, Any], suite: Suite, sc: Mapping[str, Any]) -> str:
    """Return the card's markdown: header, conditions, families, missing protocols.

    Example:
        >>> import torch
        >>> from mmnoise.merc.suite import load_suite
        >>> from mmnoise.merc.runner import run_benchmark
        >>> items = [{"a": torch.full((3, 2), 2.0 * y - 1), "label": torch.tensor(y),
        ...           "id": str(i)} for i, y in enumerate((0, 1, 0, 1))]
        >>> predict = lambda b: torch.stack([-b["a"].sum((1, 2)), b["a"].sum((1, 2))], 1)
        >>> card = run_benchmark(predict, items, suite=load_suite(), kinds={"a": "features"},
        ...                      families=["impulse"], progress=False)
        >>> to_markdown(card, load_suite(), scores(card, load_suite())).splitlines()[0]
        '# MER-C report card: `model` on `data`'
    """
    t = card["timing"]
    lines = [
        f"# MER-C report card: `{card['model']}` on `{card['data']['name']}`",
        "",
        f"Suite **{suite.name}** (version {suite.version}, sha256 `{suite.sha256[:16]}`); "
        f"data: {card['data']['num_items']} items (sha256 `{card['data']['sha256'][:16]}`), "
        + (
            "sentiment scores (MAE, Corr, Acc-2, F1, Acc-7 as MMSA; curves Acc-2 non-zero in %)."
            if sc.get("task") == "regression"
            else f"{card['num_classes']} classes. WA / UA / F1 in %."
        ),
        "",
        _software_line(card),
        "",
        f"Time: corrupting {t['corrupt_s']:.1f} s, model forward {t['predict_s']:.1f} s "
        f"(corruption {100 * t.get('corrupt_share', 0.0):.0f} % of the time).",
        "",
        "## Clean data, MMIN conditions",
        "",
        _row(["condition", "WA", "UA", "F1"]),
        _row(["---"] * 4),
    ]
    if sc.get("task") == "regression":
        names = list(SENTIMENT_METRICS)
        lines[-2:] = [_row(["condition", *names]), _row(["---"] * (1 + len(names)))]
        for c, m in sc["conditions"].items():
            lines.append(
                _row([c, _num(m["MAE"]), _num(m["Corr"]), *(_pct(m[n]) for n in names[2:])])
            )
    else:
        for c, m in sc["conditions"].items():
            lines.append(_row([c, _pct(m["WA"]), _pct(m["UA"]), _pct(m["F1"])]))
    partial = sc.get("partial", {})
    if partial and not partial["complete"]:
        lines += [
            "",
            f"**Partial card**: {partial['missing_cells']} cells of its families are not scored "
            f"yet (first: {', '.join(partial['first'])}); rerun the same command to resume.",
        ]
    ref = sc.get("reference")
    ci = sc.get("ci", {})
    metric = "WA" if sc.get("task") != "regression" else "Acc-2 non-zero"
    for group, title in (
        ("corruption", "Corruption families"),
        ("missing", "Missing within a modality"),
    ):
        fams = {k: v for k, v in sc["families"].items() if v["group"] == group}
        if not fams:
            continue
        lines += [
            "",
            f"## {title} (full condition, {metric})",
            "",
            _row(
                [
                    "family",
                    "clean",
                    "s1",
                    "s2",
                    "s3",
                    "s4",
                    "s5",
                    "AUC",
                    "CE",
                    "rel. CE",
                    "eff. rob.",
                ]
            ),
            _row(["---"] * 11),
        ]
        for name, e in fams.items():
            label = name + (" (held out)" if e["split"] == "heldout" else "")
            lines.append(
                _row(
                    [
                        label,
                        *(_pct(v) for v in e.get("wa", e.get("curve", []))),
                        _pct(e["auc"]),
                        _num(e.get("ce", math.nan)),
                        _num(e.get("relative_ce", math.nan)),
                        _pct(e.get("effective_robustness", math.nan)),
                    ]
                )
            )
    if "mCE" in sc:
        cover = sc["mCE_families"]
        if cover["partial"]:
            lines += [
                "",
                f"**mCE -, relative mCE -**: partial, {cover['scored']} of {cover['of']} test "
                "corruption families have a CE (in the card and the reference); mCE needs all "
                "of them.",
            ]
        else:
            band = ""
            if "mCE" in ci:
                band = (
                    f" ({100 * ci['level']:.0f} % bootstrap intervals over the test items: mCE "
                    f"{_pct(ci['mCE'][0])}-{_pct(ci['mCE'][1])}, relative "
                    f"{_pct(ci['relative_mCE'][0])}-{_pct(ci['relative_mCE'][1])})"
                )
            lines += [
                "",
                f"**mCE {_pct(sc['mCE'])} %, relative mCE {_pct(sc['relative_mCE'])} %** "
                f"({cover['of']} test corruption families, reference `{ref}` = 100 %){band}.",
            ]
    if ci.get("curves"):
        lines += _ci_table(sc, ci)
    per_mod = {k: v["by_modality"] for k, v in sc["families"].items() if "by_modality" in v}
    if per_mod:
        mods = list(next(iter(per_mod.values())))
        lines += [
            "",
            f"## One modality at a time ({metric} averaged over severities 1-5, full condition)",
            "",
            "Each family on one modality alone, the others clean: the lower, the more the model "
            "leans on that modality.",
            "",
            _row(["family", "all", *mods]),
            _row(["---"] * (2 + len(mods))),
        ]
        for name, per in per_mod.items():
            every = sc["families"][name].get("wa", sc["families"][name].get("curve", []))
            lines.append(
                _row(
                    [
                        name,
                        _pct(_mean(every[1:])),
                        *(_pct(_mean(per[m][1:])) for m in mods),
                    ]
                )
            )
    if sc["missing_rate"]:
        lines += [
            "",
            "## Missing rate eta (CPM-Nets / GCNet)",
            "",
            "The rate asked, the rate it is for this many modalities (one is always kept, so "
            "the rate cannot pass (M - 1) / M) and the rate realised on the test set.",
            "",
            _row(["eta", "effective", "realised", metric, "UA" if metric == "WA" else "MAE"]),
            _row(["---"] * 5),
        ]
        key = "WA" if metric == "WA" else "Acc-2_non0"
        for i, r in enumerate(sc["missing_rate"]):
            band = ci.get("cells", {}).get(f"missing_rate/{i}/eta")
            shown = _pct(r[key]) + (
                f" [{_pct(band[0])}, {_pct(band[1])}]" if band and key == "WA" else ""
            )
            lines.append(
                _row(
                    [
                        f"{r['eta']:.1f}",
                        f"{r.get('eta_effective', r['eta']):.3f}",
                        f"{r['realised']:.3f}",
                        shown,
                        _pct(r["UA"]) if key == "WA" else _num(r["MAE"]),
                    ]
                )
            )
        lines.append(f"\nArea under {metric} over the effective eta: {sc['missing_rate_auc']:.4f}.")
    if sc["nmer_fill"]:
        sev = suite.nmer_fill["severities"]
        lines += [
            "",
            "## NMER noise fill (WA; missing modalities replaced by DDPM-noised copies, t / 100)",
            "",
            _row(["condition", *(f"t/100={v}" for v in sev)]),
            _row(["---"] * (1 + len(sev))),
        ]
        for c, wa in sc["nmer_fill"].items():
            lines.append(_row([c, *(_pct(v) for v in wa)]))
    fams = sc["families"]
    if fams:
        conds = list(next(iter(fams.values()))["by_condition"])
        lines += [
            "",
            f"## Conditions x families (WA at severity {', '.join(map(str, suite.mmin_severities))})",
            "",
            _row(["family", *conds]),
            _row(["---"] * (1 + len(conds))),
        ]
        for name, e in fams.items():
            lines.append(_row([name, *(_pct(e["by_condition"].get(c, math.nan)) for c in conds)]))
    return "\n".join(lines) + "\n"


def _software_line(card: Mapping[str, Any]) -> str:
    runs = card.get("software") or []
    if not runs:
        return "Software: not recorded (a card from before MER-C v2)."
    text = "; ".join(", ".join(f"{k} {v}" for k, v in r.items()) for r in runs)
    return f"Software: {text}. Each cell records a SHA-256 digest of its corrupted inputs."


def _ci_table(sc: Mapping[str, Any], ci: Mapping[str, Any]) -> list[str]:
    level = f"{100 * ci['level']:.0f} %"
    lines = [
        "",
        f"## Error bars ({level} percentile bootstrap over the test items, {ci['replicates']} "
        "resamples, paired with the reference)",
        "",
        _row(["family", "clean", "s1", "s3", "s5", "CE", "rel. CE"]),
        _row(["---"] * 7),
    ]
    for name in sc["families"]:
        band = ci["curves"].get(name)
        if band is None:
            continue
        pick = [band[0], band[1], band[3], band[5]]
        ce, rel = ci["ce"].get(name), ci["relative_ce"].get(name)
        lines.append(
            _row(
                [
                    name,
                    *(f"{_pct(lo)}-{_pct(hi)}" for lo, hi in pick),
                    f"{_num(ce[0])}-{_num(ce[1])}" if ce else "-",
                    f"{_num(rel[0])}-{_num(rel[1])}" if rel else "-",
                ]
            )
        )
    return lines


def _plots(sc: Mapping[str, Any], out: Path, title: str) -> list[Path]:
    try:  # a Figure of its own, not pyplot: the caller's backend and figures stay as they were
        Figure = import_extra("matplotlib.figure", who="write_report: drawing curves.png and "
                              "heatmap.png", extra="plot").Figure  # fmt: skip
    except ImportError as err:  # plots are the optional `plot` extra: say what is skipped
        warnings.warn(f"{err} The report is written without them.", stacklevel=3)
        return []
    fams = sc["families"]
    if not fams:
        return []
    n = len(fams)
    cols = min(4, n)
    rows = -(-n // cols)
    fig = Figure(figsize=(3.2 * cols, 2.6 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, (name, e) in zip(axes.flat, fams.items(), strict=False):
        ax.plot(range(6), [100 * v for v in e.get("wa", e.get("curve", []))], marker="o")
        for m, curve in e.get("by_modality", {}).items():
            ax.plot(range(6), [100 * v for v in curve], linestyle="--", linewidth=1, label=m)
        if e.get("by_modality"):
            ax.legend(fontsize=6)
        ax.set_title(name, fontsize=9)
        ax.set_xticks(range(6))
        ax.set_ylim(0, 100)
        ax.set_xlabel("severity")
        ax.set_ylabel("WA %")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    curves = out / "curves.png"
    fig.savefig(curves, dpi=80)
    conds = list(next(iter(fams.values()))["by_condition"])
    data = [[100 * e["by_condition"].get(c, math.nan) for c in conds] for e in fams.values()]
    fig = Figure(figsize=(1.0 + 0.7 * len(conds), 0.9 + 0.4 * n))
    ax = fig.subplots()
    im = ax.imshow(data, vmin=0, vmax=100, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(conds)), conds)
    ax.set_yticks(range(n), list(fams))
    for i, row in enumerate(data):
        for j, v in enumerate(row):
            ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7, color="w")
    fig.colorbar(im, ax=ax, label="WA % (conditions x families cells)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    heat = out / "heatmap.png"
    fig.savefig(heat, dpi=80)
    return [curves, heat]


def write_report(
    card: Mapping[str, Any],
    suite: Suite,
    out: str | Path,
    *,
    reference: Mapping[str, Any] | None = None,
    plots: bool = True,
) -> dict[str, Path]:
    """Write ``report.md``, ``scores.json`` and (with matplotlib) ``curves.png`` / ``heatmap.png``.

    Returns:
        {name: path} of the files written.

    Raises:
        ValueError: ``reference`` comes from another suite file or other test data.

    Example:
        >>> import torch
        >>> from mmnoise.merc.suite import load_suite
        >>> from mmnoise.merc.runner import run_benchmark
        >>> items = [{"a": torch.full((3, 2), 2.0 * y - 1), "label": torch.tensor(y),
        ...           "id": str(i)} for i, y in enumerate((0, 1, 0, 1))]
        >>> predict = lambda b: torch.stack([-b["a"].sum((1, 2)), b["a"].sum((1, 2))], 1)
        >>> card = run_benchmark(predict, items, suite=load_suite(), kinds={"a": "features"},
        ...                      families=["impulse"], progress=False)
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     sorted(write_report(card, load_suite(), d, plots=False))
        ['report', 'scores']
    """
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    sc = scores(card, suite, reference=reference)
    paths = {"report": root / "report.md", "scores": root / "scores.json"}
    paths["report"].write_text(to_markdown(card, suite, sc))
    meta = {
        "suite": suite.name,
        "suite_version": suite.version,
        "suite_sha256": suite.sha256,
        "data": card["data"],
        "model": card["model"],
        "timing": card["timing"],
        "scores": sc,
    }
    paths["scores"].write_text(json.dumps(meta, indent=1) + "\n")
    if plots:
        for p in _plots(sc, root, f"{card['model']} / {suite.name}"):
            paths[p.stem] = p
    return paths
