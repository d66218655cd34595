"""Test helpers for records: a comparable snapshot, and the check that every field is declared."""

from __future__ import annotations

from typing import Any

import torch

from mmnoise.transforms.record import Entry, Record


def frozen_record(value: Any) -> Any:
    """A nested snapshot of a record (tensors as dtype, shape and values) to compare with ==."""
    if isinstance(value, dict):
        return {k: frozen_record(v) for k, v in value.items()}
    if isinstance(value, torch.Tensor):
        return (value.dtype, tuple(value.shape), value.detach().cpu().tolist())
    return value


def assert_declared(record: Record | None) -> None:
    """Every field of ``record``, its entries and its child records is declared in their types."""
    if record is None:
        return
    assert set(record) == set(Record.__annotations__), sorted(record)
    for entry in record["keys"].values():
        assert set(entry) <= set(Entry.__annotations__), sorted(entry)
        assert {"params", "applied"} <= set(entry)
    for child in record["children"].values():
        assert_declared(child)
