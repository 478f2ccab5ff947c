"""Validate a loaded pack: every problem becomes a ``Finding`` with a stable code.

Severity: ``error`` the pack cannot be used as it is (its structure is broken); ``warning`` the
evidence has a problem the report shows; ``info`` a remark. Codes (stable, documented in
docs/market-pack.md):

=========================  ========  =======================================================
code                       severity  what
=========================  ========  =======================================================
GEO-NAME-GARBLED           warning   a country name in a source's structure names several countries
GEO-NAME-UNKNOWN           warning   a country name in a source's structure names none
GEO-TWO-REGIONS            error     the pack puts one country under two regions
GEO-SOURCE-TWO-REGIONS     warning   a source lists one country under two regions
GEO-M49-DIFFERS            info      a country's region differs from the UN M49 grouping
SHARE-OVER-100             warning   shares of one parent sum past 100%
SHARE-MIXED-LEVELS         warning   shares of one parent mix a member and its own part
SHARE-TWO-VALUES           warning   one source gives one member two shares of one parent
CAGR-ENDPOINTS             warning   a CAGR its own endpoints contradict (under both conventions when the start is not stated)
CAGR-CONFLICT              warning   CAGRs for one definition and overlapping periods disagree
CAGR-PERIOD-UNKNOWN        info      a CAGR whose period cannot be placed (not used)
YEAR-TWO-LABELS            warning   one source gives one value under two different years
DUPLICATE-CLAIM            warning   one source's claim entered twice (the solver counts it once)
FX-MISSING                 warning   a currency with no FX rate for the year
FISCAL-YEAR-CALENDARISED   info      a fiscal year that does not end in December
COMPANY-SCOPE-CHANGE       warning   a company's series changes scope
CLAIM-NO-SOURCE            error     a claim names no source
LABEL-UNMAPPED             error     a source label not mapped to a declared definition
SEGMENT-PROMISED-MISSING   warning   a segmentation a source's title promises but never gives
SPLIT-MISSING              error     no assumed split for a member that has parts
NO-LEVEL-EVIDENCE          error     no size of the whole market under a usable definition
=========================  ========  =======================================================
"""

from __future__ import annotations

import itertools
from collections import defaultdict

from .evidence import normalise
from .findings import Finding, sort_findings
from .pack import Claim, Market
from .taxonomy import m49_areas, m49_chain, resolve_country

__all__ = ["validate", "CAGR_TOLERANCE"]

CAGR_TOLERANCE = 0.0015  # 0.15 percentage points
GEO_WORDS = {"geography", "region", "country"}


def validate(market: Market) -> list[Finding]:
    """All findings about the pack, errors first."""
    out: list[Finding] = []
    for check in (
        _geography,
        _source_geography,
        _shares,
        _cagr_endpoints,
        _cagr_conflicts,
        _cagr_periods,
        _two_years,
        _duplicates,
        _fx,
        _companies,
        _sources_and_labels,
        _promised_segments,
        _splits,
        _level_evidence,
    ):
        out.extend(check(market))
    return sort_findings(out)


def _quotes(claims: list[Claim]) -> tuple[str, ...]:
    seen: list[str] = []
    for c in claims:
        if c.quote and c.quote not in seen:
            seen.append(c.quote)
    return tuple(seen)


def _finding(code: str, severity: str, message: str, claims: list[Claim], location: str = "") -> Finding:
    if not location and claims:
        location = str(claims[0].where)
    return Finding(code, severity, message, location, tuple(c.id for c in claims), _quotes(claims))  # type: ignore[arg-type]


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _dim_key(c: Claim) -> str:
    if c.selection:
        return "+".join(d for d, _ in c.selection)
    d = c.dimension_as_written.strip().lower()
    return "geography" if d in GEO_WORDS else d


def _source_name(market: Market, c: Claim) -> str:
    return market.sources[c.source].publisher if c.source in market.sources else "(no source)"


# -- geography ----------------------------------------------------------------------------------
def _geography(market: Market) -> list[Finding]:
    geo = market.dimension("geography")
    out = []
    by_country: dict[str, list[str]] = defaultdict(list)
    for m in geo.members:
        if m.iso2:
            by_country[m.iso2].append(m.parent or "")
    for iso2, regions in sorted(by_country.items()):
        if len(regions) > 1:
            out.append(
                Finding(
                    "GEO-TWO-REGIONS",
                    "error",
                    f"{iso2} ({next(m.name for m in geo.members if m.iso2 == iso2)}) is listed under {len(regions)} regions: "
                    f"{', '.join(regions)}; a country has exactly one parent. Keep it under one region in market.yaml.",
                    "market.yaml",
                )
            )
    areas = m49_areas()
    for m in geo.members:
        if not m.iso2 or not m.parent:
            continue
        region = geo.member(m.parent)
        if not region.m49:
            continue
        chain = m49_chain(m.iso2)
        if chain and not set(chain) & set(region.m49):
            out.append(
                Finding(
                    "GEO-M49-DIFFERS",
                    "info",
                    f"the pack puts {m.name} ({m.iso2}) in {region.name}; UN M49 places it in "
                    f"{areas[chain[0]][0]} ({chain[0]}), outside the areas {region.name} declares "
                    f"({', '.join(areas[c][0] for c in region.m49 if c in areas)})",
                    "market.yaml",
                )
            )
    return out


def _source_geography(market: Market) -> list[Finding]:
    out = []
    seen: dict[tuple[str | None, str], list[tuple[str, Claim]]] = defaultdict(list)
    for c in market.claims:
        if c.kind != "structure" or c.dimension_as_written.lower() not in ("geography", "country"):
            continue
        r = resolve_country(c.member_as_written)
        if r.problem == "ambiguous":
            names = ", ".join(r.candidates)
            out.append(
                _finding(
                    "GEO-NAME-GARBLED",
                    "warning",
                    f"{_source_name(market, c)} lists {c.member_as_written!r} under {c.group_as_written or 'its list'}: "
                    f"the name runs together several countries ({names}); the pack's geography uses clean ISO codes",
                    [c],
                )
            )
        elif r.problem == "unknown":
            out.append(
                _finding(
                    "GEO-NAME-UNKNOWN",
                    "warning",
                    f"{_source_name(market, c)} lists {c.member_as_written!r} under {c.group_as_written or 'its list'}: "
                    "no country has that name (a name split across two entries, or a typo)",
                    [c],
                )
            )
        else:
            assert r.iso2 is not None
            seen[(c.source, r.iso2)].append((c.group_as_written, c))
    for (_, iso2), entries in sorted(seen.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        groups = sorted({g for g, _ in entries})
        if len(groups) > 1:
            claims = [c for _, c in entries]
            written = " and ".join(f"{c.member_as_written!r} under {g}" for g, c in entries)
            out.append(
                _finding(
                    "GEO-SOURCE-TWO-REGIONS",
                    "warning",
                    f"{_source_name(market, claims[0])} lists {iso2} twice: {written}",
                    claims,
                )
            )
    return out


# -- shares -------------------------------------------------------------------------------------
def _shares(market: Market) -> list[Finding]:
    out = []
    groups: dict[tuple, list[Claim]] = defaultdict(list)
    for c in market.claims:
        if c.kind == "share":
            key = (c.source, c.label, c.parent_as_written, c.parent, c.year, _dim_key(c))
            groups[key].append(c)
    for key, claims in groups.items():
        if len(claims) < 2:
            continue
        year = f"in {key[4]}" if key[4] else "(year not stated)"
        who = _source_name(market, claims[0])
        parent = key[2] or "the whole market"
        total = sum(c.value or 0 for c in claims)
        listed = ", ".join(f"{c.member_as_written or c.selection} {c.value:g}%" for c in claims)
        if total > 100.5:
            out.append(
                _finding(
                    "SHARE-OVER-100",
                    "warning",
                    f"{who}'s shares of {parent} {year} sum to {total:g}%: {listed}",
                    claims,
                )
            )
        nested = _nested_pairs(market, claims)
        if nested:
            pairs = "; ".join(f"{a.member_as_written} lies inside {b.member_as_written}" for a, b in nested)
            out.append(
                _finding(
                    "SHARE-MIXED-LEVELS",
                    "warning",
                    f"{who}'s shares of {parent} {year} mix hierarchy levels ({pairs}), so they cannot be "
                    f"added up or read as a split (they sum to {total:g}%): {listed}",
                    claims,
                )
            )
        by_sel: dict[tuple, list[Claim]] = defaultdict(list)
        for c in claims:
            if c.selection:
                by_sel[c.selection].append(c)
        for sel, same in by_sel.items():
            if len({c.value for c in same}) > 1:
                values = " and ".join(f"{c.value:g}% ({c.member_as_written})" for c in same)
                out.append(
                    _finding(
                        "SHARE-TWO-VALUES",
                        "warning",
                        f"{who} gives {'; '.join(f'{d}={m}' for d, m in sel)} two shares of {parent} {year}: {values}",
                        same,
                    )
                )
    return out


def _nested_pairs(market: Market, claims: list[Claim]) -> list[tuple[Claim, Claim]]:
    pairs = []
    for a, b in itertools.permutations(claims, 2):
        if len(a.selection) == 1 and len(b.selection) == 1 and a.selection[0][0] == b.selection[0][0]:
            dim = market.dimension(a.selection[0][0])
            if b.selection[0][1] in dim.ancestors(a.selection[0][1]):
                pairs.append((a, b))
    return pairs


# -- growth -------------------------------------------------------------------------------------
def _quantity(c: Claim) -> tuple:
    """What a claim measures: source, definition, cube selection and parent, and the member as
    written (an unmapped member has an empty selection but is not the whole market)."""
    return (c.source, c.definition or c.label, c.selection, c.parent, "" if c.selection else c.member_as_written)


def is_whole_market(c: Claim) -> bool:
    """A claim about the whole market (no selection, no parent, no unmapped member)."""
    return not c.selection and not c.parent and not c.member_as_written


def _sizes_of(market: Market, g: Claim) -> dict[int, Claim]:
    """Size claims of the same source about the same quantity as growth claim ``g``, by year."""
    out: dict[int, Claim] = {}
    for c in market.claims:
        if c.kind == "size" and c.year is not None and _quantity(c) == _quantity(g) and c.unit.split()[0] == "USD":
            out.setdefault(c.year, c)
    return out


def endpoint_rates(market: Market, g: Claim) -> list[tuple[int, int, float, Claim, Claim]]:
    """Rates the growth claim's own endpoints give: (first year, end year, rate, base claim, end claim).

    Every stated year (start, end or both) must be sized by the source; an unstated end is the
    source's earliest or latest size. The two conventions count the periods from base..end and from
    base+1..end; with a stated start year, only base..end (a stated year is never replaced).
    """
    sizes = _sizes_of(market, g)
    if len(sizes) < 2:
        return []
    stated = [y for y in (g.period_from, g.period_to) if y is not None]
    if not set(stated) <= set(sizes):
        return []  # a stated year the source does not size: never substitute another year for it
    b = g.period_from if g.period_from is not None else min(sizes)
    e = g.period_to if g.period_to is not None else max(sizes)
    if e <= b:
        return []
    vb, ve = sizes[b], sizes[e]
    assert vb.value and ve.value
    ratio = ve.value * (1e3 if ve.unit.endswith("bn") else 1) / (vb.value * (1e3 if vb.unit.endswith("bn") else 1))
    out = [(b, e, ratio ** (1 / (e - b)) - 1, vb, ve)]
    if e - b > 1 and g.period_from is None:  # a stated start year is never replaced
        out.append((b + 1, e, ratio ** (1 / (e - b - 1)) - 1, vb, ve))
    return out


def _cagr_endpoints(market: Market) -> list[Finding]:
    out = []
    for g in market.claims:
        if g.kind != "growth" or g.value is None:
            continue
        rates = endpoint_rates(market, g)
        stated = g.value / 100
        if rates and all(abs(r - stated) > CAGR_TOLERANCE for _, _, r, _, _ in rates):
            _, _, _, vb, ve = rates[0]
            alts = " or ".join(f"{_pct(r)} over {e - a} years ({a}..{e})" for a, e, r, _, _ in rates)
            out.append(
                _finding(
                    "CAGR-ENDPOINTS",
                    "warning",
                    f"{_source_name(market, g)} states a CAGR of {g.value:g}% but its own endpoints "
                    f"{vb.value:g} ({vb.year}) and {ve.value:g} ({ve.year}) give {alts}",
                    [g, vb, ve],
                )
            )
    return out


def _cagr_periods(market: Market) -> list[Finding]:
    out = []
    for g in market.claims:
        if g.kind == "growth" and g.definition and growth_period(market, g) is None:
            known = f" (ends {g.period_to})" if g.period_to else f" (starts {g.period_from})" if g.period_from else ""
            out.append(
                _finding(
                    "CAGR-PERIOD-UNKNOWN",
                    "info",
                    f"{_source_name(market, g)}'s CAGR of {g.value:g}%{known} has no complete period and the source "
                    "sizes no endpoints to infer one: it is not used",
                    [g],
                )
            )
    return out


def growth_period(market: Market, g: Claim) -> tuple[int, int] | None:
    """The growth claim's period: as stated, else from its source's endpoints (base..end), else None."""
    if g.period_from is not None and g.period_to is not None:
        return g.period_from, g.period_to
    rates = endpoint_rates(market, g)
    if rates:
        return rates[0][0], rates[0][1]
    return None


def _cagr_conflicts(market: Market) -> list[Finding]:
    out = []
    groups: dict[tuple, list[tuple[Claim, tuple[int, int]]]] = defaultdict(list)
    for g in market.claims:
        if g.kind == "growth" and g.definition:
            period = growth_period(market, g)
            if period:
                key = (g.definition, g.selection, g.parent, "" if g.selection else g.member_as_written)
                groups[key].append((g, period))
    for (definition, sel, _, member), members in sorted(groups.items(), key=lambda kv: str(kv[0])):
        involved: dict[str, tuple[Claim, tuple[int, int]]] = {}
        for (a, pa), (b, pb) in itertools.combinations(members, 2):
            overlap = min(pa[1], pb[1]) - max(pa[0], pb[0])
            if overlap > 0 and abs((a.value or 0) - (b.value or 0)) / 100 > CAGR_TOLERANCE:
                involved[a.id] = (a, pa)
                involved[b.id] = (b, pb)
        if involved:
            ordered = sorted(involved.values(), key=lambda x: (x[0].value, x[0].id))
            listed = "; ".join(f"{c.value:g}% {p[0]}-{p[1]} ({_source_name(market, c)})" for c, p in ordered)
            what = market_name(market, definition) + (f" ({_sel_text(sel)})" if sel else f" ({member})" if member else "")
            out.append(
                _finding(
                    "CAGR-CONFLICT",
                    "warning",
                    f"{len(ordered)} CAGRs for {what} over overlapping periods disagree by more than "
                    f"{100 * CAGR_TOLERANCE:.2f} points: {listed}",
                    [c for c, _ in ordered],
                )
            )
    return out


def market_name(market: Market, definition_id: str) -> str:
    for d in market.all_definitions:
        if d.id == definition_id:
            return d.name
    return definition_id


def _sel_text(sel: tuple) -> str:
    return "; ".join(f"{d}={m}" for d, m in sel)


def _two_years(market: Market) -> list[Finding]:
    out = []
    groups: dict[tuple, list[Claim]] = defaultdict(list)
    for c in market.claims:
        if c.kind in ("size", "share") and c.year is not None:
            groups[(*_quantity(c), c.kind, c.value, c.unit)].append(c)
    for claims in groups.values():
        years = sorted({c.year for c in claims if c.year is not None})
        if len(years) > 1:
            c = claims[0]
            out.append(
                _finding(
                    "YEAR-TWO-LABELS",
                    "warning",
                    f"{_source_name(market, c)} gives the same value {c.value:g} {c.unit} for "
                    f"{' and '.join(map(str, years))}: at most one of the years can be right",
                    claims,
                )
            )
    return out


def claim_key(c: Claim) -> tuple:
    """What makes two claims the same statement (ids, quotes and notes aside)."""
    return (c.source, c.kind, c.definition or c.label, c.selection, c.parent, c.member_as_written, c.year,
            c.value, c.unit, c.period_from, c.period_to, c.company, c.fiscal_year_end)


def _duplicates(market: Market) -> list[Finding]:
    groups: dict[tuple, list[Claim]] = defaultdict(list)
    for c in market.claims:
        if c.kind != "structure":
            groups[claim_key(c)].append(c)
    return [
        _finding(
            "DUPLICATE-CLAIM",
            "warning",
            f"{_source_name(market, same[0])} states the same {same[0].kind} twice ({', '.join(c.id for c in same)}); "
            "it is counted once",
            same,
        )
        for same in groups.values()
        if len(same) > 1
    ]


# -- currencies and companies -------------------------------------------------------------------
def _fx(market: Market) -> list[Finding]:
    out = []
    for item in normalise(market).items:
        if item.problem.startswith("no FX rate") or "no rate to convert" in item.problem:
            c = item.claim
            out.append(
                _finding(
                    "FX-MISSING",
                    "warning",
                    f"{c.company or _source_name(market, c)}: {c.value:g} {c.unit} ({c.year}) cannot be converted: "
                    f"{item.problem}. Add the rate to fx.csv; until then the claim is not used",
                    [c],
                )
            )
    return out


def _companies(market: Market) -> list[Finding]:
    out = []
    series: dict[str, list[Claim]] = defaultdict(list)
    for c in market.claims:
        if c.kind == "revenue":
            series[c.company].append(c)
    for company, claims in sorted(series.items()):
        odd = sorted({c.fiscal_year_end for c in claims if c.fiscal_year_end != "12-31"})
        if odd:
            which = [c for c in claims if c.fiscal_year_end in odd]
            out.append(
                _finding(
                    "FISCAL-YEAR-CALENDARISED",
                    "info",
                    f"{company}'s fiscal year ends on {', '.join(odd)} (month-day), not in December: "
                    "its revenues are calendarised to the calendar year in which most of its months fall "
                    "(see the methodology)",
                    which,
                )
            )
        ordered = sorted((c for c in claims if c.scope), key=lambda c: (c.year, c.id))
        changes = [(a, b) for a, b in zip(ordered, ordered[1:]) if a.scope.lower() != b.scope.lower()]
        if changes:
            steps = "; ".join(f"{a.scope!r} ({a.year}) then {b.scope!r} ({b.year})" for a, b in changes)
            involved = list(dict.fromkeys(c for pair in changes for c in pair))
            out.append(
                _finding(
                    "COMPANY-SCOPE-CHANGE",
                    "warning",
                    f"{company}'s revenue series changes scope: {steps}; growth across a change is not organic",
                    involved,
                )
            )
    return out


def _sources_and_labels(market: Market) -> list[Finding]:
    out = []
    for c in market.claims:
        if c.source is None:
            out.append(
                _finding(
                    "CLAIM-NO-SOURCE",
                    "error",
                    f"claim {c.id} names no source; every number needs one. Add the source id (sources.csv)",
                    [c],
                )
            )
        if c.label and c.definition is None:
            out.append(
                _finding(
                    "LABEL-UNMAPPED",
                    "error",
                    f"claim {c.id} uses the market label {c.label!r}, which market.yaml's labels do not map "
                    f"to a declared definition. Add '{c.label}: <definition id>' under labels",
                    [c],
                )
            )
    return out


def _promised_segments(market: Market) -> list[Finding]:
    out = []
    given: dict[str, set[str]] = defaultdict(set)
    for c in market.claims:
        if c.source:
            given[c.source] |= {d for d, _ in c.selection}
            if c.dimension_as_written:
                d = c.dimension_as_written.lower()
                given[c.source].add("geography" if d in GEO_WORDS else d)
    for sid, source in sorted(market.sources.items()):
        promised = ["geography" if p.lower() in GEO_WORDS else p.lower() for p in source.promises]
        missing = [p for p in dict.fromkeys(promised) if p not in given[sid]]
        if missing:
            out.append(
                Finding(
                    "SEGMENT-PROMISED-MISSING",
                    "warning",
                    f"{source.publisher}'s title promises a segmentation by {', '.join(missing)} "
                    f"({source.title!r}) but the source never gives one",
                    str(source.where),
                )
            )
    return out


def _splits(market: Market) -> list[Finding]:
    out = []
    have = {(s.dimension, s.parent) for s in market.assumptions.splits}
    for s in market.assumptions.splits:
        dim = market.dimension(s.dimension)
        left_out = sorted({m.id for m in dim.children(s.parent)} - set(s.shares))
        if left_out:
            out.append(
                Finding(
                    "SPLIT-MISSING",
                    "error",
                    f"split {s.id!r} gives no share to {', '.join(left_out)}; give every child a share (0 is allowed)",
                    str(s.where),
                )
            )
    for dim in market.dimensions:
        parents = [None] + sorted({m.parent for m in dim.members if m.parent})
        for p in parents:
            if len(dim.children(p)) > 1 and (dim.id, p) not in have:
                out.append(
                    Finding(
                        "SPLIT-MISSING",
                        "error",
                        f"no split is assumed for {'the members' if p is None else 'the parts of ' + p} of "
                        f"dimension {dim.id!r}; the cube cannot be divided into leaf cells. "
                        "Add one under splits in assumptions.yaml",
                        "assumptions.yaml",
                    )
                )
    return out


def usable_definitions(market: Market) -> dict[str, float]:
    """Definitions whose sizes measure the target: the target (ratio 1) and those with a stated ratio."""
    out = {market.definition.id: 1.0}
    for r in market.assumptions.ratios:
        out[r.definition] = r.ratio
    return out


def _level_evidence(market: Market) -> list[Finding]:
    usable = usable_definitions(market)
    for item in normalise(market).items:
        c = item.claim
        if (
            c.kind == "size"
            and is_whole_market(c)
            and c.definition in usable
            and item.value_usd_bn is not None
            and item.year is not None
            and market.years.history_start <= item.year <= market.years.base_year
        ):
            return []
    return [
        Finding(
            "NO-LEVEL-EVIDENCE",
            "error",
            f"no claim sizes the whole market (in a currency with a rate) under the target definition "
            f"({market.definition.name}) or a "
            f"definition with a stated ratio in {market.years.history_start}-{market.years.base_year}; "
            "add a size claim or a ratio assumption",
            "claims.csv",
        )
    ]
