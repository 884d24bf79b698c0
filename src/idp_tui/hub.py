"""The hub: the only thing that talks to sources.

Sources → hub → panes. The hub owns refresh scheduling (one poll loop per watched topic, re-armed after
each refresh finishes), caching (the last good answer of every source), per-call timeouts and error
isolation. Each source runs on an event loop of its own in a thread of its own, so a source that
raises, hangs, blocks its thread or returns garbage only ever shows up as an error in its pane and in
the health view. Nothing in here imports Textual: the app and the command line share it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import re
import threading
import time
import traceback
import types
import typing
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from .api.actions import Resource
from .api.clock import Clock, SystemClock
from .api.errors import (
    NotSupported,
    PartialAnswer,
    SourceDataError,
    SourceError,
    SourceRateLimited,
)
from .api.models import (
    FACET_FIELDS,
    Alert,
    Deployment,
    Environment,
    Facet,
    FacetValue,
    JobLogQuery,
    LogLine,
    LogQuery,
    MetricSeries,
    MetricsQuery,
    PipelineQuery,
    PipelineRun,
    Service,
    ServiceDetail,
    ServiceSeries,
    Signal,
    SignalsQuery,
    Team,
    Window,
)
from .api.source import Capability, Source

log = logging.getLogger("idp_tui.hub")

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

#: Seconds between two refreshes of a watched topic, by kind.
DEFAULT_INTERVALS: dict[str, float] = {
    "catalog": 60.0,
    "environments": 5.0,
    "pipelines": 5.0,
    "pipeline_run": 2.0,
    "metrics": 15.0,
    "alerts": 15.0,
    "signals": 30.0,
    "resources": 10.0,
    "teams": 300.0,
    "facets": 60.0,
    "service_detail": 60.0,
}
#: Calls a source has not finished after the hub gave up on them (timed out, cancelled) before the
#: hub stops queueing more: a source that blocks its thread keeps them all. A source that answers
#: is never refused, however many calls it has at once (a refresh of every topic).
MAX_ABANDONED_CALLS = 4
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


# Errors ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Failure:
    """Why a call to a source failed, in words for the user."""

    source: str
    error_class: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        return f"{self.source}: {self.error_class}: {self.message}"


_HINTS = {
    "timeout": "The source did not answer in time; check that the system behind it is up, or raise "
               "its `timeout` in the config.",
    "unreachable": "Check the URL and that the system is reachable from this machine.",
    "auth": "Check the credentials configured for this source.",
    "malformed data": "The source returned records the dashboard cannot read; this is a bug in the "
                      "source plugin or an unexpected server answer.",
    "not responding": "The source is stuck on earlier calls; it may be blocking its thread.",
    "plugin error": "The source plugin raised an unexpected error; see the log file for details.",
}


#: Longest error message or hint kept from a source (a server may put a whole page in one).
MESSAGE_MAX = 4_000


def _bounded(text: object, limit: int = MESSAGE_MAX) -> str:
    """``text`` as a string of at most about ``limit`` characters, cut with a marker."""
    s = text if isinstance(text, str) else str(text)
    if len(s) > limit:
        s = f"{s[:limit]}… [+{len(s) - limit:,} chars]"
    return s


_LOG_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _loggable(text: str) -> str:
    """Untrusted ``text`` safe for the log file: control characters, bidi overrides and lone
    surrogates (which a UTF-8 log file cannot even store) become ``\\xNN`` / ``\\uNNNN``."""
    return _LOG_UNSAFE.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100
                           else f"\\u{ord(m[0]):04x}", text)


def classify(source: str, exc: BaseException) -> Failure:
    """Turn any exception raised by or around a source into a :class:`Failure`.

    Messages and hints are bounded in length but otherwise kept as the source wrote them: they are
    untrusted text, drawn only through ``idp_tui.render`` and logged only through ``repr``.
    """
    failure = _classify(source, exc)
    # The error class is drawn as is (it is meant to be a short word from the plugin's code), so
    # anything unprintable in it (a control character, a bidi override…) is replaced here.
    error_class = "".join(c if c.isprintable() else "\ufffd"
                          for c in _bounded(failure.error_class, 60))
    return Failure(failure.source, error_class, _bounded(failure.message),
                   None if failure.hint is None else _bounded(failure.hint))


def _classify(source: str, exc: BaseException) -> Failure:
    if isinstance(exc, SourceRateLimited):
        retry_at = exc.retry_at.astimezone(UTC)
        return Failure(source, exc.error_class,
                       f"{exc.message} — waiting, next try at {retry_at:%H:%M:%S} UTC",
                       exc.hint or "The dashboard tries again by itself; nothing is lost.")
    if isinstance(exc, SourceError):
        return Failure(source, exc.error_class, exc.message, exc.hint or _HINTS.get(exc.error_class))
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return Failure(source, "timeout", "no answer in time", _HINTS["timeout"])
    if isinstance(exc, ValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        msg = f"{exc.error_count()} invalid field(s); first: {where}: {first.get('msg', exc)}"
        return Failure(source, "malformed data", msg, _HINTS["malformed data"])
    if isinstance(exc, ConnectionError | OSError):
        return Failure(source, "unreachable", str(exc) or type(exc).__name__, _HINTS["unreachable"])
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return Failure(source, "plugin error", text, _HINTS["plugin error"])


class NotRespondingError(SourceError):
    error_class = "not responding"


# Health ------------------------------------------------------------------------------------------

@dataclass
class SourceHealth:
    """What the health view shows of one source."""

    name: str
    type: str
    capabilities: frozenset[Capability]
    last_attempt: datetime | None = None
    last_ok: datetime | None = None
    latency: float | None = None
    failure: Failure | None = None
    calls: int = 0
    failures: int = 0
    #: The source class's one-line description.
    description: str = ""
    #: What the source says of itself (``SourceContext.set_status``): key → text.
    details: dict[str, str] = field(default_factory=dict)
    #: The source asked to wait until then (a rate limit): it is not called before.
    retry_at: datetime | None = None

    @property
    def state(self) -> str:
        if self.failure is not None and self.failure.error_class == "rate limited":
            return "waiting"
        if self.failure is not None:
            return "error"
        # Asked but never answered (a first call still running) is waiting too, not ok.
        return "ok" if self.last_ok is not None else "waiting"


# Running a source on its own loop ------------------------------------------------------------------

class SourceRunner:
    """One source, its own event loop and its own daemon thread."""

    def __init__(self, name: str, type_name: str, source: Source, timeout: float) -> None:
        self.name = name
        self.type_name = type_name
        self.source = source
        self.timeout = timeout
        self.loop = asyncio.new_event_loop()
        # Calls handed to the source's loop, and calls that have finished running there. Each is
        # written by one thread only (the hub's loop, the source's thread), so no lock is needed.
        self._calls_submitted = 0
        self._calls_finished = 0
        self._started = False
        self._start_lock: asyncio.Lock | None = None
        #: Calls made ahead of time (``prefetch``), handed to the first ``call`` of that method.
        self._prefetched: dict[str, concurrent.futures.Future[Any]] = {}
        #: Calls not finished on the source's loop (added by the hub, removed by the source's
        #: thread), and those among them the hub stopped waiting for (see MAX_ABANDONED_CALLS).
        self._unfinished: set[int] = set()
        self._abandoned: set[int] = set()
        self._next_call = 0
        self._thread = threading.Thread(target=self._run, name=f"idp-source-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    async def _ensure_started(self) -> None:
        if self._started:
            return
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if not self._started:
                await self.source.start()
                self._started = True

    @property
    def pending(self) -> int:
        """Calls submitted to the source that have not finished running on its loop.

        A call the hub gave up on (timed out) stays pending until the source's loop has actually
        dropped it: a source blocking its thread keeps them all, and the hub stops queueing more.
        """
        return self._calls_submitted - self._calls_finished

    async def _invoke(self, fn: Callable[..., Awaitable[T]], args: tuple[Any, ...],
                      call_id: int = -1) -> T:
        # Runs on the source's loop. run_coroutine_threadsafe starts the task before any
        # cancellation reaches it, so this finally always runs, however the call ends.
        try:
            await self._ensure_started()
            return await fn(*args)
        finally:
            self._calls_finished += 1
            self._unfinished.discard(call_id)

    def submit(self, coro: Awaitable[T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]

    def prefetch(self, method: str) -> None:
        """Start ``source.<method>()`` (and the source) now, on the source's thread.

        The dashboard asks for the catalog as it starts, so the source starts and answers while the
        UI is being built; the first ``call`` of ``method`` (without arguments) takes that answer —
        or its error — as if it had made the call itself. Called from any thread.
        """
        if method in self._prefetched:
            return
        fn = getattr(self.source, method)
        self._calls_submitted += 1
        self._prefetched[method] = self.submit(self._invoke(fn, ()))

    @property
    def abandoned(self) -> int:
        """Calls the hub gave up on (timed out, cancelled) that the source has not finished."""
        self._abandoned &= self._unfinished
        return len(self._abandoned)

    async def call(self, method: str, *args: Any) -> Any:
        """Call ``source.<method>(*args)`` on the source's loop, with the source's timeout."""
        future = self._prefetched.pop(method, None) if not args and self._prefetched else None
        call_id = -1
        if future is None:
            if self._abandoned and self.abandoned >= MAX_ABANDONED_CALLS:
                raise NotRespondingError(f"{self.abandoned} earlier calls timed out and have "
                                         "still not returned")
            fn = getattr(self.source, method)
            self._calls_submitted += 1
            call_id = self._next_call = self._next_call + 1
            self._unfinished.add(call_id)
            future = self.submit(self._invoke(fn, args, call_id))
        elif future.done():
            return future.result()  # answered already: no need to wait a turn of the loop
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
        except BaseException:
            if call_id in self._unfinished:
                self._abandoned.add(call_id)
            raise

    async def close(self, timeout: float = 2.0) -> None:
        prefetched, self._prefetched = list(self._prefetched.values()), {}
        if prefetched:  # not taken (the app stopped early): let it finish, so a started source closes
            done, _ = await asyncio.wait([asyncio.wrap_future(f) for f in prefetched], timeout=timeout)
            for future in done:
                if not future.cancelled():
                    future.exception()  # retrieved: nobody asked for that answer
        if self._started:
            try:
                future = self.submit(self.source.close())
                await asyncio.wait_for(asyncio.wrap_future(future), timeout)
            except BaseException as exc:  # noqa: BLE001 - closing must never fail the app
                if isinstance(exc, asyncio.CancelledError):
                    raise
                log.warning("closing source %s failed: %s", self.name, exc)
        self.loop.call_soon_threadsafe(self._stop_loop)
        await asyncio.to_thread(self._thread.join, 1.0)

    def _stop_loop(self) -> None:
        for task in asyncio.all_tasks(self.loop):
            task.cancel()
        self.loop.stop()


# Topics and snapshots ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Topic:
    """Something panes can watch. Build with the class methods."""

    kind: str
    args: tuple[Any, ...] = ()

    @classmethod
    def catalog(cls) -> Topic:
        return cls("catalog")

    @classmethod
    def environments(cls) -> Topic:
        return cls("environments")

    @classmethod
    def pipelines(cls, service: str | None = None, limit: int = 200) -> Topic:
        return cls("pipelines", (service, limit))

    @classmethod
    def pipeline_run(cls, source: str, run_id: str) -> Topic:
        return cls("pipeline_run", (source, run_id))

    @classmethod
    def resources(cls) -> Topic:
        """What provisioning created (databases, queues, buckets…), from every source."""
        return cls("resources")

    @classmethod
    def metrics(cls, service: str, environment: str, window: Window, step: float) -> Topic:
        return cls("metrics", (service, environment, Window(window), step))

    @classmethod
    def signals(cls, environment: str, services: Sequence[str], window: Window = Window.M15,
                step: float = 60.0) -> Topic:
        """A few signals of many services (sparklines and health in table rows)."""
        return cls("signals", (environment, tuple(services), Window(window), step))

    @classmethod
    def alerts(cls, service: str, environment: str) -> Topic:
        """Alerts firing about a service in an environment, from every metrics source."""
        return cls("alerts", (service, environment))

    @classmethod
    def teams(cls) -> Topic:
        """The teams (groups) of every catalog source that has them."""
        return cls("teams")

    @classmethod
    def facets(cls) -> Topic:
        """The values of the catalog's fields with counts (for filters)."""
        return cls("facets")

    @classmethod
    def service_detail(cls, service: str) -> Topic:
        """More of one service from the catalog sources that list it (APIs, other facts)."""
        return cls("service_detail", (service,))


@dataclass(frozen=True)
class Platform:
    """Environments and what runs where, joined across sources."""

    environments: tuple[Environment, ...]
    deployments: dict[tuple[str, str], Deployment]

    def environment_names(self) -> list[str]:
        return [e.name for e in self.environments]


@dataclass(frozen=True)
class Snapshot(Generic[T]):
    """The hub's current answer for a topic: merged data plus each failing source's error."""

    topic: Topic
    data: T | None
    errors: dict[str, Failure] = field(default_factory=dict)
    fetched_at: datetime | None = None
    #: True until every source has answered (or failed) once.
    loading: bool = False
    #: The failing sources whose last answer is still in ``data`` (the others never answered).
    kept: frozenset[str] = frozenset()


Callback = Callable[[Snapshot[Any]], None]


class Subscription:
    def __init__(self, hub: Hub, topic: Topic, callback: Callback) -> None:
        self.hub, self.topic, self.callback = hub, topic, callback
        self.active = True

    def close(self) -> None:
        if self.active:
            self.active = False
            self.hub._unsubscribe(self)

    def refresh(self) -> None:
        """Ask for an immediate refresh of this topic."""
        self.hub.refresh(self.topic)


class ChangeRelay:
    """A source's ``SourceContext.notify``: passes "this topic changed" on to the hub (once there
    is one; ``runtime.build_hub`` builds the sources before the hub)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.hub: Hub | None = None

    def __call__(self, topic: str) -> None:
        hub = self.hub
        if hub is not None:
            hub.source_changed(self.source, topic)


class StatusRelay:
    """A source's ``SourceContext.status``: what the source says of itself, for the health view."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.hub: Hub | None = None

    def __call__(self, key: str, text: str) -> None:
        hub = self.hub
        if hub is not None:
            hub.source_status(self.source, str(key), str(text))


#: Methods a source of a capability may leave out (NotSupported): asked once, then no more.
OPTIONAL_METHODS = frozenset({"service_signals", "alerts", "teams", "service_detail",
                              "catalog_facets", "use_catalog", "pipeline_logs"})
#: Failures worth asking again soon (a busy or briefly unreachable system), and how soon: a
#: topic refreshed every 30 or 60 s is not left without data that long for one lost answer.
TRANSIENT_ERRORS = frozenset({"timeout", "unreachable", "not responding"})
TRANSIENT_RETRY = 5.0
#: Seconds at least between two refreshes of a topic that its sources say changed.
MIN_CHANGE_GAP = 0.25


class _TopicState:
    def __init__(self, topic: Topic) -> None:
        self.topic = topic
        self.subscribers: list[Subscription] = []
        self.by_source: dict[str, Any] = {}
        self.errors: dict[str, Failure] = {}
        self.snapshot: Snapshot[Any] | None = None
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.lock = asyncio.Lock()
        #: When the last refresh started (the hub's loop time).
        self.refreshed_at = 0.0


# Capability of each topic kind, and the call that fetches it from one source.
_KIND_CAPABILITY = {
    "catalog": Capability.CATALOG,
    "environments": Capability.ENVIRONMENTS,
    "pipelines": Capability.PIPELINES,
    "pipeline_run": Capability.PIPELINES,
    "metrics": Capability.METRICS,
    "alerts": Capability.METRICS,
    "signals": Capability.METRICS,
    "resources": Capability.PROVISION,
    "teams": Capability.CATALOG,
    "facets": Capability.CATALOG,
    "service_detail": Capability.CATALOG,
}


def _validate_list(value: Any, model: type[M], what: str) -> list[M]:
    if not isinstance(value, list | tuple):
        raise SourceDataError(f"{what}: expected a list of {model.__name__}, got {type(value).__name__}")
    return [_validate_one(item, model, what) for item in value]


def _validate_one(value: Any, model: type[M], what: str) -> M:
    if isinstance(value, model):
        return _aware(value)
    if isinstance(value, dict):
        return _aware(model.model_validate(value))
    raise SourceDataError(f"{what}: expected {model.__name__}, got {type(value).__name__}")


def _aware(record: M) -> M:
    """``record`` with every naive datetime in it (nested records too) taken as UTC.

    Sources may hand over naive datetimes, which cannot be compared with or subtracted from the
    aware ones of other sources and of the clock: one such source would break sorting the merged
    pipeline runs of every source, and durations in the panes.
    """
    fields = _dated_fields(type(record))
    if not fields:
        return record
    update: dict[str, Any] = {}
    for name in fields:
        value = getattr(record, name)
        if isinstance(value, datetime):
            if value.tzinfo is None or value.utcoffset() is None:
                update[name] = value.replace(tzinfo=UTC)
        elif isinstance(value, tuple) and value and isinstance(value[0], BaseModel):
            items = tuple(_aware(item) for item in value)
            if any(new is not old for new, old in zip(items, value, strict=True)):
                update[name] = items
    return record.model_copy(update=update) if update else record


@cache
def _dated_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of ``model`` that can hold a datetime, directly or in the records they hold
    (a deployment's ``updated_at``; a run's jobs): the only ones :func:`_aware` looks at."""
    return tuple(name for name, field in model.model_fields.items()
                 if _may_hold_time(field.annotation, (model,)))


def _may_hold_time(annotation: Any, seen: tuple[type, ...]) -> bool:
    if annotation is None or annotation is type(None) or annotation is Ellipsis:
        return False
    if isinstance(annotation, type) and not isinstance(annotation, types.GenericAlias):
        if issubclass(annotation, datetime):
            return True
        if issubclass(annotation, BaseModel):
            return annotation not in seen and any(
                _may_hold_time(f.annotation, (*seen, annotation))
                for f in annotation.model_fields.values())
        if annotation in (object,):
            return True
        # str, int, an enum, a dict or list of them: a tuple of records is a generic alias.
        return annotation in (tuple, list, dict, set, frozenset)
    if typing.get_origin(annotation) is Literal:
        return False
    args = typing.get_args(annotation)
    if not args:
        return True  # Any, a forward reference, a type variable: looked at
    return any(_may_hold_time(arg, seen) for arg in args)


class Hub:
    """Schedules, caches and isolates every call to every source."""

    def __init__(
        self,
        runners: Sequence[SourceRunner],
        *,
        clock: Clock | None = None,
        intervals: dict[str, float] | None = None,
    ) -> None:
        self.runners = list(runners)
        self.clock = clock or SystemClock()
        self.intervals = {**DEFAULT_INTERVALS, **(intervals or {})}
        self.health: dict[str, SourceHealth] = {
            r.name: SourceHealth(r.name, r.type_name, r.source.capabilities,
                                 description=type(r.source).description)
            for r in self.runners
        }
        self._topics: dict[Topic, _TopicState] = {}
        #: The action layer (``idp_tui.actions.ActionManager``), set by ``runtime.build_hub``.
        self.actions: Any = None
        self._health_watchers: list[Callable[[dict[str, SourceHealth]], None]] = []
        self._streams: set[LogStream] = set()
        self._closed = False
        #: Source → the calls (methods) whose last attempt failed, and how, oldest first. A
        #: source is in error while any of its calls is; each new failure is logged once.
        self._failing: dict[str, dict[str, Failure]] = {}
        #: The loop the topics are watched on (known from the first watch).
        self._watch_loop: asyncio.AbstractEventLoop | None = None
        #: (source, method) pairs the source answered NotSupported: not asked again.
        self._unsupported: set[tuple[str, str]] = set()
        #: The catalog last handed to the sources' ``use_catalog``.
        self._catalog_given: list[Service] | None = None
        #: The last rate limit of each source that asked to wait (see SourceHealth.retry_at).
        self._waits: dict[str, SourceRateLimited] = {}
        self._background: set[asyncio.Task[Any]] = set()
        for runner in self.runners:
            context = getattr(runner.source, "context", None)
            for relay in (getattr(context, "notify", None), getattr(context, "status", None)):
                if isinstance(relay, ChangeRelay | StatusRelay):
                    relay.hub = self

    # Sources ---------------------------------------------------------------------------------

    def runners_for(self, capability: Capability) -> list[SourceRunner]:
        return [r for r in self.runners if capability in r.source.capabilities]

    def has(self, capability: Capability) -> bool:
        return any(capability in r.source.capabilities for r in self.runners)

    def prefetch_catalog(self) -> None:
        """Start every catalog source and its ``services()`` call now, before anyone watches.

        The dashboard calls it as soon as the hub is built, so the catalog is there (or on its
        way) by the time the UI has been composed and watches ``Topic.catalog()``.
        """
        for runner in self.runners_for(Capability.CATALOG):
            runner.prefetch("services")

    async def _call(self, runner: SourceRunner, method: str, *args: Any,
                    validate: Callable[[Any], T] | None = None,
                    partial: list[Failure] | None = None) -> Any:
        """``runner.source.<method>(*args)``, checked by ``validate``, with health bookkeeping.

        An answer ``validate`` rejects (garbage) counts as a failure of the call, like an error.
        A :class:`PartialAnswer` counts as a failure too; with ``partial`` given, its data is
        returned (validated) and the failure appended to ``partial``.
        """
        if (runner.name, method) in self._unsupported:
            raise NotSupported(f"{runner.name} does not offer {method}")
        health = self.health[runner.name]
        if health.retry_at is not None:
            wait = self._waits.get(runner.name)
            if self.clock.now() < health.retry_at and wait is not None:
                raise SourceRateLimited(wait.message, retry_at=health.retry_at, hint=wait.hint)
            health.retry_at = None
        health.calls += 1
        health.last_attempt = self.clock.now()
        started = time.perf_counter()
        try:
            result = await runner.call(method, *args)
            if validate is not None:
                result = validate(result)
        except asyncio.CancelledError:
            raise
        except NotSupported:
            health.calls -= 1  # not a call that counts
            if method in OPTIONAL_METHODS:  # not one to make again
                self._unsupported.add((runner.name, method))
            raise
        except SourceRateLimited as exc:
            retry_at = exc.retry_at if exc.retry_at.tzinfo else exc.retry_at.replace(tzinfo=UTC)
            health.retry_at = retry_at
            self._waits[runner.name] = exc
            self._failed(runner.name, method, classify(runner.name, exc), exc)
            raise
        except PartialAnswer as exc:
            failure = classify(runner.name, exc)
            self._failed(runner.name, method, failure, exc)
            if partial is None:
                raise
            try:
                result = validate(exc.data) if validate is not None else exc.data
            except BaseException as invalid:
                self._failed(runner.name, method, classify(runner.name, invalid), invalid)
                raise invalid from exc
            health.latency = time.perf_counter() - started
            partial.append(failure)
            return result
        except BaseException as exc:
            self._failed(runner.name, method, classify(runner.name, exc), exc)
            raise
        health.latency = time.perf_counter() - started
        health.last_ok = self.clock.now()
        self._recovered(runner.name, method)
        return result

    def _failed(self, source: str, method: str, failure: Failure,
                exc: BaseException | None = None) -> None:
        """Record (and log, once) a failure of one source's call in the health view."""
        health = self.health.get(source)
        if health is None:
            return
        health.failures += 1
        failing = self._failing.setdefault(source, {})
        # Log each new failure of each call once, not on every poll.
        if failing.pop(method, None) != failure:
            trace = ""
            if exc is not None and failure.error_class == "plugin error":
                trace = "\n" + _loggable("".join(traceback.format_tb(exc.__traceback__))
                                         + _bounded(f"{type(exc).__name__}: {exc}", 500))
            log.warning("source %r failed in %s: %s%s", source, method,
                        _loggable(_bounded(str(failure), 500)), trace)
        failing[method] = failure  # (now the latest)
        health.failure = failure
        self._health_changed()

    def _recovered(self, source: str, method: str) -> None:
        """One of a source's calls worked: its error is shown only while another call fails.

        (A source failing its catalog but answering everything else must not flip between error
        and ok with every call it answers.)
        """
        failing = self._failing.get(source, {})
        failing.pop(method, None)
        self.health[source].failure = next(reversed(failing.values()), None)
        self._health_changed()

    async def _fetch_from(self, runner: SourceRunner, topic: Topic,
                          partial: list[Failure] | None = None) -> Any:
        """One source's raw-but-validated answer for a topic (see ``_call`` for ``partial``)."""
        name = runner.name
        kind, args = topic.kind, topic.args
        if kind == "catalog":
            items = await self._call(runner, "services", partial=partial,
                                     validate=lambda v: _validate_list(v, Service, "services"))
            return [s.model_copy(update={"sources": (name,)}) for s in items]
        if kind == "environments":
            envs = await self._call(
                runner, "environments", partial=partial,
                validate=lambda v: _validate_list(v, Environment, "environments"))
            deps = await self._call(
                runner, "deployments", partial=partial,
                validate=lambda v: _validate_list(v, Deployment, "deployments"))
            return envs, [d.model_copy(update={"source": name}) for d in deps]
        if kind == "pipelines":
            service, limit = args
            runs = await self._call(
                runner, "pipeline_runs", PipelineQuery(service=service, limit=limit),
                partial=partial,
                validate=lambda v: _validate_list(v, PipelineRun, "pipeline runs"))
            return [r.model_copy(update={"source": name}) for r in runs]
        if kind == "pipeline_run":
            run = await self._call(runner, "pipeline_run", args[1],
                                   validate=lambda v: _validate_one(v, PipelineRun, "pipeline run"))
            return run.model_copy(update={"source": name})
        if kind == "metrics":
            service, env, window, step = args
            query = MetricsQuery(service=service, environment=env, window=window, step=step,
                                 annotations=self._annotations(service))
            return await self._call(runner, "metrics", query, partial=partial,
                                    validate=lambda v: _validate_list(v, MetricSeries, "metrics"))
        if kind == "signals":
            environment, services, window, step = args
            query = SignalsQuery(environment=environment, services=services, window=window,
                                 step=step)
            return await self._call(
                runner, "service_signals", query, partial=partial,
                validate=lambda v: _validate_list(v, ServiceSeries, "service signals"))
        if kind == "alerts":
            items = await self._call(runner, "alerts", *args, partial=partial,
                                     validate=lambda v: _validate_list(v, Alert, "alerts"))
            return [a.model_copy(update={"source": name}) for a in items]
        if kind == "teams":
            items = await self._call(runner, "teams", partial=partial,
                                     validate=lambda v: _validate_list(v, Team, "teams"))
            return [t.model_copy(update={"source": name}) for t in items]
        if kind == "facets":
            try:
                return await self._call(runner, "catalog_facets", partial=partial,
                                        validate=lambda v: _validate_list(v, Facet, "facets"))
            except NotSupported:
                return count_facets(self._catalog_part(name))
        if kind == "service_detail":
            detail = await self._call(
                runner, "service_detail", args[0],
                validate=lambda v: _validate_one(v, ServiceDetail, "service detail"))
            return detail.model_copy(update={"source": name})
        if kind == "resources":
            items = await self._call(runner, "resources", partial=partial,
                                     validate=lambda v: _validate_list(v, Resource, "resources"))
            return [r.model_copy(update={"source": name}) for r in items]
        raise ValueError(f"unknown topic kind {kind!r}")

    def _runners_for_topic(self, topic: Topic) -> list[SourceRunner]:
        runners = self.runners_for(_KIND_CAPABILITY[topic.kind])
        if topic.kind == "pipeline_run":
            runners = [r for r in runners if r.name == topic.args[0]]
        elif topic.kind == "service_detail":
            record = self._catalog_record(topic.args[0])
            known = set(record.sources) if record is not None else set()
            runners = [r for r in runners if r.name in known
                       and (r.name, "service_detail") not in self._unsupported]
        return runners

    def _catalog_part(self, source: str) -> list[Service]:
        """The services ``source`` answered last (what it contributed to the catalog)."""
        state = self._topics.get(Topic.catalog())
        return list(state.by_source.get(source) or ()) if state is not None else []

    # Refreshing ------------------------------------------------------------------------------

    async def _refresh(self, state: _TopicState) -> Snapshot[Any]:
        async with state.lock:
            runners = self._runners_for_topic(state.topic)

            async def one(runner: SourceRunner) -> None:
                partial: list[Failure] = []
                try:
                    state.by_source[runner.name] = await self._fetch_from(runner, state.topic,
                                                                          partial)
                    if partial:  # an answer, and what is missing from it
                        state.errors[runner.name] = partial[0]
                    else:
                        state.errors.pop(runner.name, None)
                except asyncio.CancelledError:
                    raise
                except NotSupported:
                    state.by_source.pop(runner.name, None)
                except BaseException as exc:  # noqa: BLE001 - isolation is the point
                    state.errors[runner.name] = classify(runner.name, exc)

            if len(runners) == 1:
                await one(runners[0])  # the same, without a task (and turns of the loop) for it
            else:
                await asyncio.gather(*(one(r) for r in runners))
            try:
                data = self._merge(state.topic, [state.by_source[r.name] for r in runners
                                                 if r.name in state.by_source])
            except Exception as exc:  # noqa: BLE001
                log.exception("merging %s failed", state.topic)
                data = None
                state.errors["hub"] = classify("hub", exc)
            snapshot: Snapshot[Any] = Snapshot(
                topic=state.topic, data=data, errors=dict(state.errors),
                fetched_at=self.clock.now(), loading=False,
                kept=frozenset(name for name in state.errors if name in state.by_source))
            if not runners and not self.has(_KIND_CAPABILITY[state.topic.kind]):
                snapshot = Snapshot(topic=state.topic, data=data, errors={
                    "hub": Failure("hub", "no source", f"no configured source offers {state.topic.kind}",
                                   "Add a source with this capability to the config.")},
                    fetched_at=self.clock.now())
            state.snapshot = snapshot
            if state.topic.kind == "catalog" and data:
                self._give_catalog(data)
            return snapshot

    def _give_catalog(self, services: list[Service]) -> None:
        """Hand a changed catalog to the sources that read it (``Source.use_catalog``)."""
        if services == self._catalog_given:
            return
        self._catalog_given = services
        for runner in self.runners:
            if type(runner.source).use_catalog is Source.use_catalog \
                    or (runner.name, "use_catalog") in self._unsupported:
                continue

            async def give(runner: SourceRunner = runner) -> None:
                try:
                    await self._call(runner, "use_catalog", services)
                except Exception:  # noqa: BLE001 - reported in the health view by _call
                    pass

            task = asyncio.get_running_loop().create_task(give())
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def _merge(self, topic: Topic, parts: list[Any]) -> Any:
        kind = topic.kind
        if kind == "catalog":
            return merge_services(parts)
        if kind == "environments":
            return merge_platform(parts)
        if kind == "pipelines":
            runs = [run for part in parts for run in part]
            runs.sort(key=lambda r: r.started_at, reverse=True)
            return runs[: topic.args[1]]
        if kind == "pipeline_run":
            return parts[0] if parts else None
        if kind == "metrics":
            seen: dict[Any, MetricSeries] = {}
            for part in parts:
                for series in part:
                    seen.setdefault(series.signal, series)
            return list(seen.values())
        if kind == "resources":
            return [resource for part in parts for resource in part]
        if kind == "signals":
            first: dict[tuple[str, Signal], ServiceSeries] = {}
            for part in parts:
                for item in part:
                    first.setdefault((item.service, item.signal), item)
            return list(first.values())
        if kind == "alerts":
            alerts = [alert for part in parts for alert in part]
            alerts.sort(key=lambda a: (a.state != "firing", a.name))
            return alerts
        if kind == "teams":
            teams: dict[str, Team] = {}
            for part in parts:
                for team in part:
                    teams.setdefault(team.name, team)
            return sorted(teams.values(), key=lambda t: t.name)
        if kind == "facets":
            return merge_facets(parts)
        if kind == "service_detail":
            return parts[0] if parts else None
        raise ValueError(kind)

    async def fetch(self, topic: Topic) -> Snapshot[Any]:
        """Refresh a topic now and return the result (used by the CLI and on demand)."""
        state = self._state(topic)
        return await self._refresh(state)

    def _annotations(self, service: str) -> dict[str, str]:
        """The service's catalog annotations, from the last catalog answer (if any)."""
        record = self._catalog_record(service)
        return dict(record.annotations) if record is not None else {}

    def _catalog_record(self, service: str) -> Service | None:
        """The service's entry in the last catalog answer (joined across sources), if any."""
        snapshot = self.cached(Topic.catalog())
        for record in (snapshot.data or ()) if snapshot is not None else ():
            if record.name == service:
                return record
        return None

    def cached(self, topic: Topic) -> Snapshot[Any] | None:
        state = self._topics.get(topic)
        return state.snapshot if state else None

    def _state(self, topic: Topic) -> _TopicState:
        state = self._topics.get(topic)
        if state is None:
            state = self._topics[topic] = _TopicState(topic)
        return state

    def watch(self, topic: Topic, callback: Callback) -> Subscription:
        """Call ``callback`` with a snapshot now (if cached) and after every refresh of ``topic``.

        Must be called on the event loop the hub runs on; callbacks run there too.
        """
        self._watch_loop = asyncio.get_running_loop()
        state = self._state(topic)
        sub = Subscription(self, topic, callback)
        state.subscribers.append(sub)
        if state.snapshot is not None:
            self._deliver(sub, state.snapshot)
        if state.task is None or state.task.done():
            state.task = asyncio.get_running_loop().create_task(
                self._poll(state), name=f"idp-poll-{topic.kind}")
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        state = self._topics.get(sub.topic)
        if state is None:
            return
        if sub in state.subscribers:
            state.subscribers.remove(sub)
        if not state.subscribers and state.task is not None:
            state.task.cancel()
            state.task = None

    def source_changed(self, source: str, kind: str) -> None:
        """A source says its data of topic ``kind`` changed: refresh those topics soon.

        Called from any thread (``SourceContext.changed``). Refreshes are spaced by at least
        MIN_CHANGE_GAP, however often the source calls.
        """
        loop = self._watch_loop
        if loop is None or self._closed:
            return
        try:
            loop.call_soon_threadsafe(self._wake_kind, kind)
        except RuntimeError:  # the loop is closed
            pass

    def source_status(self, source: str, key: str, text: str) -> None:
        """A source says something of itself for the health view (from any thread)."""
        health = self.health.get(source)
        if health is None:
            return
        key, text = _bounded(key, 60), _bounded(text, 300)
        if (health.details.get(key) or "") == text:
            return

        def apply() -> None:
            if text:
                health.details[key] = text
            else:
                health.details.pop(key, None)
            self._health_changed()

        loop = self._watch_loop
        if loop is None or self._closed:
            apply()
            return
        try:
            loop.call_soon_threadsafe(apply)
        except RuntimeError:
            pass

    def _wake_kind(self, kind: str) -> None:
        for topic, state in self._topics.items():
            if topic.kind == kind and state.subscribers:
                state.wake.set()

    def refresh(self, topic: Topic | None = None) -> None:
        """Wake the poll loop of ``topic`` (or of every watched topic) now."""
        for t, state in self._topics.items():
            if topic is None or t == topic:
                state.wake.set()

    async def _poll(self, state: _TopicState) -> None:
        interval = self.intervals.get(state.topic.kind, 10.0)
        loop = asyncio.get_running_loop()
        while state.subscribers and not self._closed:
            state.wake.clear()
            state.refreshed_at = loop.time()
            try:
                snapshot = await self._refresh(state)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the loop must survive anything
                log.exception("refresh of %s failed", state.topic)
            else:
                for sub in list(state.subscribers):
                    self._deliver(sub, snapshot)
            wait = interval
            if state.snapshot is not None and any(
                    f.error_class in TRANSIENT_ERRORS for f in state.snapshot.errors.values()):
                wait = min(interval, TRANSIENT_RETRY)  # a timeout: ask again soon, not in 30 s
            try:
                await asyncio.wait_for(state.wake.wait(), wait)
            except TimeoutError:
                pass
            else:
                gap = state.refreshed_at + MIN_CHANGE_GAP - loop.time()
                if gap > 0:  # woken again at once (a source reporting every change it sees)
                    await asyncio.sleep(gap)

    @staticmethod
    def _deliver(sub: Subscription, snapshot: Snapshot[Any]) -> None:
        if not sub.active:
            return
        try:
            sub.callback(snapshot)
        except Exception:  # noqa: BLE001 - a broken pane must not stop the hub
            log.exception("subscriber of %s failed", sub.topic)

    # Health ----------------------------------------------------------------------------------

    def watch_health(self, callback: Callable[[dict[str, SourceHealth]], None]) -> None:
        self._health_watchers.append(callback)
        callback(self.health)

    def _health_changed(self) -> None:
        for callback in list(self._health_watchers):
            try:
                callback(self.health)
            except Exception:  # noqa: BLE001
                log.exception("health watcher failed")

    # Logs ------------------------------------------------------------------------------------

    def stream_logs(
        self,
        query: LogQuery,
        on_batch: Callable[[list[LogLine], int], None],
        on_error: Callable[[Failure], None],
        on_end: Callable[[], None] | None = None,
    ) -> LogStream:
        """Stream lines from every source with logs, in batches, on the calling event loop."""
        stream = LogStream(self, query, on_batch, on_error, on_end)
        self._streams.add(stream)
        stream.start(asyncio.get_running_loop())
        return stream

    def stream_job_log(
        self,
        source: str,
        query: JobLogQuery,
        on_batch: Callable[[list[LogLine], int], None],
        on_error: Callable[[Failure], None],
        on_end: Callable[[], None] | None = None,
    ) -> LogStream:
        """Stream the log of a pipeline run's job from the source that reported the run."""
        runners = [r for r in self.runners_for(Capability.PIPELINES) if r.name == source]
        stream = LogStream(self, query, on_batch, on_error, on_end, runners=runners,
                           method="pipeline_logs")
        self._streams.add(stream)
        stream.start(asyncio.get_running_loop())
        return stream

    # Lifecycle -------------------------------------------------------------------------------

    async def close(self) -> None:
        self._closed = True
        for task in list(self._background):
            task.cancel()
        for stream in list(self._streams):
            stream.cancel()
        for state in self._topics.values():
            if state.task is not None:
                state.task.cancel()
        await asyncio.gather(*(r.close() for r in self.runners), return_exceptions=True)


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

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        runners = (self._runners if self._runners is not None
                   else self.hub.runners_for(Capability.LOGS))
        if not runners:
            what = "logs" if self._method == "logs" else "this run's logs"
            self._on_error(Failure("hub", "no source", f"no configured source offers {what}",
                                   "Add a source with logs to the config."))
            return
        self._running = len(runners)
        for runner in runners:
            self.hub._recovered(runner.name, self._method)  # a new stream: a fresh chance
            self._futures.append(runner.submit(self._pump(runner)))

    def cancel(self) -> None:
        self._cancelled = True
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
        try:
            await runner._ensure_started()
            async for item in getattr(runner.source, self._method)(self.query):
                if self._cancelled:
                    break
                items = item if isinstance(item, list) else [item]
                if items and type(items[0]) is LogLine and len(set(map(type, items))) == 1:
                    buffer.extend(items)  # LogLine records only (the usual case): nothing to check
                    items = []
                for line in items:
                    if type(line) is not LogLine:
                        try:
                            line = _validate_one(line, LogLine, "log line")
                        except (SourceDataError, ValidationError) as exc:
                            malformed += 1
                            if malformed == 1:
                                self._report(classify(runner.name, exc))
                            continue
                    buffer.append(line)
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
        self.dropped += dropped
        try:
            self._on_batch(batch, dropped)
        except Exception:  # noqa: BLE001
            log.exception("log consumer failed")

    def _deliver_error(self, failure: Failure) -> None:
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


# Joining records from several sources ------------------------------------------------------------

_TUPLE_FIELDS = ("links", "tags", "depends_on", "provides_apis", "consumes_apis", "sources")


def merge_services(parts: Iterable[list[Service]]) -> list[Service]:
    """Join catalogs on the service name: the first source (config order) wins each field it fills."""
    merged: dict[str, Service] = {}
    for part in parts:
        for service in part:
            current = merged.get(service.name)
            if current is None:
                merged[service.name] = service
                continue
            update: dict[str, Any] = {}
            for name in Service.model_fields:
                if name in _TUPLE_FIELDS:
                    ours, theirs = getattr(current, name), getattr(service, name)
                    extra = tuple(x for x in theirs if x not in ours)
                    if extra:
                        update[name] = ours + extra
                elif name == "annotations":
                    if service.annotations:
                        update[name] = {**service.annotations, **current.annotations}
                elif getattr(current, name) in ("", None) and getattr(service, name) not in ("", None):
                    update[name] = getattr(service, name)
            if update:
                merged[service.name] = current.model_copy(update=update)
    return sorted(merged.values(), key=lambda s: s.name)


def count_facets(services: Iterable[Service]) -> list[Facet]:
    """The values of the catalog's fields in ``services``, with counts (most common first)."""
    counts: dict[str, dict[str, int]] = {f: {} for f in FACET_FIELDS}
    for s in services:
        for fld, values in facet_values(s).items():
            bucket = counts[fld]
            for value in values:
                bucket[value] = bucket.get(value, 0) + 1
    return [Facet(field=f, values=tuple(FacetValue(value=v, count=n) for v, n in
                                        sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))))
            for f, c in counts.items() if c]


def facet_values(service: Service) -> dict[str, tuple[str, ...]]:
    """The values a service has for each facet field (empty fields left out)."""
    out: dict[str, tuple[str, ...]] = {}
    for fld, value in (("owner", service.owner), ("lifecycle", service.lifecycle),
                       ("type", service.type), ("system", service.system),
                       ("language", service.language),
                       ("tier", str(service.tier) if service.tier else "")):
        if value:
            out[fld] = (value,)
    if service.tags:
        out["tag"] = tuple(service.tags)
    return out


def merge_facets(parts: Iterable[list[Facet]]) -> list[Facet]:
    """Facets of several catalog sources: counts of a value added up."""
    counts: dict[str, dict[str, int]] = {}
    for part in parts:
        for facet in part:
            bucket = counts.setdefault(facet.field, {})
            for item in facet.values:
                bucket[item.value] = bucket.get(item.value, 0) + item.count
    order = {f: i for i, f in enumerate(FACET_FIELDS)}
    return [Facet(field=f, values=tuple(FacetValue(value=v, count=n) for v, n in
                                        sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))))
            for f, c in sorted(counts.items(), key=lambda kv: (order.get(kv[0], 99), kv[0]))]


def merge_platform(parts: Iterable[tuple[list[Environment], list[Deployment]]]) -> Platform:
    envs: dict[str, Environment] = {}
    deployments: dict[tuple[str, str], Deployment] = {}
    for env_list, dep_list in parts:
        for env in env_list:
            envs.setdefault(env.name, env)
        for dep in dep_list:
            deployments.setdefault((dep.service, dep.environment), dep)
    for _service, env_name in deployments:
        envs.setdefault(env_name, Environment(name=env_name, order=len(envs)))
    ordered = sorted(envs.values(), key=lambda e: (e.order, e.name))
    return Platform(environments=tuple(ordered), deployments=deployments)
