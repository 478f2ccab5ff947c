"""The README's pictures, from a published report: the PDF's first page (pdftoppm) and the market
size chart as the HTML page draws it (headless Chromium).

    .venv/bin/marketcube report && .venv/bin/python tools/readme_images.py out/cmo docs/img
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

from screenshot import ARGS, CHROMIUM


def first_page(pdf: Path, png: Path) -> None:
    subprocess.run(["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                    str(png.with_suffix(""))], check=True)


def chart(html: Path, png: Path, chart_id: str = "total") -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 900, "height": 900}, device_scale_factor=1)
        page.goto(html.resolve().as_uri())
        page.wait_for_selector(f"#chart-{chart_id} svg.marks")
        page.locator(f"#chart-{chart_id}").locator("xpath=..").screenshot(path=str(png))
        browser.close()


if __name__ == "__main__":
    report, folder = Path(sys.argv[1]), Path(sys.argv[2])
    folder.mkdir(parents=True, exist_ok=True)
    first_page(report / "report.pdf", folder / "report-first-page.png")
    chart(report / "report.html", folder / "report-chart.png")
    print(f"wrote {folder / 'report-first-page.png'} and {folder / 'report-chart.png'}")
