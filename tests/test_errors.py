"""Bad input gets a clear error (who, expected, got, how to fix) and never a silent wrong answer."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import mmnoise as mm


def _s(**extra: object) -> dict[str, object]:
    s: dict[str, object] = {"audio": torch.randn(2, 5, 3), "visual": torch.randn(2, 4, 6)}
    s.update(extra)
    return s


def test_wrong_rank_names_transform_expected_and_fix() -> None:
    with pytest.raises(
        TypeError,
        match=r"AddGaussianSNR: expected sample\['audio'\].*got torch.float32 of shape \(5, 3\); add the batch dim",
    ):
        mm.AddGaussianSNR("audio")({"audio": torch.randn(5, 3)})


def test_wrong_dtype() -> None:
    with pytest.raises(
        TypeError,
        match=r"Gain: expected sample\[.audio.\] as .*features float \(B, T, D\), got torch.int64",
    ):
        mm.Gain("audio")({"audio": torch.ones(2, 5, 3, dtype=torch.int64)})


def test_nan_and_inf_rejected_by_default_with_opt_out() -> None:
    x = torch.randn(2, 5, 3)
    x[0, 1, 1] = float("nan")
    x[1, 0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"NaN or Inf.*check_finite=False"):
        mm.TimeMask("audio")({"audio": x})
    out = mm.TimeMask("audio", fraction=(0.0, 0.2))(
        {"audio": x}, level=0.5, check_finite=False, generator=torch.Generator()
    )
    assert out["audio"].shape == x.shape


def test_empty_batch() -> None:
    with pytest.raises(ValueError, match="non-empty batch"):
        mm.Gain("audio")({"audio": torch.randn(0, 5, 3)})


def test_zero_length_sequences() -> None:
    with pytest.raises(ValueError, match="non-zero sizes"):
        mm.Gain("audio")({"audio": torch.randn(2, 0, 3)})
    with pytest.raises(ValueError, match="1 <= lengths"):
        mm.Gain("audio")(
            {"audio": torch.randn(2, 5, 3), "lengths": {"audio": torch.tensor([0, 5])}}
        )


def test_lengths_longer_than_t() -> None:
    with pytest.raises(ValueError, match=r"1 <= lengths\['audio'\] <= 5.*max 9"):
        mm.TimeMask("audio")(_s(lengths={"audio": torch.tensor([9, 2])}))


@pytest.mark.parametrize("level", [-0.1, 1.5, float("nan")])
def test_level_outside_unit_interval(level: float) -> None:
    with pytest.raises(ValueError, match=r"expected level in \[0, 1\]"):
        mm.Gain("audio")(_s(), level=level)
    # one bad value among good ones in a (B,) tensor, read on the host as min / max
    with pytest.raises(ValueError, match=r"expected level in \[0, 1\], got values in \["):
        mm.Gain("audio")(_s(), level=torch.tensor([0.5, level]))


def test_level_tensor_of_wrong_size() -> None:
    with pytest.raises(ValueError, match=r"\(2,\) tensor"):
        mm.Gain("audio")(_s(), level=torch.ones(3))


@pytest.mark.parametrize("p", [-0.5, 1.01])
def test_p_outside_unit_interval(p: float) -> None:
    with pytest.raises(ValueError, match=r"Gain: expected p in \[0, 1\]"):
        mm.Gain("audio", p=p)


def test_unknown_modality_names() -> None:
    with pytest.raises(KeyError, match="'audoi' is not in the sample"):
        mm.Gain("audoi")(_s())
    pipe = mm.MultimodalPipeline({"vision": [mm.Gain()]})
    with pytest.raises(KeyError, match="vision"):
        pipe(_s())
    with pytest.raises(KeyError, match="match no modality"):
        mm.MultimodalPipeline({"audio": [mm.Gain()]})(_s(), level={"audoi": 1.0})


def test_batch_sizes_that_disagree() -> None:
    with pytest.raises(ValueError, match="one batch size across modalities"):
        mm.Gain(["audio", "visual"])(
            {"audio": torch.randn(2, 5, 3), "visual": torch.randn(3, 4, 6)}
        )


def test_generator_on_another_device() -> None:
    x = torch.empty(2, 5, 3, device="meta")
    with pytest.raises(ValueError, match="generator is on cpu but the data is on meta"):
        mm.AddGaussianSNR("audio")({"audio": x}, generator=torch.Generator(), check_finite=False)


def test_bad_ranges_and_options() -> None:
    with pytest.raises(ValueError, match="fraction values in"):
        mm.TimeMask("a", fraction=(0.0, 1.5))
    with pytest.raises(ValueError, match="pair"):
        mm.AddGaussianSNR("a", snr_db=(1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="min_present"):
        mm.DropModalities(["a", "v"], min_present=3)
    with pytest.raises(ValueError, match="exactly"):
        mm.DropModalities(["a", "v"], patterns=[{"a": True}])
    with pytest.raises(TypeError, match="mmnoise transforms"):
        mm.Compose([lambda s: s])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="unknown transform type"):
        mm.from_config({"type": "NoSuchNoise"})


def test_declared_kind_not_accepted() -> None:
    s = {"wave": torch.randn(2, 1, 16), "kinds": {"wave": "waveform"}}
    with pytest.raises(TypeError, match="declared 'waveform'"):
        mm.FeatureMask("wave")(s)


def test_errors_leave_the_input_untouched() -> None:
    s = _s(lengths={"audio": torch.tensor([9, 2])})
    before = s["audio"].clone()  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        mm.TimeMask("audio")(s)
    assert torch.equal(s["audio"], before)  # type: ignore[arg-type]


def test_misspelt_pipeline_modality_is_listed_once() -> None:
    pipe = mm.MultimodalPipeline(
        {"audoi": [mm.Gain()]}, missing=mm.DropModalities(["audoi", "visual"])
    )
    with pytest.raises(KeyError) as err:
        pipe(_s())
    msg = str(err.value)
    assert msg.count("audoi") == 1, msg  # once, not ['audoi', 'audoi']
    assert msg.startswith('"MultimodalPipeline:') and "['audio', 'visual']" in msg
    assert "fix the spelling" in msg or "check the spelling" in msg


@pytest.mark.parametrize("reserved", ["lengths", "present", "kinds"])
@pytest.mark.parametrize(
    "call",
    [
        lambda s: mm.Gain("audio")(s),
        lambda s: mm.Compose([mm.Gain("audio")])(s),
        lambda s: mm.MultimodalPipeline({"audio": [mm.Gain()]})(s),
        lambda s: mm.DropModalities(["audio", "visual"])(s),
        lambda s: mm.check_sample(s, {"audio": "features"}),
    ],
)
def test_misspelt_reserved_keys_are_rejected_with_the_known_names(reserved, call) -> None:  # type: ignore[no-untyped-def]
    value = {"lengths": torch.tensor([5, 2]), "present": torch.tensor([True, False])}.get(
        reserved, "features"
    )
    s = _s(**{reserved: {"audoi": value}})
    with pytest.raises(KeyError) as err:
        call(s)
    msg = str(err.value)
    assert f"sample['{reserved}'] names ['audoi']" in msg  # what was received
    assert "known: ['audio', 'visual']" in msg  # what was expected
    assert "fix the spelling" in msg  # how to fix
    assert msg.split(":")[0].strip("\"'") in (  # who raised
        "Gain", "Compose", "MultimodalPipeline", "DropModalities", "check_sample",
    )  # fmt: skip


def test_a_single_number_for_a_range_says_how_to_fix() -> None:
    with pytest.raises(ValueError) as err:
        mm.AddGaussianSNR("audio", snr_db=10)  # type: ignore[arg-type]
    msg = str(err.value)
    assert msg.startswith("AddGaussianSNR: expected snr_db as a (weak, strong) pair")
    assert "got 10" in msg and "pass snr_db=(10.0, 10.0)" in msg


@pytest.mark.parametrize("bad", [(float("nan"), 0.0), (0.0, float("inf")), (-float("inf"), 1.0)])
def test_non_finite_settings_are_rejected_with_the_fix(bad: tuple[float, float]) -> None:
    with pytest.raises(
        ValueError, match=r"AddGaussianSNR: expected snr_db as finite numbers.*level 0"
    ):
        mm.AddGaussianSNR("a", snr_db=bad)


def test_reserved_entries_may_name_only_modalities() -> None:
    # "id" is a key of the sample but not a modality tensor: lengths for it is a mistake
    s = {"audio": torch.randn(2, 5, 3), "id": "x", "lengths": {"id": torch.tensor([5, 5])}}
    with pytest.raises(
        KeyError, match=r"Gain: sample\['lengths'\] names \['id'\].*known: \['audio'\]"
    ):
        mm.Gain("audio")(s)


def test_bench_predict_is_found_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mmnoise.merc._cli import load_predict

    (tmp_path / "mypred_issue28.py").write_text("def predict(batch):\n    return batch\n")
    monkeypatch.chdir(tmp_path)
    # as under the `mmnoise` console script: the working directory is not on sys.path
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "mypred_issue28", raising=False)
    fn = load_predict("mypred_issue28:predict")
    assert fn(3) == 3
    monkeypatch.delitem(sys.modules, "mypred_issue28")
    with pytest.raises(
        ValueError, match=r"no module named 'nope_issue28' in the working directory"
    ):
        load_predict("nope_issue28:predict")
