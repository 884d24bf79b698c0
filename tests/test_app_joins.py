"""Sources meeting on a service: the Backstage catalog (the real backend) and a Kubernetes
cluster (the kmock emulator) whose workload carries the entity's backstage.io/kubernetes-id."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import backstage_server as bs
import pytest
from kube import Cluster, deployment

from idp_tui.api.clock import ManualClock
from idp_tui.config import load_config
from idp_tui.ui.app import IdpApp

from conftest import T0
from fakes import assert_alive, screen_lines, wait_until

WHY = bs.available()
pytestmark = pytest.mark.skipif(WHY is not None, reason=WHY or "")

ENTITIES = """\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-payments}
spec: {type: team, profile: {displayName: Payments, email: pay@example.com}, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: charges, description: Charge a card}
spec: {type: grpc, lifecycle: production, owner: team-payments, definition: "syntax = 1"}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: payments
  description: Takes the money
  annotations: {backstage.io/kubernetes-id: payments}
spec: {type: service, lifecycle: production, owner: team-payments, providesApis: [charges]}
"""


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    yield c
    c.close()


async def test_the_catalog_entry_shows_where_it_runs(tmp_path: Path, cluster: Cluster) -> None:
    backend = bs.Backend(tmp_path / "backstage", ENTITIES)
    try:
        backend.wait_for(1)
        backend.wait_for(1, "api")
        # The workload's own name differs; the label Backstage uses names the entity.
        cluster.put("deployments", "shop", "payments-v2", deployment(
            "payments-v2", "shop", service="payments", label="backstage.io/kubernetes-id",
            image="registry.example/payments:3.1.0"))
        kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig")
        config_path = tmp_path / "config.toml"
        config_path.write_text(
            f'[sources.backstage]\ntype = "backstage"\nurl = "{backend.url}"\n'
            f'token = "{bs.TOKEN}"\n\n'
            f'[sources.k8s]\ntype = "kubernetes"\nkubeconfig = "{kubeconfig}"\n'
            '[sources.k8s.environments]\nstaging = { context = "eu-1", namespace = "shop" }\n')
        data = tmp_path / "data"
        data.mkdir()
        app = IdpApp(load_config(config_path, required=True), data_dir=data,
                     clock=ManualClock(T0))
        async with app.run_test(size=(160, 50)) as pilot:
            await wait_until(pilot, lambda: app.platform is not None
                             and ("payments", "staging") in app.platform.deployments,
                             "the workload")
            app.service = "payments"
            await wait_until(pilot, lambda: "deployments: k8s" in
                             "\n".join(screen_lines(app)), "the sources of payments")
            text = "\n".join(screen_lines(app))
            assert "From catalog: backstage · deployments: k8s" in text
            assert "3.1.0" in text and "team-payments" in text
            assert [s.name for s in app.services] == ["payments"]
            # The detail from the backend: the entity by name, its API, its Group as the team.
            await wait_until(pilot, lambda: "provides charges" in
                             "\n".join(screen_lines(app)), "the detail of payments")
            text = "\n".join(screen_lines(app))
            assert "provides charges (grpc · production) — Charge a card" in text
            assert "entity        component:default/payments" in text
            assert "team-payments — Payments · pay@example.com" in text
            # v: the values to filter by, counted by the backend (/entity-facets).
            await pilot.press("1")
            await pilot.press("v")
            await wait_until(pilot, lambda: app.screen.__class__.__name__ == "FacetScreen",
                             "the field values")
            pane = app.query_one("#catalog-pane")
            await wait_until(pilot, lambda: pane.facets is not None, "the backend's counts")
            assert {f.field: {v.value: v.count for v in f.values} for f in pane.facets} == {
                "owner": {"team-payments": 1}, "lifecycle": {"production": 1},
                "type": {"service": 1}}
            assert ("backstage", "catalog_facets") not in app.hub._unsupported  # its answer
            await pilot.press("escape")
            assert_alive(app)
    finally:
        backend.stop()
