"""The ``backstage`` source: the catalog from Backstage's catalog API (httpx).

Entities come from ``/api/catalog/entities/by-query`` page by page (``limit`` sent again with each
``cursor``), Components by default, mapped as the ``catalog-files`` source maps files, with the
owner, system, dependencies and APIs taken from the entities' relations. An entity of an
unexpected shape is skipped and counted; the others load.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import Field, SecretStr, field_validator

from idp_tui import (
    Capability,
    PartialAnswer,
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
from idp_tui_catalog_files.source import service_from_entity

#: The entity fields asked for (the rest of an entity is not needed).
FIELDS = "kind,metadata,spec,relations"


class BackstageConfig(SourceConfig):
    """``type = "backstage"``."""

    #: Backstage's backend, e.g. "https://backstage.example.com".
    url: str
    #: A static token (backend.auth.externalAccess); or the name of an environment variable.
    token: SecretStr | None = None
    token_env: str | None = None
    #: Entity kinds listed as services (any case).
    kinds: list[str] = Field(default_factory=lambda: ["Component"], min_length=1)
    page_size: int = Field(default=200, ge=1, le=10_000)
    request_timeout: float = Field(default=8.0, gt=0)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value.rstrip("/")


class BackstageSource(Source):
    """The service catalog from Backstage."""

    Config = BackstageConfig
    capabilities = frozenset({Capability.CATALOG})
    description = "Backstage's catalog API: Components with owners, systems, APIs, relations"

    config: BackstageConfig

    def __init__(self, config: BackstageConfig, context: SourceContext) -> None:  # type: ignore[override]
        super().__init__(config, context)
        self._client: Any = None
        #: Requests made so far (for the tests).
        self.requests_sent = 0

    async def start(self) -> None:
        import httpx  # noqa: PLC0415

        headers = {"Accept": "application/json"}
        token = self.config.token.get_secret_value() if self.config.token else None
        if token is None and self.config.token_env:
            token = os.environ.get(self.config.token_env)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.AsyncClient(base_url=self.config.url, headers=headers,
                                         timeout=self.config.request_timeout)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _get(self, path: str, params: list[tuple[str, str]]) -> Any:
        import httpx  # noqa: PLC0415

        if self._client is None:
            await self.start()
        self.requests_sent += 1
        where = f"{self.config.url}{path}"
        try:
            response = await self._client.get(path, params=params)
        except httpx.TimeoutException:
            raise SourceUnavailable(f"{where} did not answer within "
                                    f"{self.config.request_timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise SourceUnavailable(f"cannot reach {self.config.url}: {exc or type(exc).__name__}",
                                    hint=f"Check url in [sources.{self.name}].") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        name = error.get("name") if isinstance(error, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        if response.status_code == 401:
            raise SourceAuthError(
                f"{self.config.url} refused the request (401 {name or 'Unauthorized'})",
                hint=f"Set token (or token_env) in [sources.{self.name}] to a static token "
                     "of backend.auth.externalAccess.")
        if response.status_code == 403:
            raise SourceAuthError(f"{self.config.url} forbids reading the catalog (403)"
                                  + (f": {message}" if message else ""))
        if response.status_code == 404:
            raise SourceNotFound(f"{where} not found (404)" + (f": {message}" if message else ""),
                                 hint="Is url the backend's base URL (the one /api/catalog "
                                      "is under)?")
        if response.status_code >= 500:
            raise SourceUnavailable(f"{self.config.url} answered {response.status_code}"
                                    + (f": {message}" if message else ""))
        if response.status_code >= 400 or body is None:
            raise SourceError(f"{where} answered {response.status_code}"
                              + (f": {message}" if message else ""))
        return body

    async def entities(self) -> list[Any]:
        """Every entity of the configured kinds, following the cursors."""
        base = [("filter", f"kind={kind.lower()}") for kind in self.config.kinds]
        base.append(("fields", FIELDS))
        limit = ("limit", str(self.config.page_size))
        out: list[Any] = []
        cursor: str | None = None
        for _ in range(100_000):  # a bound, not a limit anyone meets
            params = [*base, limit] if cursor is None else [("cursor", cursor), limit]
            body = await self._get("/api/catalog/entities/by-query", params)
            items = body.get("items") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise SourceDataError("/api/catalog/entities/by-query: an answer without items")
            out.extend(items)
            page = body.get("pageInfo") or {}
            cursor = page.get("nextCursor") if isinstance(page, dict) else None
            if not cursor:
                break
        return out

    async def services(self) -> list[Service]:
        out: dict[str, Service] = {}
        skipped: list[str] = []
        for entity in await self.entities():
            try:
                service = service_from_entity(entity)
            except ValueError as exc:
                skipped.append(str(exc).splitlines()[0])
                continue
            out.setdefault(service.name, service)
        services = list(out.values())
        if skipped:
            error = SourceDataError(f"{len(skipped)} entities skipped; first: {skipped[0]}")
            if not services:
                raise error
            raise PartialAnswer(services, error)
        return services
