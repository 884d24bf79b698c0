"""Actions on a service go to the source that owns it: the one whose deployment runs it there,
else the one whose catalog lists it, and never a source that declares (``owns``) other services.
Two sources that can act, as a team's own plugin beside another one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from idp_tui import ActionKind, ActionRequest, ActionState, Capability, VersionOption
from idp_tui.api.clock import ManualClock
from idp_tui.runtime import build_runtime

from fakes import StaticSource, app_config, spec
from fakes_actions import ActingFake


class Owner(ActingFake):
    """An ``ActingFake`` that says which services it was asked the versions of."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.asked: list[tuple[str, str]] = []

    async def deploy_versions(self, service: str, environment: str) -> list[VersionOption]:
        self.asked.append((service, environment))
        return await super().deploy_versions(service, environment)


class CatalogOnly(StaticSource):
    capabilities = frozenset({Capability.CATALOG})


@pytest.fixture
async def runtimes(tmp_path: Path, clock: ManualClock):  # type: ignore[no-untyped-def]
    made: list[Any] = []

    def make(*specs: Any) -> Any:
        runtime = build_runtime(app_config(*specs), data_dir=tmp_path / f"data{len(made)}",
                                clock=clock)
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        await runtime.close()


def source(runtime: Any, name: str) -> Any:
    return next(r.source for r in runtime.hub.runners if r.name == name)


def deploy(service: str, environment: str = "staging") -> ActionRequest:
    return ActionRequest(id=f"deploy-{service}-{environment}", kind=ActionKind.DEPLOY,
                         service=service, environment=environment, version="1.3.0")


async def test_a_deploy_goes_to_the_source_that_runs_the_service(runtimes) -> None:
    rt = runtimes(spec("shop", Owner, names=["alpha", "beta"]),
                  spec("team", Owner, names=["cart"]))
    run = await rt.actions.submit(deploy("cart"))
    await rt.actions.wait(run.id)
    assert run.state is ActionState.SUCCEEDED, run.error
    assert [r.service for r in source(rt, "team").seen] == ["cart"]
    assert source(rt, "shop").seen == []
    await rt.actions.versions("alpha", "staging")
    assert source(rt, "shop").asked == [("alpha", "staging")]
    assert source(rt, "team").asked == []


async def test_where_it_runs_nowhere_yet_the_source_whose_catalog_lists_it_is_asked(
        runtimes) -> None:
    """A first deploy to an environment: no deployment says who runs it, the catalogs do."""
    rt = runtimes(spec("shop", Owner, names=["alpha", "beta"]),
                  spec("team", Owner, names=["cart"]))
    options = await rt.actions.versions("cart", "qa")
    assert [o.version for o in options] == ["1.3.0", "1.2.0", "1.1.0"]
    assert source(rt, "team").asked == [("cart", "qa")]
    assert source(rt, "shop").asked == []


async def test_a_source_that_declares_other_services_is_never_asked_to_act_on_one(
        runtimes) -> None:
    shop = spec("shop", Owner, names=["alpha", "beta"])
    shop.owns = ("alpha", "beta")
    rt = runtimes(shop, spec("catalog", CatalogOnly, names=["cart"]))
    run = await rt.actions.submit(deploy("cart"))
    assert run.state is ActionState.FAILED
    assert "no source that can deploy owns cart" in (run.error or "")
    assert source(rt, "shop").seen == []
    with pytest.raises(Exception, match="no source that can deploy owns cart"):
        await rt.actions.versions("cart", "staging")
    assert source(rt, "shop").asked == []
    # Its own services still go to it.
    run = await rt.actions.submit(deploy("alpha"))
    await rt.actions.wait(run.id)
    assert run.state is ActionState.SUCCEEDED, run.error
    assert [r.service for r in source(rt, "shop").seen] == ["alpha"]
