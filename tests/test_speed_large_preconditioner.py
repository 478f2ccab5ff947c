"""The large-problem path's shortcuts answer what the plain computation answers.

Large evidence problems are solved by conjugate gradients preconditioned by per-leaf blocks plus a
coarse correction for each year's level and the ratios and biases, with the normal matrix's products made through one
stacked sparse matrix, the blocks' prior terms placed through a cached pattern, and the draws'
right-hand sides made in single precision from noise drawn in place. Each is checked here against
the computation it replaces, on small synthetic problems forced onto the iterative path. No timing
is asserted (see benchmarks/triangulation.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from marketcube.solve import _cg, core

from .test_solve_core import YEARS, _mixed_problem


def _iterative(monkeypatch, p: core.Problem, tol: float = 1e-12) -> tuple[core._Linear, np.ndarray, int]:
    """The large path's linear problem of ``p`` at a point away from the start, and its rhs."""
    monkeypatch.setattr(core, "DIRECT_MAX", 0)
    st = core._Structure(p)
    x = core._start(p, st) * np.linspace(0.8, 1.2, st.n)
    extras = (np.full(p.n_ratios, 0.2), np.full(p.n_families, 0.05))
    A, b, n_claims = core._system(p, st, x, *extras, np.ones(len(p.statements)))
    return core._Linear(A, x, p.n_years, tol), b, n_claims


def _grid_problem(n_a: int = 6, n_b: int = 5, years: int = 6) -> core.Problem:
    """Two crossed dimensions (``n_a`` x ``n_b`` leaves): the market's total every year, each
    member of the first dimension in the first and last years, and each leaf's share of its member
    of the first dimension in the middle year, all consistent with leaves growing 4% a year."""
    leaves = n_a * n_b
    rows = [np.ones(leaves)] + [np.repeat(np.eye(n_a)[i], n_b) for i in range(n_a)] + list(np.eye(leaves))
    agg = sp.csr_matrix(np.array(rows))
    truth = np.linspace(1.0, 3.0, leaves)[None, :] * 1.04 ** np.arange(years)[:, None]
    sums = agg @ truth.T
    kind, sel, t, value, parent = [], [], [], [], []
    for y in range(years):
        kind, sel, t, value, parent = kind + [core.SIZE], sel + [0], t + [y], value + [sums[0, y]], parent + [-1]
    for i in range(n_a):
        for y in (0, years - 1):
            kind, sel, t, value, parent = kind + [core.SIZE], sel + [1 + i], t + [y], value + [sums[1 + i, y]], parent + [-1]
    for leaf in range(leaves):
        member = 1 + leaf // n_b
        kind, sel, t, parent = kind + [core.SHARE], sel + [1 + n_a + leaf], t + [years // 2], parent + [member]
        value = value + [sums[1 + n_a + leaf, years // 2] / sums[member, years // 2]]
    s = core.Statements(kind=kind, sel=sel, t=t, value=value, sd=[0.05] * len(kind), parent=parent)
    return core.Problem(years, agg, np.full(leaves, 1.0 / leaves), s)


@pytest.mark.parametrize("coarse_max", [2000, 0])
def test_the_coarse_correction_is_the_normal_matrix_on_each_years_level_and_the_extras(monkeypatch, coarse_max) -> None:
    monkeypatch.setattr(core, "COARSE_MAX", coarse_max)  # 0: the level alone
    linear, _, _ = _iterative(monkeypatch, _mixed_problem())
    m, n = linear.A.shape[1], linear.n
    normal = linear._normal(np.eye(m))
    L = n // YEARS
    Z = np.zeros((m, YEARS))
    for t in range(YEARS):
        Z[t * L : (t + 1) * L, t] = 1.0  # every cell of year t changes by the same fraction
    if coarse_max:
        Z = np.hstack([Z, np.eye(m)[:, n:]])  # and each ratio and bias on its own
    assert linear.coarse_extras == bool(coarse_max)
    factor = np.tril(linear.coarse[0])
    np.testing.assert_allclose(factor @ factor.T, Z.T @ normal @ Z, rtol=1e-9, atol=1e-12 * np.abs(normal).max())


@pytest.mark.parametrize("coarse_max", [2000, 0])
def test_the_two_level_preconditioner_is_symmetric_positive_definite(monkeypatch, coarse_max) -> None:
    monkeypatch.setattr(core, "COARSE_MAX", coarse_max)
    linear, _, _ = _iterative(monkeypatch, _mixed_problem())
    M_inv = linear._precondition(np.eye(linear.A.shape[1]))
    np.testing.assert_allclose(M_inv, M_inv.T, rtol=0, atol=1e-12 * np.abs(M_inv).max())
    assert np.linalg.eigvalsh((M_inv + M_inv.T) / 2).min() > 0
    # one right-hand side is preconditioned as a column of many
    v = np.random.default_rng(0).standard_normal(linear.A.shape[1])
    np.testing.assert_allclose(linear._precondition(v), M_inv @ v, rtol=1e-12, atol=1e-14)


def test_the_coarse_correction_takes_steps_off_and_the_answer_stays(monkeypatch) -> None:
    # the priors tie each leaf to the year's total, so without the correction the per-leaf blocks
    # misjudge the level: conjugate gradients need more steps to the same residual
    linear, b, _ = _iterative(monkeypatch, _grid_problem())
    g = linear._rt(b)
    with_level = _cg.pcg(linear._normal, linear._precondition, g, tol=1e-10, maxiter=2000)
    linear.coarse, linear.coarse_extras = None, False
    without = _cg.pcg(linear._normal, linear._precondition, g, tol=1e-10, maxiter=2000)
    assert with_level[1] < without[1]
    exact = np.linalg.solve(linear._normal(np.eye(len(g))), g)
    for du, _, _ in (with_level, without):
        np.testing.assert_allclose(du, exact, rtol=0, atol=1e-7 * np.abs(exact).max())


def test_the_stacked_product_is_the_normal_matrix(monkeypatch) -> None:
    linear, _, _ = _iterative(monkeypatch, _grid_problem())
    A = linear.A
    n, m = linear.n, A.shape[1]
    As = sp.hstack([A.C @ A.S + A.D, A.E]) @ sp.diags(np.concatenate([linear.col, np.ones(m - n)]))
    normal = (As.T @ As).toarray()
    V = np.random.default_rng(1).standard_normal((m, 3))
    np.testing.assert_allclose(linear._normal(V), normal @ V, rtol=1e-10, atol=1e-10 * np.abs(normal).max())
    np.testing.assert_allclose(linear._normal(V[:, 0]), normal @ V[:, 0], rtol=1e-10, atol=1e-10 * np.abs(normal).max())


def test_leaf_blocks_from_the_kept_pattern_answer_what_fresh_ones_answer(monkeypatch) -> None:
    # a second pass (new cells, new weights, the floor no longer binding) reuses the first pass's
    # placement of the priors' terms; a fresh structure works it out again
    monkeypatch.setattr(core, "DIRECT_MAX", 0)
    p = _mixed_problem()
    st = core._Structure(p)
    x0 = core._start(p, st)
    extras = (np.full(p.n_ratios, 0.2), np.full(p.n_families, 0.05))
    A, _, _ = core._system(p, st, x0, *extras, np.ones(len(p.statements)))
    core._Linear(A, x0, YEARS, 1e-12)
    x1 = x0 * np.linspace(0.7, 1.4, st.n) * 2.0
    weight = np.linspace(0.2, 1.0, len(p.statements))
    A1, _, _ = core._system(p, st, x1, *extras, weight)
    kept = core._Linear(A1, x1, YEARS, 1e-12)
    assert "prior_cells" in st.cache
    fresh_st = core._Structure(p)
    A2, _, _ = core._system(p, fresh_st, x1, *extras, weight)
    fresh = core._Linear(A2, x1, YEARS, 1e-12)
    np.testing.assert_allclose(kept.block_inv, fresh.block_inv, rtol=1e-10, atol=1e-12 * np.abs(fresh.block_inv).max())


def test_draws_from_a_transposed_view_are_the_draws_from_a_copy(monkeypatch) -> None:
    linear, _, _ = _iterative(monkeypatch, _mixed_problem())
    noise = np.random.default_rng(2).standard_normal((4, linear.A.shape[0]))  # (draws, rows)
    a = linear.deviations(noise.T)
    b = linear.deviations(np.ascontiguousarray(noise.T))
    np.testing.assert_array_equal(a, b)
    # and, in single precision to DRAW_TOL, what the float64 normal equations give
    exact = np.linalg.solve(linear._normal(np.eye(linear.A.shape[1])), linear._rt(np.ascontiguousarray(noise.T)))[: linear.n]
    np.testing.assert_allclose(a, exact, rtol=0, atol=1e-2 * np.abs(exact).max())


@pytest.mark.parametrize("n_draws", [7, 3])
def test_noise_drawn_in_place_is_the_noise_drawn_before(monkeypatch, n_draws) -> None:
    # batches of 3: the last batch is smaller than the buffer (7) or there is one batch (3)
    monkeypatch.setattr(core, "DRAW_BATCH", 3)
    p = _mixed_problem()
    st = core._Structure(p)
    x = core._start(p, st)
    A, _, n_claims = core._system(p, st, x, np.full(p.n_ratios, 0.2), np.full(p.n_families, 0.05), np.ones(len(p.statements)))
    linear = core._Linear(A, x, YEARS, core.DRAW_TOL)
    claim_scale = np.linspace(1.0, 2.0, n_claims)
    got = core._deviations(linear, n_claims, n_draws, 11, claim_scale)
    rng = np.random.default_rng(11)
    scale = np.ones(A.shape[0])
    scale[:n_claims] = claim_scale
    want = []
    for lo in range(0, n_draws, 3):
        noise = rng.standard_normal((min(n_draws, lo + 3) - lo, A.shape[0])) * scale
        want.append(linear.deviations(np.ascontiguousarray(noise.T)).T)
    np.testing.assert_array_equal(got, np.concatenate(want))


def test_the_iterative_solve_with_draws_answers_what_the_direct_one_answers(monkeypatch) -> None:
    p = _mixed_problem()
    direct = core.solve(p, n_draws=30, seed=5, tol=1e-10)
    monkeypatch.setattr(core, "DIRECT_MAX", 0)
    iterative = core.solve(p, n_draws=30, seed=5, tol=1e-10)
    np.testing.assert_allclose(iterative.x, direct.x, rtol=1e-7)
    np.testing.assert_allclose(iterative.z, direct.z, rtol=1e-6, atol=1e-8)
    spread = direct.draws.std(axis=0)
    assert np.abs(iterative.draws - direct.draws).max() < 0.1 * spread.max()
    assert (iterative.draws > 0).all()


def test_a_solve_that_keeps_leaf_blocks_answers_what_fresh_blocks_answer(monkeypatch) -> None:
    # the passes after the first keep an earlier pass's inverted leaf blocks while they
    # precondition well; the answer is the one every pass's own blocks give
    monkeypatch.setattr(core, "DIRECT_MAX", 0)
    p = _grid_problem()
    made = []
    init = core._Linear.__init__

    def counting(self, *args, **kw):
        init(self, *args, **kw)
        made.append(self.blocks_reused)

    monkeypatch.setattr(core._Linear, "__init__", counting)
    kept = core.solve(p, tol=1e-10, n_draws=20, seed=4)
    assert any(made) and not made[0]

    def fresh_blocks(self, *args, **kw):
        kw.pop("block_inv", None)
        init(self, *args, **kw)

    monkeypatch.setattr(core._Linear, "__init__", fresh_blocks)
    fresh = core.solve(p, tol=1e-10, n_draws=20, seed=4)
    assert kept.iterations == fresh.iterations
    np.testing.assert_allclose(kept.x, fresh.x, rtol=1e-7)
    np.testing.assert_allclose(kept.z, fresh.z, rtol=1e-6, atol=1e-8)
    assert np.abs(kept.draws - fresh.draws).max() < 0.05 * fresh.draws.std(axis=0).max()
