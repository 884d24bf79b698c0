"""Advisor rules about what is left lying around or half done: preview environments about to
expire or left idle, and scorecard gaps (the fewest rules a service must pass to reach its next
level).

The preview rules carry the action that fixes them: extend the environment (by
``PREVIEW_EXTEND``) when it is about to expire, delete it when it is left idle (each opens its
dialog pre-filled; the policy and the audit log apply as always); the scorecard rule has none (its detail and evidence carry each rule's fix). The
scorecards are the hub's one count (``insights.scoring``, put into the view by the engine and by
``idp-tui advise``: the same cards as the Insights pane, the Catalog's levels and ``idp-tui
scorecards``, the deploys made through idp-tui and the delivery coverage counted alike); a view
without it is scored from its own parts (the catalog, the environments, the pipeline runs and
the delivery history). The built-in scorecard rules are used unless the rule is given others.
Textual-free.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ..api.actions import ActionRequest
from ..api.kinds import ActionKind, EnvironmentKind
from ..api.models import Environment
from ..hub.topics import Topic
from .model import Evidence, Figure, Recommendation, Severity, span_text, stable_id
from .rules import AdvisorView
from .settings import AdvisorConfig

__all__ = ["LIFECYCLE_RULES", "PreviewExpiringRule", "PreviewIdleRule", "ScorecardGapRule",
           "delivery_topic", "previews", "world"]

#: Scorecards are computed again at most this often (while the view's parts stay known).
RESCORE = timedelta(minutes=5)
#: How much the expiring rule's remedy extends a preview environment by.
PREVIEW_EXTEND = timedelta(days=1)
#: What the preview rules tell the user to do.
PREVIEW_REMEDY = ("enter opens the dialog to extend it (T in Environments), or delete it "
                  "(X in Environments)")


def _env_remedy(rec_id: str, kind: ActionKind, environment: str, reason: str) -> ActionRequest:
    params = {"seconds": int(PREVIEW_EXTEND.total_seconds())} if kind is ActionKind.EXTEND \
        else {}
    return ActionRequest(id=f"advice-{rec_id.replace(':', '-')}"[:128], kind=kind,
                         environment=environment, params=params, reason=reason[:300])


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / 3600, 1)


def previews(view: AdvisorView) -> list[Environment]:
    """The preview environments the view knows, by name."""
    return sorted((e for e in view.environments if e.kind is EnvironmentKind.PREVIEW),
                  key=lambda e: e.name)


def _deployed(view: AdvisorView, environment: str) -> list[Any]:
    """The deployments into ``environment``, by service (:meth:`AdvisorView.deployed_in`:
    grouped by environment once, not read through again for each preview, and after a refresh
    grouped again only where it changed)."""
    return view.deployed_in(environment)


def _source(deployments: Sequence[Any], view: AdvisorView) -> str:
    return ", ".join(sorted({d.source for d in deployments if d.source})) or view.sources.get(
        "environments", "")


class PreviewExpiringRule:
    """A preview environment expires within ``preview_expiry_hours`` → extend or delete it."""

    id = "preview-expiring"
    title = "Preview environment about to expire"

    def evaluate(self, view: AdvisorView, settings: AdvisorConfig) -> Iterable[Recommendation]:
        window = timedelta(hours=settings.preview_expiry_hours)
        for env in previews(view):
            if env.expires_at is None:
                continue
            expires = _aware(env.expires_at)
            left = expires - view.now
            if not timedelta(0) < left <= window:
                continue
            deployed = _deployed(view, env.name)
            services = [d.service for d in deployed]
            figures = [Figure(name="expires at", value=expires.isoformat()),
                       Figure(name="hours left", value=_hours(left), unit="h"),
                       Figure(name="services", value=len(services))]
            if services:
                figures.append(Figure(name="services deployed", value=", ".join(services)[:300]))
            rec_id = stable_id(self.id, env.name, expires.isoformat())
            yield Recommendation(
                id=rec_id, rule=self.id,
                severity=Severity.MEDIUM if left <= window / 4 else Severity.LOW,
                service=services[0] if services else "", environment=env.name,
                title=f"Preview {env.name} expires in {span_text(left)}: extend or delete it",
                detail=f"It is deleted with everything in it at {expires:%Y-%m-%d %H:%M} UTC; "
                       f"{PREVIEW_REMEDY}.",
                evidence=Evidence(figures=tuple(figures), start=view.now, end=expires,
                                  source=_source(deployed, view)),
                remedy=_env_remedy(rec_id, ActionKind.EXTEND, env.name,
                                   f"advisor: {env.name} expires in {span_text(left)}"))


class PreviewIdleRule:
    """No deployment into a preview environment for ``preview_idle_hours`` (the newest of its
    deployments' times) → delete it, or extend it if it is still wanted."""

    id = "preview-idle"
    title = "Preview environment left idle"

    def evaluate(self, view: AdvisorView, settings: AdvisorConfig) -> Iterable[Recommendation]:
        if view.deployments is None:
            return
        idle_after = timedelta(hours=settings.preview_idle_hours)
        for env in previews(view):
            if env.expires_at is not None and _aware(env.expires_at) <= view.now:
                continue  # gone already
            deployed = _deployed(view, env.name)
            times = [_aware(d.updated_at) for d in deployed if d.updated_at is not None]
            if not times:
                continue  # idle since when is not known
            last = max(times)
            idle = view.now - last
            if idle < idle_after:
                continue
            services = [d.service for d in deployed]
            figures = [Figure(name="idle since", value=last.isoformat()),
                       Figure(name="hours idle", value=_hours(idle), unit="h"),
                       Figure(name="services", value=len(services)),
                       Figure(name="services deployed", value=", ".join(services)[:300])]
            if env.expires_at is not None:
                figures.append(Figure(name="expires at", value=_aware(env.expires_at).isoformat()))
            rec_id = stable_id(self.id, env.name, last.isoformat())
            yield Recommendation(
                id=rec_id, rule=self.id,
                severity=Severity.LOW, service=services[0], environment=env.name,
                title=f"Preview {env.name} has had no deployment for {span_text(idle)}: "
                      "delete it (or extend it)",
                detail=f"The last deployment into it was at {last:%Y-%m-%d %H:%M} UTC; "
                       f"{PREVIEW_REMEDY}.",
                evidence=Evidence(figures=tuple(figures), start=last, end=view.now,
                                  source=_source(deployed, view)),
                remedy=_env_remedy(rec_id, ActionKind.DELETE_ENVIRONMENT, env.name,
                                   f"advisor: no deployment into {env.name} for "
                                   f"{span_text(idle)}"))


class ScorecardGapRule:
    """A service that fails at most ``scorecard_max_gap`` rules of its next scorecard level →
    those rules, each with its fix (the services with the fewest first). A service whose next
    level has a rule the view cannot decide (a fact unknown to it) is left out."""

    id = "scorecard-gap"
    title = "Scorecard gap to the next level"

    def __init__(self, rules: Sequence[Any] | None = None) -> None:
        #: The scorecard rules (``insights.rules.Rule``); None: the built-in ones, read once.
        self._rules = list(rules) if rules is not None else None
        #: Which scorecard rules a scoring kept in a view was made with (new ones: score again).
        self._rules_made = object()

    def use_scorecards(self, rules: Sequence[Any]) -> None:
        """Score with ``rules`` (the configuration's) from now on."""
        self._rules = list(rules)
        self._rules_made = object()

    def scorecard_rules(self) -> list[Any]:
        if self._rules is None:
            from ..insights.rules import load_rules

            self._rules = load_rules()
        return self._rules

    def evaluate(self, view: AdvisorView, settings: AdvisorConfig) -> Iterable[Recommendation]:
        """The gaps of the hub's one scorecard count where the engine put it into the view
        (``view.scorecards``: the Insights pane's and ``idp-tui scorecards``' count, made again
        when what it was counted from changed), turned into recommendations again only when
        the count or the settings changed. A view without it (made by hand) is scored here,
        again only every :data:`RESCORE` (or when a part of the view became known, or the
        settings changed): scorecards move slowly, and a thousand services' delivery facts
        take a while."""
        if view.services is None or len(view.services) > settings.scorecard_max_services \
                or not self.scorecard_rules():
            return []
        counted = view.scorecards
        if isinstance(counted, BaseException):
            raise RuntimeError(f"the scorecards could not be counted: {counted}") from counted
        if counted is not None and list(counted.rules) == self.scorecard_rules():
            made = view.derived.get(("scorecard-gap-count", id(self)))
            if made is not None and made[0] is counted and made[1] == settings:
                return made[2]
            recs = list(self._gaps(view, settings, counted.cards))
            view.derived[("scorecard-gap-count", id(self))] = (counted, settings, recs)
            return recs
        known = (view.deployments is not None, view.runs is not None, view.delivery is not None,
                 bool(view.environments))
        # The last scoring (the rules it was made with, what of the view was known, when, with
        # which settings, and the recommendations it made), kept in the view's ``derived``,
        # which its copies share: one view followed over time.
        last = view.derived.get(("scorecard-gap", id(self)))
        if (last is not None and last[0] is self._rules_made and last[1] == known
                and last[3] == settings and timedelta(0) <= view.now - last[2] < RESCORE):
            return last[4]
        recs = list(self._gaps(view, settings, self.cards(view)))
        view.derived[("scorecard-gap", id(self))] = (self._rules_made, known, view.now, settings,
                                                     recs)
        return recs

    def cards(self, view: AdvisorView) -> list[Any]:
        """Every catalog service's scorecard over the view."""
        from ..insights import scorecards as sc

        return sc.score(self.scorecard_rules(), world(view))

    def _gaps(self, view: AdvisorView, settings: AdvisorConfig, cards: Iterable[Any]
              ) -> Iterable[Recommendation]:
        source = ", ".join(sorted({name.strip() for part in ("catalog", "environments")
                                   for name in view.sources.get(part, "").split(",")
                                   if name.strip()}))
        gaps = []
        for card in cards:
            target = card.next_level
            if target is None:
                continue
            missing = [r for r in card.failing if r.rule.level == target]
            if any(r.status == "error" for r in missing):
                continue  # a fact the view does not know: the level itself is in doubt
            if missing and len(missing) <= settings.scorecard_max_gap:
                gaps.append((len(missing), card.service, card, missing))
        for count, service, card, missing in sorted(gaps, key=lambda g: (g[0], g[1])):
            target = card.next_level
            figures = [Figure(name="level", value=card.level_name),
                       Figure(name="next level", value=target.value),
                       Figure(name="rules failing", value=count)]
            lines = []
            for result in missing:
                figures.append(Figure(name=f"fix {result.rule.id}", value=result.rule.fix[:300]))
                read = ", ".join(f"{k} = {round(v, 3) if isinstance(v, float) else v}"
                                 for k, v in sorted(result.outcome.facts.items()))
                lines.append(f"{result.rule.title}{f' ({read})' if read else ''}: "
                             f"{result.rule.fix}")
            yield Recommendation(
                id=stable_id(self.id, service, target.value,
                             ",".join(sorted(r.rule.id for r in missing))),
                rule=self.id, severity=Severity.LOW, service=service, environment=None,
                title=f"{service}: {count} rule{'s' if count != 1 else ''} from "
                      f"{target.value}: {', '.join(r.rule.title for r in missing)}"[:300],
                detail="; ".join(lines),
                evidence=Evidence(figures=tuple(figures), end=view.now, source=source))


def world(view: AdvisorView) -> Any:
    """The scorecards' world (``insights.facts.World``) over what the view knows."""
    from ..insights import dora
    from ..insights.facts import World

    production = view.production()
    delivery = None
    if view.delivery is not None:
        delivery = dora.analyse(*dora.rows_from_history(view.delivery, production))
    return World(list((view.services or {}).values()), now=view.now.timestamp(),
                 environments=view.environments,
                 deployments=list(view.deployments.values()) if view.deployments is not None
                 else None,
                 runs=view.runs, delivery=delivery, production=production)


def delivery_topic(now: datetime) -> Topic:
    """The delivery history the advisor follows: the scorecards' window (``DELIVERY_DAYS``) up
    to the end of today, UTC (the topic changes once a day; a deployment made today is in it)."""
    from ..insights.facts import DELIVERY_DAYS

    end = _aware(now).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) \
        + timedelta(days=1)
    return Topic.delivery(end - timedelta(days=DELIVERY_DAYS + 1), end)


#: The rules of this module, in the order they are evaluated.
LIFECYCLE_RULES = (PreviewExpiringRule, PreviewIdleRule, ScorecardGapRule)
