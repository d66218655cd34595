"""Worker for tests/test_distributed.py, run as ``torchrun --nproc_per_node=2 _dist_worker.py OUT``.

Each rank (gloo backend, CPU) iterates two epochs of a NoisyDataset through a
DistributedSampler (epoch 1 with a DataLoader worker process), and applies BatchNoise to the
same clean batch at every step; it saves what it saw to ``OUT/rank{r}.pt`` for the test to
compare across ranks and across runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler

from mmnoise.data import BatchNoise, NoisyDataset, pad_collate
from mmnoise.datasets import SyntheticMER
from mmnoise.transforms.compose import MultimodalPipeline
from mmnoise.transforms.features import AddGaussianSNR, TimeMask

SEED = 42


def make_base() -> SyntheticMER:
    """The clean dataset (shared with the test, which recomputes items in one process)."""
    return SyntheticMER(
        "train",
        size=12,
        seed=0,
        dims={"audio": 6, "visual": 5, "text": 4},
        max_len={"audio": 8, "visual": 6, "text": 5},
    )


def make_pipeline() -> MultimodalPipeline:
    return MultimodalPipeline(
        {"audio": [AddGaussianSNR(snr_db=(10.0, 0.0))], "visual": [TimeMask(fraction=(0.0, 0.5))]}
    )


def main(out: Path) -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.set_num_threads(1)
    base = make_base()
    ds = NoisyDataset(base, make_pipeline(), seed=SEED)
    sampler = DistributedSampler(ds, num_replicas=world, rank=rank, shuffle=True, seed=1)
    batch_noise = BatchNoise(make_pipeline(), seed=SEED, rank=rank)
    clean = pad_collate([base[i] for i in range(4)])  # the same clean batch on every rank
    items: dict[str, torch.Tensor] = {}
    batches: dict[str, torch.Tensor] = {}
    for epoch in range(2):
        sampler.set_epoch(epoch)
        ds.set_epoch(epoch)
        loader = DataLoader(
            ds, batch_size=4, sampler=sampler, collate_fn=pad_collate, num_workers=epoch
        )
        for step, batch in enumerate(loader):
            for i, uid in enumerate(batch["id"]):
                n = int(batch["lengths"]["audio"][i])
                items[f"{epoch}/{uid}"] = batch["audio"][i, :n].clone()
            noisy = batch_noise(clean, step=epoch * 100 + step)
            batches[f"{epoch}/{step}"] = noisy["audio"].clone()
    torch.save({"items": items, "batches": batches, "world": world}, out / f"rank{rank}.pt")
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
