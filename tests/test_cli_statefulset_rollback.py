"""``idp-tui rollback`` of a StatefulSet without ``--version``: the previous ControllerRevision is
offered with the rollout history and its change-causes (it used to be refused without a version).
Against the kmock emulator, through the real command in a child process."""

from __future__ import annotations

from pathlib import Path

import pytest
from kube import Cluster

from idp_tui.cli.output import EXIT_OK

from k8s_fixtures import (  # noqa: F401 - staging_cluster: the fixture
    STAGING_NS,
    command,
    orders_db,
    staging_cluster,
    write_config,
)

NS = STAGING_NS


@pytest.fixture
def cluster(staging_cluster: Cluster) -> Cluster:  # noqa: F811
    return staging_cluster


def test_a_statefulset_rollback_without_a_version_goes_to_the_previous_revision(
        tmp_path: Path, cluster: Cluster) -> None:
    orders_db(cluster, NS)
    run = command(tmp_path, write_config(tmp_path, cluster, {"staging": NS}))
    result = run("rollback", "orders", "--env", "staging", "--dry-run")
    assert result.returncode == EXIT_OK, result.stderr
    assert "Traceback" not in result.stderr
    assert "16.3" in result.stdout
    assert "revision 2: 16.4 (newest): minor upgrade" in result.stdout
    assert "revision 1: 16.3 (rolling back to it): initial" in result.stdout
    # A dry run changes nothing.
    path = f"/apis/apps/v1/namespaces/{NS}/statefulsets/orders-db"
    assert not cluster.requests("patch", path)
