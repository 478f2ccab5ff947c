"""The report's ten sections, as data every renderer reads the same way.

``build_sections(run)`` returns the part of the document model that the renderers lay out:

- ``sections``: the ten sections in the order of the report (snapshot ... appendix), each a list of
  blocks: ``paragraph`` (text), ``facts`` (label: value pairs), ``table`` and ``chart`` (by id),
  ``statements`` (sentences generated from the numbers, each saying whether the ranges support it),
  ``heading``, ``list`` (plain lines);
- ``tables``: every table once, with typed columns and cells; a numeric cell is
  ``{"v": value, "p": provenance}`` (sourced, derived, modelled, assumed) plus, for a market size,
  ``"at": {"selection": {...}, "year": y}``, and a ``"ref"`` naming the claim it equals or the
  inputs it comes from; each table lists the invariants it promises (``checks``: which rows add up to
  which, which columns are CAGRs of which) so that tests verify them on the published numbers;
- ``charts``: every chart once, as its data and kind; ``report.charts`` turns one into a Vega-Lite
  specification, drawn interactively in HTML and as SVG in the PDF.

Values are USD bn, nominal, calendar years; shares and growth rates are fractions. Statements about
which segment leads are read off the cube's joint draws: a leader is named only when it leads in at
least ``LEAD_PROBABILITY`` of the draws and its number does not rest on assumptions alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..analysis import cagr
from ..cube import PROVENANCE_ORDER, weakest
from .fmt import fmt_bn, fmt_pct, fmt_reported

if TYPE_CHECKING:
    from ..pipeline import Run

__all__ = ["build_sections", "SECTIONS", "LEAD_PROBABILITY", "SCENARIO_TAIL", "COLUMN_KINDS"]

SECTIONS = (
    ("snapshot", "Snapshot"),
    ("definition", "Market definition and scope"),
    ("size", "Market size and forecast"),
    ("segments", "Market by type, end-user, region and country"),
    ("competition", "Competitive landscape"),
    ("trends", "Trends, drivers, restraints and opportunities"),
    ("scenarios", "Scenarios"),
    ("audit", "Evidence and consistency audit"),
    ("methodology", "Methodology and assumptions"),
    ("appendix", "Appendix: full tables"),
)
LEAD_PROBABILITY = 0.9  # a segment "leads" when it does so in at least 90% of the joint draws
SCENARIO_TAIL = 0.1  # optimistic / pessimistic: the mean of the draws in the top / bottom 10% of the end-year total
# text: a string; year, count: integers; usd_bn: USD billions; share: fraction of a parent;
# rate: growth per year (fraction); z: a standardised residual; number: a plain number; hhi: 0-10,000;
# reported: a number as a source wrote it (every digit)
COLUMN_KINDS = ("text", "year", "count", "usd_bn", "share", "rate", "z", "number", "hhi", "reported")
STACK_LIMIT = 10  # more members than colours a reader can tell apart: no stacked chart (the table and bars remain)
THIN_RATIO_CLAIMS = 5  # a ratio between definitions estimated from fewer size claims is called weakly determined
REL_SOURCED = 1e-9  # a number within this relative distance of a claim's value is that claim's number


def _num(v: float | None, p: str, **extra: Any) -> dict[str, Any]:
    assert p in PROVENANCE_ORDER, p
    return {"v": None if v is None else float(v), "p": p, **extra}


@dataclass
class _Table:
    id: str
    title: str
    columns: list[dict[str, str]]
    rows: list[dict[str, Any]] = field(default_factory=list)
    sums: list[dict[str, Any]] = field(default_factory=list)  # parts rows add up to a total row, per column
    shares: list[dict[str, Any]] = field(default_factory=list)  # share columns of rows that add up to 1
    cagrs: list[dict[str, Any]] = field(default_factory=list)  # rate column = CAGR of two value columns
    column_sums: list[dict[str, Any]] = field(default_factory=list)  # part columns add up to a total column
    note: str = ""

    def row(self, cells: list, role: str = "", level: int = 0) -> int:
        assert len(cells) == len(self.columns), (self.id, len(cells), len(self.columns))
        self.rows.append({"cells": cells, "role": role, "level": level})
        return len(self.rows) - 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "title": self.title, "columns": self.columns, "rows": self.rows, "note": self.note,
            "checks": {"sums": self.sums, "column_sums": self.column_sums, "shares": self.shares, "cagrs": self.cagrs},
        }


def _col(key: str, label: str, kind: str, unit: str = "") -> dict[str, str]:
    assert kind in COLUMN_KINDS, kind
    return {"key": key, "label": label, "kind": kind, "unit": unit}


class _Builder:
    def __init__(self, run: Run) -> None:
        self.run = run
        self.m = run.market
        self.cube = run.cube
        self.a = run.analysis
        self.tables: dict[str, _Table] = {}
        self.charts: dict[str, dict[str, Any]] = {}
        self.base = self.m.years.base_year
        self.end = self.m.years.study_end
        self.years = [y for y in self.cube.years if y <= self.end]
        self.series = {s.selection: s for s in self.a.series}
        self.sourced = self._sourced_index()

    # ---- cells -------------------------------------------------------------------------------

    def _sourced_index(self) -> dict[tuple, list[tuple[float, str]]]:
        """Size claims under the target definition, in USD bn, by (selection, year)."""
        out: dict[tuple, list[tuple[float, str]]] = {}
        for item in self.run.evidence.items:
            c = item.claim
            if c.kind != "size" or c.definition != self.m.definition.id or c.member_as_written:
                continue
            if item.value_usd_bn is None or item.year is None:
                continue
            sel = tuple(sorted({**dict(c.parent), **dict(c.selection)}.items()))
            out.setdefault((sel, item.year), []).append((item.value_usd_bn, c.id))
        return out

    def size(self, selection: tuple, year: int, value: float | None = None) -> dict[str, Any]:
        """A market size cell: the cube's value (or ``value``) with its provenance; ``sourced`` when
        it equals a claim's number for the same selection and year."""
        sel = tuple(sorted(selection))
        p = self.series[sel].at(year) if sel in self.series else None
        v = p.value if value is None else value
        prov = p.provenance if p else self.cube.provenance(sel, year)
        ref = ""
        for claimed, claim_id in self.sourced.get((sel, year), []):
            if abs(claimed - v) <= REL_SOURCED * max(abs(claimed), 1e-12):
                prov, ref = "sourced", claim_id
                break
        extra = {"ref": ref} if ref else {}
        return _num(v, prov, at={"selection": dict(sel), "year": year}, **extra)

    def table(self, t: _Table) -> str:
        assert t.id not in self.tables, t.id
        self.tables[t.id] = t
        return t.id

    def chart(self, chart_id: str, kind: str, title: str, data: list[dict], alt: str) -> str:
        assert chart_id not in self.charts, chart_id
        self.charts[chart_id] = {"id": chart_id, "kind": kind, "title": title, "data": data, "alt": alt}
        return chart_id

    # ---- helpers ----------------------------------------------------------------------------------

    def draws(self, selections: list[tuple]) -> np.ndarray:
        """Joint draws of several selections: [draw, selection, year index in cube.years], USD bn."""
        _, d = self.cube.sums(self.cube.aggregation(selections))
        return d

    def leader(self, names: list[str], values: np.ndarray, draws: np.ndarray, provenance: list[str], what: str,
               largest_word: str, tie: float) -> dict[str, Any]:
        """A statement naming the member with the largest ``values`` if the draws and provenance
        support it, else saying the evidence cannot tell. Values within ``tie`` of each other (half
        the precision the report prints them at) are the same to the reader."""
        # values equal to 12 significant digits are a tie, broken by the members' order in the pack
        # (not by floating-point noise, which would make the statement flip between runs)
        scale = float(np.max(np.abs(values))) or 1.0
        order = np.argsort(-np.round(values / scale, 12), kind="stable")
        top = int(order[0])
        wins = np.mean(np.argmax(draws, axis=1) == top) if draws.size else 0.0
        second = int(order[1]) if len(order) > 1 else top
        basis = f"{names[top]} leads in {100 * wins:.0f}% of {draws.shape[0]} joint draws"
        if values[top] - values[second] < tie:
            text = (f"{what.capitalize()}: not distinguishable by the evidence; {names[top]} and {names[second]} are "
                    f"level on the central estimate (within the precision shown), and {names[top]} leads in "
                    f"{100 * wins:.0f}% of the joint draws.")
            return {"text": text, "supported": False, "basis": basis}
        if provenance[top] == "assumed":
            text = (f"{what.capitalize()}: {names[top]} on the numbers shown, but not distinguishable by the evidence: "
                    f"its value rests on assumed splits alone.")
            return {"text": text, "supported": False, "basis": basis}
        if wins < LEAD_PROBABILITY:
            text = (f"{what.capitalize()}: not distinguishable by the evidence; {names[top]} is {largest_word} on the "
                    f"central estimate, ahead of {names[second]}, but leads in only {100 * wins:.0f}% of the joint draws.")
            return {"text": text, "supported": False, "basis": basis}
        text = f"{what.capitalize()}: {names[top]} ({100 * wins:.0f}% of the joint draws agree)."
        return {"text": text, "supported": True, "basis": basis}


# ---- sections ---------------------------------------------------------------------------------------


def _size(b: _Builder) -> list[dict]:
    total = b.series[()]
    t = _Table("size", f"Market size {b.years[0]}–{b.end}, total (USD bn)", [
        _col("year", "Year", "year"), _col("kind", "Kind", "text"), _col("value", "Size", "usd_bn", "USD bn"),
        _col("lo80", "80% low", "usd_bn", "USD bn"), _col("hi80", "80% high", "usd_bn", "USD bn"),
        _col("lo95", "95% low", "usd_bn", "USD bn"), _col("hi95", "95% high", "usd_bn", "USD bn"),
        _col("yoy", "Growth on the year before", "rate", "%/yr"),
    ])
    prev = None
    for y in b.years:
        p = total.at(y)
        yoy = _num(cagr(prev.value, p.value, 1), weakest(prev.provenance, p.provenance)) if prev else _num(None, p.provenance)
        t.row([y, "history" if y <= b.base else "forecast", b.size((), y),
               _num(p.lo80, "modelled"), _num(p.hi80, "modelled"), _num(p.lo95, "modelled"), _num(p.hi95, "modelled"), yoy])
        prev = p
    t.cagrs = [{"column": "yoy", "value": "value", "consecutive": True}]
    t.note = ("Ranges are quantiles of the model's joint draws: for history years, the triangulation's uncertainty; "
              "for forecast years, the reconciled forecast paths. Growth is year on year.")
    bare = [y for y, n in b.run.history.total_size_claims.items() if n == 0]
    if bare:
        t.note += (f" No claim about the whole market's size in {_year_runs(bare)} kept more than half its weight in "
                   "the triangulation: those years rest on the evidence about other years and about segments, and on the "
                   "smooth-growth prior, hence their wider ranges.")
    data = [{"year": y, "kind": "history" if y <= b.base else "forecast", "value": total.at(y).value,
             "lo80": total.at(y).lo80, "hi80": total.at(y).hi80, "lo95": total.at(y).lo95, "hi95": total.at(y).hi95}
            for y in b.years]
    # the base year again as the forecast's first point, so that the two lines meet
    data.append({**next(x for x in data if x["year"] == b.base), "kind": "forecast"})
    h = b.a.headline
    alt = (f"Line chart of the market's total size, USD bn, {b.years[0]} to {b.end}, history to {b.base} and forecast "
           f"after, with 80% and 95% ranges: {fmt_bn(h.start_value)} in {b.base}, {fmt_bn(h.end_value)} in {b.end} "
           f"(80% range {fmt_bn(total.at(b.end).lo80)} to {fmt_bn(total.at(b.end).hi80)}).")
    b.chart("total", "band", f"Market size {b.years[0]}–{b.end} (USD bn) with 80% and 95% ranges", data, alt)
    return [
        {"type": "paragraph", "text": (
            f"The market was worth USD {fmt_bn(h.start_value)} bn in {b.base} (80% range {fmt_bn(total.at(b.base).lo80)}–"
            f"{fmt_bn(total.at(b.base).hi80)}) and is forecast at USD {fmt_bn(h.end_value)} bn in {b.end} (80% range "
            f"{fmt_bn(total.at(b.end).lo80)}–{fmt_bn(total.at(b.end).hi80)}), a compound annual growth rate of "
            f"{fmt_pct(h.cagr)} over {h.periods} compounding periods ({h.start_year}→{h.end_year}; 80% range "
            f"{fmt_pct(h.cagr_lo80)} to {fmt_pct(h.cagr_hi80)}).")},
        {"type": "chart", "id": "total"},
        {"type": "table", "id": b.table(t)},
    ]


def _year_runs(years: list[int]) -> str:
    """2017, 2018, 2019, 2022 -> "2017–2019 and 2022"."""
    runs: list[list[int]] = []
    for y in sorted(years):
        if runs and y == runs[-1][-1] + 1:
            runs[-1].append(y)
        else:
            runs.append([y])
    parts = [f"{r[0]}–{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _level_name(dim, top: bool) -> str:
    if any(m.iso2 for m in dim.members):
        return "region" if top else "country"
    return dim.name.lower() if top else f"{dim.name.lower()} (detail)"


def _segments(b: _Builder) -> tuple[list[dict], list[dict]]:
    """Section 4 blocks, and statements for section 6."""
    blocks: list[dict] = []
    statements: list[dict] = []
    nxt = b.base + 1
    periods = b.end - b.base
    for dim in b.m.dimensions:
        tops = dim.children(None)
        groups: list[tuple[str, list]] = [(_level_name(dim, True), [(m, None) for m in tops])]
        if any(dim.children(m.id) for m in tops):
            groups.append((_level_name(dim, False), [(m, dim.member(m.parent)) for m in dim.leaves if m.parent]))
        for level, members in groups:
            key = f"{dim.id}-{'top' if members[0][1] is None else 'detail'}"
            parented = members[0][1] is not None
            blocks.append({"type": "heading", "text": f"By {level}"})
            # value by year
            vt = _Table(f"{key}-years", f"By {level}: size by year (USD bn)",
                        [_col("member", level.capitalize(), "text")]
                        + [_col(str(y), str(y), "usd_bn", "USD bn") for y in b.years])
            share_t = _Table(f"{key}-shares", f"By {level}: share and growth", [
                _col("member", level.capitalize(), "text"),
                _col("base", f"{b.base}", "usd_bn", "USD bn"), _col("base_share", f"Share {b.base}", "share", "%"),
                _col("next", f"{nxt}", "usd_bn", "USD bn"), _col("yoy", f"Growth {nxt}", "rate", "%/yr"),
                _col("end", f"{b.end}", "usd_bn", "USD bn"), _col("end_share", f"Share {b.end}", "share", "%"),
                _col("cagr", f"CAGR {b.base}–{b.end}", "rate", "%/yr"),
            ])
            share_t.cagrs = [{"column": "yoy", "start": "base", "end": "next", "periods": 1},
                             {"column": "cagr", "start": "base", "end": "end", "periods": periods}]
            total_sel: tuple = ()
            part_rows: list[int] = []
            by_parent: dict[str | None, tuple[int, int, list[int], list[int]]] = {}
            ordered = members if not parented else [
                (m, p) for parent in tops for (m, p) in members if p is not None and p.id == parent.id
            ]
            last_parent = None
            for m, parent in ordered:
                if parented and (last_parent is None or parent.id != last_parent.id):
                    psel = ((dim.id, parent.id),)
                    vr = vt.row([parent.name] + [b.size(psel, y) for y in b.years], role="group")
                    sr = share_t.row(_share_cells(b, parent.name, psel, total_sel), role="group")
                    by_parent[parent.id] = (vr, sr, [], [])
                    last_parent = parent
                sel = ((dim.id, m.id),)
                vr = vt.row([m.name] + [b.size(sel, y) for y in b.years], role="part", level=1 if parented else 0)
                sr = share_t.row(_share_cells(b, m.name, sel, total_sel), role="part", level=1 if parented else 0)
                part_rows.append(sr)
                if parented:
                    by_parent[parent.id][2].append(vr)
                    by_parent[parent.id][3].append(sr)
            tv = vt.row(["Total"] + [b.size((), y) for y in b.years], role="total")
            ts = share_t.row(_share_cells(b, "Total", (), ()), role="total")
            year_cols = [str(y) for y in b.years]
            if parented:
                for vr, sr, vparts, sparts in by_parent.values():
                    vt.sums.append({"total": vr, "parts": vparts, "columns": year_cols})
                    share_t.sums.append({"total": sr, "parts": sparts, "columns": ["base", "next", "end"]})
                groups_v = [v[0] for v in by_parent.values()]
                vt.sums.append({"total": tv, "parts": groups_v, "columns": year_cols})
                share_t.sums.append({"total": ts, "parts": part_rows, "columns": ["base", "next", "end"]})
            else:
                vt.sums.append({"total": tv, "parts": [r for r in range(len(vt.rows)) if vt.rows[r]["role"] == "part"],
                                "columns": year_cols})
                share_t.sums.append({"total": ts, "parts": part_rows, "columns": ["base", "next", "end"]})
            share_t.shares = [{"rows": part_rows, "columns": ["base_share", "end_share"]}]
            share_t.note = ("Shares are of the whole market. Growth and CAGR are computed from the values in this table. "
                            "A value marked assumed rests on the pack's assumed splits alone (section 9).")
            blocks.append({"type": "table", "id": b.table(vt)})
            blocks.append({"type": "table", "id": b.table(share_t)})
            # charts: stacked size over time, shares base vs end, growth vs size
            names = [m.name for m, _ in ordered]
            sels = [((dim.id, m.id),) for m, _ in ordered]
            area = [{"member": n, "year": y, "value": b.series[s].at(y).value, "kind": "history" if y <= b.base else "forecast"}
                    for n, s in zip(names, sels) for y in b.years]
            top_value = max(b.series[s].at(b.base).value for s in sels) or 1.0
            big = sorted(zip(names, sels), key=lambda x: -round(b.series[x[1]].at(b.base).value / top_value, 12))
            if 2 <= len(sels) <= STACK_LIMIT:
                b.chart(f"{key}-area", "stacked", f"By {level}: size by year (USD bn)", area,
                        f"Stacked chart of the market by {level}, USD bn, {b.years[0]}–{b.end}; largest in {b.base}: "
                        + ", ".join(f"{n} {fmt_bn(b.series[s].at(b.base).value)}" for n, s in big[:5]) + ".")
                blocks.append({"type": "chart", "id": f"{key}-area"})
            shares = [{"member": n, "year": str(y), "share": b.series[s].at(y).value / b.series[()].at(y).value}
                      for n, s in zip(names, sels) for y in (b.base, b.end)]
            if len(sels) >= 2:
                b.chart(f"{key}-share", "share_bars", f"By {level}: share of the market, {b.base} and {b.end}", shares,
                        f"Bar chart of each {level}'s share of the market in {b.base} and {b.end}: "
                        + ", ".join(f"{n} {fmt_pct(b.series[s].at(b.base).value / b.series[()].at(b.base).value)}"
                                    for n, s in big[:5]) + f" in {b.base}.")
                blocks.append({"type": "chart", "id": f"{key}-share"})
            values_base = np.array([b.series[s].at(b.base).value for s in sels])
            values_end = np.array([b.series[s].at(b.end).value for s in sels])
            growth = cagr(np.maximum(values_base, 1e-300), values_end, periods)
            if len(sels) > 4:
                points = [{"member": n, "size": float(v), "cagr": float(g)} for n, v, g in zip(names, values_base, growth)]
                b.chart(f"{key}-growth", "growth_size", f"By {level}: growth {b.base}–{b.end} against size in {b.base}",
                        points, f"Scatter chart of each {level}'s CAGR {b.base}–{b.end} against its size in {b.base} (USD bn); "
                        f"CAGRs range from {fmt_pct(float(growth.min()))} to {fmt_pct(float(growth.max()))}.")
                blocks.append({"type": "chart", "id": f"{key}-growth"})
            if len(sels) < 2:
                continue  # one member: nothing to compare
            # statements from the joint draws
            d = b.draws(sels)
            i0, i1 = b.cube.year_index(b.base), b.cube.year_index(b.end)
            start = np.maximum(d[:, :, i0], 1e-300)
            g_draws = (d[:, :, i1] / start) ** (1.0 / periods) - 1.0
            prov_end = [weakest(b.series[s].at(b.base).provenance, b.series[s].at(b.end).provenance) for s in sels]
            statements.append(b.leader(names, growth, g_draws, prov_end, f"fastest-growing {level} {b.base}–{b.end}",
                                       "fastest", tie=0.0005))
            statements.append(b.leader(names, values_base, d[:, :, i0], [b.series[s].at(b.base).provenance for s in sels],
                                       f"largest {level} in {b.base}", "largest", tie=0.0005 * float(values_base.max())))
    return blocks, statements


def _share_cells(b: _Builder, name: str, sel: tuple, total_sel: tuple) -> list:
    nxt = b.base + 1
    v0, v1, v2 = (b.series[tuple(sorted(sel))].at(y) for y in (b.base, nxt, b.end))
    t0, t2 = b.series[total_sel].at(b.base), b.series[total_sel].at(b.end)
    periods = b.end - b.base

    def share(v, t):
        return _num(v.value / t.value if t.value > 0 else None, weakest(v.provenance, t.provenance))

    def growth(a, z, n):
        return _num(float(cagr(a.value, z.value, n)) if a.value > 0 else None, weakest(a.provenance, z.provenance))

    return [name, b.size(sel, b.base), share(v0, t0), b.size(sel, nxt), growth(v0, v1, 1),
            b.size(sel, b.end), share(v2, t2), growth(v0, v2, periods)]


def _competition(b: _Builder) -> tuple[list[dict], dict[str, Any]]:
    attribution = {x.company: x for x in b.m.assumptions.attributions}
    conf_rank = {"high": 0, "medium": 1, "low": 2}
    latest: dict[str, Any] = {}
    for item in b.run.evidence.items:
        c = item.claim
        if c.kind != "revenue" or item.value_usd_bn is None or item.year is None or item.year not in b.cube.years:
            continue
        key = (item.year, -conf_rank.get(c.confidence, 3), c.id)
        if c.company not in latest or key > latest[c.company][0]:
            latest[c.company] = (key, item)
    def attributable_usd(it) -> float:
        a = attribution.get(it.claim.company)
        return it.value_usd_bn * (a.share if a else 1.0)

    # ranked by the revenue that belongs to this market, not by group revenue
    rows = sorted((it for _, it in latest.values()), key=lambda it: (-attributable_usd(it), it.claim.company))
    t = _Table("companies", "Named companies: latest revenue and implied share", [
        _col("rank", "Rank", "count"), _col("company", "Company", "text"), _col("year", "Year", "year"),
        _col("reported", "Revenue as reported", "reported"), _col("unit", "Unit", "text"),
        _col("usd", "Revenue", "usd_bn", "USD bn"), _col("attr", "In this market", "share", "%"),
        _col("attributable", "Attributable revenue", "usd_bn", "USD bn"),
        _col("market", "Market that year", "usd_bn", "USD bn"), _col("share", "Implied share", "share", "%"),
        _col("treatment", "FX and fiscal year", "text"), _col("claim", "Claim", "text"),
    ])
    shares = []
    for rank, it in enumerate(rows, 1):
        c = it.claim
        a = attribution.get(c.company)
        frac = a.share if a else 1.0
        usd_p = "sourced" if c.unit == "USD bn" else "derived"
        attr_p = "assumed" if a else "derived"
        attributable = it.value_usd_bn * frac
        market = b.size((), it.year)
        share = attributable / market["v"]
        shares.append(share)
        t.row([rank, c.company, it.year, _num(c.value, "sourced", ref=c.id), c.unit,
               _num(it.value_usd_bn, usd_p, ref=c.id), _num(frac, attr_p, ref=a.id if a else ""),
               _num(attributable, weakest(usd_p, attr_p)), market,
               _num(share, weakest(usd_p, attr_p, market["p"])),
               it.conversion or "reported in USD, calendar year", c.id])
    s = np.sort(np.array(shares))[::-1]
    cr4 = float(s[:4].sum()) if len(s) else None
    hhi = float(np.sum((100 * s) ** 2)) if len(s) else None
    conc_p = weakest(*(r["cells"][9]["p"] for r in t.rows)) if t.rows else "modelled"
    years = sorted({it.year for it in rows})
    span = f"{years[0]}–{years[-1]}" if len(years) > 1 else (str(years[0]) if years else "")
    t.note = ("Revenue is converted to USD at the annual average rate of its calendar year; a fiscal year that does not "
              "end in December is calendarised (section 9). Only the part of each company's revenue that belongs to this "
              "market counts (an assumption per company, section 9); without one, all of it counts. Ranked by that "
              f"attributable revenue. Each company's latest year is used, so the shares come from different years ({span})."
              if rows else "")
    data = [{"company": r["cells"][1], "year": r["cells"][2], "usd": r["cells"][7]["v"]} for r in t.rows]
    if data:
        b.chart("companies", "bars", "Named companies: attributable revenue (USD bn, latest year)", data,
                "Bar chart of the named companies' attributable revenue in their latest year, USD bn: "
                + ", ".join(f"{d['company']} {fmt_bn(d['usd'])} ({d['year']})" for d in data[:6]) + ".")
    conc = {"cr4": _num(cr4, conc_p), "hhi": _num(hhi, conc_p), "companies": len(rows),
            "players": [r["cells"][1] for r in t.rows[:5]]}
    if not rows:
        return [{"type": "paragraph", "text": "No company revenue is in the evidence: the pack names no firms, so this "
                 "report cannot say how concentrated the market is."}], conc
    blocks = [
        {"type": "paragraph", "text": (
            f"{len(rows)} companies are named in the evidence with revenue figures ({span}). Their implied shares are "
            "their attributable revenue over the modelled market of the same year. CR4 (the four largest shares) and HHI "
            "(the sum of squared shares, 0–10,000) count only these named firms, so both are lower bounds on the "
            "market's real concentration.")},
        {"type": "facts", "items": [
            {"label": "CR4 of the named firms (lower bound)", "cell": conc["cr4"], "kind": "share"},
            {"label": "HHI of the named firms (lower bound)", "cell": conc["hhi"], "kind": "hhi"},
        ]},
        {"type": "table", "id": b.table(t)},
        {"type": "chart", "id": "companies"},
    ]
    return blocks, conc


def _disagreement(b: _Builder) -> dict[str, Any] | None:
    """The year where size claims about the whole market, in target terms, spread the most."""
    ratios = {b.m.definition.id: 1.0, **b.run.history.ratios}
    by_year: dict[int, list[tuple[float, str, str]]] = {}
    for item in b.run.evidence.items:
        c = item.claim
        if (c.kind != "size" or c.selection or c.parent or c.member_as_written or item.value_usd_bn is None
                or c.definition not in ratios):
            continue
        pub = b.m.sources[c.source].publisher if c.source in b.m.sources else c.source or "?"
        by_year.setdefault(item.year, []).append((item.value_usd_bn / ratios[c.definition], c.id, pub))
    best = None
    for y, xs in by_year.items():
        if len(xs) < 2:
            continue
        lo, hi = min(xs), max(xs)
        spread = hi[0] / lo[0]
        if best is None or spread > best[0]:
            best = (spread, y, lo, hi, len(xs))
    if best is None:
        return None
    spread, y, lo, hi, n = best
    return {"text": (f"Sources disagree most about {y}: {n} estimates of the whole market, put in the target definition's "
                     f"terms with the estimated ratios, range from USD {fmt_bn(lo[0])} bn ({lo[2]}, {lo[1]}) to USD "
                     f"{fmt_bn(hi[0])} bn ({hi[2]}, {hi[1]}), a factor of {spread:.2f}."),
            "supported": True, "basis": f"{n} size claims about {y}"}


def _scenarios(b: _Builder) -> list[dict]:
    """Base: the reconciled forecast. Optimistic and pessimistic: the joint draws whose growth of the
    total from the base year to the end year lies in the top or bottom SCENARIO_TAIL, each scaled to
    the central base-year total (so a scenario differs in growth, not in where it starts), then
    averaged; scaling and averaging keep a draw's parts adding up, so every scenario's segments add
    up to its total in every year. The history is the central estimate in all three."""
    cube = b.cube
    i_base, i_end = cube.year_index(b.base), cube.year_index(b.end)
    fyears = [y for y in b.years if y > b.base]
    fi = [cube.year_index(y) for y in fyears]
    base_total = b.series[()].at(b.base).value
    start = cube.draws[:, i_base, :].sum(axis=1)
    growth = cube.draws[:, i_end, :].sum(axis=1) / np.maximum(start, 1e-300)
    lo_cut, hi_cut = np.quantile(growth, [SCENARIO_TAIL, 1 - SCENARIO_TAIL])
    pick = {"optimistic": growth >= hi_cut, "pessimistic": growth <= lo_cut}
    leaves = {"base": cube.value[fi]}
    for name, mask in pick.items():
        scale = base_total / np.maximum(start[mask], 1e-300)
        leaves[name] = (cube.draws[mask][:, fi, :] * scale[:, None, None]).mean(axis=0)
    geo = [d for d in b.m.dimensions if any(m.iso2 for m in d.members)]
    tops = (geo or list(b.m.dimensions))[-1]
    regions = tops.children(None)
    level = _level_name(tops, True)
    S = cube.aggregation([()] + [((tops.id, r.id),) for r in regions])
    t = _Table("scenarios", f"Scenarios: the total by year, and by {level} in {b.end} (USD bn)",
               [_col("scenario", "Scenario", "text")] + [_col(str(y), f"Total {y}", "usd_bn", "USD bn") for y in fyears]
               + [_col("cagr", f"CAGR {b.base}–{b.end}", "rate", "%/yr")]
               + [_col(r.id, f"{r.name} {b.end}", "usd_bn", "USD bn") for r in regions])
    data = []
    for name in ("pessimistic", "base", "optimistic"):
        sums = np.asarray(S @ leaves[name].T)  # [selection, forecast year]
        g = float(cagr(base_total, sums[0, -1], b.end - b.base))
        t.row([name] + [_num(v, "modelled") for v in sums[0]] + [_num(g, "modelled")]
              + [_num(v, "modelled") for v in sums[1:, -1]])
        data += [{"scenario": name, "year": b.base, "value": base_total}] + [
            {"scenario": name, "year": y, "value": float(v)} for y, v in zip(fyears, sums[0])]
    n_tail = int(pick["optimistic"].sum())
    t.column_sums = [{"rows": [0, 1, 2], "total": str(b.end), "parts": [r.id for r in regions]}]
    t.note = (f"Base: the reconciled forecast. Optimistic and pessimistic: the {n_tail} (of {len(growth)}) joint draws "
              f"whose total grows the most or the least from {b.base} to {b.end} (top or bottom "
              f"{100 * SCENARIO_TAIL:.0f}%), each scaled to the central {b.base} total, then averaged. Every draw adds up, "
              f"so each scenario's segments add up to its total in every year. CAGRs run from the {b.base} estimate, "
              f"USD {fmt_bn(base_total)} bn.")
    b.chart("scenarios", "lines", f"Scenarios: total market {b.base}–{b.end} (USD bn)", data,
            "Line chart of the total market in three scenarios, USD bn: "
            + ", ".join(f"{r['cells'][0]} {fmt_bn(r['cells'][len(fyears)]['v'])} in {b.end}" for r in t.rows) + ".")
    return [
        {"type": "chart", "id": "scenarios"},
        {"type": "table", "id": b.table(t)},
    ]


def _audit(b: _Builder, document: dict[str, Any]) -> list[dict]:
    t = _Table("claims", "Every claim, judged", [
        _col("claim", "Claim", "text"), _col("verdict", "Verdict", "text"), _col("kind", "Kind", "text"),
        _col("source", "Source", "text"), _col("says", "Says", "text"), _col("claimed", "Claimed", "number"),
        _col("fitted", "Model", "number"), _col("z", "z", "z"), _col("how", "How judged", "text"),
        _col("quote", "Quote", "text"),
    ])
    for c in document["claims"]:
        k = "rate" if c["kind"] in ("share", "growth") else "usd_bn"
        says = " ".join(x for x in [
            f"{fmt_reported(c['value'])} {c['unit']}".strip() if c["value"] is not None else "", c["member_as_written"] or "",
            str(c["year"]) if c["year"] else "",
            f"{c['period'][0] or '?'}–{c['period'][1] or '?'}" if (c["period"][0] or c["period"][1]) else "",
        ] if x)
        t.row([c["id"], c["verdict"], c["kind"], f"{c['publisher'] or '(no source)'}" + (f" ({c['vintage']})" if c["vintage"] else ""),
               says, _num(c["claimed"], "sourced" if c["kind"] in ("share", "growth") or c["unit"] == "USD bn" else "derived",
                          ref=c["id"], k=k),
               _num(c["fitted"], "modelled", k=k), _num(c["residual_z"], "modelled"), c["verdict_note"] or "", c["quote"]])
    spread = sorted(v for v in document["dispersion"].values() if v)
    t.note = ("Claimed: the claim's number after FX conversion, in its own terms (USD bn under the claim's own definition, "
              "or a share or growth rate). Model: the model's value in the same terms (a related definition's size through "
              "the estimated ratio of section 2; a size as its publisher would state it, with the bias the solver "
              "estimated for that publisher's sizes). z: the claim's standardised residual; the verdict compares |z| divided by "
              f"the residual dispersion of its kind ({spread[0]:.2f}–{spread[-1]:.2f}) with 2 and 3: up to 2 consistent, "
              "2–3 in tension, above 3 contradicted." if spread else
              "z: the claim's standardised residual; |z| up to 2 consistent, 2–3 in tension, above 3 contradicted.")
    f = _Table("findings", "Validation findings", [
        _col("severity", "Severity", "text"), _col("code", "Code", "text"), _col("message", "Finding", "text"),
        _col("where", "Where", "text"), _col("quotes", "Quoted", "text")])
    for x in document["findings"]:
        f.row([x["severity"], x["code"], x["message"], " ".join([x["location"], *x["claims"]]),
               " / ".join(f"“{q}”" for q in x["quotes"])])
    s = _Table("sensitivity", f"Sensitivity: the {b.base} total with each source left out", [
        _col("source", "Source left out", "text"), _col("claims", "Claims", "count"),
        _col("without", f"{b.base} total without it", "usd_bn", "USD bn"), _col("change", "Change", "rate", "%")])
    for r in document["sensitivity"]:
        s.row([f"{r['publisher']} ({r['source']})", r["claims"], _num(r["total_without_usd_bn"], "modelled"),
               _num(r["change"], "modelled")])
    verdicts: dict[str, int] = {}
    for c in document["claims"]:
        verdicts[c["verdict"]] = verdicts.get(c["verdict"], 0) + 1
    counts = ", ".join(f"{n} {k}" for k, n in sorted(verdicts.items()))
    return [
        {"type": "paragraph", "text": f"{len(document['claims'])} claims from {len(document['sources'])} sources: {counts}."},
        {"type": "table", "id": b.table(t)},
        {"type": "heading", "text": "Validation findings"},
        {"type": "table", "id": b.table(f)},
        {"type": "heading", "text": "Leave-one-source-out sensitivity"},
        {"type": "table", "id": b.table(s)},
    ]


def _definition(b: _Builder, document: dict[str, Any]) -> list[dict]:
    t = _Table("ratios", "Related definitions: size relative to the target, estimated", [
        _col("definition", "Definition", "text"), _col("relation", "Relation", "text"),
        _col("estimate", "Estimated ratio", "number"), _col("stated", "Stated in the pack", "number"),
        _col("claims", "Size claims", "count")])
    relation = {d.id: d.relation for d in b.m.definitions}
    for r in document["ratios"]:
        t.row([r["name"], relation.get(r["definition"], ""), _num(r["estimate"], "modelled"),
               _num(r["stated"], "assumed") if r["stated"] is not None else _num(None, "assumed"), r["size_claims"]])
    t.note = ("A ratio is the size under that definition divided by the size under the target definition, estimated by "
              "the solver from every size claim; a ratio stated in the pack is the estimate's prior.")
    d = b.m.definition
    blocks = [
        {"type": "paragraph", "text": f"{d.name}: {d.text}"},
        {"type": "list", "items": [f"{x.name}: {x.relation}" for x in b.m.definitions]},
        {"type": "table", "id": b.table(t)},
    ]
    ordered = sorted(document["ratios"], key=lambda r: r["estimate"])
    thin = [r for r in ordered if r["size_claims"] < THIN_RATIO_CLAIMS]
    if ordered:
        text = ("From narrowest to widest by the estimates: " + ", ".join(
            f"{r['name']} {r['estimate']:.2f}" for r in ordered) + f" (the target is 1). ")
        if thin:
            text += (", ".join(f"{r['name']} ({r['size_claims']} size claim{'s' if r['size_claims'] != 1 else ''})"
                               for r in thin)
                     + f" rest{'s' if len(thin) == 1 else ''} on fewer than {THIN_RATIO_CLAIMS} size claims: such a ratio "
                     "is weakly determined and can contradict how the definitions nest (a wider definition estimated "
                     "smaller than a narrower one); the solver does not impose the nesting.")
        blocks.append({"type": "paragraph", "text": text})
    return blocks


def _methodology(b: _Builder, document: dict[str, Any]) -> list[dict]:
    t = _Table("assumptions", "Assumptions", [
        _col("id", "Assumption", "text"), _col("what", "What", "text"), _col("uncertainty", "Uncertainty (sd)", "share"),
        _col("rationale", "Rationale", "text")])
    a = document["assumptions"]
    member_name = {(d.id, m.id): m.name for d in b.m.dimensions for m in d.members}
    dim_name = {d.id: d.name.lower() for d in b.m.dimensions}
    definition_name = {d.id: d.name for d in b.m.all_definitions}
    for s in a["splits"]:
        parent = member_name.get((s["dimension"], s["parent"]), s["parent"]) if s["parent"] else "the market"
        what = f"split of {parent} by {dim_name.get(s['dimension'], s['dimension'])}: " + ", ".join(
            f"{member_name.get((s['dimension'], k), k)} {fmt_pct(v, 0)}" for k, v in s["shares"].items())
        t.row([s["id"], what + " (sd in share points)", _num(s["uncertainty"], "assumed"), s["rationale"]])
    for r in a["ratios"]:
        t.row([r["id"], f"{definition_name.get(r['definition'], r['definition'])} = {r['ratio']:g} × the target "
               "(sd relative)", _num(r["uncertainty"], "assumed"), r["rationale"]])
    for x in a["attributions"]:
        t.row([x["id"], f"{fmt_pct(x['share'], 0)} of {x['company']}'s revenue is in the market (sd in share points)",
               _num(x["uncertainty"], "assumed"), x["rationale"]])
    names = {d.id: d.name for d in b.m.all_definitions}
    counts: dict[str, int] = {}
    for c in b.m.claims:
        counts[c.label] = counts.get(c.label, 0) + 1
    labels = _Table("labels", "Definitions: every market label the sources use, and the definition it maps to", [
        _col("label", "Label as written", "text"), _col("definition", "Definition", "text"), _col("claims", "Claims", "count")])
    for label, definition in sorted(b.m.labels.items()):
        labels.row([label, names.get(definition, definition), counts.get(label, 0)])
    labels.note = (f"The target definition is {b.m.definition.name}; claims under the others inform it through the "
                   "estimated ratios of section 2, never as if they measured the same thing.")
    return [
        {"type": "list", "items": [f"{m['stage'].capitalize()}: {m['text']}" for m in document["methodology"]]},
        {"type": "table", "id": b.table(labels)},
        {"type": "table", "id": b.table(t)},
    ]


def _appendix(b: _Builder) -> list[dict]:
    t = _Table("all-series", f"Every series of the cube, {b.years[0]}–{b.end} (USD bn)",
               [_col("series", "Series", "text"), _col("dimension", "Dimension", "text")]
               + [_col(str(y), str(y), "usd_bn", "USD bn") for y in b.years])
    r80 = _Table("all-ranges", f"Every series: 80% and 95% ranges in {b.base} and {b.end} (USD bn)",
                 [_col("series", "Series", "text")] + [
                     _col(f"{k}_{y}", f"{y} {k[:2]}{k[2:]}", "usd_bn", "USD bn")
                     for y in (b.base, b.end) for k in ("lo80", "hi80", "lo95", "hi95")])
    dims = {d.id: d.name for d in b.m.dimensions}
    for s in b.a.series:
        t.row([s.name, dims.get(s.dimension, "") if s.dimension else "", *(b.size(s.selection, y) for y in b.years)],
              role="total" if not s.selection else ("group" if s.is_aggregate else "part"))
        r80.row([s.name] + [_num(getattr(s.at(y), k), "modelled") for y in (b.base, b.end)
                            for k in ("lo80", "hi80", "lo95", "hi95")])
    return [{"type": "table", "id": b.table(t)}, {"type": "table", "id": b.table(r80)}]


def _snapshot(b: _Builder, region_stmts: dict[str, dict], region_level: str, conc: dict[str, Any]) -> list[dict]:
    h = b.a.headline
    total = b.series[()]
    items = [
        {"label": "Study period", "text": f"{b.years[0]}–{b.end}"},
        {"label": "Base year", "text": str(b.base)},
        {"label": "Forecast period", "text": f"{b.base + 1}–{b.end}"},
        {"label": f"Market size {b.base} (USD bn)", "cell": b.size((), b.base), "kind": "usd_bn",
         "range": [total.at(b.base).lo80, total.at(b.base).hi80]},
        {"label": f"Market size {b.end} (USD bn, forecast)", "cell": b.size((), b.end), "kind": "usd_bn",
         "range": [total.at(b.end).lo80, total.at(b.end).hi80]},
        {"label": f"CAGR {h.start_year}→{h.end_year}", "cell": _num(h.cagr, "modelled"), "kind": "rate",
         "range": [h.cagr_lo80, h.cagr_hi80],
         "note": f"compound, over {h.periods} periods from the {h.start_year} value to the {h.end_year} value"},
    ]
    for key, label in (("largest", "Largest"), ("fastest", "Fastest-growing")):
        if key in region_stmts:
            items.append({"label": f"{label} {region_level}", "text": region_stmts[key]["short"]})
    if conc["companies"]:
        items += [
            {"label": "Concentration of the named firms (lower bound)", "cell": conc["cr4"], "kind": "share",
             "note": f"CR4; HHI {conc['hhi']['v']:,.0f}"},
            {"label": "Key players (attributable revenue, latest year)", "text": ", ".join(conc["players"])},
        ]
    else:
        items.append({"label": "Key players", "text": "none named in the evidence"})
    return [{"type": "facts", "items": items}]


def _short(statement: dict[str, Any]) -> str:
    text = statement["text"].split(": ", 1)[1]
    return text if statement["supported"] else "not distinguishable by the evidence"


def build_sections(run: Run, document: dict[str, Any]) -> dict[str, Any]:
    """The sections, tables and charts of the report (see the module docstring)."""
    b = _Builder(run)
    size = _size(b)
    segments, statements = _segments(b)
    geo = [d for d in b.m.dimensions if any(m.iso2 for m in d.members)]
    region_level = _level_name(geo[0], True) if geo else _level_name(b.m.dimensions[-1], True)
    region = {key: st for key, prefix in (("fastest", f"fastest-growing {region_level} "), ("largest", f"largest {region_level} "))
              for st in statements if st["text"].lower().startswith(prefix)}
    for s in region.values():
        s["short"] = _short(s)
    competition, conc = _competition(b)
    disagreement = _disagreement(b)
    if disagreement:
        statements.append(disagreement)
    scenarios = _scenarios(b)
    trends: list[dict] = [{"type": "heading", "text": "What the numbers say"}, {"type": "statements", "items": statements}]
    for n in run.market.narrative:
        trends.append({"type": "heading", "text": n.title})
        trends += [{"type": "paragraph", "text": p} for p in n.paragraphs]
    blocks = {
        "snapshot": _snapshot(b, region, region_level, conc),
        "definition": _definition(b, document),
        "size": size,
        "segments": segments,
        "competition": competition,
        "trends": trends,
        "scenarios": scenarios,
        "audit": _audit(b, document),
        "methodology": _methodology(b, document),
        "appendix": _appendix(b),
    }
    sections = [{"id": sid, "number": i, "title": title, "blocks": blocks[sid]}
                for i, (sid, title) in enumerate(SECTIONS, 1)]
    return {
        "sections": sections,
        "tables": {k: t.to_dict() for k, t in b.tables.items()},
        "charts": b.charts,
        "statements": statements,
        "concentration": {"cr4": conc["cr4"], "hhi": conc["hhi"], "companies": conc["companies"]},
    }
