"""The ``prometheus`` source of idp-tui: golden signals from Prometheus's HTTP API.

Registered under the ``idp_tui.sources`` entry-point group as ``prometheus``.
"""

from .config import PrometheusConfig
from .source import PrometheusSource

__all__ = ["PrometheusConfig", "PrometheusSource"]
