"""Renamed public names: the old one keeps working for one release, with a warning naming the new.

mmnoise is 0.x, so names may change; each rename is listed in the changelog and keeps its old
spelling for one release. Two helpers cover every case:

- :func:`renamed_args`: a class decorator for renamed constructor arguments. The old keyword is
  accepted, warned about and passed on under the new name; the class's signature (and so its
  ``to_config()``) shows only the new name, and ``cls.__renamed_args__`` maps old to new for
  readers of old configs that must not warn (a frozen MER-C suite file).
- :func:`module_aliases`: a module ``__getattr__`` that returns a renamed function or class
  under its old name, with the warning.

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
import warnings
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = ["REMOVAL", "module_aliases", "rename_config_args", "renamed_args"]

#: the release in which the old names stop working
REMOVAL = "0.2"

_C = TypeVar("_C", bound=type)


def renamed_args(**old_to_new: str) -> Callable[[_C], _C]:
    """Class decorator: accept each old constructor keyword, warn, pass it on as the new one.

    Args:
        **old_to_new: ``old_name="new_name"`` for each renamed constructor argument.

    Returns:
        The decorator; it wraps ``cls.__init__`` (``inspect.signature`` still shows the new
        signature) and merges the map into ``cls.__renamed_args__`` (inherited maps included).

    Raises:
        TypeError: at call time, when both the old and the new keyword are given.
    """

    def decorate(cls: _C) -> _C:
        init = cls.__init__  # type: ignore[misc]

        @functools.wraps(init)
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            for old, new in old_to_new.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(
                            f"{cls.__name__}: got both {old}= (deprecated) and {new}=; "
                            f"pass only {new}="
                        )
                    warnings.warn(
                        f"{cls.__name__}({old}=...) is deprecated and will be removed in "
                        f"{REMOVAL}: use {cls.__name__}({new}=...) instead.",
                        DeprecationWarning,
                        stacklevel=2,
                    )
                    kwargs[new] = kwargs.pop(old)
            init(self, *args, **kwargs)

        cls.__init__ = __init__  # type: ignore[misc]
        inherited = dict(getattr(cls, "__renamed_args__", {}))
        cls.__renamed_args__ = {**inherited, **old_to_new}  # type: ignore[attr-defined]
        return cls

    return decorate


def rename_config_args(cls: type, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``kwargs`` with each old argument name of ``cls`` replaced by its new name, silently.

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
            warnings.warn(
                f"{module}.{name} is deprecated and will be removed in {REMOVAL}: use "
                f"{module}.{new.__name__} instead.",
                DeprecationWarning,
                stacklevel=2,
            )
            return new
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
