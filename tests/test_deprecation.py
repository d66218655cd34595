"""Renamed public names: the old name still works for one release, warns naming the new one, and
gives exactly what the new name gives."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch

import mmnoise.functional as MF
from mmnoise.config import from_config
from mmnoise.functional import diffusion as FD
from mmnoise.functional import features as FF
from mmnoise.functional import tokens as FT
from mmnoise.transforms import features as TF
from mmnoise.transforms import tokens as TT
from mmnoise.transforms.nmer import NMERNoise


def _old(call: Callable[[], Any], *new: str, here: bool = True) -> Any:
    """Run ``call`` (old names), check it warns once per name in ``new``, naming it; return."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = call()
    messages = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    assert len(messages) == len(new), [str(w.message) for w in caught]
    for name, message in zip(new, messages, strict=True):
        assert name in message and "0.2" in message, message
    # each points at the caller's line (a config's at the library's call)
    assert all(w.filename == __file__ for w in caught) or not here
    return out


def _new(call: Callable[[], Any]) -> Any:
    """Run ``call`` (new names only): no warning at all."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return call()


# ---- helper E: feature, token and diffusion names (fraction, beta_schedule, kernel stems) -----

TOKENS = torch.tensor([[101, 7, 8, 9, 10, 11, 102, 0], [101, 12, 13, 14, 102, 0, 0, 0]])
LENGTHS = torch.tensor([7, 5])
IDS = {"special_ids": (101, 102)}

# (class, old kwargs, new kwargs, other kwargs, kind)
CLASS_RENAMES: list[tuple[type, dict[str, Any], dict[str, Any], dict[str, Any], str]] = [
    (TF.ImpulseNoise, {"ratio": (0.1, 0.6)}, {"fraction": (0.1, 0.6)}, {}, "features"),
    (TF.FrameDropout, {"ratio": (0.2, 0.9)}, {"fraction": (0.2, 0.9)}, {}, "features"),
    (TF.TimeMask, {"ratio": (0.1, 0.9)}, {"fraction": (0.1, 0.9)}, {}, "features"),
    (TF.FrameFreeze, {"ratio": (0.1, 0.9)}, {"fraction": (0.1, 0.9)}, {}, "features"),
    (TF.FeatureMask, {"ratio": (0.1, 0.9)}, {"fraction": (0.1, 0.9)}, {}, "features"),
    (TF.TimeShift, {"shift_ratio": (0.1, 0.5)}, {"shift_fraction": (0.1, 0.5)}, {}, "features"),
    (
        TF.DiffusionNoise,
        {"schedule": "cosine", "impulse_ratio": 0.5},
        {"beta_schedule": "cosine", "impulse_fraction": 0.5},
        {"noise": "impulse"},
        "features",
    ),
    (
        NMERNoise,
        {"schedule": "linear", "impulse_ratio": 0.5},
        {"beta_schedule": "linear", "impulse_fraction": 0.5},
        {"noise": "impulse"},
        "features",
    ),
    (TT.TokenMask, {"ratio": (0.2, 0.9)}, {"fraction": (0.2, 0.9)}, {"mask_id": 1, **IDS}, "t"),
    (
        TT.RandomTokenReplace,
        {"ratio": (0.2, 0.9)},
        {"fraction": (0.2, 0.9)},
        {"vocab_size": 200, **IDS},
        "t",
    ),
    (TT.AdjacentSwap, {"ratio": (0.2, 0.9)}, {"fraction": (0.2, 0.9)}, IDS, "t"),
    (TT.TokenDeletion, {"ratio": (0.2, 0.9)}, {"fraction": (0.2, 0.9)}, IDS, "t"),
    (TT.SpanMask, {"ratio": (0.2, 0.9)}, {"fraction": (0.2, 0.9)}, {"mask_id": 1, **IDS}, "t"),
]


def _sample(kind: str) -> dict[str, Any]:
    if kind == "t":
        return {"x": TOKENS, "lengths": {"x": LENGTHS}}
    x = torch.randn(2, 12, 5, generator=torch.Generator().manual_seed(0))
    return {"x": x, "lengths": {"x": torch.tensor([12, 7])}}


@pytest.mark.parametrize(
    "case", CLASS_RENAMES, ids=lambda c: c[0].__name__ + "-" + next(iter(c[1]))
)
def test_old_constructor_names_warn_and_build_the_same_transform(case: Any) -> None:
    cls, old, new, other, kind = case
    t_old = _old(lambda: cls("x", **old, **other), *(f"{cls.__name__}({n}=...)" for n in new))
    t_new = _new(lambda: cls("x", **new, **other))
    params = inspect.signature(cls).parameters
    assert set(new) <= set(params) and not set(old) & set(params)
    config = t_new.to_config()
    assert t_old.to_config() == config and set(new) <= set(config) and not set(old) & set(config)
    sample = _sample(kind)
    a = t_old(sample, level=0.7, generator=torch.Generator().manual_seed(3))
    b = t_new(sample, level=0.7, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a["x"], b["x"]) and not torch.equal(b["x"], sample["x"])
    # a config written before the rename still loads, with the warning
    old_config = {k: v for k, v in config.items() if k not in new}
    old_config.update({k: (list(v) if isinstance(v, tuple) else v) for k, v in old.items()})
    assert _old(lambda: from_config(old_config), *new, here=False).to_config() == config


def test_old_and_new_constructor_name_together_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="pass only fraction="):
        TF.TimeMask("x", ratio=(0.0, 0.5), fraction=(0.0, 0.5))


X = torch.randn(2, 10, 3, generator=torch.Generator().manual_seed(1))
B2 = torch.tensor([0.4, 0.8])
START = torch.tensor([0.2, 0.6])

# (kernel, input, old kwargs, new kwargs, other kwargs)
KERNEL_ARGS: list[
    tuple[Callable[..., torch.Tensor], torch.Tensor, dict[str, Any], dict[str, Any], dict[str, Any]]
] = [
    (FF.impulse_noise, X, {"ratio": B2}, {"fraction": B2}, {}),
    (FF.frame_dropout, X, {"ratio": B2}, {"fraction": B2}, {}),
    (FF.time_mask, X, {"width_ratio": B2}, {"width_fraction": B2}, {"start": START}),
    (FF.frame_freeze, X, {"width_ratio": B2}, {"width_fraction": B2}, {"start": START}),
    (FF.feature_mask, X, {"width_ratio": B2}, {"width_fraction": B2}, {"start": START}),
    (FF.time_shift, X, {"shift_ratio": B2}, {"shift_fraction": B2}, {}),
    (
        FD.diffusion_noise,
        X,
        {"impulse_ratio": 0.5},
        {"impulse_fraction": 0.5},
        {"alpha_bar": B2, "noise": "impulse"},
    ),
    (FT.token_mask, TOKENS, {"ratio": B2}, {"fraction": B2}, {"mask_id": 1, **IDS}),
    (FT.random_token_replace, TOKENS, {"ratio": B2}, {"fraction": B2}, {"vocab_size": 200}),
    (FT.adjacent_swap, TOKENS, {"ratio": B2}, {"fraction": B2}, IDS),
    (FT.token_deletion, TOKENS, {"ratio": B2}, {"fraction": B2}, IDS),
    (FT.token_deletion_lengths, TOKENS, {"ratio": B2}, {"fraction": B2}, IDS),
    (
        FT.span_mask,
        TOKENS,
        {"width_ratio": B2},
        {"width_fraction": B2},
        {"start": START, "mask_id": 1},
    ),
]


@pytest.mark.parametrize("case", KERNEL_ARGS, ids=lambda c: c[0].__name__)
def test_old_kernel_keywords_warn_and_give_identical_output(case: Any) -> None:
    fn, x, old, new, other = case
    name = next(iter(new))
    draws = "generator" in inspect.signature(fn).parameters

    def run(kw: dict[str, Any]) -> torch.Tensor:
        seeded = {"generator": torch.Generator().manual_seed(5)} if draws else {}
        return fn(x, **kw, **other, **seeded)  # type: ignore[no-any-return]

    a = _old(lambda: run(old), name)
    b = _new(lambda: run(new))
    assert torch.equal(a, b)
    assert name in inspect.signature(fn).parameters
    assert next(iter(old)) not in inspect.signature(fn).parameters


# old kernel name -> new kernel (each shares its class's stem now)
KERNEL_NAMES = {
    "token_delete": FT.token_deletion,
    "token_delete_lengths": FT.token_deletion_lengths,
    "token_replace": FT.random_token_replace,
    "token_swap": FT.adjacent_swap,
}


@pytest.mark.parametrize("module", [MF, FT], ids=["mmnoise.functional", "tokens"])
@pytest.mark.parametrize("old", sorted(KERNEL_NAMES))
def test_old_kernel_names_warn_and_give_identical_output(module: Any, old: str) -> None:
    new = KERNEL_NAMES[old]
    fn = _old(lambda: getattr(module, old), f"{module.__name__}.{new.__name__}")
    assert fn is new
    kw: dict[str, Any] = {"fraction": B2, "lengths": LENGTHS, **IDS}
    if new is FT.random_token_replace:
        kw["vocab_size"] = 200
    a = fn(TOKENS, **kw, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, new(TOKENS, **kw, generator=torch.Generator().manual_seed(2)))
    assert old not in module.__all__ and new.__name__ in module.__all__


def test_old_lengths_after_delete_name_warns_and_counts_the_same() -> None:
    y = FT.token_deletion(TOKENS, fraction=B2, lengths=LENGTHS, **IDS)
    old = _old(lambda: MF.lengths_after_delete, "lengths_after_deletion")
    assert torch.equal(
        old(TOKENS, y, lengths=LENGTHS), FT.lengths_after_deletion(TOKENS, y, lengths=LENGTHS)
    )


def test_unknown_names_still_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="token_nonsense"):
        _ = FT.token_nonsense  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="token_nonsense"):
        _ = MF.token_nonsense  # type: ignore[attr-defined]


def test_frozen_merc_suite_builds_with_the_new_names_and_no_warning() -> None:
    from mmnoise.merc.corrupt import make_transform
    from mmnoise.merc.suite import load_suite

    suite = load_suite("mer-c-v1")
    olds = {"ratio", "shift_ratio"}
    fams = [f for f in suite.families if f.param in olds]
    assert {f.transform for f in fams} >= {"ImpulseNoise", "TimeMask", "TimeShift", "TokenMask"}
    for fam in fams:
        if fam.transform not in {c[0].__name__ for c in CLASS_RENAMES}:
            continue  # another family's rename (waveform, missing) is tested with it
        t = _new(lambda fam=fam: make_transform(fam, 3, ["x"]))
        v = fam.severities[2]
        new = "shift_fraction" if fam.param == "shift_ratio" else "fraction"
        assert getattr(t, new) == (v, v), fam.name


def test_old_text_module_warns_naming_transcripts_and_gives_the_same_function() -> None:
    import sys

    import mmnoise.transcripts

    sys.modules.pop("mmnoise.text", None)  # a module warns at its first import only
    with pytest.warns(DeprecationWarning, match=r"^mmnoise\.text is deprecated .* import "
                      r"mmnoise\.transcripts instead\.$") as caught:  # fmt: skip
        import mmnoise.text as old
    assert caught[0].filename == __file__  # the warning points at the importing line
    assert old.asr_noise is mmnoise.transcripts.asr_noise
    assert old.asr_noise(["to be or not"], level=1.0, seed=3) == mmnoise.transcripts.asr_noise(
        ["to be or not"], level=1.0, seed=3
    )


def test_old_extra_import_error_path_warns_and_gives_the_core_helper() -> None:
    import mmnoise.extras
    import mmnoise.integrations

    with pytest.warns(DeprecationWarning, match=r"use mmnoise\.extras\.extra_import_error"):
        old = mmnoise.integrations.extra_import_error
    assert old is mmnoise.extras.extra_import_error
