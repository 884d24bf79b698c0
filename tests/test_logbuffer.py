"""The Logs pane's buffer without Textual (idp_tui.logs.LogBuffer): the bound and the counts,
filters, search, the shown rows (wrapped or not), JSON lines worked out on demand, memory."""

from __future__ import annotations

import gc
import random
import re
import subprocess
import sys
import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest

from idp_tui import render
from idp_tui.api.models import LogLevel, LogLine
from idp_tui.logs import LogBuffer
from idp_tui.logs.buffer import LEVEL_WIDTH, MAX_INSTANCES, TIMESTAMP_WIDTH, wrapped_rows

T0 = datetime(2024, 5, 1, 12, 30, 45, 123456, tzinfo=UTC)


def line(message: str, *, i: int = 0, instance: str = "pod-a",
         level: LogLevel = LogLevel.INFO) -> LogLine:
    return LogLine(ts=T0 + timedelta(milliseconds=i), service="svc", environment="dev",
                   instance=instance, level=level, message=message)


def numbered(n: int, start: int = 0, **kwargs: object) -> list[LogLine]:
    return [line(f"line {i}", i=i, **kwargs)  # type: ignore[arg-type]
            for i in range(start, start + n)]


def shown(buffer: LogBuffer) -> list[str]:
    return [e.line.message for e in buffer.entries(shown=True)]


def counts(buffer: LogBuffer) -> tuple[int, int, int, int, int]:
    return buffer.received, buffer.kept, buffer.dropped, buffer.shown, buffer.filtered


def test_the_buffer_does_not_import_textual() -> None:
    code = ("import sys, idp_tui.logs; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'pydantic'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out


# The bound and the counts --------------------------------------------------------------------------


def test_received_is_kept_plus_dropped() -> None:
    buffer = LogBuffer(max_lines=5)
    assert counts(buffer) == (0, 0, 0, 0, 0)
    buffer.append(numbered(3))
    assert counts(buffer) == (3, 3, 0, 3, 0)
    buffer.append(numbered(4, start=3), dropped=2)  # 2 evicted, 2 lost before they came
    assert counts(buffer) == (9, 5, 4, 5, 0)
    buffer.append(numbered(12, start=7))  # 7 of the batch never fit, the 5 kept before go
    assert counts(buffer) == (21, 5, 16, 5, 0)
    assert shown(buffer) == [f"line {i}" for i in range(14, 19)]
    buffer.append([], dropped=3)
    assert counts(buffer) == (24, 5, 19, 5, 0)
    assert buffer.append([]) == (0, 0)  # nothing at all
    assert counts(buffer) == (24, 5, 19, 5, 0)
    buffer.append([], dropped=-4)  # (a negative count is not a count)
    assert buffer.dropped == 19


def test_a_producer_dropping_more_than_it_hands_over_still_adds_up() -> None:
    # A flood: the stream drops far more than the view is given (a Logs pane once read
    # "20,000 kept / 108,302,000 received 108,869,000 dropped").
    rnd = random.Random(13)
    buffer = LogBuffer(max_lines=200)
    buffer.set_include("7")
    handed = lost = 0
    for batch in range(300):
        n = rnd.randrange(0, 600)
        drops = rnd.randrange(0, 5000)
        buffer.append(numbered(n, start=handed), dropped=drops)
        handed += n
        lost += drops
        assert buffer.received == handed + lost == buffer.kept + buffer.dropped
        assert buffer.kept == buffer.shown + buffer.filtered
        assert buffer.kept <= buffer.max_lines
    assert buffer.dropped > buffer.kept


def test_clear_resets_the_counts_and_the_instances_but_not_the_filters() -> None:
    buffer = LogBuffer(max_lines=10)
    buffer.set_include("keep")
    buffer.set_wrap(40)
    buffer.append([line("keep 1", instance="x"), line("drop", instance="x")], dropped=5)
    buffer.clear()
    assert counts(buffer) == (0, 0, 0, 0, 0) and buffer.row_count == 0
    assert buffer.instance("x") is None and buffer.include == "keep"
    assert buffer.wrap_width == 40
    buffer.append([line("keep 2", instance="y"), line("drop")])
    assert shown(buffer) == ["keep 2"]
    assert buffer.instance("y").colour == 0  # type: ignore[union-attr]


def test_max_lines_is_at_least_one() -> None:
    buffer = LogBuffer(max_lines=0)
    buffer.append(numbered(3))
    assert buffer.max_lines == 1 and shown(buffer) == ["line 2"] and buffer.dropped == 2


# Filters ------------------------------------------------------------------------------------------


def mixed() -> list[LogLine]:
    return [
        line("GET /health 200", i=0, instance="api-1"),
        line("POST /orders 201", i=1, instance="api-2"),
        line("get lowercase call", i=2, instance="worker-1"),
        line("payment failed", i=3, instance="worker-2", level=LogLevel.ERROR),
    ]


def test_filters_look_at_the_message_and_the_instance_with_smart_case() -> None:
    buffer = LogBuffer()
    buffer.append(mixed())
    buffer.set_include("get")
    assert shown(buffer) == ["GET /health 200", "get lowercase call"]
    buffer.set_include("GET")
    assert shown(buffer) == ["GET /health 200"]
    buffer.set_include("worker")
    buffer.set_exclude("failed")
    assert shown(buffer) == ["get lowercase call"]
    assert (buffer.shown, buffer.filtered) == (1, 3)
    buffer.set_exclude("api-")
    buffer.set_include(None)
    assert shown(buffer) == ["get lowercase call", "payment failed"]
    # New lines are filtered as they come.
    buffer.append([line("from api", instance="api-9"), line("from worker", instance="w")])
    assert shown(buffer)[-1] == "from worker"
    with pytest.raises(re.error):
        buffer.set_include("(unclosed")
    with pytest.raises(re.error):
        buffer.set_exclude("[a-")
    assert buffer.include is None and buffer.exclude == "api-"


def test_min_level_lets_unknown_levels_through() -> None:
    buffer = LogBuffer()
    buffer.append([line(level.value, i=i, level=level) for i, level in enumerate(LogLevel)])
    buffer.set_min_level(LogLevel.WARN)
    assert shown(buffer) == ["warn", "error", "fatal", "unknown"]
    assert buffer.min_level is LogLevel.WARN
    buffer.append([line("debug later", level=LogLevel.DEBUG),
                   line("error later", level=LogLevel.ERROR)])
    assert shown(buffer)[-1] == "error later" and buffer.shown == 5
    buffer.set_min_level(None)
    assert buffer.shown == buffer.kept == 9


def test_json_lines_are_filtered_on_their_fields_or_raw() -> None:
    buffer = LogBuffer()
    raw = '{"msg":"user logged in","level":"info","user":"bob","attempt":3}'
    buffer.append([line(raw), line("plain text")])
    entry = next(buffer.entries())
    assert entry.text is None  # not needed yet: worked out when drawn or filtered
    assert buffer.text_of(entry) == "user logged in user=bob attempt=3"
    buffer.set_include("user=bob")
    assert shown(buffer) == [raw]
    buffer.set_json_fields(False)
    assert not buffer.json_fields and shown(buffer) == []  # the raw JSON has no "user=bob"
    buffer.set_include('"user":"bob"')
    assert shown(buffer) == [raw] and buffer.text_of(entry) == raw


# Search -------------------------------------------------------------------------------------------


def test_find_walks_the_shown_matches_both_ways() -> None:
    buffer = LogBuffer()
    buffer.append([line(f"row {i} {'needle' if i in (10, 50, 90) else 'hay'}", i=i)
                   for i in range(100)])
    assert buffer.find(forward=True) is None  # no search
    buffer.set_search("NEEDLE".lower())
    assert buffer.search_regex is not None and buffer.search_regex.flags & re.IGNORECASE
    assert buffer.find(forward=False) == 90 and buffer.cursor == 90
    assert buffer.cursor_line is not None and buffer.cursor_line.message == "row 90 needle"
    assert buffer.find(forward=False) == 50
    assert buffer.find(forward=False) == 10
    assert buffer.find(forward=False) is None and buffer.cursor == 10  # stays
    assert buffer.find(forward=True) == 50
    # Without a cursor, from a given line (a view passes the first on screen) on.
    buffer.clear_cursor()
    assert buffer.find(forward=True, start=51) == 90
    buffer.clear_cursor()
    assert buffer.find(forward=False, start=49) == 10
    # Only the shown lines: the cursor's line filtered out, the cursor goes.
    buffer.set_exclude("row 10")
    assert buffer.cursor is None and buffer.cursor_seq is None
    buffer.set_search("needle")
    assert buffer.find() == 49  # (row 50, one line fewer before it)
    assert buffer.entry(49).line.message == "row 50 needle"
    buffer.set_search(None)
    assert buffer.find() is None and buffer.cursor_line is None


def test_the_cursor_goes_with_its_line() -> None:
    buffer = LogBuffer(max_lines=10)
    buffer.append(numbered(10))
    buffer.set_search("line 3")
    assert buffer.find() == 3
    buffer.append(numbered(3, start=10))  # evicts lines 0..2
    assert buffer.cursor == 0 and buffer.cursor_line.message == "line 3"  # type: ignore[union-attr]
    buffer.append(numbered(1, start=13))
    assert buffer.cursor is None


# Rows ---------------------------------------------------------------------------------------------


def width_of(item: LogLine, **kwargs: bool) -> int:
    return render.log_line(item, instance_style="", **kwargs).cell_len


def test_rows_one_per_line_or_one_per_piece_when_wrapped() -> None:
    buffer = LogBuffer(max_lines=4)
    long = line("word " * 60 + "END", i=1)
    buffer.append([line("short", i=0), long])
    assert buffer.wrap_width is None
    assert buffer.row_count == 2 and buffer.max_width == width_of(long)
    assert [(e.line.message, piece) for e, piece in buffer.window(0, 10)] == [
        ("short", 0), (long.message, 0)]
    assert buffer.row(-1) is None and buffer.row(2) is None

    buffer.set_wrap(80)
    # The continuation rows start under the message, so they hold fewer cells than the first.
    prefix = width_of(long) - len(long.message)
    pieces = wrapped_rows(width_of(long), prefix, 80)
    assert pieces == 1 + -(-(width_of(long) - 80) // (80 - prefix)) > -(-width_of(long) // 80)
    assert pieces > 1 and buffer.row_count == 1 + pieces
    assert [piece for _e, piece in buffer.window(1, 100)] == list(range(pieces))
    assert buffer.index_at_row(pieces) == 1 and buffer.row_of(1) == 1
    assert buffer.index_at_row(1 + pieces) is None
    seq_long = buffer.row(1)[0].seq  # type: ignore[index]
    assert buffer.row_of_seq(seq_long) == 1 and buffer.index_of(seq_long) == 1

    # Appending and evicting keep the rows.
    result = buffer.append([long, line("tail", i=3)])
    assert result == (2, 0) and buffer.row_count == 2 + 2 * pieces
    result = buffer.append([line("x", i=4), line("y", i=5)])  # "short" and the first long go
    assert result == (2, 1 + pieces)
    assert buffer.row_count == pieces + 3 and buffer.index_of(seq_long) is None
    # A seq no longer shown: the row of the first line after it.
    assert buffer.row_of_seq(seq_long) == 0

    # Columns change the widths, and so the pieces.
    buffer.set_columns(timestamps=False, instances=False)
    narrower = width_of(long, show_timestamp=False, show_instance=False)
    assert narrower == width_of(long) - TIMESTAMP_WIDTH - len("pod-a ")
    assert buffer.row_count == wrapped_rows(narrower, LEVEL_WIDTH, 80) + 3
    assert buffer.entry_width(buffer.entry(0)) == narrower
    assert LEVEL_WIDTH == len("INFO  ")

    buffer.set_wrap(None)
    assert buffer.row_count == 4 and buffer.max_width == narrower


def test_a_json_line_drawn_wider_than_assumed_corrects_the_layout() -> None:
    buffer = LogBuffer()
    wide = line('{"msg":"wide","k":"' + "w" * 300 + '"}')
    buffer.append([line("plain"), wide])
    entry = buffer.entry(1)
    assert entry.text is None and buffer.max_width < 300  # not drawn yet
    drawn = width_of(wide)
    assert buffer.note_drawn_width(entry, drawn)  # the widest line grew
    assert buffer.max_width == drawn == buffer.entry_width(entry)
    assert not buffer.note_drawn_width(entry, drawn)  # known now
    # Wrapping needs every width: the lines not drawn yet get their text first.
    buffer.clear()
    buffer.append([line("plain"), wide])
    buffer.set_wrap(100)
    assert buffer.entry(1).text is not None
    assert buffer.row_count == 1 + wrapped_rows(drawn, buffer.entry_width(entry) - entry.cells, 100)


def test_instances_get_their_colour_in_order_and_are_forgotten_when_gone() -> None:
    buffer = LogBuffer(max_lines=10)
    buffer.append([line("m", instance=f"pod-{i}") for i in range(3)])
    buffer.append([line("again", instance="pod-1"), line("m", instance="[/bold]")])
    assert [buffer.instance(f"pod-{i}").colour for i in range(3)] == [0, 1, 2]  # type: ignore[union-attr]
    assert buffer.instance("[/bold]").label == "[/bold]"  # type: ignore[union-attr]
    assert buffer.instance("never") is None
    # Many short-lived names (pods come and go): the ones with no line kept are forgotten.
    for start in range(0, MAX_INSTANCES + 10, 5):
        buffer.append([line("m", instance=f"churn-{i}") for i in range(start, start + 5)])
    assert buffer.instance("pod-0") is None
    assert buffer.instance(f"churn-{MAX_INSTANCES + 9}") is not None


# Memory -------------------------------------------------------------------------------------------


def test_memory_is_bounded_by_max_lines_not_by_what_went_through() -> None:
    template = [line(f"line {i} " + ("{json}" if i % 7 else "plain"), i=i,
                     instance=f"pod-{i % 5}") for i in range(250)]
    buffer = LogBuffer(max_lines=1_000)
    buffer.set_include("line")
    buffer.set_search("7")
    buffer.set_wrap(60)

    def feed(batches: int) -> None:
        for _ in range(batches):
            buffer.append(template)

    feed(20)  # full, and past the first compaction
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        feed(200)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert buffer.received == 55_000 and buffer.kept == 1_000 == buffer.shown
    # 50,000 more lines went through (keeping each one's entry and row would be about 9 MB):
    # what grows is the dead head of the shown lines and rows, up to 1,024 plus max_lines before
    # they are compacted (about 0.5 MB at most).
    assert grown < 2_000_000, grown


def test_the_package_names_resolve() -> None:
    import idp_tui.logs as logs

    assert all(getattr(logs, name) is not None for name in logs.__all__)
    with pytest.raises(AttributeError):
        logs.nothing_here  # noqa: B018
