"""The ``backstage`` source of idp-tui: the service catalog from Backstage's catalog API.

Registered under the ``idp_tui.sources`` entry-point group as ``backstage``.
"""

from .source import BackstageConfig, BackstageSource

__all__ = ["BackstageConfig", "BackstageSource"]
