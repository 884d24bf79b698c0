"""The ``prometheus`` source: the golden signals of a service from Prometheus's HTTP API.

Each signal is a PromQL template (see ``config.DEFAULT_QUERIES``) with the service's label matchers
put in; the Metrics pane's window becomes one ``query_range`` per signal, sent at once.
"""

from __future__ import annotations

import asyncio
import copy
import math
import re
from datetime import UTC, datetime
from typing import Any

from idp_tui import (
    SIGNAL_UNITS,
    Alert,
    Capability,
    CostPrices,
    HttpClient,
    MetricSeries,
    MetricsQuery,
    PartialAnswer,
    ServiceSeries,
    Signal,
    SignalsQuery,
    Source,
    SourceContext,
    SourceDataError,
    SourceError,
    SourceUnavailable,
)

from idp_tui.api.models import Window, metrics_step

from .config import DEFAULT_QUERIES, PrometheusConfig

#: What each signal is called in messages.
SIGNAL_NAMES = {
    Signal.REQUEST_RATE: "request rate", Signal.ERROR_RATIO: "error ratio",
    Signal.LATENCY_P50: "latency p50", Signal.LATENCY_P95: "latency p95",
    Signal.LATENCY_P99: "latency p99", Signal.CPU: "CPU", Signal.MEMORY: "memory",
}
#: At most this many points per series (Prometheus refuses more than 11,000).
MAX_POINTS = 11_000
#: Services in one batched query (the matcher lists them all).
BATCH_SERVICES = 200


class PromQLError(SourceError):
    """Prometheus refused a query (bad PromQL, a query that timed out, too many points…)."""

    error_class = "query error"


def label_value(text: str) -> str:
    """``text`` as the inside of a PromQL double-quoted string."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def duration(seconds: float) -> str:
    """A PromQL duration (``90s``, ``5m``)."""
    whole = max(1, int(math.ceil(seconds)))
    if whole % 3600 == 0:
        return f"{whole // 3600}h"
    if whole % 60 == 0:
        return f"{whole // 60}m"
    return f"{whole}s"


class PrometheusSource(Source):
    """Request rate, errors, latency, CPU and memory from Prometheus."""

    Config = PrometheusConfig
    capabilities = frozenset({Capability.METRICS})
    description = "Prometheus: golden signals by PromQL (query_range), any label convention"

    config: PrometheusConfig

    def __init__(self, config: PrometheusConfig, context: SourceContext) -> None:  # type: ignore[override]
        super().__init__(config, context)
        self.http = HttpClient(config, context, headers={"Accept": "application/json"},
                               server="Prometheus")

    @property
    def requests_sent(self) -> int:
        """Requests made to Prometheus so far (for the benchmark and the tests)."""
        return self.http.requests_sent

    async def start(self) -> None:
        self.http.open()  # an unreadable ca_file or an unset token_env is said now

    async def close(self) -> None:
        await self.http.aclose()

    # Queries -------------------------------------------------------------------------------------

    def selector(self, service: str, environment: str,
                 annotations: dict[str, str] | None = None, *, container: bool = False) -> str:
        """The label matchers of ``service`` in ``environment`` (``container``: of its
        containers, for ``$container_selector``)."""
        override = self.config.services.get(service)
        if container:
            template = (override.container_selector if override else None) \
                or (annotations or {}).get(self.config.container_selector_annotation) \
                or self.config.container_selector
        else:
            template = (override.selector if override and override.selector else None) \
                or (annotations or {}).get(self.config.selector_annotation) \
                or self.config.selector
        return place(template, service, environment)

    def template(self, signal: Signal, service: str | None = None,
                 annotations: dict[str, str] | None = None) -> str:
        override = self.config.services.get(service) if service is not None else None
        annotated = (annotations or {}).get(f"{self.config.query_annotation}.{signal.value}")
        return (override.queries.get(signal) if override else None) or annotated \
            or self.config.queries.get(signal) or DEFAULT_QUERIES[signal]

    def rate(self, step: float) -> str:
        return self.config.rate_window if self.config.rate_window != "auto" \
            else duration(max(60.0, 4 * step))

    def window_rate(self, window: Window) -> str:
        """The range of rate() for ``window``'s chart: a function of the window alone, so every
        step asked for the same window gives the same values."""
        return self.rate(metrics_step(window))

    def promql(self, signal: Signal, service: str, environment: str, step: float,
               annotations: dict[str, str] | None = None, *, rate: str | None = None) -> str:
        template = self.template(signal, service, annotations)
        if "$container_selector" in template:
            template = template.replace("$container_selector", self.selector(
                service, environment, annotations, container=True))
        return place(fill(template, self.selector(service, environment, annotations),
                          rate or self.rate(step), None), service, environment)

    # Many services at once ---------------------------------------------------------------------

    def batch_selector(self, services: list[str], environment: str) -> tuple[str, str] | None:
        """Label matchers for many services at once (``service=~"a|b"``) and the label that
        tells them apart; None when the selector does not name the service by one label."""
        template = self.config.selector
        match = re.search(r'([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"\{service\}"', template)
        if match is None or template.count("{service}") != 1:
            return None
        alternatives = "|".join(re.escape(s) for s in services)
        batched = (template[:match.start()] + f'{match.group(1)}=~"{label_value(alternatives)}"'
                   + template[match.end():])
        return batched.replace("{environment}", label_value(environment)), match.group(1)

    async def service_signals(self, query: SignalsQuery) -> list[ServiceSeries]:
        """One query_range per signal for all the services that share the default selector and
        queries (in groups of BATCH_SERVICES); one per service for the others."""
        now = self.context.clock.now().timestamp()
        span = query.window.delta.total_seconds()
        step = max(float(query.step), span / MAX_POINTS, 1.0)
        end = math.floor(now / step) * step
        start = end - span
        rate = self.rate(step)
        services = list(dict.fromkeys(query.services))
        own = [s for s in services if s in self.config.services]
        shared = [s for s in services if s not in self.config.services]
        jobs: list[Any] = []
        for signal in query.signals:
            template = self.template(signal)
            batch = self.batch_selector(shared[:1] or ["x"], query.environment) \
                if "$by" in template and "$container_selector" not in template \
                and "{service}" not in template else None
            singles = own + (shared if batch is None else [])
            if batch is not None:
                for i in range(0, len(shared), BATCH_SERVICES):
                    group = shared[i:i + BATCH_SERVICES]
                    selector, label = self.batch_selector(group, query.environment)  # type: ignore[misc]
                    jobs.append(self._batch(signal, fill(template, selector, rate, label).replace(
                        "{environment}", label_value(query.environment)),
                        label, group, start, end, step, now, span))
            for service in singles:
                jobs.append(self._single(signal, service, self.promql(
                    signal, service, query.environment, step), start, end, step, now, span))
        return await _all_or_partial(jobs, flatten=True)

    async def _batch(self, signal: Signal, promql: str, label: str, services: list[str],
                     start: float, end: float, step: float, now: float,
                     span: float) -> list[ServiceSeries]:
        """One query for ``services``, each series up to its inputs' newest sample."""
        data, newest = await asyncio.gather(
            self._get("/api/v1/query_range", signal, promql, {
                "query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}",
                "step": f"{step:g}"}, post=True),
            self._newest_by(vector_selectors(promql), label, now, span, step))
        points = _points_by(data, signal, label)
        return [ServiceSeries(service=s, signal=signal, unit=SIGNAL_UNITS[signal],
                              points=_complete(tuple(sorted(points.get(s, {}).items())),
                                               None if newest is None else newest.get(s)))
                for s in services]

    async def _single(self, signal: Signal, service: str, promql: str, start: float,
                      end: float, step: float, now: float, span: float) -> list[ServiceSeries]:
        series = await self._signal(signal, promql, start, end, step, now, span)
        return [ServiceSeries(service=service, signal=signal, unit=series.unit,
                              points=series.points)]

    async def metrics(self, query: MetricsQuery) -> list[MetricSeries]:
        """One query_range per signal over the window, on a grid of whole steps (the same
        points for every fetch of a step), with the rate() range of the window; beside it, when
        each query's series last had a sample: the points after it are not complete (rate()
        over a range the data do not reach reads low) and are left out, so a series' last point
        is its "now", dated (``as_of``) when older than two steps."""
        now = self.context.clock.now().timestamp()
        span = query.window.delta.total_seconds()
        step = max(float(query.step), span / MAX_POINTS, 1.0)
        end = math.floor(now / step) * step
        start = end - span
        rate = self.window_rate(query.window)
        signals = list(dict.fromkeys(query.signals))
        results = await asyncio.gather(*(
            self._signal(signal, self.promql(signal, query.service, query.environment, step,
                                             query.annotations, rate=rate),
                         start, end, step, now, span)
            for signal in signals), return_exceptions=True)
        out: list[MetricSeries] = []
        refused: list[MetricSeries] = []
        errors: list[SourceError] = []
        for signal, result in zip(signals, results, strict=True):
            if isinstance(result, SourceError):
                errors.append(result)
                note = _first_line(result.message).removeprefix(f"{SIGNAL_NAMES[signal]}: ")
                refused.append(MetricSeries(signal=signal, unit=SIGNAL_UNITS[signal], note=note))
            elif isinstance(result, BaseException):
                raise result
            else:
                out.append(result)
        if errors:
            error = _joined(errors)
            if not out:
                raise error
            raise PartialAnswer(out + refused, error)
        return out

    async def _signal(self, signal: Signal, promql: str, start: float, end: float, step: float,
                      now: float, span: float) -> MetricSeries:
        """``signal``'s series: its points up to the newest sample of its inputs."""
        selectors = vector_selectors(promql)
        series, newest = await asyncio.gather(
            self._range(signal, promql, start, end, step),
            self._newest(selectors, now, span, step))
        if newest is None:  # nothing to tell: every point as Prometheus gave it
            if not series.points:
                return series.model_copy(update={"note": _no_series(selectors, {}, promql)})
            return series
        complete = _complete(series.points, newest)
        if not series.points:
            return series.model_copy(update={"note": _no_series(selectors, newest, promql)})
        if not complete:
            return series.model_copy(update={
                "points": (), "note": "no complete point in the window (newest sample "
                                      f"{_hms(min(newest.values()))})"})
        as_of = complete[-1][0] if now - complete[-1][0] > 2 * step else None
        return series.model_copy(update={"points": complete, "as_of": as_of})

    async def _newest(self, selectors: list[str], now: float, span: float,
                      step: float) -> dict[int, float] | None:
        """When each of ``selectors`` last had a sample in the window (by its index; a selector
        that matched nothing is missing), or None when Prometheus could not say."""
        found = await self._newest_by(selectors, None, now, span, step)
        return None if found is None else found.get("", {})

    async def _newest_by(self, selectors: list[str], label: str | None, now: float, span: float,
                         step: float) -> dict[str, dict[int, float]] | None:
        """:meth:`_newest` for each value of ``label`` (None: all as one, ""), in one query."""
        if not selectors:
            return None
        resolution = duration(min(step, 60.0))
        by = f" by ({label})" if label else ""
        promql = " or ".join(
            f'label_replace(max{by}(max_over_time(timestamp({sel})[{duration(span)}:'
            f'{resolution}])), "idp_q", "{i}", "", "")' for i, sel in enumerate(selectors))
        try:
            data = await self._get("/api/v1/query", None, promql,
                                   {"query": promql, "time": f"{now:.3f}"}, what="newest samples",
                                   post=True)
        except SourceError:
            return None  # the signal's own query says what is wrong
        found: dict[str, dict[int, float]] = {}
        for item in data.get("result") or ():
            try:
                metric = item.get("metric") or {}
                index = int(metric.get("idp_q", ""))
                value = float(item["value"][1])
            except (TypeError, ValueError, KeyError, IndexError, AttributeError):
                continue
            if math.isfinite(value):
                found.setdefault(str(metric.get(label, "")) if label else "", {})[index] = value
        return found

    # Prices --------------------------------------------------------------------------------------

    async def cost_prices(self) -> CostPrices:
        """OpenCost's node prices, where this Prometheus has them (``opencost.py``)."""
        from .opencost import cost_prices  # noqa: PLC0415

        return await cost_prices(self, self.context.clock.now().timestamp())

    # Alerts --------------------------------------------------------------------------------------

    def alert_labels(self, service: str) -> tuple[str | None, str | None]:
        """The labels naming the service and the environment: those the selector sets to
        {service} and {environment} (``service="{service}"`` → "service")."""
        override = self.config.services.get(service)
        template = override.selector if override and override.selector else self.config.selector
        found = [None, None]
        for i, placeholder in enumerate(("{service}", "{environment}")):
            match = re.search(r'([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"' + re.escape(placeholder) + '"',
                              template)
            if match:
                found[i] = match.group(1)
        return found[0], found[1]

    async def alerts(self, service: str, environment: str) -> list[Alert]:
        data = await self._get("/api/v1/alerts", None, "", {})
        service_label, env_label = self.alert_labels(service)
        if service_label is None:
            return []  # no label says which service an alert is about
        out: list[Alert] = []
        for item in data.get("alerts") or ():
            if not isinstance(item, dict):
                continue
            labels = {str(k): str(v) for k, v in (item.get("labels") or {}).items()}
            if labels.get(service_label) != service:
                continue
            if env_label is not None and env_label in labels and labels[env_label] != environment:
                continue
            annotations = item.get("annotations") or {}
            out.append(Alert(
                name=labels.get("alertname", "alert"), state=str(item.get("state") or "firing"),
                severity=labels.get("severity", ""),
                summary=str(annotations.get("summary") or annotations.get("description") or ""),
                since=_time(item.get("activeAt")), labels=labels))
        return out

    async def _range(self, signal: Signal, promql: str, start: float, end: float,
                     step: float) -> MetricSeries:
        data = await self._get("/api/v1/query_range", signal, promql, {
            "query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"})
        points = _points_by(data, signal, None).get("", {})
        return MetricSeries(signal=signal, unit=SIGNAL_UNITS[signal],
                            points=tuple(sorted(points.items())))

    async def _get(self, path: str, signal: Signal | None, promql: str,
                   params: dict[str, str], *, post: bool = False,
                   what: str | None = None) -> dict[str, Any]:
        """GET an API path; ``signal`` and ``promql`` (if any) name the query in errors."""
        what = what or (SIGNAL_NAMES[signal] if signal is not None else "alerts")
        url = f"{self.config.url}{path}"
        # Long queries (many services) go in the body.
        response = await self.http.send("POST" if post else "GET", path, what=what, check=False,
                                        **({"data": params} if post else {"params": params}))
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code in (401, 403):
            self.http.check(response, hint="Check token (or token_env), username/password or "
                                           f"headers in [sources.{self.name}].")
        if isinstance(body, dict) and body.get("status") == "error":
            kind = str(body.get("errorType") or "error")
            message = str(body.get("error") or "")
            if response.status_code >= 500 and kind not in ("timeout", "execution"):
                raise SourceUnavailable(f"{self.config.url} answered {response.status_code} "
                                        f"({kind}): {message}")
            raise PromQLError(
                f"{what}: Prometheus refused the query ({kind}): {message}"
                + (f" — query: {promql}" if promql else ""),
                hint=f"Fix the {signal.value} query in [sources.{self.name}.queries]"
                     if kind == "bad_data" and signal is not None else None)
        if response.status_code >= 500:
            self.http.check(response)
        if response.status_code >= 400 or not isinstance(body, dict):
            raise SourceDataError(
                f"{url} answered {response.status_code} without the API's JSON: is this "
                "Prometheus?",
                hint=f"Check url in [sources.{self.name}]: the server's base URL, such as "
                     "http://prometheus.monitoring:9090 (with its path prefix if it has one, "
                     "without /api/v1); Thanos, Mimir and VictoriaMetrics have their own "
                     "(e.g. Mimir's …/prometheus).")
        data = body.get("data")
        if not isinstance(data, dict):
            raise SourceDataError(f"{url}: an answer without data")
        return data


async def _all_or_partial(jobs: list[Any], *, flatten: bool = False) -> list[Any]:
    """The results of ``jobs`` (run at once; with ``flatten``, each a list, joined). Some
    failing: a PartialAnswer with the others (the hub shows them, and the first error); all
    failing: the first error."""
    results = await asyncio.gather(*jobs, return_exceptions=True)
    out: list[Any] = []
    errors: list[SourceError] = []
    for result in results:
        if isinstance(result, SourceError):
            errors.append(result)
        elif isinstance(result, BaseException):
            raise result
        elif flatten:
            out.extend(result)
        else:
            out.append(result)
    if errors:
        if not out:
            raise errors[0]
        raise PartialAnswer(out, errors[0])
    return out


def place(template: str, service: str, environment: str) -> str:
    """``template`` with {service} and {environment} filled in (as label values)."""
    return (template.replace("{service}", label_value(service))
            .replace("{environment}", label_value(environment)))


#: A vector selector in PromQL: an optional metric name and label matchers (quoted values may
#: hold braces).
_VECTOR = re.compile(r'(?<![\w:"])([A-Za-z_:][A-Za-z0-9_:]*)?\s*\{((?:[^{}"]|"(?:[^"\\]|\\.)*")*)\}')


def vector_selectors(promql: str) -> list[str]:
    """The vector selectors of ``promql`` (``http_requests_total{service="cart"}``), each once."""
    found = [f"{m.group(1) or ''}{{{m.group(2).strip()}}}" for m in _VECTOR.finditer(promql)]
    return list(dict.fromkeys(found))


def _no_series(selectors: list[str], newest: dict[int, float], promql: str) -> str:
    """Why a query gave no series: the first of its selectors that matched nothing."""
    missing = [sel for i, sel in enumerate(selectors) if i not in newest]
    if missing or not selectors:
        return f"no series matched `{(missing or [promql])[0]}`"
    return f"no data in the window from `{promql}`"


def _complete(points: tuple[tuple[float, float], ...],
              newest: dict[int, float] | None) -> tuple[tuple[float, float], ...]:
    """``points`` up to the oldest of their inputs' newest samples (``newest``: by input; none
    known: all of them)."""
    if not newest:
        return points
    last = min(newest.values()) + 1e-6
    return tuple(p for p in points if p[0] <= last)


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def _hms(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S")


def _joined(errors: list[SourceError]) -> SourceError:
    """One error saying all of ``errors`` (two refused queries are two messages)."""
    messages = list(dict.fromkeys(e.message.split(" — query: ")[0] for e in errors))
    if len(errors) == 1 or len(messages) == 1:  # one query, or one cause (a wrong URL)
        return errors[0]
    joined = copy.copy(errors[0])
    joined.message = f"{len(errors)} queries failed: " + "; ".join(messages)
    joined.args = (joined.message,)
    hints = list(dict.fromkeys(e.hint for e in errors if e.hint))
    joined.hint = " ".join(h if h.endswith(".") else f"{h}." for h in hints) if hints else None
    return joined


def fill(template: str, selector: str, rate: str, by: str | None) -> str:
    """A PromQL template with its placeholders filled in; without ``by`` (one service), the
    grouping by service goes: ``sum by ($by) (x)`` → ``sum(x)``, ``by (le, $by)`` → ``by (le)``."""
    if by is None:
        template = re.sub(r"\s*\bby\s*\(\s*\$by\s*\)\s*", "", template)
        template = re.sub(r"\s*,\s*\$by\b", "", template)
        by = ""
    return template.replace("$selector", selector).replace("$rate", rate).replace("$by", by)


def _points_by(data: dict[str, Any], signal: Signal,
               label: str | None) -> dict[str, dict[float, float]]:
    """The points of a matrix by the value of ``label`` ("" for all, summed)."""
    if data.get("resultType") != "matrix":
        raise SourceDataError(f"{SIGNAL_NAMES[signal]}: expected a matrix from query_range, "
                              f"got {data.get('resultType')!r}")
    out: dict[str, dict[float, float]] = {}
    for item in data.get("result") or ():
        if not isinstance(item, dict):
            continue
        metric = item.get("metric") or {}
        key = str(metric.get(label, "")) if label is not None and isinstance(metric, dict) else ""
        points = out.setdefault(key, {})
        for pair in item.get("values") or ():
            try:
                ts, value = float(pair[0]), float(pair[1])
            except (TypeError, ValueError, IndexError):
                continue
            if math.isfinite(value):  # NaN (0/0) and ±Inf are gaps, not points
                points[ts] = points.get(ts, 0.0) + value
    return out


def _time(value: Any) -> datetime | None:
    """An RFC 3339 time from the API (``2026-11-25T13:59:58.123456789Z``)."""
    if not isinstance(value, str) or len(value) < 20:
        return None
    text = value.replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:  # at most microseconds for Python
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits):]}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
