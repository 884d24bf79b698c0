"""``[advisor]`` in the config: the advisor's thresholds and times (every one has a default)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr


class CostConfig(BaseModel):
    """``[cost]``: the prices that turn resources into money (defaults: OpenCost's list prices
    for a cluster with no cloud pricing, in US dollars)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Price of one CPU core for an hour.
    cpu_per_core_hour: float = Field(default=0.031611, ge=0, le=1000)
    #: Price of one GiB of memory for an hour.
    memory_per_gib_hour: float = Field(default=0.004237, ge=0, le=1000)
    #: What the prices are in (shown beside every amount).
    currency: str = Field(default="USD", min_length=1, max_length=8, pattern=r"^[A-Za-z$€£¥]+$")


class AdvisorConfig(BaseModel):
    """``[advisor]``: how the built-in rules judge (times in minutes or hours, as named)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The dashboard follows the hub with the advisor (its count, marks and `!` list); off, it
    #: asks the sources nothing for it (``idp-tui advise`` still answers when asked).
    enabled: bool = True
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
    #: Waste: fire when at least this share of what is requested goes unused (at the peak).
    waste_min_share: float = Field(default=0.6, gt=0, lt=1)
    #: ... and the waste is worth at least this much money a month.
    waste_min_monthly: float = Field(default=10.0, ge=0)
    #: Waste and capacity: the use aimed at after scaling, as a share of what is requested
    #: (waste) or of the limit, else the request (capacity).
    target_utilisation: float = Field(default=0.7, gt=0, le=1)
    #: Capacity: fire when the peak use reaches this share of the limit (else the request).
    capacity_high: float = Field(default=0.9, gt=0, le=2)
    #: ... or when the request rate's trend reaches it within this many days.
    capacity_horizon_days: float = Field(default=14, gt=0, le=365)
    #: Capacity and waste: at most this many deployments' use is asked per evaluation (those
    #: that cost the most first).
    max_usage_queries: int = Field(default=100, ge=0, le=10_000)
    #: Preview environments: fire when one expires within this many hours (extend or delete).
    preview_expiry_hours: float = Field(default=24, gt=0, le=365 * 24)
    #: ... or when nothing was deployed into one for this many hours (left idle).
    preview_idle_hours: float = Field(default=24, gt=0, le=365 * 24)
    #: Scorecard gaps: fire for a service that fails at most this many rules of its next level.
    scorecard_max_gap: int = Field(default=3, ge=1, le=100)
    #: ... in a catalog of at most this many services (scoring a larger one asks every source
    #: for months of every service's delivery history: the Insights pane and `idp-tui
    #: scorecards` do that when asked).
    scorecard_max_services: int = Field(default=2000, ge=0, le=1_000_000)

    #: The prices of ``[cost]`` (set by the config's loader: not an ``[advisor]`` key).
    _prices: CostConfig = PrivateAttr(default_factory=CostConfig)

    @property
    def prices(self) -> CostConfig:
        return self._prices

    def priced(self, prices: CostConfig) -> AdvisorConfig:
        """These settings with ``prices`` (the config's ``[cost]``) for the cost rules."""
        copy = self.model_copy()
        copy._prices = prices
        return copy
