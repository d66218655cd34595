"""Group "per-item": the fixed cost of a call at B = 1 and 4, and the batch path of NoisyDataset.

What a DataLoader worker pays to corrupt items, against the same noise written in plain torch
(the references of ``refs.py``, with the same parameter distributions): features (B, 50, 130)
noise at 5 dB SNR, token mask p = 0.15 on (B, 40) ids, frame noise sigma 0.1 on (B, 8, 3, 32,
32) clips, and the 3-modality pipeline (audio (50, 130): noise at SNR then a 20 % time mask; text
(22, 1024): a 20 % feature band; then modality missing p = 0.3 over audio, visual (50, 342) and
text), each at B = 1 (one item, as ``NoisyDataset`` calls it) and B = 4. Every item is full
length (``lengths`` = T, as the per-item path passes it). Then the batch path at B = 32: 32 clean
items through ``NoisyDataset(batch=True).collate`` (one pipeline call, one generator per item)
against the plain-torch loop it replaces (per item: reseed a generator from (seed, epoch,
index), the pipeline at B = 1, then stack), and against mmnoise's own per-item path; and the
same with ragged items (audio and visual of 25-50 steps, text 22), where the batch path pads
them to 50 steps for the noise (``pad_to``) and the loop pads after it. CPU only:
this is the path of the DataLoader workers, and every call runs on one torch thread as it does
there (a DataLoader worker sets ``torch.set_num_threads(1)``), whatever ``--threads`` says.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from benchmarks import refs
from benchmarks.harness import CannotRun, Case, Thunk
from benchmarks.inputs import Inputs, nbytes
from mmnoise.data import NoisyDataset, pad_collate
from mmnoise.rng import derive_seed
from mmnoise.transforms.compose import MultimodalPipeline
from mmnoise.transforms.features import AddGaussianSNR, FeatureMask, TimeMask
from mmnoise.transforms.frames import GaussianNoise
from mmnoise.transforms.missing import DropModalities
from mmnoise.transforms.tokens import TokenMask

#: the batch of the batch-path rows
BATCH = 32
PAD, CLS, SEP, MASK = 0, 101, 102, 103
PROTECTED = (PAD, CLS, SEP, MASK)
SNR_DB, TIME, BAND, MISSING, SIGMA, TOKEN_P = 5.0, 0.2, 0.2, 0.3, 0.1, 0.15
#: op names the benchmark targets read
OP_PIPE = "3-modality pipeline"
OP_BATCH = f"3-modality pipeline, {BATCH} items, batch path"
OP_RAGGED = f"3-modality pipeline, {BATCH} ragged items, batch path"
SINGLE = ("features noise@SNR", "token mask", "frame noise")


def pipeline() -> MultimodalPipeline:
    """The issue's 3-modality pipeline, fixed at its strong end (level 1.0)."""
    return MultimodalPipeline(
        {
            "audio": [AddGaussianSNR(snr_db=(SNR_DB, SNR_DB)), TimeMask(fraction=(TIME, TIME))],
            "text": [FeatureMask(fraction=(BAND, BAND))],
        },
        missing=DropModalities(["audio", "visual", "text"], fraction=(MISSING, MISSING)),
    )


def ref_pipeline(b: dict[str, Tensor], n: dict[str, Tensor], g: torch.Generator) -> dict[str, Tensor]:
    """The same pipeline in plain torch (``refs``), on a batch ``b`` with lengths ``n``."""
    snr = torch.full((b["audio"].shape[0],), SNR_DB)
    audio = refs.time_mask(refs.noise_snr(b["audio"], snr, n["audio"], g), TIME, n["audio"], g)
    text = refs.feature_mask(b["text"], BAND, n["text"], g)
    return refs.modality_missing({"audio": audio, "visual": b["visual"], "text": text}, MISSING, g)


def _shapes(inp: Inputs) -> dict[str, tuple[int, ...]]:
    s = inp.shapes
    t = s.steps
    return {
        "audio": (t, s.audio_small),
        "visual": (t, s.dims["visual"]),
        "text": (min(22, t), s.dims["text"]),
        "ids": (min(40, s.tokens[1]),),
        "clip": (max(1, s.clips[1] // 2), 3, 2 * s.clips[3] // 7, 2 * s.clips[4] // 7),
    }


def _items(inp: Inputs) -> list[dict[str, Tensor]]:
    """``BATCH`` unbatched items of the issue's shapes (full length), built once per run."""
    if "per-item" not in inp.cache:
        g = torch.Generator().manual_seed(7)
        shp = _shapes(inp)
        built = []
        for i in range(BATCH):
            ids = torch.randint(min(1000, inp.shapes.vocab // 2), inp.shapes.vocab, shp["ids"], generator=g)
            ids[0], ids[-1] = CLS, SEP
            built.append(
                {
                    "audio": torch.randn(shp["audio"], generator=g),
                    "visual": torch.randn(shp["visual"], generator=g),
                    "text": torch.randn(shp["text"], generator=g),
                    "ids": ids,
                    "clip": torch.rand(shp["clip"], generator=g),
                    "label": torch.tensor(i % 4),
                }
            )
        inp.cache["per-item"] = built
    items: list[dict[str, Tensor]] = inp.cache["per-item"]
    return items


def _batch(items: list[dict[str, Tensor]], b: int) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """The first ``b`` items stacked, and their (full) lengths."""
    x = {k: torch.stack([it[k] for it in items[:b]]) for k in items[0]}
    n = {k: torch.full((b,), x[k].shape[1], dtype=torch.int64) for k in ("audio", "visual", "text", "ids")}
    return x, n


def cases(inp: Inputs) -> list[Case]:
    """Every row of the per-item group."""
    if inp.device != "cpu":
        raise CannotRun("the per-item path runs in the CPU DataLoader workers")
    items = _items(inp)
    out: list[Case] = []
    for b in (1, 4):
        x, n = _batch(items, b)
        out += _single_cases(inp, x, n, b)
    out += _batch_path_cases(inp, items)
    out += _ragged_cases(inp, items)
    return [dataclasses.replace(c, build=_one_thread(c.build)) for c in out]


def _one_thread(build: Callable[[], Thunk]) -> Callable[[], Thunk]:
    """Run every call of the case on one torch thread, as in a DataLoader worker."""

    def built() -> Thunk:
        thunk = build()

        def run() -> object:
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                return thunk()
            finally:
                torch.set_num_threads(threads)

        return run

    return built


def _single_cases(inp: Inputs, x: dict[str, Tensor], n: dict[str, Tensor], b: int) -> list[Case]:
    lv = 1.0  # a float, as NoisyDataset passes it in level_mode="fixed"

    def mm(make: Callable[[], Any], sample: dict[str, Any]) -> Callable[[], Thunk]:
        def build() -> Thunk:
            tr, g = make(), inp.generator()
            return lambda: tr(sample, level=lv, generator=g)

        return build

    def ref(fn: Callable[[torch.Generator], object]) -> Callable[[], Thunk]:
        def build() -> Thunk:
            g = inp.generator()
            return lambda: fn(g)

        return build

    snr = torch.full((b,), SNR_DB)
    sigma = torch.full((b,), SIGMA)
    feats = {"audio": x["audio"], "lengths": {"audio": n["audio"]}}
    ids = {"ids": x["ids"], "lengths": {"ids": n["ids"]}}
    clip = {"clip": x["clip"]}
    three = {k: x[k] for k in ("audio", "visual", "text")}
    sample3 = {**three, "lengths": {k: n[k] for k in three}}
    f_size, t_size, c_size = 2 * nbytes(x["audio"]), 2 * nbytes(x["ids"]), 2 * nbytes(x["clip"])
    p_size = 2 * sum(nbytes(v) for v in three.values())
    at = f", B={b}"
    return [
        Case(SINGLE[0] + at, "mmnoise", "AddGaussianSNR(snr_db=(5, 5))", mm(lambda: AddGaussianSNR("audio", snr_db=(SNR_DB, SNR_DB)), feats), b, f_size, kind="mmnoise"),
        Case(SINGLE[0] + at, "torch ref", "randn, masked energies, scale, add", ref(lambda g: refs.noise_snr(x["audio"], snr, n["audio"], g)), b, f_size, kind="ref"),
        Case(SINGLE[1] + at, "mmnoise", "TokenMask(mask_id=103)", mm(lambda: TokenMask("ids", mask_id=MASK, fraction=(TOKEN_P, TOKEN_P), pad_id=PAD, special_ids=(CLS, SEP, MASK)), ids), b, t_size, kind="mmnoise"),
        Case(SINGLE[1] + at, "torch ref", "rand < p, != per protected id, masked_fill", ref(lambda g: refs.token_mask(x["ids"], n["ids"], TOKEN_P, MASK, PROTECTED, g)), b, t_size, kind="ref"),
        Case(SINGLE[2] + at, "mmnoise", "frames GaussianNoise(std=(0.1, 0.1))", mm(lambda: GaussianNoise("clip", std=(SIGMA, SIGMA)), clip), b, c_size, kind="mmnoise"),
        Case(SINGLE[2] + at, "torch ref", "randn, scale, add, clamp", ref(lambda g: refs.frame_noise(x["clip"], sigma, g)), b, c_size, kind="ref"),
        Case(OP_PIPE + at, "mmnoise", "MultimodalPipeline(SNR + TimeMask, FeatureMask, DropModalities)", mm(pipeline, sample3), b, p_size, kind="mmnoise"),
        Case(OP_PIPE + at, "torch ref", "noise_snr, time_mask, feature_mask, modality_missing", ref(lambda g: ref_pipeline(three, n, g)), b, p_size, kind="ref"),
    ]  # fmt: skip


def _batch_path_cases(inp: Inputs, items: list[dict[str, Tensor]]) -> list[Case]:
    names = ("audio", "visual", "text")
    clean = [{k: it[k] for k in (*names, "label")} for it in items]
    seed, epoch = 0, 1
    size = 2 * sum(nbytes(it[k]) for it in clean for k in names)

    def batch_path() -> Thunk:
        ds = NoisyDataset(clean, pipeline(), seed=seed, batch=True)
        return lambda: ds.collate([ds[(epoch, i)] for i in range(len(clean))])

    def per_item_path() -> Thunk:
        ds = NoisyDataset(clean, pipeline(), seed=seed)
        return lambda: pad_collate([ds[(epoch, i)] for i in range(len(clean))])

    def torch_loop() -> Thunk:
        g = torch.Generator()

        def run() -> dict[str, Any]:
            rows = []
            for i, it in enumerate(clean):
                g.manual_seed(derive_seed(seed, epoch, i))
                x = {k: it[k][None] for k in names}
                n = {k: torch.tensor([it[k].shape[0]]) for k in names}
                rows.append(ref_pipeline(x, n, g))
            batch: dict[str, Any] = {k: torch.cat([r[k] for r in rows]) for k in names}
            batch["label"] = torch.stack([it["label"] for it in clean])
            batch["lengths"] = {k: torch.full((len(clean),), clean[0][k].shape[0]) for k in names}
            return batch

        return run

    b = len(clean)
    return [
        Case(OP_BATCH, "mmnoise", "NoisyDataset(batch=True).collate: one call, per-item generators", batch_path, b, size, kind="mmnoise"),
        Case(OP_BATCH, "torch ref", "per item: reseed, plain-torch pipeline at B=1; then stack", torch_loop, b, size, kind="ref"),
        Case(OP_BATCH, "mmnoise (per item)", "NoisyDataset per item, then pad_collate", per_item_path, b, size, kind="mmnoise", note="the path collate replaces"),
    ]  # fmt: skip


def _ragged_cases(inp: Inputs, items: list[dict[str, Tensor]]) -> list[Case]:
    names = ("audio", "visual", "text")
    g = torch.Generator().manual_seed(8)
    t = inp.shapes.steps
    steps = torch.randint(max(1, t // 2), t + 1, (len(items),), generator=g).tolist()
    ragged = [
        {"audio": it["audio"][:n], "visual": it["visual"][:n], "text": it["text"], "label": it["label"]}
        for it, n in zip(items, steps, strict=True)
    ]
    seed, epoch = 0, 1
    size = 2 * sum(nbytes(it[k]) for it in ragged for k in names)
    pad_to = {"audio": t, "visual": t}

    def batch_path(pad: dict[str, int] | None) -> Callable[[], Thunk]:
        def build() -> Thunk:
            ds = NoisyDataset(ragged, pipeline(), seed=seed, batch=True, pad_to=pad)
            return lambda: ds.collate([ds[(epoch, i)] for i in range(len(ragged))])

        return build

    def torch_loop() -> Thunk:
        gen = torch.Generator()

        def run() -> dict[str, Any]:
            rows = []
            for i, it in enumerate(ragged):
                gen.manual_seed(derive_seed(seed, epoch, i))
                x = {k: it[k][None] for k in names}
                n = {k: torch.tensor([it[k].shape[0]]) for k in names}
                rows.append(ref_pipeline(x, n, gen))
            batch: dict[str, Any] = {}
            for k in names:
                longest = max(r[k].shape[1] for r in rows)
                pads = [torch.nn.functional.pad(r[k], (0, 0, 0, longest - r[k].shape[1])) for r in rows]
                batch[k] = torch.cat(pads)
            batch["label"] = torch.stack([it["label"] for it in ragged])
            batch["lengths"] = {k: torch.tensor([it[k].shape[0] for it in ragged]) for k in names}
            return batch

        return run

    b = len(ragged)
    return [
        Case(OP_RAGGED, "mmnoise", f"NoisyDataset(batch=True, pad_to={t} steps).collate: one call", batch_path(pad_to), b, size, kind="mmnoise"),
        Case(OP_RAGGED, "torch ref", "per item: reseed, plain-torch pipeline at B=1; then pad and stack", torch_loop, b, size, kind="ref"),
        Case(OP_RAGGED, "mmnoise (no pad_to)", "NoisyDataset(batch=True).collate: one call per item shape", batch_path(None), b, size, kind="mmnoise", note="ragged without pad_to"),
    ]  # fmt: skip
