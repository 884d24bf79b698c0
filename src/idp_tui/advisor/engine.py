"""The advisor engine: rules evaluated over the hub's snapshots when they refresh.

:class:`Advisor` evaluates its rules over an :class:`AdvisorView` (``evaluate``: pure, no I/O but
the dismissals file). :meth:`Advisor.watch` keeps a view up to date from the hub's topics (catalog,
environments, pipelines, the delivery history of the scorecards' window, and the metrics of
recently deployed services) and evaluates again after each refresh: it has no timer of its own.
Before each evaluation it asks the hub's one scorecard count (:meth:`Advisor.count_scorecards`,
made again only when what it was counted from changed) for the scorecard gap rule, and a new
count made elsewhere is one evaluation more.
The evaluation runs in a worker thread over a copy of the view (``AdvisorView.copy``), one at a
time: refreshes that arrive meanwhile are one evaluation more once it ends, and the hub's loop
(the dashboard's) goes on drawing and answering keys while the rules count. A refresh that
hands over the data the view already holds (the same object: the hub hands its last data over
again when no source's answer changed) is not evaluated again, unless the last evaluation is
:data:`REEVALUATE` old (the rules read the time too). A dismissal or a snooze hides its
recommendation from the last evaluation at once, without evaluating again.
Which topics of one service to follow (the metrics of the recent deploys, the runs of the
services whose drift is judged) is read by the same worker after the evaluation, from the same
copy, and which deployments' use to ask in a thread of its own: nothing that reads every
deployment runs on the loop. What the rules and those candidates derive from the deployments
is kept per deployment while its record is the same object (``AdvisorView.each``), so an
evaluation after a refresh reads again only what the refresh changed.
:func:`gather` builds a view once, for the command line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..api.clock import Clock, SystemClock
from ..api.kinds import Capability, Signal, Window
from ..api.models import Deployment, metrics_step
from ..hub.topics import Snapshot, Topic
from .builtin import waiting
from .cost import USAGE_REFRESH, USAGE_WINDOW, usage_candidates, usage_step
from .dismissals import Dismissals
from .lifecycle import delivery_topic
from .model import Recommendation
from .rules import AdvisorView, Rule, load_rules
from .settings import AdvisorConfig

if TYPE_CHECKING:
    from ..hub import Hub, Subscription

__all__ = ["Advisor", "Advice", "drift_candidates", "gather", "metrics_candidates",
           "metrics_window", "view_metrics_candidates"]

log = logging.getLogger("idp_tui")

#: Runs asked of a service whose drift is judged.
RUNS_PER_SERVICE = 100
#: The signals the regression rule reads.
SIGNALS = (Signal.REQUEST_RATE, Signal.ERROR_RATIO, Signal.LATENCY_P95)
#: A refresh that changed nothing the view holds is evaluated once the last evaluation is this
#: old (a preview's hours left, a version's wait go on with the time alone).
REEVALUATE = timedelta(minutes=1)


@dataclass(frozen=True)
class Advice:
    """One evaluation: the recommendations shown (most urgent first), how many are hidden
    (dismissed or snoozed), and the rules that failed, in words."""

    recommendations: tuple[Recommendation, ...] = ()
    hidden: int = 0
    errors: tuple[str, ...] = ()
    at: datetime | None = None


def metrics_window(settings: AdvisorConfig) -> Window:
    """The shortest metrics window that holds a deploy's baseline and its judged time after."""
    span = timedelta(minutes=settings.baseline_minutes + settings.regression_minutes)
    return next((w for w in (Window.H1, Window.H6, Window.H24) if w.delta >= span), Window.H24)


def metrics_candidates(deployments: dict[tuple[str, str], Deployment] | None, now: datetime,
                       settings: AdvisorConfig) -> list[tuple[str, str]]:
    """The deployments whose metrics the regression rule needs: deployed within the judged time,
    the newest first, at most ``max_metric_queries``."""
    recent: list[tuple[datetime, str, str]] = []
    limit = timedelta(minutes=settings.regression_minutes)
    for (service, environment), dep in (deployments or {}).items():
        at = _judged_at(dep)
        if at is not None and timedelta(0) <= now - at <= limit:
            recent.append((at, service, environment))
    recent.sort(reverse=True)
    return [(s, e) for _, s, e in recent[: settings.max_metric_queries]]


def _judged_at(dep: Deployment) -> datetime | None:
    """When a deployment whose metrics may be judged was made (None: not to be judged)."""
    if dep.updated_at is None or dep.rollout == "stuck":
        return None
    return dep.updated_at if dep.updated_at.tzinfo else dep.updated_at.replace(tzinfo=UTC)


def view_metrics_candidates(view: AdvisorView, settings: AdvisorConfig) -> list[tuple[str, str]]:
    """:func:`metrics_candidates` of the view's deployments at its time. The deployments made
    within the judged time (or later) are kept in ``view.derived``: after a refresh only those
    it changed are read again, and as the time moves on the kept ones are let go once too old
    (a deployment too old stays so: the time goes back only by a reading from scratch)."""
    deployments = view.deployments
    if not deployments:
        return []
    limit = timedelta(minutes=settings.regression_minutes)
    now = view.now
    floor = now - limit
    held = view.derived.get("recent-deployments")
    usable = held is not None and held[1] == limit and held[2] <= floor
    generation, keys = view.changes_since(held[0] if usable else None)
    recent: dict[tuple[str, str], datetime]
    if keys is None:
        recent = {key: at for key, dep in deployments.items()
                  if (at := _judged_at(dep)) is not None and at >= floor}
    else:
        recent = {key: at for key, at in held[3].items() if at >= floor}  # type: ignore[index]
        for key in keys:
            dep = deployments.get(key)
            at = _judged_at(dep) if dep is not None else None
            if at is not None and at >= floor:
                recent[key] = at
            else:
                recent.pop(key, None)
    view.derived["recent-deployments"] = (generation, limit, floor, recent)
    found = [(at, s, e) for (s, e), at in recent.items() if timedelta(0) <= now - at <= limit]
    found.sort(reverse=True)
    return [(s, e) for _, s, e in found[: settings.max_metric_queries]]


def drift_candidates(view: AdvisorView, settings: AdvisorConfig) -> list[str]:
    """The services whose version has waited before production longer than ``drift_hours``
    (their own run listings tell what piled up since), the longest waiting first, at most
    ``max_metric_queries``: the drift rule's own (``builtin.waiting``, kept in the view
    with it)."""
    found: list[tuple[datetime, str]] = []
    wait = timedelta(hours=settings.drift_hours)
    for production in view.production():
        before = view.before(production)
        if before is None:
            continue
        found += [(at, service) for service, _, _, at, _ in waiting(view, production, before, wait)]
    found.sort()
    return list(dict.fromkeys(s for _, s in found))[: settings.max_metric_queries]


def configured_scorecards(config: Any) -> tuple[list[Any] | None, str | None]:
    """The scorecard rules ``config`` (an ``AppConfig``) asks for, or (None, why) when a rule
    file is bad (the advisor's gap rule then says nothing rather than judge by other rules)."""
    from ..configerror import ConfigError  # noqa: PLC0415
    from ..insights.rules import configured_rules  # noqa: PLC0415

    try:
        return configured_rules(config), None
    except ConfigError as exc:
        return None, f"scorecard rules: {exc}"


class Advisor:
    """Rules, settings and dismissals; evaluates views and follows the hub."""

    def __init__(self, rules: Iterable[Rule] | None = None, settings: AdvisorConfig | None = None,
                 dismissals: Dismissals | None = None, clock: Clock | None = None,
                 scorecards: Sequence[Any] | None = None) -> None:
        """``scorecards``: the scorecard rules the configuration asks for (for the rules that
        read scorecards; None: the built-in ones)."""
        self.settings = settings or AdvisorConfig()
        load_errors: list[str] = []
        if rules is None:
            loaded, load_errors = load_rules()
            rules = loaded
        disabled = set(self.settings.disabled)
        self.rules = [r for r in rules if r.id not in disabled]
        if scorecards is not None:
            for rule in self.rules:
                use = getattr(rule, "use_scorecards", None)
                if use is not None:
                    use(scorecards)
        self.load_errors = tuple(load_errors)
        self.dismissals = dismissals or Dismissals(None)
        self.clock = clock or SystemClock()
        self.advice = Advice()
        self._view: AdvisorView | None = None
        self._subs: dict[Topic, Subscription] = {}
        #: Each followed topic's data last put into the view, and when the view was last
        #: evaluated (its time).
        self._applied: dict[Topic, Any] = {}
        self._evaluated_at: datetime | None = None
        self._hub: Hub | None = None
        self._listeners: list[Callable[[Advice], None]] = []
        self._pending = False
        #: The evaluation under way (in a worker thread), and whether another is wanted after it.
        self._evaluating: asyncio.Task[None] | None = None
        self._dirty = False
        #: Every recommendation of the last evaluation, before dismissals and snoozes.
        self._found: tuple[Recommendation, ...] = ()
        #: When the cost and capacity rules' use was last asked for, and the asking under way.
        self._usage_at: datetime | None = None
        self._usage_task: asyncio.Task[None] | None = None
        #: Whether a count is being asked for the view (its own new count is no reason to
        #: evaluate again).
        self._counting = False

    # Evaluation -----------------------------------------------------------------------------
    def evaluate(self, view: AdvisorView) -> Advice:
        found: dict[str, Recommendation] = {}
        errors = list(self.load_errors)
        for rule in self.rules:
            try:
                for rec in rule.evaluate(view, self.settings):
                    if not isinstance(rec, Recommendation):
                        raise TypeError(f"returned {type(rec).__name__}, not a Recommendation")
                    found.setdefault(rec.id, rec)
            except Exception as exc:  # noqa: BLE001 - one rule's bug is said, not raised
                log.warning("advisor rule %s failed", rule.id, exc_info=True)
                errors.append(f"advisor rule {rule.id!r} failed: {type(exc).__name__}: {exc}")
        self._found = tuple(found.values())
        self.advice = self._shown(self._found, tuple(errors), view.now)
        return self.advice

    def _shown(self, found: tuple[Recommendation, ...], errors: tuple[str, ...],
               now: datetime) -> Advice:
        shown = sorted((r for r in found if not self.dismissals.hidden(r.id, now)),
                       key=Recommendation.sort_key)
        return Advice(tuple(shown), len(found) - len(shown), errors, now)

    def dismiss(self, rec_id: str) -> bool:
        saved = self.dismissals.dismiss(rec_id, self.clock.now())
        self._hide_now()
        return saved

    def snooze(self, rec_id: str, for_: timedelta) -> bool:
        saved = self.dismissals.snooze(rec_id, self.clock.now(), for_)
        self._hide_now()
        return saved

    def _hide_now(self) -> None:
        """Say the last evaluation again without what is dismissed or snoozed now."""
        if self.advice.at is None:
            return
        self.advice = self._shown(self._found, self.advice.errors, self.advice.at)
        self._tell(self.advice)

    @property
    def evaluating(self) -> bool:
        """Whether an evaluation is under way (its advice not said yet)."""
        return self._evaluating is not None and not self._evaluating.done()

    async def evaluated(self) -> None:
        """Return once no evaluation is under way (the last one's advice said)."""
        while self._evaluating is not None and not self._evaluating.done():
            await asyncio.shield(self._evaluating)

    def usage(self, service: str | None = None) -> dict[tuple[str, str], list[Any]]:
        """The CPU, memory and request-rate series the cost and capacity rules last read, by
        ``(service, environment)`` (only ``service``'s when given); empty before the advisor
        follows the hub. A copy: the view's own mapping is the advisor's."""
        usage = self._view.usage if self._view is not None else {}
        return {key: series for key, series in usage.items()
                if service is None or key[0] == service}

    def _tell(self, advice: Advice) -> None:
        for listener in list(self._listeners):
            listener(advice)

    # Scorecards -----------------------------------------------------------------------------
    def scorecard_rules(self) -> list[Any]:
        """The scorecard rules the advisor's rules read scorecards by (the first such rule's:
        ``scorecard_rules()``); empty when none reads them."""
        for rule in self.rules:
            rules = getattr(rule, "scorecard_rules", None)
            if rules is not None:
                return list(rules())
        return []

    async def count_scorecards(self, hub: Hub, view: AdvisorView) -> None:
        """Put the hub's one scorecard count (``insights.scoring``: the Insights pane's, the
        Catalog's levels' and, counted the same way, ``idp-tui scorecards``') into
        ``view.scorecards``, at the view's time: the last count while what it was counted from
        is the same (cheap), else a new one (the facts checked in a thread). The deploys made
        through idp-tui count in its delivery facts (the runtime's trail, set on the hub's
        scorer where the runtime is built). Nothing for a catalog not known or larger than ``scorecard_max_services``, or
        without rules reading scorecards; a count that fails is put there as its exception
        (the gap rule says it). On the hub's loop."""
        services = view.services
        rules = self.scorecard_rules() if services is not None \
            and len(services) <= self.settings.scorecard_max_services else []
        if not rules:
            view.scorecards = None
            return
        from ..insights.scoring import scorer_of  # noqa: PLC0415

        scorer = scorer_of(hub)
        self._counting = True
        try:
            view.scorecards = await scorer.score(hub, view.now, rules)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - said by the gap rule, never raised
            log.warning("advisor: the scorecards could not be counted", exc_info=True)
            view.scorecards = exc
        finally:
            self._counting = False

    def _on_count(self, scored: Any) -> None:
        """A new scorecard count made elsewhere (the Insights pane's ctrl+r, a deploy in the
        trail seen by the Catalog): evaluated again with it."""
        view = self._view
        if not self._counting and view is not None and scored is not view.scorecards:
            self._soon()

    # Following the hub ----------------------------------------------------------------------
    def watch(self, hub: Hub, listener: Callable[[Advice], None] | None = None) -> None:
        """Follow the hub's topics (on its loop); ``listener`` gets every new :class:`Advice`."""
        self._hub = hub
        if any(hasattr(rule, "scorecard_rules") for rule in self.rules):
            from ..insights.scoring import scorer_of  # noqa: PLC0415

            scorer_of(hub).listeners.append(self._on_count)
        if listener is not None:
            self._listeners.append(listener)
        self._view = AdvisorView(now=self.clock.now(), metrics_step=self._step())
        self._applied, self._evaluated_at = {}, None
        self._view.sources["metrics"] = metrics_sources(hub)
        for topic in (Topic.catalog(), Topic.environments(), Topic.pipelines(),
                      Topic.cost_prices()):
            self._subs[topic] = hub.watch(topic, self._on_snapshot)
        self._follow_delivery()

    def close(self) -> None:
        if self._evaluating is not None:
            self._evaluating.cancel()
            self._evaluating = None
        if self._usage_task is not None:
            self._usage_task.cancel()
            self._usage_task = None
        for sub in self._subs.values():
            sub.close()
        self._subs.clear()
        self._applied.clear()
        if self._hub is not None:
            from ..insights.scoring import scorer_of  # noqa: PLC0415

            listeners = scorer_of(self._hub).listeners
            if self._on_count in listeners:
                listeners.remove(self._on_count)
        self._hub = None

    def _step(self) -> float:
        return metrics_step(metrics_window(self.settings))

    def _on_snapshot(self, snapshot: Snapshot[Any]) -> None:
        view = self._view
        if view is None:
            return
        unchanged = snapshot.data is None or snapshot.data is self._applied.get(snapshot.topic)
        if not unchanged:
            self._applied[snapshot.topic] = snapshot.data
            apply(view, snapshot)
        if snapshot.topic.kind.value == "environments":
            self._follow_usage(view)
        if unchanged and not self._stale():
            return  # nothing new to put into the view: evaluated again only for the time gone by
        if snapshot.topic.kind.value in ("environments", "catalog"):
            self._follow_delivery()
        self._soon()

    def _stale(self) -> bool:
        """Whether the last evaluation is :data:`REEVALUATE` old (or there was none)."""
        return self._evaluated_at is None or self.clock.now() - self._evaluated_at >= REEVALUATE

    def _soon(self) -> None:
        """Evaluate once the snapshots delivered together have been applied (a refresh of
        every topic is one evaluation, not one per topic)."""
        if not self._pending:
            self._pending = True
            asyncio.get_running_loop().call_soon(self._pending_again)

    def _pending_again(self) -> None:
        self._pending = False
        self._again()

    def wanted(self, view: AdvisorView) -> set[Topic]:
        """The topics of one service the rules need besides the platform's: the metrics of the
        recent deploys, the runs of the services whose drift is judged (read in the worker
        thread, after the evaluation, from the copy it evaluated)."""
        window, step = metrics_window(self.settings), self._step()
        wanted = {Topic.metrics(s, e, window, step)
                  for s, e in view_metrics_candidates(view, self.settings)}
        wanted |= {Topic.pipelines(s, RUNS_PER_SERVICE)
                   for s in drift_candidates(view, self.settings)}
        return wanted

    def _work(self, view: AdvisorView) -> tuple[Advice, set[Topic] | None]:
        """An evaluation and the topics it wants followed (None: not known, the rules'
        candidates failed), in the worker thread."""
        advice = self.evaluate(view)
        try:
            return advice, self.wanted(view)
        except Exception:  # noqa: BLE001 - the topics followed stay as they are
            log.warning("advisor: the metrics to follow could not be told", exc_info=True)
            return advice, None

    def _follow_metrics(self, wanted: set[Topic]) -> None:
        """Follow the topics of one service in ``wanted`` (:meth:`wanted`), and no others (on
        the loop)."""
        view = self._view
        if self._hub is None or view is None:
            return
        for topic in [t for t in self._subs if t not in wanted and t.args
                      and (t.kind.value == "metrics" or t.args[0] is not None)]:
            self._subs.pop(topic).close()
            self._applied.pop(topic, None)
            if topic.kind.value == "metrics":
                view.metrics.pop((topic.args[0], topic.args[1]), None)
            else:
                view.service_runs.pop(topic.args[0], None)
        for topic in wanted - set(self._subs):
            self._subs[topic] = self._hub.watch(topic, self._on_snapshot)

    def _follow_delivery(self) -> None:
        """Follow the delivery history of the scorecards' window (it moves on once a day),
        once the catalog is known and small enough to be scored (``scorecard_max_services``)."""
        if self._hub is None:
            return
        services = self._view.services if self._view is not None else None
        wanted: Topic | None = delivery_topic(self.clock.now())
        if services is None or len(services) > self.settings.scorecard_max_services:
            wanted = None
        for topic in [t for t in self._subs if t.kind.value == "delivery" and t != wanted]:
            self._subs.pop(topic).close()
            self._applied.pop(topic, None)
        if wanted is not None and wanted not in self._subs:
            self._subs[wanted] = self._hub.watch(wanted, self._on_snapshot)

    def _follow_usage(self, view: AdvisorView) -> None:
        """Ask for the use of the costliest deployments over the last day once it is older than
        :data:`~.cost.USAGE_REFRESH` (fetched, not watched: a day's use changes slowly). The
        first time, evaluation waits for it (the first advice is whole); later it is asked in
        the background and evaluated when it arrives."""
        now = self.clock.now()
        if self._hub is None or (self._usage_task is not None and not self._usage_task.done()) \
                or (self._usage_at is not None and now - self._usage_at < USAGE_REFRESH):
            return
        first = self._usage_at is None
        self._usage_at = now
        if first:
            self._pending = True  # held until the use is in
        self._usage_task = asyncio.get_running_loop().create_task(
            self._fetch_usage(self._hub, view, first), name="idp-advisor-usage")

    async def _fetch_usage(self, hub: Hub, view: AdvisorView, first: bool) -> None:
        try:
            # (which deployments cost the most is read off the loop, from a copy of the view)
            topics = await asyncio.to_thread(usage_topics, view.copy(), self.settings)
            answers = await asyncio.gather(*(hub.fetch(t) for t in topics),
                                           return_exceptions=True)
            wanted = {(t.args[0], t.args[1]) for t in topics}
            for key in [k for k in view.usage if k not in wanted]:
                del view.usage[key]
            for answer in answers:
                if isinstance(answer, BaseException):
                    log.warning("advisor: the use could not be asked: %s", answer)
                elif answer.data is not None:
                    view.usage[(answer.topic.args[0], answer.topic.args[1])] = list(answer.data)
        finally:
            if first:
                self._pending_again()
            else:
                self._soon()

    def _again(self) -> None:
        """Evaluate the view as it is now (in a worker thread), or once more after the
        evaluation under way."""
        if self._view is None or self._hub is None:
            return
        if self._evaluating is not None and not self._evaluating.done():
            self._dirty = True
            return
        self._evaluating = asyncio.get_running_loop().create_task(
            self._evaluate_in_thread(), name="idp-advisor-evaluate")

    async def _evaluate_in_thread(self) -> None:
        while self._view is not None and self._hub is not None:
            self._dirty = False
            self._view.now = self._evaluated_at = self.clock.now()
            await self.count_scorecards(self._hub, self._view)
            if self._view is None or self._hub is None:
                return
            view = self._view.copy()
            try:
                advice, wanted = await asyncio.to_thread(self._work, view)
            except Exception:  # noqa: BLE001 - evaluate says each rule's failure itself
                log.warning("advisor: the evaluation failed", exc_info=True)
                return
            if self._hub is None:
                return
            if wanted is not None:
                self._follow_metrics(wanted)
            self._tell(advice)
            if not self._dirty:
                return


def usage_topics(view: AdvisorView, settings: AdvisorConfig) -> list[Topic]:
    """The metrics topics of the deployments whose use the cost and capacity rules read."""
    return [Topic.metrics(s, e, USAGE_WINDOW, usage_step())
            for s, e in usage_candidates(view.deployments, settings)]


def apply(view: AdvisorView, snapshot: Snapshot[Any], usage_only: set[Topic] | None = None) -> None:
    """Put a snapshot's data into the view (a topic without data leaves its part as it was).
    A metrics topic over the use window goes to ``view.usage``; one in ``usage_only`` (asked for
    the use alone) not also to ``view.metrics``."""
    kind, data = snapshot.topic.kind.value, snapshot.data
    if data is None:
        return
    if kind == "catalog":
        view.services = {s.name: s for s in data}
        view.sources["catalog"] = _sources(s.sources for s in data)
    elif kind == "environments":
        view.environments = tuple(data.environments)
        view.deployments = dict(data.deployments)
        view.sources["environments"] = _sources((d.source,) for d in data.deployments.values())
    elif kind == "pipelines":
        if snapshot.topic.args[0] is None:
            view.runs = list(data)
        else:
            view.service_runs[snapshot.topic.args[0]] = list(data)
    elif kind == "delivery":
        view.delivery = data
    elif kind == "cost_prices":
        view.cost_prices = data
    elif kind == "metrics":
        service, environment = snapshot.topic.args[0], snapshot.topic.args[1]
        if snapshot.topic.args[2:] == (USAGE_WINDOW, usage_step()):
            view.usage[(service, environment)] = list(data)
        if snapshot.topic not in (usage_only or ()):
            view.metrics[(service, environment)] = list(data)


def metrics_sources(hub: Hub) -> str:
    """The names of the metrics sources (the evidence's source of a regression)."""
    return ", ".join(r.name for r in hub.runners_for(Capability.METRICS))


def _sources(groups: Iterable[Iterable[str]]) -> str:
    return ", ".join(sorted({s for group in groups for s in group if s}))


async def gather(hub: Hub, now: datetime, settings: AdvisorConfig) -> tuple[AdvisorView,
                                                                          list[Snapshot[Any]]]:
    """A view built once from the hub (the command line), with the snapshots it came from."""
    window = metrics_window(settings)
    view = AdvisorView(now=now, metrics_step=metrics_step(window))
    view.sources["metrics"] = metrics_sources(hub)
    snapshots = list(await asyncio.gather(hub.fetch(Topic.catalog()),
                                          hub.fetch(Topic.environments()),
                                          hub.fetch(Topic.pipelines()),
                                          hub.fetch(delivery_topic(now)),
                                          hub.fetch(Topic.cost_prices())))
    for snapshot in snapshots:
        apply(view, snapshot)
    topics = [Topic.metrics(s, e, window, view.metrics_step)
              for s, e in metrics_candidates(view.deployments, now, settings)]
    topics += [Topic.pipelines(s, RUNS_PER_SERVICE) for s in drift_candidates(view, settings)]
    usage = set(usage_topics(view, settings)) - set(topics)
    topics += sorted(usage, key=lambda t: t.args[:2])
    if topics:
        answers = await asyncio.gather(*(hub.fetch(t) for t in topics))
        for snapshot in answers:
            apply(view, snapshot, usage)
        snapshots += answers
    return view, snapshots
