"""Analyse the reconciled cube: series by member with intervals and provenance, shares, CAGRs.

All values are USD billions, nominal, calendar years. Intervals are quantiles of the cube's joint
draws, so an aggregate's interval comes from the sums of its parts' draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..cube import Cube
from ..pack import Market

__all__ = ["Analysis", "Series", "Point", "Headline", "SegmentRow", "analyse", "cagr"]


@dataclass(frozen=True)
class Point:
    year: int
    value: float  # USD bn
    lo80: float
    hi80: float
    lo95: float
    hi95: float
    provenance: str


@dataclass(frozen=True)
class Series:
    selection: tuple[tuple[str, str], ...]
    name: str
    dimension: str | None
    member: str | None
    parent: str | None
    is_aggregate: bool
    points: tuple[Point, ...]

    def at(self, year: int) -> Point:
        return next(p for p in self.points if p.year == year)


@dataclass(frozen=True)
class Headline:
    start_year: int
    end_year: int
    periods: int
    start_value: float
    end_value: float
    cagr: float  # per year, fraction
    cagr_lo80: float
    cagr_hi80: float
    cagr_lo95: float
    cagr_hi95: float


@dataclass(frozen=True)
class SegmentRow:
    dimension: str
    member: str
    name: str
    parent: str | None
    is_aggregate: bool
    base_value: float
    base_share: float | None  # of its parent (the total for top members); None when the parent is 0
    end_value: float
    end_share: float | None
    cagr: float | None  # None when the start is 0
    provenance: str


@dataclass(frozen=True)
class Analysis:
    series: tuple[Series, ...]
    headline: Headline
    segments: tuple[SegmentRow, ...]


def cagr(start: float | np.ndarray, end: float | np.ndarray, periods: int):
    """Compound annual growth rate over ``periods`` compounding periods (fraction per year)."""
    return (np.asarray(end) / np.asarray(start)) ** (1.0 / periods) - 1.0


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


def _series(cube: Cube, selection, name, dimension, member, parent, is_aggregate) -> Series:
    point, draws = cube.series(selection)
    q = np.quantile(draws, [0.1, 0.9, 0.025, 0.975], axis=0)
    pts = tuple(
        Point(y, float(point[i]), float(q[0, i]), float(q[1, i]), float(q[2, i]), float(q[3, i]), cube.provenance(selection, y))
        for i, y in enumerate(cube.years)
    )
    return Series(selection, name, dimension, member, parent, is_aggregate, pts)


def analyse(market: Market, cube: Cube) -> Analysis:
    series = [_series(cube, (), "Total", None, None, None, True)]
    for dim in market.dimensions:
        leaves = {m.id for m in dim.leaves}
        for m in dim.members:
            series.append(_series(cube, ((dim.id, m.id),), m.name, dim.id, m.id, m.parent, m.id not in leaves))
    start, end = market.years.base_year, market.years.study_end
    periods = end - start
    total = series[0]
    _, draws = cube.series(())
    g = cagr(draws[:, cube.year_index(start)], draws[:, cube.year_index(end)], periods)
    lo80, hi80, lo95, hi95 = (float(v) for v in np.quantile(g, [0.1, 0.9, 0.025, 0.975]))
    headline = Headline(
        start, end, periods, total.at(start).value, total.at(end).value,
        float(cagr(total.at(start).value, total.at(end).value, periods)), lo80, hi80, lo95, hi95,
    )
    by_sel = {s.selection: s for s in series}
    rows = []
    for s in series[1:]:
        assert s.dimension and s.member
        parent = by_sel[((s.dimension, s.parent),)] if s.parent else total
        b, e = s.at(start), s.at(end)
        rows.append(
            SegmentRow(
                s.dimension, s.member, s.name, s.parent, s.is_aggregate, b.value, _ratio(b.value, parent.at(start).value),
                e.value, _ratio(e.value, parent.at(end).value),
                float(cagr(b.value, e.value, periods)) if b.value > 0 else None, weakest_of(b, e),
            )
        )
    return Analysis(tuple(series), headline, tuple(rows))


def weakest_of(*points: Point) -> str:
    from ..cube import weakest

    return weakest(*(p.provenance for p in points))
