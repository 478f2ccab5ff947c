"""How numbers read in every renderer (HTML, PDF, Markdown): one set of rules.

Sizes (USD bn) to three significant digits, whole numbers from 1,000 up; shares and growth rates as
percentages with one decimal; z to one decimal. Data outputs (report.json, Excel, Parquet) keep full
precision and do not use these.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MARK", "PROVENANCE_NOTE", "fmt_bn", "fmt_pct", "cell_text", "fact_text"]

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
    return "–" if x is None else f"{100 * x:.{digits}f}%"


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
    return f"{v:,.3g}" if abs(v) < 1e6 else f"{v:,.0f}"


def cell_text(cell: Any, kind: str) -> str:
    """A table cell as text, without its provenance marker."""
    if isinstance(cell, dict):
        return "–" if cell["v"] is None else _number(cell["v"], kind)
    if cell is None:
        return "–"
    return str(cell)


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
