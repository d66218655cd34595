"""A real-audio walk-through: espeak-ng speech -> features -> MMIN layout -> train -> noise.

Builds a small acted-emotion corpus from synthetic *speech* (espeak-ng, 8 voices as speakers,
4 emotions rendered by prosody: speed, pitch, loudness and word gaps with per-utterance jitter;
the sentences carry partly emotional words), then runs the whole path a researcher runs on
their own corpus, through the command line:

1. audio features per utterance: openSMILE eGeMAPS low-level descriptors written as openSMILE
   CSV when the ``opensmile`` package is installed (``pip install mmnoise[speech]``), else torchaudio MFCC + log energy (.npy);
   text features: a hashed word embedding per token (.npy); a ``labels.csv`` with speakers;
2. ``python -m reference_models prepare``: the MMIN layout with speaker-independent folds and
   training-only normalisation statistics;
3. ``python -m reference_models train``: the baseline, MMIN, IF-MMIN and NMER on clean data,
   then the same four trained with Gaussian feature noise (the students reuse the clean
   teachers with ``--teacher``);
4. ``python -m reference_models evaluate``: every model on the same frozen robustness grid
   (3 presence patterns x 3 noise families x 5 levels) of the test speakers;
5. a summary table (``summary.md``): clean test WA, mean WA under noise, and the points lost.

Needs espeak-ng (``apt-get install espeak-ng``); no audio is shipped, everything is rebuilt
under ``--work``. The numbers are those of a toy corpus, not of a benchmark.

Run: ``python examples/espeak_corpus.py --work runs/espeak`` (``--tiny`` for a smoke run).
``--variants`` instead trains, on every one of the 4 speaker folds, the baseline and each NMER
variant (``--nmer-variant default / release / mrcn1``, one shared NMER teacher per fold) and
writes ``variants.md``: test WA per fold, mean and sample std over the folds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import wave
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmnoise.robustness import RobustnessResult
from reference_models.__main__ import main as cli

VOICES = (
    "en-us+m3",
    "en-us+f2",
    "en-gb+m1",
    "en-gb+f3",
    "en-gb-scotland+m2",
    "en-029+f1",
    "en-gb-x-rp+m4",
    "en-gb-x-gbclan+f4",
)
# espeak-ng prosody per emotion: speed (wpm), pitch (0-99), amplitude (0-200), word gap (10 ms)
EMOTIONS: dict[str, dict[str, int]] = {
    "neutral": {"s": 165, "p": 45, "a": 100, "g": 2},
    "happy": {"s": 195, "p": 70, "a": 130, "g": 0},
    "angry": {"s": 205, "p": 40, "a": 190, "g": 0},
    "sad": {"s": 125, "p": 25, "a": 70, "g": 8},
}
SENTENCES: dict[str, tuple[str, ...]] = {
    "neutral": (
        "the meeting is scheduled for ten in the morning",
        "please put the folder on the second shelf",
        "the train leaves from platform number four",
        "we will need two more chairs for the table",
    ),
    "happy": (
        "this is wonderful news and I love it",
        "what a lovely surprise thank you so much",
        "we won the game and everyone is celebrating",
        "I am so glad you could come tonight",
    ),
    "angry": (
        "I told you a hundred times to stop that",
        "this is completely unacceptable and you know it",
        "get out of my office right now",
        "you broke it again and I am furious",
    ),
    "sad": (
        "I miss her more than I can say",
        "nothing seems to matter any more these days",
        "he left and never came back home",
        "I lost everything I had worked for",
    ),
}
# sentences without emotional words: the text alone cannot tell every emotion
SHARED = (
    "I went to the shop and came back later",
    "she said the weather would change tomorrow",
    "the letter arrived on a Tuesday afternoon",
    "they moved the piano into the other room",
)
TEXT_DIM = 32


def synthesize(work: Path, per_emotion: int, seed: int) -> list[dict[str, str]]:
    """Speak every (voice, emotion, k) utterance into work/wav; return the label rows."""
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak_corpus: needs espeak-ng on PATH (apt-get install espeak-ng).")
    rng = np.random.default_rng(seed)
    (work / "wav").mkdir(parents=True, exist_ok=True)
    rows = []
    for v, voice in enumerate(VOICES):
        for emotion, prosody in EMOTIONS.items():
            for k in range(per_emotion):
                uid = f"spk{v}_{emotion}_{k:02d}"
                pool = SENTENCES[emotion] if rng.random() < 0.6 else SHARED
                text = pool[int(rng.integers(len(pool)))]
                jitter = {
                    "s": int(prosody["s"] * rng.uniform(0.85, 1.15)),
                    "p": int(np.clip(prosody["p"] + rng.integers(-10, 11), 0, 99)),
                    "a": int(np.clip(prosody["a"] * rng.uniform(0.8, 1.2), 10, 200)),
                    "g": max(prosody["g"] + int(rng.integers(-1, 2)), 0),
                }
                wav = work / "wav" / f"{uid}.wav"
                if not wav.exists():
                    flags = [f"-{key}{value}" for key, value in jitter.items()]
                    cmd = ["espeak-ng", "-v", voice, *flags, "-w", str(wav), text]
                    subprocess.run(cmd, check=True, capture_output=True)
                rows.append({"id": uid, "label": emotion, "speaker": f"spk{v}", "text": text})
    return rows


def read_wav(path: Path) -> tuple[torch.Tensor, int]:
    with wave.open(str(path)) as w:
        rate, raw = w.getframerate(), w.readframes(w.getnframes())
    x = np.frombuffer(raw, dtype=np.int16).astype(np.float32) / 32768.0
    return torch.from_numpy(x), rate


def audio_features(rows: list[dict[str, str]], work: Path) -> Path:
    """openSMILE eGeMAPS LLD CSV files if opensmile is installed, else MFCC + energy .npy."""
    try:
        import opensmile
    except ImportError:  # the optional `speech` extra: say what is used instead
        opensmile = None
        print("audio: MFCC + log energy (for eGeMAPS: `pip install 'mmnoise[speech]'`)")
    name = "egemaps" if opensmile is not None else "mfcc"
    out = work / "raw" / name
    out.mkdir(parents=True, exist_ok=True)
    if opensmile is not None:
        smile = opensmile.Smile(
            feature_set=opensmile.FeatureSet.eGeMAPSv02,
            feature_level=opensmile.FeatureLevel.LowLevelDescriptors,
        )
        for r in rows:
            frame = smile.process_file(str(work / "wav" / f"{r['id']}.wav"))
            frame.iloc[::2].to_csv(out / f"{r['id']}.csv", sep=";", index=False)  # 20 ms hop
        return out
    import torchaudio

    for r in rows:
        x, rate = read_wav(work / "wav" / f"{r['id']}.wav")
        hop = rate // 50  # 20 ms
        mfcc = torchaudio.transforms.MFCC(
            sample_rate=rate, n_mfcc=24, melkwargs={"n_fft": 1024, "hop_length": hop}
        )(x)
        frames = x[: len(x) // hop * hop].reshape(-1, hop)
        energy = 10 * torch.log10(frames.pow(2).mean(1) + 1e-8)
        t = min(mfcc.shape[1], len(energy))
        feats = torch.cat([mfcc[:, :t].T, energy[:t, None]], dim=1)
        np.save(out / f"{r['id']}.npy", feats.numpy())
    return out


def text_features(rows: list[dict[str, str]], work: Path) -> Path:
    """A fixed random vector per word (seeded by its CRC32): (tokens, TEXT_DIM) per utterance."""
    out = work / "raw" / "hashwords"
    out.mkdir(parents=True, exist_ok=True)
    for r in rows:
        vectors = [
            np.random.default_rng(zlib.crc32(w.encode())).normal(size=TEXT_DIM)
            for w in r["text"].lower().split()
        ]
        np.save(out / f"{r['id']}.npy", np.stack(vectors).astype(np.float32))
    return out


def run(argv: list[str]) -> None:
    print("$ python -m reference_models " + " ".join(argv), flush=True)
    status = cli(argv)
    if status:
        raise SystemExit(f"espeak_corpus: step failed with status {status}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work", type=Path, default=Path("runs/espeak"), help="output folder")
    p.add_argument("--per-emotion", type=int, default=8, help="utterances per voice and emotion")
    p.add_argument("--min-steps", type=int, default=300, help="optimiser steps per stage")
    p.add_argument("--fold", type=int, default=1, help="which of the 4 speaker folds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tiny", action="store_true", help="2 utterances each, 10 epochs: a smoke run")
    p.add_argument(
        "--variants",
        action="store_true",
        help="the baseline and every NMER variant on all 4 folds (variants.md) instead",
    )
    args = p.parse_args()
    per, steps = (2, 4) if args.tiny else (args.per_emotion, args.min_steps)
    work: Path = args.work

    rows = synthesize(work, per, args.seed)
    audio, text = audio_features(rows, work), text_features(rows, work)
    labels = work / "raw" / "labels.csv"
    labels.write_text(
        "id,label,speaker\n" + "".join(f"{r['id']},{r['label']},{r['speaker']}\n" for r in rows)
    )
    print(f"{len(rows)} utterances, {len(VOICES)} speakers, audio features: {audio.name}")
    corpus = work / "corpus"
    classes = ",".join(EMOTIONS)
    run(["prepare", "--features", f"audio={audio}", "--features", f"text={text}",
         "--labels", str(labels), "--out", str(corpus), "--folds", "4", "--classes", classes,
         "--name", "espeak-emotions"])  # fmt: skip

    if args.variants:
        variants(corpus, work, args, steps)
        return
    data = ["--data", "mmin-h5", "--root", str(corpus), "--fold", str(args.fold)]
    common = [*data, "--seed", str(args.seed), "--threads", str(args.threads), "--no-progress",
              "--batch-size", "32", "--min-steps", str(steps)]  # fmt: skip
    clean, noisy = work / "runs" / "clean", work / "runs" / "noise"
    students = ["mmin", "ifmmin", "nmer"]
    run(["train", "--model", "baseline", *students, *common, "--out", str(clean)])
    noise = ["--noise", "gaussian", "--schedule", "linear", "--level", "1.0"]
    run(["train", "--model", "baseline", *common, *noise, "--out", str(noisy / "baseline")])
    teachers = [a for s in students for a in ("--teacher", str(clean / s / "model.pt"))]
    run(["train", "--model", *students, *common, *noise, *teachers, "--out", str(noisy)])

    results: dict[str, RobustnessResult] = {}
    for tag, root in (("clean", clean), ("noise", noisy)):
        for kind in ["baseline", *students]:
            grid = root / kind / "robustness"
            run(["evaluate", "--checkpoint", str(root / kind), "--out", str(grid),
                 "--families", "gaussian", "impulse", "timemask", "--no-heatmap",
                 "--threads", str(args.threads)])  # fmt: skip
            results[f"{kind} ({tag})"] = RobustnessResult.from_json(grid / "robustness.json")
    summary = summarize(results)
    (work / "summary.md").write_text(summary + "\n")
    print(summary)


NMER_VARIANTS = ("default", "release", "mrcn1")


def variants(corpus: Path, work: Path, args: argparse.Namespace, steps: int) -> None:
    """Baseline and every NMER variant on each of the 4 folds; write ``variants.md``."""
    from reference_models.train import load_trained

    scores: dict[str, dict[str, list[float]]] = {}
    for fold in range(1, 5):
        common = ["--data", "mmin-h5", "--root", str(corpus), "--fold", str(fold),
                  "--seed", str(args.seed), "--threads", str(args.threads), "--no-progress",
                  "--batch-size", "32", "--min-steps", str(steps)]  # fmt: skip
        root = work / "variants" / f"fold{fold}"
        first = root / "default"
        if not (first / "nmer" / "model.pt").exists():
            run(["train", "--model", "baseline", "nmer", "--nmer-variant", "default", *common,
                 "--out", str(first)])  # fmt: skip
        teacher = ["--teacher", str(first / "nmer" / "model.pt")]
        for variant in NMER_VARIANTS[1:]:
            if not (root / variant / "model.pt").exists():
                run(["train", "--model", "nmer", "--nmer-variant", variant, *common, *teacher,
                     "--out", str(root / variant)])  # fmt: skip
        runs = {"baseline": first / "baseline", "nmer default": first / "nmer"}
        runs |= {f"nmer {v}": root / v for v in NMER_VARIANTS[1:]}
        for name, path in runs.items():
            test = load_trained(path / "model.pt").test_metrics or {}
            for cond in ("full", "total"):  # the baseline is tested on the full condition only
                if cond in test:
                    scores.setdefault(name, {}).setdefault(cond, []).append(test[cond]["wa"])
    lines = [
        "| model | test WA full, per fold | mean ± std | test WA pooled, per fold | mean ± std |",
        "|---|---|---|---|---|",
    ]
    for name, by_cond in scores.items():
        cells = []
        for cond in ("full", "total"):
            if cond not in by_cond:
                cells += ["–", "–"]
                continue
            v = np.array(by_cond[cond]) * 100
            per = " / ".join(f"{x:.1f}" for x in v)
            cells += [per, f"{v.mean():.1f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.1f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    # paired over the folds (same split, same features): a fold's difference is not hidden by
    # the spread between folds, which is mostly the folds' own difficulty
    base = np.array(scores["baseline"]["full"]) * 100
    lines += [
        "",
        "| full-condition test WA minus the baseline's, same fold | per fold | mean ± std |",
        "|---|---|---|",
    ]
    for name, by_cond in scores.items():
        if name == "baseline":
            continue
        d = np.array(by_cond["full"]) * 100 - base
        per = " / ".join(f"{x:+.1f}" for x in d)
        lines.append(
            f"| {name} | {per} | {d.mean():+.1f} ± {d.std(ddof=1) if len(d) > 1 else 0.0:.1f} |"
        )
    table = "\n".join(lines) + "\n"
    (work / "variants.md").write_text(table)
    print(table)


def summarize(results: dict[str, RobustnessResult]) -> str:
    """Full-modality and pooled test WA, clean (level 0) vs the mean over levels > 0."""
    lines = [
        "| model | full clean | full noisy | lost | pooled clean | pooled noisy | lost |",
        "|---|---|---|---|---|---|---|",
    ]
    record: dict[str, Any] = {}
    for name, r in results.items():
        wa = r.scores("WA")  # (patterns, families, levels)
        full = r.pattern_names.index("".join(m[0] for m in r.modalities))
        f_clean, f_noisy = float(wa[full, :, 0].mean()), float(wa[full, :, 1:].mean())
        p_clean, p_noisy = float(wa[:, :, 0].mean()), float(wa[:, :, 1:].mean())
        record[name] = [f_clean, f_noisy, p_clean, p_noisy]
        lines.append(
            f"| {name} | {100 * f_clean:.1f} | {100 * f_noisy:.1f} | "
            f"{100 * (f_clean - f_noisy):.1f} | {100 * p_clean:.1f} | {100 * p_noisy:.1f} | "
            f"{100 * (p_clean - p_noisy):.1f} |"
        )
    return "\n".join(lines) + "\n\n" + json.dumps(record)


if __name__ == "__main__":
    main()
