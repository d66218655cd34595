"""Building blocks: CMD, KL, masked pooling, TextCNN, the residual autoencoder recurrences."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from reference_models.layers import (
    LSTMEncoder,
    MLPClassifier,
    ResidualAE,
    TextCNN,
    cmd,
    gaussian_kl,
    kaiming_init_,
    masked_max,
)


def _cmd_direct(x: np.ndarray, y: np.ndarray, k_max: int) -> float:
    """CMD written out literally: per dimension, per moment, Python loops, float64."""
    n_dim = x.shape[1]
    mean_x = [sum(x[:, d]) / len(x) for d in range(n_dim)]
    mean_y = [sum(y[:, d]) / len(y) for d in range(n_dim)]
    total = sum((mean_x[d] - mean_y[d]) ** 2 for d in range(n_dim)) ** 0.5
    for k in range(2, k_max + 1):
        sq = 0.0
        for d in range(n_dim):
            mx = sum((v - mean_x[d]) ** k for v in x[:, d]) / len(x)
            my = sum((v - mean_y[d]) ** k for v in y[:, d]) / len(y)
            sq += (mx - my) ** 2
        total += sq**0.5
    return float(total)


@settings(max_examples=15)
@given(
    seed=st.integers(0, 2**16),
    rows=st.integers(2, 6),
    rows_y=st.integers(2, 6),
    dim=st.integers(1, 4),
    k=st.integers(1, 5),
)
def test_cmd_matches_direct_formula(seed: int, rows: int, rows_y: int, dim: int, k: int) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, dim, generator=g, dtype=torch.float64)
    y = torch.randn(rows_y, dim, generator=g, dtype=torch.float64) * 2 + 0.5
    expected = _cmd_direct(x.numpy(), y.numpy(), k)
    assert float(cmd(x, y, moments=k)) == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_cmd_is_zero_for_identical_and_symmetric() -> None:
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    y = torch.randn(5, 3, generator=torch.Generator().manual_seed(1))
    assert float(cmd(x, x)) == 0.0
    assert float(cmd(x, y)) == pytest.approx(float(cmd(y, x)))
    # shifting one set changes only the first-moment term
    assert float(cmd(x, x + 1.0)) == pytest.approx(3**0.5, rel=1e-5)
    with pytest.raises(ValueError, match="moments"):
        cmd(x, y, moments=0)


def test_gaussian_kl_matches_torch_distributions() -> None:
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(4, 3, generator=g, dtype=torch.float64)
    logvar = torch.randn(4, 3, generator=g, dtype=torch.float64)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    expected = torch.distributions.kl_divergence(q, p)
    torch.testing.assert_close(gaussian_kl(mu, logvar), expected, rtol=1e-12, atol=1e-12)


def test_masked_max_ignores_invalid_steps() -> None:
    x = torch.tensor([[[1.0, -3.0], [9.0, 9.0]]])
    assert masked_max(x, torch.tensor([[True, False]])).tolist() == [[1.0, -3.0]]
    assert masked_max(x, None).tolist() == [[9.0, 9.0]]


def _with_padding_values(x: torch.Tensor, lengths: torch.Tensor, value: float) -> torch.Tensor:
    pad = torch.arange(x.shape[1])[None, :, None] >= lengths[:, None, None]
    return torch.where(pad, torch.full_like(x, value), x)


@pytest.mark.parametrize(
    "make",
    [
        lambda m: LSTMEncoder(3, 4, mask_padding=m),
        lambda m: TextCNN(3, 4, kernel_sizes=(2, 3), channels=2, dropout=0.0, mask_padding=m),
    ],
)
def test_encoders_ignore_padding_only_when_masking(make: object) -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 6, 3)
    lengths = torch.tensor([6, 4, 2])
    masked, upstream = make(True), make(False)  # type: ignore[operator]
    upstream.load_state_dict(masked.state_dict())
    a = masked(_with_padding_values(x, lengths, 0.0), lengths)
    b = masked(_with_padding_values(x, lengths, 50.0), lengths)
    torch.testing.assert_close(a, b)
    # the upstream mode pools over padding, so the padded values leak into the embedding
    c = upstream(_with_padding_values(x, lengths, 0.0), lengths)
    d = upstream(_with_padding_values(x, lengths, 50.0), lengths)
    assert not torch.allclose(c[1:], d[1:])
    # a full-length row is the same in both modes
    torch.testing.assert_close(a[0], c[0])


def test_lstm_masked_pool_equals_pool_of_unpadded_sequence() -> None:
    torch.manual_seed(0)
    enc = LSTMEncoder(3, 4)
    x = torch.randn(2, 6, 3)
    lengths = torch.tensor([6, 3])
    full = enc(x, lengths)
    alone = enc(x[1:, :3], None)
    torch.testing.assert_close(full[1:], alone)


def test_textcnn_handles_sequences_shorter_than_kernels() -> None:
    enc = TextCNN(5, 4, kernel_sizes=(3, 4, 5), channels=2)
    out = enc(torch.randn(2, 2, 5), torch.tensor([2, 1]))
    assert out.shape == (2, 4)
    assert torch.isfinite(out).all()


def _reference_recurrence(ae: ResidualAE, h: torch.Tensor, cond: torch.Tensor, mode: str):
    n = len(ae.encoders)
    zs, outs, ins = [], [], []
    for k in range(1, n + 1):
        if mode == "mmin":
            block_in = h + sum(outs, torch.zeros_like(h))  # in_k = h + sum_{j<k} o_j
        elif mode == "ifim":
            block_in = (h if k == 1 else outs[-1]) + cond
        else:
            block_in = h + k * cond
        ins.append(block_in)
        zs.append(ae.encoders[k - 1](block_in))
        outs.append(ae.decoders[k - 1](zs[-1]))
    final = {
        "mmin": ins[-1] + outs[-1],
        "ifim": outs[-1],
        "ifim_2022": h + n * cond + outs[-1],
    }[mode]
    return ae.transition(final), torch.cat(zs, dim=1)


@pytest.mark.parametrize("mode", ["mmin", "ifim", "ifim_2022"])
def test_residual_ae_recurrences(mode: str) -> None:
    torch.manual_seed(0)
    ae = ResidualAE(6, (5, 3), n_blocks=3, recurrence=mode)  # type: ignore[arg-type]
    h, cond = torch.randn(2, 6), torch.randn(2, 6)
    recon, latent = ae(h, cond if mode != "mmin" else None)
    ref_recon, ref_latent = _reference_recurrence(ae, h, cond, mode)
    torch.testing.assert_close(recon, ref_recon)
    torch.testing.assert_close(latent, ref_latent)
    assert latent.shape == (2, 9)


def test_residual_ae_blocks_have_the_spec_layout() -> None:
    ae = ResidualAE(384, (256, 128, 64), n_blocks=5)
    enc = [m for m in ae.encoders[0] if isinstance(m, nn.Linear)]
    dec = [m for m in ae.decoders[0] if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in enc] == [(384, 256), (256, 128), (128, 64)]
    assert [(m.in_features, m.out_features) for m in dec] == [(64, 128), (128, 256), (256, 384)]
    assert not isinstance(ae.encoders[0][-1], nn.LeakyReLU)  # no activation on the latent
    assert sum(p.numel() for p in ae.parameters()) == 1_694_400  # MMIN's CRA, AIM3-RUC/MMIN


def test_residual_ae_ifim_needs_condition() -> None:
    with pytest.raises(ValueError, match="condition"):
        ResidualAE(4, (2,), n_blocks=1, recurrence="ifim")(torch.zeros(1, 4))


def test_encoder_parameter_counts_match_upstream() -> None:
    # upstream LSTMEncoder / TextCNN (AIM3-RUC/MMIN): A 133,120; V 241,664; L 1,622,528
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(LSTMEncoder(130, 128)) == 133_120
    assert count(LSTMEncoder(342, 128)) == 241_664
    assert count(TextCNN(1024, 128)) == 1_622_528


def test_mlp_classifier_layout_and_init() -> None:
    clf = kaiming_init_(MLPClassifier(5, (4, 3), 2, dropout=0.5, use_bn=True))
    kinds = [type(m).__name__ for m in clf.net]
    assert kinds == ["Linear", "ReLU", "BatchNorm1d", "Dropout"] * 2 + ["Linear"]
    for m in clf.modules():
        if isinstance(m, nn.Linear):
            assert m.bias is not None and float(m.bias.detach().abs().sum()) == 0.0
    assert list(itertools.chain(*(p.shape for p in clf.parameters())))  # has parameters
