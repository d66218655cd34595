"""Benchmarks of mmnoise against its peers and plain torch: ``python -m benchmarks``.

Groups: ``limits`` (random-number and allocation yardsticks), ``features`` (feature sequences,
the main MER case), ``pipeline`` (the full multimodal feature pipeline), ``waveform``, ``frames``,
``tokens``. See benchmarks/README.md for the method and how to read the tables.
"""
