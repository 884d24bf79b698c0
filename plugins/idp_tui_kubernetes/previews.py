"""Preview environments on Kubernetes: namespaces created from a template, labelled as previews,
watched like the configured environments while they last, and deleted when their time is up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, create_model

from idp_tui import (
    ActionEvent,
    ActionKind,
    ActionPlan,
    ActionRequest,
    ActionState,
    PlannedResource,
    Resource,
    SourceContext,
    SourceError,
    SourceNotFound,
    Template,
)

from . import objects as o
from .cluster import Cluster, Where
from .config import DNS_LABEL, KubernetesConfig

if TYPE_CHECKING:
    from .informer import Informer

log = logging.getLogger("idp_tui.kubernetes")

PREVIEW_TEMPLATE = "preview-namespace"
#: The action kinds on preview namespaces: make one (its template), extend it, delete it.
PREVIEW_KINDS = frozenset({ActionKind.PROVISION, ActionKind.EXTEND, ActionKind.DELETE_ENVIRONMENT})
#: Seconds between two looks for expired preview namespaces.
EXPIRY_CHECK_EVERY = 60.0


class PreviewNamespaces:
    """The preview part of :class:`~idp_tui_kubernetes.source.KubernetesSource` (a mixin: it
    uses the source's settings, clusters and watches)."""

    config: KubernetesConfig
    context: SourceContext
    _namespaces: Informer[o.Namespace] | None
    _previews: dict[str, Where]
    _params_model: type[BaseModel] | None
    _last_expiry_check: datetime | None

    if TYPE_CHECKING:
        @property
        def name(self) -> str: ...

        def cluster(self, context: str | None) -> Cluster: ...

        def _watch_workloads(self, where: Where) -> None: ...

        async def _synced(self, informers: list[Informer[Any]], wait: float = ...) -> None: ...

    def _preview_namespaces(self) -> list[o.Namespace]:
        if self._namespaces is None or self.config.previews is None:
            return []
        prefix = self.config.previews.prefix
        return sorted((ns for ns in self._namespaces.items()
                       if ns.labels.get(o.MANAGED_BY) == o.MANAGER and ns.name.startswith(prefix)),
                      key=lambda ns: ns.name)

    def _sync_previews(self) -> None:
        """Watch the workloads of every preview namespace there is, and of no other."""
        if self.config.previews is None:
            return
        cluster = self.cluster(self.config.previews.context)
        now = self.context.clock.now()
        wanted = {ns.name for ns in self._preview_namespaces()
                  if not ns.deleting and not expired(ns, now)}
        for name in list(self._previews):
            if name not in wanted:
                where = self._previews.pop(name)
                for informer in where.informers():
                    informer.stop()
        for name in sorted(wanted - set(self._previews)):
            where = Where(name, cluster, name, preview=True)
            self._watch_workloads(where)
            self._previews[name] = where

    async def templates(self) -> list[Template]:
        if self._params_model is None or self.config.previews is None:
            return []
        previews = self.config.previews
        return [Template(
            name=PREVIEW_TEMPLATE, title="Preview namespace", kind="environment",
            description=f"A namespace {previews.prefix}NAME on {self.cluster(previews.context).label}"
                        ", labelled as a preview environment and deleted when its time is up",
            params=self._params_model)]

    def _preview_request(self, request: ActionRequest) -> tuple[str, int]:
        if self._params_model is None or self.config.previews is None:
            raise SourceError(f"{self.name} has no preview namespaces configured")
        if request.template != PREVIEW_TEMPLATE:
            raise SourceNotFound(f"no template {request.template!r} in {self.name}")
        params = self._params_model.model_validate(request.params)
        name = f"{self.config.previews.prefix}{params.name}"  # type: ignore[attr-defined]
        if len(name) > 63:
            raise SourceError(f"{name!r} is longer than the 63 characters a namespace may have")
        return name, params.ttl_hours  # type: ignore[attr-defined]

    def _plan_preview(self, request: ActionRequest) -> ActionPlan:
        name, ttl = self._preview_request(request)
        assert self.config.previews is not None
        cluster = self.cluster(self.config.previews.context)
        expires = self.context.clock.now() + timedelta(hours=ttl)
        exists = self._namespaces is not None and self._namespaces.get(name) is not None
        notes = (f"Namespace {name} exists already: the action will fail.",) if exists else ()
        return ActionPlan(
            summary=f"Create namespace {name} on {cluster.label}, deleted at "
                    f"{o.format_time(expires)}",
            creates=(PlannedResource(kind="namespace", name=name, details={
                "cluster": cluster.label, "expires": o.format_time(expires),
                "labels": f"{o.MANAGED_BY}={o.MANAGER}, {o.PREVIEW_LABEL}"}),),
            notes=notes, estimated_duration=timedelta(seconds=5))

    async def _run_preview(self, request: ActionRequest) -> AsyncIterator[ActionEvent]:
        name, ttl = self._preview_request(request)
        assert self.config.previews is not None
        cluster = self.cluster(self.config.previews.context)
        now = self.context.clock.now
        expires = now() + timedelta(hours=ttl)
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": name,
            "labels": {o.MANAGED_BY: o.MANAGER, o.PREVIEW_LABEL: name[:63]},
            "annotations": {o.EXPIRES_AT: o.format_time(expires), o.ACTION_ID: request.id,
                            o.CREATED_BY: request.actor or "someone"}}}
        yield ActionEvent(ts=now(), message=f"creating namespace {name} on {cluster.label}")
        try:
            await asyncio.to_thread(cluster.read_json, "create", "namespaces", None,
                                    lambda c: c.api("core").create_namespace(
                                        body, field_manager="idp-tui", _preload_content=False,
                                        _request_timeout=c.request_timeout), name=name)
        except SourceError as exc:
            if "conflict" not in exc.message:
                raise
            existing = await asyncio.to_thread(
                cluster.read_json, "get", "namespaces", None,
                lambda c: c.api("core").read_namespace(name, _preload_content=False,
                                                       _request_timeout=c.request_timeout),
                name=name)
            ns = o.project_namespace(existing)
            if ns.annotations.get(o.ACTION_ID) == request.id:
                yield ActionEvent(ts=now(), state=ActionState.SUCCEEDED,
                                  message=f"namespace {name} was already created by this "
                                          "action; nothing done again")
                return
            yield ActionEvent(ts=now(), state=ActionState.FAILED, level="error",
                              message=f"namespace {name} exists already")
            return
        # Ready once the watch has it (the dashboard then shows it as an environment).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while self._namespaces is not None and self._namespaces.get(name) is None \
                and loop.time() < deadline:
            await asyncio.sleep(0.05)
        self._sync_previews()
        self.context.changed("environments")
        yield ActionEvent(ts=now(), state=ActionState.SUCCEEDED,
                          message=f"preview environment {name} ready on {cluster.label} until "
                                  f"{o.format_time(expires)}")

    async def resources(self) -> list[Resource]:
        if self._namespaces is None:
            return []
        await self._synced([self._namespaces])
        if self._namespaces.error is not None and not self._namespaces.synced.is_set():
            raise self._namespaces.error
        assert self.config.previews is not None
        label = self.cluster(self.config.previews.context).label
        now = self.context.clock.now()
        out = []
        for ns in self._preview_namespaces():
            status = "deleting" if ns.deleting else "expired" if expired(ns, now) else "active"
            out.append(Resource(kind="namespace", name=ns.name, environment=ns.name,
                                status=status, created_at=o.parse_time(ns.created),
                                expires_at=ns.expires_at,
                                details={"cluster": label,
                                         "created by": ns.annotations.get(o.CREATED_BY, "")}))
        return out

    async def _expire(self) -> None:
        """Delete the preview namespaces whose time is up (at most once a minute)."""
        previews = self.config.previews
        if previews is None or not previews.delete_expired or self._namespaces is None:
            return
        now = self.context.clock.now()
        if self._last_expiry_check is not None \
                and (now - self._last_expiry_check).total_seconds() < EXPIRY_CHECK_EVERY \
                and now >= self._last_expiry_check:
            return
        self._last_expiry_check = now
        cluster = self.cluster(previews.context)
        for ns in self._preview_namespaces():
            if ns.deleting or not expired(ns, now):
                continue
            log.info("deleting the preview namespace %s: expired at %s", ns.name,
                     ns.annotations.get(o.EXPIRES_AT))
            try:
                await asyncio.to_thread(
                    cluster.request, "delete", "namespaces", None,
                    lambda c, n=ns.name: c.api("core").delete_namespace(
                        n, _preload_content=False, _request_timeout=c.request_timeout),
                    name=ns.name)
            except SourceNotFound:
                pass  # deleted by someone else meanwhile
            except SourceError as exc:
                log.warning("could not delete the expired namespace %s: %s", ns.name,
                            exc.message)


    # Extending and deleting one ------------------------------------------------------------------

    def _plan_preview_kind(self, request: ActionRequest) -> ActionPlan:
        """The plan of making (a template), extending or deleting a preview namespace."""
        if request.kind is ActionKind.PROVISION:
            return self._plan_preview(request)
        return self._plan_environment(request)

    def _run_preview_kind(self, request: ActionRequest) -> AsyncIterator[ActionEvent]:
        if request.kind is ActionKind.PROVISION:
            return self._run_preview(request)
        return self._run_environment(request)

    def _preview_namespace(self, request: ActionRequest) -> o.Namespace:
        """The preview namespace ``request.environment`` names (made by idp-tui, not being
        deleted); ``SourceError`` in words otherwise."""
        name = request.environment or ""
        if self._namespaces is None or self.config.previews is None:
            raise SourceError(f"{self.name} has no preview namespaces configured")
        for ns in self._preview_namespaces():
            if ns.name == name and not ns.deleting:
                return ns
        raise SourceNotFound(f"{name!r} is not a preview namespace of {self.name} (only those "
                             f"it made, named {self.config.previews.prefix}…, are extended or "
                             "deleted)")

    def _new_expiry(self, ns: o.Namespace, request: ActionRequest) -> datetime:
        seconds = request.params.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds <= 0:
            raise SourceError("extend needs a whole number of seconds above 0 (params.seconds)")
        assert self.config.previews is not None
        now = self.context.clock.now()
        start = max(ns.expires_at or now, now)
        expires = start + timedelta(seconds=seconds)
        longest = timedelta(hours=self.config.previews.max_ttl_hours)
        if expires - now > longest:
            raise SourceError(f"{ns.name} would expire at {o.format_time(expires)}, more than "
                              f"the {self.config.previews.max_ttl_hours} h a preview may live "
                              "from now (previews.max_ttl_hours)", hint="Extend it by less.")
        return expires

    def _plan_environment(self, request: ActionRequest) -> ActionPlan:
        ns = self._preview_namespace(request)
        assert self.config.previews is not None
        label = self.cluster(self.config.previews.context).label
        was = o.format_time(ns.expires_at) if ns.expires_at is not None else "never"
        if request.kind is ActionKind.EXTEND:
            expires = self._new_expiry(ns, request)
            return ActionPlan(summary=f"Set the expiry of namespace {ns.name} on {label} to "
                                      f"{o.format_time(expires)} (was {was})",
                              notes=(f"annotation {o.EXPIRES_AT}",),
                              estimated_duration=timedelta(seconds=2))
        return ActionPlan(summary=f"Delete namespace {ns.name} on {label} and everything in it",
                          notes=("It cannot be undone: every workload, pod and secret in the "
                                 "namespace goes with it.", f"It would have expired at {was}."),
                          estimated_duration=timedelta(seconds=10))

    async def _run_environment(self, request: ActionRequest) -> AsyncIterator[ActionEvent]:
        ns = self._preview_namespace(request)
        assert self.config.previews is not None
        cluster = self.cluster(self.config.previews.context)
        now = self.context.clock.now
        if request.kind is ActionKind.EXTEND:
            expires = self._new_expiry(ns, request)
            body = {"metadata": {"annotations": {o.EXPIRES_AT: o.format_time(expires)}}}
            yield ActionEvent(ts=now(), message=f"setting {o.EXPIRES_AT} of {ns.name} to "
                                                f"{o.format_time(expires)}")
            await asyncio.to_thread(cluster.read_json, "patch", "namespaces", None,
                                    lambda c: c.api("core").patch_namespace(
                                        ns.name, body, field_manager="idp-tui",
                                        _preload_content=False,
                                        _request_timeout=c.request_timeout), name=ns.name)
            self.context.changed("environments")
            yield ActionEvent(ts=now(), state=ActionState.SUCCEEDED,
                              message=f"preview environment {ns.name} on {cluster.label} now "
                                      f"expires at {o.format_time(expires)}")
            return
        yield ActionEvent(ts=now(), message=f"deleting namespace {ns.name} on {cluster.label}")
        try:
            await asyncio.to_thread(cluster.request, "delete", "namespaces", None,
                                    lambda c: c.api("core").delete_namespace(
                                        ns.name, _preload_content=False,
                                        _request_timeout=c.request_timeout), name=ns.name)
        except SourceNotFound:
            pass  # gone meanwhile: what was asked is done
        self._sync_previews()
        self.context.changed("environments")
        yield ActionEvent(ts=now(), state=ActionState.SUCCEEDED,
                          message=f"namespace {ns.name} on {cluster.label} deleted")


def expired(ns: o.Namespace, now: datetime) -> bool:
    expires = ns.expires_at
    return expires is not None and expires <= now


def preview_params(config: KubernetesConfig) -> type[BaseModel]:
    previews = config.previews
    assert previews is not None
    prefix = len(previews.prefix)
    return create_model(
        "PreviewNamespaceParams",
        name=(str, Field(pattern=DNS_LABEL, min_length=1, max_length=63 - prefix,
                         description="The namespace is the prefix and this name")),
        ttl_hours=(int, Field(default=previews.default_ttl_hours, ge=1,
                              le=previews.max_ttl_hours,
                              description="Hours until it is deleted")),
    )
