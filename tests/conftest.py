from __future__ import annotations

from pathlib import Path

import pytest

from .packs import write_pack


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    """A valid synthetic widget pack in a temporary folder (tests change one file each)."""
    return write_pack(tmp_path / "pack")


REPO = Path(__file__).resolve().parents[1]
CMO = REPO / "markets" / "cmo"
