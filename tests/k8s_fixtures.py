"""What the tests of the kubernetes source on a kmock cluster (``kube.py``) share, through the
source, the ``idp-tui`` command and the dashboard:

- :class:`Sources`: the sources a test starts (the module's settings and the test's own), closed
  after it;
- :func:`write_config`: the config of a command or a dashboard on the cluster;
- :func:`command`: ``idp-tui`` run in a child process with that config;
- :func:`dashboard`: the app on that config, its clock at ``T0``;
- :func:`staging_cluster`: a fixture, the cluster with the namespace :data:`STAGING_NS`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kube import Cluster, controller_revision, deployment

from idp_tui import ManualClock, SourceContext
from idp_tui.config import load_config
from idp_tui.ui.app import IdpApp
from idp_tui_kubernetes import KubernetesConfig, KubernetesSource

from conftest import T0

#: Every environment of these tests is a namespace in this context of the cluster's kubeconfig.
CONTEXT = "eu-1"

Run = Callable[..., subprocess.CompletedProcess[str]]


class Sources:
    """Starts a kubernetes source ``k8s`` on ``cluster``: ``await make(**settings)`` with the
    settings given here (``defaults``) overridden by the test's own; all closed on leaving
    ``async with``."""

    def __init__(self, tmp_path: Path, cluster: Cluster, clock: ManualClock,
                 **defaults: Any) -> None:
        self.tmp_path = tmp_path
        self.cluster = cluster
        self.clock = clock
        self.defaults = defaults
        self.made: list[KubernetesSource] = []

    async def __call__(self, **settings: Any) -> KubernetesSource:
        kubeconfig = self.cluster.kubeconfig(self.tmp_path / "kubeconfig", contexts=[CONTEXT])
        config = KubernetesConfig.model_validate({"kubeconfig": str(kubeconfig),
                                                  **self.defaults, **settings})
        src = KubernetesSource(config, SourceContext(name="k8s", data_dir=self.tmp_path,
                                                     clock=self.clock))
        await src.start()
        self.made.append(src)
        return src

    async def __aenter__(self) -> Sources:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for src in self.made:
            await src.close()


def write_config(tmp_path: Path, cluster: Cluster, namespaces: dict[str, str], *,
                 workloads: list[str] | None = None) -> Path:
    """``config.toml`` in ``tmp_path``: the source ``k8s`` on ``cluster`` with an environment
    per namespace (name: namespace), the environments read again hourly (the watches keep them
    current)."""
    kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig", contexts=[CONTEXT])
    lines = ["[hub.refresh]", "environments = 3600", "", "[sources.k8s]", 'type = "kubernetes"',
             f'kubeconfig = "{kubeconfig}"']
    if workloads is not None:
        lines.append(f"workloads = {json.dumps(workloads)}")
    lines += ["", "[sources.k8s.environments]"]
    lines += [f'{name} = {{ context = "{CONTEXT}", namespace = "{namespace}" }}'
              for name, namespace in namespaces.items()]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def command(tmp_path: Path, config: Path) -> Run:
    """``run(*args)``: ``idp-tui ARGS`` in a child process on ``config``, its data in
    ``tmp_path / "data"``, its clock at ``T0``, 200 columns wide."""
    env = {**os.environ, "IDP_TUI_DATA_DIR": str(tmp_path / "data"),
           "IDP_TUI_CONFIG": str(config), "IDP_TUI_CLOCK": T0.strftime("%Y-%m-%dT%H:%M:%SZ"),
           "COLUMNS": "200"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "idp_tui", *args], capture_output=True,
                              text=True, env=env, timeout=120, check=False)

    return run


def dashboard(tmp_path: Path, config: Path) -> IdpApp:
    """The app on ``config``, its data in ``tmp_path / "data"``, its clock at ``T0``."""
    (tmp_path / "data").mkdir()
    return IdpApp(load_config(config, required=True), data_dir=tmp_path / "data",
                  clock=ManualClock(T0))


#: The one namespace of :func:`staging_cluster`.
STAGING_NS = "shop-staging"


@pytest.fixture
def staging_cluster() -> Iterator[Cluster]:
    """A kmock cluster with the namespace :data:`STAGING_NS` (closed after the test)."""
    c = Cluster()
    c.namespaces(STAGING_NS)
    yield c
    c.close()


def orders_db(cluster: Cluster, namespace: str) -> dict[str, Any]:
    """The StatefulSet ``orders-db`` of the service orders on postgres 16.4, with its two
    ControllerRevisions (16.3 "initial", 16.4 "minor upgrade"); its manifest."""
    db = deployment("orders-db", namespace, kind="StatefulSet", service="orders",
                    image="registry.example/postgres:16.4")
    cluster.put("statefulsets", namespace, "orders-db", db)
    for number, version, cause in ((1, "16.3", "initial"), (2, "16.4", "minor upgrade")):
        cr = controller_revision(db, number, f"registry.example/postgres:{version}", cause=cause,
                                 created=f"2026-11-2{number}T10:00:00Z")
        cluster.put("controllerrevisions", namespace, cr["metadata"]["name"], cr)
    return db
