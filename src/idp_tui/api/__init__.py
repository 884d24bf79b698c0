"""The public plugin API. Import it as ``idp_tui``; it never imports Textual.

The names load with the module that defines them, on first use: ``idp_tui.api.clock`` (and the
dashboard's first frame) must not cost the import of pydantic and every model.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .actions import (
        ActionEvent,
        ActionKind,
        ActionPlan,
        ActionRequest,
        ActionState,
        Change,
        PlannedResource,
        Resource,
        Template,
        VersionOption,
    )
    from .backoff import Backoff
    from .clock import (
        Clock,
        ManualClock,
        SystemClock,
    )
    from .errors import (
        NotSupported,
        PartialAnswer,
        SourceAuthError,
        SourceCredentialsRefused,
        SourceDataError,
        SourceError,
        SourceNotFound,
        SourceRateLimited,
        SourceUnavailable,
    )
    from .http import HttpClient, HttpSettings
    from .models import (
        FACET_FIELDS,
        SIGNAL_UNITS,
        Alert,
        ApiInfo,
        Deployment,
        Environment,
        EnvironmentKind,
        EnvironmentType,
        Facet,
        FacetValue,
        Health,
        Job,
        JobLogQuery,
        Link,
        LogLevel,
        LogLine,
        LogQuery,
        MetricSeries,
        MetricsQuery,
        PipelineQuery,
        PipelineRun,
        Record,
        RunStatus,
        Service,
        ServiceDetail,
        ServiceSeries,
        Signal,
        SignalsQuery,
        Step,
        Team,
        Window,
    )
    from .kinds import TopicKind
    from .versions import same_version, version_name
    from .source import (
        Capability,
        Source,
        SourceConfig,
        SourceContext,
    )

#: Where each public name is defined.
_MODULES = {
    "ActionEvent": "actions",
    "ActionKind": "kinds",
    "ActionPlan": "actions",
    "ActionRequest": "actions",
    "ActionState": "kinds",
    "Change": "actions",
    "PlannedResource": "actions",
    "Resource": "actions",
    "Template": "actions",
    "VersionOption": "actions",
    "Backoff": "backoff",
    "Clock": "clock",
    "ManualClock": "clock",
    "SystemClock": "clock",
    "NotSupported": "errors",
    "PartialAnswer": "errors",
    "SourceAuthError": "errors",
    "SourceCredentialsRefused": "errors",
    "SourceDataError": "errors",
    "SourceError": "errors",
    "SourceNotFound": "errors",
    "SourceRateLimited": "errors",
    "SourceUnavailable": "errors",
    "HttpClient": "http",
    "HttpSettings": "http",
    "FACET_FIELDS": "models",
    "SIGNAL_UNITS": "kinds",
    "Alert": "models",
    "ApiInfo": "models",
    "Deployment": "models",
    "Environment": "models",
    "EnvironmentKind": "kinds",
    "EnvironmentType": "kinds",
    "Facet": "models",
    "FacetValue": "models",
    "Health": "kinds",
    "Job": "models",
    "JobLogQuery": "models",
    "Link": "models",
    "LogLevel": "kinds",
    "LogLine": "models",
    "LogQuery": "models",
    "MetricSeries": "models",
    "MetricsQuery": "models",
    "PipelineQuery": "models",
    "PipelineRun": "models",
    "Record": "models",
    "RunStatus": "kinds",
    "Service": "models",
    "ServiceDetail": "models",
    "ServiceSeries": "models",
    "Signal": "kinds",
    "SignalsQuery": "models",
    "Step": "models",
    "Team": "models",
    "TopicKind": "kinds",
    "Window": "kinds",
    "same_version": "versions",
    "version_name": "versions",
    "Capability": "kinds",
    "Source": "source",
    "SourceConfig": "source",
    "SourceContext": "source",
}

__all__ = [
    "FACET_FIELDS",
    "SIGNAL_UNITS",
    "ActionEvent",
    "ActionKind",
    "ActionPlan",
    "ActionRequest",
    "ActionState",
    "Alert",
    "ApiInfo",
    "Backoff",
    "Capability",
    "Change",
    "Clock",
    "Deployment",
    "Environment",
    "EnvironmentKind",
    "EnvironmentType",
    "Facet",
    "FacetValue",
    "Health",
    "HttpClient",
    "HttpSettings",
    "Job",
    "JobLogQuery",
    "Link",
    "LogLevel",
    "LogLine",
    "LogQuery",
    "ManualClock",
    "MetricSeries",
    "MetricsQuery",
    "NotSupported",
    "PartialAnswer",
    "PipelineQuery",
    "PipelineRun",
    "PlannedResource",
    "Record",
    "Resource",
    "RunStatus",
    "Service",
    "ServiceDetail",
    "ServiceSeries",
    "Signal",
    "SignalsQuery",
    "Source",
    "SourceAuthError",
    "SourceConfig",
    "SourceCredentialsRefused",
    "SourceContext",
    "SourceDataError",
    "SourceError",
    "SourceNotFound",
    "SourceRateLimited",
    "SourceUnavailable",
    "Step",
    "SystemClock",
    "Team",
    "Template",
    "TopicKind",
    "VersionOption",
    "Window",
    "same_version",
    "version_name",
]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'idp_tui.api' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULES})
