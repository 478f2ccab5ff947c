"""The forecasting engine: statsforecast base models, marketcube's combination, damping, short-series
rule and conformal intervals.

Units: every number it returns is in the units of the input ``y`` (for the cube, USD bn, nominal,
calendar years); ``ds`` is an integer period index or a calendar year.

How a series is forecast
------------------------
- **Five points or more** ("ensemble"): the mean of three statsforecast models, each forecasting h
  steps: DynamicOptimizedTheta and RandomWalkWithDrift on y, and the standard Theta method on
  log y (compounding growth). The mean was chosen over AutoETS, median combinations and the same
  models on other scales by holding out the last h points of every training part of M3 yearly and
  Tourism yearly (see benchmarks/accuracy.py); AutoETS cost 4 ms a series and lost on both.
  A model that fails or returns non-finite values on a series is replaced by the random walk with
  drift on that series, and counted as a fallback.
  A fourth member joins the mean when the call holds enough history to pool ("Analogues(log)",
  ``_analogues``; at least ``ANALOGUE_MIN_WINDOWS`` windows of five plus h points across its
  series, at every backtest origin): what followed the 50 stretches of the call's series whose
  five log values looked most like the series' last five. Scored with the target window moved
  back 0..6 points inside the training parts (nothing of the test parts), the mean over those
  seven origins went from sMAPE 18.09 / MASE 3.12 to 17.83 / 3.09 on M3 yearly and from MAPE
  24.18 / MASE 3.42 to 23.93 / 3.28 on Tourism yearly (benchmarks/accuracy.py lists the variants).
  A market's own forecast (ten-odd years, h of ten) has no such windows and uses the three models.
- **Damping of implausible growth**: no forecast year grows (or shrinks) faster, in log terms, than
  the fastest single year the history shows; steps beyond are clipped to it.
- **One to four points** ("short"): no model can be fitted; the forecast compounds a growth rate
  from the last value: the caller's growth hint for the series when given (e.g. the evidence's
  CAGR or the parent series' growth), else the history's own compound growth (zero for one
  point). Its intervals are log-normal and deliberately wide: an annual volatility of
  ``SHORT_VOLATILITY`` plus the growth's own uncertainty growing linearly with the horizon.
- **Non-negative output** (the default): forecasts, bounds and paths are clipped at zero; y must
  then be >= 0.

Prediction intervals (split conformal, pooled)
----------------------------------------------
Each series of five points or more is backtested inside its own history, from up to
``BACKTEST_WINDOWS`` rolling origins ending h, h+1, ... points before its end (training parts of at
least five points). Each backtest error at horizon k is standardised by the series' scale at that
origin, ``e = (T(y) - T(f)) / s`` with T = log for positive series (s = mean absolute one-step log
change) and T = identity otherwise (s = mean absolute one-step change, the MASE scale), both over
the last ``SCALE_STEPS`` steps before the origin: a series' volatility drifts over decades, and a
scale from its whole history misjudged the next years' (see benchmarks/accuracy.py, "origins"). The errors
are pooled across the series of one call, horizon by horizon; the interval at level L is
``T^-1(T(f) + q * s)`` with q the empirical (1-L)/2 and (1+L)/2 quantiles of the pooled errors at
that horizon (Vovk et al. 2005; Stankeviciute et al. 2021 for multi-horizon pooling). A horizon with
fewer than ``MIN_CONFORMAL_SAMPLES`` errors takes the quantiles of all errors rescaled by the
random-walk-with-drift shape ``sqrt(k + k^2 / n)``; with fewer than that in all, a normal prior of
the same shape. Sample paths draw one quantile level per path and use it at every horizon, so a
path is a path (comonotone errors; a path that starts high stays high).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

__all__ = [
    "Calibration",
    "Forecasts",
    "GrowthHint",
    "SeriesMethod",
    "forecast",
    "forecast_detail",
]

MIN_MODEL_POINTS = 5  # statsforecast's Theta models need four; one more keeps backtests meaningful
BACKTEST_WINDOWS = 3  # rolling origins per series: errors from three calendar periods, not one
SCALE_STEPS = 10  # one-step changes the interval scale is measured over (the most recent)
MIN_CONFORMAL_SAMPLES = 30  # pooled errors a horizon needs for its own empirical quantiles
SCALE_FLOOR_LOG = 0.005  # a constant series still gets +-0.5% a year of scale
SHORT_VOLATILITY = 0.10  # annual log volatility assumed for series of 1-4 points
SHORT_GROWTH_SD = 0.05  # sd of the annual log growth of a short series without a hint
HINT_GROWTH_SD = 0.03  # sd of a hinted annual log growth when the hint gives none
LOG_CAP = 20.0  # no bound or path exceeds e^20 (5e8) times the history's largest value
RW_SD_PER_SCALE = 1.2533141373155001  # sd / mean absolute value of a normal: sqrt(pi / 2)
ENSEMBLE = ("DynamicOptimizedTheta", "RandomWalkWithDrift", "Theta(log)")
ANALOGUES = "Analogues(log)"  # the fourth member, pooled across the call's series (see ``_analogues``)
ANALOGUE_POINTS = 5  # log values a series' recent history is matched on
ANALOGUE_NEIGHBOURS = 50  # windows whose futures are combined (their median)
ANALOGUE_MIN_WINDOWS = 200  # windows a call needs at every backtest origin for the member to take part
MATCH_CELLS = 4_000_000  # query-window distances computed at once (32 MB, and as much for their order)


@dataclass(frozen=True)
class GrowthHint:
    """A caller's belief about a series' annual growth: ``rate`` as a fraction (0.07 = 7% a year)
    and ``sd``, the standard deviation of the annual log growth (0.03 = about +-3 points)."""

    rate: float
    sd: float = HINT_GROWTH_SD

    def __post_init__(self) -> None:
        if not np.isfinite(self.rate) or self.rate <= -1:
            raise ValueError(f"growth hint rate must be a finite fraction above -1, got {self.rate}")
        if not np.isfinite(self.sd) or self.sd < 0:
            raise ValueError(f"growth hint sd must be finite and >= 0, got {self.sd}")


@dataclass(frozen=True)
class SeriesMethod:
    """How one series was forecast."""

    unique_id: str
    n_points: int
    rule: str  # "ensemble" (five points or more) or "short" (one to four)
    space: str  # "log" (positive series) or "raw" (series with zeros or negatives)
    models: tuple[str, ...]  # the statsforecast models combined; empty for the short rule
    fallbacks: tuple[str, ...]  # models that failed on this series and were replaced by drift
    damped: bool  # some forecast step was clipped to the history's fastest year
    growth: float | None  # short rule: the annual growth rate compounded (fraction)
    scale: float  # s of the interval, in log units (space "log") or units of y (space "raw")


@dataclass(frozen=True)
class Calibration:
    """The pooled conformal errors behind the intervals of the ensemble series of one call."""

    samples: tuple[int, ...]  # backtest errors per horizon 1..h
    source: tuple[str, ...]  # per horizon: "empirical", "rescaled" or "prior"
    probs: np.ndarray  # quantile levels of the table
    quantiles: np.ndarray  # (h, len(probs)) standardised error quantiles


@dataclass(frozen=True)
class Forecasts:
    """Everything one forecast call knows, in the units of y.

    - ``frame``: what ``forecast`` returns (unique_id, ds, y_hat, lo_L, hi_L for each level).
    - ``residuals``: unique_id, ds, y, fitted, residual: in-sample one-step fitted values of the
      same method and y - fitted (NaN where there is no one-step fit, e.g. the first point).
    - ``paths``: (series, draws, h) sample paths, series in the order of ``series``.
    - ``methods``: how each series was forecast; ``calibration``: the pooled conformal errors.
    """

    frame: pd.DataFrame
    residuals: pd.DataFrame
    paths: np.ndarray
    series: tuple[str, ...]
    methods: tuple[SeriesMethod, ...]
    calibration: Calibration
    levels: tuple[float, ...] = field(default=(80, 95))

    @property
    def fallbacks(self) -> int:
        """Number of series where at least one model failed and the drift fallback stood in."""
        return sum(1 for m in self.methods if m.fallbacks)


# ---------------------------------------------------------------------------------------------
# input checks


def _check(df: pd.DataFrame, h: int, levels: Sequence[float], nonnegative: bool) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    if not isinstance(h, (int, np.integer)) or isinstance(h, bool) or h < 1:
        raise ValueError(f"h must be a whole number of periods >= 1, got {h!r}")
    if not levels:
        raise ValueError("levels must name at least one interval level, e.g. (80, 95)")
    for lv in levels:
        if not (0 < float(lv) < 100):
            raise ValueError(f"levels are percentages strictly between 0 and 100, got {lv!r}")
    if not isinstance(df, pd.DataFrame):
        raise ValueError("df must be a pandas DataFrame with columns unique_id, ds, y")
    missing = [c for c in ("unique_id", "ds", "y") if c not in df.columns]
    if missing:
        raise ValueError(f"df lacks column(s) {', '.join(missing)}; it needs unique_id, ds (year or index) and y")
    if df.empty:
        raise ValueError("df has no rows; give at least one point per series")
    if df["unique_id"].isna().any():
        raise ValueError("unique_id has missing values; name every series")
    y = pd.to_numeric(df["y"], errors="coerce")
    bad = df.loc[y.isna() | ~np.isfinite(y.astype(float)), "unique_id"]
    if len(bad):
        raise ValueError(f"y is missing, non-numeric or infinite in series {', '.join(map(str, bad.unique()[:5]))}; "
                         "drop or fill those points first")
    ds = pd.to_numeric(df["ds"], errors="coerce")
    if ds.isna().any() or (ds != np.round(ds)).any():
        raise ValueError("ds must be whole numbers (a year or a period index), with no missing values")
    if nonnegative and (y < 0).any():
        ids = df.loc[y < 0, "unique_id"].unique()[:5]
        raise ValueError(f"negative y in series {', '.join(map(str, ids))} while nonnegative=True; "
                         "market sizes cannot be negative (pass nonnegative=False for signed series)")
    uid = df["unique_id"].astype(str).to_numpy()
    dsv = ds.to_numpy(dtype=np.int64)
    yv = y.to_numpy(dtype=float)
    codes, first = pd.factorize(uid, sort=False)[0], pd.unique(uid)
    order = np.lexsort((dsv, codes))
    codes, dsv, yv = codes[order], dsv[order], yv[order]
    same = codes[1:] == codes[:-1]
    step = np.diff(dsv)
    dup = np.flatnonzero(same & (step == 0))
    if len(dup):
        raise ValueError(f"series {first[codes[dup[0]]]} has ds {dsv[dup[0]]} more than once; give one value per period")
    gap = np.flatnonzero(same & (step != 1))
    if len(gap):
        raise ValueError(f"series {first[codes[gap[0]]]} has a gap after ds {dsv[gap[0]]}; periods must be consecutive "
                         "(fill or interpolate the missing periods first)")
    bounds = np.flatnonzero(np.diff(codes)) + 1
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for d, v, c in zip(np.split(dsv, bounds), np.split(yv, bounds), codes[np.concatenate([[0], bounds])]):
        out[str(first[c])] = (d, v)
    return out


# ---------------------------------------------------------------------------------------------
# point forecasts


def _models() -> list:
    from statsforecast.models import DynamicOptimizedTheta, RandomWalkWithDrift, Theta

    return [(ENSEMBLE[0], DynamicOptimizedTheta(), False), (ENSEMBLE[1], RandomWalkWithDrift(), False),
            (ENSEMBLE[2], Theta(), True)]


def _drift(y: np.ndarray, h: int, fitted: bool) -> dict[str, np.ndarray]:
    n = len(y)
    slope = (y[-1] - y[0]) / (n - 1) if n > 1 else 0.0
    out = {"mean": y[-1] + slope * np.arange(1, h + 1)}
    if fitted:
        out["fitted"] = np.concatenate([[np.nan], y[:-1] + slope])
    return out


def _ensemble(y: np.ndarray, h: int, positive: bool, fitted: bool, models: list,
              analogue: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Mean of the base models' h-step forecasts (and one-step fitted values), units of y, with the
    series' analogue forecast (units of y) as one more member when given; the one-step fitted values
    are the base models' (the analogues make no in-sample forecast).

    The models see y divided by its mean absolute value, so the output is invariant to the unit of y
    (the optimisers' tolerances would otherwise depend on it)."""
    unit = float(np.abs(y).sum()) / len(y) or 1.0  # np.mean's arithmetic, without its overhead (hot path)
    y = y / unit
    fcs, fits, failed = [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, model, on_log in models:
            use_log = on_log and positive
            x = np.log(y) if use_log else y
            try:
                r = model.forecast(y=x, h=h, fitted=fitted)
                f = np.asarray(r["mean"], dtype=float)
                fv = np.asarray(r["fitted"], dtype=float) if fitted else None
                if not np.isfinite(f).all():
                    raise FloatingPointError("non-finite forecast")
            except Exception:  # a base model that cannot fit this series: the drift stands in, counted
                failed.append(name)
                r = _drift(y, h, fitted)
                f, fv, use_log = r["mean"], r.get("fitted"), False
            if use_log:
                f = np.exp(f)
                fv = np.exp(fv) if fv is not None else None
            fcs.append(f)
            fits.append(fv)
    if analogue is not None:
        fcs.append(analogue[:h] / unit)
    point = np.mean(fcs, axis=0)
    fit = None
    if fitted:
        stacked = np.array(fits, dtype=float)
        fit = np.nanmean(np.where(np.isfinite(stacked), stacked, np.nan), axis=0) if np.isfinite(stacked).any() else stacked[0]
        fit[0] = np.nan  # no model has a genuine one-step forecast of the first point
        fit = fit * unit
    return point * unit, fit, failed


def _damp(y: np.ndarray, f: np.ndarray, positive: bool) -> tuple[np.ndarray, bool]:
    """Clip each forecast step's growth to the history's fastest single year (log terms, or absolute
    change for series with zeros)."""
    if positive:
        steps = np.diff(np.log(y))
        g = float(np.max(np.abs(steps))) if len(steps) else 0.0
        if g <= 0:
            return f, False
        lf = np.log(np.maximum(f, y[-1] * 1e-9))
        d = np.diff(np.concatenate([[np.log(y[-1])], lf]))
        clipped = np.clip(d, -g, g)
        return np.exp(np.log(y[-1]) + np.cumsum(clipped)), bool((clipped != d).any())
    steps = np.diff(y)
    g = float(np.max(np.abs(steps))) if len(steps) else 0.0
    d = np.diff(np.concatenate([[y[-1]], f]))
    clipped = np.clip(d, -g, g)
    return y[-1] + np.cumsum(clipped), bool((clipped != d).any())


def _scale(y: np.ndarray, positive: bool) -> float:
    """Mean absolute one-step change over the last ``SCALE_STEPS`` steps: in log units for a
    positive series, else in units of y."""
    y = y[-SCALE_STEPS - 1:]
    if positive:
        return max(float(np.mean(np.abs(np.diff(np.log(y))))), SCALE_FLOOR_LOG)
    s = float(np.mean(np.abs(np.diff(y)))) if len(y) > 1 else 0.0
    return max(s, SCALE_FLOOR_LOG * float(np.mean(np.abs(y))))  # zero only for an all-zero series


def _point(y: np.ndarray, h: int, positive: bool, nonnegative: bool, fitted: bool, models: list,
           analogue: np.ndarray | None = None):
    f, fit, failed = _ensemble(y, h, positive, fitted, models, analogue)
    if nonnegative:
        f = np.maximum(f, 0.0)
    f, damped = _damp(y, f, positive)
    if nonnegative:
        f = np.maximum(f, 0.0)
    return f, fit, failed, damped


def _transform(x: np.ndarray, positive: bool, floor: float) -> np.ndarray:
    return np.log(np.maximum(x, floor)) if positive else x


# ---------------------------------------------------------------------------------------------
# analogues: what followed the stretches of the call's series that looked like a series' last years


def _pool(series: list[np.ndarray], h: int) -> tuple[np.ndarray, np.ndarray]:
    """Every window of ``ANALOGUE_POINTS + h`` consecutive points of the given positive series, in
    log units relative to the window's last matched point: (inputs (m, ANALOGUE_POINTS), futures (m, h))."""
    width = ANALOGUE_POINTS + h
    blocks = [np.lib.stride_tricks.sliding_window_view(np.log(y), width) for y in series if len(y) >= width]
    if not blocks:
        return np.empty((0, ANALOGUE_POINTS)), np.empty((0, h))
    w = np.concatenate(blocks)
    last = w[:, ANALOGUE_POINTS - 1 : ANALOGUE_POINTS]
    return _relative(w[:, :ANALOGUE_POINTS] - last), w[:, ANALOGUE_POINTS:] - last


def _relative(x: np.ndarray) -> np.ndarray:
    """Log values relative to a last point, rounded to 1e-12: in any unit of y the same numbers, so
    that windows at equal distances (flat stretches of whole numbers tie often) rank the same."""
    return np.round(x, 12)


def _match(inputs: np.ndarray, futures: np.ndarray, recent: np.ndarray) -> np.ndarray:
    """For each row of ``recent`` (queries x ANALOGUE_POINTS, log relative to their last point), the
    median future of its ``ANALOGUE_NEIGHBOURS`` nearest inputs (Euclidean): (queries, h) log changes."""
    k = min(ANALOGUE_NEIGHBOURS, len(inputs))
    norms = np.einsum("ij,ij->i", inputs, inputs)
    out = np.empty((len(recent), futures.shape[1]))
    chunk = max(1, int(MATCH_CELLS // len(inputs)))  # queries x windows distances held at once
    for a in range(0, len(recent), chunk):
        d = norms[None, :] - 2.0 * recent[a : a + chunk] @ inputs.T  # + |q|^2, the same for a query's every window
        idx = np.argpartition(d, k - 1, axis=1)[:, :k]
        out[a : a + chunk] = np.median(futures[idx], axis=1)
    return out


def _analogues(series: list[tuple[np.ndarray, bool]], h: int) -> tuple[list, list[list]] | None:
    """The fourth member's forecasts (units of y) for each positive series: from its end, and from
    its backtest origin of each window j (``[j][i]``), each matched only against the windows of the
    call's series cut at that window's origins (a backtest sees no later point of any series).

    The member ("Analogues(log)"; nearest-neighbour forecasting by similarity of series, Kang,
    Spiliotis, Petropoulos et al. 2021): the last ``ANALOGUE_POINTS`` log values of a series,
    relative to the last, are matched with every window of as many points in the call's series;
    the forecast is the last value times the exponential of the median log change that followed
    the ``ANALOGUE_NEIGHBOURS`` nearest. It takes part only when every cut leaves at least
    ``ANALOGUE_MIN_WINDOWS`` windows (a call of many long series: the competitions' data, not a
    market's ten-year history), so that backtests and forecasts use the same members. None then."""
    cuts = [[len(y) for y, _ in series]]
    cuts += [[_origin(len(y), h, j) for y, _ in series] for j in range(BACKTEST_WINDOWS)]
    pools = [_pool([y[:c] for (y, pos), c in zip(series, cut) if pos], h) for cut in cuts]
    if min(len(inputs) for inputs, _ in pools) < ANALOGUE_MIN_WINDOWS:
        return None
    out: list[list[np.ndarray | None]] = []
    for (inputs, futures), cut in zip(pools, cuts):
        ask = [i for i, ((y, pos), c) in enumerate(zip(series, cut)) if pos and ANALOGUE_POINTS <= c <= len(y)]
        found: list[np.ndarray | None] = [None] * len(series)
        if ask:
            logs = [np.log(series[i][0][: cut[i]]) for i in ask]
            recent = _relative(np.array([v[-ANALOGUE_POINTS:] - v[-1] for v in logs]))
            for i, v, g in zip(ask, logs, _match(inputs, futures, recent)):
                found[i] = np.exp(v[-1] + g)
        out.append(found)
    return out[0], out[1:]


# ---------------------------------------------------------------------------------------------
# conformal calibration


def _origin(n: int, h: int, j: int) -> int:
    """Backtest window j's origin in a series of n points (the points before it are the training
    part): h + j points before the end (j = 0 the latest), none before ``MIN_MODEL_POINTS``."""
    return max(MIN_MODEL_POINTS, n - h - j)


def _origins(n: int, h: int) -> dict[int, int]:
    """A series' distinct backtest origins before its end, each with the first window j that
    reaches it (up to ``BACKTEST_WINDOWS``)."""
    out: dict[int, int] = {}
    for j in range(BACKTEST_WINDOWS):
        o = _origin(n, h, j)
        if o < n:
            out.setdefault(o, j)
    return out


def _backtest_errors(series: list[tuple[np.ndarray, bool]], h: int, nonnegative: bool, models: list,
                     analogues: list[list[np.ndarray | None]] | None) -> list[list[float]]:
    """Standardised errors per horizon from rolling origins inside each series' history;
    ``analogues[j][i]``: series i's analogue forecast from its origin of window j, or None."""
    errors: list[list[float]] = [[] for _ in range(h)]
    for i, (y, positive) in enumerate(series):
        n = len(y)
        for o, j in sorted(_origins(n, h).items()):
            train, test = y[:o], y[o:o + h]
            scale = _scale(train, positive)
            if scale == 0:  # an all-zero training part says nothing about errors
                continue
            analogue = analogues[j][i] if analogues is not None else None
            f, _, _, _ = _point(train, len(test), positive, nonnegative, False, models, analogue)
            floor = 1e-9 * float(np.max(np.abs(y))) + 1e-300
            e = (_transform(test, positive, floor) - _transform(f, positive, floor)) / scale
            for k, v in enumerate(e):
                errors[k].append(float(v))
    return errors


def _shape(k: np.ndarray, n_ref: float) -> np.ndarray:
    return np.sqrt(k + k**2 / max(n_ref, 2.0))


def _calibrate(errors: list[list[float]], probs: np.ndarray, n_ref: float) -> Calibration:
    h = len(errors)
    k = np.arange(1, h + 1, dtype=float)
    shape = _shape(k, n_ref)
    pooled = np.concatenate([np.asarray(e) / s for e, s in zip(errors, shape)]) if h else np.array([])
    if len(pooled) >= MIN_CONFORMAL_SAMPLES:
        unit = np.quantile(pooled, probs)
        fallback = "rescaled"
    else:
        unit = RW_SD_PER_SCALE * norm.ppf(probs)
        fallback = "prior"
    q = np.empty((h, len(probs)))
    source = []
    for i, e in enumerate(errors):
        if len(e) >= MIN_CONFORMAL_SAMPLES:
            q[i] = np.quantile(np.asarray(e), probs)
            source.append("empirical")
        else:
            q[i] = unit * shape[i]
            source.append(fallback)
    return Calibration(tuple(len(e) for e in errors), tuple(source), probs, q)


def _probs(levels: Sequence[float], n_grid: int = 199) -> np.ndarray:
    grid = np.linspace(0.005, 0.995, n_grid)
    tails = [p for lv in levels for p in ((1 - lv / 100) / 2, (1 + lv / 100) / 2)]
    return np.unique(np.concatenate([grid, tails, [0.5]]))


# ---------------------------------------------------------------------------------------------
# the short rule


def _short(y: np.ndarray, h: int, positive: bool, hint: GrowthHint | None) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Point forecast, sd per horizon (log units if positive, else units of y), growth rate, scale."""
    n = len(y)
    k = np.arange(1, h + 1, dtype=float)
    if hint is not None:
        g, g_sd = float(np.log1p(hint.rate)), hint.sd
    elif n >= 2 and positive:
        g, g_sd = float((np.log(y[-1]) - np.log(y[0])) / (n - 1)), SHORT_GROWTH_SD
    else:
        g, g_sd = 0.0, SHORT_GROWTH_SD
    sd = np.sqrt(k * SHORT_VOLATILITY**2 + (k * g_sd) ** 2)
    if positive:
        return y[-1] * np.exp(g * k), sd, float(np.expm1(g)), 1.0
    # series with zeros: compound from the last value, sd relative to the series' mean level
    level = max(float(np.mean(np.abs(y))), 1e-12)
    return y[-1] * np.exp(g * k), sd * level, float(np.expm1(g)), level


# ---------------------------------------------------------------------------------------------
# public functions


def forecast_detail(
    df: pd.DataFrame,
    h: int,
    levels: Sequence[float] = (80, 95),
    *,
    growth: Mapping[str, float | GrowthHint] | None = None,
    nonnegative: bool = True,
    paths: int = 1000,
    seed: int = 0,
    residuals: bool = True,
) -> Forecasts:
    """Forecast every series of ``df`` h periods ahead, with intervals, residuals and sample paths.

    ``df``: columns unique_id, ds (integer year or period index, consecutive within a series), y
    (any unit; the output is in the same unit). ``levels``: interval levels in percent.
    ``growth``: optional per-series growth hints (a fraction a year, or a ``GrowthHint`` with its
    uncertainty), used by series of one to four points. ``nonnegative``: y must be >= 0 and every
    output is clipped at 0. ``paths``: number of sample paths per series (0 for none); ``seed``
    fixes them. Raises ValueError on malformed input, naming the series and the fix.
    """
    levels = tuple(levels)
    data = _check(df, h, levels, nonnegative)
    hints: dict[str, GrowthHint] = {}
    for uid, v in (growth or {}).items():
        hints[str(uid)] = v if isinstance(v, GrowthHint) else GrowthHint(float(v))
    unknown = set(hints) - set(data)
    if unknown:
        raise ValueError(f"growth hints name series not in df: {', '.join(sorted(unknown)[:5])}")
    models = _models()
    probs = _probs(levels)

    long = [(uid, y, bool((y > 0).all())) for uid, (_, y) in data.items() if len(y) >= MIN_MODEL_POINTS]
    series = [(y, pos) for _, y, pos in long]
    member = _analogues(series, h)
    errors = _backtest_errors(series, h, nonnegative, models, member[1] if member is not None else None)
    analogue_of = {uid: f for (uid, _, _), f in zip(long, member[0])} if member is not None else {}
    n_ref = float(np.median([len(y) for _, y, _ in long])) if long else 10.0
    cal = _calibrate(errors, probs, n_ref)
    q = cal.quantiles
    # a point forecast always lies inside its intervals, whatever bias the backtests show
    q = np.where(probs[None, :] < 0.5, np.minimum(q, 0.0), np.maximum(q, 0.0))
    q = np.maximum.accumulate(q, axis=1)  # quantiles non-decreasing in the level
    # errors accumulate with the horizon: a later year's band is never narrower than an earlier one's
    # (small pools give noisy per-horizon quantiles that would otherwise zigzag)
    upper = probs >= 0.5
    q[:, upper] = np.maximum.accumulate(q[:, upper], axis=0)
    q[:, ~upper] = np.minimum.accumulate(q[:, ~upper], axis=0)

    rng = np.random.default_rng(seed)
    u = rng.uniform(probs[0], probs[-1], size=paths)  # one quantile level per path
    z = norm.ppf(u)
    # where each path's level falls in the quantile table, once for every series (np.interp's
    # own arithmetic, so the paths are the numbers it gave series by series)
    j = np.clip(np.searchsorted(probs, u, side="right") - 1, 0, len(probs) - 2)
    u_offset = u - probs[j]
    u_width = probs[j + 1] - probs[j]
    # the table's columns each level's bounds read, and their normal quantiles for the short rule
    tails = [(_nearest_index(probs, (1 - lv / 100) / 2), _nearest_index(probs, (1 + lv / 100) / 2)) for lv in levels]
    tail_z = {i: float(norm.ppf(probs[i])) for pair in tails for i in pair}
    frames, resid, all_paths, methods, out_ids, out_dss = [], [], [], [], [], []
    for uid, (ds, y) in data.items():
        n = len(y)
        positive = bool((y > 0).all())
        out_ds = ds[-1] + np.arange(1, h + 1)
        floor = 1e-9 * float(np.max(np.abs(y))) + 1e-300
        if n >= MIN_MODEL_POINTS:
            analogue = analogue_of.get(uid)
            f, fit, failed, damped = _point(y, h, positive, nonnegative, residuals, models, analogue)
            s = _scale(y, positive)
            centre = _transform(f, positive, floor)
            bands = centre[:, None] + q * s  # (h, probs)
            if positive:  # capped at LOG_CAP above the history's largest value (degenerate inputs only)
                bands = np.exp(np.minimum(bands, np.log(np.max(y)) + LOG_CAP))
            band_at = {i: bands[:, i] for pair in tails for i in pair}
            path_vals = _interp_paths(bands, j, u_offset, u_width, u, probs) if paths else np.empty((0, h))
            methods.append(SeriesMethod(uid, n, "ensemble", "log" if positive else "raw",
                                        ENSEMBLE + ((ANALOGUES,) if analogue is not None else ()), tuple(failed),
                                        damped, None, s))
        else:
            hint = hints.get(uid)
            f, sd, rate, s = _short(y, h, positive, hint)
            if positive:
                cap = np.log(np.max(y)) + LOG_CAP
                lf = np.log(np.maximum(f, np.finfo(float).tiny))
                band_at = {i: np.exp(np.minimum(lf + zi * sd, cap)) for i, zi in tail_z.items()}
                path_vals = np.exp(np.minimum(lf[None, :] + z[:, None] * sd[None, :], cap))
            else:
                band_at = {i: f + zi * sd for i, zi in tail_z.items()}
                path_vals = f[None, :] + z[:, None] * sd[None, :]
            fit = np.concatenate([[np.nan], y[:-1] * (1 + rate)])
            methods.append(SeriesMethod(uid, n, "short", "log" if positive else "raw", (), (), False, rate, s))
        block = [f]
        for lo, hi in tails:
            block.append(np.minimum(band_at[lo], f))
            block.append(np.maximum(band_at[hi], f))
        frames.append(np.array(block))
        out_ids.append(np.repeat(uid, h))
        out_dss.append(out_ds)
        all_paths.append(path_vals)
        if residuals:
            fitted = fit if fit is not None else np.full(n, np.nan)
            resid.append((np.repeat(uid, n), ds, y, fitted))
    values = np.concatenate(frames, axis=1)
    out = pd.DataFrame({"unique_id": np.concatenate(out_ids), "ds": np.concatenate(out_dss)})
    names = ["y_hat"] + [f"{side}_{_name(lv)}" for lv in levels for side in ("lo", "hi")]
    for name, col in zip(names, values):
        out[name] = col
    _nest(out, levels)
    value_cols = [c for c in out.columns if c not in ("unique_id", "ds")]
    paths_arr = np.stack(all_paths) if all_paths else np.empty((0, paths, h))
    if nonnegative:
        out[value_cols] = out[value_cols].clip(lower=0.0)
        paths_arr = np.maximum(paths_arr, 0.0)
    res = pd.DataFrame({"unique_id": np.concatenate([r[0] for r in resid]) if resid else np.array([], dtype=str),
                        "ds": np.concatenate([r[1] for r in resid]) if resid else np.array([], dtype=np.int64),
                        "y": np.concatenate([r[2] for r in resid]) if resid else np.array([]),
                        "fitted": np.concatenate([r[3] for r in resid]) if resid else np.array([])})
    res["residual"] = res["y"] - res["fitted"]
    return Forecasts(out, res, paths_arr, tuple(data), tuple(methods), cal, levels)


def _name(lv: float) -> str:
    return str(int(lv)) if float(lv).is_integer() else str(lv)


def _nearest_index(probs: np.ndarray, p: float) -> int:
    return int(np.argmin(np.abs(probs - p)))


def _interp_paths(bands: np.ndarray, j: np.ndarray, offset: np.ndarray, width: np.ndarray, u: np.ndarray,
                  probs: np.ndarray) -> np.ndarray:
    """(paths, h): each horizon's quantile table ``bands`` (h, probs) read at the levels ``u``, by
    linear interpolation between columns ``j`` and ``j + 1`` (``offset = u - probs[j]``, ``width =
    probs[j + 1] - probs[j]``), in the operations ``np.interp`` does, for every horizon at once."""
    lo, hi = bands[:, j], bands[:, j + 1]
    out = (hi - lo) / width * offset + lo
    if not np.isfinite(out).all():  # infinite bounds: np.interp's own handling of them
        return np.array([np.interp(u, probs, bands[k]) for k in range(bands.shape[0])]).T
    return out.T


def _nest(out: pd.DataFrame, levels: tuple[float, ...]) -> None:
    """Wider levels contain narrower ones (guards rounding in the quantile table)."""
    order = sorted(levels)
    for a, b in zip(order, order[1:]):
        la, lb, ha, hb = (f"lo_{_name(a)}", f"lo_{_name(b)}", f"hi_{_name(a)}", f"hi_{_name(b)}")
        out[lb] = np.minimum(out[lb], out[la])
        out[hb] = np.maximum(out[hb], out[ha])


def forecast(
    df: pd.DataFrame,
    h: int,
    levels: Sequence[float] = (80, 95),
    *,
    growth: Mapping[str, float | GrowthHint] | None = None,
    nonnegative: bool = True,
) -> pd.DataFrame:
    """Forecast every series of ``df`` (columns unique_id, ds as integer year or index, y) h periods
    ahead.

    Returns unique_id, ds (continuing each series' ds), y_hat and lo_L / hi_L for each level L in
    percent, in the units of y. Keyword arguments as in ``forecast_detail``.
    """
    return forecast_detail(df, h, levels, growth=growth, nonnegative=nonnegative, paths=0, residuals=False).frame
