"""Curriculum: a schedule drives the noise level while a model trains (GPU batch path).

The training loop asks a schedule for the level of each optimiser step and hands it to the
noise pipeline through :class:`mmnoise.data.BatchNoise`, which seeds the step's generator from
(seed, rank, step): rerunning (or resuming at) a step gives the same noise. Per-example levels
are drawn U(0, level), so every batch mixes clean and noisy examples up to the scheduled
severity. ``--schedule plateau`` swaps in the adaptive :class:`mmnoise.schedules.Plateau`, which
raises the level whenever validation accuracy stops improving.

Data: the built-in SyntheticMER corpus (synthetic, IEMOCAP-like feature sizes).

Run: ``python examples/02_curriculum_schedule.py`` (``--tiny`` for a few-second run,
``--device cuda`` on a GPU).
"""

from __future__ import annotations

import argparse
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from mmnoise.data import BatchNoise, pad_collate
from mmnoise.datasets import SyntheticMER
from mmnoise.rng import derive_seed, make_generator
from mmnoise.schedules import Cosine, Plateau, WarmUp
from mmnoise.transforms import (
    AddGaussianSNR,
    DropModalities,
    FrameDropout,
    MultimodalPipeline,
    TimeMask,
)

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


@torch.no_grad()
def accuracy(model: nn.Module, loader: DataLoader, device: torch.device, pipeline=None) -> float:
    """Accuracy on clean data, or on a FROZEN corruption at level 1 (same noise every call)."""
    correct = total = 0
    for i, batch in enumerate(loader):
        batch = to_device(batch, device)
        if pipeline is not None:
            batch = pipeline(batch, level=1.0, generator=make_generator(derive_seed(7, i), device))
        correct += int((model(batch).argmax(1) == batch["label"]).sum())
        total += len(batch["label"])
    return correct / total


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--train-size", type=int, default=480)
    parser.add_argument("--val-size", type=int, default=160)
    parser.add_argument("--schedule", choices=("cosine", "plateau"), default="cosine")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true", help="a few-second run (for tests)")
    args = parser.parse_args(argv)
    if args.tiny:
        args.epochs, args.train_size, args.val_size = 2, 48, 32
    device = torch.device(args.device)
    torch.manual_seed(0)

    train, val = (
        SyntheticMER("train", size=args.train_size),
        SyntheticMER("val", size=args.val_size),
    )
    dims, num_classes = train.dims, train.num_classes
    # SyntheticMER generates items on the fly; keep them in memory for the many epochs.
    train_items, val_items = list(train), list(val)
    loader = DataLoader(
        train_items,
        batch_size=16,
        shuffle=True,
        collate_fn=pad_collate,
        generator=torch.Generator().manual_seed(0),
    )
    val_loader = DataLoader(val_items, batch_size=64, collate_fn=pad_collate)
    model = MeanPoolClassifier(dims, num_classes).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    # --8<-- [start:curriculum]
    pipeline = MultimodalPipeline(
        {
            "audio": [AddGaussianSNR(snr_db=(20.0, -5.0))],
            "visual": [AddGaussianSNR(snr_db=(20.0, -5.0)), FrameDropout(fraction=(0.0, 0.5))],
            "text": [TimeMask(fraction=(0.0, 0.6))],
        },
        missing=DropModalities(list(NAMES), fraction=(0.0, 0.4)),
    )
    total_steps = args.epochs * len(loader)
    warm = max(1, total_steps // 10)
    if args.schedule == "cosine":  # clean for a while, then ramp up to full severity
        schedule: Any = WarmUp(Cosine(0.0, 1.0, steps=total_steps - warm), steps=warm)
    else:  # adaptive: +0.2 whenever validation accuracy has not improved for 1 epoch
        schedule = Plateau(level=0.2, patience=0, step_size=0.2)
    noise = BatchNoise(pipeline, seed=0, schedule=schedule, level_mode="uniform")

    step = 0
    for epoch in range(args.epochs):
        for batch in loader:
            batch = to_device(batch, device)  # clean batch on the device ...
            noisy = noise(batch, step=step)  # ... corrupted there, at the scheduled level
            loss = F.cross_entropy(model(noisy), noisy["label"])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
        val_acc = accuracy(model, val_loader, device)
        if isinstance(schedule, Plateau):
            schedule.step(val_acc)  # save schedule.state_dict() in checkpoints to resume
        # --8<-- [end:curriculum]
        print(
            f"epoch {epoch}: level {noise.level_at(step):.2f}  loss {loss.item():.3f}  "
            f"val acc {val_acc:.3f}"
        )

    clean = accuracy(model, val_loader, device)
    noisy_acc = accuracy(model, val_loader, device, pipeline)
    print(
        f"final val accuracy: clean {clean:.3f}, noisy at level 1 {noisy_acc:.3f} "
        f"(chance {1 / num_classes:.2f})"
    )


if __name__ == "__main__":
    main()
