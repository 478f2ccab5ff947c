"""Bad input: each case gives one clear error naming the file (and line) and how to fix it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from marketcube.errors import (
    DuplicateId,
    PackError,
    PackFileMissing,
    PackFileUnreadable,
    PackSyntaxError,
    PackValueError,
    UnknownReference,
)
from marketcube.pack import load

from .packs import CLAIMS_CSV, MARKET_YAML, SOURCES_CSV, add_rows, write_pack


def _error(folder: Path) -> PackError:
    with pytest.raises(PackError) as info:
        load(folder)
    return info.value


def test_valid_pack_loads(pack: Path) -> None:
    m = load(pack)
    assert m.id == "widgets"
    assert [d.id for d in m.dimensions] == ["type", "geography"]
    geo = m.dimension("geography")
    assert [x.id for x in geo.leaves] == ["US", "BR", "DE", "FR", "europe_rest"]
    assert m.model_end == 2026
    assert len(m.inputs_hash) == 64


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    bad = MARKET_YAML.replace("title: Widget Market", "title: Widget: Market: [unclosed")
    e = _error(write_pack(tmp_path, market_yaml=bad))
    assert isinstance(e, PackSyntaxError)
    assert e.file == "market.yaml" and e.line == 2
    assert "quotes" in e.hint


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    bad = MARKET_YAML.replace("title: Widget Market", "title: !!python/object/apply:os.system ['touch /tmp/pwned-mc']")
    e = _error(write_pack(tmp_path, market_yaml=bad))
    assert isinstance(e, PackSyntaxError) and e.line == 2
    assert not Path("/tmp/pwned-mc").exists()


def test_malformed_csv_row_width(tmp_path: Path) -> None:
    text = add_rows(CLAIMS_CSV, "x1,alpha,size,widgets,,,,2019,105,USD bn")
    e = _error(write_pack(tmp_path, claims_csv=text))
    assert isinstance(e, PackSyntaxError)
    assert (e.file, e.line) == ("claims.csv", 7)
    assert "quote" in e.hint


def test_wrong_type_in_yaml(tmp_path: Path) -> None:
    bad = MARKET_YAML.replace("base_year: 2022", "base_year: twenty-twenty-two")
    e = _error(write_pack(tmp_path, market_yaml=bad))
    assert isinstance(e, PackValueError)
    assert e.file == "market.yaml" and e.line == 9
    assert "base_year" in e.message and "whole number" in e.message


@pytest.mark.parametrize(
    ("value", "words"),
    [("abc", "not a number"), ("-5", "must be positive"), ("0", "must be positive"), ("nan", "finite")],
)
def test_bad_numbers(tmp_path: Path, value: str, words: str) -> None:
    text = add_rows(CLAIMS_CSV, f"x1,alpha,size,widgets,,,,2019,{value},USD bn,,,,,high,q")
    e = _error(write_pack(tmp_path, claims_csv=text))
    assert isinstance(e, PackValueError)
    assert (e.file, e.line) == ("claims.csv", 7)
    assert words in e.message and "value" in e.message


def test_unknown_member(tmp_path: Path) -> None:
    text = add_rows(CLAIMS_CSV, "x1,alpha,share,widgets,type,Huge,type=huge,2020,5,%,,,,,high,q")
    e = _error(write_pack(tmp_path, claims_csv=text))
    assert isinstance(e, UnknownReference)
    assert (e.file, e.line) == ("claims.csv", 7)
    assert "'huge'" in e.message and "small" in e.hint


def test_unknown_source(tmp_path: Path) -> None:
    text = add_rows(CLAIMS_CSV, "x1,gamma,size,widgets,,,,2019,105,USD bn,,,,,high,q")
    e = _error(write_pack(tmp_path, claims_csv=text))
    assert isinstance(e, UnknownReference) and e.line == 7 and "sources.csv" in e.hint


def test_unknown_country_code(tmp_path: Path) -> None:
    e = _error(write_pack(tmp_path, market_yaml=MARKET_YAML.replace("[US, BR]", "[US, XQ]")))
    assert isinstance(e, UnknownReference) and e.file == "market.yaml" and "XQ" in e.message


def test_duplicate_ids(tmp_path: Path) -> None:
    text = add_rows(CLAIMS_CSV, "a1,alpha,size,widgets,,,,2019,105,USD bn,,,,,high,q")
    e = _error(write_pack(tmp_path, claims_csv=text))
    assert isinstance(e, DuplicateId)
    assert (e.file, e.line) == ("claims.csv", 7) and "claims.csv:2" in e.message


def test_duplicate_source_ids(tmp_path: Path) -> None:
    e = _error(write_pack(tmp_path, sources_csv=add_rows(SOURCES_CSV, "alpha,Other,,,,")))
    assert isinstance(e, DuplicateId) and (e.file, e.line) == ("sources.csv", 4)


def test_missing_file(tmp_path: Path) -> None:
    folder = write_pack(tmp_path)
    (folder / "claims.csv").unlink()
    e = _error(folder)
    assert isinstance(e, PackFileMissing) and e.file == "claims.csv" and "create" in e.hint


def test_missing_folder(tmp_path: Path) -> None:
    assert isinstance(_error(tmp_path / "nowhere"), PackFileMissing)


def test_empty_file(tmp_path: Path) -> None:
    e = _error(write_pack(tmp_path, sources_csv="  \n"))
    assert isinstance(e, PackFileUnreadable) and e.file == "sources.csv" and "empty" in e.message


def test_non_utf8(tmp_path: Path) -> None:
    folder = write_pack(tmp_path)
    raw = (folder / "claims.csv").read_bytes().replace(b"Widgets were", b"Widg\xe9ts were")
    (folder / "claims.csv").write_bytes(raw)
    e = _error(folder)
    assert isinstance(e, PackFileUnreadable)
    assert (e.file, e.line) == ("claims.csv", 2) and "UTF-8" in e.hint


def test_file_over_50_mb(tmp_path: Path) -> None:
    folder = write_pack(tmp_path)
    with open(folder / "claims.csv", "r+b") as f:
        f.truncate(51 * 1024 * 1024)
    e = _error(folder)
    assert isinstance(e, PackFileUnreadable) and "50 MB" in e.message


def test_missing_column(tmp_path: Path) -> None:
    e = _error(write_pack(tmp_path, sources_csv="id,publisher\nalpha,Alpha\n"))
    assert isinstance(e, PackValueError) and (e.file, e.line) == ("sources.csv", 1) and "promises" in e.message


def test_split_that_does_not_sum_to_one(tmp_path: Path) -> None:
    from .packs import ASSUMPTIONS_YAML

    bad = ASSUMPTIONS_YAML.replace("{small: 0.6, big: 0.4}", "{small: 0.6, big: 0.6}")
    e = _error(write_pack(tmp_path, assumptions_yaml=bad))
    assert isinstance(e, PackValueError) and e.file == "assumptions.yaml" and e.line == 2 and "1.200" in e.message


def test_cli_exit_2_without_traceback(tmp_path: Path) -> None:
    bad = MARKET_YAML.replace("base_year: 2022", "base_year: soon")
    folder = write_pack(tmp_path / "p", market_yaml=bad)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("untouched")
    for args in (["validate", str(folder)], ["report", str(folder), "--out", str(out)]):
        r = subprocess.run([sys.executable, "-m", "marketcube.cli", *args], capture_output=True, text=True)
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr + r.stdout
        assert "market.yaml:9" in r.stderr and "fix:" in r.stderr
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_a_shrinking_market_and_a_zero_share_are_allowed(tmp_path: Path) -> None:
    text = add_rows(
        CLAIMS_CSV,
        "x1,beta,growth,widgets,,,,,-2.5,%,2022,2024,,,low,q",
        "x2,beta,share,widgets,type,Big widgets,type=big,2019,0,%,,,,,low,q",
        "x3,beta,size,widgets,,,,2019,105,usd bn,,,,,low,q",
    )
    m = load(write_pack(tmp_path, claims_csv=text))
    by_id = {c.id: c for c in m.claims}
    assert by_id["x1"].value == -2.5 and by_id["x2"].value == 0 and by_id["x3"].unit == "USD bn"


@pytest.mark.parametrize(
    ("change", "words", "line"),
    [
        (("countries: [US, BR]", "countries: [US, NO]"), "not a two-letter code as text", 21),
        (('m49: ["019"]', "m49: [021]"), "must be quoted", 20),
        (("  - id: type\n", "  - id: geography\n"), "reserved", 11),
        (("currency: USD\n", ""), None, None),
    ],
)
def test_yaml_quirks_are_caught(tmp_path: Path, change: tuple[str, str], words: str | None, line: int | None) -> None:
    text = MARKET_YAML.replace(*change)
    if words is None:
        load(write_pack(tmp_path, market_yaml=text))  # currency defaults to USD
        return
    e = _error(write_pack(tmp_path, market_yaml=text))
    assert words in e.message and e.line == line, (e.message, e.line)


def test_other_currency_basis_is_refused(tmp_path: Path) -> None:
    e = _error(write_pack(tmp_path, market_yaml="currency: EUR\n" + MARKET_YAML))
    assert isinstance(e, PackValueError) and e.line == 1 and "USD" in e.hint


def test_two_splits_of_one_parent(tmp_path: Path) -> None:
    from .packs import ASSUMPTIONS_YAML

    extra = ASSUMPTIONS_YAML.replace(
        "attributions:", "  - {id: s-type2, dimension: type, shares: {small: 0.5, big: 0.5}, uncertainty: 0.05, rationale: x}\nattributions:"
    )
    e = _error(write_pack(tmp_path, assumptions_yaml=extra))
    assert isinstance(e, DuplicateId) and "type/(top)" in e.message


def test_impossible_fiscal_year_end(tmp_path: Path) -> None:
    from .packs import COMPANIES_CSV

    e = _error(write_pack(tmp_path, companies_csv=add_rows(COMPANIES_CSV, "c3,beta,Bolt,2021,02-31,EUR,100,group,high")))
    assert isinstance(e, PackValueError) and (e.file, e.line) == ("companies.csv", 4) and "MM-DD" in e.message
