"""The cube in long form, one row per series and year, written as Parquet by DuckDB.

Columns: ``year``; one column per dimension holding the member the series selects in it, or
``*`` where the series sums the whole dimension; ``aggregate`` (the series sums more than one leaf
cell); ``measure`` (``size``); ``value``; ``unit`` (``USD bn``); ``lo80``, ``hi80``, ``lo95``,
``hi95`` (from the cube's joint draws, so an aggregate's interval is that of its sum, not a sum of
intervals); ``provenance`` (sourced, derived, modelled, assumed); ``period`` (history or forecast).
Every series of the cube's hierarchy is there: the total, every member and every crossing of the
dimensions at every depth, the leaf cells. Full precision, no rounding.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ..pipeline import Run

__all__ = ["cube_frame", "write_parquet", "ALL"]

ALL = "*"


def cube_frame(run: Run) -> pd.DataFrame:
    from ..forecast.stage import hierarchy_selections

    cube, market = run.cube, run.market
    selections = hierarchy_selections(market)
    S = cube.aggregation(selections)
    value, draws = cube.sums(S)  # (series, years), (draws, series, years)
    lo95, lo80, hi80, hi95 = np.quantile(draws, [0.025, 0.10, 0.90, 0.975], axis=0)
    sizes = np.diff(S.indptr)
    history = set(run.history.years)
    n, n_years = value.shape
    frame = {"year": np.tile(np.asarray(cube.years, dtype=np.int64), n)}
    for dim in market.dimensions:
        frame[dim.id] = np.repeat([dict(sel).get(dim.id, ALL) for sel in selections], n_years)
    frame["aggregate"] = np.repeat(sizes > 1, n_years)
    frame["measure"] = "size"
    frame["value"] = value.ravel()
    frame["unit"] = "USD bn"
    frame["lo80"], frame["hi80"] = lo80.ravel(), hi80.ravel()
    frame["lo95"], frame["hi95"] = lo95.ravel(), hi95.ravel()
    frame["provenance"] = [cube.provenance(sel, year) for sel in selections for year in cube.years]
    frame["period"] = np.tile(["history" if yr in history else "forecast" for yr in cube.years], n)
    return pd.DataFrame(frame)


def write_parquet(run: Run, path: Path) -> None:
    import duckdb

    table = cube_frame(run)
    con = duckdb.connect()
    try:
        con.register("cube_long", table)
        target = str(path).replace("'", "''")
        con.execute(f"COPY cube_long TO '{target}' (FORMAT parquet)")
    finally:
        con.close()
