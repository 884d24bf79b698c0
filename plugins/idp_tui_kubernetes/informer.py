"""Local copies of watched objects, kept current by the API server's watches.

An informer lists one kind of object in one namespace (or the whole cluster), then watches from the
list's ``resourceVersion``: every event updates the copy and calls its listeners. A watch that ends
(its timeout, a dropped connection) is opened again from the last resourceVersion seen, so nothing
is missed and nothing listed twice; when the server says that version is too old (410 Gone) the
informer lists again. Errors are kept (``error``) for the source to report, and retried with a
growing pause (cut short by :meth:`Informer.retry_now`). The error is gone as soon as the server
answers again (a list, or a watch opened: what changed meanwhile comes on it, or a 410 says to
list again), whether or not anything changed meanwhile. Each informer runs on a thread of its own:
the client is synchronous.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from idp_tui import SourceError

from .cluster import Cluster, Gone

log = logging.getLogger("idp_tui.kubernetes")

T = TypeVar("T")

#: Seconds to wait before retrying after an error: doubled each time up to the maximum.
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
#: A watch that ends within this many seconds is opened again only after a pause.
QUICK_END = 1.0


class Informer(Generic[T]):
    def __init__(self, cluster: Cluster, *, group: str, noun: str, resource: str,
                 namespace: str | None, project: Callable[[dict[str, Any]], T],
                 on_change: Callable[[], None] | None = None, label_selector: str | None = None,
                 watch_timeout: int = 300, precheck: Callable[[], None] | None = None) -> None:
        self.cluster = cluster
        self.group = group
        self.noun = noun
        self.resource = resource
        self.namespace = namespace
        self.project = project
        #: Called (on the informer's thread) after each change, and when an error first shows.
        self._listeners: list[Callable[[], None]] = [on_change] if on_change else []
        self.label_selector = label_selector
        self.watch_timeout = watch_timeout
        #: Called before each list; raises a SourceError when listing would be pointless (a
        #: namespace that does not exist lists as empty).
        self.precheck = precheck
        self.resource_version: str | None = None
        self.error: SourceError | None = None
        self.synced = threading.Event()
        #: How many lists and watches were made (the first list included).
        self.lists = 0
        self.watches = 0
        self._items: dict[str, T] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        #: Set to end a pause after an error at once (``stop``, ``retry_now``).
        self._wake = threading.Event()
        #: Attempts (lists and watches) that have ended, in error or not (see ``retry_now``).
        self.attempts = 0
        #: Seconds the last list took, or the last watch until its answer began (None: neither).
        self.latency: float | None = None
        self._response: Any = None
        self._listed_at = 0.0
        self._thread = threading.Thread(
            target=self._run, daemon=True,
            name=f"idp-k8s-{noun}-{namespace or 'cluster'}")

    def start(self) -> Informer[T]:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        response = self._response
        if response is not None:
            _shutdown(response)

    def join(self, timeout: float = 2.0) -> None:
        if self._thread.ident is not None:
            self._thread.join(timeout)

    def retry_now(self) -> int:
        """End the pause after an error now: the informer lists again at once. Returns the
        attempts made so far (the source waits for the next one to end, a little)."""
        attempts = self.attempts
        if self.error is not None:
            self._wake.set()
        return attempts

    def _pause(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    @property
    def running(self) -> bool:
        """Whether its thread runs (an informer whose cluster's credentials could not even be
        loaded never starts)."""
        return self._thread.is_alive() and not self._stop.is_set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def items(self) -> list[T]:
        with self._lock:
            return list(self._items.values())

    def get(self, name: str) -> T | None:
        with self._lock:
            return self._items.get(name)

    # The loop ------------------------------------------------------------------------------------

    def _where(self) -> str:
        return f"{self.resource} in {self.namespace or 'the cluster'} ({self.cluster.label})"

    def _run(self) -> None:
        backoff = BACKOFF_FIRST
        while not self._stop.is_set():
            try:
                if self.resource_version is None:
                    self._list()
                started = time.monotonic()
                self._watch()
                if time.monotonic() - started < QUICK_END:
                    # Ended at once (a proxy cutting it, a server in trouble): not in a loop.
                    self._pause(backoff)
                    backoff = min(backoff * 2, BACKOFF_MAX)
                else:
                    backoff = BACKOFF_FIRST
            except Gone:
                log.info("watch of %s expired; listing again", self._where())
                self.resource_version = None
                if time.monotonic() - self._listed_at < QUICK_END:  # again at once: not in a loop
                    self._pause(backoff)
                    backoff = min(backoff * 2, BACKOFF_MAX)
            except SourceError as exc:
                if self._stop.is_set():
                    return
                self._failed(exc)
                self._pause(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
            except Exception as exc:  # noqa: BLE001 - the thread must survive anything
                if self._stop.is_set():
                    return
                self._failed(self.cluster.translate(exc, verb="watch", resource=self.resource,
                                                    namespace=self.namespace))
                self._pause(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)

    def _failed(self, error: SourceError) -> None:
        if error.part is None:
            error.part = self.cluster.part  # about this cluster only (the others may answer)
        first = self.error is None or self.error.message != error.message
        self.error = error
        self.attempts += 1
        if first:
            log.warning("%s: %s", self._where(), error.message)
            self._notify()

    def add_listener(self, callback: Callable[[], None]) -> None:
        self._listeners = [*self._listeners, callback]

    def remove_listener(self, callback: Callable[[], None]) -> None:
        self._listeners = [c for c in self._listeners if c is not callback]

    def _notify(self) -> None:
        for callback in self._listeners:
            try:
                callback()
            except Exception:  # noqa: BLE001
                log.exception("change callback of %s failed", self._where())

    def _method(self, api: Any) -> Callable[..., Any]:
        scope = "namespaced_" if self.namespace else ""
        name = f"list_{scope}{self.noun}"
        if not self.namespace and self.noun != "namespace":
            name += "_for_all_namespaces"
        return getattr(api, name)

    def _call(self, **kwargs: Any) -> Any:
        api = self.cluster.api(self.group)
        method = self._method(api)
        if self.label_selector:
            kwargs["label_selector"] = self.label_selector
        if self.namespace:
            return method(self.namespace, _preload_content=False, **kwargs)
        return method(_preload_content=False, **kwargs)

    def _list(self) -> None:
        if self.precheck is not None:
            self.precheck()
        started = time.perf_counter()
        data = self.cluster.read_json(
            "list", self.resource, self.namespace,
            lambda _c: self._call(_request_timeout=self.cluster.request_timeout))
        items: dict[str, T] = {}
        for obj in data.get("items") or ():
            if isinstance(obj, dict):
                name = (obj.get("metadata") or {}).get("name")
                if name:
                    items[str(name)] = self.project(obj)
        version = (data.get("metadata") or {}).get("resourceVersion")
        with self._lock:
            self._items = items
        self.resource_version = str(version) if version else ""
        self.lists += 1
        self._listed_at = time.monotonic()
        self.latency = time.perf_counter() - started
        self.error = None
        self.attempts += 1
        self.synced.set()
        self._notify()

    def _watch(self) -> None:
        kwargs: dict[str, Any] = {
            "watch": True, "allow_watch_bookmarks": True, "timeout_seconds": self.watch_timeout,
            # The server ends the watch after timeout_seconds; the read timeout is only there for
            # a connection that died silently.
            "_request_timeout": (self.cluster.request_timeout, self.watch_timeout + 30),
        }
        if self.resource_version:
            kwargs["resource_version"] = self.resource_version
        started = time.perf_counter()
        response = self.cluster.request("watch", self.resource, self.namespace,
                                        lambda _c: self._call(**kwargs))
        self.latency = time.perf_counter() - started
        self._response = response
        self.watches += 1
        if self.error is not None:  # the server answers again: the copy follows it from here
            self.error = None
            self.attempts += 1
            self._notify()
        ended = False
        try:
            if self._stop.is_set():  # stopped while the request was on its way
                return
            for line in _lines(response):
                if self._stop.is_set():
                    return
                self._event(line)
            ended = True
        except Exception as exc:  # noqa: BLE001
            if self._stop.is_set():
                return
            if _is_read_timeout(exc):
                return  # a quiet watch timed out on our side: open it again from the same version
            raise
        finally:
            self._response = None
            _release(response, reuse=ended)

    def _event(self, line: str | bytes) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            log.warning("%s: a watch event that is not JSON was ignored", self._where())
            return
        if not isinstance(event, dict):
            return
        kind = event.get("type")
        obj = event.get("object")
        if not isinstance(obj, dict):
            return
        if kind == "ERROR":
            code = obj.get("code")
            if code == 410:
                raise Gone(str(obj.get("message") or "too old resource version"))
            raise SourceError(f"the watch of {self._where()} failed: "
                              f"{obj.get('code')} {obj.get('message') or obj.get('reason') or ''}")
        meta = obj.get("metadata") or {}
        version = meta.get("resourceVersion")
        if version:
            self.resource_version = str(version)
        if kind == "BOOKMARK":
            return
        name = meta.get("name")
        if not name:
            return
        with self._lock:
            if kind == "DELETED":
                self._items.pop(str(name), None)
            elif kind in ("ADDED", "MODIFIED"):
                self._items[str(name)] = self.project(obj)
            else:
                return
        self.error = None
        self._notify()


def _lines(response: Any) -> Any:
    """The lines of a streamed answer as they come (the last one even without a newline)."""
    rest = b""
    for chunk in response.stream(64 * 1024, decode_content=True):
        if not chunk:
            continue
        data = rest + chunk
        lines = data.split(b"\n")
        rest = lines.pop()
        for line in lines:
            if line.strip():
                yield line
    if rest.strip():
        yield rest


def _shutdown(response: Any) -> None:
    """Unblock a thread reading ``response`` (urllib3's shutdown, else closing the socket)."""
    try:
        shutdown = getattr(response, "shutdown", None)
        if shutdown is not None:
            shutdown()
        else:
            response.close()
    except Exception:  # noqa: BLE001
        log.debug("closing a watch failed", exc_info=True)


def _release(response: Any, *, reuse: bool) -> None:
    """Give back the connection of ``response``: to the pool when the answer was read to its end
    (``reuse``), else closed, so that the server sees the stream end at once (a watch or a followed
    log left open would otherwise run on the server until its own timeout)."""
    try:
        if not reuse:
            response.close()
        response.release_conn()
    except Exception:  # noqa: BLE001
        log.debug("releasing a connection failed", exc_info=True)


def _is_read_timeout(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        name = type(seen).__name__
        if name in ("ReadTimeoutError", "TimeoutError", "ReadTimeout", "socket.timeout"):
            return True
        seen = seen.__context__ or getattr(seen, "reason", None)  # type: ignore[assignment]
    return False
