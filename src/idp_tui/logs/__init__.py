"""Log lines without Textual: the bounded, filtered, searchable buffer the Logs pane draws
(:class:`LogBuffer`, in :mod:`.buffer`), the user's patterns and their prefilter
(:mod:`.prefilter`), JSON lines read as fields (:mod:`.fields`), the lines waiting for the buffer
(:class:`Handover`, in :mod:`.handover`), the garbage collector's pace while lines flow
(:class:`CollectionPacer`, in :mod:`.pacer`), a CI job's ``##[group]`` sections and their folds
(:class:`Sections`, in :mod:`.fold`) and ANSI colour codes read as styles (:mod:`.ansi`). The
widget on top is
:class:`idp_tui.ui.logview.LogView`.

The names load with their module on first use: the dashboard's first frame draws text through
:mod:`idp_tui.render`, which needs :mod:`.fields` only.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .ansi import split_sgr, strip_sgr
    from .buffer import (Appended, Instance, LogBuffer, LogEntry, display_text, wrapped_piece,
                         wrapped_rows)
    from .fields import json_fields, log_message_plain
    from .fold import Section, Sections
    from .handover import Handover
    from .pacer import CollectionPacer
    from .prefilter import Pattern, compile_pattern, required_literals, smart_case

_WHERE = {
    "Appended": "buffer", "Instance": "buffer", "LogBuffer": "buffer", "LogEntry": "buffer",
    "CollectionPacer": "pacer", "Handover": "handover",
    "display_text": "buffer", "wrapped_piece": "buffer", "wrapped_rows": "buffer",
    "json_fields": "fields", "log_message_plain": "fields",
    "Pattern": "prefilter", "compile_pattern": "prefilter", "required_literals": "prefilter",
    "smart_case": "prefilter", "Section": "fold", "Sections": "fold", "split_sgr": "ansi",
    "strip_sgr": "ansi",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
