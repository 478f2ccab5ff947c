"""The HTML report in real headless Chromium (Debian's, driven by Playwright): self-contained,
pack text shown as text, readable on a phone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from marketcube.pipeline import publish, run

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if not shutil.which("chromium"):
        pytest.fail("Debian's chromium is missing: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _open(browser, html: Path, width: int):
    page = browser.new_page(viewport={"width": width, "height": 900})
    requests: list[str] = []
    dialogs: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(html.resolve().as_uri())
    page.wait_for_load_state("load")
    return page, requests, dialogs


def test_report_is_self_contained_and_pack_text_is_data(browser, pack: Path, tmp_path: Path) -> None:
    result = run(pack)
    publish(result, tmp_path / "out")
    page, requests, dialogs = _open(browser, tmp_path / "out" / "report.html", 1200)
    assert [u for u in requests if not u.startswith("file://")] == []
    assert dialogs == []  # the narrative's <script> did not run
    assert "<script>alert(1)</script> is text, not markup." in page.inner_text("main")
    assert page.title().startswith("Widget Market")
    headline = page.inner_text(".headline")
    assert "122" in headline and f"{100 * result.analysis.headline.cagr:.1f}%" in headline
    page.close()


def test_cmo_report_reads_on_a_phone(browser, tmp_path: Path) -> None:
    from .conftest import CMO

    publish(run(CMO), tmp_path / "out")
    page, requests, _ = _open(browser, tmp_path / "out" / "report.html", 390)
    assert [u for u in requests if not u.startswith("file://")] == []
    # wide tables scroll inside their own box; the page itself does not scroll sideways
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot = tmp_path / "phone.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    text = page.inner_text("#findings + p")
    assert "warnings" in text
    page.close()
