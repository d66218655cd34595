"""The one base class of every mmnoise transform and container, and the record they share.

A call has two phases. ``draw`` takes every random decision (the ``p`` gate, then
``make_params``) from the sample's shapes and returns a :class:`Record`; ``apply_record`` is deterministic
given that record and calls one ``mmnoise.functional`` kernel per entry. ``run`` is the two in a
row and ``replay`` is ``apply_record`` alone, so a record reproduces its call exactly. Containers
override ``draw`` and ``apply_record`` to combine their children's records; nothing else is overridden.
The input sample and its tensors are never modified: every call returns a NEW dict.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from mmnoise import rng
from mmnoise.config import TRANSFORMS, check_probability, constructor_config
from mmnoise.functional._shape import blend
from mmnoise.rng import Randomness
from mmnoise.sample import (
    KINDS_KEY,
    LENGTHS,
    PRESENT,
    RESERVED,
    Keys,
    Kind,
    Levels,
    Sample,
    _check_lengths,
    as_float32,
    batch_size,
    check_finite_entries,
    check_level,
    check_reserved,
    check_tensor,
    reads_on_host,
    select_entries,
    time_dim,
)
from mmnoise.transforms.record import Entry, Record, add_facts, any_applied, new_record

__all__ = ["NoiseTransform"]


def _outside_autocast(x: Tensor) -> AbstractContextManager[Any]:
    """Run a kernel outside ``torch.autocast``: it computes in ``x``'s own dtype.

    Autocast would run convolutions (the blurs) in half precision and hand torchaudio's
    ``lfilter`` half tensors it rejects; a transform keeps its input's dtype instead, and the
    kernels already compute in float32 wherever half precision is not enough.
    """
    device = x.device.type
    return (
        torch.autocast(device, enabled=False)
        if torch.is_autocast_enabled(device)
        else nullcontext()
    )


class NoiseTransform(nn.Module):
    """Base class: validates, gates with ``p``, samples params, applies one kernel, records.

    Subclasses set ``accepts`` (the kinds they handle), ``kernel`` (their
    ``mmnoise.functional`` kernel), optionally ``differentiable``, and implement
    ``make_params`` (shapes, device and dtype of ``x`` only: never its values);
    ``apply_transform`` calls ``kernel(x, **params, **kernel_kwargs())``, with a ``seed``
    parameter turned into the kernel's ``generator``. Constructor arguments are stored under
    their own names, which makes ``to_config()`` / ``from_config()`` generic.

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

    def __init__(self, keys: Keys = None, *, p: float = 1.0) -> None:
        super().__init__()
        who = type(self).__name__
        if keys is not None and not isinstance(keys, str):
            keys = tuple(keys)
            if not keys or not all(isinstance(k, str) for k in keys):
                raise ValueError(f"{who}: expected keys as a name or a non-empty list of names.")
        self.keys: str | tuple[str, ...] | None = keys
        self.p = check_probability(p, who=who)

    # -- what an op defines ----------------------------------------------------------------
    def make_params(self, x: Tensor, level: Tensor, *, generator: Randomness) -> dict[str, Tensor]:
        """Sample per-example parameters, each (B, ...), for severities ``level`` (B,)."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_params.")

    @staticmethod
    def draw_seed(x: Tensor, generator: Randomness) -> Tensor:
        """Draw the seed ``apply_transform`` turns into the kernel's generator (exact replay)."""
        return rng.draw_seed(generator, x.device)

    @staticmethod
    def uniform(x: Tensor, generator: Randomness, *shape: int) -> Tensor:
        """Draw U[0, 1) values shaped (B, *shape) on the data's device."""
        return rng.rand((x.shape[0], *shape), generator=generator, device=x.device)

    def kernel_kwargs(self) -> dict[str, Any]:
        """Return the constant (config) keyword arguments passed to the kernel."""
        return {}

    def apply_transform(
        self, x: Tensor, params: Mapping[str, Tensor], *, kind: Kind, lengths: Tensor | None,
        inplace: bool = False, present: Tensor | None = None,
    ) -> Tensor:  # fmt: skip
        """Apply the kernel with fixed params (deterministic; ``x`` is written only if ``inplace``).

        ``lengths`` and ``present`` are the sample's reserved entries for ``x`` (or None). The
        kernel gets ``params`` (a ``seed`` rebuilt as the generator it seeds),
        ``kernel_kwargs()``, ``time_dim`` where it takes one, and ``lengths``.
        """
        kwargs: dict[str, Any] = dict(params)
        if "seed" in kwargs:
            kwargs["generator"] = rng.kernel_generator(kwargs.pop("seed"), x.device)
        if self._kernel_takes_time_dim:
            kwargs["time_dim"] = time_dim(kind)
        if inplace:
            kwargs["inplace"] = True
        return type(self).kernel(x, **kwargs, **self.kernel_kwargs(), lengths=lengths)

    def entry_updates(
        self, name: str, x: Tensor, y: Tensor, entry: Entry, *, lengths: Tensor | None,
        present: Tensor | None,
    ) -> dict[str, Tensor]:  # fmt: skip
        """The one hook for what an op reports beyond its output ``y`` for entry ``name``.

        Each value goes into the record's entry; one named like a reserved entry
        (``"lengths"``, ``"present"``) is also written, under ``name``, into a NEW
        ``out[reserved]`` dict (the caller's stays as it was). ``TokenDeletion`` returns the
        shortened lengths, ``DropModalities`` the new presence. The default reports nothing.
        """
        return {}

    # -- the two phases --------------------------------------------------------------------
    def draw_gate(
        self, level: Levels, batch: int, device: torch.device, generator: Randomness
    ) -> tuple[Tensor, Tensor]:
        """Check ``generator`` and ``level``; return (B,) float32 levels and the bool gate U < p.

        Every transform and container draws its gate first, then its parameters, so a level or
        ``p`` change never shifts the random stream of what follows.
        """
        who = type(self).__name__
        rng.check_generator(generator, device, who=who, batch=batch)
        lv = check_level(level, batch, device, who=who)
        return lv, rng.rand((batch,), generator=generator, device=device) < self.p

    def draw(
        self, sample: Sample, level: Levels, generator: Randomness, keys: Keys = None
    ) -> Record:
        """Take every random decision of a call on ``sample`` (its shapes only) as a record."""
        entries: dict[str, Entry] = {}
        for name in self.resolve_keys(sample, keys):
            x = sample[name]
            lv, gate = self.draw_gate(level, x.shape[0], x.device, generator)
            params = self.make_params(x, lv, generator=generator)
            entries[name] = self.new_entry(level, lv, gate, params)
        return new_record(type(self).__name__, any_applied(sample, entries), keys=entries)

    def new_entry(
        self, level: Levels, lv: Tensor, gate: Tensor, params: dict[str, Tensor]
    ) -> Entry:
        """An :class:`Entry` applied where the ``gate`` passed and the level ``lv`` is above 0.

        What the host knows from a float ``level`` and ``p`` is kept in ``known``: the call then
        skips the blend (all) or the kernel (none) with no read-back, and a float level above 0
        leaves the gate as the applied mask (one op fewer).
        """
        if not isinstance(level, int | float):
            return {"params": params, "applied": gate & (lv > 0)}
        positive = as_float32(level) > 0
        entry: Entry = {"params": params, "applied": gate if positive else gate & (lv > 0)}
        if self.p <= 0.0 or not positive:
            entry["known"] = "none"
        elif self.p >= 1.0:
            entry["known"] = "all"
        return entry

    def apply_record(
        self, sample: Sample, record: Record, *, owned: frozenset[str] = frozenset(),
        facts: bool = False,
    ) -> Sample:  # fmt: skip
        """Apply ``record`` to ``sample`` (deterministic); ``facts`` adds masks to the record.

        ``owned`` names entries a container made itself in this call: a ``writes_in_place``
        op may write into them when nothing needs the input afterwards.
        """
        who = type(self).__name__
        out = dict(sample)
        for name, entry in record["keys"].items():
            x = sample[name]
            kind = check_tensor(x, who=who, name=name, accepts=self.accepts, check_finite=False,
                                declared=sample.get(KINDS_KEY, {}).get(name))  # fmt: skip
            lengths = sample.get(LENGTHS, {}).get(name)
            if lengths is not None:
                lengths = _check_lengths(lengths, x, kind, who=who, name=name)
            present = sample.get(PRESENT, {}).get(name)
            applied, known = entry["applied"].to(x.device), entry.get("known")
            if known is None and reads_on_host(x.device):  # a count in host memory: free
                count = int(applied.sum())
                known = "all" if count == x.shape[0] else "none" if count == 0 else None
            if known == "none":
                y = x
            else:
                inplace = (name in owned and known == "all" and not facts
                           and self.writes_in_place and not x.requires_grad)  # fmt: skip
                with _outside_autocast(x):
                    y = self.apply_transform(x, entry["params"], kind=kind, lengths=lengths,
                                             inplace=inplace, present=present)  # fmt: skip
                y = y if known == "all" else blend(y, x, applied)
            out[name] = y
            updates = self.entry_updates(name, x, y, entry, lengths=lengths, present=present)
            for key, value in updates.items():
                entry[key] = value  # type: ignore[literal-required]
                if key in RESERVED:  # a new dict: the caller's `lengths` / `present` stay
                    out[key] = {**out.get(key, {}), name: value}
            if facts:
                add_facts(entry, x, y, kind)
        if facts:
            record["applied"] = any_applied(sample, record["keys"])
        return out

    # -- the calls -------------------------------------------------------------------------
    def run(
        self, sample: Sample, *, level: Levels = 1.0, generator: Randomness = None,
        check_finite: bool = True, record: bool = True,
    ) -> tuple[Sample, Record]:  # fmt: skip
        """Apply the transform and return ``(new_sample, record)``; ``replay(sample, record)``
        reproduces the output exactly. With ``record`` True every entry gets its ``mask`` of
        changed steps and ``applied`` is exactly "this example's output differs"; without it,
        the gate and level > 0 (no comparison pass)."""
        self._check_call(sample, check_finite)
        rec = self.draw(sample, level, generator)
        return self.apply_record(sample, rec, facts=record), rec

    def forward(
        self, sample: Sample, *, level: Levels = 1.0, generator: Randomness = None,
        check_finite: bool = True,
    ) -> Sample:  # fmt: skip
        """Return a new sample with the transform applied.

        Args:
            sample: the batch dict (see ``mmnoise.sample``).
            level: severity in [0, 1], a float or a (B,) tensor; 0 is an exact identity.
            generator: the only source of randomness (on the data's device): a
                ``torch.Generator``, an :class:`mmnoise.rng.Key` (counter-based: no host read,
                compiles) or an :class:`mmnoise.rng.PerExample` (one per example).
            check_finite: reject NaN / Inf inputs (set False to let them pass unchanged).

        Returns:
            A new dict; entries this transform does not touch are the same objects.
        """
        return self.run(sample, level=level, generator=generator, check_finite=check_finite,
                        record=False)[0]  # fmt: skip

    def replay(self, sample: Sample, record: Record, *, check_finite: bool = True) -> Sample:
        """Re-apply exactly the corruption described by ``record`` (from ``run``) to ``sample``."""
        self._check_call(sample, check_finite)
        return self.apply_record(sample, record)

    def _check_call(self, sample: Sample, check_finite: bool) -> None:
        who = type(self).__name__
        if not isinstance(sample, Mapping):
            raise TypeError(f"{who}: expected the sample as a dict, got {type(sample).__name__}.")
        check_reserved(sample, who=who)
        names = self.touched_keys(sample)
        if names:
            batch_size(sample, names, who=who)
        if check_finite:  # every entry the call touches, once, before anything is drawn
            check_finite_entries(sample, names, who=who)

    # -- keys ------------------------------------------------------------------------------
    def resolve_keys(self, sample: Sample, keys: Keys = None) -> list[str]:
        """Return the sample entries a call corrupts (``keys`` or this op's own), checked."""
        chosen = keys if keys is not None else self.keys
        return select_entries(sample, chosen, self.accepts, who=type(self).__name__)

    def touched_keys(self, sample: Sample, keys: Keys = None) -> list[str]:
        """Return the entries a call with these ``keys`` reads and may change."""
        return self.resolve_keys(sample, keys)

    # -- config ----------------------------------------------------------------------------
    def to_config(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict that ``mmnoise.from_config`` turns back into ``self``."""
        return constructor_config(self)

    def extra_repr(self) -> str:
        def simple(v: Any) -> bool:
            return not isinstance(v, dict | list) or (
                isinstance(v, list) and all(not isinstance(i, dict | list) for i in v)
            )

        config = self.to_config()
        return ", ".join(f"{k}={v!r}" for k, v in config.items() if k != "type" and simple(v))
