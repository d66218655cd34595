"""One rank of tests/test_integrations_lightning.py's DDP run (launched by torchrun, gloo, CPU).

Saves what the rank's training_step saw and the clean batches it was given to ``out/rank{r}.pt``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import lightning.pytorch as L
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from mmnoise.data import pad_collate
from mmnoise.integrations.lightning import NoiseCallback
from mmnoise.transforms import AddGaussianSNR

N, T, D = 8, 5, 3
SEED = 11


def items() -> list[dict[str, Any]]:
    g = torch.Generator().manual_seed(0)
    return [{"audio": torch.randn(T, D, generator=g), "label": torch.tensor(i)} for i in range(N)]


class Tiny(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(D, N)
        self.seen: list[dict[str, Tensor]] = []

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        self.seen.append({"audio": batch["audio"].clone(), "label": batch["label"].clone()})
        return nn.functional.cross_entropy(self.head(batch["audio"].mean(dim=1)), batch["label"])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def main(out: Path) -> None:
    torch.set_num_threads(1)
    model = Tiny()
    cb = NoiseCallback(AddGaussianSNR("audio", snr_db=(30.0, 0.0)), seed=SEED, level=1.0)
    trainer = L.Trainer(
        max_epochs=1,
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        callbacks=[cb],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    loader = DataLoader(items(), batch_size=2, collate_fn=pad_collate)  # type: ignore[arg-type]
    trainer.fit(model, loader)
    torch.save(
        {"rank": trainer.global_rank, "seen": model.seen}, out / f"rank{trainer.global_rank}.pt"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
