"""NMER's noise scheduler against a direct computation of the upstream formula.

Upstream (``NoiseScheduler`` in ``Domiss.py`` of the NMER authors' WooyoohL/Noise-robust_MER):
betas = linspace(sqrt(0.01), sqrt(0.5), T) ** 2, abar = cumprod(1 - betas), t ~ U{0..T-1} once
per batch, x̃ = sqrt(abar_t) x + sqrt(1 - abar_t) eps, eps Gaussian or sign(N(0, 1)) kept where
U > 0.7. The reference values below are computed here from that formula, not by the library.
"""

from __future__ import annotations

import pytest
import torch

from mmnoise.functional import nmer_alpha_bar
from mmnoise.transforms import DropModalities, NMERNoise
from mmnoise.transforms.nmer import intensity_level

INTENSITIES = (20, 40, 60, 80, 100)


def upstream_alpha_bar(big_t: int) -> torch.Tensor:
    """The authors' schedule, written out: (T,) abar_t for t = 0 .. T - 1."""
    betas = torch.linspace(0.01**0.5, 0.5**0.5, big_t, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0)


def _match_steps(abar: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Index of the upstream step each recorded abar equals (fails if one matches none)."""
    diff = (abar.double()[:, None] - table[None, :]).abs()
    best = diff.argmin(dim=1)
    assert bool((diff.min(dim=1).values < 1e-6).all()), "abar outside the upstream schedule"
    return best


@pytest.mark.parametrize("big_t", INTENSITIES)
def test_alpha_bar_kernel_equals_the_upstream_schedule(big_t: int) -> None:
    steps = torch.arange(big_t)
    ours = nmer_alpha_bar(torch.full((big_t,), big_t), steps, max_steps=100)
    torch.testing.assert_close(ours, upstream_alpha_bar(big_t), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("big_t", INTENSITIES)
def test_gaussian_statistics_match_the_upstream_formula(big_t: int) -> None:
    table = upstream_alpha_bar(big_t)
    b, length = 6000, 32
    t = NMERNoise("a", per_example=True)
    x = torch.ones(b, length, 1)
    out, rec = t.run(
        {"a": x}, level=intensity_level(big_t), generator=torch.Generator().manual_seed(big_t)
    )
    abar = rec["keys"]["a"]["params"]["alpha_bar"]
    steps = _match_steps(abar, table)
    # t ~ U{0..T-1}: every step drawn, counts within 5 sigma of b / T
    counts = torch.bincount(steps, minlength=big_t).double()
    expect = b / big_t
    assert bool(((counts - expect).abs() < 5 * expect**0.5).all())
    # the signal kept: mean over examples of sqrt(abar_t) vs E_t[sqrt(abar_t)] of the formula
    scale = out["a"].mean(dim=(1, 2))  # sqrt(abar_t) + N(0, (1 - abar_t) / L)
    assert abs(float(scale.mean()) - float(table.sqrt().mean())) < 0.02
    # the variance of the result around the kept signal: E_t[1 - abar_t]
    resid = out["a"] - abar.sqrt()[:, None, None]
    assert abs(float(resid.pow(2).mean()) - float((1 - table).mean())) < 0.02


@pytest.mark.parametrize("big_t", INTENSITIES)
def test_impulse_hits_thirty_percent_with_amplitude_sqrt_one_minus_abar(big_t: int) -> None:
    table = upstream_alpha_bar(big_t)
    t = NMERNoise("a", noise="impulse", per_example=True)
    x = torch.zeros(400, 50, 4)
    out, rec = t.run(
        {"a": x}, level=intensity_level(big_t), generator=torch.Generator().manual_seed(1)
    )
    y = out["a"]
    abar = rec["keys"]["a"]["params"]["alpha_bar"].double()
    _match_steps(abar, table)
    hit = y != 0
    # upstream keeps eps where U > occur_freq = 0.7
    assert abs(float(hit.double().mean()) - 0.3) < 0.01
    amp = (1 - abar).sqrt()[:, None, None].expand_as(y)
    torch.testing.assert_close(y[hit].abs().double(), amp[hit], rtol=1e-5, atol=1e-6)
    # signs balanced
    assert abs(float(torch.sign(y[hit]).mean())) < 0.02


def test_one_step_per_batch_as_upstream_and_per_modality_draws() -> None:
    x = torch.randn(64, 10, 3)
    gen = torch.Generator().manual_seed(0)
    _, rec = NMERNoise("a").run({"a": x}, level=1.0, generator=gen)
    abar = rec["keys"]["a"]["params"]["alpha_bar"]
    assert bool((abar == abar[0]).all())  # one t for the whole batch
    # over many batches the shared step is uniform on 0..99
    table = upstream_alpha_bar(100)
    steps = []
    for seed in range(300):
        _, r = NMERNoise("a").run(
            {"a": x[:2]}, level=1.0, generator=torch.Generator().manual_seed(seed)
        )
        steps.append(int(_match_steps(r["keys"]["a"]["params"]["alpha_bar"][:1], table)))
    assert min(steps) < 10 and max(steps) > 89
    assert abs(sum(steps) / len(steps) - 49.5) < 6  # mean of U{0..99}, 300 draws: sd 1.7


def test_level_maps_to_intensity_and_fixed_intensity() -> None:
    assert intensity_level(60) == pytest.approx(0.6)
    x = torch.zeros(2000, 1, 1)
    g = torch.Generator().manual_seed(3)
    _, rec = NMERNoise("a", per_example=True).run({"a": x}, level=0.2, generator=g)
    steps = _match_steps(rec["keys"]["a"]["params"]["alpha_bar"], upstream_alpha_bar(20))
    assert int(steps.max()) == 19  # T = 20: steps 0..19 only (T = 100 would reach 99)
    fixed = NMERNoise("a", intensity=(40, 40), per_example=True)
    _, rec = fixed.run({"a": x}, level=0.01, generator=g)
    _match_steps(rec["keys"]["a"]["params"]["alpha_bar"], upstream_alpha_bar(40))
    with pytest.raises(ValueError, match="strong intensity"):
        NMERNoise(intensity=(0, 0))
    with pytest.raises(ValueError, match="intensity_level"):
        intensity_level(120)


def test_fill_noises_only_the_missing_modality_and_is_frozen_by_seed() -> None:
    s = {"a": torch.randn(8, 5, 3), "v": torch.randn(8, 4, 2)}
    drop = DropModalities(["a", "v"], patterns=[{"a": True, "v": False}], fill="nmer_impulse")
    out = drop(s, level=1.0, generator=torch.Generator().manual_seed(5))
    again = drop(s, level=1.0, generator=torch.Generator().manual_seed(5))
    assert torch.equal(out["a"], s["a"]) and torch.equal(out["v"], again["v"])
    assert not torch.equal(out["v"], s["v"]) and bool(out["v"].abs().sum() > 0)
    assert out["present"]["v"].tolist() == [False] * 8
    assert isinstance(drop.fill, NMERNoise) and drop.fill.noise == "impulse"
    # round trip through the config
    from mmnoise.transforms import from_config

    rebuilt = from_config(drop.to_config())
    assert torch.equal(
        rebuilt(s, level=1.0, generator=torch.Generator().manual_seed(5))["v"], out["v"]
    )
    with pytest.raises(ValueError, match="fill"):
        DropModalities(["a"], fill="gaussian")  # type: ignore[arg-type]


def test_robustness_grid_nmer_condition_runs_the_fill_at_the_cell_level() -> None:
    from mmnoise.robustness import RobustnessGrid

    def unchanged(modalities: object) -> object:
        return lambda s, *, level, generator: dict(s)

    g = torch.Generator().manual_seed(0)
    batch = {"a": torch.randn(6, 4, 2, generator=g), "v": torch.randn(6, 3, 2, generator=g)}
    batch["label"] = torch.tensor([0, 1, 0, 1, 0, 1])
    grid = RobustnessGrid(
        modalities=("a", "v"),
        families={"none": unchanged},
        levels=(0.0, 0.2, 1.0),
        patterns=[{"a": True, "v": False}],
        num_classes=2,
        missing_fill="nmer",
    )
    clean = grid.corrupt(batch, family="none", level=0.0, pattern={"a": True, "v": False})
    assert torch.equal(clean["v"], batch["v"])  # intensity 0: the clean input
    weak = grid.corrupt(batch, family="none", level=0.2, pattern={"a": True, "v": False})
    again = grid.corrupt(batch, family="none", level=0.2, pattern={"a": True, "v": False})
    assert torch.equal(weak["v"], again["v"]) and torch.equal(weak["a"], batch["a"])
    assert not torch.equal(weak["v"], batch["v"]) and bool(weak["v"].abs().sum() > 0)
    assert weak["present"]["v"].tolist() == [False] * 6
    seen: list[torch.Tensor] = []

    def predict(s: dict[str, torch.Tensor]) -> torch.Tensor:
        seen.append(s["v"])
        return torch.zeros(s["v"].shape[0], dtype=torch.long)

    grid.evaluate(predict, [batch])
    assert torch.equal(seen[1], weak["v"])  # evaluate sees exactly the frozen corruption
