"""The summing structure builder (solve.structure): hand-checked small markets, every input
mistake, and a property check against a plain-Python construction on random trees."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketcube.solve.project import hierarchy, reconcile
from marketcube.solve.structure import build

# world > europe > {DE, FR}, world > americas > {US}; two product types; five of the six cells sold
GEO = {"world": None, "europe": "world", "americas": "world", "DE": "europe", "FR": "europe", "US": "americas"}
TYPE = {"API": None, "FDF": None}
BOTTOM = pd.DataFrame({"geo": ["DE", "DE", "FR", "US", "US"], "type": ["API", "FDF", "API", "API", "FDF"]})


def test_grouped_example_equals_the_hand_written_matrix():
    s = build(BOTTOM, {"geo": GEO, "type": TYPE})
    # columns: DE/API, DE/FDF, FR/API, US/API, US/FDF; "world" splits nothing, so no geo@0 level
    expect = np.array([
        [1, 1, 1, 1, 1],  # total
        [1, 1, 1, 0, 0],  # geo=europe
        [0, 0, 0, 1, 1],  # geo=americas
        [1, 1, 0, 0, 0],  # geo=DE
        [0, 0, 1, 0, 0],  # geo=FR
        [0, 0, 0, 1, 1],  # geo=US
        [1, 0, 1, 1, 0],  # type=API
        [0, 1, 0, 0, 1],  # type=FDF
        [1, 0, 1, 0, 0],  # geo=europe/type=API
        [0, 1, 0, 0, 0],  # geo=europe/type=FDF
        [0, 0, 0, 1, 0],  # geo=americas/type=API
        [0, 0, 0, 0, 1],  # geo=americas/type=FDF
        *np.eye(5, dtype=int),  # the bottom series, in BOTTOM's order
    ])
    np.testing.assert_array_equal(s.S.toarray(), expect)
    assert s.ids == (
        "total", "geo=europe", "geo=americas", "geo=DE", "geo=FR", "geo=US", "type=API", "type=FDF",
        "geo=europe/type=API", "geo=europe/type=FDF", "geo=americas/type=API", "geo=americas/type=FDF",
        "geo=DE/type=API", "geo=DE/type=FDF", "geo=FR/type=API", "geo=US/type=API", "geo=US/type=FDF",
    )
    assert {k: v.tolist() for k, v in s.tags.items()} == {
        "total": [0], "geo@1": [1, 2], "geo": [3, 4, 5], "type": [6, 7], "geo@1/type": [8, 9, 10, 11],
        "geo/type": [12, 13, 14, 15, 16],
    }
    assert s.levels_nested is None  # geo and type are crossed: no tree
    h = hierarchy(s.S)
    np.testing.assert_array_equal(h.bottom_rows, np.arange(12, 17))


def test_parent_pairs_give_the_same_structure_as_a_dict():
    pairs = {"geo": list(GEO.items()) + [("DE", "europe")], "type": [("API", None), ("FDF", None)]}
    a, b = build(BOTTOM, {"geo": GEO, "type": TYPE}), build(BOTTOM, pairs)
    assert (a.S != b.S).nnz == 0 and a.ids == b.ids


def test_levels_come_in_the_given_order_with_the_bottom_appended():
    s = build(BOTTOM, {"geo": GEO, "type": TYPE}, levels=[("type", "geo@1"), "geo@1", "total", ("geo@0",)])
    assert list(s.tags) == ["geo@1/type", "geo@1", "total", "geo@0", "geo/type"]
    assert s.ids[:4] == ("geo=europe/type=API", "geo=europe/type=FDF", "geo=americas/type=API", "geo=americas/type=FDF")
    assert s.ids[6:8] == ("total", "geo=world")
    listed_bottom = build(BOTTOM, {"geo": GEO, "type": TYPE}, levels=[("geo@2", "type"), ()])
    assert list(listed_bottom.tags) == ["total", "geo/type"]  # the bottom level always goes last


def test_nested_order_builds_a_tree_that_top_down_accepts():
    s = build(BOTTOM, {"geo": GEO, "type": TYPE}, nested=["geo", "type"])
    assert list(s.tags) == ["total", "geo@1", "geo", "geo/type"]
    assert s.levels_nested is not None
    assert [lv.tolist() for lv in s.levels_nested] == [v.tolist() for v in s.tags.values()]
    h = hierarchy(s.S, s.levels_nested)
    assert h.parent.tolist() == [-1, 0, 0, 1, 1, 2, 3, 3, 4, 5, 5]
    y = np.arange(1.0, s.n_series + 1)
    r = reconcile(y, s.S, "top_down", levels=s.levels_nested)
    assert r.series[0] == pytest.approx(1.0)


def test_levels_that_form_a_chain_are_found_nested_in_any_listed_order():
    s = build(BOTTOM, {"geo": GEO, "type": TYPE}, levels=["geo", (), "geo@1"])
    assert s.levels_nested is not None
    assert [s.ids[lv[0]] for lv in s.levels_nested] == ["total", "geo=europe", "geo=DE", "geo=DE/type=API"]
    hierarchy(s.S, s.levels_nested)


def test_a_ragged_tree_is_padded_and_its_ids_stay_unique():
    # "rest of world" is a leaf right under world, next to regions that have countries
    geo = dict(GEO, ROW="world")
    bottom = pd.DataFrame({"geo": ["DE", "FR", "US", "ROW"]})
    s = build(bottom, {"geo": geo}, levels=["geo@1", "geo@2", ("geo@0",)])
    assert s.ids == ("geo=europe", "geo=americas", "geo=ROW", "geo=world", "geo=DE", "geo=FR", "geo=US", "geo@2=ROW")
    assert len(set(s.ids)) == len(s.ids)
    # every level still splits all four bottom series
    for rows in s.tags.values():
        np.testing.assert_array_equal(np.asarray(s.S[rows].sum(axis=0)).ravel(), np.ones(4))
    hierarchy(s.S, s.levels_nested)


def test_default_leaves_out_depths_that_split_nothing():
    # a single root in each dimension and a region with one country in use: only rows that differ
    geo = {"world": None, "europe": "world", "DE": "europe", "FR": "europe", "asia": "world", "JP": "asia"}
    typ = {"all": None, "API": "all", "FDF": "all"}
    bottom = pd.DataFrame({"geo": ["DE", "JP"], "type": ["API", "API"]})
    s = build(bottom, {"geo": geo, "type": typ})
    assert list(s.tags) == ["total", "geo/type"]
    assert s.ids == ("total", "geo=DE/type=API", "geo=JP/type=API")


def test_extra_columns_and_an_index_are_fine():
    bottom = BOTTOM.assign(value_usd_bn=1.0).set_axis(list("abcde"))
    s = build(bottom, {"geo": GEO, "type": TYPE})
    assert s.n_bottom == 5 and s.ids[-1] == "geo=US/type=FDF"


# ---------------------------------------------------------------- bad input


def _geo(**changes):
    return {"geo": {**GEO, **changes}, "type": TYPE}


@pytest.mark.parametrize(
    "bottom,dimensions,kwargs,message",
    [
        (BOTTOM, _geo(world="DE"), {},
         r"dimension 'geo' has a cycle in its parents: 'world' -> 'DE' -> 'europe' -> 'world'"),
        (BOTTOM, _geo(FR="FR"), {}, r"dimension 'geo': member 'FR' is its own parent"),
        (BOTTOM, {"geo": list(GEO.items()) + [("FR", "americas")], "type": TYPE}, {},
         r"member 'FR' is under two parents, 'europe' and 'americas'"),
        (BOTTOM, _geo(FR="europa"), {},
         r"the parent 'europa' of member 'FR' is not a member \(did you mean 'europe'\?\)"),
        (BOTTOM.assign(geo=["DE", "DE", "FRA", "US", "US"]), _geo(), {},
         r"bottom row 2: geo 'FRA' is not a member of dimension 'geo' \(did you mean 'FR'\?\)"),
        (BOTTOM.assign(geo=["DE", None, "FRA", "US", "USA"]), _geo(), {},
         r"bottom row 1 has no geo \(a missing value\)"),
        (BOTTOM.assign(geo=["DE", "DE", "FRA", "US", "USA"]), _geo(), {}, r"\(also unknown: \['USA'\]\)"),
        (BOTTOM.assign(geo=["DE", "DE", "europe", "US", "US"]), _geo(), {},
         r"bottom row 2: geo 'europe' is not a leaf \(it has children \['DE', 'FR'\]\)"),
        (BOTTOM.assign(type=["API", "FDF", "API", "API", "API"]), _geo(), {},
         r"bottom rows 3, 4 are the same series \(geo='US', type='API'\)"),
        (BOTTOM.drop(columns="type"), _geo(), {}, r"bottom has no column 'type'"),
        (BOTTOM.iloc[:0], _geo(), {}, r"bottom has no rows"),
        (BOTTOM, {}, {}, r"at least one dimension"),
        (BOTTOM, {"geo": GEO, "type": {}}, {}, r"dimension 'type' has no members"),
        (BOTTOM, {"geo": GEO, "type": [("API", None), "FDF"]}, {}, r"'FDF' is not a \(child, parent\) pair"),
        (BOTTOM, {"geo/x": GEO}, {}, r"dimension name 'geo/x'"),
        (BOTTOM, _geo(), {"levels": [("region",)]},
         r"unknown dimension 'region'; the dimensions are \['geo', 'type'\]"),
        (BOTTOM, _geo(), {"levels": ["geo@3"]}, r"'geo@3' has no such depth; 'geo' has depths 0 \(roots\) to 2"),
        (BOTTOM, _geo(), {"levels": [("geo@1", "geo")]}, r"names dimension 'geo' twice"),
        (BOTTOM, _geo(), {"levels": ["geo@1", ("geo@1",)]}, r"level 'geo@1' is listed twice"),
        (BOTTOM, _geo(), {"levels": [()], "nested": ["geo"]}, r"either levels or nested"),
        (BOTTOM, _geo(), {"nested": ["region"]}, r"nested names unknown dimension\(s\) \['region'\]"),
    ],
    ids=[
        "cycle", "own-parent", "two-parents", "unknown-parent", "unknown-member", "missing-member", "other-unknowns",
        "not-a-leaf", "duplicate-series",
        "missing-column", "no-bottom", "no-dimensions", "empty-dimension", "not-a-pair", "bad-name",
        "unknown-level-dimension", "bad-depth", "dimension-twice", "level-twice", "levels-and-nested", "nested-unknown",
    ],
)
def test_bad_input_names_the_culprit(bottom, dimensions, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build(bottom, dimensions, **kwargs)


def test_a_cycle_with_no_root_at_all():
    with pytest.raises(ValueError, match=r"cycle in its parents: 'a' -> 'b' -> 'a'"):
        build(pd.DataFrame({"d": ["a"]}), {"d": {"a": "b", "b": "a"}})


def test_bad_rows_are_named_by_index_label_when_there_is_one():
    bottom = BOTTOM.assign(geo=["DE", "XX", "FR", "US", "US"]).set_axis(list("abcde"))
    with pytest.raises(ValueError, match=r"bottom row 1 \(index 'b'\): geo 'XX'"):
        build(bottom, _geo())


# ---------------------------------------------------------------- properties


@st.composite
def markets(draw):
    """Random forests (each member's parent an earlier member or none) and a random set of cells."""
    dims: dict[str, dict[str, str | None]] = {}
    for d in range(draw(st.integers(1, 3))):
        tree: dict[str, str | None] = {}
        for k in range(draw(st.integers(1, 7))):
            parent = draw(st.sampled_from([None, *tree]))
            tree[f"m{d}{k}"] = parent
        dims[f"d{d}"] = tree
    leaves = [[k for k in t if k not in set(t.values())] for t in dims.values()]
    cells = list(itertools.product(*leaves))
    chosen = draw(st.lists(st.sampled_from(range(len(cells))), min_size=1, max_size=12, unique=True))
    bottom = pd.DataFrame([cells[i] for i in chosen], columns=list(dims))
    return bottom, dims


def _path(tree: dict[str, str | None], leaf: str) -> list[str]:
    path = [leaf]
    while tree[path[-1]] is not None:
        path.append(tree[path[-1]])
    return path[::-1]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markets())
def test_property_S_matches_a_plain_python_construction(market):
    bottom, dims = market
    s = build(bottom, dims)
    S = s.S.toarray()
    names = list(dims)
    order = {n: {k: i for i, k in enumerate(t)} for n, t in dims.items()}
    assert S.shape[1] == len(bottom) and set(np.unique(S)) <= {0.0, 1.0}
    np.testing.assert_array_equal(S[-len(bottom):], np.eye(len(bottom)))
    assert len(set(s.ids)) == len(s.ids)
    for name, rows in s.tags.items():
        specs = dict((p.partition("@")[0], p.partition("@")[2]) for p in name.split("/")) if name != "total" else {}
        groups: dict[tuple, list[int]] = {}
        for j, cell in enumerate(bottom.itertuples(index=False)):
            key = []
            for n, leaf in zip(names, cell):
                if n in specs:
                    path = _path(dims[n], leaf)
                    depth = int(specs[n]) if specs[n] else max(len(_path(dims[n], x)) for x in dims[n]) - 1
                    key.append(path[min(depth, len(path) - 1)])
            groups.setdefault(tuple(key), []).append(j)
        keys = sorted(groups, key=lambda k: [order[n][m] for n, m in zip([n for n in names if n in specs], k)])
        expect = np.zeros((len(keys), len(bottom)))
        for i, k in enumerate(keys):
            expect[i, groups[k]] = 1
        if rows[0] < S.shape[0] - len(bottom):  # the bottom level keeps bottom's row order (checked above)
            np.testing.assert_array_equal(S[rows], expect, err_msg=name)
    h = hierarchy(s.S)
    assert h.n_series == S.shape[0]
    if s.levels_nested is not None:
        hierarchy(s.S, s.levels_nested)
    tree_like = build(bottom, dims, nested=names)
    hierarchy(tree_like.S, tree_like.levels_nested)
