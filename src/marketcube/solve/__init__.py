"""The solver: triangulation (evidence mode) before forecasting, reconciliation after it, and
verdicts on every claim. Import the stage modules directly (``solve.evidence``,
``solve.reconcile``, ``solve.judge``): reconciliation depends on the forecast stage, which depends
on triangulation, so this package imports nothing eagerly."""
