"""``[advisor]`` in the config: the advisor's thresholds and times (every one has a default)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AdvisorConfig(BaseModel):
    """``[advisor]``: how the built-in rules judge (times in minutes or hours, as named)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Rule ids not evaluated (built-in or a plugin's).
    disabled: list[str] = Field(default_factory=list, max_length=200)
    #: Post-deploy regression: the significance level of the tests (one-sided).
    regression_alpha: float = Field(default=0.001, gt=0, lt=0.5)
    #: ... at least this many errors after the deploy (fewer prove nothing).
    regression_min_errors: int = Field(default=5, ge=1)
    #: ... the error ratio rose by at least this much (absolute: 0.01 is one percentage point).
    regression_min_increase: float = Field(default=0.01, ge=0, le=1)
    #: ... or the p95 latency rose by at least this share (0.25: a quarter slower).
    regression_latency_increase: float = Field(default=0.25, ge=0)
    #: ... the baseline: this many minutes before the deploy.
    baseline_minutes: float = Field(default=120, gt=0, le=24 * 60)
    #: ... a deploy is judged for this many minutes after it finished.
    regression_minutes: float = Field(default=240, gt=0, le=24 * 60)
    #: ... the first minutes after a deploy are left out (the rollout itself).
    settle_minutes: float = Field(default=3, ge=0, le=120)
    #: Rollout failing: health down within this many minutes of a deploy.
    rollout_minutes: float = Field(default=60, gt=0, le=7 * 24 * 60)
    #: Drift: a version waiting before production longer than this many hours…
    drift_hours: float = Field(default=24, gt=0, le=365 * 24)
    #: ... while at least this many newer builds of the default branch pile up.
    drift_min_changes: int = Field(default=3, ge=0)
    #: Red default branch: failing for more than this many minutes.
    red_branch_minutes: float = Field(default=60, gt=0, le=365 * 24 * 60)
    #: At most this many deployments' metrics are asked per evaluation (the newest first).
    max_metric_queries: int = Field(default=50, ge=0, le=10_000)
