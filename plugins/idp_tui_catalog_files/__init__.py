"""The ``catalog-files`` source of idp-tui: the service catalog from ``catalog-info.yaml`` files.

Registered under the ``idp_tui.sources`` entry-point group as ``catalog-files``.
"""

from .source import CatalogFilesConfig, CatalogFilesSource

__all__ = ["CatalogFilesConfig", "CatalogFilesSource"]
