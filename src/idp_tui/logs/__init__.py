"""Log lines without Textual: the bounded, filtered, searchable buffer the Logs pane draws
(:class:`LogBuffer`), the user's patterns and their prefilter (:mod:`.prefilter`), and JSON lines
read as fields (:mod:`.fields`). The widget on top is :class:`idp_tui.ui.logview.LogView`."""

from __future__ import annotations

from .buffer import Appended, Instance, LogBuffer, LogEntry, display_text
from .fields import json_fields, log_message_plain
from .prefilter import Pattern, compile_pattern, required_literals, smart_case

__all__ = [
    "Appended", "Instance", "LogBuffer", "LogEntry", "Pattern", "compile_pattern", "display_text",
    "json_fields", "log_message_plain", "required_literals", "smart_case",
]
