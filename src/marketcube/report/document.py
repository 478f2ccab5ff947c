"""The report's document model: one plain structure every renderer reads (and report.json is).

Numbers keep full precision here; renderers round for reading (three significant digits in prose).
The one field that depends on the clock is ``run_date``: the date of ``SOURCE_DATE_EPOCH`` when it is
set (the reproducible-builds convention), else today; with it set, the same inputs give
byte-identical JSON.

The model holds the data (claims, series, segments, ...) and, from ``report.sections``, the ten
sections in reading order with every table and chart they show: renderers lay those out and
compute nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from .sections import build_sections

if TYPE_CHECKING:
    from ..pipeline import Run

__all__ = ["build_document", "to_json", "SCHEMA"]

SCHEMA = "marketcube.report/2"


def _sel(selection) -> dict[str, str]:
    return {d: m for d, m in selection}


def build_document(run: Run) -> dict[str, Any]:
    m = run.market
    a = run.analysis
    verdicts = {v.claim_id: v for v in run.verdicts}
    items = run.evidence.by_id()
    claims = []
    for c in m.claims:
        v = verdicts[c.id]
        src = m.sources.get(c.source) if c.source else None
        claims.append(
            {
                "id": c.id,
                "kind": c.kind,
                "source": c.source,
                "publisher": src.publisher if src else None,
                "url": src.url if src else None,
                "vintage": src.vintage if src else None,
                "label": c.label,
                "definition": c.definition,
                "selection": _sel(c.selection),
                "parent_selection": _sel(c.parent),
                "member_as_written": c.member_as_written,
                "company": c.company,
                "year": c.year,
                "period": [c.period_from, c.period_to],
                "value": c.value,
                "unit": c.unit,
                "value_usd_bn": items[c.id].value_usd_bn,
                "conversion": items[c.id].conversion,
                "confidence": c.confidence,
                "quote": c.quote,
                "note": c.note,
                "location": str(c.where),
                "used": v.used,
                "claimed": v.claimed,
                "fitted": v.fitted,
                "residual_z": v.z,
                "verdict": v.verdict,
                "verdict_note": v.note,
            }
        )
    h = a.headline
    document = {
        "schema": SCHEMA,
        "code_version": run.code_version,
        "inputs_hash": m.inputs_hash,
        "edition": f"{m.years.base_year} edition",
        "run_date": run_date(),
        "market": {
            "id": m.id,
            "title": m.title,
            "definition": asdict(m.definition),
            "related_definitions": [asdict(d) for d in m.definitions],
            "labels": dict(sorted(m.labels.items())),
        },
        "unit": "USD bn, nominal, calendar years",
        "years": {
            "history_start": m.years.history_start,
            "base_year": m.years.base_year,
            "study_end": m.years.study_end,
            "model_end": m.model_end,
            "history": list(run.history.years),
            "forecast": list(run.base_forecast.years),
        },
        "headline": {
            "total_base_year": h.start_value,
            "total_study_end": h.end_value,
            "cagr": {
                "value": h.cagr,
                "from": h.start_year,
                "to": h.end_year,
                "periods": h.periods,
                "lo80": h.cagr_lo80,
                "hi80": h.cagr_hi80,
                "lo95": h.cagr_lo95,
                "hi95": h.cagr_hi95,
                "provenance": "modelled",
            },
        },
        "dimensions": [
            {
                "id": d.id,
                "name": d.name,
                "members": [
                    {"id": x.id, "name": x.name, "parent": x.parent, "iso2": x.iso2, "rest": x.rest} for x in d.members
                ],
            }
            for d in m.dimensions
        ],
        "series": [
            {
                "name": s.name,
                "dimension": s.dimension,
                "member": s.member,
                "parent": s.parent,
                "is_aggregate": s.is_aggregate,
                "values": [asdict(p) for p in s.points],
            }
            for s in a.series
        ],
        "segments": [asdict(r) for r in a.segments],
        "claims": claims,
        "ratios": [
            {
                "definition": d,
                "name": next((x.name for x in m.all_definitions if x.id == d), d),
                "estimate": r,
                "stated": run.history.ratio_stated.get(d),
                "prior_log_sd": run.history.ratio_log_sd.get(d),
                "size_claims": run.history.claims_per_ratio.get(d, 0),
            }
            for d, r in sorted(run.history.ratios.items())
        ],
        "sensitivity": run.sensitivity,
        "revenue_floors": run.history.floors,
        "dispersion": {"all": run.history.dispersion, **run.history.kind_dispersion},
        "findings": [f.to_dict() for f in run.findings],
        "sources": [
            {"id": s.id, "publisher": s.publisher, "title": s.title, "url": s.url, "vintage": s.vintage}
            for s in m.sources.values()
        ],
        "assumptions": {
            "splits": [
                {"id": s.id, "dimension": s.dimension, "parent": s.parent, "shares": s.shares,
                 "uncertainty": s.uncertainty, "rationale": s.rationale}
                for s in m.assumptions.splits
            ],
            "ratios": [
                {"id": r.id, "definition": r.definition, "ratio": r.ratio, "uncertainty": r.uncertainty,
                 "rationale": r.rationale}
                for r in m.assumptions.ratios
            ],
            "attributions": [
                {"id": x.id, "company": x.company, "share": x.share, "uncertainty": x.uncertainty,
                 "rationale": x.rationale}
                for x in m.assumptions.attributions
            ],
        },
        "narrative": [{"title": n.title, "paragraphs": list(n.paragraphs)} for n in m.narrative],
        "methodology": run.methodology,
    }
    document.update(build_sections(run, document))
    return document


def run_date() -> str:
    """ISO date of the run: SOURCE_DATE_EPOCH's when set (reproducible output), else today (UTC)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc) if epoch else dt.datetime.now(dt.timezone.utc)
    return when.date().isoformat()


def to_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
