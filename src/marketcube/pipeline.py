"""The flow, one way: load -> validate -> normalise -> triangulate -> forecast -> reconcile -> analyse -> publish.

``run(pack)`` computes everything and returns a ``Run``; ``publish(run, out)`` writes the files,
all or nothing: they are written to a temporary folder beside ``out`` and moved into place only
when every one is complete, so a failed run leaves ``out`` as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from . import __version__
from .analysis import Analysis, analyse
from .cube import Cube
from .errors import PackRefused
from .evidence import Evidence, normalise
from .findings import Finding
from .forecast.stage import BaseForecast, forecast_cube
from .pack import Market, load
from .solve.judge import Verdict, judge
from .solve.reconcile import reconcile
from .solve.evidence import Triangulation, sensitivity, triangulate
from .validate import validate

if TYPE_CHECKING:
    from .report.pdf import Renderer

__all__ = ["Run", "run", "publish", "default_pack", "FORMATS"]

FORMATS = ("json", "html", "pdf", "md", "xlsx", "parquet")


def default_pack() -> Path:
    """The built-in CMO pack (markets/cmo in the source tree)."""
    return Path(__file__).resolve().parents[2] / "markets" / "cmo"


@dataclass
class Run:
    market: Market
    findings: list[Finding]
    evidence: Evidence
    history: Triangulation
    base_forecast: BaseForecast
    cube: Cube
    verdicts: list[Verdict]
    analysis: Analysis
    methodology: list[dict[str, str]]
    sensitivity: list[dict]
    code_version: str = __version__
    files: list[Path] = field(default_factory=list)

    @property
    def document(self) -> dict[str, Any]:
        from .report.document import build_document

        return build_document(self)


def run(pack: str | Path | None = None, progress: Callable[[str], None] = lambda s: None) -> Run:
    """Run every stage on a pack folder (the built-in CMO pack when None). Raises PackError or PackRefused."""
    progress("load")
    market = load(pack or default_pack())
    progress("validate")
    findings = validate(market)
    if any(f.severity == "error" for f in findings):
        raise PackRefused(findings)
    progress("normalise")
    evidence = normalise(market)
    progress("triangulate")
    history = triangulate(market, evidence)
    progress("forecast")
    base = forecast_cube(market, history)
    progress("reconcile")
    reconciled = reconcile(market, evidence, history, base)
    cube = reconciled.cube
    verdicts = judge(market, evidence, cube, history, reconciled.used)
    progress("sensitivity")
    sens = sensitivity(market, evidence, history)
    progress("analyse")
    analysis = analyse(market, cube)
    methodology = [
        {"stage": "normalise", "text": f"FX: {market.fx_policy}. Calendarisation: {market.calendarisation}."},
        {"stage": "triangulate", "text": history.method},
        {"stage": "forecast", "text": base.method},
        {"stage": "reconcile", "text": reconciled.method},
        {
            "stage": "verdicts",
            "text": "each claim's standardised residual z against the cube, in its own terms, divided by the "
            "residual dispersion: |z| <= 2 consistent, 2-3 in tension, above 3 contradicted",
        },
        {
            "stage": "provenance",
            "text": "sourced (equals a claim after stated conversions), derived (arithmetic on sourced numbers), "
            "modelled (solver or forecast output), assumed (from an assumption alone); the weakest input decides",
        },
    ]
    return Run(market, findings, evidence, history, base, cube, verdicts, analysis, methodology, sens)


def publish(result: Run, out: str | Path, formats: tuple[str, ...] = FORMATS,
            progress: Callable[[str], None] = lambda s: None, pdf_renderer: Renderer | None = None) -> list[Path]:
    """Write the report files into ``out`` (created if needed), atomically; returns their paths.

    ``formats``: any of json (report.json, the document model), html (report.html, self-contained),
    pdf (report.pdf, typst), md (report.md), xlsx (report.xlsx, the data pack) and parquet
    (cube.parquet, every series and year in long form). The PDF is made in a process of its own
    (``report.pdf.Renderer``; pass one started before ``run`` to have it warm up meanwhile), which
    ``publish`` stops when it returns."""
    from .report.cube_table import write_parquet
    from .report.document import to_json
    from .report.excel import write_excel
    from .report.html import render_html
    from .report.markdown import render_markdown
    from .report.pdf import Renderer, render_pdf

    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown report format(s) {unknown}; choose from {FORMATS}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(20, "Not a directory", str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    document = result.document
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    renderer = pdf_renderer
    try:
        def text(make: Callable[[], str]) -> Callable[[Path], None]:
            return lambda path: path.write_text(make(), encoding="utf-8")

        writers = {
            "json": ("report.json", text(lambda: to_json(document))),
            "html": ("report.html", text(lambda: render_html(document))),
            "pdf": ("report.pdf", lambda path: render_pdf(document, path)),
            "md": ("report.md", text(lambda: render_markdown(document))),
            "xlsx": ("report.xlsx", lambda path: write_excel(document, path)),
            "parquet": ("cube.parquet", lambda path: write_parquet(result, path)),
        }
        if "pdf" in formats and (renderer is not None or (len(formats) > 1 and (os.cpu_count() or 1) > 1)):
            # the PDF's charts are drawn by vl-convert's JavaScript engine, which holds the GIL for
            # about 2 s on the CMO report: in a process of its own they are drawn on the second core
            # while this one writes the other formats
            renderer = renderer or Renderer()
            renderer.render(document, tmp / "report.pdf")
            writers["pdf"] = ("report.pdf", lambda path, r=renderer: r.wait())
        names = [writers[fmt][0] for fmt in formats]
        for fmt in sorted(formats, key=lambda f: f == "pdf"):  # the PDF, if drawn aside, is waited for last
            name, write = writers[fmt]
            progress(name)
            write(tmp / name)
        out.mkdir(exist_ok=True)
        for name in names:
            os.replace(tmp / name, out / name)
    finally:
        if renderer is not None:
            renderer.close()
        shutil.rmtree(tmp, ignore_errors=True)
    result.files = [out / n for n in names]
    return result.files
