"""The backstage source against the real Backstage catalog backend (tests/backstage_server.py):
paging over 250+ components, owners and relations, a wrong token, a file change."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import backstage_server as bs
import pytest

from idp_tui import ManualClock, SourceAuthError, SourceContext, SourceNotFound
from idp_tui_backstage import BackstageConfig, BackstageSource

from conftest import T0

WHY = bs.available()
pytestmark = pytest.mark.skipif(WHY is not None, reason=WHY or "")
MANY = 260

ENTITIES = """\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-payments}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: System
metadata: {name: shop}
spec: {owner: team-payments}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: payments-api}
spec: {type: openapi, lifecycle: production, owner: team-payments, definition: "openapi: 3.0.0"}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: payments
  description: Takes the money [/] [@click=app.quit]x
  tags: [python]
  annotations:
    backstage.io/kubernetes-id: payments
  links: [{url: "https://runbooks.example/payments", title: Runbook, type: runbook}]
spec:
  type: service
  lifecycle: production
  owner: team-payments
  system: shop
  providesApis: [payments-api]
  dependsOn: [component:ledger]
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: ledger}
spec: {type: service, lifecycle: production, owner: team-payments, consumesApis: [payments-api]}
""" + "".join(f"""---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {{name: svc-{i:03d}}}
spec: {{type: service, lifecycle: experimental, owner: team-payments}}
""" for i in range(MANY))


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[bs.Backend]:
    server = bs.Backend(tmp_path_factory.mktemp("backstage"), ENTITIES)
    try:
        server.wait_for(MANY + 2)
        yield server
    finally:
        server.stop()


@pytest.fixture
async def source(backend: bs.Backend, tmp_path: Path) -> AsyncIterator[Any]:
    made: list[BackstageSource] = []

    async def make(**settings: Any) -> BackstageSource:
        settings.setdefault("token", bs.TOKEN)
        src = BackstageSource(BackstageConfig(url=backend.url, **settings),
                              SourceContext(name="backstage", data_dir=tmp_path,
                                            clock=ManualClock(T0)))
        await src.start()
        made.append(src)
        return src

    yield make
    for src in made:
        await src.close()


async def test_every_component_page_by_page(source: Any) -> None:
    src = await source(page_size=100)
    services = await src.services()
    assert len(services) == MANY + 2
    assert src.requests_sent == 3  # 100 + 100 + 62
    assert {s.name for s in services} >= {"payments", "ledger", "svc-000", f"svc-{MANY - 1:03d}"}


async def test_owner_system_and_relations(source: Any) -> None:
    src = await source()
    services = {s.name: s for s in await src.services()}
    pay = services["payments"]
    assert (pay.owner, pay.system, pay.lifecycle) == ("team-payments", "shop", "production")
    assert pay.description == "Takes the money [/] [@click=app.quit]x"
    assert pay.depends_on == ("ledger",)
    assert pay.provides_apis == ("payments-api",)
    assert services["ledger"].consumes_apis == ("payments-api",)
    assert pay.annotations["backstage.io/kubernetes-id"] == "payments"
    assert [(link.title, link.kind) for link in pay.links] == [("Runbook", "runbook")]
    apis = await (await source(kinds=["API"])).services()
    assert [a.name for a in apis] == ["payments-api"]


async def test_a_wrong_or_missing_token_is_refused_in_words(source: Any) -> None:
    for settings in ({"token": "wrong"}, {"token": None}):
        src = await source(**settings)
        with pytest.raises(SourceAuthError) as error:
            await src.services()
        assert "refused the request (401 AuthenticationError)" in error.value.message
        assert "[sources.backstage]" in (error.value.hint or "")


async def test_a_token_from_the_environment(source: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("IDP_TEST_BACKSTAGE_TOKEN", bs.TOKEN)
    src = await source(token=None, token_env="IDP_TEST_BACKSTAGE_TOKEN")
    assert len(await src.services()) == MANY + 2


async def test_a_wrong_url_is_not_found(backend: bs.Backend, tmp_path: Path) -> None:
    src = BackstageSource(BackstageConfig(url=f"{backend.url}/nope", token=bs.TOKEN),
                          SourceContext(name="backstage", data_dir=tmp_path))
    await src.start()
    try:
        with pytest.raises(SourceNotFound, match="not found"):
            await src.services()
    finally:
        await src.close()


async def test_an_entity_added_to_the_file_shows_up(source: Any, backend: bs.Backend) -> None:
    backend.entities.write_text(ENTITIES + """---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: search}
spec: {type: service, lifecycle: production, owner: team-payments}
""")
    src = await source()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while "search" not in {s.name for s in await src.services()}:
        assert loop.time() < deadline, "the new entity never appeared"
        await asyncio.sleep(0.5)
