"""Live log streams: lines from one or more sources, handed over in batches with backpressure.

Each source's generator runs on the source's own loop; lines are gathered there and handed to the
consumer's loop about every :data:`LOG_FLUSH_SECONDS` (or at :data:`LOG_BATCH_MAX` lines), at most
:data:`LOG_MAX_IN_FLIGHT` batches ahead of the consumer, so a flood never outruns the pane.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..api.errors import SourceDataError
from ..api.models import JobLogQuery, LogLine, LogQuery
from ..api.source import Capability
from .failures import Failure, classify
from .logmerge import BackfillMerge
from .runner import SourceRunner
from .validation import validate_one

if TYPE_CHECKING:
    from .core import Hub

log = logging.getLogger("idp_tui.hub")

#: How often a log stream hands a batch to the pane.
LOG_FLUSH_SECONDS = 0.05
#: A batch is handed over early when it reaches this size.
LOG_BATCH_MAX = 5_000
#: Batches handed over but not yet taken by the consumer's loop: the stream holds the lines it
#: has read and stops reading its sources meanwhile (a source's own buffer then fills, and it
#: waits or drops as it sees fit), instead of reading lines only to throw them away.
LOG_MAX_IN_FLIGHT = 4
#: How often a paused log stream checks whether it may read its sources again.
LOG_PAUSE_POLL = 0.005


class LogStream:
    """A live log stream from one or more sources, delivered in batches with backpressure."""

    def __init__(self, hub: Hub, query: LogQuery | JobLogQuery,
                 on_batch: Callable[[list[LogLine], int], None],
                 on_error: Callable[[Failure], None], on_end: Callable[[], None] | None,
                 *, runners: list[SourceRunner] | None = None, method: str = "logs") -> None:
        self.hub = hub
        self.query = query
        self._runners = runners
        self._method = method
        self._on_batch = on_batch
        self._on_error = on_error
        self._on_end = on_end
        self._futures: list[concurrent.futures.Future[None]] = []
        self._cancelled = False
        self._sent = 0  # written by source threads only
        self._taken = 0  # written by the consuming loop only
        self._running = 0
        self._paused = False  # written by the consuming loop, read by source threads
        self.dropped = 0
        #: Several sources' past lines merged by time before the live ones (``logmerge.py``).
        self._merge: BackfillMerge | None = None

    def start(self, loop: asyncio.AbstractEventLoop,
              runners: list[SourceRunner] | None = None) -> None:
        """Start reading ``runners`` (default: those given at construction, else every source
        with logs); the callbacks run on ``loop``."""
        self._loop = loop
        if self._cancelled:
            return
        if runners is None:
            runners = (self._runners if self._runners is not None
                       else self.hub.runners_for(Capability.LOGS))
        if not runners:
            what = "logs" if self._method == "logs" else "this run's logs"
            self._on_error(Failure("hub", "no source", f"no configured source offers {what}",
                                   "Add a source with logs to the config."))
            return
        self._running = len(runners)
        tail = getattr(self.query, "tail", 0)
        if self._method == "logs" and len(runners) > 1 and tail > 0:
            self._merge = BackfillMerge([r.name for r in runners], tail, self._hand_over)
            self._merge.start_wait(self.hub.timer)
        for runner in runners:
            self.hub._recovered(runner.name, self._method)  # a new stream: a fresh chance
            self._futures.append(runner.submit(self._pump(runner)))

    def cancel(self) -> None:
        self._cancelled = True
        if self._merge is not None:
            self._merge.cancel()
        for future in self._futures:
            future.cancel()
        self.hub._streams.discard(self)

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def pause(self) -> None:
        """Stop reading the sources until :meth:`resume` (for a consumer that has fallen behind).

        Lines already read are still handed over; a source is simply not asked for more, so a
        flood cannot take the CPU the consumer needs to catch up.
        """
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    @property
    def paused(self) -> bool:
        return self._paused

    # Runs on the source's loop.
    async def _pump(self, runner: SourceRunner) -> None:
        buffer: list[LogLine] = []
        malformed = 0
        done = asyncio.Event()

        def flush(final: bool = False) -> None:
            nonlocal buffer
            if not buffer:
                return
            if not final and self._sent - self._taken >= LOG_MAX_IN_FLIGHT:
                return  # held (at most a batch: the loop below reads nothing more meanwhile)
            batch, buffer = buffer, []
            self._sent += 1
            self._post(self._deliver, batch, 0)

        async def flusher() -> None:
            while not done.is_set():
                await asyncio.sleep(LOG_FLUSH_SECONDS)
                flush()

        flush_task = asyncio.get_running_loop().create_task(flusher())
        first = self._merge is not None  # this source's first item is its backfill, merged
        try:
            await runner._ensure_started()
            query = self.query
            environment = getattr(query, "environment", None)
            if environment:  # the source's own name for the platform's environment
                local = self.hub.environments.to_source(runner.name, environment)
                if local != environment:
                    query = query.model_copy(update={"environment": local})
            async for item in getattr(runner.source, self._method)(query):
                if self._cancelled:
                    break
                items = item if isinstance(item, list) else [item]
                if items and type(items[0]) is LogLine and len(set(map(type, items))) == 1:
                    buffer.extend(items)  # LogLine records only (the usual case): nothing to check
                    items = []
                for line in items:
                    if type(line) is not LogLine:
                        try:
                            line = validate_one(line, LogLine, "log line")
                        except (SourceDataError, ValidationError) as exc:
                            malformed += 1
                            if malformed == 1:
                                self._report(classify(runner.name, exc))
                            continue
                    buffer.append(line)
                if first:
                    first, past, buffer = False, buffer, []
                    self._post(self._backfilled, runner.name, past)
                if len(buffer) >= LOG_BATCH_MAX:
                    flush()
                    await asyncio.sleep(0)
                while not self._cancelled and (
                        self._paused or self._sent - self._taken >= LOG_MAX_IN_FLIGHT):
                    await asyncio.sleep(LOG_PAUSE_POLL)
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # noqa: BLE001 - report, never raise into the app
            self._report(classify(runner.name, exc))
        finally:
            done.set()
            flush_task.cancel()
            flush(final=True)
            if first:  # ended (or failed) before its past lines: none to wait for
                self._post(self._backfilled, runner.name, [])
            if not self._cancelled:
                self._post(self._source_ended)

    def _post(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the consuming loop is closed: the app is exiting
            self._cancelled = True

    def _report(self, failure: Failure) -> None:
        self._post(self._deliver_error, failure)

    # Runs on the consuming loop.
    def _deliver(self, batch: list[LogLine], dropped: int) -> None:
        self._taken += 1
        if self._cancelled:
            return
        if self._merge is not None and self._merge.live(batch, dropped):
            return  # held until every source's past lines are merged
        self._hand_over(batch, dropped)

    def _backfilled(self, source: str, lines: list[LogLine]) -> None:
        if not self._cancelled and self._merge is not None:
            self._merge.backfill(source, lines)

    def _hand_over(self, batch: list[LogLine], dropped: int) -> None:
        self.dropped += dropped
        try:
            self._on_batch(batch, dropped)
        except Exception:  # noqa: BLE001
            log.exception("log consumer failed")

    def _deliver_error(self, failure: Failure) -> None:
        service = getattr(self.query, "service", None) if self._method == "logs" else None
        if service and failure.error_class == "not found" \
                and self.hub.not_its_service(failure.source, service):
            return  # a source that does not know the service: silent, not failing
        if not self._cancelled:
            self.hub._failed(failure.source, self._method, failure)  # the health view shows it too
            try:
                self._on_error(failure)
            except Exception:  # noqa: BLE001
                log.exception("log error consumer failed")

    def _source_ended(self) -> None:
        self._running -= 1
        if self._running == 0 and not self._cancelled and self._on_end is not None:
            self._on_end()

