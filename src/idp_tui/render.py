"""The one place where text from sources becomes something Textual can draw.

Names, descriptions, log lines and error messages come from servers we do not control. They are never
parsed as markup: this module turns them into ``rich.text.Text`` / ``textual.content.Content`` with
control characters made visible, invalid code points replaced and length bounded. Widgets elsewhere
compose these objects and never build markup from a source's string.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rich._wrap import divide_line
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.content import Content

from .api.kinds import ActionState, Health, LogLevel, RunStatus
from .logs.ansi import split_sgr
from .logs.buffer import NARROW_INDENT, wrap_indent
from .logs.fields import json_fields, log_message_plain  # noqa: F401 - re-exported
from .safetext import CELL_MAX, LINE_MAX, ago, duration, sanitize  # noqa: F401 - re-exported

if TYPE_CHECKING:
    from .api.actions import ActionEvent
    from .api.models import LogLine


def text(value: object, style: str | Style = "", *, max_len: int | None = CELL_MAX,
         multiline: bool = False) -> Text:
    """Untrusted text as a ``Text`` (never markup)."""
    return Text(sanitize(value, max_len=max_len, multiline=multiline), style=style, end="")


def content(value: object, style: str = "", *, max_len: int | None = CELL_MAX,
            multiline: bool = False) -> Content:
    """Untrusted text as a ``Content`` (never markup)."""
    plain = sanitize(value, max_len=max_len, multiline=multiline)
    return Content.styled(plain, style) if style else Content(plain)


def path_lines(path: object, width: int) -> str:
    """A file's path (untrusted: sanitised) as lines of at most ``width`` characters, broken
    after a ``/`` (never inside a name, unless one name is longer than a line): for a
    notification, which would otherwise wrap it anywhere."""
    plain = sanitize(path, max_len=None)
    width = max(8, width)
    parts = re.findall(r"[^/]*/|[^/]+$", plain) or [plain]
    lines: list[str] = []
    line = ""
    for part in parts:
        if line and len(line) + len(part) > width:
            lines.append(line)
            line = ""
        while len(part) > width:  # (one name longer than a line: cut, as nothing else can)
            lines.append(part[:width])
            part = part[width:]
        line += part
    if line:
        lines.append(line)
    return "\n".join(lines)


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


# Detail panels: wrapped lines continue indented ------------------------------------------------

#: The style of a field's label in a detail panel ("Owner     ", "Branch   "): a value that wraps
#: continues under the value, not under the label (see ``hanging``).
LABEL_STYLE = Style(dim=True, meta={"label": True})


def label(name: object, width: int = 0, *, max_len: int | None = CELL_MAX) -> Text:
    """A detail panel's field label (untrusted: sanitised), padded to ``width`` characters
    (``hanging`` indents its value's continuation rows to where the value starts)."""
    return Text(sanitize(name, max_len=max_len).ljust(width), style=LABEL_STYLE, end="")


def _is_label(style: object) -> bool:
    meta = getattr(style, "meta", None)
    return bool(meta) and bool(meta.get("label"))  # type: ignore[union-attr]


class HangingContent(Content):
    """Content whose wrapped lines continue indented, as wrapped log lines do: a labelled line's
    continuation rows start under its value, any other line's ``NARROW_INDENT`` cells past its
    own indentation (under the text after a leading mark: "✖ ", "▶ "); where that leaves fewer
    than ``WRAP_MIN_TEXT`` cells, ``NARROW_INDENT`` cells in (``logs.buffer.wrap_indent``)."""

    def __init__(self, text: str = "", spans: list[Any] | None = None,
                 hangs: tuple[int, ...] = ()) -> None:
        super().__init__(text, spans)
        #: Where each line's continuation rows start (its value's column), line by line.
        self.hangs = hangs
        self._rows: tuple[int, Content] | None = None

    @property
    def without_spans(self) -> Content:
        return HangingContent(self.plain, [], self.hangs) if self.spans else self

    def wrapped(self, width: int) -> Content:
        """The content with its rows broken at ``width`` cells, continuation rows indented."""
        if self._rows is not None and self._rows[0] == width:
            return self._rows[1]
        rows: list[Content] = []
        for y, line in enumerate(self.split("\n", allow_blank=True)):
            hang = self.hangs[y] if y < len(self.hangs) else 0
            rows.extend(_hang_rows(line, width, hang))
        out = Content("\n").join(rows)
        self._rows = (width, out)
        return out

    def get_height(self, rules: Any, width: int) -> int:
        if width <= 0:
            return super().get_height(rules, width)
        return self.wrapped(width).get_height(rules, width)

    def render_strips(self, width: int, height: int | None, style: Any,
                      options: Any) -> list[Any]:
        if width <= 0:
            return super().render_strips(width, height, style, options)
        return self.wrapped(width).render_strips(width, height, style, options)


def _hang_rows(line: Content, width: int, hang: int) -> list[Content]:
    """``line`` broken into rows of ``width`` cells, the rows after the first indented."""
    if line.cell_length <= width:
        return [line]
    cuts = divide_line(line.plain, width, fold=True)
    if not cuts:
        return [line]
    first, rest = line.divide([cuts[0]])[:2]
    indent = wrap_indent(hang, width)
    pad = Content(" " * indent)
    step = max(width - indent, 1)
    rows = [first.rstrip()]
    rest_cuts = divide_line(rest.plain, step, fold=True)
    pieces = rest.divide(rest_cuts) if rest_cuts else [rest]
    rows.extend(pad + piece.rstrip() for piece in pieces)
    return rows


def hanging(text: Text) -> HangingContent:
    """A detail panel's ``text`` (untrusted parts already through ``text()``) as content whose
    wrapped lines continue indented: under the value after a ``label``, else ``NARROW_INDENT``
    cells past the line's own indentation."""
    content = Content.from_rich_text(text)
    hangs = []
    for line in content.split("\n", allow_blank=True):
        plain = line.plain
        lead = len(plain) - len(plain.lstrip(" "))
        ends = [span.end for span in line.spans if _is_label(span.style) and span.start <= lead]
        hangs.append(max(ends) if ends and max(ends) < len(plain) else lead + NARROW_INDENT)
    return HangingContent(content.plain, list(content.spans), tuple(hangs))


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
    RunStatus.WAITING: ("⏸", "bold yellow"),
    RunStatus.SUCCEEDED: ("✔", "green"),
    RunStatus.FAILED: ("✖", "bold red"),
    RunStatus.CANCELLED: ("⊘", "yellow"),
    RunStatus.SKIPPED: ("↷", "dim"),
    RunStatus.ACTION_REQUIRED: ("⚑", "bold yellow"),
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


#: A rollout under way, marked on a deployment in place of its health icon (its own glyph: a
#: rollout is not "degraded"): "progressing", or "stuck" (it stopped making progress).
ROLLOUT_STYLES = {
    "progressing": ("↻", "bold cyan"),
    "stuck": ("⧗", "bold magenta"),
}


def deployment_icon(health_value: Health | str, rollout: str = "") -> tuple[str, str]:
    """The icon and style of a deployment: its rollout's while one is under way, else its
    health's."""
    if rollout in ROLLOUT_STYLES:
        return ROLLOUT_STYLES[rollout]
    try:
        return HEALTH_STYLES[Health(health_value)]
    except ValueError:
        return HEALTH_STYLES[Health.UNKNOWN]


def health(value: Health | str) -> Text:
    try:
        h = Health(value)
    except ValueError:
        h = Health.UNKNOWN
    icon, style = HEALTH_STYLES[h]
    return Text(f"{icon} {h.value}", style=style, end="")


def catalog_row(name: str, owner: str, tier: int | None, lifecycle: str, language: str,
                health_value: Health | str) -> tuple[Text, ...]:
    """The Catalog table's cells for one service (the live pane and the last run's view alike)."""
    return (
        text(name, "bold"),
        text(owner),
        Text(f"T{tier}" if tier else "–", "bold red" if tier == 1 else ""),
        text(lifecycle, "dim" if lifecycle != "production" else ""),
        text(language),
        health(health_value),
    )


def run_status(value: RunStatus) -> Text:
    icon, style = RUN_STYLES.get(value, ("?", ""))
    return Text(f"{icon} {value.value}", style=style, end="")




# Log lines ---------------------------------------------------------------------------------------

_ERROR_LEVELS = frozenset({LogLevel.ERROR, LogLevel.FATAL})


def log_message(message: str, *, as_fields: bool = True) -> tuple[str, list[tuple[int, int, str]]]:
    """A log message as drawn: its text (control characters visible, cut at ``LINE_MAX``; the
    same text :func:`idp_tui.logs.buffer.display_text` gives) and the stretches its ANSI colour
    codes style, as ``(start, end, style)`` (see :mod:`idp_tui.logs.ansi`). Only colour codes
    become styles; every other escape stays visible."""
    raw = log_message_plain(message, as_fields=as_fields)
    if "\x1b[" not in raw:
        return sanitize(raw, max_len=LINE_MAX), []
    plain, spans = split_sgr(raw)
    if len(plain) > LINE_MAX:
        spans = [(start, min(end, LINE_MAX), style) for start, end, style in spans
                 if start < LINE_MAX]
    return sanitize(plain, max_len=LINE_MAX), spans


def section_title(title: str, *, folded: bool, lines: int,
                  errors: int = 0) -> tuple[str, list[tuple[int, int, str]]]:
    """A CI log section's title line as drawn (``▸`` folded with its line count, ``▾`` open; red
    with ``errors``), in the same form as :func:`log_message`."""
    plain, spans = log_message(title, as_fields=False)
    mark = "▸ " if folded else "▾ "
    spans = [(0, len(mark) + len(plain), "bold red" if errors else "bold")] + [
        (start + len(mark), end + len(mark), style) for start, end, style in spans]
    text = mark + plain
    if folded:
        count = f"  ({lines:,} line{'s' if lines != 1 else ''})"
        spans.append((len(text), len(text) + len(count), "dim"))
        text += count
    return text, spans


#: A level word at the start of a message (``INFO  [main] …``, ``WARNING  app: …``, ``[ERROR] …``,
#: ``INFO:root:…``), in capitals: the level column says it already.
_LEADING_LEVEL = re.compile(r" *(\[?)(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|FATAL|CRITICAL|CRIT"
                            r"|PANIC)(\]?)(?::+ *| +)")


def without_level(plain: str, spans: list[tuple[int, int, str]], level: LogLevel,
                  ) -> tuple[str, list[tuple[int, int, str]]]:
    """``plain`` without the level word it starts with when that is the line's ``level`` (so
    a Java or Python line does not read ``INFO  INFO  [main] …``), its ``spans`` moved along."""
    if level is LogLevel.UNKNOWN or not plain[:1].isupper() and plain[:1] not in " [":
        return plain, spans
    match = _LEADING_LEVEL.match(plain)
    if match is None or bool(match.group(1)) != bool(match.group(3)) \
            or LogLevel.parse(match.group(2)) is not level or match.end() >= len(plain):
        return plain, spans
    cut = match.end()
    return plain[cut:], [(max(start - cut, 0), end - cut, style) for start, end, style in spans
                         if end > cut]


def log_line(line: LogLine, *, instance_style: str, show_timestamp: bool = True,
             show_instance: bool = True, as_fields: bool = True,
             highlight: re.Pattern[str] | None = None,
             message: tuple[str, list[tuple[int, int, str]]] | None = None) -> Text:
    """One log line as a ``Text``: time, instance (in its colour), level, message (``message``:
    drawn instead of the line's own, as :func:`log_message` or :func:`section_title` give)."""
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
    plain, spans = message if message is not None else without_level(
        *log_message(line.message, as_fields=as_fields), level)
    start = len(out.plain)
    out.append(plain, "red" if level in _ERROR_LEVELS else "")
    for begin, end, style in spans:
        out.stylize(style, start + begin, start + end)
    if highlight is not None:
        out.highlight_regex(highlight, "black on yellow")
    return out


_style_of = functools.lru_cache(maxsize=256)(Style.parse)
_HIGHLIGHT = Style.parse("black on yellow")


def log_line_segments(line: LogLine, *, base: Style, instance_style: str,
                      show_timestamp: bool = True, show_instance: bool = True,
                      as_fields: bool = True,
                      highlight: re.Pattern[str] | None = None,
                      message: tuple[str, list[tuple[int, int, str]]] | None = None,
                      ) -> list[Segment]:
    """``log_line(...)`` with ``base`` under it, drawn: the same cells and styles as
    ``Text.render`` gives for it, built directly (the Logs view draws every row of a busy
    stream this way: Rich's general path cost most of a frame)."""
    parts: list[tuple[str, Style]] = []
    add = parts.append
    if show_timestamp:
        ts = line.ts
        add((ts.strftime("%H:%M:%S.") + f"{ts.microsecond // 1000:03d} ", base + _style_of("dim")))
    if show_instance:
        add((sanitize(line.instance, max_len=48), base + _style_of(instance_style)))
        add((" ", base))
    level = line.level
    add((f"{level.value.upper():<5}" if level is not LogLevel.UNKNOWN else "     ",
         base + _style_of(LEVEL_STYLES[level])))
    add((" ", base))
    text, spans = message if message is not None else without_level(
        *log_message(line.message, as_fields=as_fields), level)
    under = base + _style_of("red") if level in _ERROR_LEVELS else base
    if spans:
        position = 0
        for begin, end, style in spans:
            if begin > position:
                add((text[position:begin], under))
            add((text[begin:end], under + _style_of(style)))
            position = end
        if position < len(text):
            add((text[position:], under))
    elif level in _ERROR_LEVELS:
        add((text, under))
    else:  # the space before it has the same style: one segment, as Rich makes it
        parts[-1] = (" " + text, base)
    if highlight is None:
        return [Segment(text, style) for text, style in parts if text]
    plain = "".join(text for text, _style in parts)
    matches = [m.span() for m in highlight.finditer(plain) if m.end() > m.start()]
    if not matches:
        return [Segment(text, style) for text, style in parts if text]
    # Split the parts where a match starts or ends; matched pieces get the highlight on top.
    out: list[Segment] = []
    position = 0
    spans = iter(matches)
    span = next(spans, None)
    for text, style in parts:
        end = position + len(text)
        cursor = position
        while cursor < end:
            while span is not None and span[1] <= cursor:
                span = next(spans, None)
            if span is None or span[0] >= end:
                out.append(Segment(text[cursor - position:], style))
                break
            if span[0] > cursor:
                out.append(Segment(text[cursor - position:span[0] - position], style))
                cursor = span[0]
            stop = min(span[1], end)
            out.append(Segment(text[cursor - position:stop - position], style + _HIGHLIGHT))
            cursor = stop
        position = end
    return out


# Actions -----------------------------------------------------------------------------------------

ACTION_STATE_STYLES = {
    ActionState.PENDING: ("◌", "dim"),
    ActionState.RUNNING: ("▶", "bold cyan"),
    ActionState.SUCCEEDED: ("✔", "green"),
    ActionState.FAILED: ("✖", "bold red"),
    ActionState.CANCELLED: ("⊘", "yellow"),
    ActionState.DENIED: ("⊗", "bold red"),
}

_EVENT_LEVEL_STYLES = {"info": ("·", ""), "warning": ("▲", "yellow"), "error": ("✖", "red")}


def action_state(value: ActionState, *, waiting: bool = False) -> Text:
    """An action's state; ``waiting``: it waits for approval (recorded as ``requested``)."""
    if waiting:
        return Text("⧗ requested", style="yellow", end="")
    icon, style = ACTION_STATE_STYLES.get(value, ("?", ""))
    return Text(f"{icon} {value.value}", style=style, end="")


def action_event(event: ActionEvent) -> Text:
    """One progress event of an action: time, level mark, message and ``done/total``."""
    icon, style = _EVENT_LEVEL_STYLES.get(event.level, ("·", ""))
    if event.state.finished:
        icon, style = ACTION_STATE_STYLES[event.state]
    out = Text(end="")
    out.append(f"{event.ts:%H:%M:%S} ", "dim")
    out.append(f"{icon} ", style)
    out.append(sanitize(event.message, max_len=2000), style if event.level != "info" else "")
    if event.done is not None and event.total:
        out.append(f"  {event.done}/{event.total}", "dim")
    return out
