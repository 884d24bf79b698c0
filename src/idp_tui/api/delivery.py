"""Delivery history: the deployments of services to environments over a time range, and the
incidents that followed them (``Capability.DELIVERY``).

A source that knows what was deployed when (a CD system, a cluster's rollout history, the sandbox,
idp-tui's own audit log) answers :meth:`Source.delivery_history` with one
:class:`DeliveryHistory`. The insights (DORA's four keys) are computed from these records; which
environment counts as production comes from the environments' types, not from the source.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field, model_validator

from .models import Record

__all__ = [
    "Commit",
    "DeliveryEvent",
    "DeliveryHistory",
    "DeliveryKind",
    "DeliveryOutcome",
    "HistoryQuery",
    "Incident",
]


class DeliveryOutcome(StrEnum):
    """How a deployment ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    #: It reached the environment and was undone later (a rollback or a revert).
    ROLLED_BACK = "rolled_back"


class DeliveryKind(StrEnum):
    """What a delivery event did."""

    #: A new version (or the same one again) rolled out.
    DEPLOY = "deploy"
    #: A return to a version that ran before.
    ROLLBACK = "rollback"


class Commit(Record):
    """A change a deployment brought: its commit and when it was made (lead time starts there)."""

    sha: str = Field(max_length=64)
    at: datetime


class DeliveryEvent(Record):
    """One deployment of a service to an environment."""

    service: str
    environment: str
    started: datetime
    #: When it ended (None while it runs: the insights skip it).
    finished: datetime | None = None
    outcome: DeliveryOutcome = DeliveryOutcome.SUCCEEDED
    kind: DeliveryKind = DeliveryKind.DEPLOY
    version: str = ""
    #: The commits it brought to the environment (since the version deployed there before).
    commits: tuple[Commit, ...] = ()
    #: What started it: ``pipeline``, ``manual``, ``schedule``…
    trigger: str = ""
    #: Who started it.
    actor: str = ""
    #: The source's own id of it (unique within the source); stable across fetches.
    id: str = ""
    #: The source that reported it (set by the hub).
    source: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> DeliveryEvent:
        if self.finished is not None and self.finished < self.started:
            raise ValueError("a deployment cannot finish before it started")
        return self


class Incident(Record):
    """Something went wrong in a service (an alert that fired, an outage declared)."""

    service: str
    #: The environment, where known (None: the service as a whole).
    environment: str | None = None
    started: datetime
    resolved: datetime | None = None
    title: str = ""
    id: str = ""
    source: str = ""


class HistoryQuery(Record):
    """What :meth:`Source.delivery_history` is asked: events that finished (or incidents that
    started) in ``[start, end)``, of one service and environment or (None) of every one."""

    service: str | None = None
    environment: str | None = None
    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> HistoryQuery:
        if self.end < self.start:
            raise ValueError("a history query's end is before its start")
        return self


class DeliveryHistory(Record):
    """A source's answer: its deployments and the incidents it knows, in any order."""

    deliveries: tuple[DeliveryEvent, ...] = ()
    incidents: tuple[Incident, ...] = ()
    #: The source that answered (set by the hub).
    source: str = ""

    def stamped(self, source: str) -> DeliveryHistory:
        """Every record marked as ``source``'s (the ones that name none)."""
        return self.model_copy(update={
            "source": source,
            "deliveries": tuple(d if d.source else d.model_copy(update={"source": source})
                                for d in self.deliveries),
            "incidents": tuple(i if i.source else i.model_copy(update={"source": source})
                               for i in self.incidents)})


def merge_histories(parts: list[DeliveryHistory]) -> DeliveryHistory:
    """The answers of several sources as one history (a deployment two sources report under the
    same source and id counts once)."""
    seen: set[tuple[str, str]] = set()
    deliveries: list[DeliveryEvent] = []
    incidents: list[Incident] = []
    for part in parts:
        for event in part.deliveries:
            key = (event.source, event.id)
            if event.id and key in seen:
                continue
            seen.add(key)
            deliveries.append(event)
        incidents.extend(part.incidents)
    return DeliveryHistory(deliveries=tuple(deliveries), incidents=tuple(incidents))
