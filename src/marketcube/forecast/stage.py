"""The forecast stage: base forecasts of the triangulated history, carrying the history's uncertainty.

Every series of the cube's margins (the total and every member of every dimension, USD bn,
nominal, calendar years) is forecast in one call of ``forecast_detail``, so the conformal errors
of the intervals are pooled across them. The total's forecast is what reconciliation weighs today;
the others, with their residuals and sample paths, are kept for reconciliation by projection.

A level that the evidence pins only to +-30% cannot be forecast to +-5%, nor a growth rate it pins
only to +-3 points: draw d of the total's forecast starts from draw d of the base-year level, grows
at draw d's own average history growth, and takes sample path d of the base model (its own,
calibrated uncertainty; a path is a path, so draws stay draws).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..pack import Market
from ..solve.evidence import SEED, Triangulation as History
from ._engine import Forecasts, forecast_detail

__all__ = ["BaseForecast", "forecast_total"]

TOTAL = "total"


@dataclass(frozen=True)
class BaseForecast:
    """Base forecasts of the forecast years, USD bn (nominal, calendar years)."""

    years: tuple[int, ...]
    total_usd_bn: np.ndarray  # (years,) point forecast of the total
    total_draws: np.ndarray  # (draws, years), history uncertainty included
    model_lo95: np.ndarray  # the base model's own 95% interval of the total, before the history's uncertainty
    model_hi95: np.ndarray
    method: str
    series: Forecasts | None = field(default=None, repr=False)  # every margin series; ids below
    series_selections: dict[str, tuple] = field(default_factory=dict, repr=False)  # id -> cube selection


def _margins(market: Market, history: History) -> tuple[pd.DataFrame, dict[str, tuple]]:
    years = list(history.years)
    frames = [pd.DataFrame({"unique_id": TOTAL, "ds": years, "y": history.total_usd_bn})]
    selections: dict[str, tuple] = {TOTAL: ()}
    for dim in market.dimensions:
        for m in dim.members:
            sel = ((dim.id, m.id),)
            point, _ = history.cube.series(sel)
            uid = f"{dim.id}={m.id}"
            selections[uid] = sel
            frames.append(pd.DataFrame({"unique_id": uid, "ds": years, "y": np.maximum(point, 0.0)}))
    return pd.concat(frames, ignore_index=True), selections


def forecast_total(market: Market, history: History) -> BaseForecast:
    base = market.years.base_year
    h = market.model_end - base
    hist = np.log(history.cube.draws.sum(axis=2))  # (draws, history years), log USD bn
    n_draws = hist.shape[0]
    df, selections = _margins(market, history)
    fc = forecast_detail(df, h, (80, 95), paths=n_draws, seed=SEED + 1)
    i = fc.series.index(TOTAL)
    total = fc.frame[fc.frame["unique_id"] == TOTAL]
    years = tuple(int(y) for y in total["ds"])
    point = total["y_hat"].to_numpy()
    model_ratio = fc.paths[i] / point[None, :]  # (draws, years): the base model's own uncertainty
    log_point = np.log(history.total_usd_bn)
    span = len(history.years) - 1
    start = hist[:, -1] - log_point[-1]
    growth = (hist[:, -1] - hist[:, 0] - (log_point[-1] - log_point[0])) / span  # draw's growth minus the point's
    steps = np.arange(1, h + 1)
    draws = point[None, :] * np.exp(start[:, None] + growth[:, None] * steps[None, :]) * model_ratio
    how = fc.methods[i]
    cal = fc.calibration
    empirical = sum(1 for s in cal.source if s == "empirical")
    method = (
        f"marketcube's forecast engine on the triangulated total and its {len(selections) - 1} margin series "
        f"({how.n_points} years each): the mean of statsforecast's DynamicOptimizedTheta, random walk with drift "
        f"and Theta on log y, steps damped to the history's fastest year; intervals from backtests inside the "
        f"history pooled across the series (conformal; {empirical} of {h} horizons from their own errors, the "
        f"rest rescaled by the random-walk-with-drift shape); each draw starts from its own {base} level and grows "
        f"at its own history growth, times one sample path of the model"
    )
    return BaseForecast(years, point, draws, total["lo_95"].to_numpy(), total["hi_95"].to_numpy(), method,
                        fc, selections)
