"""The catalog-files source: catalog-info.yaml files (Backstage's format) from directories and
globs — valid, multi-document, malformed and invalid files, and files that change."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from idp_tui import ManualClock, PartialAnswer, SourceContext, SourceDataError, SourceNotFound
from idp_tui_catalog_files import CatalogFilesConfig, CatalogFilesSource

from conftest import T0

PAYMENTS = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: payments-api
  description: Takes the money [/] [@click=app.quit]x
  tags: [python, payments]
  annotations:
    backstage.io/kubernetes-id: payments
    github.com/project-slug: shop/payments-api
    idp-tui.dev/tier: "1"
    idp-tui.dev/language: python
  links:
    - url: https://runbooks.example/payments
      title: Runbook
      type: runbook
spec:
  type: service
  lifecycle: production
  owner: group:default/team-payments
  system: shop
  dependsOn: [component:default/ledger, resource:default/payments-db]
  providesApis: [payments-api]
  consumesApis: [api:default/ledger-api]
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: payments-api
spec:
  type: openapi
  owner: team-payments
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: ledger
spec:
  owner: team-ledger
  lifecycle: experimental
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


class Changes:
    def __init__(self) -> None:
        self.topics: list[str] = []
        self.event = threading.Event()

    def __call__(self, topic: str) -> None:
        self.topics.append(topic)
        self.event.set()


async def started(tmp_path: Path, changes: Any = None, **settings: Any) -> CatalogFilesSource:
    config = CatalogFilesConfig.model_validate(settings)
    source = CatalogFilesSource(config, SourceContext(
        name="files", data_dir=tmp_path, clock=ManualClock(T0),
        notify=changes or (lambda topic: None)))
    await source.start()
    return source


async def test_components_with_owner_relations_links_and_annotations(tmp_path: Path) -> None:
    write(tmp_path / "repos" / "payments" / "catalog-info.yaml", PAYMENTS)
    source = await started(tmp_path, paths=[str(tmp_path / "repos")])
    try:
        services = {s.name: s for s in await source.services()}
    finally:
        await source.close()
    assert set(services) == {"payments-api", "ledger"}  # the API is not a service
    pay = services["payments-api"]
    assert (pay.owner, pay.system, pay.lifecycle, pay.language, pay.tier) == \
        ("team-payments", "shop", "production", "python", 1)
    assert pay.description == "Takes the money [/] [@click=app.quit]x"
    assert pay.tags == ("python", "payments")
    assert pay.depends_on == ("ledger",)  # the resource is not a service dependency
    assert pay.provides_apis == ("payments-api",)
    assert pay.consumes_apis == ("ledger-api",)
    assert pay.annotations["backstage.io/kubernetes-id"] == "payments"
    assert [(link.title, link.url, link.kind) for link in pay.links] == \
        [("Runbook", "https://runbooks.example/payments", "runbook")]
    assert services["ledger"].owner == "team-ledger"


async def test_globs_kinds_and_no_files(tmp_path: Path) -> None:
    write(tmp_path / "a" / "catalog-info.yaml", PAYMENTS)
    write(tmp_path / "b" / "other.yaml", PAYMENTS.replace("payments-api", "b-api")
          .replace("name: ledger", "name: b-ledger"))
    source = await started(tmp_path, paths=[str(tmp_path / "*" / "*.yaml")],
                           kinds=["Component", "API"])
    try:
        # payments-api is a Component and an API: the first one found is kept, and said.
        with pytest.raises(PartialAnswer) as partial:
            await source.services()
    finally:
        await source.close()
    names = sorted(s.name for s in partial.value.data)  # type: ignore[attr-defined]
    assert names == ["b-api", "b-ledger", "ledger", "payments-api"]
    assert "payments-api is defined twice; the first one is kept" in partial.value.message
    empty = await started(tmp_path, paths=[str(tmp_path / "nowhere")])
    with pytest.raises(SourceNotFound, match="no catalog-info.yaml under"):
        await empty.services()


async def test_malformed_and_invalid_files_are_named_with_lines_the_rest_loads(
        tmp_path: Path) -> None:
    write(tmp_path / "ok" / "catalog-info.yaml", PAYMENTS)
    broken = write(tmp_path / "broken" / "catalog-info.yaml",
                   "kind: Component\nmetadata:\n  name: [unclosed\n")
    invalid = write(tmp_path / "invalid" / "catalog-info.yaml",
                    "kind: Component\nmetadata:\n  name: fine\n---\n"
                    "kind: Component\nmetadata:\n  description: no name\n---\n"
                    "- just a list\n")
    source = await started(tmp_path, paths=[str(tmp_path)])
    try:
        with pytest.raises(PartialAnswer) as partial:
            await source.services()
    finally:
        await source.close()
    assert sorted(s.name for s in partial.value.data) == ["fine", "ledger",  # type: ignore[attr-defined]
                                                          "payments-api"]
    error = partial.value.error
    assert isinstance(error, SourceDataError)
    assert error.message.startswith(f"{broken}:")
    assert "not valid YAML" in error.message and "(and 2 more)" in error.message
    problems = [str(p) for entry in source._files.values() for p in entry.problems]
    assert f"{invalid}:5: invalid Component: metadata.name is missing" in problems
    assert f"{invalid}:9: an entity without a kind" in problems


async def test_a_changed_file_is_picked_up_and_the_hub_told(tmp_path: Path) -> None:
    path = write(tmp_path / "svc" / "catalog-info.yaml", PAYMENTS)
    changes = Changes()
    source = await started(tmp_path, changes, paths=[str(tmp_path)], watch_interval=0.05)
    try:
        assert len(await source.services()) == 2
        text = PAYMENTS + "---\nkind: Component\nmetadata:\n  name: search\nspec:\n  owner: t\n"
        write(path, text)
        os.utime(path, (1, 1))  # a different stamp even within the same second
        await asyncio.to_thread(changes.event.wait, 10)
        assert changes.topics[:1] == ["catalog"]
        assert sorted(s.name for s in await source.services()) == ["ledger", "payments-api",
                                                                   "search"]
        path.unlink()
        with pytest.raises(SourceNotFound):
            await source.services()
    finally:
        await source.close()


async def test_the_catalog_pane_on_catalog_files(tmp_path: Path) -> None:
    from idp_tui.config import load_config
    from idp_tui.ui.app import IdpApp
    from idp_tui.ui.vtable import VirtualTable

    from fakes import assert_alive, screen_lines, wait_until

    write(tmp_path / "repos" / "payments" / "catalog-info.yaml", PAYMENTS)
    config_path = write(tmp_path / "config.toml",
                        f'[sources.files]\ntype = "catalog-files"\n'
                        f'paths = ["{tmp_path / "repos"}"]\n')
    data = tmp_path / "data"
    data.mkdir()
    app = IdpApp(load_config(config_path, required=True), data_dir=data, clock=ManualClock(T0))
    async with app.run_test(size=(160, 50)) as pilot:
        table = app.query_one("#catalog-table", VirtualTable)
        await wait_until(pilot, lambda: table.keys == ["ledger", "payments-api"], "the services")
        app.service = "payments-api"
        await wait_until(pilot, lambda: any("Takes the money [/] [@click=app.quit]x" in line
                                            for line in screen_lines(app)), "the description")
        text = "\n".join(screen_lines(app))
        assert "team-payments" in text and "ledger-api" in text
        assert_alive(app)


async def test_groups_in_the_files_are_the_teams(tmp_path: Path) -> None:
    write(tmp_path / "org" / "catalog-info.yaml", """\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-payments, description: Card people}
spec:
  type: team
  profile: {displayName: Payments, email: payments@example.com}
  parent: group:default/engineering
  children: []
  members: [alice, user:default/bob]
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: engineering}
spec: {type: department, children: [team-payments]}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {description: a group without a name}
""")
    write(tmp_path / "svc" / "catalog-info.yaml", PAYMENTS)
    source = await started(tmp_path, paths=[str(tmp_path)])
    try:
        teams = {t.name: t for t in await source.teams()}
        with pytest.raises(PartialAnswer) as partial:  # the nameless Group is reported
            await source.services()
    finally:
        await source.close()
    assert set(teams) == {"team-payments", "engineering"}
    pay = teams["team-payments"]
    assert (pay.title, pay.email, pay.parent, pay.type, pay.description) == \
        ("Payments", "payments@example.com", "engineering", "team", "Card people")
    assert pay.members == ("alice", "bob")
    assert teams["engineering"].children == ("team-payments",)
    assert "catalog-info.yaml:16: invalid Group: metadata.name is missing" in \
        partial.value.error.message
    assert {s.name: s.type for s in partial.value.data} == {  # type: ignore[attr-defined]
        "payments-api": "service", "ledger": ""}
