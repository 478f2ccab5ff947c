"""The shortcuts that make the report fast answer what the plain computation answers.

The evidence solver reuses factorisations (a later pass's, a warm start's, with left-out statements
taken out by the Woodbury identity) as preconditioners; the forecast engine reads sample paths for
all horizons at once and the forecast stage reshapes the engine's frames. Each is checked here
against the computation it replaces, on small synthetic data. No timing is asserted (see
benchmarks/end_to_end.py).
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pandas as pd
import pytest
from scipy.linalg import cho_solve

from marketcube.forecast import _engine
from marketcube.solve import core

from .test_solve_core import YEARS, _mixed_problem


def _at_solution(p: core.Problem, **kw) -> core.Solution:
    return core.solve(p, n_draws=20, seed=3, **kw)


def _fresh(monkeypatch) -> None:
    """Every pass factors its own matrix: the computation before factorisations were reused."""
    monkeypatch.setattr(core, "REUSE_STEPS", 0)


def test_a_solve_that_reuses_factorisations_answers_what_fresh_ones_answer(monkeypatch) -> None:
    p = _mixed_problem()
    reused = core.solve(p)
    _fresh(monkeypatch)
    fresh = core.solve(p)
    assert reused.iterations == fresh.iterations
    np.testing.assert_allclose(reused.x, fresh.x, rtol=1e-9)
    np.testing.assert_allclose(reused.z, fresh.z, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("left_out", [[0], [0, 6], [2, 3], []])
def test_a_leave_out_solve_from_a_shared_factorisation_answers_what_a_fresh_one_answers(monkeypatch, left_out) -> None:
    # the statements are a noisy mix (sizes, a share, growth rates, a floor); the warm start's
    # factorisation includes the left-out statements, which the Woodbury identity takes out
    p = _mixed_problem()
    sol = _at_solution(p)
    assert sol.factor is not None
    leave_out = np.isin(np.arange(len(p.statements)), left_out)
    reused = core.solve(p, start=sol, passes=2, leave_out=leave_out)
    _fresh(monkeypatch)
    plain = copy.copy(sol)
    plain.factor = None
    fresh = core.solve(p, start=plain, passes=2, leave_out=leave_out)
    np.testing.assert_allclose(reused.x, fresh.x, rtol=1e-9)
    np.testing.assert_allclose(reused.log_ratio, fresh.log_ratio, rtol=1e-9, atol=1e-12)


def test_the_downdated_preconditioner_is_the_inverse_of_the_matrix_without_the_rows() -> None:
    p = _mixed_problem()
    sol = _at_solution(p)
    st = core._Structure(p)
    x = sol.x.ravel()
    keep = np.ones(len(p.statements))
    keep[[0, 6]] = 0.0
    A, _, _ = core._system(p, st, x, sol.log_ratio, sol.log_bias, sol.weight)
    full = core._Linear(A, x, YEARS, 1e-12, keep=np.ones(len(p.statements)))
    A_without, _, _ = core._system(p, st, x, sol.log_ratio, sol.log_bias, sol.weight * keep)
    without = core._Linear(A_without, x, YEARS, 1e-12, keep=keep)
    V = np.random.default_rng(0).standard_normal((full.A.shape[1], 3))
    expected = cho_solve(without.chol, V)
    np.testing.assert_allclose(full.factor.preconditioner(keep)(V), expected, rtol=1e-7, atol=1e-9 * np.abs(expected).max())


def test_one_right_hand_side_is_solved_as_cho_solve_solves_it() -> None:
    p = _mixed_problem()
    sol = _at_solution(p)
    g = np.random.default_rng(1).standard_normal(sol.factor.size)
    expected = cho_solve(sol.factor.chol, g)
    np.testing.assert_allclose(sol.factor.solve(g), expected, rtol=1e-10, atol=1e-12 * np.abs(expected).max())
    np.testing.assert_allclose(sol.factor.solve(g[:, None])[:, 0], expected, rtol=1e-10, atol=1e-12 * np.abs(expected).max())


def test_a_solution_pickles_without_its_factorisation() -> None:
    sol = _at_solution(_mixed_problem())
    back = pickle.loads(pickle.dumps(sol))
    assert back.factor is None and sol.factor is not None
    np.testing.assert_array_equal(back.x, sol.x)


def test_sample_paths_read_for_all_horizons_at_once_are_np_interps() -> None:
    rng = np.random.default_rng(2)
    probs = _engine._probs((80, 95))
    bands = np.sort(rng.lognormal(size=(6, len(probs))), axis=1)
    bands[2] = bands[2, 0]  # a flat table: every level the same value
    u = rng.uniform(probs[0], probs[-1], size=500)
    u[:3] = probs[[0, 5, 40]]  # levels exactly on the table
    j = np.clip(np.searchsorted(probs, u, side="right") - 1, 0, len(probs) - 2)
    got = _engine._interp_paths(bands, j, u - probs[j], probs[j + 1] - probs[j], u, probs)
    expected = np.array([np.interp(u, probs, bands[k]) for k in range(bands.shape[0])]).T
    np.testing.assert_array_equal(got, expected)


def test_the_engines_frames_hold_each_series_together_in_its_series_order() -> None:
    # three series of different lengths given in shuffled rows: the forecast stage reads the frames
    # by reshaping, which needs each series' rows contiguous and in the order of ``series``
    rng = np.random.default_rng(4)
    rows = [(uid, 2000 + t, float(v)) for uid, n in (("b", 9), ("a", 7), ("c", 9))
            for t, v in enumerate(np.cumprod(1 + rng.uniform(0.0, 0.1, n)) * 10)]
    df = pd.DataFrame([rows[i] for i in rng.permutation(len(rows))], columns=["unique_id", "ds", "y"])
    h = 4
    fc = _engine.forecast_detail(df, h, paths=10, seed=1)
    assert list(fc.frame["unique_id"]) == [uid for uid in fc.series for _ in range(h)]
    lengths = df.groupby("unique_id").size()
    assert list(fc.residuals["unique_id"]) == [uid for uid in fc.series for _ in range(lengths[uid])]
    for uid in fc.series:
        ds = fc.frame.loc[fc.frame["unique_id"] == uid, "ds"].to_numpy()
        np.testing.assert_array_equal(ds, df.loc[df["unique_id"] == uid, "ds"].max() + np.arange(1, h + 1))
