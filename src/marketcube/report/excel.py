"""The Excel data pack (xlsxwriter) from the document model: one sheet per table, numbers as
numbers (values, not formulas) with units in the headers, provenance in a column, a sources sheet,
and native Excel charts of the total and of the top-level segments.

Pack text is data: every string is written with ``write_string`` and the workbook converts no
string to a formula, number or URL, so a cell starting with =, +, - or @ stays text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import xlsxwriter

__all__ = ["write_excel"]

SERIES_COLUMNS = ["Year", "Value (USD bn)", "80% low (USD bn)", "80% high (USD bn)", "95% low (USD bn)",
                  "95% high (USD bn)", "Provenance", "Period"]


def _sheet_name(name: str, used: set[str]) -> str:
    clean = "".join(ch for ch in name if ch not in "[]:*?/\\")[:31] or "Sheet"
    out, k = clean, 2
    while out.lower() in used:
        suffix = f" {k}"
        out, k = clean[: 31 - len(suffix)] + suffix, k + 1
    used.add(out.lower())
    return out


class _Writer:
    def __init__(self, path: Path) -> None:
        self.wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_numbers": False,
                                                   "strings_to_urls": False})
        self.bold = self.wb.add_format({"bold": True, "bg_color": "#F1F4F8", "border": 1, "text_wrap": True})
        self.num = self.wb.add_format({"num_format": "#,##0.000"})
        self.pct = self.wb.add_format({"num_format": "0.00%"})
        self.used: set[str] = set()

    def sheet(self, name: str, header: list[str], widths: list[int] | None = None):
        ws = self.wb.add_worksheet(_sheet_name(name, self.used))
        for c, h in enumerate(header):
            ws.write_string(0, c, h, self.bold)
            ws.set_column(c, c, (widths or [])[c] if widths and c < len(widths) else 16)
        ws.freeze_panes(1, 0)
        return ws

    def row(self, ws, r: int, values: list[Any], formats: dict[int, Any] | None = None) -> None:
        for c, v in enumerate(values):
            fmt = (formats or {}).get(c)
            if v is None:
                ws.write_blank(r, c, None)
            elif isinstance(v, bool):
                ws.write_boolean(r, c, v)
            elif isinstance(v, (int, float)):
                ws.write_number(r, c, float(v), fmt)
            else:
                ws.write_string(r, c, str(v))


def write_excel(d: dict[str, Any], path: Path) -> None:
    w = _Writer(path)
    years = d["years"]
    base = years["base_year"]
    series = d["series"]
    total = next(s for s in series if s["dimension"] is None)
    shown = [p for p in total["values"] if p["year"] <= years["study_end"]]

    # summary
    ws = w.sheet("Summary", ["Item", "Value", "Unit", "Provenance"], [46, 16, 22, 14])
    h = d["headline"]
    rows = [
        ["Market", d["market"]["title"], "", ""],
        ["Definition", d["market"]["definition"]["text"], "", ""],
        [f"Market size {base}", h["total_base_year"], "USD bn", "modelled"],
        [f"Market size {years['study_end']} (forecast)", h["total_study_end"], "USD bn", "modelled"],
        [f"CAGR {h['cagr']['from']}->{h['cagr']['to']} ({h['cagr']['periods']} compounding periods)", h["cagr"]["value"],
         "fraction a year", "modelled"],
        ["Code version", d["code_version"], "", ""],
        ["Inputs hash", d["inputs_hash"], "", ""],
    ]
    for r, values in enumerate(rows, start=1):
        w.row(ws, r, values, {1: w.pct} if values[2] == "fraction a year" else {1: w.num})

    # market size by year, with a native chart
    ws = w.sheet("Market size", SERIES_COLUMNS)
    for r, p in enumerate(shown, start=1):
        w.row(ws, r, [p["year"], p["value"], p["lo80"], p["hi80"], p["lo95"], p["hi95"], p["provenance"],
                      "history" if p["year"] <= base else "forecast"], {k: w.num for k in range(1, 6)})
    chart = w.wb.add_chart({"type": "line"})
    n = len(shown)
    for col, name in ((1, "Total"), (2, "80% low"), (3, "80% high")):
        chart.add_series({"name": name, "categories": [ws.name, 1, 0, n, 0], "values": [ws.name, 1, col, n, col],
                          "line": {"dash_type": "solid" if col == 1 else "dash"}})
    chart.set_title({"name": f"Market size, USD bn ({years['history_start']}-{years['study_end']})"})
    chart.set_y_axis({"name": "USD bn"})
    ws.insert_chart("J2", chart, {"x_scale": 1.4, "y_scale": 1.3})

    # one sheet per dimension: members by year, the total row first; top-level members add up to it
    year_list = [p["year"] for p in shown]
    for dim in d["dimensions"]:
        members = [s for s in series if s["dimension"] == dim["id"]]
        ws = w.sheet(f"By {dim['name']}", ["Member", "Member id", "Parent id", "Aggregate"]
                     + [f"{y} (USD bn)" for y in year_list], [34, 16, 16, 10])
        w.row(ws, 1, ["Total", "", "", True] + [p["value"] for p in shown], {k: w.num for k in range(4, 4 + n)})
        top_rows = []
        for r, s in enumerate(members, start=2):
            values = {p["year"]: p["value"] for p in s["values"]}
            w.row(ws, r, [s["name"], s["member"], s["parent"] or "", s["is_aggregate"]] + [values[y] for y in year_list],
                  {k: w.num for k in range(4, 4 + n)})
            if s["parent"] is None:
                top_rows.append(r)
        if len(top_rows) > 1:
            chart = w.wb.add_chart({"type": "column", "subtype": "stacked"})
            for r in top_rows:
                chart.add_series({"name": [ws.name, r, 0], "categories": [ws.name, 0, 4, 0, 3 + n],
                                  "values": [ws.name, r, 4, r, 3 + n]})
            chart.set_title({"name": f"By {dim['name'].lower()}, USD bn"})
            chart.set_y_axis({"name": "USD bn"})
            ws.insert_chart(len(members) + 4, 0, chart, {"x_scale": 1.6, "y_scale": 1.3})

    # segments: shares and CAGRs
    ws = w.sheet("Segments", ["Dimension", "Member", "Member id", "Parent id", f"{base} (USD bn)", f"Share {base}",
                              f"{years['study_end']} (USD bn)", f"Share {years['study_end']}", "CAGR", "Provenance"],
                 [14, 34, 16, 16])
    for r, s in enumerate(d["segments"], start=1):
        w.row(ws, r, [s["dimension"], s["name"], s["member"], s["parent"] or "", s["base_value"], s["base_share"],
                      s["end_value"], s["end_share"], s["cagr"], s["provenance"]],
              {4: w.num, 5: w.pct, 6: w.num, 7: w.pct, 8: w.pct})

    # evidence, sources, assumptions, methodology
    ws = w.sheet("Claims", ["Claim", "Kind", "Source", "Publisher", "Year", "Value", "Unit", "Value (USD bn)",
                            "Quote", "Claimed (own terms)", "Fitted (own terms)", "z", "Verdict", "Note"],
                 [18, 9, 16, 24, 7, 10, 9, 12, 60, 12, 12, 8, 13, 40])
    for r, c in enumerate(d["claims"], start=1):
        w.row(ws, r, [c["id"], c["kind"], c["source"], c["publisher"], c["year"], c["value"], c["unit"], c["value_usd_bn"],
                      c["quote"], c["claimed"], c["fitted"], c["residual_z"], c["verdict"], c["verdict_note"] or c["note"]])
    ws = w.sheet("Sources", ["Source", "Publisher", "Title", "URL", "Vintage"], [18, 28, 50, 50, 8])
    for r, s in enumerate(d["sources"], start=1):
        w.row(ws, r, [s["id"], s["publisher"], s["title"], s["url"], s["vintage"]])
    ws = w.sheet("Methodology", ["Stage", "How it worked"], [14, 140])
    for r, m in enumerate(d["methodology"], start=1):
        w.row(ws, r, [m["stage"], m["text"]])
    for table in d["tables"].values():
        if table["id"] not in BESPOKE:
            _table_sheet(w, table)
    w.wb.close()


BESPOKE = {"claims"}  # tables whose sheet above carries more than the report's table (the Claims sheet)
UNITS = {"usd_bn": "USD bn", "share": "fraction", "rate": "fraction a year", "hhi": "0-10,000"}


def _table_sheet(w: _Writer, t: dict[str, Any]) -> None:
    """One report table as a sheet named by its id: its columns (units in the headers), a Row column
    (total, group, part: parts add up to the total or group above them, as the report says), then
    after a blank column each number's provenance; the table's title and note below it."""
    cols = t["columns"]
    numeric = [i for i, c in enumerate(cols) if c["kind"] not in ("text",)]
    header = [f"{c['label']} ({UNITS[c['kind']]})" if c["kind"] in UNITS else c["label"] for c in cols]
    ws = w.sheet(t["id"], header + ["Row", ""] + [f"{cols[i]['label']} provenance" for i in numeric],
                 [34] + [14] * (len(cols) - 1))
    formats = {i: (w.pct if c["kind"] in ("share", "rate") else w.num) for i, c in enumerate(cols) if c["kind"] in UNITS}
    for r, row in enumerate(t["rows"], start=1):
        values = [c["v"] if isinstance(c, dict) else c for c in row["cells"]]
        provenance = [row["cells"][i]["p"] if isinstance(row["cells"][i], dict) else None for i in numeric]
        w.row(ws, r, values + [row["role"] or "", None] + provenance, formats)
    below = len(t["rows"]) + 2
    ws.write_string(below, 0, t["title"])
    if t["note"]:
        ws.write_string(below + 1, 0, t["note"])
