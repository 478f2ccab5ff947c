"""End-to-end benchmark (issue 6): `marketcube report` on the built-in CMO market, every format.

Run: ``.venv/bin/python benchmarks/end_to_end.py [--runs 3] [--pack PATH] [--no-stages]``.
Prints a table and writes benchmarks/results/end_to_end.json.

- Each run is the real command line, ``.venv/bin/marketcube report [PACK] --out <empty folder>``, in
  a process of its own, timed from start to exit (interpreter start and imports included, as a
  user waits for them) with the environment already installed; it must exit 0 and write at least
  one file. Its row lists the files written and the load average of the last minute at its start:
  the machine is shared, and a busy one explains a slow run.
- One more process runs the same flow in-process (``pipeline.run`` with a progress callback, then
  ``pipeline.publish`` of every format) to say where the time goes: import, then each stage from
  the callback's marks (``reconcile`` includes the claims' verdicts, which follow it without a mark
  of their own), then publish. The command line starts the PDF's process before the solvers, so
  that it warms up meanwhile; this run does not, so its publish includes that start-up.
- Target: the median of the command-line runs is at most 10 s (issue 6, on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET_SECONDS = 10.0


def _cli() -> str:
    """The installed ``marketcube`` entry point beside this interpreter (the virtualenv's)."""
    beside = Path(sys.executable).parent / "marketcube"
    found = str(beside) if beside.exists() else shutil.which("marketcube")
    if not found:
        raise SystemExit("marketcube is not installed in this environment; run `make report` once first")
    return found


def cli_run(run: int, pack: str | None, tmp: Path) -> dict:
    out = tmp / f"run{run}"
    load = os.getloadavg()[0]
    cmd = [_cli(), "report", *([pack] if pack else []), "--out", str(out)]
    start = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if r.returncode != 0:
        raise SystemExit(f"run {run}: {' '.join(cmd)} exited {r.returncode}:\n{r.stderr.strip()}")
    files = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if not files:
        raise SystemExit(f"run {run}: {' '.join(cmd)} wrote no file")
    return {"run": run, "kind": "cli", "seconds": round(seconds, 3), "files": files, "n_files": len(files),
            "bytes": sum((out / f).stat().st_size for f in files), "load_1min": round(load, 2)}


def stages(pack: str | None, out: str) -> dict:
    """Child process: the flow in-process, seconds by stage (its own process, so imports count)."""
    start = time.perf_counter()
    from marketcube import pipeline

    seconds = {"import": time.perf_counter() - start}
    mark = [time.perf_counter(), None]

    def progress(stage: str) -> None:
        now = time.perf_counter()
        if mark[1] is not None:
            seconds[mark[1]] = seconds.get(mark[1], 0.0) + now - mark[0]
        mark[0], mark[1] = now, stage

    result = pipeline.run(pack, progress=progress)
    progress("")
    t = time.perf_counter()
    files = pipeline.publish(result, out, pipeline.FORMATS)
    seconds["publish"] = time.perf_counter() - t
    total = time.perf_counter() - start
    return {"run": "stages", "kind": "in-process", "seconds": round(total, 3),
            "stages": {k: round(v, 3) for k, v in seconds.items()}, "formats": list(pipeline.FORMATS),
            "n_files": len(files)}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="command-line runs (default 3); the target reads their median")
    ap.add_argument("--pack", default=None, help="market pack folder (default: the built-in CMO market)")
    ap.add_argument("--no-stages", action="store_true", help="skip the in-process run that times each stage")
    ap.add_argument("--child-stages", nargs=1, metavar="OUT", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_stages:
        print(json.dumps(stages(args.pack, args.child_stages[0])))
        return 0
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    rows = []
    with tempfile.TemporaryDirectory(prefix="end-to-end-") as tmp:
        for run in range(1, args.runs + 1):
            rows.append(cli_run(run, args.pack, Path(tmp)))
            print(f"  run {run}: {rows[-1]['seconds']:.2f} s", file=sys.stderr, flush=True)
        if not args.no_stages:
            cmd = [sys.executable, __file__, "--child-stages", str(Path(tmp) / "stages"), *(["--pack", args.pack] if args.pack else [])]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                raise SystemExit(f"the in-process run failed:\n{r.stderr.strip()}")
            rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
    cli = [r for r in rows if r["kind"] == "cli"]
    median = statistics.median(r["seconds"] for r in cli)
    print(f"\nmarketcube report ({args.pack or 'built-in CMO market'}), every format; {os.cpu_count()} cores")
    print(f"{'run':>6} {'seconds':>8} {'files':>6} {'MB':>6} {'load':>5}  written")
    for r in cli:
        print(f"{r['run']:>6} {r['seconds']:>8.2f} {r['n_files']:>6} {r['bytes'] / 1e6:>6.2f} {r['load_1min']:>5.2f}  {' '.join(r['files'])}")
    staged = next((r for r in rows if r["kind"] == "in-process"), None)
    if staged:
        print("\nin-process run, seconds by stage")
        for name, s in staged["stages"].items():
            print(f"  {name:<12} {s:>6.2f}")
        print(f"  {'total':<12} {staged['seconds']:>6.2f}")
    met = median <= TARGET_SECONDS
    targets = [{"name": "cmo_all_formats_seconds", "value": round(median, 3), "target": TARGET_SECONDS, "op": "<=", "met": met}]
    print("\ntargets")
    for t in targets:
        print(f"  {t['name']:<30} {t['value']:>10.4g} {t['op']} {t['target']:<6} {'met' if t['met'] else 'MISSED'}")
    out = HERE / "results" / "end_to_end.json"
    out.parent.mkdir(exist_ok=True)
    note = f"{os.cpu_count()} cores, Python {sys.version.split()[0]}; wall seconds of the command line, imports included"
    out.write_text(json.dumps({"rows": rows, "targets": targets, "note": note}, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
