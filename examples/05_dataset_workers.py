"""CPU dataset path: NoisyDataset + DataLoader workers, with noise that ignores the workers.

:class:`mmnoise.data.NoisyDataset` corrupts each item in ``__getitem__`` with a generator seeded
from (seed, epoch, index). The noise an item gets therefore depends on *which* item and epoch
it is, never on ``num_workers``, worker order, shuffling or batch composition. This script
checks exactly that: the same epoch read with 0 and with 2 workers, shuffled and not, gives the
same noisy items; a new epoch (``set_epoch``) gives new noise at the scheduled level.

Run: ``python examples/05_dataset_workers.py`` (``--tiny`` for a few-second run).
"""

from __future__ import annotations

import argparse
from typing import Any

import torch
from torch.utils.data import DataLoader

from mmnoise.data import NoisyDataset, pad_collate
from mmnoise.datasets import SyntheticMER
from mmnoise.schedules import Linear
from mmnoise.transforms import AddGaussianSNR, DropModalities, MultimodalPipeline, TimeMask

NAMES = ("audio", "visual", "text")


def read_epoch(loader: DataLoader) -> dict[str, dict[str, Any]]:
    """Collect the noisy items of one pass, keyed by item id (unpadded by ``lengths``)."""
    items: dict[str, dict[str, Any]] = {}
    for batch in loader:
        for i, item_id in enumerate(batch["id"]):
            items[item_id] = {n: batch[n][i, : batch["lengths"][n][i]] for n in NAMES} | {
                "present": {n: bool(batch["present"][n][i]) for n in NAMES}
            }
    return items


def same(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> bool:
    """Same items, same missing modalities, same values.

    Values are compared to 1e-5, not bit for bit: DataLoader workers run with one thread, and
    matrix products (here inside the synthetic corpus) may round differently with another
    thread count.
    """
    return a.keys() == b.keys() and all(
        a[k]["present"] == b[k]["present"]
        and all(torch.allclose(a[k][n], b[k][n], rtol=0.0, atol=1e-5) for n in NAMES)
        for k in a
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tiny", action="store_true", help="a few-second run (for tests)")
    args = parser.parse_args(argv)
    if args.tiny:
        args.size = 12

    # --8<-- [start:dataset]
    pipeline = MultimodalPipeline(
        {"audio": [AddGaussianSNR(snr_db=(30.0, 0.0))], "text": [TimeMask(fraction=(0.0, 0.5))]},
        missing=DropModalities(list(NAMES), fraction=(0.0, 0.3)),
    )
    noisy = NoisyDataset(
        SyntheticMER("train", size=args.size),  # any map-style dataset of unbatched dicts
        pipeline,
        seed=0,
        schedule=Linear(0.2, 1.0, steps=4),  # on this path the schedule's step is the epoch
        level_mode="uniform",  # each item draws its level from U(0, scheduled level)
    )

    def loader(num_workers: int, shuffle: bool) -> DataLoader:
        return DataLoader(
            noisy,
            batch_size=4,
            shuffle=shuffle,
            num_workers=num_workers,
            collate_fn=pad_collate,
            generator=torch.Generator().manual_seed(1),
        )

    noisy.set_epoch(0)  # as with DistributedSampler: call it before each epoch
    reference = read_epoch(loader(num_workers=0, shuffle=False))
    with_workers = read_epoch(loader(num_workers=args.workers, shuffle=True))
    assert same(reference, with_workers)  # same noise per item, whatever the workers and order
    # --8<-- [end:dataset]
    print(
        f"epoch 0, level {noisy.current_level():.2f}: identical noise with 0 and "
        f"{args.workers} workers (shuffled): True"
    )

    noisy.set_epoch(1)
    epoch1 = read_epoch(loader(num_workers=args.workers, shuffle=False))
    assert not same(reference, epoch1)
    print(f"epoch 1, level {noisy.current_level():.2f}: new noise for every item: True")
    dropped = sum(not all(v["present"].values()) for v in epoch1.values())
    print(f"items with a missing modality in epoch 1: {dropped} of {len(epoch1)}")


if __name__ == "__main__":
    main()
