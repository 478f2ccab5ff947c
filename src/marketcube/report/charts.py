"""Every chart of the report is specified once, as Vega-Lite, from the chart's
data in the document model; HTML draws the specification interactively (tooltips), the PDF as
static SVG (vl-convert, no browser). Values are USD bn or fractions, as the chart's data says.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
from pathlib import Path
from typing import Any

__all__ = ["vega_lite", "svgs", "javascript_bundle", "warm_up"]

WIDTH = 560
HEIGHT = 260
NAMES_MIN_WIDTH = 0.85  # a scatter's point names show at this share of the width they were placed for, or more
SCHEMA = "https://vega.github.io/schema/vega-lite/v6.4.1.json"  # the version vl-convert and its bundle draw
LABELLED_POINTS = 8
MIN_CAGR_SPAN = 0.04  # a growth axis spans at least 4 points: 6.5% against 6.8% must not look like a gulf
PALETTE = ["#1f5fa8", "#e07b39", "#2f8f5b", "#b8475a", "#7a5ea8", "#8c6d31", "#3c9bb5", "#c4579b", "#6b7a8f",
           "#a3a127"]


def _tip(field: str, title: str, kind: str = "quantitative", fmt: str | None = None) -> dict[str, Any]:
    out = {"field": field, "type": kind, "title": title}
    if fmt:
        out["format"] = fmt
    return out


def vega_lite(chart: dict[str, Any], width: int = WIDTH, height: int = HEIGHT) -> dict[str, Any]:
    """The Vega-Lite (v6) specification of one chart of the document model, as a plain dict.

    Written as JSON directly: altair built the same specifications but cost 0.75 s a process (its
    import and 12 charts), on the critical path of ``make report``; the tests check every
    specification against the Vega-Lite schema with altair."""
    kind = chart["kind"]
    year = {"field": "year", "type": "ordinal", "title": None, "axis": {"labelAngle": 0, "labelOverlap": True}}
    usd = {"field": "value", "type": "quantitative", "title": "USD bn"}
    legend = {"orient": "bottom"}
    layers: list[dict[str, Any]] = []
    data = {"values": chart["data"]}
    if kind == "band":
        fmt = ",.1f"
        tip = [_tip("year", "Year", "ordinal"), _tip("value", "USD bn", fmt=fmt), _tip("lo80", "80% low", fmt=fmt),
               _tip("hi80", "80% high", fmt=fmt), _tip("lo95", "95% low", fmt=fmt), _tip("hi95", "95% high", fmt=fmt),
               _tip("kind", "Kind", "nominal")]
        layers = [
            {"mark": {"type": "area", "opacity": 0.15, "color": PALETTE[0]},
             "encoding": {"x": year, "y": {"field": "lo95", "type": "quantitative", "title": "USD bn"},
                          "y2": {"field": "hi95"}}},
            {"mark": {"type": "area", "opacity": 0.25, "color": PALETTE[0]},
             "encoding": {"x": year, "y": {"field": "lo80", "type": "quantitative"}, "y2": {"field": "hi80"}}},
            {"mark": {"type": "line", "color": PALETTE[0], "point": True},
             "encoding": {"x": year, "y": usd, "tooltip": tip,
                          "strokeDash": {"field": "kind", "type": "nominal", "title": None, "legend": legend,
                                         "scale": {"domain": ["history", "forecast"], "range": [[1, 0], [5, 3]]}}}},
        ]
        body: dict[str, Any] = {"layer": layers}
    elif kind == "stacked":
        body = {"mark": {"type": "area"}, "encoding": {
            "x": year, "y": {**usd, "stack": "zero"},
            "color": {"field": "member", "type": "nominal", "title": None, "scale": {"range": PALETTE},
                      "legend": {"orient": "bottom", "columns": 2, "labelLimit": 170}},
            "tooltip": [_tip("member", "Member", "nominal"), _tip("year", "Year", "ordinal"),
                        _tip("value", "USD bn", fmt=",.2f"), _tip("kind", "Kind", "nominal")]}}
    elif kind == "share_bars":
        body = {"mark": {"type": "bar"}, "encoding": {
            "y": {"field": "member", "type": "nominal", "title": None, "sort": None, "axis": {"labelLimit": 150}},
            "x": {"field": "share", "type": "quantitative", "title": "Share of the market",
                  "axis": {"format": "%", "tickCount": 6}},
            "yOffset": {"field": "year", "type": "nominal"},
            "color": {"field": "year", "type": "nominal", "title": None, "scale": {"range": PALETTE[:2]}, "legend": legend},
            "tooltip": [_tip("member", "Member", "nominal"), _tip("year", "Year", "nominal"),
                        _tip("share", "Share", fmt=".1%")]}}
        height = 24 * len({d["member"] for d in chart["data"]}) + 10
    elif kind == "growth_size":
        sizes = [d["size"] for d in chart["data"] if d["size"] and d["size"] > 0]
        x_scale: dict[str, Any] = {"type": "log"}
        if sizes:  # fixed, so that the labels can be placed in the same coordinates
            pad = (math.log10(max(sizes)) - math.log10(min(sizes))) * 0.04 + 0.02
            x_scale.update(domain=[min(sizes) / 10**pad, max(sizes) * 10**pad], nice=False)
        y_scale = {"zero": False, "nice": False, **_span([d["cagr"] for d in chart["data"]], MIN_CAGR_SPAN)}
        x = {"field": "size", "type": "quantitative", "title": "Size in the base year (USD bn)", "scale": x_scale}
        y = {"field": "cagr", "type": "quantitative", "title": "CAGR", "axis": {"format": ".1%"}, "scale": y_scale}
        # the largest points named beside them (all of them when there are few), moved up or down
        # where two names would overlap
        drawable = [d for d in chart["data"] if d["size"] and d["size"] > 0 and d["cagr"] is not None
                    and math.isfinite(d["cagr"])]  # a log axis has no place for a size of 0
        named = _placed_labels(sorted(drawable, key=lambda d: -d["size"])[:LABELLED_POINTS], x_scale, y_scale,
                               width, height)
        body = {"layer": [
            {"mark": {"type": "circle", "size": 70, "color": PALETTE[0]}, "encoding": {
                "x": x, "y": y, "tooltip": [_tip("member", "Member", "nominal"), _tip("size", "USD bn", fmt=",.2f"),
                                           _tip("cagr", "CAGR", fmt=".2%")]}},
            # the names are placed for ``width``: a page much narrower than that (a phone) would bring
            # them together again, so there they are left to the tooltips and the chart's text
            {"data": {"values": named}, "mark": {"type": "text", "align": "left", "dx": 6, "fontSize": 9, "color": "#333"},
             "encoding": {"x": x, "y": {**y, "field": "label_y"}, "text": {"field": "member", "type": "nominal"},
                          "opacity": {"condition": {"test": f"width < {round(NAMES_MIN_WIDTH * width)}", "value": 0},
                                      "value": 1}}},
        ]}
    elif kind == "bars":
        body = {"mark": {"type": "bar", "color": PALETTE[0]}, "encoding": {
            "y": {"field": "company", "type": "nominal", "title": None, "sort": "-x"},
            "x": {"field": "usd", "type": "quantitative", "title": "Attributable revenue (USD bn)"},
            "tooltip": [_tip("company", "Company", "nominal"), _tip("year", "Year", "ordinal"),
                        _tip("usd", "USD bn", fmt=",.2f")]}}
        height = max(height, 22 * len(chart["data"]))
    elif kind == "lines":
        body = {"mark": {"type": "line", "point": True}, "encoding": {
            "x": year, "y": {**usd, "scale": {"zero": False}},
            "color": {"field": "scenario", "type": "nominal", "title": None, "legend": legend,
                      "scale": {"domain": ["pessimistic", "base", "optimistic"], "range": [PALETTE[3], PALETTE[0], PALETTE[2]]}},
            "tooltip": [_tip("scenario", "Scenario", "nominal"), _tip("year", "Year", "ordinal"),
                        _tip("value", "USD bn", fmt=",.1f")]}}
    else:
        raise ValueError(f"unknown chart kind {kind!r}")
    # no title inside the chart: the renderers caption it (a title wider than a phone would widen the chart)
    return {"$schema": SCHEMA, "description": chart["alt"], "data": data, "width": width, "height": height, **body,
            # axis labels closer than 4 px count as overlapping, so that a narrow chart (a phone) drops
            # some rather than running them together
            "config": {"font": "Helvetica, Arial, sans-serif", "view": {"stroke": None}, "axis": {"labelSeparation": 4}}}


def _span(values: list[float | None], least: float) -> dict[str, list[float]]:
    """A scale domain around the values, at least ``least`` wide (centred on them when they are
    closer together than that); none when no value is a number."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return {}
    lo, hi = min(finite), max(finite)
    pad = max(least - (hi - lo), 0.0) / 2
    return {"domain": [lo - pad, hi + pad]}


LABEL_CHAR_PX = 5.2  # width of a character of the 9-pixel labels, roughly
LABEL_LINE_PX = 11  # height of one label line
LABEL_STEPS = (0, -1, 1, -2, 2, -3, 3)  # lines up (-) or down (+) a label may move to stay clear


def _placed_labels(points: list[dict[str, Any]], x_scale: dict[str, Any], y_scale: dict[str, Any], width: int,
                   height: int) -> list[dict[str, Any]]:
    """Each point with ``label_y``, where its name goes: at its own height if that is clear of the
    names already placed (largest points first), else the nearest clear line above or below, within
    the plot. Placed for a chart ``width`` pixels wide: the PDF draws it so; the HTML stretches the
    chart to its container, and below ``NAMES_MIN_WIDTH`` of this width hides the names (they would
    come together again)."""
    if "domain" not in x_scale or "domain" not in y_scale:
        return [{**p, "label_y": p["cagr"]} for p in points]
    (x0, x1), (y0, y1) = (math.log10(v) for v in x_scale["domain"]), y_scale["domain"]
    per_px = (y1 - y0) / height
    boxes: list[tuple[float, float, float, float]] = []
    out = []
    for p in points:
        left = (math.log10(p["size"]) - x0) / (x1 - x0) * width + 6
        right = left + LABEL_CHAR_PX * len(str(p["member"]))
        centre = (y1 - p["cagr"]) / per_px  # pixels from the top
        for step in LABEL_STEPS:
            top = centre + step * LABEL_LINE_PX - LABEL_LINE_PX / 2
            if all(right <= a or left >= b or top + LABEL_LINE_PX <= c or top >= d for a, b, c, d in boxes):
                break
        else:
            step = 0  # nowhere clear within three lines: its own height
            top = centre - LABEL_LINE_PX / 2
        boxes.append((left, right, top, top + LABEL_LINE_PX))
        # inside the plot, whatever the step
        out.append({**p, "label_y": min(max(p["cagr"] - step * LABEL_LINE_PX * per_px, y0), y1)})
    return out


def _svg(spec: dict[str, Any]) -> str:
    import vl_convert as vlc

    return vlc.vegalite_to_svg(spec)


def svgs(charts: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Static SVG of every chart (for the PDF), by chart id. One after the other: vl-convert runs
    one JavaScript engine, and threads made the CMO report's 13 charts slower (1.8 s against 1.1 s)."""
    return {k: _svg(vega_lite(c)) for k, c in charts.items()}


def warm_up() -> str:
    """Start vl-convert's JavaScript engine (its first drawing costs about 0.8 s); returns the SVG of
    the small chart it drew."""
    return _svg(vega_lite({"kind": "bars", "title": "", "alt": "", "data": [{"company": "a", "year": 2000, "usd": 1.0}]}))


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
