"""One intra-op thread for the reference-model tests (restored afterwards).

Their tensors are tiny, so extra threads only add synchronisation; on a shared 2-core machine
two spinning OpenMP threads per process made these tests about ten times slower.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
