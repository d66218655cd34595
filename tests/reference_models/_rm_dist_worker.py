"""Run by test_rm_distributed.py under ``torchrun --nproc_per_node=2`` (gloo, CPU).

Trains a tiny MMIN twice in one process group and writes, per rank, a JSON summary to
``sys.argv[1]``: a digest of the final weights, the noise-generator seed of every step and the
epoch history of both runs.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from rm_helpers import MODALITIES, TinyDataset, tiny_config

from mmnoise.transforms.missing import DropModalities
from reference_models.train import StageConfig, TrainConfig, train_model


class _Spy:
    """A pipeline that records the seed of the generator it is given at every step."""

    def __init__(self) -> None:
        self.inner = DropModalities(list(MODALITIES), patterns="mmin")
        self.seeds: list[int] = []

    def __call__(self, sample: dict[str, Any], *, level: Any, generator: torch.Generator) -> Any:
        self.seeds.append(generator.initial_seed())
        return self.inner(sample, level=level, generator=generator)


def _digest(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def main() -> None:
    out = Path(sys.argv[1])
    torch.set_num_threads(1)
    tc = TrainConfig(
        teacher=StageConfig(epochs=1, decay_epochs=0, batch_size=4),
        student=StageConfig(epochs=2, decay_epochs=1, batch_size=4, beta1=0.5, grad_clip=1.0),
        eval_batch_size=8,
        seed=7,
        progress=False,
    )
    runs = []
    for i in range(2):
        spy = _Spy()
        result = train_model(
            "mmin",
            TinyDataset(14, seed=1),
            TinyDataset(6, seed=2),
            cfg=tiny_config("mmin"),
            train_cfg=tc,
            pipeline=spy,
            checkpoint_dir=out / f"run{i}",
        )
        runs.append(
            {
                "digest": _digest(result.model),
                "teacher_digest": _digest(result.teacher),
                "seeds": spy.seeds,
                "history": [{k: v for k, v in r.items() if k != "time_s"} for r in result.history],
            }
        )
    rank = dist.get_rank()
    summary = {"rank": rank, "world": dist.get_world_size(), "runs": runs}
    (out / f"rank{rank}.json").write_text(json.dumps(summary))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
