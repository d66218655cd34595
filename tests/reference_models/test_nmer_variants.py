"""NMER's named variants (issue 27): the switches of each and that the model and loss obey them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from rm_helpers import make_batch, tiny_config

from reference_models.nmer import NMER, RELEASE_FIXES, VARIANTS, NMERConfig, nmer_loss
from reference_models.nmer import teacher_targets as nmer_targets
from reference_models.teacher import Teacher


def _model(variant: str, **kw: Any) -> NMER:
    torch.manual_seed(0)
    return NMER(tiny_config("nmer").as_variant(variant) if not kw else tiny_config("nmer", **kw))


def test_each_variant_pins_its_switches() -> None:
    assert VARIANTS["release"] == {
        "classifier_input": "reconstruction",
        "reconstruction_target": "reconstruction",
        "decoder_output": "sigmoid",
        "cls_dropout": 0.1,
        "kl_reduction": "sum",
        "kl_weight": None,
        "sample_in_eval": True,
    }
    assert VARIANTS["mrcn1"] == {**VARIANTS["release"], "classifier_input": "residual",
                                 "reconstruction_target": "residual"}  # fmt: skip
    default = VARIANTS["default"]
    assert (default["classifier_input"], default["reconstruction_target"]) == (
        "residual",
        "reconstruction",
    )
    assert (default["decoder_output"], default["kl_reduction"], default["sample_in_eval"]) == (
        "identity",
        "batchmean",
        False,
    )
    # every variant sets every switch; the dataclass defaults are the default variant
    assert all(set(v) == set(default) for v in VARIANTS.values())
    assert NMERConfig() == NMERConfig.variant("default")
    assert NMERConfig.release() == NMERConfig.variant("release")
    assert NMERConfig.mrcn1(latent_size=8).latent_size == 8
    for name in VARIANTS:
        assert NMERConfig.variant(name).variant_name == name
        assert NMERConfig.variant(name).attention == "modalities"  # a fix no variant undoes
    assert NMERConfig(cls_dropout=0.2).variant_name == "custom"
    assert {"model selection", "VAE attention", "noise on padding"} <= set(RELEASE_FIXES)
    with pytest.raises(ValueError, match=r"NMERConfig.variant: expected a name in"):
        NMERConfig.variant("upstream")
    with pytest.raises(ValueError, match="reconstruction_target"):
        NMERConfig(reconstruction_target="x")  # type: ignore[arg-type]


def _loss(model: NMER, batch: dict[str, Any]) -> tuple[Any, dict[str, torch.Tensor]]:
    out = model(batch)
    teacher = Teacher(model.config.teacher).eval()
    targets = nmer_targets(teacher, batch, batch, model.config)
    return out, {**nmer_loss(out, targets, batch["label"], model.config), "t": targets}


def test_the_reconstruction_target_of_each_variant() -> None:
    batch = make_batch()
    for variant, residual in (("default", False), ("release", False), ("mrcn1", True)):
        model = _model(variant).eval()
        out, losses = _loss(model, batch)
        t = losses["t"].reconstruction
        recon = out.reconstruction + out.embedding if residual else out.reconstruction
        torch.testing.assert_close(losses["reconstruction"], F.mse_loss(recon, t))
        other = out.reconstruction if residual else out.reconstruction + out.embedding
        assert not torch.allclose(losses["reconstruction"], F.mse_loss(other, t)), variant


def test_the_decoder_latent_and_kl_of_each_variant() -> None:
    batch = make_batch()
    default, release, mrcn1 = _model("default").eval(), _model("release"), _model("mrcn1")
    release.eval(), mrcn1.eval()
    # sigmoid decoder (release, MRCN_1): x̂ in (0, 1); the default's reaches negative targets
    for model in (release, mrcn1):
        recon = model(batch).reconstruction
        assert bool((recon > 0).all() and (recon < 1).all())
    assert bool((default(batch).reconstruction < 0).any())
    # z sampled in evaluation (release, MRCN_1): two passes differ; z = mu (default): equal
    assert not torch.equal(release(batch).logits, release(batch).logits)
    assert torch.equal(default(batch).logits, default(batch).logits)
    # KL: summed x 1 upstream; batch mean x 0.01 by default, i.e. the sum x 0.01 / B
    _, up = _loss(release, batch)
    rest = up["ce"] + up["invariant"] + up["reconstruction"]
    torch.testing.assert_close(up["total"], rest + up["kl"])
    model = _model("default").eval()
    out, losses = _loss(model, batch)
    summed = dataclasses.replace(model.config, kl_reduction="sum")
    total_sum = nmer_loss(out, losses["t"], batch["label"], summed)["kl"]
    b = batch["label"].shape[0]
    rest = losses["ce"] + losses["invariant"] + losses["reconstruction"]
    torch.testing.assert_close(losses["total"], rest + total_sum * 0.01 / b)
    # the factor at the preset batch size (docs deviation table)
    assert model.config.kl_scale / 128 == pytest.approx(1 / 12800)


def test_classifier_dropout_of_each_variant() -> None:
    for variant, p in (("default", 0.3), ("release", 0.1), ("mrcn1", 0.1)):
        drops = [
            m.p for m in _model(variant).classifier.modules() if isinstance(m, torch.nn.Dropout)
        ]
        assert drops and all(d == p for d in drops), variant


def test_noise_on_padding_cannot_reach_the_model() -> None:
    # RELEASE_FIXES: upstream noises the padding of a missing modality; with the backbone's masked
    # pooling no variant reads the padding, so keeping it clean is no change to the model
    batch = make_batch()
    lengths = batch["lengths"]
    noisy = dict(batch)
    for name, n in lengths.items():
        x = batch[name].clone()
        pad = torch.arange(x.shape[1])[None, :] >= n[:, None]
        assert bool(pad.any()), name
        x[pad] = torch.randn_like(x[pad]) * 5
        noisy[name] = x
    for variant in VARIANTS:
        model = _model(variant).eval()
        torch.manual_seed(1)  # the release and MRCN_1 sample z in evaluation: the same draw
        first = model(noisy).logits
        torch.manual_seed(1)
        torch.testing.assert_close(first, model(batch).logits)


_FAST = ["--preset", "quick", "--epochs", "1", "--teacher-epochs", "1", "--min-steps", "1",
         "--no-progress"]  # fmt: skip


def test_train_cli_runs_each_variant_and_records_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from reference_models.__main__ import main
    from reference_models.train import load_trained

    argv = ["train", "--model", "nmer", "--data", "synthetic", "--size", "24", *_FAST]
    for variant in ("release", "mrcn1"):
        out = tmp_path / variant
        assert main([*argv, "--nmer-variant", variant, "--out", str(out)]) == 0
        config = load_trained(out / "model.pt").config
        assert isinstance(config, NMERConfig) and config.variant_name == variant
        run = json.loads((out / "run.json").read_text())
        assert run["nmer_variant"] == variant and run["nmer_switches"] == config.switches()
        printed = capsys.readouterr().out
        assert f"nmer (NMER variant {variant}): best epoch" in printed
    # the loss-only flag still works, says it is deprecated and names the whole-release flag
    with pytest.warns(DeprecationWarning, match="--nmer-variant release"):
        assert main([*argv, "--nmer-upstream-loss", "--out", str(tmp_path / "up")]) == 0
    run = json.loads((tmp_path / "up" / "run.json").read_text())
    assert run["nmer_variant"] == "custom" and run["nmer_upstream_loss"] is True
    with pytest.raises(SystemExit, match="--nmer-variant sets NMER's variant; add --model nmer"):
        main(["train", "--model", "mmin", "--nmer-variant", "release"])


def test_the_selection_script_reads_validation_only() -> None:
    # benchmarks/nmer_select.py: the selected candidate is the best on validation even where
    # the test numbers favour another one; the test table and the paired difference follow
    from benchmarks.nmer_select import CANDIDATES, to_markdown

    def result(val: float, test: float) -> dict[str, Any]:
        cond = {"wa": test, "ua": test, "f1": test}
        return {
            "val": {c: {"wa": val, "ua": val, "f1": val} for c in ("total", "full")},
            "test": {"total": cond, "full": cond},
        }

    names = list(CANDIDATES)
    best_val, best_test = names[1], names[0]
    results = {
        n: {s: result(0.7 if n == best_val else 0.5, 0.9 if n == best_test else 0.6)
            for s in ("1", "2")}
        for n in names
    }  # fmt: skip
    results["baseline (stage-1 teacher, clean)"] = {s: result(0.6, 0.6) for s in ("1", "2")}
    cfg = {"seeds": [1, 2], "size": 80, "teacher_epochs": 1, "epochs": 1, "lr": 1e-3,
           "intensity": 100}  # fmt: skip
    md, selected = to_markdown({"config": cfg, "results": results})
    assert selected == best_val
    assert f"| {best_val} **(selected)** | 70.0 ± 0.0 | 70.0 ± 0.0 | 70.0 |" in md
    assert md.index("Selection on validation") < md.index("Test (read after the selection)")
    assert "selected minus release, test WA full: 0.0 ± 0.0 points" in md
