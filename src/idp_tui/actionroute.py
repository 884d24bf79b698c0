"""What the action manager asks before it acts: which source runs a request (the one that runs
the service in that environment, offers the template or listed the run), what versions and
templates are on offer, and an environment's type and protection. A base of
:class:`idp_tui.actions.ActionManager`."""

from __future__ import annotations

from typing import Any

from .actionrun import TemplateEntry
from .actionspec import Target, spec
from .api.actions import ActionKind, ActionRequest, Resource, Template, VersionOption
from .api.errors import NotSupported, SourceError, SourceNotFound
from .api.models import Environment
from .audit import redact
from .api.source import Capability
from .hub import Hub, Platform, SourceRunner, Topic


class ActionRouting:
    """Routing and the queries of the action dialogs (``versions``, ``templates``,
    ``resources``) over ``self.hub``."""

    hub: Hub
    _templates: dict[str, TemplateEntry]

    async def versions(self, service: str, environment: str) -> list[VersionOption]:
        runner = await self._route_service(ActionKind.DEPLOY, service, environment)
        return await self._versions_on(runner, service, environment)

    async def _versions_on(self, runner: SourceRunner, service: str,
                           environment: str) -> list[VersionOption]:
        names = self.hub.environments
        value = await self.hub._call(runner, "deploy_versions", service,
                                     names.to_source(runner.name, environment))
        options = [validate_record(v, VersionOption, "deploy version") for v in as_list(value)]
        if not names:
            return options
        return [o.model_copy(update={"environments": tuple(
            names.to_platform(runner.name, e) for e in o.environments)}) for o in options]

    async def templates(self) -> list[TemplateEntry]:
        """Every source's templates; a failing source is skipped (its error is in the health view)."""
        entries: dict[str, TemplateEntry] = {}
        for runner in self.hub.runners_for(Capability.PROVISION):
            try:
                value = await self.hub._call(runner, "templates")
            except Exception:  # noqa: BLE001 - shown in the health view
                continue
            for item in as_list(value):
                if isinstance(item, Template) and item.name not in entries:
                    entries[item.name] = TemplateEntry(runner.name, item)
        self._templates = entries
        return list(entries.values())

    async def template(self, name: str) -> TemplateEntry:
        if name not in self._templates:
            await self.templates()
        if name not in self._templates:
            known = ", ".join(sorted(self._templates)) or "none"
            raise SourceNotFound(f"no template {name!r} (available: {known})")
        return self._templates[name]

    async def resources(self) -> list[Resource]:
        out: list[Resource] = []
        for runner in self.hub.runners_for(Capability.PROVISION):
            value = await self.hub._call(runner, "resources")
            for item in as_list(value):
                resource = validate_record(item, Resource, "resource")
                out.append(resource.model_copy(update={"source": runner.name}))
        return out

    async def _environment_type(self, environment: str | None) -> str | None:
        if not environment:
            return None
        from .environments import guess_type

        try:
            platform = await self._platform()
        except Exception:  # noqa: BLE001 - then the name says the type
            platform = None
        for env in platform.environments if platform is not None else ():
            if env.name == environment and env.type is not None:
                return env.type.value
        kind = guess_type(environment)
        return kind.value if kind is not None else None

    async def _route(self, request: ActionRequest) -> SourceRunner:
        target = spec(request.kind).target
        if target is Target.TEMPLATE:
            entry = await self.template(request.template or "")
            return self._runner(entry.source)
        if target is Target.RUN:
            return self._route_run(request.kind, f"pipeline run {request.run_id or ''}",
                                   request.source)
        if target is Target.WORKFLOW:
            return self._route_run(request.kind, f"workflow {request.template or '?'} of "
                                                 f"{request.service or '?'}", request.source)
        if target is Target.ENVIRONMENT:
            return await self._route_environment(request)
        return await self._route_service(request.kind, request.service or "",
                                         request.environment or "")

    async def _route_service(self, kind: ActionKind, service: str,
                             environment: str) -> SourceRunner:
        able = self.able(kind)
        if not able:
            raise NotSupported(f"no configured source can {kind.value}")
        able = [r for r in able if r.declares(service) is not False]  # `owns` in the config
        if not able:
            raise NotSupported(f"no source that can {kind.value} owns {service} (each declares "
                               f"other services in its `owns`)")
        platform = await self._platform()
        dep = platform.deployments.get((service, environment)) if platform else None
        if dep is not None:
            for runner in able:
                if runner.name == dep.source:
                    return runner
        if len(able) == 1:
            return able[0]
        listing = [r for r in able if self.hub.knows(r, service)]  # where it runs nowhere yet
        if len(listing) == 1:
            return listing[0]
        raise NotSupported(f"no source that can {kind.value} runs {service} in {environment}")

    async def _route_environment(self, request: ActionRequest) -> SourceRunner:
        """The source that reports the environment (``request.source`` when given): each able
        source is asked for its environments (a failing one is passed over)."""
        from .actionenv import pick_environment_source

        able, environment = self.able(request.kind), request.environment or ""
        if not able:
            raise NotSupported(f"no configured source can {request.kind.value} an environment")
        listed = []
        for runner in able:
            try:
                found = as_list(await self.hub._call(runner, "environments"))
            except Exception:  # noqa: BLE001 - its failure is in the health view
                continue
            names = self.hub.environments
            listed.append((runner.name, [e.model_copy(update={"name": names.to_platform(
                runner.name, e.name)}) for e in found if isinstance(e, Environment)]))
        chosen = pick_environment_source(environment, listed, request.source)
        if chosen is None:
            raise SourceNotFound(f"no source that can {request.kind.value} reports an "
                                 f"environment {environment!r}")
        return self._runner(chosen)

    def _route_run(self, kind: ActionKind, what: str, source: str | None) -> SourceRunner:
        """The source that reported the run or workflow ``what`` (``request.source``), or the
        only one that can."""
        able = self.able(kind)
        if not able:
            noun = "workflow" if what.startswith("workflow") else "pipeline run"
            raise NotSupported(f"no configured source can {kind.value} a {noun}")
        if source:
            for runner in able:
                if runner.name == source:
                    return runner
            raise NotSupported(f"source {source!r} cannot {kind.value} {what}")
        if len(able) == 1:
            return able[0]
        raise NotSupported(f"which source's {what}? (several can {kind.value}); name it")

    async def _platform(self) -> Platform | None:
        snapshot = self.hub.cached(Topic.environments())
        if snapshot is None or snapshot.data is None:
            snapshot = await self.hub.fetch(Topic.environments())
        return snapshot.data

    async def _environment_protected(self, environment: str | None) -> bool:
        if not environment:
            return False
        platform = await self._platform()
        if platform is None:
            return False
        return any(e.name == environment and e.protected for e in platform.environments)

    def _runner(self, name: str) -> SourceRunner:
        for runner in self.hub.runners:
            if runner.name == name:
                return runner
        raise SourceNotFound(f"no source {name!r}")

    def _public_params(self, request: ActionRequest, entry: TemplateEntry | None) -> dict[str, Any]:
        fields = entry.secret_fields if entry is not None else frozenset()
        return redact(request.params, fields)

    def _local(self, runner: SourceRunner, request: ActionRequest) -> ActionRequest:
        """``request`` with its environment under the source's own name for it (``[environments]``
        ``names``); the audit log and the dashboard keep the platform's."""
        if not request.environment:
            return request
        local = self.hub.environments.to_source(runner.name, request.environment)
        if local == request.environment:
            return request
        return request.model_copy(update={"environment": local, "confirmation": (
            local if request.confirmation == request.environment else request.confirmation)})


def as_list(value: Any) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise SourceError(f"expected a list, got {type(value).__name__}")
    return list(value)


def validate_record(value: Any, model: type[Any], what: str) -> Any:
    if isinstance(value, model):
        return value
    if isinstance(value, dict):
        return model.model_validate(value)
    raise SourceError(f"{what}: expected {model.__name__}, got {type(value).__name__}")
