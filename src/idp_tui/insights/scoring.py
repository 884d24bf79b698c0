"""The dashboard's one scorecard count: the Catalog's Level column and ``level:`` filter and the
Insights pane's scorecards read the same :class:`Scored`, so they always agree.

A count is kept per hub and made again only when what it was counted from changed: the
catalog's services, the hub's answer of the delivery history (its topic is the same all day:
:func:`~idp_tui.insights.scorecards.day_range`), or the rules; or when asked ``fresh`` (the
Insights pane's ctrl+r: every topic asked again). Two panes asking at once share one count.
Textual-free; the rules are checked in a thread. Light to import (the runtime sets each hub's
trail here, :attr:`Scorer.trail`): the counting's modules are imported when it counts.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..hub import Hub
    from ..hub.failures import Failure
    from . import scorecards as sc
    from .facts import World
    from .rules import Level, Rule


@dataclass(frozen=True, eq=False)
class Scored:
    """Every service's scorecard, counted once from the world the hub's answers make."""

    world: World
    cards: list[sc.Card]
    failures: list[Failure] = field(default_factory=list)
    #: What it was counted from (see :func:`_key`).
    key: tuple[Any, ...] = ()
    #: The rules it was counted with.
    rules: tuple[Rule, ...] = ()

    @property
    def levels(self) -> dict[str, Level | None]:
        """Service name → level (None: below bronze)."""
        from .scorecards import levels_by_service

        return levels_by_service(self.cards)


class Scorer:
    """One hub's last count, and the one under way."""

    def __init__(self) -> None:
        self.last: Scored | None = None
        self._running: asyncio.Task[Scored] | None = None
        #: Counts made (a test reads it: one count for both panes).
        self.counts = 0
        #: Called with each new count (a pane showing an older one counts again from it).
        self.listeners: list[Callable[[Scored], None]] = []
        #: The runtime's audit trail: its deploys count in the delivery facts (None: not read).
        #: Set once, where the runtime is built (``runtime.build_runtime``).
        self.trail: Any = None

    async def score(self, hub: Hub, now: datetime, rules: Sequence[Rule], *,
                    fresh: bool = False) -> Scored:
        """The scorecards of every catalog service: the last count while what it was counted
        from is the same, else a new one (``fresh``: from every topic asked again)."""
        from .audit_history import trail_mark

        rules = list(rules)
        if not fresh:
            running = self._running
            if running is not None and not running.done():  # the newest count: shared
                return await asyncio.shield(running)
            if self.last is not None and self.last.key == (*_peek(hub, now, rules),
                                                           trail_mark(self.trail)):
                return self.last
        task = asyncio.get_running_loop().create_task(self._count(hub, now, rules, fresh))
        self._running = task  # (a caller cancelled does not stop it: another may wait on it)
        task.add_done_callback(_retrieved)
        return await asyncio.shield(task)

    async def _count(self, hub: Hub, now: datetime, rules: list[Rule], fresh: bool) -> Scored:
        from . import scorecards as sc
        from .audit_history import trail_mark

        answers: dict[Any, Any] = {}
        mark = trail_mark(self.trail)  # (before it is read: a deploy meanwhile counts again)
        world, failures = await sc.collect(hub, now, fresh=fresh, answers=answers,
                                           trail=self.trail)
        cards = await asyncio.to_thread(sc.score, rules, world) if rules else []
        self.counts += 1
        scored = Scored(world, cards, failures, (*_key_of(world, answers, now, rules), mark),
                        tuple(rules))
        self.last = scored
        for listener in list(self.listeners):
            listener(scored)
        return scored


def _retrieved(task: asyncio.Task[Scored]) -> None:
    """A count's failure is its callers' (said by them), not an unretrieved task's."""
    if not task.cancelled():
        task.exception()


_SCORERS: weakref.WeakKeyDictionary[Any, Scorer] = weakref.WeakKeyDictionary()


def scorer_of(hub: Hub) -> Scorer:
    """The hub's scorer (made on first use)."""
    found = _SCORERS.get(hub)
    if found is None:
        found = _SCORERS[hub] = Scorer()
    return found


async def scored(hub: Hub, now: datetime, rules: Sequence[Rule], *,
                 fresh: bool = False) -> Scored:
    """:meth:`Scorer.score` of the hub's scorer."""
    return await scorer_of(hub).score(hub, now, rules, fresh=fresh)


def _delivery_topic(now: datetime) -> Any:
    from ..hub import Topic
    from . import scorecards as sc
    from .facts import DELIVERY_DAYS

    return Topic.delivery(*sc.day_range(now, DELIVERY_DAYS))


def _peek(hub: Hub, now: datetime, rules: list[Rule]) -> tuple[Any, ...]:
    """The key a count made now would have, from the hub's last answers (without asking)."""
    from ..hub import Topic
    from . import scorecards as sc

    catalog = hub.cached(Topic.catalog())
    names = frozenset(s.name for s in (catalog.data or ())) if catalog is not None else None
    topic = _delivery_topic(now)
    return (names, topic, _Same(hub.cached(topic)), rules, sc.recount_period(now))


def _key_of(world: World, answers: dict[Any, Any], now: datetime,
            rules: list[Rule]) -> tuple[Any, ...]:
    from . import scorecards as sc

    topic = _delivery_topic(now)
    return (frozenset(s.name for s in world.services), topic, _Same(answers.get(topic)), rules,
            sc.recount_period(now))


class _Same:
    """A hub's answer in a key: the same answer (not an equal one, compared record by
    record)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.value is self.value and self.value is not None

    __hash__ = None  # type: ignore[assignment]
