"""The one base class of every mmnoise transform and container.

A call has two phases. ``draw`` takes every random decision (the ``p`` gate, then
``make_params``) from the sample's shapes and returns a :class:`Record`; ``apply_record`` is
deterministic given that record and calls one ``mmnoise.functional`` kernel per entry. ``run`` is
the two in a row and ``replay`` is ``apply_record`` alone, so a record reproduces its call
exactly. Containers override ``draw`` and ``apply_record`` to combine their children's records as
child records; nothing else is overridden. Neither the input sample, its tensors nor a record
passed to ``replay`` is ever modified: every call returns a NEW dict. What lets a call skip work
lives in :mod:`mmnoise.transforms.hints`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from mmnoise import rng
from mmnoise import sample as S
from mmnoise.config import TRANSFORMS, check_probability, constructor_config
from mmnoise.functional._shape import blend
from mmnoise.levels import check_level
from mmnoise.rng import Randomness
from mmnoise.transforms import hints
from mmnoise.transforms.record import Entry, Record, add_facts, any_applied, new_record

__all__ = ["NoiseTransform"]


def _check_op(cls: type[NoiseTransform]) -> None:
    """Refuse, at class definition, an op the base class could not call; say what to add.

    An op is a public subclass that draws through ``make_params`` (containers, which override
    ``draw`` and nothing of it, are not). It needs ``accepts``, ``make_params`` and, unless it
    overrides ``apply_transform``, a ``kernel`` taking what the base passes: ``lengths=``,
    ``generator=`` when ``make_params`` draws a seed, ``inplace=`` when it ``writes_in_place``.
    """
    who, base = cls.__name__, NoiseTransform
    if who.startswith("_"):  # private bases: not constructible
        return
    if not cls.accepts:
        raise TypeError(f"{who}: set the class attribute accepts = frozenset({{...}}), the kinds it "
                        "corrupts ('waveform', 'frames', 'tokens', 'features').")  # fmt: skip
    own_params = cls.make_params is not base.make_params
    if cls.draw is base.draw and not own_params:
        raise TypeError(f"{who}: define make_params(self, x, level, *, generator) returning its "
                        "per-example parameters, each (B, ...), as a dict of tensors.")  # fmt: skip
    if not own_params or cls.apply_transform is not base.apply_transform:
        return
    kernel = getattr(cls, "kernel", None)
    if kernel is None:
        raise TypeError(f"{who}: set the class attribute kernel = staticmethod(fn), its "
                        "mmnoise.functional kernel, called as fn(x, **params, lengths=...).")  # fmt: skip
    takes = inspect.signature(kernel).parameters
    code = cls.make_params.__code__
    need = ["lengths"] + ["generator"] * ("draw_seed" in code.co_names or "seed" in code.co_consts)
    lacks = [n for n in need + ["inplace"] * cls.writes_in_place if n not in takes]
    if lacks and not any(p.kind is p.VAR_KEYWORD for p in takes.values()):
        args = ", ".join(f"{n}=None" if n != "inplace" else "inplace=False" for n in lacks)
        raise TypeError(f"{who}: its kernel {kernel.__name__} must take the keywords the base "
                        f"passes: add {args} to its signature.")  # fmt: skip


class NoiseTransform(nn.Module):
    """Base class: validates, gates with ``p``, samples params, applies one kernel, records.

    Subclasses set ``accepts`` (the kinds they handle), ``kernel`` (their
    ``mmnoise.functional`` kernel), optionally ``differentiable``, and implement
    ``make_params`` (shapes, device and dtype of ``x`` only: never its values);
    ``apply_transform`` calls ``kernel(x, **params, **kernel_kwargs(), lengths=lengths)``, with a
    ``seed`` parameter turned into the kernel's ``generator``. A subclass missing one of these
    fails at its definition with what to add. Constructor arguments are stored under their own
    names, which makes ``to_config()`` / ``from_config()`` generic.

    Args:
        keys: the sample entries to corrupt (a name or names); None = every entry whose layout
            this transform accepts, or the keys given by a container.
        p: per-example probability of applying the transform.

    Shape:
        Each corrupted entry keeps its shape, dtype and device.
    """

    accepts: ClassVar[frozenset[S.Kind]] = frozenset()
    differentiable: ClassVar[bool] = False
    kernel: ClassVar[Callable[..., Tensor]]
    #: the kernel takes ``inplace=True`` (see :func:`mmnoise.transforms.hints.in_place`)
    writes_in_place: ClassVar[bool] = False
    _kernel_takes_time_dim: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _check_op(cls)
        kernel = getattr(cls, "kernel", None)  # a staticmethod read on the class: the function
        cls._kernel_takes_time_dim = kernel is not None and "time_dim" in inspect.signature(
            kernel).parameters
        TRANSFORMS.register(cls)  # private (_Name) bases are skipped: not constructible

    def __init__(self, keys: S.Keys = None, *, p: float = 1.0) -> None:
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

    def apply_transform(self, x: Tensor, params: Mapping[str, Tensor], *, kind: S.Kind,
                        lengths: Tensor | None, inplace: bool = False,
                        present: Tensor | None = None) -> Tensor:  # fmt: skip
        """Apply the kernel with fixed params (deterministic; ``x`` is written only if ``inplace``).

        ``lengths`` and ``present`` are the sample's reserved entries for ``x`` (or None). The
        kernel gets ``params`` (a ``seed`` rebuilt as the generator it seeds),
        ``kernel_kwargs()``, ``time_dim`` where it takes one, and ``lengths``.
        """
        kwargs: dict[str, Any] = dict(params)
        if "seed" in kwargs:
            kwargs["generator"] = rng.kernel_generator(kwargs.pop("seed"), x.device)
        if self._kernel_takes_time_dim:
            kwargs["time_dim"] = S.time_dim(kind)
        if inplace:
            kwargs["inplace"] = True
        return type(self).kernel(x, **kwargs, **self.kernel_kwargs(), lengths=lengths)

    def entry_updates(self, name: str, x: Tensor, y: Tensor, entry: Entry, *,
                      lengths: Tensor | None, present: Tensor | None) -> Mapping[str, Tensor]:  # fmt: skip
        """The one hook for what an op reports beyond its output ``y`` for entry ``name``.

        A reserved entry (``"lengths"``, ``"present"``) is written, under ``name``, into a NEW
        ``out[reserved]`` dict (the caller's stays as it was); with ``run(record=True)`` every
        report also goes into the record's entry. ``TokenDeletion`` returns the shortened
        lengths, ``DropModalities`` the new presence. Each name must be a field of
        :class:`~mmnoise.transforms.record.Facts`. The default reports nothing.
        """
        return {}

    # -- the two phases --------------------------------------------------------------------
    def draw_gate(self, batch: int, device: torch.device, generator: Randomness) -> Tensor:
        """Check ``generator``; draw the (B,) bool gate U < p: the one gate of every call.

        Every transform and container draws its gate first, then its parameters, so a level or
        ``p`` change never shifts the random stream of what follows.
        """
        rng.check_generator(generator, device, who=type(self).__name__, batch=batch)
        return rng.rand((batch,), generator=generator, device=device) < self.p

    def draw(self, sample: S.Sample, level: S.Levels, generator: Randomness,
             keys: S.Keys = None) -> Record:  # fmt: skip
        """Take every random decision of a call on ``sample`` (its shapes only) as a record."""
        found: dict[str, Entry] = {}
        for name in self.resolve_keys(sample, keys):
            x = sample[name]
            lv = check_level(level, x.shape[0], x.device, who=type(self).__name__)
            gate = self.draw_gate(x.shape[0], x.device, generator)
            found[name] = self.new_entry(level, lv, gate, self.make_params(x, lv, generator=generator))
        return new_record(type(self).__name__, any_applied(sample, found), keys=found)

    def new_entry(self, level: S.Levels, lv: Tensor, gate: Tensor,
                  params: dict[str, Tensor]) -> Entry:  # fmt: skip
        """An :class:`Entry` applied where the ``gate`` passed and the level ``lv`` is above 0."""
        known = hints.known(level, self.p)
        positive = known != "none" and isinstance(level, (int, float))  # then lv > 0 everywhere
        entry: Entry = {"params": params, "applied": gate if positive else gate & (lv > 0)}
        if known is not None:
            entry["known"] = known
        return entry

    def apply_record(self, sample: S.Sample, record: Record, *, owned: frozenset[str] = frozenset(),
                     facts: bool = False) -> S.Sample:  # fmt: skip
        """Apply ``record`` to ``sample`` (deterministic); neither is modified without ``facts``.

        ``facts`` (``run``'s own record only) writes what happened into ``record``: each entry's
        ``mask``, the op's reports and ``applied`` narrowed to the examples that changed.
        ``owned``: see :func:`mmnoise.transforms.hints.owned_entries`.
        """
        who, out = type(self).__name__, dict(sample)
        for name, entry in record["keys"].items():
            x = sample[name]
            kind = self._check_entry(sample, name)
            lengths = sample.get(S.LENGTHS, {}).get(name)
            if lengths is not None:
                lengths = S.check_lengths_bounds(lengths, x, kind, who=who, name=name)
            present = sample.get(S.PRESENT, {}).get(name)
            applied = entry["applied"]
            applied = applied if applied.device == x.device else applied.to(x.device)
            known = hints.resolve_known(entry.get("known"), applied, x)
            y = x
            if known != "none":
                inplace = hints.in_place(self.writes_in_place, name in owned, known, facts, x)
                with hints.outside_autocast(x):
                    y = self.apply_transform(x, entry["params"], kind=kind, lengths=lengths,
                                             inplace=inplace, present=present)  # fmt: skip
                y = y if known == "all" else blend(y, x, applied)
            out[name] = y
            reports = self.entry_updates(name, x, y, entry, lengths=lengths, present=present)
            for key in S.RESERVED:
                if key in reports:  # a new dict: the caller's stays
                    out[key] = {**out.get(key, {}), name: reports[key]}
            if facts:
                add_facts(entry, x, y, kind, reports, who=who)
        if facts:
            record["applied"] = any_applied(sample, record["keys"])
        return out

    # -- the calls -------------------------------------------------------------------------
    def run(self, sample: S.Sample, *, level: S.Levels = 1.0, generator: Randomness = None,
            check_finite: bool = True, record: bool = True) -> tuple[S.Sample, Record]:  # fmt: skip
        """Apply the transform and return ``(new_sample, record)``; ``replay(sample, record)``
        reproduces the output exactly. With ``record`` True every entry gets its ``mask`` of
        changed steps and the op's reports, and ``applied`` is exactly "this example's output
        differs"; without it, the draws alone (``applied``: the gate and level > 0)."""
        rec = self._draw_checked(sample, level, generator, check_finite)
        return self.apply_record(sample, rec, facts=record), rec

    def forward(self, sample: S.Sample, *, level: S.Levels = 1.0, generator: Randomness = None,
                check_finite: bool = True) -> S.Sample:  # fmt: skip
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
        return self.apply_record(sample, self._draw_checked(sample, level, generator, check_finite))

    def replay(self, sample: S.Sample, record: Record, *, check_finite: bool = True) -> S.Sample:
        """Re-apply exactly the corruption described by ``record`` (from ``run``) to ``sample``.

        Neither ``sample`` nor ``record`` is modified.
        """
        self._check_call(sample, check_finite)
        return self.apply_record(sample, record)

    def _draw_checked(self, sample: S.Sample, level: S.Levels, generator: Randomness,
                      check_finite: bool) -> Record:  # fmt: skip
        names = self._check_call(sample, check_finite)
        # an op's own entries are the checked ones: handed over, they are not resolved again
        own = type(self).draw is NoiseTransform.draw
        return self.draw(sample, level, generator, names if own else None)

    def _check_call(self, sample: S.Sample, check_finite: bool) -> tuple[str, ...]:
        """Check a call's sample (its layout once, see :mod:`~mmnoise.transforms.hints`; its
        values every time) and return the entries it touches."""
        cls = type(self)
        if type(sample) is not dict and not isinstance(sample, Mapping):
            raise TypeError(f"{cls.__name__}: expected the sample as a dict, got "
                            f"{type(sample).__name__}.")  # fmt: skip
        keys = self.keys  # a list set after construction is not hashable: checked every call
        plain = cls.touched_keys is NoiseTransform.touched_keys and type(keys) in (str, tuple, type(None))
        lay = hints.layout(sample) if plain else None
        names = hints.checked(None if lay is None else (cls, keys, lay),
                              lambda: self._check_layout(sample))  # fmt: skip
        if check_finite:  # every entry the call touches, once, before anything is drawn
            S.check_finite_entries(sample, names, who=cls.__name__)
        return names

    def _check_layout(self, sample: S.Sample) -> tuple[str, ...]:
        who = type(self).__name__
        S.check_reserved(sample, who=who)
        names = self.touched_keys(sample)
        if names and S.batch_size(sample, names, who=who) == 0:
            raise ValueError(f"{who}: expected a non-empty batch, got 0 examples in {names}; skip "
                             "empty batches before calling the transform.")  # fmt: skip
        return tuple(names)

    def _check_entry(self, sample: S.Sample, name: str) -> S.Kind:
        """The kind ``sample[name]`` is read as, its ``lengths``' layout checked (once per layout)."""
        key = hints.entry_layout(sample, name)
        return hints.checked(None if key is None else (self.accepts, key), lambda: S.check_entry(
            sample, name, who=type(self).__name__, accepts=self.accepts))  # fmt: skip

    # -- keys ------------------------------------------------------------------------------
    def resolve_keys(self, sample: S.Sample, keys: S.Keys = None) -> list[str]:
        """Return the sample entries a call corrupts (``keys`` or this op's own), checked."""
        chosen = keys if keys is not None else self.keys
        return S.select_entries(sample, chosen, self.accepts, who=type(self).__name__)

    def touched_keys(self, sample: S.Sample, keys: S.Keys = None) -> list[str]:
        """Return the entries a call with these ``keys`` reads and may change."""
        return self.resolve_keys(sample, keys)

    # -- config ----------------------------------------------------------------------------
    def to_config(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict that ``mmnoise.from_config`` turns back into ``self``."""
        return constructor_config(self)

    def extra_repr(self) -> str:
        def simple(v: Any) -> bool:  # a scalar, or a list of scalars
            nested = isinstance(v, list) and any(isinstance(i, (dict, list)) for i in v)
            return not isinstance(v, dict) and not nested

        return ", ".join(f"{k}={v!r}" for k, v in self.to_config().items() if k != "type" and simple(v))
