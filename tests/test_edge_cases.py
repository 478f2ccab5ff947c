"""Packs at the edges (from a review): each either works or fails with a clear error, never a
hang, a traceback or a NaN."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from marketcube.errors import PackError, PackValueError
from marketcube.pack import load
from marketcube.pipeline import publish, run
from marketcube.taxonomy import _table, resolve_country
from marketcube.validate import validate

from .packs import ASSUMPTIONS_YAML, CLAIMS_CSV, MARKET_YAML, STRUCTURE_CSV, add_rows, write_pack


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "marketcube.cli", *args], capture_output=True, text=True, timeout=timeout)


def test_region_id_equal_to_a_country_code_is_refused(tmp_path: Path) -> None:
    bad = MARKET_YAML.replace("id: europe", "id: DE")
    with pytest.raises(PackValueError, match="both a region id and one of its members"):
        load(write_pack(tmp_path, market_yaml=bad))


def test_member_that_is_its_own_ancestor_is_refused(tmp_path: Path) -> None:
    bad = MARKET_YAML.replace("{id: small, name: Small widgets}", "{id: small, name: Small widgets, parent: big}").replace(
        "{id: big, name: Big widgets}", "{id: big, name: Big widgets, parent: small}"
    )
    with pytest.raises(PackValueError, match="its own ancestor"):
        load(write_pack(tmp_path, market_yaml=bad))


def test_pack_text_is_never_read_as_terminal_markup(tmp_path: Path) -> None:
    structure = add_rows(STRUCTURE_CSV, "g1,beta,widgets,geography,Europe,Atlantis [/],q")
    folder = write_pack(tmp_path / "p", structure_csv=structure, market_yaml=MARKET_YAML.replace("title: Widget Market", "title: Widget [bold]Market[/]"))
    r = _cli("validate", str(folder))
    assert r.returncode == 0, r.stderr
    assert "Atlantis [/]" in r.stdout and "Traceback" not in r.stderr
    r = _cli("report", str(folder), "--out", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "Widget [bold]Market[/]"


def test_one_sized_year_is_solvable(tmp_path: Path) -> None:
    claims = "\n".join(CLAIMS_CSV.splitlines()[:2]) + "\n"  # only a1: 100 in 2018
    result = run(write_pack(tmp_path, claims_csv=claims))
    total = result.analysis.series[0]
    assert total.at(2018).value == pytest.approx(100, rel=0.01)
    assert total.at(2022).hi95 > total.at(2022).lo95 * 1.5  # nothing pins the growth: wide


def test_sizes_only_in_a_currency_without_rate_are_an_error_finding(tmp_path: Path) -> None:
    claims = CLAIMS_CSV.replace("USD bn", "GBP bn")
    codes = {f.code for f in validate(load(write_pack(tmp_path, claims_csv=claims)))}
    assert "NO-LEVEL-EVIDENCE" in codes


@pytest.mark.parametrize(
    ("change", "member", "field"),
    [
        (("{americas: 0.5, europe: 0.5}", "{americas: 0.0, europe: 1.0}"), "US", "base_share"),
        (("{small: 0.6, big: 0.4}", "{small: 1.0, big: 0.0}"), "big", "cagr"),
    ],
)
def test_zero_shares_give_no_nan(tmp_path: Path, change: tuple[str, str], member: str, field: str) -> None:
    folder = write_pack(tmp_path / "p", assumptions_yaml=ASSUMPTIONS_YAML.replace(*change))
    publish(run(folder), tmp_path / "o")  # to_json refuses NaN, so this alone would fail on one
    doc = json.loads((tmp_path / "o" / "report.json").read_text())
    row = next(s for s in doc["segments"] if s["member"] == member)
    total = doc["headline"]["total_base_year"]
    assert row["base_value"] < 1e-3 * total  # an assumed share of 0 stays (near) 0
    assert row[field] is None or np.isfinite(row[field])


def test_one_history_year_is_refused(tmp_path: Path) -> None:
    bad = MARKET_YAML.replace("history_start: 2018", "history_start: 2022")
    with pytest.raises(PackValueError, match="at least two history years"):
        load(write_pack(tmp_path, market_yaml=bad))


def test_a_cagr_with_only_its_end_stated_is_not_moved(tmp_path: Path) -> None:
    claims = add_rows(CLAIMS_CSV, "x1,alpha,growth,widgets,,,,,6,%,,2026,,,high,q")
    folder = write_pack(tmp_path, claims_csv=claims)
    codes = {f.code: f for f in validate(load(folder))}
    assert "CAGR-ENDPOINTS" not in codes and "CAGR-CONFLICT" not in codes
    assert codes["CAGR-PERIOD-UNKNOWN"].claims == ("x1",)
    verdict = next(v for v in run(folder).verdicts if v.claim_id == "x1")
    assert verdict.verdict == "not judged" and not verdict.used


def test_a_stated_ratio_uncertainty_widens_the_level(tmp_path: Path) -> None:
    market = MARKET_YAML
    claims = "\n".join(CLAIMS_CSV.splitlines()[:1]) + "\n" + "p1,beta,size,widgets and services,,,,2020,220,USD bn,,,,,high,q\n"
    narrow = ASSUMPTIONS_YAML + "ratios:\n  - {id: r1, definition: wid_plus, ratio: 2.0, uncertainty: 0.0, rationale: x}\n"
    wide = ASSUMPTIONS_YAML + "ratios:\n  - {id: r1, definition: wid_plus, ratio: 2.0, uncertainty: 0.5, rationale: x}\n"
    a = run(write_pack(tmp_path / "a", market_yaml=market, claims_csv=claims, assumptions_yaml=narrow)).analysis.series[0].at(2020)
    b = run(write_pack(tmp_path / "b", market_yaml=market, claims_csv=claims, assumptions_yaml=wide)).analysis.series[0].at(2020)
    assert a.value == pytest.approx(110, rel=0.02)
    assert (b.hi80 / b.lo80) > (a.hi80 / a.lo80) * 1.5


def test_every_country_name_resolves_to_itself() -> None:
    assert [n for code, n, _, _ in _table() if resolve_country(n).iso2 != code] == []


def test_only_child_keeps_the_total_provenance(tmp_path: Path) -> None:
    market = MARKET_YAML.replace("      - {id: big, name: Big widgets}\n", "")
    assumptions = ASSUMPTIONS_YAML.replace("  - {id: s-type, dimension: type, shares: {small: 0.6, big: 0.4}, uncertainty: 0.05, rationale: beta says 60%}\n", "")
    claims = CLAIMS_CSV.replace("b2,beta,share,widgets,type,Small widgets,type=small,2020,60,", "b2,beta,share,widgets,type,Small widgets,type=small,2020,100,")
    result = run(write_pack(tmp_path, market_yaml=market, assumptions_yaml=assumptions, claims_csv=claims))
    small = next(s for s in result.analysis.series if s.member == "small")
    us = next(s for s in result.analysis.series if s.member == "US")
    assert {p.provenance for p in small.points} == {"modelled"}
    assert {p.provenance for p in us.points} == {"assumed"}


def test_revenue_verdict_does_not_pretend_to_fit(pack: Path) -> None:
    v = next(v for v in run(pack).verdicts if v.claim_id == "c1")
    assert v.fitted is None and "of the market" in v.note


def test_share_outside_its_parent_is_refused(tmp_path: Path) -> None:
    claims = add_rows(CLAIMS_CSV, "x1,beta,share,widgets,country,Germany,geography=DE,2020,10,%,,,Americas,geography=americas,low,q")
    with pytest.raises(PackValueError, match="not inside parent_selection") as info:
        load(write_pack(tmp_path, claims_csv=claims))
    assert info.value.line == 7


def test_duplicate_yaml_key_is_refused(tmp_path: Path) -> None:
    bad = MARKET_YAML.replace("  widgets and services: wid_plus\n", "  widgets and services: wid_plus\n  widgets: wid_plus\n")
    with pytest.raises(PackError, match="appears twice") as info:
        load(write_pack(tmp_path, market_yaml=bad))
    assert info.value.line == 9


def test_negative_uncertainty_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PackValueError, match="negative"):
        load(write_pack(tmp_path, assumptions_yaml=ASSUMPTIONS_YAML.replace("uncertainty: 0.05, rationale: assumed}", "uncertainty: -0.05, rationale: assumed}", 1)))


def test_out_naming_a_file_exits_2(pack: Path, tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("keep")
    r = _cli("report", str(pack), "--out", str(target))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "fix:" in r.stderr
    assert target.read_text() == "keep"


def test_comment_only_optional_yaml(tmp_path: Path) -> None:
    with pytest.raises(PackError, match="no keys"):
        load(write_pack(tmp_path, assumptions_yaml="# nothing yet\n"))


def test_country_under_two_regions_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    bad = MARKET_YAML.replace("[DE, FR]", "[DE, FR, US]")
    codes = {f.code for f in validate(load(write_pack(tmp_path, market_yaml=bad)))}
    assert {"GEO-TWO-REGIONS", "SPLIT-MISSING"} <= codes
