"""How well could any judge find the triangulation benchmark's planted outliers? An oracle's answer.

Run: ``.venv/bin/python benchmarks/outlier_ceiling.py`` (simulation only, no solver; about a minute).
Prints a table and writes benchmarks/results/outlier_ceiling.json.

The triangulation benchmark (issue 3) asks for ``outlier_recall`` >= 0.9 and ``outlier_precision``
>= 0.8 of the "contradicted" verdict on the claims it plants 1.5x-4x off, among claims whose noise is
Student-t with 3 degrees of freedom at 1.5 times the solver's sd. This script measures what a judge
far better informed than any real one could reach on the very same markets (the benchmark's seeds):
it knows every claim's drawn error exactly (the truth, the publisher's bias and a mislabelled year
removed), standardised by the sd of the claim's confidence. Two oracles:

- ``abs z``: ranks the claims by the size of that error, as a verdict threshold would;
- ``posterior``: ranks them by the probability that a claim with that kind, confidence and signed
  error is planted, estimated on 30 other simulated medium markets (seeds 1001-1030, 50 bins of the
  error per kind and confidence). This is the best ranking of single claims by their errors (it
  knows, say, that a high-confidence size claim 9 sd off is more likely planted than one 30 sd off).

For each, the best precision at recall 0.9, the best recall at precision 0.8, and the precision at
the recall the solver's verdicts reached (committed in results/triangulation.json), each on the
claims of one size pooled (one ranking and one threshold for all its markets, as the benchmark pools
its verdicts). If neither oracle reaches the two targets together, no verdict can.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from simulate import SIZES, simulate  # noqa: E402
from triangulation import SEEDS  # noqa: E402

TRAIN_SEEDS = range(1001, 1031)
BINS = 50


def _claims(size: str, seed: int) -> tuple[list[tuple[str, str]], np.ndarray, np.ndarray]:
    """(kind, confidence) of every claim with a drawn error, its standardised error, planted or not."""
    truth = simulate(SIZES[size], seed=seed)
    meta = {c.id: (c.kind, c.confidence) for c in truth.market.claims}
    ids = list(truth.drawn_z)
    return [meta[c] for c in ids], np.array([truth.drawn_z[c] for c in ids]), np.array([c in truth.outliers for c in ids])


class Posterior:
    """P(planted | kind, confidence, signed error), binned, from markets not in the benchmark."""

    def __init__(self, classes, z, bad):
        self.prior = float(bad.mean())
        self.edges: dict = {}
        self.rate: dict = {}
        for key in set(classes):
            m = np.array([c == key for c in classes])
            edges = np.unique(np.quantile(z[m], np.linspace(0, 1, BINS + 1)[1:-1]))
            idx = np.searchsorted(edges, z[m])
            n = np.bincount(idx, minlength=len(edges) + 1)
            k = np.bincount(idx, weights=bad[m].astype(float), minlength=len(edges) + 1)
            self.edges[key], self.rate[key] = edges, (k + self.prior) / (n + 1.0)  # one pseudo-claim at the prior

    def __call__(self, classes, z) -> np.ndarray:
        out = np.full(len(z), self.prior)
        for i, (key, zi) in enumerate(zip(classes, z)):
            if key in self.edges:
                out[i] = self.rate[key][np.searchsorted(self.edges[key], zi)]
        return out


def _curve(score: np.ndarray, bad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-score, kind="stable")
    tp = np.cumsum(bad[order])
    return tp / np.arange(1, len(score) + 1), tp / bad.sum()


def _measures(score, bad, solver_recall) -> dict:
    precision, recall = _curve(score, bad)
    at = precision[recall >= solver_recall].max() if solver_recall is not None else float("nan")
    return {
        "precision_at_recall_0.9": round(float(precision[recall >= 0.9].max()), 3),
        "recall_at_precision_0.8": round(float(recall[precision >= 0.8].max()), 3) if (precision >= 0.8).any() else 0.0,
        "precision_at_solver_recall": round(float(at), 3),
    }


def main() -> None:
    train = [_claims("medium", s) for s in TRAIN_SEEDS]
    posterior = Posterior(sum((t[0] for t in train), []), np.concatenate([t[1] for t in train]),
                          np.concatenate([t[2] for t in train]))
    committed = HERE / "results" / "triangulation.json"
    solver = {}
    if committed.exists():
        for r in json.loads(committed.read_text())["rows"]:
            if str(r["seed"]).startswith("mean of"):
                solver[r["size"]] = (r["outlier_recall"], r["outlier_precision"])
    rows = []
    for size, seeds in SEEDS.items():
        parts = [_claims(size, s) for s in seeds]
        classes = sum((p[0] for p in parts), [])
        z = np.concatenate([p[1] for p in parts])
        bad = np.concatenate([p[2] for p in parts])
        recall, precision = solver.get(size, (None, None))
        for name, score in (("abs z", np.abs(z)), ("posterior", posterior(classes, z))):
            rows.append({"size": size, "seeds": ",".join(map(str, seeds)), "oracle": name, "claims": int(len(z)),
                         "planted": int(bad.sum()), **_measures(score, bad, recall),
                         "solver_recall": recall, "solver_precision": precision})
    cols = ["size", "oracle", "claims", "planted", "precision_at_recall_0.9", "recall_at_precision_0.8",
            "solver_recall", "solver_precision", "precision_at_solver_recall"]
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    out = HERE / "results" / "outlier_ceiling.json"
    # no target of its own: the outlier targets are the benchmark's; this bounds them
    out.write_text(json.dumps({"rows": rows, "targets": []}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
