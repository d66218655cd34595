"""The Lightning callback and EpochSampler under a real ``lightning.pytorch.Trainer`` (CPU, tiny)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, SequentialSampler

from mmnoise.data import BatchNoise, EpochSampler, NoisyDataset, pad_collate
from mmnoise.schedules import Linear, Plateau
from mmnoise.transforms import AddGaussianSNR

L = pytest.importorskip("lightning.pytorch", reason="the lightning extra is part of `dev`")
from mmnoise.integrations.lightning import NoiseCallback  # noqa: E402

N, T, D = 8, 5, 3
ROOT = Path(__file__).resolve().parents[1]

# Lightning's own warnings (its torch pytree shim, tiny-loader advice) are not ours to fix
pytestmark = [
    pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning"),
    pytest.mark.filterwarnings("ignore::lightning.fabric.utilities.warnings.PossibleUserWarning"),
]


def items() -> list[dict[str, Any]]:
    g = torch.Generator().manual_seed(0)
    return [
        {"audio": torch.randn(T, D, generator=g), "label": torch.tensor(i % 2)} for i in range(N)
    ]


class Tiny(L.LightningModule):  # type: ignore[misc]
    """Mean-pool + linear; keeps a copy of every training and validation batch it sees."""

    def __init__(self, val_metric: float = 0.5) -> None:
        super().__init__()
        self.head = nn.Linear(D, 2)
        self.val_metric = val_metric
        self.train_seen: list[dict[str, Any]] = []
        self.val_seen: list[Tensor] = []

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        self.train_seen.append(
            {"audio": batch["audio"].clone(), "epoch": self.current_epoch, "batch": batch}
        )
        logits = self.head(batch["audio"].mean(dim=1))
        return nn.functional.cross_entropy(logits, batch["label"])

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self.val_seen.append(batch["audio"].clone())
        self.log("val_wa", self.val_metric)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def trainer(tmp_path: Path, callbacks: list[Any], **kw: Any) -> Any:
    opts: dict[str, Any] = {
        "max_epochs": 2,
        "accelerator": "cpu",
        "devices": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
        "default_root_dir": str(tmp_path),
        **kw,
    }
    return L.Trainer(callbacks=callbacks, **opts)


def loader(**kw: Any) -> DataLoader[Any]:
    return DataLoader(items(), batch_size=4, collate_fn=pad_collate, **kw)  # type: ignore[arg-type]


def test_callback_corrupts_training_batches_only_and_reproducibly(tmp_path: Path) -> None:
    pipe = AddGaussianSNR("audio", snr_db=(30.0, 0.0))
    schedule = Linear(0.2, 1.0, steps=3)
    cb = NoiseCallback(pipe, seed=7, schedule=schedule, clean_key="clean")
    model = Tiny()
    trainer(tmp_path, [cb]).fit(model, loader(), loader())
    clean = list(loader())
    assert len(model.train_seen) == 4  # 2 epochs x 2 batches
    noise = BatchNoise(pipe, seed=7, rank=0, schedule=schedule)
    for k, seen in enumerate(model.train_seen):
        batch = clean[k % 2]
        # the clean batch is kept under clean_key, the modality is replaced in place
        assert torch.equal(seen["batch"]["clean"]["audio"], batch["audio"])
        assert not torch.allclose(seen["audio"], batch["audio"])
        # seeded from (seed, rank, batch count), level from the global step (= k here)
        expected = noise(batch, step=k, level_step=k)
        assert torch.equal(seen["audio"], expected["audio"])
    # every batch got its own noise, the same clean batch differs between epochs
    assert not torch.equal(model.train_seen[0]["audio"], model.train_seen[2]["audio"])
    for v in model.val_seen:  # validation stays clean
        assert any(torch.equal(v, b["audio"]) for b in clean)


def test_epoch_unit_reads_the_schedule_at_the_epoch(tmp_path: Path) -> None:
    pipe = AddGaussianSNR("audio", snr_db=(30.0, 0.0))
    schedule = Linear(0.0, 1.0, steps=1)  # level 0 (identity) at epoch 0, 1 from epoch 1
    model = Tiny()
    trainer(tmp_path, [NoiseCallback(pipe, seed=0, schedule=schedule, unit="epoch")]).fit(
        model, loader()
    )
    clean = list(loader())
    for k, seen in enumerate(model.train_seen):
        same = torch.equal(seen["audio"], clean[k % 2]["audio"])
        assert same == (seen["epoch"] == 0)


def test_plateau_steps_on_the_monitored_metric_and_resumes_from_the_checkpoint(
    tmp_path: Path,
) -> None:
    pipe = AddGaussianSNR("audio", snr_db=(30.0, 0.0))
    plateau = Plateau(level=0.0, patience=0, step_size=0.25)
    cb = NoiseCallback(pipe, seed=0, schedule=plateau, monitor="val_wa")
    tr = trainer(tmp_path, [cb])
    tr.fit(Tiny(val_metric=0.5), loader(), loader())
    # first validation sets the best, the second (no improvement, patience 0) raises the level
    assert plateau.num_steps == 2 and plateau.level == 0.25
    ckpt = tmp_path / "last.ckpt"
    tr.save_checkpoint(ckpt)

    fresh = Plateau(level=0.0, patience=0, step_size=0.25)
    cb2 = NoiseCallback(pipe, seed=0, schedule=fresh, monitor="val_wa")
    assert cb2.state_key == cb.state_key
    trainer(tmp_path, [cb2], max_epochs=4).fit(
        Tiny(val_metric=0.5), loader(), loader(), ckpt_path=str(ckpt)
    )
    # restored (level 0.25 after 2 evaluations); a move forgets the best, so evaluation 3 sets
    # it again and evaluation 4 (no improvement) raises the level. Without the restore the
    # fresh plateau would have seen only 2 evaluations and stand at 0.25.
    assert fresh.num_steps == 4 and fresh.level == 0.5


def test_validate_outside_fit_does_not_move_the_curriculum(tmp_path: Path) -> None:
    pipe = AddGaussianSNR("audio", snr_db=(30.0, 0.0))
    plateau = Plateau(level=0.0, patience=0, step_size=0.25)
    cb = NoiseCallback(pipe, seed=0, schedule=plateau, monitor="val_wa")
    tr = trainer(tmp_path, [cb])
    model = Tiny(val_metric=0.5)
    tr.fit(model, loader(), loader())
    assert plateau.num_steps == 2 and plateau.level == 0.25
    for _ in range(3):  # evaluating the trained model is not an evaluation of the curriculum
        tr.validate(model, loader(), verbose=False)
    assert plateau.num_steps == 2 and plateau.level == 0.25


def test_monitor_needs_an_adaptive_schedule_and_a_logged_metric(tmp_path: Path) -> None:
    pipe = AddGaussianSNR("audio")
    with pytest.raises(TypeError, match="adaptive schedule"):
        NoiseCallback(pipe, seed=0, schedule=Linear(0.0, 1.0, steps=2), monitor="val_wa")
    cb = NoiseCallback(pipe, seed=0, schedule=Plateau(), monitor="missing_metric")
    with pytest.raises(KeyError, match="missing_metric"):
        trainer(tmp_path, [cb], max_epochs=1).fit(Tiny(), loader(), loader())


def test_ddp_ranks_get_their_own_reproducible_noise(tmp_path: Path) -> None:
    """A real 2-process DDP fit (torchrun, gloo, CPU): each rank's noise is BatchNoise's with
    its own rank, so the ranks differ and a rerun gives the same noise."""
    import tests._lightning_ddp_worker as worker

    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        str(Path(worker.__file__)), str(tmp_path),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    runs = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    data = worker.items()
    labels = [set() for _ in runs]  # type: list[set[int]]
    for r, run in enumerate(runs):
        assert run["rank"] == r and len(run["seen"]) == 2  # 8 items / 2 ranks / batch 2
        noise = BatchNoise(AddGaussianSNR("audio", snr_db=(30.0, 0.0)), seed=worker.SEED, rank=r)
        for k, seen in enumerate(run["seen"]):
            clean = pad_collate([data[int(i)] for i in seen["label"]])
            assert torch.equal(noise(clean, step=k)["audio"], seen["audio"])
            labels[r] |= {int(i) for i in seen["label"]}
    assert labels[0].isdisjoint(labels[1]) and len(labels[0] | labels[1]) == worker.N
    # the same clean batch would get different noise on the two ranks
    clean = pad_collate(data[:2])
    a, b = (BatchNoise(AddGaussianSNR("audio"), seed=worker.SEED, rank=r) for r in (0, 1))
    assert not torch.equal(a(clean, step=0)["audio"], b(clean, step=0)["audio"])


def test_epoch_sampler_advances_noise_with_persistent_workers(tmp_path: Path) -> None:
    """Lightning calls set_epoch on the sampler only; the epoch still reaches the workers."""
    pipe = AddGaussianSNR("audio", snr_db=(30.0, 0.0))
    ds = NoisyDataset(items(), pipe, seed=1, schedule=Linear(0.0, 1.0, steps=1))
    sampler = EpochSampler(SequentialSampler(range(N)))
    train = DataLoader(
        ds,  # type: ignore[arg-type]
        batch_size=4,
        sampler=sampler,
        collate_fn=pad_collate,
        num_workers=1,
        persistent_workers=True,
    )
    model = Tiny()
    trainer(tmp_path, []).fit(model, train)
    assert sampler.epoch == 1  # Lightning called set_epoch(1) on our sampler
    assert ds.epoch == 0  # ... and never on the dataset
    for k, seen in enumerate(model.train_seen):
        epoch, first = seen["epoch"], (k % 2) * 4
        want = pad_collate([ds[(epoch, i)] for i in range(first, first + 4)])
        assert torch.equal(seen["audio"], want["audio"])
    # epoch 0 is clean (level 0), epoch 1 is noisy
    clean = list(loader())
    assert torch.equal(model.train_seen[0]["audio"], clean[0]["audio"])
    assert not torch.equal(model.train_seen[2]["audio"], clean[0]["audio"])
