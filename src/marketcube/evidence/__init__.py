"""Normalise: every claim's value in USD billions (or a fraction) in a calendar year.

Sizes and revenues are converted at the annual average rate of their own (calendar) year; a
fiscal year that ends in January-May counts for the calendar year before its end, one that ends
in June-December for the year of its end (most of its months fall there; June is a tie, given to
the year of the end). Shares and CAGRs become fractions (8.1% -> 0.081).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..pack import Claim, Market

__all__ = ["Item", "Evidence", "normalise", "calendar_year", "as_written"]

SCALE_TO_BN = {"bn": 1.0, "mn": 1e-3}


@dataclass(frozen=True)
class Item:
    """One claim, normalised. ``problem`` says why it cannot be used numerically ('' if it can)."""

    claim: Claim
    year: int | None  # calendar year the value is for
    value_usd_bn: float | None = None  # size or revenue, USD billions, nominal, at the year's average rate
    fraction: float | None = None  # share of the parent (0-1) or growth rate per year
    conversion: str = ""  # how the value was converted, in words
    problem: str = ""


@dataclass(frozen=True)
class Evidence:
    items: tuple[Item, ...]

    def by_id(self) -> dict[str, Item]:
        return {i.claim.id: i for i in self.items}


def calendar_year(fiscal_year: int, fiscal_year_end: str) -> int:
    """The calendar year a fiscal year is assigned to (see the module docstring)."""
    month = int(fiscal_year_end.split("-")[0])
    return fiscal_year if month >= 6 else fiscal_year - 1


def as_written(x: float) -> str:
    """A number as a source wrote it: every digit it has (up to 10 decimals), with thousands
    separators, never in scientific notation (6,600 CHF mn; 1,164,800 KRW mn; 9.68 %)."""
    text = f"{x:,.10f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def _to_usd_bn(market: Market, value: float, unit: str, year: int | None) -> tuple[float | None, str, str]:
    currency, scale = unit.split()
    bn = value * SCALE_TO_BN[scale]
    if currency == "USD":
        return bn, "" if scale == "bn" else f"{as_written(value)} USD mn = {as_written(bn)} USD bn", ""
    if year is None:
        return None, "", f"{currency} value with no year: no rate to convert it at"
    rate = market.fx.get(year, {}).get(currency)
    if rate is None:
        return None, "", f"no FX rate for {currency} in {year}"
    usd = bn / rate
    return usd, f"{as_written(value)} {unit} at {as_written(rate)} {currency}/USD ({year} average) = {usd:.4g} USD bn", ""


def normalise(market: Market) -> Evidence:
    """Each claim of the pack as an ``Item``; nothing is dropped, unusable ones say why."""
    items = []
    for c in market.claims:
        if c.kind in ("size", "revenue"):
            assert c.value is not None and c.year is not None
            year = calendar_year(c.year, c.fiscal_year_end) if c.kind == "revenue" else c.year
            usd, how, problem = _to_usd_bn(market, c.value, c.unit, year)
            if c.kind == "revenue" and c.fiscal_year_end and c.fiscal_year_end != "12-31":
                how = f"fiscal {c.year} (ends {c.fiscal_year_end}) counted as calendar {year}; " + how
            items.append(Item(c, year, value_usd_bn=usd, conversion=how, problem=problem))
        elif c.kind in ("share", "growth"):
            assert c.value is not None
            items.append(Item(c, c.year, fraction=c.value / 100.0))
        else:
            items.append(Item(c, None, problem="a claim about structure, not a number"))
    return Evidence(tuple(items))
