"""Load a market pack folder into a typed ``Market``; every problem is a ``PackError``.

Files (see docs/market-pack.md): market.yaml, sources.csv, claims.csv, fx.csv (required);
companies.csv, structure.csv, assumptions.yaml, narrative.md (optional).
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path
from typing import Any

from ..errors import DuplicateId, PackFileMissing, PackValueError, UnknownReference
from ._files import LineDict, Row, line_of, need, parse_float, parse_int, read_csv, read_text, read_yaml
from .model import (
    CONFIDENCES,
    Assumptions,
    Attribution,
    Claim,
    Definition,
    Dimension,
    Market,
    Member,
    NarrativeSection,
    Ratio,
    Selection,
    Source,
    Split,
    Where,
    Years,
)

PACK_FILES = (
    "market.yaml",
    "sources.csv",
    "claims.csv",
    "fx.csv",
    "companies.csv",
    "structure.csv",
    "assumptions.yaml",
    "narrative.md",
)
SOURCE_COLUMNS = ("id", "publisher", "title", "url", "vintage", "promises")
CLAIM_COLUMNS = (
    "id", "source", "kind", "label", "dimension", "member", "selection", "year", "value", "unit",
    "period_from", "period_to", "parent", "parent_selection", "confidence", "quote",
)
COMPANY_COLUMNS = (
    "id", "source", "company", "fiscal_year", "fiscal_year_end", "currency", "revenue_mn", "scope", "confidence",
)
STRUCTURE_COLUMNS = ("id", "source", "dimension", "group", "member", "quote")
UNITS_SIZE = ("bn", "mn")


def load(folder: str | Path) -> Market:
    """Read and check the pack's structure. Raises a ``PackError`` naming file, line and fix."""
    root = Path(folder)
    if not root.is_dir():
        raise PackFileMissing(
            "pack folder not found", file=str(root), hint="give the path of a folder that holds market.yaml"
        )
    return _Loader(root).market()


class _Loader:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.ids: dict[str, Where] = {}

    def _unique(self, kind: str, ident: str, where: Where) -> None:
        key = f"{kind}:{ident}"
        if key in self.ids:
            raise DuplicateId(
                f"{kind} id {ident!r} is used twice (first at {self.ids[key]})",
                file=where.file,
                line=where.line,
                hint="give every id a distinct value",
            )
        self.ids[key] = where

    def market(self) -> Market:
        root = self.root
        doc = read_yaml(root / "market.yaml", "market.yaml")
        assert doc is not None
        rel = "market.yaml"
        target = self._definition(need(doc, "definition", rel, dict), rel)
        related = tuple(self._definition(d, rel) for d in _list(doc, "related_definitions", rel))
        for d in (target, *related):
            self._unique("definition", d.id, Where(rel))
        def_ids = {d.id for d in (target, *related)}
        labels_doc = need(doc, "labels", rel, dict)
        labels: dict[str, str] = {}
        label_where: dict[str, Where] = {}
        for label, def_id in labels_doc.items():
            w = Where(rel, line_of(labels_doc, str(label)))
            if def_id not in def_ids:
                raise UnknownReference(
                    f"label {label!r} maps to {def_id!r}, which is not a declared definition",
                    file=rel,
                    line=w.line,
                    hint=f"use one of: {', '.join(sorted(def_ids))}",
                )
            labels[str(label)] = str(def_id)
            label_where[str(label)] = w
        years_doc = need(doc, "years", rel, dict)
        years = Years(
            need(years_doc, "history_start", rel, int),
            need(years_doc, "base_year", rel, int),
            need(years_doc, "study_end", rel, int),
        )
        if not years.history_start < years.base_year < years.study_end:
            raise PackValueError(
                "years must satisfy history_start < base_year < study_end (at least two history years)",
                file=rel,
                line=line_of(doc, "years"),
                hint="e.g. history_start: 2017, base_year: 2024, study_end: 2031",
            )
        dims = [self._dimension(d, rel) for d in _list(doc, "dimensions", rel)]
        dims.append(self._geography(need(doc, "geography", rel, dict), rel))
        self.dimensions = {d.id: d for d in dims}
        fx = self._fx()
        sources = self._sources()
        self.sources = sources
        self.labels = labels
        claims = self._claims() + self._companies() + self._structure()
        assumptions = self._assumptions(def_ids - {target.id})
        narrative = self._narrative()
        return Market(
            id=need(doc, "id", rel, str),
            title=need(doc, "title", rel, str),
            definition=target,
            definitions=related,
            labels=labels,
            currency=self._currency(doc, rel),
            fx_policy=str(doc.get("fx_policy", "annual average rates, units of currency per 1 USD")),
            calendarisation=str(
                doc.get(
                    "calendarisation",
                    "a fiscal year is assigned to the calendar year in which most of its months fall",
                )
            ),
            fx=fx,
            years=years,
            dimensions=tuple(dims),
            sources=sources,
            claims=tuple(claims),
            assumptions=assumptions,
            narrative=narrative,
            folder=str(root),
            inputs_hash=self._hash(),
            label_where=label_where,
        )

    # -- market.yaml parts ------------------------------------------------------------------
    def _currency(self, doc: Any, rel: str) -> str:
        currency = str(doc.get("currency", "USD")).upper()
        if currency != "USD":
            raise PackValueError(
                f"currency {currency!r} is not supported yet",
                file=rel,
                line=line_of(doc, "currency"),
                hint="use currency: USD (values in other currencies are converted with fx.csv)",
            )
        return currency

    def _definition(self, d: Any, rel: str) -> Definition:
        if not isinstance(d, dict):
            raise PackValueError("a definition must be a mapping with id and name", file=rel, hint="see docs/market-pack.md")
        return Definition(
            id=str(need(d, "id", rel, str)),
            name=str(need(d, "name", rel, str)),
            text=str(d.get("text", "")),
            relation=str(d.get("relation", "")),
        )

    def _dimension(self, d: Any, rel: str) -> Dimension:
        if not isinstance(d, dict):
            raise PackValueError("a dimension must be a mapping", file=rel, hint="give id, name and members")
        dim_id = need(d, "id", rel, str)
        if dim_id == "geography":
            raise PackValueError(
                "the dimension id 'geography' is reserved for the geography section",
                file=rel,
                line=line_of(d),
                hint="declare regions and countries under 'geography:', not under 'dimensions:'",
            )
        self._unique("dimension", dim_id, Where(rel, line_of(d)))
        members = []
        for m in need(d, "members", rel, list):
            if not isinstance(m, dict):
                raise PackValueError(
                    f"member {m!r} of dimension {dim_id!r} must be a mapping with id and name",
                    file=rel,
                    line=line_of(d, "members"),
                    hint="write '- {id: api, name: APIs}'",
                )
            w = Where(rel, line_of(m))
            member = Member(id=str(need(m, "id", rel, str)), name=str(need(m, "name", rel, str)), parent=m.get("parent"))
            self._unique(f"member of {dim_id}", member.id, w)
            members.append(member)
        ids = {m.id for m in members}
        for m in members:
            if m.parent is not None and m.parent not in ids:
                raise UnknownReference(
                    f"member {m.id!r} names parent {m.parent!r}, not a member of {dim_id!r}",
                    file=rel,
                    line=line_of(d, "members"),
                    hint="name an existing member as parent",
                )
        _check_tree(dim_id, members, rel, line_of(d, "members"))
        return Dimension(dim_id, str(need(d, "name", rel, str)), tuple(members))

    def _geography(self, g: LineDict, rel: str) -> Dimension:
        from ..taxonomy import country_name

        members: list[Member] = []
        for r in need(g, "regions", rel, list):
            w = Where(rel, line_of(r))
            region_id = need(r, "id", rel, str)
            self._unique("member of geography", region_id, w)
            members.append(
                Member(region_id, need(r, "name", rel, str), m49=self._m49(r, rel))
            )
            for code in need(r, "countries", rel, list):
                if not isinstance(code, str):
                    # YAML 1.1 reads an unquoted NO (Norway) as false: ask for quotes rather than guess
                    raise PackValueError(
                        f"country {code!r} is not a two-letter code as text",
                        file=rel,
                        line=line_of(r, "countries"),
                        hint="quote codes YAML reads otherwise, e.g. countries: [\"NO\", SE]",
                    )
                code = code.strip().upper()
                name = country_name(code)
                if name is None:
                    raise UnknownReference(
                        f"{code!r} is not an ISO 3166-1 alpha-2 country code",
                        file=rel,
                        line=line_of(r, "countries"),
                        hint="use two-letter codes such as US, GB, KR",
                    )
                # a country listed under two regions is kept: validation reports it as an error
                members.append(Member(code, name, parent=region_id, iso2=code))
            if r.get("rest", False):
                members.append(Member(f"{region_id}_rest", f"Rest of {r['name']}", parent=region_id, rest=True))
        regions = {m.id: m for m in members if m.parent is None}
        for m in members:
            if m.parent is not None and m.id in regions:
                raise PackValueError(
                    f"{m.id!r} is both a region id and one of its members",
                    file=rel,
                    line=line_of(g, "regions"),
                    hint="give regions ids that are not ISO country codes, e.g. 'europe'",
                )
        return Dimension("geography", str(g.get("name", "Region and country")), tuple(members))

    def _m49(self, r: Any, rel: str) -> tuple[str, ...]:
        codes = r.get("m49", []) or []
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise PackValueError(
                f"m49 codes of region {r.get('id')!r} must be quoted text",
                file=rel,
                line=line_of(r, "m49"),
                hint='write m49: ["021"] (unquoted, 021 reads as the number 17)',
            )
        return tuple(codes)

    def _fx(self) -> dict[int, dict[str, float]]:
        rel = "fx.csv"
        rows = read_csv(self.root / rel, rel, ("year",))
        assert rows is not None
        fx: dict[int, dict[str, float]] = {}
        for row in rows:
            year = parse_int(row.get("year"), rel, row.line, "year", required=True)
            assert year is not None
            if year in fx:
                raise DuplicateId(f"year {year} appears twice", file=rel, line=row.line, hint="keep one row per year")
            fx[year] = {}
            for ccy, text in row.values.items():
                if ccy.strip() == "year" or not (text or "").strip():
                    continue
                rate = parse_float(text.strip(), rel, row.line, ccy.strip())
                assert rate is not None
                fx[year][ccy.strip().upper()] = rate
        return fx

    def _sources(self) -> dict[str, Source]:
        rel = "sources.csv"
        rows = read_csv(self.root / rel, rel, SOURCE_COLUMNS)
        assert rows is not None
        sources: dict[str, Source] = {}
        for row in rows:
            w = Where(rel, row.line)
            sid = _ident(row, "id", rel)
            self._unique("source", sid, w)
            promises = tuple(p.strip() for p in row.get("promises").split(";") if p.strip())
            sources[sid] = Source(
                id=sid,
                publisher=_required(row, "publisher", rel),
                title=row.get("title"),
                url=row.get("url"),
                vintage=parse_int(row.get("vintage"), rel, row.line, "vintage"),
                promises=promises,
                edition_of=row.get("edition_of") or _required(row, "publisher", rel),
                where=w,
            )
        return sources

    def _source_ref(self, row: Row, rel: str) -> str | None:
        sid = row.get("source")
        if not sid:
            return None  # reported by validation: CLAIM-NO-SOURCE
        if sid not in self.sources:
            raise UnknownReference(
                f"source {sid!r} is not in sources.csv", file=rel, line=row.line, hint="add it to sources.csv or fix the id"
            )
        return sid

    def _selection(self, text: str, rel: str, line: int, column: str) -> Selection:
        pairs: dict[str, str] = {}
        for part in text.split(";"):
            part = part.strip()
            if not part:
                continue
            if "=" not in part:
                raise PackValueError(
                    f"{column} part {part!r} is not dimension=member",
                    file=rel,
                    line=line,
                    hint="write e.g. 'geography=US; type=api' (blank for the whole market)",
                )
            dim, member = (s.strip() for s in part.split("=", 1))
            if dim not in self.dimensions:
                raise UnknownReference(
                    f"{column} names dimension {dim!r}, which the pack does not declare",
                    file=rel,
                    line=line,
                    hint=f"use one of: {', '.join(self.dimensions)}",
                )
            ids = {m.id for m in self.dimensions[dim].members}
            if member not in ids:
                raise UnknownReference(
                    f"{column} names {member!r}, not a member of {dim!r}",
                    file=rel,
                    line=line,
                    hint=f"use a member id declared in market.yaml (e.g. {', '.join(sorted(ids)[:6])})",
                )
            if dim in pairs:
                raise PackValueError(f"{column} names {dim!r} twice", file=rel, line=line, hint="name each dimension once")
            pairs[dim] = member
        return tuple(sorted(pairs.items()))

    def _check_inside(self, selection: Selection, parent: Selection, rel: str, line: int) -> None:
        """A claim about part of a sub-market must name a part inside it."""
        inside = dict(parent)
        for dim, member in selection:
            if dim in inside and member != inside[dim] and inside[dim] not in self.dimensions[dim].ancestors(member):
                raise PackValueError(
                    f"selection {dim}={member} is not inside parent_selection {dim}={inside[dim]}",
                    file=rel,
                    line=line,
                    hint="name a member inside the parent, or leave that dimension out of the selection",
                )

    def _common(self, row: Row, rel: str) -> dict[str, Any]:
        conf = row.get("confidence") or "medium"
        if conf not in CONFIDENCES:
            raise PackValueError(
                f"confidence {conf!r} is not one of high, medium, low",
                file=rel,
                line=row.line,
                hint="write high, medium or low",
            )
        return {
            "source": self._source_ref(row, rel),
            "where": Where(rel, row.line),
            "confidence": conf,
            "quote": row.get("quote"),
            "note": row.get("note"),
            "origin": row.get("origin"),
        }

    def _claims(self) -> list[Claim]:
        rel = "claims.csv"
        rows = read_csv(self.root / rel, rel, CLAIM_COLUMNS)
        assert rows is not None
        out: list[Claim] = []
        for row in rows:
            cid = _ident(row, "id", rel)
            self._unique("claim", cid, Where(rel, row.line))
            kind = row.get("kind")
            if kind not in ("size", "share", "growth"):
                raise PackValueError(
                    f"kind {kind!r} is not size, share or growth",
                    file=rel,
                    line=row.line,
                    hint="company revenues go in companies.csv, segment lists in structure.csv",
                )
            label = _required(row, "label", rel)
            unit = " ".join(row.get("unit").split())
            if unit != "%" and len(unit.split()) == 2:
                unit = f"{unit.split()[0].upper()} {unit.split()[1].lower()}"
            if kind == "size" and (len(unit.split()) != 2 or unit.split()[1] not in UNITS_SIZE):
                raise PackValueError(
                    f"unit {unit!r} of a size is not '<currency> bn' or '<currency> mn'",
                    file=rel,
                    line=row.line,
                    hint="write the unit as printed by the source, e.g. 'USD bn' or 'CNY bn'",
                )
            if kind in ("share", "growth") and unit != "%":
                raise PackValueError(
                    f"unit {unit!r} of a {kind} must be %", file=rel, line=row.line, hint="write shares and CAGRs in %"
                )
            # sizes are positive; a share may be 0; a CAGR may be negative (a shrinking market)
            value = parse_float(row.get("value"), rel, row.line, "value", required=True, positive=(kind == "size"))
            assert value is not None
            if kind == "share" and not 0 <= value <= 100:
                raise PackValueError(
                    f"share {value:g}% is outside 0-100%", file=rel, line=row.line, hint="give the share in percent, 0 to 100"
                )
            if kind == "growth" and value <= -100:
                raise PackValueError(
                    f"CAGR {value:g}% is -100% or less", file=rel, line=row.line, hint="give the growth rate in percent a year"
                )
            year = parse_int(row.get("year"), rel, row.line, "year", required=(kind == "size"))
            p_from = parse_int(row.get("period_from"), rel, row.line, "period_from")
            p_to = parse_int(row.get("period_to"), rel, row.line, "period_to")
            if p_from is not None and p_to is not None and p_to <= p_from:
                raise PackValueError(
                    f"period_to {p_to} is not after period_from {p_from}",
                    file=rel,
                    line=row.line,
                    hint="a growth period runs from an earlier to a later year",
                )
            selection = self._selection(row.get("selection"), rel, row.line, "selection")
            parent = self._selection(row.get("parent_selection"), rel, row.line, "parent_selection")
            self._check_inside(selection, parent, rel, row.line)
            out.append(
                Claim(
                    id=cid,
                    kind=kind,
                    label=label,
                    definition=self.labels.get(label),
                    selection=selection,
                    member_as_written=row.get("member"),
                    dimension_as_written=row.get("dimension"),
                    year=year,
                    value=value,
                    unit=unit,
                    period_from=p_from,
                    period_to=p_to,
                    parent=parent,
                    parent_as_written=row.get("parent"),
                    **self._common(row, rel),
                )
            )
        return out

    def _companies(self) -> list[Claim]:
        rel = "companies.csv"
        rows = read_csv(self.root / rel, rel, COMPANY_COLUMNS, required=False) or []
        out = []
        for row in rows:
            cid = _ident(row, "id", rel)
            self._unique("claim", cid, Where(rel, row.line))
            fye = row.get("fiscal_year_end") or "12-31"
            if not _is_month_day(fye):
                raise PackValueError(
                    f"fiscal_year_end {fye!r} is not MM-DD", file=rel, line=row.line, hint="write e.g. 06-30 or 12-31"
                )
            ccy = _required(row, "currency", rel).upper()
            out.append(
                Claim(
                    id=cid,
                    kind="revenue",
                    label="",
                    definition=None,
                    company=_required(row, "company", rel),
                    year=parse_int(row.get("fiscal_year"), rel, row.line, "fiscal_year", required=True),
                    fiscal_year_end=fye,
                    value=parse_float(row.get("revenue_mn"), rel, row.line, "revenue_mn", required=True),
                    unit=f"{ccy} mn",
                    scope=row.get("scope"),
                    **self._common(row, rel),
                )
            )
        return out

    def _structure(self) -> list[Claim]:
        rel = "structure.csv"
        rows = read_csv(self.root / rel, rel, STRUCTURE_COLUMNS, required=False) or []
        out = []
        for row in rows:
            cid = _ident(row, "id", rel)
            self._unique("claim", cid, Where(rel, row.line))
            out.append(
                Claim(
                    id=cid,
                    kind="structure",
                    label=row.get("label"),
                    definition=self.labels.get(row.get("label")),
                    dimension_as_written=_required(row, "dimension", rel),
                    group_as_written=row.get("group"),
                    member_as_written=_required(row, "member", rel),
                    **self._common(row, rel),
                )
            )
        return out

    def _assumptions(self, related_ids: set[str]) -> Assumptions:
        rel = "assumptions.yaml"
        doc = read_yaml(self.root / rel, rel, required=False)
        if doc is None:
            return Assumptions()
        splits, ratios, attributions = [], [], []
        for s in _list(doc, "splits", rel):
            w = Where(rel, line_of(s))
            sid = need(s, "id", rel, str)
            self._unique("assumption", sid, w)
            dim_id = need(s, "dimension", rel, str)
            if dim_id not in self.dimensions:
                raise UnknownReference(
                    f"split {sid!r} names dimension {dim_id!r}, not declared",
                    file=rel,
                    line=w.line,
                    hint=f"use one of: {', '.join(self.dimensions)}",
                )
            dim = self.dimensions[dim_id]
            parent = s.get("parent")
            self._unique("split of", f"{dim_id}/{parent or '(top)'}", w)
            children = {m.id for m in dim.children(parent)}
            shares_doc = need(s, "shares", rel, dict)
            shares = {}
            for member, share in shares_doc.items():
                if member not in children:
                    raise UnknownReference(
                        f"split {sid!r} gives a share to {member!r}, not a child of {parent or 'the top'} in {dim_id!r}",
                        file=rel,
                        line=line_of(shares_doc, str(member)),
                        hint=f"use the members {', '.join(sorted(children))}",
                    )
                if not isinstance(share, (int, float)) or isinstance(share, bool) or not 0 <= share <= 1:
                    raise PackValueError(
                        f"share of {member!r} must be a number from 0 to 1, not {share!r}",
                        file=rel,
                        line=line_of(shares_doc, str(member)),
                        hint="write shares as fractions, e.g. 0.55",
                    )
                shares[str(member)] = float(share)
            # a split that leaves a child out is reported by validation (SPLIT-MISSING), after the
            # geography checks that may explain it (a country listed under two regions)
            if set(shares) == children and abs(sum(shares.values()) - 1) > 0.005:
                raise PackValueError(
                    f"split {sid!r} shares sum to {sum(shares.values()):.3f}, not 1",
                    file=rel,
                    line=w.line,
                    hint="make the shares add up to 1",
                )
            unc = _uncertainty(s, rel)
            splits.append(Split(sid, dim_id, parent, shares, float(unc), need(s, "rationale", rel, str), w))
        for r in _list(doc, "ratios", rel):
            w = Where(rel, line_of(r))
            rid = need(r, "id", rel, str)
            self._unique("assumption", rid, w)
            d = need(r, "definition", rel, str)
            if d not in related_ids:
                raise UnknownReference(
                    f"ratio {rid!r} names definition {d!r}, not a related definition",
                    file=rel,
                    line=w.line,
                    hint=f"use one of: {', '.join(sorted(related_ids))}",
                )
            value = need(r, "ratio", rel, (int, float))
            if value <= 0:
                raise PackValueError(f"ratio {rid!r} must be positive", file=rel, line=w.line, hint="e.g. ratio: 1.55")
            ratios.append(
                Ratio(rid, d, float(value), _uncertainty(r, rel), need(r, "rationale", rel, str), w)
            )
        for a in _list(doc, "attributions", rel):
            w = Where(rel, line_of(a))
            aid = need(a, "id", rel, str)
            self._unique("assumption", aid, w)
            share = need(a, "share", rel, (int, float))
            if not 0 <= share <= 1:
                raise PackValueError(
                    f"attribution {aid!r} share must be from 0 to 1", file=rel, line=w.line, hint="e.g. share: 0.8"
                )
            attributions.append(
                Attribution(
                    aid,
                    need(a, "company", rel, str),
                    float(share),
                    _uncertainty(a, rel),
                    need(a, "rationale", rel, str),
                    w,
                )
            )
        return Assumptions(tuple(splits), tuple(ratios), tuple(attributions))

    def _narrative(self) -> tuple[NarrativeSection, ...]:
        text = read_text(self.root / "narrative.md", "narrative.md", required=False)
        if text is None:
            return ()
        sections: list[tuple[str, list[str]]] = []
        para: list[str] = []

        def flush() -> None:
            if para and sections:
                sections[-1][1].append(" ".join(para))
            para.clear()

        for line in text.splitlines():
            if line.startswith("## "):
                flush()
                sections.append((line[3:].strip(), []))
            elif line.startswith("#"):
                flush()
            elif not line.strip():
                flush()
            else:
                para.append(line.strip())
        flush()
        return tuple(NarrativeSection(t, tuple(p)) for t, p in sections)

    def _hash(self) -> str:
        h = hashlib.sha256()
        for name in PACK_FILES:
            p = self.root / name
            if p.is_file():
                h.update(name.encode() + b"\0" + p.read_bytes() + b"\0")
        return h.hexdigest()


def _uncertainty(doc: Any, rel: str) -> float:
    value = float(need(doc, "uncertainty", rel, (int, float)))
    if value < 0:
        raise PackValueError(
            f"uncertainty {value:g} is negative", file=rel, line=line_of(doc, "uncertainty"), hint="give 0 or more"
        )
    return value


def _check_tree(dim_id: str, members: list[Member], rel: str, line: int | None) -> None:
    """Every member's chain of parents ends at a top member (no member is its own ancestor)."""
    parent = {m.id: m.parent for m in members}
    for m in members:
        seen = {m.id}
        p = m.parent
        while p is not None:
            if p in seen:
                raise PackValueError(
                    f"member {m.id!r} of {dim_id!r} is its own ancestor (parents form a cycle)",
                    file=rel,
                    line=line,
                    hint="give each member a parent higher up the tree, or none for a top member",
                )
            seen.add(p)
            p = parent.get(p)


def _is_month_day(text: str) -> bool:
    parts = text.split("-")
    if len(parts) != 2 or not all(p.isdigit() and len(p) == 2 for p in parts):
        return False
    try:
        date(2001, int(parts[0]), int(parts[1]))  # a year without 29 February: a fiscal year ends every year
    except ValueError:
        return False
    return True


def _list(doc: Any, key: str, rel: str) -> list:
    value = doc.get(key) if isinstance(doc, dict) else None
    if value is None:
        return []
    if not isinstance(value, list):
        raise PackValueError(f"'{key}' must be a list", file=rel, line=line_of(doc, key), hint="write each item on a '- ' line")
    return value


def _required(row: Row, column: str, rel: str) -> str:
    value = row.get(column)
    if not value:
        raise PackValueError(f"{column} is empty", file=rel, line=row.line, hint=f"fill in {column}")
    return value


def _ident(row: Row, column: str, rel: str) -> str:
    value = _required(row, column, rel)
    if any(ch.isspace() for ch in value):
        raise PackValueError(
            f"{column} {value!r} contains spaces", file=rel, line=row.line, hint="use letters, digits, '-' and '_' only"
        )
    return value
