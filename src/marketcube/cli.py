"""The ``marketcube`` command: thin over the library (parse options, call, format output).

Exit status: 0 done; 1 the pack has error findings; 2 the pack cannot be loaded (or bad usage).
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .errors import PackError, PackRefused
from .findings import Finding

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Size, triangulate and forecast a market from a market pack, and publish the report.",
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True, highlight=False)  # soft wrap: long paths stay whole for copying
err = Console(stderr=True)


class Format(str, Enum):
    table = "table"
    json = "json"


class ReportFormat(str, Enum):
    json = "json"
    html = "html"
    pdf = "pdf"
    md = "md"
    xlsx = "xlsx"
    parquet = "parquet"


def _findings_table(findings: list[Finding]) -> Table:
    t = Table(show_lines=False, expand=False)
    t.add_column("severity", no_wrap=True)
    t.add_column("code", no_wrap=True)
    t.add_column("message", overflow="fold")
    t.add_column("where", overflow="fold")
    style = {"error": "bold red", "warning": "yellow", "info": "dim"}
    for f in findings:
        where = f.location + (f" [{', '.join(f.claims)}]" if f.claims else "")
        # pack text is data: Text() never reads it as markup
        t.add_row(Text(f.severity, style=style[f.severity]), Text(f.code), Text(f.message), Text(where))
    return t


def _summary(findings: list[Finding]) -> str:
    n = {s: sum(1 for f in findings if f.severity == s) for s in ("error", "warning", "info")}
    return f"{n['error']} error(s), {n['warning']} warning(s), {n['info']} info"


def _pack_error(e: PackError) -> None:
    err.print(f"[bold red]error:[/] {escape(e.location)}: {escape(e.message)}", highlight=False)
    if e.hint:
        err.print(f"  fix: {e.hint}", highlight=False, markup=False)
    raise typer.Exit(2)


@app.command()
def validate(
    pack: Path = typer.Argument(..., help="Market pack folder (holds market.yaml)."),
    format: Format = typer.Option(Format.table, "--format", "-f", help="table (for people) or json (for programs)."),
) -> None:
    """Check a market pack and list its findings.

    Example: marketcube validate markets/cmo --format json

    Exit status: 0 no errors, 1 some finding is an error, 2 the pack cannot be loaded.
    """
    from .pack import load
    from .validate import validate as run_validate

    try:
        market = load(pack)
    except PackError as e:
        _pack_error(e)
        return
    findings = run_validate(market)
    if format is Format.json:
        sys.stdout.write(json.dumps([f.to_dict() for f in findings], indent=1, ensure_ascii=False) + "\n")
    else:
        if findings:
            out.print(_findings_table(findings))
        out.print(f"{market.id}: {len(market.claims)} claims, {len(market.sources)} sources; {_summary(findings)}")
    raise typer.Exit(1 if any(f.severity == "error" for f in findings) else 0)


@app.command()
def report(
    pack: Optional[Path] = typer.Argument(None, help="Market pack folder; the built-in CMO market when omitted."),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default: out/<market id>)."),
    formats: Optional[list[ReportFormat]] = typer.Option(
        None, "--format", "-f", help="Write only these (repeat the option): json, html, pdf, md, xlsx, parquet. Default: all."
    ),
) -> None:
    """Run the whole flow on a pack and write the report: report.json (the document model),
    report.html (self-contained), report.pdf, report.md, report.xlsx (the data pack) and
    cube.parquet (every series and year, long form).

    Example: marketcube report markets/cmo --out out/cmo

    A pack with error findings is refused (exit 1); warnings are listed in the report. A failed run
    leaves the output folder as it was.
    """
    from .pipeline import FORMATS, publish, run
    from .report.pdf import Renderer

    chosen = tuple(f.value for f in formats) if formats else FORMATS
    # the PDF is drawn in a process of its own, started now so that it warms up while the solvers run
    renderer = Renderer() if "pdf" in chosen else None
    try:
        try:
            with err.status("loading") as status:
                result = run(pack, progress=lambda stage: status.update(f"{stage}…"))
        except BaseException:
            if renderer:
                renderer.close()  # no report to draw
            raise
    except PackError as e:
        _pack_error(e)
        return
    except PackRefused as e:
        err.print(_findings_table([f for f in e.findings if f.severity == "error"]))
        err.print(f"[bold red]refused:[/] {escape(str(e))}")
        raise typer.Exit(1) from None
    target = out_dir or Path("out") / result.market.id
    try:
        with err.status("writing") as status:
            files = publish(result, target, chosen, progress=lambda name: status.update(f"writing {name}…"),
                            pdf_renderer=renderer)
    except OSError as e:
        err.print(f"[bold red]error:[/] cannot write the report to {escape(str(target))}: {escape(e.strerror or str(e))}")
        err.print("  fix: give --out a folder you can write to (not an existing file)", markup=False)
        raise typer.Exit(2) from None
    h = result.analysis.headline
    total = result.analysis.series[0]
    b = total.at(h.start_year)
    e = total.at(h.end_year)
    out.print(Text(result.market.title, style="bold"))
    out.print(f"  {h.start_year}: USD {b.value:.3g} bn (80% {b.lo80:.3g}-{b.hi80:.3g}, {b.provenance})")
    out.print(f"  {h.end_year}: USD {e.value:.3g} bn (80% {e.lo80:.3g}-{e.hi80:.3g}, {e.provenance})")
    out.print(
        f"  CAGR {h.start_year}->{h.end_year} ({h.periods} periods): {100 * h.cagr:.1f}% "
        f"(80% {100 * h.cagr_lo80:.1f}% to {100 * h.cagr_hi80:.1f}%)"
    )
    out.print(f"  findings: {_summary(result.findings)}")
    for f in files:
        out.print(f"  wrote {f}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
