"""Base forecasts for short annual market series, with calibrated intervals, residuals and paths.

``forecast(df, h, levels=(80, 95))`` gives point forecasts and prediction intervals;
``forecast_detail`` gives the same plus in-sample one-step residuals (for variance and covariance
estimates in reconciliation), sample paths (for reconciled intervals) and how each series was
forecast. The base models are statsforecast's; marketcube's layer is the combination (with a
pooled analogue member when the call holds enough history), the damping of implausible growth,
the rule for series of one to four points (with optional growth hints), non-negative output and
conformal intervals from backtests inside the history. The method and
its references are described in ``marketcube.forecast._engine``; its accuracy on M3 and Tourism
yearly is measured by benchmarks/accuracy.py.
"""

from __future__ import annotations

from ._engine import Calibration, Forecasts, GrowthHint, SeriesMethod, forecast, forecast_detail

__all__ = ["Calibration", "Forecasts", "GrowthHint", "SeriesMethod", "forecast", "forecast_detail"]
