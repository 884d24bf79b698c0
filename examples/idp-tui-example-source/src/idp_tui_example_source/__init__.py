"""An example idp-tui source: a platform's catalog, deployments, pipelines, logs and deploys over
HTTP.

Copy this package to start a plugin of your own. It has the parts every source has: a settings
model, the capabilities it offers, an HTTP client created in ``__init__`` (nothing opened there)
and closed in ``close()``, records built from what the remote system returns, failures raised as
``idp_tui`` errors with hints — and the parts that take more care: a log that streams for hours,
and a deploy that reports its progress and is safe to send twice.

Configure it in ``config.toml``::

    [sources.platform]
    type = "example-json"                        # the entry-point name in pyproject.toml
    url = "https://platform.example.internal/idp"
    token_env = "PLATFORM_TOKEN"                 # optional: or token = "...", or username/password
    verify_tls = true                            # optional; also ca_file, headers, request_timeout
    poll_interval = 2                            # optional: seconds between looks at a deploy

The platform's API
------------------

Paths under ``url`` (``sample/server.py`` serves them all, from the files beside it):

- ``GET /platform.json``: one JSON object with three optional lists (missing means empty; other
  keys, at the top level and in the items, are ignored)::

    {
      "services": [
        {"name": "payments-api", "owner": "team-payments", "tier": 1, "lifecycle": "production",
         "language": "go", "description": "Takes card payments", "system": "payments",
         "links": [{"title": "Repository", "url": "https://git.example/payments-api",
                    "kind": "repo"}],
         "tags": ["pci"], "depends_on": ["ledger"], "annotations": {"example.com/cost": "12"}}
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

  ``services[]`` has the fields of :class:`idp_tui.Service` (only ``name`` is required);
  ``environments[]`` those of :class:`idp_tui.Environment` (a preview whose ``expires_at`` has
  passed is left out, with its deployments); ``deployments[]`` needs ``service``,
  ``environment`` and ``version``; ``health`` is ``healthy``, ``degraded`` or ``down`` (anything
  else shows as unknown); a time without an offset is UTC.
- ``GET /runs?service=NAME&limit=N``: ``{"runs": [...]}``, newest first, each with the fields of
  :class:`idp_tui.PipelineRun` (``jobs`` may be left out); ``GET /runs/ID``: one run with its jobs.
  A succeeded run with a ``version`` is a version the deploy dialog offers.
- ``GET /logs?service=NAME&environment=ENV&tail=N&follow=true``: NDJSON, one
  ``{"ts", "instance", "level", "message"}`` a line; the last ``tail`` lines, then new ones for as
  long as the client reads.
- ``POST /deploys`` with ``{"id", "service", "environment", "version", "actor", "reason"}``: 201
  and the deploy; the same ``id`` again: 200 and the deploy already started (so sending it twice
  is harmless). ``GET /deploys/ID``: ``{"state": "running" | "succeeded" | "failed", "done",
  "total", "message"}``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import quote

from pydantic import Field

from idp_tui import (
    ActionEvent,
    ActionKind,
    ActionPlan,
    ActionRequest,
    ActionState,
    Capability,
    Deployment,
    Environment,
    EnvironmentKind,
    Health,
    HttpClient,
    HttpSettings,
    LogLevel,
    LogLine,
    LogQuery,
    PipelineQuery,
    PipelineRun,
    RunStatus,
    Service,
    Source,
    SourceContext,
    SourceDataError,
    SourceError,
    SourceNotFound,
    SourceUnavailable,
    VersionOption,
)

from .records import an_object, build, items, json_type, pick, utc

__version__ = "0.2.0"
__all__ = ["ExampleConfig", "JsonCatalogSource"]

# Fields copied from the platform's JSON; the hub fills ``sources`` / ``source`` itself.
_SERVICE_FIELDS = frozenset(Service.model_fields) - {"sources"}
_ENVIRONMENT_FIELDS = frozenset(Environment.model_fields)
_RUN_FIELDS = frozenset(PipelineRun.model_fields) - {"source"}
_HEALTH = {h.value: h for h in Health}
#: A brief server error during a deploy is tried again this many times (see ``_again``).
RETRIES = 3

T = TypeVar("T")


class ExampleConfig(HttpSettings):
    """The ``[sources.NAME]`` table, less ``type`` and ``timeout`` (the hub's). Unknown keys are
    rejected when the config is read.

    ``url`` (the API's base URL), ``token`` / ``token_env`` / ``username`` and ``password``,
    ``headers``, ``verify_tls``, ``ca_file`` and ``request_timeout`` come from
    :class:`idp_tui.HttpSettings`.
    """

    #: Seconds between two looks at a running deploy.
    poll_interval: float = Field(default=2.0, gt=0)


class JsonCatalogSource(Source):
    """Catalog, environments, pipelines, logs and deploys from a platform's HTTP API."""

    Config = ExampleConfig
    capabilities = frozenset({Capability.CATALOG, Capability.ENVIRONMENTS, Capability.PIPELINES,
                              Capability.LOGS, Capability.ACTIONS})
    actions = frozenset({ActionKind.DEPLOY})
    description = "A platform's catalog, deployments, pipelines, logs and deploys over HTTP"

    config: ExampleConfig

    def __init__(self, config: ExampleConfig, context: SourceContext) -> None:
        super().__init__(config, context)
        # Cheap: nothing is imported or opened until the first request (or start()).
        self.http = HttpClient(config, context, follow_redirects=True, headers={
            "Accept": "application/json", "User-Agent": f"idp-tui-example-source/{__version__}"})

    # Life cycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        # Builds the httpx client: an unset token_env or an unreadable ca_file is said now.
        self.http.open()

    async def close(self) -> None:
        await self.http.aclose()

    # Catalog and environments ------------------------------------------------------------------
    async def services(self) -> list[Service]:
        doc = await self._document()
        return [build(Service, pick(item, _SERVICE_FIELDS), f"services[{i}]")
                for i, item in items(doc, "services")]

    async def environments(self) -> list[Environment]:
        doc = await self._document()
        return [env for env in self._environments(doc) if not self._expired(env)]

    async def deployments(self) -> list[Deployment]:
        doc = await self._document()
        expired = {env.name for env in self._environments(doc) if self._expired(env)}
        out = []
        for i, item in items(doc, "deployments"):
            deployment = build(Deployment, {
                "service": item.get("service"),
                "environment": item.get("environment"),
                "version": item.get("version"),
                "replicas_ready": item.get("ready", 0),
                "replicas_desired": item.get("desired", 0),
                "health": _HEALTH.get(str(item.get("health", "")).lower(), Health.UNKNOWN),
                "updated_at": utc(item.get("updated_at"), f"deployments[{i}].updated_at"),
                "message": item.get("message", ""),
            }, f"deployments[{i}]")
            if deployment.environment not in expired:
                out.append(deployment)
        return out

    def _environments(self, doc: dict[str, Any]) -> list[Environment]:
        envs = []
        for i, item in items(doc, "environments"):
            fields = pick(item, _ENVIRONMENT_FIELDS)
            if "expires_at" in fields:
                fields["expires_at"] = utc(fields["expires_at"], f"environments[{i}].expires_at")
            envs.append(build(Environment, fields, f"environments[{i}]"))
        return envs

    def _expired(self, env: Environment) -> bool:
        # The time comes from the context's clock, never from datetime.now(): tests can fix it.
        return (env.kind is EnvironmentKind.PREVIEW and env.expires_at is not None
                and env.expires_at <= self.context.clock.now())

    async def _document(self) -> dict[str, Any]:
        # get_json raises every failure as an idp_tui error with a hint: refused or dropped
        # connections, timeouts, TLS, 401/403, 404, 429, 5xx, a body that is not JSON.
        doc = await self.http.get_json("/platform.json")
        if not isinstance(doc, dict):
            raise SourceDataError(f"{self.config.url}/platform.json: expected a JSON object at "
                                  f"the top level, got {json_type(doc)}")
        return doc

    # Pipelines ---------------------------------------------------------------------------------
    async def pipeline_runs(self, query: PipelineQuery) -> list[PipelineRun]:
        params = {"limit": str(query.limit)}
        if query.service is not None:
            params["service"] = query.service
        body = an_object(await self.http.get_json("/runs", params=params), "/runs")
        return [build(PipelineRun, pick(item, _RUN_FIELDS), f"runs[{i}]")
                for i, item in items(body, "runs")][:query.limit]

    async def pipeline_run(self, run_id: str) -> PipelineRun:
        where = f"run {run_id}"
        response = await self.http.send("GET", f"/runs/{quote(run_id, safe='')}", check=False)
        if response.status_code == 404:  # an unknown run, not a wrong URL: no hint about url
            raise SourceNotFound(f"no run {run_id!r} in {self.name}")
        self.http.check(response, what=where)
        item = an_object(self.http.read_json(response, what=where), where)
        return build(PipelineRun, pick(item, _RUN_FIELDS), where)

    # Logs --------------------------------------------------------------------------------------
    async def logs(self, query: LogQuery) -> AsyncIterator[LogLine]:  # type: ignore[override]
        params = {"service": query.service, "environment": query.environment,
                  "tail": str(query.tail), "follow": "true" if query.follow else "false"}
        # A followed log is quiet for as long as nothing happens: the stream has no read timeout
        # (read_timeout=None). The client's request_timeout would end it after a quiet spell.
        # When the user looks elsewhere, the hub cancels this generator: `async with` closes the
        # connection.
        async with self.http.stream("GET", "/logs", params=params, what="logs",
                                    read_timeout=None) as response:
            async for text in response.aiter_lines():
                if text.strip():
                    yield self._log_line(text, query)

    def _log_line(self, text: str, query: LogQuery) -> LogLine:
        """One NDJSON line; a line that is not one is shown as it came, not dropped."""
        try:
            item = json.loads(text)
            return LogLine(ts=item["ts"], service=query.service, environment=query.environment,
                           instance=str(item.get("instance") or "?"),
                           level=LogLevel.parse(str(item.get("level") or "")),
                           message=str(item["message"]))
        except (ValueError, KeyError, TypeError):  # pydantic's ValidationError is a ValueError
            return LogLine(ts=self.context.clock.now(), service=query.service,
                           environment=query.environment, instance="?", message=text)

    # Deploys -----------------------------------------------------------------------------------
    async def deploy_versions(self, service: str, environment: str) -> list[VersionOption]:
        """The versions built by succeeded runs, newest first; the one running now marked."""
        runs = await self.pipeline_runs(PipelineQuery(service=service, limit=50))
        running = {d.environment: d.version for d in await self.deployments()
                   if d.service == service}
        options: dict[str, VersionOption] = {}
        for run in runs:
            if run.status is RunStatus.SUCCEEDED and run.version and run.version not in options:
                options[run.version] = VersionOption(
                    version=run.version, built_at=run.finished_at, commit=run.commit,
                    run_id=run.id, current=running.get(environment) == run.version,
                    environments=tuple(e for e, v in running.items() if v == run.version))
        return list(options.values())

    async def plan_action(self, request: ActionRequest) -> ActionPlan:
        if request.kind is not ActionKind.DEPLOY:
            raise SourceError(f"{self.name} only deploys; it cannot {request.kind.value}")
        service, environment = request.service or "", request.environment or ""
        if not request.version:
            raise SourceError("which version? none was given")
        options = await self.deploy_versions(service, environment)
        target = next((o for o in options if o.version == request.version), None)
        if target is None:
            known = ", ".join(o.version for o in options[:5]) or "none"
            raise SourceNotFound(f"no succeeded build of {service} {request.version}",
                                 hint=f"Versions built: {known}.")
        current = next((d.version for d in await self.deployments()
                        if (d.service, d.environment) == (service, environment)), None)
        return ActionPlan(
            summary=f"Deploy {service} {request.version} to {environment}",
            current_version=current, target_version=request.version,
            running_elsewhere=tuple(e for e in target.environments if e != environment),
            notes=(f"{environment} runs {current} already.",) if current == request.version
            else (), estimated_duration=timedelta(seconds=30))

    async def run_action(self, request: ActionRequest) -> AsyncIterator[ActionEvent]:  # type: ignore[override]
        """Start the deploy, then report on it until it has succeeded or failed.

        ``request.id`` goes with the request: the platform starts one deploy per id, so a request
        sent again (after a timeout that left us not knowing whether it arrived) is harmless. That
        is what makes trying again after a brief server error safe here (``_again``).
        """
        now = self.context.clock.now
        plan = await self.plan_action(request)  # checked again: the platform may have changed
        yield ActionEvent(ts=now(), message=plan.summary)
        body = {"id": request.id, "service": request.service, "environment": request.environment,
                "version": request.version, "actor": request.actor, "reason": request.reason}
        response = await self._again(lambda: self.http.send("POST", "/deploys", json=body,
                                                            what="deploy"))
        deploy = an_object(self.http.read_json(response, what="deploy"), "deploy")
        if response.status_code == 200:
            yield ActionEvent(ts=now(), message=f"deploy {request.id} was started before: "
                                                "following it, not starting it again")
        said = ""
        while True:
            state, message = str(deploy.get("state")), str(deploy.get("message") or "")
            done, total = _count(deploy.get("done")), _count(deploy.get("total"))
            if state in ("succeeded", "failed"):
                ok = state == "succeeded"
                yield ActionEvent(ts=now(), state=ActionState.SUCCEEDED if ok
                                  else ActionState.FAILED, level="info" if ok else "error",
                                  message=message or state, done=done, total=total)
                return
            if message != said:
                said = message
                yield ActionEvent(ts=now(), message=message or state, done=done, total=total)
            await asyncio.sleep(self.config.poll_interval)
            deploy = an_object(await self._again(lambda: self.http.get_json(
                f"/deploys/{quote(request.id, safe='')}", what="deploy")), "deploy")

    async def _again(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call()``, tried again after a brief server error (a 5xx, a dropped connection, no
        answer in time). Only for calls that are safe to repeat: a read, or the deploy request
        (the platform starts one deploy per id). Anything else fails the action at once."""
        for attempt in range(RETRIES):
            try:
                return await call()
            except SourceUnavailable:
                await asyncio.sleep(self.config.poll_interval * (attempt + 1))
        return await call()


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
