"""The report's document model keeps its promises on the published numbers (issue 6, "Done when"):
every number has a provenance, a number equal to a claim's is sourced, a leaf split with no evidence
is assumed, shares add up to 100% and segments to their totals, every CAGR is its endpoints' CAGR,
scenarios are coherent. Checked on the CMO report and on the widget pack, on report.json as written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest

from marketcube.cube import PROVENANCE_ORDER
from marketcube.pipeline import Run, publish, run
from marketcube.report.sections import SECTIONS, _Builder

from .conftest import CMO
from .packs import write_pack


def _published(folder: Path, pack: Path) -> tuple[Run, dict[str, Any]]:
    result = run(pack)
    publish(result, folder, ("json",))
    return result, json.loads((folder / "report.json").read_text())


@pytest.fixture(scope="module", params=["cmo", "widgets"])
def report(request, tmp_path_factory) -> tuple[Run, dict[str, Any]]:
    pack = CMO if request.param == "cmo" else write_pack(tmp_path_factory.mktemp("pack"))
    return _published(tmp_path_factory.mktemp("out"), pack)


def _numeric_cells(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for t in doc["tables"].values():
        for r in t["rows"]:
            for cell, col in zip(r["cells"], t["columns"]):
                if col["kind"] != "text" and col["kind"] not in ("year", "count"):
                    yield t["id"], cell
    for s in doc["sections"]:
        for b in s["blocks"]:
            if b["type"] == "facts":
                for f in b["items"]:
                    if "cell" in f:
                        yield "facts", f["cell"]


def test_sections_are_the_ten_of_the_report_in_order(report) -> None:
    _, doc = report
    assert [(s["number"], s["title"]) for s in doc["sections"]] == [(i, t) for i, (_, t) in enumerate(SECTIONS, 1)]
    shown = {b["id"] for s in doc["sections"] for b in s["blocks"] if b["type"] in ("table", "chart")}
    assert shown == set(doc["tables"]) | set(doc["charts"])  # nothing built and not shown, nothing shown and missing


def test_every_number_has_a_provenance(report) -> None:
    _, doc = report
    cells = list(_numeric_cells(doc))
    assert len(cells) > 200
    for where, cell in cells:
        assert isinstance(cell, dict) and cell["p"] in PROVENANCE_ORDER, (where, cell)
        assert cell["v"] is None or np.isfinite(cell["v"]), (where, cell)


def test_a_number_equal_to_a_claim_is_sourced(report) -> None:
    result, doc = report
    claims = {}
    for c in doc["claims"]:
        if c["kind"] == "size" and c["definition"] == doc["market"]["definition"]["id"] and not c["member_as_written"] \
                and c["value_usd_bn"] is not None:
            sel = {**c["parent_selection"], **c["selection"]}
            claims.setdefault((json.dumps(sel, sort_keys=True), c["year"]), []).append(c["value_usd_bn"])
    for where, cell in _numeric_cells(doc):
        if "at" in cell and cell["v"] is not None:
            key = (json.dumps(cell["at"]["selection"], sort_keys=True), cell["at"]["year"])
            if any(abs(v - cell["v"]) <= 1e-9 * abs(v) for v in claims.get(key, [])):
                assert cell["p"] == "sourced" and cell.get("ref"), (where, cell)
    # and the other way round: every number marked sourced is its claim's number
    by_id = {c["id"]: c for c in doc["claims"]}
    for where, cell in _numeric_cells(doc):
        if cell["p"] == "sourced" and cell["v"] is not None:
            claim = by_id[cell["ref"]]
            own = [claim["value"], claim["claimed"], claim["value_usd_bn"]]
            assert any(v is not None and abs(v - cell["v"]) <= 1e-9 * abs(v) for v in own), (where, cell, claim["id"])
    # the rule itself: the model's number for a selection and year, were it a claim's, is sourced
    b = _Builder(result)
    claim = next(i for i in result.evidence.items if i.claim.kind == "size" and i.value_usd_bn
                 and i.claim.definition == result.market.definition.id and not i.claim.selection
                 and not i.claim.member_as_written and i.year in result.cube.years)
    cell = b.size((), claim.year, value=claim.value_usd_bn)
    assert cell["p"] == "sourced" and cell["ref"] == claim.claim.id
    assert b.size((), claim.year, value=claim.value_usd_bn * 1.001)["p"] != "sourced"
    # company revenues as reported are the claims' own numbers
    companies = doc["tables"].get("companies", {"rows": []})
    for r in companies["rows"]:
        assert r["cells"][3]["p"] == "sourced" and r["cells"][3]["v"] == by_id[r["cells"][3]["ref"]]["value"]


def test_a_leaf_split_with_no_evidence_is_assumed(report) -> None:
    result, doc = report
    evidenced = result.cube.evidenced or set()
    checked = 0
    for t in doc["tables"].values():
        for r in t["rows"]:
            for cell in r["cells"]:
                if not isinstance(cell, dict) or "at" not in cell or cell["p"] == "sourced":
                    continue
                sel = tuple(sorted(cell["at"]["selection"].items()))
                if len(sel) != 1 or sel in evidenced:
                    continue
                dim = result.market.dimension(sel[0][0])
                member = dim.member(sel[0][1])
                if member in dim.leaves and len(dim.children(member.parent)) > 1 and not any(
                        ((dim.id, a),) in evidenced for a in dim.ancestors(member.id)):
                    assert cell["p"] == "assumed", (t["id"], sel, cell)
                    checked += 1
    assert checked > 10


def _value(cell: Any) -> float:
    return cell["v"] if isinstance(cell, dict) else cell


def test_tables_keep_the_invariants_they_promise(report) -> None:
    _, doc = report
    counted = {"sums": 0, "shares": 0, "cagrs": 0, "column_sums": 0}
    for t in doc["tables"].values():
        col = {c["key"]: i for i, c in enumerate(t["columns"])}
        rows = t["rows"]
        for check in t["checks"]["sums"]:
            for key in check["columns"]:
                parts = sum(_value(rows[r]["cells"][col[key]]) for r in check["parts"])
                assert parts == pytest.approx(_value(rows[check["total"]]["cells"][col[key]]), rel=1e-9), (t["id"], key)
                counted["sums"] += 1
        for check in t["checks"]["column_sums"]:
            for r in check["rows"]:
                parts = sum(_value(rows[r]["cells"][col[k]]) for k in check["parts"])
                assert parts == pytest.approx(_value(rows[r]["cells"][col[check["total"]]]), rel=1e-9), t["id"]
                counted["column_sums"] += 1
        for check in t["checks"]["shares"]:
            for key in check["columns"]:
                assert sum(_value(rows[r]["cells"][col[key]]) for r in check["rows"]) == pytest.approx(1.0, abs=1e-9)
                counted["shares"] += 1
        for check in t["checks"]["cagrs"]:
            for i, r in enumerate(rows):
                got = _value(r["cells"][col[check["column"]]])
                if check.get("consecutive"):
                    if i == 0:
                        continue
                    a, z, n = _value(rows[i - 1]["cells"][col[check["value"]]]), _value(r["cells"][col[check["value"]]]), 1
                else:
                    a, z, n = _value(r["cells"][col[check["start"]]]), _value(r["cells"][col[check["end"]]]), check["periods"]
                if a and a > 0:
                    assert got == pytest.approx((z / a) ** (1 / n) - 1, rel=1e-12, abs=1e-15), (t["id"], i)
                    counted["cagrs"] += 1
    assert all(n > 0 for n in counted.values()), counted


def test_headline_cagr_is_its_endpoints_cagr(report) -> None:
    _, doc = report
    facts = {f["label"]: f for f in doc["sections"][0]["blocks"][0]["items"]}
    base, end = doc["years"]["base_year"], doc["years"]["study_end"]
    a = facts[f"Market size {base} (USD bn)"]["cell"]["v"]
    z = facts[f"Market size {end} (USD bn, forecast)"]["cell"]["v"]
    g = facts[f"CAGR {base}→{end}"]["cell"]["v"]
    assert g == pytest.approx((z / a) ** (1 / (end - base)) - 1, rel=1e-12)


def test_scenarios_are_coherent_and_ordered(report) -> None:
    result, doc = report
    t = doc["tables"]["scenarios"]
    names = [r["cells"][0] for r in t["rows"]]
    assert names == ["pessimistic", "base", "optimistic"]
    end = str(doc["years"]["study_end"])
    col = [c["key"] for c in t["columns"]].index(end)
    ends = [r["cells"][col]["v"] for r in t["rows"]]
    assert ends[0] < ends[1] < ends[2]
    cagr_col = [c["key"] for c in t["columns"]].index("cagr")
    base_total = next(s for s in doc["series"] if s["dimension"] is None)
    start = next(p["value"] for p in base_total["values"] if p["year"] == doc["years"]["base_year"])
    periods = doc["years"]["study_end"] - doc["years"]["base_year"]
    for r, e in zip(t["rows"], ends):
        assert r["cells"][cagr_col]["v"] == pytest.approx((e / start) ** (1 / periods) - 1, rel=1e-12)


def test_statements_never_name_a_leader_the_evidence_cannot_support(report) -> None:
    _, doc = report
    assert doc["statements"]
    import re

    for s in doc["statements"]:
        if not s["supported"]:
            assert "not distinguishable by the evidence" in s["text"]
        else:  # a leader is named only when it leads in at least 90% of the joint draws
            share = re.search(r"leads in (\d+)% of", s["basis"])
            assert share is None or int(share.group(1)) >= 90, s
        names = re.match(r"^.*?: not distinguishable by the evidence; (.+?) and (.+?) are level", s["text"])
        assert not names or names.group(1) != names.group(2), s["text"]
    # on the CMO market every split below the total rests on assumptions or overlapping ranges somewhere
    if doc["market"]["id"] == "cmo":
        assert any(not s["supported"] for s in doc["statements"])


def test_every_chart_is_valid_vega_lite_with_a_text_alternative(report) -> None:
    import altair as alt

    from marketcube.report.charts import vega_lite

    _, doc = report
    assert doc["charts"]
    for chart_id, chart in doc["charts"].items():
        spec = vega_lite(chart)
        (alt.LayerChart if "layer" in spec else alt.Chart).from_dict(spec, validate=True)  # raises when invalid
        assert spec["description"] == chart["alt"] and len(chart["alt"]) > 40, chart_id
        assert spec["data"]["values"] == chart["data"]


def test_a_growth_axis_does_not_magnify_small_differences() -> None:
    from marketcube.report.charts import MIN_CAGR_SPAN, vega_lite

    def domain(cagrs):
        chart = {"kind": "growth_size", "alt": "x" * 50, "title": "t",
                 "data": [{"member": f"m{i}", "size": 1.0 + i, "cagr": c} for i, c in enumerate(cagrs)]}
        return vega_lite(chart)["layer"][0]["encoding"]["y"]["scale"].get("domain")

    lo, hi = domain([0.065, 0.066, 0.068])  # the CMO countries: 6.5% to 6.8%
    assert hi - lo == pytest.approx(MIN_CAGR_SPAN) and lo < 0.065 and hi > 0.068
    assert domain([0.02, 0.15]) == [0.02, 0.15]  # a wide spread is drawn as it is
    assert domain([None]) is None


def test_point_labels_move_apart_where_they_would_overlap() -> None:
    import math

    from marketcube.report.charts import HEIGHT, LABEL_CHAR_PX, LABEL_LINE_PX, WIDTH, vega_lite

    # five countries of nearly one growth and close sizes (the CMO case), one far away
    data = [{"member": f"Country {i}", "size": 5.0 + 0.4 * i, "cagr": 0.065 + 0.0002 * i} for i in range(5)]
    data.append({"member": "Alone", "size": 60.0, "cagr": 0.08})
    spec = vega_lite({"kind": "growth_size", "alt": "x" * 50, "title": "t", "data": data})
    labels = spec["layer"][1]["data"]["values"]
    (x0, x1) = (math.log10(v) for v in spec["layer"][0]["encoding"]["x"]["scale"]["domain"])
    (y0, y1) = spec["layer"][0]["encoding"]["y"]["scale"]["domain"]
    boxes = []
    for p in labels:
        left = (math.log10(p["size"]) - x0) / (x1 - x0) * WIDTH + 6
        top = (y1 - p["label_y"]) / (y1 - y0) * HEIGHT - LABEL_LINE_PX / 2
        boxes.append((left, left + LABEL_CHAR_PX * len(p["member"]), top, top + LABEL_LINE_PX))
    for i, a in enumerate(boxes):
        for b in boxes[:i]:
            assert a[1] <= b[0] or a[0] >= b[1] or a[3] <= b[2] + 1e-9 or a[2] >= b[3] - 1e-9, (a, b)
    alone = next(p for p in labels if p["member"] == "Alone")
    assert alone["label_y"] == alone["cagr"]  # nothing near it: it stays beside its point
    assert any(p["label_y"] != p["cagr"] for p in labels)


def test_point_labels_skip_points_a_log_axis_cannot_place() -> None:
    from marketcube.report.charts import vega_lite

    data = [{"member": "Zero", "size": 0.0, "cagr": 0.05}, {"member": "Unknown", "size": 3.0, "cagr": None},
            {"member": "Big", "size": 10.0, "cagr": 0.07}, {"member": "Small", "size": 1.0, "cagr": 0.06}]
    spec = vega_lite({"kind": "growth_size", "alt": "x" * 50, "title": "t", "data": data})
    assert [p["member"] for p in spec["layer"][1]["data"]["values"]] == ["Big", "Small"]


def test_the_size_table_names_the_years_no_claim_about_the_whole_market_speaks_to(report) -> None:
    result, doc = report
    counts = result.history.total_size_claims
    bare = [y for y, n in counts.items() if n == 0]
    note = doc["tables"]["size"]["note"]
    if result.market.id == "widgets":  # whole-market sizes in 2018, 2020 and 2022 only
        assert counts == {2018: 1, 2019: 0, 2020: 1, 2021: 0, 2022: 1}
        assert "No claim about the whole market's size in 2019 and 2021 kept more than half its weight" in note
    else:  # CMO: none before 2020 but the contradicted Thermo Fisher CDMO figure of 2017
        assert bare == [2017, 2018, 2019]
        assert "in 2017–2019 kept" in note


def test_year_runs_read_as_spans() -> None:
    from marketcube.report.sections import _year_runs

    assert _year_runs([2019]) == "2019"
    assert _year_runs([2019, 2017, 2018]) == "2017–2019"
    assert _year_runs([2017, 2018, 2021, 2023, 2024]) == "2017–2018, 2021 and 2023–2024"
