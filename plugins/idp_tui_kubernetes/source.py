"""The ``kubernetes`` source: environments, workloads, pod logs and rollouts on real clusters.

Each configured environment is a namespace in a kubeconfig context; several clusters can be used at
once. Deployments and StatefulSets are kept current by watches (see ``informer.py``) and matched to
services by label. The official client is imported when the source starts, never at the
dashboard's start-up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field, create_model

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
    LogLine,
    LogQuery,
    PartialAnswer,
    PlannedResource,
    Resource,
    Source,
    SourceAuthError,
    SourceContext,
    SourceError,
    SourceNotFound,
    Template,
    VersionOption,
)

from . import objects as o
from .cluster import Cluster
from .config import DNS_LABEL, KubernetesConfig
from .informer import Informer
from .logs import ContainerLog, LogMux

log = logging.getLogger("idp_tui.kubernetes")

#: Informer parameters of each kind of workload: (API group, noun of the client's methods,
#: resource name as RBAC spells it, kind).
WORKLOAD_KINDS = {
    "deployments": ("apps", "deployment", "deployments.apps", "Deployment"),
    "statefulsets": ("apps", "stateful_set", "statefulsets.apps", "StatefulSet"),
}
PREVIEW_TEMPLATE = "preview-namespace"
#: Seconds the first answer waits for the watches to have listed everything.
FIRST_SYNC_WAIT = 10.0
#: Seconds to set a stopped rollout back.
SET_BACK_TIMEOUT = 15.0
#: Seconds between two looks for expired preview namespaces.
EXPIRY_CHECK_EVERY = 60.0


class _Where:
    """One namespace of one cluster that the source watches."""

    def __init__(self, environment: str, cluster: Cluster, namespace: str, *,
                 preview: bool = False) -> None:
        self.environment = environment
        self.cluster = cluster
        self.namespace = namespace
        self.preview = preview
        self.workloads: list[Informer[o.Workload]] = []
        self.pods: Informer[o.Pod] | None = None


class KubernetesSource(Source):
    """Environments, workloads, multi-pod logs, deploys and preview namespaces on Kubernetes."""

    Config = KubernetesConfig
    capabilities = frozenset({Capability.ENVIRONMENTS, Capability.LOGS, Capability.ACTIONS})
    actions = frozenset({ActionKind.DEPLOY, ActionKind.ROLLBACK, ActionKind.SCALE,
                         ActionKind.RESTART})
    description = "Kubernetes clusters: workloads by label, live pod logs, rollouts and previews"

    config: KubernetesConfig

    def __init__(self, config: KubernetesConfig, context: SourceContext) -> None:  # type: ignore[override]
        super().__init__(config, context)
        if config.previews is not None:
            self.capabilities = self.capabilities | {Capability.PROVISION}  # type: ignore[misc]
        self._clusters: dict[str | None, Cluster] = {}
        self._static: dict[str, _Where] = {}
        self._previews: dict[str, _Where] = {}
        self._namespaces: Informer[o.Namespace] | None = None
        self._started = False
        self._last_expiry_check: datetime | None = None
        self._params_model = _preview_params(config) if config.previews else None

    # Life cycle ----------------------------------------------------------------------------------

    def cluster(self, context: str | None) -> Cluster:
        cluster = self._clusters.get(context)
        if cluster is None:
            cluster = Cluster(context, kubeconfig=self.config.kubeconfig,
                              in_cluster=self.config.in_cluster,
                              request_timeout=self.config.request_timeout)
            self._clusters[context] = cluster
        return cluster

    async def start(self) -> None:
        for env, target in self.config.environments.items():
            where = _Where(env, self.cluster(target.context), target.namespace)
            self._static[env] = where
        await asyncio.to_thread(self._start_watches)
        self._started = True

    def _start_watches(self) -> None:
        for where in self._static.values():
            self._watch_workloads(where)
        previews = self.config.previews
        if previews is not None:
            cluster = self.cluster(previews.context)
            self._namespaces = self._informer(
                cluster, group="core", noun="namespace", resource="namespaces", namespace=None,
                project=o.project_namespace, label_selector=o.PREVIEW_LABEL,
                on_change=self._namespaces_changed)

    def _informer(self, cluster: Cluster, **kwargs: Any) -> Informer[Any]:
        try:
            cluster.connect()
        except SourceError as exc:
            informer: Informer[Any] = Informer(cluster, watch_timeout=self.config.watch_timeout,
                                               **kwargs)
            informer.error = exc  # never started: the error is what there is to say
            return informer
        return Informer(cluster, watch_timeout=self.config.watch_timeout, **kwargs).start()

    def _watch_workloads(self, where: _Where) -> None:
        for kind in self.config.workloads:
            group, noun, resource, kind_name = WORKLOAD_KINDS[kind]
            where.workloads.append(self._informer(
                where.cluster, group=group, noun=noun, resource=resource,
                namespace=where.namespace,
                project=lambda obj, k=kind_name: o.project_workload(k, obj),
                on_change=self._workloads_changed, precheck=self._namespace_check(where)))

    def _namespace_check(self, where: _Where) -> Any:
        """A missing namespace lists as empty: say so instead (when namespaces may be read)."""
        def check() -> None:
            try:
                where.cluster.read_json(
                    "get", "namespaces", None,
                    lambda c: c.api("core").read_namespace(where.namespace, _preload_content=False,
                                                           _request_timeout=c.request_timeout),
                    name=where.namespace)
            except SourceNotFound:
                raise SourceNotFound(
                    f"namespace {where.namespace} of environment {where.environment} not found "
                    f"({where.cluster.label})",
                    hint=f"Check the namespace of {where.environment} in [sources.{self.name}"
                         ".environments], or create it.") from None
            except SourceAuthError:
                pass  # not allowed to read namespaces: listing will say what there is to say

        return check

    def _workloads_changed(self) -> None:
        self.context.changed("environments")

    def _namespaces_changed(self) -> None:
        self.context.changed("environments")
        self.context.changed("resources")

    async def close(self) -> None:
        informers = list(self._all_informers())
        for informer in informers:
            informer.stop()
        for informer in informers:
            await asyncio.to_thread(informer.join, 2.0)
        for cluster in self._clusters.values():
            cluster.close()

    def _all_informers(self) -> list[Informer[Any]]:
        out: list[Informer[Any]] = []
        for where in [*self._static.values(), *self._previews.values()]:
            out.extend(where.workloads)
            if where.pods is not None:
                out.append(where.pods)
        if self._namespaces is not None:
            out.append(self._namespaces)
        return out

    # Where things are ----------------------------------------------------------------------------

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
                  if not ns.deleting and not _expired(ns, now)}
        for name in list(self._previews):
            if name not in wanted:
                where = self._previews.pop(name)
                for informer in [*where.workloads, *([where.pods] if where.pods else [])]:
                    informer.stop()
        for name in sorted(wanted - set(self._previews)):
            where = _Where(name, cluster, name, preview=True)
            self._watch_workloads(where)
            self._previews[name] = where

    def _where(self, environment: str) -> _Where:
        where = self._static.get(environment) or self._previews.get(environment)
        if where is None:
            raise SourceNotFound(f"no environment {environment!r} in {self.name}")
        return where

    async def _synced(self, informers: list[Informer[Any]], wait: float = FIRST_SYNC_WAIT) -> None:
        """Wait (a little) for informers that have not listed yet and have no error to show."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while loop.time() < deadline:
            if all(i.synced.is_set() or i.error is not None for i in informers):
                return
            await asyncio.sleep(0.02)

    # Environments --------------------------------------------------------------------------------

    async def environments(self) -> list[Environment]:
        out = [Environment(name=env, order=i, protected=self.config.protected(env))
               for i, env in enumerate(self.config.environments)]
        if self._namespaces is not None:
            await self._synced([self._namespaces])
            await self._expire()
            if self._namespaces.error is not None and not self._namespaces.synced.is_set():
                raise self._namespaces.error
            now = self.context.clock.now()
            base = len(out)
            for i, ns in enumerate(self._preview_namespaces()):
                if ns.deleting or _expired(ns, now):
                    continue
                out.append(Environment(name=ns.name, order=base + i, kind=EnvironmentKind.PREVIEW,
                                       expires_at=ns.expires_at))
        return out

    async def deployments(self) -> list[Deployment]:
        self._sync_previews()
        places = [*self._static.values(), *self._previews.values()]
        await self._synced([i for w in places for i in w.workloads])
        out: list[Deployment] = []
        failures: list[SourceError] = []
        for where in places:
            error = next((i.error for i in where.workloads if i.error is not None), None)
            if error is not None:
                failures.append(error)
            for informer in where.workloads:
                for workload in informer.items():
                    dep = self._deployment(where, workload, error)
                    if dep is not None:
                        out.append(dep)
        if failures:
            if not out and len(failures) >= len(places):
                raise failures[0]
            error = failures[0]
            if len(failures) > 1:
                error = type(error)(f"{error.message} (and {len(failures) - 1} more "
                                    "environment(s) failing)", hint=error.hint)
            raise PartialAnswer(out, error)  # the other environments are current
        return out

    def _version(self, workload: o.Workload, service: str) -> str:
        """The version a workload runs: its version label, else its main container's tag."""
        container = o.main_container(workload, self.config.container, service)
        return o.version_of(workload.labels, workload.template_labels, container,
                            self.config.version_label)

    def _running(self, service: str) -> dict[str, list[str]]:
        """Version → the environments that run it, for ``service``."""
        running: dict[str, list[str]] = {}
        for env in [*self._static, *self._previews]:
            for workload in self._workloads(service, env):
                version = self._version(workload, service)
                if version:
                    running.setdefault(version, []).append(env)
        return running

    def _deployment(self, where: _Where, workload: o.Workload,
                    error: SourceError | None) -> Deployment | None:
        service = o.service_of(workload, self.config.service_labels)
        if service is None:
            return None
        version = self._version(workload, service)
        health, message = o.health_of(workload)
        if error is not None:  # the watch is down: what is shown may be out of date
            health, message = Health.UNKNOWN, f"not current: {error.message}"
        return Deployment(service=service, environment=where.environment, version=version or "?",
                          replicas_ready=workload.ready, replicas_desired=workload.replicas,
                          health=health, updated_at=o.updated_at(workload),
                          message=f"{workload.kind.lower()}/{workload.name}: {message}"
                          if message else f"{workload.kind.lower()}/{workload.name}")

    def _workloads(self, service: str, environment: str) -> list[o.Workload]:
        where = self._where(environment)
        return [w for informer in where.workloads for w in informer.items()
                if o.service_of(w, self.config.service_labels) == service]

    async def _workload(self, service: str, environment: str) -> tuple[_Where, o.Workload]:
        where = self._where(environment)
        await self._synced(where.workloads)
        found = sorted(self._workloads(service, environment), key=lambda w: w.key)
        if not found:
            error = next((i.error for i in where.workloads if i.error is not None), None)
            if error is not None:
                raise error
            raise SourceNotFound(
                f"no Deployment or StatefulSet of {service} in namespace {where.namespace} "
                f"({where.cluster.label})",
                hint=f"Workloads are matched by the labels {', '.join(self.config.service_labels)}.")
        return where, found[0]

    # Logs ----------------------------------------------------------------------------------------

    async def logs(self, query: LogQuery) -> AsyncIterator[list[LogLine]]:  # type: ignore[override]
        where, _first = await self._workload(query.service, query.environment)
        if where.pods is None:
            where.pods = await asyncio.to_thread(
                self._informer, where.cluster, group="core", noun="pod", resource="pods",
                namespace=where.namespace, project=o.project_pod)
        pods = where.pods
        await self._synced([pods])
        if pods.error is not None and not pods.synced.is_set():
            raise pods.error
        mux = LogMux(asyncio.get_running_loop())
        followers: dict[tuple[str, str, str], ContainerLog] = {}
        since = int(query.since.total_seconds()) if query.since is not None else None
        first = True

        def reconcile() -> None:
            nonlocal first
            wanted = self._log_targets(where, query.service)
            for key, (pod, container, instance) in wanted.items():
                if key in followers:
                    continue
                followers[key] = ContainerLog(
                    where.cluster, pod, container, instance=instance, service=query.service,
                    environment=query.environment, mux=mux, clock=self.context.clock,
                    follow=query.follow, tail=query.tail if first else None,
                    since_seconds=since if first else None,
                    alive=lambda p=pod.name, c=container: self._pod_alive(where, query.service,
                                                                          p, c)).start()
            for key in [k for k in followers if k not in wanted]:
                followers.pop(key).stop()  # the pod is gone (or no longer the service's)
            first = False

        reconcile()
        listener = mux.wake
        if query.follow:
            pods.add_listener(listener)
        try:
            if not followers and not query.follow:
                return
            while True:
                if not query.follow and all(f.done.is_set() for f in followers.values()):
                    lines = mux.take()
                    if lines:
                        yield lines
                    return
                try:
                    await asyncio.wait_for(mux.wait(), 0.5 if not query.follow else None)
                except TimeoutError:
                    continue
                lines = mux.take()
                if query.follow:
                    reconcile()
                if lines:
                    yield lines
        finally:
            pods.remove_listener(listener)
            for follower in followers.values():
                follower.stop()

    def _log_targets(self, where: _Where, service: str) -> dict[tuple[str, str, str],
                                                                 tuple[o.Pod, str, str]]:
        """(pod uid, pod, container) → (pod, container, instance name) for every log to follow."""
        assert where.pods is not None
        workloads = [w for informer in where.workloads for w in informer.items()
                     if o.service_of(w, self.config.service_labels) == service]
        choice = self.config.log_containers
        out: dict[tuple[str, str, str], tuple[o.Pod, str, str]] = {}
        for pod in where.pods.items():
            if pod.deleting and not pod.started:
                continue
            owner = next((w for w in workloads if o.selects(w.selector, pod.labels)), None)
            if owner is None:
                continue
            if choice == "all":
                containers = list(pod.containers)
            elif choice == "main":
                main = o.main_container(owner, self.config.container, service)
                containers = [main.name] if main is not None and main.name in pod.containers \
                    else list(pod.containers[:1])
            else:
                containers = [choice] if choice in pod.containers else []
            for container in containers:
                instance = pod.name if len(containers) == 1 else f"{pod.name}/{container}"
                out[(pod.uid or pod.name, pod.name, container)] = (pod, container, instance)
        return out

    def _pod_alive(self, where: _Where, service: str, pod: str, container: str) -> bool:
        if where.pods is None or where.pods.stopped:
            return False
        current = where.pods.get(pod)
        return current is not None and container in current.containers

    # Actions -------------------------------------------------------------------------------------

    async def _all_synced(self) -> None:
        """Every environment's workloads listed (what runs elsewhere is part of the answer)."""
        await self._synced([i for w in [*self._static.values(), *self._previews.values()]
                            for i in w.workloads])

    async def deploy_versions(self, service: str, environment: str) -> list[VersionOption]:
        await self._all_synced()
        where, workload = await self._workload(service, environment)
        current = self._version(workload, service)
        running = self._running(service)
        options: dict[str, VersionOption] = {}
        if workload.kind == "Deployment":
            for revision in await self._history(where, workload):
                c = o.main_container(revision, self.config.container, service)
                version = o.version_of({}, revision.template_labels, c, self.config.version_label)
                if version and version not in options:
                    options[version] = VersionOption(
                        version=version, built_at=o.parse_time(revision.created),
                        current=version == current, environments=tuple(running.get(version, ())))
        for version, envs in running.items():
            if version not in options:
                options[version] = VersionOption(version=version, current=version == current,
                                                 environments=tuple(envs))
        if current and current not in options:
            options[current] = VersionOption(version=current, current=True,
                                             environments=tuple(running.get(current, ())))
        order = o.newest_first((v.version, v.built_at) for v in options.values())
        return [options[version] for version in order]

    async def _history(self, where: _Where, workload: o.Workload) -> list[o.Revision]:
        """The Deployment's ReplicaSets as revisions, newest first."""
        selector = ",".join(f"{k}={v}" for k, v in sorted(workload.selector.items()))
        data = await asyncio.to_thread(
            where.cluster.read_json, "list", "replicasets.apps", where.namespace,
            lambda c: c.api("apps").list_namespaced_replica_set(
                where.namespace, label_selector=selector or None, _preload_content=False,
                _request_timeout=c.request_timeout))
        revisions = [r for obj in data.get("items") or () if isinstance(obj, dict)
                     for r in [o.project_revision(obj, workload.uid, workload.name)] if r]
        return sorted(revisions, key=lambda r: r.number, reverse=True)

    async def plan_action(self, request: ActionRequest) -> ActionPlan:
        if request.kind is ActionKind.PROVISION:
            return self._plan_preview(request)
        plan, _change = await self._prepare(request)
        return plan

    async def _prepare(self, request: ActionRequest) -> tuple[ActionPlan, _Change]:
        service, environment = request.service or "", request.environment or ""
        await self._all_synced()
        where, workload = await self._workload(service, environment)
        container = o.main_container(workload, self.config.container, service)
        current = self._version(workload, service)
        what = f"{workload.kind.lower()}/{workload.name} in {where.namespace} ({where.cluster.label})"
        kind = request.kind
        if kind in (ActionKind.DEPLOY, ActionKind.ROLLBACK):
            if container is None:
                raise SourceError(f"{what} has no container named "
                                  f"{self.config.container or service!r}")
            target = request.version
            notes: list[str] = []
            if kind is ActionKind.ROLLBACK and not target:
                target = await self._previous_version(where, workload, container.name, current)
            if not target:
                raise SourceError("which version? none was given")
            try:
                image = o.image_for(container.image, target)
            except ValueError as exc:
                raise SourceError(str(exc)) from None
            target_version = o.image_version(image) if ("/" in target or ":" in target
                                                         or "@" in target) else target
            if image == container.image:
                notes.append(f"{what} already runs {image}: its pods will not change.")
            else:
                notes.append(f"Stopping it before the rollout ends sets the image back to "
                             f"{container.image}.")
            running = tuple(sorted(env for env in self._running(service).get(target_version, [])
                                   if env != environment))
            verb = "Roll back" if kind is ActionKind.ROLLBACK else "Deploy"
            plan = ActionPlan(
                summary=f"{verb} {service} in {environment} to {target_version}: set the image of "
                        f"container {container.name} of {what} to {image}",
                current_version=current or None, target_version=target_version,
                running_elsewhere=running, notes=tuple(notes), cancellable=True,
                estimated_duration=timedelta(seconds=workload.progress_deadline or 120))
            return plan, _Change(where, workload, kind, container=container.name, image=image,
                                 version=target_version)
        if kind is ActionKind.SCALE:
            if request.replicas is None:
                raise SourceError("how many replicas? none was given")
            plan = ActionPlan(summary=f"Scale {what} from {workload.replicas} to "
                                      f"{request.replicas} replicas",
                              current_version=current or None, target_version=current or None)
            return plan, _Change(where, workload, kind, replicas=request.replicas)
        if kind is ActionKind.RESTART:
            plan = ActionPlan(summary=f"Restart every pod of {what}, a few at a time "
                                      "(kubectl rollout restart)",
                              current_version=current or None, target_version=current or None)
            return plan, _Change(where, workload, kind)
        raise SourceError(f"{self.name} cannot {kind.value}")

    async def _previous_version(self, where: _Where, workload: o.Workload, container: str,
                                current: str) -> str:
        if workload.kind != "Deployment":
            raise SourceError(f"rollback needs a version for a {workload.kind}: pick one")
        history = await self._history(where, workload)
        for revision in history:
            c = next((c for c in revision.containers if c.name == container), None)
            version = o.version_of({}, revision.template_labels, c, self.config.version_label)
            if version and version != current:
                return version
        raise SourceError(f"no earlier revision of deployment/{workload.name} to roll back to",
                          hint="Kubernetes keeps revisionHistoryLimit ReplicaSets; pick a version.")

    async def run_action(self, request: ActionRequest) -> AsyncIterator[ActionEvent]:  # type: ignore[override]
        if request.kind is ActionKind.PROVISION:
            async for event in self._run_preview(request):
                yield event
            return
        plan, change = await self._prepare(request)
        where, workload = change.where, change.workload
        now = self.context.clock.now
        fresh = await asyncio.to_thread(self._read_workload, where, workload)
        if fresh.annotations.get(o.ACTION_ID) == request.id:
            yield ActionEvent(ts=now(), state=ActionState.SUCCEEDED,
                              message=f"action {request.id} was already applied to "
                                      f"{workload.kind.lower()}/{workload.name}; nothing done again")
            return
        body = self._patch_body(request, change)
        undo = self._undo_body(request, change, fresh)
        yield ActionEvent(ts=now(), message=plan.summary)
        patched = await asyncio.to_thread(self._patch, where, workload, body)
        generation = patched.generation or None
        yield ActionEvent(ts=now(), message=f"{workload.kind.lower()}/{workload.name} patched; "
                                            "waiting for the rollout")
        try:
            async for event in self._follow_rollout(where, workload, generation, request):
                yield event
        except asyncio.CancelledError:
            # Stopped by the user (or out of time) part-way: what ran before is set back.
            if undo is not None:
                await self._set_back(where, workload, undo)
            raise

    def _undo_body(self, request: ActionRequest, change: _Change,
                   fresh: o.Workload) -> dict[str, Any] | None:
        """The patch that sets a deploy's or rollback's workload back as it is now (``fresh``)."""
        if change.kind not in (ActionKind.DEPLOY, ActionKind.ROLLBACK):
            return None
        container = next((c for c in fresh.containers if c.name == change.container), None)
        if container is None or container.image == change.image:
            return None
        who = request.actor or "someone"
        cause = (f"idp-tui {request.kind.value} {change.version} stopped by {who}: set back to "
                 f"{container.image}")
        # Another action id: the same request sent again is not taken as applied.
        meta: dict[str, Any] = {"annotations": {o.ACTION_ID: f"{request.id} (stopped)",
                                                o.CHANGE_CAUSE: cause[:1000]}}
        template: dict[str, Any] = {"spec": {"containers": [
            {"name": container.name, "image": container.image}]}}
        label = self.config.version_label
        if label in fresh.template_labels and label not in fresh.selector:
            template["metadata"] = {"labels": {label: fresh.template_labels[label]}}
        if label in fresh.labels:
            meta["labels"] = {label: fresh.labels[label]}
        return {"metadata": meta, "spec": {"template": template}}

    async def _set_back(self, where: _Where, workload: o.Workload, undo: dict[str, Any]) -> None:
        what = f"{workload.kind.lower()}/{workload.name} in {where.namespace}"
        try:
            await asyncio.wait_for(asyncio.to_thread(self._patch, where, workload, undo),
                                   SET_BACK_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - said in the log; the action ends cancelled
            log.warning("%s: a stopped rollout was not set back: %s", what,
                        getattr(exc, "message", None) or exc)
            return
        log.info("%s: stopped rollout set back to %s", what,
                 undo["spec"]["template"]["spec"]["containers"][0]["image"])

    def _patch_body(self, request: ActionRequest, change: _Change) -> dict[str, Any]:
        workload = change.workload
        who = request.actor or "someone"
        cause = f"idp-tui {request.kind.value}"
        if change.version:
            cause += f" {change.version}"
        cause += f" by {who}" + (f": {request.reason}" if request.reason else "")
        meta: dict[str, Any] = {"annotations": {o.ACTION_ID: request.id,
                                                o.CHANGE_CAUSE: cause[:1000]}}
        body: dict[str, Any] = {"metadata": meta}
        if change.kind in (ActionKind.DEPLOY, ActionKind.ROLLBACK):
            template: dict[str, Any] = {"spec": {"containers": [
                {"name": change.container, "image": change.image}]}}
            label = self.config.version_label
            in_template = label in workload.template_labels and label not in workload.selector
            if in_template:
                template["metadata"] = {"labels": {label: change.version}}
            if label in workload.labels:
                meta["labels"] = {label: change.version}
            body["spec"] = {"template": template}
        elif change.kind is ActionKind.SCALE:
            body["spec"] = {"replicas": change.replicas}
        elif change.kind is ActionKind.RESTART:
            body["spec"] = {"template": {"metadata": {"annotations": {
                o.RESTARTED_AT: o.format_time(self.context.clock.now())}}}}
        return body

    def _read_workload(self, where: _Where, workload: o.Workload) -> o.Workload:
        method = "read_namespaced_deployment" if workload.kind == "Deployment" \
            else "read_namespaced_stateful_set"
        data = where.cluster.read_json(
            "get", workload.resource, where.namespace,
            lambda c: getattr(c.api("apps"), method)(workload.name, where.namespace,
                                                     _preload_content=False,
                                                     _request_timeout=c.request_timeout),
            name=workload.name)
        return o.project_workload(workload.kind, data)

    def _patch(self, where: _Where, workload: o.Workload, body: dict[str, Any]) -> o.Workload:
        method = "patch_namespaced_deployment" if workload.kind == "Deployment" \
            else "patch_namespaced_stateful_set"
        data = where.cluster.read_json(
            "patch", workload.resource, where.namespace,
            lambda c: getattr(c.api("apps"), method)(workload.name, where.namespace, body,
                                                     field_manager="idp-tui",
                                                     _preload_content=False,
                                                     _request_timeout=c.request_timeout),
            name=workload.name)
        return o.project_workload(workload.kind, data)

    async def _follow_rollout(self, where: _Where, workload: o.Workload, generation: int | None,
                              request: ActionRequest) -> AsyncIterator[ActionEvent]:
        """Events from the workload's status (as the watch sees it) until it is rolled out."""
        informer = next(i for i in where.workloads
                        if i.get(workload.name) is not None
                        and i.get(workload.name).kind == workload.kind)  # type: ignore[union-attr]
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()

        def listener() -> None:
            loop.call_soon_threadsafe(changed.set)

        informer.add_listener(listener)
        now = self.context.clock.now
        deadline = loop.time() + self.config.rollout_timeout
        said = ""
        try:
            while True:
                current = informer.get(workload.name)
                if current is None:
                    yield ActionEvent(ts=now(), state=ActionState.FAILED, level="error",
                                      message=f"{workload.kind.lower()}/{workload.name} was "
                                              "deleted during the rollout")
                    return
                if request.kind is ActionKind.SCALE and request.replicas is not None \
                        and current.replicas != request.replicas:
                    pass  # the watch has not seen our change yet
                elif o.rollout_done(current, generation):
                    yield ActionEvent(ts=now(), state=ActionState.SUCCEEDED,
                                      done=current.ready, total=current.replicas,
                                      message=f"{workload.kind.lower()}/{workload.name}: "
                                              f"{current.ready}/{current.replicas} ready, "
                                              "rolled out")
                    return
                progressing = o.condition(current, "Progressing")
                if progressing is not None and progressing.status == "False" \
                        and progressing.reason == "ProgressDeadlineExceeded" \
                        and (not generation or current.observed_generation >= generation):
                    why = progressing.message or "the progress deadline was exceeded"
                    yield ActionEvent(ts=now(), state=ActionState.FAILED, level="error",
                                      message=f"rollout stuck: {why}")
                    return
                message = o.rollout_message(current, generation)
                if message != said:
                    said = message
                    seen = not generation or current.observed_generation >= generation
                    yield ActionEvent(ts=now(), message=message,
                                      done=current.updated if seen else None,
                                      total=current.replicas if seen else None)
                remaining = deadline - loop.time()
                if remaining <= 0:
                    yield ActionEvent(ts=now(), state=ActionState.FAILED, level="error",
                                      message=f"not rolled out after "
                                              f"{self.config.rollout_timeout:.0f} s: {said}")
                    return
                changed.clear()
                try:
                    await asyncio.wait_for(changed.wait(), min(remaining, 5.0))
                except TimeoutError:
                    pass
        finally:
            informer.remove_listener(listener)

    # Previews ------------------------------------------------------------------------------------

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
            status = "deleting" if ns.deleting else "expired" if _expired(ns, now) else "active"
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
            if ns.deleting or not _expired(ns, now):
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


class _Change:
    """What an action will change, worked out by the plan and applied by the run."""

    def __init__(self, where: _Where, workload: o.Workload, kind: ActionKind, *,
                 container: str = "", image: str = "", version: str = "",
                 replicas: int | None = None) -> None:
        self.where = where
        self.workload = workload
        self.kind = kind
        self.container = container
        self.image = image
        self.version = version
        self.replicas = replicas


def _expired(ns: o.Namespace, now: datetime) -> bool:
    expires = ns.expires_at
    return expires is not None and expires <= now


def _preview_params(config: KubernetesConfig) -> type[BaseModel]:
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

