"""The evidence solver's sparse core, on small synthetic problems whose comments explain the data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketcube.pack import load
from marketcube.solve import core
from marketcube.validate import validate

from .packs import CLAIMS_CSV, add_rows, write_pack

# 2 regions x 2 countries = 4 leaves; rows: total, region A, region B, then each country
AGG = sp.csr_matrix(np.array([[1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], float))
YEARS = 4
# the truth: countries 10, 20, 30, 40 growing 5% a year
TRUTH = np.array([[10.0, 20, 30, 40]]) * 1.05 ** np.arange(YEARS)[:, None]
SUMS = AGG @ TRUTH.T  # (selection, year)
PRIOR = np.array([0.1, 0.2, 0.3, 0.4])


def _sizes_of_every_country(scale: float = 1.0) -> core.Statements:
    sel = [3, 4, 5, 6] * YEARS
    t = np.repeat(np.arange(YEARS), 4)
    return core.Statements(kind=[core.SIZE] * len(sel), sel=sel, t=t, value=[SUMS[s, y] * scale for s, y in zip(sel, t)],
                           sd=[0.1] * len(sel))


def test_exact_consistent_evidence_is_reproduced_without_priors() -> None:
    sol = core.solve(core.Problem(YEARS, AGG, PRIOR, _sizes_of_every_country(), priors=False), tol=1e-14)
    np.testing.assert_allclose(sol.x, TRUTH, rtol=1e-9)
    assert np.abs(sol.z).max() < 1e-9


@settings(max_examples=20, deadline=None)
@given(k=st.floats(min_value=1e-3, max_value=1e3))
def test_scaling_every_value_scales_the_answer_and_no_verdict(k: float) -> None:
    # a noisy mix of kinds, with one wild size claim
    s = core.Statements(
        kind=[core.SIZE, core.SIZE, core.SHARE, core.GROWTH, core.SIZE, core.FLOOR],
        sel=[0, 1, 3, 0, 0, 0], t=[0, 2, 2, 3, 3, 1], parent=[-1, -1, 1, -1, -1, -1], t0=[-1, -1, -1, 0, -1, -1],
        value=[SUMS[0, 0] * 1.02, SUMS[1, 2] * 0.97, 0.34, 0.05, SUMS[0, 3] * 3.0, 20.0],
        sd=[0.05, 0.1, 0.03, 0.01, 0.1, 0.05],
    )
    scaled = core.Statements(
        kind=s.kind, sel=s.sel, t=s.t, parent=s.parent, t0=s.t0, sd=s.sd,
        value=np.where(np.isin(s.kind, [core.SIZE, core.FLOOR]), s.value * k, s.value),
    )
    a = core.solve(core.Problem(YEARS, AGG, PRIOR, s))
    b = core.solve(core.Problem(YEARS, AGG, PRIOR, scaled))
    np.testing.assert_allclose(b.x, a.x * k, rtol=1e-6)
    assert list(core.verdicts(b.z, b.dispersion)) == list(core.verdicts(a.z, a.dispersion))
    assert core.verdicts(a.z, a.dispersion)[4] == "contradicted"


def test_coherence_is_structural() -> None:
    s = _sizes_of_every_country()
    sol = core.solve(core.Problem(YEARS, AGG, PRIOR, s), n_draws=30)
    sums = (AGG @ sol.x.T).T  # every aggregate row from the leaves
    np.testing.assert_allclose(sums[:, 0], sums[:, 1] + sums[:, 2], rtol=1e-12)
    np.testing.assert_allclose(sums[:, 1], sums[:, 3] + sums[:, 4], rtol=1e-12)
    assert (sol.draws >= 0).all() and sol.draws.shape == (30, YEARS, 4)


def test_share_statement_sets_a_split() -> None:
    # the total is known each year; country 0 holds 40% of region A (the prior says a third)
    s = core.Statements(
        kind=[core.SIZE] * YEARS + [core.SHARE] * YEARS + [core.SHARE] * YEARS,
        sel=[0] * YEARS + [3] * YEARS + [1] * YEARS, parent=[-1] * YEARS + [1] * YEARS + [0] * YEARS,
        t=list(range(YEARS)) * 3, value=list(SUMS[0]) + [0.4] * YEARS + [0.3] * YEARS, sd=[0.01] * YEARS + [0.005] * (2 * YEARS),
    )
    sol = core.solve(core.Problem(YEARS, AGG, PRIOR, s))
    region_a = sol.x[:, 0] + sol.x[:, 1]
    np.testing.assert_allclose(sol.x[:, 0] / region_a, 0.4, atol=0.01)
    np.testing.assert_allclose(region_a / sol.x.sum(1), 0.3, atol=0.01)


def test_growth_statement_sets_the_trend() -> None:
    # one size in the first year and a CAGR of 8% over three years
    s = core.Statements(kind=[core.SIZE, core.GROWTH], sel=[0, 0], t=[0, 3], t0=[-1, 0], value=[100.0, 0.08], sd=[0.02, 0.002])
    total = core.solve(core.Problem(YEARS, AGG, PRIOR, s)).x.sum(1)
    assert total[0] == pytest.approx(100, rel=0.01)
    assert (total[3] / total[0]) ** (1 / 3) - 1 == pytest.approx(0.08, abs=0.003)


def test_floor_is_an_inequality() -> None:
    # a size says 100; companies' attributable revenue says at least 120 (raises the market), or at
    # least 50 (changes nothing)
    def total(floor: float) -> float:
        s = core.Statements(kind=[core.SIZE, core.FLOOR], sel=[0, 0], t=[1, 1], value=[100.0, floor], sd=[0.2, 0.02])
        return float(core.solve(core.Problem(YEARS, AGG, PRIOR, s)).x.sum(1)[1])

    assert total(50.0) == pytest.approx(100, rel=0.01)
    assert total(120.0) > 115


def test_unknown_ratio_is_estimated_not_mixed() -> None:
    # the target says 100 a year; a related definition (ratio 1.5, not told) says 150
    s = core.Statements(kind=[core.SIZE] * 8, sel=[0] * 8, t=list(range(YEARS)) * 2, value=[100.0] * 4 + [150.0] * 4,
                        sd=[0.05] * 8, definition=[-1] * 4 + [0] * 4)
    sol = core.solve(core.Problem(YEARS, AGG, PRIOR, s, n_ratios=1))
    np.testing.assert_allclose(sol.x.sum(1), 100, rtol=0.01)
    assert np.exp(sol.log_ratio[0]) == pytest.approx(1.5, rel=0.02)


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"sd": [0.0]}, "positive sd"),
        ({"kind": [core.GROWTH], "t0": [2], "t": [2]}, "period of at least one year"),
        ({"t": [9]}, "outside the problem's years"),
        ({"sel": [7]}, "no leaf cell"),
    ],
)
def test_evidence_the_solver_cannot_use_is_a_clear_error(kw: dict, words: str) -> None:
    agg = sp.vstack([AGG, sp.csr_matrix((1, 4))]).tocsr()  # row 7 selects nothing
    base = {"kind": [core.SIZE], "sel": [0], "t": [1], "value": [100.0], "sd": [0.1]}
    with pytest.raises(ValueError, match=words):
        core.solve(core.Problem(YEARS, agg, PRIOR, core.Statements(**{**base, **kw})))


def test_the_same_claim_twice_is_reported_and_counted_once(tmp_path: Path) -> None:
    from marketcube.evidence import normalise
    from marketcube.solve import evidence as ev
    from marketcube.solve.splits import leaf_shares

    text = add_rows(CLAIMS_CSV, "b1again,beta,size,widgets,,,,2020,110.25,USD bn,,,,,medium,USD 110.25 bn (2020)")
    market = load(write_pack(tmp_path, claims_csv=text))
    dup = [f for f in validate(market) if f.code == "DUPLICATE-CLAIM"]
    assert [f.claims for f in dup] == [("b1", "b1again")]
    rng = np.random.default_rng(0)
    problem = ev.build(market, normalise(market), tuple(leaf_shares(market, d, 2, rng) for d in market.dimensions))
    assert "b1" in problem.claim_of and "b1again" not in problem.claim_of


def _mixed_problem(priors: bool = True) -> core.Problem:
    """Every kind of statement, with a related definition and a publisher family."""
    s = core.Statements(
        kind=[core.SIZE, core.SIZE, core.SHARE, core.GROWTH, core.SIZE, core.FLOOR, core.SIZE, core.GROWTH],
        sel=[0, 1, 3, 0, 0, 0, 2, 5], t=[0, 2, 2, 3, 3, 1, 1, 3], parent=[-1, -1, 1, -1, -1, -1, -1, -1],
        t0=[-1, -1, -1, 0, -1, -1, -1, 1],
        value=[SUMS[0, 0] * 1.02, SUMS[1, 2] * 0.97, 0.34, 0.05, SUMS[0, 3] * 1.4, 20.0, SUMS[2, 1] * 1.3, 0.06],
        sd=[0.05, 0.1, 0.03, 0.01, 0.1, 0.05, 0.1, 0.02],
        definition=[-1, -1, -1, -1, 0, -1, -1, -1], family=[0, 0, -1, -1, -1, -1, 0, -1],
    )
    return core.Problem(YEARS, AGG, PRIOR, s, n_ratios=1, n_families=1, priors=priors)


def test_the_iterative_path_has_the_direct_paths_normal_matrix_blocks_and_answer(monkeypatch) -> None:
    # the large-problem path never forms the normal matrix; on a small problem it can be checked
    p = _mixed_problem()
    st_ = core._Structure(p)
    x = core._start(p, st_) * np.linspace(0.8, 1.2, st_.n)
    A, b, _ = core._system(p, st_, x, np.array([0.2]), np.array([0.05]), np.ones(len(p.statements)))
    direct = core._Linear(A, x, YEARS, 1e-12)
    monkeypatch.setattr(core, "DIRECT_MAX", 0)
    iterative = core._Linear(A, x, YEARS, 1e-12)
    assert direct.chol is not None and iterative.chol is None
    As = sp.hstack([A.C @ A.S + A.D, A.E]) @ sp.diags(np.concatenate([direct.col, np.ones(A.shape[1] - st_.n)]))
    normal = (As.T @ As).toarray()
    factor = np.tril(direct.chol[0])
    np.testing.assert_allclose(factor @ factor.T, normal, rtol=1e-9, atol=1e-9 * np.abs(normal).max())
    eye = np.eye(A.shape[1])
    np.testing.assert_allclose(iterative._normal(eye), normal, rtol=1e-10, atol=1e-10 * np.abs(normal).max())
    L = st_.L
    for leaf in range(L):
        cells = np.arange(YEARS) * L + leaf
        np.testing.assert_allclose(iterative.block_inv[leaf] @ normal[np.ix_(cells, cells)], np.eye(YEARS), atol=1e-6)
    for a, c in zip(direct.solve(b)[:2], iterative.solve(b)[:2]):  # cells, ratio and bias steps
        np.testing.assert_allclose(c, a, rtol=1e-8, atol=1e-12)
    noise = np.random.default_rng(1).standard_normal((len(b), 3))
    np.testing.assert_allclose(iterative.deviations(noise), direct.deviations(noise), rtol=0, atol=1e-3 * np.abs(direct.deviations(noise)).max())


def test_the_iterative_path_also_reproduces_exact_evidence(monkeypatch) -> None:
    monkeypatch.setattr(core, "DIRECT_MAX", 0)
    sol = core.solve(core.Problem(YEARS, AGG, PRIOR, _sizes_of_every_country(), priors=False), tol=1e-13)
    np.testing.assert_allclose(sol.x, TRUTH, rtol=1e-9)


def test_a_leaf_without_evidence_follows_its_members_estimated_shares() -> None:
    # 2 types x 2 regions = 4 leaves (t0r0, t0r1, t1r0, t1r1); the evidence: the total (100 a year),
    # type t0 at 70% and region r0 at 40%, nothing about any leaf; the assumed shares are 25% each
    # rows of agg: the total, type t0, region r0, type t1, region r1 (the last two: margins only)
    agg = sp.csr_matrix(np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 1, 1], [0, 1, 0, 1]], float))
    n = 4
    t = np.arange(n)
    s = core.Statements(
        kind=[core.SIZE] * n + [core.SHARE] * (2 * n), sel=[0] * n + [1] * n + [2] * n, t=np.tile(t, 3),
        parent=[-1] * n + [0] * (2 * n), value=[100.0] * n + [0.7] * n + [0.4] * n, sd=[0.02] * n + [0.01] * (2 * n),
    )
    flat = np.full(4, 0.25)
    new = core.solve(core.Problem(n, agg, flat, s, interaction=(np.array([1, 1, 3, 3]), np.array([2, 4, 2, 4]))))
    # no interaction unless the evidence shows one: each leaf is its type's share times its region's
    np.testing.assert_allclose(new.x / new.x.sum(axis=1, keepdims=True), np.tile([0.28, 0.42, 0.12, 0.18], (n, 1)), atol=0.005)
    # drawn towards the assumed shares instead, the leaves within the same margins are not the product
    old = core.solve(core.Problem(n, agg, flat, s))
    assert np.abs(old.x[0] / old.x[0].sum() - [0.28, 0.42, 0.12, 0.18]).max() > 0.01


@pytest.mark.parametrize("n", [5, 300])
def test_the_interaction_prior_does_not_hold_back_a_margin(n: int) -> None:
    # 2 types x n regions; the evidence: the total (100 a year) and type t0 at 70% (sd 2 points);
    # however many leaves a margin has, the prior on the leaves' interaction must not resist it
    L, years = 2 * n, 3
    rows = [np.ones(L), np.r_[np.ones(n), np.zeros(n)], np.r_[np.zeros(n), np.ones(n)]]
    rows += [np.isin(np.arange(L), [j, n + j]).astype(float) for j in range(n)]
    agg = sp.csr_matrix(np.array(rows))
    t = np.arange(years)
    s = core.Statements(kind=[core.SIZE] * years + [core.SHARE] * years, sel=[0] * years + [1] * years, t=np.tile(t, 2),
                        parent=[-1] * years + [0] * years, value=[100.0] * years + [0.7] * years, sd=[0.02] * (2 * years))
    interaction = (np.r_[np.ones(n, int), np.full(n, 2)], 3 + np.r_[np.arange(n), np.arange(n)])
    sol = core.solve(core.Problem(years, agg, np.full(L, 1 / L), s, interaction=interaction), n_draws=40)
    np.testing.assert_allclose(sol.x[:, :n].sum(axis=1) / sol.x.sum(axis=1), 0.7, atol=1e-3)
    # and its draws: three yearly 2-point claims on a persistent share, about 2 / sqrt(3) points
    spread = (sol.draws[:, :, :n].sum(axis=2) / sol.draws.sum(axis=2)).std(axis=0)
    assert np.all((spread > 0.006) & (spread < 0.025))


def _crossed_market(tau: float, seed: int, leaf_claims: int, broad_claims: int = 0, tails: bool = False) -> core.Problem:
    """8 types x 10 regions over 4 years: the total (1000 a year), every type's and region's size
    each year, ``leaf_claims`` size claims about single leaves and ``broad_claims`` about blocks of
    4 types x 5 regions, all with noise at their stated 10% (normal, or Student-t with 3 degrees of
    freedom with ``tails``); each leaf departs from its type's share times its region's by exp(u),
    u ~ N(0, tau)."""
    rng = np.random.default_rng(seed)
    nt, nr, years = 8, 10, 4
    L = nt * nr
    a, b = rng.dirichlet(np.full(nt, 4.0)), rng.dirichlet(np.full(nr, 4.0))
    leaf = np.outer(a, b).ravel() * np.exp(rng.normal(0, tau, L))
    cells = 1000.0 * leaf / leaf.sum()
    type_of, region_of = np.repeat(np.arange(nt), nr), np.tile(np.arange(nr), nt)
    rows = [np.ones(L)] + [(type_of == i).astype(float) for i in range(nt)] + [(region_of == j).astype(float) for j in range(nr)]
    rows += [np.eye(L)[k] for k in range(L)]
    blocks = [((type_of // 4) == i) & ((region_of // 5) == j) for i in range(2) for j in range(2)]
    rows += [blk.astype(float) for blk in blocks]
    agg = sp.csr_matrix(np.array(rows))
    true_sums = agg @ cells
    sel = list(range(1 + nt + nr)) * years
    t = list(np.repeat(np.arange(years), 1 + nt + nr))
    picks = rng.integers(0, L, leaf_claims)
    sel += list(1 + nt + nr + picks)
    t += list(rng.integers(0, years, leaf_claims))
    sel += list(1 + nt + nr + L + rng.integers(0, len(blocks), broad_claims))
    t += list(rng.integers(0, years, broad_claims))
    sel, t = np.array(sel), np.array(t)
    noise = rng.standard_t(3, len(sel)) if tails else rng.standard_normal(len(sel))
    value = true_sums[sel] * np.exp(0.1 * noise)
    s = core.Statements(kind=[core.SIZE] * len(sel), sel=sel, t=t, value=value, sd=[0.1] * len(sel))
    interaction = (1 + type_of, 1 + nt + region_of)
    return core.Problem(years, agg, np.full(L, 1 / L), s, interaction=interaction)


@pytest.mark.parametrize("tau", [0.0, 0.3])
def test_the_interaction_scale_is_estimated_from_claims_about_crossings(tau: float) -> None:
    # 400 claims about single leaves, whose departures from the margins' product are the
    # interaction plus their own noise; the margins' claims give no information on it
    p = _crossed_market(tau, seed=3, leaf_claims=400)
    found = core.interaction_scale(p, core.solve(p), seed=1)
    assert found is not None
    estimate, n, boot = found
    assert n == 400
    assert abs(estimate - tau) < 0.06
    lo, hi = np.quantile(boot, [0.05, 0.95])
    assert lo <= estimate + 1e-9 and estimate <= hi + 1e-9 and hi - lo < 0.15


def test_too_few_claims_about_crossings_leave_the_interaction_scale_unestimated() -> None:
    p = _crossed_market(0.3, seed=3, leaf_claims=core.MIN_FOR_INTERACTION - 1)
    assert core.interaction_scale(p, core.solve(p)) is None
    flat = core.Problem(p.n_years, p.agg, p.prior_share, p.statements)  # no crossed dimensions
    assert core.interaction_scale(flat, core.solve(flat)) is None


def test_draws_mix_over_the_interaction_scales_uncertainty() -> None:
    # the same problem; a leaf no claim reaches: its draws follow the prior, and mixing over a
    # spread of scales (half the draws at 0.1, half at 0.5) widens its tails beyond a fixed 0.3's
    p = _crossed_market(0.3, seed=3, leaf_claims=60)
    reached = set(p.statements.sel[p.statements.sel >= 19] - 19)
    free = next(k for k in range(80) if k not in reached)
    p.interaction_sd = 0.3
    fixed = core.solve(p, n_draws=400, seed=2)
    p.interaction_spread = np.array([0.1, 0.5])
    mixed = core.solve(p, n_draws=400, seed=2)
    rel = lambda sol: sol.draws[:, :, free] / sol.x[None, :, free] - 1  # noqa: E731
    np.testing.assert_allclose(mixed.x, fixed.x, rtol=1e-6)
    kurt = lambda d: float(np.mean(d**4) / np.mean(d**2) ** 2)  # noqa: E731
    assert kurt(rel(mixed)) > kurt(rel(fixed)) + 0.5


def test_the_interaction_scale_holds_under_heavy_tailed_noise_with_broad_crossings() -> None:
    # the same market with Student-t noise and claims about broad crossings, from whose departures
    # the noise is drawn: the estimate stays near the truth (on 80 leaves, 0.155 where they were
    # drawn at sd 0.2; without the broad claims, from normal noise at the margins' scale, 0.163)
    p = _crossed_market(0.2, seed=5, leaf_claims=800, broad_claims=400, tails=True)
    estimate, n, boot = core.interaction_scale(p, core.solve(p), seed=1)
    assert n == 1200
    assert abs(estimate - 0.2) < 0.06
    assert np.quantile(boot, 0.05) < estimate < np.quantile(boot, 0.95)
