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

__all__ = ["Cube", "Selection", "PROVENANCE_ORDER", "weakest"]

Selection = tuple[tuple[str, str], ...]
PROVENANCE_ORDER = ("sourced", "derived", "modelled", "assumed")  # strongest first


def weakest(*kinds: str) -> str:
    """The weakest provenance among inputs decides (DESIGN.md, Provenance)."""
    return max(kinds, key=PROVENANCE_ORDER.index)


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

    def __post_init__(self) -> None:
        self.leaves = tuple(itertools.product(*[[m.id for m in d.leaves] for d in self.dimensions]))
        assert self.value.shape == (len(self.years), len(self.leaves)), self.value.shape
        assert self.draws.shape[1:] == self.value.shape

    def aggregation(self, selections: list[Selection]) -> sp.csr_matrix:
        """Sparse 0/1 matrix (selections x leaves): row i sums the leaves inside selection i."""
        under = {
            d.id: {m.id: {leaf.id for leaf in d.leaves_under(m.id)} for m in d.members} for d in self.dimensions
        }
        pos = {d.id: k for k, d in enumerate(self.dimensions)}
        rows, cols = [], []
        for i, sel in enumerate(selections):
            for j, leaf in enumerate(self.leaves):
                if all(leaf[pos[d]] in under[d][m] for d, m in sel):
                    rows.append(i)
                    cols.append(j)
        data = np.ones(len(rows))
        return sp.csr_matrix((data, (rows, cols)), shape=(len(selections), len(self.leaves)))

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
