"""The built-in advisor rules: post-deploy regression, rollout stuck or failing, drift before
production, and a red default branch. Each reads an :class:`AdvisorView` and the ``[advisor]``
settings and returns recommendations with their evidence and remedy."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from ..api.actions import ActionRequest
from ..api.kinds import ActionKind, Health, RunStatus, Signal
from ..api.models import Deployment, PipelineRun
from ..api.versions import same_version
from ..insights.facts import DEFAULT_BRANCH_ANNOTATION, DEFAULT_BRANCHES
from . import stats
from .capacity import CapacityRule, WasteRule
from .lifecycle import LIFECYCLE_RULES
from .model import Evidence, Figure, Recommendation, RunLog, Severity, span_text, stable_id
from .rules import AdvisorView
from .settings import AdvisorConfig

__all__ = ["BUILTIN_RULES", "DriftRule", "RedBranchRule", "RegressionRule", "RolloutRule"]


def _remedy(rec_id: str, kind: ActionKind, dep: Deployment, reason: str, *,
            environment: str | None = None, version: str | None = None) -> ActionRequest:
    return ActionRequest(id=f"advice-{rec_id.replace(':', '-')}"[:128], kind=kind,
                         service=dep.service, environment=environment or dep.environment,
                         version=version, reason=reason)


def _is_production(view: AdvisorView, environment: str) -> bool:
    return environment in view.production()


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


class RegressionRule:
    """A deploy made the error ratio or the latency worse than the same service's baseline
    before it, significantly for the traffic it has → roll back to the previous version."""

    id = "post-deploy-regression"
    title = "Post-deploy regression"

    def evaluate(self, view: AdvisorView, settings: AdvisorConfig) -> Iterable[Recommendation]:
        if view.deployments is None:
            return
        now = view.now.timestamp()
        # Only the deployments whose metrics are known can be judged (at most
        # ``max_metric_queries`` of them): looked up from those, not from every deployment.
        for key in sorted(view.metrics):
            series, dep = view.metrics[key], view.deployments.get(key)
            if dep is None or not series or dep.updated_at is None or dep.rollout == "stuck":
                continue
            deployed = _aware(dep.updated_at).timestamp()
            if not 0 <= now - deployed <= settings.regression_minutes * 60:
                continue
            rec = self._judge(view, settings, dep, series, deployed, now)
            if rec is not None:
                yield rec
        held = view.derived.get(("judged", self.id))
        if held is not None:
            for key in [key for key in held if key not in view.metrics]:
                del held[key]

    def _judged(self, view: AdvisorView, settings: AdvisorConfig, dep: Deployment,
                series: list, deployed: float, now: float
                ) -> tuple[list[Figure], list[str], list[str]]:
        """:meth:`_verdict`, kept per deployment in ``view.derived`` while its series, its
        record and the settings are the same and the time moved on past the series' last
        point only (the same points judged)."""
        step = view.metrics_step
        end = now + step
        memo = view.derived.get(("judged", self.id))
        if memo is None:
            memo = view.derived[("judged", self.id)] = {}
        key = (dep.service, dep.environment)
        held = memo.get(key)
        if held is not None and held[0] is series and held[1] is dep \
                and (held[2] is settings or held[2] == settings) and held[3] == step \
                and (held[4] == end or (held[4] > held[5] and end > held[5])):
            return held[6]
        verdict = self._verdict(view, settings, series, deployed, now)
        last = max((t for one in series for t, _ in one.points), default=-math.inf)
        memo[key] = (series, dep, settings, step, end, last, verdict)
        return verdict

    def _judge(self, view: AdvisorView, settings: AdvisorConfig, dep: Deployment,
               series: list, deployed: float, now: float) -> Recommendation | None:
        figures, reasons, tests = self._judged(view, settings, dep, series, deployed, now)
        if not reasons:
            return None
        rec_id = stable_id(self.id, dep.service, dep.environment, dep.version)
        production = _is_production(view, dep.environment)
        when = datetime.fromtimestamp(deployed, UTC)
        return Recommendation(
            id=rec_id, rule=self.id, severity=Severity.HIGH if production else Severity.MEDIUM,
            service=dep.service, environment=dep.environment,
            title=f"{dep.version} regressed {dep.service} in {dep.environment}: roll back",
            detail="; ".join(reasons) + f" since the deploy at {when:%H:%M} UTC",
            evidence=Evidence(figures=tuple(figures), start=datetime.fromtimestamp(
                deployed - settings.baseline_minutes * 60, UTC), end=view.now,
                source=view.sources.get("metrics", ""), test="; ".join(tests)),
            remedy=_remedy(rec_id, ActionKind.ROLLBACK, dep,
                           f"advisor: {dep.version} regressed ({'; '.join(reasons)})"))

    def _verdict(self, view: AdvisorView, settings: AdvisorConfig, series: list,
                 deployed: float, now: float) -> tuple[list[Figure], list[str], list[str]]:
        """The figures, the reasons and the tests of a regression (no reasons: none)."""
        by = {s.signal: s.points for s in series}
        step = view.metrics_step
        start = deployed - settings.baseline_minutes * 60
        after_start = deployed + settings.settle_minutes * 60
        figures: list[Figure] = []
        reasons: list[str] = []
        tests: list[str] = []
        rate, ratio = by.get(Signal.REQUEST_RATE), by.get(Signal.ERROR_RATIO)
        if rate and ratio:
            before = stats.counts(rate, ratio, start, deployed, step)
            after = stats.counts(rate, ratio, after_start, now + step, step)
            verdict = stats.judge_errors(before, after, alpha=settings.regression_alpha,
                                         min_errors=settings.regression_min_errors,
                                         min_increase=settings.regression_min_increase)
            if verdict.regressed:
                figures += [Figure(name="error ratio before", value=round(verdict.before or 0, 5),
                                   unit="ratio"),
                            Figure(name="error ratio after", value=round(verdict.after or 0, 5),
                                   unit="ratio"),
                            Figure(name="requests before", value=round(before.requests),
                                   unit="requests"),
                            Figure(name="requests after", value=round(after.requests),
                                   unit="requests"),
                            Figure(name="errors after", value=round(after.errors),
                                   unit="errors"),
                            Figure(name="p-value", value=float(f"{verdict.p_value:.3g}"))]
                reasons.append(f"error ratio {(verdict.before or 0) * 100:.1f}% → "
                               f"{(verdict.after or 0) * 100:.1f}%")
                tests.append(verdict.why)
        latency = by.get(Signal.LATENCY_P95)
        if latency:
            verdict = stats.judge_latency(stats.values_in(latency, start, deployed),
                                          stats.values_in(latency, after_start, now + step),
                                          alpha=settings.regression_alpha,
                                          min_increase=settings.regression_latency_increase)
            if verdict.regressed:
                figures += [Figure(name="p95 latency before", value=round(verdict.before or 0, 4),
                                   unit="s"),
                            Figure(name="p95 latency after", value=round(verdict.after or 0, 4),
                                   unit="s")]
                reasons.append(f"p95 latency {(verdict.before or 0) * 1000:.0f} ms → "
                               f"{(verdict.after or 0) * 1000:.0f} ms")
                tests.append(verdict.why)
        return figures, reasons, tests


class RolloutRule:
    """A rollout stopped making progress, or the service went down right after a deploy →
    roll back."""

    id = "rollout-failing"
    title = "Rollout stuck or failing"

    def evaluate(self, view: AdvisorView, settings: AdvisorConfig) -> Iterable[Recommendation]:
        if view.deployments is None:
            return
        # (the stuck and the down ones first: a few of many thousands, looked for again only
        # among the deployments a refresh changed; a stuck one's recommendation is kept while
        # its deployment is the same, its time range's end moved on)
        made = view.derived.get(("made", self.id), {})
        kept: dict[tuple[str, str], tuple[Deployment, tuple[bool, bool], Recommendation]] = {}
        for key, dep in sorted(view.each(self.id, _stuck_or_down(view)).items()):
            stuck = dep.rollout == "stuck"
            age = view.now - _aware(dep.updated_at) if dep.updated_at else None
            down = (dep.health is Health.DOWN and age is not None
                    and timedelta(0) <= age <= timedelta(minutes=settings.rollout_minutes))
            if not stuck and not down:
                continue
            production = _is_production(view, key[1])
            held = made.get(key)
            if held is not None and held[0] is dep and held[1] == (production, down) and (
                    stuck or held[2].evidence.end == view.now):
                rec = held[2]
                if rec.evidence.end != view.now:
                    rec = rec.model_copy(update={"evidence": rec.evidence.model_copy(
                        update={"end": view.now})})
            else:
                rec = self._made(view, key, dep, stuck, down, age, production)
            kept[key] = (dep, (production, down), rec)
            yield rec
        view.derived[("made", self.id)] = kept

    def _made(self, view: AdvisorView, key: tuple[str, str], dep: Deployment, stuck: bool,
              down: bool, age: timedelta | None, production: bool) -> Recommendation:
        service, environment = key
        version = dep.target_version or dep.version
        rec_id = stable_id(self.id, service, environment, version)
        what = (f"the rollout of {version} is stuck" if stuck
                else f"down {span_text(age or timedelta(0))} after deploying {version}")
        figures = [Figure(name="health", value=dep.health.value)]
        if dep.replicas_desired is not None:
            figures.append(Figure(name="replicas ready", value=dep.replicas_ready or 0))
            figures.append(Figure(name="replicas desired", value=dep.replicas_desired))
        if dep.message:
            figures.append(Figure(name="message", value=dep.message[:300]))
        return Recommendation(
            id=rec_id, rule=self.id,
            severity=Severity.CRITICAL if production and down else (
                Severity.HIGH if production else Severity.MEDIUM),
            service=service, environment=environment,
            title=f"{service} in {environment}: {what}: roll back",
            detail=dep.message,
            evidence=Evidence(figures=tuple(figures),
                              start=_aware(dep.updated_at) if dep.updated_at else None,
                              end=view.now, source=dep.source),
            remedy=_remedy(rec_id, ActionKind.ROLLBACK, dep, f"advisor: {what}"))


def _troubled(dep: Deployment) -> bool:
    return dep.rollout == "stuck" or dep.health is Health.DOWN


def _stuck_or_down(view: AdvisorView) -> Callable[[tuple[str, str]], Deployment | None]:
    def make(key: tuple[str, str]) -> Deployment | None:
        dep = (view.deployments or {}).get(key)
        return dep if dep is not None and _troubled(dep) else None
    return make


def _default_branches(view: AdvisorView, service: str) -> tuple[str, ...]:
    record = (view.services or {}).get(service)
    named = record.annotations.get(DEFAULT_BRANCH_ANNOTATION) if record is not None else None
    return (named,) if named else DEFAULT_BRANCHES


def _finished_at(run: PipelineRun) -> datetime:
    return _aware(run.finished_at or run.started_at)


def waiting(view: AdvisorView, production: str, waiting_in: str, wait: timedelta
            ) -> list[tuple[str, Deployment, Deployment, datetime, timedelta]]:
    """The services whose version in ``waiting_in`` is newer than production's and has waited
    there ``wait`` or longer, with both deployments, since when and how long, by service (the
    drift rule's, and the services whose own runs the engine follows for it). Which
    services' version is newer is kept per service while its two deployments are the same
    (:meth:`AdvisorView.each`): a refresh looks again only at the services it changed, and
    only those few are judged by the time."""
    found = []
    newer = _newer_before(view, production, waiting_in)
    for service, (prod, staged, staged_at) in view.each(
            ("drift-waiting", production, waiting_in), newer, group=_service).items():
        waited = view.now - staged_at
        if waited < wait:
            continue
        found.append((service, prod, staged, staged_at, waited))
    found.sort(key=lambda item: item[0])
    return found


def _service(key: tuple[str, str]) -> str:
    return key[0]


def _newer_before(view: AdvisorView, production: str, waiting_in: str
                  ) -> Callable[[str], tuple[Deployment, Deployment, datetime] | None]:
    """A service's deployments in production and in ``waiting_in`` and since when the latter
    waits, where that version is newer than production's and worth promoting (else None)."""
    def make(service: str) -> tuple[Deployment, Deployment, datetime] | None:
        deployments = view.deployments or {}
        prod = deployments.get((service, production))
        staged = deployments.get((service, waiting_in))
        if prod is None or staged is None or staged.updated_at is None \
                or prod.updated_at is None:
            return None
        if (staged.version and staged.version == prod.version) or staged.health in (
                Health.DOWN, Health.DEGRADED):  # not worth promoting
            return None
        staged_at = _aware(staged.updated_at)
        if staged_at <= _aware(prod.updated_at):  # production moved on since (a hotfix)
            return None
        if same_version(staged.version, prod.version):
            return None
        return prod, staged, staged_at
    return make


class DriftRule:
    """A version has waited in the environment before production longer than ``drift_hours``
    while newer builds pile up → promote it (deploy the same version to production)."""

    id = "drift"
    title = "Drift before production"

    def evaluate(self, view: AdvisorView, settings: AdvisorConfig) -> Iterable[Recommendation]:
        if view.deployments is None:
            return
        wait = timedelta(hours=settings.drift_hours)
        made = view.derived.get(("newer", self.id), {})
        kept: dict[str, tuple[Any, Any, datetime, set[str] | None]] = {}
        for production in view.production():
            waiting_in = view.before(production)
            if waiting_in is None:
                continue
            for service, prod, staged, staged_at, waited in waiting(view, production,
                                                                    waiting_in, wait):
                branches = _default_branches(view, service)
                # (the newer builds, kept while the service's runs, the catalog and the
                # waiting version's time are the same)
                listing = view.service_runs.get(service, view.runs)
                held = made.get(service) or kept.get(service)
                if held is not None and held[0] is listing and held[1] is view.services \
                        and held[2] == staged_at:
                    newer = held[3]
                else:
                    runs = view.runs_of(service)
                    newer = None if runs is None else {
                        run.version or run.id for run in runs
                        if run.status is RunStatus.SUCCEEDED and run.branch in branches
                        and _finished_at(run) > staged_at}
                kept[service] = (listing, view.services, staged_at, newer)
                if newer is None or len(newer) < settings.drift_min_changes:
                    continue
                rec_id = stable_id(self.id, service, production, staged.version)
                yield Recommendation(
                    id=rec_id, rule=self.id,
                    severity=Severity.MEDIUM if waited >= 3 * wait else Severity.LOW,
                    service=service, environment=production,
                    title=f"{service}: {staged.version} has waited in {waiting_in} for "
                          f"{span_text(waited)}: promote it to {production}",
                    detail=f"{production} runs {prod.version}; {len(newer)} newer builds of "
                           f"{'/'.join(branches)} since",
                    evidence=Evidence(figures=(
                        Figure(name=f"version in {waiting_in}", value=staged.version),
                        Figure(name=f"version in {production}", value=prod.version),
                        Figure(name="hours waiting", value=round(waited.total_seconds() / 3600, 1),
                               unit="h"),
                        Figure(name="newer builds", value=len(newer))),
                        start=staged_at, end=view.now,
                        source=", ".join(sorted({staged.source, prod.source} - {""}))),
                    remedy=_remedy(rec_id, ActionKind.DEPLOY, staged,
                                   f"advisor: promote {staged.version} from {waiting_in}",
                                   environment=production, version=staged.version))
        view.derived[("newer", self.id)] = kept


class RedBranchRule:
    """The default branch's pipeline has failed for longer than ``red_branch_minutes`` →
    open the failed run's log."""

    id = "red-default-branch"
    title = "Red default branch"

    def evaluate(self, view: AdvisorView, settings: AdvisorConfig) -> Iterable[Recommendation]:
        if view.runs is None:
            return
        limit = timedelta(minutes=settings.red_branch_minutes)
        for (service, pipeline), streak in self._streaks(view):
            first, last = streak[-1], streak[0]
            red_for = view.now - _finished_at(first)
            if red_for < limit:
                continue
            job = next((j for j in last.jobs if j.status is RunStatus.FAILED), None)
            rec_id = stable_id(self.id, service, pipeline, first.id)
            yield Recommendation(
                id=rec_id, rule=self.id,
                severity=Severity.HIGH if red_for >= timedelta(days=1) else Severity.MEDIUM,
                service=service, environment=None,
                title=f"{service}: {pipeline} on {last.branch} has failed for {span_text(red_for)}:"
                      " open the failed run's log",
                detail=f"{len(streak)} failed runs in a row; the last: {last.message[:200]}",
                evidence=Evidence(figures=(
                    Figure(name="failed runs in a row", value=len(streak)),
                    Figure(name="first failed run", value=first.id),
                    Figure(name="last failed run", value=last.id)),
                    start=_finished_at(first), end=view.now, source=last.source),
                opens=RunLog(source=last.source, run_id=last.id, job_id=job.id if job else "",
                             url=last.url))

    def _streaks(self, view: AdvisorView) -> list[tuple[tuple[str, str], list[PipelineRun]]]:
        """The failed runs in a row, the newest first, of each default branch's pipeline whose
        last run failed, by service and pipeline. Kept in ``view.derived`` while the runs and
        the catalog (the default branches) are the same lists."""
        held = view.derived.get(("streaks", self.id))
        if held is not None and held[0] is view.runs and held[1] is view.services:
            return held[2]
        by_key: dict[tuple[str, str], list[PipelineRun]] = defaultdict(list)
        for run in view.runs or ():
            if run.branch in _default_branches(view, run.service) and run.status in (
                    RunStatus.SUCCEEDED, RunStatus.FAILED):
                by_key[(run.service, run.pipeline)].append(run)
        streaks = []
        for key, runs in sorted(by_key.items()):
            runs.sort(key=_finished_at)
            if runs[-1].status is not RunStatus.FAILED:
                continue
            streak: list[PipelineRun] = []
            for run in reversed(runs):
                if run.status is not RunStatus.FAILED:
                    break
                streak.append(run)
            streaks.append((key, streak))
        view.derived[("streaks", self.id)] = (view.runs, view.services, streaks)
        return streaks


#: The built-in rules, in the order they are evaluated.
BUILTIN_RULES = (RegressionRule, RolloutRule, DriftRule, RedBranchRule, WasteRule, CapacityRule,
                 *LIFECYCLE_RULES)
