"""The example plugin in examples/idp-tui-example-source, run against real HTTP servers on 127.0.0.1:
its sample platform (``sample/server.py``) and a server answering whatever a test sets.

The plugin is imported from its source folder; one test builds its wheel, installs it into a
folder and runs ``idp-tui`` with it from there.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
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
    ActionKind,
    ActionRequest,
    ActionState,
    Deployment,
    Health,
    Link,
    LogLevel,
    LogQuery,
    ManualClock,
    PipelineQuery,
    RunStatus,
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
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

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


def _sample_server() -> Any:
    """``sample/server.py`` (not a package: loaded from its file)."""
    spec = importlib.util.spec_from_file_location("example_sample_server",
                                                  EXAMPLE / "sample" / "server.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


sample = _sample_server()


@pytest.fixture
def platform() -> Iterator[Any]:
    """The sample platform API, served from its files in a thread; ``.url`` is its address."""
    state = sample.Platform.from_files(log_every=0.05)
    httpd = sample.serve(state)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()
    httpd.server_close()


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
    assert info.value.hint == ("The server asks for credentials: set token (or token_env) in "
                               "[sources.ex].")


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
    assert "connection refused" in info.value.message
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


def test_a_url_that_is_not_http_is_refused_with_the_config() -> None:
    with pytest.raises(ValidationError, match="expected an http:// or https:// URL"):
        JsonCatalogSource.Config(url="ftp://files.example/platform")


async def test_an_unset_token_env_is_said_at_the_start(tmp_path: Path, clock: ManualClock,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLATFORM_TOKEN", raising=False)
    config = JsonCatalogSource.Config(url="https://platform.example", token_env="PLATFORM_TOKEN")
    source = JsonCatalogSource(config, SourceContext(name="ex", data_dir=tmp_path, clock=clock))
    with pytest.raises(SourceAuthError, match="PLATFORM_TOKEN, which is not set") as info:
        await source.start()
    assert "[sources.ex]" in (info.value.hint or "")


# Pipelines ---------------------------------------------------------------------------------------

async def test_pipeline_runs_and_one_run_with_its_jobs(platform: Any, make_source: Any) -> None:
    source = await make_source(platform.url)
    runs = await source.pipeline_runs(PipelineQuery(service="payments-api", limit=3))
    assert [(r.id, r.status) for r in runs] == [("r-105", RunStatus.RUNNING),
                                                ("r-104", RunStatus.SUCCEEDED),
                                                ("r-103", RunStatus.FAILED)]
    assert runs[1].version == "1.5.0" and runs[1].jobs == ()  # the list leaves jobs out
    everyone = await source.pipeline_runs(PipelineQuery(limit=20))
    assert {r.service for r in everyone} == {"payments-api", "ledger"}
    run = await source.pipeline_run("r-104")
    assert [(j.name, j.status) for j in run.jobs] == [("test", RunStatus.SUCCEEDED),
                                                      ("image", RunStatus.SUCCEEDED)]
    assert run.started_at == datetime(2026, 11, 25, 11, 20, tzinfo=UTC)
    with pytest.raises(SourceNotFound) as info:
        await source.pipeline_run("r-999")
    assert info.value.message == "no run 'r-999' in ex" and info.value.hint is None


# Logs --------------------------------------------------------------------------------------------

async def test_past_log_lines(platform: Any, make_source: Any) -> None:
    source = await make_source(platform.url)
    lines = [line async for line in source.logs(LogQuery(
        service="ledger", environment="dev", tail=7, follow=False))]
    assert len(lines) == 7
    assert {line.instance for line in lines} == {"ledger-0", "ledger-1"}
    assert (lines[0].service, lines[0].environment) == ("ledger", "dev")
    assert lines[6].level is LogLevel.ERROR and lines[6].message == "dev: request 6 failed"
    assert lines[0].ts == datetime(2026, 11, 25, 13, 0, tzinfo=UTC)


async def test_a_followed_log_outlives_the_request_timeout(platform: Any,
                                                           make_source: Any) -> None:
    """A reused client's read timeout ends a quiet stream: the source streams without one."""
    platform.log_every = 0.4  # quiet for twice the request timeout between lines
    source = await make_source(platform.url, request_timeout=0.2)
    stream = source.logs(LogQuery(service="ledger", environment="dev", tail=2, follow=True))
    lines = []
    async for line in stream:
        lines.append(line.message)
        if len(lines) == 4:
            break
    await stream.aclose()
    assert lines == [f"dev: request {n} handled" for n in range(4)]


async def test_a_log_line_that_is_not_json_is_shown_as_it_came(server: FakePlatform,
                                                               make_source: Any) -> None:
    server.body = b'{"ts": "2026-11-25T13:00:00Z", "message": "ok"}\nplain text\n'
    source = await make_source(server.url)
    lines = [line async for line in source.logs(LogQuery(service="a", environment="dev",
                                                         follow=False))]
    assert [(line.message, line.instance) for line in lines] == [("ok", "?"),
                                                                 ("plain text", "?")]


async def test_a_log_stream_that_fails_is_an_error_in_words(server: FakePlatform,
                                                            make_source: Any) -> None:
    server.status, server.body = 404, b'{"message": "no logs for a"}'
    source = await make_source(server.url)
    with pytest.raises(SourceNotFound, match=r"logs: .*/logs not found \(404\): no logs for a"):
        async for _line in source.logs(LogQuery(service="a", environment="dev")):
            pass


# Deploys -----------------------------------------------------------------------------------------

def deploy(version: str, *, id: str = "d-1", environment: str = "production") -> ActionRequest:  # noqa: A002
    return ActionRequest(id=id, kind=ActionKind.DEPLOY, service="payments-api",
                         environment=environment, version=version, actor="ann", reason="fix")


async def test_versions_and_the_plan_of_a_deploy(platform: Any, make_source: Any) -> None:
    source = await make_source(platform.url)
    versions = await source.deploy_versions("payments-api", "production")
    assert [(v.version, v.current, v.environments, v.run_id) for v in versions] == [
        ("1.5.0", False, ("dev", "staging"), "r-104"), ("1.4.2", True, ("production",), "r-102")]
    plan = await source.plan_action(deploy("1.5.0"))
    assert plan.summary == "Deploy payments-api 1.5.0 to production"
    assert (plan.current_version, plan.target_version) == ("1.4.2", "1.5.0")
    assert plan.running_elsewhere == ("dev", "staging")
    with pytest.raises(SourceNotFound) as info:
        await source.plan_action(deploy("9.9.9"))
    assert info.value.hint == "Versions built: 1.5.0, 1.4.2."
    with pytest.raises(SourceError, match="only deploys"):
        await source.plan_action(ActionRequest(id="x", kind=ActionKind.RESTART,
                                               service="payments-api", environment="dev"))


async def test_a_deploy_reports_its_progress_and_runs_once_per_id(platform: Any,
                                                                  make_source: Any) -> None:
    source = await make_source(platform.url, poll_interval=0.001)
    events = [e async for e in source.run_action(deploy("1.5.0"))]
    assert events[0].message == "Deploy payments-api 1.5.0 to production"
    assert [(e.done, e.total) for e in events[1:]] == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert events[-1].state is ActionState.SUCCEEDED
    assert events[-1].message == "3/3 instances on 1.5.0"
    assert all(e.state is ActionState.RUNNING for e in events[:-1])
    now = {(d.service, d.environment): d.version for d in await source.deployments()}
    assert now["payments-api", "production"] == "1.5.0"

    # The same id again: the platform answers with the deploy it started; nothing runs twice.
    again = [e async for e in source.run_action(deploy("1.5.0"))]
    assert "was started before" in again[1].message
    assert again[-1].state is ActionState.SUCCEEDED
    assert list(platform.deploys) == ["d-1"]


async def test_a_brief_server_error_during_a_deploy_is_tried_again(platform: Any,
                                                                   make_source: Any) -> None:
    source = await make_source(platform.url, poll_interval=0.001)
    platform.fail_next["/deploys"] = 2  # the request and its first retry answered 503
    events = [e async for e in source.run_action(deploy("1.5.0", id="d-2"))]
    assert events[-1].state is ActionState.SUCCEEDED
    posts = [path for method, path in platform.requests if method == "POST"]
    assert posts == ["/deploys"] * 3  # the same request (the same id) three times
    assert list(platform.deploys) == ["d-2"]

    platform.fail_next["/deploys"] = 99  # not brief: the action fails, in words
    with pytest.raises(SourceUnavailable, match="deploy: .* answered 503: briefly unavailable"):
        async for _event in source.run_action(deploy("1.5.0", id="d-3")):
            pass
    assert "d-3" not in platform.deploys


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
        assert failure.hint == ("The server asks for credentials: set token (or token_env) in "
                                "[sources.ex].")
        assert hub.health["ex"].state == "error"
        assert hub.health["ex"].failure == failure

        server.status = 200  # the next refresh recovers
        snap = await hub.fetch(Topic.catalog())
        assert snap.errors == {} and len(snap.data) == 3
        assert hub.health["ex"].state == "ok"
    finally:
        await hub.close()


async def test_a_failed_log_stream_through_the_hub(server: FakePlatform, tmp_path: Path,
                                                  clock: ManualClock) -> None:
    """What docs/plugins.md says of a stream that fails: the error reaches the pane's callback
    and the health view, that source's stream ends and is not started again by the hub; the
    next stream (another service or environment chosen) is a fresh start."""
    hub = hub_with_example(server.url, tmp_path, clock)
    try:
        # The hub learns which services the source has (its catalog and deployments).
        await hub.fetch(Topic.catalog())
        await hub.fetch(Topic.environments())
        server.status, server.body = 503, b'{"message": "log store down"}'
        errors: list[Any] = []
        ended = asyncio.Event()
        hub.stream_logs(LogQuery(service="payments-api", environment="dev"),
                        lambda lines, dropped: None, errors.append, ended.set)
        await asyncio.wait_for(ended.wait(), 10)
        assert [(f.source, f.error_class) for f in errors] == [("ex", "unreachable")]
        assert "log store down" in errors[0].message
        assert hub.health["ex"].state == "error"
        assert len([r for r in server.requests if r["path"].startswith("/logs")]) == 1

        server.status = 200
        server.body = b'{"ts": "2026-11-25T13:00:00Z", "instance": "a-1", "message": "back"}\n'
        got: list[Any] = []
        again = asyncio.Event()
        hub.stream_logs(LogQuery(service="payments-api", environment="dev", follow=False),
                        lambda lines, dropped: got.extend(lines), errors.append, again.set)
        await asyncio.wait_for(again.wait(), 10)
        assert [line.message for line in got] == ["back"] and len(errors) == 1
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
            'url = "https://platform.example/idp"\nverify_tls = false\n')
    config = parse_config(tomllib.loads(text), path=Path("config.toml"), text=text)
    (spec,) = config.sources
    assert (spec.name, spec.type, spec.timeout) == ("platform", "example-json", 3.0)
    assert spec.config == JsonCatalogSource.Config(url="https://platform.example/idp",
                                                   verify_tls=False)

    bad = '[sources.platform]\ntype = "example-json"\nurl = "https://x"\nverfy_tls = false\n'
    with pytest.raises(ConfigError) as info:
        parse_config(tomllib.loads(bad), path=Path("config.toml"), text=bad)
    assert info.value.field == "sources.platform.verfy_tls"
    assert info.value.line == 4
    assert ("unknown key 'verfy_tls' (expected one of: url, token, token_env, username, password, "
            "headers, verify_tls, ca_file, request_timeout, poll_interval)") in info.value.message


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

    # Installed (into a folder of its own: no network, no other package touched), idp-tui finds
    # it by its entry point and uses it.
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--target", str(site), str(wheel)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    env = {**os.environ, "PYTHONPATH": str(site), "IDP_TUI_DATA_DIR": str(tmp_path / "data"),
           "NO_COLOR": "1"}
    env.pop("IDP_TUI_CONFIG", None)

    def idp_tui(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "idp_tui", *args], capture_output=True,
                              text=True, timeout=120, env=env, cwd=tmp_path)

    listed = idp_tui("--list-sources")
    assert ("example-json  [actions, catalog, environments, logs, pipelines]  "
            "idp_tui_example_source:JsonCatalogSource") in listed.stdout

    state = sample.Platform.from_files()
    httpd = sample.serve(state)
    try:
        config = tmp_path / "config.toml"
        config.write_text(f'[sources.platform]\ntype = "example-json"\n'
                          f'url = "http://127.0.0.1:{httpd.server_address[1]}"\n'
                          "poll_interval = 0.01\n")
        runs = idp_tui("pipelines", "--service", "payments-api", "--config", str(config))
        assert runs.returncode == 0, runs.stderr
        assert "r-104" in runs.stdout and "1.5.0" in runs.stdout
        deployed = idp_tui("deploy", "payments-api", "--env", "staging", "--version", "1.4.2",
                           "--config", str(config))
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert "2/2 instances on 1.4.2" in deployed.stdout
        assert [d["version"] for d in state.document["deployments"]
                if (d["service"], d["environment"]) == ("payments-api", "staging")] == ["1.4.2"]
    finally:
        httpd.shutdown()
        httpd.server_close()
