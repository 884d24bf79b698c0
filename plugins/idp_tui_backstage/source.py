"""The ``backstage`` source: the catalog from Backstage's catalog API (httpx).

Entities come from ``/api/catalog/entities/by-query`` page by page (``limit`` sent again with each
``cursor``), Components by default, with only the fields the catalog rows need, mapped as the
``catalog-files`` source maps files, with the owner, system, dependencies and APIs taken from the
entities' relations. An entity of an unexpected shape is skipped and counted; the others load.

A selected service's detail is its whole entity (``/entities/by-name/{kind}/{namespace}/{name}``)
and the APIs it provides and consumes (one ``/entities/by-refs``); Groups are the teams; the
filter values and their counts come from ``/entity-facets``.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import Field, SecretStr, field_validator

from idp_tui import (
    ApiInfo,
    Capability,
    Facet,
    FacetValue,
    PartialAnswer,
    Service,
    Source,
    SourceAuthError,
    SourceConfig,
    SourceContext,
    SourceDataError,
    SourceError,
    SourceNotFound,
    ServiceDetail,
    SourceUnavailable,
    Team,
)
from idp_tui_catalog_files.source import entity_ref_name, service_from_entity, team_from_entity

#: The entity fields a catalog row needs (the rest comes with the detail, by name).
FIELDS = ",".join((
    "kind", "metadata.name", "metadata.namespace", "metadata.title", "metadata.description",
    "metadata.tags", "metadata.annotations", "metadata.links", "spec.type", "spec.lifecycle",
    "spec.owner", "spec.system", "spec.dependsOn", "spec.providesApis", "spec.consumesApis",
    "relations"))
#: What a Group as a team needs.
TEAM_FIELDS = "kind,metadata,spec.type,spec.profile,spec.parent,spec.children,spec.members,relations"
#: What the detail panel shows of an API.
API_FIELDS = ["kind", "metadata.name", "metadata.namespace", "metadata.description",
              "spec.type", "spec.lifecycle", "spec.owner", "relations"]
#: Our facet fields and the entity fields Backstage counts them on.
FACETS = {"owner": "relations.ownedBy", "lifecycle": "spec.lifecycle", "type": "spec.type",
          "system": "relations.partOf", "tag": "metadata.tags",
          "language": "metadata.annotations.idp-tui.dev/language",
          "tier": "metadata.annotations.idp-tui.dev/tier"}


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
        #: Service name → (kind, namespace) of its entity, from the last listing.
        self._refs: dict[str, tuple[str, str]] = {}

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

    async def _get(self, path: str, params: list[tuple[str, str]] | None = None, *,
                   json: Any = None) -> Any:
        """GET ``path`` (or POST ``json`` to it), errors in words."""
        import httpx  # noqa: PLC0415

        if self._client is None:
            await self.start()
        self.requests_sent += 1
        where = f"{self.config.url}{path}"
        try:
            if json is None:
                response = await self._client.get(path, params=params)
            else:
                response = await self._client.post(path, json=json)
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
            # The backend's own NotFoundError is about an entity; any other 404 about the URL.
            raise SourceNotFound(f"{where} not found (404)" + (f": {message}" if message else ""),
                                 hint=None if name == "NotFoundError" else
                                 "Is url the backend's base URL (the one /api/catalog is under)?")
        if response.status_code >= 500:
            raise SourceUnavailable(f"{self.config.url} answered {response.status_code}"
                                    + (f": {message}" if message else ""))
        if response.status_code >= 400 or body is None:
            raise SourceError(f"{where} answered {response.status_code}"
                              + (f": {message}" if message else ""))
        return body

    async def entities(self, kinds: list[str] | None = None, fields: str = FIELDS) -> list[Any]:
        """Every entity of ``kinds`` (the configured ones by default), following the cursors."""
        base = [("filter", f"kind={kind.lower()}") for kind in kinds or self.config.kinds]
        base.append(("fields", fields))
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
        refs: dict[str, tuple[str, str]] = {}
        skipped: list[str] = []
        for entity in await self.entities():
            try:
                service = service_from_entity(entity)
            except ValueError as exc:
                skipped.append(str(exc).splitlines()[0])
                continue
            if service.name not in out:
                out[service.name] = service
                refs[service.name] = _kind_namespace(entity)
        self._refs = refs
        services = list(out.values())
        if skipped:
            error = SourceDataError(f"{len(skipped)} entities skipped; first: {skipped[0]}")
            if not services:
                raise error
            raise PartialAnswer(services, error)
        return services

    async def teams(self) -> list[Team]:
        """Every Group, as a team (parent, children and members from its relations)."""
        out: dict[str, Team] = {}
        for entity in await self.entities(["Group"], TEAM_FIELDS):
            try:
                team = team_from_entity(entity)
            except ValueError:
                continue  # a team is a nicety: a broken one is not worth an error
            out.setdefault(team.name, team)
        return list(out.values())

    async def service_detail(self, name: str) -> ServiceDetail:
        """The whole entity by name, and the APIs it provides and consumes (by their refs)."""
        from urllib.parse import quote  # noqa: PLC0415

        if name not in self._refs:
            await self.services()
        kind, namespace = self._refs.get(name, (self.config.kinds[0].lower(), "default"))
        entity = await self._get("/api/catalog/entities/by-name/"
                                 f"{quote(kind, safe='')}/{quote(namespace, safe='')}/"
                                 f"{quote(name, safe='')}")
        try:
            service = service_from_entity(entity)
        except ValueError as exc:
            raise SourceDataError(f"{kind}:{namespace}/{name}: {str(exc).splitlines()[0]}") \
                from None
        relations = [r for r in entity.get("relations") or [] if isinstance(r, dict)]
        api_refs = list(dict.fromkeys(
            r["targetRef"] for r in relations
            if r.get("type") in ("providesApi", "consumesApi")
            and isinstance(r.get("targetRef"), str)))
        apis: list[ApiInfo] = []
        if api_refs:
            body = await self._get("/api/catalog/entities/by-refs",
                                   json={"entityRefs": api_refs, "fields": API_FIELDS})
            for item in body.get("items") or [] if isinstance(body, dict) else []:
                info = _api_info(item)
                if info is not None:
                    apis.append(info)
        meta = entity.get("metadata") if isinstance(entity.get("metadata"), dict) else {}
        annotations = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
        facts = {"entity": f"{str(entity.get('kind') or kind).lower()}:{namespace}/{name}"}
        if isinstance(meta.get("title"), str) and meta["title"]:
            facts["title"] = meta["title"]
        location = annotations.get("backstage.io/managed-by-origin-location")
        if isinstance(location, str) and location:
            facts["defined in"] = location
        used_by = [ref[1] for r in relations if r.get("type") == "dependencyOf"
                   and (ref := entity_ref_name(r.get("targetRef"), "component")) is not None]
        if used_by:
            facts["dependency of"] = ", ".join(used_by)
        return ServiceDetail(service=service, apis=tuple(apis), facts=facts)

    async def catalog_facets(self) -> list[Facet]:
        """The values of the catalog's fields with counts, counted by Backstage."""
        params = [("facet", key) for key in FACETS.values()]
        params += [("filter", f"kind={kind.lower()}") for kind in self.config.kinds]
        body = await self._get("/api/catalog/entity-facets", params)
        facets = body.get("facets") if isinstance(body, dict) else None
        if not isinstance(facets, dict):
            raise SourceDataError("/api/catalog/entity-facets: an answer without facets")
        out: list[Facet] = []
        for ours, theirs in FACETS.items():
            counts: dict[str, int] = {}
            for item in facets.get(theirs) or []:
                if not isinstance(item, dict) or not isinstance(item.get("value"), str):
                    continue
                value = item["value"]
                if ours in ("owner", "system"):
                    ref = entity_ref_name(value, "group" if ours == "owner" else "system")
                    value = ref[1] if ref else value
                count = item.get("count")
                counts[value] = counts.get(value, 0) + (count if isinstance(count, int) else 0)
            if counts:
                out.append(Facet(field=ours, values=tuple(
                    FacetValue(value=v, count=max(n, 0))
                    for v, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))))
        return out


def _kind_namespace(entity: Any) -> tuple[str, str]:
    meta = entity.get("metadata") if isinstance(entity, dict) else None
    namespace = meta.get("namespace") if isinstance(meta, dict) else None
    kind = entity.get("kind") if isinstance(entity, dict) else None
    return (kind.lower() if isinstance(kind, str) and kind else "component",
            namespace if isinstance(namespace, str) and namespace else "default")


def _api_info(entity: Any) -> ApiInfo | None:
    """An API entity (from by-refs: null where a ref matches nothing) for the detail panel."""
    if not isinstance(entity, dict) or not isinstance(entity.get("metadata"), dict):
        return None
    meta = entity["metadata"]
    if not isinstance(meta.get("name"), str):
        return None
    spec = entity.get("spec") if isinstance(entity.get("spec"), dict) else {}
    relations = [r for r in entity.get("relations") or [] if isinstance(r, dict)]
    owner_ref = next((r.get("targetRef") for r in relations if r.get("type") == "ownedBy"),
                     spec.get("owner"))
    owner = entity_ref_name(owner_ref, "group")
    return ApiInfo(name=meta["name"], type=str(spec.get("type") or ""),
                   lifecycle=str(spec.get("lifecycle") or ""), owner=owner[1] if owner else "",
                   description=str(meta.get("description") or ""))
