"""The CLI: help on every command, docs that match it, output people can read."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from marketcube.docs import COMMANDS, cli_reference, help_text

from .conftest import REPO


def test_every_command_has_help_with_an_example() -> None:
    for name in COMMANDS:
        text = help_text(name)
        assert "Example: marketcube " + name in text, name


def test_cli_reference_is_up_to_date() -> None:
    from marketcube.docs import readme_with_reference

    assert (REPO / "docs" / "cli.md").read_text() == cli_reference(), "run `make docs`"
    readme = (REPO / "README.md").read_text()
    assert readme_with_reference(readme) == readme, "run `make docs`"


def test_readme_shows_the_two_commands_and_the_cli_reference() -> None:
    readme = (REPO / "README.md").read_text()
    assert "make report" in readme and "make test" in readme
    assert "docs/cli.md" in readme and "docs/market-pack.md" in readme
    for name in COMMANDS:
        assert f"marketcube {name}" in readme


def test_report_prints_headline_and_paths(pack: Path, tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "marketcube.cli", "report", str(pack), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, env={"COLUMNS": "60", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "Widget Market"
    assert lines[1].startswith("  2022: USD 122 bn (80% ")
    # the 5% history carried on, damped (see test_pipeline.test_consistent_evidence_is_recovered)
    cagr = re.search(r"CAGR 2022->2026 \(4 periods\): (-?[0-9.]+)%", lines[3])
    assert cagr and 2.5 <= float(cagr.group(1)) <= 5.0
    names = ("report.json", "report.html", "report.pdf", "report.md", "report.xlsx", "cube.parquet")
    assert lines[-6:] == [f"  wrote {tmp_path / 'o' / name}" for name in names]
    assert "\x1b[" not in r.stdout  # no escape codes when not a terminal


def test_validate_table_fits_a_narrow_terminal() -> None:
    from .conftest import CMO

    r = subprocess.run([sys.executable, "-m", "marketcube.cli", "validate", str(CMO)], capture_output=True, text=True,
                       env={"COLUMNS": "80", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0
    assert max(len(line) for line in r.stdout.splitlines()) <= 80
    assert "GEO-NAME-GARBLED" in r.stdout
