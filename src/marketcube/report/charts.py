"""Every chart of the report is specified once, as Vega-Lite (built with altair), from the chart's
data in the document model; HTML draws the specification interactively (tooltips), the PDF as
static SVG (vl-convert, no browser). Values are USD bn or fractions, as the chart's data says.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import Any

__all__ = ["vega_lite", "svgs", "javascript_bundle", "warm_up"]

WIDTH = 560
HEIGHT = 260
LABELLED_POINTS = 8
PALETTE = ["#1f5fa8", "#e07b39", "#2f8f5b", "#b8475a", "#7a5ea8", "#8c6d31", "#3c9bb5", "#c4579b", "#6b7a8f",
           "#a3a127"]


def _alt():
    import altair as alt

    return alt


def vega_lite(chart: dict[str, Any], width: int = WIDTH, height: int = HEIGHT, validate: bool = False) -> dict[str, Any]:
    """The Vega-Lite specification of one chart of the document model (a plain dict). ``validate``
    checks it against the Vega-Lite schema (the tests do; it costs about 50 ms a chart)."""
    alt = _alt()
    data = alt.Data(values=chart["data"])
    kind = chart["kind"]
    base = alt.Chart(data)
    year = alt.X("year:O", title=None, axis=alt.Axis(labelAngle=0, labelOverlap=True))
    usd = alt.Y("value:Q", title="USD bn")
    color = alt.Color("member:N", title=None, scale=alt.Scale(range=PALETTE), legend=alt.Legend(orient="bottom", columns=2, labelLimit=170))
    if kind == "band":
        fmt = ",.1f"
        tip = [alt.Tooltip("year:O", title="Year"), alt.Tooltip("value:Q", title="USD bn", format=fmt),
               alt.Tooltip("lo80:Q", title="80% low", format=fmt), alt.Tooltip("hi80:Q", title="80% high", format=fmt),
               alt.Tooltip("lo95:Q", title="95% low", format=fmt), alt.Tooltip("hi95:Q", title="95% high", format=fmt),
               alt.Tooltip("kind:N", title="Kind")]
        band95 = base.mark_area(opacity=0.15, color=PALETTE[0]).encode(x=year, y=alt.Y("lo95:Q", title="USD bn"), y2="hi95:Q")
        band80 = base.mark_area(opacity=0.25, color=PALETTE[0]).encode(x=year, y="lo80:Q", y2="hi80:Q")
        dash = alt.StrokeDash("kind:N", title=None, legend=alt.Legend(orient="bottom"),
                              scale=alt.Scale(domain=["history", "forecast"], range=[[1, 0], [5, 3]]))
        line = base.mark_line(color=PALETTE[0], point=True).encode(x=year, y=usd, strokeDash=dash, tooltip=tip)
        out = band95 + band80 + line
    elif kind == "stacked":
        out = base.mark_area().encode(
            x=year, y=alt.Y("value:Q", title="USD bn", stack="zero"), color=color,
            tooltip=[alt.Tooltip("member:N", title="Member"), alt.Tooltip("year:O", title="Year"),
                     alt.Tooltip("value:Q", title="USD bn", format=",.2f"), alt.Tooltip("kind:N", title="Kind")])
    elif kind == "share_bars":
        out = base.mark_bar().encode(
            y=alt.Y("member:N", title=None, sort=None, axis=alt.Axis(labelLimit=150)), x=alt.X("share:Q", title="Share of the market", axis=alt.Axis(format="%", tickCount=6)),
            yOffset="year:N", color=alt.Color("year:N", title=None, scale=alt.Scale(range=PALETTE[:2]), legend=alt.Legend(orient="bottom")),
            tooltip=[alt.Tooltip("member:N", title="Member"), alt.Tooltip("year:N", title="Year"),
                     alt.Tooltip("share:Q", title="Share", format=".1%")])
        height = 24 * len({d["member"] for d in chart["data"]}) + 10
    elif kind == "growth_size":
        dots = base.mark_circle(size=70, color=PALETTE[0]).encode(
            x=alt.X("size:Q", title="Size in the base year (USD bn)", scale=alt.Scale(type="log")),
            y=alt.Y("cagr:Q", title="CAGR", axis=alt.Axis(format=".2%"), scale=alt.Scale(zero=False)),
            tooltip=[alt.Tooltip("member:N", title="Member"), alt.Tooltip("size:Q", title="USD bn", format=",.2f"),
                     alt.Tooltip("cagr:Q", title="CAGR", format=".2%")])
        # the largest points named beside them (all of them when there are few)
        named = sorted(chart["data"], key=lambda d: -d["size"])[:LABELLED_POINTS]
        labels = alt.Chart(alt.Data(values=named)).mark_text(align="left", dx=6, fontSize=9, color="#333").encode(
            x=alt.X("size:Q", scale=alt.Scale(type="log")), y=alt.Y("cagr:Q"), text="member:N")
        out = dots + labels
    elif kind == "bars":
        out = base.mark_bar(color=PALETTE[0]).encode(
            y=alt.Y("company:N", title=None, sort="-x"), x=alt.X("usd:Q", title="Attributable revenue (USD bn)"),
            tooltip=[alt.Tooltip("company:N", title="Company"), alt.Tooltip("year:O", title="Year"),
                     alt.Tooltip("usd:Q", title="USD bn", format=",.2f")])
        height = max(height, 22 * len(chart["data"]))
    elif kind == "lines":
        out = base.mark_line(point=True).encode(
            x=year, y=alt.Y("value:Q", title="USD bn", scale=alt.Scale(zero=False)),
            color=alt.Color("scenario:N", title=None, scale=alt.Scale(domain=["pessimistic", "base", "optimistic"],
                                                                       range=[PALETTE[3], PALETTE[0], PALETTE[2]]),
                            legend=alt.Legend(orient="bottom")),
            tooltip=[alt.Tooltip("scenario:N", title="Scenario"), alt.Tooltip("year:O", title="Year"),
                     alt.Tooltip("value:Q", title="USD bn", format=",.1f")])
    else:
        raise ValueError(f"unknown chart kind {kind!r}")
    # no title inside the chart: the renderers caption it (a title wider than a phone would widen the chart)
    spec = out.properties(width=width, height=height).configure_view(stroke=None).configure(
        font="Helvetica, Arial, sans-serif").to_dict(validate=validate)
    spec["description"] = chart["alt"]
    return spec


def _svg(spec: dict[str, Any]) -> str:
    import vl_convert as vlc

    return vlc.vegalite_to_svg(spec)


def svgs(charts: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Static SVG of every chart (for the PDF), by chart id. One after the other: vl-convert runs
    one JavaScript engine, and threads made the CMO report's 13 charts slower (1.8 s against 1.1 s)."""
    return {k: _svg(vega_lite(c)) for k, c in charts.items()}


def warm_up() -> None:
    """Import altair and start vl-convert's JavaScript engine (its first drawing costs about 0.8 s)."""
    _svg(vega_lite({"kind": "bars", "title": "", "alt": "", "data": [{"company": "a", "year": 2000, "usd": 1.0}]}))


@functools.lru_cache(maxsize=1)
def javascript_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script to inline in HTML (no request leaves the page).

    vl-convert builds it in about 2 s, so it is kept in the user's cache folder, keyed by the
    vl-convert version and checked by its hash."""
    import vl_convert as vlc

    key = hashlib.sha256(f"{vlc.__version__}:{vlc.get_vega_embed_version()}".encode()).hexdigest()[:16]
    folder = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "marketcube"
    path = folder / f"vega-{key}.js"
    check = folder / f"vega-{key}.sha256"
    try:
        text = path.read_text(encoding="utf-8")
        if hashlib.sha256(text.encode()).hexdigest() == check.read_text().strip():
            return text
    except OSError:
        pass
    text = vlc.javascript_bundle()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        check.write_text(hashlib.sha256(text.encode()).hexdigest())
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home: build it every time
    return text
