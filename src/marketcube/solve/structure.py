"""The summing structure of a market cut along several dimensions, built from the dimensions' trees.

A market is split along dimensions (geography, product type, end-user, product, ...), each a tree
of members given as a child -> parent map (``None`` as the parent of a root; several roots are
allowed). The bottom series are the cells the forecasts start from: one row of ``bottom`` per
series, naming its leaf member in every dimension. An aggregation level is a crossing of some
dimensions, each cut at one depth of its tree: ``"geo@1"`` (regions), ``("geo@2", "type")``
(country x type); a bare ``"geo"`` is the deepest depth (the leaves), depth 0 the roots, and the
empty crossing ``()`` (or ``"total"``) is the whole market. Every level splits the bottom series into
disjoint groups, one row of S per group that has at least one bottom series; levels come in the
order given and the bottom level (every dimension at its leaves) is always last, in ``bottom``'s
row order, so S ends with an identity block (what ``project.hierarchy`` and hierarchicalforecast
expect).

Ragged trees (leaves at different depths, e.g. "Rest of world" a leaf under "world" next to
regions that have countries) are padded: at a depth below a leaf, the leaf stands for itself, so
every level still splits all bottom series. Such a row repeats the row of the leaf at its own
depth; its id says so with the depth (``"geo@2=Rest of world"``), so ids stay unique.

Row ids are ``"dim=member"`` joined by ``"/"`` in the dimensions' order (``"geo=europe/type=API"``,
``"total"``); within a level, rows follow the members' order in ``dimensions``. Level names (the
keys of ``tags``) are the specs joined by ``"/"``: ``"geo@1/type"``, ``"total"``.

The builder works on integer codes with numpy and scipy.sparse: one sort per level, no dense
matrix (500k bottom series and 16 levels: about a second). Every mistake in the input is a
``ValueError`` naming the dimension, member or bottom row and saying how to fix it.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = ["Structure", "build"]

ParentMap = Mapping[Hashable, Hashable | None] | Iterable[tuple[Hashable, Hashable | None]]
Level = str | Sequence[str]

TOTAL = "total"
SHOW = 5  # offending items listed in an error message
SUGGEST_MAX_MEMBERS = 10_000  # spelling suggestions only where difflib stays fast


@dataclass(frozen=True)
class Structure:
    """The summing matrix of a market and the labels of its rows.

    ``S``: CSR, n_series x n_bottom, 0/1; row i adds up the bottom series of series i; the last
    n_bottom rows are the bottom series in ``bottom``'s order (an identity block). ``ids``: a label
    per row. ``tags``: level name -> its row indices (consecutive), top to bottom, the bottom level
    last. ``levels_nested``: the levels' rows ordered coarse to fine when each level splits every
    series of the one before (a tree, what ``top_down`` needs), else None (a grouped structure).
    ``dimensions``: the dimensions' names, in the order ids and level names use them.
    """

    S: sp.csr_matrix
    ids: tuple[str, ...]
    tags: Mapping[str, np.ndarray]
    levels_nested: tuple[np.ndarray, ...] | None
    dimensions: tuple[str, ...]

    @property
    def n_series(self) -> int:
        return self.S.shape[0]

    @property
    def n_bottom(self) -> int:
        return self.S.shape[1]


@dataclass(frozen=True)
class _Tree:
    """One dimension as arrays over its members (in declaration order)."""

    name: str
    members: pd.Index
    parent: np.ndarray  # member index of the parent, -1 for a root
    depth: np.ndarray
    leaf: np.ndarray  # bool: has no children
    ancestor: tuple[np.ndarray, ...]  # [d][k]: member k's ancestor at depth d (k itself above depth d)

    @property
    def max_depth(self) -> int:
        return len(self.ancestor) - 1

    def spec(self, depth: int) -> str:
        return self.name if depth == self.max_depth else f"{self.name}@{depth}"


def build(
    bottom: pd.DataFrame,
    dimensions: Mapping[str, ParentMap],
    levels: Sequence[Level] | None = None,
    nested: Sequence[str] | None = None,
) -> Structure:
    """The summing structure of the bottom series ``bottom`` over the trees ``dimensions``.

    ``bottom``: one row per bottom series, a column per dimension holding the series' leaf member
    (other columns are ignored). ``dimensions``: per dimension, a child -> parent dict or a list of
    (child, parent) pairs, ``None`` as a root's parent. ``levels``: the aggregation levels to build,
    each a spec or a tuple of specs (``"geo@1"``, ``("geo@2", "type")``, ``()`` for the total); the
    bottom level is appended if missing. Default: ``nested`` given, the levels of a tree that
    splits by the dimensions in that order (the total, each depth of the first dimension, then each
    depth of the next within the first's leaves, ...; dimensions not listed follow in
    ``dimensions``' order); otherwise every crossing of every depth of every dimension, the total
    first. The default leaves out depths that split no group of the depth above (a single root, a
    member with one child in use), as they would only repeat rows.
    """
    if levels is not None and nested is not None:
        raise ValueError("give either levels or nested (the order of a tree's dimensions), not both")
    if not isinstance(bottom, pd.DataFrame):
        raise ValueError(f"bottom must be a pandas DataFrame with a column per dimension, got {type(bottom).__name__}")
    if not dimensions:
        raise ValueError("dimensions must name at least one dimension (e.g. {'geo': {'world': None, 'DE': 'world'}})")
    trees = [_tree(name, spec) for name, spec in dimensions.items()]
    m = len(bottom)
    if m == 0:
        raise ValueError("bottom has no rows: give one row per bottom series")
    leaf_codes = [_leaf_codes(bottom, t) for t in trees]
    full = tuple(t.max_depth for t in trees)
    bottom_key = _combine(leaf_codes, [len(t.members) for t in trees], m)
    _refuse_duplicates(bottom, trees, leaf_codes, bottom_key)

    if levels is None:
        kept = [_useful_depths(t, c) for t, c in zip(trees, leaf_codes)]
        crossings = _tree_levels(trees, kept, nested) if nested is not None else _all_crossings(kept)
        crossings = [c for c in crossings if c != _finest(kept)]
    else:
        crossings = [_parse_level(level, trees) for level in levels]
        _refuse_repeated_levels(crossings, trees)
        crossings = [c for c in crossings if c != full]
    crossings.append(full)

    counts: list[np.ndarray] = []
    indices: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    ids: list[np.ndarray] = []
    tags: dict[str, np.ndarray] = {}
    labels: dict[tuple[int, int], np.ndarray] = {}
    start = 0
    for k, crossing in enumerate(crossings):
        if k == len(crossings) - 1:
            owner, order, first, count = np.arange(m), np.arange(m), np.arange(m), np.ones(m, dtype=np.int64)
        else:
            owner, order, first, count = _split(crossing, trees, leaf_codes)
        counts.append(count)
        indices.append(order)
        owners.append(owner)
        ids.append(_ids(crossing, trees, [c[first] for c in leaf_codes], labels))
        tags[_level_name(crossing, trees)] = np.arange(start, start + count.size)
        start += count.size
    nnz = sum(len(i) for i in indices)
    index_dtype = np.int32 if max(nnz, m) < 2**31 else np.int64  # half the memory of S at scale
    indptr = np.zeros(start + 1, dtype=index_dtype)
    np.cumsum(np.concatenate(counts), out=indptr[1:])
    cols = np.concatenate(indices).astype(index_dtype, copy=False)
    S = sp.csr_matrix((np.ones(cols.size), cols, indptr), shape=(start, m))
    S.has_sorted_indices = True  # each row's columns come from a stable sort
    return Structure(
        S=S,
        ids=tuple(np.concatenate(ids).tolist()),
        tags=MappingProxyType(tags),
        levels_nested=_nested_levels(list(tags.values()), owners),
        dimensions=tuple(t.name for t in trees),
    )


# ---------------------------------------------------------------- the trees


def _tree(name: str, spec: ParentMap) -> _Tree:
    if not isinstance(name, str) or not name or any(c in name for c in "@/=") or name == TOTAL:
        raise ValueError(
            f"dimension name {name!r} must be a non-empty string without '@', '/' or '=' and not {TOTAL!r}: rename it"
        )
    if isinstance(spec, Mapping):
        children, parents = list(spec.keys()), list(spec.values())
    elif isinstance(spec, (str, bytes)) or not isinstance(spec, Iterable):
        raise ValueError(f"dimension {name!r} must be a child -> parent dict or a list of (child, parent) pairs")
    else:
        pairs = list(spec)
        bad = [p for p in pairs if not isinstance(p, (tuple, list)) or len(p) != 2]
        if bad:
            raise ValueError(f"dimension {name!r}: {bad[0]!r} is not a (child, parent) pair")
        children, parents = [p[0] for p in pairs], [p[1] for p in pairs]
    if not children:
        raise ValueError(f"dimension {name!r} has no members")
    parents = [None if _missing(p) else p for p in parents]
    if any(_missing(c) for c in children):
        raise ValueError(f"dimension {name!r} has a missing (None or NaN) member name")
    child_arr = np.empty(len(children), dtype=object)
    child_arr[:] = children
    parent_arr = np.empty(len(parents), dtype=object)
    parent_arr[:] = parents
    own = np.flatnonzero(child_arr == parent_arr)
    if own.size:
        raise ValueError(
            f"dimension {name!r}: member {children[own[0]]!r} is its own parent; give None as the parent of a root"
        )
    pairs_df = pd.DataFrame({"child": child_arr, "parent": parent_arr}).drop_duplicates()
    twice = pairs_df["child"].duplicated(keep=False)
    if twice.any():
        child = pairs_df.loc[twice, "child"].iloc[0]
        ps = pairs_df.loc[pairs_df["child"] == child, "parent"].tolist()
        raise ValueError(
            f"dimension {name!r}: member {child!r} is under two parents, {ps[0]!r} and {ps[1]!r}; a member sits under "
            "one parent within a dimension (give the two a distinct name each, or make it a dimension of its own)"
        )
    members = pd.Index(pairs_df["child"].to_numpy(dtype=object), dtype=object)
    par_labels = pairs_df["parent"].to_numpy(dtype=object)
    is_root = np.array([p is None for p in par_labels], dtype=bool)
    parent = members.get_indexer(par_labels)
    unknown = np.flatnonzero((parent < 0) & ~is_root)
    if unknown.size:
        k = unknown[0]
        raise ValueError(
            f"dimension {name!r}: the parent {par_labels[k]!r} of member {members[k]!r} is not a member"
            f"{_suggest(par_labels[k], members)}; add it (with None as the parent of a root) or fix the name"
        )
    parent[is_root] = -1
    depth = _depths(name, members, parent)
    leaf = np.ones(len(members), dtype=bool)
    leaf[parent[parent >= 0]] = False
    max_depth = int(depth.max())
    ancestor = []
    for d in range(max_depth + 1):
        cur = np.arange(len(members))
        for _ in range(max_depth - d):
            cur = np.where(depth[cur] > d, parent[cur], cur)
        ancestor.append(cur)
    return _Tree(name, members, parent, depth, leaf, tuple(ancestor))


def _missing(x: object) -> bool:
    return x is None or (isinstance(x, float) and np.isnan(x))


def _depths(name: str, members: pd.Index, parent: np.ndarray) -> np.ndarray:
    """Depth of each member (roots 0), a level of the tree per pass; a member never reached sits on
    or under a cycle."""
    depth = np.where(parent < 0, 0, -1)
    d = 0
    while (depth < 0).any():
        todo = depth < 0
        ready = todo & (depth[np.maximum(parent, 0)] == d)
        if not ready.any():
            raise ValueError(f"dimension {name!r} has a cycle in its parents: {_cycle(members, parent, todo)}; "
                             "every chain of parents must end at a root (a member whose parent is None)")
        d += 1
        depth[ready] = d
    return depth


def _cycle(members: pd.Index, parent: np.ndarray, todo: np.ndarray) -> str:
    seen: dict[int, int] = {}
    k = int(np.flatnonzero(todo)[0])
    path: list[int] = []
    while k not in seen:
        seen[k] = len(path)
        path.append(k)
        k = int(parent[k])
    loop = path[seen[k]:] + [k]
    return " -> ".join(repr(members[i]) for i in loop)


def _suggest(label: object, members: pd.Index) -> str:
    if not isinstance(label, str) or len(members) > SUGGEST_MAX_MEMBERS:
        return ""
    close = difflib.get_close_matches(label, [str(x) for x in members], n=3)
    return f" (did you mean {', '.join(map(repr, close))}?)" if close else ""


# ---------------------------------------------------------------- the bottom series


def _where(bottom: pd.DataFrame, rows: np.ndarray) -> str:
    """Bottom rows named for a person: position, and the index label when it is not the position."""
    plain = isinstance(bottom.index, pd.RangeIndex) and bottom.index.start == 0 and bottom.index.step == 1
    shown = [str(int(r)) if plain else f"{int(r)} (index {bottom.index[r]!r})" for r in rows[:SHOW]]
    more = f" and {rows.size - SHOW} more" if rows.size > SHOW else ""
    return ("bottom row " if rows.size == 1 else "bottom rows ") + ", ".join(shown) + more


def _leaf_codes(bottom: pd.DataFrame, tree: _Tree) -> np.ndarray:
    if tree.name not in bottom.columns:
        raise ValueError(
            f"bottom has no column {tree.name!r} (one per dimension, the series' leaf member); "
            f"its columns are {list(bottom.columns)}"
        )
    values = bottom[tree.name].to_numpy(dtype=object)
    absent = np.flatnonzero(pd.isna(values))
    if absent.size:
        raise ValueError(
            f"{_where(bottom, absent)} {'has' if absent.size == 1 else 'have'} no {tree.name} (a missing value); "
            "give every bottom series its leaf member in every dimension"
        )
    codes = tree.members.get_indexer(values)
    unknown = np.flatnonzero(codes < 0)
    if unknown.size:
        first = values[unknown[0]]
        rows = unknown[values[unknown] == first]
        others = [v for v in pd.unique(pd.Series(values[unknown])) if v != first]
        also = f" (also unknown: {others[:SHOW]}{' ...' if len(others) > SHOW else ''})" if others else ""
        raise ValueError(
            f"{_where(bottom, rows)}: {tree.name} {first!r} is not a member of dimension "
            f"{tree.name!r}{_suggest(first, tree.members)}; add it to the dimension or fix the name{also}"
        )
    inner = np.flatnonzero(~tree.leaf[codes])
    if inner.size:
        k = codes[inner[0]]
        rows = inner[codes[inner] == k]
        kids = tree.members[np.flatnonzero(tree.parent == k)[:SHOW]].tolist()
        raise ValueError(
            f"{_where(bottom, rows)}: {tree.name} {tree.members[k]!r} is not a leaf (it has children "
            f"{kids}); a bottom series names a leaf member: split the series by its children or add a leaf"
        )
    return codes


def _refuse_duplicates(bottom: pd.DataFrame, trees: list[_Tree], codes: list[np.ndarray], key: np.ndarray) -> None:
    order = np.argsort(key, kind="stable")
    same = np.flatnonzero(key[order][1:] == key[order][:-1])
    if same.size:
        i, j = order[same[0]], order[same[0] + 1]
        cell = ", ".join(f"{t.name}={t.members[c[i]]!r}" for t, c in zip(trees, codes))
        raise ValueError(
            f"{_where(bottom, np.array([i, j]))} are the same series ({cell}); "
            f"{same.size} row(s) repeat another: sum or drop the duplicates"
        )


# ---------------------------------------------------------------- levels

# A crossing: per dimension (in ``dimensions``' order) the depth it is cut at, None when not used.
Crossing = tuple[int | None, ...]


def _parse_level(level: Level, trees: list[_Tree]) -> Crossing:
    if not isinstance(level, (str, Sequence)):
        raise ValueError(f"level {level!r} must be a spec like 'geo@1' or a tuple of them like ('geo@2', 'type')")
    specs = (level,) if isinstance(level, str) else tuple(level)
    by_name = {t.name: i for i, t in enumerate(trees)}
    depths: list[int | None] = [None] * len(trees)
    for spec in specs:
        if not isinstance(spec, str):
            raise ValueError(f"level {level!r}: {spec!r} is not a spec like 'geo' or 'geo@1'")
        if spec == TOTAL and len(specs) == 1:
            break
        name, at, depth_text = spec.partition("@")
        if name not in by_name:
            raise ValueError(f"level {level!r}: unknown dimension {name!r}; the dimensions are {list(by_name)}")
        tree = trees[by_name[name]]
        if at:
            try:
                depth = int(depth_text)
            except ValueError:
                depth = -1
            if not 0 <= depth <= tree.max_depth:
                raise ValueError(
                    f"level {level!r}: {spec!r} has no such depth; {name!r} has depths 0 (roots) to "
                    f"{tree.max_depth} (leaves, also written {name!r})"
                )
        else:
            depth = tree.max_depth
        if depths[by_name[name]] is not None:
            raise ValueError(f"level {level!r} names dimension {name!r} twice; a level cuts each dimension once")
        depths[by_name[name]] = depth
    return tuple(depths)


def _refuse_repeated_levels(crossings: list[Crossing], trees: list[_Tree]) -> None:
    seen: set[Crossing] = set()
    for c in crossings:
        if c in seen:
            raise ValueError(f"level {_level_name(c, trees)!r} is listed twice in levels")
        seen.add(c)


def _useful_depths(tree: _Tree, codes: np.ndarray) -> list[int]:
    """Depths that split the bottom series into more groups than the depth above; of depths giving
    the same groups the deepest is kept (so the leaves stand for themselves)."""
    used = np.unique(codes)
    kept: list[int] = []
    deeper = -1
    for d in range(tree.max_depth, -1, -1):
        groups = np.unique(tree.ancestor[d][used]).size
        if groups > 1 and groups != deeper:
            kept.append(d)
            deeper = groups
    return kept[::-1]


def _finest(kept: list[list[int]]) -> Crossing:
    return tuple(k[-1] if k else None for k in kept)


def _all_crossings(kept: list[list[int]]) -> list[Crossing]:
    choices = [[None, *k] for k in kept]
    crossings: list[Crossing] = list(itertools.product(*choices))

    def order(c: Crossing) -> tuple:
        used = [i for i, d in enumerate(c) if d is not None]
        return (len(used), used, [c[i] for i in used])

    return sorted(crossings, key=order)


def _tree_levels(trees: list[_Tree], kept: list[list[int]], nested: Sequence[str]) -> list[Crossing]:
    names = [t.name for t in trees]
    if isinstance(nested, str):
        nested = [nested]
    unknown = [n for n in nested if n not in names]
    if unknown:
        raise ValueError(f"nested names unknown dimension(s) {unknown}; the dimensions are {names}")
    if len(set(nested)) != len(nested):
        raise ValueError(f"nested lists a dimension twice: {list(nested)}")
    order = [names.index(n) for n in nested] + [i for i, n in enumerate(names) if n not in nested]
    current: list[int | None] = [None] * len(trees)
    crossings: list[Crossing] = [tuple(current)]
    for i in order:
        for d in kept[i]:
            current[i] = d
            crossings.append(tuple(current))
    return crossings


def _level_name(crossing: Crossing, trees: list[_Tree]) -> str:
    specs = [t.spec(d) for t, d in zip(trees, crossing) if d is not None]
    return "/".join(specs) if specs else TOTAL


def _combine(codes: list[np.ndarray], sizes: list[int], m: int) -> np.ndarray:
    """One int64 key per bottom series (m of them) that sorts like the tuple of codes (mixed radix,
    recoded to dense ranks whenever the next digit could overflow)."""
    key = np.zeros(m, dtype=np.int64)
    bound = 1
    for c, size in zip(codes, sizes):
        if bound * size >= 2**62:
            uniq, key = np.unique(key, return_inverse=True)
            bound = uniq.size
        key = key * size + c
        bound *= size
    return key


def _split(crossing: Crossing, trees: list[_Tree],
           leaf_codes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The groups of one level: each bottom series' group (``owner``), the bottom series sorted by
    group (``order``, the columns of the level's rows), each group's first bottom series and size."""
    parts = [(t.ancestor[d][c], len(t.members)) for t, d, c in zip(trees, crossing, leaf_codes) if d is not None]
    key = _combine([p[0] for p in parts], [p[1] for p in parts], leaf_codes[0].size)
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    new = np.ones(key.size, dtype=bool)
    new[1:] = sorted_key[1:] != sorted_key[:-1]
    starts = np.flatnonzero(new)
    owner = np.empty(key.size, dtype=np.int64)
    owner[order] = np.cumsum(new) - 1
    count = np.diff(np.append(starts, key.size))
    return owner, order, order[starts], count


def _ids(crossing: Crossing, trees: list[_Tree], codes: list[np.ndarray],
         labels: dict[tuple[int, int], np.ndarray]) -> np.ndarray:
    """Row labels of one level from each row's first bottom series' leaf codes; ``labels`` caches
    each (dimension, depth)'s member labels."""
    out: np.ndarray | None = None
    for i, (t, d, c) in enumerate(zip(trees, crossing, codes)):
        if d is None:
            continue
        if (i, d) not in labels:
            padded = t.depth != d  # a leaf above depth d standing for itself (only leaves are looked up)
            names = t.members.to_numpy(dtype=object).astype(str)
            labels[i, d] = np.where(padded, f"{t.name}@{d}=", f"{t.name}=").astype(object) + names.astype(object)
        label = labels[i, d][t.ancestor[d][c]]
        out = label if out is None else out + "/" + label
    return np.full(codes[0].size, TOTAL, dtype=object) if out is None else out


def _nested_levels(rows: list[np.ndarray], owners: list[np.ndarray]) -> tuple[np.ndarray, ...] | None:
    """The levels coarse to fine when each splits the series of the one before, else None."""
    order = sorted(range(len(rows)), key=lambda k: (rows[k].size, k == len(rows) - 1))
    for a, b in zip(order, order[1:]):
        coarse, fine = owners[a], owners[b]
        first = np.zeros(rows[b].size, dtype=np.int64)
        first[fine] = np.arange(fine.size)  # any bottom series of each fine group
        if not np.array_equal(coarse[first][fine], coarse):
            return None
    return tuple(rows[k] for k in order)
