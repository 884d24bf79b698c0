"""Four-eyes approvals (issue 18) as people meet them: ``idp-tui`` run as a subprocess on the
sandbox by two (or three) identities sharing one data dir, with the clock frozen
(``IDP_TUI_CLOCK``). The audit trail is the data dir's log here; ``test_approvals_pg.py`` runs the
main flow on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from idp_tui.api.actions import ActionRequest
from idp_tui.api.clock import ManualClock
from idp_tui.api.kinds import ActionKind
from idp_tui.approvals import EXPIRED, READY, ApprovalRule, Request, fold, wait_decided
from idp_tui.policy import Effect, PolicyConfig, decide
from test_cli_commands import TIMEOUT, Cli, fake_plugins, json_error  # noqa: F401 - the fixture

NOW = "2026-11-25T14:00:00Z"
LATER = "2026-11-26T14:30:00Z"  # past a 24h request
SERVICE = "billing-service"
RULE = """
[[policy.approval]]
environments = ["production"]
approvals = {count}
valid_for = "24h"
{extra}
"""


def who(name: str, clock: str = NOW) -> dict[str, str]:
    """The environment of a command run by ``name`` (the OS user idp-tui records)."""
    return {"LOGNAME": name, "USER": name, "IDP_TUI_CLOCK": clock}


def make(root: Path, plugins: Path, count: int = 1, extra: str = "") -> Cli:
    return Cli(root, plugins, RULE.format(count=count, extra=extra))


@pytest.fixture
def cli(tmp_path: Path, fake_plugins: Path) -> Cli:  # noqa: F811 - the imported fixture
    return make(tmp_path, fake_plugins)


def newest(cli: Cli) -> str:
    versions = cli.json("versions", SERVICE, "--env", "production", env=who("alice"))
    return versions["versions"][0]["version"]


def running(cli: Cli) -> str:
    data = cli.json("envs", "--service", SERVICE, "--env", "production", env=who("alice"))
    (found,) = data["deployments"]
    return str(found["version"])


def request(cli: Cli, version: str, rid: str = "req-1", name: str = "alice",
            clock: str = NOW) -> subprocess.CompletedProcess[str]:
    return cli.run("deploy", SERVICE, "--env", "production", "--version", version, "--yes",
                   "--reason", "CHG-42", "--id", rid, env=who(name, clock))


def pending(cli: Cli, name: str = "bob", clock: str = NOW, *more: str) -> dict[str, Any]:
    return cli.json("approvals", *more, env=who(name, clock))  # type: ignore[no-any-return]


def test_a_second_person_approves_and_the_request_runs_once(cli: Cli) -> None:
    before, version = running(cli), newest(cli)
    asked = request(cli, version)
    assert asked.returncode == 7, asked.stderr
    assert "waiting for approval" in asked.stdout and "(request req-1)" in asked.stdout
    assert "request req-1 recorded, waiting for 1 approval (approvers: anyone but alice; " \
           "valid for 24h)" in asked.stderr
    assert running(cli) == before  # not run
    (requested,) = list(cli.audit.records())
    assert requested["phase"] == "requested" and requested["actor"] == "alice"
    assert requested["request"]["version"] == version
    assert requested["request"]["confirmation"] == "production"
    assert requested["expires"] == "2026-11-26T14:00:00+00:00"

    listing = pending(cli)
    (item,) = listing["approvals"]
    assert item["id"] == "req-1" and item["state"] == "pending" and item["requested_by"] == "alice"
    assert item["approvals_needed"] == 1 and item["you_may_approve"] is True
    assert "req-1" in cli.ok("approvals", env=who("bob"))

    # The requester never approves their own request.
    own = cli.run("approve", "req-1", "--reason", "looks fine", env=who("alice"))
    assert own.returncode == 3
    assert "a request is approved by someone else, never by the one who asked" in own.stderr
    # An approval needs a reason.
    bare = cli.run("approve", "req-1", env=who("bob"))
    assert bare.returncode == 2 and '--reason "…"' in bare.stderr
    # Nor does run-approved run it before its approval.
    early = cli.run("run-approved", "req-1", env=who("alice"))
    assert early.returncode == 7 and "is waiting for approval (0 of 1)" in early.stderr

    dry = cli.ok("approve", "req-1", "--reason", "x", "--dry-run", env=who("bob"))
    assert "dry run: bob may approve request req-1" in dry
    assert len(list(cli.audit.records())) == 1
    out = cli.ok("approve", "req-1", "--reason", "reviewed CHG-42", env=who("bob"))
    assert "approved request req-1" in out and "run-approved req-1" in out
    assert pending(cli)["approvals"][0]["state"] == "approved"

    ran = cli.ok("run-approved", "req-1", env=who("alice"))
    assert "✔ succeeded" in ran
    assert running(cli) == version
    phases = [(r["phase"], r["actor"]) for r in cli.audit.records()]
    assert phases == [("requested", "alice"), ("approved", "bob"), ("started", "alice"),
                      ("finished", "alice")]
    records = list(cli.audit.records())
    started = records[2]
    assert started["approved"]["requested_by"] == "alice"
    assert started["approved"]["request_seq"] == records[0]["seq"]
    assert started["approved"]["request_hash"] == records[0]["hash"]
    assert started["approved"]["approvals"] == [
        {"actor": "bob", "seq": records[1]["seq"], "hash": records[1]["hash"]}]
    assert started["decision"]["allowed"] and "approved by bob" in started["decision"]["message"]
    assert cli.json("audit", "verify")["ok"]

    # An id names one action: run again, it is refused; nothing more is recorded.
    again = cli.run("run-approved", "req-1", env=who("alice"))
    assert again.returncode == 3 and "already ran" in again.stderr
    late = cli.run("approve", "req-1", "--reason", "x", env=who("carol"))
    assert late.returncode == 3 and "already ran" in late.stderr
    assert len(list(cli.audit.records())) == 4
    assert pending(cli)["approvals"] == []
    assert pending(cli, "bob", NOW, "--all")["approvals"][0]["state"] == "ran"


def test_the_requester_asking_again_with_the_same_id_runs_it_once_approved(cli: Cli) -> None:
    version = newest(cli)
    assert request(cli, version).returncode == 7
    again = request(cli, version)
    assert again.returncode == 7 and "is waiting for approval (0 of 1)" in again.stderr
    cli.ok("approve", "req-1", "--reason", "ok", env=who("bob"))
    assert request(cli, version).returncode == 0
    assert running(cli) == version
    # The same id for another version is another action: refused.
    other = cli.run("deploy", SERVICE, "--env", "production", "--version", "0.0.1", "--yes",
                    "--reason", "x", "--id", "req-1", env=who("alice"))
    assert other.returncode != 0


def test_two_approvals_come_from_two_people_and_only_named_approvers(
        tmp_path: Path, fake_plugins: Path) -> None:  # noqa: F811
    cli = make(tmp_path, fake_plugins, count=2, extra='approvers = ["bob", "carol"]')
    version = newest(cli)
    assert request(cli, version).returncode == 7
    (item,) = pending(cli)["approvals"]
    assert item["approvers"] == ["bob", "carol"]
    assert pending(cli, "mallory")["approvals"][0]["you_may_approve"] is False
    refused = cli.run("approve", "req-1", "--reason", "sure", env=who("mallory"))
    assert refused.returncode == 3
    assert "mallory may not approve request req-1 (deploy billing-service" in refused.stderr
    assert "its approvers are bob, carol" in refused.stderr
    assert "1 of 2 approvals" in cli.ok("approve", "req-1", "--reason", "ok", env=who("bob"))
    twice = cli.run("approve", "req-1", "--reason", "ok", env=who("bob"))
    assert twice.returncode == 3 and "bob has approved request req-1 already" in twice.stderr
    assert cli.run("run-approved", "req-1", env=who("alice")).returncode == 7
    assert "it has its 2 approvals" in cli.ok("approve", "req-1", "--reason", "ok",
                                              env=who("carol"))
    assert cli.run("run-approved", "req-1", env=who("alice")).returncode == 0
    started = next(r for r in cli.audit.records() if r["phase"] == "started")
    assert [a["actor"] for a in started["approved"]["approvals"]] == ["bob", "carol"]


def test_a_denied_request_never_runs(cli: Cli) -> None:
    before, version = running(cli), newest(cli)
    assert request(cli, version).returncode == 7
    bare = cli.run("deny", "req-1", env=who("bob"))
    assert bare.returncode == 2
    assert "denied request req-1" in cli.ok("deny", "req-1", "--reason", "not during the sale",
                                            env=who("bob"))
    for name, command in (("alice", ("run-approved", "req-1")),
                          ("carol", ("approve", "req-1", "--reason", "ok"))):
        refused = cli.run(*command, env=who(name))
        assert refused.returncode == 3
        assert "was denied by bob: not during the sale" in refused.stderr
    asked = request(cli, version)
    assert asked.returncode == 3 and "was denied by bob" in asked.stderr
    assert running(cli) == before
    assert [r["phase"] for r in cli.audit.records()] == ["requested", "rejected"]
    assert pending(cli)["approvals"] == []
    (item,) = pending(cli, "bob", NOW, "--all")["approvals"]
    assert item["state"] == "denied" and item["denied_by"]["actor"] == "bob"
    assert cli.json("audit", "verify")["ok"]
    missing = cli.run("deny", "no-such-request", "--reason", "x", env=who("bob"))
    assert missing.returncode == 5 and "no request for approval 'no-such-request'" in \
        missing.stderr


def test_a_request_expires(cli: Cli) -> None:
    version = newest(cli)
    assert request(cli, version).returncode == 7
    late = cli.run("approve", "req-1", "--reason", "ok", env=who("bob", LATER))
    assert late.returncode == 3
    assert "expired on 2026-11-26 14:00 UTC; ask for the action again" in late.stderr
    assert pending(cli, "bob", LATER)["approvals"] == []
    assert pending(cli, "bob", LATER, "--all")["approvals"][0]["state"] == "expired"
    # Approved in time, run too late: expired as well.
    assert request(cli, version, "req-2").returncode == 7
    cli.ok("approve", "req-2", "--reason", "ok", env=who("bob"))
    ran = cli.run("run-approved", "req-2", env=who("alice", LATER))
    assert ran.returncode == 3 and "expired" in ran.stderr
    assert [r["phase"] for r in cli.audit.records()] == ["requested", "requested", "approved"]


def test_an_action_the_rules_do_not_cover_runs_as_before(cli: Cli) -> None:
    staging = cli.run("deploy", SERVICE, "--env", "staging", "--version", newest(cli),
                      env=who("alice"))
    assert staging.returncode == 0, staging.stderr
    assert [r["phase"] for r in cli.audit.records()] == ["started", "finished"]
    dry = cli.run("deploy", SERVICE, "--env", "production", "--version", newest(cli), "--yes",
                  "--reason", "x", "--dry-run", env=who("alice"))
    assert dry.returncode == 0 and "policy: needs approval" in dry.stdout
    assert "a request for approval is recorded" in dry.stdout
    # The protected environment's confirmation comes first.
    unconfirmed = cli.run("deploy", SERVICE, "--env", "production", "--version", newest(cli),
                          env=who("alice"))
    assert unconfirmed.returncode == 3 and "--yes" in unconfirmed.stderr
    assert [r["phase"] for r in cli.audit.records()][-1] == "denied"


def test_owners_are_the_owning_teams_members(tmp_path: Path,
                                              fake_plugins: Path) -> None:  # noqa: F811
    cli = make(tmp_path, fake_plugins, extra='approvers = ["owners", "oncall-lead"]')
    assert request(cli, newest(cli)).returncode == 7
    (item,) = pending(cli)["approvals"]
    members = item["approvers"]
    assert members[0] == "oncall-lead" and len(members) > 1 and "owners" not in members
    owner = next(s["owner"] for s in cli.json("services", env=who("alice"))["services"]
                 if s["name"] == SERVICE)
    assert owner
    refused = cli.run("approve", "req-1", "--reason", "ok", env=who("bob"))
    assert refused.returncode == 3 and "bob may not approve" in refused.stderr
    cli.ok("approve", "req-1", "--reason", "ok", env=who(members[1]))
    assert cli.run("run-approved", "req-1", env=who("alice")).returncode == 0


def test_wait_runs_it_once_another_person_approves(cli: Cli) -> None:
    version = newest(cli)
    waiting = subprocess.Popen(
        [sys.executable, "-m", "idp_tui", "deploy", SERVICE, "--env", "production", "--version",
         version, "--yes", "--reason", "CHG-7", "--id", "req-w", "--wait"],
        env={**cli.env, **who("alice")}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, stdin=subprocess.DEVNULL)
    try:
        assert waiting.stdout is not None
        # The request is recorded before it waits: its line says so.
        for line in waiting.stdout:
            if "waiting for approval of request req-w" in line:
                break
        else:
            raise AssertionError(waiting.stderr.read() if waiting.stderr else "no output")
        cli.ok("approve", "req-w", "--reason", "ok", env=who("bob"))
        rest, err = waiting.communicate(timeout=TIMEOUT)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 0, err
    assert "✔ succeeded" in rest
    assert running(cli) == version


def test_config_errors_name_the_file_and_line(cli: Cli) -> None:
    valid = RULE.format(count=1, extra="")
    for text, line, said in (
            (valid.replace('"24h"', '"soon"'), 5,
             'valid_for): expected a duration such as 30m, 24h or 7d, got "soon"'),
            (RULE.format(count=1, extra='actions = ["deploi"]'), 6,
             "actions): unknown action 'deploi' (expected some of: deploy, rollback"),
            (RULE.format(count=0, extra=""), 4,
             "approvals): Input should be greater than or equal to 1, got 0")):
        cli.write_config(text)
        result = cli.run("approvals", env=who("bob"))
        assert result.returncode == 2, result.stderr
        assert f"{cli.config}, line {line} (policy.approval.0." in result.stderr
        assert said in result.stderr, result.stderr


# The rules and the requests' state, without a process -------------------------------------------

def _deploy(env: str = "production", kind: ActionKind = ActionKind.DEPLOY) -> ActionRequest:
    return ActionRequest(id="r", kind=kind, service="cart", environment=env, version="2.0.0",
                         confirmation=env, reason="x")


def test_the_policy_says_needs_approval_by_name_or_type_and_for_what_it_does() -> None:
    now = datetime(2026, 11, 25, 14, tzinfo=UTC)
    policy = PolicyConfig(approval=[ApprovalRule(environments=["production"],
                                                 actions=["deploy"])])
    decision = decide(policy, _deploy("prod-eu"), now=now, environment_type="production")
    assert decision.needs_approval and not decision.allowed and decision.rule == "approval"
    assert decision.as_dict()["needs_approval"] is True
    assert decide(policy, _deploy("staging"), now=now, environment_type="staging").allowed
    rollback = _deploy(kind=ActionKind.ROLLBACK)
    assert decide(policy, rollback, now=now).allowed
    judged = decide(policy, rollback, now=now, effect=Effect(ActionKind.DEPLOY, "a deploy"))
    assert judged.needs_approval and judged.acts_as == "deploy"
    # Unconfirmed in a protected environment: the confirmation is asked for first.
    bare = _deploy().model_copy(update={"confirmation": ""})
    assert decide(policy, bare, now=now).rule == "protected"


def test_waiting_ends_when_the_request_expires_on_the_clock() -> None:
    clock = ManualClock(datetime(2026, 11, 25, 14, tzinfo=UTC))
    record = {"action_id": "r", "phase": "requested", "actor": "alice", "time": NOW,
              "expires": "2026-11-25T15:00:00+00:00", "approval": {"approvals": 1}}
    slept: list[float] = []

    async def read() -> Request | None:
        return fold([record]).get("r")

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(timedelta(minutes=20))

    state = asyncio.run(wait_decided(read, clock.now, sleep, 0.5))
    assert state == EXPIRED and slept == [0.5, 0.5, 0.5]

    approved = [record, {"action_id": "r", "phase": "approved", "actor": "bob", "time": NOW}]
    assert fold(approved)["r"].state(datetime(2026, 11, 25, 14, 30, tzinfo=UTC)) == READY
    own = [record, {"action_id": "r", "phase": "approved", "actor": "alice", "time": NOW}]
    assert fold(own)["r"].approvals == []  # a self-approval written by hand counts for nothing


def test_json_output_of_a_waiting_request(cli: Cli) -> None:
    result = cli.run("deploy", SERVICE, "--env", "production", "--version", newest(cli), "--yes",
                     "--reason", "x", "--id", "req-j", "--json", env=who("alice"))
    assert result.returncode == 7
    last = json.loads(result.stdout.splitlines()[-1])
    assert last["type"] == "result" and last["state"] == "waiting for approval"
    assert last["action_id"] == "req-j" and last["decision"]["needs_approval"] is True
    error = json_error(result)
    assert error["type"] == "approval" and error["action_id"] == "req-j"


def test_the_activity_history_shows_where_a_request_stands(tmp_path: Path) -> None:
    from idp_tui.audit import AuditLog
    from idp_tui.auditview import read_history

    log = AuditLog(tmp_path / "audit.jsonl")
    base = {"action_id": "r", "action": "deploy", "service": "cart", "environment": "production",
            "version": "2.0.0"}
    steps = [("requested", "alice", "2026-11-25T14:00:00+00:00", None),
             ("approved", "bob", "2026-11-25T14:05:00+00:00", None),
             ("started", "alice", "2026-11-25T14:10:00+00:00", None),
             ("finished", "alice", "2026-11-25T14:11:00+00:00", "succeeded")]
    states = []
    for phase, actor, when, outcome in steps:
        record = {**base, "phase": phase, "actor": actor, "time": when}
        if outcome:
            record["outcome"] = outcome
        log.append(record)
        (entry,) = read_history(log.path).entries
        states.append(entry.state)
    assert states == ["requested", "approved", "started", "succeeded"]
    assert entry.started is not None and entry.started.minute == 10  # when it ran, not asked


def test_an_id_used_before_is_not_a_request(cli: Cli) -> None:
    cli.ok("restart", SERVICE, "--env", "staging", "--id", "used", env=who("alice"))
    reused = request(cli, newest(cli), "used")
    assert reused.returncode == 3 and "action id used was used before" in reused.stderr
    assert [r["phase"] for r in cli.audit.records()] == ["started", "finished"]


def test_a_vote_counts_as_one_command_session_with_telemetry_on(tmp_path: Path,
                                                                fake_plugins: Path) -> None:  # noqa: F811
    """With ``[telemetry] enabled``: ``approve`` and ``deny`` count as the command each is, one
    session of the voter (a dry run and a refused vote too), nothing more; an action's events
    stay the requester's. Bad input counts as nothing."""
    import sqlite3

    from idp_tui.usagestore import UsageStore

    cli = Cli(tmp_path, fake_plugins, "[telemetry]\nenabled = true\n" +
              RULE.format(count=1, extra=""))
    version = newest(cli)
    assert request(cli, version, "req-1").returncode == 7
    assert request(cli, version, "req-2").returncode == 7
    assert cli.run("approve", "req-1", env=who("bob")).returncode == 2  # no reason
    assert cli.run("deny", "nothing", "--reason", "x", env=who("bob")).returncode == 5
    cli.ok("approve", "req-1", "--reason", "x", "--dry-run", env=who("bob"))
    cli.ok("approve", "req-1", "--reason", "reviewed", env=who("bob"))
    cli.ok("deny", "req-2", "--reason", "not now", env=who("bob"))
    assert cli.run("approve", "req-2", "--reason", "x", env=who("carol")).returncode == 3

    store = UsageStore(None, cli.data)
    try:
        bob, carol, alice = store.person("bob"), store.person("carol"), store.person("alice")
    finally:
        store.close()
    with sqlite3.connect(cli.data / "store.db") as conn:
        events = conn.execute("SELECT person, kind, name, environment, outcome FROM "
                              "idp_usage_event ORDER BY id").fetchall()
    assert [e[1:] for e in events if e[0] == bob] == [("run", "session", None, None)] * 3
    assert [e[1:] for e in events if e[0] == carol] == [("run", "session", None, None)]
    assert [e[1:] for e in events if e[0] == alice and e[1] == "action"] == [
        ("action", "deploy", "production", "requested")] * 2
    assert {e[0] for e in events} == {alice, bob, carol}
    assert [(r["phase"], r["actor"]) for r in cli.audit.records()] == [
        ("requested", "alice"), ("requested", "alice"), ("approved", "bob"), ("rejected", "bob")]
