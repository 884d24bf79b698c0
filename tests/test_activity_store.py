"""The Activity screen and ``idp-tui audit`` show the actions of the configured store: the data
dir's log for one person, the organisation's PostgreSQL store for a team. Filterable by service,
team (the catalog's owner), person (claimed or confirmed) and outcome."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any


import pg
from pg_fixtures import server  # noqa: F401 - the fixture
from idp_tui.audit import AuditLog
from idp_tui.auditview import AuditFilter, read_history
from idp_tui.demo import DEMO_SIZE, demo_app, wait_settled
from idp_tui.runtime import AUDIT_FILE
from idp_tui.ui.dialogs import ActivityScreen
from idp_tui.ui.dialogs.activity import ActivityFilter

from fakes import screen_lines, wait_until
from test_cli_commands import fake_plugins  # noqa: F401 - the fixture
from test_app_activity import record, table

WHY = pg.missing()

#: The sandbox's catalog: order-service is team-checkout's, billing-service team-payments',
#: api-gateway team-platform's.
OWNERS = {"order-service": "team-checkout", "billing-service": "team-payments",
          "api-gateway": "team-platform"}


def history(append: Any) -> None:
    """Four actions by three people: alice's (confirmed by GitHub as octocat) deploy of
    order-service, bob's failed rollback of billing-service, carol's denied scale of
    api-gateway, and alice's deploy of billing-service still running."""
    alice = {"actor": "alice", "confirmed": {"github": "octocat"}}
    append(record("a-1", "started", 1, **alice))
    append(record("a-1", "finished", 2, **alice))
    bob = {"actor": "bob", "service": "billing-service", "action": "rollback",
           "environment": "production", "reason": "bad release"}
    append(record("b-1", "started", 3, **bob))
    append(record("b-1", "finished", 4, outcome="failed", error="rollout stuck", **bob))
    append(record("c-1", "denied", 5, actor="carol", service="api-gateway", action="scale",
                  outcome="denied", error="read-only"))
    append(record("a-2", "started", 6, service="billing-service", **alice))


def keys(found: Any) -> list[str]:
    return [entry.action_id for entry in found.entries]


def check_the_filters(lines: Any) -> None:
    """The query on a store's lines (``lines()``: the newest first, read anew each time)."""
    def ask(text: str) -> list[str]:
        return keys(read_history(lines(), AuditFilter.parse(text), owners=OWNERS))

    assert ask("") == ["a-2", "c-1", "b-1", "a-1"]
    assert ask("service:billing-service") == ["a-2", "b-1"]
    assert ask("team:team-payments") == ["a-2", "b-1"]
    assert ask("team:team-platform") == ["c-1"]
    assert ask("owner:team-checkout") == ["a-1"]
    assert ask("user:bob") == ["b-1"]
    assert ask("user:octocat") == ["a-2", "a-1"]  # the confirmed name finds alice's too
    assert ask("outcome:failed") == ["b-1"]
    assert ask("outcome:denied") == ["c-1"]
    assert ask("outcome:started") == ["a-2"]
    assert ask("team:team-payments outcome:failed user:bob") == ["b-1"]
    assert ask("team:nobody") == []
    entry = read_history(lines(), AuditFilter.parse("service:order-service"),
                         owners=OWNERS).entries[0]
    assert (entry.actor, entry.confirmed, entry.team) == ("alice", {"github": "octocat"},
                                                          "team-checkout")


def test_the_data_dirs_log_is_filtered_by_team_person_and_outcome(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / AUDIT_FILE)
    history(log.append)
    check_the_filters(lambda: log.path)


# The screen, on the data dir's store -----------------------------------------------------------

def text(app: Any) -> str:
    return "\n".join(screen_lines(app))


async def test_the_activity_screen_filters_by_team_person_and_outcome(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(parents=True)
    history(AuditLog(data / AUDIT_FILE).append)
    app = demo_app(data)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        await pilot.press("A")
        await wait_until(pilot, lambda: isinstance(app.screen, ActivityScreen), "activity")
        await wait_until(pilot, lambda: table(app).keys == ["a-2", "c-1", "b-1", "a-1"],
                         "the history")
        assert "alice (github: octocat)" in text(app)  # who acted, and who GitHub says it is
        box = app.screen.query_one(ActivityFilter)
        box.value = "team:team-payments"
        await wait_until(pilot, lambda: table(app).keys == ["a-2", "b-1"], "team-payments'")
        box.value = "team:team-payments outcome:failed"
        await wait_until(pilot, lambda: table(app).keys == ["b-1"], "the failed one")
        assert "filter team:team-payments outcome:failed" in text(app)
        box.value = "user:octocat"
        await wait_until(pilot, lambda: table(app).keys == ["a-2", "a-1"], "octocat's")
        box.value = "service:order-service"
        await wait_until(pilot, lambda: table(app).keys == ["a-1"], "order-service's")
        await wait_until(pilot, lambda: "confirmed" in text(app), "the detail")
        shown = text(app)
        assert "octocat (by github)" in shown and "team-checkout" in shown


# The organisation's store ----------------------------------------------------------------------

def test_the_stores_history_is_read_newest_first_and_filtered(server: pg.Server) -> None:
    from idp_tui.store.postgres import PostgresAudit, PostgresStore

    audit = PostgresAudit(PostgresStore(server.create_database()))
    try:
        history(audit.append)
        check_the_filters(audit.lines_newest_first)
        # Read in batches by the key, the newest first, stopping when the reader does.
        store = audit.store
        for n in range(25):
            audit.append(record(f"many-{n}", "denied", n % 60, outcome="denied"))
        texts = store.texts_newest_first(batch=10)
        first = [next(texts) for _ in range(12)]
        assert [f'"many-{n}"' in t for n, t in zip(range(24, 12, -1), first, strict=True)] \
            == [True] * 12
        every = list(store.texts_newest_first(batch=7))
        assert len(every) == 31 and '"a-1"' in every[-1]
        found = read_history(audit.lines_newest_first(), AuditFilter.parse("user:carol"),
                             owners=OWNERS)
        assert keys(found) == ["c-1"] and not found.error
    finally:
        audit.close()


async def test_the_activity_screen_reads_the_organisations_store(server: pg.Server,
                                                                 tmp_path: Path) -> None:
    from idp_tui.store import StoreConfig
    from idp_tui.store.postgres import PostgresAudit, PostgresStore

    dsn = server.create_database()
    writer = PostgresAudit(PostgresStore(dsn))
    history(writer.append)
    writer.close()
    from idp_tui import ManualClock
    from idp_tui.demo import DEMO_TIME, demo_config
    from idp_tui.ui.app import IdpApp

    data = tmp_path / "data"
    data.mkdir()
    config = dataclasses.replace(demo_config(data), store=StoreConfig(kind="postgres", dsn=dsn))
    app = IdpApp(config, data_dir=data, clock=ManualClock(DEMO_TIME))
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        await pilot.press("A")
        await wait_until(pilot, lambda: isinstance(app.screen, ActivityScreen), "activity")
        await wait_until(pilot, lambda: table(app).keys == ["a-2", "c-1", "b-1", "a-1"],
                         "the organisation's history")
        assert "Activity: the organisation's actions, newest first" in text(app)
        app.screen.query_one(ActivityFilter).value = "team:team-platform"
        await wait_until(pilot, lambda: table(app).keys == ["c-1"], "team-platform's")
    assert not (data / AUDIT_FILE).exists()  # nothing of it in the data dir's log


# idp-tui audit --filter ---------------------------------------------------------------------------

def test_idp_tui_audit_filters_as_the_activity_screen_does(tmp_path: Path,
                                                          fake_plugins: Path) -> None:  # noqa: F811
    import json

    from test_cli_commands import Cli

    cli = Cli(tmp_path, fake_plugins)
    history(AuditLog(cli.data / AUDIT_FILE).append)

    def ids(*args: str) -> list[str]:
        return [json.loads(line)["action_id"] for line in
                cli.ok("audit", "--json", *args).splitlines()]

    assert ids("--filter", "team:team-payments") == ["b-1", "b-1", "a-2"]  # the catalog's owner
    assert ids("--filter", "team:team-payments outcome:failed") == ["b-1", "b-1"]
    assert ids("--filter", "user:octocat", "--limit", "2") == ["a-1", "a-2"]
    table = cli.ok("audit", "--filter", "outcome:denied")
    assert "carol" in table and "read-only" in table and "alice" not in table
    assert "alice (github: octocat)" in cli.ok("audit", "--filter", "service:order-service")
    assert "no action matches team:nobody" in cli.ok("audit", "--filter", "team:nobody")
    refused = cli.run("audit", "--filter", "user:bob", "--follow")
    assert refused.returncode == 2 and "does not follow" in refused.stderr


async def test_this_sessions_actions_show_who_the_sources_confirmed(tmp_path: Path) -> None:
    from idp_tui import ActionKind, ActionRequest, ActionState, Identity

    app = demo_app(tmp_path / "data", action_speed=100_000)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        manager = app.runtime.actions
        run = await manager.submit(ActionRequest(
            id="now-1", kind=ActionKind.RESTART, service="order-service", environment="dev"))
        await manager.wait(run.id)
        assert run.state is ActionState.SUCCEEDED, run.error
        assert manager.identity.asked and manager.identity.users == {}  # the sandbox cannot say
        # (as when a source answered: what the records written from now on carry)
        manager.identity.answers = {"github": Identity(user="octocat", source="github")}
        await pilot.press("A")
        await wait_until(pilot, lambda: isinstance(app.screen, ActivityScreen), "activity")
        await wait_until(pilot, lambda: table(app).keys == ["now-1"], "this session's action")
        await wait_until(pilot, lambda: f"{manager.actor} (github: octocat)" in text(app),
                         "the confirmed name beside the actor")
