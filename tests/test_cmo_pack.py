"""The built-in CMO pack (markets/cmo) loads and carries every row of the shared evidence."""

from __future__ import annotations

import csv
import html
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from marketcube.pack import load

REPO = Path(__file__).resolve().parent.parent
PACK = REPO / "markets" / "cmo"
DATA = REPO.parent / "shared" / "data" / "cmo"
BUILDER = REPO / "tools" / "build_cmo_pack.py"
EVIDENCE_FILES = ("publisher_estimates.csv", "segment_claims.csv", "company_revenues.csv")
PACK_FILES = ("sources.csv", "claims.csv", "companies.csv", "structure.csv", "fx.csv", "narrative.md")


@pytest.fixture(scope="module")
def market():
    return load(PACK)


def need_data() -> None:
    if not DATA.is_dir():
        pytest.skip(f"shared data not found at {DATA}")


def data_lines(path: Path) -> list[int]:
    """1-based start line of every data row (the header is line 1)."""
    reader = csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline=""))
    next(reader)
    lines, start = [], reader.line_num + 1
    for cells in reader:
        if cells and any(c.strip() for c in cells):
            lines.append(start)
        start = reader.line_num + 1
    return lines


def seed_text() -> str:
    raw = (DATA / "seed-report.html").read_text(encoding="utf-8")
    text = html.unescape(re.sub(r"<[^>]+>", " ", raw)).replace("\xa0", " ")
    return re.sub(r"\s+", " ", text).strip()


def test_builtin_pack_loads(market):
    kinds = {c.kind for c in market.claims}
    assert {"size", "share", "growth", "revenue", "structure"} <= kinds
    assert "seed" in market.sources
    assert market.sources["seed"].promises == ("material", "type", "end_user", "geography")
    assert [s.title for s in market.narrative] == ["Trends", "Drivers", "Restraints", "Opportunities"]


@pytest.mark.parametrize("name", EVIDENCE_FILES)
def test_every_evidence_row_is_the_origin_of_a_claim(market, name):
    need_data()
    origins = {c.origin for c in market.claims}
    missing = [n for n in data_lines(DATA / name) if f"{name}:{n}" not in origins]
    assert not missing, f"rows of {name} with no claim: {missing}"


def test_seed_quotes_are_verbatim(market):
    need_data()
    text = seed_text()
    seed = [c for c in market.claims if c.source == "seed" and c.kind in ("size", "share", "growth", "revenue")]
    assert seed
    for c in seed:
        assert c.quote, c.id
        assert c.quote in text, c.id


def test_every_label_is_declared(market):
    for c in market.claims:
        if c.kind in ("size", "share", "growth", "structure"):
            assert c.label in market.labels, (c.id, c.label)


def test_fx_is_the_shared_table(market):
    need_data()
    assert (PACK / "fx.csv").read_bytes() == (DATA / "fx_usd_annual.csv").read_bytes()
    assert set(market.fx) == {int(r["year"]) for r in csv.DictReader(io.StringIO((PACK / "fx.csv").read_text()))}


def test_builder_reproduces_the_pack(tmp_path):
    need_data()
    run = subprocess.run(
        [sys.executable, str(BUILDER), str(DATA), "--out", str(tmp_path)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    for name in PACK_FILES:
        assert (tmp_path / name).read_bytes() == (PACK / name).read_bytes(), name
