"""The PDF report (typst, no browser) read back with poppler: enough pages, all ten section titles,
the JSON's headline figures, vector charts (no raster image), no blank page, and pack text that
looks like typst markup or code printed as text."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from marketcube.pipeline import publish, run
from marketcube.report.fmt import fmt_bn, fmt_pct
from marketcube.report.sections import SECTIONS

from .conftest import CMO
from .packs import CLAIMS_CSV, NARRATIVE_MD, add_rows, write_pack

TYPST_HOSTILE = 'Typst: #set text(fill: red) *bold* _it_ $x^2$ #eval("6*7") <lbl> @lbl `raw` \\ ] [ #{1+1}'


def _tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.fail(f"{name} is missing: `make test` installs poppler-utils (apt-get install poppler-utils)")
    return path


def _text(pdf: Path) -> str:
    return subprocess.run([_tool("pdftotext"), "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def cmo_pdf(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("cmo")
    publish(run(CMO), out, ("json", "pdf"))
    return out / "report.pdf", json.loads((out / "report.json").read_text())


def test_pdf_has_the_ten_sections_and_the_json_headline(cmo_pdf) -> None:
    pdf, doc = cmo_pdf
    info = subprocess.run([_tool("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(next(x for x in info.splitlines() if x.startswith("Pages:")).split()[1])
    assert pages >= 8
    text = " ".join(_text(pdf).split())
    for number, (_, title) in enumerate(SECTIONS, 1):
        assert f"{number}. {title}" in text, title
    h = doc["headline"]
    first = " ".join(subprocess.run([_tool("pdftotext"), "-f", "1", "-l", "1", str(pdf), "-"], capture_output=True,
                                    text=True, check=True).stdout.split())
    base, end = doc["years"]["base_year"], doc["years"]["study_end"]
    # the title page's three headline figures, in the order of their labels, are the JSON's (poppler reads
    # the row of labels, then the row of values, each value followed by its provenance mark)
    import re

    labels = f"Market size {base} (USD bn) Market size {end} (USD bn, forecast) CAGR {base}→{end}"
    values = " ".join(re.escape(v) + "[SDMA]" for v in (fmt_bn(h["total_base_year"]), fmt_bn(h["total_study_end"]),
                                                         fmt_pct(h["cagr"]["value"])))
    assert re.search(re.escape(labels) + " " + values, first), first
    assert doc["inputs_hash"] in text and doc["edition"] in text and doc["run_date"] in text


def test_pdf_charts_are_vectors_and_no_page_is_blank(cmo_pdf, tmp_path: Path) -> None:
    pdf, doc = cmo_pdf
    images = subprocess.run([_tool("pdfimages"), "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert len(images.strip().splitlines()) == 2, images  # the header lines only: no raster image anywhere
    subprocess.run([_tool("pdftoppm"), "-r", "30", "-gray", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.pgm"))
    assert len(pages) >= 8
    for page in pages:
        ink = _ink(page)
        assert ink > 0.002, f"{page.name} is blank between its header and footer: {ink:.4f} of the pixels have ink"
    assert sum(1 for t in _text(pdf).split() if t.startswith("Figure")) >= len(doc["charts"])


def _ink(pgm: Path) -> float:
    """Share of the pixels darker than near-white between a page's header and footer (the middle
    84% of its height), from a binary PGM (P5) file."""
    raw = pgm.read_bytes()
    fields, pos = [], 0
    while len(fields) < 4:  # magic, width, height, maxval, separated by whitespace
        while raw[pos:pos + 1].isspace():
            pos += 1
        start = pos
        while not raw[pos:pos + 1].isspace():
            pos += 1
        fields.append(raw[start:pos])
    width, height = int(fields[1]), int(fields[2])
    pixels = np.frombuffer(raw[pos + 1:pos + 1 + width * height], dtype=np.uint8).reshape(height, width)
    body = pixels[int(0.08 * height):int(0.92 * height)]
    return float(np.mean(body < 200))


def test_typst_markup_in_pack_text_is_printed_as_text(tmp_path: Path) -> None:
    quote = TYPST_HOSTILE.replace('"', '""')
    claims = add_rows(CLAIMS_CSV, f'h1,beta,size,widgets,,,,2021,115,USD bn,,,,,low,"{quote}"')
    narrative = NARRATIVE_MD + "\n" + TYPST_HOSTILE + "\n"
    pack = write_pack(tmp_path / "pack", claims_csv=claims, narrative_md=narrative)
    publish(run(pack), tmp_path / "out", ("pdf",))
    text = " ".join(_text(tmp_path / "out" / "report.pdf").split())
    for piece in ("#set text(fill: red)", "*bold*", "_it_", "$x^2$", '#eval("6*7")', "<lbl>", "@lbl", "`raw`", "#{1+1}"):
        assert piece in text, piece
    assert "<script>alert(1)</script> is text, not markup." in text


def test_a_failed_pdf_process_says_why_and_leaves_the_output_folder_as_it_was(tmp_path: Path) -> None:
    from marketcube.report.pdf import Renderer

    renderer = Renderer()
    renderer.render({"not": "a report"}, tmp_path / "report.pdf")
    with pytest.raises(RuntimeError, match="(?s)the PDF could not be made: .*KeyError"):
        renderer.wait()
    assert not (tmp_path / "report.pdf").exists()
    renderer.close()


def test_charts_drawn_by_a_second_process_make_the_same_pdf(cmo_pdf, tmp_path: Path) -> None:
    from marketcube.report.pdf import Renderer

    _, doc = cmo_pdf
    texts = []
    for split in (False, True):
        renderer = Renderer(split=split)
        try:
            renderer.render(doc, tmp_path / f"{split}.pdf")
            renderer.wait()
        finally:
            renderer.close()
        texts.append(_text(tmp_path / f"{split}.pdf"))
        images = subprocess.run([_tool("pdfimages"), "-list", str(tmp_path / f"{split}.pdf")], capture_output=True,
                                text=True, check=True).stdout
        assert len(images.strip().splitlines()) == 2
    assert texts[0] == texts[1]
    assert not (tmp_path / ".True.pdf.charts" / "failed").exists()
