"""Kubernetes objects as the dashboard keeps them, and what they mean.

Watched objects are kept as small, immutable projections of the JSON the API server sends (a pod's
full JSON is several kilobytes; thousands are watched at once). Everything here is pure: no client,
no I/O, so the interpretation (which service, which version, how healthy) is tested on plain dicts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from idp_tui import Health

#: Annotations of ours, on workloads and namespaces.
ACTION_ID = "idp-tui.dev/action-id"
EXPIRES_AT = "idp-tui.dev/expires-at"
CREATED_BY = "idp-tui.dev/created-by"
PREVIEW_LABEL = "idp-tui.dev/preview"
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "idp-tui"
#: Kubernetes' own.
CHANGE_CAUSE = "kubernetes.io/change-cause"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
REVISION = "deployment.kubernetes.io/revision"
#: The container ``kubectl logs`` and ``kubectl exec`` pick (on the pod template).
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"

#: Containers that are a mesh's proxy or an agent beside the service, never the service itself
#: (by container name, or by the last part of the image's repository).
SIDECARS = frozenset({
    "envoy", "istio-proxy", "proxyv2", "istio-init", "linkerd-proxy", "linkerd-init",
    "consul-dataplane", "consul-connect-envoy-sidecar", "kuma-sidecar", "vault-agent",
    "vault-agent-init", "datadog-agent", "dd-agent", "cloud-sql-proxy", "cloudsql-proxy",
    "fluent-bit", "fluentbit", "fluentd", "filebeat", "promtail", "otel-collector",
    "opentelemetry-collector", "otel-agent", "jaeger-agent", "aws-xray-daemon", "xray-daemon",
    "oauth2-proxy", "nginx-exporter", "statsd-exporter",
})

#: Workload annotations worth keeping (a workload can carry huge ones, e.g. last-applied).
_KEPT_ANNOTATIONS = frozenset({ACTION_ID, CHANGE_CAUSE, REVISION})
_KEPT_NS_ANNOTATIONS = frozenset({ACTION_ID, EXPIRES_AT, CREATED_BY})

#: A tag as registries accept it.
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
#: A whole image reference: [registry[:port]/]path[:tag][@digest].
REFERENCE = re.compile(
    r"^(?:[A-Za-z0-9.-]+(?::\d+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@[A-Za-z0-9]+:[A-Fa-f0-9]{32,})?$")


def _map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if v is not None}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time from the API server (``2026-11-26T10:00:00Z``, maybe with nanoseconds)."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$", text)
    if match:  # Python takes at most microseconds
        frac = (match.group(2) or "")[:7]
        text = match.group(1) + frac + match.group(3)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Projections -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Container:
    name: str
    image: str
    #: ``resources``: CPU in cores, memory in bytes (None where not set).
    cpu_request: float | None = None
    memory_request: float | None = None
    cpu_limit: float | None = None
    memory_limit: float | None = None


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: str
    reason: str = ""
    message: str = ""
    updated: str = ""


@dataclass(frozen=True, slots=True)
class Workload:
    """A Deployment or a StatefulSet."""

    kind: str
    namespace: str
    name: str
    uid: str = ""
    resource_version: str = ""
    created: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    generation: int = 0
    replicas: int = 1
    selector: Mapping[str, str] = field(default_factory=dict)
    template_labels: Mapping[str, str] = field(default_factory=dict)
    template_annotations: Mapping[str, str] = field(default_factory=dict)
    containers: tuple[Container, ...] = ()
    progress_deadline: int | None = None
    # Status.
    observed_generation: int = 0
    status_replicas: int = 0
    ready: int = 0
    available: int = 0
    updated: int = 0
    current_revision: str = ""
    update_revision: str = ""
    #: StatefulSets: the pods at ``current_revision`` (the others are at ``update_revision``).
    current_replicas: int = 0
    conditions: tuple[Condition, ...] = ()
    #: StatefulSets: ``spec.updateStrategy`` ("RollingUpdate", "OnDelete") and its partition
    #: (the pods below it keep the current revision: an update held there on purpose).
    update_strategy: str = ""
    partition: int = 0

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def resource(self) -> str:
        return "deployments.apps" if self.kind == "Deployment" else "statefulsets.apps"


def project_workload(kind: str, obj: Mapping[str, Any]) -> Workload:
    meta = _dict(obj.get("metadata"))
    spec = _dict(obj.get("spec"))
    status = _dict(obj.get("status"))
    template = _dict(spec.get("template"))
    tmeta = _dict(template.get("metadata"))
    pod_spec = _dict(template.get("spec"))
    selector = _dict(spec.get("selector")).get("matchLabels")
    annotations = _map(meta.get("annotations"))
    return Workload(
        kind=kind,
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""),
        resource_version=str(meta.get("resourceVersion") or ""),
        created=str(meta.get("creationTimestamp") or ""),
        labels=_map(meta.get("labels")),
        annotations={k: v for k, v in annotations.items() if k in _KEPT_ANNOTATIONS},
        generation=_int(meta.get("generation")),
        replicas=_int(spec.get("replicas"), 1),
        selector=_map(selector),
        template_labels=_map(tmeta.get("labels")),
        template_annotations={k: v for k, v in _map(tmeta.get("annotations")).items()
                              if k in (RESTARTED_AT, DEFAULT_CONTAINER)},
        containers=_containers(pod_spec),
        progress_deadline=spec.get("progressDeadlineSeconds")
        if isinstance(spec.get("progressDeadlineSeconds"), int) else None,
        observed_generation=_int(status.get("observedGeneration")),
        status_replicas=_int(status.get("replicas")),
        ready=_int(status.get("readyReplicas")),
        available=_int(status.get("availableReplicas")),
        updated=_int(status.get("updatedReplicas")),
        current_revision=str(status.get("currentRevision") or ""),
        update_revision=str(status.get("updateRevision") or ""),
        current_replicas=_int(status.get("currentReplicas")),
        conditions=tuple(
            Condition(str(c.get("type") or ""), str(c.get("status") or ""),
                      str(c.get("reason") or ""), str(c.get("message") or ""),
                      str(c.get("lastUpdateTime") or c.get("lastTransitionTime") or ""))
            for c in _list(status.get("conditions")) if isinstance(c, dict)),
        update_strategy=str(_dict(spec.get("updateStrategy")).get("type") or ""),
        partition=_int(_dict(_dict(spec.get("updateStrategy")).get("rollingUpdate"))
                       .get("partition")),
    )


@dataclass(frozen=True, slots=True)
class Pod:
    namespace: str
    name: str
    uid: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    phase: str = ""
    containers: tuple[str, ...] = ()
    #: Containers that have started at least once (their logs can be read).
    started: frozenset[str] = frozenset()
    deleting: bool = False
    created: str = ""


def project_pod(obj: Mapping[str, Any]) -> Pod:
    meta = _dict(obj.get("metadata"))
    spec = _dict(obj.get("spec"))
    status = _dict(obj.get("status"))
    started = set()
    for cs in _list(status.get("containerStatuses")):
        if not isinstance(cs, dict):
            continue
        state = _dict(cs.get("state"))
        last = _dict(cs.get("lastState"))
        if "running" in state or "terminated" in state or "terminated" in last:
            started.add(str(cs.get("name") or ""))
    return Pod(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""),
        labels=_map(meta.get("labels")),
        phase=str(status.get("phase") or ""),
        containers=tuple(str(c.get("name") or "") for c in _list(spec.get("containers"))
                         if isinstance(c, dict)),
        started=frozenset(started),
        deleting=bool(meta.get("deletionTimestamp")),
        created=str(meta.get("creationTimestamp") or ""),
    )


@dataclass(frozen=True, slots=True)
class Namespace:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    phase: str = ""
    created: str = ""
    deleting: bool = False

    @property
    def expires_at(self) -> datetime | None:
        return parse_time(self.annotations.get(EXPIRES_AT))


def project_namespace(obj: Mapping[str, Any]) -> Namespace:
    meta = _dict(obj.get("metadata"))
    return Namespace(
        name=str(meta.get("name") or ""),
        labels=_map(meta.get("labels")),
        annotations={k: v for k, v in _map(meta.get("annotations")).items()
                     if k in _KEPT_NS_ANNOTATIONS},
        phase=str(_dict(obj.get("status")).get("phase") or ""),
        created=str(meta.get("creationTimestamp") or ""),
        deleting=bool(meta.get("deletionTimestamp")),
    )


@dataclass(frozen=True, slots=True)
class Revision:
    """One entry of a workload's rollout history: a ReplicaSet a Deployment owns, or a
    ControllerRevision of a StatefulSet."""

    number: int
    name: str
    containers: tuple[Container, ...]
    template_labels: Mapping[str, str]
    created: str
    template_annotations: Mapping[str, str] = field(default_factory=dict)
    #: The workload it belongs to (its kind, uid and name).
    owner_kind: str = ""
    owner_uid: str = ""
    owner_name: str = ""
    #: Its ``kubernetes.io/change-cause``: why it was made.
    change_cause: str = ""
    #: ReplicaSets: the pods it has, and how many of them are ready.
    replicas: int = 0
    ready: int = 0

    def owned_by(self, workload: Workload) -> bool:
        if self.owner_kind != workload.kind:
            return False
        return self.owner_uid == workload.uid if workload.uid and self.owner_uid \
            else self.owner_name == workload.name


def _owner(meta: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    return next((o for o in _list(meta.get("ownerReferences"))
                 if isinstance(o, dict) and o.get("kind") == kind), None)


def _containers(pod_spec: Any) -> tuple[Container, ...]:
    return tuple(_container(c) for c in _list(_dict(pod_spec).get("containers"))
                 if isinstance(c, dict))


def _container(c: dict[str, Any]) -> Container:
    resources = _dict(c.get("resources"))
    requests, limits = _dict(resources.get("requests")), _dict(resources.get("limits"))
    return Container(str(c.get("name") or ""), str(c.get("image") or ""),
                     cpu_request=quantity(requests.get("cpu")),
                     memory_request=quantity(requests.get("memory")),
                     cpu_limit=quantity(limits.get("cpu")),
                     memory_limit=quantity(limits.get("memory")))


_QUANTITY = re.compile(r"^([+]?[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)"
                       r"(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_SUFFIX = {None: 1.0, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
           "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50,
           "Ei": 2.0**60}


def quantity(value: Any) -> float | None:
    """A Kubernetes quantity (``250m``, ``0.5``, ``512Mi``, ``1G``) as a number; None when absent
    or not one."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if value >= 0 else None
    match = _QUANTITY.match(value.strip()) if isinstance(value, str) and len(value) <= 40 else None
    return float(match.group(1)) * _SUFFIX[match.group(2)] if match else None


def resources_of(workload: Workload) -> dict[str, float]:
    """What one instance requests and may use at most, summed over its containers (the
    ``Deployment`` fields ``cpu_request`` … that are known). A container without a request
    requests its limit (as Kubernetes defaults it), else nothing; one without a limit leaves
    the instance without one."""
    known: dict[str, float] = {}
    containers = workload.containers
    for resource in ("cpu", "memory"):
        requests = [getattr(c, f"{resource}_request") for c in containers]
        limits = [getattr(c, f"{resource}_limit") for c in containers]
        if any(v is not None for v in (*requests, *limits)):
            known[f"{resource}_request"] = sum(
                r if r is not None else (lim or 0.0) for r, lim in zip(requests, limits))
        if containers and all(v is not None for v in limits):
            known[f"{resource}_limit"] = sum(limits)  # type: ignore[arg-type]
    return known


def _template_annotations(tmeta: Mapping[str, Any]) -> dict[str, str]:
    return {k: v for k, v in _map(tmeta.get("annotations")).items() if k == DEFAULT_CONTAINER}


def project_replicaset(obj: Mapping[str, Any]) -> Revision | None:
    """A ReplicaSet as a revision of the Deployment that owns it; None if no Deployment does."""
    meta = _dict(obj.get("metadata"))
    owner = _owner(meta, "Deployment")
    if owner is None:
        return None
    annotations = _map(meta.get("annotations"))
    try:
        number = int(annotations.get(REVISION, ""))
    except ValueError:
        return None
    template = _dict(_dict(obj.get("spec")).get("template"))
    tmeta = _dict(template.get("metadata"))
    status = _dict(obj.get("status"))
    return Revision(
        number=number,
        name=str(meta.get("name") or ""),
        containers=_containers(template.get("spec")),
        template_labels=_map(tmeta.get("labels")),
        created=str(meta.get("creationTimestamp") or ""),
        template_annotations=_template_annotations(tmeta),
        owner_kind="Deployment", owner_uid=str(owner.get("uid") or ""),
        owner_name=str(owner.get("name") or ""),
        change_cause=annotations.get(CHANGE_CAUSE, ""),
        replicas=_int(status.get("replicas")),
        ready=_int(status.get("readyReplicas")),
    )


def project_revision(obj: Mapping[str, Any], owner_uid: str, owner_name: str) -> Revision | None:
    """A ReplicaSet as a revision of the Deployment ``owner_uid``; None if it is not one of its."""
    revision = project_replicaset(obj)
    if revision is None:
        return None
    if owner_uid and revision.owner_uid:
        return revision if revision.owner_uid == owner_uid else None
    return revision if revision.owner_name == owner_name else None


def project_controller_revision(obj: Mapping[str, Any]) -> Revision | None:
    """A ControllerRevision as a revision of the StatefulSet that owns it (its ``data`` is the
    patch that sets the pod template back); None if no StatefulSet owns it."""
    meta = _dict(obj.get("metadata"))
    owner = _owner(meta, "StatefulSet")
    number = obj.get("revision")
    if owner is None or not isinstance(number, int) or isinstance(number, bool):
        return None
    template = _dict(_dict(_dict(obj.get("data")).get("spec")).get("template"))
    tmeta = _dict(template.get("metadata"))
    return Revision(
        number=number,
        name=str(meta.get("name") or ""),
        containers=_containers(template.get("spec")),
        template_labels=_map(tmeta.get("labels")),
        created=str(meta.get("creationTimestamp") or ""),
        template_annotations=_template_annotations(tmeta),
        owner_kind="StatefulSet", owner_uid=str(owner.get("uid") or ""),
        owner_name=str(owner.get("name") or ""),
        change_cause=_map(meta.get("annotations")).get(CHANGE_CAUSE, ""),
    )


# What they mean ----------------------------------------------------------------------------------

def service_of(workload: Workload, labels: Iterable[str]) -> str | None:
    """The service a workload runs: the first of ``labels`` it (or its pods) carry."""
    for key in labels:
        value = workload.labels.get(key) or workload.template_labels.get(key)
        if value:
            return value
    return None


#: Why a container was taken for the service's (said in the deployment's detail).
BY_CONFIG = "set in the source's config"
BY_ANNOTATION = f"the {DEFAULT_CONTAINER} annotation"
BY_NAME = "named like the service"
BY_NOT_SIDECAR = "the first that is not a known sidecar"
BY_FIRST = "the first container"
BY_ONLY = "the only container"


def is_sidecar(container: Container) -> bool:
    """A mesh proxy or an agent (by its name, or its image's repository) from ``SIDECARS``."""
    repo, _tag, _digest = split_image(container.image)
    return container.name.lower() in SIDECARS or repo.rsplit("/", 1)[-1].lower() in SIDECARS


def choose_container(workload: Workload | Revision, preferred: str | None,
                     service: str | None = None) -> tuple[Container | None, str]:
    """The container that is the service, and the rule that chose it: the one the config names
    (none if it has no such container); else the pod template's default-container annotation; the
    one named like the service (or the workload); the first that is not a known sidecar; the
    first."""
    containers = workload.containers
    if not containers:
        return None, ""
    by_name = {c.name: c for c in reversed(containers)}
    if preferred:
        found = by_name.get(preferred)
        return found, BY_CONFIG if found is not None else ""
    if len(containers) == 1:
        return containers[0], BY_ONLY
    default = workload.template_annotations.get(DEFAULT_CONTAINER)
    if default and default in by_name:
        return by_name[default], BY_ANNOTATION
    for name in (service, workload.name if isinstance(workload, Workload) else None,
                 getattr(workload, "owner_name", None)):
        if name and name in by_name:
            return by_name[name], BY_NAME
    for c in containers:
        if not is_sidecar(c):
            return c, BY_NOT_SIDECAR
    return containers[0], BY_FIRST


def main_container(workload: Workload | Revision, preferred: str | None,
                   service: str | None = None) -> Container | None:
    return choose_container(workload, preferred, service)[0]


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """``repo[:tag][@digest]`` → (repo, tag, digest). A port in the registry host is not a tag."""
    rest, _, digest = image.partition("@")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        return rest[:colon], rest[colon + 1:], digest or None
    return rest, None, digest or None


#: Hex digits of a digest a version shows (``@sha256:0123456789ab…``).
DIGEST_SHOWN = 12
_SHORT_DIGEST = re.compile(r"^@([A-Za-z0-9]+):([A-Fa-f0-9]{6,})…?$")


def image_version(image: str) -> str:
    """The version an image runs: its tag; by digest only, the digest cut short with its marker
    (``@sha256:0123456789ab…``); no tag, ``latest``."""
    repo, tag, digest = split_image(image)
    if tag:
        return tag
    if digest:
        algorithm, _, hexdigits = digest.partition(":")
        if not hexdigits:
            return f"@{algorithm}"
        short = hexdigits[:DIGEST_SHOWN]
        return f"@{algorithm}:{short}" + ("…" if len(hexdigits) > DIGEST_SHOWN else "")
    return "latest" if repo else ""


def version_of(labels: Mapping[str, str], template_labels: Mapping[str, str],
               container: Container | None, version_label: str) -> str:
    value = template_labels.get(version_label) or labels.get(version_label)
    if value:
        return value
    return image_version(container.image) if container is not None else ""


def image_for(current_image: str, version: str, known: Iterable[str] = ()) -> str:
    """The image to run ``version``: a full reference as given, else the current repo at that tag.
    A digest (``@sha256:…``, maybe cut short as versions show it) is the current repo at the
    digest of one of the ``known`` images that starts so (or the whole digest as given)."""
    short = _SHORT_DIGEST.match(version)
    if short:
        algorithm, prefix = short.group(1), short.group(2).lower()
        repo, _tag, _digest = split_image(current_image)
        for image in known:
            _r, _t, digest = split_image(image)
            if digest and digest.lower().startswith(f"{algorithm.lower()}:{prefix}"):
                return f"{repo}@{digest}"
        if not version.endswith("…") and len(prefix) >= 32:
            return f"{repo}@{algorithm}:{prefix}"
        raise ValueError(f"{version!r}: no image known here has that digest; give the whole "
                         "image reference")
    if "/" in version or "@" in version or ":" in version:
        if not REFERENCE.match(version):
            raise ValueError(f"{version!r} is not a valid image tag or reference")
        return version
    if not TAG.match(version):
        raise ValueError(f"{version!r} is not a valid image tag")
    repo, _tag, _digest = split_image(current_image)
    return f"{repo}:{version}"


def condition(workload: Workload, type_: str) -> Condition | None:
    for c in workload.conditions:
        if c.type == type_:
            return c
    return None


def health_of(workload: Workload) -> tuple[Health, str]:
    """How a workload is doing, from its replica counts and conditions, with a one-line reason."""
    desired = workload.replicas
    progressing = condition(workload, "Progressing")
    if progressing is not None and progressing.status == "False" \
            and progressing.reason == "ProgressDeadlineExceeded":
        return Health.DEGRADED, f"rollout stuck: {progressing.message or progressing.reason}"
    if desired == 0:
        return Health.UNKNOWN, "scaled to 0"
    if workload.ready == 0:
        available = condition(workload, "Available")
        reason = f": {available.message}" if available is not None and available.message else ""
        return Health.DOWN, f"no replica ready{reason}"
    if rolling_out(workload):
        return Health.DEGRADED, rollout_message(workload)
    if workload.ready < desired or workload.available < desired and workload.kind == "Deployment":
        return Health.DEGRADED, f"{workload.ready}/{desired} ready"
    return Health.HEALTHY, ""


def rolling_out(workload: Workload) -> bool:
    if workload.generation and workload.observed_generation < workload.generation:
        return True
    if workload.updated < workload.replicas:
        return True
    if workload.kind == "StatefulSet" and workload.update_revision \
            and workload.current_revision != workload.update_revision:
        return True
    return workload.status_replicas > workload.updated


def rollout_state(workload: Workload) -> str:
    """"stuck" (the progress deadline passed), "progressing" (a change not rolled out yet), or ""."""
    if workload.replicas == 0:
        return ""
    progressing = condition(workload, "Progressing")
    if progressing is not None and progressing.status == "False" \
            and progressing.reason == "ProgressDeadlineExceeded":
        return "stuck"
    return "progressing" if rolling_out(workload) else ""


def serving(workload: Workload, revisions: Iterable[Revision]) -> list[Revision]:
    """The workload's revisions that have ready pods, the most ready first (then the newest):
    what serves, whatever the template asks for."""
    ready = [r for r in revisions if r.ready > 0 and r.owned_by(workload)]
    return sorted(ready, key=lambda r: (-r.ready, -r.number))


def rollout_message(workload: Workload, generation: int | None = None) -> str:
    desired = workload.replicas
    target = max(workload.generation, generation or 0)
    if target and workload.observed_generation < target:
        return "waiting for the controller to see the change"
    if workload.updated < desired:
        return f"rolling out: {workload.updated}/{desired} updated"
    if workload.status_replicas > workload.updated:
        return f"rolling out: {workload.status_replicas - workload.updated} old replica(s) left"
    if workload.ready < desired:
        return f"rolling out: {workload.ready}/{desired} ready"
    return f"rolling out: {workload.available}/{desired} available"


def rollout_done(workload: Workload, generation: int | None) -> bool:
    """The change made at ``generation`` is rolled out: every replica updated, ready, available."""
    if generation and workload.observed_generation < generation:
        return False
    if rolling_out(workload):
        return False
    desired = workload.replicas
    available = workload.available if workload.kind == "Deployment" else workload.ready
    return workload.ready >= desired and available >= desired


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def updated_at(workload: Workload) -> datetime | None:
    times = [parse_time(c.updated) for c in workload.conditions]
    times = [t for t in times if t is not None]
    return max(times) if times else parse_time(workload.created)


_NUMERIC = re.compile(r"^v?(\d+(?:\.\d+)*)(?:[-+_.]?[0-9A-Za-z.-]*)?$")


def newest_first(versions: Iterable[tuple[str, datetime | None]]) -> list[str]:
    """Versions, newest first: ``1.10.0`` before ``1.9.2`` before ``1.9.2-rc1`` where they look
    like numbers, then the others by when they were built (unknown last)."""
    def key(item: tuple[str, datetime | None]) -> tuple[int, tuple[int, ...], int, float]:
        version, built = item
        match = _NUMERIC.match(version)
        numbers = tuple(-int(n) for n in match.group(1).split(".")) if match else ()
        plain = 0 if match and match.group(0) == match.group(0).split("-")[0].split("+")[0] \
            else 1
        when = -built.timestamp() if built is not None else float("inf")
        return (0 if match else 1, numbers, plain, when)

    return [version for version, _built in sorted(versions, key=key)]
