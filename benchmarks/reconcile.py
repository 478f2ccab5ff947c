"""Reconciliation benchmark (issue 5): marketcube's projection mode against Nixtla's
hierarchicalforecast 1.5.3 on the fixed synthetic market of benchmarks/hierarchy_sim.py.

Run: ``.venv/bin/python benchmarks/reconcile.py [1k 10k 50k 500k]`` (all four by default).
Prints tables and writes benchmarks/results/reconcile.json.

Every measurement runs in a process of its own:
- marketcube, one process per size: every method timed from base forecasts and residuals in to
  reconciled forecasts out (structure, covariance and shrinkage included), then intervals from
  joint bootstrap sample paths calibrated per level on backtests inside the fitting years (the same
  method reconciled at 9 earlier origins, each with only the data before it; ``project.calibrate``),
  timed separately, paths and calibration together. Memory: the peak resident memory of each method
  minus the resident memory once the inputs are loaded (the peak is reset before each method by
  writing 5 to /proc/self/clear_refs).
- hierarchicalforecast, one process per class, method and size, capped at 5 minutes and 16 GiB
  (the parent polls its resident memory), called with numpy arrays (no DataFrame overhead); a
  class and method that failed at one size is not tried at larger ones.
Interval coverage of one market is one draw of its common shocks (every series of a market shares
its global, regional, type and product factors, so its test years are all hit or all missed
together): on the 8 seeds of an earlier run, one market's 95% coverage scattered with a standard
deviation of 0.04-0.08 around its mean. A coverage is a probability over markets, so the target
``interval95_coverage_abs_gap`` reads the mean over 16 markets of size 1k drawn with fixed seeds
(``--replicate``; the benchmark's own market is seed 5), worst method. Each size's own market's
coverage is printed in the intervals table, and their worst gap over sizes and methods is kept as
``single_market_interval95_gap``.
Exactness: the largest |a - b| over the largest |b| against hierarchicalforecast's dense classes
where they run; at sizes they cannot reach, against an exact dense solve on random
sub-hierarchies of the same market (the same marketcube code on a subset of its bottom series),
and the relative gradient of the GLS objective at marketcube's answer on the full problem.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SIZES = ["1k", "10k", "50k", "500k"]
OURS = ["bottom_up", "ols", "wls_struct", "wls_var", "mint_shrink", "top_down"]
GLS = ["ols", "wls_struct", "wls_var", "mint_shrink"]
HF = [  # (label, class name, method)
    ("BottomUp", "BottomUp", None),
    ("MinTrace/ols", "MinTrace", "ols"),
    ("MinTrace/wls_struct", "MinTrace", "wls_struct"),
    ("MinTrace/wls_var", "MinTrace", "wls_var"),
    ("MinTrace/mint_shrink", "MinTrace", "mint_shrink"),
    ("TopDown/forecast_proportions", "TopDown", "forecast_proportions"),
    ("BottomUpSparse", "BottomUpSparse", None),
    ("MinTraceSparse/ols", "MinTraceSparse", "ols"),
    ("MinTraceSparse/wls_struct", "MinTraceSparse", "wls_struct"),
    ("MinTraceSparse/wls_var", "MinTraceSparse", "wls_var"),
    ("TopDownSparse/forecast_proportions", "TopDownSparse", "forecast_proportions"),
]
HF_SAME = {"BottomUp": "bottom_up", "TopDown": "top_down", "BottomUpSparse": "bottom_up", "TopDownSparse": "top_down"}
CAP_SECONDS, CAP_GIB = 300, 16
N_PATHS = 100
SUB_BOTTOM = 1000  # bottom series in each random sub-hierarchy
N_SUB = 3

TARGETS = [
    ("mint_shrink_50k_seconds", "<=", 2),
    ("mint_shrink_50k_extra_gib", "<=", 1),
    ("mint_shrink_500k_seconds", "<=", 30),
    ("mint_shrink_500k_peak_gib", "<=", 8),
    ("ols_50k_seconds", "<=", 0.5),
    ("wls_50k_seconds", "<=", 0.5),
    ("max_rel_diff_vs_exact", "<=", 1e-8),
    ("max_coherence_error", "<=", 1e-9),
    ("interval95_coverage_abs_gap", "<=", 0.03),
]


def _status(pid: int | str = "self") -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line.split(":")[0]] = int(line.split()[1]) / 1024**2
    return out


def _reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _ape_by_level(mk, series: np.ndarray) -> dict[str, float]:
    """Mean absolute percentage error against the synthetic truth, per level, over the 8 test years."""
    err = np.abs(series - mk.y_test) / np.abs(mk.y_test) * 100
    return {name: float(err[rows].mean()) for name, rows in mk.tags.items()}


def _coverage(mk, lo: np.ndarray, hi: np.ndarray) -> float:
    y = mk.y_test
    return float(np.mean((y >= lo) & (y <= hi)))


# ---------------------------------------------------------------- marketcube, one process per size


def run_ours(size: str, outdir: str) -> dict:
    import hierarchy_sim as hs
    from marketcube.solve import project as pj

    mk = hs.market(size)
    y_hat, resid = mk.y_hat, mk.residuals
    nested_y = y_hat[mk.nested_rows]
    nested_levels = list(mk.tags_nested.values())
    base = _status()["VmRSS"]
    rows, accuracy = [], {"base": _ape_by_level(mk, y_hat)}
    results = {}
    for method in OURS:
        _reset_peak()
        t0 = time.perf_counter()
        if method == "top_down":
            r = pj.reconcile(nested_y, mk.S_nested, method, levels=nested_levels)
        else:
            r = pj.reconcile(y_hat, mk.S, method, residuals=resid)
        seconds = time.perf_counter() - t0
        st = _status()
        S_used = mk.S_nested if method == "top_down" else mk.S
        coherence = float(np.abs(S_used @ r.bottom - r.series).max() / np.abs(r.series).max())
        series = mk.S @ r.bottom  # every series of the grouped structure, top-down included
        np.save(Path(outdir) / f"ours_{method}.npy", r.series)  # top-down: the nested structure's rows
        results[method] = r
        row = {"size": size, "engine": "marketcube", "method": method, "bottom": mk.S.shape[1], "series": mk.S.shape[0],
               "seconds": seconds, "extra_gib": st["VmHWM"] - base, "peak_gib": st["VmHWM"], "iterations": r.iterations,
               "coherence_error": coherence, "shrinkage": r.shrinkage}
        if method in GLS:
            w = pj.weights(r.hierarchy, method, resid)
            A = pj._Normal(r.hierarchy, w)
            g = A(r.bottom) - A.rhs(y_hat)
            row["rel_gradient"] = float(np.abs(g).max() / np.abs(A.rhs(y_hat)).max())
        rows.append(row)
        accuracy[method] = _ape_by_level(mk, series)
        print(f"  marketcube {size} {method}: {seconds:.3f} s", file=sys.stderr, flush=True)
    # non-negative mode when it binds: 2% of the bottom base forecasts made negative (a model gone wild)
    rng = np.random.default_rng(3)
    y_neg = y_hat.copy()
    m = mk.S.shape[1]
    wild = r.hierarchy.bottom_rows[rng.choice(m, size=max(1, m // 50), replace=False)]
    y_neg[wild] *= -0.5
    for nonneg in (False, True):
        _reset_peak()
        t0 = time.perf_counter()
        r = pj.reconcile(y_neg, mk.S, "mint_shrink", residuals=resid, nonnegative=nonneg)
        seconds = time.perf_counter() - t0
        rows.append({"size": size, "engine": "marketcube", "method": "mint_shrink" + ("_nonneg" if nonneg else "_unbounded"),
                     "input": "2% of bottom base forecasts negative", "bottom": m, "series": mk.S.shape[0],
                     "seconds": seconds, "extra_gib": _status()["VmHWM"] - base, "peak_gib": _status()["VmHWM"],
                     "iterations": r.iterations, "active_set_passes": r.active_set_passes,
                     "min_value": float(r.series.min()), "negatives": int((r.bottom < 0).sum()),
                     "coherence_error": float(np.abs(mk.S @ r.bottom - r.series).max() / np.abs(r.series).max())})
        print(f"  marketcube {size} mint_shrink nonnegative={nonneg}: {seconds:.3f} s, {r.active_set_passes} passes",
              file=sys.stderr, flush=True)
    # exactness at every size: random sub-hierarchies against a dense direct solve
    sub = _subhierarchy_check(mk, pj)
    # intervals from joint bootstrap paths, timed separately
    t0 = time.perf_counter()
    paths = mk.paths(N_PATHS, seed=11, dtype=np.float32)
    path_seconds = time.perf_counter() - t0
    cover = {"base": {lv: _coverage(mk, *np.quantile(paths, [(100 - lv) / 200, 1 - (100 - lv) / 200], axis=0))
                      for lv in (80, 95)}}
    interval_rows = []
    methods = ["bottom_up", "ols", "wls_struct", "wls_var", "mint_shrink"] if mk.S.shape[1] <= 60_000 else ["mint_shrink"]
    backtests = mk.backtests()
    for method in methods:
        _reset_peak()
        t0 = time.perf_counter()
        bounds, _ = pj.intervals(results[method], paths, (80, 95), chunk=8)
        path_only = time.perf_counter() - t0
        cal = _calibrate(pj, mk, method, results[method], bounds, backtests)
        seconds = time.perf_counter() - t0
        raw = {lv: _coverage(mk, *bounds[lv]) for lv in (80, 95)}
        cover[method] = {lv: _coverage(mk, *cal.bounds[lv]) for lv in (80, 95)}
        interval_rows.append({"size": size, "method": method, "paths": N_PATHS, "backtest_origins": len(backtests),
                              "seconds": seconds, "paths_seconds": path_only, "extra_gib": _status()["VmHWM"] - base,
                              "coverage80": cover[method][80], "coverage95": cover[method][95],
                              "paths_only_coverage80": raw[80], "paths_only_coverage95": raw[95],
                              "factor95_range": [float(cal.factors[95].min()), float(cal.factors[95].max())]})
        print(f"  marketcube {size} intervals {method}: {seconds:.1f} s", file=sys.stderr, flush=True)
    return {"rows": rows, "accuracy": accuracy, "sub": sub, "intervals": interval_rows,
            "base_coverage": cover["base"], "path_seconds": path_seconds}


def _calibrate(pj, mk, method: str, rec, bounds, backtests):
    """The calibration: the same method at each backtest origin inside the fitting years, with only
    the data before it (its own residuals and covariance), then conformal factors per level."""
    bt = np.stack([pj.reconcile(f, mk.S, method, residuals=e).series for _, f, e, _ in backtests])
    return pj.calibrate(rec.series, bounds, bt, np.stack([a for *_, a in backtests]), mk.level_of)


REPLICATION_SIZE = "1k"
REPLICATION_SEEDS = tuple(range(1, 17))  # market seeds; seed 5 is the benchmark's own market


def run_replications(size: str) -> list[dict]:
    """How much one market's coverage says: the calibrated intervals' coverage of the test years on
    markets drawn with other seeds (same structure and settings), every interval method."""
    import hierarchy_sim as hs
    from marketcube.solve import project as pj

    out = []
    for seed in REPLICATION_SEEDS:
        mk = hs.market(size, seed=seed)
        paths = mk.paths(N_PATHS, seed=11)
        backtests = mk.backtests()
        for method in ["bottom_up", "ols", "wls_struct", "wls_var", "mint_shrink"]:
            rec = pj.reconcile(mk.y_hat, mk.S, method, residuals=mk.residuals)
            bounds, _ = pj.intervals(rec, paths, (80, 95), chunk=8)
            cal = _calibrate(pj, mk, method, rec, bounds, backtests)
            out.append({"size": size, "seed": seed, "method": method,
                        "coverage80": _coverage(mk, *cal.bounds[80]), "coverage95": _coverage(mk, *cal.bounds[95]),
                        "paths_only_coverage80": _coverage(mk, *bounds[80]),
                        "paths_only_coverage95": _coverage(mk, *bounds[95])})
        print(f"  replication seed {seed} done", file=sys.stderr, flush=True)
    return out


def _subhierarchy_check(mk, pj) -> list[dict]:
    """The same code on random subsets of the market's bottom series, against a dense exact solve."""
    import scipy.linalg as la

    rng = np.random.default_rng(7)
    out = []
    m = mk.S.shape[1]
    for k in range(N_SUB):
        keep = np.sort(rng.choice(m, size=min(SUB_BOTTOM, m), replace=False))
        sub = mk.S[:, keep].tocsr()
        full_count = np.diff(mk.S.indptr)
        count = np.diff(sub.indptr)
        rows = np.flatnonzero(count > 0)
        S = sub[rows]
        frac = (count[rows] / full_count[rows])[:, None]
        y = mk.y_hat[rows] * frac  # plausible values for the partial sums; any values test exactness
        e = mk.residuals[rows] * frac
        Sd = S.toarray()
        for method in GLS:
            r = pj.reconcile(y, S, method, residuals=e)
            w = pj.weights(r.hierarchy, method, e)
            # W^-1 S densely, by the Woodbury identity (W = D + U U', U n x T), then a Cholesky
            # solve of the dense bottom x bottom normal equations: direct, no iteration
            Ud = w.low_rank / w.diag[:, None]
            core = np.eye(Ud.shape[1]) + w.low_rank.T @ Ud
            WiS = Sd / w.diag[:, None] - Ud @ la.solve(core, Ud.T @ Sd, assume_a="pos")
            b = la.solve(Sd.T @ WiS, WiS.T @ y, assume_a="pos")
            exact = Sd @ b
            out.append({"sub": k, "method": method, "series": int(S.shape[0]), "bottom": int(S.shape[1]),
                        "rel_diff": float(np.abs(r.series - exact).max() / np.abs(exact).max())})
    return out


# ---------------------------------------------------------------- hierarchicalforecast, one process per class


def run_hf(label: str, size: str, outfile: str) -> dict:
    import warnings

    warnings.simplefilter("ignore")
    import hierarchy_sim as hs
    import hierarchicalforecast.methods as hm

    _, cls_name, method = next(h for h in HF if h[0] == label)
    mk = hs.market(size)
    nested = cls_name.startswith("TopDown")
    sparse_cls = cls_name.endswith("Sparse")
    S = mk.S_nested if nested else mk.S
    y_hat = mk.y_hat[mk.nested_rows] if nested else mk.y_hat
    y_ins = mk.y_fit[mk.nested_rows] if nested else mk.y_fit
    y_hat_ins = mk.fitted[mk.nested_rows] if nested else mk.fitted
    tags = mk.tags_nested if nested else mk.tags
    base = _status()["VmRSS"]
    _reset_peak()
    t0 = time.perf_counter()
    S_in = S if sparse_cls else S.toarray()
    cls = getattr(hm, cls_name)
    model = cls() if method is None else cls(method=method)
    kwargs = dict(S=S_in, y_hat=y_hat)
    if cls_name.startswith("TopDown"):
        kwargs["tags"] = tags
    if method in ("wls_var", "mint_shrink"):
        kwargs.update(y_insample=y_ins, y_hat_insample=y_hat_ins)
    res = model.fit_predict(**kwargs)
    seconds = time.perf_counter() - t0
    st = _status()
    mean = np.asarray(res["mean"], dtype=np.float64)
    np.save(outfile, mean)
    single = np.flatnonzero(np.diff(S.indptr) == 1)
    bottom_rows = np.empty(S.shape[1], dtype=np.int64)
    bottom_rows[S.indices[S.indptr[single]]] = single
    coherence = float(np.abs(S @ mean[bottom_rows] - mean).max() / np.abs(mean).max())
    return {"seconds": seconds, "extra_gib": st["VmHWM"] - base, "peak_gib": st["VmHWM"], "coherence_error": coherence}


def _watch(cmd: list[str], cap_seconds: float = CAP_SECONDS) -> tuple[str, dict | None]:
    """Run a worker with the time and memory caps; returns (status, its JSON line)."""
    err_file = tempfile.TemporaryFile(mode="w+")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err_file, text=True)
    t0 = time.monotonic()
    status = "ok"
    while p.poll() is None:
        time.sleep(0.2)
        try:
            rss = _status(p.pid).get("VmRSS", 0.0)
        except (FileNotFoundError, ProcessLookupError):
            break
        if rss > CAP_GIB:
            p.kill()
            status = f"killed: over {CAP_GIB} GiB"
        elif time.monotonic() - t0 > cap_seconds:
            p.kill()
            status = f"killed: over {cap_seconds:.0f} s"
    out, _ = p.communicate()
    err_file.seek(0)
    err = err_file.read()
    sys.stderr.write("".join(line + "\n" for line in err.splitlines() if line.startswith("  marketcube")))
    if status == "ok" and p.returncode != 0:
        last = (err.strip().splitlines() or ["?"])[-1]
        status = "failed: " + ("out of memory" if "MemoryError" in err or p.returncode == -9 else last[:120])
    if status != "ok":
        return status, None
    return status, json.loads(out.strip().splitlines()[-1])


# ---------------------------------------------------------------- the run


def _report(sizes, rows, hf_rows, acc, subs, ivs, base_cov, env_note, final: bool, replications=None) -> None:
    """Print the tables (at the end) and write the JSON (after every size, so nothing is lost)."""
    out = HERE / "results" / "reconcile.json"
    if not final:
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps({"partial": sizes, "rows": rows + hf_rows, "sub_hierarchies": subs, "intervals": ivs,
                                   "base_coverage": base_cov, "accuracy_mape_by_level": acc}, indent=1) + "\n")
        return
    print("\nmarketcube (seconds from base forecasts in to reconciled out; GiB above the loaded inputs)")
    print(f"{'size':>5} {'method':>20} {'bottom':>8} {'series':>8} {'seconds':>8} {'extra GiB':>9} {'iters':>6} {'coherence':>10} {'rel grad':>9}")
    for r in rows:
        print(f"{r['size']:>5} {r['method']:>20} {r['bottom']:>8} {r['series']:>8} {r['seconds']:>8.3f} {r['extra_gib']:>9.3f} "
              f"{r['iterations']:>6} {r['coherence_error']:>10.1e} {r.get('rel_gradient', float('nan')):>9.1e}")
    print("\nhierarchicalforecast 1.5.3, same inputs, each in its own process (5 min, 16 GiB caps)")
    print(f"{'size':>5} {'class':>36} {'seconds':>8} {'extra GiB':>9} {'x ours':>7} {'|a-b|/|b|':>10}  status")
    for r in hf_rows:
        print(f"{r['size']:>5} {r['class']:>36} {r.get('seconds', float('nan')):>8.2f} {r.get('extra_gib', float('nan')):>9.2f} "
              f"{r.get('hf_seconds_over_marketcube', float('nan')):>7.1f} {r.get('rel_diff_marketcube_vs_hf', float('nan')):>10.1e}  {r['status']}")
    print(f"\nexact dense solves on random sub-hierarchies ({N_SUB} per size, {SUB_BOTTOM} bottom series each): worst |a-b|/|b|")
    for size in sizes:
        for method in GLS:
            v = max(s["rel_diff"] for s in subs if s["size"] == size and s["method"] == method)
            print(f"{size:>5} {method:>12} {v:.1e}")
    print(f"\nintervals: reconciled bootstrap paths ({N_PATHS} joint paths), calibrated per level on backtests inside "
          "the fitting years; coverage of the 8 test years' truth (paths only: before calibration)")
    print(f"{'size':>5} {'method':>12} {'seconds':>8} {'extra GiB':>9} {'cov80':>6} {'cov95':>6} {'paths80':>7} {'paths95':>7}")
    for size in sizes:
        print(f"{size:>5} {'base':>12} {'':>8} {'':>9} {base_cov[size]['80']:>6.3f} {base_cov[size]['95']:>6.3f}")
        for r in (x for x in ivs if x["size"] == size):
            print(f"{size:>5} {r['method']:>12} {r['seconds']:>8.1f} {r['extra_gib']:>9.3f} {r['coverage80']:>6.3f} "
                  f"{r['coverage95']:>6.3f} {r.get('paths_only_coverage80', float('nan')):>7.3f} "
                  f"{r.get('paths_only_coverage95', float('nan')):>7.3f}")
    if replications:
        print(f"\nreplications: coverage of the test years on {len(REPLICATION_SEEDS)} markets of size {REPLICATION_SIZE} "
              f"(seeds {', '.join(map(str, REPLICATION_SEEDS))}; the benchmark's market is seed 5); mean and sd over seeds")
        print(f"{'method':>12} {'cov95':>6} {'sd':>6} {'min':>6} {'cov80':>6} {'paths95':>7} {'paths80':>7}")
        for method in dict.fromkeys(r["method"] for r in replications):
            rs = [r for r in replications if r["method"] == method]
            c95 = np.array([r["coverage95"] for r in rs])
            print(f"{method:>12} {c95.mean():>6.3f} {c95.std(ddof=1):>6.3f} {c95.min():>6.3f} "
                  f"{np.mean([r['coverage80'] for r in rs]):>6.3f} {np.mean([r['paths_only_coverage95'] for r in rs]):>7.3f} "
                  f"{np.mean([r['paths_only_coverage80'] for r in rs]):>7.3f}")
    big = sizes[-1]
    print(f"\nmean absolute percentage error against the synthetic truth, by level, size {big}")
    methods = list(acc[big])
    print(f"{'level':>24} " + " ".join(f"{m:>11}" for m in methods))
    for level in acc[big]["base"]:
        print(f"{level:>24} " + " ".join(f"{acc[big][m][level]:>11.2f}" for m in methods))
    # ---- targets
    def mine(size, method, key):
        return next((r[key] for r in rows if r["size"] == size and r["method"] == method), float("nan"))

    dense_diffs = [r["rel_diff_marketcube_vs_hf"] for r in hf_rows if "rel_diff_marketcube_vs_hf" in r
                   and "Sparse" not in r["class"]]
    exact = dense_diffs + [s["rel_diff"] for s in subs]
    measured = {
        "mint_shrink_50k_seconds": mine("50k", "mint_shrink", "seconds"),
        "mint_shrink_50k_extra_gib": mine("50k", "mint_shrink", "extra_gib"),
        "mint_shrink_500k_seconds": mine("500k", "mint_shrink", "seconds"),
        "mint_shrink_500k_peak_gib": mine("500k", "mint_shrink", "peak_gib"),
        "ols_50k_seconds": mine("50k", "ols", "seconds"),
        "wls_50k_seconds": max(mine("50k", "wls_struct", "seconds"), mine("50k", "wls_var", "seconds")),
        "max_rel_diff_vs_exact": max(exact) if exact else float("nan"),
        "max_coherence_error": max(r["coherence_error"] for r in rows),
        "interval95_coverage_abs_gap": _replicated_gap(replications),
    }
    single = max(abs(r["coverage95"] - 0.95) for r in ivs if r["method"] != "bottom_up")
    print(f"\nsingle_market_interval95_gap (worst over every size's own market and method): {single:.3f}")
    targets = []
    for name, op, target in TARGETS:
        v = measured[name]
        met = bool(np.isfinite(v) and (v <= target if op == "<=" else v >= target))
        targets.append({"name": name, "value": v, "target": target, "op": op, "met": met})
    print("\ntargets")
    for t in targets:
        print(f"  {t['name']:<30} {t['value']:>10.4g} {t['op']} {t['target']:<6} {'met' if t['met'] else 'MISSED'}")
    out = HERE / "results" / "reconcile.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"rows": rows + hf_rows, "targets": targets, "sub_hierarchies": subs, "intervals": ivs,
                               "base_coverage": base_cov, "accuracy_mape_by_level": acc,
                               "interval_replications": replications or [], "single_market_interval95_gap": single,
                               "note": env_note}, indent=1) + "\n")
    print(f"wrote {out}")


def _replicated_gap(replications) -> float:
    """The largest |mean 95% coverage over the replicated markets - 0.95| over the reconciled methods
    (bottom-up is a baseline, not a reconciliation of every level)."""
    if not replications:
        return float("nan")
    methods = dict.fromkeys(r["method"] for r in replications if r["method"] != "bottom_up")
    return max(abs(np.mean([r["coverage95"] for r in replications if r["method"] == m]) - 0.95) for m in methods)


def main(sizes: list[str]) -> int:
    if sizes and sizes[0] == "--ours":
        print(json.dumps(run_ours(sizes[1], sizes[2])))
        return 0
    if sizes and sizes[0] == "--replicate":
        print(json.dumps(run_replications(sizes[1])))
        return 0
    if sizes and sizes[0] == "--hf":
        print(json.dumps(run_hf(sizes[1], sizes[2], sizes[3])))
        return 0
    sizes = sizes or SIZES
    env_note = "hierarchicalforecast 1.5.3; each engine process single-machine, 2 cores"
    rows, hf_rows, acc, subs, ivs, base_cov = [], [], {}, [], [], {}
    failed: set[str] = set()
    tmp = tempfile.mkdtemp(prefix="reconcile-bench-")
    for size in sizes:
        print(f"size {size}: marketcube", file=sys.stderr, flush=True)
        d = Path(tmp) / size
        d.mkdir()
        status, ours = _watch([sys.executable, __file__, "--ours", size, str(d)], cap_seconds=float("inf"))
        if ours is None:
            raise SystemExit(f"marketcube failed at {size}: {status}")
        rows += ours["rows"]
        acc[size] = ours["accuracy"]
        subs += [dict(s, size=size) for s in ours["sub"]]
        ivs += ours["intervals"]
        base_cov[size] = ours["base_coverage"]
        for label, cls_name, method in HF:
            if label in failed:
                hf_rows.append({"size": size, "engine": "hierarchicalforecast", "class": label, "status": "skipped (failed at a smaller size)"})
                continue
            print(f"size {size}: hierarchicalforecast {label}", file=sys.stderr, flush=True)
            outfile = str(d / f"hf_{label.replace('/', '_')}.npy")
            status, res = _watch([sys.executable, __file__, "--hf", label, size, outfile])
            row = {"size": size, "engine": "hierarchicalforecast", "class": label, "status": status}
            if res is not None:
                row.update(res)
                ours_method = HF_SAME.get(cls_name, method)
                a = np.load(d / f"ours_{ours_method}.npy")
                b = np.load(outfile)
                row["rel_diff_marketcube_vs_hf"] = float(np.abs(a - b).max() / np.abs(b).max())
                mine = next(r for r in rows if r["size"] == size and r["method"] == ours_method)
                row["hf_seconds_over_marketcube"] = res["seconds"] / mine["seconds"]
            else:
                failed.add(label)
            hf_rows.append(row)
        if size == sizes[-1]:
            print(f"replications: coverage on {len(REPLICATION_SEEDS)} markets of size {REPLICATION_SIZE}",
                  file=sys.stderr, flush=True)
            status, replications = _watch([sys.executable, __file__, "--replicate", REPLICATION_SIZE],
                                          cap_seconds=float("inf"))
            if replications is None:
                raise SystemExit(f"replications failed: {status}")
        _report(sizes[: sizes.index(size) + 1], rows, hf_rows, acc, subs, ivs, base_cov, env_note,
                 final=size == sizes[-1], replications=replications if size == sizes[-1] else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
