"""Leaf shares of each dimension from the pack's assumed splits, as points and as draws.

Each split (a parent's children) is drawn from a Dirichlet distribution whose mean is the assumed
shares and whose concentration matches the stated uncertainty (sd of a share with mean p is
sqrt(p(1-p)/(a0+1))). A leaf's share of the whole dimension is the product of the shares on its
path from the top. Shares are constant over the years (an assumption the report states).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..pack import Dimension, Market

__all__ = ["LeafShares", "leaf_shares", "leaf_share_product"]


@dataclass(frozen=True)
class LeafShares:
    dimension: str
    leaves: tuple[str, ...]
    point: np.ndarray  # (leaves,) sums to 1
    draws: np.ndarray  # (draws, leaves) each row sums to 1


def _concentration(shares: np.ndarray, sd: float) -> float:
    inside = shares[(shares > 0) & (shares < 1)]
    if sd <= 0 or inside.size == 0:
        return 1e6
    return float(max(2.0, np.mean(inside * (1 - inside)) / sd**2 - 1))


def leaf_shares(market: Market, dim: Dimension, n_draws: int, rng: np.random.Generator) -> LeafShares:
    splits = {s.parent: s for s in market.assumptions.splits if s.dimension == dim.id}
    leaves = tuple(m.id for m in dim.leaves)
    point = {m.id: 1.0 for m in dim.members if m.parent is None}
    draws = {m.id: np.ones(n_draws) for m in dim.members if m.parent is None}
    top = dim.children(None)
    if len(top) > 1:
        point, draws = {}, {}
        _apply(splits[None], [m.id for m in top], 1.0, np.ones(n_draws), point, draws, rng)
    frontier = [m.id for m in top]
    while frontier:
        nxt = []
        for pid in frontier:
            kids = [m.id for m in dim.children(pid)]
            if not kids:
                continue
            if len(kids) == 1:
                point[kids[0]], draws[kids[0]] = point[pid], draws[pid]
            else:
                _apply(splits[pid], kids, point[pid], draws[pid], point, draws, rng)
            nxt += kids
        frontier = nxt
    return LeafShares(
        dim.id, leaves, np.array([point[k] for k in leaves]), np.stack([draws[k] for k in leaves], axis=1)
    )


def _apply(split, kids, parent_point, parent_draws, point, draws, rng) -> None:
    shares = np.array([split.shares[k] for k in kids])
    a0 = _concentration(shares, split.uncertainty)
    alpha = np.maximum(shares * a0, 1e-9)
    sample = rng.dirichlet(alpha, size=parent_draws.shape[0]) if a0 < 1e6 else np.tile(shares, (parent_draws.shape[0], 1))
    for i, k in enumerate(kids):
        point[k] = parent_point * shares[i]
        draws[k] = parent_draws * sample[:, i]


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
