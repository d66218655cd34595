"""Griffe extension for the docs build: adapt the docstrings' conventions to mkdocstrings.

Two rewrites, at build time only (the package never imports this file):

* The house style heads doctests with ``Example:``; griffe's Google parser knows only the plural
  ``Examples:`` as a section and would render the singular as Markdown prose, where ``x[0]["a"]``
  reads as a link. A line that is exactly ``Example:`` becomes ``Examples:``.
* Sphinx cross-reference roles (``:class:`~mmnoise.data.BatchNoise```), which mkdocstrings would
  print literally, become inline code spans with the name the role would display (the last
  dotted part when the target starts with ``~``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|obj|exc|const):`(~?)([^`]+)`")
_EXAMPLE = re.compile(r"^(\s*)Example:[ \t]*$", re.MULTILINE)


def _replace(match: re.Match[str]) -> str:
    tilde, target = match.group(1), match.group(2)
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


def adapt(text: str) -> str:
    """Return a docstring with ``Example:`` made a section and Sphinx roles made code spans."""
    return _EXAMPLE.sub(r"\1Examples:", _ROLE.sub(_replace, text))


class HouseStyleDocstrings(griffe.Extension):
    """Rewrite the docstrings of a loaded package (see the module docstring)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        self._walk(pkg, set())

    def _walk(self, obj: griffe.Object, seen: set[str]) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        if obj.docstring is not None:
            obj.docstring.value = adapt(obj.docstring.value)
        for member in obj.members.values():
            if not member.is_alias:
                self._walk(member, seen)  # type: ignore[arg-type]
