"""The five panes."""

from .catalog import CatalogPane
from .envs import EnvironmentsPane
from .logs import LogsPane
from .metrics import MetricsPane
from .pipelines import PipelinesPane

__all__ = ["CatalogPane", "EnvironmentsPane", "LogsPane", "MetricsPane", "PipelinesPane"]
