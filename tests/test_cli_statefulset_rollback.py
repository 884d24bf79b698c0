"""``idp-tui rollback`` of a StatefulSet without ``--version``: the previous ControllerRevision is
offered with the rollout history and its change-causes (it used to be refused without a version).
Against the kmock emulator, through the real command in a child process."""

from __future__ import annotations

from pathlib import Path

import pytest
from kube import Cluster, controller_revision, deployment

from idp_tui.cli.output import EXIT_OK

from k8s_fixtures import STAGING_NS, command, staging_cluster, write_config  # noqa: F401 - the fixture

NS = STAGING_NS


@pytest.fixture
def cluster(staging_cluster: Cluster) -> Cluster:  # noqa: F811
    return staging_cluster


def test_a_statefulset_rollback_without_a_version_goes_to_the_previous_revision(
        tmp_path: Path, cluster: Cluster) -> None:
    db = deployment("orders-db", NS, kind="StatefulSet", service="orders",
                    image="registry.example/postgres:16.4")
    cluster.put("statefulsets", NS, "orders-db", db)
    for number, version, cause in ((1, "16.3", "initial"), (2, "16.4", "minor upgrade")):
        cr = controller_revision(db, number, f"registry.example/postgres:{version}", cause=cause,
                                 created=f"2026-11-2{number}T10:00:00Z")
        cluster.put("controllerrevisions", NS, cr["metadata"]["name"], cr)
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
