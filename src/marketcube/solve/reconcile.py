"""Reconciliation, simple method: top-down by the assumed splits, so parts add up in every year.

The forecast total (and each of its draws) is divided into leaf cells by the same split draws as
the history, which keeps every aggregate equal to the sum of its parts and every draw coherent.
Issue 5 replaces this with projection (bottom-up, OLS, WLS, MinT) over forecasts of every series.
"""

from __future__ import annotations

import numpy as np

from ..cube import Cube
from ..forecast.stage import BaseForecast
from ..pack import Market
from .triangulate import History, build_cube

__all__ = ["reconcile", "METHOD"]

METHOD = "top-down: the forecast total divided into leaf cells by the assumed splits (same draws as the history)"


def reconcile(market: Market, history: History, base: BaseForecast) -> Cube:
    """The full cube, history and forecast years, USD bn."""
    years = history.years + base.years
    total = np.concatenate([history.total_usd_bn, base.total_usd_bn])
    hist_draws = history.cube.draws.sum(axis=2)
    total_draws = np.concatenate([hist_draws, base.total_draws], axis=1)
    provenance = {y: "modelled" for y in years}
    return build_cube(market, years, total, total_draws, history.shares, provenance)
