"""The report as a designed PDF, made with typst (no browser): title page, contents, numbered
sections, tables whose header repeats across pages, charts as vector SVG.

Pack text is data here too: the template reads every string from a JSON file and places it as text;
nothing from the pack is ever parsed as typst markup or code. Numbers are formatted by ``fmt``, the
same rules as HTML and Markdown, before typst sees them.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

from .charts import svgs
from .fmt import PROVENANCE_NOTE, cell_text, column_label, fact_text, marker, source_line

__all__ = ["render_pdf", "pdf_view", "Renderer"]

TEMPLATE = "report.typ"
# every column gets a share of the width in proportion to its longest cell (in characters): text longer
# than SHORT_TEXT capped at LONG_TEXT (a wide text column wraps rather than squeezing the numbers), and no
# column narrower than the longest word of its header
SHORT_TEXT = 12
LONG_TEXT = 30


def _cell(cell: Any, kind: str) -> dict[str, str]:
    if isinstance(cell, dict):
        return {"t": cell_text(cell, kind), "m": marker(cell)}
    return {"t": cell_text(cell, kind), "m": ""}


def _table(t: dict[str, Any]) -> dict[str, Any]:
    cols = t["columns"]
    rows = [{"cells": [_cell(c, col["kind"]) for c, col in zip(r["cells"], cols)], "role": r["role"], "level": r["level"]}
            for r in t["rows"]]
    widths = []
    for i, col in enumerate(cols):
        longest = max([len(r["cells"][i]["t"]) + (1 if r["cells"][i]["m"] else 0) for r in rows] + [1])
        # a header wraps between words; its words are bold (wider than the cells' characters) and the
        # cell's inset takes about two characters
        word = math.ceil(1.15 * max(len(w) for w in (column_label(col, t["title"]).split() or [""]))) + 2
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
                                  "m": marker(f["cell"]) if "cell" in f else ""})
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


def render_pdf(document: dict[str, Any], path: Path, drawn: dict[str, str] | None = None) -> None:
    """Write the PDF of ``document`` to ``path``; ``drawn`` holds charts already drawn as SVG by id
    (the others are drawn here)."""
    import typst

    view = pdf_view(document)
    drawn = drawn or {}
    charts = {**svgs({k: c for k, c in document["charts"].items() if k not in drawn}), **drawn}
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


def _spawn(mode: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "marketcube.report.pdf", mode], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class Renderer:
    """``render_pdf`` in processes of their own, started early so that their imports, vl-convert's
    JavaScript engine and typst warm up (about 1.5 s) while the solvers run, and so that the charts
    (vl-convert holds the GIL while it draws) are drawn on the other core while this process writes
    the other formats. With three cores or more (``split``), a second process draws half of the
    charts meanwhile and hands them over as files; on two cores the third process slowed the
    solvers more than it saved (CMO: 10.3-10.6 s against 9.7-10.0 s for ``make report``).

    ``Renderer()`` starts them; ``render(document, path)`` hands them the work and returns at once;
    ``wait()`` returns when the PDF is written and raises RuntimeError with the children's messages
    if it failed; ``close()`` stops them if they are still running (also on an error elsewhere)."""

    def __init__(self, split: bool | None = None) -> None:
        self._procs = [_spawn("--serve")]
        if (os.cpu_count() or 1) > 2 if split is None else split:
            self._procs.append(_spawn("--draw"))
        self._path: Path | None = None

    def render(self, document: dict[str, Any], path: Path) -> None:
        assert self._path is None
        self._path = path
        charts = document.get("charts", {})  # a malformed document fails in the child, which says why
        folder = path.parent / f".{path.name}.charts"
        aside: list[str] = []
        if len(self._procs) > 1:
            by_size = sorted(charts, key=lambda k: -len(charts[k]["data"]))  # the largest alternate
            aside = by_size[1::2]
        jobs = [{"out": str(path), "document": document, "aside": aside, "folder": str(folder)},
                {"charts": {k: charts[k] for k in aside}, "folder": str(folder)}]
        for proc, job in zip(self._procs, jobs):
            try:
                assert proc.stdin is not None
                proc.stdin.write(json.dumps(job, allow_nan=False).encode())
                proc.stdin.close()
            except BrokenPipeError:
                pass  # the child died early: wait() reports why

    def wait(self) -> None:
        errors = []
        for proc in self._procs:
            assert proc.stderr is not None
            err = proc.stderr.read()
            proc.stderr.close()
            proc.wait()
            if proc.returncode != 0:
                errors.append(err.decode(errors="replace").strip()[-2000:])
        if errors or self._path is None or not self._path.exists():
            raise RuntimeError(f"the PDF could not be made: {' / '.join(errors) or 'no file was written'}")

    def close(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for pipe in (proc.stdin, proc.stderr):
                if pipe is not None and not pipe.closed:
                    pipe.close()


DONE, FAILED = "done", "failed"
HANDOVER_SECONDS = 600  # how long the PDF's process waits for the other's drawings


def _warm_up() -> None:
    """What the first PDF in a process pays once, paid while the solvers run: vl-convert's
    JavaScript engine (0.8 s) and typst's fonts and SVG reader."""
    import typst

    from .charts import warm_up

    svg = warm_up()
    with tempfile.TemporaryDirectory(prefix="marketcube-pdf-") as tmp:
        (Path(tmp) / "warm.svg").write_text(svg, encoding="utf-8")
        (Path(tmp) / TEMPLATE).write_text(
            '#set text(font: "Libertinus Serif")\n= Warm\n*bold* _italic_ x#super[M]\n'
            '#table(columns: 2, [a], [1])\n#image("warm.svg", width: 50%)\n', encoding="utf-8")
        typst.compile(str(Path(tmp) / TEMPLATE), root=tmp)


def _job() -> dict[str, Any] | None:
    return json.loads(sys.stdin.buffer.read() or b"null")  # null: closed without work (the run failed)


def _serve() -> None:
    """The PDF's process: draws its charts, takes the others' from the folder, compiles."""
    _warm_up()
    job = _job()
    if job is None:
        return
    document, folder, aside = job["document"], Path(job["folder"]), job["aside"]
    own = svgs({k: c for k, c in document["charts"].items() if k not in aside})
    drawn: dict[str, str] = {}
    if aside:
        deadline = time.monotonic() + HANDOVER_SECONDS
        while not (folder / DONE).exists():
            if (folder / FAILED).exists():
                raise RuntimeError("the process drawing the other charts failed: "
                                   + (folder / FAILED).read_text(encoding="utf-8"))
            if time.monotonic() > deadline:
                raise RuntimeError(f"the process drawing the other charts gave nothing in {HANDOVER_SECONDS} s")
            time.sleep(0.005)
        drawn = {k: (folder / f"{k}.svg").read_text(encoding="utf-8") for k in aside}
    render_pdf(document, Path(job["out"]), {**own, **drawn})


def _draw() -> None:
    """The second process: draws the charts it is given into the folder, then says done (or failed)."""
    from .charts import warm_up

    warm_up()
    job = _job()
    if job is None or not job["charts"]:
        return
    folder = Path(job["folder"])
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for cid, svg in svgs(job["charts"]).items():
            (folder / f"{cid}.svg").write_text(svg, encoding="utf-8")
    except BaseException:
        import traceback

        (folder / FAILED).write_text(traceback.format_exc()[-2000:], encoding="utf-8")
        raise
    (folder / f"{DONE}.tmp").write_text("", encoding="utf-8")
    os.replace(folder / f"{DONE}.tmp", folder / DONE)


def main(argv: list[str] | None = None) -> None:
    """``python -m marketcube.report.pdf DOCUMENT.json OUT.pdf``: the PDF of a report.json;
    ``--serve`` and ``--draw`` are the two processes of ``Renderer`` (work read from stdin)."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--serve"]:
        _serve()
        return
    if args == ["--draw"]:
        _draw()
        return
    if len(args) != 2:
        raise SystemExit("usage: python -m marketcube.report.pdf DOCUMENT.json OUT.pdf")
    render_pdf(json.loads(Path(args[0]).read_text(encoding="utf-8")), Path(args[1]))


if __name__ == "__main__":
    main()
