"""The bundled ``github`` source: GitHub Actions runs, job logs, deploys by workflow dispatch,
and GitHub Deployments as environments."""

from .config import DeployConfig, GithubConfig
from .source import GithubSource

__all__ = ["DeployConfig", "GithubConfig", "GithubSource"]
