"""The built-in CMO market end to end: its findings, its report's content, its coherence."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from marketcube.pipeline import Run, publish, run

from .conftest import CMO


@pytest.fixture(scope="module")
def cmo(tmp_path_factory) -> tuple[Run, dict, str]:
    result = run(CMO)
    out = tmp_path_factory.mktemp("cmo")
    publish(result, out)
    return result, json.loads((out / "report.json").read_text()), (out / "report.html").read_text()


def test_validate_reports_the_seed_problems_as_warnings() -> None:
    r = subprocess.run([sys.executable, "-m", "marketcube.cli", "validate", str(CMO), "--format", "json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    findings = json.loads(r.stdout)
    assert {f["severity"] for f in findings} <= {"warning", "info"}
    by_code: dict[str, list[dict]] = {}
    for f in findings:
        by_code.setdefault(f["code"], []).append(f)
    seed_claims = {c for f in findings for c in f["claims"] if c.startswith("seed")}
    garbled = " ".join(f["message"] for f in by_code["GEO-NAME-GARBLED"])
    assert "'Argentina Korea'" in garbled and "'China Taiwan'" in garbled
    unknown = " ".join(f["message"] for f in by_code["GEO-NAME-UNKNOWN"])
    assert "'Saudi'" in unknown and "'Arabia'" in unknown
    assert "KR" in by_code["GEO-SOURCE-TWO-REGIONS"][0]["message"]
    assert any("China lies inside" in f["message"] for f in by_code["SHARE-MIXED-LEVELS"])
    assert any("8.1%" in f["message"] and "8.42%" in f["message"] for f in by_code["CAGR-ENDPOINTS"])
    assert any({"seed-cagr-14", "seed-cagr-8p1"} <= set(f["claims"]) for f in by_code["CAGR-CONFLICT"])
    assert any("Reanin" in f["message"] for f in by_code["YEAR-TWO-LABELS"])
    assert any("material" in f["message"] for f in by_code["SEGMENT-PROMISED-MISSING"])
    assert {f["claims"][0] for f in by_code["FX-MISSING"]} >= {"co-samsung-biologics-2018"}
    assert {"Lonza", "Samsung"} <= {f["message"].split()[0].split("'")[0] for f in by_code["COMPANY-SCOPE-CHANGE"]}
    assert all(f["severity"] == "info" for f in by_code["FISCAL-YEAR-CALENDARISED"])
    assert seed_claims  # the seed's own figures are claims with findings


def test_report_json_holds_the_document_model(cmo) -> None:
    result, doc, _ = cmo
    assert doc["market"]["id"] == "cmo" and doc["market"]["definition"]["id"] == "cmo"
    assert doc["years"]["base_year"] == 2024 and doc["years"]["study_end"] == 2031
    assert doc["years"]["history"] == list(range(2017, 2025))
    assert doc["years"]["model_end"] >= 2031
    cagr = doc["headline"]["cagr"]
    assert (cagr["from"], cagr["to"], cagr["periods"]) == (2024, 2031, 7)
    assert cagr["lo95"] <= cagr["lo80"] <= cagr["value"] <= cagr["hi80"] <= cagr["hi95"]
    names = {(s["dimension"], s["member"]) for s in doc["series"]}
    for dim in doc["dimensions"]:
        assert {(dim["id"], m["id"]) for m in dim["members"]} <= names
    for s in doc["series"]:
        assert [v["year"] for v in s["values"]][0] == 2017
        for v in s["values"]:
            assert v["provenance"] in {"sourced", "derived", "modelled", "assumed"}
            assert {"lo80", "hi80", "lo95", "hi95", "value"} <= set(v)
    assert len(doc["inputs_hash"]) == 64 and doc["code_version"]
    assert len(doc["claims"]) == len(result.market.claims)
    assert {c["verdict"] for c in doc["claims"]} <= {"consistent", "in tension", "contradicted", "not judged"}


def test_headline_matches_the_series(cmo) -> None:
    _, doc, _ = cmo
    total = {v["year"]: v["value"] for v in doc["series"][0]["values"]}
    cagr = (total[2031] / total[2024]) ** (1 / 7) - 1
    assert doc["headline"]["cagr"]["value"] == pytest.approx(cagr, rel=1e-12)


def test_cmo_cube_is_coherent(cmo) -> None:
    result, _, _ = cmo
    cube = result.cube
    total = cube.series(())[0]
    for dim in result.market.dimensions:
        np.testing.assert_allclose(sum(cube.series(((dim.id, m.id),))[0] for m in dim.children(None)), total, rtol=1e-12)
    regions = result.market.dimension("geography").children(None)
    for r in regions:
        parts = sum(cube.series((("geography", c.id),))[0] for c in result.market.dimension("geography").children(r.id))
        np.testing.assert_allclose(parts, cube.series((("geography", r.id),))[0], rtol=1e-12)


def test_the_2017_cdmo_figure_is_not_dragging_the_market(cmo) -> None:
    result, doc, _ = cmo
    v = next(c for c in doc["claims"] if c["id"] == "pe02-size-2017")
    assert v["verdict"] == "contradicted"


def test_html_lists_findings_with_their_quotes(cmo) -> None:
    _, doc, html = cmo
    assert 'id="table-findings"' in html
    mixed = next(f for f in doc["findings"] if f["code"] == "SHARE-MIXED-LEVELS")
    assert mixed["quotes"], "the seed's regional shares carry their quote"
    import html as h

    assert h.escape(mixed["quotes"][0], quote=True).replace("&#x27;", "&#39;") in html
    for f in doc["findings"]:
        assert h.escape(f["message"]).replace("&#x27;", "&#39;") in html


def test_readme_shows_what_make_report_prints(tmp_path: Path) -> None:
    from .conftest import REPO

    r = subprocess.run([sys.executable, "-m", "marketcube.cli", "report", "--out", "out/cmo"], capture_output=True,
                       text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    readme = (REPO / "README.md").read_text()
    assert "```text\n" + r.stdout + "```" in readme, "update README's example output"
    # the pictures of the report's first page and of a chart that README shows are there
    import re

    for image in re.findall(r'(?:src="|\]\()(docs/img/[^")]+\.png)', readme):
        assert (REPO / image).stat().st_size > 10_000, image
    assert "docs/img/report-first-page.png" in readme and "docs/img/report-chart.png" in readme


def test_forecast_carries_the_history_uncertainty_and_a_published_growth(cmo) -> None:
    # a level the evidence pins only roughly cannot be forecast more tightly: the total's 2025
    # interval is at least as wide as the triangulated 2024 one; and the 2024->2031 CAGR lies within
    # the published CAGRs in the evidence (4.6% to 9.8%)
    result, doc, _ = cmo
    _, draws = result.cube.series(())
    years = list(result.cube.years)
    y24, y25 = draws[:, years.index(2024)], draws[:, years.index(2025)]
    for level in (80, 95):
        tail = (100 - level) / 200
        width = lambda d: np.quantile(d, 1 - tail) - np.quantile(d, tail)  # noqa: E731
        assert width(y25) >= width(y24), level
    assert 0.046 <= doc["headline"]["cagr"]["value"] <= 0.098


def test_cmo_excel_pack_adds_up_in_its_own_sheets(cmo, tmp_path: Path) -> None:
    from .test_report_formats import check_table_sheets

    result, _, _ = cmo
    publish(result, tmp_path, ("json", "xlsx"))
    check_table_sheets(tmp_path)


def test_claims_about_forecast_years_bend_no_single_year(cmo) -> None:
    # the forecasts' errors are correlated across years, so a claim about one year moves the years
    # around it: the total's growth changes by less than a point from one year to the next, every
    # segment's by less than four (with years treated apart, the total's jumped from 8.6% to 2.9%
    # and the US's from 11.8% to 0.6%); India's published CAGRs (sc78, sc80) are weighed
    result, doc, _ = cmo
    years = list(result.cube.years)
    first = years.index(2024)
    claims = {c["id"]: c for c in doc["claims"]}
    assert claims["sc78"]["used"] and claims["sc80"]["used"]
    for sel in [()] + [((d.id, m.id),) for d in result.market.dimensions for m in d.members]:
        value, _ = result.cube.series(sel)
        growth = np.diff(np.log(value[first:]))
        assert np.abs(np.diff(growth)).max() < (0.01 if not sel else 0.04), sel
