"""idp-tui: a terminal dashboard for an internal developer platform.

This module is the public plugin API: everything a data source needs, and nothing that imports
Textual. See ``docs/plugins.md`` for a guide with a complete example.

The names are loaded on first use (``idp_tui.Service`` or ``from idp_tui import Service`` import
``idp_tui.api``), so that ``import idp_tui.<module>`` stays cheap where the API is not needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

#: The public names, each defined in ``idp_tui.api`` (a test checks the two lists agree).
API_NAMES = (
    "ActionEvent", "ActionKind", "ActionPlan", "ActionRequest", "ActionState", "Change",
    "PlannedResource", "Resource", "Template", "VersionOption",
    "SIGNAL_UNITS", "Alert", "Capability", "Clock", "Deployment", "Environment", "EnvironmentKind",
    "EnvironmentType", "Health",
    "Job", "Link", "LogLevel", "LogLine", "LogQuery", "ManualClock", "MetricSeries", "MetricsQuery",
    "NotSupported", "PartialAnswer", "PipelineQuery", "PipelineRun", "Record", "RunStatus", "Service", "ServiceSeries", "Signal", "SignalsQuery",
    "Source", "SourceAuthError", "SourceConfig", "SourceContext", "SourceDataError", "SourceError",
    "SourceNotFound", "SourceUnavailable", "Step", "SystemClock", "TopicKind", "Window",
    "ApiInfo", "FACET_FIELDS", "Facet", "FacetValue", "JobLogQuery", "ServiceDetail", "Team",
    "SourceRateLimited", "HttpClient", "HttpSettings",
    "same_version", "version_name",
    "Backoff", "SourceCredentialsRefused", "PartHealth",
    "Instance", "InstanceContainer", "InstanceEvent", "Instances",
    "Commit", "DeliveryEvent", "DeliveryHistory", "DeliveryKind", "DeliveryOutcome",
    "HistoryQuery", "Incident",
    "Identity",
    "CostPrices",
)
if TYPE_CHECKING:
    from .api import *  # noqa: F403

__version__ = "0.1.0"
__all__ = [*API_NAMES, "__version__"]


def __getattr__(name: str) -> Any:
    if name in API_NAMES:
        from . import api

        value = getattr(api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'idp_tui' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *API_NAMES})
