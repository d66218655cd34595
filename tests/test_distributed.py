"""Multi-process reproducibility: torchrun --nproc_per_node=2 (gloo, CPU) over NoisyDataset +
DistributedSampler and BatchNoise, run twice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from mmnoise.data import NoisyDataset
from tests._dist_worker import SEED, make_base, make_pipeline

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("_dist_worker.py")


def _torchrun(out: Path) -> list[dict[str, Any]]:
    out.mkdir()
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        str(WORKER), str(out),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(2)]


def test_two_ranks_reproducible_noise(tmp_path: Path) -> None:
    first, second = _torchrun(tmp_path / "run1"), _torchrun(tmp_path / "run2")
    assert first[0]["world"] == 2
    base = make_base()
    ids = {base[i]["id"] for i in range(len(base))}
    for run in (first, second):
        for epoch in (0, 1):
            seen = [{k.split("/")[1] for k in r["items"] if k.startswith(f"{epoch}/")} for r in run]
            assert seen[0].isdisjoint(seen[1])
            assert seen[0] | seen[1] == ids  # the union of the ranks' items is the dataset
    # the same run twice gives identical noise, item by item and batch by batch
    for a, b in zip(first, second, strict=True):
        for key in ("items", "batches"):
            assert a[key].keys() == b[key].keys()
            assert all(torch.equal(a[key][k], b[key][k]) for k in a[key])
    # BatchNoise: the same clean batch at the same step gets different noise on each rank
    b0, b1 = first[0]["batches"], first[1]["batches"]
    assert b0.keys() == b1.keys()
    assert all(not torch.equal(b0[k], b1[k]) for k in b0)
    # NoisyDataset: an item's noise depends only on (seed, epoch, index), not on the rank,
    # the sampler or the worker that produced it
    ds = NoisyDataset(base, make_pipeline(), seed=SEED)
    index = {base[i]["id"]: i for i in range(len(base))}
    for epoch in (0, 1):
        ds.set_epoch(epoch)
        for r in first:
            for key, x in r["items"].items():
                e, uid = key.split("/")
                if int(e) == epoch:
                    assert torch.equal(x, ds[index[uid]]["audio"]), key
    noisy = {k: v for r in first for k, v in r["items"].items()}
    assert all(not torch.equal(noisy[f"0/{u}"], noisy[f"1/{u}"]) for u in ids)
