"""The Logs pane's lines: a bounded buffer with filters, search, the shown window and the counts.

Textual-free: :class:`idp_tui.ui.logview.LogView` draws a :class:`LogBuffer`, and tests drive one
directly. Appending a batch costs O(batch) bookkeeping:

* the buffer keeps the last ``max_lines`` lines (a bounded deque); older ones are evicted and
  counted as dropped, together with what the producer reports it dropped before handing over;
  every line received is either kept or dropped: ``received == kept + dropped``;
* the *shown* lines are the ordered subset of the kept ones that pass the filters (level floor,
  include, exclude): ``kept == shown + filtered``. A list with a moving start offset, so that
  eviction from the front is O(1) amortised and look-up by index is O(1);
* the *rows* are what a view draws, one per shown line, or with wrapping on, one per piece of a
  shown line at the wrap width: ``(entry, piece)``. Maintained the same way on append and
  eviction, rebuilt when the width or a column changes.

Text is measured as :func:`idp_tui.render.log_line` draws it (time, instance, level, message), and a
JSON line's fields (:mod:`idp_tui.logs.fields`) are worked out only when something needs them:
drawing it, a filter or the search looking at it, or wrapping (see :meth:`LogBuffer.text_of` and
:mod:`idp_tui.logs.prefilter`).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from rich.cells import cell_len

from ..api.kinds import LogLevel
from ..safetext import LINE_MAX, sanitize
from .ansi import strip_sgr
from .fields import log_message_plain
from .fold import Sections
from .prefilter import PREFILTER_MAX, Pattern

if TYPE_CHECKING:
    import re

    from ..api.models import LogLine

__all__ = ["Appended", "Instance", "LEVEL_WIDTH", "LogBuffer", "LogEntry", "TIMESTAMP_WIDTH",
           "wrapped_piece", "wrapped_rows"]

#: Widths of the fixed columns a line is drawn with: "HH:MM:SS.mmm " and "LEVEL ".
TIMESTAMP_WIDTH = 13
LEVEL_WIDTH = 6
#: Longest instance label drawn.
INSTANCE_LABEL_MAX = 48
#: Distinct instance names remembered before the ones no longer kept are forgotten.
MAX_INSTANCES = 4096
#: Compaction of the shown list and the rows: once this many dead items lead them (and half).
_COMPACT = 1024

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

# For save(): every character Python (or a text tool) treats as a line break becomes visible.
_ONE_LINE = str.maketrans({
    **{c: chr(0x2400 + c) for c in (0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E)},
    0x85: "\u2424", 0x2028: "\u2424", 0x2029: "\u2424",
})


def display_text(message: str, as_fields: bool) -> str:
    """A message exactly as it is drawn (what filters and the search look at)."""
    plain = log_message_plain(message, as_fields=as_fields)
    # sanitize() leaves printable text of at most LINE_MAX unchanged: skip it in the common case.
    if len(plain) > LINE_MAX or not plain.isprintable():
        # Colour codes are drawn as colours (idp_tui.render), not as text: not part of it.
        plain = sanitize(strip_sgr(plain), max_len=LINE_MAX)
    return plain


#: The continuation rows of a wrapped line start under its message (so they do not read as
#: lines of their own), unless that leaves fewer cells than this for the text: then they start
#: ``NARROW_INDENT`` cells in.
WRAP_MIN_TEXT = 20
NARROW_INDENT = 2


def wrap_indent(prefix: int, wrap_width: int) -> int:
    """Where the continuation rows of a line whose message starts at ``prefix`` start."""
    if wrap_width - prefix >= WRAP_MIN_TEXT:
        return prefix
    return min(NARROW_INDENT, max(wrap_width - 1, 0))


def wrapped_rows(width: int, prefix: int, wrap_width: int) -> int:
    """How many rows a line ``width`` cells wide takes wrapped at ``wrap_width`` (its message
    starting at ``prefix``): the first row, then continuation rows indented (``wrap_indent``)."""
    if wrap_width <= 0 or width <= wrap_width:
        return 1
    step = wrap_width - wrap_indent(prefix, wrap_width)
    return 1 + -(-(width - wrap_width) // step)


def wrapped_piece(chunk: int, prefix: int, wrap_width: int) -> tuple[int, int, int]:
    """Row ``chunk`` of a wrapped line: the cells ``[start, end)`` of the line it shows and the
    indent it is drawn at."""
    if chunk <= 0:
        return 0, wrap_width, 0
    indent = wrap_indent(prefix, wrap_width)
    step = wrap_width - indent
    start = wrap_width + (chunk - 1) * step
    return start, start + step, indent


def _cells(text: str) -> int:
    return len(text) if text.isascii() else cell_len(text)


class Instance:
    """What is known about one instance name: its label as drawn, its width, and ``colour``, the
    order in which it was first seen (since the last clear), for a view to pick a colour by."""

    __slots__ = ("name", "label", "width", "colour")

    def __init__(self, name: str, colour: int) -> None:
        self.name = name
        self.label = sanitize(name, max_len=INSTANCE_LABEL_MAX)
        self.width = _cells(self.label)
        self.colour = colour


class LogEntry:
    """One kept line. ``seq`` is its identity (increasing); ``text`` is the message as drawn, or
    None until it is needed (a JSON line not drawn or filtered yet: see
    :meth:`LogBuffer.text_of`); ``cells`` is the width of ``text``."""

    __slots__ = ("seq", "line", "instance", "text", "cells")

    def __init__(self, seq: int, line: LogLine, instance: Instance, text: str | None,
                 cells: int) -> None:
        self.seq = seq
        self.line = line
        self.instance = instance
        self.text = text
        self.cells = cells

    def __repr__(self) -> str:
        return f"LogEntry({self.seq}, {self.line.message[:40]!r})"


class Appended(NamedTuple):
    """What an append changed: lines of the batch now shown, and rows that left the top."""

    shown: int
    rows_removed: int


def _seq_of(entry: LogEntry) -> int:
    return entry.seq


def _row_seq(row: tuple[LogEntry, int]) -> int:
    return row[0].seq


def _drop_before(items: list[Any], off: int, first: int, key: Any) -> tuple[int, int]:
    """Skip the head of ``items`` (from ``off``) whose sequence number is below ``first``:
    the new offset, and how many were skipped. The list is compacted once the skipped head is
    more than half of it. (``items`` is in sequence order: a binary search, not a walk over every
    evicted line.)"""
    new = bisect_left(items, first, lo=off, hi=len(items), key=key)
    removed = new - off
    if new > _COMPACT and new * 2 > len(items):
        del items[:new]
        new = 0
    return new, removed


class LogBuffer:
    """The last ``max_lines`` lines of a stream, filtered, searchable, laid out in rows."""

    def __init__(self, max_lines: int = 20_000) -> None:
        self._max_lines = max(1, int(max_lines))
        self._entries: deque[LogEntry] = deque(maxlen=self._max_lines)
        self._shown: list[LogEntry] = []
        self._shown_off = 0
        self._rows: list[tuple[LogEntry, int]] = []
        self._rows_off = 0
        self._wrap: int | None = None
        self._max_width = 0
        self._seq = 0
        self._received = 0
        self._dropped = 0
        self._instances: dict[str, Instance] = {}
        self._instance_limit = MAX_INSTANCES
        self._colours = 0
        self._include: Pattern | None = None
        self._exclude: Pattern | None = None
        # Whether each instance's label matches the include / exclude pattern (reset with them).
        self._include_hits: dict[Instance, bool] = {}
        self._exclude_hits: dict[Instance, bool] = {}
        self._min_level: LogLevel | None = None
        self._min_rank = 0
        self._search: Pattern | None = None
        self._cursor: int | None = None
        self._json_fields = True
        self._show_timestamps = True
        self._show_instances = True
        #: A CI job's sections and folds (see idp_tui.logs.fold), or None: not read.
        self._sections: Sections | None = None

    # Counts ---------------------------------------------------------------------------------------

    @property
    def max_lines(self) -> int:
        """The bound: most lines kept."""
        return self._max_lines

    @property
    def received(self) -> int:
        """Lines received since creation or :meth:`clear`: appended, or reported dropped by the
        producer. Always ``kept + dropped``."""
        return self._received

    @property
    def kept(self) -> int:
        return len(self._entries)

    @property
    def dropped(self) -> int:
        """Lines lost: evicted (or never kept, past the bound), or dropped by the producer."""
        return self._dropped

    @property
    def shown(self) -> int:
        """Kept lines that pass the filters."""
        return len(self._shown) - self._shown_off

    @property
    def filtered(self) -> int:
        """Kept lines the filters hide: ``kept - shown``."""
        return len(self._entries) - self.shown

    def summary(self) -> str:
        """The counts as the Logs pane's status line says them, adding up as written:
        ``"5 shown / 20 kept / 20 received"``, and once lines were lost,
        ``"5 shown / 20 kept + 130 dropped = 150 received"`` (``shown`` is part of ``kept``)."""
        shown, kept, dropped, received = self.shown, self.kept, self._dropped, self._received
        if not dropped:
            return f"{shown:,} shown / {kept:,} kept / {received:,} received"
        return f"{shown:,} shown / {kept:,} kept + {dropped:,} dropped = {received:,} received"

    # Appending ------------------------------------------------------------------------------------

    def append(self, lines: Sequence[LogLine], dropped: int = 0) -> Appended:
        """Add a batch of lines; ``dropped`` counts lines the producer discarded before it."""
        n = len(lines)
        dropped = max(0, int(dropped))
        if not n and not dropped:
            return Appended(0, 0)
        self._received += n + dropped
        lost = dropped
        maxlen = self._max_lines
        batch: Iterable[LogLine] = lines
        if n > maxlen:
            # Only the last max_lines of the batch can survive: skip the rest outright.
            lost += n - maxlen
            batch = islice(lines, n - maxlen, None)
            n = maxlen
        entries = self._entries
        sections = self._sections
        hide: set[int] | None = None
        if sections is not None:
            batch = list(batch)
            hide = sections.feed(self._seq + 1, batch)
        overflow = len(entries) + n - maxlen
        if overflow > 0:
            lost += overflow
        self._dropped += lost

        # The loop below runs for every line of a busy stream: everything it uses is a local.
        instances = self._instances
        new_instance = self._new_instance
        as_fields = self._json_fields
        min_rank = self._min_rank
        include = self._include
        exclude = self._exclude
        inc_re = include.test_re if include else None
        inc_fold = include.fold if include else False
        inc_hits = self._include_hits
        # JSON lines the include filter rules out from their raw text (see prefilter).
        prefilter = include.literals if include is not None and as_fields else None
        wrap_width = self._wrap
        wrap = wrap_width is not None
        # With no filter on the text and no wrapping, a JSON line's fields are worked out when it
        # is drawn (its width is then corrected, see note_drawn_width), or when a filter needs them.
        lazy_json = as_fields and include is None and exclude is None and not wrap
        prefilter_max = PREFILTER_MAX
        exc_re = exclude.test_re if exclude else None
        exc_fold = exclude.fold if exclude else False
        exc_hits = self._exclude_hits
        rank_of = _LEVEL_RANK.get
        always = _ALWAYS
        isascii = str.isascii
        display = display_text
        json_plain = log_message_plain
        printable = str.isprintable
        line_max = LINE_MAX
        entries_append = entries.append
        shown_append = self._shown.append
        rows = self._rows
        base = self._prefix_base()
        with_inst = self._show_instances
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
                            entries_append(LogEntry(seq, line, inst, None, 0))
                            continue
                # display_text(message, True), inlined: half the lines of a busy stream.
                msg = json_plain(message)
                if len(msg) > line_max or not printable(msg):
                    msg = sanitize(strip_sgr(msg), max_len=line_max)
            elif len(message) > line_max or not printable(message):
                msg = display(message, as_fields)
            else:
                msg = message
            seq += 1
            entry = LogEntry(seq, line, inst, msg, 0 if msg is None else
                             len(msg) if isascii(msg) else cell_len(msg))
            entries_append(entry)
            if hide and seq in hide:
                continue
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
            width = base + entry.cells + (inst.width + 1 if with_inst else 0)
            if width > max_width:
                max_width = width
            if wrap:
                if wrap_width <= 0 or width <= wrap_width:  # type: ignore[operator]
                    rows.append((entry, 0))
                else:
                    rows.extend((entry, k) for k in range(wrapped_rows(
                        width, width - entry.cells, wrap_width)))  # type: ignore[arg-type]
        self._seq = seq
        self._max_width = max_width
        return Appended(added, self._evict() if overflow > 0 else 0)

    def _evict(self) -> int:
        """Drop shown entries and rows that left the buffer; returns how many rows went."""
        entries = self._entries
        first = entries[0].seq if entries else self._seq + 1
        self._shown_off, removed = _drop_before(self._shown, self._shown_off, first, _seq_of)
        if self._wrap is not None:
            self._rows_off, removed = _drop_before(self._rows, self._rows_off, first, _row_seq)
        if self._cursor is not None and self._cursor < first:
            self._cursor = None
        if self._sections is not None:
            self._sections.forget_before(first)
        return removed

    def _new_instance(self, name: str) -> Instance:
        if len(self._instances) >= self._instance_limit:
            # Forget instances with nothing left in the buffer (their lines keep their colour).
            # In place: append() holds references to these dicts.
            keep = {e.instance.name: e.instance for e in self._entries}
            self._instances.clear()
            self._instances.update(keep)
            self._include_hits.clear()
            self._exclude_hits.clear()
            # Prune again only once as many new names have arrived (amortised O(1) per name).
            self._instance_limit = max(MAX_INSTANCES, 2 * len(keep))
        inst = Instance(name, self._colours)
        self._colours += 1
        self._instances[name] = inst
        return inst

    def instance(self, name: str) -> Instance | None:
        """What is known of the instance ``name``, or None if no kept line of it has been seen."""
        return self._instances.get(name)

    def clear(self) -> None:
        """Forget every line and reset the counts and the instances (filters and layout stay)."""
        self._entries.clear()
        self._shown = []
        self._shown_off = 0
        self._rows = []
        self._rows_off = 0
        self._max_width = 0
        self._received = 0
        self._dropped = 0
        self._instances = {}
        self._instance_limit = MAX_INSTANCES
        self._include_hits = {}
        self._exclude_hits = {}
        self._colours = 0
        self._cursor = None
        if self._sections is not None:
            fold_new = self._sections.fold_new
            self._sections = Sections()
            self._sections.fold_new = fold_new

    # Sections -------------------------------------------------------------------------------------

    @property
    def sections(self) -> Sections | None:
        """The sections of a CI job's log and their folds, when read (:meth:`set_sections`)."""
        return self._sections

    def set_sections(self, on: bool) -> None:
        """Read ``##[group]`` sections from the lines appended from now on (and fold them), or
        not. Call it on an empty buffer (the lines kept before are not read)."""
        if on == (self._sections is not None):
            return
        self._sections = Sections() if on else None
        self._refilter()

    def refold(self) -> None:
        """The folds changed: recompute the shown lines (O(kept))."""
        self._refilter()

    def set_cursor(self, seq: int | None) -> None:
        """Put the cursor on the shown line ``seq`` (None: no cursor)."""
        self._cursor = seq if seq is None or self.index_of(seq) is not None else None

    # Filters --------------------------------------------------------------------------------------

    @property
    def include(self) -> str | None:
        return self._include.text if self._include else None

    @property
    def exclude(self) -> str | None:
        return self._exclude.text if self._exclude else None

    @property
    def min_level(self) -> LogLevel | None:
        return self._min_level

    def set_include(self, pattern: str | None) -> None:
        """Show only lines whose message or instance matches ``pattern`` (smart case).

        ``None`` or ``""``: every line. Raises ``re.error`` for an invalid pattern, leaving the
        current filter in place.
        """
        self._include = Pattern.make(pattern)
        self._include_hits = {}
        self._refilter()

    def set_exclude(self, pattern: str | None) -> None:
        """Hide lines whose message or instance matches ``pattern`` (smart case)."""
        self._exclude = Pattern.make(pattern)
        self._exclude_hits = {}
        self._refilter()

    def set_min_level(self, level: LogLevel | None) -> None:
        """Hide lines below ``level`` (lines of unknown level are always shown)."""
        self._min_level = level
        self._min_rank = _LEVEL_RANK.get(level, 0) if level is not None else 0
        self._refilter()

    def text_of(self, entry: LogEntry) -> str:
        """``entry``'s message as drawn, worked out now if it was not yet (kept on the entry)."""
        text = entry.text
        if text is None:
            text = self._set_text(entry)
        return text

    def _set_text(self, entry: LogEntry) -> str:
        entry.text = text = display_text(entry.line.message, self._json_fields)
        entry.cells = _cells(text)
        return text

    def _matches(self, entry: LogEntry, pattern: Pattern) -> bool:
        text = entry.text
        if text is None:  # ruled out by the prefilter when it came: its text is needed now
            text = self._set_text(entry)
        return pattern.test(text) or pattern.test(entry.instance.label)

    def _refilter(self) -> None:
        """Recompute the shown lines and the rows from the kept ones (O(kept))."""
        min_rank, include, exclude = self._min_rank, self._include, self._exclude
        matches = self._matches
        rank_of = _LEVEL_RANK.get
        shown: list[LogEntry] = []
        keep = shown.append
        folded = self._sections.hidden if self._sections is not None else None
        for entry in self._entries:
            if folded is not None and folded(entry.seq):
                continue
            if min_rank and rank_of(entry.line.level, _ALWAYS) < min_rank:
                continue
            if include is not None and not matches(entry, include):
                continue
            if exclude is not None and matches(entry, exclude):
                continue
            keep(entry)
        self._shown = shown
        self._shown_off = 0
        if self._cursor is not None and self.index_of(self._cursor) is None:
            self._cursor = None
        self._layout()

    # Search ---------------------------------------------------------------------------------------

    @property
    def search(self) -> str | None:
        return self._search.text if self._search else None

    @property
    def search_regex(self) -> re.Pattern[str] | None:
        """The search compiled with smart case (what a view highlights), or None."""
        return self._search.regex if self._search else None

    def set_search(self, pattern: str | None) -> None:
        """Search for ``pattern`` (smart case); ``None`` or ``""`` ends the search. The cursor goes.

        Raises ``re.error`` for an invalid pattern, leaving the current search in place.
        """
        self._search = Pattern.make(pattern)
        self._cursor = None

    @property
    def cursor(self) -> int | None:
        """Index among the shown lines of the search's current match, or None."""
        return self.index_of(self._cursor) if self._cursor is not None else None

    @property
    def cursor_seq(self) -> int | None:
        """``seq`` of the line the cursor is on (or None): what a view marks."""
        return self._cursor

    @property
    def cursor_line(self) -> LogLine | None:
        """The line the search cursor is on, if any."""
        index = self.cursor
        return self._shown[self._shown_off + index].line if index is not None else None

    def clear_cursor(self) -> None:
        self._cursor = None

    def find(self, *, forward: bool = True, start: int | None = None) -> int | None:
        """Move the cursor to the next (``forward``) or previous shown line matching the search.

        From the cursor when there is one, else from the shown line at index ``start`` itself
        (by default the first, or the last going back). Returns the match's index among the shown
        lines, or None when there is none (the cursor stays).
        """
        pattern = self._search
        count = self.shown
        if pattern is None or not count:
            return None
        shown, off = self._shown, self._shown_off
        current = self.cursor
        if current is not None:
            begin = current + 1 if forward else current - 1
        elif start is None:
            begin = 0 if forward else count - 1
        else:
            begin = min(max(start, 0), count - 1)
        indices = range(off + begin, len(shown)) if forward else range(off + begin, off - 1, -1)
        matches = self._matches
        for index in indices:
            entry = shown[index]
            if matches(entry, pattern):
                self._cursor = entry.seq
                return index - off
        return None

    # Display settings and layout ------------------------------------------------------------------

    @property
    def json_fields(self) -> bool:
        """Whether JSON-object lines read as ``msg key=value …`` (filters look at that text)."""
        return self._json_fields

    def set_json_fields(self, as_fields: bool) -> None:
        """Show JSON-object lines as fields or raw; every kept line's text changes, and the
        filters look again."""
        self._json_fields = bool(as_fields)
        for entry in self._entries:
            self._set_text(entry)
        self._refilter()

    @property
    def show_timestamps(self) -> bool:
        return self._show_timestamps

    @property
    def show_instances(self) -> bool:
        return self._show_instances

    def set_columns(self, *, timestamps: bool | None = None, instances: bool | None = None) -> None:
        """Draw the time and the instance columns or not (widths and rows change)."""
        if timestamps is not None:
            self._show_timestamps = bool(timestamps)
        if instances is not None:
            self._show_instances = bool(instances)
        self._layout()

    @property
    def wrap_width(self) -> int | None:
        """The width lines are wrapped at (0: not known yet, a row each), or None: no wrapping."""
        return self._wrap

    def set_wrap(self, width: int | None) -> None:
        """Wrap lines at ``width`` cells (0 while unknown), or not at all (``None``); the rows are
        rebuilt even when the width is the same (after :meth:`note_drawn_width` said so)."""
        if width is not None:
            width = max(0, int(width))
            # Rows need every shown line's width: the lines not drawn yet get their text now.
            shown = self._shown
            for index in range(self._shown_off, len(shown)):
                entry = shown[index]
                if entry.text is None:
                    self._set_text(entry)
        self._wrap = width
        self._layout()

    def _prefix_base(self) -> int:
        return (TIMESTAMP_WIDTH if self._show_timestamps else 0) + LEVEL_WIDTH

    def entry_width(self, entry: LogEntry) -> int:
        """The cells ``entry`` takes drawn in one row with the current columns."""
        width = self._prefix_base() + entry.cells
        if self._show_instances:
            width += entry.instance.width + 1
        return width

    @property
    def max_width(self) -> int:
        """The widest shown line, in cells, as far as known (see :meth:`note_drawn_width`)."""
        return self._max_width

    def note_drawn_width(self, entry: LogEntry, width: int) -> bool:
        """Tell what width ``entry`` was drawn at. A JSON line's text is worked out when it is
        drawn: until then its width is not known. True when the layout changed: the rows (when
        wrapping) or the widest line grew."""
        expected = self.entry_width(entry)
        if width == expected:
            return False
        entry.cells += width - expected
        if self._wrap is not None:
            return True
        if width > self._max_width:
            self._max_width = width
            return True
        return False

    def _layout(self) -> None:
        """Recompute the widest line (and the rows when wrapping) for the shown lines."""
        base = self._prefix_base()
        with_inst = self._show_instances
        shown = self._shown
        max_width = 0
        wrap_width = self._wrap
        if wrap_width is not None:
            rows: list[tuple[LogEntry, int]] = []
            add = rows.append
            for index in range(self._shown_off, len(shown)):
                entry = shown[index]
                width = base + entry.cells + (entry.instance.width + 1 if with_inst else 0)
                if width > max_width:
                    max_width = width
                if wrap_width <= 0 or width <= wrap_width:
                    add((entry, 0))
                else:
                    rows.extend((entry, k) for k in range(wrapped_rows(
                        width, width - entry.cells, wrap_width)))
            self._rows = rows
        else:
            for index in range(self._shown_off, len(shown)):
                entry = shown[index]
                width = base + entry.cells + (entry.instance.width + 1 if with_inst else 0)
                if width > max_width:
                    max_width = width
            self._rows = []
        self._rows_off = 0
        self._max_width = max_width

    # The shown window -----------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        """Rows the shown lines take: one each, or with wrapping, one per piece."""
        if self._wrap is not None:
            return len(self._rows) - self._rows_off
        return len(self._shown) - self._shown_off

    def row(self, row: int) -> tuple[LogEntry, int] | None:
        """What row ``row`` (0 is the oldest shown line's first) draws: the entry and which piece
        of it (0 when not wrapping); None past the end."""
        if row < 0:
            return None
        if self._wrap is not None:
            index = self._rows_off + row
            return self._rows[index] if index < len(self._rows) else None
        index = self._shown_off + row
        return (self._shown[index], 0) if index < len(self._shown) else None

    def window(self, top: int, height: int) -> list[tuple[LogEntry, int]]:
        """The rows from ``top`` on, at most ``height``: what a view of that height draws."""
        top = max(0, top)
        stop = min(top + max(0, height), self.row_count)
        return [self.row(r) for r in range(top, stop)]  # type: ignore[misc]

    def row_of_seq(self, seq: int) -> int:
        """The first row of the shown line ``seq``, or of the first shown after it (row_count if
        none): where a view scrolls to keep a line in place."""
        if self._wrap is not None:
            return bisect_left(self._rows, seq, lo=self._rows_off, key=_row_seq) - self._rows_off
        return bisect_left(self._shown, seq, lo=self._shown_off, key=_seq_of) - self._shown_off

    def row_of(self, index: int) -> int:
        """The first row of the shown line at ``index``."""
        return self.row_of_seq(self._shown[self._shown_off + index].seq)

    def index_of(self, seq: int) -> int | None:
        """Index among the shown lines of the line ``seq``, or None if it is not shown."""
        shown = self._shown
        index = bisect_left(shown, seq, lo=self._shown_off, key=_seq_of)
        return index - self._shown_off if index < len(shown) and shown[index].seq == seq else None

    def index_at_row(self, row: int) -> int | None:
        """Index among the shown lines of the line row ``row`` draws, or None past the end."""
        found = self.row(row)
        return None if found is None else self.index_of(found[0].seq)

    def entry(self, index: int) -> LogEntry:
        """The shown line at ``index`` (0 is the oldest); IndexError past the end."""
        if not 0 <= index < self.shown:
            raise IndexError(index)
        return self._shown[self._shown_off + index]

    def entries(self, *, shown: bool = False) -> Iterator[LogEntry]:
        """The kept lines, oldest first (only those shown when ``shown``)."""
        if shown:
            return islice(self._shown, self._shown_off, None)
        return iter(self._entries)

    # Saving ---------------------------------------------------------------------------------------

    def save(self, path: Path, *, filtered: bool = True) -> int:
        """Write the shown lines (or all kept ones) to ``path``; returns how many.

        One record per line: ``ISO-timestamp instance LEVEL message``, with the raw message (JSON
        stays JSON, nothing is cut) and line breaks inside it made visible (``␊``). Raises OSError.
        """
        entries = list(self.entries(shown=filtered))
        count = 0
        with open(path, "w", encoding="utf-8", errors="backslashreplace", newline="\n") as out:
            for entry in entries:
                line = entry.line
                out.write(f"{line.ts.isoformat()} {line.instance.translate(_ONE_LINE)} "
                          f"{line.level.value.upper()} {line.message.translate(_ONE_LINE)}\n")
                count += 1
        return count
