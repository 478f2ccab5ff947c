"""Tiny synthetic market packs built in code, for tests. ``write_pack`` writes a valid one;
each test changes the one file it is about."""

from __future__ import annotations

from pathlib import Path

MARKET_YAML = """\
id: widgets
title: Widget Market
definition: {id: wid, name: Widgets, text: Widgets sold to factories.}
related_definitions:
  - {id: wid_plus, name: Widgets and services, relation: widgets plus services}
labels:
  widgets: wid
  widgets and services: wid_plus
years: {history_start: 2018, base_year: 2022, study_end: 2026}
dimensions:
  - id: type
    name: Type
    members:
      - {id: small, name: Small widgets}
      - {id: big, name: Big widgets}
geography:
  regions:
    - id: americas
      name: Americas
      m49: ["019"]
      countries: [US, BR]
    - id: europe
      name: Europe
      m49: ["150"]
      countries: [DE, FR]
      rest: true
"""

SOURCES_CSV = """\
id,publisher,title,url,vintage,promises
alpha,Alpha Research,Widget Market by Type,alpha.example/w,2023,type
beta,Beta Insights,Widgets,beta.example/w,2023,
"""

# 100 in 2018 growing 5% a year, stated consistently by two sources
CLAIMS_CSV = """\
id,source,kind,label,dimension,member,selection,year,value,unit,period_from,period_to,parent,parent_selection,confidence,quote
a1,alpha,size,widgets,,,,2018,100,USD bn,,,,,high,"Widgets were worth USD 100 billion in 2018."
a2,alpha,size,widgets,,,,2022,121.55,USD bn,,,,,high,"... and USD 121.55 billion in 2022."
a3,alpha,growth,widgets,,,,,5,%,2018,2022,,,high,"a CAGR of 5% from 2018 to 2022"
b1,beta,size,widgets,,,,2020,110.25,USD bn,,,,,medium,"USD 110.25 bn (2020)"
b2,beta,share,widgets,type,Small widgets,type=small,2020,60,%,,,global,,medium,"small widgets held 60%"
"""

FX_CSV = """\
year,EUR
2018,0.85
2019,0.89
2020,0.88
2021,0.85
2022,0.95
"""

COMPANIES_CSV = """\
id,source,company,fiscal_year,fiscal_year_end,currency,revenue_mn,scope,confidence
c1,beta,Acme,2021,12-31,EUR,5000,group,high
c2,beta,Acme,2022,12-31,EUR,5600,group,high
"""

STRUCTURE_CSV = """\
id,source,label,dimension,group,member,quote
s1,alpha,widgets,type,,Small widgets,"By type: small, big"
s2,alpha,widgets,type,,Big widgets,"By type: small, big"
"""

ASSUMPTIONS_YAML = """\
splits:
  - {id: s-type, dimension: type, shares: {small: 0.6, big: 0.4}, uncertainty: 0.05, rationale: beta says 60%}
  - {id: s-geo, dimension: geography, shares: {americas: 0.5, europe: 0.5}, uncertainty: 0.05, rationale: assumed}
  - {id: s-am, dimension: geography, parent: americas, shares: {US: 0.8, BR: 0.2}, uncertainty: 0.05, rationale: assumed}
  - {id: s-eu, dimension: geography, parent: europe, shares: {DE: 0.5, FR: 0.3, europe_rest: 0.2}, uncertainty: 0.05, rationale: assumed}
attributions:
  - {id: at-acme, company: Acme, share: 0.5, uncertainty: 0.1, rationale: half is widgets}
"""

NARRATIVE_MD = """\
# Widgets

## Trends
Factories buy more widgets.

<script>alert(1)</script> is text, not markup.
"""

FILES = {
    "market.yaml": MARKET_YAML,
    "sources.csv": SOURCES_CSV,
    "claims.csv": CLAIMS_CSV,
    "fx.csv": FX_CSV,
    "companies.csv": COMPANIES_CSV,
    "structure.csv": STRUCTURE_CSV,
    "assumptions.yaml": ASSUMPTIONS_YAML,
    "narrative.md": NARRATIVE_MD,
}


def write_pack(folder: Path, **changes: str) -> Path:
    """Write the valid widget pack into ``folder``; ``changes`` maps file names (dots as '_') to new text."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in FILES.items():
        key = name.replace(".", "_")
        text = changes.get(key, text)
        if text is not None:
            (folder / name).write_text(text, encoding="utf-8")
    return folder


def add_rows(csv_text: str, *rows: str) -> str:
    return csv_text + "".join(r + "\n" for r in rows)
