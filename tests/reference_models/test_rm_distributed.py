"""DDP with torchrun: 2 CPU processes (gloo) train a few steps, in sync and reproducibly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from mmnoise.rng import derive_seed

HERE = Path(__file__).parent
ROOT = HERE.parents[1]


def test_torchrun_two_cpu_processes(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(HERE / "_rm_dist_worker.py"),
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    for run in (0, 1):
        # DDP keeps the replicas identical: same teacher, same student on both ranks
        assert ranks[0]["runs"][run]["digest"] == ranks[1]["runs"][run]["digest"]
        assert ranks[0]["runs"][run]["teacher_digest"] == ranks[1]["runs"][run]["teacher_digest"]
    for rank in ranks:
        first, second = rank["runs"]
        assert first == second  # the whole run is reproducible from the seed
        # 14 items over 2 ranks = 7 per rank = 2 batches of 4 per epoch, 2 student epochs
        stage_seed = derive_seed(7, 1)
        expected = [derive_seed(stage_seed, rank["rank"], step) for step in range(4)]
        assert first["seeds"] == expected
    assert ranks[0]["runs"][0]["seeds"] != ranks[1]["runs"][0]["seeds"]
    # only rank 0 writes; its checkpoint records the world size
    meta = torch.load(tmp_path / "run0" / "last.pt", weights_only=True)["meta"]
    assert meta["world"] == 2
    assert (tmp_path / "run0" / "model.pt").exists()
