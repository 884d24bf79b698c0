"""The ``kubernetes`` source: environments, workloads, pod logs and rollouts on real clusters.

Each configured environment is a namespace in a kubeconfig context; several clusters can be used at
once. Deployments and StatefulSets are kept current by watches (see ``informer.py``) and matched to
services by label. The official client is imported when the source starts, never at the
dashboard's start-up.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from idp_tui import (
    ActionEvent,
    ActionKind,
    ActionPlan,
    ActionRequest,
    ActionState,
    Capability,
    DeliveryHistory,
    Deployment,
    Environment,
    EnvironmentKind,
    Health,
    HistoryQuery,
    Identity,
    Instances,
    LogLine,
    LogQuery,
    PartialAnswer,
    Source,
    SourceAuthError,
    SourceContext,
    SourceError,
    SourceNotFound,
    VersionOption,
)

from . import objects as o
from . import health, history, identity, pods, rollout
from .cluster import Cluster, Where
from .config import KubernetesConfig
from .informer import Informer
from .logs import ContainerLog, LogMux, project_log_pod
from .previews import PREVIEW_KINDS, PreviewNamespaces, expired, preview_params
from .rollout import Change
from .stuck import StatefulSetRollouts

#: Seconds closing the source waits, in all, for its watch threads to end.
CLOSE_WAIT = 2.0

log = logging.getLogger("idp_tui.kubernetes")

#: Informer parameters of each kind of workload: (API group, noun of the client's methods,
#: resource name as RBAC spells it, kind).
WORKLOAD_KINDS = {
    "deployments": ("apps", "deployment", "deployments.apps", "Deployment"),
    "statefulsets": ("apps", "stateful_set", "statefulsets.apps", "StatefulSet"),
}
#: Seconds the first answer waits for the watches to have listed everything.
FIRST_SYNC_WAIT = 10.0


class KubernetesSource(PreviewNamespaces, Source):
    """Environments, workloads, multi-pod logs, deploys and preview namespaces on Kubernetes.

    Preview namespaces are in ``previews.py``, patching and following a rollout in
    ``rollout.py``, following the pods' logs in ``logs.py``.
    """

    Config = KubernetesConfig
    capabilities = frozenset({Capability.ENVIRONMENTS, Capability.LOGS, Capability.ACTIONS,
                              Capability.INSTANCES, Capability.DELIVERY})
    actions = frozenset({ActionKind.DEPLOY, ActionKind.ROLLBACK, ActionKind.SCALE,
                         ActionKind.RESTART, ActionKind.RESTART_INSTANCE})
    description = "Kubernetes clusters: workloads by label, live pod logs, rollouts and previews"

    config: KubernetesConfig

    def __init__(self, config: KubernetesConfig, context: SourceContext) -> None:  # type: ignore[override]
        super().__init__(config, context)
        if config.previews is not None:
            self.capabilities = self.capabilities | {Capability.PROVISION}  # type: ignore[misc]
            self.actions = self.actions | (PREVIEW_KINDS - {ActionKind.PROVISION})  # type: ignore[misc]
        self._clusters: dict[str | None, Cluster] = {}
        self._static: dict[str, Where] = {}
        self._previews: dict[str, Where] = {}
        self._namespaces: Informer[o.Namespace] | None = None
        #: The pod watches of the log streams (stopped with their stream, joined on close).
        self._log_watches: list[Informer[Any]] = []
        self._started = False
        self._last_expiry_check: datetime | None = None
        self._params_model = preview_params(config) if config.previews else None
        self._rollouts = StatefulSetRollouts()  # (stuck StatefulSets)
        self._parts: set[str] = set()  # the parts said in the health view

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
            where = Where(env, self.cluster(target.context), target.namespace)
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

    def _watch_workloads(self, where: Where) -> None:
        for kind in self.config.workloads:
            group, noun, resource, kind_name = WORKLOAD_KINDS[kind]
            where.workloads.append(self._informer(
                where.cluster, group=group, noun=noun, resource=resource,
                namespace=where.namespace,
                project=lambda obj, k=kind_name: o.project_workload(k, obj),
                on_change=self._workloads_changed, precheck=self._namespace_check(where)))
        if "deployments" in self.config.workloads:
            # Which revision has the ready pods: the version that serves during a rollout.
            where.replicasets = self._informer(
                where.cluster, group="apps", noun="replica_set", resource="replicasets.apps",
                namespace=where.namespace, project=o.project_replicaset,
                on_change=self._workloads_changed)

    def _namespace_check(self, where: Where) -> Any:
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

    async def whoami(self) -> Identity:
        """The user each environment's cluster says the kubeconfig's credentials belong to (a
        SelfSubjectReview), asked of each cluster once."""
        clusters = {target.context: self.cluster(target.context)
                    for target in self.config.environments.values()}
        answers = await asyncio.gather(*(asyncio.to_thread(identity.review, cluster)
                                         for cluster in clusters.values()))
        return identity.identity(list(answers))

    async def retry_now(self) -> None:
        """The health view's "retry now": the failing watches try again at once, not after
        their pause."""
        await health.recheck(self._all_informers())

    def _workloads_changed(self) -> None:
        health.report(self.context, [*self._static.values(), *self._previews.values()], self._parts)
        self.context.changed("environments")

    def _namespaces_changed(self) -> None:
        self.context.changed("environments")
        self.context.changed("resources")

    async def close(self) -> None:
        informers = list(self._all_informers())
        for informer in informers:
            informer.stop()
        # A stopped watch ends at once; a thread still connecting to an unreachable cluster is
        # left behind (it is a daemon): closing waits CLOSE_WAIT seconds in all, not per watch.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CLOSE_WAIT
        for informer in informers:
            await asyncio.to_thread(informer.join, max(0.0, deadline - loop.time()))
        for cluster in self._clusters.values():
            cluster.close()

    def _all_informers(self) -> list[Informer[Any]]:
        out: list[Informer[Any]] = []
        for where in [*self._static.values(), *self._previews.values()]:
            out.extend(where.informers())
        if self._namespaces is not None:
            out.append(self._namespaces)
        out.extend(self._log_watches)
        return out

    # Where things are ----------------------------------------------------------------------------

    def _where(self, environment: str) -> Where:
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
                if ns.deleting or expired(ns, now):
                    continue
                out.append(Environment(name=ns.name, order=base + i, kind=EnvironmentKind.PREVIEW,
                                       expires_at=ns.expires_at))
        return out

    async def deployments(self) -> list[Deployment]:
        self._sync_previews()
        places = [*self._static.values(), *self._previews.values()]
        await health.recheck([i for w in places for i in w.informers()])  # back since?
        await self._synced([i for w in places
                            for i in [*w.workloads, *([w.replicasets] if w.replicasets else [])]])
        health.report(self.context, places, self._parts)
        out: list[Deployment] = []
        failures: list[SourceError] = []
        for where in places:
            error = next((i.error for i in where.workloads if i.error is not None), None)
            if error is not None:
                failures.append(error)
            if error is None:
                await self._read_controller_revisions(where)
            stuck = await self._rollouts.stuck(where, self.context.clock.now())
            revisions = where.revisions_by_owner()  # (once: thousands of workloads)
            for informer in where.workloads:
                for workload in informer.items():
                    dep = self._deployment(where, workload, error,
                                           revisions.get(workload.name, []),
                                           stuck.get(workload.key))
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

    def _revision_version(self, revision: o.Revision, service: str) -> str:
        """The version a revision (a ReplicaSet, a ControllerRevision) runs."""
        container = o.main_container(revision, self.config.container, service)
        return o.version_of({}, revision.template_labels, container, self.config.version_label)

    def _serving(self, where: Where, workload: o.Workload, service: str,
                 revisions: list[o.Revision] | None = None) -> tuple[str, str, int]:
        """The version that serves, the version the workload asks for, and how many ready pods
        run the one that serves. A Deployment: what its ReplicaSet with the most ready pods runs;
        a StatefulSet part-way through a rollout: its current revision while most pods are at it."""
        target = self._version(workload, service)
        if workload.kind != "Deployment":
            old = where.controller_revisions.get(workload.current_revision) \
                if workload.update_revision and workload.current_revision \
                and workload.current_revision != workload.update_revision else None
            if old is not None and 0 < workload.current_replicas \
                    and workload.current_replicas >= workload.updated:
                version = self._revision_version(old, service) or target
                return version, target, min(workload.current_replicas, workload.ready)
            return target, target, workload.ready
        if revisions is None:
            revisions = where.revisions_by_owner().get(workload.name, [])
        owned = [r for r in revisions if r.owned_by(workload)]
        newest = workload.annotations.get(o.REVISION) or \
            str(max((r.number for r in owned), default=0))
        ready = o.serving(workload, owned)
        if not ready or str(ready[0].number) == newest:
            return target, target, workload.ready
        return self._revision_version(ready[0], service) or target, target, ready[0].ready

    async def _read_controller_revisions(self, where: Where) -> None:
        """Read the ControllerRevisions whose pods still serve in a StatefulSet's rollout (once
        each: a ControllerRevision never changes)."""
        wanted = {name for informer in where.workloads for w in informer.items()
                  if w.kind == "StatefulSet" and w.current_revision and w.update_revision
                  and w.current_revision != w.update_revision
                  for name in (w.current_revision, w.update_revision)}
        for name in sorted(wanted - set(where.controller_revisions)):
            try:
                data = await asyncio.to_thread(
                    where.cluster.read_json, "get", "controllerrevisions.apps", where.namespace,
                    lambda c, n=name: c.api("apps").read_namespaced_controller_revision(
                        n, where.namespace, _preload_content=False,
                        _request_timeout=c.request_timeout), name=name)
            except (SourceAuthError, SourceNotFound) as exc:
                log.info("%s: the version of the old pods is not known: %s", name, exc.message)
                where.controller_revisions[name] = None  # not asked again
                continue
            except SourceError as exc:  # asked again at the next refresh
                log.info("%s: the version of the old pods is not known: %s", name, exc.message)
                continue
            where.controller_revisions[name] = o.project_controller_revision(data)

    def _running(self, service: str) -> dict[str, list[str]]:
        """Version → the environments that run it (that serve it), for ``service``."""
        running: dict[str, list[str]] = {}
        for env in [*self._static, *self._previews]:
            where = self._where(env)
            for workload in self._workloads(service, env):
                version = self._serving(where, workload, service)[0]
                if version:
                    running.setdefault(version, []).append(env)
        return running

    def _deployment(self, where: Where, workload: o.Workload, error: SourceError | None,
                    revisions: list[o.Revision] | None = None,
                    stuck: str | None = None) -> Deployment | None:
        service = o.service_of(workload, self.config.service_labels)
        if service is None:
            return None
        version, target, serving = self._serving(where, workload, service, revisions)
        health, message = o.health_of(workload)
        rollout_state = o.rollout_state(workload)
        if stuck:  # a StatefulSet's (``stuck.py``)
            health, message, rollout_state = Health.DEGRADED, f"rollout stuck: {stuck}", "stuck"
        if error is not None:  # the watch is down: what is shown may be out of date
            health, message = Health.UNKNOWN, f"not current: {error.message}"
            rollout_state = ""
        parts = [message] if message else []
        if target != version:  # what serves first: the health's reason says why
            parts.insert(0, f"{serving} ready run {version or '?'}, {target or '?'} "
                         + ("is stuck" if rollout_state == "stuck" else "is rolling out"))
        container, rule = o.choose_container(workload, self.config.container, service)
        if container is not None and len(workload.containers) > 1:
            parts.append(f"version from container {container.name} ({rule})")
        what = f"{workload.kind.lower()}/{workload.name}"
        return Deployment(service=service, environment=where.environment, version=version or "?",
                          replicas_ready=workload.ready, replicas_desired=workload.replicas,
                          health=health, updated_at=o.updated_at(workload),
                          message=f"{what}: {'; '.join(parts)}" if parts else what,
                          rollout=rollout_state,  # type: ignore[arg-type]
                          target_version=(target or "?") if target != version else None,
                          **o.resources_of(workload))

    def _workloads(self, service: str, environment: str) -> list[o.Workload]:
        where = self._where(environment)
        return [w for informer in where.workloads for w in informer.items()
                if o.service_of(w, self.config.service_labels) == service]

    async def _workload(self, service: str, environment: str) -> tuple[Where, o.Workload]:
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

    # Instances -----------------------------------------------------------------------------------

    async def instances(self, service: str, environment: str) -> Instances:
        where, workload = await self._workload(service, environment)
        return await asyncio.to_thread(pods.instances, where, workload, service)

    # Logs ----------------------------------------------------------------------------------------

    async def logs(self, query: LogQuery) -> AsyncIterator[list[LogLine]]:  # type: ignore[override]
        where, _first = await self._workload(query.service, query.environment)
        # The service's pods only: asked with each of its workloads' label selectors.
        selectors = sorted({",".join(f"{k}={v}" for k, v in sorted(w.selector.items()))
                            for w in self._service_workloads(where, query.service) if w.selector})
        informers = [await asyncio.to_thread(
            self._informer, where.cluster, group="core", noun="pod", resource="pods",
            namespace=where.namespace, project=project_log_pod, label_selector=selector)
            for selector in selectors]
        self._log_watches = [*(i for i in self._log_watches if i.running), *informers]
        try:
            await self._synced(informers)
            for pods in informers:
                if pods.error is not None and not pods.synced.is_set():
                    raise pods.error
            async for lines in self._follow_logs(where, query, informers):
                yield lines
        finally:
            for pods in informers:
                pods.stop()

    async def _follow_logs(self, where: Where, query: LogQuery,
                           informers: list[Any]) -> AsyncIterator[list[LogLine]]:
        mux = LogMux(asyncio.get_running_loop())
        followers: dict[tuple[str, str, str], ContainerLog] = {}
        since = int(query.since.total_seconds()) if query.since is not None else None
        follow = query.follow and not query.previous
        first = True
        pattern = re.compile(query.instance) if query.instance else None

        def reconcile() -> None:
            nonlocal first
            wanted = self._log_targets(where, query.service, informers,
                                       query.container or self.config.log_containers, pattern,
                                       query.previous)
            for key, (pod, container, instance) in wanted.items():
                if key in followers:
                    continue
                followers[key] = ContainerLog(
                    where.cluster, pod, container, instance=instance, service=query.service,
                    environment=query.environment, mux=mux, clock=self.context.clock,
                    follow=follow, tail=query.tail if first else None,
                    since_seconds=since if first else None, previous=query.previous,
                    alive=lambda p=pod.name, c=container: self._pod_alive(informers, p, c)
                    ).start()
            for key in [k for k in followers if k not in wanted]:
                followers.pop(key).stop()  # the pod is gone (or no longer the service's)
            first = False

        reconcile()
        # Every pod's past lines, merged by time: the last ``tail`` of them in all.
        backfill: list[LogLine] | None = []
        initial = list(followers.values())
        listener = mux.wake
        if follow:
            for pods in informers:
                pods.add_listener(listener)
        try:
            if not followers and not follow:
                return
            while True:
                if backfill is not None and all(f.backfilled.is_set() for f in initial):
                    backfill.extend(mux.take())
                    backfill.sort(key=lambda line: line.ts)  # (stable: a pod's order is kept)
                    lines = backfill[-query.tail:] if query.tail else []
                    backfill = None
                    yield lines  # (even none: the hub merges several sources' past lines)
                if not follow and all(f.done.is_set() for f in followers.values()):
                    lines = mux.take()
                    if lines:
                        yield lines
                    # A log that could not be read is a failure, not an empty log.
                    failed = [f.error for f in followers.values() if f.error is not None]
                    if failed:
                        raise failed[0]
                    return
                try:
                    await asyncio.wait_for(mux.wait(), 0.5 if not follow else None)
                except TimeoutError:
                    continue
                if backfill is not None:
                    if not all(f.backfilled.is_set() for f in initial):
                        backfill.extend(mux.take())
                    continue
                lines = mux.take()
                if follow:
                    reconcile()
                if lines:
                    yield lines
        finally:
            for pods in informers:
                pods.remove_listener(listener)
            for follower in followers.values():
                follower.stop()

    def _service_workloads(self, where: Where, service: str) -> list[o.Workload]:
        return [w for informer in where.workloads for w in informer.items()
                if o.service_of(w, self.config.service_labels) == service]

    def _log_targets(self, where: Where, service: str, informers: list[Any], choice: str,
                     pattern: re.Pattern[str] | None, previous: bool = False
                     ) -> dict[tuple[str, str, str], tuple[o.Pod, str, str]]:
        """(pod uid, pod, container) → (pod, container, instance name) for every log to follow:
        ``choice`` is "all", "main" or a container's name; ``pattern`` picks pods by name;
        ``previous``: only the containers that ran before."""
        workloads = self._service_workloads(where, service)
        out: dict[tuple[str, str, str], tuple[o.Pod, str, str]] = {}
        for pod in {p.name: p for informer in informers for p in informer.items()}.values():
            if pod.deleting and not pod.started:
                continue
            if pattern is not None and pattern.search(pod.name) is None:
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
            if previous:  # only the containers that have a previous run
                containers = [c for c in containers if c in getattr(pod, "restarted", ())]
            for container in containers:
                instance = pod.name if len(containers) == 1 else f"{pod.name}/{container}"
                out[(pod.uid or pod.name, pod.name, container)] = (pod, container, instance)
        return out

    def _pod_alive(self, informers: list[Any], pod: str, container: str) -> bool:
        for pods in informers:
            if pods.stopped:
                return False
            current = pods.get(pod)
            if current is not None and container in current.containers:
                return True
        return False

    # Delivery history ----------------------------------------------------------------------------

    async def delivery_history(self, query: HistoryQuery) -> DeliveryHistory:
        """The rollouts of the configured environments' workloads, from their ReplicaSets and
        ControllerRevisions (``history.py``): one environment that cannot be read is said, the
        others answer."""
        places = [w for env, w in self._static.items()
                  if query.environment is None or env == query.environment]
        await self._synced([i for w in places for i in w.workloads])
        out: list[Any] = []
        failures: list[SourceError] = []
        for where in places:
            try:
                out.extend(await self._where_history(where, query))
            except SourceError as exc:
                failures.append(exc)
        answer = DeliveryHistory(deliveries=tuple(out))
        if failures:
            if not out and len(failures) >= len(places):
                raise failures[0]
            raise PartialAnswer(answer, failures[0])
        return answer

    async def _where_history(self, where: Where, query: HistoryQuery) -> list[Any]:
        error = next((i.error for i in where.workloads
                      if i.error is not None and not i.synced.is_set()), None)
        if error is not None:
            raise error
        out: list[Any] = []
        picked = [(w, s) for w in sorted((w for i in where.workloads for w in i.items()),
                                         key=lambda w: w.key)
                  if (s := o.service_of(w, self.config.service_labels)) is not None
                  and (query.service is None or s == query.service)]
        owned = await asyncio.to_thread(history.read_namespace, where, [w for w, _ in picked])
        for workload, service in picked:
            found = history.entries_of(workload, owned[(workload.kind, workload.name)])
            out.extend(history.in_range(history.workload_history(
                workload, found, service=service, environment=where.environment,
                version=lambda r, s=service: self._revision_version(r, s)), query))
        return out

    # Actions -------------------------------------------------------------------------------------

    async def _all_synced(self) -> None:
        """Every environment's workloads listed (what runs elsewhere is part of the answer)."""
        await self._synced([i for w in [*self._static.values(), *self._previews.values()]
                            for i in w.workloads])

    async def deploy_versions(self, service: str, environment: str) -> list[VersionOption]:
        await self._all_synced()
        where, workload = await self._workload(service, environment)
        current = self._serving(where, workload, service)[0]
        running = self._running(service)
        options: dict[str, VersionOption] = {}
        for revision in await self._history(where, workload):
            version = self._revision_version(revision, service)
            if version and version not in options:
                # A revision is made when its template is first rolled out (a rollback to it
                # reuses it): its time is not when the version was built.
                options[version] = VersionOption(
                    version=version, built_at=o.parse_time(revision.created),
                    time_label="first deployed", current=version == current,
                    environments=tuple(running.get(version, ())))
        for version, envs in running.items():
            if version not in options:
                options[version] = VersionOption(version=version, current=version == current,
                                                 environments=tuple(envs))
        if current and current not in options:
            options[current] = VersionOption(version=current, current=True,
                                             environments=tuple(running.get(current, ())))
        order = o.newest_first((v.version, v.built_at) for v in options.values())
        return [options[version] for version in order]

    async def _history(self, where: Where, workload: o.Workload) -> list[o.Revision]:
        """The workload's revisions, newest first: a Deployment's ReplicaSets, a StatefulSet's
        ControllerRevisions."""
        selector = ",".join(f"{k}={v}" for k, v in sorted(workload.selector.items()))
        if workload.kind != "Deployment":
            data = await asyncio.to_thread(
                where.cluster.read_json, "list", "controllerrevisions.apps", where.namespace,
                lambda c: c.api("apps").list_namespaced_controller_revision(
                    where.namespace, label_selector=selector or None, _preload_content=False,
                    _request_timeout=c.request_timeout))
            revisions = [r for obj in data.get("items") or () if isinstance(obj, dict)
                         for r in [o.project_controller_revision(obj)]
                         if r is not None and r.owned_by(workload)]
            return sorted(revisions, key=lambda r: r.number, reverse=True)
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
        if request.kind in PREVIEW_KINDS:  # a preview namespace: made, extended, deleted
            return self._plan_preview_kind(request)
        if request.kind is ActionKind.RESTART_INSTANCE:
            where, workload = await self._workload(request.service or "",
                                                   request.environment or "")
            current = self._version(workload, request.service or "") or None
            return await asyncio.to_thread(pods.plan, where, workload, request, current)
        plan, _change = await self._prepare(request)
        return plan

    async def _prepare(self, request: ActionRequest) -> tuple[ActionPlan, Change]:
        service, environment = request.service or "", request.environment or ""
        await self._all_synced()
        where, workload = await self._workload(service, environment)
        container = o.main_container(workload, self.config.container, service)
        current = self._version(workload, service)
        serving = self._serving(where, workload, service)[0]
        what = f"{workload.kind.lower()}/{workload.name} in {where.namespace} ({where.cluster.label})"
        kind = request.kind
        if kind in (ActionKind.DEPLOY, ActionKind.ROLLBACK):
            if container is None:
                raise SourceError(f"{what} has no container named "
                                  f"{self.config.container or service!r}")
            target = request.version
            notes: list[str] = []
            history: list[o.Revision] | None = None
            if kind is ActionKind.ROLLBACK:
                history = await self._history(where, workload)
            if kind is ActionKind.ROLLBACK and not target:
                target = self._previous_version(workload, history or [], service, current)
            if not target:
                raise SourceError("which version? none was given")
            known: list[str] = []
            if target.startswith("@"):  # a digest, maybe cut short: the images it may be
                if history is None:
                    history = await self._history(where, workload)
                known = [c.image for r in history for c in r.containers] + [
                    c.image for env in [*self._static, *self._previews]
                    for w in self._workloads(service, env) for c in w.containers]
            try:
                image = o.image_for(container.image, target, known)
            except ValueError as exc:
                raise SourceError(str(exc)) from None
            target_version = o.image_version(image) if ("/" in target or ":" in target
                                                         or "@" in target) else target
            if image == container.image:
                notes.append(f"{what} already runs {image}: its pods will not change.")
            else:
                notes.append(f"Stopping it before the rollout ends sets the image back to "
                             f"{container.image}.")
            if history:
                notes.extend(self._history_notes(workload, history, service, target_version))
            running = tuple(sorted(env for env in self._running(service).get(target_version, [])
                                   if env != environment))
            verb = "Roll back" if kind is ActionKind.ROLLBACK else "Deploy"
            plan = ActionPlan(
                summary=f"{verb} {service} in {environment} to {target_version}: set the image of "
                        f"container {container.name} of {what} to {image}",
                current_version=serving or current or None, target_version=target_version,
                running_elsewhere=running, notes=tuple(notes), cancellable=True,
                estimated_duration=timedelta(seconds=workload.progress_deadline or 120))
            return plan, Change(where, workload, kind, container=container.name, image=image,
                                 version=target_version)
        if kind is ActionKind.SCALE:
            if request.replicas is None:
                raise SourceError("how many replicas? none was given")
            plan = ActionPlan(summary=f"Scale {what} from {workload.replicas} to "
                                      f"{request.replicas} replicas",
                              current_version=current or None, target_version=current or None)
            return plan, Change(where, workload, kind, replicas=request.replicas)
        if kind is ActionKind.RESTART:
            plan = ActionPlan(summary=f"Restart every pod of {what}, a few at a time "
                                      "(kubectl rollout restart)",
                              current_version=current or None, target_version=current or None)
            return plan, Change(where, workload, kind)
        raise SourceError(f"{self.name} cannot {kind.value}")

    def _previous_version(self, workload: o.Workload, history: list[o.Revision],
                          service: str, current: str) -> str:
        """The version of the newest revision before the current one (kubectl rollout undo)."""
        for revision in history:
            version = self._revision_version(revision, service)
            if version and version != current:
                return version
        what = "ReplicaSets" if workload.kind == "Deployment" else "ControllerRevisions"
        raise SourceError(f"no earlier revision of {workload.kind.lower()}/{workload.name} to "
                          "roll back to",
                          hint=f"Kubernetes keeps revisionHistoryLimit {what}; pick a version.")

    def _history_notes(self, workload: o.Workload, history: list[o.Revision], service: str,
                       target: str, limit: int = 10) -> list[str]:
        """The rollout history as ``kubectl rollout history`` gives it, one note a revision."""
        what = f"{workload.kind.lower()}/{workload.name}"
        notes = [f"Rollout history of {what} (newest first; the change-cause of each):"]
        for i, revision in enumerate(history[:limit]):
            version = self._revision_version(revision, service) or "?"
            marks = [m for m, on in (("newest", i == 0), ("rolling back to it", version == target))
                     if on]
            mark = f" ({', '.join(marks)})" if marks else ""
            cause = revision.change_cause or "no change-cause recorded"
            notes.append(f"revision {revision.number}: {version}{mark}: {cause}")
        if len(history) > limit:
            notes.append(f"… and {len(history) - limit} older revision(s)")
        return notes

    async def run_action(self, request: ActionRequest) -> AsyncIterator[ActionEvent]:  # type: ignore[override]
        if request.kind in PREVIEW_KINDS:
            async for event in self._run_preview_kind(request):
                yield event
            return
        if request.kind is ActionKind.RESTART_INSTANCE:
            where, workload = await self._workload(request.service or "",
                                                   request.environment or "")
            async for event in pods.restart(where, workload, request, self.context.clock.now):
                yield event
            return
        plan, change = await self._prepare(request)
        where, workload = change.where, change.workload
        now = self.context.clock.now
        fresh = await asyncio.to_thread(rollout.read_workload, where, workload)
        if fresh.annotations.get(o.ACTION_ID) == request.id:
            yield ActionEvent(ts=now(), state=ActionState.SUCCEEDED,
                              message=f"action {request.id} was already applied to "
                                      f"{workload.kind.lower()}/{workload.name}; nothing done again")
            return
        label = self.config.version_label
        body = rollout.patch_body(request, change, label, self.context.clock.now())
        undo = rollout.undo_body(request, change, fresh, label)
        yield ActionEvent(ts=now(), message=plan.summary)
        patched = await asyncio.to_thread(rollout.patch, where, workload, body)
        generation = patched.generation or None
        yield ActionEvent(ts=now(), message=f"{workload.kind.lower()}/{workload.name} patched; "
                                            "waiting for the rollout")
        try:
            async for event in rollout.follow_rollout(where, workload, generation, request,
                                                      now=now,
                                                      timeout=self.config.rollout_timeout):
                yield event
        except asyncio.CancelledError:
            # Stopped by the user (or out of time) part-way: what ran before is set back.
            if undo is not None:
                await rollout.set_back(where, workload, undo)
            raise
