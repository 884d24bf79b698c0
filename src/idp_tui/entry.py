"""The ``idp-tui`` command (``python -m idp_tui`` too).

The cyclic garbage collector is paused while the application is imported: the hundreds of modules
it loads (pydantic, the plugin API, later Textual) allocate many objects, and each collection then
scanned the whole heap built so far, for nothing (import-time objects live for good).
"""

from __future__ import annotations

import gc


def main(argv: list[str] | None = None) -> int:
    enabled = gc.isenabled()
    gc.disable()
    try:
        from .cli import main as cli_main
    finally:
        if enabled:
            gc.enable()
    return cli_main(argv)
