"""The log viewer widget: draws a :class:`idp_tui.logs.LogBuffer` (bounded, filtered, searchable).

``LogView`` is a line-API widget (a ``ScrollView`` with ``render_line``): the buffer does the
bookkeeping of an appended batch (O(batch)) and the view refreshes at most once; text is built
only for the rows on screen, through :func:`idp_tui.render.log_line_segments`, and the resulting
strips are cached per line. The view holds what is about the screen: scrolling, following the
newest line, the keys, the drawing; the lines, the counts, the filters, the search and the rows
are the buffer's (:attr:`LogView.buffer`). A CI job's log (:meth:`LogView.set_sections`) has
sections that fold: their title lines are drawn as ``▸ title (n lines)`` / ``▾ title``.

Log text is untrusted: it only becomes segments through :mod:`idp_tui.render`, never markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

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
from ..logs import LogBuffer, LogEntry, wrapped_piece

if TYPE_CHECKING:
    from ..api.kinds import LogLevel
    from ..api.models import LogLine
    from ..logs.fold import Section

__all__ = ["LogView", "MAX_VIRTUAL_WIDTH"]

#: Widest the scrollable area gets with wrapping off, however long a line is.
MAX_VIRTUAL_WIDTH = 10_000
#: Strips kept for lines already drawn.
_STRIP_CACHE_SIZE = 2048
#: Longest segment kept in a cached strip (see _short_segments).
_PIECE = 256


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
        """The counts changed (posted at most once per append, filter change or clear).

        ``total`` is the lines received (``buffered + dropped``), ``buffered`` those kept,
        ``shown`` the kept ones that pass the filters."""

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
        #: The lines, their counts, filters, search and rows (Textual-free).
        self.buffer = LogBuffer(max_lines)
        self._cache: LRUCache[tuple[int, bool], Strip] = LRUCache(_STRIP_CACHE_SIZE)
        self._relayout_pending = False
        self._frame: tuple[Style, int] | None = None

    # Public state (the buffer's, under the names the Logs pane uses) ------------------------------

    @property
    def max_lines(self) -> int:
        return self.buffer.max_lines

    @property
    def total(self) -> int:
        """Lines received since creation or the last :meth:`clear` (``buffered + dropped``)."""
        return self.buffer.received

    @property
    def buffered(self) -> int:
        """Lines kept (at most :attr:`max_lines`)."""
        return self.buffer.kept

    @property
    def shown(self) -> int:
        """Kept lines that pass the filters."""
        return self.buffer.shown

    @property
    def dropped(self) -> int:
        """Lines lost: evicted from the buffer, or reported dropped upstream by :meth:`append`."""
        return self.buffer.dropped

    @property
    def include(self) -> str | None:
        return self.buffer.include

    @property
    def exclude(self) -> str | None:
        return self.buffer.exclude

    @property
    def search(self) -> str | None:
        return self.buffer.search

    @property
    def min_level(self) -> LogLevel | None:
        return self.buffer.min_level

    @property
    def cursor_line(self) -> LogLine | None:
        """The line the search cursor is on, if any."""
        return self.buffer.cursor_line

    def instance_style(self, instance: str) -> str | None:
        """The colour given to ``instance``, or None if no line of it has been seen."""
        inst = self.buffer.instance(instance)
        return self._colour(inst.colour) if inst else None

    @staticmethod
    def _colour(index: int) -> str:
        colours = render.INSTANCE_COLOURS
        return colours[index % len(colours)]

    # Appending ------------------------------------------------------------------------------------

    def append(self, lines: Sequence[LogLine], dropped: int = 0) -> None:
        """Add a batch of lines; ``dropped`` counts lines the producer discarded before it."""
        if not lines and dropped <= 0:
            return
        added, removed_rows = self.buffer.append(lines, dropped)
        self._update_virtual_size()
        if self.is_mounted:
            if self.follow:
                self._scroll_to_end()
            elif removed_rows:
                # Keep the lines the user is reading where they are while older ones go.
                self.scroll_to(y=max(0, self.scroll_offset.y - removed_rows), animate=False)
            if added or removed_rows:
                self.refresh()
        self._post_stats()

    def clear(self) -> None:
        """Forget every line and reset the counters and instance colours (filters stay)."""
        self.buffer.clear()
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
        anchor = self._anchor()
        self.buffer.set_include(pattern)
        self._filtered(anchor)

    def set_exclude(self, pattern: str | None) -> None:
        """Hide lines whose message or instance matches ``pattern`` (smart case)."""
        anchor = self._anchor()
        self.buffer.set_exclude(pattern)
        self._filtered(anchor)

    def set_min_level(self, level: LogLevel | None) -> None:
        """Hide lines below ``level`` (lines of unknown level are always shown)."""
        anchor = self._anchor()
        self.buffer.set_min_level(level)
        self._filtered(anchor)

    def _filtered(self, anchor: int | None) -> None:
        self._laid_out(anchor)
        self._post_stats()

    def set_search(self, pattern: str | None) -> None:
        """Highlight matches of ``pattern`` (smart case); ``None`` or ``""`` clears the search."""
        self.buffer.set_search(pattern)
        self._cache.clear()
        self.refresh()

    def next_match(self) -> bool:
        """Move the cursor to the next shown line matching the search; False if there is none."""
        return self._find(forward=True)

    def previous_match(self) -> bool:
        """Move the cursor to the previous shown line that matches the search."""
        return self._find(forward=False)

    def _find(self, *, forward: bool) -> bool:
        buffer = self.buffer
        if buffer.search is None or not buffer.shown:
            return False
        start = None
        if buffer.cursor is None:
            # No cursor yet: start from the top (or bottom) of what is on screen.
            top, bottom = self._visible_indices()
            start = top if forward else bottom
        index = buffer.find(forward=forward, start=start)
        if index is None:
            return False
        self.follow = False
        self._reveal(index)
        self.refresh()
        return True

    # Sections of a CI job's log (idp_tui.logs.fold) ----------------------------------------------

    def set_sections(self, on: bool) -> None:
        """Read ``##[group]`` sections in the lines appended from now on (and draw their title
        lines as folds), or not."""
        self.buffer.set_sections(on)
        self._refolded(None)

    def current_section(self) -> Section | None:
        """The section of the cursor's line, else of the top line on screen (None: no sections,
        or a line outside every section)."""
        sections = self.buffer.sections
        if sections is None:
            return None
        seq = self.buffer.cursor_seq
        if seq is None:
            found = self.buffer.row(self.scroll_offset.y if self.is_mounted else 0)
            seq = found[0].seq if found else None
        return sections.section_of(seq) if seq is not None else None

    def toggle_fold(self) -> Section | None:
        """Fold the current section, or unfold it (one hidden in its folded step: the step); the
        cursor goes to its title line. Returns the section, or None when there is none."""
        sections, section = self.buffer.sections, self.current_section()
        if sections is None or section is None:
            return None
        if section.hidden and section.parent is not None:
            section = section.parent
        sections.fold(section, not section.folded)
        self._refolded(section.header)
        return section

    def fold_all(self, folded: bool) -> bool:
        sections = self.buffer.sections
        if sections is None or not sections.fold_all(folded):
            return False
        self._refolded(self.buffer.cursor_seq)
        return True

    def fold_finished(self, open_steps: Iterable[int] = ()) -> bool:
        """A finished job's folds: all but the sections with errors and the ``open_steps``."""
        sections = self.buffer.sections
        if sections is None or not sections.fold_finished(open_steps):
            return False
        self._refolded(self.buffer.cursor_seq)
        return True

    def show_section(self, section: Section) -> None:
        """Unfold ``section`` (and its parent) and show it from its title line, at the top."""
        sections = self.buffer.sections
        if sections is None:
            return
        sections.fold(section, False)
        if section.parent is not None:
            sections.fold(section.parent, False)
        self.follow = False
        self._refolded(section.header)
        index = self.buffer.index_of(section.header)
        if index is not None and self.is_mounted:
            self.scroll_to(y=self.buffer.row_of(index), animate=False)

    def next_section(self, *, forward: bool = True) -> Section | None:
        """Put the cursor on the next (or previous) shown section title; None if there is none."""
        buffer, sections = self.buffer, self.buffer.sections
        if sections is None or not buffer.shown:
            return None
        current = buffer.cursor
        if current is None:
            top, bottom = self._visible_indices() if self.is_mounted else (0, buffer.shown - 1)
            current = top - 1 if forward else bottom + 1
        indices = range(current + 1, buffer.shown) if forward else range(current - 1, -1, -1)
        for index in indices:
            section = sections.header_at(buffer.entry(index).seq)
            if section is not None:
                self.follow = False
                buffer.set_cursor(section.header)
                self._reveal(index)
                self._cache.clear()
                self.refresh()
                return section
        return None

    def _refolded(self, cursor: int | None) -> None:
        anchor = self._anchor()
        self.buffer.refold()
        if cursor is not None:
            self.follow = False
            self.buffer.set_cursor(cursor)
            anchor = cursor if anchor is None else anchor
        self._cache.clear()
        self._filtered(anchor)
        if cursor is not None and self.buffer.cursor is not None:
            self._reveal(self.buffer.cursor)

    # Display flags --------------------------------------------------------------------------------

    def watch_follow(self, follow: bool) -> None:
        if follow:
            self.buffer.clear_cursor()
            if self.is_mounted:
                self._scroll_to_end()
                self.refresh()

    def watch_wrap(self, wrap: bool) -> None:
        # The buffer still has the previous mode's rows: the top line is read from them.
        anchor = self._anchor()
        if wrap:
            self.buffer.set_wrap(self._current_width())
            if self.is_mounted:
                self.scroll_to(x=0, animate=False)
        else:
            self.buffer.set_wrap(None)
        self._laid_out(anchor)

    def watch_show_timestamps(self, show: bool) -> None:
        self._columns_changed()

    def watch_show_instances(self, show: bool) -> None:
        self._columns_changed()

    def watch_json_fields(self, as_fields: bool) -> None:
        # The displayed message changes, and filters look at the displayed message.
        anchor = self._anchor()
        self.buffer.set_json_fields(as_fields)
        self._cache.clear()
        self._filtered(anchor)

    def _columns_changed(self) -> None:
        anchor = self._anchor()
        self.buffer.set_columns(timestamps=self.show_timestamps, instances=self.show_instances)
        self._cache.clear()
        self._laid_out(anchor)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    # Layout ---------------------------------------------------------------------------------------

    def _current_width(self) -> int:
        return self.scrollable_content_region.width if self.is_mounted else 0

    def _update_virtual_size(self) -> None:
        buffer = self.buffer
        width = 0 if buffer.wrap_width is not None else min(buffer.max_width, MAX_VIRTUAL_WIDTH)
        self.virtual_size = Size(width, buffer.row_count)

    def _anchor(self) -> int | None:
        """The line at the top of the view (what a re-layout keeps in view), unless following."""
        if self.follow:
            return None
        found = self.buffer.row(self.scroll_offset.y if self.is_mounted else 0)
        return found[0].seq if found else None

    def _laid_out(self, anchor: int | None) -> None:
        """The buffer's rows changed: size the view again and keep the ``anchor`` line in view."""
        self._update_virtual_size()
        if self.is_mounted:
            if self.follow:
                self._scroll_to_end()
            elif anchor is not None:
                self.scroll_to(y=self.buffer.row_of_seq(anchor), animate=False)
            self.refresh()

    def _schedule_relayout(self) -> None:
        if not self._relayout_pending:
            self._relayout_pending = True
            self.call_later(self._deferred_relayout)

    def _deferred_relayout(self) -> None:
        self._relayout_pending = False
        anchor = self._anchor()
        if self.buffer.wrap_width is not None:
            self.buffer.set_wrap(self._current_width())
        self._laid_out(anchor)

    def on_resize(self, event: events.Resize) -> None:
        if self.wrap and self._current_width() != self.buffer.wrap_width:
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

    def _visible_indices(self) -> tuple[int, int]:
        """Indices among the shown lines of the first and last lines on screen."""
        buffer = self.buffer
        top = self.scroll_offset.y
        height = max(1, self.scrollable_content_region.height)
        bottom = min(top + height, buffer.row_count) - 1
        first = buffer.index_at_row(top)
        last = buffer.index_at_row(max(bottom, 0))
        return (first if first is not None else 0,
                last if last is not None else buffer.shown - 1)

    def _reveal(self, index: int) -> None:
        """Scroll so the shown line at ``index`` is on screen (centred if it was not)."""
        if not self.is_mounted:
            return
        row = self.buffer.row_of(index)
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
        buffer = self.buffer
        found = buffer.row(scroll_y + y)
        if found is None:
            return Strip.blank(width, base)
        entry, chunk = found
        is_cursor = entry.seq == buffer.cursor_seq
        if is_cursor:
            base = base + self.get_component_rich_style("logview--cursor")
        full = self._full_strip(entry, is_cursor, base)
        wrap_width = buffer.wrap_width
        if wrap_width is not None:
            if width > 0 and width != wrap_width:
                self._schedule_relayout()
            if wrap_width <= 0:
                wrap_width = max(width, 1)
            # A continuation row starts under the message (see logs.buffer.wrap_indent).
            prefix = buffer.entry_width(entry) - entry.cells
            start, end, indent = wrapped_piece(chunk, prefix, wrap_width)
            strip = full.crop_extend(start, end, base)
            if indent:
                strip = Strip.join([Strip.blank(indent, base), strip])
            if wrap_width != width:
                strip = strip.adjust_cell_length(width, base)
            return strip
        return full.crop_extend(scroll_x, scroll_x + width, base)

    def _full_strip(self, entry: LogEntry, is_cursor: bool, base: Style) -> Strip:
        """The whole line as a Strip (cached by line identity; cleared when flags change)."""
        key = (entry.seq, is_cursor)
        strip = self._cache.get(key)
        if strip is not None:
            return strip
        buffer = self.buffer
        message = None
        sections = buffer.sections
        if sections is not None:
            section = sections.header_at(entry.seq)
            if section is not None:
                message = render.section_title(section.title, folded=section.folded,
                                               lines=section.lines, errors=section.errors)
        segments = render.log_line_segments(
            entry.line,
            base=base,  # the widget's colours under the line's own
            instance_style=self._colour(entry.instance.colour),
            show_timestamp=buffer.show_timestamps,
            show_instance=buffer.show_instances,
            as_fields=buffer.json_fields,
            highlight=buffer.search_regex,
            message=message,
        )
        strip = Strip(_short_segments(segments))
        self._cache[key] = strip
        # A JSON line's width is known once drawn: the buffer corrects its bookkeeping.
        if buffer.note_drawn_width(entry, strip.cell_length):
            if buffer.wrap_width is not None:
                self._schedule_relayout()
            else:
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

    # Saving and stats -----------------------------------------------------------------------------

    def save(self, path: Path, *, filtered: bool = True) -> int:
        """Write the shown lines (or all buffered ones) to ``path``; returns how many.

        See :meth:`idp_tui.logs.LogBuffer.save`. Raises OSError.
        """
        return self.buffer.save(path, filtered=filtered)

    def _post_stats(self) -> None:
        self.post_message(self.StatsChanged(self.total, self.buffered, self.shown, self.dropped,
                                            log_view=self))
