"""The ``kubernetes`` source of idp-tui: environments, workloads, pod logs and rollouts.

Registered under the ``idp_tui.sources`` entry-point group as ``kubernetes``. Importing this package
does not import the ``kubernetes`` client: that happens when the source starts.
"""

from .config import KubernetesConfig
from .source import KubernetesSource

__all__ = ["KubernetesConfig", "KubernetesSource"]
