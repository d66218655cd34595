"""Building blocks shared by MMIN, IF-MMIN and NMER.

Everything here is a small, stateless-in-config ``nn.Module`` or a pure function: the modality
encoders (LSTM + max-pool for audio / visual, TextCNN for text), the MLP classifier, the shared
("invariant") encoder, the cascade residual autoencoder used by MMIN and IF-MMIN, and the two
distances the losses need (CMD and the Gaussian KL). They follow the upstream code, which the
three models share: AIM3-RUC/MMIN (Zhao, Li, Jin, ACL 2021), copied by ZhuoYulang/IF-MMIN (Zuo,
Liu et al., ICASSP 2023) and WooyoohL/Noise-robust_MER (NMER: Fan et al., arXiv 2311.16114).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "LSTMEncoder",
    "MLPClassifier",
    "ResidualAE",
    "SharedEncoder",
    "TextCNN",
    "cmd",
    "gaussian_kl",
    "kaiming_init_",
    "masked_max",
]

Recurrence = Literal["mmin", "ifim", "ifim_2022"]


def masked_max(x: Tensor, valid: Tensor | None) -> Tensor:
    """Max over the time axis, ignoring invalid (padded) steps.

    Args:
        x: per-step features.
        valid: (B, T) bool, True on steps that take part; None = every step (the upstream
            behaviour, which pools over padding as well).

    Shape:
        x: (B, T, D); valid: (B, T). Output: (B, D).

    Returns:
        The per-dimension maximum over valid steps (every row needs one valid step).

    Example:
        >>> x = torch.tensor([[[1.0], [5.0]]])
        >>> masked_max(x, torch.tensor([[True, False]]))
        tensor([[1.]])
    """
    if valid is None:
        return x.amax(dim=1)
    return x.masked_fill(~valid[:, :, None], float("-inf")).amax(dim=1)


def _valid_steps(lengths: Tensor | None, steps: int, batch: int, device: torch.device) -> Tensor:
    """Return a (B, steps) bool mask of steps < lengths (all True without lengths)."""
    if lengths is None:
        return torch.ones(batch, steps, dtype=torch.bool, device=device)
    return torch.arange(steps, device=device)[None, :] < lengths.to(device)[:, None]


class LSTMEncoder(nn.Module):
    """Encode a feature sequence with one LSTM layer and max-pool over time (MMIN's A / V encoder).

    Upstream pools over every padded step; with ``mask_padding=True`` (the fix) only the first
    ``lengths[b]`` steps are pooled. A unidirectional LSTM's outputs at valid steps never depend on
    the padding after them, so masking the pool is enough to make the embedding padding-invariant.

    Args:
        input_dim: feature size D.
        hidden_size: LSTM hidden size = embedding size (128 in all three papers).
        mask_padding: pool over valid steps only (False reproduces upstream).

    Shape:
        x: (B, T, D); lengths: (B,) int64 or None. Output: (B, hidden_size).

    Example:
        >>> enc = LSTMEncoder(3, 4)
        >>> enc(torch.zeros(2, 5, 3), torch.tensor([5, 2])).shape
        torch.Size([2, 4])
    """

    def __init__(self, input_dim: int, hidden_size: int, *, mask_padding: bool = True) -> None:
        super().__init__()
        self.rnn = nn.LSTM(input_dim, hidden_size, batch_first=True)
        self.mask_padding = mask_padding

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        steps, _ = self.rnn(x)
        valid = None
        if self.mask_padding and lengths is not None:
            valid = _valid_steps(lengths, x.shape[1], x.shape[0], x.device)
        return masked_max(steps, valid)


class TextCNN(nn.Module):
    """Encode a token-embedding sequence with parallel full-width convolutions (MMIN's L encoder).

    Each kernel of height k spans the whole feature width (Kim 2014), is followed by ReLU and a max
    over time; the pooled maps are concatenated, passed through dropout, Linear and ReLU. Sequences
    shorter than the largest kernel are zero-padded in time (upstream crashes on them). With
    ``mask_padding=True`` padded steps are read as zeros and a kernel position counts only if its
    window lies inside the sequence (position 0 always counts, for sequences shorter than k).

    Args:
        input_dim: feature size D (1024 for BERT-large).
        embd_size: output size.
        kernel_sizes: kernel heights (3, 4, 5 upstream).
        channels: output channels per kernel (128 upstream).
        dropout: dropout before the projection (0.5, hard-coded upstream).
        mask_padding: pool over valid positions only (False reproduces upstream).

    Shape:
        x: (B, T, D); lengths: (B,) int64 or None. Output: (B, embd_size).

    Example:
        >>> enc = TextCNN(6, 4, kernel_sizes=(2, 3), channels=2)
        >>> enc(torch.zeros(2, 1, 6), torch.tensor([1, 1])).shape
        torch.Size([2, 4])
    """

    def __init__(
        self,
        input_dim: int,
        embd_size: int,
        *,
        kernel_sizes: Sequence[int] = (3, 4, 5),
        channels: int = 128,
        dropout: float = 0.5,
        mask_padding: bool = True,
    ) -> None:
        super().__init__()
        self.kernel_sizes = tuple(kernel_sizes)
        self.convs = nn.ModuleList(nn.Conv2d(1, channels, (k, input_dim)) for k in kernel_sizes)
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(channels * len(self.kernel_sizes), embd_size)
        self.mask_padding = mask_padding

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        k_max = max(self.kernel_sizes)
        if self.mask_padding and lengths is not None:
            # a window may reach past the end of a short sequence: make it see zeros, not
            # whatever the padding holds (a noise pipeline may leave it non-zero)
            x = x * _valid_steps(lengths, x.shape[1], x.shape[0], x.device)[:, :, None]
        if x.shape[1] < k_max:
            x = F.pad(x, (0, 0, 0, k_max - x.shape[1]))
        image = x[:, None]  # (B, 1, T, D): a one-channel "image" whose width is the feature size
        pooled = []
        for k, conv in zip(self.kernel_sizes, self.convs, strict=True):
            maps = F.relu(conv(image)).squeeze(3).transpose(1, 2)  # (B, T - k + 1, C)
            valid = None
            if self.mask_padding and lengths is not None:
                # positions whose window lies inside the sequence; at least position 0 so that a
                # sequence shorter than k still yields a (partly zero-padded) window
                n_valid = (lengths - k + 1).clamp(min=1)
                valid = _valid_steps(n_valid, maps.shape[1], maps.shape[0], maps.device)
            pooled.append(masked_max(maps, valid))
        return F.relu(self.proj(self.dropout(torch.cat(pooled, dim=1))))


class MLPClassifier(nn.Module):
    """Classify a vector with an MLP (MMIN's ``FcClassifier``).

    Each hidden layer is Linear, ReLU, optional BatchNorm1d, optional Dropout; a final Linear
    gives the logits.

    Args:
        input_dim: input size.
        hidden: hidden sizes ((128, 128) upstream).
        n_classes: number of classes.
        dropout: dropout after each hidden layer (0 = none).
        use_bn: BatchNorm1d after each hidden ReLU (NMER's classifier).

    Shape:
        x: (B, input_dim). Output: (B, n_classes) logits.

    Example:
        >>> MLPClassifier(5, (4,), 3)(torch.zeros(2, 5)).shape
        torch.Size([2, 3])
    """

    def __init__(
        self,
        input_dim: int,
        hidden: Sequence[int],
        n_classes: int,
        *,
        dropout: float = 0.0,
        use_bn: bool = False,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        size = input_dim
        for width in hidden:
            layers += [nn.Linear(size, width), nn.ReLU()]
            if use_bn:
                layers.append(nn.BatchNorm1d(width))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            size = width
        layers.append(nn.Linear(size, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)  # type: ignore[no-any-return]


class SharedEncoder(nn.Module):
    """Map a modality embedding into the modality-invariant space (IF-MMIN's ``S``).

    Two Linear + LeakyReLU(0.01) layers, one network shared by every modality (the default
    variant of IF-MMIN's stage-1 ``utt_shared`` model, ZhuoYulang/IF-MMIN). Applied to the last
    axis.

    Args:
        size: embedding size (in = out).

    Shape:
        x: (..., size). Output: (..., size).

    Example:
        >>> SharedEncoder(4)(torch.zeros(2, 3, 4)).shape
        torch.Size([2, 3, 4])
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(size, size), nn.LeakyReLU(0.01), nn.Linear(size, size), nn.LeakyReLU(0.01)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)  # type: ignore[no-any-return]


def _mlp(sizes: Sequence[int], act: type[nn.Module]) -> nn.Sequential:
    """Linear layers between consecutive ``sizes``, ``act`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


class ResidualAE(nn.Module):
    """Cascade residual autoencoder: MMIN's CRA and IF-MMIN's IF-IM (upstream ``ResidualAE``).

    Block k has an encoder ``Enc_k`` (Linear + LeakyReLU down to the latent size, no activation on
    the last layer) and a decoder ``Dec_k`` (Linear + ReLU back up). A transition MLP maps the final
    state to the imagined full representation. Recurrences (``h`` input, ``H`` condition):

    * ``mmin``: in_1 = h, in_k = in_{k-1} + o_{k-1}; recon = T(in_n + o_n).
    * ``ifim`` (IF-MMIN HEAD, matches the paper text): o_0 = h, z_k = Enc_k(o_{k-1} + H);
      recon = T(o_n).
    * ``ifim_2022`` (the original IF-MMIN release, blocks not chained): in_k = h + k H;
      recon = T(h + n H + o_n).

    Args:
        input_dim: size of h (and of the reconstruction).
        layers: encoder widths down to the latent size ((256, 128, 64) upstream).
        n_blocks: number of blocks (5 upstream).
        recurrence: one of ``mmin``, ``ifim``, ``ifim_2022``.

    Shape:
        h: (B, input_dim); condition: (B, input_dim) (``ifim*`` only).
        Output: recon (B, input_dim), latent (B, n_blocks * layers[-1]) = the concatenated z_k.

    Example:
        >>> ae = ResidualAE(6, (4, 2), n_blocks=3)
        >>> [t.shape for t in ae(torch.zeros(1, 6))]
        [torch.Size([1, 6]), torch.Size([1, 6])]
    """

    def __init__(
        self,
        input_dim: int,
        layers: Sequence[int] = (256, 128, 64),
        *,
        n_blocks: int = 5,
        recurrence: Recurrence = "mmin",
    ) -> None:
        super().__init__()
        down = (input_dim, *layers)
        self.encoders = nn.ModuleList(_mlp(down, nn.LeakyReLU) for _ in range(n_blocks))
        self.decoders = nn.ModuleList(_mlp(down[::-1], nn.ReLU) for _ in range(n_blocks))
        self.transition = _mlp((input_dim, input_dim, input_dim), nn.ReLU)
        self.recurrence = recurrence

    def forward(self, h: Tensor, condition: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if self.recurrence != "mmin" and condition is None:
            raise ValueError(
                f"ResidualAE: recurrence {self.recurrence!r} expected a condition tensor (the "
                "invariant features H), got None; pass condition= or use recurrence='mmin'."
            )
        cond = condition if condition is not None else torch.zeros_like(h)
        latents = []
        state = h
        out = torch.zeros_like(h)
        for k, (enc, dec) in enumerate(zip(self.encoders, self.decoders, strict=True), start=1):
            if self.recurrence == "mmin":
                state = state + out if k > 1 else h
                block_in = state
            elif self.recurrence == "ifim":
                block_in = (h if k == 1 else out) + cond
            else:
                block_in = h + k * cond
            z = enc(block_in)
            out = dec(z)
            latents.append(z)
        if self.recurrence == "mmin":
            final = state + out
        elif self.recurrence == "ifim":
            final = out
        else:
            final = h + len(self.encoders) * cond + out
        return self.transition(final), torch.cat(latents, dim=1)


def cmd(x: Tensor, y: Tensor, *, moments: int = 5) -> Tensor:
    """Central moment discrepancy between two batches of features (Zellinger et al. 2017).

    CMD_K(X, Y) = ||E[X] - E[Y]||_2 + sum_{k=2..K} ||E[(X - E X)^k] - E[(Y - E Y)^k]||_2, with the
    expectations over the batch, per dimension. This is the DSN / MISA / IF-MMIN variant, without
    the 1/|b - a|^k range normalisation of the original paper (as ZhuoYulang/IF-MMIN's code).

    Args:
        x: first batch.
        y: second batch.
        moments: K, the highest central moment (5 in IF-MMIN and NMER).

    Shape:
        x: (B, D); y: (B', D). Output: () scalar.

    Example:
        >>> cmd(torch.tensor([[0.0], [2.0]]), torch.tensor([[1.0], [1.0]]), moments=2)
        tensor(1.)
    """
    if moments < 1:
        raise ValueError(f"cmd: expected moments >= 1, got {moments}; IF-MMIN uses 5.")
    mx, my = x.mean(dim=0), y.mean(dim=0)
    total: Tensor = torch.linalg.vector_norm(mx - my)
    cx, cy = x - mx, y - my
    for k in range(2, moments + 1):
        total = total + torch.linalg.vector_norm(cx.pow(k).mean(dim=0) - cy.pow(k).mean(dim=0))
    return total


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) per element, in closed form (Kingma & Welling 2014).

    KL = -1/2 (1 + log sigma^2 - mu^2 - sigma^2); sum or average it as the loss needs.

    Shape:
        mu, logvar: (B, Z). Output: (B, Z).

    Example:
        >>> gaussian_kl(torch.tensor([[0.0, 1.0]]), torch.zeros(1, 2))
        tensor([[0.0000, 0.5000]])
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)


def kaiming_init_(module: nn.Module) -> nn.Module:
    """Initialise every Linear / Conv weight with Kaiming-normal (fan_in) and zero its bias.

    The upstream ``init_type=kaiming`` default (AIM3-RUC/MMIN and its copies); LSTM, LayerNorm and
    attention in-projections keep PyTorch's defaults. Modifies ``module`` in place and returns it.

    Example:
        >>> float(kaiming_init_(nn.Linear(3, 2)).bias.detach().abs().sum())
        0.0
    """
    for m in module.modules():
        if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module
