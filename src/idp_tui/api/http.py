"""HTTP for sources: the usual settings, a client built from them, and every failure in words.

Most sources read an HTTP API. Each needs the same settings (a URL, a token or a password, extra
headers, TLS, a timeout) and must turn what can go wrong — a refused connection, a timeout, an
untrusted certificate, a 401, a 404, a 429, a 503, an HTML page instead of JSON — into the
:class:`SourceError` classes with a hint naming the setting to change. This module does both::

    from idp_tui import HttpClient, HttpSettings, Source

    class MyConfig(HttpSettings):          # url, token / token_env, username / password,
        page_size: int = 100               # headers, verify_tls, ca_file, request_timeout

    class MySource(Source):
        Config = MyConfig

        async def start(self) -> None:
            self.http = HttpClient(self.config, self.context, headers={"Accept": "application/json"})

        async def close(self) -> None:
            await self.http.aclose()

        async def services(self) -> list[Service]:
            body = await self.http.get_json("/api/services")   # errors raised in words
            ...

httpx is imported when a client is built (in ``start()``), never when a plugin is imported: the
dashboard imports every configured plugin before its first frame.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import Field, SecretStr, field_validator, model_validator

from .errors import (
    SourceAuthError,
    SourceCredentialsRefused,
    SourceDataError,
    SourceError,
    SourceNotFound,
    SourceRateLimited,
    SourceUnavailable,
)
from .source import SourceConfig, SourceContext

if TYPE_CHECKING:
    import httpx

__all__ = ["HttpClient", "HttpSettings"]

#: A server's own message is cut to this many characters in an error.
MESSAGE_LIMIT = 300
#: A 429 without a ``retry-after`` waits this long.
DEFAULT_RETRY_SECONDS = 60.0
_SPACES = re.compile(r"\s+")


class HttpSettings(SourceConfig):
    """The settings of a source that reads an HTTP API: inherit it in your ``Config``.

    Override a field to change its default (``token_env: str | None = "GITHUB_TOKEN"``,
    ``request_timeout: float = 30.0``) and add your own fields beside them.
    """

    #: The API's base URL (http:// or https://); a trailing slash is dropped.
    url: str
    #: Sent as ``Authorization: Bearer <token>``.
    token: SecretStr | None = None
    #: The name of an environment variable holding the token (when ``token`` is not set). Named by
    #: the user and unset: the source says so at its start, naming the variable.
    token_env: str | None = None
    #: Basic auth, instead of a token.
    username: str | None = None
    password: SecretStr | None = None
    #: Extra headers on every request (``X-Scope-OrgID`` for Mimir, say).
    headers: dict[str, str] = Field(default_factory=dict)
    #: Check the server's TLS certificate; ``ca_file``: a CA bundle (PEM) to check it with.
    verify_tls: bool = True
    ca_file: str | None = None
    #: Seconds one request may take (keep it under the source's ``timeout``).
    request_timeout: float = Field(default=10.0, gt=0)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        text = value.strip()
        scheme, _, rest = text.partition("://")
        if scheme.lower() not in ("http", "https") or not rest.split("/", 1)[0]:
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return text.rstrip("/")

    @model_validator(mode="after")
    def _one_way_to_sign_in(self) -> HttpSettings:
        if self.password is not None and self.username is None:
            raise ValueError("password is set without username")
        if self.username is not None and self.token is not None:
            raise ValueError("set either token or username and password, not both")
        return self

    def resolve_token(self, source: str) -> str | None:
        """The token to send: ``token``, else the variable ``token_env`` names, else None.

        A ``token_env`` the user named in the config whose variable is unset or empty raises
        :class:`SourceAuthError` naming the variable and the source; the plugin's default one
        (``GITHUB_TOKEN``), unset, means no token (say so with ``context.set_status``).
        """
        if self.token is not None:
            return self.token.get_secret_value() or None
        name = self.token_env
        if not name:
            return None
        value = os.environ.get(name)
        if value:
            return value
        default = type(self).model_fields["token_env"].default
        if "token_env" in self.model_fields_set and name != default:
            state = "is empty" if value == "" else "is not set"
            raise SourceAuthError(
                f"token_env of [sources.{source}] names the environment variable {name}, which "
                f"{state} in idp-tui's environment",
                hint=f"Export {name}=<token> before starting idp-tui, or set token in "
                     f"[sources.{source}].")
        return None

    @property
    def signs_in(self) -> bool:
        """Whether any credentials are configured (a token, a token variable, a user)."""
        return bool(self.token or self.token_env or self.username)


class HttpClient:
    """An ``httpx.AsyncClient`` built from :class:`HttpSettings`, whose failures are SourceErrors.

    Create it in the source's ``__init__`` (cheap: nothing is imported or opened) and close it in
    ``close()``; the httpx client is built on the first request, or by :meth:`open` (call it in
    ``start()`` to have an unset ``token_env`` or an unreadable ``ca_file`` said then).

    ``headers`` are added to the configured ones (which win). With ``base_url`` (the default),
    paths are relative to ``settings.url``; without it, pass whole URLs. ``credentials=False``
    sends no token, password or configured headers (a download from a pre-signed URL). ``server``
    names the system in messages ("Prometheus"); by default the URL does.
    """

    def __init__(self, settings: HttpSettings, context: SourceContext, *,
                 headers: Mapping[str, str] | None = None, base_url: bool = True,
                 credentials: bool = True, follow_redirects: bool = False,
                 server: str | None = None) -> None:
        self.settings = settings
        self.context = context
        self.server = server
        #: Requests sent so far (a source's tests and benchmarks count them).
        self.requests_sent = 0
        self._headers = dict(headers or {})
        self._base_url = base_url
        self._credentials = credentials
        self._follow_redirects = follow_redirects
        self._client: httpx.AsyncClient | None = None

    @property
    def name(self) -> str:
        return self.context.name

    @property
    def client(self) -> httpx.AsyncClient:
        """The httpx client itself (built now if need be), for anything this class does not
        wrap."""
        return self.open()

    def open(self, transport: Any = None) -> httpx.AsyncClient:
        """Build the httpx client if it is not built yet (``transport``: see
        :meth:`use_transport`). Raises SourceError for an unset ``token_env`` or an unreadable
        ``ca_file``."""
        if self._client is not None and transport is None:
            return self._client
        import httpx  # noqa: PLC0415 - when the source is used, never when a plugin is imported

        settings = self.settings
        headers = dict(self._headers)
        auth = None
        if self._credentials:
            headers.update(settings.headers)
            if settings.username is not None:
                password = settings.password.get_secret_value() if settings.password else ""
                auth = httpx.BasicAuth(settings.username, password)
            elif token := settings.resolve_token(self.name):
                headers["Authorization"] = f"Bearer {token}"
        options: dict[str, Any] = {
            "headers": headers, "auth": auth, "verify": self._verify(),
            "timeout": httpx.Timeout(settings.request_timeout),
            "follow_redirects": self._follow_redirects, "transport": transport}
        if self._base_url:
            options["base_url"] = settings.url
        self._client = httpx.AsyncClient(**options)
        return self._client

    def use_transport(self, transport: Any) -> None:
        """Send through ``transport`` from now on (tests: an ``httpx.MockTransport``)."""
        self.open(transport)

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def _verify(self) -> Any:
        import ssl  # noqa: PLC0415

        settings = self.settings
        if not settings.ca_file:
            return settings.verify_tls
        try:
            return ssl.create_default_context(cafile=os.path.expanduser(settings.ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise SourceError(f"cannot read ca_file {settings.ca_file}: "
                              f"{exc.strerror if isinstance(exc, OSError) and exc.strerror else exc}",
                              hint=f"Fix ca_file in [sources.{self.name}].") from None

    # Requests ------------------------------------------------------------------------------------

    async def send(self, method: str, url: str, *, what: str | None = None, check: bool = True,
                   **kwargs: Any) -> httpx.Response:
        """Send a request (``kwargs`` as for ``httpx.AsyncClient.request``).

        A transport failure raises its SourceError; with ``check``, so does a status of 400 or
        more. ``what`` names the request in messages ("services", "CPU query").
        """
        import httpx  # noqa: PLC0415

        self.requests_sent += 1
        try:
            response = await self.client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise self.transport_error(exc, what=what, url=url) from None
        return self.check(response, what=what) if check else response

    async def get_json(self, url: str, *, what: str | None = None, **kwargs: Any) -> Any:
        """GET ``url`` and return its JSON body (errors in words, a body that is not JSON too)."""
        return self.read_json(await self.send("GET", url, what=what, **kwargs), what=what)

    @asynccontextmanager
    async def stream(self, method: str, url: str, *, what: str | None = None,
                     read_timeout: float | None = None,
                     **kwargs: Any) -> AsyncIterator[httpx.Response]:
        """A streamed response (a log that follows), its status checked, for ``async with``.

        A stream is quiet for as long as nothing happens: its read timeout is ``read_timeout``
        (None: none at all), not ``request_timeout``, which would end a quiet stream. Transport
        failures while reading it raise their SourceError.
        """
        import httpx  # noqa: PLC0415

        timeout = httpx.Timeout(self.settings.request_timeout, read=read_timeout)
        self.requests_sent += 1
        try:
            async with self.client.stream(method, url, timeout=timeout, **kwargs) as response:
                if response.status_code >= 400:
                    await response.aread()
                    self.check(response, what=what)
                yield response
        except httpx.HTTPError as exc:
            quiet = read_timeout if isinstance(exc, httpx.ReadTimeout) else None
            raise self.transport_error(exc, what=what, url=url, seconds=quiet) from None

    # Errors --------------------------------------------------------------------------------------

    def check(self, response: httpx.Response, *, what: str | None = None,
              message: str | None = None, hint: str | None = None) -> httpx.Response:
        """``response`` if its status is under 400; else raise :meth:`status_error`."""
        if response.status_code < 400:
            return response
        raise self.status_error(response, what=what, message=message, hint=hint)

    def status_error(self, response: httpx.Response, *, what: str | None = None,
                     message: str | None = None, hint: str | None = None) -> SourceError:
        """The SourceError of an HTTP status of 400 or more, with a hint.

        A 401 is :class:`SourceCredentialsRefused` and a 403 :class:`SourceAuthError`, a 404
        :class:`SourceNotFound`: permanent, so the hub backs off instead of asking again at every
        refresh (a 401 for every call of the source); a 429 is :class:`SourceRateLimited`, a 5xx
        :class:`SourceUnavailable` (asked again soon).

        ``message`` is the server's own words (default: read from its JSON error body, or its
        plain text), cut to ``MESSAGE_LIMIT``; ``hint`` replaces the default hint ("": none).
        """
        status = response.status_code
        where = self._where(response, what)
        said = bound(message if message is not None else server_message(response))
        tail = f": {said}" if said else ""
        table = f"[sources.{self.name}]"
        if status == 401:
            variable = f" (or the {self.settings.token_env} variable)" \
                if self.settings.token_env else ""
            default = (f"The credentials in {table} were refused: check token{variable}, or "
                       "username and password." if self.settings.signs_in else
                       f"The server asks for credentials: set token (or token_env) in {table}.")
            return SourceCredentialsRefused(f"{where} refused the request (401){tail}",
                                            hint=_hint(hint, default))
        if status == 403:
            return SourceAuthError(f"{where} forbids this (403){tail}", hint=_hint(hint, (
                f"The token (or user) of {table} was accepted but lacks a permission for "
                "this.")))
        if status == 404:
            return SourceNotFound(f"{self._where(response, what, url=True)} not found (404){tail}",
                                  hint=_hint(hint, (
                f"Check url in {table} ({self.settings.url}): is it the API's base URL?")))
        if status == 429:
            retry_at = self.retry_at(response)
            return SourceRateLimited(
                f"{where}: too many requests (429){tail}", retry_at=retry_at,
                hint=_hint(hint, f"The server asks to wait: nothing is sent to it until "
                             f"{retry_at:%H:%M:%S} UTC."))
        if status >= 500:
            return SourceUnavailable(f"{where} answered {status}{tail or _reason(response)}",
                                     hint=_hint(hint, "The server has a problem: the dashboard "
                                                  "keeps the last answer and tries again."))
        return SourceError(f"{where} answered {status}{tail or _reason(response)}",
                           hint=hint or None)

    def retry_at(self, response: httpx.Response) -> datetime:
        """When a rate-limited request may be sent again: its ``retry-after`` (seconds or a
        date), else ``DEFAULT_RETRY_SECONDS`` from now (on the source's clock)."""
        now = self.context.clock.now()
        value = response.headers.get("retry-after", "").strip()
        if value.isdigit():
            return now + timedelta(seconds=int(value))
        if value:
            from email.utils import parsedate_to_datetime  # noqa: PLC0415

            try:
                when = parsedate_to_datetime(value)
            except (TypeError, ValueError):
                when = None
            if when is not None and when.tzinfo is not None:
                return max(when, now + timedelta(seconds=1))
        return now + timedelta(seconds=DEFAULT_RETRY_SECONDS)

    def transport_error(self, exc: BaseException, *, what: str | None = None,
                        url: str | None = None, seconds: float | None = None) -> SourceUnavailable:
        """The SourceUnavailable of a request that got no answer: a timeout (of ``seconds``;
        default ``request_timeout``), a refused or reset connection, an unknown host, an
        untrusted certificate."""
        import httpx  # noqa: PLC0415

        table = f"[sources.{self.name}]"
        base = self.settings.url
        prefix = f"{what}: " if what else ""
        if isinstance(exc, httpx.ConnectTimeout):
            return SourceUnavailable(
                f"{prefix}cannot reach {base}: no connection within "
                f"{self.settings.request_timeout:g} s",
                hint=f"Check url in {table} and that the server is reachable from this machine "
                     "(VPN, proxy, firewall).")
        if isinstance(exc, httpx.TimeoutException):
            target = self._absolute(url) if url is not None else base
            return SourceUnavailable(
                f"{prefix}{target} did not answer within "
                f"{seconds or self.settings.request_timeout:g} s",
                hint=f"The server may be overloaded, or the request too heavy: raise "
                     f"request_timeout in {table}.")
        reason, tls = root_cause(exc)
        if tls:
            return SourceUnavailable(
                f"{prefix}cannot reach {base}: TLS error: {reason}",
                hint=f"The server's certificate was not trusted: set ca_file in {table} to the "
                     "CA bundle that signed it (or verify_tls = false, for a test server only).")
        return SourceUnavailable(
            f"{prefix}cannot reach {base}: {reason}",
            hint=f"Check url in {table} and that the server runs and is reachable from this "
                 "machine (VPN, proxy, firewall).")

    def read_json(self, response: httpx.Response, *, what: str | None = None) -> Any:
        """The JSON body of ``response``; a body that is not JSON raises SourceDataError."""
        try:
            return response.json()
        except ValueError as exc:  # json.JSONDecodeError, UnicodeDecodeError
            kind = response.headers.get("content-type") or "no content type"
            raise SourceDataError(
                f"{self._where(response, what, url=True)} did not return JSON ({kind}): "
                f"{bound(str(exc), 120)}",
                hint=f"Is url in [sources.{self.name}] the API's address? Open it with curl "
                     "to see what the server returns (a login page is a classic).") from None

    def _where(self, response: httpx.Response, what: str | None, *, url: bool = False) -> str:
        """What a message is about: ``what``, and the server's name (or the URL without its
        query, where it matters or no name was given)."""
        where = self.server
        if url or not where:
            try:
                where = str(response.request.url.copy_with(query=None))
            except RuntimeError:  # a response built without a request (a test's)
                where = self.settings.url
        return f"{what}: {where}" if what else where

    def _absolute(self, url: str) -> str:
        if url.startswith(("http://", "https://")):
            return url.split("?", 1)[0]
        return f"{self.settings.url}/{url.lstrip('/')}".split("?", 1)[0]


def server_message(response: httpx.Response) -> str:
    """What the server said about an error: the ``message`` (or ``error``, ``error.message``,
    ``detail``) of a JSON body, or a short plain-text body; "" for anything else (HTML)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("message", "error", "detail", "title"):
            value = body.get(key)
            if isinstance(value, dict):
                value = value.get("message")
            if isinstance(value, str) and value.strip():
                return value
        return ""
    kind = response.headers.get("content-type", "")
    if kind.startswith("text/plain"):
        return response.text
    return ""


def bound(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` on one line, at most ``limit`` characters (a server's message may be anything)."""
    flat = _SPACES.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def root_cause(exc: BaseException) -> tuple[str, bool]:
    """The cause of a failed connection in a few words, and whether it is about TLS."""
    import socket  # noqa: PLC0415
    import ssl  # noqa: PLC0415

    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            break
        text = str(seen)
        if isinstance(seen, ssl.SSLError) or "certificate" in text.lower() \
                or "ssl" in type(seen).__name__.lower():
            return bound(text or type(seen).__name__, 200), True
        if isinstance(seen, ConnectionRefusedError) or "refused" in text.lower():
            return "connection refused", False
        if isinstance(seen, socket.gaierror) or "name or service not known" in text.lower() \
                or "nodename nor servname" in text.lower():
            return "unknown host", False
        seen = seen.__cause__ or seen.__context__
    return bound(str(exc) or type(exc).__name__, 200), False


def _hint(given: str | None, default: str) -> str | None:
    """The hint a caller gave ("" for none), else the default one."""
    return default if given is None else (given or None)


def _reason(response: httpx.Response) -> str:
    return f" {response.reason_phrase}" if response.reason_phrase else ""
