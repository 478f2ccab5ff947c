"""One self-contained HTML file from the document model (jinja2 with autoescaping: pack text is data).

Charts are the document's Vega-Lite specifications drawn by vega-embed, whose code is inlined
(``charts.javascript_bundle``), so the page makes no request to any other host; tables sort when a
header is clicked; every number carries its provenance marker with a tooltip.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from .charts import javascript_bundle, vega_lite
from .fmt import MARK, PROVENANCE_NOTE, cell_text, column_label, fact_text, marker, source_line

__all__ = ["render_html"]


def _mark(cell: dict[str, Any]) -> Markup:
    """The provenance marker of a number, its tooltip naming the claim or inputs when known; none
    for a missing number."""
    letter = marker(cell)
    if not letter:
        return Markup("")
    ref = f" ({cell['ref']})" if cell.get("ref") else ""
    return Markup('<sup class="p" title="{}">{}</sup>').format(cell["p"] + ref, letter)


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
    env.globals.update(MARK=MARK, PROVENANCE_NOTE=PROVENANCE_NOTE, cell_text=cell_text, fact=fact_text, mark=_mark,
                       column_label=column_label, source_line=source_line)
    return env


def _script_json(value: Any) -> Markup:
    """JSON safe inside a <script> element: no '<' survives, so no '</script>' can end it early."""
    return Markup(json.dumps(value, ensure_ascii=False, allow_nan=False).replace("<", "\\u003c"))


def render_html(document: dict[str, Any]) -> str:
    specs = {}
    for cid, chart in document["charts"].items():
        spec = vega_lite(chart)
        spec["width"] = "container"  # the chart follows its column, from a phone to a wide screen
        spec["autosize"] = {"type": "fit-x", "contains": "padding"}
        specs[cid] = spec
    bundle = javascript_bundle()
    if re.search(r"</script", bundle, re.IGNORECASE):
        raise RuntimeError("the Vega bundle contains '</script' and cannot be inlined as it is")
    return _env().get_template("report.html.j2").render(d=document, specs=_script_json(specs), bundle=Markup(bundle))
