"""A frozen MER-C suite: families x 5 severities in physical units, plus the missing protocols.

A suite is ONE JSON file under ``mmnoise/merc/suites/`` (``mer-c-v1.json``, ``mer-c-v2.json``);
:func:`load_suite` reads it by name (or from any path) and checks it. A suite never changes once released: a
changed family, severity or protocol is a new file with a new version, and old files keep
loading, so old numbers stay reproducible. The file's SHA-256 goes into every report card.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from mmnoise.sample import KINDS, Kind

__all__ = [
    "MISSING_GENERATORS",
    "PROTOCOLS",
    "RNGS",
    "Family",
    "Suite",
    "available_suites",
    "load_suite",
]

_FORMATS = ("mmnoise.merc.suite/1", "mmnoise.merc.suite/2")
#: the randomness of a suite's draws: torch's CPU generator (v1) or mmnoise's Philox ``Key`` (v2)
RNGS = ("torch", "philox")
#: how the missing-rate protocol draws an item's missing modalities (v1: ``floor(eta M + u)``;
#: v2: the CPM-Nets / GCNet per-item distribution)
MISSING_GENERATORS = ("floor", "cpm-nets")
#: the names that select the suite's two modality-missing protocols (next to the family names)
PROTOCOLS = ("missing_rate", "nmer_fill")
_GROUPS = ("corruption", "missing")


@dataclass(frozen=True)
class Family:
    """One corruption family of a suite: a transform, its physical parameter, 5 severities.

    Args:
        name: the family's name in the suite (``"gaussian_snr"``).
        kind: the modality kind it corrupts (``"features"``, ``"waveform"``, ...).
        transform: an mmnoise transform class name (``"AddGaussianSNR"``).
        param: the constructor argument holding the physical range (``"snr_db"``).
        unit: the unit of the severities, in words.
        severities: the 5 physical values, weakest first.
        group: ``"corruption"`` (counts in mCE) or ``"missing"`` (within-modality missing).
        split: ``"test"`` (reported, never train on it) or ``"heldout"`` (validation only,
            ImageNet-C's "extra" corruptions).
        kwargs: further constructor arguments (fixed).
        provenance: where the five values come from (v2 files say it per family).

    Example:
        >>> load_suite().family("impulse").param
        'ratio'
    """

    name: str
    kind: Kind
    transform: str
    param: str
    unit: str
    severities: tuple[float, ...]
    group: str = "corruption"
    split: str = "test"
    kwargs: dict[str, Any] = field(default_factory=dict)
    provenance: str = ""


@dataclass(frozen=True)
class Suite:
    """A loaded suite (see :func:`load_suite`).

    Args:
        name: e.g. ``"mer-c-v1"``.
        version: the integer version.
        families: every family, all kinds.
        missing_rate: the eta grid of the CPM-Nets / GCNet missing-rate protocol.
        nmer_fill: NMER's noise fill: ``{"transform", "kwargs", "severities", "unit"}``.
        reference: the reference model (named).
        mmin_severities: the severities also scored under MMIN's six conditions.
        data: the parsed file (everything, for the report card).
        sha256: SHA-256 of the file's bytes.
        rng: ``"torch"`` (v1: torch CPU generators, carried across an item's modalities) or
            ``"philox"`` (v2: one :class:`mmnoise.rng.Key` per item and modality, one thread).
        per_modality: whether every family is also scored on each modality alone (v2).
        missing_generator: ``"floor"`` (v1) or ``"cpm-nets"`` (v2), see
            :func:`mmnoise.merc.corrupt.missing_rate_item`.

    Example:
        >>> [f.name for f in load_suite().families_of("tokens")]
        ['token_deletion', 'adjacent_swap', 'token_mask']
    """

    name: str
    version: int
    families: tuple[Family, ...]
    missing_rate: tuple[float, ...]
    nmer_fill: dict[str, Any]
    reference: dict[str, Any]
    data: dict[str, Any]
    sha256: str
    mmin_severities: tuple[int, ...] = (3,)
    rng: str = "torch"
    per_modality: bool = False
    missing_generator: str = "floor"

    def effective_eta(self, eta: float, num_modalities: int) -> float:
        """The missing rate an item set really gets at ``eta`` with M modalities (capped).

        One modality is always kept, so the rate cannot pass ``(M - 1) / M``: the papers'
        "eta 0.7" with three modalities is 2/3. Both generators realise ``min(eta, (M-1)/M)``
        in expectation.

        Example:
            >>> round(load_suite("mer-c-v2").effective_eta(0.7, 3), 4)
            0.6667
        """
        m = int(num_modalities)
        return min(float(eta), (m - 1) / m) if m > 0 else 0.0

    def families_of(self, kind: Kind, *, split: str | None = None) -> list[Family]:
        """Return the families of one modality kind (optionally of one split), in file order."""
        return [f for f in self.families if f.kind == kind and (split is None or f.split == split)]

    def family(self, name: str) -> Family:
        """Return the family called ``name``.

        Raises:
            KeyError: no such family (the names are listed).
        """
        for f in self.families:
            if f.name == name:
                return f
        raise KeyError(
            f"Suite {self.name}: unknown family {name!r}; expected one of "
            f"{[f.name for f in self.families]}."
        )

    def select(
        self, names: Iterable[str] | None, kinds: Mapping[str, Kind], *, who: str
    ) -> list[str]:
        """Check a ``--families`` selection against the suite and the data's kinds.

        Args:
            names: family names and/or :data:`PROTOCOLS` (None: every family of the data's
                kinds, then both protocols).
            kinds: {modality: kind} of the data.
            who: the caller's name, for the error.

        Returns:
            The selected names, in the given order (duplicates dropped).

        Raises:
            ValueError: an unknown name (the valid ones are listed), or a family whose kind
                is not among the data's (it would silently leave the data clean).

        Example:
            >>> load_suite().select(["impulse", "missing_rate"], {"a": "features"}, who="demo")
            ['impulse', 'missing_rate']
        """
        present = set(kinds.values())
        if names is None:
            return [f.name for f in self.families if f.kind in present] + list(PROTOCOLS)
        chosen = list(dict.fromkeys(str(n).strip() for n in names))
        valid = [f.name for f in self.families] + list(PROTOCOLS)
        unknown = [n for n in chosen if n not in valid]
        if unknown:
            raise ValueError(
                f"{who}: unknown families {unknown} for suite {self.name}; expected names from "
                f"{valid}."
            )
        wrong = [
            f"{n} ({self.family(n).kind})"
            for n in chosen
            if n not in PROTOCOLS and self.family(n).kind not in present
        ]
        if wrong:
            raise ValueError(
                f"{who}: families {wrong} corrupt a modality kind the data do not have (the "
                f"data's kinds: {sorted(present)}); choose families of "
                f"{[f.name for f in self.families if f.kind in present]}."
            )
        return chosen


def available_suites() -> list[str]:
    """Return the names of the suites shipped in the package.

    Example:
        >>> "mer-c-v1" in available_suites()
        True
    """
    root = resources.files("mmnoise.merc") / "suites"
    return sorted(p.name[: -len(".json")] for p in root.iterdir() if p.name.endswith(".json"))


def load_suite(name_or_path: str | Path = "mer-c-v1") -> Suite:
    """Load a suite by name (shipped in the package) or from a JSON file path.

    Args:
        name_or_path: ``"mer-c-v1"`` or a path to a suite file.

    Returns:
        The checked :class:`Suite`.

    Raises:
        FileNotFoundError: unknown name or missing file.
        ValueError: a malformed file (what and where is said).

    Example:
        >>> s = load_suite("mer-c-v1")
        >>> s.name, s.version, len(s.family("gaussian_snr").severities)
        ('mer-c-v1', 1, 5)
    """
    path = Path(name_or_path)
    if path.suffix == ".json" or path.exists():
        if not path.is_file():
            raise FileNotFoundError(f"load_suite: expected a suite file at {path}.")
        raw = path.read_bytes()
    else:
        res = resources.files("mmnoise.merc") / "suites" / f"{name_or_path}.json"
        if not res.is_file():
            raise FileNotFoundError(
                f"load_suite: unknown suite {str(name_or_path)!r}; expected one of "
                f"{available_suites()} or a path to a .json suite file."
            )
        raw = res.read_bytes()
    data = json.loads(raw)
    return _parse(data, hashlib.sha256(raw).hexdigest())


def _choice(data: Mapping[str, Any], value: str, options: tuple[str, ...], what: str) -> str:
    if value not in options:
        raise ValueError(
            f"load_suite: {data.get('name')}: expected {what} in {options}, got {value!r}."
        )
    return value


def _parse(data: Mapping[str, Any], sha: str) -> Suite:
    who = "load_suite"
    if not isinstance(data, Mapping) or data.get("format") not in _FORMATS:
        raise ValueError(f'{who}: expected a suite file with "format" in {_FORMATS}.')
    name = str(data["name"])
    families: list[Family] = []
    for kind, fams in data["families"].items():
        if kind not in KINDS:
            raise ValueError(f"{who}: {name}: unknown kind {kind!r}; expected one of {KINDS}.")
        for f in fams:
            sev = tuple(float(v) for v in f["severities"])
            if len(sev) != 5:
                raise ValueError(
                    f"{who}: {name}: family {f['name']!r} needs 5 severities, got {len(sev)}."
                )
            fam = Family(
                name=str(f["name"]),
                kind=kind,
                transform=str(f["transform"]),
                param=str(f["param"]),
                unit=str(f["unit"]),
                severities=sev,
                group=str(f.get("group", "corruption")),
                split=str(f.get("split", "test")),
                kwargs=dict(f.get("kwargs", {})),
                provenance=str(f.get("provenance", "")),
            )
            if fam.group not in _GROUPS or fam.split not in ("test", "heldout"):
                raise ValueError(
                    f"{who}: {name}: family {fam.name!r}: expected group in {_GROUPS} and split "
                    f"'test' or 'heldout', got {fam.group!r}, {fam.split!r}."
                )
            families.append(fam)
    names = [f.name for f in families]
    if len(set(names)) != len(names):
        raise ValueError(f"{who}: {name}: family names must be unique, got {names}.")
    missing = data["missing"]
    eta = tuple(float(v) for v in missing["missing_rate"]["eta"])
    return Suite(
        name=name,
        version=int(data["version"]),
        families=tuple(families),
        missing_rate=eta,
        nmer_fill=dict(missing["nmer_fill"]),
        reference=dict(data.get("reference", {})),
        data=dict(data),
        sha256=sha,
        mmin_severities=tuple(int(v) for v in data["conditions"]["mmin_severities"]),
        rng=_choice(data, str(data.get("rng", {}).get("generator", "torch")), RNGS, "rng"),
        per_modality=bool(data.get("per_modality", False)),
        missing_generator=_choice(
            data,
            str(missing["missing_rate"].get("generator", "floor")),
            MISSING_GENERATORS,
            "missing.missing_rate.generator",
        ),
    )
