"""The reconciliation benchmark's synthetic market (issue 5), fixed by its seed.

5 regions x 8 countries = 40 countries, 2 types, 3 end-users and K products crossed at the bottom
(240 K bottom series). Aggregation levels, top to bottom: total; type; end-user; type x end-user;
region; region x country; region x type; region x end-user; country x type; country x end-user;
country x type x end-user; product; region x product; type x product; country x product; bottom
(522 + 48 K aggregate series). The nested order for top-down: total > region > country > type >
end-user > product.

Truth: each bottom series is a random walk with drift on log values, its innovations sharing
global, regional, type, end-user and product factors (so aggregates are correlated the way market
segments are) and a level spread over three orders of magnitude. 23 annual points: 15 to fit, 8 to
forecast. Base forecasts of every series (bottom and aggregate alike, from the series' own history)
by drift on log values; in-sample one-step residuals in value units; and joint bootstrap sample
paths: every path draws the same time indices for all series, so the paths keep the cross-series
correlation of the residuals, and redraws the drift from the same resampled residuals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

N_REGIONS, PER_REGION, N_TYPES, N_USERS = 5, 8, 2, 3
N_COUNTRIES = N_REGIONS * PER_REGION
T_FIT, H = 15, 8
MIN_HISTORY = 6  # the first backtest origin: a drift from 5 steps
SIZES = {"1k": 4, "10k": 42, "50k": 208, "500k": 2084}

# (name, dimensions kept); the bottom level keeps all four
LEVELS = [
    ("total", ()),
    ("type", ("type",)),
    ("end_user", ("user",)),
    ("type/end_user", ("type", "user")),
    ("region", ("region",)),
    ("region/country", ("country",)),
    ("region/type", ("region", "type")),
    ("region/end_user", ("region", "user")),
    ("country/type", ("country", "type")),
    ("country/end_user", ("country", "user")),
    ("country/type/end_user", ("country", "type", "user")),
    ("product", ("product",)),
    ("region/product", ("region", "product")),
    ("type/product", ("type", "product")),
    ("country/product", ("country", "product")),
    ("bottom", ("country", "type", "user", "product")),
]
NESTED = [("total", ()), ("region", ("region",)), ("country", ("country",)), ("country/type", ("country", "type")),
          ("country/type/end_user", ("country", "type", "user")),
          ("bottom", ("country", "type", "user", "product"))]


@dataclass
class Market:
    K: int
    S: sp.csr_matrix  # n x m, grouped levels
    tags: dict[str, np.ndarray]  # level -> row indices of S
    S_nested: sp.csr_matrix
    tags_nested: dict[str, np.ndarray]
    nested_rows: np.ndarray  # row of S_nested -> row of S (the same series)
    truth: np.ndarray  # n x 23, every series (coherent)
    y_hat: np.ndarray  # n x 8 base forecasts
    fitted: np.ndarray  # n x 14 in-sample fitted values (one step ahead)
    residuals: np.ndarray  # n x 14, truth - fitted over the fitting years 2..15
    log_drift: np.ndarray  # n
    log_resid: np.ndarray  # n x 14

    @property
    def y_fit(self) -> np.ndarray:
        return self.truth[:, 1:T_FIT]

    @property
    def y_test(self) -> np.ndarray:
        return self.truth[:, T_FIT:]

    @property
    def level_of(self) -> np.ndarray:
        """Each series' level, as the index of its level in ``tags`` (the calibration's groups)."""
        out = np.empty(self.S.shape[0], dtype=np.int64)
        for k, rows in enumerate(self.tags.values()):
            out[rows] = k
        return out

    def backtests(self) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """Forecasts made at earlier origins inside the fitting years, each with only the data
        before its origin: per origin t (the first t points known, t = MIN_HISTORY .. 14), the base
        forecasts for the next H years (n x H), their in-sample residuals (n x t-1) and what happened
        (n x H, NaN past the fitting years). Nothing of the 8 test years is used."""
        out = []
        for t in range(MIN_HISTORY, T_FIT):
            y_hat, resid = drift_forecast(self.truth[:, :t])
            actual = np.full_like(y_hat, np.nan)
            k = min(H, T_FIT - t)
            actual[:, :k] = self.truth[:, t:t + k]
            out.append((t, y_hat, resid, actual))
        return out

    def paths(self, n_paths: int, seed: int, dtype=np.float64) -> np.ndarray:
        """Joint bootstrap sample paths of the base forecasts, n_paths x n x H."""
        return bootstrap_paths(self.truth[:, T_FIT - 1], self.log_drift, self.log_resid, n_paths, seed, dtype)


def drift_forecast(history: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drift on log values from ``history`` (n x t): the base forecasts of the next H points and the
    in-sample one-step residuals in value units (n x t-1)."""
    logs = np.log(history)
    drift = np.diff(logs, axis=1).mean(axis=1)
    fitted = history[:, :-1] * np.exp(drift)[:, None]
    y_hat = history[:, -1][:, None] * np.exp(drift[:, None] * np.arange(1, H + 1))
    return y_hat, history[:, 1:] - fitted


def bootstrap_paths(last: np.ndarray, drift: np.ndarray, resid: np.ndarray, n_paths: int, seed: int,
                    dtype=np.float64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n, T = resid.shape
    out = np.empty((n_paths, n, H), dtype=dtype)
    log_last = np.log(last)
    for k in range(n_paths):
        d = drift + resid[:, rng.integers(0, T, T)].mean(axis=1)  # the drift's own estimation error
        steps = resid[:, rng.integers(0, T, H)]
        out[k] = np.exp(log_last[:, None] + d[:, None] * np.arange(1, H + 1) + np.cumsum(steps, axis=1))
    return out


def _codes(K: int) -> dict[str, np.ndarray]:
    c, t, u, p = np.meshgrid(np.arange(N_COUNTRIES), np.arange(N_TYPES), np.arange(N_USERS), np.arange(K), indexing="ij")
    c, t, u, p = (a.ravel() for a in (c, t, u, p))
    return {"country": c, "region": c // PER_REGION, "type": t, "user": u, "product": p}


def _summing(codes: dict[str, np.ndarray], levels) -> tuple[sp.csr_matrix, dict[str, np.ndarray]]:
    m = codes["country"].size
    blocks, tags, start = [], {}, 0
    for name, keep in levels:
        if keep:
            key = np.zeros(m, dtype=np.int64)
            for d in keep:
                key = key * (codes[d].max() + 1) + codes[d]
            _, group = np.unique(key, return_inverse=True)
        else:
            group = np.zeros(m, dtype=np.int64)
        g = int(group.max()) + 1
        blocks.append(sp.csr_matrix((np.ones(m), (group, np.arange(m))), shape=(g, m)))
        tags[name] = np.arange(start, start + g)
        start += g
    return sp.vstack(blocks, format="csr"), tags


def market(size: str, seed: int = 5) -> Market:
    K = SIZES[size] if size in SIZES else int(size)
    rng = np.random.default_rng(seed)
    codes = _codes(K)
    S, tags = _summing(codes, LEVELS)
    S_nested, tags_nested = _summing(codes, NESTED)
    m = S.shape[1]
    n_t = T_FIT + H
    # levels: country size x product size x type/user mix, spread over ~3 orders of magnitude
    level = (np.exp(rng.normal(0, 0.8, N_COUNTRIES))[codes["country"]] * np.exp(rng.normal(0, 1.0, K))[codes["product"]]
             * rng.dirichlet(np.ones(N_TYPES * N_USERS) * 3)[codes["type"] * N_USERS + codes["user"]] * 100)
    growth = (0.04 + rng.normal(0, 0.02, N_REGIONS)[codes["region"]] + rng.normal(0, 0.02, K)[codes["product"]]
              + rng.normal(0, 0.01, m))
    shocks = (0.03 * rng.standard_normal((n_t, 1))
              + 0.03 * rng.standard_normal((n_t, N_REGIONS))[:, codes["region"]]
              + 0.02 * rng.standard_normal((n_t, N_TYPES))[:, codes["type"]]
              + 0.02 * rng.standard_normal((n_t, N_USERS))[:, codes["user"]]
              + 0.04 * rng.standard_normal((n_t, K))[:, codes["product"]]
              + 0.05 * rng.standard_normal((n_t, m)))
    log_bottom = np.log(level)[None, :] + np.cumsum(growth[None, :] + shocks, axis=0)  # n_t x m
    truth = np.asarray((S @ np.exp(log_bottom).T))  # n x n_t
    logs = np.log(truth[:, :T_FIT])
    diffs = np.diff(logs, axis=1)  # n x 14
    drift = diffs.mean(axis=1)
    log_resid = diffs - drift[:, None]
    y_hat, residuals = drift_forecast(truth[:, :T_FIT])
    nested_rows = _match_rows(S_nested, S)
    return Market(K, S, tags, S_nested, tags_nested, nested_rows, truth, y_hat, truth[:, 1:T_FIT] - residuals, residuals,
                  drift, log_resid)


def _match_rows(A: sp.csr_matrix, B: sp.csr_matrix) -> np.ndarray:
    """For every row of A, the row of B with the same bottom series."""
    def keys(M):
        return [hash(M.indices[M.indptr[i]:M.indptr[i + 1]].tobytes()) for i in range(M.shape[0])]
    where = {k: i for i, k in enumerate(keys(B))}
    return np.array([where[k] for k in keys(A)])
