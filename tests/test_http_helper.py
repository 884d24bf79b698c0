"""The plugin API's HTTP helper: settings, the client it builds, and failures in words.

Statuses are answered by an ``httpx.MockTransport``; connections, timeouts and streams by real
sockets on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from idp_tui import (
    HttpClient,
    HttpSettings,
    ManualClock,
    SourceAuthError,
    SourceContext,
    SourceDataError,
    SourceError,
    SourceNotFound,
    SourceRateLimited,
    SourceUnavailable,
)

T0 = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)


class Settings(HttpSettings):
    """A plugin's settings: the helper's, one default changed, one field of its own."""

    token_env: str | None = "EXAMPLE_DEFAULT_TOKEN"
    page_size: int = 100


def make(settings: dict[str, Any] | None = None, *, clock: ManualClock | None = None,
         answer: Callable[[httpx.Request], httpx.Response] | None = None,
         **options: Any) -> HttpClient:
    config = Settings(**{"url": "https://api.example/v1/", **(settings or {})})
    context = SourceContext(name="ex", data_dir=Path("/nonexistent"),
                            clock=clock or ManualClock(T0))
    client = HttpClient(config, context, **options)
    if answer is not None:
        client.use_transport(httpx.MockTransport(answer))
    return client


def answering(status: int, body: Any = None, *, headers: dict[str, str] | None = None,
              text: str | None = None) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        if text is not None:
            return httpx.Response(status, text=text, headers=headers)
        return httpx.Response(status, json=body, headers=headers)
    return answer


# Settings ----------------------------------------------------------------------------------------

def test_settings_check_the_url_and_the_way_to_sign_in() -> None:
    assert Settings(url="https://api.example/v1/").url == "https://api.example/v1"
    for bad in ("api.example", "ftp://api.example", "https://"):
        with pytest.raises(ValidationError, match="expected an http:// or https:// URL"):
            Settings(url=bad)
    with pytest.raises(ValidationError, match="password is set without username"):
        Settings(url="https://a.example", password="p")
    with pytest.raises(ValidationError, match="not both"):
        Settings(url="https://a.example", username="u", token="t")
    with pytest.raises(ValidationError) as info:
        Settings.model_validate({"url": "https://a.example", "tokn": "t"})
    assert info.value.errors()[0]["type"] == "extra_forbidden"
    assert Settings(url="https://a.example", request_timeout=2).request_timeout == 2.0


def test_the_token_comes_from_token_then_token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TOKEN", "from-env")
    monkeypatch.delenv("EXAMPLE_DEFAULT_TOKEN", raising=False)
    assert Settings(url="https://a.example", token="t", token_env="MY_TOKEN"
                    ).resolve_token("ex") == "t"
    assert Settings(url="https://a.example", token_env="MY_TOKEN").resolve_token("ex") == "from-env"
    # The plugin's default variable, unset: no token (anonymous), not an error.
    assert Settings(url="https://a.example").resolve_token("ex") is None
    monkeypatch.setenv("EXAMPLE_DEFAULT_TOKEN", "default-env")
    assert Settings(url="https://a.example").resolve_token("ex") == "default-env"
    assert Settings(url="https://a.example", token_env=None).resolve_token("ex") is None
    # The default named again in the config is still the default.
    monkeypatch.delenv("EXAMPLE_DEFAULT_TOKEN")
    assert Settings(url="https://a.example", token_env="EXAMPLE_DEFAULT_TOKEN"
                    ).resolve_token("ex") is None


def test_a_token_env_naming_an_unset_variable_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BACKSTAGE_TOKEN", raising=False)
    settings = Settings(url="https://a.example", token_env="BACKSTAGE_TOKEN")
    with pytest.raises(SourceAuthError) as info:
        settings.resolve_token("catalog")
    assert info.value.message == ("token_env of [sources.catalog] names the environment variable "
                                  "BACKSTAGE_TOKEN, which is not set in idp-tui's environment")
    assert "Export BACKSTAGE_TOKEN=" in (info.value.hint or "")
    monkeypatch.setenv("BACKSTAGE_TOKEN", "")
    with pytest.raises(SourceAuthError, match="BACKSTAGE_TOKEN, which is empty"):
        settings.resolve_token("catalog")
    # Building the httpx client (its first request, or open() in the source's start) raises it.
    with pytest.raises(SourceAuthError, match="BACKSTAGE_TOKEN"):
        make({"token_env": "BACKSTAGE_TOKEN"}).open()


# The client --------------------------------------------------------------------------------------

async def test_headers_credentials_and_the_base_url() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    client = make({"token": "s3cret", "headers": {"X-Scope-OrgID": "team-a", "Accept": "*/*"}},
                  answer=answer, headers={"Accept": "application/json", "User-Agent": "ex/1"})
    assert await client.get_json("/services", params={"page": 2}) == {"ok": True}
    request = seen[-1]
    assert str(request.url) == "https://api.example/v1/services?page=2"
    assert request.headers["authorization"] == "Bearer s3cret"
    assert request.headers["x-scope-orgid"] == "team-a"
    assert request.headers["accept"] == "*/*"  # the configured headers win
    assert request.headers["user-agent"] == "ex/1"
    assert client.requests_sent == 1
    await client.aclose()

    basic = make({"username": "u", "password": "p"}, answer=answer)
    await basic.send("GET", "/x")
    assert seen[-1].headers["authorization"] == "Basic dTpw"
    await basic.aclose()

    # No credentials and no configured headers: a download from a pre-signed URL.
    bare = make({"token": "s3cret", "headers": {"X-A": "1"}}, answer=answer, credentials=False,
                base_url=False)
    await bare.send("GET", "https://blobs.example/log?sig=1")
    assert "authorization" not in seen[-1].headers and "x-a" not in seen[-1].headers
    await bare.aclose()


async def test_refused_credentials() -> None:
    with_token = make({"token": "old", "token_env": "GH"}, answer=answering(401, {"message": "Bad"}))
    with pytest.raises(SourceAuthError) as info:
        await with_token.send("GET", "/services", what="services")
    assert info.value.message == \
        "services: https://api.example/v1/services refused the request (401): Bad"
    assert info.value.hint == ("The credentials in [sources.ex] were refused: check token (or "
                               "the GH variable), or username and password.")
    anonymous = make({"token_env": None}, answer=answering(401))
    with pytest.raises(SourceAuthError) as info:
        await anonymous.send("GET", "/services")
    assert info.value.hint == ("The server asks for credentials: set token (or token_env) in "
                               "[sources.ex].")
    forbidden = make(answer=answering(403, {"error": {"name": "NotAllowed",
                                                      "message": "read only"}}))
    with pytest.raises(SourceAuthError, match=r"forbids this \(403\): read only") as info:
        await forbidden.send("GET", "/services")
    assert "lacks a permission" in (info.value.hint or "")


async def test_not_found_points_at_the_url() -> None:
    client = make(answer=answering(404, {"detail": "no route"}))
    with pytest.raises(SourceNotFound) as info:
        await client.get_json("/nope?x=1")
    assert info.value.message == "https://api.example/v1/nope not found (404): no route"
    assert info.value.hint == ("Check url in [sources.ex] (https://api.example/v1): is it the "
                               "API's base URL?")


async def test_a_rate_limit_says_when_to_try_again() -> None:
    clock = ManualClock(T0)
    client = make(clock=clock, answer=answering(429, {"message": "slow down"},
                                                 headers={"Retry-After": "120"}))
    with pytest.raises(SourceRateLimited) as info:
        await client.send("GET", "/x")
    assert info.value.retry_at == T0 + timedelta(seconds=120)
    assert "too many requests (429): slow down" in info.value.message
    assert "14:02:00 UTC" in (info.value.hint or "")
    dated = make(clock=clock, answer=answering(
        429, headers={"Retry-After": "Wed, 25 Nov 2026 14:05:00 GMT"}))
    with pytest.raises(SourceRateLimited) as info:
        await dated.send("GET", "/x")
    assert info.value.retry_at == T0 + timedelta(minutes=5)
    bare = make(clock=clock, answer=answering(429))
    with pytest.raises(SourceRateLimited) as info:
        await bare.send("GET", "/x")
    assert info.value.retry_at == T0 + timedelta(seconds=60)


async def test_server_errors_carry_the_servers_words_bounded() -> None:
    long = "database is gone\n" + "x" * 1000
    client = make(answer=answering(503, {"error": long}))
    with pytest.raises(SourceUnavailable) as info:
        await client.send("GET", "/x")
    assert info.value.message.startswith("https://api.example/v1/x answered 503: database is "
                                         "gone xxx")
    assert len(info.value.message) < 400 and info.value.message.endswith("…")
    assert "tries again" in (info.value.hint or "")
    # An HTML error page is not quoted: the status and its reason are.
    html = make(answer=answering(502, text="<html><body>Bad Gateway</body></html>",
                                 headers={"content-type": "text/html"}))
    with pytest.raises(SourceUnavailable) as info:
        await html.send("GET", "/x")
    assert info.value.message == "https://api.example/v1/x answered 502 Bad Gateway"
    plain = make(answer=answering(500, text="upstream\tdown", headers={
        "content-type": "text/plain; charset=utf-8"}))
    with pytest.raises(SourceUnavailable, match="answered 500: upstream down$"):
        await plain.send("GET", "/x")
    teapot = make(answer=answering(418, {"message": "short and stout"}))
    with pytest.raises(SourceError) as info:
        await teapot.send("GET", "/x")
    assert type(info.value) is SourceError
    assert info.value.message.endswith("answered 418: short and stout")


async def test_a_status_is_left_to_the_plugin_when_asked() -> None:
    client = make(answer=answering(404, {"error": {"name": "NotFoundError", "message": "no x"}}))
    response = await client.send("GET", "/entities/x", check=False)
    assert response.status_code == 404
    error = client.status_error(response, message="no entity x", hint="")
    assert isinstance(error, SourceNotFound) and error.message.endswith("(404): no entity x")
    with pytest.raises(SourceNotFound) as info:
        client.check(response, what="entity x", hint="Is it in the catalog?")
    assert info.value.hint == "Is it in the catalog?"


async def test_a_body_that_is_not_json() -> None:
    client = make(answer=answering(200, text="<html>Sign in</html>",
                                   headers={"content-type": "text/html"}))
    with pytest.raises(SourceDataError) as info:
        await client.get_json("/services", what="services")
    assert info.value.message.startswith("services: https://api.example/v1/services did not "
                                         "return JSON (text/html): ")
    assert "[sources.ex]" in (info.value.hint or "")


# Transport failures ------------------------------------------------------------------------------

async def closed_port() -> int:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    return port


async def test_a_refused_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{await closed_port()}"
    client = make({"url": url})
    with pytest.raises(SourceUnavailable) as info:
        await client.get_json("/services", what="services")
    assert info.value.message == f"services: cannot reach {url}: connection refused"
    assert "Check url in [sources.ex]" in (info.value.hint or "")
    await client.aclose()


async def test_an_unknown_host_and_an_untrusted_certificate() -> None:
    def unknown(request: httpx.Request) -> httpx.Response:
        import socket

        raise httpx.ConnectError("[Errno -2] Name or service not known") \
            from socket.gaierror(-2, "Name or service not known")

    with pytest.raises(SourceUnavailable, match="cannot reach https://api.example/v1: unknown "
                                                "host$"):
        await make(answer=unknown).send("GET", "/x")

    def untrusted(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed") \
            from ssl.SSLCertVerificationError(1, "certificate verify failed: self-signed")

    with pytest.raises(SourceUnavailable) as info:
        await make(answer=untrusted).send("GET", "/x")
    assert "TLS error" in info.value.message and "certificate" in info.value.message
    assert "ca_file" in (info.value.hint or "") and "verify_tls" in (info.value.hint or "")


async def test_an_unreadable_ca_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"cannot read ca_file .*missing\.pem") as info:
        make({"ca_file": str(tmp_path / "missing.pem")}).open()
    assert info.value.hint == "Fix ca_file in [sources.ex]."


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Serve raw HTTP from a coroutine on 127.0.0.1 (on the test's loop)."""
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> str:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for server in servers:
        server.close()


async def read_request(reader: asyncio.StreamReader) -> str:
    head = await reader.readuntil(b"\r\n\r\n")
    return head.decode().split(" ")[1]


async def test_a_server_that_does_not_answer_in_time(serve: Any) -> None:
    quiet = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await quiet.wait()  # never answers
        writer.close()

    url = await serve(silent)
    client = make({"url": url, "request_timeout": 0.2})
    with pytest.raises(SourceUnavailable) as info:
        await client.get_json("/metrics", what="CPU")
    assert info.value.message == f"CPU: {url}/metrics did not answer within 0.2 s"
    assert "raise request_timeout in [sources.ex]" in (info.value.hint or "")
    quiet.set()
    await client.aclose()


async def test_a_stream_is_not_ended_by_the_request_timeout(serve: Any) -> None:
    """A followed log is quiet for longer than request_timeout: a stream has no read timeout
    unless asked, and a stream's failures are SourceErrors too."""
    go_on = asyncio.Event()

    async def log(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        path = await read_request(reader)
        if path != "/log":
            body = b'{"message": "no stream"}'
            writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\n"
                         b"content-length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
            writer.close()
            return
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
                     b"transfer-encoding: chunked\r\n\r\n")
        writer.write(b"6\r\nfirst\n\r\n")
        await writer.drain()
        await go_on.wait()  # quiet for longer than request_timeout
        writer.write(b"7\r\nsecond\n\r\n0\r\n\r\n")
        await writer.drain()
        writer.close()

    url = await serve(log)
    client = make({"url": url, "request_timeout": 0.1})
    lines: list[str] = []
    async with client.stream("GET", "/log", what="log") as response:
        async for line in response.aiter_lines():
            lines.append(line)
            if line == "first":
                await asyncio.sleep(0.3)  # three request timeouts of silence
                go_on.set()
    assert lines == ["first", "second"]

    with pytest.raises(SourceNotFound, match=r"log: .*/missing not found \(404\): no stream"):
        async with client.stream("GET", "/missing", what="log"):
            pass
    # With a read timeout, a quiet stream ends in words.
    go_on.clear()
    with pytest.raises(SourceUnavailable, match=r"/log did not answer within 0\.15 s"):
        async with client.stream("GET", "/log", read_timeout=0.15) as response:
            async for _line in response.aiter_lines():
                pass
    go_on.set()
    await client.aclose()


def test_importing_the_helper_imports_neither_httpx_nor_textual() -> None:
    code = ("import sys; from idp_tui import HttpClient, HttpSettings; "
            "print(sorted(m for m in ('httpx', 'textual', 'ssl') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().replace("'", '"')) == []
