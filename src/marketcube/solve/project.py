"""Projection mode of the solver: coherent forecasts for every series of a grouped hierarchy.

Every series (the total, each aggregate, each bottom series) has a base forecast ``y_hat``
(n_series x h, in the forecasts' own unit, e.g. USD bn a year; the result has the same unit).
The summing matrix ``S`` (scipy.sparse CSR, n_series x n_bottom, 0/1) says which bottom series
each row adds up; several crossed dimensions are allowed (grouped, not only nested). Reconciled
forecasts are ``y_tilde = S b`` for reconciled bottom forecasts ``b``, so they add up exactly.

Methods (the reference numbers are Nixtla hierarchicalforecast 1.5's dense classes):

- ``bottom_up``: ``b = y_hat[bottom rows]`` (``BottomUp``).
- generalised least squares, ``b = (S' W^-1 S)^-1 S' W^-1 y_hat`` (Wickramasuriya, Athanasopoulos
  & Hyndman 2019, JASA 114:804-819; ``MinTrace``):

  - ``ols``: ``W = I``;
  - ``wls_struct``: ``W = diag(S 1)``, the number of bottom series under each series;
  - ``wls_var``: ``W = diag(mean(e^2) + 2e-8)`` over the in-sample residuals ``e``, uncentred and
    divided by T, as hierarchicalforecast computes it;
  - ``mint_shrink``: ``W = lambda diag(Sigma) + (1 - lambda) Sigma`` with ``Sigma`` the sample
    covariance (centred, divided by T - 1) of the T in-sample residuals, its diagonal floored at
    ``ridge`` (2e-8), and ``lambda`` the Schafer & Strimmer (2005) intensity computed as
    hierarchicalforecast's ``_shrunk_covariance_schaferstrimmer_no_nans`` does (standardised by the
    population sd plus 2e-8, 2e-8 added to the denominator, clipped to [0, 1]).

- ``top_down``: forecast proportions (Athanasopoulos, Ahmed & Hyndman 2009, IJF 25:146-166;
  ``TopDown(method='forecast_proportions')``): going down the levels, each child gets its parent's
  reconciled forecast times its own base forecast over the sum of its siblings' base forecasts
  (an equal split when that sum is below 1e-8 in absolute value). Nested hierarchies only; it is a
  proportional rule, not a projection.

No dense n x n or n x m matrix is built, and one code path runs at every size:

- ``W`` is kept as a diagonal plus a rank-T term ``D + U U'`` (``U`` n x T). The bottom x bottom
  system ``A b = S' W^-1 y`` with ``A = S' W^-1 S = A_D - G C^-1 G'`` (``A_D = S' D^-1 S``,
  ``G = S' D^-1 U``, ``C = I + U' D^-1 U``) is solved by conjugate gradients on ``A_D``, Jacobi
  preconditioned, for the right-hand sides and the T columns of ``G`` at once, then the Woodbury
  identity; ``A_D`` is as well conditioned as a WLS problem where ``A`` is not (MinT at 50k bottom
  series: 95 iterations on ``A``, 19 on ``A_D``). Each solve is refined on its true residual.
- ``S @ V`` and ``S' @ Y`` follow a summation plan: each level of S (a run of rows that splits the
  bottom series into disjoint groups) is summed from the finest other level it coarsens, not from
  the bottom (product from type x product, ...), about 3 passes over the bottom series instead of
  one per level on the benchmark's 16 levels. Rows that form no level are summed from the bottom.
- Residual NaNs are refused (their masked pairwise covariance is not diagonal plus low rank):
  drop the time points that have them.

Claims about forecast periods (``Claim``: a published size for a year, a CAGR that runs past the
base year, about any set of bottom series) are extra rows of the GLS objective with weight
``1 / sd^2``, for the methods whose ``W`` is an error covariance (``wls_var``, ``mint_shrink``;
OLS's and WLS-struct's weights have no unit, so a claim's weight beside them would be arbitrary), entered by the Woodbury identity on top of the solve (a few columns more); each
comes back with its fitted value, standardised residual and verdict (``ClaimFit``).

Non-negative mode solves the same GLS objective with ``b >= 0`` exactly (an active-set method
with block exchanges whose every sub-problem is the same conjugate-gradient solve with some bottom
series held at zero), so non-negative OLS/WLS/MinT is the constrained optimum, not a clipped
answer; bottom-up and top-down clip negative bottom forecasts to zero and re-aggregate.
hierarchicalforecast's non-negative MinTrace differs by definition: it sets negative base
forecasts to zero before its quadratic program (tests/test_project_reference.py).

``intervals(result, paths)`` reconciles joint sample paths of the base forecasts with the same
projection and reads each series' interval off the reconciled paths; ``calibrate`` then scales
each group's intervals so that they hold their coverage in backtests inside the history.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from ._cg import pcg
from .core import CONSISTENT, TENSION

__all__ = [
    "METHODS",
    "Hierarchy",
    "Weights",
    "Reconciliation",
    "Claim",
    "ClaimFit",
    "hierarchy",
    "intervals",
    "weights",
    "shrinkage_intensity",
    "reconcile",
    "calibrate",
    "Calibration",
]

METHODS = ("bottom_up", "ols", "wls_struct", "wls_var", "mint_shrink", "top_down")
GLS_METHODS = ("ols", "wls_struct", "wls_var", "mint_shrink")
VARIANCE_METHODS = ("wls_var", "mint_shrink")  # W is an error covariance, in the forecasts' squared unit
RIDGE = 2e-8  # hierarchicalforecast's floor on the covariance diagonal (and wls_var's addend)
SS_EPS = 2e-8  # hierarchicalforecast's guard in the Schafer-Strimmer standardisation and ratio
TOL = 1e-13  # CG stops at this relative residual (then checks the true residual): exact to ~1e-12
MAX_ITER = 5000
NN_MAX_PASSES = 200
NN_PASS_TOL = 1e-8  # relative residual of the non-negative passes before the last, exact one
NN_PASS_SLACK = 3  # inexact passes that may fail to reduce the violations
NN_INEXACT_PASSES = 30  # at most this many inexact passes before the exact ones
PATH_TOL = 1e-8  # sample paths feed quantiles: 8 digits are plenty, and CG stops sooner
ROBUST_MAX_ITER = 50  # reweighting rounds of robust claims
ROBUST_TOL = 1e-6  # they stop when no claim's weight moves by more


@dataclass(frozen=True)
class Hierarchy:
    """A validated summing structure.

    ``S``: CSR, n_series x n_bottom, 0/1. ``bottom_rows[j]``: the row that is bottom series j alone.
    ``levels``: row indices per level, top to bottom (only needed for ``top_down``); ``parent[i]``:
    the row of series i's parent, -1 at the top level (None unless ``levels`` is given).
    """

    S: sp.csr_matrix
    bottom_rows: np.ndarray
    plan: "_Plan"
    levels: tuple[np.ndarray, ...] | None = None
    parent: np.ndarray | None = None

    def up(self, V: np.ndarray) -> np.ndarray:
        """``S @ V`` (n_series x k) for V bottom x k."""
        return self.plan.up(V, self.n_series)

    def down(self, Y: np.ndarray) -> np.ndarray:
        """``S' @ Y`` (bottom x k) for Y n_series x k."""
        return self.plan.down(Y, self.n_bottom)

    @property
    def n_series(self) -> int:
        return self.S.shape[0]

    @property
    def n_bottom(self) -> int:
        return self.S.shape[1]


@dataclass(frozen=True)
class Weights:
    """The GLS weight matrix ``W = diag(diag) + low_rank @ low_rank.T`` (n_series x n_series,
    in squared forecast units), never formed. ``low_rank`` is n_series x r (r = 0 for diagonal W);
    ``shrinkage`` is MinT's lambda (None for the other methods)."""

    diag: np.ndarray
    low_rank: np.ndarray
    shrinkage: float | None = None


@dataclass(frozen=True)
class Claim:
    """A statement about the reconciled forecasts, entered as one extra weighted row of the GLS
    problem: ``sum(coef * value of the term's series in the term's forecast period) = value``, with
    standard deviation ``sd`` (both in the forecasts' unit). A term's series is a row of S (an int)
    or any set of bottom series (an array of their indices); several terms, in one or several
    periods, express a growth statement: ``V(t2) - (1 + g)^(t2 - t1) V(t1) = 0``.

    A published forecast of a size is one term; a CAGR from the (known) base year to a forecast
    year is a size, ``V_base (1 + g)^n``; a CAGR between two forecast years is two terms.

    ``shared``: errors the claim shares with others, as (name, sd in the forecasts' unit): claims
    naming the same error are correlated through it (one publisher's editions sharing a bias, the
    claims of one related definition sharing the error of its ratio to the target), so that ten
    claims with one common error weigh less than ten independent ones. ``sd`` is the claim's own
    error; its total sd is ``sqrt(sd^2 + sum of the shared sds^2)`` (a name given twice in one
    claim is one error: its sds add)."""

    id: str
    terms: tuple[tuple[int | np.ndarray, int, float], ...]
    value: float
    sd: float
    shared: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class ClaimFit:
    """How far the reconciled forecasts sit from a claim: ``z = (fitted - value) / sd``; the verdict
    reads |z| with the triangulation's thresholds (<= 2 consistent, <= 3 in tension, else
    contradicted)."""

    id: str
    value: float
    fitted: float
    sd: float
    z: float
    verdict: str
    weight: float = 1.0  # the robust weight it kept (1 unless ``robust`` was asked)


@dataclass(frozen=True)
class Reconciliation:
    """Reconciled forecasts, same unit as the base forecasts.

    ``series``: n_series x h, every row of S (coherent: equals ``S @ bottom``); ``bottom``:
    n_bottom x h. ``iterations``: conjugate-gradient iterations (0 for direct rules);
    ``active_set_passes``: non-negative passes (0 unless some unconstrained value was negative).
    """

    method: str
    series: np.ndarray
    bottom: np.ndarray
    nonnegative: bool
    shrinkage: float | None = None
    iterations: int = 0
    active_set_passes: int = 0
    claims: tuple[ClaimFit, ...] = ()
    shared_errors: tuple[str, ...] = ()  # names of the errors the claims share (``Claim.shared``)
    hierarchy: Hierarchy | None = field(default=None, repr=False, compare=False)
    _project: "Callable[[np.ndarray], np.ndarray] | None" = field(default=None, repr=False, compare=False)


# ---------------------------------------------------------------- structure


def hierarchy(S: sp.spmatrix | np.ndarray, levels: Sequence[Sequence[int]] | None = None) -> Hierarchy:
    """Validate a summing matrix (and, for top-down, its levels) into a ``Hierarchy``.

    Raises ValueError when S is not 0/1, has a bottom series in no row or no row of its own, or
    when ``levels`` do not form a nested hierarchy (each level a partition of the bottom series,
    each series inside exactly one series of the level above, the last level the bottom rows).
    """
    S = sp.csr_matrix(S, dtype=np.float64)
    S.eliminate_zeros()
    S.sum_duplicates()
    if S.ndim != 2 or S.shape[0] == 0 or S.shape[1] == 0:
        raise ValueError(f"S must be a non-empty 2-D matrix, got shape {S.shape}")
    if S.nnz and not np.all(S.data == 1.0):
        bad = np.unique(S.data[S.data != 1.0])[:5]
        raise ValueError(f"S must contain only 0 and 1 (summing matrix); found values {bad.tolist()}")
    n, m = S.shape
    col_count = np.bincount(S.indices, minlength=m)
    missing = np.flatnonzero(col_count == 0)
    if missing.size:
        raise ValueError(
            f"{missing.size} bottom series are in no row of S (first columns {missing[:5].tolist()}): "
            "every bottom series needs at least its own row"
        )
    row_count = np.diff(S.indptr)
    empty = np.flatnonzero(row_count == 0)
    if empty.size:
        raise ValueError(f"rows {empty[:5].tolist()} of S sum no bottom series")
    single = np.flatnonzero(row_count == 1)
    bottom_rows = np.full(m, -1, dtype=np.int64)
    bottom_rows[S.indices[S.indptr[single]]] = single  # the last row wins when several are one series
    lonely = np.flatnonzero(bottom_rows < 0)
    if lonely.size:
        raise ValueError(
            f"{lonely.size} bottom series have no row of their own in S (first columns {lonely[:5].tolist()}): "
            "S needs one row per bottom series (an identity block)"
        )
    lv, parent = (None, None) if levels is None else _tree(S, levels, bottom_rows)
    return Hierarchy(S=S, bottom_rows=bottom_rows, plan=_plan(S, bottom_rows), levels=lv, parent=parent)


@dataclass(frozen=True)
class _Step:
    """One block of rows of S, filled from a finer block (or the bottom series) by the 0/1 map R."""

    rows: np.ndarray | slice  # a slice when the rows are consecutive (no gather, no copy)
    source: int  # index of the source step; -1 for the bottom series
    R: sp.csr_matrix | None  # len(rows) x (rows of the source); None when it is the identity
    Rt: sp.csr_matrix | None  # R', for rows that do not split their source into groups
    group: np.ndarray | None = None  # when they do: the row each source row sums into (R' is a gather)


@dataclass(frozen=True)
class _Plan:
    """How to compute ``S @ V`` and ``S' @ Y`` with fewer additions than S has entries.

    S's rows are cut into blocks: runs of consecutive rows that split the bottom series into
    disjoint groups (a level: region, country x product, ...), and the rows between them. A level
    is summed from the finest other level it is a coarsening of, not from the bottom: product from
    type x product, region from region x type; only the levels no other level refines are summed
    from the bottom series. On the reconciliation benchmark's 16 levels this makes ``S @ V`` about
    3 passes over the bottom series instead of 16. ``S' @ Y`` runs the same maps backwards.
    Any S works: rows that form no level are summed from the bottom by their own rows of S."""

    steps: tuple[_Step, ...]

    def up(self, V: np.ndarray, n: int) -> np.ndarray:
        out = np.empty((n,) + V.shape[1:])
        vals: list[np.ndarray] = []
        for st in self.steps:
            src = V if st.source < 0 else vals[st.source]
            x = src if st.R is None else st.R @ src
            vals.append(x)
            out[st.rows] = x
        return out

    def down(self, Y: np.ndarray, m: int) -> np.ndarray:
        acc = [Y[st.rows] for st in self.steps]
        out = None
        for i in range(len(self.steps) - 1, -1, -1):
            st = self.steps[i]
            if st.group is not None:
                part = np.take(acc[i], st.group, axis=0)
            else:
                part = acc[i] if st.Rt is None else st.Rt @ acc[i]
            if st.source >= 0:
                acc[st.source] = acc[st.source] + part
            elif out is None:
                out = np.array(part, dtype=np.float64)
            else:
                out += part
        return out if out is not None else np.zeros((m,) + Y.shape[1:])


def _plan(S: sp.csr_matrix, bottom_rows: np.ndarray) -> _Plan:
    n, m = S.shape
    indptr = S.indptr
    blocks: list[tuple[np.ndarray, np.ndarray | None]] = []  # (rows, owner of each bottom series or None)
    loose: list[np.ndarray] = []
    start = 0
    while start < n:
        end = int(np.searchsorted(indptr, indptr[start] + m, side="left"))  # rows start..end-1 hold m entries
        rows = np.arange(start, min(end, n))
        if end <= n and indptr[end] - indptr[start] == m:
            cols = S.indices[indptr[start]:indptr[end]]
            if np.array_equal(np.bincount(cols, minlength=m), np.ones(m, dtype=np.int64)):
                owner = np.empty(m, dtype=np.int64)
                owner[cols] = np.repeat(np.arange(rows.size), np.diff(indptr[start:end + 1]))
                blocks.append((rows, owner))
                start = end
                continue
        loose.append(np.arange(start, start + 1))  # not the start of a level: summed from the bottom
        start += 1
    # levels, finest first; each from the coarsest-possible cheapest source: the finest... the level
    # with the fewest groups that still refines it (fewer additions), else the bottom series
    order = sorted(range(len(blocks)), key=lambda i: -blocks[i][0].size)
    steps: list[_Step] = []
    placed: dict[int, int] = {}  # block index -> step index
    for i in order:
        rows, owner = blocks[i]
        g = rows.size
        source, R, group = -1, None, owner
        candidates = sorted((blocks[j][0].size, j) for j in placed if blocks[j][0].size > g)
        for size_j, j in candidates:
            own_j = blocks[j][1]
            f = np.empty(size_j, dtype=np.int64)
            f[own_j] = owner
            if np.array_equal(f[own_j], owner):
                source = placed[j]
                R = sp.csr_matrix((np.ones(size_j), (f, np.arange(size_j))), shape=(g, size_j))
                group = f
                break
        if R is None:
            R = S[rows]
            if g == m and np.array_equal(R.indices, np.arange(m)):
                R, group = None, None  # the bottom series themselves, in order
        placed[i] = len(steps)
        steps.append(_Step(_span(rows), source, R, None, group))
    if loose:
        rows = np.concatenate(loose)
        R = S[rows]
        steps.append(_Step(_span(rows), -1, R, R.T.tocsr()))
    return _Plan(tuple(steps))


def _span(rows: np.ndarray) -> np.ndarray | slice:
    if rows.size and rows[-1] - rows[0] == rows.size - 1 and np.all(np.diff(rows) == 1):
        return slice(int(rows[0]), int(rows[-1]) + 1)
    return rows


def _tree(S: sp.csr_matrix, levels: Sequence[Sequence[int]], bottom_rows: np.ndarray) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    n, m = S.shape
    lv = tuple(np.asarray(level, dtype=np.int64).ravel() for level in levels)
    if not lv:
        raise ValueError("levels must list at least one level")
    flat = np.concatenate(lv)
    if flat.size and (flat.min() < 0 or flat.max() >= n):
        raise ValueError(f"levels name rows outside 0..{n - 1}")
    if np.unique(flat).size != flat.size:
        raise ValueError("a row of S appears in more than one place in levels")
    if flat.size != n:
        raise ValueError(f"levels cover {flat.size} of the {n} rows of S: every series needs a level")
    owner_prev: np.ndarray | None = None
    parent = np.full(n, -1, dtype=np.int64)
    for k, rows in enumerate(lv):
        sub = S[rows]
        if not np.array_equal(np.bincount(sub.indices, minlength=m), np.ones(m, dtype=np.int64)):
            raise ValueError(
                f"level {k} does not split the bottom series into disjoint groups (some bottom series is in "
                "none or in two of its series): the structure is grouped, not nested; top_down needs a tree"
            )
        owner = np.empty(m, dtype=np.int64)
        owner[sub.indices] = np.repeat(rows, np.diff(sub.indptr))
        if owner_prev is not None:
            up = owner_prev[sub.indices]
            first = up[sub.indptr[:-1]]
            if not np.array_equal(up, np.repeat(first, np.diff(sub.indptr))):
                raise ValueError(
                    f"a series of level {k} spans two series of level {k - 1} (crossed dimensions): "
                    "top_down needs a nested hierarchy, use a projection method for grouped ones"
                )
            parent[rows] = first
        owner_prev = owner
    if not np.array_equal(np.sort(lv[-1]), np.sort(bottom_rows)) or np.diff(S[lv[-1]].indptr).max() != 1:
        raise ValueError("the last level must be the bottom series (the rows with one bottom series each)")
    return lv, parent


# ---------------------------------------------------------------- weights


def shrinkage_intensity(residuals: np.ndarray) -> float:
    """Schafer-Strimmer lambda for residuals (n_series x T), as hierarchicalforecast computes it,
    in O(n T^2) time and O(n T) memory: the sums over pairs of series come from the T x T Gram
    matrix of the standardised residuals instead of the n x n correlation matrix."""
    e = np.asarray(residuals, dtype=np.float64)
    n, T = e.shape
    x = e - e.mean(axis=1, keepdims=True)
    sd = np.sqrt((x * x).sum(axis=1) / T)
    z = x / (sd + SS_EPS)[:, None]
    z2 = z * z
    # over all ordered pairs (i, j), diagonal included, then the diagonal removed and halved
    sum_w2_all = float(np.sum(z2.sum(axis=0) ** 2))  # sum_ij sum_k (z_ik z_jk)^2
    gram = z.T @ z
    sum_wbar2_all = float(np.sum(gram * gram)) / T**2  # sum_ij (mean_k z_ik z_jk)^2
    sum_w2_diag = float(np.sum(z2 * z2))
    sum_wbar2_diag = float(np.sum((z2.sum(axis=1) / T) ** 2))
    sum_w2 = (sum_w2_all - sum_w2_diag) / 2
    sum_sq = (sum_wbar2_all - sum_wbar2_diag) / 2
    sum_var = sum_w2 - T * sum_sq
    ratio = sum_var / (T * (T - 1)) / (sum_sq + SS_EPS)
    return float(np.clip(ratio, 0.0, 1.0))


def weights(h: Hierarchy, method: str, residuals: np.ndarray | None = None) -> Weights:
    """The GLS weight matrix of a method, as a diagonal plus a low-rank factor."""
    n = h.n_series
    none = np.zeros((n, 0))
    if method == "ols":
        return Weights(np.ones(n), none)
    if method == "wls_struct":
        return Weights(np.diff(h.S.indptr).astype(np.float64), none)
    if method not in ("wls_var", "mint_shrink"):
        raise ValueError(f"method {method!r} has no GLS weights; choose one of {GLS_METHODS}")
    e = _residuals(residuals, n, method)
    T = e.shape[1]
    if method == "wls_var":
        return Weights(np.mean(e * e, axis=1) + RIDGE, none)
    lam = shrinkage_intensity(e)
    x = e - e.mean(axis=1, keepdims=True)
    var = (x * x).sum(axis=1) / (T - 1)
    diag = np.maximum(var, RIDGE) - (1.0 - lam) * var
    if np.any(diag <= 1e-6 * np.maximum(var, RIDGE)):
        raise ValueError(
            f"the shrinkage intensity is {lam:.2g}: the shrunk covariance has (almost) no diagonal part, which "
            "marketcube's diagonal-plus-low-rank solve needs (with none it is the sample covariance itself, "
            "singular whenever there are fewer residual points than series); use wls_var"
        )
    return Weights(diag, x * np.sqrt((1.0 - lam) / (T - 1)), shrinkage=lam)


def _residuals(residuals: np.ndarray | None, n: int, method: str) -> np.ndarray:
    if residuals is None:
        raise ValueError(f"method {method!r} needs in-sample residuals (n_series x T)")
    e = np.asarray(residuals, dtype=np.float64)
    if e.ndim != 2 or e.shape[0] != n:
        raise ValueError(f"residuals must be n_series x T = {n} x T, got shape {e.shape}")
    if e.shape[1] < 2:
        raise ValueError(f"method {method!r} needs at least 2 residual points per series, got {e.shape[1]}")
    if not np.all(np.isfinite(e)):
        bad = np.flatnonzero(~np.isfinite(e).all(axis=0))
        raise ValueError(
            f"residuals contain NaN or infinite values (time points {bad[:5].tolist()}): drop those columns first"
        )
    return e


# ---------------------------------------------------------------- GLS solve


class _Normal:
    """The operator ``A = S' W^-1 S`` (bottom x bottom) and its diagonal, never formed.

    With ``W = D + U U'``, ``A = A_D - G C^-1 G'`` where ``A_D = S' D^-1 S`` (the operator of a
    diagonal weighting), ``G = S' D^-1 U`` (bottom x r) and ``C = I + U' D^-1 U`` (r x r)."""

    def __init__(self, h: Hierarchy, w: Weights) -> None:
        self.h = h
        self.inv_d = 1.0 / w.diag
        self.unit = bool(np.all(self.inv_d == 1.0))  # OLS: D = I, nothing to scale
        U = w.low_rank
        self.Ud = U * self.inv_d[:, None]  # D^-1 U, n x r
        r = U.shape[1]
        self.diag_d = self.h.down(self.inv_d[:, None])[:, 0]  # S is 0/1, so diag(S' D^-1 S) = S' (1/D)
        if r:
            self.core = np.eye(r) + U.T @ self.Ud  # C = I + U' D^-1 U, r x r
            self.chol = la.cho_factor(self.core, lower=True)
            self.G = self.h.down(self.Ud)  # S' D^-1 U, bottom x r
        else:
            self.chol = None
        self._AG: np.ndarray | None = None  # A_D^-1 G, once solved

    def w_inv(self, Y: np.ndarray) -> np.ndarray:
        out = Y * self.inv_d[:, None]
        if self.chol is not None:
            out -= self.Ud @ la.cho_solve(self.chol, self.Ud.T @ Y)
        return out

    def __call__(self, V: np.ndarray) -> np.ndarray:
        return self.h.down(self.w_inv(self.h.up(V)))

    def diagonal_part(self, V: np.ndarray) -> np.ndarray:
        """``A_D V``."""
        Y = self.h.up(V)
        if not self.unit:
            Y *= self.inv_d[:, None]
        return self.h.down(Y)

    def rhs(self, y: np.ndarray) -> np.ndarray:
        return self.h.down(self.w_inv(y))

    def diagonal(self) -> np.ndarray:
        d = self.diag_d
        if self.chol is not None:
            d = d - np.einsum("ij,ij->i", self.G, la.cho_solve(self.chol, self.G.T).T)
        return d

    def solve(self, B: np.ndarray, tol: float) -> tuple[np.ndarray, int]:
        """``A^-1 B`` to relative residual ``tol`` per column, by conjugate gradients on the diagonal
        part ``A_D`` and the Woodbury identity for the rank-r part:
        ``A^-1 = A_D^-1 + A_D^-1 G (C - G' A_D^-1 G)^-1 G' A_D^-1``. ``A_D`` is as well conditioned as
        a WLS problem, where ``A`` itself (a covariance minus most of its low-rank part) is not: on the
        50k benchmark MinT took 95 iterations on ``A`` and about 20 on ``A_D``."""
        Minv = 1.0 / self.diag_d[:, None]
        if self.chol is None:
            X, steps, _ = pcg(self.diagonal_part, lambda V: Minv * V, B, tol=tol, maxiter=MAX_ITER,
                              reference=_norms(B), strict=True)
            return X, steps
        steps = 0
        if self._AG is None:
            both = np.hstack([B, self.G])
            X, steps, _ = pcg(self.diagonal_part, lambda V: Minv * V, both, tol=tol, maxiter=MAX_ITER,
                              reference=_norms(both), strict=True)
            self._AG = X[:, B.shape[1]:]
            self._inner = la.cho_factor(self.core - self.G.T @ self._AG, lower=True)
            XB = X[:, : B.shape[1]]
        else:
            XB, steps, _ = pcg(self.diagonal_part, lambda V: Minv * V, B, tol=tol, maxiter=MAX_ITER,
                               reference=_norms(B), strict=True)
        return XB + self._AG @ la.cho_solve(self._inner, self.G.T @ XB), steps


def _norms(B: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(B, axis=0)
    n[n == 0] = 1.0
    return n


def _pcg(A, precond: np.ndarray, B: np.ndarray, X0: np.ndarray | None = None,
         free: np.ndarray | None = None, tol: float = TOL, maxiter: int = MAX_ITER) -> tuple[np.ndarray, int]:
    """Conjugate gradients (``_cg.pcg``) on every column of B at once, diagonally preconditioned;
    ``free`` (bottom x k, bool) holds the other entries of each column at zero. The true residual
    is checked after each run and the solve restarted on it if the recursive one drifted."""
    mask = np.ones(B.shape, dtype=bool) if free is None else free
    op = (lambda V: A(V * mask) * mask) if free is not None else A
    Minv = np.where(mask, 1.0 / precond[:, None], 0.0)
    B = B * mask
    X = np.zeros_like(B) if X0 is None else X0 * mask
    norm_b = _norms(B)
    total = 0
    for _restart in range(5):
        R = B - op(X)
        if np.all(np.linalg.norm(R, axis=0) <= tol * 10 * norm_b):
            break
        dX, steps, _ = pcg(op, lambda V: Minv * V, R, tol=tol, maxiter=maxiter, reference=norm_b, strict=True)
        X += dX
        total += steps
    return X, total


def _solve(A: _Normal, B: np.ndarray, tol: float | None = None) -> tuple[np.ndarray, int]:
    """``A^-1 B`` (no bound), refined on the true residual until it is ``tol`` of ``B``."""
    tol = TOL if tol is None else tol
    X = np.zeros_like(B)
    norm_b = _norms(B)
    total = 0
    for _restart in range(5):
        R = B - A(X) if total else B
        if total and np.all(np.linalg.norm(R, axis=0) <= tol * 10 * norm_b):
            break
        dX, steps = A.solve(R, tol * norm_b.min() / max(np.linalg.norm(R, axis=0).max(), 1e-300) if total else tol)
        X += dX
        total += steps
    return X, total


class _Claims:
    """Claims as extra rows ``C vec(b) = v`` (error covariance ``Sigma``: each claim's own variance
    plus the errors it shares, ``Claim.shared``), K x (bottom x horizons), with
    ``vec(b)`` horizon-major (entry ``t * bottom + j``). Unconstrained, they enter by the Woodbury
    identity on top of the GLS solve ``b0``: with ``F = A^-1 C'`` per horizon block (one solve of at
    most K x h columns, zero blocks skipped), ``M = Sigma + C F`` (K x K) and
    ``x0 = b0 + F Sigma^-1 v``, the answer is ``x = x0 - F M^-1 C x0``. K is small (published
    forecasts about a market); F is bottom x h x K. The forecasts' errors have covariance
    ``K (x) W`` across periods and series (``K`` = ``horizon_cov``, h x h; diagonal ``k_t`` when the
    periods are independent, ``W_t = k_t W``), so block t of F is ``sum_s K_ts A^-1 C_s'``: a claim
    about one period moves the others as far as their errors are correlated with its period's. The
    forecasts' own answer ``b0`` does not change (the projection is per period for any K)."""

    def __init__(self, h: Hierarchy, claims: Sequence[Claim], n_h: int, K: np.ndarray) -> None:
        self.K = K
        m = h.n_bottom
        rows, cols, vals = [], [], []
        for k, c in enumerate(claims):
            if not (np.isfinite(c.value) and np.isfinite(c.sd) and c.sd > 0):
                raise ValueError(f"claim {c.id!r}: value and sd must be finite and sd positive, got {c.value}, {c.sd}")
            if not c.terms:
                raise ValueError(f"claim {c.id!r} has no terms")
            for target, t, coef in c.terms:
                if not 0 <= int(t) < n_h:
                    raise ValueError(f"claim {c.id!r}: forecast period {t} is outside 0..{n_h - 1}")
                if isinstance(target, (int, np.integer)):
                    if not 0 <= int(target) < h.n_series:
                        raise ValueError(f"claim {c.id!r}: series row {target} is outside 0..{h.n_series - 1}")
                    idx = h.S.indices[h.S.indptr[target]:h.S.indptr[target + 1]]
                else:
                    idx = np.unique(np.asarray(target, dtype=np.int64))
                    if idx.size == 0 or idx[0] < 0 or idx[-1] >= m:
                        raise ValueError(f"claim {c.id!r}: bottom series must be a non-empty set within 0..{m - 1}")
                rows.append(np.full(idx.size, k))
                cols.append(idx + int(t) * m)
                vals.append(np.full(idx.size, float(coef)))
        K = len(claims)
        self.ids = tuple(c.id for c in claims)
        self.C = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(K, m * n_h))
        self.v = np.array([c.value for c in claims], dtype=np.float64)
        self.own0, self.L0, self.shared_names = _claim_errors(claims)
        self.sd = np.sqrt(self.own0**2 + np.sum(self.L0**2, axis=1))  # each claim's total sd, as stated
        self.m, self.n_h = m, n_h
        self.F: np.ndarray | None = None
        self.reweight(np.ones(K))

    def reweight(self, weight: np.ndarray) -> None:
        """Scale each claim's whole error (own and shared parts) by ``1 / sqrt(weight)``: the robust
        rounds change only this, not the solves behind F."""
        scale = 1.0 / np.sqrt(weight)
        self.own, self.L = self.own0 * scale, self.L0 * scale[:, None]
        self.Sigma = np.diag(self.own**2) + self.L @ self.L.T
        self.Sigma_inv = la.cho_solve(la.cho_factor(self.Sigma, lower=True), np.eye(self.v.size))
        if self.F is not None:
            self.M = la.cho_factor(self.Sigma + np.asarray(self.C @ self.F), lower=True)

    def prepare(self, A: "_Normal") -> int:
        m, n_h, K = self.m, self.n_h, self.C.shape[0]
        blocks, cols = [], []
        for t in range(n_h):
            sub = self.C[:, t * m:(t + 1) * m]
            nz = np.flatnonzero(sub.getnnz(axis=1))
            if nz.size:
                blocks.append((t, nz))
                cols.append(sub[nz].T.toarray())
        X, steps = _solve(A, np.hstack(cols))
        F = np.zeros((n_h, m, K))
        at = 0
        for s, nz in blocks:
            for t in np.flatnonzero(self.K[:, s]):
                F[t][:, nz] += X[:, at:at + nz.size] * self.K[t, s]
            at += nz.size
        self.F = F.reshape(n_h * m, K)
        self.M = la.cho_factor(self.Sigma + np.asarray(self.C @ self.F), lower=True)
        return steps

    def apply(self, b0: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Unconstrained answers with the claims, from answers without them: b0 (m, k, n_h), v (K, k)."""
        m, k, n_h = b0.shape
        x0 = b0.transpose(2, 0, 1).reshape(n_h * m, k) + self.F @ (self.Sigma_inv @ v)
        x = x0 - self.F @ la.cho_solve(self.M, np.asarray(self.C @ x0))
        return x.reshape(n_h, m, k).transpose(1, 2, 0)

    def fitted(self, b: np.ndarray) -> np.ndarray:
        return np.asarray(self.C @ b.T.reshape(-1))


def _claim_errors(claims: Sequence[Claim]) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """The claims' errors as ``own_sd * e + L @ u`` (e, u independent standard normals): each
    claim's own sd, the loadings L (claims x shared errors) and the shared errors' names."""
    names = tuple(sorted({name for c in claims for name, _ in c.shared}))
    L = np.zeros((len(claims), len(names)))
    at = {name: j for j, name in enumerate(names)}
    for i, c in enumerate(claims):
        for name, sd in c.shared:
            if not (np.isfinite(sd) and sd >= 0):
                raise ValueError(f"claim {c.id!r}: shared error {name!r} needs a finite sd >= 0, got {sd}")
            L[i, at[name]] += sd
    return np.array([c.sd for c in claims], dtype=np.float64), L, names


class _Stacked:
    """The GLS operator over all periods, on ``vec(b)`` as one column, claims included when there
    are any (for the non-negative solve when claims or correlated errors tie the periods together;
    its free sets differ by period)."""

    def __init__(self, A: "_Normal", K_inv: np.ndarray, cl: _Claims | None) -> None:
        self.A, self.K_inv, self.cl = A, K_inv, cl
        self.m = A.h.n_bottom

    def __call__(self, V: np.ndarray) -> np.ndarray:
        n_h = self.K_inv.shape[0]
        B = V[:, 0].reshape(n_h, self.m).T
        out = (self.A(B) @ self.K_inv).T.reshape(-1, 1)
        if self.cl is None:
            return out
        return out + np.asarray(self.cl.C.T @ (self.cl.Sigma_inv @ np.asarray(self.cl.C @ V[:, 0])))[:, None]

    def diagonal(self) -> np.ndarray:
        d = self.A.diagonal()
        out = np.concatenate([d * q for q in np.diag(self.K_inv)])
        if self.cl is not None:
            Ct = self.cl.C.T.tocsr()
            out += np.asarray(Ct.multiply(np.asarray(Ct @ self.cl.Sigma_inv)).sum(axis=1)).ravel()
        return out


def _gls(h: Hierarchy, w: Weights, y: np.ndarray, claims: Sequence[Claim], K: np.ndarray
         ) -> tuple["_Normal", np.ndarray, np.ndarray, _Claims | None, int]:
    """What every answer of one problem needs: A, its right-hand side, the answer without claims
    (b0) and the claims prepared (F = K-blocks of A^-1 C')."""
    A = _Normal(h, w)
    rhs = A.rhs(y)
    b0, iters = _solve(A, rhs)
    cl = None
    if claims:
        cl = _Claims(h, claims, y.shape[1], K)
        iters += cl.prepare(A)
    return A, rhs, b0, cl, iters


def _answer(A: "_Normal", rhs: np.ndarray, b0: np.ndarray, cl: _Claims | None, K: np.ndarray, nonnegative: bool,
            iters: int) -> tuple[np.ndarray, int, int]:
    """The GLS answer with the claims as currently weighted, under the bound if asked."""
    b = b0 if cl is None else cl.apply(b0[:, None, :], cl.v[:, None])[:, 0, :]
    if not nonnegative or np.all(b >= 0):
        return b, iters, 0
    independent = not np.any(K - np.diag(np.diag(K)))
    if cl is None and independent:  # the bound keeps the periods apart too: one column each
        return _nonnegative(A, A.diagonal(), rhs, b, iters)
    # claims, or errors correlated across periods, tie the periods together under the bound
    op = _Stacked(A, np.linalg.inv(K), cl)
    rhs_vec = (rhs @ op.K_inv).T.reshape(-1, 1)
    if cl is not None:
        rhs_vec += np.asarray(cl.C.T @ (cl.Sigma_inv @ cl.v))[:, None]
    x, iters, passes = _nonnegative(op, op.diagonal(), rhs_vec, b.T.reshape(-1, 1), iters)
    return x[:, 0].reshape(K.shape[0], A.h.n_bottom).T, iters, passes


def _nonnegative(A: _Normal, precond: np.ndarray, rhs: np.ndarray, b: np.ndarray, iters: int) -> tuple[np.ndarray, int, int]:
    """Minimise the GLS objective over b >= 0 for every horizon column: the KKT conditions are
    b >= 0, gradient g = A b - rhs >= 0, b * g = 0. Block exchanges (the negative free entries become
    held at zero, held entries with a negative gradient are freed), each pass a solve on the free
    set; if an exact pass does not reduce the number of violations, only the violation of largest
    index in each column is exchanged (Murty's rule, the back-up of Judice & Pires 1994's block
    principal pivoting), which is finite because A is positive definite.

    The first passes only choose the next free set, so they solve to ``NN_PASS_TOL`` (block
    exchanges only, while the violations fall, with at most ``NN_PASS_SLACK`` passes in all that do
    not, and at most ``NN_INEXACT_PASSES`` passes); the rest solve exactly under the rules above. On the 50k benchmark with 2% of the bottom base forecasts
    negative this took MinT-shrink from 378 to 273 conjugate-gradient iterations and OLS from 2434
    to 1307, to the same answer (objective equal to 1e-14; entries within 1e-6 of the largest where
    the optimum is nearly flat)."""
    free = b > 0
    x = np.where(free, b, 0.0)
    scale = np.maximum(np.abs(rhs).max(axis=0), 1e-300)
    best = np.inf
    passes = 0
    inexact, tol = True, NN_PASS_TOL  # passes that only choose the next free set need a sign, not 13 digits
    slack = 0
    for passes in range(1, NN_MAX_PASSES + 1):
        x, it = _pcg(A, precond, rhs, X0=x, free=free, tol=tol)
        iters += it
        g = A(x) - rhs
        neg = free & (x < 0)
        want = ~free & (g < -1e-9 * scale)
        violations = int(neg.sum() + want.sum())
        if inexact:
            slack += violations >= best
            best = min(best, violations)
            if violations and slack <= NN_PASS_SLACK and passes < NN_INEXACT_PASSES:
                free = (free & ~neg) | want
                x = np.where(free, x, 0.0)
                continue
            # the free set looks right, or inexact passes stopped gaining: from here every pass
            # is exact, under the exact rules below
            inexact, tol, best = False, TOL, np.inf
            continue
        if violations == 0:
            break
        if violations < best:
            best = violations
            free = (free & ~neg) | want
        else:
            bad = neg | want
            col = np.flatnonzero(bad.any(axis=0))
            row = bad.shape[0] - 1 - bad[::-1, col].argmax(axis=0)  # the last violating entry
            free[row, col] = ~free[row, col]
        x = np.where(free, x, 0.0)
    else:
        raise RuntimeError(f"non-negative reconciliation did not converge in {NN_MAX_PASSES} passes")
    return np.maximum(x, 0.0), iters, passes


# ---------------------------------------------------------------- top-down


def _top_down(h: Hierarchy, y: np.ndarray) -> np.ndarray:
    assert h.levels is not None and h.parent is not None
    rec = np.zeros_like(y)
    rec[h.levels[0]] = y[h.levels[0]]
    for rows in h.levels[1:]:
        par = h.parent[rows]
        k = y.shape[1]
        uniq, inv = np.unique(par, return_inverse=True)
        sums = np.zeros((uniq.size, k))
        np.add.at(sums, inv, y[rows])
        counts = np.bincount(inv, minlength=uniq.size)[:, None]
        small = np.abs(sums) < 1e-8
        safe = np.where(small, 1.0, sums)
        share = np.where(small[inv], 1.0 / counts[inv], y[rows] / safe[inv])
        rec[rows] = rec[par] * share
    return rec[h.bottom_rows]


# ---------------------------------------------------------------- entry point


def reconcile(
    y_hat: np.ndarray,
    S: sp.spmatrix | np.ndarray | Hierarchy,
    method: str,
    *,
    residuals: np.ndarray | None = None,
    nonnegative: bool = False,
    levels: Sequence[Sequence[int]] | None = None,
    claims: Sequence[Claim] = (),
    horizon_scale: Sequence[float] | None = None,
    horizon_corr: np.ndarray | None = None,
    robust: float | None = None,
) -> Reconciliation:
    """Reconcile base forecasts ``y_hat`` (n_series x h, or n_series) over the summing matrix S.

    ``residuals``: in-sample residuals (actual - fitted), n_series x T, same unit as y_hat; needed by
    ``wls_var`` and ``mint_shrink``. ``levels``: row indices per level, top to bottom, needed by
    ``top_down`` (or pass a ``Hierarchy`` built with them). ``claims``: statements about the forecast
    periods (``Claim``), extra weighted rows of the GLS methods, each returned with its fit and
    verdict. ``horizon_scale``: k_t > 0 per forecast period, the weights of period t being ``k_t W``
    (W is estimated from one-step residuals; an h-step error is larger, k_t = t for a random walk);
    it changes nothing but how much the claims weigh beside the forecasts, period by period.
    ``horizon_corr``: h x h correlation of the forecasts' errors across periods (symmetric, unit
    diagonal, positive definite; default: independent periods), so that a claim about one period
    moves the forecasts of the others as far as their errors go together (e.g. estimated from the
    base forecasts' sample paths, where a path that starts high stays high). Without claims and
    without the bound it changes nothing (the projection is per period); with claims, or under the
    bound when it binds, the periods are solved jointly. ``robust``: a Cauchy scale c in
    standardised residuals; the claims are then reweighted, each by ``1 / (1 + (z / c)^2)`` of its
    own z, until the weights settle (iteratively reweighted least squares; a weight scales the
    claim's whole error, shared parts included), so a claim far from the forecasts and the other
    claims loses its pull; the fits report z on the claim's total sd as stated, and the weight kept.
    Returns every series and the bottom series, in y_hat's unit, coherent to rounding;
    ``intervals(result, paths)`` then reconciles sample paths with the same projection.
    BLAS runs on one thread inside (its products here are thin, n x r by r x k; two threads
    fighting over a busy two-core machine were slower than one).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _reconcile(y_hat, S, method, residuals, nonnegative, levels, claims, horizon_scale, horizon_corr, robust)


def _horizon_cov(k: np.ndarray, corr: np.ndarray | None) -> np.ndarray:
    """``K = diag(sqrt k) R diag(sqrt k)``, R checked."""
    n_h = k.size
    if corr is None:
        return np.diag(k)
    R = np.asarray(corr, dtype=np.float64)
    if R.shape != (n_h, n_h) or not np.all(np.isfinite(R)):
        raise ValueError(f"horizon_corr must be a finite {n_h} x {n_h} matrix, one row per forecast period, got shape {R.shape}")
    if not np.allclose(R, R.T, atol=1e-12) or not np.allclose(np.diag(R), 1.0, atol=1e-12):
        raise ValueError("horizon_corr must be a correlation matrix: symmetric with ones on the diagonal")
    try:
        np.linalg.cholesky(R)
    except np.linalg.LinAlgError:
        raise ValueError("horizon_corr must be positive definite (no period's error is a combination of the others'); "
                         "mix a little of the identity in") from None
    r = np.sqrt(k)
    return R * r[:, None] * r[None, :]


def _reconcile(y_hat, S, method, residuals, nonnegative, levels, claims, horizon_scale, horizon_corr,
               robust) -> Reconciliation:
    if method not in METHODS:
        raise ValueError(f"unknown reconciliation method {method!r}; choose one of {METHODS}")
    h = S if isinstance(S, Hierarchy) else hierarchy(S, levels)
    if isinstance(S, Hierarchy) and levels is not None:
        h = hierarchy(S.S, levels)
    y = np.asarray(y_hat, dtype=np.float64)
    one_d = y.ndim == 1
    if one_d:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] != h.n_series:
        raise ValueError(f"y_hat must be n_series x h = {h.n_series} x h, got shape {np.shape(y_hat)}")
    if not np.all(np.isfinite(y)):
        rows = np.flatnonzero(~np.isfinite(y).all(axis=1))
        raise ValueError(f"y_hat has NaN or infinite forecasts in rows {rows[:5].tolist()}")
    if residuals is not None:
        _residuals(residuals, h.n_series, method)
    if claims and method not in VARIANCE_METHODS:
        raise ValueError(
            f"claims enter as rows weighted by 1/sd^2, which only means something next to series weighted by "
            f"their error variance: use one of {VARIANCE_METHODS}, not {method!r} (its weights are not variances, "
            "so the claims would outweigh or vanish beside the forecasts by an arbitrary factor)"
        )

    if robust is not None and not (np.isfinite(robust) and robust > 0):
        raise ValueError(f"robust is a Cauchy scale in standardised residuals, a positive number, got {robust!r}")
    shrink, iters, passes, fits, cl = None, 0, 0, (), None
    if method == "bottom_up":
        b = y[h.bottom_rows]
        project = lambda Y: Y[h.bottom_rows]  # noqa: E731
    elif method == "top_down":
        if h.levels is None:
            raise ValueError("top_down needs the levels of a nested hierarchy (levels=[[top rows], ..., [bottom rows]])")
        b = _top_down(h, y)
        root = _roots(h)
        share = b / np.where(y[root] == 0, 1.0, y[root])  # the point forecast's proportions, fixed
        project = lambda Y: share[:, None, :] * Y[root]  # noqa: E731
    else:
        w = weights(h, method, residuals)
        shrink = w.shrinkage
        k = np.ones(y.shape[1]) if horizon_scale is None else np.asarray(horizon_scale, dtype=np.float64)
        if k.shape != (y.shape[1],) or not np.all(np.isfinite(k) & (k > 0)):
            raise ValueError(f"horizon_scale must be {y.shape[1]} positive numbers, one per forecast period, got {horizon_scale}")
        K = _horizon_cov(k, horizon_corr)
        A, rhs, b0, cl, iters = _gls(h, w, y, claims, K)
        keep = np.ones(len(claims))
        for _round in range(ROBUST_MAX_ITER if (claims and robust) else 1):
            # a weight scales the claim's whole error, its shares included (their correlation with
            # the other claims stays): a claim whose error is mostly shared loses its pull too
            if cl is not None:
                cl.reweight(keep)
            b, iters, passes = _answer(A, rhs, b0, cl, K, nonnegative, iters)
            if cl is None or not robust:
                break
            new = 1.0 / (1.0 + ((cl.fitted(b) - cl.v) / cl.sd / robust) ** 2)
            moved = float(np.max(np.abs(new - keep)))
            keep = new
            if moved < ROBUST_TOL:
                break
        else:
            raise RuntimeError(f"robust claim weights did not settle in {ROBUST_MAX_ITER} rounds")
        if cl is not None:
            sd = cl.sd
            fitted = cl.fitted(b)
            z = (fitted - cl.v) / sd
            fits = tuple(ClaimFit(i, float(v), float(f), float(d), float(zz), _verdict(zz), float(wt))
                         for i, v, f, d, zz, wt in zip(cl.ids, cl.v, fitted, sd, z, keep))
        project = _gls_projector(A, cl)
    if nonnegative and method in ("bottom_up", "top_down"):
        b = np.maximum(b, 0.0)
    series = h.up(b)
    if one_d:
        series, b = series[:, 0], b[:, 0]
    return Reconciliation(method=method, series=series, bottom=b, nonnegative=nonnegative, shrinkage=shrink,
                          iterations=iters, active_set_passes=passes, claims=fits, _project=project,
                          shared_errors=cl.shared_names if cl is not None else (),
                          hierarchy=h)


def _verdict(z: float) -> str:
    a = abs(z)
    return "consistent" if a <= CONSISTENT else "in tension" if a <= TENSION else "contradicted"


def _roots(h: Hierarchy) -> np.ndarray:
    """For each bottom series, the row of its top-level ancestor."""
    assert h.parent is not None
    r = h.bottom_rows.copy()
    while True:
        up = h.parent[r]
        if np.all(up < 0):
            return r
        r = np.where(up < 0, r, up)


def _gls_projector(A: _Normal, cl: _Claims | None) -> Callable[[np.ndarray], np.ndarray]:
    """Y (n_series, k, h) -> reconciled bottom (bottom, k, h), claims included: with ``rng``, their
    values drawn afresh per path from their errors (a shared error from ``scores`` where given)."""

    def project(Y: np.ndarray, rng: np.random.Generator | None = None,
                scores: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        n, k, n_h = Y.shape
        b0, _ = _solve(A, A.rhs(Y.reshape(n, k * n_h)), PATH_TOL)
        b0 = b0.reshape(-1, k, n_h)
        if cl is None:
            return b0
        v = cl.v[:, None]
        if rng is not None:
            v = v + cl.own[:, None] * rng.standard_normal((cl.v.size, k))
            if cl.shared_names:
                u = rng.standard_normal((len(cl.shared_names), k))
                for j, name in enumerate(cl.shared_names):
                    if scores and name in scores:
                        u[j] = scores[name]
                v = v + cl.L @ u
        return cl.apply(b0, v)

    return project


def intervals(
    rec: Reconciliation,
    paths: np.ndarray,
    levels: Sequence[float] = (80, 95),
    *,
    chunk: int = 50,
    seed: int = 0,
    keep_bottom: bool = False,
    shared_scores: Mapping[str, np.ndarray] | None = None,
) -> tuple[dict[float, tuple[np.ndarray, np.ndarray]], np.ndarray | None]:
    """Reconciled prediction intervals from sample paths of the base forecasts.

    ``paths``: (k, n_series, h) joint sample paths (each path one possible future of every series;
    for coherent intervals they should keep the cross-series correlation, e.g. a bootstrap of
    whole residual vectors). Every path is reconciled with the same projection as the point
    forecasts (Panagiotelis, Gamakumara, Athanasopoulos & Hyndman 2023, EJOR 306:693-706), in
    chunks of ``chunk`` paths; a claim's value is drawn afresh for each path from its sd, so the
    claims narrow the paths as much as their sd allows and no more. ``shared_scores``: for shared
    errors (``Claim.shared``) whose value in each path the caller knows, that value in standard
    units, one per path (e.g. an anchor taken from the history's own draws that the paths start
    from: drawn independently it would pull each path towards a level unrelated to its own start).
    Returns, per level, the lower
    and upper quantiles (n_series x h) of the reconciled paths, and the reconciled bottom paths
    (k, bottom, h; float32) when ``keep_bottom``. In non-negative mode the bounds are floored at
    zero (each path is projected without the bound, which keeps the map linear).
    """
    from threadpoolctl import threadpool_limits

    if rec._project is None or rec.hierarchy is None:
        raise ValueError("this Reconciliation carries no projection; make it with reconcile()")
    with threadpool_limits(limits=1, user_api="blas"):
        return _intervals(rec, paths, levels, chunk, seed, keep_bottom, shared_scores)


def _intervals(rec, paths, levels, chunk, seed, keep_bottom, shared_scores=None):
    h = rec.hierarchy
    P = np.asarray(paths)
    n_h = rec.bottom.shape[1] if rec.bottom.ndim == 2 else 1
    if P.ndim != 3 or P.shape[1] != h.n_series or P.shape[2] != n_h:
        raise ValueError(f"paths must be (paths, n_series, h) = (k, {h.n_series}, {n_h}), got {P.shape}")
    if not np.all(np.isfinite(P)):
        raise ValueError("paths contain NaN or infinite values")
    k = P.shape[0]
    if k < 2:
        raise ValueError("intervals need at least 2 sample paths")
    scores = {name: np.asarray(v, dtype=np.float64) for name, v in (shared_scores or {}).items()}
    known = set(rec.shared_errors)
    for name, v in scores.items():
        if name not in known:
            raise ValueError(f"shared_scores names {name!r}, an error no claim shares")
        if v.shape != (k,) or not np.all(np.isfinite(v)):
            raise ValueError(f"shared_scores[{name!r}] must be {k} finite numbers, one per path")
    rng = np.random.default_rng(seed)
    bottom = np.empty((h.n_bottom, k, n_h), dtype=np.float32)
    for a in range(0, k, chunk):
        Y = np.ascontiguousarray(P[a:a + chunk].transpose(1, 0, 2), dtype=np.float64)  # n, chunk, h
        if rec.method in GLS_METHODS:
            bottom[:, a:a + chunk, :] = rec._project(Y, rng, {n: v[a:a + chunk] for n, v in scores.items()})
        else:
            bottom[:, a:a + chunk, :] = rec._project(Y)
    out: dict[float, tuple[np.ndarray, np.ndarray]] = {}
    qs = []
    for lv in levels:
        if not 0 < lv < 100:
            raise ValueError(f"interval levels are percentages in (0, 100), got {lv}")
        qs += [(100 - lv) / 200, 1 - (100 - lv) / 200]
    bounds = np.empty((len(qs), h.n_series, n_h))
    for t in range(n_h):
        series = h.up(bottom[:, :, t].astype(np.float64))  # n_series x k
        bounds[:, :, t] = np.quantile(series, qs, axis=1)
    if rec.nonnegative:
        np.maximum(bounds, 0.0, out=bounds)
    for i, lv in enumerate(levels):
        out[lv] = (bounds[2 * i], bounds[2 * i + 1])
    return out, (bottom.transpose(1, 0, 2) if keep_bottom else None)


# ---------------------------------------------------------------- calibration


@dataclass(frozen=True)
class Calibration:
    """Reconciled intervals widened or narrowed to hold their coverage in backtests.

    ``bounds``: per level, (lower, upper), n_series x h, in the forecasts' unit; ``factors``: per
    level, the multiplier of each group's interval sides (groups x 1); ``scores``: per group, how
    many backtest errors it was calibrated on."""

    bounds: dict[float, tuple[np.ndarray, np.ndarray]]
    factors: dict[float, np.ndarray]
    scores: np.ndarray


def calibrate(
    point: np.ndarray,
    bounds: dict[float, tuple[np.ndarray, np.ndarray]],
    backtest: np.ndarray,
    actual: np.ndarray,
    groups: np.ndarray,
    *,
    nonnegative: bool = False,
) -> Calibration:
    """Split-conformal calibration of reconciled intervals from backtests inside the history.

    The projection of sample paths gives each series an interval whose shape (its two sides, how
    it widens with the horizon) follows the paths; whether it is wide enough depends on whether
    the paths carry all of the forecast error, which they rarely do (the base model's own error,
    and a covariance estimated on the same residuals it is judged on: MinT's W fits its own
    history). This measures it instead: ``backtest`` (origins x n_series x h) holds reconciled
    forecasts made at earlier origins inside the history, each reconciled with only the data
    before its origin (its own residuals and covariance), and ``actual`` what happened (NaN where
    it lies past the history). Each backtest error is scored in units of the side of the interval
    it fell on, relative to the forecast (``|y - f| / f`` over the interval's relative side for
    the same series and horizon), and each group of series (``groups``, an integer per series,
    e.g. its level) gets the conformal quantile of its scores as the multiplier of its interval
    sides about the point (Vovk, Gammerman & Shafer 2005: the ``p (N + 1) / N`` quantile of N
    scores), each horizon's scores weighing the same in total (backtests inside a short history
    give many one-step errors and few long-horizon ones; every forecast year counts alike). Relative scores assume the error scales with the level, as it does for market sizes
    and log-linear models. A group with fewer than ``ceil(1 / (1 - p)) - 1`` scores for level p
    keeps its intervals (factor 1).
    """
    point = np.asarray(point, dtype=np.float64)
    B = np.asarray(backtest, dtype=np.float64)
    Y = np.asarray(actual, dtype=np.float64)
    g = np.asarray(groups)
    if B.shape != Y.shape or B.ndim != 3 or B.shape[1:] != point.shape:
        raise ValueError(f"backtest and actual must be (origins, n_series, h) = (k, {point.shape[0]}, {point.shape[1]}), "
                         f"got {B.shape} and {Y.shape}")
    if g.shape != (point.shape[0],) or not np.issubdtype(g.dtype, np.integer) or g.min() < 0:
        raise ValueError("groups must give every series a non-negative integer group")
    n_groups = int(g.max()) + 1
    rel = (Y - B) / np.where(np.abs(B) > 0, np.abs(B), np.nan)  # NaN where nothing happened yet or f = 0
    scale = np.where(np.abs(point) > 0, np.abs(point), np.nan)
    out: dict[float, tuple[np.ndarray, np.ndarray]] = {}
    factors: dict[float, np.ndarray] = {}
    counts = np.zeros(n_groups, dtype=np.int64)
    for lv, (lo, hi) in bounds.items():
        up = (hi - point) / scale
        dn = (point - lo) / scale
        with np.errstate(divide="ignore", invalid="ignore"):
            score = np.where(rel > 0, rel / up[None], -rel / dn[None])
        score[rel == 0] = 0.0
        p = lv / 100.0
        c = np.ones(n_groups)
        horizon = np.arange(point.shape[1])
        for k in range(n_groups):
            s = score[:, g == k, :]
            known = np.isfinite(s)
            values = s[known]
            counts[k] = values.size
            if values.size == 0 or int(np.ceil((values.size + 1) * p)) > values.size:
                continue
            # every horizon weighs the same: backtests give many one-year-ahead errors and few long ones
            h_of = np.broadcast_to(horizon, s.shape)[known]
            weight = 1.0 / np.bincount(h_of)[h_of]
            order = np.argsort(values, kind="stable")
            cum = np.cumsum(weight[order]) / weight.sum()
            target = min(1.0, p * (values.size + 1) / values.size)
            c[k] = max(float(values[order][min(int(np.searchsorted(cum, target - 1e-12)), values.size - 1)]), 0.0)
        cg = c[g][:, None]
        new_lo, new_hi = point - cg * (point - lo), point + cg * (hi - point)
        if nonnegative:
            new_lo = np.maximum(new_lo, 0.0)
        out[lv] = (new_lo, new_hi)
        factors[lv] = c
    return Calibration(out, factors, counts)
