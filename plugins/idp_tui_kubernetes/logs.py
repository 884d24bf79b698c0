"""Following the logs of every pod of a service at once, like ``stern``.

Each container followed has a thread reading its log stream (``timestamps=true``): it only reads,
and hands the complete lines it got, as bytes, to a :class:`LogMux`. The source's ``logs()``
generator drains the mux in batches and turns the bytes into records there, on one thread: with
twenty pods streaming, twenty threads parsing took turns holding the interpreter, and switching
between them cost more than the parsing. A stream
that ends while the pod lives on (a container restart, a dropped connection) is opened again from
the last timestamp seen, and the lines already sent are skipped, so nothing is repeated.

A followed container's past lines are read first without following (the read ends when they are
all sent, which :attr:`ContainerLog.backfilled` tells), then the stream is followed from the last
of them: the source can merge every pod's past lines by time before the live ones come.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from idp_tui import Clock, LogLevel, LogLine, SourceError

from .cluster import Cluster
from .informer import _is_read_timeout, _release, _shutdown
from .objects import Pod, project_pod

log = logging.getLogger("idp_tui.kubernetes")

#: Lines read ahead of a consumer; past that the reading threads wait.
MUX_MAX_LINES = 5_000
#: Seconds without a byte before a followed stream is opened again (it may have died silently).
FOLLOW_READ_TIMEOUT = 300.0
#: Seconds between two attempts to read a container that has not started yet.
RETRY_PAUSE = 1.0
CHUNK = 64 * 1024

#: Level words in capitals; the value of a JSON level field; of a key=value level.
_LEVEL_WORDS = frozenset({"TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "ERR", "FATAL",
                          "CRITICAL", "PANIC"})
_JSON_VALUE = re.compile(r'\s*:\s*"([A-Za-z]+)"')
_KV_VALUE = re.compile(r'"?([A-Za-z]+)')
_JSON_KEYS = ('"level"', '"severity"', '"lvl"', '"log.level"')
_KV_KEYS = ("level=", "lvl=", "severity=")
#: Every level word contains one of these: a line with none of them has no level word, which
#: a few substring searches tell faster than splitting it into words.
_WORD_PARTS = ("INFO", "ERR", "WARN", "DEBUG", "TRACE", "FATAL", "CRITICAL", "PANIC")
_parse_level = LogLevel.parse


def guess_level(message: str) -> LogLevel:
    """The level of a log line: a JSON ``level``/``severity`` field, ``level=…``, a klog prefix
    (``E1126 …``), or a level word in capitals among its first eight words.

    Called for every line of every followed pod: plain string searches first, one regular
    expression at most."""
    if message[:10] == '{"level":"':  # the usual JSON logger's first field
        end = message.find('"', 10, 40)
        if end > 10 and message[10:end].isascii() and message[10:end].isalpha():
            return _parse_level(message[10:end])
    if message[:1] == "{":
        head = message[:200]
        for key in _JSON_KEYS:
            at = head.find(key)
            if at >= 0:
                match = _JSON_VALUE.match(head, at + len(key))
                if match:
                    return _parse_level(match.group(1))
        return LogLevel.UNKNOWN
    head = message[:80]
    if len(head) > 5 and head[0] in "IWEF" and head[5] == " " and head[1:5].isdigit():
        return _parse_level(head[0])
    # (every key ends with "l=" or "y=", and only L and Y lower to those letters)
    if "=" in head and ("l=" in head or "y=" in head or "L=" in head or "Y=" in head):
        lowered = head.lower()
        for key in _KV_KEYS:
            at = lowered.find(key)
            if at >= 0 and (at == 0 or not lowered[at - 1].isalnum()):
                match = _KV_VALUE.match(head, at + len(key))
                if match:
                    return _parse_level(match.group(1))
    if head.islower():  # no capital letter: no level word
        return LogLevel.UNKNOWN
    for part in _WORD_PARTS:
        if part in head:
            break
    else:
        return LogLevel.UNKNOWN
    for token in head.split(None, 8)[:8]:  # a level word among the first words
        word = token.strip("[]():|<>,")
        if word in _LEVEL_WORDS:
            return _parse_level(word)
    return LogLevel.UNKNOWN


def parse_stamp(stamp: str) -> datetime | None:
    """The RFC 3339 timestamp kubelet puts before each line (``…T10:00:00.123456789Z``)."""
    if len(stamp) == 30 and stamp[19] == "." and stamp[29] == "Z":  # kubelet's usual form
        try:
            return _fromiso(stamp[:26] + "+00:00")
        except ValueError:
            return None
    if len(stamp) < 20 or stamp[10] != "T":
        return None
    base = stamp[:19]
    frac = ""
    if len(stamp) > 20 and stamp[19] == ".":
        end = 20
        while end < len(stamp) and stamp[end].isdigit():
            end += 1
        frac = stamp[19:min(end, 26)]
        zone = stamp[end:]
    else:
        zone = stamp[19:]
    try:
        moment = datetime.fromisoformat(base + frac)
    except ValueError:
        return None
    if zone in ("Z", "+00:00", ""):
        return moment.replace(tzinfo=UTC)
    try:
        return datetime.fromisoformat(base + frac + zone).astimezone(UTC)
    except ValueError:
        return moment.replace(tzinfo=UTC)


_fromiso = datetime.fromisoformat


@dataclass(frozen=True, slots=True)
class LogPod(Pod):
    """A pod as its logs need it: also which containers have a previous run to read."""

    #: Containers that ended at least once (``kubectl logs --previous`` has a log to show).
    restarted: frozenset[str] = frozenset()


def project_log_pod(obj: Mapping[str, Any]) -> LogPod:
    pod = project_pod(obj)
    statuses = (obj.get("status") or {}).get("containerStatuses") or ()
    restarted = frozenset(
        str(cs.get("name") or "") for cs in statuses
        if isinstance(cs, dict) and isinstance(cs.get("lastState"), dict)
        and "terminated" in cs["lastState"])
    return LogPod(**{f.name: getattr(pod, f.name) for f in fields(Pod)}, restarted=restarted)


class LogMux:
    """Lines from many threads, handed to one coroutine in batches.

    The threads put the bytes of complete lines; ``take()`` parses them (each container's with
    its own state) on the thread that takes them. Bounded: a thread that finds it full waits
    until the reader has taken lines (or it is stopped), so a reader that falls behind slows the
    streams down (the API server sees its connections stall) instead of the threads reading and
    dropping lines.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, max_lines: int = MUX_MAX_LINES) -> None:
        self._loop = loop
        self._chunks: list[tuple[ContainerLog, bytes]] = []
        #: Lines in ``_chunks``.
        self._count = 0
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._ready = asyncio.Event()
        self._signalled = False
        self.max_lines = max_lines
        #: Times a thread had to wait for room.
        self.waits = 0

    def put(self, source: ContainerLog, data: bytes, count: int,
            stopped: threading.Event | None = None) -> None:
        """Add ``count`` complete lines (``data``, each ending with a line feed) read by
        ``source``, from any thread; waits while full, unless ``stopped`` is set."""
        with self._room:
            while self._count >= self.max_lines and not (stopped and stopped.is_set()):
                self.waits += 1
                self._room.wait(0.1)
            self._chunks.append((source, data))
            self._count += count
            if self._signalled:
                return
            self._signalled = True
        self._signal()

    def wake(self) -> None:
        """Wake the reader without lines (something else changed); from any thread."""
        with self._lock:
            if self._signalled:
                return
            self._signalled = True
        self._signal()

    def _signal(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._ready.set)
        except RuntimeError:  # the loop is closed: nobody is reading any more
            pass

    async def wait(self) -> None:
        await self._ready.wait()

    def take(self) -> list[LogLine]:
        """The lines put since the last call, as records (parsed here, by the caller's thread)."""
        with self._room:
            chunks, self._chunks = self._chunks, []
            self._count = 0
            self._signalled = False
            self._ready.clear()
            self._room.notify_all()
        lines: list[LogLine] = []
        for source, data in chunks:
            source.parse(data, lines)
        return lines


class ContainerLog:
    """One container's log, read on a thread of its own into a mux."""

    def __init__(self, cluster: Cluster, pod: Pod, container: str, *, instance: str,
                 service: str, environment: str, mux: LogMux, clock: Clock, follow: bool,
                 tail: int | None, since_seconds: int | None,
                 alive: Callable[[], bool], previous: bool = False) -> None:
        self.cluster = cluster
        self.pod = pod
        self.container = container
        self.instance = instance
        self.service = service
        self.environment = environment
        self.mux = mux
        self.clock = clock
        self.follow = follow
        self.tail = tail
        self.since_seconds = since_seconds
        self.alive = alive
        #: The previous run's log (a finished log: read once, never followed).
        self.previous = previous
        self.error: SourceError | None = None
        #: Set when the past lines have been read (or could not be).
        self.backfilled = threading.Event()
        #: When the past lines were asked for (following starts from there if there were none).
        self._asked: datetime | None = None
        #: Streams opened (reconnections included) and lines sent.
        self.opened = 0
        self.sent = 0
        self._last: datetime | None = None
        #: The messages sent with the timestamp ``_last`` (to skip them when the stream reopens).
        self._at_last: list[str] = []
        self._make = LogLine.maker(service=service, environment=environment, instance=instance)
        self._stop = threading.Event()
        self._response: Any = None
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"idp-k8s-log-{pod.name}-{container}")

    def start(self) -> ContainerLog:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        response = self._response
        if response is not None:
            _shutdown(response)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                first = not self.backfilled.is_set()
                try:
                    ended = self._read_once()
                except SourceError as exc:
                    ended = False
                    if self._stop.is_set():
                        return
                    if self.error is None or self.error.message != exc.message:
                        log.info("logs of %s/%s: %s", self.pod.name, self.container, exc.message)
                    self.error = exc
                    if getattr(exc, "error_class", "") == "not found" and not self.alive():
                        return
                finally:
                    if first:
                        self.backfilled.set()
                        self.mux.wake()
                if self.previous or (not self.follow and ended):
                    return
                if not self.alive():
                    return
                if first and ended:
                    continue  # the past lines read: follow from the last of them at once
                self._stop.wait(RETRY_PAUSE)
        finally:
            self.backfilled.set()
            self.done.set()
            self.mux.wake()

    def _read_once(self) -> bool:
        """Read the stream until it ends; True when it ended normally."""
        follow = self.follow and not self.previous and self.backfilled.is_set()
        kwargs: dict[str, Any] = {"container": self.container, "timestamps": True,
                                  "follow": follow, "_preload_content": False}
        if self.previous:
            kwargs["previous"] = True
        kwargs["_request_timeout"] = (self.cluster.request_timeout,
                                      FOLLOW_READ_TIMEOUT if follow
                                      else self.cluster.request_timeout * 4)
        since = self._last or (self._asked if self.backfilled.is_set() else None)
        if since is None:
            self._asked = self.clock.now()
            if self.tail is not None:
                kwargs["tail_lines"] = self.tail
            if self.since_seconds is not None:
                kwargs["since_seconds"] = self.since_seconds
        else:
            # Again from the last line seen (a second of overlap; those lines are skipped).
            behind = (self.clock.now() - since).total_seconds()
            kwargs["since_seconds"] = max(1, math.ceil(behind) + 1)
        response = self.cluster.request(
            "get", "pods/log", self.pod.namespace,
            lambda c: c.api("core").read_namespaced_pod_log(self.pod.name, self.pod.namespace,
                                                            **kwargs),
            name=self.pod.name)
        self._response = response
        self.opened += 1
        self.error = None
        rest = b""
        put, stop = self.mux.put, self._stop
        ended = False
        try:
            if stop.is_set():  # stopped while the request was on its way
                return False
            for chunk in response.stream(CHUNK, decode_content=True):
                if stop.is_set():
                    return False
                end = chunk.rfind(b"\n")
                if end < 0:
                    rest += chunk
                    continue
                data = rest + chunk[:end + 1] if rest else chunk[:end + 1]
                rest = chunk[end + 1:]
                put(self, data, data.count(b"\n"), stop)
            if rest:
                put(self, rest + b"\n", 1, stop)
            ended = True
        except Exception as exc:  # noqa: BLE001
            if self._stop.is_set():
                return False
            if _is_read_timeout(exc):
                return False  # quiet for too long: open it again
            raise self.cluster.translate(exc, verb="get", resource="pods/log",
                                         namespace=self.pod.namespace, name=self.pod.name) from exc
        finally:
            self._response = None
            _release(response, reuse=ended)
        return True

    def parse(self, data: bytes, out: list[LogLine]) -> None:
        """Add the records of ``data`` (complete lines) to ``out``, skipping lines sent already.

        Called by the mux's reader only (one thread), in the order the lines were read."""
        make = self._make
        last = self._last
        at_last = self._at_last
        # One decoding for the whole chunk: the lines end at line feeds, which no UTF-8 sequence
        # spans, so each line decodes as it would alone.
        text = data.decode("utf-8", "replace")
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        texts = text.split("\n")
        texts.pop()  # (after the last line feed)
        count = len(out)
        fromiso = _fromiso
        for text in texts:
            if text[30:31] == " " and text[29:30] == "Z" and text[19:20] == ".":
                # kubelet's usual "2026-11-25T14:00:00.123456789Z message" (read to the µs)
                try:
                    moment = fromiso(text[:30])
                except ValueError:
                    moment = None
                message = text[31:]
            else:
                stamp, sep, message = text.partition(" ")
                moment = parse_stamp(stamp) if sep else None
            if moment is None:  # no timestamp (not what kubelet sends): keep the whole line
                moment, message = self.clock.now(), text
            elif last is not None and moment <= last:
                if moment < last or message in at_last:
                    continue  # sent before the stream was opened again
                at_last.append(message)
            else:
                last = moment
                at_last = [message]  # (a list: a set would hash every line; it holds one or two)
            out.append(make(moment, guess_level(message), message))
        self._last = last
        self._at_last = at_last
        self.sent += len(out) - count
