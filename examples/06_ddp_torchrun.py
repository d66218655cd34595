"""Distributed training with torchrun: per-rank reproducible noise on the batch path.

Each process (rank) reads its shard of the data through a ``DistributedSampler`` and corrupts
its batches with :class:`mmnoise.data.BatchNoise`, whose generator is seeded from
(seed, rank, step): ranks get *different* noise (no two ranks see the same corruption) and a
rerun with the same world size gets *the same* noise on every rank. The model is wrapped in
``DistributedDataParallel``; gloo on CPU, NCCL on GPU.

Run: ``torchrun --nproc_per_node=2 examples/06_ddp_torchrun.py`` (add ``--tiny`` for a
few-second run). Without torchrun it runs as a single process (world size 1).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from mmnoise.data import BatchNoise, pad_collate
from mmnoise.datasets import SyntheticMER
from mmnoise.schedules import Linear
from mmnoise.transforms import AddGaussianSNR, DropModalities, MultimodalPipeline, TimeMask

NAMES = ("audio", "visual", "text")


class MeanPoolClassifier(nn.Module):
    """Masked mean over the valid steps of each modality, concatenated, then one linear layer."""

    def __init__(self, dims: dict[str, int], num_classes: int) -> None:
        super().__init__()
        self.names = list(dims)
        self.head = nn.Linear(sum(dims.values()), num_classes)

    def forward(self, batch: dict[str, Any]) -> Tensor:
        pooled = []
        for n in self.names:
            x, lengths = batch[n], batch["lengths"][n]
            valid = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]
            pooled.append((x * valid[..., None]).sum(1) / lengths[:, None])
        return self.head(torch.cat(pooled, dim=1))


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Move every tensor of a (nested) batch dict to ``device``."""
    return {
        k: to_device(v, device)
        if isinstance(v, dict)
        else v.to(device)
        if isinstance(v, Tensor)
        else v
        for k, v in batch.items()
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-size", type=int, default=256)
    parser.add_argument("--tiny", action="store_true", help="a few-second run (for tests)")
    args = parser.parse_args(argv)
    if args.tiny:
        args.epochs, args.train_size = 1, 32

    # --8<-- [start:ddp]
    if "RANK" not in os.environ:  # plain `python ...`: a world of one process
        os.environ.update(RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT="29512")
    use_cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if use_cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if use_cuda else "cpu")

    data = SyntheticMER("train", size=args.train_size)  # every rank builds the same corpus
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=0)
    loader = DataLoader(data, batch_size=16, sampler=sampler, collate_fn=pad_collate)
    pipeline = MultimodalPipeline(
        {"audio": [AddGaussianSNR(snr_db=(20.0, -5.0))], "text": [TimeMask(fraction=(0.0, 0.5))]},
        missing=DropModalities(list(NAMES), fraction=(0.0, 0.3)),
    )
    total_steps = args.epochs * len(loader)  # the same on every rank (DistributedSampler pads)
    noise = BatchNoise(
        pipeline,
        seed=0,
        rank=rank,
        schedule=Linear(0.0, 1.0, steps=total_steps),
        level_mode="uniform",
    )  # generator seeded from (seed, rank, step)

    torch.manual_seed(0)  # same initial weights on every rank (DDP also broadcasts them)
    model = DistributedDataParallel(
        MeanPoolClassifier(data.dims, data.num_classes).to(device),
        device_ids=[device.index] if use_cuda else None,
    )
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    step = 0
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)  # reshuffle the shards each epoch
        for batch in loader:
            noisy = noise(to_device(batch, device), step=step)
            loss = F.cross_entropy(model(noisy), noisy["label"])
            opt.zero_grad()
            loss.backward()  # DDP averages the gradients over the ranks
            opt.step()
            step += 1
    # --8<-- [end:ddp]

    # Check the claims: every rank replays its own noise exactly, and ranks differ.
    probe = to_device(pad_collate([data[i] for i in range(4)]), device)
    mine = noise(probe, step=step)["audio"]  # the last step: the level is 1
    assert torch.equal(mine, noise(probe, step=step)["audio"])  # reproducible per (rank, step)
    gathered = [torch.empty_like(mine) for _ in range(world)]
    dist.all_gather(gathered, mine)
    distinct = all(
        not torch.equal(gathered[i], gathered[j]) for i in range(world) for j in range(i + 1, world)
    )
    assert distinct
    total = torch.tensor([loss.item()], device=device)
    dist.all_reduce(total)
    if rank == 0:
        print(
            f"world size {world}: {step} steps per rank, mean final loss "
            f"{total.item() / world:.3f}; ranks got different noise: {distinct}"
        )
    # Tear down in order: wait for every rank, drop DDP (its reducer holds the process group and
    # gloo work), then destroy the group while the interpreter is fully alive. Without this, gloo's
    # worker threads can outlive the group at exit and abort the process ("terminate called
    # without an active exception").
    dist.barrier()
    del model, opt
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
