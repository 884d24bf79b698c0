"""The six panes."""

from .catalog import CatalogPane
from .envs import EnvironmentsPane
from .insights import InsightsPane
from .logs import LogsPane
from .metrics import MetricsPane
from .pipelines import PipelinesPane

__all__ = ["CatalogPane", "EnvironmentsPane", "InsightsPane", "LogsPane", "MetricsPane",
           "PipelinesPane"]
