"""Projection mode (solve.project) against the reference it names: Nixtla hierarchicalforecast
1.5.3's dense reconciliation classes, called directly with numpy arrays, on small synthetic
markets built with solve.structure. Agreement is measured as the largest absolute difference over
the largest absolute reference value."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from hierarchicalforecast.methods import BottomUp, MinTrace, TopDown  # the test extra pins 1.5.3
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from marketcube.solve.project import reconcile
from marketcube.solve.structure import Structure, build

# qpsolvers (hierarchicalforecast's non-negative path) converts its dense P to sparse for clarabel
# and says so; it is about speed, not the answer
pytestmark = pytest.mark.filterwarnings("ignore::qpsolvers.warnings.SparseConversionWarning")

GLS = ["ols", "wls_struct", "wls_var", "mint_shrink"]
T, H = 15, 6
EXACT = 1e-8


def flat(prefix: str, k: int) -> dict[str, str | None]:
    return {f"{prefix}{i}": None for i in range(k)}


def every_cell(dims: dict[str, dict[str, str | None]]) -> pd.DataFrame:
    leaves = [[k for k in tree if k not in set(tree.values())] for tree in dims.values()]
    return pd.DataFrame(list(itertools.product(*leaves)), columns=list(dims))


# 3 regions x 4 types x 2 end-users, every cell sold: 24 bottom series and every crossing of the
# dimensions above them (total, 3 + 4 + 2 one-way, 12 + 6 + 8 two-way): 60 series, grouped
GROUPED_DIMS = {"region": flat("r", 3), "type": flat("t", 4), "user": flat("u", 2)}
GROUPED = build(every_cell(GROUPED_DIMS), GROUPED_DIMS)

# a tree: world > 2 regions > 3 countries each > 2 types in each country (12 bottom series, 21 series)
NESTED_DIMS = {
    "geo": {"world": None, "north": "world", "south": "world",
            **{f"c{i}": "north" if i < 3 else "south" for i in range(6)}},
    "type": {"API": None, "FDF": None},
}
NESTED = build(every_cell(NESTED_DIMS), NESTED_DIMS, nested=["geo", "type"])


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def market_data(s: Structure, seed: int = 0):
    """Coherent truth from positive bottom series (gamma levels, +-20 % wobble), T in-sample and H
    future points. Fitted values miss the truth by noise whose size differs from series to series
    (sd 0.5-3) plus a shock common to all series (so residuals are correlated and MinT's shrinkage
    is strictly between 0 and 1); base forecasts miss the future truth by the same-sized noise."""
    rng = np.random.default_rng(seed)
    n, m = s.S.shape
    truth = s.S @ (rng.gamma(2.0, 10.0, (m, 1)) * rng.uniform(0.8, 1.2, (m, T + H)))
    scale = rng.uniform(0.5, 3.0, (n, 1))
    y_insample = truth[:, :T]
    y_hat_insample = y_insample - (rng.normal(0, 1, (n, T)) * scale + rng.normal(0, 0.5, (1, T)))
    y_hat = truth[:, T:] + rng.normal(0, 2, (n, H)) * scale
    return y_hat, y_insample, y_hat_insample


def reference(method: str, s: Structure, y_hat, y_insample, y_hat_insample, nonnegative: bool = False) -> np.ndarray:
    S = s.S.toarray()
    if method == "bottom_up":
        return BottomUp().fit_predict(S=S, y_hat=y_hat)["mean"]
    if method == "top_down":
        tags = {name: rows for name, rows in s.tags.items()}
        return TopDown(method="forecast_proportions").fit_predict(S=S, y_hat=y_hat, tags=tags)["mean"]
    return MinTrace(method=method, nonnegative=nonnegative).fit_predict(
        S=S, y_hat=y_hat, y_insample=y_insample, y_hat_insample=y_hat_insample
    )["mean"]


def ours(method: str, s: Structure, y_hat, y_insample, y_hat_insample, nonnegative: bool = False) -> np.ndarray:
    return reconcile(y_hat, s.S, method, residuals=y_insample - y_hat_insample, nonnegative=nonnegative,
                     levels=s.levels_nested if method == "top_down" else None).series


@pytest.mark.parametrize("s", [GROUPED, NESTED], ids=["grouped", "nested"])
@pytest.mark.parametrize("method", ["bottom_up", *GLS])
def test_each_method_equals_hierarchicalforecast(s, method):
    data = market_data(s)
    expect = reference(method, s, *data)
    got = ours(method, s, *data)
    assert got.shape == expect.shape == (s.n_series, H)
    assert rel(got, expect) < EXACT


def test_top_down_forecast_proportions_equals_hierarchicalforecast():
    assert NESTED.levels_nested is not None and GROUPED.levels_nested is None  # top-down needs a tree
    data = market_data(NESTED, seed=1)
    assert rel(ours("top_down", NESTED, *data), reference("top_down", NESTED, *data)) < EXACT


def test_the_fixtures_are_what_their_comments_say():
    assert GROUPED.S.shape == (60, 24) and NESTED.S.shape == (21, 12)
    assert list(NESTED.tags) == ["total", "geo@1", "geo", "geo/type"]
    S = GROUPED.S.toarray()
    np.testing.assert_array_equal(S[-24:], np.eye(24))  # hierarchicalforecast takes the last rows as the bottom


# ---------------------------------------------------------------- non-negative


def nonnegative_case():
    """Base forecasts all >= 0 (a floor of 0.5), every third bottom series forecast at 0.2 and the
    aggregates 20 % below their truth: the unconstrained projection pushes the small bottom series
    below zero."""
    s = GROUPED
    y_hat, y_insample, y_hat_insample = market_data(s)
    m = s.n_bottom
    y_hat = np.maximum(y_hat, 0.5)
    y_hat[-m:][::3] = 0.2
    y_hat[:-m] *= 0.8
    return s, y_hat, y_insample, y_hat_insample


@pytest.mark.parametrize("method", ["ols", "mint_shrink"])
def test_nonnegative_equals_hierarchicalforecast_where_the_projection_goes_negative(method):
    s, y_hat, y_insample, y_hat_insample = nonnegative_case()
    assert y_hat.min() >= 0  # hierarchicalforecast would zero negative base forecasts first (see below)
    assert ours(method, s, y_hat, y_insample, y_hat_insample).min() < 0
    got = ours(method, s, y_hat, y_insample, y_hat_insample, nonnegative=True)
    expect = reference(method, s, y_hat, y_insample, y_hat_insample, nonnegative=True)
    assert got.min() >= 0
    # hierarchicalforecast solves this QP with clarabel at its default tolerances (~1e-8 on the
    # duality gap) and rounds the bottom series to float32: here it is 6e-7 (ols) and 5e-8
    # (mint_shrink) from scipy's NNLS on the same problem, where marketcube is 1e-13 from it
    # (test_project checks that), so the bound is the reference's accuracy, not ours
    assert rel(got, expect) < 2e-6


@pytest.mark.filterwarnings("ignore:Replacing negative forecasts with zero:UserWarning")
@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason=(
        "definitions differ: hierarchicalforecast 1.5.3 MinTrace(nonnegative=True) sets negative BASE forecasts "
        "to zero before its QP, marketcube minimises the GLS objective of the base forecasts as given over b >= 0. "
        "Bottom forecasts 30 below truth on the grouped fixture: rel difference 0.038 (ols) and 0.040 (mint_shrink), "
        "e.g. ols region=r1/type=t2/user=u0, horizon index 4: 43.26 vs 27.22; with the base forecasts zeroed first "
        "the two agree to 2e-7"
    ),
)
@pytest.mark.parametrize("method", ["ols", "mint_shrink"])
def test_nonnegative_with_negative_base_forecasts_differs_from_hierarchicalforecast(method):
    s = GROUPED
    y_hat, y_insample, y_hat_insample = market_data(s)
    y_hat[-s.n_bottom:] -= 30.0
    got = ours(method, s, y_hat, y_insample, y_hat_insample, nonnegative=True)
    expect = reference(method, s, y_hat, y_insample, y_hat_insample, nonnegative=True)
    assert rel(got, expect) < 2e-6


def test_nonnegative_agrees_once_negative_base_forecasts_are_zeroed():
    # the difference above is only the input: zero the base forecasts and the optima coincide
    s = GROUPED
    y_hat, y_insample, y_hat_insample = market_data(s)
    y_hat[-s.n_bottom:] -= 30.0
    y_hat = np.maximum(y_hat, 0.0)
    got = ours("ols", s, y_hat, y_insample, y_hat_insample, nonnegative=True)
    expect = reference("ols", s, y_hat, y_insample, y_hat_insample, nonnegative=True)
    assert rel(got, expect) < 2e-6


# ---------------------------------------------------------------- properties


@st.composite
def grouped_markets(draw):
    """2-3 flat dimensions of 1-4 members each, every cell sold, every crossing built."""
    sizes = draw(st.lists(st.integers(1, 4), min_size=2, max_size=3))
    dims = {f"d{k}": flat(f"m{k}_", size) for k, size in enumerate(sizes)}
    return build(every_cell(dims), dims), draw(st.integers(0, 2**31 - 1)), draw(st.sampled_from(["ols", "mint_shrink"]))


def random_data(n: int, seed: int):
    """Base forecasts around 50 (sd 20) for 3 horizons, 10 in-sample points whose residuals are
    independent with a sd of 0.2-5 per series."""
    rng = np.random.default_rng(seed)
    y_hat = rng.normal(50, 20, (n, 3))
    y_insample = rng.normal(50, 20, (n, 10))
    y_hat_insample = y_insample - rng.normal(0, 1, (n, 10)) * rng.uniform(0.2, 5, (n, 1))
    return y_hat, y_insample, y_hat_insample


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grouped_markets())
def test_property_equals_hierarchicalforecast_on_random_grouped_markets(market):
    s, seed, method = market
    assume(s.n_series > 1)  # a market of one series: see the xfail tests below
    data = random_data(s.n_series, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning from either side would hide a degenerate case
        got = ours(method, s, *data)
        expect = reference(method, s, *data)
    assert rel(got, expect) < EXACT


# every dimension of size 1: one bottom series, S = [[1]]; any reconciliation must return the base
# forecast, and hierarchicalforecast does. With a single series there are no pairs, so MinT's
# shrinkage intensity is 0 (or the 2e-8 guard's ~3e-10): marketcube's W = D + U U' then has
# D = max(var, 2e-8) - (1 - lambda) var = 0 or round-off, so it refuses or loses digits.
SINGLE = build(every_cell({"d0": flat("a", 1), "d1": flat("b", 1)}), {"d0": flat("a", 1), "d1": flat("b", 1)})


@pytest.mark.parametrize("seed", [0, 1])
def test_mint_shrink_without_a_diagonal_part_is_refused_clearly(seed):
    """A single series has shrinkage intensity ~0 (3.1e-10 with seed 0, exactly 0 with seed 1): the
    shrunk covariance then has no diagonal part, which the diagonal-plus-low-rank solve cannot
    invert to full precision (it lost digits: rel 4.1e-7). marketcube refuses it with a clear
    message instead of returning a number less exact than the rest; hierarchicalforecast returns
    the base forecasts (the only coherent answer for one series)."""
    data = random_data(1, seed=seed)
    assert SINGLE.S.shape == (1, 1)
    expect = reference("mint_shrink", SINGLE, *data)
    np.testing.assert_array_equal(expect, data[0])
    with pytest.raises(ValueError, match="no diagonal part.*use wls_var"):
        ours("mint_shrink", SINGLE, *data)
    assert rel(ours("wls_var", SINGLE, *data), expect) < EXACT
