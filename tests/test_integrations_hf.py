"""Hugging Face ``Trainer`` and accelerate with mmnoise (real transformers / accelerate, CPU, tiny)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, SequentialSampler

from mmnoise.data import BatchNoise, EpochSampler, NoisyDataset, pad_collate
from mmnoise.schedules import Linear, Plateau
from mmnoise.transforms import AddGaussianSNR

transformers = pytest.importorskip("transformers", reason="the hf extra is part of `dev`")
accelerate = pytest.importorskip("accelerate", reason="the hf extra is part of `dev`")
from mmnoise.integrations.hf import NoiseTrainer, NoiseTrainerCallback  # noqa: E402

N, T, D = 8, 5, 3

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")


def items() -> list[dict[str, Any]]:
    g = torch.Generator().manual_seed(0)
    return [
        {"audio": torch.randn(T, D, generator=g), "labels": torch.tensor(i % 2)} for i in range(N)
    ]


class Tiny(nn.Module):
    """Mean-pool + linear, HF style (returns the loss); keeps every training input it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(D, 2)
        self.seen: list[Tensor] = []

    def forward(self, audio: Tensor, labels: Tensor, **rest: Any) -> dict[str, Tensor]:
        if self.training:
            self.seen.append(audio.detach().clone())
        logits = self.head(audio.mean(dim=1))
        return {"loss": nn.functional.cross_entropy(logits, labels), "logits": logits}


def args(tmp_path: Path, **kw: Any) -> Any:
    opts: dict[str, Any] = {
        "output_dir": str(tmp_path),
        "per_device_train_batch_size": 4,
        "per_device_eval_batch_size": 4,
        "use_cpu": True,
        "report_to": [],
        "save_strategy": "no",
        "logging_strategy": "no",
        "disable_tqdm": True,
        "remove_unused_columns": False,
        "dataloader_num_workers": 0,
        "learning_rate": 0.1,
        **kw,
    }
    return transformers.TrainingArguments(**opts)


def test_trainer_corrupts_training_batches_reproducibly(tmp_path: Path) -> None:
    pipe = AddGaussianSNR("audio", snr_db=(30.0, 0.0))
    schedule = Linear(0.2, 1.0, steps=4)
    cb = NoiseTrainerCallback(pipe, seed=5, schedule=schedule)
    model = Tiny()
    trainer = NoiseTrainer(
        model=model,
        args=args(tmp_path, max_steps=2, gradient_accumulation_steps=2),
        train_dataset=items(),
        data_collator=pad_collate,
        callbacks=[cb],
    )
    trainer.train()
    assert len(model.seen) == 4  # 2 optimiser steps x 2 micro-batches
    noise = BatchNoise(pipe, seed=5, rank=0, schedule=schedule)
    for k, seen in enumerate(model.seen):
        batch = _clean_batch_under(seen)  # the trainer shuffles: find the items by content
        assert not torch.allclose(seen, batch["audio"])  # noisy
        step, micro = divmod(k, 2)
        # seeded from the micro-batch count, the level read at the optimiser step
        want = noise(batch, step=2 * step + micro, level_step=step)
        assert torch.equal(want["audio"], seen)
    assert not torch.equal(model.seen[0], model.seen[1])


def _all_batches() -> list[Tensor]:
    return [b["audio"] for b in DataLoader(items(), batch_size=4, collate_fn=pad_collate)]  # type: ignore[arg-type]


def _clean_batch_under(seen: Tensor) -> dict[str, Any]:
    """The collated clean items closest to the noisy rows of ``seen``, in its order."""
    data = items()
    xs = torch.stack([d["audio"] for d in data])
    order = [int((xs - s).pow(2).sum(dim=(1, 2)).argmin()) for s in seen]
    return pad_collate([data[i] for i in order])


def test_plateau_steps_on_eval_and_the_state_survives_a_checkpoint(tmp_path: Path) -> None:
    pipe = AddGaussianSNR("audio", snr_db=(30.0, 0.0))
    plateau = Plateau(level=0.0, patience=0, step_size=0.25)
    cb = NoiseTrainerCallback(pipe, seed=0, schedule=plateau, monitor="eval_loss", unit="epoch")
    trainer = NoiseTrainer(
        model=Tiny(),
        args=args(tmp_path, num_train_epochs=2, eval_strategy="epoch", learning_rate=0.0),
        train_dataset=items(),
        eval_dataset=items(),
        data_collator=pad_collate,
        callbacks=[cb],
    )
    trainer.train()
    # lr 0: the eval loss never improves, so the second evaluation raises the level
    assert plateau.num_steps == 2 and plateau.level == 0.25
    state = cb.state()
    restored = NoiseTrainerCallback(**state["args"])  # what resume_from_checkpoint does
    for name, value in state["attributes"].items():
        setattr(restored, name, value)
    assert restored.noise.schedule.level == 0.25 and restored.noise.schedule.num_steps == 2
    assert restored.noise.pipeline.to_config() == pipe.to_config()
    with pytest.raises(TypeError, match="adaptive schedule"):
        NoiseTrainerCallback(pipe, seed=0, schedule=Linear(0.0, 1.0, steps=1), monitor="x")


def test_trainer_without_the_callback_says_how_to_fix(tmp_path: Path) -> None:
    trainer = NoiseTrainer(
        model=Tiny(),
        args=args(tmp_path, max_steps=1),
        train_dataset=items(),
        data_collator=pad_collate,
    )
    with pytest.raises(ValueError, match="NoiseTrainerCallback"):
        trainer.train()


def test_accelerate_loop_with_batch_noise_and_epoch_sampler() -> None:
    """The plain accelerate recipe: BatchNoise on prepared batches, EpochSampler for items."""
    acc = accelerate.Accelerator(cpu=True)
    pipe = AddGaussianSNR("audio", snr_db=(30.0, 0.0))
    ds = NoisyDataset(items(), pipe, seed=2, schedule=Linear(0.0, 1.0, steps=1))
    sampler = EpochSampler(SequentialSampler(range(N)))
    model = Tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    dl = DataLoader(ds, batch_size=4, sampler=sampler, collate_fn=pad_collate)  # type: ignore[arg-type]
    model, opt, dl = acc.prepare(model, opt, dl)
    noise = BatchNoise(pipe, seed=9, rank=acc.process_index, level=0.5)
    seen: dict[int, list[Tensor]] = {}
    step = 0
    for epoch in range(2):
        dl.set_epoch(epoch)  # what Trainer does; reaches the EpochSampler
        for batch in dl:
            seen.setdefault(epoch, []).append(batch["audio"].clone())
            noisy = noise(batch, step=step)
            assert not torch.equal(noisy["audio"], batch["audio"])
            loss = model(**noisy)["loss"]
            acc.backward(loss)
            opt.step()
            opt.zero_grad()
            step += 1
    assert sampler.epoch == 1  # (accelerate may also tell the dataset; the pairs carry it anyway)
    clean = _all_batches()
    assert torch.equal(seen[0][0], clean[0])  # epoch 0: level 0, clean items
    want = pad_collate([ds[(1, i)] for i in range(4)])["audio"]
    assert torch.equal(seen[1][0], want) and not torch.equal(want, clean[0])
