"""Trainer integrations: Lightning (:mod:`mmnoise.integrations.lightning`) and Hugging Face
``Trainer`` / accelerate (:mod:`mmnoise.integrations.hf`).

Each lives behind its own extra (``pip install 'mmnoise[lightning]'``, ``'mmnoise[hf]'``); the
core of mmnoise never imports them, and importing a submodule without its extra raises an
``ImportError`` that names the extra. This package itself imports nothing.
"""

__all__: list[str] = []
