"""One registry and serialiser (mmnoise.config) behind transforms and schedules."""

from __future__ import annotations

import json

import pytest

from mmnoise import config, schedules
from mmnoise.config import SCHEDULES, TRANSFORMS, from_config
from mmnoise.schedules import Cosine, PerModality, Plateau, WarmUp, schedule_from_config
from mmnoise.transforms import (
    AddGaussianSNR,
    DropModalities,
    MultimodalPipeline,
    TimeMask,
    registered_transforms,
)


def test_both_families_register_in_the_one_module() -> None:
    assert registered_transforms() == TRANSFORMS.classes()
    assert "AddGaussianSNR" in TRANSFORMS and "Plateau" in SCHEDULES
    assert not set(TRANSFORMS.classes()) & set(SCHEDULES.classes())  # one name, one class
    assert all(not n.startswith("_") for n in [*TRANSFORMS.classes(), *SCHEDULES.classes()])
    # neither module keeps a registry or a codec of its own any more
    for module in (schedules, __import__("mmnoise.transforms.base", fromlist=["x"])):
        assert not hasattr(module, "_REGISTRY") and not hasattr(module, "_decode")


def test_from_config_rebuilds_pipelines_and_schedules_after_json() -> None:
    pipe = MultimodalPipeline(
        {"audio": [AddGaussianSNR(snr_db=(30.0, 0.0))], "text": [TimeMask(fraction=(0.0, 0.5))]},
        missing=DropModalities(["audio", "text"], fraction=(0.0, 0.5)),
    )
    again = from_config(json.loads(json.dumps(pipe.to_config())))
    assert type(again) is MultimodalPipeline and again.to_config() == pipe.to_config()
    sched = PerModality({"audio": WarmUp(Cosine(0.0, 1.0, steps=10), steps=2)})
    assert from_config(json.loads(json.dumps(sched.to_config()))) == sched
    assert schedule_from_config(sched.to_config()) == sched
    plateau = Plateau(level=0.2, patience=3)
    assert from_config(plateau.to_config()).to_config() == plateau.to_config()


def test_bad_configs_name_the_family_and_the_fix() -> None:
    with pytest.raises(ValueError, match="known transforms and schedules"):
        from_config({"type": "Nope"})
    with pytest.raises(TypeError, match="to_config"):
        from_config([1, 2])  # type: ignore[arg-type]
    # schedules are strict about nested configs, transforms pass unknown dicts through
    with pytest.raises(ValueError, match="unknown schedule type 'Nope'"):
        config.decode({"x": {"type": "Nope"}}, SCHEDULES)
    assert config.decode({"x": {"type": "Nope"}}, TRANSFORMS) == {"x": {"type": "Nope"}}
