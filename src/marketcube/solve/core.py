"""The evidence solver's sparse core: leaf cells that best agree with weighted linear statements.

Unknowns are the leaf cells ``x[t, l]`` (USD bn, >= 0) of the history years, flattened year-major,
plus the log ratio of each related definition to the target and the log bias of each publisher
family. Every statement is a linear row in ``x`` through the sparse aggregation matrix ``agg``
(selections x leaves), so aggregates are sums of leaves and the answer is coherent by
construction; no dense n x n object is ever built.

Rows, each divided by its scale so that its residual is a standardised error:

- SIZE  ``log(exp(rho_d + beta_f) * S_s x_t / v)``, scale ``sd`` (relative error, in log so that a
  claim far above the model pulls as hard as one far below; linearised around the current cells);
- SHARE ``S_s x_t - p * S_p x_t``, scale ``sd * S_p x^_t`` (share points of the current parent);
- GROWTH ``S_s x_t - (1 + g)^n S_s x_t0``, scale ``sd * n * S_s x^_t`` (rate points a year);
- FLOOR ``S_s x_t >= v`` (the market is at least the companies' attributable revenue), a row only
  while it is violated;
- priors, low weight: the total grows smoothly (its second differences, relative sd
  ``smooth_sd``); each leaf keeps its share of the total from one year to the next unless the
  evidence says otherwise (``x[t, l] - (T^[t] / T^[t-1]) x[t-1, l]``, relative sd ``drift_sd``); and
  each leaf sits near its share of the current total: given each leaf's member in each dimension
  (``interaction``), the product of its members' shares, through their sums (the dimensions do not
  interact unless the evidence says so; relative sd ``interaction_sd`` for the leaf's persistent
  departure, its rows in each of Y years at ``interaction_sd * sqrt(Y)``; ``interaction_scale``
  estimates that sd from the claims about crossings), else its assumed share (relative sd
  ``prior_sd``).

It is solved by iteratively reweighted (inexact) Gauss-Newton: each pass fixes the row scales and
the robust (Cauchy) weights, linearises the ratios and biases around their current values (they
enter as extra columns, with their log-normal priors as extra rows, so level and ratios are solved
jointly rather than zig-zagging along the ridge between them), solves the weighted linear problem
on columns scaled by the current cells (so every column is of order one) through its normal
equations (Cholesky when small, conjugate gradients preconditioned by an earlier pass's Cholesky
factor while it stays close, and when large by blocks, one a leaf, kept from pass to pass while
they stay good, plus a coarse correction for each year's level and the ratios and biases; see
``_Linear``),
takes the step multiplicatively and updates the weights. Intervals come from
randomize-then-optimize: the same weighted linear problem re-solved with every right-hand side
perturbed by its own noise (exact posterior draws for the linearised Gaussian problem), scaled by
the robust dispersion of the standardised residuals when the evidence disagrees more than its
stated confidence says.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.linalg import blas, cho_factor, cho_solve  # at import: thread limits reach only loaded BLAS libraries
from scipy.optimize import brentq

from ._cg import pcg

__all__ = ["SIZE", "SHARE", "GROWTH", "FLOOR", "Statements", "Problem", "Solution", "solve", "verdicts"]

SIZE, SHARE, GROWTH, FLOOR = 0, 1, 2, 3
CAUCHY = 2.5  # robust scale, in standardised residuals
FAMILY_SD = 0.10  # prior sd of a publisher family's log bias (editions of one publisher share it)
MAX_STEP = 1.0  # largest change of a log cell, ratio or bias in one pass
PASSES = 40  # Gauss-Newton passes at most; a solve stops sooner once no year's total moves by 1e-4
MIN_FOR_DISPERSION = 20  # claims of a kind needed to estimate its own residual scale
DRAW_TOL = 1e-3  # relative residual at which a draw's solve stops (on the benchmark's 200,000-cell market,
# draws then differ from exact ones by under 0.07 of a cell's sd, 0.003 in root mean square, and the
# coverage not at all)
DRAW_BATCH = 50  # draws solved together (memory: a few arrays of cells x batch)
LEVERAGE_DRAWS = 40  # unit-noise draws that estimate each claim's leverage, up to LEVERAGE_SAMPLES / claims
LEVERAGE_SAMPLES = 400_000  # claims x draws: the leverage feeds only the dispersions (a quantile over
# claims), whose sampling error shrinks with both, so a market of 40,000 claims needs only 10 draws
DIRECT_MAX = 6000  # unknowns up to which the normal equations are factored directly
COARSE_MAX = 2000  # ratios and biases up to which the large path's coarse correction includes them (its
# factorisation, of that order, is made every pass)
REUSE_STEPS = 15  # conjugate-gradient steps a solve preconditioned by an earlier factorisation may take
# before it factors its own matrix (on the CMO pack a step costs about 1/50 of a factorisation)
REFRESH_STEPS = 6  # steps beyond which the next pass factors its own matrix instead (the old one has gone stale)
REUSE_TOL = 1e-11  # relative residual, in the preconditioner's norm, at which such a solve stops: the
# answer then equals the factored one to about that (the factored one is itself exact only to rounding)
CONSISTENT, TENSION = 2.0, 3.0  # |z| thresholds after the dispersion: beyond 3 sd is the classical "cannot be noise"


@dataclass
class Statements:
    """Columnar statements; one entry per claim row (see the module docstring for units)."""

    kind: np.ndarray  # int8: SIZE, SHARE, GROWTH, FLOOR
    sel: np.ndarray  # int: row of ``agg``
    t: np.ndarray  # int: year index (the end year for GROWTH)
    value: np.ndarray  # USD bn (SIZE, FLOOR), fraction (SHARE), rate a year (GROWTH)
    sd: np.ndarray  # relative (SIZE, FLOOR), share points (SHARE), rate points a year (GROWTH)
    parent: np.ndarray | None = None  # int: row of ``agg`` for SHARE, else -1
    t0: np.ndarray | None = None  # int: start year index for GROWTH, else -1
    definition: np.ndarray | None = None  # int: ratio index for SIZE under a related definition, else -1
    family: np.ndarray | None = None  # int: publisher family for SIZE, else -1
    prior: np.ndarray | None = None  # bool: a prior stated as a statement (an assumed split), not evidence

    def __post_init__(self) -> None:
        n = len(self.kind)
        minus = np.full(n, -1, dtype=np.int64)
        self.kind = np.asarray(self.kind, dtype=np.int8)
        self.sel = np.asarray(self.sel, dtype=np.int64)
        self.t = np.asarray(self.t, dtype=np.int64)
        self.value = np.asarray(self.value, dtype=float)
        self.sd = np.asarray(self.sd, dtype=float)
        for name in ("parent", "t0", "definition", "family"):
            v = getattr(self, name)
            setattr(self, name, minus.copy() if v is None else np.asarray(v, dtype=np.int64))
        self.prior = np.zeros(n, dtype=bool) if self.prior is None else np.asarray(self.prior, dtype=bool)
        if (self.sd <= 0).any():
            raise ValueError("every statement needs a positive sd")

    def __len__(self) -> int:
        return len(self.kind)


@dataclass
class Problem:
    n_years: int
    agg: sp.csr_matrix  # (selections, leaves) 0/1
    prior_share: np.ndarray  # (leaves,) assumed share of the total, sums to 1
    statements: Statements
    total_row: int = 0  # row of ``agg`` that is the whole market
    prior_sd: float = 2.0  # relative sd of a leaf around its assumed share of the total (barely binding:
    # the assumed splits enter as SHARE statements flagged ``prior``, at their stated uncertainty)
    smooth_sd: float = 0.03  # relative sd of the total's second difference a year
    drift_sd: float = 0.05  # relative sd of a leaf's year-on-year change of share
    slope_sd: float = 0.5  # sd of the total's average log growth a year around zero (barely binding)
    n_ratios: int = 0
    ratio_prior_mean: np.ndarray | None = None  # (n_ratios,) prior mean of each log ratio
    ratio_prior_sd: np.ndarray | None = None  # (n_ratios,) prior sd of each log ratio
    n_families: int = 0
    family_sd: float = FAMILY_SD  # sd of a publisher family's log bias
    priors: bool = True  # False: evidence alone (for tests of exact recovery)
    # for each of two or more dimensions, each leaf's member in it, as a row of ``agg`` (its
    # margin): each leaf is then drawn towards the product of its members' shares of the total, the
    # row ``log x - sum_d log M_d + (D - 1) log T = 0`` (no interaction between the dimensions beyond
    # what the evidence shows; M_d the member's sum, T the total), relative sd ``interaction_sd``
    # for the leaf's departure over all years together, instead of towards ``prior_share`` at
    # ``prior_sd`` (``prior_share`` then only gives the starting point). On simulated markets of 54
    # and 1,000 leaves (seeds 100-111 and 100-103, not the benchmark's) the solver's leaves had
    # carried an interaction of sd 0.30-0.36 where the truth's is 0.21
    interaction: tuple[np.ndarray, ...] | None = None
    interaction_sd: float = 0.5
    # when ``interaction_sd`` is an estimate: values it could as well have taken (its bootstrap);
    # the draws then mix over them (draw j's noise on the leaf prior's rows is scaled by
    # ``interaction_spread[j % len] / interaction_sd``), so a scale estimated from few claims
    # widens the leaves' intervals as much as its own uncertainty says (exactly so for leaves no
    # claim reaches; reached leaves keep the weight of the estimate itself)
    interaction_spread: np.ndarray | None = None


@dataclass
class Solution:
    x: np.ndarray  # (years, leaves) USD bn
    log_ratio: np.ndarray  # (n_ratios,)
    log_bias: np.ndarray  # (n_families,)
    z: np.ndarray  # (statements,) standardised residuals (before the dispersion)
    weight: np.ndarray  # (statements,) robust weights at the solution
    dispersion: float  # >= 1: how much more the evidence disagrees than its confidence says (all kinds)
    kind_dispersion: dict[int, float] = field(default_factory=dict)  # the same, per statement kind
    draws: np.ndarray | None = None  # (draws, years, leaves)
    iterations: int = 0
    gradient_scale: float = 0.0  # the first pass's gradient size (inexact Gauss-Newton's yardstick)
    notes: list[str] = field(default_factory=list)
    # small problems: a factorisation of the normal equations near ``x`` (at ``x`` and ``weight`` when
    # draws were taken); a solve warm-started from this solution preconditions with it
    factor: "_Factor | None" = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "factor": None}  # a cache: not worth its megabytes in a pickle


def _place(rows: sp.csr_matrix, t: np.ndarray, n_leaves: int, n_cols: int) -> sp.csr_matrix:
    """Put each row's leaf pattern into its year block of the flattened (year, leaf) columns."""
    coo = rows.tocoo()
    return sp.csr_matrix((coo.data, (coo.row, coo.col + t[coo.row] * n_leaves)), shape=(rows.shape[0], n_cols))


class _Structure:
    """The fixed sparsity of every row; only row scales change between passes."""

    def __init__(self, p: Problem) -> None:
        s = p.statements
        self.p = p
        self.L = p.agg.shape[1]
        self.n = p.n_years * self.L
        agg = p.agg.tocsr()
        empty = np.flatnonzero(np.diff(agg.indptr) == 0)
        if np.isin(s.sel, empty).any() or np.isin(s.parent[s.parent >= 0], empty).any():
            raise ValueError("a statement's selection contains no leaf cell")
        if ((s.t < 0) | (s.t >= p.n_years)).any():
            raise ValueError("a statement's year is outside the problem's years")
        share = s.kind == SHARE
        growth = s.kind == GROWTH
        par = np.where(share, s.parent, s.sel)
        t0 = np.where(growth, s.t0, s.t)
        # every (selection, year) sum a statement needs, once: B (sums x cells) holds each sum's
        # leaves; statements point into it (i_sel: S_s x_t, i_par: S_p x_t, i_t0: S_s x_t0), so a
        # claim about the whole market costs one row of B however many statements cite it
        pairs = np.concatenate([s.sel * p.n_years + s.t, par * p.n_years + s.t, s.sel * p.n_years + t0])
        uniq, inverse = np.unique(pairs, return_inverse=True)
        n_s = len(s)
        self.i_sel, self.i_par, self.i_t0 = inverse[:n_s], inverse[n_s : 2 * n_s], inverse[2 * n_s :]
        n_per = np.where(growth, s.t - t0, 1).astype(float)
        if (n_per[growth] <= 0).any():
            raise ValueError("a growth statement needs a period of at least one year")
        self.n_per = n_per
        total = _place(agg[[p.total_row] * p.n_years], np.arange(p.n_years), self.L, self.n)
        # ``sums``: the statements' sums, then each year's total (at ``i_total + t``)
        self.sums = sp.vstack([_place(agg[uniq // p.n_years], uniq % p.n_years, self.L, self.n), total]).tocsr()
        self.i_total = len(uniq)
        self.cache: dict = {}
        self.agg = agg
        self.sum_sel = np.concatenate([uniq // p.n_years, np.full(p.n_years, p.total_row)]).astype(np.int64)
        self.sum_year = np.concatenate([uniq % p.n_years, np.arange(p.n_years)]).astype(np.int64)
        self.member_col: tuple[np.ndarray, ...] = ()
        if p.interaction is not None:
            # each member's sum in every year, after the totals; member_col[d][t * L + l] is the
            # sum (counted from i_total) of cell (t, l)'s member in dimension d
            rows = np.unique(np.concatenate(p.interaction))
            pos = np.full(agg.shape[0], -1, dtype=np.int64)
            pos[rows] = np.arange(len(rows))
            Y = p.n_years
            years = np.tile(np.arange(Y), len(rows))
            member = _place(agg[np.repeat(rows, Y)], years, self.L, self.n)
            self.sums = sp.vstack([self.sums, member]).tocsr()
            self.sum_sel = np.concatenate([self.sum_sel, np.repeat(rows, Y)])
            self.sum_year = np.concatenate([self.sum_year, years])
            t = np.repeat(np.arange(Y), self.L)
            self.member_col = tuple(Y + pos[np.tile(np.asarray(m), Y)] * Y + t for m in p.interaction)
        Y = p.n_years
        self.d2 = sp.diags([np.ones(Y - 2), -2 * np.ones(Y - 2), np.ones(Y - 2)], [0, 1, 2], shape=(Y - 2, Y)) if Y >= 3 else None
        eye = sp.identity(self.n, format="csr")
        self.now = eye[self.L :]
        self.before = eye[: self.n - self.L]
        # the year of each "now" row, for the share-stability prior's total terms
        self.year_now = np.repeat(np.arange(1, Y), self.L)


def _current(st: _Structure, sums: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each statement's sums (its selection's, its parent's, its first year's) from ``st.sums @ x``."""
    return sums[st.i_sel], sums[st.i_par], sums[st.i_t0]


def standardised(p: Problem, st: _Structure, x: np.ndarray, log_ratio: np.ndarray, log_bias: np.ndarray) -> np.ndarray:
    """Each statement's residual in its own terms, divided by its sd (0 for a satisfied FLOOR)."""
    s = p.statements
    a, par, a0 = _current(st, st.sums @ x)
    tiny = 1e-12
    z = np.zeros(len(s))
    m = s.kind == SIZE
    mult = np.exp(_gather(log_ratio, s.definition) + _gather(log_bias, s.family))
    z[m] = np.log(np.maximum(mult[m] * a[m], tiny) / s.value[m]) / s.sd[m]
    m = s.kind == SHARE
    z[m] = (a[m] / np.maximum(par[m], tiny) - s.value[m]) / s.sd[m]
    m = s.kind == GROWTH
    ratio = np.maximum(a[m], tiny) / np.maximum(a0[m], tiny)
    z[m] = (ratio ** (1 / st.n_per[m]) - 1 - s.value[m]) / s.sd[m]
    m = s.kind == FLOOR
    z[m] = np.minimum(0.0, np.log(np.maximum(a[m], tiny) / s.value[m]) / s.sd[m])
    return z


def _gather(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    out = np.zeros(len(index))
    ok = index >= 0
    out[ok] = values[index[ok]]
    return out


def _system(p, st, x, log_ratio, log_bias, weight):
    """The weighted linear system at the current point, every row linearised in log around it.

    Every row is a log relation (``log S x ~ log a^ + S x / a^ - 1``), so none of them can be made
    smaller by shrinking the whole market: that bias of homogeneous rows with fixed scales would
    drag the level towards zero pass after pass. Rows reach the cells through the sums they need
    (``_Rows``): the claims' sums and each year's total, so the priors on the total's growth and
    on each leaf's share of it are rows like any claim's, with no auxiliary unknowns."""
    s = p.statements
    Y = p.n_years
    sums = st.sums @ x  # every sum a row needs: the statements', each year's total, the members'
    a, par, a0 = _current(st, sums)
    tiny = 1e-9 * max(1.0, float(np.max(x)))
    a, par, a0 = np.maximum(a, tiny), np.maximum(par, tiny), np.maximum(a0, tiny)
    total = np.maximum(sums[st.i_total : st.i_total + Y], tiny)
    mult = np.exp(_gather(log_ratio, s.definition) + _gather(log_bias, s.family))
    share, growth, size, floor = (s.kind == k for k in (SHARE, GROWTH, SIZE, FLOOR))
    # Rows in the statement's own terms (as ``standardised``), linearised in the relative changes
    # x / x^ of the sums they involve: a share a/p ~ r^ (1 + a/a^ - p/p^), a CAGR
    # (a/a0)^(1/n) ~ g^ (1 + (a/a^ - a0/a0^) / n), a size log(a) ~ log(a^) + a/a^ - 1.
    r_hat = a / par
    g_hat = np.where(growth, (a / a0) ** (1.0 / st.n_per), 1.0)
    gain = np.ones(len(s))  # d(statement) / d(relative change)
    gain[share] = r_hat[share]
    gain[growth] = g_hat[growth] / st.n_per[growth]
    active = ~floor | (a < s.value)
    w = np.sqrt(weight) * active / s.sd
    rhs = np.zeros(len(s))
    rhs[size] = np.log(s.value[size] / mult[size]) - np.log(a[size]) + 1.0
    rhs[floor] = np.log(s.value[floor]) - np.log(a[floor]) + 1.0
    rhs[share] = s.value[share] - r_hat[share]
    rhs[growth] = 1.0 + s.value[growth] - g_hat[growth]
    # sizes and floors: a/a^ carries the "+1"; shares and CAGRs: the two relative changes cancel it
    c_par = np.where(share, 1.0 / par, 0.0)
    c_t0 = np.where(growth, 1.0 / a0, 0.0)
    wg = w * gain
    n_s = len(s)
    n_sums = st.sums.shape[0]
    n_extra = p.n_ratios + p.n_families
    # every block's (row, column, value) triplets, then one sparse matrix each for C, D and E
    # (building and stacking a matrix per block cost more than the rest of a pass)
    C: list[tuple] = []
    D: list[tuple] = []
    E: list[tuple] = []
    rows = np.arange(n_s)
    C.append((np.concatenate([rows, rows, rows]), np.concatenate([st.i_sel, st.i_par, st.i_t0]),
              np.concatenate([wg / a, -wg * c_par, -wg * c_t0])))
    for index, offset in ((s.definition, 0), (s.family, p.n_ratios)):
        ok = (index >= 0) & size
        E.append((np.flatnonzero(ok), index[ok] + offset, w[ok]))  # d log(exp(rho + beta) S x) / d rho = 1
    rhs_all = [rhs * w]
    n_rows = n_s

    def add(c=None, d=None, e=None, b=None, n=0):
        """Append ``n`` prior rows: triplets ``c`` on the yearly totals (columns 0..Y-1), ``d`` on
        cells, ``e`` on extras, each with rows counted from 0."""
        nonlocal n_rows
        for out, block, shift in ((C, c, st.i_total), (D, d, 0), (E, e, 0)):
            if block is not None:
                out.append((block[0] + n_rows, block[1] + shift, block[2]))
        rhs_all.append(b)
        n_rows += n

    if n_extra:
        mu, tau = _ratio_prior(p)
        prior_sd = np.concatenate([tau, np.full(p.n_families, p.family_sd)])
        prior_mean = np.concatenate([mu, np.zeros(p.n_families)])
        current = np.concatenate([log_ratio, log_bias])
        diag = np.arange(n_extra)
        add(e=(diag, diag, 1.0 / prior_sd), b=(prior_mean - current) / prior_sd, n=n_extra)
    inv_t = 1.0 / total
    if p.priors:
        floor_cell = np.repeat(total, st.L) * 1e-6 / st.L
        xh = np.maximum(x, floor_cell)
        year = np.repeat(np.arange(Y), st.L)
        cells = np.arange(st.n)
        if st.member_col:
            # each leaf near the product of its members' shares of the total:
            # log x - sum_d log M_d + (D - 1) log T = 0, one statement about a leaf (its rows in Y
            # years at sd * sqrt(Y)), through the member sums themselves
            k = 1.0 / (p.interaction_sd * np.sqrt(Y))
            n_dim = len(st.member_col)
            member_sums = np.maximum(sums[st.i_total :], tiny)
            cols = [year] + list(st.member_col)
            vals = [np.full(st.n, k * (n_dim - 1)) * inv_t[year]] + [-k / member_sums[c] for c in st.member_col]
            add(c=(np.tile(cells, n_dim + 1), np.concatenate(cols), np.concatenate(vals)), d=(cells, cells, k / xh),
                b=k * (_log_plain(st, member_sums, total) - np.log(xh)), n=st.n)
        else:
            # each leaf near its assumed share of the total: log x - log T = log pi
            share_t = np.tile(np.maximum(p.prior_share, 1e-12), Y)
            k = 1.0 / p.prior_sd
            add(c=(cells, year, np.full(st.n, -k) * inv_t[year]), d=(cells, cells, k / xh),
                b=k * (np.log(share_t) + np.log(total[year]) - np.log(xh)), n=st.n)
        if st.d2 is not None:
            # smooth growth of the total: second differences of log T
            k = 1.0 / p.smooth_sd
            d2 = st.d2.tocoo()
            add(c=(d2.row, d2.col, (k * d2.data) * inv_t[d2.col]), b=-k * (st.d2 @ np.log(total)) + k * (st.d2 @ np.ones(Y)),
                n=Y - 2)
        if Y >= 2:
            # a barely binding prior of no average growth, so that evidence silent on growth leaves
            # it uncertain (and its draws wide) rather than undetermined
            k = 1.0 / (p.slope_sd * (Y - 1))
            add(c=(np.zeros(2, dtype=np.int64), np.array([Y - 1, 0]), np.array([k * inv_t[-1], -k * inv_t[0]])),
                b=np.array([-k * (np.log(total[-1]) - np.log(total[0]))]), n=1)
            # stable shares: log x[t] - log x[t-1] - (log T[t] - log T[t-1]) = 0
            k = 1.0 / p.drift_sd
            yn = st.year_now
            m = st.n - st.L
            r = np.arange(m)
            lin = np.log(xh[st.L :]) - np.log(xh[:m]) - np.log(total[yn]) + np.log(total[yn - 1])
            add(c=(np.concatenate([r, r]), np.concatenate([yn, yn - 1]), np.concatenate([-k * inv_t[yn], k * inv_t[yn - 1]])),
                d=(np.concatenate([r, r]), np.concatenate([r, r + st.L]), np.concatenate([-(k / xh[:m]), k / xh[st.L :]])),
                b=-k * lin, n=m)

    def matrix(blocks: list[tuple], n_cols: int) -> sp.csr_matrix:
        if not blocks:
            return sp.csr_matrix((n_rows, n_cols))
        r, c, v = (np.concatenate(part) for part in zip(*blocks))
        return sp.csr_matrix((v, (r, c)), shape=(n_rows, n_cols))

    A = _Rows(matrix(C, n_sums), st, matrix(D, st.n), matrix(E, n_extra))
    return A, np.concatenate(rhs_all), n_s


def _log_plain(st: _Structure, members: np.ndarray, total: np.ndarray) -> np.ndarray:
    """The log of each cell without interaction, the product of its members' shares of its year's
    total times that total: ``sum_d log M_d - (D - 1) log T``, from the member sums (``st.sums @ x``
    from ``i_total`` on) and the yearly totals, both already floored above zero."""
    year = np.repeat(np.arange(len(total)), st.L)
    return sum(np.log(members[c]) for c in st.member_col) - (len(st.member_col) - 1) * np.log(total[year])


class _Rows:
    """Rows ``C @ S @ x + D @ x + E @ e``: ``S`` sums the cells (each claim's sums and each year's
    total, one row per sum however many rows cite it), ``C`` weighs the sums a row involves, ``D``
    holds the rows' direct cell terms (the priors') and ``E`` their ratio and bias terms. ``C @ S``
    is never multiplied out: one claim about the whole market would fill a dense row."""

    def __init__(self, C: sp.csr_matrix, st: "_Structure", D: sp.csr_matrix, E: sp.csr_matrix) -> None:
        self.C, self.S, self.D, self.E = C, st.sums, D, E
        # each sum's selection (a row of ``agg``) and year, for the preconditioner
        self.agg, self.sum_sel, self.sum_year = st.agg, st.sum_sel, st.sum_year
        self.cache = st.cache  # structure-only results, reused across passes
        self.n = self.S.shape[1]
        self.shape = (C.shape[0], self.n + E.shape[1])


class _Factor:
    """A Cholesky factorisation of one pass's normal matrix (small problems), on that pass's scaled
    columns, with the rows it was built from and the statements it kept.

    A later pass, or a solve warm-started from the solution it belongs to, preconditions its own
    normal equations with it: every row is a log relation on cells scaled by their current values,
    so the scaled normal matrix changes little when the cells do, and conjugate gradients then
    reach ``REUSE_TOL`` in a few steps, each far cheaper than a factorisation. Statements the later
    solve leaves out (sensitivity analysis) are taken out of it exactly, by the Woodbury identity."""

    def __init__(self, chol: tuple, ridge: float, A: "_Rows", col: np.ndarray, keep: np.ndarray | None) -> None:
        self.chol, self.ridge, self.A, self.col, self.keep = chol, ridge, A, col, keep
        self.size = chol[0].shape[0]

    def solve(self, V: np.ndarray) -> np.ndarray:
        """``N^-1 V``. One right-hand side goes through two BLAS triangular solves: LAPACK's
        ``potrs`` (``cho_solve``) took 1.8 ms for one on the CMO pack's 1,372 unknowns, as a
        blocked solve of a single column, the two ``trsv`` 0.5 ms."""
        if V.ndim == 1 or V.shape[1] == 1:
            L = self.chol[0]
            x = blas.dtrsv(L, blas.dtrsv(L, V.ravel(), lower=1), lower=1, trans=1)
            return x.reshape(V.shape)
        return cho_solve(self.chol, V, check_finite=False)

    def _rows(self, index: np.ndarray) -> np.ndarray:
        """Rows ``index`` of the scaled rows ``[(C S + D) col, E]`` (rows x unknowns), dense."""
        A = self.A
        head = (A.C[index] @ A.S + A.D[index]).toarray() * self.col
        return np.hstack([head, A.E[index].toarray()])

    def preconditioner(self, keep: np.ndarray | None) -> Callable[[np.ndarray], np.ndarray]:
        """``M^-1 V`` for M this normal matrix without the rows of statements that ``keep`` (1/0 per
        statement) drops and this factorisation kept: ``(N - R^T R)^-1 = N^-1 + N^-1 R^T (I - R N^-1
        R^T)^-1 R N^-1``. When the rest is nearly singular without them (a statement with leverage
        near 1), M is N itself: still a good preconditioner, conjugate gradients then take one step
        more per row."""
        plain = self.solve
        if keep is None or self.keep is None or len(keep) != len(self.keep):
            return plain
        drop = np.flatnonzero((keep == 0) & (self.keep != 0))
        if not len(drop):
            return plain
        R = self._rows(drop)
        Z = plain(R.T)
        capacitance = np.eye(len(drop)) - R @ Z
        try:
            cap = cho_factor(capacitance, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            return plain
        if np.min(np.abs(np.diag(cap[0]))) ** 2 < 1e-8:
            return plain

        def downdated(V: np.ndarray) -> np.ndarray:
            Y = plain(V)
            return Y + Z @ cho_solve(cap, R @ Y, check_finite=False)

        return downdated


class _Linear:
    """The weighted linear problem of one pass, on columns scaled by their current values (every
    cell column is then a relative change, of order one), solved through its normal equations.

    Small problems (up to ``DIRECT_MAX`` unknowns) factor them (Cholesky), or, given an earlier
    factorisation of a nearby problem (``reuse``: an earlier pass's, or the warm start's), first try
    conjugate gradients preconditioned by it, with products through the rows themselves, and
    factor only when ``REUSE_STEPS`` steps were not enough. Large ones use conjugate gradients
    with a block preconditioner, on many right-hand sides at once for the draws, with the normal
    matrix kept in pieces that are all sparse: ``S^T (C^T C) S + S^T (C^T D) + (D^T C) S + D^T D``
    (and the ratio/bias terms), so a product never passes through the rows (the priors alone have
    one a cell and a year) and never through ``C @ S`` (one claim about the whole market fills a
    dense row). The preconditioner is the normal matrix's blocks that join a leaf to itself across
    the years (the priors' chain from year to year, the growth claims' pairs of years, the claims'
    weight on the leaf), applied as one batched product with the blocks' inverses; what it leaves
    out (claims on sums of many leaves) has few large eigenvalues, which conjugate gradients
    resolve in few steps. On the triangulation benchmark's 10,000-cell market it cuts the
    iterations of a solve from about 400 (diagonal of the claims only) to about 90. What the blocks
    get wrong the other way, the level of each year's total and its ridge with the ratios and
    biases, a coarse correction adds back (``_coarse``): on the 200,000-cell market a solve to
    1e-5 then takes about 26 steps instead of 93."""

    def __init__(self, A: _Rows, x0: np.ndarray, n_years: int, tol: float, *, reuse: _Factor | None = None,
                 precondition: Callable[[np.ndarray], np.ndarray] | None = None, keep: np.ndarray | None = None,
                 block_inv: np.ndarray | None = None) -> None:
        """``block_inv``: large problems, an earlier pass's inverted leaf blocks to precondition with
        instead of this pass's own (see ``_solve``)."""
        n = len(x0)
        big = max(1.0, float(np.max(x0)))
        self.col = np.maximum(x0, 1e-9 * big)
        self.n, self.tol, self.A = n, tol, A
        self.factor: _Factor | None = None
        self.keep = keep
        self.steps = 0  # conjugate-gradient steps of the last solve preconditioned by ``reuse``
        self.cg_steps = 0  # large problems: conjugate-gradient steps of the last solve
        self.small = A.shape[1] <= DIRECT_MAX
        self.reuse = reuse if self.small and reuse is not None and reuse.size == A.shape[1] else None
        self.ridge = 0.0
        if self.reuse is not None:
            # the reused factorisation's ridge (1e-12 of its mean diagonal; the CMO pack's
            # smallest eigenvalue is 8e-5 of it, so the ridge moves no answer by more than 1e-8)
            self.ridge = self.reuse.ridge
            self.reuse_precondition = precondition or self.reuse.preconditioner(keep)
            return  # the normal matrix's pieces are made only if a factorisation turns out to be needed
        self._pieces()
        if self.small:
            self._factorise()
            return
        # a product's two sparse passes: K^T [v; e] = [S v; G^T v + F e] (over the cells, by
        # columns) and K [t; w] = [S^T t + G w; F^T w] (over the sums), so it allocates and writes
        # one array of cells x columns (the pieces one by one wrote four)
        ns, ne = self.St.shape[1], self.F.shape[1]
        self.K = sp.bmat([[self.St, self.G], [sp.csr_matrix((ne, ns)), self.Ft]], format="csr")
        self.blocks_reused = block_inv is not None and block_inv.shape == (n // n_years, n_years, n_years)
        if self.blocks_reused:
            self.block_inv = block_inv
        else:
            blocks = _leaf_blocks(A, self.col, n_years, self.H, self.G, self.DD)
            trace = np.einsum("lii->l", blocks)
            ridge = 1e-10 * np.where(trace > 0, trace, 1.0) / n_years
            blocks[:, np.arange(n_years), np.arange(n_years)] += ridge[:, None]
            self.block_inv = np.linalg.inv(blocks)
        e_sq = np.diag(self.EE).copy()
        self.e_inv = 1.0 / np.where(e_sq > 0, e_sq, 1.0)
        self.coarse, self.coarse_extras = self._coarse(n_years)

    def _coarse(self, n_years: int) -> tuple[tuple | None, bool]:
        """The coarse part of the preconditioner: the Cholesky factor of the normal matrix
        restricted to one unknown a year, the same relative change of every cell of that year (the
        market's level), and to the ratio and bias unknowns; and whether those are in it.

        The priors tie each leaf to the year's total (its share, the change of its share), and they
        are blind to the level: moving every cell of a year by the same factor changes no share.
        A leaf's block cannot see that (it holds the prior's full weight on the leaf alone), so on
        its own the block preconditioner overstates the curvature along the level by up to a
        hundredfold. The level in turn trades against the ratios and biases (a market 10% larger
        and every ratio 10% smaller fit a related definition's claims alike), a ridge a diagonal
        on those unknowns cannot see either. Adding ``Z (Z^T N Z)^-1 Z^T``, with ``Z`` the yearly
        level indicators and the ratio and bias unknowns themselves (an additive two-level
        preconditioner, still symmetric positive definite), takes these few directions out,
        which were what most conjugate-gradient steps were spent on: on the triangulation
        benchmark's 200,000-cell market a solve to 1e-5 takes about 26 steps instead of 93, the
        draws about 14 instead of 42. Past ``COARSE_MAX`` ratios and biases only the level is
        corrected (the ratios and biases keep their diagonal); ``None`` when the restricted matrix
        cannot be factored."""
        Y, n, ne = n_years, self.n, self.F.shape[1]
        # Z^T N Z from the pieces: each sum lies in one year, so S Z has one entry a sum (its
        # scaled cells' total), and the priors' direct terms are summed by year
        year = sp.csr_matrix((np.ones(n), (np.arange(n), np.arange(n) // (n // Y))), shape=(n, Y))
        n_sums = self.St.shape[1]
        sums = sp.csr_matrix((np.asarray(self.St.sum(axis=0)).ravel(), (np.arange(n_sums), self.A.sum_year)), shape=(n_sums, Y))
        cross = (year.T @ self.G @ sums).toarray()
        coarse = (sums.T @ self.H @ sums).toarray() + cross + cross.T + (year.T @ self.DD @ year).toarray()
        extras = 0 < ne <= COARSE_MAX
        if extras:
            side = (sums.T @ self.F).toarray() + (year.T @ self.DE).toarray()
            coarse = np.block([[coarse, side], [side.T, self.EE]])
        coarse = (coarse + coarse.T) / 2
        try:
            return cho_factor(coarse, lower=True, check_finite=False), extras
        except np.linalg.LinAlgError:
            return None, False

    def _pieces(self) -> None:
        """The normal matrix's sparse pieces on the scaled columns. ``S`` and ``G^T``, whose rows
        are long (a claim about the whole market sums every leaf), are kept only as their
        transposes and multiplied through them, column by column (a CSC product streams the
        right-hand sides once: 3.5 times faster than the CSR product on the benchmark's large
        market, whose total's rows hold 10,000 cells each)."""
        A = self.A
        if "sums_t" not in A.cache:  # the sums' pattern is the structure's; only the scaling changes
            A.cache["sums_t"] = A.S.T.tocsr()
        St = A.cache["sums_t"].copy()
        St.data = St.data * np.repeat(self.col, np.diff(St.indptr))
        self.St = St  # cells x sums, scaled
        Ct = A.C.T.tocsr()
        self.H = (Ct @ A.C).tocsr()  # sums x sums
        Dp = A.D @ sp.diags(self.col)
        self.G = (Dp.T @ A.C).tocsr()  # cells x sums
        self.DD = (Dp.T @ Dp).tocsr()
        self.F = (Ct @ A.E).tocsr()  # sums x extras
        self.DE = (Dp.T @ A.E).tocsr()  # cells x extras
        self.EE = (A.E.T @ A.E).toarray()
        self.Ft, self.DEt = self.F.T.tocsr(), self.DE.T.tocsr()

    @property
    def chol(self) -> tuple | None:
        return None if self.factor is None else self.factor.chol

    def _factorise(self) -> None:
        """Assemble the normal matrix from its pieces and factor it. ``S`` stays sparse in every
        product (``S^T (H S + G^T)`` is a sparse times a dense matrix: a dense ``S^T H S`` cost as
        much as the factorisation); the rows themselves are dense where priors cite totals."""
        if not hasattr(self, "St"):
            self._pieces()
        n, m = self.n, self.A.shape[1]
        Sd = self.St.T.toarray()
        HS = self.H @ Sd
        Gt = self.G.T.tocoo()
        HS[Gt.row, Gt.col] += Gt.data
        # LAPACK's order, so it is factored in place and the triangular solves read it as it is;
        # filled through its transpose (the matrix is symmetric), in the products' own C order
        normal = np.empty((m, m), order="F")
        filled = normal.T
        top = filled[:n, :n]
        top[...] = self.St @ HS
        top += self.G @ Sd
        DD = self.DD.tocoo()
        top[DD.row, DD.col] += DD.data
        side = self.St @ self.F.toarray()
        DE = self.DE.tocoo()
        side[DE.row, DE.col] += DE.data
        filled[:n, n:] = side
        filled[n:, :n] = side.T
        filled[n:, n:] = self.EE
        ridge = 1e-12 * max(1.0, float(np.trace(normal)) / m)
        normal[np.diag_indices_from(normal)] += ridge
        chol = cho_factor(normal, lower=True, overwrite_a=True, check_finite=False)
        self.factor = _Factor(chol, ridge, self.A, self.col, self.keep)

    def _normal(self, V: np.ndarray) -> np.ndarray:
        """``As^T As V``, without touching the rows."""
        n, ns = self.n, self.H.shape[0]
        v, e = V[:n], V[n:]
        w, u = np.split(self.K.T @ V, [ns])  # S v, G^T v + F e
        out = self.K @ np.concatenate([self.H @ w + u, w])  # S^T (H S v + G^T v + F e) + G S v, F^T S v
        out[:n] += self.DD @ v
        out[n:] += self.EE @ e
        if self.DE.nnz:  # no prior row has ratio or bias terms today: skip two passes over the cells
            out[:n] += self.DE @ e
            out[n:] += self.DEt @ v
        return out

    def _normal_by_rows(self, V: np.ndarray) -> np.ndarray:
        """``(As^T As + ridge) V`` through the rows: on a small problem a product costs less than
        the sparse pieces of ``_normal`` take to make."""
        A, n = self.A, self.n
        cv = V[:n] * (self.col if V.ndim == 1 else self.col[:, None])
        return self._rt(A.C @ (A.S @ cv) + A.D @ cv + A.E @ V[n:]) + self.ridge * V

    def _rt(self, r: np.ndarray) -> np.ndarray:
        """``As^T r``."""
        A = self.A
        head = A.S.T @ (A.C.T @ r) + A.D.T @ r
        head *= self.col if r.ndim == 1 else self.col[:, None]
        return np.concatenate([head, A.E.T @ r])

    def _precondition(self, R: np.ndarray) -> np.ndarray:
        n, (L, Y, _) = self.n, self.block_inv.shape
        out = np.empty_like(R)
        by_leaf = R[:n].reshape(Y, L, -1).transpose(1, 0, 2)  # (leaves, years, columns), a view
        cells = out[:n].reshape(Y, L, -1)
        np.matmul(self.block_inv, by_leaf, out=cells.transpose(1, 0, 2))
        if not self.coarse_extras:
            out[n:] = R[n:] * (self.e_inv if R.ndim == 1 else self.e_inv[:, None])
        if self.coarse is not None:
            level = R[:n].reshape(Y, L, -1).sum(axis=1)
            if self.coarse_extras:
                c = cho_solve(self.coarse, np.concatenate([level, R[n:].reshape(len(R) - n, -1)]), check_finite=False)
                out[n:] = c[Y:].reshape(out[n:].shape)
            else:
                c = cho_solve(self.coarse, level, check_finite=False)
            cells += c[:Y, None, :]
        return out

    def _normal_solve(self, g: np.ndarray, tol: float, floor: float = 0.0) -> np.ndarray:
        """Solve ``As^T As du = g`` for one or many right-hand sides (columns of ``g``)."""
        if self.small:
            if self.factor is None and self.reuse is not None:
                du, self.steps, _ = pcg(self._normal_by_rows, self.reuse_precondition, g, tol=REUSE_TOL, maxiter=REUSE_STEPS)
                if self.steps < REUSE_STEPS:
                    return du
            if self.factor is None:
                self._factorise()
            return self.factor.solve(g)
        du, self.cg_steps, _ = pcg(self._normal, self._precondition, g, tol=tol, maxiter=2000, floor=floor)
        return du

    def solve(self, b: np.ndarray, floor: float = 0.0) -> tuple[np.ndarray, np.ndarray, float]:
        """The cells, the ratio/bias increments and the size of the gradient (its norm in the
        preconditioner's terms) for right-hand side ``b``; the solve stops at ``tol`` of that size
        or at ``floor``, whichever is larger (small problems: exactly, or to ``REUSE_TOL``)."""
        A = self.A
        # the current point is u = 1 on every cell column, 0 on the ratio/bias increments
        r0 = b - (A.C @ (A.S @ self.col) + A.D @ self.col)
        g = self._rt(r0)
        size = float(np.linalg.norm(g)) if self.small else float(np.sqrt(max(g @ self._precondition(g), 0.0)))
        du = self._normal_solve(g, self.tol, floor)
        # every row is linear in x / x^ ~ 1 + dlog x: take the step multiplicatively, so cells stay
        # positive, and at most a factor e a pass, so a far start cannot overshoot
        n = self.n
        dlog = np.clip(du[:n], -MAX_STEP, MAX_STEP)
        return self.col * np.exp(dlog), np.clip(du[n:], -MAX_STEP, MAX_STEP), size

    def deviations(self, noise: np.ndarray) -> np.ndarray:
        """The cells' relative changes (cells x draws) that each column of row noise causes.

        Small problems solve them with their own factorisation. On the iterative path the draws
        are solved in single precision: at their tolerance it changes nothing, and the sparse
        products, which are bound by memory, take a third of the time; their right-hand sides
        are made in single precision too, from ``noise`` in any memory order (a transposed view
        is copied once, as it is cast)."""
        if self.small:
            g = self._rt(noise)
            if self.factor is None:
                self._factorise()
            return cho_solve(self.factor.chol, g, check_finite=False)[: self.n]
        single = self._single()
        r = np.ascontiguousarray(noise, dtype=np.float32)
        A = single.A
        head = single.sums_t @ (A.C.T @ r)
        head += single.Dt @ r
        head *= single.col[:, None]
        g = np.concatenate([head, A.E.T @ r])
        return single._normal_solve(g, DRAW_TOL)[: self.n].astype(float)

    def _single(self) -> "_Linear":
        """This problem in single precision, for the draws (made once, used by every batch)."""
        if not hasattr(self, "single"):
            single = copy.copy(self)
            for name in ("K", "H", "DD", "DE", "DEt", "EE", "block_inv", "e_inv", "col"):
                setattr(single, name, getattr(self, name).astype(np.float32))
            if self.coarse is not None:
                single.coarse = (self.coarse[0].astype(np.float32), self.coarse[1])
            A = single.A = copy.copy(self.A)
            A.C, A.D, A.E = (m.astype(np.float32) for m in (A.C, A.D, A.E))
            # the products into the cells by rows (each cell's few sums and prior rows), the ones
            # into the sums and extras by columns of the row noise (streamed once)
            single.sums_t = A.cache["sums_t"].astype(np.float32)
            single.Dt = A.D.T.tocsr()
            self.single = single
        return self.single


def _leaf_blocks(A: _Rows, col: np.ndarray, n_years: int, CC: sp.csr_matrix, G: sp.csr_matrix, DD: sp.csr_matrix) -> np.ndarray:
    """The normal matrix's entries that join a leaf to itself (any two years), as (leaves, years,
    years) blocks, on columns scaled by ``col``; built from the selections, never from ``C @ S``.
    ``CC`` is ``C^T C``; ``G`` (cells x sums) and ``DD`` are ``D^T C`` and ``D^T D`` with the cells
    already scaled.

    Two sums that rows weigh together (a pair of ``C^T C``) add, for every leaf their selections
    share, their weight at their two years; pairs are grouped by their two selections first, so a
    leaf is visited once per pair of selections however many years they are cited in. A prior's
    direct cell terms (``D``) pair with its sums' leaf and with each other the same way."""
    agg, L, Y = A.agg, A.agg.shape[1], n_years
    n_sel = agg.shape[0]
    if "keys" not in A.cache:  # (selection, leaf) of every member of every selection, sorted
        agg.sort_indices()
        A.cache["keys"] = np.repeat(np.arange(n_sel, dtype=np.int64), np.diff(agg.indptr)) * L + agg.indices
    keys = A.cache["keys"]
    size = np.diff(agg.indptr)
    c = col.reshape(Y, L).T  # (leaves, years)

    def member(sel: np.ndarray, leaf: np.ndarray) -> np.ndarray:
        want = sel.astype(np.int64) * L + leaf
        found = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
        return keys[found] == want

    H = CC.tocoo()
    si, sj = A.sum_sel[H.row], A.sum_sel[H.col]
    pair_key, pair = np.unique(si * n_sel + sj, return_inverse=True)
    weights = np.bincount(pair * Y * Y + A.sum_year[H.row] * Y + A.sum_year[H.col], weights=H.data,
                          minlength=len(pair_key) * Y * Y).reshape(len(pair_key), Y * Y)
    # which leaves each pair of selections shares depends on the structure only: reused across the
    # passes of a solve while the pairs stay the same
    signature = pair_key.tobytes()
    if A.cache.get("pairs", (None,))[0] == signature:
        shared = A.cache["pairs"][1]
    else:
        pa, pb = pair_key // n_sel, pair_key % n_sel
        small = size[pa] <= size[pb]
        a, b = np.where(small, pa, pb), np.where(small, pb, pa)
        counts = size[a]
        k = np.repeat(np.arange(len(a)), counts)
        start = np.repeat(agg.indptr[a] - np.cumsum(counts) + counts, counts)
        leaf = agg.indices[np.arange(len(k)) + start]
        hit = member(b[k], leaf)
        shared = sp.csr_matrix((np.ones(int(hit.sum())), (leaf[hit], k[hit])), shape=(L, len(a)))
        A.cache["pairs"] = (signature, shared)
    blocks = np.asarray(shared @ weights).reshape(L, Y, Y)
    blocks *= c[:, :, None]
    blocks *= c[:, None, :]
    G, DD = G.tocoo(), DD.tocoo()  # (cells, sums) and (cells, cells), the cells' scale applied
    # where each entry of G and DD lands in the blocks depends on their patterns only (the priors'
    # rows): worked out once and kept across the passes of a solve while they stay the same
    signature = (G.row.tobytes(), G.col.tobytes(), DD.row.tobytes(), DD.col.tobytes())
    if A.cache.get("prior_cells", (None,))[0] != signature:
        if (DD.row % L != DD.col % L).any():
            raise AssertionError("a prior joined two leaves")
        leaf, t = G.row % L, G.row // L
        ok = np.flatnonzero(member(A.sum_sel[G.col], leaf))
        ts = A.sum_year[G.col[ok]]
        flat = leaf[ok] * Y * Y
        where = np.concatenate([flat + t[ok] * Y + ts, flat + ts * Y + t[ok], (DD.row % L) * Y * Y + (DD.row // L) * Y + DD.col // L])
        at, into = np.unique(where, return_inverse=True)
        A.cache["prior_cells"] = (signature, ok, leaf[ok] * Y + ts, at, into)
    _, ok, scale_at, at, into = A.cache["prior_cells"]
    v = G.data[ok] * c.ravel()[scale_at]
    blocks.reshape(-1)[at] += np.bincount(into, weights=np.concatenate([v, v, DD.data]), minlength=len(at))
    return blocks


def _ratio_prior(p: Problem) -> tuple[np.ndarray, np.ndarray]:
    mu = p.ratio_prior_mean if p.ratio_prior_mean is not None else np.full(p.n_ratios, np.log(1.3))
    tau = p.ratio_prior_sd if p.ratio_prior_sd is not None else np.full(p.n_ratios, 0.5)
    return np.asarray(mu, dtype=float), np.asarray(tau, dtype=float)


def _start(p: Problem, st: _Structure) -> np.ndarray:
    """Start from the assumed shares of a flat total at the median of whole-market sizes."""
    s = p.statements
    whole = (s.kind == SIZE) & (s.sel == p.total_row) & (s.definition < 0)
    pool = s.value[whole] if whole.any() else s.value[s.kind == SIZE]
    level = float(np.median(pool)) if len(pool) else 1.0
    return np.tile(p.prior_share * level, p.n_years)


def solve(
    p: Problem,
    *,
    passes: int = PASSES,
    n_draws: int = 0,
    seed: int = 0,
    tol: float = 1e-5,
    start: Solution | None = None,
    leave_out: np.ndarray | None = None,
) -> Solution:
    """Solve ``p``; ``start`` warm-starts from an earlier solution of a problem with the same cells;
    ``leave_out`` (bool per statement) gives those statements no weight (sensitivity analysis).

    BLAS runs on one thread here: every dense product and factorisation of the solver is small,
    and on a machine whose cores are busy, OpenBLAS's threads wait on each other (a Cholesky of
    441 unknowns took 262 ms with two threads on a loaded two-core machine, 1.8 ms with one)."""
    with one_blas_thread():
        return _solve(p, passes=passes, n_draws=n_draws, seed=seed, tol=tol, start=start, leave_out=leave_out)


def one_blas_thread():
    """A context in which BLAS runs on one thread. It restores the thread counts it found on exit,
    so solves on several threads at once must run inside one such context of their caller's:
    otherwise the first to finish restores the full count under the others, and the last leaves
    the process at one thread."""
    return _blas().limit(limits=1, user_api="blas")


_BLAS: list = []


def _blas():
    """One threadpoolctl controller for the process: finding the BLAS libraries (reading the
    process's memory map) cost 3.5 ms a solve, as long as a leave-one-out re-solve's linear algebra.
    Made at the first solve, when numpy's and scipy's BLAS are loaded (both are imported above)."""
    if not _BLAS:
        from threadpoolctl import ThreadpoolController

        _BLAS.append(ThreadpoolController())
    return _BLAS[0]


def _solve(p: Problem, *, passes: int, n_draws: int, seed: int, tol: float, start: Solution | None,
           leave_out: np.ndarray | None) -> Solution:
    st = _Structure(p)
    x = _start(p, st) if start is None else start.x.ravel().copy()
    same_extras = start is not None and len(start.log_ratio) == p.n_ratios and len(start.log_bias) == p.n_families
    log_ratio = start.log_ratio.copy() if same_extras else _ratio_prior(p)[0].copy()
    log_bias = start.log_bias.copy() if same_extras else np.zeros(p.n_families)
    weight = np.ones(len(p.statements)) if start is None or len(start.weight) != len(p.statements) else start.weight.copy()
    keep = np.ones(len(p.statements)) if leave_out is None else (~np.asarray(leave_out)).astype(float)
    weight = weight * keep
    scale = start.gradient_scale if start is not None else 0.0
    factor = start.factor if start is not None else None
    precondition = None  # ``factor``'s preconditioner for this solve's statements, once made
    block_inv, steps_before = None, None  # large problems: leaf blocks kept for the next pass
    for k in range(passes):
        A, b, _ = _system(p, st, x, log_ratio, log_bias, weight)
        # inexact Gauss-Newton: each pass's solve stops at ``tol`` of the first pass's gradient
        # (of a cold start's, when warm), not of its own, which shrinks as the passes converge;
        # small problems reuse the last factorisation while it preconditions well (see ``_Factor``)
        linear = _Linear(A, x, p.n_years, tol, reuse=factor, precondition=precondition, keep=keep, block_inv=block_inv)
        x_new, step, size = linear.solve(b, tol * scale)
        if not linear.small:
            # on scaled columns the leaf blocks change little from pass to pass once the robust
            # weights settle, and making and inverting them cost as much as the pass's solve: the
            # next pass keeps these unless, kept here, they took more steps than the pass before
            # (the coarse part, which follows the level, is made afresh every pass)
            stale = linear.blocks_reused and steps_before is not None and linear.cg_steps > steps_before
            block_inv, steps_before = (None if stale else linear.block_inv), linear.cg_steps
        if linear.factor is not None:
            factor, precondition = linear.factor, None
        elif linear.reuse is not None:
            precondition = linear.reuse_precondition
            if linear.steps > REFRESH_STEPS:  # gone stale: the next pass factors its own matrix
                factor = precondition = None
        scale = scale or size
        log_ratio = log_ratio + step[: p.n_ratios]
        log_bias = log_bias + step[p.n_ratios :]
        z = standardised(p, st, x_new, log_ratio, log_bias)
        weight = np.where(p.statements.prior, 1.0, 1.0 / (1.0 + (z / CAUCHY) ** 2)) * keep
        # converged when no year's total moves by more than 1e-4 of itself
        t_old, t_new = x.reshape(p.n_years, -1).sum(axis=1), x_new.reshape(p.n_years, -1).sum(axis=1)
        change = float(np.max(np.abs(t_new / np.maximum(t_old, 1e-300) - 1)))
        x = x_new
        if (k >= 2 or start is not None) and change < 1e-4:  # a warm start may already be there
            break
    z = standardised(p, st, x, log_ratio, log_bias)
    s = p.statements
    evidence = ~s.prior & (s.kind != FLOOR)
    if n_draws:
        # the draws' linear problem, at the solution: shared by the leverage and the draws, and its
        # factorisation (small problems) kept for solves warm-started from this solution
        A, _, n_claims = _system(p, st, x, log_ratio, log_bias, weight)
        del linear  # its pieces, before the draws' are made
        draws_linear = _Linear(A, x, p.n_years, DRAW_TOL, keep=keep, block_inv=block_inv)
        # leverage: how far a claim's own fitted value follows noise on the claims alone (the
        # variance of its fitted z over draws with unit noise on claim rows and none on priors);
        # a claim that alone pins its cells fits itself, so its raw residual understates the noise
        n_lev = int(np.clip(LEVERAGE_SAMPLES // max(1, int(evidence.sum())), 10, LEVERAGE_DRAWS))
        lev = _deviations(draws_linear, n_claims, n_lev, seed + 1, np.ones(len(s)), priors_noise=False)
        fitted = np.stack([standardised(p, st, x * (1.0 + d), log_ratio, log_bias) for d in lev])
        h = np.clip(np.var(fitted, axis=0), 0.0, 0.95)
        z_scale = z / np.sqrt(1.0 - h)
    else:
        z_scale = z
    # Two scales. Verdicts read residuals against a robust one (the MAD; each kind its own when it
    # has enough claims, as sizes, shares and growth rates are stated with different care), so
    # that outliers cannot hide by inflating it; intervals need the noise's tails, so their draws
    # use the scale that matches the residuals' central 90%.
    dispersion = _dispersion(z_scale[evidence])
    by_kind = {}
    for kind in (SIZE, SHARE, GROWTH):
        m = evidence & (s.kind == kind)
        by_kind[kind] = _dispersion(z_scale[m]) if m.sum() >= MIN_FOR_DISPERSION else dispersion
    sol = Solution(x.reshape(p.n_years, st.L), log_ratio, log_bias, z, weight, dispersion, by_kind, iterations=k + 1,
                   gradient_scale=scale, factor=factor)
    if n_draws:
        # pooled over kinds: one kind alone gives too few points in the tails
        scale = np.where(s.prior, 1.0, _dispersion(z_scale[evidence], tails=True))
        mix = None
        if p.priors and st.member_col and p.interaction_spread is not None and len(p.interaction_spread):
            first = n_claims + p.n_ratios + p.n_families  # the leaf prior's rows follow the claims' and extras'
            spread = np.resize(np.asarray(p.interaction_spread, dtype=float), n_draws) / p.interaction_sd
            mix = (slice(first, first + st.n), spread)
        dev = _deviations(draws_linear, n_claims, n_draws, seed, scale, mix=mix)
        dev += 1.0  # in place: on a large market the draws are the largest array of the solve
        np.maximum(dev, 0.01, out=dev)
        dev *= x[None, :]
        sol.draws = dev.reshape(n_draws, p.n_years, st.L)
        sol.factor = draws_linear.factor or factor
    return sol


def _dispersion(z: np.ndarray, tails: bool = False) -> float:
    """How much more the evidence disagrees than its stated confidence says (at least 1), from the
    leverage-corrected residuals: their MAD as a normal sd (robust to gross outliers), or with
    ``tails`` the scale that makes a normal's central 90% match theirs (heavy tails included).
    With fewer than 20 claims the stated confidences are taken as they are."""
    if len(z) < MIN_FOR_DISPERSION:
        return 1.0
    if tails:
        return float(max(1.0, np.quantile(np.abs(z), 0.9) / 1.6448536269514722))
    return float(max(1.0, 1.482602218505602 * np.median(np.abs(z))))


def _deviations(linear: _Linear, n_claims: int, n_draws: int, seed: int, claim_scale: np.ndarray,
                priors_noise: bool = True, mix: tuple[slice, np.ndarray] | None = None) -> np.ndarray:
    """Randomize-then-optimize with unit noise: each draw re-solves the weighted linear problem
    (``linear``, at the solution) with every right-hand side perturbed by its own (unit) noise;
    returns the relative deviation of every cell from the unperturbed solution, (draws, cells).
    Deviations are linear in the noise, and each claim row's noise is scaled by its kind's
    dispersion (``mix``: some rows' by draw as well); they are applied as x (1 + dev), not
    x exp(dev), so that an aggregate's draws centre on its point."""
    n_rows = linear.A.shape[0]
    rng = np.random.default_rng(seed)
    scale = np.ones(n_rows) if priors_noise else np.zeros(n_rows)
    scale[:n_claims] = claim_scale
    out = np.empty((n_draws, linear.n))
    buffer = np.empty((min(n_draws, DRAW_BATCH), n_rows))  # one batch's noise, drawn in place
    for lo in range(0, n_draws, DRAW_BATCH):
        hi = min(n_draws, lo + DRAW_BATCH)
        noise = buffer[: hi - lo]
        rng.standard_normal(out=noise)
        noise *= scale
        if mix is not None:  # rows whose noise scale varies by draw (see ``Problem.interaction_spread``)
            noise[:, mix[0]] *= mix[1][lo:hi, None]
        out[lo:hi] = linear.deviations(np.ascontiguousarray(noise.T) if linear.small else noise.T).T
    return out


def verdicts(z: np.ndarray, dispersion: float | np.ndarray) -> np.ndarray:
    """consistent / in tension / contradicted, on residuals scaled by the dispersion."""
    a = np.abs(z) / dispersion
    return np.where(a <= CONSISTENT, "consistent", np.where(a <= TENSION, "in tension", "contradicted"))


MIN_FOR_INTERACTION = 20  # size claims about narrow crossings needed to estimate the interaction's sd
# (and about broad ones to take the noise from them)
BROAD_CROSSING = 0.1  # a crossing whose leaves' squared weights sum below this is "broad": its
# departure from the margins' product is mostly the claim's own noise
NOISE_DRAWS = 20  # noise draws per claim about a narrow crossing, for ``interaction_scale``'s estimate
BOOT_NOISE_DRAWS = 5  # the same for each of its bootstrap replicates


def interaction_scale(p: Problem, sol: Solution, *, n_boot: int = 100, seed: int = 0) -> tuple[float, int, np.ndarray] | None:
    """The interaction's sd as the claims about crossings show it (empirical Bayes, one step).

    A size claim about a crossing of two or more dimensions (a type in a region, a leaf) is
    compared with the value the solution's margins give it without interaction (each of its leaves
    at the product of its members' shares of the total, summed): the log departure ``r``, in units
    of the claim's sd. Under the leaf prior it is ``tau sqrt(h) / sd N + e``: ``N`` standard normal,
    ``h`` the sum of the squared weights of the crossing's leaves (1 for a leaf; small for a
    crossing of many leaves, whose departures average out) and ``e`` the claim's own noise. The
    noise is not assumed normal: it is drawn from the departures of the broad crossings
    (``h < BROAD_CROSSING``, mostly noise), made symmetric, so heavy tails are not mistaken for
    interaction (with normal noise of the broad crossings' scale, the estimate on the benchmark's
    200,000-cell market was 0.26 where the truth's departures have sd 0.21; drawn from them,
    0.22). With fewer than ``MIN_FOR_INTERACTION`` broad crossings the noise is normal at the
    robust scale (MAD, at least 1; 1 with fewer than ``MIN_FOR_DISPERSION``) of the size claims
    about the total and single members at the solution. ``tau`` makes the median of
    ``|tau sqrt(h) / sd N + e|`` over ``NOISE_DRAWS`` draws a claim match the median of ``|r|``
    over the narrow crossings (robust to gross outliers, like the verdicts' scale).
    Returns ``(tau, claims, bootstrap)``: ``tau`` 0 when the noise alone explains the departures;
    ``bootstrap`` ``n_boot`` values of ``tau`` with the narrow crossings (each with all its
    claims) and the broad crossings resampled with replacement. None when fewer than ``MIN_FOR_INTERACTION`` narrow crossings
    speak to it."""
    if p.interaction is None:
        return None
    st = _Structure(p)
    s = p.statements
    x = sol.x.ravel()
    Y, L = p.n_years, st.L
    sums = st.sums @ x
    total = np.maximum(sums[st.i_total : st.i_total + Y], 1e-300)
    plain = np.exp(_log_plain(st, np.maximum(sums[st.i_total :], 1e-300), total))
    # a selection restricts a dimension when its leaves miss some of the dimension's members
    agg = st.agg
    restricted = np.zeros(agg.shape[0], dtype=int)
    for m in p.interaction:
        onehot = sp.csr_matrix((np.ones(L), (np.arange(L), np.unique(m, return_inverse=True)[1])))
        present = (agg @ onehot) > 0
        restricted += np.asarray(present.sum(axis=1)).ravel() < onehot.shape[1]
    size = (s.kind == SIZE) & ~s.prior
    crossing = size & (restricted[s.sel] >= 2)
    ps, ps2 = st.sums @ plain, st.sums @ plain**2
    i = st.i_sel[crossing]
    h = ps2[i] / np.maximum(ps[i], 1e-300) ** 2
    mult = np.exp(_gather(sol.log_ratio, s.definition) + _gather(sol.log_bias, s.family))[crossing]
    r = (np.log(s.value[crossing] / mult) - np.log(np.maximum(ps[i], 1e-300))) / s.sd[crossing]
    gain = np.sqrt(h) / s.sd[crossing]
    narrow, broad = np.flatnonzero(h >= BROAD_CROSSING), np.flatnonzero(h < BROAD_CROSSING)
    if len(narrow) < MIN_FOR_INTERACTION:
        return None
    rng = np.random.default_rng(seed)
    symmetric = len(broad) >= MIN_FOR_INTERACTION
    if symmetric:
        pool = r[broad]
    else:
        margin = size & (restricted[s.sel] <= 1)
        z = standardised(p, st, x, sol.log_ratio, sol.log_bias)
        pool = _dispersion(z[margin]) * rng.standard_normal(4000)

    def estimate(rows: np.ndarray, noise_pool: np.ndarray, k: int) -> float:
        target = float(np.median(np.abs(r[rows])))
        a = gain[rows, None] * rng.standard_normal((len(rows), k))
        e = rng.choice(noise_pool, size=(len(rows), k))
        if symmetric:  # the broad crossings' departures, each as likely either way
            e *= rng.choice([-1.0, 1.0], size=e.shape)

        def excess(tau: float) -> float:
            return float(np.median(np.abs(tau * a + e))) - target

        if excess(0.0) >= 0:
            return 0.0
        lo, hi = 0.0, 1.0
        while excess(hi) < 0:
            if hi >= 1e3:  # departures a thousand times the claims' sd: no finer answer is meaningful
                return hi
            lo, hi = hi, 2 * hi
        # the median of |tau a + e| is continuous in tau (not always monotone: where it crosses the
        # target more than once, any crossing in the bracket is as good an estimate as another); a
        # relative sd to 1e-4 is far finer than its sampling error
        return float(brentq(excess, lo, hi, xtol=1e-4))

    tau = estimate(narrow, pool, NOISE_DRAWS)
    # the bootstrap resamples crossings, not claims: claims about one crossing (other years, other
    # sources) share its lasting departure
    cluster = np.unique(s.sel[crossing][narrow], return_inverse=True)[1]
    order = np.argsort(cluster, kind="stable")
    n_clusters = int(cluster.max()) + 1
    boot = np.empty(n_boot)
    for b in range(n_boot):
        times = np.bincount(rng.integers(0, n_clusters, n_clusters), minlength=n_clusters)
        rows = np.repeat(narrow[order], times[cluster[order]])
        boot[b] = estimate(rows, rng.choice(pool, size=len(pool)), BOOT_NOISE_DRAWS)
    return tau, int(crossing.sum()), boot
