"""Trainer integrations: Lightning (:mod:`mmnoise.integrations.lightning`) and Hugging Face
``Trainer`` / accelerate (:mod:`mmnoise.integrations.hf`).

Each lives behind its own extra (``pip install 'mmnoise[lightning]'``, ``'mmnoise[hf]'``); the
core of mmnoise never imports them, and importing a submodule without its extra (or with a
release of it too old for the integration) raises an ``ImportError`` that names the extra. This
package itself imports nothing.
"""

__all__: list[str] = []


def extra_import_error(
    module: str, extra: str, packages: tuple[str, ...], err: ImportError
) -> ImportError:
    """The error of importing ``module`` without a working ``extra``: missing, or too old.

    ``err`` is what the import raised. A missing package (``ModuleNotFoundError`` naming one
    of ``packages``) asks to install the extra; anything else, such as a name an older release
    lacks, repeats the packages' own error and asks to upgrade them (by name: upgrading the
    extra would upgrade mmnoise too).

    Example:
        >>> e = extra_import_error("m", "x", ("pkg",), ModuleNotFoundError("no", name="pkg"))
        >>> print(e)
        m needs pkg, which is not installed; install it with `pip install 'mmnoise[x]'`.
    """
    names = " and ".join(packages)
    them = "it" if len(packages) == 1 else "them"
    if isinstance(err, ModuleNotFoundError) and (err.name or "").partition(".")[0] in packages:
        verb = "is" if len(packages) == 1 else "are"
        return ImportError(f"{module} needs {names}, which {verb} not installed; install {them} "
                           f"with `pip install 'mmnoise[{extra}]'`.")  # fmt: skip
    return ImportError(f"{module} cannot use the installed {names} ({err}); upgrade {them} with "
                       f"`pip install -U {' '.join(packages)}`.")  # fmt: skip
