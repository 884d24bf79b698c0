"""An example idp-tui source: a service catalog and deployments from a JSON document over HTTP.

Copy this package to start a plugin of your own. It has the parts every source has: a settings
model, the capabilities it offers, a client opened in ``start()`` and closed in ``close()``, records
built from what the remote system returns, and failures raised as ``idp_tui`` errors with hints.

Configure it in ``config.toml``::

    [sources.platform]
    type = "example-json"                              # the entry-point name in pyproject.toml
    url = "https://platform.example.internal/idp.json"
    token = "..."                                      # optional: sent as a bearer token
    verify_tls = true                                  # optional

The document
------------

One JSON object. Each of its three keys is optional (missing means an empty list); other keys, at
the top level and in the items of the three lists, are ignored::

    {
      "services": [
        {"name": "payments-api", "owner": "team-payments", "tier": 1, "lifecycle": "production",
         "language": "go", "description": "Takes card payments", "system": "payments",
         "on_call": "payments-oncall",
         "links": [{"title": "Repository", "url": "https://git.example/payments-api",
                    "kind": "repo"}],
         "tags": ["pci"], "depends_on": ["ledger"], "provides_apis": ["payments-v1"],
         "consumes_apis": ["ledger-v2"], "annotations": {"example.com/cost-center": "1234"}}
      ],
      "environments": [
        {"name": "dev", "order": 0},
        {"name": "production", "order": 2, "protected": true},
        {"name": "pr-1234", "order": 1, "kind": "preview", "expires_at": "2026-11-26T00:00:00Z"}
      ],
      "deployments": [
        {"service": "payments-api", "environment": "production", "version": "1.4.2",
         "ready": 2, "desired": 3, "health": "degraded", "updated_at": "2026-11-25T13:40:00Z",
         "message": "1 pod in CrashLoopBackOff"}
      ]
    }

- ``services[]``: the fields of :class:`idp_tui.Service`; only ``name`` is required. ``tier`` is 1,
  2 or 3; ``links[]`` items have ``title``, ``url`` and an optional ``kind``.
- ``environments[]``: the fields of :class:`idp_tui.Environment`; only ``name`` is required.
  ``order`` is the promotion order, ``kind`` is ``static`` or ``preview``. A preview environment
  whose ``expires_at`` has passed is left out, with its deployments.
- ``deployments[]``: ``service``, ``environment`` and ``version`` are required; ``ready`` and
  ``desired`` count replicas; ``health`` is ``healthy``, ``degraded`` or ``down`` (anything else is
  shown as unknown); ``updated_at`` is an ISO 8601 time (UTC when it has no offset); ``message`` is
  free text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from idp_tui import (
    Capability,
    Deployment,
    Environment,
    EnvironmentKind,
    Health,
    Record,
    Service,
    Source,
    SourceAuthError,
    SourceConfig,
    SourceContext,
    SourceDataError,
    SourceError,
    SourceNotFound,
    SourceUnavailable,
)

if TYPE_CHECKING:  # for annotations only: httpx itself is imported in start()
    import httpx

__version__ = "0.1.0"
__all__ = ["JsonCatalogSource"]

# Fields copied from the document; the hub fills ``Service.sources`` itself.
_SERVICE_FIELDS = frozenset(Service.model_fields) - {"sources"}
_ENVIRONMENT_FIELDS = frozenset(Environment.model_fields)
_HEALTH = {h.value: h for h in Health}

R = TypeVar("R", bound=Record)


class JsonCatalogSource(Source):
    """Service catalog, environments and deployments from a JSON document served over HTTP."""

    class Config(SourceConfig):
        """The ``[sources.NAME]`` table, less ``type`` and ``timeout`` (the hub's). Unknown keys are
        rejected when the config is read."""

        #: Address of the JSON document (http:// or https://).
        url: str
        #: Sent as ``Authorization: Bearer <token>`` when set.
        token: str | None = None
        #: Check the server's TLS certificate. Turn off only for a test server with a self-signed
        #: certificate.
        verify_tls: bool = True

    capabilities = frozenset({Capability.CATALOG, Capability.ENVIRONMENTS})
    description = "Service catalog and deployments from a JSON document over HTTP"

    config: Config

    def __init__(self, config: SourceConfig, context: SourceContext) -> None:
        super().__init__(config, context)
        self._client: httpx.AsyncClient | None = None

    # Life cycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        # Imported here rather than at the top of the module: the dashboard imports the module of
        # every configured source while it reads the config, before its first frame.
        import httpx

        try:
            url = httpx.URL(self.config.url)
            usable = url.scheme in ("http", "https") and bool(url.host)
        except httpx.InvalidURL:
            usable = False
        if not usable:
            raise SourceError(f"`url` is not an http:// or https:// address: {self.config.url!r}",
                              hint=f"Fix `url` in [sources.{self.name}].")
        headers = {"Accept": "application/json",
                   "User-Agent": f"idp-tui-example-source/{__version__}"}
        if self.config.token:
            headers["Authorization"] = f"Bearer {self.config.token}"
        # Connecting gives up after 5 s with a clear message; a slow answer is cut short by the
        # hub's per-source `timeout` (10 s unless configured).
        self._client = httpx.AsyncClient(headers=headers, verify=self.config.verify_tls,
                                         timeout=httpx.Timeout(30.0, connect=5.0),
                                         follow_redirects=True)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # Capabilities ------------------------------------------------------------------------------
    async def services(self) -> list[Service]:
        doc = await self._document()
        return [_build(Service, _pick(item, _SERVICE_FIELDS), f"services[{i}]")
                for i, item in _items(doc, "services")]

    async def environments(self) -> list[Environment]:
        doc = await self._document()
        return [env for env in self._environments(doc) if not self._expired(env)]

    async def deployments(self) -> list[Deployment]:
        doc = await self._document()
        expired = {env.name for env in self._environments(doc) if self._expired(env)}
        out = []
        for i, item in _items(doc, "deployments"):
            deployment = _build(Deployment, {
                "service": item.get("service"),
                "environment": item.get("environment"),
                "version": item.get("version"),
                "replicas_ready": item.get("ready", 0),
                "replicas_desired": item.get("desired", 0),
                "health": _HEALTH.get(str(item.get("health", "")).lower(), Health.UNKNOWN),
                "updated_at": _utc(item.get("updated_at"), f"deployments[{i}].updated_at"),
                "message": item.get("message", ""),
            }, f"deployments[{i}]")
            if deployment.environment not in expired:
                out.append(deployment)
        return out

    # Helpers -----------------------------------------------------------------------------------
    def _environments(self, doc: dict[str, Any]) -> list[Environment]:
        envs = []
        for i, item in _items(doc, "environments"):
            fields = _pick(item, _ENVIRONMENT_FIELDS)
            if "expires_at" in fields:
                fields["expires_at"] = _utc(fields["expires_at"], f"environments[{i}].expires_at")
            envs.append(_build(Environment, fields, f"environments[{i}]"))
        return envs

    def _expired(self, env: Environment) -> bool:
        # The time comes from the context's clock, never from datetime.now(): tests can fix it.
        return (env.kind is EnvironmentKind.PREVIEW and env.expires_at is not None
                and env.expires_at <= self.context.clock.now())

    async def _document(self) -> dict[str, Any]:
        """GET the document, turning every way that can fail into an ``idp_tui`` error."""
        import httpx  # already imported by start(): this is only a name lookup

        if self._client is None:
            raise SourceError("the source is not started")
        url = self.config.url
        try:
            response = await self._client.get(url)
        except httpx.TimeoutException as exc:
            raise SourceUnavailable(f"{url}: no answer in time ({type(exc).__name__})",
                                    hint="Check that the server is up and reachable from this "
                                         "machine.") from exc
        except httpx.ConnectError as exc:
            if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                hint = ("The server's TLS certificate was not trusted. Fix the certificate, or set "
                        f"verify_tls = false in [sources.{self.name}] for a test server.")
            else:
                hint = (f"Check `url` in [sources.{self.name}] and that the server is reachable "
                        "from this machine (VPN, proxy, firewall).")
            raise SourceUnavailable(f"cannot connect to {url}: {str(exc) or type(exc).__name__}",
                                    hint=hint) from exc
        except httpx.RequestError as exc:  # a dropped connection, a protocol error, …
            raise SourceUnavailable(f"{url}: {type(exc).__name__}: {exc}") from exc

        status = f"{response.status_code} {response.reason_phrase}".strip()
        if response.status_code in (401, 403):
            hint = (f"Set `token` in [sources.{self.name}]." if not self.config.token else
                    "The token was refused: check that it is valid, not expired, and allowed to "
                    "read this document.")
            raise SourceAuthError(f"{url} answered {status}", hint=hint)
        if response.status_code == 404:
            raise SourceNotFound(f"{url} answered {status}",
                                 hint=f"Check `url` in [sources.{self.name}].")
        if response.status_code >= 500:
            raise SourceUnavailable(f"{url} answered {status}",
                                    hint="The server has a problem; the dashboard keeps showing "
                                         "the last good answer and tries again.")
        if not response.is_success:
            raise SourceError(f"{url} answered {status}")

        try:
            doc = response.json()
        except ValueError as exc:  # json.JSONDecodeError, UnicodeDecodeError
            kind = response.headers.get("content-type", "no content type")
            raise SourceDataError(f"{url} did not return JSON ({kind}): {exc}",
                                  hint="Open the URL with curl to see what the server "
                                       "returns.") from exc
        if not isinstance(doc, dict):
            raise SourceDataError(f"{url}: expected a JSON object at the top level, got "
                                  f"{_json_type(doc)}")
        return doc


def _items(doc: dict[str, Any], key: str) -> list[tuple[int, dict[str, Any]]]:
    """The objects of the list ``doc[key]`` with their index (missing key: none)."""
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise SourceDataError(f"`{key}` must be a list, got {_json_type(value)}")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise SourceDataError(f"{key}[{i}]: expected an object, got {_json_type(item)}")
        out.append((i, item))
    return out


def _pick(item: dict[str, Any], fields: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k in fields}


def _build(model: type[R], data: dict[str, Any], where: str) -> R:
    """Validate one record; a bad field becomes a SourceDataError saying where it is."""
    try:
        return model.model_validate(data)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        errors = exc.errors() if hasattr(exc, "errors") else []
        if errors:
            field = ".".join(str(part) for part in errors[0].get("loc", ()))
            problem = f"{where}{'.' if field else ''}{field}: {errors[0]['msg']}"
        else:
            problem = f"{where}: {exc}"
        raise SourceDataError(problem, hint="The document does not have the shape this source "
                                            "reads; see the idp_tui_example_source "
                                            "docstring.") from exc


def _utc(value: Any, where: str) -> Any:
    """An ISO 8601 string as an aware datetime (UTC when it has no offset); other values as is."""
    if not isinstance(value, str):
        return value
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise SourceDataError(f"{where}: not an ISO 8601 time: {value!r}") from exc
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")
