"""Markdown and Parquet outputs: the cube's parts add up in the file itself, the totals are the
JSON's, and hostile pack text comes out inert."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest

from marketcube.pipeline import FORMATS, publish, run

from .packs import CLAIMS_CSV, add_rows, write_pack

HOSTILE = '<script>alert(1)</script> | # not a heading `code` *bold* [link](http://evil) =SUM(A1)'


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pack")
    quote = HOSTILE.replace('"', '""')
    claims = add_rows(CLAIMS_CSV, f'h1,beta,size,widgets,,,,2021,115,USD bn,,,,,low,"{quote}\nsecond line"',
                      'h2,beta,size,widgets,,,,2021,116,USD bn,,,,,low,"=1+1"',
                      'h3,beta,size,widgets,,,,2021,117,USD bn,,,,,low,"@SUM(A1:A2)"',
                      'h4,beta,size,widgets,,,,2021,118,USD bn,,,,,low,"+A1*2"',
                      'h5,beta,size,widgets,,,,2021,119,USD bn,,,,,low,"-A1+1"')
    result = run(write_pack(folder, claims_csv=claims))
    out = tmp_path_factory.mktemp("out")
    files = publish(result, out)
    return result, out, files


def test_every_format_is_written_by_default(published):
    _, out, files = published
    assert [f.name for f in files] == ["report.json", "report.html", "report.pdf", "report.md", "report.xlsx", "cube.parquet"]
    assert FORMATS == ("json", "html", "pdf", "md", "xlsx", "parquet")
    assert all((out / f.name).stat().st_size > 0 for f in files)


def test_parquet_cube_adds_up_in_the_file_and_matches_the_json(published):
    result, out, _ = published
    con = duckdb.connect()
    cube = con.execute(f"SELECT * FROM read_parquet('{out / 'cube.parquet'}')").df()
    dims = [d.id for d in result.market.dimensions]
    assert list(cube.columns) == ["year", *dims, "aggregate", "measure", "value", "unit", "lo80", "hi80", "lo95",
                                  "hi95", "provenance", "period"]
    total = cube[(cube[dims] == "*").all(axis=1)].set_index("year")["value"]
    leaves = cube[~cube["aggregate"]].groupby("year")["value"].sum()
    np.testing.assert_allclose(leaves.loc[total.index], total, rtol=1e-12)
    doc = json.loads((out / "report.json").read_text())
    json_total = {p["year"]: p["value"] for s in doc["series"] if s["dimension"] is None for p in s["values"]}
    for year, value in total.items():
        assert value == pytest.approx(json_total[year], rel=1e-12)
    # every member of every dimension is also there, and its leaves add up to it
    for dim in result.market.dimensions:
        for member in dim.members:
            rows = cube[(cube[dim.id] == member.id) & (cube[[d for d in dims if d != dim.id]] == "*").all(axis=1)]
            assert len(rows) == len(result.cube.years), (dim.id, member.id)
    assert (cube["lo95"] <= cube["lo80"] + 1e-12).all() and (cube["lo80"] <= cube["hi80"] + 1e-12).all()
    assert (cube["hi80"] <= cube["hi95"] + 1e-12).all()
    assert set(cube["provenance"]) <= {"sourced", "derived", "modelled", "assumed"}
    assert set(cube["period"]) == {"history", "forecast"} and set(cube["unit"]) == {"USD bn"}


def _unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def test_markdown_tables_hold_their_shape_and_hostile_text_is_inert(published):
    _, out, _ = published
    md = (out / "report.md").read_text()
    assert "<script>" not in md and "&lt;script&gt;" in md
    assert "\n# not a heading" not in md and "[link](http://evil)" not in md
    line = next(x for x in md.splitlines() if "not a heading" in x)
    assert "second line" in line  # the quote's line break did not end the table row
    # every row of every table has as many cell borders as its header
    block: list[str] = []
    for x in md.splitlines() + [""]:
        if x.startswith("|"):
            block.append(x)
            continue
        if block:
            assert len({_unescaped_pipes(r) for r in block}) == 1, block[0]
            block = []
    from marketcube.report.sections import SECTIONS

    for number, (_, title) in enumerate(SECTIONS, 1):
        assert f"\n## {number}. {title}\n" in md


def test_format_option_picks_and_unknown_formats_are_refused(published, tmp_path):
    result, _, _ = published
    files = publish(result, tmp_path / "some", ("md", "parquet"))
    assert sorted(p.name for p in (tmp_path / "some").iterdir()) == ["cube.parquet", "report.md"]
    assert [f.name for f in files] == ["report.md", "cube.parquet"]
    with pytest.raises(ValueError, match="unknown report format"):
        publish(result, tmp_path / "bad", ("docx",))
    assert not (tmp_path / "bad").exists()


def test_cli_format_option(tmp_path):
    pack = write_pack(tmp_path / "pack")
    r = subprocess.run([sys.executable, "-m", "marketcube.cli", "report", str(pack), "--out", str(tmp_path / "o"),
                        "-f", "md", "-f", "json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["report.json", "report.md"]


def test_excel_pack_adds_up_in_its_own_sheets_and_keeps_text_as_text(published):
    import zipfile

    import openpyxl

    result, out, _ = published
    doc = json.loads((out / "report.json").read_text())
    json_total = {p["year"]: p["value"] for s in doc["series"] if s["dimension"] is None for p in s["values"]}
    wb = openpyxl.load_workbook(out / "report.xlsx")
    for dim in result.market.dimensions:
        ws = wb[f"By {dim.name}"[:31]]
        rows = list(ws.iter_rows(values_only=True))
        header, total_row, members = rows[0], rows[1], rows[2:]
        assert total_row[0] == "Total"
        for c in range(4, len(header)):
            year = int(header[c].split()[0])
            assert isinstance(total_row[c], float)  # numbers as numbers, not formulas
            assert total_row[c] == pytest.approx(json_total[year], rel=1e-12)
            top = sum(r[c] for r in members if not r[2])  # top-level members (no parent)
            leaves = sum(r[c] for r in members if not r[3])  # leaf members
            assert top == pytest.approx(total_row[c], rel=1e-9) and leaves == pytest.approx(total_row[c], rel=1e-9)
    size = list(wb["Market size"].iter_rows(values_only=True))
    assert size[0][1] == "Value (USD bn)"  # units in the header
    claims = wb["Claims"]
    quotes = {row[0].value: row[8] for row in claims.iter_rows(min_row=2)}
    for cid, text in (("h2", "=1+1"), ("h3", "@SUM(A1:A2)"), ("h4", "+A1*2"), ("h5", "-A1+1")):
        assert quotes[cid].value == text and quotes[cid].data_type == "s", cid  # text, never a formula
    assert {"Sources", "Methodology", "Segments", "Summary"} <= set(wb.sheetnames)
    with zipfile.ZipFile(out / "report.xlsx") as z:
        charts = [n for n in z.namelist() if n.startswith("xl/charts/chart")]
    assert len(charts) >= 2  # native charts: the total, and the segments of every dimension with several tops


def test_every_report_table_has_a_sheet_whose_parts_add_up_in_the_sheet(published):
    _, out, _ = published
    check_table_sheets(out)


def check_table_sheets(out: Path) -> None:
    """Every report table of out/report.json has a sheet in out/report.xlsx whose parts add up to its
    totals in the sheet, with each number's provenance beside it and the totals equal to the JSON's."""
    import openpyxl

    doc = json.loads((out / "report.json").read_text())
    wb = openpyxl.load_workbook(out / "report.xlsx")
    checked = 0
    for table in doc["tables"].values():
        if table["id"] == "claims":
            continue  # the Claims sheet carries it, with more columns
        rows = list(wb[table["id"]].iter_rows(values_only=True))
        header, body = rows[0], rows[1:1 + len(table["rows"])]
        assert header[len(table["columns"])] == "Row"
        for check in table["checks"]["sums"]:
            for key in check["columns"]:
                c = [col["key"] for col in table["columns"]].index(key)
                parts = sum(body[r][c] for r in check["parts"])
                assert isinstance(body[check["total"]][c], float)  # a number, not a formula
                assert parts == pytest.approx(body[check["total"]][c], rel=1e-9), (table["id"], key)
                checked += 1
        # each number's provenance sits in the block after the blank column, in the table's order
        numeric = [i for i, col in enumerate(table["columns"]) if col["kind"] != "text"]
        for r, row in zip(table["rows"], body):
            marks = row[len(table["columns"]) + 2:]
            assert list(marks) == [r["cells"][i]["p"] if isinstance(r["cells"][i], dict) else None for i in numeric]
    assert checked > 10
    n = len(doc["tables"]["size"]["rows"])
    totals = {row[0]: row[1:] for row in wb["size"].iter_rows(min_row=2, max_row=1 + n, values_only=True)}
    json_total = {p["year"]: p["value"] for s in doc["series"] if s["dimension"] is None for p in s["values"]}
    for year, values in totals.items():
        assert values[1] == pytest.approx(json_total[year], rel=1e-15)  # the table's totals are the JSON's
    assert len(totals) == n


def test_markdown_text_keeps_ampersands_readable_and_entities_inert() -> None:
    from marketcube.report.markdown import text

    assert text("Middle East & Africa") == "Middle East & Africa"  # as written, in the raw file too
    out = text("&lt;script&gt; <b>x</b> &#60;")
    assert "<" not in out and ">" not in out
    # an entity in pack text stays those characters once rendered: its ampersand is escaped
    assert out.startswith("&amp;lt;script&amp;gt;") and out.endswith("&amp;#60;")
