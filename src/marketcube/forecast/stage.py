"""The forecast stage: base forecasts of the triangulated total, carrying the history's uncertainty.

A level that the evidence pins only to +-30% cannot be forecast to +-5%, nor a growth rate it pins
only to +-3 points: each draw of the forecast starts from the same draw of the base-year level and
grows at that draw's own average history growth, then adds the base model's own uncertainty
(log-normal with the width of its 95% interval, one standard normal per draw so a path is a path).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..pack import Market
from ..solve.evidence import SEED, Triangulation as History
from . import forecast

__all__ = ["BaseForecast", "forecast_total"]

Z95 = 1.959963984540054


@dataclass(frozen=True)
class BaseForecast:
    years: tuple[int, ...]
    total_usd_bn: np.ndarray  # (years,) point forecast
    total_draws: np.ndarray  # (draws, years), history uncertainty included
    model_lo95: np.ndarray  # the base models' own 95% interval, before the history's uncertainty
    model_hi95: np.ndarray
    method: str


def forecast_total(market: Market, history: History) -> BaseForecast:
    base = market.years.base_year
    h = market.model_end - base
    df = pd.DataFrame({"unique_id": "total", "ds": list(history.years), "y": history.total_usd_bn})
    fc = forecast(df, h, levels=(95,))
    years = tuple(int(y) for y in fc["ds"])
    point = fc["y_hat"].to_numpy()
    sigma = (np.log(fc["hi_95"].to_numpy()) - np.log(fc["lo_95"].to_numpy())) / (2 * Z95)
    hist = np.log(history.cube.draws.sum(axis=2))  # (draws, history years), log USD bn
    log_point = np.log(history.total_usd_bn)
    span = len(history.years) - 1
    start = hist[:, -1] - log_point[-1]
    growth = (hist[:, -1] - hist[:, 0] - (log_point[-1] - log_point[0])) / span  # draw's growth minus the point's
    steps = np.arange(1, h + 1)
    z = np.random.default_rng(SEED + 1).standard_normal(hist.shape[0])
    draws = point[None, :] * np.exp(start[:, None] + growth[:, None] * steps[None, :] + sigma[None, :] * z[:, None])
    method = (
        "statsforecast random walk with drift on the log of the triangulated total (the history's compound "
        f"average growth carried on); each draw starts from its own {base} level and grows at its own "
        "history growth, plus the drift model's own interval"
    )
    return BaseForecast(years, point, draws, fc["lo_95"].to_numpy(), fc["hi_95"].to_numpy(), method)
