"""Preconditioned conjugate gradients on many right-hand sides at once, for both solver modes.

scipy's ``cg`` takes one right-hand side at a time; the evidence solver's draws need a hundred and
reconciliation solves every forecast year at once, and one sparse product with a block of
columns costs far less than as many products with one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["pcg"]


def pcg(
    normal: Callable[[np.ndarray], np.ndarray],
    precondition: Callable[[np.ndarray], np.ndarray],
    G: np.ndarray,
    *,
    tol: float,
    maxiter: int,
    floor: float = 0.0,
    reference: np.ndarray | None = None,
    strict: bool = False,
) -> tuple[np.ndarray, int, np.ndarray]:
    """Solve ``normal(X) = G`` column by column (each column its own step lengths), from zero.

    A column stops when its residual, in the preconditioner's norm, is ``tol`` of its start (or
    ``floor``, whichever is larger); with ``reference`` (one norm a column), when its Euclidean
    residual is ``tol`` of that reference. ``strict`` raises when ``maxiter`` steps were not
    enough. Returns the solution, the steps taken and each column's last residual in the
    preconditioner's norm, squared."""
    one = G.ndim == 1
    G = G[:, None] if one else G
    X = np.zeros_like(G)
    R = G.copy()
    Z = precondition(R)
    rz = np.einsum("ij,ij->j", R, Z)
    stop = np.maximum(tol**2 * rz, floor**2)
    P = Z.copy()
    steps = 0
    for _ in range(maxiter):
        live = rz > stop if reference is None else np.sqrt(np.einsum("ij,ij->j", R, R)) > tol * reference
        if not live.any():
            break
        Q = normal(P)
        pq = np.einsum("ij,ij->j", P, Q)
        alpha = np.where(live & (pq > 0), rz / np.where(pq > 0, pq, 1.0), 0.0)
        P *= alpha  # in place (the arrays are unknowns x columns): P now holds the step
        X += P
        Q *= alpha
        R -= Q
        Z = precondition(R)
        rz_new = np.einsum("ij,ij->j", R, Z)
        beta = np.where(live, rz_new / np.where(rz > 0, rz, 1.0), 0.0)
        P *= np.where(alpha != 0, beta / np.where(alpha != 0, alpha, 1.0), 0.0)
        P += Z
        rz = np.where(live, rz_new, rz)
        steps += 1
    else:
        if strict:
            raise RuntimeError(f"conjugate gradients did not converge in {maxiter} iterations")
    return (X[:, 0] if one else X), steps, rz
