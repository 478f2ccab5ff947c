"""The HTML report in real headless Chromium (Debian's, driven by Playwright): self-contained, no
console error, pack text shown as text, readable on a phone and on a wide screen, interactive
charts (a tooltip on hover) and sortable tables. Screenshots are kept in out/test-artifacts/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from marketcube.pipeline import publish, run

from .conftest import CMO, REPO

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
ARTIFACTS = REPO / "out" / "test-artifacts"


@pytest.fixture(scope="module")
def browser():
    if not shutil.which("chromium"):
        pytest.fail("Debian's chromium is missing: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def cmo_html(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cmo")
    publish(run(CMO), out, ("json", "html"))
    return out / "report.html"


class Page:
    def __init__(self, browser, html: Path, width: int) -> None:
        self.page = browser.new_page(viewport={"width": width, "height": 900})
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(html.resolve().as_uri())
        self.page.wait_for_load_state("load")
        # every chart drawn (vega-embed renders asynchronously)
        self.page.wait_for_function(
            "document.querySelectorAll('.chart').length === document.querySelectorAll('.chart svg.marks').length")

    def outside(self) -> list[str]:
        return [u for u in self.requests if not u.startswith("file://")]


HOSTILE_QUOTE = '<img src=x onerror="alert(2)"> </script><script>alert(3)</script> & "quoted"'


def test_report_is_self_contained_and_pack_text_is_data(browser, tmp_path: Path) -> None:
    from .packs import CLAIMS_CSV, add_rows, write_pack

    quote = HOSTILE_QUOTE.replace('"', '""')
    pack = write_pack(tmp_path / "pack", claims_csv=add_rows(CLAIMS_CSV, f'h1,beta,size,widgets,,,,2021,115,USD bn,,,,,low,"{quote}"'))
    result = run(pack)
    publish(result, tmp_path / "out", ("json", "html"))
    p = Page(browser, tmp_path / "out" / "report.html", 1200)
    assert p.outside() == [] and p.errors == []
    assert p.dialogs == []  # neither the narrative's <script> nor a claim's markup ran
    main = p.page.inner_text("main")
    assert "<script>alert(1)</script> is text, not markup." in main
    assert HOSTILE_QUOTE in main  # a claim's quote, shown as written
    assert p.page.locator("main img").count() == 0
    assert p.page.title().startswith("Widget Market")
    snapshot = p.page.inner_text("#snapshot .facts")
    from marketcube.report.fmt import fmt_bn

    h = result.analysis.headline
    assert fmt_bn(h.start_value) in snapshot and f"{100 * h.cagr:.1f}%" in snapshot
    p.page.close()


@pytest.mark.parametrize("width", [390, 1440])
def test_cmo_report_fits_a_phone_and_a_wide_screen(browser, cmo_html: Path, width: int) -> None:
    p = Page(browser, cmo_html, width)
    assert p.outside() == [], "a request left the machine"
    assert p.errors == [], p.errors
    # wide tables scroll inside their own box; the page itself does not scroll sideways
    assert p.page.evaluate("document.documentElement.scrollWidth") <= width
    titles = p.page.eval_on_selector_all("section > h2", "hs => hs.map(h => h.textContent)")
    assert len([t for t in titles if t[0].isdigit()]) == 10
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"report-{width}.png"
    p.page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    # every chart has a text alternative
    labels = p.page.eval_on_selector_all(".chart", "cs => cs.map(c => c.getAttribute('aria-label') || '')")
    assert labels and all(len(x) > 40 for x in labels)
    # no chart prints a word over another or runs two together (within 1 px), at either width
    clashes = p.page.evaluate(OVERLAPPING_TEXT)
    assert clashes == [], clashes
    p.page.close()


# pairs of visible <text> elements of one chart whose boxes come within 1 px of each other
OVERLAPPING_TEXT = """() => {
  const out = [];
  document.querySelectorAll('.chart svg').forEach(svg => {
    const boxes = Array.from(svg.querySelectorAll('text'))
      .filter(t => t.textContent.trim() && Number(getComputedStyle(t).opacity) > 0)
      .map(t => [t.textContent, t.getBoundingClientRect()]).filter(([, r]) => r.width > 0);
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
      const [a, r] = boxes[i], [b, q] = boxes[j];
      if (r.left < q.right + 1 && q.left < r.right + 1 && r.top < q.bottom - 1 && q.top < r.bottom - 1)
        out.push(svg.closest('.chart').id + ': ' + a + ' / ' + b);
    }
  });
  return out;
}"""


def test_chart_tooltip_appears_on_hover(browser, cmo_html: Path) -> None:
    p = Page(browser, cmo_html, 1200)
    point = p.page.locator("#chart-total .mark-symbol path").nth(3)
    point.scroll_into_view_if_needed()
    point.hover(force=True)
    tooltip = p.page.locator("#vg-tooltip-element.visible")
    tooltip.wait_for(state="visible", timeout=5000)
    text = tooltip.inner_text()
    assert "USD bn" in text and "80% low" in text
    p.page.close()


def test_header_click_sorts_its_table(browser, cmo_html: Path, tmp_path: Path) -> None:
    doc = json.loads((cmo_html.parent / "report.json").read_text())
    p = Page(browser, cmo_html, 1200)
    table = "#table-geography-detail-shares"
    col = [c["key"] for c in doc["tables"]["geography-detail-shares"]["columns"]].index("base")
    values = f"""() => Array.from(document.querySelectorAll('{table} tbody tr'))
                       .map(r => parseFloat(r.cells[{col}].getAttribute('data-v')))"""
    before = p.page.evaluate(values)
    header = p.page.locator(f"{table} thead th").nth(col)
    header.locator("button").click()
    ascending = p.page.evaluate(values)
    assert ascending == sorted(before) and ascending != before
    assert header.get_attribute("aria-sort") == "ascending"
    header.locator("button").click()
    assert p.page.evaluate(values) == sorted(before, reverse=True)
    p.page.close()
