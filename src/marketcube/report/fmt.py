"""How numbers read in every renderer (HTML, PDF, Markdown): one set of rules.

Sizes (USD bn) to three significant digits, whole numbers from 1,000 up; shares and growth rates as
percentages with one decimal; z to one decimal. Data outputs (report.json, Excel, Parquet) keep full
precision and do not use these.
"""

from __future__ import annotations

from typing import Any

from ..evidence import as_written as fmt_reported  # the normalise stage writes conversions the same way

__all__ = ["MARK", "PROVENANCE_NOTE", "fmt_bn", "fmt_pct", "fmt_reported", "cell_text", "marker", "fact_text",
           "column_label", "source_line"]

MARK = {"sourced": "S", "derived": "D", "modelled": "M", "assumed": "A"}
PROVENANCE_NOTE = ("Every number carries its provenance: S sourced (a claim's number), D derived (arithmetic on "
                   "sourced numbers), M modelled (solver or forecast output), A assumed (from an assumption alone); "
                   "the weakest input decides.")


def fmt_bn(x: float | None) -> str:
    """USD bn to three significant digits for reading."""
    if x is None:
        return "–"
    return f"{x:,.3g}" if abs(x) < 1000 else f"{x:,.0f}"


def fmt_pct(x: float | None, digits: int = 1) -> str:
    if x is None:
        return "–"
    text = f"{100 * x:.{digits}f}%"
    return text[1:] if text.startswith("-") and float(text[:-1]) == 0 else text  # no "-0.0%"


def _number(v: float, kind: str) -> str:
    if kind == "usd_bn":
        return fmt_bn(v)
    if kind in ("share", "rate"):
        return fmt_pct(v)
    if kind == "z":
        return f"{v:.1f}"
    if kind == "hhi":
        return f"{v:,.0f}"
    if kind in ("count", "year"):
        return f"{v:.0f}"
    if kind == "reported":
        return fmt_reported(v)
    return f"{v:,.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def cell_text(cell: Any, kind: str) -> str:
    """A table cell as text, without its provenance marker; a cell's own kind (``k``) overrides its
    column's (a claims column holds sizes, shares and growth rates)."""
    if isinstance(cell, dict):
        return "–" if cell["v"] is None else _number(cell["v"], cell.get("k", kind))
    if cell is None:
        return "–"
    return str(cell)


def marker(cell: dict[str, Any]) -> str:
    """A number's provenance letter (S, D, M, A); none for a missing number."""
    return "" if cell["v"] is None else MARK[cell["p"]]


def fact_text(item: dict[str, Any]) -> tuple[str, str]:
    """A snapshot fact as (value, detail): the detail carries the 80% range and any note."""
    if "cell" not in item:
        return item["text"], item.get("note", "")
    kind = item["kind"]
    value = cell_text(item["cell"], kind)
    parts = []
    if item.get("range"):
        lo, hi = item["range"]
        parts.append(f"80% range {_number(lo, kind)} to {_number(hi, kind)}")
    if item.get("note"):
        parts.append(item["note"])
    return value, "; ".join(parts)


def column_label(column: dict[str, Any], table_title: str) -> str:
    """A column's header: its label, with its unit when the values do not show it (USD bn) and the
    table's title does not already say it."""
    unit = column.get("unit", "")
    if column["kind"] == "usd_bn" and unit and unit not in column["label"] and unit not in table_title:
        return f"{column['label']} ({unit})"
    return column["label"]


def source_line(source: dict[str, Any]) -> str:
    """A source as one line: publisher (vintage): title, url, with no part repeated."""
    parts: list[str] = []
    for part in (source.get("publisher"), source.get("title"), source.get("url")):
        text = str(part or "").strip()
        if text and not any(text == p or text in p for p in parts):
            parts.append(text)
    if source.get("vintage") and parts:
        parts[0] += f" ({source['vintage']})"
    return ": ".join(parts[:2]) + (f" — {parts[2]}" if len(parts) > 2 else "")
