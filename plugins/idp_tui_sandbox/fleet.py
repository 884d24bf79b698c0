"""What runs where: initial rollout state, continuous delivery to dev, bad releases and timelines."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from collections.abc import Callable, Collection, Iterator

from idp_tui import Deployment, Health, Instance, InstanceContainer, InstanceEvent, Instances

from .pipelines import Pipelines
from .rand import hexid, pod_suffix, rng, unit, weighted
from .resources import Sizing
from .store import DeploymentRow, EnvironmentRow, HistoryRow, Store
from .world import CURATED, ServiceSpec, World

STATIC_ENVIRONMENTS = (
    EnvironmentRow("dev", 0, "static", False, None),
    EnvironmentRow("staging", 1, "static", False, None),
    EnvironmentRow("production", 2, "static", True, None),
)
#: The environment every succeeded release run deploys to.
CD_ENVIRONMENT = "dev"
#: Share of releases that are bad (they raise errors and latency wherever they run).
BAD_RATE = 0.04
#: The seeded production incident started this long before the first start.
INCIDENT_AGE = 40 * 60.0
_LOOKBACK = 30 * 86400.0
CURATED_NAMES = frozenset(entry[0] for entry in CURATED)

_DEGRADED = (
    ("Readiness probe failing on 1 pod", 1),
    ("OOMKilled 3 times in the last hour", 1),
    ("1 pod pending: insufficient memory in node pool", 1),
    ("HPA at max replicas; CPU above target", 0),
    ("p99 latency above SLO (780ms > 500ms)", 0),
)
_DOWN = (
    'CrashLoopBackOff: secret "{name}-db-credentials" not found',
    "ImagePullBackOff: manifest for {version} not found",
    "Progress deadline exceeded: 0/{desired} pods available",
)
#: Troubles seeded every time, each in a service of its own in staging: a rollout stuck on an
#: image that cannot be pulled (the version before it keeps serving) and a crash loop.
TROUBLE_ENVIRONMENT = "staging"
CRASH_LOOP = 'CrashLoopBackOff: secret "{name}-db-credentials" not found'
#: A stuck rollout's message, written and read only here (``stuck_target``).
STUCK = "rollout of {target} stuck: ImagePullBackOff: manifest for {target} not found"
_STUCK = re.compile(r"^rollout of (\S+) stuck: ImagePullBackOff: (.+)$")
#: A stuck rollout's new version was built at least this long before the first start (its
#: rollout began after it and has passed its progress deadline since).
STUCK_AFTER = 30 * 60.0
#: Seconds after its build that a stuck rollout began.
STUCK_DELAY = 5 * 60.0
#: A version seeded waiting in staging (the advisor's drift): built at least this long before
#: the first start, deployed to staging ``DRIFT_DELAY`` after its build and never promoted,
#: while at least ``DRIFT_NEWER`` newer releases of main were built.
DRIFT_AGE = 36 * 3600.0
DRIFT_DELAY = 10 * 60.0
DRIFT_NEWER = 5


def stuck_target(message: str) -> str | None:
    """The version a deployment's rollout is stuck on (from its stored message), or None."""
    found = _STUCK.match(message)
    return found.group(1) if found else None


def stuck_reason(message: str) -> str | None:
    """Why a stuck rollout's image cannot be pulled (from its stored message), or None."""
    found = _STUCK.match(message)
    return found.group(2) if found else None


def pod_names(seed: int, service: str, environment: str, version: str | None, revision: str,
              count: int) -> tuple[str, ...]:
    """Pod names of a rollout: ``<service>-<template hash>-<suffix>``; a restart (a new
    ``revision`` of the same version) gives new names. Pod ``i``'s name depends on ``i`` only,
    not on how many there are."""
    base = f"{seed}:logs:{service}:{environment}"
    key = version if not revision else f"{version}#{revision}"
    template = hexid(f"{base}:template:{key}", 6)
    return tuple(f"{service}-{template}-{pod_suffix(f'{base}:{key}:{i}')}" for i in range(count))


@dataclass(slots=True, frozen=True)
class Segment:
    """A stretch of time during which one version ran in one environment."""

    start: float
    version: str | None  # None: before the sandbox's records begin
    health: Health
    message: str
    severity: float  # 0 for a good release
    #: Changes when the instances were replaced without a new version (a restart): new pod names.
    revision: str = ""
    #: Scaled to zero: no instance runs, no log line, no traffic.
    stopped: bool = False
    #: When this version started running (earlier than ``start`` after a restart or a scale).
    since: float | None = None
    #: How many instances ran at ``start`` (None: as many as the deployment wants now), and
    #: ``(when, how many)`` of each scale within the segment, oldest first.
    replicas: int | None = None
    counts: tuple[tuple[float, int], ...] = ()
    #: ``(old pod, new pod, when)`` of each instance replaced within the segment, oldest first.
    replaced: tuple[tuple[str, str, float], ...] = ()

    @property
    def rollout_start(self) -> float:
        return self.start if self.since is None else self.since

    def replicas_at(self, t: float) -> int | None:
        """How many instances ran at ``t`` (None: as many as the deployment wants now)."""
        count = self.replicas
        for at, n in self.counts:
            if at > t:
                break
            count = n
        return count

    def named(self, pods: tuple[str, ...], t: float) -> tuple[str, ...]:
        """``pods`` with the replacements made by ``t`` applied: a line keeps the name of the pod
        that wrote it."""
        if not self.replaced or not pods:
            return pods
        out = list(pods)
        for old, new, when in self.replaced:
            if when > t:
                break
            for i, name in enumerate(out):
                if name == old:
                    out[i] = new
        return tuple(out)


def _replicas(seed: int, spec: ServiceSpec, environment: str) -> int:
    if environment == "production":
        return {1: 5, 2: 4, 3: 3}[spec.tier] + (1 if unit(f"{seed}:replicas:{spec.name}") < 0.3 else 0)
    return 2 if environment == "staging" else 1


class Fleet:
    """Deployments of a world, backed by a store."""

    def __init__(self, world: World, pipelines: Pipelines, store: Store) -> None:
        self.world = world
        self.seed = world.seed
        self.pipelines = pipelines
        self.store = store
        self._bad = store.bad_versions()
        self._effective: dict[tuple, Deployment] = {}
        self.sizing = Sizing(world)

    # Bad releases -------------------------------------------------------------------------------
    def _hash_bad(self, service: str, version: str) -> bool:
        return unit(f"{self.seed}:bad:{service}:{version}") < BAD_RATE

    def severity(self, service: str, version: str | None) -> float:
        """0 for a good release, else how hard it hurts (0.3–1)."""
        if version is None:
            return 0.0
        marked = self._bad.get((service, version))
        if marked is not None:
            return marked
        if self._hash_bad(service, version):
            return 0.3 + 0.7 * unit(f"{self.seed}:severity:{service}:{version}")
        return 0.0

    def mark_bad(self, service: str, version: str, severity: float = 0.8) -> None:
        self.store.mark_bad(service, version, severity)
        self._bad[(service, version)] = severity
        self._effective.clear()

    # Initial state ------------------------------------------------------------------------------
    def incident_service(self) -> ServiceSpec:
        """The service whose production runs a bad release when the sandbox is first seeded.

        A customer-facing tier-1 API when there is one.
        """
        def rank(spec: ServiceSpec) -> tuple:
            core = spec.tier == 1 and spec.kind == "api" and spec.lifecycle == "production"
            return (not core, spec.layer < 3, spec.name not in CURATED_NAMES,
                    unit(f"{self.seed}:incident:{spec.name}"))
        return min(self.world.seeded, key=rank)

    def initial_rows(self, now: float) -> tuple[list[DeploymentRow], list[tuple[str, str, float]]]:
        """Deployments as they stand at ``now`` on first start, plus the releases marked bad."""
        rows: list[DeploymentRow] = []
        bad: list[tuple[str, str, float]] = []
        incident = self.incident_service()
        chronic = self._chronic(incident)
        stuck, crash = self._troubles(now, incident, chronic)
        drift = self._drifting(now, {incident.name, stuck, crash} | {n for n, _e in chronic})
        for spec in self.world.specs:
            releases = self._releases(spec, now)
            good = releases.good
            r = rng(f"{self.seed}:deploy:{spec.name}")
            staging = good(weighted(r, {0: 25, 1: 35, 2: 25, 3: 15}))
            mode = r.random()
            if mode < 0.6:
                production = staging
            elif mode < 0.85:
                production = good(staging + r.randint(1, 2))
            elif mode < 0.95:
                production = good(staging + r.randint(4, 8))
            else:  # a hotfix went straight to production: staging is behind
                staging = good(max(staging, 1))
                production = max(staging - 1, 0)
                if releases.bad(production):
                    production = staging
            plan = {"dev": (0, releases[0][1]),
                    "staging": (staging, releases[staging][1] + (now - releases[staging][1]) * r.uniform(0.05, 0.5)),
                    "production": (production,
                                   releases[production][1] + (now - releases[production][1]) * r.uniform(0.1, 0.7))}
            if spec is incident:
                k = next((i for i in range(1, releases.clamp(20) + 1) if releases[i][1] <= now - INCIDENT_AGE),
                         releases.clamp(20))
                newer = next((i for i in range(k - 1, -1, -1) if not releases.bad(i)), k)
                plan["production"] = (k, now - INCIDENT_AGE)
                plan["staging"] = (newer, releases[newer][1] + (now - releases[newer][1]) * 0.5)
                bad.append((spec.name, releases[k][0], 0.8))
            serving = _stuck_serving(releases, now) if spec.name == stuck else None
            if serving is not None:  # the version before the stuck one serves, since before it was built
                began, built = releases[serving][1], releases[serving - 1][1]
                plan[TROUBLE_ENVIRONMENT] = (serving, began + (built - began) * 0.5)
                if plan["production"][0] < serving:  # production runs nothing newer than it
                    plan["production"] = (serving, built)
            if drift is not None and spec.name == drift[0]:
                plan["staging"], plan["production"] = drift[1], drift[2]
            for environment, (index, updated_at) in plan.items():
                version = releases[index][0]
                desired = _replicas(self.seed, spec, environment)
                health, message, ready = "healthy", "", desired
                trouble = chronic.get((spec.name, environment))
                if trouble is not None:
                    health, message, missing = trouble
                    message = message.format(name=spec.name, version=version, desired=desired)
                    ready = 0 if health == "down" else max(desired - missing, 0)
                if environment == TROUBLE_ENVIRONMENT and serving is not None:
                    health, message = "degraded", STUCK.format(target=releases[serving - 1][0])
                elif environment == TROUBLE_ENVIRONMENT and spec.name == crash:
                    health, message, ready = "down", CRASH_LOOP.format(name=spec.name), 0
                rows.append(DeploymentRow(spec.name, environment, version, ready, desired, health, message,
                                          updated_at))
        return rows, bad

    def good_release(self, spec: ServiceSpec, before: float) -> tuple[str, float]:
        """The newest release of ``spec`` built by ``before`` that is not bad (its version and
        when it was built)."""
        releases = self._releases(spec, before)
        return releases[releases.good(0)]

    def _releases(self, spec: ServiceSpec, now: float) -> _Releases:
        return _Releases(self.pipelines.releases(spec, now, now - _LOOKBACK),
                         (f"{spec.major}.{spec.minor0}.0", now - _LOOKBACK),
                         lambda version, name=spec.name: self._hash_bad(name, version))

    def _troubles(self, now: float, incident: ServiceSpec,
                  chronic: dict[tuple[str, str], tuple[str, str, int]]) -> tuple[str | None, str | None]:
        """The services seeded with a stuck rollout and with a crash loop (in
        ``TROUBLE_ENVIRONMENT``): two others than the incident's and the chronic troubles',
        curated ones first; the stuck one has releases enough for it."""
        ranked = self._ranked("trouble", {incident.name} | {name for name, _env in chronic})
        stuck = next((spec.name for spec in ranked
                      if _stuck_serving(self._releases(spec, now), now) is not None), None)
        crash = next((spec.name for spec in ranked if spec.name != stuck), None)
        return stuck, crash

    def _drifting(self, now: float, taken: set[str | None]
                  ) -> tuple[str, tuple[int, float], tuple[int, float]] | None:
        """The service seeded with a version waiting in staging (the advisor's drift), and its
        staging's and production's release index and time: the newest good release built
        :data:`DRIFT_AGE` before ``now`` or earlier, deployed to staging soon after its build,
        with :data:`DRIFT_NEWER` newer releases since; production on an older good one,
        deployed before it. Another service than those ``taken`` by the other troubles,
        curated ones first."""
        for spec in self._ranked("drift", taken):
            releases = self._releases(spec, now)
            waiting = next((k for k in range(DRIFT_NEWER, 60) if releases.clamp(k) == k
                            and releases[k][1] <= now - DRIFT_AGE and not releases.bad(k)), None)
            if waiting is None:
                continue
            staged_at = releases[waiting][1] + DRIFT_DELAY
            if sum(releases[i][1] > staged_at for i in range(waiting)) < DRIFT_NEWER:
                continue
            older = releases.good(waiting + 1 + int(unit(f"{self.seed}:drift-behind:{spec.name}")
                                                    * 3))
            if older <= waiting or releases[older][0] == releases[waiting][0]:
                continue
            built = releases[older][1]
            return spec.name, (waiting, staged_at), (older, built + (staged_at - built) * 0.5)
        return None

    def _ranked(self, trouble: str, taken: Collection[str | None]) -> list[ServiceSpec]:
        """The seeded services a ``trouble`` may be seeded in, best first: those not ``taken``
        by another, curated ones first, then in an order of the seed's for that trouble."""
        return sorted((spec for spec in self.world.seeded if spec.name not in taken),
                      key=lambda spec: (spec.name not in CURATED_NAMES,
                                        unit(f"{self.seed}:{trouble}:{spec.name}")))

    def _chronic(self, incident: ServiceSpec) -> dict[tuple[str, str], tuple[str, str, int]]:
        """A few deployments in trouble for reasons other than a bad release."""
        r = rng(f"{self.seed}:health")
        candidates = [spec for spec in self.world.specs if spec is not incident]
        degraded = max(1, round(len(candidates) * 0.05))
        down = max(1, round(len(candidates) * 0.015))
        chosen = r.sample(candidates, min(len(candidates), degraded + down))
        trouble: dict[tuple[str, str], tuple[str, str, int]] = {}
        for i, spec in enumerate(chosen):
            if i < degraded:
                message, missing = r.choice(_DEGRADED)
                trouble[(spec.name, weighted(r, {"staging": 5, "production": 4}))] = ("degraded", message, missing)
            else:
                trouble[(spec.name, weighted(r, {"dev": 1, "staging": 2}))] = ("down", r.choice(_DOWN), 0)
        return trouble

    # Current state ------------------------------------------------------------------------------
    def effective(self, row: DeploymentRow, now: float) -> Deployment:
        """A stored deployment as seen at ``now``: dev follows succeeded release runs, bad releases hurt."""
        release = None
        spec = self.world.get(row.service)
        if row.environment == CD_ENVIRONMENT and spec is not None:
            release = self.pipelines.last_release(spec, now)
            if release is not None and release[1] <= row.updated_at:
                release = None
        key = (row, release)
        cached = self._effective.get(key)
        if cached is not None:
            return cached
        version, updated_at = row.version, row.updated_at
        health, message, ready = Health(row.health), row.message, row.replicas_ready
        if release is not None:
            version, updated_at = release
            health, message, ready = Health.HEALTHY, "", row.replicas_desired
        severity = self.severity(row.service, version)
        if severity and health is Health.HEALTHY:
            health = Health.DEGRADED
            message = f"5xx rate elevated since rollout of {version}"
        target = stuck_target(message) if release is None else None
        stuck: dict = {}
        if target is not None:  # what serves is the version before; the rollout began after its build
            stuck = {"rollout": "stuck", "target_version": target}
            built = self.pipelines.release_run(spec, target) if spec is not None else None
            if built is not None:
                updated_at = max(updated_at, built.success_finish + STUCK_DELAY)
        sized = self.sizing.of(spec, row.environment, row.replicas_desired) if spec is not None else {}
        deployment = Deployment(
            service=row.service, environment=row.environment, version=version, replicas_ready=ready,
            replicas_desired=row.replicas_desired, health=health,
            updated_at=datetime.fromtimestamp(updated_at, UTC), message=message, **stuck, **sized,
        )
        if len(self._effective) > 200_000:
            self._effective.clear()
        self._effective[key] = deployment
        return deployment

    def timeline(self, spec: ServiceSpec, environment: str, start: float, end: float) -> list[Segment]:
        """Segments covering [start, end], oldest first; the first may begin before ``start``."""
        history = self.store.history(spec.name, environment, start, end)
        if history and history[0].replicas and history[0].deployed_at <= start:
            history = self._from_origin(spec.name, environment, history)
        events = [(h.deployed_at, 0, h.version, Health(h.health), h.message, h.revision, h.replicas)
                  for h in history]
        if environment == CD_ENVIRONMENT:
            for version, finished in self.pipelines.releases(spec, end, start - _LOOKBACK):
                if spec.created is not None and finished < spec.created:
                    break
                events.append((finished, 1, version, Health.HEALTHY, "", "", None))
                if finished <= start:
                    break
        events.sort(key=lambda e: (e[0], e[1]))
        times = [e[0] for e in events]
        first = bisect.bisect_right(times, start) - 1
        while first > 0 and _folds(events[first], events[first - 1]):
            first -= 1  # a scale: the segment began with the instances it counts
        segments: list[Segment] = []
        counts: list[list[tuple[float, int]]] = []  # each segment's (when, replicas), its start's first
        if first < 0:
            # Before the records begin; a service created by an action did not exist then.
            segments.append(Segment(float("-inf"), None, Health.HEALTHY, "", 0.0, stopped=spec.created is not None))
            counts.append([])
            first = 0
        for at, kind, version, health, message, revision, replicas in events[first:]:
            previous = segments[-1] if segments else None
            if stuck_target(message) is not None:  # the version that serves runs as it did
                health, message = Health.HEALTHY, ""
            if (kind == 0 and replicas and previous is not None and not previous.stopped
                    and (previous.version, previous.revision, previous.health, previous.message)
                    == (version, revision, health, message)):
                counts[-1].append((at, replicas))  # a scale: the same instances, more or fewer
                continue
            # A release deployed by CD to a stopped deployment stays stopped (zero replicas).
            stopped = replicas == 0 if replicas is not None else bool(kind == 1 and previous and previous.stopped)
            since = None
            if previous is not None and previous.version is not None and previous.version == version:
                since = previous.rollout_start
            segments.append(Segment(at, version, health, message, self.severity(spec.name, version), revision,
                                    stopped, since))
            counts.append([(at, replicas)] if replicas else [])
        return self._with_instances(spec, environment, segments, counts)

    def _from_origin(self, service: str, environment: str, history: list[HistoryRow]) -> list[HistoryRow]:
        """``history`` preceded by the entries its first one counts the instances of (a scale
        records their count without replacing them)."""
        head = history[0]
        older = [h for h in self.store.recent_history(service, environment, 500)
                 if (h.deployed_at, h.id) < (head.deployed_at, head.id)]
        before: list[HistoryRow] = []
        for h in older:  # newest first
            if not _folds(_event(head), _event(h)):
                break
            before.append(h)
            head = h
        return before[::-1] + history

    def _with_instances(self, spec: ServiceSpec, environment: str, segments: list[Segment],
                        counts: list[list[tuple[float, int]]]) -> list[Segment]:
        """``segments`` with how many instances ran (a count not recorded is the next one
        recorded: every change of it records the count before) and the instances replaced."""
        replaced = replacements(self.store, spec.name, environment)
        later: int | None = None
        out: list[Segment] = []
        for i in range(len(segments) - 1, -1, -1):
            segment, known = segments[i], counts[i]
            if known:  # the first count recorded is the one before any change within
                later = known[0][1]
            first = later
            end = segments[i + 1].start if i + 1 < len(segments) else float("inf")
            mine = tuple(r for r in replaced if segment.start <= r[2] < end)
            out.append(replace(segment, replicas=first, counts=tuple(known), replaced=mine)
                       if first is not None or known or mine else segment)
        out.reverse()
        return out


class _Releases:
    """Succeeded releases, newest first, pulled from an iterator only as far as they are looked at."""

    def __init__(self, source: Iterator[tuple[str, float]], fallback: tuple[str, float],
                 is_bad: Callable[[str], bool]) -> None:
        self._source = source
        self._items: list[tuple[str, float]] = []
        self._fallback = fallback
        self._is_bad = is_bad

    def clamp(self, index: int) -> int:
        """``index``, or the index of the oldest release when there are fewer."""
        while len(self._items) <= index:
            item = next(self._source, None)
            if item is None:
                break
            self._items.append(item)
        if not self._items:
            self._items.append(self._fallback)
        return min(index, len(self._items) - 1)

    def __getitem__(self, index: int) -> tuple[str, float]:
        return self._items[self.clamp(index)]

    def bad(self, index: int) -> bool:
        return self._is_bad(self[index][0])

    def good(self, index: int) -> int:
        """``index``, or the nearest older release that is not bad."""
        index = self.clamp(index)
        for i in range(index, index + 6):
            if self.clamp(i) != i:
                break
            if not self.bad(i):
                return i
        return index


def _event(h: HistoryRow) -> tuple:
    return (h.deployed_at, 0, h.version, Health(h.health), h.message, h.revision, h.replicas)


def _runs(event: tuple) -> tuple:
    """What the instances of a timeline event run: version, revision, health, message."""
    _at, _kind, version, health, message, revision, _replicas = event
    if stuck_target(message) is not None:
        health, message = Health.HEALTHY, ""
    return version, revision, health, message


def _folds(event: tuple, previous: tuple) -> bool:
    """Whether ``event`` only counts the instances of ``previous``'s (a scale)."""
    return bool(event[1] == 0 and event[6] and previous[6] != 0 and _runs(event) == _runs(previous))


def _stuck_serving(releases: _Releases, now: float) -> int | None:
    """The index of the release that serves while the next one's rollout is stuck: a good one,
    whose next release is not the newest and was built ``STUCK_AFTER`` ago."""
    for k in range(2, 30):
        if releases.clamp(k) != k:
            return None
        if releases[k - 1][1] <= now - STUCK_AFTER and not releases.bad(k):
            return k
    return None


def segment_at(segments: list[Segment], starts: list[float], t: float) -> Segment:
    """The segment active at ``t`` (``starts`` is the list of segment starts)."""
    return segments[max(bisect.bisect_right(starts, t) - 1, 0)]


# Instances ----------------------------------------------------------------------------------------

#: The action kind that replaces one instance (its records say which pod became which).
RESTART_INSTANCE = "restart_instance"
_NODES = 3


def replacements(store: Store, service: str, environment: str) -> list[tuple[str, str, float]]:
    """``(old pod, new pod, when)`` of every instance replaced by an action, oldest first."""
    out = []
    for row in store.finished_actions(RESTART_INSTANCE, service, environment):
        old, new = row.undo.get("instance"), row.undo.get("new")
        if isinstance(old, str) and isinstance(new, str) and row.finished_at is not None:
            out.append((old, new, row.finished_at))
    return out


def current_pods(base: tuple[str, ...], replaced: list[tuple[str, str, float]],
                 since: float) -> list[tuple[str, float | None]]:
    """The pods running now: ``base`` (started at the rollout) with each replacement made since
    then applied in order, as ``(name, replaced at or None)``."""
    pods: list[tuple[str, float | None]] = [(name, None) for name in base]
    for old, new, when in replaced:
        if when < since:
            continue
        for i, (name, _at) in enumerate(pods):
            if name == old:
                pods[i] = (new, when)
    return pods


def replacement_name(pod: str, action_id: str) -> str:
    """The name of the pod that replaces ``pod``: same template hash, a new suffix."""
    prefix = pod.rsplit("-", 1)[0]
    return f"{prefix}-{pod_suffix(f'replace:{action_id}:{pod}')}"


def instances_of(seed: int, spec: ServiceSpec, deployment: Deployment, segment: Segment,
                 pods: list[tuple[str, float | None]], now: float) -> Instances:
    """What ``kubectl get pods`` and ``describe`` would say of the pods of a sandbox deployment:
    their state follows the deployment's health and its message (a crash loop, an image that
    cannot be pulled, an OOM kill, a failing readiness probe, a pod that cannot be scheduled)."""
    service, env = spec.name, deployment.environment
    message = deployment.message
    desired = deployment.replicas_desired or 0
    not_ready = max(desired - (deployment.replicas_ready or 0), 0)
    image = f"registry.example.com/{spec.team}/{service}:{deployment.version}"
    started = segment.start if segment.start != float("-inf") else now - 7 * 86400.0
    instances = []
    events: list[InstanceEvent] = []
    for i, (name, replaced_at) in enumerate(pods):
        created = replaced_at if replaced_at is not None else started
        age = max(now - created, 0.0)
        slot = int(unit(f"{seed}:{name}") * _NODES)
        node = f"{env}-pool-{hexid(f'{seed}:node:{env}:{slot}', 5)}"
        phase, state, reason, detail, last, exit_code, restarts = "Running", "running", "", "", "", None, 0
        ready = True
        lagging = i >= len(pods) - not_ready  # the last ones are those not ready
        if deployment.health is Health.DOWN and "CrashLoopBackOff" in message:
            state, reason, detail = "waiting", "CrashLoopBackOff", message.split(": ", 1)[-1]
            last, exit_code, ready = "Error", 1, False
            restarts = 1 + int(age // 300)
        elif deployment.health is Health.DOWN and "ImagePullBackOff" in message:
            phase, state, reason, ready = "Pending", "waiting", "ImagePullBackOff", False
            detail = message.split(": ", 1)[-1]
        elif "OOMKilled" in message and i == 0:
            last, exit_code, restarts = "OOMKilled", 137, 3
        elif "pending" in message.lower() and lagging:
            phase, state, reason, ready = "Pending", "", "Unschedulable", False
            detail = message
        elif lagging:
            reason, ready, detail = "Unhealthy", False, "Readiness probe failed: HTTP probe failed " \
                                                        "with statuscode: 503"
        container = InstanceContainer(
            name=service, image=image, ready=ready, restarts=restarts, state=state,
            reason=reason if state == "waiting" else "", message=detail if state == "waiting" else "",
            last_reason=last, last_exit_code=exit_code,
            started_at=None if state != "running" else datetime.fromtimestamp(created, UTC))
        headline = reason or last
        created_at = datetime.fromtimestamp(created, UTC)
        conditions = {"PodScheduled": "False" if reason == "Unschedulable" else "True",
                      "Ready": "True" if ready else "False"}
        labels = {"app.kubernetes.io/name": service, "app.kubernetes.io/version": deployment.version,
                  "pod-template-hash": name.rsplit("-", 2)[-2] if name.count("-") >= 2 else ""}
        ip = "" if phase == "Pending" else f"10.{1 + i % 3}.{int(unit(name) * 250)}.{int(unit(name + 'x') * 250)}"
        instances.append(Instance(
            name=name, phase=phase, ready=int(ready), total=1, restarts=restarts, reason=headline,
            node="" if reason == "Unschedulable" else node, ip=ip, created_at=created_at,
            images=(image,), containers=(container,), labels=labels, conditions=conditions,
            manifest=_manifest(name, env, labels, node if reason != "Unschedulable" else "", image, phase,
                               container, created_at)))
        pod_ref = f"Pod/{name}"
        if reason == "CrashLoopBackOff":
            events.append(InstanceEvent(type="Warning", reason="BackOff", object=pod_ref, count=restarts,
                                        message=f"Back-off restarting failed container {service} in pod {name}",
                                        last_seen=datetime.fromtimestamp(now - 30 - 30 * i, UTC)))
        elif reason == "ImagePullBackOff":
            events.append(InstanceEvent(type="Warning", reason="Failed", object=pod_ref, count=3,
                                        message=f"Failed to pull image \"{image}\": {detail}",
                                        last_seen=datetime.fromtimestamp(now - 20 - 20 * i, UTC)))
        elif reason == "Unhealthy":
            events.append(InstanceEvent(type="Warning", reason="Unhealthy", object=pod_ref, count=12,
                                        message=detail, last_seen=datetime.fromtimestamp(now - 15, UTC)))
        elif reason == "Unschedulable":
            events.append(InstanceEvent(type="Warning", reason="FailedScheduling", object=pod_ref, count=4,
                                        message="0/6 nodes are available: 6 Insufficient memory.",
                                        last_seen=datetime.fromtimestamp(now - 40, UTC)))
        if last == "OOMKilled":
            events.append(InstanceEvent(type="Warning", reason="OOMKilling", object=pod_ref, count=restarts,
                                        message=f"Memory cgroup out of memory: Killed process of {service}",
                                        last_seen=datetime.fromtimestamp(now - 600, UTC)))
        if age < 3600:
            events.append(InstanceEvent(type="Normal", reason="Started", object=pod_ref,
                                        message=f"Started container {service}",
                                        last_seen=created_at))
    if deployment.rollout == "stuck" and deployment.target_version and pods:
        _stuck_pod(seed, spec, deployment, instances, events, now)
    events.sort(key=lambda e: e.last_seen or datetime.min.replace(tzinfo=UTC), reverse=True)
    return Instances(service=service, environment=env, instances=tuple(instances), events=tuple(events[:50]),
                     workload=f"deployment/{service} in {env} (sandbox)")


def _stuck_pod(seed: int, spec: ServiceSpec, deployment: Deployment, instances: list[Instance],
               events: list[InstanceEvent], now: float) -> None:
    """The new version's first pod of a stuck rollout (maxSurge 1): it waits for an image that
    cannot be pulled while the old ones serve."""
    service, env, target = spec.name, deployment.environment, deployment.target_version or ""
    (name,) = pod_names(seed, service, env, target, "", 1)
    image = f"registry.example.com/{spec.team}/{service}:{target}"
    began = deployment.updated_at or datetime.fromtimestamp(now, UTC)
    detail = f'Back-off pulling image "{image}"'
    container = InstanceContainer(name=service, image=image, ready=False, restarts=0, state="waiting",
                                  reason="ImagePullBackOff", message=detail)
    labels = {"app.kubernetes.io/name": service, "app.kubernetes.io/version": target,
              "pod-template-hash": name.rsplit("-", 2)[-2]}
    slot = int(unit(f"{seed}:{name}") * _NODES)
    node = f"{env}-pool-{hexid(f'{seed}:node:{env}:{slot}', 5)}"
    instances.append(Instance(
        name=name, phase="Pending", ready=0, total=1, restarts=0, reason="ImagePullBackOff", node=node,
        created_at=began, images=(image,), containers=(container,), labels=labels,
        conditions={"PodScheduled": "True", "Ready": "False"},
        manifest=_manifest(name, env, labels, node, image, "Pending", container, began)))
    pulled = stuck_reason(deployment.message) or f"manifest for {target} not found"
    since = max(now - began.timestamp(), 0.0)
    events.extend((
        InstanceEvent(type="Warning", reason="Failed", object=f"Pod/{name}", count=max(1, int(since // 300)),
                      message=f'Failed to pull image "{image}": {pulled}',
                      last_seen=datetime.fromtimestamp(now - 45, UTC)),
        InstanceEvent(type="Normal", reason="BackOff", object=f"Pod/{name}", count=max(1, int(since // 60)),
                      message=detail, last_seen=datetime.fromtimestamp(now - 10, UTC)),
        InstanceEvent(type="Warning", reason="ProgressDeadlineExceeded", object=f"Deployment/{service}",
                      message=f'ReplicaSet "{name.rsplit("-", 1)[0]}" has timed out progressing.',
                      last_seen=began + timedelta(minutes=10)),
    ))


def _manifest(name: str, env: str, labels: dict[str, str], node: str, image: str, phase: str,
              container: InstanceContainer, created: datetime) -> str:
    import yaml  # noqa: PLC0415 - only for the detail view

    state: dict[str, object] = {}
    if container.state == "running":
        state = {"running": {"startedAt": created.strftime("%Y-%m-%dT%H:%M:%SZ")}}
    elif container.state == "waiting":
        state = {"waiting": {"reason": container.reason, "message": container.message}}
    status: dict[str, object] = {"phase": phase, "containerStatuses": [{
        "name": container.name, "image": image, "ready": container.ready,
        "restartCount": container.restarts, "state": state,
        **({"lastState": {"terminated": {"reason": container.last_reason,
                                         "exitCode": container.last_exit_code}}}
           if container.last_reason else {})}]}
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": env, "labels": labels,
                        "creationTimestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ")},
           "spec": {**({"nodeName": node} if node else {}),
                    "containers": [{"name": container.name, "image": image,
                                    "resources": {"limits": {"memory": "512Mi"}}}]},
           "status": status}
    return yaml.safe_dump(pod, sort_keys=False)
