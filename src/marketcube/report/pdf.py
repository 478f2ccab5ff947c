"""The report as a designed PDF, made with typst (no browser): title page, contents, numbered
sections, tables whose header repeats across pages, charts as vector SVG.

Pack text is data here too: the template reads every string from a JSON file and places it as text;
nothing from the pack is ever parsed as typst markup or code. Numbers are formatted by ``fmt``, the
same rules as HTML and Markdown, before typst sees them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from .charts import svgs
from .fmt import MARK, PROVENANCE_NOTE, cell_text, column_label, fact_text, source_line

__all__ = ["render_pdf", "pdf_view", "Renderer"]

TEMPLATE = "report.typ"
# every column gets a share of the width in proportion to its longest cell (in characters): text longer
# than SHORT_TEXT capped at LONG_TEXT (a wide text column wraps rather than squeezing the numbers), and no
# column narrower than the longest word of its header
SHORT_TEXT = 12
LONG_TEXT = 30


def _cell(cell: Any, kind: str) -> dict[str, str]:
    if isinstance(cell, dict):
        return {"t": cell_text(cell, kind), "m": "" if cell["v"] is None else MARK[cell["p"]]}
    return {"t": cell_text(cell, kind), "m": ""}


def _table(t: dict[str, Any]) -> dict[str, Any]:
    cols = t["columns"]
    rows = [{"cells": [_cell(c, col["kind"]) for c, col in zip(r["cells"], cols)], "role": r["role"], "level": r["level"]}
            for r in t["rows"]]
    widths = []
    for i, col in enumerate(cols):
        longest = max([len(r["cells"][i]["t"]) + (1 if r["cells"][i]["m"] else 0) for r in rows] + [1])
        word = max(len(w) for w in (column_label(col, t["title"]).split() or [""])) + 1  # a header wraps between words
        if col["kind"] == "text" and longest > SHORT_TEXT:
            widths.append(f"{max(min(longest, LONG_TEXT), word)}")  # a weight for its share of the free width
        else:
            widths.append(f"{max(longest, word)}")
    return {
        "title": t["title"], "note": t["note"],
        "header": [column_label(c, t["title"]) for c in cols], "numeric": [c["kind"] != "text" for c in cols],
        "widths": widths, "rows": rows,
    }


def pdf_view(document: dict[str, Any]) -> dict[str, Any]:
    """What the typst template reads: the document's sections with every table's cells already
    formatted (text and provenance mark) and charts by file name."""
    sections = []
    for s in document["sections"]:
        blocks = []
        for b in s["blocks"]:
            if b["type"] == "table":
                blocks.append({"type": "table", **_table(document["tables"][b["id"]])})
            elif b["type"] == "chart":
                c = document["charts"][b["id"]]
                blocks.append({"type": "chart", "file": f"charts/{b['id']}.svg", "title": c["title"], "alt": c["alt"]})
            elif b["type"] == "facts":
                items = []
                for f in b["items"]:
                    value, detail = fact_text(f)
                    items.append({"label": f["label"], "value": value, "detail": detail,
                                  "m": MARK[f["cell"]["p"]] if "cell" in f and f["cell"]["v"] is not None else ""})
                blocks.append({"type": "facts", "items": items})
            else:
                blocks.append(b)
        sections.append({"number": s["number"], "title": s["title"], "blocks": blocks})
    y = document["years"]
    return {
        "title": document["market"]["title"],
        "subtitle": f"Market size, share and forecast {y['base_year']}–{y['study_end']}, by "
                    + ", ".join(d["name"].lower() for d in document["dimensions"]),
        "edition": document["edition"], "run_date": document["run_date"],
        "inputs_hash": document["inputs_hash"], "code_version": document["code_version"],
        "market_id": document["market"]["id"], "unit": document["unit"], "provenance_note": PROVENANCE_NOTE,
        "sections": sections,
        "sources": [{"id": s["id"], "text": source_line(s)} for s in document["sources"]],
    }


def render_pdf(document: dict[str, Any], path: Path) -> None:
    """Write the PDF of ``document`` to ``path``."""
    import typst

    view = pdf_view(document)
    charts = svgs(document["charts"])
    with tempfile.TemporaryDirectory(prefix="marketcube-pdf-") as tmp:
        root = Path(tmp)
        (root / "charts").mkdir()
        for cid, svg in charts.items():
            (root / "charts" / f"{cid}.svg").write_text(svg, encoding="utf-8")
        (root / "view.json").write_text(json.dumps(view, ensure_ascii=False), encoding="utf-8")
        template = resources.files(__package__).joinpath(TEMPLATE).read_text(encoding="utf-8")
        (root / TEMPLATE).write_text(template, encoding="utf-8")
        pdf = typst.compile(str(root / TEMPLATE), root=str(root))
    path.write_bytes(pdf)



class Renderer:
    """``render_pdf`` in a process of its own, started early so that its imports and vl-convert's
    JavaScript engine warm up (about 1.5 s) while the solvers run, and so that the charts (which hold
    the GIL while they are drawn) are drawn on a second core while the other formats are written.

    ``Renderer()`` starts it; ``render(document, path)`` hands it the work and returns at once;
    ``wait()`` returns when the PDF is written and raises RuntimeError with the child's message if
    it failed; ``close()`` stops it if it is still running (also on an error elsewhere)."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen([sys.executable, "-m", "marketcube.report.pdf", "--serve"], stdin=subprocess.PIPE,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._path: Path | None = None

    def render(self, document: dict[str, Any], path: Path) -> None:
        assert self._proc.stdin is not None and self._path is None
        self._path = path
        try:
            self._proc.stdin.write(json.dumps({"out": str(path), "document": document}, allow_nan=False).encode())
            self._proc.stdin.close()
        except BrokenPipeError:
            pass  # the child died early: wait() reports why

    def wait(self) -> None:
        assert self._proc.stderr is not None
        err = self._proc.stderr.read()
        self._proc.stderr.close()
        self._proc.wait()
        if self._proc.returncode != 0 or self._path is None or not self._path.exists():
            raise RuntimeError(f"the PDF could not be made: {err.decode(errors='replace').strip()[-2000:]}")

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        for pipe in (self._proc.stdin, self._proc.stderr):
            if pipe is not None and not pipe.closed:
                pipe.close()


def _serve() -> None:
    from .charts import warm_up

    warm_up()
    job = json.loads(sys.stdin.buffer.read() or b"null")
    if job is None:
        return  # closed without work: the run failed before publishing
    render_pdf(job["document"], Path(job["out"]))


def main(argv: list[str] | None = None) -> None:
    """``python -m marketcube.report.pdf DOCUMENT.json OUT.pdf``: the PDF of a report.json;
    ``--serve`` reads {"document": ..., "out": path} from stdin (see ``Renderer``)."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--serve"]:
        _serve()
        return
    if len(args) != 2:
        raise SystemExit("usage: python -m marketcube.report.pdf DOCUMENT.json OUT.pdf")
    render_pdf(json.loads(Path(args[0]).read_text(encoding="utf-8")), Path(args[1]))


if __name__ == "__main__":
    main()
