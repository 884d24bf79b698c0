"""The Logs pane's lines under a flood, without Textual: the counts add up whatever is dropped on
the way (by the producer, in the hand-over to the view, evicted from the buffer) and the status
line says so; memory stays bounded with many instances and long lines; the collector's pace."""

from __future__ import annotations

import gc
import random
import re
import tracemalloc
from datetime import UTC, datetime, timedelta

from idp_tui.api.models import LogLevel, LogLine
from idp_tui.logs import LogBuffer
from idp_tui.logs.buffer import MAX_INSTANCES
from idp_tui.logs.handover import Handover
from idp_tui.logs.pacer import CollectionPacer

T0 = datetime(2024, 5, 1, 12, 30, 45, tzinfo=UTC)


def line(message: str, *, i: int = 0, instance: str = "pod-a",
         level: LogLevel = LogLevel.INFO) -> LogLine:
    return LogLine(ts=T0 + timedelta(milliseconds=i), service="svc", environment="dev",
                   instance=instance, level=level, message=message)


def numbered(n: int, start: int = 0) -> list[LogLine]:
    return [line(f"line {i}", i=i, instance=f"pod-{i % 3}") for i in range(start, start + n)]


def summary_numbers(text: str) -> dict[str, int]:
    return {word: int(number.replace(",", ""))
            for number, word in re.findall(r"([\d,]+) (shown|kept|dropped|received)", text)}


# The counts and what the status line says ---------------------------------------------------------


def test_the_summary_adds_up_as_written() -> None:
    buffer = LogBuffer(max_lines=1_000)
    assert buffer.summary() == "0 shown / 0 kept / 0 received"
    buffer.set_include("7")
    buffer.append(numbered(800))
    sevens = sum("7" in str(i) for i in range(800))
    assert buffer.summary() == f"{sevens} shown / 800 kept / 800 received"
    buffer.append(numbered(700, start=800), dropped=108_869_000)
    sevens = sum("7" in str(i) for i in range(500, 1_500))
    assert buffer.summary() == \
        f"{sevens} shown / 1,000 kept + 108,869,500 dropped = 108,870,500 received"
    numbers = summary_numbers(buffer.summary())
    assert numbers["kept"] + numbers["dropped"] == numbers["received"]
    assert numbers["shown"] <= numbers["kept"]


def test_counts_add_up_under_random_drops_at_every_stage() -> None:
    # The producer drops lines (a source's own buffer), the hand-over to the view drops what could
    # not survive the buffer, the buffer evicts: every line is kept or counted dropped, once.
    rnd = random.Random(7)
    limit = 500
    handover, buffer = Handover(limit), LogBuffer(max_lines=limit)
    buffer.set_min_level(LogLevel.WARN)
    sent = producer_dropped = 0
    levels = (LogLevel.INFO, LogLevel.WARN)
    for _step in range(800):
        if rnd.random() < 0.7:
            n = rnd.choice((0, 1, rnd.randrange(1, 200), rnd.randrange(200, 1_500)))
            lost = rnd.choice((0, 0, rnd.randrange(0, 50), rnd.randrange(0, 100_000)))
            lines = [LogLine.model_construct(ts=T0, service="svc", environment="dev",
                                             instance="pod", level=rnd.choice(levels),
                                             message=f"m {sent + k}") for k in range(n)]
            urgent = handover.add(lines, lost)
            assert urgent == (handover.waiting >= limit // 2)
            assert handover.waiting <= limit
            sent += n
            producer_dropped += lost
        else:
            lines, dropped = handover.take()
            buffer.append(lines, dropped)
            assert not handover and handover.waiting == handover.dropped == 0
        # Lines in flight (waiting, or dropped and not yet told) plus the buffer's count: all.
        assert buffer.received + handover.waiting + handover.dropped == sent + producer_dropped
        assert buffer.received == buffer.kept + buffer.dropped
        assert buffer.kept == buffer.shown + buffer.filtered <= limit
        numbers = summary_numbers(buffer.summary())
        assert numbers["received"] == buffer.received
        assert numbers.get("dropped", 0) + numbers["kept"] == numbers["received"]
    lines, dropped = handover.take()
    buffer.append(lines, dropped)
    assert buffer.received == sent + producer_dropped
    # The newest lines are the ones kept, in order.
    kept = [int(e.line.message.split()[1]) for e in buffer.entries()]
    assert kept == sorted(kept) and kept[-1] == sent - 1


def test_the_handover_keeps_the_newest_lines_up_to_its_limit() -> None:
    handover = Handover(10)
    assert not handover and handover.add(numbered(3)) is False
    assert handover.add(numbered(2, start=3), dropped=4) is True  # 5 waiting: half the limit
    assert handover.add(numbered(12, start=5), dropped=-1) is True  # (not a count)
    assert handover.waiting == 10 and handover.dropped == 4 + 7
    lines, dropped = handover.take()
    assert [x.message for x in lines] == [f"line {i}" for i in range(7, 17)] and dropped == 11
    assert handover.take() == ([], 0)
    handover.add([], dropped=3)
    assert handover and handover.waiting == 0
    handover.clear()
    assert not handover and Handover(0).limit == 1


# Memory ---------------------------------------------------------------------------------------------


def test_memory_stays_bounded_with_many_instances_and_long_lines() -> None:
    # A flood of long lines from ever new pods (restarts), some JSON, with a filter, a search and
    # wrapping on: what the buffer holds is bounded by max_lines (and the instance table by
    # MAX_INSTANCES), not by how many lines or pods went through.
    buffer = LogBuffer(max_lines=1_000)
    buffer.set_include("[02468]$|json")
    buffer.set_search("9")
    buffer.set_wrap(120)
    counter = 0

    def feed(batches: int) -> None:
        nonlocal counter
        for _ in range(batches):
            batch = []
            for k in range(250):
                counter += 1
                pad = f"{counter:08d}" * 250  # 2,000 characters, a new string for every line
                message = (f'{{"msg":"json {pad}","n":{counter}}}' if k % 5 == 0
                           else f"{pad} {counter}")
                batch.append(line(message, i=counter, instance=f"pod-{counter // 5}"))
            buffer.append(batch, dropped=counter % 7)

    tracemalloc.start()  # (before the first line: what is kept is traced from the start)
    try:
        feed(40)  # full, past the first compaction and the first forgetting of instances
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        samples = []
        for _ in range(4):
            feed(15)
            gc.collect()
            samples.append(tracemalloc.get_traced_memory()[0] - before)
    finally:
        tracemalloc.stop()
    assert counter // 5 > MAX_INSTANCES  # many pods came and went
    assert buffer.kept == 1_000 and buffer.received == buffer.kept + buffer.dropped
    assert buffer.received > 25_000
    # 15,000 more lines of 2 kB went through (keeping them would be over 30 MB): the buffer
    # holds the last 1,000 either way (about 3 MB with their rows and JSON lines' text), and
    # the instances still in use; what differs is the dead head of its lists, which vary.
    assert max(samples) < 3_000_000, samples
    assert samples[-1] < samples[0] + 1_000_000, samples  # no trend


def test_memory_stays_bounded_with_many_buffers() -> None:
    # Buffers made and thrown away (a stream per service chosen) leave nothing behind.
    def use() -> None:
        buffer = LogBuffer(max_lines=200)
        buffer.set_include("1")
        buffer.append(numbered(500))
        buffer.set_wrap(30)
        buffer.set_search("2")
        buffer.find()

    for _ in range(20):
        use()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(300):
            use()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 200_000, grown


# The collector's pace ---------------------------------------------------------------------------------


def test_the_pacer_collects_by_the_clock_not_by_the_lines() -> None:
    collected: list[int] = []
    pacer = CollectionPacer(young_every=2.0, full_every=30.0, collect=collected.append)
    assert pacer.tick(100.0) is None  # the first lines start the clock
    assert [pacer.tick(t) for t in (100.5, 101.9)] == [None, None] and collected == []
    assert pacer.tick(102.0) == 1 and collected == [1]
    assert pacer.tick(103.0) is None
    times = [104.0 + 0.1 * k for k in range(300)]  # ten ticks a second for 30 s
    results = [pacer.tick(t) for t in times]
    assert results.count(2) == 1 and collected.count(2) == 1  # at 130 s
    assert 12 <= results.count(1) <= 15  # every 2 s
    assert pacer.young == collected.count(1) and pacer.full == 1
    pacer.reset()
    assert pacer.tick(500.0) is None  # the clock starts again
    assert pacer.tick(501.0) is None and pacer.tick(502.0) == 1


def test_the_pacer_collects_garbage_cycles() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self

    pacer = CollectionPacer(young_every=1.0, full_every=10.0)
    before = gc.get_threshold()
    gc.set_threshold(1_000_000, 10, 100)  # the dashboard's lazy collector
    try:
        gc.collect()
        pacer.tick(0.0)
        for _ in range(5_000):
            Node()
        assert sum(type(o) is Node for o in gc.get_objects(0)) == 5_000
        assert pacer.tick(1.0) == 1
        assert not any(type(o) is Node for o in gc.get_objects())
    finally:
        gc.set_threshold(*before)
