"""Preview environments over time: now and then a pull request is opened and previewed in an
environment of its own, with a time to live; expired preview environments are removed, as a TTL
controller removes them.

The schedule is a function of the seed and the time of the first start alone, the same on every
machine and for every clock. The time after the first start is cut into slots of :data:`PERIOD`;
slot ``k`` (from 1) opens a pull request's preview at a seeded moment within it, unless its draw
says no pull request came then (:data:`OPEN_SHARE`) or :data:`MAX_ALIVE` previews of the schedule
(the two a fresh sandbox starts with included) are alive at that moment. A preview is either
worked on (deployed at its opening and again at each push to the pull request; a time to live
from :data:`ACTIVE_TTLS`) or left idle (deployed at its opening only; :data:`IDLE_TTLS`). Its
number follows the slot, so pull requests are numbered in the order they were opened.

What the schedule did is written to the store when the sandbox is next asked (:meth:`catch_up`),
as the ``preview-environment`` template writes a preview (so extend and delete work on it): every
opening and deployment after the store's cursor up to now, once (the cursor is claimed in the
store: two processes on one file do not both write it). A preview opened and expired between two
catch-ups is never written; one a user deleted gets no more deployments. The first start writes
nothing here: the first slot begins :data:`PERIOD` after it.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .preview_state import SEEDED_DEPLOY_DELAY, seeded_previews, write_preview
from .rand import rng

if TYPE_CHECKING:
    from .fleet import Fleet
    from .store import EnvironmentRow, Store

#: Length of a slot of the schedule (at most one pull request opened in each).
PERIOD = 5 * 3600.0
#: Share of the slots in which a pull request is opened.
OPEN_SHARE = 0.8
#: At most this many previews of the schedule are alive at once (a slot opens none beyond it).
MAX_ALIVE = 4
#: Share of the previews left idle after their first deployment.
IDLE_SHARE = 0.4
#: Times to live, in hours, of a preview worked on and of one left idle.
ACTIVE_TTLS, IDLE_TTLS = (24, 48), (48, 72)
#: The longest a preview of the schedule lives (seconds).
LONGEST_TTL = max(ACTIVE_TTLS + IDLE_TTLS) * 3600.0
#: Pushes to a pull request worked on (each deploys its services again), within this share of
#: its time to live, the first at least an hour after the opening.
PUSHES, PUSH_WITHIN = (1, 3), 0.6
#: The first pull request number of the schedule; slot ``k``'s is within ``STRIDE`` after
#: ``FIRST_NUMBER + STRIDE * k``.
FIRST_NUMBER, STRIDE = 10_000, 4
#: The meta key of the store's cursor: everything up to it is written.
CURSOR = "previews_until"
#: A pull request on a service brings a service it depends on with it this often.
WITH_DEPENDENCY = 0.4


@dataclass(frozen=True, slots=True)
class OpenedPreview:
    """A preview environment the schedule opens for a pull request."""

    slot: int
    number: int
    made: float
    ttl_hours: int
    services: tuple[str, ...]
    #: ``(when, service)`` of each deployment into it, oldest first.
    deploys: tuple[tuple[float, str], ...]
    idle: bool

    @property
    def name(self) -> str:
        return f"pr-{self.number}"

    @property
    def expires_at(self) -> float:
        return self.made + self.ttl_hours * 3600.0

    @property
    def action_id(self) -> str:
        """The id its rows are recorded as made by (as a provisioning's job id)."""
        return f"pull-request-{self.number}"

    @property
    def details(self) -> dict[str, str]:
        return {"pull request": f"#{self.number}"}

    def deployments(self) -> Iterator[tuple[float, str, float]]:
        """Each running the release of the moment it is deployed."""
        for at, service in self.deploys:
            yield at, service, at


class PreviewSchedule:
    """The previews a sandbox first started at ``seeded_at`` opens, drawn slot by slot as far
    as they are looked at."""

    def __init__(self, fleet: Fleet, seeded_at: float) -> None:
        self.fleet = fleet
        self.seed = fleet.world.seed
        self.seeded_at = seeded_at
        #: ``(made, expires)`` of every preview of the schedule so far, the seeded ones first.
        self._lives = [(p.made, p.expires_at) for p in seeded_previews(fleet, seeded_at)]
        self.opened: list[OpenedPreview] = []
        self._made: list[float] = []
        self._next_slot = 1
        specs = fleet.world.seeded
        apis = [spec for spec in specs if spec.kind == "api"]
        self._pool = sorted(spec.name for spec in (apis or specs))

    def _draw(self, k: int) -> OpenedPreview | None:
        """Slot ``k``'s pull request, if one is opened in it (before the bound of alive ones)."""
        r = rng(f"{self.seed}:preview-slot:{k}")
        if r.random() >= OPEN_SHARE or not self._pool:
            return None
        made = self.seeded_at + (k + r.uniform(0.1, 0.9)) * PERIOD
        number = FIRST_NUMBER + STRIDE * k + r.randrange(STRIDE)
        idle = r.random() < IDLE_SHARE
        ttl = r.choice(IDLE_TTLS if idle else ACTIVE_TTLS)
        main = r.choice(self._pool)
        services = {main}
        spec = self.fleet.world.get(main)
        deps = [d for d in (spec.depends_on if spec is not None else ())
                if self.fleet.world.get(d) is not None]
        if deps and r.random() < WITH_DEPENDENCY:
            services.add(r.choice(deps))
        ordered = tuple(sorted(services))
        deploys = [(made + i * SEEDED_DEPLOY_DELAY, s) for i, s in enumerate(ordered, start=1)]
        if not idle:
            for _ in range(r.randint(*PUSHES)):
                at = made + r.uniform(3600.0, max(ttl * 3600.0 * PUSH_WITHIN, 3600.0))
                deploys.append((at, main))
        return OpenedPreview(k, number, made, ttl, ordered, tuple(sorted(deploys)), idle)

    def extend(self, until: float) -> None:
        """Draw the slots that begin by ``until``."""
        while self.seeded_at + self._next_slot * PERIOD <= until:
            k = self._next_slot
            self._next_slot += 1
            preview = self._draw(k)
            if preview is None:
                continue
            alive = sum(made <= preview.made < expires for made, expires in self._lives[-32:])
            if alive >= MAX_ALIVE:
                continue
            self._lives.append((preview.made, preview.expires_at))
            self.opened.append(preview)
            self._made.append(preview.made)

    def between(self, start: float, end: float) -> list[OpenedPreview]:
        """The previews opened in ``(start, end]``, oldest first."""
        self.extend(end)
        return self.opened[bisect.bisect_right(self._made, start):
                           bisect.bisect_right(self._made, end)]

    def next_event(self, after: float) -> float:
        """The time of the schedule's first opening or deployment after ``after`` (inf: none
        within the next few days)."""
        soonest = float("inf")
        for preview in self.between(after - LONGEST_TTL, after + 4 * LONGEST_TTL):
            if preview.made > after:
                return min(soonest, preview.made)
            soonest = min([soonest] + [at for at, _service in preview.deploys if at > after])
        return soonest


class PreviewSimulation:
    """Writes the schedule's previews into a sandbox's store as time passes."""

    def __init__(self, store: Store, fleet: Fleet, seeded_at: float) -> None:
        self.store = store
        self.fleet = fleet
        self.schedule = PreviewSchedule(fleet, seeded_at)
        self._cursor = self._stored_cursor()
        self._due = self.schedule.next_event(self._cursor)

    def _stored_cursor(self) -> float:
        value = self.store.meta().get(CURSOR)
        return float(value) if value is not None else self.schedule.seeded_at

    def catch_up(self, now: float) -> None:
        """Write what the schedule did after the store's cursor up to ``now``."""
        if now < self._due:
            return
        stored = self.store.meta().get(CURSOR)
        cursor = float(stored) if stored is not None else self.schedule.seeded_at
        if now > cursor and self.store.claim_meta(CURSOR, stored, repr(now)):
            self._apply(cursor, now)
        self._cursor = max(now, cursor)
        self._due = self.schedule.next_event(self._cursor)

    def _apply(self, cursor: float, now: float) -> None:
        store = self.store
        for preview in self.schedule.between(cursor - LONGEST_TTL, now):
            opened = preview.made > cursor  # since: made as provisioning makes one
            if opened and (preview.expires_at <= now or store.environment(preview.name) is not None):
                continue  # gone by now, or the name is taken
            if not opened and store.environment_owner(preview.name) != preview.action_id:
                continue  # deleted (or never written)
            write_preview(store, self.fleet, preview, create=opened, after=cursor, until=now)


def sweep_expired(store: Store, rows: list[EnvironmentRow], now: float) -> list[EnvironmentRow]:
    """The environments of ``rows`` that exist at ``now``; each preview environment among them
    expired by then is deleted with everything in it (what a TTL controller does)."""
    alive = []
    for row in rows:
        if row.expires_at is None or row.expires_at > now:
            alive.append(row)
        elif row.kind == "preview":
            store.delete_environment(row.name)
    return alive
