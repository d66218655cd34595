"""Shared test configuration: Hypothesis profiles and the device list."""

from __future__ import annotations

import os

import torch
from hypothesis import HealthCheck, settings

# Torch's first calls are slow; a deadline would make the suite flaky, not stricter.
settings.register_profile(
    "dev", deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow]
)
if not os.environ.get("CI"):
    settings.load_profile("dev")
# Under CI=true Hypothesis auto-loads its built-in "ci" profile (derandomized, no deadline).

# One thread: on the shared 2-core CI machine two threads made small ops up to 10x slower.
torch.set_num_threads(1)
