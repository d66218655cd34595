"""Missingness: whole modalities (``DropModalities``, writes ``sample["present"]``) and entries.

The missing protocols of the MER literature, as seeded options (see ``docs/mer-c.md``):

* MMIN's six fixed conditions: ``DropModalities(keys, patterns="mmin")`` (one fixed pattern
  per evaluation condition: ``patterns=[{...}]``);
* the CPM-Nets / GCNet "missing rate" eta: ``DropModalities(keys, missing_rate=(0.0, 0.7))``,
  an exact overall rate over the (example, modality) entries, one modality kept per example;
* random modality missing (CIDer's RMM, MultiBench): ``DropModalities(keys, fraction=...)``;
* temporal missing within a modality (TFR-Net / MMSA): ``FrameDropout`` (features, frames) and
  ``TokenMask`` (tokens);
* feature-level missing within a modality: :class:`FeatureMissing`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import Tensor

from mmnoise import rng
from mmnoise.config import check_range, lerp
from mmnoise.deprecation import renamed_args
from mmnoise.functional import diffusion as D
from mmnoise.functional import missing as M
from mmnoise.levels import check_level
from mmnoise.presence import presence_patterns
from mmnoise.rng import Randomness
from mmnoise.sample import (
    ALL_KINDS,
    KINDS_KEY,
    PRESENT,
    Keys,
    Kind,
    Levels,
    Sample,
    compatible_kinds,
    time_dim,
)
from mmnoise.transforms.base import NoiseTransform
from mmnoise.transforms.nmer import NMERNoise
from mmnoise.transforms.record import Entry, Record, any_applied, new_record

__all__ = ["DropModalities", "FeatureMissing"]


class _StepNoise(NoiseTransform):
    """``DropModalities(fill="noise")``'s fill (MER-C v1's ``nmer_fill``): a DDPM-noised copy.

    The copy is taken at diffusion step ``ceil(level * 100) - 1`` of the 100-step
    ``scaled_linear`` schedule (not NMER's random step). It has no gate of its own: it runs
    wherever its drop does, and its draws (one noise field per modality) are those MER-C's
    frozen files were made with.
    """

    accepts = frozenset({"waveform", "frames", "features"})
    kernel = staticmethod(D.diffusion_noise)

    def __init__(self) -> None:
        super().__init__()
        abar = D.alpha_bar(D.beta_schedule("scaled_linear", 100, beta_start=0.01, beta_end=0.5))
        self._alpha_bars: Tensor
        self.register_buffer("_alpha_bars", abar.float(), persistent=False)

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        step = (torch.ceil(level * 100) - 1).clamp(0, 99).long()
        dtype = x.dtype if x.is_floating_point() else torch.float32  # uint8 frames: as x / 255
        eps = rng.randn(x.shape, generator=generator, device=x.device, dtype=dtype)
        return {"alpha_bar": self._alpha_bars.to(x.device)[step], "eps": eps}

    def apply_transform(
        self, x: Tensor, params: Mapping[str, Tensor], *, kind: Kind, lengths: Tensor | None,
        inplace: bool = False, present: Tensor | None = None,
    ) -> Tensor:  # fmt: skip
        """uint8 frames are noised as ``x / 255`` (float): the drop rounds the copy once."""
        if x.dtype == torch.uint8:
            x, inplace = torch.div(x, 255.0), False
        return super().apply_transform(x, params, kind=kind, lengths=lengths, inplace=inplace,
                                       present=present)  # fmt: skip

    def draw(
        self, sample: Sample, level: Levels, generator: Randomness, keys: Keys = None
    ) -> Record:
        """The noise fields of ``keys``, in turn, with no gate (applied wherever the drop is)."""
        found: dict[str, Entry] = {}
        for name in self.resolve_keys(sample, keys):
            x = sample[name]
            lv = check_level(level, x.shape[0], x.device, who="DropModalities(fill='noise')")
            on = torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
            found[name] = {"params": self.make_params(x, lv, generator=generator), "applied": on}
        return new_record(type(self).__name__, any_applied(sample, found), keys=found)


@renamed_args(ratio="fraction")
class DropModalities(NoiseTransform):
    """Make whole modalities missing per example, and record it in ``sample["present"]``.

    Random mode (``patterns=None``): each modality is dropped with probability
    ``fraction_weak + level * (fraction_strong - fraction_weak)`` (the expected fraction of the
    modalities dropped), keeping at least ``min_present``. A single modality can be dropped
    (``min_present`` defaults to 0 for one key, 1 for more); a ``min_present`` that keeps every
    key while ``fraction`` asks for drops is refused (nothing would ever be dropped).
    Pattern mode: each corrupted example takes one of ``patterns`` uniformly (``"mmin"`` = the six
    MMIN conditions, the upstream training protocol); a single pattern fixes the condition for
    evaluation. A dropped modality becomes ``fill`` (MMIN / IF-MMIN: zeros; frames live in
    [0, 1], so a number fill outside [0, 1] is refused for frames), or, with a
    transform as ``fill``, a corrupted copy of itself: NMER's "incomplete" condition is
    ``fill=NMERNoise(...)`` (:class:`~mmnoise.transforms.nmer.NMERNoise`), for short
    ``fill="nmer"`` (Gaussian) or ``"nmer_impulse"``, noise intensity T = round(100 * level).
    The fill runs at the examples' levels with the drop's own generator, on the modalities it
    accepts (others get zeros: NMER's noise takes no frames, no fill takes tokens); its record
    is the child ``"fill"`` of the drop's record.
    ``fill="noise"`` is the older fixed-step variant (MER-C v1's
    ``nmer_fill``): a DDPM-noised copy at diffusion step ``ceil(level * 100) - 1`` of the
    100-step schedule, not NMER's random step. Entries already missing
    (``present`` False on input) stay exactly as they are, and only the valid steps (before
    ``lengths``) are filled: padding keeps its values. The record's ``mask`` marks the entries
    this call dropped.

    Missing-rate mode (``missing_rate=(weak, strong)``, the CPM-Nets / GCNet protocol): the
    rate ``eta = weak + level * (strong - weak)`` is realised EXACTLY over the batch: of its
    ``B * M`` (example, modality) entries, ``round(mean(eta) * B * M)`` are dropped, and every
    example keeps at least one modality, so the realised rate is at most ``1 - 1/M`` (0.667 for
    three modalities): an eta above it is accepted, as those papers' grids go to 0.7, but capped
    at ``1 - 1/M`` with a ``UserWarning`` stating the realised rate (GCNet's 0.7 really is 2/3;
    a range is interpolated first, then capped). Unlike the
    original generator it has no rejection loop and no rate quantised to 1 % (see
    :func:`mmnoise.functional.missing.sample_presence_exact`). Needs ``p=1``.

    Fixed patterns that cannot apply (``patterns="mmin"`` with fewer than two keys: there is no
    MMIN condition, nothing would ever be dropped) raise a ``UserWarning`` at construction.

    Args:
        keys: the modalities, in order (at least one).
        fraction: (weak, strong) per-modality drop probability in [0, 1] (random mode): the
            expected fraction of the modalities dropped. Formerly ``ratio``.
        min_present: modalities always kept per example (random mode); None: 1, or 0 for a
            single key.
        patterns: None, ``"mmin"``, or a list of {name: present} dicts.
        fill: a value, a transform (the missing modality becomes its output), ``"nmer"``
            / ``"nmer_impulse"`` (``NMERNoise()`` / ``NMERNoise(noise="impulse")``), or
            ``"noise"`` (the fixed-step variant).
        p: per-example probability.
        missing_rate: None, or (weak, strong) exact overall missing rate eta (missing-rate
            mode; exclusive with ``patterns``; both in [0, 1], realised at most 1 - 1/M).

    Shape:
        Any kinds, batch-first; writes ``present[name]`` as (B,) bool.

    Example:
        >>> s = {"a": torch.ones(2, 3, 1), "v": torch.ones(2, 3, 1)}
        >>> out = DropModalities(["a", "v"], patterns=[{"a": True, "v": False}])(s)
        >>> out["present"]["v"], out["v"].sum().item()
        (tensor([False, False]), 0.0)
        >>> eta = DropModalities(["a", "v"], missing_rate=(0.0, 0.5))
        >>> out = eta(s, level=0.5, generator=torch.Generator().manual_seed(0))
        >>> int(sum((~out["present"][n]).sum() for n in ("a", "v")))  # eta 0.25 of 4 entries
        1
        >>> DropModalities(["a"], fraction=(1.0, 1.0))(s)["present"]["a"]  # one modality drops
        tensor([False, False])
    """

    accepts = ALL_KINDS
    kernel = staticmethod(M.drop_modalities)
    writes_in_place = True

    def __init__(
        self,
        keys: Sequence[str],
        *,
        fraction: Sequence[float] = (0.0, 0.5),
        min_present: int | None = None,
        patterns: Literal["mmin"] | Sequence[Mapping[str, bool]] | None = None,
        fill: float | Literal["nmer", "nmer_impulse", "noise"] | NoiseTransform = 0.0,
        p: float = 1.0,
        missing_rate: Sequence[float] | None = None,
    ) -> None:
        who = type(self).__name__
        if keys is None or isinstance(keys, str):
            keys = [keys] if isinstance(keys, str) else []
        super().__init__(list(keys) or None, p=p)
        names = list(keys)
        if not names:
            raise ValueError(f"{who}: expected keys naming at least one modality, got {keys!r}.")
        self.fraction = check_range(fraction, who=who, name="fraction", lo=0.0, hi=1.0)
        if min_present is None:
            min_present = min(1, len(names) - 1)
        if not 0 <= int(min_present) <= len(names):
            raise ValueError(
                f"{who}: expected 0 <= min_present <= {len(names)} (the number of keys), got "
                f"{min_present}."
            )
        self.min_present = int(min_present)
        random_mode = patterns is None and missing_rate is None
        if random_mode and self.min_present >= len(names) and max(self.fraction) > 0:
            raise ValueError(
                f"{who}: min_present={self.min_present} keeps every one of the {len(names)} "
                f"modalities {names}, so fraction={self.fraction} would never drop anything; "
                f"pass min_present={len(names) - 1} or less (0 lets a single modality drop)."
            )
        if patterns == "mmin":
            table = list(presence_patterns(names))
            if not table:
                warnings.warn(
                    f"{who}: patterns='mmin' has no condition for the single modality {names}: "
                    "MMIN's conditions drop some but not all of two or more modalities, so this "
                    "transform never drops anything; pass two or more keys, or patterns=None "
                    "with fraction= for random missing.",
                    UserWarning,
                    stacklevel=2,
                )
        elif patterns is None:
            table = []
        else:
            table = [dict(pt) for pt in patterns]
            for pt in table:
                if set(pt) != set(names):
                    raise ValueError(
                        f"{who}: expected each pattern to name exactly {names}, got {sorted(pt)}."
                    )
            if not table:
                raise ValueError(f"{who}: expected at least one pattern, got an empty list.")
        self.patterns: str | list[dict[str, bool]] | None = (
            patterns if isinstance(patterns, str) or patterns is None else table
        )
        # a buffer: it moves with .to(device), so the per-call lookup copies nothing
        self._table: Tensor
        self.register_buffer(
            "_table",
            torch.tensor([[pt[n] for n in names] for pt in table], dtype=torch.bool),
            persistent=False,
        )
        self.fill: float | str | NoiseTransform
        if isinstance(fill, NoiseTransform) and hasattr(fill, "transforms"):
            raise ValueError(
                f"{who}: expected fill as a single transform, got the container "
                f"{type(fill).__name__}; a dropped modality is filled by one op (e.g. "
                "NMERNoise()), or by a number."
            )
        if isinstance(fill, NoiseTransform) or fill == "noise":
            self.fill = fill
        elif fill in ("nmer", "nmer_impulse"):
            self.fill = NMERNoise(noise="impulse" if fill == "nmer_impulse" else "gaussian")
        elif isinstance(fill, (int, float)) and not isinstance(fill, bool):
            self.fill = float(fill)
        else:
            raise ValueError(
                f"{who}: expected fill as a number, a transform, 'nmer', 'nmer_impulse' or "
                f"'noise', got {fill!r}."
            )
        self._step_noise = _StepNoise() if self.fill == "noise" else None
        self.missing_rate: tuple[float, float] | None = None
        self._rate_cap = 1.0
        if missing_rate is not None:
            cap = 1.0 - 1.0 / len(names)
            rate = check_range(missing_rate, who=who, name="missing_rate", lo=0.0, hi=1.0)
            if max(rate) > cap + 1e-9:
                # the papers' grids go to 0.7 whatever M is, and their generators accept it:
                # one modality is always kept, so what they realise is the cap
                warnings.warn(
                    f"{who}: missing_rate {tuple(rate)} goes above 1 - 1/M = {cap:.4f} for "
                    f"{len(names)} modalities (one is always kept per example); an eta above it "
                    f"is capped: the realised missing rate is {cap:.4f}, as in CPM-Nets / GCNet, "
                    "whose eta = 0.7 for three modalities realises 2/3.",
                    UserWarning,
                    stacklevel=2,
                )
            if len(table):
                raise ValueError(
                    f"{who}: expected either patterns= or missing_rate=, got both; they are two "
                    "different protocols."
                )
            if self.p != 1.0:
                raise ValueError(
                    f"{who}: missing_rate= is exact over the batch and needs p=1.0, got p={p}."
                )
            self.missing_rate = rate
            self._rate_cap = cap

    def touched_keys(self, sample: Sample, keys: Sequence[str] | str | None = None) -> list[str]:
        """Return the modalities this transform drops (its own ``keys``, whatever ``keys``)."""
        return self.resolve_keys(sample)

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        """Draw the (B, M) matrix of modalities to keep (True) for severities ``level``."""
        m = len(self._names)
        if len(self._table):
            pick = rng.randint(
                0, len(self._table), (x.shape[0],), generator=generator, device=x.device
            )
            keep = self._table.to(x.device)[pick]
        elif self.missing_rate is not None:
            eta = lerp(level, self.missing_rate).clamp(max=self._rate_cap)
            keep = M.sample_presence_exact(eta, m, generator=generator)
        else:
            keep = M.sample_presence(
                lerp(level, self.fraction), m, min_present=self.min_present, generator=generator
            )
        return {"keep": keep, "seed": self.draw_seed(x, generator)}

    @property
    def _filler(self) -> NoiseTransform | None:
        """The op whose record is the child ``"fill"`` (None: a number fill draws nothing)."""
        return self.fill if isinstance(self.fill, NoiseTransform) else self._step_noise

    @property
    def _names(self) -> list[str]:
        return [self.keys] if isinstance(self.keys, str) else list(self.keys or [])

    def draw(
        self, sample: Sample, level: Levels, generator: Randomness, keys: Keys = None
    ) -> Record:
        """One draw for all the modalities (which to keep), then the fill's, as a child record."""
        names, ref = self._names, sample[self._names[0]]
        if isinstance(self.fill, float) and not 0.0 <= self.fill <= 1.0:
            frames = [n for n in names if sample[n].ndim == 5]
            if frames:
                raise ValueError(
                    f"{type(self).__name__}: fill={self.fill} is outside [0, 1], where the frames "
                    f"{frames} live; pass a fill in [0, 1] (0.0: black frames), or drop the "
                    "frames with a second DropModalities."
                )
        lv = check_level(level, ref.shape[0], ref.device, who=type(self).__name__)
        gate = self.draw_gate(ref.shape[0], ref.device, generator)
        params = self.make_params(ref, lv, generator=generator)
        found = {n: self.new_entry(level, lv, gate, {"keep": params["keep"][:, i]})
                 for i, n in enumerate(names)}  # fmt: skip
        # one drop decision for all the modalities: every entry has the same applied mask
        record = new_record(type(self).__name__, found[names[0]]["applied"], params=params,
                            keys=found)  # fmt: skip
        fill = self._filler
        # the modalities the fill accepts (NMER's noise: no frames) get it; the others zeros
        kinds = sample.get(KINDS_KEY, {})
        fills = [] if fill is None else [
            n for n in names if (kinds[n] in fill.accepts if n in kinds
                                 else compatible_kinds(sample[n]) & fill.accepts)]  # fmt: skip
        if fill is not None and fills:
            # the fill draws in turn from the drop's own stream, one modality after the other
            g = rng.generator_from_seed(params["seed"], ref.device)
            record["children"]["fill"] = fill.draw(sample, lv, g, fills)
        return record

    def apply_record(
        self, sample: Sample, record: Record, *, owned: frozenset[str] = frozenset(),
        facts: bool = False,
    ) -> Sample:  # fmt: skip
        """Run the fill's record first, then drop: each dropped entry becomes its fill."""
        child = record["children"].get("fill")
        if child is None or self._filler is None:
            return super().apply_record(sample, record, owned=owned, facts=facts)
        noised = self._filler.apply_record(sample, child, facts=facts)
        # the fill's output goes to the kernel as a param of a copy of the entry; the facts the
        # copy gets are then written into ``record`` (only ``run``'s own: ``facts``)
        inner: dict[str, Entry] = {
            n: {**e, "params": {**e["params"], "fill": noised[n]}} if n in child["keys"] else e
            for n, e in record["keys"].items()
        }
        copy: Record = {**record, "keys": inner}
        out = super().apply_record(sample, copy, owned=owned, facts=facts)
        if facts:
            record["applied"] = copy["applied"]
            for n, e in inner.items():
                record["keys"][n] = {**e, "params": record["keys"][n]["params"]}
        return out

    def apply_transform(
        self, x: Tensor, params: Mapping[str, Tensor], *, kind: Kind, lengths: Tensor | None,
        inplace: bool = False, present: Tensor | None = None,
    ) -> Tensor:  # fmt: skip
        """Fill the valid steps of the examples dropped: not kept, and present on input."""
        fill: float | Tensor = params.get("fill", self.fill if isinstance(self.fill, float) else 0.0)
        if kind == "frames" and isinstance(fill, Tensor) and fill.is_floating_point():
            fill = fill.clamp(0.0, 1.0)  # frames live in [0, 1]; so does their noised copy
        return M.drop_modalities(x, present=self._kept(params, present, x), fill=fill,
                                 lengths=lengths, time_dim=time_dim(kind), inplace=inplace)  # fmt: skip

    def entry_updates(
        self, name: str, x: Tensor, y: Tensor, entry: Entry, *, lengths: Tensor | None,
        present: Tensor | None,
    ) -> dict[str, Tensor]:  # fmt: skip
        """The new ``present`` of the modality, and as its ``mask`` the (B,) examples dropped."""
        dropped = ~self._kept(entry["params"], present, x) & entry["applied"].to(x.device)
        after = ~dropped if present is None else present.to(x.device) & ~dropped
        return {PRESENT: after, "mask": dropped}

    @staticmethod
    def _kept(params: Mapping[str, Tensor], present: Tensor | None, x: Tensor) -> Tensor:
        """Where the drop leaves ``x`` as it is: kept, or already missing (never rewritten)."""
        keep = params["keep"].to(x.device)
        return keep if present is None else keep | ~present.to(x.device)

    def to_config(self) -> dict[str, Any]:
        config = super().to_config()
        config["keys"] = self._names
        return config


@renamed_args(rate="fraction")
class FeatureMissing(NoiseTransform):
    """Feature-level random missing within a modality: each valid entry missing with a rate.

    Every (step, feature) entry of the valid steps is replaced by ``fill`` independently with
    probability ``fraction = weak + level * (strong - weak)`` (the expected fraction of the
    valid entries hit) (MultiBench's "random drop" on time
    series; CIDer's random feature missing). Whole steps (temporal missing, TFR-Net / MMSA):
    :class:`mmnoise.transforms.features.FrameDropout`; tokens:
    :class:`mmnoise.transforms.tokens.TokenMask`.

    Args:
        keys: entries to corrupt.
        fraction: (weak, strong) per-entry missing probability in [0, 1] (the expected
            fraction of valid entries missing). Formerly ``rate``.
        fill: value of a missing entry.
        p: per-example probability.

    Shape:
        (B, T, D) features; output keeps shape, dtype and device.

    Example:
        >>> t = FeatureMissing("a", fraction=(0.0, 0.5))
        >>> out = t({"a": torch.ones(4, 50, 20)}, level=1.0, generator=torch.Generator())
        >>> round(1 - out["a"].mean().item(), 1)
        0.5
    """

    accepts = frozenset({"features"})
    differentiable = True
    kernel = staticmethod(M.feature_missing)

    def __init__(
        self,
        keys: str | Sequence[str] | None = None,
        *,
        fraction: Sequence[float] = (0.0, 1.0),
        fill: float = 0.0,
        p: float = 1.0,
    ) -> None:
        super().__init__(keys, p=p)
        self.fraction = check_range(fraction, who=type(self).__name__, name="fraction", lo=0.0,
                                    hi=1.0)  # fmt: skip
        self.fill = float(fill)

    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        return {"fraction": lerp(level, self.fraction), "seed": self.draw_seed(x, generator)}

    def kernel_kwargs(self) -> dict[str, float]:
        return {"fill": self.fill}
