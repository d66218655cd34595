"""Hugging Face ``Trainer``: a noise curriculum with ``NoiseTrainer`` + ``NoiseTrainerCallback``.

A ``TrainerCallback`` never sees the batch, so :mod:`mmnoise.integrations.hf` splits the job:
:class:`~mmnoise.integrations.hf.NoiseTrainerCallback` holds the pipeline, the seed and the
schedule (and saves them in checkpoints), and :class:`~mmnoise.integrations.hf.NoiseTrainer`
(a ``Trainer`` with :class:`~mmnoise.integrations.hf.NoiseTrainerMixin`) corrupts each training
batch in ``training_step``, on the device. Evaluation stays clean. The script trains a small
late-fusion classifier on the synthetic corpus with a linear curriculum over the optimiser
steps and reports the validation WA on clean and on noisy inputs; the model is built after
``set_seed(0)``, so a rerun gives the same numbers.

Needs the ``hf`` extra: ``pip install 'mmnoise[hf]'``.

Run: ``python examples/09_huggingface.py`` (``--tiny`` for a few-second run).
"""

from __future__ import annotations

import argparse
import tempfile
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

try:
    from transformers import TrainingArguments, set_seed
except ImportError as err:  # the optional `hf` extra
    raise SystemExit(
        "09_huggingface.py needs transformers and accelerate, which are not installed; install "
        "them with `pip install 'mmnoise[hf]'`."
    ) from err

from mmnoise.data import BatchNoise, pad_collate
from mmnoise.datasets import SyntheticMER
from mmnoise.integrations.hf import NoiseTrainer, NoiseTrainerCallback
from mmnoise.metrics import weighted_accuracy
from mmnoise.schedules import Linear
from mmnoise.transforms import AddGaussianSNR, DropModalities, MultimodalPipeline, TimeMask

NAMES = ("audio", "visual", "text")


class LateFusion(nn.Module):
    """Mean over the valid steps of each modality, concatenated, then a linear classifier.

    Called by the Trainer with the batch's entries as keyword arguments; returns the loss.
    """

    def __init__(self, dims: dict[str, int], num_classes: int) -> None:
        super().__init__()
        self.head = nn.Linear(sum(dims.values()), num_classes)

    def forward(self, label: Tensor, lengths: dict[str, Tensor], **batch: Any) -> dict[str, Tensor]:
        pooled = []
        for name in NAMES:
            x, n = batch[name], lengths[name]
            valid = torch.arange(x.shape[1], device=x.device)[None, :] < n[:, None]
            mean = (x * valid[..., None]).sum(1) / n[:, None].clamp(min=1)
            present = (batch.get("present") or {}).get(name)
            pooled.append(mean if present is None else mean * present[:, None])
        logits = self.head(torch.cat(pooled, dim=1))
        return {"loss": nn.functional.cross_entropy(logits, label), "logits": logits}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--tiny", action="store_true", help="a few-second run (for tests)")
    args = parser.parse_args(argv)
    if args.tiny:
        args.size, args.epochs = 48, 2

    train, val = SyntheticMER("train", size=args.size), SyntheticMER("val", size=args.size // 4)
    dims = {n: int(train[0][n].shape[-1]) for n in NAMES}
    steps = args.epochs * -(-len(train) // 16)

    # --8<-- [start:trainer]
    pipeline = MultimodalPipeline(
        {"audio": [AddGaussianSNR(snr_db=(30.0, 0.0))], "text": [TimeMask(fraction=(0.0, 0.5))]},
        missing=DropModalities(list(NAMES), fraction=(0.0, 0.5)),
    )
    schedule = Linear(0.0, 1.0, steps=steps)  # the level over the optimiser steps
    noise = NoiseTrainerCallback(pipeline, seed=0, schedule=schedule, level_mode="uniform")
    set_seed(0)  # before the model is built: TrainingArguments(seed=0) applies only after it
    model = LateFusion(dims, train.num_classes)
    with tempfile.TemporaryDirectory() as out:
        trainer = NoiseTrainer(
            model=model,
            args=TrainingArguments(
                output_dir=out,
                num_train_epochs=args.epochs,
                per_device_train_batch_size=16,
                learning_rate=3e-3,
                remove_unused_columns=False,  # keep "lengths", "present" and the modalities
                save_strategy="no",
                dataloader_pin_memory=False,
                report_to=[],
                disable_tqdm=True,
                seed=0,
            ),
            train_dataset=train,  # type: ignore[arg-type]
            data_collator=pad_collate,
            callbacks=[noise],
        )
        trainer.train()
    # --8<-- [end:trainer]
    print(f"trained {trainer.state.global_step} steps; final level {schedule(steps):.2f}")

    model.eval()
    device = next(model.parameters()).device
    test_noise = BatchNoise(pipeline, seed=1, level=1.0)  # a fixed, frozen noisy copy
    scores: dict[str, list[float]] = {"clean": [], "noisy at level 1": []}
    with torch.no_grad():
        for step, batch in enumerate(DataLoader(val, batch_size=64, collate_fn=pad_collate)):  # type: ignore[arg-type]
            batch = {k: v.to(device) if isinstance(v, Tensor) else v for k, v in batch.items()}
            batch["lengths"] = {k: v.to(device) for k, v in batch["lengths"].items()}
            for name, b in (("clean", batch), ("noisy at level 1", test_noise(batch, step=step))):
                pred = model(**b)["logits"].argmax(dim=1)
                scores[name].append(weighted_accuracy(pred, b["label"]))
    print(", ".join(f"val WA {k}: {sum(v) / len(v):.3f}" for k, v in scores.items()))


if __name__ == "__main__":
    main()
