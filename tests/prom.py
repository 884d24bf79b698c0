"""A real Prometheus for the tests (Debian's ``prometheus`` package; ``.ci/run`` installs it).

:func:`start` writes an OpenMetrics file of known series (:data:`SHOP`), turns it into TSDB blocks
with ``promtool tsdb create-blocks-from openmetrics``, and starts ``prometheus`` on a free port of
127.0.0.1 over that data, scraping a live target served by the test process. :meth:`Server.stop`
stops it by PID. The series' values are simple on purpose, so each test can say what the
source must answer:

- ``http_requests_total{service, namespace, code}``: ``rate`` requests a second, ``errors`` of them
  with code 500;
- ``http_request_duration_seconds`` (histogram): of the requests, ``LATENCY`` fractions under each
  bucket bound;
- ``container_cpu_usage_seconds_total``: ``cpu`` cores busy; ``container_memory_working_set_bytes``:
  ``memory`` bytes; both twice: labelled ``service``/``namespace``, and as cAdvisor labels them
  (``namespace``/``pod``/``container``: the service's pod ``SERVICE-7d9f8b6c4-x2x9k`` with its
  container and an ``envoy`` sidecar that share ``cpu`` and ``memory``, the pod's own total
  ``container=""``, its pause container ``POD``, and a ``SERVICE-worker`` Deployment's pod that is
  another workload).

Samples every 15 s over the six hours before :data:`END` (the tests' clock), or before ``end``
(data that stop early, as when ingestion lags).
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

END = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
SPAN = 6 * 3600
STEP = 15
#: Fraction of requests at or under each bucket bound (cumulative).
LATENCY = ((0.1, 0.5), (0.25, 0.9), (0.5, 0.99), (1.0, 1.0))


@dataclass(frozen=True)
class Shape:
    rate: float
    errors: float
    cpu: float
    memory: float


#: (service, environment) → what its series say.
SHOP: dict[tuple[str, str], Shape] = {
    ("cart", "staging"): Shape(rate=10.0, errors=0.5, cpu=0.25, memory=256 * 2**20),
    ("cart", "production"): Shape(rate=40.0, errors=0.2, cpu=1.5, memory=1024 * 2**20),
    ("payments", "production"): Shape(rate=4.0, errors=0.0, cpu=0.5, memory=512 * 2**20),
}


def quantile(q: float) -> float:
    """What histogram_quantile(q, …) gives for LATENCY (linear within a bucket)."""
    lower_bound, lower_frac = 0.0, 0.0
    for bound, frac in LATENCY:
        if q <= frac:
            return lower_bound + (bound - lower_bound) * (q - lower_frac) / (frac - lower_frac)
        lower_bound, lower_frac = bound, frac
    return LATENCY[-1][0]


#: The sidecar's part of a pod's CPU (cores) and memory (bytes) in the cAdvisor-shaped series.
SIDECAR_CPU, SIDECAR_MEMORY = 0.05, 32 * 2**20


def pod_of(service: str) -> str:
    """The name of ``service``'s pod in the cAdvisor-shaped series (a Deployment's pod)."""
    return f"{service}-7d9f8b6c4-x2x9k"


@dataclass(frozen=True)
class OpenCost:
    """OpenCost's series: each node's prices (per vCPU an hour, per GiB an hour) and the
    containers' allocations on each node (cores, bytes)."""

    nodes: dict[str, tuple[float, float]]
    allocations: tuple[tuple[str, float, float], ...] = ()


def opencost_lines(cost: OpenCost, times: range) -> list[str]:
    out = []
    for name, index in (("node_cpu_hourly_cost", 0), ("node_ram_hourly_cost", 1)):
        out.append(f"# TYPE {name} gauge")
        for node, prices in cost.nodes.items():
            for t in times:
                out.append(f'{name}{{node="{node}",instance="{node}"}} {prices[index]} {t}')
    for name, index in (("container_cpu_allocation", 1),
                        ("container_memory_allocation_bytes", 2)):
        out.append(f"# TYPE {name} gauge")
        for i, allocation in enumerate(cost.allocations):
            for t in times:
                out.append(f'{name}{{node="{allocation[0]}",namespace="shop",'
                           f'pod="p{i}",container="c{i}"}} {allocation[index]} {t}')
    return out


def openmetrics(shop: dict[tuple[str, str], Shape] | None = None,
                end_at: datetime = END, opencost: OpenCost | None = None) -> str:
    """The series of ``shop`` (default SHOP) as an OpenMetrics file, ending at ``end_at``."""
    shop = SHOP if shop is None else shop
    end = int(end_at.timestamp())
    times = range(end - SPAN, end + 1, STEP)
    out: list[str] = []

    def labels(service: str, env: str, **extra: str) -> str:
        pairs = {"service": service, "namespace": env, **extra}
        return ",".join(f'{k}="{v}"' for k, v in pairs.items())

    out.append("# TYPE http_requests counter")
    for (service, env), shape in shop.items():
        for code, rate in (("200", shape.rate - shape.errors), ("500", shape.errors)):
            for t in times:
                value = rate * (t - times[0])
                out.append(f"http_requests_total{{{labels(service, env, code=code)}}} "
                           f"{value:.6f} {t}")
    out.append("# TYPE http_request_duration_seconds histogram")
    for (service, env), shape in shop.items():
        for t in times:
            count = shape.rate * (t - times[0])
            for bound, frac in LATENCY:
                out.append(f"http_request_duration_seconds_bucket"
                           f"{{{labels(service, env, le=str(bound))}}} {count * frac:.6f} {t}")
            out.append(f'http_request_duration_seconds_bucket{{{labels(service, env, le="+Inf")}}} '
                       f"{count:.6f} {t}")
            out.append(f"http_request_duration_seconds_count{{{labels(service, env)}}} "
                       f"{count:.6f} {t}")
            out.append(f"http_request_duration_seconds_sum{{{labels(service, env)}}} "
                       f"{count * 0.12:.6f} {t}")

    def containers(service: str, shape: Shape) -> list[tuple[str, str, float, float]]:
        """(pod, container, cores, bytes) as cAdvisor reports them."""
        pod = pod_of(service)
        return [(pod, service, shape.cpu - SIDECAR_CPU, shape.memory - SIDECAR_MEMORY),
                (pod, "envoy", SIDECAR_CPU, SIDECAR_MEMORY),
                (pod, "", shape.cpu, shape.memory), (pod, "POD", 0.001, 2**20),
                (f"{service}-worker-5c6d7f-abcde", "worker", 3.0, 3 * 2**30)]

    def cadvisor(name: str, counter: bool) -> None:
        for (service, env), shape in shop.items():
            for pod, container, cpu, memory in containers(service, shape):
                tags = f'namespace="{env}",pod="{pod}",container="{container}"'
                for t in times:
                    value = cpu * (t - times[0]) if counter else memory
                    out.append(f"{name}{{{tags}}} {value:.6f} {t}")

    out.append("# TYPE container_cpu_usage_seconds counter")
    for (service, env), shape in shop.items():
        for t in times:
            out.append(f"container_cpu_usage_seconds_total{{{labels(service, env)}}} "
                       f"{shape.cpu * (t - times[0]):.6f} {t}")
    cadvisor("container_cpu_usage_seconds_total", True)
    out.append("# TYPE container_memory_working_set_bytes gauge")
    for (service, env), shape in shop.items():
        for t in times:
            out.append(f"container_memory_working_set_bytes{{{labels(service, env)}}} "
                       f"{shape.memory:.1f} {t}")
    cadvisor("container_memory_working_set_bytes", False)
    if opencost is not None:
        out += opencost_lines(opencost, times)
    out.append("# EOF")
    return "\n".join(out) + "\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: The alerting rule of the test server: fires while the live target says cart@staging errs.
#: Its summary is hostile text, to be shown as typed.
RULES = """groups:
  - name: idp-tui-tests
    interval: 1s
    rules:
      - alert: CartErrorsHigh
        expr: idp_test_errors > 0
        labels:
          severity: critical
        annotations:
          summary: 'Error ratio above 5% [/] [@click=app.quit]x'
"""


class _Live(BaseHTTPRequestHandler):
    """A live target: a gauge that counts the scrapes, and cart@staging's error flag."""

    scrapes = 0

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).scrapes += 1
        body = (f"# TYPE idp_test_live gauge\nidp_test_live{{service=\"live\"}} "
                f"{type(self).scrapes}\n"
                "# TYPE idp_test_errors gauge\n"
                'idp_test_errors{service="cart",namespace="staging"} 1\n'
                'idp_test_errors{service="payments",namespace="production"} 0\n').encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


#: A user of the server started with ``auth=True`` (Prometheus's web config: basic auth, the
#: password stored as a bcrypt hash).
USER, PASSWORD = "idp", "s3cret-pw"
PASSWORD_HASH = "$2b$10$ZMSqEZH.Q7TGoMPsMCsgDeVDbp1gUivEEe42rOgwSgd/dQHDxhY7."


class Server:
    def __init__(self, folder: Path, shop: dict[tuple[str, str], Shape] | None = None,
                 *, auth: bool = False, tls: bool = False, end: datetime = END,
                 opencost: OpenCost | None = None) -> None:
        self.folder = folder
        self.auth = auth
        self.port = free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        #: With tls: the server's self-signed certificate (its own CA).
        self.cert: Path | None = None
        self.live = ThreadingHTTPServer(("127.0.0.1", 0), _Live)
        threading.Thread(target=self.live.serve_forever, daemon=True).start()
        data = folder / "data"
        data.mkdir(parents=True)
        source = folder / "series.om"
        source.write_text(openmetrics(shop, end) if opencost is None
                          else openmetrics(shop, end, opencost))
        subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(source),
                        str(data)], check=True, capture_output=True, timeout=300)
        config = folder / "prometheus.yml"
        (folder / "rules.yml").write_text(RULES)
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"rule_files:\n  - {folder / 'rules.yml'}\n"
            "scrape_configs:\n  - job_name: live\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{self.live.server_address[1]}']\n")
        extra = []
        web_config = ""
        if auth:
            web_config += f"basic_auth_users:\n  {USER}: '{PASSWORD_HASH}'\n"
        if tls:
            self.cert, key = folder / "server.crt", folder / "server.key"
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-days", "2", "-subj", "/CN=127.0.0.1",
                            "-addext", "subjectAltName=IP:127.0.0.1",
                            "-keyout", str(key), "-out", str(self.cert)],
                           check=True, capture_output=True, timeout=60)
            web_config += (f"tls_server_config:\n  cert_file: {self.cert}\n"
                           f"  key_file: {key}\n")
        if web_config:
            web = folder / "web.yml"
            web.write_text(web_config)
            extra.append(f"--web.config.file={web}")
        self.log = (folder / "prometheus.log").open("w")
        self.process = subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={data}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=100y",
             "--query.timeout=5s", *extra],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        credentials = (USER, PASSWORD) if auth else None
        while True:
            try:
                verify: Any = ssl.create_default_context(cafile=str(self.cert)) \
                    if self.cert else True
                if httpx.get(f"{self.url}/-/ready", timeout=1, auth=credentials,
                             verify=verify).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("prometheus did not start: "
                                   + (folder / "prometheus.log").read_text()[-2000:])
            time.sleep(0.1)

    def firing(self) -> set[str]:
        """The names of the alerts firing now (Prometheus's /api/v1/alerts)."""
        verify: Any = ssl.create_default_context(cafile=str(self.cert)) if self.cert else True
        response = httpx.get(f"{self.url}/api/v1/alerts", timeout=5, verify=verify,
                             auth=(USER, PASSWORD) if self.auth else None)
        return {a["labels"].get("alertname", "") for a in response.json()["data"]["alerts"]
                if a.get("state") == "firing"}

    def wait_for_alert(self, name: str, timeout: float = 60) -> None:
        """Until the alert fires: Prometheus scrapes the live target and evaluates its rules a
        few seconds after it is ready (an app started before would see it only at its next
        refresh of the alerts)."""
        deadline = time.monotonic() + timeout
        while name not in self.firing():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the alert {name} did not fire in {timeout} s")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.live.shutdown()
        self.log.close()


def available() -> str | None:
    """Why a real Prometheus cannot be started here, or None."""
    for tool in ("prometheus", "promtool"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install prometheus; .ci/run does)"
    return None
