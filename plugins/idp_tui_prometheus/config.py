"""Settings of the ``prometheus`` source (the ``[sources.NAME]`` table of ``config.toml``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from idp_tui import HttpSettings, Signal

#: The default PromQL of each signal. ``$selector`` becomes the service's label matchers,
#: ``$container_selector`` those of its containers (cAdvisor's and kube-state-metrics' series carry
#: ``namespace``/``pod``/``container``, not ``service``), ``$rate`` the range of rate(), and ``$by``
#: the label that names the service when many services are asked for at once (``by ($by)`` and
#: ``, $by`` are dropped for one service). ``{service}`` and ``{environment}`` are filled in too.
DEFAULT_QUERIES: dict[Signal, str] = {
    Signal.REQUEST_RATE: "sum by ($by) (rate(http_requests_total{$selector}[$rate]))",
    Signal.ERROR_RATIO: ('sum by ($by) (rate(http_requests_total{$selector,code=~"5.."}[$rate])) '
                         "/ sum by ($by) (rate(http_requests_total{$selector}[$rate]))"),
    Signal.LATENCY_P50: ("histogram_quantile(0.5, sum by (le, $by) "
                         "(rate(http_request_duration_seconds_bucket{$selector}[$rate])))"),
    Signal.LATENCY_P95: ("histogram_quantile(0.95, sum by (le, $by) "
                         "(rate(http_request_duration_seconds_bucket{$selector}[$rate])))"),
    Signal.LATENCY_P99: ("histogram_quantile(0.99, sum by (le, $by) "
                         "(rate(http_request_duration_seconds_bucket{$selector}[$rate])))"),
    Signal.CPU: "sum(rate(container_cpu_usage_seconds_total{$container_selector}[$rate]))",
    Signal.MEMORY: "sum(container_memory_working_set_bytes{$container_selector})",
}

DEFAULT_SELECTOR = 'service="{service}", namespace="{environment}"'
#: The containers of a service's pods as cAdvisor (and kube-state-metrics) label them: the pods of
#: its Deployment (``NAME-HASH-XXXXX``), StatefulSet (``NAME-0``) or DaemonSet (``NAME-XXXXX``) in
#: the environment's namespace, every container (sidecars too) but not the pod's own totals
#: (``container=""``) nor its pause container (``POD``).
DEFAULT_CONTAINER_SELECTOR = ('namespace="{environment}", '
                              'pod=~"{service}-([0-9]+|[a-z0-9]{5}|[a-z0-9]{1,10}-[a-z0-9]{5})", '
                              'container!="", container!="POD"')


class ServiceOverride(BaseModel):
    """What differs for one service: its label matchers, some of its queries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    selector: str | None = None
    container_selector: str | None = None
    queries: dict[Signal, str] = Field(default_factory=dict)


class PrometheusConfig(HttpSettings):
    """``type = "prometheus"``: the golden signals from a Prometheus server (or one that speaks
    its HTTP API: Thanos, Mimir, VictoriaMetrics).

    ``url`` is the server, e.g. "http://prometheus.monitoring:9090" (a path prefix is kept); a
    bearer ``token`` (or ``token_env``) or basic auth (``username``, ``password``), extra
    ``headers`` (X-Scope-OrgID for Mimir), ``verify_tls``, ``ca_file`` and ``request_timeout``
    are those of :class:`idp_tui.HttpSettings`.
    """

    #: Seconds one request may take (keep it under the source's timeout).
    request_timeout: float = Field(default=8.0, gt=0)
    #: Label matchers of a service in an environment; {service} and {environment} are replaced.
    selector: str = DEFAULT_SELECTOR
    #: Label matchers of a service's containers ($container_selector: the CPU and memory queries).
    container_selector: str = DEFAULT_CONTAINER_SELECTOR
    #: The range of rate(): "auto" (four steps of the window, at least a minute) or a duration
    #: such as "5m".
    rate_window: str = "auto"
    #: PromQL per signal, replacing the defaults ($selector, $container_selector, $rate,
    #: {service} and {environment} are filled in).
    queries: dict[Signal, str] = Field(default_factory=dict)
    #: Per service: other label matchers, other queries.
    services: dict[str, ServiceOverride] = Field(default_factory=dict)
    #: Catalog annotations that set them too (a service's catalog-info.yaml, say): this one for
    #: the selector, and this one followed by a signal's name (".latency_p95") for a query.
    #: The config's services table wins over the annotations.
    selector_annotation: str = "prometheus.io/selector"
    container_selector_annotation: str = "prometheus.io/container-selector"
    query_annotation: str = "prometheus.io/query"

    @field_validator("rate_window")
    @classmethod
    def _rate(cls, value: str) -> str:
        import re

        if value != "auto" and not re.fullmatch(r"\d+(ms|s|m|h|d)", value):
            raise ValueError('expected "auto" or a duration such as "5m"')
        return value
