"""The reconcile stage: coherent forecasts of every series of the cube, informed by the claims about
forecast years, with intervals that add up draw by draw.

The base forecasts of every series of the hierarchy (forecast stage) are projected onto coherent
forecasts by the projection mode of the solver (``solve.project``, exact generalised least squares)
with ``METHOD`` weights, non-negative. Claims about forecast years enter the same projection as
extra weighted rows (``project.Claim``), each in USD bn of the target definition:

- a size of a forecast year, under the target definition or a related one through the ratio the
  triangulation estimated: ``V(t) = value / ratio``, sd ``value / ratio * hypot(SIGMA_LOG, ratio sd)``;
- a CAGR whose period starts in the history and ends in a forecast year: a size,
  ``V(t2) = V_history(t1) (1 + g)^(t2 - t1)``, sd that value times ``SIGMA_GROWTH * (t2 - t1)``;
- a CAGR whose period lies in the forecast years: ``V(t2) - (1 + g)^(t2 - t1) V(t1) = 0``, sd the
  base forecast of ``V(t2)`` times ``SIGMA_GROWTH * (t2 - t1)``.

Claims about a segment (a selection of the cube's members) are judged against the result but not
weighed (``Reconciled.judged_only``): the projection treats the forecast years independently (one
weight per series and year, no covariance across years), so a claim about one year of a segment
bends that year alone. Weighed in on the CMO market, India's CAGRs (13.6% over 2025-2030, 14.67% over
2024-2029) took India from USD 10.1 bn in 2024 to 9.4 in 2025, 16.6 in 2029 and back to 15.8 in
2031. A claim about the whole market moves the total, which every series shares, and bends nothing
visible. ``project.reconcile`` itself takes segment claims (the reconciliation benchmark uses them).

The draws of the forecast years are the forecast stage's joint sample paths, each reconciled with
the same projection (claims redrawn from their sd per draw), floored at zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..cube import Cube
from ..evidence import Evidence
from ..forecast.stage import BaseForecast
from ..pack import Market
from ..validate import growth_period
from . import project
from .evidence import SEED, SIGMA_GROWTH, SIGMA_LOG, Triangulation

__all__ = ["reconcile", "Reconciled", "METHOD"]

# WLS with variance scaling: claims about forecast years are rows weighted by 1/sd^2, which only
# means something beside series weighted by their own error variance (WLS-var, MinT). Of those two,
# MinT-shrink needs more residuals than short histories give: on the reconciliation benchmark's
# synthetic markets it was the least accurate projection at every size (benchmarks/reconcile.py).
# (Without claims, OLS was the most accurate projection at 10k and 50k bottom series there and
# WLS-var at 1k.)
METHOD = "wls_var"


@dataclass(frozen=True)
class Reconciled:
    cube: Cube
    used: tuple[str, ...]  # forecast-year claims weighed in
    judged_only: tuple[str, ...]  # forecast-year claims about segments: judged, not weighed (module docstring)
    fits: tuple[project.ClaimFit, ...]
    method: str
    reconciliation: project.Reconciliation


def _claims(market: Market, evidence: Evidence, history: Triangulation, base: BaseForecast
            ) -> tuple[list[project.Claim], list[str]]:
    """The forecast-year claims to weigh, and the ids of those about segments (not weighed)."""
    T = market.years.base_year
    ratios = {market.definition.id: (1.0, 0.0), **{d: (r, history.ratio_log_sd[d]) for d, r in history.ratios.items()}}
    dims = {d.id: {m.id for m in d.members} for d in market.dimensions}
    cube = history.cube
    out = []
    sel_of: dict[str, tuple] = {}
    for item in evidence.items:
        c = item.claim
        if c.definition not in ratios or (c.member_as_written and not c.selection):
            continue
        sel = tuple(sorted({**dict(c.parent), **dict(c.selection)}.items()))
        sel_of[c.id] = sel
        if any(d not in dims or m not in dims[d] for d, m in sel):
            continue
        leaves = np.flatnonzero(cube.aggregation([sel]).toarray()[0])
        if leaves.size == 0:
            continue
        if c.kind == "size" and item.value_usd_bn and item.year is not None and T < item.year <= T + len(base.years):
            ratio, ratio_sd = ratios[c.definition]
            value = item.value_usd_bn / ratio
            sd = value * float(np.hypot(SIGMA_LOG[c.confidence], ratio_sd))
            out.append(project.Claim(c.id, ((leaves, item.year - T - 1, 1.0),), value, sd))
        elif c.kind == "growth" and item.fraction is not None:
            period = growth_period(market, c)
            if not period or period[1] <= T or period[1] > T + len(base.years) or period[0] >= period[1]:
                continue
            t1, t2 = period
            n = t2 - t1
            factor = (1.0 + item.fraction) ** n
            if t1 <= T:
                if t1 not in history.years:
                    continue
                start, _ = cube.series(sel)
                value = float(start[history.years.index(t1)]) * factor
                if value <= 0:
                    continue
                out.append(project.Claim(c.id, ((leaves, t2 - T - 1, 1.0),), value, value * SIGMA_GROWTH[c.confidence] * n))
            else:
                scale = float(base.point[-cube.value.shape[1]:][leaves, t2 - T - 1].sum())  # leaf cells come last
                terms = ((leaves, t2 - T - 1, 1.0), (leaves, t1 - T - 1, -factor))
                out.append(project.Claim(c.id, terms, 0.0, max(scale, 1e-9) * SIGMA_GROWTH[c.confidence] * n))
    weighed = [c for c in out if not sel_of[c.id]]
    return weighed, [c.id for c in out if sel_of[c.id]]


def _times(x: float) -> str:
    return f"{x:,.1f} times" if x < 100 else f"{x:,.0f} times"


def reconcile(market: Market, evidence: Evidence, history: Triangulation, base: BaseForecast) -> Reconciled:
    """The full cube, history and forecast years, USD bn."""
    claims, judged_only = _claims(market, evidence, history, base)
    # in units of the base year's total, so that the weights' absolute floor (2e-8, as in the
    # reference implementation) cannot make the answer depend on the currency unit
    unit = float(history.total_usd_bn[-1]) or 1.0
    scaled = [project.Claim(c.id, c.terms, c.value / unit, c.sd / unit) for c in claims]
    # the weights are one-step residual variances; a forecast year's error is larger (the history's
    # level and growth uncertainty, and the steps in between): k_t, the median over the series of the
    # base paths' variance in year t over the series' weight, scales the weights of year t so that a
    # claim weighs against the forecast's real uncertainty that year
    resid = base.residuals / unit
    h = project.hierarchy(base.S)  # validated and planned once, for the weights and the projection
    weight = project.weights(h, METHOD, resid).diag
    k = np.median(np.var(base.paths / unit, axis=0) / weight[:, None], axis=0)
    k = np.maximum(k, 1.0)
    rec = project.reconcile(base.point / unit, h, METHOD, residuals=resid, nonnegative=True, claims=scaled,
                            horizon_scale=k)
    _, bottom = project.intervals(rec, base.paths / unit, (80, 95), seed=SEED + 2, keep_bottom=True)
    fc_draws = np.maximum(bottom.transpose(0, 2, 1).astype(np.float64), 0.0) * unit  # (draws, years, leaves)
    fits = tuple(project.ClaimFit(f.id, f.value * unit, f.fitted * unit, f.sd * unit, f.z, f.verdict) for f in rec.claims)
    hist = history.cube
    years = history.years + base.years
    cube = Cube(
        market.dimensions,
        years,
        np.concatenate([hist.value, rec.bottom.T * unit]),
        np.concatenate([hist.draws, fc_draws], axis=1),
        {y: "modelled" for y in years},
        evidenced=hist.evidenced,
    )
    n = base.S.shape[0]
    method = (
        f"the base forecasts of all {n} series are projected onto forecasts that add up (generalised least squares "
        f"with variance scaling, WLS-var: weights from each series' in-sample residuals; non-negative), with "
        f"{len(claims)} claims about the whole market's forecast years as extra weighted rows (under related "
        f"definitions through the estimated ratios; each judged against the result in the evidence table"
        f"{_judged_only_text(len(judged_only))}), the forecasts' weights in each "
        f"year scaled to their base paths' variance that year (from {_times(k[0])} the one-step residual variance in "
        f"{base.years[0]} to {_times(k[-1])} in {base.years[-1]}); the draws of the forecast years are the base "
        f"forecasts' joint sample paths, each projected the same way (claims redrawn from their sd per draw) and "
        f"floored at zero"
    )
    return Reconciled(cube, tuple(c.id for c in claims), tuple(judged_only), fits, method, rec)


def _judged_only_text(n: int) -> str:
    if not n:
        return ""
    what = "1 claim" if n == 1 else f"{n} claims"
    return (f"; {what} about segments' forecast years judged only, not weighed: the projection treats each year "
            "apart, so such a claim would bend its segment in the years it names and no other")
