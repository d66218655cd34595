"""Renamed public names: the old one keeps working for one release, with a warning naming the new.

mmnoise is 0.x, so names may change; each rename is listed in the changelog and keeps its old
spelling for one release. Two helpers cover every case:

- :func:`renamed_args`: a decorator for renamed keyword arguments of a class's constructor or of
  a function (a kernel). The old keyword is accepted, warned about and passed on under the new
  name; the signature (and so a class's ``to_config()``) shows only the new name, and
  ``__renamed_args__`` maps old to new for readers of old configs that must not warn (a frozen
  MER-C suite file).
- :func:`module_aliases`: a module ``__getattr__`` that returns a renamed function or class
  under its old name, with the warning.
- :func:`moved_names`: a module ``__getattr__`` that returns a name moved to another module
  (same name, new home), with the warning naming the new import path.
- :func:`moved_module`: the warning a renamed module's old path gives when imported (the old
  module is then a two-line shim re-exporting the new one).

Example:
    >>> import warnings
    >>> @renamed_args(ratio="fraction")
    ... class Knob:
    ...     def __init__(self, *, fraction: float = 0.0) -> None:
    ...         self.fraction = fraction
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     Knob(ratio=0.5).fraction
    0.5
    >>> print(caught[0].message)
    Knob(ratio=...) is deprecated and will be removed in 0.2: use Knob(fraction=...) instead.
"""

from __future__ import annotations

import functools
import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = [
    "REMOVAL",
    "module_aliases",
    "moved_module",
    "moved_names",
    "rename_config_args",
    "renamed_args",
]

#: the release in which the old names stop working
REMOVAL = "0.2"

_C = TypeVar("_C", bound=Callable[..., Any])


def _warn(old: str, new: str, *, stacklevel: int, verb: str = "use") -> None:
    """The one deprecation message: ``old`` goes in :data:`REMOVAL`, ``verb new`` instead.

    ``stacklevel`` counts from the caller of this function, as ``warnings.warn``'s would."""
    warnings.warn(
        f"{old} is deprecated and will be removed in {REMOVAL}: {verb} {new} instead.",
        DeprecationWarning,
        stacklevel=stacklevel + 1,
    )


def _rename(who: str, old_to_new: Mapping[str, str], kwargs: dict[str, Any]) -> None:
    """Move each old keyword of ``kwargs`` to its new name, with the warning (in place)."""
    for old, new in old_to_new.items():
        if old in kwargs:
            if new in kwargs:
                raise TypeError(f"{who}: got both {old}= (deprecated) and {new}=; pass only {new}=")
            _warn(f"{who}({old}=...)", f"{who}({new}=...)", stacklevel=3)
            kwargs[new] = kwargs.pop(old)


def renamed_args(**old_to_new: str) -> Callable[[_C], _C]:
    """Decorator: accept each old keyword, warn, pass it on as the new one (class or function).

    Args:
        **old_to_new: ``old_name="new_name"`` for each renamed keyword argument.

    Returns:
        The decorator. On a class it wraps ``cls.__init__``; on a function, the function. Either
        way ``inspect.signature`` still shows the new signature, and the map is merged into
        ``__renamed_args__`` (a class's inherited maps included).

    Raises:
        TypeError: at call time, when both the old and the new keyword are given.

    Example:
        >>> @renamed_args(ratio="fraction")
        ... def hit(*, fraction: float) -> float:
        ...     return fraction
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     hit(ratio=0.25)
        0.25
    """

    def decorate(obj: _C) -> _C:
        if not isinstance(obj, type):
            fn: Callable[..., Any] = obj
            # a tuple, not a frozenset: dynamo before torch 2.9 fails to guard a frozenset constant
            who, olds = fn.__name__, tuple(old_to_new)

            @functools.wraps(fn)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                for old in olds:  # a membership test or two: kernels sit on the per-item hot path
                    if old in kwargs:
                        _rename(who, old_to_new, kwargs)
                        break
                return fn(*args, **kwargs)

            wrapper.__renamed_args__ = dict(old_to_new)  # type: ignore[attr-defined]
            return wrapper  # type: ignore[return-value]
        cls = obj
        init = cls.__init__  # type: ignore[misc]

        @functools.wraps(init)
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            _rename(cls.__name__, old_to_new, kwargs)
            init(self, *args, **kwargs)

        cls.__init__ = __init__  # type: ignore[misc]
        inherited = dict(getattr(cls, "__renamed_args__", {}))
        cls.__renamed_args__ = {**inherited, **old_to_new}  # type: ignore[attr-defined]
        return obj

    return decorate


def rename_config_args(cls: Callable[..., Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``kwargs`` with each old argument name of ``cls`` (or a function) renamed, silently.

    For readers of frozen files written before a rename (their bytes cannot change).

    Example:
        >>> @renamed_args(ratio="fraction")
        ... class Knob:
        ...     def __init__(self, *, fraction: float = 0.0) -> None:
        ...         self.fraction = fraction
        >>> rename_config_args(Knob, {"ratio": 0.5, "p": 1.0})
        {'fraction': 0.5, 'p': 1.0}
    """
    renamed: Mapping[str, str] = getattr(cls, "__renamed_args__", {})
    return {renamed.get(k, k): v for k, v in kwargs.items()}


def module_aliases(module: str, aliases: Mapping[str, Any]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` serving renamed objects under their old names, with a warning.

    Args:
        module: the module's ``__name__`` (named in the messages).
        aliases: ``{old_name: new_object}``.

    Example:
        >>> def occlusion() -> str:
        ...     return "new"
        >>> getattr_ = module_aliases("pkg", {"occlude": occlusion})
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     getattr_("occlude")()
        'new'
    """

    def __getattr__(name: str) -> Any:
        if name in aliases:
            new = aliases[name]
            _warn(f"{module}.{name}", f"{module}.{new.__name__}", stacklevel=2)
            return new
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__


def moved_names(module: str, moves: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` serving names moved to another module, with a warning.

    The new module is imported on first access, so it may itself import the old one.

    Args:
        module: the old module's ``__name__`` (named in the messages).
        moves: ``{name: new_module}``: where each name lives now, under the same name.

    Example:
        >>> getattr_ = moved_names("pkg", {"sqrt": "math"})
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     getattr_("sqrt")(4.0)
        2.0
        >>> print(caught[0].message)
        pkg.sqrt is deprecated and will be removed in 0.2: use math.sqrt instead.
    """

    def __getattr__(name: str) -> Any:
        if name in moves:
            new = moves[name]
            _warn(f"{module}.{name}", f"{new}.{name}", stacklevel=2)
            return getattr(importlib.import_module(new), name)
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__


def moved_module(old: str, new: str) -> None:
    """Warn that module ``old`` was renamed ``new``; call it at the top of the old module's shim.

    Python imports a module once, so the warning is given at the first import of the old path
    (pointing at the importing line).

    Example:
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     moved_module("pkg.old", "pkg.new")
        >>> print(caught[0].message)
        pkg.old is deprecated and will be removed in 0.2: import pkg.new instead.
    """
    # stacklevel 3: past this function and the shim's module body to the importing line (the
    # import machinery's own frames are skipped by the warnings module)
    _warn(old, new, verb="import", stacklevel=3)
