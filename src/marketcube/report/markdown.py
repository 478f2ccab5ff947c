"""The report as Markdown (GitHub-flavoured tables) from the document model.

Pack text is data: every piece of it goes through ``text``, which escapes what Markdown
or HTML would act on (``|`` would break a table, ``<script>`` would be markup, a backtick or an
asterisk would format, a line break would end a table row), so hostile text comes out as text.
Sizes are rounded to three significant digits for reading; report.json and the Parquet cube keep
full precision.
"""

from __future__ import annotations

import re
from typing import Any

from .fmt import PROVENANCE_NOTE, cell_text, column_label, fact_text, marker, source_line

__all__ = ["render_markdown", "text"]

_SPECIAL = re.compile(r"([\\`*_\[\]|~$])")  # what formats, links or splits a table cell anywhere
_LEADING = re.compile(r"^(\s*)([#>+-])")  # what starts a heading, quote or list at a line's start
_NUMBERED = re.compile(r"^(\s*\d+)([.)])")  # what starts a numbered list
_ENTITY_START = re.compile(r"&(?=#?\w+;)")  # an ampersand a Markdown renderer would read as an entity


def _html_inert(s: str) -> str:
    """Angle brackets as entities (no tag can open); an ampersand only where it would start an
    entity (``&lt;`` in pack text stays those four characters), so "Middle East & Africa" reads as
    written in the raw file."""
    return _ENTITY_START.sub("&amp;", s).replace("<", "&lt;").replace(">", "&gt;")


def text(s: object, line_start: bool = True) -> str:
    """Pack text as inert Markdown: HTML escaped (``<script>`` stays text), Markdown punctuation
    that would act backslashed, joined onto one line (a line break would end a table row). Text
    that cannot start a line (a table cell, the middle of a line) need not guard what only acts
    there (a heading's #, a list's 1.)."""
    raw = " ".join(str(s or "").split())
    out = _SPECIAL.sub(r"\\\1", _html_inert(raw))
    if not line_start:
        return out
    out = _LEADING.sub(lambda m: m.group(1) + "\\" + m.group(2), out)
    return _NUMBERED.sub(lambda m: m.group(1) + "\\" + m.group(2), out)


def _cell(cell: Any, kind: str) -> str:
    if isinstance(cell, dict):
        return " ".join(x for x in (cell_text(cell, kind), marker(cell)) if x)
    return text(cell_text(cell, kind), line_start=False) if kind == "text" else cell_text(cell, kind)


def _table(header: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> list[str]:
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out + [""]


def _block(d: dict[str, Any], b: dict[str, Any]) -> list[str]:
    kind = b["type"]
    if kind == "paragraph":
        return [text(b["text"]), ""]
    if kind == "heading":
        return [f"### {text(b['text'])}", ""]
    if kind == "list":
        return [f"- {text(x)}" for x in b["items"]] + [""]
    if kind == "statements":
        return [f"- {text(x['text'])}" for x in b["items"]] + [""]
    if kind == "facts":
        rows = []
        for f in b["items"]:
            value, detail = fact_text(f)
            mark = f" {marker(f['cell'])}" if "cell" in f and marker(f["cell"]) else ""
            rows.append([text(f["label"], False), text(value, False) + mark, text(detail, False)])
        return _table(["", "Value", "Detail"], rows)
    if kind == "chart":
        c = d["charts"][b["id"]]
        return [f"*Chart: {text(c['title'])}.* {text(c['alt'])}", ""]
    if kind == "table":
        t = d["tables"][b["id"]]
        cols = t["columns"]
        rows = []
        for r in t["rows"]:
            cells = [_cell(c, col["kind"]) for c, col in zip(r["cells"], cols)]
            if r["role"] in ("total", "group"):
                cells[0] = f"**{cells[0]}**"
            rows.append(cells)
        right = {i for i, col in enumerate(cols) if col["kind"] != "text"}
        out = [f"**{text(t['title'])}**", ""] + _table([text(column_label(c, t["title"]), False) for c in cols], rows, right)
        return out + ([f"*{text(t['note'])}*", ""] if t["note"] else [])
    raise ValueError(f"unknown block type {kind!r}")


def render_markdown(d: dict[str, Any]) -> str:
    years = d["years"]
    lines = [
        f"# {text(d['market']['title'])}: size, share and forecast {years['base_year']}–{years['study_end']}",
        "",
        f"marketcube report · {text(d['edition'])} · run {d['run_date']} · code {text(d['code_version'], False)} · inputs "
        f"`{d['inputs_hash'][:12]}` · market `{text(d['market']['id'])}`",
        "",
        f"{PROVENANCE_NOTE} Values in {d['unit']}.",
        "",
        "## Contents",
        "",
    ]
    lines += [f"{s['number']}. {text(s['title'])}" for s in d["sections"]] + [""]
    for s in d["sections"]:
        lines += [f"## {s['number']}. {text(s['title'])}", ""]
        for b in s["blocks"]:
            lines += _block(d, b)
    lines += ["## Sources", ""]
    lines += [f"- `{text(x['id'])}` " + text(source_line(x), False) for x in d["sources"]]
    return "\n".join(lines) + "\n"
