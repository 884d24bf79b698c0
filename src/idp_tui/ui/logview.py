"""The log viewer: a bounded, filtered, searchable view of a stream of log lines.

``LogView`` is a line-API widget (a ``ScrollView`` with ``render_line``): appending a batch does
O(batch) bookkeeping and at most one refresh; text is built only for the rows on screen, through
:func:`idp_tui.render.log_line`, and the resulting strips are cached per line.

Bookkeeping:

* ``_buffer`` holds the last ``max_lines`` entries (a bounded deque); older ones are evicted and
  counted in :attr:`LogView.dropped`, together with what the caller reports as dropped upstream.
* ``_shown`` is the ordered subset of the buffer that passes the filters (level floor, include,
  exclude). It is a list with a moving start offset so that eviction from the front is O(1)
  amortised and row look-up is O(1).
* With ``wrap`` on, ``_rows`` maps each screen row to ``(entry, chunk)`` at the current width; it
  is maintained the same way on append and eviction, and rebuilt on resize or when a display flag
  changes.

Log text is untrusted: it only becomes ``Text`` through :mod:`idp_tui.render`, never markup.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Sequence
from itertools import islice
from pathlib import Path
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.actions import SkipAction
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollTo, ScrollUp
from textual.strip import Strip

from .. import render
from ..api.models import LogLevel, LogLine

_sre = re._constants  # type: ignore[attr-defined]
_sre_parse = re._parser  # type: ignore[attr-defined]

__all__ = ["LogView", "MAX_VIRTUAL_WIDTH", "compile_pattern"]

#: Widest the scrollable area gets with wrapping off, however long a line is.
MAX_VIRTUAL_WIDTH = 10_000
#: Strips kept for lines already drawn.
_STRIP_CACHE_SIZE = 2048
#: Longest segment kept in a cached strip (see _short_segments).
_PIECE = 256
#: Distinct instance names remembered before the ones no longer buffered are forgotten.
_MAX_INSTANCES = 4096

_LEVEL_RANK: dict[LogLevel, int] = {
    LogLevel.TRACE: 0,
    LogLevel.DEBUG: 1,
    LogLevel.INFO: 2,
    LogLevel.WARN: 3,
    LogLevel.ERROR: 4,
    LogLevel.FATAL: 5,
}
#: Lines of unknown level pass every level floor.
_ALWAYS = 1 << 30

# Widths of the fixed columns render.log_line draws: "HH:MM:SS.mmm " and "LEVEL ".
_TS_WIDTH = 13
_LEVEL_WIDTH = 6

_ESCAPES = re.compile(r"\\.", re.DOTALL)

# For save(): every character Python (or a text tool) treats as a line break becomes visible.
_ONE_LINE = str.maketrans({
    **{c: chr(0x2400 + c) for c in (0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E)},
    0x85: "\u2424", 0x2028: "\u2424", 0x2029: "\u2424",
})


# Literal prefilter --------------------------------------------------------------------------------
#
# A JSON log line is shown as fields (``msg key=value …``), and filters look at that text: decoding
# and formatting it is the dearest step of a busy stream. For a JSON line without escapes, every
# piece of that text (the message, the keys, the values) is in the raw line as it is, joined by
# " " and "=" instead of quotes, colons and commas; only numbers may be written differently
# ("1e3" becomes "1000.0", "Infinity"…). So when every match of the include filter must contain
# one of a few literals — ASCII, without " ", "=", quotes or backslashes, each with a character no
# number is written with — and the raw line contains none of them, its fields cannot match either:
# the line is kept unshown and its fields are worked out only if ever needed (_entry_message).

#: Characters of a number as Python writes it (repr of a float, json.dumps of inf and nan), lower.
_NUMBER_CHARS = frozenset("0123456789.e+-infinitynan")
_SEPARATORS = frozenset(' ="\\\t')
#: Raw lines longer than this are not prefiltered (their fields, numbers rewritten, stay shorter
#: than render.LINE_MAX, past which the text is cut and a marker added).
_PREFILTER_MAX = render.LINE_MAX // 5


def _literal_factors(items: Any) -> set[str] | None:
    """Literals one of which every match of ``items`` (a parsed regex) contains; None: unknown."""
    best: set[str] | None = None
    run: list[str] = []

    def piece(text: str) -> set[str] | None:
        # Any match contains ``text``, so each of its pieces between separators: the longest.
        pieces = [p for p in re.split(r'[ ="\\\t]', text) if _usable_literal(p)]
        return {max(pieces, key=len)} if pieces else None

    def better(found: set[str] | None) -> None:
        nonlocal best
        if found and all(map(_usable_literal, found)) and \
                (best is None or min(map(len, found)) > min(map(len, best))):
            best = found

    for op, av in items:
        if op is _sre.LITERAL:
            run.append(chr(av))
            continue
        better(piece("".join(run)) if run else None)
        run = []
        if op is _sre.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            if not (add_flags or del_flags):
                better(_literal_factors(sub))
        elif op is _sre.BRANCH:
            union: set[str] = set()
            for alternative in av[1]:
                found = _literal_factors(alternative)
                if not found:
                    union = set()
                    break
                union |= found
            better(union or None)
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT) and av[0] >= 1:
            better(_literal_factors(av[2]))
        elif op is _sre.ATOMIC_GROUP:
            better(_literal_factors(av))
    better(piece("".join(run)) if run else None)
    return best


def _usable_literal(literal: str) -> bool:
    return bool(literal) and literal.isascii() and not _SEPARATORS.intersection(literal) \
        and not _NUMBER_CHARS.issuperset(literal.lower())


def required_literals(regex: re.Pattern[str], fold: bool) -> tuple[str, ...] | None:
    """Literals one of which any text ``regex`` matches contains (lower case when ``fold``), all
    usable to rule out a JSON line from its raw text (see above); None when there are none."""
    try:
        parsed = _sre_parse.parse(regex.pattern, regex.flags & ~re.IGNORECASE)
    except (re.error, RecursionError, OverflowError):
        return None
    found = _literal_factors(parsed)
    if not found:
        return None
    return tuple(sorted({lit.lower() if fold else lit for lit in found}, key=len))


def _smart_case(pattern: str) -> bool:
    """True when ``pattern`` has no upper-case letter outside escapes (``\\S``, ``\\W``…)."""
    return not any(c.isupper() for c in _ESCAPES.sub("", pattern))


def compile_pattern(pattern: str | None) -> re.Pattern[str] | None:
    """Compile a user's regex with smart case: case-insensitive unless it has an upper-case letter.

    ``None`` or ``""`` gives ``None``. Raises ``re.error`` for an invalid pattern.
    """
    if not pattern:
        return None
    return re.compile(pattern, re.IGNORECASE if _smart_case(pattern) else 0)


class _Pattern:
    """A user's regex, compiled twice.

    ``regex`` (smart case) is what highlighting uses. Testing a line uses ``test_re`` on the text,
    or on ``text.lower()`` when ``fold``: a case-insensitive pattern is all lower case, and
    searching lowered text with a case-sensitive regex is 2–4× faster than ``re.IGNORECASE``
    (which defeats the regex engine's literal-prefix search).
    """

    __slots__ = ("regex", "test_re", "fold", "literals")

    def __init__(self, pattern: str) -> None:
        self.regex: re.Pattern[str] = compile_pattern(pattern)  # type: ignore[assignment]
        self.fold = bool(self.regex.flags & re.IGNORECASE)
        self.test_re = re.compile(pattern) if self.fold else self.regex
        #: For the JSON-line prefilter (see required_literals), or None.
        self.literals = required_literals(self.regex, self.fold)

    @classmethod
    def make(cls, pattern: str | None) -> _Pattern | None:
        return cls(pattern) if pattern else None

    def test(self, text: str) -> bool:
        return self.test_re.search(text.lower() if self.fold else text) is not None


def _display_message(message: str, as_fields: bool) -> str:
    """The message exactly as render.log_line shows it (what filters and search look at)."""
    plain = render.log_message_plain(message, as_fields=as_fields)
    # sanitize() leaves printable text of at most LINE_MAX unchanged: skip it in the common case.
    if len(plain) > render.LINE_MAX or not plain.isprintable():
        plain = render.sanitize(plain, max_len=render.LINE_MAX)
    return plain


def _cells(text: str) -> int:
    return len(text) if text.isascii() else cell_len(text)


class _Instance:
    """What is known about one instance name: its label as drawn and its colour."""

    __slots__ = ("name", "label", "width", "style")

    def __init__(self, name: str, style: str) -> None:
        self.name = name
        self.label = render.sanitize(name, max_len=48)
        self.width = _cells(self.label)
        self.style = style


class _Entry:
    """One buffered line. ``seq`` is its identity; ``msg``/``mw`` depend on ``json_fields``
    (``msg`` is None for a line the prefilter ruled out, until its text is needed)."""

    __slots__ = ("seq", "line", "inst", "msg", "mw")

    def __init__(self, seq: int, line: LogLine, inst: _Instance, msg: str | None, mw: int) -> None:
        self.seq = seq
        self.line = line
        self.inst = inst
        self.msg = msg
        self.mw = mw


def _set_text(entry: _Entry, as_fields: bool) -> str:
    """Work out ``entry``'s shown text and its width (kept on the entry); returns the text."""
    entry.msg = msg = _display_message(entry.line.message, as_fields)
    entry.mw = _cells(msg)
    return msg


def _short_segments(segments: Iterable[Segment]) -> list[Segment]:
    """Segments cut into pieces of at most ``_PIECE`` characters.

    Cropping a strip measures every segment it walks over; one 65,536-character segment would make
    each wrapped row or horizontal scroll step of a huge line cost a full measure of the line.
    """
    out: list[Segment] = []
    add = out.append
    for segment in segments:
        text = segment.text
        if len(text) <= _PIECE:
            add(segment)
            continue
        style, control = segment.style, segment.control
        for start in range(0, len(text), _PIECE):
            add(Segment(text[start:start + _PIECE], style, control))
    return out


def _seq_of(entry: _Entry) -> int:
    return entry.seq


def _row_seq(row: tuple[_Entry, int]) -> int:
    return row[0].seq


class LogView(ScrollView, can_focus=True):
    """A virtualised log viewer with bounded memory, filters, search, follow and wrap."""

    DEFAULT_CSS = """
    LogView {
        height: 1fr;
        overflow: auto auto;
        scrollbar-gutter: stable;
    }
    LogView > .logview--cursor {
        background: $accent 40%;
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"logview--cursor"}

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "scroll_up", "Scroll up", show=False, id="logview.scroll_up"),
        Binding("down", "scroll_down", "Scroll down", show=False, id="logview.scroll_down"),
        Binding("left", "scroll_left", "Scroll left", show=False, id="logview.scroll_left"),
        Binding("right", "scroll_right", "Scroll right", show=False, id="logview.scroll_right"),
        Binding("home", "scroll_home", "Top", show=False, id="logview.home"),
        Binding("end", "follow", "Follow", id="logview.follow"),
        Binding("pageup", "page_up", "Page up", show=False, id="logview.page_up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="logview.page_down"),
        Binding("ctrl+pageup", "page_left", "Page left", show=False, id="logview.page_left"),
        Binding("ctrl+pagedown", "page_right", "Page right", show=False, id="logview.page_right"),
    ]

    follow: var[bool] = var(True, init=False)
    """Keep the last line in view after each append. Scrolling up turns it off; ``end`` back on."""
    wrap: var[bool] = var(False, init=False)
    """Wrap long lines to the widget's width (otherwise scroll horizontally)."""
    show_timestamps: var[bool] = var(True, init=False)
    json_fields: var[bool] = var(True, init=False)
    """Show JSON-object lines as ``msg key=value …`` instead of the raw JSON."""
    show_instances: var[bool] = var(True, init=False)

    class StatsChanged(Message):
        """The counts changed (posted at most once per append, filter change or clear)."""

        def __init__(self, total: int, buffered: int, shown: int, dropped: int,
                     log_view: LogView | None = None) -> None:
            super().__init__()
            self.total = total
            self.buffered = buffered
            self.shown = shown
            self.dropped = dropped
            self.log_view = log_view

        @property
        def control(self) -> LogView | None:
            return self.log_view

    def __init__(self, *, max_lines: int = 20_000, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._max_lines = max(1, int(max_lines))
        self._buffer: deque[_Entry] = deque(maxlen=self._max_lines)
        self._shown: list[_Entry] = []
        self._shown_off = 0
        self._rows: list[tuple[_Entry, int]] = []
        self._rows_off = 0
        self._wrap_width = 0
        self._max_width = 0
        self._seq = 0
        self._total = 0
        self._dropped = 0
        self._instances: dict[str, _Instance] = {}
        self._instance_limit = _MAX_INSTANCES
        self._colour_index = 0
        self._include: _Pattern | None = None
        self._exclude: _Pattern | None = None
        # Whether each instance's label matches the include / exclude pattern (reset with them).
        self._include_hits: dict[_Instance, bool] = {}
        self._exclude_hits: dict[_Instance, bool] = {}
        self._min_level: LogLevel | None = None
        self._min_rank = 0
        self._search: _Pattern | None = None
        self._cursor: int | None = None
        self._cache: LRUCache[tuple[int, bool], Strip] = LRUCache(_STRIP_CACHE_SIZE)
        self._relayout_pending = False
        self._frame: tuple[Style, int] | None = None

    # Public state ---------------------------------------------------------------------------------

    @property
    def max_lines(self) -> int:
        return self._max_lines

    @property
    def total(self) -> int:
        """Lines appended since creation or the last :meth:`clear`."""
        return self._total

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def shown(self) -> int:
        """Buffered lines that pass the filters."""
        return len(self._shown) - self._shown_off

    @property
    def dropped(self) -> int:
        """Lines lost: evicted from the buffer, or reported dropped upstream by :meth:`append`."""
        return self._dropped

    @property
    def include(self) -> str | None:
        return self._include.regex.pattern if self._include else None

    @property
    def exclude(self) -> str | None:
        return self._exclude.regex.pattern if self._exclude else None

    @property
    def search(self) -> str | None:
        return self._search.regex.pattern if self._search else None

    @property
    def min_level(self) -> LogLevel | None:
        return self._min_level

    @property
    def cursor_line(self) -> LogLine | None:
        """The line the search cursor is on, if any."""
        if self._cursor is None:
            return None
        index = self._shown_index(self._cursor)
        return self._shown[index].line if index is not None else None

    def instance_style(self, instance: str) -> str | None:
        """The colour given to ``instance``, or None if no line of it has been seen."""
        inst = self._instances.get(instance)
        return inst.style if inst else None

    # Appending ------------------------------------------------------------------------------------

    def append(self, lines: Sequence[LogLine], dropped: int = 0) -> None:
        """Add a batch of lines; ``dropped`` counts lines the producer discarded before it."""
        n = len(lines)
        dropped = max(0, int(dropped))
        if not n and not dropped:
            return
        self._total += n
        lost = dropped
        maxlen = self._max_lines
        batch: Iterable[LogLine] = lines
        if n > maxlen:
            # Only the last max_lines of the batch can survive: skip the rest outright.
            lost += n - maxlen
            batch = islice(lines, n - maxlen, None)
            n = maxlen
        buffer = self._buffer
        overflow = len(buffer) + n - maxlen
        if overflow > 0:
            lost += overflow
        self._dropped += lost

        instances = self._instances
        new_instance = self._new_instance
        as_fields = self.json_fields
        min_rank = self._min_rank
        include = self._include
        exclude = self._exclude
        inc_re = include.test_re if include else None
        inc_fold = include.fold if include else False
        inc_hits = self._include_hits
        # JSON lines the include filter rules out from their raw text (see required_literals).
        prefilter = include.literals if include is not None and as_fields else None
        # With no filter on the text and no wrapping, a JSON line's fields are worked out when it
        # is drawn (its width is then corrected, see _full_strip), or when a filter needs them.
        lazy_json = as_fields and include is None and exclude is None and not self.wrap
        prefilter_max = _PREFILTER_MAX
        exc_re = exclude.test_re if exclude else None
        exc_fold = exclude.fold if exclude else False
        exc_hits = self._exclude_hits
        rank_of = _LEVEL_RANK.get
        always = _ALWAYS
        isascii = str.isascii
        display = _display_message
        json_plain = render.log_message_plain
        sanitize = render.sanitize
        printable = str.isprintable
        line_max = render.LINE_MAX
        buffer_append = buffer.append
        shown = self._shown
        shown_append = shown.append
        wrap = self.wrap
        rows = self._rows
        wrap_width = self._wrap_width
        base = self._prefix_base()
        with_inst = self.show_instances
        max_width = self._max_width
        seq = self._seq
        added = 0

        for line in batch:
            inst = instances.get(line.instance)
            if inst is None:
                inst = new_instance(line.instance)
            message = line.message
            if lazy_json and message[:1] == "{":
                msg = None
            elif as_fields and message[:1] == "{":
                if prefilter is not None and len(message) <= prefilter_max \
                        and "\\" not in message:
                    hit = inc_hits.get(inst)
                    if hit is None:
                        hit = inc_hits[inst] = include.test(inst.label)  # type: ignore[union-attr]
                    if not hit:
                        text = message.lower() if inc_fold else message
                        for literal in prefilter:
                            if literal in text:
                                break
                        else:  # not shown: its fields are worked out if ever needed
                            seq += 1
                            buffer_append(_Entry(seq, line, inst, None, 0))
                            continue
                # _display_message(message, True), inlined: half the lines of a busy stream.
                msg = json_plain(message)
                if len(msg) > line_max or not printable(msg):
                    msg = sanitize(msg, max_len=line_max)
            elif len(message) > line_max or not printable(message):
                msg = display(message, as_fields)
            else:
                msg = message
            seq += 1
            entry = _Entry(seq, line, inst, msg, 0 if msg is None else
                           len(msg) if isascii(msg) else cell_len(msg))
            buffer_append(entry)
            if min_rank and rank_of(line.level, always) < min_rank:
                continue
            if inc_re is not None:
                hit = inc_hits.get(inst)
                if hit is None:
                    hit = inc_hits[inst] = include.test(inst.label)  # type: ignore[union-attr]
                if not hit and inc_re.search(msg.lower() if inc_fold else msg) is None:
                    continue
            if exc_re is not None:
                hit = exc_hits.get(inst)
                if hit is None:
                    hit = exc_hits[inst] = exclude.test(inst.label)  # type: ignore[union-attr]
                if hit or exc_re.search(msg.lower() if exc_fold else msg) is not None:
                    continue
            shown_append(entry)
            added += 1
            width = base + entry.mw + (inst.width + 1 if with_inst else 0)
            if width > max_width:
                max_width = width
            if wrap:
                chunks = 1 if wrap_width <= 0 or width <= wrap_width else -(-width // wrap_width)
                if chunks == 1:
                    rows.append((entry, 0))
                else:
                    rows.extend((entry, k) for k in range(chunks))
        self._seq = seq
        self._max_width = max_width

        removed_rows = self._evict() if overflow > 0 else 0
        if self.is_mounted:
            self._update_virtual_size()
            if self.follow:
                self._scroll_to_end()
            elif removed_rows:
                # Keep the lines the user is reading where they are while older ones go.
                self.scroll_to(y=max(0, self.scroll_offset.y - removed_rows), animate=False)
            if added or removed_rows:
                self.refresh()
        else:
            self._update_virtual_size()
        self._post_stats()

    def _evict(self) -> int:
        """Drop shown entries and rows that left the buffer; returns how many rows went."""
        first = self._buffer[0].seq if self._buffer else self._seq + 1
        shown, off = self._shown, self._shown_off
        start = off
        end = len(shown)
        # (shown and rows are in seq order: a binary search, not a walk over every evicted line)
        off = bisect_left(shown, first, lo=off, hi=end, key=_seq_of)
        removed = off - start
        if off > 1024 and off * 2 > end:
            del shown[:off]
            off = 0
        self._shown_off = off
        if self.wrap:
            rows, roff = self._rows, self._rows_off
            start = roff
            roff = bisect_left(rows, first, lo=roff, hi=len(rows), key=_row_seq)
            removed = roff - start
            if roff > 1024 and roff * 2 > end:
                del rows[:roff]
                roff = 0
            self._rows_off = roff
        if self._cursor is not None and self._cursor < first:
            self._cursor = None
        return removed

    def _new_instance(self, name: str) -> _Instance:
        if len(self._instances) >= self._instance_limit:
            # Forget instances with nothing left in the buffer (their lines keep their colour).
            # In place: append() holds references to these dicts.
            keep = {e.inst.name: e.inst for e in self._buffer}
            self._instances.clear()
            self._instances.update(keep)
            self._include_hits.clear()
            self._exclude_hits.clear()
            # Prune again only once as many new names have arrived (amortised O(1) per name).
            self._instance_limit = max(_MAX_INSTANCES, 2 * len(keep))
        colours = render.INSTANCE_COLOURS
        inst = _Instance(name, colours[self._colour_index % len(colours)])
        self._colour_index += 1
        self._instances[name] = inst
        return inst

    def clear(self) -> None:
        """Forget every line and reset the counters and instance colours (filters stay)."""
        self._buffer.clear()
        self._shown = []
        self._shown_off = 0
        self._rows = []
        self._rows_off = 0
        self._max_width = 0
        self._total = 0
        self._dropped = 0
        self._instances = {}
        self._instance_limit = _MAX_INSTANCES
        self._include_hits = {}
        self._exclude_hits = {}
        self._colour_index = 0
        self._cursor = None
        self._cache.clear()
        self._update_virtual_size()
        if self.is_mounted:
            self.scroll_to(0, 0, animate=False)
            self.refresh()
        self._post_stats()

    # Filters and search ---------------------------------------------------------------------------

    def set_include(self, pattern: str | None) -> None:
        """Show only lines whose message or instance matches ``pattern`` (smart case).

        Raises ``re.error`` for an invalid pattern, leaving the current filter in place.
        """
        self._include = _Pattern.make(pattern)
        self._include_hits = {}
        self._refilter()

    def set_exclude(self, pattern: str | None) -> None:
        """Hide lines whose message or instance matches ``pattern`` (smart case)."""
        self._exclude = _Pattern.make(pattern)
        self._exclude_hits = {}
        self._refilter()

    def set_min_level(self, level: LogLevel | None) -> None:
        """Hide lines below ``level`` (lines of unknown level are always shown)."""
        self._min_level = level
        self._min_rank = _LEVEL_RANK.get(level, 0) if level is not None else 0
        self._refilter()

    def set_search(self, pattern: str | None) -> None:
        """Highlight matches of ``pattern`` (smart case); ``None`` or ``""`` clears the search."""
        self._search = _Pattern.make(pattern)
        self._cursor = None
        self._cache.clear()
        self.refresh()

    def _matches(self, entry: _Entry, pattern: _Pattern) -> bool:
        msg = entry.msg
        if msg is None:  # ruled out by the prefilter when it came: its text is needed now
            msg = _set_text(entry, self.json_fields)
        return pattern.test(msg) or pattern.test(entry.inst.label)

    def next_match(self) -> bool:
        """Move the cursor to the next shown line matching the search; False if there is none."""
        return self._find(forward=True)

    def previous_match(self) -> bool:
        """Move the cursor to the previous shown line that matches the search."""
        return self._find(forward=False)

    def _find(self, *, forward: bool) -> bool:
        pattern = self._search
        if pattern is None or not self.shown:
            return False
        shown, off = self._shown, self._shown_off
        current = self._shown_index(self._cursor) if self._cursor is not None else None
        if current is not None:
            start = current + 1 if forward else current - 1
        else:
            # No cursor yet: start from the top (or bottom) of what is on screen.
            top, bottom = self._visible_indices()
            start = top if forward else bottom
        indices = range(start, len(shown)) if forward else range(start, off - 1, -1)
        for index in indices:
            if index < off:
                break
            entry = shown[index]
            if self._matches(entry, pattern):
                self._cursor = entry.seq
                self.follow = False
                self._reveal(entry)
                self.refresh()
                return True
        return False

    def _refilter(self) -> None:
        """Recompute the shown lines from the buffer (O(buffer)) and keep the view in place."""
        anchor = None if self.follow else self._top_seq()
        min_rank, include, exclude = self._min_rank, self._include, self._exclude
        matches = self._matches
        rank_of = _LEVEL_RANK.get
        shown: list[_Entry] = []
        keep = shown.append
        for entry in self._buffer:
            if min_rank and rank_of(entry.line.level, _ALWAYS) < min_rank:
                continue
            if include is not None and not matches(entry, include):
                continue
            if exclude is not None and matches(entry, exclude):
                continue
            keep(entry)
        self._shown = shown
        self._shown_off = 0
        if self._cursor is not None and self._shown_index(self._cursor) is None:
            self._cursor = None
        self._relayout(anchor)
        self._post_stats()

    # Display flags --------------------------------------------------------------------------------

    def watch_follow(self, follow: bool) -> None:
        if follow:
            self._cursor = None
            if self.is_mounted:
                self._scroll_to_end()
                self.refresh()

    def watch_wrap(self, wrap: bool) -> None:
        # The row map still has the previous mode's shape: read the top line with that mode.
        anchor = None if self.follow else self._top_seq(wrapped=not wrap)
        if wrap:
            # Rows need every shown line's width: the lines not drawn yet get their text now.
            as_fields = self.json_fields
            for index in range(self._shown_off, len(self._shown)):
                entry = self._shown[index]
                if entry.msg is None:
                    _set_text(entry, as_fields)
            self._wrap_width = self._current_width()
            if self.is_mounted:
                self.scroll_to(x=0, animate=False)
        else:
            self._rows = []
            self._rows_off = 0
        self._relayout(anchor)

    def watch_show_timestamps(self, show: bool) -> None:
        self._flags_changed()

    def watch_show_instances(self, show: bool) -> None:
        self._flags_changed()

    def watch_json_fields(self, as_fields: bool) -> None:
        # The displayed message changes, and filters look at the displayed message.
        for entry in self._buffer:
            _set_text(entry, as_fields)
        self._cache.clear()
        self._refilter()

    def _flags_changed(self) -> None:
        anchor = None if self.follow else self._top_seq()
        self._cache.clear()
        self._relayout(anchor)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    # Layout ---------------------------------------------------------------------------------------

    def _prefix_base(self) -> int:
        return (_TS_WIDTH if self.show_timestamps else 0) + _LEVEL_WIDTH

    def _entry_width(self, entry: _Entry) -> int:
        width = self._prefix_base() + entry.mw
        if self.show_instances:
            width += entry.inst.width + 1
        return width

    def _current_width(self) -> int:
        return self.scrollable_content_region.width if self.is_mounted else 0

    def _row_count(self) -> int:
        if self.wrap:
            return len(self._rows) - self._rows_off
        return len(self._shown) - self._shown_off

    def _update_virtual_size(self) -> None:
        width = 0 if self.wrap else min(self._max_width, MAX_VIRTUAL_WIDTH)
        self.virtual_size = Size(width, self._row_count())

    def _relayout(self, anchor: int | None) -> None:
        """Recompute widths (and rows when wrapping) for the shown lines, then restore the view."""
        base = self._prefix_base()
        with_inst = self.show_instances
        shown = self._shown
        max_width = 0
        if self.wrap:
            wrap_width = self._wrap_width
            rows: list[tuple[_Entry, int]] = []
            add = rows.append
            for index in range(self._shown_off, len(shown)):
                entry = shown[index]
                width = base + entry.mw + (entry.inst.width + 1 if with_inst else 0)
                if width > max_width:
                    max_width = width
                if wrap_width <= 0 or width <= wrap_width:
                    add((entry, 0))
                else:
                    rows.extend((entry, k) for k in range(-(-width // wrap_width)))
            self._rows = rows
            self._rows_off = 0
        else:
            for index in range(self._shown_off, len(shown)):
                entry = shown[index]
                width = base + entry.mw + (entry.inst.width + 1 if with_inst else 0)
                if width > max_width:
                    max_width = width
        self._max_width = max_width
        self._update_virtual_size()
        if self.is_mounted:
            if self.follow:
                self._scroll_to_end()
            elif anchor is not None:
                self.scroll_to(y=self._first_row_at_or_after(anchor), animate=False)
            self.refresh()

    def _schedule_relayout(self) -> None:
        if not self._relayout_pending:
            self._relayout_pending = True
            self.call_later(self._deferred_relayout)

    def _deferred_relayout(self) -> None:
        self._relayout_pending = False
        anchor = None if self.follow else self._top_seq()
        if self.wrap:
            self._wrap_width = self._current_width()
        self._relayout(anchor)

    def on_resize(self, event: events.Resize) -> None:
        if self.wrap and self._current_width() != self._wrap_width:
            self._deferred_relayout()
        elif self.follow:
            self._scroll_to_end()
        if self.follow:
            # Again once the new size is laid out: lines that came while the view was hidden
            # or being laid out (a run's log opened with the Logs pane) were scrolled against the
            # old height, which could leave the last line alone at the top.
            self.call_after_refresh(self._scroll_to_end)

    def on_mount(self) -> None:
        self._update_virtual_size()
        if self.follow:
            self.call_after_refresh(self._scroll_to_end)

    def _scroll_to_end(self) -> None:
        # force: right after the virtual size grows the scrollbars are not laid out yet and
        # vertical scrolling is not allowed yet; without it the first batch (the tail shown when
        # the Logs pane opens) left the view at the top while following.
        self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)

    def watch_show_horizontal_scrollbar(self, show: bool) -> None:
        # A horizontal scrollbar appearing takes the bottom row: keep the last line in view.
        if show and self.follow and self.is_mounted:
            self._scroll_to_end()

    # Positions ------------------------------------------------------------------------------------

    def _shown_index(self, seq: int) -> int | None:
        """Index in ``_shown`` of the entry ``seq``, or None if it is not shown."""
        shown = self._shown
        index = bisect_left(shown, seq, lo=self._shown_off, key=_seq_of)
        return index if index < len(shown) and shown[index].seq == seq else None

    def _first_row_at_or_after(self, seq: int) -> int:
        if self.wrap:
            return bisect_left(self._rows, seq, lo=self._rows_off, key=_row_seq) - self._rows_off
        return bisect_left(self._shown, seq, lo=self._shown_off, key=_seq_of) - self._shown_off

    def _entry_at_row(self, row: int, wrapped: bool | None = None) -> tuple[_Entry, int] | None:
        if row < 0:
            return None
        if self.wrap if wrapped is None else wrapped:
            index = self._rows_off + row
            return self._rows[index] if index < len(self._rows) else None
        index = self._shown_off + row
        return (self._shown[index], 0) if index < len(self._shown) else None

    def _top_seq(self, wrapped: bool | None = None) -> int | None:
        """The line at the top of the view (what a re-layout keeps in view)."""
        found = self._entry_at_row(self.scroll_offset.y if self.is_mounted else 0, wrapped)
        return found[0].seq if found else None

    def _visible_indices(self) -> tuple[int, int]:
        """Indices in ``_shown`` of the first and last lines on screen."""
        top = self.scroll_offset.y
        height = max(1, self.scrollable_content_region.height)
        bottom = min(top + height, self._row_count()) - 1
        first = self._entry_at_row(top)
        last = self._entry_at_row(max(bottom, 0))
        off = self._shown_off
        start = self._shown_index(first[0].seq) if first else off
        end = self._shown_index(last[0].seq) if last else len(self._shown) - 1
        return (start if start is not None else off,
                end if end is not None else len(self._shown) - 1)

    def _reveal(self, entry: _Entry) -> None:
        """Scroll so ``entry`` is on screen (centred if it was not)."""
        if not self.is_mounted:
            return
        row = self._first_row_at_or_after(entry.seq)
        top = self.scroll_offset.y
        height = max(1, self.scrollable_content_region.height)
        if not top <= row < top + height:
            self.scroll_to(y=max(0, row - height // 2), animate=False)

    # Rendering ------------------------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        # Work out once per paint what every row needs (rich_style alone costs ~15 µs a call).
        self._frame = (self.rich_style, self.scrollable_content_region.width)
        try:
            return super().render_lines(crop)
        finally:
            self._frame = None

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        if self._frame is not None:
            base, width = self._frame
        else:
            base, width = self.rich_style, self.scrollable_content_region.width
        found = self._entry_at_row(scroll_y + y)
        if found is None:
            return Strip.blank(width, base)
        entry, chunk = found
        is_cursor = entry.seq == self._cursor
        if is_cursor:
            base = base + self.get_component_rich_style("logview--cursor")
        full = self._full_strip(entry, is_cursor, base)
        if self.wrap:
            wrap_width = self._wrap_width
            if width > 0 and width != wrap_width:
                self._schedule_relayout()
            if wrap_width <= 0:
                wrap_width = max(width, 1)
            start = chunk * wrap_width
            strip = full.crop_extend(start, start + wrap_width, base)
            if wrap_width != width:
                strip = strip.adjust_cell_length(width, base)
            return strip
        return full.crop_extend(scroll_x, scroll_x + width, base)

    def _full_strip(self, entry: _Entry, is_cursor: bool, base: Style) -> Strip:
        """The whole line as a Strip (cached by line identity; cleared when flags change)."""
        key = (entry.seq, is_cursor)
        strip = self._cache.get(key)
        if strip is not None:
            return strip
        segments = render.log_line_segments(
            entry.line,
            base=base,  # the widget's colours under the line's own
            instance_style=entry.inst.style,
            show_timestamp=self.show_timestamps,
            show_instance=self.show_instances,
            as_fields=self.json_fields,
            highlight=self._search.regex if self._search else None,
        )
        strip = Strip(_short_segments(segments))
        length = strip.cell_length
        self._cache[key] = strip
        expected = self._entry_width(entry)
        if length != expected:
            # render.log_line drew it wider or narrower than the bookkeeping assumed: correct it.
            entry.mw += length - expected
            if self.wrap:
                self._schedule_relayout()
            elif length > self._max_width:
                self._max_width = length
                self.call_later(self._update_virtual_size)
        return strip

    # User scrolling (scrolling up pauses follow) --------------------------------------------------

    def _pause_follow(self) -> None:
        if self.follow:
            self.follow = False

    def action_follow(self) -> None:
        """Jump to the last line and follow new ones."""
        if self.follow:
            self._scroll_to_end()
        else:
            self.follow = True

    def action_scroll_up(self) -> None:
        if not self.allow_vertical_scroll:
            raise SkipAction()
        self._pause_follow()
        self.scroll_up(animate=False)

    def action_scroll_down(self) -> None:
        if not self.allow_vertical_scroll:
            raise SkipAction()
        self.scroll_down(animate=False)

    def action_page_up(self) -> None:
        if not self.allow_vertical_scroll:
            raise SkipAction()
        self._pause_follow()
        self.scroll_page_up(animate=False)

    def action_page_down(self) -> None:
        if not self.allow_vertical_scroll:
            raise SkipAction()
        self.scroll_page_down(animate=False)

    def action_scroll_home(self) -> None:
        if not self._allow_scroll:
            raise SkipAction()
        self._pause_follow()
        self.scroll_home(animate=False, x_axis=self.scroll_offset.y == 0)

    def action_scroll_left(self) -> None:
        if not self.allow_horizontal_scroll:
            raise SkipAction()
        self.scroll_left(animate=False)

    def action_scroll_right(self) -> None:
        if not self.allow_horizontal_scroll:
            raise SkipAction()
        self.scroll_right(animate=False)

    def action_page_left(self) -> None:
        if not self.allow_horizontal_scroll:
            raise SkipAction()
        self.scroll_page_left(animate=False)

    def action_page_right(self) -> None:
        if not self.allow_horizontal_scroll:
            raise SkipAction()
        self.scroll_page_right(animate=False)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        vertical = not (event.ctrl or event.shift)
        if vertical and self.allow_vertical_scroll and self.scroll_offset.y > 0:
            self._pause_follow()

    def on_scroll_to(self, message: ScrollTo) -> None:
        # Dragging the scrollbar handle.
        if message.y is not None and message.y < self.max_scroll_y:
            self._pause_follow()

    def on_scroll_up(self, message: ScrollUp) -> None:
        # Clicking the scrollbar track above the handle.
        self._pause_follow()

    # Saving ---------------------------------------------------------------------------------------

    def save(self, path: Path, *, filtered: bool = True) -> int:
        """Write the shown lines (or all buffered ones) to ``path``; returns how many.

        One record per line: ``ISO-timestamp instance LEVEL message``, with the raw message (JSON
        stays JSON, nothing is cut) and line breaks inside it made visible (``␊``). Raises OSError.
        """
        entries: Iterable[_Entry]
        if filtered:
            entries = self._shown[self._shown_off:]
        else:
            entries = list(self._buffer)
        count = 0
        with open(path, "w", encoding="utf-8", errors="backslashreplace", newline="\n") as out:
            for entry in entries:
                line = entry.line
                out.write(f"{line.ts.isoformat()} {line.instance.translate(_ONE_LINE)} "
                          f"{line.level.value.upper()} {line.message.translate(_ONE_LINE)}\n")
                count += 1
        return count

    # Stats ----------------------------------------------------------------------------------------

    def _post_stats(self) -> None:
        self.post_message(self.StatsChanged(self.total, self.buffered, self.shown, self.dropped,
                                            log_view=self))
