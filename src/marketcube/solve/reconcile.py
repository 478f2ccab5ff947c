"""Reconciliation, simple method: weigh the base forecast with the claims about forecast years,
then divide the total top-down by the assumed splits, so parts add up in every year and draw.

Forecast-year evidence about the whole market (CAGRs whose period runs past the base year, and
sizes of forecast years, under the target definition or one with a stated ratio) and the base
forecast's own growth are rows of one robust (Cauchy) least-squares problem in the log growth
rate g of the forecast years:

- the base forecast: ``g = g_drift``, sd the spread of growth across the history's draws;
- a CAGR claim: ``g = log(1 + rate)``, sd ``SIGMA_GROWTH``;
- a size claim for year t: ``g = (log(value / ratio) - log V_base) / (t - base)``,
  sd ``SIGMA_LOG / (t - base)``.

Every draw of the forecast keeps its own level and spread and is shifted by the change in growth.
Issue 5 replaces this with projection (bottom-up, OLS, WLS, MinT) over forecasts of every series.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from ..cube import Cube
from ..evidence import Evidence
from ..forecast.stage import BaseForecast
from ..pack import Market
from ..validate import growth_period, is_whole_market
from .evidence import SIGMA_GROWTH, SIGMA_LOG, Triangulation
from .core import CAUCHY as CAUCHY_SCALE

__all__ = ["reconcile", "Reconciled", "MIN_BASE_SD"]

MIN_BASE_SD = 0.01  # the base forecast's growth is never taken as known better than +-1 point a year


@dataclass(frozen=True)
class Reconciled:
    cube: Cube
    growth_base: float  # the base forecast's log growth per year
    growth: float  # the reconciled log growth per year
    used: tuple[str, ...]  # forecast-year claims weighed in
    method: str


def reconcile(market: Market, evidence: Evidence, history: Triangulation, base: BaseForecast) -> Reconciled:
    """The full cube, history and forecast years, USD bn."""
    T = market.years.base_year
    log_vt = float(np.log(history.total_usd_bn[-1]))
    steps = np.array([y - T for y in base.years], dtype=float)
    g_base = float(np.log(base.total_usd_bn[0]) - log_vt)  # drift: the same log step every year
    draw_growth = np.log(base.total_draws[:, -1] / base.total_draws[:, 0]) / max(1.0, steps[-1] - steps[0])
    rows = [(g_base, max(MIN_BASE_SD, float(np.std(draw_growth))))]
    used = []
    ratios = {market.definition.id: 1.0, **history.ratios}
    ratio_sd = {market.definition.id: 0.0, **history.ratio_log_sd}
    for item in evidence.items:
        c = item.claim
        if not is_whole_market(c) or c.definition not in ratios:
            continue
        if c.kind == "growth" and item.fraction is not None:
            period = growth_period(market, c)
            if period and period[1] > T:
                rows.append((float(np.log1p(item.fraction)), SIGMA_GROWTH[c.confidence]))
                used.append(c.id)
        elif c.kind == "size" and item.value_usd_bn and item.year is not None and item.year > T:
            n = item.year - T
            sd = float(np.hypot(SIGMA_LOG[c.confidence], ratio_sd[c.definition]))
            rows.append(((float(np.log(item.value_usd_bn / ratios[c.definition])) - log_vt) / n, sd / n))
            used.append(c.id)
    target = np.array([r[0] for r in rows])
    sd = np.array([r[1] for r in rows])
    fit = least_squares(lambda g: (g[0] - target) / sd, [g_base], loss="cauchy", f_scale=CAUCHY_SCALE)
    g = float(fit.x[0])
    shift = np.exp((g - g_base) * steps)
    years = history.years + base.years
    # forecast years: the base year's triangulated mix of leaf cells, draw by draw
    hist = history.cube
    mix = hist.value[-1] / hist.value[-1].sum()
    mix_draws = hist.draws[:, -1, :] / hist.draws[:, -1, :].sum(axis=1, keepdims=True)
    fc_total = base.total_usd_bn * shift
    fc_draws = base.total_draws * shift[None, :]
    cube = Cube(
        market.dimensions,
        years,
        np.concatenate([hist.value, fc_total[:, None] * mix[None, :]]),
        np.concatenate([hist.draws, fc_draws[:, :, None] * mix_draws[:, None, :]], axis=1),
        {y: "modelled" for y in years},
        evidenced=hist.evidenced,
    )
    method = (
        f"the base forecast's growth ({100 * np.expm1(g_base):.2f}% a year) weighed with {len(used)} forecast-year "
        f"claims about the whole market, under any definition through the estimated ratios (robust least squares, "
        f"Cauchy loss), gives {100 * np.expm1(g):.2f}% a year; the forecast total is divided top-down into leaf cells "
        f"by the {market.years.base_year} mix the triangulation found (draw by draw)"
    )
    return Reconciled(cube, g_base, g, tuple(used), method)
