"""The reconcile stage: coherent forecasts of every series of the cube, informed by the claims about
forecast years, with intervals that add up draw by draw.

The base forecasts of every series of the hierarchy (forecast stage) are projected onto coherent
forecasts by the projection mode of the solver (``solve.project``, exact generalised least squares)
with ``METHOD`` weights, non-negative. Claims about forecast years enter the same projection as
extra weighted rows (``project.Claim``), each in USD bn of the target definition:

- a size of a forecast year, under the target definition or a related one through the ratio the
  triangulation estimated, less its publisher family's bias the triangulation estimated:
  ``V(t) = value / ratio / exp(bias)``;
- a CAGR whose period starts in the history and ends in a forecast year: a size,
  ``V(t2) = V_history(t1) (1 + g)^(t2 - t1)``;
- a CAGR whose period lies in the forecast years: ``V(t2) - (1 + g)^(t2 - t1) V(t1) = 0``.

Their errors, as in the triangulation: each claim's own (``SIGMA_LOG`` for a size,
``SIGMA_GROWTH * (t2 - t1)`` for a CAGR, by confidence, times the vintage factor for a claim made
years before the year it describes), and the errors claims share (``project.Claim.shared``): a
related definition's ratio to the target (its sd), a publisher family's bias (``FAMILY_SD``), and a
CAGR's anchor, the history's estimate of its start year (the history draws' sd; in each draw, the
draw's own history value, the one its base path starts from). Counted as independent, twenty claims
pinned the CMO total's 2025 interval to two thirds of the width the history gives 2024.

Claims about a segment (a selection of the cube's members) enter the same way through the leaf
cells they cover.

The forecasts' errors are correlated across years (a path that starts high stays high): the
projection takes their correlation from the base paths (``_horizon_corr``), so a claim about one
year moves the years around it as far as their errors go together. With years treated apart, each
claim bent the year it names alone: the CMO total grew 8.6% in 2032 and 2.9% in 2033, and India
(had its claims been weighed) went from USD 10.1 bn in 2024 to 9.4 in 2025, 16.6 in 2029 and back
to 15.8 in 2031.

The claims are weighed robustly (``project.reconcile(robust=CAUCHY)``, the triangulation's scale):
one far from the forecasts and from the other claims loses weight instead of dragging a segment.

The draws of the forecast years are the forecast stage's joint sample paths, each reconciled with
the same projection (claims redrawn per draw from their errors, anchors from the draw's history),
floored at zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..cube import Cube
from ..evidence import Evidence
from ..forecast.stage import BaseForecast
from ..pack import Market
from . import project
from .core import CAUCHY, FAMILY_SD
from .evidence import SEED, SIGMA_GROWTH, SIGMA_LOG, Triangulation, family_of, vintage_factor

__all__ = ["reconcile", "Reconciled", "METHOD"]

# WLS with variance scaling: claims about forecast years are rows weighted by 1/sd^2, which only
# means something beside series weighted by their own error variance (WLS-var, MinT). Of those two,
# MinT-shrink needs more residuals than short histories give: on the reconciliation benchmark's
# synthetic markets it was the least accurate projection at every size (benchmarks/reconcile.py).
# (Without claims, OLS was the most accurate projection at 10k and 50k bottom series there and
# WLS-var at 1k.)
METHOD = "wls_var"
OWN_YEAR_VARIANCE = 0.05  # share of a forecast year's error variance not shared with the other years (assumed)


@dataclass(frozen=True)
class Reconciled:
    cube: Cube
    used: tuple[str, ...]  # forecast-year claims weighed in
    fits: tuple[project.ClaimFit, ...]
    method: str
    reconciliation: project.Reconciliation


def _claims(market: Market, evidence: Evidence, history: Triangulation, base: BaseForecast
            ) -> tuple[list[project.Claim], dict[str, np.ndarray]]:
    """The claims about forecast years, and the scores of their history anchors in each draw."""
    T = market.years.base_year
    ratios = {market.definition.id: (1.0, 0.0), **{d: (r, history.ratio_log_sd[d]) for d, r in history.ratios.items()}}
    dims = {d.id: {m.id for m in d.members} for d in market.dimensions}
    cube = history.cube
    bias = history.family_log_bias
    out = []
    anchors: dict[str, np.ndarray] = {}
    for item in evidence.items:
        c = item.claim
        if c.definition not in ratios or (c.member_as_written and not c.selection):
            continue
        sel = tuple(sorted({**dict(c.parent), **dict(c.selection)}.items()))
        if any(d not in dims or m not in dims[d] for d, m in sel):
            continue
        leaves = np.flatnonzero(cube.aggregation([sel]).toarray()[0])
        if leaves.size == 0:
            continue
        if c.kind == "size" and item.value_usd_bn and item.year is not None and T < item.year <= T + len(base.years):
            ratio, ratio_sd = ratios[c.definition]
            family = family_of(market, c.source) if c.source else None
            # in the target's terms, and without the bias the history found in its publisher's sizes
            value = item.value_usd_bn / ratio / np.exp(bias.get(family, 0.0))
            # errors it shares: its definition's ratio to the target, its publisher family's bias
            shared = ((f"ratio {c.definition}", value * ratio_sd),) if ratio_sd else ()
            if family:
                shared += ((f"family {family}", value * FAMILY_SD),)
            own = SIGMA_LOG[c.confidence] * vintage_factor(market, c.source, item.year)
            out.append(project.Claim(c.id, ((leaves, item.year - T - 1, 1.0),), value, value * own, shared))
        elif c.kind == "growth" and item.fraction is not None:
            period = history.period_of(market, c)  # the convention the history read it by
            if not period or period[1] <= T or period[1] > T + len(base.years) or period[0] >= period[1]:
                continue
            t1, t2 = period
            n = t2 - t1
            factor = (1.0 + item.fraction) ** n
            own = SIGMA_GROWTH[c.confidence] * vintage_factor(market, c.source, t2) * n
            if t1 <= T:
                if t1 not in history.years:
                    continue
                start, start_draws = cube.series(sel)
                at = history.years.index(t1)
                value = float(start[at]) * factor
                if value <= 0:
                    continue
                # the anchor is the history's estimate of the start year, as uncertain as the
                # history says: an error every claim anchored there shares, and in each draw the
                # draw's own history value (the one its base path starts from)
                spread = float(np.std(start_draws[:, at]))
                shared = ()
                if spread > 0:
                    name = f"history {sel} {t1}"
                    anchors[name] = (start_draws[:, at] - start[at]) / spread
                    shared = ((name, value * spread / float(start[at])),)
                out.append(project.Claim(c.id, ((leaves, t2 - T - 1, 1.0),), value, value * own, shared))
            else:
                scale = float(base.point[-cube.value.shape[1]:][leaves, t2 - T - 1].sum())  # leaf cells come last
                terms = ((leaves, t2 - T - 1, 1.0), (leaves, t1 - T - 1, -factor))
                out.append(project.Claim(c.id, terms, 0.0, max(scale, 1e-9) * own))
    return out, anchors


def _times(x: float) -> str:
    return f"{x:,.1f} times" if x < 100 else f"{x:,.0f} times"


def reconcile(market: Market, evidence: Evidence, history: Triangulation, base: BaseForecast) -> Reconciled:
    """The full cube, history and forecast years, USD bn."""
    claims, anchors = _claims(market, evidence, history, base)
    # in units of the base year's total, so that the weights' absolute floor (2e-8, as in the
    # reference implementation) cannot make the answer depend on the currency unit
    unit = float(history.total_usd_bn[-1]) or 1.0
    scaled = [project.Claim(c.id, c.terms, c.value / unit, c.sd / unit, tuple((k_, v / unit) for k_, v in c.shared))
              for c in claims]
    # the weights are one-step residual variances; a forecast year's error is larger (the history's
    # level and growth uncertainty, and the steps in between): k_t, the median over the series of the
    # base paths' variance in year t over the series' weight, scales the weights of year t so that a
    # claim weighs against the forecast's real uncertainty that year
    resid = base.residuals / unit
    h = project.hierarchy(base.S)  # validated and planned once, for the weights and the projection
    weight = project.weights(h, METHOD, resid).diag
    k = np.median(np.var(base.paths / unit, axis=0) / weight[:, None], axis=0)
    k = np.maximum(k, 1.0)
    corr = _horizon_corr(base.paths)
    rec = project.reconcile(base.point / unit, h, METHOD, residuals=resid, nonnegative=True, claims=scaled,
                            horizon_scale=k, horizon_corr=corr, robust=CAUCHY)
    _, bottom = project.intervals(rec, base.paths / unit, (80, 95), seed=SEED + 2, keep_bottom=True,
                                  shared_scores=anchors)
    fc_draws = np.maximum(bottom.transpose(0, 2, 1).astype(np.float64), 0.0) * unit  # (draws, years, leaves)
    fits = tuple(project.ClaimFit(f.id, f.value * unit, f.fitted * unit, f.sd * unit, f.z, f.verdict, f.weight)
                 for f in rec.claims)
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
    segments = {i.claim.id for i in evidence.items if i.claim.selection or i.claim.parent}
    n_segment = sum(1 for c in claims if c.id in segments)
    low = sum(1 for f in fits if f.weight < 0.5)
    if claims:
        weighed = (
            f"{len(claims)} claims about forecast years ({n_segment} of them about segments) as extra rows, each with "
            f"its own error and the errors it shares with others (a related definition's estimated ratio, a "
            f"publisher family's bias, a CAGR's start year in the history), weighted robustly (Cauchy, scale "
            f"{CAUCHY:g} standardised residuals: {low} kept less than half their weight) and judged against the "
            f"result in the evidence table"
        )
    else:
        weighed = "no claims about forecast years"
    years = (
        f"from {_times(k[0])} the one-step residual variance in {base.years[0]} to {_times(k[-1])} in "
        f"{base.years[-1]}) and their errors correlated across years as the base paths are (from {corr[0, 1]:.2f} "
        f"between {base.years[0]} and {base.years[1]} to {corr[0, -1]:.2f} between {base.years[0]} and "
        f"{base.years[-1]}), so that a claim about one year moves the years around it"
    ) if len(base.years) > 1 else f"{_times(k[0])} the one-step residual variance in {base.years[0]})"
    method = (
        f"the base forecasts of all {n} series are projected onto forecasts that add up (generalised least squares "
        f"with variance scaling, WLS-var: weights from each series' in-sample residuals; non-negative), with "
        f"{weighed}; the forecasts' weights in each year scaled to their base paths' variance that year ({years}; "
        f"the draws of the forecast years are the base forecasts' joint sample paths, each projected the same way "
        f"(claims redrawn per draw, a CAGR's start from the draw's own history) and floored at zero"
    )
    return Reconciled(cube, tuple(c.id for c in claims), fits, method, rec)


def _horizon_corr(paths: np.ndarray) -> np.ndarray:
    """The forecast errors' correlation across years: the base paths' (draws, series, years)
    correlation between years, averaged over the series that vary, with ``OWN_YEAR_VARIANCE`` of
    each year's variance its own (the paths come from a few random factors per draw, level, growth
    and one quantile, so their correlation is nearly singular; real errors also have a part of
    their own each year)."""
    sd = paths.std(axis=0)
    ok = (sd > 0).all(axis=1)
    n_h = paths.shape[2]
    if not ok.any():
        return np.eye(n_h)
    z = (paths[:, ok] - paths[:, ok].mean(axis=0)) / sd[ok]
    R = np.einsum("dit,dis->ts", z, z) / (z.shape[0] * z.shape[1])
    R = (R + R.T) / 2
    np.fill_diagonal(R, 1.0)
    return (1.0 - OWN_YEAR_VARIANCE) * R + OWN_YEAR_VARIANCE * np.eye(n_h)
