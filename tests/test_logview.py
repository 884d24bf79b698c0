"""Behaviour of the LogView widget (idp_tui.ui.logview)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from textual import events
from textual.app import App, ComposeResult
from textual.scrollbar import ScrollTo

from idp_tui import render
from idp_tui.api.models import LogLevel, LogLine
from idp_tui.logs import compile_pattern, wrapped_rows
from idp_tui.ui.logview import MAX_VIRTUAL_WIDTH, LogView

STYLES = Path(__file__).resolve().parent.parent / "styles" / "logview.tcss"
T0 = datetime(2024, 5, 1, 12, 30, 45, 123456, tzinfo=UTC)
SIZE = (120, 30)


def line(message: str, *, i: int = 0, instance: str = "pod-a",
         level: LogLevel = LogLevel.INFO) -> LogLine:
    return LogLine(ts=T0 + timedelta(milliseconds=i), service="svc", environment="dev",
                   instance=instance, level=level, message=message)


def numbered(n: int, start: int = 0, **kwargs: object) -> list[LogLine]:
    return [line(f"line {i}", i=i, **kwargs)  # type: ignore[arg-type]
            for i in range(start, start + n)]


class LogApp(App[None]):
    CSS_PATH = STYLES

    def __init__(self, max_lines: int = 20_000) -> None:
        super().__init__()
        self.max_lines = max_lines
        self.stats: list[LogView.StatsChanged] = []

    def compose(self) -> ComposeResult:
        yield LogView(max_lines=self.max_lines, id="log")

    def on_log_view_stats_changed(self, message: LogView.StatsChanged) -> None:
        self.stats.append(message)


def view_of(app: App[None]) -> LogView:
    return app.screen.query_one("#log", LogView)


def screen_lines(view: LogView) -> list[str]:
    """What the view draws, row by row (plain text of the strips)."""
    return [view.render_line(y).text for y in range(view.scrollable_content_region.height)]


def screen_text(view: LogView) -> str:
    return "\n".join(screen_lines(view))


# Counting, eviction, stats ------------------------------------------------------------------------


async def test_append_counts_evictions_and_upstream_drops() -> None:
    app = LogApp(max_lines=5)
    async with app.run_test(size=SIZE) as pilot:
        view = view_of(app)
        view.append(numbered(3))
        assert (view.total, view.buffered, view.shown, view.dropped) == (3, 3, 3, 0)

        view.append(numbered(4, start=3), dropped=2)
        # 7 lines in a buffer of 5: 2 evicted, plus 2 dropped upstream (received, not kept).
        assert (view.total, view.buffered, view.shown, view.dropped) == (9, 5, 5, 4)

        view.append(numbered(12, start=7))
        # Everything buffered before is evicted, and 7 of the batch never fit.
        assert (view.total, view.buffered, view.shown, view.dropped) == (21, 5, 5, 16)
        assert view.virtual_size.height == 5
        await pilot.pause()
        text = screen_text(view)
        assert [f"line {i}" in text for i in (13, 14, 18)] == [False, True, True]

        view.append([], dropped=3)
        assert view.dropped == 19 and view.total == 24 == view.buffered + view.dropped
        view.append([])  # nothing at all: no message
        await pilot.pause()
        assert len(app.stats) == 4
        last = app.stats[-1]
        assert (last.total, last.buffered, last.shown, last.dropped) == (24, 5, 5, 19)
        assert last.control is view


async def test_stats_posted_once_per_append() -> None:
    app = LogApp()
    async with app.run_test(size=SIZE) as pilot:
        view = view_of(app)
        for batch in range(5):
            view.append(numbered(1000, start=batch * 1000))
        await pilot.pause()
        assert [m.total for m in app.stats] == [1000, 2000, 3000, 4000, 5000]
        view.set_include("line 1")
        await pilot.pause()
        assert len(app.stats) == 6
        assert app.stats[-1].shown == view.shown == sum(
            1 for i in range(5000) if "line 1" in f"line {i}")


async def test_clear_resets_everything() -> None:
    app = LogApp(max_lines=10)
    async with app.run_test(size=SIZE) as pilot:
        view = view_of(app)
        view.append(numbered(20, instance="x"))
        view.clear()
        assert (view.total, view.buffered, view.shown, view.dropped) == (0, 0, 0, 0)
        assert view.virtual_size.height == 0
        view.append([line("after", instance="y")])
        assert view.instance_style("y") == render.INSTANCE_COLOURS[0]
        await pilot.pause()
        assert "after" in screen_text(view)
        assert app.stats[-1].total == 1


# Filters ------------------------------------------------------------------------------------------


def mixed() -> list[LogLine]:
    return [
        line("GET /health 200", i=0, instance="api-1"),
        line("POST /orders 201", i=1, instance="api-2"),
        line("get lowercase call", i=2, instance="worker-1"),
        line("payment failed", i=3, instance="worker-2", level=LogLevel.ERROR),
    ]


async def test_include_exclude_smart_case_and_instance() -> None:
    app = LogApp()
    async with app.run_test(size=SIZE) as pilot:
        view = view_of(app)
        view.append(mixed())
        view.set_include("get")  # all lower case: case-insensitive
        assert view.shown == 2
        view.set_include("GET")  # has an upper-case letter: case-sensitive
        assert view.shown == 1
        view.set_include(r"\S+ /orders")  # \S does not make it case-sensitive
        assert view.shown == 1
        view.set_include("worker")  # instance names count too
        assert view.shown == 2
        view.set_exclude("failed")
        assert view.shown == 1
        await pilot.pause()
        text = screen_text(view)
        assert "get lowercase call" in text and "payment failed" not in text

        view.set_include(None)
        view.set_exclude("")
        assert view.shown == 4
        assert view.include is None and view.exclude is None


async def test_invalid_regex_raises_and_keeps_state() -> None:
    app = LogApp()
    async with app.run_test(size=SIZE):
        view = view_of(app)
        view.append(mixed())
        view.set_include("get")
        with pytest.raises(re.error):
            view.set_include("(unclosed")
        with pytest.raises(re.error):
            view.set_exclude("[a-")
        with pytest.raises(re.error):
            view.set_search("*")
        assert view.include == "get" and view.exclude is None and view.search is None
        assert view.shown == 2


async def test_new_lines_are_filtered_at_append() -> None:
    app = LogApp(max_lines=10)
    async with app.run_test(size=SIZE) as pilot:
        view = view_of(app)
        view.set_include("keep")
        view.append([line(f"{'keep' if i % 3 == 0 else 'drop'} {i}", i=i) for i in range(9)])
        assert (view.buffered, view.shown) == (9, 3)
        # Evicting kept lines lowers `shown`.
        view.append([line(f"drop {i}", i=i) for i in range(9, 13)])
        assert (view.buffered, view.shown, view.dropped) == (10, 2, 3)
        await pilot.pause()
        text = screen_text(view)
        assert "keep 3" in text and "keep 6" in text and "keep 0" not in text
        assert "drop" not in text
        assert view.virtual_size.height == 2


async def test_min_level() -> None:
    app = LogApp()
    async with app.run_test(size=SIZE):
        view = view_of(app)
        view.append([line(level.value, i=i, level=level) for i, level in enumerate(LogLevel)])
        assert view.shown == 7
        view.set_min_level(LogLevel.WARN)
        assert view.shown == 4  # warn, error, fatal and unknown
        assert view.min_level is LogLevel.WARN
        view.append([line("debug later", level=LogLevel.DEBUG),
                     line("error later", level=LogLevel.ERROR)])
        assert view.shown == 5
        view.set_min_level(LogLevel.TRACE)
        assert view.shown == 9
        view.set_min_level(None)
        assert view.shown == 9


async def test_smart_case_with_non_ascii() -> None:
    app = LogApp()
    async with app.run_test(size=SIZE):
        view = view_of(app)
        view.append([line("ÉCHEC du paiement"), line("échec du paiement"), line("ok")])
        view.set_include("échec")
        assert view.shown == 2
        view.set_include("ÉCHEC")
        assert view.shown == 1


# Search -------------------------------------------------------------------------------------------


async def test_search_next_previous_moves_cursor_and_pauses_follow() -> None:
    app = LogApp()
    async with app.run_test(size=SIZE) as pilot:
        view = view_of(app)
        view.append([line(f"row {i} {'needle' if i in (10, 50, 90) else 'hay'}", i=i)
                     for i in range(100)])
        await pilot.pause()
        assert view.follow
        assert not view.next_match()  # no search yet
        view.set_search("NEEDLE".lower())
        assert view.previous_match()
        assert view.cursor_line is not None and view.cursor_line.message == "row 90 needle"
        assert view.follow is False
        assert view.previous_match() and view.cursor_line.message == "row 50 needle"
        await pilot.pause()
        assert any("row 50 needle" in row for row in screen_lines(view))
        assert view.previous_match() and view.cursor_line.message == "row 10 needle"
        assert not view.previous_match()
        assert view.cursor_line.message == "row 10 needle"
        assert view.next_match() and view.cursor_line.message == "row 50 needle"
        assert view.next_match() and view.cursor_line.message == "row 90 needle"
        assert not view.next_match()
        await pilot.pause()
        assert any("row 90 needle" in row for row in screen_lines(view))

        # The match is highlighted, the cursor row is styled.
        y = next(y for y, row in enumerate(screen_lines(view)) if "row 90 needle" in row)
        strip = view.render_line(y)
        highlighted = "".join(seg.text for seg in strip if seg.style and seg.style.bgcolor
                              and seg.style.bgcolor.name == "yellow")
        assert highlighted == "needle"

        # Searching only walks shown lines.
        view.set_exclude("row 50")
        view.set_search("needle")
        view.scroll_to(y=0, animate=False)
        await pilot.pause()
        assert view.next_match() and view.cursor_line.message == "row 10 needle"
        assert view.next_match() and view.cursor_line.message == "row 90 needle"

        view.set_search(None)
        assert view.cursor_line is None and not view.next_match()


# Follow and scrolling -----------------------------------------------------------------------------


async def test_follow_turns_off_on_user_scroll_and_end_resumes() -> None:
    app = LogApp()
    async with app.run_test(size=SIZE) as pilot:
        view = view_of(app)
        view.focus()
        view.append(numbered(200))
        await pilot.pause()
        assert view.follow and view.scroll_offset.y == view.max_scroll_y > 0
        assert "line 199" in screen_text(view)

        view.append(numbered(50, start=200))
        await pilot.pause()
        assert view.scroll_offset.y == view.max_scroll_y
        assert "line 249" in screen_text(view)

        for key in ("up", "pageup", "home"):
            await pilot.press("end")
            assert view.follow
            await pilot.press(key)
            assert not view.follow, key
            top = view.scroll_offset.y
            view.append(numbered(10, start=1000))
            await pilot.pause()
            assert view.scroll_offset.y == top < view.max_scroll_y
            assert "line 1009" not in screen_text(view)

        await pilot.press("end")
        assert view.follow
        await pilot.pause()
        assert view.scroll_offset.y == view.max_scroll_y
        assert "line 1009" in screen_text(view)

        # Scrolling down does not turn follow off; the mouse wheel up does.
        await pilot.press("down", "pagedown")
        assert view.follow
        view.post_message(events.MouseScrollUp(view, 5, 5, 0, -1, 0, False, False, False))
        await pilot.pause()
        assert not view.follow
        assert view.scroll_offset.y < view.max_scroll_y

        view.follow = True
        await pilot.pause()
        assert view.scroll_offset.y == view.max_scroll_y

        # Dragging the scrollbar handle up (the scrollbar posts ScrollTo) pauses too.
        view.post_message(ScrollTo(y=10, animate=False))
        await pilot.pause()
        assert not view.follow and view.scroll_offset.y == 10


async def test_configured_before_mount() -> None:
    class Early(App[None]):
        def compose(self) -> ComposeResult:
            view = LogView(id="log")
            view.wrap = True
            view.show_timestamps = False
            view.append([line("x" * 300, i=0), *numbered(5, start=1)])
            view.set_include("x|line")
            yield view

    app = Early()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        view = view_of(app)
        width = view.scrollable_content_region.width
        total = len("pod-a INFO  ") + 300
        assert view.virtual_size.height == math.ceil(total / width) + 5
        rows = screen_lines(view)
        assert rows[0].startswith("pod-a INFO  xxx") and rows[-1].strip() == ""
        assert "line 5" in screen_text(view)


async def test_paused_view_stays_on_the_same_lines_while_old_ones_are_evicted() -> None:
    app = LogApp(max_lines=300)
    async with app.run_test(size=SIZE) as pilot:
        view = view_of(app)
        view.focus()
        view.append(numbered(300))
        await pilot.pause()
        await pilot.press("pageup", "pageup")
        assert not view.follow
        before = screen_lines(view)
        view.append(numbered(20, start=300))  # evicts lines 0..19
        await pilot.pause()
        assert screen_lines(view) == before


async def test_bindings_have_ids() -> None:
    keys = {b.key: b for b in LogView.BINDINGS}  # type: ignore[union-attr]
    assert {"up", "down", "home", "end", "pageup", "pagedown"} <= keys.keys()
    assert all(b.id and b.id.startswith("logview.")  # type: ignore[union-attr]
               for b in keys.values())
    assert keys["end"].action == "follow"  # type: ignore[union-attr]


async def test_horizontal_scroll_when_not_wrapping() -> None:
    app = LogApp()
    async with app.run_test(size=SIZE) as pilot:
        view = view_of(app)
        view.focus()
        view.append([line("x" * 290 + "TAIL", i=0), line("short", i=1)])
        await pilot.pause()
        width = render.log_line(view.cursor_line or line("x" * 290 + "TAIL"),
                                instance_style="").cell_len
        assert view.virtual_size.width == width
        assert "TAIL" not in screen_text(view)
        await pilot.press("ctrl+pagedown", "ctrl+pagedown", "ctrl+pagedown")
        assert view.scroll_offset.x > 0
        assert "TAIL" in screen_text(view)


# Wrapping -----------------------------------------------------------------------------------------


def pieces(item: LogLine, width: int, **columns: bool) -> int:
    """The rows ``item`` takes wrapped at ``width``: continuation rows start under its message."""
    total = render.log_line(item, instance_style="", **columns).cell_len
    message = render.without_level(*render.log_message(item.message), item.level)[0]
    return wrapped_rows(total, total - len(message), width)


async def test_wrap_adds_rows_and_is_maintained_on_append_and_eviction() -> None:
    app = LogApp(max_lines=4)
    async with app.run_test(size=SIZE) as pilot:
        view = view_of(app)
        long = line("word " * 100 + "END", i=0)
        view.append([line("short", i=1), long])
        await pilot.pause()
        assert view.virtual_size.height == 2
        width = view.scrollable_content_region.width
        total = render.log_line(long, instance_style="").cell_len
        assert total > width

        view.wrap = True
        await pilot.pause()
        rows = 1 + pieces(long, width)
        assert view.virtual_size.height == rows
        assert view.virtual_size.width == 0
        text = screen_text(view)
        assert "END" in text and "short" in text
        assert all(len(row) == width for row in screen_lines(view))

        view.append([long, line("tail", i=3)])  # incremental
        assert view.virtual_size.height == rows + pieces(long, width) + 1
        view.append([line("x", i=4), line("y", i=5)])  # evicts "short" and the first long line
        assert view.virtual_size.height == pieces(long, width) + 3

        # A narrower terminal rebuilds the row map.
        await pilot.resize_terminal(80, 30)
        await pilot.pause()
        narrow = view.scrollable_content_region.width
        assert narrow < width
        assert view.virtual_size.height == pieces(long, narrow) + 3

        view.wrap = False
        await pilot.pause()
        assert view.virtual_size.height == 4


async def test_wrapped_continuations_start_under_the_message_and_levels_are_said_once() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 12)) as pilot:
        view = view_of(app)
        java = line("INFO  [http-nio-8080-exec-38] c.e.payments.Service - " + "handled request " * 12,
                    instance="payments-7f9c")
        view.append([java, line("after", i=1, level=LogLevel.WARN)])
        view.wrap = True
        await pilot.pause()
        rows = [row.rstrip() for row in screen_lines(view) if row.strip()]
        # The level once, in its column: not "INFO  INFO  [http-nio…".
        assert rows[0].startswith("12:30:45.123 payments-7f9c INFO  [http-nio-8080-exec-38] ")
        assert "INFO  INFO" not in screen_text(view)
        prefix = len("12:30:45.123 payments-7f9c INFO  ")
        continuations = rows[1:-1]
        assert len(continuations) >= 2
        for row in continuations:  # indented under the message, never at column 0
            assert row[:prefix].strip() == "" and row[prefix:].strip(), row
        assert rows[-1].startswith("12:30:45.124 pod-a WARN  after")
        width = view.scrollable_content_region.width
        assert view.virtual_size.height == pieces(java, width) + 1


async def test_wrap_follows_timestamp_and_instance_toggles() -> None:
    app = LogApp()
    async with app.run_test(size=SIZE) as pilot:
        view = view_of(app)
        long = line("y" * 200, instance="instance-with-a-long-name")
        view.append([long])
        view.wrap = True
        await pilot.pause()
        width = view.scrollable_content_region.width
        for ts, inst in ((False, True), (False, False), (True, False), (True, True)):
            view.show_timestamps = ts
            view.show_instances = inst
            await pilot.pause()
            assert view.virtual_size.height == pieces(long, width, show_timestamp=ts,
                                                      show_instance=inst), (ts, inst)


async def test_toggles_keep_the_top_line_in_view_while_paused() -> None:
    app = LogApp(max_lines=400)
    async with app.run_test(size=SIZE) as pilot:
        view = view_of(app)
        view.focus()
        view.append([line(f"line {i} " + "z" * (i % 3) * 150, i=i) for i in range(300)])
        await pilot.pause()
        await pilot.press("pageup", "pageup", "pageup")
        assert not view.follow
        def top_line() -> str:
            found = re.search(r"line \d+ ", screen_lines(view)[0])
            assert found, screen_lines(view)[0]
            return found.group()

        top = top_line()
        assert top != "line 0 "
        for change in ("wrap", "show_timestamps", "wrap", "show_instances", "json_fields", "wrap"):
            setattr(view, change, not getattr(view, change))
            await pilot.pause()
            assert top_line() == top, change
        # Old lines evicted while wrapped and paused: the view stays on the same lines.
        view.wrap = True
        await pilot.pause()
        before = screen_lines(view)
        view.append(numbered(100, start=1000))
        await pilot.pause()
        assert screen_lines(view) == before


# Display ------------------------------------------------------------------------------------------


async def test_toggles_change_what_is_drawn() -> None:
    app = LogApp()
    async with app.run_test(size=SIZE) as pilot:
        view = view_of(app)
        view.append([line("hello", instance="pod-a", level=LogLevel.WARN)])
        await pilot.pause()
        first = screen_lines(view)[0]
        assert first.startswith("12:30:45.123 pod-a WARN  hello")
        view.show_timestamps = False
        await pilot.pause()
        assert screen_lines(view)[0].startswith("pod-a WARN  hello")
        view.show_instances = False
        await pilot.pause()
        assert screen_lines(view)[0].startswith("WARN  hello")


async def test_json_fields_display_and_filtering() -> None:
    app = LogApp()
    async with app.run_test(size=SIZE) as pilot:
        view = view_of(app)
        raw = '{"msg":"user logged in","level":"info","user":"bob","attempt":3}'
        view.append([line(raw), line("plain text")])
        await pilot.pause()
        assert "user logged in user=bob attempt=3" in screen_text(view)
        view.set_include("user=bob")
        assert view.shown == 1

        view.json_fields = False
        await pilot.pause()
        assert view.shown == 0  # the raw JSON has no "user=bob"
        view.set_include(None)
        await pilot.pause()
        assert raw in screen_text(view)


async def test_instance_colours_are_assigned_in_order_and_stable() -> None:
    app = LogApp()
    async with app.run_test(size=SIZE) as pilot:
        view = view_of(app)
        colours = render.INSTANCE_COLOURS
        names = [f"pod-{i}" for i in range(len(colours) + 2)]
        view.append([line("m", instance=name) for name in names])
        view.append([line("again", instance="pod-1"), line("new", instance="zzz")])
        assert [view.instance_style(n) for n in names] == [
            colours[i % len(colours)] for i in range(len(names))]
        assert view.instance_style("zzz") == colours[len(names) % len(colours)]
        assert view.instance_style("never") is None
        await pilot.pause()
        # The instance column is drawn in its colour.
        view.scroll_to(y=0, animate=False)
        await pilot.pause()
        strip = view.render_line(0)
        segment = next(seg for seg in strip if seg.text == "pod-0")
        assert segment.style is not None and segment.style.color is not None
        assert segment.style.color.name == colours[0]


async def test_width_bookkeeping_matches_render() -> None:
    app = LogApp()
    async with app.run_test(size=SIZE):
        view = view_of(app)
        samples = [
            line("plain"),
            line("wide 日本語テキスト 😀", instance="ノード-1"),
            line('{"msg":"json","k":"v w","n":[1,2]}'),
            line("tab\tand\x1bescape\x00nul"),
            line("x" * (render.LINE_MAX + 5000)),
            line("bidi \u202e reversed", instance="i" * 80),
            line("", level=LogLevel.UNKNOWN),
        ]
        view.append(samples)
        for as_fields in (True, False):
            view.json_fields = as_fields
            for ts in (True, False):
                for inst in (True, False):
                    view.show_timestamps, view.show_instances = ts, inst
                    for entry in view.buffer.entries(shown=True):
                        # (A JSON line's width is known once its text is worked out.)
                        view.buffer.text_of(entry)
                        expected = render.log_line(entry.line, instance_style="",
                                                   show_timestamp=ts, show_instance=inst,
                                                   as_fields=as_fields).cell_len
                        assert view.buffer.entry_width(entry) == expected, entry.line.message[:40]


async def test_json_lines_are_worked_out_when_drawn_or_filtered() -> None:
    wide = '{"msg":"wide","k":"' + "w" * 300 + '"}'
    lines = [line(f"plain {i}", i=i) for i in range(100)] + [line(wide, i=100)] + \
        [line('{"msg":"narrow"}', i=101 + i) for i in range(3)]
    app = LogApp()
    async with app.run_test(size=SIZE) as pilot:
        view = view_of(app)
        view.append(lines)
        # No filter, no wrapping: the JSON lines wait to be drawn.
        buffer = view.buffer
        pending = [e for e in buffer.entries() if e.text is None]
        assert len(pending) == 4 and buffer.max_width < 300
        await pilot.pause()  # the last lines (the wide one among them) are drawn
        wide_entry = list(buffer.entries())[100]
        assert wide_entry.cells > 300  # its width, from the drawing
        assert buffer.max_width == buffer.entry_width(wide_entry)
        assert view.virtual_size.width == buffer.max_width
        assert "wide k=" in screen_text(view)
        # Wrapping needs every width: the lines not drawn get theirs first.
        view.clear()
        view.append(lines)
        view.wrap = True
        assert all(e.text is not None for e in buffer.entries(shown=True))
        wide_entry = list(buffer.entries())[100]
        rows = [r for r in buffer.window(0, buffer.row_count) if r[0] is wide_entry]
        assert len(rows) > 1 and [piece for _entry, piece in rows] == list(range(len(rows)))
        # A filter on the text works out what it looks at.
        view.wrap = False
        view.clear()
        view.append(lines)
        view.set_include("narrow")
        assert [e.text for e in buffer.entries(shown=True)] == ["narrow"] * 3


# Untrusted text -----------------------------------------------------------------------------------


HOSTILE = [
    "[/",
    "[@click=app.quit]x",
    "[TODO] fix this",
    "\x1b[31mred\x1b[0m and \x1b]0;title\x07",
    "nul\x00bell\x07del\x7f c1\x9b",
    "[bold]not bold[/bold] [link=https://evil.example]link[/link]",
]


async def test_hostile_text_is_shown_literally_and_triggers_nothing() -> None:
    app = LogApp()
    async with app.run_test(size=SIZE) as pilot:
        view = view_of(app)
        view.append([line(m, i=i, instance="[@click=app.quit]pod") for i, m in enumerate(HOSTILE)])
        view.append([line("{\"msg\": \"[/\", \"k\": \"[@click=app.quit]y\"}", i=50)])
        await pilot.pause()
        text = screen_text(view)
        assert "[/" in text
        assert "[@click=app.quit]x" in text
        assert "[TODO] fix this" in text
        # A colour code is a colour, never text; every other escape stays visible.
        assert "red and ␛]0;title␇" in text and "␛[31m" not in text
        assert "nul␀bell␇del␡ c1\ufffd" in text
        assert "[bold]not bold[/bold] [link=https://evil.example]link[/link]" in text
        assert "[/ k=[@click=app.quit]y" in text
        assert text.count("[@click=app.quit]pod") == len(HOSTILE)
        # No strip carries an action or a link.
        for y in range(len(HOSTILE) + 1):
            for seg in view.render_line(y):
                assert not (seg.style and (seg.style.meta or seg.style.link)), seg
        for y in range(len(HOSTILE) + 1):
            await pilot.click(view, offset=(15, y))
            await pilot.click(view, offset=(2, y))
        await pilot.pause()
        assert app.is_running and app.return_code is None


async def test_megabyte_line_renders_cut_and_app_survives() -> None:
    app = LogApp()
    async with app.run_test(size=SIZE) as pilot:
        view = view_of(app)
        huge = "A" * 1_000_000 + "THE-END"
        view.append([line(huge, i=0), line("[/" * 500_000, i=1), line("after", i=2)])
        await pilot.pause()
        assert view.virtual_size.width == MAX_VIRTUAL_WIDTH
        text = screen_text(view)
        assert "AAAA" in text and "after" in text
        view.focus()
        await pilot.press("end", "ctrl+pagedown")
        view.scroll_to(x=MAX_VIRTUAL_WIDTH, animate=False)
        await pilot.pause()
        assert "[/[/" in screen_text(view)

        view.wrap = True
        await pilot.pause()
        width = view.scrollable_content_region.width
        cut = render.log_line(line(huge), instance_style="").cell_len
        assert cut < len(huge)
        assert view.virtual_size.height > 2 * math.ceil(cut / width) - 2
        view.scroll_to(y=pieces(line(huge), width) - 1, animate=False)
        await pilot.pause()
        assert "chars]" in screen_text(view)  # the "… [+N chars]" marker, not the end
        assert "THE-END" not in screen_text(view)
        view.set_search("the-end|a{5}")
        view.scroll_to(y=0, animate=False)
        await pilot.pause()
        assert "AAAAA" in screen_text(view)
        strip = view.render_line(0)
        assert any(seg.text.startswith("AAAAA") and seg.style and seg.style.bgcolor
                   and seg.style.bgcolor.name == "yellow" for seg in strip)
        await pilot.click(view, offset=(3, 3))
        assert app.is_running and app.return_code is None


async def test_invalid_utf8_and_lone_surrogates(tmp_path: Path) -> None:
    app = LogApp()
    async with app.run_test(size=SIZE) as pilot:
        view = view_of(app)
        decoded = b"bad \xff\xfe bytes \xc3(".decode("utf-8", errors="replace")
        escaped = b"esc \xff bytes".decode("utf-8", errors="surrogateescape")
        view.append([
            line(decoded, i=0),
            line(escaped, i=1, instance="pod-\udcff"),
            line("lone \ud800 high", i=2),
            line('{"msg": "json \\ud800 escaped"}', i=3),
        ])
        view.set_search("bytes")
        await pilot.pause()
        text = screen_text(view)
        assert "bad \ufffd\ufffd bytes \ufffd(" in text
        assert "esc \ufffd bytes" in text and "pod-\ufffd" in text
        assert "lone \ufffd high" in text
        assert "json \ufffd escaped" in text
        assert view.next_match()
        view.wrap = True
        await pilot.pause()
        assert screen_text(view)
        out = tmp_path / "out.log"
        assert view.save(out) == 4
        assert out.read_text(encoding="utf-8").count("\n") == 4
        assert app.is_running


# Saving -------------------------------------------------------------------------------------------


async def test_save_filtered_and_all(tmp_path: Path) -> None:
    app = LogApp(max_lines=4)
    async with app.run_test(size=SIZE):
        view = view_of(app)
        view.append([
            line("evicted", i=0),
            line("first\nsecond\r\nthird", i=1, instance="pod-a", level=LogLevel.ERROR),
            line('{"msg":"json kept raw","k":1}', i=2, instance="pod-b"),
            line("[/ markup-ish", i=3, level=LogLevel.UNKNOWN),
            line("other", i=4, level=LogLevel.DEBUG),
        ])
        view.set_exclude("other")
        out = tmp_path / "filtered.log"
        assert view.save(out) == 3
        assert out.read_text(encoding="utf-8").split("\n") == [
            "2024-05-01T12:30:45.124456+00:00 pod-a ERROR first␊second␍␊third",
            '2024-05-01T12:30:45.125456+00:00 pod-b INFO {"msg":"json kept raw","k":1}',
            "2024-05-01T12:30:45.126456+00:00 pod-a UNKNOWN [/ markup-ish",
            "",
        ]
        everything = tmp_path / "all.log"
        assert view.save(everything, filtered=False) == 4
        lines = everything.read_text(encoding="utf-8").splitlines()
        assert len(lines) == 4 and lines[-1].endswith("DEBUG other")
        with pytest.raises(OSError):
            view.save(tmp_path)  # a directory
        with pytest.raises(OSError):
            view.save(tmp_path / "missing" / "x.log")


# Throughput and memory ----------------------------------------------------------------------------


async def test_two_hundred_thousand_lines_stay_bounded() -> None:
    app = LogApp(max_lines=5_000)
    async with app.run_test(size=SIZE) as pilot:
        view = view_of(app)
        view.set_include("line")
        view.set_search("7")
        batch_template = [
            line(f"line {i} " + ("{json}" if i % 7 else "plain"), i=i, instance=f"pod-{i % 5}")
            for i in range(1000)
        ]
        for batch in range(200):
            view.append(batch_template)
            if batch % 50 == 0:
                await pilot.pause()
        view.wrap = True
        for batch in range(20):
            view.append(batch_template)
        await pilot.pause()
        assert view.total == 220_000
        assert view.buffered == 5_000 == view.shown
        assert view.dropped == 215_000
        # (That memory stays bounded by max_lines is measured in tests/test_logbuffer.py.)
        assert view.scroll_offset.y == view.max_scroll_y
        assert screen_text(view).strip()


# Drawing ------------------------------------------------------------------------------------------

def _cells_of(segments: object) -> list[tuple[str, object]]:
    return [(char, segment.style) for segment in segments for char in segment.text]  # type: ignore[attr-defined]


@pytest.mark.parametrize("search", [None, r"5\d\d|timeout", "1", ":", "a", "[A-Z]+", "x*",
                                    "pod", "ok.*err", "(?i)ERROR"])
def test_drawn_segments_are_what_rich_draws_for_the_text(search: str | None) -> None:
    from rich.console import Console
    from rich.style import Style

    console = Console(width=200, color_system="truecolor", legacy_windows=False)
    base = Style.parse("white on #101010")
    samples = [
        line("GET /api 503 timeout after 500 ms", level=LogLevel.ERROR),
        line('{"msg":"ok","status":500,"user":"a b","err":null}', instance="pod-ä"),
        line("wide 日本語 😀 \x1b[31m ctl\x00", level=LogLevel.UNKNOWN, instance="ノード-1"),
        line("", level=LogLevel.FATAL),
        line("[bold]markup[/] [@click=app.quit]x", level=LogLevel.DEBUG),
        line("x" * 300 + " timeout", level=LogLevel.WARN, instance="i" * 80),
    ]
    regex = compile_pattern(search) if search else None
    for item in samples:
        for ts in (True, False):
            for inst in (True, False):
                for as_fields in (True, False):
                    text = render.log_line(item, instance_style="cyan", show_timestamp=ts,
                                           show_instance=inst, as_fields=as_fields,
                                           highlight=regex)
                    text.stylize_before(base)
                    expected = _cells_of(text.render(console))
                    got = _cells_of(render.log_line_segments(
                        item, base=base, instance_style="cyan", show_timestamp=ts,
                        show_instance=inst, as_fields=as_fields, highlight=regex))
                    assert got == expected, (item.message[:40], ts, inst, as_fields)


# The Logs pane under the sandbox flood ------------------------------------------------------------


async def test_the_logs_pane_under_a_flood_adds_up_and_paces_the_collector(tmp_path: Path) -> None:
    from fakes import wait_until

    from idp_tui.demo import DEMO_SIZE, demo_app, wait_settled
    from idp_tui.logs import CollectionPacer
    from idp_tui.ui.panes import LogsPane

    app = demo_app(tmp_path, flood=True)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        pane = app.query_one(LogsPane)
        collected: list[int] = []
        # Every tick is due (the pace itself is tested without Textual, by the clock).
        pane.collector = CollectionPacer(young_every=0.0, full_every=1e9, collect=collected.append)
        app.show_pane("logs")
        view = pane.view
        await wait_until(pilot, lambda: view.dropped > 3 * view.max_lines and collected,
                         "a flood past the buffer, and a collection")
        # The status line, as drawn while the flood runs, adds up as written.
        await wait_until(pilot, lambda: "dropped" in str(app.query_one("#logs-status").render()),
                         "the status line counting dropped lines")
        status = str(app.query_one("#logs-status").render())
        numbers = {word: int(number.replace(",", "")) for number, word in
                   re.findall(r"([\d,]+) (shown|kept|dropped|received)", status)}
        assert numbers["kept"] + numbers["dropped"] == numbers["received"], status
        assert numbers["kept"] == view.max_lines and numbers["dropped"] > 0
        pane.stop_stream()  # what was handed over and not taken goes with the stream
        await pilot.pause()
        assert view.buffered == view.max_lines
        assert view.total == view.buffered + view.dropped
        assert f"{view.buffered:,} kept + {view.dropped:,} dropped = {view.total:,} received" \
            in view.buffer.summary()
        assert set(collected) == {1}
