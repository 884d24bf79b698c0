"""The one place where text from sources becomes something Textual can draw.

Names, descriptions, log lines and error messages come from servers we do not control. They are never
parsed as markup: this module turns them into ``rich.text.Text`` / ``textual.content.Content`` with
control characters made visible, invalid code points replaced and length bounded. Widgets elsewhere
compose these objects and never build markup from a source's string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from rich.style import Style
from rich.text import Text
from textual.content import Content

from .api.models import Health, LogLevel, LogLine, RunStatus

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


def text(value: object, style: str | Style = "", *, max_len: int | None = CELL_MAX,
         multiline: bool = False) -> Text:
    """Untrusted text as a ``Text`` (never markup)."""
    return Text(sanitize(value, max_len=max_len, multiline=multiline), style=style, end="")


def content(value: object, style: str = "", *, max_len: int | None = CELL_MAX,
            multiline: bool = False) -> Content:
    """Untrusted text as a ``Content`` (never markup)."""
    plain = sanitize(value, max_len=max_len, multiline=multiline)
    return Content.styled(plain, style) if style else Content(plain)


def palette_entry(title: str, offsets: Iterable[int], help_text: object = "",
                  match_style: str = "bold underline") -> Content:
    """A command-palette line: ``title`` with matched ``offsets`` styled, then dim help text.

    Textual's palette parses a plain ``str`` prompt or help as markup, so entries that carry a
    source's text are built here as ``Content`` (the prompt) with the help on its second line.
    """
    plain = sanitize(title)
    out = Content(plain)
    for offset in offsets:
        if 0 <= offset < len(plain) and not plain[offset].isspace():
            out = out.stylize(match_style, offset, offset + 1)
    help_plain = sanitize(help_text, max_len=120) if help_text else ""
    if help_plain:
        out = Content("\n").join([out, Content.styled(help_plain, "dim")])
    return out


def joined(parts: list[tuple[object, str]], sep: str = "") -> Text:
    """Several untrusted pieces, each with its own style, as one ``Text``."""
    out = Text(end="")
    for i, (value, style) in enumerate(parts):
        if i and sep:
            out.append(sep)
        out.append(sanitize(value), style=style)
    return out


# Status values -----------------------------------------------------------------------------------

HEALTH_STYLES = {
    Health.HEALTHY: ("●", "green"),
    Health.DEGRADED: ("◐", "yellow"),
    Health.DOWN: ("✖", "bold red"),
    Health.UNKNOWN: ("?", "dim"),
}

RUN_STYLES = {
    RunStatus.QUEUED: ("◌", "dim"),
    RunStatus.RUNNING: ("▶", "bold cyan"),
    RunStatus.SUCCEEDED: ("✔", "green"),
    RunStatus.FAILED: ("✖", "bold red"),
    RunStatus.CANCELLED: ("⊘", "yellow"),
    RunStatus.SKIPPED: ("↷", "dim"),
}

LEVEL_STYLES = {
    LogLevel.TRACE: "dim",
    LogLevel.DEBUG: "dim",
    LogLevel.INFO: "green",
    LogLevel.WARN: "yellow",
    LogLevel.ERROR: "bold red",
    LogLevel.FATAL: "bold white on red",
    LogLevel.UNKNOWN: "",
}

#: Colours given to log instances in turn.
INSTANCE_COLOURS = ("cyan", "magenta", "bright_blue", "yellow", "bright_green", "bright_magenta",
                    "bright_cyan", "blue", "green", "bright_yellow")


def health(value: Health | str) -> Text:
    try:
        h = Health(value)
    except ValueError:
        h = Health.UNKNOWN
    icon, style = HEALTH_STYLES[h]
    return Text(f"{icon} {h.value}", style=style, end="")


def run_status(value: RunStatus) -> Text:
    icon, style = RUN_STYLES.get(value, ("?", ""))
    return Text(f"{icon} {value.value}", style=style, end="")


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
    delta = now - when
    if delta.total_seconds() < 0:
        return "in " + duration(-delta)
    return duration(delta) + " ago"


# Log lines ---------------------------------------------------------------------------------------

_ERROR_LEVELS = frozenset({LogLevel.ERROR, LogLevel.FATAL})
_JSON_MESSAGE_KEYS = ("msg", "message", "event")
_JSON_LEVEL_KEYS = ("level", "lvl", "severity")


def json_fields(message: str) -> dict[str, object] | None:
    """The fields of a JSON-object log line, or None when the line is not one."""
    if not message.startswith("{") or not message.rstrip().endswith("}"):
        return None
    try:
        value = json.loads(message)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def log_message_plain(message: str, *, as_fields: bool = True) -> str:
    """The text shown for a message: a JSON object as ``msg key=value …`` when ``as_fields``."""
    fields = json_fields(message) if as_fields else None
    if fields is None:
        return message
    head = ""
    for key in _JSON_MESSAGE_KEYS:
        if isinstance(fields.get(key), str):
            head = fields.pop(key)  # type: ignore[assignment]
            break
    for key in _JSON_LEVEL_KEYS:
        fields.pop(key, None)
    rest = " ".join(f"{k}={_field_value(v)}" for k, v in fields.items())
    return f"{head} {rest}".strip() if head else rest


def _field_value(value: object) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False) if (" " in value or not value) else value
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if value == value and value not in (float("inf"), float("-inf")) \
            else json.dumps(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def log_line(line: LogLine, *, instance_style: str, show_timestamp: bool = True,
             show_instance: bool = True, as_fields: bool = True,
             highlight: re.Pattern[str] | None = None) -> Text:
    """One log line as a ``Text``: time, instance (in its colour), level, message."""
    out = Text(end="", no_wrap=True)
    if show_timestamp:
        out.append(line.ts.strftime("%H:%M:%S.") + f"{line.ts.microsecond // 1000:03d} ", "dim")
    if show_instance:
        out.append(sanitize(line.instance, max_len=48), instance_style)
        out.append(" ")
    level = line.level
    out.append(f"{level.value.upper():<5}" if level is not LogLevel.UNKNOWN else "     ",
               LEVEL_STYLES[level])
    out.append(" ")
    message = log_message_plain(line.message, as_fields=as_fields)
    out.append(sanitize(message, max_len=LINE_MAX), "red" if level in _ERROR_LEVELS else "")
    if highlight is not None:
        out.highlight_regex(highlight, "black on yellow")
    return out
