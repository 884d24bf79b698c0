"""idp-tui: a terminal dashboard for an internal developer platform.

This module is the public plugin API: everything a data source needs, and nothing that imports
Textual. See ``docs/plugins.md`` for a guide with a complete example.
"""

from .api import *  # noqa: F403
from .api import __all__ as _api_all

__version__ = "0.1.0"
__all__ = [*_api_all, "__version__"]
