"""Trainer integrations: Lightning (:mod:`mmnoise.integrations.lightning`) and Hugging Face
``Trainer`` / accelerate (:mod:`mmnoise.integrations.hf`).

Each lives behind its own extra (``pip install 'mmnoise[lightning]'``, ``'mmnoise[hf]'``); the
core of mmnoise never imports them, and importing a submodule without its extra (or with a
release of it too old for the integration) raises an ``ImportError`` that names the extra
(:func:`mmnoise.extras.extra_import_error`). This package itself imports nothing.
"""

from mmnoise.deprecation import moved_names

__all__: list[str] = []

# moved for one release (0.1): the core's optional imports build the same errors
__getattr__ = moved_names(__name__, {"extra_import_error": "mmnoise.extras"})
