"""The ``backstage`` source: the catalog from Backstage's catalog API (httpx).

Entities come from ``/api/catalog/entities/by-query`` page by page (``limit`` sent again with each
``cursor``), Components by default, with only the fields the catalog rows need, mapped as the
``catalog-files`` source maps files, with the owner, system, dependencies and APIs taken from the
entities' relations. An entity of an unexpected shape is skipped and counted; the others load.

A selected service's detail is its whole entity (``/entities/by-name/{kind}/{namespace}/{name}``)
and the APIs it provides and consumes (one ``/entities/by-refs``); Groups are the teams; the
filter values and their counts come from ``/entity-facets``.

Which errors are permanent (backed off by the hub, 30 s doubling): refused credentials and
permissions (401, 403), a URL that is not the backend's (a 404 that is not the backend's own
``NotFoundError``), and an entity the backend does not have and the last listing does not list.
An entity the listing names but the backend does not have by name (the catalog still processing
after a restart) is asked again at the next refresh; and once the listing names a service again,
the hub ends the back-off of its "not found" (a success clears the wait).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from idp_tui import (
    ApiInfo,
    Capability,
    Facet,
    FacetValue,
    HttpClient,
    HttpSettings,
    PartialAnswer,
    Service,
    ServiceDetail,
    Source,
    SourceContext,
    SourceDataError,
    SourceNotFound,
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


class BackstageConfig(HttpSettings):
    """``type = "backstage"``: ``url`` is Backstage's backend ("https://backstage.example.com"),
    ``token`` (or ``token_env``) a static token of backend.auth.externalAccess; the other HTTP
    settings are those of :class:`idp_tui.HttpSettings`."""

    #: Entity kinds listed as services (any case).
    kinds: list[str] = Field(default_factory=lambda: ["Component"], min_length=1)
    page_size: int = Field(default=200, ge=1, le=10_000)
    request_timeout: float = Field(default=8.0, gt=0)


class BackstageSource(Source):
    """The service catalog from Backstage."""

    Config = BackstageConfig
    capabilities = frozenset({Capability.CATALOG})
    description = "Backstage's catalog API: Components with owners, systems, APIs, relations"

    config: BackstageConfig

    def __init__(self, config: BackstageConfig, context: SourceContext) -> None:  # type: ignore[override]
        super().__init__(config, context)
        #: Service name → (kind, namespace) of its entity, from the last listing.
        self._refs: dict[str, tuple[str, str]] = {}
        self.http = HttpClient(config, context, headers={"Accept": "application/json"},
                               server="Backstage")

    async def start(self) -> None:
        self.http.open()  # a token_env naming an unset variable is said now, naming it

    async def close(self) -> None:
        await self.http.aclose()

    async def _get(self, path: str, params: list[tuple[str, str]] | None = None, *,
                   json: Any = None) -> Any:
        """GET ``path`` (or POST ``json`` to it), errors in words."""
        response = await self.http.send("GET" if json is None else "POST", path, params=params,
                                         json=json, check=False)
        if response.status_code >= 400:
            self._refuse(response)
        return self.http.read_json(response)

    def _refuse(self, response: Any) -> None:
        """Raise the error of a failed answer, in the backend's words (its error JSON)."""
        try:
            body = response.json()
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        name = error.get("name") if isinstance(error, dict) else None
        status = response.status_code
        hint = None
        if status == 401:
            hint = (f"Set token (or token_env) in [sources.{self.name}] to a static token of "
                    "backend.auth.externalAccess.")
        elif status == 404 and name == "NotFoundError":
            # The backend's own NotFoundError is about an entity (the URL is fine); any other
            # 404 about the URL.
            raise SourceNotFound(self.http.status_error(response).message)
        elif status == 404:
            hint = (f"Is url in [sources.{self.name}] the backend's base URL (the one "
                    "/api/catalog is under)?")
        self.http.check(response, hint=hint)

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
        try:
            entity = await self._get("/api/catalog/entities/by-name/"
                                     f"{quote(kind, safe='')}/{quote(namespace, safe='')}/"
                                     f"{quote(name, safe='')}")
        except SourceNotFound as exc:
            if name in self._refs:  # listed, not found by name: the catalog is still processing
                raise SourceNotFound(exc.message, hint=exc.hint or (
                    "Backstage lists it but does not have it by name yet (the catalog is "
                    "processing its entities, after a restart or a change); asked again at the "
                    "next refresh."), permanent=False) from None
            raise
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
