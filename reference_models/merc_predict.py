"""The reference models of the MER-C results page: train them once, then predict functions.

``python -m reference_models.merc_predict --out runs/merc`` trains the baseline, MMIN, IF-MMIN
and NMER exactly as the demo does (:mod:`reference_models.demo`: same synthetic corpus, sizes,
curriculum and seed) and writes ``runs/merc/<kind>/model.pt``. The module-level functions
:func:`baseline`, :func:`mmin`, :func:`ifmmin` and :func:`nmer` are ``predict(batch) -> logits``
callables for ``mmnoise bench-robustness --predict reference_models.merc_predict:baseline``;
they load ``$MERC_CHECKPOINTS/<kind>/model.pt`` (default ``runs/merc``) on first use.

The synthetic test set must have the demo's feature sizes: pass ``--dims 32,48,64 --max-len
30,30,16`` to ``mmnoise bench-robustness --data synthetic`` (see ``docs/mer-c-results.md``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import Tensor

from reference_models.demo import (
    DemoConfig,
    _configs,
    _data,
    _train_config,
    curriculum_pipeline,
    curriculum_schedule,
)
from reference_models.train import ModelKind, TrainedModel, load_trained, predict_fn, train_model

__all__ = ["baseline", "ifmmin", "load_predict", "main", "mmin", "nmer", "train_reference_models"]

KINDS: tuple[ModelKind, ...] = ("baseline", "mmin", "ifmmin", "nmer")
_LOADED: dict[str, Callable[[Mapping[str, Any]], Tensor]] = {}


def train_reference_models(dc: DemoConfig, out: str | os.PathLike[str]) -> dict[str, float]:
    """Train the four models as the demo does and write ``out/<kind>/model.pt``.

    Returns:
        Training seconds per model.
    """
    root = Path(out)
    train, val, _ = _data(dc)
    num_classes = int(max(int(it["label"]) for it in train.items)) + 1
    configs = _configs(dc, num_classes)
    tc = _train_config(dc)
    ramp = max(1, dc.student_epochs * (-(-len(train) // dc.batch_size)) // 4)
    trained: dict[str, TrainedModel] = {}
    seconds: dict[str, float] = {}
    for kind in KINDS:
        t0 = time.perf_counter()
        kw: dict[str, Any] = {}
        if kind != "baseline":
            kw = {"pipeline": curriculum_pipeline(), "schedule": curriculum_schedule(ramp)}
        if kind == "mmin":
            kw["teacher"] = trained["baseline"].model
        trained[kind] = train_model(
            kind,
            train,
            val,
            cfg=configs[kind],
            train_cfg=tc,
            checkpoint_dir=root / kind,
            log_path=root / "logs" / f"{kind}.jsonl",
            **kw,
        )
        seconds[kind] = time.perf_counter() - t0
        print(f"trained {kind} in {seconds[kind]:.1f} s -> {root / kind / 'model.pt'}", flush=True)
    return seconds


def load_predict(kind: str) -> Callable[[Mapping[str, Any]], Tensor]:
    """Return the predict function of ``$MERC_CHECKPOINTS/<kind>/model.pt`` (cached)."""
    if kind not in _LOADED:
        root = Path(os.environ.get("MERC_CHECKPOINTS", "runs/merc"))
        path = root / kind / "model.pt"
        if not path.is_file():
            raise FileNotFoundError(
                f"merc_predict: expected the checkpoint {path}; train it with `python -m "
                "reference_models.merc_predict --out DIR` and set MERC_CHECKPOINTS=DIR."
            )
        _LOADED[kind] = predict_fn(load_trained(path))
    return _LOADED[kind]


def baseline(batch: Mapping[str, Any]) -> Tensor:
    """Logits of the clean full-modality baseline (the MER-C reference model)."""
    return load_predict("baseline")(batch)


def mmin(batch: Mapping[str, Any]) -> Tensor:
    """Logits of MMIN."""
    return load_predict("mmin")(batch)


def ifmmin(batch: Mapping[str, Any]) -> Tensor:
    """Logits of IF-MMIN."""
    return load_predict("ifmmin")(batch)


def nmer(batch: Mapping[str, Any]) -> Tensor:
    """Logits of NMER."""
    return load_predict("nmer")(batch)


def main(argv: Sequence[str] | None = None) -> int:
    """Train the four reference models (``--tiny`` for a seconds-long smoke run)."""
    p = argparse.ArgumentParser(prog="python -m reference_models.merc_predict")
    p.add_argument("--out", default="runs/merc", help="checkpoint folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tiny", action="store_true", help="tiny sizes (tests; numbers meaningless)")
    args = p.parse_args(argv)
    from reference_models.demo import TINY

    dc = dataclasses.replace(TINY if args.tiny else DemoConfig(), seed=args.seed, progress=False)
    train_reference_models(dc, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
