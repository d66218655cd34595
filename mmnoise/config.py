"""One registry and one serialiser for everything that round-trips through a plain dict.

(The checks of ranges and probabilities and the level-to-range mapping, ``check_range``,
``check_probability`` and ``lerp``, live in :mod:`mmnoise.levels`.)

Transforms, containers and pipelines (:mod:`mmnoise.transforms`) and schedules
(:mod:`mmnoise.schedules`) write ``to_config()``: a JSON-able dict whose ``"type"`` is the class
name and whose other keys are constructor arguments. Their classes register themselves here by
name when they are defined (public names only; ``_private`` bases are not constructible from a
config), in one :class:`Registry` per family, and :func:`from_config` turns any such dict back
into an object. :func:`encode` / :func:`decode` are the value codecs both families use.

Example:
    >>> from mmnoise.schedules import Cosine
    >>> from mmnoise.transforms import Gain
    >>> from_config(Cosine(0.0, 1.0, steps=10).to_config())
    Cosine(start=0.0, end=1.0, steps=10.0)
    >>> type(from_config(Gain("audio", gain_db=(0.0, -6.0)).to_config())).__name__
    'Gain'
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

# moved to mmnoise.levels (level and range checks); importable from here as before
from mmnoise.levels import check_probability as check_probability
from mmnoise.levels import check_range as check_range
from mmnoise.levels import lerp as lerp

__all__ = [
    "SCHEDULES",
    "TRANSFORMS",
    "Registry",
    "constructor_config",
    "decode",
    "encode",
    "from_config",
]


class Registry:
    """Classes of one family by name, for rebuilding objects from their ``to_config()``.

    Args:
        family: what the classes are ("transform", "schedule"), named in error messages.
        strict: a nested dict with a ``"type"`` that is not registered is an error (schedules)
            instead of a plain dict argument (transforms).
        sequence: the type JSON lists decode to (``list`` or ``tuple``).

    Example:
        >>> r = Registry("widget")
        >>> class Knob:
        ...     def __init__(self, turns: int) -> None:
        ...         self.turns = turns
        >>> r.register(Knob)
        >>> "Knob" in r, r.build({"type": "Knob", "turns": 3}).turns
        (True, 3)
    """

    def __init__(self, family: str, *, strict: bool = False, sequence: type = list) -> None:
        self.family = family
        self.strict = strict
        self.sequence = sequence
        self._classes: dict[str, type] = {}

    def register(self, cls: type) -> None:
        """Add ``cls`` under its class name (names starting with ``_`` are skipped)."""
        if not cls.__name__.startswith("_"):
            self._classes[cls.__name__] = cls

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def classes(self) -> dict[str, type]:
        """Return a copy of ``{name: class}``."""
        return dict(self._classes)

    def get(self, name: Any, *, who: str = "from_config") -> type:
        """Return the class registered as ``name``.

        Raises:
            ValueError: no class of this family has that name.
        """
        if name not in self._classes:
            raise ValueError(
                f"{who}: unknown {self.family} type {name!r}; expected one of "
                f"{sorted(self._classes)}. "
                "Build the config with to_config(), and import the module that defines the "
                "class before rebuilding it."
            )
        return self._classes[name]

    def build(self, config: Mapping[str, Any], *, who: str = "from_config") -> Any:
        """Rebuild an object from its ``to_config()`` dict.

        A class may define ``_from_config(config)`` for settings that are not plain
        constructor arguments; otherwise it is called with the decoded arguments.

        Raises:
            TypeError: ``config`` is not a dict.
            ValueError: ``config`` has no known ``"type"``.
        """
        if not isinstance(config, Mapping):
            raise TypeError(
                f"{who}: expected a dict made by to_config(), got {type(config).__name__}."
            )
        cls = self.get(config.get("type"), who=who)
        custom = getattr(cls, "_from_config", None)
        if callable(custom):
            return custom(config)
        return cls(**{k: decode(v, self) for k, v in config.items() if k != "type"})


TRANSFORMS = Registry("transform")
SCHEDULES = Registry("schedule", strict=True, sequence=tuple)


def encode(value: Any) -> Any:
    """Turn a constructor argument into JSON-able data.

    Objects with ``to_config()`` become their config, module containers and mappings dicts,
    sequences lists, tensors nested lists; anything else is kept.

    Example:
        >>> import torch
        >>> encode({"a": (1, 2), "t": torch.tensor([0.5])})
        {'a': [1, 2], 't': [0.5]}
    """
    if callable(getattr(value, "to_config", None)) and not isinstance(value, type):
        return value.to_config()
    if isinstance(value, (nn.ModuleDict, Mapping)):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, nn.ModuleList)):
        return [encode(v) for v in value]
    if isinstance(value, Tensor):
        return value.tolist()
    return value


def constructor_config(obj: object, **written: Any) -> dict[str, Any]:
    """``obj``'s config: its class name and each constructor argument read back from ``obj``.

    Transforms store every constructor argument under its own name, which makes this generic;
    ``written`` gives arguments a class writes in its own form (a large bank by its shape).

    Example:
        >>> from mmnoise.transforms import Gain
        >>> constructor_config(Gain("audio", gain_db=(0.0, -6.0)))
        {'type': 'Gain', 'keys': 'audio', 'gain_db': [0.0, -6.0], 'p': 1.0}
    """
    config: dict[str, Any] = {"type": type(obj).__name__}
    for name in inspect.signature(type(obj).__init__).parameters:
        if name != "self":
            config[name] = written[name] if name in written else encode(getattr(obj, name))
    return config


def decode(value: Any, registry: Registry) -> Any:
    """Undo :func:`encode` for the classes of ``registry``: nested configs become objects.

    Example:
        >>> decode([{"type": "Constant", "level": 0.5}, [1, 2]], SCHEDULES)
        (Constant(level=0.5), (1, 2))
    """
    if isinstance(value, Mapping):
        kind = value.get("type")
        if isinstance(kind, str) and (kind in registry or registry.strict):
            return registry.build(value)
        return {k: decode(v, registry) for k, v in value.items()}
    if isinstance(value, list):
        return registry.sequence(decode(v, registry) for v in value)
    return value


def from_config(config: Mapping[str, Any]) -> Any:
    """Rebuild a transform, container, pipeline or schedule from its ``to_config()`` dict.

    Args:
        config: a dict made by ``to_config()`` (possibly after a JSON round trip).

    Returns:
        A new object equal in settings to the one that wrote ``config`` (an adaptive schedule
        starts fresh: restore its progress with ``load_state_dict``).

    Raises:
        TypeError: ``config`` is not a dict.
        ValueError: its ``"type"`` is neither a registered transform nor a schedule.

    Example:
        >>> from mmnoise.schedules import Linear
        >>> from_config({"type": "Linear", "start": 0.0, "end": 1.0, "steps": 5}) == Linear(
        ...     0.0, 1.0, steps=5)
        True
    """
    if not isinstance(config, Mapping):
        raise TypeError(
            f"from_config: expected a dict made by to_config(), got {type(config).__name__}."
        )
    kind = config.get("type")
    for registry in (TRANSFORMS, SCHEDULES):
        if kind in registry:
            return registry.build(config)
    known = sorted([*TRANSFORMS.classes(), *SCHEDULES.classes()])
    raise ValueError(
        f"from_config: unknown type {kind!r}; known transforms and schedules: {known}. Build the "
        "config with to_config()."
    )
