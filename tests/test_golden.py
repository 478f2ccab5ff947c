"""Golden files of the published report, beside the invariant tests: report.json and report.md of the
widget pack, and report.md of the CMO market, compared with tests/golden/.

They change only deliberately: when a change to the model or the layout is meant, regenerate them
with ``MARKETCUBE_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py`` and review the
diff before committing. JSON numbers are compared to 6 significant digits (the solvers converge to
about 1e-9; a golden file is about what the report says, not the last bits of a float)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from marketcube.pipeline import publish, run

from .conftest import CMO
from .packs import write_pack

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("MARKETCUBE_UPDATE_GOLDEN") == "1"
EPOCH = "1795651200"  # 2026-11-26, the run date every golden file carries


def _rounded(x: Any) -> Any:
    if isinstance(x, float):
        return float(f"{x:.6g}")
    if isinstance(x, list):
        return [_rounded(v) for v in x]
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    return x


def _compare(name: str, produced: str, as_json: bool = False) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(produced, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing: regenerate with MARKETCUBE_UPDATE_GOLDEN=1 (see this module's docstring)"
    expected = path.read_text(encoding="utf-8")
    if as_json:
        assert _rounded(json.loads(produced)) == _rounded(json.loads(expected)), (
            f"report.json differs from {path}; if the change is meant, regenerate (see this module's docstring)")
    else:
        assert produced == expected, f"{name} differs from {path}; if the change is meant, regenerate it"


@pytest.fixture
def fixed_date(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)


def test_widget_report_matches_its_golden_files(fixed_date, tmp_path: Path) -> None:
    publish(run(write_pack(tmp_path / "pack")), tmp_path / "out", ("json", "md"))
    doc = (tmp_path / "out" / "report.json").read_text(encoding="utf-8")
    assert json.loads(doc)["run_date"] == "2026-11-26"
    _compare("widgets/report.json", doc, as_json=True)
    _compare("widgets/report.md", (tmp_path / "out" / "report.md").read_text(encoding="utf-8"))


def test_cmo_markdown_matches_its_golden_file(fixed_date, tmp_path: Path) -> None:
    publish(run(CMO), tmp_path / "out", ("md",))
    _compare("cmo/report.md", (tmp_path / "out" / "report.md").read_text(encoding="utf-8"))
