"""Untrusted text made safe to show, without importing Textual or Rich.

Names, descriptions, log lines and error messages come from servers we do not control. ``sanitize``
turns control characters (ANSI escapes included) into visible symbols, replaces invalid code points
and bounds the length. ``idp_tui.render`` (the dashboard) and ``idp_tui.cli`` (the commands) both use
it, so no raw control character from a source ever reaches the terminal.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

#: Longest text kept for a table cell or a one-line label.
CELL_MAX = 200
#: Longest log message kept; the rest is cut with a marker saying how much.
LINE_MAX = 65_536

# C0 controls, DEL and C1 controls become their visible "control picture" (␛ for ESC, ␀ for NUL…).
_CONTROL_MAP: dict[int, str] = {c: chr(0x2400 + c) for c in range(0x20)}
_CONTROL_MAP[0x7F] = "\u2421"
_CONTROL_MAP.update({c: "\ufffd" for c in range(0x80, 0xA0)})
# Bidirectional overrides and isolates could reorder what is shown: make them visible too.
_CONTROL_MAP.update({c: "\ufffd" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))})
_SINGLE_LINE = {**_CONTROL_MAP, 0x09: " "}
_MULTI_LINE = {k: v for k, v in _SINGLE_LINE.items() if k != 0x0A}
_SURROGATES = re.compile("[\ud800-\udfff]")


def sanitize(value: object, *, max_len: int | None = CELL_MAX, multiline: bool = False) -> str:
    """A plain string safe to draw: no control characters, no surrogates, at most ``max_len`` long."""
    s = value if isinstance(value, str) else str(value)
    cut = 0
    if max_len is not None and len(s) > max_len:
        cut = len(s) - max_len
        s = s[:max_len]
    s = s.translate(_MULTI_LINE if multiline else _SINGLE_LINE)
    if not s.isascii():
        s = _SURROGATES.sub("\ufffd", s)
    if cut:
        s += f"… [+{cut:,} chars]" if cut > 16 else "…"
    return s


# Times ---------------------------------------------------------------------------------------------

def duration(delta: timedelta | None) -> str:
    if delta is None:
        return "–"
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    return f"{hours // 24}d{hours % 24}h"


def ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "–"
    if (when.tzinfo is None) != (now.tzinfo is None):  # a source's naive time: take it as UTC
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.replace(tzinfo=None)
        now = now.astimezone(UTC) if now.tzinfo is not None else now
    try:
        delta = now - when
    except OverflowError:
        return "–"
    if delta.total_seconds() < 0:
        return "in " + duration(-delta)
    return duration(delta) + " ago"


#: What pydantic puts before the message of a validator's own error ("Value error, must be…").
_VALIDATOR_PREFIXES = ("Value error, ", "Assertion failed, ")


def error_message(error: object, default: str = "invalid") -> str:
    """The message of one pydantic error (an item of ``ValidationError.errors()``) as a sentence
    of its own: without the "Value error, " pydantic puts before a validator's message."""
    message = str(error.get("msg") or default) if isinstance(error, dict) else str(error)
    for prefix in _VALIDATOR_PREFIXES:
        message = message.removeprefix(prefix)
    return message
