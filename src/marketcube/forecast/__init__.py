"""Base forecasts for annual market series, with prediction intervals.

Base models come from statsforecast (AutoETS and random walk with drift), fitted to the log of
each series so that forecasts stay positive and growth compounds. The point forecast is the
drift model's (the series' average compound growth carried on): on 5-10 yearly points AutoETS
often picks a model with no trend, and averaging it in would halve the growth for no reason in
the data. Each interval is the union of the two models' intervals (the wider bound of each side),
a conservative choice for short series. Later work (issue 4) adds
model selection, calibrated intervals and growth hints on top of this interface.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["forecast"]


def forecast(df: pd.DataFrame, h: int, levels: tuple[int, ...] = (80, 95)) -> pd.DataFrame:
    """Forecast every series of ``df`` (columns unique_id, ds as int year or index, y > 0).

    Returns unique_id, ds (continuing each series' ds), y_hat and lo_L / hi_L for each level L
    (percent). Units are those of y.
    """
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, RandomWalkWithDrift

    if (df["y"] <= 0).any():
        raise ValueError("forecast needs positive y (market sizes); got a zero or negative value")
    work = df[["unique_id", "ds", "y"]].copy()
    work["y"] = np.log(work["y"].astype(float))
    work["ds"] = work["ds"].astype(int)
    # AutoETS refuses series too short to fit (fewer than ~6 points): drift stands in for it there
    sf = StatsForecast(
        models=[AutoETS(season_length=1), RandomWalkWithDrift()], freq=1, n_jobs=1, fallback_model=RandomWalkWithDrift()
    )
    fc = sf.forecast(df=work, h=h, level=list(levels))
    names = ("AutoETS", "RWD")
    out = pd.DataFrame({"unique_id": fc["unique_id"], "ds": fc["ds"].astype(int)})
    out["y_hat"] = np.exp(fc["RWD"].to_numpy())
    for lv in levels:
        out[f"lo_{lv}"] = np.exp(np.min([fc[f"{n}-lo-{lv}"] for n in names], axis=0))
        out[f"hi_{lv}"] = np.exp(np.max([fc[f"{n}-hi-{lv}"] for n in names], axis=0))
    return out.reset_index(drop=True)
