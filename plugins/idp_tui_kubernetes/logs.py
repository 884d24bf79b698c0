"""Following the logs of every pod of a service at once, like ``stern``.

Each container followed has a thread reading its log stream (``timestamps=true``). Lines from all of
them meet in a :class:`LogMux`, which the source's ``logs()`` generator drains in batches. A stream
that ends while the pod lives on (a container restart, a dropped connection) is opened again from
the last timestamp seen, and the lines already sent are skipped, so nothing is repeated.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import threading
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from idp_tui import Clock, LogLevel, LogLine, SourceError

from .cluster import Cluster
from .informer import _is_read_timeout, _shutdown
from .objects import Pod

log = logging.getLogger("idp_tui.kubernetes")

#: Lines kept for a consumer that falls behind; older ones are dropped (and counted).
MUX_MAX_LINES = 50_000
#: Seconds without a byte before a followed stream is opened again (it may have died silently).
FOLLOW_READ_TIMEOUT = 300.0
#: Seconds between two attempts to read a container that has not started yet.
RETRY_PAUSE = 1.0
CHUNK = 64 * 1024

_LEVEL_WORD = re.compile(r"\b(TRACE|DEBUG|INFO|WARN|WARNING|ERROR|ERR|FATAL|CRITICAL|PANIC)\b")
_LEVEL_KV = re.compile(r"\b(?:level|lvl|severity)=\"?([A-Za-z]+)")
_KLOG = re.compile(r"^([IWEF])\d{4} ")


def guess_level(message: str) -> LogLevel:
    """The level of a log line: a JSON ``level``/``severity`` field, ``level=…``, a klog prefix,
    or the first level word in the line."""
    text = message.lstrip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            for key in ("level", "severity", "lvl", "log.level"):
                value = data.get(key)
                if isinstance(value, str):
                    return LogLevel.parse(value)
    match = _LEVEL_KV.search(text[:200])
    if match:
        return LogLevel.parse(match.group(1))
    match = _KLOG.match(text)
    if match:
        return LogLevel.parse(match.group(1))
    match = _LEVEL_WORD.search(text[:120].upper())
    if match:
        return LogLevel.parse(match.group(1))
    return LogLevel.UNKNOWN


def parse_stamp(stamp: str) -> datetime | None:
    """The RFC 3339 timestamp kubelet puts before each line (``…T10:00:00.123456789Z``)."""
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


class LogMux:
    """Lines from many threads, handed to one coroutine in batches."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_lines: int = MUX_MAX_LINES) -> None:
        self._loop = loop
        self._lines: deque[LogLine] = deque()
        self._lock = threading.Lock()
        self._ready = asyncio.Event()
        self._signalled = False
        self.max_lines = max_lines
        self.dropped = 0

    def put(self, lines: list[LogLine]) -> None:
        """Add lines (from any thread)."""
        with self._lock:
            self._lines.extend(lines)
            over = len(self._lines) - self.max_lines
            if over > 0:
                for _ in range(over):
                    self._lines.popleft()
                self.dropped += over
            if self._signalled:
                return
            self._signalled = True
        try:
            self._loop.call_soon_threadsafe(self._ready.set)
        except RuntimeError:  # the loop is closed: nobody is reading any more
            pass

    def wake(self) -> None:
        """Wake the reader without lines (something else changed); from any thread."""
        with self._lock:
            if self._signalled:
                return
            self._signalled = True
        try:
            self._loop.call_soon_threadsafe(self._ready.set)
        except RuntimeError:
            pass

    async def wait(self) -> None:
        await self._ready.wait()

    def take(self) -> list[LogLine]:
        with self._lock:
            lines = list(self._lines)
            self._lines.clear()
            self._signalled = False
            self._ready.clear()
        return lines


class ContainerLog:
    """One container's log, read on a thread of its own into a mux."""

    def __init__(self, cluster: Cluster, pod: Pod, container: str, *, instance: str,
                 service: str, environment: str, mux: LogMux, clock: Clock, follow: bool,
                 tail: int | None, since_seconds: int | None,
                 alive: Callable[[], bool]) -> None:
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
        self.error: SourceError | None = None
        #: Streams opened (reconnections included) and lines sent.
        self.opened = 0
        self.sent = 0
        self._last: datetime | None = None
        self._at_last: set[str] = set()
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
                if not self.follow and ended:
                    return
                if not self.alive():
                    return
                self._stop.wait(RETRY_PAUSE)
        finally:
            self.done.set()

    def _read_once(self) -> bool:
        """Read the stream until it ends; True when it ended normally."""
        kwargs: dict[str, Any] = {"container": self.container, "timestamps": True,
                                  "follow": self.follow, "_preload_content": False}
        kwargs["_request_timeout"] = (self.cluster.request_timeout,
                                      FOLLOW_READ_TIMEOUT if self.follow
                                      else self.cluster.request_timeout * 4)
        if self._last is None:
            if self.tail is not None:
                kwargs["tail_lines"] = self.tail
            if self.since_seconds is not None:
                kwargs["since_seconds"] = self.since_seconds
        else:
            # Again from the last line seen (a second of overlap; those lines are skipped).
            behind = (self.clock.now() - self._last).total_seconds()
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
        try:
            for chunk in response.stream(CHUNK, decode_content=True):
                if self._stop.is_set():
                    return False
                data = rest + chunk
                lines = data.split(b"\n")
                rest = lines.pop()
                self._send(lines)
            if rest:
                self._send([rest])
        except Exception as exc:  # noqa: BLE001
            if self._stop.is_set():
                return False
            if _is_read_timeout(exc):
                return False  # quiet for too long: open it again
            raise self.cluster.translate(exc, verb="get", resource="pods/log",
                                         namespace=self.pod.namespace, name=self.pod.name) from exc
        finally:
            self._response = None
            try:
                response.release_conn()
            except Exception:  # noqa: BLE001
                pass
        return True

    def _send(self, raw_lines: list[bytes]) -> None:
        out: list[LogLine] = []
        for raw in raw_lines:
            text = raw.decode("utf-8", "replace").rstrip("\r")
            stamp, sep, message = text.partition(" ")
            moment = parse_stamp(stamp) if sep else None
            if moment is None:  # no timestamp (not what kubelet sends): keep the whole line
                moment, message = self.clock.now(), text
            else:
                last = self._last
                if last is not None:
                    if moment < last or (moment == last and message in self._at_last):
                        continue  # sent before the stream was opened again
                if moment != last:
                    self._last = moment
                    self._at_last = set()
                self._at_last.add(message)
            out.append(LogLine(ts=moment, service=self.service, environment=self.environment,
                               instance=self.instance, level=guess_level(message),
                               message=message))
        if out:
            self.sent += len(out)
            self.mux.put(out)
