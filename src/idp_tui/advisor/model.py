"""What the advisor says: a :class:`Recommendation` with its evidence and an optional remedy.

A recommendation's ``id`` is stable: the same finding about the same service, environment and
version gets the same id on every evaluation (and every run), so it can be dismissed or snoozed.
Nothing in here imports Textual.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from ..api.actions import ActionRequest

__all__ = ["Evidence", "Figure", "Recommendation", "RunLog", "Severity", "stable_id"]


class Severity(StrEnum):
    """How urgent a recommendation is (``rank``: higher is more urgent)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls(text.strip().lower())
        except ValueError:
            known = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown severity {text!r} (known: {known})") from None


_RANK = {Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3, Severity.CRITICAL: 4}


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Figure(_Model):
    """One number of the evidence: ``error ratio after = 0.091`` (unit "ratio")."""

    name: str
    value: int | float | str
    unit: str = ""


class Evidence(_Model):
    """What a recommendation rests on: figures, the time range they cover and where they came
    from (a source's name, a topic)."""

    figures: tuple[Figure, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    source: str = ""
    #: The statistical test, in words, where one decided ("two-proportion test, p = 1e-9").
    test: str = ""

    def figure(self, name: str) -> float | str | None:
        for figure in self.figures:
            if figure.name == name:
                return figure.value
        return None


class RunLog(_Model):
    """A remedy that opens a pipeline run's log (``Topic.pipeline_run(source, run_id)``)."""

    source: str
    run_id: str
    job_id: str = ""
    url: str = ""


class Recommendation(_Model):
    id: str = Field(min_length=1, max_length=128)
    #: The rule that made it (``Rule.id``).
    rule: str
    severity: Severity
    service: str
    environment: str | None = None
    title: str
    detail: str = ""
    evidence: Evidence = Field(default_factory=Evidence)
    #: The action that fixes it: pre-fills the matching dialog (policy and audit apply as always).
    remedy: ActionRequest | None = None
    #: A remedy that is not an action: the failed run's log to open.
    opens: RunLog | None = None
    #: Money per month the remedy saves (or the finding costs), where the rule knows it.
    monthly_cost: float | None = None
    currency: str = ""

    @property
    def pressing(self) -> bool:
        """Worth the dashboard's attention (medium or more): counted in the top line and marked
        on the service; a low one (a saving, a scorecard gap) waits in the advisor's list."""
        return self.severity.rank >= _RANK[Severity.MEDIUM]

    def sort_key(self) -> tuple[int, float, str, str]:
        """Most urgent first, then the most money, then by service and id."""
        return (-self.severity.rank, -(self.monthly_cost or 0.0), self.service, self.id)


def stable_id(rule: str, *parts: object) -> str:
    """A short id that stays the same for the same rule and parts: ``rule:1a2b3c4d5e6f``."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in (rule, *parts)).encode()).hexdigest()
    return f"{rule}:{digest[:12]}"[:128]


def span_text(delta: timedelta) -> str:
    """A time span as a recommendation says it: ``45 min``, ``3.5 h``, ``2.0 days``."""
    minutes = delta.total_seconds() / 60
    if minutes < 120:
        return f"{minutes:.0f} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} days"
