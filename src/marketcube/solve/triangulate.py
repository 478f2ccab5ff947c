"""Triangulation, simple method: the whole market's history from the claims that measure it.

Unknowns: log of the total market (USD bn) in each history year. Rows, each scaled to a
standardised residual by the claim's confidence:

- a size of the whole market under the target definition, or under a related definition with a
  ratio the pack states (value / ratio): ``x[t] - log(value / ratio)``, sd ``SIGMA_LOG``;
- a CAGR of the whole market over a period that overlaps the history (the stated period, or
  base..end from the source's own endpoints):
  ``x[t2] - x[t1] - n log(1 + g)``, sd ``SIGMA_GROWTH x n``;
- a smooth-growth prior (second differences of x), sd ``SMOOTH_SIGMA``, and a barely binding prior
  of no average growth (sd ``SLOPE_PRIOR_SIGMA``) so that one sized year is still a solvable problem;
- a stated ratio's own uncertainty widens the sd of every size under its definition.

Solved by ``scipy.optimize.least_squares`` with the Cauchy loss (its pull fades for residuals far
beyond their scale, unlike soft-L1's, whose constant pull still drags an unconstrained year), so one
wild claim cannot drag the market; the start is the least-squares fit without the wildest claims'
influence (the median level). The covariance of x is (A' W A)^-1 with W the robust weights at the solution, scaled
up by the residual dispersion when the claims disagree more than their confidence says. Claims of
definitions with no stated ratio are not mixed in (a later solver estimates those ratios).
Segment splits come from the pack's assumptions (see ``splits``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from ..cube import Cube
from ..evidence import Evidence
from ..pack import Market
from ..validate import growth_period, is_whole_market, ratio_log_sd, usable_definitions
from .splits import LeafShares, leaf_shares

__all__ = ["History", "triangulate", "SIGMA_LOG", "SIGMA_GROWTH", "N_DRAWS", "SEED"]

SIGMA_LOG = {"high": 0.10, "medium": 0.20, "low": 0.30}  # sd of log(size): ~10%, 20%, 30%
SIGMA_GROWTH = {"high": 0.010, "medium": 0.015, "low": 0.020}  # sd of a CAGR, per year
SMOOTH_SIGMA = 0.03
CAUCHY_SCALE = 2.0  # residuals within about 2 sd count nearly in full
SLOPE_PRIOR_SIGMA = 0.5  # sd of the average log growth a year: flat, but barely binding  # sd of the year-on-year change in log growth
N_DRAWS = 1000
SEED = 20240101


@dataclass(frozen=True)
class History:
    """The triangulated history: the total by year (USD bn), its uncertainty, the split draws."""

    years: tuple[int, ...]
    total_usd_bn: np.ndarray  # (years,)
    log_cov: np.ndarray  # (years, years) covariance of log total
    used: tuple[str, ...]  # ids of the claims the fit used
    conventions: dict[str, str]  # growth claim id -> the period convention used
    dispersion: float  # residual scale factor applied to the covariance (>= 1)
    shares: tuple[LeafShares, ...]
    cube: Cube  # the history years only
    method: str


def triangulate(market: Market, evidence: Evidence) -> History:
    years = tuple(range(market.years.history_start, market.years.base_year + 1))
    idx = {y: i for i, y in enumerate(years)}
    ratios = usable_definitions(market)
    rows: list[tuple[dict[int, float], float, float]] = []  # (coefficients, target, sd)
    used, conventions = [], {}
    for item in evidence.items:
        c = item.claim
        if not is_whole_market(c) or c.definition not in ratios:
            continue
        if c.kind == "size" and item.value_usd_bn and item.year in idx:
            sd = float(np.hypot(SIGMA_LOG[c.confidence], ratio_log_sd(market, c.definition)))
            rows.append(({idx[item.year]: 1.0}, float(np.log(item.value_usd_bn / ratios[c.definition])), sd))
            used.append(c.id)
        elif c.kind == "growth" and item.fraction is not None:
            period = growth_period(market, c)
            if period is None:
                continue
            t1, t2 = max(period[0], years[0]), min(period[1], years[-1])
            if t2 <= t1:
                continue
            n = t2 - t1
            rows.append(({idx[t2]: 1.0, idx[t1]: -1.0}, n * float(np.log1p(item.fraction)), SIGMA_GROWTH[c.confidence] * n))
            used.append(c.id)
            stated = c.period_from is not None and c.period_to is not None
            conventions[c.id] = f"{period[0]}..{period[1]}" + ("" if stated else " (from its own endpoints)")
    n_claim_rows = len(rows)
    for i in range(1, len(years) - 1):
        rows.append(({i - 1: 1.0, i: -2.0, i + 1: 1.0}, 0.0, SMOOTH_SIGMA))
    # a very weak prior on the average growth keeps the problem well posed when the evidence sizes
    # only one year and states no growth (then the history is flat, with wide intervals)
    span = len(years) - 1
    rows.append(({span: 1.0 / span, 0: -1.0 / span}, 0.0, SLOPE_PRIOR_SIGMA))
    a = np.zeros((len(rows), len(years)))
    b = np.zeros(len(rows))
    sd = np.zeros(len(rows))
    for r, (coef, target, s) in enumerate(rows):
        for j, v in coef.items():
            a[r, j] = v
        b[r], sd[r] = target, s
    aw, bw = a / sd[:, None], b / sd
    levels = [b[r] for r in range(n_claim_rows) if np.count_nonzero(a[r]) == 1]
    x0 = np.full(len(years), np.median(levels))
    fit = least_squares(lambda x: aw @ x - bw, x0, jac=lambda x: aw, loss="cauchy", f_scale=CAUCHY_SCALE, method="trf")
    z = aw @ fit.x - bw
    weights = 1.0 / (1.0 + (z / CAUCHY_SCALE) ** 2)  # Cauchy: rho'(z^2)
    dof = max(1, len(rows) - len(years))
    dispersion = float(max(1.0, np.sum(weights * z**2) / dof))
    cov = np.linalg.inv(aw.T @ (weights[:, None] * aw)) * dispersion
    total = np.exp(fit.x)
    rng = np.random.default_rng(SEED)
    log_draws = rng.multivariate_normal(fit.x, cov, size=N_DRAWS, method="cholesky")
    shares = tuple(leaf_shares(market, d, N_DRAWS, rng) for d in market.dimensions)
    cube = build_cube(market, years, total, np.exp(log_draws), shares, {y: "modelled" for y in years})
    method = (
        f"weighted robust least squares (Cauchy loss) on log market size, {len(used)} claims of the target "
        f"definition or of definitions with a stated ratio, smooth-growth prior; covariance scaled by "
        f"the residual dispersion {dispersion:.2f}; segment splits from the pack's assumptions, "
        f"{N_DRAWS} joint draws (seed {SEED})"
    )
    return History(years, total, cov, tuple(used), conventions, dispersion, shares, cube, method)


def leaf_share_product(shares: tuple[LeafShares, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Point (leaves,) and draws (draws, leaves) of each leaf cell's share of the total.

    Leaves are the cartesian product of the dimensions' leaves in declaration order (as ``Cube``).
    """
    point = np.ones(1)
    draws = np.ones((shares[0].draws.shape[0], 1))
    for s in shares:
        point = np.outer(point, s.point).ravel()
        draws = (draws[:, :, None] * s.draws[:, None, :]).reshape(draws.shape[0], -1)
    return point, draws


def build_cube(
    market: Market,
    years: tuple[int, ...],
    total: np.ndarray,
    total_draws: np.ndarray,
    shares: tuple[LeafShares, ...],
    total_provenance: dict[int, str],
) -> Cube:
    """Divide the total (years,) and its draws (draws, years) into leaf cells by the shares."""
    point, draws = leaf_share_product(shares)
    return Cube(
        market.dimensions,
        years,
        total[:, None] * point[None, :],
        total_draws[:, :, None] * draws[:, None, :],
        total_provenance,
    )
