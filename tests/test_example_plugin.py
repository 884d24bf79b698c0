"""The example plugin in examples/idp-tui-example-source, run against a real HTTP server on 127.0.0.1.

The plugin is imported from its source folder, so nothing needs to be installed.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import tomllib
import zipfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "idp-tui-example-source"
SAMPLE = EXAMPLE / "sample" / "platform.json"
if str(EXAMPLE / "src") not in sys.path:
    sys.path.insert(0, str(EXAMPLE / "src"))

from idp_tui_example_source import JsonCatalogSource  # noqa: E402

from idp_tui import (  # noqa: E402
    Deployment,
    Health,
    Link,
    ManualClock,
    Service,
    SourceAuthError,
    SourceContext,
    SourceDataError,
    SourceError,
    SourceNotFound,
    SourceUnavailable,
)
from idp_tui.config import ConfigError, parse_config  # noqa: E402
from idp_tui.hub import Hub, Platform, SourceRunner, Topic  # noqa: E402


# A real HTTP server ------------------------------------------------------------------------------

class FakePlatform:
    """A threaded HTTP server on 127.0.0.1 answering every GET with ``status`` and ``body``."""

    def __init__(self) -> None:
        self.status = 200
        self.body = SAMPLE.read_bytes()
        self.content_type = "application/json"
        self.requests: list[dict[str, str]] = []
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server spelling
                platform.requests.append(
                    {"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
                self.send_response(platform.status)
                self.send_header("Content-Type", platform.content_type)
                self.send_header("Content-Length", str(len(platform.body)))
                self.end_headers()
                self.wfile.write(platform.body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/platform.json"

    def serve_json(self, document: Any) -> None:
        self.body = json.dumps(document).encode()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server() -> Iterator[FakePlatform]:
    platform = FakePlatform()
    yield platform
    platform.stop()


@pytest.fixture
async def make_source(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Any]:
    """Build and start sources the way the dashboard does; close them after the test."""
    started: list[JsonCatalogSource] = []

    async def make(url: str, **settings: Any) -> JsonCatalogSource:
        config = JsonCatalogSource.Config(url=url, **settings)
        source = JsonCatalogSource(config, SourceContext(name="ex", data_dir=tmp_path, clock=clock))
        await source.start()
        started.append(source)
        return source

    yield make
    for source in started:
        await source.close()


def free_port() -> int:
    """A port nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Reading the document ----------------------------------------------------------------------------

async def test_catalog_is_parsed(server: FakePlatform, make_source: Any) -> None:
    source = await make_source(server.url)
    services = await source.services()
    assert [s.name for s in services] == ["payments-api", "ledger", "search"]
    payments = services[0]
    assert isinstance(payments, Service)
    assert (payments.owner, payments.tier, payments.language) == ("team-payments", 1, "go")
    assert payments.links[0] == Link(title="Repository", kind="repo",
                                     url="https://git.example.internal/payments/payments-api")
    assert payments.depends_on == ("ledger",)
    assert payments.annotations == {"example.com/cost-center": "1234"}
    assert payments.sources == ()  # filled in by the hub, never by the source
    assert services[2].tier == 2 and services[2].description == ""
    assert server.requests[0]["path"] == "/platform.json"
    assert server.requests[0]["accept"] == "application/json"


async def test_environments_and_deployments_are_parsed(server: FakePlatform,
                                                       make_source: Any) -> None:
    source = await make_source(server.url)
    envs = await source.environments()
    # pr-380 expired before the test clock's time (2026-11-25 14:00 UTC), pr-417 did not.
    assert [e.name for e in envs] == ["dev", "staging", "production", "pr-417"]
    assert next(e for e in envs if e.name == "production").protected

    deployments = await source.deployments()
    assert all(isinstance(d, Deployment) for d in deployments)
    by_key = {(d.service, d.environment): d for d in deployments}
    assert ("search", "pr-380") not in by_key
    assert len(deployments) == 7
    prod = by_key["payments-api", "production"]
    assert (prod.version, prod.replicas_ready, prod.replicas_desired) == ("1.4.2", 2, 3)
    assert prod.health is Health.DEGRADED
    assert prod.message == "1 pod in CrashLoopBackOff"
    assert prod.updated_at == datetime(2026, 11, 25, 13, 40, tzinfo=UTC)
    # An updated_at without an offset is read as UTC; an unknown health word as unknown.
    assert by_key["ledger", "production"].updated_at == datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    assert by_key["search", "pr-417"].health is Health.UNKNOWN
    assert by_key["ledger", "dev"].updated_at is None
    assert all(d.source == "" for d in deployments)  # filled in by the hub


async def test_the_clock_decides_which_previews_have_expired(server: FakePlatform,
                                                             make_source: Any,
                                                             clock: ManualClock) -> None:
    source = await make_source(server.url)
    clock.set(datetime(2031, 1, 1, tzinfo=UTC))
    assert "pr-417" not in [e.name for e in await source.environments()]
    assert all(d.environment != "pr-417" for d in await source.deployments())


async def test_missing_lists_are_empty(server: FakePlatform, make_source: Any) -> None:
    server.serve_json({"services": [{"name": "solo"}]})
    source = await make_source(server.url)
    assert [s.name for s in await source.services()] == ["solo"]
    assert await source.environments() == []
    assert await source.deployments() == []


async def test_bearer_token_is_sent(server: FakePlatform, make_source: Any) -> None:
    source = await make_source(server.url, token="s3cret-token")
    await source.services()
    assert server.requests[-1]["authorization"] == "Bearer s3cret-token"


async def test_no_authorization_header_without_a_token(server: FakePlatform,
                                                       make_source: Any) -> None:
    source = await make_source(server.url)
    await source.services()
    assert "authorization" not in server.requests[-1]


# Errors ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [401, 403])
async def test_refused_credentials_are_an_auth_error(server: FakePlatform, make_source: Any,
                                                     status: int) -> None:
    server.status, server.body = status, b'{"error": "no"}'
    source = await make_source(server.url, token="expired")
    with pytest.raises(SourceAuthError) as info:
        await source.services()
    assert str(status) in info.value.message
    assert info.value.hint and "token" in info.value.hint


async def test_auth_hint_without_a_token_says_to_set_one(server: FakePlatform,
                                                         make_source: Any) -> None:
    server.status = 401
    source = await make_source(server.url)
    with pytest.raises(SourceAuthError) as info:
        await source.deployments()
    assert info.value.hint == "Set `token` in [sources.ex]."


async def test_invalid_json_is_a_data_error(server: FakePlatform, make_source: Any) -> None:
    server.body, server.content_type = b"<html>Sign in</html>", "text/html"
    source = await make_source(server.url)
    with pytest.raises(SourceDataError) as info:
        await source.services()
    assert "did not return JSON (text/html)" in info.value.message
    assert info.value.hint


@pytest.mark.parametrize(("document", "method", "expected"), [
    ([], "services", "expected a JSON object at the top level, got a list"),
    ({"services": {"name": "x"}}, "services", "`services` must be a list, got an object"),
    ({"services": ["payments-api"]}, "services", "services[0]: expected an object, got a string"),
    ({"services": [{"owner": "team-a"}]}, "services", "services[0].name: Field required"),
    ({"services": [{"name": "a", "tier": 9}]}, "services", "services[0].tier:"),
    ({"deployments": [{"service": "a", "environment": "dev"}]}, "deployments",
     "deployments[0].version: "),
    ({"deployments": [{"service": "a", "environment": "dev", "version": "1",
                       "updated_at": "yesterday"}]}, "deployments",
     "deployments[0].updated_at: not an ISO 8601 time"),
    ({"environments": [{"name": "dev", "order": "first"}]}, "environments",
     "environments[0].order: "),
])
async def test_wrong_shape_is_a_data_error(server: FakePlatform, make_source: Any,
                                           document: Any, method: str, expected: str) -> None:
    server.serve_json(document)
    source = await make_source(server.url)
    with pytest.raises(SourceDataError) as info:
        await getattr(source, method)()
    assert expected in info.value.message


async def test_server_not_listening_is_unavailable(make_source: Any) -> None:
    source = await make_source(f"http://127.0.0.1:{free_port()}/platform.json")
    with pytest.raises(SourceUnavailable) as info:
        await source.services()
    assert "cannot connect" in info.value.message
    assert info.value.hint and "[sources.ex]" in info.value.hint


async def test_server_error_is_unavailable_and_404_is_not_found(server: FakePlatform,
                                                                make_source: Any) -> None:
    source = await make_source(server.url)
    server.status = 503
    with pytest.raises(SourceUnavailable, match="503"):
        await source.services()
    server.status = 404
    with pytest.raises(SourceNotFound, match="404"):
        await source.services()


async def test_a_url_that_is_not_http_is_refused_at_start(tmp_path: Path,
                                                          clock: ManualClock) -> None:
    config = JsonCatalogSource.Config(url="ftp://files.example/platform.json")
    source = JsonCatalogSource(config, SourceContext(name="ex", data_dir=tmp_path, clock=clock))
    with pytest.raises(SourceError) as info:
        await source.start()
    assert info.value.hint == "Fix `url` in [sources.ex]."


# Through the hub ---------------------------------------------------------------------------------

def hub_with_example(url: str, tmp_path: Path, clock: ManualClock, **settings: Any) -> Hub:
    config = JsonCatalogSource.Config(url=url, **settings)
    source = JsonCatalogSource(config, SourceContext(name="ex", data_dir=tmp_path, clock=clock))
    return Hub([SourceRunner("ex", "example-json", source, timeout=5)], clock=clock)


async def test_through_the_hub(server: FakePlatform, tmp_path: Path, clock: ManualClock) -> None:
    hub = hub_with_example(server.url, tmp_path, clock, token="t0ken")
    try:
        snap = await hub.fetch(Topic.catalog())
        assert snap.errors == {}
        assert [s.name for s in snap.data] == ["ledger", "payments-api", "search"]
        assert all(s.sources == ("ex",) for s in snap.data)

        envs = await hub.fetch(Topic.environments())
        assert envs.errors == {}
        platform = envs.data
        assert isinstance(platform, Platform)
        assert platform.environment_names() == ["dev", "staging", "production", "pr-417"]
        assert platform.deployments["payments-api", "production"].source == "ex"
        assert hub.health["ex"].state == "ok"
        assert server.requests[-1]["authorization"] == "Bearer t0ken"
    finally:
        await hub.close()


async def test_errors_reach_the_health_view_with_their_hint(server: FakePlatform, tmp_path: Path,
                                                            clock: ManualClock) -> None:
    server.status = 401
    hub = hub_with_example(server.url, tmp_path, clock)
    try:
        snap = await hub.fetch(Topic.catalog())
        assert snap.data == []
        failure = snap.errors["ex"]
        assert failure.error_class == "auth"
        assert failure.hint == "Set `token` in [sources.ex]."
        assert hub.health["ex"].state == "error"
        assert hub.health["ex"].failure == failure

        server.status = 200  # the next refresh recovers
        snap = await hub.fetch(Topic.catalog())
        assert snap.errors == {} and len(snap.data) == 3
        assert hub.health["ex"].state == "ok"
    finally:
        await hub.close()


# Settings and packaging --------------------------------------------------------------------------

def test_config_rejects_an_unknown_key() -> None:
    with pytest.raises(ValidationError) as info:
        JsonCatalogSource.Config.model_validate({"url": "https://x.example/a.json", "tokn": "t"})
    assert info.value.errors()[0]["type"] == "extra_forbidden"
    with pytest.raises(ValidationError):
        JsonCatalogSource.Config.model_validate({})  # url is required


def test_config_file_table_is_validated_against_the_example(monkeypatch: pytest.MonkeyPatch) -> None:
    # Stand in for the entry point, as if the example package were installed.
    monkeypatch.setattr("idp_tui.config.load", lambda type_name: JsonCatalogSource)
    text = ('[sources.platform]\ntype = "example-json"\ntimeout = 3\n'
            'url = "https://platform.example/idp.json"\nverify_tls = false\n')
    config = parse_config(tomllib.loads(text), path=Path("config.toml"), text=text)
    (spec,) = config.sources
    assert (spec.name, spec.type, spec.timeout) == ("platform", "example-json", 3.0)
    assert spec.config == JsonCatalogSource.Config(url="https://platform.example/idp.json",
                                                   verify_tls=False)

    bad = '[sources.platform]\ntype = "example-json"\nurl = "https://x"\nverfy_tls = false\n'
    with pytest.raises(ConfigError) as info:
        parse_config(tomllib.loads(bad), path=Path("config.toml"), text=bad)
    assert info.value.field == "sources.platform.verfy_tls"
    assert info.value.line == 4
    assert "unknown key 'verfy_tls' (expected one of: url, token, verify_tls)" in info.value.message


def test_importing_the_plugin_imports_neither_httpx_nor_textual() -> None:
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import idp_tui_example_source; "
            "print(sorted(m for m in ('httpx', 'textual') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code, str(EXAMPLE / "src")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_example_package_registers_its_entry_point(tmp_path: Path) -> None:
    meta = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
    assert meta["project"]["entry-points"]["idp_tui.sources"] == {
        "example-json": "idp_tui_example_source:JsonCatalogSource"}
    result = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path)],
        cwd=EXAMPLE, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("idp_tui_example_source-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert "idp_tui_example_source/__init__.py" in names
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        text = archive.read(entry_points).decode()
    assert "[idp_tui.sources]" in text
    assert "example-json = idp_tui_example_source:JsonCatalogSource" in text
