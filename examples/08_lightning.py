"""Lightning: a noise curriculum on the device with ``NoiseCallback``, adaptive and resumable.

:class:`mmnoise.integrations.lightning.NoiseCallback` corrupts each training batch after
Lightning has moved it to the device; validation stays clean. Here the level follows a
:class:`~mmnoise.schedules.Plateau`: it rises by 0.2 whenever the validation WA (logged as
``val_wa``) gains less than 3 points in an epoch (``threshold=0.03``: the model has about
mastered this severity), and its progress is saved in the checkpoint. The script trains a small
late-fusion classifier on the synthetic corpus, prints the level per epoch (it rises during
training), then resumes from the last checkpoint and checks that the curriculum continues where
it stopped.

Needs the ``lightning`` extra: ``pip install 'mmnoise[lightning]'``.

Run: ``python examples/08_lightning.py`` (``--tiny`` for a few-second run).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

try:
    import lightning.pytorch as L
except ImportError as err:  # the optional `lightning` extra
    raise SystemExit(
        "08_lightning.py needs Lightning, which is not installed; install it with "
        "`pip install 'mmnoise[lightning]'`."
    ) from err

from mmnoise.data import pad_collate
from mmnoise.datasets import SyntheticMER
from mmnoise.integrations.lightning import NoiseCallback
from mmnoise.metrics import weighted_accuracy
from mmnoise.schedules import Plateau
from mmnoise.transforms import AddGaussianSNR, DropModalities, MultimodalPipeline, TimeMask

NAMES = ("audio", "visual", "text")


class LateFusion(L.LightningModule):
    """Mean over the valid steps of each modality, concatenated, then a linear classifier."""

    def __init__(self, dims: dict[str, int], num_classes: int) -> None:
        super().__init__()
        self.head = nn.Linear(sum(dims.values()), num_classes)

    def forward(self, batch: dict[str, Any]) -> Tensor:
        pooled = []
        for name in NAMES:
            x, n = batch[name], batch["lengths"][name]
            valid = torch.arange(x.shape[1], device=x.device)[None, :] < n[:, None]
            mean = (x * valid[..., None]).sum(1) / n[:, None].clamp(min=1)
            present = batch.get("present", {}).get(name)
            pooled.append(mean if present is None else mean * present[:, None])
        return self.head(torch.cat(pooled, dim=1))  # type: ignore[no-any-return]

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        return nn.functional.cross_entropy(self(batch), batch["label"])

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        wa = weighted_accuracy(self(batch).argmax(dim=1), batch["label"])
        self.log("val_wa", wa, batch_size=len(batch["label"]))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=3e-3)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--tiny", action="store_true", help="a few-second run (for tests)")
    args = parser.parse_args(argv)
    if args.tiny:
        args.size, args.epochs = 48, 3

    train, val = SyntheticMER("train", size=args.size), SyntheticMER("val", size=args.size // 4)
    loaders = [
        DataLoader(ds, batch_size=16, shuffle=shuffle, collate_fn=pad_collate)  # type: ignore[arg-type]
        for ds, shuffle in ((train, True), (val, False))
    ]
    dims = {n: int(train[0][n].shape[-1]) for n in NAMES}

    # --8<-- [start:callback]
    pipeline = MultimodalPipeline(
        {"audio": [AddGaussianSNR(snr_db=(30.0, 0.0))], "text": [TimeMask(fraction=(0.0, 0.5))]},
        missing=DropModalities(list(NAMES), fraction=(0.0, 0.5)),
    )
    # harder whenever an epoch gains less than 3 points of val WA
    plateau = Plateau(level=0.2, patience=0, step_size=0.2, threshold=0.03)
    noise = NoiseCallback(pipeline, seed=0, schedule=plateau, monitor="val_wa")

    class ShowLevel(L.Callback):
        def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
            wa = float(trainer.callback_metrics["val_wa"])
            print(f"epoch {trainer.current_epoch}: val WA {wa:.3f}, level now {plateau.level:.1f}")

    root = Path(tempfile.mkdtemp(prefix="mmnoise-lightning-"))  # the checkpoint goes here
    options: dict[str, Any] = {
        "accelerator": "auto",  # the noise runs wherever the batch is: GPU if there is one
        "devices": 1,
        "logger": False,
        "enable_checkpointing": False,  # the script saves the one checkpoint it resumes from
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
        "default_root_dir": str(root),
    }
    torch.manual_seed(0)
    trainer = L.Trainer(max_epochs=args.epochs, callbacks=[noise, ShowLevel()], **options)
    trainer.fit(LateFusion(dims, train.num_classes), *loaders)
    # --8<-- [end:callback]
    ckpt = root / "last.ckpt"
    trainer.save_checkpoint(ckpt)
    level, evaluations = plateau.level, plateau.num_steps

    # resume for one more epoch: a fresh Plateau gets its progress back from the checkpoint
    fresh = Plateau(level=0.2, patience=0, step_size=0.2, threshold=0.03)
    resumed = NoiseCallback(pipeline, seed=0, schedule=fresh, monitor="val_wa")
    L.Trainer(max_epochs=args.epochs + 1, callbacks=[resumed], **options).fit(
        LateFusion(dims, train.num_classes), *loaders, ckpt_path=str(ckpt)
    )
    assert fresh.num_steps == evaluations + 1 and fresh.level >= level  # continued, not restarted
    print(
        f"resumed from {ckpt.name} at level {level:.1f} ({evaluations} evaluations); one more "
        f"epoch: level {fresh.level:.1f} after {fresh.num_steps} evaluations"
    )
    shutil.rmtree(root)


if __name__ == "__main__":
    main()
