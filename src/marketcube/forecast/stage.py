"""The forecast stage: base forecasts of every series of the cube, carrying the history's uncertainty.

Every series of the market's hierarchy (the total; every member of every dimension at every depth;
every crossing of those; the leaf cells) is forecast from its triangulated history (USD bn,
nominal, calendar years) in one call of ``forecast_detail``, so the conformal errors of the
intervals are pooled across them. Reconciliation then makes them add up.

A level that the evidence pins only to +-30% cannot be forecast to +-5%, nor a growth rate it pins
only to +-3 points: draw d of series i's forecast starts from draw d of the series' base-year level,
grows at draw d's own average history growth, and takes sample path d of the base model (its own,
calibrated uncertainty). The history draws are joint across series, so the paths keep the
history's correlation between series.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..cube import Selection
from ..pack import Market
from ..solve.evidence import SEED, Triangulation as History
from ._engine import ANALOGUES, Forecasts, forecast_detail

__all__ = ["BaseForecast", "forecast_cube", "hierarchy_selections"]


@dataclass(frozen=True)
class BaseForecast:
    """Base forecasts of the forecast years for every series, USD bn (nominal, calendar years).

    Series are the rows of ``S`` (series x the cube's leaves, 0/1), one selection each, the total
    first and the leaf cells last, level by level."""

    years: tuple[int, ...]
    selections: tuple[Selection, ...]
    S: sp.csr_matrix = field(repr=False)
    point: np.ndarray = field(repr=False)  # (series, years)
    paths: np.ndarray = field(repr=False)  # (draws, series, years), the history's uncertainty included
    residuals: np.ndarray = field(repr=False)  # (series, T): in-sample one-step residuals, USD bn
    method: str = ""
    detail: Forecasts | None = field(default=None, repr=False)

    @property
    def total_usd_bn(self) -> np.ndarray:
        return self.point[0]

    @property
    def total_draws(self) -> np.ndarray:
        return self.paths[:, 0, :]


def hierarchy_selections(market: Market) -> list[Selection]:
    """Every crossing of every depth of every dimension, coarsest first, the leaf cells last (each
    level a partition of the leaves: a leaf shallower than the level's depth stands for itself)."""
    per_dim = []
    for d in market.dimensions:
        chains = [list(reversed((leaf.id, *d.ancestors(leaf.id)))) for leaf in d.leaves]  # top first
        depth = max(len(c) for c in chains)
        options = [None] + [[c[min(k, len(c) - 1)] for c in chains] for k in range(depth)]
        per_dim.append((d.id, options))
    leaves = list(itertools.product(*[range(len(d.leaves)) for d in market.dimensions]))
    out: list[Selection] = []
    seen: set = set()
    combos = sorted(itertools.product(*[range(len(opts)) for _, opts in per_dim]), key=lambda c: (sum(c), c))
    for combo in combos:
        for leaf in leaves:
            sel = tuple(sorted((dim, opts[k][leaf[i]]) for i, ((dim, opts), k) in enumerate(zip(per_dim, combo)) if k))
            if sel not in seen:
                seen.add(sel)
                out.append(sel)
    return out


def forecast_cube(market: Market, history: History) -> BaseForecast:
    base = market.years.base_year
    h = market.model_end - base
    cube = history.cube
    selections = hierarchy_selections(market)
    S = cube.aggregation(selections)
    hist, hist_draws = cube.sums(S)  # (series, history years), (draws, series, history years)
    n, n_years = hist.shape
    ids = [f"s{i}" for i in range(n)]
    years = list(history.years)
    df = pd.DataFrame({"unique_id": np.repeat(ids, n_years), "ds": np.tile(years, n), "y": np.maximum(hist, 0.0).ravel()})
    n_draws = cube.draws.shape[0]
    fc = forecast_detail(df, h, (80, 95), paths=n_draws, seed=SEED + 1)
    # the frame and the residuals hold each series' rows together, in the order of ``fc.series``,
    # h forecast years and the history's years each (forecast_detail's contract)
    at = {uid: k for k, uid in enumerate(fc.series)}
    order = [at[i] for i in ids]
    point = fc.frame["y_hat"].to_numpy().reshape(len(fc.series), h)[order]  # (series, h)
    out_years = tuple(int(y) for y in fc.frame["ds"].to_numpy()[at[ids[0]] * h : (at[ids[0]] + 1) * h])
    res = fc.residuals["residual"].to_numpy().reshape(len(fc.series), n_years)[order]
    residuals = res[:, ~np.isnan(res).any(axis=0)]
    # draws: the history's draw d (level and growth) times the model's sample path d
    with np.errstate(divide="ignore", invalid="ignore"):
        log_p = np.log(np.where(hist > 0, hist, np.nan))
        log_d = np.log(np.where(hist_draws > 0, hist_draws, np.nan))
        start = np.nan_to_num(log_d[:, :, -1] - log_p[None, :, -1])
        growth = np.nan_to_num((log_d[:, :, -1] - log_d[:, :, 0] - (log_p[None, :, -1] - log_p[None, :, 0])) / max(1, n_years - 1))
        model_ratio = np.where(point[None] > 0, fc.paths[order].transpose(1, 0, 2) / point[None], 1.0)
    steps = np.arange(1, h + 1)
    paths = point[None] * np.exp(start[:, :, None] + growth[:, :, None] * steps) * model_ratio
    cal = fc.calibration
    empirical = sum(1 for s in cal.source if s == "empirical")
    pooled = sum(1 for m in fc.methods if ANALOGUES in m.models)
    analogues = (f", with, for {pooled} series, the futures of the most similar stretches of the series' histories "
                 f"(its own earlier years included) as a fourth member" if pooled else "")
    method = (
        f"marketcube's forecast engine on the triangulated history ({n_years} years) of all {n} series of the "
        f"hierarchy (the total, every member and every crossing of the dimensions, the {cube.value.shape[1]} leaf "
        f"cells): the mean of statsforecast's DynamicOptimizedTheta, random walk with drift and Theta on log y{analogues}, "
        f"steps damped to the history's fastest year; intervals from backtests inside the history pooled across the series "
        f"(conformal; {empirical} of {h} horizons from their own errors, the rest rescaled by the random-walk-with-drift "
        f"shape); each draw starts from its own {base} level and grows at its own history growth, times one sample "
        f"path of the model"
    )
    return BaseForecast(out_years, tuple(selections), S, point, paths, residuals, method, fc)
