"""The report as Markdown (GitHub-flavoured tables) from the document model.

Pack text is data: every piece of it goes through ``text``, which escapes what Markdown
or HTML would act on (``|`` would break a table, ``<script>`` would be markup, a backtick or an
asterisk would format, a line break would end a table row), so hostile text comes out as text.
Sizes are rounded to three significant digits for reading; report.json and the Parquet cube keep
full precision.
"""

from __future__ import annotations

import html
import re
from typing import Any

from .fmt import MARK, fmt_bn, fmt_pct

__all__ = ["render_markdown", "text"]

_SPECIAL = re.compile(r"([\\`*_\[\]|~$])")  # what formats, links or splits a table cell anywhere
_LEADING = re.compile(r"^(\s*)([#>+-])")  # what starts a heading, quote or list at a line's start
_NUMBERED = re.compile(r"^(\s*\d+)([.)])")  # what starts a numbered list


def text(s: object) -> str:
    """Pack text as inert Markdown: HTML escaped (``<script>`` stays text), Markdown punctuation
    that would act backslashed, joined onto one line (a line break would end a table row)."""
    raw = " ".join(str(s or "").split())
    out = _SPECIAL.sub(r"\\\1", html.escape(raw, quote=False))
    out = _LEADING.sub(lambda m: m.group(1) + "\\" + m.group(2), out)
    return _NUMBERED.sub(lambda m: m.group(1) + "\\" + m.group(2), out)


def _num(value: float | None, provenance: str | None = None) -> str:
    mark = f" {MARK[provenance]}" if provenance in MARK else ""
    return f"{fmt_bn(value)}{mark}"


def _table(header: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> list[str]:
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out + [""]


def render_markdown(d: dict[str, Any]) -> str:
    years = d["years"]
    base, end = years["base_year"], years["study_end"]
    total = next(s for s in d["series"] if s["dimension"] is None)
    at = {p["year"]: p for p in total["values"]}
    h = d["headline"]
    lines = [
        f"# {text(d['market']['title'])}: size, shares and forecast {base}–{end}",
        "",
        f"marketcube report · code {text(d['code_version'])} · inputs `{d['inputs_hash'][:12]}` · market "
        f"`{text(d['market']['id'])}`",
        "",
        text(d["market"]["definition"]["text"]),
        "",
        f"Values in {d['unit']}. Every number carries its provenance: S sourced, D derived, M modelled, "
        "A assumed (the weakest input decides).",
        "",
        "## Snapshot",
        "",
    ]
    lines += _table(
        ["", "value", "80% interval"],
        [
            [f"Market size {base} (USD bn)", _num(h["total_base_year"], at[base]["provenance"]),
             f"{fmt_bn(at[base]['lo80'])}–{fmt_bn(at[base]['hi80'])}"],
            [f"Market size {end} (USD bn, forecast)", _num(h["total_study_end"], at[end]["provenance"]),
             f"{fmt_bn(at[end]['lo80'])}–{fmt_bn(at[end]['hi80'])}"],
            [f"CAGR {h['cagr']['from']}→{h['cagr']['to']} ({h['cagr']['periods']} compounding periods)",
             fmt_pct(h["cagr"]["value"]), f"{fmt_pct(h['cagr']['lo80'])} to {fmt_pct(h['cagr']['hi80'])}"],
        ],
        right={1},
    )
    lines += ["## 1. Market size by year", ""]
    rows = []
    for p in total["values"]:
        if p["year"] > end:
            continue
        kind = " (forecast)" if p["year"] > base else ""
        rows.append([f"{p['year']}{kind}", _num(p["value"], p["provenance"]), f"{fmt_bn(p['lo80'])}–{fmt_bn(p['hi80'])}",
                     f"{fmt_bn(p['lo95'])}–{fmt_bn(p['hi95'])}", p["provenance"]])
    lines += _table(["Year", "Total (USD bn)", "80% interval", "95% interval", "Provenance"], rows, right={1, 2, 3})
    lines += ["## 2. Segments", ""]
    names = {dim["id"]: dim["name"] for dim in d["dimensions"]}
    for dim_id, name in names.items():
        seg = [r for r in d["segments"] if r["dimension"] == dim_id]
        if not seg:
            continue
        lines += [f"### By {text(name).lower()}", ""]
        lines += _table(
            ["Member", f"{base} (USD bn)", f"Share {base}", f"{end} (USD bn)", f"Share {end}", "CAGR"],
            [[("**" + text(r["name"]) + "**") if r["is_aggregate"] else text(r["name"]), fmt_bn(r["base_value"]),
              fmt_pct(r["base_share"]), fmt_bn(r["end_value"]), fmt_pct(r["end_share"]), fmt_pct(r["cagr"])]
             for r in seg],
            right={1, 2, 3, 4, 5},
        )
    if d["narrative"]:
        lines += ["## 3. Trends, drivers and restraints (from the pack)", ""]
        for part in d["narrative"]:
            lines += [f"### {text(part['title'])}", ""]
            for para in part["paragraphs"]:
                lines += [text(para), ""]
    lines += ["## 4. Evidence and consistency audit", ""]
    lines += _table(
        ["Claim", "Source", "Quote", "Claimed", "Fitted", "z", "Verdict"],
        [[text(c["id"]), text(c["publisher"] or c["source"]), text(c["quote"]),
          "–" if c["claimed"] is None else f"{c['claimed']:.4g}", "–" if c["fitted"] is None else f"{c['fitted']:.4g}",
          "–" if c["residual_z"] is None else f"{c['residual_z']:.2f}", text(c["verdict"])]
         for c in d["claims"]],
        right={3, 4, 5},
    )
    if d["findings"]:
        lines += ["### Validation findings", ""]
        lines += _table(["Severity", "Code", "Message"],
                        [[text(f.get("severity")), text(f.get("code")), text(f.get("message"))] for f in d["findings"]])
    if d["sensitivity"]:
        lines += ["### Leave one source out", ""]
        lines += _table(["Source", "Publisher", "Claims", f"Total {base} without it (USD bn)", "Change"],
                        [[text(r["source"]), text(r["publisher"]), str(r["claims"]), fmt_bn(r["total_without_usd_bn"]),
                          fmt_pct(r["change"])] for r in d["sensitivity"]],
                        right={2, 3, 4})
    lines += ["## 5. Methodology", ""]
    for m in d["methodology"]:
        lines += [f"- **{text(m['stage'])}**: {text(m['text'])}"]
    lines += [""]
    return "\n".join(lines)
