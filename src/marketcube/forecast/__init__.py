"""Base forecasts for annual market series, with prediction intervals.

The base model comes from statsforecast: a random walk with drift fitted to the log of each
series, so forecasts stay positive and growth compounds at the series' average rate. On 5-10
yearly points of a triangulated (smooth) history, AutoETS often picks a model with no trend and
its intervals swing with the smoothing, so this first version does not use it; model selection,
combination and calibrated intervals come in issue 4 behind this same interface.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["forecast"]


def forecast(df: pd.DataFrame, h: int, levels: tuple[int, ...] = (80, 95)) -> pd.DataFrame:
    """Forecast every series of ``df`` (columns unique_id, ds as int year or index, y > 0).

    Returns unique_id, ds (continuing each series' ds), y_hat and lo_L / hi_L for each level L
    (percent). Units are those of y. Series need at least two points.
    """
    from statsforecast import StatsForecast
    from statsforecast.models import RandomWalkWithDrift

    if (df["y"] <= 0).any():
        raise ValueError("forecast needs positive y (market sizes); got a zero or negative value")
    short = df.groupby("unique_id").size()
    if (short < 2).any():
        raise ValueError(f"series with fewer than two points: {', '.join(map(str, short[short < 2].index))}")
    work = df[["unique_id", "ds", "y"]].copy()
    work["y"] = np.log(work["y"].astype(float))
    work["ds"] = work["ds"].astype(int)
    sf = StatsForecast(models=[RandomWalkWithDrift()], freq=1, n_jobs=1)
    fc = sf.forecast(df=work, h=h, level=list(levels))
    out = pd.DataFrame({"unique_id": fc["unique_id"], "ds": fc["ds"].astype(int)})
    out["y_hat"] = np.exp(fc["RWD"].to_numpy())
    for lv in levels:
        out[f"lo_{lv}"] = np.exp(fc[f"RWD-lo-{lv}"].to_numpy())
        out[f"hi_{lv}"] = np.exp(fc[f"RWD-hi-{lv}"].to_numpy())
    return out.reset_index(drop=True)
