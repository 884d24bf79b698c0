"""The public plugin API. Import it as ``idp_tui``; it never imports Textual."""

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
from .clock import Clock, ManualClock, SystemClock
from .errors import (
    NotSupported,
    PartialAnswer,
    SourceAuthError,
    SourceDataError,
    SourceError,
    SourceNotFound,
    SourceUnavailable,
)
from .models import (
    SIGNAL_UNITS,
    Alert,
    Deployment,
    Environment,
    EnvironmentKind,
    Health,
    Job,
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
    ServiceSeries,
    Signal,
    SignalsQuery,
    Step,
    Window,
)
from .source import Capability, Source, SourceConfig, SourceContext

__all__ = [
    "ActionEvent", "ActionKind", "ActionPlan", "ActionRequest", "ActionState", "Change",
    "PlannedResource", "Resource", "Template", "VersionOption",
    "SIGNAL_UNITS", "Alert", "Capability", "Clock", "Deployment", "Environment", "EnvironmentKind", "Health",
    "Job", "Link", "LogLevel", "LogLine", "LogQuery", "ManualClock", "MetricSeries", "MetricsQuery",
    "NotSupported", "PartialAnswer", "PipelineQuery", "PipelineRun", "Record", "RunStatus", "Service", "ServiceSeries", "Signal", "SignalsQuery",
    "Source", "SourceAuthError", "SourceConfig", "SourceContext", "SourceDataError", "SourceError",
    "SourceNotFound", "SourceUnavailable", "Step", "SystemClock", "Window",
]
