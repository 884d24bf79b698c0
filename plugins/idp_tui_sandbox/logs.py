"""Log lines as a pure function of the seed, the second they fall in and what was deployed then.

Time is cut into one-second buckets; the lines of a bucket (how many, when, from which pod, what they
say) come from a generator seeded with the bucket, so the tail at a given time and the lines that follow
it never change, whatever the moment they are asked for.
"""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from idp_tui import Health, Instances, LogLevel, LogLine, LogQuery

from .fleet import Segment, pod_names, segment_at
from .metrics import load, rollout
from .rand import unit
from .world import ServiceSpec

#: Lines per second of each environment relative to production.
VOLUME = {"production": 1.0, "staging": 0.3, "dev": 0.15}
#: How far back a tail looks for lines.
TAIL_LOOKBACK = 6 * 3600.0

_DEBUG, _INFO, _WARN, _ERROR = LogLevel.DEBUG, LogLevel.INFO, LogLevel.WARN, LogLevel.ERROR

_INFO_EVENTS = (
    ("processed batch", ("batch", "records", "duration_ms")),
    ("published {resource} event", ("partition", "offset")),
    ("cache refreshed", ("entries", "duration_ms")),
    ("connection pool stats", ("active", "idle")),
    ("token refreshed", ("expires_in",)),
    ("config reloaded", ("revision",)),
    ("consumer lag within threshold", ("lag",)),
    ("{resource} updated", ("id",)),
    ("{resource} created", ("id",)),
    ("scheduled job finished", ("job", "duration_ms")),
)
_DEBUG_EVENTS = (
    ("cache hit", ("key",)),
    ("span exported", ("spans",)),
    ("feature flag evaluated", ("flag", "value")),
    ("sql query", ("rows", "duration_ms")),
)
_WARN_EVENTS = (
    ("slow query", ("duration_ms", "table")),
    ("retrying call to {dep}", ("attempt",)),
    ("connection pool near capacity", ("active", "max")),
    ("deprecated API version called", ("client",)),
    ("circuit breaker half-open for {dep}", ()),
)
_ERROR_EVENTS = (
    ("upstream {dep} returned 503", ("attempt",)),
    ("timeout calling {dep} after 2000ms", ()),
    ("failed to process message", ("offset",)),
    ("database deadlock detected, transaction rolled back", ("table",)),
    ("failed to publish {resource} event: broker unavailable", ("partition",)),
)
#: The dominant error of a bad release (one per release, chosen by hash).
_INCIDENT_ERRORS = (
    'failed to decode response from {dep}: unknown field "amount_minor"',
    "connection pool exhausted (max=50, waiting=212)",
    'pq: column "currency_code" does not exist',
    "circuit breaker open for {dep}",
    "unhandled exception in {resource} handler",
    "request to {dep} failed: context deadline exceeded",
)
_FLAGS = ("new-checkout-flow", "fast-refunds", "search-v2-ranking", "mfa-everywhere", "batch-payouts")
_TABLES = ("orders", "payments", "ledger_entries", "sessions", "events", "invoices", "users")
_JOBS = ("compact-cache", "expire-sessions", "rotate-keys", "sync-rates", "reindex-delta")
_CLIENTS = ("mobile-ios/7.12", "mobile-android/7.11", "partner-acme", "web/2026.11")
_PY_LEVEL = {_DEBUG: "DEBUG", _INFO: "INFO", _WARN: "WARNING", _ERROR: "ERROR", LogLevel.FATAL: "CRITICAL"}
_METHODS = (("GET", 60, True), ("GET", 12, False), ("POST", 18, False), ("PUT", 7, True), ("DELETE", 3, True))


def _field(r: random.Random, name: str, spec: ServiceSpec) -> object:
    if name in ("duration_ms", "lag"):
        return int(r.lognormvariate(3.0, 1.0)) + 1
    if name in ("records", "entries", "rows", "spans"):
        return r.randrange(1, 2000)
    if name in ("batch", "offset", "id", "revision"):
        return r.randrange(1000, 9_999_999)
    if name in ("active", "idle"):
        return r.randrange(0, 50)
    if name == "max":
        return 50
    if name in ("partition", "attempt"):
        return r.randrange(0, 12) if name == "partition" else r.randrange(1, 4)
    if name == "expires_in":
        return 3600
    if name == "key":
        return f"{spec.resource}:{r.randrange(1, 99999)}"
    if name == "flag":
        return r.choice(_FLAGS)
    if name == "value":
        return r.random() < 0.5
    if name == "table":
        return r.choice(_TABLES)
    if name == "job":
        return r.choice(_JOBS)
    return r.choice(_CLIENTS)


def _logfmt(value: object) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return f'"{text}"' if " " in text else text


@dataclass(slots=True)
class _Context:
    """What the lines of one bucket depend on."""

    segment: Segment
    instances: tuple[str, ...]
    incident: float  # 0–1: how much a bad release hurts right now


class LogGenerator:
    """Log lines of one service in one environment."""

    def __init__(self, seed: int, spec: ServiceSpec, environment: str, replicas: int) -> None:
        self.seed = seed
        self.spec = spec
        self.environment = environment
        self.replicas = max(replicas, 1)
        self.rate = spec.log_rate * VOLUME.get(environment, 0.1)
        self._key = f"{seed}:logs:{spec.name}:{environment}"
        self._pods: dict[tuple[str | None, str, int], tuple[str, ...]] = {}
        self._deps = spec.depends_on or ("postgres",)
        module = spec.name.replace("-", "_")
        self._logger = {
            "python": f"{module}.handlers", "rust": f"{module}::service",
            "java": f"c.e.{spec.team}.{spec.resource.replace('-', '')}.Service",
            "kotlin": f"c.e.{spec.team}.{spec.resource.replace('-', '')}.Service",
        }.get(spec.language, module)

    # Pods ---------------------------------------------------------------------------------------
    def instances(self, version: str | None, revision: str = "", count: int | None = None) -> tuple[str, ...]:
        """Pod names of a rollout (``fleet.pod_names``): ``count`` of them (None: the replicas
        the generator was made for). A restart (a new ``revision``) gives new names."""
        key = (version, revision, max(count, 1) if count is not None else self.replicas)
        pods = self._pods.get(key)
        if pods is None:
            pods = pod_names(self.seed, self.spec.name, self.environment, version, revision, key[2])
            self._pods[key] = pods
        return pods

    def _at(self, segment: Segment, t: float) -> tuple[str, ...]:
        """The pods that ran at ``t``: as many as then, each under the name it had then."""
        pods = self.instances(segment.version, segment.revision, segment.replicas_at(t))
        return segment.named(pods, t)

    # Buckets ------------------------------------------------------------------------------------
    def bucket(self, second: int, segment: Segment) -> list[tuple[float, str, LogLevel, str]]:
        """The lines of one second as ``(ts, instance, level, message)``, in time order."""
        if segment.stopped:  # scaled to zero: nothing runs
            return []
        r = random.Random(f"{self._key}:{second}")
        burst = unit(f"{self._key}:burst:{second // 10}")
        rate = self.rate * (0.3 + 0.7 * load(second)) * (5.0 if burst < 0.04 else 2.5 if burst < 0.14 else 1.0)
        incident = rollout(segment, second) * segment.severity
        if segment.health is Health.DOWN:
            rate = 0.4
        elif incident:
            rate *= 1.0 + incident
        count = int(rate) + (1 if r.random() < rate - int(rate) else 0)
        pods = self.instances(segment.version, segment.revision, segment.replicas_at(second))
        ctx = _Context(segment, pods, incident)
        lines: list[tuple[float, str, LogLevel, str]] = []
        for offset in sorted(r.random() for _ in range(count)):
            ts = second + offset
            index = r.randrange(len(pods))
            instance = segment.named(pods, ts)[index] if segment.replaced else pods[index]
            for level, message in self._entry(r, ctx):
                lines.append((ts, instance, level, message))
        return lines

    def _entry(self, r: random.Random, ctx: _Context) -> list[tuple[LogLevel, str]]:
        """One log event: usually one line, several for a stack trace."""
        if ctx.segment.health is Health.DOWN:
            return [self._crash_loop(r, ctx)]
        roll = r.random()
        if not self.spec.is_worker and roll < 0.5:
            return [self._access(r, ctx)]
        level = self._level(r, ctx)
        message, fields = self._event(r, level, ctx)
        if roll > 0.85 or self.spec.language == "typescript":
            entry = [(level, self._json(r, level, message, fields))]
        else:
            entry = [(level, self._text(r, level, message, fields))]
        if level is _ERROR and r.random() < (0.2 + 0.3 * ctx.incident):
            entry.extend((_ERROR, line) for line in self._trace(r, message))
        return entry

    def _level(self, r: random.Random, ctx: _Context) -> LogLevel:
        x = r.random()
        error = 0.015 + 0.45 * ctx.incident
        if x < error:
            return _ERROR
        if x < error + 0.07 + 0.1 * ctx.incident:
            return _WARN
        if x < error + 0.07 + 0.1 * ctx.incident + 0.08:
            return _DEBUG
        return _INFO

    def _event(self, r: random.Random, level: LogLevel, ctx: _Context) -> tuple[str, dict[str, object]]:
        if level is _ERROR and ctx.incident and r.random() < 0.8:
            template = self._incident_error(ctx.segment.version)
            names: tuple[str, ...] = ()
        else:
            pool = {_INFO: _INFO_EVENTS, _DEBUG: _DEBUG_EVENTS, _WARN: _WARN_EVENTS, _ERROR: _ERROR_EVENTS}[level]
            template, names = pool[r.randrange(len(pool))]
        message = template.format(resource=self.spec.resource, dep=self._deps[r.randrange(len(self._deps))])
        fields = {name: _field(r, name, self.spec) for name in names}
        fields["req_id"] = f"{r.getrandbits(48):012x}"
        return message, fields

    def _incident_error(self, version: str | None) -> str:
        index = int(unit(f"{self._key}:incident:{version}") * len(_INCIDENT_ERRORS))
        return _INCIDENT_ERRORS[index]

    # Formats ------------------------------------------------------------------------------------
    def _access(self, r: random.Random, ctx: _Context) -> tuple[LogLevel, str]:
        x = r.random() * 100
        for method, weight, with_id in _METHODS:
            x -= weight
            if x < 0:
                break
        path = f"/v1/{self.spec.resource}"
        if with_id:
            path += f"/{r.randrange(1, 100_000)}"
        elif method == "GET":
            path += f"?page={r.randrange(1, 20)}"
        status = 201 if method == "POST" else 204 if method == "DELETE" else 200
        x = r.random()
        if x < 0.004 + 0.35 * ctx.incident:
            status = r.choice((500, 502, 503, 504))
        elif x < 0.05 + 0.35 * ctx.incident:
            status = r.choice((400, 401, 403, 404, 404, 409, 429))
        elif x < 0.07 + 0.35 * ctx.incident and method == "GET":
            status = 304
        latency = self.spec.latency_p50 * 1000 * (1 + 4 * ctx.incident) * r.lognormvariate(0.0, 0.6)
        level = _ERROR if status >= 500 else _WARN if status >= 400 else _INFO
        return level, f"{method} {path} {status} {max(int(latency), 1)}ms req_id={r.getrandbits(48):012x}"

    def _json(self, r: random.Random, level: LogLevel, message: str, fields: dict[str, object]) -> str:
        record = {"level": level.value, "msg": message, "trace_id": f"{r.getrandbits(128):032x}",
                  "latency_ms": int(r.lognormvariate(2.5, 0.8)) + 1, **fields}
        return json.dumps(record, separators=(",", ":"))

    def _text(self, r: random.Random, level: LogLevel, message: str, fields: dict[str, object]) -> str:
        tail = " ".join(f"{k}={_logfmt(v)}" for k, v in fields.items())
        language = self.spec.language
        if language == "go":
            return f'level={level.value} msg="{message}" {tail}'
        if language == "python":
            return f"{_PY_LEVEL[level]:<8} {self._logger}: {message} {tail}"
        if language in ("java", "kotlin"):
            thread = f"http-nio-8080-exec-{r.randrange(1, 40)}" if not self.spec.is_worker else \
                f"worker-{r.randrange(1, 8)}"
            return f"{level.value.upper():<5} [{thread}] {self._logger} - {message} {tail}"
        return f"{level.value.upper():>5} {self._logger}: {message} {tail}"

    def _trace(self, r: random.Random, message: str) -> list[str]:
        spec = self.spec
        res = spec.resource.replace("-", "_")
        cls = "".join(part.title() for part in spec.resource.split("-"))
        n = r.randrange(40, 400)
        if spec.language in ("java", "kotlin"):
            ext = "kt" if spec.language == "kotlin" else "java"
            frames = [f"{cls}Service.process", f"{cls}Controller.handle", "RetryTemplate.execute",
                      "DispatcherServlet.doDispatch", "FrameworkServlet.service"]
            return [f"java.lang.IllegalStateException: {message}",
                    *(f"    at com.example.{spec.team}.{frame}({frame.split('.')[0]}.{ext}:{n + 7 * i})"
                      for i, frame in enumerate(frames)),
                    f"    ... {r.randrange(20, 60)} more"]
        if spec.language == "python":
            return ["Traceback (most recent call last):",
                    f'  File "/app/{res}/handlers.py", line {n}, in handle',
                    "    result = await self.service.process(request)",
                    f'  File "/app/{res}/service.py", line {n // 2 + 11}, in process',
                    "    return self.client.call(payload)",
                    f"RuntimeError: {message}"]
        if spec.language == "go":
            return ["panic: runtime error: invalid memory address or nil pointer dereference",
                    f"goroutine {r.randrange(100, 9000)} [running]:",
                    f"main.(*{cls}Handler).ServeHTTP(0xc000{r.getrandbits(24):06x}, {{0x1a2b3c0, 0xc0001}})",
                    f"    /app/internal/{res}/handler.go:{n} +0x1d4",
                    "net/http.serverHandler.ServeHTTP({0xc000123456?})",
                    "    /usr/local/go/src/net/http/server.go:3210 +0x8e"]
        if spec.language == "typescript":
            return [f"TypeError: Cannot read properties of undefined (reading '{res}Id')",
                    f"    at {cls}Controller.handle (/app/dist/{res}/controller.js:{n}:17)",
                    f"    at {cls}Service.process (/app/dist/{res}/service.js:{n // 2}:9)",
                    "    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)"]
        return [f"thread 'tokio-runtime-worker' panicked at src/{res}.rs:{n}:14:",
                "called `Option::unwrap()` on a `None` value",
                "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace"]

    def _crash_loop(self, r: random.Random, ctx: _Context) -> tuple[LogLevel, str]:
        x = r.random()
        if x < 0.3:
            return _INFO, f"starting {self.spec.name} version={ctx.segment.version}"
        if x < 0.8:
            return LogLevel.FATAL, f"startup failed: {ctx.segment.message or 'dependency check failed'}"
        return _INFO, "exiting with code 1"

    # Ranges -------------------------------------------------------------------------------------
    def between(self, segments: list[Segment], start: float, end: float) -> list[LogLine]:
        """Lines with ``start < ts <= end``, oldest first."""
        starts = [s.start for s in segments]
        lines: list[tuple[float, str, LogLevel, str]] = []
        for second in range(math.floor(start), math.floor(end) + 1):
            for line in self.bucket(second, segment_at(segments, starts, second)):
                if start < line[0] <= end:
                    lines.append(line)
        return self._models(lines)

    def tail(self, segments: list[Segment], end: float, count: int, since: float | None) -> list[LogLine]:
        """The last ``count`` lines at or before ``end`` (and after ``since``), oldest first."""
        if count <= 0:
            return []
        starts = [s.start for s in segments]
        floor = max(end - TAIL_LOOKBACK, since if since is not None else -math.inf)
        chunks: list[list[tuple[float, str, LogLevel, str]]] = []
        found = 0
        second = math.floor(end)
        while found < count and second + 1 > floor:
            chunk = [line for line in self.bucket(second, segment_at(segments, starts, second))
                     if floor < line[0] <= end]
            chunks.append(chunk)
            found += len(chunk)
            second -= 1
        lines = [line for chunk in reversed(chunks) for line in chunk]
        return self._models(lines[-count:])

    def _models(self, lines: list[tuple[float, str, LogLevel, str]]) -> list[LogLine]:
        service, environment = self.spec.name, self.environment
        return [LogLine(ts=datetime.fromtimestamp(ts, UTC), service=service, environment=environment,
                        instance=instance, level=level, message=message)
                for ts, instance, level, message in lines]

    # Flood --------------------------------------------------------------------------------------
    def flood_pool(self, segment: Segment, size: int = 4096) -> list[tuple[str, LogLevel, str]]:
        """Ready-made lines for flood mode, drawn like ordinary ones."""
        r = random.Random(f"{self._key}:flood")
        if segment.stopped:
            return []
        ctx = _Context(segment, self._at(segment, math.inf), rollout(segment, math.inf) * segment.severity)
        pool: list[tuple[str, LogLevel, str]] = []
        while len(pool) < size:
            instance = ctx.instances[r.randrange(len(ctx.instances))]
            pool.extend((instance, level, message) for level, message in self._entry(r, ctx))
        return pool


# The choices of a log query ------------------------------------------------------------------------

def chosen(lines: list[LogLine], query: LogQuery) -> list[LogLine]:
    """The lines of the instances and containers ``query`` chooses: each sandbox instance runs one
    container, named like the service ("all", "main" and that name choose it; another, none)."""
    if query.container not in ("", "all", "main", query.service):
        return []
    if not query.instance:
        return lines
    pattern = re.compile(query.instance)
    return [line for line in lines if pattern.search(line.instance)]


def previous_logs(instances: Instances, query: LogQuery, now: datetime) -> list[LogLine]:
    """The log of each restarted container's previous run, as ``kubectl logs --previous`` reads
    it: how it started and why it ended (the crash the instance view reports), oldest first; a
    container that runs ended its previous run when it started, one that waits a little ago."""
    out: list[LogLine] = []
    pattern = re.compile(query.instance) if query.instance else None
    if query.container not in ("", "all", "main", query.service):
        return out
    for instance in instances.instances:
        if pattern is not None and pattern.search(instance.name) is None:
            continue
        for container in instance.containers:
            if not container.restarts or not container.last_reason:
                continue
            end = container.started_at or now - timedelta(seconds=10)
            if query.since is not None and end < now - query.since:
                continue
            make = LogLine.maker(service=query.service, environment=query.environment,
                                 instance=instance.name)
            if container.last_reason == "OOMKilled":
                ending = [(_ERROR, "fatal error: runtime: out of memory"),
                          (_ERROR, f"exit code {container.last_exit_code} (OOMKilled)")]
            else:
                ending = [(_ERROR, f"FATAL startup failed: {container.message or 'exiting'}"),
                          (_ERROR, f"exit code {container.last_exit_code}")]
            entries = [(_INFO, f"starting {query.service} (restart {container.restarts})"),
                       (_INFO, "loading configuration"), *ending]
            first = end - timedelta(seconds=len(entries))
            out.extend(make(first + timedelta(seconds=k), level, message)
                       for k, (level, message) in enumerate(entries))
    out.sort(key=lambda line: line.ts)
    return out[-query.tail:] if query.tail else []

