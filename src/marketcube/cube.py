"""The market cube: leaf cells (year x one leaf member of every dimension), in USD billions.

Leaf cells are the only free numbers; every aggregate is a sum of leaf cells through a sparse
0/1 aggregation matrix, so parts add up to totals by construction. ``draws`` holds joint samples of
all leaf cells (for intervals that stay coherent: an aggregate's interval comes from the sums of
its leaves' draws).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .pack import Dimension

__all__ = ["Cube", "Selections", "Selection", "PROVENANCE_ORDER", "weakest"]

Selection = tuple[tuple[str, str], ...]
PROVENANCE_ORDER = ("sourced", "derived", "modelled", "assumed")  # strongest first


def weakest(*kinds: str) -> str:
    """The weakest provenance among inputs decides (DESIGN.md, Provenance)."""
    return max(kinds, key=PROVENANCE_ORDER.index)


class Selections:
    """Rows of the aggregation matrix, one per distinct selection, built from per-dimension codes."""

    def __init__(self, dims: tuple[Dimension, ...]) -> None:
        sizes = [len(d.leaves) for d in dims]
        self.n_leaves = int(np.prod(sizes))
        grids = np.indices(sizes).reshape(len(dims), -1)  # leaf k of dimension d, product order as Cube
        self.codes = {d.id: grids[i] for i, d in enumerate(dims)}
        self.dims = {d.id: d for d in dims}
        self.under = {d.id: {m.id: None for m in d.members} for d in dims}
        # member index per dimension, and for each depth the ancestor-or-self of every leaf
        self.member_index = {d.id: {m.id: k for k, m in enumerate(d.members)} for d in dims}
        self.ancestor: dict[tuple[str, int], np.ndarray] = {}
        for d in dims:
            chains = [list(reversed((leaf.id, *d.ancestors(leaf.id)))) for leaf in d.leaves]  # top first
            for depth in range(max(len(c) for c in chains)):
                self.ancestor[(d.id, depth)] = np.array(
                    [self.member_index[d.id][c[depth]] if depth < len(c) else -1 for c in chains]
                )
        self.rows: list[tuple] = []
        self.index: dict[tuple, int] = {}
        self.get(())

    def get(self, selection: tuple) -> int:
        if selection not in self.index:
            self.index[selection] = len(self.rows)
            self.rows.append(selection)
        return self.index[selection]

    def matrix(self, only: list[int] | None = None) -> sp.csr_matrix:
        """0/1 rows (all selections, or those listed in ``only``, in that order), built a pattern at
        a time: selections naming the same dimensions at the same depths share one grouping of the
        leaves (no selection-by-leaf loop)."""
        wanted = list(range(len(self.rows))) if only is None else list(only)
        depth_of = {
            d: {m: len(self.dims[d].ancestors(m)) for m in self.under[d]} for d in self.codes
        }
        patterns: dict[tuple, list[int]] = {}
        for out_row, i in enumerate(wanted):
            sel = self.rows[i]
            patterns.setdefault(tuple((d, depth_of[d][m]) for d, m in sel), []).append(out_row)
        rows, cols = [], []
        for pattern, members in patterns.items():
            if not pattern:
                for i in members:
                    rows.append(np.full(self.n_leaves, i))
                    cols.append(np.arange(self.n_leaves))
                continue
            # each leaf's ancestor (or itself) at the pattern's depth, per dimension, as one key
            keys = [self.ancestor[(d, depth)][self.codes[d]] for d, depth in pattern]
            key = np.stack(keys, axis=1)
            lookup = {tuple(k): [] for k in []}
            order = np.lexsort(key.T[::-1])
            sorted_keys = key[order]
            change = np.flatnonzero(np.any(np.diff(sorted_keys, axis=0) != 0, axis=1)) + 1
            starts = np.concatenate([[0], change])
            ends = np.concatenate([change, [len(order)]])
            for a, b in zip(starts, ends):
                lookup[tuple(sorted_keys[a])] = order[a:b]
            for i in members:
                k = tuple(self.member_index[d][m] for d, m in self.rows[wanted[i]])
                idx = lookup.get(k, np.array([], dtype=np.int64))
                rows.append(np.full(len(idx), i))
                cols.append(idx)
        r, c = np.concatenate(rows), np.concatenate(cols)
        return sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(len(wanted), self.n_leaves))


@dataclass
class Cube:
    """Leaf values ``value[year, leaf]`` and joint draws ``draws[draw, year, leaf]``, USD bn nominal."""

    dimensions: tuple[Dimension, ...]
    years: tuple[int, ...]
    value: np.ndarray
    draws: np.ndarray
    total_provenance: dict[int, str]  # provenance of the total, per year
    split_provenance: str = "assumed"  # provenance of the shares that divide the total into leaves
    evidenced: set | None = None  # selections evidence speaks to directly (None: the total only)
    leaves: tuple[tuple[str, ...], ...] = field(init=False)
    _selections: Selections | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.leaves = tuple(itertools.product(*[[m.id for m in d.leaves] for d in self.dimensions]))
        assert self.value.shape == (len(self.years), len(self.leaves)), self.value.shape
        assert self.draws.shape[1:] == self.value.shape

    def aggregation(self, selections: list[Selection]) -> sp.csr_matrix:
        """Sparse 0/1 matrix (selections x leaves): row i sums the leaves inside selection i."""
        if self._selections is None:
            self._selections = Selections(self.dimensions)
        rows = [self._selections.get(tuple(sorted(s))) for s in selections]
        return self._selections.matrix(rows)

    def sums(self, S: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """The rows of an aggregation matrix (``aggregation``'s output, n x leaves) summed over the
        cube: (point[n, year], draws[draw, n, year]), USD bn, by sparse products only."""
        point = np.asarray(S @ self.value.T)
        d, y, leaves = self.draws.shape
        draws = np.asarray(S @ self.draws.reshape(d * y, leaves).T).reshape(S.shape[0], d, y).transpose(1, 0, 2)
        return point, draws

    def series(self, selection: Selection) -> tuple[np.ndarray, np.ndarray]:
        """(point[year], draws[draw, year]) of one selection, USD bn."""
        s = self.aggregation([selection])
        point = np.asarray(s @ self.value.T).ravel()
        draws = np.einsum("dyl,l->dy", self.draws, np.asarray(s.todense()).ravel())
        return point, draws

    def year_index(self, year: int) -> int:
        return self.years.index(year)

    def provenance(self, selection: Selection, year: int) -> str:
        """The total's provenance, weakened by the splits' unless the selection is the whole market
        in disguise (every member on its path is the only child of its parent)."""
        total = self.total_provenance[year]
        if self.evidenced is not None and tuple(sorted(selection)) in self.evidenced:
            return total  # the solver fitted this selection to claims about it: modelled, not assumed
        dims = {d.id: d for d in self.dimensions}
        for dim_id, member_id in selection:
            d = dims[dim_id]
            for m in (member_id, *d.ancestors(member_id)):
                if len(d.children(d.member(m).parent)) > 1:
                    return weakest(total, self.split_provenance)
        return total
