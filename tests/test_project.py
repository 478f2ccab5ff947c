"""Projection mode (solve.project) on small synthetic hierarchies, checked against the textbook
dense formulas computed here with numpy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import nnls

from marketcube.solve.project import hierarchy, reconcile, shrinkage_intensity
from marketcube.solve import project as pj

GLS = ["ols", "wls_struct", "wls_var", "mint_shrink"]
T, H = 15, 8


def grouped_S(dims: tuple[int, ...]) -> sp.csr_matrix:
    """Every crossing of the dimensions (total, each dimension, each pair, ...) over a bottom level
    that crosses all of them: a grouped structure, not a tree."""
    cells = np.array(np.meshgrid(*[np.arange(d) for d in dims], indexing="ij")).reshape(len(dims), -1).T
    m = len(cells)
    rows = []
    for mask in range(2 ** len(dims) - 1):  # every proper subset of dimensions; the full set is the bottom
        keep = [k for k in range(len(dims)) if mask >> k & 1]
        if not keep:
            rows.append(np.ones(m))
            continue
        sub = cells[:, keep]
        for u in np.unique(sub, axis=0):
            rows.append((sub == u).all(axis=1).astype(float))
    return sp.csr_matrix(np.vstack(rows + [np.eye(m)]))


def nested_S(branching: tuple[int, ...]) -> tuple[sp.csr_matrix, list[list[int]]]:
    """A tree: total, then each level splitting every series into `branching[k]` equal children."""
    m = int(np.prod(branching))
    sizes = [m]
    for k in branching:
        sizes.append(sizes[-1] // k)
    rows, levels = [], []
    for size in sizes:
        level = []
        for start in range(0, m, size):
            r = np.zeros(m)
            r[start:start + size] = 1
            level.append(len(rows))
            rows.append(r)
        levels.append(level)
    return sp.csr_matrix(np.vstack(rows)), levels


# 3 regions x 4 types x 2 end-users (24 bottom series, 60 series); and a tree 2 > 3 > 2 (12 bottom)
GROUPED = grouped_S((3, 4, 2))
NESTED, NESTED_LEVELS = nested_S((2, 3, 2))


def data(S: sp.csr_matrix, seed: int = 0, noise_scale: np.ndarray | None = None):
    """Coherent truth from positive bottom series; incoherent base forecasts and in-sample residuals
    whose size differs from series to series (noise_scale per row, default uniform 0.5-3)."""
    rng = np.random.default_rng(seed)
    Sd = S.toarray()
    n, m = Sd.shape
    scale = rng.uniform(0.5, 3.0, (n, 1)) if noise_scale is None else noise_scale[:, None]
    truth = Sd @ (rng.gamma(2.0, 10.0, (m, 1)) * rng.uniform(0.8, 1.2, (m, H)))
    y_hat = truth + rng.normal(0, 2, (n, H)) * scale
    residuals = rng.normal(0, 1, (n, T)) * scale + rng.normal(0, 0.5, (1, T))  # a common shock: correlated
    return y_hat, residuals


def dense_W(S: sp.csr_matrix, method: str, e: np.ndarray) -> np.ndarray:
    """The textbook weight matrices (hierarchicalforecast's conventions), dense."""
    n = S.shape[0]
    if method == "ols":
        return np.eye(n)
    if method == "wls_struct":
        return np.diag(S.toarray().sum(axis=1))
    if method == "wls_var":
        return np.diag(np.mean(e**2, axis=1) + 2e-8)
    Tn = e.shape[1]
    x = e - e.mean(axis=1, keepdims=True)
    sigma = x @ x.T / (Tn - 1)
    sd = np.sqrt((x**2).mean(axis=1)) + 2e-8
    z = x / sd[:, None]
    w = z[:, None, :] * z[None, :, :]  # n x n x T, fine at this size
    wbar = w.mean(axis=2)
    var_w = ((w - wbar[..., None]) ** 2).sum(axis=2)
    off = ~np.eye(n, dtype=bool)
    lam = np.clip(var_w[off].sum() / 2 / (Tn * (Tn - 1)) / ((wbar[off] ** 2).sum() / 2 + 2e-8), 0, 1)
    W = (1 - lam) * sigma
    np.fill_diagonal(W, np.maximum(np.diag(sigma), 2e-8))
    return W


def dense_gls(S: sp.csr_matrix, W: np.ndarray, y: np.ndarray) -> np.ndarray:
    Sd = S.toarray()
    Wi = np.linalg.inv(W)
    return Sd @ np.linalg.solve(Sd.T @ Wi @ Sd, Sd.T @ Wi @ y)


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize("S", [GROUPED, NESTED], ids=["grouped", "nested"])
@pytest.mark.parametrize("method", GLS)
def test_each_gls_method_equals_the_dense_formula(S, method):
    y_hat, e = data(S)
    r = reconcile(y_hat, S, method, residuals=e)
    assert rel(r.series, dense_gls(S, dense_W(S, method, e), y_hat)) < 1e-9
    assert rel(S @ r.bottom, r.series) < 1e-12
    assert r.series.shape == y_hat.shape and r.bottom.shape == (S.shape[1], H)


def test_shrinkage_intensity_equals_the_pairwise_formula_and_is_not_trivial():
    y_hat, e = data(GROUPED, seed=3)
    lam = shrinkage_intensity(e)
    assert 0.0 < lam < 1.0
    W = dense_W(GROUPED, "mint_shrink", e)
    x = e - e.mean(axis=1, keepdims=True)
    sigma = x @ x.T / (T - 1)
    assert W[0, 1] == pytest.approx((1 - lam) * sigma[0, 1], rel=1e-10)


@pytest.mark.parametrize("S", [GROUPED, NESTED], ids=["grouped", "nested"])
def test_bottom_up_takes_the_bottom_rows(S):
    y_hat, _ = data(S)
    m = S.shape[1]
    r = reconcile(y_hat, S, "bottom_up")
    np.testing.assert_array_equal(r.bottom, y_hat[-m:])
    np.testing.assert_allclose(r.series, S.toarray() @ y_hat[-m:], rtol=1e-14)


def test_top_down_forecast_proportions_by_hand():
    # a tree 2 > 3 > 2; each child gets its parent's reconciled value times its share of its siblings' base sum
    y_hat, _ = data(NESTED, seed=5)
    r = reconcile(y_hat, NESTED, "top_down", levels=NESTED_LEVELS)
    h = hierarchy(NESTED, NESTED_LEVELS)
    expect = np.zeros_like(y_hat)
    expect[NESTED_LEVELS[0]] = y_hat[NESTED_LEVELS[0]]
    for level in NESTED_LEVELS[1:]:
        for i in level:
            sib = [j for j in level if h.parent[j] == h.parent[i]]
            expect[i] = expect[h.parent[i]] * y_hat[i] / y_hat[sib].sum(axis=0)
    np.testing.assert_allclose(r.series, expect, rtol=1e-12)
    np.testing.assert_allclose(r.series[0], y_hat[0], rtol=1e-14)  # the top is kept


def test_top_down_refuses_a_grouped_structure():
    levels = [[0], list(range(1, 4)), list(range(4, 8)), list(range(8, GROUPED.shape[0]))]
    with pytest.raises(ValueError, match="nested|grouped"):
        reconcile(data(GROUPED)[0], GROUPED, "top_down", levels=levels)
    with pytest.raises(ValueError, match="levels"):
        reconcile(data(NESTED)[0], NESTED, "top_down")


@pytest.mark.parametrize(
    "S,levels,method",
    [(GROUPED, None, m) for m in ["bottom_up", *GLS]] + [(NESTED, NESTED_LEVELS, m) for m in ["bottom_up", *GLS, "top_down"]],
    ids=[f"grouped-{m}" for m in ["bottom_up", *GLS]] + [f"nested-{m}" for m in ["bottom_up", *GLS, "top_down"]],
)
def test_coherent_forecasts_come_back_unchanged(S, levels, method):
    # top-down is for nested hierarchies only (its refusal of a grouped one is tested above)
    rng = np.random.default_rng(7)
    coherent = S @ rng.gamma(2.0, 10.0, (S.shape[1], H))
    _, e = data(S)
    r = reconcile(coherent, S, method, residuals=e, levels=levels)
    assert rel(r.series, coherent) < 1e-10


def test_mint_differs_from_ols_and_bottom_up_when_variances_differ():
    # bottom series forecast 10x worse than the aggregates: MinT must lean on the aggregates
    n, m = GROUPED.shape
    scale = np.where(np.arange(n) >= n - m, 10.0, 1.0)
    y_hat, e = data(GROUPED, seed=11, noise_scale=scale)
    mint = reconcile(y_hat, GROUPED, "mint_shrink", residuals=e).series
    ols = reconcile(y_hat, GROUPED, "ols").series
    bu = reconcile(y_hat, GROUPED, "bottom_up").series
    assert rel(mint, ols) > 1e-2
    assert rel(mint, bu) > 1e-2
    wls = reconcile(y_hat, GROUPED, "wls_var", residuals=e).series
    assert rel(wls, ols) > 1e-2


def test_nonnegative_is_the_constrained_optimum_where_ols_goes_negative():
    # bottom forecasts pushed far below zero: plain OLS returns negative series
    y_hat, e = data(GROUPED, seed=2)
    m = GROUPED.shape[1]
    y_hat[-m:] -= 30.0
    for method in ["ols", "wls_struct", "mint_shrink"]:
        plain = reconcile(y_hat, GROUPED, method, residuals=e)
        assert plain.series.min() < 0
        nn = reconcile(y_hat, GROUPED, method, residuals=e, nonnegative=True)
        assert nn.series.min() >= 0 and nn.bottom.min() >= 0
        assert rel(GROUPED @ nn.bottom, nn.series) < 1e-12
        # the same objective minimised over b >= 0 by scipy's NNLS on the whitened problem
        L = np.linalg.cholesky(dense_W(GROUPED, method, e))
        A = np.linalg.solve(L, GROUPED.toarray())
        for k in range(H):
            b, _ = nnls(A, np.linalg.solve(L, y_hat[:, k]), maxiter=10_000)
            assert np.abs(nn.bottom[:, k] - b).max() / np.abs(b).max() < 1e-8
    for method in ["bottom_up"]:
        assert reconcile(y_hat, GROUPED, method, nonnegative=True).series.min() >= 0


def test_nonnegative_changes_nothing_when_all_is_positive():
    y_hat, e = data(GROUPED, seed=4, noise_scale=np.full(GROUPED.shape[0], 0.1))
    a = reconcile(y_hat, GROUPED, "mint_shrink", residuals=e)
    assert a.series.min() > 0
    b = reconcile(y_hat, GROUPED, "mint_shrink", residuals=e, nonnegative=True)
    np.testing.assert_array_equal(a.series, b.series)
    assert b.active_set_passes == 0


def test_one_dimensional_forecasts():
    y_hat, e = data(GROUPED)
    r = reconcile(y_hat[:, 0], GROUPED, "mint_shrink", residuals=e)
    assert r.series.shape == (GROUPED.shape[0],)
    assert rel(r.series, reconcile(y_hat, GROUPED, "mint_shrink", residuals=e).series[:, 0]) < 1e-12


# ---------------------------------------------------------------- bad input


def test_bad_input_gives_clear_errors():
    y_hat, e = data(GROUPED)
    n, m = GROUPED.shape
    with pytest.raises(ValueError, match="n_series x h"):
        reconcile(y_hat[:-1], GROUPED, "ols")
    nan = y_hat.copy()
    nan[5, 2] = np.nan
    with pytest.raises(ValueError, match=r"NaN .* rows \[5\]"):
        reconcile(nan, GROUPED, "ols")
    with pytest.raises(ValueError, match="only 0 and 1"):
        reconcile(y_hat, GROUPED * 2.0, "ols")
    no_row = GROUPED.toarray()
    no_row[:, 3] = 0
    with pytest.raises(ValueError, match="in no row"):
        reconcile(y_hat, no_row, "ols")
    no_own = GROUPED.toarray()[:-1]
    with pytest.raises(ValueError, match="no row of their own"):
        reconcile(y_hat[:-1], no_own, "ols")
    with pytest.raises(ValueError, match="residuals must be n_series x T"):
        reconcile(y_hat, GROUPED, "mint_shrink", residuals=e[:-2])
    with pytest.raises(ValueError, match="needs in-sample residuals"):
        reconcile(y_hat, GROUPED, "wls_var")
    e_nan = e.copy()
    e_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="residuals contain NaN"):
        reconcile(y_hat, GROUPED, "mint_shrink", residuals=e_nan)
    with pytest.raises(ValueError, match="unknown reconciliation method"):
        reconcile(y_hat, GROUPED, "mint_cov")


# ---------------------------------------------------------------- properties


@st.composite
def grouped_problems(draw):
    dims = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    S = grouped_S(dims)
    seed = draw(st.integers(0, 2**31 - 1))
    method = draw(st.sampled_from(["bottom_up", *GLS]))
    return S, seed, method


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grouped_problems())
def test_property_coherent_and_idempotent_on_random_grouped_hierarchies(problem):
    S, seed, method = problem
    rng = np.random.default_rng(seed)
    n, m = S.shape
    y_hat = rng.normal(50, 20, (n, 3))
    e = rng.normal(0, 1, (n, 6)) * rng.uniform(0.2, 5, (n, 1))
    r = reconcile(y_hat, S, method, residuals=e)
    assert np.abs(S @ r.bottom - r.series).max() <= 1e-9 * max(1.0, np.abs(r.series).max())
    coherent = S @ rng.normal(10, 5, (m, 3))
    again = reconcile(coherent, S, method, residuals=e)
    assert np.abs(again.series - coherent).max() <= 1e-9 * np.abs(coherent).max()
    # projecting twice changes nothing
    twice = reconcile(r.series, S, method, residuals=e)
    assert np.abs(twice.series - r.series).max() <= 1e-9 * max(1.0, np.abs(r.series).max())


# ---------------------------------------------------------------- claims about forecast periods


def horizon_cov(k, corr):
    """K = diag(sqrt k) R diag(sqrt k), the forecast errors' covariance across periods (R = I: k)."""
    k = np.ones(H) if k is None else np.asarray(k, dtype=float)
    R = np.eye(H) if corr is None else corr
    return R * np.sqrt(np.outer(k, k))


# errors correlated across periods as a path's are: 0.8 between neighbours, less further apart
AR_CORR = 0.8 ** np.abs(np.subtract.outer(np.arange(H), np.arange(H)))


def dense_gls_with_claims(S, W, y, rows, k=None, corr=None):
    """Textbook stacked GLS: every horizon's series (covariance K (x) W across periods and series,
    K from the weights' scale k_t and the periods' correlation) plus claim rows (coef vector over
    vec(b), value, sd)."""
    Sd = S.toarray()
    n, m = Sd.shape
    Ki = np.linalg.inv(horizon_cov(k, corr))
    Wi = np.linalg.inv(W)
    N = np.kron(Ki, Sd.T @ Wi @ Sd)
    r = ((Sd.T @ Wi @ y) @ Ki).T.reshape(-1)
    for c, v, sd in rows:
        N += np.outer(c, c) / sd**2
        r += c * v / sd**2
    x = np.linalg.solve(N, r)
    return x.reshape(y.shape[1], m).T


SCALES = pytest.mark.parametrize("k, corr", [(None, None), (np.arange(1.0, H + 1), None), (np.arange(1.0, H + 1), AR_CORR)],
                                 ids=["one-step weights", "weights growing with the horizon", "periods correlated"])


@SCALES
@pytest.mark.parametrize("method", ["wls_var", "mint_shrink"])
def test_claims_enter_as_weighted_rows_exactly(method, k, corr):
    from marketcube.solve.project import Claim

    S = GROUPED
    y_hat, e = data(S, seed=11)
    m = S.shape[1]
    total = float(y_hat[0, 3])
    claims = [
        Claim("total in period 3", ((0, 3, 1.0),), 1.3 * total, 0.05 * total),  # a size, pulls the total up
        Claim("growth 5 over 2", ((0, 5, 1.0), (0, 2, -1.1**3)), 0.0, 0.02 * total),  # a CAGR between two periods
        Claim("first three bottom series", ((np.array([0, 1, 2]), 0, 1.0),), 40.0, 4.0),
    ]
    r = reconcile(y_hat, S, method, residuals=e, claims=claims, horizon_scale=k, horizon_corr=corr)
    Sd = S.toarray()
    rows = []
    for c in claims:
        vec = np.zeros(m * H)
        for target, t, coef in c.terms:
            cols = np.flatnonzero(Sd[target]) if isinstance(target, int) else target
            vec[t * m + cols] += coef
        rows.append((vec, c.value, c.sd))
    expect = dense_gls_with_claims(S, dense_W(S, method, e), y_hat, rows, k, corr)
    assert rel(r.bottom, expect) < 1e-9
    assert rel(S @ r.bottom, r.series) < 1e-12
    plain = reconcile(y_hat, S, method, residuals=e)
    if corr is not None:  # the claim about period 3 moves its neighbours too, as far as they go together
        alone = reconcile(y_hat, S, method, residuals=e, claims=claims[:1], horizon_scale=k, horizon_corr=corr)
        shift = alone.series[0] - plain.series[0]
        assert shift[3] > shift[2] > shift[1] > shift[0] > 0 and shift[3] > shift[4] > 0
    else:  # periods apart: only period 3 moves
        alone = reconcile(y_hat, S, method, residuals=e, claims=claims[:1], horizon_scale=k)
        shift = alone.series[0] - plain.series[0]
        assert np.abs(np.delete(shift, 3)).max() < 1e-9 * abs(shift[3])
    assert r.series[0, 3] > plain.series[0, 3]  # the claim informs the forecast ...
    assert r.series[0, 3] < 1.3 * total  # ... without overriding it
    fit = {f.id: f for f in r.claims}
    assert fit["total in period 3"].fitted == pytest.approx(r.series[0, 3], rel=1e-12)
    assert fit["total in period 3"].z == pytest.approx((r.series[0, 3] - 1.3 * total) / (0.05 * total))
    for f in r.claims:
        assert f.verdict == ("consistent" if abs(f.z) <= 2 else "in tension" if abs(f.z) <= 3 else "contradicted")


def test_correlated_periods_tie_the_nonnegative_solve_without_claims():
    # under the bound, errors correlated across periods tie the periods together even with no
    # claim: the answer meets the joint problem's KKT conditions, and a claim of no weight changes
    # nothing
    from marketcube.solve.project import Claim

    S = GROUPED
    y_hat, e = data(S, seed=2)
    m = S.shape[1]
    y_hat[-m:][:5] = -30.0
    k = np.arange(1.0, H + 1)
    r = reconcile(y_hat, S, "wls_var", residuals=e, nonnegative=True, horizon_scale=k, horizon_corr=AR_CORR)
    assert r.bottom.min() >= 0.0 and r.active_set_passes > 0
    Sd = S.toarray()
    Wi = np.diag(1.0 / (np.mean(e**2, axis=1) + 2e-8))
    Ki = np.linalg.inv(horizon_cov(k, AR_CORR))
    N = np.kron(Ki, Sd.T @ Wi @ Sd)
    rhs = ((Sd.T @ Wi @ y_hat) @ Ki).T.reshape(-1)
    x = r.bottom.T.reshape(-1)
    g = N @ x - rhs
    scale = np.abs(rhs).max()
    assert np.all(np.abs(g[x > 1e-9]) < 1e-7 * scale) and np.all(g[x <= 1e-9] > -1e-7 * scale)
    faint = [Claim("faint", ((0, 1, 1.0),), float(y_hat[0, 1]), 1e6 * abs(float(y_hat[0, 1])))]
    r2 = reconcile(y_hat, S, "wls_var", residuals=e, nonnegative=True, horizon_scale=k, horizon_corr=AR_CORR, claims=faint)
    assert rel(r2.bottom, r.bottom) < 1e-6


@SCALES
def test_claims_with_nonnegative_bound_are_the_constrained_optimum(k, corr):
    from marketcube.solve.project import Claim

    S = GROUPED
    y_hat, e = data(S, seed=2)
    m = S.shape[1]
    y_hat[-m:][:5] = -30.0  # bottom forecasts that pull some reconciled values below zero
    # its sd is its own 2% and a 1% error shared with no other claim here: variance 0.02^2 + 0.01^2
    claims = [Claim("total", ((0, 1, 1.0),), float(y_hat[0, 1]) * 0.9, float(y_hat[0, 1]) * 0.02,
                    (("publisher", float(y_hat[0, 1]) * 0.01),))]
    var = float(y_hat[0, 1]) ** 2 * (0.02**2 + 0.01**2)
    r = reconcile(y_hat, S, "wls_var", residuals=e, claims=claims, nonnegative=True, horizon_scale=k, horizon_corr=corr)
    Ki = np.linalg.inv(horizon_cov(k, corr))
    assert r.bottom.min() >= 0.0 and r.active_set_passes > 0
    # KKT on the stacked problem: gradient >= 0 where b = 0 and = 0 where b > 0
    Sd = S.toarray()
    vec = np.zeros(m * H)
    vec[1 * m + np.arange(m)] = 1.0
    Wi = np.diag(1.0 / (np.mean(e**2, axis=1) + 2e-8))
    N = np.kron(Ki, Sd.T @ Wi @ Sd) + np.outer(vec, vec) / var
    rhs = ((Sd.T @ Wi @ y_hat) @ Ki).T.reshape(-1) + vec * claims[0].value / var
    x = r.bottom.T.reshape(-1)
    g = N @ x - rhs
    scale = np.abs(rhs).max()
    assert np.all(np.abs(g[x > 1e-9]) < 1e-7 * scale)
    assert np.all(g[x <= 1e-9] > -1e-7 * scale)


def test_claims_need_a_projection_and_valid_terms():
    from marketcube.solve.project import Claim

    y_hat, _ = data(GROUPED)
    y_hat, e = data(GROUPED)
    for method in ("bottom_up", "ols", "wls_struct"):
        with pytest.raises(ValueError, match="not variances"):
            reconcile(y_hat, GROUPED, method, claims=[Claim("c", ((0, 0, 1.0),), 1.0, 1.0)])
    with pytest.raises(ValueError, match="forecast period 99"):
        reconcile(y_hat, GROUPED, "wls_var", residuals=e, claims=[Claim("c", ((0, 99, 1.0),), 1.0, 1.0)])
    with pytest.raises(ValueError, match="sd"):
        reconcile(y_hat, GROUPED, "wls_var", residuals=e, claims=[Claim("c", ((0, 0, 1.0),), 1.0, 0.0)])


# ---------------------------------------------------------------- intervals from sample paths


def test_coherent_paths_come_back_unchanged_and_bounds_are_their_quantiles():
    from marketcube.solve.project import intervals

    S = GROUPED
    y_hat, e = data(S, seed=4)
    m = S.shape[1]
    rng = np.random.default_rng(0)
    base_bottom = np.abs(y_hat[-m:])
    paths = np.stack([S @ (base_bottom * rng.lognormal(0, 0.1, base_bottom.shape)) for _ in range(200)])
    for method in ("bottom_up", "ols", "mint_shrink"):
        r = reconcile(y_hat, S, method, residuals=e)
        bounds, bottom = intervals(r, paths, (80, 95), chunk=64, keep_bottom=True)
        # float32 storage, and paths are projected to PATH_TOL (1e-8 of each column's size)
        np.testing.assert_allclose(bottom, paths[:, -m:, :], rtol=1e-6, atol=1e-7 * np.abs(paths).max())
        lo, hi = bounds[95]
        np.testing.assert_allclose(lo, np.quantile(paths, 0.025, axis=0), rtol=1e-6, atol=1e-7 * np.abs(paths).max())
        np.testing.assert_allclose(hi, np.quantile(paths, 0.975, axis=0), rtol=1e-6, atol=1e-7 * np.abs(paths).max())
        assert np.all(bounds[80][0] >= lo - 1e-9) and np.all(bounds[80][1] <= hi + 1e-9)


def test_intervals_refuse_bad_paths():
    from marketcube.solve.project import intervals

    y_hat, e = data(GROUPED)
    r = reconcile(y_hat, GROUPED, "ols")
    with pytest.raises(ValueError, match="paths must be"):
        intervals(r, np.zeros((10, 3, H)))
    bad = np.ones((10,) + y_hat.shape)
    bad[3, 2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        intervals(r, bad)


# ---------------------------------------------------------------- calibration from backtests


def _calibration_case(seed: int = 3):
    """Two groups of 3 series, 2 horizons; paths gave +-10% intervals; backtest errors are
    uniform in +-20% for group 0 and +-5% for group 1 (4 origins each, all outcomes known)."""
    rng = np.random.default_rng(seed)
    point = np.full((6, 2), 50.0)
    bounds = {95: (point * 0.9, point * 1.1), 80: (point * 0.95, point * 1.05)}
    backtest = np.full((40, 6, 2), 20.0)
    spread = np.array([0.2, 0.2, 0.2, 0.05, 0.05, 0.05])[None, :, None]
    actual = backtest * (1 + spread * rng.uniform(-1, 1, backtest.shape))
    return point, bounds, backtest, actual, np.array([0, 0, 0, 1, 1, 1])


def test_calibration_scales_each_group_to_its_backtest_errors():
    point, bounds, backtest, actual, groups = _calibration_case()
    cal = pj.calibrate(point, bounds, backtest, actual, groups)
    # group 0's errors reach 20%, twice the paths' 10%: its 95% sides about double; group 1's shrink
    assert 1.7 < cal.factors[95][0] < 2.05 and 0.4 < cal.factors[95][1] < 0.55
    lo, hi = cal.bounds[95]
    assert np.allclose(point - lo, cal.factors[95][groups][:, None] * 5.0)
    # the conformal guarantee on the calibration data itself: at least 95% of relative errors inside
    rel = (actual - backtest) / backtest
    inside = (rel >= (lo - point)[None] / point[None]) & (rel <= (hi - point)[None] / point[None])
    for k in (0, 1):
        assert inside[:, groups == k].mean() >= 0.95
    assert list(cal.scores) == [240, 240]


def test_calibration_is_unit_invariant_and_keeps_thin_groups():
    point, bounds, backtest, actual, groups = _calibration_case()
    a = pj.calibrate(point, bounds, backtest, actual, groups)
    scaled = {lv: (lo * 1000, hi * 1000) for lv, (lo, hi) in bounds.items()}
    b = pj.calibrate(point * 1000, scaled, backtest * 1000, actual * 1000, groups)
    for lv in (80, 95):
        np.testing.assert_allclose(a.factors[lv], b.factors[lv], rtol=1e-12)
    # a group with no known outcome keeps its paths' intervals; outcomes past the history are NaN
    actual = actual.copy()
    actual[:, groups == 1, :] = np.nan
    c = pj.calibrate(point, bounds, backtest, actual, groups)
    assert c.factors[95][1] == 1.0 and c.scores[1] == 0
    np.testing.assert_array_equal(c.bounds[95][0][groups == 1], bounds[95][0][groups == 1])


def test_calibration_floors_at_zero_and_refuses_bad_shapes():
    point, bounds, backtest, actual, groups = _calibration_case()
    cal = pj.calibrate(point, {95: (point * 0.9, point * 1.1)}, backtest, actual * 3, groups, nonnegative=True)
    assert cal.bounds[95][0].min() == 0.0
    with pytest.raises(ValueError, match="origins, n_series, h"):
        pj.calibrate(point, bounds, backtest[:, :5], actual[:, :5], groups)
    with pytest.raises(ValueError, match="groups"):
        pj.calibrate(point, bounds, backtest, actual, groups[:5])


def test_calibration_weighs_every_horizon_alike():
    # 40 one-year-ahead errors within +-5%, but only 4 two-year-ahead ones, all of them +-20%; the
    # paths' intervals are +-10% at both horizons. Pooled, the many small errors would decide; with
    # each horizon weighing the same, the 95% factor must cover the two-year errors' spread.
    rng = np.random.default_rng(0)
    point = np.full((1, 2), 10.0)
    bounds = {95: (point * 0.9, point * 1.1)}
    backtest = np.full((40, 1, 2), 10.0)
    actual = np.full((40, 1, 2), np.nan)
    actual[:, 0, 0] = 10.0 * (1 + 0.05 * rng.uniform(-1, 1, 40))
    actual[:4, 0, 1] = 10.0 * (1 + np.array([0.2, -0.19, 0.18, -0.2]))
    cal = pj.calibrate(point, bounds, backtest, actual, np.array([0]))
    assert cal.factors[95][0] >= 1.8
    assert cal.scores[0] == 44


def test_horizon_corr_must_be_a_correlation_matrix():
    from marketcube.solve.project import Claim

    S = GROUPED
    y_hat, e = data(S, seed=4)
    claims = [Claim("total", ((0, 1, 1.0),), float(y_hat[0, 1]), 1.0)]
    go = lambda R: reconcile(y_hat, S, "wls_var", residuals=e, claims=claims, horizon_corr=R)  # noqa: E731
    with pytest.raises(ValueError, match="one row per forecast period"):
        go(np.eye(H + 1))
    with pytest.raises(ValueError, match="symmetric with ones on the diagonal"):
        go(np.triu(AR_CORR))
    with pytest.raises(ValueError, match="positive definite"):
        go(np.ones((H, H)))
    assert rel(go(np.eye(H)).bottom, go(None).bottom) < 1e-12


def test_robust_claims_are_the_reweighted_fixed_point_and_a_wild_one_loses_its_pull():
    from marketcube.solve.project import Claim

    S = GROUPED
    y_hat, e = data(S, seed=11)
    m = S.shape[1]
    total = float(y_hat[0, 3])
    claims = [
        Claim("fair", ((0, 2, 1.0),), 1.02 * float(y_hat[0, 2]), 0.03 * total),
        Claim("wild", ((0, 3, 1.0),), 3.0 * total, 0.02 * total),
    ]
    plain = reconcile(y_hat, S, "wls_var", residuals=e, claims=claims, horizon_scale=np.arange(1.0, H + 1),
                      horizon_corr=AR_CORR)
    rob = reconcile(y_hat, S, "wls_var", residuals=e, claims=claims, horizon_scale=np.arange(1.0, H + 1),
                    horizon_corr=AR_CORR, robust=2.5)
    fit = {f.id: f for f in rob.claims}
    assert fit["wild"].weight < 0.02 and fit["fair"].weight > 0.9
    assert fit["wild"].sd == claims[1].sd and fit["wild"].verdict == "contradicted"  # z on the stated sd
    assert abs(rob.series[0, 3] / total - 1) < 0.05 < abs(plain.series[0, 3] / total - 1)
    # the answer is the GLS with each claim's sd divided by the square root of the weight it kept,
    # and each weight is 1 / (1 + (z / 2.5)^2) of its own z
    Sd = S.toarray()
    rows = []
    for c in claims:
        vec = np.zeros(m * H)
        vec[c.terms[0][1] * m + np.flatnonzero(Sd[c.terms[0][0]])] = 1.0
        rows.append((vec, c.value, c.sd / np.sqrt(fit[c.id].weight)))
    expect = dense_gls_with_claims(S, dense_W(S, "wls_var", e), y_hat, rows, np.arange(1.0, H + 1), AR_CORR)
    assert rel(rob.bottom, expect) < 1e-6
    for f in rob.claims:
        assert f.weight == pytest.approx(1 / (1 + (f.z / 2.5) ** 2), abs=1e-5)
    with pytest.raises(ValueError, match="Cauchy scale"):
        reconcile(y_hat, S, "wls_var", residuals=e, claims=claims, robust=0.0)
    with pytest.raises(ValueError, match="Cauchy scale"):
        reconcile(y_hat, S, "bottom_up", robust=-1.0)
    # a wild claim whose error is mostly shared (with a claim not weighed here) loses its pull too
    shared = [claims[0], Claim("wild", claims[1].terms, claims[1].value, 0.002 * total, (("publisher", 0.3 * total),))]
    kept = reconcile(y_hat, S, "wls_var", residuals=e, claims=shared, horizon_scale=np.arange(1.0, H + 1),
                     horizon_corr=AR_CORR, robust=2.5)
    wild_shared = next(f for f in kept.claims if f.id == "wild")
    assert wild_shared.weight < 0.2 and abs(kept.series[0, 3] / total - 1) < 0.05


def test_claims_sharing_an_error_weigh_as_their_covariance_says():
    from marketcube.solve.project import Claim

    S = GROUPED
    y_hat, e = data(S, seed=5)
    m = S.shape[1]
    total = float(y_hat[0, 2])
    own, common = 0.01 * total, 0.05 * total
    pair = [Claim(f"edition {i}", ((0, 2, 1.0),), 1.2 * total, own, (("publisher", common),)) for i in (1, 2)]
    other = Claim("other", ((np.array([0, 1]), 4, 1.0),), 30.0, 3.0, (("definition", 2.0),))
    r = reconcile(y_hat, S, "wls_var", residuals=e, claims=pair + [other], horizon_scale=np.arange(1.0, H + 1),
                  horizon_corr=AR_CORR)
    # the dense GLS with the claims' full covariance
    Sd = S.toarray()
    Crows = []
    for c in pair + [other]:
        vec = np.zeros(m * H)
        target, t, _ = c.terms[0]
        vec[t * m + (np.flatnonzero(Sd[target]) if isinstance(target, int) else target)] = 1.0
        Crows.append(vec)
    C = np.array(Crows)
    Sigma = np.diag([own**2, own**2, 9.0]) + np.array([[common**2, common**2, 0], [common**2, common**2, 0], [0, 0, 4.0]])
    Ki = np.linalg.inv(horizon_cov(np.arange(1.0, H + 1), AR_CORR))
    Wi = np.linalg.inv(dense_W(S, "wls_var", e))
    N = np.kron(Ki, Sd.T @ Wi @ Sd) + C.T @ np.linalg.solve(Sigma, C)
    rhs = ((Sd.T @ Wi @ y_hat) @ Ki).T.reshape(-1) + C.T @ np.linalg.solve(Sigma, [c.value for c in pair + [other]])
    expect = np.linalg.solve(N, rhs).reshape(H, m).T
    assert rel(r.bottom, expect) < 1e-9
    # two editions sharing their publisher's error weigh like one claim of their pooled sd, not two
    one = Claim("pooled", ((0, 2, 1.0),), 1.2 * total, float(np.hypot(own / np.sqrt(2), common)))
    r1 = reconcile(y_hat, S, "wls_var", residuals=e, claims=[one, other], horizon_scale=np.arange(1.0, H + 1),
                   horizon_corr=AR_CORR)
    assert rel(r.series, r1.series) < 1e-9
    indep = [Claim(c.id, c.terms, c.value, float(np.hypot(own, common))) for c in pair]
    r2 = reconcile(y_hat, S, "wls_var", residuals=e, claims=indep + [other], horizon_scale=np.arange(1.0, H + 1),
                   horizon_corr=AR_CORR)
    assert r2.series[0, 2] > r.series[0, 2] + 1e-3 * total  # counted as independent, they would pull further
    fit = {f.id: f for f in r.claims}
    assert fit["edition 1"].sd == pytest.approx(np.hypot(own, common))


def test_a_shared_error_known_in_each_path_is_used_there():
    from marketcube.solve.project import Claim, intervals

    S = GROUPED
    y_hat, e = data(S, seed=4)
    m = S.shape[1]
    V = float(y_hat[0, 2])
    # a claim whose error is all its anchor's: in each path it says what that path's anchor says
    claim = Claim("anchored", ((0, 2, 1.0),), V, 1e-7 * V, (("anchor", 0.1 * V),))
    rec = reconcile(y_hat, S, "wls_var", residuals=e, claims=[claim])
    rng = np.random.default_rng(1)
    paths = np.stack([S @ (np.abs(y_hat[-m:]) * rng.lognormal(0, 0.05, (m, H))) for _ in range(40)])
    scores = np.linspace(-2.0, 2.0, 40)
    _, bottom = intervals(rec, paths, keep_bottom=True, chunk=7, shared_scores={"anchor": scores})
    for d in (0, 13, 39):  # path d is the projection of that path with the claim's value V (1 + 0.1 z_d)
        said = Claim("anchored", claim.terms, V * (1 + 0.1 * scores[d]), claim.sd, claim.shared)
        alone = reconcile(paths[d], S, "wls_var", residuals=e, claims=[said])
        np.testing.assert_allclose(bottom[d], alone.bottom, rtol=2e-5, atol=1e-5 * V)
    # drawn instead, the anchor's error is unrelated to the scores
    _, drawn = intervals(rec, paths, keep_bottom=True, chunk=7)
    assert np.abs(drawn[:, :, 2].sum(axis=1) - bottom[:, :, 2].sum(axis=1)).max() > 1e-4 * V
    with pytest.raises(ValueError, match="no claim shares"):
        intervals(rec, paths, shared_scores={"other": scores})
    with pytest.raises(ValueError, match="one per path"):
        intervals(rec, paths, shared_scores={"anchor": scores[:5]})
