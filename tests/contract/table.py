"""The one table of every public transform, run by the shared property suite.

Each family adds its cases in a ``cases_<family>.py`` module beside this file, as a list named
``CASES``; this module collects them all, so families never edit a shared file.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from tests.contract.case import Case


def _collect() -> list[Case]:
    cases: list[Case] = []
    here = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if info.name.startswith("cases_"):
            module = importlib.import_module(f"tests.contract.{info.name}")
            cases.extend(module.CASES)
    return cases


ALL_CASES: list[Case] = _collect()
