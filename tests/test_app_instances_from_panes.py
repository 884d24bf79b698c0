"""The instance view opened with ``I`` from the pane the user is in, on what the keys chose there:
the Environments pane's cell (a service in an environment) and the Catalog's row (in the selected
environment). Against the kmock emulator: the pods shown are those of that workload in that
environment's namespace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kube import Cluster, deployment, pod

from idp_tui.ui.instances import InstancesScreen

from fakes import assert_alive, wait_until
from k8s_fixtures import dashboard, write_config

NS, PROD = "shop-staging", "shop-prod"
SIZE = (160, 45)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    c.namespaces(NS, PROD)
    yield c
    c.close()


def seed(cluster: Cluster) -> None:
    for namespace, short in ((NS, "s"), (PROD, "p")):
        for service in ("cart", "search"):
            cluster.put("deployments", namespace, service, deployment(service, namespace))
            for i in range(2):
                name = f"{service}-{short}{i}"
                cluster.put("pods", namespace, name, pod(name, namespace, service,
                                                         containers=(service,)))


async def press_until(pilot: Any, key: str, condition: Any, what: str, most: int = 8) -> None:
    for _ in range(most):
        if condition():
            return
        await pilot.press(key)
        await pilot.pause()
    assert condition(), f"never {what} pressing {key}"


async def open_instances(pilot: Any, app: Any) -> InstancesScreen:
    await pilot.press("I")
    await wait_until(pilot, lambda: isinstance(app.screen, InstancesScreen)
                     and app.screen.loaded and app.screen.data is not None, "the instances")
    return app.screen


def pods(screen: InstancesScreen) -> set[str]:
    return {i.name for i in screen.data.instances} if screen.data else set()


async def test_i_opens_the_instances_of_the_cell_or_the_row_chosen(tmp_path: Path,
                                                                    cluster: Cluster) -> None:
    seed(cluster)
    app = dashboard(tmp_path, write_config(tmp_path, cluster, {"staging": NS, "production": PROD}))
    app.animation_level = "none"
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.platform is not None
                         and len(app.platform.deployments) == 4, "the workloads",
                         timeout=60)  # (a first answer too slow on a busy machine is asked again)
        # The Environments pane: the cell of cart in production, chosen with the arrows.
        await pilot.press("2")
        await wait_until(pilot, lambda: app.current_pane.id == "envs-pane", "the envs pane")
        await press_until(pilot, "up", lambda: app.service == "cart", "cart")
        await press_until(pilot, "right", lambda: app.environment == "production", "production")
        await press_until(pilot, "left", lambda: app.environment == "production", "production")
        screen = await open_instances(pilot, app)
        assert (screen.service, screen.environment) == ("cart", "production")
        await wait_until(pilot, lambda: pods(screen) == {"cart-p0", "cart-p1"},
                         "production's pods of cart")
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, InstancesScreen), "closed")

        # The Catalog: the row of search (the environment stays the one chosen).
        await pilot.press("1")
        await wait_until(pilot, lambda: app.current_pane.id == "catalog-pane", "the catalog")
        await press_until(pilot, "down", lambda: app.service == "search", "search")
        screen = await open_instances(pilot, app)
        assert (screen.service, screen.environment) == ("search", "production")
        await wait_until(pilot, lambda: pods(screen) == {"search-p0", "search-p1"},
                         "production's pods of search")
        assert_alive(app)
