"""Self-contained HTML from the document model (jinja2 with autoescaping: pack text is data)."""

from __future__ import annotations

from importlib import resources
from typing import Any

import jinja2

__all__ = ["render_html", "fmt_bn", "fmt_pct"]

MARK = {"sourced": "S", "derived": "D", "modelled": "M", "assumed": "A"}


def fmt_bn(x: float | None) -> str:
    """USD bn to three significant digits for reading."""
    if x is None:
        return "–"
    return f"{x:,.3g}" if abs(x) < 1000 else f"{x:,.0f}"


def fmt_pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}%"


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(
            lambda name: resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
        ),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["bn"] = fmt_bn
    env.filters["pct"] = fmt_pct
    env.globals["MARK"] = MARK
    return env


def render_html(document: dict[str, Any]) -> str:
    d = document
    years = d["years"]
    shown = [y for y in years["history"] + years["forecast"] if y <= years["study_end"]]
    total = d["series"][0]
    by_dim: dict[str, list[dict]] = {}
    for row in d["segments"]:
        by_dim.setdefault(row["dimension"], []).append(row)
    counts = {s: sum(1 for f in d["findings"] if f["severity"] == s) for s in ("error", "warning", "info")}
    verdicts: dict[str, int] = {}
    for c in d["claims"]:
        verdicts[c["verdict"]] = verdicts.get(c["verdict"], 0) + 1
    return _env().get_template("report.html.j2").render(
        d=d,
        shown=shown,
        total={p["year"]: p for p in total["values"]},
        by_dim=by_dim,
        dim_names={x["id"]: x["name"] for x in d["dimensions"]},
        counts=counts,
        verdicts=dict(sorted(verdicts.items())),
    )
