"""The hub itself: the only thing that talks to sources.

Sources → hub → panes. The hub owns refresh scheduling (one poll loop per watched topic, re-armed
after each refresh finishes), caching (the last good answer of every source), per-call timeouts,
error isolation, and routing: each topic goes to the sources that offer it (``topics.TOPICS``), and
a topic about one service only to the sources that may know that service
(:meth:`Hub.sources_for_service`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC
from typing import Any, TypeVar

from ..api.clock import Clock, SystemClock
from ..api.errors import NotSupported, PartialAnswer, SourceNotFound, SourceRateLimited
from ..api.kinds import TopicKind
from ..api.models import JobLogQuery, LogLine, LogQuery, Service
from ..api.source import Capability, Source
from ..environments import EnvironmentMap
from .failures import (
    TRANSIENT_ERRORS,
    Backoffs,
    Failure,
    SourceHealth,
    _bounded,
    _loggable,
    backs_off,
    classify,
)
from .logstreams import LogStream
from .parts import (
    ChangeRelay,
    StatusRelay,
    forget_unasked,
    found_again,
    part_only,
    wake_listed,
)
from .reuse import ByName, Stamps, kept, unchanged_data
from .runner import SourceRunner
from .timing import LoopTimer, PollTimer
from .topics import DEFAULT_INTERVALS, OPTIONAL_METHODS, TOPICS, Snapshot, Topic, fetch_default
from .validation import checked

log = logging.getLogger("idp_tui.hub")

T = TypeVar("T")

Callback = Callable[[Snapshot[Any]], None]

#: How soon a topic is asked again after a failure worth a quick second try (TRANSIENT_ERRORS):
#: a topic refreshed every 30 or 60 s is not left without data that long for one lost answer.
TRANSIENT_RETRY = 5.0
#: Seconds at least between two refreshes of a topic that its sources say changed.
MIN_CHANGE_GAP = 0.25
#: How long a poll loop waits on a settled topic (a finished run): until it is woken.
SETTLED_WAIT = 365 * 24 * 3600.0
#: The capabilities whose answers list services (what a source knows: see Hub.knows).
LISTING_TOPICS = {Capability.CATALOG: Topic.catalog(), Capability.ENVIRONMENTS: Topic.environments()}


class ServiceNotListed(Exception):
    """A source answered "not found" about a service it does not list: no answer, no error."""


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
        #: When the last refresh started (the hub's timer).
        self.refreshed_at = 0.0
        #: The sources whose answers the snapshot's data joined (None: not joined).
        self.merged_from: tuple[str, ...] | None = None


class Hub:
    """Schedules, caches and isolates every call to every source."""

    def __init__(
        self,
        runners: Sequence[SourceRunner],
        *,
        clock: Clock | None = None,
        intervals: dict[str, float] | None = None,
        timer: PollTimer | None = None,
        environments: EnvironmentMap | None = None,
    ) -> None:
        self.runners = list(runners)
        #: The declared environments, and each source's names for them: records are joined
        #: under the platform's names, and a query reaches a source under its own.
        self.environments = environments if environments is not None else EnvironmentMap()
        self.clock = clock or SystemClock()
        #: Seconds between two refreshes of a watched topic, by kind (unknown kinds: ValueError).
        self.intervals: dict[str, float] = dict(DEFAULT_INTERVALS)
        for kind, seconds in (intervals or {}).items():
            self.intervals[TopicKind.parse(kind).value] = seconds
        #: What the poll loops wait on: the event loop's time, or a test's ``ManualTimer``.
        self.timer: PollTimer = timer or LoopTimer()
        self.health: dict[str, SourceHealth] = {
            r.name: SourceHealth(r.name, r.type_name, r.source.capabilities,
                                 description=type(r.source).description)
            for r in self.runners
        }
        self._topics: dict[Topic, _TopicState] = {}
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
        #: The ``use_catalog`` calls under way (see :meth:`share_catalog`).
        self._giving: set[asyncio.Task[Any]] = set()
        #: The last rate limit of each source that asked to wait (see SourceHealth.retry_at).
        self._waits: dict[str, SourceRateLimited] = {}
        self._background: set[asyncio.Task[Any]] = set()
        #: Calls that failed for good, each waiting on the timer (see Backoffs).
        self._backoff = Backoffs()
        #: Each source's services (its catalog and deployments), and the answers they come from.
        self._listed: dict[str, tuple[tuple[Any, ...], frozenset[str]]] = {}
        #: Stamped records kept from the sources' last answers, the last catalog by name.
        self._stamps, self._by_name = Stamps(), ByName()
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
                    partial: list[Failure] | None = None, service: str | None = None) -> Any:
        """``runner.source.<method>(*args)``, checked by ``validate``, with health bookkeeping.

        An answer ``validate`` rejects (garbage) counts as a failure of the call, like an error.
        A :class:`PartialAnswer` counts as a failure too; with ``partial`` given, its data is
        returned (validated) and the failure appended to ``partial``. A call about ``service``
        that the source answers "not found" while another source lists that service raises
        :class:`ServiceNotListed` and leaves the source's health as it was.
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
        last_attempt, health.last_attempt = health.last_attempt, self.clock.now()
        started = time.perf_counter()
        try:
            result = await checked(validate, await runner.call(method, *args))
        except asyncio.CancelledError:
            raise
        except NotSupported:
            health.calls -= 1  # not a call that counts
            if method in OPTIONAL_METHODS:  # not one to make again
                self._unsupported.add((runner.name, method))
            raise
        except SourceNotFound as exc:
            if service is not None and self.not_its_service(runner.name, service):
                health.calls -= 1  # it said it does not know the service: no call that counts
                health.last_attempt = last_attempt
                raise ServiceNotListed(runner.name, service) from exc
            self._failed(runner.name, method, classify(runner.name, exc), exc)
            raise
        except SourceRateLimited as exc:
            retry_at = exc.retry_at if exc.retry_at.tzinfo else exc.retry_at.replace(tzinfo=UTC)
            health.retry_at = retry_at
            self._waits[runner.name] = exc
            self._failed(runner.name, method, classify(runner.name, exc), exc)
            raise
        except PartialAnswer as exc:
            failure = classify(runner.name, exc)
            by_part = partial is not None and part_only(health, exc)  # said in its part's row
            if not by_part:
                self._failed(runner.name, method, failure, exc)
            if partial is None:
                raise
            try:
                result = await checked(validate, exc.data)
            except BaseException as invalid:
                self._failed(runner.name, method, classify(runner.name, invalid), invalid)
                raise invalid from exc
            health.latency = time.perf_counter() - started
            partial.append(failure)
            if by_part:
                health.last_ok = self.clock.now()
                self._recovered(runner.name, method)
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
        spec = TOPICS[topic.kind]
        if spec.environment_arg is not None and self.environments:
            topic = self._local_topic(topic, spec.environment_arg, runner.name)
        return await (spec.fetch or fetch_default)(self, spec, runner, topic, partial)

    def _local_topic(self, topic: Topic, index: int, source: str) -> Topic:
        """``topic`` with its environment under ``source``'s name for it."""
        environment = topic.args[index]
        local = self.environments.to_source(source, environment)
        if local == environment:
            return topic
        return Topic(topic.kind, (*topic.args[:index], local, *topic.args[index + 1:]))

    def _runners_for_topic(self, topic: Topic) -> list[SourceRunner]:
        spec = TOPICS[topic.kind]
        service = topic.service
        if service is not None:
            runners = self.sources_for_service(service, spec.capability)
        else:
            runners = self.runners_for(spec.capability)
        if spec.optional:
            runners = [r for r in runners if (r.name, spec.method) not in self._unsupported]
        if spec.only is not None:
            runners = spec.only(topic, runners, self)
        return runners

    # Which sources know a service ------------------------------------------------------------

    def sources_for_service(self, service: str, capability: Capability) -> list[SourceRunner]:
        """The sources with ``capability`` to ask about ``service`` (config order).

        A source that declares what it owns (``owns``) is asked only about those services. A
        source with a catalog or environments of its own is asked only about the services its
        last answers list (catalog or deployments) — unless no source at all lists the service
        (then it may be new, or misspelt: every source says for itself). A source without either
        (a metrics system) is asked about every service.
        """
        runners = [r for r in self.runners_for(capability) if r.declares(service) is not False]
        if not any(self.knows(r, service) for r in self.runners):
            return runners  # nobody lists it
        return [r for r in runners if self.knows(r, service) is not False]

    def knows(self, runner: SourceRunner, service: str) -> bool | None:
        """Whether ``runner`` is about ``service``: what its ``owns`` declares, else whether its
        last catalog or environments answer lists it; None when it has no such answer."""
        declared = runner.declares(service)
        if declared is not None:
            return declared
        listed = self._services_of(runner)
        return None if listed is None else service in listed

    def not_its_service(self, source: str, service: str) -> bool:
        """A "not found" from ``source`` about ``service`` is no failure: it does not list the
        service, and another source does."""
        runner = next((r for r in self.runners if r.name == source), None)
        if runner is None or self.knows(runner, service):
            return False
        return any(self.knows(r, service) for r in self.runners if r is not runner)

    def _services_of(self, runner: SourceRunner) -> frozenset[str] | None:
        """The services ``runner``'s last catalog and deployments answers name (None: none)."""
        parts = []
        for capability, topic in LISTING_TOPICS.items():
            if capability not in runner.source.capabilities:
                continue
            state = self._topics.get(topic)
            if state is not None and runner.name in state.by_source:
                parts.append(state.by_source[runner.name])
        if not parts:
            return None
        cached = self._listed.get(runner.name)
        if cached is not None and len(cached[0]) == len(parts) \
                and all(old is new for old, new in zip(cached[0], parts, strict=True)):
            return cached[1]  # the same answers as last time (kept there, so compared by identity)
        names: set[str] = set()
        for part in parts:
            if isinstance(part, tuple):  # (environments, deployments)
                names.update(d.service for d in part[1])
            else:
                names.update(s.name for s in part)
        listed = frozenset(names)
        self._listed[runner.name] = (tuple(parts), listed)
        return listed

    def _unasked_listings(self, capability: Capability) -> list[Topic]:
        """The catalog and environments topics never fetched that a source with ``capability``
        offers (and that would tell which services it knows)."""
        wanted = []
        for listing, topic in LISTING_TOPICS.items():
            state = self._topics.get(topic)
            if (state is None or state.snapshot is None) and any(
                    listing in r.source.capabilities and not r.owns
                    for r in self.runners_for(capability)):
                wanted.append(topic)
        return wanted

    def _services_unknown(self, capability: Capability) -> bool:
        return bool(self._unasked_listings(capability))

    async def _learn_services(self, capability: Capability) -> None:
        """Fetch, once, the catalog and environments of the sources with ``capability`` (the
        command line asks about one service without a catalog). Asked already and failing: the
        source stays unknown, and is asked about every service."""
        wanted = self._unasked_listings(capability)
        if wanted:
            await asyncio.gather(*(self.fetch(topic) for topic in wanted))

    def _catalog_part(self, source: str) -> list[Service]:
        """The services ``source`` answered last (what it contributed to the catalog)."""
        state = self._topics.get(Topic.catalog())
        return list(state.by_source.get(source) or ()) if state is not None else []

    # Refreshing ------------------------------------------------------------------------------

    async def _refresh(self, state: _TopicState, polled: bool = False) -> Snapshot[Any]:
        """Ask the topic's sources and join their answers. ``polled``: a poll loop's refresh,
        which does not ask a source whose failure is backed off (an explicit fetch does)."""
        spec = TOPICS[state.topic.kind]
        if state.topic.service is not None:
            await self._learn_services(spec.capability)
        async with state.lock:
            # An answer is as of when it was asked (a fetch that outlives a tick is not newer).
            asked_at = self.clock.now()
            runners = self._runners_for_topic(state.topic)
            forget_unasked(state.errors, runners)  # (a source no longer asked: its old error goes)
            previous = dict(state.by_source)  # (an answer equal to its last: kept, not joined)

            async def one(runner: SourceRunner) -> None:
                backed_off = self._backed_off(runner.name, state.topic) if polled else None
                if backed_off is not None:  # a failure that will not fix itself: not yet
                    state.errors[runner.name] = backed_off
                    return
                partial: list[Failure] = []
                try:
                    answer = await self._fetch_from(runner, state.topic, partial)
                    state.by_source[runner.name] = answer if spec.off_loop else kept(  # (compared
                        previous.get(runner.name), answer)  # in its thread: topics.prepared)
                    if partial:  # an answer, and what is missing from it
                        state.errors[runner.name] = partial[0]
                    else:
                        state.errors.pop(runner.name, None)
                    self._answered(runner.name, state.topic)
                except asyncio.CancelledError:
                    raise
                except (NotSupported, ServiceNotListed):
                    state.by_source.pop(runner.name, None)
                    state.errors.pop(runner.name, None)
                except BaseException as exc:  # noqa: BLE001 - isolation is the point
                    state.errors[runner.name] = classify(runner.name, exc)
                    if backs_off(exc):
                        self._back_off(runner.name, state.topic, exc, state.errors[runner.name])

            if len(runners) == 1:
                await one(runners[0])  # the same, without a task (and turns of the loop) for it
            else:
                await asyncio.gather(*(one(r) for r in runners))
            names = [r.name for r in runners if r.name in state.by_source]
            data = unchanged_data(state, previous, names)  # (None: joined again)
            try:
                if data is None:
                    data = self._merge(state.topic, [state.by_source[n] for n in names])
                    state.merged_from = tuple(names)
            except Exception as exc:  # noqa: BLE001
                log.exception("merging %s failed", state.topic)
                data = None
                state.errors["hub"] = classify("hub", exc)
            snapshot: Snapshot[Any] = Snapshot(
                topic=state.topic, data=data, errors=dict(state.errors),
                fetched_at=asked_at, loading=False,
                kept=frozenset(name for name in state.errors if name in state.by_source))
            if not runners and not self.has(spec.capability) \
                    and not (spec.configured is not None and spec.configured(self)):
                snapshot = Snapshot(topic=state.topic, data=data, errors={
                    "hub": Failure("hub", "no source", f"no configured source offers {state.topic.kind}",
                                   "Add a source with this capability to the config.")},
                    fetched_at=asked_at)
            state.snapshot = snapshot
            if state.topic.kind is TopicKind.CATALOG and data:
                self._give_catalog(data)
            if state.topic.kind is TopicKind.PIPELINES and data:
                self._wake_changed_runs(data)
            return snapshot

    # Backing off failures that will not fix themselves -------------------------------------------

    def _backed_off(self, source: str, topic: Topic) -> Failure | None:
        """The failure to show instead of asking ``source`` about ``topic`` now (its back-off is
        not over), or None: ask."""
        return self._backoff.blocked(source, topic, self.timer.now()) if self._backoff else None

    def _back_off(self, source: str, topic: Topic, exc: BaseException, failure: Failure) -> None:
        """``source`` failed ``topic`` with a failure that will not fix itself: not asked again
        for 30 s, then twice as long each time (at most 10 min), instead of at every refresh."""
        self._backoff.failed(source, topic, exc, failure, self.timer.now(), self.clock.now())
        self._say_next_try(source)

    def _answered(self, source: str, topic: Topic) -> None:
        changed = bool(self._backoff) and self._backoff.answered(source, topic)
        if topic in LISTING_TOPICS.values():  # what it lists now: asked again at once
            listed = self._services_of(next(r for r in self.runners if r.name == source))
            if self._backoff:  # (a "not found" of a service it lists now is disproved)
                changed = found_again(self._backoff, source, listed) or changed
            wake_listed(self._topics.values(), listed)
        if changed:
            self._say_next_try(source)

    def _say_next_try(self, source: str) -> None:
        health = self.health.get(source)
        next_try = self._backoff.next_try(source, self.timer.now())
        if health is not None and next_try != health.next_try:
            health.next_try = next_try
            self._health_changed()

    def retry_now(self, source: str | None = None) -> None:
        """Ask ``source`` (every source without it) again now, whatever its back-offs say (the
        health view's "retry now"): its watched topics are refreshed at once."""
        for name in self._backoff.forget(source) | ({source} if source else set()):
            self._say_next_try(name)
        runners = [r for r in self.runners if source is None or r.name == source]

        async def retry() -> None:
            for runner in runners:  # the waits a source keeps itself (Source.retry_now)
                try:
                    await runner.call("retry_now")
                except Exception:  # noqa: BLE001 - the refresh says what is wrong
                    log.debug("retry_now of %s failed", runner.name, exc_info=True)
            for state in self._topics.values():
                if state.subscribers and (source is None or source in state.errors or any(
                        r.name == source for r in self._runners_for_topic(state.topic))):
                    state.wake.set()

        task = asyncio.get_running_loop().create_task(retry())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _wake_changed_runs(self, runs: list[Any]) -> None:
        """Wake the watched runs that are no longer polled (finished) whose entry in a fresh
        list of runs differs (a re-run started them again)."""
        for topic, state in self._topics.items():
            if topic.kind is not TopicKind.PIPELINE_RUN or not state.subscribers \
                    or state.snapshot is None or state.snapshot.data is None:
                continue
            run = state.snapshot.data
            for listed in runs:
                if listed.source == topic.args[0] and listed.id == topic.args[1]:
                    if (listed.status, listed.attempt) != (run.status, run.attempt):
                        state.wake.set()
                    break

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
            self._giving.add(task)
            task.add_done_callback(self._giving.discard)

    async def share_catalog(self) -> Snapshot[Any] | None:
        """Fetch the catalog (unless it was already) when a source reads it
        (``Source.use_catalog``), and return once those sources have it.

        A one-shot caller (the command line) calls it before asking anything else, so what it
        asks next is answered on the joined platform the dashboard sees (a github source learns
        its repositories from the catalog's annotations). A failing or slow catalog source costs
        its timeout and no more: the other sources' services are handed on.
        """
        readers = [r for r in self.runners if type(r.source).use_catalog is not Source.use_catalog
                   and (r.name, "use_catalog") not in self._unsupported]
        if not readers or not self.has(Capability.CATALOG):
            return None
        snapshot = self.cached(Topic.catalog())
        if snapshot is None:
            snapshot = await self.fetch(Topic.catalog())
        if self._giving:
            await asyncio.gather(*list(self._giving), return_exceptions=True)
        return snapshot

    def _merge(self, topic: Topic, parts: list[Any]) -> Any:
        return TOPICS[topic.kind].merge(topic, parts, self)

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
        return self._by_name.get(snapshot.data if snapshot is not None else None, service)

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

    def source_changed(self, source: str, kind: TopicKind | str) -> None:
        """A source says its data of topic ``kind`` changed: refresh those topics soon.

        Called from any thread (``SourceContext.changed``). Refreshes are spaced by at least
        MIN_CHANGE_GAP, however often the source calls. An unknown kind is a ``ValueError``.
        """
        kind = TopicKind.parse(kind)
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
        timer = self.timer
        while state.subscribers and not self._closed:
            state.wake.clear()
            state.refreshed_at = timer.now()
            try:
                snapshot = await self._refresh(state, polled=True)
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
            elif self._settled(state):
                wait = SETTLED_WAIT  # it will not change (a finished run): until woken
            if await timer.wait(state.wake, wait):
                gap = state.refreshed_at + MIN_CHANGE_GAP - timer.now()
                if gap > 0:  # woken again at once (a source reporting every change it sees)
                    await timer.sleep(gap)

    @staticmethod
    def _settled(state: _TopicState) -> bool:
        """Whether the topic's answer will not change any more (its row's ``settled``)."""
        settled = TOPICS[state.topic.kind].settled
        snapshot = state.snapshot
        if settled is None or snapshot is None or snapshot.errors or snapshot.data is None:
            return False
        try:
            return bool(settled(snapshot.data))
        except Exception:  # noqa: BLE001 - a record without the field: poll it as any other
            return False

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
        """Stream lines of ``query.service`` in batches, on the calling event loop, from every
        source with logs that may know the service (:meth:`sources_for_service`).

        A source that answers "not found" about a service another source lists is silent.
        """
        stream = LogStream(self, query, on_batch, on_error, on_end)
        self._streams.add(stream)
        loop = asyncio.get_running_loop()
        if self._services_unknown(Capability.LOGS):
            async def start() -> None:  # the command line: nothing is known of the sources yet
                try:
                    await self._learn_services(Capability.LOGS)
                except Exception:  # noqa: BLE001 - unknown sources are asked about everything
                    log.exception("learning the sources' services failed")
                if not self._closed:
                    stream.start(loop, self.sources_for_service(query.service, Capability.LOGS))

            task = loop.create_task(start())
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        else:
            stream.start(loop, self.sources_for_service(query.service, Capability.LOGS))
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

