"""The backstage source against the real Backstage catalog backend (tests/backstage_server.py):
paging over 250+ components, owners and relations, a wrong token, a file change."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import backstage_server as bs
import pytest

from idp_tui import (
    ManualClock,
    SourceAuthError,
    SourceContext,
    SourceNotFound,
    SourceUnavailable,
)
from idp_tui_backstage import BackstageConfig, BackstageSource

from conftest import T0

WHY = bs.available()
pytestmark = pytest.mark.skipif(WHY is not None, reason=WHY or "")
MANY = 260

ENTITIES = """\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-payments, description: Card and ledger people}
spec:
  type: team
  profile: {displayName: Payments, email: payments@example.com}
  parent: engineering
  children: []
  members: [alice]
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: engineering}
spec: {type: department, children: [team-payments]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: alice}
spec: {memberOf: [team-payments]}
---
apiVersion: backstage.io/v1alpha1
kind: System
metadata: {name: shop}
spec: {owner: team-payments}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: payments-api
  description: Charge a card
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
    assert src.http.requests_sent == 3  # 100 + 100 + 62
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
        assert "refused the request (401)" in error.value.message
        assert "[sources.backstage]" in (error.value.hint or "")


async def test_a_token_from_the_environment(source: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("IDP_TEST_BACKSTAGE_TOKEN", bs.TOKEN)
    src = await source(token=None, token_env="IDP_TEST_BACKSTAGE_TOKEN")
    assert len(await src.services()) == MANY + 2


async def test_a_token_env_naming_an_unset_variable_is_said_at_the_start(
        tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.delenv("IDP_TEST_BACKSTAGE_TOKEN", raising=False)
    src = BackstageSource(BackstageConfig(url="http://127.0.0.1:1",
                                          token_env="IDP_TEST_BACKSTAGE_TOKEN"),
                          SourceContext(name="backstage", data_dir=tmp_path))
    with pytest.raises(SourceAuthError) as error:
        await src.start()
    assert error.value.message == (
        "token_env of [sources.backstage] names the environment variable "
        "IDP_TEST_BACKSTAGE_TOKEN, which is not set in idp-tui's environment")
    assert src.http.requests_sent == 0


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
        await asyncio.sleep(0.1)  # the backend reads the file again every 2 s


async def test_groups_are_the_teams(source: Any) -> None:
    src = await source()
    teams = {t.name: t for t in await src.teams()}
    assert set(teams) == {"team-payments", "engineering"}
    pay = teams["team-payments"]
    assert (pay.title, pay.email, pay.type, pay.parent) == \
        ("Payments", "payments@example.com", "team", "engineering")
    assert pay.members == ("alice",)
    assert pay.description == "Card and ledger people"
    assert teams["engineering"].children == ("team-payments",)


async def test_the_detail_is_the_whole_entity_by_name_with_its_apis(source: Any) -> None:
    src = await source()
    await src.services()
    before = src.http.requests_sent
    detail = await src.service_detail("payments")
    assert src.http.requests_sent == before + 2  # by-name, then the APIs by their refs at once
    assert detail.service.name == "payments"
    assert detail.service.type == "service"
    assert [(a.name, a.type, a.lifecycle, a.owner, a.description) for a in detail.apis] == \
        [("payments-api", "openapi", "production", "team-payments", "Charge a card")]
    assert detail.facts["entity"] == "component:default/payments"
    assert detail.facts["defined in"].endswith("catalog-info.yaml")
    ledger = await src.service_detail("ledger")
    assert ledger.facts["dependency of"] == "payments"  # the backend's dependencyOf relation
    assert [a.name for a in ledger.apis] == ["payments-api"]  # a consumed API


async def test_the_detail_of_an_entity_gone_from_the_catalog_is_not_found(source: Any) -> None:
    src = await source()
    with pytest.raises(SourceNotFound) as error:
        await src.service_detail("no-such-service")
    assert "No entity named 'no-such-service'" in error.value.message
    assert error.value.hint is None  # not "check the URL": the URL is fine


async def test_filter_values_are_counted_by_the_backend(source: Any) -> None:
    from idp_tui.hub import count_facets

    src = await source()
    facets = {f.field: {v.value: v.count for v in f.values} for f in await src.catalog_facets()}
    assert src.http.requests_sent == 1
    services = await src.services()  # (another test may have added one: count what is there)
    assert facets["owner"] == {"team-payments": len(services)}  # group:default/… as a name
    assert facets["lifecycle"]["experimental"] == MANY
    assert facets["system"] == {"shop": 1}
    assert facets["tag"] == {"python": 1}
    # The backend counts as the dashboard counts the services it lists.
    assert facets == {f.field: {v.value: v.count for v in f.values}
                      for f in count_facets(services)}


async def test_a_backend_that_stops_answering_times_out_in_words(
        source: Any, backend: bs.Backend) -> None:
    import os
    import signal

    src = await source(request_timeout=0.5)
    os.kill(backend.process.pid, signal.SIGSTOP)  # the real process, frozen: no answer at all
    try:
        with pytest.raises(SourceUnavailable) as error:
            await src.services()
    finally:
        os.kill(backend.process.pid, signal.SIGCONT)
    assert "did not answer within 0.5 s" in error.value.message
    # And back once it answers: the process just woken (on a busy machine) may first need more
    # than the half second, so it is asked again for a while.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        try:
            services = await src.services()
            break
        except SourceUnavailable:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.2)
    assert len(services) >= MANY + 2


async def test_a_server_error_is_shown_with_the_backend_message(tmp_path: Path) -> None:
    # A 5xx cannot be provoked on the real backend with an in-memory database: a stand-in that
    # answers as Backstage's error handler does.
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Failing(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = json.dumps({"error": {"name": "DatabaseError", "message": "[/] db is gone"},
                               "response": {"statusCode": 503}}).encode()
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    src = BackstageSource(BackstageConfig(url=f"http://127.0.0.1:{server.server_port}",
                                          token="t"),
                          SourceContext(name="backstage", data_dir=tmp_path))
    try:
        with pytest.raises(SourceUnavailable) as error:
            await src.services()
        assert error.value.message.endswith("answered 503: [/] db is gone")
    finally:
        await src.close()
        server.shutdown()
        server.server_close()
