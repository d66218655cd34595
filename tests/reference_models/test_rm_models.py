"""MMIN, IF-MMIN, NMER and their stage-1 teachers: shapes, gradients, determinism, targets."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch
from rm_helpers import MODALITIES, make_batch, tiny_backbone, tiny_config, tiny_teacher
from torch import nn

from mmnoise.presence import presence_patterns
from reference_models.ifmmin import IFMMIN, IFMMINConfig, ifmmin_loss
from reference_models.ifmmin import teacher_targets as ifmmin_targets
from reference_models.mmin import MMIN, MMINConfig, missing_only, mmin_loss
from reference_models.mmin import teacher_targets as mmin_targets
from reference_models.nmer import NMER, NMERConfig, nmer_loss
from reference_models.nmer import teacher_targets as nmer_targets
from reference_models.teacher import (
    BackboneConfig,
    Teacher,
    TeacherConfig,
    pairwise_cmd,
    teacher_loss,
)

PATTERNS = list(presence_patterns(MODALITIES, include_full=True))
TEACHERS = ["teacher", "teacher_inv", "teacher_nmer"]
STUDENTS = ["mmin", "ifmmin", "nmer"]
_STUDENT = {
    "mmin": (MMIN, mmin_targets, mmin_loss),
    "ifmmin": (IFMMIN, ifmmin_targets, ifmmin_loss),
    "nmer": (NMER, nmer_targets, nmer_loss),
}


def _build(kind: str, **kw: Any) -> nn.Module:
    torch.manual_seed(0)
    cfg = tiny_config(kind, **kw)
    if kind.startswith("teacher"):
        return Teacher(cfg)
    return _STUDENT[kind][0](cfg)


def _loss(kind: str, model: nn.Module, clean: dict[str, Any], noisy: dict[str, Any]) -> Any:
    if kind.startswith("teacher"):
        return teacher_loss(model(noisy), noisy["label"], model.config)
    _, targets_fn, loss_fn = _STUDENT[kind]
    teacher = Teacher(model.config.teacher).eval()
    targets = targets_fn(teacher, clean, noisy, model.config)
    return loss_fn(model(noisy), targets, noisy["label"], model.config)


@pytest.mark.parametrize(
    "pattern", PATTERNS, ids=lambda p: "".join("1" if v else "0" for v in p.values())
)
@pytest.mark.parametrize("kind", TEACHERS + STUDENTS)
def test_forward_shapes_and_finite_for_every_pattern(kind: str, pattern: dict[str, bool]) -> None:
    model = _build(kind)
    noisy = make_batch(pattern=pattern)
    out = model(noisy)
    assert out.logits.shape == (4, 4)
    for field in dataclasses.fields(out):
        value = getattr(out, field.name)
        if value is not None:
            assert value.shape[0] == 4
            assert torch.isfinite(value).all(), field.name
    if kind == "mmin":
        assert out.embedding.shape == out.imagined.shape == out.cycle.shape == (4, 24)
        assert out.latent.shape == (4, 12)
    if kind == "ifmmin":
        assert out.invariant.shape == out.imagined.shape == (4, 24)
    if kind == "nmer":
        assert out.reconstruction.shape == (4, 24) and out.mu.shape == out.logvar.shape == (4, 4)
    losses = _loss(kind, model, make_batch(), noisy)
    assert all(torch.isfinite(v) for v in losses.values())


@pytest.mark.parametrize("kind", [*TEACHERS, *STUDENTS, "nmer_batch_attention", "mmin_shared"])
def test_every_parameter_gets_a_gradient(kind: str) -> None:
    kw: dict[str, Any] = {}
    if kind == "nmer_batch_attention":
        kind, kw = "nmer", {"attention": "batch", "vae_heads": 4}
    if kind == "mmin_shared":
        kind, kw = "mmin", {"share_cycle_weights": True}
    model = _build(kind, **kw).train()
    # every modality present: an all-zero input would (correctly) give its LSTM no input gradient
    losses = _loss(kind, model, make_batch(), make_batch(seed=1))
    losses["total"].backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("kind", TEACHERS + STUDENTS)
def test_deterministic_in_eval(kind: str) -> None:
    model = _build(kind).eval()
    batch = make_batch()
    first, second = model(batch), model(batch)
    for field in dataclasses.fields(first):
        a, b = getattr(first, field.name), getattr(second, field.name)
        if a is not None:
            assert torch.equal(a, b), field.name


def test_nmer_samples_in_train_and_optionally_in_eval() -> None:
    batch = make_batch()
    model = _build("nmer").train()
    assert not torch.equal(model(batch).reconstruction, model(batch).reconstruction)
    model = _build("nmer", sample_in_eval=True).eval()
    assert not torch.equal(model(batch).reconstruction, model(batch).reconstruction)


@pytest.mark.parametrize("kind", TEACHERS + STUDENTS)
def test_eval_output_ignores_padding_values(kind: str) -> None:
    model = _build(kind).eval()
    batch = make_batch()
    padded = dict(batch)
    for name in MODALITIES:
        x = batch[name]
        pad = torch.arange(x.shape[1])[None, :, None] >= batch["lengths"][name][:, None, None]
        padded[name] = torch.where(pad, torch.full_like(x, 7.0), x)
    torch.testing.assert_close(model(batch).logits, model(padded).logits)


def test_nmer_attention_stays_within_each_sample() -> None:
    batch = make_batch()
    first = {k: v for k, v in batch.items() if k in MODALITIES}
    first = {k: v[:1] for k, v in first.items()}
    first["lengths"] = {k: v[:1] for k, v in batch["lengths"].items()}
    fixed = _build("nmer").eval()
    torch.testing.assert_close(fixed(batch).mu[:1], fixed(first).mu)
    # the upstream layout attends across the batch: sample 0 depends on its neighbours
    upstream = _build("nmer", attention="batch", vae_heads=4).eval()
    assert not torch.allclose(upstream(batch).mu[:1], upstream(first).mu)


@pytest.mark.parametrize("kind", STUDENTS)
def test_student_loads_teacher_weights(kind: str) -> None:
    student = _build(kind)
    torch.manual_seed(1)
    teacher = Teacher(student.config.teacher)
    student.load_teacher(teacher)
    mine, theirs = student.backbone.state_dict(), teacher.backbone.state_dict()
    assert mine.keys() <= theirs.keys()
    for key, value in mine.items():
        assert torch.equal(value, theirs[key]), key
    # the student's encoders now reproduce the teacher's embeddings
    student.eval(), teacher.eval()
    batch = make_batch()
    torch.testing.assert_close(student.backbone(batch).specific, teacher(batch).specific)


def test_invariant_student_rejects_fusion_teacher() -> None:
    student = _build("ifmmin")
    with pytest.raises(ValueError, match="shared"):
        student.load_teacher(Teacher(tiny_teacher()))
    nmer = _build("nmer")
    with pytest.raises(ValueError, match="invariant_encoders"):
        nmer.load_teacher(Teacher(tiny_teacher(invariant=True)))
    wide = TeacherConfig(
        backbone=dataclasses.replace(tiny_backbone(), embd_size=6),
        invariant=True,
        separate_invariant_encoders=True,
    )
    with pytest.raises(ValueError, match="differ in size"):
        nmer.load_teacher(Teacher(wide))


def test_mmin_missing_only_targets_hold_the_missing_modalities() -> None:
    torch.manual_seed(0)
    cfg = tiny_config("mmin")
    teacher = Teacher(cfg.teacher).eval()
    clean = make_batch()
    pattern = {"audio": True, "visual": False, "text": False}
    noisy = make_batch(pattern=pattern)
    targets = mmin_targets(teacher, clean, noisy, cfg).imagination.view(4, 3, 8)
    full = teacher(clean).specific
    zeros = teacher(missing_only(clean, None, MODALITIES)).specific
    # missing slots (visual, text) hold the real embedding, the present slot the embedding of zeros
    torch.testing.assert_close(targets[:, 1:], full[:, 1:])
    torch.testing.assert_close(targets[:, 0], zeros[:, 0])
    full_cfg = dataclasses.replace(cfg, imagination_target="full")
    torch.testing.assert_close(
        mmin_targets(teacher, clean, noisy, full_cfg).imagination, full.flatten(1)
    )


def test_missing_only_does_not_modify_input() -> None:
    batch = make_batch()
    before = batch["audio"].clone()
    out = missing_only(batch, batch["present"], MODALITIES)
    assert torch.equal(batch["audio"], before)
    assert float(out["audio"].abs().sum()) == 0.0  # present -> zeroed


def test_loss_totals_are_the_weighted_sums() -> None:
    batch = make_batch(pattern={"audio": False, "visual": True, "text": True})
    for kind, weights in [
        ("mmin", {"ce_weight": 0.5, "imagination_weight": 3.0, "cycle_weight": 0.25}),
        ("ifmmin", {"ce_weight": 2.0, "imagination_weight": 0.5, "invariant_weight": 7.0}),
        (
            "nmer",
            {
                "ce_weight": 1.5,
                "invariant_weight": 2.0,
                "reconstruction_weight": 0.5,
                "kl_weight": 0.1,
            },
        ),
    ]:
        model = _build(kind, **weights)
        losses = _loss(kind, model, make_batch(), batch)
        expected = sum(w * losses[name.removesuffix("_weight")] for name, w in weights.items())
        torch.testing.assert_close(losses["total"], expected)


def test_nmer_kl_reductions() -> None:
    model = _build("nmer").eval()
    batch = make_batch()
    out = model(batch)
    targets = nmer_targets(Teacher(model.config.teacher).eval(), batch, batch, model.config)
    averaged = nmer_loss(out, targets, batch["label"], model.config)
    sum_cfg = dataclasses.replace(model.config, kl_reduction="sum")
    summed = nmer_loss(out, targets, batch["label"], sum_cfg)
    q = torch.distributions.Normal(out.mu, torch.exp(0.5 * out.logvar))
    ref = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum()
    torch.testing.assert_close(summed["kl"], ref)
    torch.testing.assert_close(averaged["kl"], ref / 4)
    # default: batch mean x 0.01; upstream ("sum", kl_weight None): sum x 1, exactly
    rest = averaged["ce"] + averaged["invariant"] + averaged["reconstruction"]
    torch.testing.assert_close(averaged["total"], rest + 0.01 * ref / 4)
    torch.testing.assert_close(summed["total"], rest + ref)
    assert NMERConfig(kl_reduction="sum", kl_weight=0.5).kl_scale == 0.5


def test_teacher_loss_adds_weighted_cmd() -> None:
    model = _build("teacher_inv")
    batch = make_batch()
    out = model(batch)
    losses = teacher_loss(out, batch["label"], model.config)
    assert out.invariant is not None
    expected = pairwise_cmd(out.invariant, moments=5)
    assert float(expected.detach()) > 0
    torch.testing.assert_close(losses["cmd"], expected)
    torch.testing.assert_close(losses["total"], losses["ce"] + expected)
    fusion = _build("teacher")
    assert float(teacher_loss(fusion(batch), batch["label"], fusion.config)["cmd"].detach()) == 0.0


def test_paper_default_sizes() -> None:
    # the upstream models' sizes (AIM3-RUC/MMIN, ZhuoYulang/IF-MMIN): MMIN stage 1 about 2.064 M,
    # stage 2 about 5.444 M parameters; IF-MMIN stage 2 about 3.78 M
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert round(count(Teacher(TeacherConfig())) / 1e6, 3) == 2.064
    assert round(count(MMIN(MMINConfig())) / 1e6, 2) == 5.44
    assert round(count(IFMMIN(IFMMINConfig())) / 1e6, 2) == 3.78
    assert NMER(NMERConfig()).vae.to_mu.in_features == 768


def test_config_validation_messages() -> None:
    with pytest.raises(ValueError, match="unique modality names"):
        BackboneConfig(modalities=("a", "a"), input_dims=(1, 1), encoder_types=("lstm", "lstm"))
    with pytest.raises(ValueError, match="one input dim"):
        BackboneConfig(input_dims=(1, 2))
    with pytest.raises(ValueError, match="encoder_types"):
        BackboneConfig(encoder_types=("lstm", "gru", "textcnn"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="separate_invariant_encoders"):
        TeacherConfig(separate_invariant_encoders=True)
    with pytest.raises(ValueError, match="cls_dropout"):
        MMINConfig(cls_dropout=1.0)
    with pytest.raises(ValueError, match="invariant=False"):
        IFMMINConfig(teacher=TeacherConfig())
    with pytest.raises(ValueError, match="vae_heads"):
        NMERConfig(vae_heads=7)
    with pytest.raises(ValueError, match="kl_reduction"):
        NMERConfig(kl_reduction="mean")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="imagination_weight"):
        MMINConfig(imagination_weight=-1.0)
    with pytest.raises(TypeError):
        MMINConfig(4)  # type: ignore[misc]  # keyword-only


def test_bad_batches_get_clear_errors() -> None:
    model = _build("teacher")
    batch = make_batch()
    del batch["text"]
    with pytest.raises(KeyError, match="'text' is not in the batch"):
        model(batch)
    batch = make_batch()
    batch["audio"] = batch["audio"][..., :3]
    with pytest.raises(ValueError, match=r"\(B, T, 6\)"):
        model(batch)


def _heavy_tailed_corpus(n: int, seed: int) -> list[dict[str, Any]]:
    """A small corpus with real-world statistics: 4 classes, heavy tails, varying lengths.

    Each frame is 1.5 * class centre + N(0, 1) / sqrt(U), U ~ U(0, 1): tails like a Student t
    with 2 degrees of freedom (occasional frames 30x the typical size, infinite variance), on
    standardised scales as the MMIN loaders normalise features; 4 to 10 frames per modality.
    """
    dims = (12, 10, 16)
    g = torch.Generator().manual_seed(1234)  # the class structure is shared by the splits
    centres = [torch.randn(4, d, generator=g) for d in dims]
    g = torch.Generator().manual_seed(seed)
    items = []
    for _ in range(n):
        y = int(torch.randint(4, (1,), generator=g))
        item: dict[str, Any] = {"label": torch.tensor(y)}
        for m, d, c in zip(MODALITIES, dims, centres, strict=True):
            t = int(torch.randint(4, 11, (1,), generator=g))
            u = torch.rand(t, 1, generator=g).clamp_min(1e-3)
            item[m] = 1.5 * c[y] + torch.randn(t, d, generator=g) / u.sqrt()
        items.append(item)
    return items


def test_nmer_default_learns_on_a_small_heavy_tailed_corpus() -> None:
    # issue 11: on a real corpus of a few hundred utterances NMER with upstream's summed KL
    # stayed at chance; the default (KL batch mean x 0.01, classifier on x̂ + s) must reach the
    # full-modality baseline's clean accuracy (the student trains twice as long as the teacher;
    # the paper recipe: 80 vs 20 epochs). Both are scored once on a held-out set of 400 items:
    # 96 validation items (1 item = 1 point) cannot tell the two apart.
    from reference_models.train import StageConfig, TrainConfig, train_model

    train, val = _heavy_tailed_corpus(192, 1), _heavy_tailed_corpus(96, 2)
    test = _heavy_tailed_corpus(400, 3)
    backbone = BackboneConfig(
        input_dims=(12, 10, 16), embd_size=8, text_kernel_sizes=(2, 3), text_channels=8
    )
    teacher_cfg = TeacherConfig(
        backbone=backbone,
        invariant=True,
        separate_invariant_encoders=True,
        cls_dropout=0.2,
        cls_layers=(16,),
    )

    def stage(epochs: int, beta1: float, clip: float) -> StageConfig:
        return StageConfig(
            epochs=epochs, decay_epochs=epochs // 2, batch_size=32, lr=2e-3, beta1=beta1,
            grad_clip=clip,
        )  # fmt: skip

    tc = TrainConfig(teacher=stage(8, 0.9, 0.5), student=stage(16, 0.5, 1.0), eval_fill="nmer")
    base = train_model("baseline", train, val, cfg=teacher_cfg, train_cfg=tc, test_ds=test)
    cfg = NMERConfig(
        teacher=teacher_cfg,
        vae_layers=1,
        vae_heads=2,
        vae_feedforward=16,
        latent_size=4,
        decoder_hidden=16,
        cls_layers=(16,),
    )
    nmer = train_model("nmer", train, val, cfg=cfg, train_cfg=tc, teacher=base.model, test_ds=test)
    assert base.test_metrics is not None and nmer.test_metrics is not None
    chance = 0.25
    assert base.test_metrics["full"]["wa"] > chance + 0.25  # the corpus is learnable
    # the baseline's clean accuracy within 2 points (8 of 400 items; issue 11's failure was 32 %
    # against 64 %). Seed 0: baseline 67.5 %; NMER 67.25 % with the default KL x 0.01 chosen on
    # validation (issue 27), 67.5 % with KL x 0.1 and dropout 0.3, 70.8 % with dropout 0.1
    assert nmer.test_metrics["full"]["wa"] >= base.test_metrics["full"]["wa"] - 0.02
    assert nmer.test_metrics["total"]["wa"] > chance + 0.25  # missing modalities as NMER noise


def test_nmer_classifier_reads_the_residual_by_default() -> None:
    # issue 11: the release's classifier reads x̂ alone and lost clean accuracy at IEMOCAP size
    # (docs/reference-models.md); the default feeds it x̂ + s. With the decoder silenced
    # (x̂ = 0) the default still tells the samples apart through s; the release's input cannot.
    batch = make_batch()
    for name, differs in (("residual", True), ("reconstruction", False)):
        model = _build("nmer", classifier_input=name).eval()
        last = model.vae.decoder[-1]
        with torch.no_grad():
            last.weight.zero_()
            last.bias.zero_()
        out = model(batch)
        assert torch.equal(out.reconstruction, torch.zeros_like(out.reconstruction))
        same = torch.allclose(out.logits, out.logits[:1].expand_as(out.logits))
        assert same != differs, name
    assert NMERConfig().classifier_input == "residual"
    upstream = NMERConfig().upstream_loss()
    assert (upstream.classifier_input, upstream.kl_reduction, upstream.kl_scale) == (
        "reconstruction",
        "sum",
        1.0,
    )
    # the default's classifier dropout (0.3) and the script's (0.1), which upstream restores
    assert (NMERConfig().cls_dropout, upstream.cls_dropout) == (0.3, 0.1)


def test_gradients_are_clipped_per_network_as_upstream() -> None:
    from reference_models.train import _networks

    def network(name: str) -> str:
        parts = name.split(".")
        if parts[0] == "backbone":  # backbone.specific.audio..., backbone.shared...
            return ".".join(parts[:2] if parts[1] == "shared" else parts[:3])
        return parts[0]

    def groups(model: nn.Module) -> list[str]:
        ids = {id(p): n for n, p in model.named_parameters()}
        out = []
        for group in _networks(model):
            nets = {network(ids[id(p)]) for p in group}
            assert len(nets) == 1, nets  # a group never mixes two networks
            out.append(nets.pop())
        return out

    # upstream nets: one per encoder (netA, netV, netL and the invariant twins), S, the joint
    # module (NMER's whole VAE: encoder, mu / log sigma^2, decoder, modality embedding), the
    # classifier
    encoders = [f"backbone.{b}.{m}" for b in ("specific", "invariant_encoders") for m in MODALITIES]
    assert sorted(groups(_build("nmer"))) == sorted(
        [*encoders, "backbone.shared", "vae", "classifier"]
    )
    assert sorted(groups(_build("mmin"))) == sorted(
        [*encoders[:3], "cra", "cra_back", "classifier"]
    )
