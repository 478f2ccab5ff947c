"""Each validation code, triggered by a small synthetic pack (never by the seed's own words)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from marketcube.pack import load
from marketcube.validate import validate

from .packs import ASSUMPTIONS_YAML, CLAIMS_CSV, COMPANIES_CSV, MARKET_YAML, SOURCES_CSV, STRUCTURE_CSV, add_rows, write_pack


def _codes(folder: Path) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in validate(load(folder)):
        out.setdefault(f.code, []).append(f)
    return out


def test_clean_pack_has_no_findings(pack: Path) -> None:
    assert validate(load(pack)) == []


def _structure(*rows: str) -> str:
    return add_rows(STRUCTURE_CSV, *rows)


def test_garbled_and_unknown_country_names(tmp_path: Path) -> None:
    text = _structure(
        "g1,beta,widgets,geography,Europe,Germany,q",
        "g2,beta,widgets,geography,Americas,Brazil Peru,q",
        "g3,beta,widgets,geography,Americas,Wakanda,q",
    )
    codes = _codes(write_pack(tmp_path, structure_csv=text))
    assert [f.claims for f in codes["GEO-NAME-GARBLED"]] == [("g2",)]
    assert "BR" in codes["GEO-NAME-GARBLED"][0].message and "PE" in codes["GEO-NAME-GARBLED"][0].message
    assert [f.claims for f in codes["GEO-NAME-UNKNOWN"]] == [("g3",)]
    assert all(f.severity == "warning" for f in codes["GEO-NAME-GARBLED"] + codes["GEO-NAME-UNKNOWN"])


def test_source_lists_a_country_under_two_regions(tmp_path: Path) -> None:
    text = _structure("g1,beta,widgets,geography,Europe,Federal Republic of Germany,q", "g2,beta,widgets,geography,Americas,Germany,q")
    (f,) = _codes(write_pack(tmp_path, structure_csv=text))["GEO-SOURCE-TWO-REGIONS"]
    assert f.severity == "warning" and f.claims == ("g1", "g2") and "DE" in f.message


def test_pack_puts_a_country_under_two_regions(tmp_path: Path) -> None:
    bad = MARKET_YAML.replace("[DE, FR]", "[DE, FR, US]")
    assumptions = ASSUMPTIONS_YAML.replace("europe_rest: 0.2}", "europe_rest: 0.2, US: 0.0}")
    (f,) = _codes(write_pack(tmp_path, market_yaml=bad, assumptions_yaml=assumptions))["GEO-TWO-REGIONS"]
    assert f.severity == "error" and "US" in f.message


def test_grouping_that_differs_from_m49_is_info(tmp_path: Path) -> None:
    bad = MARKET_YAML.replace("[DE, FR]", "[DE, FR, TR]")
    assumptions = ASSUMPTIONS_YAML.replace("{DE: 0.5, FR: 0.3, europe_rest: 0.2}", "{DE: 0.5, FR: 0.2, TR: 0.1, europe_rest: 0.2}")
    (f,) = _codes(write_pack(tmp_path, market_yaml=bad, assumptions_yaml=assumptions))["GEO-M49-DIFFERS"]
    assert f.severity == "info" and "Western Asia (145)" in f.message


def test_shares_past_100_and_mixed_levels(tmp_path: Path) -> None:
    text = add_rows(
        CLAIMS_CSV,
        "r1,beta,share,widgets,region,Americas,geography=americas,,60,%,,,global,,low,q1",
        "r2,beta,share,widgets,region,Europe,geography=europe,,30,%,,,global,,low,q2",
        "r3,beta,share,widgets,country,United States,geography=US,,25,%,,,global,,low,q3",
    )
    codes = _codes(write_pack(tmp_path, claims_csv=text))
    (over,) = codes["SHARE-OVER-100"]
    assert over.claims == ("r1", "r2", "r3") and "115%" in over.message
    (mixed,) = codes["SHARE-MIXED-LEVELS"]
    assert "United States lies inside Americas" in mixed.message
    assert mixed.quotes == ("q1", "q2", "q3")


def test_mixed_levels_even_when_they_sum_to_100(tmp_path: Path) -> None:
    text = add_rows(
        CLAIMS_CSV,
        "r1,beta,share,widgets,region,Americas,geography=americas,,50,%,,,global,,low,q",
        "r3,beta,share,widgets,country,US,geography=US,,50,%,,,global,,low,q",
    )
    codes = _codes(write_pack(tmp_path, claims_csv=text))
    assert "SHARE-OVER-100" not in codes and len(codes["SHARE-MIXED-LEVELS"]) == 1


def test_one_member_two_shares(tmp_path: Path) -> None:
    text = add_rows(CLAIMS_CSV, "b3,beta,share,widgets,type,Small ones,type=small,2020,55,%,,,global,,medium,q")
    (f,) = _codes(write_pack(tmp_path, claims_csv=text))["SHARE-TWO-VALUES"]
    assert f.claims == ("b2", "b3")


def test_cagr_its_own_endpoints_contradict(tmp_path: Path) -> None:
    # 100 -> 121.55 over 2018..2022 is 5.00% (4 periods) or 6.72% (3 periods); 5.5% matches neither
    text = CLAIMS_CSV.replace("a3,alpha,growth,widgets,,,,,5,%,2018,2022", "a3,alpha,growth,widgets,,,,,5.5,%,,")
    (f,) = _codes(write_pack(tmp_path, claims_csv=text))["CAGR-ENDPOINTS"]
    assert f.claims == ("a3", "a1", "a2")
    assert "5.00% over 4 years (2018..2022)" in f.message and "6.72% over 3 years (2019..2022)" in f.message


@pytest.mark.parametrize("rate", ["5.1", "6.7"])
def test_cagr_within_tolerance_under_either_convention(tmp_path: Path, rate: str) -> None:
    text = CLAIMS_CSV.replace("a3,alpha,growth,widgets,,,,,5,%,2018,2022", f"a3,alpha,growth,widgets,,,,,{rate},%,,")
    assert "CAGR-ENDPOINTS" not in _codes(write_pack(tmp_path, claims_csv=text))


def test_conflicting_cagrs(tmp_path: Path) -> None:
    text = add_rows(CLAIMS_CSV, "b4,beta,growth,widgets,,,,,9,%,2020,2025,,,low,q")
    (f,) = _codes(write_pack(tmp_path, claims_csv=text))["CAGR-CONFLICT"]
    assert set(f.claims) == {"a3", "b4"} and "5% 2018-2022" in f.message


def test_cagrs_that_do_not_overlap_do_not_conflict(tmp_path: Path) -> None:
    text = add_rows(CLAIMS_CSV, "b4,beta,growth,widgets,,,,,9,%,2022,2025,,,low,q")
    assert "CAGR-CONFLICT" not in _codes(write_pack(tmp_path, claims_csv=text))


def test_value_labelled_with_two_years(tmp_path: Path) -> None:
    text = add_rows(CLAIMS_CSV, "b5,beta,size,widgets,,,,2021,110.25,USD bn,,,,,medium,q")
    (f,) = _codes(write_pack(tmp_path, claims_csv=text))["YEAR-TWO-LABELS"]
    assert f.claims == ("b1", "b5") and "2020 and 2021" in f.message


def test_currency_without_rate(tmp_path: Path) -> None:
    text = add_rows(COMPANIES_CSV, "c3,beta,Acme,2017,12-31,EUR,4500,group,high", "c4,beta,Kobo,2020,12-31,JPY,9000,group,high")
    codes = _codes(write_pack(tmp_path, companies_csv=text))
    assert sorted(f.claims for f in codes["FX-MISSING"]) == [("c3",), ("c4",)]
    assert any("no FX rate for EUR in 2017" in f.message for f in codes["FX-MISSING"])


def test_fiscal_year_not_december_is_info(tmp_path: Path) -> None:
    text = add_rows(COMPANIES_CSV, "c3,beta,Bolt,2021,03-31,EUR,100,group,high")
    (f,) = _codes(write_pack(tmp_path, companies_csv=text))["FISCAL-YEAR-CALENDARISED"]
    assert f.severity == "info" and f.claims == ("c3",)


def test_scope_change_in_a_company_series(tmp_path: Path) -> None:
    text = add_rows(COMPANIES_CSV, "c3,beta,Acme,2020,12-31,EUR,4000,continuing operations,high")
    (f,) = _codes(write_pack(tmp_path, companies_csv=text))["COMPANY-SCOPE-CHANGE"]
    assert f.claims == ("c3", "c1") and "'continuing operations' (2020) then 'group' (2021)" in f.message


def test_claim_without_source_is_an_error(tmp_path: Path) -> None:
    text = add_rows(CLAIMS_CSV, "x1,,size,widgets,,,,2019,105,USD bn,,,,,high,q")
    (f,) = _codes(write_pack(tmp_path, claims_csv=text))["CLAIM-NO-SOURCE"]
    assert f.severity == "error" and f.location == "claims.csv:7"


def test_unmapped_label_is_an_error(tmp_path: Path) -> None:
    text = add_rows(CLAIMS_CSV, "x1,beta,size,gadgets,,,,2019,105,USD bn,,,,,high,q")
    (f,) = _codes(write_pack(tmp_path, claims_csv=text))["LABEL-UNMAPPED"]
    assert f.severity == "error" and "'gadgets'" in f.message


def test_segmentation_promised_but_not_given(tmp_path: Path) -> None:
    text = SOURCES_CSV.replace("alpha.example/w,2023,type", "alpha.example/w,2023,type;colour;geography")
    (f,) = _codes(write_pack(tmp_path, sources_csv=text))["SEGMENT-PROMISED-MISSING"]
    assert "colour, geography" in f.message and f.location == "sources.csv:2"


def test_missing_split_is_an_error(tmp_path: Path) -> None:
    bad = "\n".join(line for line in ASSUMPTIONS_YAML.splitlines() if "s-am" not in line) + "\n"
    (f,) = _codes(write_pack(tmp_path, assumptions_yaml=bad))["SPLIT-MISSING"]
    assert f.severity == "error" and "americas" in f.message


def test_no_level_evidence_is_an_error(tmp_path: Path) -> None:
    text = "\n".join(line for line in CLAIMS_CSV.splitlines() if ",size," not in line) + "\n"
    assert _codes(write_pack(tmp_path, claims_csv=text))["NO-LEVEL-EVIDENCE"][0].severity == "error"


def test_cli_json_and_exit_status(tmp_path: Path) -> None:
    text = add_rows(CLAIMS_CSV, "x1,,size,widgets,,,,2019,105,USD bn,,,,,high,q", "b5,beta,size,widgets,,,,2021,110.25,USD bn,,,,,medium,q")
    folder = write_pack(tmp_path, claims_csv=text)
    r = subprocess.run([sys.executable, "-m", "marketcube.cli", "validate", str(folder), "--format", "json"], capture_output=True, text=True)
    assert r.returncode == 1
    findings = json.loads(r.stdout)
    assert {tuple(sorted(f)) for f in findings} == {("claims", "code", "location", "message", "quotes", "severity")}
    assert {f["code"] for f in findings} >= {"CLAIM-NO-SOURCE", "YEAR-TWO-LABELS"}
    r = subprocess.run([sys.executable, "-m", "marketcube.cli", "validate", str(write_pack(tmp_path / "ok"))], capture_output=True, text=True)
    assert r.returncode == 0 and "0 error(s), 0 warning(s), 0 info" in r.stdout
