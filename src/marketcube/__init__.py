"""marketcube: market sizing, triangulation and segment forecasting with provenance for every number."""

__version__ = "0.1.0"

from .errors import MarketcubeError, PackError, PackRefused  # noqa: E402

__all__ = ["__version__", "MarketcubeError", "PackError", "PackRefused"]
