"""The one base class of every mmnoise transform, and its config registry.

A transform is an ``nn.Module`` with two override points (torchvision v2's contract):
``make_params`` samples per-example parameters for a severity ``level`` and changes no data;
``apply_transform`` is deterministic given those parameters and calls one ``mmnoise.functional`` kernel.
``forward`` (never overridden) validates the sample, gates each example with probability ``p``,
and returns a NEW dict: the input sample and its tensors are never modified.
"""

from __future__ import annotations

import inspect
import math
import struct
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from mmnoise import rng
from mmnoise.config import TRANSFORMS, encode
from mmnoise.functional._shape import blend
from mmnoise.rng import Key, PerExample, Randomness
from mmnoise.sample import (
    KINDS,
    KINDS_KEY,
    LENGTHS,
    Kind,
    Sample,
    _check_lengths,
    batch_size,
    check_reserved,
    check_tensor,
    compatible_kinds,
    device_check,
    modality_names,
    reads_on_host,
    time_dim,
)

__all__ = [
    "Level",
    "NoiseTransform",
    "Record",
    "as_float32",
    "check_generator",
    "check_level",
    "check_probability",
    "check_range",
    "from_config",
    "lerp",
    "registered_transforms",
]

Level = float | Tensor
Record = dict[str, Any]


def check_probability(value: float, *, who: str, name: str = "p") -> float:
    """Return ``value`` as a float after checking it lies in [0, 1]."""
    if not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(
            f"{who}: expected {name} in [0, 1], got {value!r}; use 0 to disable, 1 to always apply."
        )
    return float(value)


def check_range(
    value: Sequence[float], *, who: str, name: str, lo: float | None = None, hi: float | None = None
) -> tuple[float, float]:
    """Return a ``(weak, strong)`` pair of floats after checking its form and bounds."""
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 2:
        hint = (
            f"; for a fixed value pass {name}=({float(value)}, {float(value)})"
            if isinstance(value, int | float) and not isinstance(value, bool)
            else ""
        )
        raise ValueError(
            f"{who}: expected {name} as a (weak, strong) pair of numbers (the values at level 0 "
            f"and level 1), got {value!r}{hint}."
        )
    pair = (float(value[0]), float(value[1]))
    if not all(math.isfinite(v) for v in pair):
        raise ValueError(
            f"{who}: expected {name} as finite numbers, got {value!r}; a NaN or infinite "
            "setting makes every output non-finite (for no corruption use level 0 or p=0)."
        )
    for v in pair:
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise ValueError(f"{who}: expected {name} values in [{lo}, {hi}], got {value!r}.")
    return pair


def lerp(level: Tensor, value_range: tuple[float, float]) -> Tensor:
    """Map per-example levels in [0, 1] onto a ``(weak, strong)`` range, linearly.

    Example:
        >>> lerp(torch.tensor([0.0, 0.5, 1.0]), (30.0, -10.0))
        tensor([ 30.,  10., -10.])
    """
    weak, strong = value_range
    return weak + (strong - weak) * level


def check_level(level: Level, batch: int, device: torch.device, *, who: str) -> Tensor:
    """Return ``level`` as a (B,) float32 tensor on ``device`` after checking it lies in [0, 1].

    Args:
        level: a float, a 0-d tensor, or a (B,) tensor of per-example severities.
        batch: the batch size B.
        device: where the result lives.
        who: the caller, named in errors.

    Example:
        >>> check_level(0.5, 2, torch.device("cpu"), who="demo")
        tensor([0.5000, 0.5000])
    """
    if isinstance(level, bool) or not isinstance(level, int | float | Tensor):
        raise TypeError(
            f"{who}: expected level as a float or a ({batch},) tensor, got {type(level).__name__}."
        )
    if not isinstance(level, Tensor):  # a number: checked on the host, no tensor reduction
        if not 0.0 <= level <= 1.0:
            raise ValueError(
                f"{who}: expected level in [0, 1], got {level}; map your schedule output into "
                "[0, 1]."
            )
        return torch.full((batch,), as_float32(level), dtype=torch.float32, device=device)
    lv = torch.as_tensor(level, dtype=torch.float32).to(device)
    if lv.ndim == 0:
        lv = lv.expand(batch)
    if lv.shape != (batch,):
        raise ValueError(
            f"{who}: expected level as a float or a ({batch},) tensor (one per example), got "
            f"shape {tuple(lv.shape)}."
        )
    fix = "map your schedule output into [0, 1]."
    device_check(
        ((lv >= 0) & (lv <= 1)).all(),
        f"{who}: expected level in [0, 1] (a NaN or out of range); {fix}",
        on_host=lambda: (
            f"{who}: expected level in [0, 1], got values in [{float(lv.min())}, "
            f"{float(lv.max())}]; {fix}"
        ),
    )
    return lv


def as_float32(value: float) -> float:
    """Return a Python number rounded to float32, the dtype levels are computed in.

    A positive level too small for float32 (``1e-50``) is 0 there; rounding it once, here, makes
    the gate, the parameters, the record and ``replay`` agree that it is an identity.

    Example:
        >>> as_float32(1e-50), as_float32(0.5)
        (0.0, 0.5)
    """
    rounded: float = struct.unpack("f", struct.pack("f", float(value)))[0]
    return rounded


def check_generator(
    generator: Randomness, device: torch.device, *, who: str, batch: int | None = None
) -> None:
    """Check that ``generator`` suits data on ``device`` (and, per example, a batch of ``batch``)."""
    if generator is None:
        return
    if not isinstance(generator, torch.Generator | PerExample | Key):
        raise TypeError(
            f"{who}: expected generator as a torch.Generator, an mmnoise.rng.PerExample, an "
            f"mmnoise.rng.Key or None, got {type(generator).__name__}."
        )
    if rng.per_example(generator) and batch is not None and len(generator) != batch:
        raise ValueError(
            f"{who}: expected one stream per example ({batch}), got a "
            f"{type(generator).__name__} of {len(generator)}; build it from the batch's item "
            "seeds."
        )
    if generator.device.type != device.type:
        raise ValueError(
            f"{who}: the generator is on {generator.device} but the data is on {device}; create it "
            f"with torch.Generator(device={str(device)!r}) (mmnoise.rng.make_generator)."
        )


def _outside_autocast(x: Tensor) -> AbstractContextManager[Any]:
    """Run a kernel outside ``torch.autocast``: it computes in ``x``'s own dtype.

    Autocast would run convolutions (the blurs) in half precision and hand torchaudio's
    ``lfilter`` half tensors it rejects; a transform keeps its input's dtype instead, and the
    kernels already compute in float32 wherever half precision is not enough.
    """
    device = x.device.type
    if torch.is_autocast_enabled(device):
        return torch.autocast(device, enabled=False)
    return nullcontext()


def _as_names(keys: Sequence[str] | str) -> list[str]:
    return [keys] if isinstance(keys, str) else list(keys)


def _changed_mask(x: Tensor, y: Tensor, kind: Kind) -> Tensor:
    """Reduce an elementwise change to (B, T): which steps (frames, tokens, samples) changed."""
    diff = x != y
    if kind == "tokens":
        return diff
    t = time_dim(kind)
    diff = diff.movedim(t, 1)
    return diff.reshape(diff.shape[0], diff.shape[1], -1).any(dim=2)


def owned_entries(before: Sample, after: Sample, owned: Collection[str] = ()) -> frozenset[str]:
    """Return the entries of ``after`` that a container may write into.

    Those already ``owned``, plus every tensor its own children made in place of a caller's
    tensor: one that shares no memory with any tensor of ``before`` (a view of the caller's data
    is never owned).
    """
    if torch.compiler.is_compiling():
        # a compiled graph is functional (inductor plans its own buffers): nothing is written
        # in place, and storage pointers cannot be traced
        return frozenset(owned)
    theirs = {v.untyped_storage().data_ptr() for v in before.values() if isinstance(v, Tensor)}
    mine = set(owned)
    for key, new in after.items():
        if (
            key not in mine
            and isinstance(new, Tensor)
            and isinstance(before.get(key), Tensor)
            and new.untyped_storage().data_ptr() not in theirs
        ):
            mine.add(key)
    return frozenset(mine)


def from_config(config: Mapping[str, Any]) -> NoiseTransform:
    """Rebuild a transform or container from the dict written by ``to_config()``.

    The registry and the codec are :mod:`mmnoise.config`'s (shared with the schedules);
    :func:`mmnoise.config.from_config` rebuilds either kind.

    Example:
        >>> from mmnoise.transforms.features import Gain
        >>> t = from_config(Gain("audio", gain_db=(0.0, -6.0)).to_config())
        >>> type(t).__name__, t.gain_db
        ('Gain', (0.0, -6.0))
    """
    if not isinstance(config, Mapping) or "type" not in config:
        raise ValueError(
            f"from_config: expected a dict with a 'type' key (from to_config()), got {config!r:.80}."
        )
    transform: NoiseTransform = TRANSFORMS.build(config)
    return transform


def registered_transforms() -> dict[str, type[NoiseTransform]]:
    """Return every concrete transform class by name (the registry behind ``from_config``)."""
    return TRANSFORMS.classes()


class NoiseTransform(nn.Module):
    """Base class: validates, gates with ``p``, samples params, applies one kernel, records.

    Subclasses set ``accepts`` (the kinds they handle), ``kernel`` (their
    ``mmnoise.functional`` kernel), optionally ``differentiable``, and implement
    ``make_params``; ``apply_transform`` calls ``kernel(x, **params, **kernel_kwargs())``, with a ``seed``
    parameter turned into the kernel's ``generator`` so that ``apply`` is deterministic given the
    params (exact replay). (``apply`` is not used: it is ``nn.Module.apply``.) Constructor arguments are stored under their own names, which makes
    ``to_config()`` / ``from_config()`` generic.

    Args:
        keys: the sample entries to corrupt (a name or names); None = every entry whose layout
            this transform accepts, or the keys given by a container.
        p: per-example probability of applying the transform.

    Shape:
        Each corrupted entry keeps its shape, dtype and device.
    """

    accepts: ClassVar[frozenset[Kind]] = frozenset()
    differentiable: ClassVar[bool] = False
    kernel: ClassVar[Callable[..., Tensor]]
    #: the kernel takes ``inplace=True``: containers let it write into their own intermediates
    writes_in_place: ClassVar[bool] = False
    _kernel_takes_time_dim: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        TRANSFORMS.register(cls)  # private (_Name) bases are skipped: not constructible
        kernel = cls.__dict__.get("kernel")
        if kernel is not None:
            fn = kernel.__func__ if isinstance(kernel, staticmethod) else kernel
            cls._kernel_takes_time_dim = "time_dim" in inspect.signature(fn).parameters

    def __init__(self, keys: str | Sequence[str] | None = None, *, p: float = 1.0) -> None:
        super().__init__()
        who = type(self).__name__
        if keys is not None and not isinstance(keys, str):
            keys = tuple(keys)
            if not keys or not all(isinstance(k, str) for k in keys):
                raise ValueError(f"{who}: expected keys as a name or a non-empty list of names.")
        self.keys: str | tuple[str, ...] | None = keys
        self.p = check_probability(p, who=who)

    # -- override points -------------------------------------------------------------------
    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        """Sample per-example parameters, each (B, ...), for severities ``level`` (B,)."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_params.")

    def kernel_kwargs(self) -> dict[str, Any]:
        """Return the constant (config) keyword arguments passed to the kernel."""
        return {}

    def apply_transform(
        self,
        x: Tensor,
        params: Mapping[str, Tensor],
        *,
        kind: Kind,
        lengths: Tensor | None,
        inplace: bool = False,
    ) -> Tensor:
        """Apply the kernel with fixed params (deterministic).

        ``x`` is never modified unless ``inplace`` (only passed for ``writes_in_place`` classes,
        on a container's own intermediate).
        """
        kwargs: dict[str, Any] = dict(params)
        if "seed" in kwargs:
            kwargs["generator"] = rng.generator_from_seed(kwargs.pop("seed"), x.device)
        if self._kernel_takes_time_dim:
            kwargs["time_dim"] = time_dim(kind)
        if inplace:
            kwargs["inplace"] = True
        return type(self).kernel(x, **kwargs, **self.kernel_kwargs(), lengths=lengths)

    def draw_gate(
        self, level: Level, batch: int, device: torch.device, generator: Randomness
    ) -> tuple[Tensor, Tensor]:
        """Check ``generator`` and ``level``, then draw the per-example ``p`` gate.

        Every transform and container draws in this order (gate first, then its parameters),
        so a level or ``p`` change never shifts the random stream of what follows.

        Returns:
            The (B,) float32 levels and the (B,) bool gate ``U[0, 1) < p``.
        """
        who = type(self).__name__
        check_generator(generator, device, who=who, batch=batch)
        lv = check_level(level, batch, device, who=who)
        return lv, rng.rand((batch,), generator=generator, device=device) < self.p

    # -- shared helpers for make_params -----------------------------------------------------
    @staticmethod
    def draw_seed(x: Tensor, generator: Randomness) -> Tensor:
        """Draw a noise seed (a CPU int64 tensor) so that ``apply`` can replay the noise field.

        0-d for one generator; (B,), one per example, for a :class:`mmnoise.rng.PerExample`.
        """
        return rng.draw_seed(generator, x.device)

    @staticmethod
    def uniform(x: Tensor, generator: Randomness, *shape: int) -> Tensor:
        """Draw U[0, 1) values shaped (B, *shape) on the data's device."""
        return rng.rand((x.shape[0], *shape), generator=generator, device=x.device)

    # -- the fixed machinery ---------------------------------------------------------------
    def forward(
        self,
        sample: Sample,
        *,
        level: Level = 1.0,
        generator: Randomness = None,
        check_finite: bool = True,
    ) -> Sample:
        """Return a new sample with the transform applied (do not override; see ``run``).

        Args:
            sample: the batch dict (see ``mmnoise.sample``).
            level: severity in [0, 1], a float or a (B,) tensor; 0 is an exact identity.
            generator: the only source of randomness (on the data's device): one
                ``torch.Generator``, an :class:`mmnoise.rng.Key` (a counter-based stream: no
                host read, compiles), or an
                :class:`mmnoise.rng.PerExample` (one per example,
                each example then gets what a batch of one gets from its generator).
            check_finite: reject NaN / Inf inputs (set False to let them pass unchanged).

        Returns:
            A new dict; entries this transform does not touch are the same objects.
        """
        out, _ = self.run(
            sample, level=level, generator=generator, check_finite=check_finite, record=False
        )
        return out

    def replay(self, sample: Sample, record: Record) -> Sample:
        """Re-apply exactly the corruption described by ``record`` (from ``run``) to ``sample``."""
        out, _ = self.run(sample, replay=record, record=False)
        return out

    def resolve_keys(self, sample: Sample, keys: Sequence[str] | None = None) -> list[str]:
        """Return the sample entries this call corrupts, checking that they exist."""
        who = type(self).__name__
        chosen = keys if keys is not None else self.keys
        if chosen is None:
            declared = sample.get(KINDS_KEY, {})
            return [
                n
                for n in modality_names(sample)
                if (declared.get(n) in self.accepts)
                or (n not in declared and compatible_kinds(sample[n]) & self.accepts)
            ]
        names = [chosen] if isinstance(chosen, str) else list(chosen)
        for n in names:
            if n not in sample:
                raise KeyError(
                    f"{who}: modality {n!r} is not in the sample; expected one of its "
                    f"modalities {modality_names(sample)}; fix the spelling of the names given "
                    f"to {who}(...)."
                )
        return names

    def touched_keys(self, sample: Sample, keys: Sequence[str] | str | None = None) -> list[str]:
        """Return the entries a call with these ``keys`` reads and may change (checked once)."""
        return self.resolve_keys(sample, None if keys is None else _as_names(keys))

    def run(
        self,
        sample: Sample,
        *,
        level: Level = 1.0,
        generator: Randomness = None,
        keys: Sequence[str] | None = None,
        check_finite: bool = True,
        replay: Record | None = None,
        record: bool = True,
        owned: Collection[str] = (),
    ) -> tuple[Sample, Record]:
        """Apply the transform and return ``(new_sample, record)``.

        The record holds, per key, the sampled ``params``, the per-example ``applied`` flags and,
        when ``record`` is True, a (B, T) ``mask`` of the steps that changed (B for a whole
        modality); ``run(..., replay=record)`` or ``replay`` reproduces the output exactly. With
        ``record`` True, ``applied`` is exactly "this example's output differs"; without it,
        the gate and level > 0 (no comparison pass).

        ``owned`` names entries the caller made itself in this call (a container's
        intermediates, never a user's tensors): they skip the finite check (their input was
        checked) and a ``writes_in_place`` transform may write into them instead of allocating.
        """
        who = type(self).__name__
        if not isinstance(sample, Mapping):
            raise TypeError(f"{who}: expected the sample as a dict, got {type(sample).__name__}.")
        check_reserved(sample, who=who)
        names = self.resolve_keys(sample, keys)
        if names:
            batch_size(sample, names, who=who)
        out = dict(sample)
        rec: Record = {"type": who, "keys": {}}
        # What the host knows without reading the device: a float level and p decide whether
        # every example is applied (no blend) or none is (the kernel does not run: it can then
        # neither fail nor touch the data, gradients included). Otherwise (a per-example level
        # tensor, 0 < p < 1, a replayed record) the kernel runs on the whole batch and the gate
        # selects rows on the device: no read-back of the gate.
        known_every = known_none = False
        if replay is None and isinstance(level, int | float) and not isinstance(level, bool):
            known_none = self.p <= 0.0 or as_float32(level) <= 0
            known_every = self.p >= 1.0 and not known_none
        for name in names:
            x = sample[name]
            mine = name in owned
            kind = check_tensor(
                x,
                who=who,
                name=name,
                accepts=self.accepts,
                check_finite=check_finite and not mine,
                declared=sample.get(KINDS_KEY, {}).get(name),
            )
            lengths = sample.get(LENGTHS, {}).get(name)
            if lengths is not None:
                lengths = _check_lengths(lengths, x, kind, who=who, name=name)
            if replay is not None:
                entry = replay["keys"][name]
                params, applied = entry["params"], entry["applied"].to(x.device)
            else:
                lv, gate = self.draw_gate(level, x.shape[0], x.device, generator)
                params = self.make_params(x, lv, generator=generator)
                applied = gate & (lv > 0)
            every, none = known_every, known_none
            if not (every or none) and reads_on_host(x.device):
                # on the CPU the count is in host memory: a gate that left every row on (or
                # off) skips the blend (or the kernel)
                count = int(applied.sum())
                every, none = count == x.shape[0], count == 0
            # in place only when nothing needs the input afterwards: no per-example gate blend,
            # no record comparing input and output, no autograd history to keep
            inplace = mine and every and not record and self.writes_in_place and not x.requires_grad
            if none:
                y = x
            else:
                with _outside_autocast(x):
                    y = self.apply_transform(x, params, kind=kind, lengths=lengths, inplace=inplace)
                if not every:
                    y = blend(y, x, applied)
            out[name] = y
            entry_out: Record = {"params": params, "applied": applied}
            for key, value in self.entry_updates(x, params, applied, lengths).items():
                # a new dict per reserved key: the caller's `lengths` / `present` stay as they are
                out[key] = {**out.get(key, {}), name: value}
                entry_out[key] = value
            self.annotate_record(name, entry_out, x, y, lengths)  # sees the gate's `applied`
            if record:
                entry_out["mask"] = mask = _changed_mask(x, y, kind)
                # applied means changed: an example whose draw left it as it was (a level that
                # rounds every span to zero steps, silence at an SNR) is not applied
                entry_out["applied"] = applied & mask.reshape(mask.shape[0], -1).any(dim=1)
            rec["keys"][name] = entry_out
        return out, rec

    def entry_updates(
        self, x: Tensor, params: Mapping[str, Tensor], applied: Tensor, lengths: Tensor | None
    ) -> dict[str, Tensor]:
        """Return what this op writes into reserved entries for a key: ``{"lengths": (B,)}``.

        The one declared hook for ops that change more than the data (``TokenDeletion``
        shortens ``lengths``): ``run`` writes each value under the key's name into a NEW
        ``out[reserved]`` dict and into the record entry. The default writes nothing.
        """
        return {}

    def annotate_record(
        self, name: str, entry: Record, x: Tensor, y: Tensor, lengths: Tensor | None
    ) -> None:
        """Add op-specific facts to the record ``entry`` of key ``name`` (input ``x``, output ``y``).

        The default adds nothing; an op whose result can fall short of its parameters (noise
        read from recordings that are silent) overrides this instead of ``run``. It runs before
        ``run`` narrows ``entry["applied"]`` to the examples that changed, so it sees the gate.
        """

    # -- config ----------------------------------------------------------------------------
    def to_config(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict that ``mmnoise.from_config`` turns back into ``self``."""
        config: dict[str, Any] = {"type": type(self).__name__}
        for name in inspect.signature(type(self).__init__).parameters:
            if name != "self":
                config[name] = encode(getattr(self, name))
        return config

    def extra_repr(self) -> str:
        def simple(v: Any) -> bool:
            return not isinstance(v, dict | list) or (
                isinstance(v, list) and all(not isinstance(i, dict | list) for i in v)
            )

        config = self.to_config()
        return ", ".join(f"{k}={v!r}" for k, v in config.items() if k != "type" and simple(v))


# every kind, for containers and ops that accept anything
ALL_KINDS: frozenset[Kind] = frozenset(KINDS)
