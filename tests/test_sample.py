"""The sample format: validator, presence helpers, MMIN conditions."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mmnoise import config, device, levels, presence, sample
from mmnoise.data import NoisyDataset
from mmnoise.levels import check_level, check_level_value
from mmnoise.presence import (
    MMIN_CONDITIONS,
    condition_name,
    presence_from_matrix,
    presence_matrix,
    presence_patterns,
)
from mmnoise.robustness import RobustnessGrid
from mmnoise.sample import check_sample, valid_mask
from mmnoise.schedules import Linear

NAMES = ("audio", "visual", "text")


def _batch(b: int = 2) -> dict[str, object]:
    return {
        "audio": torch.randn(b, 6, 4),
        "visual": torch.rand(b, 3, 3, 8, 8),
        "text": torch.randint(0, 9, (b, 5)),
        "wave": torch.randn(b, 1, 32),
        "kinds": {"wave": "waveform"},
        "lengths": {"audio": torch.tensor([6, 2][:b]), "wave": torch.tensor([32, 10][:b])},
        "present": {"visual": torch.tensor([True, False][:b])},
        "label": torch.zeros(b, dtype=torch.long),
    }


KINDS = {"audio": "features", "visual": "frames", "text": "tokens", "wave": "waveform"}


def test_check_sample_accepts_every_kind_and_returns_batch_size() -> None:
    assert check_sample(_batch(), KINDS) == 2  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mutate", "error", "match"),
    [
        (lambda s: s.__setitem__("audio", torch.randn(6, 4)), TypeError, "add the batch dim"),
        (lambda s: s.__setitem__("text", torch.randn(2, 5)), TypeError, "int64"),
        (lambda s: s.__setitem__("audio", torch.randn(3, 6, 4)), ValueError, "one batch size"),
        (lambda s: s["lengths"].__setitem__("audio", torch.tensor([7, 2])), ValueError, "lengths"),
        (
            lambda s: s["lengths"].__setitem__("audio", torch.tensor([0, 2])),
            ValueError,
            "zero-length",
        ),
        (lambda s: s["present"].__setitem__("visual", torch.tensor([1, 0])), ValueError, "bool"),
        (lambda s: s.pop("audio"), KeyError, "not in the sample"),
        (lambda s: s["kinds"].__setitem__("wave", "features"), ValueError, "waveform"),
    ],
)
def test_check_sample_errors_name_the_problem(mutate, error, match) -> None:  # type: ignore[no-untyped-def]
    s = _batch()
    mutate(s)
    with pytest.raises(error, match=match):
        check_sample(s, KINDS)  # type: ignore[arg-type]


def test_presence_matrix_round_trip_and_default_present() -> None:
    s = _batch()
    m = presence_matrix(s, NAMES)
    assert m.tolist() == [[True, True, True], [True, False, True]]
    back = presence_from_matrix(m, NAMES)
    assert back["visual"].tolist() == [True, False] and back["audio"].all()


def test_six_mmin_conditions_in_upstream_order() -> None:
    pats = list(presence_patterns(("a", "v", "l")))
    assert [condition_name(p) for p in pats] == ["azz", "zvz", "zzl", "avz", "azl", "zvl"]
    assert [tuple(p.values()) for p in pats] == list(MMIN_CONDITIONS)
    full = list(presence_patterns(("a", "v", "l"), include_full=True))
    assert len(full) == 7 and condition_name(full[-1]) == "avl"


@given(st.integers(1, 6))
def test_presence_patterns_are_the_nonempty_proper_subsets(m: int) -> None:
    names = [f"m{i}" for i in range(m)]
    pats = [tuple(p.values()) for p in presence_patterns(names)]
    assert len(pats) == len(set(pats)) == 2**m - 2
    assert all(any(p) and not all(p) for p in pats)


def test_valid_mask_marks_prefixes() -> None:
    m = valid_mask(torch.tensor([2, 0, 3]), 3, batch=3, device=torch.device("cpu"))
    assert m.sum(dim=1).tolist() == [2, 0, 3]


def _noisy_dataset(level: float) -> object:
    return NoisyDataset([{}], lambda s, **k: s, seed=0, level=level)  # type: ignore[arg-type]


_LEVEL_CALLERS: dict[str, Callable[[float], object]] = {
    "transform": lambda v: check_level(v, 2, torch.device("cpu"), who="Gain"),
    "schedule": lambda v: Linear(v, 0.0, steps=3),
    "NoisyDataset": _noisy_dataset,
    "RobustnessGrid": lambda v: RobustnessGrid(levels=(0.0, v)),
    "missing_level": lambda v: RobustnessGrid(missing_level=v),
}


@pytest.mark.parametrize("caller", sorted(_LEVEL_CALLERS))
@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan")])
def test_every_level_given_as_a_number_goes_through_the_one_check(caller: str, bad: float) -> None:
    # one function, one message: "<who>: expected <name> in [0, 1], got <value>; <fix>"
    pattern = r"^\w+: expected [\w\[\]]+ in \[0, 1\], got (1\.5|-0\.1|nan); "
    with pytest.raises(ValueError, match=pattern):
        _LEVEL_CALLERS[caller](bad)
    with pytest.raises(TypeError, match=r"expected start as a float in \[0, 1\], got bool"):
        check_level_value(True, who="demo", name="start")
    assert check_level_value(1, who="demo") == 1.0


_MOVED_OUT_OF_SAMPLE = {
    **dict.fromkeys(("as_float32", "check_level", "check_level_value"), levels),
    **dict.fromkeys(("check_bounds", "device_check", "reads_on_host"), device),
    **dict.fromkeys(
        ("MMIN_CONDITIONS", "condition_name", "presence_from_matrix", "presence_matrix",
         "presence_patterns"),
        presence,
    ),
}


@pytest.mark.parametrize("name", sorted(_MOVED_OUT_OF_SAMPLE))
def test_names_moved_out_of_sample_keep_their_old_import_path_with_a_warning(name: str) -> None:
    new = _MOVED_OUT_OF_SAMPLE[name]
    assert name not in vars(sample) and name not in sample.__all__  # only the alias is left
    message = (
        rf"^mmnoise\.sample\.{name} is deprecated and will be removed in 0\.2: use "
        rf"{new.__name__.replace('.', '[.]')}\.{name} instead\.$"
    )
    with pytest.warns(DeprecationWarning, match=message):
        old = getattr(sample, name)
    assert old is getattr(new, name)
    with pytest.warns(DeprecationWarning, match=message):
        exec(f"from mmnoise.sample import {name}", {})  # the import statement warns too
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        sample.nothing  # noqa: B018


def test_importing_mmnoise_and_its_modules_warns_nothing() -> None:
    import subprocess
    import sys

    code = (
        "import mmnoise, mmnoise.presence, mmnoise.device, mmnoise.levels, mmnoise.robustness, "
        "mmnoise.merc, reference_models"
    )
    subprocess.run([sys.executable, "-W", "error", "-c", code], check=True)


def test_level_helpers_live_in_levels() -> None:
    assert config.check_range is levels.check_range and config.lerp is levels.lerp
    assert config.check_probability is levels.check_probability


@given(st.floats(allow_nan=False, allow_infinity=True, allow_subnormal=True))
def test_as_float32_rounds_as_torch_does(value: float) -> None:
    # the level's float32 value, computed in math functions (dynamo traces them on every torch):
    # torch's own float64 -> float32 conversion is the oracle, signs of zeros included
    want = float(torch.tensor(value, dtype=torch.float64).to(torch.float32))
    got = levels.as_float32(value)
    assert got == want and math.copysign(1.0, got) == math.copysign(1.0, want)


def test_as_float32_at_the_edges_of_float32() -> None:
    tiny, big = 2.0**-149, float(torch.finfo(torch.float32).max)
    assert levels.as_float32(tiny) == tiny and levels.as_float32(tiny / 2) == 0.0  # tie to even
    assert levels.as_float32(1.5 * tiny) == 2 * tiny  # tie to even, upward
    assert levels.as_float32(big) == big and levels.as_float32(big * (1 + 2**-25)) == big
    assert levels.as_float32(big * (1 + 2**-23)) == math.inf
    assert levels.as_float32(-1.7976931348623157e308) == -math.inf  # float64's largest
    assert math.isnan(levels.as_float32(math.nan))
