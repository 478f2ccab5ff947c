"""Countries and the UN M49 regions: resolving names a source wrote, checking a pack's grouping.

country_converter resolves names and gives each country's M49 sub-region by name; it has no M49
area codes, so a small table of them ships here (``m49.csv``, UN Statistics Division, "Standard
country or area codes for statistical use"). Taiwan, which the UN lists without a code, falls in
Eastern Asia as country_converter says.
"""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

__all__ = ["country_name", "resolve_country", "Resolution", "m49_areas", "m49_chain"]


_OFFICIAL: dict[str, str] = {}


@lru_cache(maxsize=1)
def _table() -> list[tuple[str, str, str, str]]:
    logging.getLogger("country_converter").setLevel(logging.ERROR)
    import country_converter as coco

    data = coco.CountryConverter().data
    rows = []
    for iso2, name, regex, region, official in zip(
        data.ISO2, data.name_short, data.regex, data.UNregion, data.name_official
    ):
        _OFFICIAL[str(name).lower()] = str(official).lower()
        # a few rows hold a pattern instead of a code (the UK's is '^GB$|^UK$'): take the first code
        code = re.search(r"[A-Z]{2}", iso2) if isinstance(iso2, str) else None
        if code and isinstance(regex, str):
            rows.append((code.group(), str(name), regex, region if isinstance(region, str) else ""))
    return rows


def country_name(iso2: str) -> str | None:
    """Short English name of an ISO 3166-1 alpha-2 code, or None if no such country."""
    for code, name, _, _ in _table():
        if code == iso2.upper():
            return name
    return None


def _matches(text: str) -> list[str]:
    return sorted({code for code, _, rx, _ in _table() if re.search(rx, text, flags=re.IGNORECASE)})


@dataclass(frozen=True)
class Resolution:
    """How a country name as written resolves: ``iso2`` when clean, else why not."""

    written: str
    iso2: str | None
    problem: str  # "" when clean; "unknown" or "ambiguous"
    candidates: tuple[str, ...] = ()


def resolve_country(written: str) -> Resolution:
    """Resolve a name a source wrote to one ISO code, refusing garbled names.

    A name is clean when it matches exactly one country and its words do not, on their own, name
    another one ("Argentina Korea" names two countries even though a lenient matcher returns one).
    """
    whole = _matches(written)
    if len(whole) == 1:
        name = country_name(whole[0]) or ""
        if written.strip().lower() in (name.lower(), _OFFICIAL.get(name.lower(), "")):
            return Resolution(written, whole[0], "")  # a country's own name ("North Korea") is clean
    parts = set(whole)
    for word in re.findall(r"[A-Za-z][A-Za-z.'-]+", written):
        if len(word) > 3:
            parts |= set(_matches(word))
    if len(whole) == 1 and parts == set(whole):
        return Resolution(written, whole[0], "")
    if not whole and not parts:
        return Resolution(written, None, "unknown")
    return Resolution(written, None, "ambiguous", tuple(sorted(parts)))


@lru_cache(maxsize=1)
def m49_areas() -> dict[str, tuple[str, str]]:
    """M49 code -> (name, parent code)."""
    text = resources.files(__package__).joinpath("m49.csv").read_text(encoding="utf-8")
    return {r["code"]: (r["name"], r["parent"]) for r in csv.DictReader(text.splitlines())}


def m49_chain(iso2: str) -> tuple[str, ...]:
    """The M49 area codes containing a country, innermost first (e.g. KR: 030, 142, 001)."""
    region = next((r for code, _, _, r in _table() if code == iso2.upper()), "")
    by_name = {name: code for code, (name, _) in m49_areas().items()}
    code = by_name.get(region)
    chain = []
    while code:
        chain.append(code)
        code = m49_areas()[code][1]
    return tuple(chain)
