"""Missing modalities: train with MMIN's conditions, evaluate over the six of them.

MMIN (Zhao et al., 2021) evaluates a model on the six non-empty proper subsets of (audio,
visual, text): ``azz, zvz, zzl, avz, azl, zvl`` (initial letter = present, ``z`` = missing;
with the modality named "text" here, its letter is ``t``, not MMIN's ``l`` for lexical).
Here two small models train on the synthetic corpus, one on full-modality data only, one with
:class:`~mmnoise.transforms.DropModalities` in ``patterns="mmin"`` mode (each example takes one of
the six conditions, 30 % stay complete); both are then evaluated under every condition with the
missing modalities zero-filled, as in MMIN, plus the full condition and the pooled accuracy.

Run: ``python examples/03_missing_modalities.py`` (``--tiny`` for a few-second run).
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
from mmnoise.presence import condition_name, presence_patterns
from mmnoise.rng import make_generator
from mmnoise.transforms import DropModalities

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


def train(
    items: list[Any],
    dims: dict[str, int],
    num_classes: int,
    *,
    epochs: int,
    missing: DropModalities | None,
) -> nn.Module:
    """Train a classifier, optionally with MMIN-style missing modalities on every batch."""
    torch.manual_seed(0)
    model = MeanPoolClassifier(dims, num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    loader = DataLoader(
        items,
        batch_size=16,
        shuffle=True,
        collate_fn=pad_collate,
        generator=torch.Generator().manual_seed(0),
    )
    noise = BatchNoise(missing, seed=0, level=1.0) if missing is not None else None
    step = 0
    for _ in range(epochs):
        for batch in loader:
            if noise is not None:
                batch = noise(batch, step=step)
            loss = F.cross_entropy(model(batch), batch["label"])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
    return model.eval()


# --8<-- [start:evaluate]
@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader) -> dict[str, float]:
    """Accuracy under each presence condition (the full one included) and pooled over the six."""
    scores: dict[str, float] = {}
    for pattern in presence_patterns(NAMES, include_full=True):  # azz, zvz, ..., zvl, avl
        condition = DropModalities(list(NAMES), patterns=[pattern])  # one fixed condition
        correct = total = 0
        for batch in loader:
            g = make_generator(0)  # the condition is fixed, but every call takes a generator
            missing = condition(batch, level=1.0, generator=g)  # zero-fills, sets "present"
            correct += int((model(missing).argmax(1) == batch["label"]).sum())
            total += len(batch["label"])
        scores[condition_name(pattern)] = correct / total
    six = [scores[condition_name(p)] for p in presence_patterns(NAMES)]
    scores["pooled"] = sum(six) / len(six)  # equal-size conditions: same as the concatenated set
    return scores


# --8<-- [end:evaluate]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--train-size", type=int, default=480)
    parser.add_argument("--tiny", action="store_true", help="a few-second run (for tests)")
    args = parser.parse_args(argv)
    if args.tiny:
        args.epochs, args.train_size = 1, 32
    data = SyntheticMER("train", size=args.train_size)
    test = SyntheticMER("test", size=32 if args.tiny else 160)
    items = list(data)  # SyntheticMER generates on the fly; keep the items for many epochs
    test_loader = DataLoader(list(test), batch_size=64, collate_fn=pad_collate)

    # --8<-- [start:train]
    mmin_conditions = DropModalities(list(NAMES), patterns="mmin", p=0.7)  # 30 % stay complete
    # --8<-- [end:train]
    models = {
        "full only": train(items, data.dims, data.num_classes, epochs=args.epochs, missing=None),
        "with missing": train(
            items, data.dims, data.num_classes, epochs=args.epochs, missing=mmin_conditions
        ),
    }
    results = {name: evaluate(model, test_loader) for name, model in models.items()}
    columns = list(next(iter(results.values())))
    print(f"{'model':<14}" + "".join(f"{c:>8}" for c in columns))
    for name, scores in results.items():
        print(f"{name:<14}" + "".join(f"{scores[c]:>8.3f}" for c in columns))


if __name__ == "__main__":
    main()
