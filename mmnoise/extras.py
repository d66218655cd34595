"""The optional extras: importing what one provides, and the error when it cannot be had.

An extra (``pip install 'mmnoise[plot]'``, ``[data]``, ``[hf]``, ``[lightning]``, ...) brings
packages the core never needs. A call that needs one imports it through :func:`import_extra`,
which tells the two failures apart: a package that is missing asks to install the extra; one
that is installed but cannot be used (too old for the code here, or built against another
numpy: h5py 3.10 under numpy 2 raises a ``ValueError`` at import) repeats the package's own
error and asks to upgrade it by name. A package that only speeds a path up or adds a nicety
(OpenCV, imageio-ffmpeg's bundled FFmpeg, tqdm) goes through :func:`optional_import`: missing,
it is simply not used; installed but broken, it is not used either, and a warning says so.
"""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType

__all__ = ["extra_import_error", "import_extra", "optional_import"]


def extra_import_error(
    who: str, extra: str, packages: tuple[str, ...], err: BaseException, *, instead: str = ""
) -> ImportError:
    """The error of ``who`` (a module, or a call and what it does) without a working ``extra``.

    ``err`` is what the import raised. A missing package (``ModuleNotFoundError`` naming one
    of ``packages``) asks to install the extra; anything else, such as a name an older release
    lacks or a binary built against another numpy, repeats the packages' own error and asks to
    upgrade them (by name: upgrading the extra would upgrade mmnoise too). ``instead`` names a
    way around that needs no extra.

    Example:
        >>> e = extra_import_error("m", "x", ("pkg",), ModuleNotFoundError("no", name="pkg"))
        >>> print(e)
        m needs pkg, which is not installed; install it with `pip install 'mmnoise[x]'`.
    """
    names = " and ".join(packages)
    them = "it" if len(packages) == 1 else "them"
    alt = f" (or {instead})" if instead else ""
    if _not_installed(err, packages):
        verb = "is" if len(packages) == 1 else "are"
        return ImportError(f"{who} needs {names}, which {verb} not installed; install {them} "
                           f"with `pip install 'mmnoise[{extra}]'`{alt}.")  # fmt: skip
    return ImportError(f"{who} cannot use the installed {names} ({type(err).__name__}: {err}); "
                       f"upgrade {them} with `pip install -U {' '.join(packages)}`{alt}.")  # fmt: skip


def _not_installed(err: BaseException, packages: tuple[str, ...]) -> bool:
    """Whether ``err`` says one of ``packages`` itself is missing (not one of its own imports:
    a package that imports something absent is installed but broken)."""
    return isinstance(err, ModuleNotFoundError) and (err.name or "").partition(".")[0] in packages


def import_extra(module: str, *, who: str, extra: str, instead: str = "") -> ModuleType:
    """Import ``module`` (from the ``extra``) for ``who``, or raise :func:`extra_import_error`'s.

    Any exception of the import counts: a package that fails to load is as unusable as a
    missing one, and its own error travels in the message and as ``__cause__``.

    Example:
        >>> import_extra("json", who="demo", extra="none").__name__
        'json'
        >>> import_extra("not_a_package_xyz", who="demo", extra="x")
        Traceback (most recent call last):
        ...
        ImportError: demo needs not_a_package_xyz, which is not installed; install it with `pip install 'mmnoise[x]'`.
    """
    try:
        return importlib.import_module(module)
    except Exception as err:  # ImportError, or the ValueError / AttributeError of an ABI break
        raise extra_import_error(who, extra, (module.partition(".")[0],), err, instead=instead) from err


def optional_import(module: str, *, without: str) -> ModuleType | None:
    """Import ``module`` if it is installed and works; else None (``without``: what mmnoise does
    instead). A missing package is silent; an installed one that fails to import warns once per
    call site, since a broken install silently taking the slow path would go unnoticed.

    Example:
        >>> optional_import("not_a_package_xyz", without="the torch path") is None
        True
    """
    try:
        return importlib.import_module(module)
    except Exception as err:  # missing, or installed but broken (an ABI break, its own deps)
        if _not_installed(err, (module.partition(".")[0],)):
            return None  # the documented fallback, nothing to say
        failure = err
    warnings.warn(f"{module} is installed but cannot be imported ({type(failure).__name__}: "
                  f"{failure}); mmnoise goes on without it ({without}). Reinstall or upgrade it "
                  f"(`pip install -U {module.partition('.')[0]}`) to use it.", RuntimeWarning,
                  stacklevel=3)  # fmt: skip
    return None
