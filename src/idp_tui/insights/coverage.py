"""Which services the delivery history covers: whose four keys can be judged at all.

A service is covered when some source of delivery history may know it (the hub decides "may
know": :meth:`~idp_tui.hub.Hub.sources_for_service`) and did not fail to answer, when idp-tui's
audit trail has a deploy of it, or when some row of the history names it. A service not covered
has no history anywhere (or none that could be read now): its four keys are unknown ("–", no
level), never "low" nor a count of zero. A team, or the organisation, counts only its covered
services (:func:`services_in`; :func:`partly` says what it leaves out); with none, it is unknown
too.

Textual-free; :func:`delivery_coverage` reads the hub's last answers (it asks nothing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .dora import DAY, KEYS, FourKeys, KeyValue

if TYPE_CHECKING:
    from ..hub import Hub

#: Uncovered services named in a text at most.
MAX_NAMED = 10


@dataclass(frozen=True)
class Coverage:
    """The services whose delivery history nobody keeps, each with the reason."""

    #: Service → why no history of it is known (only the services not covered).
    missing: Mapping[str, str] = field(default_factory=dict)
    #: Of those, the services whose every source of delivery history failed now → what they
    #: said.
    unread: Mapping[str, str] = field(default_factory=dict)
    #: Why no delivery history at all could be read now (every source of it failed and no row
    #: names a service), or None: a scope with no known services is not known either.
    unreadable: str | None = None

    def covers(self, service: str) -> bool:
        return service not in self.missing

    def reason(self, service: str) -> str | None:
        return self.missing.get(service)

    def split(self, services: Iterable[str]) -> tuple[list[str], list[str]]:
        """``services`` (sorted) as (covered, not covered)."""
        covered: list[str] = []
        not_covered: list[str] = []
        for s in sorted(set(services)):
            (covered if s not in self.missing else not_covered).append(s)
        return covered, not_covered

    def why_unknown(self, scope: str, name: str, services: Iterable[str]) -> str | None:
        """Why the four keys of ``scope`` ``name`` (its ``services``) are not known, or None
        when some of them is covered (or it has none: nothing to judge by, as before)."""
        if scope == "service":
            return self.reason(name)
        covered, not_covered = self.split(services)
        if covered:
            return None
        if not not_covered:  # no services to judge by: known unless no history could be read
            return self.unreadable
        if len(not_covered) == 1:
            return self.missing[not_covered[0]]
        failed = [s for s in not_covered if s in self.unread]
        if failed:
            said = "; ".join(sorted({self.unread[s] for s in failed}))
            rest = len(not_covered) - len(failed)
            which = f"its {len(failed)} services" if not rest else \
                f"{len(failed)} of its services"
            return (f"the delivery history of {which} ({names(failed)}) could not be read "
                    f"({said})" + (f"; no source keeps that of the other {rest}" if rest else ""))
        return (f"no source keeps the delivery history of any of its {len(not_covered)} "
                f"services ({names(not_covered)}), and idp-tui's audit trail has no deploy of "
                "them")


def services_in(scope: str, name: str, owners: Mapping[str, str]) -> list[str]:
    """The services a scope counts (sorted): a service itself, a team's (those it owns, by
    ``owners``: service → team), or every one of ``owners`` (the organisation)."""
    if scope == "service":
        return [name]
    return sorted(s for s, team in owners.items() if scope == "organisation" or team == name)


def partly(coverage: Coverage, scope: str, services: Iterable[str]) -> str | None:
    """What a team's or the organisation's count leaves out ("counts 3 of its 5 services; no
    delivery history of …"), or None when it counts every one of its ``services`` (or is a
    service)."""
    covered, missing = coverage.split(services)
    if scope == "service" or not missing:
        return None
    return (f"counts {len(covered)} of its {len(covered) + len(missing)} services; no delivery "
            f"history of {names(missing)}")


def unread_sources(failures: Iterable[Any], answered: Iterable[str]) -> dict[str, str]:
    """The sources of delivery history among ``failures`` (the hub's) whose answer does not
    count (not among ``answered``: :func:`.audit_history.answered_by`), each with what it
    said."""
    counted = set(answered)
    said: dict[str, str] = {}
    for f in failures:
        if f.source not in counted:
            said.setdefault(f.source, str(f))
    return said


def names(services: list[str], most: int = MAX_NAMED) -> str:
    shown = ", ".join(services[:most])
    return shown + (f" and {len(services) - most} more" if len(services) > most else "")


def delivery_coverage(hub: Hub, services: Iterable[str], seen: Iterable[str] = (),
                      unread: Mapping[str, str] | None = None) -> Coverage:
    """The coverage of ``services`` from what the hub knows of its sources; ``seen``: the
    services some row of the history names (the audit trail's deploys, the sources' rows);
    ``unread``: the sources of delivery history that failed now (:func:`unread_sources`): a
    service only they may know is not covered."""
    from ..api.kinds import Capability

    runners = hub.runners_for(Capability.DELIVERY)
    known = set(seen)
    down = unread or {}
    missing: dict[str, str] = {}
    failed: dict[str, str] = {}
    for service in services:
        if service in known:
            continue
        asked = hub.sources_for_service(service, Capability.DELIVERY)
        if asked and any(r.name not in down for r in asked):
            continue
        if asked:  # every source that may know it failed
            failed[service] = "; ".join(down[r.name] for r in asked)
            missing[service] = (f"the delivery history of {service} could not be read "
                                f"({failed[service]})")
            continue
        missing[service] = _why(hub, runners, service)
    unreadable = None
    if runners and not known and all(r.name in down for r in runners):
        unreadable = ("no delivery history could be read ("
                      f"{'; '.join(down[r.name] for r in runners)})")
    return Coverage(missing, failed, unreadable)


def _why(hub: Hub, runners: list[Any], service: str) -> str:
    if not runners:
        return (f"no source keeps the delivery history of {service} (none offers delivery "
                "history), and idp-tui's audit trail has no deploy of it")
    said = []
    for runner in runners:
        if runner.declares(service) is False:
            said.append(f"the {runner.name} (delivery) does not own it")
        else:
            said.append(f"the {runner.name} (delivery) does not list it")
    return (f"no source keeps the delivery history of {service}; {', '.join(said)}; "
            "idp-tui's audit trail has no deploy of it")


def unknown_keys(scope: str, name: str, *, end: float, days: int) -> FourKeys:
    """Four keys of no value and no level: what the history cannot say."""
    return FourKeys(scope=scope, name=name, days=days, start=end - days * DAY, end=end,
                    keys={k: KeyValue(k, None, None) for k in KEYS}, level=None, weekly=())


def judged(result: FourKeys, coverage: Coverage, services: Iterable[str]) -> FourKeys:
    """``result``, or :func:`unknown_keys` when none of its ``services`` is covered."""
    if coverage.why_unknown(result.scope, result.name, services) is None:
        return result
    return unknown_keys(result.scope, result.name, end=result.end, days=result.days)


def jsonable(coverage: Coverage, scope: str, name: str, services: Iterable[str]
             ) -> dict[str, Any]:
    """The ``coverage`` field of a result of ``idp-tui dora --json``: whether its keys are
    known, how many of its services count, and why those that do not."""
    members = [name] if scope == "service" else list(services)
    covered, not_covered = coverage.split(members)
    why = coverage.why_unknown(scope, name, members)
    return {"known": why is None, "reason": why, "services": len(covered) + len(not_covered),
            "covered": len(covered),
            "not_covered": {s: coverage.missing[s] for s in not_covered}}
