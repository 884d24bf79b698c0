"""A preview environment's rows in the sandbox's store: what provisioning one writes (the
``preview-environment`` template, ``provision.py``), and the previews a fresh sandbox starts with.

A fresh sandbox starts with two preview environments, made as a user's provisioning makes them
(the environment, its resource, one deployment of each of its services running the version dev
ran then), so extending and deleting them work as on any other:

* one about to expire: made :data:`EXPIRING_AGE` before the first start for
  :data:`EXPIRING_TTL_HOURS` (it expires a few hours after it);
* one left idle: made :data:`IDLE_AGE` before the first start for :data:`IDLE_TTL_HOURS`, with
  no deployment into it since.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from idp_tui import Health

from .rand import hexid, rng, unit
from .store import DeploymentRow, EnvironmentRow, ResourceRow, Store

if TYPE_CHECKING:
    from .fleet import Fleet

#: Order of preview environments (after the static ones).
PREVIEW_ORDER = 3
#: The preview seeded about to expire: made this long before the first start, for this long.
EXPIRING_AGE, EXPIRING_TTL_HOURS = 20 * 3600.0, 24
#: The preview seeded idle: made this long before the first start, for this long.
IDLE_AGE, IDLE_TTL_HOURS = 52 * 3600.0, 168
#: How many services each seeded preview runs.
SEEDED_SERVICES = 2
#: Seconds between a seeded preview's creation and each of its deployments.
SEEDED_DEPLOY_DELAY = 40.0


def create_preview(store: Store, name: str, expires_at: float, ttl_hours: int,
                   services: Sequence[str], at: float, action_id: str,
                   details: dict[str, str] | None = None) -> None:
    """The environment ``name`` (expiring at ``expires_at``) and its resource (with ``details``
    added to its own), made at ``at`` by ``action_id``; an expired one of the same name is
    cleared by the caller first."""
    store.put_environment(EnvironmentRow(name, PREVIEW_ORDER, "preview", False, expires_at),
                          action_id=action_id)
    store.put_resource(ResourceRow("environment", name, None, name, "ready", at, {
        "namespace": f"preview-{name}", "services": ", ".join(services),
        "time to live": f"{ttl_hours} h", **(details or {})}, action_id))


def deploy_into_preview(store: Store, name: str, service: str, version: str, at: float,
                        action_id: str) -> None:
    """``version`` of ``service`` running in the preview ``name`` from ``at`` (one instance)."""
    store.put_deployment(DeploymentRow(service, name, version, 1, 1, Health.HEALTHY.value, "", at),
                         revision=hexid(f"preview:{action_id}:{service}", 5))


class Preview(Protocol):
    """A preview environment made without a user's provisioning: a seeded one, or one a pull
    request opens (``preview_sim.py``)."""

    @property
    def name(self) -> str: ...
    @property
    def made(self) -> float: ...
    @property
    def ttl_hours(self) -> int: ...
    @property
    def services(self) -> tuple[str, ...]: ...
    @property
    def expires_at(self) -> float: ...
    @property
    def action_id(self) -> str: ...
    @property
    def details(self) -> dict[str, str]: ...

    def deployments(self) -> Iterator[tuple[float, str, float]]:
        """``(when, service, chosen)`` of each deployment into it, oldest first, the first one
        of each of its services first: it runs the newest good release built by ``chosen``."""
        ...


def write_preview(store: Store, fleet: Fleet, preview: Preview, *, create: bool = True,
                  after: float = float("-inf"), until: float = float("inf")) -> None:
    """Write ``preview`` as provisioning writes one: its environment and resource (unless
    ``create`` is false: they are written already), and its deployments in ``(after, until]``."""
    if create:
        create_preview(store, preview.name, preview.expires_at, preview.ttl_hours,
                       preview.services, preview.made, preview.action_id, preview.details)
    for i, (at, service, chosen) in enumerate(preview.deployments()):
        if not after < at <= until:
            continue
        spec = fleet.world.get(service)
        if spec is None:
            continue
        version, _built = fleet.good_release(spec, chosen)
        deploy_into_preview(store, preview.name, service, version, at,
                            preview.action_id if i < len(preview.services)
                            else f"{preview.action_id}:push-{i}")


@dataclass(frozen=True, slots=True)
class SeededPreview:
    name: str
    made: float
    ttl_hours: int
    services: tuple[str, ...]

    @property
    def expires_at(self) -> float:
        return self.made + self.ttl_hours * 3600.0

    @property
    def action_id(self) -> str:
        """The id its rows are recorded as made by (as a provisioning's job id)."""
        return f"seeded-{self.name}"

    @property
    def details(self) -> dict[str, str]:
        return {}

    def deployments(self) -> Iterator[tuple[float, str, float]]:
        """One of each service, :data:`SEEDED_DEPLOY_DELAY` apart, each running the release of
        the moment it was made."""
        for i, service in enumerate(self.services, start=1):
            yield self.made + i * SEEDED_DEPLOY_DELAY, service, self.made


def seeded_previews(fleet: Fleet, now: float) -> list[SeededPreview]:
    """The preview environments a sandbox first started at ``now`` has: their names (``pr-``
    and a number), when they were made and the services in them, from the seed."""
    world = fleet.world
    r = rng(f"{world.seed}:previews")
    # Customer-facing APIs first: what a pull request is previewed with.
    pool = sorted(world.seeded, key=lambda spec: (spec.kind != "api",
                                                  unit(f"{world.seed}:preview:{spec.name}")))
    pool = pool[:max(SEEDED_SERVICES * 4, 1)]
    numbers = r.sample(range(1000, 9999), 2)
    made = []
    for number, age, ttl in ((numbers[0], EXPIRING_AGE, EXPIRING_TTL_HOURS),
                             (numbers[1], IDLE_AGE, IDLE_TTL_HOURS)):
        picked = r.sample(pool, min(SEEDED_SERVICES, len(pool)))
        made.append(SeededPreview(f"pr-{number}", now - age, ttl,
                                  tuple(sorted(spec.name for spec in picked))))
    return made


def seed_previews(store: Store, fleet: Fleet, now: float) -> list[SeededPreview]:
    """Make the seeded preview environments in ``store`` (a sandbox first started at ``now``),
    each service running the newest good release built before the preview was made."""
    previews = seeded_previews(fleet, now)
    for preview in previews:
        write_preview(store, fleet, preview)
    return previews
